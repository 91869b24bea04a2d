//! Reads every subtask's counters every ~50 ms into a `Recording`. It runs
//! on the thread that watches the run, so subtasks pay nothing for it but
//! the relaxed atomics they write anyway.
//!
//! Counters only grow; the sampler keeps the last reading of each and
//! stores the difference. Busy, idle and backpressured time are read with
//! the stretch each subtask is in right now (`SubtaskCounters::read_time`),
//! then scaled so the three fill the interval, as Flink's add up to 1000 ms/s.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::machine::MachineSample;
use super::recording::{
    merge_pairs, DatabaseTotals, Interval, KeyEdgeRecording, Recording, SubtaskRecording, TaskRecording, Totals,
    MAX_INTERVALS,
};
use super::sketch::KeySketch;
use super::{epoch_nanos, read, OperatorCounters, SubtaskCounters};

/// What the sampler reads for one subtask.
pub struct SampledSubtask {
    pub counters: Arc<SubtaskCounters>,
    /// The chain's operators, in chain order.
    pub operators: Vec<Arc<OperatorCounters>>,
}

pub struct SampledTask {
    pub name: String,
    pub subtasks: Vec<SampledSubtask>,
}

/// Where the senders of one hash edge publish their key sketches.
pub struct SampledKeyEdge {
    pub edge: usize,
    pub sketches: Vec<Arc<Mutex<KeySketch>>>,
}

/// Every counter of one subtask, read at one instant, times in nanoseconds.
#[derive(Debug, Clone, Default)]
struct Reading {
    busy: u64,
    idle: u64,
    backpressured: u64,
    cpu: Option<u64>,
    run_queue: Option<u64>,
    records_in: u64,
    records_out: u64,
    bytes_out: u64,
    buffers_in: u64,
    buffers_out: u64,
    operator_busy: Vec<u64>,
    /// Each operator's in-flight integral, record-nanoseconds.
    operator_in_flight: Vec<u64>,
    lag: u64,
}

pub struct Sampler {
    tasks: Vec<SampledTask>,
    key_edges: Vec<SampledKeyEdge>,
    interval: Duration,
    start: Instant,
    last_at: Instant,
    last: Vec<Vec<Reading>>,
    series: Vec<Vec<Vec<Interval>>>,
    machine_at_start: Option<MachineSample>,
}

impl Sampler {
    pub fn new(tasks: Vec<SampledTask>, key_edges: Vec<SampledKeyEdge>, interval: Duration, start: Instant) -> Sampler {
        let last = tasks
            .iter()
            .map(|task| {
                task.subtasks
                    .iter()
                    .map(|subtask| Reading {
                        cpu: Some(0),
                        run_queue: Some(0),
                        operator_busy: vec![0; subtask.operators.len()],
                        operator_in_flight: vec![0; subtask.operators.len()],
                        ..Reading::default()
                    })
                    .collect()
            })
            .collect();
        let series = tasks.iter().map(|task| task.subtasks.iter().map(|_| Vec::new()).collect()).collect();
        let machine_at_start = MachineSample::now();
        Sampler { tasks, key_edges, interval, start, last_at: start, last, series, machine_at_start }
    }

    /// When the next sample is due.
    pub fn next_due(&self) -> Instant {
        self.last_at + self.interval
    }

    /// Records the stretch since the last sample, for every subtask.
    pub fn sample(&mut self, now: Instant) {
        let length = now.saturating_duration_since(self.last_at);
        if length.is_zero() {
            return;
        }
        let start_ms = millis(self.last_at.saturating_duration_since(self.start));
        let now_nanos = epoch_nanos(now);
        for (task_index, task) in self.tasks.iter().enumerate() {
            for (subtask_index, subtask) in task.subtasks.iter().enumerate() {
                let reading = read_subtask(subtask, now_nanos);
                let last = &self.last[task_index][subtask_index];
                let interval = interval_between(last, &reading, &subtask.counters, start_ms, millis(length));
                self.series[task_index][subtask_index].push(interval);
                self.last[task_index][subtask_index] = reading;
            }
        }
        self.last_at = now;
        if self.series.iter().flatten().any(|series| series.len() > MAX_INTERVALS) {
            self.series.iter_mut().flatten().for_each(merge_pairs);
            // Sample less often from now on, so the merged history and new
            // samples keep one step.
            self.interval *= 2;
        }
    }

