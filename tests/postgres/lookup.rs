//! Lookup tables in PostgreSQL: `lookup` and `lookup left` give the
//! expected join, with the cache and with `cache = 0`, and the report
//! holds each lookup's database totals; `@async` overlaps the queries and
//! gives the same records; a missing table, a column of the
//! wrong type and a NULL in a row fail the run with the column named.

use super::*;

/// Ten customers, 0 to 9, of every type a field reads; the orders ask for
/// customers 0 to 11, so 10 and 11 have no row.
const CUSTOMERS: &str = "create table customers (id bigint primary key, name text not null, tier integer not null, \
    credit double precision not null, since timestamptz not null, vip boolean not null, note text); \
    insert into customers select g, 'c' || g, g % 3, g * 1.5, to_timestamp(g) + g * interval '1 microsecond', \
    g % 2 = 0, null from generate_series(0, 9) g";

const ORDERS: usize = 20_000;

fn program(table: &str, cache: &str, left: &str) -> String {
    format!(
        "schema Customer {{ id: int  name: string  tier: int  credit: float  since: timestamp  vip: bool }}\n\
         schema Order {{ oid: int  customer_id: int  amount: float }}\n\
         table customers: Customer = postgres(table = \"{table}\"{cache}) key_by id\n\
         source orders: Order = generate(count = {ORDERS}) {{ oid = seq  customer_id = seq % 12  amount = float(seq) / 2.0 }}\n\
         orders | lookup {left}customers by customer_id | sink print\n"
    )
}

/// The printed line of order `oid` joined with its customer, or with the
/// zero values (`lookup left`) where there is none.
fn expected_line(oid: usize, left: bool) -> Option<String> {
    let id = oid % 12;
    let order = format!("oid={oid} customer_id={id} amount={:?}", oid as f64 / 2.0);
    let customer = match id {
        0 => "id=0 name=c0 tier=0 credit=0.0 since=1970-01-01T00:00:00Z vip=true".to_string(),
        1..=9 => format!(
            "id={id} name=c{id} tier={} credit={:?} since=1970-01-01T00:00:0{id}.00000{id}Z vip={}",
            id % 3,
            id as f64 * 1.5,
            id % 2 == 0
        ),
        _ if left => "id=0 name=\"\" tier=0 credit=0.0 since=1970-01-01T00:00:00Z vip=false".to_string(),
        _ => return None,
    };
    Some(match left {
        true => format!("{order} {customer} matched={}", id < 10),
        false => format!("{order} {customer}"),
    })
}

/// The lookup operator's `database` object in the report.
fn lookup_totals(report: &serde_json::Value) -> serde_json::Value {
    let operators = report["tasks"].as_array().unwrap().iter().flat_map(|task| task["operators"].as_array().unwrap());
    let lookups: Vec<_> = operators.filter(|operator| operator["name"] == "LookupJoin").collect();
    assert_eq!(lookups.len(), 1, "{report}");
    lookups[0]["database"].clone()
}

#[test]
fn lookups_enrich_records_with_and_without_the_cache() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("lookup");
    pg.psql(CUSTOMERS);

    for (cache, left) in [("", false), ("", true), (", cache = 0", true), (", cache = 0", false)] {
        let shown = format!("cache{cache:?}, left {left}");
        let output = run(
            &dir,
            &pg,
            "lookup.flow",
            &program("customers", cache, if left { "left " } else { "" }),
            &["--report", "report.json"],
        );
        assert!(output.status.success(), "{shown}: {}", stderr_of(&output));
        let printed = stdout_of(&output);
        let expected: Vec<String> = (0..ORDERS).filter_map(|oid| expected_line(oid, left)).collect();
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{shown}");
        for (line, expected) in lines.iter().zip(&expected) {
            assert_eq!(line, expected, "{shown}");
        }

        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        let db = lookup_totals(&report);
        let number = |name: &str| db[name].as_u64().unwrap_or_else(|| panic!("{shown}: no `{name}` in {db}"));
        assert_eq!(number("lookups"), ORDERS as u64, "{shown}: {db}");
        assert!(number("queries") > 0, "{shown}: {db}");
        assert_eq!(number("transactions"), 0, "{shown}: {db}");
        if cache.is_empty() {
            // Twelve keys, a cache of thousands: each key is asked for once.
            assert_eq!(number("keys_queried"), 12, "{shown}: {db}");
            assert!(number("queries") <= 12, "{shown}: {db}");
            // A key asked for again in its own batch is found with it; in
            // a later batch, in the cache.
            let hits = number("cache_hits");
            assert!(hits > 0 && hits <= ORDERS as u64 - 12, "{shown}: {db}");
        } else {
            // No cache: the keys are asked for again batch after batch.
            assert!(number("queries") >= 2, "{shown}: {db}");
            assert!(number("keys_queried") >= 24, "{shown}: {db}");
            assert_eq!(number("cache_hits"), 0, "{shown}: {db}");
        }
    }
}

