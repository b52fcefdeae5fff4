//! Bounded history (issue 12, item 7): a watch from a compacted revision gets upstream's 410,
//! compaction gives the disk back and the controllers go on after it, a full disk is relieved
//! through `kubectl delete` (root: the data dir on a small tmpfs in the cluster's own mount
//! namespace), and a WAL removed under the running server stops it acknowledging writes
//! without losing or reusing anything after the restart.

use std::time::Duration;

use integration::{Cluster, eventually, patience};

fn resource_version(c: &Cluster, what: &[&str]) -> u64 {
    c.jsonpath(what, "{.metadata.resourceVersion}")
        .parse()
        .unwrap_or_else(|_| panic!("no resourceVersion for {what:?}"))
}

fn disk_bytes(c: &Cluster) -> u64 {
    ["state.db", "state.db-wal"]
        .iter()
        .map(|f| {
            std::fs::metadata(c.data_dir.join(f))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn a_watch_from_a_compacted_revision_is_gone_and_the_disk_is_given_back() {
    let c = Cluster::start_with("compact", &["--no-pods", "--etcd-compaction-interval=1s"]);
    let file = c.data_dir.parent().expect("test dir").join("big");
    std::fs::write(&file, "x".repeat(100 << 10)).expect("write 100 KiB");
    let from_file = format!("--from-file=f={}", file.display());
    c.kubectl(&["create", "configmap", "big", &from_file])
        .success();
    let first = resource_version(&c, &["configmap", "big"]);
    for i in 0..40 {
        c.kubectl(&[
            "label",
            "configmap",
            "big",
            &format!("n={i}"),
            "--overwrite",
        ])
        .success();
    }
    // A rewrite is a whole body in the log until the compactor takes it away (kube-apiserver:
    // at each tick, to the revision the previous tick saw): 41 versions are 4 MiB of log.
    let uri = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={first}&timeoutSeconds=2"
    );
    let line = eventually("the compactor passes the first version", patience(), || {
        let out = c.kubectl(&["get", "--raw", &uri]);
        out.stdout.contains("\"ERROR\"").then_some(out.stdout)
    });
    let event: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON event");
    let status = &event["object"];
    assert_eq!(
        (status["code"].as_u64(), status["reason"].as_str()),
        (Some(410), Some("Expired")),
        "{line}"
    );
    let message = status["message"].as_str().unwrap_or("");
    let prefix = format!("too old resource version: {first} (");
    let compacted: u64 = message
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("upstream's message, got {message:?}"));
    assert!(compacted > first, "{message}");
    // A list at that exact revision: etcd3's words.
    let uri = format!(
        "/api/v1/namespaces/default/configmaps?resourceVersion={first}&resourceVersionMatch=Exact"
    );
    let list = c.kubectl(&["get", "--raw", &uri]);
    assert_eq!(
        list.failure().trim(),
        "Error from server (Expired): The resourceVersion for the provided list is too old."
    );
    eventually("the disk is given back", patience(), || {
        (disk_bytes(&c) < 1 << 20).then_some(())
    });
    // The controllers' informers go on after the compactions: a new Deployment gets its pods.
    c.kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=kubicle/demo",
        "--replicas=2",
    ])
    .success();
    eventually("the Deployment's pods", patience(), || {
        let pods = c.kubectl(&["get", "pods", "-l", "app=web", "-o", "name"]);
        (pods.stdout.lines().count() == 2).then_some(())
    });
    // A watch from the current revision still works.
    let now = resource_version(&c, &["configmap", "big"]);
    let uri = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={now}&timeoutSeconds=1"
    );
    let out = c.kubectl(&["get", "--raw", &uri]);
    assert!(!out.stdout.contains("ERROR"), "{}", out.stdout);
}

#[test]
fn a_removed_wal_stops_acknowledging_writes_and_nothing_is_lost_or_reused() {
    let mut c = Cluster::start_with("wal", &["--no-pods"]);
    for name in ["a", "b"] {
        c.kubectl(&["create", "configmap", name, "--from-literal=k=v"])
            .success();
    }
    let acknowledged = resource_version(&c, &["configmap", "b"]);
    std::fs::remove_file(c.data_dir.join("state.db-wal")).expect("remove the WAL");
    let refused = c.kubectl(&["create", "configmap", "c", "--from-literal=k=v"]);
    let stderr = refused.failure();
    assert!(stderr.contains("state.db-wal was removed"), "{stderr}");
    // The same through the API: 503 ServiceUnavailable.
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"e"}}"#;
    let raw = c.kubectl_with_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps",
            "-f",
            "-",
        ],
        Some(cm),
    );
    let stderr = raw.failure();
    assert!(
        stderr.contains("Error from server (ServiceUnavailable)"),
        "{stderr}"
    );
    let ready = c.kubectl(&["get", "--raw", "/readyz"]);
    assert!(!ready.ok(), "/readyz: {}", ready.stdout);
    assert!(c.log_text().contains("stopped accepting writes"));
    c.restart();
    for name in ["a", "b"] {
        assert_eq!(
            c.jsonpath(&["configmap", name], "{.data.k}"),
            "v",
            "{name} kept"
        );
    }
    c.kubectl(&["create", "configmap", "d", "--from-literal=k=v"])
        .success();
    let next = resource_version(&c, &["configmap", "d"]);
    assert!(
        next > acknowledged + 1,
        "revision {next} after {acknowledged}"
    );
    assert_eq!(c.kubectl(&["get", "--raw", "/readyz"]).success(), "ok");
}

#[test]
fn a_full_disk_is_relieved_through_delete() {
    if !integration::root_or_skip() {
        return;
    }
    let mut c = Cluster::start_with("full", &["--etcd-compaction-interval=1s"]);
    let holder = c
        .netns_pid()
        .expect("as root the cluster has its own mount namespace");
    // Move the data dir onto a 32 MiB tmpfs mounted in the cluster's own mount namespace (it
    // goes with the namespace when the test ends, whatever happens).
    c.kill9();
    let data = c.data_dir.display().to_string();
    let script = format!(
        "set -e; cp -a {data} {data}.copy; mount -t tmpfs -o size=32m,mode=0700 kubicle-full {data}; cp -a {data}.copy/. {data}/; rm -rf {data}.copy"
    );
    let moved = std::process::Command::new("nsenter")
        .args([
            "-t",
            &holder.to_string(),
            "--mount",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .status()
        .expect("nsenter");
    assert!(moved.success(), "move the data dir onto a tmpfs");
    c.restart();
    let file = c.data_dir.parent().expect("test dir").join("big");
    std::fs::write(&file, "x".repeat(700 << 10)).expect("write 700 KiB");
    let from_file = format!("--from-file=f={}", file.display());
    let mut created = 0;
    let full = loop {
        let out = c.kubectl(&["create", "configmap", &format!("big-{created}"), &from_file]);
        if !out.ok() {
            break out.stderr;
        }
        created += 1;
        assert!(created < 100, "a 32 MiB disk never filled");
    };
    // kubectl create configmap prints "error: failed to create configmap: <message>".
    assert!(
        full.trim()
            .ends_with(": etcdserver: mvcc: database space exceeded"),
        "after {created} objects: {full}"
    );
    assert!(created > 5, "only {created} objects fit");
    for i in 0..created {
        c.kubectl(&["delete", "configmap", &format!("big-{i}")])
            .success();
    }
    eventually("writes are accepted again", Duration::from_secs(30), || {
        c.kubectl(&["create", "configmap", "small", "--from-literal=k=v"])
            .ok()
            .then_some(())
    });
}
