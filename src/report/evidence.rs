//! The verdict as data: `Summary`, what limits the pipeline, and
//! `Evidence`, each fact the verdict rests on, with the task or operator
//! it is about, the measured figures and the threshold each was compared
//! with. Nothing here is English: `words.rs` turns these into the
//! sentences the text and HTML reports print, and the JSON report is
//! these values as they are (`docs/report-json.md`).
//!
//! Ratios are fractions (0 to 1) of the judged stretch; task ids index
//! `Report::tasks`, operator ids the plan's operators; subtask indexes
//! count from 0, as in `SubtaskReport::index`.

use serde::{Deserialize, Serialize};

use super::Status;

/// What limits the pipeline: the verdict's one sentence, as data. When
/// `Report::moving` is set the bottleneck takes turns, and this names the
/// task that holds it longest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Summary {
    /// An operator limits (`Verdict::cause` says how: CPU-bound, I/O-bound,
    /// busy, data skew).
    Operator {
        task: usize,
        task_name: String,
        operator: usize,
        operator_name: String,
        line: usize,
        /// The task fuses other operators with this one.
        in_chain: bool,
        /// With data skew, the subtask that gets most records, and how
        /// many subtasks the task has.
        hot_subtask: Option<u32>,
        parallelism: u32,
    },
    /// The source itself is the busiest work and nothing pushes back.
    Source { task: usize, task_name: String, operator: usize, operator_name: String, line: usize },
    /// The channels between two tasks limit: the credit round trip.
    Channels { from_task: usize, from_task_name: String, to_task: usize, to_task_name: String },
    /// Every task keeps up with its input.
    NoBottleneck,
    /// Too few samples for a verdict (see `Report::too_short`).
    TooShort { judged_ms: f64, samples: u32, sample_interval_ms: f64, needed_samples: u32, needed_ms: f64 },
}

/// Which measurement told computing work from waiting work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuSignal {
    /// CPU time and run-queue wait: the wait is taken out of busy time
    /// before CPU time is compared with the rest (`CPU_BOUND`).
    RunQueue,
    /// CPU time alone, on a machine with cores to spare (`CPU_BOUND`).
    CpuOnly,
    /// CPU time alone while the run kept the machine's cores busy: a
    /// computing thread waits for a core unseen, so the lower
    /// `CPU_BOUND_ON_A_FULL_MACHINE` applies.
    FullMachineFallback,
}

/// A task's place as one input of a join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinInput {
    /// The join's name in the plan, such as `IntervalJoin`.
    pub join: String,
    /// `left` or `right`.
    pub side: String,
}

