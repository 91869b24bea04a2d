//! Source and sink connectors: `generate`, `file`, `stdin` (and `nexmark`,
//! checked in `nexmark.rs`); `print`, `file`, `discard` (and `postgres`,
//! checked in `postgres.rs`). Their arguments,
//! defaults, and generator bodies.

use std::sync::Arc;

use crate::diag::{did_you_mean, one_of, Code, Diagnostic, Span};
use crate::syntax::ast::{Call, SourceDecl};

use super::args::{bind, Bound, Param};
use super::constant::{expect, require_positive, Const, Expected};
use super::expr::{check_expr, expect_type, Scope};
use super::program::{Format, OnError, SinkConnector, SourceConnector, TimestampFormat, TypedExpr};
use super::types::RecordType;

pub const SOURCE_CONNECTORS: &[&str] = &["generate", "file", "stdin", "nexmark"];
pub const SINK_CONNECTORS: &[&str] = &["print", "file", "discard", "postgres"];

/// What one connector is, for the checker and the planner: its arguments
/// and how many subtasks may run it.
#[derive(Debug)]
pub struct ConnectorSpec {
    pub name: &'static str,
    pub params: &'static [Param],
    /// How a call looks, for errors.
    pub usage: &'static str,
    /// Why it runs as one subtask whatever the parallelism, if it does.
    pub one_subtask: Option<&'static str>,
}

const READ_OPTIONS: [Param; 3] = [Param::named("on_error"), Param::named("header"), Param::named("timestamp_format")];

pub const GENERATE: ConnectorSpec = ConnectorSpec {
    name: "generate",
    params: &[Param::named("count"), Param::named("rate")],
    usage: "generate(count = 1000, rate = 100/s) { … }",
    one_subtask: None,
};
pub const FILE_SOURCE: ConnectorSpec = ConnectorSpec {
    name: "file",
    params: &[Param::positional("path"), Param::named("format"), READ_OPTIONS[0], READ_OPTIONS[1], READ_OPTIONS[2]],
    usage: "file(\"in.csv\")",
    one_subtask: Some("a file source reads its file in order, as one subtask"),
};
pub const STDIN: ConnectorSpec = ConnectorSpec {
    name: "stdin",
    params: &[Param::required("format"), READ_OPTIONS[0], READ_OPTIONS[1], READ_OPTIONS[2]],
    usage: "stdin(format = jsonl)",
    one_subtask: Some("standard input is read by one subtask"),
};
pub const PRINT: ConnectorSpec = ConnectorSpec { name: "print", params: &[], usage: "print", one_subtask: None };
pub const DISCARD: ConnectorSpec = ConnectorSpec { name: "discard", params: &[], usage: "discard", one_subtask: None };
pub const FILE_SINK: ConnectorSpec = ConnectorSpec {
    name: "file",
    params: &[Param::positional("path"), Param::named("format")],
    usage: "file(\"out.csv\")",
    one_subtask: Some("a file sink writes one file, from one subtask"),
};

impl SourceConnector {
    pub fn spec(&self) -> &'static ConnectorSpec {
        match self {
            SourceConnector::Generate { .. } => &GENERATE,
            SourceConnector::File { .. } => &FILE_SOURCE,
            SourceConnector::Stdin { .. } => &STDIN,
            SourceConnector::Nexmark(_) => &super::nexmark::NEXMARK,
        }
    }
}

impl SinkConnector {
    pub fn spec(&self) -> &'static ConnectorSpec {
        match self {
            SinkConnector::Print => &PRINT,
            SinkConnector::Discard => &DISCARD,
            SinkConnector::File { .. } => &FILE_SINK,
            SinkConnector::Postgres(_) => &super::postgres::SINK,
        }
    }
}

const FORMATS: &[&str] = &["csv", "jsonl"];
const ON_ERROR: &[&str] = &["fail", "skip"];
const TIMESTAMP_FORMATS: &[&str] = &["rfc3339", "epoch_millis"];

