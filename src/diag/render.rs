//! Renders diagnostics with miette's graphical handler: the code under a
//! box-drawn frame, labels pointing at the spans, the help line below.

use std::fmt;

use super::{Diagnostic, Severity};

/// How to draw: colours on or off, and the width text wraps at.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions { color: false, width: 100 }
    }
}

/// Past this column a snippet is not drawn: miette cannot pad that far
/// (Rust's formatter stops at 65 535) and no terminal shows it anyway.
const MAX_SNIPPET_COLUMN: usize = 10_000;

/// Renders one diagnostic against the file it is about.
pub fn render(diagnostic: &Diagnostic, file_name: &str, source: &str, options: RenderOptions) -> String {
    let show_snippet = diagnostic.labels.iter().all(|label| longest_line_in(source, label.span) <= MAX_SNIPPET_COLUMN);
    let named = miette::NamedSource::new(file_name, source.to_string());
    let with_source = WithSource { diagnostic, source: show_snippet.then_some(&named) };
    let theme =
        if options.color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(options.width).with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &with_source).is_err() {
        // A formatting error from a String writer cannot happen; fall back
        // to the bare message rather than lose the diagnostic.
        out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
    }
    if !show_snippet {
        for label in &diagnostic.labels {
            let (line, column) = line_and_column(source, label.span.start);
            out.push_str(&format!("  at {file_name}:{line}:{column}: {}\n", label.text));
        }
    }
    out
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (super::line_number(source, offset), before[line_start..].chars().count() + 1)
}

/// The length of the longest line a span touches.
fn longest_line_in(source: &str, span: super::Span) -> usize {
    let start = source[..span.start.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
    let end = source[span.end.min(source.len())..].find('\n').map_or(source.len(), |i| span.end + i);
    source[start..end].split('\n').map(str::len).max().unwrap_or(0)
}

/// A diagnostic paired with its source text, as miette wants it.
struct WithSource<'a> {
    diagnostic: &'a Diagnostic,
    /// `None` to render without a snippet.
    source: Option<&'a miette::NamedSource<String>>,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for WithSource<'_> {}

impl miette::Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code.name()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.source?;
        let labels = self.diagnostic.labels.iter().enumerate().map(|(index, label)| {
            let span = miette::SourceSpan::new(label.span.start.into(), label.span.len());
            let text = (!label.text.is_empty()).then(|| label.text.clone());
            if index == 0 {
                miette::LabeledSpan::new_primary_with_span(text, span)
            } else {
                miette::LabeledSpan::new_with_span(text, span)
            }
        });
        Some(Box::new(labels))
    }
}
