//! A flowc regular expression as a Java one, for Flink's `REGEXP` and
//! `REGEXP_EXTRACT`. The two dialects read the same text differently in
//! places (Java's `$` also matches before a final newline, its `\w` and
//! `\d` are ASCII, `[[:alpha:]]` is no class there, `(?U)` is another
//! flag), so the pattern is not passed on as written: it is written anew
//! from the parsed HIR, where every class is a list of character ranges
//! and every assertion has one meaning, in constructs Java reads exactly
//! so. Both engines take the leftmost match with the same preferences
//! (first alternative, greedy or lazy repetition), so they find the same
//! match and the same groups.

use std::fmt::Write;

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};

/// The Java pattern that matches what `hir` matches, or why there is none.
pub fn java_pattern(hir: &Hir) -> Result<String, String> {
    let mut out = String::new();
    write_hir(hir, &mut out)?;
    Ok(out)
}

fn write_hir(hir: &Hir, out: &mut String) -> Result<(), String> {
    match hir.kind() {
        // Java reads an empty pattern, but Flink's `REGEXP` says an empty
        // pattern matches nothing: an empty group matches everywhere.
        HirKind::Empty => out.push_str("(?:)"),
        HirKind::Literal(literal) => {
            let text = std::str::from_utf8(&literal.0).map_err(|_| "a pattern that matches bytes, not text")?;
            text.chars().for_each(|c| push_char(c, out, false));
        }
        HirKind::Class(Class::Unicode(class)) => write_class(class, out),
        HirKind::Class(Class::Bytes(class)) => {
            // Only ASCII bytes can be in the class of a pattern on text.
            let ranges = class.ranges().iter().map(|range| {
                let (start, end) = (range.start(), range.end());
                if end.is_ascii() {
                    Ok(ClassUnicodeRange::new(char::from(start), char::from(end)))
                } else {
                    Err("a pattern that matches bytes, not text".to_string())
                }
            });
            write_class(&ClassUnicode::new(ranges.collect::<Result<Vec<_>, _>>()?), out);
        }
        HirKind::Look(look) => out.push_str(&look_around(*look)?),
        HirKind::Repetition(repetition) => write_repetition(repetition, out)?,
        HirKind::Capture(capture) => {
            // Java numbers groups by their `(` in order, as the HIR does, and
            // every other group written here is `(?:`.
            out.push('(');
            write_hir(&capture.sub, out)?;
            out.push(')');
        }
        HirKind::Concat(parts) => {
            for part in parts {
                if matches!(part.kind(), HirKind::Alternation(_)) {
                    out.push_str("(?:");
                    write_hir(part, out)?;
                    out.push(')');
                } else {
                    write_hir(part, out)?;
                }
            }
        }
        HirKind::Alternation(alternatives) => {
            for (i, alternative) in alternatives.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                write_hir(alternative, out)?;
            }
        }
    }
    Ok(())
}

fn write_repetition(repetition: &Repetition, out: &mut String) -> Result<(), String> {
    // A repetition applies to one atom: a character, a class or a group.
    let atom = match repetition.sub.kind() {
        HirKind::Literal(literal) => std::str::from_utf8(&literal.0).is_ok_and(|text| text.chars().count() == 1),
        HirKind::Class(_) | HirKind::Capture(_) => true,
        _ => false,
    };
    if atom {
        write_hir(&repetition.sub, out)?;
    } else {
        out.push_str("(?:");
        write_hir(&repetition.sub, out)?;
        out.push(')');
    }
    match (repetition.min, repetition.max) {
        (0, None) => out.push('*'),
        (1, None) => out.push('+'),
        (0, Some(1)) => out.push('?'),
        (min, None) => {
            let _ = write!(out, "{{{min},}}");
        }
        (min, Some(max)) if min == max => {
            let _ = write!(out, "{{{min}}}");
        }
        (min, Some(max)) => {
            let _ = write!(out, "{{{min},{max}}}");
        }
    }
    if !repetition.greedy {
        out.push('?');
    }
    Ok(())
}

/// `[…]` of the class's ranges, or `[^…]` of the others when that is
/// shorter.
fn write_class(class: &ClassUnicode, out: &mut String) {
    let mut complement = class.clone();
    complement.negate();
    let (inside, outside) = (spans(class), spans(&complement));
    // `[^]` is no class: a class of everything is written as its ranges.
    let negated = !outside.is_empty() && outside.len() < inside.len();
    let spans = if negated { outside } else { inside };
    if spans.is_empty() {
        // A class of nothing, which matches nothing.
        out.push_str(r"[^\x{0}-\x{10FFFF}]");
        return;
    }
    out.push('[');
    if negated {
        out.push('^');
    }
    for (start, end) in spans {
        push_char(start, out, true);
        if end != start {
            if u32::from(end) > u32::from(start) + 1 {
                out.push('-');
            }
            push_char(end, out, true);
        }
    }
    out.push(']');
}

