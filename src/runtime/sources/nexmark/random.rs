//! The random numbers of the Nexmark model: counter-based, so that any
//! event's fields can be drawn without drawing the events before it.
//!
//! The reference generator draws every field of every event from one
//! sequential `SplittableRandom`, unseeded, so its events differ run to run
//! and depend on which generator made them. Here each (seed, event number,
//! field) starts its own short SplitMix64 stream: event `n`'s fields are the
//! same whichever subtask makes it, and a column the schema leaves out is
//! simply not drawn — the other columns do not move.

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijection on `u64` whose outputs, fed a
/// counter, pass BigCrush.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The key of every stream of one event: distinct events, distinct keys.
#[inline]
pub fn event_key(seed_key: u64, event: u64) -> u64 {
    mix(seed_key ^ event.wrapping_mul(GAMMA))
}

/// The key of a source's seed, from which its event keys and its tables
/// (URLs, padding text) are drawn.
pub fn seed_key(seed: u64) -> u64 {
    mix(seed ^ 0x6e65_786d_6172_6b00)
}

/// One field's stream of draws for one event.
#[derive(Debug, Clone)]
pub struct Draws {
    state: u64,
}

impl Draws {
    /// The stream of `stream` (a small number naming the field) for the
    /// event whose key is `key`.
    #[inline]
    pub fn new(key: u64, stream: u64) -> Draws {
        // Streams of one event start far apart (a mixed stream number),
        // so their few dozen draws never meet.
        Draws { state: key ^ mix(stream.wrapping_add(1).wrapping_mul(GAMMA)) }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A whole number in `[0, bound)` (`bound` > 0), as Java's
    /// `nextInt(bound)`: uniform to within 2⁻⁶⁴ per value.
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A double in `[0, 1)` with 53 random bits, as Java's `nextDouble`
    /// (prices use their own; the tests compare them with this).
    #[cfg(test)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Up to `PER_DRAW` values in `[0, BASE)` from one 64-bit draw: each takes
/// the integer part of the fraction times `BASE`, leaving the rest of the
/// fraction for the next. Strings need one value per character; this takes
/// a sixth of the draws.
pub struct Digits<const BASE: u64> {
    fraction: u64,
    left: u32,
}

impl<const BASE: u64> Digits<BASE> {
    /// Six values of 338 use 51 of the 64 bits.
    pub const PER_DRAW: u32 = 6;

    pub fn new() -> Self {
        Digits { fraction: 0, left: 0 }
    }

    #[inline]
    pub fn next(&mut self, draws: &mut Draws) -> u64 {
        if self.left == 0 {
            self.fraction = draws.next_u64();
            self.left = Self::PER_DRAW;
        }
        self.left -= 1;
        let product = u128::from(self.fraction) * u128::from(BASE);
        self.fraction = product as u64;
        (product >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_covers_its_range_evenly() {
        let mut draws = Draws::new(event_key(seed_key(0), 7), 3);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[draws.below(10) as usize] += 1;
        }
        for count in counts {
            assert!((9_500..10_500).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn digits_are_even_across_all_six_places() {
        let mut draws = Draws::new(event_key(seed_key(1), 2), 0);
        let mut digits = Digits::<338>::new();
        let mut counts = vec![[0u32; 13]; 6];
        for i in 0..600_000 {
            counts[i % 6][(digits.next(&mut draws) % 13) as usize] += 1;
        }
        for place in &counts {
            for &count in place {
                assert!((7_200..8_200).contains(&count), "{place:?}");
            }
        }
    }

    #[test]
    fn unit_is_in_zero_one() {
        let mut draws = Draws::new(5, 5);
        assert!((0..10_000).map(|_| draws.unit()).all(|u| (0.0..1.0).contains(&u)));
    }
}
