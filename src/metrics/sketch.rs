//! The heaviest keys on a `key_by` edge, counted with the Space-Saving
//! sketch (Metwally, Agrawal, El Abbadi 2005) in a few dozen counters: a key
//! that carries more than `1 / CAPACITY` of the records is always among
//! them, and its count is over by at most the `error` beside it. Each
//! sending subtask keeps one sketch per hash edge and samples one record in
//! `SAMPLE_EVERY` on average, at random gaps (a fixed stride would alias
//! with periodic keys such as `seq % 4`): the records between cost a count,
//! a sampled one a compare loop over `CAPACITY` hashes; the sketches of a
//! run are merged.

use serde::{Deserialize, Serialize};

use crate::check::program::Value;

/// Counters per sketch: keys above 1/32 of the traffic are always found.
pub const CAPACITY: usize = 32;
/// One record in this many is counted, on average: enough for the keys
/// that matter (above 1/32 of millions of records), and cheap at 30M records/s.
pub const SAMPLE_EVERY: u64 = 16;

#[derive(Debug, Clone)]
struct Counter {
    hash: u64,
    count: u64,
    error: u64,
}

/// One sender's view of one hash edge.
#[derive(Debug, Clone, Default)]
pub struct KeySketch {
    /// Small, so that finding a hash among them is a quick scan.
    counters: Vec<Counter>,
    /// Each counter's key, beside it (`keys[i]` is `counters[i]`'s): kept
    /// as a value, written out only for the report.
    keys: Vec<Value>,
    /// Each counter's hash again, packed: the scan of every sampled record.
    hashes: Vec<u64>,
    /// Records counted (sampled).
    counted: u64,
    seen: u64,
    /// A linear congruential generator's state, for sampling.
    dice: u64,
    /// Records to pass over before the next one counted.
    skip: u64,
}

/// A key and how many of the sampled records carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyCount {
    /// The key as the `.flow` file would write it: `7`, `"gold"`.
    pub key: String,
    /// Records with this key, scaled back up from the sample.
    pub records: u64,
    /// How much `records` may overstate.
    pub error: u64,
}

/// The heaviest keys of an edge, over all its senders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeavyKeys {
    /// Records that crossed the edge, scaled back up from the sample.
    pub records: u64,
    /// Records the sketches counted; `None` in recordings saved before
    /// flowc kept it (about `records / SAMPLE_EVERY` there).
    #[serde(default)]
    pub sampled: Option<u64>,
    /// Heaviest first.
    pub keys: Vec<KeyCount>,
}

impl KeySketch {
    /// Offers one record's key; `hash` is its partitioning hash.
    #[inline]
    pub fn offer(&mut self, hash: u64, key: &Value) {
        self.offer_with(hash, || key.clone())
    }

    /// As `offer`, making the key's value only for a record it counts.
    #[inline]
    pub fn offer_with(&mut self, hash: u64, key: impl FnOnce() -> Value) {
        let mut key = Some(key);
        self.offer_rows(1, |_| (hash, key.take().expect("one row")()));
    }

    /// Offers `n` records at once; `key(row)` gives the hash and the value
    /// of a record it counts, so the others cost nothing but the count.
    #[inline]
    pub fn offer_rows(&mut self, n: usize, mut key: impl FnMut(usize) -> (u64, Value)) {
        self.seen += n as u64;
        let mut row = self.skip;
        while row < n as u64 {
            let (hash, value) = key(row as usize);
            self.count(hash, value);
            row += 1 + self.next_gap();
        }
        self.skip = row - n as u64;
    }

