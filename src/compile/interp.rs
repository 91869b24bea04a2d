//! The reference interpreter for expressions: the semantics every backend
//! must match (docs/language.md, "Arithmetic rules"). It walks a
//! `TypedExpr`, one arm per node kind, reading fields through `Fields`.
//!
//! `and`, `or` and `if` evaluate only what they need, so
//! `x != 0 and 10 / x > 1` never divides by zero. Integer and duration
//! division or remainder by zero is an `EvalError` that stops the run.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::check::functions::Function;
use crate::check::patterns::Pattern;
use crate::check::program::{TypedExpr, TypedExprKind, Value};
use crate::diag::Span;
use crate::syntax::ast::{BinaryOp, UnaryOp};

use super::{builtins, text};

/// Where an expression reads its record's fields from.
pub trait Fields {
    fn field(&self, index: usize) -> Value;
}

impl Fields for [Value] {
    fn field(&self, index: usize) -> Value {
        self[index].clone()
    }
}

/// A record that cannot be computed: the run stops with this error.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub message: String,
    /// The expression that failed.
    pub span: Span,
}

/// Evaluates `expr` over `fields`; `seq` is the record number in a
/// `generate` body.
pub fn evaluate<F: Fields + ?Sized>(expr: &TypedExpr, fields: &F, seq: i64) -> Result<Value, EvalError> {
    let value = match &expr.kind {
        TypedExprKind::Literal(value) => value.clone(),
        TypedExprKind::Field(index) => fields.field(*index),
        TypedExprKind::Seq => Value::Int(seq),
        TypedExprKind::Unary { op, operand } => unary(*op, evaluate(operand, fields, seq)?, expr.span)?,
        TypedExprKind::Binary { op: BinaryOp::And, lhs, rhs } => {
            Value::Bool(as_bool(&evaluate(lhs, fields, seq)?) && as_bool(&evaluate(rhs, fields, seq)?))
        }
        TypedExprKind::Binary { op: BinaryOp::Or, lhs, rhs } => {
            Value::Bool(as_bool(&evaluate(lhs, fields, seq)?) || as_bool(&evaluate(rhs, fields, seq)?))
        }
        TypedExprKind::Binary { op, lhs, rhs } => {
            binary(*op, evaluate(lhs, fields, seq)?, evaluate(rhs, fields, seq)?, expr.span)?
        }
        TypedExprKind::If { condition, then, otherwise } => {
            if as_bool(&evaluate(condition, fields, seq)?) {
                evaluate(then, fields, seq)?
            } else {
                evaluate(otherwise, fields, seq)?
            }
        }
        TypedExprKind::Call { function, args } => {
            // A pattern argument is no value: the function reads it parsed.
            let mut values = Vec::with_capacity(args.len());
            let mut pattern = None;
            for arg in args {
                match &arg.kind {
                    TypedExprKind::Pattern(parsed) => pattern = Some(parsed),
                    _ => values.push(evaluate(arg, fields, seq)?),
                }
            }
            match pattern {
                Some(pattern) => call_with_pattern(*function, &values, pattern, expr.span)?,
                None => call(*function, &values, expr.span)?,
            }
        }
        TypedExprKind::Pattern(pattern) => Value::Str(Arc::from(pattern.source())),
    };
    Ok(value)
}

