//! The JIT against the interpreter, the oracle: random well-typed schemas,
//! expressions and records (NaN, infinities, -0.0, `i64::MIN`, zero
//! divisors, empty strings, case mappings that change lengths, separators
//! at a string's ends, negative and far too large part and group numbers,
//! and patterns included) through `map`, `filter`, `generate` and key kernels
//! of both backends must give the same rows and values, or the same error
//! after the same rows. Floats compare by value, every NaN equal to every NaN: NaN bit
//! patterns are not part of the language.

use std::sync::Arc;

use flowc::check::functions::Function;
use flowc::check::patterns::{Pattern, Regex, TimeFormat};
use flowc::check::program::{TypedExpr, TypedExprKind, Value};
use flowc::check::types::{Field, RecordType, Type};
use flowc::compile::backend::{Backend, FusedStage};
use flowc::compile::{Batch, Interpreter, Jit};
use flowc::diag::Span;
use flowc::syntax::ast::{BinaryOp, UnaryOp};
use proptest::prelude::*;

#[path = "common/dice.rs"]
mod dice;
use dice::Dice;

const ALL_TYPES: [Type; 6] = [Type::Int, Type::Float, Type::Bool, Type::Timestamp, Type::Duration, Type::String];

fn int(dice: &mut Dice) -> i64 {
    match dice.below(8) {
        0 => 0,
        1 => -1,
        2 => i64::MIN,
        3 => i64::MAX,
        4 => 1,
        5 => dice.next() as i64 - (1 << 46),
        _ => dice.below(200) as i64 - 100,
    }
}

fn float(dice: &mut Dice) -> f64 {
    match dice.below(10) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => 0.0,
        5 => 1e300,
        6 => -(dice.below(1000) as f64) / 7.0,
        _ => dice.below(100_000) as f64 / 100.0 - 500.0,
    }
}

fn value(dice: &mut Dice, ty: Type) -> Value {
    match ty {
        Type::Int => Value::Int(int(dice)),
        Type::Float => Value::Float(float(dice)),
        Type::Bool => Value::Bool(dice.below(2) == 1),
        Type::Timestamp => Value::Timestamp(int(dice)),
        Type::Duration => Value::Duration(int(dice)),
        // Case mapping that changes lengths (ß, İ) or depends on context
        // (a final Σ), multi-byte characters, the empty string, separators
        // at the ends and side by side.
        Type::String => Value::Str(
            dice.pick(&[
                "",
                "é",
                "hello",
                "a,b",
                "ΣΑΣ",
                "Straße",
                "İx",
                "HELLO",
                ",a,,b,",
                "/ü/x//",
                "q=1&id=ß7",
                "ab=12,c=3",
            ])
            .into(),
        ),
    }
}

struct Builder<'a> {
    dice: &'a mut Dice,
    record: &'a RecordType,
    in_generate: bool,
    spans: usize,
}

