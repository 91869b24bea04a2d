//! `work 2ms`: keeps a core busy for a fixed time per record (stands for computation).

use std::sync::Arc;

use crate::syntax::ast;

use super::super::program::OperatorKind;
use super::super::types::RecordType;
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "work",
    summary: "keeps a core busy for a fixed time per record, as costly computation does",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Keeps,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Computes,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Simulation,
};

impl Checker<'_> {
    pub(super) fn check_work(&mut self, duration: &ast::Expr, input: &Arc<RecordType>) -> Checked {
        let nanos = self.per_record_duration(SPEC.keyword, duration)?;
        Some((OperatorKind::Work { nanos }, input.clone()))
    }
}
