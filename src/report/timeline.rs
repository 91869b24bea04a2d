//! The report over time: each task's busy, backpressured and idle time as
//! a short series (for sparklines and the HTML page), and the bottleneck
//! step by step, to say when it moves (windows firing move the
//! bottleneck, and averages over a run hide it).

use crate::metrics::recording::{Recording, TaskRecording};
use crate::plan::PhysicalPlan;

use super::analyze::{find_bottleneck, TaskSummary};
use super::stats::Stats;
use super::thresholds::{MOVING_SHARE, MOVING_SWITCHES};
use super::{MovingBottleneck, TimelinePoint};

/// Points per task timeline at most.
pub const TIMELINE_POINTS: usize = 60;
/// The finest step at which the bottleneck is located.
const MIN_STEP_MS: f64 = 100.0;
/// Steps at most: a day at the finest step.
const MAX_STEPS: usize = 864_000;

/// Busy, backpressured and idle ms per second, mean over subtasks, in at
/// most `TIMELINE_POINTS` points.
pub fn task_timeline(task: &TaskRecording) -> Vec<TimelinePoint> {
    let steps = task.subtasks.iter().map(|s| s.intervals.len()).max().unwrap_or(0);
    if steps == 0 {
        return Vec::new();
    }
    let per_point = steps.div_ceil(TIMELINE_POINTS);
    (0..steps)
        .step_by(per_point)
        .map(|first| {
            let (mut busy, mut backpressured, mut idle, mut start_ms) = (0.0, 0.0, 0.0, f64::INFINITY);
            for subtask in &task.subtasks {
                for interval in subtask.intervals.iter().skip(first).take(per_point) {
                    busy += interval.busy_ms;
                    backpressured += interval.backpressured_ms;
                    idle += interval.idle_ms;
                    start_ms = start_ms.min(interval.start_ms);
                }
            }
            let accounted = busy + backpressured + idle;
            let per_second = |ms: f64| if accounted > 0.0 { ms * 1000.0 / accounted } else { 0.0 };
            TimelinePoint {
                start_ms: if start_ms.is_finite() { start_ms } else { 0.0 },
                busy_ms_per_second: per_second(busy),
                backpressured_ms_per_second: per_second(backpressured),
                idle_ms_per_second: if accounted > 0.0 { per_second(idle) } else { 1000.0 },
            }
        })
        .collect()
}

/// The bottleneck step by step over `[from_ms, to_ms)`; `Some` when it
/// takes turns between tasks.
pub fn moving_bottleneck(
    plan: &PhysicalPlan,
    recording: &Recording,
    from_ms: f64,
    to_ms: f64,
) -> Option<MovingBottleneck> {
    let to_ms = to_ms.min(recording.duration_ms);
    let step_ms = recording.sample_interval_ms.max(MIN_STEP_MS);
    // Bounded, for recordings read from a file.
    let n_steps = (((to_ms - from_ms) / step_ms).floor() as usize).min(MAX_STEPS);
    if n_steps < 4 {
        return None;
    }
    let located: Vec<Option<usize>> = (0..n_steps)
        .map(|step| {
            let start = from_ms + step as f64 * step_ms;
            let summaries: Vec<TaskSummary> = recording
                .tasks
                .iter()
                .map(|task| {
                    let stats: Vec<Stats> =
                        task.subtasks.iter().map(|s| Stats::over(&s.intervals, start, start + step_ms)).collect();
                    TaskSummary::of(&stats)
                })
                .collect();
            find_bottleneck(plan, &summaries)
        })
        .collect();
    let mut counts = vec![0usize; plan.tasks.len()];
    for task in located.iter().flatten() {
        counts[*task] += 1;
    }
    let mut tasks: Vec<usize> =
        (0..plan.tasks.len()).filter(|&task| counts[task] as f64 >= MOVING_SHARE * n_steps as f64).collect();
    tasks.sort_by(|a, b| counts[*b].cmp(&counts[*a]).then(a.cmp(b)));
    // Only turns between the tasks that take part count.
    let turns: Vec<usize> = located.iter().flatten().copied().filter(|task| tasks.contains(task)).collect();
    let switches = turns.windows(2).filter(|pair| pair[0] != pair[1]).count() as u32;
    if tasks.len() < 2 || switches < MOVING_SWITCHES {
        return None;
    }
    let timeline: String = located
        .iter()
        .map(|task| match task.and_then(|task| tasks.iter().position(|&t| t == task)) {
            Some(rank) => (b'A' + rank.min(25) as u8) as char,
            None => '.',
        })
        .collect();
    Some(MovingBottleneck {
        task_names: tasks.iter().map(|&task| plan.tasks[task].name.clone()).collect(),
        shares: tasks.iter().map(|&task| counts[task] as f64 / n_steps as f64).collect(),
        period_ms: period(&located, tasks[0], step_ms),
        tasks,
        switches,
        step_ms,
        timeline,
    })
}

/// The mean time between the starts of two turns of `task`.
fn period(located: &[Option<usize>], task: usize, step_ms: f64) -> Option<f64> {
    let starts: Vec<usize> = (0..located.len())
        .filter(|&step| located[step] == Some(task) && (step == 0 || located[step - 1] != Some(task)))
        .collect();
    (starts.len() >= 2).then(|| (starts[starts.len() - 1] - starts[0]) as f64 * step_ms / (starts.len() - 1) as f64)
}
