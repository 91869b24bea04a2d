//! `nexmark(events, kind, seed, event_rate, rate)`: the Nexmark benchmark's
//! Person, Auction and Bid events, following the reference generator (the
//! Java `NexmarkGenerator` of the nexmark/nexmark repository): `model.rs`
//! holds its numbers, `text.rs` its strings, `random.rs` the random draws.
//!
//! A source makes the events of one kind out of one numbered sequence of
//! `events` events of all kinds. Subtask `i` of `p` makes the kind's
//! events whose index among that kind is `i, i + p, …`: every parallelism
//! makes the same events, each subtask's event times never decrease (so a
//! watermark follows them), and the subtasks' times advance together.
//!
//! It writes straight into the batch, a column at a time, and draws only
//! the columns the schema names: a bid without `extra` never touches the
//! padding. The Rust port of the generator (the `nexmark` crate, 0.2) is
//! deterministic too (a random generator seeded by each event's id) and
//! splits a sequence by offset and step as this does, but it builds a
//! struct of owned `String`s per event, every field of it, and has no
//! seed. Measured on one core of the same machine (release builds), it
//! made 3.0 million bids a second as structs (its own iterator, the
//! strings dropped); this source writes 10–11 million complete bids a
//! second into batches, 15–17 million without `extra` (q0's columns) and
//! 25–32 million without strings. It would also bring rand 0.8 and
//! lazy_static for what is a few hundred lines here.
//!
//! Left out of the reference: rate shapes other than a constant rate, the
//! out-of-order groups (`outOfOrderGroupSize`, 1 by default), and
//! proportions or ratios other than the defaults.

mod model;
mod random;
mod text;

use std::time::Instant;

use crate::check::program::{NexmarkField, NexmarkKind, NexmarkSource};
use crate::check::types::RecordType;
use crate::compile::row::{string_slot, Batch};

use super::pacing::{local_count, Pacing, Step};
use super::{ProduceError, Produced, RecordReader};
use model::Clock;
use random::Draws;
use text::Tables;

const NANOS_PER_MILLI: i64 = 1_000_000;

pub struct NexmarkReader {
    kind: NexmarkKind,
    seed_key: u64,
    clock: Clock,
    prices: model::Prices,
    /// Each schema field's Nexmark field and byte offset in a row.
    columns: Vec<(NexmarkField, usize)>,
    width: usize,
    tables: Tables,
    /// This subtask's first index among the kind's events, and the step.
    first_index: u64,
    stride: u64,
    pacing: Pacing,
    /// The batch being made: each row's event number and random key.
    events: Vec<u64>,
    keys: Vec<u64>,
    /// Per row of a bid batch whose schema names `channel` or `url`: a
    /// hot channel (below `HOT`), or `HOT + i` for channel `i`; one draw
    /// for both columns.
    channel_choices: Vec<u16>,
    /// The rows of that batch with a hot channel, and the others: the
    /// columns walk each list without asking a row which it is, a
    /// question the processor guesses wrong half the time.
    hot_rows: Vec<u32>,
    cold_rows: Vec<u32>,
    /// Strings drawn only for their length (`extra` depends on it).
    scratch: Vec<u8>,
}

/// Channel choices below this are the hot channels.
const HOT: usize = text::HOT_CHANNELS.len();

