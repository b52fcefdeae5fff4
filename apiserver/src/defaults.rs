//! Defaulting of built-in kinds, as kube-apiserver 1.32 applies it when
//! decoding a request: the `SetDefaults_*` functions of
//! `pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go`,
//! `pkg/apis/networking/v1/defaults.go`, `pkg/apis/discovery/v1/defaults.go`,
//! the declarative (`+default=`) values of the generated defaulters, and the
//! few values the registry strategies set on create (Namespace finalizers and
//! phase, Service IP families) that a user sees in `kubectl get -o yaml`.
//! Cluster IPs and node ports are left to an allocator.
//!
//! Everything works on the JSON as received and only fills fields that are
//! absent (or null); values of the wrong type are left alone for the
//! server's type checks to reject.

use serde_json::{Map, Value, json};

/// Fills in what the real API server defaults, only where absent.
pub fn apply(kind: &str, obj: &mut Value) {
    match kind {
        "Pod" => {
            if let Some(spec) = obj_mut(obj, "spec") {
                pod_spec(spec);
                pod_only(spec);
            }
        }
        "Deployment" => deployment(obj),
        "ReplicaSet" => {
            if let Some(spec) = obj_mut(obj, "spec") {
                set(spec, "replicas", json!(1));
            }
            template(obj);
        }
        "Service" => service(obj),
        "Secret" => set(obj, "type", json!("Opaque")),
        "Namespace" => namespace(obj),
        "Endpoints" => {
            for ss in list_mut(obj, "subsets") {
                for p in list_mut(ss, "ports") {
                    set(p, "protocol", json!("TCP"));
                }
            }
        }
        "EndpointSlice" => {
            for p in list_mut(obj, "ports") {
                set(p, "name", json!(""));
                set(p, "protocol", json!("TCP"));
            }
        }
        "NetworkPolicy" => network_policy(obj),
        _ => {}
    }
}

/// The object at `key` of `v`, created as `{}` when absent or null; None if
/// `v` is not an object or the field has another type.
fn obj_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let m = v.as_object_mut()?;
    let slot = m.entry(key.to_string()).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.is_object().then_some(slot)
}

/// The existing object at `key`, without creating it.
fn existing_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    v.as_object_mut()?.get_mut(key).filter(|x| x.is_object())
}

/// The elements of the array at `key` (empty when absent or not an array).
fn list_mut<'a>(v: &'a mut Value, key: &str) -> std::slice::IterMut<'a, Value> {
    match v.as_object_mut().and_then(|m| m.get_mut(key)) {
        Some(Value::Array(a)) => a.iter_mut(),
        _ => [].iter_mut(),
    }
}

