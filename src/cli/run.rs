//! `flowc run`: compiles a file, runs its plan, shows a progress line on a
//! terminal, turns Ctrl-C into a clean stop, and prints the summary (or
//! the one error that stopped the run) on standard error. Standard output
//! carries only what `print` sinks write.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::check::units::format_count as group;
use crate::compile::{Backend, Interpreter, Jit};
use crate::diag::{render, Diagnostic, RenderOptions};
use crate::metrics::read;
use crate::plan::{NodeKind, PhysicalPlan};
use crate::runtime::{self, Progress, RunError, RunOptions, RunOutcome};

use super::{compile, failed, plural, render_all, PlanArgs, EXIT_ERRORS};

/// Flags of `flowc run` beyond the plan's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Every sink discards its records: measure the pipeline, not the sinks.
    #[arg(long)]
    pub discard_sinks: bool,
    /// Generators ignore their `rate` and run as fast as they can.
    #[arg(long)]
    pub unthrottled: bool,
    /// Print no summary and no progress line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run every expression on the reference interpreter instead of
    /// compiling it to native code.
    #[arg(long)]
    pub no_jit: bool,
    /// After the run, explain its backpressure: the task table, the
    /// bottleneck, why, and what to change. `json` writes the typed report
    /// to standard output, `html` one self-contained page.
    #[arg(long, value_enum, value_name = "FORMAT", num_args = 0..=1, require_equals = true, default_missing_value = "text")]
    pub explain_backpressure: Option<ReportFormat>,
    /// Write the report to this file; its format follows the extension
    /// (`.html`, `.json`, anything else text).
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
    /// Write the sampled metrics of the run as JSON, to explain later with
    /// `flowc report FILE.flow --metrics FILE.json`.
    #[arg(long, value_name = "FILE")]
    pub save_metrics: Option<std::path::PathBuf>,
    /// Run once per parallelism in the list (`1,2,4`) with discarding sinks
    /// and unthrottled sources, and print each one's maximum throughput.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub sweep_parallelism: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

/// Runs the program in `text`; returns the exit code.
pub fn run_text(file_name: &str, text: &str, plan_args: &PlanArgs, args: &RunArgs, options: RenderOptions) -> i32 {
    let compiled = match compile(text, plan_args) {
        Ok(compiled) => compiled,
        Err(output) => {
            eprint!("{}", output.stderr);
            return output.exit_code;
        }
    };
    eprint!("{}", render_all(&compiled.diagnostics, file_name, text, options));
    let (Some(_), Some(plan)) = (compiled.program, compiled.plan) else {
        let mut output = super::Output::default();
        failed(&mut output, file_name, &compiled.diagnostics);
        eprint!("{}", output.stderr);
        return output.exit_code;
    };
    if let Some(output) = report_would_mix_with_records(&plan, args, file_name, text) {
        eprint!("{}", output.stderr);
        return output.exit_code;
    }
    if !args.sweep_parallelism.is_empty() {
        return super::report::sweep(file_name, text, plan_args, &args.sweep_parallelism, args.no_jit);
    }
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let live_table = show_progress && args.explain_backpressure.is_some();
    let mut live = super::report::LiveView::new(&plan);
    let progress: Box<dyn FnMut(&Progress)> =
        if live_table { Box::new(move |progress| live.show(progress)) } else { Box::new(print_progress) };
    let run_options = RunOptions {
        discard_sinks: args.discard_sinks,
        keep_upsert_sinks: false,
        unthrottled: args.unthrottled,
        interrupts: Some(&super::signals::PRESSES),
        progress: show_progress.then_some(progress),
        progress_interval: Some(Duration::from_millis(250)),
        sample_interval: None,
        lean_metrics: false,
    };
    let started = std::time::SystemTime::now();
    let outcome = runtime::run(&plan, backend(args.no_jit).as_ref(), run_options);
    if show_progress {
        if live_table {
            super::report::LiveView::clear(&plan);
        }
        eprint!("\r\x1b[2K");
    }
    if outcome.stdout_closed {
        return super::EXIT_STDOUT_CLOSED;
    }
    let _ = std::io::stdout().flush();
    if let Some(error) = &outcome.error {
        eprint!("{}", render(&run_diagnostic(error), file_name, text, options));
        eprint!("{}", earlier_outputs(&plan, started));
        return EXIT_ERRORS;
    }
    if !args.quiet {
        eprint!("{}", summary(&plan, &outcome, file_name, text));
    }
    if let Some(path) = &args.save_metrics {
        if let Err(error) = std::fs::write(path, outcome.recording.to_json()) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return EXIT_ERRORS;
        }
    }
    if args.explain_backpressure.is_some() || args.report.is_some() {
        let code = super::report::write_report(&plan, &outcome.recording, file_name, text, args);
        if code != 0 {
            return code;
        }
    }
    0
}

