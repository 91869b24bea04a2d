//! The Cranelift backend: `map`, `filter` and `generate` bodies become
//! native kernels that loop over a whole batch (`kernel.rs`), their
//! expressions lowered with the interpreter's semantics (`lower.rs`).
//! What it cannot compile yet (strings, string functions; keys and
//! aggregate arguments) runs on the interpreter, operator by operator, and
//! `Jit::compiled` records which did what for `flowc explain --jit`.

pub mod explain;
mod kernel;
mod lower;

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::check::program::{TypedExpr, Value};
use crate::check::types::{RecordType, Type};
use crate::compile::backend::{Backend, Fused, FusedStage, Generator, Interpreter, Predicate, Projection, Scalar};
use crate::compile::interp::EvalError;
use crate::compile::row::{has_strings, Batch};
use crate::diag::Span;

use kernel::{Kernel, KernelKind};

/// What became of one operator's expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum Compiled {
    Native {
        code_bytes: usize,
        compile_time: Duration,
        ir: String,
    },
    /// Left to the interpreter, and why.
    Interpreted {
        reason: String,
    },
}

/// One function the JIT was asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledFunction {
    /// `map`, `filter`, `generate`, `key`, `aggregate argument`.
    pub what: &'static str,
    /// The first expression's place in the file.
    pub span: Option<Span>,
    pub outcome: Compiled,
}

/// The JIT backend. Thread-safe: compiled kernels are shared by the subtasks.
#[derive(Default)]
pub struct Jit {
    log: Mutex<Vec<CompiledFunction>>,
}

impl Jit {
    pub fn new() -> Jit {
        Jit::default()
    }

    /// Every function compiled or left to the interpreter so far, in order.
    pub fn compiled(&self) -> Vec<CompiledFunction> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn record(&self, what: &'static str, span: Option<Span>, outcome: Compiled) {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(CompiledFunction { what, span, outcome });
    }

    /// Compiles `kind` when every expression is supported; records the outcome.
    fn try_compile(&self, what: &'static str, exprs: &[TypedExpr], kind: KernelKind) -> Option<Arc<Kernel>> {
        let span = exprs.first().map(|expr| expr.span);
        if let Err(reason) = exprs.iter().try_for_each(lower::supported) {
            self.record(what, span, Compiled::Interpreted { reason });
            return None;
        }
        match kernel::compile(&kind) {
            Ok(kernel) => {
                self.record(
                    what,
                    span,
                    Compiled::Native {
                        code_bytes: kernel.code_bytes,
                        compile_time: kernel.compile_time,
                        ir: kernel.ir.clone(),
                    },
                );
                Some(Arc::new(kernel))
            }
            Err(message) => {
                self.record(what, span, Compiled::Interpreted { reason: format!("the JIT failed: {message}") });
                None
            }
        }
    }
}

impl Backend for Jit {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn projection(
        &self,
        fields: &[TypedExpr],
        input: &Arc<RecordType>,
        output: &Arc<RecordType>,
    ) -> Box<dyn Projection> {
        if has_strings(output) {
            let reason = "output records with strings are interpreted".to_string();
            self.record("map", fields.first().map(|f| f.span), Compiled::Interpreted { reason });
            return Interpreter.projection(fields, input, output);
        }
        match self.try_compile("map", fields, KernelKind::Project { fields, input, output }) {
            Some(kernel) => Box::new(NativeProjection { kernel, output_width: output.layout().width as usize }),
            None => Interpreter.projection(fields, input, output),
        }
    }

