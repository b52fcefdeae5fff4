//! Controller benchmark (`cargo bench -p apiserver --bench controllers`): 1,000 Services and
//! 1,000 pods behind them, in process with every controller running. Reports the latency of
//! a Service create (ClusterIP allocation included) and, per pod, the delay from its status
//! write (Ready, with a pod IP, as a kubelet writes it) to the EndpointSlice that lists it as
//! ready appearing on the watch hub. p50/p99 over all 1,000.

use std::time::{Duration, Instant};

use apiserver::{Api, ClusterConfig, Start, WriteOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const N: usize = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "  {what}: p50 {:?}  p99 {:?}  max {:?}  (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or_default(),
        v.len()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir =
        std::env::temp_dir().join(format!("kubicle-bench-controllers-{}", std::process::id()));
    let api = Api::open(&dir, ClusterConfig::default())
        .await
        .expect("open");
    let shutdown = CancellationToken::new();
    let mut controllers = apiserver::controllers::spawn(&api, &shutdown);
    let services = apiserver::resources::lookup("", "v1", "services").expect("services");
    let pods = apiserver::resources::lookup("", "v1", "pods").expect("pods");
    let slices =
        apiserver::resources::lookup("discovery.k8s.io", "v1", "endpointslices").expect("slices");
    let options = WriteOptions::default();

    let mut allocation = Vec::with_capacity(N);
    for i in 0..N {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}")},
                         "spec": {"selector": {"app": format!("a-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}});
        let start = Instant::now();
        let created = api
            .create(services, Some("default"), svc, &options)
            .await
            .expect("service");
        allocation.push(start.elapsed());
        assert!(created.object["spec"]["clusterIP"].is_string());
    }
    for i in 0..N {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i}"), "labels": {"app": format!("a-{i}")}},
                         "spec": {"containers": [{"name": "c", "image": "kubicle/demo"}]}});
        api.create(pods, Some("default"), pod, &options)
            .await
            .expect("pod");
    }
    // Let the scheduler bind the pods and the endpoints controller settle.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut watcher = api
        .watch(
            slices,
            Some("default"),
            Start::After(api.store().revision()),
        )
        .await
        .expect("watch");
    let mut endpoint_delay = Vec::with_capacity(N);
    for i in 0..N {
        let name = format!("pod-{i}");
        let ip = format!("10.244.{}.{}", i / 250, i % 250 + 2);
        let mut pod =
            serde_json::Value::clone(&*api.get(pods, Some("default"), &name).expect("pod"));
        pod["status"] = json!({"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                               "conditions": [{"type": "Ready", "status": "True"}]});
        let start = Instant::now();
        api.replace_status(pods, Some("default"), &name, pod, &options)
            .await
            .expect("status");
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), watcher.next())
                .await
                .expect("slice update within 10 s")
                .expect("event");
            let ready = event.object["endpoints"].as_array().is_some_and(|eps| {
                eps.iter()
                    .any(|e| e["addresses"][0] == ip.as_str() && e["conditions"]["ready"] == true)
            });
            if ready {
                endpoint_delay.push(start.elapsed());
                break;
            }
        }
    }
    println!("controller benchmark: {N} Services, {N} pods (one per Service), in process");
    report("service create (with ClusterIP allocation)", allocation);
    report("pod Ready -> EndpointSlice on the hub", endpoint_delay);
    shutdown.cancel();
    while controllers.join_next().await.is_some() {}
    drop(api);
    std::fs::remove_dir_all(&dir).ok();
}
