//! The Flink SQL export, run on Apache Flink: every example that exports
//! and every program in `tests/flink/cases/` runs under `flowc run` and,
//! exported, on PyFlink's local MiniCluster; their sinks must hold the same
//! records.
//!
//! Both sides write somewhere readable: flowc's sinks become jsonl files,
//! Flink's sinks `print` (the one Flink sink that takes a changelog), read
//! from the runner's stdout. Records are compared as multisets, since
//! neither engine orders records across subtasks; a running aggregate is
//! compared by its final value per key (flowc's last record per key,
//! Flink's changelog applied). Floats agree to 1e-9, relatively: a sum
//! over subtasks adds in another order. A left join's unmatched records hold
//! zero values and `matched = false` in both (the export writes `COALESCE`
//! for Flink's NULLs), so they compare as they are. No case has late
//! records: the engines' watermarks differ in time, and Flink's interval
//! join joins late records where flowc drops them (`docs/flink-sql.md`).
//!
//! Needs a Python with `apache-flink` (and Java 17): `FLOWC_FLINK_PYTHON`
//! names it. Without it, when flowc was built, the test is ignored (and
//! `cargo test` says so, with the reason); `FLOWC_REQUIRE_FLINK`, which CI
//! sets (`.ci/run` installs PyFlink), makes a missing Python a failure.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flowc::check::check_source;
use flowc::check::program::{OperatorKind, Program, Stream, StreamHead, TypedExprKind};
use flowc::check::types::Type;
use flowc::export::{flink_sql, Options};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A value, as both engines' outputs are read back.
#[derive(Debug, Clone)]
enum Cell {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// Milliseconds since the epoch.
    Time(i64),
}

impl Cell {
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Float(a), Cell::Float(b)) => a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
            (a, b) => a.sort_key() == b.sort_key(),
        }
    }

    fn sort_key(&self) -> String {
        match self {
            Cell::Int(n) => format!("i{n:+021}"),
            Cell::Float(x) => format!("f{x:.6e}"),
            Cell::Bool(b) => format!("b{b}"),
            Cell::Str(s) => format!("s{s}"),
            Cell::Time(ms) => format!("t{ms:+021}"),
        }
    }
}

type Row = Vec<Cell>;

/// RFC 3339 (`2026-01-15T09:00:13.5Z`, flowc and Flink's LTZ) as ms since the epoch.
fn parse_time(text: &str) -> Result<i64, String> {
    flowc::runtime::read::parse_timestamp(text)
        .map(|nanos| nanos / 1_000_000)
        .ok_or_else(|| format!("not a timestamp: {text:?}"))
}