    fn predicate(&self, predicate: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Predicate> {
        let exprs = std::slice::from_ref(predicate);
        match self.try_compile("filter", exprs, KernelKind::Select { predicate, input: record }) {
            Some(kernel) => Box::new(NativePredicate { kernel, record: record.clone(), selected: RefCell::default() }),
            None => Interpreter.predicate(predicate, record),
        }
    }

    fn scalar(&self, expr: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Scalar> {
        let exprs = std::slice::from_ref(expr);
        match self.try_compile("key or argument", exprs, KernelKind::Scalar { expr, input: record }) {
            Some(kernel) => Box::new(NativeScalar { kernel, ty: expr.ty, width: record.layout().width as usize }),
            None => Interpreter.scalar(expr, record),
        }
    }

    fn fused(&self, stages: &[FusedStage], input: &Arc<RecordType>) -> Option<Box<dyn Fused>> {
        let output = match stages.iter().rev().find_map(|stage| match stage {
            FusedStage::Map(_, record) => Some(record.clone()),
            FusedStage::Filter(_) => None,
        }) {
            Some(record) => record,
            None => input.clone(),
        };
        if has_strings(&output) {
            return None;
        }
        let exprs: Vec<TypedExpr> = stages
            .iter()
            .flat_map(|stage| match stage {
                FusedStage::Filter(predicate) => vec![predicate.clone()],
                FusedStage::Map(fields, _) => fields.clone(),
            })
            .collect();
        let kind = KernelKind::Fused { stages, input, output: &output };
        let kernel = self.try_compile("fused chain", &exprs, kind)?;
        Some(Box::new(NativeFused { kernel, output_width: output.layout().width as usize }))
    }

    fn generator(&self, fields: &[TypedExpr], output: &Arc<RecordType>) -> Box<dyn Generator> {
        if has_strings(output) {
            let reason = "output records with strings are interpreted".to_string();
            self.record("generate", fields.first().map(|f| f.span), Compiled::Interpreted { reason });
            return Interpreter.generator(fields, output);
        }
        match self.try_compile("generate", fields, KernelKind::Generate { fields, output }) {
            Some(kernel) => Box::new(NativeGenerator { kernel }),
            None => Interpreter.generator(fields, output),
        }
    }
}

/// The error a kernel reported, as the interpreter would have.
fn kernel_error(kernel: &Kernel, code: i64) -> EvalError {
    let site = &kernel.errors[(code - 1) as usize];
    EvalError { message: site.message.clone(), span: site.span }
}

struct NativeProjection {
    kernel: Arc<Kernel>,
    output_width: usize,
}

/// The signatures `kernel.rs` builds; the last argument is `[failed row, rows kept]`.
type ProjectFn = unsafe extern "C" fn(*const u8, u64, *mut u8, *mut [u64; 2]) -> i64;
type SelectFn = unsafe extern "C" fn(*const u8, u64, *mut u32, *mut [u64; 2]) -> i64;
type GenerateFn = unsafe extern "C" fn(i64, i64, u64, *mut u8, *mut [u64; 2]) -> i64;
type ScalarFn = unsafe extern "C" fn(*const u8, *mut [u64; 2]) -> i64;
type FusedFn = unsafe extern "C" fn(*const u8, u64, *mut u8, *mut u64, *mut [u64; 2]) -> i64;

struct NativeFused {
    kernel: Arc<Kernel>,
    output_width: usize,
}

impl Fused for NativeFused {
    fn run(&self, input: &Batch, output: &mut Batch, passed: &mut [u64]) -> Result<(), EvalError> {
        let n = input.len();
        let before = output.len();
        let rows = output.append_zeroed_rows(n);
        debug_assert_eq!(rows.len(), n * self.output_width);
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` input rows, writes at most `n` output
        // rows into `rows` (sized for `n`), and one counter per stage into
        // `passed`, which the runtime sizes to the stages.
        let status = unsafe {
            let function: FusedFn = std::mem::transmute(self.kernel.code);
            function(input.row_bytes_all().as_ptr(), n as u64, rows.as_mut_ptr(), passed.as_mut_ptr(), &mut failed)
        };
        if status < 0 {
            output.keep_rows(before);
            return Err(kernel_error(&self.kernel, -status));
        }
        output.keep_rows(before + status as usize);
        Ok(())
    }
}

struct NativeScalar {
    kernel: Arc<Kernel>,
    ty: Type,
    width: usize,
}

impl Scalar for NativeScalar {
    fn evaluate(&self, input: &Batch, row: usize) -> Result<Value, EvalError> {
        let bytes = input.row_bytes_all();
        let start = row * self.width;
        assert!(start + self.width <= bytes.len(), "row {row} is outside its batch");
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads one row of the record's layout at
        // `start`, which the assertion above keeps inside the batch.
        let bits = unsafe {
            let function: ScalarFn = std::mem::transmute(self.kernel.code);
            function(bytes.as_ptr().add(start), &mut failed)
        };
        if failed[1] != 0 {
            return Err(kernel_error(&self.kernel, failed[1] as i64));
        }
        Ok(match self.ty {
            Type::Float => Value::Float(f64::from_bits(bits as u64)),
            Type::Bool => Value::Bool(bits != 0),
            Type::Timestamp => Value::Timestamp(bits),
            Type::Duration => Value::Duration(bits),
            _ => Value::Int(bits),
        })
    }
}

impl Projection for NativeProjection {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let n = input.len();
        let before = output.len();
        let rows = output.append_zeroed_rows(n);
        debug_assert_eq!(rows.len(), n * self.output_width);
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` rows of the input's layout, which
        // `input` holds, and writes `n` rows of the output's layout into
        // `rows`, just sized for them.
        let status = unsafe {
            let function: ProjectFn = std::mem::transmute(self.kernel.code);
            function(input.row_bytes_all().as_ptr(), n as u64, rows.as_mut_ptr(), &mut failed)
        };
        if status < 0 {
            // The rows before the failing one stand, as in the interpreter.
            output.keep_rows(before + failed[0] as usize);
            return Err(kernel_error(&self.kernel, -status));
        }
        Ok(())
    }
}

struct NativePredicate {
    kernel: Arc<Kernel>,
    record: Arc<RecordType>,
    /// The kept rows' indices, reused from batch to batch.
    selected: RefCell<Vec<u32>>,
}

impl Predicate for NativePredicate {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let n = input.len();
        let mut selected = self.selected.borrow_mut();
        selected.clear();
        selected.resize(n, 0);
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` rows of `input` and writes at most
        // `n` indices into `selected`, just sized for them.
        let status = unsafe {
            let function: SelectFn = std::mem::transmute(self.kernel.code);
            function(input.row_bytes_all().as_ptr(), n as u64, selected.as_mut_ptr(), &mut failed)
        };
        if status < 0 {
            // The rows kept before the failing one stand, as in the interpreter.
            output.extend_selected(input, &selected[..failed[1] as usize], &self.record);
            return Err(kernel_error(&self.kernel, -status));
        }
        output.extend_selected(input, &selected[..status as usize], &self.record);
        Ok(())
    }
}

struct NativeGenerator {
    kernel: Arc<Kernel>,
}

impl Generator for NativeGenerator {
    fn run(&self, first: i64, stride: i64, count: usize, output: &mut Batch) -> Result<(), EvalError> {
        let before = output.len();
        let rows = output.append_zeroed_rows(count);
        let mut failed = [0u64; 2];
        // SAFETY: the kernel writes `count` rows of the output's layout into
        // `rows`, just sized for them.
        let status = unsafe {
            let function: GenerateFn = std::mem::transmute(self.kernel.code);
            function(first, stride, count as u64, rows.as_mut_ptr(), &mut failed)
        };
        if status < 0 {
            output.keep_rows(before + failed[0] as usize);
            return Err(kernel_error(&self.kernel, -status));
        }
        Ok(())
    }
}
