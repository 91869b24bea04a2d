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

#[cfg(test)]
mod tests;