impl NexmarkReader {
    /// Subtask `subtask` of `parallelism` of `source`, whose records are `record`.
    pub fn new(
        source: &NexmarkSource,
        record: &RecordType,
        unthrottled: bool,
        subtask: u32,
        parallelism: u32,
    ) -> NexmarkReader {
        let seed_key = random::seed_key(source.seed);
        let has = |field| source.columns.contains(&field);
        let urls = has(NexmarkField::Channel) || has(NexmarkField::Url);
        let count = source.events.map(|events| model::events_of_kind(source.kind, events));
        let rate = source.rate_per_second.filter(|_| !unthrottled);
        NexmarkReader {
            kind: source.kind,
            seed_key,
            clock: Clock::new(source.event_rate),
            prices: model::Prices::new(),
            columns: source.columns.iter().zip(&record.layout().offsets).map(|(f, o)| (*f, *o as usize)).collect(),
            width: record.layout().width as usize,
            tables: Tables::new(seed_key, urls, has(NexmarkField::Extra)),
            first_index: u64::from(subtask),
            stride: u64::from(parallelism),
            pacing: Pacing::new(count.map(|count| local_count(count, subtask, parallelism)), rate, parallelism),
            events: Vec::new(),
            keys: Vec::new(),
            channel_choices: Vec::new(),
            hot_rows: Vec::new(),
            cold_rows: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Appends this subtask's next `n` events.
    fn make(&mut self, output: &mut Batch, n: usize) {
        let first = self.first_index.wrapping_add(self.pacing.made().wrapping_mul(self.stride));
        self.events.clear();
        self.keys.clear();
        for i in 0..n as u64 {
            let event = model::event_number(self.kind, first.wrapping_add(i.wrapping_mul(self.stride)));
            self.events.push(event);
            self.keys.push(random::event_key(self.seed_key, event));
        }
        self.channel_choices.clear();
        if self.columns.iter().any(|(field, _)| matches!(field, NexmarkField::Channel | NexmarkField::Url)) {
            self.channel_choices.extend(self.keys.iter().map(|&key| channel_choice(key)));
            split_rows(&self.channel_choices, &mut self.hot_rows, &mut self.cold_rows);
        }
        let (rows, strings) = output.append_zeroed_rows(n);
        for index in 0..self.columns.len() {
            let (field, offset) = self.columns[index];
            self.column(field, offset, rows, strings);
        }
    }

    /// Writes one column of the rows being made.
    fn column(&mut self, field: NexmarkField, offset: usize, rows: &mut [u8], strings: &mut Vec<u8>) {
        use NexmarkField::*;
        let (clock, prices) = (self.clock, &self.prices);
        let draws = move |key: u64| field_draws(key, field);
        let mut rows = Rows { rows, width: self.width, offset, events: &self.events, keys: &self.keys };
        match field {
            PersonId => rows.ints(|event, _| model::FIRST_PERSON_ID + model::last_person(event)),
            AuctionId => rows.ints(|event, _| model::FIRST_AUCTION_ID + model::last_auction(event)),
            DateTime => rows.ints(|event, _| clock.millis(event).saturating_mul(NANOS_PER_MILLI)),
            Expires => rows.ints(|event, key| {
                clock.expires(event, clock.millis(event), &mut draws(key)).saturating_mul(NANOS_PER_MILLI)
            }),
            Seller => rows.ints(|event, key| model::seller(event, &mut draws(key))),
            Category => rows.ints(|_, key| model::category(&mut draws(key))),
            InitialBid => rows.ints(|_, key| prices.next(&mut draws(key))),
            // The reserve is the initial bid plus a price of its own.
            Reserve => {
                rows.ints(|_, key| prices.next(&mut field_draws(key, InitialBid)) + prices.next(&mut draws(key)))
            }
            Auction => rows.ints(|event, key| model::bid_auction(event, &mut draws(key))),
            Bidder => rows.ints(|event, key| model::bidder(event, &mut draws(key))),
            Price => rows.ints(|_, key| prices.next(&mut draws(key))),
            Name => rows.strings(strings, |_, key, out| text::push_name(&mut draws(key), out)),
            EmailAddress => rows.strings(strings, |_, key, out| text::push_email(&mut draws(key), out)),
            CreditCard => rows.strings(strings, |_, key, out| text::push_credit_card(&mut draws(key), out)),
            City => rows.strings(strings, |_, key, out| out.extend_from_slice(text::city(&mut draws(key)).as_bytes())),
            State => {
                rows.strings(strings, |_, key, out| out.extend_from_slice(text::state(&mut draws(key)).as_bytes()))
            }
            ItemName => rows.strings(strings, |_, key, out| text::push_string(&mut draws(key), 20, b' ', out)),
            Description => rows.strings(strings, |_, key, out| text::push_string(&mut draws(key), 100, b' ', out)),
            Channel | Url => {
                let (tables, choices, url) = (&self.tables, &self.channel_choices, field == Url);
                // Half the bids name a hot channel: its text goes into the
                // batch once, and their slots all point at it (a slot is
                // all a reader follows; copying a row copies its bytes).
                let hot: [(usize, usize); HOT] = std::array::from_fn(|i| {
                    let text = if url { &tables.hot_urls[i][..] } else { text::HOT_CHANNELS[i].as_bytes() };
                    strings.extend_from_slice(text);
                    (strings.len() - text.len(), text.len())
                });
                for &row in &self.hot_rows {
                    let (start, length) = hot[choices[row as usize] as usize];
                    rows.set_slot(row as usize, start, length);
                }
                for &row in &self.cold_rows {
                    let (name, address) = tables.channel(choices[row as usize] as usize - HOT);
                    let text = if url { address } else { name };
                    strings.extend_from_slice(text);
                    rows.set_slot(row as usize, strings.len() - text.len(), text.len());
                }
            }
            Extra => {
                let (kind, pool, scratch) = (self.kind, &self.tables.extra_pool, &mut self.scratch);
                rows.strings(strings, |_, key, out| {
                    let (size, average) = size_before_extra(kind, key, scratch);
                    out.extend_from_slice(text::extra(&mut draws(key), size, average, pool));
                })
            }
        }
    }
}

/// The draws of `field` for the event whose key is `key`. Each field's
/// stream number is written here, not taken from the enum's order, so the
/// events stay the same whatever order the fields are declared in.
#[inline]
fn field_draws(key: u64, field: NexmarkField) -> Draws {
    use NexmarkField::*;
    let stream = match field {
        PersonId => 0,
        Name => 1,
        EmailAddress => 2,
        CreditCard => 3,
        City => 4,
        State => 5,
        AuctionId => 6,
        ItemName => 7,
        Description => 8,
        InitialBid => 9,
        Reserve => 10,
        Expires => 11,
        Seller => 12,
        Category => 13,
        Auction => 14,
        Bidder => 15,
        Price => 16,
        Channel => 17,
        Url => 18,
        DateTime => 19,
        Extra => 20,
    };
    Draws::new(key, stream)
}

/// The indices of `choices` that are hot channels, and of the others, in
/// order; without a branch per row.
fn split_rows(choices: &[u16], hot: &mut Vec<u32>, cold: &mut Vec<u32>) {
    hot.resize(choices.len(), 0);
    cold.resize(choices.len(), 0);
    let (mut hot_count, mut cold_count) = (0, 0);
    for (row, &choice) in choices.iter().enumerate() {
        // Each row is written to both lists; only one of them keeps it.
        hot[hot_count] = row as u32;
        cold[cold_count] = row as u32;
        let is_hot = usize::from((choice as usize) < HOT);
        hot_count += is_hot;
        cold_count += 1 - is_hot;
    }
    hot.truncate(hot_count);
    cold.truncate(cold_count);
}

/// A bid's channel (and so its URL): a hot channel half the time, else one
/// of the 10,000 others; as `channel_choices` holds it.
#[inline]
fn channel_choice(key: u64) -> u16 {
    let mut draws = field_draws(key, NexmarkField::Channel);
    if draws.below(2) > 0 {
        draws.below(HOT as u64) as u16
    } else {
        (HOT as u64 + draws.below(text::CHANNELS as u64)) as u16
    }
}

/// The bytes an event counts before its `extra`, as the reference counts
/// them (8 per number, a person's and an auction's strings by their
/// length), and its kind's average size.
fn size_before_extra(kind: NexmarkKind, key: u64, scratch: &mut Vec<u8>) -> (u64, u64) {
    use NexmarkField::*;
    let length_of = |field: NexmarkField, scratch: &mut Vec<u8>, draw: fn(&mut Draws, &mut Vec<u8>)| {
        scratch.clear();
        draw(&mut field_draws(key, field), scratch);
        scratch.len() as u64
    };
    match kind {
        NexmarkKind::Person => {
            let name = length_of(Name, scratch, text::push_name);
            let email = length_of(EmailAddress, scratch, text::push_email);
            let card = length_of(CreditCard, scratch, text::push_credit_card);
            let city = text::city(&mut field_draws(key, City)).len() as u64;
            let state = text::state(&mut field_draws(key, State)).len() as u64;
            (8 + name + email + card + city + state, model::AVERAGE_PERSON_BYTES)
        }
        NexmarkKind::Auction => {
            let item = length_of(ItemName, scratch, |draws, out| text::push_string(draws, 20, b' ', out));
            let description = length_of(Description, scratch, |draws, out| text::push_string(draws, 100, b' ', out));
            (8 + item + description + 5 * 8, model::AVERAGE_AUCTION_BYTES)
        }
        NexmarkKind::Bid => (4 * 8, model::AVERAGE_BID_BYTES),
    }
}

/// The rows being made, for one column: each row with its event.
struct Rows<'a> {
    rows: &'a mut [u8],
    width: usize,
    offset: usize,
    events: &'a [u64],
    keys: &'a [u64],
}

impl Rows<'_> {
    #[inline]
    fn ints(self, value: impl Fn(u64, u64) -> i64) {
        let offset = self.offset;
        for ((row, &event), &key) in self.rows.chunks_exact_mut(self.width).zip(self.events).zip(self.keys) {
            row[offset..offset + 8].copy_from_slice(&value(event, key).to_le_bytes());
        }
    }

