//! Lowers one typed expression to Cranelift IR, arm for arm as
//! `interp::evaluate` walks it, with the interpreter's semantics: wrapping
//! integer and duration arithmetic; division and remainder by zero jump to
//! an error exit naming the expression; `i64::MIN / -1` wraps; IEEE floats
//! where NaN is unequal to everything; saturating `int(float)`; and
//! short-circuit `and`, `or` and `if`. `supported` says, before any code is
//! made, whether an expression is within what this file lowers (no
//! strings yet); the backend falls back to the interpreter otherwise.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Block, BlockArg, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

use crate::check::functions::Function;
use crate::check::program::{TypedExpr, TypedExprKind, Value as Constant};
use crate::check::types::{RecordType, Type as FlowType};
use crate::diag::Span;
use crate::syntax::ast::{BinaryOp, UnaryOp};

/// Why an expression is left to the interpreter, or `Ok`.
pub fn supported(expr: &TypedExpr) -> Result<(), String> {
    if expr.ty == FlowType::String {
        return Err("string expressions are interpreted".to_string());
    }
    match &expr.kind {
        TypedExprKind::Literal(_) | TypedExprKind::Field(_) | TypedExprKind::Seq => Ok(()),
        TypedExprKind::Unary { operand, .. } => supported(operand),
        TypedExprKind::Binary { lhs, rhs, .. } => supported(lhs).and(supported(rhs)),
        TypedExprKind::If { condition, then, otherwise } => {
            supported(condition).and(supported(then)).and(supported(otherwise))
        }
        TypedExprKind::Call { function, args } => {
            match function {
                Function::Float | Function::Int | Function::Abs | Function::Min | Function::Max => {}
                Function::Hash | Function::Random => {}
                other => return Err(format!("`{}` is interpreted", other.name())),
            }
            args.iter().try_for_each(supported)
        }
    }
}

/// The Cranelift type of a flowc value: 8-byte integers for int,
/// timestamp and duration, `f64`, and one byte (0 or 1) for bool.
pub fn clif_type(ty: &FlowType) -> Type {
    match ty {
        FlowType::Float => types::F64,
        FlowType::Bool => types::I8,
        _ => types::I64,
    }
}

/// Helpers the generated code calls: Rust functions with C ABI.
#[derive(Clone, Copy)]
pub struct Helpers {
    pub fmod: FuncRef,
    pub hash_float: FuncRef,
}

/// A failure site: its message and the expression, numbered from 1 by
/// its place in `Lowering::errors`.
#[derive(Debug, Clone)]
pub struct ErrorSite {
    pub message: String,
    pub span: Span,
}

/// The state of lowering the expressions of one function.
pub struct Lowering<'a, 'b> {
    pub builder: &'a mut FunctionBuilder<'b>,
    pub helpers: Helpers,
    /// The input row's address, and its record, when there is one.
    pub row: Option<(Value, &'a RecordType)>,
    /// In a fused kernel after a `map`: the fields as values, not in memory.
    pub values: Option<Vec<Value>>,
    /// `seq` in a `generate` body.
    pub seq: Option<Value>,
    /// The row being computed and the rows kept so far, for the error exit.
    pub row_index: Value,
    pub kept: Value,
    /// Takes `(code: i32, row: i64, kept: i64)` and returns `-code` to the caller.
    pub error_exit: Block,
    pub errors: &'a mut Vec<ErrorSite>,
}

fn args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|value| BlockArg::Value(*value)).collect()
}

const MIX_1: i64 = 0xbf58_476d_1ce4_e5b9_u64 as i64;
const MIX_2: i64 = 0x94d0_49bb_1331_11eb_u64 as i64;
const GOLDEN: i64 = 0x9e37_79b9_7f4a_7c15_u64 as i64;

impl<'a, 'b> Lowering<'a, 'b> {
    /// Lowers expressions for row `row_index`, `kept` rows kept before it.
    pub fn new(
        builder: &'a mut FunctionBuilder<'b>,
        errors: &'a mut Vec<ErrorSite>,
        helpers: Helpers,
        error_exit: Block,
        row_index: Value,
        kept: Value,
    ) -> Self {
        Lowering { builder, helpers, row: None, values: None, seq: None, row_index, kept, error_exit, errors }
    }

