//! A real, throwaway PostgreSQL server for the tests (never a mock): its
//! folder, `initdb`, a free port of 127.0.0.1, `pg_ctl` start and stop, and
//! SQL through the `psql` program (no Rust client crate).
//!
//! ```ignore
//! #[path = "common/postgres.rs"]
//! mod postgres;
//!
//! let Some(pg) = postgres::PgServer::start() else { return }; // not installed: skipped
//! pg.psql("create table t (x int)");
//! // hand pg.url() or pg.env() to the program under test
//! ```
//!
//! Each server has its own folder, `flowc-pg-<pid>-<n>` in the temp folder:
//! the data folder `data/`, the server's log `log` and its socket. The
//! superuser is `flowc`, trusted on the socket and on 127.0.0.1, and the
//! database `flowc` is made. The server keeps PostgreSQL's durable settings
//! (fsync, synchronous_commit and full_page_writes on: a commit it confirms
//! is on disk), so a test may stop it as a crash would
//! ([`PgServer::stop_immediate`]) and find every committed row after
//! [`PgServer::start_again`]; [`PgServer::start_with`] sets others (such as
//! `fsync = off`) where a test does not need that. Dropping the server stops
//! it and removes its folder; a watchdog process does the same if the test
//! process dies first (a Ctrl-C, a timeout's kill), since `pg_ctl` detaches
//! the server from the test's process group.
//!
//! The programs come from PATH (initdb, pg_ctl, psql), else from the newest
//! `/usr/lib/postgresql/*/bin`. Without them the server does not start and
//! [`PgServer::start`] returns `None`, unless `FLOWC_REQUIRE_POSTGRES` is set
//! (CI sets it; `.ci/run` installs PostgreSQL): then it panics. PostgreSQL
//! refuses to run as root, so as root the server programs run as the
//! `postgres` OS user, who is given the folder.
//!
//! Tests run in threads of one process, so several servers may start at
//! once: each takes a port no other server of the process took, and a port
//! something else took meanwhile makes the start try another.

#![allow(dead_code)] // each test uses its own part

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const HOST: &str = "127.0.0.1";
const USER: &str = "flowc";
const DATABASE: &str = "flowc";
/// The OS user the server runs as when the tests run as root.
const OS_USER: &str = "postgres";

/// A running (or stopped, see [`PgServer::stop_immediate`]) PostgreSQL
/// server in its own temp folder; dropping it stops it and removes the folder.
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    programs: Programs,
    settings: Vec<(String, String)>,
    running: bool,
    watchdog: Option<Child>,
}

/// Where the programs are, and how to run a server program as its OS user.
#[derive(Clone)]
struct Programs {
    /// The folder of initdb, pg_ctl and postgres.
    bin: PathBuf,
    psql: PathBuf,
    /// What runs a server program as the postgres OS user (when root): empty
    /// when the programs run as the current user.
    as_server: Vec<OsString>,
}

impl PgServer {
    /// A new server with the durable defaults; `None` when PostgreSQL is not
    /// installed (and `FLOWC_REQUIRE_POSTGRES` is not set).
    pub fn start() -> Option<PgServer> {
        PgServer::start_with(&[])
    }

