//! From a plan and its recording to a `Report`: statuses, the bottleneck,
//! its cause and the evidence (as `Summary` and `Evidence` values: no
//! sentence is made here), source lag and hot keys. The thresholds
//! (`thresholds.rs`) are Flink's: OK ≤ 10% < LOW ≤ 50% < HIGH
//! backpressured; a bottleneck is typically near 1000 ms/s busy; CPU close
//! to busy is CPU-bound work, busy with little CPU is waiting on something
//! else.

use crate::diag::{line_number, Span};
use crate::metrics::recording::Recording;
use crate::metrics::sketch::SAMPLE_EVERY;
use crate::plan::{NodeKind, Partitioning, PhysicalPlan};

use super::evidence::{CpuSignal, Evidence, JoinInput, Summary};
use super::stats::{max, mean, Stats, TaskStats};
// The words' number formats, where other parts of the report import them.
pub use super::words::{group, percent};
use super::{
    advice, short, timeline, Bottleneck, Cause, EdgeKeys, HotKey, OperatorReport, Report, SourceLag, Status,
    SubtaskReport, TaskReport, Verdict, SCHEMA_VERSION,
};

// The thresholds live in `thresholds.rs`; these names stay importable from here.
pub use super::thresholds::{
    BACKPRESSURED, CPU_BOUND, CPU_BOUND_ON_A_FULL_MACHINE, DRAIN_WORTH_SAYING, MIN_SAMPLED_KEYS, OTHER_PROGRAMS,
    SATURATED, SKEWED,
};
use super::thresholds::{
    FULL_OUT_POOL, MACHINE_NEAR_LIMIT, PRODUCING_SAMPLES, SIBLINGS_IDLE, STARVED_BUSY, STARVED_IN_POOL,
};

/// The facts about one task that locate a bottleneck, for the whole run
/// or one step of the timeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskSummary {
    pub max_backpressured: f64,
    pub max_busy: f64,
    pub ran: bool,
}

impl TaskSummary {
    pub fn of(subtasks: &[Stats]) -> TaskSummary {
        TaskSummary {
            max_backpressured: max(subtasks, Stats::backpressured_ratio),
            max_busy: max(subtasks, Stats::busy_ratio),
            ran: subtasks.iter().any(Stats::ran),
        }
    }

    fn backpressured(&self) -> bool {
        self.ran && self.max_backpressured > BACKPRESSURED
    }
}

/// The task that limits the pipeline: the first one after the last
/// backpressured one (the busiest, if several qualify), or, with no
/// backpressure anywhere, a task busy most of the time. `None` when every
/// task keeps up.
pub fn find_bottleneck(plan: &PhysicalPlan, tasks: &[TaskSummary]) -> Option<usize> {
    let upstream_backpressured =
        |task: usize| upstream_tasks(plan, task).into_iter().any(|upstream| tasks[upstream].backpressured());
    let busiest = |candidates: Vec<usize>| {
        candidates.into_iter().max_by(|&a, &b| tasks[a].max_busy.total_cmp(&tasks[b].max_busy).then(b.cmp(&a)))
    };
    let after_backpressure: Vec<usize> = (0..tasks.len())
        .filter(|&task| tasks[task].ran && !tasks[task].backpressured() && upstream_backpressured(task))
        .collect();
    if let Some(receiver) = busiest(after_backpressure) {
        // A receiver with little to do that also reads a saturated input (a
        // join waiting on its other side) is paced by that input.
        if tasks[receiver].max_busy < SATURATED {
            let paced_by = busiest(
                upstream_tasks(plan, receiver)
                    .into_iter()
                    .filter(|&task| {
                        tasks[task].ran && !tasks[task].backpressured() && tasks[task].max_busy >= SATURATED
                    })
                    .collect(),
            );
            if paced_by.is_some() {
                return paced_by;
            }
        }
        return Some(receiver);
    }
    if tasks.iter().any(TaskSummary::backpressured) {
        // Backpressure with nobody downstream unblocked: take the busiest task downstream of it.
        return busiest((0..tasks.len()).filter(|&task| tasks[task].ran && upstream_backpressured(task)).collect());
    }
    busiest((0..tasks.len()).filter(|&task| tasks[task].ran && tasks[task].max_busy >= SATURATED).collect())
}

