//! Reading records from text: one csv or jsonl record at a time, into the
//! values of a schema, with the column of whatever is wrong. Values are
//! written as in the language (docs/language.md, "Sources"): RFC 3339
//! timestamps (or epoch milliseconds, with `timestamp_format =
//! epoch_millis`), duration literals, `true`/`false`.
//!
//! A csv record may span lines: a quoted field holds commas, doubled quotes
//! and line breaks (RFC 4180); `lines::read_record` cuts the input into
//! records by the same quoting rules `split_csv` reads them by.

use std::sync::Arc;

use crate::check::program::{TimestampFormat, Value};
use crate::check::types::{RecordType, Type};
use crate::diag::Span;
use crate::syntax::ast::ExprKind;

/// What is wrong with a line, and where (1-based character column).
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    pub column: usize,
    pub message: String,
}

impl LineError {
    fn at(column: usize, message: impl Into<String>) -> LineError {
        LineError { column, message: message.into() }
    }
}

/// The range of a timestamp: nanoseconds since the epoch in an `i64`.
pub const TIMESTAMP_RANGE: &str = "1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z";

/// How a csv file's columns map to a schema's fields.
pub struct CsvColumns {
    /// For each field, its column.
    columns: Vec<usize>,
    n_columns: usize,
    timestamps: TimestampFormat,
}

impl CsvColumns {
    /// Columns in schema order, for files without a header line.
    pub fn in_schema_order(record: &RecordType, timestamps: TimestampFormat) -> CsvColumns {
        let n = record.fields().len();
        CsvColumns { columns: (0..n).collect(), n_columns: n, timestamps }
    }

    /// Columns named by a header line; extra columns are ignored, but a
    /// field named by two columns is an error: which one was meant?
    pub fn from_header(line: &str, record: &RecordType, timestamps: TimestampFormat) -> Result<CsvColumns, LineError> {
        let names = split_csv(line)?;
        let mut columns = Vec::with_capacity(record.fields().len());
        for field in record.fields() {
            let mut named = names.iter().enumerate().filter(|(_, (name, _))| name.trim() == field.name);
            match (named.next(), named.next()) {
                (Some((first, _)), Some((second, (_, at)))) => {
                    return Err(LineError::at(
                        *at,
                        format!(
                            "the header names `{}` twice (columns {} and {}); rename or remove one",
                            field.name,
                            first + 1,
                            second + 1
                        ),
                    ));
                }
                (Some((column, _)), None) => columns.push(column),
                (None, _) => {
                    let found: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
                    return Err(LineError::at(
                        1,
                        format!("the header has no column `{}` (it has: {})", field.name, found.join(", ")),
                    ));
                }
            }
        }
        Ok(CsvColumns { columns, n_columns: names.len(), timestamps })
    }

    pub fn parse(&self, line: &str, record: &RecordType) -> Result<Vec<Value>, LineError> {
        let fields = split_csv(line)?;
        if fields.len() != self.n_columns {
            let column = line.chars().count() + 1;
            return Err(LineError::at(column, format!("expected {} columns, found {}", self.n_columns, fields.len())));
        }
        record
            .fields()
            .iter()
            .zip(&self.columns)
            .map(|(field, &column)| {
                let (text, at) = &fields[column];
                parse_value(text, field.ty, self.timestamps)
                    .map_err(|message| LineError::at(*at, format!("field `{}`: {message}", field.name)))
            })
            .collect()
    }
}

/// Splits a csv record into fields, each with the column it starts at.
fn split_csv(line: &str) -> Result<Vec<(String, usize)>, LineError> {
    let mut fields = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    loop {
        let start = chars.peek().map_or(line.chars().count(), |(index, _)| *index) + 1;
        let mut text = String::new();
        if chars.peek().is_some_and(|(_, c)| *c == '"') {
            chars.next();
            loop {
                match chars.next() {
                    Some((_, '"')) if chars.peek().is_some_and(|(_, c)| *c == '"') => {
                        chars.next();
                        text.push('"');
                    }
                    Some((_, '"')) => break,
                    Some((_, c)) => text.push(c),
                    None => return Err(LineError::at(start, "a quoted field without its closing quote")),
                }
            }
            match chars.next() {
                None => {
                    fields.push((text, start));
                    return Ok(fields);
                }
                Some((_, ',')) => fields.push((text, start)),
                Some((index, _)) => return Err(LineError::at(index + 1, "a quoted field must end at a comma")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push((text, start));
                        return Ok(fields);
                    }
                    Some((_, ',')) => break,
                    Some((_, c)) => text.push(c),
                }
            }
            fields.push((text, start));
        }
    }
}

