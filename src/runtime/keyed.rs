//! Keyed state shared by windows and `aggregate`: `KeyValue`, a key that
//! can be hashed, compared and ordered (so output is in a defined order),
//! `KeyMap`, `Accumulators`, the running values of one key's aggregates,
//! and `KeyedInputs`, the key and arguments of a batch's records.

use std::cmp::Ordering;

use crate::check::functions::{AggregateFunction, Function};
use crate::check::program::{Aggregate, Value};
use crate::check::types::Type;
use crate::compile::backend::Scalar;
use crate::compile::interp::{call, EvalError};
use crate::compile::row::Batch;

use super::key_table::SlotLayout;

/// A key's value, with equality and order for maps: floats by their bits
/// in IEEE total order, so every NaN with the same bits is one key.
#[derive(Debug, Clone)]
pub struct KeyValue(pub Value);

impl KeyValue {
    /// The variant's place in the key order, and the value's bits in it:
    /// floats in IEEE total order (`f64::total_cmp`) as an i64.
    fn rank(&self) -> (u8, i64) {
        match &self.0 {
            Value::Int(v) => (0, *v),
            Value::Float(v) => {
                let bits = v.to_bits() as i64;
                (1, bits ^ (((bits >> 63) as u64) >> 1) as i64)
            }
            Value::Bool(v) => (2, i64::from(*v)),
            Value::Str(_) => (3, 0),
            Value::Timestamp(v) => (4, *v),
            Value::Duration(v) => (5, *v),
        }
    }

    fn text(&self) -> &str {
        match &self.0 {
            Value::Str(v) => v,
            _ => "",
        }
    }
}

// By hand rather than derived from `rank` and `text` as a tuple: keys are
// compared and hashed for every record, and only strings need their text.
impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank() && (!matches!(self.0, Value::Str(_)) || self.text() == other.text())
    }
}

impl Eq for KeyValue {}

impl std::hash::Hash for KeyValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match &self.0 {
            Value::Str(text) => state.write(text.as_bytes()),
            _ => state.write_u64(self.rank().1 as u64),
        }
    }
}

impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank()).then_with(|| self.text().cmp(other.text()))
    }
}

/// Hashes keys for the keyed state's maps: one multiply-and-mix per word
/// (splitmix64's finaliser), far cheaper than SipHash per record. Keys
/// come from the pipeline's own data, so flooding is not a concern here.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        crate::compile::builtins::mix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        self.write_u64(bytes.len() as u64);
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = crate::compile::builtins::mix64(self.0 ^ word);
    }
}

/// A map from keys, hashed with `KeyHasher`.
pub type KeyMap<V> = std::collections::HashMap<KeyValue, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// The running value of one aggregate function.
#[derive(Debug, Clone)]
enum Accumulator {
    Count(i64),
    SumInt(i64),
    SumFloat(f64),
    SumDuration(i64),
    /// `min` or `max`: the first value wins ties, as in the scalar functions.
    /// `None` until a record counts; then the type's zero value stands in
    /// (a filter may let no record of a key through).
    Pick {
        function: Function,
        value: Option<Value>,
        ty: Type,
    },
    AvgInt {
        sum: i128,
        n: i64,
    },
    AvgFloat {
        sum: f64,
        n: i64,
    },
    /// `count_distinct`: the values seen.
    Distinct(std::collections::HashSet<KeyValue, std::hash::BuildHasherDefault<KeyHasher>>),
}

impl Accumulator {
    fn new(aggregate: &Aggregate) -> Accumulator {
        let arg_type = aggregate.arg.as_ref().map_or(Type::Int, |arg| arg.ty);
        match (aggregate.function, arg_type) {
            (AggregateFunction::Count, _) => Accumulator::Count(0),
            (AggregateFunction::Sum, Type::Float) => Accumulator::SumFloat(0.0),
            (AggregateFunction::Sum, Type::Duration) => Accumulator::SumDuration(0),
            (AggregateFunction::Sum, _) => Accumulator::SumInt(0),
            (AggregateFunction::Min, ty) => Accumulator::Pick { function: Function::Min, value: None, ty },
            (AggregateFunction::Max, ty) => Accumulator::Pick { function: Function::Max, value: None, ty },
            (AggregateFunction::Avg, Type::Float) => Accumulator::AvgFloat { sum: 0.0, n: 0 },
            (AggregateFunction::Avg, _) => Accumulator::AvgInt { sum: 0, n: 0 },
            (AggregateFunction::CountDistinct, _) => Accumulator::Distinct(Default::default()),
        }
    }

