//! Lowers one typed expression to Cranelift IR, arm for arm as
//! `interp::evaluate` walks it, with the interpreter's semantics: wrapping
//! integer and duration arithmetic; division and remainder by zero jump to
//! an error exit naming the expression; `i64::MIN / -1` wraps; IEEE floats
//! where NaN is unequal to everything; saturating `int(float)`; and
//! short-circuit `and`, `or` and `if`. Strings are (address, length) pairs
//! (`strings.rs`); the string functions call the interpreter's own Rust
//! code through `helpers.rs`.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Block, BlockArg, InstBuilder, InstructionData, MemFlagsData, Opcode, Type, Value};
use cranelift_frontend::FunctionBuilder;

use std::sync::Arc;

use crate::check::functions::Function;
use crate::check::patterns::Pattern;
use crate::check::program::{TypedExpr, TypedExprKind, Value as Constant};
use crate::check::types::{RecordType, Type as FlowType};
use crate::diag::Span;
use crate::syntax::ast::{BinaryOp, UnaryOp};

use super::helpers::{Helper, Helpers};
use super::strings::{INPUT_STRINGS_OFFSET, LAST_LEN_OFFSET, LITERALS_OFFSET};

/// The Cranelift type of a flowc value: 8-byte integers for int,
/// timestamp and duration, `f64`, and one byte (0 or 1) for bool. A
/// string is two `I64`s (`Lowered::Str`).
pub fn clif_type(ty: &FlowType) -> Type {
    match ty {
        FlowType::Float => types::F64,
        FlowType::Bool => types::I8,
        _ => types::I64,
    }
}

/// A lowered value: one Cranelift value, or a string's address and length.
#[derive(Debug, Clone, Copy)]
pub enum Lowered {
    One(Value),
    Str(Value, Value),
}

impl Lowered {
    fn values(self) -> Vec<Value> {
        match self {
            Lowered::One(value) => vec![value],
            Lowered::Str(ptr, len) => vec![ptr, len],
        }
    }
}

/// A failure site: its message and the expression, numbered from 1 by
/// its place in `Kernel::errors`.
#[derive(Debug, Clone)]
pub struct ErrorSite {
    pub message: String,
    pub span: Span,
}

/// What every expression of one kernel shares: the helpers imported so
/// far, the error sites, the string literals, and the kernel's string
/// context (`strings::StringContext`) with the two bases read from it.
pub struct KernelState {
    pub helpers: Helpers,
    pub errors: Vec<ErrorSite>,
    /// Every string literal's bytes, back to back, and the address of each
    /// pattern; owned by the kernel.
    pub literals: Vec<u8>,
    /// The parsed patterns whose addresses the literals hold, kept alive
    /// by the kernel.
    pub patterns: Vec<Pattern>,
    pub context: Value,
    input_strings: Value,
    literal_base: Value,
    /// Takes `(code: i32, row: i64, kept: i64)` and returns `-code` to the caller.
    pub error_exit: Block,
}

impl KernelState {
    /// Reads the context's bases; call in the entry block, so every row
    /// of the loop reuses them.
    pub fn new(builder: &mut FunctionBuilder, helpers: Helpers, context: Value, error_exit: Block) -> KernelState {
        let flags = MemFlagsData::new().with_notrap().with_readonly();
        let input_strings = builder.ins().load(types::I64, flags, context, INPUT_STRINGS_OFFSET);
        let literal_base = builder.ins().load(types::I64, flags, context, LITERALS_OFFSET);
        KernelState {
            helpers,
            errors: Vec::new(),
            literals: Vec::new(),
            patterns: Vec::new(),
            context,
            input_strings,
            literal_base,
            error_exit,
        }
    }
}

