//! `lookup`: each record with the row of a table found by its key. The
//! `LookupTable` interface is what a lookup needs from where the rows live;
//! `FileTable` reads a `table` item's file whole before the run starts, and
//! the subtasks of every lookup of that table share it.

use std::sync::Arc;

use crate::check::program::{Table, TableSource, Value};
use crate::check::types::{RecordType, Type};
use crate::compile::backend::Scalar;
use crate::compile::interp::EvalError;
use crate::compile::row::Batch;
use crate::compile::Backend;
use crate::diag::Span;

use super::keyed::{KeyMap, KeyValue};
use super::operator::{Emit, OperatorState, StatefulOperator};
use super::postgres::async_lookup::{AsyncRows, POLL as ASYNC_POLL};
use super::postgres::lookup::{key_text, LookupFailure, PostgresRows};
use super::sources::{LineLimits, ProduceError, Produced, SourceReader};

/// Rows found by key.
pub trait LookupTable: Send + Sync {
    /// The row whose key is `key`, its fields in the table's record order.
    fn get(&self, key: &KeyValue) -> Option<&[Value]>;
    fn len(&self) -> usize;
    /// An estimate of the memory the rows take.
    fn bytes(&self) -> u64;
}

/// A table read from its file, held in memory.
pub struct FileTable {
    /// Each key's row, and its number in the file (from 1, the header not counted).
    rows: KeyMap<(Vec<Value>, usize)>,
    bytes: u64,
}

/// Why a table could not be loaded.
pub enum LoadError {
    /// The file cannot be opened.
    Open(String),
    /// A line is no row of the table's schema, or a key is on two rows.
    Rows(String),
}

impl FileTable {
    /// Reads every row of `table`'s file; a bad line or a key seen twice is
    /// an error, in words for the user.
    pub fn load(table: &Table, backend: &dyn Backend, limits: LineLimits) -> Result<FileTable, LoadError> {
        let TableSource::File(connector) = &table.connector else { unreachable!("only file tables are loaded") };
        let mut reader =
            SourceReader::open(connector, &table.record, backend, 0, 1, true, limits).map_err(LoadError::Open)?;
        let mut rows: KeyMap<(Vec<Value>, usize)> = KeyMap::default();
        let mut number = 0;
        let mut bytes = 0;
        let mut batch = Batch::new(&table.record);
        loop {
            batch.clear();
            match reader.produce(&mut batch, 1024) {
                Ok(Produced::Records(_)) => {}
                Ok(Produced::Done) => break,
                Ok(Produced::WaitUntil(_)) => continue,
                Err(ProduceError::BadLine(bad)) => {
                    return Err(LoadError::Rows(format!("{}: {}", bad.location, bad.message)))
                }
                Err(ProduceError::Eval(error)) => return Err(LoadError::Rows(error.message)),
            }
            for row in 0..batch.len() {
                number += 1;
                let values = batch.row(row, &table.record).values();
                let key = KeyValue(values[table.key_field].clone());
                bytes += row_bytes(&values);
                if let Some((_, first)) = rows.get(&key) {
                    return Err(LoadError::Rows(format!(
                        "the key {} is on rows {first} and {number} of the table `{}` (a header not counted): a lookup finds one row per key",
                        show(&key.0),
                        table.name
                    )));
                }
                rows.insert(key, (values, number));
            }
        }
        Ok(FileTable { rows, bytes })
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::Str(text) => format!("\"{text}\""),
        Value::Int(v) | Value::Timestamp(v) | Value::Duration(v) => v.to_string(),
        Value::Float(v) => v.to_string(),
        Value::Bool(v) => v.to_string(),
    }
}

