//! The Nexmark queries, refereed by Apache Flink: flowc writes a small
//! Nexmark data set to files (`tests/nexmark/generate.flow`), and every
//! query of `examples/nexmark/` runs three ways on those files:
//!
//! - with `flowc run`, its `nexmark(…)` sources read from the files, at
//!   parallelism 1 and 2;
//! - as the Nexmark query's own Flink SQL (`tests/nexmark/queries/`, over
//!   the tables of `tests/nexmark/tables.sql`) on PyFlink's MiniCluster;
//! - exported by `flowc export --target flink-sql`, on the same cluster.
//!
//! All three must hold the same records, compared as multisets; a query
//! whose result Flink updates (a running aggregate, a top-N) is compared
//! by its final value per upsert key. `tests/nexmark/README.md` lists what
//! the Flink SQL changes from the official queries, and why the queries
//! missing here are missing.
//!
//! Like `tests/flink.rs`, it needs `FLOWC_FLINK_PYTHON` (a Python with
//! `apache-flink` 2.3); without it the test is ignored, with the reason,
//! unless `FLOWC_REQUIRE_FLINK` is set.

#[path = "common/flink.rs"]
mod flink;
#[path = "common/nexmark.rs"]
mod nexmark;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flink::{compare, final_rows, flink_rows, print_identifiers, read_jsonl, run_on_flink, with_sinks, Row};
use flowc::check::check_source;
use flowc::check::types::Type;
use flowc::export::{flink_sql, Options};
use nexmark::{from_files, nexmark_sql_set, query_names, root};

/// A query of `examples/nexmark/` and how it is compared.
struct Query {
    name: &'static str,
    /// The columns of the sink's upsert key when Flink's result is a
    /// changelog (compared by final value per key); `None`: insert-only.
    key: Option<&'static [usize]>,
    /// Why `flowc export` refuses it, when it does: a word the refusal holds.
    refused: Option<&'static str>,
}

const QUERIES: &[Query] = &[
    Query { name: "q0", key: None, refused: None },
    Query { name: "q1", key: None, refused: None },
    Query { name: "q2", key: None, refused: None },
    Query { name: "q3", key: None, refused: None },
    Query { name: "q4", key: Some(&[0]), refused: Some("not an event-time attribute") },
    Query { name: "q5", key: None, refused: Some("not an event-time attribute") },
    Query { name: "q7", key: None, refused: Some("not an event-time attribute") },
    Query { name: "q8", key: None, refused: None },
    Query { name: "q9", key: Some(&[0]), refused: None },
    Query { name: "q10", key: None, refused: None },
    Query { name: "q11", key: None, refused: None },
    Query { name: "q13", key: None, refused: None },
    Query { name: "q14", key: None, refused: None },
    Query { name: "q15", key: Some(&[0]), refused: None },
    Query { name: "q16", key: Some(&[0, 1]), refused: None },
    Query { name: "q17", key: Some(&[0, 1]), refused: None },
    Query { name: "q18", key: Some(&[0, 1]), refused: None },
    Query { name: "q19", key: Some(&[0, 7]), refused: None },
    Query { name: "q20", key: None, refused: None },
    Query { name: "q21", key: None, refused: None },
    Query { name: "q22", key: None, refused: None },
];

/// Nexmark queries with no program in `examples/nexmark/`, and why.
const NOT_EXPRESSED: &[(&str, &str)] = &[
    ("q6", "an OVER window over a changelog, which Flink SQL does not run either"),
    ("q12", "processing-time windows: their contents depend on timing"),
];