/// Checks a source's connector, its arguments and its body against the
/// source's record type (whose fields the schema declares at `field_spans`).
pub fn check_source_connector(
    decl: &SourceDecl,
    record: &Arc<RecordType>,
    field_spans: &super::nexmark::FieldSpans,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<SourceConnector> {
    let call = &decl.connector;
    let name = call.name.name.as_str();
    match name {
        "nexmark" => super::nexmark::check_nexmark(decl, record, field_spans, diagnostics),
        "generate" => {
            let bound = bind(&call.args, GENERATE.params, name, call.span, GENERATE.usage, diagnostics);
            let Some(body) = &decl.body else {
                diagnostics.push(
                    Diagnostic::error(Code::SourceBody, "a generator needs a body that computes each field")
                        .label(call.span, "no body")
                        .help(format!("add a body after the call: `{{ {} }}`", example_body(record))),
                );
                return None;
            };
            let fields = check_generator_body(decl, body, record, diagnostics);
            let bound = bound?;
            let count = match bound.get("count") {
                None => None,
                Some(expr) => match expect(expr, Expected::Int, Code::BadArgument, "`count`", diagnostics)? {
                    Const::Int(n) if require_positive(n > 0, expr.span, "`count`", diagnostics) => Some(n as u64),
                    _ => return None,
                },
            };
            let rate_per_second = match bound.get("rate") {
                None => None,
                Some(expr) => match expect(expr, Expected::Rate, Code::BadArgument, "`rate`", diagnostics)? {
                    Const::Rate(r) if require_positive(r > 0.0, expr.span, "`rate`", diagnostics) => Some(r),
                    _ => return None,
                },
            };
            Some(SourceConnector::Generate { count, rate_per_second, fields: fields? })
        }
        "file" | "stdin" => {
            if let Some(body) = &decl.body {
                let span = body_span(body).unwrap_or(call.span);
                diagnostics.push(
                    Diagnostic::error(
                        Code::SourceBody,
                        format!("a `{name}` source reads its fields from the input and takes no body"),
                    )
                    .label(span, "remove this body")
                    .help("compute new fields with a `map` after the source"),
                );
                return None;
            }
            let spec = if name == "file" { &FILE_SOURCE } else { &STDIN };
            let (params, usage) = (spec.params, spec.usage);
            let bound = bind(&call.args, params, name, call.span, usage, diagnostics)?;
            let path = if name == "file" {
                let expr = bound.get("path").expect("required");
                let Const::Str(path) = expect(expr, Expected::Str, Code::BadArgument, "the path", diagnostics)? else {
                    return None;
                };
                Some((path, expr.span))
            } else {
                None
            };
            let format = file_format(&bound, path.as_ref().map(|(p, s)| (p.as_str(), *s)), diagnostics)?;
            let on_error = match bound.get("on_error") {
                None => OnError::Fail,
                Some(expr) => {
                    match expect(expr, Expected::Word(ON_ERROR), Code::BadArgument, "`on_error`", diagnostics)? {
                        Const::Word(word) if word == "skip" => OnError::Skip,
                        _ => OnError::Fail,
                    }
                }
            };
            let header = match bound.get("header") {
                None => format == Format::Csv,
                Some(expr) => {
                    let Const::Bool(header) = expect(expr, Expected::Bool, Code::BadArgument, "`header`", diagnostics)?
                    else {
                        return None;
                    };
                    if format != Format::Csv {
                        diagnostics.push(
                            Diagnostic::error(Code::BadArgument, "`header` applies only to csv")
                                .label(expr.span, "the input is jsonl")
                                .help("jsonl names every field in every line; remove `header`"),
                        );
                        return None;
                    }
                    header
                }
            };
            let timestamps = match bound.get("timestamp_format") {
                None => TimestampFormat::Rfc3339,
                Some(expr) => match expect(
                    expr,
                    Expected::Word(TIMESTAMP_FORMATS),
                    Code::BadArgument,
                    "`timestamp_format`",
                    diagnostics,
                )? {
                    Const::Word(word) if word == "epoch_millis" => TimestampFormat::EpochMillis,
                    _ => TimestampFormat::Rfc3339,
                },
            };
            Some(match path {
                Some((path, path_span)) => {
                    SourceConnector::File { path, path_span, format, on_error, header, timestamps }
                }
                None => SourceConnector::Stdin { format, on_error, header, timestamps },
            })
        }
        _ => {
            diagnostics.push(unknown_connector(call, SOURCE_CONNECTORS, "source"));
            None
        }
    }
}

/// Types each `field = expr` of a generator body in field order, reporting
/// unknown, repeated and missing fields.
fn check_generator_body(
    decl: &SourceDecl,
    body: &[crate::syntax::ast::Assignment],
    record: &Arc<RecordType>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<TypedExpr>> {
    let scope = Scope { record: &RecordType::new(Vec::new()), in_generator: true };
    let mut fields: Vec<Option<TypedExpr>> = vec![None; record.fields().len()];
    let mut assigned: Vec<Option<Span>> = vec![None; record.fields().len()];
    let mut ok = true;
    for assignment in body {
        let name = &assignment.name;
        let Some(index) = record.field_index(&name.name) else {
            diagnostics.push(
                Diagnostic::error(
                    Code::UnknownField,
                    format!("`{}` is not a field of `{}`", name.name, decl.schema.name),
                )
                .label(name.span, "not in the schema")
                .help(
                    did_you_mean(&name.name, record.field_names())
                        .unwrap_or_else(|| format!("the schema's fields are {record}")),
                ),
            );
            ok = false;
            continue;
        };
        if let Some(previous) = assigned[index] {
            diagnostics.push(
                Diagnostic::error(Code::DuplicateField, format!("`{}` is assigned twice", name.name))
                    .label(name.span, "assigned again here")
                    .label(previous, "first assigned here")
                    .help("keep one of them"),
            );
            ok = false;
            continue;
        }
        assigned[index] = Some(name.span);
        let field = &record.fields()[index];
        let what = format!("`{}`", field.name);
        fields[index] = check_expr(&assignment.value, &scope, diagnostics)
            .and_then(|expr| expect_type(expr, field.ty, &what, diagnostics));
        ok &= fields[index].is_some();
    }
    let missing: Vec<String> = record
        .fields()
        .iter()
        .zip(&assigned)
        .filter(|(_, span)| span.is_none())
        .map(|(field, _)| format!("`{}`", field.name))
        .collect();
    if !missing.is_empty() {
        let body_span = body_span(body).unwrap_or(decl.connector.span);
        diagnostics.push(
            Diagnostic::error(Code::MissingField, format!("the generator does not compute {}", missing.join(", ")))
                .label(body_span, format!("every field of `{}` needs a value", decl.schema.name))
                .help(format!(
                    "add {} to the body",
                    missing.iter().map(|m| format!("`{} = …`", m.trim_matches('`'))).collect::<Vec<_>>().join(", ")
                )),
        );
        return None;
    }
    if !ok {
        return None;
    }
    fields.into_iter().collect()
}

/// From the first assignment of a body to its last, if it has any.
fn body_span(body: &[crate::syntax::ast::Assignment]) -> Option<Span> {
    Some(body.first()?.span.to(body.last()?.span))
}

fn example_body(record: &RecordType) -> String {
    record.fields().iter().map(|field| format!("{} = …", field.name)).collect::<Vec<_>>().join("  ")
}

/// The format named by `format = …`, or else read from the path's extension.
fn file_format(bound: &Bound<'_>, path: Option<(&str, Span)>, diagnostics: &mut Vec<Diagnostic>) -> Option<Format> {
    if let Some(expr) = bound.get("format") {
        let Const::Word(word) = expect(expr, Expected::Word(FORMATS), Code::BadArgument, "`format`", diagnostics)?
        else {
            return None;
        };
        return Some(if word == "csv" { Format::Csv } else { Format::Jsonl });
    }
    let (path, span) = path.expect("stdin requires `format`, so only files get here");
    match path.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).as_deref() {
        Some("csv") => Some(Format::Csv),
        Some("jsonl" | "ndjson" | "json") => Some(Format::Jsonl),
        _ => {
            diagnostics.push(
                Diagnostic::error(Code::BadArgument, format!("cannot tell the format of `{path}` from its name"))
                    .label(span, "neither .csv nor .jsonl")
                    .help("say it: `format = csv` or `format = jsonl`"),
            );
            None
        }
    }
}

/// Checks a sink's connector and arguments.
pub fn check_sink(call: &Call, record: &Arc<RecordType>, diagnostics: &mut Vec<Diagnostic>) -> Option<SinkConnector> {
    let name = call.name.name.as_str();
    match name {
        "postgres" => super::postgres::check_sink(call, record, diagnostics).map(SinkConnector::Postgres),
        "print" | "discard" => {
            let spec = if name == "print" { &PRINT } else { &DISCARD };
            bind(&call.args, spec.params, name, call.span, spec.usage, diagnostics)?;
            Some(if name == "print" { SinkConnector::Print } else { SinkConnector::Discard })
        }
        "file" => {
            let bound = bind(&call.args, FILE_SINK.params, name, call.span, FILE_SINK.usage, diagnostics)?;
            let path_expr = bound.get("path").expect("required");
            let Const::Str(path) = expect(path_expr, Expected::Str, Code::BadArgument, "the path", diagnostics)? else {
                return None;
            };
            let format = file_format(&bound, Some((&path, path_expr.span)), diagnostics)?;
            Some(SinkConnector::File { path, path_span: path_expr.span, format })
        }
        _ => {
            diagnostics.push(unknown_connector(call, SINK_CONNECTORS, "sink"));
            None
        }
    }
}

fn unknown_connector(call: &Call, known: &[&str], role: &str) -> Diagnostic {
    let name = &call.name.name;
    let other_role = if role == "source" { SINK_CONNECTORS } else { SOURCE_CONNECTORS };
    let help = if other_role.contains(&name.as_str()) && !known.contains(&name.as_str()) {
        format!(
            "`{name}` is a {} connector; a {role} is one of {}",
            if role == "source" { "sink" } else { "source" },
            one_of(known.iter())
        )
    } else {
        did_you_mean(name, known.iter().copied())
            .unwrap_or_else(|| format!("a {role} is one of {}", one_of(known.iter())))
    };
    Diagnostic::error(Code::UnknownConnector, format!("unknown {role} connector `{name}`"))
        .label(call.name.span, format!("not a {role}"))
        .help(help)
}

/// Two file sinks on one file would interleave their lines, and the second
/// rename would replace the first one's output: each needs its own file.
/// Paths are compared as written, after removing `.` and `dir/..` parts
/// (checking does no IO, so links are not followed).
pub fn check_distinct_sink_files(pipelines: &[crate::check::program::Pipeline], diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(String, Span)> = Vec::new();
    for pipeline in pipelines {
        let SinkConnector::File { path, path_span, .. } = &pipeline.sink.connector else { continue };
        let normal = normalize(path);
        match seen.iter().find(|(other, _)| *other == normal) {
            Some((_, first)) => diagnostics.push(
                Diagnostic::error(Code::SharedSinkFile, format!("two file sinks write `{normal}`"))
                    .label(*path_span, "this sink writes the same file")
                    .label(*first, "as this one")
                    .help("give each file sink its own file, or `union` the streams into one sink"),
            ),
            None => seen.push((normal, *path_span)),
        }
    }
}

/// `./out/../x.csv` as `x.csv`: the path without `.` parts and with each
/// `name/..` pair removed.
fn normalize(path: &str) -> String {
    use std::path::Component;
    let mut parts: Vec<Component> = Vec::new();
    for component in std::path::Path::new(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.iter().collect::<std::path::PathBuf>().to_string_lossy().into_owned()
}
