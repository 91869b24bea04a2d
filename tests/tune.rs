//! `flowc tune` end to end: the real binary on real runs. Each test writes
//! its program to a temporary folder, so the runs never touch the examples.
//! Runs take a second or two each; tests that time runs go one at a time.
//! Assertions are on classifications (reached, stopped and why, which
//! edit), never on exact rates.

#[path = "common/hogs.rs"]
mod hogs;
use hogs::CpuHogs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let dir = std::env::temp_dir().join(format!("flowc-tune-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Folder(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tune(file: &Path, args: &[&str]) -> (Output, String, String) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .arg("tune")
        .arg(file)
        .args(args)
        .arg("--quiet")
        .output()
        .expect("flowc runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

const BLOCKING_LOOKUP: &str = "\
// Enrich each order with one blocking call.
config {
  parallelism = 2   // two of everything
}

schema Order { id: int, shop: int }

source orders: Order = generate(rate = 20k/s, count = 24_000) {
  id   = seq
  shop = seq % 40
}

orders
  | sleep 200us @name(\"lookup\")   // a 200 µs call per record
  | map { id, shop }
  | sink discard
";

#[test]
fn a_blocking_call_reaches_the_wanted_rate_in_one_step_and_the_file_is_left_alone() {
    let folder = Folder::new("lookup");
    let file = folder.file("lookup.flow", BLOCKING_LOOKUP);
    let (output, stdout, stderr) = tune(&file, &[]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("The sources want 20,000/s."), "{stdout}");
    assert!(stdout.contains("reached the sources' 20,000/s after 1 step"), "{stdout}");
    assert!(stdout.contains("@async(capacity = ") && stdout.contains("on `lookup`"), "{stdout}");
    // The diff changes the one line and keeps its comment.
    assert!(stdout.contains("+  | sleep 200us @name(\"lookup\") @async(capacity = "), "{stdout}");
    assert!(stdout.contains(")   // a 200 µs call per record"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), BLOCKING_LOOKUP, "without --write the file is untouched");
}

#[test]
fn write_saves_the_tuned_program_with_its_comments_and_it_checks() {
    let folder = Folder::new("write");
    let file = folder.file("lookup.flow", BLOCKING_LOOKUP);
    let (output, stdout, stderr) = tune(&file, &["--write", "--steps", "1"]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("wrote the tuned program to"), "{stdout}");
    let tuned = std::fs::read_to_string(&file).unwrap();
    assert_ne!(tuned, BLOCKING_LOOKUP);
    for line in BLOCKING_LOOKUP.lines().filter(|line| !line.contains("sleep")) {
        assert!(tuned.contains(line), "the line {line:?} is kept:\n{tuned}");
    }
    let check = Command::new(env!("CARGO_BIN_EXE_flowc")).arg("check").arg(&file).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn work_that_needs_more_cores_than_the_machine_has_is_not_given_more_subtasks() {
    // `work 100us` takes a core for 10k records/s: ask for three machines' worth.
    let rate = cores() * 30_000;
    let text = format!(
        "config {{ parallelism = {} }}\nschema R {{ id: int }}\n\
         source r: R = generate(rate = {rate}/s, count = {}) {{ id = seq }}\n\
         r | work 100us @name(\"score\") | sink discard\n",
        cores(),
        rate / 2
    );
    let folder = Folder::new("cores");
    let file = folder.file("cores.flow", &text);
    let (output, stdout, stderr) = tune(&file, &[]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("`score`"), "{stdout}");
    assert!(stdout.contains("give it more cores"), "the stop says what would help:\n{stdout}");
    assert!(stdout.contains("no change to the file"), "{stdout}");
}

#[test]
fn a_credit_round_trip_is_tuned_with_buffers_not_parallelism() {
    let text = "\
config {
  parallelism         = 2
  channel_latency     = 5ms
  buffers_per_channel = 1
  floating_buffers    = 0
  buffer_size         = 4KiB
}
schema Event { id: int, payload: string }
source events: Event = generate(count = 60_000) { id = seq, payload = \"event-\" ++ str(seq) }
events | rebalance | map { id, size = len(payload) } | sink discard
";
    let folder = Folder::new("credit");
    let file = folder.file("credit.flow", text);
    let (output, stdout, stderr) = tune(&file, &["--steps", "1"]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("network: credit round trip"), "{stdout}");
    assert!(stdout.contains("buffers_per_channel = "), "{stdout}");
    assert!(stdout.contains("helped: "), "more buffers in flight help:\n{stdout}");
    assert!(stdout.contains("-  buffers_per_channel = 1\n"), "{stdout}");
    assert!(!stdout.contains("@parallelism"), "{stdout}");
}

#[test]
fn data_skew_stops_tuning_and_says_to_salt_the_key() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data_skew.flow")).unwrap();
    let folder = Folder::new("skew");
    let file = folder.file("skew.flow", &text);
    let (output, stdout, stderr) = tune(&file, &[]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("data skew"), "{stdout}");
    assert!(stdout.contains("salt or pre-aggregate the hot key 7"), "{stdout}");
    assert!(stdout.contains("which flowc cannot write for you"), "{stdout}");
    assert!(stdout.contains("no change to the file"), "{stdout}");
}

#[test]
fn a_job_too_short_to_judge_is_not_tuned() {
    let folder = Folder::new("short");
    let file = folder.file(
        "short.flow",
        "schema R { id: int }\nsource r: R = generate(count = 100) { id = seq }\nr | sink discard\n",
    );
    let (output, stdout, stderr) = tune(&file, &[]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("too short to judge"), "{stdout}");
    assert!(stdout.contains("no change to the file"), "{stdout}");
}

#[test]
fn bad_files_and_flags_are_errors_with_a_code() {
    let folder = Folder::new("bad");
    let missing = folder.0.join("missing.flow");
    let (output, _, stderr) = tune(&missing, &[]);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let broken = folder
        .file("broken.flow", "schema R { id: int }\nsource r: R = generate(count = 1) { id = seq }\nr | mapp { id }\n");
    let (output, _, stderr) = tune(&broken, &[]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.flow"), "{stderr}");
    let (output, _, stderr) = tune(&broken, &["--steps", "0"]);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}

#[test]
fn a_rate_limited_writer_reaches_the_wanted_rate_beside_two_busy_programs() {
    // 200/s per subtask, 1,000/s wanted: parallelism alone fixes it (in one
    // step on a quiet machine), and a throttle's late wake-ups on a loaded
    // machine must not cost it its rate. Beside two busy programs a short
    // job's last buffers drain late, so a second step may be needed.
    let text = "schema R { id: int }\n\
                source r: R = generate(rate = 1000/s, count = 1_500) { id = seq }\n\
                r | throttle 200/s @parallelism(1) @name(\"writer\") | sink discard\n";
    let folder = Folder::new("writer");
    let file = folder.file("writer.flow", text);
    let _hogs = CpuHogs::start();
    let (output, stdout, stderr) = tune(&file, &[]);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("reached the sources' 1,000/s after "), "{stdout}");
    assert!(stdout.contains("on `writer`"), "{stdout}");
}
