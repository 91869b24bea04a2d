//! The constant patterns some functions take: the regular expression of
//! `matches` and `regexp_extract`, and the time format of `format_time`.
//! `check` reads each one once, so a bad pattern is an error before the
//! run, with its place in the pattern, and no record pays for parsing it;
//! the backends run the parsed form that `TypedExprKind::Pattern` carries.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use regex_syntax::hir::Hir;

/// What a pattern argument is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    Regex,
    Time,
}

impl PatternKind {
    /// Reads `source` as this kind of pattern.
    pub fn parse(self, source: &str) -> Result<Pattern, PatternError> {
        Ok(match self {
            PatternKind::Regex => Pattern::Regex(Arc::new(Regex::parse(source)?)),
            PatternKind::Time => Pattern::Time(Arc::new(TimeFormat::parse(source)?)),
        })
    }

    /// What the argument is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            PatternKind::Regex => "pattern",
            PatternKind::Time => "format",
        }
    }
}

/// A parsed pattern argument.
#[derive(Debug, Clone)]
pub enum Pattern {
    Regex(Arc<Regex>),
    Time(Arc<TimeFormat>),
}

impl Pattern {
    /// The pattern as written, its escapes resolved.
    pub fn source(&self) -> &str {
        match self {
            Pattern::Regex(regex) => &regex.source,
            Pattern::Time(format) => &format.source,
        }
    }
}

/// Two patterns are equal when they are the same text of the same kind: the
/// parsed forms follow from it.
impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        match (self, other) {
            (Pattern::Regex(a), Pattern::Regex(b)) => a.source == b.source,
            (Pattern::Time(a), Pattern::Time(b)) => a.source == b.source,
            _ => false,
        }
    }
}

/// What is wrong with a pattern, and where in it (a byte range of the
/// pattern's text) when that is known.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError {
    pub message: String,
    pub at: Option<Range<usize>>,
    pub help: Option<String>,
}

impl PatternError {
    fn new(message: impl Into<String>, at: Option<Range<usize>>) -> PatternError {
        PatternError { message: message.into(), at, help: None }
    }

    fn help(mut self, help: impl Into<String>) -> PatternError {
        self.help = Some(help.into());
        self
    }
}

/// A regular expression in the syntax of the Rust `regex` crate: Perl-like,
/// without look-around or back-references, matched in linear time.
pub struct Regex {
    source: String,
    compiled: regex::Regex,
    hir: Hir,
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", self.source)
    }
}

