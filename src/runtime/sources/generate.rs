//! `generate(count, rate) { field = expr … }`: deterministic records from
//! `seq`, optionally at the producers' rate.
//!
//! Subtask `i` of `p` of a generator makes the records whose `seq` is
//! `i, i + p, i + 2p, …`, so every parallelism produces the same records
//! and each subtask's timestamps advance together. With a `rate`, record `k`
//! of a subtask is due `k / (rate / p)` seconds after the start; the records
//! due but not yet made are the source's lag.

use std::time::{Duration, Instant};

use crate::compile::backend::Generator;
use crate::compile::row::Batch;

use super::{ProduceError, Produced, RecordReader};

pub struct GenerateSource {
    generator: Box<dyn Generator>,
    first_seq: i64,
    stride: i64,
    local_count: Option<u64>,
    /// Records per second for this subtask.
    rate: Option<f64>,
    start: Option<Instant>,
    made: u64,
    stopped: bool,
}

impl GenerateSource {
    /// Records due by `now`: all of them without a rate.
    fn due(&self, now: Instant) -> u64 {
        let limit = self.local_count.unwrap_or(u64::MAX);
        match (self.rate, self.start) {
            (Some(rate), Some(start)) => {
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64 + 1;
                due.min(limit)
            }
            (Some(_), None) => 0,
            (None, _) => limit,
        }
    }

    fn produce_records(
        &mut self,
        output: &mut Batch,
        max_rows: usize,
    ) -> Result<Produced, crate::compile::interp::EvalError> {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        if self.stopped || self.local_count.is_some_and(|count| self.made >= count) {
            return Ok(Produced::Done);
        }
        let due = self.due(now).max(if self.rate.is_some() { 1 } else { 0 });
        if due <= self.made {
            let rate = self.rate.expect("only a rate makes records wait");
            let next = start + Duration::from_secs_f64(self.made as f64 / rate);
            return Ok(Produced::WaitUntil(next));
        }
        let n = (due - self.made).min(max_rows as u64) as usize;
        let first = self.first_seq.wrapping_add((self.made as i64).wrapping_mul(self.stride));
        self.generator.run(first, self.stride, n, output)?;
        self.made += n as u64;
        Ok(Produced::Records(n))
    }
}

impl GenerateSource {
    /// Subtask `subtask` of `parallelism` of a generator of `count` records
    /// (unbounded without), at `rate` records per second in all.
    pub(super) fn new(
        generator: Box<dyn Generator>,
        count: Option<u64>,
        rate: Option<f64>,
        subtask: u32,
        parallelism: u32,
    ) -> GenerateSource {
        let (subtask, parallelism) = (u64::from(subtask), u64::from(parallelism));
        let local_count = count.map(|count| count / parallelism + u64::from(subtask < count % parallelism));
        GenerateSource {
            generator,
            first_seq: subtask as i64,
            stride: parallelism as i64,
            local_count,
            rate: rate.map(|rate| rate / parallelism as f64),
            start: None,
            made: 0,
            stopped: false,
        }
    }
}

impl RecordReader for GenerateSource {
    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        self.produce_records(output, max_rows).map_err(ProduceError::Eval)
    }

    fn stop(&mut self) {
        self.stopped = true;
    }

    fn lag(&self) -> u64 {
        match self.rate {
            Some(_) => self.due(Instant::now()).saturating_sub(self.made),
            None => 0,
        }
    }

    fn schedule(&self) -> Option<(Instant, f64, u64)> {
        Some((self.start?, self.rate?, self.local_count.unwrap_or(u64::MAX)))
    }
}
