//! Turns a `PhysicalPlan` into subtasks ready to run: one crossbeam inbox
//! per receiving subtask and one credit inbox per sending subtask, a channel
//! for every sender→receiver subtask pair of every edge between tasks
//! (forward: subtask i to subtask i; otherwise every pair), the gates'
//! credit state, and each subtask's chain with its compiled functions,
//! sources and sinks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::check::program::{Aggregate, Key, OperatorKind, SinkConnector, SourceConnector, TableSource, WindowKind};
use crate::check::types::RecordType;
use crate::compile::fusion::fusable_runs;
use crate::compile::row::Batch;
use crate::compile::Backend;
use crate::diag::Code;
use crate::metrics::sketch::KeySketch;
use crate::metrics::TimeAccount;
use crate::plan::{NodeKind, Partitioning, PhysicalPlan};

use super::async_call::AsyncCall;
use super::chain::{Chain, ChainOperator, Child, FusedRun, PaceKind, Pacer, Step};
use super::channel::{CreditMessage, InputMessage, OutputChannel, OutputEdge, OutputGate, Partitioner};
use super::control::{Ctx, RunControl, RunError};
use super::credit::GateCredits;
use super::input::{InputChannel, InputGate};
use super::join::JoinOperator;
use super::keyed::KeyedInputs;
use super::lookup::{FileTable, LoadError, LookupOperator, LookupTable, Residual, Rows};
use super::postgres::async_lookup::AsyncRows;
use super::postgres::lookup::{self as postgres_lookup, PostgresRows, PreparedTable};
use super::session::SessionOperator;
use super::sinks::{postgres as postgres_sink, SharedSink, SinkContext, SinkWriter};
use super::sources::{LineLimits, SourceReader};
use super::top::TopOperator;
use super::window::{AggregateOperator, WindowOperator};
use super::worker::{Feed, Subtask};
use super::{RunMetrics, RunOptions};

/// The channels of one subtask, gathered before its `Subtask` is built.
#[derive(Default)]
struct Wiring {
    inbox: Option<(Sender<InputMessage>, Receiver<InputMessage>)>,
    credits: Option<(Sender<CreditMessage>, Receiver<CreditMessage>)>,
    input_channels: Vec<InputChannel>,
    gates: Vec<GateCredits>,
    output_channels: Vec<OutputChannel>,
    /// For each output edge of the task, its channels in receiver order.
    edge_channels: Vec<Vec<usize>>,
}

