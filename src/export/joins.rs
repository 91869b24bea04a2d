//! The Flink SQL forms of `join` and `lookup`, each a view over its inputs
//! `L` and `R`:
//!
//! - an interval join is Flink's interval join, `R.ts BETWEEN L.ts + lower
//!   AND L.ts + upper` beside the key equality (both bounds inclusive, as in
//!   flowc); both time columns stay event-time attributes;
//! - a window join joins the `TUMBLE`/`HOP` of both sides on `window_start`,
//!   `window_end` and the key; its output has no event time;
//! - a regular join is a plain `JOIN … ON` the keys, insert-only because
//!   both inputs are; its output has no event time (Flink materializes the
//!   time attributes);
//! - a lookup is an event-time temporal join (`FOR SYSTEM_TIME AS OF` a
//!   time attribute of the input) against a versioned view of the table's
//!   file with one version older than any record, so that every record sees
//!   the whole table as in flowc. An inner lookup of records without event
//!   time is a regular join with the table's rows; a `lookup left` of them
//!   is refused.
//!
//! A `where` goes into `ON`, which for a left join is what makes it part of
//! the match rather than a filter after it. A left join has no NULLs in
//! flowc: an unmatched record's right fields are their types' zero values
//! (`COALESCE(R.x, zero)`) and `matched` is `R.key IS NOT NULL`, exact
//! because no right column is ever NULL. Inputs that are changelogs (a
//! running aggregate) are refused: Flink would join an aggregate's current
//! rows, flowc joins every update.

use std::sync::Arc;

use crate::check::program::{Join, JoinTime, Operator, TableId, TypedExpr, TypedExprKind, WindowKind};
use crate::check::types::Type;
use crate::check::units::format_duration;
use crate::diag::{Code, Diagnostic, Span};

use super::expr::{Scope, Translator};
use super::tables::{self, interval};
use super::{ensure_bigint, quote, Exporter, Relation, Time, TimeLost, KEY_COLUMN};

/// What the export made of a lookup table: its rows (with the version
/// column), and the versioned view over them.
pub(super) struct TableViews {
    rows: String,
    versioned: String,
}

/// The names of the two inputs in a join's query.
const LEFT: &str = "L";
const RIGHT: &str = "R";

/// One input of a join as the query reads it: a table or view, the column
/// that holds the key, and the plain copies of time attributes that a
/// `where` reads instead of them (field index, copy).
struct Side {
    relation: String,
    key: String,
    plain: Vec<(usize, String)>,
}

