//! What every subtask counts while it runs: records and bytes in and out,
//! where its time went (busy, idle, backpressured), its buffer pools, and a
//! source's lag. The runtime writes these counters with relaxed atomics; the
//! run summary, the sampler and the report read them from other threads.
//! Nothing here knows about threads or channels.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
}

impl OperatorCounters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }
}

/// Reads a counter.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Relaxed)
}

/// Where a subtask's time goes, as in Flink's task metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeState {
    Busy,
    Idle,
    Backpressured,
}

/// Adds the time since the last switch to the state the subtask was in.
pub struct TimeAccount {
    state: TimeState,
    since: Instant,
}

impl TimeAccount {
    pub fn start() -> TimeAccount {
        TimeAccount { state: TimeState::Busy, since: Instant::now() }
    }

    /// Enters `state`, charging the time so far to the previous one, and
    /// returns the previous state so a wait can restore it.
    pub fn switch(&mut self, state: TimeState, counters: &SubtaskCounters) -> TimeState {
        let now = Instant::now();
        let elapsed = now.duration_since(self.since);
        let counter = match self.state {
            TimeState::Busy => &counters.busy_nanos,
            TimeState::Idle => &counters.idle_nanos,
            TimeState::Backpressured => &counters.backpressured_nanos,
        };
        counter.fetch_add(saturating_nanos(elapsed), Relaxed);
        self.since = now;
        std::mem::replace(&mut self.state, state)
    }
}

fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Sets a gauge.
pub fn set(counter: &AtomicU64, value: usize) {
    counter.store(value as u64, Relaxed);
}
