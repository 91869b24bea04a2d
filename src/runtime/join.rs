//! `join` in a running chain: evaluates each side's key with its compiled
//! function, hands every record to the join's state machine
//! (`join_state.rs`) on its port, and writes what it emits as output rows:
//! `[window_start, window_end,] left fields…, right fields…[, matched]`.

use std::sync::Arc;

use crate::check::program::{Join, JoinTime, Value};
use crate::check::types::RecordType;
use crate::compile::backend::Scalar;
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;

use super::join_state::{JoinConfig, JoinState, Joined, Side};
use super::keyed::KeyValue;
use super::lookup::{zero_value, Residual};
use super::operator::{Emit, OperatorState, StatefulOperator};

pub struct JoinOperator {
    state: JoinState,
    /// The key function of each port.
    keys: [Box<dyn Scalar>; 2],
    records: [Arc<RecordType>; 2],
    residual: Option<Residual>,
    outer: bool,
    output: Arc<RecordType>,
    /// The right record's fields at their zero values: an unmatched left record's.
    zeros: Vec<Value>,
    key_values: Vec<Value>,
    /// Set when the run stops early: misses are counted, not emitted.
    stopped: bool,
    unfinished: u64,
}

impl JoinOperator {
    pub fn new(
        join: &Join,
        keys: [Box<dyn Scalar>; 2],
        residual: Option<Residual>,
        output: Arc<RecordType>,
    ) -> JoinOperator {
        let (left_time, right_time) = join.time_fields.unwrap_or((0, 0));
        let time = match join.time {
            JoinTime::Interval { lower, upper } => super::join_state::JoinTime::Interval { lower, upper },
            JoinTime::Window(kind) => super::join_state::JoinTime::Window(kind),
            JoinTime::Unbounded => super::join_state::JoinTime::Unbounded,
        };
        let state = JoinState::new(JoinConfig { time, left_outer: join.outer, left_time, right_time });
        let zeros = join.right.record.fields().iter().map(|field| zero_value(field.ty)).collect();
        JoinOperator {
            state,
            keys,
            records: [join.left.clone(), join.right.record.clone()],
            residual,
            outer: join.outer,
            output,
            zeros,
            key_values: Vec::new(),
            stopped: false,
            unfinished: 0,
        }
    }

    /// Writes one joined record.
    fn write(output: &mut Batch, record: &RecordType, outer: bool, zeros: &[Value], joined: Joined<'_>) {
        let (window, left, right, matched) = match joined {
            Joined::Pair { window, left, right } => (window, left, right, true),
            Joined::Unmatched { window, left } => (window, left, zeros, false),
        };
        let mut values = Vec::with_capacity(record.fields().len());
        if let Some((start, end)) = window {
            values.push(Value::Timestamp(start));
            values.push(Value::Timestamp(end));
        }
        values.extend_from_slice(left);
        values.extend_from_slice(right);
        if outer {
            values.push(Value::Bool(matched));
        }
        output.push_values(record, &values);
    }
}

impl StatefulOperator for JoinOperator {
    fn push(&mut self, port: usize, input: &Batch, output: &mut Emit<'_>) -> Result<usize, EvalError> {
        let side = if port == 0 { Side::Left } else { Side::Right };
        self.keys[port].evaluate_all(input, &mut self.key_values)?;
        let (record, out_record, outer, zeros) = (&self.records[port], &self.output, self.outer, &self.zeros);
        let residual = &mut self.residual;
        let mut accept = |left: &[Value], right: &[Value]| match residual {
            Some(residual) => residual.accepts(left, right),
            None => Ok(true),
        };
        let mut emit = |joined: Joined<'_>| {
            JoinOperator::write(output.rows, out_record, outer, zeros, joined);
            output.flush_if_full();
        };
        let mut late = 0;
        for row in 0..input.len() {
            let key = KeyValue(std::mem::replace(&mut self.key_values[row], Value::Bool(false)));
            let values = input.row(row, record).values();
            if self.state.push(side, key, values, &mut accept, &mut emit)? == super::join_state::Arrival::Late {
                late += 1;
            }
        }
        Ok(late)
    }

    fn advance_watermark(&mut self, watermark: i64, output: &mut Emit<'_>) -> Result<(), EvalError> {
        let (out_record, outer, zeros) = (&self.output, self.outer, &self.zeros);
        let residual = &mut self.residual;
        let mut accept = |left: &[Value], right: &[Value]| match residual {
            Some(residual) => residual.accepts(left, right),
            None => Ok(true),
        };
        let (stopped, unfinished) = (self.stopped, &mut self.unfinished);
        let mut emit = |joined: Joined<'_>| match joined {
            // The end of time after a stop is no proof that no match would come.
            Joined::Unmatched { .. } if stopped => *unfinished += 1,
            joined => {
                JoinOperator::write(output.rows, out_record, outer, zeros, joined);
                output.flush_if_full();
            }
        };
        self.state.advance_watermark(watermark, &mut accept, &mut emit)
    }

    fn stop(&mut self) {
        self.stopped = true;
    }

    fn unfinished(&self) -> u64 {
        self.unfinished
    }

    fn output_watermark(&self, watermark: i64) -> i64 {
        if watermark == i64::MAX {
            return watermark;
        }
        watermark.saturating_sub(self.state.output_delay())
    }

    fn state(&self) -> OperatorState {
        let size = self.state.size();
        OperatorState { entries: size.left_rows + size.right_rows, bytes: size.bytes }
    }
}