    /// Adds one value; returns the bytes of state it added (a new distinct value).
    fn add(&mut self, value: Option<&Value>, aggregate: &Aggregate) -> Result<u64, EvalError> {
        match (self, value) {
            (Accumulator::Count(n), _) => *n += 1,
            (Accumulator::SumInt(sum), Some(Value::Int(v))) => *sum = sum.wrapping_add(*v),
            (Accumulator::SumFloat(sum), Some(Value::Float(v))) => *sum += v,
            (Accumulator::SumDuration(sum), Some(Value::Duration(v))) => *sum = sum.wrapping_add(*v),
            (Accumulator::Pick { value: current @ None, .. }, Some(v)) => *current = Some(v.clone()),
            (Accumulator::Pick { function, value: Some(current), .. }, Some(v)) => {
                *current = call(*function, &[current.clone(), v.clone()], aggregate.span)?;
            }
            (Accumulator::AvgInt { sum, n }, Some(Value::Int(v))) => {
                *sum += i128::from(*v);
                *n += 1;
            }
            (Accumulator::AvgFloat { sum, n }, Some(Value::Float(v))) => {
                *sum += v;
                *n += 1;
            }
            (Accumulator::Distinct(seen), Some(v)) => {
                if !seen.contains(&KeyValue(v.clone())) {
                    let bytes = distinct_value_bytes(v);
                    seen.insert(KeyValue(v.clone()));
                    return Ok(bytes);
                }
            }
            (accumulator, value) => {
                return Err(EvalError {
                    message: format!("internal: {accumulator:?} cannot take {value:?}"),
                    span: aggregate.span,
                })
            }
        }
        Ok(0)
    }

    /// Takes `other`'s values in, as if its records had come here (two
    /// sessions that a record joins); returns the bytes of state freed.
    fn merge(&mut self, other: Accumulator, aggregate: &Aggregate) -> Result<u64, EvalError> {
        match (self, other) {
            (Accumulator::Count(a), Accumulator::Count(b)) | (Accumulator::SumInt(a), Accumulator::SumInt(b)) => {
                *a = a.wrapping_add(b)
            }
            (Accumulator::SumDuration(a), Accumulator::SumDuration(b)) => *a = a.wrapping_add(b),
            (Accumulator::SumFloat(a), Accumulator::SumFloat(b)) => *a += b,
            (Accumulator::Pick { .. }, Accumulator::Pick { value: None, .. }) => {}
            (Accumulator::Pick { value: current @ None, .. }, Accumulator::Pick { value: Some(v), .. }) => {
                *current = Some(v)
            }
            (Accumulator::Pick { function, value: Some(current), .. }, Accumulator::Pick { value: Some(v), .. }) => {
                *current = call(*function, &[current.clone(), v], aggregate.span)?;
            }
            (Accumulator::AvgInt { sum, n }, Accumulator::AvgInt { sum: other_sum, n: other_n }) => {
                *sum += other_sum;
                *n += other_n;
            }
            (Accumulator::AvgFloat { sum, n }, Accumulator::AvgFloat { sum: other_sum, n: other_n }) => {
                *sum += other_sum;
                *n += other_n;
            }
            (Accumulator::Distinct(seen), Accumulator::Distinct(other)) => {
                let mut freed = 0;
                for value in other {
                    let bytes = distinct_value_bytes(&value.0);
                    if !seen.insert(value) {
                        freed += bytes;
                    }
                }
                return Ok(freed);
            }
            (accumulator, other) => {
                return Err(EvalError {
                    message: format!("internal: {accumulator:?} cannot merge {other:?}"),
                    span: aggregate.span,
                })
            }
        }
        Ok(0)
    }

    fn result(&self) -> Value {
        match self {
            Accumulator::Count(n) | Accumulator::SumInt(n) => Value::Int(*n),
            Accumulator::SumFloat(sum) => Value::Float(*sum),
            Accumulator::SumDuration(sum) => Value::Duration(*sum),
            Accumulator::Pick { value, ty, .. } => value.clone().unwrap_or_else(|| super::lookup::zero_value(*ty)),
            // An average over no records (a filter let none through) is 0.
            Accumulator::AvgInt { n: 0, .. } | Accumulator::AvgFloat { n: 0, .. } => Value::Float(0.0),
            Accumulator::AvgInt { sum, n } => Value::Float(*sum as f64 / *n as f64),
            Accumulator::AvgFloat { sum, n } => Value::Float(*sum / *n as f64),
            Accumulator::Distinct(seen) => Value::Int(seen.len() as i64),
        }
    }
}

