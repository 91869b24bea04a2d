//! What to change, in `.flow` terms: the attribute or setting, where it
//! goes, and why, following Flink's remedies. Advice targets the
//! bottleneck only: never more parallelism for the backpressured tasks
//! upstream of it, and never more buffers for a throughput problem, except
//! where latency, not work, limits (the credit round trip).

use crate::check::config::SettingOrigin;
use crate::check::program::{OperatorKind, SourceConnector};
use crate::diag::line_number;
use crate::plan::{NodeKind, PhysicalPlan};

use super::analyze::percent;
use super::{Advice, Cause, Report, TaskReport};

/// Headroom over the measured need when sizing parallelism.
const HEADROOM: f64 = 1.2;
/// Without a wanted rate, aim for this much more throughput.
const DEFAULT_SPEEDUP: f64 = 2.0;

pub fn advise(plan: &PhysicalPlan, report: &Report, text: &str) -> Vec<Advice> {
    let mut advice = Vec::new();
    let Some(bottleneck) = &report.bottleneck else {
        return advice;
    };
    let task = &report.tasks[bottleneck.task];
    match report.verdict.cause {
        Cause::CreditRoundTrip => advice.extend(round_trip(plan, report, text)),
        Cause::DataSkew => {
            if let Some(edge) = report.hot_keys.iter().find(|edge| edge.to_task == bottleneck.task) {
                let hot = edge.keys.first().map(|key| key.key.clone()).unwrap_or_default();
                let share = edge.keys.first().map(|key| percent(key.share)).unwrap_or_default();
                advice.push(Advice {
                    change: format!("salt or pre-aggregate the hot key {hot}"),
                    target: format!("`key_by {}`", edge.key),
                    line: Some(edge.line),
                    why: format!(
                        "key {hot} carries {share} of the records, and all records of a key go to one subtask: \
                         more parallelism cannot split it. Key by the key and a salt (for example `hash(id) % 8`) \
                         and aggregate, then key by the key alone to combine the partial results"
                    ),
                });
            }
            advice.push(Advice {
                change: "keep the parallelism".into(),
                target: format!("`{}`", task.name),
                line: None,
                why: format!(
                    "its subtasks without the hot key are busy {} on average; another subtask would get none of the hot key's records",
                    percent(
                        task.subtasks
                            .iter()
                            .filter(|s| Some(s.index) != bottleneck.subtask)
                            .map(|s| s.busy_ratio)
                            .sum::<f64>()
                            / (task.subtasks.len().max(2) - 1) as f64
                    )
                ),
            });
        }
        Cause::CpuBound | Cause::IoBound | Cause::Busy | Cause::SourceBound => {
            let Some(operator) = bottleneck.operator else { return advice };
            advice.extend(more_parallelism(plan, report, operator, text));
        }
        Cause::NoBottleneck | Cause::TooShort => {}
    }
    if let Some(moving) = &report.moving {
        for &turn_task in moving.tasks.iter().filter(|&&t| t != bottleneck.task) {
            let busiest = report.tasks[turn_task]
                .operators
                .iter()
                .max_by(|a, b| a.busy_share.total_cmp(&b.busy_share))
                .map(|op| (op.name.clone(), op.line));
            if let Some((name, line)) = busiest {
                advice.push(Advice {
                    change: "size it for the bursts".into(),
                    target: format!("`{name}`"),
                    line: Some(line),
                    why: format!(
                        "`{}` becomes the bottleneck in bursts (windows firing); give `{name}` enough parallelism \
                         for the burst rate, not the mean, or fire smaller windows more often",
                        report.tasks[turn_task].name
                    ),
                });
            }
        }
    }
    advice
}

