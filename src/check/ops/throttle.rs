//! `throttle 100/s`: lets at most a rate of records through, waiting between them.

use std::sync::Arc;

use crate::diag::Code;
use crate::syntax::ast;

use super::super::constant::{expect, require_positive, Const, Expected};
use super::super::program::OperatorKind;
use super::super::types::RecordType;
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "throttle",
    summary: "lets at most a rate of records through, as a slow system would take them",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Keeps,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Waits,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Simulation,
};

impl Checker<'_> {
    pub(super) fn check_throttle(&mut self, rate: &ast::Expr, input: &Arc<RecordType>) -> Checked {
        let Const::Rate(per_second) =
            expect(rate, Expected::Rate, Code::BadArgument, "`throttle`", &mut self.diagnostics)?
        else {
            return None;
        };
        require_positive(per_second > 0.0, rate.span, "a throttle rate", &mut self.diagnostics).then_some(())?;
        Some((OperatorKind::Throttle { per_second }, input.clone()))
    }

    /// The positive duration of `work` or `sleep`.
    pub(super) fn per_record_duration(&mut self, keyword: &str, duration: &ast::Expr) -> Option<i64> {
        let what = format!("`{keyword}`");
        let Const::Duration(nanos) =
            expect(duration, Expected::Duration, Code::BadArgument, &what, &mut self.diagnostics)?
        else {
            return None;
        };
        require_positive(nanos > 0, duration.span, &format!("the duration of {what}"), &mut self.diagnostics)
            .then_some(nanos)
    }
}