/// What one distinct value costs in a set: its slot (with the set's spare
/// capacity) and a string's text.
fn distinct_value_bytes(value: &Value) -> u64 {
    let slot = std::mem::size_of::<KeyValue>() + 1;
    let text = match value {
        Value::Str(text) => text.len() + 16,
        _ => 0,
    };
    (slot * 8 / 7 + text) as u64
}

/// The aggregates of one key (in one window), and the bytes their values
/// hold beyond the accumulators themselves (distinct sets).
#[derive(Debug, Clone)]
pub struct Accumulators {
    list: Vec<Accumulator>,
    pub extra_bytes: u64,
}

/// Each present expression of `scalars` into its column with `run`, while
/// `evaluated` holds no error; the first error stays in it.
fn evaluate_each<T>(
    scalars: &[Option<Box<dyn Scalar>>],
    columns: &mut [Vec<T>],
    evaluated: &mut Result<(), EvalError>,
    run: impl Fn(&dyn Scalar, &mut Vec<T>) -> Result<(), EvalError>,
) {
    for (scalar, column) in scalars.iter().zip(columns) {
        if let (Ok(()), Some(scalar)) = (&*evaluated, scalar) {
            *evaluated = run(scalar.as_ref(), column);
        }
    }
}

/// One word column per aggregate (`None` for an absent argument or filter).
pub type Columns<'a> = Vec<Option<&'a [u64]>>;

/// A keyed operator's compiled key and aggregate arguments and filters,
/// evaluated a batch at a time: one call per batch and expression, not per
/// record.
pub struct KeyedInputs {
    key: Box<dyn Scalar>,
    /// Where the key and aggregates fit a `KeyTable`, their slot.
    pub layout: Option<SlotLayout>,
    pub aggregates: Vec<Aggregate>,
    args: Vec<Option<Box<dyn Scalar>>>,
    filters: Vec<Option<Box<dyn Scalar>>>,
    /// The key of every row of the batch at hand.
    keys: Vec<Value>,
    /// Each argument's value for every row of the batch at hand.
    columns: Vec<Vec<Value>>,
    /// Each filter's value for every row of the batch at hand.
    filter_columns: Vec<Vec<Value>>,
    /// With a layout: the key, each argument and each filter of every row
    /// of the batch at hand, as words.
    pub key_words: Vec<u64>,
    arg_words: Vec<Vec<u64>>,
    filter_words: Vec<Vec<u64>>,
}

impl KeyedInputs {
    pub fn new(
        key: Box<dyn Scalar>,
        key_type: Type,
        aggregates: Vec<Aggregate>,
        args: Vec<Option<Box<dyn Scalar>>>,
        filters: Vec<Option<Box<dyn Scalar>>>,
    ) -> KeyedInputs {
        let columns = args.iter().map(|_| Vec::new()).collect();
        let filter_columns = filters.iter().map(|_| Vec::new()).collect();
        KeyedInputs {
            key,
            layout: SlotLayout::of(key_type, &aggregates),
            arg_words: args.iter().map(|_| Vec::new()).collect(),
            filter_words: filters.iter().map(|_| Vec::new()).collect(),
            aggregates,
            args,
            filters,
            keys: Vec::new(),
            columns,
            filter_columns,
            key_words: Vec::new(),
        }
    }

    /// These inputs on the `Value` maps, whatever their types: for the
    /// tests that hold the typed state to them.
    #[cfg(test)]
    pub fn without_layout(mut self) -> KeyedInputs {
        self.layout = None;
        self
    }

    /// As `evaluate`, into words (`key_words`, `words`), for a layout's
    /// table: one compiled call per expression and batch, no `Value`s.
    pub fn evaluate_words(&mut self, batch: &Batch) -> Result<(), EvalError> {
        let mut evaluated = self.key.evaluate_bits(batch, &mut self.key_words);
        let words = |scalar: &dyn Scalar, column: &mut Vec<u64>| scalar.evaluate_bits(batch, column);
        evaluate_each(&self.args, &mut self.arg_words, &mut evaluated, words);
        evaluate_each(&self.filters, &mut self.filter_words, &mut evaluated, words);
        match evaluated {
            Ok(()) => Ok(()),
            // The error a record-by-record evaluation meets first.
            Err(error) => self.evaluate(batch).and(Err(error)),
        }
    }

    /// Each aggregate's argument and filter words, as `SlotLayout::add` takes them.
    pub fn words(&self) -> (Columns<'_>, Columns<'_>) {
        let args = self.args.iter().zip(&self.arg_words).map(|(arg, words)| arg.as_ref().map(|_| &words[..])).collect();
        let filters = self
            .filters
            .iter()
            .zip(&self.filter_words)
            .map(|(filter, words)| filter.as_ref().map(|_| &words[..]))
            .collect();
        (args, filters)
    }

