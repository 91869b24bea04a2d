//! The Cranelift backend: `map`, `filter` and `generate` bodies, keys and
//! aggregate arguments, and runs of neighbouring filters and maps become
//! native kernels that loop over a whole batch (`kernel.rs`), their
//! expressions lowered with the interpreter's semantics (`lower.rs`),
//! strings included (`strings.rs`). Should Cranelift fail on one, that
//! operator runs on the interpreter instead, and `Jit::compiled` records
//! which did what for `flowc explain --jit`.

pub mod explain;
mod helpers;
mod kernel;
mod lower;
mod strings;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::check::program::{TypedExpr, Value};
use crate::check::types::{Field, RecordType, Type};
use crate::compile::backend::{
    Backend, CompileStats, Fused, FusedStage, Generator, Interpreter, Predicate, Projection, Scalar,
};
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;
use crate::diag::Span;

use kernel::{Kernel, KernelKind};
use strings::StringContext;

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

/// The JIT backend. Thread-safe: each function is compiled once per job,
/// and the subtasks that run it share its kernel (each with its own scratch).
#[derive(Default)]
pub struct Jit {
    log: Mutex<Vec<CompiledFunction>>,
    kernels: Mutex<KernelCache>,
}

/// Kernels by what they compute (`KernelKind::identity`; `None` where the
/// compiler failed), and how often one was asked for again.
#[derive(Default)]
struct KernelCache {
    by_identity: HashMap<String, Option<Arc<Kernel>>>,
    reused: usize,
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

    /// Compiles `kind`, or hands out the kernel compiled for it before (a
    /// second subtask of the same operator); records the outcome once.
    fn try_compile(&self, what: &'static str, span: Option<Span>, kind: KernelKind) -> Option<Arc<Kernel>> {
        let identity = kind.identity();
        let mut kernels = self.kernels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kernel) = kernels.by_identity.get(&identity) {
            let kernel = kernel.clone();
            kernels.reused += 1;
            return kernel;
        }
        let kernel = self.compile_new(what, span, kind);
        kernels.by_identity.insert(identity, kernel.clone());
        kernel
    }

    fn compile_new(&self, what: &'static str, span: Option<Span>, kind: KernelKind) -> Option<Arc<Kernel>> {
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

    fn compile_stats(&self) -> Option<CompileStats> {
        // One lock at a time: `try_compile` takes the log's inside the cache's.
        let reused = self.kernels.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).reused;
        let log = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut stats = CompileStats { compiled: 0, interpreted: 0, reused, time: Duration::ZERO };
        for function in log.iter() {
            match &function.outcome {
                Compiled::Native { compile_time, .. } => {
                    stats.compiled += 1;
                    stats.time += *compile_time;
                }
                Compiled::Interpreted { .. } => stats.interpreted += 1,
            }
        }
        Some(stats)
    }

    fn projection(
        &self,
        fields: &[TypedExpr],
        input: &Arc<RecordType>,
        output: &Arc<RecordType>,
    ) -> Box<dyn Projection> {
        let span = fields.first().map(|field| field.span);
        match self.try_compile("map", span, KernelKind::Project { fields, input, output }) {
            Some(kernel) => Box::new(NativeProjection { kernel, context: RefCell::default() }),
            None => Interpreter.projection(fields, input, output),
        }
    }

    fn predicate(&self, predicate: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Predicate> {
        match self.try_compile("filter", Some(predicate.span), KernelKind::Select { predicate, input: record }) {
            Some(kernel) => Box::new(NativePredicate {
                kernel,
                record: record.clone(),
                selected: RefCell::default(),
                context: RefCell::default(),
            }),
            None => Interpreter.predicate(predicate, record),
        }
    }

    fn scalar(&self, expr: &TypedExpr, record: &Arc<RecordType>) -> Box<dyn Scalar> {
        let Some(kernel) =
            self.try_compile("key or argument", Some(expr.span), KernelKind::Scalar { expr, input: record })
        else {
            return Interpreter.scalar(expr, record);
        };
        // A whole batch's values at once: a projection to a one-field
        // record, whose 8-byte rows are the values' bits. Not for strings,
        // whose values would point into the kernel's scratch.
        let column = (expr.ty != Type::String)
            .then(|| {
                let one = RecordType::new(vec![Field { name: "value".into(), ty: expr.ty }]);
                let fields = std::slice::from_ref(expr);
                let kind = KernelKind::Project { fields, input: record, output: &one };
                self.try_compile("key or argument, a batch at a time", Some(expr.span), kind)
            })
            .flatten();
        Box::new(NativeScalar {
            kernel,
            column,
            ty: expr.ty,
            width: record.layout().width as usize,
            context: RefCell::default(),
            bits: RefCell::default(),
        })
    }

    fn fused(&self, stages: &[FusedStage], input: &Arc<RecordType>) -> Option<Box<dyn Fused>> {
        let output = match stages.iter().rev().find_map(|stage| match stage {
            FusedStage::Map(_, record) => Some(record.clone()),
            FusedStage::Filter(_) => None,
        }) {
            Some(record) => record,
            None => input.clone(),
        };
        let span = stages.first().and_then(|stage| match stage {
            FusedStage::Filter(predicate) => Some(predicate.span),
            FusedStage::Map(fields, _) => fields.first().map(|field| field.span),
        });
        let kind = KernelKind::Fused { stages, input, output: &output };
        let kernel = self.try_compile("fused", span, kind)?;
        Some(Box::new(NativeFused { kernel, context: RefCell::default() }))
    }

    fn generator(&self, fields: &[TypedExpr], output: &Arc<RecordType>) -> Box<dyn Generator> {
        let span = fields.first().map(|field| field.span);
        match self.try_compile("generate", span, KernelKind::Generate { fields, output }) {
            Some(kernel) => Box::new(NativeGenerator { kernel, context: RefCell::default() }),
            None => Interpreter.generator(fields, output),
        }
    }
}

