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

/// Renders one diagnostic against the file it is about.
pub fn render(diagnostic: &Diagnostic, file_name: &str, source: &str, options: RenderOptions) -> String {
    let source = miette::NamedSource::new(file_name, source.to_string());
    let with_source = WithSource { diagnostic, source: &source };
    let theme = if options.color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(options.width).with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &with_source).is_err() {
        // A formatting error from a String writer cannot happen; fall back
        // to the bare message rather than lose the diagnostic.
        out = format!("{}: {}\n", diagnostic.code, diagnostic.message);
    }
    out
}

/// A diagnostic paired with its source text, as miette wants it.
struct WithSource<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a miette::NamedSource<String>,
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
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
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
