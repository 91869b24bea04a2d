//! The sending half of the network: the messages a channel carries, and
//! `OutputGate`, which turns a task's output rows into buffers and sends
//! them only against credit.
//!
//! Each output edge of a task has a bounded pool of buffers
//! (`channels × buffers_per_channel + floating_buffers`, Flink's largest
//! output pool). A buffer is taken from the pool when a channel starts
//! filling one, sealed when full, at `buffer_timeout`, or at the end, and
//! queued on its channel; it goes out when the channel holds a credit, and
//! then returns to the pool. When a channel needs a new buffer and the pool
//! is empty, the subtask blocks until credit frees one: that time is
//! backpressured time. Credits arrive as `CreditMessage`s on the subtask's
//! own crossbeam channel, and are the only thing that lets buffers out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::check::program::Value;
use crate::check::types::{RecordType, Type};
use crate::compile::backend::Scalar;
use crate::compile::bits::{hash_bits, is_fixed_width, value_of_bits};
use crate::compile::builtins::hash_value;
use crate::compile::row::{has_strings, Batch};
use crate::diag::Code;
use crate::metrics::sketch::KeySketch;
use crate::metrics::{self, TimeState};

use super::control::{Ctx, RunError, Stopped, POLL};

/// A buffer on the wire: rows, and the watermarks that rose among them,
/// each with the number of rows before it. Watermarks keep their place in
/// the stream whatever the buffer sizes and flush timing, so which records
/// are late does not depend on them (as Flink's watermarks are stream
/// elements between records).
#[derive(Debug)]
pub struct NetBuffer {
    pub rows: Batch,
    pub watermarks: Vec<(usize, i64)>,
}

#[derive(Debug)]
pub enum InputEvent {
    /// A buffer, and how many more the sender has queued for this channel.
    Data { buffer: NetBuffer, backlog: u32 },
    /// The sender will send nothing more on this channel.
    EndOfInput,
}

/// To a receiving subtask: `channel` is the index among its input channels.
#[derive(Debug)]
pub struct InputMessage {
    pub channel: usize,
    /// With `channel_latency`, when the message reaches the receiver.
    pub deliver_at: Option<Instant>,
    pub event: InputEvent,
}

/// To a sending subtask: `credits` more buffers on its output `channel`.
#[derive(Debug)]
pub struct CreditMessage {
    pub channel: usize,
    pub credits: u32,
    pub deliver_at: Option<Instant>,
}

/// When a message sent now arrives.
pub fn delivery_time(latency: Duration) -> Option<Instant> {
    (!latency.is_zero()).then(|| Instant::now() + latency)
}

/// How an output edge picks the receiving channels of a row.
pub enum Partitioner {
    /// The edge has one channel per sending subtask.
    Forward,
    Hash {
        key: Box<dyn Scalar>,
        key_type: Type,
        /// The key of every row of the batch at hand, evaluated at once:
        /// as values for string keys, as words (`bits`) for the others.
        keys: Vec<Value>,
        bits: Vec<u64>,
        /// The channel of every row of the batch at hand.
        targets: Vec<u32>,
        /// The heaviest keys this sender has sent, published now and then
        /// for the report.
        sketch: Option<KeySketch>,
        published: Arc<Mutex<KeySketch>>,
    },
    Rebalance {
        next: usize,
    },
    Broadcast,
}

/// A key that could not be computed stops the run, pointing at the key.
fn key_failed(error: crate::compile::interp::EvalError, ctx: &mut Ctx) -> Stopped {
    ctx.fail(RunError::new(Code::EvalFailed, error.message, error.span, "while computing this key"))
}

/// `x % d` for a `d` fixed at the start, by multiplication (Lemire, Kaser
/// and Kurz, "Faster Remainder by Direct Computation", 2019): the same
/// remainders, so the same channels, without a division per record.
#[derive(Debug, Clone, Copy)]
pub struct FastRemainder {
    divisor: u64,
    /// `⌈2¹²⁸ / divisor⌉`, wrapped to 128 bits (0 for a divisor of 1).
    inverse: u128,
}

impl FastRemainder {
    pub fn new(divisor: u64) -> FastRemainder {
        assert!(divisor > 0, "a remainder needs a divisor");
        FastRemainder { divisor, inverse: (u128::MAX / u128::from(divisor)).wrapping_add(1) }
    }

