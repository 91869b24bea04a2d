//! Line sources, `file(path)` and `stdin(format)`, in csv or jsonl.
//!
//! Standard input is read on a helper thread that hands lines over a small
//! bounded channel, so a subtask waiting for input can still see Ctrl-C.
//!
//! A line source reads records as bytes (`lines::read_record`, at most
//! `max_line_length` each) and stops a batch at about one buffer's worth of
//! bytes, so memory stays bounded whatever the lines; it checks UTF-8 itself,
//! so a bad byte has a line and column like any other mistake.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::check::program::{Format, OnError, TimestampFormat, Value};
use crate::check::types::RecordType;
use crate::compile::row::Batch;
use crate::runtime::control::POLL;
use crate::runtime::lines::{read_record, Quoting, RawRecord};
use crate::runtime::read::{parse_json, CsvColumns, LineError};

use super::{BadLine, LineLimits, ProduceError, Produced, RecordReader};

enum LineRead {
    Record(RawRecord),
    End,
    /// Standard input has nothing yet.
    NotYet,
}

enum LineInput {
    /// A file, or (in tests) any bytes.
    File(Box<dyn BufRead + Send>),
    Stdin(Receiver<std::io::Result<Vec<RawRecord>>>),
}

/// A line source's arguments and limits.
#[derive(Debug, Clone, Copy)]
pub struct LineSettings {
    pub format: Format,
    pub on_error: OnError,
    pub header: bool,
    pub timestamps: TimestampFormat,
    pub limits: LineLimits,
}

impl LineSettings {
    pub(super) fn new(
        format: Format,
        on_error: OnError,
        header: bool,
        timestamps: TimestampFormat,
        limits: LineLimits,
    ) -> Self {
        LineSettings { format, on_error, header, timestamps, limits }
    }
}

fn quoting(format: Format) -> Quoting {
    match format {
        Format::Csv => Quoting::Csv,
        Format::Jsonl => Quoting::None,
    }
}

pub struct LineSource {
    input: LineInput,
    /// Records handed over by the stdin reader and not read yet.
    pending: std::collections::VecDeque<RawRecord>,
    name: String,
    settings: LineSettings,
    columns: Option<CsvColumns>,
    record: Arc<RecordType>,
    /// The line the next record starts on, from 1.
    next_line: usize,
    skipped: u64,
    done: bool,
    /// Set by `SourceReader::stop`.
    stopping: bool,
}

/// A record that could not be read: where it is and why.
struct Bad {
    line: usize,
    /// The column, when the mistake has one (a line too long has none).
    column: Option<usize>,
    message: String,
}

impl LineSource {
    /// A source reading `reader` as a file named `name`.
    #[cfg(test)]
    pub fn from_reader(
        reader: impl BufRead + Send + 'static,
        name: &str,
        settings: LineSettings,
        record: &Arc<RecordType>,
    ) -> Self {
        LineSource::new(LineInput::File(Box::new(reader)), name.into(), settings, record)
    }

    /// `file(path)`.
    pub(super) fn file(path: &str, settings: LineSettings, record: &Arc<RecordType>) -> Result<Self, String> {
        let file = File::open(path).map_err(|error| format!("cannot open `{path}`: {error}"))?;
        let lines = LineInput::File(Box::new(BufReader::with_capacity(256 << 10, file)));
        Ok(LineSource::new(lines, path.to_string(), settings, record))
    }

    /// `stdin(format)`.
    pub(super) fn stdin(settings: LineSettings, record: &Arc<RecordType>) -> Self {
        let lines = LineInput::Stdin(spawn_stdin_reader(settings.limits.max_line_length, quoting(settings.format)));
        LineSource::new(lines, "<stdin>".into(), settings, record)
    }

