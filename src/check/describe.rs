//! The checked program as text: every stream's record type and row width,
//! operator by operator. `flowc check --schemas` prints it, and golden
//! tests pin it, so a change in type inference or layout shows in review.

use std::fmt::Write;

use crate::diag::line_number;

use super::program::{
    Attributes, JoinTime, OperatorKind, Program, SinkConnector, SourceConnector, Stream, StreamHead, TimestampFormat,
    WindowKind,
};
use super::types::RecordType;
use super::units::{format_duration, format_size};

/// Describes `program`, whose spans point into `text`.
pub fn describe(program: &Program, text: &str) -> String {
    let mut out = String::new();
    let line = |span: crate::diag::Span| line_number(text, span.start);
    let config = &program.config;
    let _ = writeln!(
        out,
        "config: parallelism={} buffer_size={} buffers_per_channel={} floating_buffers={} buffer_timeout={} channel_latency={} chaining={}",
        config.parallelism,
        format_size(config.buffer_size),
        config.buffers_per_channel,
        config.floating_buffers,
        format_duration(config.buffer_timeout_nanos),
        format_duration(config.channel_latency_nanos),
        config.chaining
    );
    for source in &program.sources {
        let connector = match &source.connector {
            SourceConnector::Generate { count, rate_per_second, .. } => {
                let count = count.map_or("unbounded".to_string(), |n| format!("{n} records"));
                let rate = rate_per_second.map_or("as fast as it can".to_string(), |r| format!("{r}/s"));
                format!("generate, {count}, {rate}")
            }
            SourceConnector::File { path, format, on_error, timestamps, .. } => {
                format!("file {path:?} as {format:?}, on error {on_error:?}").to_lowercase()
                    + timestamp_note(*timestamps)
            }
            SourceConnector::Stdin { format, on_error, timestamps, .. } => {
                format!("stdin as {format:?}, on error {on_error:?}").to_lowercase() + timestamp_note(*timestamps)
            }
            SourceConnector::Nexmark(nexmark) => {
                let events = nexmark.events.map_or("unbounded".to_string(), |n| format!("{n} events"));
                let rate = nexmark.rate_per_second.map_or("as fast as it can".to_string(), |r| format!("{r}/s"));
                format!(
                    "nexmark, kind {}, {events} of all kinds, seed {}, event time at {}/s, {rate}",
                    nexmark.kind.name(),
                    nexmark.seed,
                    nexmark.event_rate
                )
            }
        };
        let _ = writeln!(out, "source {} (line {}): {}", source.name, line(source.name_span), connector);
        let _ = writeln!(out, "  {}", record(&source.record));
        if let Some(watermark) = &source.watermark {
            let field = &source.record.fields()[watermark.field].name;
            let every = watermark.every_records.map(|n| format!(", every {n} records")).unwrap_or_default();
            let _ = writeln!(out, "  watermark on {field}, delay {}{every}", format_duration(watermark.delay_nanos));
        }
    }
    for table in &program.tables {
        let path = table.connector.describe();
        let key = &table.record.fields()[table.key_field].name;
        let _ = writeln!(out, "table {} (line {}): {path}, one row per {key}", table.name, line(table.name_span));
        let _ = writeln!(out, "  {}", record(&table.record));
    }
    for let_stream in &program.lets {
        let _ = writeln!(out, "let {} (line {}):", let_stream.name, line(let_stream.name_span));
        describe_stream(&mut out, program, &let_stream.stream, text, 1);
    }
    for (index, pipeline) in program.pipelines.iter().enumerate() {
        let _ = writeln!(out, "pipeline {} (line {}):", index + 1, line(pipeline.span));
        describe_stream(&mut out, program, &pipeline.stream, text, 1);
        let sink = match &pipeline.sink.connector {
            SinkConnector::Print => "print".to_string(),
            SinkConnector::Discard => "discard".to_string(),
            SinkConnector::File { path, format, .. } => format!("file {path:?} as {format:?}").to_lowercase(),
            SinkConnector::Postgres(postgres) => postgres_sink(postgres, &pipeline.sink.input),
        };
        let _ = writeln!(out, "  | sink {sink}{}", attributes(&pipeline.sink.attributes));
    }
    out
}

