//! Every backpressure example, and scenarios of our own, run for real and
//! explained: the report must name the right bottleneck task and fused
//! operator, the right cause and the statuses around it, the hot key of a
//! skewed key, the turns of a moving bottleneck, and advice in `.flow`
//! terms. Runs are serialised (one at a time) because CPU time is part of
//! the evidence; assertions are on classifications, never on timings.
//!
//! A few examples are scaled in time here (a higher rate, fewer records)
//! so each run takes a few seconds; their shape and settings are the
//! example's own.

#[path = "common/hogs.rs"]
mod hogs;
use hogs::CpuHogs;
use std::sync::Mutex;

use flowc::compile::Interpreter;
use flowc::report::{analyze, Cause, Evidence, Report, Status};
use flowc::runtime::{run, RunOptions};

/// One run at a time: concurrent runs would share the two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn report_of(name: &str, text: &str, settings: &[&str]) -> Report {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    report_unlocked(name, text, settings)
}

/// `report_of` for a caller that holds `ONE_AT_A_TIME`.
fn report_unlocked(name: &str, text: &str, settings: &[&str]) -> Report {
    let checked = flowc::check::check_source(text);
    let mut program = checked.program.unwrap_or_else(|| panic!("{name} does not check: {:?}", checked.diagnostics));
    for setting in settings {
        program.config.set_from_str(setting).unwrap();
    }
    let plan = flowc::plan::plan(&program).plan.unwrap();
    let outcome = run(&plan, &Interpreter, RunOptions::default());
    assert!(outcome.error.is_none(), "{name} failed: {:?}", outcome.error);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let report = analyze(&plan, &outcome.recording, name, text, cores);
    // Shown when an assertion fails.
    eprintln!("{}", flowc::report::text::render(&report, text));
    report
}

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("examples/{name}.flow")).unwrap()
}

/// `text` with each `(from, to)` replaced, each exactly once.
fn scaled(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (from, to) in replacements {
        assert_eq!(text.matches(from).count(), 1, "`{from}` once in the example");
        text = text.replace(from, to);
    }
    text
}

fn task<'a>(report: &'a Report, name: &str) -> &'a flowc::report::TaskReport {
    report
        .tasks
        .iter()
        .find(|task| task.name == name)
        .unwrap_or_else(|| panic!("no task `{name}` in {:?}", report.tasks.iter().map(|t| &t.name).collect::<Vec<_>>()))
}

/// The verdict: the bottleneck task, the fused operator that takes its
/// time, the cause, and which tasks are backpressured.
fn assert_verdict(report: &Report, task_name: &str, operator: Option<&str>, causes: &[Cause], backpressured: &[&str]) {
    let bottleneck = report.bottleneck.as_ref().expect("a bottleneck");
    assert_eq!(bottleneck.task_name, task_name, "the bottleneck task");
    assert_eq!(bottleneck.operator_name.as_deref(), operator, "the operator inside the bottleneck task");
    assert!(causes.contains(&report.verdict.cause), "cause {:?}, expected one of {causes:?}", report.verdict.cause);
    assert!(task(report, task_name).is_bottleneck);
    for name in backpressured {
        assert_ne!(task(report, name).status, Status::Ok, "`{name}` is backpressured");
    }
    for other in report.tasks.iter().filter(|t| !backpressured.contains(&t.name.as_str())) {
        if report.moving.is_none() {
            assert_eq!(other.status, Status::Ok, "`{}` is not backpressured", other.name);
        }
    }
}

/// CPU-bound work gets either more subtasks, no more than the machine has
/// cores for, or (when its cores are all in use) the advice to run it on
/// more cores, with the parallelism that would then fit the rate.
fn assert_cpu_advice_fits_the_machine(report: &Report, operator: &str) {
    let advice = report.advice.iter().find(|a| a.target.contains(operator)).expect("advice for the operator");
    match advice.change.strip_prefix("@parallelism(") {
        Some(rest) => {
            let n: u32 = rest.trim_end_matches(')').parse().unwrap();
            assert!(n <= report.cores.max(2), "{n} subtasks of CPU work on {} cores: {advice:?}", report.cores);
        }
        None => {
            assert_eq!(advice.change, "give it more cores", "{advice:?}");
            assert!(advice.why.contains("cores are free"), "{advice:?}");
        }
    }
}

