//! Where a PostgreSQL server is: a program's `url` (a `postgres://` URL or
//! a `key=value` string), with what it leaves out taken from the standard
//! environment variables as libpq takes them — `PGHOST` (a name, an
//! address, or a socket folder), `PGPORT`, `PGUSER`, `PGDATABASE`,
//! `PGPASSWORD`, `PGAPPNAME`, `PGCONNECT_TIMEOUT` — and libpq's defaults
//! after that: the local socket folder if a server listens there, else
//! `localhost`; port 5432; the login name as user; the user as database.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;
use postgres::{Client, Config, NoTls};

use crate::check::program::PostgresTarget;

/// How long a connection may take to open unless `PGCONNECT_TIMEOUT` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Where Debian's and most distributions' servers put their socket, and
/// the upstream default.
const SOCKET_FOLDERS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// A server's address, resolved once and opened by every subtask.
#[derive(Clone, Debug)]
pub struct Server {
    config: Config,
    /// `user@host:port/database`, for messages.
    pub description: String,
}

impl Server {
    /// The server a target names, with the environment filling the gaps.
    pub fn resolve(target: &PostgresTarget) -> Result<Server, String> {
        Server::resolve_with(target, &|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    fn resolve_with(target: &PostgresTarget, env: &dyn Fn(&str) -> Option<String>) -> Result<Server, String> {
        let mut config = match &target.connection {
            Some(text) => Config::from_str(text)
                .map_err(|error| format!("the `url` is not a PostgreSQL connection string: {error}"))?,
            None => Config::new(),
        };
        let port = match config.get_ports().first() {
            Some(&port) => port,
            None => match env("PGPORT") {
                Some(text) => text.parse::<u16>().map_err(|_| format!("PGPORT is `{text}`, not a port number"))?,
                None => 5432,
            },
        };
        if config.get_ports().is_empty() {
            config.port(port);
        }
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(hosts) => {
                    for host in hosts.split(',') {
                        match host.starts_with('/') {
                            true => config.host_path(host),
                            false => config.host(host),
                        };
                    }
                }
                None => {
                    let socket = SOCKET_FOLDERS
                        .iter()
                        .find(|folder| Path::new(folder).join(format!(".s.PGSQL.{port}")).exists());
                    match socket {
                        Some(folder) => config.host_path(folder),
                        None => config.host("localhost"),
                    };
                }
            }
        }
        let user = match config.get_user() {
            Some(user) => user.to_string(),
            None => env("PGUSER")
                .or_else(|| env("USER"))
                .or_else(login_name)
                .ok_or("no user to connect as: set PGUSER, or name one in the `url` (`postgres://user@host/db`)")?,
        };
        config.user(&user);
        let database = match config.get_dbname() {
            Some(database) => database.to_string(),
            None => env("PGDATABASE").unwrap_or_else(|| user.clone()),
        };
        config.dbname(&database);
        if config.get_password().is_none() {
            if let Some(password) = env("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "flowc".into()));
        }
        if config.get_connect_timeout().is_none() {
            let timeout = env("PGCONNECT_TIMEOUT")
                .and_then(|text| text.parse::<u64>().ok())
                .filter(|&seconds| seconds > 0)
                .map_or(CONNECT_TIMEOUT, Duration::from_secs);
            config.connect_timeout(timeout);
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let description = format!("{user}@{host}:{port}/{database}");
        Ok(Server { config, description })
    }
}

/// Opens a connection to `server`, or says why not.
pub fn connect(server: &Server) -> Result<Client, String> {
    server.config.connect(NoTls).map_err(|error| {
        format!("cannot connect to PostgreSQL at {}: {}", server.description, super::describe_error(&error))
    })
}

/// The login name of the process's user, as libpq's default user.
fn login_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out before anything else can call it on this thread.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr((*entry).pw_name).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;

    fn target(url: Option<&str>) -> PostgresTarget {
        PostgresTarget { connection: url.map(str::to_string), table: "t".into(), table_span: Span::new(0, 0) }
    }

    fn resolve(url: Option<&str>, vars: &[(&str, &str)]) -> Server {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Server::resolve_with(&target(url), &|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    }

    #[test]
    fn the_environment_fills_what_the_url_leaves_out() {
        let server =
            resolve(None, &[("PGHOST", "10.0.0.7"), ("PGPORT", "6543"), ("PGUSER", "ann"), ("PGDATABASE", "shop")]);
        assert_eq!(server.description, "ann@10.0.0.7:6543/shop");
        let server =
            resolve(Some("postgres://bob@db.example:5433/sales"), &[("PGHOST", "10.0.0.7"), ("PGUSER", "ann")]);
        assert_eq!(server.description, "bob@db.example:5433/sales");
        let server = resolve(Some("host=/tmp/pg dbname=x"), &[("PGUSER", "ann"), ("PGPORT", "7000")]);
        assert_eq!(server.description, "ann@/tmp/pg:7000/x");
    }

    #[test]
    fn the_database_defaults_to_the_user() {
        let server = resolve(None, &[("PGHOST", "h"), ("PGUSER", "carol")]);
        assert_eq!(server.description, "carol@h:5432/carol");
    }

    #[test]
    fn a_bad_port_or_url_is_an_error_in_words() {
        let vars = [("PGPORT".to_string(), "fifty".to_string())];
        let error =
            Server::resolve_with(&target(None), &|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
                .unwrap_err();
        assert!(error.contains("PGPORT is `fifty`"), "{error}");
        let error = Server::resolve_with(&target(Some("postgres://h:notaport/db")), &|_| None).unwrap_err();
        assert!(error.contains("not a PostgreSQL connection string"), "{error}");
    }
}
