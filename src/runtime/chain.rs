//! One subtask's chain of operators: how a batch entering the head flows
//! through the fused operators to the sinks and output edges of the task,
//! how a watermark fires windows along the way, and how the end of input
//! completes the sinks.
//!
//! Operators hand whole batches to each other, as Flink's chained operators
//! hand records, without buffers or credit. The pacing operators
//! (`throttle`, `sleep`, `work`) take one row at a time and pass each row
//! on before the next, so the operators after them see a steady stream and
//! `buffer_timeout` still flushes while they wait. An `@async` `sleep`
//! (`async_call.rs`) keeps its calls in flight instead of blocking.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::check::types::RecordType;
use crate::compile::backend::{Fused, Predicate, Projection};
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;
use crate::diag::{Code, Span};
use crate::metrics::{OperatorCounters, TimeState};

use super::async_call::AsyncCall;
use super::channel::OutputGate;
use super::control::{Ctx, RunError, Stopped};
use super::operator::{Emit, StatefulOperator};
use super::sinks::SinkWriter;

/// What one operator of a chain does with a batch.
pub enum Step {
    /// The task's source: its records enter here.
    Source,
    Map(Box<dyn Projection>),
    Filter(Box<dyn Predicate>),
    /// Windows, aggregates, joins and lookups (`operator.rs`).
    Stateful(Box<dyn StatefulOperator>),
    Pace(Pacer),
    /// `sleep` with `@async`: calls in flight, up to a capacity.
    Async(AsyncCall),
    Sink(SinkWriter),
}

/// Where an operator's output goes.
#[derive(Debug, Clone, Copy)]
pub enum Child {
    /// Another operator of the chain, by index.
    Chained(usize),
    /// An output edge of the task, by index in `OutputGate::edges`.
    Network(usize),
}

pub struct ChainOperator {
    pub step: Step,
    /// Set on the first of neighbouring `filter`s and `map`s the backend
    /// compiled into one function: the batch then skips their steps.
    pub fused: Option<FusedRun>,
    pub children: Vec<Child>,
    pub counters: Arc<OperatorCounters>,
    /// The operator in the `.flow` file, for errors.
    pub span: Span,
    pub name: String,
    pub input: Arc<RecordType>,
    /// Reused for the operator's output.
    pub output: Batch,
}

/// Neighbouring `filter`s and `map`s run as one compiled function.
pub struct FusedRun {
    function: Box<dyn Fused>,
    /// The chain positions of the fused operators, this one first.
    stages: Vec<usize>,
    /// Rows that left each stage in the last batch.
    passed: Vec<u64>,
}

impl FusedRun {
    pub fn new(function: Box<dyn Fused>, stages: Vec<usize>) -> FusedRun {
        let passed = vec![0; stages.len()];
        FusedRun { function, stages, passed }
    }
}

/// `throttle` lets one record through per `interval`; `sleep` and `work`
/// make each record cost `interval` of the subtask's time.
pub struct Pacer {
    pub kind: PaceKind,
    pub interval: Duration,
    due: Option<Instant>,
    /// For `sleep`: how far the last wait overslept, and when it woke.
    overslept: Duration,
    woke: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceKind {
    /// At most one record per interval: waits, using no CPU.
    Throttle,
    /// Blocks the thread for the interval.
    Sleep,
    /// Burns CPU for the interval.
    Work,
}

impl Pacer {
    pub fn new(kind: PaceKind, interval: Duration) -> Pacer {
        Pacer { kind, interval, due: None, overslept: Duration::ZERO, woke: None }
    }

    /// `sleep` and `work`: when the record at hand, started `now`, has cost
    /// its `interval`. Whatever came before (a gap in the input, another
    /// operator of the chain) is no part of its cost; only a sleep's own
    /// oversleep on the record just before is made up, so that the average
    /// cost is `interval` though the thread cannot sleep exactly.
    fn cost_due(&mut self, now: Instant) -> Instant {
        let right_after = self.woke.is_some_and(|woke| now.saturating_duration_since(woke) < self.interval);
        let credit = if right_after { self.overslept.min(self.interval) } else { Duration::ZERO };
        now + (self.interval - credit)
    }

