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

use crate::compile::bits::value_of_bits;

use super::key_table::{KeyTable, SlotLayout};
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
    /// With a slot layout, the open windows' keys are in tables instead.
    tables: Option<WindowTables>,
    watermark: i64,
    pub state: StateSize,
}

/// The most words of a fired window's sorted slots kept for the next (8 MiB).
const SORTED_KEPT_WORDS: usize = 1 << 20;

/// Open windows whose keys live in `KeyTable`s.
struct WindowTables {
    layout: SlotLayout,
    /// Open windows by `(end, start)`: their table in `tables`.
    open: BTreeMap<(i64, i64), usize>,
    tables: Vec<KeyTable>,
    /// Tables of fired windows, emptied, kept for the next ones.
    free: Vec<usize>,
    /// The window the last record went to, and its table: consecutive
    /// records mostly share one.
    last: Option<((i64, i64), usize)>,
    /// The slots of a firing window in key order, reused from window to window.
    sorted: Vec<u64>,
    /// The slot of each record of a run, reused from batch to batch.
    slots: Vec<u32>,
}

impl WindowTables {
    fn table_of(&mut self, window: (i64, i64)) -> usize {
        if let Some((last, table)) = self.last {
            if last == window {
                return table;
            }
        }
        let table = match self.open.get(&window) {
            Some(&table) => table,
            None => {
                let table = self.free.pop().unwrap_or_else(|| {
                    self.tables.push(KeyTable::new(self.layout.stride));
                    self.tables.len() - 1
                });
                self.open.insert(window, table);
                table
            }
        };
        self.last = Some((window, table));
        table
    }

    /// The open windows' tables: the state. (Emptied tables kept for
    /// later windows are memory the process holds, not state.)
    fn bytes(&self) -> u64 {
        self.open.values().map(|&table| self.tables[table].bytes()).sum()
    }
}

impl WindowOperator {
    pub fn new(
        kind: WindowKind,
        time_field: usize,
        inputs: KeyedInputs,
        input: Arc<RecordType>,
        output: Arc<RecordType>,
    ) -> WindowOperator {
        let tables = inputs.layout.clone().map(|layout| WindowTables {
            layout,
            open: BTreeMap::new(),
            tables: Vec::new(),
            free: Vec::new(),
            last: None,
            sorted: Vec::new(),
            slots: Vec::new(),
        });
        WindowOperator {
            kind,
            time_field,
            inputs,
            input,
            output,
            windows: BTreeMap::new(),
            tables,
            watermark: i64::MIN,
            state: StateSize::default(),
        }
    }

    fn size_and_slide(&self) -> (i64, i64) {
        match self.kind {
            WindowKind::Tumbling { size_nanos } => (size_nanos, size_nanos),
            WindowKind::Sliding { size_nanos, slide_nanos } => (size_nanos, slide_nanos),
            WindowKind::Session { .. } => unreachable!("sessions are `SessionOperator`s"),
        }
    }

