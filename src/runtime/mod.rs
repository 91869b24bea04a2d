//! The local runtime: runs a `PhysicalPlan` as threads, one per subtask,
//! connected by credit-based channels (see ARCHITECTURE.md, "Runtime").
//!
//! `run` wires the channels (`wiring.rs`), builds every subtask's chain
//! with the compiled functions of a `Backend`, starts the threads, watches
//! them (progress, Ctrl-C, the first error), and returns what they counted.
//! The runtime prints nothing itself but the records of `print` sinks.

mod async_call;
mod async_queue;
mod chain;
mod channel;
mod control;
pub mod credit;
mod input;
#[cfg(test)]
mod input_tests;
mod join;
mod join_state;
mod json;
mod key_table;
mod keyed;
#[cfg(test)]
mod keyed_tests;
mod lines;
mod lookup;
mod operator;
mod postgres;
pub mod read;
mod session;
mod sinks;
mod sources;
pub mod temporary;
mod top;
mod window;
mod wiring;
mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::compile::Backend;
use crate::diag::Code;
use crate::metrics::recording::{Interval, Recording};
use crate::metrics::sampler::{SampledKeyEdge, SampledSubtask, SampledTask, Sampler};
use crate::metrics::sketch::KeySketch;
use crate::metrics::{self, OperatorCounters, SubtaskCounters};
use crate::plan::{OperatorId, PhysicalPlan, TaskId};

pub use control::{RunControl, RunError};

/// Whether a sink writes to the process's standard output: `print`, or a
/// file sink on `/dev/stdout` (or `/dev/fd/1`, `/proc/self/fd/1`).
pub fn writes_standard_output(connector: &crate::check::program::SinkConnector) -> bool {
    match connector {
        crate::check::program::SinkConnector::Print => true,
        crate::check::program::SinkConnector::File { path, .. } => {
            sinks::standard_stream(std::path::Path::new(path)) == Some(1)
        }
        crate::check::program::SinkConnector::Discard | crate::check::program::SinkConnector::Postgres(_) => false,
    }
}

/// How to run a plan, beyond what the plan says.
#[derive(Default)]
pub struct RunOptions {
    /// Every sink becomes `discard`: the run measures the pipeline, not its sinks.
    pub discard_sinks: bool,
    /// With `discard_sinks`, PostgreSQL sinks in `upsert` mode still write:
    /// running again leaves their tables as one run would, so `flowc tune`
    /// can measure a job whose limit is its database.
    pub keep_upsert_sinks: bool,
    /// Generators ignore their `rate`.
    pub unthrottled: bool,
    /// Ctrl-C presses so far: the first stops the sources, the second everything.
    pub interrupts: Option<&'static AtomicUsize>,
    /// Called about every `progress_interval` while the run lasts.
    pub progress: Option<ProgressCallback>,
    pub progress_interval: Option<Duration>,
    /// How often the sampler reads the counters; 50 ms when unset.
    pub sample_interval: Option<Duration>,
    /// Only the runtime's own counters: no per-operator time (two clock
    /// reads per operator and batch), no key sketches, no time series.
    /// Benchmarks use it to measure what the report's metrics cost.
    pub lean_metrics: bool,
}

/// Called with a look at the run about every `progress_interval`.
pub type ProgressCallback = Box<dyn FnMut(&Progress)>;

/// A look at a run in progress.
#[derive(Debug, Clone)]
pub struct Progress {
    pub elapsed: Duration,
    /// Records made or read by the sources so far.
    pub source_records: u64,
    pub sink_records: u64,
    pub draining: bool,
    /// Each task's latest sample, in plan order.
    pub tasks: Vec<LiveTask>,
}

/// A task in the latest sample: times in ms per second, the worst subtask's
/// backpressure, pool usages as fractions.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTask {
    pub busy: f64,
    pub backpressured: f64,
    pub idle: f64,
    pub max_backpressured: f64,
    pub records_in_per_second: f64,
    pub out_pool_usage: f64,
    pub in_pool_usage: f64,
}

/// Everything a run counted, by task, subtask and operator.
pub struct RunMetrics {
    /// `subtasks[task][subtask]`.
    pub subtasks: Vec<Vec<Arc<SubtaskCounters>>>,
    /// `operators[operator][subtask]`.
    pub operators: Vec<Vec<Arc<OperatorCounters>>>,
    /// `key_sketches[edge][sending subtask]`: empty unless the edge is hash-partitioned.
    pub key_sketches: Vec<Vec<Arc<Mutex<KeySketch>>>>,
}