fn postgres_sink(sink: &crate::check::program::PostgresSink, record: &crate::check::types::RecordType) -> String {
    let mode = match &sink.mode {
        crate::check::program::WriteMode::Insert => "insert".to_string(),
        crate::check::program::WriteMode::Upsert { key, .. } => format!(
            "upsert by {}",
            key.iter().map(|&field| record.fields()[field].name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    format!(
        "postgres table {:?}, {mode}, {} rows per transaction, flushed after {}{}",
        sink.target.table,
        sink.batch_size,
        crate::check::units::format_duration(sink.flush_interval_nanos),
        if sink.create_table { ", created if missing" } else { "" }
    )
}

fn describe_stream(out: &mut String, program: &Program, stream: &Stream, text: &str, depth: usize) {
    let indent = "  ".repeat(depth);
    match &stream.head {
        StreamHead::Source(id) => {
            let _ = writeln!(out, "{indent}{}  {}", program.sources[*id].name, record(&program.sources[*id].record));
        }
        StreamHead::Let(id) => {
            let _ = writeln!(out, "{indent}{}  {}", program.lets[*id].name, record(&program.lets[*id].stream.record));
        }
        StreamHead::Union { inputs, .. } => {
            let _ = writeln!(out, "{indent}union of {}:", inputs.len());
            for input in inputs {
                describe_stream(out, program, input, text, depth + 1);
            }
        }
    }
    for operator in &stream.operators {
        let detail = match &operator.kind {
            OperatorKind::KeyBy { key } => format!(" by {}: {}", key.name, key.expr.ty),
            OperatorKind::Window { kind: WindowKind::Tumbling { size_nanos }, .. } => {
                format!(" {}", format_duration(*size_nanos))
            }
            OperatorKind::Window { kind: WindowKind::Sliding { size_nanos, slide_nanos }, .. } => {
                format!(" {} every {}", format_duration(*size_nanos), format_duration(*slide_nanos))
            }
            OperatorKind::Window { kind: WindowKind::Session { gap_nanos }, .. } => {
                format!(" with a gap of {}", format_duration(*gap_nanos))
            }
            OperatorKind::Throttle { per_second } => format!(" {per_second}/s"),
            OperatorKind::Work { nanos } | OperatorKind::Sleep { nanos } => format!(" {}", format_duration(*nanos)),
            OperatorKind::Join(join) => {
                let time = match join.time {
                    JoinTime::Interval { lower, upper } => {
                        format!(" in [{}, {}]", format_duration(lower), format_duration(upper))
                    }
                    JoinTime::Window(WindowKind::Tumbling { size_nanos }) => {
                        format!(" in tumbling {}", format_duration(size_nanos))
                    }
                    JoinTime::Window(WindowKind::Sliding { size_nanos, slide_nanos }) => {
                        format!(" in sliding {} every {}", format_duration(size_nanos), format_duration(slide_nanos))
                    }
                    JoinTime::Window(WindowKind::Session { .. }) => unreachable!("check refuses session joins"),
                    JoinTime::Unbounded => String::new(),
                };
                format!(
                    "{}{time} by {} = {}: {}",
                    if join.outer { " left" } else { "" },
                    join.left_key.name,
                    join.right_key.name,
                    join.left_key.expr.ty
                )
            }
            OperatorKind::Lookup { table, outer, .. } => {
                format!("{} {}", if *outer { " left" } else { "" }, program.tables[*table].name)
            }
            OperatorKind::Top { count, order, .. } => {
                let order: Vec<String> = order
                    .iter()
                    .map(|key| {
                        format!(
                            "{} {}",
                            &text[key.expr.span.start..key.expr.span.end],
                            if key.descending { "desc" } else { "asc" }
                        )
                    })
                    .collect();
                format!(" {count} by {}", order.join(", "))
            }
            OperatorKind::Map { .. }
            | OperatorKind::Filter { .. }
            | OperatorKind::Rebalance
            | OperatorKind::Broadcast
            | OperatorKind::Aggregate { .. } => String::new(),
        };
        let attributes = attributes(&operator.attributes);
        if let OperatorKind::Join(join) = &operator.kind {
            let _ = writeln!(out, "{indent}  joined with:");
            describe_stream(out, program, &join.right, text, depth + 2);
        }
        let _ = writeln!(
            out,
            "{indent}| {}{detail}{attributes} (line {})  {}",
            operator.kind.display_name(),
            line_number(text, operator.keyword.start),
            record(&operator.output)
        );
    }
}

fn attributes(attributes: &Attributes) -> String {
    let mut out = String::new();
    if let Some((n, _)) = attributes.parallelism {
        let _ = write!(out, " @parallelism({n})");
    }
    if let Some(name) = &attributes.name {
        let _ = write!(out, " @name({name:?})");
    }
    if attributes.new_chain.is_some() {
        out.push_str(" @new_chain");
    }
    if attributes.no_chain.is_some() {
        out.push_str(" @no_chain");
    }
    if let Some(calls) = attributes.async_calls {
        let _ = write!(out, " @async(capacity = {}, ordered = {})", calls.capacity, calls.ordered);
    }
    out
}

fn record(record: &RecordType) -> String {
    format!("{record} ({} B/row)", record.layout().width)
}

fn timestamp_note(timestamps: TimestampFormat) -> &'static str {
    match timestamps {
        TimestampFormat::Rfc3339 => "",
        TimestampFormat::EpochMillis => ", timestamps in epoch milliseconds",
    }
}
