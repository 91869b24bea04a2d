//! `flowc export --target flink-sql`: the same program as a Flink SQL
//! script that the SQL client (`sql-client.sh -f`) or the SQL gateway runs
//! as it is.
//!
//! Sources become `CREATE TABLE`s (`datagen` with a `sequence` column and
//! computed columns for `generate`, `filesystem` for files), each operator
//! that changes records a `CREATE TEMPORARY VIEW`, windows the `TUMBLE`/`HOP`
//! table functions, keyed aggregates a continuous `GROUP BY`, and every
//! pipeline an `INSERT` (several in one `STATEMENT SET`). What has no
//! faithful form is an error with its span, never different SQL: see
//! `docs/flink-sql.md` for the whole table. `tests/flink.rs` runs the
//! output on Flink and compares its records with `flowc run`'s.

mod expr;
mod joins;
mod regex;
mod tables;

use std::collections::HashMap;
use std::sync::Arc;

use crate::check::functions::AggregateFunction;
use crate::check::program::{
    Aggregate, LetId, OperatorKind, SinkConnector, Stream, StreamHead, TableId, TypedExprKind, WindowKind,
};
use crate::check::types::Type;
use crate::check::{Config, Program};
use crate::diag::{line_number, Code, Diagnostic, Span};

use expr::{Scope, Translator};

/// What the user asked of the export.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Leave out `throttle`, `work` and `sleep` (with a comment) rather
    /// than refuse them.
    pub drop_simulation: bool,
}

/// The Flink SQL script for `program`, or every construct that has no
/// faithful Flink SQL form.
pub fn flink_sql(program: &Program, file_name: &str, text: &str, options: Options) -> Result<String, Vec<Diagnostic>> {
    let mut exporter = Exporter {
        program,
        text,
        options,
        diagnostics: Vec::new(),
        statements: Vec::new(),
        lets: HashMap::new(),
        tables: HashMap::new(),
        views: 0,
    };
    let header = exporter.header(file_name, &program.config);
    for source in &program.sources {
        let tables = tables::source_table(source, text, &mut exporter.diagnostics);
        exporter.statements.extend(tables);
    }
    let mut inserts = Vec::new();
    for pipeline in &program.pipelines {
        let line = line_number(text, pipeline.span.start);
        let relation = exporter.stream(&pipeline.stream, &format!("pipeline_{line}"));
        let sink_name = format!("sink_{line}");
        if let Some(table) =
            tables::sink_table(&sink_name, &pipeline.sink, relation.updating, &mut exporter.diagnostics)
        {
            exporter.statements.push(table);
        }
        inserts.push(format!("INSERT INTO {} {};", quote(&sink_name), relation.select_for_sink()));
    }
    if !exporter.diagnostics.is_empty() {
        exporter.diagnostics.sort_by_key(|d| d.labels.first().map(|l| l.span.start));
        return Err(exporter.diagnostics);
    }
    let mut script = header;
    for statement in &exporter.statements {
        script.push('\n');
        script.push_str(statement);
        script.push('\n');
    }
    script.push('\n');
    if inserts.len() == 1 {
        script.push_str(&inserts[0]);
        script.push('\n');
    } else {
        script.push_str("EXECUTE STATEMENT SET\nBEGIN\n");
        for insert in &inserts {
            script.push_str(insert);
            script.push('\n');
        }
        script.push_str("END;\n");
    }
    Ok(script)
}

/// A table or view and what its rows look like.
#[derive(Debug, Clone)]
struct Relation {
    name: String,
    columns: Vec<String>,
    /// Which columns are event-time attributes, which windows and
    /// event-time joins need.
    rowtime: Vec<Time>,
    /// The rows are a changelog (a running aggregate's updates).
    updating: bool,
}

/// Whether a column is an event-time attribute in Flink.
#[derive(Debug, Clone)]
enum Time {
    /// A time attribute: a source's watermarked column, as it is.
    Attribute,
    /// A plain value.
    Plain,
    /// It was a time attribute until an operator made it a plain value.
    Lost(Arc<TimeLost>),
}

