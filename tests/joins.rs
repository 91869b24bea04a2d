//! Joins and lookups on whole runs: at parallelism 1, 2 and 4, under any
//! buffer settings, with the interpreter and with the JIT, every join emits
//! the same records (as a multiset), random joins emit exactly what nested
//! loops over their inputs find, no record is lost or made up on the way
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

#[path = "common/memory.rs"]
mod memory;
use memory::peak_memory_kib;

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

/// A join drawn at random: its kind, bounds, outer or not, a residual or
/// not, the keys and times of both sides.
#[derive(Debug, Clone)]
struct RandomJoin {
    kind: Kind,
    outer: bool,
    residual: bool,
    keys: i64,
    left: (i64, i64, i64),  // count, key multiplier, ms between records
    right: (i64, i64, i64), // the same, and the right side starts `offset` ms later
    offset: i64,
    parallelism: u32,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Interval { lower: i64, upper: i64 },
    Tumbling { size: i64 },
    Sliding { size: i64, slide: i64 },
    Regular,
}

const MS: i64 = 1_000_000;

impl RandomJoin {
    fn program(&self, out: &Path) -> String {
        let (time, window) = match self.kind {
            Kind::Interval { lower, upper } => (format!("interval({lower}ms, {upper}ms) on ts, rts"), false),
            Kind::Tumbling { size } => (format!("window tumbling({size}ms) on ts, rts"), true),
            Kind::Sliding { size, slide } => (format!("window sliding({size}ms, every = {slide}ms) on ts, rts"), true),
            Kind::Regular => (String::new(), false),
        };
        let residual = if self.residual { " where (lid + rid) % 3 != 0" } else { "" };
        let matched = if self.outer { ", m = if matched then 1 else 0" } else { "" };
        let window = if window { ", w = int(window_start)" } else { "" };
        let ((nl, al, sl), (nr, ar, sr)) = (self.left, self.right);
        format!(
            r#"
config {{ parallelism = {p} }}
schema L {{ lid: int, k: int, ts: timestamp }}
schema R {{ rid: int, rk: int, rts: timestamp }}
source lefts: L = generate(count = {nl}) {{ lid = seq, k = (seq * {al}) % {keys}, ts = epoch + seq * {sl}ms }} @watermark(delay = 0s)
source rights: R = generate(count = {nr}) {{ rid = seq, rk = (seq * {ar}) % {keys}, rts = epoch + {offset}ms + seq * {sr}ms }} @watermark(delay = 0s)
lefts | key_by k
  | join {left}(rights | key_by rk) {time}{residual}
  | map {{ lid, rid{matched}{window} }}
  | sink file("{out}")
"#,
            p = self.parallelism,
            keys = self.keys,
            offset = self.offset,
            left = if self.outer { "left " } else { "" },
            out = out.display(),
        )
    }

    /// What the join must emit, by nested loops over both sides: one line
    /// per output record, as the sink writes it.
    fn oracle(&self) -> BTreeMap<String, usize> {
        let ((nl, al, sl), (nr, ar, sr)) = (self.left, self.right);
        let lefts: Vec<(i64, i64, i64)> = (0..nl).map(|seq| (seq, (seq * al) % self.keys, seq * sl * MS)).collect();
        let rights: Vec<(i64, i64, i64)> =
            (0..nr).map(|seq| (seq, (seq * ar) % self.keys, (self.offset + seq * sr) * MS)).collect();
        let accepts = |l: i64, r: i64| !self.residual || (l + r) % 3 != 0;
        let windows = |ts: i64, size: i64, slide: i64| -> Vec<i64> {
            let mut starts = Vec::new();
            let mut start = ts - ts.rem_euclid(slide);
            while start > ts - size {
                starts.push(start);
                start -= slide;
            }
            starts
        };
        let mut lines = BTreeMap::new();
        let mut emit = |line: String| *lines.entry(line).or_insert(0) += 1;
        let matched = |m: bool| if self.outer { format!(",{}", u8::from(m)) } else { String::new() };
        for &(lid, k, ts) in &lefts {
            match self.kind {
                Kind::Interval { .. } | Kind::Regular => {
                    let (lower, upper) = match self.kind {
                        Kind::Interval { lower, upper } => (lower * MS, upper * MS),
                        _ => (i64::MIN / 4, i64::MAX / 4),
                    };
                    let mut any = false;
                    for &(rid, rk, rts) in &rights {
                        if rk == k && rts >= ts + lower && rts <= ts + upper && accepts(lid, rid) {
                            any = true;
                            emit(format!("{lid},{rid}{}", matched(true)));
                        }
                    }
                    if self.outer && !any {
                        emit(format!("{lid},0{}", matched(false)));
                    }
                }
                Kind::Tumbling { size } | Kind::Sliding { size, .. } => {
                    let slide = match self.kind {
                        Kind::Sliding { slide, .. } => slide,
                        _ => size,
                    };
                    for start in windows(ts, size * MS, slide * MS) {
                        let mut any = false;
                        for &(rid, rk, rts) in &rights {
                            let same_window = rts >= start && rts < start + size * MS;
                            if rk == k && same_window && accepts(lid, rid) {
                                any = true;
                                emit(format!("{lid},{rid}{},{start}", matched(true)));
                            }
                        }
                        if self.outer && !any {
                            emit(format!("{lid},0{},{start}", matched(false)));
                        }
                    }
                }
            }
        }
        lines
    }
}