fn advice_mentions(report: &Report, change: &str) -> bool {
    report.advice.iter().any(|advice| advice.change.contains(change))
}

#[test]
fn slow_sink_the_writer_is_the_bottleneck_and_waits_rather_than_computes() {
    // Twenty times faster than the example, with proportionally small buffers.
    let text = scaled(
        &example("slow_sink"),
        &[
            ("rate = 1000/s, count = 5_000", "rate = 20k/s, count = 6_000"),
            ("throttle 100/s", "throttle 2k/s"),
            ("= 32KiB", "= 1KiB"),
        ],
    );
    let report = report_of("slow_sink", &text, &[]);
    assert_verdict(
        &report,
        "postgres-writer",
        Some("postgres-writer"),
        &[Cause::IoBound],
        &["Source: readings -> Map -> Filter"],
    );
    assert_eq!(task(&report, "Source: readings -> Map -> Filter").status, Status::High);
    let advice = report.advice.iter().find(|a| a.change.starts_with("@parallelism(")).expect("parallelism advice");
    assert!(advice.target.contains("postgres-writer"), "{advice:?}");
    assert!(advice.target.contains("replacing its `@parallelism(1)`"), "{advice:?}");
    let source = &report.sources[0];
    assert!(source.achieved_per_second < 0.5 * source.wanted_per_second, "{source:?}");
    assert!(source.lag_max > 100, "{source:?}");
}

#[test]
fn window_bottleneck_the_sliding_window_computes_and_the_source_waits() {
    let text = scaled(&example("window_bottleneck"), &[("count = 400_000", "count = 200_000")]);
    let report = report_of("window_bottleneck", &text, &[]);
    assert_verdict(
        &report,
        "SlidingWindow -> Sink: discard",
        Some("SlidingWindow"),
        &[Cause::CpuBound],
        &["Source: clicks -> Map"],
    );
    assert_cpu_advice_fits_the_machine(&report, "SlidingWindow");
    assert!(report.advice.iter().all(|a| !a.target.contains("Source")), "no advice for the backpressured source");
}

#[test]
fn data_skew_names_the_hot_key_and_advises_salting_not_parallelism() {
    let report = report_of("data_skew", &example("data_skew"), &[]);
    assert_verdict(
        &report,
        "Aggregate -> fraud-score -> Sink: discard",
        Some("fraud-score"),
        &[Cause::DataSkew],
        &["Source: orders"],
    );
    let edge = &report.hot_keys[0];
    assert_eq!(edge.key, "customer");
    assert_eq!(edge.keys[0].key, "7");
    assert!((0.7..0.9).contains(&edge.keys[0].share), "{edge:?}");
    assert!(advice_mentions(&report, "salt or pre-aggregate the hot key 7"));
    assert!(!advice_mentions(&report, "@parallelism("));
}

#[test]
fn alternating_bottleneck_moves_between_the_window_and_what_follows_it() {
    let report = report_of("alternating_bottleneck", &example("alternating_bottleneck"), &[]);
    let moving = report.moving.as_ref().expect("a moving bottleneck");
    let mut turns = moving.task_names.clone();
    turns.sort();
    assert_eq!(turns, ["Map -> enrich -> Sink: discard", "parse -> TumblingWindow"]);
    assert!(moving.switches >= 4, "{moving:?}");
    let period = moving.period_ms.expect("a period");
    assert!((300.0..3_000.0).contains(&period), "windows fire about every second of run time: {period}");
    let bottleneck = report.bottleneck.as_ref().unwrap();
    assert!(["parse", "enrich"].contains(&bottleneck.operator_name.as_deref().unwrap()), "{bottleneck:?}");
    assert_eq!(task(&report, "Source: trades").status, Status::High);
    assert!(advice_mentions(&report, "size it for the bursts"));
}

#[test]
fn network_bottleneck_is_the_credit_round_trip_and_wants_buffers_in_flight() {
    let text = scaled(&example("network_bottleneck"), &[("count = 200_000", "count = 80_000")]);
    let report = report_of("network_bottleneck", &text, &[]);
    assert_verdict(&report, "Map -> Sink: discard", None, &[Cause::CreditRoundTrip], &["Source: events -> Filter"]);
    assert_eq!(report.bottleneck.as_ref().unwrap().from_task, Some(0));
    let advice = &report.advice[0];
    assert!(advice.change.starts_with("buffers_per_channel = "), "{advice:?}");
    assert_eq!(advice.line, Some(9), "the setting's line in the file");
    assert!(!advice_mentions(&report, "@parallelism("));
}