pub fn build(
    plan: &PhysicalPlan,
    backend: &dyn Backend,
    options: &RunOptions,
    metrics: &RunMetrics,
    control: &Arc<RunControl>,
    tables_read: &mut Vec<TableRead>,
) -> Result<Vec<(String, Subtask)>, RunError> {
    if !options.discard_sinks {
        distinct_sink_files(plan)?;
    }
    let tables = load_tables(plan, backend, tables_read)?;
    let database_sinks = prepare_database_sinks(plan, options)?;
    let config = &plan.config;
    let exclusive = config.buffers_per_channel;
    let mut wiring: Vec<Vec<Wiring>> = plan
        .tasks
        .iter()
        .map(|task| {
            (0..task.parallelism)
                .map(|_| Wiring {
                    inbox: (!task.inputs.is_empty()).then(crossbeam_channel::unbounded),
                    credits: (!task.outputs.is_empty()).then(crossbeam_channel::unbounded),
                    edge_channels: vec![Vec::new(); task.outputs.len()],
                    ..Wiring::default()
                })
                .collect()
        })
        .collect();
    for receiving_task in &plan.tasks {
        for (gate, &edge_id) in receiving_task.inputs.iter().enumerate() {
            let edge = &plan.edges[edge_id];
            let sending_task = plan.operators[edge.from].task;
            let edge_position =
                plan.tasks[sending_task].outputs.iter().position(|&e| e == edge_id).expect("edge of task");
            for receiver in 0..receiving_task.parallelism as usize {
                let senders: Vec<usize> = match edge.partitioning {
                    Partitioning::Forward => vec![receiver],
                    _ => (0..plan.tasks[sending_task].parallelism as usize).collect(),
                };
                wiring[receiving_task.id][receiver].gates.push(GateCredits::new(
                    senders.len(),
                    exclusive,
                    config.floating_buffers,
                ));
                for (index_in_gate, &sender) in senders.iter().enumerate() {
                    let input_index = wiring[receiving_task.id][receiver].input_channels.len();
                    let output_index = wiring[sending_task][sender].output_channels.len();
                    let credit_to = wiring[sending_task][sender]
                        .credits
                        .as_ref()
                        .expect("a sending task has a credit inbox")
                        .0
                        .clone();
                    let inbox = wiring[receiving_task.id][receiver]
                        .inbox
                        .as_ref()
                        .expect("a receiving task has an inbox")
                        .0
                        .clone();
                    let mut channel = InputChannel::new(gate, index_in_gate, credit_to, output_index);
                    channel.port = edge.port;
                    wiring[receiving_task.id][receiver].input_channels.push(channel);
                    let sender_wiring = &mut wiring[sending_task][sender];
                    sender_wiring.output_channels.push(OutputChannel::new(
                        edge_position,
                        inbox,
                        input_index,
                        exclusive,
                    ));
                    sender_wiring.edge_channels[edge_position].push(output_index);
                }
            }
        }
    }

    let latency = Duration::from_nanos(config.channel_latency_nanos.max(0) as u64);
    let buffer_timeout = Duration::from_nanos(config.buffer_timeout_nanos.max(0) as u64);
    let mut subtasks = Vec::new();
    for (task, task_wiring) in plan.tasks.iter().zip(wiring) {
        for (index, subtask_wiring) in task_wiring.into_iter().enumerate() {
            let subtask = index as u32;
            let mut edges = Vec::new();
            for (position, &edge_id) in task.outputs.iter().enumerate() {
                let edge = &plan.edges[edge_id];
                let channels = subtask_wiring.edge_channels[position].clone();
                let partitioner = match &edge.partitioning {
                    Partitioning::Forward => Partitioner::Forward,
                    Partitioning::Hash(key) => Partitioner::Hash {
                        key: backend.scalar(&key.expr, &edge.record),
                        key_type: key.expr.ty,
                        keys: Vec::new(),
                        bits: Vec::new(),
                        targets: Vec::new(),
                        sketch: (!options.lean_metrics).then(KeySketch::default),
                        published: metrics.key_sketches[edge_id][index].clone(),
                    },
                    Partitioning::Rebalance => Partitioner::Rebalance { next: index % channels.len().max(1) },
                    Partitioning::Broadcast => Partitioner::Broadcast,
                };
                let pool_size = channels.len() * exclusive as usize + config.floating_buffers as usize;
                edges.push(OutputEdge { record: edge.record.clone(), partitioner, channels, pool_size, pool_used: 0 });
            }
            let counters = metrics.subtasks[task.id][index].clone();
            crate::metrics::set(&counters.out_pool_size, edges.iter().map(|edge| edge.pool_size).sum());
            let outputs = OutputGate::new(
                edges,
                subtask_wiring.output_channels,
                subtask_wiring.credits.map(|(_, receiver)| receiver),
                config.buffer_size as usize,
                buffer_timeout,
                latency,
            );
            let chain = build_chain(plan, task, subtask, backend, options, metrics, &tables, &database_sinks)?;
            let head = plan.node(task.head);
            let feed = match &head.kind {
                NodeKind::Source(source) => {
                    let reader = SourceReader::open(
                        &source.connector,
                        &source.record,
                        backend,
                        subtask,
                        task.parallelism,
                        options.unthrottled,
                        LineLimits {
                            max_line_length: config.max_line_length as usize,
                            batch_bytes: LINE_SOURCE_BATCH_BYTES,
                        },
                    )
                    .map_err(|message| match &source.connector {
                        SourceConnector::File { path_span, .. } => {
                            RunError::new(Code::BadInput, message, *path_span, "this file").help(RELATIVE_PATHS)
                        }
                        _ => RunError::new(Code::BadInput, message, source.name_span, "this source"),
                    })?;
                    let width = source.record.layout().width.max(8) as usize;
                    let batch_rows = (config.buffer_size as usize / width).clamp(1, 4096);
                    // A line source's watermark follows each batch, so its
                    // batches must not depend on buffer settings: which
                    // records are late is then a function of the input.
                    let every = source.watermark.as_ref().and_then(|watermark| watermark.every_records);
                    let batch_rows = match (every, &source.connector) {
                        (Some(every), _) => every as usize,
                        (None, SourceConnector::Generate { .. } | SourceConnector::Nexmark(_)) => batch_rows,
                        (None, _) => LINE_SOURCE_BATCH_ROWS,
                    };
                    Feed::Source {
                        reader,
                        watermark: source.watermark.as_ref().map(|watermark| (watermark.field, watermark.delay_nanos)),
                        batch_rows,
                        span: source.name_span,
                        record: source.record.clone(),
                    }
                }
                _ => {
                    let mut gate = InputGate::new(
                        subtask_wiring.inbox.map(|(_, receiver)| receiver).expect("a task without a source has inputs"),
                        outputs.credit_receiver().cloned(),
                        subtask_wiring.input_channels,
                        subtask_wiring.gates,
                        latency,
                    );
                    let ports = plan.node(task.head).spec().map_or(1, |spec| spec.inputs);
                    gate.port_records = (0..ports)
                        .map(|port| plan.input_record(task.head, port).expect("every input port has an edge"))
                        .collect();
                    Feed::Inputs(gate)
                }
            };
            let chain_counters = if options.lean_metrics {
                Vec::new()
            } else {
                chain.operators.iter().map(|operator| operator.counters.clone()).collect()
            };
            let time = TimeAccount::start(counters.clone(), chain_counters);
            let ctx = Ctx { counters, time, control: control.clone() };
            let name = format!("{} ({}/{})", task.name, index + 1, task.parallelism);
            subtasks.push((name, Subtask { chain, outputs, feed, ctx }));
        }
    }
    Ok(subtasks)
}

