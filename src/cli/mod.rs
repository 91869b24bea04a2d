//! The command line: arguments, reading files, attaching the source text to
//! diagnostics, and printing. The only module that touches the terminal.
//!
//! Commands produce an `Output` (text and an exit code) rather than
//! printing as they go, so tests run them in-process.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::check::{self, Program};
use crate::diag::{render, Diagnostic, RenderOptions};
use crate::plan::{self, explain, PhysicalPlan};

mod format;
mod report;
mod run;
mod signals;
mod tune;

pub use format::format_text;
pub use run::{peak_memory_bytes, RunArgs};

/// Exit code when the file has errors.
pub const EXIT_ERRORS: i32 = 1;
/// Exit code when flowc could not do its work: bad flags, unreadable files.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(name = "flowc", version, about = "Compile and run .flow stream pipelines, and explain why they are slow")]
pub struct Cli {
    /// When to colour diagnostics; `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a .flow file: report every syntax and type error, or a one-line summary.
    Check {
        /// The .flow file, or `-` for standard input.
        file: PathBuf,
        /// Also print every stream's record type and row width.
        #[arg(long)]
        schemas: bool,
    },
    /// Show the plan: the logical graph, the tasks (chains) with their
    /// parallelism, how records are partitioned between them, why
    /// neighbours did not chain, and the record layout of every channel.
    Explain {
        /// The .flow file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        plan: PlanArgs,
        /// `text` for a terminal, `dot` for Graphviz, `json` for programs.
        #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
        format: ExplainFormat,
        /// Also compile every chain and say what became native code.
        #[arg(long)]
        jit: bool,
        /// With `--jit`, print each native function's Cranelift IR too.
        #[arg(long)]
        jit_ir: bool,
    },
    /// Run a .flow file to the end of its input (or Ctrl-C): `print` sinks
    /// write to standard output; a summary of every task goes to standard error.
    Run {
        /// The .flow file.
        file: PathBuf,
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Translate a .flow file for another engine: `--target flink-sql`
    /// writes a Flink SQL script for the SQL client or gateway.
    Export {
        /// The .flow file, or `-` for standard input.
        file: PathBuf,
        #[arg(long, value_enum)]
        target: ExportTarget,
        /// Where to write the script; standard output without it.
        #[arg(short, long, value_name = "OUT.sql")]
        output: Option<PathBuf>,
        /// Leave out `throttle`, `work` and `sleep`, which only simulate
        /// load, rather than refuse them.
        #[arg(long)]
        drop_simulation: bool,
    },
    /// Format .flow files in place, in the one canonical layout: one operator
    /// per line after `|`, aligned `=` in bodies, canonical spacing, comments kept.
    Fmt {
        /// The .flow files, or `-` to format standard input to standard output.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write nothing; print a diff of each file that is not formatted and
        /// exit 1 if there is one.
        #[arg(long)]
        check: bool,
    },
    /// Tune a .flow file: run it, apply the backpressure report's advice to
    /// its text, run again, and keep each step that made it faster, until
    /// the sources' rate is reached or the advice runs out. Prints the steps
    /// and a diff; `--write` saves the tuned file.
    Tune {
        /// The .flow file.
        file: PathBuf,
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        tune: tune::TuneArgs,
    },
    /// Explain the backpressure of an earlier run from its saved metrics
    /// (`flowc run FILE --save-metrics M.json`).
    Report {
        /// The .flow file that ran.
        file: PathBuf,
        #[command(flatten)]
        plan: PlanArgs,
        /// The metrics `--save-metrics` wrote.
        #[arg(long, value_name = "FILE")]
        metrics: PathBuf,
        #[arg(long, value_enum, default_value_t = run::ReportFormat::Text)]
        format: run::ReportFormat,
    },
}

/// Flags that change the plan of a file without editing it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PlanArgs {
    /// Override a `config` setting, as `key=value`: `--set parallelism=4`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Do not fuse operators into chains: every operator becomes its own task.
    #[arg(long)]
    pub no_chaining: bool,
    /// The folder relative file paths in the program start from: the
    /// `.flow` file's own (none for standard input: the current folder).
    #[arg(skip)]
    pub folder: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    /// A Flink SQL script.
    FlinkSql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Dot,
    Json,
}