/// Reads a jsonl line: an object with a member for every field.
pub fn parse_json(line: &str, record: &RecordType, timestamps: TimestampFormat) -> Result<Vec<Value>, LineError> {
    let members = super::json::members(line)?;
    record
        .fields()
        .iter()
        .map(|field| {
            let Some(member) = members.iter().find(|member| member.key == field.name) else {
                return Err(LineError::at(1, format!("no member `{}`", field.name)));
            };
            json_value(member, field.ty, timestamps)
                .map_err(|message| LineError::at(member.column, format!("member `{}`: {message}", field.name)))
        })
        .collect()
}

fn json_value(member: &super::json::Member<'_>, ty: Type, timestamps: TimestampFormat) -> Result<Value, String> {
    use serde_json::Value as Json;
    let text = member.text;
    let found = || {
        let shown: String = text.chars().take(40).collect();
        let more = if shown.len() < text.len() { "…" } else { "" };
        format!("expected {}, found {shown}{more}", ty.with_article())
    };
    match (ty, &member.value) {
        (Type::Int, Json::Number(n)) => match n.as_i64() {
            Some(v) => Ok(Value::Int(v)),
            None if is_integer(text) => Err(int_out_of_range(text)),
            None => Err(found()),
        },
        (Type::Float, Json::Number(n)) => n.as_f64().map(Value::Float).ok_or_else(found),
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::String, Json::String(s)) => Ok(Value::Str(Arc::from(s.as_str()))),
        (Type::Timestamp, Json::Number(_)) if timestamps == TimestampFormat::EpochMillis => {
            epoch_millis(text).map(Value::Timestamp)
        }
        (Type::Timestamp, Json::String(_)) if timestamps == TimestampFormat::EpochMillis => Err(format!(
            "expected a number of milliseconds since the epoch (`timestamp_format = epoch_millis`), found {text}"
        )),
        (Type::Timestamp, Json::Number(_)) => Err(format!(
            "expected an RFC 3339 timestamp string such as \"2026-01-15T09:00:13Z\", found {text}; \
             for milliseconds since the epoch, give the source `timestamp_format = epoch_millis`"
        )),
        (_, Json::String(s)) if ty != Type::String => parse_value(s, ty, timestamps),
        _ => Err(found()),
    }
}

/// `-12`, `345`: digits with an optional sign, of any length.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn int_out_of_range(text: &str) -> String {
    format!("`{text}` is out of range for an int ({} to {})", i64::MIN, i64::MAX)
}

/// A timestamp written as whole milliseconds since the epoch.
fn epoch_millis(text: &str) -> Result<i64, String> {
    if !is_integer(text) {
        return Err(format!(
            "`{text}` is not a whole number of milliseconds since the epoch (`timestamp_format = epoch_millis`)"
        ));
    }
    text.parse::<i64>().ok().and_then(|millis| millis.checked_mul(1_000_000)).ok_or_else(|| {
        format!("`{text}` milliseconds since the epoch is outside flowc's range of timestamps, {TIMESTAMP_RANGE}")
    })
}

