//! Operators that wait on another system, in the whole-job proposal
//! (`scaling::scale` calls both): blocking calls made asynchronously
//! instead of grown (`make_calls_async`), and Postgres sinks that write
//! larger batches instead (`make_batches_bigger`) — which operators talk to
//! a database, what they did there, and what a sink's transaction costs, a
//! part fixed per transaction and a part per row.

use serde::{Deserialize, Serialize};

use crate::check::program::{OperatorKind, SinkConnector, TableSource, WriteMode};
use crate::check::{LOOKUP_POLL, MAX_ASYNC_CAPACITY, MAX_LOOKUP_CONNECTIONS};
use crate::metrics::recording::{DatabaseTotals, Recording};
use crate::plan::{NodeKind, PhysicalPlan};

use super::scaling::{bounded, AsyncChange, Flow, Limit, ASYNC_WAKE_UP, TARGET_UTILISATION};

/// A Postgres sink, or a lookup of a Postgres table: it waits on the server.
pub fn talks_to_a_database(plan: &PhysicalPlan, operator: usize) -> bool {
    match &plan.node(operator).kind {
        NodeKind::Sink(sink) => matches!(sink.connector, SinkConnector::Postgres(_)),
        NodeKind::Operator { kind: OperatorKind::Lookup { table, .. }, .. } => {
            matches!(plan.logical.tables[*table].connector, TableSource::Postgres { .. })
        }
        _ => false,
    }
}

/// An operator's database totals, summed over its subtasks.
pub fn database_totals(plan: &PhysicalPlan, recording: &Recording, operator: usize) -> DatabaseTotals {
    let task = plan.operators[operator].task;
    let position = plan.tasks[task].operators.iter().position(|&o| o == operator).unwrap_or(0);
    let mut sum = DatabaseTotals::default();
    for subtask in recording.tasks.get(task).map_or(&[][..], |t| &t.subtasks[..]) {
        let Some(db) = subtask.totals.operator_database.get(position) else { continue };
        sum.transactions += db.transactions;
        sum.rows_written += db.rows_written;
        sum.begin_ms += db.begin_ms;
        sum.write_ms += db.write_ms;
        sum.commit_ms += db.commit_ms;
        sum.lookups += db.lookups;
        sum.cache_hits += db.cache_hits;
        sum.queries += db.queries;
        sum.keys_queried += db.keys_queried;
        sum.query_ms += db.query_ms;
    }
    sum
}

/// What one transaction of a Postgres sink costs, from a run's totals: a
/// part that does not grow with the batch (the round trips of `BEGIN`,
/// `COPY`, an upsert's `INSERT` and `COMMIT`, and the commit's flush to
/// disk) and a part per row. `BEGIN` is a round trip and nothing else, so
/// the rows' share of the writing statements is their time less as many
/// round trips as they make (two for a `COPY`, three with an upsert's `INSERT`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TransactionCost {
    pub rows_per_transaction: f64,
    pub fixed_ms: f64,
    pub per_row_ms: f64,
}

impl TransactionCost {
    pub fn of(db: &DatabaseTotals, upsert: bool) -> Option<TransactionCost> {
        if db.transactions == 0 {
            return None;
        }
        let n = db.transactions as f64;
        let rows = db.rows_written as f64 / n;
        let (begin, write, commit) = (db.begin_ms / n, db.write_ms / n, db.commit_ms / n);
        // Batches of a few rows cannot tell a row's cost from a statement's:
        // a row is then taken to cost what COPY takes per row.
        let per_row_ms = match rows >= ROWS_TO_MEASURE_A_ROW {
            true => {
                let round_trips = if upsert { 3.0 } else { 2.0 };
                ((write - round_trips * begin).max(0.0) / rows).max(COPY_ROW_MS)
            }
            false => COPY_ROW_MS,
        };
        let fixed_ms = (begin + write + commit - rows * per_row_ms).max(begin);
        Some(TransactionCost { rows_per_transaction: rows, fixed_ms, per_row_ms })
    }

    /// Rows a writer takes per second with batches of `rows`.
    pub fn rate(&self, rows: f64) -> f64 {
        rows * 1000.0 / (self.fixed_ms + rows * self.per_row_ms).max(1e-9)
    }
}

/// Rows a transaction must carry on average before its time tells what a row costs.
const ROWS_TO_MEASURE_A_ROW: f64 = 50.0;
/// What PostgreSQL's COPY takes per row of a few columns, measured with
/// `scripts/bench-postgres.sh` (text format, local server): about 2 µs.
const COPY_ROW_MS: f64 = 0.002;

