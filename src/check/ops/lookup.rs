//! `lookup [left] table by key_expr [where condition]`: enriches each record
//! with the row of a `table` whose key equals `key_expr`. An inner lookup
//! drops a record whose key the table lacks; `lookup left` keeps it, with
//! the table's fields at their zero values and `matched = false`.

use std::sync::Arc;

use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast;

use super::super::expr::{check_expr, Scope};
use super::super::program::{OperatorKind, TableSource};
use super::super::types::{Field, RecordType, Type};
use super::super::{Checker, StreamName};
use super::join::MATCHED;
use super::{Checked, FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "lookup",
    summary: "adds to each record the row of a table whose key equals an expression",
    inputs: 1,
    records: Records::New,
    keys: KeyUse::Ends,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::Table,
    flink: FlinkForm::Translates,
};

impl Checker<'_> {
    /// `@async` on a lookup: it overlaps the queries of a PostgreSQL table;
    /// a file table is in memory, with nothing to wait for.
    pub(super) fn check_async_lookup(&mut self, table: usize, calls: crate::check::program::AsyncCalls) {
        let definition = &self.tables[table];
        if matches!(definition.connector, TableSource::File(_)) {
            self.diagnostics.push(
                Diagnostic::error(Code::AttributeNotAllowed, format!("the table `{}` is in memory: a lookup of it waits for nothing", definition.name))
                    .label(calls.span, "nothing to overlap")
                    .label(definition.name_span, "read whole from a file before the first record")
                    .help("`@async` overlaps the queries of a lookup of a `postgres` table; a file table is as fast as memory: remove it"),
            );
        } else if !calls.ordered {
            self.diagnostics.push(
                Diagnostic::error(Code::AttributeValue, "a lookup's batches leave in the order they came")
                    .label(calls.span, "`ordered = false`")
                    .help("its queries overlap all the same: remove `ordered = false`"),
            );
        }
    }

    pub(super) fn check_lookup(
        &mut self,
        outer: bool,
        table_name: &ast::Ident,
        key: &ast::Expr,
        residual: Option<&ast::Expr>,
        input: &Arc<RecordType>,
    ) -> Checked {
        *self.uses.entry(table_name.name.clone()).or_default() += 1;
        let table = match self.streams.get(&table_name.name).map(|(name, _)| *name) {
            Some(StreamName::Table(id)) => Some(id),
            Some(StreamName::Failed) => None,
            Some(StreamName::Source(_) | StreamName::Let(_)) => {
                self.diagnostics.push(
                    Diagnostic::error(Code::UnknownTable, format!("`{}` is a stream, not a table", table_name.name))
                        .label(table_name.span, "a stream")
                        .help(format!(
                            "`lookup` reads a `table`; to match two streams, key both and `join` them: `| join ({} | key_by …)`",
                            table_name.name
                        )),
                );
                None
            }
            // Its definition did not parse; that error is enough.
            None if self.unparsed_names.contains(&table_name.name) => None,
            None => {
                let tables = self.tables.iter().map(|t| t.name.as_str());
                let help = did_you_mean(&table_name.name, tables).unwrap_or_else(|| {
                    format!("declare it above: `table {}: Schema = file(\"rows.csv\") key_by id`", table_name.name)
                });
                self.diagnostics.push(
                    Diagnostic::error(Code::UnknownTable, format!("unknown table `{}`", table_name.name))
                        .label(table_name.span, "no table has this name")
                        .help(help),
                );
                None
            }
        };
        let scope = Scope { record: input, in_generator: false };
        let key_expr = check_expr(key, &scope, &mut self.diagnostics);
        let table = table?;
        let key_expr = key_expr?;
        let (record, key_field) = (self.tables[table].record.clone(), self.tables[table].key_field);
        let key_type = record.fields()[key_field].ty;
        if key_expr.ty != key_type {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "the table `{}` is keyed by {}, but this key is {}",
                        table_name.name,
                        key_type.with_article(),
                        key_expr.ty.with_article()
                    ),
                )
                .label(key.span, key_expr.ty.with_article())
                .label(self.tables[table].key_span, format!("{} key", key_type.with_article()))
                .help("the record is found when the two are equal: convert the expression, for example `str(id)`"),
            );
            return None;
        }
        let right_written =
            ast::Stream { head: ast::StreamHead::Named(table_name.clone()), operators: vec![], span: table_name.span };
        let pair = self.joined_fields(input, &record, &right_written, key.span, "lookup")?;
        let residual = match residual {
            Some(condition) => Some(self.residual(condition, &pair)?),
            None => None,
        };
        let mut fields = pair.fields().to_vec();
        if outer {
            fields.push(Field { name: MATCHED.into(), ty: Type::Bool });
        }
        let output = self.unique_output(fields, key.span, outer)?;
        Some((OperatorKind::Lookup { table, key: key_expr, outer, residual }, output))
    }
}
