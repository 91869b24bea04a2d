//! Property tests of the keyed operators whose output depends on how
//! records meet: session windows, which merge as records arrive, against
//! sessions cut from each key's sorted times; `top`, whose last record
//! per key and rank must be the key's first records in its order; and the
//! typed state of windows and `aggregate` (`key_table.rs`), which must
//! emit what the `Value` maps emit.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use crate::check::functions::AggregateFunction;
use crate::check::program::{Aggregate, TypedExpr, TypedExprKind, Value, WindowKind};
use crate::check::types::{Field, RecordType, Type};
use crate::compile::backend::{Backend, Interpreter};
use crate::compile::row::Batch;
use crate::diag::Span;

use super::keyed::KeyedInputs;
use super::operator::{Emit, StatefulOperator};
use super::session::SessionOperator;
use super::top::TopOperator;
use super::window::{AggregateOperator, WindowOperator};

/// `(k, v, ts)`.
type Row = (i64, i64, i64);
/// Rows, then the watermark that follows them.
type Chunk = (Vec<Row>, i64);

fn record() -> Arc<RecordType> {
    RecordType::new(vec![
        Field { name: "k".into(), ty: Type::Int },
        Field { name: "v".into(), ty: Type::Int },
        Field { name: "ts".into(), ty: Type::Timestamp },
    ])
}

fn field(index: usize, ty: Type) -> TypedExpr {
    TypedExpr { kind: TypedExprKind::Field(index), ty, span: Span::new(0, 0) }
}

fn aggregate(function: AggregateFunction, arg: Option<TypedExpr>) -> Aggregate {
    Aggregate { function, arg, filter: None, ty: Type::Int, span: Span::new(0, 0) }
}

fn batch(record: &RecordType, rows: &[(i64, i64, i64)]) -> Batch {
    let mut batch = Batch::new(record);
    for &(k, v, ts) in rows {
        batch.push_values(record, &[Value::Int(k), Value::Int(v), Value::Timestamp(ts)]);
    }
    batch
}

/// Feeds `chunks` of rows, each followed by a watermark, then the end of
/// input; returns every row emitted.
fn run(operator: &mut dyn StatefulOperator, output: &Arc<RecordType>, chunks: &[Chunk]) -> Vec<Vec<Value>> {
    let input = record();
    let mut rows = Batch::new(output);
    let mut emitted: Vec<Vec<Value>> = Vec::new();
    let end = (Vec::new(), i64::MAX);
    for (chunk, watermark) in chunks.iter().chain(std::iter::once(&end)) {
        {
            let mut collect = |batch: &Batch| {
                emitted.extend((0..batch.len()).map(|row| batch.row(row, output).values()));
                Ok(())
            };
            let mut emit = Emit::new(&mut rows, &mut collect);
            operator.push(0, &batch(&input, chunk), &mut emit).expect("no evaluation error");
            operator.advance_watermark(*watermark, &mut emit).expect("no evaluation error");
        }
        emitted.extend((0..rows.len()).map(|row| rows.row(row, output).values()));
        rows.clear();
    }
    emitted
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int(v) | Value::Timestamp(v) => *v,
        other => panic!("not an int: {other:?}"),
    }
}

/// Each key's sessions: its sorted times cut where two are more than `gap`
/// apart; `(key, start, end, count, sum of v, distinct v)`.
fn oracle_sessions(rows: &[(i64, i64, i64)], gap: i64) -> Vec<(i64, i64, i64, i64, i64, i64)> {
    let mut by_key: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for &(k, v, ts) in rows {
        by_key.entry(k).or_default().push((ts, v));
    }
    let mut sessions = Vec::new();
    for (k, mut records) in by_key {
        records.sort();
        let mut current: Vec<(i64, i64)> = Vec::new();
        let mut close = |current: &mut Vec<(i64, i64)>| {
            if let (Some(first), Some(last)) = (current.first(), current.last()) {
                let mut distinct: Vec<i64> = current.iter().map(|r| r.1).collect();
                distinct.sort();
                distinct.dedup();
                let sum = current.iter().map(|r| r.1).sum();
                sessions.push((k, first.0, last.0 + gap, current.len() as i64, sum, distinct.len() as i64));
            }
            current.clear();
        };
        for record in records {
            if current.last().is_some_and(|last| record.0 - last.0 > gap) {
                close(&mut current);
            }
            current.push(record);
        }
        close(&mut current);
    }
    sessions.sort();
    sessions
}