/// Reads one value of type `ty` written as the language writes it.
pub fn parse_value(text: &str, ty: Type, timestamps: TimestampFormat) -> Result<Value, String> {
    let trimmed = text.trim();
    let bad = || format!("`{text}` is not {}", ty.with_article());
    match ty {
        Type::Int => match trimmed.parse() {
            Ok(v) => Ok(Value::Int(v)),
            Err(_) if is_integer(trimmed) => Err(int_out_of_range(trimmed)),
            Err(_) => Err(bad()),
        },
        Type::Float => match trimmed {
            "NaN" => Ok(Value::Float(f64::NAN)),
            "inf" => Ok(Value::Float(f64::INFINITY)),
            "-inf" => Ok(Value::Float(f64::NEG_INFINITY)),
            _ if trimmed.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => Err(bad()),
            _ => match trimmed.parse::<f64>() {
                // Only the words `inf` and `-inf` stand for infinities; a
                // number too large for a float is a mistake, as in jsonl.
                Ok(v) if v.is_infinite() => Err(format!(
                    "`{trimmed}` is out of range for a float (largest: {:e}; write `inf` for infinity)",
                    f64::MAX
                )),
                Ok(v) => Ok(Value::Float(v)),
                Err(_) => Err(bad()),
            },
        },
        Type::Bool => match trimmed {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        Type::String => Ok(Value::Str(Arc::from(text))),
        Type::Timestamp if timestamps == TimestampFormat::EpochMillis => epoch_millis(trimmed).map(Value::Timestamp),
        Type::Timestamp => match read_timestamp(trimmed) {
            Ok(nanos) => Ok(Value::Timestamp(nanos)),
            Err(TimestampError::OutOfRange) => Err(format!(
                "`{trimmed}` is a valid RFC 3339 timestamp but outside flowc's range, {TIMESTAMP_RANGE} \
                 (nanoseconds since the epoch in 64 bits)"
            )),
            Err(TimestampError::NotRfc3339) => {
                Err(format!("`{text}` is not an RFC 3339 timestamp such as `2026-01-15T09:00:13Z`"))
            }
        },
        Type::Duration => parse_duration(trimmed)
            .map(Value::Duration)
            .ok_or_else(|| format!("`{text}` is not a duration such as `250ms`")),
    }
}

/// A duration literal, with a minus sign for the negative ones `str()` writes.
fn parse_duration(text: &str) -> Option<i64> {
    let literal = |text: &str| match crate::syntax::literal::number(text, Span::new(0, 0)) {
        Ok(ExprKind::Duration(nanos)) => Some(nanos),
        _ => None,
    };
    match text.strip_prefix('-') {
        // The one negative duration whose magnitude is no positive one.
        Some("9223372036854775808ns") => Some(i64::MIN),
        Some(magnitude) if !magnitude.starts_with(['-', '+']) => literal(magnitude).map(|nanos| -nanos),
        Some(_) => None,
        None => literal(text),
    }
}

/// Why text is not a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    NotRfc3339,
    /// Valid RFC 3339, but outside what nanoseconds in an `i64` reach.
    OutOfRange,
}

/// `2026-01-15T09:00:13Z`, `2026-01-15T09:00:13.25+01:00`: nanoseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    read_timestamp(text).ok()
}

