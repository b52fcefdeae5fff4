//! dnsd's UDP loop against hickory's UDP server (what dnsd used before) on one shared
//! handler: for a corpus of datagrams, good and bad, the same reply byte for byte, or the same
//! silence.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::serve;
use crate::config::Config;
use crate::handler::{Forwarder, Handler};
use crate::index::Index;

/// How long to wait for a reply before calling it silence.
const SILENCE: Duration = Duration::from_millis(250);
/// The pod whose address autopath knows.
const POD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A cluster with a ClusterIP service, a headless one with 100 endpoints (too many for 512
/// bytes), ExternalNames inside and outside the zone, and a pod at [`POD`].
fn index() -> Arc<Index> {
    let index = Index::new(&Config::default()).unwrap();
    let cluster_ip = |name: &str, namespace: &str, ip: &str| {
        json!({"metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
    };
    let external = |name: &str, target: &str| {
        json!({"metadata": {"name": name, "namespace": "testns"},
            "spec": {"type": "ExternalName", "externalName": target}})
    };
    for service in [
        cluster_ip("svc1", "testns", "10.0.0.1"),
        cluster_ip("svc1", "otherns", "10.0.0.9"),
        json!({"metadata": {"name": "many", "namespace": "testns"},
            "spec": {"clusterIP": "None", "clusterIPs": ["None"]}}),
        external("inside", "svc1.testns.svc.cluster.local"),
        external("outside", "ext.interwebs.test"),
    ] {
        index.upsert_service(&service).unwrap();
    }
    let endpoints: Vec<_> = (0..100)
        .map(|i| json!({"addresses": [format!("10.244.1.{i}")], "conditions": {"ready": true}}))
        .collect();
    index
        .upsert_endpoint_slice(
            &json!({"metadata": {"name": "many-x", "namespace": "testns",
            "labels": {"kubernetes.io/service-name": "many"}},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}], "endpoints": endpoints}),
        )
        .unwrap();
    index
        .upsert_pod(
            &json!({"metadata": {"name": "client", "namespace": "testns"},
            "status": {"phase": "Running", "podIP": POD.to_string(),
                "podIPs": [{"ip": POD.to_string()}]}}),
        )
        .unwrap();
    index.mark_synced();
    Arc::new(index)
}

/// An upstream that answers every A question with 192.0.2.1.
async fn upstream() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.metadata.recursion_available = true;
            reply.add_query(query.queries[0].clone());
            let name = query.queries[0].name().clone();
            let ip = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
            reply.add_answer(Record::from_rdata(name, 60, ip));
            let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
        }
    });
    addr
}

