//! The operator registry: one file per operator, holding what every stage
//! needs to know about it — its keyword, how many inputs it reads, what it
//! does to records and keys, how records reach it, whether it fuses with its
//! neighbours, whether it waits or computes, what state it keeps — and its
//! check, which turns its syntax into an `OperatorKind` and an output record.
//!
//! Later stages read these facts through `OperatorKind::spec` instead of
//! matching on operators themselves, so a new operator is one more file here
//! and one more `OperatorKind` variant; the stages that give it behaviour (its
//! runtime step, its Flink SQL) each have one exhaustive match that the
//! compiler points at. The registry sits in `check` because `check` needs
//! the facts first and may import nothing to its right.

mod aggregate;
mod broadcast;
mod filter;
mod join;
mod key_by;
mod lookup;
mod map;
mod rebalance;
mod sleep;
mod throttle;
mod top;
mod window;
mod work;

use std::sync::Arc;

use crate::diag::{Code, Diagnostic};
use crate::syntax::ast;

use super::attributes::{check_attributes, Carrier};
use super::program::{Key, Operator, OperatorKind, Sink, SourceId};
use super::types::RecordType;
use super::Checker;

/// What one operator is, for every stage after the parser.
#[derive(Debug)]
pub struct OperatorSpec {
    /// The word after `|`.
    pub keyword: &'static str,
    /// One line, as the language reference puts it.
    pub summary: &'static str,
    /// Streams it reads: the pipeline, and for a join the stream in brackets.
    pub inputs: usize,
    pub records: Records,
    pub keys: KeyUse,
    pub routing: Routing,
    /// Compiled into one function with neighbouring fusing operators.
    pub fuses: bool,
    pub pace: Pace,
    /// Makes a blocking call per record, which `@async` can overlap.
    pub blocking: bool,
    pub state: StateKind,
    pub flink: FlinkForm,
}

/// What an operator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// Its input records, unchanged (some may be dropped or delayed).
    PassThrough,
    /// Records of its own type.
    New,
}

/// What an operator does with the key of a keyed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Records keep the key they had.
    Keeps,
    /// Sets it (`key_by`).
    Sets,
    /// Reads records by their key (windows, aggregates, joins): they must
    /// arrive partitioned by it; the output is not keyed.
    Needs,
    /// Ends the keying: the output is not keyed.
    Ends,
}

/// How records reach the operator's place in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// It runs as an operator in a task.
    Runs,
    /// It only decides which subtask of the next operator each record goes
    /// to, and becomes the partitioning of an edge.
    Partitions(PartitionKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    Hash,
    Rebalance,
    Broadcast,
}

/// What a record costs the operator besides computing its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Nothing: the operator computes as fast as it can.
    Free,
    /// It waits (a rate limit, a blocking call), using no core.
    Waits,
    /// It keeps a core busy for a fixed time per record.
    Computes,
}

/// The state an operator keeps between records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    None,
    /// One entry per key and open window.
    KeysInOpenWindows,
    /// One entry per key, forever.
    Keys,
    /// Up to a `top`'s count of records per key, forever.
    TopRecords,
    /// The records of both inputs, until the watermark says no match can come
    /// (interval and window joins), or forever (a regular join).
    JoinRows,
    /// A table loaded before the first record.
    Table,
}

/// How `flowc export --target flink-sql` writes the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlinkForm {
    /// As a query of its own or a part of one.
    Translates,
    /// As how records are distributed, which Flink SQL decides itself.
    Distribution,
    /// Refused: Flink SQL has no form with the same meaning.
    Refused,
    /// Left out: it stands for a cost, which Flink has no operator for.
    Simulation,
}

/// Every operator but `sink`, in the order the language reference lists them.
pub const ALL: &[&OperatorSpec] = &[
    &map::SPEC,
    &filter::SPEC,
    &key_by::SPEC,
    &rebalance::SPEC,
    &broadcast::SPEC,
    &window::SPEC,
    &aggregate::SPEC,
    &top::SPEC,
    &join::SPEC,
    &lookup::SPEC,
    &throttle::SPEC,
    &work::SPEC,
    &sleep::SPEC,
];

/// The operator written with `keyword`, or `None` for `sink` and unknown words.
pub fn by_keyword(keyword: &str) -> Option<&'static OperatorSpec> {
    ALL.iter().copied().find(|spec| spec.keyword == keyword)
}

impl OperatorKind {
    /// The operator's facts. The one place that matches every kind.
    pub fn spec(&self) -> &'static OperatorSpec {
        match self {
            OperatorKind::Map { .. } => &map::SPEC,
            OperatorKind::Filter { .. } => &filter::SPEC,
            OperatorKind::KeyBy { .. } => &key_by::SPEC,
            OperatorKind::Rebalance => &rebalance::SPEC,
            OperatorKind::Broadcast => &broadcast::SPEC,
            OperatorKind::Window { .. } => &window::SPEC,
            OperatorKind::Aggregate { .. } => &aggregate::SPEC,
            OperatorKind::Top { .. } => &top::SPEC,
            OperatorKind::Join(_) => &join::SPEC,
            OperatorKind::Lookup { .. } => &lookup::SPEC,
            OperatorKind::Throttle { .. } => &throttle::SPEC,
            OperatorKind::Work { .. } => &work::SPEC,
            OperatorKind::Sleep { .. } => &sleep::SPEC,
        }
    }
}

