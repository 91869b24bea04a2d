//! Reading `.flow` text: the pest grammar, the syntax tree with spans, and
//! syntax errors phrased in the user's words.
//!
//! Parsing never fails as a whole: `parse` returns the items it could read
//! and a diagnostic for each part it could not, so that one run reports
//! every independent mistake. It knows nothing of types or names.

pub mod ast;
mod build;
mod expected;
pub mod literal;
mod parser;
mod prescan;

use pest::Parser as _;

use crate::diag::{Diagnostic, Span};

pub use build::MAX_EXPR_DEPTH;
pub use parser::Rule;
pub use prescan::MAX_NESTING;

/// What parsing a file yields: the items that parsed, the problems, and the
/// names of items that did not parse (so that `check` does not also report
/// every use of them as unknown).
#[derive(Debug, Default)]
pub struct Parsed {
    pub file: ast::File,
    pub diagnostics: Vec<Diagnostic>,
    pub unparsed_names: Vec<String>,
}

/// Parses a whole `.flow` file.
pub fn parse(source: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let (chunks, prescan_diagnostics) = prescan::prescan(source);
    parsed.diagnostics.extend(prescan_diagnostics);
    for chunk in chunks {
        let text = &source[chunk.span.start..chunk.span.end];
        if chunk.rejected {
            parsed.unparsed_names.extend(prescan::defined_name(text));
            continue;
        }
        match parse_chunk(Rule::items, text) {
            Ok(mut pairs) => {
                let items = pairs.next().expect("`items` yields one pair");
                let mut builder = build::Builder::new(chunk.span.start, &mut parsed.diagnostics);
                parsed.file.items.extend(builder.items(items));
            }
            Err(error) => {
                parsed.diagnostics.push(expected::syntax_error(&error, source, chunk.span));
                parsed.unparsed_names.extend(prescan::defined_name(text));
            }
        }
    }
    parsed
}

/// Parses a lone expression, as given to `--set key=value`.
pub fn parse_value(text: &str) -> Result<ast::Expr, Diagnostic> {
    let mut diagnostics = Vec::new();
    let expr = match parse_chunk(Rule::config_value, text) {
        Ok(mut pairs) => {
            let value = pairs.next().expect("`config_value` yields one pair");
            let expr_pair = value.into_inner().next().expect("`config_value` holds an expression");
            build::Builder::new(0, &mut diagnostics).expr(expr_pair)
        }
        Err(error) => return Err(expected::syntax_error(&error, text, Span::new(0, text.len()))),
    };
    match diagnostics.into_iter().next() {
        Some(diagnostic) => Err(diagnostic),
        None => Ok(expr),
    }
}

/// Parses with pest's error detail off (its default), which is several
/// times faster, and again with it on only when there is an error to
/// explain: the detail is what lets a message name the expected punctuation.
///
/// The switch is process-wide, so detailed parses take turns; a fast parse
/// that runs meanwhile only pays for detail it does not use.
fn parse_chunk(rule: Rule, text: &str) -> Result<pest::iterators::Pairs<'_, Rule>, Box<pest::error::Error<Rule>>> {
    static DETAILED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    match parser::FlowParser::parse(rule, text) {
        Ok(pairs) => Ok(pairs),
        Err(_) => {
            let _turn = DETAILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            pest::set_error_detail(true);
            let detailed = parser::FlowParser::parse(rule, text);
            pest::set_error_detail(false);
            detailed.map_err(Box::new)
        }
    }
}