impl Time {
    fn is_attribute(&self) -> bool {
        matches!(self, Time::Attribute)
    }

    fn plain(count: usize) -> Vec<Time> {
        vec![Time::Plain; count]
    }
}

/// Where and why a column stopped being a time attribute, for the refusal
/// of a window (or an event-time join) after it.
#[derive(Debug)]
struct TimeLost {
    span: Span,
    label: String,
    help: String,
}

impl Relation {
    fn select_all(&self) -> String {
        format!(
            "SELECT {} FROM {}",
            self.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            quote(&self.name)
        )
    }

    /// The rows for a sink, which takes at most one time attribute: after
    /// a join every other one (and any time column a join may have left
    /// one in Flink) is cast to a plain `TIMESTAMP_LTZ(3)`.
    fn select_for_sink(&self) -> String {
        let mut times = self.rowtime.iter().enumerate().filter(|(_, time)| !matches!(time, Time::Plain));
        let kept = times.next().map(|(i, _)| i);
        if times.next().is_none() {
            return self.select_all();
        }
        let columns = self.columns.iter().enumerate().map(|(i, column)| match self.rowtime[i] {
            Time::Plain => quote(column),
            _ if Some(i) == kept => quote(column),
            _ => format!("CAST({0} AS TIMESTAMP_LTZ(3)) AS {0}", quote(column)),
        });
        format!("SELECT {} FROM {}", columns.collect::<Vec<_>>().join(", "), quote(&self.name))
    }
}

struct Exporter<'p> {
    program: &'p Program,
    text: &'p str,
    options: Options,
    diagnostics: Vec<Diagnostic>,
    statements: Vec<String>,
    lets: HashMap<LetId, Relation>,
    /// The tables a lookup has read so far, created on first use.
    tables: HashMap<TableId, joins::TableViews>,
    views: usize,
}

