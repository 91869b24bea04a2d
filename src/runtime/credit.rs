//! The receiver's half of credit-based flow control, as a state machine
//! with no threads in it, after Flink's `RemoteInputChannel` and
//! `BufferManager` (the Flink blog's "Flink Network Stack" posts describe them).
//!
//! Each channel of an input gate owns `exclusive` buffers; the gate shares
//! a pool of floating buffers among its channels. A *credit* is one free
//! buffer the receiver has promised the sender: the sender may put one
//! buffer on the channel per credit. Every buffer arrives with the sender's
//! *backlog* (buffers still queued behind it); when the backlog exceeds the
//! free buffers a channel has, the gate hands it floating buffers and
//! announces them as credit. A processed buffer is free again: exclusive
//! buffers go back to their channel as new credit, floating ones too while
//! the channel still needs them, and otherwise back to the pool, where a
//! channel waiting for one takes it.

/// Credit to announce: `credits` more buffers for the sender on `channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub channel: usize,
    pub credits: u32,
}

/// A buffer arrived on a channel with no credit: a protocol bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditViolation {
    pub channel: usize,
}

#[derive(Debug, Clone, Default)]
struct ChannelCredits {
    /// Free buffers promised to the sender (its credit, once announcements arrive).
    announced: u32,
    /// Buffers holding data not yet processed.
    in_use: u32,
    /// Floating buffers this channel holds, free or in use.
    floating_held: u32,
    /// Free buffers the channel wants: the sender's backlog plus `exclusive`.
    required: u32,
}

/// The credit state of one input gate.
#[derive(Debug, Clone)]
pub struct GateCredits {
    exclusive: u32,
    floating_total: u32,
    floating_free: u32,
    channels: Vec<ChannelCredits>,
    /// Where the search for a channel that needs a floating buffer starts,
    /// so no channel is always served last.
    next_waiting: usize,
}

impl GateCredits {
    /// A gate whose channels each start with `exclusive` credits.
    pub fn new(n_channels: usize, exclusive: u32, floating: u32) -> GateCredits {
        let channel = ChannelCredits { announced: exclusive, in_use: 0, floating_held: 0, required: exclusive };
        GateCredits {
            exclusive,
            floating_total: floating,
            floating_free: floating,
            channels: vec![channel; n_channels],
            next_waiting: 0,
        }
    }

    /// The credit every sender holds before the first buffer.
    pub fn initial_credit(&self) -> u32 {
        self.exclusive
    }

    /// A data buffer arrived on `channel`, with `backlog` more queued at the sender.
    pub fn on_buffer(
        &mut self,
        channel: usize,
        backlog: u32,
        announce: &mut Vec<Announcement>,
    ) -> Result<(), CreditViolation> {
        let state = &mut self.channels[channel];
        if state.announced == 0 {
            return Err(CreditViolation { channel });
        }
        state.announced -= 1;
        state.in_use += 1;
        state.required = backlog.saturating_add(self.exclusive);
        let mut granted = 0;
        while state.announced < state.required && self.floating_free > 0 {
            self.floating_free -= 1;
            state.floating_held += 1;
            state.announced += 1;
            granted += 1;
        }
        if granted > 0 {
            announce.push(Announcement { channel, credits: granted });
        }
        Ok(())
    }

    /// A buffer of `channel` has been processed and is free again.
    pub fn on_recycled(&mut self, channel: usize, announce: &mut Vec<Announcement>) {
        let state = &mut self.channels[channel];
        debug_assert!(state.in_use > 0, "recycled a buffer channel {channel} does not hold");
        state.in_use = state.in_use.saturating_sub(1);
        let holds_spare_floating = state.floating_held > 0 && state.announced >= state.required;
        if !holds_spare_floating {
            state.announced += 1;
            announce.push(Announcement { channel, credits: 1 });
            return;
        }
        state.floating_held -= 1;
        self.floating_free += 1;
        self.hand_out_floating(announce);
    }

    /// Gives free floating buffers to channels whose backlog needs them.
    fn hand_out_floating(&mut self, announce: &mut Vec<Announcement>) {
        let n_channels = self.channels.len();
        for step in 0..n_channels {
            if self.floating_free == 0 {
                break;
            }
            let channel = (self.next_waiting + step) % n_channels;
            let state = &mut self.channels[channel];
            if state.announced < state.required {
                self.floating_free -= 1;
                state.floating_held += 1;
                state.announced += 1;
                announce.push(Announcement { channel, credits: 1 });
                self.next_waiting = (channel + 1) % n_channels;
            }
        }
    }

    /// Buffers holding data, counted against the exclusive ones first.
    pub fn exclusive_in_use(&self) -> u32 {
        self.channels.iter().map(|state| state.in_use.min(self.exclusive)).sum()
    }

