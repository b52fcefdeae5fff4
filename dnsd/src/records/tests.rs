//! The record rules as a table, one `(qname, qtype) -> answer` per line, modelled on
//! CoreDNS's `handler_test.go`, `handler_case_test.go`, `handler_pod_verified_test.go`,
//! `kubernetes_apex_test.go` and `reverse_test.go` (same fixture names, TTL 30 instead of 5).
//!
//! An answer renders as `RCODE: record; record + extra: record` or `RCODE soa <owner>` for
//! negative answers; SOA serials are left out.

use serde_json::{Value, json};

use super::QType::{self, *};
use super::{Data, Outcome, Owner, Record};
use crate::config::Config;
use crate::index::Index;

fn service(namespace: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

fn cluster_ip(namespace: &str, name: &str, ips: &[&str], ports: Value) -> Value {
    service(
        namespace,
        name,
        json!({"type": "ClusterIP", "clusterIP": ips[0], "clusterIPs": ips, "ports": ports}),
    )
}

fn headless(namespace: &str, name: &str) -> Value {
    service(
        namespace,
        name,
        json!({"clusterIP": "None", "clusterIPs": ["None"]}),
    )
}

fn external(namespace: &str, name: &str, target: &str) -> Value {
    service(
        namespace,
        name,
        json!({"type": "ExternalName", "externalName": target,
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}),
    )
}

fn slice(namespace: &str, service: &str, ports: Value, endpoints: Value) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-abc12"), "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "ports": ports, "endpoints": endpoints})
}

fn pod(namespace: &str, name: &str, ips: &[&str]) -> Value {
    let pod_ips: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {}, "status": {"phase": "Running", "podIP": ips[0], "podIPs": pod_ips}})
}

fn http() -> Value {
    json!([{"name": "http", "protocol": "TCP", "port": 80}])
}

/// The fixture: CoreDNS's `svcIndex`/`epsIndex` (ClusterIPs made distinct so that PTR is
/// unambiguous) plus the cases it lacks.
pub(super) fn fixture() -> Index {
    let config = Config {
        dns_service_ips: vec!["10.96.0.10".parse().unwrap()],
        reverse_cidrs: vec!["10.0.0.0/24".parse().unwrap()],
        ..Config::default()
    };
    let index = Index::new(&config).unwrap();
    let services = [
        cluster_ip(
            "kube-system",
            "kube-dns",
            &["10.96.0.10"],
            json!([{"name": "dns", "protocol": "UDP", "port": 53}, {"name": "dns-tcp", "protocol": "TCP", "port": 53}]),
        ),
        cluster_ip("testns", "svc1", &["10.0.0.1"], http()),
        cluster_ip("testns", "svcempty", &["10.0.0.5"], http()),
        cluster_ip("testns", "svc6", &["1234:abcd::1"], http()),
        cluster_ip("testns", "svc-dual-stack", &["10.0.0.3", "10::3"], http()),
        cluster_ip(
            "testns",
            "svc-multi",
            &["10.0.0.6"],
            json!([{"name": "http", "protocol": "TCP", "port": 80},
                   {"name": "dns", "protocol": "UDP", "port": 53},
                   {"protocol": "TCP", "port": 8080}]),
        ),
        cluster_ip("testns", "svcnoports", &["10.0.0.7"], json!([])),
        headless("testns", "hdls1"),
        headless("testns", "hdlsprtls"),
        headless("testns", "web"),
        headless("testns", "hdlsempty"),
        external("testns", "external", "ext.interwebs.test"),
        external(
            "testns",
            "external-to-service",
            "svc1.testns.svc.cluster.local.",
        ),
        external(
            "testns",
            "external-to-external",
            "external.testns.svc.cluster.local",
        ),
        external("testns", "ext-ip", "1.2.3.4"),
        external("testns", "ext-self", "ext-self.testns.svc.cluster.local"),
        external(
            "testns",
            "external-to-missing",
            "missing.testns.svc.cluster.local",
        ),
    ];
    for s in &services {
        index.upsert_service(s).unwrap();
    }
    let slices = [
        slice(
            "testns",
            "svc1",
            http(),
            json!([{"addresses": ["172.0.0.1"], "hostname": "ep1a", "conditions": {"ready": true}}]),
        ),
        slice("testns", "svcempty", http(), json!([])),
        slice(
            "testns",
            "hdls1",
            http(),
            json!([
            {"addresses": ["172.0.0.2"], "conditions": {"ready": true}},
            {"addresses": ["172.0.0.3"]},
            {"addresses": ["172.0.0.4"], "hostname": "dup-name", "conditions": {"ready": true}},
            {"addresses": ["172.0.0.5"], "hostname": "dup-name", "conditions": {"ready": true}},
            {"addresses": ["5678:abcd::1"], "conditions": {"ready": true}},
            {"addresses": ["5678:abcd::2"], "conditions": {"ready": true}},
            {"addresses": ["172.0.0.9"], "conditions": {"ready": false}}]),
        ),
        slice(
            "testns",
            "hdlsprtls",
            json!([]),
            json!([{"addresses": ["172.0.0.20"]}]),
        ),
        slice(
            "testns",
            "web",
            json!([]),
            json!([{"addresses": ["10.244.0.8"], "hostname": "web-0", "conditions": {"ready": true}}]),
        ),
        slice(
            "testns",
            "hdlsempty",
            json!([]),
            json!([{"addresses": ["172.0.0.30"], "conditions": {"ready": false}}]),
        ),
    ];
    for s in &slices {
        index.upsert_endpoint_slice(s).unwrap();
    }
    for p in [
        pod("podns", "foo", &["10.240.0.1"]),
        pod("podns", "v6", &["fd00::5"]),
        pod("testns", "web-0", &["10.244.0.8"]),
    ] {
        index.upsert_pod(&p).unwrap();
    }
    index.mark_synced();
    index
}

