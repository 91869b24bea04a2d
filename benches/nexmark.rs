//! The Nexmark benchmark: events/s of every query of `examples/nexmark/`
//! on flowc (release build) beside Flink's MiniCluster running the
//! Nexmark SQL (`tests/nexmark/queries/`), on the same files, on the same
//! machine, in the same run, at parallelism 1 and 2; the ratio per query
//! and flowc's peak memory.
//!
//! `cargo bench --bench nexmark`. `FLOWC_NEXMARK_EVENTS` sets the data
//! set's size (default 1,000,000 events: persons, auctions and bids);
//! `FLOWC_NEXMARK_QUERIES=q0,q5` picks queries; `FLOWC_FLINK_PYTHON` names
//! a Python with `apache-flink` (without it, only flowc runs).
//!
//! Both engines read the data set from jsonl files (Flink has no Nexmark
//! generator here) and discard their output (flowc `--discard-sinks`,
//! Flink the `blackhole` connector of the official queries); flowc runs
//! once more with its own `nexmark` sources, as Nexmark is usually run. A
//! query's events/s is the events of the kinds it reads (a bid query the
//! bids) over its wall time. Flink's time is shown without the JVM's
//! start-up (a job in a JVM that ran one before: planning, its
//! MiniCluster, the job) and with it (plus the start-up that run
//! measured); flowc's is its process's wall time.

#[path = "../tests/common/nexmark.rs"]
mod nexmark;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nexmark::{from_files, kinds_read, nexmark_sql, query_names, root, with_events};

const PARALLELISMS: [usize; 2] = [1, 2];

/// Writes the data set once per size (and generator text) and returns its
/// number of events of each kind.
fn data_set(events: u64, data: &Path) -> HashMap<&'static str, u64> {
    let generator = with_events(&fs::read_to_string(root().join("tests/nexmark/generate.flow")).unwrap(), events);
    let stamp = data.join("generate.flow");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(generator.as_str()) {
        let _ = fs::remove_dir_all(data);
        fs::create_dir_all(data).unwrap();
        let started = Instant::now();
        let run = Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(["run", "-q", "-"])
            .current_dir(data)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(generator.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(run.status.success(), "generate.flow failed");
        fs::write(&stamp, &generator).unwrap();
        eprintln!("wrote {events} events in {:.1} s", started.elapsed().as_secs_f64());
    }
    ["person", "auction", "bid"]
        .into_iter()
        .map(|kind| (kind, fs::read_to_string(data.join(format!("{kind}.jsonl"))).unwrap().lines().count() as u64))
        .collect()
}

/// One flowc run of `text` (a query reading the files, or its own
/// `nexmark` sources): wall seconds and peak memory in MiB.
fn flowc(name: &str, text: &str, dir: &Path, parallelism: usize) -> Result<(f64, f64), String> {
    let file = dir.join(format!("{name}.flow"));
    fs::write(&file, text).unwrap();
    let started = Instant::now();
    // Read from standard input, the side input's path starts from the current folder.
    let run = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["run", "--discard-sinks", "--unthrottled", "--set", &format!("parallelism={parallelism}"), "-"])
        .stdin(fs::File::open(&file).unwrap())
        .current_dir(root().join("examples/nexmark"))
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() {
        return Err(stderr.lines().find(|line| line.contains('×')).unwrap_or("failed").trim().to_string());
    }
    let peak = stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("peak memory: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|mib| mib.parse().ok())
        .ok_or("no peak memory in the summary")?;
    Ok((seconds, peak))
}

/// Flink's seconds per job (`qN_p`), and the JVM's start-up.
struct FlinkTimes {
    startup: f64,
    jobs: Vec<(String, Result<f64, String>)>,
}