    pub fn exclusive_total(&self) -> u32 {
        self.exclusive * self.channels.len() as u32
    }

    /// Floating buffers taken from the pool by some channel.
    pub fn floating_in_use(&self) -> u32 {
        self.floating_total - self.floating_free
    }

    pub fn floating_total(&self) -> u32 {
        self.floating_total
    }

    /// Whether every buffer is accounted for; tests call it after every step.
    pub fn is_consistent(&self) -> bool {
        let held: u32 = self.channels.iter().map(|state| state.floating_held).sum();
        held + self.floating_free == self.floating_total
            && self.channels.iter().all(|state| state.announced + state.in_use == self.exclusive + state.floating_held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backlog_draws_floating_buffers_and_recycling_returns_them() {
        let mut gate = GateCredits::new(2, 2, 3);
        let mut announce = Vec::new();
        gate.on_buffer(0, 4, &mut announce).unwrap();
        // Wants 4 + 2 free; has 1 left, so takes all three floating buffers.
        assert_eq!(announce, vec![Announcement { channel: 0, credits: 3 }]);
        assert_eq!(gate.floating_in_use(), 3);
        announce.clear();
        gate.on_buffer(1, 1, &mut announce).unwrap();
        assert!(announce.is_empty(), "no floating buffer is left for channel 1");
        // Channel 0's sender has nothing queued any more: its floating buffer
        // goes back to the pool and on to channel 1, which still wants one.
        gate.on_buffer(0, 0, &mut announce).unwrap();
        announce.clear();
        gate.on_recycled(0, &mut announce);
        assert_eq!(announce, vec![Announcement { channel: 1, credits: 1 }]);
        assert!(gate.is_consistent());
    }

    #[test]
    fn a_buffer_without_credit_is_refused() {
        let mut gate = GateCredits::new(1, 1, 0);
        let mut announce = Vec::new();
        gate.on_buffer(0, 0, &mut announce).unwrap();
        assert_eq!(gate.on_buffer(0, 0, &mut announce), Err(CreditViolation { channel: 0 }));
        gate.on_recycled(0, &mut announce);
        assert_eq!(announce, vec![Announcement { channel: 0, credits: 1 }]);
    }

    /// A sender per channel that obeys its credit, with a random backlog,
    /// and a receiver that recycles buffers in random order: every buffer
    /// is accounted for, no sender ever lacks credit for what it sends, and
    /// no channel starves.
    #[derive(Debug, Clone)]
    enum Step {
        Send { channel: usize, backlog: u32 },
        Recycle { pick: usize },
    }

    fn steps() -> impl Strategy<Value = (usize, u32, u32, Vec<Step>)> {
        (1usize..5, 1u32..4, 0u32..6).prop_flat_map(|(n_channels, exclusive, floating)| {
            let step = prop_oneof![
                (0..n_channels, 0u32..8).prop_map(|(channel, backlog)| Step::Send { channel, backlog }),
                (0usize..64).prop_map(|pick| Step::Recycle { pick }),
            ];
            (Just(n_channels), Just(exclusive), Just(floating), proptest::collection::vec(step, 0..200))
        })
    }

    proptest! {
        #[test]
        fn senders_never_exceed_their_credit((n_channels, exclusive, floating, steps) in steps()) {
            let mut gate = GateCredits::new(n_channels, exclusive, floating);
            let mut sender_credit = vec![gate.initial_credit(); n_channels];
            let mut held: Vec<usize> = Vec::new();
            let mut announce = Vec::new();
            for step in steps {
                match step {
                    Step::Send { channel, backlog } => {
                        if sender_credit[channel] == 0 {
                            continue;
                        }
                        sender_credit[channel] -= 1;
                        prop_assert!(gate.on_buffer(channel, backlog, &mut announce).is_ok());
                        held.push(channel);
                    }
                    Step::Recycle { pick } => {
                        if held.is_empty() {
                            continue;
                        }
                        let channel = held.swap_remove(pick % held.len());
                        gate.on_recycled(channel, &mut announce);
                    }
                }
                for Announcement { channel, credits } in announce.drain(..) {
                    sender_credit[channel] += credits;
                }
                prop_assert!(gate.is_consistent());
                let total: u32 = sender_credit.iter().sum::<u32>() + held.len() as u32;
                prop_assert!(total <= exclusive * n_channels as u32 + floating);
            }
            // Once everything is processed, every channel can send again.
            for channel in held.drain(..) {
                gate.on_recycled(channel, &mut announce);
            }
            for Announcement { channel, credits } in announce.drain(..) {
                sender_credit[channel] += credits;
            }
            prop_assert!(sender_credit.iter().all(|&credit| credit >= exclusive));
        }
    }
}
