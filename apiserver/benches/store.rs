//! Store and watch benchmarks (`cargo bench -p apiserver`): create and update throughput
//! through the full write pipeline (decode, defaults, validation, SQLite commit, publish), and
//! the delay from commit to an in-process watcher receiving the event.
//!
//! Each figure is the median of several rounds; latencies are per event (p50/p99 of all).

use std::time::{Duration, Instant};

use apiserver::{Api, Start, WriteOptions};
use serde_json::json;

const ROUNDS: usize = 5;
const WRITES: usize = 2_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn configmap(name: &str, value: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}}, "data": {"n": value.to_string()}})
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let configmaps = apiserver::resources::lookup("", "v1", "configmaps").expect("configmaps");
    let options = WriteOptions::default();
    let mut create_rates = Vec::new();
    let mut update_rates = Vec::new();
    let mut delays = Vec::new();
    for round in 0..ROUNDS {
        let dir =
            std::env::temp_dir().join(format!("kubicle-bench-{}-{round}", std::process::id()));
        let api = Api::open(&dir, apiserver::ClusterConfig::default())
            .await
            .expect("open");
        let mut watcher = api
            .watch(
                configmaps,
                Some("default"),
                Start::After(api.store().revision()),
            )
            .await
            .expect("watch");
        let expected = 2 * WRITES;
        let receiver = tokio::spawn(async move {
            let mut delays = Vec::with_capacity(expected);
            for _ in 0..expected {
                let event = watcher.next().await.expect("event");
                delays.push(event.published.elapsed());
            }
            delays
        });

        let start = Instant::now();
        for i in 0..WRITES {
            api.create(
                configmaps,
                Some("default"),
                configmap(&format!("cm-{i}"), i),
                &options,
            )
            .await
            .expect("create");
        }
        create_rates.push(WRITES as f64 / start.elapsed().as_secs_f64());

        let start = Instant::now();
        for i in 0..WRITES {
            let name = format!("cm-{i}");
            api.replace(
                configmaps,
                Some("default"),
                &name,
                configmap(&name, i + 1),
                &options,
            )
            .await
            .expect("replace");
        }
        update_rates.push(WRITES as f64 / start.elapsed().as_secs_f64());
        delays.extend(receiver.await.expect("receiver"));
        drop(api);
        std::fs::remove_dir_all(&dir).ok();
    }
    delays.sort();
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!("store benchmark: {ROUNDS} rounds x {WRITES} writes each (median of rounds)");
    println!("  create:  {:>8.0} writes/s", median(create_rates));
    println!("  replace: {:>8.0} writes/s", median(update_rates));
    println!(
        "  commit -> in-process watch event: p50 {:?}  p99 {:?}  max {:?}  ({} events)",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or_default(),
        delays.len()
    );
    println!("  peak RSS {}", rss_kib.trim_start_matches("VmHWM:").trim());
}