    /// Fields are read from the row at `row`, laid out as `record`.
    pub fn reading(mut self, row: Value, record: &'a RecordType) -> Self {
        self.row = Some((row, record));
        self
    }

    pub fn with_seq(mut self, seq: Value) -> Self {
        self.seq = Some(seq);
        self
    }

    /// Fields are these values (after a fused `map`), when given.
    pub fn with_values(mut self, values: Option<Vec<Value>>) -> Self {
        self.values = values;
        self
    }
}

impl Lowering<'_, '_> {
    pub fn lower(&mut self, expr: &TypedExpr) -> Value {
        match &expr.kind {
            TypedExprKind::Literal(constant) => self.constant(constant),
            TypedExprKind::Field(index) if self.values.is_some() => self.values.as_ref().expect("just tested")[*index],
            TypedExprKind::Field(index) => {
                let (row, record) = self.row.expect("`check` allows fields only where there is a record");
                let offset = record.layout().offsets[*index] as i32;
                self.builder.ins().load(clif_type(&expr.ty), MemFlagsData::new().with_notrap(), row, offset)
            }
            TypedExprKind::Seq => self.seq.expect("`check` allows `seq` only in `generate`"),
            TypedExprKind::Unary { op, operand } => {
                let value = self.lower(operand);
                match (op, &operand.ty) {
                    (UnaryOp::Neg, FlowType::Float) => self.builder.ins().fneg(value),
                    (UnaryOp::Neg, _) => self.builder.ins().ineg(value),
                    (UnaryOp::Not, _) => self.builder.ins().bxor_imm_u(value, 1),
                }
            }
            TypedExprKind::Binary { op: BinaryOp::And, lhs, rhs } => self.short_circuit(lhs, rhs, true),
            TypedExprKind::Binary { op: BinaryOp::Or, lhs, rhs } => self.short_circuit(lhs, rhs, false),
            TypedExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.lower(lhs), self.lower(rhs));
                self.binary(*op, &lhs.ty, &rhs.ty, a, b, expr.span)
            }
            TypedExprKind::If { condition, then, otherwise } => {
                let condition = self.lower(condition);
                let (then_block, else_block, join) =
                    (self.builder.create_block(), self.builder.create_block(), self.builder.create_block());
                let result = self.builder.append_block_param(join, clif_type(&expr.ty));
                self.builder.ins().brif(condition, then_block, &[], else_block, &[]);
                for (block, branch) in [(then_block, then), (else_block, otherwise)] {
                    self.builder.switch_to_block(block);
                    self.builder.seal_block(block);
                    let value = self.lower(branch);
                    self.builder.ins().jump(join, &args(&[value]));
                }
                self.builder.switch_to_block(join);
                self.builder.seal_block(join);
                result
            }
            TypedExprKind::Call { function, args } => self.call(*function, args),
        }
    }

    fn constant(&mut self, constant: &Constant) -> Value {
        match constant {
            Constant::Int(v) | Constant::Timestamp(v) | Constant::Duration(v) => {
                self.builder.ins().iconst(types::I64, *v)
            }
            Constant::Float(v) => self.builder.ins().f64const(*v),
            Constant::Bool(v) => self.builder.ins().iconst(types::I8, i64::from(*v)),
            Constant::Str(_) => unreachable!("`supported` refuses strings"),
        }
    }

    /// `and` (`is_and`) or `or`: the right side runs only when it decides.
    fn short_circuit(&mut self, lhs: &TypedExpr, rhs: &TypedExpr, is_and: bool) -> Value {
        let left = self.lower(lhs);
        let (rhs_block, join) = (self.builder.create_block(), self.builder.create_block());
        let result = self.builder.append_block_param(join, types::I8);
        if is_and {
            self.builder.ins().brif(left, rhs_block, &[], join, &args(&[left]));
        } else {
            self.builder.ins().brif(left, join, &args(&[left]), rhs_block, &[]);
        }
        self.builder.switch_to_block(rhs_block);
        self.builder.seal_block(rhs_block);
        let right = self.lower(rhs);
        self.builder.ins().jump(join, &args(&[right]));
        self.builder.switch_to_block(join);
        self.builder.seal_block(join);
        result
    }

    fn binary(&mut self, op: BinaryOp, lhs: &FlowType, rhs: &FlowType, a: Value, b: Value, span: Span) -> Value {
        use BinaryOp::*;
        match (op, lhs) {
            (Eq | Ne | Lt | Le | Gt | Ge, FlowType::Float) => {
                let cc = match op {
                    Eq => FloatCC::Equal,
                    // NaN is unequal to everything, itself included.
                    Ne => FloatCC::NotEqual,
                    Lt => FloatCC::LessThan,
                    Le => FloatCC::LessThanOrEqual,
                    Gt => FloatCC::GreaterThan,
                    _ => FloatCC::GreaterThanOrEqual,
                };
                self.builder.ins().fcmp(cc, a, b)
            }
            (Eq | Ne | Lt | Le | Gt | Ge, _) => {
                let unsigned = *lhs == FlowType::Bool;
                let cc = match (op, unsigned) {
                    (Eq, _) => IntCC::Equal,
                    (Ne, _) => IntCC::NotEqual,
                    (Lt, false) => IntCC::SignedLessThan,
                    (Le, false) => IntCC::SignedLessThanOrEqual,
                    (Gt, false) => IntCC::SignedGreaterThan,
                    (_, false) => IntCC::SignedGreaterThanOrEqual,
                    (Lt, true) => IntCC::UnsignedLessThan,
                    (Le, true) => IntCC::UnsignedLessThanOrEqual,
                    (Gt, true) => IntCC::UnsignedGreaterThan,
                    (_, true) => IntCC::UnsignedGreaterThanOrEqual,
                };
                self.builder.ins().icmp(cc, a, b)
            }
            (Add, FlowType::Float) => self.builder.ins().fadd(a, b),
            (Sub, FlowType::Float) => self.builder.ins().fsub(a, b),
            (Mul, FlowType::Float) => self.builder.ins().fmul(a, b),
            (Div, FlowType::Float) => self.builder.ins().fdiv(a, b),
            (Rem, FlowType::Float) => {
                let call = self.builder.ins().call(self.helpers.fmod, &[a, b]);
                self.builder.inst_results(call)[0]
            }
            (Add, _) => self.builder.ins().iadd(a, b),
            (Sub, _) => self.builder.ins().isub(a, b),
            (Mul, _) => self.builder.ins().imul(a, b),
            (Div | Rem, _) => {
                let what = match (op, lhs, rhs) {
                    (Div, FlowType::Int, _) => "integer division",
                    (Rem, FlowType::Int, _) => "integer remainder",
                    (Rem, _, _) => "duration remainder",
                    _ => "duration division",
                };
                self.checked_division(op == Div, a, b, what, span)
            }
            (Concat, _) => unreachable!("`supported` refuses strings"),
            (And | Or, _) => unreachable!("lowered by `short_circuit`"),
        }
    }

    /// `a / b` or `a % b` on 64-bit integers: an error when `b` is 0, and
    /// wrapping (no trap) for `i64::MIN / -1`, as `wrapping_div` does.
    fn checked_division(&mut self, divide: bool, a: Value, b: Value, what: &str, span: Span) -> Value {
        self.errors.push(ErrorSite { message: format!("{what} by zero"), span });
        let code = self.errors.len() as i64;
        let (nonzero, minus_one, general, join) = (
            self.builder.create_block(),
            self.builder.create_block(),
            self.builder.create_block(),
            self.builder.create_block(),
        );
        let result = self.builder.append_block_param(join, types::I64);
        let code = self.builder.ins().iconst(types::I32, code);
        self.builder.ins().brif(b, nonzero, &[], self.error_exit, &args(&[code, self.row_index, self.kept]));
        self.builder.switch_to_block(nonzero);
        self.builder.seal_block(nonzero);
        let is_minus_one = self.builder.ins().icmp_imm_s(IntCC::Equal, b, -1);
        self.builder.ins().brif(is_minus_one, minus_one, &[], general, &[]);
        self.builder.switch_to_block(minus_one);
        self.builder.seal_block(minus_one);
        let wrapped = if divide { self.builder.ins().ineg(a) } else { self.builder.ins().iconst(types::I64, 0) };
        self.builder.ins().jump(join, &args(&[wrapped]));
        self.builder.switch_to_block(general);
        self.builder.seal_block(general);
        let value = if divide { self.builder.ins().sdiv(a, b) } else { self.builder.ins().srem(a, b) };
        self.builder.ins().jump(join, &args(&[value]));
        self.builder.switch_to_block(join);
        self.builder.seal_block(join);
        result
    }

    fn call(&mut self, function: Function, arguments: &[TypedExpr]) -> Value {
        let values: Vec<Value> = arguments.iter().map(|arg| self.lower(arg)).collect();
        let ty = &arguments[0].ty;
        let a = values[0];
        match function {
            Function::Float if *ty == FlowType::Float => a,
            Function::Float => self.builder.ins().fcvt_from_sint(types::F64, a),
            // Rounds toward zero, saturates, and turns NaN into 0, as Rust's `as`.
            Function::Int if *ty == FlowType::Float => self.builder.ins().fcvt_to_sint_sat(types::I64, a),
            Function::Int if *ty == FlowType::Bool => self.builder.ins().uextend(types::I64, a),
            Function::Int => a,
            Function::Abs if *ty == FlowType::Float => self.builder.ins().fabs(a),
            Function::Abs => {
                let negated = self.builder.ins().ineg(a);
                let negative = self.builder.ins().icmp_imm_s(IntCC::SignedLessThan, a, 0);
                self.builder.ins().select(negative, negated, a)
            }
            Function::Min | Function::Max => self.min_max(function == Function::Min, ty, a, values[1]),
            Function::Hash => match ty {
                FlowType::Float => {
                    let call = self.builder.ins().call(self.helpers.hash_float, &[a]);
                    self.builder.inst_results(call)[0]
                }
                FlowType::Bool => {
                    let wide = self.builder.ins().uextend(types::I64, a);
                    self.mix64(wide)
                }
                _ => self.mix64(a),
            },
            Function::Random => {
                let stepped = self.builder.ins().iadd_imm_s(a, GOLDEN);
                let mixed = self.mix64(stepped);
                let top = self.builder.ins().ushr_imm_u(mixed, 11);
                let float = self.builder.ins().fcvt_from_uint(types::F64, top);
                let scale = self.builder.ins().f64const(1.0 / (1u64 << 53) as f64);
                self.builder.ins().fmul(float, scale)
            }
            other => unreachable!("`supported` refuses `{}`", other.name()),
        }
    }

    /// `a` unless `b` is strictly smaller (`min`) or larger: on ties, the
    /// first; with floats, NaN if either is.
    fn min_max(&mut self, min: bool, ty: &FlowType, a: Value, b: Value) -> Value {
        match ty {
            FlowType::Float => {
                let cc = if min { FloatCC::LessThan } else { FloatCC::GreaterThan };
                let better = self.builder.ins().fcmp(cc, b, a);
                let picked = self.builder.ins().select(better, b, a);
                let unordered = self.builder.ins().fcmp(FloatCC::Unordered, a, b);
                let nan = self.builder.ins().f64const(f64::NAN);
                self.builder.ins().select(unordered, nan, picked)
            }
            _ => {
                let cc = match (min, *ty == FlowType::Bool) {
                    (true, false) => IntCC::SignedLessThan,
                    (false, false) => IntCC::SignedGreaterThan,
                    (true, true) => IntCC::UnsignedLessThan,
                    (false, true) => IntCC::UnsignedGreaterThan,
                };
                let better = self.builder.ins().icmp(cc, b, a);
                self.builder.ins().select(better, b, a)
            }
        }
    }

    /// splitmix64's finaliser, as `builtins::mix64`.
    fn mix64(&mut self, z: Value) -> Value {
        let shifted = self.builder.ins().ushr_imm_u(z, 30);
        let z = self.builder.ins().bxor(z, shifted);
        let z = self.builder.ins().imul_imm_s(z, MIX_1);
        let shifted = self.builder.ins().ushr_imm_u(z, 27);
        let z = self.builder.ins().bxor(z, shifted);
        let z = self.builder.ins().imul_imm_s(z, MIX_2);
        let shifted = self.builder.ins().ushr_imm_u(z, 31);
        self.builder.ins().bxor(z, shifted)
    }
}
