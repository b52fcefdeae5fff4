//! Helpers: a client, a fake upstream resolver, a fixture and a running server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for any answer.
const PATIENCE: Duration = Duration::from_secs(5);

fn query(name: &str, qtype: RecordType, id: u16) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    message.to_vec().unwrap()
}

/// Asks `server` over UDP from `from` (an address on loopback).
pub(crate) async fn ask_from(
    from: IpAddr,
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Message {
    let socket = UdpSocket::bind((from, 0)).await.unwrap();
    socket
        .send_to(&query(name, qtype, 4242), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buf))
        .await
        .expect("no answer over udp")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.metadata.id, 4242);
    reply
}

/// Asks `server` over UDP from 127.0.0.1.
pub(crate) async fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    ask_from(Ipv4Addr::LOCALHOST.into(), server, name, qtype).await
}

/// Asks `server` over TCP.
pub(crate) async fn ask_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let bytes = query(name, qtype, 4343);
    stream.write_u16(bytes.len() as u16).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let length = tokio::time::timeout(PATIENCE, stream.read_u16())
        .await
        .expect("no answer over tcp")
        .unwrap();
    let mut buf = vec![0u8; usize::from(length)];
    stream.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.metadata.id, 4343);
    reply
}

/// A record as `owner ttl TYPE rdata`.
pub(crate) fn show(record: &Record) -> String {
    format!(
        "{} {} {} {}",
        record.name,
        record.ttl,
        record.record_type(),
        record.data
    )
}

/// The answer section, rendered.
pub(crate) fn answers(reply: &Message) -> Vec<String> {
    reply.answers.iter().map(show).collect()
}

/// What the fake upstream does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// Answers: `example.com.`, `ext.interwebs.test.`, `big.example.` (truncated over UDP),
    /// NXDOMAIN for the rest.
    Answering,
    /// Never replies.
    Silent,
}

/// A fake upstream resolver on 127.0.0.1 (UDP and TCP, one port).
pub(crate) struct FakeUpstream {
    pub(crate) addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeUpstream {
    pub(crate) async fn start(mode: Upstream) -> FakeUpstream {
        // The UDP port's TCP twin may be taken (by an ephemeral port of another test): retry.
        let mut attempts = 0;
        let (udp, tcp, addr) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            match TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, tcp, addr),
                Err(_) if attempts < 16 => attempts += 1,
                Err(e) => panic!("no port free for udp and tcp: {e}"),
            }
        };
        let asked = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (udp_asked, udp_count) = (asked.clone(), count.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let Ok(message) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                udp_count.fetch_add(1, Ordering::SeqCst);
                udp_asked
                    .lock()
                    .unwrap()
                    .push(message.queries[0].name().to_ascii());
                if mode == Upstream::Silent {
                    continue;
                }
                let reply = respond(&message, false);
                let _ = udp.send_to(&reply.to_vec().unwrap(), from).await;
            }
        });
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let Ok(length) = stream.read_u16().await else {
                    continue;
                };
                let mut buf = vec![0u8; usize::from(length)];
                if stream.read_exact(&mut buf).await.is_err() {
                    continue;
                }
                let Ok(message) = Message::from_vec(&buf) else {
                    continue;
                };
                let bytes = respond(&message, true).to_vec().unwrap();
                let _ = stream.write_u16(bytes.len() as u16).await;
                let _ = stream.write_all(&bytes).await;
            }
        });
        FakeUpstream {
            addr,
            asked,
            count,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// UDP questions received so far.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The names asked over UDP, in order.
    pub(crate) fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn respond(query: &Message, over_tcp: bool) -> Message {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(query.queries[0].clone());
    let name = query.queries[0].name().clone();
    let a =
        |ip: [u8; 4], ttl| Record::from_rdata(name.clone(), ttl, RData::A(A(Ipv4Addr::from(ip))));
    match name.to_ascii().to_ascii_lowercase().as_str() {
        "example.com." => {
            reply.add_answer(a([192, 0, 2, 1], 300));
        }
        "ext.interwebs.test." => {
            reply.add_answer(a([192, 0, 2, 2], 60));
        }
        "big.example." if !over_tcp => reply.metadata.truncation = true,
        "big.example." => {
            for i in 0..100 {
                reply.add_answer(a([192, 0, 2, i], 60));
            }
        }
        _ => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            let zone = Name::from_ascii("example.").unwrap();
            let soa = SOA::new(zone.clone(), zone.clone(), 1, 1, 1, 1, 60);
            reply.add_authority(Record::from_rdata(zone, 60, RData::SOA(soa)));
        }
    }
    reply
}

/// A small cluster: a ClusterIP service, a headless one with a ready endpoint, an ExternalName,
/// and a pod whose IP is 127.0.0.2 (so a client bound there is that pod).
pub(crate) fn fixture(config: &dnsd::Config) -> Arc<dnsd::Index> {
    let index = dnsd::Index::new(config).unwrap();
    let objects: [(&str, Value); 5] = [
        (
            "service",
            json!({"metadata": {"name": "svc1", "namespace": "testns"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
                "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}}),
        ),
        (
            "service",
            json!({"metadata": {"name": "svc1", "namespace": "otherns"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"]}}),
        ),
        (
            "service",
            json!({"metadata": {"name": "external", "namespace": "testns"},
            "spec": {"type": "ExternalName", "externalName": "ext.interwebs.test"}}),
        ),
        (
            "slice",
            json!({"metadata": {"name": "svc1-x", "namespace": "testns",
            "labels": {"kubernetes.io/service-name": "svc1"}},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
            "endpoints": [{"addresses": ["172.0.0.1"], "conditions": {"ready": true}}]}),
        ),
        (
            "pod",
            json!({"metadata": {"name": "client", "namespace": "testns"},
            "status": {"phase": "Running", "podIP": "127.0.0.2", "podIPs": [{"ip": "127.0.0.2"}]}}),
        ),
    ];
    for (kind, object) in &objects {
        match *kind {
            "service" => index.upsert_service(object).unwrap(),
            "slice" => index.upsert_endpoint_slice(object).unwrap(),
            _ => index.upsert_pod(object).unwrap(),
        }
    }
    index.mark_synced();
    Arc::new(index)
}

/// A running server; stops when dropped.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) upstreams: Vec<SocketAddr>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), dnsd::Error>>>,
}

impl Running {
    pub(crate) async fn start(config: dnsd::Config, index: Arc<dnsd::Index>) -> Running {
        let server = dnsd::Server::bind(&config, index).await.unwrap();
        let addr = server.local_addrs()[0];
        let upstreams = server.upstreams().to_vec();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        Running {
            addr,
            upstreams,
            shutdown,
            task: Some(task),
        }
    }

    /// Stops the server and returns how `run` ended.
    pub(crate) async fn stop(mut self) -> Result<(), dnsd::Error> {
        self.shutdown.cancel();
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("server did not stop")
            .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A config listening on 127.0.0.1, port 0.
pub(crate) fn config(upstreams: Vec<SocketAddr>) -> dnsd::Config {
    dnsd::Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        dns_service_ips: vec!["10.96.0.10".parse().unwrap()],
        upstreams,
        // Never read the machine's resolv.conf in a test.
        resolv_conf: "/nonexistent/resolv.conf".into(),
        upstream_timeout: Duration::from_millis(300),
        ..dnsd::Config::default()
    }
}
