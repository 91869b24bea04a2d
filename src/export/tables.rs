//! Sources and sinks as Flink tables, column types, and time constants as
//! SQL intervals.

use crate::check::program::{
    Attributes, Format, OnError, PostgresSink, Sink, SinkConnector, Source, SourceConnector, Table, TableSource,
    TimestampFormat, WriteMode,
};
use crate::check::types::{Field, Type};
use crate::diag::{line_number, Code, Diagnostic, Span};

use super::expr::{string_literal, Scope, Translator};
use super::quote;

/// The column that numbers a generator's records (flowc's `seq`).
const SEQ_COLUMN: &str = "flowc_seq";
/// Datagen's `rows-per-second` for a source without a rate: as fast as it goes.
const UNTHROTTLED_ROWS_PER_SECOND: u64 = 1_000_000_000;

pub fn column_type(ty: Type) -> Option<&'static str> {
    match ty {
        Type::Int => Some("BIGINT"),
        Type::Float => Some("DOUBLE"),
        Type::Bool => Some("BOOLEAN"),
        Type::String => Some("STRING"),
        Type::Timestamp => Some("TIMESTAMP_LTZ(3)"),
        Type::Duration => None,
    }
}

fn no_duration_columns(fields: &[Field], span: Span, what: &str, diagnostics: &mut Vec<Diagnostic>) -> bool {
    match fields.iter().find(|field| field.ty == Type::Duration) {
        Some(field) => {
            diagnostics.push(
                Diagnostic::error(Code::NoFlinkForm, format!("{what} has a duration field, `{}`, which Flink cannot hold", field.name))
                    .label(span, format!("`{}` is a duration", field.name))
                    .help("Flink has no duration type that reads and writes like flowc's (`250ms`); use an int of nanoseconds"),
            );
            false
        }
        None => true,
    }
}

/// `CREATE TABLE` for a source, and for a csv file the view that drops its
/// header line; the stream reads the last statement's name.
pub fn source_table(source: &Source, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    file_table(source, "source", false, text, diagnostics)
}

/// The column of a lookup table's one version.
pub const VERSION_COLUMN: &str = "flowc_version";
/// The version time of every row of a lookup table, in milliseconds since
/// the epoch: older than any flowc timestamp (nanoseconds in an i64 reach
/// back to 1677-09-21), so that every record finds every row.
const VERSION_MILLIS: i64 = -9_223_372_036_855;

/// A lookup `table` as Flink reads it: the file as a table (through the view
/// that drops its header) with a constant version time `flowc_version` that
/// carries a watermark, and a deduplicating view over it, which Flink takes
/// as a versioned table for an event-time temporal join. Returns the
/// statements, the name of the rows and the name of the versioned view.
pub fn lookup_table(table: &Table, text: &str, diagnostics: &mut Vec<Diagnostic>) -> (Vec<String>, String, String) {
    let connector = match &table.connector {
        TableSource::File(connector) => connector.clone(),
        TableSource::Postgres { .. } => {
            diagnostics.push(
                Diagnostic::error(Code::NoFlinkForm, "a lookup of a PostgreSQL table is not exported yet")
                    .label(table.span, "a PostgreSQL table")
                    .help("Flink's form is a JDBC table joined `FOR SYSTEM_TIME AS OF` a processing-time attribute, whose answers depend on when each record arrives; export the table to a file and read it with `file(…)` to compare the engines"),
            );
            return (Vec::new(), table.name.clone(), table.name.clone());
        }
    };
    let source = Source {
        name: table.name.clone(),
        name_span: table.name_span,
        span: table.span,
        schema_name: String::new(),
        record: table.record.clone(),
        connector,
        attributes: Attributes::default(),
        watermark: None,
    };
    let mut statements = file_table(&source, "table", true, text, diagnostics);
    let versioned = format!("{}__versioned", table.name);
    if !statements.is_empty() {
        let names = table.record.fields().iter().map(|field| quote(&field.name)).collect::<Vec<_>>().join(", ");
        let version = quote(VERSION_COLUMN);
        statements.push(format!(
            "-- `{}` as a versioned table: one version per key, older than any record, so that every record sees the whole table\n\
             CREATE TEMPORARY VIEW {} AS\n\
             SELECT {names}, {version} FROM (\n  \
             SELECT *, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {version} DESC) AS `flowc_row` FROM {}\n\
             )\nWHERE `flowc_row` = 1;",
            table.name,
            quote(&versioned),
            quote(&table.record.fields()[table.key_field].name),
            quote(&table.name),
        ));
    }
    (statements, table.name.clone(), versioned)
}

