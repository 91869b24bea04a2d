//! One check per operator: its arguments, the record it reads, the record
//! it emits, and whether the stream is keyed after it.

use std::sync::Arc;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::ast::{self, ExprKind};

use super::args::{bind, Param};
use super::attributes::{check_attributes, Carrier};
use super::constant::{expect, require_positive, Const, Expected};
use super::expr::{check_expr, expect_type, Scope};
use super::functions::AggregateFunction;
use super::program::{Aggregate, Key, Operator, OperatorKind, Sink, SourceId, WindowKind};
use super::types::{Field, RecordType, Type};

/// The most windows a sliding window may put one record in (`size / every`).
pub const MAX_WINDOWS_PER_RECORD: i64 = 10_000;
use super::Checker;

impl Checker<'_> {
    /// Checks one operator over `input`; returns it with the key the stream
    /// has after it.
    pub(super) fn check_operator(
        &mut self,
        op_use: &ast::OperatorUse,
        input: &Arc<RecordType>,
        key: Option<&Key>,
        feeding: &[SourceId],
    ) -> Option<(Operator, Option<Key>)> {
        let keyword = op_use.operator.keyword();
        let carrier = match op_use.operator {
            ast::Operator::KeyBy(_) | ast::Operator::Rebalance | ast::Operator::Broadcast => {
                Carrier::Partitioning(keyword)
            }
            _ => Carrier::Operator(keyword),
        };
        let errors_before = self.error_count();
        let (attributes, _) = check_attributes(&op_use.attributes, carrier, &mut self.diagnostics);
        let scope = Scope { record: input, in_generator: false };
        // Operators that pass records through unchanged keep the key.
        let mut key_after = key.cloned();
        let (kind, output) = match &op_use.operator {
            ast::Operator::Map(items) => {
                key_after = None;
                self.check_map(items, &scope)?
            }
            ast::Operator::Filter(predicate) => {
                let predicate = check_expr(predicate, &scope, &mut self.diagnostics)
                    .and_then(|p| expect_type(p, Type::Bool, "a filter", &mut self.diagnostics))?;
                (OperatorKind::Filter { predicate }, input.clone())
            }
            ast::Operator::KeyBy(expr) => {
                let typed = check_expr(expr, &scope, &mut self.diagnostics)?;
                let name = match &expr.kind {
                    ExprKind::Name(name) => name.clone(),
                    _ => "key".to_string(),
                };
                let new_key = Key { expr: typed, name, span: expr.span };
                key_after = Some(new_key.clone());
                (OperatorKind::KeyBy { key: new_key }, input.clone())
            }
            ast::Operator::Rebalance | ast::Operator::Broadcast => {
                key_after = None;
                let kind = if matches!(op_use.operator, ast::Operator::Rebalance) {
                    OperatorKind::Rebalance
                } else {
                    OperatorKind::Broadcast
                };
                (kind, input.clone())
            }
            ast::Operator::Window { kind, time_field, aggregates } => {
                key_after = None;
                self.check_window(op_use, kind, time_field, aggregates, input, key, feeding)?
            }
            ast::Operator::Aggregate(aggregates) => {
                key_after = None;
                let key = self.require_key(op_use, key);
                let checked = self.check_aggregates(aggregates, &scope);
                let key = key?;
                let checked = checked?;
                let output = self.output_record(&key, &[], &checked, aggregates)?;
                (OperatorKind::Aggregate { key, aggregates: checked }, output)
            }
            ast::Operator::Throttle(rate) => {
                let Const::Rate(per_second) =
                    expect(rate, Expected::Rate, Code::BadArgument, "`throttle`", &mut self.diagnostics)?
                else {
                    return None;
                };
                require_positive(per_second > 0.0, rate.span, "a throttle rate", &mut self.diagnostics).then_some(())?;
                (OperatorKind::Throttle { per_second }, input.clone())
            }
            ast::Operator::Work(duration) | ast::Operator::Sleep(duration) => {
                let what = format!("`{keyword}`");
                let Const::Duration(nanos) =
                    expect(duration, Expected::Duration, Code::BadArgument, &what, &mut self.diagnostics)?
                else {
                    return None;
                };
                require_positive(nanos > 0, duration.span, &format!("the duration of {what}"), &mut self.diagnostics)
                    .then_some(())?;
                let kind = if keyword == "work" { OperatorKind::Work { nanos } } else { OperatorKind::Sleep { nanos } };
                (kind, input.clone())
            }
            ast::Operator::Sink(_) => unreachable!("sinks are placed by check_stream"),
        };
        if self.error_count() > errors_before {
            return None;
        }
        let operator =
            Operator { kind, input: input.clone(), output, attributes, keyword: op_use.keyword, span: op_use.span };
        Some((operator, key_after))
    }

    pub(super) fn check_sink_use(
        &mut self,
        op_use: &ast::OperatorUse,
        call: &ast::Call,
        input: &Arc<RecordType>,
    ) -> Option<Sink> {
        let (attributes, _) = check_attributes(&op_use.attributes, Carrier::Operator("sink"), &mut self.diagnostics);
        let connector = super::connectors::check_sink(call, &mut self.diagnostics)?;
        Some(Sink { connector, input: input.clone(), attributes, keyword: op_use.keyword, span: op_use.span })
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    fn check_map(&mut self, items: &[ast::MapItem], scope: &Scope<'_>) -> Option<(OperatorKind, Arc<RecordType>)> {
        let mut fields = Vec::new();
        let mut exprs = Vec::new();
        let mut names: Vec<(&str, Span)> = Vec::new();
        let mut ok = true;
        for item in items {
            if let Some((_, previous)) = names.iter().find(|(name, _)| *name == item.name.name) {
                self.diagnostics.push(
                    Diagnostic::error(Code::DuplicateField, format!("`{}` is in the map twice", item.name.name))
                        .label(item.name.span, "again here")
                        .label(*previous, "first here")
                        .help("each output field needs its own name; rename one with `new_name = …`"),
                );
                ok = false;
                continue;
            }
            names.push((&item.name.name, item.name.span));
            let value = match &item.value {
                Some(value) => check_expr(value, scope, &mut self.diagnostics),
                None => check_expr(
                    &ast::Expr { kind: ExprKind::Name(item.name.name.clone()), span: item.name.span },
                    scope,
                    &mut self.diagnostics,
                ),
            };
            match value {
                Some(value) => {
                    fields.push(Field { name: item.name.name.clone(), ty: value.ty });
                    exprs.push(value);
                }
                None => ok = false,
            }
        }
        ok.then(|| (OperatorKind::Map { fields: exprs }, RecordType::new(fields)))
    }

    fn require_key(&mut self, op_use: &ast::OperatorUse, key: Option<&Key>) -> Option<Key> {
        if key.is_none() {
            self.diagnostics.push(
                Diagnostic::error(Code::NotKeyed, format!("`{}` needs a keyed stream", op_use.operator.keyword()))
                    .label(op_use.keyword, "the stream is not keyed here")
                    .help("add `| key_by <field>` before it; `map`, `rebalance`, `broadcast`, windows and unions end a keying"),
            );
        }
        key.cloned()
    }

    #[allow(clippy::too_many_arguments)]
    fn check_window(
        &mut self,
        op_use: &ast::OperatorUse,
        kind: &ast::Call,
        time_field: &ast::Ident,
        aggregates: &[ast::Assignment],
        input: &Arc<RecordType>,
        key: Option<&Key>,
        feeding: &[SourceId],
    ) -> Option<(OperatorKind, Arc<RecordType>)> {
        let key = self.require_key(op_use, key);
        let window_kind = self.check_window_kind(kind);
        let time_index = match input.field_index(&time_field.name) {
            None => {
                self.diagnostics.push(
                    Diagnostic::error(Code::UnknownField, format!("unknown field `{}`", time_field.name))
                        .label(time_field.span, "not a field of this stream")
                        .help(
                            did_you_mean(&time_field.name, input.field_names())
                                .unwrap_or_else(|| format!("the stream's records are {input}")),
                        ),
                );
                None
            }
            Some(index) if input.fields()[index].ty != Type::Timestamp => {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::WindowTimeField,
                        format!(
                            "a window is `on` a timestamp, but `{}` is {}",
                            time_field.name,
                            input.fields()[index].ty.with_article()
                        ),
                    )
                    .label(time_field.span, input.fields()[index].ty.with_article())
                    .help("name a timestamp field, or compute one in a `map` first: `ts = epoch + millis * 1ms`"),
                );
                None
            }
            Some(index) => Some(index),
        };
        let mut all_watermarked = true;
        for source in feeding.iter().map(|id| &self.sources[*id]) {
            if source.watermark.is_none() {
                all_watermarked = false;
                let diagnostic = Diagnostic::error(
                    Code::MissingWatermark,
                    format!("the window reads event time, but source `{}` has no watermark", source.name),
                )
                .label(op_use.keyword, "an event-time window")
                .label(source.name_span, "no `@watermark` on this source")
                .help(format!(
                    "add `@watermark(delay = 0s)` after the body of `{}`; a larger delay waits longer for late records",
                    source.name
                ));
                self.diagnostics.push(diagnostic);
            }
        }
        let scope = Scope { record: input, in_generator: false };
        let checked = self.check_aggregates(aggregates, &scope);
        let (key, window_kind, time_field, checked) = (key?, window_kind?, time_index?, checked?);
        let window_fields = [
            Field { name: "window_start".into(), ty: Type::Timestamp },
            Field { name: "window_end".into(), ty: Type::Timestamp },
        ];
        let output = self.output_record(&key, &window_fields, &checked, aggregates)?;
        // Reported above, source by source; checked last so the output's own
        // problems are still reported.
        all_watermarked.then_some(())?;
        Some((OperatorKind::Window { kind: window_kind, time_field, key, aggregates: checked }, output))
    }

    fn check_window_kind(&mut self, kind: &ast::Call) -> Option<WindowKind> {
        let name = kind.name.name.as_str();
        let (params, usage): (&[Param], &str) = match name {
            "tumbling" => (&[Param::positional("size")], "tumbling(1s)"),
            "sliding" => (&[Param::positional("size"), Param::positional("every")], "sliding(10s, every = 1s)"),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(Code::BadArgument, format!("unknown window `{name}`"))
                        .label(kind.name.span, "not a kind of window")
                        .help(did_you_mean(name, ["tumbling", "sliding"]).unwrap_or_else(|| {
                            "windows are `tumbling(size)` and `sliding(size, every = slide)`".to_string()
                        })),
                );
                return None;
            }
        };
        let bound = bind(&kind.args, params, name, kind.span, usage, &mut self.diagnostics)?;
        let mut duration = |param: &str| -> Option<i64> {
            let expr = bound.get(param).expect("required");
            let what = format!("the window `{param}`");
            let Const::Duration(nanos) =
                expect(expr, Expected::Duration, Code::BadArgument, &what, &mut self.diagnostics)?
            else {
                return None;
            };
            require_positive(nanos > 0, expr.span, &what, &mut self.diagnostics).then_some(nanos)
        };
        let size_nanos = duration("size");
        if name == "tumbling" {
            return Some(WindowKind::Tumbling { size_nanos: size_nanos? });
        }
        let (size_nanos, slide_nanos) = (size_nanos?, duration("every")?);
        // Each record is counted into size / every windows; past a bound the
        // state and the work per record explode (1d every 1ms is 86 million
        // windows per record).
        let windows_per_record = (size_nanos as u64).div_ceil(slide_nanos as u64) as i64;
        if windows_per_record > MAX_WINDOWS_PER_RECORD {
            let units = super::units::format_duration;
            self.diagnostics.push(
                Diagnostic::error(
                    Code::TooManyWindows,
                    format!(
                        "every record would belong to {} windows; flowc allows at most {}",
                        super::units::format_count(windows_per_record as u64),
                        super::units::format_count(MAX_WINDOWS_PER_RECORD as u64)
                    ),
                )
                .label(kind.span, format!("{} / {} windows per record", units(size_nanos), units(slide_nanos)))
                .help(format!(
                    "slide by at least {} (`every = …`), or use a shorter window",
                    units((size_nanos as u64).div_ceil(MAX_WINDOWS_PER_RECORD as u64) as i64)
                )),
            );
            return None;
        }
        Some(WindowKind::Sliding { size_nanos, slide_nanos })
    }

    fn check_aggregates(&mut self, assignments: &[ast::Assignment], scope: &Scope<'_>) -> Option<Vec<Aggregate>> {
        let mut aggregates = Vec::new();
        let mut ok = true;
        for assignment in assignments {
            match self.check_aggregate(&assignment.value, scope) {
                Some(aggregate) => aggregates.push(aggregate),
                None => ok = false,
            }
        }
        ok.then_some(aggregates)
    }

    fn check_aggregate(&mut self, value: &ast::Expr, scope: &Scope<'_>) -> Option<Aggregate> {
        let call = match &value.kind {
            ExprKind::Call { function, args } => {
                AggregateFunction::from_name(&function.name).map(|f| (f, function, args))
            }
            ExprKind::Error => return None,
            _ => None,
        };
        let Some((function, name, args)) = call else {
            self.diagnostics.push(
                Diagnostic::error(Code::NotAnAggregate, "each entry here is one aggregate call")
                    .label(value.span, "not an aggregate call")
                    .help("write `n = count()`, `total = sum(x)`, `low = min(x)`, `high = max(x)` or `mean = avg(x)`; compute with the results in a `map` afterwards"),
            );
            return None;
        };
        let wanted = usize::from(function.takes_argument());
        if args.len() != wanted {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::WrongArity,
                    format!(
                        "the aggregate `{}` takes {wanted} argument{}, not {}",
                        name.name,
                        if wanted == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .label(value.span, "wrong number of arguments")
                .help(format!("it is `{}`", function.signature())),
            );
            return None;
        }
        let arg = match args.first() {
            Some(arg) => Some(check_expr(arg, scope, &mut self.diagnostics)?),
            None => None,
        };
        let Some(ty) = function.result_type(arg.as_ref().map(|a| a.ty)) else {
            let arg_ty = arg.as_ref().map_or("nothing".to_string(), |a| a.ty.with_article());
            self.diagnostics.push(
                Diagnostic::error(Code::TypeMismatch, format!("`{}` does not take {arg_ty}", name.name))
                    .label(value.span, format!("called with {arg_ty}"))
                    .help(format!("it is `{}`", function.signature())),
            );
            return None;
        };
        Some(Aggregate { function, arg, ty, span: value.span })
    }

    /// `key, extra…, aggregates…`, refusing an aggregate named like another field.
    fn output_record(
        &mut self,
        key: &Key,
        extra: &[Field],
        aggregates: &[Aggregate],
        assignments: &[ast::Assignment],
    ) -> Option<Arc<RecordType>> {
        if let Some(clash) = extra.iter().find(|field| field.name == key.name) {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateField,
                    format!("the key is named `{}`, like a field the window adds", clash.name),
                )
                .label(key.span, "the key")
                .help(format!("rename it before `key_by`, with a `map`: `{}_key = {}`", clash.name, clash.name)),
            );
            return None;
        }
        let mut fields = vec![Field { name: key.name.clone(), ty: key.expr.ty }];
        fields.extend_from_slice(extra);
        let mut ok = true;
        for (aggregate, assignment) in aggregates.iter().zip(assignments) {
            if fields.iter().any(|field| field.name == assignment.name.name) {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateField,
                        format!("the output already has a field `{}`", assignment.name.name),
                    )
                    .label(assignment.name.span, "named like another output field")
                    .help(format!(
                        "the output holds the key `{}`{}, then the aggregates: rename this one",
                        key.name,
                        extra.iter().map(|f| format!(", `{}`", f.name)).collect::<String>()
                    )),
                );
                ok = false;
                continue;
            }
            fields.push(Field { name: assignment.name.name.clone(), ty: aggregate.ty });
        }
        ok.then(|| RecordType::new(fields))
    }
}
