//! `lookup t by k @async(capacity = n)` of a PostgreSQL table: the queries
//! of up to `n` batches of records in flight at once, on `n` connections of
//! their own (at most `MAX_CONNECTIONS`), as Flink's Async I/O overlaps the
//! calls of many records; the subtask's thread takes the next batch while
//! the database answers. Batches leave in the order they came.
//!
//! A batch asks only for the keys neither the cache has nor a query in
//! flight already asks for; it then waits for those queries too. Its cache
//! hits are kept with it, so the cache may drop them meanwhile. A query's
//! rows stay in `answered` until the last batch waiting for them leaves,
//! then go to the cache.
//!
//! Threads: each connection is served by a thread that takes a query from
//! a shared channel and sends its rows back; the subtask polls for answers
//! (`Chain::next_async_due`) while batches wait, and blocks for one when
//! `n` batches already wait.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::check::program::Value;
use crate::compile::row::Batch;
use crate::metrics::{InFlightGauge, OperatorCounters};

use super::connect;
use super::lookup::{key_text, query, Found, KeyText, LookupFailure, PreparedTable, RowCache};

pub use crate::check::LOOKUP_POLL as POLL;
const MAX_CONNECTIONS: usize = crate::check::MAX_LOOKUP_CONNECTIONS as usize;

struct Request {
    id: u64,
    keys: Vec<KeyText>,
}

struct Answer {
    id: u64,
    rows: Result<Vec<(KeyText, Found)>, LookupFailure>,
}

/// A batch of records waiting for its rows.
struct Waiting {
    records: Batch,
    keys: Vec<Value>,
    /// The queries it waits for.
    needs: Vec<u64>,
    /// Its cache hits, kept with it.
    hits: HashMap<KeyText, Found>,
    /// The input watermark when it came: what may pass while it waits.
    watermark: i64,
}

/// A query's rows, and how many batches still wait for them.
struct Answered {
    rows: HashMap<KeyText, Found>,
    waiting: usize,
}

pub struct AsyncRows {
    requests: Option<Sender<Request>>,
    answers: Receiver<Answer>,
    threads: Vec<JoinHandle<()>>,
    capacity: usize,
    cache: RowCache,
    waiting: VecDeque<Waiting>,
    /// Keys a query in flight asks for, and which query.
    asked: HashMap<KeyText, u64>,
    /// Queries in flight, and the batches waiting for each.
    in_flight: HashMap<u64, usize>,
    answered: HashMap<u64, Answered>,
    next_id: u64,
    counters: Arc<OperatorCounters>,
    gauge: InFlightGauge,
}