impl Exporter<'_> {
    pub(super) fn join(&mut self, operator: &Operator, join: &Join, relation: Relation, base: &str) -> Relation {
        let line = self.line(operator.span);
        let at = operator.keyword;
        let right = self.stream(&join.right, base);
        if relation.updating || right.updating {
            self.refuse_changelog_join(at, "join");
        }
        if let Some((left_time, right_time)) = join.time_fields {
            let label = "an event-time join needs a time attribute on both sides";
            self.require_time(&relation, left_time, at, label);
            self.require_time(&right, right_time, at, label);
        }
        // Flink takes every comparison between a time attribute of each
        // side for a bound of an interval join, and more than two bounds
        // make it a regular join, so a `where` reads the left time
        // attributes through plain copies.
        let plain = match (&join.time, &join.residual) {
            (JoinTime::Interval { .. }, Some(residual)) => {
                let fields = fields_read(residual);
                let left_count = relation.columns.len();
                let time_of = |i: usize| match i < left_count {
                    true => &relation.rowtime[i],
                    false => &right.rowtime[i - left_count],
                };
                let times: Vec<usize> = fields.into_iter().filter(|&i| time_of(i).is_attribute()).collect();
                match times.iter().any(|&i| i >= left_count) {
                    true => times.into_iter().filter(|&i| i < left_count).collect(),
                    false => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        let left_side = self.side(base, &relation, &join.left_key.expr, &plain, line);
        let right_side = self.side(base, &right, &join.right_key.expr, &[], line);
        let mut conditions =
            vec![format!("{} = {}", qualified(LEFT, &left_side.key), qualified(RIGHT, &right_side.key))];
        let kind = if join.outer { "LEFT JOIN" } else { "JOIN" };
        let mut selected = Vec::new();
        let (from, comment, rowtime_left, rowtime_right) = match join.time {
            JoinTime::Interval { lower, upper } => {
                let (left_time, right_time) = join.time_fields.expect("an interval join has time fields");
                let left_ts = qualified(LEFT, &relation.columns[left_time]);
                let low = self.offset(&left_ts, lower, at);
                let high = self.offset(&left_ts, upper, at);
                conditions.push(format!("{} BETWEEN {low} AND {high}", qualified(RIGHT, &right.columns[right_time])));
                let from = format!(
                    "{} AS {}\n{kind} {} AS {}",
                    quote(&left_side.relation),
                    quote(LEFT),
                    quote(&right_side.relation),
                    quote(RIGHT)
                );
                let (left_name, right_name) = (&relation.columns[left_time], &right.columns[right_time]);
                let (lower_text, upper_text) = (format_duration(lower), format_duration(upper));
                let comment = format!(
                    "interval join (line {line}): right `{right_name}` in [left `{left_name}` + {lower_text}, left `{left_name}` + {upper_text}], both bounds inclusive"
                );
                // Flink keeps both sides' time attributes: its output
                // watermark is held back by the interval, as flowc's is.
                // In a left join an unmatched record's right time is the
                // epoch, which no window can use.
                let right_times = if join.outer {
                    let lost = Arc::new(TimeLost {
                        span: at,
                        label: "a left join: an unmatched record has the epoch here".to_string(),
                        help: "a right field of an unmatched record is a zero value, not its time: window on a left time field"
                            .to_string(),
                    });
                    lose(&right.rowtime, &lost)
                } else {
                    right.rowtime.clone()
                };
                (from, comment, relation.rowtime.clone(), right_times)
            }
            JoinTime::Window(window) => {
                let (left_time, right_time) = join.time_fields.expect("a window join has time fields");
                let left_window = self.window_function(window, &left_side.relation, &relation.columns[left_time], at);
                let right_window = self.window_function(window, &right_side.relation, &right.columns[right_time], at);
                let from = format!(
                    "(SELECT * FROM TABLE({left_window})) AS {}\n{kind} (SELECT * FROM TABLE({right_window})) AS {}",
                    quote(LEFT),
                    quote(RIGHT)
                );
                for (i, bound) in ["window_start", "window_end"].into_iter().enumerate() {
                    conditions.insert(i, format!("{} = {}", qualified(LEFT, bound), qualified(RIGHT, bound)));
                    selected.push(format!("CAST({} AS TIMESTAMP_LTZ(3)) AS {}", qualified(LEFT, bound), quote(bound)));
                }
                let lost = Arc::new(TimeLost {
                    span: at,
                    label: "a window join: Flink emits its rows when their window ends, behind the watermark of their times"
                        .to_string(),
                    help: "window before the join, or join with `interval(lower, upper) on ts`, whose output keeps its event time in Flink"
                        .to_string(),
                });
                let comment = format!("window join (line {line}): the pairs of the same key in the same window");
                (from, comment, lose(&relation.rowtime, &lost), lose(&right.rowtime, &lost))
            }
            JoinTime::Unbounded => {
                let from = format!(
                    "{} AS {}\n{kind} {} AS {}",
                    quote(&left_side.relation),
                    quote(LEFT),
                    quote(&right_side.relation),
                    quote(RIGHT)
                );
                let lost = Arc::new(TimeLost {
                    span: at,
                    label: "a join without a time condition: Flink's output of it has no event time".to_string(),
                    help: "window before the join, or bound it with `interval(lower, upper) on ts`, whose output keeps its event time in Flink"
                        .to_string(),
                });
                let comment = format!(
                    "join (line {line}): a regular join, each pair once; Flink keeps both inputs in state, as flowc does"
                );
                (from, comment, lose(&relation.rowtime, &lost), lose(&right.rowtime, &lost))
            }
        };
        if let Some(residual) = &join.residual {
            let mut left_columns = relation.columns.clone();
            for (i, copy) in &left_side.plain {
                left_columns[*i] = copy.clone();
            }
            conditions.push(self.residual(residual, &left_columns, &right.columns));
        }
        let mut rowtime = Time::plain(selected.len());
        selected.extend(relation.columns.iter().map(|column| qualified(LEFT, column)));
        selected.extend(right_columns(&right.columns, join.right.record.fields().iter().map(|f| f.ty), join.outer));
        rowtime.extend(rowtime_left);
        rowtime.extend(rowtime_right);
        if join.outer {
            selected.push(matched(&right_side.key, operator));
            rowtime.push(Time::Plain);
        }
        let query = format!("SELECT {}\nFROM {from}\nON {}", selected.join(", "), conditions.join("\n  AND "));
        let columns: Vec<String> = operator.output.fields().iter().map(|f| f.name.clone()).collect();
        debug_assert_eq!(columns.len(), selected.len(), "a join selects its output");
        self.view(base, comment, query, columns, rowtime, false)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn lookup(
        &mut self,
        operator: &Operator,
        table: TableId,
        key: &TypedExpr,
        outer: bool,
        residual: Option<&TypedExpr>,
        relation: Relation,
        base: &str,
    ) -> Relation {
        let line = self.line(operator.span);
        let at = operator.keyword;
        if relation.updating {
            self.refuse_changelog_join(at, "lookup");
        }
        let program = self.program;
        let table_def = &program.tables[table];
        if matches!(table_def.connector, crate::check::program::TableSource::Postgres { .. }) {
            // `table_views` refuses it, once per table, pointing at the table.
            self.table_views(table);
            return relation;
        }
        let views = self.table_views(table);
        let table_columns: Vec<String> = table_def.record.fields().iter().map(|f| f.name.clone()).collect();
        let table_key = &table_columns[table_def.key_field];
        let input = self.side(base, &relation, key, &[], line);
        let time = relation.rowtime.iter().position(Time::is_attribute);
        let kind = if outer { "LEFT JOIN" } else { "JOIN" };
        let (from, comment) = match time {
            Some(time) => (
                format!(
                    "{} AS {}\n{kind} {} FOR SYSTEM_TIME AS OF {} AS {}",
                    quote(&input.relation),
                    quote(LEFT),
                    quote(&views.versioned),
                    qualified(LEFT, &relation.columns[time]),
                    quote(RIGHT)
                ),
                format!(
                    "lookup (line {line}): an event-time temporal join with the table's one version, which every record sees"
                ),
            ),
            None => {
                if outer {
                    self.diagnostics.push(
                        Diagnostic::error(Code::NoFlinkForm, "a `lookup left` of records without event time has no faithful Flink SQL form")
                            .label(at, "no field of the input is an event-time attribute in Flink")
                            .label(table_def.name_span, "read from a file")
                            .help("Flink joins a file only as a stream: an event-time temporal join needs a watermarked field in the input (a source with `@watermark`), and a regular left join would emit each record unmatched before its row arrives and then retract it; give the input event time, or use an inner `lookup`"),
                    );
                }
                (
                    format!("{} AS {}\n{kind} {} AS {}", quote(&input.relation), quote(LEFT), quote(&views.rows), quote(RIGHT)),
                    format!(
                        "lookup (line {line}): the input has no event time, so a regular join with the table's rows; insert-only, since both sides are, and Flink keeps the input in state"
                    ),
                )
            }
        };
        let mut conditions = vec![format!("{} = {}", qualified(LEFT, &input.key), qualified(RIGHT, table_key))];
        if let Some(residual) = residual {
            conditions.push(self.residual(residual, &relation.columns, &table_columns));
        }
        let mut selected: Vec<String> = relation.columns.iter().map(|column| qualified(LEFT, column)).collect();
        selected.extend(right_columns(&table_columns, table_def.record.fields().iter().map(|f| f.ty), outer));
        let mut rowtime = relation.rowtime.clone();
        rowtime.extend(Time::plain(table_columns.len()));
        if outer {
            selected.push(matched(table_key, operator));
            rowtime.push(Time::Plain);
        }
        let query = format!("SELECT {}\nFROM {from}\nON {}", selected.join(", "), conditions.join("\n  AND "));
        let columns: Vec<String> = operator.output.fields().iter().map(|f| f.name.clone()).collect();
        debug_assert_eq!(columns.len(), selected.len(), "a lookup selects its output");
        self.view(base, comment, query, columns, rowtime, false)
    }

    /// The table's statements, written before the first lookup that reads it.
    fn table_views(&mut self, table: TableId) -> TableViews {
        if let Some(views) = self.tables.get(&table) {
            return TableViews { rows: views.rows.clone(), versioned: views.versioned.clone() };
        }
        let (statements, rows, versioned) =
            tables::lookup_table(&self.program.tables[table], self.text, &mut self.diagnostics);
        self.statements.extend(statements);
        self.tables.insert(table, TableViews { rows: rows.clone(), versioned: versioned.clone() });
        TableViews { rows, versioned }
    }

    /// The relation a join reads for one side: itself when its key is a
    /// field, else a view that adds the key as a column (and the plain
    /// copies of the time attributes in `plain`). A time attribute as the
    /// key is read through a plain copy too: an equality of two time
    /// attributes would be a bound of an interval join to Flink.
    fn side(&mut self, base: &str, relation: &Relation, key: &TypedExpr, plain: &[usize], line: usize) -> Side {
        let key_field = match key.kind {
            TypedExprKind::Field(index) if !relation.rowtime[index].is_attribute() => Some(index),
            _ => None,
        };
        if let (Some(index), []) = (key_field, plain) {
            return Side { relation: relation.name.clone(), key: relation.columns[index].clone(), plain: Vec::new() };
        }
        // (SQL, name) of each added column.
        let mut added: Vec<(String, String)> = Vec::new();
        let key_column = match key_field {
            Some(index) => relation.columns[index].clone(),
            None => {
                let sql = match key.kind {
                    TypedExprKind::Field(index) => plain_time(&relation.columns[index]),
                    _ => {
                        let mut translator = Translator::new(Scope::Record { fields: relation.columns.clone() });
                        let sql = translator.value(key);
                        self.diagnostics.append(&mut translator.diagnostics);
                        if key.ty == Type::Int {
                            ensure_bigint(&sql)
                        } else {
                            sql
                        }
                    }
                };
                added.push((sql, KEY_COLUMN.to_string()));
                KEY_COLUMN.to_string()
            }
        };
        let copies: Vec<(usize, String)> =
            plain.iter().map(|&i| (i, format!("{}{}", PLAIN_PREFIX, relation.columns[i]))).collect();
        added.extend(copies.iter().map(|(i, copy)| (plain_time(&relation.columns[*i]), copy.clone())));
        let mut selected: Vec<String> = relation.columns.iter().map(|c| quote(c)).collect();
        selected.extend(added.iter().map(|(sql, name)| format!("{sql} AS {}", quote(name))));
        let query = format!("SELECT {}\nFROM {}", selected.join(", "), quote(&relation.name));
        let mut columns = relation.columns.clone();
        columns.extend(added.iter().map(|(_, name)| name.clone()));
        let mut rowtime = relation.rowtime.clone();
        rowtime.extend(added.iter().map(|_| Time::Plain));
        let comment = format!("the join key of line {line}");
        let view = self.view(base, comment, query, columns, rowtime, relation.updating);
        Side { relation: view.name, key: key_column, plain: copies }
    }

    /// A `where` over the left columns, then the right ones.
    fn residual(&mut self, residual: &TypedExpr, left: &[String], right: &[String]) -> String {
        let fields = left
            .iter()
            .map(|column| (LEFT, column.clone()))
            .chain(right.iter().map(|column| (RIGHT, column.clone())))
            .collect();
        let mut translator = Translator::new(Scope::Qualified { fields });
        let sql = translator.sql(residual);
        self.diagnostics.append(&mut translator.diagnostics);
        sql
    }

    /// `ts + d` as Flink SQL, for a bound of an interval join.
    fn offset(&mut self, ts: &str, nanos: i64, at: Span) -> String {
        match nanos {
            0 => ts.to_string(),
            n if n > 0 => format!("{ts} + {}", interval(n, at, &mut self.diagnostics)),
            // i64::MIN is no whole number of milliseconds, so `interval` refuses it.
            n => format!("{ts} - {}", interval(n.checked_neg().unwrap_or(1), at, &mut self.diagnostics)),
        }
    }

    /// The window table function of one side of a window join.
    fn window_function(&mut self, window: WindowKind, relation: &str, time: &str, at: Span) -> String {
        match window {
            WindowKind::Tumbling { size_nanos } => {
                let size = interval(size_nanos, at, &mut self.diagnostics);
                format!("TUMBLE(TABLE {}, DESCRIPTOR({}), {size})", quote(relation), quote(time))
            }
            WindowKind::Sliding { size_nanos, slide_nanos } => {
                let size = interval(size_nanos, at, &mut self.diagnostics);
                let slide = interval(slide_nanos, at, &mut self.diagnostics);
                format!("HOP(TABLE {}, DESCRIPTOR({}), {slide}, {size})", quote(relation), quote(time))
            }
            WindowKind::Session { .. } => unreachable!("check refuses session joins"),
        }
    }

    fn refuse_changelog_join(&mut self, at: Span, keyword: &str) {
        self.diagnostics.push(
            Diagnostic::error(Code::NoFlinkForm, format!("Flink cannot `{keyword}` the updates of a running aggregate as flowc does"))
                .label(at, "an input is an `aggregate`'s updates")
                .help(format!("in Flink a running aggregate is a changelog: a {keyword} of it matches each key's current row, where flowc matches every update; {keyword} before the aggregate, or window it")),
        );
    }
}

/// The columns' times after an operator that ends event time: every time
/// column (a time attribute, or one that lost it before) lost it here.
fn lose(times: &[Time], lost: &Arc<TimeLost>) -> Vec<Time> {
    times
        .iter()
        .map(|time| match time {
            Time::Plain => Time::Plain,
            Time::Attribute | Time::Lost(_) => Time::Lost(lost.clone()),
        })
        .collect()
}

/// The prefix of a time attribute's plain copy.
const PLAIN_PREFIX: &str = "flowc_plain_";

/// A time attribute's value as a plain `TIMESTAMP_LTZ(3)`, which Flink
/// does not take for event time.
fn plain_time(column: &str) -> String {
    format!("CAST({} AS TIMESTAMP_LTZ(3))", quote(column))
}

/// The fields an expression reads, each once.
fn fields_read(expr: &TypedExpr) -> Vec<usize> {
    fn walk(expr: &TypedExpr, found: &mut Vec<usize>) {
        match &expr.kind {
            TypedExprKind::Field(i) => {
                if !found.contains(i) {
                    found.push(*i);
                }
            }
            TypedExprKind::Literal(_) | TypedExprKind::Seq | TypedExprKind::Pattern(_) => {}
            TypedExprKind::Unary { operand, .. } => walk(operand, found),
            TypedExprKind::Binary { lhs, rhs, .. } => {
                walk(lhs, found);
                walk(rhs, found);
            }
            TypedExprKind::If { condition, then, otherwise } => {
                walk(condition, found);
                walk(then, found);
                walk(otherwise, found);
            }
            TypedExprKind::Call { args, .. } => args.iter().for_each(|arg| walk(arg, found)),
        }
    }
    let mut found = Vec::new();
    walk(expr, &mut found);
    found
}

/// A left join's last column: whether a right row matched. No right column
/// is NULL but where none did, so the key column tells.
fn matched(right_key: &str, operator: &Operator) -> String {
    let name = &operator.output.fields().last().expect("a left join adds `matched`").name;
    format!("{} IS NOT NULL AS {}", qualified(RIGHT, right_key), quote(name))
}

/// `L`.`c`
fn qualified(relation: &str, column: &str) -> String {
    format!("{}.{}", quote(relation), quote(column))
}

/// The right side's columns; in a left join each at its type's zero value
/// when no record matched.
fn right_columns(columns: &[String], types: impl Iterator<Item = Type>, outer: bool) -> Vec<String> {
    columns
        .iter()
        .zip(types)
        .map(|(column, ty)| match outer {
            false => qualified(RIGHT, column),
            true => format!("COALESCE({}, {}) AS {}", qualified(RIGHT, column), zero(ty), quote(column)),
        })
        .collect()
}

/// A type's zero value, what flowc gives the right fields of an unmatched record.
pub(super) fn zero(ty: Type) -> &'static str {
    match ty {
        Type::Int => "CAST(0 AS BIGINT)",
        Type::Float => "CAST(0.0 AS DOUBLE)",
        Type::Bool => "FALSE",
        Type::String => "''",
        Type::Timestamp => "TO_TIMESTAMP_LTZ(0, 3)",
        // No duration reaches a join in an export: sources and maps refuse them.
        Type::Duration => "NULL",
    }
}
