//! `map { name = expr, kept_field, … }`: a new record per record.

use std::sync::Arc;

use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::ast::{self, ExprKind};

use super::super::expr::{check_expr, Scope};
use super::super::program::OperatorKind;
use super::super::types::{Field, RecordType};
use super::super::Checker;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "map",
    summary: "computes a new record from each record",
    inputs: 1,
    records: Records::New,
    keys: KeyUse::Ends,
    routing: Routing::Runs,
    fuses: true,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Translates,
};

impl Checker<'_> {
    pub(super) fn check_map(&mut self, items: &[ast::MapItem], input: &Arc<RecordType>) -> Checked {
        let scope = Scope { record: input, in_generator: false };
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
                Some(value) => check_expr(value, &scope, &mut self.diagnostics),
                None => check_expr(
                    &ast::Expr { kind: ExprKind::Name(item.name.name.clone()), span: item.name.span },
                    &scope,
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
}
