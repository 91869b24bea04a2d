//! `@attributes`: which exist, where each may stand, and their values.

use crate::diag::{did_you_mean, suggest, Code, Diagnostic, Span};
use crate::syntax::ast::{Attribute, Expr, ExprKind};

use super::args::{bind, Param};
use super::constant::{expect, Const, Expected};
use super::program::{AsyncCalls, Attributes};
use super::types::{RecordType, Type};

pub const ATTRIBUTE_NAMES: &[&str] = &["parallelism", "name", "new_chain", "no_chain", "watermark", "async"];

/// The largest parallelism flowc runs: each subtask is a thread.
pub const MAX_PARALLELISM: u32 = 256;

/// What carries the attributes, which decides which are allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Carrier<'a> {
    Source,
    /// An operator that runs as (part of) a task, or a sink.
    Operator(&'a str),
    /// `key_by`, `rebalance`, `broadcast`: a way records are sent, not a task.
    Partitioning(&'a str),
}

/// The most records `@watermark(every = n)` lets pass between watermarks:
/// a source reads that many at a time.
pub const MAX_WATERMARK_EVERY: i64 = 65_536;

/// The most calls `@async(capacity = n)` keeps in flight per subtask: each
/// waits in memory with its record.
pub const MAX_ASYNC_CAPACITY: i64 = 10_000;
/// Connections an `@async` lookup of a PostgreSQL table opens per subtask,
/// at most: a query in flight needs a connection of its own, and a server
/// has a limit on them (`max_connections`, 100 by default).
pub const MAX_LOOKUP_CONNECTIONS: u32 = 32;
/// How often a subtask whose lookup waits for answers looks for them.
pub const LOOKUP_POLL: std::time::Duration = std::time::Duration::from_micros(500);

/// `@async` without `capacity`: Flink's default queue size is 100; 16 keeps
/// a stand-in call's memory small and is what the docs show.
pub const DEFAULT_ASYNC_CAPACITY: u32 = 16;

/// A source's `@watermark(delay = …, on = field)`, before its field is resolved.
pub struct WatermarkAttribute<'a> {
    pub delay_nanos: i64,
    /// `every = n`: records between watermarks, when given.
    pub every_records: Option<u64>,
    pub field: Option<(&'a str, Span)>,
    pub span: Span,
}

/// Checks a list of attributes; a source's watermark comes back separately.
pub fn check_attributes<'a>(
    attributes: &'a [Attribute],
    carrier: Carrier<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Attributes, Option<WatermarkAttribute<'a>>) {
    let mut result = Attributes::default();
    let mut watermark = None;
    let mut seen: Vec<&Attribute> = Vec::new();
    for attribute in attributes {
        let name = attribute.name.name.as_str();
        if !ATTRIBUTE_NAMES.contains(&name) {
            diagnostics.push(
                Diagnostic::error(Code::UnknownAttribute, format!("unknown attribute `@{name}`"))
                    .label(attribute.name.span, "not an attribute")
                    .help(match suggest(name, ATTRIBUTE_NAMES.iter().copied()) {
                        Some(close) => format!("did you mean `@{close}`?"),
                        None => format!(
                            "the attributes are {}",
                            ATTRIBUTE_NAMES.iter().map(|n| format!("`@{n}`")).collect::<Vec<_>>().join(", ")
                        ),
                    }),
            );
            continue;
        }
        if let Some(previous) = seen.iter().find(|previous| previous.name.name == name) {
            diagnostics.push(
                Diagnostic::error(Code::DuplicateAttribute, format!("`@{name}` is given twice"))
                    .label(attribute.span, "given again here")
                    .label(previous.span, "first given here")
                    .help("keep one of them"),
            );
            continue;
        }
        seen.push(attribute);
        if let Some(reason) = not_allowed(name, carrier) {
            diagnostics.push(
                Diagnostic::error(Code::AttributeNotAllowed, format!("`@{name}` has no meaning here"))
                    .label(attribute.span, reason.0)
                    .help(reason.1),
            );
            continue;
        }
        let what = format!("`@{name}`");
        // `bind` quotes what it names itself.
        let callee = format!("@{name}");
        let span = attribute.span;
        match name {
            "parallelism" => {
                let Some(bound) =
                    bind(&attribute.args, &[Param::positional("n")], &callee, span, "@parallelism(4)", diagnostics)
                else {
                    continue;
                };
                let value = bound.get("n").expect("required");
                if let Some(Const::Int(n)) = expect(value, Expected::Int, Code::AttributeValue, &what, diagnostics) {
                    if !(1..=i64::from(MAX_PARALLELISM)).contains(&n) {
                        diagnostics.push(
                            Diagnostic::error(
                                Code::AttributeValue,
                                format!("parallelism must be from 1 to {MAX_PARALLELISM}"),
                            )
                            .label(value.span, format!("this is {n}"))
                            .help("each subtask is a thread; parallelism 1 runs the operator on one thread"),
                        );
                    } else {
                        result.parallelism = Some((n as u32, span));
                    }
                }
            }
            "name" => {
                let Some(bound) = bind(
                    &attribute.args,
                    &[Param::positional("name")],
                    &callee,
                    span,
                    "@name(\"enrich\")",
                    diagnostics,
                ) else {
                    continue;
                };
                let value = bound.get("name").expect("required");
                if let Some(Const::Str(text)) = expect(value, Expected::Str, Code::AttributeValue, &what, diagnostics) {
                    if text.trim().is_empty() {
                        diagnostics.push(
                            Diagnostic::error(Code::AttributeValue, "a name cannot be empty")
                                .label(value.span, "empty")
                                .help("name the operator as it should appear in plans and reports"),
                        );
                    } else {
                        result.name = Some(text);
                    }
                }
            }
            "new_chain" | "no_chain" => {
                if bind(&attribute.args, &[], &callee, span, &callee, diagnostics).is_some() {
                    if name == "new_chain" {
                        result.new_chain = Some(span);
                    } else {
                        result.no_chain = Some(span);
                    }
                }
            }
            "watermark" => {
                let params = [Param::required("delay"), Param::named("on"), Param::named("every")];
                let usage = "@watermark(delay = 2s)";
                let Some(bound) = bind(&attribute.args, &params, &callee, span, usage, diagnostics) else { continue };
                let delay = bound.get("delay").expect("required");
                let Some(Const::Duration(delay_nanos)) =
                    expect(delay, Expected::Duration, Code::AttributeValue, "the watermark `delay`", diagnostics)
                else {
                    continue;
                };
                if delay_nanos < 0 {
                    diagnostics.push(
                        Diagnostic::error(Code::AttributeValue, "a watermark delay cannot be negative")
                            .label(delay.span, "negative")
                            .help("`delay = 0s` for timestamps that never go back; more for records that arrive late"),
                    );
                    continue;
                }
                let field = match bound.get("on") {
                    None => None,
                    Some(Expr { kind: ExprKind::Name(field), span }) => Some((field.as_str(), *span)),
                    Some(on) => {
                        diagnostics.push(
                            Diagnostic::error(Code::AttributeValue, "the watermark field `on` must be a field name")
                                .label(on.span, "not a field name")
                                .help("name a timestamp field of the source: `@watermark(delay = 2s, on = ts)`"),
                        );
                        continue;
                    }
                };
                let every_records = match bound.get("every") {
                    None => None,
                    Some(every) => {
                        let what = "the watermark `every` (records between watermarks)";
                        match expect(every, Expected::Int, Code::AttributeValue, what, diagnostics) {
                            Some(Const::Int(n)) if (1..=MAX_WATERMARK_EVERY).contains(&n) => Some(n as u64),
                            Some(Const::Int(_)) => {
                                diagnostics.push(
                                    Diagnostic::error(
                                        Code::AttributeValue,
                                        format!("a watermark comes every 1 to {MAX_WATERMARK_EVERY} records"),
                                    )
                                    .label(every.span, "out of range")
                                    .help("`every = 1` sends a watermark after each record"),
                                );
                                continue;
                            }
                            _ => continue,
                        }
                    }
                };
                watermark = Some(WatermarkAttribute { delay_nanos, every_records, field, span });
            }
            "async" => {
                if let Some(calls) = check_async(attribute, &callee, diagnostics) {
                    result.async_calls = Some(calls);
                }
            }
            _ => unreachable!("every name in ATTRIBUTE_NAMES is handled"),
        }
    }
    (result, watermark)
}

