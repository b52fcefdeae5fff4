//! Tests for `env`: the service link tables of `envvars_test.go`, the precedence and source
//! cases of `TestMakeEnvironmentVariables`, and the expansion cases of `expand_test.go`.

use serde_json::{Value, json};

use super::*;

/// A Service in Kubernetes JSON form; `ports` are `(name, port, protocol)`.
fn svc(name: &str, namespace: &str, cluster_ip: &str, ports: &[(&str, i64, &str)]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(port_name, port, protocol)| {
            let mut p = json!({"port": port});
            if !port_name.is_empty() {
                p["name"] = json!(port_name);
            }
            if !protocol.is_empty() {
                p["protocol"] = json!(protocol);
            }
            p
        })
        .collect();
    json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": cluster_ip, "ports": ports, "selector": {"bar": "baz"}},
    })
}

fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The service links of a pod in `ns` with links enabled, against an exact list.
fn check(services: &[Value], expected: &[(&str, &str)]) {
    let refs: Vec<&Value> = services.iter().collect();
    let got = service_links("ns", true, &refs);
    assert_eq!(got, owned(expected));
}

#[test]
fn from_services_foo_bar() {
    check(
        &[svc("foo-bar", "ns", "1.2.3.4", &[("", 8080, "TCP")])],
        &[
            ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
            ("FOO_BAR_SERVICE_PORT", "8080"),
            ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
            ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
            ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
            ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
            ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
        ],
    );
}

#[test]
fn from_services_abc_123() {
    check(
        &[svc(
            "abc-123",
            "ns",
            "5.6.7.8",
            &[("u-d-p", 8081, "UDP"), ("t-c-p", 8081, "TCP")],
        )],
        &[
            ("ABC_123_SERVICE_HOST", "5.6.7.8"),
            ("ABC_123_SERVICE_PORT", "8081"),
            ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
            ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
            ("ABC_123_PORT", "udp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
            ("ABC_123_PORT_8081_UDP_PORT", "8081"),
            ("ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"),
            ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
            ("ABC_123_PORT_8081_TCP_PROTO", "tcp"),
            ("ABC_123_PORT_8081_TCP_PORT", "8081"),
            ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
        ],
    );
}

#[test]
fn from_services_q_u_u_x() {
    check(
        &[svc(
            "q-u-u-x",
            "ns",
            "9.8.7.6",
            &[("", 8082, "TCP"), ("8083", 8083, "TCP")],
        )],
        &[
            ("Q_U_U_X_SERVICE_HOST", "9.8.7.6"),
            ("Q_U_U_X_SERVICE_PORT", "8082"),
            ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
            ("Q_U_U_X_PORT", "tcp://9.8.7.6:8082"),
            ("Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"),
            ("Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"),
            ("Q_U_U_X_PORT_8082_TCP_PORT", "8082"),
            ("Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"),
            ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
            ("Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"),
            ("Q_U_U_X_PORT_8083_TCP_PORT", "8083"),
            ("Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"),
        ],
    );
}

#[test]
fn from_services_cluster_ip_none_or_empty() {
    check(
        &[svc(
            "svrc-clusterip-none",
            "ns",
            "None",
            &[("", 8082, "TCP")],
        )],
        &[],
    );
    check(
        &[svc("svrc-clusterip-empty", "ns", "", &[("", 8082, "TCP")])],
        &[],
    );
    // ExternalName Services have no ClusterIP at all.
    check(
        &[json!({"metadata": {"name": "ext", "namespace": "ns"},
                 "spec": {"type": "ExternalName", "externalName": "example.com"}})],
        &[],
    );
}

#[test]
fn from_services_super_ipv6() {
    check(
        &[svc(
            "super-ipv6",
            "ns",
            "2001:DB8::",
            &[("u-d-p", 8084, "UDP"), ("t-c-p", 8084, "TCP")],
        )],
        &[
            ("SUPER_IPV6_SERVICE_HOST", "2001:DB8::"),
            ("SUPER_IPV6_SERVICE_PORT", "8084"),
            ("SUPER_IPV6_SERVICE_PORT_U_D_P", "8084"),
            ("SUPER_IPV6_SERVICE_PORT_T_C_P", "8084"),
            ("SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_UDP", "udp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_UDP_PROTO", "udp"),
            ("SUPER_IPV6_PORT_8084_UDP_PORT", "8084"),
            ("SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"),
            ("SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"),
            ("SUPER_IPV6_PORT_8084_TCP_PROTO", "tcp"),
            ("SUPER_IPV6_PORT_8084_TCP_PORT", "8084"),
            ("SUPER_IPV6_PORT_8084_TCP_ADDR", "2001:DB8::"),
        ],
    );
}

#[test]
fn from_services_sctp_1() {
    check(
        &[svc("sctp-1", "ns", "1.2.3.4", &[("", 777, "SCTP")])],
        &[
            ("SCTP_1_SERVICE_HOST", "1.2.3.4"),
            ("SCTP_1_SERVICE_PORT", "777"),
            ("SCTP_1_PORT", "sctp://1.2.3.4:777"),
            ("SCTP_1_PORT_777_SCTP", "sctp://1.2.3.4:777"),
            ("SCTP_1_PORT_777_SCTP_PROTO", "sctp"),
            ("SCTP_1_PORT_777_SCTP_PORT", "777"),
            ("SCTP_1_PORT_777_SCTP_ADDR", "1.2.3.4"),
        ],
    );
}

#[test]
fn from_services_empty_protocol_is_tcp() {
    check(
        &[svc("plain", "ns", "10.0.0.9", &[("", 80, "")])],
        &[
            ("PLAIN_SERVICE_HOST", "10.0.0.9"),
            ("PLAIN_SERVICE_PORT", "80"),
            ("PLAIN_PORT", "tcp://10.0.0.9:80"),
            ("PLAIN_PORT_80_TCP", "tcp://10.0.0.9:80"),
            ("PLAIN_PORT_80_TCP_PROTO", "tcp"),
            ("PLAIN_PORT_80_TCP_PORT", "80"),
            ("PLAIN_PORT_80_TCP_ADDR", "10.0.0.9"),
        ],
    );
}

fn kubernetes_service() -> Value {
    svc(
        "kubernetes",
        "default",
        "10.96.0.1",
        &[("https", 443, "TCP")],
    )
}

const KUBERNETES_VARS: [(&str, &str); 8] = [
    ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
    ("KUBERNETES_SERVICE_PORT", "443"),
    ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
    ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
    ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
    ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
    ("KUBERNETES_PORT_443_TCP_PORT", "443"),
    ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
];

#[test]
fn from_services_kubernetes() {
    check(&[kubernetes_service()], &KUBERNETES_VARS);
}

#[test]
fn from_services_sorted_by_name() {
    let services = [
        svc("foo-bar", "ns", "1.2.3.4", &[("", 8080, "TCP")]),
        kubernetes_service(),
        svc("abc-123", "ns", "5.6.7.8", &[("", 1, "TCP")]),
        svc("svrc-clusterip-none", "ns", "None", &[("", 8082, "TCP")]),
    ];
    let refs: Vec<&Value> = services.iter().collect();
    let hosts: Vec<String> = service_links("ns", true, &refs)
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.ends_with("_SERVICE_HOST"))
        .collect();
    assert_eq!(
        hosts,
        [
            "ABC_123_SERVICE_HOST",
            "FOO_BAR_SERVICE_HOST",
            "KUBERNETES_SERVICE_HOST"
        ]
    );
}