/// Tasks that send to `task`.
pub fn upstream_tasks(plan: &PhysicalPlan, task: usize) -> Vec<usize> {
    let mut upstream: Vec<usize> =
        plan.tasks[task].inputs.iter().map(|&edge| plan.operators[plan.edges[edge].from].task).collect();
    upstream.sort_unstable();
    upstream.dedup();
    upstream
}

/// Builds the report of a run of `plan` from its `recording`. `text` is the
/// `.flow` file, for line numbers; `cores` the machine's.
pub fn analyze(plan: &PhysicalPlan, recording: &Recording, file: &str, text: &str, cores: u32) -> Report {
    let stats_over = |from_ms: f64, to_ms: f64| -> Vec<TaskStats> {
        recording
            .tasks
            .iter()
            .map(|task| task.subtasks.iter().map(|subtask| Stats::over(&subtask.intervals, from_ms, to_ms)).collect())
            .collect()
    };
    let (mut from_ms, mut to_ms) = analysed_stretch(plan, recording);
    let mut stats = stats_over(from_ms, to_ms);
    let mut too_short = short::too_short(plan, recording, &stats, from_ms, to_ms);
    if too_short.is_some() && to_ms < recording.duration_ms {
        // The sources stopped early, but the drain after them may be long enough to judge.
        let whole = stats_over(0.0, recording.duration_ms);
        if let short @ None = short::too_short(plan, recording, &whole, 0.0, recording.duration_ms) {
            (from_ms, to_ms, stats, too_short) = (0.0, recording.duration_ms, whole, short);
        }
    }
    let summaries: Vec<TaskSummary> = stats.iter().map(|subtasks| TaskSummary::of(subtasks)).collect();
    let line = |span: Span| line_number(text, span.start);
    let tasks: Vec<TaskReport> =
        stats.iter().enumerate().map(|(task, subtasks)| task_report(plan, recording, task, subtasks, &line)).collect();
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        file: file.to_string(),
        duration_ms: recording.duration_ms,
        analysed_from_ms: from_ms,
        analysed_to_ms: to_ms,
        cores,
        verdict: no_bottleneck(&tasks),
        tasks,
        bottleneck: None,
        too_short: None,
        moving: None,
        machine: recording.machine,
        sources: source_lags(plan, recording, &line),
        hot_keys: hot_keys(plan, recording, text, &line),
        scaling: None,
        advice: Vec::new(),
    };
    if let Some(short) = too_short {
        report.verdict = short::verdict(&short);
        report.advice = short::advice(plan, &short, text);
        report.too_short = Some(short);
        return report;
    }
    report.moving = timeline::moving_bottleneck(plan, recording, from_ms, to_ms);
    // When the bottleneck takes turns, the run-wide averages blur the
    // turns together; the task that holds it longest is the one to name.
    let bottleneck_task = match &report.moving {
        Some(moving) => Some(moving.tasks[0]),
        None => find_bottleneck(plan, &summaries),
    };
    if let Some(task) = bottleneck_task {
        report.tasks[task].is_bottleneck = true;
        (report.bottleneck, report.verdict) =
            diagnose(plan, cores, &report.tasks, &stats, task, &report.hot_keys, &line);
    }
    let evidence = &mut report.verdict.evidence;
    let cpu_used: f64 = report.tasks.iter().filter_map(|t| t.cpu_ratio.map(|cpu| cpu * f64::from(t.parallelism))).sum();
    if cpu_used >= MACHINE_NEAR_LIMIT * f64::from(cores) {
        evidence.push(Evidence::MachineNearLimit { cores_used: cpu_used, cores, threshold: MACHINE_NEAR_LIMIT });
    }
    // Judged over the whole run, drain included: say how much of it the drain was.
    let ended = producing_until(plan, recording);
    let drain_ms = recording.duration_ms - ended;
    let whole_run = to_ms >= recording.duration_ms - 1.0;
    if report.bottleneck.is_some() && whole_run && drain_ms >= DRAIN_WORTH_SAYING * recording.duration_ms {
        evidence.push(Evidence::Drain {
            sources_ended_ms: ended,
            drain_ms,
            share: drain_ms / recording.duration_ms.max(1e-9),
            threshold: DRAIN_WORTH_SAYING,
        });
    }
    if let Some(machine) = recording.machine.filter(|machine| machine.other_cores >= OTHER_PROGRAMS) {
        evidence.push(Evidence::OtherPrograms {
            other_cores: machine.other_cores,
            cpus: machine.cpus,
            threshold: OTHER_PROGRAMS,
        });
    }
    if report.bottleneck.is_some() {
        report.scaling = super::scaling::scale(plan, recording, &report, text);
    }
    report.advice = advice::advise(plan, &report, text);
    report
}