fn session_operator(gap: i64) -> (SessionOperator, Arc<RecordType>) {
    let input = record();
    let backend = Interpreter;
    let aggregates = vec![
        aggregate(AggregateFunction::Count, None),
        aggregate(AggregateFunction::Sum, Some(field(1, Type::Int))),
        aggregate(AggregateFunction::CountDistinct, Some(field(1, Type::Int))),
    ];
    let args = aggregates.iter().map(|a| a.arg.as_ref().map(|arg| backend.scalar(arg, &input))).collect();
    let filters = aggregates.iter().map(|_| None).collect();
    let inputs = KeyedInputs::new(backend.scalar(&field(0, Type::Int), &input), Type::Int, aggregates, args, filters);
    let output = RecordType::new(vec![
        Field { name: "k".into(), ty: Type::Int },
        Field { name: "window_start".into(), ty: Type::Timestamp },
        Field { name: "window_end".into(), ty: Type::Timestamp },
        Field { name: "n".into(), ty: Type::Int },
        Field { name: "total".into(), ty: Type::Int },
        Field { name: "distinct".into(), ty: Type::Int },
    ]);
    (SessionOperator::new(gap, 2, inputs, input, output.clone()), output)
}

/// Records in an order at most `disorder` behind the latest time, cut into
/// chunks, each followed by a watermark `disorder` behind the latest time
/// so far: no record is late.
fn chunks_in_bounded_disorder(rows: &[(i64, i64, i64)], cut: usize, disorder: i64) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut latest = i64::MIN;
    for chunk in rows.chunks(cut.max(1)) {
        latest = chunk.iter().map(|r| r.2).fold(latest, i64::max);
        chunks.push((chunk.to_vec(), latest - disorder - 1));
    }
    chunks
}

fn rows_strategy() -> impl Strategy<Value = Vec<(i64, i64, i64)>> {
    prop::collection::vec((0i64..3, 0i64..5, 0i64..120), 0..60)
}

proptest! {
    #[test]
    fn sessions_merge_as_records_arrive_into_the_sessions_of_sorted_times(
        rows in rows_strategy(),
        gap in 1i64..15,
        cut in 1usize..8,
        shuffle in any::<u64>(),
    ) {
        // In order of time plus a jitter of up to 20: a record arrives after
        // no record more than 20 later than itself.
        let disorder = 20;
        let mut arriving: Vec<(i64, (i64, i64, i64))> = rows
            .iter()
            .enumerate()
            .map(|(i, &row)| {
                let jitter = crate::compile::builtins::mix64(shuffle ^ i as u64) % (disorder as u64 + 1);
                (row.2 + jitter as i64, row)
            })
            .collect();
        arriving.sort_by_key(|(due, _)| *due);
        let arriving: Vec<(i64, i64, i64)> = arriving.into_iter().map(|(_, row)| row).collect();
        let (mut operator, output) = session_operator(gap);
        let emitted = run(&mut operator, &output, &chunks_in_bounded_disorder(&arriving, cut, disorder));
        let mut got: Vec<(i64, i64, i64, i64, i64, i64)> = emitted
            .iter()
            .map(|row| (int(&row[0]), int(&row[1]), int(&row[2]), int(&row[3]), int(&row[4]), int(&row[5])))
            .collect();
        got.sort();
        prop_assert_eq!(got, oracle_sessions(&rows, gap));
        prop_assert_eq!(operator.state().entries, 0, "every session closed at the end of input");
    }

    #[test]
    fn the_last_record_per_key_and_rank_is_the_keys_top(
        rows in rows_strategy(),
        count in 1usize..5,
        cut in 1usize..8,
    ) {
        let input = record();
        let backend = Interpreter;
        let output = RecordType::new(vec![
            Field { name: "k".into(), ty: Type::Int },
            Field { name: "v".into(), ty: Type::Int },
            Field { name: "ts".into(), ty: Type::Timestamp },
            Field { name: "rank".into(), ty: Type::Int },
        ]);
        // By `v` descending, then `ts` ascending; equal pairs by arrival.
        let order = vec![(backend.scalar(&field(1, Type::Int), &input), true), (backend.scalar(&field(2, Type::Timestamp), &input), false)];
        let mut operator = TopOperator::new(backend.scalar(&field(0, Type::Int), &input), order, count, input, output.clone());
        let chunks: Vec<Chunk> = rows.chunks(cut).map(|c| (c.to_vec(), i64::MIN)).collect();
        let emitted = run(&mut operator, &output, &chunks);
        let mut last: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
        for row in &emitted {
            let rank = int(&row[3]);
            prop_assert!(rank >= 1 && rank as usize <= count, "rank {} of {}", rank, count);
            last.insert((int(&row[0]), rank), (int(&row[0]), int(&row[1]), int(&row[2])));
        }
        let mut expected: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
        let mut by_key: BTreeMap<i64, Vec<(i64, i64, i64)>> = BTreeMap::new();
        for &row in &rows {
            by_key.entry(row.0).or_default().push(row);
        }
        for (k, mut records) in by_key {
            // A stable sort keeps arrival order among equals.
            records.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
            for (index, record) in records.into_iter().take(count).enumerate() {
                expected.insert((k, index as i64 + 1), record);
            }
        }
        prop_assert_eq!(last, expected);
    }
}

