//! The report as a person reads it in a terminal: the task table with the
//! bottleneck marked, the subtasks where they differ, the fused operators
//! of the bottleneck, a sparkline per task, then the verdict with its
//! evidence and the line of the `.flow` file, and the advice.

use std::fmt::Write;

use super::analyze::{group, percent};
use super::thresholds::{HEAVY_KEY_WORTH_SAYING, MIN_SAMPLED_KEYS, SKEWED, SUBTASKS_DIFFER};
use super::{Report, TaskReport};
use crate::metrics::sketch::SAMPLE_EVERY;

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Renders `report`; `text` is the `.flow` file, to quote its lines.
pub fn render(report: &Report, text: &str) -> String {
    let mut out = String::new();
    let to = report.analysed_to_ms.min(report.duration_ms);
    let _ = writeln!(
        out,
        "\nbackpressure report: {} (ran {}{})",
        report.file,
        if report.duration_ms < 100.0 {
            format!("{:.1} ms", report.duration_ms)
        } else {
            format!("{:.1} s", report.duration_ms / 1000.0)
        },
        if to < report.duration_ms - 1.0 {
            format!("; judged on the first {:.1} s, while the sources produced", to / 1000.0)
        } else {
            String::new()
        }
    );
    task_table(&mut out, report);
    for task in &report.tasks {
        subtasks(&mut out, task);
    }
    if let Some(bottleneck) = &report.bottleneck {
        let task = &report.tasks[bottleneck.task];
        if task.operators.len() > 1 {
            operators(&mut out, task);
        }
    }
    timelines(&mut out, report);
    keyed_state(&mut out, report);
    async_calls(&mut out, report);
    databases(&mut out, report);
    verdict(&mut out, report, text);
    out
}

fn task_table(out: &mut String, report: &Report) {
    let width = report.tasks.iter().map(|t| t.name.chars().count()).max().unwrap_or(4).clamp(4, 60);
    let _ = writeln!(
        out,
        "\n    {:<width$}  {:>3}  {:<10} {:>5} {:>6} {:>5} {:>5}  {:>9}  {:>9}  {:>7}  {:>8}",
        "task", "p", "status", "busy", "backpr", "idle", "cpu", "in/s", "out/s", "in pool", "out pool"
    );
    for task in &report.tasks {
        let marker = if task.is_bottleneck { "  ▶ " } else { "    " };
        let _ = writeln!(
            out,
            "{marker}{:<width$}  {:>3}  {:<10} {:>5} {:>6} {:>5} {:>5}  {:>9}  {:>9}  {:>7}  {:>8}",
            shorten(&task.name, width),
            task.parallelism,
            status(task),
            ms(task.busy_ratio),
            ms(task.backpressured_ratio),
            ms(task.idle_ratio),
            task.cpu_ratio.map(ms).unwrap_or_else(|| "?".into()),
            rate(task.records_in_per_second),
            rate(task.records_out_per_second),
            pool(task.in_pool_usage, task.id, report, true),
            pool(task.out_pool_usage, task.id, report, false),
        );
    }
    let _ = writeln!(
        out,
        "    (busy, backpressured, idle and cpu in ms per second, mean of the subtasks; status from the most backpressured subtask, BOTTLENECK for the task that limits the pipeline)"
    );
}

/// Flink's level says only whether a task is blocked by a slower one
/// downstream; the bottleneck itself is never blocked, and "OK" would read
/// as healthy.
pub fn status(task: &TaskReport) -> &'static str {
    if task.is_bottleneck {
        "BOTTLENECK"
    } else {
        task.status.label()
    }
}

/// A task without inputs (or outputs) has no such pool.
fn pool(usage: f64, task: usize, report: &Report, input: bool) -> String {
    let task = &report.tasks[task];
    let is_source = task.name.starts_with("Source:");
    let is_sink_only = task.records_out_per_second == 0.0 && task.out_pool_usage == 0.0;
    if (input && is_source) || (!input && is_sink_only) {
        "-".into()
    } else {
        percent(usage)
    }
}

fn subtasks(out: &mut String, task: &TaskReport) {
    if task.subtasks.len() < 2 {
        return;
    }
    let spread = |value: fn(&super::SubtaskReport) -> f64| {
        let values: Vec<f64> = task.subtasks.iter().map(value).collect();
        values.iter().copied().fold(0.0, f64::max) - values.iter().copied().fold(1.0, f64::min)
    };
    let records: Vec<u64> = task.subtasks.iter().map(|s| s.records_in).collect();
    let mean_records = records.iter().sum::<u64>() as f64 / records.len() as f64;
    let records_spread =
        records.iter().copied().max().unwrap_or(0) as f64 > SKEWED * mean_records && mean_records > 0.0;
    if spread(|s| s.busy_ratio) < SUBTASKS_DIFFER
        && spread(|s| s.backpressured_ratio) < SUBTASKS_DIFFER
        && !records_spread
    {
        return;
    }
    let _ = writeln!(out, "\n  the subtasks of `{}` differ:", task.name);
    for subtask in &task.subtasks {
        let _ = writeln!(
            out,
            "    {}/{}  {:<5} busy {:>4}  backpressured {:>4}  idle {:>4}  cpu {:>4}  records in {:>10}",
            subtask.index + 1,
            task.subtasks.len(),
            subtask.status.label(),
            ms(subtask.busy_ratio),
            ms(subtask.backpressured_ratio),
            ms(subtask.idle_ratio),
            subtask.cpu_ratio.map(ms).unwrap_or_else(|| "?".into()),
            group(subtask.records_in)
        );
    }
}

