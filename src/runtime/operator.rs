//! The interface of a chain's stateful operators — windows, aggregates,
//! joins, lookups: records arrive on an input port, the watermark (the
//! minimum over the operator's inputs) rises, and each may emit records.
//! The chain (`chain.rs`) drives them, counts their records and state, and
//! forwards the watermark each lets through; pacing, `@async` calls and
//! sinks, which wait on time or the outside world, stay in the chain.

use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

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
    fn push(&mut self, port: usize, input: &Batch, output: &mut Batch) -> Result<usize, EvalError>;

    /// The operator's input watermark rose to `watermark` (`i64::MAX` at the
    /// end of input): it emits what the watermark completes into `output`.
    fn advance_watermark(&mut self, watermark: i64, output: &mut Batch) -> Result<(), EvalError>;

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
}
