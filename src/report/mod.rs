//! The backpressure report: from a plan and a `Recording` of its run to a
//! typed `Report` (statuses, the bottleneck, its cause with the evidence
//! as data, moving bottlenecks, source lag, advice in `.flow` terms), and
//! its renderings as text, JSON and one HTML page; `words` makes the
//! verdict's sentences for the text and the page alike.
//!
//! `report` never imports `runtime`: it reasons over recorded metrics only,
//! so every verdict can be tested on a fixed recording. The rules follow
//! Flink's backpressure monitoring: status from the backpressured ratio,
//! the bottleneck as the first task after the last backpressured one, the
//! cause from busy, CPU, pool usages and skew. A run too short to judge
//! gets the numbers and how to lengthen it instead of a verdict.

mod advice;
mod analyze;
pub mod evidence;
pub mod html;
pub mod scaling;
mod short;
mod stats;
pub mod text;
pub mod thresholds;
mod timeline;
mod waiting;
pub mod words;

use serde::{Deserialize, Serialize};

pub use analyze::analyze;
pub use evidence::{CpuSignal, Evidence, JoinInput, Summary};
pub use thresholds::{MIN_SAMPLED_KEYS, MIN_SAMPLES};

/// `0.8` as `80%`.
pub fn text_percent(ratio: f64) -> String {
    words::percent(ratio)
}

/// The version of the JSON schema below; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything `--explain-backpressure` says about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    /// The `.flow` file, as given on the command line.
    pub file: String,
    pub duration_ms: f64,
    /// The stretch the verdict is drawn from: while the sources produced.
    pub analysed_from_ms: f64,
    pub analysed_to_ms: f64,
    /// The machine's cores, for CPU-bound advice.
    pub cores: u32,
    /// In plan order.
    pub tasks: Vec<TaskReport>,
    pub bottleneck: Option<Bottleneck>,
    pub verdict: Verdict,
    /// Set, with `verdict.cause` `too_short` and no bottleneck, when the
    /// judged stretch holds fewer than `MIN_SAMPLES` samples.
    #[serde(default)]
    pub too_short: Option<TooShort>,
    pub moving: Option<MovingBottleneck>,
    /// How busy the whole machine was during the run, flowc and other
    /// programs; absent where unknown.
    #[serde(default)]
    pub machine: Option<crate::metrics::machine::MachineLoad>,
    pub sources: Vec<SourceLag>,
    pub hot_keys: Vec<EdgeKeys>,
    /// Every operator's true rate and the parallelism the whole job needs
    /// (DS2-style); absent when the run is too short or nothing limits it.
    #[serde(default)]
    pub scaling: Option<scaling::Scaling>,
    pub advice: Vec<Advice>,
}

/// Flink's backpressure levels, from the share of time a subtask was
/// blocked on its output: OK ≤ `BACKPRESSURED` (0.10) < LOW ≤ `HIGH` (0.50)
/// < HIGH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Low,
    High,
}

impl Status {
    pub fn of(backpressured_ratio: f64) -> Status {
        if backpressured_ratio > thresholds::HIGH {
            Status::High
        } else if backpressured_ratio > thresholds::BACKPRESSURED {
            Status::Low
        } else {
            Status::Ok
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Low => "LOW",
            Status::High => "HIGH",
        }
    }
}

/// A task over the analysed stretch. Ratios are fractions of time (0 to 1);
/// the busy, backpressured and idle ratios of a task are the means over its
/// subtasks (they add up to 1), its status the worst subtask's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub id: usize,
    pub name: String,
    pub parallelism: u32,
    pub status: Status,
    pub max_backpressured_ratio: f64,
    pub max_busy_ratio: f64,
    pub busy_ratio: f64,
    pub backpressured_ratio: f64,
    pub idle_ratio: f64,
    /// CPU time over wall time, mean over subtasks; `None` where unknown.
    pub cpu_ratio: Option<f64>,
    /// Time waiting in the run queue for a CPU over wall time, mean over
    /// subtasks; `None` where the platform has no scheduler statistics.
    #[serde(default)]
    pub run_queue_ratio: Option<f64>,
    pub records_in_per_second: f64,
    pub records_out_per_second: f64,
    pub bytes_out_per_second: f64,
    /// Records in over the whole run, not only the analysed stretch.
    pub records_in_total: u64,
    pub in_pool_usage: f64,
    pub exclusive_buffers_usage: f64,
    pub floating_buffers_usage: f64,
    pub out_pool_usage: f64,
    pub is_bottleneck: bool,
    /// The tasks this one sends to.
    pub downstream: Vec<usize>,
    pub subtasks: Vec<SubtaskReport>,
    /// The fused operators, in chain order, with their share of the busy time.
    pub operators: Vec<OperatorReport>,
    /// Busy, backpressured and idle ms per second over time, all subtasks.
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtaskReport {
    pub index: u32,
    pub status: Status,
    pub busy_ratio: f64,
    pub backpressured_ratio: f64,
    pub idle_ratio: f64,
    pub cpu_ratio: Option<f64>,
    pub records_in: u64,
    pub records_out: u64,
    pub in_pool_usage: f64,
    pub out_pool_usage: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorReport {
    pub id: usize,
    pub name: String,
    /// 1-based line of the operator in the `.flow` file.
    pub line: usize,
    /// Its share of the task's busy time (0 to 1).
    pub busy_share: f64,
    /// Its busy time per second of wall time, mean over subtasks.
    pub busy_ms_per_second: f64,
    pub records_in: u64,
    pub records_out: u64,
    /// A keyed operator's largest state, summed over its subtasks: entries
    /// (a key, or a key in one open window) and their estimated bytes; 0
    /// for other operators and in recordings older than these fields.
    #[serde(default)]
    pub state_entries: u64,
    #[serde(default)]
    pub state_bytes: u64,
    /// A join's: the most one input's watermark ran ahead of the other's,
    /// in ms, over its subtasks; left out of the JSON for other operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_watermark_gap_ms: Option<f64>,
    /// An `@async` operator's calls per subtask: its capacity, the records
    /// in flight (mean over the judged stretch and subtasks) and the most
    /// any subtask had; left out of the JSON for other operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_flight: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_flight_peak: u64,
    /// A Postgres sink's transactions or a lookup's queries, summed over
    /// its subtasks, with its busy time over the run to compare them with;
    /// left out of the JSON for other operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseReport>,
}

/// What an operator did in a database over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseReport {
    #[serde(flatten)]
    pub totals: crate::metrics::recording::DatabaseTotals,
    /// The operator's busy time over the run, all subtasks, in ms.
    pub busy_ms: f64,
}