/// `CREATE TABLE` for a source or a lookup table (`what`), and for a csv
/// file the view that drops its header line, which keeps the name.
fn file_table(
    source: &Source,
    what: &str,
    version: bool,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let fields = source.record.fields();
    if !no_duration_columns(fields, source.name_span, &format!("{what} `{}`", source.name), diagnostics) {
        return Vec::new();
    }
    let comment = format!("-- {what} `{}` (line {})", source.name, line_number(text, source.span.start));
    let mut columns = Vec::new();
    let mut options = Vec::new();
    let mut header_view = None;
    match &source.connector {
        SourceConnector::Generate { count, rate_per_second, fields: exprs } => {
            let Some(count) = count else {
                diagnostics.push(
                    Diagnostic::error(Code::NoFlinkForm, "a `generate` without `count` has no Flink datagen form")
                        .label(source.span, "unbounded")
                        .help("Flink's datagen `sequence` needs an end: give `generate(count = …)`"),
                );
                return Vec::new();
            };
            columns.push(format!("{} BIGINT", quote(SEQ_COLUMN)));
            let mut translator = Translator::new(Scope::Generator { seq_column: SEQ_COLUMN });
            for (field, expr) in fields.iter().zip(exprs) {
                let sql = translator.value(expr);
                let sql = match field.ty {
                    Type::Int => format!("CAST({sql} AS BIGINT)"),
                    _ => sql,
                };
                columns.push(format!("{} AS {sql}", quote(&field.name)));
            }
            diagnostics.append(&mut translator.diagnostics);
            let rows_per_second = match rate_per_second {
                Some(rate) => (rate.ceil() as u64).max(1),
                None => UNTHROTTLED_ROWS_PER_SECOND,
            };
            options.extend([
                ("connector", "datagen".to_string()),
                ("fields.flowc_seq.kind", "sequence".to_string()),
                ("fields.flowc_seq.start", "0".to_string()),
                ("fields.flowc_seq.end", count.saturating_sub(1).to_string()),
                ("rows-per-second", rows_per_second.to_string()),
            ]);
            if let Some((parallelism, _)) = source.attributes.parallelism {
                options.push(("scan.parallelism", parallelism.to_string()));
            }
        }
        SourceConnector::File { path, format: Format::Jsonl, on_error, timestamps, .. } => {
            refuse_skip(*on_error, source.span, diagnostics);
            if *timestamps == TimestampFormat::EpochMillis && fields.iter().any(|field| field.ty == Type::Timestamp) {
                diagnostics.push(
                    Diagnostic::error(Code::NoFlinkForm, "Flink's json format reads timestamps only as text")
                        .label(source.span, "reads epoch milliseconds from JSON numbers")
                        .help("read the member as an `int` and convert it in a `map` (`epoch + ms * 1ms`), or export a csv source"),
                );
            }
            for field in fields {
                columns.push(format!("{} {}", quote(&field.name), column_type(field.ty).expect("no durations")));
            }
            options.extend([
                ("connector", "filesystem".to_string()),
                ("path", path.clone()),
                ("format", "json".to_string()),
                ("json.timestamp-format.standard", "ISO-8601".to_string()),
                ("json.fail-on-missing-field", "true".to_string()),
            ]);
        }
        SourceConnector::File { path, format: Format::Csv, on_error, header, timestamps, .. } => {
            refuse_skip(*on_error, source.span, diagnostics);
            // Flink's csv format reads columns by position and cannot skip a
            // header line, so every column is read as text and typed by a
            // computed column that leaves the header line alone; a view then
            // drops it.
            for field in fields {
                columns.push(format!("{} STRING", quote(&text_column(&field.name))));
            }
            for field in fields {
                let raw = quote(&text_column(&field.name));
                let typed = match field.ty {
                    Type::String => raw.clone(),
                    Type::Timestamp if *timestamps == TimestampFormat::EpochMillis => {
                        format!("TO_TIMESTAMP_LTZ(CAST({raw} AS BIGINT), 3)")
                    }
                    Type::Timestamp => format!(
                        "CAST(CAST(REPLACE(REPLACE({raw}, 'T', ' '), 'Z', '') AS TIMESTAMP(3)) AS TIMESTAMP_LTZ(3))"
                    ),
                    ty => format!("CAST({raw} AS {})", column_type(ty).expect("no durations")),
                };
                let typed = match (header, field.ty) {
                    (false, _) | (true, Type::String) => typed,
                    // The header line's time is the epoch, which never moves a watermark.
                    (true, Type::Timestamp) => format!(
                        "CASE WHEN {raw} = {} THEN TO_TIMESTAMP_LTZ(0, 3) ELSE {typed} END",
                        string_literal(&field.name)
                    ),
                    (true, _) => {
                        format!("CASE WHEN {raw} = {} THEN NULL ELSE {typed} END", string_literal(&field.name))
                    }
                };
                columns.push(format!("{} AS {typed}", quote(&field.name)));
            }
            options.extend([
                ("connector", "filesystem".to_string()),
                ("path", path.clone()),
                ("format", "csv".to_string()),
            ]);
            if *header {
                let is_header = fields
                    .iter()
                    .map(|field| format!("{} = {}", quote(&text_column(&field.name)), string_literal(&field.name)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let mut names = fields.iter().map(|field| quote(&field.name)).collect::<Vec<_>>().join(", ");
                if version {
                    names.push_str(&format!(", {}", quote(VERSION_COLUMN)));
                }
                header_view = Some(format!(
                    "-- `{}` without its header line\nCREATE TEMPORARY VIEW {} AS\nSELECT {names} FROM {}\nWHERE NOT ({is_header});",
                    source.name,
                    quote(&source.name),
                    quote(&table_name(source))
                ));
            }
        }
        SourceConnector::Nexmark(nexmark) => {
            // Flink's own `nexmark` connector draws other events (its
            // generator's random numbers are unseeded), and a filesystem
            // table needs a file this program never names: refused rather
            // than pointed at a file nobody asked to be written.
            let kind = nexmark.kind.name();
            diagnostics.push(
                Diagnostic::error(Code::NoFlinkForm, "a `nexmark` source has no Flink form that reads the same events")
                    .label(source.span, "flowc's own Nexmark events")
                    .help(format!(
                        "Flink's nexmark connector draws other random events; write these once with \
                         `{} | sink file(\"{kind}.csv\")` and export a program that reads them with \
                         `file(\"{kind}.csv\")`, so both engines read the same records",
                        source.name
                    )),
            );
            return Vec::new();
        }
        SourceConnector::Stdin { .. } => {
            diagnostics.push(
                Diagnostic::error(Code::NoFlinkForm, "`stdin` has no Flink connector")
                    .label(source.span, "standard input")
                    .help("a Flink job reads from a system: write the input to a file and read it with `file(…)`"),
            );
            return Vec::new();
        }
    }
    if version {
        let column = quote(VERSION_COLUMN);
        columns.push(format!("{column} AS TO_TIMESTAMP_LTZ({VERSION_MILLIS}, 3)"));
        columns.push(format!("WATERMARK FOR {column} AS {column}"));
    }
    if let Some(watermark) = &source.watermark {
        if watermark.every_records.is_some() {
            diagnostics.push(
                Diagnostic::error(Code::NoFlinkForm, "`@watermark(every = …)` has no Flink form")
                    .label(watermark.span, "a watermark after a count of records")
                    .help("Flink emits watermarks on a timer (`pipeline.auto-watermark-interval`); remove `every`"),
            );
        }
        // flowc closes a window ending at `end` once its watermark reaches
        // `end`; Flink once its watermark reaches the window's last
        // millisecond, `end - 1 ms`. One millisecond less on Flink's side
        // closes the same windows, and leaves a record as late as flowc
        // does (with `delay = 0s`, records sharing the newest millisecond
        // are not late in flowc, and would be in Flink).
        let delay = interval(watermark.delay_nanos.saturating_add(1_000_000), watermark.span, diagnostics);
        let field = quote(&fields[watermark.field].name);
        columns.push(format!("WATERMARK FOR {field} AS {field} - {delay}"));
    }
    let name = if header_view.is_some() { table_name(source) } else { source.name.clone() };
    let options = with_options(&options);
    let table =
        format!("{comment}\nCREATE TABLE {} (\n  {}\n) WITH (\n{options}\n);", quote(&name), columns.join(",\n  "));
    std::iter::once(table).chain(header_view).collect()
}

/// A csv source's table, when a view of the source's own name drops its header.
fn table_name(source: &Source) -> String {
    format!("{}__file", source.name)
}

fn text_column(field: &str) -> String {
    format!("{field}__text")
}

fn refuse_skip(on_error: OnError, span: Span, diagnostics: &mut Vec<Diagnostic>) {
    if on_error == OnError::Skip {
        diagnostics.push(
            Diagnostic::error(Code::NoFlinkForm, "`on_error = skip` has no faithful Flink form")
                .label(span, "skips bad lines")
                .help("Flink's `ignore-parse-errors` keeps a bad line with nulls in it rather than skipping it; export with `on_error = fail`"),
        );
    }
}

/// A `postgres://user@host:port/db` URL as JDBC's, and its user; a
/// `key=value` string's host, port, dbname and user likewise. Without a URL
/// the program's server comes from the environment, which an export does
/// not read: the default local server stands in, and a note says so.
fn jdbc_url(connection: Option<&str>) -> (String, Option<String>) {
    let Some(connection) = connection else { return ("jdbc:postgresql://localhost:5432/".into(), None) };
    let mut host = "localhost".to_string();
    let (mut port, mut database, mut user) = (None, String::new(), None);
    if let Some(rest) = connection.strip_prefix("postgres://").or_else(|| connection.strip_prefix("postgresql://")) {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        database = path.split('?').next().unwrap_or("").to_string();
        let hostport = match authority.rsplit_once('@') {
            Some((credentials, hostport)) => {
                user = Some(credentials.split(':').next().unwrap_or("").to_string()).filter(|u| !u.is_empty());
                hostport
            }
            None => authority,
        };
        match hostport.rsplit_once(':') {
            Some((h, p)) => {
                host = h.to_string();
                port = Some(p.to_string());
            }
            None if !hostport.is_empty() => host = hostport.to_string(),
            None => {}
        }
    } else {
        for pair in connection.split_whitespace() {
            match pair.split_once('=') {
                Some(("host", value)) => host = value.to_string(),
                Some(("port", value)) => port = Some(value.to_string()),
                Some(("dbname", value)) => database = value.to_string(),
                Some(("user", value)) => user = Some(value.to_string()),
                _ => {}
            }
        }
    }
    (format!("jdbc:postgresql://{host}:{}/{database}", port.as_deref().unwrap_or("5432")), user)
}

/// A duration as a Flink option value: `100 ms`, `1 s`.
fn interval_option(nanos: i64) -> String {
    if nanos % 1_000_000_000 == 0 {
        format!("{} s", nanos / 1_000_000_000)
    } else {
        format!("{} ms", (nanos / 1_000_000).max(1))
    }
}

/// `CREATE TABLE` for a pipeline's sink.
pub fn sink_table(name: &str, sink: &Sink, updating: bool, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    let fields = sink.input.fields();
    if !no_duration_columns(fields, sink.keyword, "the sink's input", diagnostics) {
        return None;
    }
    let mut options = match &sink.connector {
        SinkConnector::Print => vec![("connector", "print".to_string()), ("print-identifier", name.to_string())],
        SinkConnector::Discard => vec![("connector", "blackhole".to_string())],
        SinkConnector::File { path, format, .. } => {
            if updating {
                diagnostics.push(
                    Diagnostic::error(Code::NoFlinkForm, "Flink's filesystem sink cannot write a running aggregate")
                        .label(sink.span, "a changelog of updates")
                        .help("in Flink a running aggregate is a changelog, and files take only appends: `sink print`, or a window"),
                );
                return None;
            }
            let mut options = vec![("connector", "filesystem".to_string()), ("path", path.clone())];
            match format {
                Format::Jsonl => {
                    options.push(("format", "json".to_string()));
                    options.push(("json.timestamp-format.standard", "ISO-8601".to_string()));
                }
                Format::Csv => options.push(("format", "csv".to_string())),
            }
            options
        }
        SinkConnector::Postgres(postgres) => {
            if updating && postgres.mode == WriteMode::Insert {
                diagnostics.push(
                    Diagnostic::error(Code::NoFlinkForm, "an insert into PostgreSQL cannot take a running aggregate")
                        .label(sink.span, "a changelog of updates")
                        .help(
                            "Flink's JDBC sink applies updates only with a primary key: write `mode = upsert, key = …`",
                        ),
                );
                return None;
            }
            let (url, user) = jdbc_url(postgres.target.connection.as_deref());
            let mut options = vec![
                ("connector", "jdbc".to_string()),
                ("url", url),
                ("table-name", postgres.target.table.clone()),
                ("sink.buffer-flush.max-rows", postgres.batch_size.to_string()),
                ("sink.buffer-flush.interval", interval_option(postgres.flush_interval_nanos)),
            ];
            if let Some(user) = user {
                options.push(("username", user));
            }
            options
        }
    };
    let mut parallelism_note = "";
    if let Some((parallelism, _)) = sink.attributes.parallelism {
        if updating {
            parallelism_note =
                "\n-- @parallelism is left out: Flink changes a changelog's parallelism only with a primary key.";
        } else {
            options.push(("sink.parallelism", parallelism.to_string()));
        }
    }
    let mut columns = fields
        .iter()
        .map(|field| format!("{} {}", quote(&field.name), column_type(field.ty).expect("no durations")))
        .collect::<Vec<_>>();
    if let SinkConnector::Postgres(PostgresSink { mode: WriteMode::Upsert { key, .. }, .. }) = &sink.connector {
        let key = key.iter().map(|&field| quote(&fields[field].name)).collect::<Vec<_>>().join(", ");
        columns.push(format!("PRIMARY KEY ({key}) NOT ENFORCED"));
    }
    let columns = columns.join(",\n  ");
    let options = with_options(&options);
    let note = match &sink.connector {
        SinkConnector::File { .. } => {
            "\n-- Flink writes a directory of part files at this path, csv without a header line."
        }
        SinkConnector::Print => {
            "\n-- Flink prints rows as `+I[…]`, updates as `-U[…]`/`+U[…]`, to the task managers' stdout."
        }
        SinkConnector::Discard => "",
        SinkConnector::Postgres(postgres) if postgres.target.connection.is_none() => {
            "\n-- Flink's JDBC connector (flink-connector-jdbc and the PostgreSQL driver, which PyFlink does not ship) needs these jars.\n-- The program reaches its server through the PG* environment variables: write its URL in `url` below."
        }
        SinkConnector::Postgres(_) => {
            "\n-- Flink's JDBC connector (flink-connector-jdbc and the PostgreSQL driver, which PyFlink does not ship) needs these jars."
        }
    };
    Some(format!(
        "-- sink{note}{parallelism_note}\nCREATE TABLE {} (\n  {columns}\n) WITH (\n{options}\n);",
        quote(name)
    ))
}

/// A positive duration as an interval literal in the largest exact unit.
/// Flink keeps milliseconds, so anything finer is refused.
pub fn interval(nanos: i64, span: Span, diagnostics: &mut Vec<Diagnostic>) -> String {
    const MILLI: i64 = 1_000_000;
    if nanos % MILLI != 0 {
        diagnostics.push(
            Diagnostic::error(Code::NoFlinkForm, "Flink keeps time in milliseconds; this duration is finer")
                .label(span, "not a whole number of milliseconds")
                .help("use whole milliseconds"),
        );
        return "INTERVAL '0' SECOND".to_string();
    }
    let millis = nanos / MILLI;
    let (value, unit) = [(86_400_000, "DAY"), (3_600_000, "HOUR"), (60_000, "MINUTE"), (1_000, "SECOND")]
        .iter()
        .find(|(size, _)| millis % size == 0)
        .map(|(size, unit)| ((millis / size).to_string(), *unit))
        .unwrap_or_else(|| (format!("{}.{:03}", millis / 1000, millis % 1000), "SECOND"));
    // An interval's leading field holds two digits unless told otherwise.
    let digits = value.split('.').next().map_or(1, str::len);
    if digits > 2 {
        let fraction = if value.contains('.') { ", 3" } else { "" };
        format!("INTERVAL '{value}' {unit}({digits}{fraction})")
    } else {
        format!("INTERVAL '{value}' {unit}")
    }
}

/// The lines of a `WITH ( … )` clause.
fn with_options(options: &[(&str, String)]) -> String {
    options
        .iter()
        .map(|(key, value)| format!("  {} = {}", string_literal(key), string_literal(value)))
        .collect::<Vec<_>>()
        .join(",\n")
}