/// The services of `TestMakeEnvironmentVariables`.
fn cluster_services() -> Vec<Value> {
    vec![
        svc("kubernetes", "default", "1.2.3.1", &[("", 8081, "TCP")]),
        svc("test", "test1", "1.2.3.3", &[("", 8083, "TCP")]),
        svc("kubernetes", "test2", "1.2.3.4", &[("", 8084, "TCP")]),
        svc("test", "test2", "1.2.3.5", &[("", 8085, "TCP")]),
        svc("test", "test2", "None", &[("", 8085, "TCP")]),
        svc("test", "test2", "", &[("", 8085, "TCP")]),
        svc("kubernetes", "kubernetes", "1.2.3.6", &[("", 8086, "TCP")]),
        svc("not-special", "kubernetes", "1.2.3.8", &[("", 8088, "TCP")]),
        svc("not-special", "kubernetes", "None", &[("", 8088, "TCP")]),
        svc("not-special", "kubernetes", "", &[("", 8088, "TCP")]),
    ]
}

/// The service link names (`*_SERVICE_HOST` values) of a pod in `ns`.
fn linked_hosts(ns: &str, enable: bool) -> Vec<(String, String)> {
    let services = cluster_services();
    let refs: Vec<&Value> = services.iter().collect();
    service_links(ns, enable, &refs)
        .into_iter()
        .filter(|(name, _)| name.ends_with("_SERVICE_HOST"))
        .collect()
}

/// An expected `(name, value)`.
type Pair = (&'static str, &'static str);

