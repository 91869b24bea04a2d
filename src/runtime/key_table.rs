//! Keyed state laid out for its types: `SlotLayout`, the words one key's
//! aggregates take, and `KeyTable`, an open-addressing table of slots, each
//! a key's word followed by its aggregates' words, with no `Value`, box or
//! allocation per key.
//!
//! It holds what the fixed-width keys (all types but strings) and the
//! aggregates with a fixed-size running value (`count`, `sum`, `avg`, and
//! `min`/`max` of numbers, timestamps and durations) need; anything else
//! (string keys, `count_distinct`, `min` of strings) stays on the `Value`
//! maps of `keyed.rs`. Both give the same results: the updates here are
//! the accumulators' own, word for word, and `keyed_tests.rs` runs the two
//! side by side.

use crate::check::functions::AggregateFunction;
use crate::check::program::{Aggregate, Value};
use crate::check::types::Type;
use crate::compile::bits::{order_of_bits, value_of_bits};
use crate::compile::builtins::mix64;

/// One aggregate's running value, and the words of the slot it takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Update {
    /// Records counted.
    Count,
    /// A wrapping sum of ints or durations.
    SumInt,
    SumFloat,
    /// The value, then whether a record has counted yet.
    MinInt,
    MaxInt,
    MinFloat,
    MaxFloat,
    /// An i128 sum in two words, then the count.
    AvgInt,
    /// A float sum, then the count.
    AvgFloat,
}

impl Update {
    fn of(aggregate: &Aggregate) -> Option<Update> {
        let arg = aggregate.arg.as_ref().map(|arg| arg.ty);
        let integral = |ty| matches!(ty, Some(Type::Int | Type::Timestamp | Type::Duration));
        Some(match aggregate.function {
            AggregateFunction::Count => Update::Count,
            AggregateFunction::Sum if arg == Some(Type::Float) => Update::SumFloat,
            AggregateFunction::Sum if matches!(arg, Some(Type::Int | Type::Duration)) => Update::SumInt,
            AggregateFunction::Min if integral(arg) => Update::MinInt,
            AggregateFunction::Max if integral(arg) => Update::MaxInt,
            AggregateFunction::Min if arg == Some(Type::Float) => Update::MinFloat,
            AggregateFunction::Max if arg == Some(Type::Float) => Update::MaxFloat,
            AggregateFunction::Avg if arg == Some(Type::Int) => Update::AvgInt,
            AggregateFunction::Avg if arg == Some(Type::Float) => Update::AvgFloat,
            _ => return None,
        })
    }

    /// Adds `value` to the running value whose words start `words`.
    #[inline(always)]
    fn apply(self, words: &mut [u64], value: u64) {
        match self {
            Update::Count => words[0] += 1,
            Update::SumInt => words[0] = words[0].wrapping_add(value),
            Update::SumFloat => words[0] = (f64::from_bits(words[0]) + f64::from_bits(value)).to_bits(),
            Update::MinInt | Update::MaxInt => {
                let (current, new) = (words[0] as i64, value as i64);
                let better = if self == Update::MinInt { new < current } else { new > current };
                if words[1] == 0 || better {
                    words[0] = value;
                    words[1] = 1;
                }
            }
            Update::MinFloat | Update::MaxFloat => {
                let (current, new) = (f64::from_bits(words[0]), f64::from_bits(value));
                // As the scalar `min`/`max`: NaN wins, and on a tie the first value stays.
                let better = if self == Update::MinFloat { new < current } else { new > current };
                if words[1] == 0 || new.is_nan() || (better && !current.is_nan()) {
                    words[0] = value;
                    words[1] = 1;
                }
            }
            Update::AvgInt => {
                let sum = (u128::from(words[0]) | (u128::from(words[1]) << 64)) as i128;
                let sum = (sum + i128::from(value as i64)) as u128;
                words[0] = sum as u64;
                words[1] = (sum >> 64) as u64;
                words[2] += 1;
            }
            Update::AvgFloat => {
                words[0] = (f64::from_bits(words[0]) + f64::from_bits(value)).to_bits();
                words[1] += 1;
            }
        }
    }

    fn words(self) -> usize {
        match self {
            Update::Count | Update::SumInt | Update::SumFloat => 1,
            Update::MinInt | Update::MaxInt | Update::MinFloat | Update::MaxFloat | Update::AvgFloat => 2,
            Update::AvgInt => 3,
        }
    }
}