#[test]
fn cpu_bound_names_the_fused_operator_that_burns_the_cpu() {
    let report = report_of("cpu_bound", &example("cpu_bound"), &[]);
    let name = "Source: jobs -> Filter -> compress -> Map -> Sink: discard";
    assert_verdict(&report, name, Some("compress"), &[Cause::CpuBound], &[]);
    let compress = task(&report, name).operators.iter().find(|op| op.name == "compress").unwrap();
    assert!(compress.busy_share > 0.8, "{compress:?}");
    assert_cpu_advice_fits_the_machine(&report, "compress");
}

#[test]
fn io_bound_names_the_fused_operator_that_waits() {
    let report = report_of("io_bound", &example("io_bound"), &[]);
    let name = "Source: jobs -> Filter -> lookup -> Map -> Sink: discard";
    assert_verdict(&report, name, Some("lookup"), &[Cause::IoBound], &[]);
    let lookup = task(&report, name).operators.iter().find(|op| op.name == "lookup").unwrap();
    assert!(lookup.busy_share > 0.8, "{lookup:?}");
    // The blocking call is made asynchronous, as an edit `flowc tune` can write.
    let first = &report.advice[0];
    assert!(first.change.starts_with("@async(capacity = "), "{:?}", report.advice);
    assert!(first.edits.iter().any(|edit| matches!(edit, flowc::report::Edit::Async { .. })), "{first:?}");
}

#[test]
fn max_throughput_is_limited_by_the_source_task() {
    // The example as it is: shorter runs risk less than the 0.5 s a verdict needs.
    let report = report_of("max_throughput", &example("max_throughput"), &[]);
    let bottleneck = report.bottleneck.as_ref().expect("at full speed something limits");
    assert_eq!(bottleneck.task_name, "Source: sales -> Map -> Filter");
    assert!([Cause::SourceBound, Cause::CpuBound].contains(&report.verdict.cause), "{:?}", report.verdict);
}

// Scenarios of our own: other positions, parallelisms and causes.

#[test]
fn a_pipeline_that_keeps_up_has_no_bottleneck() {
    let text = r#"
schema R { id: int }
source r: R = generate(rate = 2k/s, count = 3_000) { id = seq }
r | map { id, twice = id * 2 } | filter twice % 3 != 0 | sink discard
"#;
    let report = report_of("keeps_up", text, &[]);
    assert!(report.bottleneck.is_none(), "{:?}", report.verdict);
    assert_eq!(report.verdict.cause, Cause::NoBottleneck);
    assert!(report.tasks.iter().all(|task| task.status == Status::Ok));
    assert!(report.advice.is_empty());
}

#[test]
fn a_single_subtask_writer_at_the_end_backpressures_two_sources() {
    let text = r#"
config { parallelism = 2, buffer_size = 1KiB }
schema R { id: int, v: float }
source r: R = generate(rate = 8k/s, count = 5_000) { id = seq, v = float(seq) }
r | map { id, v2 = v * 2.0 } | throttle 2k/s @parallelism(1) @name("writer") | sink discard
"#;
    let report = report_of("single_writer", text, &[]);
    assert_verdict(&report, "writer", Some("writer"), &[Cause::IoBound], &["Source: r -> Map"]);
    assert_eq!(task(&report, "Sink: discard").status, Status::Ok);
}

#[test]
fn a_blocking_middle_task_of_three_is_found_between_a_busy_and_an_idle_one() {
    let text = r#"
config { parallelism = 2, buffer_size = 1KiB }
schema R { id: int, k: int }
source r: R = generate(rate = 12k/s, count = 18_000) { id = seq, k = seq % 64 }
r | key_by k
  | aggregate { n = count() }
  | sleep 200us @name("enrich")
  | rebalance
  | map { k, n }
  | sink discard
"#;
    let report = report_of("middle_of_three", text, &[]);
    assert_verdict(&report, "Aggregate -> enrich", Some("enrich"), &[Cause::IoBound], &["Source: r"]);
    assert_eq!(task(&report, "Map -> Sink: discard").status, Status::Ok);
}

