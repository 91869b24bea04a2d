//! `join [left] (right | key_by k) [interval(lower, upper) on ts, right_ts |
//! window tumbling(…) on ts, right_ts] [where condition]`: matches the records of two keyed
//! streams that have equal keys — within a time interval of each other, in
//! the same window, or (with no time condition) always.
//!
//! The output is the left record's fields, then the right record's (a window
//! join puts `window_start, window_end` first), and `join left` adds
//! `matched`. A field name on both sides is an error, never a silent rename.

use std::sync::Arc;

use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast;

use super::super::constant::{expect, Const, Expected};
use super::super::expr::{check_expr, expect_type, Scope};
use super::super::program::{sources_feeding_stream, Join, JoinTime, Key, OperatorKind, SourceId};
use super::super::streams::Context;
use super::super::types::{Field, RecordType, Type};
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "join",
    summary: "matches the records of two keyed streams with equal keys, in a time interval, a window, or always",
    inputs: 2,
    records: Records::New,
    keys: KeyUse::Needs,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::JoinRows,
    flink: FlinkForm::Translates,
};

/// The field a left join adds: whether a right record matched.
pub const MATCHED: &str = "matched";

impl Checker<'_> {
    pub(super) fn check_join(
        &mut self,
        op_use: &ast::OperatorUse,
        join: &ast::Join,
        left: &Arc<RecordType>,
        left_key: Option<&Key>,
        feeding: &mut Vec<SourceId>,
    ) -> Checked {
        let left_key = self.require_key(op_use, left_key);
        let (right, _) = self.check_stream(&join.right, Context::JoinInput)?;
        let right_feeding = sources_feeding_stream(&self.lets, &right);
        let right_key = self.right_key(&right, &join.right);
        let (left_key, right_key) = (left_key?, right_key?);
        if left_key.expr.ty != right_key.expr.ty {
            self.diagnostics.push(
                Diagnostic::error(Code::TypeMismatch, "the two sides of a join have keys of different types")
                    .label(left_key.span, format!("{} key", left_key.expr.ty.with_article()))
                    .label(right_key.span, format!("{} key", right_key.expr.ty.with_article()))
                    .help("records meet when their keys are equal; convert one key, for example `key_by str(id)`"),
            );
            return None;
        }
        if left_key.expr.ty == Type::Float {
            self.diagnostics.push(
                Diagnostic::error(Code::TypeMismatch, "a join key cannot be a float")
                    .label(left_key.span, "a float key")
                    .label(right_key.span, "a float key")
                    .help("floats that print alike may differ in their last bits, and NaN equals nothing: key both sides by an int or a string, such as `key_by int(price * 100.0)`"),
            );
            return None;
        }
        let time = self.join_time(op_use, join, left, &right.record, feeding, &right_feeding);
        feeding.extend(right_feeding);
        feeding.sort_unstable();
        feeding.dedup();
        let (time, time_fields) = time?;
        // The time fields a bound would name, for the help below.
        let first_time = |record: &RecordType| {
            record.fields().iter().find(|f| f.ty == Type::Timestamp).map_or("ts".to_string(), |f| f.name.clone())
        };
        let on = format!("on {}, {}", first_time(left), first_time(&right.record));
        if matches!(time, JoinTime::Unbounded) {
            if join.left {
                self.diagnostics.push(
                    Diagnostic::error(Code::BadArgument, "`join left` needs a time condition")
                        .label(op_use.keyword, "a left join without `interval` or `window`")
                        .help(format!("a left record can only be emitted unmatched once no match can come: bound the join with `interval(lower, upper) {on}` or `window tumbling(size) {on}`")),
                );
                return None;
            }
            self.diagnostics.push(
                Diagnostic::warning(Code::UnboundedState, "this join keeps every record of both streams in memory")
                    .label(op_use.keyword, "a join without a time condition")
                    .help(format!("if matches are close in time, bound it so that state is dropped as time passes: `interval(-5m, 5m) {on}` or `window tumbling(1m) {on}`; the run summary shows the join's state")),
            );
        }
        let pair = self.joined_fields(left, &right.record, &join.right, op_use.keyword, "join")?;
        let residual = match &join.residual {
            Some(condition) => Some(self.residual(condition, &pair)?),
            None => None,
        };
        let mut fields = Vec::new();
        if let JoinTime::Window(_) = time {
            fields.push(Field { name: "window_start".into(), ty: Type::Timestamp });
            fields.push(Field { name: "window_end".into(), ty: Type::Timestamp });
        }
        fields.extend_from_slice(pair.fields());
        if join.left {
            fields.push(Field { name: MATCHED.into(), ty: Type::Bool });
        }
        let output = self.unique_output(fields, op_use.keyword, join.left)?;
        let kind = OperatorKind::Join(Box::new(Join {
            time,
            outer: join.left,
            right,
            left_key,
            right_key,
            time_fields,
            residual,
            left: left.clone(),
        }));
        Some((kind, output))
    }

    /// The key of the stream in brackets, which must be keyed.
    fn right_key(&mut self, right: &super::super::program::Stream, written: &ast::Stream) -> Option<Key> {
        if right.key.is_none() {
            let head = match &written.head {
                ast::StreamHead::Named(name) => name.name.clone(),
                ast::StreamHead::Union { .. } => "union(…)".to_string(),
            };
            self.diagnostics.push(
                Diagnostic::error(Code::NotKeyed, "the stream a join reads must be keyed")
                    .label(written.span, "not keyed")
                    .help(format!(
                        "key it by the field that matches the left key, inside the brackets: `({head} | key_by <field>)`"
                    )),
            );
        }
        right.key.clone()
    }

    /// The join's time condition and the time fields of both sides.
    #[allow(clippy::too_many_arguments)]
    fn join_time(
        &mut self,
        op_use: &ast::OperatorUse,
        join: &ast::Join,
        left: &Arc<RecordType>,
        right: &Arc<RecordType>,
        left_feeding: &[SourceId],
        right_feeding: &[SourceId],
    ) -> Option<(JoinTime, Option<(usize, usize)>)> {
        let Some(time) = &join.time else { return Some((JoinTime::Unbounded, None)) };
        let kind = match &time.kind {
            ast::JoinTimeKind::Interval { bounds, span } => self.interval(bounds, *span),
            ast::JoinTimeKind::Window(call) => {
                self.check_window_kind(call, &super::window::WINDOW_KINDS[..2]).map(JoinTime::Window)
            }
            ast::JoinTimeKind::Missing => {
                self.diagnostics.push(
                    Diagnostic::error(Code::MissingArgument, "`on` names a join's time, but no time condition says how close")
                        .label(time.span, "a time with no interval or window")
                        .help(format!(
                            "say how records meet in time: `interval(0s, 10m) on {0}`, or `window tumbling(1m) on {0}`; a join on keys alone needs no `on`: the keys come from the `key_by`s",
                            time_names(time)
                        )),
                );
                None
            }
        };
        let left_field = self.time_field(&time.left_field, left, "a join");
        let right_field = match &time.right_field {
            Some(right_name) => self.time_field(right_name, right, "a join"),
            // The two sides cannot share a field name, so one name cannot
            // stand for both times.
            None => {
                let times: Vec<String> = right
                    .fields()
                    .iter()
                    .filter(|field| field.ty == Type::Timestamp)
                    .map(|field| format!("`on {}, {}`", time.left_field.name, field.name))
                    .collect();
                self.diagnostics.push(
                    Diagnostic::error(Code::MissingArgument, "a timed join names the time of each side")
                        .label(time.left_field.span, "the left stream's time; the right's is missing")
                        .help(match times.is_empty() {
                            true => format!("the right stream has no timestamp: its records are {right}"),
                            false => format!(
                                "name the right stream's time after a comma: {} (the two sides' fields need different names)",
                                times.join(" or ")
                            ),
                        }),
                );
                None
            }
        };
        let mut watermarked = self.require_watermarks(op_use.keyword, left_feeding, "the join", "an event-time join");
        watermarked &= self.require_watermarks(op_use.keyword, right_feeding, "the join", "an event-time join");
        let (kind, left_field, right_field) = (kind?, left_field?, right_field?);
        watermarked.then_some((kind, Some((left_field, right_field))))
    }

    /// `interval(lower, upper)`: two durations, the lower not above the upper.
    fn interval(&mut self, bounds: &[ast::Expr], span: Span) -> Option<JoinTime> {
        if bounds.len() != 2 {
            self.diagnostics.push(
                Diagnostic::error(Code::WrongArity, format!("`interval` takes two bounds, not {}", bounds.len()))
                    .label(span, "a lower and an upper bound")
                    .help("a right record matches when its time lies in [left time + lower, left time + upper]: `interval(0s, 10s)`, `interval(-5m, 5m)`"),
            );
            return None;
        }
        let mut duration = |expr: &ast::Expr, what: &str| -> Option<i64> {
            match expect(expr, Expected::Duration, Code::BadArgument, what, &mut self.diagnostics)? {
                Const::Duration(nanos) => Some(nanos),
                _ => None,
            }
        };
        let lower = duration(&bounds[0], "the lower bound of `interval`");
        let upper = duration(&bounds[1], "the upper bound of `interval`");
        let (lower, upper) = (lower?, upper?);
        if lower > upper {
            self.diagnostics.push(
                Diagnostic::error(Code::BadArgument, "the lower bound of `interval` is above the upper bound")
                    .label(bounds[0].span, "lower")
                    .label(bounds[1].span, "upper")
                    .help("no record could ever match; swap them, or use a negative lower bound for matches before the left record: `interval(-10s, 0s)`"),
            );
            return None;
        }
        Some(JoinTime::Interval { lower, upper })
    }

    /// The left fields, then the right fields; a name on both sides is an error.
    pub(super) fn joined_fields(
        &mut self,
        left: &Arc<RecordType>,
        right: &Arc<RecordType>,
        right_written: &ast::Stream,
        at: Span,
        what: &str,
    ) -> Option<Arc<RecordType>> {
        let clashes: Vec<&str> =
            right.fields().iter().map(|f| f.name.as_str()).filter(|name| left.field_index(name).is_some()).collect();
        if let Some(first) = clashes.first() {
            let list = clashes.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
            // A table cannot be changed in the file, so a lookup renames the stream's fields.
            let (side, prefix, renamed_in) = if what == "lookup" {
                (left, "input", "the stream before the lookup")
            } else {
                (right, "right", "the right stream")
            };
            let kept: Vec<String> = side
                .fields()
                .iter()
                .map(|f| match clashes.contains(&f.name.as_str()) {
                    true => format!("{prefix}_{0} = {0}", f.name),
                    false => f.name.clone(),
                })
                .collect();
            self.diagnostics.push(
                Diagnostic::error(
                    Code::JoinFieldClash,
                    format!(
                        "both sides of the {what} have {} {list}",
                        if clashes.len() == 1 { "a field" } else { "fields" }
                    ),
                )
                .label(at, format!("the output would hold `{first}` twice"))
                .label(right_written.span, format!("records {right}"))
                .help(format!(
                    "the output holds the fields of both sides, each name once; rename in {renamed_in}, for example with `| map {{ {} }}`{}",
                    kept.join(", "),
                    if what == "join" { ", and key it by the new names" } else { "" }
                )),
            );
            return None;
        }
        let mut fields = left.fields().to_vec();
        fields.extend_from_slice(right.fields());
        Some(RecordType::new(fields))
    }

    /// A `where` condition over the joined fields of both sides.
    pub(super) fn residual(
        &mut self,
        condition: &ast::Expr,
        pair: &Arc<RecordType>,
    ) -> Option<super::super::program::TypedExpr> {
        let scope = Scope { record: pair, in_generator: false };
        check_expr(condition, &scope, &mut self.diagnostics)
            .and_then(|typed| expect_type(typed, Type::Bool, "a join's `where`", &mut self.diagnostics))
    }

    /// The output, refusing the fields a join adds when a side has them too.
    pub(super) fn unique_output(&mut self, fields: Vec<Field>, at: Span, outer: bool) -> Option<Arc<RecordType>> {
        let mut seen: Vec<&str> = Vec::new();
        for field in &fields {
            if seen.contains(&field.name.as_str()) {
                let added = if outer && field.name == MATCHED {
                    "`join left` and `lookup left` add"
                } else {
                    "a window join adds"
                };
                self.diagnostics.push(
                    Diagnostic::error(Code::JoinFieldClash, format!("the output already has a field `{}`", field.name))
                        .label(at, format!("{added} `{}`", field.name))
                        .help(format!("rename the input's `{}` with a `map` before it", field.name)),
                );
                return None;
            }
            seen.push(&field.name);
        }
        Some(RecordType::new(fields))
    }
}

/// `ts` or `ts, paid_at`, as written after `on`.
fn time_names(time: &ast::JoinTime) -> String {
    match &time.right_field {
        Some(right) => format!("{}, {}", time.left_field.name, right.name),
        None => time.left_field.name.clone(),
    }
}