#[test]
fn service_link_selection() {
    let cases: &[(&str, bool, &[Pair])] = &[
        // default/kubernetes always, even with links disabled.
        ("test1", false, &[("KUBERNETES_SERVICE_HOST", "1.2.3.1")]),
        (
            "test1",
            true,
            &[
                ("KUBERNETES_SERVICE_HOST", "1.2.3.1"),
                ("TEST_SERVICE_HOST", "1.2.3.3"),
            ],
        ),
        // A `kubernetes` Service in the pod's namespace overrides default/kubernetes, but
        // only when service links are enabled.
        ("test2", false, &[("KUBERNETES_SERVICE_HOST", "1.2.3.1")]),
        (
            "test2",
            true,
            &[
                ("KUBERNETES_SERVICE_HOST", "1.2.3.4"),
                ("TEST_SERVICE_HOST", "1.2.3.5"),
            ],
        ),
        (
            "kubernetes",
            true,
            &[
                ("KUBERNETES_SERVICE_HOST", "1.2.3.6"),
                ("NOT_SPECIAL_SERVICE_HOST", "1.2.3.8"),
            ],
        ),
        ("default", false, &[("KUBERNETES_SERVICE_HOST", "1.2.3.1")]),
        ("default", true, &[("KUBERNETES_SERVICE_HOST", "1.2.3.1")]),
    ];
    for (ns, enable, expected) in cases {
        assert_eq!(linked_hosts(ns, *enable), owned(expected), "{ns} {enable}");
    }
}

#[test]
fn service_link_override_is_order_independent() {
    let mut services = cluster_services();
    services.reverse();
    let refs: Vec<&Value> = services.iter().collect();
    let hosts: Vec<_> = service_links("test2", true, &refs)
        .into_iter()
        .filter(|(name, _)| name == "KUBERNETES_SERVICE_HOST")
        .collect();
    assert_eq!(hosts, owned(&[("KUBERNETES_SERVICE_HOST", "1.2.3.4")]));
}

// ---- container_env ----

fn pod(ns: &str) -> Value {
    json!({
        "metadata": {
            "name": "dapi-test-pod-name", "namespace": ns, "uid": "uid-1",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "say \"hi\"\n", "empty": ""},
        },
        "spec": {"serviceAccountName": "special", "nodeName": "node-name", "enableServiceLinks": true},
        "status": {
            "hostIP": "192.168.1.10", "hostIPs": [{"ip": "192.168.1.10"}, {"ip": "fd00::10"}],
            "podIP": "1.2.3.4", "podIPs": [{"ip": "1.2.3.4"}, {"ip": "fd00::6"}],
        },
    })
}

/// A lookup over the given objects, keyed by (kind, name).
fn store(
    objects: Vec<(&'static str, &'static str, Value)>,
) -> impl Fn(&str, &str) -> Option<Value> {
    move |kind: &str, name: &str| {
        objects
            .iter()
            .find(|(k, n, _)| *k == kind && *n == name)
            .map(|(_, _, object)| object.clone())
    }
}

fn no_objects(_: &str, _: &str) -> Option<Value> {
    None
}

fn test1_service_vars() -> Vec<(String, String)> {
    owned(&[
        ("TEST_SERVICE_HOST", "1.2.3.3"),
        ("TEST_SERVICE_PORT", "8083"),
        ("TEST_PORT", "tcp://1.2.3.3:8083"),
        ("TEST_PORT_8083_TCP", "tcp://1.2.3.3:8083"),
        ("TEST_PORT_8083_TCP_PROTO", "tcp"),
        ("TEST_PORT_8083_TCP_PORT", "8083"),
        ("TEST_PORT_8083_TCP_ADDR", "1.2.3.3"),
    ])
}

fn check_env(
    container: Value,
    service_vars: &[(String, String)],
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
    expected: &[(&str, &str)],
) {
    let got = container_env(&pod("test1"), &container, service_vars, lookup);
    assert_eq!(got, Ok(owned(expected)));
}

fn check_env_err(container: Value, lookup: &dyn Fn(&str, &str) -> Option<Value>, expected: &str) {
    match container_env(&pod("test1"), &container, &[], lookup) {
        Err(err) => assert_eq!(err.to_string(), expected),
        Ok(env) => panic!("expected error {expected:?}, got {env:?}"),
    }
}

#[test]
fn user_env_equal_to_service_vars_is_kept_once() {
    // "api server = Y, kubelet = Y": the user env repeats the service variables.
    let mut env = vec![json!({"name": "FOO", "value": "BAR"})];
    for (name, value) in test1_service_vars() {
        env.push(json!({"name": name, "value": value}));
    }
    let mut expected = vec![("FOO".to_string(), "BAR".to_string())];
    expected.extend(test1_service_vars());
    let got = container_env(
        &pod("test1"),
        &json!({"env": env}),
        &test1_service_vars(),
        &no_objects,
    );
    assert_eq!(got, Ok(expected));
}

#[test]
fn user_env_overrides_service_var() {
    check_env(
        json!({"env": [{"name": "TEST_SERVICE_HOST", "value": "override"}]}),
        &test1_service_vars(),
        &no_objects,
        &[
            ("TEST_SERVICE_HOST", "override"),
            ("TEST_SERVICE_PORT", "8083"),
            ("TEST_PORT", "tcp://1.2.3.3:8083"),
            ("TEST_PORT_8083_TCP", "tcp://1.2.3.3:8083"),
            ("TEST_PORT_8083_TCP_PROTO", "tcp"),
            ("TEST_PORT_8083_TCP_PORT", "8083"),
            ("TEST_PORT_8083_TCP_ADDR", "1.2.3.3"),
        ],
    );
}

