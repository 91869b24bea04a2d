//! How a run stops: the first error, a Ctrl-C that stops the sources, a
//! second one that stops everything. Every blocking wait in the runtime
//! looks at `RunControl` at least every `POLL`, so no thread outlives a
//! failure by more than that.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::diag::{Code, Span};
use crate::metrics::{SubtaskCounters, TimeAccount, TimeState};

/// The longest any wait sleeps before looking at the stop flags again.
pub const POLL: Duration = Duration::from_millis(20);

/// What stopped a run, for the user: one message, where in the `.flow` file
/// it happened, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct RunError {
    pub code: Code,
    pub message: String,
    /// The operator, source or sink of the `.flow` file it concerns.
    pub span: Option<Span>,
    pub label: String,
    pub help: Option<String>,
}

impl RunError {
    pub fn new(code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> RunError {
        RunError { code, message: message.into(), span: Some(span), label: label.into(), help: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> RunError {
        self.help = Some(help.into());
        self
    }
}

/// A subtask must stop now: another one failed, or the user asked twice.
/// The reason, if any, is already in `RunControl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Shared by every thread of a run.
#[derive(Debug, Default)]
pub struct RunControl {
    stop: AtomicBool,
    stop_sources: AtomicBool,
    stdout_closed: AtomicBool,
    error: Mutex<Option<RunError>>,
}

impl RunControl {
    pub fn new() -> Arc<RunControl> {
        Arc::new(RunControl::default())
    }

    /// Records the first error and stops every subtask.
    pub fn fail(&self, error: RunError) {
        let mut first = self.error.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if first.is_none() {
            *first = Some(error);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops at once, without an error (a second Ctrl-C).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Standard output was closed by its reader: stops at once, no error.
    pub fn stdout_closed(&self) {
        self.stdout_closed.store(true, Ordering::SeqCst);
        self.stop();
    }

    pub fn is_stdout_closed(&self) -> bool {
        self.stdout_closed.load(Ordering::SeqCst)
    }

    /// Sources end their input; everything in flight drains (Ctrl-C).
    pub fn stop_sources(&self) {
        self.stop_sources.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn sources_stopped(&self) -> bool {
        self.stop_sources.load(Ordering::Relaxed)
    }

    pub fn check(&self) -> Result<(), Stopped> {
        if self.is_stopped() {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    pub fn take_error(&self) -> Option<RunError> {
        self.error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

/// What every part of a subtask needs: its counters, its clock, the run's stop flags.
pub struct Ctx {
    pub counters: Arc<SubtaskCounters>,
    pub time: TimeAccount,
    pub control: Arc<RunControl>,
}

impl Ctx {
    /// Charges time from now on to `state`; returns the state before.
    pub fn enter(&mut self, state: TimeState) -> TimeState {
        self.time.switch(state)
    }

    /// The subtask has ended: its last stretch is charged, and no more.
    pub fn finish_time(&mut self) {
        self.time.finish();
    }

    /// Charges busy time from now on to chain operator `operator`; returns the one before.
    pub fn enter_operator(&mut self, operator: usize) -> usize {
        self.time.enter_operator(operator)
    }

    /// A neighbouring subtask vanished. It stopped because the run is
    /// stopping (and the reason is recorded), or flowc has a bug.
    pub fn lost_peer(&self, what: &str) -> Stopped {
        if !self.control.is_stopped() {
            self.control.fail(RunError {
                code: Code::Internal,
                message: what.to_string(),
                span: None,
                label: String::new(),
                help: Some("this is a bug in flowc's runtime; please report it with the .flow file".into()),
            });
        }
        Stopped
    }

    /// Fails the run with `error` and returns `Stopped` for `?`.
    pub fn fail(&self, error: RunError) -> Stopped {
        self.control.fail(error);
        Stopped
    }
}
