//! What `flowc run` promises about its records and files on every way out:
//! lines read from standard input reach the sinks, a signal drains or stops
//! at once whatever the run waits on, file sinks never replace a target
//! they did not finish (nor a device or a link), no temporary file is left
//! behind, a closed standard output ends flowc quietly, paths start from
//! the `.flow` file's folder, and which records are late does not depend
//! on timing. Each test runs the real binary in a scratch folder and
//! asserts outcomes and generous bounds, never exact timings.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowc-delivery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn flowc(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowc"));
    command.current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Hidden `.NAME.flowc-….tmp` files a sink left in `dir`.
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".flowc-") && name.ends_with(".tmp"))
        .collect()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

const STDIN_PROGRAM: &str = "schema R { id: int, name: string }\n\
    source lines: R = stdin(format = csv, header = false)\n\
    lines | sink file(\"out.csv\")\n\
    lines | sink print\n";

/// Five lines in one burst, then silence: they are printed at once (not
/// when more input comes), and a Ctrl-C then writes all five to the file.
#[test]
fn lines_from_standard_input_reach_the_sinks_at_once_and_on_ctrl_c() {
    let dir = scratch("stdin");
    std::fs::write(dir.join("s.flow"), STDIN_PROGRAM).unwrap();
    let mut child = flowc(&dir).args(["run", "s.flow"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"1,a\n2,b\n3,c\n4,d\n5,e\n").unwrap();
    input.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let printed = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // Standard input stays open: only Ctrl-C ends this run.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    drop(input);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let printed = printed.join().unwrap();
    assert_eq!(printed.lines().count(), 5, "{printed}");
    let written = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    assert_eq!(written, "id,name\n1,a\n2,b\n3,c\n4,d\n5,e\n");
    assert!(temporary_files(&dir).is_empty());
}

/// The burst is on standard output while standard input stays open.
#[test]
fn a_burst_on_standard_input_is_printed_before_more_input_comes() {
    let dir = scratch("stdin-burst");
    std::fs::write(dir.join("s.flow"), STDIN_PROGRAM).unwrap();
    let mut child = flowc(&dir).args(["run", "-q", "s.flow"]).stdin(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"1,a\n2,b\n3,c\n4,d\n5,e\n").unwrap();
    input.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut byte = [0u8];
        while seen.iter().filter(|&&b| b == b'\n').count() < 5 && stdout.read(&mut byte).unwrap_or(0) == 1 {
            seen.push(byte[0]);
        }
        let _ = sender.send(String::from_utf8_lossy(&seen).into_owned());
    });
    let printed = receiver.recv_timeout(Duration::from_secs(10)).expect("five lines printed while stdin is open");
    assert!(printed.ends_with("id=5 name=e\n"), "{printed}");
    drop(input);
    assert!(child.wait().unwrap().success());
}

/// SIGTERM (what `timeout` and container runtimes send) drains like Ctrl-C:
/// the file sink is complete and in order, and nothing hidden is left.
#[test]
fn sigterm_drains_like_ctrl_c() {
    let dir = scratch("sigterm");
    std::fs::write(
        dir.join("endless.flow"),
        "schema Row { id: int }\nsource rows: Row = generate(rate = 2k/s) { id = seq }\nrows | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = flowc(&dir).args(["run", "endless.flow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    signal(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("stopped by SIGTERM"), "{}", stderr_of(&output));
    let written = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    let rows: Vec<&str> = written.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().enumerate().all(|(index, row)| *row == index.to_string()));
    assert!(temporary_files(&dir).is_empty());
}