/// What a command printed and how it ended.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// Runs flowc with the process's arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return error.exit_code();
        }
    };
    let render_options = RenderOptions { color: use_color(cli.color), width: 100 };
    let output = match &cli.command {
        Command::Check { file, schemas } => match read_input(file) {
            Ok(text) => check_text(&display_name(file), &text, *schemas, render_options),
            Err(output) => output,
        },
        Command::Explain { file, plan, format, jit, jit_ir } => match read_input(file) {
            Ok(text) => {
                let mut output = explain_text(&display_name(file), &text, plan, *format, render_options);
                if (*jit || *jit_ir) && output.exit_code == 0 {
                    if let Ok(Compiled { plan: Some(physical), .. }) = compile(&text, plan) {
                        output.stdout.push_str(&crate::compile::jit::explain::describe(&physical, &text, *jit_ir));
                    }
                }
                output
            }
            Err(output) => output,
        },
        Command::Export { file, target: ExportTarget::FlinkSql, output, drop_simulation } => match read_input(file) {
            Ok(text) => {
                let options = crate::export::Options { drop_simulation: *drop_simulation };
                // The script runs elsewhere (a SQL client, a cluster): its paths must not depend on where.
                let folder = folder_of(file).map(|folder| std::path::absolute(&folder).unwrap_or(folder));
                let mut result = export_in(&display_name(file), &text, options, folder, render_options);
                if let (Some(path), 0) = (output, result.exit_code) {
                    if let Err(error) = std::fs::write(path, std::mem::take(&mut result.stdout)) {
                        result.stderr.push_str(&format!("error: cannot write {}: {error}\n", path.display()));
                        result.exit_code = EXIT_USAGE;
                    }
                }
                result
            }
            Err(output) => output,
        },
        Command::Fmt { files, check } => format::format_files(files, *check, render_options),
        Command::Report { file, plan, metrics, format } => match (read_input(file), read_input(metrics)) {
            (Ok(text), Ok(recording)) => {
                report::report_text(&display_name(file), &text, plan, &recording, *format, render_options)
            }
            (Err(output), _) | (_, Err(output)) => output,
        },
        Command::Tune { file, plan, tune } => {
            signals::listen();
            let plan = PlanArgs { folder: folder_of(file), ..plan.clone() };
            match read_input(file) {
                Ok(text) => tune::tune_file(file, &text, &plan, tune, render_options),
                Err(output) => output,
            }
        }
        Command::Run { file, plan, run } => {
            // First of all, so that no stop signal finds flowc without its handler.
            signals::listen();
            let plan = PlanArgs { folder: folder_of(file), ..plan.clone() };
            // A run streams its output; it prints as it goes.
            return match read_input(file) {
                Ok(text) => run::run_text(&display_name(file), &text, &plan, run, render_options),
                Err(output) => {
                    eprint!("{}", output.stderr);
                    output.exit_code
                }
            };
        }
    };
    print_stdout(&output.stdout);
    eprint!("{}", output.stderr);
    output.exit_code
}

/// Exit code when standard output's reader has gone (`flowc … | head`), as
/// a shell reports a process ended by SIGPIPE.
pub const EXIT_STDOUT_CLOSED: i32 = 141;

/// Writes `text` to standard output. A reader that has gone ends flowc at
/// once and quietly, as Unix tools do.
pub fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_STDOUT_CLOSED);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(EXIT_USAGE);
    }
}

/// The front end and the planner over one file: the program and its plan
/// when there are no errors, and every diagnostic, rendered.
struct Compiled {
    program: Option<Program>,
    plan: Option<PhysicalPlan>,
    diagnostics: Vec<Diagnostic>,
}