impl Regex {
    pub fn parse(source: &str) -> Result<Regex, PatternError> {
        // regex-syntax is the parser `regex` itself runs, with the same
        // defaults; its errors carry the place in the pattern.
        let hir = regex_syntax::ParserBuilder::new().build().parse(source).map_err(|error| match error {
            regex_syntax::Error::Parse(error) => {
                let span = error.span();
                PatternError::new(error.kind().to_string(), Some(span.start.offset..span.end.offset))
            }
            regex_syntax::Error::Translate(error) => {
                let span = error.span();
                PatternError::new(error.kind().to_string(), Some(span.start.offset..span.end.offset))
            }
            other => PatternError::new(other.to_string(), None),
        })?;
        let compiled = regex::Regex::new(source).map_err(|error| match error {
            regex::Error::CompiledTooBig(limit) => PatternError::new(
                format!("the compiled pattern would be larger than flowc allows ({} MiB)", limit >> 20),
                None,
            )
            .help("a large counted repetition such as `\\w{1000}` makes a large program; use a smaller count"),
            other => PatternError::new(other.to_string(), None),
        })?;
        Ok(Regex { source: source.to_string(), compiled, hir })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn compiled(&self) -> &regex::Regex {
        &self.compiled
    }

    /// The parsed pattern, every class spelled out as ranges of characters.
    pub fn hir(&self) -> &Hir {
        &self.hir
    }

    /// The numbered groups `( … )`; group 0, the whole match, not counted.
    pub fn groups(&self) -> usize {
        self.compiled.captures_len() - 1
    }
}

/// A time format: a subset of Java's `DateTimeFormatter` patterns (which
/// Flink's `DATE_FORMAT` reads), each letter run meaning what it means
/// there, so the export can pass the format on unchanged.
#[derive(Debug)]
pub struct TimeFormat {
    source: String,
    parts: Vec<TimePart>,
}

/// One piece of a time format's output.
#[derive(Debug, Clone, PartialEq)]
pub enum TimePart {
    /// `yyyy`: four digits (every flowc timestamp lies in 1677–2262).
    Year,
    /// `MM`, `dd`, `HH`, `mm`, `ss`: two digits.
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// `SSS`: the milliseconds, three digits, the finer digits cut off.
    Millisecond,
    /// Text written as it is.
    Text(String),
}

/// The letter runs a time format may use.
const TIME_FIELDS: [(&str, TimePart); 7] = [
    ("yyyy", TimePart::Year),
    ("MM", TimePart::Month),
    ("dd", TimePart::Day),
    ("HH", TimePart::Hour),
    ("mm", TimePart::Minute),
    ("ss", TimePart::Second),
    ("SSS", TimePart::Millisecond),
];

const TIME_FIELDS_HELP: &str =
    "a format uses `yyyy` `MM` `dd` `HH` `mm` `ss` `SSS`; other text goes in single quotes: `'T'`, `''` for a quote";

impl TimeFormat {
    pub fn parse(source: &str) -> Result<TimeFormat, PatternError> {
        let mut parts: Vec<TimePart> = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                'a'..='z' | 'A'..='Z' => {
                    let mut end = at + 1;
                    while chars.peek().is_some_and(|&(_, next)| next == c) {
                        chars.next();
                        end += 1;
                    }
                    let run = &source[at..end];
                    let Some((_, part)) = TIME_FIELDS.iter().find(|(letters, _)| *letters == run) else {
                        return Err(PatternError::new(format!("`{run}` is not a field flowc formats"), Some(at..end))
                            .help(TIME_FIELDS_HELP));
                    };
                    if !text.is_empty() {
                        parts.push(TimePart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(part.clone());
                }
                '\'' => {
                    // `''` is a quote, inside quoted text or outside it.
                    if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                        chars.next();
                        text.push('\'');
                        continue;
                    }
                    loop {
                        match chars.next() {
                            None => {
                                return Err(PatternError::new("this quoted text has no closing `'`", Some(at..at + 1))
                                    .help("close it with `'`; write a quote itself as `''`"))
                            }
                            Some((_, '\'')) if chars.peek().is_some_and(|&(_, next)| next == '\'') => {
                                chars.next();
                                text.push('\'');
                            }
                            Some((_, '\'')) => break,
                            Some((_, quoted)) => text.push(quoted),
                        }
                    }
                }
                '[' | ']' | '{' | '}' | '#' => {
                    return Err(PatternError::new(
                        format!("`{c}` is reserved in Java's time formats"),
                        Some(at..at + 1),
                    )
                    .help(format!(
                        "Java's DateTimeFormatter (Flink's `DATE_FORMAT`) gives `[`, `]`, `{{`, `}}` and `#` meanings \
                         flowc does not have; to write `{c}` itself, quote it: `'{c}'`"
                    )))
                }
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            parts.push(TimePart::Text(text));
        }
        Ok(TimeFormat { source: source.to_string(), parts })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn parts(&self) -> &[TimePart] {
        &self.parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_errors_say_where() {
        let error = Regex::parse("a(b").unwrap_err();
        assert_eq!(error.message, "unclosed group");
        assert_eq!(error.at, Some(1..2));
        let error = Regex::parse(r"\p{Klingon}").unwrap_err();
        assert_eq!(error.message, "Unicode property not found");
        assert_eq!(error.at, Some(0..11));
        assert!(Regex::parse("(a)(?:b)(c)").is_ok_and(|regex| regex.groups() == 2));
        let error = Regex::parse(r"\w{1000}{1000}").unwrap_err();
        assert!(error.message.contains("larger than flowc allows"), "{error:?}");
    }

    #[test]
    fn time_formats_read_java_letters_and_quotes() {
        let format = TimeFormat::parse("yyyy-MM-dd'T'HH:mm:ss.SSS 'o''clock'").unwrap();
        use TimePart::*;
        assert_eq!(
            format.parts(),
            [
                Year,
                Text("-".into()),
                Month,
                Text("-".into()),
                Day,
                Text("T".into()),
                Hour,
                Text(":".into()),
                Minute,
                Text(":".into()),
                Second,
                Text(".".into()),
                Millisecond,
                Text(" o'clock".into())
            ]
        );
        assert!(TimeFormat::parse("").unwrap().parts().is_empty());
        let error = TimeFormat::parse("HH:mm yy").unwrap_err();
        assert_eq!((error.message.as_str(), error.at), ("`yy` is not a field flowc formats", Some(6..8)));
        assert_eq!(TimeFormat::parse("HH 'h").unwrap_err().at, Some(3..4));
        assert_eq!(TimeFormat::parse("HH[mm]").unwrap_err().at, Some(2..3));
        assert_eq!(TimeFormat::parse("é HH").unwrap().parts()[0], Text("é ".into()));
    }
}