#[test]
fn env_from_key_overrides_service_var() {
    let lookup = store(vec![(
        "ConfigMap",
        "cm",
        json!({"data": {"TEST_PORT": "mine"}}),
    )]);
    let got = container_env(
        &pod("test1"),
        &json!({"envFrom": [{"configMapRef": {"name": "cm"}}]}),
        &test1_service_vars(),
        &lookup,
    )
    .unwrap_or_default();
    assert_eq!(got[0], ("TEST_PORT".to_string(), "mine".to_string()));
    assert_eq!(
        got.iter().filter(|(name, _)| name == "TEST_PORT").count(),
        1
    );
    assert_eq!(got.len(), 7);
}

#[test]
fn env_expansion() {
    let container = json!({"env": [
        {"name": "TEST_LITERAL", "value": "test-test-test"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "OUT_OF_ORDER_TEST", "value": "$(OUT_OF_ORDER_TARGET)"},
        {"name": "OUT_OF_ORDER_TARGET", "value": "FOO"},
        {"name": "EMPTY_VAR"},
        {"name": "EMPTY_TEST", "value": "foo-$(EMPTY_VAR)"},
        {"name": "POD_NAME_TEST2", "value": "test2-$(POD_NAME)"},
        {"name": "POD_NAME_TEST3", "value": "$(POD_NAME_TEST2)-3"},
        {"name": "LITERAL_TEST", "value": "literal-$(TEST_LITERAL)"},
        {"name": "SERVICE_VAR_TEST", "value": "$(TEST_SERVICE_HOST):$(TEST_SERVICE_PORT)"},
        {"name": "TEST_UNDEFINED", "value": "$(UNDEFINED_VAR)"},
    ]});
    let mut expected = vec![
        ("TEST_LITERAL", "test-test-test"),
        ("POD_NAME", "dapi-test-pod-name"),
        ("OUT_OF_ORDER_TEST", "$(OUT_OF_ORDER_TARGET)"),
        ("OUT_OF_ORDER_TARGET", "FOO"),
        ("EMPTY_VAR", ""),
        ("EMPTY_TEST", "foo-"),
        ("POD_NAME_TEST2", "test2-dapi-test-pod-name"),
        ("POD_NAME_TEST3", "test2-dapi-test-pod-name-3"),
        ("LITERAL_TEST", "literal-test-test-test"),
        ("SERVICE_VAR_TEST", "1.2.3.3:8083"),
        ("TEST_UNDEFINED", "$(UNDEFINED_VAR)"),
    ];
    let service_vars = test1_service_vars();
    let tail: Vec<(&str, &str)> = service_vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    expected.extend(tail);
    check_env(container.clone(), &service_vars, &no_objects, &expected);

    // Without service links the service references stay as written.
    let got = container_env(&pod("test1"), &container, &[], &no_objects).unwrap_or_default();
    assert!(got.contains(&(
        "SERVICE_VAR_TEST".to_string(),
        "$(TEST_SERVICE_HOST):$(TEST_SERVICE_PORT)".to_string()
    )));
}

#[test]
fn expansion_prefers_container_vars_over_service_vars() {
    check_env(
        json!({"env": [
            {"name": "TEST_SERVICE_PORT", "value": "9999"},
            {"name": "URL", "value": "http://$(TEST_SERVICE_HOST):$(TEST_SERVICE_PORT)"},
        ]}),
        &test1_service_vars()[..2],
        &no_objects,
        &[
            ("TEST_SERVICE_PORT", "9999"),
            ("URL", "http://1.2.3.3:9999"),
            ("TEST_SERVICE_HOST", "1.2.3.3"),
        ],
    );
}

#[test]
fn field_refs() {
    let field = |path: &str| json!({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}});
    let cases: &[(&str, &str)] = &[
        ("metadata.name", "dapi-test-pod-name"),
        ("metadata.namespace", "test1"),
        ("metadata.uid", "uid-1"),
        ("metadata.labels['app']", "web"),
        ("metadata.labels['missing']", ""),
        ("metadata.annotations['note']", "say \"hi\"\n"),
        ("metadata.labels", "app=\"web\"\ntier=\"front\""),
        (
            "metadata.annotations",
            "empty=\"\"\nnote=\"say \\\"hi\\\"\\n\"",
        ),
        ("spec.nodeName", "node-name"),
        ("spec.host", "node-name"),
        ("spec.serviceAccountName", "special"),
        ("status.podIP", "1.2.3.4"),
        ("status.podIPs", "1.2.3.4,fd00::6"),
        ("status.hostIP", "192.168.1.10"),
        ("status.hostIPs", "192.168.1.10,fd00::10"),
    ];
    for (path, expected) in cases {
        let got = container_env(
            &pod("test1"),
            &json!({"env": [field(path)]}),
            &[],
            &no_objects,
        );
        assert_eq!(got, Ok(owned(&[("X", expected)])), "{path}");
    }
}