/// Two file sinks that reach one file through an absolute path or a link
/// (which `check`, doing no IO, cannot see) would replace each other's
/// output: refused before anything is written.
fn distinct_sink_files(plan: &PhysicalPlan) -> Result<(), RunError> {
    let mut seen: Vec<(std::path::PathBuf, &str)> = Vec::new();
    for operator in &plan.operators {
        let NodeKind::Sink(sink) = &plan.node(operator.id).kind else { continue };
        let SinkConnector::File { path, path_span, .. } = &sink.connector else { continue };
        let Some(file) = super::sinks::replaced_file(std::path::Path::new(path)) else { continue };
        if let Some((_, first)) = seen.iter().find(|(other, _)| *other == file) {
            return Err(RunError::new(
                Code::SharedSinkFile,
                format!("two file sinks write `{}`: `{first}` and `{path}` are the same file", file.display()),
                *path_span,
                "this sink writes the same file",
            )
            .help("give each file sink its own file, or `union` the streams into one sink"));
        }
        seen.push((file, path));
    }
    Ok(())
}

/// Records a file or stdin source reads at a time, and so between its
/// watermarks; and the bytes that stop a batch sooner. Neither depends on
/// buffer settings, so which records are late depends on the input alone.
pub const LINE_SOURCE_BATCH_ROWS: usize = 1024;
pub const LINE_SOURCE_BATCH_BYTES: usize = 4 << 20;

/// Said with every file that cannot be opened: where its path started from.
const RELATIVE_PATHS: &str =
    "a relative path starts from the folder of the .flow file (from the current folder for a program read from standard input)";

/// The tables of the run, each read once and shared by every lookup that
/// reads it; `None` for a table no lookup of the plan reads.
type Tables = Vec<Option<LoadedTable>>;

/// A table ready for its lookups: rows in memory, or a database checked.
#[derive(Clone)]
enum LoadedTable {
    File(Arc<dyn LookupTable>),
    Postgres(Arc<PreparedTable>),
}

/// Each Postgres sink's server and shared count, by operator.
type DatabaseSinks = HashMap<usize, Arc<SharedSink>>;

