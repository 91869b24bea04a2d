//! The seam between a chain's per-record work and the runtime that drives
//! it. The runtime asks a `Backend` for compiled functions (a projection for
//! `map`, a predicate for `filter`, scalars for keys and aggregate
//! arguments, a generator for `generate` bodies) and calls them on whole
//! batches; it never looks at expressions itself. `Interpreter` is the
//! reference backend, built on `interp::evaluate`; the Cranelift backend
//! implements the same traits, so it replaces the interpreter inside a
//! chain without the runtime changing.

use std::sync::Arc;

use crate::check::program::{TypedExpr, Value};
use crate::check::types::RecordType;

use super::interp::{evaluate, EvalError};
use super::row::Batch;

/// Makes the compiled functions of one run.
pub trait Backend: Sync {
    /// `interpreter`, `jit`: shown in summaries and benchmarks.
    fn name(&self) -> &'static str;
    /// `map { … }`: `fields[i]` over an `input` row computes field `i` of the `output` row.
    fn projection(
        &self,
        fields: &[TypedExpr],
        input: &Arc<RecordType>,
        output: &Arc<RecordType>,
    ) -> Box<dyn Projection>;
    /// `filter expr` over rows of `record`.
    fn predicate(&self, predicate: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Predicate>;
    /// One value per row: keys and aggregate arguments.
    fn scalar(&self, expr: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Scalar>;
    /// A `generate` body: `fields[i]` computes field `i` from `seq`.
    fn generator(&self, fields: &[TypedExpr], output: &Arc<RecordType>) -> Box<dyn Generator>;
    /// Neighbouring `filter`s and `map`s of a chain as one function over
    /// rows of `input`, or `None` where the backend does not fuse them (the
    /// interpreter never does; the runtime then runs them one by one).
    fn fused(&self, _stages: &[FusedStage], _input: &Arc<RecordType>) -> Option<Box<dyn Fused>> {
        None
    }
    /// What compiling took so far, for a backend that compiles.
    fn compile_stats(&self) -> Option<CompileStats> {
        None
    }
}

/// A compiling backend's work for one job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompileStats {
    /// Functions compiled to native code, each once.
    pub compiled: usize,
    /// Functions left to the interpreter (the compiler failed on them).
    pub interpreted: usize,
    /// Requests met by a function compiled before: further subtasks.
    pub reused: usize,
    /// The compiler's time, over every function.
    pub time: std::time::Duration,
}

impl CompileStats {
    /// The work done after `before` was taken (one run of a backend that
    /// ran others before).
    pub fn since(self, before: Option<CompileStats>) -> CompileStats {
        let Some(before) = before else { return self };
        CompileStats {
            compiled: self.compiled - before.compiled,
            interpreted: self.interpreted - before.interpreted,
            reused: self.reused - before.reused,
            time: self.time.saturating_sub(before.time),
        }
    }
}

/// One operator of a fused run.
#[derive(Debug, Clone)]
pub enum FusedStage {
    Filter(TypedExpr),
    /// The fields, over the previous stage's records, and the record they make.
    Map(Vec<TypedExpr>, Arc<RecordType>),
}

pub trait Fused: Send {
    /// Appends to `output` the rows of `input` that pass every stage, as the
    /// last stage makes them; `passed[k]` gains the rows that left stage `k`.
    /// On an error the runtime runs the batch again stage by stage, so the
    /// error is the one the unfused operators report.
    fn run(&self, input: &Batch, output: &mut Batch, passed: &mut [u64]) -> Result<(), EvalError>;
}

pub trait Projection: Send {
    /// Appends one output row to `output` for every row of `input`.
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError>;
}

pub trait Predicate: Send {
    /// Appends the rows of `input` that pass to `output`.
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError>;
}

pub trait Scalar: Send {
    fn evaluate(&self, input: &Batch, row: usize) -> Result<Value, EvalError>;

