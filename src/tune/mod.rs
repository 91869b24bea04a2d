//! `flowc tune`: run a program, diagnose it, write the report's advice into
//! the program text, run again, and keep a step only when it made the job
//! faster. This module owns the pure parts: the edits (`edit`), how a step
//! is judged, and the table; `cli/tune.rs` runs the steps.
//!
//! Every step is measured the same way: the program runs with its sources
//! as written (a generator's `rate` is what the job should reach) and every
//! sink discarding its records, and its throughput is the records the
//! sources made over the run's wall time, drain included, which is what a
//! bounded job's completion time and an unbounded job's sustained rate
//! both come to.

pub mod edit;

use std::fmt::Write;

use crate::check::units::format_count;

/// Throughput at least this many times the best so far: the step helped.
pub const HELPED: f64 = 1.05;
/// Below this many times the best so far: the step made things worse.
pub const WORSE: f64 = 0.95;
/// The wanted rate counts as reached from this share of it: a bounded job
/// spends part of its wall time starting and draining.
pub const REACHED: f64 = 0.90;
/// Or the job has no bottleneck and every source made this share of its rate.
pub const KEPT_RATE: f64 = 0.95;
/// Steps `flowc tune` takes unless told otherwise.
pub const DEFAULT_STEPS: u32 = 3;

/// One run of the program, as a row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The edits made before this run; empty for the program as written.
    pub changes: Vec<String>,
    pub records_per_second: f64,
    /// What limits it after the step: "`lookup` (line 21): I/O-bound".
    pub bottleneck: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The program as written.
    AsWritten,
    /// Faster than the best before it, by this factor: kept.
    Helped(f64),
    /// Within the noise of the best before it: undone.
    NoGain(f64),
    /// Slower than the best before it: undone.
    Worse(f64),
}

impl Outcome {
    /// How a step at `after` records/s compares with the best step before it.
    pub fn judge(best: f64, after: f64) -> Outcome {
        let ratio = after / best.max(1e-9);
        if ratio >= HELPED {
            Outcome::Helped(ratio)
        } else if ratio < WORSE {
            Outcome::Worse(ratio)
        } else {
            Outcome::NoGain(ratio)
        }
    }

    pub fn kept(self) -> bool {
        matches!(self, Outcome::AsWritten | Outcome::Helped(_))
    }
}

/// Why tuning stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The sources' wanted rate, reached at the step given.
    Reached { wanted: f64, step: usize },
    /// The report has nothing flowc can write into the file; `why` is its
    /// verdict and what it advises instead.
    NoEdits { why: String },
    /// The last step did not help and was undone.
    Undone { step: usize },
    /// `--steps` ran out.
    StepLimit { steps: u32 },
    /// A stop signal came.
    Interrupted,
}

/// The table of steps and the sentence on why tuning stopped.
pub fn render(file: &str, wanted: Option<f64>, steps: &[Step], stop: &Stop) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ntuning {file}: each step runs it with its sources as written and every sink discarding but PostgreSQL upserts; \
         records/s is what the sources made over the wall time, drain included{}",
        match wanted {
            Some(wanted) => format!(". The sources want {}/s.", format_count(wanted.round() as u64)),
            None => ". The sources have no rate: the aim is more throughput.".into(),
        }
    );
    let changes: Vec<String> = steps
        .iter()
        .map(|step| if step.changes.is_empty() { "as written".into() } else { step.changes.join(", ") })
        .collect();
    let width = changes.iter().map(|c| c.chars().count()).max().unwrap_or(10).clamp(10, 70);
    let bottleneck_width = steps.iter().map(|s| s.bottleneck.chars().count()).max().unwrap_or(10).clamp(10, 60);
    let _ = writeln!(
        out,
        "\n  {:>4}  {:<width$}  {:>11}  {:<bottleneck_width$}  result",
        "step", "change", "records/s", "bottleneck after it"
    );
    for (index, (step, change)) in steps.iter().zip(&changes).enumerate() {
        let result = match step.outcome {
            Outcome::AsWritten => String::new(),
            Outcome::Helped(ratio) => format!("helped: {ratio:.2}×"),
            Outcome::NoGain(ratio) => format!("no gain ({ratio:.2}×): undone"),
            Outcome::Worse(ratio) => format!("worse ({ratio:.2}×): undone"),
        };
        let _ = writeln!(
            out,
            "  {index:>4}  {change:<width$}  {:>11}  {:<bottleneck_width$}  {result}",
            format_count(step.records_per_second.round() as u64),
            step.bottleneck
        );
    }
    let kept = steps.iter().skip(1).filter(|step| step.outcome.kept()).count();
    let best = steps.iter().filter(|s| s.outcome.kept()).map(|s| s.records_per_second).fold(0.0, f64::max);
    let first = steps.first().map_or(0.0, |s| s.records_per_second);
    let _ = writeln!(
        out,
        "\n{}",
        match stop {
            Stop::Reached { wanted, step: 0 } => format!(
                "the program as written reaches the sources' {}/s: nothing to tune",
                format_count(wanted.round() as u64)
            ),
            Stop::Reached { wanted, step } => format!(
                "reached the sources' {}/s after {} ({:.2}× the program as written)",
                format_count(wanted.round() as u64),
                plural(*step, "step"),
                best / first.max(1e-9)
            ),
            Stop::NoEdits { why } => format!("stopped: {why}"),
            Stop::Undone { step } => format!("stopped: step {step} did not make the job faster, so it was undone"),
            Stop::StepLimit { steps } =>
                format!("stopped after {} (`--steps {steps}`)", plural(*steps as usize, "step")),
            Stop::Interrupted => "stopped by a signal".into(),
        }
    );
    if kept > 0 && !matches!(stop, Stop::Reached { .. }) {
        let _ = writeln!(
            out,
            "kept {}: {}/s, {:.2}× the program as written",
            plural(kept, "step"),
            format_count(best.round() as u64),
            best / first.max(1e-9)
        );
    }
    out
}

fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_judged_against_the_best_before_it() {
        assert_eq!(Outcome::judge(100.0, 150.0), Outcome::Helped(1.5));
        assert!(matches!(Outcome::judge(100.0, 101.0), Outcome::NoGain(_)));
        assert!(matches!(Outcome::judge(100.0, 80.0), Outcome::Worse(_)));
        assert!(!Outcome::judge(100.0, 80.0).kept());
    }

    #[test]
    fn the_table_says_what_each_step_changed_and_why_tuning_stopped() {
        let steps = vec![
            Step {
                changes: vec![],
                records_per_second: 20_000.0,
                bottleneck: "`lookup` (line 21): I/O-bound".into(),
                outcome: Outcome::AsWritten,
            },
            Step {
                changes: vec!["@parallelism(4) on `lookup`".into()],
                records_per_second: 39_000.0,
                bottleneck: "none".into(),
                outcome: Outcome::Helped(1.95),
            },
        ];
        let table = render("io.flow", Some(40_000.0), &steps, &Stop::Reached { wanted: 40_000.0, step: 1 });
        assert!(table.contains("@parallelism(4) on `lookup`"), "{table}");
        assert!(table.contains("helped: 1.95×"), "{table}");
        assert!(table.contains("reached the sources' 40,000/s after 1 step (1.95× the program as written)"), "{table}");
    }
}
