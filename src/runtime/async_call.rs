//! `sleep d @async(capacity = n, ordered = …)`: a blocking call made
//! asynchronously, as Flink's `AsyncWaitOperator`. Each record starts a call
//! when the subtask takes it, and the call completes `d` later (the external
//! system serves calls concurrently); up to `capacity` records are in
//! flight per subtask, and the thread does not block per record. The
//! records and watermarks wait in an `AsyncQueue` (`async_queue.rs`), which
//! says what may leave when.
//!
//! Completions leave whenever the subtask's thread is free to emit them:
//! when a record arrives, while the operator waits for a free slot, and
//! while the subtask waits for input (the worker wakes at
//! `Chain::next_async_due`). A blocking operator in the same chain
//! (`sleep` without `@async`, `work`, `throttle`) holds them back while it
//! blocks, as one thread does in Flink too. At the end of input every call
//! completes and leaves before the subtask ends (Flink's `endInput`).
//!
//! Time: waiting for a free slot is waiting on the external system, so it
//! is busy time, as a blocking `sleep` is (the report then still sees
//! "busy, little CPU" when `capacity` is too small); so is the wait at the
//! end of input for the last calls. With free slots and no input the
//! subtask is idle. Emitting under backpressure blocks in the output gate
//! (backpressured time), and no record enters meanwhile, so the calls in
//! flight never exceed `capacity`.
//!
//! Watermarks: the subtask's output watermark is the lowest of its input
//! watermark and the last watermark each `@async` operator of the chain let
//! out (`Chain::output_watermark`), so no record still in flight is
//! overtaken on the wire by a watermark that came after it.

use std::time::{Duration, Instant};

use crate::compile::row::Batch;
use crate::metrics::{InFlightGauge, OperatorCounters};

use super::async_queue::{AsyncQueue, Ready};
use super::chain::{Chain, Child, Step};
use super::channel::OutputGate;
use super::control::{Ctx, Stopped};

pub struct AsyncCall {
    /// How long each call takes.
    pub latency: Duration,
    /// Each record as a batch of one row.
    queue: AsyncQueue<Batch>,
    /// One-row batches of records that left, to reuse.
    spare: Vec<Batch>,
    /// The last watermark that left the queue.
    emitted_watermark: i64,
    gauge: InFlightGauge,
}

impl AsyncCall {
    pub fn new(latency: Duration, capacity: u32, ordered: bool) -> AsyncCall {
        AsyncCall {
            latency,
            queue: AsyncQueue::new(capacity as usize, ordered),
            spare: Vec::new(),
            emitted_watermark: i64::MIN,
            gauge: InFlightGauge::default(),
        }
    }

    /// Publishes the records in flight (`InFlightGauge`).
    fn publish(&mut self, counters: &OperatorCounters, now: Instant) {
        self.gauge.publish(counters, self.queue.in_flight() as u64, now);
    }
}

impl Chain {
    /// Starts a call for each row of `input`, waiting for a free slot when
    /// the queue is full, and emits what completes meanwhile.
    pub(super) fn push_async(
        &mut self,
        index: usize,
        input: &Batch,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let record = self.operators[index].input.clone();
        for row in 0..input.len() {
            self.wait_for_slot(index, outputs, ctx)?;
            let now = Instant::now();
            let operator = &mut self.operators[index];
            let Step::Async(call) = &mut operator.step else { unreachable!("push_async on an async step") };
            let mut single = call.spare.pop().unwrap_or_else(|| Batch::with_capacity(&record, 0));
            single.clear();
            single.push_row_of(input, row, &record);
            call.queue.push_record(single, now + call.latency);
            call.publish(&operator.counters, now);
            // A head counts the task's records in as it takes them (see `paces_at_head`).
            if index == 0 {
                OperatorCounters::add(&ctx.counters.records_in, 1);
            }
        }
        self.emit_ready(index, outputs, ctx)?;
        outputs.flush_if_due(ctx)
    }

    /// Waits until the queue of operator `index` has room: busy time, as
    /// the module's comment says.
    fn wait_for_slot(&mut self, index: usize, outputs: &mut OutputGate, ctx: &mut Ctx) -> Result<(), Stopped> {
        loop {
            self.emit_ready(index, outputs, ctx)?;
            let Step::Async(call) = &self.operators[index].step else { unreachable!("an async step") };
            if !call.queue.is_full() {
                return Ok(());
            }
            let due = call.queue.next_due().expect("a full queue has a first record");
            wait_for_call(due, outputs, ctx)?;
        }
    }

    /// Emits what has left operator `index`'s queue by now: runs of
    /// completed records as one batch, and watermarks at their place.
    fn emit_ready(&mut self, index: usize, outputs: &mut OutputGate, ctx: &mut Ctx) -> Result<(), Stopped> {
        loop {
            let mut batch = std::mem::take(&mut self.operators[index].output);
            batch.clear();
            let record = self.operators[index].input.clone();
            let now = Instant::now();
            let operator = &mut self.operators[index];
            let Step::Async(call) = &mut operator.step else { unreachable!("emit_ready on an async step") };
            let mut watermark = None;
            let before = call.queue.in_flight();
            while let Some(ready) = call.queue.pop_ready(now) {
                match ready {
                    Ready::Record(single) => {
                        batch.push_row_of(&single, 0, &record);
                        call.spare.push(single);
                    }
                    Ready::Watermark(risen) => {
                        watermark = Some(risen);
                        break;
                    }
                }
            }
            if call.queue.in_flight() != before {
                call.publish(&operator.counters, now);
            }
            OperatorCounters::add(&operator.counters.records_out, batch.len());
            let delivered = self.deliver(index, &batch, outputs, ctx);
            self.operators[index].output = batch;
            delivered?;
            let Some(risen) = watermark else { return Ok(()) };
            let Step::Async(call) = &mut self.operators[index].step else { unreachable!("an async step") };
            call.emitted_watermark = risen;
            for child in 0..self.operators[index].children.len() {
                if let Child::Chained(next) = self.operators[index].children[child] {
                    self.advance_watermark(next, risen, outputs, ctx)?;
                }
            }
            outputs.raise_watermark(self.output_watermark());
        }
    }

