//! What every subtask counts while it runs: records and bytes in and out,
//! where its time went (busy, idle, backpressured) and to which fused
//! operator, its buffer pools, its thread's CPU time, and a source's lag.
//! The runtime writes these counters with relaxed atomics; the sampler
//! (`sampler.rs`) reads them from another thread into a `Recording`, which
//! is all the report ever sees. Nothing here knows about channels.

pub mod cpu;
pub mod machine;
pub mod recording;
pub mod sampler;
pub mod sketch;

use std::sync::atomic::{fence, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Counters of one subtask (one thread).
#[derive(Debug, Default)]
pub struct SubtaskCounters {
    /// Records that entered the task: read from its input channels, or made by its source.
    pub records_in: AtomicU64,
    /// Records that left the task: sent on its output channels, or written by its sink.
    pub records_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub buffers_out: AtomicU64,
    pub buffers_in: AtomicU64,
    pub busy_nanos: AtomicU64,
    pub idle_nanos: AtomicU64,
    pub backpressured_nanos: AtomicU64,
    /// Output buffers in use (being filled, or waiting for credit) and the pool's size.
    pub out_pool_used: AtomicU64,
    pub out_pool_size: AtomicU64,
    /// Input buffers holding unprocessed data, of the exclusive and floating kinds.
    pub exclusive_used: AtomicU64,
    pub exclusive_size: AtomicU64,
    pub floating_used: AtomicU64,
    pub floating_size: AtomicU64,
    /// A source with a rate: records its producers have made by now that it has not read.
    pub lag: AtomicU64,
    /// The largest `lag` seen.
    pub lag_max: AtomicU64,
    /// Input lines a source skipped under `on_error = skip`.
    pub skipped: AtomicU64,
    /// A buffer that arrived on a channel without credit: must stay 0.
    pub credit_violations: AtomicU64,
    /// For a subtask whose head reads two inputs (a join): the most one
    /// input's watermark ran ahead of the other's, in nanoseconds. Records of
    /// the side ahead wait in the join's state until the other catches up.
    pub watermark_gap_max: AtomicU64,
    /// The state the subtask is in now and the chain operator it works for,
    /// packed by `pack_live`, and since when (`epoch_nanos`): the sampler
    /// adds the running stretch, so a subtask busy for seconds on end still
    /// shows as busy in every sample. Read with `read_time`.
    live: AtomicU64,
    live_since: AtomicU64,
    /// Odd while the subtask updates its time counters and `live`: a
    /// sequence lock, so a reader never pairs a new total with an old
    /// `live_since` and counts a stretch twice.
    live_sequence: AtomicU64,
    /// A generator with a rate: when it started (`epoch_nanos`), its rate in
    /// records per 1000 s, and how many records it makes in all, so the
    /// sampler can compute its lag at any instant, even while it is blocked.
    pub schedule_start: AtomicU64,
    pub schedule_rate_milli: AtomicU64,
    pub schedule_limit: AtomicU64,
    /// The thread's CPU clock while it runs (see `cpu.rs`), and its CPU time when it ended.
    pub cpu: cpu::ThreadCpu,
}

/// Counters of one operator in one subtask.
#[derive(Debug, Default)]
pub struct OperatorCounters {
    pub records_in: AtomicU64,
    pub records_out: AtomicU64,
    /// Records a `filter` dropped.
    pub filtered: AtomicU64,
    /// Records a window dropped because every window they belong to had fired.
    pub late: AtomicU64,
    /// A `join left`'s records still waiting for a match when the run was
    /// stopped: not emitted as unmatched, since a match could still have come.
    pub unfinished: AtomicU64,
    /// Busy time of the subtask spent in this operator's own work (its
    /// successors in the chain excluded), writing its output included.
    pub busy_nanos: AtomicU64,
    /// A keyed operator's state: entries (a key, or a key in one open
    /// window) and their estimated bytes, now and at most so far.
    pub state_entries: AtomicU64,
    pub state_bytes: AtomicU64,
    pub state_entries_peak: AtomicU64,
    pub state_bytes_peak: AtomicU64,
    /// An `@async` operator's records in flight (calls started and not yet
    /// emitted), the most so far, and the gauge's integral in
    /// record-nanoseconds up to `in_flight_since` (`epoch_nanos`), so the
    /// sampler can take its mean over any stretch (`in_flight_integral`).
    pub in_flight: AtomicU64,
    pub in_flight_peak: AtomicU64,
    pub in_flight_nanos: AtomicU64,
    pub in_flight_since: AtomicU64,
    /// A sink or lookup that talks to a database: its calls and their time.
    pub database: DatabaseCounters,
}

/// Keeps an operator's in-flight gauge (`OperatorCounters::in_flight` and
/// its peak) and the gauge's integral, which the owner alone updates: the
/// count published last held from `since` until each new count.
#[derive(Debug)]
pub struct InFlightGauge {
    nanos: u64,
    since: std::time::Instant,
}

impl Default for InFlightGauge {
    fn default() -> InFlightGauge {
        InFlightGauge { nanos: 0, since: std::time::Instant::now() }
    }
}

impl InFlightGauge {
    /// Publishes `in_flight` as of `now`.
    pub fn publish(&mut self, counters: &OperatorCounters, in_flight: u64, now: std::time::Instant) {
        let elapsed = now.saturating_duration_since(self.since).as_nanos() as u64;
        let previous = counters.in_flight.load(Relaxed);
        self.nanos = self.nanos.saturating_add(previous.saturating_mul(elapsed));
        self.since = now;
        counters.in_flight_nanos.store(self.nanos, Relaxed);
        counters.in_flight_since.store(epoch_nanos(now), Relaxed);
        counters.in_flight.store(in_flight, Relaxed);
        counters.in_flight_peak.fetch_max(in_flight, Relaxed);
    }
}

/// What an operator that talks to a database spent there: a sink's
/// transactions (the statements that carry rows, then the commit), a
/// lookup's queries and its cache. Time is wall time around each call,
/// measured by the subtask that waits for it.
#[derive(Debug, Default)]
pub struct DatabaseCounters {
    pub transactions: AtomicU64,
    pub rows_written: AtomicU64,
    /// Opening a transaction (`BEGIN`): one round trip, nothing else.
    pub begin_nanos: AtomicU64,
    /// The statements that carry the rows (`COPY`, and an upsert's `INSERT`).
    pub write_nanos: AtomicU64,
    pub commit_nanos: AtomicU64,
    pub lookups: AtomicU64,
    pub cache_hits: AtomicU64,
    pub queries: AtomicU64,
    pub keys_queried: AtomicU64,
    pub query_nanos: AtomicU64,
}

impl DatabaseCounters {
    pub fn add_nanos(counter: &AtomicU64, since: std::time::Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Relaxed);
    }
}