impl LookupTable for FileTable {
    fn get(&self, key: &KeyValue) -> Option<&[Value]> {
        self.rows.get(key).map(|(values, _)| values.as_slice())
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// What a row of `Value`s costs in memory, in a vector in a hash map.
pub fn row_bytes(values: &[Value]) -> u64 {
    let strings: usize =
        values.iter().map(|value| if let Value::Str(text) = value { text.len() + 16 } else { 0 }).sum();
    (std::mem::size_of_val(values) + strings + 48) as u64
}

/// The value a field takes when a left join or lookup found no match.
pub fn zero_value(ty: Type) -> Value {
    match ty {
        Type::Int => Value::Int(0),
        Type::Float => Value::Float(0.0),
        Type::Bool => Value::Bool(false),
        Type::String => Value::Str(Arc::from("")),
        Type::Timestamp => Value::Timestamp(0),
        Type::Duration => Value::Duration(0),
    }
}

/// A residual `where` over a record of both sides, one pair at a time.
pub struct Residual {
    condition: Box<dyn Scalar>,
    record: Arc<RecordType>,
    /// The pair as one row, reused from pair to pair.
    scratch: Batch,
    values: Vec<Value>,
}

impl Residual {
    pub fn new(condition: Box<dyn Scalar>, record: Arc<RecordType>) -> Residual {
        let scratch = Batch::new(&record);
        Residual { condition, record, scratch, values: Vec::new() }
    }

    pub fn accepts(&mut self, left: &[Value], right: &[Value]) -> Result<bool, EvalError> {
        self.scratch.clear();
        self.values.clear();
        self.values.extend(left.iter().chain(right).cloned());
        self.scratch.push_values(&self.record, &self.values);
        Ok(matches!(self.condition.evaluate(&self.scratch, 0)?, Value::Bool(true)))
    }
}

/// Where a lookup's rows come from.
pub enum Rows {
    /// A table in memory, shared by every subtask.
    Shared(Arc<dyn LookupTable>),
    /// This subtask's connection to a database and its cache.
    Postgres(Box<PostgresRows>),
    /// This subtask's connections, queries in flight, and cache (`@async`).
    PostgresAsync(Box<AsyncRows>),
}

pub struct LookupOperator {
    table: Rows,
    /// Whether this one reports the table's memory: a table is read once
    /// for the whole run, however many subtasks and lookups read it.
    counts_table: bool,
    key: Box<dyn Scalar>,
    joiner: Joiner,
    keys: Vec<Value>,
    /// The key expression, where a database's failure is reported.
    key_span: Span,
    /// The last error was the database's: the help that goes with it.
    database_failed: Option<&'static str>,
    /// The input watermark, and the last output watermark let through:
    /// batches waiting for their rows (`@async`) hold it back.
    watermark: i64,
    released: i64,
}

/// What makes a looked-up record: each input record beside its row.
struct Joiner {
    outer: bool,
    residual: Option<Residual>,
    input: Arc<RecordType>,
    output: Arc<RecordType>,
    /// The table's fields at their zero values: an unmatched record's.
    zeros: Vec<Value>,
    /// Inner: records whose key the table lacks, since the last count.
    missed: usize,
    values: Vec<Value>,
}

impl Joiner {
    /// Emits each record of `input` beside the row `find` gives for its key.
    fn join<'t>(
        &mut self,
        input: &Batch,
        keys: &mut [Value],
        find: impl Fn(&KeyValue) -> Option<&'t [Value]>,
        output: &mut Emit<'_>,
    ) -> Result<(), EvalError> {
        for (row, key) in keys.iter_mut().enumerate().take(input.len()) {
            let record = input.row(row, &self.input).values();
            let key = KeyValue(std::mem::replace(key, Value::Bool(false)));
            let found = match find(&key) {
                Some(found) => match &mut self.residual {
                    Some(residual) => residual.accepts(&record, found)?.then_some(found),
                    None => Some(found),
                },
                None => None,
            };
            if found.is_none() && !self.outer {
                self.missed += 1;
                continue;
            }
            self.values.clear();
            self.values.extend(record);
            self.values.extend_from_slice(found.unwrap_or(&self.zeros));
            if self.outer {
                self.values.push(Value::Bool(found.is_some()));
            }
            output.rows.push_values(&self.output, &self.values);
            output.flush_if_full();
        }
        Ok(())
    }
}

impl LookupOperator {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        table: Rows,
        counts_table: bool,
        table_record: &RecordType,
        key: Box<dyn Scalar>,
        outer: bool,
        residual: Option<Residual>,
        input: Arc<RecordType>,
        output: Arc<RecordType>,
        key_span: Span,
    ) -> LookupOperator {
        let zeros = table_record.fields().iter().map(|field| zero_value(field.ty)).collect();
        LookupOperator {
            table,
            counts_table,
            key,
            joiner: Joiner { outer, residual, input, output, zeros, missed: 0, values: Vec::new() },
            keys: Vec::new(),
            key_span,
            database_failed: None,
            watermark: i64::MIN,
            released: i64::MIN,
        }
    }

    fn failed(&mut self, failure: LookupFailure) -> EvalError {
        self.database_failed = Some(failure.help);
        EvalError { message: failure.message, span: self.key_span }
    }

    /// `@async`: emits the batches at the front whose rows have come.
    fn emit_answered(&mut self, output: &mut Emit<'_>) -> Result<(), EvalError> {
        let Rows::PostgresAsync(rows) = &mut self.table else { return Ok(()) };
        while let Some((records, mut keys, found)) = rows.pop_ready() {
            self.joiner.join(&records, &mut keys, |key| found.get(&key_text(&key.0))?.as_deref(), output)?;
        }
        Ok(())
    }