/// While the sources produce: the drain after them says little about the
/// steady state. The whole run when that stretch is too short to judge, or
/// when the drain is longer than it (a bounded job).
fn analysed_stretch(plan: &PhysicalPlan, recording: &Recording) -> (f64, f64) {
    // Every interval starts before the end of the run.
    let whole = (0.0, recording.duration_ms);
    let producing_until = producing_until(plan, recording);
    let drain_ms = recording.duration_ms - producing_until;
    // A bounded job whose drain takes longer than its sources produced is
    // limited by what works through the drain: judge the whole run.
    if producing_until < PRODUCING_SAMPLES * recording.sample_interval_ms
        || drain_ms < 1.0
        || drain_ms > producing_until
    {
        whole
    } else {
        (0.0, producing_until)
    }
}

/// When the sources made or read their last records.
fn producing_until(plan: &PhysicalPlan, recording: &Recording) -> f64 {
    plan.tasks
        .iter()
        .filter(|task| matches!(plan.node(task.head).kind, NodeKind::Source(_)))
        .flat_map(|task| &recording.tasks[task.id].subtasks)
        .flat_map(|subtask| subtask.intervals.iter().filter(|interval| interval.records_in > 0))
        .map(|interval| interval.start_ms + interval.length_ms)
        .fold(0.0, f64::max)
}