/// How a run ended.
pub struct RunOutcome {
    pub wall_time: Duration,
    pub metrics: RunMetrics,
    /// The sampled time series and totals: what the report reads.
    pub recording: Recording,
    /// Set when the run failed; the counters still hold what happened.
    pub error: Option<RunError>,
    /// Ctrl-C presses seen: 1 stopped the sources and drained, 2 stopped at once.
    pub interrupts: usize,
    /// A `print` sink found standard output closed, and the run stopped.
    pub stdout_closed: bool,
    /// The tables read before the first record.
    pub tables_read: Vec<wiring::TableRead>,
    /// What the backend compiled for this run (kernels compiled once,
    /// shared by the subtasks); `None` for the interpreter.
    pub compile: Option<crate::compile::backend::CompileStats>,
}

/// Each subtask thread's stack: chains recurse once per fused operator.
const STACK_SIZE: usize = 16 << 20;

/// Runs `plan` to the end of its input, a failure, or Ctrl-C.
pub fn run(plan: &PhysicalPlan, backend: &dyn Backend, mut options: RunOptions) -> RunOutcome {
    let control = RunControl::new();
    let metrics = RunMetrics {
        subtasks: plan
            .tasks
            .iter()
            .map(|task| (0..task.parallelism).map(|_| Arc::new(SubtaskCounters::default())).collect())
            .collect(),
        operators: plan
            .operators
            .iter()
            .map(|operator| (0..operator.parallelism).map(|_| Arc::new(OperatorCounters::default())).collect())
            .collect(),
        key_sketches: plan
            .edges
            .iter()
            .map(|edge| match edge.partitioning {
                crate::plan::Partitioning::Hash(_) => {
                    (0..plan.operators[edge.from].parallelism).map(|_| Arc::default()).collect()
                }
                _ => Vec::new(),
            })
            .collect(),
    };
    let sample_interval = match options.lean_metrics {
        true => Duration::from_secs(24 * 3600),
        false => options.sample_interval.unwrap_or(Duration::from_millis(50)),
    };
    let start = Instant::now();
    let mut tables_read = Vec::new();
    let compiled_before = backend.compile_stats();
    let built = wiring::build(plan, backend, &options, &metrics, &control, &mut tables_read);
    let compile = backend.compile_stats().map(|after| after.since(compiled_before));
    let subtasks = match built {
        Ok(subtasks) => subtasks,
        Err(error) => {
            let recording = sampler_of(plan, &metrics, sample_interval, start).recording(Instant::now());
            return RunOutcome {
                wall_time: start.elapsed(),
                metrics,
                recording,
                error: Some(error),
                interrupts: 0,
                stdout_closed: false,
                tables_read,
                compile,
            };
        }
    };
    // Sampled from here: reading tables and compiling are no part of any
    // subtask's busy, idle or backpressured time.
    let mut sampler = sampler_of(plan, &metrics, sample_interval, Instant::now());
    let (done_sender, done) = crossbeam_channel::unbounded::<()>();
    let mut handles = Vec::new();
    let total = subtasks.len();
    // A thread that starts with too little address space left aborts the
    // process (its signal stack cannot be allocated), so the stacks are
    // checked against the limit before any starts.
    let mut spawn_error = address_space_short_for(total).map(std::io::Error::other);
    let subtasks = if spawn_error.is_some() { Vec::new() } else { subtasks };
    for (name, subtask) in subtasks {
        let done_sender = done_sender.clone();
        let control = control.clone();
        let thread_name = name.clone();
        let spawned = std::thread::Builder::new().name(thread_name).stack_size(STACK_SIZE).spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| subtask.run()));
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                control.fail(RunError {
                    code: Code::Internal,
                    message: format!("subtask {name} panicked: {message}"),
                    span: None,
                    label: String::new(),
                    help: Some("this is a bug in flowc; please report it with the .flow file".into()),
                });
            }
            let _ = done_sender.send(());
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(error) => {
                spawn_error = Some(error);
                break;
            }
        }
    }
    drop(done_sender);
    if let Some(error) = spawn_error {
        control.fail(RunError {
            code: Code::OutOfResources,
            message: format!("cannot start a thread for every subtask ({total} of them): {error}"),
            span: None,
            label: String::new(),
            help: Some("lower `parallelism` (every subtask is a thread), or raise the limits on threads and memory (`ulimit -u`, `ulimit -v`)".into()),
        });
    }
    let progress_interval = options.progress_interval.unwrap_or(Duration::from_millis(250));
    let mut next_progress = start + progress_interval;
    let mut finished = 0;
    let mut seen_interrupts = 0;
    while finished < handles.len() {
        match done.recv_deadline(sampler.next_due().min(next_progress)) {
            Ok(()) => finished += 1,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if now >= sampler.next_due() {
            sampler.sample(now);
        }
        if let Some(interrupts) = &options.interrupts {
            let pressed = interrupts.load(Ordering::SeqCst);
            if pressed > seen_interrupts {
                seen_interrupts = pressed;
                control.stop_sources();
                if pressed >= 2 {
                    control.stop();
                }
            }
        }
        if now >= next_progress {
            next_progress = now + progress_interval;
            if let Some(progress) = &mut options.progress {
                progress(&progress_of(plan, &metrics, &sampler, start, control.sources_stopped()));
            }
        }
    }
    for handle in handles {
        let _ = handle.join();
    }
    let end = Instant::now();
    sampler.sample(end);
    RunOutcome {
        wall_time: end.duration_since(start),
        metrics,
        recording: sampler.recording(end),
        error: control.take_error(),
        interrupts: seen_interrupts,
        stdout_closed: control.is_stdout_closed(),
        tables_read,
        compile,
    }
}

