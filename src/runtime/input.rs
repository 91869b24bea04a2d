//! The receiving half of the network: `InputGate` takes a subtask's
//! buffers off its crossbeam channel in order, holds them back until their
//! `channel_latency` has passed, keeps each input gate's credit state
//! (`credit::GateCredits`), announces credit back to the senders, and
//! tracks the watermark of every channel. While it waits for input the
//! subtask is idle, but it still takes credit for its own outputs, so a
//! subtask never sits on sendable buffers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};

use crate::diag::Code;
use crate::metrics::{self, TimeState};

use super::channel::{delivery_time, CreditMessage, InputEvent, InputMessage, NetBuffer, OutputGate};
use super::control::{Ctx, RunError, Stopped, POLL};
use super::credit::{Announcement, GateCredits};

/// One sender→receiver pair, seen from the receiver.
pub struct InputChannel {
    /// Which input gate (input edge) of the subtask it belongs to.
    pub gate: usize,
    pub index_in_gate: usize,
    /// The sender's credit channel, and this channel's index among its outputs.
    pub credit_to: Sender<CreditMessage>,
    pub remote_index: usize,
    /// The input of the head operator it feeds (1: a join's right stream).
    pub port: usize,
    watermark: i64,
    ended: bool,
}

impl InputChannel {
    pub fn new(gate: usize, index_in_gate: usize, credit_to: Sender<CreditMessage>, remote_index: usize) -> Self {
        InputChannel { gate, index_in_gate, credit_to, remote_index, port: 0, watermark: i64::MIN, ended: false }
    }
}

/// What `InputGate::next` found.
pub enum Received {
    Data {
        channel: usize,
        buffer: NetBuffer,
    },
    End {
        channel: usize,
    },
    /// The deadline passed first.
    Timeout,
}

pub struct InputGate {
    inbox: Receiver<InputMessage>,
    /// The subtask's own credit inbox, so waiting for input also takes credit.
    credit_inbox: Option<Receiver<CreditMessage>>,
    /// Arrived but still travelling (`channel_latency`).
    in_flight: VecDeque<InputMessage>,
    channels: Vec<InputChannel>,
    gates: Vec<GateCredits>,
    /// `gate_channels[gate][index_in_gate]`: the channel, for credit announcements.
    gate_channels: Vec<Vec<usize>>,
    latency: Duration,
    n_ended: usize,
    /// The smallest watermark over all channels: the subtask's input watermark.
    pub watermark: i64,
    /// The records each input port of the head operator reads.
    pub port_records: Vec<std::sync::Arc<crate::check::types::RecordType>>,
    announcements: Vec<Announcement>,
    /// The backlog that came with the buffer `wait` just opened.
    pending_backlog: u32,
}

impl InputGate {
    pub fn new(
        inbox: Receiver<InputMessage>,
        credit_inbox: Option<Receiver<CreditMessage>>,
        channels: Vec<InputChannel>,
        gates: Vec<GateCredits>,
        latency: Duration,
    ) -> InputGate {
        let mut gate_channels: Vec<Vec<usize>> = gates.iter().map(|_| Vec::new()).collect();
        for (index, channel) in channels.iter().enumerate() {
            let slots = &mut gate_channels[channel.gate];
            if slots.len() <= channel.index_in_gate {
                slots.resize(channel.index_in_gate + 1, usize::MAX);
            }
            slots[channel.index_in_gate] = index;
        }
        InputGate {
            gate_channels,
            inbox,
            credit_inbox,
            in_flight: VecDeque::new(),
            channels,
            gates,
            latency,
            n_ended: 0,
            watermark: i64::MIN,
            port_records: Vec::new(),
            announcements: Vec::new(),
            pending_backlog: 0,
        }
    }

    /// The head operator's input that `channel` feeds.
    pub fn port_of(&self, channel: usize) -> usize {
        self.channels[channel].port
    }

    pub fn all_ended(&self) -> bool {
        self.n_ended == self.channels.len()
    }

