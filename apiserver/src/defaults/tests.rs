//! Data-driven tests of the defaulting rules.

use super::apply;
use serde_json::{Value, json};

/// Applies defaults and checks `(json pointer, expected value)` pairs.
fn check(kind: &str, mut obj: Value, expected: &[(&str, Value)]) {
    apply(kind, &mut obj);
    for (ptr, want) in expected {
        assert_eq!(obj.pointer(ptr), Some(want), "{kind} {ptr} in {obj}");
    }
}

fn absent(kind: &str, mut obj: Value, ptrs: &[&str]) {
    apply(kind, &mut obj);
    for ptr in ptrs {
        assert_eq!(obj.pointer(ptr), None, "{kind} {ptr} in {obj}");
    }
}

#[test]
fn pods() {
    let pod = json!({"spec":{"containers":[{"name":"a","image":"nginx",
        "ports":[{"containerPort":80}],
        "env":[{"name":"X","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
        "livenessProbe":{"httpGet":{"port":80}},
        "resources":{"limits":{"cpu":"1"}}}]}});
    check(
        "Pod",
        pod.clone(),
        &[
            ("/spec/restartPolicy", json!("Always")),
            ("/spec/dnsPolicy", json!("ClusterFirst")),
            ("/spec/schedulerName", json!("default-scheduler")),
            ("/spec/terminationGracePeriodSeconds", json!(30)),
            ("/spec/securityContext", json!({})),
            ("/spec/enableServiceLinks", json!(true)),
            ("/spec/containers/0/imagePullPolicy", json!("Always")),
            (
                "/spec/containers/0/terminationMessagePath",
                json!("/dev/termination-log"),
            ),
            ("/spec/containers/0/terminationMessagePolicy", json!("File")),
            ("/spec/containers/0/ports/0/protocol", json!("TCP")),
            (
                "/spec/containers/0/env/0/valueFrom/fieldRef/apiVersion",
                json!("v1"),
            ),
            ("/spec/containers/0/livenessProbe/timeoutSeconds", json!(1)),
            ("/spec/containers/0/livenessProbe/periodSeconds", json!(10)),
            (
                "/spec/containers/0/livenessProbe/successThreshold",
                json!(1),
            ),
            (
                "/spec/containers/0/livenessProbe/failureThreshold",
                json!(3),
            ),
            (
                "/spec/containers/0/livenessProbe/httpGet/scheme",
                json!("HTTP"),
            ),
            ("/spec/containers/0/livenessProbe/httpGet/path", json!("/")),
            ("/spec/containers/0/resources/requests/cpu", json!("1")),
        ],
    );
    let img = |i: &str| json!({"spec":{"containers":[{"name":"a","image":i}]}});
    for (image, policy) in [
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry:5000/app", "Always"),
        ("registry:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
        ("Nginx", "IfNotPresent"),
    ] {
        check(
            "Pod",
            img(image),
            &[("/spec/containers/0/imagePullPolicy", json!(policy))],
        );
    }
    check(
        "Pod",
        json!({"spec":{"containers":[{"image":"x","imagePullPolicy":"Never"}]}}),
        &[("/spec/containers/0/imagePullPolicy", json!("Never"))],
    );
    check(
        "Pod",
        json!({"spec":{"hostNetwork":true,"containers":[{"ports":[{"containerPort":8080}]}]}}),
        &[("/spec/containers/0/ports/0/hostPort", json!(8080))],
    );
    check(
        "Pod",
        json!({"spec":{"volumes":[{"name":"v"},{"name":"s","secret":{"secretName":"x"}}]}}),
        &[
            ("/spec/volumes/0/emptyDir", json!({})),
            ("/spec/volumes/1/secret/defaultMode", json!(420)),
        ],
    );
}

#[test]
fn workloads() {
    let d = json!({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x:1"}]}}}});
    check(
        "Deployment",
        d.clone(),
        &[
            ("/spec/replicas", json!(1)),
            (
                "/spec/strategy",
                json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}}),
            ),
            ("/spec/revisionHistoryLimit", json!(10)),
            ("/spec/progressDeadlineSeconds", json!(600)),
            ("/spec/template/spec/restartPolicy", json!("Always")),
            (
                "/spec/template/spec/containers/0/imagePullPolicy",
                json!("IfNotPresent"),
            ),
        ],
    );
    absent(
        "Deployment",
        d.clone(),
        &["/spec/selector", "/spec/template/spec/enableServiceLinks"],
    );
    check(
        "Deployment",
        json!({"spec":{"strategy":{"type":"Recreate"}}}),
        &[("/spec/strategy", json!({"type":"Recreate"}))],
    );
    check(
        "Deployment",
        json!({"spec":{"strategy":{"rollingUpdate":{"maxSurge":1}}}}),
        &[(
            "/spec/strategy/rollingUpdate",
            json!({"maxSurge":1,"maxUnavailable":"25%"}),
        )],
    );
    check(
        "ReplicaSet",
        d,
        &[
            ("/spec/replicas", json!(1)),
            ("/spec/template/spec/dnsPolicy", json!("ClusterFirst")),
        ],
    );
}

#[test]
fn services_and_others() {
    check(
        "Service",
        json!({"spec":{"ports":[{"port":80},{"port":443,"targetPort":"https"}]}}),
        &[
            ("/spec/type", json!("ClusterIP")),
            ("/spec/sessionAffinity", json!("None")),
            ("/spec/ports/0/protocol", json!("TCP")),
            ("/spec/ports/0/targetPort", json!(80)),
            ("/spec/ports/1/targetPort", json!("https")),
            ("/spec/internalTrafficPolicy", json!("Cluster")),
            ("/spec/ipFamilyPolicy", json!("SingleStack")),
            ("/spec/ipFamilies", json!(["IPv4"])),
        ],
    );
    absent(
        "Service",
        json!({"spec":{"ports":[{"port":80}]}}),
        &["/spec/externalTrafficPolicy", "/spec/clusterIP"],
    );
    check(
        "Service",
        json!({"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}),
        &[
            ("/spec/externalTrafficPolicy", json!("Cluster")),
            ("/spec/allocateLoadBalancerNodePorts", json!(true)),
        ],
    );
    check(
        "Service",
        json!({"spec":{"sessionAffinity":"ClientIP"}}),
        &[(
            "/spec/sessionAffinityConfig/clientIP/timeoutSeconds",
            json!(10800),
        )],
    );
    absent(
        "Service",
        json!({"spec":{"type":"ExternalName","externalName":"a.b"}}),
        &[
            "/spec/internalTrafficPolicy",
            "/spec/ipFamilies",
            "/spec/ipFamilyPolicy",
        ],
    );
    check("Secret", json!({}), &[("/type", json!("Opaque"))]);
    check(
        "Namespace",
        json!({"metadata":{"name":"ns1"}}),
        &[
            ("/spec/finalizers", json!(["kubernetes"])),
            ("/status/phase", json!("Active")),
            (
                "/metadata/labels/kubernetes.io~1metadata.name",
                json!("ns1"),
            ),
        ],
    );
    check(
        "NetworkPolicy",
        json!({"spec":{"podSelector":{}}}),
        &[("/spec/policyTypes", json!(["Ingress"]))],
    );
    check(
        "NetworkPolicy",
        json!({"spec":{"egress":[{"ports":[{"port":53}]}]}}),
        &[
            ("/spec/policyTypes", json!(["Ingress", "Egress"])),
            ("/spec/egress/0/ports/0/protocol", json!("TCP")),
        ],
    );
    check(
        "NetworkPolicy",
        json!({"spec":{"policyTypes":["Egress"]}}),
        &[("/spec/policyTypes", json!(["Egress"]))],
    );
    check(
        "EndpointSlice",
        json!({"ports":[{"port":80}]}),
        &[
            ("/ports/0/protocol", json!("TCP")),
            ("/ports/0/name", json!("")),
        ],
    );
    check(
        "Endpoints",
        json!({"subsets":[{"ports":[{"port":80}]}]}),
        &[("/subsets/0/ports/0/protocol", json!("TCP"))],
    );
}

#[test]
fn never_panics_on_odd_shapes() {
    for kind in [
        "Pod",
        "Deployment",
        "ReplicaSet",
        "Service",
        "Secret",
        "Namespace",
        "Endpoints",
        "EndpointSlice",
        "NetworkPolicy",
        "X",
    ] {
        for v in [
            json!(null),
            json!(1),
            json!("s"),
            json!([]),
            json!({"spec": 3}),
            json!({"spec": {"containers": 5, "template": "x", "ports": [1, "a"]}}),
            json!({"spec": {"template": {"spec": {"containers": [1, {"ports": "x", "livenessProbe": 3}]}}}}),
            json!({"metadata": 1, "status": []}),
        ] {
            let mut v = v;
            apply(kind, &mut v);
        }
    }
}
