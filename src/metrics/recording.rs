//! A run's metrics as data: per subtask, a time series of intervals and the
//! totals at the end, plus the heaviest keys of every `key_by` edge. The
//! sampler writes it, `--save-metrics` stores it as JSON, and the report
//! reads nothing else, so every verdict can be tested on a fixed recording.
//!
//! The series is bounded: past `MAX_INTERVALS`, neighbouring intervals are
//! merged pairwise, so a long run keeps its whole history at a coarser step.

use serde::{Deserialize, Serialize};

use super::sketch::HeavyKeys;

/// Intervals kept per subtask before they are merged pairwise.
pub const MAX_INTERVALS: usize = 1_024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// The sampler's step at the end of the run, in milliseconds: 50, doubled
    /// each time a long run's intervals were merged pairwise.
    pub sample_interval_ms: f64,
    pub duration_ms: f64,
    /// Indexed by task id, as in the physical plan.
    pub tasks: Vec<TaskRecording>,
    /// Every hash-partitioned edge, with its heaviest keys.
    pub key_edges: Vec<KeyEdgeRecording>,
    /// How busy the whole machine was during the run; absent where unknown
    /// and in recordings made before it was measured.
    #[serde(default)]
    pub machine: Option<super::machine::MachineLoad>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecording {
    pub name: String,
    /// Indexed by subtask.
    pub subtasks: Vec<SubtaskRecording>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtaskRecording {
    pub intervals: Vec<Interval>,
    pub totals: Totals,
}

/// What one subtask did in one stretch of time. Times are milliseconds
/// within the stretch; the usages are fractions (0 to 1) averaged over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub start_ms: f64,
    pub length_ms: f64,
    pub busy_ms: f64,
    pub idle_ms: f64,
    pub backpressured_ms: f64,
    /// `None` where the platform has no thread CPU clock.
    pub cpu_ms: Option<f64>,
    /// Time the thread waited in the run queue for a CPU; `None` where
    /// the platform has no scheduler statistics, or in older recordings.
    #[serde(default)]
    pub run_queue_ms: Option<f64>,
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_out: u64,
    pub buffers_in: u64,
    pub buffers_out: u64,
    pub in_pool_usage: f64,
    pub exclusive_usage: f64,
    pub floating_usage: f64,
    pub out_pool_usage: f64,
    /// A source with a rate: the largest lag seen in the stretch.
    pub lag: u64,
    /// Busy time of each fused operator, in chain order.
    pub operator_busy_ms: Vec<f64>,
    /// Each fused operator's records in flight, mean over the stretch
    /// (0 but for `@async` operators); empty in recordings older than it.
    #[serde(default)]
    pub operator_in_flight: Vec<f64>,
}

/// A subtask's whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_out: u64,
    pub buffers_in: u64,
    pub buffers_out: u64,
    pub busy_ms: f64,
    pub idle_ms: f64,
    pub backpressured_ms: f64,
    pub cpu_ms: Option<f64>,
    #[serde(default)]
    pub run_queue_ms: Option<f64>,
    pub lag_at_end: u64,
    pub lag_max: u64,
    /// A join's subtask: the most one input's watermark ran ahead of the
    /// other's (0 for other subtasks, and in older recordings).
    #[serde(default)]
    pub watermark_gap_max_ms: f64,
    /// Per fused operator, in chain order.
    pub operator_busy_ms: Vec<f64>,
    pub operator_records_in: Vec<u64>,
    pub operator_records_out: Vec<u64>,
    /// Per fused operator, the most state it held: entries and estimated
    /// bytes (0 for operators without keyed state). Absent in recordings
    /// older than these fields.
    #[serde(default)]
    pub operator_state_entries_peak: Vec<u64>,
    #[serde(default)]
    pub operator_state_bytes_peak: Vec<u64>,
    /// Per fused operator, the most records it had in flight (0 but for
    /// `@async` operators); empty in recordings older than it.
    #[serde(default)]
    pub operator_in_flight_peak: Vec<u64>,
    /// Per fused operator, what it did in a database (all zero but for
    /// Postgres sinks and lookups); empty when no operator of the subtask
    /// talks to one, and in older recordings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_database: Vec<DatabaseTotals>,
}

/// A sink's transactions or a lookup's queries over a whole run, and the
/// wall time they took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseTotals {
    pub transactions: u64,
    pub rows_written: u64,
    /// Opening transactions (`BEGIN`): a round trip each.
    pub begin_ms: f64,
    /// The statements that carry the rows (`COPY`, an upsert's `INSERT`).
    pub write_ms: f64,
    pub commit_ms: f64,
    pub lookups: u64,
    pub cache_hits: u64,
    pub queries: u64,
    pub keys_queried: u64,
    pub query_ms: f64,
}

impl DatabaseTotals {
    pub fn is_empty(&self) -> bool {
        self.transactions == 0 && self.lookups == 0 && self.queries == 0
    }

