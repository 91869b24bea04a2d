//! The report's side of the command line: `--explain-backpressure` (text,
//! JSON, HTML), `--report FILE`, `flowc report` over saved metrics, the
//! live task table while a run lasts, and `--sweep-parallelism`.

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

use crate::diag::RenderOptions;
use crate::metrics::recording::Recording;
use crate::plan::PhysicalPlan;
use crate::report::{self, Cause, Report};
use crate::runtime::{self, Progress, RunOptions};

use super::run::{ReportFormat, RunArgs};
use super::{compile, failed, render_all, Output, PlanArgs, EXIT_ERRORS, EXIT_USAGE};

fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Writes the report of a finished run where `args` say; returns the exit code.
pub fn write_report(plan: &PhysicalPlan, recording: &Recording, file_name: &str, text: &str, args: &RunArgs) -> i32 {
    let report = report::analyze(plan, recording, file_name, text, cores());
    let format = args.explain_backpressure.unwrap_or(ReportFormat::Text);
    if let Some(path) = &args.report {
        let format = format_of_path(path);
        return write_file(path, &render(&report, text, format));
    }
    match format {
        ReportFormat::Text => eprint!("{}", report::text::render(&report, text)),
        ReportFormat::Json => super::print_stdout(&format!("{}\n", render(&report, text, ReportFormat::Json))),
        ReportFormat::Html => {
            let stem = Path::new(file_name).file_stem().and_then(|s| s.to_str()).unwrap_or("flowc");
            return write_file(Path::new(&format!("{stem}.report.html")), &render(&report, text, format));
        }
    }
    0
}

fn format_of_path(path: &Path) -> ReportFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => ReportFormat::Html,
        Some("json") => ReportFormat::Json,
        _ => ReportFormat::Text,
    }
}

fn render(report: &Report, text: &str, format: ReportFormat) -> String {
    match format {
        ReportFormat::Text => report::text::render(report, text),
        ReportFormat::Json => serde_json::to_string_pretty(report).expect("a report is plain data"),
        ReportFormat::Html => report::html::render(report, text),
    }
}

fn write_file(path: &Path, contents: &str) -> i32 {
    match std::fs::write(path, contents) {
        Ok(()) => {
            eprintln!("wrote the backpressure report to {}", path.display());
            0
        }
        Err(error) => {
            eprintln!("error: cannot write {}: {error}", path.display());
            EXIT_ERRORS
        }
    }
}

/// `flowc report FILE --metrics M.json`: the report of an earlier run.
pub fn report_text(
    file_name: &str,
    text: &str,
    plan_args: &PlanArgs,
    recording: &str,
    format: ReportFormat,
    options: RenderOptions,
) -> Output {
    let compiled = match compile(text, plan_args) {
        Ok(compiled) => compiled,
        Err(output) => return output,
    };
    let (Some(_), Some(plan)) = (compiled.program, compiled.plan) else {
        let mut output =
            Output { stderr: render_all(&compiled.diagnostics, file_name, text, options), ..Output::default() };
        failed(&mut output, file_name, &compiled.diagnostics);
        return output;
    };
    let usage =
        |message: String| Output { stderr: format!("error: {message}\n"), exit_code: EXIT_USAGE, ..Output::default() };
    let recording = match Recording::from_json(recording) {
        Ok(recording) => recording,
        Err(message) => return usage(message),
    };
    let same_plan = recording.tasks.len() == plan.tasks.len()
        && recording.tasks.iter().zip(&plan.tasks).all(|(recorded, task)| {
            recorded.name == task.name
                && recorded.subtasks.len() == task.parallelism as usize
                && recorded.subtasks.iter().all(|subtask| {
                    subtask.totals.operator_busy_ms.len() == task.operators.len()
                        && subtask.intervals.iter().all(|i| i.operator_busy_ms.len() == task.operators.len())
                })
        });
    if !same_plan {
        return usage(format!(
            "the metrics are of another plan than {file_name}'s: pass the same file and the same --set flags as the run"
        ));
    }
    let report = report::analyze(&plan, &recording, file_name, text, cores());
    let rendered = render(&report, text, format);
    Output { stdout: rendered, ..Output::default() }
}

/// The task table, redrawn in place on standard error while a run lasts.
pub struct LiveView {
    names: Vec<String>,
    drawn: Rc<Cell<usize>>,
}

thread_local! {
    /// Lines the live table occupies now, so the caller can clear it.
    static DRAWN: Rc<Cell<usize>> = Rc::new(Cell::new(0));
}

