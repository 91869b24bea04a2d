//! When a generating source's records are due: one subtask's share of a
//! count, and with a rate, record `k` of a subtask `k / (rate / p)` seconds
//! after its start. The records due but not yet made are the source's lag.
//! `generate` and `nexmark` both pace themselves with it.

use std::time::{Duration, Instant};

/// What a source should do now.
pub enum Step {
    /// Make this many records (at least one).
    Make(usize),
    /// Nothing is due before this instant.
    WaitUntil(Instant),
    /// Every record is made, or the sources stopped.
    Done,
}

pub struct Pacing {
    local_count: Option<u64>,
    /// Records per second for this subtask.
    rate: Option<f64>,
    start: Option<Instant>,
    made: u64,
    stopped: bool,
}

/// Subtask `subtask`'s share of `count` records dealt round-robin over
/// `parallelism` subtasks: the records `subtask, subtask + p, …`.
pub fn local_count(count: u64, subtask: u32, parallelism: u32) -> u64 {
    let (subtask, parallelism) = (u64::from(subtask), u64::from(parallelism));
    count / parallelism + u64::from(subtask < count % parallelism)
}

impl Pacing {
    /// `local_count` records (none: until stopped), at `rate` records per
    /// second over all `parallelism` subtasks (none: as fast as it can).
    pub fn new(local_count: Option<u64>, rate: Option<f64>, parallelism: u32) -> Pacing {
        Pacing {
            local_count,
            rate: rate.map(|rate| rate / f64::from(parallelism)),
            start: None,
            made: 0,
            stopped: false,
        }
    }

    /// Records this subtask has made so far.
    pub fn made(&self) -> u64 {
        self.made
    }

    /// Records due by `now`: all of them without a rate.
    fn due(&self, now: Instant) -> u64 {
        let limit = self.local_count.unwrap_or(u64::MAX);
        match (self.rate, self.start) {
            (Some(rate), Some(start)) => {
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64 + 1;
                due.min(limit)
            }
            (Some(_), None) => 0,
            (None, _) => limit,
        }
    }

    /// What to do now, making at most `max_rows` records; the caller makes
    /// them and then calls `advance`.
    pub fn step(&mut self, max_rows: usize) -> Step {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        if self.stopped || self.local_count.is_some_and(|count| self.made >= count) {
            return Step::Done;
        }
        let due = self.due(now).max(if self.rate.is_some() { 1 } else { 0 });
        if due <= self.made {
            let rate = self.rate.expect("only a rate makes records wait");
            return Step::WaitUntil(start + Duration::from_secs_f64(self.made as f64 / rate));
        }
        Step::Make((due - self.made).min(max_rows as u64) as usize)
    }

    pub fn advance(&mut self, made: usize) {
        self.made += made as u64;
    }

    pub fn stop(&mut self) {
        self.stopped = true;
    }

    pub fn lag(&self) -> u64 {
        match self.rate {
            Some(_) => self.due(Instant::now()).saturating_sub(self.made),
            None => 0,
        }
    }

    pub fn schedule(&self) -> Option<(Instant, f64, u64)> {
        Some((self.start?, self.rate?, self.local_count.unwrap_or(u64::MAX)))
    }
}
