//! The verdict in sentences: the one place where a `Summary` and each
//! `Evidence` become English, so the text report and the HTML page say the
//! same thing. Names of code are in backquotes; the HTML page turns them
//! into `<code>`. Also the small number formats the report's words share.

use super::evidence::{CpuSignal, Evidence, Summary};
use super::thresholds::{BACKPRESSURED, BUSIEST_SUBTASK_WORTH_SAYING, RUN_QUEUE_WORTH_SAYING};
use super::{Cause, Report};

/// The verdict's one sentence: what limits the pipeline, after how the
/// bottleneck moves when it takes turns.
pub fn summary(report: &Report) -> String {
    let limit = limit(report.verdict.cause, &report.verdict.summary);
    match &report.moving {
        Some(moving) => {
            let turns: Vec<String> = moving
                .task_names
                .iter()
                .zip(&moving.shares)
                .map(|(name, share)| format!("`{name}` ({})", percent(*share)))
                .collect();
            format!(
                "the bottleneck moves between {}{}; most of the time {limit}",
                turns.join(" and "),
                moving.period_ms.map(|period| format!(", turning every {:.1} s", period / 1000.0)).unwrap_or_default(),
            )
        }
        None => limit,
    }
}

/// What limits the pipeline, and why in a word.
pub fn limit(cause: Cause, summary: &Summary) -> String {
    match summary {
        Summary::Operator { task_name, operator_name, line, in_chain, hot_subtask, parallelism, .. } => {
            let in_task = if *in_chain { format!(" in `{task_name}`") } else { String::new() };
            match (cause, hot_subtask) {
                (Cause::DataSkew, Some(subtask)) => format!(
                    "`{operator_name}` (line {line}){in_task} is the bottleneck: data skew sends most records to subtask {} of {parallelism}",
                    subtask + 1
                ),
                _ => format!("`{operator_name}` (line {line}){in_task} is the bottleneck: it is {}", cause.label()),
            }
        }
        Summary::Source { operator_name, line, .. } => format!(
            "the source `{operator_name}` (line {line}) is the limit: nothing is backpressured and the source task is busy"
        ),
        Summary::Channels { from_task_name, to_task_name, .. } => format!(
            "the channels from `{from_task_name}` to `{to_task_name}` are the bottleneck: the credit round trip, not an operator, limits throughput"
        ),
        Summary::NoBottleneck => "no bottleneck: every task keeps up with its input".into(),
        Summary::TooShort { judged_ms, samples, sample_interval_ms, needed_samples, needed_ms } => format!(
            "too short to judge: {} judged, {} (one per {sample_interval_ms:.0} ms); a verdict needs {needed_samples} samples, {} or more",
            duration(*judged_ms),
            plural(u64::from(*samples), "sample"),
            duration(*needed_ms)
        ),
    }
}