fn cell_from_text(text: &str, ty: Type) -> Result<Cell, String> {
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

fn cell_from_json(value: &serde_json::Value, ty: Type) -> Result<Cell, String> {
    match (value, ty) {
        (serde_json::Value::String(s), Type::String | Type::Timestamp) => cell_from_text(s, ty),
        (value, _) => cell_from_text(&value.to_string(), ty),
    }
}

/// One pipeline's sink: its record type, and for a changelog (a running
/// aggregate's, a `top`'s) the columns that identify a row of Flink's final
/// table, compared by their final values.
struct SinkShape {
    names: Vec<String>,
    types: Vec<Type>,
    upsert_key: Option<Vec<usize>>,
}

/// The columns of the final table's key when `stream` is a changelog: an
/// aggregate's key (its first column), a `top`'s key field and rank.
fn upsert_key(program: &Program, stream: &Stream) -> Option<Vec<usize>> {
    if !updating(program, stream) {
        return None;
    }
    let last = stream.operators.last().expect("a changelog comes from an operator");
    match &last.kind {
        OperatorKind::Aggregate { .. } => Some(vec![0]),
        OperatorKind::Top { key, .. } => match key.expr.kind {
            TypedExprKind::Field(field) => Some(vec![field, last.output.fields().len() - 1]),
            _ => panic!("a Flink case's `top` is keyed by a field, so its rows can be matched"),
        },
        _ => panic!("a Flink case's changelog ends its pipeline (an `aggregate` or `top` before the sink)"),
    }
}

fn updating(program: &Program, stream: &Stream) -> bool {
    let head = match &stream.head {
        StreamHead::Source(_) => false,
        StreamHead::Let(id) => updating(program, &program.lets[*id].stream),
        StreamHead::Union { inputs, .. } => inputs.iter().any(|input| updating(program, input)),
    };
    head || stream.operators.iter().any(|op| updates(program, &op.kind))
}

/// Whether an operator makes its stream a changelog in Flink, or reads one.
/// Every operator is named, so that a new one has to be decided here.
fn updates(program: &Program, kind: &OperatorKind) -> bool {
    match kind {
        OperatorKind::Aggregate { .. } | OperatorKind::Top { .. } => true,
        // The export refuses a join of a changelog, so this is only ever false.
        OperatorKind::Join(join) => updating(program, &join.right),
        // A temporal join with a versioned view, or an inner regular join
        // with a bounded table: insert-only either way.
        OperatorKind::Lookup { .. } => false,
        OperatorKind::Map { .. }
        | OperatorKind::Filter { .. }
        | OperatorKind::KeyBy { .. }
        | OperatorKind::Rebalance
        | OperatorKind::Broadcast
        | OperatorKind::Window { .. }
        | OperatorKind::Throttle { .. }
        | OperatorKind::Work { .. }
        | OperatorKind::Sleep { .. } => false,
    }
}

/// The program with its sinks replaced: `replacement(i)` is pipeline `i`'s new sink.
fn with_sinks(text: &str, program: &Program, replacement: impl Fn(usize) -> String) -> String {
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

struct Case {
    name: String,
    shapes: Vec<SinkShape>,
    /// flowc's records per pipeline, read from its jsonl files.
    flowc: Vec<Vec<Row>>,
    sql: PathBuf,
}

/// Runs `input` with flowc and exports it for Flink; its relative paths
/// start from its own folder, for both.
fn prepare(name: &str, input: &Path, dir: &Path) -> Result<Case, String> {
    let text = &fs::read_to_string(input).map_err(|e| e.to_string())?;
    let folder = input.parent().expect("a file in a folder");
    let program = check_source(text).program.ok_or("does not check")?;
    let shapes: Vec<SinkShape> = program
        .pipelines
        .iter()
        .map(|pipeline| SinkShape {
            names: pipeline.sink.input.fields().iter().map(|field| field.name.clone()).collect(),
            types: pipeline.sink.input.fields().iter().map(|field| field.ty).collect(),
            upsert_key: upsert_key(&program, &pipeline.stream),
        })
        .collect();
    let case_dir = dir.join(name);
    fs::create_dir_all(&case_dir).map_err(|e| e.to_string())?;

    let out = |i: usize| case_dir.join(format!("flowc_{i}.jsonl"));
    let flowc_text = with_sinks(text, &program, |i| format!("sink file({:?})", out(i).display().to_string()));
    let flowc_file = case_dir.join("flowc.flow");
    fs::write(&flowc_file, &flowc_text).map_err(|e| e.to_string())?;
    // Read from standard input, the program's paths start from the current folder: its own.
    let run = Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(["run", "-q", "-"])
        .stdin(fs::File::open(&flowc_file).map_err(|e| e.to_string())?)
        .current_dir(folder)
        .output()
        .map_err(|e| e.to_string())?;
    if !run.status.success() {
        return Err(format!("flowc run failed: {}", String::from_utf8_lossy(&run.stderr)));
    }
    let mut flowc = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let text = fs::read_to_string(out(i)).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        for line in text.lines() {
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).map_err(|e| e.to_string())?;
            let row: Result<Row, String> = shape
                .names
                .iter()
                .zip(&shape.types)
                .map(|(name, ty)| cell_from_json(object.get(name).ok_or(format!("no `{name}` in {line}"))?, *ty))
                .collect();
            rows.push(row?);
        }
        flowc.push(rows);
    }

    let flink_text = with_sinks(text, &program, |_| "sink print".to_string());
    let checked = check_source(&flink_text);
    let mut flink_program = checked
        .program
        .ok_or_else(|| format!("the print version does not check: {:?}\n{flink_text}", checked.diagnostics))?;
    flink_program.resolve_paths(folder);
    let sql = flink_sql(&flink_program, name, &flink_text, Options { drop_simulation: true })
        .map_err(|diagnostics| format!("export failed: {diagnostics:?}"))?;
    let sql_file = case_dir.join("flink.sql");
    fs::write(&sql_file, sql).map_err(|e| e.to_string())?;
    Ok(Case { name: name.to_string(), shapes, flowc, sql: sql_file })
}

/// Flink's print lines of one job, per sink (`sink_<line>`), with the
/// changelog applied.
fn flink_rows(lines: &[&str], case: &Case, sink_names: &[String]) -> Result<Vec<Vec<Row>>, String> {
    let mut tables: Vec<Vec<Row>> = vec![Vec::new(); sink_names.len()];
    for line in lines {
        let Some((identifier, rest)) = line.split_once("> ") else { continue };
        let identifier = identifier.split(':').next().unwrap_or(identifier);
        let Some(index) = sink_names.iter().position(|name| name == identifier) else { continue };
        let (kind, values) = rest.split_at(2);
        let values =
            values.strip_prefix('[').and_then(|v| v.strip_suffix(']')).ok_or_else(|| format!("odd line {line:?}"))?;
        let types = &case.shapes[index].types;
        let texts: Vec<&str> = if types.len() == 1 { vec![values] } else { values.split(", ").collect() };
        if texts.len() != types.len() {
            return Err(format!("{line:?} does not have {} values", types.len()));
        }
        let row: Row = texts.iter().zip(types).map(|(text, ty)| cell_from_text(text, *ty)).collect::<Result<_, _>>()?;
        match kind {
            "+I" | "+U" => tables[index].push(row),
            "-U" | "-D" => {
                let at = tables[index]
                    .iter()
                    .position(|r| r.iter().zip(&row).all(|(a, b)| a.same(b)))
                    .ok_or_else(|| format!("{line:?} retracts a row that is not there"))?;
                tables[index].remove(at);
            }
            other => return Err(format!("unknown row kind {other:?}")),
        }
    }
    Ok(tables)
}