/// Whether a run's options turn this sink into `discard`.
fn discards(options: &RunOptions, connector: &SinkConnector) -> bool {
    let upsert = matches!(connector, SinkConnector::Postgres(sink) if matches!(sink.mode, crate::check::program::WriteMode::Upsert { .. }));
    options.discard_sinks && !(options.keep_upsert_sinks && upsert)
}

/// Reaches each Postgres sink's server once and checks (or creates) its
/// table, so a run whose table does not fit fails before any record flows.
fn prepare_database_sinks(plan: &PhysicalPlan, options: &RunOptions) -> Result<DatabaseSinks, RunError> {
    let mut prepared = HashMap::new();
    for operator in &plan.operators {
        let node = plan.node(operator.id);
        let NodeKind::Sink(sink) = &node.kind else { continue };
        let SinkConnector::Postgres(settings) = &sink.connector else { continue };
        if discards(options, &sink.connector) {
            continue;
        }
        let shared = postgres_sink::prepare(settings, &sink.input).map_err(|error| {
            let (code, span, label) = match error.table_misfit {
                true => (Code::TableMismatch, settings.target.table_span, "this table"),
                false => (Code::SinkFailed, node.span, "this sink"),
            };
            RunError::new(code, error.message, span, label).help(error.help)
        })?;
        prepared.insert(operator.id, shared);
    }
    Ok(prepared)
}

/// A table read before the run: which, its rows, and how long it took.
#[derive(Debug, Clone)]
pub struct TableRead {
    pub table: usize,
    pub rows: usize,
    pub time: Duration,
}

fn load_tables(plan: &PhysicalPlan, backend: &dyn Backend, read: &mut Vec<TableRead>) -> Result<Tables, RunError> {
    let mut tables: Tables = vec![None; plan.logical.tables.len()];
    for operator in &plan.operators {
        let NodeKind::Operator { kind: OperatorKind::Lookup { table, .. }, .. } = &plan.node(operator.id).kind else {
            continue;
        };
        if tables[*table].is_some() {
            continue;
        }
        let definition = &plan.logical.tables[*table];
        if let TableSource::Postgres { target, .. } = &definition.connector {
            let prepared = postgres_lookup::prepare(definition).map_err(|error| {
                let (code, span, label) = match error.table_misfit {
                    true => (Code::TableMismatch, target.table_span, "this table"),
                    false => (Code::BadTable, definition.name_span, "this table's server"),
                };
                RunError::new(code, error.message, span, label).help(error.help)
            })?;
            tables[*table] = Some(LoadedTable::Postgres(prepared));
            continue;
        }
        let limits =
            LineLimits { max_line_length: plan.config.max_line_length as usize, batch_bytes: LINE_SOURCE_BATCH_BYTES };
        let path_span = match &definition.connector {
            TableSource::File(SourceConnector::File { path_span, .. }) => *path_span,
            _ => definition.name_span,
        };
        let started = std::time::Instant::now();
        let loaded = FileTable::load(definition, backend, limits).map_err(|error| match error {
            LoadError::Open(message) => {
                RunError::new(Code::BadTable, message, path_span, "this table's file").help(RELATIVE_PATHS)
            }
            LoadError::Rows(message) => RunError::new(Code::BadTable, message, path_span, "read for this table")
                .help("fix the file: a table needs one row per key, each a record of its schema"),
        })?;
        read.push(TableRead { table: *table, rows: loaded.len(), time: started.elapsed() });
        tables[*table] = Some(LoadedTable::File(Arc::new(loaded)));
    }
    Ok(tables)
}