fn render_record(qname: &str, record: &Record) -> String {
    let owner = match &record.owner {
        Owner::Query => qname,
        Owner::Name(name) => name.as_str(),
    };
    let data = match &record.data {
        Data::A(ip) => format!("A {ip}"),
        Data::Aaaa(ip) => format!("AAAA {ip}"),
        Data::Cname(target) => format!("CNAME {target}"),
        Data::Ptr(target) => format!("PTR {target}"),
        Data::Ns(target) => format!("NS {target}"),
        Data::Txt(text) => format!("TXT {text}"),
        Data::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            format!("SRV {priority} {weight} {port} {target}")
        }
        Data::Soa {
            mname,
            rname,
            refresh,
            retry,
            expire,
            minimum,
            ..
        } => {
            format!("SOA {mname} {rname} {refresh} {retry} {expire} {minimum}")
        }
    };
    format!("{owner} {} {data}", record.ttl)
}

fn render_soa(soa: &Record) -> String {
    match (&soa.owner, soa.ttl) {
        (Owner::Name(zone), 30) => format!("soa {zone}"),
        _ => format!("bad soa {soa:?}"),
    }
}

pub(super) fn render(qname: &str, outcome: &Outcome) -> String {
    let list = |records: &[Record]| {
        records
            .iter()
            .map(|r| render_record(qname, r))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match outcome {
        Outcome::Answer {
            answers,
            additionals,
        } if additionals.is_empty() => {
            format!("NOERROR: {}", list(answers))
        }
        Outcome::Answer {
            answers,
            additionals,
        } => {
            format!("NOERROR: {} + extra: {}", list(answers), list(additionals))
        }
        Outcome::NoData { soa } => format!("NODATA {}", render_soa(soa)),
        Outcome::NxDomain { soa } => format!("NXDOMAIN {}", render_soa(soa)),
        Outcome::ServFail { soa } => format!("SERVFAIL {}", render_soa(soa)),
        Outcome::Refused => "REFUSED".into(),
        Outcome::External { chain, target, soa } => {
            format!("EXTERNAL {target}: {} ({})", list(chain), render_soa(soa))
        }
        Outcome::Forward => "FORWARD".into(),
    }
}

#[track_caller]
fn check(index: &Index, qname: &str, qtype: QType, expected: &str) {
    let fqdn = if qname.ends_with('.') {
        qname.to_string()
    } else {
        format!("{qname}.")
    };
    let got = render(&fqdn, &index.lookup(qname, qtype));
    assert_eq!(got, expected, "{qname} {qtype:?}");
}

const NX: &str = "NXDOMAIN soa cluster.local.";
const NODATA: &str = "NODATA soa cluster.local.";

#[test]
#[rustfmt::skip]
fn services() {
    let ix = &fixture();
    // ClusterIP: A, even with no endpoints (svcempty); no AAAA for a v4 service.
    check(ix, "svc1.testns.svc.cluster.local.", A, "NOERROR: svc1.testns.svc.cluster.local. 30 A 10.0.0.1");
    check(ix, "svcempty.testns.svc.cluster.local.", A, "NOERROR: svcempty.testns.svc.cluster.local. 30 A 10.0.0.5");
    check(ix, "svc1.testns.svc.cluster.local.", Aaaa, NODATA);
    check(ix, "svc6.testns.svc.cluster.local.", Aaaa, "NOERROR: svc6.testns.svc.cluster.local. 30 AAAA 1234:abcd::1");
    check(ix, "svc6.testns.svc.cluster.local.", A, NODATA);
    check(ix, "svc-dual-stack.testns.svc.cluster.local.", A, "NOERROR: svc-dual-stack.testns.svc.cluster.local. 30 A 10.0.0.3");
    check(ix, "svc-dual-stack.testns.svc.cluster.local.", Aaaa, "NOERROR: svc-dual-stack.testns.svc.cluster.local. 30 AAAA 10::3");
    check(ix, "svcnoports.testns.svc.cluster.local.", A, "NOERROR: svcnoports.testns.svc.cluster.local. 30 A 10.0.0.7");
    // Names that do not exist.
    check(ix, "svc0.testns.svc.cluster.local.", A, NX);
    check(ix, "svc0.testns.svc.cluster.local.", Aaaa, NX);
    check(ix, "svc0.svc-nons.svc.cluster.local.", A, NX);
    check(ix, "svc1.testns.foo.cluster.local.", A, NX);
    check(ix, "a.b.c.svc1.testns.svc.cluster.local.", A, NX);
    check(ix, "foo.cluster.local.", A, NX);
    // Wildcards were removed in CoreDNS 1.9.0: `*` and `any` are ordinary (missing) labels.
    check(ix, "*.testns.svc.cluster.local.", A, NX);
    check(ix, "any.testns.svc.cluster.local.", A, NX);
    check(ix, "*.*.svc.cluster.local.", A, NX);
    // Endpoint names work for ClusterIP services too.
    check(ix, "ep1a.svc1.testns.svc.cluster.local.", A, "NOERROR: ep1a.svc1.testns.svc.cluster.local. 30 A 172.0.0.1");
    check(ix, "bogusendpoint.svc1.testns.svc.cluster.local.", A, NX);
    check(ix, "bogusendpoint.svc0.testns.svc.cluster.local.", A, NX);
    // Other types on existing names: NODATA; on missing names: NXDOMAIN.
    check(ix, "svc1.testns.svc.cluster.local.", Mx, NODATA);
    check(ix, "svc1.testns.svc.cluster.local.", Other, NODATA);
    check(ix, "svc0.testns.svc.cluster.local.", Other, NX);
    check(ix, "svc1.testns.svc.cluster.local.", Cname, NODATA);
    check(ix, "svc1.testns.svc.cluster.local.", Ptr, NODATA);
    check(ix, "svc0.testns.svc.cluster.local.", Ptr, NX);
    check(ix, "svc1.testns.svc.cluster.local.", Soa, NODATA);
    check(ix, "svc0.testns.svc.cluster.local.", Soa, NODATA);
    check(ix, "svc1.testns.svc.cluster.local.", Axfr, "REFUSED");
}

#[test]
#[rustfmt::skip]
fn srv() {
    let ix = &fixture();
    check(ix, "_http._tcp.svc1.testns.svc.cluster.local.", Srv, "NOERROR: _http._tcp.svc1.testns.svc.cluster.local. 30 SRV 0 100 80 svc1.testns.svc.cluster.local. \
         + extra: svc1.testns.svc.cluster.local. 30 A 10.0.0.1");
    check(ix, "svc1.testns.svc.cluster.local.", Srv, "NOERROR: svc1.testns.svc.cluster.local. 30 SRV 0 100 80 svc1.testns.svc.cluster.local. \
         + extra: svc1.testns.svc.cluster.local. 30 A 10.0.0.1");
    check(ix, "svc6.testns.svc.cluster.local.", Srv, "NOERROR: svc6.testns.svc.cluster.local. 30 SRV 0 100 80 svc6.testns.svc.cluster.local. \
         + extra: svc6.testns.svc.cluster.local. 30 AAAA 1234:abcd::1");
    // Dual stack: two entries, weight 50, one SRV, both addresses in Additional.
    check(ix, "svc-dual-stack.testns.svc.cluster.local.", Srv, "NOERROR: svc-dual-stack.testns.svc.cluster.local. 30 SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local. \
         + extra: svc-dual-stack.testns.svc.cluster.local. 30 A 10.0.0.3; svc-dual-stack.testns.svc.cluster.local. 30 AAAA 10::3");
    // The bare name lists every port, unnamed ones included.
    check(ix, "svc-multi.testns.svc.cluster.local.", Srv, "NOERROR: svc-multi.testns.svc.cluster.local. 30 SRV 0 33 80 svc-multi.testns.svc.cluster.local.; \
         svc-multi.testns.svc.cluster.local. 30 SRV 0 33 53 svc-multi.testns.svc.cluster.local.; \
         svc-multi.testns.svc.cluster.local. 30 SRV 0 33 8080 svc-multi.testns.svc.cluster.local. \
         + extra: svc-multi.testns.svc.cluster.local. 30 A 10.0.0.6");
    check(ix, "_dns._udp.svc-multi.testns.svc.cluster.local.", Srv, "NOERROR: _dns._udp.svc-multi.testns.svc.cluster.local. 30 SRV 0 100 53 svc-multi.testns.svc.cluster.local. \
         + extra: svc-multi.testns.svc.cluster.local. 30 A 10.0.0.6");
    // Port names and protocols compare case-insensitively; no match is NXDOMAIN.
    check(ix, "_DNS._UDP.svc-multi.testns.svc.cluster.local.", Srv, "NOERROR: _DNS._UDP.svc-multi.testns.svc.cluster.local. 30 SRV 0 100 53 svc-multi.testns.svc.cluster.local. \
         + extra: svc-multi.testns.svc.cluster.local. 30 A 10.0.0.6");
    check(ix, "_dns._tcp.svc-multi.testns.svc.cluster.local.", Srv, NX);
    check(ix, "_https._tcp.svc1.testns.svc.cluster.local.", Srv, NX);
    check(ix, "_https._tcp.svc1.testns.svc.cluster.local.", A, NX);
    // No ports: A answers, SRV has nothing (port −1).
    check(ix, "svcnoports.testns.svc.cluster.local.", Srv, NODATA);
    check(ix, "hdlsprtls.testns.svc.cluster.local.", Srv, NODATA);
    // Headless: N×M entries, weight floor(100/6), SRV de-duplicated on (target, port).
    check(ix, "_http._tcp.hdls1.testns.svc.cluster.local.", Srv, "NOERROR: _http._tcp.hdls1.testns.svc.cluster.local. 30 SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.; \
         _http._tcp.hdls1.testns.svc.cluster.local. 30 SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.; \
         _http._tcp.hdls1.testns.svc.cluster.local. 30 SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.; \
         _http._tcp.hdls1.testns.svc.cluster.local. 30 SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.; \
         _http._tcp.hdls1.testns.svc.cluster.local. 30 SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local. \
         + extra: 172-0-0-2.hdls1.testns.svc.cluster.local. 30 A 172.0.0.2; \
         172-0-0-3.hdls1.testns.svc.cluster.local. 30 A 172.0.0.3; \
         dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.4; \
         dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.5; \
         5678-abcd--1.hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::1; \
         5678-abcd--2.hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::2");
    // ExternalName has no SRV.
    check(ix, "external.testns.svc.cluster.local.", Srv, NODATA);
}

#[test]
#[rustfmt::skip]
fn headless_services() {
    let ix = &fixture();
    check(ix, "hdls1.testns.svc.cluster.local.", A, "NOERROR: hdls1.testns.svc.cluster.local. 30 A 172.0.0.2; hdls1.testns.svc.cluster.local. 30 A 172.0.0.3; \
         hdls1.testns.svc.cluster.local. 30 A 172.0.0.4; hdls1.testns.svc.cluster.local. 30 A 172.0.0.5");
    check(ix, "hdls1.testns.svc.cluster.local.", Aaaa, "NOERROR: hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::1; hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::2");
    check(ix, "hdlsprtls.testns.svc.cluster.local.", A, "NOERROR: hdlsprtls.testns.svc.cluster.local. 30 A 172.0.0.20");
    // Per-endpoint names: dashed IP, or the endpoint's hostname (several IPs may share one).
    check(ix, "172-0-0-2.hdls1.testns.svc.cluster.local.", A, "NOERROR: 172-0-0-2.hdls1.testns.svc.cluster.local. 30 A 172.0.0.2");
    check(ix, "172-0-0-20.hdlsprtls.testns.svc.cluster.local.", A, "NOERROR: 172-0-0-20.hdlsprtls.testns.svc.cluster.local. 30 A 172.0.0.20");
    check(ix, "5678-abcd--2.hdls1.testns.svc.cluster.local", Aaaa, "NOERROR: 5678-abcd--2.hdls1.testns.svc.cluster.local. 30 AAAA 5678:abcd::2");
    check(ix, "dup-name.hdls1.testns.svc.cluster.local.", A, "NOERROR: dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.4; dup-name.hdls1.testns.svc.cluster.local. 30 A 172.0.0.5");
    // A hostname replaces the dashed name; a not-ready endpoint has no name.
    check(ix, "172-0-0-4.hdls1.testns.svc.cluster.local.", A, NX);
    check(ix, "172-0-0-9.hdls1.testns.svc.cluster.local.", A, NX);
    // hostname.subdomain of a pod behind a headless service.
    check(ix, "web-0.web.testns.svc.cluster.local.", A, "NOERROR: web-0.web.testns.svc.cluster.local. 30 A 10.244.0.8");
    // No ready endpoints: NXDOMAIN, for every type.
    check(ix, "hdlsempty.testns.svc.cluster.local.", A, NX);
    check(ix, "hdlsempty.testns.svc.cluster.local.", Txt, NX);
    check(ix, "hdlsempty.testns.svc.cluster.local.", Srv, NX);
}

#[test]
#[rustfmt::skip]
fn headless_follows_readiness() {
    let ix = fixture();
    let name = "hdlsempty.testns.svc.cluster.local.";
    let endpoints =
        |ready: Value| json!([{"addresses": ["172.0.0.30"], "conditions": {"ready": ready}}]);
    ix.upsert_endpoint_slice(&slice(
        "testns",
        "hdlsempty",
        json!([]),
        endpoints(json!(true)),
    ))
    .unwrap();
    check(&ix, name, A, "NOERROR: hdlsempty.testns.svc.cluster.local. 30 A 172.0.0.30");
    check(&ix, "30.0.0.172.in-addr.arpa.", Ptr, "NOERROR: 30.0.0.172.in-addr.arpa. 30 PTR 172-0-0-30.hdlsempty.testns.svc.cluster.local.");
    ix.upsert_endpoint_slice(&slice(
        "testns",
        "hdlsempty",
        json!([]),
        endpoints(json!(false)),
    ))
    .unwrap();
    check(&ix, name, A, NX);
    check(&ix, "30.0.0.172.in-addr.arpa.", Ptr, "FORWARD");
    // conditions.ready unset counts as ready.
    ix.upsert_endpoint_slice(&slice(
        "testns",
        "hdlsempty",
        json!([]),
        endpoints(Value::Null),
    ))
    .unwrap();
    check(&ix, name, A, "NOERROR: hdlsempty.testns.svc.cluster.local. 30 A 172.0.0.30");
    // publishNotReadyAddresses makes a not-ready endpoint count.
    ix.upsert_endpoint_slice(&slice(
        "testns",
        "hdlsempty",
        json!([]),
        endpoints(json!(false)),
    ))
    .unwrap();
    ix.upsert_service(&service(
        "testns",
        "hdlsempty",
        json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
    ))
    .unwrap();
    check(&ix, name, A, "NOERROR: hdlsempty.testns.svc.cluster.local. 30 A 172.0.0.30");
    // The slice goes away, then the service.
    ix.delete_endpoint_slice(&slice("testns", "hdlsempty", json!([]), json!([])))
        .unwrap();
    check(&ix, name, A, NX);
    ix.delete_service(&headless("testns", "hdlsempty")).unwrap();
    check(&ix, name, A, NX);
}

#[test]
#[rustfmt::skip]
fn external_name() {
    let ix = &fixture();
    check(ix, "external.testns.svc.cluster.local.", Cname, "NOERROR: external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test.");
    check(ix, "external.testns.svc.cluster.local.", A, "EXTERNAL ext.interwebs.test.: external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test. (soa cluster.local.)");
    check(ix, "external.testns.svc.cluster.local.", Aaaa, "EXTERNAL ext.interwebs.test.: external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test. (soa cluster.local.)");
    // A target inside the zone is answered from the index.
    check(ix, "external-to-service.testns.svc.cluster.local", A, "NOERROR: external-to-service.testns.svc.cluster.local. 30 CNAME svc1.testns.svc.cluster.local.; \
         svc1.testns.svc.cluster.local. 30 A 10.0.0.1");
    check(ix, "external-to-service.testns.svc.cluster.local", Aaaa, NODATA);
    check(ix, "external-to-external.testns.svc.cluster.local.", A, "EXTERNAL ext.interwebs.test.: external-to-external.testns.svc.cluster.local. 30 CNAME external.testns.svc.cluster.local.; \
         external.testns.svc.cluster.local. 30 CNAME ext.interwebs.test. (soa cluster.local.)");
    // TXT is NODATA (Services() answers "exists" without the CNAME), as is MX.
    check(ix, "external.testns.svc.cluster.local.", Txt, NODATA);
    check(ix, "external.testns.svc.cluster.local.", Mx, NODATA);
    // No endpoint, port or protocol labels under an ExternalName.
    check(ix, "endpoint.external.testns.svc.cluster.local.", Cname, NX);
    check(ix, "subdomain.subdomain.external.testns.svc.cluster.local.", Cname, NX);
    check(ix, "_http._tcp.external.testns.svc.cluster.local.", Srv, NX);
    // An IP is no ExternalName; a CNAME to itself is dropped.
    check(ix, "ext-ip.testns.svc.cluster.local.", A, NX);
    check(ix, "ext-self.testns.svc.cluster.local.", A, NODATA);
    // A target inside the zone that does not exist drops the CNAME: NODATA.
    check(ix, "external-to-missing.testns.svc.cluster.local.", A, NODATA);
}

#[test]
#[rustfmt::skip]
fn pods_verified() {
    let ix = &fixture();
    check(ix, "10-240-0-1.podns.pod.cluster.local.", A, "NOERROR: 10-240-0-1.podns.pod.cluster.local. 30 A 10.240.0.1");
    check(ix, "fd00--5.podns.pod.cluster.local.", Aaaa, "NOERROR: fd00--5.podns.pod.cluster.local. 30 AAAA fd00::5");
    check(ix, "10-240-0-1.podns.pod.cluster.local.", Aaaa, NODATA);
    // Wrong namespace, unknown IP, not an IP, unknown namespace.
    check(ix, "10-240-0-1.testns.pod.cluster.local.", A, NX);
    check(ix, "10-240-0-2.podns.pod.cluster.local.", A, NX);
    check(ix, "1-2-3.podns.pod.cluster.local.", A, NX);
    check(ix, "10-240-0-1.pod-nons.pod.cluster.local.", A, NX);
    // The namespace level: NODATA if it exists.
    check(ix, "podns.pod.cluster.local.", A, NODATA);
    check(ix, "pod-nons.pod.cluster.local.", A, NX);
    check(ix, "testns.svc.cluster.local.", A, NODATA);
    check(ix, "svc-nons.svc.cluster.local.", A, NX);
}

#[test]
#[rustfmt::skip]
fn namespaces_from_namespace_objects() {
    let ix = fixture();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "empty"}});
    check(&ix, "empty.svc.cluster.local.", A, NX);
    ix.upsert_namespace(&ns).unwrap();
    check(&ix, "empty.svc.cluster.local.", A, NODATA);
    check(&ix, "empty.pod.cluster.local.", A, NODATA);
    ix.delete_namespace(&ns).unwrap();
    check(&ix, "empty.svc.cluster.local.", A, NX);
}