    /// The records to pass over before the next one counted: uniform in
    /// `0..2 × SAMPLE_EVERY - 1`, so one record in `SAMPLE_EVERY` counts
    /// on average, at random places.
    fn next_gap(&mut self) -> u64 {
        // Knuth's MMIX constants; an LCG's high bits are its random ones.
        self.dice = self.dice.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.dice >> 32) % (2 * SAMPLE_EVERY - 1)
    }

    fn count(&mut self, hash: u64, key: Value) {
        self.counted += 1;
        if let Some(counter) = self.hashes.iter().position(|&known| known == hash) {
            self.counters[counter].count += 1;
            return;
        }
        if self.counters.len() < CAPACITY {
            self.counters.push(Counter { hash, count: 1, error: 0 });
            self.hashes.push(hash);
            self.keys.push(key);
            return;
        }
        let (smallest, _) =
            self.counters.iter().enumerate().min_by_key(|(_, counter)| counter.count).expect("the sketch is full");
        let count = self.counters[smallest].count;
        self.counters[smallest] = Counter { hash, count: count + 1, error: count };
        self.hashes[smallest] = hash;
        self.keys[smallest] = key;
    }

    /// Adds `other`'s counts into `self` (another sender of the same edge).
    /// A key missing from a full sketch may still have had up to its
    /// smallest count there: that goes into the key's `error`.
    pub fn merge(&mut self, other: &KeySketch) {
        let floor = |sketch: &KeySketch| {
            if sketch.counters.len() < CAPACITY {
                0
            } else {
                sketch.counters.iter().map(|counter| counter.count).min().unwrap_or(0)
            }
        };
        let (my_floor, their_floor) = (floor(self), floor(other));
        self.counted += other.counted;
        self.seen += other.seen;
        for mine in &mut self.counters {
            if !other.counters.iter().any(|theirs| theirs.hash == mine.hash) {
                mine.error += their_floor;
            }
        }
        for (counter, key) in other.counters.iter().zip(&other.keys) {
            match self.counters.iter_mut().find(|mine| mine.hash == counter.hash) {
                Some(mine) => {
                    mine.count += counter.count;
                    mine.error += counter.error;
                }
                None => {
                    self.counters.push(Counter { error: counter.error + my_floor, ..counter.clone() });
                    self.hashes.push(counter.hash);
                    self.keys.push(key.clone());
                }
            }
        }
    }

    /// The heaviest keys, at most `limit`, scaled to all records seen.
    pub fn heavy_keys(&self, limit: usize) -> HeavyKeys {
        let mut counters: Vec<(&Counter, &Value)> = self.counters.iter().zip(&self.keys).collect();
        counters.sort_by(|(a, _), (b, _)| b.count.cmp(&a.count).then_with(|| a.hash.cmp(&b.hash)));
        let scale = |count: u64| {
            (u128::from(count) * u128::from(self.seen)).checked_div(u128::from(self.counted)).unwrap_or(0) as u64
        };
        HeavyKeys {
            records: self.seen,
            sampled: Some(self.counted),
            keys: counters
                .into_iter()
                .take(limit)
                .map(|(counter, key)| KeyCount {
                    key: key_text(key),
                    records: scale(counter.count),
                    error: scale(counter.error),
                })
                .collect(),
        }
    }
}

/// A key as the `.flow` file would write it: `7`, `"gold"`.
fn key_text(value: &Value) -> String {
    match value {
        Value::Str(text) => format!("{text:?}"),
        other => crate::compile::interp::to_text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_most_of_the_records_comes_first_with_about_its_count() {
        let mut sketch = KeySketch::default();
        for seq in 0..100_000u64 {
            let key = if seq % 10 < 8 { 7 } else { seq as i64 % 1_000 + 1_000 };
            sketch.offer(key as u64 * 0x9e37_79b9, &Value::Int(key));
        }
        let heavy = sketch.heavy_keys(3);
        assert_eq!(heavy.records, 100_000);
        assert_eq!(heavy.keys[0].key, "7");
        let share = heavy.keys[0].records as f64 / heavy.records as f64;
        assert!((0.78..=0.82).contains(&share), "share {share}");
    }

    #[test]
    fn merged_sketches_add_their_counts() {
        let (mut a, mut b) = (KeySketch::default(), KeySketch::default());
        for _ in 0..400 {
            a.offer(1, &Value::Str("gold".into()));
            b.offer(1, &Value::Str("gold".into()));
            b.offer(2, &Value::Int(2));
        }
        a.merge(&b);
        let heavy = a.heavy_keys(5);
        assert_eq!(heavy.records, 1_200);
        assert_eq!(heavy.sampled, Some(a.counted));
        assert_eq!(heavy.keys[0].key, "\"gold\"");
        assert!((650..=950).contains(&heavy.keys[0].records), "{heavy:?}");
        assert_eq!(heavy.keys[0].error, 0);
        assert_eq!(heavy.keys[1].key, "2");
    }
}