impl LiveView {
    pub fn new(plan: &PhysicalPlan) -> LiveView {
        LiveView { names: plan.tasks.iter().map(|task| task.name.clone()).collect(), drawn: DRAWN.with(Rc::clone) }
    }

    pub fn show(&mut self, progress: &Progress) {
        let width = self.names.iter().map(|name| name.chars().count()).max().unwrap_or(4).min(50);
        let mut out = String::new();
        if self.drawn.get() > 0 {
            let _ = write!(out, "\r\x1b[{}A", self.drawn.get());
        }
        let _ = writeln!(
            out,
            "\r\x1b[2K  {:.1} s  {} records in, {} out{}",
            progress.elapsed.as_secs_f64(),
            progress.source_records,
            progress.sink_records,
            if progress.draining { "  (stopping: draining)" } else { "" }
        );
        let _ = writeln!(out, "\x1b[2K  {:<width$}  status  busy  backpr  idle      in/s", "task");
        for (name, task) in self.names.iter().zip(&progress.tasks) {
            let name: String = name.chars().take(width).collect();
            let _ = writeln!(
                out,
                "\x1b[2K  {name:<width$}  {:<6} {:>5} {:>7} {:>5} {:>9.0}",
                report::Status::of(task.max_backpressured / 1000.0).label(),
                task.busy.round(),
                task.backpressured.round(),
                task.idle.round(),
                task.records_in_per_second
            );
        }
        self.drawn.set(2 + self.names.len().min(progress.tasks.len()));
        eprint!("{out}");
    }

    /// Erases the table after the run.
    pub fn clear(_plan: &PhysicalPlan) {
        DRAWN.with(|drawn| {
            let lines = drawn.replace(0);
            if lines > 0 {
                eprint!("\r\x1b[{lines}A\x1b[J");
            }
        });
    }
}

/// `--sweep-parallelism 1,2,4`: the maximum throughput at each parallelism,
/// with discarding sinks and unthrottled sources.
pub fn sweep(file_name: &str, text: &str, plan_args: &PlanArgs, parallelisms: &[u32], no_jit: bool) -> i32 {
    let mut rows: Vec<(u32, f64, Report)> = Vec::new();
    for &parallelism in parallelisms {
        let mut args = plan_args.clone();
        args.settings.push(format!("parallelism={parallelism}"));
        let compiled = match compile(text, &args) {
            Ok(compiled) => compiled,
            Err(output) => {
                eprint!("{}", output.stderr);
                return output.exit_code;
            }
        };
        let (Some(_), Some(plan)) = (compiled.program, compiled.plan) else {
            let mut output = Output::default();
            failed(&mut output, file_name, &compiled.diagnostics);
            eprint!("{}", output.stderr);
            return output.exit_code;
        };
        let options = RunOptions { discard_sinks: true, unthrottled: true, ..RunOptions::default() };
        let outcome = runtime::run(&plan, super::run::backend(no_jit).as_ref(), options);
        if let Some(error) = &outcome.error {
            eprint!(
                "{}",
                crate::diag::render(&super::run::run_diagnostic(error), file_name, text, RenderOptions::default())
            );
            return EXIT_ERRORS;
        }
        let sources: u64 = plan
            .tasks
            .iter()
            .filter(|task| matches!(plan.node(task.head).kind, crate::plan::NodeKind::Source(_)))
            .map(|task| outcome.recording.tasks[task.id].subtasks.iter().map(|s| s.totals.records_in).sum::<u64>())
            .sum();
        let throughput = sources as f64 / outcome.wall_time.as_secs_f64().max(1e-9);
        rows.push((parallelism, throughput, report::analyze(&plan, &outcome.recording, file_name, text, cores())));
    }
    eprint!("{}", sweep_table(file_name, &rows, cores()));
    0
}