    /// A watermark reaches `@async` operator `index`: it waits behind the
    /// records before it.
    pub(super) fn async_watermark(
        &mut self,
        index: usize,
        watermark: i64,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let Step::Async(call) = &mut self.operators[index].step else { unreachable!("an async step") };
        call.queue.push_watermark(watermark);
        let caller = ctx.enter_operator(index);
        let emitted = self.emit_ready(index, outputs, ctx);
        ctx.enter_operator(caller);
        emitted
    }

    /// The watermark the subtask may send: its input watermark, held back
    /// by every `@async` operator's records in flight, and by every
    /// operator that may still emit older records (an interval join).
    pub(super) fn output_watermark(&self) -> i64 {
        let held = self
            .operators
            .iter()
            .filter_map(|operator| match &operator.step {
                Step::Stateful(stateful) => Some(stateful.output_watermark(self.input_watermark)),
                _ => None,
            })
            .fold(self.input_watermark, i64::min);
        self.async_operators
            .iter()
            .map(|&index| match &self.operators[index].step {
                Step::Async(call) => call.emitted_watermark,
                _ => unreachable!("async_operators lists async steps"),
            })
            .fold(held, i64::min)
    }

    /// When the next call of any `@async` operator completes, or an
    /// operator waiting on another system should look for its answers.
    pub fn next_async_due(&self) -> Option<Instant> {
        let calls = self.async_operators.iter().filter_map(|&index| match &self.operators[index].step {
            Step::Async(call) => call.queue.next_due(),
            _ => None,
        });
        let polls = self.operators.iter().filter_map(|operator| match &operator.step {
            Step::Stateful(stateful) => stateful.next_poll(),
            _ => None,
        });
        calls.chain(polls).min()
    }

    /// Stateful operator `index` emits what another system completed (or,
    /// `drain`, all it waits for), and lets through the watermark it held.
    fn poll_stateful(
        &mut self,
        index: usize,
        drain: bool,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let caller = ctx.enter_operator(index);
        let risen = self.run_and_deliver(index, outputs, ctx, |stateful, emit| match drain {
            true => stateful.drain(emit),
            false => stateful.poll(emit),
        });
        ctx.enter_operator(caller);
        if let Some(risen) = risen? {
            for child in 0..self.operators[index].children.len() {
                if let Child::Chained(next) = self.operators[index].children[child] {
                    self.advance_watermark(next, risen, outputs, ctx)?;
                }
            }
            outputs.raise_watermark(self.output_watermark());
        }
        Ok(())
    }

    /// The stateful operators with answers to wait for, in chain order.
    fn polling_operators(&self) -> Vec<usize> {
        (0..self.operators.len())
            .filter(|&index| matches!(&self.operators[index].step, Step::Stateful(stateful) if stateful.next_poll().is_some()))
            .collect()
    }

    /// Emits every completed call, in chain order (an operator's output
    /// may feed a later one).
    pub fn emit_completed_calls(&mut self, outputs: &mut OutputGate, ctx: &mut Ctx) -> Result<(), Stopped> {
        for position in 0..self.async_operators.len() {
            let index = self.async_operators[position];
            let caller = ctx.enter_operator(index);
            let emitted = self.emit_ready(index, outputs, ctx);
            ctx.enter_operator(caller);
            emitted?;
        }
        for index in self.polling_operators() {
            self.poll_stateful(index, false, outputs, ctx)?;
        }
        Ok(())
    }

    /// At the end of input: waits for every call in flight and emits it,
    /// in chain order, so what an operator emits reaches the later ones
    /// before they drain.
    pub fn drain_async_calls(&mut self, outputs: &mut OutputGate, ctx: &mut Ctx) -> Result<(), Stopped> {
        for index in 0..self.operators.len() {
            match &self.operators[index].step {
                Step::Async(_) => {
                    let caller = ctx.enter_operator(index);
                    let drained = self.drain_one(index, outputs, ctx);
                    ctx.enter_operator(caller);
                    drained?;
                }
                Step::Stateful(stateful) if stateful.next_poll().is_some() => {
                    self.poll_stateful(index, true, outputs, ctx)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn drain_one(&mut self, index: usize, outputs: &mut OutputGate, ctx: &mut Ctx) -> Result<(), Stopped> {
        loop {
            self.emit_ready(index, outputs, ctx)?;
            let Step::Async(call) = &self.operators[index].step else { unreachable!("an async step") };
            if call.queue.is_empty() {
                return Ok(());
            }
            let due = call.queue.next_due().expect("a queue with records has a first one");
            wait_for_call(due, outputs, ctx)?;
        }
    }
}

/// Waits for a call that completes at `due`; what was emitted before goes
/// out at `buffer_timeout` meanwhile, as it would between records.
fn wait_for_call(due: Instant, outputs: &mut OutputGate, ctx: &mut Ctx) -> Result<(), Stopped> {
    outputs.flush_if_due(ctx)?;
    let until = if outputs.has_unflushed() { due.min(outputs.next_flush()) } else { due };
    outputs.sleep_until(until, ctx)
}
