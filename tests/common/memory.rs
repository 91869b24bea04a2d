//! The peak memory of a `flowc run`, read from the summary it prints.

use std::path::Path;

/// Runs `flowc run flow` (the binary `flowc` is the test's) and returns its
/// peak memory in KiB; the run must succeed.
pub fn peak_memory_kib(flowc: &str, flow: &Path) -> u64 {
    let output = std::process::Command::new(flowc).arg("run").arg(flow).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let line = stderr.lines().find(|line| line.contains("peak memory:")).expect("the summary shows peak memory");
    let mib: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    (mib * 1024.0) as u64
}