/// A file source opening a FIFO that no one writes blocks in `open`; the
/// second signal still ends flowc at once, and removes the file sink's
/// temporary file (which exists by then).
#[test]
fn a_second_signal_stops_at_once_even_while_a_source_waits_for_a_fifo() {
    let dir = scratch("fifo-source");
    mkfifo(&dir.join("input.csv"));
    std::fs::write(
        dir.join("f.flow"),
        "schema R { id: int }\nsource r: R = file(\"input.csv\", header = false)\nr | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = flowc(&dir).args(["run", "f.flow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for signal_name in ["INT", "INT"] {
        signal(&child, signal_name);
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopped = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(3));
    assert_eq!(output.status.code(), Some(130), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("stopped at once by a second signal"));
    assert!(temporary_files(&dir).is_empty(), "{:?}", temporary_files(&dir));
    assert!(!dir.join("out.csv").exists());
}

/// `print` blocked on a pipe nobody reads: SIGTERM twice ends it (143).
#[test]
fn a_second_sigterm_stops_a_run_blocked_on_a_stalled_pipe() {
    let dir = scratch("stalled-pipe");
    std::fs::write(
        dir.join("p.flow"),
        "schema R { id: int }\nsource r: R = generate() { id = seq }\nr | sink print\nr | sink file(\"out.csv\")\n",
    )
    .unwrap();
    // Standard output is a pipe this test never reads: it fills and stalls.
    let child = flowc(&dir).args(["run", "p.flow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    let mut child = child;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "flowc did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
    assert!(temporary_files(&dir).is_empty(), "{:?}", temporary_files(&dir));
}

/// Ctrl-C ends a generator's wait for its next record (10 s apart here).
#[test]
fn ctrl_c_ends_the_wait_for_a_slow_generators_next_record() {
    let dir = scratch("slow-generator");
    std::fs::write(
        dir.join("g.flow"),
        "schema R { id: int }\nsource g: R = generate(rate = 6/m) { id = seq }\ng | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = flowc(&dir).args(["run", "g.flow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Instant::now();
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(interrupted.elapsed() < Duration::from_secs(3), "took {:?}", interrupted.elapsed());
    assert_eq!(std::fs::read_to_string(dir.join("out.csv")).unwrap(), "id\n0\n");
}

/// A sink on a symbolic link replaces the file it points to and keeps the
/// link; a sink on a FIFO writes into it and leaves it a FIFO.
#[test]
fn file_sinks_follow_links_and_write_through_to_fifos() {
    let dir = scratch("links");
    std::fs::write(dir.join("real.csv"), "old\n").unwrap();
    std::os::unix::fs::symlink("real.csv", dir.join("link.csv")).unwrap();
    mkfifo(&dir.join("pipe"));
    std::fs::write(
        dir.join("l.flow"),
        "schema R { id: int }\nsource g: R = generate(count = 3) { id = seq }\n\
         g | sink file(\"link.csv\")\ng | sink file(\"pipe\", format = csv)\n",
    )
    .unwrap();
    let pipe = dir.join("pipe");
    let reader = std::thread::spawn(move || std::fs::read_to_string(pipe).unwrap());
    let output = flowc(&dir).args(["run", "-q", "l.flow"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(reader.join().unwrap(), "id\n0\n1\n2\n");
    assert!(std::fs::symlink_metadata(dir.join("link.csv")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(dir.join("real.csv")).unwrap(), "id\n0\n1\n2\n");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(dir.join("pipe")).unwrap().file_type().is_fifo());
    assert!(temporary_files(&dir).is_empty());
}

/// A failed run leaves an earlier run's file alone and says so.
#[test]
fn a_failed_run_says_which_files_are_from_an_earlier_run() {
    let dir = scratch("earlier");
    std::fs::write(dir.join("out.csv"), "id\n7\n").unwrap();
    std::fs::write(
        dir.join("e.flow"),
        "schema R { id: int }\nsource g: R = generate(count = 5000) { id = seq }\n\
         g | map { id = 10 / (4000 - id) } | sink file(\"out.csv\")\n",
    )
    .unwrap();
    // The file's time must be before the run's start, whatever the clock's grain.
    std::thread::sleep(Duration::from_millis(20));
    let output = flowc(&dir).args(["run", "e.flow"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("note: `out.csv` was not replaced; the file there is from an earlier run"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.join("out.csv")).unwrap(), "id\n7\n");
    assert!(temporary_files(&dir).is_empty());
}

/// A pipe whose reading end is already closed: every write to it fails.
fn closed_pipe() -> Stdio {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    unsafe {
        libc::close(fds[0]);
        Stdio::from(std::fs::File::from_raw_fd(fds[1]))
    }
}

/// A reader that goes away (`| head`) ends flowc quietly with 141: no panic,
/// no message, for a run's print sink and for `explain`.
#[test]
fn a_closed_standard_output_ends_flowc_quietly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = scratch("broken-pipe");
    std::fs::write(
        dir.join("p.flow"),
        "schema R { id: int }\nsource g: R = generate() { id = seq }\ng | sink print\ng | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let runs: [(&[&str], &Path); 3] = [
        (&["run", "p.flow"], &dir),
        (&["explain", "examples/quickstart.flow"], &root),
        (&["check", "--schemas", "examples/quickstart.flow"], &root),
    ];
    for (args, folder) in runs {
        let output = Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(args)
            .current_dir(folder)
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
    assert!(temporary_files(&dir).is_empty());
}

/// The JSON report and `print` records would share standard output.
#[test]
fn a_json_report_on_standard_output_is_refused_beside_a_print_sink() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output =
        flowc(&root).args(["run", "examples/quickstart.flow", "--explain-backpressure=json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    let example = std::fs::read_to_string(root.join("examples/quickstart.flow")).unwrap();
    let print_line = example.lines().position(|line| line.contains("sink print")).unwrap() + 1;
    assert!(stderr.contains(&format!("the sink at examples/quickstart.flow:{print_line}")), "{stderr}");
    assert!(stderr.contains("--report report.json"), "{stderr}");
    assert!(output.stdout.is_empty());
    let output = flowc(&root)
        .args(["run", "-q", "examples/quickstart.flow", "--explain-backpressure=json", "--discard-sinks"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("only the report on stdout");
    assert!(report.get("tasks").is_some());
}

/// Paths start from the `.flow` file's folder, wherever flowc runs.
#[test]
fn relative_paths_start_from_the_flow_files_folder() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let elsewhere = scratch("elsewhere");
    let output = flowc(&elsewhere).args(["run", "-q"]).arg(root.join("examples/quickstart.flow")).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 21);
}

/// A throttle holds its rate at a million records a second, without
/// letting more through than the rate allows.
#[test]
fn a_throttle_holds_high_rates() {
    let dir = scratch("throttle");
    std::fs::write(
        dir.join("t.flow"),
        "schema R { id: int }\nsource g: R = generate(count = 300_000) { id = seq }\n\
         g | throttle 1M/s @parallelism(1) | sink discard\n",
    )
    .unwrap();
    let started = Instant::now();
    let output = flowc(&dir).args(["run", "-q", "t.flow"]).output().unwrap();
    let took = started.elapsed();
    assert!(output.status.success(), "{}", stderr_of(&output));
    // 0.3 s at the rate; one sleep per record (about 27k/s) took 11 s.
    assert!(took >= Duration::from_millis(250), "faster than the rate: {took:?}");
    assert!(took < Duration::from_secs(4), "far below the rate: {took:?}");
}

/// Which records are late is a function of the input at parallelism 1:
/// the same for every buffer setting, with chaining or without, run after
/// run. Timestamps jitter by ±300 ms around 10 ms apart; the delay is 100 ms.
#[test]
fn lateness_at_parallelism_one_does_not_depend_on_timing_or_buffers() {
    let dir = scratch("lateness");
    let mut csv = String::from("id,user,ts\n");
    let mut state = 7u64;
    for i in 0..20_000i64 {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let jitter = (state >> 33) as i64 % 601 - 300;
        let ms = (i * 10 + jitter).max(0);
        csv.push_str(&format!(
            "{i},{},1970-01-01T00:{:02}:{:02}.{:03}Z\n",
            i % 7,
            ms / 60_000,
            ms / 1000 % 60,
            ms % 1000
        ));
    }
    std::fs::write(dir.join("hits.csv"), csv).unwrap();
    std::fs::write(
        dir.join("late.flow"),
        "config { parallelism = 1 }\nschema Hit { id: int, user: int, ts: timestamp }\n\
         source hits: Hit = file(\"hits.csv\") @watermark(delay = 100ms)\n\
         hits | map { id, user, ts } | key_by user | window tumbling(1s) on ts { n = count() } | sink print\n",
    )
    .unwrap();
    let settings: [&[&str]; 6] = [
        &[],
        &["--set", "buffer_size=256B"],
        &["--set", "buffer_timeout=0ms"],
        &["--set", "buffer_size=64B", "--no-chaining"],
        &["--no-chaining"],
        &[],
    ];
    let mut outcomes = Vec::new();
    for args in settings {
        let output = flowc(&dir).args(["run", "late.flow"]).args(args).output().unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        let stderr = stderr_of(&output);
        let note = |what: &str| stderr.lines().find(|line| line.contains(what)).map(str::to_string);
        let late_and_state = (note("late record"), note("of state"));
        outcomes.push((args, String::from_utf8_lossy(&output.stdout).into_owned(), late_and_state));
    }
    let (_, first_records, first_late) = &outcomes[0];
    assert!(first_late.0.is_some() && first_late.1.is_some(), "late records and a keyed state: {first_late:?}");
    for (args, records, late) in &outcomes[1..] {
        assert_eq!(late, first_late, "{args:?}");
        assert!(records == first_records, "{args:?}: the window results differ");
    }
}

/// No thread for every subtask (here: too little address space for their
/// stacks) is the machine's limit, not a bug in flowc.
#[test]
fn running_out_of_threads_is_a_limit_of_the_machine() {
    let dir = scratch("threads");
    std::fs::write(
        dir.join("t.flow"),
        "config { parallelism = 200 }\nschema R { id: int }\nsource g: R = generate(count = 1000) { id = seq }\n\
         g | map { id = id + 1 } | sink discard\n",
    )
    .unwrap();
    let flowc = env!("CARGO_BIN_EXE_flowc");
    let output = Command::new("sh")
        .args(["-c", &format!("ulimit -v 1500000 && exec {flowc} run t.flow")])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("flow::out_of_resources") && stderr.contains("cannot start a thread"), "{stderr}");
    assert!(!stderr.contains("bug"), "{stderr}");
}

/// The final rename fails (the target became a folder during the run):
/// the run fails, naming the file, and the temporary file goes too.
#[test]
fn a_failed_final_rename_leaves_no_temporary_file() {
    let dir = scratch("rename");
    std::fs::write(
        dir.join("r.flow"),
        "schema R { id: int }\nsource g: R = generate(rate = 20/s, count = 10) { id = seq }\ng | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = flowc(&dir).args(["run", "r.flow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(150));
    std::fs::create_dir_all(dir.join("out.csv/inside")).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("flow::sink_failed") && stderr.contains("out.csv"), "{stderr}");
    assert!(temporary_files(&dir).is_empty(), "{:?}", temporary_files(&dir));
}

/// `/dev/stdout` is written through, to a pipe or to a file the shell
/// opened, and stays what it was.
#[test]
fn a_sink_on_dev_stdout_writes_to_standard_output() {
    let dir = scratch("dev-stdout");
    std::fs::write(
        dir.join("d.flow"),
        "schema R { id: int }\nsource g: R = generate(count = 3) { id = seq }\n\
         g | sink file(\"/dev/stdout\", format = csv)\n",
    )
    .unwrap();
    let output = flowc(&dir).args(["run", "-q", "d.flow"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "id\n0\n1\n2\n");
    let redirected = std::fs::File::create(dir.join("redirected.txt")).unwrap();
    let output = flowc(&dir).args(["run", "-q", "d.flow"]).stdout(redirected).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(std::fs::read_to_string(dir.join("redirected.txt")).unwrap(), "id\n0\n1\n2\n");
    assert!(temporary_files(&dir).is_empty());
}

/// Two signals in the first milliseconds, before or while the run starts:
/// flowc always stops (never loses both), and leaves no temporary file.
#[test]
fn signals_at_start_up_always_stop_the_run_and_leave_nothing() {
    let dir = scratch("start-up-signals");
    std::fs::write(
        dir.join("g.flow"),
        "schema R { id: int }\nsource g: R = generate(rate = 50k/s) { id = seq }\n\
         g | sink file(\"o.csv\")\ng | map { id } | sink file(\"o2.jsonl\")\n",
    )
    .unwrap();
    for attempt in 0..30u64 {
        let mut child = flowc(&dir).args(["run", "-q", "g.flow"]).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(500 * (attempt % 8)));
        let name = if attempt % 2 == 0 { "TERM" } else { "HUP" };
        signal(&child, name);
        signal(&child, "INT");
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if started.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("attempt {attempt}: two signals did not stop the run");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(temporary_files(&dir).is_empty(), "attempt {attempt}: {:?}", temporary_files(&dir));
    }
}

/// `x.csv` and its absolute path, or a link to it, are one file: refused
/// at run time, before anything is written (`check` does no IO to see it).
#[test]
fn two_sinks_on_one_file_through_a_link_or_an_absolute_path_are_refused() {
    let dir = scratch("same-file");
    std::os::unix::fs::symlink("x.csv", dir.join("link.csv")).unwrap();
    let absolute = dir.join("x.csv").display().to_string();
    for other in [absolute.as_str(), "link.csv"] {
        std::fs::write(
            dir.join("s.flow"),
            format!(
                "schema R {{ id: int }}\nsource g: R = generate(count = 100) {{ id = seq }}\n\
                 g | sink file(\"x.csv\")\ng | filter id > 1 | sink file({other:?})\n"
            ),
        )
        .unwrap();
        let output = flowc(&dir).args(["run", "s.flow"]).output().unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("flow::shared_sink_file"), "{stderr}");
        assert!(!dir.join("x.csv").exists() && temporary_files(&dir).is_empty());
    }
}

/// A sink on `/dev/stdout` beside a `print` sink, standard output a file:
/// both outputs arrive whole (the file's offset is shared, not reopened).
#[test]
fn dev_stdout_and_print_share_a_redirected_standard_output() {
    let dir = scratch("stdout-shared");
    std::fs::write(
        dir.join("p.flow"),
        "schema R { id: int }\nsource g: R = generate(count = 5000) { id = seq }\n\
         g | sink file(\"/dev/stdout\", format = csv)\ng | map { id = id + 100000 } | sink print\n",
    )
    .unwrap();
    let redirected = std::fs::File::create(dir.join("out.txt")).unwrap();
    let output = flowc(&dir).args(["run", "-q", "p.flow"]).stdout(redirected).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let text = std::fs::read_to_string(dir.join("out.txt")).unwrap();
    let csv = text.lines().filter(|line| line.parse::<i64>().is_ok()).count();
    let printed = text.lines().filter(|line| line.starts_with("id=")).count();
    assert_eq!((csv, printed), (5000, 5000), "every line whole, none lost");
    assert_eq!(text.lines().count(), 10_001, "and nothing torn (the csv header is the one more)");
}