fn operators(out: &mut String, task: &TaskReport) {
    let _ = writeln!(out, "\n  where the busy time of `{}` goes:", task.name);
    let width = task.operators.iter().map(|op| op.name.chars().count()).max().unwrap_or(4).min(40);
    for operator in &task.operators {
        let bar: String = std::iter::repeat_n('█', (operator.busy_share * 30.0).round() as usize).collect();
        let _ = writeln!(
            out,
            "    {:<width$}  line {:>3}  {:>4}  {bar}",
            shorten(&operator.name, width),
            operator.line,
            percent(operator.busy_share)
        );
    }
}

/// Each keyed operator's largest state: it lives in memory.
fn keyed_state(out: &mut String, report: &Report) {
    let keyed: Vec<&super::OperatorReport> =
        report.tasks.iter().flat_map(|task| &task.operators).filter(|op| op.state_entries > 0).collect();
    if keyed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "
  keyed state, at its largest (kept in memory):"
    );
    for operator in keyed {
        let _ = writeln!(
            out,
            "    `{}` (line {}): {} entries, about {}{}",
            operator.name,
            operator.line,
            group(operator.state_entries),
            crate::metrics::format_bytes(operator.state_bytes),
            super::words::watermark_gap(operator).map(|gap| format!("; {gap}")).unwrap_or_default()
        );
    }
}

/// Each operator that talks to a database: its transactions or queries.
fn databases(out: &mut String, report: &Report) {
    let operators: Vec<&super::OperatorReport> = report.tasks.iter().flat_map(|task| &task.operators).collect();
    let sentences: Vec<String> = operators.iter().filter_map(|operator| database_sentence(operator)).collect();
    if sentences.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n  databases, whole run:");
    for sentence in sentences {
        let _ = writeln!(out, "    {sentence}");
    }
}

/// "`Sink: postgres` (line 20): 88% of its busy time in the database; …":
/// the text and HTML reports both say it so.
pub fn database_sentence(operator: &super::OperatorReport) -> Option<String> {
    let database = operator.database.as_ref().filter(|db| !db.totals.is_empty())?;
    Some(format!(
        "`{}` (line {}): {} of its busy time in the database; {}",
        operator.name,
        operator.line,
        super::words::percent(database.share()),
        super::words::database(&database.totals)
    ))
}

/// Each `@async` operator's calls in flight against its capacity.
fn async_calls(out: &mut String, report: &Report) {
    let operators: Vec<&super::OperatorReport> =
        report.tasks.iter().flat_map(|task| &task.operators).filter(|op| op.async_capacity.is_some()).collect();
    if operators.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n  async calls, in flight per subtask:");
    for operator in operators {
        let _ = writeln!(out, "    {}", async_calls_sentence(operator));
    }
}

/// "`Lookup` (line 3): 7.8 of a capacity of 8 on average, at most 8": the
/// text and HTML reports both say it so.
pub fn async_calls_sentence(operator: &super::OperatorReport) -> String {
    let capacity = operator.async_capacity.unwrap_or(0);
    let full = if capacity > 0 && operator.in_flight >= 0.9 * f64::from(capacity) { " (full)" } else { "" };
    format!(
        "`{}` (line {}): {:.1} of a capacity of {} on average{full}, at most {}",
        operator.name, operator.line, operator.in_flight, capacity, operator.in_flight_peak
    )
}

fn timelines(out: &mut String, report: &Report) {
    let points = report.tasks.iter().map(|t| t.timeline.len()).max().unwrap_or(0);
    if points < 2 {
        return;
    }
    let step = report.duration_ms / points as f64;
    let _ = writeln!(out, "\n  over time (one mark per {:.0} ms; height = ms per second):", step);
    let width = report.tasks.iter().map(|t| t.name.chars().count()).max().unwrap_or(4).min(40);
    for task in &report.tasks {
        let busy: String = task.timeline.iter().map(|p| spark(p.busy_ms_per_second)).collect();
        let backpressured: String = task.timeline.iter().map(|p| spark(p.backpressured_ms_per_second)).collect();
        let _ = writeln!(out, "    {:<width$}  busy   {busy}", shorten(&task.name, width));
        let _ = writeln!(out, "    {:<width$}  backpr {backpressured}", "");
    }
}

