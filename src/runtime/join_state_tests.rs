//! Tests of the join state machines: the Flink example under several
//! interleavings, bounds, lateness, eviction, left-outer misses, emission
//! order, state size, and a property test against a nested-loop oracle.
use super::*;
use crate::diag::Span;
use proptest::prelude::*;
#[path = "join_state_harness.rs"]
mod harness;
use harness::*;

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

    // Around the left row: 3 ns before it to 2 ns after, either arrival order.
    let candidates = [(201, 96), (202, 97), (203, 102), (204, 103)];
    let mut harness = Harness::new(interval(-3, 2, false));
    harness.right(201, "k", 96);
    harness.right(202, "k", 97);
    harness.left(1, "k", 100);
    harness.right(203, "k", 102);
    harness.right(204, "k", 103);
    assert_eq!(harness.take(), [pair(1, 202), pair(1, 203)]);
    let mut harness = Harness::new(interval(-3, 2, false));
    for (id, ts) in candidates {
        harness.right(id, "k", ts);
    }
    harness.left(1, "k", 100);
    assert_eq!(harness.take(), [pair(1, 202), pair(1, 203)]);
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
    // upper = -2: a left row joins right rows up to l.ts - 2, so from a
    // watermark of 9 on, one at 10 can join no right row to come.
    let mut harness = Harness::new(interval(-5, -2, true));
    harness.right(201, "k", 7);
    harness.watermark(9);
    assert_eq!(harness.left(1, "k", 10), Arrival::Kept);
    assert_eq!(harness.left(2, "other", 10), Arrival::Kept);
    assert_eq!(harness.take(), [pair(1, 201), miss(2)], "the unmatched one is a miss at once");
    assert_eq!(harness.join.size().left_rows, 0);
    assert_eq!(harness.left(3, "k", 12), Arrival::Kept);
    assert_eq!(harness.join.size().left_rows, 1, "a right row at 9 or 10 could still join it");
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
            both.sort_by_key(|(key, _)| KeyValue(text(key)));
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
        join.push(Side::Left, KeyValue(text("k")), record(Side::Left, 1, "k", 0), &mut failing, &mut |_| {}).unwrap();
        let pushed =
            join.push(Side::Right, KeyValue(text("k")), record(Side::Right, 201, "k", 5), &mut failing, &mut |_| {});
        assert_eq!(pushed, Err(error.clone()));
    }
    let mut join = JoinState::new(tumbling(10, false));
    join.push(Side::Left, KeyValue(text("k")), record(Side::Left, 1, "k", 0), &mut failing, &mut |_| {}).unwrap();
    join.push(Side::Right, KeyValue(text("k")), record(Side::Right, 201, "k", 5), &mut failing, &mut |_| {}).unwrap();
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
fn the_state_can_move_to_a_subtask_thread() {
    fn movable<T: Send>() {}
    movable::<JoinState>();
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
    assert_eq!(harness.take(), [Out::Miss(Some(first), 1), Out::Miss(Some(first), 2), Out::Pair(Some(last), 3, 201)]);
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
    proptest::collection::vec((0..3u8, 0..3i64), 0..12).prop_map(move |steps| {
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
    #![proptest_config(ProptestConfig::with_cases(4096))]

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
                                if rows.last_window(ts) == Some((start, end)) {
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