    #[inline]
    pub fn of(self, x: u64) -> u64 {
        let low = self.inverse.wrapping_mul(u128::from(x));
        // The top 64 bits of the 192-bit `low × divisor`.
        let d = u128::from(self.divisor);
        let top = (low >> 64) * d + (((low as u64) as u128 * d) >> 64);
        (top >> 64) as u64
    }
}

/// One output edge of a subtask: its channels and its buffer pool.
pub struct OutputEdge {
    pub record: Arc<RecordType>,
    pub partitioner: Partitioner,
    /// Indices into `OutputGate::channels`, in receiver order.
    pub channels: Vec<usize>,
    pub pool_size: usize,
    pub pool_used: usize,
}

enum Queued {
    Buffer(NetBuffer),
    End,
}

/// One sender→receiver pair, seen from the sender.
pub struct OutputChannel {
    edge: usize,
    receiver: Sender<InputMessage>,
    /// This channel's index among the receiver's input channels.
    remote_index: usize,
    credit: u32,
    partial: Option<Batch>,
    /// Watermarks that rose while `partial` filled, at their row positions.
    partial_watermarks: Vec<(usize, i64)>,
    /// A watermark that rose while no buffer was being filled: it goes
    /// before the rows of the next one (or alone, at the next flush).
    owed_watermark: Option<i64>,
    queue: VecDeque<Queued>,
}

impl OutputChannel {
    pub fn new(edge: usize, receiver: Sender<InputMessage>, remote_index: usize, initial_credit: u32) -> OutputChannel {
        OutputChannel {
            edge,
            receiver,
            remote_index,
            credit: initial_credit,
            partial: None,
            partial_watermarks: Vec::new(),
            owed_watermark: None,
            queue: VecDeque::new(),
        }
    }
}

/// Everything a subtask sends.
pub struct OutputGate {
    pub edges: Vec<OutputEdge>,
    pub channels: Vec<OutputChannel>,
    credits: Option<Receiver<CreditMessage>>,
    pending_credits: VecDeque<CreditMessage>,
    buffer_size: usize,
    flush_every_record: bool,
    buffer_timeout: Duration,
    /// When the `buffer_timeout` flush is next due.
    next_flush: Instant,
    latency: Duration,
    /// The subtask's watermark; `raise_watermark` moves it.
    pub watermark: i64,
    next_sketch_publish: Instant,
}

/// How often a sender hands its key sketches over while it runs.
const SKETCH_PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

impl OutputGate {
    pub fn new(
        edges: Vec<OutputEdge>,
        channels: Vec<OutputChannel>,
        credits: Option<Receiver<CreditMessage>>,
        buffer_size: usize,
        buffer_timeout: Duration,
        latency: Duration,
    ) -> OutputGate {
        OutputGate {
            edges,
            channels,
            credits,
            pending_credits: VecDeque::new(),
            buffer_size,
            flush_every_record: buffer_timeout.is_zero(),
            buffer_timeout,
            next_flush: Instant::now() + buffer_timeout,
            latency,
            watermark: i64::MIN,
            next_sketch_publish: Instant::now() + SKETCH_PUBLISH_INTERVAL,
        }
    }

    /// The subtask's watermark rose: every channel carries it after the
    /// rows written so far.
    pub fn raise_watermark(&mut self, watermark: i64) {
        if watermark <= self.watermark {
            return;
        }
        self.watermark = watermark;
        for channel in &mut self.channels {
            match &channel.partial {
                Some(partial) => {
                    let at = partial.len();
                    match channel.partial_watermarks.last_mut() {
                        // Nothing between the two: the later one says it all.
                        Some(last) if last.0 == at => last.1 = watermark,
                        _ => channel.partial_watermarks.push((at, watermark)),
                    }
                }
                None => channel.owed_watermark = Some(watermark),
            }
        }
    }

    /// Starts `channel`'s next buffer, with an owed watermark before its rows.
    fn start_partial(&mut self, channel: usize, record: &RecordType, capacity: usize) {
        let state = &mut self.channels[channel];
        state.partial = Some(Batch::with_capacity(record, capacity));
        state.partial_watermarks.extend(state.owed_watermark.take().map(|watermark| (0, watermark)));
    }

    pub fn credit_receiver(&self) -> Option<&Receiver<CreditMessage>> {
        self.credits.as_ref()
    }

