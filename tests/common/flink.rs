//! What the tests that referee flowc with Apache Flink share
//! (`tests/flink.rs`, `tests/nexmark.rs`): values read back from both
//! engines' outputs, Flink's `print` changelog applied, flowc's upserts
//! reduced to their final value per key, multiset comparison, sinks
//! swapped in a program's text, and the PyFlink runner.
//!
//! Records are compared as multisets, since neither engine orders records
//! across subtasks. Floats agree to 1e-9, relatively: a sum over subtasks
//! adds in another order.

#![allow(dead_code)] // each test uses its own part

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flowc::check::types::Type;

/// A value, as both engines' outputs are read back.
#[derive(Debug, Clone)]
pub enum Cell {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// Milliseconds since the epoch.
    Time(i64),
}

impl Cell {
    pub fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Float(a), Cell::Float(b)) => a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
            (a, b) => a.sort_key() == b.sort_key(),
        }
    }

    pub fn sort_key(&self) -> String {
        match self {
            Cell::Int(n) => format!("i{n:+021}"),
            Cell::Float(x) => format!("f{x:.6e}"),
            Cell::Bool(b) => format!("b{b}"),
            Cell::Str(s) => format!("s{s}"),
            Cell::Time(ms) => format!("t{ms:+021}"),
        }
    }
}

pub type Row = Vec<Cell>;

/// A timestamp as ms since the epoch: RFC 3339 (`2026-01-15T09:00:13.5Z`,
/// flowc and Flink's `TIMESTAMP_LTZ`), or Flink's `TIMESTAMP(3)`, a
/// `LocalDateTime` read as UTC, which leaves out zero seconds
/// (`2015-07-15T00:00`).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let mut rfc3339 = text.to_string();
    let has_zone = text.ends_with(['Z', 'z']) || text.get(19..).is_some_and(|rest| rest.contains(['+', '-']));
    if !has_zone {
        if text.len() == 16 {
            rfc3339.push_str(":00");
        }
        rfc3339.push('Z');
    }
    flowc::runtime::read::parse_timestamp(&rfc3339)
        .map(|nanos| nanos / 1_000_000)
        .ok_or_else(|| format!("not a timestamp: {text:?}"))
}

pub fn cell_from_text(text: &str, ty: Type) -> Result<Cell, String> {
    let bad = || format!("not {ty:?}: {text:?}");
    Ok(match ty {
        Type::Int => Cell::Int(text.parse().map_err(|_| bad())?),
        Type::Float => Cell::Float(text.parse().map_err(|_| bad())?),
        Type::Bool => Cell::Bool(text.parse().map_err(|_| bad())?),
        Type::String => Cell::Str(text.to_string()),
        Type::Timestamp => Cell::Time(parse_time(text)?),
        Type::Duration => return Err("durations do not export".to_string()),
    })
}

pub fn cell_from_json(value: &serde_json::Value, ty: Type) -> Result<Cell, String> {
    match (value, ty) {
        (serde_json::Value::String(s), Type::String | Type::Timestamp) => cell_from_text(s, ty),
        (value, _) => cell_from_text(&value.to_string(), ty),
    }
}

/// The rows of a jsonl file flowc wrote, each member read by name and type.
pub fn read_jsonl(path: &Path, names: &[String], types: &[Type]) -> Result<Vec<Row>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for line in text.lines() {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| e.to_string())?;
        let row: Result<Row, String> = names
            .iter()
            .zip(types)
            .map(|(name, ty)| cell_from_json(object.get(name).ok_or(format!("no `{name}` in {line}"))?, *ty))
            .collect();
        rows.push(row?);
    }
    Ok(rows)
}

/// A program's text with its sinks replaced: `replacement(i)` is pipeline
/// `i`'s new sink; each sink's attributes stay.
pub fn with_sinks(
    text: &str,
    program: &flowc::check::program::Program,
    replacement: impl Fn(usize) -> String,
) -> String {
    let mut text = text.to_string();
    let mut sinks: Vec<(usize, flowc::diag::Span)> =
        program.pipelines.iter().enumerate().map(|(i, p)| (i, p.sink.span)).collect();
    sinks.sort_by_key(|(_, span)| std::cmp::Reverse(span.start));
    for (i, span) in sinks {
        // A sink's span runs from its keyword to the end of its attributes,
        // and can take in the white space after them.
        let sink = text[span.start..span.end].trim_end();
        let attributes = sink.find(" @").map_or("", |at| &sink[at..]).to_string();
        text.replace_range(span.start..span.start + sink.len(), &format!("{}{attributes}", replacement(i)));
    }
    text
}

/// One `print` line's row kind (`+I`, `-U`, …) and values, typed; `None`
/// for a line that is no print line. Strings are cut at `, `, so a string
/// holding one cannot be told apart (callers make sure none does).
pub fn print_row(line: &str, types: &[Type]) -> Result<Option<(String, Row)>, String> {
    let line = line.split_once("> ").map_or(line, |(_, rest)| rest);
    if line.len() < 4 || !matches!(&line[..2], "+I" | "+U" | "-U" | "-D") || line.as_bytes()[2] != b'[' {
        return Ok(None);
    }
    let (kind, values) = line.split_at(2);
    let values =
        values.strip_prefix('[').and_then(|v| v.strip_suffix(']')).ok_or_else(|| format!("odd line {line:?}"))?;
    let texts: Vec<&str> = if types.len() == 1 { vec![values] } else { values.split(", ").collect() };
    if texts.len() != types.len() {
        return Err(format!("{line:?} does not have {} values", types.len()));
    }
    let row: Row = texts.iter().zip(types).map(|(text, ty)| cell_from_text(text, *ty)).collect::<Result<_, _>>()?;
    Ok(Some((kind.to_string(), row)))
}