impl OperatorCounters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    /// Publishes a keyed operator's state size.
    pub fn set_state(&self, entries: u64, bytes: u64) {
        self.state_entries.store(entries, Relaxed);
        self.state_bytes.store(bytes, Relaxed);
        self.state_entries_peak.fetch_max(entries, Relaxed);
        self.state_bytes_peak.fetch_max(bytes, Relaxed);
    }

    /// The in-flight gauge's integral up to `now_nanos`, in
    /// record-nanoseconds. Read without a lock: a change that lands between
    /// the reads shifts a little of it from one sample to the next.
    pub fn in_flight_integral(&self, now_nanos: u64) -> u64 {
        let since = read(&self.in_flight_since);
        let integral = read(&self.in_flight_nanos);
        let running = now_nanos.saturating_sub(since).saturating_mul(read(&self.in_flight));
        if since == 0 {
            return 0;
        }
        integral.saturating_add(running)
    }
}

impl SubtaskCounters {
    /// Publishes a generator's schedule (see `schedule_start`).
    pub fn publish_schedule(&self, start: Instant, per_second: f64, limit: u64) {
        self.schedule_start.store(epoch_nanos(start), Relaxed);
        self.schedule_limit.store(limit, Relaxed);
        self.schedule_rate_milli.store((per_second * 1000.0).round().max(1.0) as u64, Relaxed);
    }

    /// Records a generator with a rate had made by `now_nanos` and this
    /// subtask has not read: 0 for other sources and tasks.
    pub fn lag_at(&self, now_nanos: u64) -> u64 {
        let rate_milli = read(&self.schedule_rate_milli);
        if rate_milli == 0 {
            return 0;
        }
        let elapsed = now_nanos.saturating_sub(read(&self.schedule_start)) as u128;
        let due = (elapsed * rate_milli as u128 / 1_000_000_000_000) as u64 + 1;
        due.min(read(&self.schedule_limit)).saturating_sub(read(&self.records_in))
    }
}

/// Reads a counter.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

/// A subtask's time counters read at one instant, the running stretch
/// included, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeReading {
    pub busy: u64,
    pub idle: u64,
    pub backpressured: u64,
    /// Per chain operator, in chain order.
    pub operator_busy: Vec<u64>,
}

impl SubtaskCounters {
    /// Reads busy, idle and backpressured time and the busy time of each of
    /// `operators` (the chain's, in chain order) consistently, as of `now_nanos`.
    pub fn read_time(&self, operators: &[Arc<OperatorCounters>], now_nanos: u64) -> TimeReading {
        loop {
            let before = self.live_sequence.load(Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let (state, current) = unpack_live(self.live.load(Relaxed));
            let running = now_nanos.saturating_sub(self.live_since.load(Relaxed));
            let with_running =
                |counter: &AtomicU64, of: TimeState| read(counter) + if state == Some(of) { running } else { 0 };
            let reading = TimeReading {
                busy: with_running(&self.busy_nanos, TimeState::Busy),
                idle: with_running(&self.idle_nanos, TimeState::Idle),
                backpressured: with_running(&self.backpressured_nanos, TimeState::Backpressured),
                operator_busy: operators
                    .iter()
                    .enumerate()
                    .map(|(index, operator)| {
                        let running_here = state == Some(TimeState::Busy) && index == current;
                        read(&operator.busy_nanos) + if running_here { running } else { 0 }
                    })
                    .collect(),
            };
            fence(Acquire);
            if self.live_sequence.load(Relaxed) == before {
                return reading;
            }
        }
    }
}

/// Where a subtask's time goes, as in Flink's task metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeState {
    Busy,
    Idle,
    Backpressured,
}

