//! The one golden-test runner. Each case is data:
//!
//! - `tests/golden/check/<case>/input.flow` with `check.txt`, the output of
//!   `flowc check --schemas` (exit code, stdout, stderr without colour);
//! - `tests/golden/plan/<case>/input.flow`, with an optional `args` file
//!   (extra `flowc explain` arguments, one per line), and `explain.txt`
//!   (exit code, stdout, stderr of `--format text`), `explain.dot` and
//!   `explain.json` (stdout of those formats, when the plan succeeds);
//! - every `examples/*.flow` and `examples/nexmark/*.flow`, with
//!   `tests/golden/examples/<name>/` (`…/nexmark/<name>/`) holding
//!   `check.txt` and the three `explain` files.
//!
//! Every DOT output is also drawn by Graphviz's `dot` (the test fails if
//! `dot` rejects it; without `dot` installed it says so and skips, unless
//! `FLOWC_REQUIRE_DOT` is set, as CI sets it), and every JSON output must
//! parse back with serde into the same `PlanDocument`.
//!
//! - `tests/golden/fmt/<case>/input.flow` with `fmt.txt`, the output of
//!   `flowc fmt -` (exit code, stdout, stderr); a formatted output must
//!   also come back unchanged when formatted again.
//!
//! - `tests/golden/export/<case>/input.flow`, with an optional `args` file
//!   (`--drop-simulation`), and `export.txt`, the output of
//!   `flowc export --target flink-sql` (the script, or the refusals).
//!
//! `run/` cases and the examples are also run by the `flowc` binary; see
//! `run_cases_match_their_golden_output`.
//!
//! All mismatches are gathered and reported together, each as a diff.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expected files
//! (and writes missing ones); review the change with `git diff`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use flowc::cli::{check_text, explain_text, export_text, format_text, Cli, Command, ExplainFormat, Output};
use flowc::diag::{Code, RenderOptions};
use flowc::plan::explain::json::PlanDocument;

const RENDER: RenderOptions = RenderOptions { color: false, width: 100 };

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares (or, when updating, writes) one expected file.
fn compare(expected_path: &Path, actual: &str, mismatches: &mut Vec<String>) {
    let expected = fs::read_to_string(expected_path).ok();
    if updating() {
        if expected.as_deref() != Some(actual) {
            fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
            fs::write(expected_path, actual).unwrap();
        }
        return;
    }
    let shown = expected_path.strip_prefix(root()).unwrap_or(expected_path).display().to_string();
    match expected {
        None => {
            mismatches.push(format!("{shown}: missing; run `UPDATE_GOLDEN=1 cargo test --test golden` to write it"))
        }
        Some(expected) if expected != actual => {
            let diff = similar_asserts::SimpleDiff::from_str(&expected, actual, "expected", "actual");
            mismatches.push(format!("{shown}:\n{diff}"));
        }
        Some(_) => {}
    }
}

fn show(output: &Output) -> String {
    format!("exit: {}\n--- stdout\n{}--- stderr\n{}", output.exit_code, output.stdout, output.stderr)
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    entries
}

fn fail_on(mismatches: Vec<String>) {
    if !mismatches.is_empty() {
        panic!("{} golden file(s) differ:\n\n{}", mismatches.len(), mismatches.join("\n\n"));
    }
}

/// Runs `flowc explain <args> --format <format>` on `input` in-process,
/// with the arguments parsed by the real command line.
fn explain(file_name: &str, input: &str, args: &[String], format: ExplainFormat) -> Output {
    let format_name = match format {
        ExplainFormat::Text => "text",
        ExplainFormat::Dot => "dot",
        ExplainFormat::Json => "json",
    };
    let argv = ["flowc", "explain", file_name].into_iter().map(String::from).chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv.chain(["--format".into(), format_name.into()]))
        .unwrap_or_else(|error| panic!("{file_name}: bad args {args:?}: {error}"));
    let Command::Explain { plan, .. } = cli.command else { unreachable!("parsed an explain command") };
    explain_text(file_name, input, &plan, format, RENDER)
}