/// Four subtasks of CPU work on two cores: each waits for a core half the time.
const FOUR_ON_TWO: &str = r#"
config { parallelism = 4, buffer_size = 1KiB }
schema R { id: int }
source r: R = generate(rate = 40k/s, count = 30_000) { id = seq }
r | rebalance | work 100us @name("score") | sink discard
"#;

#[test]
fn four_subtasks_of_cpu_work_on_two_cores_are_cpu_bound() {
    let report = report_of("four_on_two", FOUR_ON_TWO, &[]);
    assert_verdict(&report, "score -> Sink: discard", Some("score"), &[Cause::CpuBound], &["Source: r"]);
}

#[test]
fn an_unthrottled_source_that_does_the_most_work_is_source_bound() {
    let text = r#"
schema R { id: int, v: float }
// Long enough for a verdict (the report wants 0.5 s of samples) on a fast machine too.
source r: R = generate(count = 2M) { id = seq, v = random(seq) * random(seq + 1) }
r | filter v > 0.5 | sink discard
"#;
    let report = report_of("source_bound", text, &[]);
    assert_verdict(&report, "Source: r -> Filter -> Sink: discard", Some("Source: r"), &[Cause::SourceBound], &[]);
}

#[test]
fn a_hot_string_key_at_parallelism_two_is_skew() {
    let text = r#"
config { parallelism = 2, buffer_size = 1KiB }
schema Visit { id: int, region: string }
source visits: Visit = generate(rate = 10k/s, count = 12_000) {
  id = seq
  region = if random(seq) < 0.9 then "eu" else "r" ++ str(seq % 50)
} @parallelism(1)
visits | key_by region | aggregate { n = count() } | work 150us @name("rank") | sink discard
"#;
    let report = report_of("string_skew", text, &[]);
    assert_verdict(
        &report,
        "Aggregate -> rank -> Sink: discard",
        Some("rank"),
        &[Cause::DataSkew],
        &["Source: visits"],
    );
    assert_eq!(report.hot_keys[0].keys[0].key, "\"eu\"");
}

/// With both cores contested, CPU work waits for a core much of its busy
/// time: the verdict still says CPU-bound (the run-queue wait is not taken
/// for waiting on I/O), names the other programs, and blocking work stays
/// I/O-bound though its wake-ups wait for a core too.
#[test]
fn verdicts_hold_beside_two_busy_programs() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let _hogs = CpuHogs::start();
    let cases = [
        ("cpu_bound", "Source: jobs -> Filter -> compress -> Map -> Sink: discard", "compress", Cause::CpuBound),
        ("io_bound", "Source: jobs -> Filter -> lookup -> Map -> Sink: discard", "lookup", Cause::IoBound),
    ];
    for (name, task_name, operator, cause) in cases {
        let report = report_unlocked(name, &example(name), &[]);
        assert_verdict(&report, task_name, Some(operator), &[cause], &[]);
        if cause == Cause::CpuBound {
            let shared = report.verdict.evidence.iter().any(|fact| {
                matches!(fact, Evidence::OtherPrograms { other_cores, threshold, .. } if other_cores >= threshold)
            });
            assert!(shared, "the shared machine is named: {:?}", report.verdict.evidence);
        }
    }
    let report = report_unlocked("four_on_two_beside_hogs", FOUR_ON_TWO, &[]);
    assert_verdict(&report, "score -> Sink: discard", Some("score"), &[Cause::CpuBound], &["Source: r"]);
}

/// A bounded job whose input fits in the buffers: the source ends within
/// a few samples and a one-subtask blocking operator drains for seconds.
/// That operator sets the completion time, not the source that was busy
/// for its few milliseconds.
#[test]
fn a_bounded_job_is_judged_by_its_drain() {
    let text = r#"
config { parallelism = 2 }
schema R { id: int }
source g: R = generate(count = 2000) { id = seq }
g | map { id = id * 2 } | sleep 1ms @parallelism(1) @name("writer") | sink discard
"#;
    let report = report_of("drain", text, &[]);
    assert_verdict(&report, "writer", Some("writer"), &[Cause::IoBound], &[]);
    let drain = report.verdict.evidence.iter().find(|fact| matches!(fact, Evidence::Drain { .. }));
    assert!(
        drain.is_some_and(|fact| matches!(fact, Evidence::Drain { share, threshold, .. } if share >= threshold)),
        "{:?}",
        report.verdict.evidence
    );
    let sentence = drain.map(Evidence::sentence).unwrap_or_default();
    assert!(sentence.starts_with("the sources finished after") && sentence.contains("the drain after them"));
    assert!(task(&report, "Source: g -> Map").busy_ratio < 0.2, "an ended source is not busy for the whole job");
}

