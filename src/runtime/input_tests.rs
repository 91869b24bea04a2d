//! Tests of reading input as a line source does, from bytes to records:
//! no input panics the readers (arbitrary text, bytes read lossily or as
//! they are, mutations of good lines); every value the csv and jsonl sinks
//! write reads back as itself; and the errors name the right line, column
//! and limit.

use std::sync::Arc;

use proptest::prelude::*;

use crate::check::program::{Format, OnError, TimestampFormat, Value};
use crate::check::types::{RecordType, Type};
use crate::compile::row::Batch;

use super::read::{parse_json, parse_value, read_timestamp, CsvColumns};
use super::sinks::{push_csv_record, push_json_record};
use super::sources::{LineLimits, LineSettings, LineSource, ProduceError, Produced, RecordReader};

const R: TimestampFormat = TimestampFormat::Rfc3339;

fn record(fields: &[(&str, Type)]) -> Arc<RecordType> {
    RecordType::of(fields)
}

fn every_type() -> Arc<RecordType> {
    record(&[
        ("i", Type::Int),
        ("f", Type::Float),
        ("b", Type::Bool),
        ("s", Type::String),
        ("t", Type::Timestamp),
        ("d", Type::Duration),
    ])
}

fn settings(format: Format, on_error: OnError) -> LineSettings {
    LineSettings {
        format,
        on_error,
        header: format == Format::Csv,
        timestamps: R,
        limits: LineLimits { max_line_length: 1 << 20, batch_bytes: 32 << 10 },
    }
}

/// What a line source makes of `input`: its records, then its error.
struct Read {
    rows: Vec<Vec<Value>>,
    error: Option<String>,
    skipped: u64,
    /// The most rows and bytes one batch held.
    largest_batch: (usize, usize),
}

fn read(input: &[u8], settings: LineSettings, record: &Arc<RecordType>) -> Read {
    let mut source = LineSource::from_reader(std::io::Cursor::new(input.to_vec()), "in", settings, record);
    let mut batch = Batch::new(record);
    let mut read = Read { rows: Vec::new(), error: None, skipped: 0, largest_batch: (0, 0) };
    loop {
        batch.clear();
        match source.produce(&mut batch, 1024) {
            Ok(Produced::Records(_)) => {
                read.largest_batch = (read.largest_batch.0.max(batch.len()), read.largest_batch.1.max(batch.bytes()));
                read.rows.extend((0..batch.len()).map(|row| batch.row(row, record).values()));
            }
            Ok(Produced::Done) => break,
            Ok(Produced::WaitUntil(_)) => unreachable!("a file is never waited for"),
            Err(ProduceError::BadLine(bad)) => {
                read.error = Some(format!("{}: {}", bad.location, bad.message));
                break;
            }
            Err(ProduceError::Eval(_)) => unreachable!("a line source evaluates nothing"),
        }
    }
    read.skipped = source.skipped();
    read
}

/// Floats compare by their bits (so `-0.0` is not `0.0`), every NaN alike.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        (1u64..1 << 52).prop_map(f64::from_bits),
        (1u64..1 << 52).prop_map(|bits| -f64::from_bits(bits)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![",", "\"", "\n", "\r\n", "\r", " ", "é", "a", "\t", "\"\"", "{", "😀", ""]);
    prop_oneof![
        proptest::collection::vec(pieces, 0..8).prop_map(|pieces| pieces.concat()),
        proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
    ]
}

fn row() -> impl Strategy<Value = Vec<Value>> {
    (any::<i64>(), float(), any::<bool>(), text(), any::<i64>(), any::<i64>()).prop_map(|(i, f, b, s, t, d)| {
        vec![
            Value::Int(i),
            Value::Float(f),
            Value::Bool(b),
            Value::Str(Arc::from(s)),
            Value::Timestamp(t),
            Value::Duration(d),
        ]
    })
}

