//! Operator chaining (fusion), by Flink's rules: an edge is chained when it
//! is `forward`, both sides have the same parallelism, the receiver has
//! exactly one input, neither side says `@no_chain`, the receiver does not
//! say `@new_chain`, and chaining is on. Chained operators form a task; a
//! task is a tree (an operator may chain to several receivers, as in Flink),
//! named like Flink's: `Source: a -> Map -> (Filter -> Sink: print, Sink: discard)`.
//!
//! Every edge that is not chained records each rule that kept it apart, so
//! `flowc explain` can say why.

use crate::check::config::SettingOrigin;
use crate::diag::Span;

use super::logical::NodeId;
use super::physical::{EdgeId, OperatorId, PartitioningCause, PhysicalPlan, Task};

/// One reason an edge did not chain.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainBreak {
    /// The file asked for `key_by`, `rebalance` or `broadcast` (at `node`).
    Partitioning { node: NodeId },
    /// Sender and receiver have different parallelism.
    ParallelismChange { from: u32, to: u32 },
    /// The receiver reads more than one input (a union, or several senders).
    MultipleInputs { inputs: usize },
    /// `@no_chain` on the sender or the receiver.
    NoChain { operator: OperatorId, at: Span },
    /// `@new_chain` on the receiver.
    NewChain { operator: OperatorId, at: Span },
    /// Chaining is switched off for the whole program.
    ChainingOff { origin: SettingOrigin },
}

impl ChainBreak {
    /// A stable identifier of the rule, for JSON and tools.
    pub fn rule(&self) -> &'static str {
        match self {
            ChainBreak::Partitioning { .. } => "partitioning",
            ChainBreak::ParallelismChange { .. } => "parallelism_change",
            ChainBreak::MultipleInputs { .. } => "multiple_inputs",
            ChainBreak::NoChain { .. } => "no_chain",
            ChainBreak::NewChain { .. } => "new_chain",
            ChainBreak::ChainingOff { .. } => "chaining_off",
        }
    }
}

/// Decides which edges chain, then groups operators into tasks.
pub fn chain_operators(plan: &mut PhysicalPlan) {
    for edge_id in 0..plan.edges.len() {
        let breaks = chain_breaks(plan, edge_id);
        let edge = &mut plan.edges[edge_id];
        edge.chained = breaks.is_empty();
        edge.chain_breaks = breaks;
    }
    // Operators are in topological order, and a chained receiver has exactly
    // one input, so its sender's task is known when it is reached.
    let mut tasks: Vec<Task> = Vec::new();
    for operator in 0..plan.operators.len() {
        let chained_input = plan.operators[operator].inputs.iter().find(|edge| plan.edges[**edge].chained);
        let task = match chained_input {
            Some(edge) => plan.operators[plan.edges[*edge].from].task,
            None => {
                tasks.push(Task {
                    id: tasks.len(),
                    name: String::new(),
                    parallelism: plan.operators[operator].parallelism,
                    head: operator,
                    operators: vec![],
                    inputs: vec![],
                    outputs: vec![],
                });
                tasks.len() - 1
            }
        };
        plan.operators[operator].task = task;
    }
    for task in &mut tasks {
        task.operators = chain_order(plan, task.head);
        task.name = chain_name(plan, task.head);
    }
    for edge in plan.edges.iter().filter(|edge| !edge.chained) {
        tasks[plan.operators[edge.from].task].outputs.push(edge.id);
        tasks[plan.operators[edge.to].task].inputs.push(edge.id);
    }
    plan.tasks = tasks;
}

fn chain_breaks(plan: &PhysicalPlan, edge_id: EdgeId) -> Vec<ChainBreak> {
    let edge = &plan.edges[edge_id];
    let (sender, receiver) = (&plan.operators[edge.from], &plan.operators[edge.to]);
    let mut breaks = Vec::new();
    if let PartitioningCause::Requested { node } = edge.cause {
        breaks.push(ChainBreak::Partitioning { node });
    }
    if sender.parallelism != receiver.parallelism {
        breaks.push(ChainBreak::ParallelismChange { from: sender.parallelism, to: receiver.parallelism });
    }
    if receiver.inputs.len() > 1 {
        breaks.push(ChainBreak::MultipleInputs { inputs: receiver.inputs.len() });
    }
    for operator in [sender, receiver] {
        if let Some(at) = plan.node(operator.id).attributes().no_chain {
            breaks.push(ChainBreak::NoChain { operator: operator.id, at });
        }
    }
    if let Some(at) = plan.node(receiver.id).attributes().new_chain {
        breaks.push(ChainBreak::NewChain { operator: receiver.id, at });
    }
    if !plan.config.chaining {
        let origin = plan.config.origins.get("chaining").copied().unwrap_or(SettingOrigin::CommandLine);
        breaks.push(ChainBreak::ChainingOff { origin });
    }
    breaks
}

/// The receivers an operator is chained to, in edge order.
fn chained_receivers(plan: &PhysicalPlan, operator: OperatorId) -> Vec<OperatorId> {
    plan.operators[operator].outputs.iter().map(|e| &plan.edges[*e]).filter(|e| e.chained).map(|e| e.to).collect()
}

/// The chain from `head`, depth first. A stack, not recursion: chains can
/// be thousands of operators long.
fn chain_order(plan: &PhysicalPlan, head: OperatorId) -> Vec<OperatorId> {
    let mut order = Vec::new();
    let mut stack = vec![head];
    while let Some(operator) = stack.pop() {
        order.push(operator);
        stack.extend(chained_receivers(plan, operator).into_iter().rev());
    }
    order
}

/// Flink's chain name: `a -> b` along a chain, `a -> (b, c)` where it forks.
fn chain_name(plan: &PhysicalPlan, head: OperatorId) -> String {
    enum Step {
        Operator(OperatorId),
        Text(&'static str),
    }
    let mut name = String::new();
    let mut stack = vec![Step::Operator(head)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Text(text) => name.push_str(text),
            Step::Operator(operator) => {
                name.push_str(&plan.operators[operator].name);
                match chained_receivers(plan, operator).as_slice() {
                    [] => {}
                    [next] => stack.extend([Step::Operator(*next), Step::Text(" -> ")]),
                    receivers => {
                        stack.push(Step::Text(")"));
                        for (index, next) in receivers.iter().enumerate().rev() {
                            stack.push(Step::Operator(*next));
                            if index > 0 {
                                stack.push(Step::Text(", "));
                            }
                        }
                        stack.push(Step::Text(" -> ("));
                    }
                }
            }
        }
    }
    name
}
