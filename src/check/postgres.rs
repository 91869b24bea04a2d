//! The `postgres` connector's arguments: a sink that writes a table in
//! batches, one transaction each, and a `table` a lookup reads by key.
//! Checking does no IO, so the table's columns are checked by `flowc run`
//! before the first record (`runtime/postgres/`); here only what the text
//! alone says: the arguments, their values, and the upsert key's fields.

use std::sync::Arc;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::ast::{Call, ExprKind};

use super::args::{bind, Bound, Param};
use super::connectors::ConnectorSpec;
use super::constant::{expect, require_positive, Const, Expected};
use super::program::{PostgresSink, PostgresTarget, WriteMode};
use super::types::{RecordType, Type};

pub const SINK: ConnectorSpec = ConnectorSpec {
    name: "postgres",
    params: &[
        Param::required("table"),
        Param::named("url"),
        Param::named("mode"),
        Param::named("key"),
        Param::named("batch_size"),
        Param::named("flush_interval"),
        Param::named("create_table"),
    ],
    usage: "postgres(table = \"readings\", mode = upsert, key = id)",
    one_subtask: None,
};

pub const TABLE: ConnectorSpec = ConnectorSpec {
    name: "postgres",
    params: &[Param::required("table"), Param::named("url"), Param::named("cache")],
    usage: "postgres(table = \"customers\", cache = 10_000)",
    one_subtask: None,
};

/// Rows a batch may hold: a transaction of a million rows holds locks and
/// memory for a long time, and a failure rolls all of it back.
pub const MAX_BATCH_SIZE: i64 = 1_000_000;
pub const DEFAULT_BATCH_SIZE: u32 = 1000;
pub const DEFAULT_FLUSH_INTERVAL_NANOS: i64 = 1_000_000_000;
/// Rows a lookup keeps per subtask unless `cache = n` says otherwise.
pub const DEFAULT_CACHE_ROWS: u32 = 10_000;
const MAX_CACHE_ROWS: i64 = 100_000_000;
const MODES: &[&str] = &["insert", "upsert"];

/// Checks `sink postgres(…)` against the records it receives.
pub fn check_sink(call: &Call, record: &Arc<RecordType>, diagnostics: &mut Vec<Diagnostic>) -> Option<PostgresSink> {
    let bound = bind(&call.args, SINK.params, "postgres", call.span, SINK.usage, diagnostics)?;
    let target = target(&bound, diagnostics);
    let upsert = match bound.get("mode") {
        None => false,
        Some(expr) => matches!(
            expect(expr, Expected::Word(MODES), Code::BadArgument, "`mode`", diagnostics)?,
            Const::Word(word) if word == "upsert"
        ),
    };
    let mode = match (upsert, bound.get("key")) {
        (false, None) => WriteMode::Insert,
        (false, Some(expr)) => {
            diagnostics.push(
                Diagnostic::error(Code::BadArgument, "`key` applies only to `mode = upsert`")
                    .label(expr.span, "an insert appends every record")
                    .help("write `mode = upsert` to keep each key's latest record, or remove `key`"),
            );
            return None;
        }
        (true, None) => {
            diagnostics.push(
                Diagnostic::error(Code::MissingArgument, "an upsert needs the `key` its rows are found by")
                    .label(call.span, "no `key`")
                    .help(format!(
                        "name the field (or fields) of the table's primary key: `key = {}` or `key = \"a, b\"`",
                        record.fields().first().map_or("id", |field| field.name.as_str())
                    )),
            );
            return None;
        }
        (true, Some(expr)) => {
            let names: Vec<(String, Span)> = match &expr.kind {
                ExprKind::Name(name) => vec![(name.clone(), expr.span)],
                ExprKind::Str(list) => list.split(',').map(|name| (name.trim().to_string(), expr.span)).collect(),
                _ => {
                    diagnostics.push(
                        Diagnostic::error(Code::BadArgument, "`key` names fields of the record")
                            .label(expr.span, "not a field name")
                            .help("write `key = id`, or `key = \"a, b\"` for a key of several fields"),
                    );
                    return None;
                }
            };
            let mut key = Vec::new();
            for (name, span) in names {
                match record.field_index(&name) {
                    Some(index) if record.fields()[index].ty == Type::Float => {
                        diagnostics.push(
                            Diagnostic::error(Code::BadArgument, format!("an upsert cannot be keyed by the float `{name}`"))
                                .label(span, "a float")
                                .help("floats that print alike may differ in their last bits: key by an int or a string field"),
                        );
                        return None;
                    }
                    Some(index) if key.contains(&index) => {
                        diagnostics.push(
                            Diagnostic::error(Code::DuplicateField, format!("`{name}` is in the key twice"))
                                .label(span, "named again")
                                .help("name each field of the key once"),
                        );
                        return None;
                    }
                    Some(index) => key.push(index),
                    None => {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::UnknownField,
                                format!("the key `{name}` is not a field of the records this sink writes"),
                            )
                            .label(span, "no such field")
                            .help(
                                did_you_mean(&name, record.field_names())
                                    .unwrap_or_else(|| format!("the records are {record}")),
                            ),
                        );
                        return None;
                    }
                }
            }
            WriteMode::Upsert { key, key_span: expr.span }
        }
    };
    let batch_size = match bound.get("batch_size") {
        None => DEFAULT_BATCH_SIZE,
        Some(expr) => match expect(expr, Expected::Int, Code::BadArgument, "`batch_size`", diagnostics)? {
            Const::Int(n) if n > MAX_BATCH_SIZE => {
                diagnostics.push(
                    Diagnostic::error(Code::BadArgument, format!("`batch_size` is at most {MAX_BATCH_SIZE}"))
                        .label(expr.span, "too many rows for one transaction")
                        .help("a failed batch is rolled back whole; 1,000 to 100,000 rows is plenty for COPY"),
                );
                return None;
            }
            Const::Int(n) if require_positive(n > 0, expr.span, "`batch_size`", diagnostics) => n as u32,
            _ => return None,
        },
    };
    let flush_interval_nanos = match bound.get("flush_interval") {
        None => DEFAULT_FLUSH_INTERVAL_NANOS,
        Some(expr) => match expect(expr, Expected::Duration, Code::BadArgument, "`flush_interval`", diagnostics)? {
            Const::Duration(n) if require_positive(n > 0, expr.span, "`flush_interval`", diagnostics) => n,
            _ => return None,
        },
    };
    let create_table = match bound.get("create_table") {
        None => false,
        Some(expr) => match expect(expr, Expected::Bool, Code::BadArgument, "`create_table`", diagnostics)? {
            Const::Bool(create) => create,
            _ => return None,
        },
    };
    Some(PostgresSink {
        target: target?,
        mode,
        batch_size,
        flush_interval_nanos,
        create_table,
        batch_size_span: bound.get("batch_size").map(|expr| expr.span),
        call_span: call.span,
    })
}