/// A class's ranges, two that meet across the surrogate code points
/// joined into one: flowc's strings are UTF-8, so no character of them is
/// a surrogate, and Java's range may as well take them in.
fn spans(class: &ClassUnicode) -> Vec<(char, char)> {
    let mut spans: Vec<(char, char)> = Vec::new();
    for range in class.ranges() {
        match spans.last_mut() {
            Some((_, end)) if *end == '\u{D7FF}' && range.start() == '\u{E000}' => *end = range.end(),
            _ => spans.push((range.start(), range.end())),
        }
    }
    spans
}

/// A character as Java reads it: ASCII letters, digits and harmless
/// punctuation as they are, metacharacters after a backslash (which Java
/// allows before any character that is not a letter or digit), anything
/// else as `\x{…}`.
fn push_char(c: char, out: &mut String, in_class: bool) {
    let special = if in_class { "\\[]^-" } else { "\\.^$|?*+()[]{}" };
    if special.contains(c) {
        out.push('\\');
        out.push(c);
    } else if c.is_ascii_graphic() || c == ' ' {
        out.push(c);
    } else {
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
}

/// An assertion in Java's terms. Java's `^` alone is the start of the
/// input; its `$` is not the end (it also matches before a final line
/// break), so the end is `\z`; line and word boundaries are spelled out
/// with look-around on the very characters flowc's assertion looks at.
fn look_around(look: Look) -> Result<String, String> {
    let word = |unicode: bool| -> Result<String, String> {
        let class = if unicode { r"\w" } else { r"(?-u:\w)" };
        let hir = regex_syntax::parse(class).map_err(|error| error.to_string())?;
        let mut out = String::new();
        write_hir(&hir, &mut out)?;
        Ok(out)
    };
    let boundary = |w: String, negated: bool| {
        if negated {
            format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
        } else {
            format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
        }
    };
    Ok(match look {
        Look::Start => "^".to_string(),
        Look::End => r"\z".to_string(),
        Look::StartLF => r"(?:^|(?<=\n))".to_string(),
        Look::EndLF => r"(?=\n|\z)".to_string(),
        Look::StartCRLF => r"(?:^|(?<=\n)|(?<=\r)(?!\n))".to_string(),
        Look::EndCRLF => r"(?:\z|(?=\r)|(?<!\r)(?=\n))".to_string(),
        Look::WordAscii => boundary(word(false)?, false),
        Look::WordAsciiNegate => boundary(word(false)?, true),
        Look::WordUnicode => boundary(word(true)?, false),
        Look::WordUnicodeNegate => boundary(word(true)?, true),
        Look::WordStartAscii => format!("(?<!{0})(?={0})", word(false)?),
        Look::WordEndAscii => format!("(?<={0})(?!{0})", word(false)?),
        Look::WordStartUnicode => format!("(?<!{0})(?={0})", word(true)?),
        Look::WordEndUnicode => format!("(?<={0})(?!{0})", word(true)?),
        Look::WordStartHalfAscii => format!("(?<!{})", word(false)?),
        Look::WordEndHalfAscii => format!("(?!{})", word(false)?),
        Look::WordStartHalfUnicode => format!("(?<!{})", word(true)?),
        Look::WordEndHalfUnicode => format!("(?!{})", word(true)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn java(pattern: &str) -> String {
        java_pattern(&regex_syntax::parse(pattern).unwrap()).unwrap()
    }

    #[test]
    fn plain_patterns_read_as_written() {
        assert_eq!(java("(&|^)channel_id=([^&]*)"), "(&|^)channel_id=([^&]*)");
        assert_eq!(java("a+b*?c{2,5}d{3}e{4,}"), "a+b*?c{2,5}d{3}e{4,}");
        assert_eq!(java(r"(?:ab)+|x\.y"), r"(?:ab)+|x\.y");
        assert_eq!(java("[a-z0-9_]"), "[0-9_a-z]");
        assert_eq!(java(""), "(?:)");
    }

    #[test]
    fn meanings_that_differ_are_spelled_out() {
        assert_eq!(java("a$"), r"a\z");
        assert_eq!(java("."), r"[^\x{A}]");
        assert_eq!(java("(?s)."), r"[\x{0}-\x{10FFFF}]");
        assert_eq!(java("(?i)k"), r"[Kk\x{212A}]");
        assert_eq!(java("[[:digit:]]"), "[0-9]");
        assert_eq!(java("(?-u:\\d)"), "[0-9]");
        assert!(java(r"\d").starts_with(r"[0-9\x{660}-\x{669}"), "Unicode digits: {}", java(r"\d"));
        assert_eq!(java("é"), r"\x{E9}");
        assert_eq!(java("# x"), "# x");
        assert_eq!(java("(?s:.)[^\u{D7FF}]"), r"[\x{0}-\x{10FFFF}][^\x{D7FF}]");
        assert_eq!(java("(?m)^a$"), r"(?:^|(?<=\n))a(?=\n|\z)");
        assert_eq!(java("[^a]"), "[^a]");
        assert_eq!(java("[^\u{D7FF}]"), r"[^\x{D7FF}]");
        assert_eq!(
            java("[\u{D000}-\u{D7FF}\u{E000}-\u{E0FF}]"),
            r"[\x{D000}-\x{E0FF}]",
            "joined across the surrogates"
        );
    }
}
