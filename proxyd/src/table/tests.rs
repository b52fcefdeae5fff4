//! Table tests for [`build`]: one Service (and its slices) in, the listeners and endpoints out.

use super::*;
use serde_json::json;

fn config() -> Config {
    Config {
        node_addresses: vec!["192.168.1.10".parse().expect("ip")],
        node_name: Some("node-1".into()),
        ..Config::default()
    }
}

fn service(name: &str, spec: Value) -> Value {
    json!({"metadata": {"namespace": "default", "name": name, "creationTimestamp": "2025-01-01T00:00:00Z"},
           "spec": spec})
}

fn slice(service: &str, name: &str, ports: Value, endpoints: Value) -> Value {
    json!({"metadata": {"namespace": "default", "name": name,
                        "labels": {SERVICE_NAME_LABEL: service}},
           "addressType": "IPv4", "ports": ports, "endpoints": endpoints})
}

fn endpoint(
    ip: &str,
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
) -> Value {
    let mut conditions = json!({});
    for (field, value) in [
        ("ready", ready),
        ("serving", serving),
        ("terminating", terminating),
    ] {
        if let Some(value) = value {
            conditions[field] = json!(value);
        }
    }
    json!({"addresses": [ip], "conditions": conditions, "nodeName": "node-1"})
}

/// `(protocol, listener, endpoints)` for every route, in key order, as strings.
fn routes(table: &VipTable) -> Vec<(String, Vec<String>)> {
    table
        .routes
        .iter()
        .map(|(key, route)| {
            let endpoints = route
                .backends
                .endpoints
                .iter()
                .map(ToString::to_string)
                .collect();
            (key.to_string(), endpoints)
        })
        .collect()
}

fn check(services: &[Value], slices: &[Value], expected: &[(&str, &[&str])]) -> VipTable {
    let table = build(services, slices, &config());
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(key, endpoints)| {
            (
                key.to_string(),
                endpoints.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        routes(&table),
        expected,
        "conflicts {:?} skipped {:?}",
        table.conflicts,
        table.skipped
    );
    table
}

#[test]
fn ports_map_to_slice_ports_by_name() {
    let svc = service(
        "web",
        json!({"clusterIP": "10.96.0.5", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "protocol": "TCP"}]}),
    );
    let slices = [slice(
        "web",
        "web-a",
        json!([{"name": "metrics", "port": 9100, "protocol": "TCP"}, {"name": "http", "port": 8080, "protocol": "TCP"}]),
        json!([endpoint("10.244.0.7", Some(true), None, None)]),
    )];
    check(
        &[svc],
        &slices,
        &[
            ("TCP 10.96.0.5:80", &["10.244.0.7:8080"]),
            ("TCP 10.96.0.5:9090", &["10.244.0.7:9100"]),
        ],
    );
}

#[test]
fn unnamed_port_matches_unnamed_slice_port_and_protocol_must_match() {
    let svc = service(
        "dns",
        json!({"clusterIP": "10.96.0.10", "ports": [
        {"port": 53, "protocol": "UDP"}, {"name": "tcp", "port": 53, "protocol": "TCP"}]}),
    );
    let slices = [slice(
        "dns",
        "dns-a",
        json!([{"port": 5353, "protocol": "UDP"}, {"name": "tcp", "port": 5354, "protocol": "TCP"}]),
        json!([endpoint("10.244.0.3", None, None, None)]),
    )];
    check(
        &[svc],
        &slices,
        &[
            ("TCP 10.96.0.10:53", &["10.244.0.3:5354"]),
            ("UDP 10.96.0.10:53", &["10.244.0.3:5353"]),
        ],
    );
}