/// How many times its present capacity `task` needs to take what the
/// sources want to send it: the sources' wanted rate times the share of
/// their records that reach the task, over what the task takes when busy
/// all the time. `None` without sources that have a rate.
fn needed_speedup(report: &Report, task: &TaskReport) -> Option<f64> {
    let wanted: f64 = report.sources.iter().map(|s| s.wanted_per_second).sum();
    let produced: u64 = report.sources.iter().map(|s| s.produced).sum();
    let reaching = task.records_in_total;
    if wanted <= 0.0 || produced == 0 || task.records_in_per_second <= 0.0 {
        return None;
    }
    let selectivity = (reaching as f64 / produced as f64).min(1.0);
    let capacity = task.records_in_per_second / task.busy_ratio.max(0.05);
    Some(wanted * selectivity / capacity)
}

/// The cores a computing task can have: the machine's, less what other
/// programs took during the run and what the job's other tasks used.
/// `None` without CPU times.
fn free_cores(report: &Report, task: usize) -> Option<f64> {
    let rest: f64 = report
        .tasks
        .iter()
        .filter(|t| t.id != task)
        .map(|t| t.cpu_ratio.map(|cpu| cpu * f64::from(t.parallelism)))
        .sum::<Option<f64>>()?;
    let others = report.machine.map_or(0.0, |machine| machine.other_cores);
    Some((f64::from(report.cores) - others - rest).max(0.0))
}

/// ", after other programs took 1.0 of them", when they took a share worth saying.
fn others_note(report: &Report) -> String {
    match report.machine {
        Some(machine) if machine.other_cores >= super::analyze::OTHER_PROGRAMS => {
            format!(" (other programs took {:.1} of them during the run)", machine.other_cores)
        }
        _ => String::new(),
    }
}

fn more_parallelism(plan: &PhysicalPlan, report: &Report, operator: usize, text: &str) -> Vec<Advice> {
    let mut advice = Vec::new();
    let physical = &plan.operators[operator];
    let node = plan.node(operator);
    let line = line_number(text, node.span.start);
    let task = &report.tasks[physical.task];
    // Below 1 the task keeps up on average: it is a bottleneck in bursts,
    // and the burst rate, not the mean, sizes it.
    let needed = needed_speedup(report, task).filter(|needed| *needed >= 1.0);
    let current = physical.parallelism;
    let wanted = (f64::from(current) * needed.unwrap_or(DEFAULT_SPEEDUP) * HEADROOM).ceil() as u32;
    let wanted = wanted.max(current + 1);
    let pacing = match &node.kind {
        NodeKind::Operator { kind: OperatorKind::Sleep { .. }, .. } => Some("blocking call"),
        NodeKind::Operator { kind: OperatorKind::Throttle { .. }, .. } => Some("rate-limited call"),
        _ => None,
    };
    if report.verdict.cause == Cause::IoBound {
        advice.push(Advice {
            change: "make the call asynchronous or batch it".into(),
            target: format!("`{}`", physical.name),
            line: Some(line),
            why: format!(
                "it waits rather than computes ({} of it is CPU): with many requests in flight (Flink's Async I/O) \
                 or one call per batch, one subtask does the work of many{}",
                task.cpu_ratio.map(|cpu| percent(cpu / task.busy_ratio.max(1e-9))).unwrap_or_else(|| "little".into()),
                pacing.map(|kind| format!("; here it is a {kind}")).unwrap_or_default()
            ),
        });
    }
    let existing = node.attributes().parallelism.map(|(_, span)| line_number(text, span.start));
    let source = match &node.kind {
        NodeKind::Source(source) => Some(source),
        _ => None,
    };
    if source.is_some_and(|s| !matches!(s.connector, SourceConnector::Generate { .. })) {
        advice.push(Advice {
            change: "split the input".into(),
            target: format!("source `{}`", physical.name),
            line: Some(line),
            why: "a file or stdin source reads as one subtask; split the input into several sources and `union` them"
                .into(),
        });
        return advice;
    }
    let mut why = match report.verdict.cause {
        Cause::SourceBound => format!(
            "the source itself is the busiest work and nothing downstream pushes back; {wanted} subtasks make its records in parallel"
        ),
        _ => format!(
            "`{}` is {} busy at parallelism {current}; {}{}",
            physical.name,
            percent(task.max_busy_ratio),
            match needed {
                Some(needed) => format!(
                    "the sources' rate needs {:.1}× what it takes now, so {wanted} subtasks with {}% headroom",
                    needed,
                    ((HEADROOM - 1.0) * 100.0).round()
                ),
                None => format!("{wanted} subtasks aim at {DEFAULT_SPEEDUP}× the throughput"),
            },
            if report.tasks.iter().any(|t| t.status != super::Status::Ok) {
                "; raise the parallelism of this operator only, not of the backpressured ones upstream"
            } else {
                ""
            }
        ),
    };
    let computes = matches!(report.verdict.cause, Cause::CpuBound | Cause::SourceBound);
    let mut wanted = wanted;
    if let Some(free) = computes.then(|| free_cores(report, physical.task)).flatten() {
        // A computing subtask needs a core of its own: more of them than
        // the cores left for this task only share those cores.
        let fits = (free + 0.25).floor().max(1.0) as u32;
        if fits <= current && wanted > current {
            advice.push(Advice {
                change: "give it more cores".into(),
                target: format!("`{}`", physical.name),
                line: Some(line),
                why: format!(
                    "`{}` computes, and the {:.1} of this machine's {} cores it can have{} are already in use by its {current} subtasks: more subtasks would only share them. Run it where {wanted} cores are free, with `@parallelism({wanted})`, or make it cheaper per record",
                    physical.name,
                    free,
                    report.cores,
                    others_note(report)
                ),
            });
            return advice;
        }
        if wanted > fits {
            why.push_str(&format!(
                ", but {fits} is what the {:.1} cores left for it{} can run at once: beyond that, a machine with more cores",
                free,
                others_note(report)
            ));
            wanted = fits;
        }
    }
    advice.push(Advice {
        change: format!("@parallelism({wanted})"),
        target: match existing {
            Some(at) if at == line => format!("`{}`, replacing its `@parallelism({current})`", physical.name),
            Some(_) | None => format!("`{}`", physical.name),
        },
        line: Some(existing.unwrap_or(line)),
        why,
    });
    advice
}

