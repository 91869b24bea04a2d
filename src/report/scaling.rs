//! Parallelism for the whole job at once, the way DS2 (Kalavri et al.,
//! OSDI 2018) and the Flink autoscaler size it: each operator's true
//! processing rate, the sources' wanted rates carried through every
//! operator's selectivity in topological order, and the parallelism each
//! operator needs to take its share, in one step.
//!
//! - An operator's **true rate** is the records one subtask takes per
//!   second of useful time: its own busy time (never idle, never
//!   backpressured) less the time its thread waited for a core, taken on
//!   the slowest subtask. Records over useful time do not care how long
//!   the operator had nothing to do, so a warm-up before the first window
//!   fired does not dilute it.
//! - A source without a wanted rate aims at what it can make: one subtask's
//!   true rate for a file or stdin, as much as the cores allow for a
//!   generator.
//! - Work that computes needs cores: when the whole job at the target would
//!   need more than the machine has free (other programs' share taken
//!   out), the target shrinks to what fits and the limit says so.
//! - Partitioning bounds what more subtasks can do: each subtask after a
//!   `broadcast` still sees every record, a key's records all go to one
//!   subtask, and a file source or a file sink is one subtask.
//! - A proposed change is planned for real (`plan::replan`), so the chains
//!   it splits or merges are the planner's own; a merged chain whose
//!   members would not keep up together keeps the operator apart with
//!   `@new_chain`, or grows as a whole.

use serde::{Deserialize, Serialize};

use crate::check::ops::Pace;
use crate::check::MAX_PARALLELISM;
use crate::diag::line_number;
use crate::metrics::recording::Recording;
use crate::plan::physical::ParallelismOrigin;
use crate::plan::{replan, NodeKind, Override, Partitioning, PhysicalPlan};

use super::waiting::{make_batches_bigger, make_calls_async, talks_to_a_database, BatchChange};
use super::{EdgeKeys, Report};

/// The share of a subtask's time a sized operator may be busy: headroom for
/// bursts and measurement noise (the Flink autoscaler's target utilisation
/// is 0.7; flowc's runs are short and its subtasks threads, so a little more).
pub const TARGET_UTILISATION: f64 = 0.8;
/// Useful time below this many milliseconds gives no rate worth trusting.
const MIN_USEFUL_MS: f64 = 1.0;
/// CPU time over useful time from which an operator needs a core per subtask.
const COMPUTES: f64 = 0.5;
/// Without a wanted rate, one step aims at most this far above today's rate.
const DEFAULT_SPEEDUP: f64 = 4.0;
/// What a subtask adds to each asynchronous call's latency, waking up for
/// its completion: measured at 50–150 µs on a loaded two-core machine.
pub(super) const ASYNC_WAKE_UP: f64 = 200e-6;
/// Rounds of planning a proposal for real and growing what does not keep up.
const PLANNING_ROUNDS: usize = 4;

/// The whole job's proposal: every operator's rates and what to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// The sources' wanted rates, summed, when every source has one.
    pub wanted_per_second: Option<f64>,
    /// What the proposal aims at, and why that.
    pub target_per_second: f64,
    pub aim: Aim,
    /// What the sources made per second over the whole run, drain included.
    pub measured_per_second: f64,
    /// What the job should take once the changes are made.
    pub expected_per_second: f64,
    /// Cores the job's computing work would need at the wanted (or
    /// uncapped) rate, and the cores it can have; `None` without CPU times.
    pub cores_needed: Option<f64>,
    pub cores_free: Option<f64>,
    /// Every operator, in plan order.
    pub operators: Vec<OperatorRate>,
    pub changes: Vec<ParallelismChange>,
    /// Blocking calls that keep their parallelism and make their calls
    /// asynchronously instead, or with more calls in flight.
    #[serde(default)]
    pub async_changes: Vec<AsyncChange>,
    /// Postgres sinks that write larger batches instead of growing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_changes: Vec<BatchChange>,
    /// Operators a change takes out of a chain or puts into one.
    pub chains: Vec<ChainChange>,
    /// Why the target is below the wanted rate, or a change could not be made.
    pub limits: Vec<Limit>,
}

