//! Durability: a `kill -9` in the middle of a stream of writes loses no acknowledged write,
//! revisions keep growing after the restart, and a watch resumed from the last revision seen
//! before the crash misses nothing.

use integration::Cluster;

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_write() {
    let mut c = Cluster::start("crash");
    let dir = c.data_dir.parent().expect("test dir").join("manifests");
    std::fs::create_dir_all(&dir).expect("manifest dir");
    for i in 0..200 {
        let manifest = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:03}\ndata:\n  n: \"{i}\"\n"
        );
        std::fs::write(dir.join(format!("cm-{i:03}.yaml")), manifest).expect("write manifest");
    }
    let before: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "--raw", "/api/v1/namespaces/default/configmaps"])
            .success(),
    )
    .expect("list");
    let start_revision: u64 = before["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");

    let mut apply = c.kubectl_stream(&[
        "apply",
        "--validate=false",
        "-f",
        dir.to_str().expect("utf-8"),
    ]);
    // Crash the server once a good part of the stream has been acknowledged.
    apply.wait_for(std::time::Duration::from_secs(60), |l| l.contains("cm-080"));
    c.kill9();
    // Every "created" line kubectl printed is a write the server acknowledged (2xx).
    let acknowledged: Vec<String> = apply
        .seen
        .iter()
        .filter_map(|l| {
            l.strip_prefix("configmap/")?
                .strip_suffix(" created")
                .map(str::to_string)
        })
        .collect();
    drop(apply);
    assert!(
        acknowledged.len() >= 81,
        "{} acknowledged",
        acknowledged.len()
    );

    c.restart();
    let after: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "--raw", "/api/v1/namespaces/default/configmaps"])
            .success(),
    )
    .expect("list");
    let names: Vec<&str> = after["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    for name in &acknowledged {
        assert!(
            names.contains(&name.as_str()),
            "acknowledged {name} was lost"
        );
    }
    let restart_revision: u64 = after["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");
    assert!(restart_revision >= start_revision + acknowledged.len() as u64);

    c.kubectl(&["create", "configmap", "after-restart"])
        .success();
    let created: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "configmap", "after-restart", "-o", "json"])
            .success(),
    )
    .expect("get");
    let new_revision: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");
    assert!(
        new_revision > restart_revision,
        "revisions must keep growing: {new_revision} <= {restart_revision}"
    );

    // Resume a watch from before the crash: every write since is replayed, in order.
    let watch = c.kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start_revision}&timeoutSeconds=2"),
    ]);
    let events: Vec<serde_json::Value> = watch
        .success()
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line"))
        .collect();
    let replayed: Vec<&str> = events
        .iter()
        .filter_map(|e| e["object"]["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        replayed.len(),
        names.len() + 1,
        "one ADDED per stored object, plus the new one"
    );
    assert_eq!(replayed.last(), Some(&"after-restart"));
    let revisions: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "events out of order: {revisions:?}"
    );
}
