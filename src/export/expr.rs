//! Expressions in Flink SQL, one construct at a time, each with the same
//! meaning it has in flowc or an export error that says why not.
//!
//! Flink keeps BIGINT arithmetic in Java `long`s, so `+ - *` wrap as
//! flowc's do, `/` truncates toward zero and `%` (MOD) takes the
//! dividend's sign. The traps are elsewhere: an integer literal is an INT
//! in Flink, and INT arithmetic wraps at 32 bits, so every int literal that
//! takes part in arithmetic is cast to BIGINT; `AVG` of a BIGINT is a
//! BIGINT, so it averages DOUBLEs; `CAST(TRUE AS STRING)` is `TRUE`.
//!
//! Time is the other trap. Flink's time attributes have millisecond
//! precision, so a timestamp is a `TIMESTAMP_LTZ(3)`; in a generator body
//! the timestamp arithmetic is done in milliseconds since the epoch (a
//! BIGINT) and turned into a timestamp at the column. Durations as values
//! have no Flink form that reads and writes like flowc's, so only constant
//! durations (in generator arithmetic, windows, watermarks) translate.

use crate::check::functions::Function;
use crate::check::patterns::Pattern;
use crate::check::program::{TypedExpr, TypedExprKind, Value};
use crate::check::types::Type;
use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast::{BinaryOp, UnaryOp};

use super::quote;
use super::regex::java_pattern;

