//! The physical plan: the real operators of the logical plan (everything
//! but partitioners and unions), each with a parallelism, and the edges
//! between them, each with a partitioning that says which subtask of the
//! receiver a record goes to.
//!
//! Partitioners and unions dissolve here, as Flink's virtual partition
//! nodes do: `key_by` becomes `hash(key)` on the edges after it, a union
//! becomes several edges into the operator that reads it.

use std::sync::Arc;

use crate::check::config::{Config, SettingOrigin};
use crate::check::ops::{KeyUse, PartitionKind, Routing};
use crate::check::program::{Key, OperatorKind};
use crate::check::types::RecordType;
use crate::check::MAX_PARALLELISM;
use crate::diag::{Code, Diagnostic, Span};

use super::chain::ChainBreak;
use super::logical::{internal, LogicalPlan, NodeId, NodeKind};

pub type OperatorId = usize;
pub type EdgeId = usize;
pub type TaskId = usize;

/// The plan a run executes: operators, edges and the tasks (chains) that
/// group them. Every list is in a fixed order, so output is stable.
#[derive(Debug, Clone)]
pub struct PhysicalPlan {
    pub config: Config,
    pub logical: LogicalPlan,
    /// In topological order: an operator comes after every operator it reads.
    pub operators: Vec<PhysicalOperator>,
    /// In order of their sending operator, then of their receiver.
    pub edges: Vec<PhysicalEdge>,
    /// In order of their head operator.
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone)]
pub struct PhysicalOperator {
    pub id: OperatorId,
    /// The logical node it runs: its kind, name and spans are there.
    pub node: NodeId,
    pub name: String,
    pub parallelism: u32,
    pub parallelism_origin: ParallelismOrigin,
    pub inputs: Vec<EdgeId>,
    pub outputs: Vec<EdgeId>,
    /// Set by chaining.
    pub task: TaskId,
}

/// Why an operator runs with the parallelism it has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParallelismOrigin {
    /// `@parallelism(n)` on the operator.
    Attribute(Span),
    /// The `parallelism` setting (in the file or on the command line).
    Config(SettingOrigin),
    /// Nothing said otherwise: 1.
    Default,
    /// The connector runs as one subtask whatever the setting says.
    NotParallel(&'static str),
}

#[derive(Debug, Clone)]
pub struct PhysicalEdge {
    pub id: EdgeId,
    pub from: OperatorId,
    pub to: OperatorId,
    pub partitioning: Partitioning,
    pub cause: PartitioningCause,
    /// The records the edge carries, and so the layout of its buffers.
    pub record: Arc<RecordType>,
    /// The key in effect at the receiver.
    pub key: Option<Key>,
    /// The receiver's input it feeds: 0, or 1 for a join's bracketed stream.
    pub port: usize,
    /// The partitioners and unions the edge passes, in order.
    pub via: Vec<NodeId>,
    /// Set by chaining: whether sender and receiver run in one task.
    pub chained: bool,
    /// Set by chaining: every rule that kept the two apart.
    pub chain_breaks: Vec<ChainBreak>,
}

/// Which receiving subtask each record goes to.
#[derive(Debug, Clone)]
pub enum Partitioning {
    /// Subtask i sends to subtask i: same parallelism, one-to-one.
    Forward,
    /// By a hash of the key, so all records of a key meet in one subtask.
    Hash(Key),
    /// Round-robin over all receiving subtasks.
    Rebalance,
    /// Every record to every receiving subtask.
    Broadcast,
}

/// Why an edge has its partitioning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PartitioningCause {
    /// Same parallelism on both sides, nothing asked.
    Forward,
    /// A `key_by`, `rebalance` or `broadcast` in the file.
    Requested { node: NodeId },
    /// The parallelism changes and nothing was asked: records are spread
    /// round-robin, or hashed again by the key when a window or aggregate
    /// after the receiver needs it.
    ParallelismChange,
}

impl Partitioning {
    /// `forward`, `hash`, `rebalance`, `broadcast`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Partitioning::Forward => "forward",
            Partitioning::Hash(_) => "hash",
            Partitioning::Rebalance => "rebalance",
            Partitioning::Broadcast => "broadcast",
        }
    }
}

