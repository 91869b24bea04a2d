//! The keyed path beside hand-written Rust, in one run: records/s of the
//! workloads in `benches/workloads/` on flowc (JIT) at parallelism 1, 2
//! and 4, each next to a loop written by hand that computes the same
//! records, and the ratio between them; then a tumbling window with 1k,
//! 100k, 1M and 10M distinct keys live in one window, with the bytes its
//! state took per key.
//!
//! `cargo bench --bench keyed`. `FLOWC_BENCH_RECORDS` sets the records per
//! run (default 20,000,000), `FLOWC_BENCH_ROUNDS` the rounds (default 5):
//! every configuration runs once per round, rounds interleaved so a
//! machine that gets busier slows all of them alike, and the median round
//! is the figure. `FLOWC_BENCH_ONLY=stateless,keyed,keys` picks sections.
//! `scripts/bench-flink.sh` runs the same files on Flink.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::hint::black_box;
use std::time::{Duration, Instant};

use flowc::compile::Jit;
use flowc::metrics::read;
use flowc::plan::{NodeKind, PhysicalPlan};
use flowc::runtime::{run, RunOptions};

const STATELESS: &str = include_str!("workloads/stateless.flow");
const KEYED: &str = include_str!("workloads/keyed_window.flow");

/// The workload's text with `records` and `keys` in place of its own.
fn workload(text: &str, records: u64, keys: u64) -> String {
    text.replace("count = 20M", &format!("count = {records}")).replace("seq % 1000\n", &format!("seq % {keys}\n"))
}

/// The keyed workload with every record in one window: time moves 1 ns a
/// record, so 20M records span 20 ms of a 1 s window.
fn one_window(records: u64, keys: u64) -> String {
    workload(KEYED, records, keys).replace("seq * 1us", "seq * 1ns")
}

fn plan_of(text: &str, parallelism: usize) -> PhysicalPlan {
    let text = text.replacen("schema", &format!("config {{ parallelism = {parallelism} }}\n\nschema"), 1);
    let checked = flowc::check::check_source(&text);
    let program = checked.program.unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
    flowc::plan::plan(&program).plan.expect("plans")
}

/// The CPU time this process has used, all threads.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// One flowc run: its wall time, its CPU time, and the window's largest
/// state as (entries, bytes) if it has one.
fn flowc_run(plan: &PhysicalPlan) -> (Duration, Duration, Option<(u64, u64)>) {
    let cpu = process_cpu();
    let outcome = run(plan, &Jit::new(), RunOptions::default());
    let cpu = process_cpu() - cpu;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let window = plan.operators.iter().find(|operator| {
        matches!(
            &plan.node(operator.id).kind,
            NodeKind::Operator { kind: flowc::check::program::OperatorKind::Window { .. }, .. }
        )
    });
    let state = window.map(|window| {
        let entries = outcome.metrics.operator_total(window.id, |c| read(&c.state_entries_peak));
        let bytes = outcome.metrics.operator_total(window.id, |c| read(&c.state_bytes_peak));
        (entries, bytes)
    });
    (outcome.wall_time, cpu, state)
}

/// splitmix64's finaliser as a `Hasher`: what a careful hand-written loop
/// would hash integer keys with instead of SipHash.
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        flowc::compile::builtins::mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        // FNV-1a, for string keys.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_i64(&mut self, value: i64) {
        self.0 = value as u64;
    }
}

type FastMap<V> = HashMap<i64, V, BuildHasherDefault<MixHasher>>;

/// generate → filter → map over `range`, record by record in registers.
fn hand_stateless(range: std::ops::Range<i64>) -> u64 {
    let mut kept = 0u64;
    for seq in range {
        let amount = (seq % 1000) as f64 / 10.0;
        if amount > 50.0 {
            black_box((seq, amount * 1.2 + 1.0));
            kept += 1;
        }
    }
    kept
}

/// The stateless loop on `threads` threads, each a share of the records.
fn hand_stateless_threads(records: i64, threads: i64) -> u64 {
    let share = records / threads;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let end = if t == threads - 1 { records } else { (t + 1) * share };
                scope.spawn(move || hand_stateless(t * share..end))
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).sum()
    })
}

/// The keyed workload on one thread: generate, filter, map, then a map
/// of each open window's keys, fired in key order when time passes its
/// end, as flowc fires it. `step` is the nanoseconds between records.
fn hand_keyed(records: i64, keys: i64, step: i64) -> u64 {
    const SECOND: i64 = 1_000_000_000;
    let mut open: FastMap<(i64, f64)> = FastMap::default();
    let mut window_end = SECOND;
    let mut fired = 0u64;
    let mut fire = |open: &mut FastMap<(i64, f64)>, end: i64| {
        let mut rows: Vec<(i64, (i64, f64))> = open.drain().collect();
        rows.sort_unstable_by_key(|row| row.0);
        for row in rows {
            black_box((row, end));
            fired += 1;
        }
    };
    for seq in 0..records {
        let store = seq % keys;
        let amount = (seq % 997) as f64 / 10.0;
        if amount <= 50.0 {
            continue;
        }
        let taxed = amount * 1.2 + 1.0;
        let ts = seq * step;
        if ts >= window_end {
            fire(&mut open, window_end);
            window_end = ts - ts % SECOND + SECOND;
        }
        let entry = open.entry(store).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += taxed;
    }
    fire(&mut open, window_end);
    black_box(fired)
}

/// The one-window workload keyed by a string: `"k" ++ str(seq % keys)`.
fn one_window_strings(records: u64, keys: u64) -> String {
    one_window(records, keys)
        .replace("store: int", "store: string")
        .replace(&format!("store  = seq % {keys}\n"), &format!("store  = \"k\" ++ str(seq % {keys})\n"))
}