fn sweep_table(file_name: &str, rows: &[(u32, f64, Report)], cores: u32) -> String {
    let mut out = format!("\nmaximum throughput of {file_name} (sinks discard, sources unthrottled):\n");
    let _ = writeln!(out, "  {:>11}  {:>12}  {:>7}  bottleneck", "parallelism", "records/s", "speedup");
    let base = rows.first().map_or(1.0, |row| row.1.max(1e-9));
    for (parallelism, throughput, report) in rows {
        let bottleneck = match &report.bottleneck {
            Some(b) => {
                format!("{} ({})", b.operator_name.as_deref().unwrap_or(&b.task_name), report.verdict.cause.label())
            }
            None if report.too_short.is_some() => "none: too short to judge".into(),
            None => "none".into(),
        };
        let _ = writeln!(out, "  {parallelism:>11}  {:>12.0}  {:>6.2}×  {bottleneck}", throughput, throughput / base);
    }
    for pair in rows.windows(2) {
        let ((p1, t1, _), (p2, t2, report)) = (&pair[0], &pair[1].clone());
        let wanted = f64::from(*p2) / f64::from(*p1);
        if *t2 < t1 * (1.0 + 0.5 * (wanted - 1.0)) {
            let why = scaling_stop_reason(report, *p2, cores);
            let _ = writeln!(
                out,
                "  note: from {p1} to {p2} subtasks throughput grew only {:.2}×: {why}",
                t2 / t1.max(1e-9)
            );
        }
    }
    out
}

/// Why more subtasks did not help, as one clause after "grew only 1.10×:".
fn scaling_stop_reason(report: &Report, parallelism: u32, cores: u32) -> String {
    if report.verdict.cause == Cause::DataSkew {
        let hot = report.hot_keys.iter().flat_map(|edge| edge.keys.first()).next();
        return match hot {
            Some(key) => {
                format!("data skew: key {} carries {} of the records", key.key, report::text_percent(key.share))
            }
            None => "data skew: one subtask gets most records".into(),
        };
    }
    if let Some(short) = &report.too_short {
        return format!(
            "the run at parallelism {parallelism} lasted {:.0} ms, too short to judge; give the sources more records",
            short.judged_ms
        );
    }
    let Some(bottleneck) = &report.bottleneck else {
        return format!("no task limits the run at parallelism {parallelism}");
    };
    let task = &report.tasks[bottleneck.task];
    if task.parallelism < parallelism {
        return format!("`{}` runs at parallelism {} whatever the setting", task.name, task.parallelism);
    }
    if parallelism > cores {
        return format!("this machine has {cores} cores");
    }
    let cause = report.verdict.cause.label();
    match (&bottleneck.operator_name, bottleneck.from_task) {
        (_, Some(from)) => {
            format!("the channels from `{}` to `{}` still limit it ({cause})", report.tasks[from].name, task.name)
        }
        (Some(operator), None) if task.operators.len() > 1 => format!(
            "`{operator}`{} in `{}` still limits it ({cause})",
            bottleneck.line.map(|line| format!(" (line {line})")).unwrap_or_default(),
            task.name
        ),
        _ => format!("`{}` still limits it ({cause})", task.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(case: &str) -> Report {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report").join(case);
        let flow = std::fs::read_to_string(dir.join("input.flow")).unwrap();
        let program = crate::check::check_source(&flow).program.unwrap();
        let plan = crate::plan::plan(&program).plan.unwrap();
        let recording = Recording::from_json(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
        report::analyze(&plan, &recording, "p.flow", &flow, 8)
    }

    #[test]
    fn the_sweep_note_names_what_still_limits_in_one_sentence() {
        let cpu = golden("cpu_bound");
        let rows = vec![(1, 10_000.0, cpu.clone()), (2, 11_000.0, cpu)];
        let table = sweep_table("p.flow", &rows, 8);
        let note = table.lines().find(|line| line.contains("note:")).expect("a note when scaling stops");
        assert_eq!(
            note,
            "  note: from 1 to 2 subtasks throughput grew only 1.10×: `compress` (line 22) in \
             `Source: jobs -> Filter -> compress -> Map -> Sink: discard` still limits it (CPU-bound)"
        );
        assert_eq!(note.matches("bottleneck").count(), 0, "{note}");
    }

    #[test]
    fn the_sweep_note_of_a_run_too_short_says_so() {
        let short = golden("tiny_run");
        let rows = vec![(1, 10_000.0, short.clone()), (2, 10_000.0, short)];
        let table = sweep_table("p.flow", &rows, 8);
        assert!(table.contains("none: too short to judge"), "{table}");
        assert!(table.contains("too short to judge; give the sources more records"), "{table}");
    }

    #[test]
    fn the_sweep_note_of_a_credit_round_trip_names_the_channels() {
        let network = golden("network_bottleneck");
        assert_eq!(
            scaling_stop_reason(&network, 1, 8),
            "the channels from `Source: events -> Filter` to `Map -> Sink: discard` still limit it \
             (network: credit round trip)"
        );
    }
}