#[test]
fn field_refs_fall_back_to_single_ips() {
    let pod =
        json!({"metadata": {"name": "p"}, "status": {"podIP": "10.0.0.5", "hostIP": "10.0.0.1"}});
    let container = json!({"env": [
        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}},
        {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]});
    assert_eq!(
        container_env(&pod, &container, &[], &no_objects),
        Ok(owned(&[
            ("A", "10.0.0.5"),
            ("B", "10.0.0.1"),
            ("C", "10.0.0.5")
        ]))
    );
    let bare = json!({"metadata": {"name": "p"}});
    assert_eq!(
        container_env(&bare, &container, &[], &no_objects),
        Ok(owned(&[("A", ""), ("B", ""), ("C", "")]))
    );
}

#[test]
fn field_ref_errors() {
    let cases: &[(Value, &str)] = &[
        (
            json!({"fieldPath": "metadata.name", "apiVersion": "v2"}),
            "unsupported pod version: v2",
        ),
        (
            json!({"fieldPath": "spec.bogus"}),
            "field label not supported: spec.bogus",
        ),
        (json!({"fieldPath": ""}), "field label not supported: "),
        (
            json!({"fieldPath": "metadata.name['x']"}),
            "field label does not support subscript: metadata.name['x']",
        ),
        (
            json!({"fieldPath": "status.phase"}),
            "unsupported fieldPath: status.phase",
        ),
        (
            json!({"fieldPath": "spec.restartPolicy"}),
            "unsupported fieldPath: spec.restartPolicy",
        ),
    ];
    for (field_ref, expected) in cases {
        check_env_err(
            json!({"env": [{"name": "X", "valueFrom": {"fieldRef": field_ref}}]}),
            &no_objects,
            expected,
        );
    }
    check_env_err(
        json!({"env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}),
        &no_objects,
        "env var CPU: resourceFieldRef is not supported",
    );
}

fn test_config_map() -> Value {
    json!({"metadata": {"name": "test-config-map", "namespace": "test1"},
           "data": {"REPLACE_ME": "FROM_CONFIG_MAP", "DUPE_TEST": "CONFIG_MAP"}})
}

#[test]
fn env_from_config_map_with_prefix() {
    let lookup = store(vec![("ConfigMap", "test-config-map", test_config_map())]);
    check_env(
        json!({
            "envFrom": [
                {"configMapRef": {"name": "test-config-map"}},
                {"prefix": "p_", "configMapRef": {"name": "test-config-map"}},
            ],
            "env": [
                {"name": "TEST_LITERAL", "value": "test-test-test"},
                {"name": "EXPANSION_TEST", "value": "$(REPLACE_ME)"},
                {"name": "DUPE_TEST", "value": "ENV_VAR"},
            ],
        }),
        &[],
        &lookup,
        &[
            ("DUPE_TEST", "ENV_VAR"),
            ("REPLACE_ME", "FROM_CONFIG_MAP"),
            ("p_DUPE_TEST", "CONFIG_MAP"),
            ("p_REPLACE_ME", "FROM_CONFIG_MAP"),
            ("TEST_LITERAL", "test-test-test"),
            ("EXPANSION_TEST", "FROM_CONFIG_MAP"),
        ],
    );
}

#[test]
fn env_from_secret_with_prefix() {
    // "FROM_SECRET" and "SECRET" in base64.
    let secret = json!({"data": {"REPLACE_ME": "RlJPTV9TRUNSRVQ=", "DUPE_TEST": "U0VDUkVU"}});
    let lookup = store(vec![("Secret", "test-secret", secret)]);
    check_env(
        json!({
            "envFrom": [
                {"secretRef": {"name": "test-secret"}},
                {"prefix": "p_", "secretRef": {"name": "test-secret"}},
            ],
            "env": [
                {"name": "EXPANSION_TEST", "value": "$(REPLACE_ME)"},
                {"name": "DUPE_TEST", "value": "ENV_VAR"},
            ],
        }),
        &[],
        &lookup,
        &[
            ("DUPE_TEST", "ENV_VAR"),
            ("REPLACE_ME", "FROM_SECRET"),
            ("p_DUPE_TEST", "SECRET"),
            ("p_REPLACE_ME", "FROM_SECRET"),
            ("EXPANSION_TEST", "FROM_SECRET"),
        ],
    );
}

#[test]
fn key_refs() {
    let lookup = store(vec![
        ("ConfigMap", "cm", json!({"data": {"k": "v", "empty": ""}})),
        (
            "Secret",
            "s",
            json!({"data": {"pw": "aHVudGVyMg==", "raw": "/w"}}),
        ),
    ]);
    check_env(
        json!({"env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "empty"}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {"name": "D", "valueFrom": {"secretKeyRef": {"name": "s", "key": "raw"}}},
            {"name": "E", "valueFrom": {}},
        ]}),
        &[],
        &lookup,
        &[
            ("A", "v"),
            ("B", ""),
            ("C", "hunter2"),
            ("D", "\u{fffd}"),
            ("E", ""),
        ],
    );
}

#[test]
fn optional_refs_are_skipped() {
    let lookup = store(vec![
        ("ConfigMap", "test-config-map", json!({"data": {"a": "b"}})),
        ("Secret", "test-secret", json!({"data": {"a": "Yg=="}})),
    ]);
    check_env(
        json!({
            "envFrom": [
                {"configMapRef": {"name": "missing-config-map", "optional": true}},
                {"secretRef": {"name": "missing-secret", "optional": true}},
            ],
            "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "missing-config-map", "key": "key", "optional": true}}},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "test-config-map", "key": "key", "optional": true}}},
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "missing-secret", "key": "key", "optional": true}}},
                {"name": "D", "valueFrom": {"secretKeyRef": {"name": "test-secret", "key": "key", "optional": true}}},
                {"name": "E", "value": "$(A)$(B)"},
            ],
        }),
        &[],
        &lookup,
        &[("E", "$(A)$(B)")],
    );
}

