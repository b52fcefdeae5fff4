//! Data-driven tests for the Table printers: one `check` line per printer rule, and the
//! `HumanDuration` cases copied from apimachinery's `duration_test.go`.

use super::*;
use serde_json::json;

const CREATED: &str = "2024-12-31T23:55:00Z";

/// The fixed "now" of every case: objects created at `CREATED` are "5m" old.
fn now() -> Timestamp {
    Timestamp::from_second(1_735_689_600).expect("valid") // 2025-01-01T00:00:00Z
}

/// Asserts the row cells of `obj`, and that the row is exactly as wide as the column list.
#[track_caller]
fn check(kind: &str, obj: Value, expected: Value) {
    let got = cells(kind, &obj, now());
    assert_eq!(
        Value::Array(got.clone()),
        expected,
        "kind {kind}, object {obj}"
    );
    assert_eq!(
        got.len(),
        columns(kind).len(),
        "kind {kind}: cells and columns differ in length"
    );
}

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": CREATED})
}

/// A pod `p` with one container `c` (unless `spec` says otherwise) and the given status.
fn pod(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "c"}]);
    }
    json!({"metadata": meta("p"), "spec": spec, "status": status})
}

/// Same as `pod`, marked for deletion.
fn deleted_pod(status: Value) -> Value {
    let mut p = pod(json!({}), status);
    p["metadata"]["deletionTimestamp"] = json!("2024-12-31T23:59:00Z");
    p
}

fn running(name: &str) -> Value {
    json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {}}})
}

