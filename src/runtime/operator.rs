//! The interface of a chain's stateful operators — windows, aggregates,
//! joins, lookups: records arrive on an input port, the watermark (the
//! minimum over the operator's inputs) rises, and each may emit records.
//! The chain (`chain.rs`) drives them, counts their records and state, and
//! forwards the watermark each lets through; pacing, `@async` calls and
//! sinks, which wait on time or the outside world, stay in the chain.

use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

use super::control::Stopped;

/// Rows an operator emits past this many bytes go on down the chain at
/// once, so one that emits millions at a time (a window join's hot key, a
/// regular join's) holds a batch of them, not all.
const EMIT_CHUNK_BYTES: usize = 256 << 10;

/// Where a stateful operator writes its output: `rows`, which the chain
/// hands on when the operator returns, or sooner once it is full.
pub struct Emit<'a> {
    pub rows: &'a mut Batch,
    deliver: &'a mut dyn FnMut(&Batch) -> Result<(), Stopped>,
    stopped: Option<Stopped>,
}

impl<'a> Emit<'a> {
    pub fn new(rows: &'a mut Batch, deliver: &'a mut dyn FnMut(&Batch) -> Result<(), Stopped>) -> Emit<'a> {
        Emit { rows, deliver, stopped: None }
    }

    /// Hands the rows on once they fill a chunk; after the run stopped,
    /// drops them (nobody reads them any more).
    pub fn flush_if_full(&mut self) {
        if self.rows.bytes() < EMIT_CHUNK_BYTES {
            return;
        }
        if self.stopped.is_none() {
            if let Err(stopped) = (self.deliver)(self.rows) {
                self.stopped = Some(stopped);
            }
        }
        self.rows.clear();
    }

    /// Whether handing rows on stopped the run.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped
    }
}

/// What an operator keeps between batches, as the metrics show it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OperatorState {
    pub entries: u64,
    pub bytes: u64,
}

pub trait StatefulOperator: Send {
    /// Takes `input`, which arrived on `port` (0, or 1 for a join's right
    /// stream), appending what it emits at once to `output`; returns how
    /// many records were too late to count.
    fn push(&mut self, port: usize, input: &Batch, output: &mut Emit<'_>) -> Result<usize, EvalError>;

    /// The operator's input watermark rose to `watermark` (`i64::MAX` at the
    /// end of input): it emits what the watermark completes into `output`.
    fn advance_watermark(&mut self, watermark: i64, output: &mut Emit<'_>) -> Result<(), EvalError>;

    /// The watermark it lets through when its input watermark is
    /// `watermark`: lower when it may still emit records older than that.
    fn output_watermark(&self, watermark: i64) -> i64 {
        watermark
    }

    fn state(&self) -> OperatorState;

    /// Records it dropped since the last call, not being late: an inner
    /// lookup's records whose key the table lacks. Counted as filtered.
    fn take_dropped(&mut self) -> usize {
        0
    }

    /// The run is stopping before the end of its input (Ctrl-C): the end of
    /// time that follows closes nothing that had not closed. Returns how
    /// many records it will therefore not emit.
    fn stop(&mut self) {}

    /// Records it held back because the run stopped (see `stop`).
    fn unfinished(&self) -> u64 {
        0
    }

    /// When it should next look for work another system completed (an
    /// `@async` lookup's answers); `None` when nothing is pending.
    fn next_poll(&self) -> Option<std::time::Instant> {
        None
    }

    /// Emits what completed since; returns its output watermark if that
    /// rose (records that held it back left).
    fn poll(&mut self, _output: &mut Emit<'_>) -> Result<Option<i64>, EvalError> {
        Ok(None)
    }

    /// At the end of input: waits for everything pending and emits it.
    fn drain(&mut self, _output: &mut Emit<'_>) -> Result<Option<i64>, EvalError> {
        Ok(None)
    }

    /// Whether its last error was another system's (a database's), not an
    /// expression's: the help that goes with it, if so.
    fn external_failure(&self) -> Option<&'static str> {
        None
    }
}