#[test]
fn missing_refs_are_errors() {
    let lookup = store(vec![
        ("ConfigMap", "x", json!({"data": {"a": "b"}})),
        ("Secret", "s", json!({"data": {"a": "Yg=="}})),
    ]);
    let cases: &[(Value, &str)] = &[
        (
            json!({"envFrom": [{"configMapRef": {"name": "missing"}}]}),
            "configmap \"missing\" not found",
        ),
        (
            json!({"envFrom": [{"secretRef": {"name": "missing"}}]}),
            "secret \"missing\" not found",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}}]}),
            "configmap \"missing\" not found",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]}),
            "couldn't find key k in ConfigMap test1/x",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}]}),
            "secret \"missing\" not found",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
            "couldn't find key k in Secret test1/s",
        ),
        (
            // `optional: false` is the same as absent.
            json!({"envFrom": [{"configMapRef": {"name": "missing", "optional": false}}]}),
            "configmap \"missing\" not found",
        ),
    ];
    for (container, expected) in cases {
        check_env_err(container.clone(), &lookup, expected);
    }
    let bad = store(vec![("Secret", "s", json!({"data": {"a": "not base64!"}}))]);
    check_env_err(
        json!({"envFrom": [{"secretRef": {"name": "s"}}]}),
        &bad,
        "couldn't decode key a in Secret test1/s: invalid base64",
    );
}

#[test]
fn each_source_is_fetched_once() {
    let calls = std::cell::Cell::new(0);
    let lookup = |kind: &str, _: &str| {
        calls.set(calls.get() + 1);
        (kind == "ConfigMap").then(|| json!({"data": {"k": "v"}}))
    };
    let container = json!({
        "envFrom": [{"configMapRef": {"name": "cm"}}, {"prefix": "P_", "configMapRef": {"name": "cm"}}],
        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
    });
    let got = container_env(&pod("test1"), &container, &[], &lookup);
    assert_eq!(got, Ok(owned(&[("k", "v"), ("P_k", "v"), ("A", "v")])));
    assert_eq!(calls.get(), 1);
}

#[test]
fn malformed_input_does_not_panic() {
    let odd = [
        json!(null),
        json!({"env": "nope", "envFrom": 3}),
        json!({"env": [null, 1, {"name": 2, "value": false}, {"valueFrom": null}]}),
        json!({"envFrom": [null, {"configMapRef": null}, {"secretRef": "x"}]}),
    ];
    for container in &odd {
        assert!(container_env(&json!(null), container, &[], &no_objects).is_ok());
    }
    let services = [
        json!(null),
        json!({"spec": {"clusterIP": "1.1.1.1"}}),
        json!({"metadata": {"name": "noports", "namespace": "ns"}, "spec": {"clusterIP": "1.1.1.1"}}),
    ];
    let refs: Vec<&Value> = services.iter().collect();
    assert!(service_links("ns", true, &refs).is_empty());
}

// ---- expand ----