/// `batch_size = to` on a Postgres sink: fewer, larger transactions
/// instead of more writers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchChange {
    pub operator: usize,
    pub node: usize,
    pub name: String,
    pub line: usize,
    pub from: u32,
    pub to: u32,
    pub cost: TransactionCost,
    /// What each writer must take for the target, and would with `to`.
    pub per_subtask_per_second: f64,
    pub expected_per_subtask: f64,
}

/// The most rows `batch_size` advice proposes: beyond it a transaction
/// holds its locks and its memory long, and a failure rolls back much.
const MAX_BATCH_ADVICE: u32 = 100_000;

/// Postgres sinks that parallelism would grow: sized for the target with
/// larger batches, each writer's rate `rows / (fixed + rows × per_row)`;
/// more writers only where the rows themselves, not the transactions,
/// take the time (`proposed` keeps its growth then).
pub(super) fn make_batches_bigger(
    plan: &PhysicalPlan,
    recording: &Recording,
    loads: &[Flow],
    proposed: &mut [u32],
    line: &dyn Fn(usize) -> usize,
) -> Vec<BatchChange> {
    let mut changes = Vec::new();
    for o in 0..plan.operators.len() {
        let current = plan.operators[o].parallelism;
        let NodeKind::Sink(sink) = &plan.node(o).kind else { continue };
        let SinkConnector::Postgres(settings) = &sink.connector else { continue };
        if proposed[o] <= current {
            continue;
        }
        let upsert = matches!(settings.mode, WriteMode::Upsert { .. });
        let Some(cost) = TransactionCost::of(&database_totals(plan, recording, o), upsert) else { continue };
        let per_subtask = loads[o].load.per_subtask(current);
        let wanted = per_subtask / TARGET_UTILISATION;
        // rows / (fixed + rows × per_row) ≥ wanted, solved for rows.
        let headroom = 1.0 - wanted * cost.per_row_ms / 1000.0;
        let needed = match headroom > 0.2 {
            true => wanted * cost.fixed_ms / 1000.0 / headroom,
            false => f64::from(MAX_BATCH_ADVICE),
        };
        let to = nice_at_least(needed.ceil().max(f64::from(settings.batch_size) * 2.0)).min(MAX_BATCH_ADVICE);
        if to <= settings.batch_size {
            continue;
        }
        let expected = cost.rate(f64::from(to));
        if expected * TARGET_UTILISATION >= per_subtask {
            proposed[o] = current;
        } else {
            // The rows alone take the time: writers share them.
            let writers = (loads[o].total / (expected * TARGET_UTILISATION)).ceil() as u32;
            proposed[o] = proposed[o].min(writers.max(current + 1));
        }
        changes.push(BatchChange {
            operator: o,
            node: plan.operators[o].node.index(),
            name: plan.operators[o].name.clone(),
            line: line(o),
            from: settings.batch_size,
            to,
            cost,
            per_subtask_per_second: per_subtask,
            expected_per_subtask: expected,
        });
    }
    changes
}

/// The smallest of 1, 2, 5, 10, 20, 50, … at least `n`.
fn nice_at_least(n: f64) -> u32 {
    let mut step = 1.0_f64;
    loop {
        for factor in [1.0, 2.0, 5.0] {
            if step * factor >= n {
                return (step * factor).min(f64::from(u32::MAX)) as u32;
            }
        }
        step *= 10.0;
    }
}