/// Sets `key` to `val` when `v` is an object and the key is absent or null.
fn set(v: &mut Value, key: &str, val: Value) {
    if let Some(m) = v.as_object_mut() {
        let slot = m.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = val;
        }
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Go's zero-value test for optional strings: absent, null or "".
fn unset(v: &Value, key: &str) -> bool {
    match v.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Like [`set`], but also replaces "" (Go string fields default when empty).
fn set_str(v: &mut Value, key: &str, val: &str) {
    if unset(v, key) {
        if let Some(m) = v.as_object_mut() {
            m.insert(key.to_string(), Value::from(val));
        }
    }
}

// ---------------------------------------------------------------------------
// Pods and pod templates.

/// `SetDefaults_PodSpec` plus the generated defaults of everything inside a
/// PodSpec (containers, probes, volumes). Applies to pod templates too.
fn pod_spec(spec: &mut Value) {
    set_str(spec, "dnsPolicy", "ClusterFirst");
    set_str(spec, "restartPolicy", "Always");
    set(spec, "securityContext", json!({}));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set_str(spec, "schedulerName", "default-scheduler");
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in list_mut(spec, list) {
            container(c);
        }
    }
    for v in list_mut(spec, "volumes") {
        volume(v);
    }
}

/// `SetDefaults_Pod`: only for Pods, not templates (so it never shows up in
/// a Deployment's template).
fn pod_only(spec: &mut Value) {
    // `Convert_v1_Pod_To_core_Pod` (pkg/apis/core/v1/conversion.go, since 1.27): a Pod's
    // negative terminationGracePeriodSeconds becomes 1 (a template's is only warned about).
    if spec["terminationGracePeriodSeconds"]
        .as_i64()
        .is_some_and(|g| g < 0)
    {
        spec["terminationGracePeriodSeconds"] = json!(1);
    }
    for list in ["containers", "initContainers"] {
        for c in list_mut(spec, list) {
            // Requests default to limits when unspecified.
            let Some(res) = existing_mut(c, "resources") else {
                continue;
            };
            let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            if let Some(req) = obj_mut(res, "requests").and_then(Value::as_object_mut) {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        }
    }
    set(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        // defaultHostNetworkPorts: hostPort follows containerPort.
        for list in ["containers", "initContainers"] {
            for c in list_mut(spec, list) {
                for p in list_mut(c, "ports") {
                    let cp = p.get("containerPort").cloned();
                    let hp_unset = p
                        .get("hostPort")
                        .is_none_or(|h| h.is_null() || h.as_i64() == Some(0));
                    if let (Some(cp), true, Some(m)) = (cp, hp_unset, p.as_object_mut()) {
                        m.insert("hostPort".into(), cp);
                    }
                }
            }
        }
    }
}

/// `SetDefaults_Container` and the defaults of its ports, env and probes.
fn container(c: &mut Value) {
    if unset(c, "imagePullPolicy") {
        let policy = if image_tag_is_latest(str_of(c, "image")) {
            "Always"
        } else {
            "IfNotPresent"
        };
        set_str(c, "imagePullPolicy", policy);
    }
    set_str(c, "terminationMessagePath", "/dev/termination-log");
    set_str(c, "terminationMessagePolicy", "File");
    // A non-pointer struct: always serialised by the real server.
    set(c, "resources", json!({}));
    for p in list_mut(c, "ports") {
        set_str(p, "protocol", "TCP");
    }
    for e in list_mut(c, "env") {
        if let Some(fr) = e
            .get_mut("valueFrom")
            .and_then(|vf| existing_mut(vf, "fieldRef"))
        {
            set_str(fr, "apiVersion", "v1");
        }
    }
    for k in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing_mut(c, k) {
            probe(p);
        }
    }
    if let Some(l) = existing_mut(c, "lifecycle") {
        for k in ["postStart", "preStop"] {
            if let Some(h) = existing_mut(l, k) {
                handler(h);
            }
        }
    }
}

/// `ParseImageName` semantics: the tag is "latest" when it says so or when
/// neither a tag nor a digest is given. Unparsable references (e.g. upper
/// case repository names) have no tag, hence IfNotPresent.
fn image_tag_is_latest(image: &str) -> bool {
    if image.is_empty() || image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let repo = image
        .rsplit_once(':')
        .filter(|_| last.contains(':'))
        .map_or(image, |(r, _)| r);
    // Docker references require a lower-case path (the host may have upper case).
    let path = repo.split_once('/').map_or(repo, |(host, rest)| {
        if host.contains(['.', ':']) || host == "localhost" {
            rest
        } else {
            repo
        }
    });
    if path
        .chars()
        .any(|ch| ch.is_ascii_uppercase() || ch.is_whitespace())
    {
        return false;
    }
    match last.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

/// `SetDefaults_Probe` and its handler.
fn probe(p: &mut Value) {
    set(p, "timeoutSeconds", json!(1));
    set(p, "periodSeconds", json!(10));
    set(p, "successThreshold", json!(1));
    set(p, "failureThreshold", json!(3));
    handler(p);
    if let Some(g) = existing_mut(p, "grpc") {
        set(g, "service", json!(""));
    }
}

/// `SetDefaults_HTTPGetAction`.
fn handler(h: &mut Value) {
    if let Some(g) = existing_mut(h, "httpGet") {
        set_str(g, "path", "/");
        set_str(g, "scheme", "HTTP");
    }
}

/// `SetDefaults_Volume` and the volume-source defaults (modes 0644 = 420).
fn volume(v: &mut Value) {
    const SOURCES: [&str; 29] = [
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
    ];
    if !SOURCES
        .iter()
        .any(|k| v.get(*k).is_some_and(|x| !x.is_null()))
        && v.get("image").is_none()
    {
        set(v, "emptyDir", json!({}));
    }
    for k in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = existing_mut(v, k) {
            set(src, "defaultMode", json!(420));
            for item in list_mut(src, "items") {
                if let Some(fr) = existing_mut(item, "fieldRef") {
                    set_str(fr, "apiVersion", "v1");
                }
            }
            for s in list_mut(src, "sources") {
                if let Some(t) = existing_mut(s, "serviceAccountToken") {
                    set(t, "expirationSeconds", json!(3600));
                }
            }
        }
    }
    if let Some(hp) = existing_mut(v, "hostPath") {
        set(hp, "type", json!(""));
    }
}

// ---------------------------------------------------------------------------
// Workloads.

/// `SetDefaults_Deployment`; the apps/v1 API defaults no selector.
fn deployment(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, "spec") {
        set(spec, "replicas", json!(1));
        if let Some(st) = obj_mut(spec, "strategy") {
            set_str(st, "type", "RollingUpdate");
            if str_of(st, "type") == "RollingUpdate" {
                if let Some(ru) = obj_mut(st, "rollingUpdate") {
                    set(ru, "maxUnavailable", json!("25%"));
                    set(ru, "maxSurge", json!("25%"));
                }
            }
        }
        set(spec, "revisionHistoryLimit", json!(10));
        set(spec, "progressDeadlineSeconds", json!(600));
    }
    template(obj);
}

