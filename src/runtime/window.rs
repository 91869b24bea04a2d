//! Keyed event-time windows (`window tumbling(…)`, `window sliding(…)`) and
//! the keyed running `aggregate`.
//!
//! A record belongs to every window `[start, start + size)` that covers its
//! timestamp, windows starting at multiples of the slide (Flink's
//! `SlidingEventTimeWindows`, offset 0). A window fires when the watermark
//! reaches its end; it emits one row per key, keys in ascending order, so a
//! subtask's output is the same whatever order its records came in. A record
//! whose every window has already fired is late: it is dropped and counted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::check::program::{Value, WindowKind};
use crate::check::types::RecordType;
use crate::compile::backend::Scalar;
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

use super::keyed::{Accumulators, AggregateArgs, KeyValue};

pub struct WindowOperator {
    pub kind: WindowKind,
    pub time_field: usize,
    pub key: Box<dyn Scalar>,
    pub args: AggregateArgs,
    pub input: Arc<RecordType>,
    pub output: Arc<RecordType>,
    /// Open windows by `(end, start)`, each with its keys' accumulators.
    windows: BTreeMap<(i64, i64), HashMap<KeyValue, Accumulators>>,
    watermark: i64,
}

impl WindowOperator {
    pub fn new(
        kind: WindowKind,
        time_field: usize,
        key: Box<dyn Scalar>,
        args: AggregateArgs,
        input: Arc<RecordType>,
        output: Arc<RecordType>,
    ) -> WindowOperator {
        WindowOperator { kind, time_field, key, args, input, output, windows: BTreeMap::new(), watermark: i64::MIN }
    }

    /// Adds every row of `batch` to its windows; returns how many were late.
    pub fn add(&mut self, batch: &Batch) -> Result<usize, EvalError> {
        let (size, slide) = match self.kind {
            WindowKind::Tumbling { size_nanos } => (size_nanos, size_nanos),
            WindowKind::Sliding { size_nanos, slide_nanos } => (size_nanos, slide_nanos),
        };
        let mut late = 0;
        for row in 0..batch.len() {
            let ts = batch.row(row, &self.input).i64_at(self.time_field);
            let key = KeyValue(self.key.evaluate(batch, row)?);
            let values = self.args.values(batch, row)?;
            let mut start = ts - ts.rem_euclid(slide);
            let mut assigned = false;
            // Every window of `size` starting at a multiple of `slide` that covers `ts`.
            while start > ts.saturating_sub(size) {
                let end = start.saturating_add(size);
                if end > self.watermark {
                    let keys = self.windows.entry((end, start)).or_default();
                    let accumulators = keys.entry(key.clone()).or_insert_with(|| self.args.new_accumulators());
                    accumulators.add(&values, &self.args)?;
                    assigned = true;
                }
                let Some(previous) = start.checked_sub(slide) else { break };
                start = previous;
            }
            if !assigned {
                late += 1;
            }
        }
        Ok(late)
    }

    /// Fires every window that ends at or before `watermark` into `output`.
    pub fn fire(&mut self, watermark: i64, output: &mut Batch) {
        self.watermark = self.watermark.max(watermark);
        while let Some(entry) = self.windows.first_entry() {
            let (end, start) = *entry.key();
            if end > self.watermark {
                break;
            }
            let mut keys: Vec<(KeyValue, Accumulators)> = entry.remove().into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            let mut values = Vec::with_capacity(self.output.fields().len());
            for (key, accumulators) in keys {
                values.clear();
                values.push(key.0);
                values.push(Value::Timestamp(start));
                values.push(Value::Timestamp(end));
                values.extend(accumulators.results());
                output.push_values(&self.output, &values);
            }
        }
    }
}

/// `aggregate { … }`: emits the key's updated values for every record.
pub struct AggregateOperator {
    pub key: Box<dyn Scalar>,
    pub args: AggregateArgs,
    pub output: Arc<RecordType>,
    keys: HashMap<KeyValue, Accumulators>,
}

impl AggregateOperator {
    pub fn new(key: Box<dyn Scalar>, args: AggregateArgs, output: Arc<RecordType>) -> AggregateOperator {
        AggregateOperator { key, args, output, keys: HashMap::new() }
    }

    pub fn add(&mut self, batch: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let mut values = Vec::with_capacity(self.output.fields().len());
        for row in 0..batch.len() {
            let key = KeyValue(self.key.evaluate(batch, row)?);
            let arguments = self.args.values(batch, row)?;
            let accumulators = self.keys.entry(key.clone()).or_insert_with(|| self.args.new_accumulators());
            accumulators.add(&arguments, &self.args)?;
            values.clear();
            values.push(key.0);
            values.extend(accumulators.results());
            output.push_values(&self.output, &values);
        }
        Ok(())
    }
}