/// `live`'s low bits once the subtask has ended: no stretch is running.
const FINISHED_BITS: u64 = 3;

fn pack_live(state: Option<TimeState>, operator: usize) -> u64 {
    let bits = match state {
        Some(TimeState::Busy) => 0,
        Some(TimeState::Idle) => 1,
        Some(TimeState::Backpressured) => 2,
        None => FINISHED_BITS,
    };
    (operator as u64) << 2 | bits
}

/// The state (`None` once ended) and the chain operator of a `live` word.
fn unpack_live(live: u64) -> (Option<TimeState>, usize) {
    let state = match live & 0b11 {
        0 => Some(TimeState::Busy),
        1 => Some(TimeState::Idle),
        2 => Some(TimeState::Backpressured),
        _ => None,
    };
    (state, (live >> 2) as usize)
}

/// Nanoseconds since the first time anything asked: one clock for the
/// runtime's threads and the sampler.
pub fn epoch_nanos(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    saturating_nanos(at.saturating_duration_since(epoch))
}

/// Adds the time since the last switch to the state the subtask was in,
/// and, while busy, to the chain operator at work.
pub struct TimeAccount {
    state: TimeState,
    operator: usize,
    since: Instant,
    counters: Arc<SubtaskCounters>,
    /// The chain's operators, in chain order; empty when per-operator time
    /// is off (to measure what it costs).
    operators: Vec<Arc<OperatorCounters>>,
    finished: bool,
}

impl TimeAccount {
    pub fn start(counters: Arc<SubtaskCounters>, operators: Vec<Arc<OperatorCounters>>) -> TimeAccount {
        let mut account = TimeAccount {
            state: TimeState::Busy,
            operator: 0,
            since: Instant::now(),
            counters,
            operators,
            finished: false,
        };
        account.update(|_| ());
        account
    }

    /// Enters `state`, charging the time so far to the previous one, and
    /// returns the previous state so a wait can restore it.
    pub fn switch(&mut self, state: TimeState) -> TimeState {
        let mut previous = state;
        self.update(|account| previous = std::mem::replace(&mut account.state, state));
        previous
    }

    /// Charges the last stretch; from now on the subtask accounts for no time.
    pub fn finish(&mut self) {
        self.update(|account| account.finished = true);
    }

    /// Works for chain operator `operator` from now on; returns the one
    /// before, to restore when its work is done.
    pub fn enter_operator(&mut self, operator: usize) -> usize {
        if operator == self.operator || self.operators.is_empty() {
            return operator;
        }
        let mut previous = operator;
        self.update(|account| previous = std::mem::replace(&mut account.operator, operator));
        previous
    }

    /// Charges the time so far, applies `change`, and publishes the new
    /// state, all inside the sequence lock `read_time` checks.
    fn update(&mut self, change: impl FnOnce(&mut TimeAccount)) {
        let counters = self.counters.clone();
        let sequence = counters.live_sequence.load(Relaxed);
        counters.live_sequence.store(sequence + 1, Relaxed);
        fence(Release);
        self.charge();
        change(self);
        let state = (!self.finished).then_some(self.state);
        counters.live_since.store(epoch_nanos(self.since), Relaxed);
        counters.live.store(pack_live(state, self.operator), Relaxed);
        counters.live_sequence.store(sequence + 2, Release);
    }

    fn charge(&mut self) {
        let now = Instant::now();
        if self.finished {
            self.since = now;
            return;
        }
        let elapsed = saturating_nanos(now.duration_since(self.since));
        let counter = match self.state {
            TimeState::Busy => &self.counters.busy_nanos,
            TimeState::Idle => &self.counters.idle_nanos,
            TimeState::Backpressured => &self.counters.backpressured_nanos,
        };
        counter.fetch_add(elapsed, Relaxed);
        if self.state == TimeState::Busy {
            if let Some(operator) = self.operators.get(self.operator) {
                operator.busy_nanos.fetch_add(elapsed, Relaxed);
            }
        }
        self.since = now;
    }
}

fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Sets a gauge.
pub fn set(counter: &AtomicU64, value: usize) {
    counter.store(value as u64, Relaxed);
}

/// `1.5 MiB`, `320 B`: a measured size, for people.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