/// The state of lowering the expressions of one row.
pub struct Lowering<'a, 'b> {
    pub builder: &'a mut FunctionBuilder<'b>,
    pub kernel: &'a mut KernelState,
    /// The input row's address, and its record, when there is one.
    pub row: Option<(Value, &'a RecordType)>,
    /// In a fused kernel after a `map`: the fields as values, not in memory.
    pub values: Option<Vec<Lowered>>,
    /// `seq` in a `generate` body.
    pub seq: Option<Value>,
    /// The row being computed and the rows kept so far, for the error exit.
    pub row_index: Value,
    pub kept: Value,
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
        kernel: &'a mut KernelState,
        row_index: Value,
        kept: Value,
    ) -> Self {
        Lowering { builder, kernel, row: None, values: None, seq: None, row_index, kept }
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
    pub fn with_values(mut self, values: Option<Vec<Lowered>>) -> Self {
        self.values = values;
        self
    }
}

impl Lowering<'_, '_> {
    /// A value that is not a string.
    pub fn lower(&mut self, expr: &TypedExpr) -> Value {
        match self.lower_any(expr) {
            Lowered::One(value) => value,
            Lowered::Str(..) => unreachable!("`check` typed this expression as {}", expr.ty),
        }
    }

    /// A string's address and length.
    fn lower_string(&mut self, expr: &TypedExpr) -> (Value, Value) {
        match self.lower_any(expr) {
            Lowered::Str(ptr, len) => (ptr, len),
            Lowered::One(_) => unreachable!("`check` typed this expression as {}", expr.ty),
        }
    }