/// Where an expression reads its inputs.
pub enum Scope<'a> {
    /// A generator body: `seq` is this column.
    Generator { seq_column: &'a str },
    /// An operator: field `i` is the column named `fields[i]`.
    Record { fields: Vec<String> },
    /// Two relations side by side (a join): field `i` is the column
    /// `fields[i].1` of the relation named `fields[i].0` in the query.
    Qualified { fields: Vec<(&'static str, String)> },
}

pub struct Translator<'a> {
    pub scope: Scope<'a>,
    /// What could not be translated.
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Translator<'a> {
    pub fn new(scope: Scope<'a>) -> Translator<'a> {
        Translator { scope, diagnostics: Vec::new() }
    }
}

const NANOS_PER_MILLI: i64 = 1_000_000;

impl Translator<'_> {
    fn refuse(&mut self, span: Span, message: impl Into<String>, label: &str, help: &str) -> String {
        self.diagnostics.push(Diagnostic::error(Code::NoFlinkForm, message).label(span, label).help(help));
        "NULL".to_string()
    }

    /// A value-producing expression of any type but duration.
    pub fn value(&mut self, expr: &TypedExpr) -> String {
        match expr.ty {
            Type::Duration => self.refuse(
                expr.span,
                "a duration value has no Flink SQL form",
                "a duration",
                "Flink has no duration type that reads and writes like flowc's (`250ms`); \
                 export `int(d)` (nanoseconds) instead",
            ),
            Type::Timestamp => self.timestamp(expr),
            _ => self.sql(expr),
        }
    }

    /// A timestamp: a column as it is; anything computed, from milliseconds.
    fn timestamp(&mut self, expr: &TypedExpr) -> String {
        match &expr.kind {
            TypedExprKind::Field(_) => self.sql(expr),
            TypedExprKind::If { condition, then, otherwise } => {
                let (condition, then, otherwise) =
                    (self.sql(condition), self.timestamp(then), self.timestamp(otherwise));
                format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END")
            }
            _ => format!("TO_TIMESTAMP_LTZ({}, 3)", self.millis(expr)),
        }
    }

    /// A timestamp or duration as milliseconds (since the epoch), a BIGINT.
    fn millis(&mut self, expr: &TypedExpr) -> String {
        match &expr.kind {
            TypedExprKind::Literal(Value::Timestamp(nanos) | Value::Duration(nanos)) => {
                if nanos % NANOS_PER_MILLI != 0 {
                    return self.refuse(
                        expr.span,
                        "Flink keeps time in milliseconds; this is finer",
                        "not a whole number of milliseconds",
                        "Flink's time attributes are TIMESTAMP_LTZ(3): use whole milliseconds (`1ms`, not `50us`)",
                    );
                }
                bigint(nanos / NANOS_PER_MILLI)
            }
            TypedExprKind::Binary { op: op @ (BinaryOp::Add | BinaryOp::Sub), lhs, rhs } => {
                format!("({} {} {})", self.millis(lhs), op.symbol(), self.millis(rhs))
            }
            TypedExprKind::Binary { op: BinaryOp::Mul, lhs, rhs } => {
                let (duration, count) = if lhs.ty == Type::Duration { (lhs, rhs) } else { (rhs, lhs) };
                format!("({} * {})", self.millis(duration), self.arithmetic_operand(count))
            }
            TypedExprKind::Unary { op: UnaryOp::Neg, operand } => format!("(-{})", self.millis(operand)),
            _ => self.refuse(
                expr.span,
                "this time arithmetic has no faithful Flink SQL form",
                "computed time",
                "the export translates `epoch + n * 1ms`-style sums of constant durations, \
                 and timestamp fields as they are",
            ),
        }
    }

    /// An int literal in arithmetic: cast, so that Flink does not do the
    /// arithmetic in 32-bit INTs.
    fn arithmetic_operand(&mut self, expr: &TypedExpr) -> String {
        match &expr.kind {
            TypedExprKind::Literal(Value::Int(n)) => bigint(*n),
            _ => self.sql(expr),
        }
    }

    pub fn sql(&mut self, expr: &TypedExpr) -> String {
        match &expr.kind {
            TypedExprKind::Literal(value) => self.literal(value, expr.span),
            TypedExprKind::Field(index) => match &self.scope {
                Scope::Record { fields } => quote(&fields[*index]),
                Scope::Qualified { fields } => format!("{}.{}", quote(fields[*index].0), quote(&fields[*index].1)),
                Scope::Generator { .. } => unreachable!("check rejects fields in generator bodies"),
            },
            TypedExprKind::Seq => match &self.scope {
                Scope::Generator { seq_column } => quote(seq_column),
                Scope::Record { .. } | Scope::Qualified { .. } => {
                    unreachable!("check rejects `seq` outside generator bodies")
                }
            },
            TypedExprKind::Unary { op: UnaryOp::Not, operand } => format!("(NOT {})", self.sql(operand)),
            TypedExprKind::Unary { op: UnaryOp::Neg, operand } => match operand.ty {
                Type::Duration | Type::Timestamp => self.value(expr),
                _ => format!("(-{})", self.arithmetic_operand(operand)),
            },
            TypedExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, expr),
            TypedExprKind::If { condition, then, otherwise } => {
                let condition = self.sql(condition);
                let (then, otherwise) = (self.branch(then), self.branch(otherwise));
                format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END")
            }
            TypedExprKind::Call { function, args } => self.call(*function, args, expr),
            TypedExprKind::Pattern(pattern) => self.pattern(pattern, expr.span),
        }
    }

    /// A pattern argument: a time format as written (each of its letter
    /// runs means in Java what it means in flowc); a regular expression
    /// written anew in Java's dialect (`regex.rs`).
    fn pattern(&mut self, pattern: &Pattern, span: Span) -> String {
        match pattern {
            Pattern::Time(format) => string_literal(format.source()),
            Pattern::Regex(regex) => match java_pattern(regex.hir()) {
                Ok(java) => string_literal(&java),
                Err(why) => self.refuse(
                    span,
                    "this regular expression has no Java form",
                    "this pattern",
                    &format!("Flink matches Java's regular expressions, and this is {why}"),
                ),
            },
        }
    }

    fn branch(&mut self, expr: &TypedExpr) -> String {
        match expr.ty {
            Type::Timestamp => self.timestamp(expr),
            _ => self.arithmetic_operand(expr),
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &TypedExpr, rhs: &TypedExpr, whole: &TypedExpr) -> String {
        if whole.ty == Type::Timestamp || whole.ty == Type::Duration {
            return self.value(whole);
        }
        let time = |e: &TypedExpr| e.ty == Type::Timestamp || e.ty == Type::Duration;
        if op.is_comparison() && (time(lhs) || time(rhs)) {
            if lhs.ty == Type::Duration {
                return self.value(lhs);
            }
            let (l, r) = (self.timestamp(lhs), self.timestamp(rhs));
            return format!("({l} {} {r})", comparison(op));
        }
        if time(lhs) || time(rhs) {
            // `duration / duration` is an int, but of durations.
            return self.refuse(
                whole.span,
                "arithmetic on durations has no faithful Flink SQL form",
                "durations",
                "Flink has no duration values; compute with ints of nanoseconds (`int(d)`)",
            );
        }
        match op {
            BinaryOp::And | BinaryOp::Or => {
                format!("({} {} {})", self.sql(lhs), if op == BinaryOp::And { "AND" } else { "OR" }, self.sql(rhs))
            }
            _ if op.is_comparison() => format!("({} {} {})", self.sql(lhs), comparison(op), self.sql(rhs)),
            BinaryOp::Concat => format!("({} || {})", self.sql(lhs), self.sql(rhs)),
            BinaryOp::Rem => format!("MOD({}, {})", self.arithmetic_operand(lhs), self.arithmetic_operand(rhs)),
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => {
                let (l, r) = (self.arithmetic_operand(lhs), self.arithmetic_operand(rhs));
                format!("({l} {} {r})", op.symbol())
            }
            _ => unreachable!("every operator is handled above"),
        }
    }

    fn literal(&mut self, value: &Value, span: Span) -> String {
        match value {
            Value::Int(n) => n.to_string(),
            Value::Float(x) if x.is_finite() => {
                // A DOUBLE literal: Flink reads `1.5` as a DECIMAL.
                format!("CAST({} AS DOUBLE)", crate::compile::builtins::format_float(*x))
            }
            Value::Float(x) => format!(
                "CAST('{}' AS DOUBLE)",
                if x.is_nan() {
                    "NaN"
                } else if *x > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                }
            ),
            Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            Value::Str(s) => string_literal(s),
            Value::Timestamp(_) | Value::Duration(_) => self.refuse(
                span,
                "a time constant alone has no Flink SQL form here",
                "a time constant",
                "use it in generator arithmetic (`epoch + seq * 1ms`) or a window",
            ),
        }
    }

    fn call(&mut self, function: Function, args: &[TypedExpr], whole: &TypedExpr) -> String {
        let no_form = |this: &mut Self, why: &str| {
            this.refuse(whole.span, format!("`{}` has no faithful Flink SQL form", function.name()), "here", why)
        };
        match (function, args) {
            (Function::Float, [x]) => format!("CAST({} AS DOUBLE)", self.sql(x)),
            (Function::Int, [x]) => match x.ty {
                Type::Bool => format!("CASE WHEN {} THEN {} ELSE {} END", self.sql(x), bigint(1), bigint(0)),
                Type::Timestamp | Type::Duration => {
                    no_form(self, "Flink keeps time in milliseconds, so nanoseconds would not be exact")
                }
                _ => format!("CAST({} AS BIGINT)", self.sql(x)),
            },
            (Function::Str, [x]) => match x.ty {
                Type::String => self.sql(x),
                Type::Int => format!("CAST({} AS STRING)", self.sql(x)),
                Type::Bool => format!("CASE WHEN {} THEN 'true' ELSE 'false' END", self.sql(x)),
                _ => no_form(
                    self,
                    "Flink writes floats and times as text in other forms than flowc (`1.0E7`, not `10000000.0`)",
                ),
            },
            (Function::Abs, [x]) if x.ty != Type::Duration => format!("ABS({})", self.arithmetic_operand(x)),
            // Flink's ROUND rounds a DOUBLE's shortest decimal half away
            // from zero (BigDecimal, HALF_UP), as flowc's does; its places
            // are an INT.
            (Function::Round, [x]) => format!("ROUND({})", self.arithmetic_operand(x)),
            (Function::Round, [x, digits]) => {
                let constant = match &digits.kind {
                    TypedExprKind::Literal(Value::Int(n)) => Some(*n),
                    TypedExprKind::Unary { op: UnaryOp::Neg, operand } => match operand.kind {
                        TypedExprKind::Literal(Value::Int(n)) => n.checked_neg(),
                        _ => None,
                    },
                    _ => None,
                };
                let digits = match constant.filter(|n| i32::try_from(*n).is_ok()) {
                    Some(n) => n.to_string(),
                    None => format!("CAST({} AS INT)", self.sql(digits)),
                };
                format!("ROUND({}, {digits})", self.arithmetic_operand(x))
            }
            (Function::Min | Function::Max, [a, b]) if a.ty != Type::Duration && a.ty != Type::Timestamp => {
                let name = if function == Function::Min { "LEAST" } else { "GREATEST" };
                format!("{name}({}, {})", self.arithmetic_operand(a), self.arithmetic_operand(b))
            }
            (Function::Len, [s]) => format!("CAST(CHAR_LENGTH({}) AS BIGINT)", self.sql(s)),
            (Function::Lower, [s]) => format!("LOWER({})", self.sql(s)),
            (Function::Upper, [s]) => format!("UPPER({})", self.sql(s)),
            (Function::Contains, [s, t]) => format!("(POSITION({} IN {}) > 0)", self.sql(t), self.sql(s)),
            (Function::StartsWith, [s, t]) => {
                let (s, t) = (self.sql(s), self.sql(t));
                format!("(SUBSTRING({s} FROM 1 FOR CHAR_LENGTH({t})) = {t})")
            }
            (Function::EndsWith, [s, t]) => {
                let (s, t) = (self.sql(s), self.sql(t));
                format!("(CHAR_LENGTH({s}) >= CHAR_LENGTH({t}) AND SUBSTRING({s} FROM CHAR_LENGTH({s}) - CHAR_LENGTH({t}) + 1) = {t})")
            }
            // flowc has no NULL: where Flink's SPLIT_INDEX gives NULL (no
            // such part), flowc's part is ''; an INDEX is an INT there.
            (Function::SplitIndex, [s, separator, index]) => {
                let (s, separator_sql) = (self.sql(s), self.sql(separator));
                let index_sql = self.sql(index);
                let split = match index.constant_int().filter(|n| (0..=i64::from(i32::MAX)).contains(n)) {
                    Some(n) => format!("COALESCE(SPLIT_INDEX({s}, {separator_sql}, {n}), '')"),
                    None => format!(
                        "CASE WHEN {index_sql} BETWEEN 0 AND {} \
                         THEN COALESCE(SPLIT_INDEX({s}, {separator_sql}, CAST({index_sql} AS INT)), '') ELSE '' END",
                        i32::MAX
                    ),
                };
                if is_nonempty_string(separator) {
                    split
                } else {
                    // Flink splits at white space where flowc's empty
                    // separator cuts nothing.
                    format!(
                        "CASE WHEN {separator_sql} = '' THEN CASE WHEN {index_sql} = 0 THEN {s} ELSE '' END ELSE {split} END"
                    )
                }
            }
            (Function::RegexpExtract, [s, pattern, group]) => {
                let groups = match &pattern.kind {
                    TypedExprKind::Pattern(Pattern::Regex(regex)) => regex.groups(),
                    _ => unreachable!("check parses the pattern of `regexp_extract`"),
                };
                let (s, pattern) = (self.sql(s), self.sql(pattern));
                // `check` has refused a constant group the pattern lacks.
                match group.constant_int() {
                    Some(n) => format!("COALESCE(REGEXP_EXTRACT({s}, {pattern}, {n}), '')"),
                    None => {
                        let group = self.sql(group);
                        format!(
                            "CASE WHEN {group} BETWEEN 0 AND {groups} \
                             THEN COALESCE(REGEXP_EXTRACT({s}, {pattern}, CAST({group} AS INT)), '') ELSE '' END"
                        )
                    }
                }
            }
            (Function::Matches, [s, pattern]) => format!("REGEXP({}, {})", self.sql(s), self.sql(pattern)),
            // What REPLACE takes away, over the length of one: a length of
            // characters or of UTF-16 units alike, since both sides count
            // the same way. An empty part occurs 0 times in flowc.
            (Function::Occurrences, [s, part]) => {
                let (s, part_sql) = (self.sql(s), self.sql(part));
                let removed = format!("CHAR_LENGTH({s}) - CHAR_LENGTH(REPLACE({s}, {part_sql}, ''))");
                let one_unit =
                    matches!(&part.kind, TypedExprKind::Literal(Value::Str(text)) if text.encode_utf16().count() == 1);
                let count = if one_unit {
                    format!("CAST({removed} AS BIGINT)")
                } else {
                    format!("CAST(({removed}) / CHAR_LENGTH({part_sql}) AS BIGINT)")
                };
                if is_nonempty_string(part) {
                    count
                } else {
                    format!("CASE WHEN {part_sql} = '' THEN {} ELSE {count} END", bigint(0))
                }
            }
            // Flink's HOUR and MINUTE count back from 1970 into negative
            // hours (HOUR of 1969-12-31T21:59:59.999Z is -2); DATE_FORMAT
            // gives the calendar's, as flowc does.
            (Function::Hour | Function::Minute, [t]) => {
                let field = if function == Function::Hour { "HH" } else { "mm" };
                format!("CAST(DATE_FORMAT({}, '{field}') AS BIGINT)", self.timestamp(t))
            }
            (Function::FormatTime, [t, format]) => format!("DATE_FORMAT({}, {})", self.timestamp(t), self.sql(format)),
            (Function::Hash, _) => {
                no_form(self, "flowc's hash is its own 64-bit mix; Flink has no function that gives the same numbers")
            }
            (Function::Random, _) => {
                no_form(self, "flowc's random(x) is a fixed function of x; Flink's RAND differs on every run")
            }
            _ => no_form(self, "durations and timestamps have no Flink SQL form here"),
        }
    }
}

fn is_nonempty_string(expr: &TypedExpr) -> bool {
    matches!(&expr.kind, TypedExprKind::Literal(Value::Str(text)) if !text.is_empty())
}

fn comparison(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Eq => "=",
        BinaryOp::Ne => "<>",
        other => other.symbol(),
    }
}

/// An int as a Flink BIGINT.
pub fn bigint(n: i64) -> String {
    format!("CAST({n} AS BIGINT)")
}

/// A SQL string literal: quotes doubled; characters SQL cannot hold
/// literally as Unicode escapes.
pub fn string_literal(s: &str) -> String {
    if s.chars().all(|c| !c.is_control()) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut escaped = String::new();
    for c in s.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\'' => escaped.push_str("''"),
            c if c.is_control() || (c as u32) > 0xFFFF => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    escaped.push_str(&format!("\\{unit:04X}"));
                }
            }
            c => escaped.push(c),
        }
    }
    format!("U&'{escaped}'")
}
