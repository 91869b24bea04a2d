//! Two busy programs beside a run, one per core, as on a laptop that is
//! compiling something else: `sh` spin loops, stopped when dropped.

pub struct CpuHogs(Vec<std::process::Child>);

impl CpuHogs {
    pub fn start() -> CpuHogs {
        let spin = || {
            std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("sh runs")
        };
        CpuHogs(vec![spin(), spin()])
    }
}

impl Drop for CpuHogs {
    fn drop(&mut self) {
        for hog in &mut self.0 {
            let _ = hog.kill();
            let _ = hog.wait();
        }
    }
}