    /// Writes every row of `batch` to output `edge`, blocking while the
    /// edge's pool is empty.
    pub fn write(&mut self, edge: usize, batch: &Batch, ctx: &mut Ctx) -> Result<(), Stopped> {
        let n_channels = self.edges[edge].channels.len();
        // One clone per batch, not per row: `write_row` needs `self` mutably.
        let record = self.edges[edge].record.clone();
        let has_strings = has_strings(&record);
        let one_target = match self.edges[edge].partitioner {
            Partitioner::Forward => true,
            Partitioner::Rebalance { .. } | Partitioner::Broadcast => n_channels == 1,
            // Keys are computed even for one channel: their errors and the sketch.
            Partitioner::Hash { .. } => false,
        };
        let width = record.layout().width as usize;
        if one_target && !has_strings && !self.flush_every_record && width > 0 {
            return self.write_all_rows(self.edges[edge].channels[0], batch, width, ctx);
        }
        if let Partitioner::Hash { key_type, .. } = &self.edges[edge].partitioner {
            if is_fixed_width(*key_type) {
                return self.write_hashed(edge, batch, &record, has_strings, ctx);
            }
        }
        // Keys a batch at a time; on an error, the rows before the failing
        // one still go out, as they would record by record.
        let mut evaluated = Ok(());
        let mut rows = batch.len();
        let divisor = FastRemainder::new(n_channels.max(1) as u64);
        if let Partitioner::Hash { key, keys, .. } = &mut self.edges[edge].partitioner {
            evaluated = key.evaluate_all(batch, keys);
            rows = keys.len();
        }
        for row in 0..rows {
            let target = match &mut self.edges[edge].partitioner {
                Partitioner::Forward => Some(0),
                Partitioner::Rebalance { next } => {
                    let target = *next;
                    *next = (target + 1) % n_channels;
                    Some(target)
                }
                Partitioner::Broadcast => None,
                Partitioner::Hash { keys, sketch, .. } => {
                    let value = &keys[row];
                    let hash = hash_value(value) as u64;
                    if let Some(sketch) = sketch {
                        sketch.offer_with(hash, || value.clone());
                    }
                    Some(divisor.of(hash) as usize)
                }
            };
            match target {
                Some(target) => {
                    self.write_row(self.edges[edge].channels[target], batch, row, &record, has_strings, ctx)?
                }
                None => {
                    for target in 0..n_channels {
                        self.write_row(self.edges[edge].channels[target], batch, row, &record, has_strings, ctx)?;
                    }
                }
            }
        }
        evaluated.map_err(|error| key_failed(error, ctx))
    }

    /// Every row of `batch` to the channel its key's hash picks, for a key of
    /// a fixed-width type: the keys as words, one compiled call per batch,
    /// and the channels chosen before any row moves.
    fn write_hashed(
        &mut self,
        edge: usize,
        batch: &Batch,
        record: &RecordType,
        has_strings: bool,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let n_channels = self.edges[edge].channels.len() as u64;
        let Partitioner::Hash { key, key_type, bits, targets, sketch, .. } = &mut self.edges[edge].partitioner else {
            unreachable!("write_hashed is for hash edges")
        };
        // On an error, the rows before the failing one still go out, as
        // they would record by record.
        let evaluated = key.evaluate_bits(batch, bits);
        let ty = *key_type;
        if let Some(sketch) = sketch {
            sketch.offer_rows(bits.len(), |row| (hash_bits(ty, bits[row]), value_of_bits(ty, bits[row])));
        }
        if n_channels == 1 && !has_strings && !self.flush_every_record && record.layout().width > 0 {
            let rows = bits.len();
            let channel = self.edges[edge].channels[0];
            let width = record.layout().width as usize;
            let written = if rows == batch.len() {
                self.write_all_rows(channel, batch, width, ctx)
            } else {
                self.write_all_rows(channel, &batch.slice(0..rows, record), width, ctx)
            };
            written?;
            return evaluated.map_err(|error| key_failed(error, ctx));
        }
        let divisor = FastRemainder::new(n_channels);
        targets.clear();
        targets.extend(bits.iter().map(|&word| divisor.of(hash_bits(ty, word)) as u32));
        let targets = std::mem::take(targets);
        let width = record.layout().width as usize;
        let mut written = Ok(());
        for (row, &target) in targets.iter().enumerate() {
            let channel = self.edges[edge].channels[target as usize];
            written = if has_strings || self.flush_every_record || width == 0 {
                self.write_row(channel, batch, row, record, has_strings, ctx)
            } else {
                self.append_fixed_row(channel, batch, row, width, record, ctx)
            };
            if written.is_err() {
                break;
            }
        }
        if let Partitioner::Hash { targets: kept, .. } = &mut self.edges[edge].partitioner {
            *kept = targets;
        }
        written?;
        evaluated.map_err(|error| key_failed(error, ctx))
    }

