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
//! covers it, windows starting at multiples of the slide (as in
//! `window.rs`). Rows wait in their windows; when the watermark reaches a
//! window's end, its pairs are emitted, keys ascending, then left rows,
//! then right rows in arrival order, and the window is gone. A row whose
//! every window has fired is late (so is one in a gap between sliding
//! windows, as in `window.rs`). A pair that shares two sliding windows is
//! emitted once in each, as in Flink.
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

/// The residual predicate `accept(left, right)` over a candidate pair.
pub type Residual<'a> = dyn FnMut(&[Value], &[Value]) -> Result<bool, EvalError> + 'a;

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

/// What a join holds: its rows on each side (a row shared by several
/// sliding windows once), the keys that have rows, and an estimate of the
/// memory they take.
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

/// One join subtask's state: the rows of both sides that may still join.
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
                    state: JoinStateSize::default(),
                })
            }
            JoinTime::Window(kind) => {
                let (size_nanos, slide_nanos) = match kind {
                    WindowKind::Tumbling { size_nanos } => (size_nanos, size_nanos),
                    WindowKind::Sliding { size_nanos, slide_nanos } => (size_nanos, slide_nanos),
                    WindowKind::Session { .. } => unreachable!("check refuses session joins"),
                };
                assert!(size_nanos > 0 && slide_nanos > 0, "a join window of {size_nanos} ns every {slide_nanos} ns");
                Held::Window(WindowRows {
                    size_nanos,
                    slide_nanos,
                    left_outer,
                    time_fields,
                    windows: BTreeMap::new(),
                    rows_per_key: KeyMap::default(),
                    state: JoinStateSize::default(),
                })
            }
            JoinTime::Unbounded => {
                // Nothing ever tells a regular join that a left row will stay unmatched.
                assert!(!left_outer, "a left outer join needs a time bound");
                Held::Unbounded(UnboundedRows { keys: KeyMap::default(), state: JoinStateSize::default() })
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
        accept: &mut Residual<'_>,
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
        accept: &mut Residual<'_>,
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

    /// Kept as rows come and go: free to ask at every sample.
    pub fn size(&self) -> JoinStateSize {
        match &self.held {
            Held::Interval(rows) => rows.state,
            Held::Window(rows) => rows.state,
            Held::Unbounded(rows) => rows.state,
        }
    }

    /// How far the join holds its output watermark behind its input watermark so that no row it emits later is late downstream on either side's time field: max(upper, -lower, 0) for an interval join, 0 otherwise.
    pub fn output_delay(&self) -> i64 {
        match &self.held {
            Held::Interval(rows) => rows.upper.max(rows.lower.saturating_neg()).max(0),
            Held::Window(_) | Held::Unbounded(_) => 0,
        }
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
    state: JoinStateSize,
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
    /// right rows up to `l.ts + upper` join a left row, left rows up to `r.ts - lower` a right one.
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
        accept: &mut Residual<'_>,
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
            self.state.add_key(key_bytes::<IntervalKey>(vacant.key()));
        }
        // The index shares the held key's text rather than keeping another copy.
        let key = entry.key().clone();
        self.state.add_row(side, interval_row_bytes(&row.values));
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
                self.state.remove_row(side, interval_row_bytes(&row.values));
                if held.row_count() == 0 {
                    self.keys.remove(&key);
                    self.state.remove_key(key_bytes::<IntervalKey>(&key));
                }
                if side == Side::Left && self.left_outer && !row.matched {
                    emit(Joined::Unmatched { window: None, left: &row.values });
                }
            }
        }
    }
}

/// One key's rows in one window, each side in arrival order, shared with the row's other windows.
type WindowKeyRows = PerSide<Vec<Arc<[Value]>>>;

