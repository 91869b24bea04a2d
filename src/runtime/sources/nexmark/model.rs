//! The Nexmark model's numbers, as the reference generator derives them
//! (`GeneratorConfig`, `PersonGenerator`, `AuctionGenerator`,
//! `BidGenerator`, `PriceGenerator`, with `NexmarkConfiguration`'s
//! defaults): which kind event `n` is, the ids it carries, the hot sellers,
//! auctions and bidders, prices, and event time.
//!
//! Events are numbered from 0, one sequence for all kinds; `n % 50` picks
//! the kind (0 a person, 1–3 an auction, 4–49 a bid). A person's and an
//! auction's id follow from `n` alone, so sources of different kinds drawn
//! from one sequence (one `events` and `seed`) agree: bids name auctions
//! and people of that sequence, auctions name its people.

use crate::check::program::NexmarkKind;

use super::random::Draws;

pub const PERSON_PROPORTION: u64 = 1;
pub const AUCTION_PROPORTION: u64 = 3;
pub const BID_PROPORTION: u64 = 46;
pub const TOTAL_PROPORTION: u64 = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

pub const FIRST_PERSON_ID: i64 = 1000;
pub const FIRST_AUCTION_ID: i64 = 1000;
pub const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;

/// `hotAuctionRatio`, `hotSellersRatio`, `hotBiddersRatio`: a bid is on the
/// hot auction unless a draw below the ratio is 0 (so 1/2 of bids), an
/// auction's seller and a bid's bidder hot 3 times in 4.
pub const HOT_AUCTION_RATIO: u64 = 2;
pub const HOT_SELLERS_RATIO: u64 = 4;
pub const HOT_BIDDERS_RATIO: u64 = 4;
/// The hot auction, seller and bidder: the latest one's number rounded down
/// to a multiple of this (`HOT_AUCTION_RATIO` and its kin, the generators'
/// own constants), so each stays hot for the next 100 of its kind.
const HOT_GROUP: i64 = 100;

/// `PERSON_ID_LEAD`, `AUCTION_ID_LEAD`: a random person or auction may be
/// up to 10 ahead of the latest one, so a bid can precede its auction (the
/// model's stand-in for events that arrive out of order).
pub const PERSON_ID_LEAD: i64 = 10;
pub const AUCTION_ID_LEAD: i64 = 10;
/// `numInFlightAuctions`, `numActivePeople`: random auctions and people
/// come from the latest ones only.
const NUM_IN_FLIGHT_AUCTIONS: i64 = 100;
const NUM_ACTIVE_PEOPLE: i64 = 1000;

/// `avgPersonByteSize`, `avgAuctionByteSize`, `avgBidByteSize`.
pub const AVERAGE_PERSON_BYTES: u64 = 200;
pub const AVERAGE_AUCTION_BYTES: u64 = 500;
pub const AVERAGE_BID_BYTES: u64 = 100;

/// The kind of event `n` (the reader enumerates each kind directly; the
/// tests hold it to this).
#[cfg(test)]
pub fn kind_of(event: u64) -> NexmarkKind {
    match event % TOTAL_PROPORTION {
        offset if offset < PERSON_PROPORTION => NexmarkKind::Person,
        offset if offset < PERSON_PROPORTION + AUCTION_PROPORTION => NexmarkKind::Auction,
        _ => NexmarkKind::Bid,
    }
}

/// Where a kind's events sit in each group of 50: their first offset and
/// how many there are.
fn slots(kind: NexmarkKind) -> (u64, u64) {
    match kind {
        NexmarkKind::Person => (0, PERSON_PROPORTION),
        NexmarkKind::Auction => (PERSON_PROPORTION, AUCTION_PROPORTION),
        NexmarkKind::Bid => (PERSON_PROPORTION + AUCTION_PROPORTION, BID_PROPORTION),
    }
}

/// The event number of the kind's `index`-th event (from 0).
#[inline]
pub fn event_number(kind: NexmarkKind, index: u64) -> u64 {
    let (first, count) = slots(kind);
    (index / count).wrapping_mul(TOTAL_PROPORTION).wrapping_add(first + index % count)
}

/// How many of events `0 .. events` are of `kind`.
pub fn events_of_kind(kind: NexmarkKind, events: u64) -> u64 {
    let (first, count) = slots(kind);
    events / TOTAL_PROPORTION * count + (events % TOTAL_PROPORTION).saturating_sub(first).min(count)
}

/// `lastBase0PersonId`: the latest person at event `n`, itself if it is one.
#[inline]
pub fn last_person(event: u64) -> i64 {
    let (epoch, offset) = ((event / TOTAL_PROPORTION) as i64, (event % TOTAL_PROPORTION) as i64);
    epoch * PERSON_PROPORTION as i64 + offset.min(PERSON_PROPORTION as i64 - 1)
}