fn random_join() -> impl Strategy<Value = RandomJoin> {
    let kind = prop_oneof![
        (-30i64..30, 0i64..40).prop_map(|(lower, width)| Kind::Interval { lower, upper: lower + width }),
        (1i64..50).prop_map(|size| Kind::Tumbling { size }),
        (1i64..40, 1i64..4).prop_map(|(slide, windows)| Kind::Sliding { size: slide * windows, slide }),
        Just(Kind::Regular),
    ];
    let side = (1i64..300, 1i64..7, 1i64..5);
    (
        kind,
        any::<bool>(),
        any::<bool>(),
        1i64..12,
        side.clone(),
        side,
        0i64..40,
        prop_oneof![Just(1u32), Just(2), Just(4)],
    )
        .prop_map(|(kind, outer, residual, keys, left, right, offset, parallelism)| RandomJoin {
            outer: outer && !matches!(kind, Kind::Regular),
            kind,
            residual,
            keys,
            left,
            right,
            offset,
            parallelism,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the join, its bounds, its inputs and the parallelism, it
    /// emits exactly what nested loops over both inputs find.
    #[test]
    fn a_random_join_emits_what_nested_loops_find(join in random_join(), jit in any::<bool>()) {
        let dir = scratch("random");
        let out = dir.join(format!("out-{}.csv", std::process::id()));
        let plan = plan_of(&join.program(&out), &[]);
        let jit_backend = Jit::new();
        let backend: &(dyn Backend + Sync) = if jit { &jit_backend } else { &Interpreter };
        let outcome = run_within(&plan, backend, Duration::from_secs(120));
        prop_assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_conserved(&plan, &outcome);
        let text = std::fs::read_to_string(&out).unwrap();
        let mut found = BTreeMap::new();
        for line in text.lines().skip(1) {
            *found.entry(line.to_string()).or_insert(0) += 1;
        }
        let _ = std::fs::remove_file(&out);
        prop_assert_eq!(found, join.oracle(), "{:?}", join);
    }
}

/// Ctrl-C ends the streams early: a `join left` emits the pairs it found,
/// but none of the orders still waiting for their payment as unpaid.
#[test]
fn a_stopped_left_join_emits_no_false_misses() {
    let dir = scratch("ctrl-c");
    std::fs::write(
        dir.join("unpaid.flow"),
        "schema Order { order_id: int, ts: timestamp }\n\
         schema Payment { paid_order: int, paid_at: timestamp }\n\
         source orders: Order = generate(rate = 2k/s) { order_id = seq, ts = epoch + seq * 1ms } @watermark(delay = 0s)\n\
         source payments: Payment = generate(rate = 1k/s) { paid_order = seq, paid_at = epoch + seq * 1ms } @watermark(delay = 0s)\n\
         orders | key_by order_id\n\
           | join left (payments | key_by paid_order) interval(0s, 1s) on ts, paid_at\n\
           | sink file(\"out.csv\")\n",
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_flowc"))
        .current_dir(&dir)
        .args(["run", "unpaid.flow"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let written = std::fs::read_to_string(dir.join("out.csv")).expect("the sink's file is complete");
    let rows: Vec<&str> = written.lines().skip(1).collect();
    assert!(!rows.is_empty(), "the pairs found before the stop are emitted");
    // Every order is paid by the payment of its number: none is a real miss.
    assert!(rows.iter().all(|row| row.ends_with(",true")), "{}", rows.iter().filter(|r| r.ends_with(",false")).count());
    assert!(stderr.contains("as unmatched: they still waited for a match when the run stopped"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The peak memory of `flowc run` on `text`, in KiB.
fn peak_memory_of(name: &str, text: &str) -> u64 {
    let dir = scratch(name);
    let flow = dir.join("hot.flow");
    std::fs::write(&flow, text).unwrap();
    let kib = peak_memory_kib(env!("CARGO_BIN_EXE_flowc"), &flow);
    let _ = std::fs::remove_dir_all(&dir);
    kib
}

/// A join that emits millions of pairs at once (one hot key) hands them on
/// a chunk at a time: its memory does not grow with the pairs it emits.
#[test]
fn a_join_emitting_millions_of_pairs_at_once_stays_small() {
    if flowc::cli::peak_memory_bytes().is_none() {
        eprintln!("skipped: no /proc/self/status on this system");
        return;
    }
    let hot = |count: u64, join: &str| {
        format!(
            "schema A {{ a: int, ak: int, ats: timestamp }}\n\
             schema B {{ b: int, bk: int, bts: timestamp }}\n\
             source sa: A = generate(count = {count}) {{ a = seq, ak = 0, ats = epoch + seq * 1ms }} @watermark(delay = 0s)\n\
             source sb: B = generate(count = {count}) {{ b = seq, bk = 0, bts = epoch + seq * 1ms }} @watermark(delay = 0s)\n\
             sa | key_by ak | join (sb | key_by bk) {join} | sink discard\n"
        )
    };
    for join in ["", "window tumbling(1h) on ats, bts"] {
        // 250 thousand pairs, then 4 million: sixteen times the output.
        let small = peak_memory_of("hot-small", &hot(500, join));
        let large = peak_memory_of("hot-large", &hot(2000, join));
        assert!(large < small + 40 * 1024, "`{join}`: peak memory grew from {small} KiB to {large} KiB");
    }
}