impl Evidence {
    /// The fact as one phrase, for a bullet of the report.
    pub fn sentence(&self) -> String {
        match self {
            Evidence::Backpressured { task_name, ratio, status, out_pool_usage, join_input, .. } => format!(
                "`{task_name}`{} is backpressured {} of the time ({}), its output pool {} used",
                join_input
                    .as_ref()
                    .map(|input| format!(", the {} input of `{}`,", input.side, input.join))
                    .unwrap_or_default(),
                percent(*ratio),
                status.label(),
                percent(*out_pool_usage)
            ),
            Evidence::SlowBuffers { task_name, busy_ratio, in_pool_usage, .. } => format!(
                "`{task_name}` is busy only {} and its input pool is {} used: buffers arrive too slowly, not too fast",
                percent(*busy_ratio),
                percent(*in_pool_usage)
            ),
            Evidence::CreditRoundTrip { channel_latency_ms, buffers_per_channel, floating_buffers, .. } => format!(
                "each buffer and each credit takes {} to cross (channel_latency); each channel has {buffers_per_channel} exclusive buffer(s) and its gate {floating_buffers} floating",
                crate::check::format_duration((channel_latency_ms * 1e6).round() as i64)
            ),
            Evidence::Skew { subtask, of, share, records, total, busy, siblings_busy, .. } => format!(
                "subtask {} of {of} received {} of the records ({} of {}) and is busy {}; its siblings are busy {} on average",
                subtask + 1,
                percent(*share),
                group(*records),
                group(*total),
                percent(*busy),
                percent(*siblings_busy)
            ),
            Evidence::HotKey { key_by, line, key, share, .. } => {
                format!("key {key} carries {} of the records on `key_by {key_by}` (line {line})", percent(*share))
            }
            Evidence::Busy { task_name, busy_ratio, max_busy_ratio, cpu_ratio, max_backpressured_ratio, .. } => {
                format!(
                    "`{task_name}` is busy {} of the time{}{}, {}",
                    percent(*busy_ratio),
                    if max_busy_ratio - busy_ratio > BUSIEST_SUBTASK_WORTH_SAYING {
                        format!(" (its busiest subtask {})", percent(*max_busy_ratio))
                    } else {
                        String::new()
                    },
                    match cpu_ratio {
                        Some(cpu) => format!(", using {} CPU", percent(*cpu)),
                        None => String::new(),
                    },
                    if *max_backpressured_ratio > BACKPRESSURED {
                        format!("and backpressured {} of the time", percent(*max_backpressured_ratio))
                    } else {
                        "and not backpressured".to_string()
                    }
                )
            }
            Evidence::OperatorShare { operator_name, share, .. } => {
                format!("`{operator_name}` takes {} of the task's busy time", percent(*share))
            }
            Evidence::CpuShare { cpu_share, run_queue_share, threshold, signal, .. } => {
                let meaning = if cpu_share >= threshold {
                    "the work computes"
                } else {
                    "the work waits (sleeps, I/O, a rate limit)"
                };
                match (signal, run_queue_share) {
                    (CpuSignal::RunQueue, Some(wait)) if *wait >= RUN_QUEUE_WORTH_SAYING => format!(
                        "it waited for a CPU {} of its busy time (the cores were taken) and was on one {} of the rest: {meaning}",
                        percent(wait.min(1.0)),
                        percent(*cpu_share)
                    ),
                    (CpuSignal::RunQueue, wait) => format!(
                        "its CPU time is {} of its busy time, and it hardly waited for a CPU ({}): {meaning}",
                        percent(cpu_share.min(1.0)),
                        percent(wait.unwrap_or(0.0))
                    ),
                    (CpuSignal::CpuOnly, _) => format!(
                        "its CPU time is {} of its busy time: {meaning} (CPU time alone: no run-queue times were recorded, so work that waits for a core would look like waiting)",
                        percent(cpu_share.min(1.0))
                    ),
                    (CpuSignal::FullMachineFallback, _) => format!(
                        "its CPU time is {} of its busy time: {meaning} (CPU time alone: no run-queue times were recorded, and with every core busy a computing thread waits for one unseen, so {} or more counts as computing)",
                        percent(cpu_share.min(1.0)),
                        percent(*threshold)
                    ),
                }
            }
            Evidence::Database { operator_name, share, totals, .. } => {
                format!("`{operator_name}` waited on the database {} of its busy time: {}", percent(*share), database(totals))
            }
            Evidence::MachineNearLimit { cores_used, cores, .. } => format!(
                "the run keeps {cores_used:.1} of the machine's {cores} cores busy: the machine itself is near its limit"
            ),
            Evidence::Drain { sources_ended_ms, drain_ms, share, .. } => format!(
                "the sources finished after {}; the drain after them took {} ({} of the run), so what works through it sets the job's completion time",
                seconds(*sources_ended_ms),
                seconds(*drain_ms),
                percent(*share)
            ),
            Evidence::OtherPrograms { other_cores, cpus, .. } => format!(
                "other programs kept {other_cores:.1} of the machine's {cpus} cores busy during the run ({} of them): busy times include waiting for a core, and the job would run faster on a quiet machine",
                percent(other_cores / f64::from((*cpus).max(1)))
            ),
            Evidence::NoBackpressure { busiest_task_name, busy, .. } => format!(
                "no task is backpressured; the busiest, `{busiest_task_name}`, is busy {} of the time",
                percent(*busy)
            ),
            Evidence::ShortRunWork { source_records, busy_ms } => format!(
                "the sources produced {} and all tasks together were busy {}",
                plural(*source_records, "record"),
                duration(*busy_ms)
            ),
            Evidence::ShortRunRatios { .. } => {
                "in so short a run start-up, one partly filled buffer and the drain decide every ratio".to_string()
            }
        }
    }
}

/// A sink's transactions, or a lookup's cache and queries, in a clause:
/// "2,856 transactions of 1.0 rows, 0.31 ms each (0.08 ms to begin, 0.12 ms
/// writing rows, 0.11 ms committing)".
pub fn database(totals: &crate::metrics::recording::DatabaseTotals) -> String {
    let mut parts = Vec::new();
    if totals.transactions > 0 {
        let n = totals.transactions as f64;
        parts.push(format!(
            "{} of {:.1} rows, {} each ({} to begin, {} writing rows, {} committing)",
            plural(totals.transactions, "transaction"),
            totals.rows_written as f64 / n,
            short_ms((totals.begin_ms + totals.write_ms + totals.commit_ms) / n),
            short_ms(totals.begin_ms / n),
            short_ms(totals.write_ms / n),
            short_ms(totals.commit_ms / n),
        ));
    }
    if totals.lookups > 0 {
        let repeats = totals.lookups.saturating_sub(totals.cache_hits + totals.keys_queried);
        parts.push(format!(
            "{}, {} from its cache{}; {} for {}, {} each",
            plural(totals.lookups, "lookup"),
            percent(totals.cache_hits as f64 / totals.lookups as f64),
            match repeats {
                0 => String::new(),
                n => format!(" and {} a key asked for once in its batch", percent(n as f64 / totals.lookups as f64)),
            },
            match totals.queries {
                1 => "1 query".to_string(),
                n => format!("{} queries", group(n)),
            },
            plural(totals.keys_queried, "key"),
            short_ms(totals.query_ms / (totals.queries.max(1)) as f64),
        ));
    }
    parts.join("; ")
}

/// `0.31 ms`, `12 ms`: a call's time.
fn short_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// `0.8` as `80%`.
/// Why a join holds records, when its inputs' watermarks drifted apart.
pub fn watermark_gap(operator: &super::OperatorReport) -> Option<String> {
    let gap = operator.input_watermark_gap_ms.filter(|gap| *gap >= super::thresholds::WATERMARK_GAP_WORTH_SAYING_MS)?;
    Some(format!(
        "its inputs' watermarks drifted up to {} apart, and the records of the input ahead wait until the other catches up",
        duration(gap)
    ))
}

pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// `12,345`.
pub use crate::check::units::format_count as group;

/// `1 sample`, `40 records`.
pub fn plural(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", group(n), if n == 1 { "" } else { "s" })
}

/// `6.6 ms`, `0.5 s`.
pub fn duration(ms: f64) -> String {
    if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// `0.05 s`, `8.0 s`: a stretch of the run, for people.
pub fn seconds(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}
