//! The backpressure report on `examples/postgres_sink.flow` (row-by-row
//! commits): the sink is I/O-bound with its time in the database as
//! evidence, the advice is a larger `batch_size`, and the advised size
//! delivers far more rows a second; and the Flink SQL export of a
//! Postgres sink, a JDBC table.

use super::*;

/// Runs `file` with `--explain-backpressure=json` for about 2.5 s, then
/// Ctrl-C; returns the report and stderr.
fn report_of_a_stretch(dir: &Path, pg: &PgServer, file: &str) -> (serde_json::Value, String) {
    let child = flowc(dir, pg).args(["run", file, "--explain-backpressure=json"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    let report = serde_json::from_str(&stdout_of(&output)).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(&output)));
    (report, stderr)
}

/// The sink's operator in the report: rows it wrote, and its rate over the run.
fn sink_rate(report: &serde_json::Value) -> (u64, f64) {
    let operators = report["tasks"].as_array().unwrap().iter().flat_map(|task| task["operators"].as_array().unwrap());
    let sink = operators.into_iter().find(|operator| operator["name"] == "Sink: postgres").expect("the sink");
    let rows = sink["records_out"].as_u64().unwrap();
    (rows, rows as f64 / (report["duration_ms"].as_f64().unwrap() / 1000.0))
}

#[test]
fn row_by_row_commits_are_io_bound_and_the_advised_batch_size_speeds_them_up() {
    let Some(pg) = PgServer::start() else { return };
    let dir = scratch("report");
    // The example as shipped runs 20,000 records (half a minute or more on a
    // slow disk); here its unbounded form runs a few seconds, until Ctrl-C.
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/postgres_sink.flow")).unwrap();
    assert!(example.contains("generate(rate = 20k/s, count = 20_000)") && example.contains("batch_size = 1,"));
    let first = example.replace(", count = 20_000", "");
    std::fs::write(dir.join("postgres_sink.flow"), &first).unwrap();

    let (report, stderr) = report_of_a_stretch(&dir, &pg, "postgres_sink.flow");
    let shown = serde_json::to_string_pretty(&report["verdict"]).unwrap();
    assert_eq!(report["verdict"]["cause"], "io_bound", "{shown}\n{stderr}");
    let operator = report["bottleneck"]["operator_name"].as_str().unwrap_or_default();
    assert!(operator.starts_with("Sink: postgres"), "{}", report["bottleneck"]);
    let evidence = report["verdict"]["evidence"].as_array().unwrap();
    let database = evidence.iter().find(|fact| fact["kind"] == "database").unwrap_or_else(|| panic!("{shown}"));
    assert!(database["operator_name"].as_str().unwrap().starts_with("Sink: postgres"), "{shown}");
    assert!(database["totals"]["transactions"].as_u64().unwrap() > 0, "{shown}");
    // Row by row: a transaction per row.
    assert_eq!(database["totals"]["transactions"], database["totals"]["rows_written"], "{shown}");
    let advice = report["advice"].as_array().unwrap();
    let batch = advice
        .iter()
        .filter_map(|advice| advice["change"].as_str()?.strip_prefix("batch_size = "))
        .next()
        .unwrap_or_else(|| panic!("no batch_size advice: {}", report["advice"]));
    let batch: u64 = batch.parse().unwrap_or_else(|_| panic!("batch_size = {batch}"));
    assert!(batch > 1, "{}", report["advice"]);
    // Ctrl-C committed what was in flight: the table holds every row the sink wrote.
    let (rows, slow) = sink_rate(&report);
    assert!(rows > 0);
    assert_eq!(count(&pg, "readings"), rows);

    // The advice applied: many rows a transaction.
    let second = first.replace("batch_size = 1,", &format!("batch_size = {batch},"));
    std::fs::write(dir.join("postgres_sink.flow"), &second).unwrap();
    let (report, stderr) = report_of_a_stretch(&dir, &pg, "postgres_sink.flow");
    let (_, fast) = sink_rate(&report);
    eprintln!("{slow:.0} rows/s with batch_size = 1, {fast:.0} with {batch}");
    assert!(fast >= 3.0 * slow, "{slow:.0} rows/s with batch_size = 1, {fast:.0} with {batch}\n{stderr}");
}

#[test]
fn the_flink_export_of_a_postgres_sink_is_a_jdbc_table() {
    // No server: the export does not connect.
    let dir = scratch("export");
    let export = |name: &str, sink: &str| {
        let program = format!(
            "schema R {{ id: int  v: float }}\nsource r: R = generate(count = 10) {{ id = seq  v = float(seq) }}\nr | sink postgres({sink})\n"
        );
        std::fs::write(dir.join(name), program).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(["export", "--target", "flink-sql", name])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        stdout_of(&output)
    };
    let upsert = export(
        "upsert.flow",
        "table = \"events\", mode = upsert, key = id, batch_size = 250, url = \"postgres://bob@db.example:6543/shop\"",
    );
    for expected in [
        "'connector' = 'jdbc'",
        "'url' = 'jdbc:postgresql://db.example:6543/shop'",
        "'table-name' = 'events'",
        "'username' = 'bob'",
        "'sink.buffer-flush.max-rows' = '250'",
        "PRIMARY KEY (`id`) NOT ENFORCED",
    ] {
        assert!(upsert.contains(expected), "no {expected} in:\n{upsert}");
    }
    let insert = export("insert.flow", "table = \"public.events\"");
    for expected in ["'connector' = 'jdbc'", "'url' = 'jdbc:postgresql://", "'table-name' = 'public.events'"] {
        assert!(insert.contains(expected), "no {expected} in:\n{insert}");
    }
    assert!(!insert.contains("PRIMARY KEY"), "{insert}");
}