    /// The wait for `due` ended at `woke`.
    fn waited(&mut self, due: Instant, woke: Instant) {
        self.overslept = woke.saturating_duration_since(due);
        self.woke = Some(woke);
    }

    /// `throttle`: when the record at hand may pass: one interval after the
    /// previous one, on the schedule even when that is already past (a
    /// sleep that woke late, on a loaded machine), so the lateness is made
    /// up and the average rate is exact though a single sleep is not. A
    /// subtask further behind the schedule than `THROTTLE_CATCH_UP` (or two
    /// intervals, for a slow throttle) was idle, not late: it starts a new
    /// schedule now, rather than passing a burst.
    fn first_due(&self, now: Instant) -> Instant {
        let slack = (self.interval * 2).max(THROTTLE_CATCH_UP);
        match self.due {
            Some(previous) if previous + slack > now => previous + self.interval,
            _ => now,
        }
    }

    /// For `throttle`: how many of `waiting` records may pass now, or when
    /// the first one may. Records due within `THROTTLE_SLICE` pass together,
    /// because a thread cannot sleep much less than that: one sleep per
    /// record would cap a `throttle 100k/s` far below its rate.
    fn passable(&mut self, now: Instant, waiting: usize) -> Result<usize, Instant> {
        let first = self.first_due(now);
        let horizon = now + THROTTLE_SLICE;
        if first > horizon {
            return Err(first);
        }
        let extra = (horizon - first).as_nanos() / self.interval.as_nanos().max(1);
        let n = (extra as usize).saturating_add(1).min(waiting);
        self.due = Some(first + self.interval * (n as u32 - 1));
        Ok(n)
    }
}

/// Records a `throttle` lets through together: those due within this long.
const THROTTLE_SLICE: Duration = Duration::from_millis(1);

/// How far behind its schedule a `throttle` may fall and still make the
/// time up. A thread on a busy machine wakes from a sleep a few hundred
/// microseconds late, and on a run queue later still; a slack of a few
/// intervals would lose that time on every wake-up and hold a
/// `throttle 15k/s` to 11k/s.
const THROTTLE_CATCH_UP: Duration = Duration::from_millis(20);

pub struct Chain {
    pub operators: Vec<ChainOperator>,
    /// The `@async` operators, in chain order.
    pub(super) async_operators: Vec<usize>,
    /// The subtask's input watermark, as the chain last saw it.
    pub input_watermark: i64,
}

impl Chain {
    pub fn new(operators: Vec<ChainOperator>) -> Chain {
        let async_operators = (0..operators.len()).filter(|&i| matches!(operators[i].step, Step::Async(_))).collect();
        Chain { operators, async_operators, input_watermark: i64::MIN }
    }

    /// Whether the first operator is a `throttle`, `sleep` or `work` (or an
    /// `@async` `sleep`), which counts the task's records in as it takes each.
    pub fn paces_at_head(&self) -> bool {
        matches!(self.operators.first().map(|operator| &operator.step), Some(Step::Pace(_) | Step::Async(_)))
    }

    /// Runs `input` through operator `index` and everything after it. The
    /// busy time until the batch moves on is the operator's own (per batch,
    /// not per record, so the clock costs little).
    pub fn push(
        &mut self,
        index: usize,
        input: &Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        self.push_port(index, 0, input, outputs, ctx)
    }

    /// `push`, for input `port` of the operator: the head of a join's task
    /// reads two (chained operators always read port 0).
    pub fn push_port(
        &mut self,
        index: usize,
        port: usize,
        input: &Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        if input.is_empty() {
            return Ok(());
        }
        let caller = ctx.enter_operator(index);
        let result = if self.operators[index].fused.is_some() {
            self.push_fused(index, input, outputs, ctx)
        } else {
            self.push_here(index, port, input, outputs, ctx)
        };
        ctx.enter_operator(caller);
        result
    }