/// A chain of operators run together: one thread per subtask.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: TaskId,
    /// Flink-style: `Source: readings -> Map -> Filter`.
    pub name: String,
    pub parallelism: u32,
    pub head: OperatorId,
    /// Head first, then the chain in depth-first order.
    pub operators: Vec<OperatorId>,
    /// Edges from other tasks into this one.
    pub inputs: Vec<EdgeId>,
    /// Edges from this task to others.
    pub outputs: Vec<EdgeId>,
}

impl PhysicalPlan {
    pub fn node(&self, operator: OperatorId) -> &super::logical::LogicalNode {
        self.logical.node(self.operators[operator].node)
    }

    /// The records `operator` reads on input `port` (0, or 1 for a join's
    /// right stream): those of the first edge into that port.
    pub fn input_record(&self, operator: OperatorId, port: usize) -> Option<Arc<RecordType>> {
        let edges = &self.operators[operator].inputs;
        edges.iter().map(|&edge| &self.edges[edge]).find(|edge| edge.port == port).map(|edge| edge.record.clone())
    }

    /// Whether `operator` reads two inputs: a join.
    pub fn reads_two_inputs(&self, operator: OperatorId) -> bool {
        self.node(operator).spec().is_some_and(|spec| spec.inputs == 2)
    }

    /// `left` or `right` for an edge into a join; `None` for any other edge.
    pub fn join_side(&self, edge: &PhysicalEdge) -> Option<&'static str> {
        self.reads_two_inputs(edge.to).then_some(if edge.port == 0 { "left" } else { "right" })
    }

    /// How many sender→receiver subtask pairs an edge connects.
    pub fn channels(&self, edge: &PhysicalEdge) -> u32 {
        match edge.partitioning {
            Partitioning::Forward => self.operators[edge.to].parallelism,
            _ => self.operators[edge.from].parallelism * self.operators[edge.to].parallelism,
        }
    }
}

/// Places the real operators of `logical` and connects them.
pub fn build_physical_plan(logical: LogicalPlan, config: &Config, diagnostics: &mut Vec<Diagnostic>) -> PhysicalPlan {
    let order = match logical.topological_order() {
        Ok(order) => order,
        Err(node) => {
            diagnostics.push(internal(logical.node(node).span, "the plan has a cycle through this operator".into()));
            return PhysicalPlan { config: config.clone(), logical, operators: vec![], edges: vec![], tasks: vec![] };
        }
    };
    let mut operator_of: Vec<Option<OperatorId>> = vec![None; logical.graph.node_count()];
    let mut operators = Vec::new();
    for node in order.iter().copied().filter(|n| !logical.node(*n).is_virtual()) {
        let (parallelism, parallelism_origin) = parallelism_of(&logical, node, config, diagnostics);
        operator_of[node.index()] = Some(operators.len());
        operators.push(PhysicalOperator {
            id: operators.len(),
            node,
            name: logical.node(node).name.clone(),
            parallelism,
            parallelism_origin,
            inputs: vec![],
            outputs: vec![],
            task: 0,
        });
    }

    let needs_key = nodes_needing_their_key(&logical, &order);
    let mut edges = Vec::new();
    for receiver in 0..operators.len() {
        let node = operators[receiver].node;
        for (from, edge) in logical.inputs(node) {
            for (sender_node, requested, mut via) in senders(&logical, from) {
                via.reverse();
                let sender = operator_of[sender_node.index()].expect("a real node has an operator");
                let key_needed = edge.key.as_ref().filter(|_| needs_key[node.index()]);
                let (partitioning, cause) = partitioning(
                    &logical,
                    requested,
                    key_needed,
                    operators[sender].parallelism,
                    operators[receiver].parallelism,
                );
                edges.push(PhysicalEdge {
                    id: 0,
                    from: sender,
                    to: receiver,
                    partitioning,
                    cause,
                    record: edge.record.clone(),
                    key: edge.key.clone(),
                    port: edge.port,
                    via,
                    chained: false,
                    chain_breaks: vec![],
                });
            }
        }
    }
    edges.sort_by_key(|edge| (edge.from, edge.to, edge.port));
    for (id, edge) in edges.iter_mut().enumerate() {
        edge.id = id;
        operators[edge.from].outputs.push(id);
        operators[edge.to].inputs.push(id);
    }
    let plan = PhysicalPlan { config: config.clone(), logical, operators, edges, tasks: vec![] };
    warn_of_overridden_partitioners(&plan.logical, diagnostics);
    check_keyed_inputs(&plan, diagnostics);
    plan
}