/// `--explain-backpressure=json` writes the report to standard output, so
/// a `print` sink's records would make it unreadable: refused, with the
/// ways to have both.
fn report_would_mix_with_records(
    plan: &PhysicalPlan,
    args: &RunArgs,
    file_name: &str,
    text: &str,
) -> Option<super::Output> {
    if args.explain_backpressure != Some(ReportFormat::Json) || args.report.is_some() || args.discard_sinks {
        return None;
    }
    let print =
        plan.operators.iter().map(|operator| plan.node(operator.id)).find(
            |node| matches!(&node.kind, NodeKind::Sink(sink) if runtime::writes_standard_output(&sink.connector)),
        )?;
    let line = crate::diag::line_number(text, print.span.start);
    Some(super::Output {
        stderr: format!(
            "error: --explain-backpressure=json writes the report to standard output, and so does the sink at {file_name}:{line}\n  help: write the report to a file with `--report report.json`, or drop the records with `--discard-sinks`\n"
        ),
        exit_code: super::EXIT_USAGE,
        ..super::Output::default()
    })
}

/// A failed run replaces no file sink's target, so a file left there by an
/// earlier run still looks complete: say which ones are not this run's.
fn earlier_outputs(plan: &PhysicalPlan, run_started: std::time::SystemTime) -> String {
    let mut notes = String::new();
    for operator in &plan.operators {
        let NodeKind::Sink(sink) = &plan.node(operator.id).kind else { continue };
        let crate::check::program::SinkConnector::File { path, .. } = &sink.connector else { continue };
        // Devices and FIFOs are written through, never replaced.
        let Some(metadata) = std::fs::metadata(path).ok().filter(|metadata| metadata.is_file()) else { continue };
        if metadata.modified().is_ok_and(|modified| modified < run_started) {
            notes.push_str(&format!("note: `{path}` was not replaced; the file there is from an earlier run\n"));
        }
    }
    notes
}

/// The JIT, or with `--no-jit` the interpreter.
pub fn backend(no_jit: bool) -> Box<dyn Backend> {
    if no_jit {
        Box::new(Interpreter)
    } else {
        Box::new(Jit::new())
    }
}

fn print_progress(progress: &Progress) {
    let seconds = progress.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { progress.source_records as f64 / seconds } else { 0.0 };
    let state =
        if progress.draining { "  stopping: draining what is in flight (Ctrl-C again to stop now)" } else { "" };
    eprint!(
        "\r\x1b[2K  {seconds:.1} s  {} records in, {} out  ({}/s){state}",
        group(progress.source_records),
        group(progress.sink_records),
        group(rate as u64)
    );
}

/// What stopped the run, as a diagnostic pointing into the file.
pub fn run_diagnostic(error: &RunError) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(error.code, error.message.clone()).maybe_help(error.help.clone());
    if let Some(span) = error.span {
        diagnostic = diagnostic.label(span, error.label.clone());
    }
    diagnostic
}

