//! Sources: `generate` (deterministic, optionally at the producers' rate)
//! and line sources (`file`, `stdin`) in csv or jsonl.
//!
//! Subtask `i` of `p` of a generator makes the records whose `seq` is
//! `i, i + p, i + 2p, …`, so every parallelism produces the same records
//! and each subtask's timestamps advance together. With a `rate`, record `k`
//! of a subtask is due `k / (rate / p)` seconds after the start; the records
//! due but not yet made are the source's lag.
//!
//! Standard input is read on a helper thread that hands lines over a small
//! bounded channel, so a subtask waiting for input can still see Ctrl-C.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::check::program::{Format, OnError, SourceConnector};
use crate::check::types::RecordType;
use crate::compile::backend::{Backend, Generator};
use crate::compile::row::Batch;

use super::control::POLL;
use super::read::{parse_json, CsvColumns, LineError};

/// What a source did when asked for records.
pub enum Produced {
    /// Appended this many records.
    Records(usize),
    /// Nothing is due before this instant.
    WaitUntil(Instant),
    /// Nothing more will come.
    Done,
}

/// A line that could not be read, under `on_error = fail`.
#[derive(Debug)]
pub struct BadLine {
    pub location: String,
    pub message: String,
}

pub enum SourceReader {
    Generate(GenerateSource),
    Lines(LineSource),
}

impl SourceReader {
    /// Subtask `subtask` of `parallelism` of a source.
    pub fn open(
        connector: &SourceConnector,
        record: &Arc<RecordType>,
        backend: &dyn Backend,
        subtask: u32,
        parallelism: u32,
        unthrottled: bool,
    ) -> Result<SourceReader, String> {
        Ok(match connector {
            SourceConnector::Generate { count, rate_per_second, fields } => {
                let (subtask, parallelism) = (u64::from(subtask), u64::from(parallelism));
                let local_count = count.map(|count| count / parallelism + u64::from(subtask < count % parallelism));
                SourceReader::Generate(GenerateSource {
                    generator: backend.generator(fields, record),
                    first_seq: subtask as i64,
                    stride: parallelism as i64,
                    local_count,
                    rate: rate_per_second.filter(|_| !unthrottled).map(|rate| rate / parallelism as f64),
                    start: None,
                    made: 0,
                    stopped: false,
                })
            }
            SourceConnector::File { path, format, on_error, header, .. } => {
                let file = File::open(path).map_err(|error| format!("cannot open `{path}`: {error}"))?;
                let lines = LineInput::File(BufReader::with_capacity(256 << 10, file));
                SourceReader::Lines(LineSource::new(lines, path.clone(), *format, *on_error, *header, record))
            }
            SourceConnector::Stdin { format, on_error, header } => {
                let lines = LineInput::Stdin(spawn_stdin_reader());
                SourceReader::Lines(LineSource::new(lines, "<stdin>".into(), *format, *on_error, *header, record))
            }
        })
    }

    /// Appends up to `max_rows` records to `output`.
    pub fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        match self {
            SourceReader::Generate(source) => source.produce(output, max_rows).map_err(ProduceError::Eval),
            SourceReader::Lines(source) => source.produce(output, max_rows),
        }
    }

    /// The sources are stopping (Ctrl-C): from now on a source hands on only
    /// what flowc has already read and ends without waiting for more.
    pub fn stop(&mut self) {
        match self {
            SourceReader::Lines(source) => source.stopping = true,
            SourceReader::Generate(source) => source.stopped = true,
        }
    }

    /// Records the producers have made by now that the source has not read.
    pub fn lag(&self) -> u64 {
        match self {
            SourceReader::Generate(source) if source.rate.is_some() => {
                source.due(Instant::now()).saturating_sub(source.made)
            }
            SourceReader::Generate(_) => 0,
            SourceReader::Lines(_) => 0,
        }
    }

    /// A generator with a rate, once started: when, its rate, its record count.
    pub fn schedule(&self) -> Option<(Instant, f64, u64)> {
        match self {
            SourceReader::Generate(source) => {
                Some((source.start?, source.rate?, source.local_count.unwrap_or(u64::MAX)))
            }
            SourceReader::Lines(_) => None,
        }
    }

    pub fn skipped(&self) -> u64 {
        match self {
            SourceReader::Lines(source) => source.skipped,
            SourceReader::Generate(_) => 0,
        }
    }
}

pub enum ProduceError {
    Eval(crate::compile::interp::EvalError),
    BadLine(BadLine),
}

pub struct GenerateSource {
    generator: Box<dyn Generator>,
    first_seq: i64,
    stride: i64,
    local_count: Option<u64>,
    /// Records per second for this subtask.
    rate: Option<f64>,
    start: Option<Instant>,
    made: u64,
    stopped: bool,
}

impl GenerateSource {
    /// Records due by `now`: all of them without a rate.
    fn due(&self, now: Instant) -> u64 {
        let limit = self.local_count.unwrap_or(u64::MAX);
        match (self.rate, self.start) {
            (Some(rate), Some(start)) => {
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64 + 1;
                due.min(limit)
            }
            (Some(_), None) => 0,
            (None, _) => limit,
        }
    }

    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, crate::compile::interp::EvalError> {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        if self.stopped || self.local_count.is_some_and(|count| self.made >= count) {
            return Ok(Produced::Done);
        }
        let due = self.due(now).max(if self.rate.is_some() { 1 } else { 0 });
        if due <= self.made {
            let rate = self.rate.expect("only a rate makes records wait");
            let next = start + Duration::from_secs_f64(self.made as f64 / rate);
            return Ok(Produced::WaitUntil(next));
        }
        let n = (due - self.made).min(max_rows as u64) as usize;
        let first = self.first_seq.wrapping_add((self.made as i64).wrapping_mul(self.stride));
        self.generator.run(first, self.stride, n, output)?;
        self.made += n as u64;
        Ok(Produced::Records(n))
    }
}

