//! `sink postgres(…)`: records into a PostgreSQL table, `batch_size` rows
//! per transaction. Each subtask has its own connection; a batch goes as
//! `BEGIN`, `COPY … FROM STDIN` (text format), and `COMMIT`, so a batch is
//! in the table whole or not at all. An upsert copies the batch into a
//! temporary table and moves it with `INSERT … ON CONFLICT (key) DO
//! UPDATE`, after keeping only each key's last record of the batch (one
//! statement may not update a row twice), in the order of the keys (two
//! writers then lock shared rows in one order: no deadlock). COPY rather than a multi-row
//! `INSERT`: it sends rows without parsing SQL or binding parameters, and
//! measured faster at every batch size (docs/postgres.md).
//!
//! A partly filled batch is committed once its first row is
//! `flush_interval` old (seen when the subtask idles or its buffer timer
//! fires) and at the end of input, which a first Ctrl-C brings: what is in
//! flight is committed, then the run stops.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::check::program::{PostgresSink as Settings, WriteMode};
use crate::check::types::RecordType;
use crate::compile::row::Batch;
use crate::metrics::{DatabaseCounters, OperatorCounters};
use crate::runtime::postgres::{columns, connect, copy, describe_error, quote_ident, Server, SERVER_HELP};

use super::RecordWriter;

/// What every subtask of one Postgres sink shares: the server, checked
/// once before the run, and the rows committed so far, for the message a
/// failure ends the run with.
#[derive(Debug)]
pub struct SharedSink {
    pub server: Server,
    pub committed: AtomicU64,
}

/// Why a Postgres sink cannot start: what to say, how to fix it, and
/// whether it is the table (else the server) that is wrong.
pub struct PrepareError {
    pub message: String,
    pub help: String,
    pub table_misfit: bool,
}

/// Before any subtask starts: reaches the server, creates the table when
/// asked to and it is missing, and checks that the records fit its columns.
pub fn prepare(settings: &Settings, record: &RecordType) -> Result<Arc<SharedSink>, PrepareError> {
    let server_error = |message: String| PrepareError { message, help: SERVER_HELP.into(), table_misfit: false };
    let server = Server::resolve(&settings.target).map_err(server_error)?;
    let mut client = connect(&server).map_err(server_error)?;
    let table = &settings.target.table;
    let key = match &settings.mode {
        WriteMode::Upsert { key, .. } => Some(key.as_slice()),
        WriteMode::Insert => None,
    };
    let mut shape = columns::describe(&mut client, table).map_err(server_error)?;
    if shape.is_none() && settings.create_table {
        columns::create_table(&mut client, table, record, key).map_err(server_error)?;
        shape = columns::describe(&mut client, table).map_err(server_error)?;
    }
    let Some(shape) = shape else {
        return Err(PrepareError {
            message: format!("there is no table `{table}` at {}", server.description),
            help: format!(
                "create it, or let the sink create it from the records: `create_table = true` makes `{}`",
                columns::create_statement(table, record, key)
            ),
            table_misfit: true,
        });
    };
    columns::check_fit(table, &shape, record, columns::Access::Write, key).map_err(|misfit| PrepareError {
        message: misfit.message,
        help: misfit.help,
        table_misfit: true,
    })?;
    Ok(Arc::new(SharedSink { server, committed: AtomicU64::new(0) }))
}

pub struct PostgresSink {
    client: Client,
    table: String,
    record: Arc<RecordType>,
    batch_size: usize,
    flush_interval: Duration,
    /// `COPY <table or staging> (<columns>) FROM STDIN`.
    copy: String,
    /// An upsert's `INSERT … SELECT … ON CONFLICT … DO UPDATE`.
    upsert: Option<String>,
    /// An upsert's key fields.
    key: Vec<usize>,
    /// The batch being filled, as COPY text, a line per row.
    lines: Vec<u8>,
    /// Where each row's line is in `lines`; `None` once a later row of the
    /// same key replaced it (upserts only).
    rows: Vec<Option<(usize, usize)>>,
    /// Upserts: each key's row in `rows`, the key as its COPY text.
    latest: HashMap<Vec<u8>, usize>,
    live: usize,
    /// When the first row of the batch arrived.
    oldest: Option<Instant>,
    shared: Arc<SharedSink>,
    counters: Arc<OperatorCounters>,
}

