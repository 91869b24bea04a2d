//! Types expressions against the record they read: resolves field names,
//! picks each operator's meaning from its operand types, and checks calls.
//! One `match` arm per syntax node, as the interpreter and JIT will have.

use std::sync::Arc;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

use super::functions::{AggregateFunction, Function};
use super::patterns::{Pattern, PatternError, PatternKind};
use super::program::{TypedExpr, TypedExprKind, Value};
use super::types::{RecordType, Type};

/// What names an expression can see.
pub struct Scope<'a> {
    pub record: &'a RecordType,
    /// Inside a `generate` body, where `seq` is the record number.
    pub in_generator: bool,
}

/// Types `expr`; reports every problem and returns `None` if there was one.
/// A sub-expression that failed is not reported again by its parent.
pub fn check_expr(expr: &Expr, scope: &Scope<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<TypedExpr> {
    let span = expr.span;
    let typed = |kind, ty| Some(TypedExpr { kind, ty, span });
    let literal = |value: Value| {
        let ty = value.ty();
        typed(TypedExprKind::Literal(value), ty)
    };
    match &expr.kind {
        ExprKind::Int(v) => literal(Value::Int(*v)),
        ExprKind::Float(v) => literal(Value::Float(*v)),
        ExprKind::Bool(v) => literal(Value::Bool(*v)),
        ExprKind::Str(v) => literal(Value::Str(Arc::from(v.as_str()))),
        ExprKind::Duration(v) => literal(Value::Duration(*v)),
        ExprKind::Rate(_) | ExprKind::Size(_) => {
            let what = if matches!(expr.kind, ExprKind::Rate(_)) { "a rate" } else { "a size" };
            diagnostics.push(
                Diagnostic::error(Code::NotAValue, format!("{what} is not a value an expression can use"))
                    .label(span, what.to_string())
                    .help(match expr.kind {
                        ExprKind::Rate(_) => "rates go in `throttle` and `generate(rate = …)`; to divide by a field, put spaces around `/`",
                        _ => "sizes go in `config` settings such as `buffer_size`",
                    }),
            );
            None
        }
        ExprKind::Error => None,
        ExprKind::Name(name) => check_name(name, span, scope, diagnostics),
        ExprKind::Unary { op, operand } => {
            let operand = check_expr(operand, scope, diagnostics)?;
            let ty = match (op, operand.ty) {
                (UnaryOp::Neg, ty @ (Type::Int | Type::Float | Type::Duration)) => ty,
                (UnaryOp::Not, Type::Bool) => Type::Bool,
                (_, ty) => {
                    let takes = if *op == UnaryOp::Neg { "an int, float or duration" } else { "a bool" };
                    diagnostics.push(
                        Diagnostic::error(
                            Code::BadOperands,
                            format!("`{}` does not apply to {}", op.symbol(), ty.with_article()),
                        )
                        .label(operand.span, format!("this is {}", ty.with_article()))
                        .help(format!("`{}` takes {takes}", op.symbol())),
                    );
                    return None;
                }
            };
            typed(TypedExprKind::Unary { op: *op, operand: Box::new(operand) }, ty)
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let lhs = check_expr(lhs, scope, diagnostics);
            let rhs = check_expr(rhs, scope, diagnostics);
            let (lhs, rhs) = (lhs?, rhs?);
            let Some(ty) = binary_result(*op, lhs.ty, rhs.ty) else {
                diagnostics.push(bad_operands(*op, &lhs, &rhs));
                return None;
            };
            typed(TypedExprKind::Binary { op: *op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, ty)
        }
        ExprKind::If { condition, then, otherwise } => {
            let condition = check_expr(condition, scope, diagnostics);
            let then = check_expr(then, scope, diagnostics);
            let otherwise = check_expr(otherwise, scope, diagnostics);
            let condition = condition
                .and_then(|condition| expect_type(condition, Type::Bool, "the condition of `if`", diagnostics));
            let (condition, then, otherwise) = (condition?, then?, otherwise?);
            if then.ty != otherwise.ty {
                diagnostics.push(
                    Diagnostic::error(Code::TypeMismatch, "the branches of `if` have different types")
                        .label(then.span, format!("this is {}", then.ty.with_article()))
                        .label(otherwise.span, format!("this is {}", otherwise.ty.with_article()))
                        .maybe_help(conversion_help(then.ty, otherwise.ty)),
                );
                return None;
            }
            let ty = then.ty;
            typed(
                TypedExprKind::If {
                    condition: Box::new(condition),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                },
                ty,
            )
        }
        ExprKind::Call { function, args } => {
            if AggregateFunction::is_aggregate_call(&function.name, args.len()) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::MisplacedAggregate,
                        format!("`{}` aggregates many records and cannot be used here", function.name),
                    )
                    .label(span, "an aggregate function")
                    .help("aggregate in a keyed `window … { n = count() }` or `aggregate { total = sum(x) }`"),
                );
                return None;
            }
            let Some(function_kind) = Function::from_name(&function.name) else {
                let known = Function::ALL.iter().map(|f| f.name());
                diagnostics.push(
                    Diagnostic::error(Code::UnknownFunction, format!("unknown function `{}`", function.name))
                        .label(function.span, "not a function")
                        .help(did_you_mean(&function.name, known).unwrap_or_else(|| {
                            "the functions are listed in docs/language.md under \"Functions\"".to_string()
                        })),
                );
                return None;
            };
            let typed_args: Vec<Option<TypedExpr>> =
                args.iter().map(|arg| check_expr(arg, scope, diagnostics)).collect();
            let (fewest, most) = (function_kind.min_arity(), function_kind.arity());
            if !(fewest..=most).contains(&args.len()) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::WrongArity,
                        format!(
                            "`{}` takes {}{most} argument{}, not {}",
                            function.name,
                            if fewest < most { format!("{fewest} or ") } else { String::new() },
                            if most == 1 { "" } else { "s" },
                            args.len()
                        ),
                    )
                    .label(span, "wrong number of arguments")
                    .help(format!("it is `{}`", function_kind.signature())),
                );
                return None;
            }
            let typed_args: Vec<TypedExpr> = typed_args.into_iter().collect::<Option<_>>()?;
            let arg_types: Vec<Type> = typed_args.iter().map(|arg| arg.ty).collect();
            let Some(ty) = function_kind.result_type(&arg_types) else {
                let shown: Vec<&str> = arg_types.iter().map(|ty| ty.name()).collect();
                diagnostics.push(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        format!("`{}` does not take ({})", function.name, shown.join(", ")),
                    )
                    .label(span, format!("called with ({})", shown.join(", ")))
                    .help(format!("it is `{}`", function_kind.signature())),
                );
                return None;
            };
            let typed_args = check_constant_arguments(function_kind, typed_args, diagnostics)?;
            typed(TypedExprKind::Call { function: function_kind, args: typed_args }, ty)
        }
    }
}