/// Compares the three `explain` outputs of one file with `dir/explain.*`
/// and checks that the DOT draws and the JSON parses back.
fn compare_explain(
    dir: &Path,
    file_name: &str,
    input: &str,
    args: &[String],
    mismatches: &mut Vec<String>,
    dots: &mut Vec<(String, String)>,
) {
    let text = explain(file_name, input, args, ExplainFormat::Text);
    compare(&dir.join("explain.txt"), &show(&text), mismatches);
    if text.exit_code != 0 {
        return;
    }
    let dot = explain(file_name, input, args, ExplainFormat::Dot);
    compare(&dir.join("explain.dot"), &dot.stdout, mismatches);
    dots.push((dir.join("explain.dot").display().to_string(), dot.stdout));
    let json = explain(file_name, input, args, ExplainFormat::Json);
    compare(&dir.join("explain.json"), &json.stdout, mismatches);
    match serde_json::from_str::<PlanDocument>(&json.stdout) {
        Ok(document) => {
            let again = serde_json::to_string_pretty(&document).unwrap() + "\n";
            if again != json.stdout {
                mismatches.push(format!("{}: the JSON plan does not survive a serde round trip", dir.display()));
            }
        }
        Err(error) => {
            mismatches.push(format!("{}: the JSON plan does not parse as a PlanDocument: {error}", dir.display()))
        }
    }
}

/// Draws every DOT output with Graphviz; a warning or an error fails.
fn draw_with_graphviz(dots: &[(String, String)], mismatches: &mut Vec<String>) {
    use std::io::Write;
    use std::process::{Command as Process, Stdio};
    if Process::new("dot").arg("-V").stderr(Stdio::null()).status().is_err() {
        let required = std::env::var_os("FLOWC_REQUIRE_DOT").is_some_and(|v| !v.is_empty());
        assert!(!required, "FLOWC_REQUIRE_DOT is set but Graphviz `dot` is not installed");
        eprintln!("note: Graphviz `dot` is not installed; {} DOT plans were not drawn", dots.len());
        return;
    }
    for (name, dot) in dots {
        let mut child = Process::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dot starts");
        child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
        let result = child.wait_with_output().unwrap();
        if !result.status.success() || !result.stderr.is_empty() {
            mismatches.push(format!("{name}: Graphviz rejects it:\n{}", String::from_utf8_lossy(&result.stderr)));
        }
    }
}

fn read_args(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("args"))
        .map(|text| text.lines().map(str::trim).filter(|line| !line.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

#[test]
fn plan_cases_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let mut dots = Vec::new();
    let cases = sorted_entries(&root().join("tests/golden/plan"));
    assert!(cases.len() >= 15, "expected at least 15 plan cases, found {}", cases.len());
    for case in cases {
        let input = fs::read_to_string(case.join("input.flow")).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        compare_explain(&case, "input.flow", &input, &read_args(&case), &mut mismatches, &mut dots);
    }
    draw_with_graphviz(&dots, &mut mismatches);
    fail_on(mismatches);
}

#[test]
fn check_cases_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let cases = sorted_entries(&root().join("tests/golden/check"));
    assert!(cases.len() >= 40, "expected at least 40 check cases, found {}", cases.len());
    for case in cases {
        let input = fs::read_to_string(case.join("input.flow")).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let output = check_text("input.flow", &input, true, RENDER);
        compare(&case.join("check.txt"), &show(&output), &mut mismatches);
    }
    fail_on(mismatches);
}

#[test]
fn export_cases_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let cases = sorted_entries(&root().join("tests/golden/export"));
    assert!(cases.len() >= 8, "expected at least 8 export cases, found {}", cases.len());
    for case in cases {
        let input = fs::read_to_string(case.join("input.flow")).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let drop_simulation = read_args(&case).iter().any(|arg| arg == "--drop-simulation");
        let output = export_text("input.flow", &input, flowc::export::Options { drop_simulation }, RENDER);
        compare(&case.join("export.txt"), &show(&output), &mut mismatches);
    }
    fail_on(mismatches);
}

#[test]
fn fmt_cases_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let cases = sorted_entries(&root().join("tests/golden/fmt"));
    assert!(cases.len() >= 8, "expected at least 8 fmt cases, found {}", cases.len());
    for case in cases {
        let input = fs::read_to_string(case.join("input.flow")).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let output = format_text("input.flow", &input, RENDER);
        compare(&case.join("fmt.txt"), &show(&output), &mut mismatches);
        if output.exit_code == 0 {
            let again = format_text("input.flow", &output.stdout, RENDER);
            if again.stdout != output.stdout {
                let diff = similar_asserts::SimpleDiff::from_str(&output.stdout, &again.stdout, "once", "twice");
                mismatches.push(format!("{}: formatting twice changes the text:\n{diff}", case.display()));
            }
        }
    }
    fail_on(mismatches);
}