/// Writes the data set into `data` and checks what the comparison relies
/// on: times in whole milliseconds (Flink's `TIMESTAMP(3)`), and no string
/// holding `, ` (Flink's print lines are cut there).
fn generate(data: &Path) {
    fs::create_dir_all(data).unwrap();
    let program = root().join("tests/nexmark/generate.flow");
    let run = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["run", "-q", "-"])
        .stdin(fs::File::open(&program).unwrap())
        .current_dir(data)
        .output()
        .unwrap();
    assert!(run.status.success(), "generate.flow failed: {}", String::from_utf8_lossy(&run.stderr));
    for kind in ["person", "auction", "bid"] {
        let text = fs::read_to_string(data.join(format!("{kind}.jsonl"))).unwrap();
        assert!(text.lines().count() > 100, "few {kind} events");
        for line in text.lines() {
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
            for (name, value) in &object {
                let Some(text) = value.as_str() else { continue };
                assert!(!text.contains(", "), "{kind}.{name} holds `, `: {line}");
                if let Some(ms) = object.get(&format!("{name}_ms")) {
                    let nanos = flowc::runtime::read::parse_timestamp(text).unwrap();
                    assert_eq!(Some(nanos), ms.as_i64().map(|ms| ms * 1_000_000), "{kind}.{name}: {line}");
                }
            }
        }
    }
}

/// A query run by flowc and prepared for Flink.
struct Prepared {
    name: &'static str,
    key: Option<&'static [usize]>,
    types: Vec<Type>,
    /// flowc's records at parallelism 1 and 2.
    flowc: Vec<(usize, Vec<Row>)>,
    /// The exported script, or why the export refused.
    export: Result<PathBuf, String>,
}

fn prepare(query: &Query, data: &Path, dir: &Path) -> Result<Prepared, String> {
    let folder = root().join("examples/nexmark");
    let text = fs::read_to_string(folder.join(format!("{}.flow", query.name))).map_err(|e| e.to_string())?;
    let text = from_files(&text, data);
    let checked = check_source(&text);
    let program = checked.program.ok_or_else(|| format!("does not check: {:?}", checked.diagnostics))?;
    let [pipeline] = &program.pipelines[..] else { return Err("more than one sink".to_string()) };
    let names: Vec<String> = pipeline.sink.input.fields().iter().map(|field| field.name.clone()).collect();
    let types: Vec<Type> = pipeline.sink.input.fields().iter().map(|field| field.ty).collect();

    let mut flowc = Vec::new();
    for parallelism in [1, 2] {
        let out = dir.join(format!("{}_flowc_{parallelism}.jsonl", query.name));
        let flowc_text = with_sinks(&text, &program, |_| format!("sink file({:?})", out.display().to_string()));
        let flowc_file = dir.join(format!("{}.flow", query.name));
        fs::write(&flowc_file, &flowc_text).map_err(|e| e.to_string())?;
        // Read from standard input, the side input's path starts from the current folder.
        let run = Command::new(env!("CARGO_BIN_EXE_flowc"))
            .args(["run", "-q", "--set", &format!("parallelism={parallelism}"), "-"])
            .stdin(fs::File::open(&flowc_file).map_err(|e| e.to_string())?)
            .current_dir(&folder)
            .output()
            .map_err(|e| e.to_string())?;
        if !run.status.success() {
            return Err(format!("flowc run failed: {}", String::from_utf8_lossy(&run.stderr)));
        }
        flowc.push((parallelism, read_jsonl(&out, &names, &types)?));
    }

    let print_text = with_sinks(&text, &program, |_| "sink print".to_string());
    let mut print_program = check_source(&print_text).program.ok_or("the print version does not check")?;
    print_program.resolve_paths(&folder);
    let export = match flink_sql(&print_program, query.name, &print_text, Options { drop_simulation: false }) {
        Ok(sql) => {
            let file = dir.join(format!("{}_export.sql", query.name));
            fs::write(&file, sql).map_err(|e| e.to_string())?;
            Ok(file)
        }
        Err(diagnostics) => Err(diagnostics.iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("; ")),
    };

    Ok(Prepared { name: query.name, key: query.key, types, flowc, export })
}

/// flowc's records at each parallelism against one of Flink's tables.
fn judge(query: &Prepared, how: &str, flink: Result<Vec<Row>, String>, failures: &mut Vec<String>) {
    let flink = match flink {
        Ok(rows) => rows,
        Err(error) => return failures.push(format!("{} ({how}): {error}", query.name)),
    };
    for (parallelism, rows) in &query.flowc {
        let expected = final_rows(rows, query.key);
        if expected.is_empty() {
            failures.push(format!("{}: flowc wrote nothing, so the comparison proves nothing", query.name));
        }
        if let Err(error) = compare(expected, flink.clone()) {
            failures.push(format!("{} at parallelism {parallelism} against {how}: {error}", query.name));
        }
    }
}

