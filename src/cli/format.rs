//! `flowc fmt`: formats files in place, standard input to standard output,
//! or with `--check` reports the files that are not formatted as a diff.

use std::path::{Path, PathBuf};

use crate::diag::RenderOptions;

use super::{display_name, read_input, render_all, Output, EXIT_ERRORS, EXIT_USAGE};

/// `flowc fmt` on text that came from `file_name`: the formatted text on
/// stdout, or the syntax errors that stop it on stderr.
pub fn format_text(file_name: &str, text: &str, render_options: RenderOptions) -> Output {
    match crate::format::format(text) {
        Ok(formatted) => Output { stdout: formatted, ..Output::default() },
        Err(diagnostics) => Output {
            stderr: format!(
                "{}error: {file_name} has syntax errors; it was not formatted\n",
                render_all(&diagnostics, file_name, text, render_options)
            ),
            exit_code: EXIT_ERRORS,
            ..Output::default()
        },
    }
}

pub fn format_files(files: &[PathBuf], check: bool, render_options: RenderOptions) -> Output {
    let mut output = Output::default();
    let mut unformatted = Vec::new();
    for path in files {
        let name = display_name(path);
        let text = match read_input(path) {
            Ok(text) => text,
            Err(failure) => {
                output.stderr.push_str(&failure.stderr);
                output.exit_code = output.exit_code.max(EXIT_USAGE);
                continue;
            }
        };
        let formatted = format_text(&name, &text, render_options);
        if formatted.exit_code != 0 {
            output.stderr.push_str(&formatted.stderr);
            output.exit_code = output.exit_code.max(formatted.exit_code);
            continue;
        }
        let formatted = formatted.stdout;
        if check {
            if formatted != text {
                let diff = similar::TextDiff::from_lines(&text, &formatted);
                output.stdout.push_str(&diff.unified_diff().header(&name, &format!("{name} (formatted)")).to_string());
                unformatted.push(name);
            }
        } else if path == Path::new("-") {
            output.stdout.push_str(&formatted);
        } else if formatted != text {
            if let Err(error) = std::fs::write(path, &formatted) {
                output.stderr.push_str(&format!("error: cannot write {name}: {error}\n"));
                output.exit_code = output.exit_code.max(EXIT_USAGE);
            }
        }
    }
    if !unformatted.is_empty() {
        let (files, them) = if unformatted.len() == 1 {
            ("1 file is".to_string(), "it")
        } else {
            (format!("{} files are", unformatted.len()), "them")
        };
        output.stderr.push_str(&format!(
            "error: {files} not formatted: {}\n  help: run `flowc fmt {}` to format {them}\n",
            unformatted.join(", "),
            unformatted.join(" "),
        ));
        output.exit_code = output.exit_code.max(EXIT_ERRORS);
    }
    output
}