    fn new(input: LineInput, name: String, settings: LineSettings, record: &Arc<RecordType>) -> Self {
        let columns = (settings.format == Format::Csv && !settings.header)
            .then(|| CsvColumns::in_schema_order(record, settings.timestamps));
        LineSource {
            input,
            pending: std::collections::VecDeque::new(),
            name,
            settings,
            columns,
            record: record.clone(),
            next_line: 1,
            skipped: 0,
            done: false,
            stopping: false,
        }
    }

    fn next_record(&mut self) -> Result<LineRead, ProduceError> {
        let io_error = |name: &str, error: std::io::Error| {
            ProduceError::BadLine(BadLine { location: name.to_string(), message: format!("cannot read: {error}") })
        };
        match &mut self.input {
            LineInput::File(_) if self.stopping => Ok(LineRead::End),
            LineInput::File(reader) => {
                match read_record(reader, self.settings.limits.max_line_length, quoting(self.settings.format)) {
                    Ok(Some(record)) => Ok(LineRead::Record(record)),
                    Ok(None) => Ok(LineRead::End),
                    Err(error) => Err(io_error(&self.name, error)),
                }
            }
            LineInput::Stdin(records) => loop {
                if let Some(record) = self.pending.pop_front() {
                    return Ok(LineRead::Record(record));
                }
                if self.stopping {
                    // Lines the reader thread holds were read: they drain too.
                    return match records.try_recv() {
                        Ok(Ok(chunk)) => {
                            self.pending.extend(chunk);
                            continue;
                        }
                        Ok(Err(error)) => Err(io_error(&self.name, error)),
                        Err(_) => Ok(LineRead::End),
                    };
                }
                match records.recv_timeout(POLL) {
                    Ok(Ok(chunk)) => self.pending.extend(chunk),
                    Ok(Err(error)) => return Err(io_error(&self.name, error)),
                    Err(RecvTimeoutError::Disconnected) => return Ok(LineRead::End),
                    // Let the subtask look at Ctrl-C and flush its buffers.
                    Err(RecvTimeoutError::Timeout) => return Ok(LineRead::NotYet),
                }
            },
        }
    }

    fn produce_lines(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        let mut n = 0;
        while n < max_rows && output.bytes() < self.settings.limits.batch_bytes && !self.done {
            let record = match self.next_record()? {
                LineRead::Record(record) => record,
                LineRead::End => {
                    self.done = true;
                    break;
                }
                LineRead::NotYet if n > 0 => break,
                LineRead::NotYet => return Ok(Produced::WaitUntil(Instant::now())),
            };
            let first = self.next_line == 1;
            let line = self.next_line;
            self.next_line += record.lines;
            let is_header = self.columns.is_none() && self.settings.format == Format::Csv && self.settings.header;
            let values = match self.read(&record, line, first, is_header) {
                Ok(Some(values)) => values,
                Ok(None) => continue,
                // Without its header no line of the file can be read.
                Err(_) if self.settings.on_error == OnError::Skip && !is_header => {
                    self.skipped += 1;
                    continue;
                }
                Err(bad) => return Err(self.bad_line(bad, &record)),
            };
            output.push_values(&self.record, &values);
            n += 1;
        }
        Ok(if n > 0 { Produced::Records(n) } else { Produced::Done })
    }

