//! Planning: from a checked program to the tasks a run starts.
//!
//! 1. `logical` turns the program into a petgraph graph, one node per
//!    operator as written, each with its span;
//! 2. `physical` gives every real operator a parallelism and every edge a
//!    partitioning (`forward`, `hash`, `rebalance`, `broadcast`);
//! 3. `chain` fuses neighbours into tasks by Flink's rules and records why
//!    each other edge did not fuse;
//! 4. `explain` draws the result as text, Graphviz DOT or JSON.
//!
//! Planning does no IO and never fails on a program `check` accepted,
//! except for the few rules only a whole plan can see (`flow::not_parallel`).

pub mod chain;
pub mod explain;
pub mod logical;
pub mod physical;

pub use chain::ChainBreak;
pub use logical::{LogicalPlan, NodeId, NodeKind};
pub use physical::{EdgeId, OperatorId, Partitioning, PartitioningCause, PhysicalPlan, TaskId};

use crate::check::Program;
use crate::diag::Diagnostic;

/// The outcome of planning: the plan when there are no errors, and every
/// diagnostic found on the way.
#[derive(Debug)]
pub struct Planned {
    pub plan: Option<PhysicalPlan>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Plans a checked program with the settings it carries.
pub fn plan(program: &Program) -> Planned {
    let mut diagnostics = Vec::new();
    let logical = logical::build_logical_plan(program, &mut diagnostics);
    let mut plan = physical::build_physical_plan(logical, &program.config, &mut diagnostics);
    chain::chain_operators(&mut plan);
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    Planned { plan: (!failed).then_some(plan), diagnostics }
}

/// A change to how operators run, as `@parallelism(n)` or `@new_chain`
/// written on them would make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    Parallelism(NodeId, u32),
    NewChain(NodeId),
}

/// The plan `plan` would be with `overrides` written in its file, by the
/// same parallelism, partitioning and chaining rules: what a proposed
/// change does to the chains, without editing any text. Operator ids stay
/// those of `plan`, because the logical graph is the same.
pub fn replan(plan: &PhysicalPlan, overrides: &[Override]) -> PhysicalPlan {
    let mut logical = plan.logical.clone();
    for change in overrides {
        let (node, parallelism, new_chain) = match *change {
            Override::Parallelism(node, n) => (node, Some(n), false),
            Override::NewChain(node) => (node, None, true),
        };
        let logical_node = &mut logical.graph[node];
        let span = logical_node.keyword;
        let attributes = match &mut logical_node.kind {
            NodeKind::Source(source) => &mut source.attributes,
            NodeKind::Operator { attributes, .. } => attributes,
            NodeKind::Sink(sink) => &mut sink.attributes,
            NodeKind::Union => continue,
        };
        if let Some(n) = parallelism {
            attributes.parallelism = Some((n, span));
        }
        if new_chain {
            attributes.new_chain = Some(span);
        }
    }
    let mut diagnostics = Vec::new();
    let mut replanned = physical::build_physical_plan(logical, &plan.config, &mut diagnostics);
    chain::chain_operators(&mut replanned);
    replanned
}

#[cfg(test)]
mod tests;