/// The real operators whose records reach `node`, each with the last
/// partitioner on the way and the virtual nodes passed (nearest first).
fn senders(logical: &LogicalPlan, node: NodeId) -> Vec<(NodeId, Option<NodeId>, Vec<NodeId>)> {
    let mut found = Vec::new();
    // Walk up through virtual nodes; a stack, not recursion, however long
    // a run of partitioners and unions is.
    let mut stack = vec![(node, None, Vec::new())];
    while let Some((node, requested, mut via)) = stack.pop() {
        let logical_node = logical.node(node);
        if !logical_node.is_virtual() {
            found.push((node, requested, via));
            continue;
        }
        via.push(node);
        // The partitioner nearest the receiver wins, as in Flink.
        let requested = requested.or(match logical_node.kind {
            NodeKind::Union => None,
            _ => Some(node),
        });
        for (input, _) in logical.inputs(node).into_iter().rev() {
            stack.push((input, requested, via.clone()));
        }
    }
    found
}

/// Whether each node, reading a keyed stream, needs it partitioned by the
/// key: a window or an aggregate does, and so does an operator that keeps
/// the key on its way to one of them.
fn nodes_needing_their_key(logical: &LogicalPlan, order: &[NodeId]) -> Vec<bool> {
    let mut needs_key = vec![false; logical.graph.node_count()];
    for node in order.iter().rev() {
        needs_key[node.index()] = match logical.node(*node).spec().map(|spec| spec.keys) {
            Some(KeyUse::Needs) => true,
            Some(KeyUse::Keeps) => logical.outputs(*node).iter().any(|(next, _)| needs_key[next.index()]),
            Some(KeyUse::Sets | KeyUse::Ends) | None => false,
        };
    }
    needs_key
}

/// `key` is the key in effect at the receiver, when the receiver needs it.
fn partitioning(
    logical: &LogicalPlan,
    requested: Option<NodeId>,
    key: Option<&Key>,
    sender_parallelism: u32,
    receiver_parallelism: u32,
) -> (Partitioning, PartitioningCause) {
    if let Some(node) = requested {
        let partitioning = match &logical.node(node).kind {
            NodeKind::Operator { kind: OperatorKind::KeyBy { key }, .. } => Partitioning::Hash(key.clone()),
            NodeKind::Operator { kind, .. } => match kind.spec().routing {
                Routing::Partitions(PartitionKind::Broadcast) => Partitioning::Broadcast,
                Routing::Partitions(PartitionKind::Rebalance) => Partitioning::Rebalance,
                Routing::Partitions(PartitionKind::Hash) | Routing::Runs => {
                    unreachable!("a requested partitioning comes from a partitioner; key_by carries its key")
                }
            },
            NodeKind::Source(_) | NodeKind::Union | NodeKind::Sink(_) => {
                unreachable!("a requested partitioning comes from a partitioner")
            }
        };
        return (partitioning, PartitioningCause::Requested { node });
    }
    if sender_parallelism == receiver_parallelism {
        return (Partitioning::Forward, PartitioningCause::Forward);
    }
    // A keyed stream on its way to a window must stay partitioned by its
    // key, or the window would see a key's records spread over several
    // subtasks. (Flink has no such stream: its keyed operators follow
    // `keyBy` directly.)
    match key {
        Some(key) => (Partitioning::Hash(key.clone()), PartitioningCause::ParallelismChange),
        None => (Partitioning::Rebalance, PartitioningCause::ParallelismChange),
    }
}

