//! `top N by … ` in a running chain: each key's first `N` records in the
//! operator's order, as Flink's append-only Top-N keeps them, and an
//! update for every rank whose record changed.
//!
//! A record that sorts before the key's `N`th (or arrives while the key
//! has fewer) takes its place; equal ones keep their arrival order, the
//! earlier first, as in Flink. It and every record it moved down a rank
//! are emitted with their new `rank`, so the last record emitted for a
//! `(key, rank)` is the key's record at that rank: the output is an upsert
//! stream keyed by `(key, rank)`, as Flink's Top-N with its row number is.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::check::program::Value;
use crate::check::types::RecordType;
use crate::compile::backend::Scalar;
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

use super::keyed::{KeyMap, KeyValue};
use super::operator::{Emit, OperatorState, StatefulOperator};

/// One kept record: its values in the order's terms, and its fields.
struct Ranked {
    order: Vec<KeyValue>,
    row: Vec<Value>,
}

pub struct TopOperator {
    key: Box<dyn Scalar>,
    /// Each order expression, and whether it sorts descending.
    order: Vec<(Box<dyn Scalar>, bool)>,
    count: usize,
    input: Arc<RecordType>,
    output: Arc<RecordType>,
    tops: KeyMap<Vec<Ranked>>,
    /// The batch at hand's keys and order values, one column each.
    keys: Vec<Value>,
    order_columns: Vec<Vec<Value>>,
    entries: u64,
    bytes: u64,
}

impl TopOperator {
    pub fn new(
        key: Box<dyn Scalar>,
        order: Vec<(Box<dyn Scalar>, bool)>,
        count: usize,
        input: Arc<RecordType>,
        output: Arc<RecordType>,
    ) -> TopOperator {
        let order_columns = order.iter().map(|_| Vec::new()).collect();
        TopOperator {
            key,
            order,
            count,
            input,
            output,
            tops: KeyMap::default(),
            keys: Vec::new(),
            order_columns,
            entries: 0,
            bytes: 0,
        }
    }

    /// Evaluates the key and the order over `batch`; on an error, the one a
    /// record-by-record evaluation meets first.
    fn evaluate(&mut self, batch: &Batch) -> Result<(), EvalError> {
        let mut evaluated = self.key.evaluate_all(batch, &mut self.keys);
        for ((expr, _), column) in self.order.iter().zip(&mut self.order_columns) {
            if evaluated.is_ok() {
                evaluated = expr.evaluate_all(batch, column);
            }
        }
        if evaluated.is_ok() {
            return Ok(());
        }
        for row in 0..batch.len() {
            self.key.evaluate(batch, row)?;
            for (expr, _) in &self.order {
                expr.evaluate(batch, row)?;
            }
        }
        evaluated
    }

    fn compare(directions: &[(Box<dyn Scalar>, bool)], a: &[KeyValue], b: &[KeyValue]) -> Ordering {
        for ((_, descending), (a, b)) in directions.iter().zip(a.iter().zip(b)) {
            let ordering = if *descending { b.cmp(a) } else { a.cmp(b) };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }

    fn add(&mut self, batch: &Batch, output: &mut Emit<'_>) -> Result<(), EvalError> {
        self.evaluate(batch)?;
        let mut values = Vec::with_capacity(self.output.fields().len());
        for row in 0..batch.len() {
            let order: Vec<KeyValue> = self
                .order_columns
                .iter_mut()
                .map(|column| KeyValue(std::mem::replace(&mut column[row], Value::Bool(false))))
                .collect();
            let key = KeyValue(std::mem::replace(&mut self.keys[row], Value::Bool(false)));
            let kept = match self.tops.get_mut(&key) {
                Some(kept) => kept,
                None => self.tops.entry(key).or_default(),
            };
            // After every record that sorts before it or equal to it.
            let place = kept.partition_point(|ranked| {
                TopOperator::compare(&self.order, &ranked.order, &order) != Ordering::Greater
            });
            if place >= self.count {
                continue;
            }
            let ranked = Ranked { order, row: batch.row(row, &self.input).values() };
            self.entries += 1;
            self.bytes += ranked_bytes(&ranked);
            kept.insert(place, ranked);
            if kept.len() > self.count {
                let dropped = kept.pop().expect("more than the count");
                self.entries -= 1;
                self.bytes -= ranked_bytes(&dropped);
            }
            for (index, ranked) in kept.iter().enumerate().skip(place) {
                values.clear();
                values.extend_from_slice(&ranked.row);
                values.push(Value::Int(index as i64 + 1));
                output.rows.push_values(&self.output, &values);
                output.flush_if_full();
            }
        }
        Ok(())
    }
}

/// What a kept record costs: its values, its order's, their text and the vectors.
fn ranked_bytes(ranked: &Ranked) -> u64 {
    let values = ranked.row.len() + ranked.order.len();
    let text: usize = ranked
        .row
        .iter()
        .chain(ranked.order.iter().map(|key| &key.0))
        .map(|value| match value {
            Value::Str(text) => text.len() + 16,
            _ => 0,
        })
        .sum();
    (values * std::mem::size_of::<Value>() + text + std::mem::size_of::<Ranked>()) as u64
}

impl StatefulOperator for TopOperator {
    fn push(&mut self, _port: usize, input: &Batch, output: &mut Emit<'_>) -> Result<usize, EvalError> {
        self.add(input, output).map(|()| 0)
    }

    fn advance_watermark(&mut self, _watermark: i64, _output: &mut Emit<'_>) -> Result<(), EvalError> {
        Ok(())
    }

    fn state(&self) -> OperatorState {
        OperatorState { entries: self.entries, bytes: self.bytes }
    }
}
