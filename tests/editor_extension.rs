//! The VS Code extension in `editors/vscode`, checked with Node: its
//! tokenizer test (VS Code's own engine, vscode-textmate on
//! vscode-oniguruma, against golden scopes for every example) and its
//! packaging into a `.vsix` with `@vscode/vsce`. Skipped, with a note,
//! where Node is missing, unless `FLOWC_REQUIRE_NODE=1` (CI sets it).

use std::path::Path;
use std::process::Command;

fn npm(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("npm {args:?}: {error}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "npm {args:?} failed:\n{text}");
    text
}

#[test]
fn the_vscode_extension_tokenizes_every_example_and_packages() {
    let node = Command::new("node").arg("--version").output().is_ok_and(|output| output.status.success());
    if !node {
        assert!(std::env::var_os("FLOWC_REQUIRE_NODE").is_none(), "FLOWC_REQUIRE_NODE is set but Node is missing");
        eprintln!("note: Node is not installed; the editor extension's tests are skipped");
        return;
    }
    let dir = Path::new("editors/vscode");
    if !dir.join("node_modules/vscode-textmate").exists() {
        npm(dir, &["ci", "--no-audit", "--no-fund"]);
    }
    let tested = npm(dir, &["test"]);
    assert!(tested.contains("# fail 0"), "{tested}");
    npm(dir, &["run", "package"]);
    let vsix = std::fs::metadata(dir.join("flow-language.vsix")).expect("the .vsix was written");
    assert!(vsix.len() > 1000, "a {}-byte .vsix", vsix.len());
}