fn write(format: Format, record: &RecordType, rows: &[Vec<Value>]) -> Vec<u8> {
    let mut out = String::new();
    if format == Format::Csv {
        out.push_str(&record.field_names().collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    for row in rows {
        match format {
            Format::Csv => push_csv_record(&mut out, row),
            Format::Jsonl => push_json_record(&mut out, record, row),
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn assert_reads_back(format: Format, record: &Arc<RecordType>, rows: &[Vec<Value>]) -> Result<(), TestCaseError> {
    let written = write(format, record, rows);
    let read = read(&written, settings(format, OnError::Fail), record);
    prop_assert_eq!(read.error, None, "{}", String::from_utf8_lossy(&written));
    prop_assert_eq!(read.rows.len(), rows.len(), "{}", String::from_utf8_lossy(&written));
    for (got, wrote) in read.rows.iter().zip(rows) {
        prop_assert!(got.iter().zip(wrote).all(|(a, b)| same(a, b)), "wrote {:?}, read {:?}", wrote, got);
    }
    Ok(())
}

const GOOD_CSV: &str = "i,f,b,s,t,d\n1,2.5,true,\"a, \"\"b\"\"\nc\",2026-01-15T09:00:13.25+01:00,250ms\n\
    -7,-1e-300,false,plain,1970-01-01T00:00:00Z,-3s\n";
const GOOD_JSONL: &str =
    "{\"i\": 1, \"f\": 2.5, \"b\": true, \"s\": \"a\\nb\", \"t\": \"2026-01-15T09:00:13Z\", \"d\": \"1m\"}\n\
    {\"i\": -2, \"f\": \"NaN\", \"b\": false, \"s\": \"\", \"t\": \"1970-01-01T00:00:00.5-02:30\", \"d\": \"0s\"}\n";

/// A good input with a few bytes replaced, inserted or removed.
fn mutated(good: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), 0u8..3, any::<u8>());
    proptest::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut bytes = good.as_bytes().to_vec();
        for (at, kind, byte) in edits {
            let at = at.index(bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        bytes
    })
}

/// Reads `input` every way a source can; only the absence of a panic counts.
fn read_every_way(input: &[u8]) {
    let record = every_type();
    for format in [Format::Csv, Format::Jsonl] {
        for on_error in [OnError::Fail, OnError::Skip] {
            for timestamps in [R, TimestampFormat::EpochMillis] {
                let mut settings = settings(format, on_error);
                settings.timestamps = timestamps;
                read(input, settings, &record);
                settings.header = false;
                settings.limits.max_line_length = 16;
                read(input, settings, &record);
            }
        }
    }
}

/// Reads one line as every reader and every type would.
fn parse_every_way(line: &str) {
    let record = every_type();
    for timestamps in [R, TimestampFormat::EpochMillis] {
        let _ = CsvColumns::in_schema_order(&record, timestamps).parse(line, &record);
        let _ = CsvColumns::from_header(line, &record, timestamps);
        let _ = parse_json(line, &record, timestamps);
        for ty in [Type::Int, Type::Float, Type::Bool, Type::String, Type::Timestamp, Type::Duration] {
            let _ = parse_value(line, ty, timestamps);
        }
    }
    let _ = read_timestamp(line);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_text_panics_a_reader(line in proptest::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter)) {
        parse_every_way(&line);
    }

    #[test]
    fn no_bytes_panic_a_reader(bytes in proptest::collection::vec(any::<u8>(), 0..60)) {
        parse_every_way(&String::from_utf8_lossy(&bytes));
        read_every_way(&bytes);
    }

    #[test]
    fn no_mutated_line_panics_a_reader(csv in mutated(GOOD_CSV), jsonl in mutated(GOOD_JSONL)) {
        for bytes in [csv, jsonl] {
            for line in String::from_utf8_lossy(&bytes).lines() {
                parse_every_way(line);
            }
            read_every_way(&bytes);
        }
    }

    #[test]
    fn no_mutated_timestamp_or_number_panics_a_reader(
        text in mutated("2026-01-15T09:00:13.123456789+01:00"),
        number in mutated("-12.5e-3"),
        duration in mutated("1500ms"),
    ) {
        for bytes in [text, number, duration] {
            parse_every_way(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn every_value_reads_back_from_csv_and_jsonl(rows in proptest::collection::vec(row(), 1..6)) {
        let record = every_type();
        assert_reads_back(Format::Csv, &record, &rows)?;
        assert_reads_back(Format::Jsonl, &record, &rows)?;
    }

    #[test]
    fn a_lone_string_column_reads_back_even_blank(texts in proptest::collection::vec(text(), 1..6)) {
        let record = record(&[("s", Type::String)]);
        let rows: Vec<Vec<Value>> = texts.into_iter().map(|s| vec![Value::Str(Arc::from(s))]).collect();
        assert_reads_back(Format::Csv, &record, &rows)?;
        assert_reads_back(Format::Jsonl, &record, &rows)?;
    }
}

#[test]
fn the_good_inputs_are_good() {
    for (input, format) in [(GOOD_CSV, Format::Csv), (GOOD_JSONL, Format::Jsonl)] {
        let read = read(input.as_bytes(), settings(format, OnError::Fail), &every_type());
        assert_eq!((read.rows.len(), read.error), (2, None));
    }
}

fn people() -> Arc<RecordType> {
    record(&[("id", Type::Int), ("name", Type::String)])
}

fn error_of(input: &[u8], format: Format) -> String {
    read(input, settings(format, OnError::Fail), &people()).error.expect("an error")
}

#[test]
fn invalid_utf8_is_a_bad_line_with_its_place() {
    let input = b"id,name\n1,ok\n2,caf\xc3\xa9 \xff\n3,ok\n";
    assert_eq!(
        error_of(input, Format::Csv),
        "in:3:8: byte 0xff (byte 9 of the line) is not UTF-8; flowc reads UTF-8 text"
    );
    let skipped = read(input, settings(Format::Csv, OnError::Skip), &people());
    assert_eq!((skipped.rows.len(), skipped.skipped, skipped.error), (2, 1, None));
    let error = error_of(b"{\"id\": 1, \"name\": \"\xe9\"}\n", Format::Jsonl);
    assert!(error.starts_with("in:1:20: byte 0xe9 (byte 20 of the line)"), "{error}");
}

#[test]
fn a_multibyte_character_in_a_timestamp_is_a_bad_line_that_can_be_skipped() {
    let record = record(&[("id", Type::Int), ("ts", Type::Timestamp)]);
    let input = "id,ts\n1,2026-01-15T09:00:13+0é00\n2,2026-01-15T09:00:13Z\n".as_bytes();
    let failed = read(input, settings(Format::Csv, OnError::Fail), &record);
    let error = failed.error.expect("an error");
    assert!(
        error.starts_with("in:2:3: field `ts`: `2026-01-15T09:00:13+0é00` is not an RFC 3339 timestamp"),
        "{error}"
    );
    let skipped = read(input, settings(Format::Csv, OnError::Skip), &record);
    assert_eq!((skipped.rows.len(), skipped.skipped, skipped.error), (1, 1, None));
    let jsonl = "{\"id\": 1, \"ts\": \"2026-01-15T09:00:13+0é00\"}\n".as_bytes();
    assert_eq!(read(jsonl, settings(Format::Jsonl, OnError::Skip), &record).skipped, 1);
}

#[test]
fn a_byte_order_mark_is_no_part_of_the_first_column() {
    let read_csv = read(b"\xef\xbb\xbfid,name\n1,a\n", settings(Format::Csv, OnError::Fail), &people());
    assert_eq!((read_csv.rows.len(), read_csv.error), (1, None));
    let read_jsonl =
        read(b"\xef\xbb\xbf{\"id\": 1, \"name\": \"a\"}\n", settings(Format::Jsonl, OnError::Fail), &people());
    assert_eq!((read_jsonl.rows.len(), read_jsonl.error), (1, None));
    // Only at the very start: later, it is a character of a field.
    let later = read("id,name\n1,\u{feff}a\n".as_bytes(), settings(Format::Csv, OnError::Fail), &people());
    assert_eq!(later.rows, [vec![Value::Int(1), Value::Str(Arc::from("\u{feff}a"))]]);
}

#[test]
fn a_quoted_field_spans_lines_and_errors_keep_their_lines() {
    let input = b"id,name\n1,\"two\nlines\"\n2,\"x\"\"\r\ny\"\nthree,z\n";
    let read_all = read(input, settings(Format::Csv, OnError::Skip), &people());
    assert_eq!(
        read_all.rows,
        [
            vec![Value::Int(1), Value::Str(Arc::from("two\nlines"))],
            vec![Value::Int(2), Value::Str(Arc::from("x\"\r\ny"))]
        ]
    );
    assert_eq!(error_of(input, Format::Csv), "in:6:1: field `id`: `three` is not an int");
    // A mistake on the second line of a record is placed there, and says where the record starts.
    assert_eq!(
        error_of(b"id,name\n1,\"a\nb\"x\n", Format::Csv),
        "in:3:3: a quoted field must end at a comma (in the record that starts on line 2)"
    );
}

#[test]
fn a_line_longer_than_max_line_length_is_a_bad_line() {
    let mut settings = settings(Format::Csv, OnError::Fail);
    settings.limits.max_line_length = 64;
    let long = format!("id,name\n1,a\n2,{}\n3,c\n", "b".repeat(100));
    let failed = read(long.as_bytes(), settings, &people());
    assert_eq!(failed.error.as_deref(), Some("in:3: a line longer than 64 bytes (max_line_length)"));
    settings.on_error = OnError::Skip;
    let skipped = read(long.as_bytes(), settings, &people());
    assert_eq!((skipped.rows.len(), skipped.skipped), (2, 1));
    // No line break at all: still bounded, still one bad line.
    settings.header = false;
    let endless = vec![b'x'; 10_000];
    assert_eq!(read(&endless, settings, &people()).skipped, 1);
}

#[test]
fn a_last_line_without_its_line_break_is_read_when_it_parses() {
    let complete = read(b"id,name\n1,a\n2,b", settings(Format::Csv, OnError::Fail), &people());
    assert_eq!((complete.rows.len(), complete.error), (2, None));
    assert_eq!(
        error_of(b"id,name\n1,a\n2", Format::Csv),
        "in:3:2: expected 2 columns, found 1; the last line has no line break: was the input cut short?"
    );
    let error = error_of(b"id,name\n1,\"a", Format::Csv);
    assert!(error.starts_with("in:2:3: a quoted field without its closing quote; the last line"), "{error}");
    let error = error_of(b"{\"id\": 1, \"name\": \"a", Format::Jsonl);
    assert!(error.ends_with("was the input cut short?"), "{error}");
}

#[test]
fn a_batch_holds_about_one_buffer_of_bytes() {
    let mut settings = settings(Format::Csv, OnError::Fail);
    settings.limits.batch_bytes = 4096;
    let input = format!("id,name\n{}", (0..100).map(|i| format!("{i},{}\n", "x".repeat(1000))).collect::<String>());
    let read = read(input.as_bytes(), settings, &people());
    assert_eq!(read.rows.len(), 100);
    // The batch stops at the first row that reaches the bound.
    assert!(read.largest_batch.1 < 4096 + 1100, "{:?}", read.largest_batch);
}