fn task_report(
    plan: &PhysicalPlan,
    recording: &Recording,
    task: usize,
    subtasks: &[Stats],
    line: &dyn Fn(Span) -> usize,
) -> TaskReport {
    let plan_task = &plan.tasks[task];
    let sum = |value: fn(&Stats) -> f64| subtasks.iter().map(value).sum::<f64>();
    let cpu_known = subtasks.iter().all(|s| s.cpu_ms.is_some());
    let run_queue_known = subtasks.iter().all(|s| s.run_queue_ms.is_some());
    let total_busy: f64 = sum(|s| s.busy_ms);
    let n_operators = plan_task.operators.len();
    let operator_busy: Vec<f64> = (0..n_operators)
        .map(|i| subtasks.iter().map(|s| s.operator_busy_ms.get(i).copied().unwrap_or(0.0)).sum())
        .collect();
    let operator_total: f64 = operator_busy.iter().sum::<f64>().max(total_busy);
    let totals = &recording.tasks[task].subtasks;
    let mean_length = mean(subtasks, |s| s.length_ms).max(1e-9);
    TaskReport {
        id: task,
        name: plan_task.name.clone(),
        parallelism: plan_task.parallelism,
        status: Status::of(max(subtasks, Stats::backpressured_ratio)),
        max_backpressured_ratio: max(subtasks, Stats::backpressured_ratio),
        max_busy_ratio: max(subtasks, Stats::busy_ratio),
        busy_ratio: mean(subtasks, Stats::busy_ratio),
        backpressured_ratio: mean(subtasks, Stats::backpressured_ratio),
        idle_ratio: mean(subtasks, Stats::idle_ratio),
        cpu_ratio: cpu_known.then(|| mean(subtasks, |s| s.cpu_ratio().unwrap_or(0.0))),
        run_queue_ratio: run_queue_known.then(|| mean(subtasks, |s| s.run_queue_ratio().unwrap_or(0.0))),
        records_in_per_second: subtasks.iter().map(|s| s.rate(s.records_in)).sum(),
        records_out_per_second: subtasks.iter().map(|s| s.rate(s.records_out)).sum(),
        bytes_out_per_second: subtasks.iter().map(|s| s.rate(s.bytes_out)).sum(),
        records_in_total: totals.iter().map(|t| t.totals.records_in).sum(),
        in_pool_usage: mean(subtasks, |s| s.in_pool_usage),
        exclusive_buffers_usage: mean(subtasks, |s| s.exclusive_usage),
        floating_buffers_usage: mean(subtasks, |s| s.floating_usage),
        out_pool_usage: mean(subtasks, |s| s.out_pool_usage),
        is_bottleneck: false,
        downstream: {
            let mut downstream: Vec<usize> =
                plan_task.outputs.iter().map(|&edge| plan.operators[plan.edges[edge].to].task).collect();
            downstream.sort_unstable();
            downstream.dedup();
            downstream
        },
        subtasks: subtasks
            .iter()
            .enumerate()
            .map(|(index, s)| SubtaskReport {
                index: index as u32,
                status: Status::of(s.backpressured_ratio()),
                busy_ratio: s.busy_ratio(),
                backpressured_ratio: s.backpressured_ratio(),
                idle_ratio: s.idle_ratio(),
                cpu_ratio: s.cpu_ratio(),
                records_in: s.records_in,
                records_out: s.records_out,
                in_pool_usage: s.in_pool_usage,
                out_pool_usage: s.out_pool_usage,
            })
            .collect(),
        operators: plan_task
            .operators
            .iter()
            .enumerate()
            .map(|(position, &operator)| OperatorReport {
                id: operator,
                name: plan.operators[operator].name.clone(),
                line: line(plan.node(operator).span),
                busy_share: if operator_total > 0.0 { operator_busy[position] / operator_total } else { 0.0 },
                busy_ms_per_second: operator_busy[position] * 1000.0 / mean_length / subtasks.len().max(1) as f64,
                records_in: totals
                    .iter()
                    .map(|t| t.totals.operator_records_in.get(position).copied().unwrap_or(0))
                    .sum(),
                records_out: totals
                    .iter()
                    .map(|t| t.totals.operator_records_out.get(position).copied().unwrap_or(0))
                    .sum(),
                state_entries: totals
                    .iter()
                    .map(|t| t.totals.operator_state_entries_peak.get(position).copied().unwrap_or(0))
                    .sum(),
                state_bytes: totals
                    .iter()
                    .map(|t| t.totals.operator_state_bytes_peak.get(position).copied().unwrap_or(0))
                    .sum(),
                input_watermark_gap_ms: plan
                    .reads_two_inputs(operator)
                    .then(|| totals.iter().map(|t| t.totals.watermark_gap_max_ms).fold(0.0, f64::max)),
                async_capacity: plan.node(operator).attributes().async_calls.map(|calls| calls.capacity),
                in_flight: mean(subtasks, |s| s.operator_in_flight.get(position).copied().unwrap_or(0.0)),
                in_flight_peak: totals
                    .iter()
                    .map(|t| t.totals.operator_in_flight_peak.get(position).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0),
                database: super::waiting::talks_to_a_database(plan, operator).then(|| super::DatabaseReport {
                    totals: super::waiting::database_totals(plan, recording, operator),
                    busy_ms: totals
                        .iter()
                        .map(|t| t.totals.operator_busy_ms.get(position).copied().unwrap_or(0.0))
                        .sum(),
                }),
            })
            .collect(),
        timeline: timeline::task_timeline(&recording.tasks[task]),
    }
}

