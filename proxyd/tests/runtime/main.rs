//! Runtime tests of the proxy on loopback: balancing, failover, affinity, UDP flows, resets,
//! updates that keep connections, bind failures and bulk transfers with half-close.

mod bulk;
mod support;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use proxyd::{Config, ListenerKind, Protocol};
use serde_json::json;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

/// Counts the answers of `n` connections to `addr`, `concurrency` at a time.
async fn spread(addr: SocketAddr, n: usize, concurrency: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tasks.spawn(ask(addr));
        if tasks.len() >= concurrency || i == n - 1 {
            while let Some(answer) = tasks.join_next().await {
                let answer = answer.expect("task").expect("connection through the vip");
                *counts.entry(answer).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreads_connections_over_ready_endpoints_only() {
    let vip = ip(1, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(1, 11), "a").await;
    let (b, _) = id_server(ip(1, 12), "b").await;
    let (c, _) = id_server(ip(1, 13), "c").await;
    let (not_ready, _) = id_server(ip(1, 14), "not-ready").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let endpoints = [(a, true), (b, true), (c, true), (not_ready, false)];
    let report = proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &endpoints),
        ))
        .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.opened, 1);

    let counts = spread(SocketAddr::new(vip, port), 300, 10).await;
    assert_eq!(counts.get("not-ready"), None);
    for id in ["a", "b", "c"] {
        let n = counts.get(id).copied().unwrap_or(0);
        assert!((60..=140).contains(&n), "{id}: {n} of 300 ({counts:?})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_endpoint_mid_run_fails_no_new_connection() {
    let vip = ip(2, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(2, 11), "a").await;
    let (b, _) = id_server(ip(2, 12), "b").await;
    let (c, c_server) = id_server(ip(2, 13), "c").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let svc = [service("web", vip, port, "TCP")];
    proxy
        .apply(table(
            &svc,
            &slices("web", "TCP", &[(a, true), (b, true), (c, true)]),
        ))
        .await;

    let addr = SocketAddr::new(vip, port);
    let clients = tokio::spawn(async move {
        let mut answers = Vec::new();
        for _ in 0..400 {
            answers.push(ask(addr).await);
        }
        answers
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The endpoint goes away, then the pod behind it: the order a graceful delete gives.
    proxy
        .apply(table(&svc, &slices("web", "TCP", &[(a, true), (b, true)])))
        .await;
    // A connection the proxy had already handed to c finishes within the pod's grace
    // period, as on a real delete; only new connections are the point here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    c_server.abort();
    let answers = clients.await.expect("clients");
    let failures: Vec<_> = answers.iter().filter(|a| a.is_err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let after = spread(addr, 60, 6).await;
    assert_eq!(after.get("c"), None, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_endpoint_costs_no_failed_connection() {
    let vip = ip(3, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(3, 11), "a").await;
    let (b, _) = id_server(ip(3, 12), "b").await;
    // A ready endpoint whose port nothing listens on: connect is refused.
    let closed = SocketAddr::new(ip(3, 13), free_port(ip(3, 13)));
    let (proxy, _shutdown) = proxy(Config::default());
    let endpoints = [(a, true), (b, true), (closed, true)];
    proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &endpoints),
        ))
        .await;
    let counts = spread(SocketAddr::new(vip, port), 200, 10).await;
    assert_eq!(counts.values().sum::<usize>(), 200);
    assert!(counts["a"] > 0 && counts["b"] > 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_times_out_costs_no_failed_connection() {
    let vip = ip(17, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(17, 11), "a").await;
    // A listener that never accepts, with its accept queue full: the kernel drops further
    // SYNs, so connecting to it hangs until the proxy's connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(ip(17, 12), 0)).expect("bind");
    let stuck = socket.listen(1).expect("listen");
    let stuck_addr = stuck.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(stuck_addr)).await
        {
            fillers.push(stream);
        }
    }
    let config = Config {
        connect_timeout: Duration::from_millis(150),
        ..Config::default()
    };
    let (proxy, _shutdown) = proxy(config);
    let endpoints = [(a, true), (stuck_addr, true)];
    proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &endpoints),
        ))
        .await;
    let started = std::time::Instant::now();
    let counts = spread(SocketAddr::new(vip, port), 20, 20).await;
    assert_eq!(counts.get("a"), Some(&20), "{counts:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "no connect timed out"
    );
    drop(fillers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ip_affinity_pins_a_client_to_one_endpoint() {
    let vip = ip(4, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(4, 11), "a").await;
    let (b, _) = id_server(ip(4, 12), "b").await;
    let (c, _) = id_server(ip(4, 13), "c").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let mut svc = service("web", vip, port, "TCP");
    svc["spec"]["sessionAffinity"] = json!("ClientIP");
    svc["spec"]["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 60}});
    proxy
        .apply(table(
            &[svc],
            &slices("web", "TCP", &[(a, true), (b, true), (c, true)]),
        ))
        .await;

    let addr = SocketAddr::new(vip, port);
    let mut pinned_to = Vec::new();
    for client in 0..12u8 {
        let from = Some(ip(4, 100 + client));
        let first = ask_from(from, addr).await.expect("first connection");
        for _ in 0..10 {
            assert_eq!(
                ask_from(from, addr).await.expect("connection"),
                first,
                "client {client}"
            );
        }
        pinned_to.push(first);
    }
    pinned_to.sort();
    pinned_to.dedup();
    assert!(pinned_to.len() > 1, "every client pinned to {pinned_to:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flows_stick_to_one_endpoint_and_move_when_it_goes() {
    let vip = ip(5, 1);
    let port = {
        let socket = std::net::UdpSocket::bind((vip, 0)).expect("bind");
        socket.local_addr().expect("addr").port()
    };
    let (a, _) = udp_id_server(ip(5, 11), "a").await;
    let (b, _) = udp_id_server(ip(5, 12), "b").await;
    let (c, _) = udp_id_server(ip(5, 13), "c").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let svc = [service("dns", vip, port, "UDP")];
    let report = proxy
        .apply(table(
            &svc,
            &slices("dns", "UDP", &[(a, true), (b, true), (c, true)]),
        ))
        .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let addr = SocketAddr::new(vip, port);
    async fn exchange(socket: &UdpSocket, addr: SocketAddr, payload: &str) -> String {
        socket
            .send_to(payload.as_bytes(), addr)
            .await
            .expect("send");
        let mut buffer = [0u8; 2048];
        let (len, from) =
            tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buffer))
                .await
                .expect("a reply in time")
                .expect("recv");
        assert_eq!(from, addr, "the reply comes from the vip");
        let reply = String::from_utf8_lossy(&buffer[..len]).to_string();
        let (id, echoed) = reply.split_once(':').expect("id:payload");
        assert_eq!(echoed, payload);
        id.to_string()
    }
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for client in 0..8u8 {
        let socket = UdpSocket::bind((ip(5, 100 + client), 0))
            .await
            .expect("bind client");
        let first = exchange(&socket, addr, "hello").await;
        for i in 0..10 {
            assert_eq!(exchange(&socket, addr, &format!("ping {i}")).await, first);
        }
        ids.push(first.clone());
        clients.push((socket, first));
    }
    ids.sort();
    ids.dedup();
    assert!(ids.len() > 1, "all flows went to {ids:?}");

    // Only "a" is left: every flow now lands there, the others' flows are replaced.
    proxy
        .apply(table(&svc, &slices("dns", "UDP", &[(a, true)])))
        .await;
    for (socket, _) in &clients {
        assert_eq!(exchange(socket, addr, "again").await, "a");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flows_expire_after_the_idle_timeout() {
    // Real time, short timeout: the flows run over real sockets, which a paused clock would
    // race. The backend answers with the proxy's source port, which is one socket per flow.
    let vip = ip(6, 1);
    let port = {
        let socket = std::net::UdpSocket::bind((vip, 0)).expect("bind");
        socket.local_addr().expect("addr").port()
    };
    let (a, _) = udp_port_server(ip(6, 11)).await;
    let idle = Duration::from_millis(300);
    let (proxy, _shutdown) = proxy(Config {
        udp_idle_timeout: idle,
        ..Config::default()
    });
    proxy
        .apply(table(
            &[service("dns", vip, port, "UDP")],
            &slices("dns", "UDP", &[(a, true)]),
        ))
        .await;
    let client = UdpSocket::bind((ip(6, 100), 0)).await.expect("bind client");
    let addr = SocketAddr::new(vip, port);
    let flow_port = async || {
        client.send_to(b"x", addr).await.expect("send");
        let mut buffer = [0u8; 64];
        let (len, _) = tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buffer))
            .await
            .expect("a reply in time")
            .expect("recv");
        String::from_utf8_lossy(&buffer[..len]).to_string()
    };
    let first = flow_port().await;
    for _ in 0..4 {
        tokio::time::sleep(idle / 3).await;
        assert_eq!(flow_port().await, first, "traffic keeps the flow alive");
    }
    tokio::time::sleep(idle * 2).await;
    assert_ne!(flow_port().await, first, "an idle flow is forgotten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoints_resets_at_once() {
    let vip = ip(7, 1);
    let port = free_port(vip);
    let (proxy, _shutdown) = proxy(Config::default());
    proxy
        .apply(table(&[service("web", vip, port, "TCP")], &[]))
        .await;
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_millis(100), async {
        let mut stream = TcpStream::connect((vip, port)).await?;
        let mut buffer = [0u8; 16];
        stream.read(&mut buffer).await
    })
    .await
    .expect("an answer within 100 ms, not a hang");
    match outcome {
        Err(error) => assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}"),
        Ok(n) => assert_eq!(n, 0, "EOF"),
    }
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listens_before_the_first_apply_nor_on_unknown_ports() {
    let vip = ip(8, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(8, 11), "a").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let refused = TcpStream::connect((vip, port))
        .await
        .expect_err("not ready yet");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &[(a, true)]),
        ))
        .await;
    assert_eq!(ask(SocketAddr::new(vip, port)).await.expect("served"), "a");
    let other = free_port(vip);
    let refused = TcpStream::connect((vip, other))
        .await
        .expect_err("unknown port");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // Removing the Service closes its listener; adding it back rebinds the port at once.
    let report = proxy.apply(table(&[], &[])).await;
    assert_eq!(report.closed, 1);
    let refused = TcpStream::connect((vip, port))
        .await
        .expect_err("service removed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let report = proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &[(a, true)]),
        ))
        .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(proxy.local_addrs().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn established_connections_survive_an_endpoint_change() {
    let vip = ip(9, 1);
    let port = free_port(vip);
    let (a, _) = echo_server(ip(9, 11), "a").await;
    let (b, _) = echo_server(ip(9, 12), "b").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let svc = [service("web", vip, port, "TCP")];
    proxy
        .apply(table(&svc, &slices("web", "TCP", &[(a, true)])))
        .await;

    let stream = TcpStream::connect((vip, port)).await.expect("connect");
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    stream.read_line(&mut line).await.expect("id");
    assert_eq!(line, "a\n");

    let report = proxy
        .apply(table(&svc, &slices("web", "TCP", &[(b, true)])))
        .await;
    assert_eq!(
        (report.updated, report.opened, report.closed),
        (1, 0, 0),
        "swapped in place"
    );
    stream
        .get_mut()
        .write_all(b"still here\n")
        .await
        .expect("write");
    line.clear();
    stream.read_line(&mut line).await.expect("echo");
    assert_eq!(line, "still here\n", "the old backend still answers");

    let mut fresh = BufReader::new(TcpStream::connect((vip, port)).await.expect("connect"));
    line.clear();
    fresh.read_line(&mut line).await.expect("id");
    assert_eq!(line, "b\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_reported_and_retried_on_the_next_apply() {
    let vip = ip(10, 1);
    let blocker = std::net::TcpListener::bind((vip, 0)).expect("bind blocker");
    let port = blocker.local_addr().expect("addr").port();
    let (a, _) = id_server(ip(10, 11), "a").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let vips = table(
        &[service("web", vip, port, "TCP")],
        &slices("web", "TCP", &[(a, true)]),
    );
    let report = proxy.apply(vips.clone()).await;
    assert_eq!(report.failed.len(), 1);
    let failure = &report.failed[0];
    assert!(failure.error.is_address_in_use(), "{:?}", failure.error);
    assert_eq!(failure.service_port.to_string(), "test/web");
    assert_eq!(
        (failure.key.protocol, failure.key.addr),
        (Protocol::Tcp, SocketAddr::new(vip, port))
    );
    assert_eq!(failure.kind, ListenerKind::ClusterIp);

    drop(blocker);
    let report = proxy.apply(vips).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.opened, 1);
    assert_eq!(ask(SocketAddr::new(vip, port)).await.expect("served"), "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_is_reachable_on_localhost() {
    let port = free_port("127.0.0.1".parse().expect("ip"));
    let (a, _) = id_server(ip(11, 11), "a").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let mut svc = service("lb", ip(11, 1), port, "TCP");
    svc["spec"]["type"] = json!("LoadBalancer");
    svc["status"] =
        json!({"loadBalancer": {"ingress": [{"ip": ip(11, 2).to_string(), "ipMode": "VIP"}]}});
    let report = proxy
        .apply(table(&[svc], &slices("lb", "TCP", &[(a, true)])))
        .await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.opened, 3);
    for host in ["127.0.0.1".parse().expect("ip"), ip(11, 1), ip(11, 2)] {
        assert_eq!(
            ask(SocketAddr::new(host, port)).await.expect("served"),
            "a",
            "{host}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_listeners_and_cuts_connections_after_the_drain_timeout() {
    let vip = ip(12, 1);
    let port = free_port(vip);
    let (a, _) = echo_server(ip(12, 11), "a").await;
    let config = Config {
        drain_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let (proxy, shutdown) = proxy(config);
    proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &[(a, true)]),
        ))
        .await;
    let mut stream = TcpStream::connect((vip, port)).await.expect("connect");
    let mut id = [0u8; 2];
    stream.read_exact(&mut id).await.expect("id");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), proxy.closed())
        .await
        .expect("closed in time");
    let refused = TcpStream::connect((vip, port))
        .await
        .expect_err("listener closed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    let mut rest = Vec::new();
    let cut = stream.read_to_end(&mut rest).await;
    assert!(cut.is_err() || rest.is_empty(), "the connection was cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hairpin_a_backend_reaches_itself_through_its_service() {
    let vip = ip(15, 1);
    let port = free_port(vip);
    let (a, _) = id_server(ip(15, 11), "a").await;
    let (proxy, _shutdown) = proxy(Config::default());
    proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &[(a, true)]),
        ))
        .await;
    // The client's own address is the only endpoint: it must not be excluded.
    let answer = ask_from(Some(a.ip()), SocketAddr::new(vip, port))
        .await
        .expect("hairpin");
    assert_eq!(answer, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_two_services_claim_stays_with_the_older_and_is_reported() {
    let localhost = "127.0.0.1".parse().expect("ip");
    let port = free_port(localhost);
    let (a, _) = id_server(ip(16, 11), "a").await;
    let (b, _) = id_server(ip(16, 12), "b").await;
    let (proxy, _shutdown) = proxy(Config::default());
    let mut old = service("old", ip(16, 1), port, "TCP");
    old["spec"]["type"] = json!("LoadBalancer");
    old["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    let mut new = service("new", ip(16, 2), port, "TCP");
    new["spec"]["type"] = json!("LoadBalancer");
    let mut endpoints = slices("old", "TCP", &[(a, true)]);
    endpoints.extend(slices("new", "TCP", &[(b, true)]));
    let report = proxy.apply(table(&[new, old], &endpoints)).await;
    assert_eq!(report.opened, 3, "two cluster ips and one localhost");
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let failure = &report.failed[0];
    assert_eq!(failure.service_port.service.name, "new");
    assert_eq!(failure.kind, ListenerKind::LoadBalancerLocalhost);
    assert!(failure.error.is_address_in_use());
    let message = format!("TCP 127.0.0.1:{port} is already served by test/old");
    assert_eq!(failure.error.to_string(), message);
    let answer = ask(SocketAddr::new(localhost, port)).await.expect("served");
    assert_eq!(answer, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_service_ports_than_the_connection_limit_are_all_served() {
    // The limit counts open connections, not listeners: with 2 allowed, each of 4 Services
    // answers a lone client (asked last first: a listener that is bound later than the first
    // two must not wait for a connection elsewhere to end).
    let (backend, _) = id_server(ip(18, 11), "a").await;
    let port = free_port(ip(18, 1));
    let services: Vec<_> = (1..=4)
        .map(|host| service(&format!("web-{host}"), ip(18, host), port, "TCP"))
        .collect();
    let slices: Vec<_> = (1..=4)
        .flat_map(|host| slices(&format!("web-{host}"), "TCP", &[(backend, true)]))
        .collect();
    let (proxy, _shutdown) = proxy(Config {
        max_connections: 2,
        ..Config::default()
    });
    let report = proxy.apply(table(&services, &slices)).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for host in (1..=4).rev() {
        let vip = SocketAddr::new(ip(18, host), port);
        let answer = tokio::time::timeout(Duration::from_secs(5), ask(vip))
            .await
            .unwrap_or_else(|_| panic!("{vip}: no answer within 5 s"));
        assert_eq!(answer.expect("answer"), "a", "{vip}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_a_client_waits_for_a_free_slot() {
    let (backend, _) = echo_server(ip(19, 11), "e").await;
    let vip = ip(19, 1);
    let port = free_port(vip);
    let (proxy, _shutdown) = proxy(Config {
        max_connections: 1,
        ..Config::default()
    });
    proxy
        .apply(table(
            &[service("web", vip, port, "TCP")],
            &slices("web", "TCP", &[(backend, true)]),
        ))
        .await;
    let mut first = TcpStream::connect((vip, port)).await.expect("first");
    first.write_all(b"one\n").await.expect("write");
    let mut line = String::new();
    BufReader::new(&mut first)
        .read_line(&mut line)
        .await
        .expect("first answered");
    // The second connects (the kernel's backlog takes it) but is not served while the first
    // holds the only slot…
    let mut second = TcpStream::connect((vip, port)).await.expect("second");
    second.write_all(b"two\n").await.expect("write");
    let mut reader = BufReader::new(&mut second);
    let mut line = String::new();
    let early = tokio::time::timeout(Duration::from_millis(300), reader.read_line(&mut line)).await;
    assert!(early.is_err(), "served past the limit: {line:?}");
    // …and is, once the first goes: the backend's greeting, then the echo.
    drop(first);
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
            .await
            .expect("served once a slot is free")
            .expect("read");
    }
    assert_eq!(line, "e\ntwo\n");
}
