//! Sinks: where a pipeline's records go. Each connector is a
//! `RecordWriter` in its own file — `print.rs`, `file.rs`, `discard.rs`,
//! `postgres.rs` —
//! and `SinkWriter::open` is the one place that picks it from the
//! program's `SinkConnector`. The chain calls `write` per batch, `flush`
//! when the subtask idles, and `finish` once at the end of input.

mod discard;
mod file;
pub mod postgres;
mod print;

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::check::program::SinkConnector;
use crate::check::types::RecordType;
use crate::compile::row::Batch;
use crate::metrics::OperatorCounters;

#[cfg(test)]
pub(super) use file::{push_csv_record, push_json_record};
pub use file::{replaced_file, standard_stream};
pub use postgres::SharedSink;

/// What one subtask of a sink connector does with its records.
pub trait RecordWriter: Send {
    fn write(&mut self, batch: &Batch) -> io::Result<()>;
    /// Hands buffered output on: called when the subtask goes idle and at the end.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Completes the output once, after the last record.
    fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }
    /// Whether output waits in a buffer for `flush`.
    fn has_pending(&self) -> bool {
        false
    }
    /// The file it writes, for error messages.
    fn target(&self) -> Option<&Path> {
        None
    }
    /// What the run's error says when `write`, `flush` or `finish` failed.
    fn failure(&self, error: &io::Error) -> String {
        match self.target() {
            Some(path) => format!("cannot write `{}`: {error}", path.display()),
            None => format!("cannot write to standard output: {error}"),
        }
    }
}

/// What a subtask's sink may need besides its connector: its operator's
/// counters, and what the run prepared for a database sink.
pub struct SinkContext {
    pub counters: Arc<OperatorCounters>,
    pub postgres: Option<Arc<SharedSink>>,
}

/// A subtask's sink, whichever connector it is.
pub struct SinkWriter(Box<dyn RecordWriter>);

impl SinkWriter {
    /// Opens the sink of subtask `subtask` (of `parallelism`).
    pub fn open(
        connector: &SinkConnector,
        record: &Arc<RecordType>,
        subtask: u32,
        parallelism: u32,
        context: SinkContext,
    ) -> Result<SinkWriter, String> {
        Ok(SinkWriter(match connector {
            SinkConnector::Discard => Box::new(discard::Discard),
            SinkConnector::Print => Box::new(print::Print::new(record, subtask, parallelism)),
            SinkConnector::File { path, format, .. } => Box::new(file::FileSink::create(path, *format, record)?),
            SinkConnector::Postgres(settings) => {
                let shared = context.postgres.expect("a postgres sink is prepared before its subtasks open");
                Box::new(postgres::PostgresSink::open(settings, record, shared, context.counters)?)
            }
        }))
    }

    pub fn write(&mut self, batch: &Batch) -> io::Result<()> {
        self.0.write(batch)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }

    pub fn finish(&mut self) -> io::Result<()> {
        self.0.finish()
    }

    pub fn has_pending(&self) -> bool {
        self.0.has_pending()
    }

    pub fn target(&self) -> Option<&Path> {
        self.0.target()
    }

    pub fn failure(&self, error: &io::Error) -> String {
        self.0.failure(error)
    }
}
