//! Queries per second and latency of cluster names over UDP, on loopback.
//!
//! Starts the server on 127.0.0.1:0 with 1,000 ClusterIP Services (plus 100 headless ones with
//! 3 endpoints each) in 10 namespaces, then a client on its own thread keeps a fixed number of
//! A queries in flight over a few UDP sockets and records each query's round trip.
//!
//! Run: `cargo bench --bench qps` (release profile). Knobs, from the environment:
//! `DNSD_BENCH_SERVER_THREADS` (tokio workers for the server, default 1),
//! `DNSD_BENCH_SECONDS` (per in-flight level, default 4), `DNSD_BENCH_IN_FLIGHT`
//! (comma-separated levels, default `1,8,32,128`), `DNSD_BENCH_MIX` (`a` = ClusterIP A only,
//! the default; `mixed` = 70% A, 10% headless A, 10% SRV, 10% NXDOMAIN).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RecordType};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

const SERVICES: usize = 1000;
const HEADLESS: usize = 100;
const NAMESPACES: usize = 10;
const SOCKETS: usize = 4;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fixture(config: &dnsd::Config) -> dnsd::Index {
    let index = dnsd::Index::new(config).expect("config");
    for i in 0..SERVICES {
        let ip = format!("10.96.{}.{}", 1 + i / 250, 1 + i % 250);
        index
            .upsert_service(&json!({"metadata": {"name": format!("svc-{i}"), "namespace": format!("ns-{}", i % NAMESPACES)},
                "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                    "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}}))
            .expect("service");
    }
    for i in 0..HEADLESS {
        let namespace = format!("ns-{}", i % NAMESPACES);
        index
            .upsert_service(
                &json!({"metadata": {"name": format!("hdls-{i}"), "namespace": namespace},
                "spec": {"clusterIP": "None", "clusterIPs": ["None"]}}),
            )
            .expect("service");
        let endpoints: Vec<_> = (0..3)
            .map(|e| json!({"addresses": [format!("10.244.{i}.{}", e + 1)], "conditions": {"ready": true}}))
            .collect();
        index
            .upsert_endpoint_slice(&json!({"metadata": {"name": format!("hdls-{i}-x"), "namespace": namespace,
                "labels": {"kubernetes.io/service-name": format!("hdls-{i}")}},
                "ports": [{"name": "http", "protocol": "TCP", "port": 80}], "endpoints": endpoints}))
            .expect("slice");
    }
    index.mark_synced();
    index
}

/// Pre-encoded queries; the client only rewrites the ID.
fn queries(mix: &str) -> Vec<Vec<u8>> {
    let encode = |name: String, qtype| {
        let mut message = Message::new(0, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(&name).expect("name"), qtype));
        message.to_vec().expect("encode")
    };
    let service = |i: usize| format!("svc-{i}.ns-{}.svc.cluster.local.", i % NAMESPACES);
    (0..SERVICES)
        .map(|i| match (mix, i % 10) {
            ("mixed", 7) => encode(
                format!(
                    "hdls-{}.ns-{}.svc.cluster.local.",
                    i % HEADLESS,
                    i % HEADLESS % NAMESPACES
                ),
                RecordType::A,
            ),
            ("mixed", 8) => encode(format!("_http._tcp.{}", service(i)), RecordType::SRV),
            ("mixed", 9) => encode(
                format!("missing-{i}.ns-0.svc.cluster.local."),
                RecordType::A,
            ),
            _ => encode(service(i), RecordType::A),
        })
        .collect()
}

struct Run {
    answered: usize,
    lost: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// One socket keeping `window` queries in flight until `until`.
async fn drive(
    server: SocketAddr,
    queries: Arc<Vec<Vec<u8>>>,
    window: usize,
    offset: usize,
    until: Instant,
) -> Run {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket.connect(server).await.expect("connect");
    let mut sent_at: Vec<Option<Instant>> = vec![None; 65536];
    let mut next_id: u16 = 0;
    let mut cursor = offset;
    let mut run = Run {
        answered: 0,
        lost: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut buf = vec![0u8; 4096];
    let send = |id: u16, cursor: &mut usize, sent_at: &mut Vec<Option<Instant>>| {
        let mut packet = queries[*cursor % queries.len()].clone();
        *cursor += 1;
        packet[..2].copy_from_slice(&id.to_be_bytes());
        sent_at[usize::from(id)] = Some(Instant::now());
        packet
    };
    let start = Instant::now();
    for _ in 0..window {
        let packet = send(next_id, &mut cursor, &mut sent_at);
        next_id = next_id.wrapping_add(1);
        socket.send(&packet).await.expect("send");
    }
    let mut outstanding = window;
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buf)).await {
            Ok(Ok(n)) if n >= 2 => {
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                if let Some(at) = sent_at[usize::from(id)].take() {
                    run.latencies.push(at.elapsed());
                    run.answered += 1;
                    let packet = send(next_id, &mut cursor, &mut sent_at);
                    next_id = next_id.wrapping_add(1);
                    socket.send(&packet).await.expect("send");
                }
            }
            Ok(_) => {}
            Err(_) => {
                // Lost datagrams: start the window again.
                run.lost += outstanding;
                sent_at.iter_mut().for_each(|s| *s = None);
                outstanding = window;
                for _ in 0..window {
                    let packet = send(next_id, &mut cursor, &mut sent_at);
                    next_id = next_id.wrapping_add(1);
                    socket.send(&packet).await.expect("send");
                }
            }
        }
    }
    run.elapsed = start.elapsed();
    run
}