/// Pod-spec defaults inside `spec.template.spec`.
fn template(obj: &mut Value) {
    if let Some(spec) = existing_mut(obj, "spec")
        .and_then(|s| obj_mut(s, "template"))
        .and_then(|t| obj_mut(t, "spec"))
    {
        pod_spec(spec);
    }
}

// ---------------------------------------------------------------------------
// Services and networking.

/// `SetDefaults_Service`, plus the IP-family fields the REST layer fills on
/// create for a single-stack IPv4 cluster (`initIPFamilyFields`).
fn service(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, "spec") else {
        return;
    };
    set_str(spec, "sessionAffinity", "None");
    match str_of(spec, "sessionAffinity") {
        "None" => {
            if let Some(m) = spec.as_object_mut() {
                m.remove("sessionAffinityConfig");
            }
        }
        "ClientIP" => {
            let has_timeout = spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                if let Some(m) = spec.as_object_mut() {
                    m.insert(
                        "sessionAffinityConfig".into(),
                        json!({"clientIP": {"timeoutSeconds": 10800}}),
                    );
                }
            }
        }
        _ => {}
    }
    set_str(spec, "type", "ClusterIP");
    let ty = str_of(spec, "type").to_string();
    for p in list_mut(spec, "ports") {
        set_str(p, "protocol", "TCP");
        let target_unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(n) => n.as_i64() == Some(0),
        };
        if target_unset {
            if let (Some(port), Some(m)) = (p.get("port").cloned(), p.as_object_mut()) {
                m.insert("targetPort".into(), port);
            }
        }
    }
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally =
        ty == "NodePort" || ty == "LoadBalancer" || (ty == "ClusterIP" && has_external_ips);
    if externally {
        set_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        // The allocator's choice in a single-stack cluster; an explicit
        // IPv6 cluster IP selects that family.
        let v6 = str_of(spec, "clusterIP").contains(':');
        set(spec, "ipFamilyPolicy", json!("SingleStack"));
        set(
            spec,
            "ipFamilies",
            json!([if v6 { "IPv6" } else { "IPv4" }]),
        );
    }
    if let Some(status) = obj_mut(obj, "status") {
        set(status, "loadBalancer", json!({}));
    }
}

/// `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`.
fn network_policy(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, "spec") else {
        return;
    };
    for dir in ["ingress", "egress"] {
        for rule in list_mut(spec, dir) {
            for p in list_mut(rule, "ports") {
                set(p, "protocol", json!("TCP"));
            }
        }
    }
    let no_types = spec
        .get("policyTypes")
        .is_none_or(|t| t.is_null() || t.as_array().is_some_and(Vec::is_empty));
    if no_types {
        // Any policy implies Ingress; Egress only when egress rules exist.
        let egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let types = if egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        if let Some(m) = spec.as_object_mut() {
            m.insert("policyTypes".into(), types);
        }
    }
}

/// `SetDefaults_Namespace` (the kubernetes.io/metadata.name label),
/// `SetDefaults_NamespaceStatus`, and the strategy's `kubernetes` finalizer.
fn namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty() {
        if let Some(labels) = obj_mut(obj, "metadata").and_then(|m| obj_mut(m, "labels")) {
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), Value::from(name));
            }
        }
    }
    if let Some(spec) = obj_mut(obj, "spec") {
        let empty = spec
            .get("finalizers")
            .is_none_or(|f| f.is_null() || f.as_array().is_some_and(Vec::is_empty));
        if empty {
            if let Some(m) = spec.as_object_mut() {
                m.insert("finalizers".into(), json!(["kubernetes"]));
            }
        }
    }
    if let Some(status) = obj_mut(obj, "status") {
        set_str(status, "phase", "Active");
    }
}

#[cfg(test)]
mod tests;