#[test]
fn only_ready_endpoints_and_nil_counts_as_ready() {
    let svc = service(
        "web",
        json!({"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}),
    );
    let slices = [slice(
        "web",
        "web-a",
        json!([{"port": 8080, "protocol": "TCP"}]),
        json!([
            endpoint("10.244.0.1", Some(true), Some(true), Some(false)),
            endpoint("10.244.0.2", Some(false), Some(false), Some(false)),
            endpoint("10.244.0.3", None, None, None),
            endpoint("10.244.0.4", Some(false), Some(true), Some(true)),
        ]),
    )];
    let table = check(
        &[svc],
        &slices,
        &[("TCP 10.96.0.5:80", &["10.244.0.1:8080", "10.244.0.3:8080"])],
    );
    assert!(
        table
            .routes
            .values()
            .all(|r| !r.backends.terminating_fallback)
    );
}

#[test]
fn serving_terminating_endpoints_only_when_none_is_ready() {
    let svc = service(
        "web",
        json!({"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}),
    );
    let slices = [slice(
        "web",
        "web-a",
        json!([{"port": 8080}]),
        json!([
            endpoint("10.244.0.2", Some(false), Some(false), Some(true)),
            endpoint("10.244.0.4", Some(false), Some(true), Some(true)),
            endpoint("10.244.0.5", Some(false), Some(true), Some(false)),
        ]),
    )];
    let table = check(
        &[svc],
        &slices,
        &[("TCP 10.96.0.5:80", &["10.244.0.4:8080"])],
    );
    assert!(
        table
            .routes
            .values()
            .all(|r| r.backends.terminating_fallback)
    );
}

#[test]
fn no_endpoints_still_listens_so_clients_get_a_reset() {
    let svc = service(
        "web",
        json!({"clusterIP": "10.96.0.5", "ports": [{"port": 80}]}),
    );
    let slices = [slice(
        "web",
        "web-a",
        json!([{"port": 8080}]),
        json!([endpoint(
            "10.244.0.2",
            Some(false),
            Some(false),
            Some(false)
        )]),
    )];
    check(
        std::slice::from_ref(&svc),
        &slices,
        &[("TCP 10.96.0.5:80", &[])],
    );
    check(&[svc], &[], &[("TCP 10.96.0.5:80", &[])]);
}

#[test]
fn multiple_slices_merge_with_their_own_port_numbers_and_no_duplicates() {
    let svc = service(
        "web",
        json!({"clusterIP": "10.96.0.5", "ports": [{"name": "http", "port": 80}]}),
    );
    let slices = [
        slice(
            "web",
            "web-b",
            json!([{"name": "http", "port": 8081}]),
            json!([
                endpoint("10.244.0.9", Some(true), None, None),
                endpoint("10.244.0.1", Some(true), None, None)
            ]),
        ),
        slice(
            "web",
            "web-a",
            json!([{"name": "http", "port": 8080}]),
            json!([endpoint("10.244.0.1", Some(true), None, None)]),
        ),
        // Another Service's slice, and one of another namespace, are not ours.
        slice(
            "api",
            "api-a",
            json!([{"name": "http", "port": 9999}]),
            json!([endpoint("10.244.0.50", Some(true), None, None)]),
        ),
        json!({"metadata": {"namespace": "other", "name": "web-x", "labels": {SERVICE_NAME_LABEL: "web"}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": 7}],
               "endpoints": [endpoint("10.244.0.60", Some(true), None, None)]}),
    ];
    check(
        &[svc],
        &slices,
        &[(
            "TCP 10.96.0.5:80",
            &["10.244.0.1:8080", "10.244.0.1:8081", "10.244.0.9:8081"],
        )],
    );
}

#[test]
fn headless_and_external_name_get_no_listener() {
    let headless = service(
        "db",
        json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}),
    );
    let external = service(
        "ext",
        json!({"type": "ExternalName", "externalName": "example.com",
                                         "ports": [{"port": 443}]}),
    );
    let slices = [slice(
        "db",
        "db-a",
        json!([{"port": 5432}]),
        json!([endpoint("10.244.0.8", None, None, None)]),
    )];
    let table = check(&[headless, external], &slices, &[]);
    assert!(table.skipped.is_empty() && table.conflicts.is_empty());
}

#[test]
fn node_port_listens_on_node_addresses() {
    let svc = service(
        "web",
        json!({"type": "NodePort", "clusterIP": "10.96.0.5",
        "ports": [{"port": 80, "nodePort": 30080}]}),
    );
    let slices = [slice(
        "web",
        "web-a",
        json!([{"port": 8080}]),
        json!([endpoint("10.244.0.7", None, None, None)]),
    )];
    let table = check(
        &[svc],
        &slices,
        &[
            ("TCP 10.96.0.5:80", &["10.244.0.7:8080"]),
            ("TCP 192.168.1.10:30080", &["10.244.0.7:8080"]),
        ],
    );
    let kinds: Vec<ListenerKind> = table.routes.values().map(|r| r.kind).collect();
    assert_eq!(kinds, [ListenerKind::ClusterIp, ListenerKind::NodePort]);
}

#[test]
fn load_balancer_listens_on_ingress_localhost_and_node_port() {
    let mut svc = service(
        "web",
        json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.5"],
        "externalIPs": ["203.0.113.9"], "ports": [{"port": 8080, "nodePort": 30080}]}),
    );
    svc["status"] = json!({"loadBalancer": {"ingress": [
        {"ip": "192.168.1.10", "ipMode": "VIP"}, {"ip": "198.51.100.7", "ipMode": "Proxy"},
        {"hostname": "lb.example.com"}]}});
    let slices = [slice(
        "web",
        "web-a",
        json!([{"port": 80}]),
        json!([endpoint("10.244.0.7", None, None, None)]),
    )];
    let table = check(
        &[svc],
        &slices,
        &[
            ("TCP 10.96.0.5:8080", &["10.244.0.7:80"]),
            ("TCP 127.0.0.1:8080", &["10.244.0.7:80"]),
            ("TCP 192.168.1.10:8080", &["10.244.0.7:80"]),
            ("TCP 192.168.1.10:30080", &["10.244.0.7:80"]),
            ("TCP 203.0.113.9:8080", &["10.244.0.7:80"]),
        ],
    );
    let kind = |key: &str| {
        let key = ListenerKey {
            protocol: Protocol::Tcp,
            addr: key.parse().expect("addr"),
        };
        table.routes[&key].kind
    };
    assert_eq!(kind("127.0.0.1:8080"), ListenerKind::LoadBalancerLocalhost);
    assert_eq!(kind("192.168.1.10:8080"), ListenerKind::LoadBalancer);
    assert_eq!(kind("203.0.113.9:8080"), ListenerKind::ExternalIp);
    // Endpoint sets are shared between the listeners of a service port, not copied.
    let sets: Vec<&Arc<Backends>> = table.routes.values().map(|r| &r.backends).collect();
    assert!(sets.windows(2).all(|w| Arc::ptr_eq(w[0], w[1])));
}

#[test]
fn localhost_load_balancer_can_be_turned_off() {
    let svc = service(
        "web",
        json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.5"], "ports": [{"port": 8080}]}),
    );
    let config = Config {
        load_balancer_localhost: false,
        ..Config::default()
    };
    let table = build([&svc], [], &config);
    assert_eq!(table.routes.len(), 1);
}

#[test]
fn protocols_tcp_udp_and_sctp_is_skipped_with_a_reason() {
    // SCTP: the userspace data path has no SCTP sockets (tokio has none); listed as skipped.
    let svc = service(
        "mixed",
        json!({"clusterIP": "10.96.0.5", "ports": [
        {"name": "a", "port": 80, "protocol": "TCP"}, {"name": "b", "port": 80, "protocol": "UDP"},
        {"name": "c", "port": 80, "protocol": "SCTP"}]}),
    );
    let table = check(
        &[svc],
        &[],
        &[("TCP 10.96.0.5:80", &[]), ("UDP 10.96.0.5:80", &[])],
    );
    assert_eq!(table.skipped.len(), 1);
    assert_eq!(table.skipped[0].port.as_deref(), Some("c"));
    assert_eq!(
        table.skipped[0].reason,
        "protocol SCTP is not supported by the userspace proxy"
    );
}

#[test]
fn dual_stack_cluster_ips_take_endpoints_of_their_own_family() {
    let svc = service(
        "web",
        json!({"clusterIPs": ["10.96.0.5", "fd00:10:96::5"], "ports": [{"port": 80}]}),
    );
    let mut v6 = slice(
        "web",
        "web-v6",
        json!([{"port": 8080}]),
        json!([endpoint("fd00:10:244::7", None, None, None)]),
    );
    v6["addressType"] = json!("IPv6");
    let v4 = slice(
        "web",
        "web-v4",
        json!([{"port": 8080}]),
        json!([endpoint("10.244.0.7", None, None, None)]),
    );
    check(
        &[svc],
        &[v4, v6],
        &[
            ("TCP 10.96.0.5:80", &["10.244.0.7:8080"]),
            ("TCP [fd00:10:96::5]:80", &["[fd00:10:244::7]:8080"]),
        ],
    );
}

#[test]
fn session_affinity_timeout_defaults_and_applies_to_all_listeners() {
    let with = |config: Value| {
        let svc = service(
            "web",
            json!({"type": "NodePort", "clusterIP": "10.96.0.5", "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": config, "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        let table = build([&svc], [], &super::tests::config());
        table
            .routes
            .values()
            .map(|r| r.affinity)
            .collect::<Vec<_>>()
    };
    let default = Some(DEFAULT_AFFINITY_TIMEOUT);
    assert_eq!(with(json!(null)), [default, default]);
    assert_eq!(
        with(json!({"clientIP": {"timeoutSeconds": 0}})),
        [default, default]
    );
    let ten = Some(Duration::from_secs(10));
    assert_eq!(
        with(json!({"clientIP": {"timeoutSeconds": 10}})),
        [ten, ten]
    );
}

#[test]
fn local_traffic_policy_keeps_this_nodes_endpoints_for_its_listeners_only() {
    let svc = service(
        "web",
        json!({"type": "NodePort", "clusterIP": "10.96.0.5", "externalTrafficPolicy": "Local",
        "ports": [{"port": 80, "nodePort": 30080}]}),
    );
    let mut remote = endpoint("10.244.0.8", None, None, None);
    remote["nodeName"] = json!("node-2");
    let slices = [slice(
        "web",
        "web-a",
        json!([{"port": 8080}]),
        json!([endpoint("10.244.0.7", None, None, None), remote]),
    )];
    check(
        &[svc],
        &slices,
        &[
            ("TCP 10.96.0.5:80", &["10.244.0.7:8080", "10.244.0.8:8080"]),
            ("TCP 192.168.1.10:30080", &["10.244.0.7:8080"]),
        ],
    );
}

#[test]
fn the_older_service_keeps_a_contested_port() {
    let mut old = service(
        "old",
        json!({"type": "LoadBalancer", "clusterIP": "10.96.0.5", "ports": [{"port": 8080}]}),
    );
    old["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    let new = service(
        "a-new",
        json!({"type": "LoadBalancer", "clusterIP": "10.96.0.6", "ports": [{"port": 8080}]}),
    );
    // Input order does not matter: age does.
    let table = build([&new, &old], [], &config());
    let key = ListenerKey {
        protocol: Protocol::Tcp,
        addr: "127.0.0.1:8080".parse().expect("addr"),
    };
    assert_eq!(table.routes[&key].service_port.service.name, "old");
    assert_eq!(table.conflicts.len(), 1);
    assert_eq!(table.conflicts[0].service_port.service.name, "a-new");
    assert_eq!(table.conflicts[0].holder.service.name, "old");
    assert_eq!(table.routes.len(), 3);
}

#[test]
fn malformed_input_is_skipped_not_fatal() {
    let services = [
        json!({"spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}}), // no name
        service(
            "bad-ip",
            json!({"clusterIP": "10.96.0", "ports": [{"port": 80}]}),
        ),
        service(
            "bad-port",
            json!({"clusterIP": "10.96.0.7", "ports": [{"port": 70000}, {"port": "x"}, 7]}),
        ),
        json!(42),
    ];
    let slices = [
        slice(
            "bad-port",
            "x",
            json!("nope"),
            json!([{"addresses": "nope"}]),
        ),
        json!({"metadata": {"labels": {SERVICE_NAME_LABEL: 1}}}),
    ];
    let table = check(&services, &slices, &[]);
    assert_eq!(table.skipped.len(), 4, "{:?}", table.skipped);
    assert_eq!(table.skipped[0].reason, "invalid cluster ip \"10.96.0\"");
}