    /// Row `row` of `batch` (fixed width, no strings) onto `channel`'s
    /// partial buffer: a copy of its bytes while the buffer has room.
    #[inline]
    fn append_fixed_row(
        &mut self,
        channel: usize,
        batch: &Batch,
        row: usize,
        width: usize,
        record: &RecordType,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        if let Some(partial) = &mut self.channels[channel].partial {
            if partial.bytes() + width < self.buffer_size {
                partial.push_row_without_strings(batch, row);
                return Ok(());
            }
        }
        self.write_row(channel, batch, row, record, false, ctx)
    }

    /// Every row of `batch` (fixed width, no strings) to one channel,
    /// as many rows at a time as the partial buffer has room for.
    fn write_all_rows(&mut self, channel: usize, batch: &Batch, width: usize, ctx: &mut Ctx) -> Result<(), Stopped> {
        let edge = self.channels[channel].edge;
        let mut row = 0;
        while row < batch.len() {
            if let Some(partial) = &self.channels[channel].partial {
                if !partial.is_empty() && partial.bytes() + width > self.buffer_size {
                    self.seal(channel, ctx)?;
                }
            }
            if self.channels[channel].partial.is_none() {
                self.acquire_buffer(edge, ctx)?;
                let record = self.edges[edge].record.clone();
                self.start_partial(channel, &record, self.buffer_size);
            }
            let partial = self.channels[channel].partial.as_mut().expect("a partial buffer was just ensured");
            // At least one row: a row larger than a whole buffer travels alone.
            let room = (self.buffer_size.saturating_sub(partial.bytes()) / width).max(1);
            let rows = room.min(batch.len() - row);
            partial.extend_rows_without_strings(batch, row..row + rows);
            row += rows;
            if partial.bytes() >= self.buffer_size {
                self.seal(channel, ctx)?;
            }
        }
        Ok(())
    }

    fn write_row(
        &mut self,
        channel: usize,
        batch: &Batch,
        row: usize,
        record: &RecordType,
        has_strings: bool,
        ctx: &mut Ctx,
    ) -> Result<(), Stopped> {
        let edge = self.channels[channel].edge;
        let row_bytes = if has_strings { Batch::row_bytes(batch, row, record) } else { record.layout().width as usize };
        if let Some(partial) = &self.channels[channel].partial {
            if !partial.is_empty() && partial.bytes() + row_bytes > self.buffer_size {
                self.seal(channel, ctx)?;
            }
        }
        if self.channels[channel].partial.is_none() {
            self.acquire_buffer(edge, ctx)?;
            self.start_partial(channel, record, self.buffer_size);
        }
        let partial = self.channels[channel].partial.as_mut().expect("a partial buffer was just ensured");
        if has_strings {
            partial.push_row_of(batch, row, record);
        } else {
            partial.push_row_without_strings(batch, row);
        }
        // A row larger than a whole buffer travels alone.
        if self.flush_every_record || partial.bytes() >= self.buffer_size {
            self.seal(channel, ctx)?;
        }
        Ok(())
    }

    /// Takes a buffer from `edge`'s pool, waiting for credit while it is empty.
    fn acquire_buffer(&mut self, edge: usize, ctx: &mut Ctx) -> Result<(), Stopped> {
        self.poll_credits(ctx)?;
        if self.edges[edge].pool_used >= self.edges[edge].pool_size {
            let before = ctx.enter(TimeState::Backpressured);
            while self.edges[edge].pool_used >= self.edges[edge].pool_size {
                self.wait_for_credit(Instant::now() + POLL, ctx)?;
            }
            ctx.enter(before);
        }
        self.edges[edge].pool_used += 1;
        self.update_pool_gauge(ctx);
        Ok(())
    }

    fn update_pool_gauge(&self, ctx: &Ctx) {
        let used: usize = self.edges.iter().map(|edge| edge.pool_used).sum();
        metrics::set(&ctx.counters.out_pool_used, used);
    }