/// Why `task` limits the pipeline, with the numbers that say so.
fn diagnose(
    plan: &PhysicalPlan,
    cores: u32,
    tasks: &[TaskReport],
    stats: &[TaskStats],
    task: usize,
    hot_keys: &[EdgeKeys],
    line: &dyn Fn(Span) -> usize,
) -> (Option<Bottleneck>, Verdict) {
    let report = &tasks[task];
    let subtasks = &stats[task];
    let mut evidence = Vec::new();
    let backpressured: Vec<&TaskReport> =
        tasks.iter().filter(|t| t.id != task && t.max_backpressured_ratio > BACKPRESSURED).collect();
    for upstream in &backpressured {
        evidence.push(Evidence::Backpressured {
            task: upstream.id,
            task_name: upstream.name.clone(),
            ratio: upstream.max_backpressured_ratio,
            status: upstream.status,
            out_pool_usage: upstream.out_pool_usage,
            threshold: BACKPRESSURED,
            join_input: join_input(plan, upstream.id),
        });
    }
    let senders: Vec<&TaskReport> = upstream_tasks(plan, task)
        .into_iter()
        .map(|t| &tasks[t])
        .filter(|t| t.max_backpressured_ratio > BACKPRESSURED)
        .collect();

    // The credit round trip: senders blocked on full output pools while the
    // receiver has little to do and its input pool stays nearly empty.
    if report.max_busy_ratio < STARVED_BUSY
        && report.in_pool_usage < STARVED_IN_POOL
        && senders.iter().any(|s| s.out_pool_usage >= FULL_OUT_POOL)
    {
        let sender = senders.iter().max_by(|a, b| a.out_pool_usage.total_cmp(&b.out_pool_usage)).expect("one sender");
        let config = &plan.config;
        evidence.push(Evidence::SlowBuffers {
            task,
            task_name: report.name.clone(),
            busy_ratio: report.max_busy_ratio,
            in_pool_usage: report.in_pool_usage,
            busy_threshold: STARVED_BUSY,
            in_pool_threshold: STARVED_IN_POOL,
        });
        evidence.push(Evidence::CreditRoundTrip {
            from_task: sender.id,
            to_task: task,
            out_pool_usage: sender.out_pool_usage,
            out_pool_threshold: FULL_OUT_POOL,
            channel_latency_ms: config.channel_latency_nanos as f64 / 1e6,
            buffers_per_channel: config.buffers_per_channel,
            floating_buffers: config.floating_buffers,
        });
        let bottleneck = Bottleneck {
            task,
            task_name: report.name.clone(),
            operator: None,
            operator_name: None,
            line: None,
            from_task: Some(sender.id),
            subtask: None,
        };
        let summary = Summary::Channels {
            from_task: sender.id,
            from_task_name: sender.name.clone(),
            to_task: task,
            to_task_name: report.name.clone(),
        };
        return (Some(bottleneck), Verdict { cause: Cause::CreditRoundTrip, summary, evidence });
    }

    // Skew: one subtask takes most records and is saturated, its siblings idle.
    let mean_in = mean(subtasks, |s| s.records_in as f64);
    let (hot_index, hot) = subtasks
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.records_in.cmp(&b.1.records_in).then(b.0.cmp(&a.0)))
        .expect("a task has subtasks");
    let siblings_busy = mean(
        &subtasks.iter().enumerate().filter(|(i, _)| *i != hot_index).map(|(_, s)| s.clone()).collect::<Vec<_>>(),
        Stats::busy_ratio,
    );
    let skewed = subtasks.len() > 1
        && mean_in > 0.0
        && hot.records_in as f64 >= SKEWED * mean_in
        && hot.busy_ratio() >= SATURATED
        && siblings_busy < SIBLINGS_IDLE * hot.busy_ratio();
    let hot_subtask = skewed.then_some(hot_index as u32);
    let (operator_position, operator_share) = slowest_operator(report, if skewed { Some(hot) } else { None });
    let operator = plan.tasks[task].operators[operator_position];
    let operator_name = plan.operators[operator].name.clone();
    let operator_line = line(plan.node(operator).span);
    let bottleneck = Bottleneck {
        task,
        task_name: report.name.clone(),
        operator: Some(operator),
        operator_name: Some(operator_name.clone()),
        line: Some(operator_line),
        from_task: None,
        subtask: hot_subtask,
    };
    let in_chain = plan.tasks[task].operators.len() > 1;
    let operator_summary = |hot_subtask: Option<u32>| Summary::Operator {
        task,
        task_name: report.name.clone(),
        operator,
        operator_name: operator_name.clone(),
        line: operator_line,
        in_chain,
        hot_subtask,
        parallelism: plan.tasks[task].parallelism,
    };
    let total_in: u64 = subtasks.iter().map(|s| s.records_in).sum();
    if skewed {
        evidence.push(Evidence::Skew {
            task,
            subtask: hot_index as u32,
            of: subtasks.len() as u32,
            share: hot.records_in as f64 / total_in.max(1) as f64,
            records: hot.records_in,
            total: total_in,
            busy: hot.busy_ratio(),
            siblings_busy,
            threshold: SKEWED,
            busy_threshold: SATURATED,
            siblings_threshold: SIBLINGS_IDLE,
        });
        if let Some(edge) = hot_keys.iter().find(|edge| edge.to_task == task) {
            if let Some(key) = edge.keys.first() {
                evidence.push(Evidence::HotKey {
                    edge: edge.edge,
                    key_by: edge.key.clone(),
                    line: edge.line,
                    key: key.key.clone(),
                    records: key.records,
                    share: key.share,
                });
            }
        }
        let summary = operator_summary(Some(hot_index as u32));
        return (Some(bottleneck), Verdict { cause: Cause::DataSkew, summary, evidence });
    }

    // Busy and CPU both as means over the subtasks, so they compare.
    evidence.push(Evidence::Busy {
        task,
        task_name: report.name.clone(),
        busy_ratio: report.busy_ratio,
        max_busy_ratio: report.max_busy_ratio,
        cpu_ratio: report.cpu_ratio,
        max_backpressured_ratio: report.max_backpressured_ratio,
    });
    if in_chain {
        evidence.push(Evidence::OperatorShare {
            task,
            operator,
            operator_name: operator_name.clone(),
            line: operator_line,
            share: operator_share,
        });
    }
    let is_source = matches!(plan.node(operator).kind, NodeKind::Source(_));
    // Busy time spent waiting in the run queue for a CPU (other threads or
    // programs held the cores) was no chance to compute: work that computes
    // uses most of the rest, work that waits (sleeps, I/O) little of it.
    // A sleeping thread can wait long for a CPU at each wake-up on a loaded
    // machine, so the wait is taken out of busy time, never added to CPU.
    let busy = report.busy_ratio.max(1e-9);
    let wait = report.run_queue_ratio.unwrap_or(0.0).min(busy);
    let cpu_share = report.cpu_ratio.map(|cpu| (cpu / (busy - wait).max(1e-9)).min(1.0));
    // Without scheduler statistics, on a machine whose cores are all taken,
    // a computing thread waits for a core part of its busy time unseen; a
    // fair share of the cores still marks it CPU-bound, where a sleeping
    // one stays far below.
    let cpu_used: f64 = tasks.iter().filter_map(|t| t.cpu_ratio.map(|cpu| cpu * f64::from(t.parallelism))).sum();
    let (signal, threshold) = match report.run_queue_ratio {
        Some(_) => (CpuSignal::RunQueue, CPU_BOUND),
        None if cpu_used >= MACHINE_NEAR_LIMIT * f64::from(cores) => {
            (CpuSignal::FullMachineFallback, CPU_BOUND_ON_A_FULL_MACHINE)
        }
        None => (CpuSignal::CpuOnly, CPU_BOUND),
    };
    // A source is the limit only when it computes: one that waits (a slow
    // file, a pipe) is I/O-bound like any other waiting work.
    let source_computes = cpu_share.is_none_or(|share| share >= threshold);
    let cause = if is_source && backpressured.is_empty() && source_computes {
        Cause::SourceBound
    } else {
        match cpu_share {
            Some(share) if share >= threshold => Cause::CpuBound,
            Some(_) => Cause::IoBound,
            None => Cause::Busy,
        }
    };
    if let Some(database) = report.operators.iter().find(|op| op.id == operator).and_then(|op| op.database.as_ref()) {
        if !database.totals.is_empty() {
            evidence.push(Evidence::Database {
                operator,
                operator_name: operator_name.clone(),
                line: operator_line,
                share: database.share(),
                totals: database.totals.clone(),
            });
        }
    }
    if let Some(cpu_share) = cpu_share {
        evidence.push(Evidence::CpuShare {
            task,
            cpu_share,
            run_queue_share: report.run_queue_ratio.map(|_| (wait / busy).min(1.0)),
            threshold,
            signal,
        });
    }
    let summary = match cause {
        Cause::SourceBound => Summary::Source {
            task,
            task_name: report.name.clone(),
            operator,
            operator_name: operator_name.clone(),
            line: operator_line,
        },
        _ => operator_summary(None),
    };
    (Some(bottleneck), Verdict { cause, summary, evidence })
}