/// The examples by name, `examples/<name>.flow`: those of `examples/` and
/// the Nexmark queries, `nexmark/q0` and on.
fn example_names() -> Vec<String> {
    let mut names = Vec::new();
    for folder in ["", "nexmark/"] {
        for path in sorted_entries(&root().join("examples").join(folder)) {
            if path.extension().is_some_and(|e| e == "flow") {
                names.push(format!("{folder}{}", path.file_stem().unwrap().to_string_lossy()));
            }
        }
    }
    names
}

/// Whether an example's `flowc check` output is clean: no error, and no
/// warning, except that a Nexmark query may warn of a regular join's
/// state, since the official query is a regular join.
fn checks_clean(name: &str, output: &Output) -> bool {
    let warnings_allowed = name.starts_with("nexmark/")
        && output.stderr.lines().filter(|line| line.starts_with("flow::")).all(|line| line == "flow::unbounded_state");
    output.exit_code == 0 && (output.stderr.is_empty() || warnings_allowed)
}

#[test]
fn examples_check_clean_and_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let examples = example_names();
    assert!(examples.len() >= 8, "the eight examples of the language sketch are missing");
    let mut dots = Vec::new();
    for name in examples {
        let input = fs::read_to_string(root().join(format!("examples/{name}.flow"))).unwrap();
        let output = check_text(&format!("examples/{name}.flow"), &input, true, RENDER);
        if !checks_clean(&name, &output) {
            mismatches.push(format!("examples/{name}.flow does not check clean:\n{}", output.stderr));
        }
        let dir = root().join("tests/golden/examples").join(&name);
        compare(&dir.join("check.txt"), &show(&output), &mut mismatches);
        compare_explain(&dir, &format!("examples/{name}.flow"), &input, &[], &mut mismatches, &mut dots);
    }
    draw_with_graphviz(&dots, &mut mismatches);
    fail_on(mismatches);
}

/// Every diagnostic code is pinned by at least one golden case.
#[test]
fn every_diagnostic_code_has_a_golden_case() {
    let mut seen = BTreeSet::new();
    let check_cases = sorted_entries(&root().join("tests/golden/check")).into_iter().map(|case| case.join("check.txt"));
    let plan_cases = sorted_entries(&root().join("tests/golden/plan")).into_iter().map(|case| case.join("explain.txt"));
    let run_cases = sorted_entries(&root().join("tests/golden/run")).into_iter().map(|case| case.join("run.txt"));
    let export_cases =
        sorted_entries(&root().join("tests/golden/export")).into_iter().map(|case| case.join("export.txt"));
    for expected in check_cases.chain(plan_cases).chain(run_cases).chain(export_cases) {
        let text = fs::read_to_string(expected).unwrap_or_default();
        for code in Code::ALL {
            if text.contains(&format!("{}\n", code.name())) || text.contains(&format!("{} ", code.name())) {
                seen.insert(code.name());
            }
        }
    }
    // Needs a resource limit set around the process: tests/delivery.rs;
    // a PostgreSQL server: tests/postgres.rs.
    let tested_elsewhere = [Code::OutOfResources, Code::TableMismatch];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|code| !code.is_internal() && !tested_elsewhere.contains(code))
        .map(|code| code.name())
        .filter(|name| !seen.contains(name))
        .collect();
    assert!(missing.is_empty(), "no golden case shows {missing:?}");
}

/// Each of Flink's chaining rules is shown broken by at least one plan case,
/// and at least one case chains a whole pipeline with every rule holding.
#[test]
fn every_chaining_rule_has_a_golden_case() {
    let rules = ["partitioning", "parallelism_change", "multiple_inputs", "no_chain", "new_chain", "chaining_off"];
    let mut broken = BTreeSet::new();
    let mut fully_chained = false;
    for case in sorted_entries(&root().join("tests/golden/plan")) {
        let Ok(json) = fs::read_to_string(case.join("explain.json")) else { continue };
        let document: PlanDocument = serde_json::from_str(&json).unwrap();
        fully_chained |= document.tasks.len() == 1 && document.operators.len() > 2;
        for edge in &document.edges {
            assert_eq!(edge.chained, edge.chain_breaks.is_empty(), "{}: edge {}", case.display(), edge.id);
            broken.extend(edge.chain_breaks.iter().map(|b| b.rule.clone()));
        }
    }
    let missing: Vec<&&str> = rules.iter().filter(|rule| !broken.contains(**rule)).collect();
    assert!(missing.is_empty(), "no plan case breaks {missing:?}");
    assert!(fully_chained, "no plan case chains a whole pipeline into one task");
}

