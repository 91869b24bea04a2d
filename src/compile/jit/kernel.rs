//! Native kernels: one Cranelift function per `map`, `filter` or
//! `generate` body, looping over a whole batch of rows. This file owns the
//! JIT module (ISA, helper symbols, finalisation) and the loop around the
//! expressions; `lower.rs` lowers the expressions themselves.
//!
//! Every kernel reads only `n` rows of its input and writes only `n` rows
//! (or `n` indices) of its output: the caller sizes both before the call.
//! A kernel returns what it counted (0, or the rows a `filter` kept), or
//! minus the 1-based number of the error site that stopped it, having
//! written the failing row's index and the rows kept before it to
//! `error[0]` and `error[1]`.

use std::time::{Duration, Instant};

use cranelift_codegen::ir::{types, AbiParam, BlockArg, InstBuilder, MemFlagsData, UserFuncName};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

use crate::check::patterns::Pattern;
use crate::check::program::TypedExpr;
use crate::check::types::RecordType;
use crate::compile::backend::FusedStage;

use super::helpers::{Helper, Helpers};
use super::lower::{ErrorSite, KernelState, Lowered, Lowering};
use super::strings::LAST_LEN_OFFSET;

/// What a kernel computes.
pub enum KernelKind<'a> {
    /// `fields` over each input row, stored as an output row.
    Project { fields: &'a [TypedExpr], input: &'a RecordType, output: &'a RecordType },
    /// The indices of the input rows where `predicate` holds.
    Select { predicate: &'a TypedExpr, input: &'a RecordType },
    /// `fields` for `seq = first, first + stride, …`, stored as output rows.
    Generate { fields: &'a [TypedExpr], output: &'a RecordType },
    /// `expr` over one row (keys, aggregate arguments), its bits returned:
    /// an integer as is, a float's bits, a bool as 0 or 1.
    Scalar { expr: &'a TypedExpr, input: &'a RecordType },
    /// Neighbouring filters and maps in one loop: the rows that pass every
    /// stage, as the last stage makes them, packed at the output's start.
    Fused { stages: &'a [FusedStage], input: &'a RecordType, output: &'a RecordType },
}

impl KernelKind<'_> {
    /// What the kernel computes, as text: two requests with the same
    /// identity get the same code (the subtasks of one operator).
    pub fn identity(&self) -> String {
        match self {
            KernelKind::Project { fields, input, output } => format!("project {fields:?} {input:?} {output:?}"),
            KernelKind::Select { predicate, input } => format!("select {predicate:?} {input:?}"),
            KernelKind::Generate { fields, output } => format!("generate {fields:?} {output:?}"),
            KernelKind::Scalar { expr, input } => format!("scalar {expr:?} {input:?}"),
            KernelKind::Fused { stages, input, output } => format!("fused {stages:?} {input:?} {output:?}"),
        }
    }
}

/// A compiled kernel and the module that owns its code.
pub struct Kernel {
    module: Option<JITModule>,
    pub code: *const u8,
    pub errors: Vec<ErrorSite>,
    /// The string literals the code reads (through `StringContext::literals`),
    /// and the addresses of its patterns.
    pub literals: Box<[u8]>,
    /// The parsed patterns the code's helpers run, whose addresses the
    /// literals hold: owned here, so they live as long as the code.
    #[expect(dead_code, reason = "held, not read: the code reaches the patterns through their addresses")]
    patterns: Vec<Pattern>,
    pub code_bytes: usize,
    pub compile_time: Duration,
    /// The Cranelift IR, for `flowc explain --jit-ir`.
    pub ir: String,
}

// SAFETY: the code and literals are immutable once finalised and only ever
// read; the module is touched again only to free the code, in `drop`.
unsafe impl Send for Kernel {}
unsafe impl Sync for Kernel {}

impl Drop for Kernel {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the kernel is being dropped, so nothing can call the code any more.
            unsafe { module.free_memory() };
        }
    }
}

