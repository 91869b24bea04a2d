//! The runtime's promises, tested on whole runs: no record is lost or made
//! up at any operator whatever the parallelism and buffer settings; no
//! buffer ever travels without credit; small buffers and many subtasks
//! never deadlock; memory does not grow with the input when the sink is
//! slow; a failing or panicking subtask stops the run promptly; Ctrl-C
//! drains and exits cleanly. Timing is only ever bounded, never pinned.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowc::check::program::TypedExpr;
use flowc::check::types::RecordType;
use flowc::compile::backend::{Backend, Generator, Predicate, Projection, Scalar};
use flowc::compile::interp::EvalError;
use flowc::compile::{Batch, Interpreter};
use flowc::diag::Code;
use flowc::metrics::read;
use flowc::plan::{NodeKind, Partitioning, PhysicalPlan};
use flowc::runtime::{run, RunOptions, RunOutcome};
use proptest::prelude::*;

#[path = "common/memory.rs"]
mod memory;
use memory::peak_memory_kib;

fn plan_of(text: &str, settings: &[String]) -> PhysicalPlan {
    let checked = flowc::check::check_source(text);
    let mut program = checked.program.unwrap_or_else(|| panic!("does not check: {:?}", checked.diagnostics));
    for setting in settings {
        program.config.set_from_str(setting).unwrap();
    }
    let planned = flowc::plan::plan(&program);
    assert!(planned.diagnostics.iter().all(|d| !d.is_error()), "{:?}", planned.diagnostics);
    planned.plan.unwrap()
}