    /// Runs a fused run of operators over `input` in one call, counting
    /// each operator's records as if it ran alone; its busy time goes to
    /// the first of them. On an error the batch runs again operator by
    /// operator, so the error is the one they report.
    fn push_fused(
        &mut self,
        index: usize,
        input: &Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let mut fused = self.operators[index].fused.take().expect("a fused run starts here");
        let last = *fused.stages.last().expect("a fused run has stages");
        let mut output = std::mem::take(&mut self.operators[last].output);
        output.clear();
        fused.passed.iter_mut().for_each(|passed| *passed = 0);
        let result = fused.function.run(input, &mut output, &mut fused.passed);
        let delivered = match result {
            Ok(()) => {
                let mut records_in = input.len() as u64;
                for (&operator, &passed) in fused.stages.iter().zip(&fused.passed) {
                    let counters = &self.operators[operator].counters;
                    OperatorCounters::add(&counters.records_in, records_in as usize);
                    OperatorCounters::add(&counters.records_out, passed as usize);
                    if matches!(self.operators[operator].step, Step::Filter(_)) {
                        OperatorCounters::add(&counters.filtered, (records_in - passed) as usize);
                    }
                    records_in = passed;
                }
                self.deliver(last, &output, outputs, ctx)
            }
            Err(_) => Ok(()),
        };
        self.operators[last].output = output;
        let failed = result.is_err();
        self.operators[index].fused = Some(fused);
        if failed {
            return self.push_here(index, 0, input, outputs, ctx);
        }
        delivered
    }

    fn push_here(
        &mut self,
        index: usize,
        port: usize,
        input: &Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        OperatorCounters::add(&self.operators[index].counters.records_in, input.len());
        let mut output = std::mem::take(&mut self.operators[index].output);
        output.clear();
        let operator = &mut self.operators[index];
        let result = match &mut operator.step {
            Step::Source => {
                OperatorCounters::add(&operator.counters.records_out, input.len());
                return self.deliver(index, input, outputs, ctx).map(|()| self.operators[index].output = output);
            }
            Step::Map(projection) => projection.run(input, &mut output),
            Step::Filter(predicate) => {
                let result = predicate.run(input, &mut output);
                OperatorCounters::add(&operator.counters.filtered, input.len() - output.len());
                result
            }
            Step::Stateful(_) => {
                let result = self
                    .run_stateful(index, &mut output, outputs, ctx, |stateful, emit| stateful.push(port, input, emit));
                let delivered = result.and_then(|late| {
                    OperatorCounters::add(&self.operators[index].counters.late, late);
                    OperatorCounters::add(&self.operators[index].counters.records_out, output.len());
                    self.deliver(index, &output, outputs, ctx)
                });
                self.operators[index].output = output;
                return delivered;
            }
            Step::Pace(_) => {
                let result = self.pace(index, input, &mut output, outputs, ctx);
                self.operators[index].output = output;
                return result;
            }
            Step::Async(_) => {
                self.operators[index].output = output;
                return self.push_async(index, input, outputs, ctx);
            }
            Step::Sink(sink) => {
                let span = operator.span;
                if let Err(error) = sink.write(input) {
                    return Err(sink_failed(ctx, span, sink, &error));
                }
                OperatorCounters::add(&operator.counters.records_out, input.len());
                OperatorCounters::add(&ctx.counters.records_out, input.len());
                Ok(())
            }
        };
        if let Err(error) = result {
            return Err(ctx.fail(eval_error(&self.operators[index], error)));
        }
        OperatorCounters::add(&self.operators[index].counters.records_out, output.len());
        let delivered = self.deliver(index, &output, outputs, ctx);
        self.operators[index].output = output;
        delivered
    }

