//! The meaning of literal text: numbers with scale, duration and size
//! units, rates, and string escapes. Values are computed exactly (decimal
//! mantissa and exponent), so `2.5M` is 2 500 000 and `1.5s` is
//! 1 500 000 000 ns with no rounding.

use crate::diag::{Code, Diagnostic, Span};

use super::ast::ExprKind;

const UNITS_HELP: &str = "units are `ns us ms s m h d` for durations, `k M G` for thousands, millions and billions, \
                          and `B KiB MiB GiB KB MB GB` for sizes";

/// A number as written: all its digits, and where the decimal point goes.
struct Decimal {
    mantissa: u128,
    exp10: i32,
}

/// Decodes a `number` token such as `1_000`, `2.5M`, `10ms` or `32KiB`.
pub fn number(text: &str, span: Span) -> Result<ExprKind, Diagnostic> {
    let split = split_suffix(text);
    let (digits, suffix) = (split.0, split.1);
    if suffix.is_empty() {
        return plain_number(text, digits, span);
    }
    let decimal = decimal(digits, text, span)?;
    if let Some(factor) = scale_factor(suffix) {
        return whole(&decimal, factor, text, span, "a whole number").map(ExprKind::Int);
    }
    if let Some(nanos) = duration_factor(suffix) {
        return whole(&decimal, nanos, text, span, "a whole number of nanoseconds").map(ExprKind::Duration);
    }
    if let Some(bytes) = size_factor(suffix) {
        let value = whole(&decimal, bytes, text, span, "a whole number of bytes")?;
        return Ok(ExprKind::Size(value as u64));
    }
    Err(Diagnostic::error(Code::BadNumber, format!("unknown unit `{suffix}` in `{text}`"))
        .label(span, "not a unit flowc knows")
        .help(UNITS_HELP))
}

/// Decodes a `rate` token such as `100/s` or `2.5k/s` into records per second.
pub fn rate(text: &str, span: Span) -> Result<ExprKind, Diagnostic> {
    let (count_text, unit) = text.rsplit_once('/').expect("the grammar puts a `/` in every rate");
    let per_seconds = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => unreachable!("the grammar allows only these rate units"),
    };
    let (digits, suffix) = split_suffix(count_text);
    let scale = match suffix {
        "" => 1,
        other => scale_factor(other).ok_or_else(|| {
            Diagnostic::error(Code::BadNumber, format!("`{count_text}` is not a count of records in the rate `{text}`"))
                .label(span, "a rate is a count per time unit")
                .help("write a rate as `100/s`, `2.5k/s` or `1M/h`")
        })?,
    };
    let decimal = decimal(digits, text, span)?;
    let count = decimal.mantissa as f64 * scale as f64 * 10f64.powi(decimal.exp10);
    if !count.is_finite() {
        return Err(out_of_range(text, span, "a rate"));
    }
    Ok(ExprKind::Rate(count / per_seconds))
}

/// Decodes the text between a string's quotes; `offset` is where it starts
/// in the file, so an escape error can point at the escape.
pub fn string(body: &str, offset: usize) -> Result<String, Diagnostic> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape_start = offset + at;
        let (_, escaped) = chars.next().expect("the grammar never ends a string after a backslash");
        let decoded = match escaped {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '0' => Some('\0'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            'u' => unicode_escape(&mut chars),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => {
                let end = chars.clone().next().map_or(offset + body.len(), |(next, _)| offset + next);
                return Err(Diagnostic::error(Code::InvalidEscape, "unknown escape sequence in a string")
                    .label(Span::new(escape_start, end), "flowc does not know this escape")
                    .help("the escapes are `\\n \\t \\r \\0 \\\\ \\\"` and `\\u{…}` with a hexadecimal code point"));
            }
        }
    }
    Ok(out)
}

fn unicode_escape(chars: &mut std::str::CharIndices<'_>) -> Option<char> {
    if chars.next()?.1 != '{' {
        return None;
    }
    let mut hex = String::new();
    for (_, c) in chars.by_ref() {
        if c == '}' {
            return u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
        }
        if hex.len() == 6 || !c.is_ascii_hexdigit() {
            return None;
        }
        hex.push(c);
    }
    None
}

/// `("2.5", "M")` from `"2.5M"`; an exponent's `e` is part of the digits.
fn split_suffix(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        let exponent_follows = (b == b'e' || b == b'E')
            && bytes.get(at + 1).is_some_and(|n| {
                n.is_ascii_digit() || ((*n == b'+' || *n == b'-') && bytes.get(at + 2).is_some_and(u8::is_ascii_digit))
            });
        if b.is_ascii_alphabetic() && !exponent_follows {
            break;
        }
        at += if exponent_follows { 2 } else { 1 };
    }
    text.split_at(at)
}

fn plain_number(text: &str, digits: &str, span: Span) -> Result<ExprKind, Diagnostic> {
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.contains(['.', 'e', 'E']) {
        let value: f64 = clean.parse().map_err(|_| out_of_range(text, span, "a float"))?;
        if !value.is_finite() {
            return Err(out_of_range(text, span, "a float"));
        }
        return Ok(ExprKind::Float(value));
    }
    clean.parse::<i64>().map(ExprKind::Int).map_err(|_| out_of_range(text, span, "an int"))
}

