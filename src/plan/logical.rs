//! The logical plan: the checked program as a petgraph graph, one node per
//! operator as the file wrote it (sources, every pipeline operator including
//! `key_by`, `rebalance` and `broadcast`, each `union`, sinks) and one edge
//! per hop, carrying the records and the key in effect on that hop.
//!
//! A `let` stream read by two pipelines is built once; its last node simply
//! has two outgoing edges (a fan-out). Nodes that reach no sink are left
//! out, as Flink builds its graph from the sinks: an unused source never runs.
//!
//! This module decides nothing about threads; `physical` does.

use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::check::ops::{key_after, OperatorSpec, Routing};
use crate::check::program::{
    Attributes, Key, OperatorKind, Program, Sink, SinkConnector, Source, SourceConnector, Stream, StreamHead, Table,
};
use crate::check::types::RecordType;
use crate::diag::{Code, Diagnostic, Span};

pub type NodeId = NodeIndex<u32>;

#[derive(Debug, Clone)]
pub struct LogicalPlan {
    pub graph: DiGraph<LogicalNode, LogicalEdge>,
    /// The program's tables, which `lookup` operators name by index.
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone)]
pub struct LogicalNode {
    pub kind: NodeKind,
    /// How plans and reports call it: `Source: readings`, `Map`, or the
    /// operator's `@name`.
    pub name: String,
    /// The `let` this node ends, when one does: where a fan-out comes from.
    pub ends_let: Option<String>,
    /// The operator's first word (or a source's name) …
    pub keyword: Span,
    /// … and all of it, attributes included.
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Source(Source),
    Operator {
        kind: OperatorKind,
        attributes: Attributes,
    },
    /// Merges its inputs; chooses nothing about how records travel.
    Union,
    Sink(Sink),
}

/// One hop between two logical nodes.
#[derive(Debug, Clone)]
pub struct LogicalEdge {
    pub record: Arc<RecordType>,
    /// The key in effect on this hop (set by `key_by`, kept by operators
    /// that pass records through unchanged).
    pub key: Option<Key>,
    /// Which input of the receiver the hop feeds: 0, or 1 for the stream
    /// in a join's brackets.
    pub port: usize,
}

impl LogicalNode {
    pub fn attributes(&self) -> &Attributes {
        static NONE: Attributes =
            Attributes { parallelism: None, name: None, new_chain: None, no_chain: None, async_calls: None };
        match &self.kind {
            NodeKind::Source(source) => &source.attributes,
            NodeKind::Operator { attributes, .. } => attributes,
            NodeKind::Union => &NONE,
            NodeKind::Sink(sink) => &sink.attributes,
        }
    }

    /// The operator's kind as a word: `Source`, `Map`, `Union`, `Sink`.
    pub fn operator_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Source(_) => "Source",
            NodeKind::Operator { kind, .. } => kind.display_name(),
            NodeKind::Union => "Union",
            NodeKind::Sink(_) => "Sink",
        }
    }

    /// Nodes that only decide how records travel between the real
    /// operators around them: partitioners and unions. They never become
    /// part of a task.
    pub fn is_virtual(&self) -> bool {
        match &self.kind {
            NodeKind::Union => true,
            NodeKind::Operator { kind, .. } => matches!(kind.spec().routing, Routing::Partitions(_)),
            NodeKind::Source(_) | NodeKind::Sink(_) => false,
        }
    }

    /// The operator's facts, for a node that is an operator.
    pub fn spec(&self) -> Option<&'static OperatorSpec> {
        match &self.kind {
            NodeKind::Operator { kind, .. } => Some(kind.spec()),
            NodeKind::Source(_) | NodeKind::Union | NodeKind::Sink(_) => None,
        }
    }
}

impl LogicalPlan {
    pub fn node(&self, id: NodeId) -> &LogicalNode {
        &self.graph[id]
    }

    /// Incoming edges of `node`, in the order they were added.
    pub fn inputs(&self, node: NodeId) -> Vec<(NodeId, &LogicalEdge)> {
        let mut inputs: Vec<_> =
            self.graph.edges_directed(node, Direction::Incoming).map(|e| (e.id(), e.source(), e.weight())).collect();
        inputs.sort_by_key(|(edge, _, _)| *edge);
        inputs.into_iter().map(|(_, from, edge)| (from, edge)).collect()
    }

