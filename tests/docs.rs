//! The documentation stays true: every fenced `flow` block in the docs and
//! the README is a clean program, and the language reference names every
//! setting (with its real default), function, aggregate, attribute,
//! operator, connector and diagnostic code that the checker knows;
//! docs/plan-json.md names every field of the JSON plan; and
//! docs/report-json.md every field and threshold of the JSON report.

use std::fs;
use std::path::PathBuf;

use flowc::check::config::KEYS;
use flowc::check::functions::{AggregateFunction, Function};
use flowc::check::{check_source, ATTRIBUTE_NAMES, SINK_CONNECTORS, SOURCE_CONNECTORS};
use flowc::diag::Code;
use flowc::plan::explain::json::plan_document;
use flowc::plan::plan;
use flowc::syntax::ast::OPERATOR_KEYWORDS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for entry in fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The fenced blocks tagged `flow`, with the line each starts on.
fn flow_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```flow") => current = Some((index + 1, String::new())),
            Some(_) if fence.starts_with("```") => blocks.push(current.take().unwrap()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_flow_block_in_the_docs_checks_clean() {
    let mut failures = Vec::new();
    let mut n_blocks = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        for (line, block) in flow_blocks(&text) {
            n_blocks += 1;
            let checked = check_source(&block);
            let mut diagnostics = checked.diagnostics;
            if let Some(program) = &checked.program {
                diagnostics.extend(plan(program).diagnostics);
            }
            if !diagnostics.is_empty() {
                let codes: Vec<&str> = diagnostics.iter().map(|d| d.code.name()).collect();
                let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
                failures.push(format!("{}:{line}: {codes:?} {messages:?}", file.display()));
            }
        }
    }
    assert!(n_blocks >= 6, "expected the docs to hold flow examples, found {n_blocks}");
    assert!(failures.is_empty(), "flow blocks with diagnostics:\n{}", failures.join("\n"));
}

fn reference() -> String {
    fs::read_to_string(root().join("docs/language.md")).unwrap()
}

#[test]
fn the_reference_documents_every_setting_with_its_default() {
    let reference = reference();
    for key in KEYS {
        let row = reference
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", key.name)))
            .unwrap_or_else(|| panic!("docs/language.md has no settings row for `{}`", key.name));
        assert!(
            row.contains(&format!("| `{}` |", key.default_text)),
            "the row for `{}` should give the default `{}`: {row}",
            key.name,
            key.default_text
        );
    }
}

#[test]
fn the_reference_names_every_function_attribute_operator_connector_and_code() {
    let reference = reference();
    let mut missing = Vec::new();
    let mut expect = |needle: String| {
        if !reference.contains(&needle) {
            missing.push(needle);
        }
    };
    for function in Function::ALL {
        expect(format!("`{}(", function.name()));
    }
    for aggregate in AggregateFunction::ALL {
        expect(format!("`{}(", aggregate.name()));
    }
    for attribute in ATTRIBUTE_NAMES {
        expect(format!("`@{attribute}"));
    }
    for keyword in OPERATOR_KEYWORDS {
        expect(format!("`{keyword}"));
    }
    for connector in SOURCE_CONNECTORS.iter().chain(SINK_CONNECTORS) {
        expect(connector.to_string());
    }
    for code in Code::ALL {
        expect(format!("| `{}` |", code.name()));
    }
    assert!(missing.is_empty(), "docs/language.md does not mention {missing:?}");
}

/// Every object key of a JSON plan (of a program that uses every kind of
/// node, partitioning and parallelism origin) is named in docs/plan-json.md.
#[test]
fn the_json_plan_documents_every_field() {
    let text = "config { parallelism = 2 }\nschema R { id: int, k: int }\n\
        source a: R = generate(count = 1) { id = seq, k = seq }\n\
        source b: R = stdin(format = jsonl)\n\
        let u = union(a, b) | map { id, k } @no_chain\n\
        u | key_by k | aggregate { n = count() } | sink print\n\
        u | rebalance | sink discard @parallelism(3)\n";
    let program = check_source(text).program.expect("a clean program");
    let plan = plan(&program).plan.expect("a plan");
    let value = serde_json::to_value(plan_document(&plan, "u.flow", text)).unwrap();
    let mut keys = std::collections::BTreeSet::new();
    collect_keys(&value, &mut keys);
    let doc = fs::read_to_string(root().join("docs/plan-json.md")).unwrap();
    let missing: Vec<&String> = keys.iter().filter(|key| !doc.contains(&format!("`{key}`"))).collect();
    assert!(missing.is_empty(), "docs/plan-json.md does not name {missing:?}");
}

