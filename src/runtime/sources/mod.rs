//! Sources: where a pipeline's records come from. Each connector is a
//! `RecordReader` in its own file — `generate.rs`, `nexmark/` (the Nexmark
//! benchmark's events), and `text.rs` for the line sources (`file`,
//! `stdin`) in csv or jsonl; `pacing.rs` paces the generating ones — and `SourceReader::open`
//! is the one place that picks it from the program's `SourceConnector`.
//! The worker asks it for up to a batch of records at a time; it answers
//! with records, a time to come back, or the end.

mod generate;
mod nexmark;
mod pacing;
mod text;

use std::sync::Arc;
use std::time::Instant;

use crate::check::program::SourceConnector;
use crate::check::types::RecordType;
use crate::compile::backend::Backend;
use crate::compile::row::Batch;

#[cfg(test)]
pub use text::{LineSettings, LineSource};

/// How much a line source may hold: per record, and per batch.
#[derive(Debug, Clone, Copy)]
pub struct LineLimits {
    /// `max_line_length`: the longest record, in bytes.
    pub max_line_length: usize,
    /// A batch ends once its rows and strings take this many bytes.
    pub batch_bytes: usize,
}

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

/// What one subtask of a source connector does.
pub trait RecordReader: Send {
    /// Appends up to `max_rows` records to `output`.
    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError>;
    /// The sources are stopping (Ctrl-C): from now on it hands on only what
    /// it has already read and ends without waiting for more.
    fn stop(&mut self);
    /// Records the producers have made by now that it has not read.
    fn lag(&self) -> u64 {
        0
    }
    /// For a source with a rate, once started: when, its rate, its record count.
    fn schedule(&self) -> Option<(Instant, f64, u64)> {
        None
    }
    /// Input lines skipped under `on_error = skip`.
    fn skipped(&self) -> u64 {
        0
    }
}

/// A subtask's source, whichever connector it is.
pub struct SourceReader(Box<dyn RecordReader>);

impl SourceReader {
    /// Subtask `subtask` of `parallelism` of a source.
    pub fn open(
        connector: &SourceConnector,
        record: &Arc<RecordType>,
        backend: &dyn Backend,
        subtask: u32,
        parallelism: u32,
        unthrottled: bool,
        limits: LineLimits,
    ) -> Result<SourceReader, String> {
        Ok(SourceReader(match connector {
            SourceConnector::Generate { count, rate_per_second, fields } => Box::new(generate::GenerateSource::new(
                backend.generator(fields, record),
                *count,
                rate_per_second.filter(|_| !unthrottled),
                subtask,
                parallelism,
            )),
            SourceConnector::File { path, format, on_error, header, timestamps, .. } => {
                let settings = text::LineSettings::new(*format, *on_error, *header, *timestamps, limits);
                Box::new(text::LineSource::file(path, settings, record)?)
            }
            SourceConnector::Stdin { format, on_error, header, timestamps } => {
                let settings = text::LineSettings::new(*format, *on_error, *header, *timestamps, limits);
                Box::new(text::LineSource::stdin(settings, record))
            }
            SourceConnector::Nexmark(source) => {
                Box::new(nexmark::NexmarkReader::new(source, record, unthrottled, subtask, parallelism))
            }
        }))
    }

    pub fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        self.0.produce(output, max_rows)
    }

    pub fn stop(&mut self) {
        self.0.stop()
    }

    pub fn lag(&self) -> u64 {
        self.0.lag()
    }

    pub fn schedule(&self) -> Option<(Instant, f64, u64)> {
        self.0.schedule()
    }

    pub fn skipped(&self) -> u64 {
        self.0.skipped()
    }
}

pub enum ProduceError {
    Eval(crate::compile::interp::EvalError),
    BadLine(BadLine),
}
