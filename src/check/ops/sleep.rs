//! `sleep 5ms`: blocks for a fixed time per record (stands for a call to another
//! system); with `@async` the calls overlap.

use std::sync::Arc;

use crate::syntax::ast;

use super::super::program::OperatorKind;
use super::super::types::RecordType;
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "sleep",
    summary: "blocks for a fixed time per record, as a call to another system does",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Keeps,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Waits,
    blocking: true,
    state: StateKind::None,
    flink: FlinkForm::Simulation,
};

impl Checker<'_> {
    pub(super) fn check_sleep(&mut self, duration: &ast::Expr, input: &Arc<RecordType>) -> Checked {
        let nanos = self.per_record_duration(SPEC.keyword, duration)?;
        Some((OperatorKind::Sleep { nanos }, input.clone()))
    }
}