#[allow(clippy::too_many_arguments)]
fn build_chain(
    plan: &PhysicalPlan,
    task: &crate::plan::physical::Task,
    subtask: u32,
    backend: &dyn Backend,
    options: &RunOptions,
    metrics: &RunMetrics,
    tables: &Tables,
    database_sinks: &DatabaseSinks,
) -> Result<Chain, RunError> {
    let local: HashMap<usize, usize> = task.operators.iter().enumerate().map(|(index, &op)| (op, index)).collect();
    let mut operators = Vec::new();
    for &operator_id in &task.operators {
        let operator = &plan.operators[operator_id];
        let node = plan.node(operator_id);
        let input = plan.input_record(operator_id, 0);
        let output = operator.outputs.first().map(|&edge| plan.edges[edge].record.clone());
        let step = match &node.kind {
            NodeKind::Source(_) => Step::Source,
            NodeKind::Sink(sink) => {
                let connector =
                    if discards(options, &sink.connector) { &SinkConnector::Discard } else { &sink.connector };
                let context = SinkContext {
                    counters: metrics.operators[operator_id][subtask as usize].clone(),
                    postgres: database_sinks.get(&operator_id).cloned(),
                };
                let writer = SinkWriter::open(connector, &sink.input, subtask, operator.parallelism, context).map_err(
                    |message| match connector {
                        SinkConnector::File { path_span, .. } => {
                            RunError::new(Code::SinkFailed, message, *path_span, "this file").help(RELATIVE_PATHS)
                        }
                        _ => RunError::new(Code::SinkFailed, message, node.span, "this sink"),
                    },
                )?;
                Step::Sink(writer)
            }
            NodeKind::Operator { kind, .. } => {
                let input = input.clone().expect("an operator has an input");
                let output = output.clone().unwrap_or_else(|| input.clone());
                match kind {
                    OperatorKind::Map { fields } => Step::Map(backend.projection(fields, &input, &output)),
                    OperatorKind::Filter { predicate } => Step::Filter(backend.predicate(predicate, &input)),
                    OperatorKind::Window { kind: WindowKind::Session { gap_nanos }, time_field, key, aggregates } => {
                        Step::Stateful(Box::new(SessionOperator::new(
                            *gap_nanos,
                            *time_field,
                            keyed_inputs(backend, key, aggregates, &input),
                            input.clone(),
                            output,
                        )))
                    }
                    OperatorKind::Window { kind, time_field, key, aggregates } => {
                        Step::Stateful(Box::new(WindowOperator::new(
                            *kind,
                            *time_field,
                            keyed_inputs(backend, key, aggregates, &input),
                            input.clone(),
                            output,
                        )))
                    }
                    OperatorKind::Top { key, count, order } => Step::Stateful(Box::new(TopOperator::new(
                        backend.scalar(&key.expr, &input),
                        order.iter().map(|sort| (backend.scalar(&sort.expr, &input), sort.descending)).collect(),
                        *count,
                        input.clone(),
                        output,
                    ))),
                    OperatorKind::Aggregate { key, aggregates } => Step::Stateful(Box::new(AggregateOperator::new(
                        keyed_inputs(backend, key, aggregates, &input),
                        output,
                    ))),
                    OperatorKind::Join(join) => {
                        let keys = [
                            backend.scalar(&join.left_key.expr, &join.left),
                            backend.scalar(&join.right_key.expr, &join.right.record),
                        ];
                        let residual = join.residual.as_ref().map(|residual| {
                            let record = join.pair_record();
                            Residual::new(backend.scalar(residual, &record), record)
                        });
                        Step::Stateful(Box::new(JoinOperator::new(join, keys, residual, output)))
                    }
                    OperatorKind::Lookup { table, key, outer, residual } => {
                        let definition = &plan.logical.tables[*table];
                        let residual = residual.as_ref().map(|residual| {
                            let record = definition.pair_record(&input);
                            Residual::new(backend.scalar(residual, &record), record)
                        });
                        // A table is read once: one subtask of one lookup counts its memory.
                        let first_lookup = plan.operators.iter().find(|other| {
                            matches!(&plan.node(other.id).kind,
                                NodeKind::Operator { kind: OperatorKind::Lookup { table: read, .. }, .. } if read == table)
                        });
                        let counts_table = subtask == 0 && first_lookup.is_some_and(|first| first.id == operator_id);
                        let rows = match tables[*table].clone().expect("tables a lookup reads are loaded") {
                            LoadedTable::File(rows) => Rows::Shared(rows),
                            LoadedTable::Postgres(prepared) => {
                                let counters = metrics.operators[operator_id][subtask as usize].clone();
                                let cannot_connect = |message: String| {
                                    RunError::new(Code::BadTable, message, node.span, "this lookup").help(
                                        "start the server, or say where it is: `url = …` in the table, or PGHOST, PGPORT, PGUSER and PGDATABASE",
                                    )
                                };
                                match node.attributes().async_calls {
                                    Some(calls) => Rows::PostgresAsync(Box::new(
                                        AsyncRows::open(prepared, calls.capacity, counters).map_err(cannot_connect)?,
                                    )),
                                    None => Rows::Postgres(Box::new(
                                        PostgresRows::open(prepared, counters).map_err(cannot_connect)?,
                                    )),
                                }
                            }
                        };
                        Step::Stateful(Box::new(LookupOperator::new(
                            rows,
                            counts_table,
                            &definition.record,
                            backend.scalar(key, &input),
                            *outer,
                            residual,
                            input.clone(),
                            output,
                            key.span,
                        )))
                    }
                    OperatorKind::Throttle { per_second } => {
                        Step::Pace(Pacer::new(PaceKind::Throttle, Duration::from_secs_f64(1.0 / per_second)))
                    }
                    OperatorKind::Work { nanos } => {
                        Step::Pace(Pacer::new(PaceKind::Work, Duration::from_nanos(*nanos as u64)))
                    }
                    OperatorKind::Sleep { nanos } => match node.attributes().async_calls {
                        Some(calls) => Step::Async(AsyncCall::new(
                            Duration::from_nanos(*nanos as u64),
                            calls.capacity,
                            calls.ordered,
                        )),
                        None => Step::Pace(Pacer::new(PaceKind::Sleep, Duration::from_nanos(*nanos as u64))),
                    },
                    OperatorKind::KeyBy { .. } | OperatorKind::Rebalance | OperatorKind::Broadcast => {
                        unreachable!("partitioners are edges in a physical plan")
                    }
                }
            }
            NodeKind::Union => unreachable!("unions are edges in a physical plan"),
        };
        let children = operator
            .outputs
            .iter()
            .map(|&edge_id| {
                let edge = &plan.edges[edge_id];
                if edge.chained {
                    Child::Chained(local[&edge.to])
                } else {
                    Child::Network(
                        task.outputs.iter().position(|&e| e == edge_id).expect("an unchained edge leaves the task"),
                    )
                }
            })
            .collect();
        let record = input.clone().or(output.clone()).expect("an operator has an input or an output");
        operators.push(ChainOperator {
            step,
            fused: None,
            children,
            counters: metrics.operators[operator_id][subtask as usize].clone(),
            span: node.span,
            name: operator.name.clone(),
            input: record.clone(),
            output: Batch::new(&output.unwrap_or(record)),
        });
    }
    fuse_filters_and_maps(plan, task, &mut operators, backend);
    Ok(Chain::new(operators))
}

/// The compiled key and aggregate arguments of a window or `aggregate`.
fn keyed_inputs(backend: &dyn Backend, key: &Key, aggregates: &[Aggregate], input: &Arc<RecordType>) -> KeyedInputs {
    let args =
        aggregates.iter().map(|aggregate| aggregate.arg.as_ref().map(|arg| backend.scalar(arg, input))).collect();
    let filters = aggregates
        .iter()
        .map(|aggregate| aggregate.filter.as_ref().map(|filter| backend.scalar(filter, input)))
        .collect();
    KeyedInputs::new(backend.scalar(&key.expr, input), key.expr.ty, aggregates.to_vec(), args, filters)
}

/// Hands each fusable run of `filter`s and `map`s to the backend to
/// compile as one function.
fn fuse_filters_and_maps(
    plan: &PhysicalPlan,
    task: &crate::plan::physical::Task,
    operators: &mut [ChainOperator],
    backend: &dyn Backend,
) {
    for run in fusable_runs(plan, task) {
        if let Some(function) = backend.fused(&run.stages, &run.input) {
            let start = run.positions[0];
            operators[start].fused = Some(FusedRun::new(function, run.positions));
        }
    }
}