fn parallelism_of(
    logical: &LogicalPlan,
    node: NodeId,
    config: &Config,
    diagnostics: &mut Vec<Diagnostic>,
) -> (u32, ParallelismOrigin) {
    let logical_node = logical.node(node);
    let attributes = logical_node.attributes();
    let one_subtask = match &logical_node.kind {
        NodeKind::Source(source) => source.connector.spec().one_subtask,
        NodeKind::Sink(sink) => sink.connector.spec().one_subtask,
        NodeKind::Operator { .. } | NodeKind::Union => None,
    };
    let (parallelism, origin) = match (attributes.parallelism, one_subtask) {
        (Some((n, span)), Some(reason)) if n > 1 => {
            diagnostics.push(
                Diagnostic::error(Code::NotParallel, format!("`{}` cannot run as {n} subtasks", logical_node.name))
                    .label(span, reason)
                    .help("remove the `@parallelism`, or give the work after it its own `@parallelism`"),
            );
            (1, ParallelismOrigin::NotParallel(reason))
        }
        (Some((n, span)), _) => (n, ParallelismOrigin::Attribute(span)),
        (None, Some(reason)) => (1, ParallelismOrigin::NotParallel(reason)),
        (None, None) => match config.origins.get("parallelism") {
            Some(origin) => (config.parallelism, ParallelismOrigin::Config(*origin)),
            None => (config.parallelism, ParallelismOrigin::Default),
        },
    };
    if !(1..=MAX_PARALLELISM).contains(&parallelism) {
        diagnostics.push(internal(
            logical_node.keyword,
            format!(
                "`{}` would run as {parallelism} subtasks; parallelism is from 1 to {MAX_PARALLELISM}",
                logical_node.name
            ),
        ));
        return (1, origin);
    }
    (parallelism, origin)
}

/// A partitioner followed, on every way to an operator, by another one
/// does nothing: the later one decides where records go.
fn warn_of_overridden_partitioners(logical: &LogicalPlan, diagnostics: &mut Vec<Diagnostic>) {
    let is_partitioner =
        |node: NodeId| logical.node(node).is_virtual() && !matches!(logical.node(node).kind, NodeKind::Union);
    for partitioner in logical.graph.node_indices().filter(|node| is_partitioner(*node)) {
        let mut overriding = None;
        let mut reaches_operator = false;
        let mut stack: Vec<NodeId> = logical.outputs(partitioner).into_iter().map(|(to, _)| to).collect();
        while let Some(node) = stack.pop() {
            if is_partitioner(node) {
                overriding.get_or_insert(node);
            } else if logical.node(node).is_virtual() {
                stack.extend(logical.outputs(node).into_iter().map(|(to, _)| to));
            } else {
                reaches_operator = true;
                break;
            }
        }
        let (Some(overriding), false) = (overriding, reaches_operator) else { continue };
        let (first, later) = (logical.node(partitioner), logical.node(overriding));
        diagnostics.push(
            Diagnostic::warning(Code::OverriddenPartitioning, format!("this `{}` has no effect", keyword_of(first)))
                .label(first.keyword, "overridden")
                .label(later.keyword, format!("this `{}` decides where records go", keyword_of(later)))
                .help(format!("remove the `{}`, or put an operator between the two", keyword_of(first))),
        );
    }
}

/// The word a partitioner is written with.
fn keyword_of(node: &super::logical::LogicalNode) -> &'static str {
    node.spec().map_or("union", |spec| spec.keyword)
}

/// Every keyed operator must read records partitioned by its key: by a
/// hash edge, or a forward edge from an operator that read them so.
fn check_keyed_inputs(plan: &PhysicalPlan, diagnostics: &mut Vec<Diagnostic>) {
    let mut delivers_keyed = vec![false; plan.edges.len()];
    for operator in &plan.operators {
        let inputs_keyed = !operator.inputs.is_empty()
            && operator.inputs.iter().all(|edge| delivers_keyed_edge(plan, *edge, &delivers_keyed));
        for edge in &operator.outputs {
            delivers_keyed[*edge] = match plan.edges[*edge].partitioning {
                Partitioning::Hash(_) => true,
                Partitioning::Forward => inputs_keyed,
                Partitioning::Rebalance | Partitioning::Broadcast => false,
            };
        }
        let node = plan.node(operator.id);
        let keyed = node.spec().is_some_and(|spec| spec.keys == KeyUse::Needs);
        if keyed && !inputs_keyed {
            diagnostics.push(internal(
                node.keyword,
                format!("`{}` would read records that are not partitioned by its key", node.name),
            ));
        }
    }
}

fn delivers_keyed_edge(plan: &PhysicalPlan, edge: EdgeId, delivers_keyed: &[bool]) -> bool {
    plan.edges[edge].key.is_some() && delivers_keyed[edge]
}