    /// The recording so far.
    pub fn recording(&self, now: Instant) -> Recording {
        let tasks = self
            .tasks
            .iter()
            .zip(&self.series)
            .map(|(task, series)| TaskRecording {
                name: task.name.clone(),
                subtasks: task
                    .subtasks
                    .iter()
                    .zip(series)
                    .map(|(subtask, intervals)| SubtaskRecording {
                        intervals: intervals.clone(),
                        totals: totals_of(subtask, epoch_nanos(now)),
                    })
                    .collect(),
            })
            .collect();
        let key_edges = self
            .key_edges
            .iter()
            .map(|edge| {
                let mut merged = KeySketch::default();
                for sketch in &edge.sketches {
                    merged.merge(&sketch.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
                }
                KeyEdgeRecording { edge: edge.edge, heavy: merged.heavy_keys(10) }
            })
            .collect();
        let wall = now.saturating_duration_since(self.start).as_nanos() as u64;
        let machine =
            self.machine_at_start.zip(MachineSample::now()).and_then(|(start, end)| start.load_until(&end, wall));
        Recording {
            sample_interval_ms: millis(self.interval),
            duration_ms: millis(now.saturating_duration_since(self.start)),
            tasks,
            key_edges,
            machine,
        }
    }

    /// The last `n` intervals of every subtask merged into one, `[task][subtask]`:
    /// a live view steadier than one 50 ms sample.
    pub fn recent(&self, n: usize) -> Vec<Vec<Option<Interval>>> {
        self.series
            .iter()
            .map(|task| {
                task.iter()
                    .map(|series| {
                        let mut recent = series[series.len().saturating_sub(n)..].iter();
                        let mut merged = recent.next()?.clone();
                        recent.for_each(|interval| merged.absorb(interval));
                        Some(merged)
                    })
                    .collect()
            })
            .collect()
    }
}

fn millis(duration: Duration) -> f64 {
    to_microseconds(duration.as_secs_f64() * 1000.0)
}

/// Milliseconds kept to the microsecond: finer says nothing and bloats
/// saved recordings.
fn to_microseconds(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn read_subtask(subtask: &SampledSubtask, now_nanos: u64) -> Reading {
    let counters = &subtask.counters;
    let time = counters.read_time(&subtask.operators, now_nanos);
    Reading {
        busy: time.busy,
        idle: time.idle,
        backpressured: time.backpressured,
        cpu: counters.cpu.nanos(),
        run_queue: counters.cpu.run_queue_nanos(),
        records_in: read(&counters.records_in),
        records_out: read(&counters.records_out),
        bytes_out: read(&counters.bytes_out),
        buffers_in: read(&counters.buffers_in),
        buffers_out: read(&counters.buffers_out),
        lag: counters.lag_at(now_nanos),
        operator_busy: time.operator_busy,
        operator_in_flight: subtask.operators.iter().map(|op| op.in_flight_integral(now_nanos)).collect(),
    }
}

fn interval_between(
    last: &Reading,
    now: &Reading,
    counters: &SubtaskCounters,
    start_ms: f64,
    length_ms: f64,
) -> Interval {
    let delta_ms = |before: u64, after: u64| to_microseconds(after.saturating_sub(before) as f64 / 1e6);
    let (busy, idle, backpressured) =
        (delta_ms(last.busy, now.busy), delta_ms(last.idle, now.idle), delta_ms(last.backpressured, now.backpressured));
    // A switch that lands between two reads can shift a little time from
    // one sample to the next; scale the three to fill the interval.
    // A subtask that ended within the interval accounts for less of it;
    // its ratios are taken over the time it accounted for.
    let accounted = busy + idle + backpressured;
    let scale = if accounted > 0.9 * length_ms { length_ms / accounted } else { 1.0 };
    let fraction = |used: &AtomicU64, size: &AtomicU64| {
        let size = read(size);
        if size == 0 {
            0.0
        } else {
            to_microseconds((read(used) as f64 / size as f64).min(1.0))
        }
    };
    let in_used = read(&counters.exclusive_used) + read(&counters.floating_used);
    let in_size = read(&counters.exclusive_size) + read(&counters.floating_size);
    let operator_busy_ms: Vec<f64> =
        last.operator_busy.iter().zip(&now.operator_busy).map(|(&before, &after)| delta_ms(before, after)).collect();
    let operator_total: f64 = operator_busy_ms.iter().sum();
    let operator_scale =
        if operator_total > busy * scale && operator_total > 0.0 { busy * scale / operator_total } else { 1.0 };
    Interval {
        start_ms,
        length_ms,
        busy_ms: to_microseconds(busy * scale),
        idle_ms: to_microseconds(idle * scale),
        backpressured_ms: to_microseconds(backpressured * scale),
        cpu_ms: last.cpu.zip(now.cpu).map(|(before, after)| delta_ms(before, after).min(length_ms)),
        run_queue_ms: last.run_queue.zip(now.run_queue).map(|(before, after)| delta_ms(before, after).min(length_ms)),
        records_in: now.records_in.saturating_sub(last.records_in),
        records_out: now.records_out.saturating_sub(last.records_out),
        bytes_out: now.bytes_out.saturating_sub(last.bytes_out),
        buffers_in: now.buffers_in.saturating_sub(last.buffers_in),
        buffers_out: now.buffers_out.saturating_sub(last.buffers_out),
        in_pool_usage: if in_size == 0 { 0.0 } else { to_microseconds((in_used as f64 / in_size as f64).min(1.0)) },
        exclusive_usage: fraction(&counters.exclusive_used, &counters.exclusive_size),
        floating_usage: fraction(&counters.floating_used, &counters.floating_size),
        out_pool_usage: fraction(&counters.out_pool_used, &counters.out_pool_size),
        lag: now.lag,
        operator_busy_ms: operator_busy_ms.iter().map(|ms| to_microseconds(ms * operator_scale)).collect(),
        operator_in_flight: last
            .operator_in_flight
            .iter()
            .zip(&now.operator_in_flight)
            .map(|(&before, &after)| {
                let nanos = length_ms * 1e6;
                if nanos > 0.0 {
                    to_microseconds(after.saturating_sub(before) as f64 / nanos)
                } else {
                    0.0
                }
            })
            .collect(),
    }
}

fn totals_of(subtask: &SampledSubtask, now_nanos: u64) -> Totals {
    let reading = read_subtask(subtask, now_nanos);
    let counters = &subtask.counters;
    Totals {
        records_in: reading.records_in,
        records_out: reading.records_out,
        bytes_out: reading.bytes_out,
        buffers_in: reading.buffers_in,
        buffers_out: reading.buffers_out,
        busy_ms: to_microseconds(reading.busy as f64 / 1e6),
        idle_ms: to_microseconds(reading.idle as f64 / 1e6),
        backpressured_ms: to_microseconds(reading.backpressured as f64 / 1e6),
        cpu_ms: reading.cpu.map(|nanos| to_microseconds(nanos as f64 / 1e6)),
        run_queue_ms: reading.run_queue.map(|nanos| to_microseconds(nanos as f64 / 1e6)),
        lag_at_end: reading.lag,
        lag_max: read(&counters.lag_max),
        watermark_gap_max_ms: read(&counters.watermark_gap_max) as f64 / 1e6,
        operator_busy_ms: reading.operator_busy.iter().map(|&nanos| to_microseconds(nanos as f64 / 1e6)).collect(),
        operator_records_in: subtask.operators.iter().map(|op| read(&op.records_in)).collect(),
        operator_records_out: subtask.operators.iter().map(|op| read(&op.records_out)).collect(),
        operator_state_entries_peak: subtask.operators.iter().map(|op| read(&op.state_entries_peak)).collect(),
        operator_state_bytes_peak: subtask.operators.iter().map(|op| read(&op.state_bytes_peak)).collect(),
        operator_in_flight_peak: subtask.operators.iter().map(|op| read(&op.in_flight_peak)).collect(),
        operator_database: database_totals(subtask),
    }
}

/// Each operator's database totals, or nothing when none talked to one.
fn database_totals(subtask: &SampledSubtask) -> Vec<DatabaseTotals> {
    let ms = |counter: &std::sync::atomic::AtomicU64| to_microseconds(read(counter) as f64 / 1e6);
    let totals: Vec<DatabaseTotals> = subtask
        .operators
        .iter()
        .map(|op| {
            let db = &op.database;
            DatabaseTotals {
                transactions: read(&db.transactions),
                rows_written: read(&db.rows_written),
                begin_ms: ms(&db.begin_nanos),
                write_ms: ms(&db.write_nanos),
                commit_ms: ms(&db.commit_nanos),
                lookups: read(&db.lookups),
                cache_hits: read(&db.cache_hits),
                queries: read(&db.queries),
                keys_queried: read(&db.keys_queried),
                query_ms: ms(&db.query_nanos),
            }
        })
        .collect();
    if totals.iter().all(DatabaseTotals::is_empty) {
        return Vec::new();
    }
    totals
}
