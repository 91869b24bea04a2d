//! The PostgreSQL test harness (`tests/common/postgres.rs`) on real servers:
//! SQL through psql, a committed row surviving a crash-like stop, servers
//! side by side from parallel threads, the connection details a program
//! under test gets, and the folder gone once the server is dropped.
//!
//! Skipped where PostgreSQL is not installed, unless `FLOWC_REQUIRE_POSTGRES`
//! is set (CI sets it).

#[path = "common/postgres.rs"]
mod postgres;

use std::process::Command;
use std::time::Instant;

use postgres::PgServer;

#[test]
fn a_committed_row_survives_an_immediate_stop() {
    let started = Instant::now();
    let Some(mut pg) = PgServer::start() else { return };
    eprintln!("a PostgreSQL server started in {:?}", started.elapsed());
    let dir = pg.dir().to_path_buf();
    let port = pg.port();
    assert!(dir.join("data/PG_VERSION").is_file());
    assert_eq!(pg.psql("show fsync; show synchronous_commit"), "on\non");
    pg.psql("create table t (id int primary key, name text); insert into t values (1, 'one'), (2, 'two')");
    assert_eq!(pg.psql("select id, name from t order by id"), "1|one\n2|two");

    pg.stop_immediate();
    assert!(pg.try_psql("select 1").is_err(), "a stopped server answers");
    pg.start_again();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("select id, name from t order by id"), "1|one\n2|two");
    assert!(pg.log().contains("database system was interrupted"), "no crash recovery:\n{}", pg.log());

    drop(pg);
    assert!(!dir.exists(), "{} is left", dir.display());
}

#[test]
fn servers_started_at_once_are_separate() {
    let servers: Vec<PgServer> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..3).map(|_| scope.spawn(PgServer::start)).collect();
        starts.into_iter().filter_map(|start| start.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(PgServer::port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), servers.len());
    for (n, pg) in servers.iter().enumerate() {
        pg.psql(&format!("create table mine (n int); insert into mine values ({n})"));
    }
    for (n, pg) in servers.iter().enumerate() {
        assert_eq!(pg.psql("select n from mine"), n.to_string());
    }
}

#[test]
fn a_program_connects_with_the_url_or_the_environment() {
    let Some(pg) = PgServer::start() else { return };
    assert_eq!(pg.url(), format!("postgres://flowc@127.0.0.1:{}/flowc", pg.port()));
    let query = "select current_user || ' ' || current_database()";
    let by_url = Command::new("psql").args(["-X", "-A", "-t", &pg.url(), "-c", query]).output().unwrap();
    assert!(by_url.status.success(), "{}", String::from_utf8_lossy(&by_url.stderr));
    assert_eq!(String::from_utf8_lossy(&by_url.stdout).trim(), "flowc flowc");
    let by_env = Command::new("psql").args(["-X", "-A", "-t", "-c", query]).envs(pg.env()).output().unwrap();
    assert!(by_env.status.success(), "{}", String::from_utf8_lossy(&by_env.stderr));
    assert_eq!(String::from_utf8_lossy(&by_env.stdout).trim(), "flowc flowc");
    assert_eq!((pg.user(), pg.database()), ("flowc", "flowc"));
}

#[test]
fn an_error_stops_the_sql_and_comes_back() {
    let Some(pg) = PgServer::start_with(&[("fsync", "off")]) else { return };
    assert_eq!(pg.psql("show fsync"), "off");
    let error = pg.try_psql("create table a (x int); select * from missing; create table b (x int)").unwrap_err();
    assert!(error.contains("relation \"missing\" does not exist"), "{error}");
    assert_eq!(pg.psql("select string_agg(tablename, ',') from pg_tables where schemaname = 'public'"), "a");
}