/// A table a changelog is applied to. Without a key it is a multiset of
/// rows, each under its exact text (a retraction repeats the text of the
/// row it takes away). With an upsert key, a row replaces the key's row
/// and a retraction removes it: Flink leaves out the `-U` of an update
/// where its sink does not need it (a Top-N's `+U` alone replaces the row).
#[derive(Default)]
pub struct Table {
    key: Option<Vec<usize>>,
    rows: BTreeMap<String, Vec<Row>>,
}

impl Table {
    pub fn new(key: Option<&[usize]>) -> Table {
        Table { key: key.map(<[usize]>::to_vec), rows: BTreeMap::new() }
    }

    /// `+I`/`+U` add a row, `-U`/`-D` take an equal one away.
    pub fn apply(&mut self, kind: &str, row: Row, line: &str) -> Result<(), String> {
        let key = match &self.key {
            Some(columns) => format!("{:?}", columns.iter().map(|&i| &row[i]).collect::<Vec<_>>()),
            None => format!("{row:?}"),
        };
        match (kind, &self.key) {
            ("+I" | "+U", Some(_)) => {
                self.rows.insert(key, vec![row]);
            }
            ("+I" | "+U", None) => self.rows.entry(key).or_default().push(row),
            _ => {
                let rows =
                    self.rows.get_mut(&key).ok_or_else(|| format!("{line:?} retracts a row that is not there"))?;
                rows.pop();
                if rows.is_empty() {
                    self.rows.remove(&key);
                }
            }
        }
        Ok(())
    }

    pub fn into_rows(self) -> Vec<Row> {
        self.rows.into_values().flatten().collect()
    }
}

/// Flink's print lines of one job, per sink (told apart by their
/// `print-identifier`, `sink_names`), with the changelog applied by each
/// sink's upsert key (`keys`).
pub fn flink_rows(
    lines: &[&str],
    types: &[Vec<Type>],
    keys: &[Option<Vec<usize>>],
    sink_names: &[String],
) -> Result<Vec<Vec<Row>>, String> {
    let mut tables: Vec<Table> = keys.iter().map(|key| Table::new(key.as_deref())).collect();
    for line in lines {
        let Some((identifier, rest)) = line.split_once("> ") else { continue };
        let identifier = identifier.split(':').next().unwrap_or(identifier);
        let Some(index) = sink_names.iter().position(|name| name == identifier) else { continue };
        let Some((kind, row)) = print_row(rest, &types[index])? else {
            return Err(format!("odd line {line:?}"));
        };
        tables[index].apply(&kind, row, line)?;
    }
    Ok(tables.into_iter().map(Table::into_rows).collect())
}

/// flowc's records as Flink's final table: with a `key` (column indices),
/// an upsert stream's last record per key; without, every record.
pub fn final_rows(rows: &[Row], key: Option<&[usize]>) -> Vec<Row> {
    let Some(key) = key else { return rows.to_vec() };
    let mut last: BTreeMap<Vec<String>, Row> = BTreeMap::new();
    for row in rows {
        last.insert(key.iter().map(|&i| row[i].sort_key()).collect(), row.clone());
    }
    last.into_values().collect()
}

pub fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_cached_key(|row| row.iter().map(Cell::sort_key).collect::<Vec<_>>().join("|"));
    rows
}

/// The two multisets are equal; the error names the first difference.
pub fn compare(expected: Vec<Row>, actual: Vec<Row>) -> Result<(), String> {
    let (expected, actual) = (sorted(expected), sorted(actual));
    let (mut e, mut a) = (expected.iter().peekable(), actual.iter().peekable());
    loop {
        match (e.peek(), a.peek()) {
            (None, None) => return Ok(()),
            (Some(x), Some(y)) if same_row(x, y) => {
                e.next();
                a.next();
            }
            (x, y) => {
                let counts = format!("flowc has {} records, Flink {}", expected.len(), actual.len());
                return Err(format!("{counts}; the first that differ, in order:\n  flowc {x:?}\n  Flink {y:?}"));
            }
        }
    }
}

fn same_row(a: &Row, b: &Row) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
}

/// The sinks of an exported script, in order: their `print-identifier`s.
pub fn print_identifiers(sql: &str) -> Vec<String> {
    sql.lines()
        .filter_map(|line| line.strip_prefix("  'print-identifier' = '"))
        .map(|rest| rest.trim_end_matches(['\'', ',']).to_string())
        .collect()
}

/// The `.flow` files of a folder (not of its subfolders), sorted.
pub fn flow_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "flow"))
        .collect();
    files.sort();
    files
}

/// Runs each `(name, script)` on PyFlink's MiniCluster, one job after
/// another in one JVM (`tests/flink/run_sql.py`), and returns each job's
/// stdout lines, or why it failed.
pub fn run_on_flink(python: &Path, jobs: &[(String, PathBuf)]) -> Vec<Result<Vec<String>, String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python)
        .arg(root.join("tests/flink/run_sql.py"))
        .args(jobs.iter().map(|(name, sql)| format!("{name}={}", sql.display())))
        .current_dir(&root)
        .output()
        .expect("the Flink runner starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    jobs.iter()
        .map(|(name, _)| {
            let start = format!("=== {name}\n");
            let Some(from) = stdout.find(&start) else {
                return Err(format!("Flink did not run it\n{}", String::from_utf8_lossy(&output.stderr)));
            };
            let job = &stdout[from + start.len()..];
            let end = job.find(&format!("=== end {name} ")).unwrap_or(job.len());
            let ending = job[end..].lines().next().unwrap_or("");
            if !ending.ends_with(" ok") {
                return Err(ending.to_string());
            }
            Ok(job[..end].lines().map(str::to_string).collect())
        })
        .collect()
}