fn compile(text: &str, plan_args: &PlanArgs) -> Result<Compiled, Output> {
    let checked = check::check_source(text);
    let mut diagnostics = checked.diagnostics;
    let Some(mut program) = checked.program else {
        return Ok(Compiled { program: None, plan: None, diagnostics });
    };
    apply_plan_args(&mut program.config, plan_args)?;
    if let Some(folder) = &plan_args.folder {
        program.resolve_paths(folder);
    }
    let planned = plan::plan(&program);
    diagnostics.extend(planned.diagnostics);
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    Ok(Compiled { program: (!failed).then_some(program), plan: planned.plan, diagnostics })
}

/// `--set key=value` and `--no-chaining`, over the file's own settings.
fn apply_plan_args(config: &mut check::Config, plan_args: &PlanArgs) -> Result<(), Output> {
    for assignment in &plan_args.settings {
        if let Err(diagnostic) = config.set_from_str(assignment) {
            let labels: Vec<&str> = diagnostic.labels.iter().map(|label| label.text.as_str()).collect();
            let detail = if labels.is_empty() { String::new() } else { format!(" ({})", labels.join(", ")) };
            let help = diagnostic.help.map(|help| format!("  help: {help}\n")).unwrap_or_default();
            return Err(Output {
                stderr: format!(
                    "error[{}]: --set {assignment}: {}{detail}\n{help}",
                    diagnostic.code, diagnostic.message
                ),
                exit_code: EXIT_USAGE,
                ..Output::default()
            });
        }
    }
    if plan_args.no_chaining {
        config.chaining = false;
        config.origins.insert("chaining", check::config::SettingOrigin::CommandLine);
    }
    Ok(())
}

/// `flowc explain` on text that came from `file_name`.
pub fn explain_text(
    file_name: &str,
    text: &str,
    plan_args: &PlanArgs,
    format: ExplainFormat,
    render_options: RenderOptions,
) -> Output {
    let compiled = match compile(text, plan_args) {
        Ok(compiled) => compiled,
        Err(output) => return output,
    };
    let mut output =
        Output { stderr: render_all(&compiled.diagnostics, file_name, text, render_options), ..Output::default() };
    match (compiled.program, compiled.plan) {
        (Some(_), Some(plan)) => {
            let format = match format {
                ExplainFormat::Text => explain::Format::Text,
                ExplainFormat::Dot => explain::Format::Dot,
                ExplainFormat::Json => explain::Format::Json,
            };
            output.stdout = explain::explain(&plan, format, file_name, text);
        }
        _ => failed(&mut output, file_name, &compiled.diagnostics),
    }
    output
}

fn failed(output: &mut Output, file_name: &str, diagnostics: &[Diagnostic]) {
    let (errors, warnings) = count(diagnostics);
    output.stderr.push_str(&format!(
        "error: {file_name} has {}{}\n",
        plural(errors, "error"),
        if warnings > 0 { format!(" and {}", plural(warnings, "warning")) } else { String::new() },
    ));
    output.exit_code = EXIT_ERRORS;
}

/// `flowc export --target flink-sql` on text that came from `file_name`:
/// the script on stdout, or every diagnostic that stops it.
pub fn export_text(
    file_name: &str,
    text: &str,
    options: crate::export::Options,
    render_options: RenderOptions,
) -> Output {
    export_in(file_name, text, options, None, render_options)
}

/// `export_text` with relative file paths resolved against `folder`.
fn export_in(
    file_name: &str,
    text: &str,
    options: crate::export::Options,
    folder: Option<PathBuf>,
    render_options: RenderOptions,
) -> Output {
    let compiled = match compile(text, &PlanArgs { folder, ..PlanArgs::default() }) {
        Ok(compiled) => compiled,
        Err(output) => return output,
    };
    let mut output =
        Output { stderr: render_all(&compiled.diagnostics, file_name, text, render_options), ..Output::default() };
    let Some(program) = compiled.program else {
        failed(&mut output, file_name, &compiled.diagnostics);
        return output;
    };
    match crate::export::flink_sql(&program, file_name, text, options) {
        Ok(script) => output.stdout = script,
        Err(diagnostics) => {
            output.stderr.push_str(&render_all(&diagnostics, file_name, text, render_options));
            let count = match diagnostics.len() {
                1 => "1 construct has".to_string(),
                n => format!("{n} constructs have"),
            };
            output
                .stderr
                .push_str(&format!("error: {file_name} cannot be exported to Flink SQL: {count} no faithful form\n"));
            output.exit_code = EXIT_ERRORS;
        }
    }
    output
}

