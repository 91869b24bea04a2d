//! What the Nexmark referee (`tests/nexmark.rs`) and the Nexmark bench
//! (`benches/nexmark.rs`) share: the queries' programs turned to read the
//! data set's files, the data set's size, and the Nexmark SQL scripts.

#![allow(dead_code)] // each user takes its own part

use std::fs;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The queries' programs, `examples/nexmark/qN.flow`, by number.
pub fn query_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("examples/nexmark"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "flow"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    names.sort_by_key(|name| name.trim_start_matches('q').parse::<u32>().unwrap_or(u32::MAX));
    names
}

/// Each `nexmark(…)` call of a program, with `edit` applied to its arguments.
fn each_nexmark_call(text: &str, mut edit: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("nexmark(") {
        let end = at + rest[at..].find(')').expect("a nexmark source's arguments end");
        out.push_str(&rest[..at]);
        out.push_str(&edit(&rest[at + "nexmark(".len()..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A named argument's value in a call's arguments.
fn argument<'a>(arguments: &'a str, name: &str) -> Option<&'a str> {
    arguments.split(',').find_map(|argument| {
        let (key, value) = argument.split_once('=')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// The program with its `nexmark(… kind = k …)` sources reading
/// `data/k.jsonl` instead (the files `tests/nexmark/generate.flow` writes).
pub fn from_files(text: &str, data: &Path) -> String {
    each_nexmark_call(text, |arguments| {
        let kind = argument(arguments, "kind").expect("a nexmark source names its kind");
        format!("file({:?})", data.join(format!("{kind}.jsonl")).display().to_string())
    })
}

/// The kinds of events a program's `nexmark(…)` sources read.
pub fn kinds_read(text: &str) -> Vec<String> {
    let mut kinds = Vec::new();
    each_nexmark_call(text, |arguments| {
        kinds.extend(argument(arguments, "kind").map(str::to_string));
        String::new()
    });
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The program with each `nexmark(…)` source making `events` events.
pub fn with_events(text: &str, events: u64) -> String {
    each_nexmark_call(text, |arguments| {
        let old = argument(arguments, "events").expect("a nexmark source says how many events");
        format!("nexmark({})", arguments.replacen(old, &events.to_string(), 1))
    })
}

/// The Nexmark SQL of a query over the data set in `data`
/// (`tests/nexmark/tables.sql`, then `queries/qN.sql`), its sink `print`
/// or, for the bench, `blackhole`.
pub fn nexmark_sql(name: &str, data: &Path, sink: &str) -> String {
    let read = |path: &str| fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let tables = read("tests/nexmark/tables.sql");
    let query = read(&format!("tests/nexmark/queries/{name}.sql"));
    format!("{tables}\n{query}")
        .replace("${DATA}", &data.display().to_string())
        .replace("${SIDE_INPUT}", &root().join("examples/nexmark/data/side_input.txt").display().to_string())
        .replace("'connector' = 'print'", &format!("'connector' = '{sink}'"))
}

/// The Nexmark SQL of several queries as one job: the tables, each query's
/// sink (a `print` sink named after the query), and their INSERTs in one
/// statement set, so that Flink plans and starts them once.
pub fn nexmark_sql_set(names: &[&str], data: &Path) -> String {
    let mut creates = Vec::new();
    let mut inserts = Vec::new();
    for name in names {
        let sql = fs::read_to_string(root().join(format!("tests/nexmark/queries/{name}.sql")))
            .unwrap_or_else(|e| panic!("{name}.sql: {e}"));
        for statement in sql.split(";\n") {
            let code: Vec<&str> = statement.lines().filter(|line| !line.trim_start().starts_with("--")).collect();
            let code = code.join("\n");
            let code = code.trim();
            if code.is_empty() {
                continue;
            }
            let code = code
                .trim_end_matches(';')
                .replace("'connector' = 'print'", &format!("'connector' = 'print', 'print-identifier' = '{name}'"));
            if code.starts_with("INSERT") {
                inserts.push(code);
            } else {
                creates.push(code);
            }
        }
    }
    let tables = fs::read_to_string(root().join("tests/nexmark/tables.sql")).unwrap();
    format!("{tables}\n{};\n\nEXECUTE STATEMENT SET\nBEGIN\n{};\nEND;\n", creates.join(";\n\n"), inserts.join(";\n"))
        .replace("${DATA}", &data.display().to_string())
        .replace("${SIDE_INPUT}", &root().join("examples/nexmark/data/side_input.txt").display().to_string())
}