/// Runs with a watchdog: a run that does not end in `limit` is a deadlock.
fn run_within(plan: &PhysicalPlan, backend: &(dyn Backend + Sync), options: RunOptions, limit: Duration) -> RunOutcome {
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !finished.load(Ordering::SeqCst) {
                assert!(start.elapsed() < limit, "the run did not finish within {limit:?}: a deadlock");
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let outcome = run(plan, backend, options);
    finished.store(true, Ordering::SeqCst);
    watchdog.join().expect("the run finished in time");
    outcome
}

/// A pipeline with every way records travel: forward chains, a `let` read
/// twice, a union, rebalance, broadcast, hash partitioning into a window
/// and an aggregate; and unordered `@async` calls before the window, which
/// must hold its watermarks behind their records (no record is late).
const PIPELINE: &str = r#"
schema Event { id: int, group: int, tag: string, ts: timestamp }

source events: Event = generate(count = 3000) {
  id    = seq
  group = seq % 7
  tag   = if seq % 5 == 0 then "five" else "other-" ++ str(seq % 3)
  ts    = epoch + seq * 1ms
} @watermark(delay = 5ms)

source extra: Event = generate(count = 500) {
  id = seq, group = seq % 3, tag = "extra", ts = epoch + seq * 6ms
} @watermark(delay = 0s)

let mixed = union(events, extra) | filter id % 4 != 1

mixed
  | rebalance
  | map { id, group, tag, ts, len = len(tag) } @parallelism(P1)
  | sleep 20us @async(capacity = 4, ordered = false)
  | key_by group
  | window tumbling(100ms) on ts { n = count(), longest = max(len) } @parallelism(P2)
  | sink discard

mixed
  | broadcast
  | filter contains(tag, "o") @parallelism(P3)
  | key_by tag
  | aggregate { n = count() } @parallelism(P1)
  | sink discard @parallelism(P2)
"#;

fn pipeline(p1: u32, p2: u32, p3: u32) -> String {
    PIPELINE.replace("P1", &p1.to_string()).replace("P2", &p2.to_string()).replace("P3", &p3.to_string())
}

/// Every edge delivers what its sender emitted (times the receivers for
/// broadcast), and every operator's records in are out + filtered (late,
/// for windows, which aggregate what they keep).
fn assert_conserved(plan: &PhysicalPlan, outcome: &RunOutcome) {
    let metrics = &outcome.metrics;
    let total = |operator: usize, counter: fn(&flowc::metrics::OperatorCounters) -> &std::sync::atomic::AtomicU64| {
        metrics.operator_total(operator, |c| read(counter(c)))
    };
    for operator in &plan.operators {
        let id = operator.id;
        let received: u64 = operator
            .inputs
            .iter()
            .map(|&edge| {
                let edge = &plan.edges[edge];
                let copies = if matches!(edge.partitioning, Partitioning::Broadcast) {
                    plan.operators[edge.to].parallelism as u64
                } else {
                    1
                };
                total(edge.from, |c| &c.records_out) * copies
            })
            .sum();
        let (records_in, records_out) = (total(id, |c| &c.records_in), total(id, |c| &c.records_out));
        match &plan.node(id).kind {
            NodeKind::Source(_) => {}
            NodeKind::Operator { kind, .. } => {
                assert_eq!(records_in, received, "{} received", operator.name);
                match kind {
                    flowc::check::program::OperatorKind::Filter { .. } => {
                        assert_eq!(records_in, records_out + total(id, |c| &c.filtered), "{}", operator.name)
                    }
                    flowc::check::program::OperatorKind::Window { .. } => assert_eq!(total(id, |c| &c.late), 0),
                    _ => assert_eq!(records_in, records_out, "{}", operator.name),
                }
            }
            NodeKind::Sink(_) => assert_eq!(records_in, received, "{} received", operator.name),
            NodeKind::Union => unreachable!(),
        }
    }
    for task in &metrics.subtasks {
        for subtask in task {
            assert_eq!(read(&subtask.credit_violations), 0, "a buffer arrived without credit");
        }
    }
}

fn buffer_settings() -> impl Strategy<Value = Vec<String>> {
    (prop_oneof![Just(64u64), Just(200), Just(1024), Just(32 << 10)], 1u32..4, 0u32..5, 0u64..3, any::<bool>())
        .prop_map(|(size, exclusive, floating, timeout_ms, chaining)| {
            vec![
                format!("buffer_size={size}B"),
                format!("buffers_per_channel={exclusive}"),
                format!("floating_buffers={floating}"),
                format!("buffer_timeout={timeout_ms}ms"),
                format!("chaining={chaining}"),
            ]
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn records_are_conserved_at_every_operator(
        p in 1u32..4, p1 in 1u32..4, p2 in 1u32..4, p3 in 1u32..4, settings in buffer_settings()
    ) {
        let mut settings = settings;
        settings.push(format!("parallelism={p}"));
        let plan = plan_of(&pipeline(p1, p2, p3), &settings);
        let outcome = run_within(&plan, &Interpreter, RunOptions::default(), Duration::from_secs(60));
        prop_assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let generated: u64 = plan.operators.iter()
            .filter(|op| matches!(plan.node(op.id).kind, NodeKind::Source(_)))
            .map(|op| outcome.metrics.operator_total(op.id, |c| read(&c.records_out)))
            .sum();
        prop_assert_eq!(generated, 3500);
        assert_conserved(&plan, &outcome);
    }
}

/// Tiny buffers, one credit per channel, no floating buffers, a latency on
/// every message and six subtasks per operator: the run still ends.
#[test]
fn small_buffers_and_many_subtasks_never_deadlock() {
    for (size, floating, latency) in [("64B", 0, "0ms"), ("128B", 1, "1ms"), ("64B", 0, "2ms")] {
        let settings = vec![
            "parallelism=6".to_string(),
            format!("buffer_size={size}"),
            "buffers_per_channel=1".to_string(),
            format!("floating_buffers={floating}"),
            format!("channel_latency={latency}"),
            "buffer_timeout=1ms".to_string(),
        ];
        let plan = plan_of(&pipeline(5, 4, 6), &settings);
        let outcome = run_within(&plan, &Interpreter, RunOptions::default(), Duration::from_secs(90));
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_conserved(&plan, &outcome);
    }
}

/// A generator that runs for ever, and a map that fails at record 3000:
/// the run ends with that error, quickly, however many subtasks wait.
#[test]
fn a_runtime_error_stops_every_task_promptly() {
    let text = r#"
        config { parallelism = 4  buffer_size = 256B }
        schema Row { id: int }
        source rows: Row = generate() { id = seq }
        rows | rebalance | map { id, x = 1 / (3000 - id) } | throttle 100k/s | sink discard
    "#;
    let plan = plan_of(text, &[]);
    let start = Instant::now();
    let outcome = run_within(&plan, &Interpreter, RunOptions::default(), Duration::from_secs(30));
    let error = outcome.error.expect("the division by zero fails the run");
    assert_eq!(error.code, Code::EvalFailed);
    assert!(error.message.contains("division by zero"), "{}", error.message);
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

/// A backend whose map panics on the tenth batch: a bug in a subtask.
struct PanickingBackend;

struct PanickingProjection {
    inner: Box<dyn Projection>,
    calls: AtomicUsize,
}

impl Projection for PanickingProjection {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 10 {
            panic!("injected failure");
        }
        self.inner.run(input, output)
    }
}

impl Backend for PanickingBackend {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn projection(
        &self,
        fields: &[TypedExpr],
        input: &Arc<RecordType>,
        output: &Arc<RecordType>,
    ) -> Box<dyn Projection> {
        Box::new(PanickingProjection {
            inner: Interpreter.projection(fields, input, output),
            calls: AtomicUsize::new(0),
        })
    }
    fn predicate(&self, predicate: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Predicate> {
        Interpreter.predicate(predicate, record)
    }
    fn scalar(&self, expr: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Scalar> {
        Interpreter.scalar(expr, record)
    }
    fn generator(&self, fields: &[TypedExpr], output: &Arc<RecordType>) -> Box<dyn Generator> {
        Interpreter.generator(fields, output)
    }
}

#[test]
fn a_panicking_subtask_fails_the_run_without_hanging() {
    let text = r#"
        config { parallelism = 3  buffer_size = 256B }
        schema Row { id: int }
        source rows: Row = generate() { id = seq }
        rows | rebalance | map { id } | sink discard
    "#;
    let plan = plan_of(text, &[]);
    let outcome = run_within(&plan, &PanickingBackend, RunOptions::default(), Duration::from_secs(30));
    let error = outcome.error.expect("the panic fails the run");
    assert_eq!(error.code, Code::Internal);
    assert!(error.message.contains("panicked: injected failure"), "{}", error.message);
}

/// Peak memory of `flowc run` on a source far faster than its throttled
/// sink, for `count` records.
fn peak_memory_of_slow_sink_run(count: u64) -> u64 {
    let dir = std::env::temp_dir().join(format!("flowc-memory-{}-{count}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flow = dir.join("slow.flow");
    std::fs::write(
        &flow,
        format!(
            "config {{ parallelism = 2  buffer_size = 4KiB }}\n\
             schema Row {{ id: int, name: string }}\n\
             source rows: Row = generate(count = {count}) {{ id = seq, name = \"row-\" ++ str(seq) }}\n\
             rows | map {{ id, name, twice = id * 2 }} | throttle 40k/s @parallelism(1) | sink discard\n"
        ),
    )
    .unwrap();
    let kib = peak_memory_kib(env!("CARGO_BIN_EXE_flowc"), &flow);
    let _ = std::fs::remove_dir_all(&dir);
    kib
}

/// A sink over 100 times slower than its source: memory is fixed by the
/// buffer settings, so ten times the input needs no more of it.
#[test]
fn memory_stays_flat_when_the_sink_is_slow() {
    if flowc::cli::peak_memory_bytes().is_none() {
        eprintln!("skipped: no /proc/self/status on this system");
        return;
    }
    let small = peak_memory_of_slow_sink_run(20_000);
    let large = peak_memory_of_slow_sink_run(200_000);
    assert!(
        (large as f64) <= small as f64 * 1.2,
        "peak memory grew from {small} KiB to {large} KiB for ten times the input"
    );
}

/// Ctrl-C stops the sources; what is in flight drains; the file sink is
/// complete; the exit code is 0. A second Ctrl-C stops at once.
#[test]
fn ctrl_c_drains_and_exits_cleanly() {
    let dir = std::env::temp_dir().join(format!("flowc-ctrl-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("endless.flow"),
        "schema Row { id: int }\n\
         source rows: Row = generate(rate = 2k/s) { id = seq }\n\
         rows | filter id >= 0 | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .current_dir(&dir)
        .args(["run", "endless.flow"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let interrupted = Instant::now();
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(interrupted.elapsed() < Duration::from_secs(5), "took {:?} to stop", interrupted.elapsed());
    assert!(stderr.contains("stopped by Ctrl-C"), "{stderr}");
    let written = std::fs::read_to_string(dir.join("out.csv")).expect("the sink's file is complete");
    let rows: Vec<&str> = written.lines().skip(1).collect();
    assert!(!rows.is_empty());
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(*row, index.to_string(), "every record up to the stop, in order");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The slow-sink example, backpressured from its throttle, stops at once at
/// a second Ctrl-C although the first one's drain has far to go.
#[test]
fn the_slow_sink_example_stops_at_once_at_a_second_ctrl_c() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "examples/slow_sink.flow"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..2 {
        assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped at once by a second signal"), "{stderr}");
}

/// The live table's `in/s` of a task that takes big buffers and works
/// through each for a second: counted as the task takes its records, not
/// when a buffer lands, it reads the throttle's rate while the task is
/// busy, where it used to read 0 between two buffers.
#[test]
fn a_busy_writer_reads_its_rate_in_the_live_table() {
    let text = r#"
schema R { id: int }
source r: R = generate(count = 1_500) { id = seq }
r | rebalance | throttle 1000/s @name("writer") | sink discard
"#;
    let plan = plan_of(text, &[]);
    let writer = plan.tasks.iter().position(|task| task.name.starts_with("writer")).expect("the writer's task");
    let looks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = looks.clone();
    let options = RunOptions {
        progress: Some(Box::new(move |progress: &flowc::runtime::Progress| {
            let task = &progress.tasks[writer];
            seen.lock().unwrap().push((task.busy, task.records_in_per_second));
        })),
        progress_interval: Some(Duration::from_millis(100)),
        ..RunOptions::default()
    };
    let outcome = run_within(&plan, &Interpreter, options, Duration::from_secs(60));
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let looks = looks.lock().unwrap();
    // The writer sleeps between records: busy, as a blocking call is.
    let mut busy: Vec<f64> = looks.iter().filter(|(busy, _)| *busy >= 500.0).map(|(_, rate)| *rate).collect();
    assert!(busy.len() >= 5, "the writer works for about 1.5 s: {looks:?}");
    let counted = busy.iter().filter(|rate| **rate > 0.0).count();
    assert!(counted * 10 >= busy.len() * 8, "in/s 0 while busy: {looks:?}");
    busy.sort_by(f64::total_cmp);
    let median = busy[busy.len() / 2];
    assert!((250.0..4_000.0).contains(&median), "about the throttle's 1000/s: {median} in {looks:?}");
}

/// The CPU time all subtasks of a run used, from its recording.
fn cpu_seconds(outcome: &RunOutcome) -> f64 {
    let subtasks = outcome.recording.tasks.iter().flat_map(|task| &task.subtasks);
    subtasks.map(|subtask| subtask.totals.cpu_ms.expect("thread CPU clocks on Linux")).sum::<f64>() / 1000.0
}

/// `work d` costs `d` of CPU per record whatever the arrival pattern: a
/// record after a gap pays in full (1,000 records at 2k/s, 100 µs each,
/// burn 0.1 s), and fused stand-ins add up (70 µs + 150 µs per record).
/// Lower bounds only: a busy machine can only make them larger.
#[test]
fn stand_ins_cost_what_they_say_per_record() {
    let spaced = plan_of(
        "schema R { id: int }\nsource g: R = generate(rate = 2k/s, count = 1000) { id = seq }\n\
         g | work 100us @parallelism(1) | sink discard\n",
        &[],
    );
    let outcome = run_within(&spaced, &Interpreter, RunOptions::default(), Duration::from_secs(60));
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(cpu_seconds(&outcome) >= 0.09, "work after gaps burnt only {:.3} s of CPU", cpu_seconds(&outcome));

    let fused = plan_of(
        "config { parallelism = 1 }\nschema R { id: int }\nsource g: R = generate(count = 2000) { id = seq }\n\
         g | work 70us | work 150us | sink discard\n",
        &[],
    );
    let outcome = run_within(&fused, &Interpreter, RunOptions::default(), Duration::from_secs(60));
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    // 2,000 × 220 µs = 0.44 s; as one `work 150us`, 0.3 s.
    assert!(outcome.wall_time >= Duration::from_millis(420), "fused stand-ins took only {:?}", outcome.wall_time);
}

/// A key that cannot be computed stops the run at the key's expression,
/// whether its edge has one channel (the rows go over in bulk) or several
/// (each row to its own), on the JIT and the interpreter alike.
#[test]
fn a_key_that_fails_stops_the_run_at_the_key() {
    for receivers in [1, 2] {
        let text = format!(
            "schema R {{ id: int, ts: timestamp }}\n\
             source g: R = generate(count = 100000) {{ id = seq, ts = epoch + seq * 1ms }} @watermark(delay = 0s)\n\
             g | key_by 100 / (id - 5000) | window tumbling(1s) on ts {{ n = count() }} @parallelism({receivers}) | sink discard\n"
        );
        let plan = plan_of(&text, &[]);
        for backend in [&flowc::compile::Jit::new() as &(dyn Backend + Sync), &Interpreter] {
            let outcome = run_within(&plan, backend, RunOptions::default(), Duration::from_secs(60));
            let error = outcome.error.unwrap_or_else(|| panic!("{} receivers: the run did not fail", receivers));
            assert_eq!(error.code, Code::EvalFailed, "{error:?}");
            assert_eq!(error.message, "integer division by zero");
            assert_eq!(error.label, "while computing this key");
            let span = error.span.expect("the error points at the key");
            // (A parenthesised operand's span leaves out its closing bracket.)
            assert!(text[span.start..].starts_with("100 / (id - 5000"), "{:?}", &text[span.start..span.end]);
        }
    }
}