#[test]
#[rustfmt::skip]
fn pod_ready_status_restarts_and_wide_cells() {
    check("Pod", pod(json!({"nodeName": "node-1"}), json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [running("c")]})), json!(["p", "1/1", "Running", "0", "5m", "10.0.0.7", "node-1", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Pending"})), json!(["p", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]})), json!(["p", "0/1", "ContainerCreating", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Running", "containerStatuses": [{"name": "c", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-12-31T23:58:00Z"}}}]})), json!(["p", "0/1", "CrashLoopBackOff", "3 (2m ago)", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Running", "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2, "state": {"running": {}}}]})), json!(["p", "1/1", "Running", "2", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Succeeded", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})), json!(["p", "0/1", "Completed", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})), json!(["p", "0/1", "Error", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 137}}}]})), json!(["p", "0/1", "ExitCode:137", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]})), json!(["p", "0/1", "Signal:9", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    // Ready only counts with state.running; a waiting state with no reason leaves the phase.
    check("Pod", pod(json!({}), json!({"phase": "Running", "containerStatuses": [{"name": "c", "ready": true, "state": {"waiting": {}}}]})), json!(["p", "0/1", "Running", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    // The first container's reason wins (the loop walks backwards).
    check("Pod", pod(json!({"containers": [{"name": "a"}, {"name": "b"}]}), json!({"phase": "Pending", "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}, {"name": "b", "state": {"terminated": {"reason": "Error", "exitCode": 1}}}]})), json!(["p", "0/2", "ImagePullBackOff", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    // Completed next to a running container: NotReady, or Running with a Ready condition.
    check("Pod", pod(json!({"containers": [{"name": "a"}, {"name": "b"}]}), json!({"phase": "Running", "containerStatuses": [{"name": "a", "state": {"terminated": {"reason": "Completed"}}}, running("b")]})), json!(["p", "1/2", "NotReady", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({"containers": [{"name": "a"}, {"name": "b"}]}), json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "a", "state": {"terminated": {"reason": "Completed"}}}, running("b")]})), json!(["p", "1/2", "Running", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
}

#[test]
#[rustfmt::skip]
fn pod_status_overrides() {
    check("Pod", pod(json!({}), json!({"phase": "Failed", "reason": "Evicted"})), json!(["p", "0/1", "Evicted", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(json!({}), json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})), json!(["p", "0/1", "SchedulingGated", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", deleted_pod(json!({"phase": "Running", "containerStatuses": [running("c")]})), json!(["p", "1/1", "Terminating", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", deleted_pod(json!({"phase": "Succeeded"})), json!(["p", "0/1", "Succeeded", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", deleted_pod(json!({"phase": "Running", "reason": "NodeLost"})), json!(["p", "0/1", "Unknown", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
}

#[test]
#[rustfmt::skip]
fn pod_init_containers() {
    let two = json!({"initContainers": [{"name": "i1"}, {"name": "i2"}]});
    let main_waiting = json!([{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}]);
    check("Pod", pod(two.clone(), json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"running": {}}}], "containerStatuses": main_waiting})), json!(["p", "0/1", "Init:0/2", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(two.clone(), json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 0}}}, {"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}}]})), json!(["p", "0/1", "Init:1/2", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(two.clone(), json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-12-31T23:59:00Z"}}}]})), json!(["p", "0/1", "Init:CrashLoopBackOff", "4 (60s ago)", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(two.clone(), json!({"phase": "Failed", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})), json!(["p", "0/1", "Init:Error", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(two.clone(), json!({"phase": "Failed", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 2}}}]})), json!(["p", "0/1", "Init:ExitCode:2", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(two.clone(), json!({"phase": "Failed", "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 143, "signal": 15}}}]})), json!(["p", "0/1", "Init:Signal:15", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    // Only init statuses up to the blocking one add restarts.
    check("Pod", pod(two.clone(), json!({"phase": "Pending", "initContainerStatuses": [{"name": "i1", "restartCount": 1, "state": {"running": {}}}, {"name": "i2", "restartCount": 5}]})), json!(["p", "0/1", "Init:0/2", "1", "5m", "<none>", "<none>", "<none>", "<none>"]));
    // All init containers done: the regular containers decide.
    check("Pod", pod(two.clone(), json!({"phase": "Running", "initContainerStatuses": [{"name": "i1", "restartCount": 2, "state": {"terminated": {"exitCode": 0}}}, {"name": "i2", "state": {"terminated": {"exitCode": 0}}}], "containerStatuses": [running("c")]})), json!(["p", "1/1", "Running", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    // With Initialized=True the regular containers are still counted, but only a waiting/terminated
    // reason replaces the init one: a running container leaves "Init:Error" (as upstream does).
    check("Pod", pod(two.clone(), json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}], "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}], "containerStatuses": [running("c")]})), json!(["p", "1/1", "Init:Error", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(two, json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}], "initContainerStatuses": [{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}], "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})), json!(["p", "0/1", "CrashLoopBackOff", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
}

#[test]
#[rustfmt::skip]
fn pod_sidecars() {
    let spec = json!({"initContainers": [{"name": "s", "restartPolicy": "Always"}]});
    let sidecar = json!({"name": "s", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-12-31T23:50:00Z"}}});
    check("Pod", pod(spec.clone(), json!({"phase": "Running", "initContainerStatuses": [sidecar], "containerStatuses": [running("c")]})), json!(["p", "2/2", "Running", "1 (10m ago)", "5m", "<none>", "<none>", "<none>", "<none>"]));
    check("Pod", pod(spec, json!({"phase": "Pending", "initContainerStatuses": [{"name": "s", "started": false, "state": {"running": {}}}]})), json!(["p", "0/2", "Init:0/1", "0", "5m", "<none>", "<none>", "<none>", "<none>"]));
}

#[test]
#[rustfmt::skip]
fn pod_wide_cells() {
    let spec = json!({"nodeName": "node-1", "readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]});
    let status = json!({"phase": "Running", "nominatedNodeName": "node-2", "podIPs": [{"ip": "fd00::7"}, {"ip": "10.0.0.7"}], "conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]});
    check("Pod", pod(spec, status), json!(["p", "0/1", "Running", "0", "5m", "fd00::7", "node-1", "node-2", "1/2"]));
    // Convert_v1_PodStatus_To_core_PodStatus: podIP wins over podIPs.
    check("Pod", pod(json!({}), json!({"podIP": "10.0.0.8", "podIPs": [{"ip": "10.0.0.9"}]})), json!(["p", "0/1", "", "0", "5m", "10.0.0.8", "<none>", "<none>", "<none>"]));
    check("Pod", json!({"metadata": {"name": 5}, "spec": "x", "status": {"containerStatuses": [1, null, {"state": 7}], "initContainerStatuses": "no"}}), json!(["", "0/0", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]));
}

#[test]
#[rustfmt::skip]
fn pod_row_conditions() {
    assert_eq!(
        row_conditions("Pod", &json!({"status": {"phase": "Succeeded"}})),
        vec![
            json!({"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."})
        ]
    );
    assert_eq!(
        row_conditions("Pod", &json!({"status": {"phase": "Failed"}})),
        vec![json!({"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."})]
    );
    assert!(row_conditions("Pod", &json!({"status": {"phase": "Running"}})).is_empty());
    assert!(row_conditions("Job", &json!({"status": {"phase": "Failed"}})).is_empty());
}

fn svc(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("s"), "spec": spec, "status": status})
}

#[test]
#[rustfmt::skip]
fn services() {
    check("Service", svc(json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153, "protocol": "TCP"}], "selector": {"k8s-app": "kube-dns"}}), json!({})), json!(["s", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP", "5m", "k8s-app=kube-dns"]));
    check("Service", svc(json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}), json!({})), json!(["s", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"]));
    // Defaults: type ClusterIP, protocol TCP; clusterIP stands in for a missing clusterIPs.
    check("Service", svc(json!({"clusterIP": "10.0.0.1", "ports": [{"port": 80}]}), json!({})), json!(["s", "ClusterIP", "10.0.0.1", "<none>", "80/TCP", "5m", "<none>"]));
    check("Service", svc(json!({}), json!({})), json!(["s", "ClusterIP", "<none>", "<none>", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "ClusterIP", "clusterIPs": ["10.0.0.1"], "externalIPs": ["1.2.3.4", "5.6.7.8"]}), json!({})), json!(["s", "ClusterIP", "10.0.0.1", "1.2.3.4,5.6.7.8", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "NodePort", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}]}), json!({})), json!(["s", "NodePort", "10.0.0.1", "<none>", "80:30080/TCP,443:30443/TCP", "5m", "<none>"]));
    check("Service", svc(json!({"type": "NodePort", "clusterIPs": ["10.0.0.1"], "externalIPs": ["1.2.3.4"]}), json!({})), json!(["s", "NodePort", "10.0.0.1", "1.2.3.4", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}), json!({})), json!(["s", "LoadBalancer", "10.0.0.1", "<pending>", "80:31000/TCP", "5m", "<none>"]));
    check("Service", svc(json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"]}), json!({"loadBalancer": {"ingress": [{"hostname": "a-very-long-hostname.example.com"}, {"ip": "9.9.9.9"}, {"ip": "9.9.9.9"}]}})), json!(["s", "LoadBalancer", "10.0.0.1", "9.9.9.9,a-very-long-hostname.example.com", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"], "externalIPs": ["1.2.3.4"]}), json!({"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}})), json!(["s", "LoadBalancer", "10.0.0.1", "9.9.9.9,1.2.3.4", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]}), json!({})), json!(["s", "LoadBalancer", "<none>", "1.2.3.4", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "ExternalName", "externalName": "db.example.com"}), json!({})), json!(["s", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"]));
    check("Service", svc(json!({"type": "Weird", "clusterIPs": ["10.0.0.1"]}), json!({})), json!(["s", "Weird", "10.0.0.1", "<unknown>", "<none>", "5m", "<none>"]));
    // FormatLabels sorts by key ("a" < "a.b" < "b"), not by the joined "k=v" text.
    check("Service", svc(json!({"clusterIPs": ["10.0.0.1"], "selector": {"b": "2", "a.b": "3", "a": "1"}}), json!({})), json!(["s", "ClusterIP", "10.0.0.1", "<none>", "<none>", "5m", "a=1,a.b=3,b=2"]));
}

fn workload(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("web"), "spec": spec, "status": status})
}

#[test]
#[rustfmt::skip]
fn deployments() {
    let template = json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}});
    check("Deployment", workload(json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template}), json!({"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2})), json!(["web", "2/3", 3, 2, "5m", "nginx,log", "nginx:1.25,busybox", "app=web"]));
    check("Deployment", workload(json!({}), json!({})), json!(["web", "0/1", 0, 0, "5m", "", "", ""]));
    check("Deployment", workload(json!({"replicas": 0, "selector": {}}), json!({})), json!(["web", "0/0", 0, 0, "5m", "", "", ""]));
    let exprs = json!({"matchLabels": {"tier": "fe"}, "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod", "dev"]}, {"key": "legacy", "operator": "DoesNotExist"}, {"key": "app", "operator": "In", "values": ["web"]}, {"key": "example.com/x", "operator": "Exists"}]});
    check("Deployment", workload(json!({"replicas": 1, "selector": exprs}), json!({})), json!(["web", "0/1", 0, 0, "5m", "", "", "app in (web),env notin (dev,prod),example.com/x,!legacy,tier=fe"]));
    check("Deployment", workload(json!({"selector": {"matchExpressions": [{"key": "app", "operator": "Like", "values": ["x"]}]}}), json!({})), json!(["web", "0/1", 0, 0, "5m", "", "", "<invalid>"]));
    check("Deployment", workload(json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}}), json!({})), json!(["web", "0/1", 0, 0, "5m", "", "", "<invalid>"]));
    check("Deployment", workload(json!({"selector": {"matchLabels": {"-bad": "x"}}}), json!({})), json!(["web", "0/1", 0, 0, "5m", "", "", "<invalid>"]));
}