/// `flowc check` on text that came from `file_name`.
pub fn check_text(file_name: &str, text: &str, schemas: bool, render_options: RenderOptions) -> Output {
    let compiled = match compile(text, &PlanArgs::default()) {
        Ok(compiled) => compiled,
        Err(output) => return output,
    };
    let mut output =
        Output { stderr: render_all(&compiled.diagnostics, file_name, text, render_options), ..Output::default() };
    let (_, warnings) = count(&compiled.diagnostics);
    match compiled.program {
        Some(program) => {
            // A join's bracketed stream counts too (a union's inputs, as always, do not).
            fn count_operators(stream: &check::program::Stream) -> usize {
                let joined = stream.operators.iter().map(|operator| match &operator.kind {
                    check::program::OperatorKind::Join(join) => count_operators(&join.right),
                    _ => 0,
                });
                stream.operators.len() + joined.sum::<usize>()
            }
            let operators: usize = program.pipelines.iter().map(|p| count_operators(&p.stream)).sum::<usize>()
                + program.lets.iter().map(|l| count_operators(&l.stream)).sum::<usize>();
            let tables = match program.tables.len() {
                0 => String::new(),
                n => format!(", {}", plural(n, "table")),
            };
            output.stdout = format!(
                "ok: {file_name}: {}{tables}, {}, {}, {}{}\n",
                plural(program.sources.len(), "source"),
                plural(program.pipelines.len(), "pipeline"),
                plural(operators, "operator"),
                plural(program.pipelines.len(), "sink"),
                if warnings > 0 { format!(", {}", plural(warnings, "warning")) } else { String::new() },
            );
            if schemas {
                output.stdout.push_str(&check::describe(&program, text));
            }
        }
        None => failed(&mut output, file_name, &compiled.diagnostics),
    }
    output
}

pub(crate) fn render_all(diagnostics: &[Diagnostic], file_name: &str, text: &str, options: RenderOptions) -> String {
    diagnostics.iter().map(|diagnostic| render(diagnostic, file_name, text, options)).collect()
}

fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Reads a file, or standard input for `-`, as UTF-8 text.
pub(crate) fn read_input(path: &Path) -> Result<String, Output> {
    let fail =
        |message: String| Output { stderr: format!("error: {message}\n"), exit_code: EXIT_USAGE, ..Output::default() };
    let mut bytes = Vec::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut bytes)).map(|_| ())
    };
    if let Err(error) = result {
        return Err(fail(format!("cannot read {}: {error}", display_name(path))));
    }
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        fail(format!("{} is not UTF-8 text: invalid byte at offset {offset}", display_name(path)))
    })
}

/// The folder of a `.flow` file, where its relative paths start; none for
/// standard input, whose paths start from the current folder.
fn folder_of(file: &Path) -> Option<PathBuf> {
    (file != Path::new("-")).then(|| file.parent().unwrap_or(Path::new("")).to_path_buf())
}

/// Replaces `path` with `text` in one step: a temporary file beside it,
/// renamed over it, so a crash leaves the old file or the new, never half.
/// A link is followed, so the file it points to is replaced.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = target.with_file_name(format!(".{name}.flowc-{}.tmp", std::process::id()));
    std::fs::write(&temporary, text)?;
    if let Ok(metadata) = std::fs::metadata(&target) {
        let _ = std::fs::set_permissions(&temporary, metadata.permissions());
    }
    std::fs::rename(&temporary, &target).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

pub(crate) fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
        }
    }
}
