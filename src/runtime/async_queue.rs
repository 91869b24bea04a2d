//! The queue of an `@async` operator's calls in flight, as Flink's
//! `StreamElementQueue`: records enter with the instant their call
//! completes, watermarks enter between them, and `pop_ready` yields what may
//! be emitted now. It knows nothing of threads, batches or clocks but the
//! instants it is given, so it is tested on its own.
//!
//! Ordered (Flink's `OrderedStreamElementQueue`): a record leaves only after
//! every record before it, and a watermark right after the records before
//! it. Unordered (`UnorderedStreamElementQueue`): records leave as their
//! calls complete, but watermarks are barriers: the records between two
//! watermarks form a segment, a segment's records leave only once the
//! segment before it has left, and a watermark leaves once every record
//! before it has. `capacity` counts the records in the queue, completed or
//! not, until they leave; watermarks take no slot (two with no record
//! between them are one, so there are never more watermarks than records
//! plus one).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// What leaves the queue.
#[derive(Debug, PartialEq)]
pub enum Ready<T> {
    Record(T),
    Watermark(i64),
}

/// One call in flight: the record, when its call completes, and its place
/// in the input (ties of `due` leave in input order).
#[derive(Debug)]
struct Call<T> {
    due: Instant,
    sequence: u64,
    record: T,
}

impl<T> PartialEq for Call<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.sequence) == (other.due, other.sequence)
    }
}

impl<T> Eq for Call<T> {}

impl<T> PartialOrd for Call<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Call<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.sequence).cmp(&(other.due, other.sequence))
    }
}

/// The records between two watermarks, and the watermark that closes them.
#[derive(Debug)]
struct Segment<T> {
    /// Ordered mode: in input order.
    in_order: VecDeque<Call<T>>,
    /// Unordered mode: the earliest completion first.
    by_due: BinaryHeap<Reverse<Call<T>>>,
    /// The watermark after these records; `None` for the last, open segment.
    closed_by: Option<i64>,
}

impl<T> Segment<T> {
    fn open() -> Segment<T> {
        Segment { in_order: VecDeque::new(), by_due: BinaryHeap::new(), closed_by: None }
    }

    fn is_empty(&self) -> bool {
        self.in_order.is_empty() && self.by_due.is_empty()
    }

    /// When the record that may leave first completes.
    fn first_due(&self, ordered: bool) -> Option<Instant> {
        if ordered {
            self.in_order.front().map(|call| call.due)
        } else {
            self.by_due.peek().map(|Reverse(call)| call.due)
        }
    }

    fn pop_first(&mut self, ordered: bool) -> Option<Call<T>> {
        if ordered {
            self.in_order.pop_front()
        } else {
            self.by_due.pop().map(|Reverse(call)| call)
        }
    }
}

#[derive(Debug)]
pub struct AsyncQueue<T> {
    capacity: usize,
    ordered: bool,
    /// Oldest first; the last one is always open.
    segments: VecDeque<Segment<T>>,
    records: usize,
    next_sequence: u64,
}

impl<T> AsyncQueue<T> {
    /// A queue for at most `capacity` records (at least 1).
    pub fn new(capacity: usize, ordered: bool) -> AsyncQueue<T> {
        AsyncQueue {
            capacity: capacity.max(1),
            ordered,
            segments: VecDeque::from([Segment::open()]),
            records: 0,
            next_sequence: 0,
        }
    }

    /// Records in the queue: their calls in flight, or completed and not yet emitted.
    pub fn in_flight(&self) -> usize {
        self.records
    }

    pub fn is_full(&self) -> bool {
        self.records >= self.capacity
    }