/// The key a stream has after an operator that had `key` before it.
pub fn key_after(kind: &OperatorKind, key: Option<Key>) -> Option<Key> {
    match (kind.spec().keys, kind) {
        (KeyUse::Sets, OperatorKind::KeyBy { key }) => Some(key.clone()),
        (KeyUse::Keeps, _) => key,
        (KeyUse::Sets | KeyUse::Needs | KeyUse::Ends, _) => None,
    }
}

/// What an operator's check returns: its kind and its output record.
type Checked = Option<(OperatorKind, Arc<RecordType>)>;

impl Checker<'_> {
    /// Checks one operator over `input`; returns it with the key the stream
    /// has after it. `feeding` gains the sources a join reads.
    pub(super) fn check_operator(
        &mut self,
        op_use: &ast::OperatorUse,
        input: &Arc<RecordType>,
        key: Option<&Key>,
        feeding: &mut Vec<SourceId>,
    ) -> Option<(Operator, Option<Key>)> {
        let keyword = op_use.operator.keyword();
        let carrier = match by_keyword(keyword).map(|spec| spec.routing) {
            Some(Routing::Partitions(_)) => Carrier::Partitioning(keyword),
            Some(Routing::Runs) | None => Carrier::Operator(keyword),
        };
        let errors_before = self.error_count();
        let (attributes, _) = check_attributes(&op_use.attributes, carrier, &mut self.diagnostics);
        let (kind, output) = match &op_use.operator {
            ast::Operator::Map(items) => self.check_map(items, input),
            ast::Operator::Filter(predicate) => self.check_filter(predicate, input),
            ast::Operator::KeyBy(expr) => self.check_key_by(expr, input),
            ast::Operator::Rebalance => Some((OperatorKind::Rebalance, input.clone())),
            ast::Operator::Broadcast => Some((OperatorKind::Broadcast, input.clone())),
            ast::Operator::Window { kind, time_field, aggregates } => {
                self.check_window(op_use, kind, time_field, aggregates, input, key, feeding)
            }
            ast::Operator::Aggregate(aggregates) => self.check_aggregate_operator(op_use, aggregates, input, key),
            ast::Operator::Top { count, order } => self.check_top(op_use, count, order, input, key),
            ast::Operator::Join(join) => self.check_join(op_use, join, input, key, feeding),
            ast::Operator::Lookup { left, table, key: lookup_key, residual } => {
                self.check_lookup(*left, table, lookup_key, residual.as_ref(), input)
            }
            ast::Operator::Throttle(rate) => self.check_throttle(rate, input),
            ast::Operator::Work(duration) => self.check_work(duration, input),
            ast::Operator::Sleep(duration) => self.check_sleep(duration, input),
            ast::Operator::Sink(_) => unreachable!("sinks are placed by check_stream"),
        }?;
        if let (OperatorKind::Lookup { table, .. }, Some(calls)) = (&kind, attributes.async_calls) {
            self.check_async_lookup(*table, calls);
        }
        if self.error_count() > errors_before {
            return None;
        }
        let key_after = key_after(&kind, key.cloned());
        let operator =
            Operator { kind, input: input.clone(), output, attributes, keyword: op_use.keyword, span: op_use.span };
        Some((operator, key_after))
    }

    pub(super) fn check_sink_use(
        &mut self,
        op_use: &ast::OperatorUse,
        call: &ast::Call,
        input: &Arc<RecordType>,
    ) -> Option<Sink> {
        let (attributes, _) = check_attributes(&op_use.attributes, Carrier::Operator("sink"), &mut self.diagnostics);
        let connector = super::connectors::check_sink(call, input, &mut self.diagnostics)?;
        Some(Sink { connector, input: input.clone(), attributes, keyword: op_use.keyword, span: op_use.span })
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// The stream's key, or an error saying how to key it.
    fn require_key(&mut self, op_use: &ast::OperatorUse, key: Option<&Key>) -> Option<Key> {
        if key.is_none() {
            self.diagnostics.push(
                Diagnostic::error(Code::NotKeyed, format!("`{}` needs a keyed stream", op_use.operator.keyword()))
                    .label(op_use.keyword, "the stream is not keyed here")
                    .help("add `| key_by <field>` before it; `map`, `rebalance`, `broadcast`, windows, joins, lookups and unions end a keying"),
            );
        }
        key.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_keyword_is_registered_once() {
        let mut registered: Vec<&str> = ALL.iter().map(|spec| spec.keyword).collect();
        registered.push("sink");
        assert_eq!(registered, crate::syntax::ast::OPERATOR_KEYWORDS, "the registry and the parser's keywords");
    }

    #[test]
    fn only_joins_read_two_inputs_and_partitioners_keep_records() {
        for spec in ALL {
            assert_eq!(spec.inputs == 2, spec.keyword == "join", "{}", spec.keyword);
            if let Routing::Partitions(_) = spec.routing {
                assert_eq!(spec.records, Records::PassThrough, "{}", spec.keyword);
                assert!(!spec.fuses && spec.pace == Pace::Free && spec.state == StateKind::None, "{}", spec.keyword);
            }
            assert!(!spec.blocking || spec.pace == Pace::Waits, "a blocking call waits: {}", spec.keyword);
        }
    }
}