    /// Passes rows one at a time, each after its interval.
    fn pace(
        &mut self,
        index: usize,
        input: &Batch,
        single: &mut Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let Step::Pace(pacer) = &self.operators[index].step else { unreachable!("pace on a pacing step") };
        if pacer.kind == PaceKind::Throttle {
            return self.throttle(index, input, single, outputs, ctx);
        }
        let record = self.operators[index].input.clone();
        for row in 0..input.len() {
            let Step::Pace(pacer) = &mut self.operators[index].step else { unreachable!("pace on a pacing step") };
            let (kind, due) = (pacer.kind, pacer.cost_due(Instant::now()));
            match kind {
                PaceKind::Throttle | PaceKind::Sleep => outputs.sleep_until(due, ctx)?,
                PaceKind::Work => {
                    while Instant::now() < due {
                        std::hint::spin_loop();
                    }
                }
            }
            let Step::Pace(pacer) = &mut self.operators[index].step else { unreachable!("pace on a pacing step") };
            pacer.waited(due, Instant::now());
            if index == 0 {
                OperatorCounters::add(&ctx.counters.records_in, 1);
            }
            single.clear();
            single.push_row_of(input, row, &record);
            OperatorCounters::add(&self.operators[index].counters.records_out, 1);
            self.deliver(index, single, outputs, ctx)?;
            outputs.flush_if_due(ctx)?;
        }
        Ok(())
    }

    /// Passes rows at the throttle's rate, as many at a time as are due.
    fn throttle(
        &mut self,
        index: usize,
        input: &Batch,
        slice: &mut Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let record = self.operators[index].input.clone();
        let mut row = 0;
        while row < input.len() {
            let Step::Pace(pacer) = &mut self.operators[index].step else { unreachable!("throttle on a pacing step") };
            let n = match pacer.passable(Instant::now(), input.len() - row) {
                Ok(n) => n,
                Err(due) => {
                    outputs.sleep_until(due, ctx)?;
                    continue;
                }
            };
            slice.clear();
            for passing in row..row + n {
                slice.push_row_of(input, passing, &record);
            }
            row += n;
            // A pacing head counts the subtask's records in as it takes them (see `paces_at_head`).
            if index == 0 {
                OperatorCounters::add(&ctx.counters.records_in, n);
            }
            OperatorCounters::add(&self.operators[index].counters.records_out, n);
            self.deliver(index, slice, outputs, ctx)?;
            outputs.flush_if_due(ctx)?;
        }
        Ok(())
    }

    pub(super) fn deliver(
        &mut self,
        index: usize,
        batch: &Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        if batch.is_empty() {
            return Ok(());
        }
        for child in 0..self.operators[index].children.len() {
            match self.operators[index].children[child] {
                Child::Chained(next) => self.push(next, batch, outputs, ctx)?,
                Child::Network(edge) => outputs.write(edge, batch, ctx)?,
            }
        }
        Ok(())
    }

    /// The subtask's input watermark rose to `watermark`: it moves through
    /// the chain, and the output channels carry it as far as no `@async`
    /// operator holds it back.
    pub fn watermark_arrived(
        &mut self,
        watermark: i64,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        self.input_watermark = self.input_watermark.max(watermark);
        self.advance_watermark(0, watermark, outputs, ctx)?;
        outputs.raise_watermark(self.output_watermark());
        Ok(())
    }

    /// The watermark reached `watermark` at operator `index`: windows fire
    /// and joins emit, in chain order; an `@async` operator holds it behind
    /// its records, and an interval join by its bounds.
    pub fn advance_watermark(
        &mut self,
        index: usize,
        watermark: i64,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        if matches!(self.operators[index].step, Step::Async(_)) {
            return self.async_watermark(index, watermark, outputs, ctx);
        }
        let mut passed = watermark;
        if let Step::Stateful(stateful) = &self.operators[index].step {
            passed = stateful.output_watermark(watermark);
            let caller = ctx.enter_operator(index);
            let fired = self.advance_stateful(index, watermark, outputs, ctx);
            ctx.enter_operator(caller);
            fired?;
        }
        for child in 0..self.operators[index].children.len() {
            if let Child::Chained(next) = self.operators[index].children[child] {
                self.advance_watermark(next, passed, outputs, ctx)?;
            }
        }
        Ok(())
    }