impl AsyncRows {
    /// Opens `capacity` connections (at most `MAX_CONNECTIONS`) and their threads.
    pub fn open(
        prepared: Arc<PreparedTable>,
        capacity: u32,
        counters: Arc<OperatorCounters>,
    ) -> Result<AsyncRows, String> {
        let connections = (capacity as usize).clamp(1, MAX_CONNECTIONS);
        let (requests, incoming) = crossbeam_channel::unbounded::<Request>();
        let (answer, answers) = crossbeam_channel::unbounded::<Answer>();
        let mut threads = Vec::with_capacity(connections);
        for _ in 0..connections {
            let mut client = connect(&prepared.server)?;
            let (incoming, answer, prepared, counters) =
                (incoming.clone(), answer.clone(), prepared.clone(), counters.clone());
            let thread = std::thread::Builder::new()
                .name("flowc-lookup".into())
                .spawn(move || {
                    for request in incoming {
                        let rows = query(&mut client, &prepared, &request.keys, &counters);
                        if answer.send(Answer { id: request.id, rows }).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|error| format!("cannot start a thread for a lookup's connection: {error}"))?;
            threads.push(thread);
        }
        Ok(AsyncRows {
            requests: Some(requests),
            answers,
            threads,
            capacity: connections,
            cache: RowCache::new(prepared.cache_rows),
            waiting: VecDeque::new(),
            asked: HashMap::new(),
            in_flight: HashMap::new(),
            answered: HashMap::new(),
            next_id: 0,
            counters,
            gauge: InFlightGauge::default(),
        })
    }

    /// Whether `capacity` batches wait: the next must wait for one to leave.
    pub fn is_full(&self) -> bool {
        self.waiting.len() >= self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The lowest watermark a waiting batch came with.
    pub fn held_watermark(&self) -> Option<i64> {
        self.waiting.front().map(|batch| batch.watermark)
    }

    /// Takes a batch: its cache hits now, a query for the keys nobody asked for.
    pub fn submit(&mut self, records: Batch, keys: Vec<Value>, watermark: i64) -> Result<(), LookupFailure> {
        let database = &self.counters.database;
        database.lookups.fetch_add(keys.len() as u64, Relaxed);
        let mut hits: HashMap<KeyText, Found> = HashMap::new();
        let mut needs: Vec<u64> = Vec::new();
        let mut missing: Vec<KeyText> = Vec::new();
        let mut seen: std::collections::HashSet<KeyText> = std::collections::HashSet::new();
        let id = self.next_id;
        let mut hit_count = 0;
        for key in &keys {
            let text = key_text(key);
            if !seen.insert(text.clone()) {
                continue;
            }
            if let Some(&other) = self.asked.get(&text) {
                if !needs.contains(&other) {
                    needs.push(other);
                }
                continue;
            }
            match self.cache.take_hit(&text) {
                Some(found) => {
                    hit_count += 1;
                    hits.insert(text, found);
                }
                None => missing.push(text),
            }
        }
        database.cache_hits.fetch_add(hit_count, Relaxed);
        if !missing.is_empty() {
            self.next_id += 1;
            // Others wait for these keys only while the cache could keep them after.
            if self.cache.is_enabled() {
                for key in &missing {
                    self.asked.insert(key.clone(), id);
                }
            }
            needs.push(id);
            self.in_flight.insert(id, 0);
            let requests = self.requests.as_ref().expect("open until dropped");
            if requests.send(Request { id, keys: missing }).is_err() {
                return Err(LookupFailure {
                    message: "a lookup's connection thread ended".into(),
                    help: "this is a bug in flowc",
                });
            }
        }
        for need in &needs {
            if let Some(batches) = self.in_flight.get_mut(need) {
                *batches += 1;
            } else if let Some(answered) = self.answered.get_mut(need) {
                answered.waiting += 1;
            }
        }
        self.waiting.push_back(Waiting { records, keys, needs, hits, watermark });
        self.publish();
        Ok(())
    }

    /// Takes the answers that came, blocking for one if `block`.
    pub fn receive(&mut self, block: bool) -> Result<(), LookupFailure> {
        let mut next = if block { self.answers.recv().ok() } else { self.answers.try_recv().ok() };
        while let Some(answer) = next {
            let rows = answer.rows?;
            let waiting = self.in_flight.remove(&answer.id).unwrap_or(0);
            for (key, _) in &rows {
                if self.asked.get(key) == Some(&answer.id) {
                    self.asked.remove(key);
                }
            }
            self.answered.insert(answer.id, Answered { rows: rows.into_iter().collect(), waiting });
            next = self.answers.try_recv().ok();
        }
        Ok(())
    }

    /// The first waiting batch, if every query it waits for has answered:
    /// its records, keys, and its rows by key.
    pub fn pop_ready(&mut self) -> Option<(Batch, Vec<Value>, HashMap<KeyText, Found>)> {
        let front = self.waiting.front()?;
        if front.needs.iter().any(|need| !self.answered.contains_key(need)) {
            return None;
        }
        let batch = self.waiting.pop_front().expect("a front");
        let mut rows = batch.hits;
        for need in &batch.needs {
            let answered = self.answered.get_mut(need).expect("answered");
            for key in &batch.keys {
                let text = key_text(key);
                if let Some(found) = answered.rows.get(&text) {
                    rows.entry(text).or_insert_with(|| found.clone());
                }
            }
            answered.waiting = answered.waiting.saturating_sub(1);
            if answered.waiting == 0 {
                let done = self.answered.remove(need).expect("answered");
                for (key, found) in done.rows {
                    self.cache.insert(key, found);
                }
            }
        }
        self.publish();
        Some((batch.records, batch.keys, rows))
    }

    /// The rows cached, and an estimate of their memory.
    pub fn cached(&self) -> (u64, u64) {
        self.cache.size()
    }

    /// Publishes the batches waiting as the operator's calls in flight: what
    /// its capacity counts.
    fn publish(&mut self) {
        self.gauge.publish(&self.counters, self.waiting.len() as u64, Instant::now());
    }
}

impl Drop for AsyncRows {
    fn drop(&mut self) {
        // Closing the channel ends each thread after its query. They are
        // not waited for: a query to a server that hangs would hold the end
        // of the run, and a thread's answer has nowhere to go any more.
        self.requests = None;
        self.threads.clear();
    }
}