/// The chain position whose own work takes the most busy time, and its share.
fn slowest_operator(report: &TaskReport, hot: Option<&Stats>) -> (usize, f64) {
    let shares: Vec<f64> = match hot {
        Some(stats) => {
            let total: f64 = stats.operator_busy_ms.iter().sum::<f64>().max(1e-9);
            stats.operator_busy_ms.iter().map(|ms| ms / total).collect()
        }
        None => report.operators.iter().map(|op| op.busy_share).collect(),
    };
    // A recording may come from a file: never trust its lengths.
    shares
        .iter()
        .copied()
        .take(report.operators.len())
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .unwrap_or((0, 0.0))
}

fn no_bottleneck(tasks: &[TaskReport]) -> Verdict {
    let busiest = tasks.iter().max_by(|a, b| a.max_busy_ratio.total_cmp(&b.max_busy_ratio));
    let evidence = busiest
        .map(|task| {
            vec![Evidence::NoBackpressure {
                busiest_task: task.id,
                busiest_task_name: task.name.clone(),
                busy: task.max_busy_ratio,
                threshold: SATURATED,
            }]
        })
        .unwrap_or_default();
    Verdict { cause: Cause::NoBottleneck, summary: Summary::NoBottleneck, evidence }
}

fn source_lags(plan: &PhysicalPlan, recording: &Recording, line: &dyn Fn(Span) -> usize) -> Vec<SourceLag> {
    let mut lags = Vec::new();
    for task in &plan.tasks {
        let NodeKind::Source(source) = &plan.node(task.head).kind else { continue };
        let Some(rate) = source.connector.rate_per_second() else {
            continue;
        };
        let subtasks = &recording.tasks[task.id].subtasks;
        let produced: u64 = subtasks.iter().map(|s| s.totals.records_in).sum();
        let producing_ms = subtasks
            .iter()
            .flat_map(|s| s.intervals.iter().filter(|i| i.records_in > 0).map(|i| i.start_ms + i.length_ms))
            .fold(0.0, f64::max);
        let steps = subtasks.iter().map(|s| s.intervals.len()).max().unwrap_or(0);
        let lag_max = (0..steps)
            .map(|step| subtasks.iter().filter_map(|s| s.intervals.get(step)).map(|i| i.lag).sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(subtasks.iter().map(|s| s.totals.lag_max).max().unwrap_or(0));
        lags.push(SourceLag {
            task: task.id,
            name: source.name.clone(),
            line: line(source.name_span),
            wanted_per_second: rate,
            produced,
            achieved_per_second: if producing_ms > 0.0 { produced as f64 * 1000.0 / producing_ms } else { 0.0 },
            lag_at_end: subtasks.iter().map(|s| s.totals.lag_at_end).sum(),
            lag_max,
        });
    }
    lags
}

fn hot_keys(plan: &PhysicalPlan, recording: &Recording, text: &str, line: &dyn Fn(Span) -> usize) -> Vec<EdgeKeys> {
    recording
        .key_edges
        .iter()
        .filter_map(|recorded| {
            let edge = plan.edges.get(recorded.edge)?;
            let Partitioning::Hash(key) = &edge.partitioning else { return None };
            let records = recorded.heavy.records;
            let sampled = recorded.heavy.sampled.unwrap_or(records / SAMPLE_EVERY);
            Some(EdgeKeys {
                edge: edge.id,
                from_task: plan.operators[edge.from].task,
                to_task: plan.operators[edge.to].task,
                key: text.get(key.span.start..key.span.end).unwrap_or(&key.name).to_string(),
                line: line(key.span),
                records,
                sampled,
                keys: recorded
                    .heavy
                    .keys
                    .iter()
                    .take(if sampled >= MIN_SAMPLED_KEYS { 5 } else { 0 })
                    .map(|k| HotKey {
                        key: k.key.clone(),
                        records: k.records,
                        share: if records > 0 { k.records as f64 / records as f64 } else { 0.0 },
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Which input of a join `task` sends to directly, if it does.
fn join_input(plan: &PhysicalPlan, task: usize) -> Option<JoinInput> {
    plan.tasks[task].outputs.iter().map(|&edge| &plan.edges[edge]).find_map(|edge| {
        let side = plan.join_side(edge)?;
        Some(JoinInput { join: plan.operators[edge.to].name.clone(), side: side.to_string() })
    })
}