impl Builder<'_> {
    fn node(&mut self, kind: TypedExprKind, ty: Type) -> TypedExpr {
        self.spans += 1;
        TypedExpr { kind, ty, span: Span::new(self.spans * 2, self.spans * 2 + 1) }
    }

    fn binary(&mut self, op: BinaryOp, lhs: TypedExpr, rhs: TypedExpr, ty: Type) -> TypedExpr {
        self.node(TypedExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, ty)
    }

    fn call(&mut self, function: Function, args: Vec<TypedExpr>, ty: Type) -> TypedExpr {
        self.node(TypedExprKind::Call { function, args }, ty)
    }

    /// `round(x)` or `round(x, digits)`: mostly the few places people
    /// write (-3 to 5), sometimes any int, wild values included.
    fn round(&mut self, ty: Type, depth: u32) -> TypedExpr {
        let x = self.expr(ty, depth);
        let digits = match self.dice.below(4) {
            0 => return self.call(Function::Round, vec![x], ty),
            1 => self.expr(Type::Int, depth),
            _ => {
                let places = self.dice.below(9) as i64 - 3;
                self.node(TypedExprKind::Literal(Value::Int(places)), Type::Int)
            }
        };
        self.call(Function::Round, vec![x, digits], ty)
    }

    /// A small int, such as a part or group number, or sometimes any int.
    fn small_int(&mut self, depth: u32) -> TypedExpr {
        if self.dice.below(3) == 0 {
            return self.expr(Type::Int, depth);
        }
        let n = self.dice.below(7) as i64 - 2;
        self.node(TypedExprKind::Literal(Value::Int(n)), Type::Int)
    }

    /// A string that is often one of the separators the values hold.
    fn separator(&mut self, depth: u32) -> TypedExpr {
        if self.dice.below(3) == 0 {
            return self.expr(Type::String, depth);
        }
        let separator = self.dice.pick(&[",", "/", "ß", "=", ",,", "", "a,"]);
        self.node(TypedExprKind::Literal(Value::Str(separator.into())), Type::String)
    }

    fn pattern(&mut self, pattern: Pattern) -> TypedExpr {
        self.node(TypedExprKind::Pattern(pattern), Type::String)
    }

    fn regex(&mut self) -> TypedExpr {
        let source = self.dice.pick(&[
            "(&|^)id=([^&]*)",
            r"(\w+)=(\d+)",
            "([a-z]+),([a-z]*)",
            "(ß|ü)",
            "^$",
            "(?i)h(e)(l+)",
            "(x)?é",
            ".",
            "(?m)^(.)$",
            r"\b[A-Z]",
        ]);
        self.pattern(Pattern::Regex(Arc::new(Regex::parse(source).expect("a regex"))))
    }

    fn time_format(&mut self) -> TypedExpr {
        let source = self.dice.pick(&["yyyy-MM-dd HH:mm:ss.SSS", "HH:mm", "yyyyMMdd'T'HH 'o''clock'", "", "é ss"]);
        self.pattern(Pattern::Time(Arc::new(TimeFormat::parse(source).expect("a time format"))))
    }

    fn leaf(&mut self, ty: Type) -> TypedExpr {
        let fields: Vec<usize> =
            (0..self.record.fields().len()).filter(|&i| self.record.fields()[i].ty == ty).collect();
        if !fields.is_empty() && self.dice.below(3) > 0 {
            let index = fields[self.dice.below(fields.len() as u64) as usize];
            return self.node(TypedExprKind::Field(index), ty);
        }
        if ty == Type::Int && self.in_generate && self.dice.below(2) == 0 {
            return self.node(TypedExprKind::Seq, ty);
        }
        let constant = value(self.dice, ty);
        self.node(TypedExprKind::Literal(constant), ty)
    }

    /// A random well-typed expression of type `ty`, at most `depth` deep.
    fn expr(&mut self, ty: Type, depth: u32) -> TypedExpr {
        if depth == 0 || self.dice.below(4) == 0 {
            return self.leaf(ty);
        }
        let d = depth - 1;
        if self.dice.below(8) == 0 {
            let condition = self.expr(Type::Bool, d);
            let (then, otherwise) = (self.expr(ty, d), self.expr(ty, d));
            let kind = TypedExprKind::If {
                condition: Box::new(condition),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            };
            return self.node(kind, ty);
        }
        match ty {
            Type::Int => match self.dice.below(14) {
                11 => self.round(Type::Int, d),
                12 => {
                    let (s, part) = (self.expr(Type::String, d), self.separator(d));
                    self.call(Function::Occurrences, vec![s, part], ty)
                }
                13 => {
                    let function = self.dice.pick(&[Function::Hour, Function::Minute]);
                    let t = self.expr(Type::Timestamp, d);
                    self.call(function, vec![t], ty)
                }
                9 => {
                    let arg = self.expr(Type::String, d);
                    self.call(Function::Len, vec![arg], ty)
                }
                0 => {
                    let operand = self.expr(Type::Int, d);
                    self.node(TypedExprKind::Unary { op: UnaryOp::Neg, operand: Box::new(operand) }, ty)
                }
                1 => {
                    let (a, b) = (self.expr(Type::Duration, d), self.expr(Type::Duration, d));
                    self.binary(BinaryOp::Div, a, b, ty)
                }
                2 => {
                    let from = self.dice.pick(&[Type::Float, Type::Bool, Type::Timestamp, Type::Duration]);
                    let arg = self.expr(from, d);
                    self.call(Function::Int, vec![arg], ty)
                }
                3 | 10 => {
                    let from = self.dice.pick(&ALL_TYPES);
                    let arg = self.expr(from, d);
                    self.call(Function::Hash, vec![arg], ty)
                }
                4 => {
                    let function = self.dice.pick(&[Function::Abs, Function::Min, Function::Max]);
                    let n = if function == Function::Abs { 1 } else { 2 };
                    let args = (0..n).map(|_| self.expr(Type::Int, d)).collect();
                    self.call(function, args, ty)
                }
                _ => {
                    let op =
                        self.dice.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Rem]);
                    let (a, b) = (self.expr(Type::Int, d), self.expr(Type::Int, d));
                    self.binary(op, a, b, ty)
                }
            },
            Type::Float => match self.dice.below(8) {
                7 => self.round(Type::Float, d),
                0 => {
                    let operand = self.expr(Type::Float, d);
                    self.node(TypedExprKind::Unary { op: UnaryOp::Neg, operand: Box::new(operand) }, ty)
                }
                1 => {
                    let arg = self.expr(Type::Int, d);
                    let function = self.dice.pick(&[Function::Float, Function::Random]);
                    self.call(function, vec![arg], ty)
                }
                2 => {
                    let function = self.dice.pick(&[Function::Abs, Function::Min, Function::Max]);
                    let n = if function == Function::Abs { 1 } else { 2 };
                    let args = (0..n).map(|_| self.expr(Type::Float, d)).collect();
                    self.call(function, args, ty)
                }
                _ => {
                    let op =
                        self.dice.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Rem]);
                    let (a, b) = (self.expr(Type::Float, d), self.expr(Type::Float, d));
                    self.binary(op, a, b, ty)
                }
            },
            Type::Bool => match self.dice.below(7) {
                6 => {
                    let (s, regex) = (self.expr(Type::String, d), self.regex());
                    self.call(Function::Matches, vec![s, regex], ty)
                }
                5 => {
                    let function = self.dice.pick(&[Function::Contains, Function::StartsWith, Function::EndsWith]);
                    let args = (0..2).map(|_| self.expr(Type::String, d)).collect();
                    self.call(function, args, ty)
                }
                0 => {
                    let operand = self.expr(Type::Bool, d);
                    self.node(TypedExprKind::Unary { op: UnaryOp::Not, operand: Box::new(operand) }, ty)
                }
                1 => {
                    let op = self.dice.pick(&[BinaryOp::And, BinaryOp::Or]);
                    let (a, b) = (self.expr(Type::Bool, d), self.expr(Type::Bool, d));
                    self.binary(op, a, b, ty)
                }
                2 => {
                    let function = self.dice.pick(&[Function::Min, Function::Max]);
                    let args = (0..2).map(|_| self.expr(Type::Bool, d)).collect();
                    self.call(function, args, ty)
                }
                _ => {
                    let op = self.dice.pick(&[
                        BinaryOp::Eq,
                        BinaryOp::Ne,
                        BinaryOp::Lt,
                        BinaryOp::Le,
                        BinaryOp::Gt,
                        BinaryOp::Ge,
                    ]);
                    let operands = self.dice.pick(&ALL_TYPES);
                    let (a, b) = (self.expr(operands, d), self.expr(operands, d));
                    self.binary(op, a, b, ty)
                }
            },
            Type::Timestamp => match self.dice.below(3) {
                0 => {
                    let function = self.dice.pick(&[Function::Min, Function::Max]);
                    let args = (0..2).map(|_| self.expr(Type::Timestamp, d)).collect();
                    self.call(function, args, ty)
                }
                _ => {
                    let op = self.dice.pick(&[BinaryOp::Add, BinaryOp::Sub]);
                    let (a, b) = (self.expr(Type::Timestamp, d), self.expr(Type::Duration, d));
                    self.binary(op, a, b, ty)
                }
            },
            Type::Duration => match self.dice.below(7) {
                0 => {
                    let (a, b) = (self.expr(Type::Timestamp, d), self.expr(Type::Timestamp, d));
                    self.binary(BinaryOp::Sub, a, b, ty)
                }
                1 => {
                    let (a, b) = (self.expr(Type::Duration, d), self.expr(Type::Int, d));
                    let op = self.dice.pick(&[BinaryOp::Mul, BinaryOp::Div]);
                    self.binary(op, a, b, ty)
                }
                2 => {
                    let (a, b) = (self.expr(Type::Int, d), self.expr(Type::Duration, d));
                    self.binary(BinaryOp::Mul, a, b, ty)
                }
                3 => {
                    let arg = self.expr(Type::Duration, d);
                    self.call(Function::Abs, vec![arg], ty)
                }
                _ => {
                    let op = self.dice.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Rem]);
                    let (a, b) = (self.expr(Type::Duration, d), self.expr(Type::Duration, d));
                    self.binary(op, a, b, ty)
                }
            },
            Type::String => match self.dice.below(8) {
                5 => {
                    let (s, separator, index) = (self.expr(Type::String, d), self.separator(d), self.small_int(d));
                    self.call(Function::SplitIndex, vec![s, separator, index], ty)
                }
                6 => {
                    let (s, regex, group) = (self.expr(Type::String, d), self.regex(), self.small_int(d));
                    self.call(Function::RegexpExtract, vec![s, regex, group], ty)
                }
                7 => {
                    let (t, format) = (self.expr(Type::Timestamp, d), self.time_format());
                    self.call(Function::FormatTime, vec![t, format], ty)
                }
                0 => {
                    let (a, b) = (self.expr(Type::String, d), self.expr(Type::String, d));
                    self.binary(BinaryOp::Concat, a, b, ty)
                }
                1 => {
                    let from = self.dice.pick(&ALL_TYPES);
                    let arg = self.expr(from, d);
                    self.call(Function::Str, vec![arg], ty)
                }
                2 => {
                    let function = self.dice.pick(&[Function::Upper, Function::Lower]);
                    let arg = self.expr(Type::String, d);
                    self.call(function, vec![arg], ty)
                }
                3 => {
                    let function = self.dice.pick(&[Function::Min, Function::Max]);
                    let args = (0..2).map(|_| self.expr(Type::String, d)).collect();
                    self.call(function, args, ty)
                }
                _ => self.leaf(ty),
            },
        }
    }
}