/// The README's excerpt of `flowc explain` output is real output: its lines
/// (up to the `…`) appear together in an example's golden plan.
#[test]
fn the_readme_plan_excerpt_is_current() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```text\n  Task 1:").expect("the README shows a plan") + "```text\n".len();
    let excerpt = &readme[start..start + readme[start..].find("```").unwrap()];
    let excerpt: String =
        excerpt.lines().take_while(|line| line.trim() != "…").map(|line| format!("{line}\n")).collect();
    let plans = fs::read_dir(root().join("tests/golden/examples"))
        .unwrap()
        .map(|entry| fs::read_to_string(entry.unwrap().path().join("explain.txt")).unwrap_or_default());
    assert!(plans.into_iter().any(|plan| plan.contains(&excerpt)), "README excerpt is stale:\n{excerpt}");
}

/// Every object key of the golden JSON reports is named in docs/report-json.md.
#[test]
fn the_json_report_documents_every_field() {
    let doc = fs::read_to_string(root().join("docs/report-json.md")).unwrap();
    let mut keys = std::collections::BTreeSet::new();
    for case in fs::read_dir(root().join("tests/golden/report")).unwrap() {
        let text = fs::read_to_string(case.unwrap().path().join("report.json")).unwrap();
        collect_keys(&serde_json::from_str(&text).unwrap(), &mut keys);
    }
    let missing: Vec<&String> = keys.iter().filter(|key| !doc.contains(&format!("`{key}`"))).collect();
    assert!(missing.is_empty(), "docs/report-json.md does not name {missing:?}");
}

/// Every threshold of the report is in docs/report-json.md's table, with
/// the value the code has.
#[test]
fn the_json_report_lists_every_threshold_with_its_value() {
    let doc = fs::read_to_string(root().join("docs/report-json.md")).unwrap();
    let code = fs::read_to_string(root().join("src/report/thresholds.rs")).unwrap();
    let mut n_thresholds = 0;
    let mut missing = Vec::new();
    for line in code.lines().filter(|line| line.starts_with("pub const ")) {
        let name = line["pub const ".len()..].split(':').next().unwrap();
        let value = line.split("= ").nth(1).unwrap().trim_end_matches(';');
        n_thresholds += 1;
        if !doc.contains(&format!("| `{name}` | {value} |")) {
            missing.push(format!("{name} = {value}"));
        }
    }
    assert!(n_thresholds >= 20, "found {n_thresholds} thresholds");
    assert!(missing.is_empty(), "docs/report-json.md does not list {missing:?}");
}

/// Every object key anywhere in `value`.
fn collect_keys(value: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                keys.extend(map.keys().cloned());
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
}

/// Every function, aggregate and operator has a row in the Flink SQL export's table.
#[test]
fn the_flink_sql_table_names_every_function_and_operator() {
    let doc = fs::read_to_string(root().join("docs/flink-sql.md")).unwrap();
    let mut missing = Vec::new();
    for function in flowc::check::functions::Function::ALL {
        if !doc.contains(&format!("`{}(", function.name())) {
            missing.push(function.name());
        }
    }
    for aggregate in flowc::check::functions::AggregateFunction::ALL {
        if !doc.contains(&format!("`{}(", aggregate.name())) {
            missing.push(aggregate.name());
        }
    }
    for keyword in flowc::syntax::ast::OPERATOR_KEYWORDS {
        if !doc.contains(&format!("`{keyword}")) {
            missing.push(keyword);
        }
    }
    assert!(missing.is_empty(), "docs/flink-sql.md has no row for {missing:?}");
}

/// Every operator of the registry runs in a golden case or an example, and
/// one that translates to Flink SQL is in a program that `tests/flink.rs`
/// runs on Flink.
#[test]
fn every_operator_runs_in_a_golden_case_and_on_flink() {
    use flowc::check::ops::{FlinkForm, ALL};
    let programs = |folder: &str| -> Vec<String> {
        let mut texts = Vec::new();
        let mut stack = vec![root().join(folder)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
            } else if path.extension().is_some_and(|ext| ext == "flow") {
                texts.push(fs::read_to_string(&path).unwrap());
            }
        }
        texts
    };
    let uses = |texts: &[String], keyword: &str| {
        texts.iter().any(|text| text.contains(&format!("| {keyword} ")) || text.contains(&format!("| {keyword}\n")))
    };
    let mut runs = programs("tests/golden/run");
    runs.extend(programs("examples"));
    let flink = programs("tests/flink/cases");
    let mut missing = Vec::new();
    for spec in ALL {
        if !uses(&runs, spec.keyword) {
            missing.push(format!("`{}` in no tests/golden/run case or example", spec.keyword));
        }
        if spec.flink == FlinkForm::Translates && !uses(&flink, spec.keyword) {
            missing.push(format!("`{}` in no tests/flink/cases program", spec.keyword));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
