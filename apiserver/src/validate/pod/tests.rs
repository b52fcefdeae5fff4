//! Data-driven tests of the pod rules.

use super::super::testutil::{check, check_update};
use serde_json::{Value, json};

/// A valid pod whose first container is patched with `c` and spec with `s`.
fn pod(c: Value, s: Value) -> Value {
    let mut container = json!({"name": "app", "image": "nginx:1.27"});
    merge(&mut container, c);
    let mut spec = json!({"containers": [container]});
    merge(&mut spec, s);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
}

fn merge(base: &mut Value, patch: Value) {
    if let (Some(b), Value::Object(p)) = (base.as_object_mut(), patch) {
        for (k, v) in p {
            b.insert(k, v);
        }
    }
}

#[test]
fn pod_rules() {
    let c = "spec.containers[0]";
    let none = json!({});
    check("Pod", pod(none.clone(), none.clone()), &[]);
    check(
        "Pod",
        pod(none.clone(), json!({"containers": []})),
        &["spec.containers"],
    );
    check(
        "Pod",
        pod(json!({"image": ""}), none.clone()),
        &[&format!("{c}.image")],
    );
    check(
        "Pod",
        pod(json!({"image": " nginx"}), none.clone()),
        &[&format!("{c}.image")],
    );
    check(
        "Pod",
        pod(json!({"name": "Web_1"}), none.clone()),
        &[&format!("{c}.name")],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}),
        ),
        &["spec.containers[1].name"],
    );
    check(
        "Pod",
        pod(json!({"ports": [{"containerPort": 70000}]}), none.clone()),
        &[&format!("{c}.ports[0].containerPort")],
    );
    check(
        "Pod",
        pod(
            json!({"ports": [{"containerPort": 80, "hostPort": -1}]}),
            none.clone(),
        ),
        &[&format!("{c}.ports[0].hostPort")],
    );
    check(
        "Pod",
        pod(
            json!({"ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]}),
            none.clone(),
        ),
        &[&format!("{c}.ports[1].name")],
    );
    check(
        "Pod",
        pod(
            json!({"ports": [{"containerPort": 80, "name": "averyverylongportname"}]}),
            none.clone(),
        ),
        &[&format!("{c}.ports[0].name")],
    );
    check(
        "Pod",
        pod(
            json!({"ports": [{"containerPort": 80, "protocol": "HTTP"}]}),
            none.clone(),
        ),
        &[&format!("{c}.ports[0].protocol")],
    );
    check(
        "Pod",
        pod(
            json!({"ports": [{"containerPort": 80, "hostPort": 80}, {"containerPort": 81, "hostPort": 80}]}),
            none.clone(),
        ),
        &[&format!("{c}.ports[1].hostPort")],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"restartPolicy": "Sometimes"})),
        &["spec.restartPolicy"],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"dnsPolicy": "Bogus"})),
        &["spec.dnsPolicy"],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"dnsPolicy": "None"})),
        &["spec.dnsConfig"],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"]}}),
        ),
        &[],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"dnsConfig": {"nameservers": ["x"]}})),
        &["spec.dnsConfig.nameservers[0]"],
    );
    check(
        "Pod",
        pod(
            json!({"env": [{"name": "A=B", "value": "1"}, {"name": "1_OK"}]}),
            none.clone(),
        ),
        &[&format!("{c}.env[0].name")],
    );
    check(
        "Pod",
        pod(json!({"env": [{"name": ""}]}), none.clone()),
        &[&format!("{c}.env[0].name")],
    );
    check(
        "Pod",
        pod(
            json!({"env": [{"name": "X", "valueFrom": {}}]}),
            none.clone(),
        ),
        &[&format!("{c}.env[0].valueFrom")],
    );
    check(
        "Pod",
        pod(
            json!({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}),
            none.clone(),
        ),
        &[&format!("{c}.env[0].valueFrom.fieldRef.fieldPath")],
    );
    check(
        "Pod",
        pod(
            json!({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}]}),
            none.clone(),
        ),
        &[&format!("{c}.env[0].valueFrom.fieldRef.fieldPath")],
    );
    check(
        "Pod",
        pod(
            json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
            none.clone(),
        ),
        &[],
    );
    check(
        "Pod",
        pod(json!({"livenessProbe": {"periodSeconds": 5}}), none.clone()),
        &[&format!("{c}.livenessProbe")],
    );
    check(
        "Pod",
        pod(
            json!({"livenessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}}),
            none.clone(),
        ),
        &[&format!("{c}.livenessProbe.tcpSocket")],
    );
    check(
        "Pod",
        pod(
            json!({"livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}),
            none.clone(),
        ),
        &[&format!("{c}.livenessProbe.successThreshold")],
    );
    check(
        "Pod",
        pod(
            json!({"readinessProbe": {"httpGet": {"port": 0}}}),
            none.clone(),
        ),
        &[&format!("{c}.readinessProbe.httpGet.port")],
    );
    check(
        "Pod",
        pod(
            json!({"readinessProbe": {"httpGet": {"port": "http", "scheme": "FTP"}, "timeoutSeconds": -1}}),
            none.clone(),
        ),
        &[
            &format!("{c}.readinessProbe.httpGet.scheme"),
            &format!("{c}.readinessProbe.timeoutSeconds"),
        ],
    );
    check(
        "Pod",
        pod(
            json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}),
            none.clone(),
        ),
        &[&format!("{c}.resources.requests")],
    );
    check(
        "Pod",
        pod(
            json!({"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}}),
            none.clone(),
        ),
        &[],
    );
    check(
        "Pod",
        pod(
            json!({"resources": {"limits": {"cpu": "-1"}}}),
            none.clone(),
        ),
        &[
            &format!("{c}.resources.limits[cpu]"),
            &format!("{c}.resources.requests[cpu]"),
        ],
    );
    check(
        "Pod",
        pod(json!({"resources": {"limits": {"gpu": "1"}}}), none.clone()),
        &[
            &format!("{c}.resources.limits[gpu]"),
            &format!("{c}.resources.requests[gpu]"),
        ],
    );
    check(
        "Pod",
        pod(
            json!({"resources": {"requests": {"example.com/dongle": "1"}}}),
            none.clone(),
        ),
        &[&format!("{c}.resources.limits")],
    );
    check(
        "Pod",
        pod(
            json!({"volumeMounts": [{"name": "missing", "mountPath": "/x"}]}),
            none.clone(),
        ),
        &[&format!("{c}.volumeMounts[0].name")],
    );
    check(
        "Pod",
        pod(
            json!({"volumeMounts": [{"name": "v", "mountPath": "/x"}, {"name": "v", "mountPath": "/x"}]}),
            json!({"volumes": [{"name": "v"}]}),
        ),
        &[&format!("{c}.volumeMounts[1].mountPath")],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"volumes": [{"name": "v"}, {"name": "v"}]}),
        ),
        &["spec.volumes[1].name"],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"volumes": [{"name": "V"}]})),
        &["spec.volumes[0].name"],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]}),
        ),
        &["spec.volumes[0].hostPath"],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"volumes": [{"name": "v", "configMap": {}}]}),
        ),
        &["spec.volumes[0].configMap.name"],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"initContainers": [{"name": "app", "image": "x"}]}),
        ),
        &["spec.initContainers[0].name"],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"initContainers": [{"name": "i", "image": "x", "livenessProbe": {"exec": {"command": ["a"]}}}]}),
        ),
        &["spec.initContainers[0].livenessProbe"],
    );
    check(
        "Pod",
        pod(json!({"restartPolicy": "Always"}), none.clone()),
        &[&format!("{c}.restartPolicy")],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"hostname": "A_B", "nodeName": "n_1"})),
        &["spec.hostname", "spec.nodeName"],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"activeDeadlineSeconds": 0})),
        &["spec.activeDeadlineSeconds"],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"tolerations": [{"operator": "Equal", "value": "x"}]}),
        ),
        &["spec.tolerations[0].operator"],
    );
    check(
        "Pod",
        pod(none.clone(), json!({"nodeSelector": {"k": "bad value"}})),
        &["spec.nodeSelector"],
    );
    check(
        "Pod",
        pod(json!({"securityContext": {"runAsUser": -1}}), none.clone()),
        &[&format!("{c}.securityContext.runAsUser")],
    );
    check(
        "Pod",
        pod(
            none.clone(),
            json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 81}]}]}),
        ),
        &["spec.containers[0].ports[0].hostPort"],
    );
}

#[test]
fn pod_updates() {
    let old = pod(json!({}), json!({}));
    let mut new = old.clone();
    new["metadata"]["resourceVersion"] = json!("1");
    let mut img = new.clone();
    img["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    check_update("Pod", old.clone(), img, &[]);
    let mut rp = new.clone();
    rp["spec"]["restartPolicy"] = json!("Never");
    check_update("Pod", old.clone(), rp, &["spec"]);
    let mut renamed = new.clone();
    renamed["metadata"]["name"] = json!("q");
    check_update("Pod", old, renamed, &["metadata.name"]);
}
