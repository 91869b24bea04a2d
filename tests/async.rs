//! `@async` on whole runs: the same records in the same order as a blocking
//! `sleep`, several times faster; never more calls in flight than the
//! capacity; complete and ordered under backpressure; unordered calls that
//! give an event-time window the same results as ordered ones; every call
//! in flight drained at the end of input and after Ctrl-C; and the time a
//! full queue waits counted as busy, free slots without input as idle.
//! Timing is only ever bounded, never pinned.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowc::compile::Interpreter;
use flowc::metrics::read;
use flowc::plan::PhysicalPlan;
use flowc::runtime::{run, RunOptions, RunOutcome};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowc-async-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn plan_of(text: &str) -> PhysicalPlan {
    let checked = flowc::check::check_source(text);
    let program = checked.program.unwrap_or_else(|| panic!("does not check: {:?}", checked.diagnostics));
    let planned = flowc::plan::plan(&program);
    assert!(planned.diagnostics.iter().all(|d| !d.is_error()), "{:?}", planned.diagnostics);
    planned.plan.unwrap()
}

/// Runs `text` with a watchdog: a run that does not end in 30 s is a deadlock.
fn run_text(text: &str) -> (PhysicalPlan, RunOutcome) {
    let plan = plan_of(text);
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !finished.load(Ordering::SeqCst) {
                assert!(start.elapsed() < Duration::from_secs(30), "the run did not finish: a deadlock");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let outcome = run(&plan, &Interpreter, RunOptions::default());
    finished.store(true, Ordering::SeqCst);
    watchdog.join().expect("the run finished in time");
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    (plan, outcome)
}

/// The data lines a file sink wrote, its header left out.
fn rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines().skip(1).map(String::from).collect()
}

/// The most records any subtask of the operator named `name` had in flight.
fn in_flight_peak(plan: &PhysicalPlan, outcome: &RunOutcome, name: &str) -> u64 {
    let operator = plan.operators.iter().find(|op| op.name == name).unwrap_or_else(|| panic!("no `{name}`"));
    outcome.metrics.operators[operator.id].iter().map(|counters| read(&counters.in_flight_peak)).max().unwrap()
}

fn pipeline(count: u64, operator: &str, sink: &Path) -> String {
    format!(
        "schema R {{ id: int, tag: string }}\n\
         source r: R = generate(count = {count}) {{ id = seq, tag = \"t\" ++ str(seq % 7) }}\n\
         r | {operator} @name(\"lookup\") | sink file(\"{}\")\n",
        sink.display()
    )
}

/// (a) The same records in the same order as the blocking `sleep`, and at
/// least 4× as fast with 8 calls in flight (8× in theory). (b) Never more
/// than the capacity in flight, and the queue does fill.
#[test]
fn async_sleep_gives_the_blocking_records_in_order_several_times_faster() {
    let dir = scratch("speed");
    let (blocking_out, async_out) = (dir.join("blocking.csv"), dir.join("async.csv"));
    let (_, blocking) = run_text(&pipeline(400, "sleep 2ms", &blocking_out));
    let (plan, asynchronous) = run_text(&pipeline(400, "sleep 2ms @async(capacity = 8)", &async_out));
    let expected = rows(&blocking_out);
    assert_eq!(expected.len(), 400);
    assert_eq!(rows(&async_out), expected, "the same records in the same order");
    assert!(blocking.wall_time >= Duration::from_millis(800), "blocking took only {:?}", blocking.wall_time);
    assert!(
        asynchronous.wall_time * 4 <= blocking.wall_time,
        "async {:?} against blocking {:?}: less than 4× faster",
        asynchronous.wall_time,
        blocking.wall_time
    );
    let peak = in_flight_peak(&plan, &asynchronous, "lookup");
    assert_eq!(peak, 8, "an unthrottled source fills the queue, and never past its capacity");
    // The recording carries the gauge: its peak, and a mean near the capacity.
    let totals = &asynchronous.recording.tasks[0].subtasks[0].totals;
    assert_eq!(totals.operator_in_flight_peak.iter().max(), Some(&8));
    let report = flowc::report::analyze(&plan, &asynchronous.recording, "async.flow", "", 2);
    let lookup = report.tasks.iter().flat_map(|task| &task.operators).find(|op| op.name == "lookup").unwrap();
    assert_eq!(lookup.async_capacity, Some(8));
    assert_eq!(lookup.in_flight_peak, 8);
    assert!((5.0..=8.0).contains(&lookup.in_flight), "mean in flight {} of 8", lookup.in_flight);
    let _ = std::fs::remove_dir_all(&dir);
}

