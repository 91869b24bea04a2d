//! Runtime throughput: records/s of pipelines run by flowc with the JIT
//! and with the interpreter, each beside a hand-written Rust loop doing the
//! same work in the same run; the ratios are the figures that count.
//!
//! Last, the cost of per-operator time on the max-throughput example.
//!
//! `cargo bench --bench runtime` (release build). `FLOWC_BENCH_RECORDS`
//! changes the record count (default 2,000,000), `FLOWC_BENCH_ROUNDS` the
//! rounds of the overhead measurement (default 5).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use flowc::compile::{Interpreter, Jit};
use flowc::plan::PhysicalPlan;
use flowc::runtime::{run, RunOptions};

fn plan_of(text: &str) -> PhysicalPlan {
    let checked = flowc::check::check_source(text);
    let program = checked.program.unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
    flowc::plan::plan(&program).plan.expect("plans")
}

/// The best of three runs with `backend`: the first warms the allocator and caches.
fn flowc_seconds_with(text: &str, backend: &dyn flowc::compile::Backend, options: impl Fn() -> RunOptions) -> Duration {
    let plan = plan_of(text);
    (0..3)
        .map(|_| {
            let outcome = run(&plan, backend, options());
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
            outcome.wall_time
        })
        .min()
        .expect("three runs")
}

/// (JIT, interpreter) wall times of `text`.
fn flowc_seconds(text: &str) -> (Duration, Duration) {
    (
        flowc_seconds_with(text, &Jit::new(), RunOptions::default),
        flowc_seconds_with(text, &Interpreter, RunOptions::default),
    )
}

fn report(name: &str, records: u64, (jit, interpreter): (Duration, Duration), hand: Option<Duration>) {
    let rate = |time: Duration| records as f64 / time.as_secs_f64();
    let hand_columns = match hand {
        Some(hand) => {
            format!("hand {:>6.1} M/s   jit/hand {:>5.2}", rate(hand) / 1e6, hand.as_secs_f64() / jit.as_secs_f64())
        }
        None => String::new(),
    };
    println!(
        "{name:<44} jit {:>7.1} M/s   interpreter {:>6.1} M/s   jit/interpreter {:>6.1}x   {hand_columns}",
        rate(jit) / 1e6,
        rate(interpreter) / 1e6,
        interpreter.as_secs_f64() / jit.as_secs_f64(),
    );
}

/// generate → filter → map, per record, as a plain loop.
fn hand_filter_map(range: std::ops::Range<i64>, mut emit: impl FnMut(i64, f64)) {
    for seq in range {
        let amount = (seq % 1000) as f64 / 10.0;
        if amount > 50.0 {
            emit(seq, amount * 1.2 + 1.0);
        }
    }
}

