//! The Flink SQL forms of `join` and `lookup`.

use crate::check::program::{Join, Operator, TableId, TypedExpr};
use crate::diag::{Code, Diagnostic};

use super::{Exporter, Relation};

impl Exporter<'_> {
    pub(super) fn join(&mut self, operator: &Operator, _join: &Join, relation: Relation, _base: &str) -> Relation {
        self.diagnostics.push(
            Diagnostic::error(Code::NoFlinkForm, "`join` has no Flink SQL form yet")
                .label(operator.keyword, "a join")
                .help("run it with `flowc run`"),
        );
        relation
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lookup(
        &mut self,
        operator: &Operator,
        _table: TableId,
        _key: &TypedExpr,
        _outer: bool,
        _residual: Option<&TypedExpr>,
        relation: Relation,
        _base: &str,
    ) -> Relation {
        self.diagnostics.push(
            Diagnostic::error(Code::NoFlinkForm, "`lookup` has no Flink SQL form yet")
                .label(operator.keyword, "a lookup")
                .help("run it with `flowc run`"),
        );
        relation
    }
}