    /// Moves a stateful operator's watermark: windows fire, joins emit
    /// what can no longer match; what it emits goes on down the chain.
    fn advance_stateful(
        &mut self,
        index: usize,
        watermark: i64,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        self.run_and_deliver(index, outputs, ctx, |stateful, emit| stateful.advance_watermark(watermark, emit))
    }

    /// `run_stateful` into the operator's own output batch, then hands what
    /// is left there down the chain, counted as its records out.
    pub(super) fn run_and_deliver<T>(
        &mut self,
        index: usize,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
        work: impl FnOnce(&mut dyn StatefulOperator, &mut Emit<'_>) -> Result<T, EvalError>,
    ) -> Result<T, Stopped> {
        let mut emitted = std::mem::take(&mut self.operators[index].output);
        emitted.clear();
        let result = self.run_stateful(index, &mut emitted, outputs, ctx, work);
        let delivered = result.and_then(|value| {
            OperatorCounters::add(&self.operators[index].counters.records_out, emitted.len());
            self.deliver(index, &emitted, outputs, ctx).map(|()| value)
        });
        self.operators[index].output = emitted;
        delivered
    }

    /// Runs `work` on the stateful operator at `index`, whose output goes on
    /// down the chain a chunk at a time while it works (`Emit`); the rest
    /// stays in `output` for the caller. Keeps its counters up to date.
    fn run_stateful<T>(
        &mut self,
        index: usize,
        output: &mut Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
        work: impl FnOnce(&mut dyn StatefulOperator, &mut Emit<'_>) -> Result<T, EvalError>,
    ) -> Result<T, Stopped> {
        // Out of the chain while it works, so that what it hands on can
        // run through the operators after it.
        let Step::Stateful(mut stateful) = std::mem::replace(&mut self.operators[index].step, Step::Source) else {
            unreachable!("a stateful step")
        };
        let counters = self.operators[index].counters.clone();
        let (result, stopped) = {
            let mut deliver = |rows: &Batch| {
                OperatorCounters::add(&counters.records_out, rows.len());
                self.deliver(index, rows, outputs, ctx)
            };
            let mut emit = Emit::new(output, &mut deliver);
            let result = work(stateful.as_mut(), &mut emit);
            (result, emit.stopped())
        };
        OperatorCounters::add(&counters.filtered, stateful.take_dropped());
        let state = stateful.state();
        counters.set_state(state.entries, state.bytes);
        self.operators[index].step = Step::Stateful(stateful);
        if let Some(stopped) = stopped {
            return Err(stopped);
        }
        result.map_err(|error| ctx.fail(eval_error(&self.operators[index], error)))
    }

    /// The run is stopping early: the end of input that follows is no real
    /// end of the streams (see `StatefulOperator::stop`).
    pub fn stop_stateful(&mut self) {
        for operator in &mut self.operators {
            if let Step::Stateful(stateful) = &mut operator.step {
                stateful.stop();
            }
        }
    }

    /// Counts what stateful operators held back at a stop.
    pub fn count_unfinished(&self) {
        for operator in &self.operators {
            if let Step::Stateful(stateful) = &operator.step {
                OperatorCounters::add(&operator.counters.unfinished, stateful.unfinished() as usize);
            }
        }
    }

    /// Whether a print sink holds lines not yet written.
    pub fn has_buffered_output(&self) -> bool {
        self.operators.iter().any(|operator| matches!(&operator.step, Step::Sink(sink) if sink.has_pending()))
    }

    /// Hands buffered sink output on (print sinks, when the subtask idles).
    pub fn flush_sinks(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        for operator in &mut self.operators {
            let span = operator.span;
            if let Step::Sink(sink) = &mut operator.step {
                if let Err(error) = sink.flush() {
                    return Err(sink_failed(ctx, span, sink, &error));
                }
            }
        }
        Ok(())
    }

    /// Completes every sink after the end of input.
    pub fn finish_sinks(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        let before = ctx.enter(TimeState::Busy);
        for operator in &mut self.operators {
            let span = operator.span;
            if let Step::Sink(sink) = &mut operator.step {
                if let Err(error) = sink.finish() {
                    return Err(sink_failed(ctx, span, sink, &error));
                }
            }
        }
        ctx.enter(before);
        Ok(())
    }
}

fn eval_error(operator: &ChainOperator, error: EvalError) -> RunError {
    if let Step::Stateful(stateful) = &operator.step {
        if let Some(help) = stateful.external_failure() {
            return RunError::new(Code::BadTable, error.message, operator.span, "this lookup").help(help);
        }
    }
    RunError::new(Code::EvalFailed, format!("{} in `{}`", error.message, operator.name), error.span, "here")
        .help("guard the expression, for example with `if … then … else …` or a `filter` before it")
}

/// Stops the run because a sink cannot write. Standard output closed by
/// its reader (`flowc run … | head`) is no error: nobody reads any more, so
/// the run ends at once and quietly, as Unix tools do.
fn sink_failed(ctx: &Ctx, span: Span, sink: &SinkWriter, error: &std::io::Error) -> Stopped {
    let to_stdout = sink.target().is_none_or(|path| super::sinks::standard_stream(path) == Some(1));
    if to_stdout && error.kind() == std::io::ErrorKind::BrokenPipe {
        ctx.control.stdout_closed();
        return Stopped;
    }
    ctx.fail(sink_error(span, sink, error))
}

fn sink_error(span: Span, sink: &SinkWriter, error: &std::io::Error) -> RunError {
    RunError::new(Code::SinkFailed, sink.failure(error), span, "this sink")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a throttle with a clock that the test moves: each wait for
    /// the next due time wakes `late` after it, as a thread on a busy machine
    /// does. Returns the records passed in `span`.
    fn passed_in(interval: Duration, late: Duration, span: Duration) -> usize {
        let mut pacer = Pacer::new(PaceKind::Throttle, interval);
        let start = Instant::now();
        let mut now = start;
        let mut passed = 0;
        while now < start + span {
            match pacer.passable(now, usize::MAX) {
                Ok(n) => {
                    passed += n;
                    now += Duration::from_micros(5);
                }
                Err(due) => now = due + late,
            }
        }
        passed
    }

    #[test]
    fn a_throttle_woken_late_every_time_keeps_its_rate() {
        let interval = Duration::from_secs_f64(1.0 / 15_000.0);
        for late in [Duration::ZERO, Duration::from_micros(150), Duration::from_micros(400), Duration::from_millis(2)] {
            let passed = passed_in(interval, late, Duration::from_secs(1));
            assert!((14_500..=15_100).contains(&passed), "woken {late:?} late: {passed}/s");
        }
    }

    #[test]
    fn a_throttle_idle_for_long_starts_a_new_schedule_instead_of_a_burst() {
        let interval = Duration::from_micros(100);
        let mut pacer = Pacer::new(PaceKind::Throttle, interval);
        let start = Instant::now();
        assert_eq!(pacer.passable(start, 1), Ok(1));
        // Idle for a second: what passes now is one slice's worth, not a
        // second's.
        let later = start + Duration::from_secs(1);
        let n = pacer.passable(later, usize::MAX).expect("due now");
        assert!(n <= 1 + (THROTTLE_SLICE.as_nanos() / interval.as_nanos()) as usize, "{n}");
    }
}