fn decimal(digits: &str, text: &str, span: Span) -> Result<Decimal, Diagnostic> {
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let (mantissa_text, exponent) = match clean.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().map_err(|_| out_of_range(text, span, "a number"))?),
        None => (clean.clone(), 0),
    };
    let (whole_part, fraction) = mantissa_text.split_once('.').unwrap_or((&mantissa_text, ""));
    let all_digits = format!("{whole_part}{fraction}");
    let mantissa: u128 = all_digits.parse().map_err(|_| out_of_range(text, span, "a number"))?;
    Ok(Decimal { mantissa, exp10: exponent - fraction.len() as i32 })
}

/// `decimal × factor` as an exact whole number, or an error saying why not.
fn whole(decimal: &Decimal, factor: i64, text: &str, span: Span, what: &str) -> Result<i64, Diagnostic> {
    let not_whole = || {
        Diagnostic::error(Code::BadNumber, format!("`{text}` is not {what}"))
            .label(span, "this has a fraction left over")
            .help("use a smaller unit, such as `1500ms` for `1.5s` or `2500` for `2.5k`")
    };
    let too_large = || out_of_range(text, span, "a 64-bit value");
    let mut value = decimal.mantissa.checked_mul(factor as u128).ok_or_else(too_large)?;
    if decimal.exp10 >= 0 {
        let scale = 10u128.checked_pow(decimal.exp10 as u32).ok_or_else(too_large)?;
        value = value.checked_mul(scale).ok_or_else(too_large)?;
    } else {
        let divisor = 10u128.checked_pow(decimal.exp10.unsigned_abs()).ok_or_else(not_whole)?;
        if value % divisor != 0 {
            return Err(not_whole());
        }
        value /= divisor;
    }
    i64::try_from(value).map_err(|_| too_large())
}

fn out_of_range(text: &str, span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(Code::NumberOutOfRange, format!("`{text}` does not fit in {what}"))
        .label(span, "too large")
        .help(format!("the largest int is {}; durations are stored in nanoseconds and reach about 292 years", i64::MAX))
}

fn scale_factor(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    })
}

fn duration_factor(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return None,
    })
}

fn size_factor(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> ExprKind {
        number(text, Span::default()).unwrap()
    }

    fn num_err(text: &str) -> Code {
        number(text, Span::default()).unwrap_err().code
    }

    #[test]
    fn decodes_numbers_exactly() {
        assert_eq!(num("1_000"), ExprKind::Int(1000));
        assert_eq!(num("1k"), ExprKind::Int(1000));
        assert_eq!(num("2.5M"), ExprKind::Int(2_500_000));
        assert_eq!(num("1.5"), ExprKind::Float(1.5));
        assert_eq!(num("1e6"), ExprKind::Float(1e6));
        assert_eq!(num("1.5e-3"), ExprKind::Float(0.0015));
        assert_eq!(num("10us"), ExprKind::Duration(10_000));
        assert_eq!(num("1.5s"), ExprKind::Duration(1_500_000_000));
        assert_eq!(num("2m"), ExprKind::Duration(120_000_000_000));
        assert_eq!(num("32KiB"), ExprKind::Size(32 * 1024));
        assert_eq!(num("1MiB"), ExprKind::Size(1 << 20));
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(num_err("10xs"), Code::BadNumber);
        assert_eq!(num_err("1.2345k"), Code::BadNumber);
        assert_eq!(num_err("0.5ns"), Code::BadNumber);
        assert_eq!(num_err("99999999999999999999"), Code::NumberOutOfRange);
        assert_eq!(num_err("9999999999999999999G"), Code::NumberOutOfRange);
        assert_eq!(num_err("1e999"), Code::NumberOutOfRange);
        assert_eq!(num_err("1e99999999999"), Code::NumberOutOfRange);
    }

    #[test]
    fn decodes_rates_per_second() {
        assert_eq!(rate("100/s", Span::default()).unwrap(), ExprKind::Rate(100.0));
        assert_eq!(rate("100k/s", Span::default()).unwrap(), ExprKind::Rate(100_000.0));
        assert_eq!(rate("2.5k/s", Span::default()).unwrap(), ExprKind::Rate(2500.0));
        assert_eq!(rate("1/ms", Span::default()).unwrap(), ExprKind::Rate(1000.0));
        assert_eq!(rate("60/m", Span::default()).unwrap(), ExprKind::Rate(1.0));
        assert_eq!(rate("5ms/s", Span::default()).unwrap_err().code, Code::BadNumber);
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(string(r#"a\n\t\"\\\u{1F600}"#, 0).unwrap(), "a\n\t\"\\\u{1F600}");
        let err = string(r"ab\q", 10).unwrap_err();
        assert_eq!(err.code, Code::InvalidEscape);
        assert_eq!(err.primary_span(), Some(Span::new(12, 14)));
        assert_eq!(string(r"\u{110000}", 0).unwrap_err().code, Code::InvalidEscape);
    }
}
