//! What to change, in `.flow` terms: the attribute or setting, where it
//! goes, and why, following Flink's remedies. Advice targets the
//! bottleneck only: never more parallelism for the backpressured tasks
//! upstream of it, and never more buffers for a throughput problem, except
//! where latency, not work, limits (the credit round trip).

use crate::check::config::SettingOrigin;
use crate::check::program::OperatorKind;
use crate::diag::line_number;
use crate::plan::{NodeKind, PhysicalPlan};

use super::analyze::percent;
use super::scaling::{Aim, ChainChange, Limit, ParallelismChange, Scaling};
use super::{Advice, Cause, Edit, Report};

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
                let head = plan.tasks[edge.to_task].head;
                if let Some(join) = hot_key_into_a_join(plan, head, &hot, &share, &edge.key, edge.line) {
                    advice.push(join);
                } else {
                    advice.push(Advice {
                        change: format!("salt or pre-aggregate the hot key {hot}"),
                        target: format!("`key_by {}`", edge.key),
                        line: Some(edge.line),
                        why: format!(
                            "key {hot} carries {share} of the records, and all records of a key go to one subtask: \
                         more parallelism cannot split it. Key by the key and a salt (for example `hash(id) % 8`) \
                         and aggregate, then key by the key alone to combine the partial results"
                        ),
                        edits: Vec::new(),
                    });
                }
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
                edits: Vec::new(),
            });
        }
        Cause::CpuBound | Cause::IoBound | Cause::Busy | Cause::SourceBound => {
            let Some(operator) = bottleneck.operator else { return advice };
            advice.extend(whole_job(plan, report, operator, text));
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
                    edits: Vec::new(),
                });
            }
        }
    }
    advice
}