/// Where each aggregate of a keyed operator lives in a slot, for key and
/// aggregate types the table can hold.
#[derive(Debug, Clone)]
pub struct SlotLayout {
    pub key_type: Type,
    /// Each aggregate's update, its first word (after the key's) and its result type.
    updates: Vec<(Update, usize, Type)>,
    /// Words per slot, the key's included.
    pub stride: usize,
}

impl SlotLayout {
    /// The layout for a key of `key_type` and `aggregates`, or `None` when
    /// one of them needs the `Value` maps.
    pub fn of(key_type: Type, aggregates: &[Aggregate]) -> Option<SlotLayout> {
        if key_type == Type::String {
            return None;
        }
        let mut updates = Vec::with_capacity(aggregates.len());
        let mut words = 0;
        for aggregate in aggregates {
            let update = Update::of(aggregate)?;
            updates.push((update, words, aggregate.ty));
            words += update.words();
        }
        Some(SlotLayout { key_type, updates, stride: 1 + words })
    }

    /// Adds one record to a key's aggregates (`slot`, after its key word):
    /// `args[i]` and `filters[i]` are aggregate `i`'s argument and filter
    /// words for the record (an absent argument or filter is `None`).
    #[inline(always)]
    pub fn add(&self, slot: &mut [u64], args: &[Option<&[u64]>], filters: &[Option<&[u64]>], row: usize) {
        for (index, &(update, at, _)) in self.updates.iter().enumerate() {
            if filters[index].is_some_and(|filter| filter[row] & 0xff == 0) {
                continue;
            }
            update.apply(&mut slot[at..], args[index].map_or(0, |arg| arg[row]));
        }
    }

    /// Adds rows `rows` of a batch to their keys' aggregates in `table`,
    /// row `rows.start + i` to the slot at `slots[i]`: one aggregate at a
    /// time over all the rows, so the choice of update is made once per
    /// batch, not per record; each key still takes its records in order.
    pub fn add_rows(
        &self,
        table: &mut KeyTable,
        slots: &[u32],
        args: &[Option<&[u64]>],
        filters: &[Option<&[u64]>],
        rows: std::ops::Range<usize>,
    ) {
        let stride = table.stride;
        let words = &mut table.words;
        for (index, &(update, at, _)) in self.updates.iter().enumerate() {
            let args = args[index].map(|arg| &arg[rows.clone()]);
            let filter = filters[index].map(|filter| &filter[rows.clone()]);
            let first = 1 + at;
            macro_rules! each_kept {
                (|$row:ident, $word:ident| $body:expr) => {
                    match filter {
                        None => {
                            for ($row, &slot) in slots.iter().enumerate() {
                                let $word = slot as usize * stride + first;
                                $body;
                            }
                        }
                        Some(filter) => {
                            for ($row, &slot) in slots.iter().enumerate() {
                                if filter[$row] & 0xff != 0 {
                                    let $word = slot as usize * stride + first;
                                    $body;
                                }
                            }
                        }
                    }
                };
            }
            match (update, args) {
                (Update::Count, _) => each_kept!(|_row, word| words[word] += 1),
                (Update::SumInt, Some(args)) => {
                    each_kept!(|row, word| words[word] = words[word].wrapping_add(args[row]))
                }
                (Update::SumFloat, Some(args)) => each_kept!(|row, word| {
                    words[word] = (f64::from_bits(words[word]) + f64::from_bits(args[row])).to_bits()
                }),
                (update, args) => each_kept!(|row, word| update.apply(&mut words[word..], args.map_or(0, |a| a[row]))),
            }
        }
    }

    /// The aggregates' results from a key's slot (after its key word), in
    /// order, onto `values`.
    pub fn results(&self, slot: &[u64], values: &mut Vec<Value>) {
        for &(update, at, ty) in &self.updates {
            values.push(match update {
                Update::Count | Update::SumInt | Update::SumFloat => value_of_bits(ty, slot[at]),
                Update::MinInt | Update::MaxInt | Update::MinFloat | Update::MaxFloat if slot[at + 1] == 0 => {
                    super::lookup::zero_value(ty)
                }
                Update::MinInt | Update::MaxInt | Update::MinFloat | Update::MaxFloat => value_of_bits(ty, slot[at]),
                // An average over no records (a filter let none through) is 0.
                Update::AvgInt | Update::AvgFloat if slot[at + update.words() - 1] == 0 => Value::Float(0.0),
                Update::AvgInt => {
                    let sum = (u128::from(slot[at]) | (u128::from(slot[at + 1]) << 64)) as i128;
                    Value::Float(sum as f64 / slot[at + 2] as f64)
                }
                Update::AvgFloat => Value::Float(f64::from_bits(slot[at]) / slot[at + 1] as f64),
            });
        }
    }
}