    /// The value of every row of `input`, in order, into `values`
    /// (cleared first); on an error, the values of the rows before it.
    fn evaluate_all(&self, input: &Batch, values: &mut Vec<Value>) -> Result<(), EvalError> {
        values.clear();
        for row in 0..input.len() {
            values.push(self.evaluate(input, row)?);
        }
        Ok(())
    }

    /// The bits of every row's value (`bits::value_bits`), for a
    /// value of a fixed-width type: what keyed operators hash and compare
    /// without a `Value` per record. Not for strings, whose bits would be
    /// an address.
    fn evaluate_bits(&self, input: &Batch, bits: &mut Vec<u64>) -> Result<(), EvalError> {
        bits.clear();
        for row in 0..input.len() {
            bits.push(super::bits::value_bits(&self.evaluate(input, row)?));
        }
        Ok(())
    }
}

pub trait Generator: Send {
    /// Appends the records numbered `first, first + stride, …` (`count` of them).
    fn run(&self, first: i64, stride: i64, count: usize, output: &mut Batch) -> Result<(), EvalError>;
}

/// The reference backend: walks the typed expressions for every row.
pub struct Interpreter;

impl Backend for Interpreter {
    fn name(&self) -> &'static str {
        "interpreter"
    }

    fn projection(
        &self,
        fields: &[TypedExpr],
        input: &Arc<RecordType>,
        output: &Arc<RecordType>,
    ) -> Box<dyn Projection> {
        Box::new(InterpretedProjection { fields: fields.to_vec(), input: input.clone(), output: output.clone() })
    }

    fn predicate(&self, predicate: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Predicate> {
        Box::new(InterpretedPredicate { predicate: predicate.clone(), record: record.clone() })
    }

    fn scalar(&self, expr: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Scalar> {
        Box::new(InterpretedScalar { expr: expr.clone(), record: record.clone() })
    }

    fn generator(&self, fields: &[TypedExpr], output: &Arc<RecordType>) -> Box<dyn Generator> {
        Box::new(InterpretedGenerator { fields: fields.to_vec(), output: output.clone() })
    }
}

struct InterpretedProjection {
    fields: Vec<TypedExpr>,
    input: Arc<RecordType>,
    output: Arc<RecordType>,
}

impl Projection for InterpretedProjection {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let mut values = Vec::with_capacity(self.fields.len());
        for index in 0..input.len() {
            let row = input.row(index, &self.input);
            values.clear();
            for field in &self.fields {
                values.push(evaluate(field, &row, 0)?);
            }
            output.push_values(&self.output, &values);
        }
        Ok(())
    }
}

struct InterpretedPredicate {
    predicate: TypedExpr,
    record: Arc<RecordType>,
}

impl Predicate for InterpretedPredicate {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        for index in 0..input.len() {
            if evaluate(&self.predicate, &input.row(index, &self.record), 0)? == Value::Bool(true) {
                output.push_row_of(input, index, &self.record);
            }
        }
        Ok(())
    }
}

struct InterpretedScalar {
    expr: TypedExpr,
    record: Arc<RecordType>,
}

impl Scalar for InterpretedScalar {
    fn evaluate(&self, input: &Batch, row: usize) -> Result<Value, EvalError> {
        evaluate(&self.expr, &input.row(row, &self.record), 0)
    }
}

struct InterpretedGenerator {
    fields: Vec<TypedExpr>,
    output: Arc<RecordType>,
}

impl Generator for InterpretedGenerator {
    fn run(&self, first: i64, stride: i64, count: usize, output: &mut Batch) -> Result<(), EvalError> {
        let no_fields: [Value; 0] = [];
        let mut values = Vec::with_capacity(self.fields.len());
        let mut seq = first;
        for _ in 0..count {
            values.clear();
            for field in &self.fields {
                values.push(evaluate(field, &no_fields[..], seq)?);
            }
            output.push_values(&self.output, &values);
            seq = seq.wrapping_add(stride);
        }
        Ok(())
    }
}
