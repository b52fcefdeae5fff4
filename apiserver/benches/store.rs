//! Store and watch benchmarks (`cargo bench -p apiserver --bench store`): create and update
//! throughput through the full write pipeline (decode, defaults, validation, SQLite commit,
//! publish), the delay from commit to an in-process watcher receiving the event, and the
//! reads over 10,000 ConfigMaps: `Api::get`, `Api::list`, a watch from `resourceVersion=0`,
//! and GET/LIST through the HTTP router (JSON encoding included, no TLS); and the size of the
//! store's files after 1,000 rewrites of a 100 KB object, before and after a compaction.
//! (The server's RSS per 10,000 ConfigMaps: `bench/store.sh`.)
//!
//! Each figure is the median of several rounds; latencies are per event (p50/p99 of all).

use std::time::{Duration, Instant};

use apiserver::{Api, Start, WriteOptions};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

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

/// Creates ConfigMaps `cm-0` .. `cm-{count - 1}` in `default`.
async fn create_configmaps(api: &Api, count: usize) {
    let configmaps = apiserver::resources::lookup("", "v1", "configmaps").expect("configmaps");
    for i in 0..count {
        api.create(
            configmaps,
            Some("default"),
            configmap(&format!("cm-{i}"), i),
            &WriteOptions::default(),
        )
        .await
        .expect("create");
    }
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
        create_configmaps(&api, WRITES).await;
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
    reads().await;
    history(true).await;
    history(false).await;
}

/// Rewrites of the big object in [`history`].
const REWRITES: usize = 1_000;
/// Rounds of [`history`] (each writes 100 MB).
const HISTORY_ROUNDS: usize = 3;

/// Bytes of the database and its WAL.
fn store_bytes(dir: &std::path::Path) -> u64 {
    ["state.db", "state.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// The store's files after [`REWRITES`] rewrites of a 100 KB ConfigMap, then after a
/// compaction to the newest revision; `bounded`: the default size bound on the log (the
/// periodic compaction does not tick during the run), otherwise no bound at all.
async fn history(bounded: bool) {
    let configmaps = apiserver::resources::lookup("", "v1", "configmaps").expect("configmaps");
    let options = WriteOptions::default();
    let mut store = apiserver::store::Options {
        compaction_interval: Duration::ZERO,
        ..apiserver::store::Options::default()
    };
    if !bounded {
        store.history_bytes = u64::MAX;
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for round in 0..HISTORY_ROUNDS {
        let dir = std::env::temp_dir().join(format!(
            "kubicle-bench-history-{}-{round}",
            std::process::id()
        ));
        let cluster = apiserver::ClusterConfig {
            store: store.clone(),
            ..apiserver::ClusterConfig::default()
        };
        let api = Api::open(&dir, cluster).await.expect("open");
        let big = |i: usize| {
            let text = format!("{i:08}{}", "x".repeat(100_000 - 8));
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"d": text}})
        };
        api.create(configmaps, Some("default"), big(0), &options)
            .await
            .expect("create");
        for i in 1..=REWRITES {
            api.replace(configmaps, Some("default"), "big", big(i), &options)
                .await
                .expect("replace");
        }
        // Let the maintenance task finish a size-bound compaction it started.
        tokio::time::sleep(Duration::from_secs(2)).await;
        before.push(store_bytes(&dir) as f64 / 1e6);
        let store = api.store();
        store.compact(store.revision()).await.expect("compact");
        after.push(store_bytes(&dir) as f64 / 1e6);
        store.close().await;
        drop(api);
        std::fs::remove_dir_all(&dir).ok();
    }
    let bound = if bounded {
        "default size bound (64 MiB of log)"
    } else {
        "no size bound"
    };
    println!(
        "store files after {REWRITES} rewrites of a 100 KB ConfigMap, {bound} (median of {HISTORY_ROUNDS} rounds)"
    );
    println!("  before a compaction: {:>8.2} MB", median(before));
    println!("  after a compaction:  {:>8.2} MB", median(after));
}

/// Objects the read benchmarks list.
const OBJECTS: usize = 10_000;

async fn reads() {
    let configmaps = apiserver::resources::lookup("", "v1", "configmaps").expect("configmaps");
    let dir = std::env::temp_dir().join(format!("kubicle-bench-reads-{}", std::process::id()));
    let api = Api::open(&dir, apiserver::ClusterConfig::default())
        .await
        .expect("open");
    create_configmaps(&api, OBJECTS).await;
    let mut gets = Vec::with_capacity(OBJECTS);
    for i in 0..OBJECTS {
        let name = format!("cm-{}", (i * 7919) % OBJECTS);
        let start = Instant::now();
        let object = api.get(configmaps, Some("default"), &name).expect("get");
        gets.push(start.elapsed());
        assert!(object["data"]["n"].is_string());
    }
    gets.sort();
    let none = apiserver::selector::LabelSelector::default();
    let no_fields = apiserver::selector::FieldSelector::default();
    let app = apiserver::selector::LabelSelector::parse("app=bench").expect("selector");
    let mut lists = Vec::new();
    let mut selected = Vec::new();
    let mut watches = Vec::new();
    for _ in 0..ROUNDS * 2 {
        let start = Instant::now();
        let (items, _) = api.list(configmaps, Some("default"), &none, &no_fields);
        lists.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(items.len(), OBJECTS);
        let start = Instant::now();
        let (items, _) = api.list(configmaps, Some("default"), &app, &no_fields);
        selected.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(items.len(), OBJECTS);
        let start = Instant::now();
        let mut watcher = api
            .watch(configmaps, Some("default"), Start::Now)
            .await
            .expect("watch");
        for _ in 0..OBJECTS {
            watcher.next().await.expect("initial event");
        }
        watches.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let router = apiserver::http::router(api.clone(), "bench");
    let mut http_lists = Vec::new();
    for _ in 0..ROUNDS * 2 {
        let start = Instant::now();
        let body = http_get(&router, "/api/v1/namespaces/default/configmaps").await;
        http_lists.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(body.len() > OBJECTS * 100);
    }
    let mut http_gets = Vec::with_capacity(1000);
    for i in 0..1000 {
        let uri = format!("/api/v1/namespaces/default/configmaps/cm-{}", i * 7);
        let start = Instant::now();
        http_get(&router, &uri).await;
        http_gets.push(start.elapsed());
    }
    http_gets.sort();
    println!(
        "reads over {OBJECTS} ConfigMaps (median of {} rounds)",
        ROUNDS * 2
    );
    println!(
        "  Api::get:                    p50 {:?}  p99 {:?}",
        percentile(&gets, 0.5),
        percentile(&gets, 0.99)
    );
    println!("  Api::list (all):             {:>8.2} ms", median(lists));
    println!(
        "  Api::list (app=bench):       {:>8.2} ms",
        median(selected)
    );
    println!("  watch from 0 (all ADDED):    {:>8.2} ms", median(watches));
    println!(
        "  HTTP LIST (JSON):            {:>8.2} ms",
        median(http_lists)
    );
    println!(
        "  HTTP GET (JSON):             p50 {:?}  p99 {:?}",
        percentile(&http_gets, 0.5),
        percentile(&http_gets, 0.99)
    );
    drop(router);
    drop(api);
    std::fs::remove_dir_all(&dir).ok();
}

async fn http_get(router: &axum::Router, uri: &str) -> bytes::Bytes {
    let request = http::Request::get(uri)
        .header("authorization", "Bearer bench")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), 200, "{uri}");
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}
