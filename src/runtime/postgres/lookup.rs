//! A `table … = postgres(…)`: rows found by key in a PostgreSQL table as
//! records arrive. Each subtask of a lookup has its own connection and
//! cache. A batch of records costs at most one query for the keys it
//! misses (`WHERE key = ANY($1)`), not one per record, and the rows found
//! — and the keys not found — stay in a bounded cache of `cache` rows.
//!
//! The cache has two generations: a key found goes into the young one; a
//! hit in the old one moves it back to the young one; when the young one
//! holds half the rows, the old one is dropped and the young one becomes
//! it. Least recently used keys leave first, within a factor of two, with
//! no list to keep per hit. Rows stay cached for the run: a lookup does not
//! see a change to a row it has cached (`cache = 0` asks every time).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use postgres::Client;

use crate::check::program::{Table, TableSource, Value};
use crate::check::types::{RecordType, Type};
use crate::compile::builtins::format_timestamp;
use crate::metrics::{DatabaseCounters, OperatorCounters};

use super::columns::{self, Access};
use super::{connect, describe_error, quote_ident, Server, SERVER_HELP};

/// Keys asked for in one query, at most.
const KEYS_PER_QUERY: usize = 10_000;

/// A Postgres table checked once before the run, for every subtask.
#[derive(Debug)]
pub struct PreparedTable {
    pub(super) server: Server,
    /// `SELECT <fields, each cast to its field's type> FROM t WHERE key = ANY($1::text[]::<key type>[])`.
    select: String,
    record: Arc<RecordType>,
    key_field: usize,
    pub(super) cache_rows: usize,
    table: String,
}

/// Why a Postgres table cannot be read: what to say, how to fix it, and
/// whether the table (else the server) is at fault.
pub struct PrepareError {
    pub message: String,
    pub help: String,
    pub table_misfit: bool,
}

/// Reaches the server and checks the table's columns give the schema's fields.
pub fn prepare(table: &Table) -> Result<Arc<PreparedTable>, PrepareError> {
    let TableSource::Postgres { target, cache_rows } = &table.connector else {
        unreachable!("only Postgres tables are prepared")
    };
    let server_error = |message: String| PrepareError { message, help: SERVER_HELP.into(), table_misfit: false };
    let server = Server::resolve(target).map_err(server_error)?;
    let mut client = connect(&server).map_err(server_error)?;
    let name = &target.table;
    let Some(shape) = columns::describe(&mut client, name).map_err(server_error)? else {
        return Err(PrepareError {
            message: format!("there is no table `{name}` at {}", server.description),
            help: "create it, or name the table the rows are in (`table = \"schema.name\"`)".into(),
            table_misfit: true,
        });
    };
    columns::check_fit(name, &shape, &table.record, Access::Read, None).map_err(|misfit| PrepareError {
        message: misfit.message,
        help: misfit.help,
        table_misfit: true,
    })?;
    let key = &table.record.fields()[table.key_field].name;
    let key_type = &shape.columns.iter().find(|column| &column.name == key).expect("checked above").ty;
    let fields = table.record.fields().iter().map(|field| read_as(&quote_ident(&field.name), field.ty));
    let select = format!(
        "SELECT {} FROM {name} WHERE {} = ANY($1::text[]::{key_type}[])",
        fields.collect::<Vec<_>>().join(", "),
        quote_ident(key)
    );
    Ok(Arc::new(PreparedTable {
        server,
        select,
        record: table.record.clone(),
        key_field: table.key_field,
        cache_rows: *cache_rows as usize,
        table: name.clone(),
    }))
}

/// A column cast to what its field reads: timestamps and durations as
/// microseconds, PostgreSQL's own precision.
fn read_as(column: &str, ty: Type) -> String {
    match ty {
        Type::Int => format!("{column}::int8"),
        Type::Float => format!("{column}::float8"),
        Type::Bool => format!("{column}::bool"),
        Type::String => format!("{column}::text"),
        Type::Timestamp | Type::Duration => format!("(extract(epoch from {column}) * 1000000)::int8"),
    }
}

