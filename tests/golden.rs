//! The one golden-test runner. Each case is data:
//!
//! - `tests/golden/check/<case>/input.flow` with `check.txt`, the output of
//!   `flowc check --schemas` (exit code, stdout, stderr without colour);
//! - every `examples/*.flow`, with `tests/golden/examples/<name>/check.txt`.
//!
//! All mismatches are gathered and reported together, each as a diff.
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expected files
//! (and writes missing ones); review the change with `git diff`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use flowc::cli::{check_text, Output};
use flowc::diag::{Code, RenderOptions};

const RENDER: RenderOptions = RenderOptions { color: false, width: 100 };

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares (or, when updating, writes) one expected file.
fn compare(expected_path: &Path, actual: &str, mismatches: &mut Vec<String>) {
    let expected = fs::read_to_string(expected_path).ok();
    if updating() {
        if expected.as_deref() != Some(actual) {
            fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
            fs::write(expected_path, actual).unwrap();
        }
        return;
    }
    let shown = expected_path.strip_prefix(root()).unwrap_or(expected_path).display().to_string();
    match expected {
        None => {
            mismatches.push(format!("{shown}: missing; run `UPDATE_GOLDEN=1 cargo test --test golden` to write it"))
        }
        Some(expected) if expected != actual => {
            let diff = similar_asserts::SimpleDiff::from_str(&expected, actual, "expected", "actual");
            mismatches.push(format!("{shown}:\n{diff}"));
        }
        Some(_) => {}
    }
}

fn show(output: &Output) -> String {
    format!("exit: {}\n--- stdout\n{}--- stderr\n{}", output.exit_code, output.stdout, output.stderr)
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    entries
}

fn fail_on(mismatches: Vec<String>) {
    if !mismatches.is_empty() {
        panic!("{} golden file(s) differ:\n\n{}", mismatches.len(), mismatches.join("\n\n"));
    }
}

#[test]
fn check_cases_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let cases = sorted_entries(&root().join("tests/golden/check"));
    assert!(cases.len() >= 40, "expected at least 40 check cases, found {}", cases.len());
    for case in cases {
        let input = fs::read_to_string(case.join("input.flow")).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let output = check_text("input.flow", &input, true, RENDER);
        compare(&case.join("check.txt"), &show(&output), &mut mismatches);
    }
    fail_on(mismatches);
}

#[test]
fn examples_check_clean_and_match_their_golden_output() {
    let mut mismatches = Vec::new();
    let examples: Vec<PathBuf> = sorted_entries(&root().join("examples"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "flow"))
        .collect();
    assert!(examples.len() >= 8, "the eight examples of the language sketch are missing");
    for example in examples {
        let name = example.file_stem().unwrap().to_string_lossy().to_string();
        let input = fs::read_to_string(&example).unwrap();
        let output = check_text(&format!("examples/{name}.flow"), &input, true, RENDER);
        if output.exit_code != 0 || !output.stderr.is_empty() {
            mismatches.push(format!("examples/{name}.flow does not check clean:\n{}", output.stderr));
        }
        compare(&root().join("tests/golden/examples").join(&name).join("check.txt"), &show(&output), &mut mismatches);
    }
    fail_on(mismatches);
}

/// Every diagnostic code is pinned by at least one golden case.
#[test]
fn every_diagnostic_code_has_a_golden_case() {
    let mut seen = BTreeSet::new();
    for case in sorted_entries(&root().join("tests/golden/check")) {
        let text = fs::read_to_string(case.join("check.txt")).unwrap_or_default();
        for code in Code::ALL {
            if text.contains(&format!("{}\n", code.name())) || text.contains(&format!("{} ", code.name())) {
                seen.insert(code.name());
            }
        }
    }
    let missing: Vec<&str> = Code::ALL.iter().map(|code| code.name()).filter(|name| !seen.contains(name)).collect();
    assert!(missing.is_empty(), "no golden case shows {missing:?}");
}
