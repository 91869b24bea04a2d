//! Sums of a subtask's recorded intervals over a stretch of time, and the
//! ratios the report reasons with. Ratios are over the whole stretch: a
//! subtask that ended early was neither busy nor idle after its end, so a
//! source that finished in 10 ms of an 8 s job is not "busy" for it.

use crate::metrics::recording::Interval;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub length_ms: f64,
    pub busy_ms: f64,
    pub idle_ms: f64,
    pub backpressured_ms: f64,
    pub cpu_ms: Option<f64>,
    /// Waiting in the run queue for a CPU; `None` where unknown.
    pub run_queue_ms: Option<f64>,
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_out: u64,
    pub in_pool_usage: f64,
    pub exclusive_usage: f64,
    pub floating_usage: f64,
    pub out_pool_usage: f64,
    pub lag_max: u64,
    pub operator_busy_ms: Vec<f64>,
    /// Each operator's records in flight, mean over the time the subtask ran.
    pub operator_in_flight: Vec<f64>,
}

impl Stats {
    /// The intervals that start within `[from_ms, to_ms)`.
    pub fn over(intervals: &[Interval], from_ms: f64, to_ms: f64) -> Stats {
        let mut stats = Stats { cpu_ms: Some(0.0), run_queue_ms: Some(0.0), ..Stats::default() };
        let mut usage_weight = 0.0;
        for interval in intervals.iter().filter(|i| i.start_ms >= from_ms && i.start_ms < to_ms) {
            stats.length_ms += interval.length_ms;
            stats.busy_ms += interval.busy_ms;
            stats.idle_ms += interval.idle_ms;
            stats.backpressured_ms += interval.backpressured_ms;
            stats.cpu_ms = stats.cpu_ms.zip(interval.cpu_ms).map(|(a, b)| a + b);
            stats.run_queue_ms = stats.run_queue_ms.zip(interval.run_queue_ms).map(|(a, b)| a + b);
            stats.records_in += interval.records_in;
            stats.records_out += interval.records_out;
            stats.bytes_out += interval.bytes_out;
            // Pools are only meaningful while the subtask runs.
            let weight = interval.busy_ms + interval.idle_ms + interval.backpressured_ms;
            usage_weight += weight;
            stats.in_pool_usage += interval.in_pool_usage * weight;
            stats.exclusive_usage += interval.exclusive_usage * weight;
            stats.floating_usage += interval.floating_usage * weight;
            stats.out_pool_usage += interval.out_pool_usage * weight;
            stats.lag_max = stats.lag_max.max(interval.lag);
            if stats.operator_busy_ms.len() < interval.operator_busy_ms.len() {
                stats.operator_busy_ms.resize(interval.operator_busy_ms.len(), 0.0);
            }
            for (sum, ms) in stats.operator_busy_ms.iter_mut().zip(&interval.operator_busy_ms) {
                *sum += ms;
            }
            if stats.operator_in_flight.len() < interval.operator_in_flight.len() {
                stats.operator_in_flight.resize(interval.operator_in_flight.len(), 0.0);
            }
            for (sum, in_flight) in stats.operator_in_flight.iter_mut().zip(&interval.operator_in_flight) {
                *sum += in_flight * weight;
            }
        }
        if usage_weight > 0.0 {
            stats.in_pool_usage /= usage_weight;
            stats.exclusive_usage /= usage_weight;
            stats.floating_usage /= usage_weight;
            stats.out_pool_usage /= usage_weight;
            stats.operator_in_flight.iter_mut().for_each(|in_flight| *in_flight /= usage_weight);
        }
        stats
    }

    fn accounted_ms(&self) -> f64 {
        self.busy_ms + self.idle_ms + self.backpressured_ms
    }

    fn ratio(&self, ms: f64) -> f64 {
        // Intervals are the stretch; the time a subtask accounted for can
        // exceed them by a rounding, never fall short but after its end.
        let over = self.length_ms.max(self.accounted_ms());
        if over > 0.0 {
            (ms / over).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    pub fn busy_ratio(&self) -> f64 {
        self.ratio(self.busy_ms)
    }

    pub fn backpressured_ratio(&self) -> f64 {
        self.ratio(self.backpressured_ms)
    }

    pub fn idle_ratio(&self) -> f64 {
        if self.accounted_ms() > 0.0 {
            self.ratio(self.idle_ms)
        } else {
            1.0
        }
    }

    pub fn cpu_ratio(&self) -> Option<f64> {
        self.cpu_ms.map(|cpu| self.ratio(cpu))
    }

    pub fn run_queue_ratio(&self) -> Option<f64> {
        self.run_queue_ms.map(|wait| self.ratio(wait))
    }

    /// Whether the subtask ran at all in the stretch.
    pub fn ran(&self) -> bool {
        self.accounted_ms() > 0.0
    }

    /// Records per second of wall time.
    pub fn rate(&self, records: u64) -> f64 {
        if self.length_ms > 0.0 {
            records as f64 * 1000.0 / self.length_ms
        } else {
            0.0
        }
    }
}

/// Per task, per subtask.
pub type TaskStats = Vec<Stats>;

/// The mean of `value` over the subtasks that ran.
pub fn mean(subtasks: &[Stats], value: impl Fn(&Stats) -> f64) -> f64 {
    let ran: Vec<&Stats> = subtasks.iter().filter(|s| s.ran()).collect();
    if ran.is_empty() {
        return 0.0;
    }
    ran.iter().map(|s| value(s)).sum::<f64>() / ran.len() as f64
}

pub fn max(subtasks: &[Stats], value: impl Fn(&Stats) -> f64) -> f64 {
    subtasks.iter().filter(|s| s.ran()).map(value).fold(0.0, f64::max)
}
