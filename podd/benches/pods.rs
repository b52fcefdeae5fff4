//! Pod start benchmark (root; run through `bench/pods.sh`, which builds the kubicle binary
//! the containers' init runs from). In a network and mount namespace of its own, with the
//! API, the scheduler and podd in this process: the time from a pod's create to its status
//! showing phase Running with a pod IP, p50/p99 over 100 pods created one by one and 100
//! created at once; beside it the same network work done by hand (`ip netns add`, a veth into
//! it, `ip netns exec true`); and this process's RSS with 0 and with 100 pods.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use apiserver::{Api, ClusterConfig, Start, WriteOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const N: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "  {what}: p50 {:.2?}  p99 {:.2?}  max {:.2?}  (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or_default(),
        v.len()
    );
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: the pod benchmark needs root");
        return;
    }
    let Some(exe) = std::env::var_os("KUBICLE_BIN") else {
        eprintln!("set KUBICLE_BIN to a built kubicle binary (bench/pods.sh does)");
        std::process::exit(2);
    };
    // Own network and mount namespaces before any thread exists: nothing touches the host.
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
        .expect("unshare net and mount namespaces");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make mounts private");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(std::path::PathBuf::from(exe)));
}

async fn wait_running(
    watcher: &mut apiserver::Watcher,
    created: &HashMap<String, Instant>,
    done: &mut HashMap<String, Duration>,
    until: usize,
) {
    while done.len() < until {
        let event = tokio::time::timeout(Duration::from_secs(60), watcher.next())
            .await
            .expect("pods start within 60 s")
            .expect("event");
        let status = &event.object["status"];
        if status["phase"] == "Running"
            && status["podIP"].is_string()
            && !done.contains_key(&event.name)
        {
            if let Some(t0) = created.get(&event.name) {
                done.insert(event.name.clone(), t0.elapsed());
            }
        }
    }
}

/// One pod's network by hand (`ip netns add`, a veth into it, `ip netns exec true`): the time
/// from `start` until it is done, or `None` if a command failed; with `clean_up` it removes
/// them again (a burst leaves that to the end, outside the timing).
fn by_hand_pod(i: usize, start: Instant, clean_up: bool) -> Option<Duration> {
    let (ns, veth) = (format!("kbench{i}"), format!("kbh{i}"));
    let ok = [
        vec!["netns", "add", &ns],
        vec![
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ],
        vec!["netns", "exec", &ns, "true"],
    ]
    .iter()
    .all(|args| {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    });
    let took = start.elapsed();
    if clean_up {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &veth])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &ns])
            .status();
    }
    ok.then_some(took)
}

async fn run(exe: std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kubicle-bench-pods-{}", std::process::id()));
    let pod_cidr: ipnet::Ipv4Net = "10.244.0.0/16".parse().expect("cidr");
    let netd = netd::Netd::start(netd::Config {
        bridge: "kubicle0".into(),
        pod_cidr,
        run_dir: dir.join("run"),
        veth_prefix: "kv".into(),
        nft_table: "kubicle-bench".into(),
    })
    .await
    .expect("node network");
    let cluster = ClusterConfig {
        node_name: "bench".into(),
        node_ip: "10.244.0.1".parse().expect("ip"),
        pod_runtime: true,
        ..ClusterConfig::default()
    };
    let api = Api::open(&dir, cluster).await.expect("open");
    let shutdown = CancellationToken::new();
    let mut controllers = apiserver::controllers::spawn(&api, &shutdown);
    let config = podd::Config {
        node_name: "bench".into(),
        node_ip: "10.244.0.1".parse().expect("ip"),
        pod_cidr,
        state_dir: dir.join("run/pods"),
        cgroup_root: podd::cgroup::cluster_dir(&format!("bench-{}", std::process::id())),
        kubicle_exe: exe,
        cluster_dns: "10.96.0.10".parse().expect("ip"),
        cluster_domain: "cluster.local".into(),
        host_resolv_conf: String::new(),
    };
    let netd = std::sync::Arc::new(netd);
    let podd_task = tokio::spawn(podd::run(
        api.clone(),
        netd.clone(),
        config,
        shutdown.clone(),
    ));
    let pods = apiserver::resources::lookup("", "v1", "pods").expect("pods");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_idle = rss_kib();

    let pod = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "kubicle/host", "command": ["sleep", "3600"]}]}})
    };
    let options = WriteOptions::default();
    let mut watcher = api
        .watch(pods, Some("default"), Start::After(api.store().revision()))
        .await
        .expect("watch");
    let mut created = HashMap::new();
    let mut done = HashMap::new();
    for i in 0..N {
        let name = format!("one-{i}");
        created.insert(name.clone(), Instant::now());
        api.create(pods, Some("default"), pod(&name), &options)
            .await
            .expect("create");
        wait_running(&mut watcher, &created, &mut done, i + 1).await;
    }
    let one_by_one: Vec<Duration> = done.values().copied().collect();
    let rss_loaded = rss_kib();

    let mut batch_done = HashMap::new();
    let mut batch_created = HashMap::new();
    for i in 0..N {
        let name = format!("batch-{i}");
        batch_created.insert(name.clone(), Instant::now());
        api.create(pods, Some("default"), pod(&name), &options)
            .await
            .expect("create");
    }
    wait_running(&mut watcher, &batch_created, &mut batch_done, N).await;
    let at_once: Vec<Duration> = batch_done.values().copied().collect();

    // The same network work by hand, for the floor: one by one, then all at once.
    let by_hand: Vec<Duration> = (0..N)
        .filter_map(|i| by_hand_pod(i, Instant::now(), true))
        .collect();
    let burst_start = Instant::now();
    let by_hand_burst: Vec<Duration> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..N)
            .map(|i| scope.spawn(move || by_hand_pod(i, burst_start, false)))
            .collect();
        threads
            .into_iter()
            .filter_map(|t| t.join().ok().flatten())
            .collect()
    });
    for i in 0..N {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &format!("kbh{i}")])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &format!("kbench{i}")])
            .status();
    }

    println!(
        "pod benchmark: {N} pods (kubicle/host, sleep), create -> Running with a pod IP, in process"
    );
    report("one by one", one_by_one);
    report("100 at once", at_once);
    if by_hand.len() == N {
        report(
            "by hand, one by one: ip netns add + veth + ip netns exec true",
            by_hand,
        );
    }
    if by_hand_burst.len() == N {
        report("by hand, 100 at once (one thread each)", by_hand_burst);
    }
    println!(
        "  RSS: {rss_idle} KiB with 0 pods, {rss_loaded} KiB with {N} pods ({:.1} KiB per pod; containers are separate processes)",
        (rss_loaded.saturating_sub(rss_idle)) as f64 / N as f64
    );
    shutdown.cancel();
    let stop_started = Instant::now();
    if tokio::time::timeout(Duration::from_secs(60), podd_task)
        .await
        .is_err()
    {
        eprintln!("podd did not stop its {} pods within 60 s", 2 * N);
    } else {
        println!(
            "  stopping {} pods took {:.2?}",
            2 * N,
            stop_started.elapsed()
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while controllers.join_next().await.is_some() {}
    })
    .await;
    podd::cgroup::remove_cluster(&format!("bench-{}", std::process::id()));
    // Unmount what netd mounted under the run dir, so the directory can go.
    if let Err(e) = netd.teardown().await {
        eprintln!("tear the node network down: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
