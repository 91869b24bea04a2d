//! Joins and lookups on whole runs: at parallelism 1, 2 and 4, under any
//! buffer settings, with the interpreter and with the JIT, every join emits
//! the same records (as a multiset), no record is lost or made up on the way
//! in, and an interval join's state stays bounded over a long run as the
//! watermark drops what can no longer match. Timing is never pinned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowc::compile::backend::Backend;
use flowc::compile::{Interpreter, Jit};
use flowc::metrics::read;
use flowc::plan::{NodeKind, Partitioning, PhysicalPlan};
use flowc::runtime::{run, RunOptions, RunOutcome};
use proptest::prelude::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowc-joins-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Orders and payments of a few keys, each source in time order; every kind
/// of join, a lookup of a table, and a window after an interval join.
fn program(dir: &Path) -> String {
    let cards = dir.join("cards.csv");
    let mut table = String::from("card,limit\n");
    for card in 0..13 {
        table.push_str(&format!("{card},{}.5\n", card * 10));
    }
    std::fs::write(&cards, table).unwrap();
    let out = |name: &str| dir.join(format!("{name}.csv")).display().to_string();
    format!(
        r#"
schema Order {{ id: int, customer: int, amount: float, ts: timestamp }}
schema Payment {{ payment: int, order_id: int, payer: int, paid: timestamp }}
schema Card {{ card: int, limit: float }}

source orders: Order = generate(count = 1200) {{
  id = seq, customer = seq % 11, amount = float(seq % 97), ts = epoch + seq * 3ms
}} @watermark(delay = 0s)
source payments: Payment = generate(count = 900) {{
  payment = seq, order_id = (seq * 7) % 1200, payer = (seq * 7) % 1200 % 11, paid = epoch + seq * 4ms
}} @watermark(delay = 0s)
table cards: Card = file("{cards}") key_by card

orders | key_by customer
  | join (payments | key_by payer) interval(-20ms, 40ms) on ts, paid
  | sink file("{interval}")
orders | key_by customer
  | join left (payments | key_by payer) interval(0s, 30ms) on ts, paid where order_id == id
  | sink file("{interval_left}")
orders | key_by customer
  | join left (payments | key_by payer) window sliding(60ms, every = 20ms) on ts, paid
  | sink file("{window_left}")
orders | filter id < 200 | key_by customer
  | join (payments | filter payment < 150 | key_by payer)
  | sink file("{regular}")
orders | lookup left cards by id % 17 where limit > amount
  | sink file("{lookup}")
orders | key_by customer
  | join (payments | key_by payer) interval(0s, 10ms) on ts, paid
  | key_by customer
  | window tumbling(50ms) on ts {{ n = count() }}
  | sink file("{windowed}")
"#,
        cards = cards.display(),
        interval = out("interval"),
        interval_left = out("interval_left"),
        window_left = out("window_left"),
        regular = out("regular"),
        lookup = out("lookup"),
        windowed = out("windowed"),
    )
}

const OUTPUTS: [&str; 6] = ["interval", "interval_left", "window_left", "regular", "lookup", "windowed"];

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

fn run_within(plan: &PhysicalPlan, backend: &(dyn Backend + Sync), limit: Duration) -> RunOutcome {
    let finished = Arc::new(AtomicBool::new(false));
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
    let outcome = run(plan, backend, RunOptions::default());
    finished.store(true, Ordering::SeqCst);
    watchdog.join().expect("the run finished in time");
    outcome
}

/// Each output file's lines, as a multiset.
fn outputs(dir: &Path) -> BTreeMap<&'static str, BTreeMap<String, usize>> {
    OUTPUTS
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(format!("{name}.csv"))).unwrap();
            let mut lines = BTreeMap::new();
            for line in text.lines().skip(1) {
                *lines.entry(line.to_string()).or_insert(0) += 1;
            }
            (*name, lines)
        })
        .collect()
}