/// Advice from the whole job's proposal (`scaling`): the parallelism of
/// every operator that needs a change, the chains that change with it,
/// and what parallelism cannot fix.
fn whole_job(plan: &PhysicalPlan, report: &Report, bottleneck: usize, text: &str) -> Vec<Advice> {
    let mut advice = Vec::new();
    let Some(scaling) = &report.scaling else { return advice };
    let physical = &plan.operators[bottleneck];
    let node = plan.node(bottleneck);
    let line = line_number(text, node.span.start);
    let task = &report.tasks[physical.task];
    let made_async = scaling.async_changes.iter().any(|change| change.operator == bottleneck);
    let batched = scaling.batch_changes.iter().any(|change| change.operator == bottleneck);
    if report.verdict.cause == Cause::IoBound && !made_async && !batched {
        let cpu = task.cpu_ratio.map(|cpu| percent(cpu / task.busy_ratio.max(1e-9))).unwrap_or_else(|| "little".into());
        advice.push(match &node.kind {
            NodeKind::Operator { kind: OperatorKind::Throttle { per_second }, .. } => Advice {
                change: "batch the calls, or raise the limit".into(),
                target: format!("`{}`", physical.name),
                line: Some(line),
                why: format!(
                    "it waits for a rate limit of {}/s per subtask ({cpu} of its time is CPU): where the limit counts calls, one call per batch of records does the work of many; where it belongs to the other system as a whole, more subtasks will not raise it",
                    rate(*per_second)
                ),
                edits: Vec::new(),
            },
            // Any other operator that waits makes a call to another system.
            NodeKind::Operator { .. } | NodeKind::Source(_) | NodeKind::Union | NodeKind::Sink(_) => Advice {
                change: "make the call asynchronous or batch it".into(),
                target: format!("`{}`", physical.name),
                line: Some(line),
                why: format!(
                    "it waits rather than computes ({cpu} of it is CPU): with many requests in flight (Flink's Async I/O) \
                     or one call per batch, one subtask does the work of many"
                ),
                edits: Vec::new(),
            },
        });
    }
    let wanted = match scaling.aim {
        Aim::Wanted => format!("the sources' {}/s", rate(scaling.target_per_second)),
        Aim::Cores => format!("the {}/s the free cores allow", rate(scaling.target_per_second)),
        Aim::Sources => format!("the {}/s its sources can read", rate(scaling.target_per_second)),
        Aim::Speedup => format!("{}/s (four times today's rate)", rate(scaling.target_per_second)),
    };
    // The bottleneck's change first, then the others in plan order.
    let mut changes: Vec<&ParallelismChange> = scaling.changes.iter().collect();
    changes.sort_by_key(|change| (change.operator != bottleneck, change.operator));
    for change in changes {
        let existing =
            plan.node(change.operator).attributes().parallelism.map(|(_, span)| line_number(text, span.start));
        let per_subtask = change.target_in_per_second / f64::from(change.to.max(1));
        let mut why = match change.true_rate_per_subtask {
            Some(true_rate) if change.with_chain => format!(
                "`{}` shares its chain, and so its threads, with the operators around it; together they need {} subtasks for {wanted} (one subtask of `{}` alone takes {}/s)",
                change.name,
                change.to,
                change.name,
                rate(true_rate)
            ),
            Some(true_rate) => format!(
                "one subtask of `{}` takes {}/s (its records over its own busy time, slowest subtask); for {wanted} it must take {}/s, so {} subtasks at about {} busy",
                change.name,
                rate(true_rate),
                rate(change.target_in_per_second),
                change.to,
                percent((per_subtask / true_rate).min(1.0))
            ),
            None => format!("`{}` runs in one chain with operators that need {} subtasks", change.name, change.to),
        };
        if let Some(chain) = scaling.chains.iter().find(|chain| chain.operator == change.operator) {
            why.push_str(&chain_note(chain));
        }
        advice.push(Advice {
            change: format!("@parallelism({})", change.to),
            target: match existing {
                Some(at) if at == change.line => {
                    format!("`{}`, replacing its `@parallelism({})`", change.name, change.from)
                }
                Some(_) | None => format!("`{}`", change.name),
            },
            line: Some(existing.unwrap_or(change.line)),
            why,
            edits: vec![Edit::Parallelism { node: change.node, to: change.to }],
        });
    }
    for change in &scaling.async_changes {
        let latency = if change.latency_ms >= 1.0 {
            format!("{:.1} ms", change.latency_ms)
        } else {
            format!("{:.0} µs", change.latency_ms * 1000.0)
        };
        let today = match change.from {
            Some(from) => format!("; today its {from} slots are full"),
            None => " (Flink's Async I/O)".into(),
        };
        let why = if change.records_per_call > 1.0 {
            let queries = change.per_subtask_per_second / change.records_per_call;
            format!(
                "each query of `{}` takes {latency} (with the wait for its answer) and serves a batch of {:.1} records on average, and for {wanted} one subtask takes {}/s: that is {:.1} queries in flight ({}/s × latency), so {} connections with room to spare{today}. The subtask takes the next batch while the database answers, and its chain stays as it is",
                change.name,
                change.records_per_call,
                rate(change.per_subtask_per_second),
                queries * change.latency_ms / 1000.0,
                rate(queries),
                change.to,
            )
        } else {
            format!(
                "each call of `{}` takes {latency} (with the wake-up for its completion), and for {wanted} one subtask takes {}/s: that is {:.1} calls in flight (rate × latency), so {} with room to spare{today}. The subtask no longer blocks on each call, and its chain stays as it is",
                change.name,
                rate(change.per_subtask_per_second),
                change.per_subtask_per_second * change.latency_ms / 1000.0,
                change.to,
            )
        };
        advice.push(Advice {
            change: format!("@async(capacity = {})", change.to),
            target: match change.from {
                Some(from) => format!("`{}`, replacing its `@async(capacity = {from})`", change.name),
                None => format!("`{}`", change.name),
            },
            line: Some(change.line),
            why,
            edits: vec![Edit::Async { node: change.node, capacity: change.to }],
        });
    }
    for change in &scaling.batch_changes {
        let cost = &change.cost;
        let writers = scaling.changes.iter().find(|c| c.operator == change.operator);
        let mut why = format!(
            "each transaction of `{}` costs {:.2} ms whatever its size (round trips and the commit's flush) and {:.1} µs per row; with {} a transaction a writer takes {}/s, and for {wanted} {} must take {}/s: {} rows a transaction take about {}/s",
            change.name,
            cost.fixed_ms,
            cost.per_row_ms * 1000.0,
            match cost.rows_per_transaction {
                rows if (rows - 1.0).abs() < 0.05 => "1 row".to_string(),
                rows => format!("{rows:.1} rows"),
            },
            rate(cost.rate(cost.rows_per_transaction)),
            match plan.operators[change.operator].parallelism {
                1 => "its one writer".to_string(),
                n => format!("each of its {n} writers"),
            },
            rate(change.per_subtask_per_second),
            change.to,
            rate(change.expected_per_subtask),
        );
        why.push_str(&match writers {
            Some(more) => format!(
                ". Even so the rows themselves take the time, so more writers share them: `@parallelism({})` below",
                more.to
            ),
            None => ". One transaction per batch keeps the writers as they are; a failed batch is rolled back whole, and a partly filled one waits at most its `flush_interval`".into(),
        });
        advice.push(Advice {
            change: format!("batch_size = {}", change.to),
            target: match change.from {
                crate::check::postgres::DEFAULT_BATCH_SIZE => format!("`{}`", change.name),
                from => format!("`{}`, replacing its `batch_size = {from}`", change.name),
            },
            line: Some(change.line),
            why,
            edits: vec![Edit::SinkArgument {
                node: change.node,
                name: "batch_size".into(),
                value: change.to.to_string(),
            }],
        });
    }
    for chain in scaling.chains.iter().filter(|chain| chain.new_chain) {
        advice.push(Advice {
            change: "@new_chain".into(),
            target: format!("`{}`", chain.name),
            line: Some(chain.line),
            why: format!(
                "with the parallelism above it would join {} in one chain, and on shared threads they would not keep up together: `@new_chain` keeps it apart as it runs now",
                names(&chain.joins)
            ),
            edits: vec![Edit::NewChain { node: chain.node }],
        });
    }
    let bottleneck_changes = scaling.changes.iter().any(|change| change.operator == bottleneck);
    for limit in &scaling.limits {
        // With a change for it, the bottleneck gets the cores it can still have.
        if bottleneck_changes && matches!(limit, Limit::CoresInUse { .. }) {
            continue;
        }
        advice.extend(limit_advice(plan, report, scaling, limit, bottleneck, text));
    }
    // What changes the bottleneck itself first.
    let bottleneck_node = plan.operators[bottleneck].node.index();
    advice.sort_by_key(|a| {
        !a.edits.iter().any(|edit| {
            matches!(edit, Edit::Parallelism { node, .. } | Edit::Async { node, .. } | Edit::SinkArgument { node, .. } if *node == bottleneck_node)
        })
    });
    if !scaling.changes.is_empty() || !scaling.async_changes.is_empty() || !scaling.batch_changes.is_empty() {
        if let Some(first) = advice.iter_mut().find(|a| !a.edits.is_empty()) {
            first.why.push_str(&format!(
                ". With every change here the job should take about {}/s (now {}/s)",
                rate(scaling.expected_per_second),
                rate(scaling.measured_per_second)
            ));
        }
    }
    advice
}

