//! Keeps the docs true: every workspace crate is in ARCHITECTURE.md, every Rust file starts
//! with a `//!` line, and README.md's test command is the one `.ci/run` runs.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&crate::repo(), &mut files);
    assert!(files.len() > 10);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).is_ok_and(|s| s.starts_with("//!")))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! line: {missing:#?}"
    );
}

#[test]
fn architecture_names_every_crate() {
    let repo = crate::repo();
    let architecture =
        std::fs::read_to_string(repo.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let manifest = std::fs::read_to_string(repo.join("Cargo.toml")).expect("Cargo.toml");
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("workspace members");
    for member in members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
    {
        assert!(
            architecture.contains(&format!("`{member}/`")),
            "ARCHITECTURE.md does not describe `{member}/`"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let repo = crate::repo();
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(repo.join(".ci/run")).expect(".ci/run");
    let command = readme
        .lines()
        .find(|l| l.contains("scripts/test"))
        .map(str::trim)
        .expect("README.md gives the test command");
    assert!(ci.contains("scripts/test"), ".ci/run must run {command}");
}