impl Exporter<'_> {
    fn header(&self, file_name: &str, config: &Config) -> String {
        let mut lines = vec![
            format!("-- Flink SQL exported by flowc from {file_name}."),
            "-- Run it with `sql-client.sh -f FILE`. Timestamps are TIMESTAMP_LTZ(3) in UTC.".to_string(),
            "SET 'execution.runtime-mode' = 'streaming';".to_string(),
            "SET 'table.local-time-zone' = 'UTC';".to_string(),
            format!("SET 'parallelism.default' = '{}';", config.parallelism),
        ];
        if !config.chaining {
            lines.push("SET 'pipeline.operator-chaining.enabled' = 'false';".to_string());
        }
        lines.push(format!(
            "SET 'execution.buffer-timeout.interval' = '{} ms';",
            config.buffer_timeout_nanos / 1_000_000
        ));
        if self.program.pipelines.iter().any(|p| matches!(p.sink.connector, SinkConnector::File { .. })) {
            lines.push(
                "-- The filesystem sink commits its files at checkpoints, and at the end of a bounded job.".to_string(),
            );
            lines.push("SET 'execution.checkpointing.interval' = '10 s';".to_string());
        }
        lines.push("-- Network buffers are cluster settings (config.yaml), not per job:".to_string());
        lines.push(format!("--   taskmanager.memory.segment-size: {}b", config.buffer_size));
        lines.push(format!("--   taskmanager.network.memory.buffers-per-channel: {}", config.buffers_per_channel));
        lines.push(format!("--   taskmanager.network.memory.floating-buffers-per-gate: {}", config.floating_buffers));
        if config.channel_latency_nanos > 0 {
            lines.push("-- channel_latency simulates a slow network; Flink has no such setting.".to_string());
        }
        lines.join("\n") + "\n"
    }

    fn line(&self, span: Span) -> usize {
        line_number(self.text, span.start)
    }

    fn view(
        &mut self,
        base: &str,
        comment: String,
        query: String,
        columns: Vec<String>,
        rowtime: Vec<Time>,
        updating: bool,
    ) -> Relation {
        self.views += 1;
        let name = format!("{base}__{}", self.views);
        self.statements.push(format!("-- {comment}\nCREATE TEMPORARY VIEW {} AS\n{query};", quote(&name)));
        Relation { name, columns, rowtime, updating }
    }

    fn stream(&mut self, stream: &Stream, base: &str) -> Relation {
        let mut relation = match &stream.head {
            StreamHead::Source(id) => {
                let source = &self.program.sources[*id];
                let columns: Vec<String> = source.record.fields().iter().map(|f| f.name.clone()).collect();
                let rowtime = (0..columns.len())
                    .map(|i| match source.watermark.as_ref().is_some_and(|w| w.field == i) {
                        true => Time::Attribute,
                        false => Time::Plain,
                    })
                    .collect();
                Relation { name: source.name.clone(), columns, rowtime, updating: false }
            }
            StreamHead::Let(id) => match self.lets.get(id) {
                Some(relation) => relation.clone(),
                None => {
                    let let_stream = &self.program.lets[*id];
                    let relation = self.stream(&let_stream.stream, &let_stream.name.clone());
                    self.lets.insert(*id, relation.clone());
                    relation
                }
            },
            StreamHead::Union { inputs, span } => {
                let relations: Vec<Relation> = inputs.iter().map(|input| self.stream(input, base)).collect();
                let query = relations.iter().map(Relation::select_all).collect::<Vec<_>>().join("\nUNION ALL\n");
                let first = relations[0].clone();
                let rowtime = (0..first.columns.len())
                    .map(|i| {
                        let times = || relations.iter().map(|r| &r.rowtime[i]);
                        match times().find(|time| !time.is_attribute()) {
                            None => Time::Attribute,
                            Some(_) => {
                                times().find(|time| matches!(time, Time::Lost(_))).unwrap_or(&Time::Plain).clone()
                            }
                        }
                    })
                    .collect();
                let updating = relations.iter().any(|r| r.updating);
                let comment = format!("union (line {})", self.line(*span));
                self.view(base, comment, query, first.columns, rowtime, updating)
            }
        };
        for operator in &stream.operators {
            let line = self.line(operator.span);
            let input_columns = relation.columns.clone();
            let mut translator = Translator::new(Scope::Record { fields: input_columns.clone() });
            let output_columns: Vec<String> = operator.output.fields().iter().map(|f| f.name.clone()).collect();
            if let Some((parallelism, _)) = operator.attributes.parallelism {
                self.statements.push(format!(
                    "-- @parallelism({parallelism}) on {} (line {line}): Flink SQL sets parallelism per job, source and sink only.",
                    operator.kind.display_name()
                ));
            }
            relation = match &operator.kind {
                OperatorKind::Map { fields } => {
                    let selected: Vec<String> = fields
                        .iter()
                        .zip(&output_columns)
                        .map(|(field, name)| {
                            let sql = translator.value(field);
                            let sql = if field.ty == Type::Int { ensure_bigint(&sql) } else { sql };
                            if sql == quote(name) {
                                sql
                            } else {
                                format!("{sql} AS {}", quote(name))
                            }
                        })
                        .collect();
                    let rowtime = fields
                        .iter()
                        .map(|field| match field.kind {
                            TypedExprKind::Field(i) => relation.rowtime[i].clone(),
                            _ => Time::Plain,
                        })
                        .collect();
                    let query = format!("SELECT {}\nFROM {}", selected.join(", "), quote(&relation.name));
                    self.view(base, format!("map (line {line})"), query, output_columns, rowtime, relation.updating)
                }
                OperatorKind::Filter { predicate } => {
                    let condition = translator.sql(predicate);
                    let query = format!("{}\nWHERE {condition}", relation.select_all());
                    let (columns, rowtime) = (relation.columns.clone(), relation.rowtime.clone());
                    self.view(base, format!("filter (line {line})"), query, columns, rowtime, relation.updating)
                }
                OperatorKind::KeyBy { .. } | OperatorKind::Rebalance => {
                    // Flink partitions by the GROUP BY keys itself.
                    relation
                }
                OperatorKind::Broadcast => {
                    self.diagnostics.push(
                        Diagnostic::error(Code::NoFlinkForm, "`broadcast` has no Flink SQL form")
                            .label(operator.keyword, "every record to every subtask")
                            .help("Flink SQL chooses its own partitioning and never copies records; remove `broadcast` to export"),
                    );
                    relation
                }
                OperatorKind::Window { kind, time_field, key, aggregates } => {
                    if relation.updating {
                        self.refuse_after_aggregate(operator.keyword);
                    } else {
                        self.require_time(&relation, *time_field, operator.keyword, "a window needs a time attribute");
                    }
                    let key_sql = translator.sql(&key.expr);
                    let aggregates_sql: Vec<String> =
                        aggregates.iter().map(|aggregate| aggregate_sql(&mut translator, aggregate)).collect();
                    let keyed = self.keyed_view(base, &relation, &key_sql, line);
                    let function = match kind {
                        WindowKind::Tumbling { size_nanos } => {
                            let size = tables::interval(*size_nanos, operator.keyword, &mut self.diagnostics);
                            format!(
                                "TUMBLE(TABLE {}, DESCRIPTOR({}), {size})",
                                quote(&keyed),
                                quote(&input_columns[*time_field])
                            )
                        }
                        WindowKind::Sliding { size_nanos, slide_nanos } => {
                            let size = tables::interval(*size_nanos, operator.keyword, &mut self.diagnostics);
                            let slide = tables::interval(*slide_nanos, operator.keyword, &mut self.diagnostics);
                            format!(
                                "HOP(TABLE {}, DESCRIPTOR({}), {slide}, {size})",
                                quote(&keyed),
                                quote(&input_columns[*time_field])
                            )
                        }
                        // Flink merges each key's sessions apart from the others' only when
                        // the table function is partitioned by the key.
                        WindowKind::Session { gap_nanos } => {
                            let gap = tables::interval(*gap_nanos, operator.keyword, &mut self.diagnostics);
                            format!(
                                "SESSION(TABLE {} PARTITION BY {}, DESCRIPTOR({}), {gap})",
                                quote(&keyed),
                                quote(KEY_COLUMN),
                                quote(&input_columns[*time_field])
                            )
                        }
                    };
                    let mut selected = vec![
                        format!("{} AS {}", quote(KEY_COLUMN), quote(&key.name)),
                        "CAST(window_start AS TIMESTAMP_LTZ(3)) AS `window_start`".to_string(),
                        "CAST(window_end AS TIMESTAMP_LTZ(3)) AS `window_end`".to_string(),
                    ];
                    selected.extend(
                        aggregates_sql
                            .iter()
                            .zip(&output_columns[3..])
                            .map(|(sql, name)| format!("{sql} AS {}", quote(name))),
                    );
                    let query = format!(
                        "SELECT {}\nFROM TABLE({function})\nGROUP BY {}, window_start, window_end",
                        selected.join(", "),
                        quote(KEY_COLUMN)
                    );
                    let rowtime = Time::plain(output_columns.len());
                    self.view(base, format!("window (line {line})"), query, output_columns, rowtime, false)
                }
                OperatorKind::Aggregate { key, aggregates } => {
                    if relation.updating {
                        self.refuse_after_aggregate(operator.keyword);
                    }
                    let key_sql = translator.sql(&key.expr);
                    let aggregates_sql: Vec<String> =
                        aggregates.iter().map(|aggregate| aggregate_sql(&mut translator, aggregate)).collect();
                    let keyed = self.keyed_view(base, &relation, &key_sql, line);
                    let mut selected = vec![format!("{} AS {}", quote(KEY_COLUMN), quote(&key.name))];
                    selected.extend(
                        aggregates_sql
                            .iter()
                            .zip(&output_columns[1..])
                            .map(|(sql, name)| format!("{sql} AS {}", quote(name))),
                    );
                    let query = format!(
                        "SELECT {}\nFROM {}\nGROUP BY {}",
                        selected.join(", "),
                        quote(&keyed),
                        quote(KEY_COLUMN)
                    );
                    let rowtime = Time::plain(output_columns.len());
                    let comment =
                        format!("aggregate (line {line}): a continuous GROUP BY, which Flink emits as a changelog");
                    self.view(base, comment, query, output_columns, rowtime, true)
                }
                OperatorKind::Top { key, count, order } => {
                    if relation.updating {
                        self.refuse_after_aggregate(operator.keyword);
                    }
                    // Flink's Top-N orders by columns: the key and the order's
                    // expressions become columns of a view first.
                    let mut computed = vec![format!("{} AS {}", translator.sql(&key.expr), quote(KEY_COLUMN))];
                    let mut order_by = Vec::new();
                    for (index, sort) in order.iter().enumerate() {
                        let column = format!("flowc_order_{index}");
                        computed.push(format!("{} AS {}", translator.sql(&sort.expr), quote(&column)));
                        order_by.push(format!("{} {}", quote(&column), if sort.descending { "DESC" } else { "ASC" }));
                    }
                    let columns: Vec<String> = input_columns.iter().map(|c| quote(c)).collect();
                    let ordered = format!(
                        "SELECT {}, {}\nFROM {}",
                        columns.join(", "),
                        computed.join(", "),
                        quote(&relation.name)
                    );
                    let mut ordered_columns = input_columns.clone();
                    ordered_columns.push(KEY_COLUMN.to_string());
                    ordered_columns.extend((0..order.len()).map(|index| format!("flowc_order_{index}")));
                    let rowtime = Time::plain(ordered_columns.len());
                    let ordered = self.view(
                        base,
                        format!("the key and order of line {line}"),
                        ordered,
                        ordered_columns,
                        rowtime,
                        false,
                    );
                    let query = format!(
                        "SELECT {}, CAST(`rank` AS BIGINT) AS `rank`\nFROM (\n  SELECT *, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) AS `rank`\n  FROM {}\n)\nWHERE `rank` <= {count}",
                        columns.join(", "),
                        quote(KEY_COLUMN),
                        order_by.join(", "),
                        quote(&ordered.name)
                    );
                    let rowtime = Time::plain(output_columns.len());
                    let comment = format!("top (line {line}): Flink's Top-N, a changelog of each key's ranks");
                    self.view(base, comment, query, output_columns, rowtime, true)
                }
                OperatorKind::Join(join) => self.join(operator, join, relation, base),
                OperatorKind::Lookup { table, key, outer, residual } => {
                    self.lookup(operator, *table, key, *outer, residual.as_ref(), relation, base)
                }
                OperatorKind::Throttle { .. } | OperatorKind::Work { .. } | OperatorKind::Sleep { .. } => {
                    let keyword = &self.text[operator.keyword.start..operator.keyword.end];
                    if self.options.drop_simulation {
                        self.statements.push(format!(
                            "-- dropped: `{keyword}` (line {line}) simulates load; --drop-simulation leaves it out."
                        ));
                    } else {
                        self.diagnostics.push(
                            Diagnostic::error(Code::SimulationOnly, format!("`{keyword}` has no Flink SQL form"))
                                .label(operator.span, "simulates load or a slow system")
                                .help(
                                    "it changes no record, only timing: `flowc export --drop-simulation` leaves it out",
                                ),
                        );
                    }
                    relation
                }
            };
            self.diagnostics.append(&mut translator.diagnostics);
        }
        relation
    }

    /// The input with the key evaluated into its own column, so that the
    /// grouping never clashes with a field of the same name.
    fn keyed_view(&mut self, base: &str, relation: &Relation, key_sql: &str, line: usize) -> String {
        let columns = relation.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let query = format!("SELECT {columns}, {key_sql} AS {}\nFROM {}", quote(KEY_COLUMN), quote(&relation.name));
        let mut keyed_columns = relation.columns.clone();
        keyed_columns.push(KEY_COLUMN.to_string());
        let mut rowtime = relation.rowtime.clone();
        rowtime.push(Time::Plain);
        self.view(base, format!("the key of line {line}"), query, keyed_columns, rowtime, relation.updating).name
    }

    /// Whether `column` is an event-time attribute; if not, the refusal,
    /// saying where it stopped being one when an operator made it plain.
    fn require_time(&mut self, relation: &Relation, column: usize, at: Span, label: &str) -> bool {
        let message = format!("`{}` is not an event-time attribute in Flink", relation.columns[column]);
        let diagnostic = Diagnostic::error(Code::NoFlinkForm, message).label(at, label);
        let diagnostic = match &relation.rowtime[column] {
            Time::Attribute => return true,
            Time::Plain => diagnostic.help(
                "Flink's windows and event-time joins read a source's watermarked column as it is; a computed timestamp has no watermark",
            ),
            Time::Lost(lost) => diagnostic.label(lost.span, lost.label.clone()).help(lost.help.clone()),
        };
        self.diagnostics.push(diagnostic);
        false
    }

    fn refuse_after_aggregate(&mut self, keyword: Span) {
        self.diagnostics.push(
            Diagnostic::error(Code::NoFlinkForm, "Flink cannot group the updates of a running aggregate again")
                .label(keyword, "after an `aggregate`")
                .help("in Flink a running aggregate is a changelog, which windows and aggregates do not read; aggregate once"),
        );
    }
}

