//! `filter expr`: keeps the records for which `expr` is true.

use std::sync::Arc;

use crate::syntax::ast;

use super::super::expr::{check_expr, expect_type, Scope};
use super::super::program::OperatorKind;
use super::super::types::{RecordType, Type};
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "filter",
    summary: "keeps the records for which a condition is true",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Keeps,
    routing: Routing::Runs,
    fuses: true,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Translates,
};

impl Checker<'_> {
    pub(super) fn check_filter(&mut self, predicate: &ast::Expr, input: &Arc<RecordType>) -> Checked {
        let scope = Scope { record: input, in_generator: false };
        let predicate = check_expr(predicate, &scope, &mut self.diagnostics)
            .and_then(|p| expect_type(p, Type::Bool, "a filter", &mut self.diagnostics))?;
        Some((OperatorKind::Filter { predicate }, input.clone()))
    }
}