fn round_trip(plan: &PhysicalPlan, report: &Report, text: &str) -> Vec<Advice> {
    let config = &plan.config;
    let Some(bottleneck) = &report.bottleneck else { return Vec::new() };
    let receiver = &report.tasks[bottleneck.task];
    let sender = bottleneck.from_task.map(|task| &report.tasks[task]);
    // Both sides could go this much faster before their own work limits them.
    let headroom = (1.0 / receiver.max_busy_ratio.max(0.05))
        .min(sender.map_or(8.0, |sender| 1.0 / sender.busy_ratio.max(0.05)))
        .clamp(2.0, 8.0);
    let current = config.buffers_per_channel.max(1);
    let wanted = (f64::from(current) * headroom).ceil() as u32;
    let round_trip = crate::check::format_duration(config.channel_latency_nanos.saturating_mul(2));
    let setting_line = |name: &str| match config.origins.get(name) {
        Some(SettingOrigin::File(span)) => Some(line_number(text, span.start)),
        _ => None,
    };
    let mut advice = vec![Advice {
        change: format!("buffers_per_channel = {wanted}"),
        target: "the `config` block".into(),
        line: setting_line("buffers_per_channel"),
        why: format!(
            "a channel carries at most buffers_per_channel buffers per credit round trip ({round_trip} here): \
             with {current} the senders wait for credit while the receivers idle. The limit is latency, not work, \
             so more buffers in flight (not more parallelism) raise throughput"
        ),
    }];
    if config.floating_buffers == 0 {
        advice.push(Advice {
            change: "floating_buffers = 8".into(),
            target: "the `config` block".into(),
            line: setting_line("floating_buffers"),
            why: "floating buffers go to the channels with a backlog, covering bursts without more memory per channel"
                .into(),
        });
    }
    advice
}