/// The column a keyed view adds.
const KEY_COLUMN: &str = "flowc_key";

fn aggregate_sql(translator: &mut Translator<'_>, aggregate: &Aggregate) -> String {
    let arg = aggregate.arg.as_ref().map(|arg| translator.value(arg));
    let call = match (aggregate.function, arg) {
        (AggregateFunction::Count, _) => "COUNT(*)".to_string(),
        (AggregateFunction::Sum, Some(arg)) => format!("SUM({})", ensure_bigint_if(&arg, aggregate.ty == Type::Int)),
        (AggregateFunction::Min, Some(arg)) => format!("MIN({arg})"),
        (AggregateFunction::Max, Some(arg)) => format!("MAX({arg})"),
        // AVG of a BIGINT is a BIGINT in Flink; flowc's average is a float.
        (AggregateFunction::Avg, Some(arg)) => format!("AVG(CAST({arg} AS DOUBLE))"),
        (AggregateFunction::CountDistinct, Some(arg)) => format!("COUNT(DISTINCT {arg})"),
        (_, None) => unreachable!("check gives every aggregate but count an argument"),
    };
    let Some(filter) = &aggregate.filter else { return call };
    let filtered = format!("{call} FILTER (WHERE {})", translator.value(filter));
    match aggregate.function {
        AggregateFunction::Count | AggregateFunction::CountDistinct => filtered,
        // Over no records Flink's SUM, MIN, MAX and AVG are NULL, flowc's
        // the type's zero value.
        _ => format!("COALESCE({filtered}, {})", joins::zero(aggregate.ty)),
    }
}

fn ensure_bigint_if(sql: &str, int: bool) -> String {
    if int {
        ensure_bigint(sql)
    } else {
        sql.to_string()
    }
}

/// An int expression as a BIGINT: Flink types `MOD` and `CHAR_LENGTH` of
/// BIGINTs, and int literals, as INTs.
fn ensure_bigint(sql: &str) -> String {
    if sql.starts_with('`') {
        sql.to_string()
    } else {
        format!("CAST({sql} AS BIGINT)")
    }
}

/// A Flink SQL identifier, quoted: flowc's names include Flink's keywords
/// (`count`, `value`, `user`).
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
