//! One subtask, one thread: the loop that feeds its chain from its source or
//! its input channels, moves watermarks, flushes on `buffer_timeout`, wakes
//! for the calls of `@async` operators that complete, and at the end of
//! input waits for those calls, fires every window, completes the sinks and
//! ends every output channel.

use std::time::Instant;

use crate::compile::row::Batch;
use crate::diag::{Code, Span};
use crate::metrics::{self, TimeState};

use super::chain::Chain;
use super::channel::OutputGate;
use super::control::{Ctx, RunError, Stopped};
use super::input::{InputGate, Received};
use super::sources::{ProduceError, Produced, SourceReader};

/// Where a subtask's records come from.
pub enum Feed {
    Source {
        reader: SourceReader,
        /// `(field, delay)` of `@watermark`.
        watermark: Option<(usize, i64)>,
        /// Rows a source produces at a time: about one buffer's worth.
        batch_rows: usize,
        /// The source's place in the file, for errors.
        span: Span,
        record: std::sync::Arc<crate::check::types::RecordType>,
    },
    Inputs(InputGate),
}

pub struct Subtask {
    pub chain: Chain,
    pub outputs: OutputGate,
    pub feed: Feed,
    pub ctx: Ctx,
}

impl Subtask {
    pub fn run(mut self) -> Result<(), Stopped> {
        self.ctx.counters.cpu.register_current_thread();
        self.ctx.enter(TimeState::Busy);
        let result = self.run_to_end_of_input().and_then(|()| self.finish());
        self.ctx.finish_time();
        self.outputs.publish_key_sketches();
        self.ctx.counters.cpu.finish_current_thread();
        result
    }

    fn run_to_end_of_input(&mut self) -> Result<(), Stopped> {
        match &mut self.feed {
            Feed::Source { .. } => self.run_source(),
            Feed::Inputs(_) => self.run_inputs(),
        }
    }

    fn run_source(&mut self) -> Result<(), Stopped> {
        let Feed::Source { reader, watermark, batch_rows, span, record } = &mut self.feed else { unreachable!() };
        let mut batch = Batch::new(record);
        let mut schedule_published = false;
        loop {
            self.ctx.control.check()?;
            if self.ctx.control.sources_stopped() {
                reader.stop();
            }
            self.chain.emit_completed_calls(&mut self.outputs, &mut self.ctx)?;
            batch.clear();
            // The lag is largest just before the source reads what is due.
            let lag = reader.lag();
            self.ctx.counters.lag_max.fetch_max(lag, std::sync::atomic::Ordering::Relaxed);
            let produced = match reader.produce(&mut batch, *batch_rows) {
                Ok(produced) => produced,
                Err(ProduceError::Eval(error)) => {
                    return Err(self.ctx.fail(RunError::new(
                        Code::EvalFailed,
                        error.message,
                        error.span,
                        "while generating a record",
                    )))
                }
                Err(ProduceError::BadLine(bad)) => {
                    return Err(self.ctx.fail(
                        RunError::new(
                            Code::BadInput,
                            format!("{}: {}", bad.location, bad.message),
                            *span,
                            "read by this source",
                        )
                        .help("fix the line, or skip bad lines with `on_error = skip`"),
                    ))
                }
            };
            metrics::set(&self.ctx.counters.lag, reader.lag() as usize);
            if !schedule_published {
                if let Some((start, per_second, limit)) = reader.schedule() {
                    self.ctx.counters.publish_schedule(start, per_second, limit);
                    schedule_published = true;
                }
            }
            metrics::set(&self.ctx.counters.skipped, reader.skipped() as usize);
            match produced {
                Produced::Records(n) => {
                    metrics::OperatorCounters::add(&self.ctx.counters.records_in, n);
                    self.chain.push(0, &batch, &mut self.outputs, &mut self.ctx)?;
                    if let Some((field, delay)) = *watermark {
                        let newest = newest_time(&batch, record, field);
                        if let Some(newest) = newest {
                            let watermark = newest.saturating_sub(delay);
                            if watermark > self.chain.input_watermark {
                                self.chain.watermark_arrived(watermark, &mut self.outputs, &mut self.ctx)?;
                            }
                        }
                    }
                }
                Produced::WaitUntil(until) => {
                    let until = if self.outputs.has_unflushed() { until.min(self.outputs.next_flush()) } else { until };
                    let until = self.chain.next_async_due().map_or(until, |due| until.min(due));
                    let before = self.ctx.enter(TimeState::Idle);
                    self.chain.flush_sinks(&mut self.ctx)?;
                    // Ctrl-C ends the wait for a generator's next record.
                    let slept = self.outputs.sleep_until_or_stop(until.max(Instant::now()), &mut self.ctx);
                    self.ctx.enter(before);
                    slept?;
                }
                Produced::Done => return Ok(()),
            }
            if Instant::now() >= self.outputs.next_flush() {
                self.chain.flush_sinks(&mut self.ctx)?;
                self.outputs.flush_if_due(&mut self.ctx)?;
            }
        }
    }

