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

#[path = "common/flink.rs"]
mod flink;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flink::{
    compare, final_rows, flink_rows, flow_files, print_identifiers, read_jsonl, run_on_flink, with_sinks, Row,
};
use flowc::check::check_source;
use flowc::check::program::{OperatorKind, Program, SinkConnector, Stream, StreamHead, TypedExprKind};
use flowc::check::types::Type;
use flowc::export::{flink_sql, Options};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
        flowc.push(read_jsonl(&out(i), &shape.names, &shape.types)?);
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
        // Flink writes PostgreSQL through its JDBC connector, whose jar
        // PyFlink does not ship; the export is golden-pinned instead
        // (tests/golden/export/postgres_sinks).
        let postgres = program.pipelines.iter().any(|p| matches!(p.sink.connector, SinkConnector::Postgres(_)));
        if postgres {
            continue;
        }
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
    let jobs: Vec<(String, PathBuf)> = cases.iter().map(|case| (case.name.clone(), case.sql.clone())).collect();
    let results = run_on_flink(Path::new(&python), &jobs);
    for (case, result) in cases.iter().zip(results) {
        let lines = match result {
            Ok(lines) => lines,
            Err(error) => {
                failures.push(format!("{}: {error}", case.name));
                continue;
            }
        };
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let sink_names = print_identifiers(&fs::read_to_string(&case.sql).unwrap());
        let types: Vec<Vec<Type>> = case.shapes.iter().map(|shape| shape.types.clone()).collect();
        let keys: Vec<Option<Vec<usize>>> = case.shapes.iter().map(|shape| shape.upsert_key.clone()).collect();
        match flink_rows(&lines, &types, &keys, &sink_names) {
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