/// Where the target comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aim {
    /// The sources' wanted rates.
    Wanted,
    /// What the free cores allow: less than wanted, or the most without a wanted rate.
    Cores,
    /// No wanted rate: what the sources that read (a file, stdin) can read.
    Sources,
    /// No wanted rate: `DEFAULT_SPEEDUP` × today's rate, for one step.
    Speedup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorRate {
    pub operator: usize,
    pub name: String,
    pub line: usize,
    pub parallelism: u32,
    /// Records one subtask takes per second of useful time, on the slowest
    /// subtask; `None` where it did too little work to measure.
    pub true_rate_per_subtask: Option<f64>,
    /// Records out over records in, over the whole run.
    pub selectivity: f64,
    /// CPU seconds per record; `None` without CPU times.
    pub cpu_per_record: Option<f64>,
    /// What it must take per second, all subtasks, for the target.
    pub target_in_per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelismChange {
    pub operator: usize,
    /// The logical node, for edits to the `.flow` file.
    pub node: usize,
    pub name: String,
    pub line: usize,
    pub from: u32,
    pub to: u32,
    /// What one subtask takes, and what the target asks of each subtask
    /// at `from`: the reason for the change.
    pub true_rate_per_subtask: Option<f64>,
    pub target_in_per_second: f64,
    /// Grown with the chain it shares after the change, not on its own.
    pub with_chain: bool,
}

/// `@async(capacity = to)` on a blocking call: calls in flight instead of
/// threads, so the chain stays as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsyncChange {
    pub operator: usize,
    pub node: usize,
    pub name: String,
    pub line: usize,
    /// The capacity today; `None` for a call that blocks.
    pub from: Option<u32>,
    pub to: u32,
    /// Each call's latency, and the records per second one subtask must take.
    pub latency_ms: f64,
    pub per_subtask_per_second: f64,
    /// Records one call serves: 1 for a `sleep`, a batch for a lookup's query.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub records_per_call: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(value: &f64) -> bool {
    *value == 1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainChange {
    pub operator: usize,
    pub node: usize,
    pub name: String,
    pub line: usize,
    /// Operators it ran with and no longer does.
    pub leaves: Vec<String>,
    /// Operators it did not run with and would.
    pub joins: Vec<String>,
    /// `@new_chain` on it keeps it apart from what it would join.
    pub new_chain: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Limit {
    /// The job's computing work needs more cores than it can have.
    Cores { needed: f64, free: f64, others: f64, cores: u32 },
    /// Sources without a rate, and the job's computing work already uses
    /// every core it can have: more throughput needs more cores.
    CoresInUse { free: f64, others: f64, cores: u32 },
    /// Every subtask after a `broadcast` sees every record.
    Broadcast { operator: usize, name: String, line: usize, per_subtask: f64, true_rate: f64 },
    /// One key's records all go to one subtask.
    HotKey { operator: usize, name: String, line: usize, key: String, share: f64, key_expr: String, key_line: usize },
    /// A file or stdin source, or a file sink: one subtask.
    OneSubtask { operator: usize, name: String, line: usize, needed: u32, source: bool },
    /// The parallelism flowc runs at most.
    MaxParallelism { operator: usize, name: String, line: usize },
}

/// What each operator's input is made of, per subtask at parallelism `p`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Load {
    /// Records every subtask sees (broadcast inputs).
    everyone: f64,
    /// Records split over the subtasks.
    split: f64,
    /// The heaviest key's share of the split records, on a keyed input.
    hot_share: f64,
}

impl Load {
    pub(super) fn per_subtask(&self, p: u32) -> f64 {
        self.everyone + self.split * self.hot_share.max(1.0 / f64::from(p.max(1)))
    }
}

/// The proposal for `report`'s run, or `None` where nothing ran long enough
/// to measure a rate.
pub fn scale(plan: &PhysicalPlan, recording: &Recording, report: &Report, text: &str) -> Option<Scaling> {
    let measured = measure(plan, recording);
    if measured.iter().all(|m| m.true_rate.is_none()) {
        return None;
    }
    let line = |operator: usize| line_number(text, plan.node(operator).span.start);
    let sources: Vec<usize> = (0..plan.operators.len()).filter(|&o| is_source(plan, o)).collect();
    let wanted: Vec<Option<f64>> = sources.iter().map(|&o| wanted_rate(plan, o)).collect();
    let wanted_per_second = wanted.iter().copied().sum::<Option<f64>>();
    let produced: f64 = sources.iter().map(|&o| measured[o].records_in as f64).sum();
    // The job's own rate: records over the whole run, drain included, so a
    // bounded job that drains long is as slow as its completion time says.
    let measured_per_second = produced / (recording.duration_ms / 1000.0).max(1e-9);
    // Each source's target before the cores are counted: its wanted rate,
    // or as much as it can make.
    let mut source_targets: Vec<f64> = sources
        .iter()
        .zip(&wanted)
        .map(|(&o, wanted)| match wanted {
            Some(rate) => *rate,
            None if fixed_parallelism(plan, o) => measured[o].true_rate.unwrap_or(f64::INFINITY),
            None => f64::INFINITY,
        })
        .collect();
    let mut limits = Vec::new();
    let job_cores_now: Option<f64> =
        report.tasks.iter().map(|t| t.cpu_ratio.map(|cpu| cpu * f64::from(t.parallelism))).sum::<Option<f64>>();
    let others = report.machine.map_or(0.0, |machine| machine.other_cores);
    let cores_free = job_cores_now.map(|now| (f64::from(report.cores) - others).max(now).max(0.5));
    // Cores per source record, with every source at its target's share.
    let unit: Vec<f64> = source_targets.iter().map(|t| if t.is_finite() { *t } else { 1.0 }).collect();
    let (unit_loads, _) = propagate(plan, &measured, &sources, &unit, report);
    let unit_total: f64 = unit.iter().sum();
    let cores_per_unit: Option<f64> = measured
        .iter()
        .zip(&unit_loads)
        .map(|(m, load)| m.cpu_per_record.map(|cpu| cpu * load.total))
        .sum::<Option<f64>>()
        .map(|cores| cores / unit_total.max(1e-9));
    // A broadcast receiver that cannot take the wanted rate on one subtask
    // is limited whatever the cores: each subtask sees every record.
    let mut broadcast_limited = vec![false; plan.operators.len()];
    if source_targets.iter().all(|t| t.is_finite()) {
        let (wanted_loads, _) = propagate(plan, &measured, &sources, &source_targets, report);
        for (o, m) in measured.iter().enumerate() {
            let Some(rate) = m.true_rate else { continue };
            let everyone = wanted_loads[o].load.everyone;
            if everyone > 0.0 && everyone >= TARGET_UTILISATION * rate {
                broadcast_limited[o] = true;
                limits.push(Limit::Broadcast {
                    operator: o,
                    name: plan.operators[o].name.clone(),
                    line: line(o),
                    per_subtask: everyone,
                    true_rate: rate,
                });
            }
        }
    }
    // Without a wanted rate, one step aims at most `DEFAULT_SPEEDUP` times
    // today's rate: a bounded job's sources can make far more than any
    // sizing should chase, and `flowc tune` takes further steps.
    let mut aim = if wanted_per_second.is_some() { Aim::Wanted } else { Aim::Sources };
    if wanted_per_second.is_none() {
        let cap = DEFAULT_SPEEDUP * measured_per_second.max(1.0);
        let total: f64 = source_targets.iter().sum();
        if total > cap {
            let shares: Vec<f64> = if total.is_finite() { source_targets.clone() } else { unit.clone() };
            let factor = cap / shares.iter().sum::<f64>().max(1e-9);
            source_targets = shares.iter().map(|share| share * factor).collect();
            aim = Aim::Speedup;
        }
    }
    let uncapped_targets = source_targets.clone();
    let mut cores_needed = None;
    let mut cpu_limited = false;
    if let (Some(per_unit), Some(free)) = (cores_per_unit, cores_free) {
        let total: f64 = source_targets.iter().sum();
        let fits = free / per_unit.max(1e-12); // source records per second the free cores allow
        cores_needed = Some(per_unit * total);
        if total > fits {
            cpu_limited = true;
            let factor = fits / total;
            source_targets.iter_mut().for_each(|target| *target *= factor);
            if wanted_per_second.is_some() {
                limits.push(Limit::Cores { needed: per_unit * total, free, others, cores: report.cores });
            } else if fits <= 1.05 * measured_per_second {
                limits.push(Limit::CoresInUse { free, others, cores: report.cores });
            }
            aim = Aim::Cores;
        }
    }
    let target_per_second: f64 = source_targets.iter().sum();
    let (loads, edge_hot) = propagate(plan, &measured, &sources, &source_targets, report);

    // Each operator on its own.
    let utilisation = |o: usize| if cpu_limited && measured[o].computes() { 1.0 } else { TARGET_UTILISATION };
    let mut proposed: Vec<u32> = plan.operators.iter().map(|op| op.parallelism).collect();
    for (o, m) in measured.iter().enumerate() {
        let Some(rate) = m.true_rate else { continue };
        let load = loads[o].load;
        let capacity = utilisation(o) * rate;
        let current = plan.operators[o].parallelism;
        let needed = if broadcast_limited[o] {
            current
        } else if load.everyone >= capacity {
            limits.push(Limit::Broadcast {
                operator: o,
                name: plan.operators[o].name.clone(),
                line: line(o),
                per_subtask: load.everyone,
                true_rate: rate,
            });
            current
        } else if load.split * load.hot_share > capacity - load.everyone {
            if let Some(hot) = &edge_hot[o] {
                limits.push(hot_key_limit(plan, o, hot, &line));
            }
            (1.0 / load.hot_share).ceil() as u32
        } else {
            (load.split / (capacity - load.everyone)).ceil().max(1.0) as u32
        };
        // Held to the cores, a computing operator gains nothing from more
        // subtasks than there are free cores: on a loaded machine its busy
        // time includes waiting for one, which understates what a subtask
        // takes and would ask for more.
        let needed = match cores_free {
            Some(free) if cpu_limited && m.computes() => needed.min(current.max(free.ceil() as u32)),
            _ => needed,
        };
        proposed[o] = bounded(plan, o, current, needed, &mut limits, &line);
    }
    if cpu_limited {
        hot_keys_behind_the_cores(plan, &measured, &sources, &uncapped_targets, report, &mut limits, &line);
    }

    let async_changes = make_calls_async(plan, recording, &loads, &mut proposed, &mut limits, &line);
    let batch_changes = make_batches_bigger(plan, recording, &loads, &mut proposed, &line);
    let in_flight_fixed: Vec<bool> =
        (0..plan.operators.len()).map(|o| async_changes.iter().any(|change| change.operator == o)).collect();
    // A subtask's share of time an operator needs at parallelism `p`: none
    // for calls made asynchronously with room enough.
    let cost = |o: usize, p: u32| -> f64 {
        if in_flight_fixed[o] {
            return 0.0;
        }
        // Larger batches: each writer at the rate its new batch size gives.
        if let Some(change) = batch_changes.iter().find(|change| change.operator == o) {
            return loads[o].load.per_subtask(p) / change.expected_per_subtask.max(1e-9);
        }
        measured[o].true_rate.map_or(0.0, |rate| loads[o].load.per_subtask(p) / rate)
    };

    // Planned for real: a chain that shares threads must keep up as a whole.
    // Operators kept apart with `@new_chain`, each with those it would join.
    let mut new_chains: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut with_chain = vec![false; plan.operators.len()];
    let mut planned = plan.clone();
    for _ in 0..PLANNING_ROUNDS {
        planned = replan(plan, &overrides(plan, &proposed, &new_chains));
        let mut grew = false;
        for task in &planned.tasks {
            let p = task.parallelism;
            let busy: f64 = task.operators.iter().map(|&o| cost(o, p)).sum();
            let computes = task.operators.iter().any(|&o| measured[o].computes());
            // The target already fits the free cores: a computing chain
            // grown past them would only share them.
            if cpu_limited && computes {
                continue;
            }
            let allowed = TARGET_UTILISATION;
            if busy <= allowed || task.operators.len() < 2 {
                continue;
            }
            // A member that came from another chain: keep it apart as it was.
            let joined = task.operators.iter().copied().skip(1).find(|&o| {
                let before = plan.operators[o].task;
                planned.edges.iter().any(|e| e.to == o && e.chained && plan.operators[e.from].task != before)
                    && !new_chains.iter().any(|(kept, _)| *kept == o)
            });
            if let Some(o) = joined.filter(|&o| !is_source(plan, o)) {
                let before = plan.operators[o].task;
                let would_join = task.operators.iter().copied().filter(|&m| plan.operators[m].task != before).collect();
                new_chains.push((o, would_join));
                grew = true;
                continue;
            }
            let grown = ((f64::from(p) * busy / allowed).ceil() as u32).min(MAX_PARALLELISM);
            if grown > p && task.operators.iter().all(|&o| !fixed_parallelism(plan, o)) {
                for &o in &task.operators {
                    proposed[o] = grown;
                    with_chain[o] = true;
                }
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }

    let changes: Vec<ParallelismChange> = (0..plan.operators.len())
        .filter(|&o| proposed[o] != plan.operators[o].parallelism)
        .map(|o| ParallelismChange {
            operator: o,
            node: plan.operators[o].node.index(),
            name: plan.operators[o].name.clone(),
            line: line(o),
            from: plan.operators[o].parallelism,
            to: proposed[o],
            true_rate_per_subtask: measured[o].true_rate,
            target_in_per_second: loads[o].total,
            with_chain: with_chain[o],
        })
        .collect();
    // Held to the cores with nothing left to change: the cores are the limit.
    let bottleneck = report.bottleneck.as_ref().and_then(|bottleneck| bottleneck.operator);
    let bottleneck_changes = bottleneck.is_some_and(|o| {
        changes.iter().any(|change| change.operator == o) || async_changes.iter().any(|change| change.operator == o)
    });
    if cpu_limited
        && wanted_per_second.is_none()
        && !bottleneck_changes
        && !limits.iter().any(|limit| matches!(limit, Limit::CoresInUse { .. }))
    {
        if let Some(free) = cores_free {
            limits.push(Limit::CoresInUse { free, others, cores: report.cores });
        }
    }
    let chains = chain_changes(plan, &planned, &changes, &new_chains, &line);

    // What the job takes after the changes: the tightest task, and the cores.
    let mut expected = target_per_second;
    for task in &planned.tasks {
        let busy: f64 = task.operators.iter().map(|&o| cost(o, task.parallelism)).sum();
        if busy > 1.0 {
            expected = expected.min(target_per_second / busy);
        }
    }
    if let (Some(per_unit), Some(free)) = (cores_per_unit, cores_free) {
        if per_unit > 0.0 {
            expected = expected.min(free / per_unit);
        }
    }
    let operators = measured
        .iter()
        .enumerate()
        .map(|(o, m)| OperatorRate {
            operator: o,
            name: plan.operators[o].name.clone(),
            line: line(o),
            parallelism: plan.operators[o].parallelism,
            true_rate_per_subtask: m.true_rate,
            selectivity: m.selectivity(),
            cpu_per_record: m.cpu_per_record,
            target_in_per_second: loads[o].total,
        })
        .collect();
    limits.dedup();
    Some(Scaling {
        wanted_per_second,
        target_per_second,
        aim,
        measured_per_second,
        expected_per_second: expected,
        cores_needed,
        cores_free,
        operators,
        changes,
        async_changes,
        batch_changes,
        chains,
        limits,
    })
}

/// What one operator did over the run.
#[derive(Debug, Clone, Default)]
struct Measured {
    records_in: u64,
    records_out: u64,
    true_rate: Option<f64>,
    cpu_per_record: Option<f64>,
}

impl Measured {
    fn selectivity(&self) -> f64 {
        if self.records_in == 0 {
            1.0
        } else {
            self.records_out as f64 / self.records_in as f64
        }
    }

    fn computes(&self) -> bool {
        matches!((self.cpu_per_record, self.true_rate), (Some(cpu), Some(rate)) if cpu * rate >= COMPUTES)
    }
}

fn measure(plan: &PhysicalPlan, recording: &Recording) -> Vec<Measured> {
    let mut measured = vec![Measured::default(); plan.operators.len()];
    for task in &plan.tasks {
        let Some(recorded) = recording.tasks.get(task.id) else { continue };
        // Waits (sleeps, rate limits) take no CPU: the task's CPU time goes
        // to the operators that compute, in proportion to their busy time.
        let waits: Vec<bool> = task.operators.iter().map(|&o| waits(plan, o)).collect();
        for (position, &operator) in task.operators.iter().enumerate() {
            let m = &mut measured[operator];
            let mut rates = Vec::new();
            let mut cpu_ms = Some(0.0);
            for subtask in &recorded.subtasks {
                let totals = &subtask.totals;
                let records = totals.operator_records_in.get(position).copied().unwrap_or(0);
                m.records_in += records;
                m.records_out += totals.operator_records_out.get(position).copied().unwrap_or(0);
                let busy = totals.operator_busy_ms.get(position).copied().unwrap_or(0.0);
                // A computing operator's wait for a core is no work done; a
                // waiting one's wake-ups are part of the wait it stands for.
                let waited_for_core = match totals.run_queue_ms {
                    Some(wait) if totals.busy_ms > 0.0 && !waits[position] => {
                        (wait.min(totals.busy_ms) / totals.busy_ms).min(0.9)
                    }
                    _ => 0.0,
                };
                let useful = busy * (1.0 - waited_for_core);
                rates.push((records, useful));
                let computing_busy: f64 =
                    totals.operator_busy_ms.iter().zip(&waits).filter(|(_, waits)| !**waits).map(|(ms, _)| *ms).sum();
                cpu_ms = match (cpu_ms, totals.cpu_ms) {
                    (Some(sum), Some(cpu)) if !waits[position] && computing_busy > 0.0 => {
                        Some(sum + cpu * busy / computing_busy)
                    }
                    (Some(sum), Some(_)) => Some(sum),
                    _ => None,
                };
            }
            let total: u64 = rates.iter().map(|(records, _)| records).sum();
            // The slowest subtask that did a fair part of the work.
            let floor = (total / 100).max(1);
            m.true_rate = rates
                .iter()
                .filter(|(records, useful)| *records >= floor && *useful >= MIN_USEFUL_MS)
                .map(|(records, useful)| *records as f64 * 1000.0 / useful)
                .min_by(f64::total_cmp);
            m.cpu_per_record = cpu_ms.filter(|_| m.records_in > 0).map(|ms| ms / 1000.0 / m.records_in as f64);
            // A database client's CPU is the protocol's work per call (a
            // transaction, a query), which larger batches spread over more
            // records: it is no cost per record that needs cores.
            if talks_to_a_database(plan, operator) {
                m.cpu_per_record = m.cpu_per_record.map(|_| 0.0);
            }
        }
    }
    measured
}

/// An operator whose busy time is waiting, not computing.
fn waits(plan: &PhysicalPlan, operator: usize) -> bool {
    plan.node(operator).spec().is_some_and(|spec| spec.pace == Pace::Waits)
}

fn is_source(plan: &PhysicalPlan, operator: usize) -> bool {
    matches!(plan.node(operator).kind, NodeKind::Source(_))
}

/// A file or stdin source, or a file sink: one subtask whatever is written.
fn fixed_parallelism(plan: &PhysicalPlan, operator: usize) -> bool {
    matches!(plan.operators[operator].parallelism_origin, ParallelismOrigin::NotParallel(_))
}

fn wanted_rate(plan: &PhysicalPlan, operator: usize) -> Option<f64> {
    match &plan.node(operator).kind {
        NodeKind::Source(source) => source.connector.rate_per_second(),
        _ => None,
    }
}

/// An operator's input at the target: all subtasks together, and per subtask.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Flow {
    pub(super) total: f64,
    pub(super) load: Load,
}

/// The sources' `targets` carried through every operator's selectivity, in
/// topological order (the plan's operator order); with each operator's
/// heaviest input key, where one is known.
#[allow(clippy::type_complexity)]
fn propagate(
    plan: &PhysicalPlan,
    measured: &[Measured],
    sources: &[usize],
    targets: &[f64],
    report: &Report,
) -> (Vec<Flow>, Vec<Option<(String, f64, EdgeKeys)>>) {
    let mut flows = vec![Flow::default(); plan.operators.len()];
    let mut out = vec![0.0; plan.operators.len()];
    let mut hot: Vec<Option<(String, f64, EdgeKeys)>> = vec![None; plan.operators.len()];
    for (o, operator) in plan.operators.iter().enumerate() {
        let mut flow = Flow::default();
        if let Some(at) = sources.iter().position(|&s| s == o) {
            flow.total = targets[at];
            flow.load.split = targets[at];
        }
        for &edge_id in &operator.inputs {
            let edge = &plan.edges[edge_id];
            let sent = out[edge.from];
            match edge.partitioning {
                Partitioning::Broadcast => {
                    flow.load.everyone += sent;
                    flow.total += sent * f64::from(operator.parallelism);
                }
                _ => {
                    flow.load.split += sent;
                    flow.total += sent;
                }
            }
            if let Some(keys) = report.hot_keys.iter().find(|keys| keys.edge == edge_id) {
                if let Some(key) = keys.keys.first() {
                    if hot[o].as_ref().is_none_or(|(_, share, _)| key.share > *share) {
                        hot[o] = Some((key.key.clone(), key.share, keys.clone()));
                    }
                }
            }
        }
        flow.load.hot_share = hot[o].as_ref().map_or(0.0, |(_, share, _)| *share);
        out[o] = flow.total * measured[o].selectivity();
        flows[o] = flow;
    }
    (flows, hot)
}

/// On a job held to the cores, the targets were cut to what the cores can
/// take, and at that pace a hot key may still fit one subtask. With the
/// cores free it would not: a hot key that would then be the limit is
/// named too, so that moving the job to a quieter machine is not the only
/// advice when it would stop at the hot key next.
fn hot_keys_behind_the_cores(
    plan: &PhysicalPlan,
    measured: &[Measured],
    sources: &[usize],
    uncapped_targets: &[f64],
    report: &Report,
    limits: &mut Vec<Limit>,
    line: &dyn Fn(usize) -> usize,
) {
    if !uncapped_targets.iter().all(|target| target.is_finite()) {
        return;
    }
    let (loads, edge_hot) = propagate(plan, measured, sources, uncapped_targets, report);
    for (o, m) in measured.iter().enumerate() {
        let (Some(rate), Some(hot)) = (m.true_rate, &edge_hot[o]) else { continue };
        let load = loads[o].load;
        let named = limits.iter().any(|limit| matches!(limit, Limit::HotKey { operator, .. } if *operator == o));
        if !named && load.split * load.hot_share > TARGET_UTILISATION * rate - load.everyone {
            limits.push(hot_key_limit(plan, o, hot, line));
        }
    }
}

/// Operator `o` limited by the heaviest key on its input.
fn hot_key_limit(
    plan: &PhysicalPlan,
    o: usize,
    (key, share, edge): &(String, f64, EdgeKeys),
    line: &dyn Fn(usize) -> usize,
) -> Limit {
    Limit::HotKey {
        operator: o,
        name: plan.operators[o].name.clone(),
        line: line(o),
        key: key.clone(),
        share: *share,
        key_expr: edge.key.clone(),
        key_line: edge.line,
    }
}

/// `needed` within what the operator can run at; never below `current`.
pub(super) fn bounded(
    plan: &PhysicalPlan,
    operator: usize,
    current: u32,
    needed: u32,
    limits: &mut Vec<Limit>,
    line: &dyn Fn(usize) -> usize,
) -> u32 {
    if needed <= current {
        return current;
    }
    let name = plan.operators[operator].name.clone();
    if fixed_parallelism(plan, operator) {
        limits.push(Limit::OneSubtask {
            operator,
            name,
            line: line(operator),
            needed,
            source: is_source(plan, operator),
        });
        return current;
    }
    if needed > MAX_PARALLELISM {
        limits.push(Limit::MaxParallelism { operator, name, line: line(operator) });
        return MAX_PARALLELISM;
    }
    needed
}

fn overrides(plan: &PhysicalPlan, proposed: &[u32], new_chains: &[(usize, Vec<usize>)]) -> Vec<Override> {
    let mut overrides: Vec<Override> = proposed
        .iter()
        .enumerate()
        .filter(|&(o, &p)| p != plan.operators[o].parallelism)
        .map(|(o, &p)| Override::Parallelism(plan.operators[o].node, p))
        .collect();
    overrides.extend(new_chains.iter().map(|(o, _)| Override::NewChain(plan.operators[*o].node)));
    overrides
}

/// For each changed operator (and each kept apart), what it leaves and joins.
fn chain_changes(
    before: &PhysicalPlan,
    after: &PhysicalPlan,
    changes: &[ParallelismChange],
    new_chains: &[(usize, Vec<usize>)],
    line: &dyn Fn(usize) -> usize,
) -> Vec<ChainChange> {
    let mates = |plan: &PhysicalPlan, o: usize| -> Vec<usize> {
        plan.tasks[plan.operators[o].task].operators.iter().copied().filter(|&m| m != o).collect()
    };
    let mut operators: Vec<usize> =
        changes.iter().map(|c| c.operator).chain(new_chains.iter().map(|(o, _)| *o)).collect();
    operators.sort_unstable();
    operators.dedup();
    operators
        .into_iter()
        .filter_map(|o| {
            let (old, new) = (mates(before, o), mates(after, o));
            let name_of = |m: &usize| before.operators[*m].name.clone();
            let leaves: Vec<String> = old.iter().filter(|m| !new.contains(m)).map(name_of).collect();
            let kept_apart = new_chains.iter().find(|(kept, _)| *kept == o);
            let new_chain = kept_apart.is_some();
            // Kept apart, it joins nothing: say what it would have joined.
            let joins: Vec<String> = match kept_apart {
                Some((_, would_join)) => would_join.iter().map(name_of).collect(),
                None => new.iter().filter(|m| !old.contains(m)).map(name_of).collect(),
            };
            // An operator whose chain only grew or shrank with it (all of a
            // chain changed together) is worth no word.
            let moved_alone = !leaves.is_empty() && changes.iter().any(|c| c.operator == o && !c.with_chain);
            (new_chain || moved_alone || !joins.is_empty()).then(|| ChainChange {
                operator: o,
                node: before.operators[o].node.index(),
                name: before.operators[o].name.clone(),
                line: line(o),
                leaves,
                joins,
                new_chain,
            })
        })
        .collect()
}
