//! `generate(count, rate) { field = expr … }`: deterministic records from
//! `seq`, optionally at the producers' rate.
//!
//! Subtask `i` of `p` of a generator makes the records whose `seq` is
//! `i, i + p, i + 2p, …`, so every parallelism produces the same records
//! and each subtask's timestamps advance together; `pacing.rs` says when
//! they are due.

use std::time::Instant;

use crate::compile::backend::Generator;
use crate::compile::row::Batch;

use super::pacing::{local_count, Pacing, Step};
use super::{ProduceError, Produced, RecordReader};

pub struct GenerateSource {
    generator: Box<dyn Generator>,
    first_seq: i64,
    stride: i64,
    pacing: Pacing,
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
        GenerateSource {
            generator,
            first_seq: i64::from(subtask),
            stride: i64::from(parallelism),
            pacing: Pacing::new(count.map(|count| local_count(count, subtask, parallelism)), rate, parallelism),
        }
    }
}

impl RecordReader for GenerateSource {
    fn produce(&mut self, output: &mut Batch, max_rows: usize) -> Result<Produced, ProduceError> {
        match self.pacing.step(max_rows) {
            Step::Done => Ok(Produced::Done),
            Step::WaitUntil(instant) => Ok(Produced::WaitUntil(instant)),
            Step::Make(n) => {
                let first = self.first_seq.wrapping_add((self.pacing.made() as i64).wrapping_mul(self.stride));
                self.generator.run(first, self.stride, n, output).map_err(ProduceError::Eval)?;
                self.pacing.advance(n);
                Ok(Produced::Records(n))
            }
        }
    }

    fn stop(&mut self) {
        self.pacing.stop();
    }

    fn lag(&self) -> u64 {
        self.pacing.lag()
    }

    fn schedule(&self) -> Option<(Instant, f64, u64)> {
        self.pacing.schedule()
    }
}
