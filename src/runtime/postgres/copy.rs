//! Rows in the text format of `COPY … FROM STDIN`: a line per row, a tab
//! between columns, `\`, tab, newline and carriage return escaped. Every
//! column goes through its type's text input on the server, so one encoding
//! serves every column type a field may be written to.
//!
//! Timestamps go as RFC 3339 in UTC (a `timestamp without time zone`
//! column keeps the UTC wall time) and durations as seconds; PostgreSQL
//! keeps both to the microsecond, rounding the nanoseconds.

use std::io::Write;

use crate::check::types::{RecordType, Type};
use crate::compile::builtins::format_timestamp;
use crate::compile::row::RowRef;

/// Appends `row` as one line of COPY text.
pub fn push_row(out: &mut Vec<u8>, row: &RowRef<'_>, record: &RecordType) {
    for (index, field) in record.fields().iter().enumerate() {
        if index > 0 {
            out.push(b'\t');
        }
        match field.ty {
            Type::Int => {
                let _ = write!(out, "{}", row.i64_at(index));
            }
            Type::Float => push_float(out, row.f64_at(index)),
            Type::Bool => out.push(if row.bool_at(index) { b't' } else { b'f' }),
            Type::String => push_escaped(out, row.str_at(index)),
            Type::Timestamp => out.extend_from_slice(format_timestamp(row.i64_at(index)).as_bytes()),
            Type::Duration => push_duration(out, row.i64_at(index)),
        }
    }
    out.push(b'\n');
}

fn push_float(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        // Rust's shortest text that reads back as the same double.
        let _ = write!(out, "{value}");
    }
}

fn push_duration(out: &mut Vec<u8>, nanos: i64) {
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:09} seconds", magnitude / 1_000_000_000, magnitude % 1_000_000_000);
}

fn push_escaped(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::program::Value;
    use crate::compile::row::Batch;
    use std::sync::Arc;

    #[test]
    fn every_type_has_its_text_form() {
        let record = RecordType::of(&[
            ("i", Type::Int),
            ("f", Type::Float),
            ("b", Type::Bool),
            ("s", Type::String),
            ("t", Type::Timestamp),
            ("d", Type::Duration),
        ]);
        let mut batch = Batch::new(&record);
        batch.push_values(
            &record,
            &[
                Value::Int(-7),
                Value::Float(0.1),
                Value::Bool(true),
                Value::Str(Arc::from("a\tb\\c\nd")),
                Value::Timestamp(1_500_000_000),
                Value::Duration(-2_000_000_001),
            ],
        );
        batch.push_values(
            &record,
            &[
                Value::Int(0),
                Value::Float(f64::NEG_INFINITY),
                Value::Bool(false),
                Value::Str(Arc::from("")),
                Value::Timestamp(0),
                Value::Duration(0),
            ],
        );
        let mut out = Vec::new();
        for row in 0..batch.len() {
            push_row(&mut out, &batch.row(row, &record), &record);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-7\t0.1\tt\ta\\tb\\\\c\\nd\t1970-01-01T00:00:01.5Z\t-2.000000001 seconds\n\
             0\t-Infinity\tf\t\t1970-01-01T00:00:00Z\t0.000000000 seconds\n"
        );
    }
}