/// The rows of a window join.
struct WindowRows {
    size_nanos: i64,
    slide_nanos: i64,
    left_outer: bool,
    time_fields: PerSide<usize>,
    /// Open windows by `(end, start)`, the order they fire in, each with its keys' rows.
    windows: BTreeMap<(i64, i64), KeyMap<WindowKeyRows>>,
    /// Each key's rows over all open windows, a row once however many windows share it.
    rows_per_key: KeyMap<PerSide<u64>>,
    state: JoinStateSize,
}

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

    /// The window of `ts` that fires last: the row leaves the state with it.
    /// By start and end, as the start alone is `i64::MIN` for several windows.
    fn last_window(&self, ts: i64) -> Option<(i64, i64)> {
        self.windows_covering(ts).next()
    }

    fn push(&mut self, row: Arriving, watermark: i64) -> Arrival {
        let Arriving { side, key, values, arrival: _ } = row;
        let ts = event_time(&values, self.time_fields[side]);
        // Windows end earlier the further back they start: if the last to fire
        // has fired, all have, and the open ones come first.
        match self.last_window(ts) {
            Some((_, end)) if end > watermark => {}
            _ => return Arrival::Late,
        }
        let entry = self.rows_per_key.entry(key);
        if let Entry::Vacant(vacant) = &entry {
            self.state.add_key(key_bytes::<PerSide<u64>>(vacant.key()));
        }
        let key = entry.key().clone();
        entry.or_default()[side] += 1;
        let values: Arc<[Value]> = Arc::from(values);
        self.state.add_row(side, window_row_bytes(&values));
        for (start, end) in self.windows_covering(ts).take_while(|&(_, end)| end > watermark) {
            let keys = self.windows.entry((end, start)).or_insert_with(|| {
                self.state.bytes += tree_entry_bytes::<((i64, i64), KeyMap<WindowKeyRows>)>();
                KeyMap::default()
            });
            let rows = keys.entry(key.clone()).or_insert_with(|| {
                self.state.bytes += hash_entry_bytes::<(KeyValue, WindowKeyRows)>();
                PerSide::default()
            });
            rows[side].push(values.clone());
            self.state.bytes += size_of::<Arc<[Value]>>() as u64;
        }
        Arrival::Kept
    }

    fn fire(
        &mut self,
        watermark: i64,
        accept: &mut Residual<'_>,
        emit: &mut dyn FnMut(Joined<'_>),
    ) -> Result<(), EvalError> {
        while let Some(entry) = self.windows.first_entry() {
            let (end, start) = *entry.key();
            if end > watermark {
                break;
            }
            let mut keys: Vec<(KeyValue, WindowKeyRows)> = entry.remove().into_iter().collect();
            self.state.bytes -= tree_entry_bytes::<((i64, i64), KeyMap<WindowKeyRows>)>();
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
                self.release(key, (start, end), rows);
            }
        }
        Ok(())
    }

    /// Forgets one key's rows of a fired window; a row whose last window this
    /// was leaves the state.
    fn release(&mut self, key: KeyValue, window: (i64, i64), rows: WindowKeyRows) {
        self.state.bytes -=
            hash_entry_bytes::<(KeyValue, WindowKeyRows)>() + rows.total_len() * size_of::<Arc<[Value]>>() as u64;
        let mut gone = PerSide([0u64; 2]);
        for side in [Side::Left, Side::Right] {
            for values in &rows[side] {
                if self.last_window(event_time(values, self.time_fields[side])) == Some(window) {
                    self.state.remove_row(side, window_row_bytes(values));
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
            self.state.remove_key(key_bytes::<PerSide<u64>>(&key));
        }
    }
}

/// The rows of a regular join, per key and side in arrival order.
struct UnboundedRows {
    keys: KeyMap<PerSide<Vec<Vec<Value>>>>,
    state: JoinStateSize,
}

fn unbounded_row_bytes(values: &[Value]) -> u64 {
    values_bytes(values) + size_of::<Vec<Value>>() as u64
}

impl UnboundedRows {
    fn push(
        &mut self,
        row: Arriving,
        accept: &mut Residual<'_>,
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
            self.state.add_key(key_bytes::<PerSide<Vec<Vec<Value>>>>(vacant.key()));
        }
        self.state.add_row(side, unbounded_row_bytes(&values));
        entry.or_default()[side].push(values);
        Ok(())
    }
}

#[cfg(test)]
#[path = "join_state_tests.rs"]
mod tests;