fn verdict(out: &mut String, report: &Report, text: &str) {
    let _ = writeln!(out, "\nverdict: {}", super::words::summary(report));
    let _ = writeln!(out, "  cause: {}", report.verdict.cause.label());
    for evidence in &report.verdict.evidence {
        let _ = writeln!(out, "  - {}", evidence.sentence());
    }
    if let Some(line) = report.bottleneck.as_ref().and_then(|b| b.line) {
        quote(out, text, line);
    }
    if let Some(moving) = &report.moving {
        let _ = writeln!(
            out,
            "\nthe bottleneck moves: {} switches{}",
            moving.switches,
            moving.period_ms.map(|p| format!(", a turn every {:.0} ms", p)).unwrap_or_default()
        );
        for (index, (name, share)) in moving.task_names.iter().zip(&moving.shares).enumerate() {
            let _ = writeln!(out, "  {}  `{name}`, {} of the time", (b'A' + index as u8) as char, percent(*share));
        }
        let shown: String = moving.timeline.chars().take(100).collect();
        let _ = writeln!(out, "  {shown}  (one letter per {:.0} ms, `.` none)", moving.step_ms);
    }
    for source in &report.sources {
        let _ = writeln!(
            out,
            "\nsource `{}` (line {}): wanted {}/s, got {}/s; {} records behind at the end, {} at most",
            source.name,
            source.line,
            rate(source.wanted_per_second),
            rate(source.achieved_per_second),
            group(source.lag_at_end),
            group(source.lag_max)
        );
    }
    // A `let` read twice sends its keyed records over two edges: one line each is one too many.
    let mut said = std::collections::HashSet::new();
    for edge in report.hot_keys.iter().filter(|edge| edge.keys.is_empty() && edge.records > 0) {
        if !said.insert((edge.key.clone(), edge.line)) {
            continue;
        }
        let _ = writeln!(
            out,
            "\ntoo few records on `key_by {}` (line {}) to name its heaviest keys: {} counted of {} (one in {}); {} needed",
            edge.key,
            edge.line,
            group(edge.sampled),
            group(edge.records),
            SAMPLE_EVERY,
            MIN_SAMPLED_KEYS
        );
    }
    for edge in
        report.hot_keys.iter().filter(|edge| edge.keys.first().is_some_and(|k| k.share >= HEAVY_KEY_WORTH_SAYING))
    {
        if !said.insert((edge.key.clone(), edge.line)) {
            continue;
        }
        let keys: Vec<String> =
            edge.keys.iter().take(3).map(|key| format!("{} ({})", key.key, percent(key.share))).collect();
        let _ = writeln!(out, "\nheaviest keys on `key_by {}` (line {}): {}", edge.key, edge.line, keys.join(", "));
    }
    // Keyed input into the bottleneck with no heavy key: worth saying, since
    // a reader who suspects skew (a hot key is the usual suspect) learns it
    // is not the cause.
    let bottleneck = report.bottleneck.as_ref().map(|bottleneck| bottleneck.task);
    for edge in report.hot_keys.iter().filter(|edge| {
        Some(edge.to_task) == bottleneck && edge.keys.first().is_some_and(|k| k.share < HEAVY_KEY_WORTH_SAYING)
    }) {
        if !said.insert((edge.key.clone(), edge.line)) {
            continue;
        }
        // The heaviest counter of a sketch with no heavy key is mostly its
        // error, so no key is named.
        let _ = writeln!(
            out,
            "\nno heavy key on `key_by {}` (line {}) into the bottleneck: none carries more than {} of its {} records, so its subtasks share them evenly",
            edge.key,
            edge.line,
            percent(edge.keys[0].share),
            group(edge.records)
        );
    }
    if report.advice.is_empty() {
        let _ = writeln!(out, "\nadvice: nothing to change");
        return;
    }
    let _ = writeln!(out, "\nadvice:");
    for (index, advice) in report.advice.iter().enumerate() {
        let place = advice.line.map(|line| format!(" (line {line})")).unwrap_or_default();
        let preposition = if advice.target.starts_with("the ") { "in" } else { "on" };
        let _ = writeln!(out, "  {}. {} {preposition} {}{place}", index + 1, advice.change, advice.target);
        let _ = writeln!(out, "     {}", advice.why);
    }
}

fn quote(out: &mut String, text: &str, line: usize) {
    if let Some(source_line) = text.lines().nth(line.saturating_sub(1)) {
        let _ = writeln!(out, "  {line:>4} | {}", source_line.trim_end());
    }
}

fn spark(ms_per_second: f64) -> char {
    let level = (ms_per_second / 1000.0 * (SPARKS.len() - 1) as f64).round() as usize;
    SPARKS[level.min(SPARKS.len() - 1)]
}

fn ms(ratio: f64) -> String {
    format!("{:.0}", ratio * 1000.0)
}

fn rate(per_second: f64) -> String {
    if per_second >= 10_000.0 {
        format!("{}k", group((per_second / 1000.0).round() as u64))
    } else {
        group(per_second.round() as u64)
    }
}

fn shorten(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_string()
    } else {
        let kept: String = name.chars().take(width.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}