/// CPU seconds used so far by this process's threads named `prefix*` (from /proc; Linux only).
fn cpu_seconds(prefix: &str) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(14) + field(15);
    }
    ticks as f64 / ticks_per_second
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The client thread: one current-thread runtime, `SOCKETS` sockets per in-flight level.
fn client(addr: SocketAddr, queries: Arc<Vec<Vec<u8>>>, levels: &str, seconds: u64) {
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    // Warm up.
    client_runtime.block_on(drive(
        addr,
        queries.clone(),
        8,
        0,
        Instant::now() + Duration::from_millis(500),
    ));
    for in_flight in levels
        .split(',')
        .filter_map(|l| l.trim().parse::<usize>().ok())
    {
        let sockets = SOCKETS.min(in_flight).max(1);
        let window = (in_flight / sockets).max(1);
        let until = Instant::now() + Duration::from_secs(seconds);
        let cpu_before = (cpu_seconds("dnsd-server"), cpu_seconds("dnsd-client"));
        let runs = client_runtime.block_on(async {
            let tasks: Vec<_> = (0..sockets)
                .map(|s| tokio::spawn(drive(addr, queries.clone(), window, s * 997, until)))
                .collect();
            let mut runs = Vec::new();
            for task in tasks {
                runs.push(task.await.expect("client task"));
            }
            runs
        });
        let server_cpu = cpu_seconds("dnsd-server") - cpu_before.0;
        let client_cpu = cpu_seconds("dnsd-client") - cpu_before.1;
        let answered: usize = runs.iter().map(|r| r.answered).sum();
        let lost: usize = runs.iter().map(|r| r.lost).sum();
        let elapsed = runs
            .iter()
            .map(|r| r.elapsed)
            .max()
            .unwrap_or(Duration::from_secs(1));
        let mut latencies: Vec<Duration> = runs.into_iter().flat_map(|r| r.latencies).collect();
        latencies.sort();
        let wall = elapsed.as_secs_f64();
        println!(
            "in flight {:>4}: {:>7.0} qps | server cpu {:>3.0}% = {:>7.0} q/cpu-s | client cpu {:>3.0}% | \
             p50 {:>6.1} us  p99 {:>7.1} us  p99.9 {:>7.1} us | {answered} answered, {lost} lost",
            sockets * window,
            answered as f64 / wall,
            100.0 * server_cpu / wall,
            answered as f64 / server_cpu.max(0.01),
            100.0 * client_cpu / wall,
            percentile(&latencies, 0.50).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
            percentile(&latencies, 0.999).as_secs_f64() * 1e6,
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let server_threads: usize = env("DNSD_BENCH_SERVER_THREADS", 1);
    let seconds: u64 = env("DNSD_BENCH_SECONDS", 4);
    let levels: String = env("DNSD_BENCH_IN_FLIGHT", "1,8,32,128".to_string());
    let mix: String = env("DNSD_BENCH_MIX", "a".to_string());

    let config = dnsd::Config {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        dns_service_ips: vec!["10.96.0.10".parse().expect("ip")],
        resolv_conf: "/nonexistent/resolv.conf".into(),
        ..dnsd::Config::default()
    };
    let index = Arc::new(fixture(&config));
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads)
        .thread_name("dnsd-server")
        .enable_all()
        .build()
        .expect("server runtime");
    let shutdown = CancellationToken::new();
    let server = server_runtime
        .block_on(dnsd::Server::bind(&config, index))
        .expect("bind");
    let addr = server.local_addrs()[0];
    let serving = server_runtime.spawn(server.run(shutdown.clone()));

    let queries = Arc::new(queries(&mix));
    println!(
        "dnsd qps bench: {SERVICES} ClusterIP + {HEADLESS} headless services, mix={mix}, \
         server on {addr} with {server_threads} tokio worker thread(s), client: 1 thread, {SOCKETS} sockets"
    );
    let client = std::thread::Builder::new()
        .name("dnsd-client".into())
        .spawn(move || client(addr, queries, &levels, seconds))
        .expect("client thread");
    client.join().expect("client");
    shutdown.cancel();
    let _ = server_runtime.block_on(serving);
}