/// `(k, v, f, b, ts)`: the typed-state test's records.
type WideRow = (i64, i64, f64, bool, i64);

fn wide_record() -> Arc<RecordType> {
    RecordType::of(&[
        ("k", Type::Int),
        ("v", Type::Int),
        ("f", Type::Float),
        ("b", Type::Bool),
        ("ts", Type::Timestamp),
    ])
}

/// Every aggregate a `KeyTable` slot holds, over the wide record, with a
/// filter on some; keyed by `k` (an int) or `f` (a float).
fn typed_aggregates() -> Vec<Aggregate> {
    use AggregateFunction::{Avg, Count, Max, Min, Sum};
    let int = || Some(field(1, Type::Int));
    let float = || Some(field(2, Type::Float));
    let typed = |function, arg: Option<TypedExpr>, ty, filtered: bool| Aggregate {
        function,
        arg,
        filter: filtered.then(|| field(3, Type::Bool)),
        ty,
        span: Span::new(0, 0),
    };
    vec![
        typed(Count, None, Type::Int, false),
        typed(Count, None, Type::Int, true),
        typed(Sum, int(), Type::Int, false),
        typed(Sum, float(), Type::Float, true),
        typed(Min, int(), Type::Int, true),
        typed(Max, int(), Type::Int, false),
        typed(Min, float(), Type::Float, false),
        typed(Max, float(), Type::Float, true),
        typed(Avg, int(), Type::Float, true),
        typed(Avg, float(), Type::Float, false),
    ]
}

/// A window or aggregate over the wide record, on the typed tables or
/// (`generic`) on the `Value` maps.
fn wide_operator(
    kind: Option<WindowKind>,
    key_index: usize,
    generic: bool,
) -> (Box<dyn StatefulOperator>, Arc<RecordType>) {
    let input = wide_record();
    let backend = Interpreter;
    let aggregates = typed_aggregates();
    let key_type = input.fields()[key_index].ty;
    let args = aggregates.iter().map(|a| a.arg.as_ref().map(|arg| backend.scalar(arg, &input))).collect();
    let filters = aggregates.iter().map(|a| a.filter.as_ref().map(|f| backend.scalar(f, &input))).collect();
    let inputs = KeyedInputs::new(
        backend.scalar(&field(key_index, key_type), &input),
        key_type,
        aggregates.clone(),
        args,
        filters,
    );
    assert!(inputs.layout.is_some(), "every aggregate here fits a slot");
    let inputs = if generic { inputs.without_layout() } else { inputs };
    let mut fields = vec![Field { name: "key".into(), ty: key_type }];
    if kind.is_some() {
        fields.push(Field { name: "window_start".into(), ty: Type::Timestamp });
        fields.push(Field { name: "window_end".into(), ty: Type::Timestamp });
    }
    fields.extend(aggregates.iter().enumerate().map(|(i, a)| Field { name: format!("a{i}"), ty: a.ty }));
    let output = RecordType::new(fields);
    let operator: Box<dyn StatefulOperator> = match kind {
        Some(kind) => Box::new(WindowOperator::new(kind, 4, inputs, input, output.clone())),
        None => Box::new(AggregateOperator::new(inputs, output.clone())),
    };
    (operator, output)
}