/// The error a kernel reported, as the interpreter would have.
fn kernel_error(kernel: &Kernel, code: i64) -> EvalError {
    let site = &kernel.errors[(code - 1) as usize];
    EvalError { message: site.message.clone(), span: site.span }
}

/// The signatures `kernel.rs` builds: the string context first, and
/// last `[failed row, rows kept]` for the error exit.
type ProjectFn = unsafe extern "C" fn(*mut StringContext, *const u8, u64, *mut u8, *mut [u64; 2]) -> i64;
type SelectFn = unsafe extern "C" fn(*mut StringContext, *const u8, u64, *mut u32, *mut [u64; 2]) -> i64;
type GenerateFn = unsafe extern "C" fn(*mut StringContext, i64, i64, u64, *mut u8, *mut [u64; 2]) -> i64;
type ScalarFn = unsafe extern "C" fn(*mut StringContext, *const u8, *mut [u64; 2]) -> i64;
type FusedFn = unsafe extern "C" fn(*mut StringContext, *const u8, u64, *mut u8, *mut u64, *mut [u64; 2]) -> i64;

struct NativeFused {
    kernel: Arc<Kernel>,
    context: RefCell<StringContext>,
}

impl Fused for NativeFused {
    fn run(&self, input: &Batch, output: &mut Batch, passed: &mut [u64]) -> Result<(), EvalError> {
        let n = input.len();
        let before = output.len();
        let mut context = self.context.borrow_mut();
        let (rows, strings) = output.append_zeroed_rows(n);
        context.prepare(input.string_bytes_all(), &self.kernel.literals, Some(strings));
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` input rows and the strings they point
        // to, writes at most `n` output rows into `rows` (sized for `n`),
        // their strings through the context, and one counter per stage into
        // `passed`, which the runtime sizes to the stages.
        let status = unsafe {
            let function: FusedFn = std::mem::transmute(self.kernel.code);
            let input_rows = input.row_bytes_all().as_ptr();
            function(&mut *context, input_rows, n as u64, rows.as_mut_ptr(), passed.as_mut_ptr(), &mut failed)
        };
        context.release();
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
    /// The same expression over a whole batch (`evaluate_all`).
    column: Option<Arc<Kernel>>,
    ty: Type,
    width: usize,
    context: RefCell<StringContext>,
    /// The column kernel's output, reused from batch to batch.
    bits: RefCell<Vec<u64>>,
}

impl NativeScalar {
    fn value_of_bits(&self, bits: i64) -> Value {
        crate::compile::bits::value_of_bits(self.ty, bits as u64)
    }

    /// Runs the kernel on row `row` of `input` with a prepared `context`.
    fn value_at(&self, context: &mut StringContext, input: &Batch, row: usize) -> Result<Value, EvalError> {
        let bytes = input.row_bytes_all();
        let start = row * self.width;
        assert!(start + self.width <= bytes.len(), "row {row} is outside its batch");
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads one row of the record's layout at
        // `start`, which the assertion above keeps inside the batch, and the
        // strings it points to, which `context` was prepared with.
        let bits = unsafe {
            let function: ScalarFn = std::mem::transmute(self.kernel.code);
            function(context, bytes.as_ptr().add(start), &mut failed)
        };
        if failed[1] != 0 {
            return Err(kernel_error(&self.kernel, failed[1] as i64));
        }
        if self.ty != Type::String {
            return Ok(self.value_of_bits(bits));
        }
        // SAFETY: a string-valued kernel returns a string's address and
        // leaves its length in the context; both stay valid until the
        // context is next prepared.
        let bytes = unsafe { std::slice::from_raw_parts(bits as usize as *const u8, context.last_len as usize) };
        Ok(Value::Str(Arc::from(String::from_utf8_lossy(bytes))))
    }
}

impl Scalar for NativeScalar {
    fn evaluate(&self, input: &Batch, row: usize) -> Result<Value, EvalError> {
        let mut context = self.context.borrow_mut();
        context.prepare(input.string_bytes_all(), &self.kernel.literals, None);
        self.value_at(&mut context, input, row)
    }

    fn evaluate_all(&self, input: &Batch, values: &mut Vec<Value>) -> Result<(), EvalError> {
        values.clear();
        if let Some(column) = &self.column {
            let mut bits = self.bits.borrow_mut();
            let result = self.run_column(column, input, &mut bits);
            values.extend(bits.iter().map(|&bits| self.value_of_bits(bits as i64)));
            return result;
        }
        let mut context = self.context.borrow_mut();
        // One preparation for the batch: strings made for earlier rows stay
        // in scratch until the next batch, which is bounded by the batch.
        context.prepare(input.string_bytes_all(), &self.kernel.literals, None);
        for row in 0..input.len() {
            values.push(self.value_at(&mut context, input, row)?);
        }
        Ok(())
    }

    fn evaluate_bits(&self, input: &Batch, bits: &mut Vec<u64>) -> Result<(), EvalError> {
        match &self.column {
            Some(column) => self.run_column(column, input, bits),
            None => {
                bits.clear();
                for row in 0..input.len() {
                    bits.push(crate::compile::bits::value_bits(&self.evaluate(input, row)?));
                }
                Ok(())
            }
        }
    }
}

impl NativeScalar {
    /// Every row's value bits into `bits` with the column kernel; on an
    /// error, the bits of the rows before the failing one.
    fn run_column(&self, column: &Kernel, input: &Batch, bits: &mut Vec<u64>) -> Result<(), EvalError> {
        let n = input.len();
        bits.clear();
        bits.resize(n, 0);
        let mut context = self.context.borrow_mut();
        context.prepare(input.string_bytes_all(), &column.literals, None);
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` rows of the input's layout and the
        // strings they point to, and writes `n` 8-byte rows of its
        // one-field record (no strings) into `bits`, sized for them.
        let status = unsafe {
            let function: ProjectFn = std::mem::transmute(column.code);
            let out = bits.as_mut_ptr() as *mut u8;
            function(&mut *context, input.row_bytes_all().as_ptr(), n as u64, out, &mut failed)
        };
        if status < 0 {
            bits.truncate(failed[0] as usize);
            return Err(kernel_error(column, -status));
        }
        Ok(())
    }
}