fn as_bool(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

fn unary(op: UnaryOp, value: Value, span: Span) -> Result<Value, EvalError> {
    Ok(match (op, value) {
        (UnaryOp::Neg, Value::Int(v)) => Value::Int(v.wrapping_neg()),
        (UnaryOp::Neg, Value::Float(v)) => Value::Float(-v),
        (UnaryOp::Neg, Value::Duration(v)) => Value::Duration(v.wrapping_neg()),
        (UnaryOp::Not, Value::Bool(v)) => Value::Bool(!v),
        (op, value) => return Err(mistyped(span, format!("{op:?} of {}", value.ty()))),
    })
}

fn binary(op: BinaryOp, lhs: Value, rhs: Value, span: Span) -> Result<Value, EvalError> {
    use BinaryOp::*;
    use Value::{Duration as D, Float as F, Int as I, Str as S, Timestamp as T};
    let zero = |divisor: i64, what: &str| {
        if divisor == 0 {
            Err(EvalError { message: format!("{what} by zero"), span })
        } else {
            Ok(())
        }
    };
    Ok(match (op, lhs, rhs) {
        (Eq | Ne | Lt | Le | Gt | Ge, lhs, rhs) => {
            let ordering = compare(&lhs, &rhs);
            Value::Bool(match op {
                Eq => ordering == Some(Ordering::Equal),
                Ne => ordering != Some(Ordering::Equal),
                Lt => ordering == Some(Ordering::Less),
                Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                Gt => ordering == Some(Ordering::Greater),
                _ => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
            })
        }
        (Concat, S(a), S(b)) => S(Arc::from(format!("{a}{b}"))),
        (Add, I(a), I(b)) => I(a.wrapping_add(b)),
        (Sub, I(a), I(b)) => I(a.wrapping_sub(b)),
        (Mul, I(a), I(b)) => I(a.wrapping_mul(b)),
        (Div, I(a), I(b)) => zero(b, "integer division").map(|_| I(a.wrapping_div(b)))?,
        (Rem, I(a), I(b)) => zero(b, "integer remainder").map(|_| I(a.wrapping_rem(b)))?,
        (Add, F(a), F(b)) => F(a + b),
        (Sub, F(a), F(b)) => F(a - b),
        (Mul, F(a), F(b)) => F(a * b),
        (Div, F(a), F(b)) => F(a / b),
        (Rem, F(a), F(b)) => F(a % b),
        (Add, D(a), D(b)) => D(a.wrapping_add(b)),
        (Sub, D(a), D(b)) => D(a.wrapping_sub(b)),
        (Rem, D(a), D(b)) => zero(b, "duration remainder").map(|_| D(a.wrapping_rem(b)))?,
        (Div, D(a), D(b)) => zero(b, "duration division").map(|_| I(a.wrapping_div(b)))?,
        (Mul, D(a), I(b)) | (Mul, I(b), D(a)) => D(a.wrapping_mul(b)),
        (Div, D(a), I(b)) => zero(b, "duration division").map(|_| D(a.wrapping_div(b)))?,
        (Add, T(a), D(b)) | (Add, D(b), T(a)) => T(a.wrapping_add(b)),
        (Sub, T(a), D(b)) => T(a.wrapping_sub(b)),
        (Sub, T(a), T(b)) => D(a.wrapping_sub(b)),
        (op, lhs, rhs) => return Err(mistyped(span, format!("{} {op:?} {}", lhs.ty(), rhs.ty()))),
    })
}

/// The order of two values of one type; `None` when a float is NaN (NaN
/// is unequal to everything) or the types differ.
fn compare(lhs: &Value, rhs: &Value) -> Option<Ordering> {
    match (lhs, rhs) {
        (Value::Int(a), Value::Int(b))
        | (Value::Timestamp(a), Value::Timestamp(b))
        | (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

/// Applies a scalar function to evaluated arguments; aggregates reuse
/// `min` and `max` through it.
pub fn call(function: Function, args: &[Value], span: Span) -> Result<Value, EvalError> {
    use Value::{Bool as B, Duration as D, Float as F, Int as I, Str as S, Timestamp as T};
    Ok(match (function, args) {
        (Function::Float, [I(v)]) => F(*v as f64),
        (Function::Float, [F(v)]) => F(*v),
        // `as` rounds toward zero, saturates, and turns NaN into 0.
        (Function::Int, [F(v)]) => I(*v as i64),
        (Function::Int, [I(v) | T(v) | D(v)]) => I(*v),
        (Function::Int, [B(v)]) => I(i64::from(*v)),
        (Function::Str, [value]) => S(Arc::from(to_text(value))),
        (Function::Abs, [I(v)]) => I(v.wrapping_abs()),
        (Function::Abs, [F(v)]) => F(v.abs()),
        (Function::Abs, [D(v)]) => D(v.wrapping_abs()),
        (Function::Round, [F(v)]) => F(builtins::round_float(*v, 0)),
        (Function::Round, [F(v), I(digits)]) => F(builtins::round_float(*v, *digits)),
        (Function::Round, [I(v)]) => I(*v),
        (Function::Round, [I(v), I(digits)]) => I(builtins::round_int(*v, *digits)),
        (Function::Min | Function::Max, [F(a), F(b)]) if a.is_nan() || b.is_nan() => F(f64::NAN),
        (Function::Min, [a, b]) => pick(a, b, Ordering::Less, span)?,
        (Function::Max, [a, b]) => pick(a, b, Ordering::Greater, span)?,
        (Function::Hash, [value]) => I(builtins::hash_value(value)),
        (Function::Len, [S(v)]) => I(v.chars().count() as i64),
        (Function::Lower, [S(v)]) => S(Arc::from(v.to_lowercase())),
        (Function::Upper, [S(v)]) => S(Arc::from(v.to_uppercase())),
        (Function::Contains, [S(a), S(b)]) => B(a.contains(&**b)),
        (Function::StartsWith, [S(a), S(b)]) => B(a.starts_with(&**b)),
        (Function::EndsWith, [S(a), S(b)]) => B(a.ends_with(&**b)),
        (Function::SplitIndex, [S(s), S(separator), I(index)]) => S(Arc::from(text::split_index(s, separator, *index))),
        (Function::Occurrences, [S(s), S(part)]) => I(text::occurrences(s, part)),
        (Function::Hour, [T(t)]) => I(builtins::hour(*t)),
        (Function::Minute, [T(t)]) => I(builtins::minute(*t)),
        (Function::Random, [I(v)]) => F(builtins::random(*v)),
        (function, args) => {
            let types: Vec<String> = args.iter().map(|arg| arg.ty().to_string()).collect();
            return Err(mistyped(span, format!("{}({})", function.name(), types.join(", "))));
        }
    })
}

/// A function of a pattern `check` parsed (`Function::pattern_argument`)
/// and of its other arguments, evaluated.
fn call_with_pattern(function: Function, args: &[Value], pattern: &Pattern, span: Span) -> Result<Value, EvalError> {
    use Value::{Bool as B, Int as I, Str as S, Timestamp as T};
    Ok(match (function, args, pattern) {
        (Function::RegexpExtract, [S(s), I(group)], Pattern::Regex(regex)) => {
            S(Arc::from(text::regexp_extract(s, regex, *group)))
        }
        (Function::Matches, [S(s)], Pattern::Regex(regex)) => B(text::matches(s, regex)),
        (Function::FormatTime, [T(t)], Pattern::Time(format)) => S(Arc::from(builtins::format_time(*t, format))),
        (function, args, _) => {
            let types: Vec<String> = args.iter().map(|arg| arg.ty().to_string()).collect();
            return Err(mistyped(span, format!("{}({}) with a pattern", function.name(), types.join(", "))));
        }
    })
}

/// `a` unless `b` is strictly `wanted` of it: on ties, the first.
fn pick(a: &Value, b: &Value, wanted: Ordering, span: Span) -> Result<Value, EvalError> {
    match compare(b, a) {
        Some(ordering) if ordering == wanted => Ok(b.clone()),
        Some(_) => Ok(a.clone()),
        None => Err(mistyped(span, format!("min/max of {} and {}", a.ty(), b.ty()))),
    }
}

/// `str(x)`, as docs/language.md defines it.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Int(v) => v.to_string(),
        Value::Float(v) => builtins::format_float(*v),
        Value::Bool(v) => v.to_string(),
        Value::Str(v) => v.to_string(),
        Value::Timestamp(v) => builtins::format_timestamp(*v),
        Value::Duration(v) => crate::check::format_duration(*v),
    }
}

/// Operand types `check` should have refused: a bug, reported, not a panic.
fn mistyped(span: Span, what: String) -> EvalError {
    EvalError { message: format!("internal: flowc cannot evaluate {what}; the checker should have refused it"), span }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_source;
    use crate::check::program::OperatorKind;

    const SCHEMA: &str =
        "schema R { i: int, j: int, x: float, y: float, s: string, t: timestamp, d: duration, b: bool }";

    /// Evaluates `expr` as a map field over the record `i, j, x, y, s, t, d, b`.
    fn eval_with(expr: &str, record: &[Value]) -> Result<Value, EvalError> {
        let text = format!("{SCHEMA}\nsource r: R = stdin(format = jsonl)\nr | map {{ out = {expr} }} | sink print\n");
        let checked = check_source(&text);
        let program = checked.program.unwrap_or_else(|| panic!("{expr}: {:?}", checked.diagnostics));
        let OperatorKind::Map { fields } = &program.pipelines[0].stream.operators[0].kind else { unreachable!() };
        evaluate(&fields[0], record, 0)
    }

    fn record(i: i64, j: i64, x: f64, y: f64) -> Vec<Value> {
        vec![
            Value::Int(i),
            Value::Int(j),
            Value::Float(x),
            Value::Float(y),
            Value::Str(Arc::from("Grüße")),
            Value::Timestamp(1_500_000_000),
            Value::Duration(1_500_000_000),
            Value::Bool(true),
        ]
    }

    fn eval(expr: &str) -> Value {
        eval_with(expr, &record(7, 2, 1.5, 0.0)).unwrap_or_else(|e| panic!("{expr}: {e:?}"))
    }

    #[test]
    fn int_arithmetic_wraps_and_rounds_toward_zero() {
        assert_eq!(eval("i / j"), Value::Int(3));
        assert_eq!(eval("-i / j"), Value::Int(-3));
        assert_eq!(eval("-i % j"), Value::Int(-1));
        let min = record(i64::MIN, -1, 0.0, 0.0);
        assert_eq!(eval_with("i / j", &min), Ok(Value::Int(i64::MIN)));
        assert_eq!(eval_with("i - 1", &min), Ok(Value::Int(i64::MAX)));
        assert_eq!(eval_with("abs(i)", &min), Ok(Value::Int(i64::MIN)));
        assert_eq!(eval_with("-i", &min), Ok(Value::Int(i64::MIN)));
    }

    #[test]
    fn division_by_zero_stops_with_the_operator_span() {
        let zero = record(7, 0, 0.0, 0.0);
        let error = eval_with("1 + i / j", &zero).unwrap_err();
        assert_eq!(error.message, "integer division by zero");
        assert!(eval_with("i % j", &zero).is_err());
        assert!(eval_with("d / j", &zero).is_err());
        assert!(eval_with("d % (d * j)", &zero).is_err());
        assert_eq!(eval_with("j != 0 and i / j > 1", &zero), Ok(Value::Bool(false)));
        assert_eq!(eval_with("j == 0 or i / j > 1", &zero), Ok(Value::Bool(true)));
        assert_eq!(eval_with("if j == 0 then 0 else i / j", &zero), Ok(Value::Int(0)));
    }

    #[test]
    fn floats_follow_ieee_754() {
        assert_eq!(eval("x / y"), Value::Float(f64::INFINITY));
        let Value::Float(nan) = eval("y / y") else { panic!() };
        assert!(nan.is_nan());
        assert_eq!(eval("y / y == y / y"), Value::Bool(false));
        assert_eq!(eval("y / y != y / y"), Value::Bool(true));
        assert_eq!(eval("y / y < 1.0 or y / y >= 1.0"), Value::Bool(false));
        assert_eq!(eval("int(y / y)"), Value::Int(0));
        assert_eq!(eval("int(x / y)"), Value::Int(i64::MAX));
        assert_eq!(eval("int(-x)"), Value::Int(-1));
        assert_eq!(eval("x % 1.0"), Value::Float(0.5));
        let Value::Float(nan_min) = eval("min(x, y / y)") else { panic!() };
        assert!(nan_min.is_nan());
    }

    #[test]
    fn time_arithmetic() {
        assert_eq!(eval("t + d"), Value::Timestamp(3_000_000_000));
        assert_eq!(eval("t - epoch"), Value::Duration(1_500_000_000));
        assert_eq!(eval("(t - epoch) / 500ms"), Value::Int(3));
        assert_eq!(eval("d * 2"), Value::Duration(3_000_000_000));
        assert_eq!(eval("2 * d % 1s"), Value::Duration(0));
        assert_eq!(eval("d / 3"), Value::Duration(500_000_000));
        assert_eq!(eval("-d"), Value::Duration(-1_500_000_000));
        assert_eq!(eval("int(d)"), Value::Int(1_500_000_000));
    }

    #[test]
    fn strings_and_functions() {
        assert_eq!(eval("len(s)"), Value::Int(5));
        assert_eq!(eval("upper(s)"), Value::Str(Arc::from("GRÜSSE")));
        assert_eq!(eval("lower(s) ++ \"!\""), Value::Str(Arc::from("grüße!")));
        assert_eq!(eval("contains(s, \"üß\") and starts_with(s, \"Gr\") and ends_with(s, \"e\")"), Value::Bool(true));
        assert_eq!(eval("min(\"b\", s)"), Value::Str(Arc::from("Grüße")));
        assert_eq!(eval("max(i, j)"), Value::Int(7));
        assert_eq!(eval("str(t)"), Value::Str(Arc::from("1970-01-01T00:00:01.5Z")));
        assert_eq!(eval("str(d)"), Value::Str(Arc::from("1500ms")));
        assert_eq!(eval("str(x) ++ str(float(i)) ++ str(b)"), Value::Str(Arc::from("1.57.0true")));
        assert_eq!(eval("hash(s) == hash(\"Grüße\")"), Value::Bool(true));
        assert_eq!(eval("random(i) == random(7)"), Value::Bool(true));
    }
}
