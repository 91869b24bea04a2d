//! `aggregate { n = count(), … }`: each key's running aggregates, emitted with
//! every record. Also the aggregate bodies windows share.

use std::sync::Arc;

use crate::diag::{Code, Diagnostic};
use crate::syntax::ast::{self, ExprKind};

use super::super::expr::{check_expr, expect_type, Scope};
use super::super::functions::AggregateFunction;
use super::super::program::{Aggregate, Key, OperatorKind, TypedExpr};
use super::super::types::{Field, RecordType, Type};
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "aggregate",
    summary: "keeps each key's running aggregates and emits them with every record",
    inputs: 1,
    records: Records::New,
    keys: KeyUse::Needs,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::Keys,
    flink: FlinkForm::Translates,
};

impl Checker<'_> {
    pub(super) fn check_aggregate_operator(
        &mut self,
        op_use: &ast::OperatorUse,
        aggregates: &[ast::Assignment],
        input: &Arc<RecordType>,
        key: Option<&Key>,
    ) -> Checked {
        let scope = Scope { record: input, in_generator: false };
        let key = self.require_key(op_use, key);
        let checked = self.check_aggregates(aggregates, &scope);
        let key = key?;
        let checked = checked?;
        let output = self.output_record(&key, &[], &checked, aggregates)?;
        Some((OperatorKind::Aggregate { key, aggregates: checked }, output))
    }

    pub(super) fn check_aggregates(
        &mut self,
        assignments: &[ast::Assignment],
        scope: &Scope<'_>,
    ) -> Option<Vec<Aggregate>> {
        let mut aggregates = Vec::new();
        let mut ok = true;
        for assignment in assignments {
            match self.check_aggregate(assignment, scope) {
                Some(aggregate) => aggregates.push(aggregate),
                None => ok = false,
            }
        }
        ok.then_some(aggregates)
    }

    fn check_aggregate(&mut self, assignment: &ast::Assignment, scope: &Scope<'_>) -> Option<Aggregate> {
        let value = &assignment.value;
        let call = self.check_aggregate_call(value, scope);
        let filter =
            match &assignment.condition {
                Some(condition) => Some(check_expr(condition, scope, &mut self.diagnostics).and_then(|typed| {
                    expect_type(typed, Type::Bool, "an aggregate's `where`", &mut self.diagnostics)
                })?),
                None => None,
            };
        let (function, arg, ty) = call?;
        Some(Aggregate { function, arg, filter, ty, span: value.span })
    }

    fn check_aggregate_call(
        &mut self,
        value: &ast::Expr,
        scope: &Scope<'_>,
    ) -> Option<(AggregateFunction, Option<TypedExpr>, Type)> {
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
                    .help("write `n = count()`, `total = sum(x)`, `low = min(x)`, `high = max(x)`, `mean = avg(x)` or `users = count_distinct(user)`; compute with the results in a `map` afterwards"),
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
        Some((function, arg, ty))
    }

    /// `key, extra…, aggregates…`, refusing an aggregate named like another field.
    pub(super) fn output_record(
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