/// Scenarios that vary where the bottleneck sits, its parallelism and its
/// cause, each judged on a quiet machine and again beside two busy
/// programs: the verdict must not change.
#[test]
fn scenarios_keep_their_verdict_on_a_quiet_and_on_a_busy_machine() {
    // (name, program, bottleneck task, operator, cause, backpressured tasks)
    let scenarios = [
        (
            "cpu_after_a_keyed_aggregate",
            "config { parallelism = 2, buffer_size = 4KiB }\nschema R { id: int, k: int }\n\
             source r: R = generate(rate = 30k/s, count = 20_000) { id = seq, k = seq % 64 }\n\
             r | key_by k | aggregate { n = count() } | work 150us @name(\"score\") | sink discard\n",
            "Aggregate -> score -> Sink: discard",
            "score",
            Cause::CpuBound,
            &["Source: r"][..],
        ),
        // Blocking calls here last 5 ms: beside two busy programs, a 1–2 ms
        // sleep sometimes reads as CPU-bound (its wake-ups, not its sleep,
        // dominate), a limit the report still has.
        (
            "blocking_call_chained_to_the_source",
            "config { parallelism = 2, buffer_size = 1KiB }\nschema R { id: int }\n\
             source r: R = generate(rate = 800/s, count = 800) { id = seq }\n\
             r | sleep 5ms @name(\"lookup\") | map { id = id + 1 } | rebalance | work 10us @name(\"cheap\") | sink discard\n",
            "Source: r -> lookup -> Map",
            "lookup",
            Cause::IoBound,
            &[][..],
        ),
        (
            "cpu_drain_of_a_bounded_job",
            "config { parallelism = 1 }\nschema R { id: int }\nsource r: R = generate(count = 1_500) { id = seq }\n\
             r | rebalance | work 500us @name(\"tail\") | sink discard\n",
            "tail -> Sink: discard",
            "tail",
            Cause::CpuBound,
            &[][..],
        ),
        (
            "rate_limited_api_at_parallelism_one",
            "schema R { id: int, v: float }\n\
             source r: R = generate(rate = 50k/s, count = 20_000) { id = seq, v = float(seq) }\n\
             r | filter v >= 0.0 | throttle 20k/s @parallelism(1) @name(\"api\") | sink discard\n",
            "Source: r -> Filter -> api -> Sink: discard",
            "api",
            Cause::IoBound,
            &[][..],
        ),
    ];
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for busy in [false, true] {
        let _hogs = busy.then(CpuHogs::start);
        for (name, text, task_name, operator, cause, backpressured) in scenarios {
            let report = report_unlocked(name, text, &[]);
            assert_verdict(&report, task_name, Some(operator), &[cause], backpressured);
        }
    }
}