/// A key as the text PostgreSQL's input of the key column reads.
pub fn key_text(value: &Value) -> String {
    match value {
        Value::Int(v) => v.to_string(),
        Value::Str(text) => text.to_string(),
        Value::Bool(v) => v.to_string(),
        Value::Timestamp(nanos) => format_timestamp(*nanos),
        Value::Duration(nanos) => format!("{}.{:09} seconds", nanos / 1_000_000_000, (nanos % 1_000_000_000).abs()),
        Value::Float(v) => v.to_string(),
    }
}

/// Why a lookup could not find its rows, and what to do about it.
pub struct LookupFailure {
    pub message: String,
    pub help: &'static str,
}

/// A row found, or the knowledge that the key has none.
pub type Found = Option<Arc<[Value]>>;

/// A key by its text: what the query sends, and one-to-one with the key.
pub type KeyText = String;

/// The rows of `keys` (and `None` for those the table lacks), in one query
/// per `KEYS_PER_QUERY` keys, counted in `counters`.
pub fn query(
    client: &mut Client,
    prepared: &PreparedTable,
    keys: &[KeyText],
    counters: &OperatorCounters,
) -> Result<Vec<(KeyText, Found)>, LookupFailure> {
    let database = &counters.database;
    let mut found: Vec<(KeyText, Found)> = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let started = Instant::now();
        let rows = client.query(prepared.select.as_str(), &[&chunk]).map_err(|error| LookupFailure {
            message: format!(
                "PostgreSQL failed a lookup in `{}`: {} (at {})",
                prepared.table,
                describe_error(&error),
                prepared.server.description
            ),
            help: "a lookup needs its database for as long as records arrive: restart the server, or read a copy of the table from a file with `file(…)`",
        })?;
        DatabaseCounters::add_nanos(&database.query_nanos, started);
        database.queries.fetch_add(1, Relaxed);
        database.keys_queried.fetch_add(chunk.len() as u64, Relaxed);
        let mut rows_of_chunk: HashMap<KeyText, Arc<[Value]>> = HashMap::with_capacity(rows.len());
        for row in rows {
            let values = values(prepared, &row).map_err(|message| LookupFailure {
                message,
                help: "read the table through a view that says what NULL means (`COALESCE(column, …)`), or keep NULLs out of the columns the schema reads",
            })?;
            rows_of_chunk.insert(key_text(&values[prepared.key_field]), values.into());
        }
        found.extend(chunk.iter().map(|key| (key.clone(), rows_of_chunk.get(key).cloned())));
    }
    Ok(found)
}

fn values(prepared: &PreparedTable, row: &postgres::Row) -> Result<Vec<Value>, String> {
    let record = &prepared.record;
    let mut values = Vec::with_capacity(record.fields().len());
    for (index, field) in record.fields().iter().enumerate() {
        let value = match field.ty {
            Type::Int => row.get::<_, Option<i64>>(index).map(Value::Int),
            Type::Float => row.get::<_, Option<f64>>(index).map(Value::Float),
            Type::Bool => row.get::<_, Option<bool>>(index).map(Value::Bool),
            Type::String => row.get::<_, Option<String>>(index).map(|text| Value::Str(Arc::from(text))),
            Type::Timestamp => {
                row.get::<_, Option<i64>>(index).map(|micros| Value::Timestamp(micros.saturating_mul(1000)))
            }
            Type::Duration => {
                row.get::<_, Option<i64>>(index).map(|micros| Value::Duration(micros.saturating_mul(1000)))
            }
        };
        match value {
            Some(value) => values.push(value),
            None => {
                let key_column = &record.fields()[prepared.key_field].name;
                let key = match prepared.key_field < index {
                    true => format!(" (the row whose `{key_column}` is {})", key_text(&values[prepared.key_field])),
                    false => String::new(),
                };
                return Err(format!(
                    "the column `{}` of `{}` is NULL{key}, and flowc's records have no NULL",
                    field.name, prepared.table,
                ));
            }
        }
    }
    Ok(values)
}