fn message(name: &str, qtype: RecordType, payload: Option<u16>) -> Message {
    let mut message = Message::new(7, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    message
}

fn query(name: &str, qtype: RecordType, payload: Option<u16>) -> Vec<u8> {
    message(name, qtype, payload).to_vec().unwrap()
}

/// (what, from, datagram).
fn corpus() -> Vec<(&'static str, IpAddr, Vec<u8>)> {
    let host = IpAddr::from(Ipv4Addr::LOCALHOST);
    let pod = IpAddr::from(POD);
    let mut cases = vec![];
    let mut case = |what, from, bytes| cases.push((what, from, bytes));
    let svc = "svc1.testns.svc.cluster.local.";
    for payload in [None, Some(100), Some(512), Some(1232), Some(4096)] {
        case("clusterip a", host, query(svc, RecordType::A, payload));
        case(
            "headless a",
            host,
            query("many.testns.svc.cluster.local.", RecordType::A, payload),
        );
        case(
            "headless srv",
            host,
            query(
                "_http._tcp.many.testns.svc.cluster.local.",
                RecordType::SRV,
                payload,
            ),
        );
    }
    for qtype in [
        RecordType::AAAA,
        RecordType::SRV,
        RecordType::TXT,
        RecordType::NS,
        RecordType::SOA,
        RecordType::MX,
        RecordType::CNAME,
        RecordType::ANY,
        RecordType::AXFR,
        RecordType::PTR,
    ] {
        case("types", host, query(svc, qtype, Some(1232)));
    }
    case(
        "case",
        host,
        query("SvC1.TestNS.svc.Cluster.Local.", RecordType::A, None),
    );
    case(
        "nxdomain",
        host,
        query("nope.testns.svc.cluster.local.", RecordType::A, None),
    );
    case("apex", host, query("cluster.local.", RecordType::SOA, None));
    case(
        "ptr",
        host,
        query("1.0.0.10.in-addr.arpa.", RecordType::PTR, None),
    );
    case(
        "ptr outside",
        host,
        query("1.2.0.192.in-addr.arpa.", RecordType::PTR, None),
    );
    case(
        "forwarded",
        host,
        query("example.com.", RecordType::A, None),
    );
    case(
        "forwarded again (cache)",
        host,
        query("example.com.", RecordType::A, None),
    );
    case(
        "externalname in zone",
        host,
        query("inside.testns.svc.cluster.local.", RecordType::A, None),
    );
    case(
        "externalname upstream",
        host,
        query("outside.testns.svc.cluster.local.", RecordType::A, None),
    );
    case(
        "autopath in zone",
        pod,
        query(
            "svc1.otherns.testns.svc.cluster.local.",
            RecordType::A,
            None,
        ),
    );
    case(
        "autopath upstream",
        pod,
        query("example.org.testns.svc.cluster.local.", RecordType::A, None),
    );
    case(
        "no autopath",
        host,
        query(
            "svc1.otherns.testns.svc.cluster.local.",
            RecordType::A,
            None,
        ),
    );

    let mut chaos = message(svc, RecordType::A, None);
    chaos.queries[0].set_query_class(DNSClass::CH);
    case("class ch", host, chaos.to_vec().unwrap());
    let mut dnssec = message(svc, RecordType::A, Some(1232));
    dnssec.edns.as_mut().unwrap().set_dnssec_ok(true);
    case("do bit", host, dnssec.to_vec().unwrap());
    let mut version = message(svc, RecordType::A, Some(1232));
    version.edns.as_mut().unwrap().set_version(1);
    case("edns version 1", host, version.to_vec().unwrap());
    let mut status = message(svc, RecordType::A, None);
    status.metadata.op_code = OpCode::Status;
    case("opcode status", host, status.to_vec().unwrap());
    let mut two = message(svc, RecordType::A, None);
    two.add_query(Query::query(Name::from_ascii("x.").unwrap(), RecordType::A));
    case("two questions", host, two.to_vec().unwrap());
    let none = Message::new(9, MessageType::Query, OpCode::Query);
    case("no question", host, none.to_vec().unwrap());
    let mut response = message(svc, RecordType::A, None);
    response.metadata.message_type = MessageType::Response;
    case("a response", host, response.to_vec().unwrap());

    let mut body = query(svc, RecordType::A, None);
    body.truncate(20);
    case("cut question", host, body);
    let mut garbage = query(svc, RecordType::A, None)[..12].to_vec();
    garbage.extend_from_slice(&[0xc0, 0xff, 0xff, 0xff]);
    case("garbage question", host, garbage);
    case(
        "short",
        host,
        query(svc, RecordType::A, None)[..11].to_vec(),
    );
    case("empty", host, Vec::new());
    let mut long = query(svc, RecordType::A, Some(1232));
    long.resize(6000, 0xab);
    case("longer than 4096 bytes", host, long);
    cases
}

/// The reply to `bytes` sent from `from` to `server`, or `None` after [`SILENCE`].
async fn exchange(from: IpAddr, server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((from, 0)).await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(SILENCE, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    buf.truncate(n);
    Some(buf)
}

#[tokio::test]
async fn replies_as_hickory_did() {
    let handler = Handler::new(
        index(),
        Forwarder::new(vec![upstream().await], Duration::from_secs(1)),
    );
    let theirs = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let theirs_addr = theirs.local_addr().unwrap();
    let mut hickory = hickory_server::Server::new(handler.clone());
    hickory.register_socket(theirs);
    let ours = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ours_addr = ours.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let loop_task = tokio::spawn(serve(ours, ours_addr, handler, shutdown.clone()));

    let mut silent = 0;
    for (what, from, bytes) in corpus() {
        // Ours first, so that forwarded names take the network path here and the cache there.
        let ours = exchange(from, ours_addr, &bytes).await;
        let theirs = exchange(from, theirs_addr, &bytes).await;
        assert_eq!(ours, theirs, "{what}");
        silent += usize::from(ours.is_none());
    }
    // The response, the short and the empty datagram.
    assert_eq!(silent, 3);

    shutdown.cancel();
    loop_task.await.unwrap().unwrap();
    hickory.shutdown_gracefully().await.unwrap();
}

#[tokio::test]
async fn truncates_at_the_clients_payload_size() {
    let handler = Handler::new(index(), Forwarder::new(Vec::new(), Duration::from_secs(1)));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(socket, addr, handler, shutdown.clone()));
    let host = IpAddr::from(Ipv4Addr::LOCALHOST);
    let name = "many.testns.svc.cluster.local.";
    for (payload, limit, truncated) in [
        (None, 512, true),
        (Some(100), 512, true),
        (Some(1232), 1232, true),
        (Some(4096), 4096, false),
    ] {
        let reply = exchange(host, addr, &query(name, RecordType::A, payload))
            .await
            .expect("a reply");
        assert!(reply.len() <= limit, "{payload:?}: {} bytes", reply.len());
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.truncation, truncated, "{payload:?}");
        assert_eq!(reply.answers.len() == 100, !truncated, "{payload:?}");
        assert_eq!(reply.edns.is_some(), payload.is_some(), "{payload:?}");
    }
    shutdown.cancel();
}

