//! The PostgreSQL sink and lookup tables end to end: the real `flowc`
//! binary against a real throwaway server (`tests/common/postgres.rs`).
//! Every type round-trips and odd strings are stored exactly; a table that
//! does not fit fails before any record; a failure mid-run (a constraint,
//! a stopped server) names what was committed and leaves exactly the
//! committed batches, and an upsert re-run repairs the table; Ctrl-C
//! commits what is in flight; lookups enrich records with and without
//! their cache and report their database totals; the report finds a
//! row-by-row sink I/O-bound and its advised `batch_size` speeds it up;
//! the Flink export writes a JDBC table. Each test runs the binary in a
//! scratch folder and asserts outcomes and generous bounds, never exact
//! timings. Skipped where PostgreSQL is not installed, unless
//! `FLOWC_REQUIRE_POSTGRES` is set.

#[path = "common/postgres.rs"]
mod postgres_server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use postgres_server::PgServer;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowc-postgres-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `flowc` in `dir`, reaching the server through the PG* variables.
fn flowc(dir: &Path, pg: &PgServer) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowc"));
    command.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.env("NO_COLOR", "1").envs(pg.env());
    command
}

/// Writes `name` in `dir` and runs `flowc run <args> name` to its end.
fn run(dir: &Path, pg: &PgServer, name: &str, program: &str, args: &[&str]) -> Output {
    std::fs::write(dir.join(name), program).unwrap();
    flowc(dir, pg).arg("run").args(args).arg(name).output().unwrap()
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// The diagnostic codes on stderr (`flow::table_mismatch`), one a diagnostic.
fn codes(stderr: &str) -> Vec<String> {
    stderr.lines().map(str::trim).filter(|line| line.starts_with("flow::")).map(String::from).collect()
}

/// A diagnostic's text on one line: its wrapped message (`× …`, `│ …`)
/// and help joined by single spaces, so a phrase never breaks.
fn flat(stderr: &str) -> String {
    let parts = stderr.lines().map(|line| line.trim().trim_start_matches(['×', '│']).trim());
    parts.filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Asserts the run failed before any record with one `flow::table_mismatch`
/// whose message holds every one of `words`.
fn assert_mismatch(output: &Output, words: &[&str]) {
    let stderr = stderr_of(output);
    assert!(!output.status.success(), "the run succeeded:\n{stderr}");
    assert_eq!(codes(&stderr), ["flow::table_mismatch"], "{stderr}");
    for word in words {
        assert!(flat(&stderr).contains(word), "no `{word}` in:\n{stderr}");
    }
}

/// `N` of "N rows were committed" (or "1 row was committed").
fn committed(stderr: &str) -> u64 {
    let text = flat(stderr);
    let words: Vec<&str> = text.split(' ').collect();
    let at = words
        .windows(4)
        .position(|w| matches!(w[1], "rows" | "row") && matches!(w[2], "were" | "was") && w[3] == "committed")
        .unwrap_or_else(|| panic!("no \"N rows were committed\" in:\n{stderr}"));
    words[at].replace(',', "").parse().unwrap_or_else(|_| panic!("no count before \"rows were committed\":\n{stderr}"))
}

/// Records out of the summary's first line: `ran 1.02 s: 2,000 records in, 1,990 out, …`.
fn summary_out(stderr: &str) -> u64 {
    let line = stderr.lines().find(|line| line.contains(" records in, ")).unwrap_or_else(|| panic!("{stderr}"));
    let after = &line[line.find(" records in, ").unwrap() + " records in, ".len()..];
    let number = after.split(' ').next().unwrap().replace(',', "");
    number.parse().unwrap_or_else(|_| panic!("no records out in: {line}"))
}

fn count(pg: &PgServer, table: &str) -> u64 {
    pg.psql(&format!("select count(*) from {table}")).parse().unwrap()
}

/// Waits until `table` holds rows, while the run goes on.
fn wait_for_rows(pg: &PgServer, table: &str, child: &mut Child) {
    let started = Instant::now();
    loop {
        let rows = pg.try_psql(&format!("select count(*) from {table}")).ok().and_then(|n| n.parse::<u64>().ok());
        if rows.is_some_and(|rows| rows > 0) {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before a row of `{table}` was committed");
        assert!(started.elapsed() < Duration::from_secs(30), "no row in `{table}` after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const READINGS: &str =
    "schema Reading { id: int  sensor: int  value: float  note: string  ok: bool  ts: timestamp  d: duration }\n\
    source readings: Reading = generate(count = 1000) { id = seq  sensor = seq % 16  value = float(seq) / 4.0  \
    note = \"n\" ++ str(seq)  ok = seq % 2 == 0  ts = epoch + seq * 1001us  d = seq * 1us }\n";

/// Values that a text format could garble: tab, newline, carriage return,
/// backslash, COPY's `\N`, quotes, a comma, non-ASCII, the empty string;
/// and NaN, the infinities and -0.0.
const ODD: &str = "schema Odd { id: int  s: string  f: float  ts: timestamp }\n\
    source odd: Odd = generate(count = 8) {\n\
      id = seq\n\
      s = if seq == 0 then \"a\\tb\" else if seq == 1 then \"l1\\nl2\\r\\n\" else if seq == 2 then \"back\\\\slash \\\\N\" \
    else if seq == 3 then \"quote ' \\\" ,\" else if seq == 4 then \"ünïcødé 🦀 中文\" else if seq == 5 then \"\" \
    else if seq == 6 then \"\\\\.\" else \"  spaces  \"\n\
      f = if seq == 0 then 0.0 / 0.0 else if seq == 1 then 1.0 / 0.0 else if seq == 2 then -1.0 / 0.0 else if seq == 3 then -0.0 else 0.1\n\
      ts = epoch + 1234567ms + seq * 1us\n\
    }\n";

/// The strings of `ODD`, as PostgreSQL's `encode(convert_to(s, 'UTF8'), 'hex')` shows them.
const ODD_STRINGS: [&str; 8] =
    ["a\tb", "l1\nl2\r\n", "back\\slash \\N", "quote ' \" ,", "ünïcødé 🦀 中文", "", "\\.", "  spaces  "];

fn hex(text: &str) -> String {
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn every_type_round_trips_and_odd_strings_are_stored_exactly() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("types");

    // All six types, into a table the sink creates.
    let program = format!("{READINGS}readings | sink postgres(table = \"readings\", create_table = true)\n");
    let output = run(&dir, &pg, "readings.flow", &program, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let columns = pg.psql(
        "select column_name, data_type, is_nullable from information_schema.columns \
         where table_name = 'readings' order by ordinal_position",
    );
    assert_eq!(
        columns,
        "id|bigint|NO\nsensor|bigint|NO\nvalue|double precision|NO\nnote|text|NO\nok|boolean|NO\n\
         ts|timestamp with time zone|NO\nd|interval|NO"
    );
    let rows = pg.psql(
        "select id, sensor, value, note, ok, (extract(epoch from ts) * 1000000)::bigint, \
         (extract(epoch from d) * 1000000)::bigint from readings order by id limit 3",
    );
    assert_eq!(rows, "0|0|0|n0|t|0|0\n1|1|0.25|n1|f|1001|1\n2|2|0.5|n2|t|2002|2");
    let sums = "select count(*), count(distinct id), sum(sensor), sum(value), sum(length(note)), \
                count(*) filter (where ok), sum((extract(epoch from ts) * 1000000)::bigint), \
                sum((extract(epoch from d) * 1000000)::bigint) from readings";
    // seq % 16 over 0..999; value = seq / 4; "n" ++ str(seq) has 1 + digits characters.
    let sensors: u64 = (0..1000u64).map(|seq| seq % 16).sum();
    let note_chars: usize = (0..1000).map(|seq: u32| 1 + seq.to_string().len()).sum();
    assert_eq!(pg.psql(sums), format!("1000|1000|{sensors}|124875|{note_chars}|500|{}|499500", 1001 * 499500));

    // Odd strings and floats, by COPY (insert) and through an upsert's staging table.
    let program = format!(
        "{ODD}odd | sink postgres(table = \"odd_insert\", create_table = true)\n\
         odd | sink postgres(table = \"odd_upsert\", mode = upsert, key = id, create_table = true)\n"
    );
    let output = run(&dir, &pg, "odd.flow", &program, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    for table in ["odd_insert", "odd_upsert"] {
        let stored = pg.psql(&format!(
            "select id, encode(convert_to(s, 'UTF8'), 'hex'), f::text, (extract(epoch from ts) * 1000000)::bigint \
             from {table} order by id"
        ));
        let floats = ["NaN", "Infinity", "-Infinity", "-0", "0.1", "0.1", "0.1", "0.1"];
        let expected: Vec<String> = (0..8)
            .map(|id| format!("{id}|{}|{}|{}", hex(ODD_STRINGS[id]), floats[id], 1_234_567_000 + id as u64))
            .collect();
        assert_eq!(stored, expected.join("\n"), "{table}");
    }
    // The upsert's table got the key as its primary key.
    let key = pg.psql(
        "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) \
         where i.indrelid = 'odd_upsert'::regclass and i.indisprimary",
    );
    assert_eq!(key, "id");

    // An existing table with narrower and extra columns: an int goes into
    // `integer`, an extra nullable column is NULL, a column with a default
    // gets its default.
    pg.psql("create table narrow (id integer not null, value double precision not null, extra text, dflt int not null default 7)");
    let program =
        format!("{READINGS}readings | map {{ id, value }} | sink postgres(table = \"narrow\", batch_size = 300)\n");
    let output = run(&dir, &pg, "narrow.flow", &program, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        pg.psql("select count(*), sum(id), count(extra), min(dflt), max(dflt), sum(value) from narrow"),
        "1000|499500|0|7|7|124875"
    );

    // An upsert by two key columns keeps each key's latest record, also
    // when a batch holds the same key many times.
    let program = "schema R { a: int  b: string  v: int }\n\
        source r: R = generate(count = 1000) { a = seq % 10  b = \"k\" ++ str(seq % 7)  v = seq }\n\
        r | sink postgres(table = \"latest\", mode = upsert, key = \"a, b\", batch_size = 300, create_table = true)\n";
    let output = run(&dir, &pg, "latest.flow", program, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let mut latest = std::collections::BTreeMap::new();
    for seq in 0..1000u64 {
        latest.insert((seq % 10, seq % 7), seq);
    }
    let expected: Vec<String> = latest.iter().map(|((a, b), v)| format!("{a}|k{b}|{v}")).collect();
    assert_eq!(pg.psql("select a, b, v from latest order by a, b"), expected.join("\n"));
}

#[test]
fn a_table_that_does_not_fit_fails_before_any_record_and_a_broken_constraint_mid_run_keeps_the_committed_batches() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("mismatch");
    let head = "schema R { id: int  v: float }\nsource r: R = generate(count = 1000) { id = seq  v = float(seq) }\n";
    let sink = |args: &str| format!("{head}r | sink postgres({args})\n");

    // A missing table, without `create_table`: the diagnostic points at the name.
    let output = run(&dir, &pg, "missing.flow", &sink("table = \"missing\""), &[]);
    assert_mismatch(&output, &["no table `missing`"]);
    assert!(stderr_of(&output).contains("missing.flow:3:27"), "{}", stderr_of(&output));
    assert!(flat(&stderr_of(&output)).contains("create_table = true"), "{}", stderr_of(&output));

    // A record field without a column.
    pg.psql("create table no_v (id bigint)");
    assert_mismatch(&run(&dir, &pg, "no_v.flow", &sink("table = \"no_v\""), &[]), &["no column `v`"]);

    // A float into a boolean column.
    pg.psql("create table bool_v (id bigint, v boolean)");
    let output = run(&dir, &pg, "bool_v.flow", &sink("table = \"bool_v\""), &[]);
    assert_mismatch(&output, &["`v`", "boolean", "float"]);

    // A NOT NULL column without a default that the records lack.
    pg.psql("create table needs_extra (id bigint, v double precision, extra text not null)");
    let output = run(&dir, &pg, "extra.flow", &sink("table = \"needs_extra\""), &[]);
    assert_mismatch(&output, &["`extra`", "NOT NULL"]);

    // An upsert without a unique index on exactly its key columns.
    pg.psql("create table no_key (id bigint, v double precision); create table other_key (id bigint, v double precision, unique (id, v))");
    for table in ["no_key", "other_key"] {
        let output =
            run(&dir, &pg, "upsert.flow", &sink(&format!("table = \"{table}\", mode = upsert, key = id")), &[]);
        assert_mismatch(&output, &["primary key or unique index", "`id`"]);
    }
    for table in ["no_v", "bool_v", "needs_extra", "no_key", "other_key"] {
        assert_eq!(count(&pg, table), 0, "{table} got rows");
    }

    // A CHECK constraint the 251st record breaks: batches of 100 are
    // committed up to it, the failing batch is rolled back whole.
    pg.psql(
        "create table checked (id bigint not null, v double precision not null, check (id < 250)); \
         create table checked_upsert (id bigint primary key, v double precision not null, check (id < 250))",
    );
    for (table, mode) in [("checked", "insert"), ("checked_upsert", "upsert, key = id")] {
        let program = sink(&format!("table = \"{table}\", mode = {mode}, batch_size = 100"));
        let output = run(&dir, &pg, "checked.flow", &program, &[]);
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "{stderr}");
        assert_eq!(codes(&stderr), ["flow::sink_failed"], "{stderr}");
        let message = flat(&stderr);
        assert!(message.contains(&format!("violates check constraint \"{table}_id_check\"")), "{stderr}");
        assert!(message.contains("rolled back"), "{stderr}");
        assert_eq!(committed(&stderr), 200, "{stderr}");
        assert_eq!(pg.psql(&format!("select count(*), min(id), max(id) from {table}")), "200|0|199");
    }
}

/// A job slow enough to stop its server under it: 2,000 records a second
/// for 3 s, in batches of 100.
fn slow_job(table: &str, mode: &str) -> String {
    format!(
        "schema R {{ id: int  v: float }}\n\
         source r: R = generate(count = 6000, rate = 2000/s) {{ id = seq  v = float(seq) / 4.0 }}\n\
         r | sink postgres(table = \"{table}\", mode = {mode}, batch_size = 100, create_table = true)\n"
    )
}

/// Starts `program`, stops the server once the table has rows, and returns
/// the failed run's stderr after checking it has one `flow::sink_failed`
/// and the table holds exactly the batches it says were committed.
fn stop_the_server_mid_run(pg: &mut PgServer, dir: &Path, table: &str, program: &str) -> String {
    std::fs::write(dir.join("slow.flow"), program).unwrap();
    let mut child = flowc(dir, pg).args(["run", "slow.flow"]).spawn().unwrap();
    wait_for_rows(pg, table, &mut child);
    pg.stop_immediate();
    let output = child.wait_with_output().unwrap();
    pg.start_again();
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "the run outlived its server:\n{stderr}");
    assert_eq!(codes(&stderr), ["flow::sink_failed"], "{stderr}");
    let message = flat(&stderr);
    let said = committed(&stderr);
    let rows = count(pg, table);
    assert!(said > 0 && said < 6000 && said % 100 == 0, "{said} committed:\n{stderr}");
    if message.contains("rolled back") {
        assert_eq!(rows, said, "the table does not hold what the message says was committed:\n{stderr}");
    } else {
        // The connection was lost during the commit: the batch may be in.
        assert!(message.contains("unknown"), "{stderr}");
        assert!(rows == said || rows == said + 100, "{rows} rows, {said} said committed:\n{stderr}");
    }
    assert_eq!(rows % 100, 0, "half a batch in `{table}`");
    eprintln!("{table}: the server stopped after {rows} rows; the message said {said} were committed");
    // Committed batches are the first ones, whole.
    let max: u64 = pg.psql(&format!("select coalesce(max(id) + 1, 0) from {table}")).parse().unwrap();
    assert_eq!(max, rows);
    stderr
}

#[test]
fn a_server_stopped_mid_run_leaves_the_committed_batches_and_an_upsert_rerun_repairs_the_table() {
    let Some(mut pg) = PgServer::start() else { return };
    let dir = scratch("stopped");

    stop_the_server_mid_run(&mut pg, &dir, "appended", &slow_job("appended", "insert"));

    let program = slow_job("upserted", "upsert, key = id");
    stop_the_server_mid_run(&mut pg, &dir, "upserted", &program);
    // The same job again, to the end (without the rate, to save time):
    // the table is as one successful run leaves it.
    let output = run(&dir, &pg, "slow.flow", &program, &["--unthrottled"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        pg.psql("select count(*), count(distinct id), min(id), max(id), sum(v), bool_and(v = id / 4.0) from upserted"),
        format!("6000|6000|0|5999|{}|t", 5999 * 6000 / 8)
    );
}

#[test]
fn ctrl_c_commits_the_batch_in_flight() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("ctrl-c");
    // No batch fills nor times out before Ctrl-C: every row in the table
    // was committed on the way out.
    let program = "schema R { id: int  v: float }\n\
        source r: R = generate(rate = 5k/s) { id = seq  v = float(seq) }\n\
        r | filter id % 10 != 3 | sink postgres(table = \"endless\", batch_size = 1_000_000, flush_interval = 60s, create_table = true)\n";
    std::fs::write(dir.join("endless.flow"), program).unwrap();
    let child = flowc(&dir, &pg).args(["run", "endless.flow"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let before = pg.try_psql("select count(*) from endless");
    assert!(before.as_deref().is_err() || before.as_deref() == Ok("0"), "rows before Ctrl-C: {before:?}");
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("stopped by Ctrl-C"), "{stderr}");
    let out = summary_out(&stderr);
    assert!(out > 0, "{stderr}");
    // Every record the sink got is there, once, with no gap: ids up to the
    // last are all there but those the filter dropped.
    let rows = pg.psql("select count(*), count(distinct id), max(id) from endless");
    let max: u64 = rows.rsplit('|').next().unwrap().parse().unwrap();
    let kept = (0..=max).filter(|id| id % 10 != 3).count() as u64;
    assert_eq!(rows, format!("{out}|{out}|{max}"), "{stderr}");
    assert_eq!(kept, out, "ids are missing");
}

#[path = "postgres/lookup.rs"]
mod lookup;

#[path = "postgres/report.rs"]
mod report;
