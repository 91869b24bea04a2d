//! The state of flowc's two-input stream joins, with the semantics of
//! Apache Flink wherever Flink's are deterministic: the interval join
//! (DataStream `IntervalJoinOperator`), the window join (Flink SQL's window
//! join) and the regular join with no time bound. `JoinState` owns the rows
//! each side has sent that may still join, pairs them, and drops them as the
//! watermark rises. It knows nothing of batches, threads, compiled
//! expressions or metrics (the caller passes each row's key, the residual
//! predicate and where pairs go), so it is tested on its own against a
//! nested-loop join.
//!
//! Interval join: a right row `r` joins a left row `l` of the same key when
//! `l.ts + lower <= r.ts <= l.ts + upper`. A row whose time is below the
//! watermark is late and dropped. Every row that comes later is not late,
//! so its time is at least the watermark: once the watermark passes
//! `l.ts + upper`, no right row to come can join `l`, and it is dropped (a
//! left outer join emits it then if it never matched); a right row likewise
//! once the watermark passes `r.ts - lower`. So when the second row of a
//! joining pair arrives in time, the first is still held: every pair is
//! emitted exactly once, as its second row arrives, and a left row is called
//! unmatched only when no pair with it can come. The output is therefore
//! the same multiset whatever the interleaving of the two inputs, as long as
//! neither side sends a row late for its own watermark (the join's is the
//! lower of the two, so such a row is never late here).
//!
//! Window join: a row belongs to every window `[start, start + size)` that
//! covers it, starts at multiples of the slide (as `window.rs`). Rows wait
//! in their windows; when the watermark reaches a window's end, its pairs
//! are emitted, keys ascending, then left rows, then right rows in arrival
//! order, and the window is gone. A row whose every window has fired is late
//! (so is one in a gap between sliding windows, as in `window.rs`). A pair
//! that shares two sliding windows is emitted once in each, as in Flink.
//!
//! Regular join: each arriving row meets every row of its key on the other
//! side, once, and is kept for good.
//!
//! Whatever is emitted comes in an order fixed by the sequence of calls
//! alone: a probe meets the held rows by time, then arrival; a rising
//! watermark emits by time, then key (`KeyValue`'s order), then arrival.
//!
//! Memory stays flat while the watermark moves: rows are held per key (by
//! time within a key, so an interval probe is a range scan) and indexed by
//! when they expire, so eviction costs what it evicts, not a walk over the
//! keys, and a key's entry goes with its last row. `JoinStateSize` is kept
//! as rows come and go, like `keyed::StateSize`.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::mem::size_of;
use std::ops::{Index, IndexMut, RangeInclusive};
use std::sync::Arc;

use crate::check::program::{Value, WindowKind};
use crate::compile::interp::EvalError;

use super::keyed::{KeyMap, KeyValue};

/// Which input a row came on: port 0 is the left (the pipeline), port 1 the right (the stream in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinTime {
    /// A right row matches a left row of the same key when right.ts ∈ [left.ts + lower, left.ts + upper], both bounds inclusive (Flink's interval join). lower <= upper (checked before).
    Interval { lower: i64, upper: i64 },
    /// Both rows in the same window of the same key (Flink SQL's window join); tumbling or sliding as `WindowKind`.
    Window(WindowKind),
    /// No time bound (a regular join): every pair of rows with the same key, once, when its second row arrives; state is never dropped.
    Unbounded,
}

#[derive(Debug, Clone)]
pub struct JoinConfig {
    pub time: JoinTime,
    /// Left outer: a left row that matched nothing is emitted once (as `Joined::Unmatched`) when no match can come any more. Never set with `Unbounded` (the checker refuses it); `new` may panic on it.
    pub left_outer: bool,
    /// Index of the event-time field (a `Value::Timestamp`, nanoseconds) in left rows and in right rows. Unused for `Unbounded`.
    pub left_time: usize,
    pub right_time: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Joined<'a> {
    /// `window` is `Some((start, end))` for a window join, else None.
    Pair {
        window: Option<(i64, i64)>,
        left: &'a [Value],
        right: &'a [Value],
    },
    Unmatched {
        window: Option<(i64, i64)>,
        left: &'a [Value],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Joined: it met the rows held for it, and is held itself while a later row may still join it.
    Kept,
    /// dropped: too late to join
    Late,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JoinStateSize {
    pub left_rows: u64,
    pub right_rows: u64,
    pub keys: u64,
    pub bytes: u64,
}

impl JoinStateSize {
    fn rows_mut(&mut self, side: Side) -> &mut u64 {
        match side {
            Side::Left => &mut self.left_rows,
            Side::Right => &mut self.right_rows,
        }
    }

    fn add_row(&mut self, side: Side, bytes: u64) {
        *self.rows_mut(side) += 1;
        self.bytes += bytes;
    }

    fn remove_row(&mut self, side: Side, bytes: u64) {
        *self.rows_mut(side) -= 1;
        self.bytes -= bytes;
    }

    fn add_key(&mut self, bytes: u64) {
        self.keys += 1;
        self.bytes += bytes;
    }

    fn remove_key(&mut self, bytes: u64) {
        self.keys -= 1;
        self.bytes -= bytes;
    }
}

pub struct JoinState {
    /// The highest watermark seen; `i64::MIN` before the first.
    watermark: i64,
    /// Numbers the rows in arrival order over both sides: ties of time break by it.
    arrivals: u64,
    held: Held,
}

enum Held {
    Interval(IntervalRows),
    Window(WindowRows),
    Unbounded(UnboundedRows),
}

/// A row as it arrives, numbered.
struct Arriving {
    side: Side,
    key: KeyValue,
    values: Vec<Value>,
    arrival: u64,
}

impl JoinState {
    pub fn new(config: JoinConfig) -> JoinState {
        let JoinConfig { time, left_outer, left_time, right_time } = config;
        let time_fields = PerSide([left_time, right_time]);
        let held = match time {
            JoinTime::Interval { lower, upper } => {
                assert!(lower <= upper, "an interval join's lower bound {lower} is above its upper bound {upper}");
                Held::Interval(IntervalRows {
                    lower,
                    upper,
                    left_outer,
                    time_fields,
                    keys: KeyMap::default(),
                    by_expiry: PerSide::default(),
                    size: JoinStateSize::default(),
                })
            }
            JoinTime::Window(kind) => {
                let (size_nanos, slide_nanos) = match kind {
                    WindowKind::Tumbling { size_nanos } => (size_nanos, size_nanos),
                    WindowKind::Sliding { size_nanos, slide_nanos } => (size_nanos, slide_nanos),
                };
                assert!(size_nanos > 0 && slide_nanos > 0, "a join window of {size_nanos} ns every {slide_nanos} ns");
                Held::Window(WindowRows {
                    size_nanos,
                    slide_nanos,
                    left_outer,
                    time_fields,
                    windows: BTreeMap::new(),
                    rows_per_key: KeyMap::default(),
                    size: JoinStateSize::default(),
                })
            }
            JoinTime::Unbounded => {
                // Nothing ever tells a regular join that a left row will stay unmatched.
                assert!(!left_outer, "a left outer join needs a time bound");
                Held::Unbounded(UnboundedRows { keys: KeyMap::default(), size: JoinStateSize::default() })
            }
        };
        JoinState { watermark: i64::MIN, arrivals: 0, held }
    }

    /// A row arrives on `side` with its key. `accept(left, right)` is the residual predicate over a candidate pair (same key, time condition met); only accepted pairs are emitted and count as a match. Pairs are passed to `emit` in a deterministic order for a given sequence of calls.
    pub fn push(
        &mut self,
        side: Side,
        key: KeyValue,
        row: Vec<Value>,
        accept: &mut dyn FnMut(&[Value], &[Value]) -> Result<bool, EvalError>,
        emit: &mut dyn FnMut(Joined<'_>),
    ) -> Result<Arrival, EvalError> {
        let row = Arriving { side, key, values: row, arrival: self.arrivals };
        self.arrivals += 1;
        match &mut self.held {
            Held::Interval(rows) => rows.push(row, self.watermark, accept, emit),
            Held::Window(rows) => Ok(rows.push(row, self.watermark)),
            Held::Unbounded(rows) => rows.push(row, accept, emit).map(|()| Arrival::Kept),
        }
    }

    /// The join's input watermark (the minimum over both inputs) rose to `watermark` (monotone; i64::MAX at end of input). Window joins fire the windows that end at or before it; interval joins drop rows that can match nothing any more and emit left-outer misses; both in a deterministic order (by time, then key ascending (KeyValue: Ord), then arrival order).
    pub fn advance_watermark(
        &mut self,
        watermark: i64,
        accept: &mut dyn FnMut(&[Value], &[Value]) -> Result<bool, EvalError>,
        emit: &mut dyn FnMut(Joined<'_>),
    ) -> Result<(), EvalError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        match &mut self.held {
            Held::Interval(rows) => {
                rows.evict(watermark, emit);
                Ok(())
            }
            Held::Window(rows) => rows.fire(watermark, accept, emit),
            Held::Unbounded(_) => Ok(()),
        }
    }

    pub fn size(&self) -> JoinStateSize {
        match &self.held {
            Held::Interval(rows) => rows.size,
            Held::Window(rows) => rows.size,
            Held::Unbounded(rows) => rows.size,
        }
    }

    /// How far the join holds its output watermark behind its input watermark so that no row it emits later is late downstream on either side's time field: max(upper, -lower, 0) for an interval join, 0 otherwise.
    pub fn output_delay(&self) -> i64 {
        match &self.held {
            Held::Interval(rows) => rows.upper.max(rows.lower.saturating_neg()).max(0),
            Held::Window(_) | Held::Unbounded(_) => 0,
        }
    }

    /// The keys with the most rows in state, most first (at most `n`), for the report's hot-key evidence.
    /// Ties come in key order; a row in several sliding windows counts once.
    pub fn largest_keys(&self, n: usize) -> Vec<(KeyValue, u64)> {
        let mut counts: Vec<(&KeyValue, u64)> = match &self.held {
            Held::Interval(rows) => rows.keys.iter().map(|(key, held)| (key, held.row_count())).collect(),
            Held::Window(rows) => rows.rows_per_key.iter().map(|(key, counts)| (key, counts.total())).collect(),
            Held::Unbounded(rows) => rows.keys.iter().map(|(key, held)| (key, held.total_len())).collect(),
        };
        let most_first = |a: &(&KeyValue, u64), b: &(&KeyValue, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        // Only the top `n` need sorting; the report asks for a handful of a possibly huge key space.
        if counts.len() > n && n > 0 {
            counts.select_nth_unstable_by(n - 1, most_first);
        }
        counts.truncate(n);
        counts.sort_unstable_by(most_first);
        counts.into_iter().map(|(key, count)| (key.clone(), count)).collect()
    }
}

/// One value for each side.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PerSide<T>([T; 2]);

impl<T> Index<Side> for PerSide<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        &self.0[side as usize]
    }
}

impl<T> IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        &mut self.0[side as usize]
    }
}