#[test]
#[rustfmt::skip]
fn replica_sets() {
    let template = json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}});
    check("ReplicaSet", workload(json!({"replicas": 3, "selector": {"matchLabels": {"pod-template-hash": "abc", "app": "web"}}, "template": template}), json!({"replicas": 3, "readyReplicas": 2})), json!(["web", 3, 3, 2, "5m", "nginx", "nginx:1.25", "app=web,pod-template-hash=abc"]));
    check("ReplicaSet", workload(json!({}), json!({})), json!(["web", 1, 0, 0, "5m", "", "", "<none>"]));
    check("ReplicaSet", workload(json!({"selector": {}}), json!({})), json!(["web", 1, 0, 0, "5m", "", "", "<none>"]));
    check("ReplicaSet", workload(json!({"selector": {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}}), json!({})), json!(["web", 1, 0, 0, "5m", "", "", "<error>"]));
}

fn endpoints(subsets: Value) -> Value {
    json!({"metadata": meta("ep"), "subsets": subsets})
}

#[test]
#[rustfmt::skip]
fn endpoints_cells() {
    let two = json!([{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]);
    check("Endpoints", json!({"metadata": meta("ep")}), json!(["ep", "<none>", "5m"]));
    check("Endpoints", endpoints(json!([{"addresses": two, "ports": [{"port": 80}]}])), json!(["ep", "10.0.0.1:80,10.0.0.2:80", "5m"]));
    check("Endpoints", endpoints(json!([{"addresses": two, "ports": [{"port": 80}, {"port": 443}]}])), json!(["ep", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", "5m"]));
    check("Endpoints", endpoints(json!([{"addresses": two}])), json!(["ep", "10.0.0.1,10.0.0.2", "5m"]));
    check("Endpoints", endpoints(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}])), json!(["ep", "[fd00::1]:8080", "5m"]));
    check("Endpoints", endpoints(json!([{"addresses": two, "ports": [{"port": 80}]}, {"addresses": [{"ip": "a"}, {"ip": "b"}, {"ip": "c"}], "ports": [{"port": 81}]}])), json!(["ep", "10.0.0.1:80,10.0.0.2:80,a:81 + 2 more...", "5m"]));
    check("Endpoints", endpoints(json!([{"notReadyAddresses": two, "ports": [{"port": 80}]}])), json!(["ep", "", "5m"]));
}

#[test]
#[rustfmt::skip]
fn endpoint_slices() {
    let eps = json!([{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3", "10.0.0.4"]}]);
    check("EndpointSlice", json!({"metadata": meta("es"), "addressType": "IPv4", "ports": [{"port": 80}, {"port": 443}], "endpoints": eps}), json!(["es", "IPv4", "80,443", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "5m"]));
    check("EndpointSlice", json!({"metadata": meta("es"), "addressType": "IPv6", "ports": [{"name": "http"}, {}], "endpoints": [{"addresses": ["fd00::1"]}]}), json!(["es", "IPv6", "http,*", "fd00::1", "5m"]));
    check("EndpointSlice", json!({"metadata": meta("es"), "addressType": "IPv4", "ports": [{"port": 1}, {"port": 2}, {"port": 3}, {"port": 4}]}), json!(["es", "IPv4", "1,2,3 + 1 more...", "<unset>", "5m"]));
    check("EndpointSlice", json!({"metadata": meta("es")}), json!(["es", "", "<unset>", "<unset>", "5m"]));
}

#[test]
#[rustfmt::skip]
fn namespaces_config_maps_secrets_network_policies() {
    check("Namespace", json!({"metadata": meta("default"), "status": {"phase": "Active"}}), json!(["default", "Active", "5m"]));
    check("Namespace", json!({"metadata": meta("default")}), json!(["default", "Active", "5m"]));
    check("Namespace", json!({"metadata": meta("old"), "status": {"phase": "Terminating"}}), json!(["old", "Terminating", "5m"]));
    check("ConfigMap", json!({"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}), json!(["cm", 3, "5m"]));
    check("ConfigMap", json!({"metadata": meta("cm")}), json!(["cm", 0, "5m"]));
    check("Secret", json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}), json!(["tls", "kubernetes.io/tls", 2, "5m"]));
    check("Secret", json!({"metadata": meta("s")}), json!(["s", "Opaque", 0, "5m"]));
    check("NetworkPolicy", json!({"metadata": meta("np"), "spec": {"podSelector": {}}}), json!(["np", "<none>", "5m"]));
    check("NetworkPolicy", json!({"metadata": meta("np")}), json!(["np", "<none>", "5m"]));
    check("NetworkPolicy", json!({"metadata": meta("np"), "spec": {"podSelector": {"matchLabels": {"app": "db"}}}}), json!(["np", "app=db", "5m"]));
    check("NetworkPolicy", json!({"metadata": meta("np"), "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Nope"}]}}}), json!(["np", "<error>", "5m"]));
}

#[test]
#[rustfmt::skip]
fn events() {
    let core = json!({"metadata": {"name": "web.1"}, "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"}, "reason": "Pulled", "message": " Successfully pulled\n", "type": "Normal", "source": {"component": "kubelet", "host": "node-1"}, "firstTimestamp": "2024-12-31T23:50:00Z", "lastTimestamp": "2024-12-31T23:58:00Z", "count": 3});
    check("Event", core, json!([ "2m", "Normal", "Pulled", "pod/web", "spec.containers{nginx}", "kubelet, node-1", "Successfully pulled", "10m", 3, "web.1" ]));
    check("Event", json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}, "type": "Warning", "firstTimestamp": "2024-12-31T23:50:00Z", "source": {"component": "kubelet"}}), json!(["10m", "Warning", "", "node", "", "kubelet", "", "10m", 1, "e"]));
    check("Event", json!({"metadata": {"name": "e"}, "eventTime": "2024-12-31T23:59:30.123456Z", "reportingComponent": "default-scheduler", "reportingInstance": "sched-1"}), json!(["29s", "", "", "", "", "default-scheduler, sched-1", "", "29s", 1, "e"]));
    check("Event", json!({"metadata": {"name": "e"}, "eventTime": "2024-12-31T23:50:00.000000Z", "series": {"count": 5, "lastObservedTime": "2024-12-31T23:59:00.000000Z"}}), json!(["60s", "", "", "", "", "", "", "10m", 5, "e"]));
    check("Event", json!({"metadata": {"name": "e"}}), json!(["<unknown>", "", "", "", "", "", "", "<unknown>", 1, "e"]));
    check("Event", json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}, "regarding": {"kind": "Pod", "name": "web"}, "note": "hi", "reason": "Started", "type": "Normal", "reportingController": "kubelet", "reportingInstance": "node-1", "eventTime": "2024-12-31T23:58:00.000000Z", "deprecatedCount": 2}), json!(["2m", "Normal", "Started", "pod/web", "", "kubelet, node-1", "hi", "2m", 2, "e"]));
}