    /// Each row's string, appended by `write(event, key, strings)`.
    #[inline]
    fn strings(self, strings: &mut Vec<u8>, mut write: impl FnMut(u64, u64, &mut Vec<u8>)) {
        let events = self.events;
        self.slots(strings, |row, key, strings| {
            let start = strings.len();
            write(events[row], key, strings);
            (start, strings.len() - start)
        })
    }

    /// Each row's string where `place(row, key, strings)` says it is in the
    /// string area (offset, length), appending it there or not.
    #[inline]
    fn slots(self, strings: &mut Vec<u8>, mut place: impl FnMut(usize, u64, &mut Vec<u8>) -> (usize, usize)) {
        let offset = self.offset;
        for (index, (row, &key)) in self.rows.chunks_exact_mut(self.width).zip(self.keys).enumerate() {
            let (start, length) = place(index, key, strings);
            row[offset..offset + 8].copy_from_slice(&string_slot(start, length));
        }
    }

    /// Row `row`'s string is `length` bytes at `start` of the string area.
    #[inline]
    fn set_slot(&mut self, row: usize, start: usize, length: usize) {
        let at = row * self.width + self.offset;
        self.rows[at..at + 8].copy_from_slice(&string_slot(start, length));
    }
}

impl RecordReader for NexmarkReader {
    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        Ok(match self.pacing.step(max_rows) {
            Step::Done => Produced::Done,
            Step::WaitUntil(instant) => Produced::WaitUntil(instant),
            Step::Make(n) => {
                self.make(output, n);
                self.pacing.advance(n);
                Produced::Records(n)
            }
        })
    }

    fn stop(&mut self) {
        self.pacing.stop();
    }

    fn lag(&self) -> u64 {
        self.pacing.lag()
    }

    fn schedule(&self) -> Option<(Instant, f64, u64)> {
        self.pacing.schedule()
    }
}

#[cfg(test)]
mod tests;