    /// Time in the database, in ms.
    pub fn total_ms(&self) -> f64 {
        self.begin_ms + self.write_ms + self.commit_ms + self.query_ms
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEdgeRecording {
    /// The edge's id in the physical plan.
    pub edge: usize,
    pub heavy: HeavyKeys,
}

impl Interval {
    /// The stretch `other` follows this one: sums, time-weighted averages, maxima.
    pub fn absorb(&mut self, other: &Interval) {
        let (a, b) = (self.length_ms, other.length_ms);
        let average = |x: f64, y: f64| if a + b > 0.0 { (x * a + y * b) / (a + b) } else { 0.0 };
        self.in_pool_usage = average(self.in_pool_usage, other.in_pool_usage);
        self.exclusive_usage = average(self.exclusive_usage, other.exclusive_usage);
        self.floating_usage = average(self.floating_usage, other.floating_usage);
        self.out_pool_usage = average(self.out_pool_usage, other.out_pool_usage);
        for (mine, theirs) in self.operator_in_flight.iter_mut().zip(&other.operator_in_flight) {
            *mine = average(*mine, *theirs);
        }
        self.length_ms += b;
        self.busy_ms += other.busy_ms;
        self.idle_ms += other.idle_ms;
        self.backpressured_ms += other.backpressured_ms;
        self.cpu_ms = self.cpu_ms.zip(other.cpu_ms).map(|(x, y)| x + y);
        self.run_queue_ms = self.run_queue_ms.zip(other.run_queue_ms).map(|(x, y)| x + y);
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.bytes_out += other.bytes_out;
        self.buffers_in += other.buffers_in;
        self.buffers_out += other.buffers_out;
        self.lag = self.lag.max(other.lag);
        for (mine, theirs) in self.operator_busy_ms.iter_mut().zip(&other.operator_busy_ms) {
            *mine += theirs;
        }
    }

    /// Milliseconds per second of `ms` over this stretch, as Flink's `…MsPerSecond`.
    pub fn per_second(&self, ms: f64) -> f64 {
        if self.length_ms > 0.0 {
            ms * 1000.0 / self.length_ms
        } else {
            0.0
        }
    }
}

/// Halves a series by merging neighbours, keeping the total.
pub fn merge_pairs(intervals: &mut Vec<Interval>) {
    let merged = intervals
        .chunks(2)
        .map(|pair| {
            let mut first = pair[0].clone();
            if let Some(second) = pair.get(1) {
                first.absorb(second);
            }
            first
        })
        .collect();
    *intervals = merged;
}

impl Recording {
    /// One line: recordings are for programs, and long.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a recording is plain data")
    }

    pub fn from_json(text: &str) -> Result<Recording, String> {
        serde_json::from_str(text).map_err(|error| format!("not a flowc metrics recording: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(start_ms: f64, busy_ms: f64, out_pool_usage: f64) -> Interval {
        Interval {
            start_ms,
            length_ms: 50.0,
            busy_ms,
            idle_ms: 50.0 - busy_ms,
            backpressured_ms: 0.0,
            cpu_ms: Some(busy_ms),
            run_queue_ms: Some(0.0),
            records_in: 10,
            records_out: 10,
            bytes_out: 80,
            buffers_in: 1,
            buffers_out: 1,
            in_pool_usage: 0.0,
            exclusive_usage: 0.0,
            floating_usage: 0.0,
            out_pool_usage,
            lag: start_ms as u64,
            operator_busy_ms: vec![busy_ms],
            operator_in_flight: vec![start_ms / 50.0],
        }
    }

    #[test]
    fn merging_pairs_keeps_totals_and_averages_usages_by_time() {
        let mut series: Vec<Interval> = (0..5).map(|i| interval(i as f64 * 50.0, 10.0, i as f64 / 4.0)).collect();
        merge_pairs(&mut series);
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].length_ms, 100.0);
        assert_eq!(series[0].busy_ms, 20.0);
        assert_eq!(series[0].records_in, 20);
        assert_eq!(series[0].out_pool_usage, 0.125);
        assert_eq!(series[0].lag, 50);
        assert_eq!(series[2].length_ms, 50.0);
        assert_eq!(series.iter().map(|i| i.records_in).sum::<u64>(), 50);
        assert_eq!(series[1].per_second(series[1].busy_ms), 200.0);
        assert_eq!(series[0].operator_in_flight, [0.5], "in flight 0 then 1: the mean");
    }

    #[test]
    fn recordings_without_in_flight_still_read() {
        let mut value = serde_json::to_value(interval(0.0, 10.0, 0.0)).unwrap();
        value.as_object_mut().unwrap().remove("operator_in_flight");
        let old: Interval = serde_json::from_value(value).unwrap();
        assert!(old.operator_in_flight.is_empty());
        let mut totals = serde_json::to_value(Totals::default()).unwrap();
        totals.as_object_mut().unwrap().remove("operator_in_flight_peak");
        let old: Totals = serde_json::from_value(totals).unwrap();
        assert!(old.operator_in_flight_peak.is_empty());
    }
}