/// `lastBase0AuctionId`: the latest auction at event `n`, itself if it is
/// one (-1 before the first).
#[inline]
pub fn last_auction(event: u64) -> i64 {
    let (mut epoch, mut offset) = ((event / TOTAL_PROPORTION) as i64, (event % TOTAL_PROPORTION) as i64);
    let (people, auctions) = (PERSON_PROPORTION as i64, AUCTION_PROPORTION as i64);
    if offset < people {
        epoch -= 1;
        offset = auctions - 1;
    } else if offset >= people + auctions {
        offset = auctions - 1;
    } else {
        offset -= people;
    }
    epoch * auctions + offset
}

/// `nextBase0PersonId`: one of the active people, or a few ahead.
#[inline]
fn random_person(event: u64, draws: &mut Draws) -> i64 {
    let people = last_person(event) + 1;
    let active = people.min(NUM_ACTIVE_PEOPLE);
    people - active + draws.below((active + PERSON_ID_LEAD) as u64) as i64
}

/// `nextBase0AuctionId`: one of the auctions in flight, or a few ahead.
#[inline]
fn random_auction(event: u64, draws: &mut Draws) -> i64 {
    let last = last_auction(event);
    let first = (last - NUM_IN_FLIGHT_AUCTIONS).max(0);
    first + draws.below((last - first + 1 + AUCTION_ID_LEAD) as u64) as i64
}

// The hot-or-random choices below draw the random pick either way (a
// stream per field, so nothing else moves) and then choose: a choice the
// processor cannot predict costs more than the draw.

/// A bid's auction: the hot one half the time.
#[inline]
pub fn bid_auction(event: u64, draws: &mut Draws) -> i64 {
    let hot = draws.below(HOT_AUCTION_RATIO) > 0;
    let random = random_auction(event, draws);
    FIRST_AUCTION_ID + if hot { last_auction(event) / HOT_GROUP * HOT_GROUP } else { random }
}

/// A bid's bidder: the hot one (one past the hot seller, so the two
/// differ) 3 times in 4. The reference adds
/// `FIRST_PERSON_ID` twice here, making bidders that are nobody; added
/// once, as the model means and as sellers get it.
#[inline]
pub fn bidder(event: u64, draws: &mut Draws) -> i64 {
    let hot = draws.below(HOT_BIDDERS_RATIO) > 0;
    let random = random_person(event, draws);
    FIRST_PERSON_ID + if hot { last_person(event) / HOT_GROUP * HOT_GROUP + 1 } else { random }
}

/// An auction's seller: the hot one 3 times in 4.
#[inline]
pub fn seller(event: u64, draws: &mut Draws) -> i64 {
    let hot = draws.below(HOT_SELLERS_RATIO) > 0;
    let random = random_person(event, draws);
    FIRST_PERSON_ID + if hot { last_person(event) / HOT_GROUP * HOT_GROUP } else { random }
}

pub fn category(draws: &mut Draws) -> i64 {
    FIRST_CATEGORY_ID + draws.below(NUM_CATEGORIES) as i64
}

/// `PriceGenerator.nextPrice`: 10^U[0,6) × 100, rounded: log-uniform cents
/// from 100 to 10⁸.
///
/// `exp` in libm took a tenth of a bid's time, so the exponent's top 11
/// bits pick a step from a table of 2,048 and the 53 below it, `r` below
/// 6·ln 10 / 2048 ≈ 0.0067, are `1 + r + r²/2 + r³/6`: off by r⁴/24 < 1e-10
/// of the price, a hundredth of a cent at the top.
pub struct Prices {
    steps: Vec<f64>,
}

const PRICE_STEP_BITS: u32 = 11;

impl Prices {
    /// The natural exponent one step spans.
    const STEP_WIDTH: f64 = 6.0 * std::f64::consts::LN_10 / (1u64 << PRICE_STEP_BITS) as f64;

    pub fn new() -> Prices {
        let steps = 1usize << PRICE_STEP_BITS;
        Prices { steps: (0..steps).map(|step| 100.0 * (step as f64 * Self::STEP_WIDTH).exp()).collect() }
    }

    #[inline]
    pub fn next(&self, draws: &mut Draws) -> i64 {
        let bits = draws.next_u64();
        let step = (bits >> (64 - PRICE_STEP_BITS)) as usize;
        // The bits below the step, as a fraction of one step's exponent.
        let r = (bits << PRICE_STEP_BITS) as f64 * (Self::STEP_WIDTH / 18_446_744_073_709_551_616.0);
        let within = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0)));
        // Java's Math.round is floor(x + 0.5); for a positive x, truncating
        // x + 0.5 is the same, and needs no call into libm.
        (self.steps[step] * within + 0.5) as i64
    }
}