#[test]
fn a_lookup_table_that_does_not_fit_or_holds_a_null_fails_the_run() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("lookup-misfit");
    pg.psql(CUSTOMERS);

    let output = run(&dir, &pg, "missing.flow", &program("nobody", "", ""), &[]);
    assert_mismatch(&output, &["no table `nobody`"]);
    assert!(stderr_of(&output).contains("missing.flow:3:46"), "{}", stderr_of(&output));
    assert!(stdout_of(&output).is_empty());

    // The schema says int, the column is text.
    pg.psql("create table text_tier as select id, name, tier::text as tier, credit, since, vip from customers");
    let output = run(&dir, &pg, "text.flow", &program("text_tier", "", ""), &[]);
    assert_mismatch(&output, &["`tier`", "text", "int"]);
    assert!(stdout_of(&output).is_empty());

    // A column the schema lacks may be NULL (`note`); one it reads may not.
    pg.psql("alter table customers alter column name drop not null; update customers set name = null where id = 7");
    let output = run(&dir, &pg, "null.flow", &program("customers", "", "left "), &[]);
    let stderr = stderr_of(&output);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(codes(&stderr), ["flow::bad_table"], "{stderr}");
    let message = flat(&stderr);
    assert!(message.contains("the column `name` of `customers` is NULL"), "{stderr}");
    assert!(message.contains("`id` is 7"), "{stderr}");
}

/// `@async` on a lookup of a table behind a slow view: the same records as
/// without it, in input order, a window after it firing the same windows
/// (the watermark waits for the batches in flight), and queries that
/// overlap; `@async` on a file table is refused at `check`.
#[test]
fn an_async_lookup_gives_the_same_records_and_overlaps_its_queries() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("lookup-async");
    pg.psql(CUSTOMERS);
    // Each query scans the ten rows at 2 ms a row.
    pg.psql("create view slow_customers as select * from customers where pg_sleep(0.002) is not null");
    let program = |attribute: &str, then: &str| {
        format!(
            "schema Customer {{ id: int  name: string  tier: int }}\n\
             schema Order {{ oid: int  customer_id: int  ts: timestamp }}\n\
             table customers: Customer = postgres(table = \"slow_customers\", cache = 0) key_by id\n\
             source orders: Order = generate(count = 3000, rate = 3000/s) {{ oid = seq  customer_id = seq % 12  ts = epoch + seq * 1ms }} @watermark(delay = 0s)\n\
             orders | lookup customers by customer_id {attribute} {then} | sink print\n"
        )
    };
    let windowed = "| key_by tier | window tumbling(100ms) on ts { n = count(), last = max(oid) }";
    for then in ["", windowed] {
        let blocking = run(&dir, &pg, "blocking.flow", &program("", then), &[]);
        assert!(blocking.status.success(), "{}", stderr_of(&blocking));
        let overlapped =
            run(&dir, &pg, "async.flow", &program("@async(capacity = 8)", then), &["--report", "report.json"]);
        assert!(overlapped.status.success(), "{}", stderr_of(&overlapped));
        let mut expected: Vec<String> = stdout_of(&blocking).lines().map(str::to_string).collect();
        let mut got: Vec<String> = stdout_of(&overlapped).lines().map(str::to_string).collect();
        assert!(!expected.is_empty());
        if then.is_empty() {
            // One subtask, batches in input order: the very same lines.
            assert_eq!(got, expected);
        } else {
            // Windows of several keys fire in no fixed order between keys.
            expected.sort();
            got.sort();
            assert_eq!(got, expected, "a window after the lookup lost or moved records");
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        let operators =
            report["tasks"].as_array().unwrap().iter().flat_map(|task| task["operators"].as_array().unwrap());
        let lookup = operators.into_iter().find(|operator| operator["name"] == "LookupJoin").unwrap().clone();
        assert_eq!(lookup["async_capacity"], 8, "{lookup}");
        assert!(lookup["in_flight_peak"].as_u64().unwrap_or(0) >= 2, "the queries never overlapped: {lookup}");
        assert!(lookup["database"]["queries"].as_u64().unwrap() >= 2, "{lookup}");
    }

    let file_table = "schema C { id: int }\nschema O { oid: int }\ntable cs: C = file(\"c.csv\") key_by id\n\
                      source os: O = generate(count = 1) { oid = seq }\nos | lookup cs by oid @async(capacity = 4) | sink print\n";
    std::fs::write(dir.join("c.csv"), "id\n0\n").unwrap();
    let output = run(&dir, &pg, "file.flow", file_table, &[]);
    assert!(!output.status.success());
    assert_eq!(codes(&stderr_of(&output)), ["flow::attribute_not_allowed"], "{}", stderr_of(&output));
}