impl DatabaseReport {
    /// The share of its busy time spent waiting on the database.
    pub fn share(&self) -> f64 {
        (self.totals.total_ms() / self.busy_ms.max(1e-9)).min(1.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    pub start_ms: f64,
    pub busy_ms_per_second: f64,
    pub backpressured_ms_per_second: f64,
    pub idle_ms_per_second: f64,
}

/// Where the pipeline is limited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    pub task: usize,
    pub task_name: String,
    /// The fused operator that takes most of the task's busy time.
    pub operator: Option<usize>,
    pub operator_name: Option<String>,
    pub line: Option<usize>,
    /// For a credit round trip: the sending task whose channels limit.
    pub from_task: Option<usize>,
    /// The hottest subtask, when the subtasks differ.
    pub subtask: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    CpuBound,
    IoBound,
    /// Busy, where the platform gives no CPU time to tell CPU from I/O.
    Busy,
    DataSkew,
    CreditRoundTrip,
    SourceBound,
    NoBottleneck,
    /// Too few samples for any verdict: see `Report::too_short`.
    TooShort,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::CpuBound => "CPU-bound",
            Cause::IoBound => "I/O-bound",
            Cause::Busy => "busy",
            Cause::DataSkew => "data skew",
            Cause::CreditRoundTrip => "network: credit round trip",
            Cause::SourceBound => "source-bound",
            Cause::NoBottleneck => "no bottleneck",
            Cause::TooShort => "too short to judge",
        }
    }
}

/// What limits the pipeline and why, as data: `words` says it in sentences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub cause: Cause,
    /// What limits the pipeline: the operator, source or channels.
    pub summary: Summary,
    /// The facts the verdict rests on, each with its figures and threshold.
    pub evidence: Vec<Evidence>,
}

/// Why a run got no verdict, with what would be enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TooShort {
    /// The length of the judged stretch.
    pub judged_ms: f64,
    /// Sampler intervals in it, of the subtask with the most.
    pub samples: u32,
    pub sample_interval_ms: f64,
    /// What a verdict needs: `MIN_SAMPLES`, and as long.
    pub needed_samples: u32,
    pub needed_ms: f64,
    /// The busy time of all subtasks together in the judged stretch.
    pub busy_ms: f64,
    /// Records the sources produced in the whole run.
    pub source_records: u64,
}

/// The bottleneck changed over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovingBottleneck {
    /// The tasks that took turns, most frequent first.
    pub tasks: Vec<usize>,
    pub task_names: Vec<String>,
    /// The share of the analysed time each of `tasks` was the bottleneck.
    pub shares: Vec<f64>,
    pub switches: u32,
    /// The mean time between two turns of the same task.
    pub period_ms: Option<f64>,
    pub step_ms: f64,
    /// One symbol per step: `A`, `B`, … for `tasks`, `.` for none.
    pub timeline: String,
}

/// A source with a rate and how far it kept up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceLag {
    pub task: usize,
    pub name: String,
    pub line: usize,
    pub wanted_per_second: f64,
    pub achieved_per_second: f64,
    /// Records it made in the whole run.
    pub produced: u64,
    pub lag_at_end: u64,
    pub lag_max: u64,
}

/// The heaviest keys on a `key_by` edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeKeys {
    pub edge: usize,
    pub from_task: usize,
    pub to_task: usize,
    /// The key expression, as written in the `.flow` file.
    pub key: String,
    pub line: usize,
    pub records: u64,
    /// Records counted for the keys (one in `SAMPLE_EVERY`); `keys` stays
    /// empty below `MIN_SAMPLED_KEYS`, where a share is mostly chance.
    #[serde(default)]
    pub sampled: u64,
    pub keys: Vec<HotKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotKey {
    pub key: String,
    pub records: u64,
    pub share: f64,
}

/// One change to make, in `.flow` terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// What to write or change: `@parallelism(4)`, `buffers_per_channel = 4`.
    pub change: String,
    /// Where: the operator or setting, and its line when it is in the file.
    pub target: String,
    pub line: Option<usize>,
    /// Why it helps.
    pub why: String,
    /// The advice as edits to the `.flow` file, where it can be written
    /// there; `flowc tune` applies them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
}

/// One edit to the `.flow` file that carries out a piece of advice.
/// Operators are named by their logical node, as planned from the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Edit {
    /// `@parallelism(to)` on the operator, replacing one already there.
    Parallelism { node: usize, to: u32 },
    /// `@new_chain` on the operator.
    NewChain { node: usize },
    /// `@async(capacity = n)` on a blocking call, keeping `ordered` as written.
    Async { node: usize, capacity: u32 },
    /// `key = value` in the `config` block, replacing the value there.
    Setting { key: String, value: String },
    /// `name = value` among a sink connector's arguments, replacing it there.
    SinkArgument { node: usize, name: String, value: String },
}

/// For `skip_serializing_if`: a field that only some operators have.
fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