/// `parse_timestamp`, saying why not.
pub fn read_timestamp(text: &str) -> Result<i64, TimestampError> {
    use TimestampError::NotRfc3339;
    let bytes = text.as_bytes();
    // Every position below is a byte position; `get` refuses what would cut a character.
    let digits = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
        let part = text.get(range).ok_or(NotRfc3339)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NotRfc3339);
        }
        part.parse().map_err(|_| NotRfc3339)
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return Err(NotRfc3339);
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return Err(NotRfc3339);
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(NotRfc3339);
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if bytes[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let fraction = &bytes[start..at];
        if fraction.is_empty() || fraction.len() > 9 {
            return Err(NotRfc3339);
        }
        nanos = digits(start..at)? * 10i64.pow(9 - fraction.len() as u32);
    }
    let offset_seconds = match &bytes[at..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (digits(at + 1..at + 3)?, digits(at + 4..at + 6)?);
            if hours > 23 || minutes > 59 {
                return Err(NotRfc3339);
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return Err(NotRfc3339),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    // In i128, so that the first nanoseconds of 1677-09-21 are not lost to an
    // overflow of the whole seconds alone.
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    i64::try_from(total).map_err(|_| TimestampError::OutOfRange)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, the inverse of `builtins::civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::types::Field;
    use crate::compile::builtins::format_timestamp;
    use proptest::prelude::*;

    const R: TimestampFormat = TimestampFormat::Rfc3339;

    fn record() -> Arc<RecordType> {
        RecordType::new(vec![
            Field { name: "id".into(), ty: Type::Int },
            Field { name: "name".into(), ty: Type::String },
            Field { name: "ts".into(), ty: Type::Timestamp },
        ])
    }

    #[test]
    fn reads_csv_with_quotes_and_a_header_in_any_order() {
        let record = record();
        let columns = CsvColumns::from_header("ts,extra,name,id", &record, R).unwrap();
        let values = columns.parse("2026-01-15T09:00:13Z,x,\"a, \"\"b\"\"\",7", &record).unwrap();
        assert_eq!(values[0], Value::Int(7));
        assert_eq!(values[1], Value::Str(Arc::from("a, \"b\"")));
        assert_eq!(values[2], Value::Timestamp(1_768_467_613_000_000_000));
    }

    #[test]
    fn points_at_the_bad_field() {
        let record = record();
        let columns = CsvColumns::in_schema_order(&record, R);
        let error = columns.parse("1,ok,yesterday", &record).unwrap_err();
        assert_eq!(error.column, 6);
        assert!(error.message.contains("field `ts`"), "{}", error.message);
        assert_eq!(columns.parse("1,ok", &record).unwrap_err().message, "expected 3 columns, found 2");
        let missing = CsvColumns::from_header("id,name", &record, R).err().unwrap();
        assert!(missing.message.contains("no column `ts`"));
    }

    #[test]
    fn reads_json_lines() {
        let record = record();
        let values = parse_json(r#"{"id": 3, "name": "x", "ts": "1970-01-01T00:00:01.5Z"}"#, &record, R).unwrap();
        assert_eq!(values[2], Value::Timestamp(1_500_000_000));
        let error =
            parse_json(r#"{"id": "three", "name": "x", "ts": "1970-01-01T00:00:00Z"}"#, &record, R).unwrap_err();
        assert_eq!(error.column, 8);
        assert!(parse_json("{\"id\": 1,", &record, R).is_err());
    }

    #[test]
    fn reads_timestamps_with_offsets_and_rejects_impossible_dates() {
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Some(951_782_400_000_000_000));
        assert_eq!(parse_timestamp("2001-02-29T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-01-15 09:00:13"), None);
    }

    #[test]
    fn a_multibyte_character_anywhere_in_a_timestamp_is_no_panic() {
        for text in [
            "2026-01-15T09:00:13+0é00",
            "2026-01-15T09:00:13é0:00",
            "2026-01-15T09:00:13.5+01:é",
            "2026-01-15T09:00:1é+01:00",
            "2026-01-15T09:00:13.é",
            "é026-01-15T09:00:13Z",
        ] {
            assert_eq!(read_timestamp(text), Err(TimestampError::NotRfc3339), "{text}");
        }
        let error =
            CsvColumns::in_schema_order(&record(), R).parse("1,x,2026-01-15T09:00:13+0é00", &record()).unwrap_err();
        assert_eq!(error.column, 5);
        assert!(error.message.contains("is not an RFC 3339 timestamp"), "{}", error.message);
    }

    #[test]
    fn the_ends_of_the_timestamp_range_are_read_and_beyond_them_is_out_of_range() {
        assert_eq!(read_timestamp("1677-09-21T00:12:43.145224192Z"), Ok(i64::MIN));
        assert_eq!(read_timestamp("2262-04-11T23:47:16.854775807Z"), Ok(i64::MAX));
        assert_eq!(read_timestamp("2262-04-11T23:47:16.854775808Z"), Err(TimestampError::OutOfRange));
        assert_eq!(read_timestamp("9999-12-31T23:59:59Z"), Err(TimestampError::OutOfRange));
        let message = parse_value("9999-12-31T23:59:59Z", Type::Timestamp, R).unwrap_err();
        assert_eq!(
            message,
            "`9999-12-31T23:59:59Z` is a valid RFC 3339 timestamp but outside flowc's range, \
             1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z (nanoseconds since the epoch in 64 bits)"
        );
    }

    #[test]
    fn numbers_out_of_range_are_shown_as_written() {
        let int_range = "is out of range for an int (-9223372036854775808 to 9223372036854775807)";
        let message = parse_value("99999999999999999999", Type::Int, R).unwrap_err();
        assert_eq!(message, format!("`99999999999999999999` {int_range}"));
        let record = RecordType::new(vec![Field { name: "n".into(), ty: Type::Int }]);
        let error = parse_json(r#"{"n": 99999999999999999999}"#, &record, R).unwrap_err();
        assert_eq!(error.message, format!("member `n`: `99999999999999999999` {int_range}"));
        assert_eq!(error.column, 7);
        let error = parse_json(r#"{"n": 9223372036854775808}"#, &record, R).unwrap_err();
        assert!(error.message.contains(int_range), "{}", error.message);
        assert!(parse_json(r#"{"n": 1.5}"#, &record, R).unwrap_err().message.ends_with("expected an int, found 1.5"));
        let message = parse_value("1e400", Type::Float, R).unwrap_err();
        assert!(message.starts_with("`1e400` is out of range for a float"), "{message}");
        assert!(parse_value("-1e400", Type::Float, R).is_err());
        assert_eq!(parse_value(" inf", Type::Float, R), Ok(Value::Float(f64::INFINITY)));
        assert_eq!(parse_value("1e-400", Type::Float, R), Ok(Value::Float(0.0)));
    }

    #[test]
    fn a_field_named_by_two_header_columns_is_an_error() {
        let error = CsvColumns::from_header("id,name,ts,id", &record(), R).err().unwrap();
        assert_eq!(error.column, 12);
        assert!(error.message.starts_with("the header names `id` twice (columns 1 and 4)"), "{}", error.message);
        // A repeated column that names no field is one more column to ignore.
        assert!(CsvColumns::from_header("id,x,name,x,ts", &record(), R).is_ok());
    }

    #[test]
    fn a_repeated_json_key_is_an_error() {
        let error =
            parse_json(r#"{"id": 1, "name": "x", "ts": "1970-01-01T00:00:00Z", "id": 2}"#, &record(), R).unwrap_err();
        assert!(error.message.contains("the key `id` appears twice"), "{}", error.message);
    }

    #[test]
    fn reads_epoch_milliseconds_when_asked() {
        let millis = TimestampFormat::EpochMillis;
        assert_eq!(parse_value("1500", Type::Timestamp, millis), Ok(Value::Timestamp(1_500_000_000)));
        assert_eq!(parse_value("-1", Type::Timestamp, millis), Ok(Value::Timestamp(-1_000_000)));
        assert!(parse_value("2026-01-15T09:00:13Z", Type::Timestamp, millis).unwrap_err().contains("milliseconds"));
        assert!(parse_value("1.5", Type::Timestamp, millis).is_err());
        assert!(parse_value("9223372036854776", Type::Timestamp, millis)
            .unwrap_err()
            .contains("outside flowc's range"));
        let values = parse_json(r#"{"id": 1, "name": "x", "ts": 1768467613000}"#, &record(), millis).unwrap();
        assert_eq!(values[2], Value::Timestamp(1_768_467_613_000_000_000));
        assert!(parse_json(r#"{"id": 1, "name": "x", "ts": "1970-01-01T00:00:00Z"}"#, &record(), millis).is_err());
        let error = parse_json(r#"{"id": 1, "name": "x", "ts": 1768467613000}"#, &record(), R).unwrap_err();
        assert!(error.message.contains("timestamp_format = epoch_millis"), "{}", error.message);
    }

    proptest! {
        #[test]
        fn timestamps_read_back_what_str_writes(nanos in any::<i64>()) {
            prop_assert_eq!(parse_timestamp(&format_timestamp(nanos)), Some(nanos));
        }
    }
}