    /// Outgoing edges of `node`, in the order they were added.
    pub fn outputs(&self, node: NodeId) -> Vec<(NodeId, &LogicalEdge)> {
        let mut outputs: Vec<_> =
            self.graph.edges_directed(node, Direction::Outgoing).map(|e| (e.id(), e.target(), e.weight())).collect();
        outputs.sort_by_key(|(edge, _, _)| *edge);
        outputs.into_iter().map(|(_, to, edge)| (to, edge)).collect()
    }

    /// Every node after all of its inputs; among ready nodes, the one built
    /// first. `Err` names a node on a cycle.
    pub fn topological_order(&self) -> Result<Vec<NodeId>, NodeId> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut waiting: Vec<usize> =
            self.graph.node_indices().map(|n| self.graph.edges_directed(n, Direction::Incoming).count()).collect();
        let mut ready: BinaryHeap<Reverse<NodeId>> =
            self.graph.node_indices().filter(|n| waiting[n.index()] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(Reverse(node)) = ready.pop() {
            order.push(node);
            for next in self.graph.neighbors_directed(node, Direction::Outgoing) {
                waiting[next.index()] -= 1;
                if waiting[next.index()] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        if order.len() == self.graph.node_count() {
            Ok(order)
        } else {
            Err(self.graph.node_indices().find(|n| waiting[n.index()] > 0).expect("a node left over is on a cycle"))
        }
    }
}

/// Builds the logical plan of a checked program. The front end guarantees
/// what this relies on; a broken guarantee is a `flow::internal` error.
pub fn build_logical_plan(program: &Program, diagnostics: &mut Vec<Diagnostic>) -> LogicalPlan {
    let mut builder = Builder {
        program,
        graph: DiGraph::new(),
        sources: vec![None; program.sources.len()],
        lets: vec![LetState::NotBuilt; program.lets.len()],
        diagnostics,
    };
    // Lets first, in file order: each reads only sources and earlier lets,
    // so no let is ever built from inside another.
    for (id, let_stream) in program.lets.iter().enumerate() {
        builder.lets[id] = LetState::Building;
        let built = builder.stream(&let_stream.stream);
        if let Some((tail, _)) = built {
            builder.graph[tail].ends_let = Some(let_stream.name.clone());
        }
        builder.lets[id] = built.map_or(LetState::Failed, |(tail, key)| LetState::Built(tail, key));
    }
    for pipeline in &program.pipelines {
        let Some((tail, key)) = builder.stream(&pipeline.stream) else { continue };
        let sink = builder.graph.add_node(LogicalNode {
            name: sink_name(&pipeline.sink),
            kind: NodeKind::Sink(pipeline.sink.clone()),
            ends_let: None,
            keyword: pipeline.sink.keyword,
            span: pipeline.sink.span,
        });
        builder.graph.add_edge(tail, sink, LogicalEdge { record: pipeline.sink.input.clone(), key, port: 0 });
    }
    let graph = builder.graph;
    LogicalPlan { graph: without_nodes_reaching_no_sink(graph), tables: program.tables.clone() }
}

#[derive(Debug, Clone)]
enum LetState {
    NotBuilt,
    Building,
    Built(NodeId, Option<Key>),
    Failed,
}

struct Builder<'p, 'd> {
    program: &'p Program,
    graph: DiGraph<LogicalNode, LogicalEdge>,
    sources: Vec<Option<NodeId>>,
    lets: Vec<LetState>,
    diagnostics: &'d mut Vec<Diagnostic>,
}

impl Builder<'_, '_> {
    /// Adds a stream's nodes; returns its last node and the key in effect there.
    fn stream(&mut self, stream: &Stream) -> Option<(NodeId, Option<Key>)> {
        let (mut tail, mut key) = self.head(stream)?;
        for operator in &stream.operators {
            let node = self.graph.add_node(LogicalNode {
                name: operator.attributes.name.clone().unwrap_or_else(|| operator.kind.display_name().to_string()),
                kind: NodeKind::Operator { kind: operator.kind.clone(), attributes: operator.attributes.clone() },
                ends_let: None,
                keyword: operator.keyword,
                span: operator.span,
            });
            self.graph.add_edge(tail, node, LogicalEdge { record: operator.input.clone(), key: key.clone(), port: 0 });
            if let OperatorKind::Join(join) = &operator.kind {
                let (right_tail, right_key) = self.stream(&join.right)?;
                let record = join.right.record.clone();
                self.graph.add_edge(right_tail, node, LogicalEdge { record, key: right_key, port: 1 });
            }
            key = key_after(&operator.kind, key);
            tail = node;
        }
        Some((tail, key))
    }

    fn head(&mut self, stream: &Stream) -> Option<(NodeId, Option<Key>)> {
        match &stream.head {
            StreamHead::Source(id) => Some((self.source(*id), None)),
            StreamHead::Let(id) => match &self.lets[*id] {
                LetState::Built(tail, key) => Some((*tail, key.clone())),
                LetState::Failed => None,
                LetState::NotBuilt | LetState::Building => {
                    let name = &self.program.lets[*id].name;
                    self.diagnostics.push(internal(
                        stream.span,
                        format!("the stream `{name}` is read before it is built, which would make a cycle"),
                    ));
                    None
                }
            },
            StreamHead::Union { inputs, span } => {
                let mut built = Vec::new();
                for input in inputs {
                    built.push((self.stream(input)?, input.record.clone()));
                }
                let union = self.graph.add_node(LogicalNode {
                    kind: NodeKind::Union,
                    name: "Union".into(),
                    ends_let: None,
                    keyword: Span::new(span.start, span.start + "union".len()),
                    span: *span,
                });
                for ((tail, key), record) in built {
                    self.graph.add_edge(tail, union, LogicalEdge { record, key, port: 0 });
                }
                Some((union, None))
            }
        }
    }

    fn source(&mut self, id: usize) -> NodeId {
        if let Some(node) = self.sources[id] {
            return node;
        }
        let source = &self.program.sources[id];
        let node = self.graph.add_node(LogicalNode {
            name: format!("Source: {}", source.attributes.name.as_deref().unwrap_or(&source.name)),
            kind: NodeKind::Source(source.clone()),
            ends_let: None,
            keyword: source.name_span,
            span: source.span,
        });
        self.sources[id] = Some(node);
        node
    }
}

fn sink_name(sink: &Sink) -> String {
    let connector = match &sink.connector {
        SinkConnector::Print => "print",
        SinkConnector::Discard => "discard",
        SinkConnector::File { .. } => "file",
        SinkConnector::Postgres(_) => "postgres",
    };
    format!("Sink: {}", sink.attributes.name.as_deref().unwrap_or(connector))
}

/// What a source connector is called in plans.
pub fn source_connector_name(connector: &SourceConnector) -> &'static str {
    match connector {
        SourceConnector::Generate { .. } => "generate",
        SourceConnector::File { .. } => "file",
        SourceConnector::Stdin { .. } => "stdin",
        SourceConnector::Nexmark(_) => "nexmark",
    }
}

fn without_nodes_reaching_no_sink(graph: DiGraph<LogicalNode, LogicalEdge>) -> DiGraph<LogicalNode, LogicalEdge> {
    let mut reaches_sink = vec![false; graph.node_count()];
    let mut stack: Vec<NodeId> = graph.node_indices().filter(|n| matches!(graph[*n].kind, NodeKind::Sink(_))).collect();
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut reaches_sink[node.index()], true) {
            continue;
        }
        stack.extend(graph.neighbors_directed(node, Direction::Incoming));
    }
    graph.filter_map(|node, weight| reaches_sink[node.index()].then(|| weight.clone()), |_, edge| Some(edge.clone()))
}

/// A broken promise between `check` and the planner.
pub fn internal(span: Span, message: String) -> Diagnostic {
    Diagnostic::error(Code::Internal, message)
        .label(span, "here")
        .help("this is a bug in flowc, not in your file; please report it with the file attached")
}