/// Keys and their aggregates in open addressing with linear probing: a
/// slot is `stride` words (the key's, then the aggregates'), and a control
/// byte per slot is 0 while it is free, else 7 bits of its key's hash with
/// the top bit set, so a probe reads control bytes, which sit together, and
/// compares a key only where its hash's bits match. Grows at 7/8 full, so a
/// live key costs `(8 × stride + 1) / load` bytes: 29–57 for a count and a sum.
#[derive(Debug, Clone)]
pub struct KeyTable {
    words: Vec<u64>,
    control: Vec<u8>,
    stride: usize,
    len: usize,
}

const FIRST_CAPACITY: usize = 16;

/// A key's hash, and its control byte.
#[inline(always)]
fn hash_and_tag(key: u64) -> (usize, u8) {
    let hash = mix64(key);
    (hash as usize, 0x80 | (hash >> 57) as u8)
}

impl KeyTable {
    pub fn new(stride: usize) -> KeyTable {
        KeyTable { words: vec![0; FIRST_CAPACITY * stride], control: vec![0; FIRST_CAPACITY], stride, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The memory the table holds, taken or not.
    pub fn bytes(&self) -> u64 {
        (self.words.capacity() * 8 + self.control.capacity()) as u64
    }

    /// The slot of `key` (its aggregates' words, after the key word), made
    /// with zeroed aggregates if the key is new; and whether it was.
    #[inline(always)]
    pub fn slot(&mut self, key: u64) -> (&mut [u64], bool) {
        let (hash, tag) = hash_and_tag(key);
        let mut index = self.find(key, hash, tag);
        let new = self.control[index] == 0;
        if new {
            if self.full() {
                self.grow();
                index = self.find(key, hash, tag);
            }
            self.take(index, key, tag);
        }
        let at = index * self.stride;
        (&mut self.words[at + 1..at + self.stride], new)
    }

    /// The slot index of every key of `keys` into `slots` (cleared first),
    /// each new key given a slot with zeroed aggregates; returns how many
    /// were new. A table that grows on the way finds the earlier keys again.
    pub fn slots_of(&mut self, keys: &[u64], slots: &mut Vec<u32>) -> u64 {
        slots.clear();
        let mut new = 0;
        for (row, &key) in keys.iter().enumerate() {
            let (hash, tag) = hash_and_tag(key);
            let mut index = self.find(key, hash, tag);
            if self.control[index] == 0 {
                if self.full() {
                    self.grow();
                    slots.clear();
                    for &earlier in &keys[..row] {
                        let (hash, tag) = hash_and_tag(earlier);
                        slots.push(self.find(earlier, hash, tag) as u32);
                    }
                    index = self.find(key, hash, tag);
                }
                self.take(index, key, tag);
                new += 1;
            }
            slots.push(index as u32);
        }
        new
    }

    /// Whether one more key would pass 7/8 full.
    #[inline(always)]
    fn full(&self) -> bool {
        (self.len + 1) * 8 > self.control.len() * 7
    }

    /// Gives the free slot `index` to `key`, its aggregates zeroed.
    #[inline(always)]
    fn take(&mut self, index: usize, key: u64, tag: u8) {
        self.control[index] = tag;
        self.words[index * self.stride] = key;
        self.len += 1;
    }

    /// `key`'s slot, or the free slot where it would go.
    #[inline(always)]
    fn find(&self, key: u64, hash: usize, tag: u8) -> usize {
        let mask = self.control.len() - 1;
        let mut index = hash & mask;
        loop {
            let control = self.control[index];
            if control == 0 || (control == tag && self.words[index * self.stride] == key) {
                return index;
            }
            index = (index + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let capacity = self.control.len() * 2;
        let old_words = std::mem::replace(&mut self.words, vec![0; capacity * self.stride]);
        let old_control = std::mem::replace(&mut self.control, vec![0; capacity]);
        for (slot, &control) in old_words.chunks_exact(self.stride).zip(&old_control).filter(|(_, c)| **c != 0) {
            let (hash, tag) = hash_and_tag(slot[0]);
            let index = self.find(slot[0], hash, tag);
            self.control[index] = control;
            self.words[index * self.stride..(index + 1) * self.stride].copy_from_slice(slot);
        }
    }

    /// The taken slots, copied out in key order (`key_type`'s order) into
    /// `sorted` (cleared first), `stride` words each: the order a window
    /// fires its keys in, read front to back.
    pub fn sorted_entries(&self, key_type: Type, sorted: &mut Vec<u64>) {
        sorted.clear();
        sorted.reserve(self.len * self.stride);
        for (slot, _) in self.words.chunks_exact(self.stride).zip(&self.control).filter(|(_, control)| **control != 0) {
            sorted.extend_from_slice(slot);
        }
        // Sorting the slots themselves, not indices into the table: a
        // table of millions of keys is far larger than the caches, and
        // reading it in key order would miss on nearly every key.
        macro_rules! sort_as_arrays {
            ($($n:literal)*) => {
                match self.stride {
                    $($n => sort_slots::<$n>(sorted, key_type),)*
                    _ => sort_slots_by_index(sorted, self.stride, key_type),
                }
            };
        }
        sort_as_arrays!(1 2 3 4 5 6 7 8 9 10 11 12);
    }

    /// Empties the table, keeping its memory for the next window.
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.control.fill(0);
            self.words.fill(0);
            self.len = 0;
        }
    }
}

/// Sorts `words`, slots of `N` words, by their first word's order.
fn sort_slots<const N: usize>(words: &mut [u64], key_type: Type) {
    debug_assert_eq!(words.len() % N, 0);
    // SAFETY: `[u64; N]` has `u64`'s alignment and no padding, and the
    // slice holds a whole number of slots of `N` words.
    let slots = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<[u64; N]>(), words.len() / N) };
    slots.sort_unstable_by_key(|slot| order_of_bits(key_type, slot[0]));
}

