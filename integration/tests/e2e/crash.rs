//! Durability: a `kill -9` in the middle of a stream of writes loses no acknowledged write,
//! revisions keep growing after the restart, and a watch resumed from the last revision seen
//! before the crash misses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use integration::{Cluster, eventually, patience as wait};
use rand::Rng;

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
    apply.wait_for(Duration::from_secs(60), |l| l.contains("cm-080"));
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

/// What a ConfigMap of the kill loop may be after a crash: gone, or holding a round's value.
type State = Option<u32>;

/// The kill loop's random numbers, seeded from `KUBICLE_SEED` or at random, the seed
/// printed so that a failing run can be replayed.
fn dice() -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let seed = std::env::var("KUBICLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill loop seed: KUBICLE_SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// The names kubectl reported as written, by its words (`configmap/x created`, `configmap/x
/// configured`, `configmap "x" deleted`).
fn acknowledged(lines: &[String], word: &str) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("configmap/")
                .or(l.strip_prefix("configmap \""))?;
            let name = rest.strip_suffix(&format!(" {word}"))?;
            Some(name.trim_end_matches('"').to_string())
        })
        .collect()
}

/// Every ConfigMap of the loop (`kl-*`) and its round, as the server has them now.
fn configmap_rounds(c: &Cluster) -> BTreeMap<String, u32> {
    let list: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "--raw", "/api/v1/namespaces/default/configmaps"])
            .success(),
    )
    .expect("list");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|cm| {
            let name = cm["metadata"]["name"].as_str()?;
            let round = cm["data"]["round"].as_str()?.parse().ok()?;
            name.starts_with("kl-").then(|| (name.to_string(), round))
        })
        .collect()
}

const CHURN: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: churn}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: churn}}\n  template:\n    metadata: {labels: {app: churn}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";

/// The manifests of one round: every live ConfigMap rewritten with the round, a few new ones
/// and a Service (a ClusterIP to allocate).
fn round_manifests(round: u32, names: &[String]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: kl-{round}}}\nspec:\n  selector: {{app: churn}}\n  ports: [{{port: 80}}]\n---\n"
    );
    for name in names {
        text.push_str(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{round: \"{round}\"}}\n---\n"
        ));
    }
    text
}

/// Checks the ConfigMaps after a crash against what was acknowledged before it, and returns
/// the states now known. A write kubectl reported must be there; one it did not report may or
/// may not have landed (it was in flight), but nothing else may have changed.
fn check_after_crash(
    known: &BTreeMap<String, State>,
    round: u32,
    written: &BTreeSet<String>,
    deleted: &BTreeSet<String>,
    deleting: &BTreeSet<String>,
    now: &BTreeMap<String, u32>,
) -> BTreeMap<String, State> {
    let mut next = BTreeMap::new();
    let names = known.keys().chain(now.keys());
    for name in names.collect::<BTreeSet<_>>() {
        let before = known.get(name).copied().flatten();
        let after = now.get(name).copied();
        let allowed: Vec<State> = if deleted.contains(name) {
            vec![None]
        } else if deleting.contains(name) {
            vec![before, None]
        } else if written.contains(name) {
            vec![Some(round)]
        } else {
            // Possibly the write in flight when the server died.
            vec![before, Some(round)]
        };
        assert!(
            allowed.contains(&after),
            "round {round}: {name} is {after:?}, allowed {allowed:?}"
        );
        next.insert(name.clone(), after);
    }
    next
}

/// Twenty `kill -9`s at random moments while kubectl writes, rewrites and deletes ConfigMaps,
/// creates Services and scales a Deployment: after each restart every acknowledged write is
/// there and nothing else changed; at the end the ClusterIPs and pod IPs are unique, every pod
/// runs, and the node holds exactly the live pods' netns, veths, mounts, cgroups and processes.
#[test]
fn kill_9_loop_loses_nothing_and_leaks_nothing() {
    if !integration::root_or_skip() {
        return;
    }
    let mut c = Cluster::start("kill-loop");
    let dir = c.data_dir.parent().expect("test dir").to_path_buf();
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(CHURN))
        .success();
    let mut dice = dice();
    let mut known: BTreeMap<String, State> = Default::default();
    let mut services = BTreeSet::new();
    let mut totals = (0, 0);
    for round in 1..=20u32 {
        let mut live: Vec<String> = known
            .iter()
            .filter(|(_, s)| s.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        // The oldest few are deleted while the rest are rewritten and new ones created.
        let doomed: Vec<String> = live.drain(..live.len().saturating_sub(24).min(6)).collect();
        live.extend((0..8).map(|i| format!("kl-{round}-{i}")));
        let file = dir.join(format!("round-{round}.yaml"));
        std::fs::write(&file, round_manifests(round, &live)).expect("manifests");
        let apply = c.kubectl_stream(&[
            "apply",
            "--validate=false",
            "-f",
            file.to_str().expect("utf-8"),
        ]);
        let mut delete_args = vec!["delete", "configmap", "--wait=false"];
        delete_args.extend(doomed.iter().map(String::as_str));
        let delete = (!doomed.is_empty()).then(|| c.kubectl_stream(&delete_args));
        let replicas = dice.random_range(1..=4u32).to_string();
        let scale = c.kubectl_stream(&["scale", "deployment", "churn", "--replicas", &replicas]);
        std::thread::sleep(Duration::from_millis(dice.random_range(50..1_250)));
        c.kill9();
        let lines = apply.finish(wait());
        let written: BTreeSet<String> = acknowledged(&lines, "created")
            .union(&acknowledged(&lines, "configured"))
            .cloned()
            .collect();
        services.extend(
            lines
                .iter()
                .filter_map(|l| l.strip_prefix("service/")?.strip_suffix(" created"))
                .map(str::to_string),
        );
        let deleted = delete.map_or_else(Default::default, |d| {
            acknowledged(&d.finish(wait()), "deleted")
        });
        drop(scale);
        c.restart();
        let deleting = doomed.iter().cloned().collect();
        totals.0 += written.len();
        totals.1 += deleted.len();
        known = check_after_crash(
            &known,
            round,
            &written,
            &deleted,
            &deleting,
            &configmap_rounds(&c),
        );
    }
    eprintln!(
        "acknowledged: {totals:?} writes and deletes, {} Services",
        services.len()
    );
    assert!(
        totals.0 > 100 && totals.1 > 0,
        "the loop wrote too little: {totals:?}"
    );
    c.kubectl(&["scale", "deployment", "churn", "--replicas", "3"])
        .success();
    check_services_and_pods(&c, &services);
    check_node_holds_only_live_pods(&c);
}