#[test]
#[rustfmt::skip]
fn apex_and_special_names() {
    let ix = &fixture();
    check(ix, "cluster.local.", Soa, "NOERROR: cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. 7200 1800 86400 30");
    check(ix, "cluster.local.", Ns, "NOERROR: cluster.local. 30 NS ns.dns.cluster.local. + extra: ns.dns.cluster.local. 30 A 10.96.0.10");
    check(ix, "ns.dns.cluster.local.", A, "NOERROR: ns.dns.cluster.local. 30 A 10.96.0.10");
    check(ix, "ns.dns.cluster.local.", Aaaa, NODATA);
    check(ix, "ns.dns.cluster.local.", Txt, NX);
    check(ix, "cluster.local.", A, NODATA);
    check(ix, "cluster.local.", Aaaa, NODATA);
    check(ix, "cluster.local.", Txt, NX);
    check(ix, "cluster.local.", Mx, NODATA);
    check(ix, "svc.cluster.local.", A, NODATA);
    check(ix, "pod.cluster.local.", A, NODATA);
    check(ix, "svc.cluster.local.", Txt, NX);
    // NS below the apex is the fake-A rule.
    check(ix, "svc.cluster.local.", Ns, NODATA);
    check(ix, "testns.svc.cluster.local.", Ns, NODATA);
    check(ix, "foo.cluster.local.", Ns, NX);
    check(ix, "foo.svc.cluster.local.", Ns, NX);
    // The schema version, and the A quirk of its name.
    check(ix, "dns-version.cluster.local.", Txt, "NOERROR: dns-version.cluster.local. 28800 TXT 1.1.0");
    check(ix, "svc1.testns.svc.cluster.local.", Txt, NODATA);
    check(ix, "svc0.svc-nons.svc.cluster.local.", Txt, NX);
    check(ix, "dns-version.cluster.local.", A, NX);
    check(ix, "cluster.local.", Axfr, "REFUSED");
    check(ix, "cluster.local.", Ixfr, "REFUSED");
}