/// Blocking calls that parallelism would grow, given calls in flight
/// instead: by Little's law a call needs rate × latency of them, and its
/// chain stays as it is. `proposed` keeps their parallelism, unless even
/// `MAX_ASYNC_CAPACITY` calls per subtask are too few.
pub(super) fn make_calls_async(
    plan: &PhysicalPlan,
    recording: &Recording,
    loads: &[Flow],
    proposed: &mut [u32],
    limits: &mut Vec<Limit>,
    line: &dyn Fn(usize) -> usize,
) -> Vec<AsyncChange> {
    let mut changes = Vec::new();
    for o in 0..plan.operators.len() {
        let current = plan.operators[o].parallelism;
        let NodeKind::Operator { kind, attributes } = &plan.node(o).kind else { continue };
        if proposed[o] <= current {
            continue;
        }
        // A thread wakes for each completion a little late (timer slack,
        // the scheduler): short calls need the wake-up counted in. A
        // lookup's query serves a batch of records, on a connection of its own.
        let (latency, records_per_call, max) = match kind {
            OperatorKind::Sleep { nanos } => (*nanos as f64 / 1e9 + ASYNC_WAKE_UP, 1.0, MAX_ASYNC_CAPACITY as u32),
            OperatorKind::Lookup { .. } if talks_to_a_database(plan, o) => {
                let db = database_totals(plan, recording, o);
                if db.queries == 0 {
                    continue;
                }
                let latency = db.query_ms / db.queries as f64 / 1000.0 + LOOKUP_POLL.as_secs_f64();
                (latency, db.lookups as f64 / db.queries as f64, MAX_LOOKUP_CONNECTIONS)
            }
            _ => continue,
        };
        let per_subtask = loads[o].load.per_subtask(current);
        let calls_per_second = per_subtask / records_per_call.max(1.0);
        let needed = ((calls_per_second * latency / TARGET_UTILISATION).ceil() as u32).max(4);
        let from = attributes.async_calls.map(|calls| calls.capacity);
        let to = needed.min(max).max(from.map_or(0, |from| from + 1)).min(max.max(from.unwrap_or(0)));
        if from.is_some_and(|from| from >= max) {
            continue;
        }
        proposed[o] = if needed > max {
            let more = (f64::from(current) * f64::from(needed) / f64::from(max)).ceil() as u32;
            bounded(plan, o, current, more, limits, line)
        } else {
            current
        };
        changes.push(AsyncChange {
            operator: o,
            node: plan.operators[o].node.index(),
            name: plan.operators[o].name.clone(),
            line: line(o),
            from,
            to,
            latency_ms: latency * 1000.0,
            per_subtask_per_second: per_subtask,
            records_per_call,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(transactions: u64, rows: u64, begin: f64, write: f64, commit: f64) -> DatabaseTotals {
        DatabaseTotals {
            transactions,
            rows_written: rows,
            begin_ms: begin,
            write_ms: write,
            commit_ms: commit,
            ..DatabaseTotals::default()
        }
    }

    #[test]
    fn a_row_by_row_sink_is_all_fixed_cost_and_large_batches_show_the_rows() {
        // One row a transaction: 0.1 ms to begin, 0.3 writing, 0.4 committing.
        let cost = TransactionCost::of(&totals(1000, 1000, 100.0, 300.0, 400.0), false).unwrap();
        assert!((cost.per_row_ms - COPY_ROW_MS).abs() < 1e-12, "{cost:?}");
        assert!((cost.fixed_ms - (0.8 - COPY_ROW_MS)).abs() < 1e-9, "{cost:?}");
        // 1,000 rows a transaction: COPY's two round trips (0.2 ms) and 5 µs a row.
        let cost = TransactionCost::of(&totals(10, 10_000, 1.0, 52.0, 4.0), false).unwrap();
        assert!((cost.per_row_ms - 0.005).abs() < 1e-9, "{cost:?}");
        assert!((cost.fixed_ms - 0.7).abs() < 1e-9, "{cost:?}");
        // An upsert's INSERT is a third round trip.
        let upsert = TransactionCost::of(&totals(10, 10_000, 1.0, 53.0, 4.0), true).unwrap();
        assert!((upsert.per_row_ms - 0.005).abs() < 1e-9, "{upsert:?}");
        assert!(TransactionCost::of(&DatabaseTotals::default(), false).is_none());
    }

    #[test]
    fn a_writers_rate_grows_with_its_batches_towards_the_rows_own_cost() {
        let cost = TransactionCost { rows_per_transaction: 1.0, fixed_ms: 1.0, per_row_ms: 0.01 };
        assert!((cost.rate(1.0) - 1000.0 / 1.01).abs() < 1e-6);
        assert!((cost.rate(100.0) - 100_000.0 / 2.0).abs() < 1e-6);
        assert!(cost.rate(1e9) < 100_000.0 && cost.rate(1e9) > 99_999.0);
    }

    #[test]
    fn batch_sizes_are_round_numbers_at_least_the_need() {
        assert_eq!(nice_at_least(1.0), 1);
        assert_eq!(nice_at_least(17.0), 20);
        assert_eq!(nice_at_least(20.0), 20);
        assert_eq!(nice_at_least(21.0), 50);
        assert_eq!(nice_at_least(51.0), 100);
        assert_eq!(nice_at_least(40_001.0), 50_000);
    }
}
