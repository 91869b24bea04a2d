//! Reading records from text: one csv or jsonl line at a time, into the
//! values of a schema, with the column of whatever is wrong. Values are
//! written as in the language (docs/language.md, "Sources"): RFC 3339
//! timestamps, duration literals, `true`/`false`.
//!
//! A csv record is one line: a quoted field may hold commas and doubled
//! quotes, but not a line break.

use std::sync::Arc;

use crate::check::program::Value;
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

/// How a csv file's columns map to a schema's fields.
pub struct CsvColumns {
    /// For each field, its column.
    columns: Vec<usize>,
    n_columns: usize,
}

impl CsvColumns {
    /// Columns in schema order, for files without a header line.
    pub fn in_schema_order(record: &RecordType) -> CsvColumns {
        let n = record.fields().len();
        CsvColumns { columns: (0..n).collect(), n_columns: n }
    }

    /// Columns named by a header line; extra columns are ignored.
    pub fn from_header(line: &str, record: &RecordType) -> Result<CsvColumns, LineError> {
        let names = split_csv(line)?;
        let mut columns = Vec::with_capacity(record.fields().len());
        for field in record.fields() {
            match names.iter().position(|(name, _)| name.trim() == field.name) {
                Some(column) => columns.push(column),
                None => {
                    let found: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
                    return Err(LineError::at(
                        1,
                        format!("the header has no column `{}` (it has: {})", field.name, found.join(", ")),
                    ));
                }
            }
        }
        Ok(CsvColumns { columns, n_columns: names.len() })
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
                parse_value(text, field.ty)
                    .map_err(|message| LineError::at(*at, format!("field `{}`: {message}", field.name)))
            })
            .collect()
    }
}

/// Splits a csv line into fields, each with the column it starts at.
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
pub fn parse_json(line: &str, record: &RecordType) -> Result<Vec<Value>, LineError> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).map_err(|error| {
        LineError::at(error.column().max(1), format!("not a JSON object: {}", strip_position(&error.to_string())))
    })?;
    record
        .fields()
        .iter()
        .map(|field| {
            let column = member_column(line, &field.name);
            let Some(member) = object.get(&field.name) else {
                return Err(LineError::at(1, format!("no member `{}`", field.name)));
            };
            let value = match (field.ty, member) {
                (Type::Int, serde_json::Value::Number(n)) => n.as_i64().map(Value::Int),
                (Type::Float, serde_json::Value::Number(n)) => n.as_f64().map(Value::Float),
                (Type::Bool, serde_json::Value::Bool(b)) => Some(Value::Bool(*b)),
                (Type::String, serde_json::Value::String(s)) => Some(Value::Str(Arc::from(s.as_str()))),
                (_, serde_json::Value::String(s)) if field.ty != Type::String => {
                    return parse_value(s, field.ty)
                        .map_err(|message| LineError::at(column, format!("member `{}`: {message}", field.name)))
                }
                _ => None,
            };
            value.ok_or_else(|| {
                LineError::at(
                    column,
                    format!("member `{}`: expected {}, found {member}", field.name, field.ty.with_article()),
                )
            })
        })
        .collect()
}

/// serde_json appends "at line 1 column 7"; the caller gives the position.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// The column of `"name":` in a line, or 1.
fn member_column(line: &str, name: &str) -> usize {
    let quoted = format!("\"{name}\"");
    line.find(&quoted).map_or(1, |byte| line[..byte].chars().count() + 1)
}

/// Reads one value of type `ty` written as the language writes it.
pub fn parse_value(text: &str, ty: Type) -> Result<Value, String> {
    let trimmed = text.trim();
    let bad = || format!("`{text}` is not {}", ty.with_article());
    match ty {
        Type::Int => trimmed.parse().map(Value::Int).map_err(|_| bad()),
        Type::Float => match trimmed {
            "NaN" => Ok(Value::Float(f64::NAN)),
            "inf" => Ok(Value::Float(f64::INFINITY)),
            "-inf" => Ok(Value::Float(f64::NEG_INFINITY)),
            _ if trimmed.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => Err(bad()),
            _ => trimmed.parse().map(Value::Float).map_err(|_| bad()),
        },
        Type::Bool => match trimmed {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        Type::String => Ok(Value::Str(Arc::from(text))),
        Type::Timestamp => parse_timestamp(trimmed)
            .map(Value::Timestamp)
            .ok_or_else(|| format!("`{text}` is not an RFC 3339 timestamp such as `2026-01-15T09:00:13Z`")),
        Type::Duration => match crate::syntax::literal::number(trimmed, Span::new(0, 0)) {
            Ok(ExprKind::Duration(nanos)) => Ok(Value::Duration(nanos)),
            _ => Err(format!("`{text}` is not a duration such as `250ms`")),
        },
    }
}

/// `2026-01-15T09:00:13Z`, `2026-01-15T09:00:13.25+01:00`: nanoseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
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
        return None;
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if bytes[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let fraction = &text[start..at];
        if fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        nanos = fraction.parse::<i64>().ok()? * 10i64.pow(9 - fraction.len() as u32);
    }
    let offset_seconds = match &text[at..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && matches!(&zone[..1], "+" | "-") && &zone[3..4] == ":" => {
            let hours = digits(at + 1..at + 3)?;
            let minutes = digits(at + 4..at + 6)?;
            let sign = if &zone[..1] == "-" { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
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
        let columns = CsvColumns::from_header("ts,extra,name,id", &record).unwrap();
        let values = columns.parse("2026-01-15T09:00:13Z,x,\"a, \"\"b\"\"\",7", &record).unwrap();
        assert_eq!(values[0], Value::Int(7));
        assert_eq!(values[1], Value::Str(Arc::from("a, \"b\"")));
        assert_eq!(values[2], Value::Timestamp(1_768_467_613_000_000_000));
    }

    #[test]
    fn points_at_the_bad_field() {
        let record = record();
        let columns = CsvColumns::in_schema_order(&record);
        let error = columns.parse("1,ok,yesterday", &record).unwrap_err();
        assert_eq!(error.column, 6);
        assert!(error.message.contains("field `ts`"), "{}", error.message);
        assert_eq!(columns.parse("1,ok", &record).unwrap_err().message, "expected 3 columns, found 2");
        let missing = CsvColumns::from_header("id,name", &record).err().unwrap();
        assert!(missing.message.contains("no column `ts`"));
    }

    #[test]
    fn reads_json_lines() {
        let record = record();
        let values = parse_json(r#"{"id": 3, "name": "x", "ts": "1970-01-01T00:00:01.5Z"}"#, &record).unwrap();
        assert_eq!(values[2], Value::Timestamp(1_500_000_000));
        let error = parse_json(r#"{"id": "three", "name": "x", "ts": "1970-01-01T00:00:00Z"}"#, &record).unwrap_err();
        assert_eq!(error.column, 2);
        assert!(parse_json("{\"id\": 1,", &record).is_err());
    }

    #[test]
    fn reads_timestamps_with_offsets_and_rejects_impossible_dates() {
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("2000-02-29T00:00:00Z"), Some(951_782_400_000_000_000));
        assert_eq!(parse_timestamp("2001-02-29T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-01-15 09:00:13"), None);
    }

    proptest! {
        #[test]
        fn timestamps_read_back_what_str_writes(nanos in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000) {
            prop_assert_eq!(parse_timestamp(&format_timestamp(nanos)), Some(nanos));
        }
    }
}