/// Records in and out of every task, the wall time and the rate.
pub fn summary(plan: &PhysicalPlan, outcome: &RunOutcome, file_name: &str, text: &str) -> String {
    use crate::check::ops::StateKind;
    let metrics = &outcome.metrics;
    let seconds = outcome.wall_time.as_secs_f64();
    let mut source_records = 0;
    let mut sink_records = 0;
    let mut notes = Vec::new();
    let mut state_bytes = 0;
    for read in &outcome.tables_read {
        let table = &plan.logical.tables[read.table];
        let line = crate::diag::line_number(text, table.name_span.start);
        notes.push(match read.rows {
            0 => format!("table `{}` (line {line}) has no rows: every lookup of it finds nothing", table.name),
            rows => format!(
                "table `{}` (line {line}): {} {} read in {} before the first record",
                table.name,
                group(rows as u64),
                if rows == 1 { "row" } else { "rows" },
                match read.time.as_secs_f64() {
                    seconds if seconds >= 1.0 => format!("{seconds:.1} s"),
                    seconds => format!("{:.0} ms", seconds * 1000.0),
                }
            ),
        });
    }
    for operator in &plan.operators {
        let total = |read_counter: fn(&crate::metrics::OperatorCounters) -> u64| {
            metrics.operator_total(operator.id, read_counter)
        };
        let node = plan.node(operator.id);
        let line = crate::diag::line_number(text, node.span.start);
        match &node.kind {
            NodeKind::Source(_) => source_records += total(|c| read(&c.records_out)),
            NodeKind::Sink(_) => sink_records += total(|c| read(&c.records_in)),
            _ => {}
        }
        let state_entries = total(|c| read(&c.state_entries_peak));
        if state_entries > 0 {
            let bytes = total(|c| read(&c.state_bytes_peak));
            state_bytes += bytes;
            let unbounded = matches!(
                &node.kind,
                NodeKind::Operator { kind: crate::check::program::OperatorKind::Join(join), .. }
                    if join.time == crate::check::program::JoinTime::Unbounded
            );
            let what = match node.spec().map(|spec| spec.state) {
                Some(StateKind::KeysInOpenWindows) => "keys in open windows",
                Some(StateKind::JoinRows) if unbounded => "records, kept for every later match",
                Some(StateKind::JoinRows) => "records waiting for a match",
                Some(StateKind::Table) => "table rows",
                Some(StateKind::TopRecords) => "records in its keys' tops",
                Some(StateKind::Keys | StateKind::None) | None => "keys",
            };
            notes.push(format!(
                "{} (line {line}) held up to {} {what}, about {} of state",
                operator.name,
                group(state_entries),
                crate::metrics::format_bytes(bytes)
            ));
        }
        let missed = total(|c| read(&c.filtered));
        if let NodeKind::Operator {
            kind: crate::check::program::OperatorKind::Lookup { table, residual, .. }, ..
        } = &node.kind
        {
            if missed > 0 {
                notes.push(format!(
                    "{} (line {line}) found no row of `{}`{} for {} {}, and dropped {}",
                    operator.name,
                    plan.logical.tables[*table].name,
                    if residual.is_some() { " that passed its `where`" } else { "" },
                    group(missed),
                    if missed == 1 { "record" } else { "records" },
                    if missed == 1 { "it" } else { "them" }
                ));
            }
        }
        let unfinished = total(|c| read(&c.unfinished));
        if unfinished > 0 {
            notes.push(format!(
                "{} (line {line}) did not emit {} {} as unmatched: they still waited for a match when the run stopped",
                operator.name,
                group(unfinished),
                if unfinished == 1 { "record" } else { "records" }
            ));
        }
        let late = total(|c| read(&c.late));
        if late > 0 {
            let when = match node.spec().map(|spec| spec.state) {
                Some(StateKind::JoinRows) => "that came after the join's watermark had passed them",
                _ => "that came after their windows had fired",
            };
            notes.push(format!(
                "{} (line {line}) dropped {} {when}",
                operator.name,
                plural(late as usize, "late record")
            ));
        }
    }
    for task in &plan.tasks {
        let behind: u64 = metrics.task_total(task.id, |c| read(&c.lag_max));
        if let NodeKind::Source(source) = &plan.node(task.head).kind {
            if let Some(rate) = source.connector.rate_per_second() {
                // A lag of a record or two is the rate's own granularity.
                if behind > task.parallelism as u64 * 2 {
                    notes.push(format!(
                        "{} fell behind its producers' rate of {}/s by up to {} records (its lag)",
                        task.name,
                        group(rate as u64),
                        group(behind)
                    ));
                }
            }
        }
        let skipped = metrics.task_total(task.id, |c| read(&c.skipped));
        if skipped > 0 {
            notes.push(format!("{} skipped {} (on_error = skip)", task.name, plural(skipped as usize, "bad line")));
        }
    }
    let rate = if seconds > 0.0 { source_records as f64 / seconds } else { 0.0 };
    let mut text = String::new();
    let ending = match (outcome.interrupts, super::signals::first()) {
        (0, _) => "ran",
        (_, Some(libc::SIGTERM)) => "stopped by SIGTERM after",
        (_, Some(libc::SIGHUP)) => "stopped by SIGHUP after",
        _ => "stopped by Ctrl-C after",
    };
    text.push_str(&format!(
        "\n{file_name}: {ending} {seconds:.2} s: {} records in, {} out, {}/s\n",
        group(source_records),
        group(sink_records),
        group(rate as u64)
    ));
    let rows: Vec<[String; 4]> = plan
        .tasks
        .iter()
        .map(|task| {
            [
                task.name.clone(),
                task.parallelism.to_string(),
                group(metrics.task_total(task.id, |c| read(&c.records_in))),
                group(metrics.task_total(task.id, |c| read(&c.records_out))),
            ]
        })
        .collect();
    let headers = ["task", "subtasks", "records in", "records out"];
    let widths: Vec<usize> = (0..4)
        .map(|column| {
            rows.iter().map(|row| row[column].chars().count()).chain([headers[column].len()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        format!(
            "  {:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    text.push_str(&line(headers));
    for row in &rows {
        text.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    for note in notes {
        text.push_str(&format!("  note: {note}\n"));
    }
    if state_bytes > STATE_WARNING_BYTES {
        text.push_str(&format!(
            "  warning: keyed state reached about {}; flowc keeps it in memory, so a key with many values (an id, a timestamp) can exhaust it: key by fewer values, or use shorter windows\n",
            crate::metrics::format_bytes(state_bytes)
        ));
    }
    if let Some(stats) = outcome.compile.filter(|stats| stats.compiled + stats.interpreted > 0) {
        text.push_str(&compile_line(&stats));
    }
    if let Some(peak) = peak_memory_bytes() {
        text.push_str(&format!("  peak memory: {:.1} MiB\n", peak as f64 / (1 << 20) as f64));
    }
    text
}

/// `jit: 5 functions compiled in 3.1 ms, once for the job (shared 4 more times)`:
/// further subtasks of an operator, or a key that both its exchange and its
/// window compute, run the code compiled first.
fn compile_line(stats: &crate::compile::backend::CompileStats) -> String {
    let mut line = format!(
        "  jit: {} compiled in {:.1} ms, once for the job",
        plural(stats.compiled, "function"),
        stats.time.as_secs_f64() * 1000.0
    );
    if stats.reused > 0 {
        let times = if stats.reused == 1 { "time" } else { "times" };
        line.push_str(&format!(" (shared {} more {times})", stats.reused));
    }
    if stats.interpreted > 0 {
        line.push_str(&format!("; {} left to the interpreter (`flowc explain --jit` says why)", stats.interpreted));
    }
    line.push('\n');
    line
}

/// Keyed state past this is worth a warning (documented in docs/language.md).
const STATE_WARNING_BYTES: u64 = 1 << 30;

/// The process's peak resident memory (Linux's `VmHWM`), when known.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