    /// Adds every row of `batch` to its windows; returns how many were late.
    pub fn add(&mut self, batch: &Batch) -> Result<usize, EvalError> {
        if self.tables.is_some() {
            return self.add_to_tables(batch);
        }
        let (size, slide) = self.size_and_slide();
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

    /// `add` for keys in tables: the batch's keys and arguments as words,
    /// each record one probe and a few word updates per window it is in.
    fn add_to_tables(&mut self, batch: &Batch) -> Result<usize, EvalError> {
        let (size, slide) = self.size_and_slide();
        self.inputs.evaluate_words(batch)?;
        let tables = self.tables.as_mut().expect("add_to_tables has tables");
        let (args, filters) = self.inputs.words();
        let keys = &self.inputs.key_words;
        let time_offset = self.input.layout().offsets[self.time_field] as usize;
        let time_at = |row: usize| batch.i64_at(row, time_offset);
        let mut late = 0;
        if size == slide {
            // Tumbling: the batch in runs of records of one window, each
            // run's keys found first, then its aggregates updated a column
            // at a time.
            let mut row = 0;
            while row < keys.len() {
                let ts = time_at(row);
                let start = ts - ts.rem_euclid(size);
                let end = start.saturating_add(size);
                let mut run_end = row + 1;
                while run_end < keys.len() && (start..end).contains(&time_at(run_end)) {
                    run_end += 1;
                }
                if end <= self.watermark {
                    late += run_end - row;
                } else {
                    let table = tables.table_of((end, start));
                    let table = &mut tables.tables[table];
                    self.state.entries += table.slots_of(&keys[row..run_end], &mut tables.slots);
                    tables.layout.add_rows(table, &tables.slots, &args, &filters, row..run_end);
                }
                row = run_end;
            }
            self.state.bytes = tables.bytes();
            return Ok(late);
        }
        for (row, &key) in keys.iter().enumerate() {
            let ts = time_at(row);
            let mut start = ts - ts.rem_euclid(slide);
            let mut assigned = false;
            // Every window of `size` starting at a multiple of `slide` that covers `ts`.
            while start > ts.saturating_sub(size) {
                let end = start.saturating_add(size);
                if end > self.watermark {
                    let table = tables.table_of((end, start));
                    let (slot, new) = tables.tables[table].slot(key);
                    tables.layout.add(slot, &args, &filters, row);
                    self.state.entries += u64::from(new);
                    assigned = true;
                }
                let Some(previous) = start.checked_sub(slide) else { break };
                start = previous;
            }
            if !assigned {
                late += 1;
            }
        }
        self.state.bytes = tables.bytes();
        Ok(late)
    }

    /// `fire` for keys in tables: each window's keys sorted in place, its
    /// rows written out, its table emptied for the next window.
    fn fire_tables(&mut self, output: &mut Emit<'_>) {
        let tables = self.tables.as_mut().expect("fire_tables has tables");
        let mut values = Vec::with_capacity(self.output.fields().len());
        while let Some(entry) = tables.open.first_entry() {
            let (end, start) = *entry.key();
            if end > self.watermark {
                break;
            }
            let index = entry.remove();
            let table = &tables.tables[index];
            table.sorted_entries(tables.layout.key_type, &mut tables.sorted);
            for slot in tables.sorted.chunks_exact(tables.layout.stride) {
                let (key, aggregates) = (slot[0], &slot[1..]);
                values.clear();
                values.push(value_of_bits(tables.layout.key_type, key));
                values.push(Value::Timestamp(start));
                values.push(Value::Timestamp(end));
                tables.layout.results(aggregates, &mut values);
                output.rows.push_values(&self.output, &values);
                output.flush_if_full();
            }
            self.state.entries -= table.len() as u64;
            tables.tables[index].clear();
            tables.free.push(index);
            if tables.last.is_some_and(|(_, table)| table == index) {
                tables.last = None;
            }
        }
        // The sorted copy of a window of millions of keys is not kept for
        // the windows after it.
        if tables.sorted.capacity() > SORTED_KEPT_WORDS {
            tables.sorted = Vec::new();
        }
        self.state.bytes = tables.bytes();
    }

    /// Fires every window that ends at or before `watermark` into `output`.
    pub fn fire(&mut self, watermark: i64, output: &mut Emit<'_>) {
        self.watermark = self.watermark.max(watermark);
        if self.tables.is_some() {
            return self.fire_tables(output);
        }
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
    /// With a slot layout, the keys are in a table instead.
    table: Option<KeyTable>,
    pub state: StateSize,
}

impl AggregateOperator {
    pub fn new(inputs: KeyedInputs, output: Arc<RecordType>) -> AggregateOperator {
        let table = inputs.layout.as_ref().map(|layout| KeyTable::new(layout.stride));
        AggregateOperator { inputs, output, keys: KeyMap::default(), table, state: StateSize::default() }
    }

    pub fn add(&mut self, batch: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let mut values = Vec::with_capacity(self.output.fields().len());
        if let Some(table) = &mut self.table {
            self.inputs.evaluate_words(batch)?;
            let layout = self.inputs.layout.as_ref().expect("a table has a layout");
            let (args, filters) = self.inputs.words();
            for (row, &key) in self.inputs.key_words.iter().enumerate() {
                let (slot, new) = table.slot(key);
                layout.add(slot, &args, &filters, row);
                self.state.entries += u64::from(new);
                values.clear();
                values.push(value_of_bits(layout.key_type, key));
                layout.results(slot, &mut values);
                output.push_values(&self.output, &values);
            }
            self.state.bytes = table.bytes();
            return Ok(());
        }
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