/// The temporary table an upsert's batch is copied into.
const STAGING: &str = "flowc_upsert_batch";

impl PostgresSink {
    /// Connects subtask's writer; the table was checked (or created) before.
    pub fn open(
        settings: &Settings,
        record: &Arc<RecordType>,
        shared: Arc<SharedSink>,
        counters: Arc<OperatorCounters>,
    ) -> Result<PostgresSink, String> {
        let mut client = connect(&shared.server)?;
        let table = settings.target.table.clone();
        let columns = record.fields().iter().map(|field| quote_ident(&field.name)).collect::<Vec<_>>().join(", ");
        let (copy, upsert, key) = match &settings.mode {
            WriteMode::Insert => (format!("COPY {table} ({columns}) FROM STDIN"), None, Vec::new()),
            WriteMode::Upsert { key, .. } => {
                client
                    .batch_execute(&format!(
                        "CREATE TEMPORARY TABLE {STAGING} ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"
                    ))
                    .map_err(|error| format!("cannot prepare the upsert into `{table}`: {}", describe_error(&error)))?;
                let conflict = key.iter().map(|&field| quote_ident(&record.fields()[field].name)).collect::<Vec<_>>();
                let updates: Vec<String> = (0..record.fields().len())
                    .filter(|field| !key.contains(field))
                    .map(|field| {
                        let name = quote_ident(&record.fields()[field].name);
                        format!("{name} = EXCLUDED.{name}")
                    })
                    .collect();
                let action = match updates.is_empty() {
                    true => "DO NOTHING".to_string(),
                    false => format!("DO UPDATE SET {}", updates.join(", ")),
                };
                let upsert = format!(
                    "INSERT INTO {table} ({columns}) SELECT {columns} FROM {STAGING} ON CONFLICT ({}) {action}",
                    conflict.join(", ")
                );
                (format!("COPY {STAGING} ({columns}) FROM STDIN"), Some(upsert), key.clone())
            }
        };
        Ok(PostgresSink {
            client,
            table,
            record: record.clone(),
            batch_size: settings.batch_size as usize,
            flush_interval: Duration::from_nanos(settings.flush_interval_nanos as u64),
            copy,
            upsert,
            key,
            lines: Vec::new(),
            rows: Vec::new(),
            latest: HashMap::new(),
            live: 0,
            oldest: None,
            shared,
            counters,
        })
    }

