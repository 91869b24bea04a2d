//! Keyed session windows (`window session(gap) on ts`): a key's records
//! whose timestamps lie less than `gap` apart fall into one session, which
//! closes `gap` after its last record.
//!
//! As in Flink's `EventTimeSessionWindows`, each record opens a window
//! `[ts, ts + gap)`, and windows of one key that overlap or touch merge as
//! records arrive (their aggregates merged, so no record is kept). A
//! session fires when the watermark reaches its end; sessions closing at
//! the same time fire keys in ascending order. A record is late only when
//! its own window has closed and it joins no open session: it is dropped
//! and counted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::check::program::Value;
use crate::check::types::RecordType;
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

use super::keyed::{Accumulators, KeyMap, KeyValue, KeyedInputs, StateSize};
use super::operator::{Emit, OperatorState, StatefulOperator};

struct Session {
    end: i64,
    accumulators: Accumulators,
}

pub struct SessionOperator {
    gap: i64,
    time_field: usize,
    inputs: KeyedInputs,
    input: Arc<RecordType>,
    output: Arc<RecordType>,
    /// Each key's open sessions by start; no two of a key overlap.
    sessions: KeyMap<BTreeMap<i64, Session>>,
    /// Every open session as `(end, key, start)`: the order they close in.
    closing: BTreeSet<(i64, KeyValue, i64)>,
    watermark: i64,
    state: StateSize,
}

impl SessionOperator {
    pub fn new(
        gap: i64,
        time_field: usize,
        inputs: KeyedInputs,
        input: Arc<RecordType>,
        output: Arc<RecordType>,
    ) -> SessionOperator {
        SessionOperator {
            gap,
            time_field,
            inputs,
            input,
            output,
            sessions: KeyMap::default(),
            closing: BTreeSet::new(),
            watermark: i64::MIN,
            state: StateSize::default(),
        }
    }

    /// Adds every row of `batch` to its key's sessions; returns how many were late.
    fn add(&mut self, batch: &Batch) -> Result<usize, EvalError> {
        let mut late = 0;
        self.inputs.evaluate(batch)?;
        for row in 0..batch.len() {
            let ts = batch.row(row, &self.input).i64_at(self.time_field);
            let key = self.inputs.take_key(row);
            if !self.add_record(key, ts, row)? {
                late += 1;
            }
        }
        Ok(late)
    }

    /// Puts row `row` (at `ts`) into a session of `key`, merging the
    /// sessions its window overlaps; false when it was late.
    fn add_record(&mut self, key: KeyValue, ts: i64, row: usize) -> Result<bool, EvalError> {
        let end = ts.saturating_add(self.gap);
        let sessions = self.sessions.entry(key.clone()).or_default();
        // Sessions are disjoint and ordered by start, so those that overlap
        // `[ts, end]` are a run ending at the last that starts by `end`.
        let overlapping: Vec<i64> = sessions
            .range(..=end)
            .rev()
            .take_while(|(_, session)| session.end >= ts)
            .map(|(&start, _)| start)
            .collect();
        if overlapping.is_empty() && end <= self.watermark {
            if sessions.is_empty() {
                self.sessions.remove(&key);
            }
            return Ok(false);
        }
        let mut merged = match overlapping.last() {
            Some(&earliest) => {
                let session = sessions.remove(&earliest).expect("an overlapping session");
                self.closing.remove(&(session.end, key.clone(), earliest));
                (earliest, session)
            }
            None => {
                self.state.insert(&key, &self.inputs);
                (ts, Session { end, accumulators: self.inputs.new_accumulators() })
            }
        };
        // The later ones, earliest first, merge into the earliest.
        for &start in overlapping.iter().rev().skip(1) {
            let session = sessions.remove(&start).expect("an overlapping session");
            self.closing.remove(&(session.end, key.clone(), start));
            merged.1.end = merged.1.end.max(session.end);
            let freed = self.inputs.merge(&mut merged.1.accumulators, session.accumulators)?;
            self.state.remove(&key, &self.inputs);
            self.state.shrink(freed);
        }
        let (start, mut session) = merged;
        let start = start.min(ts);
        session.end = session.end.max(end);
        let added = self.inputs.add_to(&mut session.accumulators, row)?;
        self.state.grow(added);
        self.closing.insert((session.end, key, start));
        sessions.insert(start, session);
        Ok(true)
    }

    /// Fires every session that ends at or before `watermark` into `output`.
    fn fire(&mut self, watermark: i64, output: &mut Emit<'_>) {
        self.watermark = self.watermark.max(watermark);
        let mut values = Vec::with_capacity(self.output.fields().len());
        while let Some(first) = self.closing.first() {
            if first.0 > self.watermark {
                break;
            }
            let (end, key, start) = self.closing.pop_first().expect("a first session");
            let sessions = self.sessions.get_mut(&key).expect("a closing session's key");
            let session = sessions.remove(&start).expect("a closing session");
            if sessions.is_empty() {
                self.sessions.remove(&key);
            }
            self.state.remove(&key, &self.inputs);
            self.state.shrink(session.accumulators.extra_bytes);
            values.clear();
            values.push(key.0);
            values.push(Value::Timestamp(start));
            values.push(Value::Timestamp(end));
            values.extend(session.accumulators.results());
            output.rows.push_values(&self.output, &values);
            output.flush_if_full();
        }
    }
}

impl StatefulOperator for SessionOperator {
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