impl PerSide<u64> {
    fn total(&self) -> u64 {
        self.0[0] + self.0[1]
    }
}

impl<T> PerSide<Vec<T>> {
    fn total_len(&self) -> u64 {
        (self.0[0].len() + self.0[1].len()) as u64
    }
}

/// The arriving row and a held one as the pair `(left, right)`.
fn as_pair<'a>(arriving: Side, arriving_values: &'a [Value], held: &'a [Value]) -> (&'a [Value], &'a [Value]) {
    match arriving {
        Side::Left => (arriving_values, held),
        Side::Right => (held, arriving_values),
    }
}

fn event_time(values: &[Value], field: usize) -> i64 {
    match values.get(field) {
        Some(Value::Timestamp(ts)) => *ts,
        other => panic!("a join's time field {field} holds {other:?}, not a timestamp"),
    }
}

// What the state costs, in the spirit of `keyed::StateSize`: the values,
// strings' text, and each map's entry. Every figure depends only on what
// it describes, so what is added for a row or key is exactly what is taken
// away when it goes.

/// A string's text and its `Arc`'s two counts.
fn text_bytes(value: &Value) -> u64 {
    match value {
        Value::Str(text) => text.len() as u64 + 16,
        _ => 0,
    }
}

fn values_bytes(values: &[Value]) -> u64 {
    std::mem::size_of_val(values) as u64 + values.iter().map(text_bytes).sum::<u64>()
}

/// A hash map's slot and control byte; hash maps run at most 7/8 full.
fn hash_entry_bytes<Entry>() -> u64 {
    ((size_of::<Entry>() + 1) * 8 / 7) as u64
}

/// A B-tree's share of a node per entry: nodes run between half and completely full.
fn tree_entry_bytes<Entry>() -> u64 {
    (size_of::<Entry>() * 3 / 2) as u64
}

/// A key's entry in a map of `Rows`, with the key's text (held once, shared by every index that names the key).
fn key_bytes<Rows>(key: &KeyValue) -> u64 {
    hash_entry_bytes::<(KeyValue, Rows)>() + text_bytes(&key.0)
}

/// The rows of an interval join.
struct IntervalRows {
    lower: i64,
    upper: i64,
    left_outer: bool,
    time_fields: PerSide<usize>,
    keys: KeyMap<IntervalKey>,
    /// Every held row as `(ts, key, arrival)`: a row expires a fixed time after its
    /// `ts`, so this is the order rows expire in, and the order misses are emitted in.
    by_expiry: PerSide<BTreeSet<(i64, KeyValue, u64)>>,
    size: JoinStateSize,
}

/// One key's rows of an interval join, each side by `(ts, arrival)`.
#[derive(Default)]
struct IntervalKey {
    rows: PerSide<BTreeMap<(i64, u64), IntervalRow>>,
}

impl IntervalKey {
    fn row_count(&self) -> u64 {
        (self.rows[Side::Left].len() + self.rows[Side::Right].len()) as u64
    }
}

struct IntervalRow {
    values: Vec<Value>,
    /// An accepted pair includes this row: a left outer join does not emit it as a miss.
    matched: bool,
}

fn interval_row_bytes(values: &[Value]) -> u64 {
    values_bytes(values) + tree_entry_bytes::<((i64, u64), IntervalRow)>() + tree_entry_bytes::<(i64, KeyValue, u64)>()
}