#[test]
#[rustfmt::skip]
fn nodes() {
    let labels = json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "master", "node-role.kubernetes.io/": "x"});
    let status = json!({"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}], "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"}], "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Ubuntu 24.04", "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://1.7.0"}});
    check("Node", json!({"metadata": {"name": "n1", "creationTimestamp": CREATED, "labels": labels}, "status": status}), json!([ "n1", "Ready", "control-plane,master,worker", "5m", "v1.32.0", "192.168.1.10", "<none>", "Ubuntu 24.04", "6.8.0", "containerd://1.7.0" ]));
    check("Node", json!({"metadata": meta("n2"), "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}], "addresses": [{"type": "ExternalIP", "address": "1.2.3.4"}]}}), json!([ "n2", "NotReady,SchedulingDisabled", "<none>", "5m", "", "<none>", "1.2.3.4", "<unknown>", "<unknown>", "<unknown>" ]));
    check("Node", json!({"metadata": meta("n3")}), json!(["n3", "Unknown", "<none>", "5m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]));
}

#[test]
#[rustfmt::skip]
fn default_table() {
    check("Widget", json!({"metadata": meta("w")}), json!(["w", "2024-12-31T23:55:00Z"]));
    check("Widget", json!({"metadata": {"name": "w", "creationTimestamp": "2024-12-31T23:55:00.5+01:00"}}), json!(["w", "2024-12-31T22:55:00Z"]));
    check("Widget", json!({"metadata": {"name": "w"}}), json!(["w", "0001-01-01T00:00:00Z"]));
}

#[test]
fn column_definitions() {
    let names = |kind: &str| {
        columns(kind)
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join("|")
    };
    let wide = |kind: &str| columns(kind).iter().filter(|c| c.priority == 1).count();
    assert_eq!(
        names("Pod"),
        "Name|Ready|Status|Restarts|Age|IP|Node|Nominated Node|Readiness Gates"
    );
    assert_eq!(wide("Pod"), 4);
    assert_eq!(
        names("Service"),
        "Name|Type|Cluster-IP|External-IP|Port(s)|Age|Selector"
    );
    assert_eq!(
        names("Deployment"),
        "Name|Ready|Up-to-date|Available|Age|Containers|Images|Selector"
    );
    assert_eq!(
        names("ReplicaSet"),
        "Name|Desired|Current|Ready|Age|Containers|Images|Selector"
    );
    assert_eq!(names("Endpoints"), "Name|Endpoints|Age");
    assert_eq!(
        names("EndpointSlice"),
        "Name|AddressType|Ports|Endpoints|Age"
    );
    assert_eq!(names("Namespace"), "Name|Status|Age");
    assert_eq!(
        names("Event"),
        "Last Seen|Type|Reason|Object|Subobject|Source|Message|First Seen|Count|Name"
    );
    assert_eq!(wide("Event"), 5);
    assert_eq!(names("ConfigMap"), "Name|Data|Age");
    assert_eq!(names("Secret"), "Name|Type|Data|Age");
    assert_eq!(names("NetworkPolicy"), "Name|Pod-Selector|Age");
    assert_eq!(
        names("Node"),
        "Name|Status|Roles|Age|Version|Internal-IP|External-IP|OS-Image|Kernel-Version|Container-Runtime"
    );
    assert_eq!(wide("Node"), 5);
    assert_eq!(names("Anything"), "Name|Created At");
    assert_eq!(columns("Anything")[1].type_, "date");
    assert_eq!(columns("ReplicaSet")[1].type_, "integer");
    let event_name = serde_json::to_value(&columns("Event")[9]).expect("serialisable");
    assert_eq!(
        event_name,
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 1})
    );
    let age = serde_json::to_value(&columns("Pod")[4]).expect("serialisable");
    assert_eq!(
        age,
        json!({"name": "Age", "type": "string", "format": "", "description": AGE_DESC, "priority": 0})
    );
}

#[test]
#[rustfmt::skip]
fn never_panics_and_rows_match_columns() {
    let kinds = ["Pod", "Service", "Deployment", "ReplicaSet", "Endpoints", "EndpointSlice", "Namespace", "Event", "ConfigMap", "Secret", "NetworkPolicy", "Node", "Other"];
    let junk = [
        json!(null),
        json!(7),
        json!("pod"),
        json!([1, 2]),
        json!({}),
        json!({"metadata": [], "spec": 1, "status": "x", "subsets": {}, "ports": 3, "endpoints": [null, 1, {"addresses": [1, null]}]}),
        json!({"metadata": {"name": null, "creationTimestamp": 12, "deletionTimestamp": "soon", "labels": {"kubernetes.io/role": 1}}, "spec": {"containers": {}, "initContainers": [1, {"restartPolicy": 2}], "selector": {"matchLabels": {"a": 1}, "matchExpressions": [5]}, "podSelector": [], "ports": [{"port": "80", "nodePort": -1}], "replicas": 1.5}, "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": "x", "signal": null}}, "lastState": {"terminated": {"finishedAt": 5}}}], "initContainerStatuses": [{"state": {"waiting": []}}], "loadBalancer": {"ingress": [{}]}, "conditions": "Ready"}, "series": {"count": "1"}}),
        json!({"metadata": {"creationTimestamp": "0001-01-01T00:00:01Z"}, "status": {"containerStatuses": [{"restartCount": i64::MAX, "lastState": {"terminated": {"finishedAt": "9999-12-31T23:59:59Z"}}}, {"restartCount": i64::MAX}]}}),
    ];
    for kind in kinds {
        for obj in &junk {
            assert_eq!(cells(kind, obj, now()).len(), columns(kind).len(), "{kind} {obj}");
            let _ = row_conditions(kind, obj);
        }
    }
}

