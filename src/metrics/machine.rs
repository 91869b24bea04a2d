//! How busy the whole machine was while a run lasted, and how much of that
//! was flowc itself: Linux's `/proc/stat` counts every CPU's busy and idle
//! time, `getrusage` the process's own CPU time. The difference is what
//! other programs took, which the report names when it is large: a
//! subtask's busy time then includes waiting for a core.
//!
//! `None` where either source is missing; the report then says nothing.

use serde::{Deserialize, Serialize};

/// The machine's CPU counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct MachineSample {
    /// Busy and all time over every CPU, in clock ticks.
    busy_ticks: u64,
    total_ticks: u64,
    cpus: u32,
    /// This process's CPU time, user and system, in nanoseconds.
    own_nanos: u64,
}

/// The machine over a run, in cores (1.0 = one core busy all the time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineLoad {
    pub cpus: u32,
    /// Every program together, flowc included.
    pub busy_cores: f64,
    /// flowc's own threads.
    pub own_cores: f64,
    /// Everything else: other programs, and the kernel on their behalf.
    pub other_cores: f64,
}

impl MachineSample {
    pub fn now() -> Option<MachineSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut lines = stat.lines();
        let total: Vec<u64> =
            lines.next()?.strip_prefix("cpu ")?.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal (guest time is in user already)
        if total.len() < 8 {
            return None;
        }
        let idle = total[3] + total[4];
        let busy = total[0] + total[1] + total[2] + total[5] + total[6] + total[7];
        let cpus = lines.take_while(|line| line.starts_with("cpu")).count() as u32;
        Some(MachineSample {
            busy_ticks: busy,
            total_ticks: busy + idle,
            cpus: cpus.max(1),
            own_nanos: own_cpu_nanos()?,
        })
    }

    /// The load between this sample and a later one, `wall_nanos` apart.
    pub fn load_until(&self, later: &MachineSample, wall_nanos: u64) -> Option<MachineLoad> {
        let ticks = later.total_ticks.checked_sub(self.total_ticks)?;
        if ticks == 0 || wall_nanos == 0 {
            return None;
        }
        let busy_cores =
            (later.busy_ticks.saturating_sub(self.busy_ticks)) as f64 / ticks as f64 * f64::from(later.cpus);
        let own_cores = later.own_nanos.saturating_sub(self.own_nanos) as f64 / wall_nanos as f64;
        let round = |cores: f64| (cores * 1000.0).round() / 1000.0;
        Some(MachineLoad {
            cpus: later.cpus,
            busy_cores: round(busy_cores),
            own_cores: round(own_cores),
            other_cores: round((busy_cores - own_cores).max(0.0)),
        })
    }
}

fn own_cpu_nanos() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` is a valid place for the result, read only on success.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: `getrusage` succeeded and filled it.
    let usage = unsafe { usage.assume_init() };
    let nanos = |time: libc::timeval| time.tv_sec as u64 * 1_000_000_000 + time.tv_usec as u64 * 1000;
    Some(nanos(usage.ru_utime) + nanos(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spinning_thread_of_this_process_is_its_own_load() {
        let Some(before) = MachineSample::now() else { return };
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(300) {
            std::hint::spin_loop();
        }
        let after = MachineSample::now().unwrap();
        let load = before.load_until(&after, start.elapsed().as_nanos() as u64).unwrap();
        assert!(load.own_cores > 0.5, "{load:?}");
        assert!(load.busy_cores + 0.3 >= load.own_cores, "{load:?}");
        assert!(load.other_cores >= 0.0 && load.cpus >= 1);
    }
}
