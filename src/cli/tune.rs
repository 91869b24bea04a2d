//! `flowc tune FILE`: runs the program, writes the report's advice into a
//! copy of its text, runs that, and keeps each step only when it made the
//! job faster (see `tune` for how a step is measured and judged). Prints
//! the table of steps, then a diff of the tuned file, or saves it with
//! `--write`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::diag::RenderOptions;
use crate::plan::{NodeKind, PhysicalPlan};
use crate::report::scaling::Limit;
use crate::report::{self, Cause, Edit, Report};
use crate::runtime::{self, RunOptions};
use crate::tune::{self, edit, Outcome, Step, Stop};

use super::{compile, display_name, failed, render_all, signals, Output, PlanArgs, EXIT_ERRORS};

#[derive(Debug, Clone, clap::Args)]
pub struct TuneArgs {
    /// Runs after the first, each with the advice of the one before.
    #[arg(long, default_value_t = tune::DEFAULT_STEPS, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub steps: u32,
    /// Save the tuned program over FILE (comments and layout kept); without
    /// it, a diff is printed and FILE is left alone.
    #[arg(long)]
    pub write: bool,
    /// Stop each run's sources after this many seconds: for sources without a `count`.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Run on the reference interpreter instead of the JIT.
    #[arg(long)]
    pub no_jit: bool,
    /// Print only the table and the diff, not each step as it starts.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Set when a run's time limit, not a person, stopped its sources.
static TIMED_OUT: AtomicBool = AtomicBool::new(false);

pub fn tune_file(file: &Path, text: &str, plan_args: &PlanArgs, args: &TuneArgs, options: RenderOptions) -> Output {
    let file_name = display_name(file);
    let mut output = Output::default();
    let mut best = text.to_string();
    let mut best_rate = 0.0;
    let mut candidate = text.to_string();
    let mut changes: Vec<String> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut wanted = None;
    let stop = loop {
        let index = steps.len();
        let compiled = match compile(&candidate, plan_args) {
            Ok(compiled) => compiled,
            Err(output) => return output,
        };
        let (Some(_), Some(plan)) = (compiled.program, compiled.plan) else {
            if index == 0 {
                output.stderr = render_all(&compiled.diagnostics, &file_name, &candidate, options);
                failed(&mut output, &file_name, &compiled.diagnostics);
            } else {
                output.stderr = format!(
                    "error: the advice of step {} made a program that does not check; this is a bug in flowc\n{}",
                    index - 1,
                    render_all(&compiled.diagnostics, &file_name, &candidate, options)
                );
                output.exit_code = EXIT_ERRORS;
            }
            return output;
        };
        if index == 0 {
            wanted = wanted_rate(&plan);
        }
        if !args.quiet {
            eprintln!(
                "step {index}: running {}",
                if changes.is_empty() { "the program as written".to_string() } else { changes.join(", ") }
            );
        }
        let (report, records_per_second) = match measure(&plan, &file_name, &candidate, args) {
            Ok(measured) => measured,
            Err(stderr) => {
                output.stderr = stderr;
                output.exit_code = EXIT_ERRORS;
                return output;
            }
        };
        let outcome = if index == 0 { Outcome::AsWritten } else { Outcome::judge(best_rate, records_per_second) };
        steps.push(Step {
            changes: std::mem::take(&mut changes),
            records_per_second,
            bottleneck: bottleneck_label(&report),
            outcome,
        });
        if signals::PRESSES.load(Ordering::SeqCst) > 0 {
            break Stop::Interrupted;
        }
        if !outcome.kept() {
            break Stop::Undone { step: index };
        }
        best = candidate.clone();
        best_rate = records_per_second;
        if let Some(wanted) = wanted.filter(|wanted| records_per_second >= tune::REACHED * wanted || keeps_up(&report))
        {
            break Stop::Reached { wanted, step: index };
        }
        if index as u32 >= args.steps {
            break Stop::StepLimit { steps: args.steps };
        }
        let edits: Vec<Edit> = report.advice.iter().flat_map(|advice| advice.edits.iter().cloned()).collect();
        if edits.is_empty() {
            break Stop::NoEdits { why: no_edits(&report) };
        }
        candidate = match edit::apply(&best, &plan, &edits) {
            Ok(edited) if edited != best => edited,
            Ok(_) => break Stop::NoEdits { why: no_edits(&report) },
            Err(error) => {
                output.stderr =
                    format!("error: cannot write the advice into {file_name}: {error}; this is a bug in flowc\n");
                output.exit_code = EXIT_ERRORS;
                return output;
            }
        };
        changes = edit::describe_all(&plan, &edits);
    };
    output.stdout = tune::render(&file_name, wanted, &steps, &stop);
    if best == text {
        output.stdout.push_str("\nno change to the file\n");
    } else if args.write {
        match super::write_atomically(file, &best) {
            Ok(()) => output.stdout.push_str(&format!("\nwrote the tuned program to {file_name}\n")),
            Err(error) => {
                output.stderr.push_str(&format!("error: cannot write {file_name}: {error}\n"));
                output.exit_code = EXIT_ERRORS;
            }
        }
    } else {
        let diff = similar::TextDiff::from_lines(text, &best);
        output.stdout.push('\n');
        output.stdout.push_str(&diff.unified_diff().header(&file_name, &format!("{file_name} (tuned)")).to_string());
        output.stdout.push_str("\n(`--write` saves it)\n");
    }
    output
}

/// One run, measured as every step is: sources as written, sinks
/// discarding but for PostgreSQL upserts, whose tables a second run leaves
/// as one run would: their database may be what limits the job.
fn measure(plan: &PhysicalPlan, file_name: &str, text: &str, args: &TuneArgs) -> Result<(Report, f64), String> {
    TIMED_OUT.store(false, Ordering::SeqCst);
    let (cancel, cancelled) = crossbeam_channel::bounded::<()>(1);
    let limit = Duration::from_secs(args.seconds);
    let watchdog = std::thread::spawn(move || {
        if cancelled.recv_timeout(limit).is_err() {
            TIMED_OUT.store(true, Ordering::SeqCst);
            signals::PRESSES.fetch_add(1, Ordering::SeqCst);
        }
    });
    let options = RunOptions {
        discard_sinks: true,
        keep_upsert_sinks: true,
        unthrottled: false,
        interrupts: Some(&signals::PRESSES),
        ..RunOptions::default()
    };
    let outcome = runtime::run(plan, super::run::backend(args.no_jit).as_ref(), options);
    let _ = cancel.send(());
    let _ = watchdog.join();
    if TIMED_OUT.load(Ordering::SeqCst) {
        signals::PRESSES.store(0, Ordering::SeqCst);
    }
    if let Some(error) = &outcome.error {
        return Err(crate::diag::render(&super::run::run_diagnostic(error), file_name, text, RenderOptions::default()));
    }
    let produced: u64 = plan
        .tasks
        .iter()
        .filter(|task| matches!(plan.node(task.head).kind, NodeKind::Source(_)))
        .map(|task| outcome.recording.tasks[task.id].subtasks.iter().map(|s| s.totals.records_in).sum::<u64>())
        .sum();
    let records_per_second = produced as f64 / outcome.wall_time.as_secs_f64().max(1e-9);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    Ok((report::analyze(plan, &outcome.recording, file_name, text, cores), records_per_second))
}

/// Nothing limits the job and every source kept its rate: what the wall
/// time adds is start-up and the drain of a short job, not a bottleneck.
fn keeps_up(report: &Report) -> bool {
    report.bottleneck.is_none()
        && report.too_short.is_none()
        && report.sources.iter().all(|source| source.achieved_per_second >= tune::KEPT_RATE * source.wanted_per_second)
}

/// The sources' wanted rates, summed, when every source has one.
fn wanted_rate(plan: &PhysicalPlan) -> Option<f64> {
    plan.tasks
        .iter()
        .filter_map(|task| match &plan.node(task.head).kind {
            NodeKind::Source(source) => Some(source.connector.rate_per_second()),
            _ => None,
        })
        .sum()
}

fn bottleneck_label(report: &Report) -> String {
    match &report.bottleneck {
        Some(bottleneck) => format!(
            "`{}`{}: {}",
            bottleneck.operator_name.as_deref().unwrap_or(&bottleneck.task_name),
            bottleneck.line.map(|line| format!(" (line {line})")).unwrap_or_default(),
            report.verdict.cause.label()
        ),
        None if report.verdict.cause == Cause::TooShort => "too short to judge".into(),
        None => "none".into(),
    }
}

/// Why the report gave nothing to write into the file, and what it says instead.
fn no_edits(report: &Report) -> String {
    if let Some(short) = &report.too_short {
        return format!(
            "the run is too short to judge ({:.0} ms judged, {} samples); give the sources more records (a larger `count`) to tune further",
            short.judged_ms, short.samples
        );
    }
    // Partitioning limits come before the cores: more cores do not split a
    // broadcast or a key.
    let partitioned = report.scaling.as_ref().is_some_and(|scaling| {
        scaling.limits.iter().any(|limit| matches!(limit, Limit::Broadcast { .. } | Limit::HotKey { .. }))
    });
    let computes = !partitioned && matches!(report.verdict.cause, Cause::CpuBound | Cause::SourceBound | Cause::Busy);
    let cores = report.scaling.as_ref().filter(|_| computes).and_then(|scaling| {
        scaling.limits.iter().find_map(|limit| match limit {
            Limit::Cores { needed, free, .. } => Some(format!(
                "; at the wanted rate it needs {needed:.1} cores and it can have {free:.1} here, so about {}/s is the most this machine allows: give it more cores, or make the work cheaper per record",
                crate::check::units::format_count(scaling.target_per_second.round() as u64)
            )),
            Limit::CoresInUse { free, .. } => Some(format!(
                "; it already uses the {free:.1} cores it can have here: give it more cores, or make the work cheaper per record"
            )),
            _ => None,
        })
    });
    let advice = report.advice.first().map(|advice| {
        format!(
            "; the report advises to {} on {}{}, which flowc cannot write for you",
            advice.change,
            advice.target,
            advice.line.map(|line| format!(" (line {line})")).unwrap_or_default()
        )
    });
    match report.verdict.cause {
        Cause::NoBottleneck => format!("{}; the sources make what they can", crate::report::words::summary(report)),
        _ => format!(
            "{}{}",
            crate::report::words::summary(report),
            cores.or(advice).unwrap_or_else(|| ", and the report has no advice".into())
        ),
    }
}