/// What a limit of the proposal means, in `.flow` terms.
fn limit_advice(
    plan: &PhysicalPlan,
    report: &Report,
    scaling: &Scaling,
    limit: &Limit,
    bottleneck: usize,
    text: &str,
) -> Option<Advice> {
    match limit {
        Limit::Cores { needed, free, others, cores } => Some(more_cores(plan, bottleneck, text, |name| {
            format!(
                "the job computes: at {} it needs {needed:.1} cores, and it can have {free:.1} of this machine's {cores}{}, so about {}/s is the most it can take here whatever the parallelism. Run it where {} free, or make `{name}` cheaper per record",
                scaling.wanted_per_second.map(|w| format!("{}/s", rate(w))).unwrap_or_else(|| "its rate".into()),
                others_note(*others),
                rate(scaling.target_per_second),
                match needed.ceil() as u64 {
                    1 => "a core is".to_string(),
                    n => format!("{n} cores are"),
                },
            )
        })),
        Limit::CoresInUse { free, others, cores } => Some(more_cores(plan, bottleneck, text, |name| {
            format!(
                "the job computes and already uses the {free:.1} of this machine's {cores} cores it can have{}: more subtasks would only share them. Run it where more cores are free, or make `{name}` cheaper per record",
                others_note(*others)
            )
        })),
        Limit::Broadcast { name, line, per_subtask, true_rate, .. } => Some(Advice {
            change: "broadcast fewer records".into(),
            target: format!("`{name}`"),
            line: Some(*line),
            why: format!(
                "after a `broadcast` every subtask of `{name}` sees every record ({}/s each, and one takes {}/s): more subtasks do not split them. Filter or aggregate before the `broadcast`, or make `{name}` cheaper per record",
                rate(*per_subtask),
                rate(*true_rate)
            ),
            edits: Vec::new(),
        }),
        Limit::HotKey { name, key, share, key_expr, key_line, .. } if report.verdict.cause != Cause::DataSkew => {
            let receiver = plan.operators.iter().find(|operator| &operator.name == name).map(|operator| operator.id);
            if let Some(join) =
                receiver.and_then(|id| hot_key_into_a_join(plan, id, key, &percent(*share), key_expr, *key_line))
            {
                return Some(join);
            }
            Some(Advice {
                change: format!("salt or pre-aggregate the hot key {key}"),
                target: format!("`key_by {key_expr}`"),
                line: Some(*key_line),
                why: format!(
                    "key {key} carries {} of the records into `{name}`, and one subtask takes all of a key's records: beyond that, more parallelism does not help",
                    percent(*share)
                ),
                edits: Vec::new(),
            })
        }
        Limit::HotKey { .. } => None,
        Limit::OneSubtask { name, line, needed, source: true, .. } => Some(Advice {
            change: "split the input".into(),
            target: format!("source `{name}`"),
            line: Some(*line),
            why: format!(
                "a file or stdin source reads as one subtask, and the job would need {needed}: split the input into several sources and `union` them"
            ),
            edits: Vec::new(),
        }),
        Limit::OneSubtask { name, line, needed, source: false, .. } => Some(Advice {
            change: "write to several files".into(),
            target: format!("sink `{name}`"),
            line: Some(*line),
            why: format!("a file sink writes from one subtask, and it would need {needed}: split the stream over several file sinks"),
            edits: Vec::new(),
        }),
        Limit::MaxParallelism { name, line, .. } => Some(Advice {
            change: "make it cheaper per record".into(),
            target: format!("`{name}`"),
            line: Some(*line),
            why: format!(
                "it would need more than {} subtasks, the most flowc runs",
                crate::check::MAX_PARALLELISM
            ),
            edits: Vec::new(),
        }),
    }
}