/// `doExpansionTest` of `expand_test.go`, with the single-map and dual-map contexts.
#[test]
fn expansion_cases() {
    let single = |name: &str| {
        match name {
            "VAR_A" => Some("A"),
            "VAR_B" => Some("B"),
            "VAR_C" => Some("C"),
            "VAR_REF" => Some("$(VAR_A)"),
            "VAR_EMPTY" => Some(""),
            _ => None,
        }
        .map(str::to_string)
    };
    let first = |name: &str| match name {
        "VAR_A" => Some("A"),
        "VAR_EMPTY" => Some(""),
        _ => None,
    };
    let second = |name: &str| match name {
        "VAR_B" => Some("B"),
        "VAR_C" => Some("C"),
        "VAR_REF" => Some("$(VAR_A)"),
        _ => None,
    };
    let dual = |name: &str| first(name).or_else(|| second(name)).map(str::to_string);
    let cases: &[(&str, &str, &str)] = &[
        ("whole string", "$(VAR_A)", "A"),
        ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
        ("beginning", "$(VAR_A)-1", "A-1"),
        ("middle", "___$(VAR_B)___", "___B___"),
        ("end", "___$(VAR_C)", "___C"),
        ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
        ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        (
            "compound escape",
            "$$(VAR_A)_$$(VAR_B)",
            "$(VAR_A)_$(VAR_B)",
        ),
        ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
        ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
        (
            "backslash escape ignored",
            "foo\\\\$(VAR_C)bar",
            "foo\\\\Cbar",
        ),
        (
            "lots of backslashes",
            "foo\\\\\\\\$(VAR_A)bar",
            "foo\\\\\\\\Abar",
        ),
        (
            "nested var references",
            "$(VAR_A$(VAR_B))",
            "$(VAR_A$(VAR_B))",
        ),
        (
            "nested var references second type",
            "$(VAR_A$(VAR_B)",
            "$(VAR_A$(VAR_B)",
        ),
        ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
        (
            "value is a reference x 2",
            "%%$(VAR_REF)--$(VAR_REF)%%",
            "%%$(VAR_A)--$(VAR_A)%%",
        ),
        ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
        (
            "unterminated expression",
            "foo$(VAR_Awhoops!",
            "foo$(VAR_Awhoops!",
        ),
        (
            "expression without operator",
            "f00__(VAR_A)__",
            "f00__(VAR_A)__",
        ),
        ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
        ("bare operators are ignored", "$VAR_A", "$VAR_A"),
        (
            "undefined vars are passed through",
            "$(VAR_DNE)",
            "$(VAR_DNE)",
        ),
        (
            "multiple (even) operators, var undefined",
            "$$$$$$(BIG_MONEY)",
            "$$$(BIG_MONEY)",
        ),
        (
            "multiple (even) operators, var defined",
            "$$$$$$(VAR_A)",
            "$$$(VAR_A)",
        ),
        (
            "multiple (odd) operators, var undefined",
            "$$$$$$$(GOOD_ODDS)",
            "$$$$(GOOD_ODDS)",
        ),
        (
            "multiple (odd) operators, var defined",
            "$$$$$$$(VAR_A)",
            "$$$A",
        ),
        ("missing open expression", "$VAR_A)", "$VAR_A)"),
        ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
        (
            "trailing incomplete expression not consumed",
            "$(VAR_B)_______$(A",
            "B_______$(A",
        ),
        (
            "trailing incomplete expression, no content, is not consumed",
            "$(VAR_C)_______$(",
            "C_______$(",
        ),
        (
            "operator at end of input string is preserved",
            "$(VAR_A)foobarzab$",
            "Afoobarzab$",
        ),
        (
            "shell escaped incomplete expr",
            "foo-\\$(VAR_A",
            "foo-\\$(VAR_A",
        ),
        ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
        (
            "lots of $( in beginning",
            "$($($($($--foo$(",
            "$($($($($--foo$(",
        ),
        ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
        (
            "escaped operators in variable names are not escaped",
            "$(foo$$var)",
            "$(foo$$var)",
        ),
        ("newline not expanded", "\n", "\n"),
        // Not upstream: empty input, a lone operator, and non-ASCII after an operator.
        ("empty", "", ""),
        ("lone operator", "$", "$"),
        ("non-ascii after operator", "$é$(VAR_A)ü", "$éAü"),
        ("non-ascii variable name", "$(VÄR)", "$(VÄR)"),
    ];
    for (name, input, expected) in cases {
        assert_eq!(expand(input, &single), *expected, "single: {name}");
        assert_eq!(expand(input, &dual), *expected, "dual: {name}");
    }
}

/// `TestMapReference`: later entries see the expanded values of earlier ones.
#[test]
fn expansion_map_reference() {
    check_env(
        json!({"env": [
            {"name": "FOO", "value": "bar"},
            {"name": "ZOO", "value": "$(FOO)-1"},
            {"name": "BLU", "value": "$(ZOO)-2"},
        ]}),
        &[],
        &no_objects,
        &[("FOO", "bar"), ("ZOO", "bar-1"), ("BLU", "bar-1-2")],
    );
}

