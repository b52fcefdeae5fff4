//! Forwarding through a fake upstream on loopback: answers, failures, the cache, the
//! systemd-resolved stub rule, ExternalNames and autopath.

use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

use crate::support::{
    FakeUpstream, Running, Upstream, answers, ask, ask_from, ask_tcp, config, fixture,
};

#[tokio::test]
async fn forwards_other_names() {
    let upstream = FakeUpstream::start(Upstream::Answering).await;
    let config = config(vec![upstream.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    let reply = ask(server.addr, "example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(!reply.metadata.authoritative);
    assert!(reply.metadata.recursion_available);
    // TTLs are capped at 30 s, as `cache 30` does.
    assert_eq!(answers(&reply), ["example.com. 30 A 192.0.2.1"]);
    let reply = ask(server.addr, "nowhere.example.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.authorities.len(), 1);
    // Reverse names outside the cluster fall through too.
    let reply = ask(server.addr, "1.2.0.192.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        upstream.asked(),
        [
            "example.com.",
            "nowhere.example.",
            "1.2.0.192.in-addr.arpa."
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn second_ask_is_a_cache_hit() {
    let upstream = FakeUpstream::start(Upstream::Answering).await;
    let config = config(vec![upstream.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    for _ in 0..2 {
        let reply = ask(server.addr, "example.com.", RecordType::A).await;
        assert_eq!(answers(&reply).len(), 1);
        let reply = ask(server.addr, "nowhere.example.", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    }
    // One question per name: positive and negative answers are both cached.
    assert_eq!(upstream.count(), 2);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn silent_upstream_is_servfail_and_the_next_is_tried() {
    let silent = FakeUpstream::start(Upstream::Silent).await;
    let config = config(vec![silent.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    let started = Instant::now();
    let reply = ask(server.addr, "example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(silent.count(), 1);
    server.stop().await.unwrap();

    let answering = FakeUpstream::start(Upstream::Answering).await;
    let config = crate::support::config(vec![silent.addr, answering.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    let reply = ask(server.addr, "example.com.", RecordType::A).await;
    assert_eq!(answers(&reply), ["example.com. 30 A 192.0.2.1"]);
    assert_eq!((silent.count(), answering.count()), (2, 1));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn truncated_upstream_answer_is_fetched_over_tcp() {
    let upstream = FakeUpstream::start(Upstream::Answering).await;
    let config = config(vec![upstream.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    // 100 A records do not fit the client's 1232 bytes over UDP...
    let reply = ask(server.addr, "big.example.", RecordType::A).await;
    assert!(reply.metadata.truncation);
    // ...but do over TCP, from the cache: the upstream was asked over UDP once.
    let reply = ask_tcp(server.addr, "big.example.", RecordType::A).await;
    assert_eq!(reply.answers.len(), 100);
    assert!(!reply.metadata.truncation);
    assert_eq!(upstream.count(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn no_upstream_is_refused() {
    let config = config(Vec::new());
    let server = Running::start(config.clone(), fixture(&config)).await;
    assert!(server.upstreams.is_empty());
    let reply = ask(server.addr, "example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn systemd_stub_resolv_conf_uses_the_real_upstreams() {
    let dir = std::env::temp_dir().join(format!("dnsd-forward-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stub = dir.join("resolv.conf");
    let real = dir.join("real.conf");
    std::fs::write(
        &stub,
        "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
    )
    .unwrap();
    std::fs::write(&real, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n").unwrap();
    let mut config = config(Vec::new());
    config.resolv_conf = stub;
    config.systemd_resolv_conf = real;
    let server = Running::start(config.clone(), fixture(&config)).await;
    assert_eq!(
        server.upstreams,
        [
            "192.0.2.53:53".parse().unwrap(),
            "[2001:db8::53]:53".parse().unwrap()
        ]
    );
    server.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn external_name_is_completed_upstream() {
    let upstream = FakeUpstream::start(Upstream::Answering).await;
    let config = config(vec![upstream.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    let reply = ask(
        server.addr,
        "external.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        answers(&reply),
        [
            "external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test.",
            "ext.interwebs.test. 30 A 192.0.2.2",
        ]
    );
    let reply = ask(
        server.addr,
        "external.testns.svc.cluster.local.",
        RecordType::CNAME,
    )
    .await;
    assert_eq!(
        answers(&reply),
        ["external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test."]
    );
    assert_eq!(upstream.asked(), ["ext.interwebs.test."]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn autopath_walks_the_search_path_with_one_upstream_question() {
    let upstream = FakeUpstream::start(Upstream::Answering).await;
    let config = config(vec![upstream.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    let pod = "127.0.0.2".parse().unwrap();

    // example.com, asked with the pod's first search domain: one upstream question.
    let reply = ask_from(
        pod,
        server.addr,
        "example.com.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        reply.queries[0].name().to_ascii(),
        "example.com.testns.svc.cluster.local."
    );
    assert_eq!(
        answers(&reply),
        [
            "example.com.testns.svc.cluster.local. 30 CNAME example.com.",
            "example.com. 30 A 192.0.2.1"
        ]
    );
    assert_eq!(upstream.asked(), ["example.com."]);

    // A service of another namespace, found on the second search domain: no upstream question.
    let reply = ask_from(
        pod,
        server.addr,
        "svc1.otherns.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        answers(&reply),
        [
            "svc1.otherns.testns.svc.cluster.local. 30 CNAME svc1.otherns.svc.cluster.local.",
            "svc1.otherns.svc.cluster.local. 30 A 10.0.0.9",
        ]
    );
    // An existing name is answered as it is.
    let reply = ask_from(
        pod,
        server.addr,
        "svc1.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        answers(&reply),
        ["svc1.testns.svc.cluster.local. 30 A 10.0.0.1"]
    );
    assert_eq!(upstream.count(), 1);

    // Nothing resolves: the client gets the NXDOMAIN of the name it asked (and walks on).
    let reply = ask_from(
        pod,
        server.addr,
        "nowhere.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        crate::support::show(&reply.authorities[0])
            .split(' ')
            .next(),
        Some("cluster.local.")
    );
    assert_eq!(upstream.asked(), ["example.com.", "nowhere."]);

    // Not a known pod: no autopath.
    let reply = ask(
        server.addr,
        "example.com.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.count(), 2);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn autopath_with_a_failing_upstream_answers_the_asked_names_nxdomain() {
    let upstream = FakeUpstream::start(Upstream::Silent).await;
    let config = config(vec![upstream.addr]);
    let server = Running::start(config.clone(), fixture(&config)).await;
    let pod = "127.0.0.2".parse().unwrap();
    // The bare name's SERVFAIL is not written (autopath.go, plugin.ClientWrite): the asked
    // name's own NXDOMAIN is, so `dig nope.<ns>.svc.<zone>` from a pod says NXDOMAIN.
    let reply = ask_from(
        pod,
        server.addr,
        "nope.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.asked(), ["nope."]);
    server.stop().await.unwrap();
}
