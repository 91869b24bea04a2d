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

/// Files users read: the code (its `--help` texts and messages), the docs,
/// the examples and the editor extension.
fn user_facing_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for dir in ["docs", "examples", "editors/vscode"] {
        let mut stack = vec![root.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_dir() {
                    if name != "node_modules" {
                        stack.push(path);
                    }
                } else if [".md", ".flow", ".json"].iter().any(|ext| name.ends_with(ext)) {
                    files.push(path);
                }
            }
        }
    }
    files.extend(["README.md", "ARCHITECTURE.md"].map(|name| root.join(name)));
    files
}

#[test]
fn users_see_only_the_products_own_words() {
    // The project was planned from documents users never get; naming them
    // (or their numbering) would point at files that are not there.
    let forbidden = ["seed 00", "seeds'", "the seeds", "language-sketch", "shared/design", "../shared"];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for file in user_facing_files(&root) {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            if let Some(word) = forbidden.iter().find(|word| line.to_lowercase().contains(*word)) {
                let shown = file.strip_prefix(&root).unwrap().display();
                problems.push(format!("{shown}:{}: `{word}`: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(problems.is_empty(), "words from planning documents:\n{}", problems.join("\n"));
}