/// More scenarios, each judged on a quiet machine and beside two busy
/// programs: drains, fused work, a broadcast, a union of two sources, a
/// rate limit in the middle of a parallel chain. Only the bottleneck and
/// its cause are asserted: how backpressured a source that ended early
/// looks depends on when it ended.
#[test]
fn more_scenarios_keep_their_verdict_on_a_quiet_and_on_a_busy_machine() {
    // (name, program, bottleneck task, operator, cause)
    let scenarios = [
        (
            "blocking_drain_at_parallelism_one",
            "config { parallelism = 2 }\nschema R { id: int }\nsource r: R = generate(count = 200) { id = seq }\n\
             r | sleep 5ms @parallelism(1) @name(\"call\") | sink discard\n",
            "call",
            "call",
            Cause::IoBound,
        ),
        (
            "cpu_drain_at_parallelism_two",
            "config { parallelism = 2 }\nschema R { id: int }\nsource r: R = generate(count = 6_000) { id = seq }\n\
             r | rebalance | work 300us @name(\"tail\") | sink discard\n",
            "tail -> Sink: discard",
            "tail",
            Cause::CpuBound,
        ),
        (
            "the_heavier_of_two_fused_stand_ins",
            "schema R { id: int }\nsource r: R = generate(rate = 8k/s, count = 6_000) { id = seq }\n\
             r | work 30us @name(\"light\") | work 150us @name(\"heavy\") | sink discard\n",
            "Source: r -> light -> heavy -> Sink: discard",
            "heavy",
            Cause::CpuBound,
        ),
        (
            "a_broadcast_receiver_that_computes",
            "config { parallelism = 2 }\nschema R { id: int }\n\
             source r: R = generate(rate = 15k/s, count = 10_000) { id = seq } @parallelism(1)\n\
             r | broadcast | work 100us @name(\"rules\") | sink discard\n",
            "rules -> Sink: discard",
            "rules",
            Cause::CpuBound,
        ),
        (
            "a_union_of_two_sources_into_one_slow_subtask",
            "schema R { id: int }\n\
             source a: R = generate(rate = 8k/s, count = 6_000) { id = seq }\n\
             source b: R = generate(rate = 8k/s, count = 6_000) { id = seq }\n\
             union(a, b) | work 150us @name(\"merge\") | sink discard\n",
            "merge -> Sink: discard",
            "merge",
            Cause::CpuBound,
        ),
        (
            "a_rate_limit_in_the_middle_of_a_parallel_chain",
            "config { parallelism = 2 }\nschema R { id: int }\n\
             source r: R = generate(rate = 10k/s, count = 8_000) { id = seq }\n\
             r | map { id = id * 2 } | throttle 2k/s @name(\"writer\") | filter id >= 0 | sink discard\n",
            "Source: r -> Map -> writer -> Filter -> Sink: discard",
            "writer",
            Cause::IoBound,
        ),
    ];
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for busy in [false, true] {
        let _hogs = busy.then(CpuHogs::start);
        for (name, text, task_name, operator, cause) in scenarios {
            let report = report_unlocked(name, text, &[]);
            let bottleneck = report.bottleneck.as_ref().unwrap_or_else(|| panic!("{name}: a bottleneck"));
            assert_eq!(bottleneck.task_name, task_name, "{name} (busy machine: {busy}): the bottleneck task");
            assert_eq!(bottleneck.operator_name.as_deref(), Some(operator), "{name} (busy: {busy}): the operator");
            assert_eq!(report.verdict.cause, cause, "{name} (busy machine: {busy}): the cause");
            if name == "a_broadcast_receiver_that_computes" {
                assert!(advice_mentions(&report, "broadcast fewer records"), "{name}: {:?}", report.advice);
                assert!(
                    !report.advice.iter().any(|a| a.target.contains("`rules`") && a.change.starts_with("@parallelism")),
                    "{name}: more subtasks after a broadcast each still see every record: {:?}",
                    report.advice
                );
            }
        }
    }
}

/// The whole-job proposal sizes every operator that needs it in one step,
/// from true rates: a blocking call gets enough calls in flight for the
/// wanted rate (and keeps its chain), with the rate it should reach.
#[test]
fn a_blocking_call_is_sized_for_the_wanted_rate_in_one_step() {
    let text = "config { parallelism = 2 }\nschema R { id: int }\n\
                source r: R = generate(rate = 20k/s, count = 20_000) { id = seq }\n\
                r | sleep 200us @name(\"lookup\") | map { id } | sink discard\n";
    let report = report_of("sized_lookup", text, &[]);
    let scaling = report.scaling.as_ref().expect("a proposal");
    let change = scaling.async_changes.iter().find(|c| c.name == "lookup").expect("`lookup` made asynchronous");
    // 10,000/s a subtask at 0.4 ms a call (with the wake-up) is 4 in flight;
    // at 80% busy, 5, and a loaded machine may count a few more.
    assert!((4..=12).contains(&change.to), "{change:?}");
    assert!(scaling.changes.iter().all(|c| c.name != "lookup"), "no more threads for it: {scaling:?}");
    assert!(scaling.expected_per_second >= 0.9 * 20_000.0, "{scaling:?}");
    assert!(report.advice[0].edits.contains(&flowc::report::Edit::Async { node: change.node, capacity: change.to }));
}