/// Every edge delivers what its sender emitted, and nothing was late.
fn assert_conserved(plan: &PhysicalPlan, outcome: &RunOutcome) {
    let metrics = &outcome.metrics;
    for operator in &plan.operators {
        let received: u64 = operator
            .inputs
            .iter()
            .map(|&edge| {
                let edge = &plan.edges[edge];
                assert!(!matches!(edge.partitioning, Partitioning::Broadcast));
                metrics.operator_total(edge.from, |c| read(&c.records_out))
            })
            .sum();
        if !matches!(plan.node(operator.id).kind, NodeKind::Source(_)) {
            let records_in = metrics.operator_total(operator.id, |c| read(&c.records_in));
            assert_eq!(records_in, received, "{} received", operator.name);
        }
        assert_eq!(metrics.operator_total(operator.id, |c| read(&c.late)), 0, "{}: no record is late", operator.name);
    }
}

fn reference() -> &'static BTreeMap<&'static str, BTreeMap<String, usize>> {
    static REFERENCE: std::sync::OnceLock<BTreeMap<&'static str, BTreeMap<String, usize>>> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = scratch("reference");
        let plan = plan_of(&program(&dir), &["parallelism=1".into()]);
        let outcome = run_within(&plan, &Interpreter, Duration::from_secs(120));
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let found = outputs(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        found
    })
}

#[test]
fn the_reference_run_finds_matches_of_every_kind() {
    let reference = reference();
    for name in OUTPUTS {
        let records: usize = reference[name].values().sum();
        assert!(records > 0, "{name} emits records");
    }
    // Every order comes out of the left joins and the left lookup once.
    let unmatched_or_not = |name: &str| -> usize {
        reference[name].iter().filter(|(line, _)| line.ends_with(",false")).map(|(_, n)| n).sum()
    };
    assert!(unmatched_or_not("interval_left") > 0, "some orders find no payment");
    let lookup: usize = reference["lookup"].values().sum();
    assert_eq!(lookup, 1200, "a left lookup keeps every record");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn joins_emit_the_same_records_at_any_parallelism_and_with_either_backend(
        parallelism in prop_oneof![Just(1u32), Just(2), Just(4)],
        buffer_size in prop_oneof![Just(64u64), Just(1024), Just(32 << 10)],
        floating in 0u32..3,
        jit in any::<bool>(),
    ) {
        let dir = scratch(&format!("p{parallelism}-{buffer_size}-{floating}-{jit}"));
        let settings = vec![
            format!("parallelism={parallelism}"),
            format!("buffer_size={buffer_size}B"),
            format!("floating_buffers={floating}"),
        ];
        let plan = plan_of(&program(&dir), &settings);
        let jit_backend = Jit::new();
        let backend: &(dyn Backend + Sync) = if jit { &jit_backend } else { &Interpreter };
        let outcome = run_within(&plan, backend, Duration::from_secs(120));
        prop_assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_conserved(&plan, &outcome);
        let found = outputs(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        for name in OUTPUTS {
            prop_assert_eq!(&found[name], &reference()[name], "{} differs", name);
        }
    }
}

/// An interval join over a long run keeps only the records the watermark
/// still allows to match: its state does not grow with the input.
#[test]
fn an_interval_joins_state_stays_bounded_over_a_long_run() {
    let peak_state = |count: u64| -> u64 {
        let text = format!(
            r#"
schema A {{ id: int, k: int, ts: timestamp }}
schema B {{ id2: int, k2: int, ts2: timestamp }}
source a: A = generate(count = {count}) {{ id = seq, k = seq % 50, ts = epoch + seq * 1ms }} @watermark(delay = 0s)
source b: B = generate(count = {count}) {{ id2 = seq, k2 = seq % 50, ts2 = epoch + seq * 1ms }} @watermark(delay = 0s)
a | key_by k | join left (b | key_by k2) interval(-5ms, 5ms) on ts, ts2 | sink discard
"#
        );
        let plan = plan_of(&text, &["parallelism=1".into()]);
        let outcome = run_within(&plan, &Interpreter, Duration::from_secs(120));
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let join = plan.operators.iter().find(|op| op.name == "IntervalJoin").unwrap();
        outcome.metrics.operator_total(join.id, |c| read(&c.state_entries_peak))
    };
    let (short, long) = (peak_state(20_000), peak_state(200_000));
    // Ten times the records; the state is bounded by how far one source runs
    // ahead of the other (a few batches), not by the input.
    assert!(long < 3 * short.max(20_000), "state grew with the input: {short} then {long}");
}