    /// Whether nothing at all waits: no record, no watermark.
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.segments.len() == 1
    }

    /// Starts a call for `record` that completes at `due`. The caller
    /// waits for a free slot first (`is_full`).
    pub fn push_record(&mut self, record: T, due: Instant) {
        debug_assert!(!self.is_full(), "a record enters a full async queue");
        let call = Call { due, sequence: self.next_sequence, record };
        self.next_sequence += 1;
        self.records += 1;
        let open = self.segments.back_mut().expect("the open segment");
        if self.ordered {
            open.in_order.push_back(call);
        } else {
            open.by_due.push(Reverse(call));
        }
    }

    /// A watermark arrives after the records pushed so far.
    pub fn push_watermark(&mut self, watermark: i64) {
        let n_segments = self.segments.len();
        if n_segments >= 2 && self.segments[n_segments - 1].is_empty() {
            // No record since the previous watermark: this one says it all.
            let closed =
                self.segments[n_segments - 2].closed_by.as_mut().expect("every segment but the last is closed");
            *closed = (*closed).max(watermark);
            return;
        }
        self.segments.back_mut().expect("the open segment").closed_by = Some(watermark);
        self.segments.push_back(Segment::open());
    }

    /// What may be emitted at `now`, one item at a time.
    pub fn pop_ready(&mut self, now: Instant) -> Option<Ready<T>> {
        let first = self.segments.front_mut().expect("the open segment");
        if first.first_due(self.ordered).is_some_and(|due| due <= now) {
            let call = first.pop_first(self.ordered).expect("a first record");
            self.records -= 1;
            return Some(Ready::Record(call.record));
        }
        if first.is_empty() {
            if let Some(watermark) = first.closed_by {
                self.segments.pop_front();
                return Some(Ready::Watermark(watermark));
            }
        }
        None
    }

    /// When something may next be emitted: the first record's completion
    /// (a watermark at the front may go at once). `None` when the queue
    /// is empty.
    pub fn next_due(&self) -> Option<Instant> {
        let first = self.segments.front().expect("the open segment");
        match first.first_due(self.ordered) {
            Some(due) => Some(due),
            // A closed, empty first segment: its watermark may go now.
            None if first.closed_by.is_some() => Some(Instant::now()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn drain(queue: &mut AsyncQueue<&'static str>, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| queue.pop_ready(now))
            .map(|ready| match ready {
                Ready::Record(record) => record.to_string(),
                Ready::Watermark(watermark) => format!("w{watermark}"),
            })
            .collect()
    }

    #[test]
    fn ordered_emits_in_input_order_whatever_completes_first() {
        let base = Instant::now();
        let mut queue = AsyncQueue::new(4, true);
        queue.push_record("a", at(base, 30));
        queue.push_record("b", at(base, 10));
        queue.push_record("c", at(base, 20));
        assert_eq!(queue.in_flight(), 3);
        assert_eq!(drain(&mut queue, at(base, 25)), Vec::<String>::new(), "b and c wait for a");
        assert_eq!(queue.next_due(), Some(at(base, 30)));
        assert_eq!(drain(&mut queue, at(base, 30)), ["a", "b", "c"]);
        assert_eq!(queue.in_flight(), 0);
        assert!(queue.is_empty());
        assert_eq!(queue.next_due(), None);
    }

    #[test]
    fn ordered_keeps_watermarks_in_place() {
        let base = Instant::now();
        let mut queue = AsyncQueue::new(4, true);
        queue.push_record("a", at(base, 10));
        queue.push_watermark(5);
        queue.push_record("b", at(base, 5));
        queue.push_watermark(7);
        assert_eq!(drain(&mut queue, at(base, 9)), Vec::<String>::new());
        assert_eq!(drain(&mut queue, at(base, 10)), ["a", "w5", "b", "w7"]);
    }

    #[test]
    fn unordered_emits_as_calls_complete_within_a_segment() {
        let base = Instant::now();
        let mut queue = AsyncQueue::new(8, false);
        queue.push_record("slow", at(base, 30));
        queue.push_record("fast", at(base, 10));
        queue.push_record("middle", at(base, 20));
        assert_eq!(queue.next_due(), Some(at(base, 10)));
        assert_eq!(drain(&mut queue, at(base, 10)), ["fast"]);
        assert_eq!(drain(&mut queue, at(base, 25)), ["middle"]);
        assert_eq!(queue.in_flight(), 1);
        assert_eq!(drain(&mut queue, at(base, 30)), ["slow"]);
    }

    #[test]
    fn unordered_watermarks_are_barriers() {
        let base = Instant::now();
        let mut queue = AsyncQueue::new(8, false);
        queue.push_record("a-slow", at(base, 40));
        queue.push_record("a-fast", at(base, 10));
        queue.push_watermark(100);
        queue.push_record("b-fast", at(base, 5));
        queue.push_record("b-slow", at(base, 20));
        queue.push_watermark(200);
        queue.push_record("c", at(base, 1));
        // b-fast and c completed first, but the watermarks before them hold them back.
        assert_eq!(drain(&mut queue, at(base, 15)), ["a-fast"]);
        assert_eq!(queue.next_due(), Some(at(base, 40)));
        assert_eq!(queue.in_flight(), 4, "completed records hold their slot until they leave");
        assert_eq!(drain(&mut queue, at(base, 40)), ["a-slow", "w100", "b-fast", "b-slow", "w200", "c"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_watermark_with_no_record_before_it_leaves_at_once() {
        let base = Instant::now();
        for ordered in [true, false] {
            let mut queue: AsyncQueue<&str> = AsyncQueue::new(2, ordered);
            queue.push_watermark(3);
            assert!(queue.next_due().is_some_and(|due| due <= Instant::now()));
            assert_eq!(drain(&mut queue, base), ["w3"]);
            assert!(queue.is_empty());
        }
    }

    #[test]
    fn watermarks_with_nothing_between_them_merge() {
        let base = Instant::now();
        for ordered in [true, false] {
            let mut queue = AsyncQueue::new(2, ordered);
            queue.push_record("a", at(base, 10));
            queue.push_watermark(1);
            queue.push_watermark(2);
            queue.push_watermark(3);
            assert_eq!(drain(&mut queue, at(base, 10)), ["a", "w3"]);
        }
    }

    #[test]
    fn capacity_counts_records_until_they_leave() {
        let base = Instant::now();
        let mut queue = AsyncQueue::new(2, false);
        queue.push_record("a", at(base, 10));
        queue.push_watermark(1);
        assert!(!queue.is_full(), "watermarks take no slot");
        queue.push_record("b", at(base, 1));
        assert!(queue.is_full());
        assert_eq!(drain(&mut queue, at(base, 5)), Vec::<String>::new(), "b waits behind the watermark");
        assert!(queue.is_full());
        assert_eq!(drain(&mut queue, at(base, 10)), ["a", "w1", "b"]);
        assert!(!queue.is_full());
    }

    /// Random latencies, both modes: every record leaves exactly once; in
    /// ordered mode in input order; in both, no record crosses a watermark
    /// and nothing leaves before its call completes.
    #[test]
    fn random_latencies_keep_the_promises_of_both_modes() {
        let base = Instant::now();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for ordered in [true, false] {
            let mut reordered_runs = 0;
            for _ in 0..50 {
                let capacity = 1 + random(6) as usize;
                let mut queue: AsyncQueue<(u64, u64, Instant)> = AsyncQueue::new(capacity, ordered);
                let (mut now, mut sent, mut segment) = (0u64, 0u64, 0u64);
                let mut out: Vec<Ready<(u64, u64, Instant)>> = Vec::new();
                while sent < 40 || !queue.is_empty() {
                    now += random(4);
                    let clock = at(base, now);
                    while let Some(ready) = queue.pop_ready(clock) {
                        if let Ready::Record((_, _, due)) = &ready {
                            assert!(*due <= clock, "emitted before its call completed");
                        }
                        out.push(ready);
                    }
                    if sent < 40 && random(5) == 0 {
                        segment += 1;
                        queue.push_watermark(segment as i64);
                    } else if sent < 40 && !queue.is_full() {
                        let due = at(base, now + random(20));
                        queue.push_record((sent, segment, due), due);
                        sent += 1;
                    }
                    assert!(queue.in_flight() <= capacity);
                    if sent == 40 && queue.next_due().is_none() {
                        break;
                    }
                }
                let records: Vec<(u64, u64)> = out
                    .iter()
                    .filter_map(|ready| match ready {
                        Ready::Record((index, segment, _)) => Some((*index, *segment)),
                        Ready::Watermark(_) => None,
                    })
                    .collect();
                let mut indices: Vec<u64> = records.iter().map(|(index, _)| *index).collect();
                let in_order = indices.windows(2).all(|pair| pair[0] < pair[1]);
                assert!(in_order || !ordered, "ordered: {indices:?}");
                reordered_runs += usize::from(!in_order);
                indices.sort_unstable();
                assert_eq!(indices, (0..40).collect::<Vec<_>>(), "every record exactly once");
                // A record of segment s comes after watermark s and before watermark s + 1.
                let mut watermark = 0;
                for ready in &out {
                    match ready {
                        Ready::Watermark(w) => {
                            assert!(*w > watermark, "watermarks rise");
                            watermark = *w;
                        }
                        Ready::Record((_, segment, _)) => {
                            assert!(*segment as i64 >= watermark, "a record overtook a watermark after it");
                            assert!(*segment as i64 <= watermark, "a record was emitted before a watermark before it");
                        }
                    }
                }
            }
            assert!(ordered || reordered_runs > 10, "unordered mode reordered in {reordered_runs} runs of 50");
        }
    }
}