/// A change of parallelism that would merge two rate-limited calls into
/// one chain keeps them apart with `@new_chain`: on one thread their waits
/// add up and the pair would not keep up.
#[test]
fn a_change_that_would_merge_two_slow_calls_into_one_chain_keeps_them_apart() {
    let text = "config { parallelism = 2 }\nschema R { id: int }\n\
                source r: R = generate(rate = 20k/s, count = 30_000) { id = seq }\n\
                r | throttle 15k/s @parallelism(1) @name(\"a\") | throttle 15k/s @name(\"b\") | sink discard\n";
    let report = report_of("kept_apart", text, &[]);
    let scaling = report.scaling.as_ref().expect("a proposal");
    assert!(scaling.changes.iter().any(|c| c.name == "a" && c.to == 2), "{scaling:?}");
    let kept: Vec<&str> =
        scaling.chains.iter().filter(|chain| chain.new_chain).map(|chain| chain.name.as_str()).collect();
    assert!(kept.contains(&"a"), "`a` is kept apart from the source: {:?}", scaling.chains);
    assert!(
        report.advice.iter().any(|a| a.change == "@new_chain" && a.why.contains("would join `")),
        "{:?}",
        report.advice
    );
}

/// A join whose left input has a hot key: the join is the bottleneck, both
/// sources wait for it, the advice names the hot key on the join's input,
/// and the report gives the join's state and its inputs' watermark gap.
#[test]
fn a_join_with_a_hot_key_is_the_bottleneck_and_names_the_key() {
    let text = r#"
config { parallelism = 2 }
schema Order { id: int, k: int, ts: timestamp }
schema Payment { pid: int, pk: int, paid: timestamp }
source orders: Order = generate(count = 300000) {
  id = seq, k = if seq % 10 < 7 then 0 else seq % 1000, ts = epoch + seq * 10us
} @watermark(delay = 0s)
source payments: Payment = generate(count = 300000) {
  pid = seq, pk = seq % 1000, paid = epoch + seq * 10us
} @watermark(delay = 0s)
orders | key_by k | join (payments | key_by pk) interval(0s, 1ms) on ts, paid | sink discard
"#;
    let report = report_of("join_hot_key", text, &[]);
    assert_verdict(
        &report,
        "IntervalJoin -> Sink: discard",
        Some("IntervalJoin"),
        &[Cause::CpuBound, Cause::DataSkew],
        // Each source feeds the hot subtask too.
        &["Source: orders", "Source: payments"],
    );
    let edge = report.hot_keys.iter().find(|edge| edge.key == "k").expect("the left input's keys are counted");
    assert_eq!(edge.keys[0].key, "0");
    assert!(advice_mentions(&report, "hot key 0"));
    let join = task(&report, "IntervalJoin -> Sink: discard").operators.iter().find(|op| op.name == "IntervalJoin");
    let join = join.expect("the join is in its task");
    assert!(join.state_entries > 0 && join.state_bytes > 0, "{join:?}");
    assert!(join.input_watermark_gap_ms.is_some(), "a join reports its inputs' watermark gap");
    let sides: Vec<(String, String)> = report
        .verdict
        .evidence
        .iter()
        .filter_map(|evidence| match evidence {
            flowc::report::Evidence::Backpressured { task_name, join_input: Some(input), .. } => {
                Some((task_name.clone(), input.side.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(sides.contains(&("Source: orders".into(), "left".into())), "{sides:?}");
}

/// A join whose right input is throttled: the join has little to do and
/// waits for that input, so the throttle is the bottleneck, not the
/// channels from the left input that fills up meanwhile.
#[test]
fn a_join_paced_by_a_throttled_input_names_the_throttle() {
    let text = r#"
schema Order { order_id: int, ts: timestamp }
schema Payment { paid_order: int, paid_at: timestamp }
source orders: Order = generate(count = 200000) { order_id = seq, ts = epoch + seq * 1ms } @watermark(delay = 1s)
source payments: Payment = generate(count = 3000) {
  paid_order = seq * 100, paid_at = epoch + seq * 100ms + 30s
} @watermark(delay = 1s)
orders
  | key_by order_id
  | join (payments | throttle 1k/s | key_by paid_order) interval(0s, 1m) on ts, paid_at
  | sink discard
"#;
    let report = report_of("join_throttled_input", text, &[]);
    let bottleneck = report.bottleneck.as_ref().expect("a bottleneck");
    assert_eq!(report.tasks[bottleneck.task].name, "Source: payments -> Throttle");
    assert_eq!(report.verdict.cause, Cause::IoBound);
    assert!(advice_mentions(&report, "raise the limit"));
}