/// (c) A slower operator downstream (a blocking `sleep` in its own task,
/// small buffers) backpressures the async one: its output is still
/// complete and in order, and its calls in flight stay within capacity.
/// The same with a `work` chained right after it.
#[test]
fn async_sleep_under_backpressure_stays_complete_ordered_and_bounded() {
    let dir = scratch("backpressure");
    let out = dir.join("out.csv");
    let text = format!(
        "config {{ buffer_size = 64B, buffers_per_channel = 1, floating_buffers = 0 }}\n\
         schema R {{ id: int }}\n\
         source r: R = generate(count = 300) {{ id = seq }}\n\
         r | sleep 1ms @async(capacity = 6) @name(\"lookup\")\n  \
           | sleep 3ms @new_chain @name(\"slow\")\n  \
           | sink file(\"{}\")\n",
        out.display()
    );
    let (plan, outcome) = run_text(&text);
    let expected: Vec<String> = (0..300).map(|id| id.to_string()).collect();
    assert_eq!(rows(&out), expected, "every record, in order");
    assert!(in_flight_peak(&plan, &outcome, "lookup") <= 6);
    let upstream = &outcome.recording.tasks[0].subtasks[0].totals;
    assert!(
        upstream.backpressured_ms > 200.0,
        "the async task waits for the slow one: backpressured {} ms",
        upstream.backpressured_ms
    );

    let chained = dir.join("chained.csv");
    let text = format!(
        "schema R {{ id: int }}\n\
         source r: R = generate(count = 300) {{ id = seq }}\n\
         r | sleep 2ms @async(capacity = 4, ordered = false) @name(\"lookup\") | work 1ms | sink file(\"{}\")\n",
        chained.display()
    );
    let (plan, outcome) = run_text(&text);
    assert_eq!(rows(&chained), expected, "constant latency: completion order is input order");
    assert!(in_flight_peak(&plan, &outcome, "lookup") <= 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// (d) Unordered calls, watermarks (one every 4 records, so a queue of 16
/// holds several), and an event-time window after a `key_by`: the windows
/// count exactly what they count with ordered calls and with a blocking
/// `sleep` (no record passes a watermark; none is late).
#[test]
fn unordered_calls_keep_event_time_windows_exact() {
    let dir = scratch("windows");
    let program = |operator: &str, out: &Path| {
        format!(
            "config {{ parallelism = 2, buffer_timeout = 1ms }}\n\
             schema Hit {{ page: int, ts: timestamp }}\n\
             source hits: Hit = generate(count = 1_200) {{ page = seq % 5, ts = epoch + seq * 1ms }} \
             @watermark(delay = 0s, every = 4)\n\
             hits | {operator} | key_by page | window tumbling(20ms) on ts {{ n = count() }}\n  \
               | sink file(\"{}\") @parallelism(1)\n",
            out.display()
        )
    };
    let mut results = Vec::new();
    for (name, operator) in [
        ("blocking", "sleep 1ms @parallelism(1)"),
        ("ordered", "sleep 1ms @async(capacity = 16)"),
        ("unordered", "sleep 1ms @async(capacity = 16, ordered = false)"),
    ] {
        let out = dir.join(format!("{name}.csv"));
        let (plan, outcome) = run_text(&program(operator, &out));
        let window = plan.operators.iter().find(|op| op.name.contains("Window")).unwrap();
        let late: u64 = outcome.metrics.operators[window.id].iter().map(|c| read(&c.late)).sum();
        assert_eq!(late, 0, "{name}: no record is late");
        let mut windows = rows(&out);
        windows.sort();
        assert_eq!(windows.len(), 60 * 5, "{name}: 60 windows of 5 pages");
        results.push((name, windows));
    }
    assert_eq!(results[1].1, results[0].1, "ordered async counts as blocking does");
    assert_eq!(results[2].1, results[0].1, "unordered async counts as blocking does");
    let _ = std::fs::remove_dir_all(&dir);
}

/// (e) At the end of input every call in flight completes and is emitted:
/// 100 records, all in flight at once for 200 ms.
#[test]
fn the_end_of_input_drains_every_call_in_flight() {
    let dir = scratch("drain");
    let out = dir.join("out.csv");
    let (plan, outcome) = run_text(&pipeline(100, "sleep 200ms @async(capacity = 100, ordered = false)", &out));
    let mut ids: Vec<u64> = rows(&out).iter().map(|row| row.split(',').next().unwrap().parse().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..100).collect::<Vec<_>>(), "every record after its call");
    assert_eq!(in_flight_peak(&plan, &outcome, "lookup"), 100);
    assert!(outcome.wall_time >= Duration::from_millis(200), "done before the calls completed");
    assert!(outcome.wall_time < Duration::from_secs(2), "100 calls of 200 ms overlap: {:?}", outcome.wall_time);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full queue waits on the other system: busy, as a blocking call is, so
/// a too-small capacity still reads "busy, little CPU". Free slots and no
/// input are idle.
#[test]
fn a_full_queue_is_busy_and_free_slots_without_input_are_idle() {
    let dir = scratch("time");
    let text = |source: &str, capacity: u32| {
        format!(
            "schema R {{ id: int }}\nsource r: R = generate({source}) {{ id = seq }}\n\
             r | rebalance | sleep 2ms @async(capacity = {capacity}) @name(\"lookup\") @parallelism(2) \
             | sink file(\"{}\") @parallelism(1)\n",
            dir.join("out.csv").display()
        )
    };
    let ratios = |outcome: &RunOutcome| {
        let task = &outcome.recording.tasks[1];
        let (busy, idle): (f64, f64) = task
            .subtasks
            .iter()
            .map(|subtask| (subtask.totals.busy_ms, subtask.totals.idle_ms))
            .fold((0.0, 0.0), |(b, i), (busy, idle)| (b + busy, i + idle));
        (busy / (busy + idle), idle / (busy + idle))
    };
    let (_, full) = run_text(&text("count = 1_000", 2));
    let (busy, _) = ratios(&full);
    assert!(busy > 0.7, "a full queue waits busy: {busy:.2}");
    let (_, sparse) = run_text(&text("count = 40, rate = 100/s", 8));
    let (_, idle) = ratios(&sparse);
    assert!(idle > 0.7, "free slots and no input: idle {idle:.2}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C stops the source; the calls in flight complete and reach the
/// file sink, which is complete and in order; the exit code is 0.
#[test]
fn ctrl_c_drains_the_calls_in_flight() {
    let dir = scratch("ctrl-c");
    std::fs::write(
        dir.join("endless.flow"),
        "schema Row { id: int }\n\
         source rows: Row = generate(rate = 2k/s) { id = seq }\n\
         rows | sleep 100ms @async(capacity = 500) | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .current_dir(&dir)
        .args(["run", "endless.flow"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let interrupted = Instant::now();
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(interrupted.elapsed() < Duration::from_secs(5), "took {:?} to stop", interrupted.elapsed());
    assert!(stderr.contains("stopped by Ctrl-C"), "{stderr}");
    let rows = rows(&dir.join("out.csv"));
    assert!(rows.len() > 200, "only {} records", rows.len());
    // Those read in the last 100 ms were still in flight at the stop: they came out too.
    let summary = stderr.lines().find(|line| line.contains(" records in, ")).expect("the run's summary");
    let count = |word: &str| -> usize {
        let before = summary.split(word).next().unwrap();
        before.rsplit(' ').find(|part| !part.is_empty()).unwrap().replace(',', "").parse().unwrap()
    };
    assert_eq!(count(" records in"), rows.len(), "{summary}");
    assert_eq!(count(" out,"), rows.len(), "{summary}");
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(*row, index.to_string(), "every record up to the stop, in order");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