/// `flowc run` cases: `tests/golden/run/<case>/` holds `input.flow`, an
/// optional `args` file, an optional `stdin.txt`, any data files the
/// program reads, and `run.txt`: exit code, stdout (lines of parallel sinks
/// grouped by subtask, each subtask's in its order), stderr with the
/// summary's timings blanked, and every file the run wrote. A case that
/// succeeds is run again with `--set parallelism=3` and must print the same
/// records; a `serial` file (saying why) opts out. An `unordered` file
/// (saying why) compares stdout sorted, for outputs that merge streams
/// without a key and so have no defined order.
#[test]
fn run_cases_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let cases = sorted_entries(&root().join("tests/golden/run"));
    assert!(cases.len() >= 10, "expected at least 10 run cases, found {}", cases.len());
    for case in cases {
        let args = read_args(&case);
        let mut run = run_case(&case, "input.flow", &args);
        if case.join("unordered").exists() {
            let sorted: String = records(&run.stdout).iter().map(|line| format!("{line}\n")).collect();
            run.shown = run.shown.replacen(&run.stdout, &sorted, 1);
        }
        compare(&case.join("run.txt"), &run.shown, &mut mismatches);
        let mut interpreted_args = args.clone();
        interpreted_args.push("--no-jit".to_string());
        let mut interpreted = run_case(&case, "input.flow", &interpreted_args);
        if case.join("unordered").exists() {
            let sorted: String = records(&interpreted.stdout).iter().map(|line| format!("{line}\n")).collect();
            interpreted.shown = interpreted.shown.replacen(&interpreted.stdout, &sorted, 1);
        }
        same_under_both_backends(&case.display().to_string(), &run, &interpreted, &mut mismatches);
        if run.exit_code == 0 && !case.join("serial").exists() {
            let mut parallel_args = args.clone();
            parallel_args.extend(["--set".to_string(), "parallelism=3".to_string()]);
            let parallel = run_case(&case, "input.flow", &parallel_args);
            if records(&parallel.stdout) != records(&run.stdout) {
                mismatches.push(format!(
                    "{}: --set parallelism=3 prints other records:\n{}",
                    case.display(),
                    similar_asserts::SimpleDiff::from_str(
                        &records(&run.stdout).join("\n"),
                        &records(&parallel.stdout).join("\n"),
                        "parallelism 1",
                        "parallelism 3"
                    )
                ));
            }
        }
    }
    fail_on(mismatches);
}