/// Event time: event `n` is `n × 1/event_rate` after the base time, in
/// whole milliseconds as `GeneratorConfig.timestampForEvent` truncates it
/// (one generator, so one timeline whatever the parallelism).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_millis: i64,
    delay_micros: f64,
}

impl Clock {
    /// The base time is flowc's `epoch`, so the events are the same on
    /// every run (the reference starts at the wall clock's now).
    pub fn new(event_rate: f64) -> Clock {
        Clock { base_millis: 0, delay_micros: 1e6 / event_rate }
    }

    #[inline]
    pub fn millis(&self, event: u64) -> i64 {
        // `as` saturates: an event time past the timestamp range stays at its end.
        self.base_millis.saturating_add((event as f64 * self.delay_micros) as i64 / 1000)
    }

    /// An auction's `expires`, in milliseconds: `nextAuctionLengthMs`, 1 ms
    /// to twice the time the next 100 auctions take (its horizon) after
    /// it opens.
    pub fn expires(&self, event: u64, opens_millis: i64, draws: &mut Draws) -> i64 {
        let events_for_auctions = (NUM_IN_FLIGHT_AUCTIONS as u64 * TOTAL_PROPORTION) / AUCTION_PROPORTION;
        let horizon = self.millis(event.saturating_add(events_for_auctions)).saturating_sub(opens_millis);
        let length = 1 + draws.below(horizon.saturating_mul(2).max(1) as u64) as i64;
        opens_millis.saturating_add(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_reference_arithmetic() {
        // Event 0 is person 0, events 1–3 auctions 0–2, 4–49 bids; 50 person 1.
        assert_eq!(kind_of(0), NexmarkKind::Person);
        assert_eq!((1..4).map(kind_of).collect::<Vec<_>>(), [NexmarkKind::Auction; 3]);
        assert_eq!(kind_of(49), NexmarkKind::Bid);
        assert_eq!((last_person(0), last_person(49), last_person(50)), (0, 0, 1));
        assert_eq!((last_auction(0), last_auction(1), last_auction(3), last_auction(4)), (-1, 0, 2, 2));
        assert_eq!((last_auction(50), last_auction(51)), (2, 3));
    }

    #[test]
    fn event_numbers_enumerate_each_kind_in_order() {
        for kind in [NexmarkKind::Person, NexmarkKind::Auction, NexmarkKind::Bid] {
            let expected: Vec<u64> = (0..500).filter(|&n| kind_of(n) == kind).collect();
            let numbered: Vec<u64> = (0..expected.len() as u64).map(|i| event_number(kind, i)).collect();
            assert_eq!(numbered, expected, "{kind:?}");
            for events in 0..200 {
                assert_eq!(events_of_kind(kind, events), (0..events).filter(|&n| kind_of(n) == kind).count() as u64);
            }
        }
    }

    #[test]
    fn prices_are_log_uniform_from_a_dollar_to_a_million() {
        let (mut draws, prices) = (Draws::new(1, 2), Prices::new());
        let drawn: Vec<i64> = (0..60_000).map(|_| prices.next(&mut draws)).collect();
        assert!(drawn.iter().all(|p| (100..=100_000_000).contains(p)));
        // Each decade holds a sixth of them.
        for decade in 2..8 {
            let within = drawn.iter().filter(|&&p| 10i64.pow(decade) <= p && p < 10i64.pow(decade + 1)).count();
            assert!((9_500..10_500).contains(&within), "{decade}: {within}");
        }
        // The table and the series agree with exp itself.
        let mut bits = Draws::new(9, 9);
        for _ in 0..10_000 {
            let (mut a, mut b) = (bits.clone(), bits.clone());
            let exact = (a.unit() * 6.0 * std::f64::consts::LN_10).exp() * 100.0;
            assert!((prices.next(&mut b) as f64 - exact).abs() <= 0.5 + exact * 1e-9);
            bits.next_u64();
        }
    }

    #[test]
    fn the_default_rate_spaces_events_100_microseconds_apart() {
        let clock = Clock::new(10_000.0);
        assert_eq!((clock.millis(0), clock.millis(9), clock.millis(10), clock.millis(10_000)), (0, 0, 1, 1000));
        let mut draws = Draws::new(3, 4);
        for _ in 0..1000 {
            let expires = clock.expires(100, clock.millis(100), &mut draws);
            // The horizon: 1,666 events, 166 ms.
            assert!((1..=333).contains(&(expires - clock.millis(100))));
        }
    }
}