    pub fn lower_any(&mut self, expr: &TypedExpr) -> Lowered {
        match &expr.kind {
            TypedExprKind::Literal(constant) => self.constant(constant),
            TypedExprKind::Field(index) => self.field(*index),
            TypedExprKind::Seq => Lowered::One(self.seq.expect("`check` allows `seq` only in `generate`")),
            TypedExprKind::Unary { op, operand } => {
                let value = self.lower(operand);
                Lowered::One(match (op, &operand.ty) {
                    (UnaryOp::Neg, FlowType::Float) => self.builder.ins().fneg(value),
                    (UnaryOp::Neg, _) => self.builder.ins().ineg(value),
                    (UnaryOp::Not, _) => self.builder.ins().bxor_imm_u(value, 1),
                })
            }
            TypedExprKind::Binary { op: BinaryOp::And, lhs, rhs } => Lowered::One(self.short_circuit(lhs, rhs, true)),
            TypedExprKind::Binary { op: BinaryOp::Or, lhs, rhs } => Lowered::One(self.short_circuit(lhs, rhs, false)),
            TypedExprKind::Binary { op, lhs, rhs } if lhs.ty == FlowType::String => {
                let (a, b) = (self.lower_string(lhs), self.lower_string(rhs));
                self.string_binary(*op, a, b)
            }
            TypedExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.lower(lhs), self.lower(rhs));
                Lowered::One(self.binary(*op, &lhs.ty, &rhs.ty, a, b, expr.span))
            }
            TypedExprKind::If { condition, then, otherwise } => {
                let condition = self.lower(condition);
                let (then_block, else_block, join) =
                    (self.builder.create_block(), self.builder.create_block(), self.builder.create_block());
                let first = self.builder.append_block_param(join, clif_type(&expr.ty));
                let second = (expr.ty == FlowType::String).then(|| self.builder.append_block_param(join, types::I64));
                self.builder.ins().brif(condition, then_block, &[], else_block, &[]);
                for (block, branch) in [(then_block, then), (else_block, otherwise)] {
                    self.builder.switch_to_block(block);
                    self.builder.seal_block(block);
                    let value = self.lower_any(branch);
                    self.builder.ins().jump(join, &args(&value.values()));
                }
                self.builder.switch_to_block(join);
                self.builder.seal_block(join);
                match second {
                    Some(len) => Lowered::Str(first, len),
                    None => Lowered::One(first),
                }
            }
            TypedExprKind::Call { function, args } => self.call(*function, args),
            TypedExprKind::Pattern(pattern) => Lowered::One(self.pattern(pattern)),
        }
    }

    /// Field `index` of the input (or of the fused `map` before).
    pub fn field(&mut self, index: usize) -> Lowered {
        if let Some(values) = &self.values {
            return values[index];
        }
        let (row, record) = self.row.expect("`check` allows fields only where there is a record");
        let ty = &record.fields()[index].ty;
        let offset = record.layout().offsets[index] as i32;
        let flags = MemFlagsData::new().with_notrap();
        let word = self.builder.ins().load(clif_type(ty), flags, row, offset);
        if *ty != FlowType::String {
            return Lowered::One(word);
        }
        // The slot of `row.rs`: offset in the low half, length in the high one.
        let start = self.builder.ins().band_imm_u(word, 0xffff_ffff);
        let len = self.builder.ins().ushr_imm_u(word, 32);
        Lowered::Str(self.builder.ins().iadd(self.kernel.input_strings, start), len)
    }

    /// Stores `value` at `offset` of the row at `out`; a string is copied
    /// into the output batch and its slot stored.
    pub fn store(&mut self, value: Lowered, out: Value, offset: u32) {
        let flags = MemFlagsData::new().with_notrap();
        let word = match value {
            Lowered::One(value) => value,
            Lowered::Str(ptr, len) => self.helper(Helper::Store, &[self.kernel.context, ptr, len]),
        };
        self.builder.ins().store(flags, word, out, offset as i32);
    }

    fn helper(&mut self, helper: Helper, arguments: &[Value]) -> Value {
        self.kernel.helpers.call(self.builder, helper, arguments)
    }

    /// A helper that makes a string: its address, and the length it left
    /// in the context.
    fn making_string(&mut self, helper: Helper, arguments: &[Value]) -> Lowered {
        let ptr = self.helper(helper, arguments);
        let flags = MemFlagsData::new().with_notrap();
        let len = self.builder.ins().load(types::I64, flags, self.kernel.context, LAST_LEN_OFFSET);
        Lowered::Str(ptr, len)
    }

    fn literal(&mut self, text: &str) -> Lowered {
        let offset = self.kernel.literals.len() as i64;
        self.kernel.literals.extend_from_slice(text.as_bytes());
        let ptr = self.builder.ins().iadd_imm_s(self.kernel.literal_base, offset);
        Lowered::Str(ptr, self.builder.ins().iconst(types::I64, text.len() as i64))
    }

    /// A parsed pattern's address, for the helper that runs it. It is
    /// read from the literal table rather than written into the code, so
    /// the IR (`explain --jit-ir`) is the same on every run.
    fn pattern(&mut self, pattern: &Pattern) -> Value {
        let address = match pattern {
            Pattern::Regex(regex) => Arc::as_ptr(regex) as usize,
            Pattern::Time(format) => Arc::as_ptr(format) as usize,
        } as u64;
        self.kernel.patterns.push(pattern.clone());
        let offset = self.kernel.literals.len() as i64;
        self.kernel.literals.extend_from_slice(&address.to_ne_bytes());
        let at = self.builder.ins().iadd_imm_s(self.kernel.literal_base, offset);
        // Unaligned, which loads on every 64-bit target Cranelift has.
        let flags = MemFlagsData::new().with_notrap().with_readonly();
        self.builder.ins().load(types::I64, flags, at, 0)
    }

    fn constant(&mut self, constant: &Constant) -> Lowered {
        Lowered::One(match constant {
            Constant::Int(v) | Constant::Timestamp(v) | Constant::Duration(v) => {
                self.builder.ins().iconst(types::I64, *v)
            }
            Constant::Float(v) => self.builder.ins().f64const(*v),
            Constant::Bool(v) => self.builder.ins().iconst(types::I8, i64::from(*v)),
            Constant::Str(text) => return self.literal(text),
        })
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

    /// `++` and comparisons of strings; comparisons go by bytes.
    fn string_binary(&mut self, op: BinaryOp, (a, a_len): (Value, Value), (b, b_len): (Value, Value)) -> Lowered {
        use BinaryOp::*;
        if op == Concat {
            let ptr = self.helper(Helper::Concat, &[self.kernel.context, a, a_len, b, b_len]);
            return Lowered::Str(ptr, self.builder.ins().iadd(a_len, b_len));
        }
        let order = self.helper(Helper::Compare, &[a, a_len, b, b_len]);
        let cc = match op {
            Eq => IntCC::Equal,
            Ne => IntCC::NotEqual,
            Lt => IntCC::SignedLessThan,
            Le => IntCC::SignedLessThanOrEqual,
            Gt => IntCC::SignedGreaterThan,
            Ge => IntCC::SignedGreaterThanOrEqual,
            other => unreachable!("`check` allows no `{other:?}` on strings"),
        };
        Lowered::One(self.builder.ins().icmp_imm_s(cc, order, 0))
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
            (Rem, FlowType::Float) => self.helper(Helper::Fmod, &[a, b]),
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
            (Concat, _) => unreachable!("`++` is on strings: `string_binary`"),
            (And | Or, _) => unreachable!("lowered by `short_circuit`"),
        }
    }

    /// The value of `value` when it is an integer constant.
    fn constant_of(&self, value: Value) -> Option<i64> {
        let inst = self.builder.func.dfg.value_def(value).inst()?;
        match self.builder.func.dfg.insts[inst] {
            InstructionData::UnaryImm { opcode: Opcode::Iconst, imm } => Some(imm.bits()),
            _ => None,
        }
    }

    /// `a / b` or `a % b` on 64-bit integers: an error when `b` is 0, and
    /// wrapping (no trap) for `i64::MIN / -1`, as `wrapping_div` does.
    fn checked_division(&mut self, divide: bool, a: Value, b: Value, what: &str, span: Span) -> Value {
        // A constant divisor other than 0 and -1 needs no checks, and
        // Cranelift turns the division into a multiplication.
        if self.constant_of(b).is_some_and(|divisor| divisor != 0 && divisor != -1) {
            return if divide { self.builder.ins().sdiv(a, b) } else { self.builder.ins().srem(a, b) };
        }
        self.kernel.errors.push(ErrorSite { message: format!("{what} by zero"), span });
        let code = self.kernel.errors.len() as i64;
        let (nonzero, minus_one, general, join) = (
            self.builder.create_block(),
            self.builder.create_block(),
            self.builder.create_block(),
            self.builder.create_block(),
        );
        let result = self.builder.append_block_param(join, types::I64);
        let code = self.builder.ins().iconst(types::I32, code);
        self.builder.ins().brif(b, nonzero, &[], self.kernel.error_exit, &args(&[code, self.row_index, self.kept]));
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

    fn call(&mut self, function: Function, arguments: &[TypedExpr]) -> Lowered {
        let values: Vec<Lowered> = arguments.iter().map(|arg| self.lower_any(arg)).collect();
        let ty = &arguments[0].ty;
        let a = match values[0] {
            Lowered::Str(ptr, len) => return self.string_call(function, ty, (ptr, len), &values[1..]),
            Lowered::One(a) => a,
        };
        let one = |value: Lowered| match value {
            Lowered::One(value) => value,
            Lowered::Str(..) => unreachable!("`check` gives both arguments one type"),
        };
        Lowered::One(match function {
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
            Function::Min | Function::Max => self.min_max(function == Function::Min, ty, a, one(values[1])),
            // The interpreter's own Rust code: bit for bit the same result.
            Function::Round if *ty == FlowType::Float => {
                let digits = match values.get(1) {
                    Some(&digits) => one(digits),
                    None => self.builder.ins().iconst(types::I64, 0),
                };
                self.helper(Helper::RoundFloat, &[a, digits])
            }
            Function::Round => match values.get(1) {
                Some(&digits) => {
                    let digits = one(digits);
                    self.helper(Helper::RoundInt, &[a, digits])
                }
                None => a,
            },
            Function::Hash => match ty {
                FlowType::Float => self.helper(Helper::HashFloat, &[a]),
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
            Function::Str => {
                let context = self.kernel.context;
                return match ty {
                    FlowType::Int => self.making_string(Helper::StrOfInt, &[context, a]),
                    FlowType::Float => self.making_string(Helper::StrOfFloat, &[context, a]),
                    FlowType::Timestamp => self.making_string(Helper::StrOfTimestamp, &[context, a]),
                    FlowType::Duration => self.making_string(Helper::StrOfDuration, &[context, a]),
                    _ => {
                        let (Lowered::Str(yes, yes_len), Lowered::Str(no, no_len)) =
                            (self.literal("true"), self.literal("false"))
                        else {
                            unreachable!("literals are strings")
                        };
                        let ptr = self.builder.ins().select(a, yes, no);
                        Lowered::Str(ptr, self.builder.ins().select(a, yes_len, no_len))
                    }
                };
            }
            Function::Hour => self.helper(Helper::Hour, &[a]),
            Function::Minute => self.helper(Helper::Minute, &[a]),
            Function::FormatTime => {
                let (context, format) = (self.kernel.context, one(values[1]));
                return self.making_string(Helper::FormatTime, &[context, a, format]);
            }
            Function::Len
            | Function::Lower
            | Function::Upper
            | Function::Contains
            | Function::StartsWith
            | Function::EndsWith
            | Function::SplitIndex
            | Function::RegexpExtract
            | Function::Matches
            | Function::Occurrences => unreachable!("`check` allows `{}` only on strings", function.name()),
        })
    }

    /// A function whose first argument is the string `(a, a_len)`.
    fn string_call(
        &mut self,
        function: Function,
        ty: &FlowType,
        (a, a_len): (Value, Value),
        rest: &[Lowered],
    ) -> Lowered {
        let second = || match rest.first() {
            Some(Lowered::Str(ptr, len)) => (*ptr, *len),
            _ => unreachable!("`check` gives `{}` two strings", function.name()),
        };
        let one = |value: Lowered| match value {
            Lowered::One(value) => value,
            Lowered::Str(..) => unreachable!("`check` gives `{}` no string here", function.name()),
        };
        let context = self.kernel.context;
        let test = |lowering: &mut Self, helper| {
            let (b, b_len) = second();
            let found = lowering.helper(helper, &[a, a_len, b, b_len]);
            Lowered::One(lowering.builder.ins().ireduce(types::I8, found))
        };
        match function {
            Function::Str => Lowered::Str(a, a_len),
            Function::Hash => Lowered::One(self.helper(Helper::HashStr, &[a, a_len])),
            Function::Len => Lowered::One(self.helper(Helper::Len, &[a, a_len])),
            Function::Upper => self.making_string(Helper::Upper, &[context, a, a_len]),
            Function::Lower => self.making_string(Helper::Lower, &[context, a, a_len]),
            Function::Contains => test(self, Helper::Contains),
            Function::StartsWith => test(self, Helper::StartsWith),
            Function::EndsWith => test(self, Helper::EndsWith),
            Function::Occurrences => {
                let (b, b_len) = second();
                Lowered::One(self.helper(Helper::Occurrences, &[a, a_len, b, b_len]))
            }
            Function::SplitIndex => {
                let ((separator, separator_len), index) = (second(), one(rest[1]));
                self.making_string(Helper::SplitIndex, &[context, a, a_len, separator, separator_len, index])
            }
            // The pattern lowers to its address (`pattern`).
            Function::RegexpExtract => {
                let (regex, group) = (one(rest[0]), one(rest[1]));
                self.making_string(Helper::RegexpExtract, &[context, a, a_len, regex, group])
            }
            Function::Matches => {
                let found = self.helper(Helper::Matches, &[a, a_len, one(rest[0])]);
                Lowered::One(self.builder.ins().ireduce(types::I8, found))
            }
            Function::Min | Function::Max => {
                // `b` when strictly smaller (`min`) or larger: on ties, `a`.
                let (b, b_len) = second();
                let order = self.helper(Helper::Compare, &[b, b_len, a, a_len]);
                let cc = if function == Function::Min { IntCC::SignedLessThan } else { IntCC::SignedGreaterThan };
                let better = self.builder.ins().icmp_imm_s(cc, order, 0);
                let ptr = self.builder.ins().select(better, b, a);
                Lowered::Str(ptr, self.builder.ins().select(better, b_len, a_len))
            }
            other => unreachable!("`check` allows no `{}` of {ty}", other.name()),
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