/// One fact the verdict rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A task blocked on its output: its most backpressured subtask's
    /// ratio was above `threshold` (`BACKPRESSURED`).
    Backpressured {
        task: usize,
        task_name: String,
        ratio: f64,
        status: Status,
        out_pool_usage: f64,
        threshold: f64,
        /// When the task sends straight into a join: which of its inputs it is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        join_input: Option<JoinInput>,
    },
    /// The receiver of a credit round trip has little to do: its busiest
    /// subtask is busy less than `busy_threshold` (`STARVED_BUSY`) and its
    /// input pool is used less than `in_pool_threshold` (`STARVED_IN_POOL`).
    SlowBuffers {
        task: usize,
        task_name: String,
        busy_ratio: f64,
        in_pool_usage: f64,
        busy_threshold: f64,
        in_pool_threshold: f64,
    },
    /// What a buffer and its credit take to cross, and how many buffers a
    /// channel may have in flight; the sender's output pool was used
    /// `out_pool_threshold` (`FULL_OUT_POOL`) or more.
    CreditRoundTrip {
        from_task: usize,
        to_task: usize,
        out_pool_usage: f64,
        out_pool_threshold: f64,
        channel_latency_ms: f64,
        buffers_per_channel: u32,
        floating_buffers: u32,
    },
    /// One subtask of `of` received `share` of the task's records,
    /// `threshold` (`SKEWED`) times the mean or more, and is busy
    /// `busy_threshold` (`SATURATED`) or more, while its siblings are busy
    /// less than `siblings_threshold` (`SIBLINGS_IDLE`) times as much.
    Skew {
        task: usize,
        subtask: u32,
        of: u32,
        share: f64,
        records: u64,
        total: u64,
        busy: f64,
        siblings_busy: f64,
        threshold: f64,
        busy_threshold: f64,
        siblings_threshold: f64,
    },
    /// The heaviest key on the `key_by` edge into the skewed task.
    HotKey { edge: usize, key_by: String, line: usize, key: String, records: u64, share: f64 },
    /// The bottleneck task's time, as means over its subtasks (and its
    /// busiest subtask's busy and most backpressured subtask's ratios).
    Busy {
        task: usize,
        task_name: String,
        busy_ratio: f64,
        max_busy_ratio: f64,
        cpu_ratio: Option<f64>,
        max_backpressured_ratio: f64,
    },
    /// The fused operator that takes most of its task's busy time.
    OperatorShare { task: usize, operator: usize, operator_name: String, line: usize, share: f64 },
    /// Whether the bottleneck's busy time computes: CPU time over busy
    /// time less the run-queue wait, against `threshold`; `run_queue_share`
    /// is the wait over busy time, where it was measured.
    CpuShare { task: usize, cpu_share: f64, run_queue_share: Option<f64>, threshold: f64, signal: CpuSignal },
    /// The operator at the bottleneck talks to a database: what it did
    /// there over the run, and `share` of its busy time it waited on it.
    Database {
        operator: usize,
        operator_name: String,
        line: usize,
        share: f64,
        totals: crate::metrics::recording::DatabaseTotals,
    },
    /// The job's CPU time, in cores, reached `threshold`
    /// (`MACHINE_NEAR_LIMIT`) of the machine's cores.
    MachineNearLimit { cores_used: f64, cores: u32, threshold: f64 },
    /// A bounded job judged over its whole run: the sources ended at
    /// `sources_ended_ms` and the drain after them took `share` of the
    /// run, `threshold` (`DRAIN_WORTH_SAYING`) or more.
    Drain { sources_ended_ms: f64, drain_ms: f64, share: f64, threshold: f64 },
    /// Other programs kept `other_cores` of the machine's `cpus` busy,
    /// `threshold` (`OTHER_PROGRAMS`) or more.
    OtherPrograms { other_cores: f64, cpus: u32, threshold: f64 },
    /// No task is backpressured and none is busy `threshold` (`SATURATED`)
    /// of the time: the busiest.
    NoBackpressure { busiest_task: usize, busiest_task_name: String, busy: f64, threshold: f64 },
    /// A run too short to judge: what it did.
    ShortRunWork { source_records: u64, busy_ms: f64 },
    /// A run too short to judge: why its ratios say nothing.
    ShortRunRatios { samples: u32, needed_samples: u32 },
}

impl Evidence {
    /// The `kind` of every variant, as the JSON spells it.
    pub const KINDS: [&'static str; 15] = [
        "backpressured",
        "slow_buffers",
        "credit_round_trip",
        "skew",
        "hot_key",
        "busy",
        "operator_share",
        "cpu_share",
        "machine_near_limit",
        "drain",
        "other_programs",
        "no_backpressure",
        "short_run_work",
        "short_run_ratios",
        "database",
    ];

    /// The JSON's `kind` of this fact.
    pub fn kind(&self) -> &'static str {
        let index = match self {
            Evidence::Backpressured { .. } => 0,
            Evidence::SlowBuffers { .. } => 1,
            Evidence::CreditRoundTrip { .. } => 2,
            Evidence::Skew { .. } => 3,
            Evidence::HotKey { .. } => 4,
            Evidence::Busy { .. } => 5,
            Evidence::OperatorShare { .. } => 6,
            Evidence::CpuShare { .. } => 7,
            Evidence::MachineNearLimit { .. } => 8,
            Evidence::Drain { .. } => 9,
            Evidence::OtherPrograms { .. } => 10,
            Evidence::NoBackpressure { .. } => 11,
            Evidence::ShortRunWork { .. } => 12,
            Evidence::ShortRunRatios { .. } => 13,
            Evidence::Database { .. } => 14,
        };
        Evidence::KINDS[index]
    }
}