#[test]
#[rustfmt::skip]
fn case_is_echoed() {
    let ix = &fixture();
    check(ix, "not-a-service.testns.svc.ClUsTeR.lOcAl.", A, "NXDOMAIN soa ClUsTeR.lOcAl.");
    check(ix, "SvC1.TeStNs.SvC.cLuStEr.LoCaL.", A, "NOERROR: SvC1.TeStNs.SvC.cLuStEr.LoCaL. 30 A 10.0.0.1");
    check(ix, "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", Srv, "NOERROR: _HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 30 SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL. \
         + extra: svc1.testns.svc.cLuStEr.LoCaL. 30 A 10.0.0.1");
    check(ix, "Cluster.local.", Soa, "NOERROR: Cluster.local. 30 SOA ns.dns.Cluster.local. hostmaster.Cluster.local. 7200 1800 86400 30");
    check(ix, "CLUSTER.LOCAL.", Ns, "NOERROR: CLUSTER.LOCAL. 30 NS ns.dns.CLUSTER.LOCAL. + extra: ns.dns.CLUSTER.LOCAL. 30 A 10.96.0.10");
    check(ix, "DUP-NAME.hdls1.TESTNS.svc.cluster.local.", A, "NOERROR: DUP-NAME.hdls1.TESTNS.svc.cluster.local. 30 A 172.0.0.4; DUP-NAME.hdls1.TESTNS.svc.cluster.local. 30 A 172.0.0.5");
    check(ix, "1.0.0.10.IN-ADDR.ARPA.", Ptr, "NOERROR: 1.0.0.10.IN-ADDR.ARPA. 30 PTR svc1.testns.svc.cluster.local.");
}