fn new_module() -> Result<JITModule, String> {
    let mut flags = settings::builder();
    for (name, value) in [("use_colocated_libcalls", "false"), ("is_pic", "false"), ("opt_level", "speed")] {
        flags.set(name, value).map_err(|error| format!("cranelift setting {name}: {error}"))?;
    }
    let isa = cranelift_native::builder()
        .map_err(|error| format!("this machine is not a Cranelift target: {error}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|error| format!("cranelift: {error}"))?;
    // Rows, lengths and addresses are all 64-bit words in the kernels.
    if isa.pointer_type() != types::I64 {
        return Err(format!("the JIT needs a 64-bit target, not {}", isa.triple()));
    }
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    Helper::register_all(&mut builder);
    let mut module = JITModule::new(builder);
    Helper::declare_all(&mut module)?;
    Ok(module)
}

/// Compiles one kernel. An `Err` is a Cranelift failure, reported, never a crash.
pub fn compile(kind: &KernelKind) -> Result<Kernel, String> {
    let started = Instant::now();
    let mut module = new_module()?;
    let mut context = module.make_context();
    let signature = &mut context.func.signature;
    let i64 = types::I64;
    // Every kernel takes its `StringContext` first; addresses are `i64`.
    let params: &[_] = match kind {
        // (context, input, n, output, error_row)
        KernelKind::Project { .. } => &[i64, i64, i64, i64, i64],
        // (context, input, n, selected, error_row) -> count or -code
        KernelKind::Select { .. } => &[i64, i64, i64, i64, i64],
        // (context, first, stride, n, output, error_row)
        KernelKind::Generate { .. } => &[i64, i64, i64, i64, i64, i64],
        // (context, row, error_row) -> bits; an error is reported in error_row[1] = code
        KernelKind::Scalar { .. } => &[i64, i64, i64],
        // (context, input, n, output, passed per stage, error_row) -> rows out or -code
        KernelKind::Fused { .. } => &[i64, i64, i64, i64, i64, i64],
    };
    signature.params.extend(params.iter().map(|ty| AbiParam::new(*ty)));
    signature.returns.push(AbiParam::new(types::I64));
    context.func.name = UserFuncName::user(0, Helper::ALL.len() as u32);
    let (errors, literals, patterns) = {
        let mut function_context = FunctionBuilderContext::new();
        let mut builder = FunctionBuilder::new(&mut context.func, &mut function_context);
        let helpers = Helpers::new(module.isa().default_call_conv());
        let state = match kind {
            KernelKind::Scalar { expr, input } => build_scalar(&mut builder, expr, input, helpers),
            _ => build_loop(&mut builder, kind, helpers),
        };
        builder.seal_all_blocks();
        builder.finalize(module.target_config());
        (state.errors, state.literals, state.patterns)
    };
    let ir = context.func.display().to_string();
    let id = module
        .declare_function("kernel", Linkage::Export, &context.func.signature)
        .map_err(|error| error.to_string())?;
    module.define_function(id, &mut context).map_err(|error| format!("cranelift cannot compile: {error:?}"))?;
    let code_bytes = context.compiled_code().map_or(0, |code| code.code_buffer().len());
    module.clear_context(&mut context);
    module.finalize_definitions().map_err(|error| error.to_string())?;
    let code = module.get_finalized_function(id);
    Ok(Kernel {
        module: Some(module),
        code,
        errors,
        literals: literals.into_boxed_slice(),
        patterns,
        code_bytes,
        compile_time: started.elapsed(),
        ir,
    })
}

/// One row, no loop: returns the value's bits (a string's address, its
/// length left in the context); on an error, writes the error site's code
/// to `error[1]` (and 0 to `error[0]`) and returns 0.
fn build_scalar(builder: &mut FunctionBuilder, expr: &TypedExpr, input: &RecordType, helpers: Helpers) -> KernelState {
    let (entry, error_exit) = (builder.create_block(), builder.create_block());
    builder.append_block_params_for_function_params(entry);
    let code = builder.append_block_param(error_exit, types::I32);
    let _failed_row = builder.append_block_param(error_exit, types::I64);
    let _kept = builder.append_block_param(error_exit, types::I64);
    builder.switch_to_block(entry);
    let params = builder.block_params(entry).to_vec();
    let mut state = KernelState::new(builder, helpers, params[0], error_exit);
    let zero = builder.ins().iconst(types::I64, 0);
    let store = MemFlagsData::new().with_notrap();
    let value = Lowering::new(&mut *builder, &mut state, zero, zero).reading(params[1], input).lower_any(expr);
    let bits = match value {
        Lowered::Str(ptr, len) => {
            builder.ins().store(store, len, params[0], LAST_LEN_OFFSET);
            ptr
        }
        Lowered::One(value) => match builder.func.dfg.value_type(value) {
            types::F64 => builder.ins().bitcast(types::I64, MemFlagsData::new(), value),
            types::I8 => builder.ins().uextend(types::I64, value),
            _ => value,
        },
    };
    builder.ins().return_(&[bits]);
    builder.switch_to_block(error_exit);
    let code = builder.ins().sextend(types::I64, code);
    builder.ins().store(store, code, params[2], 8);
    let zero = builder.ins().iconst(types::I64, 0);
    builder.ins().return_(&[zero]);
    state
}

fn block_args(values: &[cranelift_codegen::ir::Value]) -> Vec<BlockArg> {
    values.iter().map(|value| BlockArg::Value(*value)).collect()
}

/// The loop over rows: `header(i, count)` tests `i < n`; `body` computes
/// row `i`; `exit` returns; `error_exit(code, row)` records the row.
fn build_loop(builder: &mut FunctionBuilder, kind: &KernelKind, helpers: Helpers) -> KernelState {
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    let (header, body, exit, error_exit) =
        (builder.create_block(), builder.create_block(), builder.create_block(), builder.create_block());
    let index = builder.append_block_param(header, types::I64);
    let count = builder.append_block_param(header, types::I64);
    let exit_count = builder.append_block_param(exit, types::I64);
    // A fused kernel counts the rows past each filter in registers,
    // carried round the loop, and stores the counts once at the end.
    let filters = match kind {
        KernelKind::Fused { stages, .. } => {
            stages.iter().filter(|stage| matches!(stage, FusedStage::Filter(_))).count()
        }
        _ => 0,
    };
    let passed: Vec<_> = (0..filters).map(|_| builder.append_block_param(header, types::I64)).collect();
    let exit_passed: Vec<_> = (0..filters).map(|_| builder.append_block_param(exit, types::I64)).collect();
    let code = builder.append_block_param(error_exit, types::I32);
    let failed_row = builder.append_block_param(error_exit, types::I64);
    let kept_before = builder.append_block_param(error_exit, types::I64);

    builder.switch_to_block(entry);
    let params = builder.block_params(entry).to_vec();
    let mut state = KernelState::new(builder, helpers, params[0], error_exit);
    let (n, error_row) = match kind {
        KernelKind::Generate { .. } => (params[3], params[5]),
        KernelKind::Fused { .. } => (params[2], params[5]),
        _ => (params[2], params[4]),
    };
    let zero = builder.ins().iconst(types::I64, 0);
    builder.ins().jump(header, &block_args(&vec![zero; 2 + filters]));

    builder.switch_to_block(header);
    let more = builder.ins().icmp(cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThan, index, n);
    builder.ins().brif(more, body, &[], exit, &block_args(&[&[count][..], &passed].concat()));

    builder.switch_to_block(body);
    let store = MemFlagsData::new().with_notrap();
    let mut next_passed = Vec::new();
    let next_count = match kind {
        KernelKind::Project { fields, input, output } => {
            let row = builder.ins().imul_imm_s(index, i64::from(input.layout().width));
            let row = builder.ins().iadd(params[1], row);
            let out = builder.ins().imul_imm_s(index, i64::from(output.layout().width));
            let out = builder.ins().iadd(params[3], out);
            let mut lowering = Lowering::new(&mut *builder, &mut state, index, count).reading(row, input);
            for (field, offset) in fields.iter().zip(&output.layout().offsets) {
                let value = lowering.lower_any(field);
                lowering.store(value, out, *offset);
            }
            count
        }
        KernelKind::Select { predicate, input } => {
            let row = builder.ins().imul_imm_s(index, i64::from(input.layout().width));
            let row = builder.ins().iadd(params[1], row);
            let keep = Lowering::new(&mut *builder, &mut state, index, count).reading(row, input).lower(predicate);
            // Branch-free: write the index at the next free place, and
            // advance only when the row is kept.
            let slot = builder.ins().imul_imm_s(count, 4);
            let slot = builder.ins().iadd(params[3], slot);
            let narrow = builder.ins().ireduce(types::I32, index);
            builder.ins().store(store, narrow, slot, 0);
            let keep = builder.ins().uextend(types::I64, keep);
            builder.ins().iadd(count, keep)
        }
        KernelKind::Generate { fields, output } => {
            let step = builder.ins().imul(index, params[2]);
            let seq = builder.ins().iadd(params[1], step);
            let out = builder.ins().imul_imm_s(index, i64::from(output.layout().width));
            let out = builder.ins().iadd(params[4], out);
            let mut lowering = Lowering::new(&mut *builder, &mut state, index, count).with_seq(seq);
            for (field, offset) in fields.iter().zip(&output.layout().offsets) {
                let value = lowering.lower_any(field);
                lowering.store(value, out, *offset);
            }
            count
        }
        KernelKind::Scalar { .. } => unreachable!("a scalar has no loop: `build_scalar`"),
        KernelKind::Fused { stages, input, output } => {
            let row = builder.ins().imul_imm_s(index, i64::from(input.layout().width));
            let row = builder.ins().iadd(params[1], row);
            let next = builder.create_block();
            let next_count = builder.append_block_param(next, types::I64);
            next_passed = (0..filters).map(|_| builder.append_block_param(next, types::I64)).collect();
            let mut values: Option<Vec<Lowered>> = None;
            // The counts as this row leaves each filter.
            let mut counts = passed.clone();
            let mut filter = 0;
            for stage in stages.iter() {
                let mut lowering = Lowering::new(&mut *builder, &mut state, index, count)
                    .reading(row, input)
                    .with_values(values.clone());
                match stage {
                    FusedStage::Filter(predicate) => {
                        let keep = lowering.lower(predicate);
                        let kept = builder.create_block();
                        let dropped = block_args(&[&[count][..], &counts].concat());
                        builder.ins().brif(keep, kept, &[], next, &dropped);
                        builder.switch_to_block(kept);
                        builder.seal_block(kept);
                        counts[filter] = builder.ins().iadd_imm_s(counts[filter], 1);
                        filter += 1;
                    }
                    FusedStage::Map(fields, _) => {
                        values = Some(fields.iter().map(|field| lowering.lower_any(field)).collect());
                    }
                }
            }
            let out = builder.ins().imul_imm_s(count, i64::from(output.layout().width));
            let out = builder.ins().iadd(params[3], out);
            let mut lowering = Lowering::new(&mut *builder, &mut state, index, count).reading(row, input);
            let values = match values {
                Some(values) => values,
                // Filters only: the row goes out as it came in.
                None => (0..input.fields().len()).map(|field| lowering.field(field)).collect(),
            };
            for (value, offset) in values.into_iter().zip(&output.layout().offsets) {
                lowering.store(value, out, *offset);
            }
            let counted = builder.ins().iadd_imm_s(count, 1);
            builder.ins().jump(next, &block_args(&[&[counted][..], &counts].concat()));
            builder.switch_to_block(next);
            next_count
        }
    };
    let next = builder.ins().iadd_imm_s(index, 1);
    builder.ins().jump(header, &block_args(&[&[next, next_count][..], &next_passed].concat()));

    builder.switch_to_block(exit);
    if let KernelKind::Fused { stages, .. } = kind {
        // A map passes what reached it: the count of the filter before
        // it, or every row.
        let (mut filter, mut reached) = (0, n);
        for (stage_index, stage) in stages.iter().enumerate() {
            if matches!(stage, FusedStage::Filter(_)) {
                reached = exit_passed[filter];
                filter += 1;
            }
            builder.ins().store(store, reached, params[4], (stage_index * 8) as i32);
        }
    }
    builder.ins().return_(&[exit_count]);

    builder.switch_to_block(error_exit);
    builder.ins().store(store, failed_row, error_row, 0);
    builder.ins().store(store, kept_before, error_row, 8);
    let code = builder.ins().sextend(types::I64, code);
    let negative = builder.ins().ineg(code);
    builder.ins().return_(&[negative]);
    state
}