    /// A new server with these settings (`-c name=value` to the server, after
    /// the durable defaults, so they win), as [`PgServer::start`].
    pub fn start_with(settings: &[(&str, &str)]) -> Option<PgServer> {
        let programs = match Programs::find() {
            Ok(programs) => programs,
            Err(why) => {
                let required = std::env::var_os("FLOWC_REQUIRE_POSTGRES").is_some_and(|v| !v.is_empty() && v != "0");
                assert!(!required, "FLOWC_REQUIRE_POSTGRES is set but {why}");
                eprintln!("note: {why}; the PostgreSQL test is skipped");
                return None;
            }
        };
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("flowc-pg-{}-{n}", std::process::id()));
        // A folder of a process that had this pid before us.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        let dir = dir.canonicalize().unwrap();
        let shown = dir.display().to_string();
        assert!(!shown.contains(['\'', '"', '\\', ' ']), "the temp folder's path holds a space or a quote: {shown}");
        // The socket, `<dir>/.s.PGSQL.<port>`, must fit a Unix socket's 107 bytes.
        assert!(shown.len() <= 90, "the temp folder's path is too long for a Unix socket: {shown}");
        for (name, value) in settings {
            assert!(!format!("{name}{value}").contains(['\'', '\\']), "a setting with a quote: {name} = {value}");
        }
        let mut server = PgServer {
            dir,
            port: 0,
            programs,
            settings: settings.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
            running: false,
            watchdog: None,
        };
        // From here a panic drops `server`, which removes the folder.
        if !server.programs.as_server.is_empty() {
            let chown = Command::new("chown").arg(format!("{OS_USER}:")).arg(&server.dir).output();
            check(&chown, "chown of the temp folder to the postgres OS user");
        }
        server.watchdog = Some(server.watchdog());
        let initdb = server
            .server_command("initdb")
            .arg("-D")
            .arg(server.data())
            .args([&format!("--username={USER}"), "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .output();
        let mut hint = String::new();
        if !server.programs.as_server.is_empty() {
            hint = format!(
                " (as root it runs as the `{OS_USER}` OS user, who must reach {}: is a folder above it closed?)",
                server.dir.display()
            );
        }
        check(&initdb, &format!("initdb{hint}"));
        server.launch(true);
        server.psql_in("postgres", &format!("create database {DATABASE}")).unwrap_or_else(|e| panic!("{e}"));
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        HOST
    }

    /// The superuser, trusted without a password.
    pub fn user(&self) -> &str {
        USER
    }

    pub fn database(&self) -> &str {
        DATABASE
    }

    /// `postgres://flowc@127.0.0.1:<port>/flowc`.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@{HOST}:{}/{DATABASE}", self.port)
    }