fn record(dice: &mut Dice) -> Arc<RecordType> {
    let n = 1 + dice.below(5) as usize;
    RecordType::new((0..n).map(|i| Field { name: format!("f{i}"), ty: dice.pick(&ALL_TYPES) }).collect())
}

fn batch(dice: &mut Dice, record: &RecordType, rows: usize) -> Batch {
    let mut batch = Batch::new(record);
    for _ in 0..rows {
        let values: Vec<Value> = record.fields().iter().map(|field| value(dice, field.ty)).collect();
        batch.push_values(record, &values);
    }
    batch
}

/// Rows as values, NaN made comparable.
fn rows(batch: &Batch, record: &RecordType) -> Vec<Vec<String>> {
    (0..batch.len())
        .map(|row| {
            batch
                .row(row, record)
                .values()
                .iter()
                .map(|value| match value {
                    Value::Float(v) if v.is_nan() => "NaN".to_string(),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

fn same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    interpreted: (Result<(), flowc::compile::interp::EvalError>, T),
    compiled: (Result<(), flowc::compile::interp::EvalError>, T),
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&interpreted.0, &compiled.0, "{}: the same outcome", what);
    prop_assert_eq!(&interpreted.1, &compiled.1, "{}: the same rows", what);
    Ok(())
}

/// Stages one after another on the interpreter: rows out, rows past each stage.
fn run_stages_one_by_one(
    stages: &[FusedStage],
    input: &Arc<RecordType>,
    rows_in: &Batch,
) -> Result<(Batch, Arc<RecordType>, Vec<u64>), flowc::compile::interp::EvalError> {
    let (mut batch, mut record, mut passed) = (rows_in.clone(), input.clone(), Vec::new());
    for stage in stages {
        match stage {
            FusedStage::Filter(predicate) => {
                let mut out = Batch::new(&record);
                Interpreter.predicate(predicate, &record).run(&batch, &mut out)?;
                batch = out;
            }
            FusedStage::Map(fields, output) => {
                let mut out = Batch::new(output);
                Interpreter.projection(fields, &record, output).run(&batch, &mut out)?;
                batch = out;
                record = output.clone();
            }
        }
        passed.push(batch.len() as u64);
    }
    Ok((batch, record, passed))
}

/// `PROPTEST_CASES` when set (for long runs), else `default`: CI's bound.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(200), ..ProptestConfig::default() })]

    /// A run of filters and maps compiled into one kernel gives the rows
    /// and per-stage counts of the stages run one by one; where those fail,
    /// it fails too (the runtime then replays the batch stage by stage for
    /// the exact error).
    #[test]
    fn fused_filters_and_maps_agree_with_the_stages_one_by_one(seed in any::<u64>()) {
        let mut dice = Dice(seed);
        let input = record(&mut dice);
        let n_rows = 1 + dice.below(40) as usize;
        let rows_in = batch(&mut dice, &input, n_rows);
        let mut stages = Vec::new();
        let mut current = input.clone();
        for _ in 0..2 + dice.below(3) {
            let mut builder = Builder { dice: &mut dice, record: &current, in_generate: false, spans: 300 };
            if builder.dice.below(2) == 0 {
                stages.push(FusedStage::Filter(builder.expr(Type::Bool, 4)));
            } else {
                let output = record(builder.dice);
                let mut builder = Builder { dice: &mut dice, record: &current, in_generate: false, spans: 400 };
                let fields = output.fields().iter().map(|field| builder.expr(field.ty, 3)).collect();
                stages.push(FusedStage::Map(fields, output.clone()));
                current = output;
            }
        }
        let fused = Jit::new().fused(&stages, &input).expect("filters and maps fuse");
        let mut out = Batch::new(&current);
        let mut passed = vec![0u64; stages.len()];
        let result = fused.run(&rows_in, &mut out, &mut passed);
        match run_stages_one_by_one(&stages, &input, &rows_in) {
            Ok((expected, record, expected_passed)) => {
                prop_assert!(result.is_ok(), "the fused kernel failed: {:?}", result);
                prop_assert_eq!(rows(&out, &record), rows(&expected, &record));
                prop_assert_eq!(passed, expected_passed);
            }
            Err(_) => prop_assert!(result.is_err(), "the stages fail one by one, the fused kernel does not"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), ..ProptestConfig::default() })]

    #[test]
    fn map_filter_generate_and_keys_agree_with_the_interpreter(seed in any::<u64>()) {
        let mut dice = Dice(seed);
        let input = record(&mut dice);
        let output = record(&mut dice);
        let n_rows = 1 + dice.below(40) as usize;
        let rows_in = batch(&mut dice, &input, n_rows);
        let jit = Jit::new();

        let mut builder = Builder { dice: &mut dice, record: &input, in_generate: false, spans: 0 };
        let fields: Vec<TypedExpr> = output.fields().iter().map(|field| builder.expr(field.ty, 4)).collect();
        let predicate = builder.expr(Type::Bool, 5);

        let run_map = |backend: &dyn Backend| {
            let mut out = Batch::new(&output);
            let result = backend.projection(&fields, &input, &output).run(&rows_in, &mut out);
            (result, rows(&out, &output))
        };
        same("map", run_map(&Interpreter), run_map(&jit))?;

        let run_filter = |backend: &dyn Backend| {
            let mut out = Batch::new(&input);
            let result = backend.predicate(&predicate, &input).run(&rows_in, &mut out);
            (result, rows(&out, &input))
        };
        same("filter", run_filter(&Interpreter), run_filter(&jit))?;

        let key = Builder { dice: &mut dice, record: &input, in_generate: false, spans: 200 }.expr(ALL_TYPES[(seed % 6) as usize], 5);
        let run_scalar = |backend: &dyn Backend| {
            let scalar = backend.scalar(&key, &input);
            let values: Vec<Result<String, flowc::compile::interp::EvalError>> = (0..rows_in.len())
                .map(|row| scalar.evaluate(&rows_in, row).map(|value| match value {
                    Value::Float(v) if v.is_nan() => "NaN".to_string(),
                    other => format!("{other:?}"),
                }))
                .collect();
            (Ok(()), values)
        };
        same("key", run_scalar(&Interpreter), run_scalar(&jit))?;
        // A batch at a time: the values of the rows before an error, then the error.
        let run_column = |backend: &dyn Backend| {
            let mut values = Vec::new();
            let result = backend.scalar(&key, &input).evaluate_all(&rows_in, &mut values);
            let shown: Vec<String> = values.iter().map(|value| match value {
                Value::Float(v) if v.is_nan() => "NaN".to_string(),
                other => format!("{other:?}"),
            }).collect();
            (result, shown)
        };
        same("key, a batch at a time", run_column(&Interpreter), run_column(&jit))?;

        let empty = RecordType::new(Vec::new());
        let mut builder = Builder { dice: &mut dice, record: &empty, in_generate: true, spans: 100 };
        let generated: Vec<TypedExpr> = output.fields().iter().map(|field| builder.expr(field.ty, 4)).collect();
        let (first, stride) = (int(&mut dice), 1 + dice.below(5) as i64);
        let run_generate = |backend: &dyn Backend| {
            let mut out = Batch::new(&output);
            let result = backend.generator(&generated, &output).run(first, stride, 17, &mut out);
            (result, rows(&out, &output))
        };
        same("generate", run_generate(&Interpreter), run_generate(&jit))?;

        // The JIT compiles every type and function: nothing may fall back.
        for function in jit.compiled() {
            prop_assert!(
                matches!(function.outcome, flowc::compile::jit::Compiled::Native { .. }),
                "{} was not compiled: {:?}", function.what, function.outcome
            );
        }
    }
}
