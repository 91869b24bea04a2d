//! House rules that keep the code easy to find one's way in: every source
//! file opens with a `//!` comment saying what it owns, and stays small.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_says_what_it_owns_and_stays_small() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{shown} does not open with a `//!` comment"));
        }
        let lines = text.lines().count();
        if lines > 800 {
            problems.push(format!("{shown} has {lines} lines; split it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