    /// PGHOST, PGPORT, PGUSER and PGDATABASE, for a program's environment.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("PGHOST", HOST.to_string()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", USER.into()),
            ("PGDATABASE", DATABASE.into()),
        ]
        .map(|(name, value)| (name.to_string(), value))
        .to_vec()
    }

    /// The server's folder: `data/`, `log` and the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Runs `sql` (statements, `psql` meta-commands) in the database `flowc`
    /// and returns what psql printed (unaligned, tuples only: `1|one` a row,
    /// rows a line each, no final newline); panics with psql's errors.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`PgServer::psql`], with psql's errors (its stderr) as `Err`; psql
    /// stops at the first error (`ON_ERROR_STOP`), and each statement commits
    /// by itself unless the SQL opens a transaction.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        self.psql_in(DATABASE, sql)
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint; the next start recovers from the WAL).
    pub fn stop_immediate(&mut self) {
        assert!(self.running, "the server is not running");
        let stop = self.pg_ctl().args(["stop", "-m", "immediate"]).output();
        check(&stop, "pg_ctl stop -m immediate");
        self.running = false;
    }

    /// Starts the stopped server again, on the same folder and port.
    pub fn start_again(&mut self) {
        assert!(!self.running, "the server is running");
        self.launch(false);
    }

    /// A server program, as the postgres OS user when root, in the server's
    /// folder (the postgres user may not enter the test's) and without the
    /// test's PG* variables.
    fn server_command(&self, program: &str) -> Command {
        let path = self.programs.bin.join(program);
        let mut command = match self.programs.as_server.split_first() {
            Some((runner, args)) => {
                let mut command = Command::new(runner);
                command.args(args).arg(path);
                command
            }
            None => Command::new(path),
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        command
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.server_command("pg_ctl");
        command.arg("-D").arg(self.data()).args(["-w", "-t", "120"]);
        command
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server: on a new port (tried again while the port turns
    /// out taken), or on its port.
    fn launch(&mut self, new_port: bool) {
        for _ in 0..10 {
            if new_port {
                self.port = free_port();
            }
            let seen = self.log().len();
            let mut options = format!(
                "-p {} -k '{}' -c listen_addresses={HOST} -c fsync=on -c synchronous_commit=on -c full_page_writes=on",
                self.port,
                self.dir.display()
            );
            for (name, value) in &self.settings {
                options.push_str(&format!(" -c '{name}={value}'"));
            }
            let log = self.dir.join("log");
            let start = self.pg_ctl().arg("-l").arg(&log).arg("-o").arg(&options).arg("start").output();
            if start.as_ref().is_ok_and(|output| output.status.success()) {
                self.running = true;
                return;
            }
            let log = self.log();
            let this_try = log.get(seen..).unwrap_or(&log);
            let taken = this_try.contains("could not bind") || this_try.contains("could not create any TCP/IP sockets");
            if !(new_port && taken) {
                let output = match &start {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                panic!("the PostgreSQL server in {} did not start: {output}\nits log:\n{this_try}", self.dir.display());
            }
        }
        panic!("the PostgreSQL server in {} found no free port in 10 tries", self.dir.display());
    }

    fn psql_in(&self, database: &str, sql: &str) -> Result<String, String> {
        let mut command = Command::new(&self.programs.psql);
        command.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-U", USER]);
        command.arg("-p").arg(self.port.to_string()).arg("-d").arg(database);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("psql does not run: {e}"))?;
        let mut stdin = child.stdin.take().unwrap();
        let sql = sql.to_string();
        // Written from a thread: psql may print more than a pipe holds before it reads all of it.
        let writer = std::thread::spawn(move || stdin.write_all(sql.as_bytes()));
        let output = child.wait_with_output().map_err(|e| format!("psql: {e}"))?;
        let _ = writer.join();
        if output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            Ok(stdout.strip_suffix('\n').unwrap_or(&stdout).to_string())
        } else {
            Err(format!("psql failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim_end()))
        }
    }

    /// A `sh` that waits for this process to end and for the programs it
    /// left running in the folder (an initdb, a `pg_ctl start`), then stops
    /// the server and removes its folder; [`Drop`] kills it once it has done
    /// that itself. It ignores Ctrl-C and
    /// has its own process group, so a Ctrl-C of `cargo test` leaves it.
    fn watchdog(&self) -> Child {
        const SCRIPT: &str = r#"trap '' INT HUP TERM PIPE
pid=$1 data=$2 dir=$3
shift 3
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
n=0
while [ $n -lt 30 ] && [ -n "$(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$dir" 2>/dev/null)" ]; do
  n=$((n + 1)); sleep 1
done
cd "$dir" && "$@" -D "$data" stop -m immediate
cd / && rm -rf "$dir""#;
        Command::new("sh")
            .args(["-c", SCRIPT, "flowc-pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.data())
            .arg(&self.dir)
            .args(&self.programs.as_server)
            .arg(self.programs.bin.join("pg_ctl"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("sh runs")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl().args(["stop", "-m", "immediate"]).output();
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("note: cannot remove the PostgreSQL folder {}: {e}", self.dir.display());
        }
        // Last: should the process die while dropping, the watchdog finishes the job.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Programs {
    /// The programs, or why the server cannot start.
    fn find() -> Result<Programs, String> {
        let missing = || {
            "PostgreSQL's programs (initdb, pg_ctl, psql) are not on PATH nor in /usr/lib/postgresql/*/bin \
             (apt-get install postgresql)"
                .to_string()
        };
        let bin = match (on_path("initdb"), on_path("pg_ctl")) {
            (Some(_), Some(pg_ctl)) => pg_ctl.parent().unwrap().to_path_buf(),
            _ => newest_installed().ok_or_else(missing)?,
        };
        let psql = on_path("psql").or_else(|| Some(bin.join("psql")).filter(|p| p.is_file())).ok_or_else(missing)?;
        let mut as_server = Vec::new();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let known = Command::new("id").arg(OS_USER).stdout(Stdio::null()).stderr(Stdio::null()).status();
            assert!(
                known.is_ok_and(|status| status.success()),
                "PostgreSQL does not run as root, and there is no `{OS_USER}` OS user to run it as"
            );
            let runuser = on_path("runuser").or_else(|| {
                ["/usr/sbin/runuser", "/sbin/runuser"].map(PathBuf::from).into_iter().find(|p| p.is_file())
            });
            as_server = match runuser {
                Some(runuser) => vec![runuser.into(), "-u".into(), OS_USER.into(), "--".into()],
                None => ["su", "-s", "/bin/sh", "-c", r#"exec "$0" "$@""#, "--", OS_USER].map(OsString::from).to_vec(),
            };
        }
        Ok(Programs { bin, psql, as_server })
    }
}

/// `name` in a folder of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// The newest `/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl
/// (Debian's layout).
fn newest_installed() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version: f64 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// A port of 127.0.0.1 that nothing listens on now and that no server of
/// this process took before.
fn free_port() -> u16 {
    static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind((HOST, 0)).expect("a TCP port of 127.0.0.1").local_addr().unwrap().port();
        if taken.insert(port) {
            return port;
        }
    }
}

/// Panics with the program's output unless it ran and succeeded.
fn check(output: &std::io::Result<Output>, what: &str) {
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!("{what} does not run: {e}"),
    }
}
