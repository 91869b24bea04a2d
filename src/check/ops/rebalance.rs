//! `rebalance`: spreads records round-robin over the next operator's subtasks.

use super::{FlinkForm, KeyUse, OperatorSpec, Pace, PartitionKind, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "rebalance",
    summary: "spreads records round-robin over the subtasks of the next operator",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Ends,
    routing: Routing::Partitions(PartitionKind::Rebalance),
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Distribution,
};