    pub fn new_accumulators(&self) -> Accumulators {
        Accumulators { list: self.aggregates.iter().map(Accumulator::new).collect(), extra_bytes: 0 }
    }

    /// Evaluates the key, every argument and every filter over `batch`. On
    /// an error, the error is the one a record-by-record evaluation meets
    /// first (the key, then each aggregate's argument and filter in turn,
    /// in each row), as the interpreter defines.
    pub fn evaluate(&mut self, batch: &Batch) -> Result<(), EvalError> {
        let mut evaluated = self.key.evaluate_all(batch, &mut self.keys);
        let values = |scalar: &dyn Scalar, column: &mut Vec<Value>| scalar.evaluate_all(batch, column);
        evaluate_each(&self.args, &mut self.columns, &mut evaluated, values);
        evaluate_each(&self.filters, &mut self.filter_columns, &mut evaluated, values);
        if evaluated.is_ok() {
            return Ok(());
        }
        for row in 0..batch.len() {
            self.key.evaluate(batch, row)?;
            for (arg, filter) in self.args.iter().zip(&self.filters) {
                if let Some(arg) = arg {
                    arg.evaluate(batch, row)?;
                }
                if let Some(filter) = filter {
                    filter.evaluate(batch, row)?;
                }
            }
        }
        evaluated
    }

    /// Row `row`'s key, taken out of the batch's keys.
    pub fn take_key(&mut self, row: usize) -> KeyValue {
        KeyValue(std::mem::replace(&mut self.keys[row], Value::Bool(false)))
    }

    /// Adds row `row`'s arguments to `accumulators`, each aggregate whose
    /// filter holds for the row; returns the bytes of state it added.
    pub fn add_to(&self, accumulators: &mut Accumulators, row: usize) -> Result<u64, EvalError> {
        let mut added = 0;
        for (index, (accumulator, aggregate)) in accumulators.list.iter_mut().zip(&self.aggregates).enumerate() {
            if self.filters[index].is_some() && matches!(self.filter_columns[index][row], Value::Bool(false)) {
                continue;
            }
            let value = self.args[index].as_ref().map(|_| &self.columns[index][row]);
            added += accumulator.add(value, aggregate)?;
        }
        accumulators.extra_bytes += added;
        Ok(added)
    }

    /// Merges `other` into `into`; returns the bytes of state freed.
    pub fn merge(&self, into: &mut Accumulators, other: Accumulators) -> Result<u64, EvalError> {
        let mut freed = 0;
        let other_bytes = other.extra_bytes;
        for ((accumulator, other), aggregate) in into.list.iter_mut().zip(other.list).zip(&self.aggregates) {
            freed += accumulator.merge(other, aggregate)?;
        }
        into.extra_bytes += other_bytes - freed;
        Ok(freed)
    }
}

impl Accumulators {
    pub fn results(&self) -> impl Iterator<Item = Value> + '_ {
        self.list.iter().map(Accumulator::result)
    }
}

/// A keyed operator's state: its entries (a key, or a key in one open
/// window) and an estimate of their memory, kept as entries come and go so
/// the run summary and the report can show it without walking the maps.
#[derive(Debug, Default, Clone, Copy)]
pub struct StateSize {
    pub entries: u64,
    pub bytes: u64,
}

impl StateSize {
    /// What one entry costs: the key and its accumulators in the hash map
    /// (with its control byte and spare capacity), the accumulators' own
    /// vector, and a string key's text.
    fn entry_bytes(key: &KeyValue, inputs: &KeyedInputs) -> u64 {
        let slot = std::mem::size_of::<(KeyValue, Accumulators)>() + 1;
        let accumulators = inputs.aggregates.len() * std::mem::size_of::<Accumulator>();
        let text = match &key.0 {
            Value::Str(text) => text.len() + 16,
            _ => 0,
        };
        // Hash maps run at most 7/8 full.
        (slot * 8 / 7 + accumulators + text) as u64
    }

    pub fn insert(&mut self, key: &KeyValue, inputs: &KeyedInputs) {
        self.entries += 1;
        self.bytes += StateSize::entry_bytes(key, inputs);
    }

    pub fn remove(&mut self, key: &KeyValue, inputs: &KeyedInputs) {
        self.entries -= 1;
        self.bytes -= StateSize::entry_bytes(key, inputs);
    }

    /// Distinct values an entry's accumulators took in (`+`) or let go (`-`).
    pub fn grow(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    pub fn shrink(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_sub(bytes);
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
        let mut keys = [
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
