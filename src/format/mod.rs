//! `flowc fmt`: one canonical layout for every `.flow` file. One operator
//! per line after `|`, `{ … }` bodies with their `=` aligned, canonical
//! spacing, and every comment kept where it stood.
//!
//! The layout comes from the syntax tree; the text of every piece comes
//! from a lossless lexer (`tokens`), so numbers, strings and parentheses
//! stay as the user wrote them and formatting can only move white space
//! and comments. `tests/format.rs` checks that the typed program does not
//! change and that formatting twice changes nothing.

mod layout;
mod spacing;
pub mod tokens;

use crate::diag::Diagnostic;
use crate::syntax;

/// Lines up to this many columns may hold a one-line body or union.
pub const WIDTH: usize = 100;

/// The canonical form of `source`, or the syntax errors that stop it from
/// being formatted (a file must parse; type errors do not matter).
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = syntax::parse(source);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(parsed.diagnostics);
    }
    let mut printer = layout::Printer::new(source, tokens::tokenize(source));
    printer.file(&parsed.file);
    Ok(printer.finish())
}