/// Rows found before, at most `capacity`, in two generations (see the
/// module's comment).
pub struct RowCache {
    capacity: usize,
    young: HashMap<KeyText, Found>,
    old: HashMap<KeyText, Found>,
    /// The estimated bytes of `young` and of `old`.
    young_bytes: u64,
    old_bytes: u64,
}

impl RowCache {
    pub fn new(capacity: usize) -> RowCache {
        RowCache { capacity, young: HashMap::new(), old: HashMap::new(), young_bytes: 0, old_bytes: 0 }
    }

    /// The row of `key` if the cache has it; a hit in the old generation
    /// moves it to the young one.
    pub fn take_hit(&mut self, key: &str) -> Option<Found> {
        if let Some(found) = self.young.get(key) {
            return Some(found.clone());
        }
        let found = self.old.remove(key)?;
        self.insert(key.to_string(), found.clone());
        Some(found)
    }

    pub fn insert(&mut self, key: KeyText, found: Found) {
        if self.capacity == 0 {
            return;
        }
        if self.young.len() >= self.capacity.div_ceil(2) {
            self.old = std::mem::take(&mut self.young);
            self.old_bytes = std::mem::take(&mut self.young_bytes);
        }
        self.young_bytes += key.len() as u64 + 32 + found.as_deref().map_or(16, super::super::lookup::row_bytes);
        self.young.insert(key, found);
    }

    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The rows cached, and an estimate of their memory.
    pub fn size(&self) -> (u64, u64) {
        ((self.young.len() + self.old.len()) as u64, self.young_bytes + self.old_bytes)
    }
}

/// One subtask's connection and cache, a query per batch that misses.
pub struct PostgresRows {
    client: Client,
    prepared: Arc<PreparedTable>,
    cache: RowCache,
    /// The rows the current batch needs.
    batch: HashMap<KeyText, Found>,
    counters: Arc<OperatorCounters>,
}

impl PostgresRows {
    pub fn open(prepared: Arc<PreparedTable>, counters: Arc<OperatorCounters>) -> Result<PostgresRows, String> {
        let client = connect(&prepared.server)?;
        let cache = RowCache::new(prepared.cache_rows);
        Ok(PostgresRows { client, prepared, cache, batch: HashMap::new(), counters })
    }

    /// Makes the rows of `keys` available to `get` until `end_batch`: from
    /// the cache where it has them, the rest in one query.
    pub fn fetch(&mut self, keys: &[Value]) -> Result<(), LookupFailure> {
        let database = &self.counters.database;
        database.lookups.fetch_add(keys.len() as u64, Relaxed);
        let mut missing: Vec<KeyText> = Vec::new();
        let mut hits = 0;
        for key in keys {
            let text = key_text(key);
            // A key the batch already asked for is found with it: no hit.
            if self.batch.contains_key(&text) {
                continue;
            }
            match self.cache.take_hit(&text) {
                Some(found) => {
                    hits += 1;
                    self.batch.insert(text, found);
                }
                None => {
                    self.batch.insert(text.clone(), None);
                    missing.push(text);
                }
            }
        }
        database.cache_hits.fetch_add(hits, Relaxed);
        if !missing.is_empty() {
            for (key, found) in query(&mut self.client, &self.prepared, &missing, &self.counters)? {
                self.batch.insert(key, found);
            }
        }
        Ok(())
    }

    /// The row of `key`, which `fetch` was given in this batch.
    pub fn get(&self, key: &Value) -> Option<&[Value]> {
        self.batch.get(&key_text(key))?.as_deref()
    }

    /// Moves the batch's rows into the cache.
    pub fn end_batch(&mut self) {
        for (key, found) in self.batch.drain() {
            self.cache.insert(key, found);
        }
    }

    /// The rows cached, and an estimate of their memory.
    pub fn cached(&self) -> (u64, u64) {
        self.cache.size()
    }
}