// ---- env_size and trim_service_links ----

#[test]
fn env_size_counts_name_value_and_separators() {
    assert_eq!(env_size(&[]), 0);
    assert_eq!(env_size(&owned(&[("A", "b"), ("CC", "")])), 4 + 4);
}

/// `n` Services named `svc-0000`.. with `ports` ports each, plus `kubernetes`.
fn many_services(n: usize, ports: usize) -> Vec<(String, String)> {
    let mut services = vec![kubernetes_service()];
    for i in 0..n {
        let named: Vec<(String, i64, &str)> = (0..ports)
            .map(|p| {
                (
                    format!("p{p}"),
                    8000 + p as i64,
                    if p % 2 == 0 { "TCP" } else { "UDP" },
                )
            })
            .collect();
        let named: Vec<(&str, i64, &str)> =
            named.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
        services.push(svc(&format!("svc-{i:04}"), "ns", "10.96.1.1", &named));
    }
    let refs: Vec<&Value> = services.iter().collect();
    service_links("ns", true, &refs)
}

#[test]
fn trim_keeps_everything_under_the_cap() {
    let vars = many_services(3, 2);
    let size = env_size(&vars);
    assert_eq!(trim_service_links(vars.clone(), size), (vars.clone(), 0));
    assert_eq!(
        trim_service_links(vars.clone(), SERVICE_LINKS_CAP),
        (vars, 0)
    );
}

#[test]
fn trim_drops_whole_services_from_the_end() {
    let vars = many_services(3, 2);
    let blocks = service_blocks(&vars);
    assert_eq!(blocks.len(), 4);
    let lens: Vec<(usize, bool)> = blocks.iter().map(|b| (b.len, b.protected)).collect();
    // kubernetes (one named port, one link group), then three Services with two named ports.
    assert_eq!(lens, [(8, true), (13, false), (13, false), (13, false)]);
    let last = blocks.last().map_or(0, |b| b.len);
    let cap = env_size(&vars) - 1;
    let (kept, dropped) = trim_service_links(vars.clone(), cap);
    assert_eq!(dropped, 1);
    assert_eq!(kept, vars[..vars.len() - last].to_vec());
    // `svc-0002` sorts after `kubernetes`, so it went first.
    assert!(kept.iter().all(|(name, _)| !name.starts_with("SVC_0002")));
}

#[test]
fn trim_drops_kubernetes_last() {
    let vars = many_services(2, 1);
    let kubernetes_size = env_size(&owned(&KUBERNETES_VARS));
    let (kept, dropped) = trim_service_links(vars.clone(), kubernetes_size);
    assert_eq!(dropped, 2);
    assert_eq!(kept, owned(&KUBERNETES_VARS));
    let (kept, dropped) = trim_service_links(vars, 0);
    assert_eq!((kept.len(), dropped), (0, 3));
}

#[test]
fn trim_blocks_survive_tricky_port_names() {
    // A port named `service-host`, and a Service whose name extends another's link prefix.
    let services = [
        svc(
            "a",
            "ns",
            "10.0.0.1",
            &[("service-host", 1, "TCP"), ("service-port", 2, "UDP")],
        ),
        svc("a-port-1-tcp", "ns", "10.0.0.2", &[("", 3, "TCP")]),
        svc("b", "ns", "2001:db8::1", &[("x", 4, "SCTP")]),
    ];
    let refs: Vec<&Value> = services.iter().collect();
    let vars = service_links("ns", true, &refs);
    let lens: Vec<usize> = service_blocks(&vars).iter().map(|b| b.len).collect();
    assert_eq!(lens, [2 + 2 + 1 + 8, 2 + 1 + 4, 2 + 1 + 1 + 4]);
    assert_eq!(lens.iter().sum::<usize>(), vars.len());
}

/// A property check without a dependency: many random shapes, each trimmed under random caps.
#[test]
fn trim_property_under_cap_and_whole_blocks() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    for _ in 0..200 {
        let vars = many_services(next(20) as usize, 1 + next(4) as usize);
        let blocks = service_blocks(&vars);
        let cap = next(env_size(&vars) as u64 + 1) as usize;
        let (kept, dropped) = trim_service_links(vars.clone(), cap);
        let min_size = env_size(&owned(&KUBERNETES_VARS));
        assert!(env_size(&kept) <= cap || kept.is_empty(), "cap {cap}");
        if cap >= min_size {
            assert!(kept.starts_with(&owned(&KUBERNETES_VARS)));
        }
        // Kept entries are whole blocks, in order.
        let kept_blocks = service_blocks(&kept);
        assert_eq!(kept_blocks.len() + dropped, blocks.len());
        let mut rest = vars.iter();
        for (name, value) in &kept {
            assert!(rest.any(|(n, v)| n == name && v == value));
        }
    }
}