/// `@async(capacity = n, ordered = b)`, both optional.
fn check_async(attribute: &Attribute, callee: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<AsyncCalls> {
    let params = [Param::named("capacity"), Param::named("ordered")];
    let usage = "@async(capacity = 16, ordered = true)";
    let bound = bind(&attribute.args, &params, callee, attribute.span, usage, diagnostics)?;
    let mut calls = AsyncCalls { capacity: DEFAULT_ASYNC_CAPACITY, ordered: true, span: attribute.span };
    if let Some(capacity) = bound.get("capacity") {
        let what = "the `@async` `capacity` (calls in flight)";
        match expect(capacity, Expected::Int, Code::AttributeValue, what, diagnostics)? {
            Const::Int(n) if (1..=MAX_ASYNC_CAPACITY).contains(&n) => calls.capacity = n as u32,
            Const::Int(n) => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::AttributeValue,
                        format!("an `@async` capacity must be from 1 to {}", super::units::format_count(MAX_ASYNC_CAPACITY as u64)),
                    )
                    .label(capacity.span, format!("this is {n}"))
                    .help("it is how many calls each subtask keeps in flight at once; each waits in memory with its record"),
                );
                return None;
            }
            _ => return None,
        }
    }
    if let Some(ordered) = bound.get("ordered") {
        let what = "the `@async` `ordered`";
        let Const::Bool(ordered) = expect(ordered, Expected::Bool, Code::AttributeValue, what, diagnostics)? else {
            return None;
        };
        calls.ordered = ordered;
    }
    Some(calls)
}