/// Every example runs (sources unthrottled, sinks discarding except the
/// quickstart's) and moves the same number of records through every task.
/// `slow_sink` is left out: its 100 records/s sink takes 47 s whatever the
/// source does; `tests/runtime.rs` stops it with Ctrl-C instead.
#[test]
fn examples_run_and_match_their_golden_output() {
    let examples: Vec<String> = example_names().into_iter().filter(|name| name != "slow_sink").collect();
    let runs: Vec<(String, CaseRun, CaseRun)> = std::thread::scope(|scope| {
        let handles: Vec<_> = examples
            .iter()
            .map(|name| {
                scope.spawn(move || {
                    let mut args = vec!["--unthrottled".to_string()];
                    if name != "quickstart" {
                        args.push("--discard-sinks".to_string());
                    }
                    let flow = format!("examples/{name}.flow");
                    let compiled = run_case(&root(), &flow, &args);
                    args.push("--no-jit".to_string());
                    (name.clone(), compiled, run_case(&root(), &flow, &args))
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    let mut mismatches = Vec::new();
    for (name, run, interpreted) in runs {
        compare(&root().join("tests/golden/examples").join(&name).join("run.txt"), &run.shown, &mut mismatches);
        same_under_both_backends(&name, &run, &interpreted, &mut mismatches);
    }
    fail_on(mismatches);
}

/// The JIT (the default) and `--no-jit` print the same records, summary
/// and errors.
fn same_under_both_backends(name: &str, compiled: &CaseRun, interpreted: &CaseRun, mismatches: &mut Vec<String>) {
    if compiled.shown != interpreted.shown {
        mismatches.push(format!(
            "{name}: the JIT and --no-jit differ:\n{}",
            similar_asserts::SimpleDiff::from_str(&interpreted.shown, &compiled.shown, "--no-jit", "jit")
        ));
    }
}

struct CaseRun {
    exit_code: i32,
    stdout: String,
    shown: String,
}

/// Runs `flowc run <flow> <args>` in a scratch copy of `dir`, with
/// `stdin.txt` (if any) as standard input, for at most two minutes.
fn run_case(dir: &Path, flow: &str, args: &[String]) -> CaseRun {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let scratch = std::env::temp_dir().join(format!(
        "flowc-golden-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let work_dir = if dir == root() {
        dir.to_path_buf()
    } else {
        fs::create_dir_all(&scratch).unwrap();
        for entry in sorted_entries(dir) {
            if entry.is_file() && entry.file_name().is_some_and(|name| name != "run.txt") {
                fs::copy(&entry, scratch.join(entry.file_name().unwrap())).unwrap();
            }
        }
        scratch.clone()
    };
    let before: BTreeSet<PathBuf> = sorted_entries(&work_dir).into_iter().collect();
    let stdin = match fs::File::open(dir.join("stdin.txt")) {
        Ok(file) => std::process::Stdio::from(file),
        Err(_) => std::process::Stdio::null(),
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .current_dir(&work_dir)
        .args(["--color", "never", "run", flow])
        .args(args)
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{flow} in {} ran for more than two minutes", dir.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = group_by_subtask(&String::from_utf8_lossy(&output.stdout));
    let stderr = blank_timings(&String::from_utf8_lossy(&output.stderr));
    let exit_code = output.status.code().unwrap_or(-1);
    let mut shown = format!("exit: {exit_code}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    for written in sorted_entries(&work_dir) {
        if !before.contains(&written) {
            let name = written.file_name().unwrap().to_string_lossy();
            shown.push_str(&format!("--- file {name}\n{}", fs::read_to_string(&written).unwrap_or_default()));
        }
    }
    if work_dir == scratch {
        let _ = fs::remove_dir_all(&scratch);
    }
    CaseRun { exit_code, stdout, shown }
}

/// Lines of a parallel `print` sink (`2> …`) in subtask order, each
/// subtask's lines in the order it wrote them.
fn group_by_subtask(stdout: &str) -> String {
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort_by_key(|line| line.split_once("> ").map_or(0, |(prefix, _)| prefix.parse::<u32>().unwrap_or(0)));
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// The records printed, without subtask prefixes, sorted.
fn records(stdout: &str) -> Vec<String> {
    let mut records: Vec<String> = stdout
        .lines()
        .map(|line| match line.split_once("> ") {
            Some((prefix, rest)) if prefix.parse::<u32>().is_ok() => rest.to_string(),
            _ => line.to_string(),
        })
        .collect();
    records.sort();
    records
}

/// The summary's wall time, rate, peak memory, the JIT's compile time and
/// the time a table took to read vary from run to run, and
/// so does the largest keyed state above parallelism 1 (how far windows
/// run ahead depends on when each channel's buffers arrive; at parallelism
/// 1 tests/delivery.rs pins it).
fn blank_timings(stderr: &str) -> String {
    let mut out = String::new();
    for line in stderr.lines() {
        // The JIT's compile time, and a line `--no-jit` does not print.
        if line.trim_start().starts_with("peak memory:") || line.trim_start().starts_with("jit: ") {
            continue;
        }
        let state = line.find(" held up to ").zip(line.find(" of state"));
        let table_read = line.find(" read in ").zip(line.find(" before the first record"));
        let line = match (line.find(" s: "), line.rfind(", ")) {
            _ if table_read.is_some() => {
                let (read, end) = table_read.unwrap();
                format!("{} read in _{}", &line[..read], &line[end..])
            }
            _ if state.is_some() => {
                let (held, end) = state.unwrap();
                let what = line[held + " held up to ".len()..].split(", about").next().unwrap_or("");
                let what = what.trim_start_matches(|c: char| c.is_ascii_digit() || c == ',');
                format!("{} held up to _{what}, about _{}", &line[..held], &line[end..])
            }
            (Some(seconds_end), Some(rate_start)) if line.ends_with("/s") && line.contains(" records in, ") => {
                let seconds_start = line[..seconds_end].rfind(' ').map_or(0, |i| i + 1);
                format!("{}_{}, _/s", &line[..seconds_start], &line[seconds_end..rate_start])
            }
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