/// `hand_keyed` with the string keys of `one_window_strings`, in one window.
fn hand_keyed_strings(records: i64, keys: i64) -> u64 {
    let mut open: HashMap<String, (i64, f64), BuildHasherDefault<MixHasher>> = HashMap::default();
    for seq in 0..records {
        let amount = (seq % 997) as f64 / 10.0;
        if amount <= 50.0 {
            continue;
        }
        let entry = open.entry(format!("k{}", seq % keys)).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += amount * 1.2 + 1.0;
    }
    let mut rows: Vec<(String, (i64, f64))> = open.into_iter().collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let fired = rows.len() as u64;
    for row in rows {
        black_box(row);
    }
    fired
}

/// Median of `times`.
fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

struct Line {
    name: String,
    flowc: Vec<Duration>,
    cpu: Vec<Duration>,
    hand: Vec<Duration>,
    state: Option<(u64, u64)>,
}

fn rate(records: u64, time: Duration) -> f64 {
    records as f64 / time.as_secs_f64() / 1e6
}

fn main() {
    let records: u64 = std::env::var("FLOWC_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000_000);
    let rounds: usize = std::env::var("FLOWC_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let only = std::env::var("FLOWC_BENCH_ONLY").unwrap_or_else(|_| "stateless,keyed,keys".into());
    let n = records as i64;
    println!("flowc keyed-path benchmark: {records} records a run, median of {rounds} interleaved rounds");
    println!("(M/s: millions of source records a second; ratio: flowc / the hand loop beside it)\n");

    type Hand = Box<dyn Fn() -> u64>;
    let mut cases: Vec<(String, PhysicalPlan, Hand)> = Vec::new();
    if only.contains("stateless") {
        for p in [1, 2, 4] {
            let threads = p.min(2) as i64;
            let hand: Hand = Box::new(move || hand_stateless_threads(n, threads));
            let name = format!(
                "generate → filter → map → discard, p={p} (hand: {threads} thread{})",
                if threads > 1 { "s" } else { "" }
            );
            cases.push((name, plan_of(&workload(STATELESS, records, 1000), p), hand));
        }
    }
    if only.contains("stateless") {
        // The exchange alone: the same chain split in two by a rebalance,
        // one subtask each; its CPU beyond the line above is what moving
        // the records between threads costs.
        let hand: Hand = Box::new(move || hand_stateless_threads(n, 1));
        let name = "generate → rebalance → filter → map → discard, p=1 (hand: 1 thread)".to_string();
        cases.push((
            name,
            plan_of(&workload(STATELESS, records, 1000).replace("  | filter", "  | rebalance\n  | filter"), 1),
            hand,
        ));
    }
    if only.contains("keyed") {
        for p in [1, 2, 4] {
            let hand: Hand = Box::new(move || hand_keyed(n, 1000, 1000));
            let name = format!("+ key_by (1,000 keys) + tumbling 1 s count/sum, p={p} (hand: 1 thread)");
            cases.push((name, plan_of(&workload(KEYED, records, 1000), p), hand));
        }
    }
    if only.contains("keys") {
        for keys in [1_000u64, 100_000, 1_000_000, 10_000_000] {
            for p in [1, 2] {
                let hand: Hand = Box::new(move || hand_keyed(n, keys as i64, 1));
                let name = format!("one window, {keys} keys, p={p} (hand: 1 thread)");
                cases.push((name, plan_of(&one_window(records, keys), p), hand));
            }
        }
        let hand: Hand = Box::new(move || hand_keyed_strings(n, 1_000_000));
        let name = "one window, 1000000 string keys, p=1 (hand: 1 thread)".to_string();
        cases.push((name, plan_of(&one_window_strings(records, 1_000_000), 1), hand));
    }
    let mut lines: Vec<Line> = cases
        .iter()
        .map(|(name, _, _)| Line {
            name: name.clone(),
            flowc: Vec::new(),
            cpu: Vec::new(),
            hand: Vec::new(),
            state: None,
        })
        .collect();
    for round in 0..rounds {
        eprint!("\rround {}/{rounds}", round + 1);
        for ((_, plan, hand), line) in cases.iter().zip(&mut lines) {
            let (time, cpu, state) = flowc_run(plan);
            line.flowc.push(time);
            line.cpu.push(cpu);
            line.state = state.or(line.state);
            let start = Instant::now();
            black_box(hand());
            line.hand.push(start.elapsed());
        }
    }
    eprintln!();
    println!("{:<72} {:>9} {:>9} {:>6} {:>9} {:>10}", "workload", "flowc", "hand", "ratio", "cpu/rec", "state/key");
    for line in &mut lines {
        let (flowc, hand, cpu) = (median(&mut line.flowc), median(&mut line.hand), median(&mut line.cpu));
        let per_key = match line.state {
            Some((entries, bytes)) if entries > 0 => format!("{:.0} B", bytes as f64 / entries as f64),
            _ => String::new(),
        };
        println!(
            "{:<72} {:>7.1}M {:>7.1}M {:>6.2} {:>6.1} ns {:>10}",
            line.name,
            rate(records, flowc),
            rate(records, hand),
            hand.as_secs_f64() / flowc.as_secs_f64(),
            cpu.as_secs_f64() * 1e9 / records as f64,
            per_key
        );
    }
    println!("\ncpu/rec: flowc's CPU time, every thread, per source record");
    if only.contains("keys") {
        println!("\nstate/key: the window's largest state over its largest number of live keys (summed over subtasks)");
    }
}