/// Queued queries are read and answered many at a time: a burst mixing inline answers,
/// forwarded names (a task each) and datagrams that get nothing must give every reply to the
/// right query, once.
#[tokio::test]
async fn a_burst_is_answered_in_batches() {
    let handler = Handler::new(
        index(),
        Forwarder::new(vec![upstream().await], Duration::from_secs(1)),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(socket, addr, handler, shutdown.clone()));

    // A blocking client: the whole burst is queued before the loop reads any of it (150
    // datagrams: what the default receive buffer holds, with room to spare).
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut expected = std::collections::BTreeMap::new();
    for id in 0..150u16 {
        let (name, answer) = match id % 5 {
            0 => ("svc1.testns.svc.cluster.local.", Some("10.0.0.1")),
            1 => ("svc1.otherns.svc.cluster.local.", Some("10.0.0.9")),
            2 => ("forwarded.example.", Some("192.0.2.1")),
            3 => ("nope.testns.svc.cluster.local.", None),
            _ => ("", None),
        };
        let bytes = if name.is_empty() {
            vec![0u8; 5] // too short for a header: no reply
        } else {
            let mut message = message(name, RecordType::A, None);
            message.metadata.id = id;
            expected.insert(id, answer.map(str::to_string));
            message.to_vec().unwrap()
        };
        client.send_to(&bytes, addr).unwrap();
    }

    let client = UdpSocket::from_std({
        client.set_nonblocking(true).unwrap();
        client
    })
    .unwrap();
    let mut got = std::collections::BTreeMap::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(received) = tokio::time::timeout(SILENCE, client.recv_from(&mut buf)).await {
        let (n, _) = received.unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        let answer = reply.answers.first().map(|record| record.data.to_string());
        assert!(
            got.insert(reply.metadata.id, answer).is_none(),
            "two replies"
        );
    }
    assert_eq!(got, expected);
    shutdown.cancel();
}