fn flink(python: &Path, queries: &[String], data: &Path, dir: &Path) -> FlinkTimes {
    let mut arguments = vec!["--warm-up".to_string()];
    let mut names = Vec::new();
    for query in queries {
        for parallelism in PARALLELISMS {
            let name = format!("{query}_{parallelism}");
            let sql =
                format!("SET 'parallelism.default' = '{parallelism}';\n{}", nexmark_sql(query, data, "blackhole"));
            let file = dir.join(format!("{name}.sql"));
            fs::write(&file, sql).unwrap();
            arguments.push(format!("{name}={}", file.display()));
            names.push(name);
        }
    }
    let output = Command::new(python)
        .arg(root().join("tests/flink/run_sql.py"))
        .args(&arguments)
        .output()
        .expect("the Flink runner starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| stdout.lines().find_map(|line| line.strip_prefix(prefix).map(str::to_string));
    let startup = field("=== start-up ").and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    let jobs = names
        .into_iter()
        .map(|name| {
            let time = field(&format!("=== time {name} ")).and_then(|s| s.parse().ok());
            let ending = field(&format!("=== end {name} ")).unwrap_or_else(|| "did not run".to_string());
            (name, time.ok_or(ending))
        })
        .collect();
    FlinkTimes { startup, jobs }
}

fn rate(events: u64, seconds: f64) -> String {
    let per_second = events as f64 / seconds;
    if per_second >= 1e6 {
        format!("{:.2}M", per_second / 1e6)
    } else {
        format!("{:.0}k", per_second / 1e3)
    }
}

/// One query's measurements.
struct Row {
    query: String,
    /// The events of the kinds it reads.
    events: u64,
    /// flowc reading the files, then flowc with its own `nexmark` sources,
    /// each at every parallelism.
    files: Vec<Result<(f64, f64), String>>,
    generated: Vec<Result<(f64, f64), String>>,
}

fn main() {
    let events: u64 = std::env::var("FLOWC_NEXMARK_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let picked: Option<Vec<String>> =
        std::env::var("FLOWC_NEXMARK_QUERIES").ok().map(|list| list.split(',').map(str::to_string).collect());
    let queries: Vec<String> =
        query_names().into_iter().filter(|q| picked.as_ref().is_none_or(|picked| picked.contains(q))).collect();
    let dir: PathBuf = root().join("target/nexmark-bench");
    let data = dir.join(format!("data-{events}"));
    let counts = data_set(events, &data);

    let mut rows = Vec::new();
    for query in &queries {
        let text = fs::read_to_string(root().join(format!("examples/nexmark/{query}.flow"))).unwrap();
        let read: u64 = kinds_read(&text).iter().map(|kind| counts[kind.as_str()]).sum();
        let files = PARALLELISMS.iter().map(|&p| flowc(query, &from_files(&text, &data), &dir, p)).collect();
        let generated = PARALLELISMS
            .iter()
            .map(|&p| flowc(&format!("{query}_nexmark"), &with_events(&text, events), &dir, p))
            .collect();
        rows.push(Row { query: query.clone(), events: read, files, generated });
    }
    let python = std::env::var_os("FLOWC_FLINK_PYTHON").map(PathBuf::from);
    let flink_times = python.as_deref().map(|python| flink(python, &queries, &data, &dir));
    print_table(events, &rows, flink_times.as_ref());
}

/// The table, in Markdown.
fn print_table(events: u64, rows: &[Row], flink: Option<&FlinkTimes>) {
    println!("Nexmark, {events} events; events/s of the kinds a query reads, over its wall time.");
    println!("Both engines read the same jsonl files; Flink without and with its JVM's start-up");
    if let Some(times) = flink {
        println!("({:.1} s in this run); flowc / Flink is the ratio of their rates without it.", times.startup);
    }
    println!("The last columns: flowc with its own `nexmark` sources instead of the files.");
    println!();
    let mut header = String::from("| query | events |");
    let mut rule = String::from("| --- | ---: |");
    for p in PARALLELISMS {
        header.push_str(&format!(" flowc p={p} | Flink p={p} | Flink p={p} with start-up | flowc / Flink p={p} |"));
        rule.push_str(" ---: | ---: | ---: | ---: |");
    }
    for p in PARALLELISMS {
        header.push_str(&format!(" flowc nexmark p={p} |"));
        rule.push_str(" ---: |");
    }
    header.push_str(" flowc peak memory |");
    rule.push_str(" ---: |");
    println!("{header}\n{rule}");
    let shown = |run: &Result<(f64, f64), String>, events: u64| match run {
        Ok((seconds, _)) => rate(events, *seconds),
        Err(error) => format!("failed: {error}"),
    };
    for (q, row) in rows.iter().enumerate() {
        let mut line = format!("| {} | {} |", row.query, row.events);
        for (i, _) in PARALLELISMS.iter().enumerate() {
            let theirs = flink.map(|times| (&times.jobs[q * PARALLELISMS.len() + i].1, times.startup));
            let (warm, cold, ratio) = match (theirs, &row.files[i]) {
                (Some((Ok(seconds), startup)), ours) => (
                    rate(row.events, *seconds),
                    rate(row.events, seconds + startup),
                    ours.as_ref().map_or("—".to_string(), |(ours, _)| format!("{:.1}×", seconds / ours)),
                ),
                (Some((Err(error), _)), _) => (format!("failed: {error}"), "—".to_string(), "—".to_string()),
                (None, _) => ("—".to_string(), "—".to_string(), "—".to_string()),
            };
            line.push_str(&format!(" {} | {warm} | {cold} | {ratio} |", shown(&row.files[i], row.events)));
        }
        for run in &row.generated {
            line.push_str(&format!(" {} |", shown(run, row.events)));
        }
        let peak =
            row.files.iter().chain(&row.generated).filter_map(|run| run.as_ref().ok()).map(|r| r.1).fold(0.0, f64::max);
        line.push_str(&format!(" {peak:.0} MiB |"));
        println!("{line}");
    }
}