    fn push(&mut self, batch: &Batch, index: usize) {
        let row = batch.row(index, &self.record);
        let start = self.lines.len();
        copy::push_row(&mut self.lines, &row, &self.record);
        let slot = self.rows.len();
        self.rows.push(Some((start, self.lines.len())));
        self.live += 1;
        if !self.key.is_empty() {
            let key = key_text(&self.lines[start..], &self.key);
            if let Some(previous) = self.latest.insert(key, slot) {
                self.rows[previous] = None;
                self.live -= 1;
            }
        }
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Writes the batch in one transaction, or fails saying what the
    /// server said and what became of the batch.
    fn commit(&mut self) -> io::Result<()> {
        let rows = self.rows.len();
        if rows == 0 {
            return Ok(());
        }
        let live = self.live;
        let result = self.transaction();
        self.lines.clear();
        self.rows.clear();
        self.latest.clear();
        self.live = 0;
        self.oldest = None;
        match result {
            Ok(()) => {
                let database = &self.counters.database;
                database.transactions.fetch_add(1, Relaxed);
                database.rows_written.fetch_add(rows as u64, Relaxed);
                self.shared.committed.fetch_add(live as u64, Relaxed);
                Ok(())
            }
            Err((stage, error)) => {
                let committed = self.shared.committed.load(Relaxed);
                let fate = match stage {
                    Stage::Commit if error.is_closed() || error.as_db_error().is_none() => format!(
                        "the connection was lost while committing, so whether the server kept this batch of {rows} rows is unknown"
                    ),
                    _ => format!("this batch of {rows} rows was rolled back"),
                };
                Err(io::Error::other(format!(
                    "PostgreSQL failed {} `{}`: {}; {fate}; {} committed before it (at {})",
                    stage.words(),
                    self.table,
                    describe_error(&error),
                    rows_phrase(committed),
                    self.shared.server.description
                )))
            }
        }
    }

    fn transaction(&mut self) -> Result<(), (Stage, postgres::Error)> {
        let database = &self.counters.database;
        let started = Instant::now();
        let mut transaction = self.client.transaction().map_err(|error| (Stage::Begin, error))?;
        DatabaseCounters::add_nanos(&database.begin_nanos, started);
        let writing = Instant::now();
        let mut writer = transaction.copy_in(self.copy.as_str()).map_err(|error| (Stage::Write, error))?;
        // A write error is the connection's, and `finish` reports it. An
        // insert's lines go as one write (the writer sends a message per
        // write it is given). An upsert's go in the order of their keys, so
        // that two writers' batches lock the rows they share in the same
        // order and cannot deadlock each other.
        if self.key.is_empty() {
            let _ = writer.write_all(&self.lines);
        } else {
            let mut latest: Vec<(&Vec<u8>, usize)> = self.latest.iter().map(|(key, &slot)| (key, slot)).collect();
            latest.sort_unstable();
            let mut ordered = Vec::with_capacity(self.lines.len());
            for (_, slot) in latest {
                if let Some((start, end)) = self.rows[slot] {
                    ordered.extend_from_slice(&self.lines[start..end]);
                }
            }
            let _ = writer.write_all(&ordered);
        }
        writer.finish().map_err(|error| (Stage::Write, error))?;
        if let Some(upsert) = &self.upsert {
            transaction.execute(upsert.as_str(), &[]).map_err(|error| (Stage::Write, error))?;
        }
        DatabaseCounters::add_nanos(&database.write_nanos, writing);
        let committing = Instant::now();
        transaction.commit().map_err(|error| (Stage::Commit, error))?;
        DatabaseCounters::add_nanos(&database.commit_nanos, committing);
        Ok(())
    }
}

/// Where in a transaction a failure came.
#[derive(Clone, Copy)]
enum Stage {
    Begin,
    Write,
    Commit,
}

impl Stage {
    fn words(self) -> &'static str {
        match self {
            Stage::Begin => "to begin a transaction on",
            Stage::Write => "to write a batch to",
            Stage::Commit => "to commit a batch to",
        }
    }
}

fn rows_phrase(rows: u64) -> String {
    match rows {
        1 => "1 row was".into(),
        n => format!("{n} rows were"),
    }
}

/// The COPY text of a row's key fields, which tells keys apart: each
/// field's text form is one-to-one for the types a key may have.
fn key_text(line: &[u8], key: &[usize]) -> Vec<u8> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let columns: Vec<&[u8]> = line.split(|&byte| byte == b'\t').collect();
    let mut text = Vec::new();
    for &field in key {
        text.extend_from_slice(columns[field]);
        text.push(b'\t');
    }
    text
}

impl RecordWriter for PostgresSink {
    fn write(&mut self, batch: &Batch) -> io::Result<()> {
        for index in 0..batch.len() {
            self.push(batch, index);
            if self.rows.len() >= self.batch_size {
                self.commit()?;
            }
        }
        Ok(())
    }

    /// Commits a partly filled batch once its first row is `flush_interval` old.
    fn flush(&mut self) -> io::Result<()> {
        match self.oldest {
            Some(oldest) if oldest.elapsed() >= self.flush_interval => self.commit(),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.commit()
    }

    fn has_pending(&self) -> bool {
        !self.rows.is_empty()
    }

    fn failure(&self, error: &io::Error) -> String {
        error.to_string()
    }
}
