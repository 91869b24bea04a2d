//! Every threshold the report judges by, in one place, each with its name
//! and why it has its value. The analysis compares figures with these; the
//! evidence carries the value it was compared with, so a reader of the
//! JSON sees which line a figure crossed. Advice sizing (headroom, the
//! default speed-up) belongs to `advice.rs`, not here.

/// A join's inputs' watermarks this far apart (ms) are named beside its
/// state: records of the input ahead wait for the other to catch up.
pub const WATERMARK_GAP_WORTH_SAYING_MS: f64 = 100.0;
/// Backpressured more than this share of the time: the task waits for a
/// slower one downstream (Flink's OK ≤ 10% < LOW).
pub const BACKPRESSURED: f64 = 0.10;
/// Backpressured more than this share of the time: status HIGH (Flink's
/// LOW ≤ 50% < HIGH).
pub const HIGH: f64 = 0.50;
/// Busy at least this share of the time, without backpressure anywhere:
/// the task limits the pipeline.
pub const SATURATED: f64 = 0.70;
/// CPU time over busy time (less the run-queue wait) from which busy work
/// counts as CPU-bound.
pub const CPU_BOUND: f64 = 0.60;
/// The same without run-queue times, when the run keeps every core busy
/// (`MACHINE_NEAR_LIMIT`): a computing thread then waits for a core part
/// of its busy time unseen, and a fair share of the cores still marks it
/// CPU-bound, where a sleeping one stays far below.
pub const CPU_BOUND_ON_A_FULL_MACHINE: f64 = 0.30;
/// The job's CPU time, in cores, over the machine's cores from which the
/// machine itself counts as near its limit.
pub const MACHINE_NEAR_LIMIT: f64 = 0.9;
/// Cores other programs must keep busy, on average over the run, for the
/// report to say the machine was shared.
pub const OTHER_PROGRAMS: f64 = 0.25;
/// The share of a run after the sources ended that the evidence mentions.
pub const DRAIN_WORTH_SAYING: f64 = 0.5;
/// The sources must produce for at least this many sampler intervals for
/// the verdict to be drawn while they produce; less, and the whole run is
/// judged.
pub const PRODUCING_SAMPLES: f64 = 4.0;
/// The hottest subtask receives this many times the mean of its task's
/// subtasks: skew (and the text report lists the subtasks).
pub const SKEWED: f64 = 1.5;
/// With skew, the hot subtask's siblings are busy less than this share of
/// its own busy ratio: they have little to do.
pub const SIBLINGS_IDLE: f64 = 0.5;
/// A credit round trip limits when the receiver is busy less than this…
pub const STARVED_BUSY: f64 = 0.5;
/// …its input pool is used less than this…
pub const STARVED_IN_POOL: f64 = 0.5;
/// …and a backpressured sender's output pool is used at least this much.
pub const FULL_OUT_POOL: f64 = 0.5;
/// Sampled records an edge needs before the report names its heaviest
/// keys: with 100, a share's standard error is at most 5 points, where 2
/// records of 29 made one key of four "100%".
pub const MIN_SAMPLED_KEYS: u64 = 100;
/// The share of an edge's records its heaviest key needs for the report
/// to list the heaviest keys.
pub const HEAVY_KEY_WORTH_SAYING: f64 = 0.05;
/// Sampler intervals a verdict needs: 0.5 s at the 50 ms sampler. Fewer,
/// and one burst or one pause decides every ratio.
pub const MIN_SAMPLES: u32 = 10;
/// A task must be the bottleneck this share of the timeline's steps to
/// count as taking turns.
pub const MOVING_SHARE: f64 = 0.15;
/// The bottleneck must change hands this many times to count as moving.
pub const MOVING_SWITCHES: u32 = 3;
/// Subtasks are listed when their busy or backpressured ratios spread this much.
pub const SUBTASKS_DIFFER: f64 = 0.20;
/// The busiest subtask is named beside its task's mean when it is busier
/// by more than this.
pub const BUSIEST_SUBTASK_WORTH_SAYING: f64 = 0.10;
/// The run-queue wait is named when it takes at least this share of busy time.
pub const RUN_QUEUE_WORTH_SAYING: f64 = 0.05;
