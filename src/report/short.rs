//! Runs too short to judge. A few milliseconds of a 40-line file hold one
//! sample: start-up, one partly filled buffer and the drain weigh as much
//! as any steady state, so the ratios say nothing about the pipeline. Below
//! `MIN_SAMPLES` sampler intervals the report gives the numbers and how to
//! get enough of them instead of a verdict.

use crate::check::program::SourceConnector;
use crate::diag::line_number;
use crate::metrics::recording::Recording;
use crate::plan::{NodeKind, PhysicalPlan};

use super::evidence::{Evidence, Summary};
use super::stats::TaskStats;
use super::thresholds::MIN_SAMPLES;
use super::words::{duration, group, plural};
use super::{Advice, Cause, TooShort, Verdict};

/// `Some` when the stretch `[from_ms, to_ms)` holds fewer than `MIN_SAMPLES`
/// intervals of every subtask.
pub fn too_short(
    plan: &PhysicalPlan,
    recording: &Recording,
    stats: &[TaskStats],
    from_ms: f64,
    to_ms: f64,
) -> Option<TooShort> {
    let samples = recording
        .tasks
        .iter()
        .flat_map(|task| &task.subtasks)
        .map(|subtask| subtask.intervals.iter().filter(|i| i.start_ms >= from_ms && i.start_ms < to_ms).count())
        .max()
        .unwrap_or(0) as u32;
    if samples >= MIN_SAMPLES {
        return None;
    }
    let source_records = plan
        .tasks
        .iter()
        .filter(|task| matches!(plan.node(task.head).kind, NodeKind::Source(_)))
        .filter_map(|task| recording.tasks.get(task.id))
        .flat_map(|task| &task.subtasks)
        .map(|subtask| subtask.totals.records_in)
        .sum();
    Some(TooShort {
        judged_ms: (to_ms.min(recording.duration_ms) - from_ms).max(0.0),
        samples,
        sample_interval_ms: recording.sample_interval_ms,
        needed_samples: MIN_SAMPLES,
        needed_ms: f64::from(MIN_SAMPLES) * recording.sample_interval_ms,
        busy_ms: stats.iter().flatten().map(|s| s.busy_ms).sum(),
        source_records,
    })
}

/// The verdict in place of one: how long, how many samples, what is enough.
pub fn verdict(short: &TooShort) -> Verdict {
    let summary = Summary::TooShort {
        judged_ms: short.judged_ms,
        samples: short.samples,
        sample_interval_ms: short.sample_interval_ms,
        needed_samples: short.needed_samples,
        needed_ms: short.needed_ms,
    };
    let evidence = vec![
        Evidence::ShortRunWork { source_records: short.source_records, busy_ms: short.busy_ms },
        Evidence::ShortRunRatios { samples: short.samples, needed_samples: short.needed_samples },
    ];
    Verdict { cause: Cause::TooShort, summary, evidence }
}

/// How to make each source run long enough, in `.flow` terms.
pub fn advice(plan: &PhysicalPlan, short: &TooShort, text: &str) -> Vec<Advice> {
    let needed = duration(short.needed_ms);
    plan.tasks
        .iter()
        .filter_map(|task| match &plan.node(task.head).kind {
            NodeKind::Source(source) => Some(source),
            _ => None,
        })
        .map(|source| {
            let line = line_number(text, source.name_span.start);
            let why = match &source.connector {
                SourceConnector::File { .. } => format!(
                    "it read {} in {}: give it a file with more records, or use a generator with a `count` \
                     (and a `rate`) that lasts {needed} or more",
                    plural(short.source_records, "record"),
                    duration(short.judged_ms)
                ),
                SourceConnector::Generate { count: Some(count), rate_per_second, .. } => match rate_per_second {
                    Some(rate) => format!(
                        "{} records at {}/s last {}: raise the `count` to {} or more",
                        group(*count),
                        group(rate.round() as u64),
                        duration(*count as f64 * 1000.0 / rate.max(1e-9)),
                        group((rate * short.needed_ms / 1000.0).ceil() as u64)
                    ),
                    None => format!(
                        "its {} records took {}: raise the `count`, or give it a `rate` so that it lasts {needed}",
                        group(*count),
                        duration(short.judged_ms)
                    ),
                },
                SourceConnector::Generate { count: None, .. } => {
                    format!("it has no `count`: let it run {needed} or more before stopping it")
                }
                SourceConnector::Stdin { .. } => format!("send it more records, for {needed} or more"),
                SourceConnector::Nexmark(nexmark) => match (nexmark.events, nexmark.rate_per_second) {
                    (None, _) => format!("it has no `events`: let it run {needed} or more before stopping it"),
                    (Some(_), Some(rate)) => format!(
                        "its {} records at {}/s took {}: raise `events`, or lower the `rate`, so that it lasts {needed}",
                        group(short.source_records),
                        group(rate.round() as u64),
                        duration(short.judged_ms)
                    ),
                    (Some(events), None) => format!(
                        "its {} events took {}: raise `events`, or give it a `rate` so that it lasts {needed}",
                        group(events),
                        duration(short.judged_ms)
                    ),
                },
            };
            Advice {
                change: format!("run it for {needed} or more"),
                target: format!("source `{}`", source.name),
                line: Some(line),
                why,
                edits: Vec::new(),
            }
        })
        .collect()
}
