//! Keyed state shared by windows and `aggregate`: `KeyValue`, a key that
//! can be hashed, compared and ordered (so output is in a defined order),
//! and `Accumulators`, the running values of one key's aggregates.

use std::cmp::Ordering;

use crate::check::functions::{AggregateFunction, Function};
use crate::check::program::{Aggregate, Value};
use crate::check::types::Type;
use crate::compile::backend::Scalar;
use crate::compile::interp::{call, EvalError};
use crate::compile::row::Batch;

/// A key's value, with equality and order for maps: floats by their bits
/// in IEEE total order, so every NaN with the same bits is one key.
#[derive(Debug, Clone)]
pub struct KeyValue(pub Value);

impl KeyValue {
    fn rank(&self) -> (u8, i64, &str) {
        match &self.0 {
            Value::Int(v) => (0, *v, ""),
            Value::Float(v) => {
                // The total-order bits of `f64::total_cmp`, as an i64.
                let bits = v.to_bits() as i64;
                (1, bits ^ (((bits >> 63) as u64) >> 1) as i64, "")
            }
            Value::Bool(v) => (2, i64::from(*v), ""),
            Value::Str(v) => (3, 0, v),
            Value::Timestamp(v) => (4, *v, ""),
            Value::Duration(v) => (5, *v, ""),
        }
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}

impl Eq for KeyValue {}

impl std::hash::Hash for KeyValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// The running value of one aggregate function.
#[derive(Debug, Clone)]
enum Accumulator {
    Count(i64),
    SumInt(i64),
    SumFloat(f64),
    SumDuration(i64),
    /// `min` or `max`: the first value wins ties, as in the scalar functions.
    Pick {
        function: Function,
        value: Option<Value>,
    },
    AvgInt {
        sum: i128,
        n: i64,
    },
    AvgFloat {
        sum: f64,
        n: i64,
    },
}

impl Accumulator {
    fn new(aggregate: &Aggregate) -> Accumulator {
        let arg_type = aggregate.arg.as_ref().map_or(Type::Int, |arg| arg.ty);
        match (aggregate.function, arg_type) {
            (AggregateFunction::Count, _) => Accumulator::Count(0),
            (AggregateFunction::Sum, Type::Float) => Accumulator::SumFloat(0.0),
            (AggregateFunction::Sum, Type::Duration) => Accumulator::SumDuration(0),
            (AggregateFunction::Sum, _) => Accumulator::SumInt(0),
            (AggregateFunction::Min, _) => Accumulator::Pick { function: Function::Min, value: None },
            (AggregateFunction::Max, _) => Accumulator::Pick { function: Function::Max, value: None },
            (AggregateFunction::Avg, Type::Float) => Accumulator::AvgFloat { sum: 0.0, n: 0 },
            (AggregateFunction::Avg, _) => Accumulator::AvgInt { sum: 0, n: 0 },
        }
    }

    fn add(&mut self, value: Option<Value>, aggregate: &Aggregate) -> Result<(), EvalError> {
        match (self, value) {
            (Accumulator::Count(n), _) => *n += 1,
            (Accumulator::SumInt(sum), Some(Value::Int(v))) => *sum = sum.wrapping_add(v),
            (Accumulator::SumFloat(sum), Some(Value::Float(v))) => *sum += v,
            (Accumulator::SumDuration(sum), Some(Value::Duration(v))) => *sum = sum.wrapping_add(v),
            (Accumulator::Pick { value: current @ None, .. }, Some(v)) => *current = Some(v),
            (Accumulator::Pick { function, value: Some(current) }, Some(v)) => {
                *current = call(*function, &[current.clone(), v], aggregate.span)?;
            }
            (Accumulator::AvgInt { sum, n }, Some(Value::Int(v))) => {
                *sum += i128::from(v);
                *n += 1;
            }
            (Accumulator::AvgFloat { sum, n }, Some(Value::Float(v))) => {
                *sum += v;
                *n += 1;
            }
            (accumulator, value) => {
                return Err(EvalError {
                    message: format!("internal: {accumulator:?} cannot take {value:?}"),
                    span: aggregate.span,
                })
            }
        }
        Ok(())
    }

    fn result(&self) -> Value {
        match self {
            Accumulator::Count(n) | Accumulator::SumInt(n) => Value::Int(*n),
            Accumulator::SumFloat(sum) => Value::Float(*sum),
            Accumulator::SumDuration(sum) => Value::Duration(*sum),
            // A key's state exists only once it has a record.
            Accumulator::Pick { value, .. } => value.clone().unwrap_or(Value::Int(0)),
            Accumulator::AvgInt { sum, n } => Value::Float(*sum as f64 / *n as f64),
            Accumulator::AvgFloat { sum, n } => Value::Float(*sum / *n as f64),
        }
    }
}

/// The aggregates of one key (in one window).
#[derive(Debug, Clone)]
pub struct Accumulators(Vec<Accumulator>);

/// The compiled arguments of a window's or aggregate's entries.
pub struct AggregateArgs {
    pub aggregates: Vec<Aggregate>,
    pub args: Vec<Option<Box<dyn Scalar>>>,
}

impl AggregateArgs {
    pub fn new_accumulators(&self) -> Accumulators {
        Accumulators(self.aggregates.iter().map(Accumulator::new).collect())
    }

    /// Evaluates every argument over row `row` of `batch`.
    pub fn values(&self, batch: &Batch, row: usize) -> Result<Vec<Option<Value>>, EvalError> {
        self.args.iter().map(|arg| arg.as_ref().map(|arg| arg.evaluate(batch, row)).transpose()).collect()
    }
}

impl Accumulators {
    pub fn add(&mut self, values: &[Option<Value>], args: &AggregateArgs) -> Result<(), EvalError> {
        for ((accumulator, value), aggregate) in self.0.iter_mut().zip(values).zip(&args.aggregates) {
            accumulator.add(value.clone(), aggregate)?;
        }
        Ok(())
    }

    pub fn results(&self) -> impl Iterator<Item = Value> + '_ {
        self.0.iter().map(Accumulator::result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn text(value: &str) -> Value {
        Value::Str(Arc::from(value))
    }

    #[test]
    fn keys_order_and_compare_by_value() {
        let mut keys = vec![
            KeyValue(Value::Float(1.5)),
            KeyValue(Value::Float(-2.0)),
            KeyValue(Value::Float(0.0)),
            KeyValue(Value::Float(-0.0)),
        ];
        keys.sort();
        let floats: Vec<f64> = keys.iter().map(|key| if let Value::Float(v) = key.0 { v } else { 0.0 }).collect();
        assert_eq!(floats, vec![-2.0, -0.0, 0.0, 1.5]);
        assert_eq!(KeyValue(text("a")), KeyValue(text("a")));
        assert!(KeyValue(text("a")) < KeyValue(text("b")));
        assert!(KeyValue(Value::Int(-3)) < KeyValue(Value::Int(2)));
    }
}