fn clamp_to_i64(time: i128) -> i64 {
    time.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The held rows whose times are `ts + from ..= ts + to`, computed without
/// overflow; `None` when no `i64` time is in it.
fn time_range(ts: i64, from: i128, to: i128) -> Option<RangeInclusive<(i64, u64)>> {
    let (low, high) = (i128::from(ts) + from, i128::from(ts) + to);
    if high < i128::from(i64::MIN) || low > i128::from(i64::MAX) {
        return None;
    }
    Some((clamp_to_i64(low), 0)..=(clamp_to_i64(high), u64::MAX))
}

impl IntervalRows {
    /// How long after its own time a row on `side` can still be joined by a row to come:
    /// right rows up to `l.ts + upper` join a left row, left rows from `r.ts - lower` a right one.
    fn joinable_for(&self, side: Side) -> i128 {
        match side {
            Side::Left => i128::from(self.upper),
            Side::Right => -i128::from(self.lower),
        }
    }

    /// Whether a row of `side` at `ts` can meet no row that is not late at `watermark`.
    /// The end of input expires everything: no row comes after it.
    fn expired(&self, side: Side, ts: i64, watermark: i64) -> bool {
        watermark == i64::MAX || i128::from(ts) + self.joinable_for(side) < i128::from(watermark)
    }

    fn push(
        &mut self,
        row: Arriving,
        watermark: i64,
        accept: &mut dyn FnMut(&[Value], &[Value]) -> Result<bool, EvalError>,
        emit: &mut dyn FnMut(Joined<'_>),
    ) -> Result<Arrival, EvalError> {
        let Arriving { side, key, values, arrival } = row;
        let ts = event_time(&values, self.time_fields[side]);
        // Flink's `IntervalJoinOperator.isLate`.
        if ts < watermark {
            return Ok(Arrival::Late);
        }
        // The held row's time relative to the arriving one's: r.ts - l.ts ∈ [lower, upper].
        let (from, to) = match side {
            Side::Left => (i128::from(self.lower), i128::from(self.upper)),
            Side::Right => (-i128::from(self.upper), -i128::from(self.lower)),
        };
        let mut matched = false;
        if let (Some(held), Some(range)) = (self.keys.get_mut(&key), time_range(ts, from, to)) {
            for candidate in held.rows[side.other()].range_mut(range).map(|(_, row)| row) {
                let (left, right) = as_pair(side, &values, &candidate.values);
                if accept(left, right)? {
                    matched = true;
                    candidate.matched = true;
                    emit(Joined::Pair { window: None, left, right });
                }
            }
        }
        if !self.expired(side, ts, watermark) {
            self.hold(side, key, ts, arrival, IntervalRow { values, matched });
        } else if side == Side::Left && self.left_outer && !matched {
            emit(Joined::Unmatched { window: None, left: &values });
        }
        Ok(Arrival::Kept)
    }

    fn hold(&mut self, side: Side, key: KeyValue, ts: i64, arrival: u64, row: IntervalRow) {
        let entry = self.keys.entry(key);
        if let Entry::Vacant(vacant) = &entry {
            self.size.add_key(key_bytes::<IntervalKey>(vacant.key()));
        }
        // The index shares the held key's text rather than keeping another copy.
        let key = entry.key().clone();
        self.size.add_row(side, interval_row_bytes(&row.values));
        entry.or_default().rows[side].insert((ts, arrival), row);
        self.by_expiry[side].insert((ts, key, arrival));
    }

    fn evict(&mut self, watermark: i64, emit: &mut dyn FnMut(Joined<'_>)) {
        for side in [Side::Left, Side::Right] {
            while let Some((ts, _, _)) = self.by_expiry[side].first() {
                if !self.expired(side, *ts, watermark) {
                    break;
                }
                let (ts, key, arrival) = self.by_expiry[side].pop_first().expect("a first row");
                let held = self.keys.get_mut(&key).expect("an indexed row's key is held");
                let row = held.rows[side].remove(&(ts, arrival)).expect("an indexed row is held");
                self.size.remove_row(side, interval_row_bytes(&row.values));
                if held.row_count() == 0 {
                    self.keys.remove(&key);
                    self.size.remove_key(key_bytes::<IntervalKey>(&key));
                }
                if side == Side::Left && self.left_outer && !row.matched {
                    emit(Joined::Unmatched { window: None, left: &row.values });
                }
            }
        }
    }
}

/// The rows of a window join.
struct WindowRows {
    size_nanos: i64,
    slide_nanos: i64,
    left_outer: bool,
    time_fields: PerSide<usize>,
    /// Open windows by `(end, start)`, the order they fire in, each with its keys' rows.
    windows: BTreeMap<(i64, i64), KeyMap<PerSide<Vec<Arc<[Value]>>>>>,
    /// Each key's rows over all open windows, a row once however many windows share it.
    rows_per_key: KeyMap<PerSide<u64>>,
    size: JoinStateSize,
}

type WindowKeyRows = PerSide<Vec<Arc<[Value]>>>;

/// A row held by a window join, shared by its windows: its values and its `Arc`'s counts.
fn window_row_bytes(values: &[Value]) -> u64 {
    values_bytes(values) + 16
}

impl WindowRows {
    /// The windows `[start, end)` that cover `ts`, the latest first: the one
    /// to fire last. Computed wide, so the windows at the ends of time exist
    /// too; a bound beyond the `i64` range is `i64::MIN` or `i64::MAX` (as an
    /// end is in `window.rs`), which still names each window apart.
    fn windows_covering(&self, ts: i64) -> impl Iterator<Item = (i64, i64)> {
        let (size, slide, ts) = (i128::from(self.size_nanos), i128::from(self.slide_nanos), i128::from(ts));
        std::iter::successors(Some(ts - ts.rem_euclid(slide)), move |start| Some(start - slide))
            .take_while(move |&start| start + size > ts)
            .map(move |start| (clamp_to_i64(start), clamp_to_i64(start + size)))
    }

    /// The start of the latest window that may cover `ts`, as `windows_covering`
    /// names it: the row leaves the state when that window fires.
    fn last_window_start(&self, ts: i64) -> i64 {
        let (slide, ts) = (i128::from(self.slide_nanos), i128::from(ts));
        clamp_to_i64(ts - ts.rem_euclid(slide))
    }

    fn push(&mut self, row: Arriving, watermark: i64) -> Arrival {
        let Arriving { side, key, values, arrival: _ } = row;
        let ts = event_time(&values, self.time_fields[side]);
        // Windows end earlier the further back they start: if the last to fire
        // has fired, all have, and the open ones come first.
        match self.windows_covering(ts).next() {
            Some((_, end)) if end > watermark => {}
            _ => return Arrival::Late,
        }
        let entry = self.rows_per_key.entry(key);
        if let Entry::Vacant(vacant) = &entry {
            self.size.add_key(key_bytes::<PerSide<u64>>(vacant.key()));
        }
        let key = entry.key().clone();
        entry.or_default()[side] += 1;
        let values: Arc<[Value]> = Arc::from(values);
        self.size.add_row(side, window_row_bytes(&values));
        for (start, end) in self.windows_covering(ts).take_while(|&(_, end)| end > watermark) {
            let keys = self.windows.entry((end, start)).or_insert_with(|| {
                self.size.bytes += tree_entry_bytes::<((i64, i64), KeyMap<WindowKeyRows>)>();
                KeyMap::default()
            });
            let rows = keys.entry(key.clone()).or_insert_with(|| {
                self.size.bytes += hash_entry_bytes::<(KeyValue, WindowKeyRows)>();
                PerSide::default()
            });
            rows[side].push(values.clone());
            self.size.bytes += size_of::<Arc<[Value]>>() as u64;
        }
        Arrival::Kept
    }

    fn fire(
        &mut self,
        watermark: i64,
        accept: &mut dyn FnMut(&[Value], &[Value]) -> Result<bool, EvalError>,
        emit: &mut dyn FnMut(Joined<'_>),
    ) -> Result<(), EvalError> {
        while let Some(entry) = self.windows.first_entry() {
            let (end, start) = *entry.key();
            if end > watermark {
                break;
            }
            let mut keys: Vec<(KeyValue, WindowKeyRows)> = entry.remove().into_iter().collect();
            self.size.bytes -= tree_entry_bytes::<((i64, i64), KeyMap<WindowKeyRows>)>();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let window = Some((start, end));
            for (key, rows) in keys {
                for left in &rows[Side::Left] {
                    let mut matched = false;
                    for right in &rows[Side::Right] {
                        if accept(left, right)? {
                            matched = true;
                            emit(Joined::Pair { window, left, right });
                        }
                    }
                    if self.left_outer && !matched {
                        emit(Joined::Unmatched { window, left });
                    }
                }
                self.release(key, start, rows);
            }
        }
        Ok(())
    }

    /// Forgets one key's rows of the fired window that starts at `start`;
    /// a row whose last window this was leaves the state.
    fn release(&mut self, key: KeyValue, start: i64, rows: WindowKeyRows) {
        self.size.bytes -=
            hash_entry_bytes::<(KeyValue, WindowKeyRows)>() + rows.total_len() * size_of::<Arc<[Value]>>() as u64;
        let mut gone = PerSide([0u64; 2]);
        for side in [Side::Left, Side::Right] {
            for values in &rows[side] {
                if self.last_window_start(event_time(values, self.time_fields[side])) == start {
                    self.size.remove_row(side, window_row_bytes(values));
                    gone[side] += 1;
                }
            }
        }
        if gone.total() == 0 {
            return;
        }
        let counts = self.rows_per_key.get_mut(&key).expect("a key with rows in a window is counted");
        counts[Side::Left] -= gone[Side::Left];
        counts[Side::Right] -= gone[Side::Right];
        if counts.total() == 0 {
            self.rows_per_key.remove(&key);
            self.size.remove_key(key_bytes::<PerSide<u64>>(&key));
        }
    }
}

/// The rows of a regular join, per key and side in arrival order.
struct UnboundedRows {
    keys: KeyMap<PerSide<Vec<Vec<Value>>>>,
    size: JoinStateSize,
}

fn unbounded_row_bytes(values: &[Value]) -> u64 {
    values_bytes(values) + size_of::<Vec<Value>>() as u64
}

impl UnboundedRows {
    fn push(
        &mut self,
        row: Arriving,
        accept: &mut dyn FnMut(&[Value], &[Value]) -> Result<bool, EvalError>,
        emit: &mut dyn FnMut(Joined<'_>),
    ) -> Result<(), EvalError> {
        let Arriving { side, key, values, arrival: _ } = row;
        if let Some(held) = self.keys.get(&key) {
            for candidate in &held[side.other()] {
                let (left, right) = as_pair(side, &values, candidate);
                if accept(left, right)? {
                    emit(Joined::Pair { window: None, left, right });
                }
            }
        }
        let entry = self.keys.entry(key);
        if let Entry::Vacant(vacant) = &entry {
            self.size.add_key(key_bytes::<PerSide<Vec<Vec<Value>>>>(vacant.key()));
        }
        self.size.add_row(side, unbounded_row_bytes(&values));
        entry.or_default()[side].push(values);
        Ok(())
    }
}

#[cfg(test)]
impl JoinState {
    /// The size counted afresh from what is held, checking on the way that
    /// the indexes agree with the rows and that no empty entry is left.
    fn recount(&self) -> JoinStateSize {
        let mut size = JoinStateSize::default();
        match &self.held {
            Held::Interval(rows) => {
                for (key, held) in &rows.keys {
                    assert!(held.row_count() > 0, "key {key:?} is held with no rows");
                    size.add_key(key_bytes::<IntervalKey>(key));
                    for side in [Side::Left, Side::Right] {
                        for (&(ts, arrival), row) in &held.rows[side] {
                            assert!(rows.by_expiry[side].contains(&(ts, key.clone(), arrival)));
                            assert_eq!(event_time(&row.values, rows.time_fields[side]), ts);
                            size.add_row(side, interval_row_bytes(&row.values));
                        }
                    }
                }
                assert_eq!(rows.by_expiry[Side::Left].len() as u64, size.left_rows);
                assert_eq!(rows.by_expiry[Side::Right].len() as u64, size.right_rows);
            }
            Held::Window(rows) => {
                let mut rows_per_key: KeyMap<PerSide<u64>> = KeyMap::default();
                for (&(end, start), keys) in &rows.windows {
                    assert!(!keys.is_empty(), "window [{start}, {end}) is held with no keys");
                    size.bytes += tree_entry_bytes::<((i64, i64), KeyMap<WindowKeyRows>)>();
                    for (key, held) in keys {
                        assert!(held.total_len() > 0, "key {key:?} is held in a window with no rows");
                        size.bytes += hash_entry_bytes::<(KeyValue, WindowKeyRows)>()
                            + held.total_len() * size_of::<Arc<[Value]>>() as u64;
                        for side in [Side::Left, Side::Right] {
                            for values in &held[side] {
                                let ts = event_time(values, rows.time_fields[side]);
                                assert!(rows.windows_covering(ts).any(|window| window == (start, end)));
                                if rows.last_window_start(ts) == start {
                                    size.add_row(side, window_row_bytes(values));
                                    rows_per_key.entry(key.clone()).or_default()[side] += 1;
                                }
                            }
                        }
                    }
                }
                assert_eq!(rows_per_key, rows.rows_per_key, "rows per key");
                for key in rows_per_key.keys() {
                    size.add_key(key_bytes::<PerSide<u64>>(key));
                }
            }
            Held::Unbounded(rows) => {
                for (key, held) in &rows.keys {
                    size.add_key(key_bytes::<PerSide<Vec<Vec<Value>>>>(key));
                    for side in [Side::Left, Side::Right] {
                        for values in &held[side] {
                            size.add_row(side, unbounded_row_bytes(values));
                        }
                    }
                }
            }
        }
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;
    use proptest::prelude::*;

    const SECOND: i64 = 1_000_000_000;
    /// 2026-01-15T00:00:00Z, the day of the Flink example's times.
    const DAY: i64 = 1_768_435_200 * SECOND;

    fn text(value: &str) -> Value {
        Value::Str(Arc::from(value))
    }

    /// Left rows are `(id, key, ts)`, right rows `(ts, id, key)`: the time
    /// field's index differs between the sides, as it may in a program.
    fn record(side: Side, id: i64, key: &str, ts: i64) -> Vec<Value> {
        match side {
            Side::Left => vec![Value::Int(id), text(key), Value::Timestamp(ts)],
            Side::Right => vec![Value::Timestamp(ts), Value::Int(id), text(key)],
        }
    }

    fn id_of(side: Side, values: &[Value]) -> i64 {
        let field = match side {
            Side::Left => 0,
            Side::Right => 1,
        };
        match &values[field] {
            Value::Int(id) => *id,
            other => panic!("no id: {other:?}"),
        }
    }

    fn config(time: JoinTime, left_outer: bool) -> JoinConfig {
        JoinConfig { time, left_outer, left_time: 2, right_time: 0 }
    }

    fn interval(lower: i64, upper: i64, left_outer: bool) -> JoinConfig {
        config(JoinTime::Interval { lower, upper }, left_outer)
    }

    fn tumbling(size_nanos: i64, left_outer: bool) -> JoinConfig {
        config(JoinTime::Window(WindowKind::Tumbling { size_nanos }), left_outer)
    }

    fn sliding(size_nanos: i64, slide_nanos: i64, left_outer: bool) -> JoinConfig {
        config(JoinTime::Window(WindowKind::Sliding { size_nanos, slide_nanos }), left_outer)
    }

    fn unbounded() -> JoinConfig {
        config(JoinTime::Unbounded, false)
    }

    /// What the join emitted, by the rows' ids.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Out {
        Pair(Option<(i64, i64)>, i64, i64),
        Miss(Option<(i64, i64)>, i64),
    }

    fn pair(left: i64, right: i64) -> Out {
        Out::Pair(None, left, right)
    }

    fn miss(left: i64) -> Out {
        Out::Miss(None, left)
    }

    impl Out {
        fn of(joined: Joined<'_>) -> Out {
            match joined {
                Joined::Pair { window, left, right } => {
                    Out::Pair(window, id_of(Side::Left, left), id_of(Side::Right, right))
                }
                Joined::Unmatched { window, left } => Out::Miss(window, id_of(Side::Left, left)),
            }
        }
    }

    fn accept_all(_: i64, _: i64) -> bool {
        true
    }

    fn accept_none(_: i64, _: i64) -> bool {
        false
    }

    fn accept_some(left: i64, right: i64) -> bool {
        (left * 7 + right * 3) % 3 != 0
    }

    /// A join, the residual predicate over the pair's ids, and what came out;
    /// every call checks the incremental size against a recount.
    struct Harness {
        join: JoinState,
        residual: fn(i64, i64) -> bool,
        out: Vec<Out>,
        /// Recount after every row, not only after watermarks: quadratic in a big test.
        recount_rows: bool,
    }

    impl Harness {
        fn new(config: JoinConfig) -> Harness {
            Harness::with_residual(config, accept_all)
        }

        fn with_residual(config: JoinConfig, residual: fn(i64, i64) -> bool) -> Harness {
            Harness { join: JoinState::new(config), residual, out: Vec::new(), recount_rows: true }
        }

        fn push(&mut self, side: Side, id: i64, key: &str, ts: i64) -> Arrival {
            let residual = self.residual;
            let out = &mut self.out;
            let arrival = self
                .join
                .push(
                    side,
                    KeyValue(text(key)),
                    record(side, id, key, ts),
                    &mut |left, right| Ok(residual(id_of(Side::Left, left), id_of(Side::Right, right))),
                    &mut |joined| out.push(Out::of(joined)),
                )
                .unwrap();
            if self.recount_rows {
                assert_eq!(self.join.size(), self.join.recount());
            }
            arrival
        }

        fn left(&mut self, id: i64, key: &str, ts: i64) -> Arrival {
            self.push(Side::Left, id, key, ts)
        }

        fn right(&mut self, id: i64, key: &str, ts: i64) -> Arrival {
            self.push(Side::Right, id, key, ts)
        }

        fn watermark(&mut self, watermark: i64) {
            let residual = self.residual;
            let out = &mut self.out;
            self.join
                .advance_watermark(
                    watermark,
                    &mut |left, right| Ok(residual(id_of(Side::Left, left), id_of(Side::Right, right))),
                    &mut |joined| out.push(Out::of(joined)),
                )
                .unwrap();
            assert_eq!(self.join.size(), self.join.recount());
        }

        /// What came out since the last call, in emission order.
        fn take(&mut self) -> Vec<Out> {
            std::mem::take(&mut self.out)
        }

        fn take_sorted(&mut self) -> Vec<Out> {
            let mut out = self.take();
            out.sort();
            out
        }
    }

    #[derive(Debug, Clone)]
    struct Input {
        id: i64,
        key: String,
        ts: i64,
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Left,
        Right,
        Watermark,
    }

    /// Feeds `left` and `right` (each in time order) as `schedule` picks; a
    /// side with nothing left is skipped. The watermark, when the schedule
    /// calls for one, is the lower of the sides' highest times so far, as
    /// the runtime's would be. The rest of both inputs follow, then the end
    /// of input. Returns what came out, sorted, and each row's arrival.
    fn run(
        config: JoinConfig,
        residual: fn(i64, i64) -> bool,
        left: &[Input],
        right: &[Input],
        schedule: &[Step],
    ) -> (Vec<Out>, Vec<(i64, Arrival)>) {
        let mut harness = Harness::with_residual(config, residual);
        let (mut next_left, mut next_right) = (0, 0);
        let (mut left_watermark, mut right_watermark) = (i64::MIN, i64::MIN);
        let mut arrivals = Vec::new();
        let rest = std::iter::repeat_n(Step::Left, left.len()).chain(std::iter::repeat_n(Step::Right, right.len()));
        for step in schedule.iter().copied().chain(rest) {
            match step {
                Step::Left if next_left < left.len() => {
                    let row = &left[next_left];
                    next_left += 1;
                    left_watermark = left_watermark.max(row.ts);
                    arrivals.push((row.id, harness.left(row.id, &row.key, row.ts)));
                }
                Step::Right if next_right < right.len() => {
                    let row = &right[next_right];
                    next_right += 1;
                    right_watermark = right_watermark.max(row.ts);
                    arrivals.push((row.id, harness.right(row.id, &row.key, row.ts)));
                }
                Step::Watermark => harness.watermark(left_watermark.min(right_watermark)),
                Step::Left | Step::Right => {}
            }
        }
        harness.watermark(i64::MAX);
        if !matches!(harness.join.held, Held::Unbounded(_)) {
            assert_eq!(harness.join.size(), JoinStateSize::default(), "state left after the end of input");
        }
        arrivals.sort_by_key(|&(id, _)| id);
        (harness.take_sorted(), arrivals)
    }

    /// The windows that cover `ts`, found by trying every start near it.
    fn oracle_windows(ts: i64, size: i64, slide: i64) -> Vec<(i64, i64)> {
        let first = (ts - size).div_euclid(slide) - 1;
        let last = ts.div_euclid(slide) + 1;
        (first..=last).map(|n| (n * slide, n * slide + size)).filter(|&(start, end)| start <= ts && ts < end).collect()
    }

    /// The nested-loop join: every pair of rows checked against the definitions.
    fn oracle(config: &JoinConfig, residual: fn(i64, i64) -> bool, left: &[Input], right: &[Input]) -> Vec<Out> {
        let mut out = Vec::new();
        for l in left {
            let same_key = || right.iter().filter(|r| r.key == l.key && residual(l.id, r.id));
            match &config.time {
                JoinTime::Interval { lower, upper } => {
                    let joins = |r: &&Input| l.ts + lower <= r.ts && r.ts <= l.ts + upper;
                    let pairs: Vec<Out> = same_key().filter(joins).map(|r| pair(l.id, r.id)).collect();
                    if pairs.is_empty() && config.left_outer {
                        out.push(miss(l.id));
                    }
                    out.extend(pairs);
                }
                JoinTime::Window(kind) => {
                    let (size, slide) = match *kind {
                        WindowKind::Tumbling { size_nanos } => (size_nanos, size_nanos),
                        WindowKind::Sliding { size_nanos, slide_nanos } => (size_nanos, slide_nanos),
                    };
                    for window in oracle_windows(l.ts, size, slide) {
                        let in_window = |r: &&Input| window.0 <= r.ts && r.ts < window.1;
                        let pairs: Vec<Out> =
                            same_key().filter(in_window).map(|r| Out::Pair(Some(window), l.id, r.id)).collect();
                        if pairs.is_empty() && config.left_outer {
                            out.push(Out::Miss(Some(window), l.id));
                        }
                        out.extend(pairs);
                    }
                }
                JoinTime::Unbounded => out.extend(same_key().map(|r| pair(l.id, r.id))),
            }
        }
        out.sort();
        out
    }

    /// The example a colleague checked on Flink: times in seconds on one day.
    fn flink_example() -> (Vec<Input>, Vec<Input>) {
        let input = |id, key: &str, seconds: f64| Input {
            id,
            key: key.to_string(),
            ts: DAY + (seconds * 1000.0).round() as i64 * 1_000_000,
        };
        let left =
            vec![input(1, "A", 0.0), input(2, "A", 5.0), input(3, "B", 10.0), input(4, "C", 20.0), input(5, "B", 30.0)];
        let right = vec![
            input(101, "A", 0.0),
            input(102, "A", 15.0),
            input(103, "B", 20.001),
            input(104, "B", 29.999),
            input(105, "B", 40.0),
            input(106, "D", 0.0),
        ];
        (left, right)
    }

    /// Interleavings of the example: both sides merged by time with a
    /// watermark after every row, each side whole before the other, and
    /// alternating rows with a watermark after every pair.
    fn interleavings(left: &[Input], right: &[Input]) -> Vec<Vec<Step>> {
        let mut by_time: Vec<(i64, Step)> = left.iter().map(|row| (row.ts, Step::Left)).collect();
        by_time.extend(right.iter().map(|row| (row.ts, Step::Right)));
        by_time.sort_by_key(|&(ts, _)| ts);
        let merged = by_time.iter().flat_map(|&(_, step)| [step, Step::Watermark]).collect();
        let side_by_side = |first: Step, second: Step, first_len: usize, second_len: usize| {
            let mut steps = vec![first; first_len];
            steps.push(Step::Watermark);
            steps.extend(std::iter::repeat_n(second, second_len));
            steps.push(Step::Watermark);
            steps
        };
        let alternating =
            (0..left.len().max(right.len())).flat_map(|_| [Step::Left, Step::Right, Step::Watermark]).collect();
        vec![
            merged,
            side_by_side(Step::Left, Step::Right, left.len(), right.len()),
            side_by_side(Step::Right, Step::Left, right.len(), left.len()),
            alternating,
        ]
    }

    fn at(seconds: i64) -> i64 {
        DAY + seconds * SECOND
    }

    fn window_pair(start: i64, end: i64, left: i64, right: i64) -> Out {
        Out::Pair(Some((at(start), at(end))), left, right)
    }

    fn window_miss(start: i64, end: i64, left: i64) -> Out {
        Out::Miss(Some((at(start), at(end))), left)
    }

    fn sorted(mut out: Vec<Out>) -> Vec<Out> {
        out.sort();
        out
    }

    #[test]
    fn the_flink_example_as_an_interval_join_from_0_to_10_seconds() {
        let (left, right) = flink_example();
        for schedule in interleavings(&left, &right) {
            let inner = run(interval(0, 10 * SECOND, false), accept_all, &left, &right, &schedule).0;
            assert_eq!(inner, [pair(1, 101), pair(2, 102), pair(5, 105)], "{schedule:?}");
            let outer = run(interval(0, 10 * SECOND, true), accept_all, &left, &right, &schedule).0;
            assert_eq!(outer, sorted(vec![pair(1, 101), pair(2, 102), pair(5, 105), miss(3), miss(4)]), "{schedule:?}");
        }
    }

    #[test]
    fn the_flink_example_as_a_tumbling_window_join_of_20_seconds() {
        let (left, right) = flink_example();
        let inner_pairs = vec![
            window_pair(0, 20, 1, 101),
            window_pair(0, 20, 1, 102),
            window_pair(0, 20, 2, 101),
            window_pair(0, 20, 2, 102),
            window_pair(20, 40, 5, 103),
            window_pair(20, 40, 5, 104),
        ];
        let mut outer_pairs = inner_pairs.clone();
        outer_pairs.extend([window_miss(0, 20, 3), window_miss(20, 40, 4)]);
        for schedule in interleavings(&left, &right) {
            let inner = run(tumbling(20 * SECOND, false), accept_all, &left, &right, &schedule).0;
            assert_eq!(inner, sorted(inner_pairs.clone()), "{schedule:?}");
            let outer = run(tumbling(20 * SECOND, true), accept_all, &left, &right, &schedule).0;
            assert_eq!(outer, sorted(outer_pairs.clone()), "{schedule:?}");
        }
    }

    #[test]
    fn the_flink_example_as_a_sliding_window_join_emits_a_pair_once_per_shared_window() {
        let (left, right) = flink_example();
        let expected = sorted(vec![
            window_pair(-10, 10, 1, 101),
            window_pair(-10, 10, 2, 101),
            window_pair(0, 20, 1, 101),
            window_pair(0, 20, 1, 102),
            window_pair(0, 20, 2, 101),
            window_pair(0, 20, 2, 102),
            window_pair(10, 30, 3, 103),
            window_pair(10, 30, 3, 104),
            window_pair(20, 40, 5, 103),
            window_pair(20, 40, 5, 104),
            window_pair(30, 50, 5, 105),
        ]);
        assert_eq!(expected.len(), 11);
        for schedule in interleavings(&left, &right) {
            let inner = run(sliding(20 * SECOND, 10 * SECOND, false), accept_all, &left, &right, &schedule).0;
            assert_eq!(inner, expected, "{schedule:?}");
        }
    }

    #[test]
    fn interval_bounds_are_inclusive_and_one_nanosecond_past_either_is_out() {
        // Right rows from 1 ns below l.ts + lower to 1 ns above l.ts + upper,
        // held before the left row arrives, then arriving after it.
        let candidates = [(201, 101), (202, 102), (203, 105), (204, 106)];
        let mut harness = Harness::new(interval(2, 5, false));
        for (id, ts) in candidates {
            harness.right(id, "k", ts);
        }
        harness.left(1, "k", 100);
        assert_eq!(harness.take(), [pair(1, 202), pair(1, 203)]);

        let mut harness = Harness::new(interval(2, 5, false));
        harness.left(1, "k", 100);
        for (id, ts) in candidates {
            harness.right(id, "k", ts);
        }
        assert_eq!(harness.take(), [pair(1, 202), pair(1, 203)]);
    }

    #[test]
    fn a_negative_lower_bound_joins_right_rows_before_the_left_one() {
        let mut harness = Harness::new(interval(-3, -1, false));
        for (id, ts) in [(201, 96), (202, 97), (203, 99), (204, 100)] {
            harness.right(id, "k", ts);
        }
        harness.watermark(97);
        assert_eq!(harness.join.size().right_rows, 4, "a right row waits for left rows until r.ts + 3");
        harness.left(1, "k", 100);
        assert_eq!(harness.take(), [pair(1, 202), pair(1, 203)]);
        harness.watermark(100);
        // A right row joins left rows from r.ts + 1 to r.ts + 3, and none comes before 100.
        assert_eq!(harness.join.size().right_rows, 3, "the right row at 96 is gone");
        assert_eq!(harness.join.size().left_rows, 0, "the left row at 100 can join no right row from 100 on");
        harness.left(2, "k", 102);
        assert_eq!(harness.take(), [pair(2, 203), pair(2, 204)]);
    }

    #[test]
    fn late_rows_are_dropped_on_either_side_and_never_reported() {
        let mut harness = Harness::new(interval(-10, 10, true));
        harness.right(201, "k", 50);
        harness.watermark(50);
        assert_eq!(harness.left(1, "k", 49), Arrival::Late);
        assert_eq!(harness.right(202, "k", 49), Arrival::Late);
        assert_eq!(harness.join.size().left_rows + harness.join.size().right_rows, 1);
        assert_eq!(harness.take(), [], "a late row joins nothing");
        // At the watermark is not late (Flink: ts < watermark).
        assert_eq!(harness.left(2, "k", 50), Arrival::Kept);
        assert_eq!(harness.right(203, "k", 50), Arrival::Kept);
        harness.watermark(i64::MAX);
        assert_eq!(harness.take(), [pair(2, 201), pair(2, 203)], "the late left row is no miss either");
        assert_eq!(harness.join.size(), JoinStateSize::default());
    }

    #[test]
    fn a_row_that_can_join_nothing_later_is_not_held() {
        // upper < 0: a left row joins only earlier right rows.
        // upper = -2: a left row joins right rows up to l.ts - 2, so from a
        // watermark of 9 on, one at 10 or 11 can join no right row to come.
        let mut harness = Harness::new(interval(-5, -2, true));
        harness.right(201, "k", 7);
        harness.watermark(9);
        assert_eq!(harness.left(1, "k", 10), Arrival::Kept);
        assert_eq!(harness.left(2, "other", 11), Arrival::Kept);
        assert_eq!(harness.take(), [pair(1, 201), miss(2)], "the unmatched one is a miss at once");
        assert_eq!(harness.join.size().left_rows, 0);
        assert_eq!(harness.left(3, "k", 12), Arrival::Kept);
        assert_eq!(harness.join.size().left_rows, 1, "a right row at 10 could still join it");
        // lower = 2: a right row joins left rows up to r.ts - 2.
        let mut harness = Harness::new(interval(2, 5, false));
        harness.left(1, "k", 8);
        harness.watermark(10);
        harness.right(201, "k", 11);
        assert_eq!(harness.take(), [pair(1, 201)]);
        assert_eq!(harness.join.size().right_rows, 0, "no left row from 10 on joins a right row at 11");
        harness.right(202, "k", 12);
        assert_eq!(harness.join.size().right_rows, 1, "a left row at 10 could still join it");
    }

    #[test]
    fn a_watermark_jump_evicts_many_rows_at_once_in_time_key_arrival_order() {
        let mut harness = Harness::with_residual(interval(0, 10, true), accept_none);
        harness.recount_rows = false;
        for ts in 0..5_000 {
            // Two rows per time, the later key first, so arrival order is not key order.
            harness.left(2 * ts + 1, &format!("k{}", (ts + 1) % 50), ts);
            harness.left(2 * ts, &format!("k{}", ts % 50), ts);
            harness.right(100_000 + ts, &format!("k{}", ts % 50), ts);
        }
        assert_eq!(harness.take(), []);
        harness.watermark(2_500);
        // Left rows go once 2_500 > ts + 10, right rows once 2_500 > ts.
        let size = harness.join.size();
        assert_eq!((size.left_rows, size.right_rows), (2 * (5_000 - 2_490), 5_000 - 2_500));
        let misses = harness.take();
        assert_eq!(misses.len(), 2 * 2_490);
        let expected: Vec<Out> = (0..2_490)
            .flat_map(|ts| {
                let (first, second) = (format!("k{}", ts % 50), format!("k{}", (ts + 1) % 50));
                let mut both = [(first, miss(2 * ts)), (second, miss(2 * ts + 1))];
                both.sort_by(|a, b| KeyValue(text(&a.0)).cmp(&KeyValue(text(&b.0))));
                both.map(|(_, out)| out)
            })
            .collect();
        assert_eq!(misses, expected);
        harness.watermark(i64::MAX);
        assert_eq!(harness.take().len(), 2 * (5_000 - 2_490));
        assert_eq!(harness.join.size(), JoinStateSize::default());
    }

    #[test]
    fn left_outer_emits_a_miss_once_the_watermark_passes_ts_plus_upper_and_at_the_end() {
        let mut harness = Harness::new(interval(0, 10, true));
        harness.left(1, "a", 100);
        harness.left(2, "b", 100);
        harness.right(201, "b", 105);
        harness.left(3, "c", 300);
        assert_eq!(harness.take(), [pair(2, 201)]);
        harness.watermark(110);
        assert_eq!(harness.take(), [], "a right row at 110 could still join");
        harness.watermark(111);
        assert_eq!(harness.take(), [miss(1)], "the matched left row is no miss");
        harness.watermark(200);
        assert_eq!(harness.take(), [], "a miss is emitted once");
        harness.watermark(i64::MAX);
        assert_eq!(harness.take(), [miss(3)], "the end of input settles every left row");
        harness.watermark(i64::MAX);
        assert_eq!(harness.take(), []);
    }

    #[test]
    fn left_outer_counts_only_accepted_pairs_as_matches() {
        for (lower, upper) in [(0, 10), (-10, 10), (-10, 0)] {
            let mut harness = Harness::with_residual(interval(lower, upper, true), accept_none);
            harness.right(201, "k", 0);
            harness.left(1, "k", 0);
            harness.right(202, "k", 0);
            harness.watermark(20);
            assert_eq!(harness.take(), [miss(1)], "[{lower}, {upper}]");
        }
        let mut harness = Harness::with_residual(tumbling(10, true), accept_none);
        harness.left(1, "k", 1);
        harness.right(201, "k", 2);
        harness.watermark(10);
        assert_eq!(harness.take(), [Out::Miss(Some((0, 10)), 1)]);
    }

    #[test]
    fn a_probe_meets_held_rows_by_time_then_arrival() {
        let mut harness = Harness::new(interval(-10, 10, false));
        for (id, ts) in [(201, 5), (202, 3), (203, 5), (204, 4)] {
            harness.right(id, "k", ts);
        }
        harness.left(1, "k", 0);
        assert_eq!(harness.take(), [pair(1, 202), pair(1, 204), pair(1, 201), pair(1, 203)]);
        harness.left(2, "k", 4);
        harness.left(3, "k", 2);
        harness.take();
        harness.right(205, "k", 0);
        assert_eq!(harness.take(), [pair(1, 205), pair(3, 205), pair(2, 205)]);
    }

    #[test]
    fn a_tumbling_window_join_fires_keys_ascending_and_rows_in_arrival_order() {
        let mut harness = Harness::new(tumbling(10, true));
        harness.left(1, "b", 3);
        harness.right(201, "b", 9);
        harness.left(2, "a", 5);
        harness.right(202, "b", 0);
        harness.left(3, "b", 1);
        harness.left(4, "c", 10);
        harness.right(203, "a", 4);
        harness.watermark(9);
        assert_eq!(harness.take(), [], "[0, 10) fires when the watermark reaches 10");
        harness.watermark(10);
        let window = Some((0, 10));
        assert_eq!(
            harness.take(),
            [
                Out::Pair(window, 2, 203),
                Out::Pair(window, 1, 201),
                Out::Pair(window, 1, 202),
                Out::Pair(window, 3, 201),
                Out::Pair(window, 3, 202),
            ]
        );
        assert_eq!(harness.join.size().left_rows, 1);
        harness.watermark(i64::MAX);
        assert_eq!(harness.take(), [Out::Miss(Some((10, 20)), 4)]);
        assert_eq!(harness.join.size(), JoinStateSize::default());
    }

    #[test]
    fn a_window_left_outer_join_reports_a_miss_per_window() {
        let mut harness = Harness::new(sliding(10, 5, true));
        harness.left(1, "k", 7);
        harness.right(201, "k", 3);
        harness.watermark(i64::MAX);
        // The left row is in [0, 10) with the right row, and alone in [5, 15).
        assert_eq!(harness.take(), [Out::Pair(Some((0, 10)), 1, 201), Out::Miss(Some((5, 15)), 1)]);
    }

    #[test]
    fn a_row_for_fired_windows_only_is_late_and_one_with_an_open_window_is_kept() {
        let mut harness = Harness::new(tumbling(10, false));
        harness.left(1, "k", 5);
        harness.watermark(10);
        assert_eq!(harness.right(201, "k", 7), Arrival::Late);
        assert_eq!(harness.right(202, "k", 10), Arrival::Kept);
        harness.watermark(i64::MAX);
        assert_eq!(harness.take(), []);

        let mut harness = Harness::new(sliding(10, 5, false));
        harness.left(1, "k", 6);
        harness.watermark(10);
        // 7 is in [0, 10), fired, and in [5, 15), open.
        assert_eq!(harness.right(201, "k", 7), Arrival::Kept);
        assert_eq!(harness.right(202, "k", 4), Arrival::Late, "[-5, 5) and [0, 10) have fired");
        harness.watermark(15);
        assert_eq!(harness.take(), [Out::Pair(Some((5, 15)), 1, 201)]);
        // A row in a gap between windows has no window to wait in.
        let mut harness = Harness::new(sliding(5, 10, false));
        assert_eq!(harness.left(1, "k", 7), Arrival::Late);
        assert_eq!(harness.left(2, "k", 4), Arrival::Kept);
        assert_eq!(harness.join.size().left_rows, 1);
    }

    #[test]
    fn a_row_in_several_sliding_windows_is_held_once() {
        let mut harness = Harness::new(sliding(30, 10, false));
        harness.left(1, "k", 25);
        let once = harness.join.size();
        assert_eq!((once.left_rows, once.keys), (1, 1));
        harness.watermark(30);
        assert_eq!(harness.join.size().left_rows, 1, "two of its three windows are still open");
        harness.watermark(49);
        assert_eq!(harness.join.size().left_rows, 1);
        harness.watermark(50);
        assert_eq!(harness.join.size(), JoinStateSize::default());
    }

    #[test]
    fn a_regular_join_emits_each_pair_once_whatever_the_arrival_order() {
        let rows: [(Side, i64, &str); 6] = [
            (Side::Left, 1, "a"),
            (Side::Right, 201, "a"),
            (Side::Left, 2, "a"),
            (Side::Right, 202, "a"),
            (Side::Left, 3, "b"),
            (Side::Right, 203, "c"),
        ];
        let mut harness = Harness::new(unbounded());
        for (side, id, key) in rows {
            harness.push(side, id, key, 0);
        }
        assert_eq!(harness.take(), [pair(1, 201), pair(2, 201), pair(1, 202), pair(2, 202)]);
        let mut harness = Harness::new(unbounded());
        for (side, id, key) in rows.iter().rev() {
            harness.push(*side, *id, key, 0);
        }
        harness.watermark(i64::MAX);
        assert_eq!(harness.take_sorted(), [pair(1, 201), pair(1, 202), pair(2, 201), pair(2, 202)]);
        assert_eq!(harness.join.size().left_rows + harness.join.size().right_rows, 6, "a regular join forgets nothing");
        assert_eq!(harness.join.size().keys, 3);
    }

    #[test]
    fn the_residual_decides_which_candidates_pair() {
        let mut harness = Harness::with_residual(unbounded(), |left, right| right - left == 200);
        harness.left(1, "k", 0);
        harness.left(2, "k", 0);
        harness.right(201, "k", 0);
        harness.right(202, "k", 0);
        assert_eq!(harness.take(), [pair(1, 201), pair(2, 202)]);
    }

    #[test]
    fn an_error_in_the_residual_stops_the_join() {
        let error = EvalError { message: "division by zero".into(), span: Span::new(3, 7) };
        let mut failing = |_: &[Value], _: &[Value]| Err(error.clone());
        for config in [interval(0, 10, false), unbounded()] {
            let mut join = JoinState::new(config);
            join.push(Side::Left, KeyValue(text("k")), record(Side::Left, 1, "k", 0), &mut failing, &mut |_| {})
                .unwrap();
            let pushed = join.push(
                Side::Right,
                KeyValue(text("k")),
                record(Side::Right, 201, "k", 5),
                &mut failing,
                &mut |_| {},
            );
            assert_eq!(pushed, Err(error.clone()));
        }
        let mut join = JoinState::new(tumbling(10, false));
        join.push(Side::Left, KeyValue(text("k")), record(Side::Left, 1, "k", 0), &mut failing, &mut |_| {}).unwrap();
        join.push(Side::Right, KeyValue(text("k")), record(Side::Right, 201, "k", 5), &mut failing, &mut |_| {})
            .unwrap();
        assert_eq!(join.advance_watermark(10, &mut failing, &mut |_| {}), Err(error.clone()));
    }

    #[test]
    fn state_returns_to_nothing_at_the_end_of_input() {
        for config in [interval(-5, 5, true), interval(0, 0, false), tumbling(7, true), sliding(9, 4, false)] {
            let mut harness = Harness::new(config.clone());
            for n in 0..200 {
                harness.left(n, &format!("k{}", n % 7), n * 3);
                harness.right(1_000 + n, &format!("k{}", n % 5), n * 2);
            }
            assert!(harness.join.size().bytes > 0);
            harness.watermark(i64::MAX);
            assert_eq!(harness.join.size(), JoinStateSize::default(), "{config:?}");
            assert!(harness.join.largest_keys(3).is_empty());
        }
    }

    #[test]
    fn state_stays_bounded_over_a_long_run_with_a_moving_watermark() {
        for config in [interval(-20_000, 20_000, true), tumbling(50_000, true), sliding(100_000, 25_000, false)] {
            let mut join = JoinState::new(config.clone());
            let mut most = JoinStateSize::default();
            let mut emitted = 0u64;
            for n in 0..100_000i64 {
                let (side, id) = if n % 2 == 0 { (Side::Left, n) } else { (Side::Right, 1_000_000 + n) };
                let ts = n * 1_000;
                let key = format!("key{}", n % 13);
                let row = record(side, id, &key, ts);
                let arrival =
                    join.push(side, KeyValue(text(&key)), row, &mut |_, _| Ok(true), &mut |_| emitted += 1).unwrap();
                assert_eq!(arrival, Arrival::Kept);
                if n % 64 == 63 {
                    join.advance_watermark(ts - 50_000, &mut |_, _| Ok(true), &mut |_| emitted += 1).unwrap();
                    let size = join.size();
                    most.left_rows = most.left_rows.max(size.left_rows);
                    most.right_rows = most.right_rows.max(size.right_rows);
                    most.keys = most.keys.max(size.keys);
                    most.bytes = most.bytes.max(size.bytes);
                }
                if n % 10_000 == 0 {
                    assert_eq!(join.size(), join.recount());
                }
            }
            // About 200 µs of rows at 1 µs a row, whatever the run's length.
            assert!(most.left_rows + most.right_rows <= 400, "{config:?}: {most:?}");
            assert!(most.keys <= 13, "{config:?}: {most:?}");
            assert!(most.bytes <= 200_000, "{config:?}: {most:?}");
            if let Held::Window(rows) = &join.held {
                assert!(rows.windows.len() <= 12, "{config:?}: {} windows open", rows.windows.len());
            }
            assert!(emitted > 10_000, "{config:?}: {emitted}");
            join.advance_watermark(i64::MAX, &mut |_, _| Ok(true), &mut |_| {}).unwrap();
            assert_eq!(join.size(), JoinStateSize::default(), "{config:?}");
            match &join.held {
                Held::Interval(rows) => {
                    assert!(rows.keys.is_empty() && rows.by_expiry.0.iter().all(BTreeSet::is_empty))
                }
                Held::Window(rows) => assert!(rows.windows.is_empty() && rows.rows_per_key.is_empty()),
                Held::Unbounded(_) => unreachable!(),
            }
        }
    }

    #[test]
    fn largest_keys_are_the_keys_with_most_rows_ties_in_key_order() {
        for config in [interval(0, 100, false), sliding(30, 10, false), unbounded()] {
            let mut harness = Harness::new(config.clone());
            for (key, left, right) in [("c", 1, 0), ("a", 2, 1), ("b", 4, 1), ("d", 1, 2)] {
                for n in 0..left {
                    harness.left(n, key, 5);
                }
                for n in 0..right {
                    harness.right(200 + n, key, 5);
                }
            }
            let largest = harness.join.largest_keys(3);
            let expected = [(KeyValue(text("b")), 5), (KeyValue(text("a")), 3), (KeyValue(text("d")), 3)];
            assert_eq!(largest, expected, "{config:?}");
            assert_eq!(harness.join.largest_keys(10).len(), 4);
            assert!(harness.join.largest_keys(0).is_empty());
        }
    }

    #[test]
    fn the_output_delay_covers_the_bounds_of_an_interval_join() {
        let delay = |config| JoinState::new(config).output_delay();
        assert_eq!(delay(interval(-3, 5, false)), 5);
        assert_eq!(delay(interval(-7, 2, false)), 7);
        assert_eq!(delay(interval(2, 5, false)), 5);
        assert_eq!(delay(interval(-5, -2, false)), 5);
        assert_eq!(delay(interval(0, 0, false)), 0);
        assert_eq!(delay(interval(i64::MIN, 0, false)), i64::MAX);
        assert_eq!(delay(tumbling(10, false)), 0);
        assert_eq!(delay(unbounded()), 0);
    }

    #[test]
    fn times_and_bounds_at_the_ends_of_the_range_do_not_overflow() {
        let mut harness = Harness::new(interval(i64::MIN, i64::MAX, true));
        harness.left(1, "k", i64::MIN);
        harness.left(2, "k", i64::MAX);
        harness.right(201, "k", -1);
        harness.right(202, "k", i64::MAX);
        harness.watermark(i64::MAX - 1);
        harness.watermark(i64::MAX);
        assert_eq!(harness.take_sorted(), [pair(1, 201), pair(2, 201), pair(2, 202)]);
        assert_eq!(harness.join.size(), JoinStateSize::default());

        // i64::MIN is 2 above a multiple of 10: its window starts 2 ns before
        // time does, and i64::MAX's ends 3 ns after; both are named by the
        // ends of the range.
        let mut harness = Harness::new(tumbling(10, true));
        for (id, ts) in [(1, i64::MIN), (2, i64::MIN + 4), (3, i64::MAX)] {
            assert_eq!(harness.left(id, "k", ts), Arrival::Kept);
        }
        harness.right(201, "k", i64::MAX - 1);
        harness.watermark(i64::MAX);
        let (first, last) = ((i64::MIN, i64::MIN + 8), (i64::MAX - 7, i64::MAX));
        assert_eq!(
            harness.take(),
            [Out::Miss(Some(first), 1), Out::Miss(Some(first), 2), Out::Pair(Some(last), 3, 201)]
        );
        assert_eq!(harness.join.size(), JoinStateSize::default());

        let mut harness = Harness::new(sliding(10, 3, true));
        for (id, ts) in [(1, i64::MIN), (2, i64::MIN + 4), (3, i64::MAX)] {
            assert_eq!(harness.left(id, "k", ts), Arrival::Kept);
        }
        harness.right(201, "k", i64::MAX - 1);
        harness.watermark(i64::MAX);
        let out = harness.take();
        let count = |wanted: &dyn Fn(&Out) -> bool| out.iter().filter(|out| wanted(out)).count();
        assert_eq!(count(&|out| matches!(out, Out::Miss(_, 1))), 3, "{out:?}");
        assert_eq!(count(&|out| matches!(out, Out::Miss(_, 2))), 3, "{out:?}");
        assert_eq!(count(&|out| matches!(out, Out::Pair(_, 3, 201))), 3, "{out:?}");
        assert_eq!(out.len(), 9, "{out:?}");
        assert_eq!(harness.join.size(), JoinStateSize::default());
    }

    fn inputs(first: i64, ids: i64) -> impl Strategy<Value = Vec<Input>> {
        proptest::collection::vec((0..3u8, 0..4i64), 0..12).prop_map(move |steps| {
            let mut ts = first;
            steps
                .into_iter()
                .enumerate()
                .map(|(n, (key, step))| {
                    ts += step;
                    Input { id: ids + n as i64, key: ["a", "b", "c"][key as usize].to_string(), ts }
                })
                .collect()
        })
    }

    fn join_config() -> impl Strategy<Value = JoinConfig> {
        let time = prop_oneof![
            (-6i64..6, 0i64..8).prop_map(|(lower, width)| JoinTime::Interval { lower, upper: lower + width }),
            (1i64..8).prop_map(|size_nanos| JoinTime::Window(WindowKind::Tumbling { size_nanos })),
            (1i64..8, 1i64..8).prop_map(|(size_nanos, slide_nanos)| {
                JoinTime::Window(WindowKind::Sliding { size_nanos, slide_nanos })
            }),
            Just(JoinTime::Unbounded),
        ];
        (time, any::<bool>()).prop_map(|(time, outer)| {
            let left_outer = outer && time != JoinTime::Unbounded;
            config(time, left_outer)
        })
    }

    fn schedule() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(prop_oneof![Just(Step::Left), Just(Step::Right), Just(Step::Watermark)], 0..60)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any interleaving of the two sides and of watermarks gives what the
        /// nested-loop join gives, and no row is late.
        #[test]
        fn joins_agree_with_a_nested_loop_whatever_the_interleaving(
            config in join_config(),
            residual in 0..3usize,
            left in (-8i64..8).prop_flat_map(|first| inputs(first, 0)),
            right in (-8i64..8).prop_flat_map(|first| inputs(first, 1_000)),
            schedule in schedule(),
        ) {
            let residual = [accept_all, accept_none, accept_some][residual];
            let (out, arrivals) = run(config.clone(), residual, &left, &right, &schedule);
            prop_assert_eq!(out, oracle(&config, residual, &left, &right));
            for (id, arrival) in arrivals {
                let ts = left.iter().chain(&right).find(|row| row.id == id).expect("an input").ts;
                let in_no_window = match config.time {
                    JoinTime::Window(WindowKind::Sliding { size_nanos, slide_nanos }) => {
                        oracle_windows(ts, size_nanos, slide_nanos).is_empty()
                    }
                    _ => false,
                };
                prop_assert_eq!(arrival == Arrival::Late, in_no_window, "row {} at {}", id, ts);
            }
        }
    }
}