/// Every acknowledged Service is there with its own ClusterIP; the Deployment's three pods run, each on its own IP.
fn check_services_and_pods(c: &Cluster, acknowledged: &BTreeSet<String>) {
    let names = c.jsonpath(&["services"], "{.items[*].metadata.name}");
    let names: BTreeSet<String> = names.split_whitespace().map(str::to_string).collect();
    assert!(
        names.is_superset(acknowledged),
        "{names:?} lost some of {acknowledged:?}"
    );
    let ips = c.jsonpath(&["services"], "{.items[*].spec.clusterIP}");
    let ips: Vec<&str> = ips.split_whitespace().collect();
    let unique: BTreeSet<&&str> = ips.iter().collect();
    assert_eq!(unique.len(), ips.len(), "duplicate ClusterIPs: {ips:?}");
    assert_eq!(ips.len(), names.len(), "every Service has a ClusterIP");
    eventually("the Deployment's 3 pods run, and no others", wait(), || {
        let pods: serde_json::Value =
            serde_json::from_str(c.kubectl(&["get", "pods", "-o", "json"]).success()).ok()?;
        let items = pods["items"].as_array()?;
        let running = items
            .iter()
            .filter(|p| {
                p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
            })
            .count();
        (items.len() == 3 && running == 3).then_some(())
    });
    let pod_ips = c.jsonpath(&["pods"], "{.items[*].status.podIP}");
    let pod_ips: Vec<&str> = pod_ips.split_whitespace().collect();
    let unique: BTreeSet<&&str> = pod_ips.iter().collect();
    assert_eq!(
        (pod_ips.len(), unique.len()),
        (3, 3),
        "pod IPs: {pod_ips:?}"
    );
}

/// The node holds a netns mount, a veth, a cgroup (with processes) for each live pod and
/// nothing for any other: nothing leaked through twenty crashes.
fn check_node_holds_only_live_pods(c: &Cluster) {
    let uids = c.jsonpath(&["pods"], "{.items[*].metadata.uid}");
    let live: BTreeSet<String> = uids.split_whitespace().map(str::to_string).collect();
    let cgroup = c
        .host_names()
        .cgroup_dir
        .clone()
        .expect("the cluster's cgroup");
    let holder = c.netns_pid().expect("the cluster's namespaces");
    let data_dir = c.data_dir.display().to_string();
    eventually("the node holds exactly the live pods", wait(), || {
        let dirs = |path: &Path| -> BTreeSet<String> {
            std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        let cgroups = dirs(&cgroup);
        let netns: BTreeSet<String> = std::fs::read_dir(c.data_dir.join("run/netns"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mounts = std::fs::read_to_string(format!("/proc/{holder}/mountinfo")).ok()?;
        // Every mount of the cluster but the netns directory itself (shared, as `ip netns`
        // makes it) is a pod's: its netns and IPC namespace.
        let netns_dir = format!(" {data_dir}/run/netns ");
        let ours: Vec<&str> = mounts
            .lines()
            .filter(|l| l.contains(&data_dir) && !l.contains(&netns_dir))
            .collect();
        let mounted = ours.len();
        let stray = ours
            .iter()
            .any(|l| !live.iter().any(|uid| l.contains(uid.as_str())));
        let links = integration::run(c.on_node("ip").args(["-br", "link"]), None, wait());
        let veths = links.stdout.lines().filter(|l| l.contains('@')).count();
        let empty = cgroups
            .iter()
            .any(|pod| processes_under(&cgroup.join(pod)) == 0);
        let stray = stray || strays(&data_dir, c.pid(), &live) > 0;
        let state = (cgroups.clone(), netns.clone(), mounted, veths, empty, stray);
        eprintln!("node: {state:?}, live: {live:?}");
        (cgroups == live && netns == live && mounted >= live.len() && veths == live.len())
            .then_some(())
            .filter(|()| !empty && !stray)
    });
}

/// How many processes a cgroup and its descendants hold.
fn processes_under(dir: &Path) -> usize {
    let here =
        std::fs::read_to_string(dir.join("cgroup.procs")).map_or(0, |procs| procs.lines().count());
    let below: usize = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| processes_under(&e.path()))
        .sum();
    here + below
}

/// Processes started for this cluster (their command line names its data dir: the server and
/// every `kubicle init`) that belong to no live pod.
fn strays(data_dir: &str, server: Option<u32>, live: &BTreeSet<String>) -> usize {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) != server)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmd| String::from_utf8_lossy(&cmd).replace('\0', " "))
        .filter(|cmd| cmd.contains(data_dir))
        .filter(|cmd| !live.iter().any(|uid| cmd.contains(uid.as_str())))
        .inspect(|cmd| eprintln!("stray process: {cmd}"))
        .count()
}