#[test]
fn every_nexmark_query_is_listed_once() {
    let mut programs = query_names();
    programs.sort();
    let mut listed: Vec<String> = QUERIES.iter().map(|query| query.name.to_string()).collect();
    listed.sort();
    assert_eq!(programs, listed, "examples/nexmark/ and QUERIES differ");
    for query in QUERIES {
        assert!(root().join(format!("tests/nexmark/queries/{}.sql", query.name)).exists(), "{} has no SQL", query.name);
        assert!(!NOT_EXPRESSED.iter().any(|(name, _)| *name == query.name), "{} is both", query.name);
    }
}

#[test]
#[cfg_attr(not(flowc_flink), ignore = "needs PyFlink: set FLOWC_FLINK_PYTHON to a Python with apache-flink 2.3")]
fn nexmark_queries_give_what_flink_gives() {
    let python =
        std::env::var_os("FLOWC_FLINK_PYTHON").expect("FLOWC_REQUIRE_FLINK is set but FLOWC_FLINK_PYTHON is not");
    let dir = std::env::temp_dir().join(format!("flowc-nexmark-{}", std::process::id()));
    let data = dir.join("data");
    generate(&data);

    let mut failures = Vec::new();
    let mut prepared = Vec::new();
    for query in QUERIES {
        match prepare(query, &data, &dir) {
            Ok(query) => prepared.push(query),
            Err(error) => failures.push(format!("{}: {error}", query.name)),
        }
    }
    // The Nexmark SQL of every query as one job; each export as its own.
    let official = dir.join("nexmark.sql");
    let names: Vec<&str> = prepared.iter().map(|query| query.name).collect();
    fs::write(&official, nexmark_sql_set(&names, &data)).unwrap();
    let mut jobs = vec![("nexmark".to_string(), official)];
    for query in &prepared {
        let expected = QUERIES.iter().find(|q| q.name == query.name).unwrap();
        match (&query.export, expected.refused) {
            (Ok(sql), None) => jobs.push((format!("{}_export", query.name), sql.clone())),
            (Err(why), Some(word)) if why.contains(word) => {}
            (Ok(_), Some(_)) => failures.push(format!("{}: exports now; run it on Flink (QUERIES)", query.name)),
            (Err(why), _) => failures.push(format!("{}: the export refuses: {why}", query.name)),
        }
    }
    let mut results = run_on_flink(Path::new(&python), &jobs).into_iter();
    let types: Vec<Vec<Type>> = prepared.iter().map(|query| query.types.clone()).collect();
    let keys: Vec<Option<Vec<usize>>> = prepared.iter().map(|query| query.key.map(<[usize]>::to_vec)).collect();
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    match results.next().unwrap() {
        Ok(lines) => {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            match flink_rows(&lines, &types, &keys, &names) {
                Ok(tables) => {
                    for (query, table) in prepared.iter().zip(tables) {
                        judge(query, "the Nexmark SQL", Ok(table), &mut failures);
                    }
                }
                Err(error) => failures.push(format!("the Nexmark SQL: {error}")),
            }
        }
        Err(error) => failures.push(format!("the Nexmark SQL: {error}")),
    }
    for ((name, sql), result) in jobs[1..].iter().zip(results) {
        let query = prepared.iter().find(|query| name == &format!("{}_export", query.name)).unwrap();
        let table = result.and_then(|lines| {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let sinks = print_identifiers(&fs::read_to_string(sql).unwrap());
            let key = [query.key.map(<[usize]>::to_vec)];
            flink_rows(&lines, std::slice::from_ref(&query.types), &key, &sinks).map(|mut tables| tables.remove(0))
        });
        judge(query, "the export", table, &mut failures);
    }
    if failures.is_empty() {
        let _ = fs::remove_dir_all(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} differences (files in {}):\n{}",
        failures.len(),
        dir.display(),
        failures.join("\n\n")
    );
    eprintln!("{} Nexmark queries gave Flink's records ({} Flink jobs)", prepared.len(), jobs.len());
}