/// "give it more cores" on the bottleneck, with `why` said of its name.
fn more_cores(plan: &PhysicalPlan, bottleneck: usize, text: &str, why: impl Fn(&str) -> String) -> Advice {
    let name = &plan.operators[bottleneck].name;
    // An operator that waits uses no core itself: the cores go to the work
    // around it, which more of its records would make.
    let waits = plan.node(bottleneck).spec().is_some_and(|spec| spec.pace == crate::check::ops::Pace::Waits);
    let why = match waits {
        true => format!("`{name}` waits, using little CPU, but the rest of the job computes: {}", why(name)),
        false => why(name),
    };
    Advice {
        change: "give it more cores".into(),
        target: format!("`{name}`"),
        line: Some(line_number(text, plan.node(bottleneck).span.start)),
        why,
        edits: Vec::new(),
    }
}

/// " (other programs took 1.0 of them during the run)", when they took a share worth saying.
fn others_note(others: f64) -> String {
    if others >= super::analyze::OTHER_PROGRAMS {
        format!(" (other programs took {others:.1} of them during the run)")
    } else {
        String::new()
    }
}

/// "; at the new parallelism it leaves the chain with `a` and `b` (its
/// records then cross a channel)".
fn chain_note(chain: &ChainChange) -> String {
    let mut note = String::new();
    if !chain.leaves.is_empty() {
        note.push_str(&format!(
            "; it leaves its chain with {}, so its records cross a channel to and from it",
            names(&chain.leaves)
        ));
    }
    if !chain.joins.is_empty() && !chain.new_chain {
        note.push_str(&format!("; it joins {} in one chain", names(&chain.joins)));
    }
    note
}

fn names(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn rate(per_second: f64) -> String {
    super::analyze::group(per_second.round() as u64)
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
        edits: vec![Edit::Setting { key: "buffers_per_channel".into(), value: wanted.to_string() }],
    }];
    if config.floating_buffers == 0 {
        advice.push(Advice {
            change: "floating_buffers = 8".into(),
            target: "the `config` block".into(),
            line: setting_line("floating_buffers"),
            why: "floating buffers go to the channels with a backlog, covering bursts without more memory per channel"
                .into(),
            edits: vec![Edit::Setting { key: "floating_buffers".into(), value: "8".into() }],
        });
    }
    advice
}

/// A hot key into a join: salting one side alone would lose matches, so
/// the advice is to look the other side up instead, if it is small.
fn hot_key_into_a_join(
    plan: &PhysicalPlan,
    receiver: usize,
    key: &str,
    share: &str,
    key_expr: &str,
    line: usize,
) -> Option<Advice> {
    plan.reads_two_inputs(receiver).then_some(())?;
    let join = &plan.operators[receiver].name;
    Some(Advice {
        change: format!("spread the hot key {key} of the join"),
        target: format!("`key_by {key_expr}`"),
        line: Some(line),
        why: format!(
            "key {key} carries {share} of the records into `{join}`, which matches all records of a key in one subtask: more parallelism cannot split it. If the other side fits in memory, read it as a `table` and `lookup` it instead, which needs no keying and runs at any parallelism; a salt on one side alone would lose the matches on the other"
        ),
        edits: Vec::new(),
    })
}
