//! Keyed event-time windows (`window tumbling(…)`, `window sliding(…)`) and
//! the keyed running `aggregate`.
//!
//! A record belongs to every window `[start, start + size)` that covers its
//! timestamp, windows starting at multiples of the slide (Flink's
//! `SlidingEventTimeWindows`, offset 0). A window fires when the watermark
//! reaches its end; it emits one row per key, keys in ascending order, so a
//! subtask's output is the same whatever order its records came in. A record
//! whose every window has already fired is late: it is dropped and counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::check::program::{Value, WindowKind};
use crate::check::types::RecordType;
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

use super::keyed::{Accumulators, KeyMap, KeyValue, KeyedInputs, StateSize};
use super::operator::{Emit, OperatorState, StatefulOperator};

pub struct WindowOperator {
    pub kind: WindowKind,
    pub time_field: usize,
    pub inputs: KeyedInputs,
    pub input: Arc<RecordType>,
    pub output: Arc<RecordType>,
    /// Open windows by `(end, start)`, each with its keys' accumulators.
    windows: BTreeMap<(i64, i64), KeyMap<Accumulators>>,
    watermark: i64,
    pub state: StateSize,
}

impl WindowOperator {
    pub fn new(
        kind: WindowKind,
        time_field: usize,
        inputs: KeyedInputs,
        input: Arc<RecordType>,
        output: Arc<RecordType>,
    ) -> WindowOperator {
        WindowOperator {
            kind,
            time_field,
            inputs,
            input,
            output,
            windows: BTreeMap::new(),
            watermark: i64::MIN,
            state: StateSize::default(),
        }
    }

    /// Adds every row of `batch` to its windows; returns how many were late.
    pub fn add(&mut self, batch: &Batch) -> Result<usize, EvalError> {
        let (size, slide) = match self.kind {
            WindowKind::Tumbling { size_nanos } => (size_nanos, size_nanos),
            WindowKind::Sliding { size_nanos, slide_nanos } => (size_nanos, slide_nanos),
            WindowKind::Session { .. } => unreachable!("sessions are `SessionOperator`s"),
        };
        let mut late = 0;
        self.inputs.evaluate(batch)?;
        for row in 0..batch.len() {
            let ts = batch.row(row, &self.input).i64_at(self.time_field);
            let key = self.inputs.take_key(row);
            let mut start = ts - ts.rem_euclid(slide);
            let mut assigned = false;
            // Every window of `size` starting at a multiple of `slide` that covers `ts`.
            while start > ts.saturating_sub(size) {
                let end = start.saturating_add(size);
                if end > self.watermark {
                    let keys = self.windows.entry((end, start)).or_default();
                    let accumulators = match keys.get_mut(&key) {
                        Some(accumulators) => accumulators,
                        None => {
                            self.state.insert(&key, &self.inputs);
                            keys.entry(key.clone()).or_insert_with(|| self.inputs.new_accumulators())
                        }
                    };
                    let added = self.inputs.add_to(accumulators, row)?;
                    self.state.grow(added);
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
    pub fn fire(&mut self, watermark: i64, output: &mut Emit<'_>) {
        self.watermark = self.watermark.max(watermark);
        while let Some(entry) = self.windows.first_entry() {
            let (end, start) = *entry.key();
            if end > self.watermark {
                break;
            }
            let mut keys: Vec<(KeyValue, Accumulators)> = entry.remove().into_iter().collect();
            for (key, accumulators) in &keys {
                self.state.remove(key, &self.inputs);
                self.state.shrink(accumulators.extra_bytes);
            }
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            let mut values = Vec::with_capacity(self.output.fields().len());
            for (key, accumulators) in keys {
                values.clear();
                values.push(key.0);
                values.push(Value::Timestamp(start));
                values.push(Value::Timestamp(end));
                values.extend(accumulators.results());
                output.rows.push_values(&self.output, &values);
                output.flush_if_full();
            }
        }
    }
}

/// `aggregate { … }`: emits the key's updated values for every record.
pub struct AggregateOperator {
    pub inputs: KeyedInputs,
    pub output: Arc<RecordType>,
    keys: KeyMap<Accumulators>,
    pub state: StateSize,
}

impl AggregateOperator {
    pub fn new(inputs: KeyedInputs, output: Arc<RecordType>) -> AggregateOperator {
        AggregateOperator { inputs, output, keys: KeyMap::default(), state: StateSize::default() }
    }

    pub fn add(&mut self, batch: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let mut values = Vec::with_capacity(self.output.fields().len());
        self.inputs.evaluate(batch)?;
        for row in 0..batch.len() {
            let key = self.inputs.take_key(row);
            let accumulators = match self.keys.get_mut(&key) {
                Some(accumulators) => accumulators,
                None => {
                    self.state.insert(&key, &self.inputs);
                    self.keys.entry(key.clone()).or_insert_with(|| self.inputs.new_accumulators())
                }
            };
            let added = self.inputs.add_to(accumulators, row)?;
            self.state.grow(added);
            values.clear();
            values.push(key.0);
            values.extend(accumulators.results());
            output.push_values(&self.output, &values);
        }
        Ok(())
    }
}

impl StatefulOperator for WindowOperator {
    fn push(&mut self, _port: usize, input: &Batch, _output: &mut Emit<'_>) -> Result<usize, EvalError> {
        self.add(input)
    }

    fn advance_watermark(&mut self, watermark: i64, output: &mut Emit<'_>) -> Result<(), EvalError> {
        self.fire(watermark, output);
        Ok(())
    }

    fn state(&self) -> OperatorState {
        OperatorState { entries: self.state.entries, bytes: self.state.bytes }
    }
}

impl StatefulOperator for AggregateOperator {
    fn push(&mut self, _port: usize, input: &Batch, output: &mut Emit<'_>) -> Result<usize, EvalError> {
        self.add(input, output.rows).map(|()| 0)
    }

    fn advance_watermark(&mut self, _watermark: i64, _output: &mut Emit<'_>) -> Result<(), EvalError> {
        Ok(())
    }

    fn state(&self) -> OperatorState {
        OperatorState { entries: self.state.entries, bytes: self.state.bytes }
    }
}
