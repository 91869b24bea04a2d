//! Which operators of a chain compile into one function: runs of
//! neighbouring `filter`s and `map`s, each feeding only the next within
//! the task. The runtime fuses these runs (`runtime::wiring`) and
//! `flowc explain --jit` shows them; both ask here, so they agree.

use std::sync::Arc;

use crate::check::program::OperatorKind;
use crate::check::types::RecordType;
use crate::plan::physical::Task;
use crate::plan::{NodeKind, PhysicalPlan};

use super::backend::FusedStage;

/// A run of two or more operators that fuse.
pub struct FusableRun {
    /// Positions in `task.operators`, in data-flow order.
    pub positions: Vec<usize>,
    pub stages: Vec<FusedStage>,
    /// The records the run's first operator reads.
    pub input: Arc<RecordType>,
}

/// The fusable runs of `task`, in chain order; no operator is in two.
pub fn fusable_runs(plan: &PhysicalPlan, task: &Task) -> Vec<FusableRun> {
    let stage_of = |position: usize| {
        let operator = task.operators[position];
        let NodeKind::Operator { kind, .. } = &plan.node(operator).kind else { return None };
        let output = plan.operators[operator].outputs.first().map(|&edge| plan.edges[edge].record.clone());
        fused_stage(kind, output)
    };
    // The next operator in the chain, when this one feeds it and nothing else.
    let only_chained_child = |position: usize| {
        let outputs = &plan.operators[task.operators[position]].outputs;
        match outputs[..] {
            [edge] if plan.edges[edge].chained => task.operators.iter().position(|&op| op == plan.edges[edge].to),
            _ => None,
        }
    };
    let mut absorbed = vec![false; task.operators.len()];
    let mut runs = Vec::new();
    for start in 0..task.operators.len() {
        if absorbed[start] {
            continue;
        }
        let Some(first) = stage_of(start) else { continue };
        let (mut positions, mut stages) = (vec![start], vec![first]);
        while let Some(next) = only_chained_child(*positions.last().expect("a run has a start")) {
            let Some(stage) = stage_of(next) else { break };
            positions.push(next);
            stages.push(stage);
        }
        if positions.len() < 2 {
            continue;
        }
        positions[1..].iter().for_each(|&position| absorbed[position] = true);
        let input = plan.operators[task.operators[start]].inputs.first().map(|&edge| plan.edges[edge].record.clone());
        let Some(input) = input else { continue };
        runs.push(FusableRun { positions, stages, input });
    }
    runs
}

/// The stage an operator is in a fused function, if it fuses (`spec().fuses`).
fn fused_stage(kind: &OperatorKind, output: Option<Arc<RecordType>>) -> Option<FusedStage> {
    debug_assert!(kind.spec().fuses == matches!(kind, OperatorKind::Filter { .. } | OperatorKind::Map { .. }));
    match kind {
        OperatorKind::Filter { predicate } => Some(FusedStage::Filter(predicate.clone())),
        OperatorKind::Map { fields } => Some(FusedStage::Map(fields.clone(), output?)),
        OperatorKind::KeyBy { .. }
        | OperatorKind::Rebalance
        | OperatorKind::Broadcast
        | OperatorKind::Window { .. }
        | OperatorKind::Aggregate { .. }
        | OperatorKind::Top { .. }
        | OperatorKind::Join(_)
        | OperatorKind::Lookup { .. }
        | OperatorKind::Throttle { .. }
        | OperatorKind::Work { .. }
        | OperatorKind::Sleep { .. } => None,
    }
}
