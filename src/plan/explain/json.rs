//! The plan as JSON for programs: `PlanDocument` is the schema (documented
//! in docs/plan-json.md) and parses back with serde into the same value.
//! Ids are indices into their arrays, from 0.

use crate::check::program::TableSource;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::check::config::SettingOrigin;
use crate::check::types::{RecordType, Type};
use crate::diag::Span;
use crate::plan::chain::ChainBreak;
use crate::plan::logical::NodeKind;
use crate::plan::physical::{ParallelismOrigin, PartitioningCause, PhysicalEdge};

use super::Words;

/// The version of this schema; raised when a field changes meaning.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDocument {
    /// Always `flowc-plan`.
    pub format: String,
    pub version: u32,
    pub file: String,
    pub settings: SettingsDoc,
    pub logical: LogicalDoc,
    pub operators: Vec<OperatorDoc>,
    pub edges: Vec<EdgeDoc>,
    pub tasks: Vec<TaskDoc>,
    /// Every distinct record type, referred to by index from the edges.
    pub records: Vec<RecordDoc>,
    /// The tables `lookup`s read; left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDoc {
    pub name: String,
    pub span: SpanDoc,
    /// The file it is read from, as the program names it (empty for a
    /// PostgreSQL table).
    pub path: String,
    /// A PostgreSQL table: its name, as the program names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_table: Option<String>,
    /// The field each row is found by.
    pub key: String,
    /// Index in `records`: its rows.
    pub record: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsDoc {
    pub parallelism: u32,
    pub chaining: bool,
    pub buffer_size: u64,
    pub buffers_per_channel: u32,
    pub floating_buffers: u32,
    pub buffer_timeout_ns: i64,
    pub channel_latency_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalDoc {
    pub nodes: Vec<LogicalNodeDoc>,
    pub edges: Vec<LogicalEdgeDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalNodeDoc {
    pub id: usize,
    /// `source`, `operator`, `union` or `sink`.
    pub kind: String,
    /// `Source`, `Map`, `KeyBy`, `TumblingWindow`, `Union`, `Sink`, …
    pub operator: String,
    pub name: String,
    /// The `let` this node ends, if any.
    pub ends_let: Option<String>,
    pub span: SpanDoc,
    /// The operator's code on one line, possibly cut short.
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalEdgeDoc {
    pub from: usize,
    pub to: usize,
    /// Index in `records`.
    pub record: usize,
    /// The name of the key in effect on this hop.
    pub key: Option<String>,
    /// The receiver's input: 0, or 1 for the stream in a join's brackets.
    #[serde(default)]
    pub port: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorDoc {
    pub id: usize,
    pub logical_node: usize,
    pub name: String,
    pub parallelism: u32,
    pub parallelism_origin: OriginDoc,
    pub task: usize,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// `@async`: left out for operators without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_calls: Option<AsyncCallsDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsyncCallsDoc {
    /// Calls in flight per subtask, at most.
    pub capacity: u32,
    /// Results in input order, or as they complete.
    pub ordered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginDoc {
    /// `attribute`, `config`, `command_line`, `default` or `not_parallel`.
    pub kind: String,
    pub span: Option<SpanDoc>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeDoc {
    pub id: usize,
    pub from: usize,
    pub to: usize,
    pub from_task: usize,
    pub to_task: usize,
    /// `forward`, `hash`, `rebalance` or `broadcast`.
    pub partitioning: String,
    /// The key's name, for `hash`.
    pub key: Option<String>,
    /// `forward`, `requested` or `parallelism_change`.
    pub cause: String,
    /// Where the file asked for the partitioning, for `requested`.
    pub cause_span: Option<SpanDoc>,
    /// Sender-receiver subtask pairs.
    pub channels: u32,
    pub chained: bool,
    pub chain_breaks: Vec<ChainBreakDoc>,
    /// Logical nodes passed on the way (partitioners and unions).
    pub via: Vec<usize>,
    /// Index in `records`: the layout of the edge's buffers.
    pub record: usize,
    /// The receiver's input: 0, or 1 for the stream in a join's brackets.
    #[serde(default)]
    pub port: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainBreakDoc {
    /// `partitioning`, `parallelism_change`, `multiple_inputs`, `no_chain`,
    /// `new_chain` or `chaining_off`.
    pub rule: String,
    pub message: String,
    pub span: Option<SpanDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDoc {
    pub id: usize,
    pub name: String,
    pub parallelism: u32,
    pub head: usize,
    pub operators: Vec<usize>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// The network buffers each subtask holds for each input edge.
    pub input_buffers: Vec<InputBuffersDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputBuffersDoc {
    pub edge: usize,
    pub channels: u32,
    pub exclusive_per_channel: u32,
    pub floating: u32,
    pub buffers: u32,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordDoc {
    pub fields: Vec<FieldDoc>,
    /// Bytes per record.
    pub width: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Type,
    pub offset: u32,
}

/// A byte range of the file, with the line and column (from 1) of its start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpanDoc {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

pub(super) fn render(words: &Words) -> String {
    let mut text = serde_json::to_string_pretty(&document(words)).expect("a plan document is plain data");
    text.push('\n');
    text
}

/// The plan as the JSON document's value.
pub fn plan_document(plan: &crate::plan::PhysicalPlan, file_name: &str, source: &str) -> PlanDocument {
    document(&Words { plan, file_name, source, lines: crate::diag::LineIndex::new(source) })
}

/// Distinct record types in order of first use.
#[derive(Default)]
struct Records {
    index: std::collections::HashMap<Arc<RecordType>, usize>,
    docs: Vec<RecordDoc>,
}

impl Records {
    fn index_of(&mut self, record: &Arc<RecordType>) -> usize {
        if let Some(index) = self.index.get(record) {
            return *index;
        }
        self.docs.push(record_doc(record));
        self.index.insert(record.clone(), self.docs.len() - 1);
        self.docs.len() - 1
    }
}

fn document(words: &Words) -> PlanDocument {
    let plan = words.plan;
    let mut records = Records::default();
    let config = &plan.config;
    let logical = &plan.logical;
    PlanDocument {
        format: "flowc-plan".into(),
        version: VERSION,
        file: words.file_name.into(),
        settings: SettingsDoc {
            parallelism: config.parallelism,
            chaining: config.chaining,
            buffer_size: config.buffer_size,
            buffers_per_channel: config.buffers_per_channel,
            floating_buffers: config.floating_buffers,
            buffer_timeout_ns: config.buffer_timeout_nanos,
            channel_latency_ns: config.channel_latency_nanos,
        },
        logical: LogicalDoc {
            nodes: logical
                .graph
                .node_indices()
                .map(|id| {
                    let node = logical.node(id);
                    LogicalNodeDoc {
                        id: id.index(),
                        kind: match node.kind {
                            NodeKind::Source(_) => "source",
                            NodeKind::Operator { .. } => "operator",
                            NodeKind::Union => "union",
                            NodeKind::Sink(_) => "sink",
                        }
                        .into(),
                        operator: node.operator_name().into(),
                        name: node.name.clone(),
                        ends_let: node.ends_let.clone(),
                        span: span(words, node.span),
                        code: words.snippet(node.span),
                    }
                })
                .collect(),
            edges: logical
                .graph
                .edge_indices()
                .map(|id| {
                    let (from, to) = logical.graph.edge_endpoints(id).expect("an edge of the graph");
                    let edge = &logical.graph[id];
                    LogicalEdgeDoc {
                        from: from.index(),
                        to: to.index(),
                        record: records.index_of(&edge.record),
                        key: edge.key.as_ref().map(|key| key.name.clone()),
                        port: edge.port,
                    }
                })
                .collect(),
        },
        operators: plan
            .operators
            .iter()
            .map(|operator| OperatorDoc {
                id: operator.id,
                logical_node: operator.node.index(),
                name: operator.name.clone(),
                parallelism: operator.parallelism,
                parallelism_origin: origin(words, operator.parallelism_origin),
                task: operator.task,
                inputs: operator.inputs.clone(),
                outputs: operator.outputs.clone(),
                async_calls: plan
                    .node(operator.id)
                    .attributes()
                    .async_calls
                    .map(|calls| AsyncCallsDoc { capacity: calls.capacity, ordered: calls.ordered }),
            })
            .collect(),
        edges: plan.edges.iter().map(|edge| edge_doc(words, edge, &mut records)).collect(),
        tasks: plan
            .tasks
            .iter()
            .map(|task| TaskDoc {
                id: task.id,
                name: task.name.clone(),
                parallelism: task.parallelism,
                head: task.head,
                operators: task.operators.clone(),
                inputs: task.inputs.clone(),
                outputs: task.outputs.clone(),
                input_buffers: task
                    .inputs
                    .iter()
                    .map(|edge| {
                        let buffers = words.input_buffers(&plan.edges[*edge]);
                        InputBuffersDoc {
                            edge: *edge,
                            channels: buffers.channels,
                            exclusive_per_channel: buffers.exclusive,
                            floating: buffers.floating,
                            buffers: buffers.buffers,
                            bytes: buffers.bytes,
                        }
                    })
                    .collect(),
            })
            .collect(),
        tables: plan
            .logical
            .tables
            .iter()
            .map(|table| TableDoc {
                name: table.name.clone(),
                span: span(words, table.name_span),
                path: match &table.connector {
                    TableSource::File(crate::check::program::SourceConnector::File { path, .. }) => path.clone(),
                    _ => String::new(),
                },
                postgres_table: match &table.connector {
                    TableSource::Postgres { target, .. } => Some(target.table.clone()),
                    TableSource::File(_) => None,
                },
                key: table.record.fields()[table.key_field].name.clone(),
                record: records.index_of(&table.record),
            })
            .collect(),
        records: records.docs,
    }
}

fn edge_doc(words: &Words, edge: &PhysicalEdge, records: &mut Records) -> EdgeDoc {
    let plan = words.plan;
    let (cause, cause_span) = match edge.cause {
        PartitioningCause::Forward => ("forward", None),
        PartitioningCause::Requested { node } => ("requested", Some(span(words, plan.logical.node(node).keyword))),
        PartitioningCause::ParallelismChange => ("parallelism_change", None),
    };
    EdgeDoc {
        id: edge.id,
        from: edge.from,
        to: edge.to,
        from_task: plan.operators[edge.from].task,
        to_task: plan.operators[edge.to].task,
        partitioning: edge.partitioning.kind_name().into(),
        key: match &edge.partitioning {
            crate::plan::Partitioning::Hash(key) => Some(key.name.clone()),
            _ => None,
        },
        cause: cause.into(),
        cause_span,
        channels: plan.channels(edge),
        chained: edge.chained,
        chain_breaks: edge
            .chain_breaks
            .iter()
            .map(|chain_break| ChainBreakDoc {
                rule: chain_break.rule().into(),
                message: words.chain_break(edge, chain_break),
                span: break_span(words, chain_break),
            })
            .collect(),
        via: edge.via.iter().map(|node| node.index()).collect(),
        record: records.index_of(&edge.record),
        port: edge.port,
    }
}

fn break_span(words: &Words, chain_break: &ChainBreak) -> Option<SpanDoc> {
    match chain_break {
        ChainBreak::Partitioning { node } => Some(span(words, words.plan.logical.node(*node).keyword)),
        ChainBreak::NoChain { at, .. } | ChainBreak::NewChain { at, .. } => Some(span(words, *at)),
        ChainBreak::ChainingOff { origin: SettingOrigin::File(at) } => Some(span(words, *at)),
        ChainBreak::ChainingOff { origin: SettingOrigin::CommandLine }
        | ChainBreak::ParallelismChange { .. }
        | ChainBreak::MultipleInputs { .. } => None,
    }
}

fn origin(words: &Words, origin: ParallelismOrigin) -> OriginDoc {
    let (kind, at, reason) = match origin {
        ParallelismOrigin::Attribute(at) => ("attribute", Some(at), None),
        ParallelismOrigin::Config(SettingOrigin::File(at)) => ("config", Some(at), None),
        ParallelismOrigin::Config(SettingOrigin::CommandLine) => ("command_line", None, None),
        ParallelismOrigin::Default => ("default", None, None),
        ParallelismOrigin::NotParallel(reason) => ("not_parallel", None, Some(reason.to_string())),
    };
    OriginDoc { kind: kind.into(), span: at.map(|at| span(words, at)), reason }
}

fn record_doc(record: &RecordType) -> RecordDoc {
    RecordDoc {
        fields: record
            .fields()
            .iter()
            .zip(&record.layout().offsets)
            .map(|(field, offset)| FieldDoc { name: field.name.clone(), ty: field.ty, offset: *offset })
            .collect(),
        width: record.layout().width,
    }
}

fn span(words: &Words, span: Span) -> SpanDoc {
    let (line, column) = words.lines.line_col(span.start);
    SpanDoc { start: span.start, end: span.end, line, column }
}
