//! A subtask thread's CPU time, readable from the sampler's thread: Linux
//! gives every thread a CPU clock (`pthread_getcpuclockid`) that any thread
//! of the process may read. The subtask registers its clock when it starts
//! and, just before it ends, stores its final CPU time and withdraws the
//! clock, so the sampler never reads the clock of a thread that is gone.
//! Where there is no such clock, CPU time is unknown (`None`), never zero.
//!
//! Beside it, the time the thread waited in the run queue for a CPU, from
//! Linux's scheduler statistics (`/proc/self/task/<tid>/schedstat`, its
//! second number): a thread that computes on a machine whose cores are
//! taken is on a CPU or waiting for one, where a thread that sleeps is
//! neither. `None` where the file is missing (another kernel or platform).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// No clock registered: not started, or ended.
const NO_CLOCK: i64 = i64::MIN;

#[derive(Debug)]
pub struct ThreadCpu {
    clock: AtomicI64,
    /// CPU time at the end, plus one; 0 while unknown.
    final_nanos_plus_one: AtomicU64,
    /// The thread's id, for its scheduler statistics; 0 when not running.
    tid: AtomicI64,
    /// Run-queue wait at the end, plus one; 0 while unknown.
    final_wait_plus_one: AtomicU64,
}

impl Default for ThreadCpu {
    fn default() -> ThreadCpu {
        ThreadCpu {
            clock: AtomicI64::new(NO_CLOCK),
            final_nanos_plus_one: AtomicU64::new(0),
            tid: AtomicI64::new(0),
            final_wait_plus_one: AtomicU64::new(0),
        }
    }
}

impl ThreadCpu {
    /// Called by the subtask's own thread when it starts.
    pub fn register_current_thread(&self) {
        if let Some(clock) = current_thread_clock() {
            self.clock.store(clock, Relaxed);
        }
        self.tid.store(current_thread_id(), Relaxed);
    }

    /// Called by the subtask's own thread as it ends.
    pub fn finish_current_thread(&self) {
        if let Some(nanos) = current_thread_clock().and_then(read_clock) {
            self.final_nanos_plus_one.store(nanos.saturating_add(1), Relaxed);
        }
        if let Some(wait) = run_queue_wait(current_thread_id()) {
            self.final_wait_plus_one.store(wait.saturating_add(1), Relaxed);
        }
        self.clock.store(NO_CLOCK, Relaxed);
        self.tid.store(0, Relaxed);
    }

    /// The thread's time waiting in the run queue so far, from any thread.
    pub fn run_queue_nanos(&self) -> Option<u64> {
        let done = self.final_wait_plus_one.load(Relaxed);
        if done > 0 {
            return Some(done - 1);
        }
        match self.tid.load(Relaxed) {
            0 => None,
            tid => run_queue_wait(tid),
        }
    }

    /// The thread's CPU time so far, from any thread.
    pub fn nanos(&self) -> Option<u64> {
        let done = self.final_nanos_plus_one.load(Relaxed);
        if done > 0 {
            return Some(done - 1);
        }
        match self.clock.load(Relaxed) {
            NO_CLOCK => None,
            clock => read_clock(clock),
        }
    }
}

#[cfg(unix)]
fn current_thread_clock() -> Option<i64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self` is always valid for the calling thread, and
    // `clock` is a valid place for the result.
    let status = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (status == 0).then_some(i64::from(clock))
}

#[cfg(unix)]
fn read_clock(clock: i64) -> Option<u64> {
    let clock = libc::clockid_t::try_from(clock).ok()?;
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `time` is a valid place for the result; a clock of a thread
    // that has ended makes the call fail, which is handled.
    let status = unsafe { libc::clock_gettime(clock, &mut time) };
    (status == 0).then(|| time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64)
}

#[cfg(not(unix))]
fn current_thread_clock() -> Option<i64> {
    None
}

#[cfg(not(unix))]
fn read_clock(_clock: i64) -> Option<u64> {
    None
}

#[cfg(target_os = "linux")]
fn current_thread_id() -> i64 {
    // SAFETY: `gettid` has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

#[cfg(not(target_os = "linux"))]
fn current_thread_id() -> i64 {
    0
}

/// The second number of a thread's `schedstat`: nanoseconds it waited to run.
fn run_queue_wait(tid: i64) -> Option<u64> {
    if tid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spinning_thread_accumulates_cpu_time_a_sleeping_one_does_not() {
        let spinning = std::sync::Arc::new(ThreadCpu::default());
        let sleeping = std::sync::Arc::new(ThreadCpu::default());
        let (s1, s2) = (spinning.clone(), sleeping.clone());
        let spin = std::thread::spawn(move || {
            s1.register_current_thread();
            let until = std::time::Instant::now() + std::time::Duration::from_millis(60);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
            s1.finish_current_thread();
        });
        let sleep = std::thread::spawn(move || {
            s2.register_current_thread();
            std::thread::sleep(std::time::Duration::from_millis(60));
            s2.finish_current_thread();
        });
        spin.join().unwrap();
        sleep.join().unwrap();
        let (spun, slept) = (spinning.nanos().unwrap(), sleeping.nanos().unwrap());
        assert!(spun > 20_000_000, "spinning for 60 ms used {spun} ns of CPU");
        assert!(slept < spun / 4, "sleeping used {slept} ns of CPU, spinning {spun}");
    }
}