    /// The values of one record; `None` for a header or a blank line.
    fn read(
        &mut self,
        record: &RawRecord,
        line: usize,
        first: bool,
        is_header: bool,
    ) -> Result<Option<Vec<Value>>, Bad> {
        if record.too_long {
            let max = self.settings.limits.max_line_length;
            return Err(Bad {
                line,
                column: None,
                message: format!("a line longer than {max} bytes (max_line_length)"),
            });
        }
        let mut bytes = record.bytes.as_slice();
        if first {
            // Editors on Windows begin UTF-8 files with a byte-order mark; it is no part of the first name.
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|error| {
            let valid = std::str::from_utf8(&bytes[..error.valid_up_to()]).expect("valid up to here");
            let (lines_before, column) = place(valid, valid.chars().count() + 1);
            let absolute = record.bytes.len() - bytes.len() + error.valid_up_to();
            let line_start = record.bytes[..absolute].iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
            Bad {
                line: line + lines_before,
                column: Some(column),
                message: format!(
                    "byte 0x{:02x} (byte {} of the line) is not UTF-8; flowc reads UTF-8 text",
                    record.bytes[absolute],
                    absolute - line_start + 1
                ),
            }
        })?;
        if is_header {
            let columns = CsvColumns::from_header(text, &self.record, self.settings.timestamps)
                .map_err(|error| locate(text, line, error))?;
            self.columns = Some(columns);
            return Ok(None);
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        let values = match &self.columns {
            Some(columns) => columns.parse(text, &self.record),
            None => parse_json(text, &self.record, self.settings.timestamps),
        };
        values.map(Some).map_err(|error| {
            let mut bad = locate(text, line, error);
            if bad.line != line {
                bad.message.push_str(&format!(" (in the record that starts on line {line})"));
            }
            bad
        })
    }

    fn bad_line(&self, mut bad: Bad, record: &RawRecord) -> ProduceError {
        if !record.terminated && !record.too_long {
            bad.message.push_str(if record.lines > 0 {
                // A quote opened and never closed ran to the end of the input.
                "; the input ends inside a quoted field: is a closing `\"` missing?"
            } else {
                "; the last line has no line break: was the input cut short?"
            });
        }
        let location = match bad.column {
            Some(column) => format!("{}:{}:{column}", self.name, bad.line),
            None => format!("{}:{}", self.name, bad.line),
        };
        ProduceError::BadLine(BadLine { location, message: bad.message })
    }
}

/// A reader's error in a record that starts on `line`, at its own line and column.
fn locate(text: &str, line: usize, error: LineError) -> Bad {
    let (lines_before, column) = place(text, error.column);
    Bad { line: line + lines_before, column: Some(column), message: error.message }
}

/// Character column `column` of a text that may span lines: the lines
/// before it, and its column in its own line.
fn place(text: &str, column: usize) -> (usize, usize) {
    let mut lines = 0;
    let mut in_line = 1;
    for c in text.chars().take(column.saturating_sub(1)) {
        if c == '\n' {
            lines += 1;
            in_line = 1;
        } else {
            in_line += 1;
        }
    }
    (lines, in_line)
}

/// Reads standard input on its own thread and hands lines over in chunks.
/// A chunk holds only lines that were already in memory: before a read
/// that could block, what has been read goes on, so a burst of lines
/// followed by silence is processed at once, not when more input comes.
fn spawn_stdin_reader(max_line_length: usize, quoting: Quoting) -> Receiver<std::io::Result<Vec<RawRecord>>> {
    let (sender, receiver) = crossbeam_channel::bounded(4);
    let spawned = std::thread::Builder::new().name("stdin reader".into()).spawn(move || {
        let mut lines = BufReader::with_capacity(64 << 10, std::io::stdin());
        loop {
            let mut chunk = Vec::new();
            let mut bytes = 0;
            let mut ended = false;
            while bytes < 64 << 10 {
                match read_record(&mut lines, max_line_length, quoting) {
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Ok(Some(record)) => {
                        bytes += record.bytes.len() + 1;
                        chunk.push(record);
                        // No whole line left in memory: the next read may wait.
                        if !lines.buffer().contains(&b'\n') {
                            break;
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Ok(chunk));
                        let _ = sender.send(Err(error));
                        return;
                    }
                }
            }
            if !chunk.is_empty() && sender.send(Ok(chunk)).is_err() {
                return;
            }
            if ended {
                return;
            }
        }
    });
    if let Err(error) = spawned {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let _ = sender.send(Err(error));
        return receiver;
    }
    receiver
}

impl RecordReader for LineSource {
    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        self.produce_lines(output, max_rows)
    }

    fn stop(&mut self) {
        self.stopping = true;
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