#[test]
fn age_translate_timestamp_since() {
    let cases = [
        (None, "<unknown>"),
        (Some("not a time"), "<unknown>"),
        (Some("0001-01-01T00:00:00Z"), "<unknown>"),
        (Some("2025-01-01T00:00:01Z"), "0s"),
        (Some("2025-01-01T00:00:01.999Z"), "0s"),
        (Some("2025-01-01T00:00:02Z"), "<invalid>"),
        (Some("2024-12-31T23:55:00Z"), "5m"),
        (Some("2024-12-31T23:58:30+00:00"), "90s"),
        (Some("2025-01-01T01:00:00+02:00"), "60m"),
        (Some("2020-01-01T00:00:00Z"), "5y2d"),
        (Some("1900-01-01T00:00:00Z"), "125y"),
        // Go's Time.Sub saturates at ~292 years.
        (Some("0001-01-01T00:00:01Z"), "292y"),
    ];
    for (ts, want) in cases {
        assert_eq!(age(ts, now()), want, "{ts:?}");
    }
}

#[test]
fn human_duration_matches_apimachinery() {
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000 * MS;
    const MIN: i64 = 60 * S;
    const H: i64 = 60 * MIN;
    const D: i64 = 24 * H;
    const Y: i64 = 365 * D;
    let cases = [
        // TestHumanDuration
        (S, "1s"),
        (70 * S, "70s"),
        (190 * S, "3m10s"),
        (70 * MIN, "70m"),
        (47 * H, "47h"),
        (49 * H, "2d1h"),
        ((8 * 24 + 2) * H, "8d"),
        (367 * D, "367d"),
        ((365 * 2 * 24 + 25) * H, "2y1d"),
        ((365 * 8 * 24 + 2) * H, "8y"),
        // TestHumanDurationBoundaries
        (-2 * S, "<invalid>"),
        (-2 * S + 1, "0s"),
        (0, "0s"),
        (S - MS, "0s"),
        (2 * MIN - MS, "119s"),
        (2 * MIN, "2m"),
        (2 * MIN + S, "2m1s"),
        (10 * MIN - MS, "9m59s"),
        (10 * MIN, "10m"),
        (10 * MIN + S, "10m"),
        (3 * H - MS, "179m"),
        (3 * H, "3h"),
        (3 * H + MIN, "3h1m"),
        (8 * H - MS, "7h59m"),
        (8 * H, "8h"),
        (8 * H + 59 * MIN, "8h"),
        (2 * D - MS, "47h"),
        (2 * D, "2d"),
        (2 * D + H, "2d1h"),
        (8 * D - MS, "7d23h"),
        (8 * D, "8d"),
        (8 * D + 23 * H, "8d"),
        (2 * Y - MS, "729d"),
        (2 * Y, "2y"),
        (2 * Y + 23 * H, "2y"),
        (2 * Y + 23 * H + 59 * MIN, "2y"),
        (2 * Y + 24 * H - MS, "2y"),
        (2 * Y + 24 * H, "2y1d"),
        (3 * Y, "3y"),
        (4 * Y, "4y"),
        (5 * Y, "5y"),
        (6 * Y, "6y"),
        (7 * Y, "7y"),
        (8 * Y - MS, "7y364d"),
        (8 * Y, "8y"),
        (8 * Y + 364 * D, "8y"),
        (9 * Y, "9y"),
        // Saturated durations.
        (i64::MAX, "292y"),
        (i64::MIN, "<invalid>"),
    ];
    for (d, want) in cases {
        assert_eq!(human_duration(d), want, "{d}ns");
        // The same case through `age`, with the timestamp `d` before `now` (RFC 3339, nanoseconds).
        let ts = Timestamp::from_nanosecond(now().as_nanosecond() - i128::from(d))
            .expect("in range")
            .to_string();
        assert_eq!(age(Some(&ts), now()), want, "{ts}");
    }
}
