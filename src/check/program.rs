//! The checked program: every name resolved, every expression typed, every
//! stream's record type and key known, every constant evaluated. The
//! planner consumes it without re-checking anything.

use std::sync::Arc;

use crate::diag::Span;
use crate::syntax::ast::{BinaryOp, UnaryOp};

use super::config::Config;
use super::functions::{AggregateFunction, Function};
pub use super::nexmark::{NexmarkField, NexmarkKind, NexmarkSource};
use super::patterns::Pattern;
use super::types::{RecordType, Type};

pub type SourceId = usize;
pub type LetId = usize;
pub type TableId = usize;

#[derive(Debug, Clone)]
pub struct Program {
    pub config: Config,
    pub sources: Vec<Source>,
    pub lets: Vec<LetStream>,
    pub tables: Vec<Table>,
    pub pipelines: Vec<Pipeline>,
}

impl Program {
    /// Makes every relative file path relative to `folder` instead: a
    /// `.flow` file names its data as seen from where it lives, not from
    /// wherever flowc runs (as most tools with configuration files do).
    pub fn resolve_paths(&mut self, folder: &std::path::Path) {
        let resolve = |path: &mut String| {
            if std::path::Path::new(path.as_str()).is_relative() && !folder.as_os_str().is_empty() {
                *path = folder.join(&*path).to_string_lossy().into_owned();
            }
        };
        for source in &mut self.sources {
            if let SourceConnector::File { path, .. } = &mut source.connector {
                resolve(path);
            }
        }
        for table in &mut self.tables {
            if let TableSource::File(SourceConnector::File { path, .. }) = &mut table.connector {
                resolve(path);
            }
        }
        for pipeline in &mut self.pipelines {
            if let SinkConnector::File { path, .. } = &mut pipeline.sink.connector {
                resolve(path);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub name_span: Span,
    pub span: Span,
    pub schema_name: String,
    pub record: Arc<RecordType>,
    pub connector: SourceConnector,
    pub attributes: Attributes,
    pub watermark: Option<Watermark>,
}

/// Event time: the watermark trails the largest `field` seen by `delay_nanos`.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    pub field: usize,
    pub delay_nanos: i64,
    /// `every = n`: a watermark after each `n` records the source reads.
    pub every_records: Option<u64>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum SourceConnector {
    /// `generate(count, rate) { field = expr … }`; `fields[i]` computes
    /// field `i` of the source's record from `seq`.
    Generate {
        count: Option<u64>,
        rate_per_second: Option<f64>,
        fields: Vec<TypedExpr>,
    },
    File {
        path: String,
        /// The path's string literal, for errors that concern the file.
        path_span: Span,
        format: Format,
        on_error: OnError,
        header: bool,
        timestamps: TimestampFormat,
    },
    Stdin {
        format: Format,
        on_error: OnError,
        header: bool,
        timestamps: TimestampFormat,
    },
    /// `nexmark(events, kind, …)`: the Nexmark benchmark's events of one kind.
    Nexmark(NexmarkSource),
}

impl SourceConnector {
    /// The producers' rate in records per second, for a source that has one.
    pub fn rate_per_second(&self) -> Option<f64> {
        match self {
            SourceConnector::Generate { rate_per_second, .. } => *rate_per_second,
            SourceConnector::Nexmark(nexmark) => nexmark.rate_per_second,
            SourceConnector::File { .. } | SourceConnector::Stdin { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
}

/// How a file or stdin source writes its timestamps: `timestamp_format = …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// RFC 3339 text, `2026-01-15T09:00:13Z`.
    #[default]
    Rfc3339,
    /// A whole number of milliseconds since the epoch (Kafka's and Flink's
    /// usual encoding): a plain integer in csv, a JSON integer in jsonl.
    EpochMillis,
}

/// What a file or stdin source does with a line it cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    Fail,
    Skip,
}

/// The attributes any operator, source or sink may carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    pub parallelism: Option<(u32, Span)>,
    pub name: Option<String>,
    /// Where `@new_chain` / `@no_chain` stand, when given.
    pub new_chain: Option<Span>,
    pub no_chain: Option<Span>,
    /// `@async(…)`, on an operator that makes blocking calls.
    pub async_calls: Option<AsyncCalls>,
}

/// `@async(capacity = n, ordered = b)`: the operator's calls run
/// asynchronously, at most `capacity` in flight per subtask, results in
/// input order when `ordered` (Flink's `AsyncWaitOperator`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AsyncCalls {
    pub capacity: u32,
    pub ordered: bool,
    pub span: Span,
}

/// `table name: Schema = file(…) key_by field`: a bounded file read whole
/// before any record flows, one row per key, for `lookup`.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub name_span: Span,
    pub span: Span,
    pub record: Arc<RecordType>,
    /// Where the rows are.
    pub connector: TableSource,
    /// The field every row is found by.
    pub key_field: usize,
    pub key_span: Span,
}

/// Where a `table`'s rows are.
#[derive(Debug, Clone)]
pub enum TableSource {
    /// A file read whole before the run (a `SourceConnector::File`).
    File(SourceConnector),
    /// A PostgreSQL table, queried by key as records arrive; each subtask
    /// of a lookup keeps up to `cache_rows` rows it found (or did not).
    Postgres { target: PostgresTarget, cache_rows: u32 },
}

impl TableSource {
    /// Where the rows are, as `explain` and `check --schemas` say it.
    pub fn describe(&self) -> String {
        match self {
            TableSource::File(SourceConnector::File { path, format, .. }) => {
                format!("file {path:?} as {}", if *format == Format::Csv { "csv" } else { "jsonl" })
            }
            TableSource::File(_) => String::new(),
            TableSource::Postgres { target, cache_rows } => {
                format!("postgres table {:?}, queried by key, {cache_rows} rows cached per subtask", target.table)
            }
        }
    }
}

impl Table {
    /// A looked-up record beside its table row: what a `where` reads.
    pub fn pair_record(&self, input: &RecordType) -> Arc<RecordType> {
        let mut fields = input.fields().to_vec();
        fields.extend_from_slice(self.record.fields());
        RecordType::new(fields)
    }
}

#[derive(Debug, Clone)]
pub struct LetStream {
    pub name: String,
    pub name_span: Span,
    pub span: Span,
    pub stream: Stream,
}

/// A stream expression: where records come from, what happens to them, and
/// what they look like at the end.
#[derive(Debug, Clone)]
pub struct Stream {
    pub head: StreamHead,
    pub operators: Vec<Operator>,
    pub record: Arc<RecordType>,
    /// Set after `key_by`, kept through operators that do not change records.
    pub key: Option<Key>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum StreamHead {
    Source(SourceId),
    Let(LetId),
    Union { inputs: Vec<Stream>, span: Span },
}

/// What a keyed stream is keyed by: an expression over the records at
/// `key_by`, re-evaluated by keyed operators on the same records.
#[derive(Debug, Clone)]
pub struct Key {
    pub expr: TypedExpr,
    /// The key's field name in window and aggregate output.
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Operator {
    pub kind: OperatorKind,
    pub input: Arc<RecordType>,
    pub output: Arc<RecordType>,
    pub attributes: Attributes,
    pub keyword: Span,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum OperatorKind {
    /// Output field `i` is `fields[i]` over the input record.
    Map {
        fields: Vec<TypedExpr>,
    },
    Filter {
        predicate: TypedExpr,
    },
    KeyBy {
        key: Key,
    },
    Rebalance,
    Broadcast,
    /// Emits `key, window_start, window_end, aggregates…` when the watermark
    /// passes a window's end.
    Window {
        kind: WindowKind,
        time_field: usize,
        key: Key,
        aggregates: Vec<Aggregate>,
    },
    /// Emits `key, aggregates…` for every record, with the running values.
    Aggregate {
        key: Key,
        aggregates: Vec<Aggregate>,
    },
    /// Each key's first `count` records in `order`: whenever they change,
    /// `input fields…, rank` for each rank whose record changed.
    Top {
        key: Key,
        count: usize,
        order: Vec<SortKey>,
    },
    /// Two keyed streams: the pipeline (left, port 0) and `right` (port 1).
    /// Emits `[window_start, window_end,] left fields…, right fields…[, matched]`.
    Join(Box<Join>),
    /// Each record with the row of a `table` whose key equals `key`:
    /// `input fields…, table fields…[, matched]`.
    Lookup {
        table: TableId,
        key: TypedExpr,
        outer: bool,
        /// Over `input fields…, table fields…`.
        residual: Option<TypedExpr>,
    },
    Throttle {
        per_second: f64,
    },
    Work {
        nanos: i64,
    },
    Sleep {
        nanos: i64,
    },
}

impl OperatorKind {
    /// The name Flink would show for the operator.
    pub fn display_name(&self) -> &'static str {
        match self {
            OperatorKind::Map { .. } => "Map",
            OperatorKind::Filter { .. } => "Filter",
            OperatorKind::KeyBy { .. } => "KeyBy",
            OperatorKind::Rebalance => "Rebalance",
            OperatorKind::Broadcast => "Broadcast",
            OperatorKind::Window { kind: WindowKind::Tumbling { .. }, .. } => "TumblingWindow",
            OperatorKind::Window { kind: WindowKind::Sliding { .. }, .. } => "SlidingWindow",
            OperatorKind::Window { kind: WindowKind::Session { .. }, .. } => "SessionWindow",
            OperatorKind::Aggregate { .. } => "Aggregate",
            OperatorKind::Top { .. } => "TopN",
            OperatorKind::Join(join) => match join.time {
                JoinTime::Interval { .. } => "IntervalJoin",
                JoinTime::Window(_) => "WindowJoin",
                JoinTime::Unbounded => "Join",
            },
            OperatorKind::Lookup { .. } => "LookupJoin",
            OperatorKind::Throttle { .. } => "Throttle",
            OperatorKind::Work { .. } => "Work",
            OperatorKind::Sleep { .. } => "Sleep",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Join {
    pub time: JoinTime,
    /// `join left`: every left record comes out, matched or not.
    pub outer: bool,
    /// The stream in brackets, keyed.
    pub right: Stream,
    pub left_key: Key,
    pub right_key: Key,
    /// The event-time fields, in the left and the right records (interval
    /// and window joins).
    pub time_fields: Option<(usize, usize)>,
    /// Over `left fields…, right fields…`.
    pub residual: Option<TypedExpr>,
    pub left: Arc<RecordType>,
}

impl Join {
    /// The record of both sides side by side: what a residual reads.
    pub fn pair_record(&self) -> Arc<RecordType> {
        let mut fields = self.left.fields().to_vec();
        fields.extend_from_slice(self.right.record.fields());
        RecordType::new(fields)
    }
}

/// When two records of the same key meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JoinTime {
    /// The right record's time lies in `[left + lower, left + upper]`.
    Interval { lower: i64, upper: i64 },
    /// Both in the same window.
    Window(WindowKind),
    /// Always: a regular join, which keeps every record.
    Unbounded,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowKind {
    Tumbling {
        size_nanos: i64,
    },
    Sliding {
        size_nanos: i64,
        slide_nanos: i64,
    },
    /// A key's records less than `gap_nanos` apart, in one window.
    Session {
        gap_nanos: i64,
    },
}

/// One expression of a `top`'s order.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub expr: TypedExpr,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub struct Aggregate {
    pub function: AggregateFunction,
    pub arg: Option<TypedExpr>,
    /// `where cond`: the aggregate takes only the records it holds for.
    pub filter: Option<TypedExpr>,
    pub ty: Type,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub stream: Stream,
    pub sink: Sink,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Sink {
    pub connector: SinkConnector,
    pub input: Arc<RecordType>,
    pub attributes: Attributes,
    pub keyword: Span,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SinkConnector {
    Print,
    Discard,
    File {
        path: String,
        /// The path's string literal, for errors that concern the file.
        path_span: Span,
        format: Format,
    },
    Postgres(PostgresSink),
}

/// A table in PostgreSQL and how to reach its server.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresTarget {
    /// A `postgres://` URL or `key=value` connection string; absent, the
    /// standard `PG*` environment variables say where the server is.
    pub connection: Option<String>,
    /// The table as SQL names it: `readings`, `public.readings`, `"Mixed"`.
    pub table: String,
    pub table_span: Span,
}

/// `sink postgres(…)`: batches of records, each batch one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresSink {
    pub target: PostgresTarget,
    pub mode: WriteMode,
    /// Rows per transaction.
    pub batch_size: u32,
    /// A partly filled batch is committed this long after its first row.
    pub flush_interval_nanos: i64,
    /// `CREATE TABLE IF NOT EXISTS` from the record type before the first row.
    pub create_table: bool,
    /// Where `batch_size` is written, if it is: advice replaces it there,
    /// or else adds it before the call's closing parenthesis.
    pub batch_size_span: Option<Span>,
    pub call_span: Span,
}

/// How a Postgres sink writes its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteMode {
    /// Appends every record (`COPY … FROM STDIN`).
    Insert,
    /// `INSERT … ON CONFLICT (key) DO UPDATE`: the table holds each key's
    /// latest record. The key's fields, in the record's order of writing.
    Upsert { key: Vec<usize>, key_span: Span },
}

/// A typed expression. Operand types are on the operands, so a backend
/// picks the right instruction from `(op, lhs.ty, rhs.ty)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedExpr {
    pub kind: TypedExprKind,
    pub ty: Type,
    pub span: Span,
}

impl TypedExpr {
    /// The value of an int literal, negated or not.
    pub fn constant_int(&self) -> Option<i64> {
        match &self.kind {
            TypedExprKind::Literal(Value::Int(n)) => Some(*n),
            TypedExprKind::Unary { op: crate::syntax::ast::UnaryOp::Neg, operand } => match operand.kind {
                TypedExprKind::Literal(Value::Int(n)) => n.checked_neg(),
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypedExprKind {
    Literal(Value),
    /// A field of the input record, by index.
    Field(usize),
    /// The record number in a `generate` body.
    Seq,
    Unary {
        op: UnaryOp,
        operand: Box<TypedExpr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<TypedExpr>,
        rhs: Box<TypedExpr>,
    },
    If {
        condition: Box<TypedExpr>,
        then: Box<TypedExpr>,
        otherwise: Box<TypedExpr>,
    },
    Call {
        function: Function,
        args: Vec<TypedExpr>,
    },
    /// A function's constant pattern argument (`Function::pattern_argument`),
    /// parsed once by `check`; of type string.
    Pattern(Pattern),
}

/// A constant value of a `Type`. Timestamps are nanoseconds since `epoch`,
/// durations nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Arc<str>),
    Timestamp(i64),
    Duration(i64),
}

impl Value {
    pub fn ty(&self) -> Type {
        match self {
            Value::Int(_) => Type::Int,
            Value::Float(_) => Type::Float,
            Value::Bool(_) => Type::Bool,
            Value::Str(_) => Type::String,
            Value::Timestamp(_) => Type::Timestamp,
            Value::Duration(_) => Type::Duration,
        }
    }
}

impl Program {
    /// The sources whose records reach `stream`, for event-time checks and plans.
    pub fn sources_feeding(&self, stream: &Stream) -> Vec<SourceId> {
        sources_feeding_stream(&self.lets, stream)
    }
}

/// The sources whose records reach a stream that starts at `head`, before
/// any join of the stream adds its own.
pub fn sources_feeding_head(lets: &[LetStream], head: &StreamHead) -> Vec<SourceId> {
    let mut found = Vec::new();
    collect_head(lets, head, &mut found);
    found.sort_unstable();
    found.dedup();
    found
}

/// The sources whose records reach the end of `stream`: its head's and
/// those of the streams its joins read.
pub fn sources_feeding_stream(lets: &[LetStream], stream: &Stream) -> Vec<SourceId> {
    let mut found = Vec::new();
    collect_stream(lets, stream, &mut found);
    found.sort_unstable();
    found.dedup();
    found
}

fn collect_stream(lets: &[LetStream], stream: &Stream, found: &mut Vec<SourceId>) {
    collect_head(lets, &stream.head, found);
    for operator in &stream.operators {
        if let OperatorKind::Join(join) = &operator.kind {
            collect_stream(lets, &join.right, found);
        }
    }
}

fn collect_head(lets: &[LetStream], head: &StreamHead, found: &mut Vec<SourceId>) {
    match head {
        StreamHead::Source(id) => found.push(*id),
        StreamHead::Let(id) => collect_stream(lets, &lets[*id].stream, found),
        StreamHead::Union { inputs, .. } => inputs.iter().for_each(|input| collect_stream(lets, input, found)),
    }
}