/// Checks a `table … = postgres(…)`'s arguments: where it is, and how many
/// rows each subtask of a lookup keeps.
pub fn check_table(call: &Call, diagnostics: &mut Vec<Diagnostic>) -> Option<(PostgresTarget, u32)> {
    let bound = bind(&call.args, TABLE.params, "postgres", call.span, TABLE.usage, diagnostics)?;
    let target = target(&bound, diagnostics);
    let cache = match bound.get("cache") {
        None => DEFAULT_CACHE_ROWS,
        Some(expr) => match expect(expr, Expected::Int, Code::BadArgument, "`cache`", diagnostics)? {
            Const::Int(n) if (0..=MAX_CACHE_ROWS).contains(&n) => n as u32,
            Const::Int(_) => {
                diagnostics.push(
                    Diagnostic::error(Code::BadArgument, format!("`cache` is 0 to {MAX_CACHE_ROWS} rows"))
                        .label(expr.span, "out of range")
                        .help("`cache = 0` asks the database for every record's key; the default keeps 10,000 rows"),
                );
                return None;
            }
            _ => return None,
        },
    };
    Some((target?, cache))
}

fn target(bound: &Bound<'_>, diagnostics: &mut Vec<Diagnostic>) -> Option<PostgresTarget> {
    let table_expr = bound.get("table").expect("required");
    let url = match bound.get("url") {
        None => Some(None),
        Some(expr) => match expect(expr, Expected::Str, Code::BadArgument, "`url`", diagnostics) {
            Some(Const::Str(url)) => Some(Some(url)),
            _ => None,
        },
    };
    let Const::Str(table) = expect(table_expr, Expected::Str, Code::BadArgument, "`table`", diagnostics)? else {
        return None;
    };
    if table.trim().is_empty() {
        diagnostics.push(
            Diagnostic::error(Code::BadArgument, "the table's name is empty")
                .label(table_expr.span, "no name")
                .help("name the table as SQL does: `\"readings\"`, or `\"public.readings\"` with its schema"),
        );
        return None;
    }
    Some(PostgresTarget { connection: url?, table, table_span: table_expr.span })
}