/// flowc's records as Flink's final table: a changelog's last record per key.
fn final_rows(rows: &[Row], upsert_key: Option<&[usize]>) -> Vec<Row> {
    let Some(key) = upsert_key else {
        return rows.to_vec();
    };
    let mut last: BTreeMap<Vec<String>, Row> = BTreeMap::new();
    for row in rows {
        last.insert(key.iter().map(|&column| row[column].sort_key()).collect(), row.clone());
    }
    last.into_values().collect()
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_cached_key(|row| row.iter().map(Cell::sort_key).collect::<Vec<_>>().join("|"));
    rows
}

fn compare(expected: Vec<Row>, actual: Vec<Row>) -> Result<(), String> {
    let (expected, actual) = (sorted(expected), sorted(actual));
    if expected.len() != actual.len() {
        return Err(format!("flowc has {} records, Flink {}", expected.len(), actual.len()));
    }
    for (e, a) in expected.iter().zip(&actual) {
        if !e.iter().zip(a).all(|(x, y)| x.same(y)) {
            return Err(format!("flowc {e:?}\n  vs Flink {a:?}"));
        }
    }
    Ok(())
}

fn flow_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "flow"))
        .collect();
    files.sort();
    files
}

#[test]
#[cfg_attr(not(flowc_flink), ignore = "needs PyFlink: set FLOWC_FLINK_PYTHON to a Python with apache-flink 2.3")]
fn exported_programs_give_flinks_records_what_flowc_gives() {
    let python =
        std::env::var_os("FLOWC_FLINK_PYTHON").expect("FLOWC_REQUIRE_FLINK is set but FLOWC_FLINK_PYTHON is not");
    let dir = std::env::temp_dir().join(format!("flowc-flink-{}", std::process::id()));
    let mut inputs: Vec<PathBuf> = flow_files(&root().join("tests/flink/cases"));
    let examples: Vec<PathBuf> = flow_files(&root().join("examples"));
    let mut exported_examples = Vec::new();
    for example in examples {
        let text = fs::read_to_string(&example).unwrap();
        let program = check_source(&text).program.expect("examples check");
        if flink_sql(&program, "example", &text, Options { drop_simulation: true }).is_ok() {
            exported_examples.push(example.file_stem().unwrap().to_string_lossy().to_string());
            inputs.push(example);
        }
    }
    // The examples that export; the others use `random` or durations (which
    // have no Flink form), or window the output of a window join.
    assert_eq!(
        exported_examples,
        ["card_fraud", "cpu_bound", "io_bound", "network_bottleneck", "quickstart", "slow_sink"]
    );
    assert!(inputs.len() >= 31, "twenty-six programs of our own and the examples");

    let mut cases = Vec::new();
    let mut failures = Vec::new();
    for input in &inputs {
        let name = input.file_stem().unwrap().to_string_lossy().to_string();
        match prepare(&name, input, &dir) {
            Ok(case) => cases.push(case),
            Err(error) => failures.push(format!("{name}: {error}")),
        }
    }
    let output = Command::new(&python)
        .arg(root().join("tests/flink/run_sql.py"))
        .args(cases.iter().map(|case| format!("{}={}", case.name, case.sql.display())))
        .current_dir(root())
        .output()
        .expect("the Flink runner starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for case in &cases {
        let start = format!("=== {}\n", case.name);
        let Some(from) = stdout.find(&start) else {
            failures.push(format!("{}: Flink did not run it\n{}", case.name, String::from_utf8_lossy(&output.stderr)));
            continue;
        };
        let job = &stdout[from + start.len()..];
        let end = job.find(&format!("=== end {} ", case.name)).unwrap_or(job.len());
        let ending = job[end..].lines().next().unwrap_or("");
        if !ending.ends_with(" ok") {
            failures.push(format!("{}: {ending}", case.name));
            continue;
        }
        let lines: Vec<&str> = job[..end].lines().collect();
        let text = fs::read_to_string(&case.sql).unwrap();
        let sink_names: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("  'print-identifier' = '"))
            .map(|rest| rest.trim_end_matches(['\'', ',']).to_string())
            .collect();
        match flink_rows(&lines, case, &sink_names) {
            Ok(tables) => {
                for (i, (flink, shape)) in tables.into_iter().zip(&case.shapes).enumerate() {
                    let expected = final_rows(&case.flowc[i], shape.upsert_key.as_deref());
                    if expected.is_empty() {
                        failures.push(format!(
                            "{} sink {i}: flowc wrote nothing, so the comparison proves nothing",
                            case.name
                        ));
                    }
                    if let Err(error) = compare(expected, flink) {
                        failures.push(format!("{} sink {i}: {error}", case.name));
                    }
                }
            }
            Err(error) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    let _ = fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{} of {} programs differ:\n{}", failures.len(), inputs.len(), failures.join("\n\n"));
    eprintln!("{} programs gave the same records on flowc and Flink", cases.len());
}
