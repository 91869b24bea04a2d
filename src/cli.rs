//! The command line: arguments, reading files, attaching the source text to
//! diagnostics, and printing. The only module that touches the terminal.
//!
//! Commands produce an `Output` (text and an exit code) rather than
//! printing as they go, so tests run them in-process.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::check;
use crate::diag::{render, Diagnostic, RenderOptions};

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
    };
    print!("{}", output.stdout);
    eprint!("{}", output.stderr);
    let _ = std::io::stdout().flush();
    output.exit_code
}

/// `flowc check` on text that came from `file_name`.
pub fn check_text(file_name: &str, text: &str, schemas: bool, render_options: RenderOptions) -> Output {
    let checked = check::check_source(text);
    let mut output =
        Output { stderr: render_all(&checked.diagnostics, file_name, text, render_options), ..Output::default() };
    let (errors, warnings) = count(&checked.diagnostics);
    match checked.program {
        Some(program) => {
            let operators: usize = program.pipelines.iter().map(|p| p.stream.operators.len()).sum::<usize>()
                + program.lets.iter().map(|l| l.stream.operators.len()).sum::<usize>();
            output.stdout = format!(
                "ok: {file_name}: {}, {}, {}, {}{}\n",
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
        None => {
            output.stderr.push_str(&format!(
                "error: {file_name} has {}{}\n",
                plural(errors, "error"),
                if warnings > 0 { format!(" and {}", plural(warnings, "warning")) } else { String::new() },
            ));
            output.exit_code = EXIT_ERRORS;
        }
    }
    output
}

fn render_all(diagnostics: &[Diagnostic], file_name: &str, text: &str, options: RenderOptions) -> String {
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
fn read_input(path: &Path) -> Result<String, Output> {
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

fn display_name(path: &Path) -> String {
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