    fn run_inputs(&mut self) -> Result<(), Stopped> {
        let Feed::Inputs(inputs) = &mut self.feed else { unreachable!() };
        let records = inputs.port_records.clone();
        while !inputs.all_ended() {
            let waiting_output = self.outputs.has_unflushed() || self.chain.has_buffered_output();
            let deadline = waiting_output.then(|| self.outputs.next_flush());
            // Completed calls leave even when no input comes.
            let deadline = match (deadline, self.chain.next_async_due()) {
                (Some(flush), Some(due)) => Some(flush.min(due)),
                (flush, due) => flush.or(due),
            };
            match inputs.next(deadline, &mut self.outputs, &mut self.ctx)? {
                Received::Data { channel, buffer } => {
                    let port = inputs.port_of(channel);
                    let record = &records[port];
                    // A pacing head takes a buffer's records one at a time,
                    // for seconds, and counts each itself: counted here on
                    // arrival, a busy writer would read 0 records in per
                    // second between two buffers.
                    if !self.chain.paces_at_head() {
                        metrics::OperatorCounters::add(&self.ctx.counters.records_in, buffer.rows.len());
                    }
                    // Rows and watermarks in the order they were sent.
                    let mut done = 0;
                    for &(at, watermark) in &buffer.watermarks {
                        if at > done {
                            push_rows(
                                &mut self.chain,
                                port,
                                &buffer.rows,
                                done..at,
                                record,
                                &mut self.outputs,
                                &mut self.ctx,
                            )?;
                            done = at;
                        }
                        if let Some(risen) = inputs.advance_watermark(channel, Some(watermark)) {
                            self.chain.watermark_arrived(risen, &mut self.outputs, &mut self.ctx)?;
                        }
                        if let Some(gap) = inputs.watermark_gap() {
                            self.ctx
                                .counters
                                .watermark_gap_max
                                .fetch_max(gap as u64, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    let all = buffer.rows.len();
                    if done < all {
                        push_rows(
                            &mut self.chain,
                            port,
                            &buffer.rows,
                            done..all,
                            record,
                            &mut self.outputs,
                            &mut self.ctx,
                        )?;
                    }
                    // Processed: the buffer's memory goes back as credit.
                    inputs.recycle(channel, &mut self.ctx);
                }
                // After a stop, an input that ends was cut short: its end is
                // no end of its event time, or a join would take every
                // record of the other side as past matching (`finish` then
                // closes what is left, knowing it was a stop).
                Received::End { .. } if self.ctx.control.sources_stopped() => {}
                Received::End { channel } => {
                    if let Some(risen) = inputs.advance_watermark(channel, None) {
                        self.chain.watermark_arrived(risen, &mut self.outputs, &mut self.ctx)?;
                    }
                }
                Received::Timeout => {}
            }
            self.chain.emit_completed_calls(&mut self.outputs, &mut self.ctx)?;
            if Instant::now() >= self.outputs.next_flush() {
                self.chain.flush_sinks(&mut self.ctx)?;
                self.outputs.flush_if_due(&mut self.ctx)?;
            }
        }
        self.chain.flush_sinks(&mut self.ctx)
    }

    fn finish(&mut self) -> Result<(), Stopped> {
        self.chain.drain_async_calls(&mut self.outputs, &mut self.ctx)?;
        if self.ctx.control.sources_stopped() {
            self.chain.stop_stateful();
        }
        // End of input needs no watermark on the wire: it ends every channel.
        self.chain.advance_watermark(0, i64::MAX, &mut self.outputs, &mut self.ctx)?;
        self.chain.count_unfinished();
        self.chain.finish_sinks(&mut self.ctx)?;
        self.outputs.finish(&mut self.ctx)
    }
}

/// The largest value of the timestamp field `field` in `batch`, read
/// straight from the rows' bytes: a source's watermark follows it.
fn newest_time(batch: &Batch, record: &crate::check::types::RecordType, field: usize) -> Option<i64> {
    let offset = record.layout().offsets[field] as usize;
    (0..batch.len()).map(|row| batch.i64_at(row, offset)).max()
}

/// Pushes rows `range` of `rows` through the chain; a copy only when the
/// range is not the whole buffer (a watermark stood among its rows).
fn push_rows(
    chain: &mut Chain,
    port: usize,
    rows: &Batch,
    range: std::ops::Range<usize>,
    record: &crate::check::types::RecordType,
    outputs: &mut OutputGate,
    ctx: &mut Ctx,
) -> Result<(), Stopped> {
    if range.start == 0 && range.end == rows.len() {
        chain.push_port(0, port, rows, outputs, ctx)
    } else {
        chain.push_port(0, port, &rows.slice(range, record), outputs, ctx)
    }
}