/// Why `threads` subtask threads would not fit under the process's
/// address-space limit (`ulimit -v`), if they would not: each takes
/// `STACK_SIZE` of it, and its signal stack and the run's buffers more.
fn address_space_short_for(threads: usize) -> Option<String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the limit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmSize:"))?;
    let in_use = line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024;
    let per_thread = STACK_SIZE as u64 + (1 << 20);
    let needed = threads as u64 * per_thread + (64 << 20);
    let left = limit.rlim_cur.saturating_sub(in_use);
    (needed > left).then(|| {
        format!(
            "their stacks need about {} MiB of address space and {} MiB is left under the limit",
            needed >> 20,
            left >> 20
        )
    })
}

fn sampler_of(plan: &PhysicalPlan, metrics: &RunMetrics, interval: Duration, start: Instant) -> Sampler {
    let tasks = plan
        .tasks
        .iter()
        .map(|task| SampledTask {
            name: task.name.clone(),
            subtasks: (0..task.parallelism as usize)
                .map(|subtask| SampledSubtask {
                    counters: metrics.subtasks[task.id][subtask].clone(),
                    operators: task.operators.iter().map(|&op| metrics.operators[op][subtask].clone()).collect(),
                })
                .collect(),
        })
        .collect();
    let key_edges = metrics
        .key_sketches
        .iter()
        .enumerate()
        .filter(|(_, sketches)| !sketches.is_empty())
        .map(|(edge, sketches)| SampledKeyEdge { edge, sketches: sketches.clone() })
        .collect();
    Sampler::new(tasks, key_edges, interval, start)
}

fn progress_of(
    plan: &PhysicalPlan,
    metrics: &RunMetrics,
    sampler: &Sampler,
    start: Instant,
    draining: bool,
) -> Progress {
    // About the last half second.
    let tasks = sampler.recent(10).iter().map(|subtasks| live_task(subtasks)).collect();
    let mut progress = Progress { elapsed: start.elapsed(), source_records: 0, sink_records: 0, draining, tasks };
    for operator in &plan.operators {
        let counters = &metrics.operators[operator.id];
        let sum = |read: fn(&OperatorCounters) -> u64| counters.iter().map(|c| read(c)).sum::<u64>();
        match plan.node(operator.id).kind {
            crate::plan::NodeKind::Source(_) => progress.source_records += sum(|c| metrics::read(&c.records_out)),
            crate::plan::NodeKind::Sink(_) => progress.sink_records += sum(|c| metrics::read(&c.records_in)),
            _ => {}
        }
    }
    progress
}

fn live_task(subtasks: &[Option<Interval>]) -> LiveTask {
    let intervals: Vec<&Interval> = subtasks.iter().flatten().collect();
    let n = intervals.len().max(1) as f64;
    let mean = |value: &dyn Fn(&Interval) -> f64| intervals.iter().map(|i| value(i)).sum::<f64>() / n;
    LiveTask {
        busy: mean(&|i| i.per_second(i.busy_ms)),
        backpressured: mean(&|i| i.per_second(i.backpressured_ms)),
        idle: mean(&|i| i.per_second(i.idle_ms)),
        max_backpressured: intervals.iter().map(|i| i.per_second(i.backpressured_ms)).fold(0.0, f64::max),
        records_in_per_second: intervals.iter().map(|i| i.records_in as f64 * 1000.0 / i.length_ms.max(1e-9)).sum(),
        out_pool_usage: mean(&|i| i.out_pool_usage),
        in_pool_usage: mean(&|i| i.in_pool_usage),
    }
}

impl RunMetrics {
    /// The sum over an operator's subtasks of one counter.
    pub fn operator_total(&self, operator: OperatorId, read: impl Fn(&OperatorCounters) -> u64) -> u64 {
        self.operators[operator].iter().map(|counters| read(counters)).sum()
    }

    /// The sum over a task's subtasks of one counter.
    pub fn task_total(&self, task: TaskId, read: impl Fn(&SubtaskCounters) -> u64) -> u64 {
        self.subtasks[task].iter().map(|counters| read(counters)).sum()
    }
}