    /// Queues `channel`'s partial buffer, with the watermarks that rose in it.
    fn seal(&mut self, channel: usize, ctx: &mut Ctx) -> Result<(), Stopped> {
        let state = &mut self.channels[channel];
        let Some(rows) = state.partial.take() else { return Ok(()) };
        let watermarks = std::mem::take(&mut state.partial_watermarks);
        state.queue.push_back(Queued::Buffer(NetBuffer { rows, watermarks }));
        self.send_queued(channel, ctx)
    }

    /// When the flush timer fires next.
    pub fn next_flush(&self) -> Instant {
        self.next_flush
    }

    /// Flushes if `buffer_timeout` has passed since the last flush: Flink's
    /// output flusher, run by the subtask itself between records.
    pub fn flush_if_due(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        let now = Instant::now();
        if now < self.next_flush {
            return Ok(());
        }
        // With `buffer_timeout = 0` rows go out as they are written; the
        // timer then only carries watermarks, and need not spin.
        self.next_flush = now + self.buffer_timeout.max(Duration::from_millis(1));
        if now >= self.next_sketch_publish {
            self.next_sketch_publish = now + SKETCH_PUBLISH_INTERVAL;
            self.publish_key_sketches();
        }
        self.flush(ctx)
    }

    /// Seals every partial buffer, and sends the watermark on channels that
    /// have no rows to carry it when a pool buffer is free for it: the
    /// `buffer_timeout` flush.
    pub fn flush(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        self.poll_credits(ctx)?;
        for channel in 0..self.channels.len() {
            let state = &self.channels[channel];
            let has_rows = state.partial.as_ref().is_some_and(|partial| !partial.is_empty());
            let owes_watermark = state.partial.is_none() && state.owed_watermark.is_some();
            let edge = state.edge;
            if has_rows {
                self.seal(channel, ctx)?;
            } else if owes_watermark && self.edges[edge].pool_used < self.edges[edge].pool_size {
                self.edges[edge].pool_used += 1;
                let record = self.edges[edge].record.clone();
                self.start_partial(channel, &record, 0);
                self.seal(channel, ctx)?;
            }
        }
        self.update_pool_gauge(ctx);
        Ok(())
    }

    /// Seals everything, ends every channel, and waits until all of it has
    /// gone out.
    pub fn finish(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        // End of input raises the receiver's watermark for this channel to
        // the end of time, so no watermark needs to travel with it.
        for channel in 0..self.channels.len() {
            self.seal(channel, ctx)?;
            self.channels[channel].queue.push_back(Queued::End);
            self.send_queued(channel, ctx)?;
        }
        let before = ctx.enter(TimeState::Backpressured);
        while self.channels.iter().any(|channel| !channel.queue.is_empty()) {
            self.wait_for_credit(Instant::now() + POLL, ctx)?;
        }
        ctx.enter(before);
        Ok(())
    }

    /// Sends what `channel`'s credit allows.
    fn send_queued(&mut self, channel: usize, ctx: &mut Ctx) -> Result<(), Stopped> {
        loop {
            let state = &mut self.channels[channel];
            let event = match state.queue.front() {
                None => return Ok(()),
                Some(Queued::Buffer(_)) if state.credit == 0 => return Ok(()),
                Some(Queued::Buffer(_)) => {
                    let Some(Queued::Buffer(buffer)) = state.queue.pop_front() else { unreachable!() };
                    state.credit -= 1;
                    let backlog = state.queue.iter().filter(|queued| matches!(queued, Queued::Buffer(_))).count();
                    let edge = &mut self.edges[state.edge];
                    edge.pool_used -= 1;
                    let counters = &ctx.counters;
                    metrics::OperatorCounters::add(&counters.records_out, buffer.rows.len());
                    metrics::OperatorCounters::add(&counters.bytes_out, buffer.rows.bytes());
                    metrics::OperatorCounters::add(&counters.buffers_out, 1);
                    InputEvent::Data { buffer, backlog: backlog as u32 }
                }
                Some(Queued::End) => {
                    state.queue.pop_front();
                    InputEvent::EndOfInput
                }
            };
            let message = InputMessage { channel: state.remote_index, deliver_at: delivery_time(self.latency), event };
            if state.receiver.send(message).is_err() {
                return Err(ctx.lost_peer("a receiving subtask is gone before the end of its input"));
            }
            self.update_pool_gauge(ctx);
        }
    }

