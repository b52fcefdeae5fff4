//! The server on 127.0.0.1:0: the same answers over UDP and TCP, the reply's shape, shutdown.

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

use crate::support::{Running, answers, ask, ask_tcp, config, fixture};

#[tokio::test]
async fn answers_a_service_over_udp_and_tcp() {
    let config = config(Vec::new());
    let server = Running::start(config.clone(), fixture(&config)).await;
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr.port(), 0);
    for reply in [
        ask(server.addr, "svc1.testns.svc.cluster.local.", RecordType::A).await,
        ask_tcp(server.addr, "svc1.testns.svc.cluster.local.", RecordType::A).await,
    ] {
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        assert!(reply.metadata.recursion_desired);
        assert!(!reply.metadata.recursion_available);
        assert_eq!(
            answers(&reply),
            ["svc1.testns.svc.cluster.local. 30 A 10.0.0.1"]
        );
        // The OPT record comes back because the query had one.
        assert!(reply.edns.is_some());
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn negative_answers_and_case_on_the_wire() {
    let config = config(Vec::new());
    let server = Running::start(config.clone(), fixture(&config)).await;
    let reply = ask(server.addr, "svc0.testns.svc.ClUsTeR.lOcAl.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        reply.queries[0].name().to_ascii(),
        "svc0.testns.svc.ClUsTeR.lOcAl."
    );
    assert_eq!(reply.authorities.len(), 1);
    let soa = crate::support::show(&reply.authorities[0]);
    assert!(
        soa.starts_with("ClUsTeR.lOcAl. 30 SOA ns.dns.ClUsTeR.lOcAl. hostmaster.ClUsTeR.lOcAl. "),
        "{soa}"
    );
    assert!(soa.ends_with(" 7200 1800 86400 30"), "{soa}");

    let reply = ask(
        server.addr,
        "SVC1.testns.svc.cluster.local.",
        RecordType::AAAA,
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    assert_eq!(reply.authorities.len(), 1);

    let reply = ask_tcp(
        server.addr,
        "_http._tcp.svc1.testns.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(
        answers(&reply),
        [
            "_http._tcp.svc1.testns.svc.cluster.local. 30 SRV 0 100 80 svc1.testns.svc.cluster.local."
        ]
    );
    assert_eq!(reply.additionals.len(), 1);

    let reply = ask(server.addr, "cluster.local.", RecordType::AXFR).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn servfail_until_synced() {
    let config = config(Vec::new());
    let index = std::sync::Arc::new(dnsd::Index::new(&config).unwrap());
    let server = Running::start(config, index.clone()).await;
    let reply = ask(server.addr, "svc0.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    index.mark_synced();
    let reply = ask(server.addr, "svc0.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bind_needs_a_listen_address() {
    let mut config = config(Vec::new());
    config.listen.clear();
    let index = fixture(&config);
    assert!(matches!(
        dnsd::Server::bind(&config, index).await,
        Err(dnsd::Error::NoListenAddress)
    ));
}
