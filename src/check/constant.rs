//! Constant arguments: the values of connector arguments, attribute
//! arguments and `config` entries, which must be known before anything runs.

use crate::diag::{one_of, Code, Diagnostic, Span};
use crate::syntax::ast::{Expr, ExprKind, UnaryOp};

/// A constant as written: a literal, a negated literal, or a bare word
/// (`format = csv`).
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Duration(i64),
    Rate(f64),
    Size(u64),
    Word(String),
}

/// The kind of constant an argument takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expected {
    Int,
    Bool,
    Str,
    Duration,
    Rate,
    Size,
    /// One of these bare words.
    Word(&'static [&'static str]),
}

impl Expected {
    fn describe(self) -> String {
        match self {
            Expected::Int => "a whole number such as `5_000`".into(),
            Expected::Bool => "`true` or `false`".into(),
            Expected::Str => "a string such as `\"out.csv\"`".into(),
            Expected::Duration => "a duration such as `100ms`".into(),
            Expected::Rate => "a rate such as `1000/s`".into(),
            Expected::Size => "a size such as `32KiB`".into(),
            Expected::Word(words) => one_of(words.iter()),
        }
    }
}

impl Const {
    fn describe(&self) -> String {
        match self {
            Const::Int(v) => format!("the int `{v}`"),
            Const::Float(v) => format!("the float `{v}`"),
            Const::Bool(v) => format!("`{v}`"),
            Const::Str(_) => "a string".into(),
            Const::Duration(_) => "a duration".into(),
            Const::Rate(_) => "a rate".into(),
            Const::Size(_) => "a size".into(),
            Const::Word(w) => format!("`{w}`"),
        }
    }
}

/// Reads `expr` as a constant of the `expected` kind; reports what is wrong
/// under `code` and returns `None` otherwise. `what` names the argument in
/// messages ("`count`", "the `parallelism` setting").
pub fn expect(
    expr: &Expr,
    expected: Expected,
    code: Code,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Const> {
    let value = constant(expr, what, diagnostics)?;
    let fits = match (&value, expected) {
        (Const::Int(_), Expected::Int)
        | (Const::Bool(_), Expected::Bool)
        | (Const::Str(_), Expected::Str)
        | (Const::Duration(_), Expected::Duration)
        | (Const::Rate(_), Expected::Rate)
        | (Const::Size(_), Expected::Size) => true,
        (Const::Word(word), Expected::Word(words)) => words.contains(&word.as_str()),
        _ => false,
    };
    if fits {
        return Some(value);
    }
    let mut diagnostic =
        Diagnostic::error(code, format!("{what} must be {}, not {}", expected.describe(), value.describe()))
            .label(expr.span, format!("expected {}", expected.describe()));
    diagnostic = match (&value, expected) {
        (Const::Int(n), Expected::Duration) => diagnostic.help(format!("give the unit: `{n}ms` or `{n}s`")),
        (Const::Int(n), Expected::Rate) => diagnostic.help(format!("give the time unit: `{n}/s`")),
        (Const::Int(n), Expected::Size) => diagnostic.help(format!("give the unit: `{n}B` or `{n}KiB`")),
        (Const::Word(word), Expected::Word(words)) => {
            diagnostic.maybe_help(crate::diag::did_you_mean(word, words.iter().copied()))
        }
        (Const::Word(word), Expected::Str) => diagnostic.help(format!("put it in quotes: `\"{word}\"`")),
        _ => diagnostic,
    };
    diagnostic = match diagnostic.help {
        Some(_) => diagnostic,
        None => diagnostic.help(format!("write {} here", expected.describe())),
    };
    diagnostics.push(diagnostic);
    None
}

/// Reads a constant of any kind; fields, operators and calls are not constants.
pub fn constant(expr: &Expr, what: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Const> {
    Some(match &expr.kind {
        ExprKind::Int(v) => Const::Int(*v),
        ExprKind::Float(v) => Const::Float(*v),
        ExprKind::Bool(v) => Const::Bool(*v),
        ExprKind::Str(v) => Const::Str(v.clone()),
        ExprKind::Duration(v) => Const::Duration(*v),
        ExprKind::Rate(v) => Const::Rate(*v),
        ExprKind::Size(v) => Const::Size(*v),
        ExprKind::Name(name) => Const::Word(name.clone()),
        ExprKind::Unary { op: UnaryOp::Neg, operand } => match &operand.kind {
            ExprKind::Int(v) => Const::Int(-v),
            ExprKind::Float(v) => Const::Float(-v),
            ExprKind::Duration(v) => Const::Duration(-v),
            ExprKind::Error => return None,
            _ => return not_constant(expr.span, what, diagnostics),
        },
        ExprKind::Error => return None,
        _ => return not_constant(expr.span, what, diagnostics),
    })
}

fn not_constant(span: Span, what: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Const> {
    diagnostics.push(
        Diagnostic::error(Code::NotConstant, format!("{what} must be a constant"))
            .label(span, "computed values are not allowed here")
            .help("write the value itself, such as `5_000`, `100ms` or `1000/s`"),
    );
    None
}

/// Reports a rate, duration or count that must be greater than zero;
/// `positive` says whether it is.
pub fn require_positive(positive: bool, span: Span, what: &str, diagnostics: &mut Vec<Diagnostic>) -> bool {
    if !positive {
        diagnostics.push(
            Diagnostic::error(Code::NotPositive, format!("{what} must be greater than zero"))
                .label(span, "zero or less")
                .help("give a value above zero"),
        );
    }
    positive
}