enum LineRead {
    Line(String),
    End,
    /// Standard input has nothing yet.
    NotYet,
}

enum LineInput {
    File(BufReader<File>),
    Stdin(Receiver<std::io::Result<Vec<String>>>),
}

pub struct LineSource {
    input: LineInput,
    /// Lines handed over by the stdin reader and not read yet.
    pending: std::collections::VecDeque<String>,
    name: String,
    format: Format,
    on_error: OnError,
    header: bool,
    columns: Option<CsvColumns>,
    record: Arc<RecordType>,
    line_number: usize,
    skipped: u64,
    done: bool,
    /// Set by `SourceReader::stop`.
    stopping: bool,
}

impl LineSource {
    fn new(
        input: LineInput,
        name: String,
        format: Format,
        on_error: OnError,
        header: bool,
        record: &Arc<RecordType>,
    ) -> Self {
        let columns = (format == Format::Csv && !header).then(|| CsvColumns::in_schema_order(record));
        LineSource {
            input,
            pending: std::collections::VecDeque::new(),
            name,
            format,
            on_error,
            header,
            columns,
            record: record.clone(),
            line_number: 0,
            skipped: 0,
            done: false,
            stopping: false,
        }
    }

    fn next_line(&mut self) -> Result<LineRead, ProduceError> {
        let io_error = |name: &str, error: std::io::Error| {
            ProduceError::BadLine(BadLine { location: name.to_string(), message: format!("cannot read: {error}") })
        };
        match &mut self.input {
            LineInput::File(_) if self.stopping => Ok(LineRead::End),
            LineInput::File(reader) => {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) => Ok(LineRead::End),
                    Ok(_) => Ok(LineRead::Line(line)),
                    Err(error) => Err(io_error(&self.name, error)),
                }
            }
            LineInput::Stdin(lines) => loop {
                if let Some(line) = self.pending.pop_front() {
                    return Ok(LineRead::Line(line));
                }
                if self.stopping {
                    // Lines the reader thread holds were read: they drain too.
                    return match lines.try_recv() {
                        Ok(Ok(chunk)) => {
                            self.pending.extend(chunk);
                            continue;
                        }
                        Ok(Err(error)) => Err(io_error(&self.name, error)),
                        Err(_) => Ok(LineRead::End),
                    };
                }
                match lines.recv_timeout(POLL) {
                    Ok(Ok(chunk)) => self.pending.extend(chunk),
                    Ok(Err(error)) => return Err(io_error(&self.name, error)),
                    Err(RecvTimeoutError::Disconnected) => return Ok(LineRead::End),
                    // Let the subtask look at Ctrl-C and flush its buffers.
                    Err(RecvTimeoutError::Timeout) => return Ok(LineRead::NotYet),
                }
            },
        }
    }

    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        let mut n = 0;
        while n < max_rows && !self.done {
            let line = match self.next_line()? {
                LineRead::Line(line) => line,
                LineRead::End => {
                    self.done = true;
                    break;
                }
                LineRead::NotYet if n > 0 => break,
                LineRead::NotYet => return Ok(Produced::WaitUntil(Instant::now())),
            };
            self.line_number += 1;
            let line = line.trim_end_matches(['\n', '\r']);
            if self.columns.is_none() && self.format == Format::Csv && self.header {
                match CsvColumns::from_header(line, &self.record) {
                    Ok(columns) => self.columns = Some(columns),
                    // Without its header no line of the file can be read.
                    Err(error) => return Err(self.bad_line(error)),
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let values = match &self.columns {
                Some(columns) => columns.parse(line, &self.record),
                None => parse_json(line, &self.record),
            };
            match values {
                Ok(values) => {
                    output.push_values(&self.record, &values);
                    n += 1;
                }
                Err(_) if self.on_error == OnError::Skip => self.skipped += 1,
                Err(error) => return Err(self.bad_line(error)),
            }
        }
        Ok(if n > 0 { Produced::Records(n) } else { Produced::Done })
    }

    fn bad_line(&self, error: LineError) -> ProduceError {
        ProduceError::BadLine(BadLine {
            location: format!("{}:{}:{}", self.name, self.line_number, error.column),
            message: error.message,
        })
    }
}

/// Reads standard input on its own thread and hands lines over in chunks.
/// A chunk holds only lines that were already in memory: before a read
/// that could block, what has been read goes on, so a burst of lines
/// followed by silence is processed at once, not when more input comes.
fn spawn_stdin_reader() -> Receiver<std::io::Result<Vec<String>>> {
    let (sender, receiver) = crossbeam_channel::bounded(4);
    let spawned = std::thread::Builder::new().name("stdin reader".into()).spawn(move || {
        let mut lines = BufReader::with_capacity(64 << 10, std::io::stdin());
        loop {
            let mut chunk = Vec::new();
            let mut bytes = 0;
            let mut ended = false;
            while bytes < 64 << 10 {
                let mut line = String::new();
                match lines.read_line(&mut line) {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => {
                        bytes += n;
                        chunk.push(line);
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