    /// Waits for the next buffer or end of input, until `deadline` at most.
    pub fn next(
        &mut self,
        deadline: Option<Instant>,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<Received, Stopped> {
        let before = ctx.enter(TimeState::Idle);
        let received = self.wait(deadline, outputs, ctx);
        ctx.enter(before);
        let received = received?;
        if let Received::Data { channel, .. } = &received {
            self.accept_buffer(*channel, ctx)?;
        }
        Ok(received)
    }

    fn wait(
        &mut self,
        deadline: Option<Instant>,
        outputs: &mut OutputGate,
        ctx: &mut Ctx,
    ) -> Result<Received, Stopped> {
        loop {
            ctx.control.check()?;
            let now = Instant::now();
            if let Some(message) = self.in_flight.front() {
                if message.deliver_at.is_none_or(|at| at <= now) {
                    let message = self.in_flight.pop_front().expect("front exists");
                    return Ok(self.open(message));
                }
            }
            if deadline.is_some_and(|deadline| deadline <= now) {
                return Ok(Received::Timeout);
            }
            let mut wake = now + POLL;
            for at in [deadline, self.in_flight.front().and_then(|m| m.deliver_at), outputs.next_credit_due()] {
                wake = at.map_or(wake, |at| wake.min(at));
            }
            match self.select(wake) {
                Woken::Input(message) => self.in_flight.push_back(message),
                Woken::Credit(message) => outputs.accept_credit(message, ctx)?,
                Woken::Timeout => outputs.poll_credits(ctx)?,
                // Every sender has gone; what they sent last may still be travelling.
                Woken::Disconnected if !self.in_flight.is_empty() => {
                    let due = self.in_flight.front().and_then(|message| message.deliver_at);
                    outputs.sleep_until(due.unwrap_or(now).min(wake), ctx)?;
                }
                Woken::Disconnected => {
                    return Err(
                        ctx.lost_peer("every sender of this subtask's input is gone before the end of its input")
                    )
                }
            }
        }
    }

    fn select(&self, wake: Instant) -> Woken {
        let mut select = Select::new();
        let input = select.recv(&self.inbox);
        let credit = self.credit_inbox.as_ref().map(|credits| select.recv(credits));
        let Ok(operation) = select.select_deadline(wake) else { return Woken::Timeout };
        if operation.index() == input {
            return operation.recv(&self.inbox).map_or(Woken::Disconnected, Woken::Input);
        }
        debug_assert_eq!(Some(operation.index()), credit);
        let credits = self.credit_inbox.as_ref().expect("selected the credit inbox");
        // A sender's credit inbox stays open while the subtask lives.
        operation.recv(credits).map_or(Woken::Timeout, Woken::Credit)
    }

    fn open(&mut self, message: InputMessage) -> Received {
        match message.event {
            InputEvent::Data { buffer, backlog } => {
                self.pending_backlog = backlog;
                Received::Data { channel: message.channel, buffer }
            }
            InputEvent::EndOfInput => {
                let channel = &mut self.channels[message.channel];
                if !channel.ended {
                    channel.ended = true;
                    self.n_ended += 1;
                }
                Received::End { channel: message.channel }
            }
        }
    }

    /// Takes the buffer into the channel's credit state: it uses one credit,
    /// and its backlog may earn floating buffers.
    fn accept_buffer(&mut self, channel: usize, ctx: &mut Ctx) -> Result<(), Stopped> {
        let (gate, index) = (self.channels[channel].gate, self.channels[channel].index_in_gate);
        if self.gates[gate].on_buffer(index, self.pending_backlog, &mut self.announcements).is_err() {
            ctx.counters.credit_violations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(ctx.fail(RunError {
                code: Code::Internal,
                message: format!("a buffer arrived on input channel {channel} without credit"),
                span: None,
                label: String::new(),
                help: Some("this is a bug in flowc's runtime; please report it".into()),
            }));
        }
        // Its records count as in when the chain takes them (worker.rs), as
        // Flink's numRecordsIn does.
        metrics::OperatorCounters::add(&ctx.counters.buffers_in, 1);
        self.announce(gate, ctx);
        Ok(())
    }

    /// The buffer from `channel` has been processed: its memory is free again.
    pub fn recycle(&mut self, channel: usize, ctx: &mut Ctx) {
        let (gate, index) = (self.channels[channel].gate, self.channels[channel].index_in_gate);
        self.gates[gate].on_recycled(index, &mut self.announcements);
        self.announce(gate, ctx);
    }

    fn announce(&mut self, gate: usize, ctx: &mut Ctx) {
        for Announcement { channel: index, credits } in self.announcements.drain(..) {
            let channel = &self.channels[self.gate_channels[gate][index]];
            let message =
                CreditMessage { channel: channel.remote_index, credits, deliver_at: delivery_time(self.latency) };
            // A sender that has ended needs no credit; its inbox may be gone.
            let _ = channel.credit_to.send(message);
        }
        let (mut exclusive_used, mut exclusive_size, mut floating_used, mut floating_size) = (0, 0, 0, 0);
        for gate in &self.gates {
            exclusive_used += gate.exclusive_in_use() as usize;
            exclusive_size += gate.exclusive_total() as usize;
            floating_used += gate.floating_in_use() as usize;
            floating_size += gate.floating_total() as usize;
        }
        metrics::set(&ctx.counters.exclusive_used, exclusive_used);
        metrics::set(&ctx.counters.exclusive_size, exclusive_size);
        metrics::set(&ctx.counters.floating_used, floating_used);
        metrics::set(&ctx.counters.floating_size, floating_size);
    }

    /// Raises `channel`'s watermark (an ended channel's is the end of time)
    /// and returns the subtask's input watermark if that rose.
    pub fn advance_watermark(&mut self, channel: usize, watermark: Option<i64>) -> Option<i64> {
        let state = &mut self.channels[channel];
        if state.ended {
            state.watermark = i64::MAX;
        } else if let Some(watermark) = watermark {
            state.watermark = state.watermark.max(watermark);
        }
        let lowest = self.channels.iter().map(|channel| channel.watermark).min().unwrap_or(i64::MAX);
        (lowest > self.watermark).then(|| {
            self.watermark = lowest;
            lowest
        })
    }
}

enum Woken {
    Input(InputMessage),
    Credit(CreditMessage),
    Timeout,
    Disconnected,
}