/// `sort_slots` for wider slots: through an index, then copied back.
fn sort_slots_by_index(words: &mut Vec<u64>, stride: usize, key_type: Type) {
    let mut order: Vec<(i64, usize)> =
        words.chunks_exact(stride).enumerate().map(|(index, slot)| (order_of_bits(key_type, slot[0]), index)).collect();
    order.sort_unstable();
    let mut sorted = Vec::with_capacity(words.len());
    for (_, index) in order {
        sorted.extend_from_slice(&words[index * stride..(index + 1) * stride]);
    }
    *words = sorted;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_find_their_slots_across_growth() {
        let mut table = KeyTable::new(2);
        for round in 0..3 {
            for key in 0..10_000u64 {
                let (slot, new) = table.slot(key.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                assert_eq!(new, round == 0, "key {key}");
                slot[0] += key;
            }
        }
        assert_eq!(table.len(), 10_000);
        let mut sorted = Vec::new();
        table.sorted_entries(Type::Int, &mut sorted);
        assert_eq!(sorted.len(), 10_000 * 2);
        assert!(sorted.chunks(2).zip(sorted.chunks(2).skip(1)).all(|(a, b)| (a[0] as i64) < (b[0] as i64)));
        let total: u64 = sorted.chunks(2).map(|slot| slot[1]).sum();
        assert_eq!(total, 3 * (0..10_000u64).sum::<u64>(), "each key added three times");
        // Under 7/8 full after growth, and 25 bytes a slot here.
        assert!(table.bytes() <= 10_000 * 8 / 7 * 2 * 25, "{}", table.bytes());
        // Slots too wide for the array sort go through an index, in the same order.
        let mut wide = KeyTable::new(14);
        for key in [5u64, (-3i64) as u64, 9, 0] {
            wide.slot(key).0[12] = key;
        }
        wide.sorted_entries(Type::Int, &mut sorted);
        let keys: Vec<i64> = sorted.chunks(14).map(|slot| slot[0] as i64).collect();
        assert_eq!(keys, vec![-3, 0, 5, 9]);
        assert!(sorted.chunks(14).all(|slot| slot[13] == slot[0]));
        table.clear();
        assert_eq!(table.len(), 0);
        assert!(table.slot(5).1);
    }
}