/// Why `@async` cannot stand on an operator that makes no blocking call.
fn async_not_allowed(carrier: Carrier<'_>) -> Option<(String, String)> {
    let instead = "put it on the `sleep` that stands for the call: `| sleep 5ms @async(capacity = 16)`";
    match carrier {
        Carrier::Operator(op) if super::ops::by_keyword(op).is_some_and(|spec| spec.blocking) => None,
        // A lookup of a PostgreSQL table waits on its server; `check_lookup`
        // refuses it on a file table.
        Carrier::Operator("lookup") => None,
        Carrier::Operator("work") => Some((
            "`work` computes: it keeps a core busy, it waits for nothing".into(),
            "`@async` frees the thread while a call waits on another system; work that computes needs a core for each record, so only more subtasks help it: `@parallelism(n)`".into(),
        )),
        Carrier::Operator("throttle") => Some((
            "`throttle` limits a rate; it makes no call".into(),
            format!("calls in flight do not raise a rate limit; to model a slow external call, {instead}"),
        )),
        Carrier::Operator("sink") => Some((
            "a sink writes its records in order; it makes no call".into(),
            format!("to model a slow call before the sink, {instead}"),
        )),
        Carrier::Operator(op) => Some((
            format!("`{op}` computes; it makes no call to wait for"),
            format!("`@async` is for operators that wait on an external system (`sleep`, a `lookup` of a `postgres` table); for `{op}`, more subtasks help: `@parallelism(n)`"),
        )),
        Carrier::Source => Some((
            "a source reads its input; it makes no call".into(),
            format!("to model a slow call after the source, {instead}"),
        )),
        Carrier::Partitioning(op) => Some((
            format!("`{op}` decides where records go; it makes no call"),
            format!("to model a slow call, {instead}"),
        )),
    }
}

/// Why `name` cannot stand on `carrier`, as a label and a help line.
fn not_allowed(name: &str, carrier: Carrier<'_>) -> Option<(String, String)> {
    match (name, carrier) {
        ("async", carrier) => async_not_allowed(carrier),
        ("watermark", Carrier::Source) => None,
        ("watermark", Carrier::Operator(op) | Carrier::Partitioning(op)) => Some((
            format!("`{op}` is not a source"),
            "watermarks start at sources: put `@watermark(delay = …)` after the source's body".into(),
        )),
        ("new_chain", Carrier::Source) => Some((
            "a source always starts a chain".into(),
            "use `@no_chain` to keep the next operator out of its chain".into(),
        )),
        (_, Carrier::Partitioning(op)) => Some((
            format!("`{op}` decides where records go; it is not a task"),
            format!("put `@{name}` on the operator after `{op}`"),
        )),
        _ => None,
    }
}

/// Resolves a watermark's field: the one named by `on`, or else the
/// source's only timestamp field.
pub fn watermark_field(
    watermark: &WatermarkAttribute<'_>,
    record: &RecordType,
    source_name: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<usize> {
    let timestamps: Vec<usize> = record
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| field.ty == Type::Timestamp)
        .map(|(index, _)| index)
        .collect();
    match watermark.field {
        Some((name, span)) => {
            let Some(index) = record.field_index(name) else {
                diagnostics.push(
                    Diagnostic::error(Code::UnknownField, format!("unknown field `{name}`"))
                        .label(span, format!("not a field of `{source_name}`"))
                        .help(
                            did_you_mean(name, record.field_names())
                                .unwrap_or_else(|| format!("the source's records are {record}")),
                        ),
                );
                return None;
            };
            if record.fields()[index].ty != Type::Timestamp {
                diagnostics.push(
                    Diagnostic::error(Code::AttributeValue, format!("the watermark field `{name}` is not a timestamp"))
                        .label(span, format!("this is {}", record.fields()[index].ty.with_article()))
                        .help("event time is read from a timestamp field; compute one with `epoch + x * 1ms`"),
                );
                return None;
            }
            Some(index)
        }
        None => match timestamps.as_slice() {
            [only] => Some(*only),
            [] => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::AttributeValue,
                        format!("`{source_name}` has no timestamp field to take event time from"),
                    )
                    .label(watermark.span, "needs a timestamp field")
                    .help("add a field such as `ts: timestamp` to the schema"),
                );
                None
            }
            _ => {
                diagnostics.push(
                    Diagnostic::error(Code::AttributeValue, format!("`{source_name}` has several timestamp fields"))
                        .label(watermark.span, "which one carries event time?")
                        .help("name it: `@watermark(delay = 2s, on = ts)`"),
                );
                None
            }
        },
    }
}