/// The arguments a function needs to know before the run: its pattern,
/// parsed here once (`Function::pattern_argument`), and the constant
/// arguments that can only be a mistake (an empty separator, a group the
/// pattern does not have). Arguments computed per record are the
/// function's to handle (docs/language.md, "Functions").
fn check_constant_arguments(
    function: Function,
    mut args: Vec<TypedExpr>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<TypedExpr>> {
    let name = function.name();
    if let Some((index, kind)) = function.pattern_argument() {
        let arg = &mut args[index];
        let TypedExprKind::Literal(Value::Str(source)) = &arg.kind else {
            diagnostics.push(
                Diagnostic::error(
                    Code::NotConstant,
                    format!("the {} of `{name}` must be a string literal", kind.noun()),
                )
                .label(arg.span, "computed for each record")
                .help(format!(
                    "flowc reads the {} once, before the run, so it is written in quotes: `{}`",
                    kind.noun(),
                    match kind {
                        PatternKind::Regex => "matches(url, \"^https://\")",
                        PatternKind::Time => "format_time(ts, \"yyyy-MM-dd\")",
                    }
                )),
            );
            return None;
        };
        match kind.parse(source) {
            Ok(pattern) => arg.kind = TypedExprKind::Pattern(pattern),
            Err(error) => {
                diagnostics.push(bad_pattern(function, kind, arg, source, error));
                return None;
            }
        }
    }
    let bad_argument = |arg: &TypedExpr, message: String, label: &str, help: String| {
        Diagnostic::error(Code::BadArgument, message).label(arg.span, label.to_string()).help(help)
    };
    match (function, args.as_slice()) {
        (Function::SplitIndex, [_, separator, index]) => {
            if is_empty_string(separator) {
                diagnostics.push(bad_argument(
                    separator,
                    "`split_index` needs a separator that is not empty".into(),
                    "an empty separator",
                    "to split at white space, give the character: `split_index(s, \" \", 0)`".into(),
                ));
                return None;
            }
            if let Some(n) = index.constant_int().filter(|n| *n < 0) {
                diagnostics.push(bad_argument(
                    index,
                    format!("parts count from 0, so `split_index` has no part {n}"),
                    "a negative index",
                    "`split_index(s, \"/\", 0)` is the text before the first `/`, 1 the text between the first and the second".into(),
                ));
                return None;
            }
        }
        (
            Function::RegexpExtract,
            [_, TypedExpr { kind: TypedExprKind::Pattern(Pattern::Regex(regex)), .. }, group],
        ) => {
            let groups = regex.groups();
            if let Some(n) = group.constant_int().filter(|n| !(0..=groups as i64).contains(n)) {
                diagnostics.push(bad_argument(
                    group,
                    format!(
                        "the pattern has {groups} group{}, so there is no group {n}",
                        if groups == 1 { "" } else { "s" }
                    ),
                    "no such group",
                    format!(
                        "group 0 is the whole match{}",
                        match groups {
                            0 => "; a group is a part of the pattern in `( … )`".to_string(),
                            1 => ", group 1 the text the pattern's `( … )` matched".to_string(),
                            _ => format!(", groups 1 to {groups} the texts its `( … )` matched, in order"),
                        }
                    ),
                ));
                return None;
            }
        }
        (Function::Occurrences, [_, part]) if is_empty_string(part) => {
            diagnostics.push(bad_argument(
                part,
                "`occurrences` of the empty string counts nothing".into(),
                "an empty string",
                "give the text to count: `occurrences(s, \",\")`".into(),
            ));
            return None;
        }
        _ => {}
    }
    Some(args)
}

fn is_empty_string(expr: &TypedExpr) -> bool {
    matches!(&expr.kind, TypedExprKind::Literal(Value::Str(text)) if text.is_empty())
}

/// A pattern that does not parse, pointing into the string literal where
/// the literal is written without escapes (so that its bytes are the
/// pattern's), and at the whole literal otherwise.
fn bad_pattern(
    function: Function,
    kind: PatternKind,
    arg: &TypedExpr,
    source: &str,
    error: PatternError,
) -> Diagnostic {
    let span = arg.span;
    let verbatim = span.end - span.start == source.len() + 2;
    let place = match error.at {
        Some(at) if verbatim && at.end <= source.len() => {
            // An empty place is shown on the character there, or on the
            // closing quote at the end.
            let end = if at.end > at.start {
                at.end
            } else {
                at.start + source.get(at.start..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8)
            };
            Span::new(span.start + 1 + at.start, span.start + 1 + end)
        }
        _ => span,
    };
    let what = match kind {
        PatternKind::Regex => "a regular expression",
        PatternKind::Time => "a time format",
    };
    let help = error.help.unwrap_or_else(|| match kind {
        PatternKind::Regex => {
            "flowc's patterns are the Rust regex crate's syntax (docs/language.md, \"Regular expressions\"); \
                               in a string, a regex backslash is written `\\\\`, as in `\"\\\\d+\"`"
                .to_string()
        }
        PatternKind::Time => "see docs/language.md, \"Time formats\"".to_string(),
    });
    Diagnostic::error(Code::BadPattern, format!("the {} of `{}` is not {what}", kind.noun(), function.name()))
        .label(place, error.message)
        .help(help)
}

fn check_name(name: &str, span: Span, scope: &Scope<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<TypedExpr> {
    let typed = |kind, ty| Some(TypedExpr { kind, ty, span });
    if let Some(index) = scope.record.field_index(name) {
        return typed(TypedExprKind::Field(index), scope.record.fields()[index].ty);
    }
    match name {
        "epoch" => return typed(TypedExprKind::Literal(Value::Timestamp(0)), Type::Timestamp),
        "seq" if scope.in_generator => return typed(TypedExprKind::Seq, Type::Int),
        "seq" => {
            diagnostics.push(
                Diagnostic::error(Code::SeqOutsideGenerator, "`seq` exists only in a `generate` body")
                    .label(span, "not in a generator")
                    .help("`seq` numbers the records a generator makes; to keep it, assign it to a field there: `id = seq`"),
            );
            return None;
        }
        _ => {}
    }
    let mut diagnostic = Diagnostic::error(Code::UnknownField, format!("unknown field `{name}`"));
    diagnostic = if scope.in_generator {
        diagnostic
            .label(span, "a generator body cannot read fields")
            .help("compute every field from `seq`, `random(seq)` and `epoch`")
    } else {
        let help = did_you_mean(name, scope.record.field_names())
            .unwrap_or_else(|| format!("the stream's records are {}", scope.record));
        diagnostic.label(span, "not a field of this stream").help(help)
    };
    diagnostics.push(diagnostic);
    None
}

/// The type of `lhs op rhs`, or `None` when the operator does not take them.
pub fn binary_result(op: BinaryOp, lhs: Type, rhs: Type) -> Option<Type> {
    use BinaryOp::*;
    use Type::*;
    Some(match (op, lhs, rhs) {
        (Or | And, Bool, Bool) => Bool,
        (Eq | Ne, a, b) if a == b => Bool,
        (Lt | Le | Gt | Ge, a, b) if a == b && a.is_ordered() => Bool,
        (Concat, String, String) => String,
        (Add | Sub | Mul | Div | Rem, Int, Int) => Int,
        (Add | Sub | Mul | Div | Rem, Float, Float) => Float,
        (Add | Sub | Rem, Duration, Duration) => Duration,
        (Div, Duration, Duration) => Int,
        (Mul, Duration, Int) | (Mul, Int, Duration) | (Div, Duration, Int) => Duration,
        (Add, Timestamp, Duration) | (Add, Duration, Timestamp) | (Sub, Timestamp, Duration) => Timestamp,
        (Sub, Timestamp, Timestamp) => Duration,
        _ => return None,
    })
}

fn bad_operands(op: BinaryOp, lhs: &TypedExpr, rhs: &TypedExpr) -> Diagnostic {
    let diagnostic =
        Diagnostic::error(Code::BadOperands, format!("`{}` does not apply to {} and {}", op.symbol(), lhs.ty, rhs.ty))
            .label(lhs.span, format!("this is {}", lhs.ty.with_article()))
            .label(rhs.span, format!("this is {}", rhs.ty.with_article()));
    let help = match (op, lhs.ty, rhs.ty) {
        (BinaryOp::Concat, _, _) => Some("`++` joins strings; convert with `str(…)`".to_string()),
        (BinaryOp::Add, Type::String, Type::String) => Some("join strings with `++`".to_string()),
        (BinaryOp::And | BinaryOp::Or, _, _) => Some(format!("`{}` joins two bools, such as comparisons", op.symbol())),
        (_, a, b) if a != b => conversion_help(a, b),
        _ => None,
    };
    diagnostic.maybe_help(help)
}

/// How to make a value of one type usable where the other is.
fn conversion_help(a: Type, b: Type) -> Option<String> {
    match (a, b) {
        (Type::Int, Type::Float) | (Type::Float, Type::Int) => {
            Some("flowc does not convert numbers silently: use `float(…)` on the int, or `int(…)` on the float".into())
        }
        (Type::String, _) | (_, Type::String) => Some("convert the other side with `str(…)`".into()),
        (Type::Int, Type::Duration) | (Type::Duration, Type::Int) => {
            Some("multiply the int by a unit: `x * 1ms`".into())
        }
        (Type::Int, Type::Timestamp) | (Type::Timestamp, Type::Int) => {
            Some("make a timestamp from an int with `epoch + x * 1ms`".into())
        }
        _ => None,
    }
}

/// Passes `expr` through if it has type `want`; reports it otherwise.
pub fn expect_type(expr: TypedExpr, want: Type, what: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<TypedExpr> {
    if expr.ty == want {
        return Some(expr);
    }
    let help = match (want, expr.ty) {
        (Type::Float, Type::Int) => Some("write a float literal such as `1.0`, or convert with `float(…)`".to_string()),
        (Type::Int, Type::Float) => Some("convert with `int(…)`, which rounds toward zero".to_string()),
        (Type::Bool, _) => Some("compare it to get a bool, such as `x > 0`".to_string()),
        (want, found) => conversion_help(want, found),
    };
    diagnostics.push(
        Diagnostic::error(
            Code::TypeMismatch,
            format!("{what} must be {}, not {}", want.with_article(), expr.ty.with_article()),
        )
        .label(expr.span, format!("this is {}", expr.ty.with_article()))
        .maybe_help(help),
    );
    None
}