fn main() {
    let records: u64 = std::env::var("FLOWC_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let n = records as i64;
    println!("flowc runtime benchmark: {records} records; best of 3 runs each\n");

    let one_chain = format!(
        "schema Sale {{ id: int, amount: float }}\n\
         source sales: Sale = generate(count = {records}) {{ id = seq, amount = float(seq % 1000) / 10.0 }}\n\
         sales | filter amount > 50.0 | map {{ id, taxed = amount * 1.2 + 1.0 }} | sink discard\n"
    );
    let flowc = flowc_seconds(&one_chain);
    let start = Instant::now();
    let mut kept = 0u64;
    hand_filter_map(0..n, |id, taxed| {
        black_box((id, taxed));
        kept += 1;
    });
    black_box(kept);
    let fused_loop = start.elapsed();
    report("generate -> filter -> map -> discard", records, flowc, Some(fused_loop));
    // The same loop with records as rows in batches, as any engine that
    // hands records between operators has them: generated into one
    // buffer, filtered and mapped into another.
    let start = Instant::now();
    let (mut generated, mut mapped) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    let mut kept = 0u64;
    for first in (0..n).step_by(4096) {
        generated.clear();
        generated.extend((first..n.min(first + 4096)).map(|seq| (seq, (seq % 1000) as f64 / 10.0)));
        mapped.clear();
        mapped.extend(generated.iter().filter(|row| row.1 > 50.0).map(|&(id, amount)| (id, amount * 1.2 + 1.0)));
        kept += black_box(&mapped).len() as u64;
    }
    black_box(kept);
    report("... hand loop with rows in batches", records, flowc, Some(start.elapsed()));

    let two_chains = one_chain.replace("| filter", "| rebalance | filter");
    let flowc = flowc_seconds(&two_chains);
    let start = Instant::now();
    // The same work split over two threads, batches of 1024 through a bounded channel.
    let (sender, receiver) = crossbeam_channel::bounded::<Vec<(i64, f64)>>(8);
    let consumer = std::thread::spawn(move || {
        let mut kept = 0u64;
        for batch in receiver {
            for (seq, amount) in batch {
                if amount > 50.0 {
                    black_box((seq, amount * 1.2 + 1.0));
                    kept += 1;
                }
            }
        }
        kept
    });
    let mut batch = Vec::with_capacity(1024);
    for seq in 0..n {
        batch.push((seq, (seq % 1000) as f64 / 10.0));
        if batch.len() == 1024 {
            sender.send(std::mem::replace(&mut batch, Vec::with_capacity(1024))).unwrap();
        }
    }
    sender.send(batch).unwrap();
    drop(sender);
    black_box(consumer.join().unwrap());
    report("... across a rebalance (two chains)", records, flowc, Some(start.elapsed()));

    let window = format!(
        "config {{ parallelism = 2 }}\n\
         schema Sale {{ store: int, amount: float, ts: timestamp }}\n\
         source sales: Sale = generate(count = {records}) {{\n\
           store = seq % 1000, amount = float(seq % 1000) / 10.0, ts = epoch + seq * 1us\n\
         }} @watermark(delay = 0s)\n\
         sales | key_by store | window tumbling(100ms) on ts {{ n = count(), revenue = sum(amount) }} | sink discard\n"
    );
    let flowc = flowc_seconds(&window);
    let start = Instant::now();
    // One thread: a map of open windows per key, fired as time passes.
    let mut open: HashMap<i64, (i64, f64)> = HashMap::new();
    let mut window_end = 100_000_000i64;
    let mut fired = 0u64;
    for seq in 0..n {
        let ts = seq * 1000;
        if ts >= window_end {
            fired += open.len() as u64;
            for entry in open.drain() {
                black_box(entry);
            }
            window_end += 100_000_000;
        }
        let entry = open.entry(seq % 1000).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += (seq % 1000) as f64 / 10.0;
    }
    black_box(fired + open.len() as u64);
    report("key_by + tumbling window, parallelism 2", records, flowc, Some(start.elapsed()));

    let strings = format!(
        "schema Visit {{ id: int, page: string }}\n\
         source visits: Visit = generate(count = {records}) {{ id = seq, page = \"/p/\" ++ str(seq % 100) }}\n\
         visits | filter len(page) > 4 | map {{ id, page = upper(page) }} | sink discard\n"
    );
    let flowc = flowc_seconds(&strings);
    let start = Instant::now();
    let mut kept = 0u64;
    for seq in 0..n {
        let page = format!("/p/{}", seq % 100);
        if page.chars().count() > 4 {
            black_box((seq, page.to_uppercase()));
            kept += 1;
        }
    }
    black_box(kept);
    report("strings: filter len > 4, map upper()", records, flowc, Some(start.elapsed()));

    let max_throughput = std::fs::read_to_string("examples/max_throughput.flow").expect("run from the crate root");
    let options = || RunOptions { unthrottled: true, discard_sinks: true, ..RunOptions::default() };
    let example_records = 2_000_000;
    let flowc = (
        flowc_seconds_with(&max_throughput, &Jit::new(), options),
        flowc_seconds_with(&max_throughput, &Interpreter, options),
    );
    report("examples/max_throughput.flow end to end", example_records, flowc, None);

    metrics_overhead();
}

/// What the report's metrics cost on `examples/max_throughput.flow`
/// (unthrottled, sinks discarding): runs with them (per-operator time, key
/// sketches, the 50 ms sampler) and without, alternated so drift in the
/// machine hits both; the best of each is compared. The subtask counters
/// are always on: they are the runtime's own.
fn metrics_overhead() {
    let text = std::fs::read_to_string("examples/max_throughput.flow").expect("run from the crate root");
    let plan = plan_of(&text);
    let rounds: usize = std::env::var("FLOWC_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let (mut with, mut without) = (Duration::MAX, Duration::MAX);
    let mut records = 0;
    for _ in 0..rounds {
        for metrics in [true, false] {
            let options =
                RunOptions { unthrottled: true, discard_sinks: true, lean_metrics: !metrics, ..RunOptions::default() };
            let outcome = run(&plan, &Jit::new(), options);
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
            records = outcome.recording.tasks[0].subtasks.iter().map(|s| s.totals.records_in).sum::<u64>();
            let best = if metrics { &mut with } else { &mut without };
            *best = (*best).min(outcome.wall_time);
        }
    }
    let rate = |time: Duration| records as f64 / time.as_secs_f64();
    println!(
        "\nmax_throughput.flow, best of {rounds}: report metrics on {:>10.0} records/s, off {:>10.0} records/s, overhead {:+.1}%",
        rate(with),
        rate(without),
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
}