    /// Applies the credits that have arrived, without waiting.
    pub fn poll_credits(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        if let Some(credits) = &self.credits {
            self.pending_credits.extend(credits.try_iter());
        }
        self.apply_due_credits(ctx)
    }

    /// Takes one credit message that arrived while the subtask waited for something else.
    pub fn accept_credit(&mut self, message: CreditMessage, ctx: &mut Ctx) -> Result<(), Stopped> {
        self.pending_credits.push_back(message);
        self.apply_due_credits(ctx)
    }

    fn apply_due_credits(&mut self, ctx: &mut Ctx) -> Result<(), Stopped> {
        let now = Instant::now();
        while let Some(message) = self.pending_credits.front() {
            if message.deliver_at.is_some_and(|at| at > now) {
                break;
            }
            let message = self.pending_credits.pop_front().expect("front exists");
            self.channels[message.channel].credit += message.credits;
            self.send_queued(message.channel, ctx)?;
        }
        Ok(())
    }

    /// When the next delayed credit becomes usable.
    pub fn next_credit_due(&self) -> Option<Instant> {
        self.pending_credits.front().and_then(|message| message.deliver_at)
    }

    /// Waits for credit until `deadline` at most.
    fn wait_for_credit(&mut self, deadline: Instant, ctx: &mut Ctx) -> Result<(), Stopped> {
        ctx.control.check()?;
        let deadline = self.next_credit_due().map_or(deadline, |due| due.min(deadline));
        let Some(credits) = &self.credits else {
            // Unreachable with credit-only waits, but never spin.
            std::thread::sleep(POLL);
            return Ok(());
        };
        match credits.recv_deadline(deadline) {
            Ok(message) => self.accept_credit(message, ctx),
            Err(RecvTimeoutError::Timeout) => self.apply_due_credits(ctx),
            Err(RecvTimeoutError::Disconnected) => {
                Err(ctx.lost_peer("every receiver of this subtask's output is gone before the end of its input"))
            }
        }
    }

    /// Sleeps until `until`, still sending buffers as credit arrives: pacing
    /// operators and rate-limited sources wait here.
    pub fn sleep_until(&mut self, until: Instant, ctx: &mut Ctx) -> Result<(), Stopped> {
        self.sleep(until, false, ctx)
    }

    /// As `sleep_until`, but a source stop (Ctrl-C) ends the wait too.
    pub fn sleep_until_or_stop(&mut self, until: Instant, ctx: &mut Ctx) -> Result<(), Stopped> {
        self.sleep(until, true, ctx)
    }

    fn sleep(&mut self, until: Instant, until_sources_stop: bool, ctx: &mut Ctx) -> Result<(), Stopped> {
        loop {
            ctx.control.check()?;
            if until_sources_stop && ctx.control.sources_stopped() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let deadline = until.min(now + POLL);
            if self.credits.is_some() {
                self.wait_for_credit(deadline, ctx)?;
            } else {
                std::thread::sleep(deadline - now);
            }
        }
    }

    /// Hands the key sketches of hash edges to the report's side.
    pub fn publish_key_sketches(&self) {
        for edge in &self.edges {
            if let Partitioner::Hash { sketch: Some(sketch), published, .. } = &edge.partitioner {
                *published.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = sketch.clone();
            }
        }
    }

    /// Whether any partial buffer holds rows: the flush timer only runs then.
    pub fn has_unflushed(&self) -> bool {
        self.channels.iter().any(|channel| channel.partial.as_ref().is_some_and(|partial| !partial.is_empty()))
            || self.channels.iter().any(|channel| channel.owed_watermark.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::FastRemainder;

    #[test]
    fn fast_remainders_are_the_remainders() {
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        for divisor in (1..=70).chain([127, 1 << 20, (1 << 32) + 7, u64::MAX / 3, u64::MAX]) {
            let fast = FastRemainder::new(divisor);
            for edge in [0, 1, divisor - 1, divisor, divisor.wrapping_add(1), u64::MAX, u64::MAX - 1] {
                assert_eq!(fast.of(edge), edge % divisor, "{edge} % {divisor}");
            }
            for _ in 0..2_000 {
                x = crate::compile::builtins::mix64(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
                assert_eq!(fast.of(x), x % divisor, "{x} % {divisor}");
            }
        }
    }
}
