//! `key_by expr`: partitions records by a key, for the keyed operators after it.

use std::sync::Arc;

use crate::syntax::ast::{self, ExprKind};

use super::super::expr::{check_expr, Scope};
use super::super::program::{Key, OperatorKind};
use super::super::types::RecordType;
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, PartitionKind, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "key_by",
    summary: "sends all records of a key to one subtask of the next operator",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Sets,
    routing: Routing::Partitions(PartitionKind::Hash),
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Distribution,
};

impl Checker<'_> {
    pub(super) fn check_key_by(&mut self, expr: &ast::Expr, input: &Arc<RecordType>) -> Checked {
        let scope = Scope { record: input, in_generator: false };
        let typed = check_expr(expr, &scope, &mut self.diagnostics)?;
        let name = match &expr.kind {
            ExprKind::Name(name) => name.clone(),
            _ => "key".to_string(),
        };
        let key = Key { expr: typed, name, span: expr.span };
        Some((OperatorKind::KeyBy { key }, input.clone()))
    }
}
