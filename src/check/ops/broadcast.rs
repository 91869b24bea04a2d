//! `broadcast`: sends every record to every subtask of the next operator.

use super::{FlinkForm, KeyUse, OperatorSpec, Pace, PartitionKind, Records, Routing, StateKind};

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "broadcast",
    summary: "sends every record to every subtask of the next operator",
    inputs: 1,
    records: Records::PassThrough,
    keys: KeyUse::Ends,
    routing: Routing::Partitions(PartitionKind::Broadcast),
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::None,
    flink: FlinkForm::Refused,
};