    /// `@async`: hands the batch to the queries in flight, after waiting for
    /// a free slot (waiting on the database: busy time), and emits what has
    /// come back.
    fn push_async(&mut self, input: &Batch, output: &mut Emit<'_>) -> Result<(), EvalError> {
        while self.async_rows().is_full() {
            if let Err(failure) = self.async_rows().receive(true) {
                return Err(self.failed(failure));
            }
            self.emit_answered(output)?;
        }
        let records = input.slice(0..input.len(), &self.joiner.input);
        let keys = self.keys[..input.len()].to_vec();
        let watermark = self.watermark;
        let rows = self.async_rows();
        if let Err(failure) = rows.submit(records, keys, watermark).and_then(|()| rows.receive(false)) {
            return Err(self.failed(failure));
        }
        self.emit_answered(output)
    }

    fn async_rows(&mut self) -> &mut AsyncRows {
        match &mut self.table {
            Rows::PostgresAsync(rows) => rows,
            Rows::Shared(_) | Rows::Postgres(_) => unreachable!("an @async lookup"),
        }
    }

    /// The output watermark, if it rose since it was last let through.
    fn release(&mut self) -> Option<i64> {
        let passed = self.output_watermark(self.watermark);
        (passed > self.released).then(|| {
            self.released = passed;
            passed
        })
    }
}

impl StatefulOperator for LookupOperator {
    fn push(&mut self, _port: usize, input: &Batch, output: &mut Emit<'_>) -> Result<usize, EvalError> {
        self.key.evaluate_all(input, &mut self.keys)?;
        let keys = &mut self.keys[..input.len()];
        match &mut self.table {
            Rows::Shared(table) => self.joiner.join(input, keys, |key| table.get(key), output)?,
            Rows::Postgres(rows) => {
                if let Err(failure) = rows.fetch(keys) {
                    return Err(self.failed(failure));
                }
                self.joiner.join(input, keys, |key| rows.get(&key.0), output)?;
                rows.end_batch();
            }
            Rows::PostgresAsync(_) => self.push_async(input, output)?,
        }
        Ok(0)
    }

    fn advance_watermark(&mut self, watermark: i64, _output: &mut Emit<'_>) -> Result<(), EvalError> {
        self.watermark = watermark;
        // The chain lets `output_watermark(watermark)` through now.
        self.released = self.released.max(self.output_watermark(watermark));
        Ok(())
    }

    fn output_watermark(&self, watermark: i64) -> i64 {
        match &self.table {
            Rows::PostgresAsync(rows) => rows.held_watermark().map_or(watermark, |held| held.min(watermark)),
            Rows::Shared(_) | Rows::Postgres(_) => watermark,
        }
    }

    fn next_poll(&self) -> Option<std::time::Instant> {
        match &self.table {
            Rows::PostgresAsync(rows) if !rows.is_empty() => Some(std::time::Instant::now() + ASYNC_POLL),
            _ => None,
        }
    }

    fn poll(&mut self, output: &mut Emit<'_>) -> Result<Option<i64>, EvalError> {
        let Rows::PostgresAsync(rows) = &mut self.table else { return Ok(None) };
        if let Err(failure) = rows.receive(false) {
            return Err(self.failed(failure));
        }
        self.emit_answered(output)?;
        Ok(self.release())
    }

    fn drain(&mut self, output: &mut Emit<'_>) -> Result<Option<i64>, EvalError> {
        loop {
            let Rows::PostgresAsync(rows) = &mut self.table else { return Ok(None) };
            if rows.is_empty() {
                return Ok(self.release());
            }
            if let Err(failure) = rows.receive(true) {
                return Err(self.failed(failure));
            }
            self.emit_answered(output)?;
        }
    }

    fn take_dropped(&mut self) -> usize {
        std::mem::take(&mut self.joiner.missed)
    }

    fn external_failure(&self) -> Option<&'static str> {
        self.database_failed
    }

    fn state(&self) -> OperatorState {
        match (&self.table, self.counts_table) {
            (Rows::Shared(table), true) => OperatorState { entries: table.len() as u64, bytes: table.bytes() },
            (Rows::Shared(_), false) => OperatorState::default(),
            (Rows::Postgres(rows), _) => {
                let (entries, bytes) = rows.cached();
                OperatorState { entries, bytes }
            }
            (Rows::PostgresAsync(rows), _) => {
                let (entries, bytes) = rows.cached();
                OperatorState { entries, bytes }
            }
        }
    }
}
