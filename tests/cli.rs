//! The `flowc` binary as a user meets it: exit codes, standard input,
//! colour choices, and clear errors for unreadable files and bad flags.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn flowc(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowc"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env_remove("NO_COLOR");
    for (key, value) in env {
        command.env(key, value);
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("flowc runs");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const BROKEN: &[u8] =
    b"schema R { id: int }\nsource r: R = generate(count = 1) { id = seq }\nr | filter idd > 1 | sink print\n";

#[test]
fn a_clean_file_exits_zero_with_a_summary() {
    let out = flowc(&["check", "examples/slow_sink.flow"], None, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "ok: examples/slow_sink.flow: 1 source, 1 pipeline, 3 operators, 1 sink\n");
    assert!(out.stderr.is_empty());
}

#[test]
fn errors_exit_one_and_name_the_file_and_code() {
    let out = flowc(&["check", "-"], Some(BROKEN), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("flow::unknown_field"), "{stderr}");
    assert!(stderr.contains("<stdin>:3:12"), "{stderr}");
    assert!(stderr.contains("did you mean `id`?"), "{stderr}");
    assert!(stderr.ends_with("error: <stdin> has 1 error\n"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let coloured = flowc(&["check", "-", "--color", "always"], Some(BROKEN), &[]);
    assert!(text(&coloured.stderr).contains("\u{1b}["), "--color always colours");
    let plain = flowc(&["check", "-", "--color", "never"], Some(BROKEN), &[]);
    assert!(!text(&plain.stderr).contains("\u{1b}["), "--color never does not");
    let piped = flowc(&["check", "-"], Some(BROKEN), &[]);
    assert!(!text(&piped.stderr).contains("\u{1b}["), "auto does not colour a pipe");
    let no_color = flowc(&["check", "-", "--color", "auto"], Some(BROKEN), &[("NO_COLOR", "1")]);
    assert!(!text(&no_color.stderr).contains("\u{1b}["), "auto honours NO_COLOR");
}

#[test]
fn an_unreadable_file_exits_two() {
    let out = flowc(&["check", "no/such/file.flow"], None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: cannot read no/such/file.flow:"), "{}", text(&out.stderr));
}

#[test]
fn text_that_is_not_utf8_exits_two() {
    let out = flowc(&["check", "-"], Some(b"schema R { id: int }\n\xff\xfe"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "error: <stdin> is not UTF-8 text: invalid byte at offset 21\n");
}

#[test]
fn bad_flags_exit_two_with_usage() {
    let unknown = flowc(&["check", "--frobnicate", "x.flow"], None, &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("--frobnicate"));
    let bad_value = flowc(&["check", "x.flow", "--color", "sometimes"], None, &[]);
    assert_eq!(bad_value.status.code(), Some(2));
    assert!(text(&bad_value.stderr).contains("sometimes"));
    let missing = flowc(&["check"], None, &[]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn help_and_version_exit_zero() {
    assert_eq!(flowc(&["--help"], None, &[]).status.code(), Some(0));
    assert_eq!(flowc(&["--version"], None, &[]).status.code(), Some(0));
}

#[test]
fn explain_draws_the_readme_example() {
    let out = flowc(&["explain", "examples/slow_sink.flow"], None, &[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Task 1: Source: readings -> Map -> Filter"), "{stdout}");
    assert!(stdout.contains("not chained: parallelism 2 → 1"), "{stdout}");
    assert!(out.stderr.is_empty());
}

#[test]
fn explain_refuses_a_bad_setting_or_format_with_exit_two() {
    let bad_value = flowc(&["explain", "examples/slow_sink.flow", "--set", "parallelism=0"], None, &[]);
    assert_eq!(bad_value.status.code(), Some(2));
    let stderr = text(&bad_value.stderr);
    assert!(stderr.starts_with("error[flow::config_value]: --set parallelism=0:"), "{stderr}");
    assert!(stderr.contains("1 to 256"), "{stderr}");
    let unknown_key = flowc(&["explain", "examples/slow_sink.flow", "--set", "paralelism=2"], None, &[]);
    assert_eq!(unknown_key.status.code(), Some(2));
    assert!(text(&unknown_key.stderr).contains("did you mean `parallelism`?"), "{}", text(&unknown_key.stderr));
    let not_assignment = flowc(&["explain", "examples/slow_sink.flow", "--set", "parallelism"], None, &[]);
    assert_eq!(not_assignment.status.code(), Some(2));
    let bad_format = flowc(&["explain", "examples/slow_sink.flow", "--format", "svg"], None, &[]);
    assert_eq!(bad_format.status.code(), Some(2));
    assert!(text(&bad_format.stderr).contains("svg"));
}

#[test]
fn explain_of_a_broken_file_exits_one_with_its_diagnostics() {
    let out = flowc(&["explain", "-", "--format", "json"], Some(BROKEN), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("flow::unknown_field"));
}

#[test]
fn the_json_report_goes_to_stdout_and_saved_metrics_explain_again() {
    let dir = std::env::temp_dir().join(format!("flowc-cli-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("m.json");
    // 0.8 s: a verdict needs 0.5 s of samples.
    let flow = "schema R { id: int }\nsource r: R = generate(rate = 5k/s, count = 4000) { id = seq }\nr | map { id } | sink discard\n";
    let flow_path = dir.join("p.flow");
    std::fs::write(&flow_path, flow).unwrap();
    let flow_arg = flow_path.to_str().unwrap();
    let out = flowc(
        &["run", flow_arg, "-q", "--explain-backpressure=json", "--save-metrics", metrics.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON report");
    assert_eq!(report["verdict"]["cause"], "no_bottleneck");
    let again = flowc(&["report", flow_arg, "--metrics", metrics.to_str().unwrap()], None, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("verdict: no bottleneck"), "{}", text(&again.stdout));
    // Metrics of another plan are refused, not misread.
    let other =
        flowc(&["report", flow_arg, "--set", "parallelism=2", "--metrics", metrics.to_str().unwrap()], None, &[]);
    assert_eq!(other.status.code(), Some(2));
    assert!(text(&other.stderr).contains("the metrics are of another plan"), "{}", text(&other.stderr));
    let garbage = flowc(&["report", flow_arg, "--metrics", flow_arg], None, &[]);
    assert_eq!(garbage.status.code(), Some(2));
    assert!(text(&garbage.stderr).contains("not a flowc metrics recording"), "{}", text(&garbage.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_report_format_exits_two() {
    let out = flowc(&["run", "examples/quickstart.flow", "--explain-backpressure=pdf"], None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("possible values: text, json, html"), "{}", text(&out.stderr));
}

#[test]
fn a_parallelism_sweep_prints_the_throughput_of_each_setting() {
    let flow = "schema R { id: int }\nsource r: R = generate(count = 20k) { id = seq }\nr | rebalance | map { id } | sink print\n";
    let out = flowc(&["run", "-", "--sweep-parallelism", "1,2"], Some(flow.as_bytes()), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("maximum throughput of <stdin>"), "{stderr}");
    assert!(stderr.lines().any(|line| line.trim_start().starts_with("1 ")), "{stderr}");
    assert!(stderr.lines().any(|line| line.trim_start().starts_with("2 ")), "{stderr}");
    assert!(out.stdout.is_empty(), "sinks discard during a sweep");
}

#[test]
fn fmt_rewrites_files_in_place_and_check_reports_a_diff() {
    let dir = std::env::temp_dir().join(format!("flowc-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let messy = dir.join("messy.flow");
    let tidy = dir.join("tidy.flow");
    std::fs::write(&messy, "schema R { id: int }\nsource r: R = generate(count = 1) { id = seq }\nr | sink print\n")
        .unwrap();
    std::fs::copy("examples/quickstart.flow", &tidy).unwrap();
    let (messy_arg, tidy_arg) = (messy.to_str().unwrap(), tidy.to_str().unwrap());

    let check = flowc(&["fmt", "--check", messy_arg, tidy_arg], None, &[]);
    assert_eq!(check.status.code(), Some(1));
    let diff = text(&check.stdout);
    assert!(diff.contains("\n-r | sink print\n") && diff.contains("\n+  | sink print\n"), "{diff}");
    assert!(!diff.contains("tidy.flow"), "a formatted file has no diff: {diff}");
    assert!(text(&check.stderr).contains("1 file is not formatted"), "{}", text(&check.stderr));
    assert!(std::fs::read_to_string(&messy).unwrap().contains("r | sink print"), "--check writes nothing");

    let format = flowc(&["fmt", messy_arg, tidy_arg], None, &[]);
    assert_eq!(format.status.code(), Some(0), "{}", text(&format.stderr));
    assert!(format.stdout.is_empty());
    assert!(std::fs::read_to_string(&messy).unwrap().ends_with("r\n  | sink print\n"));
    assert_eq!(flowc(&["fmt", "--check", messy_arg, tidy_arg], None, &[]).status.code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fmt_of_standard_input_prints_and_refuses_syntax_errors() {
    let out = flowc(&["fmt", "-"], Some(b"schema R{id:int}"), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "schema R {\n  id: int\n}\n");

    let out = flowc(&["fmt", "-"], Some(b"schema R { id: int\n"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("<stdin>:"), "{stderr}");
    assert!(stderr.ends_with("error: <stdin> has syntax errors; it was not formatted\n"), "{stderr}");

    let missing = flowc(&["fmt", "no/such.flow"], None, &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read no/such.flow"));
}