/// Feeds `chunks` of wide rows, each followed by its watermark; every row
/// emitted, as text (so NaNs compare).
fn run_wide(
    operator: &mut dyn StatefulOperator,
    output: &Arc<RecordType>,
    chunks: &[(Vec<WideRow>, i64)],
) -> Vec<String> {
    let input = wide_record();
    let mut rows = Batch::new(output);
    let mut emitted = Vec::new();
    let end = (Vec::new(), i64::MAX);
    for (chunk, watermark) in chunks.iter().chain(std::iter::once(&end)) {
        let mut batch = Batch::new(&input);
        for &(k, v, f, b, ts) in chunk {
            batch.push_values(
                &input,
                &[Value::Int(k), Value::Int(v), Value::Float(f), Value::Bool(b), Value::Timestamp(ts)],
            );
        }
        {
            let mut collect = |batch: &Batch| {
                emitted.extend((0..batch.len()).map(|row| format!("{:?}", batch.row(row, output).values())));
                Ok(())
            };
            let mut emit = Emit::new(&mut rows, &mut collect);
            operator.push(0, &batch, &mut emit).expect("no evaluation error");
            operator.advance_watermark(*watermark, &mut emit).expect("no evaluation error");
        }
        emitted.extend((0..rows.len()).map(|row| format!("{:?}", rows.row(row, output).values())));
        rows.clear();
    }
    emitted
}

fn wide_rows_strategy() -> impl Strategy<Value = Vec<WideRow>> {
    let float = prop_oneof![
        8 => (-4i64..4).prop_map(|v| v as f64 * 0.5),
        1 => Just(-0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
    ];
    prop::collection::vec((-3i64..4, i64::MIN..i64::MAX, float, any::<bool>(), 0i64..200), 0..80)
}

proptest! {
    #[test]
    fn typed_state_emits_what_the_value_maps_emit(
        rows in wide_rows_strategy(),
        small_values in any::<bool>(),
        kind in 0usize..3,
        float_key in any::<bool>(),
        size in 1i64..40,
        slide in 1i64..40,
        cut in 1usize..9,
        late in 0i64..30,
    ) {
        // Small values, or values anywhere (sums wrap, averages take i128).
        let rows: Vec<WideRow> =
            rows.into_iter().map(|(k, v, f, b, ts)| (k, if small_values { v % 7 } else { v }, f, b, ts)).collect();
        let kind = match kind {
            0 => Some(WindowKind::Tumbling { size_nanos: size }),
            1 => Some(WindowKind::Sliding { size_nanos: size.max(slide), slide_nanos: slide }),
            _ => None,
        };
        let key_index = if float_key { 2 } else { 0 };
        // Watermarks that trail the latest time by `late`, so some records are late.
        let mut latest = i64::MIN;
        let chunks: Vec<(Vec<WideRow>, i64)> = rows
            .chunks(cut)
            .map(|chunk| {
                latest = chunk.iter().map(|r| r.4).fold(latest, i64::max);
                (chunk.to_vec(), latest - late)
            })
            .collect();
        let (mut typed, output) = wide_operator(kind, key_index, false);
        let (mut generic, _) = wide_operator(kind, key_index, true);
        prop_assert_eq!(run_wide(typed.as_mut(), &output, &chunks), run_wide(generic.as_mut(), &output, &chunks));
        prop_assert_eq!(typed.state().entries, generic.state().entries);
    }
}