#[test]
#[rustfmt::skip]
fn reverse() {
    let ix = &fixture();
    // A ClusterIP wins and gives one PTR; endpoints give <hostname>.<svc>.
    check(ix, "1.0.0.10.in-addr.arpa.", Ptr, "NOERROR: 1.0.0.10.in-addr.arpa. 30 PTR svc1.testns.svc.cluster.local.");
    check(ix, "10.0.96.10.in-addr.arpa.", Ptr, "NOERROR: 10.0.96.10.in-addr.arpa. 30 PTR kube-dns.kube-system.svc.cluster.local.");
    check(ix, "1.0.0.172.in-addr.arpa.", Ptr, "NOERROR: 1.0.0.172.in-addr.arpa. 30 PTR ep1a.svc1.testns.svc.cluster.local.");
    check(ix, "2.0.0.172.in-addr.arpa.", Ptr, "NOERROR: 2.0.0.172.in-addr.arpa. 30 PTR 172-0-0-2.hdls1.testns.svc.cluster.local.");
    check(ix, "4.0.0.172.in-addr.arpa.", Ptr, "NOERROR: 4.0.0.172.in-addr.arpa. 30 PTR dup-name.hdls1.testns.svc.cluster.local.");
    check(ix, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", Ptr, "NOERROR: 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 30 PTR svc6.testns.svc.cluster.local.");
    check(ix, "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa.", Ptr, "NOERROR: 3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.ip6.arpa. 30 PTR svc-dual-stack.testns.svc.cluster.local.");
    // Not-ready endpoints have no PTR.
    check(ix, "9.0.0.172.in-addr.arpa.", Ptr, "FORWARD");
    // Misses fall through to the upstream, except in an owned range (10.0.0.0/24 here).
    check(ix, "99.0.0.172.in-addr.arpa.", Ptr, "FORWARD");
    check(ix, "99.0.0.10.in-addr.arpa.", Ptr, "NXDOMAIN soa in-addr.arpa.");
    check(ix, "1.0.0.10.in-addr.arpa.", A, "NODATA soa in-addr.arpa.");
    check(ix, "2.0.0.172.in-addr.arpa.", A, "FORWARD");
    check(ix, "0.10.in-addr.arpa.", Ptr, "FORWARD");
    check(ix, "in-addr.arpa.", Soa, "FORWARD");
    // Outside every zone: forwarded.
    check(ix, "example.com.", A, "FORWARD");
    check(ix, "cluster.local.example.com.", A, "FORWARD");
    check(ix, "xcluster.local.", A, "FORWARD");
}

#[test]
#[rustfmt::skip]
fn unsynced_is_servfail_never_nxdomain() {
    let config = Config {
        reverse_cidrs: vec!["10.0.0.0/24".parse().unwrap()],
        ..Config::default()
    };
    let ix = &Index::new(&config).unwrap();
    ix.upsert_service(&cluster_ip("testns", "svc1", &["10.0.0.1"], http()))
        .unwrap();
    check(ix, "svc0.testns.svc.cluster.local.", A, "SERVFAIL soa cluster.local.");
    check(ix, "svc1.testns.svc.cluster.local.", A, "SERVFAIL soa cluster.local.");
    check(ix, "dns-version.cluster.local.", Txt, "SERVFAIL soa cluster.local.");
    check(ix, "99.0.0.10.in-addr.arpa.", Ptr, "SERVFAIL soa in-addr.arpa.");
    check(ix, "99.0.0.172.in-addr.arpa.", Ptr, "FORWARD");
    check(ix, "example.com.", A, "FORWARD");
    ix.mark_synced();
    check(ix, "svc0.testns.svc.cluster.local.", A, NX);
    check(ix, "svc1.testns.svc.cluster.local.", A, "NOERROR: svc1.testns.svc.cluster.local. 30 A 10.0.0.1");
}

#[test]
#[rustfmt::skip]
fn autopath_namespace_of_a_client() {
    let ix = fixture();
    assert_eq!(
        ix.autopath_namespace("10.240.0.1".parse().unwrap())
            .as_deref(),
        Some("podns")
    );
    assert_eq!(ix.autopath_namespace("10.240.0.9".parse().unwrap()), None);
    // Two namespaces behind one IP (host-network pods aside): ambiguous, no autopath.
    ix.upsert_pod(&pod("other", "bar", &["10.240.0.1"]))
        .unwrap();
    assert_eq!(ix.autopath_namespace("10.240.0.1".parse().unwrap()), None);
    let mut host = pod("host", "agent", &["10.240.0.7"]);
    host["spec"]["hostNetwork"] = json!(true);
    ix.upsert_pod(&host).unwrap();
    assert_eq!(ix.autopath_namespace("10.240.0.7".parse().unwrap()), None);
}
