//! `top 10 by price desc`: each key's first records in an order (Top-N),
//! kept as they arrive and emitted as each rank changes; `top 1 by ts desc`
//! keeps each key's latest record.

use std::sync::Arc;

use crate::diag::{Code, Diagnostic};
use crate::syntax::ast;

use super::super::constant::{expect, require_positive, Const, Expected};
use super::super::expr::{check_expr, Scope};
use super::super::program::{Key, OperatorKind, SortKey};
use super::super::types::{Field, RecordType, Type};
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

/// The most records a `top` keeps per key: each arrival may move them all
/// down a rank, and each move is a record out.
pub const MAX_TOP: i64 = 10_000;

/// The field a `top` adds: the record's place in its key's order, from 1.
pub const RANK: &str = "rank";

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "top",
    summary: "keeps each key's first records in an order and emits each rank as it changes",
    inputs: 1,
    records: Records::New,
    keys: KeyUse::Needs,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::TopRecords,
    flink: FlinkForm::Translates,
};

impl Checker<'_> {
    pub(super) fn check_top(
        &mut self,
        op_use: &ast::OperatorUse,
        count: &ast::Expr,
        order: &[ast::SortKey],
        input: &Arc<RecordType>,
        key: Option<&Key>,
    ) -> Checked {
        let key = self.require_key(op_use, key);
        let count = self.top_count(count);
        let scope = Scope { record: input, in_generator: false };
        let mut checked = Some(Vec::with_capacity(order.len()));
        for sort_key in order {
            let typed = check_expr(&sort_key.expr, &scope, &mut self.diagnostics);
            let typed = typed.filter(|typed| self.orderable(typed.ty, &sort_key.expr));
            match (typed, checked.as_mut()) {
                (Some(expr), Some(keys)) => keys.push(SortKey { expr, descending: sort_key.descending }),
                _ => checked = None,
            }
        }
        let output = self.top_output(op_use, input);
        Some((OperatorKind::Top { key: key?, count: count?, order: checked? }, output?))
    }

    fn top_count(&mut self, count: &ast::Expr) -> Option<usize> {
        let Const::Int(n) = expect(count, Expected::Int, Code::BadArgument, "`top`", &mut self.diagnostics)? else {
            return None;
        };
        require_positive(n > 0, count.span, "the count of `top`", &mut self.diagnostics).then_some(())?;
        if n > MAX_TOP {
            self.diagnostics.push(
                Diagnostic::error(Code::BadArgument, format!("`top` keeps at most {MAX_TOP} records per key"))
                    .label(count.span, "too many")
                    .help("every record that enters the top moves those after it down a rank, and each move is a record out: keep fewer"),
            );
            return None;
        }
        Some(n as usize)
    }

    fn orderable(&mut self, ty: Type, expr: &ast::Expr) -> bool {
        if ty.is_ordered() {
            return true;
        }
        self.diagnostics.push(
            Diagnostic::error(Code::TypeMismatch, format!("`top` cannot order by {}", ty.with_article()))
                .label(expr.span, ty.with_article())
                .help("order by an int, float, string, timestamp or duration; for a bool, `if b then 1 else 0`"),
        );
        false
    }

    fn top_output(&mut self, op_use: &ast::OperatorUse, input: &Arc<RecordType>) -> Option<Arc<RecordType>> {
        if input.field_index(RANK).is_some() {
            self.diagnostics.push(
                Diagnostic::error(Code::DuplicateField, format!("the input already has a field `{RANK}`"))
                    .label(op_use.keyword, format!("`top` adds `{RANK}`"))
                    .help(format!("rename the input's `{RANK}` with a `map` before `top`: `{RANK}_before = {RANK}`")),
            );
            return None;
        }
        let mut fields = input.fields().to_vec();
        fields.push(Field { name: RANK.into(), ty: Type::Int });
        Some(RecordType::new(fields))
    }
}