struct NativeProjection {
    kernel: Arc<Kernel>,
    context: RefCell<StringContext>,
}

impl Projection for NativeProjection {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let n = input.len();
        let before = output.len();
        let mut context = self.context.borrow_mut();
        let (rows, strings) = output.append_zeroed_rows(n);
        context.prepare(input.string_bytes_all(), &self.kernel.literals, Some(strings));
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` rows of the input's layout, which
        // `input` holds, and the strings they point to, and writes `n` rows
        // of the output's layout into `rows`, just sized for them, and
        // their strings through the context.
        let status = unsafe {
            let function: ProjectFn = std::mem::transmute(self.kernel.code);
            function(&mut *context, input.row_bytes_all().as_ptr(), n as u64, rows.as_mut_ptr(), &mut failed)
        };
        context.release();
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
    context: RefCell<StringContext>,
}

impl Predicate for NativePredicate {
    fn run(&self, input: &Batch, output: &mut Batch) -> Result<(), EvalError> {
        let n = input.len();
        let mut selected = self.selected.borrow_mut();
        selected.clear();
        selected.resize(n, 0);
        let mut context = self.context.borrow_mut();
        context.prepare(input.string_bytes_all(), &self.kernel.literals, None);
        let mut failed = [0u64; 2];
        // SAFETY: the kernel reads `n` rows of `input` and the strings they
        // point to, and writes at most `n` indices into `selected`, just
        // sized for them.
        let status = unsafe {
            let function: SelectFn = std::mem::transmute(self.kernel.code);
            function(&mut *context, input.row_bytes_all().as_ptr(), n as u64, selected.as_mut_ptr(), &mut failed)
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
    context: RefCell<StringContext>,
}

impl Generator for NativeGenerator {
    fn run(&self, first: i64, stride: i64, count: usize, output: &mut Batch) -> Result<(), EvalError> {
        let before = output.len();
        let mut context = self.context.borrow_mut();
        let (rows, strings) = output.append_zeroed_rows(count);
        context.prepare(&[], &self.kernel.literals, Some(strings));
        let mut failed = [0u64; 2];
        // SAFETY: the kernel writes `count` rows of the output's layout into
        // `rows`, just sized for them, and their strings through the context.
        let status = unsafe {
            let function: GenerateFn = std::mem::transmute(self.kernel.code);
            function(&mut *context, first, stride, count as u64, rows.as_mut_ptr(), &mut failed)
        };
        context.release();
        if status < 0 {
            output.keep_rows(before + failed[0] as usize);
            return Err(kernel_error(&self.kernel, -status));
        }
        Ok(())
    }
}
