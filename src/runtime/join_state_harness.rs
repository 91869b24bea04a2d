//! The join state machines' test harness: records, configurations, a
//! driver that runs a sequence of steps, and the nested-loop oracle.
use super::super::*;
pub(super) const SECOND: i64 = 1_000_000_000;
/// 2026-01-15T00:00:00Z, the day of the Flink example's times.
pub(super) const DAY: i64 = 1_768_435_200 * SECOND;

pub(super) fn text(value: &str) -> Value {
    Value::Str(Arc::from(value))
}

/// Left rows are `(id, key, ts)`, right rows `(ts, id, key)`: the time
/// field's index differs between the sides, as it may in a program.
pub(super) fn record(side: Side, id: i64, key: &str, ts: i64) -> Vec<Value> {
    match side {
        Side::Left => vec![Value::Int(id), text(key), Value::Timestamp(ts)],
        Side::Right => vec![Value::Timestamp(ts), Value::Int(id), text(key)],
    }
}

pub(super) fn id_of(side: Side, values: &[Value]) -> i64 {
    let field = match side {
        Side::Left => 0,
        Side::Right => 1,
    };
    match &values[field] {
        Value::Int(id) => *id,
        other => panic!("no id: {other:?}"),
    }
}

pub(super) fn config(time: JoinTime, left_outer: bool) -> JoinConfig {
    JoinConfig { time, left_outer, left_time: 2, right_time: 0 }
}

pub(super) fn interval(lower: i64, upper: i64, left_outer: bool) -> JoinConfig {
    config(JoinTime::Interval { lower, upper }, left_outer)
}

pub(super) fn tumbling(size_nanos: i64, left_outer: bool) -> JoinConfig {
    config(JoinTime::Window(WindowKind::Tumbling { size_nanos }), left_outer)
}

pub(super) fn sliding(size_nanos: i64, slide_nanos: i64, left_outer: bool) -> JoinConfig {
    config(JoinTime::Window(WindowKind::Sliding { size_nanos, slide_nanos }), left_outer)
}

pub(super) fn unbounded() -> JoinConfig {
    config(JoinTime::Unbounded, false)
}

/// What the join emitted, by the rows' ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Out {
    Pair(Option<(i64, i64)>, i64, i64),
    Miss(Option<(i64, i64)>, i64),
}

pub(super) fn pair(left: i64, right: i64) -> Out {
    Out::Pair(None, left, right)
}

pub(super) fn miss(left: i64) -> Out {
    Out::Miss(None, left)
}

impl Out {
    pub(super) fn of(joined: Joined<'_>) -> Out {
        match joined {
            Joined::Pair { window, left, right } => {
                Out::Pair(window, id_of(Side::Left, left), id_of(Side::Right, right))
            }
            Joined::Unmatched { window, left } => Out::Miss(window, id_of(Side::Left, left)),
        }
    }
}

pub(super) fn accept_all(_: i64, _: i64) -> bool {
    true
}

pub(super) fn accept_none(_: i64, _: i64) -> bool {
    false
}

pub(super) fn accept_some(left: i64, right: i64) -> bool {
    (left * 7 + right * 3) % 3 != 0
}

/// A join, the residual predicate over the pair's ids, and what came out;
/// every call checks the incremental size against a recount.
pub(super) struct Harness {
    pub(super) join: JoinState,
    pub(super) residual: fn(i64, i64) -> bool,
    pub(super) out: Vec<Out>,
    /// Recount after every row, not only after watermarks: quadratic in a big test.
    pub(super) recount_rows: bool,
}

impl Harness {
    pub(super) fn new(config: JoinConfig) -> Harness {
        Harness::with_residual(config, accept_all)
    }

    pub(super) fn with_residual(config: JoinConfig, residual: fn(i64, i64) -> bool) -> Harness {
        Harness { join: JoinState::new(config), residual, out: Vec::new(), recount_rows: true }
    }

    pub(super) fn push(&mut self, side: Side, id: i64, key: &str, ts: i64) -> Arrival {
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

    pub(super) fn left(&mut self, id: i64, key: &str, ts: i64) -> Arrival {
        self.push(Side::Left, id, key, ts)
    }

    pub(super) fn right(&mut self, id: i64, key: &str, ts: i64) -> Arrival {
        self.push(Side::Right, id, key, ts)
    }

    pub(super) fn watermark(&mut self, watermark: i64) {
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
    pub(super) fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    pub(super) fn take_sorted(&mut self) -> Vec<Out> {
        let mut out = self.take();
        out.sort();
        out
    }
}

#[derive(Debug, Clone)]
pub(super) struct Input {
    pub(super) id: i64,
    pub(super) key: String,
    pub(super) ts: i64,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    Left,
    Right,
    Watermark,
}

/// Feeds `left` and `right` (each in time order) as `schedule` picks; a
/// side with nothing left is skipped. The watermark, when the schedule
/// calls for one, is the lower of the sides' watermarks, as the
/// runtime's would be: a side's is its highest time so far, `i64::MAX`
/// once it has sent everything. The rest of both inputs follow, then the
/// end of input. Returns what came out, sorted, and each row's arrival.
pub(super) fn run(
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
            Step::Watermark => {
                let side_watermark = |next, len, highest| if next == len { i64::MAX } else { highest };
                let left_watermark = side_watermark(next_left, left.len(), left_watermark);
                harness.watermark(left_watermark.min(side_watermark(next_right, right.len(), right_watermark)))
            }
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
pub(super) fn oracle_windows(ts: i64, size: i64, slide: i64) -> Vec<(i64, i64)> {
    let first = (ts - size).div_euclid(slide) - 1;
    let last = ts.div_euclid(slide) + 1;
    (first..=last).map(|n| (n * slide, n * slide + size)).filter(|&(start, end)| start <= ts && ts < end).collect()
}

/// The nested-loop join: every pair of rows checked against the definitions.
pub(super) fn oracle(config: &JoinConfig, residual: fn(i64, i64) -> bool, left: &[Input], right: &[Input]) -> Vec<Out> {
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
                    WindowKind::Session { .. } => unreachable!("no session joins"),
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
pub(super) fn flink_example() -> (Vec<Input>, Vec<Input>) {
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
pub(super) fn interleavings(left: &[Input], right: &[Input]) -> Vec<Vec<Step>> {
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

pub(super) fn at(seconds: i64) -> i64 {
    DAY + seconds * SECOND
}

pub(super) fn window_pair(start: i64, end: i64, left: i64, right: i64) -> Out {
    Out::Pair(Some((at(start), at(end))), left, right)
}

pub(super) fn window_miss(start: i64, end: i64, left: i64) -> Out {
    Out::Miss(Some((at(start), at(end))), left)
}

pub(super) fn sorted(mut out: Vec<Out>) -> Vec<Out> {
    out.sort();
    out
}
