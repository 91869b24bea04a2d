//! Cutting an input into records, as bytes: a record ends at a line break,
//! or in csv at the first line break outside quotes (RFC 4180 lets a quoted
//! field span lines). No record grows past `max` bytes, so an input without
//! line breaks, or with a quote that never closes, cannot exhaust memory.
//! Both the file reader and the standard input reader thread call
//! `read_record`, so both cut records and count lines the same way.

use std::io::{self, BufRead};

/// One record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Its bytes without the line break that ends it; empty when too long.
    pub bytes: Vec<u8>,
    /// Line breaks read with it, its last included: the caller adds this to
    /// its line count to know where the next record starts.
    pub lines: usize,
    /// Whether a line break ended it (a file's last line may have none).
    pub terminated: bool,
    /// It ran past `max` bytes: it was dropped up to the next line break.
    pub too_long: bool,
}

/// Whether quotes can hold a line break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Every line break ends a record (jsonl).
    None,
    /// A `"` at the start of a field opens a quote that `"` closes, `""`
    /// inside being a quote character: the rules `read::split_csv` reads by.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: the closing quote, or half of `""`.
    QuoteInQuoted,
}

/// Reads the next record; `None` at the end of the input. A record of more
/// than `max` bytes (not counting its line break) comes back `too_long`,
/// with the rest of its line skipped, so reading can go on after it.
pub fn read_record(reader: &mut impl BufRead, max: usize, quoting: Quoting) -> io::Result<Option<RawRecord>> {
    let mut record = RawRecord { bytes: Vec::new(), lines: 0, terminated: false, too_long: false };
    let mut state = State::FieldStart;
    let mut started = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if chunk.is_empty() {
            break;
        }
        started = true;
        let (used, ended) = if record.too_long {
            // Quotes no longer count: the next line is the next chance of a good record.
            match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (chunk.len(), false),
            }
        } else {
            // Room for `max` bytes and a `\r\n`; more than that is too long anyway.
            let room = max.saturating_add(2).saturating_sub(record.bytes.len());
            let window = &chunk[..chunk.len().min(room)];
            let (used, ended) = match scan(window, &mut state, quoting) {
                Some(end) => (end, true),
                None => (window.len(), false),
            };
            record.bytes.extend_from_slice(&chunk[..used]);
            // Decided only at the end of the record or of the room, never at a
            // chunk's end, so that the records do not depend on the buffer.
            if (!ended && used == room) || (ended && content_length(&record.bytes) > max) {
                record.too_long = true;
                record.bytes = Vec::new();
            }
            (used, ended)
        };
        record.lines += chunk[..used].iter().filter(|&&b| b == b'\n').count();
        reader.consume(used);
        if ended {
            record.terminated = true;
            break;
        }
    }
    if !started {
        return Ok(None);
    }
    let length = content_length(&record.bytes);
    if length > max {
        // The end of the input ended it.
        record.too_long = true;
        record.bytes = Vec::new();
    }
    record.bytes.truncate(length);
    Ok(Some(record))
}

/// The end (after its `\n`) of the record in `bytes`, if it ends there.
fn scan(bytes: &[u8], state: &mut State, quoting: Quoting) -> Option<usize> {
    if quoting == Quoting::None {
        return bytes.iter().position(|&b| b == b'\n').map(|at| at + 1);
    }
    for (at, &byte) in bytes.iter().enumerate() {
        *state = match (*state, byte) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b'\n') => {
                *state = State::FieldStart;
                return Some(at + 1);
            }
            (_, b',') => State::FieldStart,
            (State::FieldStart, b'"') => State::Quoted,
            _ => State::Unquoted,
        };
    }
    None
}

/// The record's length without its line break (`\n`, `\r\n`, or stray `\r`s).
fn content_length(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(0, |at| at + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records(input: &[u8], max: usize, quoting: Quoting, capacity: usize) -> Vec<RawRecord> {
        let mut reader = io::BufReader::with_capacity(capacity, input);
        let mut out = Vec::new();
        while let Some(record) = read_record(&mut reader, max, quoting).unwrap() {
            out.push(record);
        }
        out
    }

    fn texts(records: &[RawRecord]) -> Vec<String> {
        records.iter().map(|r| String::from_utf8_lossy(&r.bytes).into_owned()).collect()
    }

    #[test]
    fn cuts_lines_and_keeps_quoted_line_breaks_in_csv() {
        let input = b"a,\"x\ny\",1\r\nb,\"\"\"\",2\n\"open\n";
        let read = records(input, 100, Quoting::Csv, 4);
        assert_eq!(texts(&read), ["a,\"x\ny\",1", "b,\"\"\"\",2", "\"open"]);
        assert_eq!(read.iter().map(|r| r.lines).collect::<Vec<_>>(), [2, 1, 1]);
        let read = records(input, 100, Quoting::None, 4);
        assert_eq!(texts(&read), ["a,\"x", "y\",1", "b,\"\"\"\",2", "\"open"]);
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_opens_nothing() {
        let read = records(b"a\"b,1\nc,2\n", 100, Quoting::Csv, 3);
        assert_eq!(texts(&read), ["a\"b,1", "c,2"]);
    }

    #[test]
    fn the_last_line_may_have_no_line_break() {
        let read = records(b"1\n2", 100, Quoting::None, 64);
        assert_eq!(texts(&read), ["1", "2"]);
        assert!(read[0].terminated && !read[1].terminated);
        assert!(records(b"", 100, Quoting::None, 64).is_empty());
    }

    #[test]
    fn too_long_records_are_dropped_to_the_next_line_break() {
        let input = b"12345\n123456\n\"12\n3456789\nok\n";
        let read = records(input, 5, Quoting::Csv, 2);
        // The open quote of the third record no longer counts once it is too long.
        assert_eq!(texts(&read), ["12345", "", "", "ok"]);
        assert_eq!(read.iter().map(|r| r.too_long).collect::<Vec<_>>(), [false, true, true, false]);
        assert_eq!(read.iter().map(|r| r.lines).sum::<usize>(), 5);
        // `\r\n` does not count against the bound.
        assert!(!records(b"12345\r\n", 5, Quoting::None, 64)[0].too_long);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Whatever the buffer size, the same records, every line break
        /// counted once, none longer than the bound.
        #[test]
        fn records_do_not_depend_on_the_buffer(
            input in proptest::collection::vec(prop::sample::select(b"a,\"\n\r".to_vec()), 0..60),
            capacity in 1usize..9,
            max in 1usize..12,
            csv in any::<bool>(),
        ) {
            let quoting = if csv { Quoting::Csv } else { Quoting::None };
            let small = records(&input, max, quoting, capacity);
            let large = records(&input, max, quoting, 4096);
            prop_assert_eq!(&small, &large);
            let newlines = input.iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(small.iter().map(|r| r.lines).sum::<usize>(), newlines);
            prop_assert!(small.iter().all(|r| r.bytes.len() <= max));
        }
    }
}
