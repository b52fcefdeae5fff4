//! The `kubicle` binary's command line: exit codes and the commands that need no cluster.
//! (These tests also make cargo build the binary that the end-to-end suite runs.)

use std::process::Command;

fn kubicle(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubicle"))
        .args(args)
        .output()
        .expect("run kubicle")
}

#[test]
fn version_prints_and_exits_zero() {
    let out = kubicle(&["version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kubicle "));
}

#[test]
fn bad_usage_exits_64() {
    assert_eq!(kubicle(&["frobnicate"]).status.code(), Some(64));
    let bad_cidr = kubicle(&[
        "up",
        "--pod-cidr",
        "10.244.0.1/16",
        "--data-dir",
        "/nonexistent/x",
    ]);
    assert_eq!(bad_cidr.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad_cidr.stderr).contains("host bits"));
}

#[test]
fn reset_refuses_what_is_not_a_data_dir() {
    let dir = std::env::temp_dir().join(format!("kubicle-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = kubicle(&["reset", "--yes", "--data-dir", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        dir.exists(),
        "reset removed a directory that is not a cluster's"
    );
    std::fs::write(dir.join("state.db"), b"").expect("marker");
    let no_confirm = kubicle(&["reset", "--data-dir", dir.to_str().expect("utf-8")]);
    assert_eq!(no_confirm.status.code(), Some(64));
    let out = kubicle(&["reset", "--yes", "--data-dir", dir.to_str().expect("utf-8")]);
    assert!(out.status.success());
    assert!(!dir.exists());
}
