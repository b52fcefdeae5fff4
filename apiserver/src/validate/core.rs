//! Namespace, ConfigMap, Secret, Event and Node rules of
//! `pkg/apis/core/validation/validation.go` and `events.go`.

use super::meta;
use super::{
    FieldError, arr, forbidden, index, invalid, invalid_each, key, metadata, names, obj, required,
    s, sz, too_long,
};
use serde_json::Value;

/// `core.MaxSecretSize`: 1 MiB for ConfigMap and Secret payloads.
const MAX_SIZE: usize = 1024 * 1024;

/// `ValidateNamespace`: DNS-1123 label name, cluster-scoped, valid spec.finalizers.
pub(crate) fn validate_namespace(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_label, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    for f in arr(spec, "finalizers") {
        let f = f.as_str().unwrap_or("");
        // Upstream reports these without an index.
        invalid_each("spec.finalizers", f, names::qualified_name(f), errs);
        meta::kube_finalizer_name(f, "spec.finalizers", errs);
    }
}

/// `ValidateConfigMap`: keys, no key in both data and binaryData, size.
pub(crate) fn validate_config_map(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let empty = serde_json::Map::new();
    let data = obj(o, "data").unwrap_or(&empty);
    let binary = obj(o, "binaryData").unwrap_or(&empty);
    let mut total = 0usize;
    for (k, v) in data {
        let p = key("data", k);
        invalid_each(&p, k, names::config_map_key(k), errs);
        if binary.contains_key(k) {
            errs.push(invalid(
                p,
                Value::from(k.as_str()),
                "duplicate of key present in binaryData",
            ));
        }
        total = total.saturating_add(v.as_str().map_or(0, str::len));
    }
    for (k, v) in binary {
        invalid_each(&key("binaryData", k), k, names::config_map_key(k), errs);
        // binaryData holds base64 text; its decoded size is what counts.
        total = total.saturating_add(v.as_str().map_or(0, |b| b.len() / 4 * 3));
    }
    if total > MAX_SIZE {
        errs.push(too_long(String::new(), MAX_SIZE));
    }
}

/// `ValidateSecret`, after the decode step: `data` values must be base64
/// (the real server fails decoding them with 400; here it is an Invalid on
/// `data[key]`), keys must be config keys, total decoded size at most 1 MiB,
/// and the per-type required keys.
pub(crate) fn validate_secret(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let empty = serde_json::Map::new();
    let data = obj(o, "data").unwrap_or(&empty);
    let string_data = obj(o, "stringData").unwrap_or(&empty);
    let mut total = 0usize;
    for (k, v) in data {
        let p = key("data", k);
        invalid_each(&p, k, names::config_map_key(k), errs);
        match v.as_str().map(decoded_len) {
            Some(Some(n)) => total = total.saturating_add(n),
            Some(None) => errs.push(invalid(
                p,
                Value::from("<secret contents redacted>"),
                "illegal base64 data",
            )),
            None => {}
        }
    }
    // stringData is merged into data by the strategy before validation.
    for (k, v) in string_data {
        invalid_each(&key("data", k), k, names::config_map_key(k), errs);
        if !data.contains_key(k) {
            total = total.saturating_add(v.as_str().map_or(0, str::len));
        }
    }
    if total > MAX_SIZE {
        errs.push(too_long("data".into(), MAX_SIZE));
    }
    let has_key = |k: &str| data.contains_key(k) || string_data.contains_key(k);
    let req = |k: &str, errs: &mut Vec<FieldError>| {
        if !has_key(k) {
            errs.push(required(key("data", k), ""));
        }
    };
    match sz(o, "type") {
        "kubernetes.io/service-account-token" => {
            let ann = metadata(o).get("annotations");
            if ann
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                errs.push(required(
                    "metadata.annotations[kubernetes.io/service-account.name]".into(),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => req(".dockercfg", errs),
        "kubernetes.io/dockerconfigjson" => req(".dockerconfigjson", errs),
        "kubernetes.io/basic-auth" if !has_key("username") && !has_key("password") => {
            req("username", errs);
            req("password", errs);
        }
        "kubernetes.io/ssh-auth" => req("ssh-privatekey", errs),
        "kubernetes.io/tls" => {
            req("tls.crt", errs);
            req("tls.key", errs);
        }
        _ => {}
    }
}

/// The decoded length of standard (padded) base64, or None if malformed.
fn decoded_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = b.get(..b.len() - pad)?;
    if !body
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
    {
        return None;
    }
    Some(b.len() / 4 * 3 - pad)
}

/// `ValidateSecretUpdate`: type immutable; with `immutable: true` neither
/// `immutable` nor `data` may change.
pub(crate) fn validate_secret_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if sz(new, "type") != sz(old, "type") {
        errs.push(invalid(
            "type".into(),
            Value::from(sz(new, "type")),
            "field is immutable",
        ));
    }
    immutable_payload(new, old, &["data"], errs);
}

/// `ValidateConfigMapUpdate`.
pub(crate) fn validate_config_map_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    immutable_payload(new, old, &["data", "binaryData"], errs);
}

fn immutable_payload(new: &Value, old: &Value, fields: &[&str], errs: &mut Vec<FieldError>) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(forbidden(
            "immutable".into(),
            "field is immutable when `immutable` is set",
        ));
    }
    for f in fields {
        // A missing map and an empty one compare equal (reflect.DeepEqual on
        // decoded maps sees nil vs {} after defaulting).
        let norm = |v: &Value| {
            v.get(*f)
                .filter(|x| !x.as_object().is_some_and(|m| m.is_empty()))
                .cloned()
        };
        if norm(new) != norm(old) {
            errs.push(forbidden(
                (*f).into(),
                "field is immutable when `immutable` is set",
            ));
        }
    }
}

/// core/v1 Event: `legacyValidateEvent` only (the strict rules apply to events.k8s.io/v1).
pub(crate) fn validate_event(o: &Value, errs: &mut Vec<FieldError>) {
    let ns = sz(metadata(o), "namespace");
    let inv_ns = o
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mismatch = |errs: &mut Vec<FieldError>| {
        errs.push(invalid(
            "involvedObject.namespace".into(),
            Value::from(inv_ns),
            "does not match event.namespace",
        ));
    };
    let event_time = s(o, "eventTime").filter(|t| !t.is_empty());
    if event_time.is_none() {
        if inv_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                mismatch(errs);
            }
        } else if ns != inv_ns {
            mismatch(errs);
        }
    } else {
        if inv_ns.is_empty() && ns != "default" && ns != "kube-system" {
            mismatch(errs);
        }
        let rc = sz(o, "reportingComponent");
        if rc.is_empty() {
            errs.push(required("reportingController".into(), ""));
        }
        invalid_each("reportingController", rc, names::qualified_name(rc), errs);
        for (f, json, limit) in [
            ("reportingInstance", "reportingInstance", 128),
            ("action", "action", 128),
            ("reason", "reason", 128),
        ] {
            let v = sz(o, json);
            if v.is_empty() {
                errs.push(required(f.into(), ""));
            }
            if v.len() > limit {
                errs.push(invalid(
                    f.into(),
                    Value::from(""),
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
        if sz(o, "message").len() > 1024 {
            errs.push(invalid(
                "message".into(),
                Value::from(""),
                "can have at most 1024 characters",
            ));
        }
    }
    invalid_each("namespace", ns, names::dns1123_subdomain(ns), errs);
}

/// `ValidateNode`: DNS subdomain name, cluster-scoped, taints, podCIDRs.
pub(crate) fn validate_node(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    let mut seen: Vec<(String, String)> = Vec::new();
    for (i, t) in arr(spec, "taints").iter().enumerate() {
        // Upstream builds this path from the metadata path.
        let p = index("metadata.taints", i);
        let (k, v, e) = (sz(t, "key"), sz(t, "value"), sz(t, "effect"));
        invalid_each(&format!("{p}.key"), k, names::qualified_name(k), errs);
        let m = names::label_value(v);
        if !m.is_empty() {
            errs.push(invalid(format!("{p}.value"), Value::from(v), &m.join(";")));
        }
        match e {
            "" => errs.push(required(format!("{p}.effect"), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(super::not_supported(
                format!("{p}.effect"),
                Value::from(other),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        let pair = (e.to_string(), k.to_string());
        if seen.contains(&pair) {
            let mut d = super::duplicate(p, t.clone());
            d.detail = "taints must be unique by key and effect pair".into();
            errs.push(d);
            continue;
        }
        seen.push(pair);
    }
    let cidrs = arr(spec, "podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        if names::parse_cidr(c).is_none() {
            errs.push(invalid(
                index("spec.podCIDRs", i),
                Value::from(c),
                names::INVALID_CIDR,
            ));
        }
    }
}

/// `ValidateNodeUpdate`: podCIDRs and providerID may only be set once.
pub(crate) fn validate_node_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (ns, os) = (
        new.get("spec").unwrap_or(&Value::Null),
        old.get("spec").unwrap_or(&Value::Null),
    );
    let (nc, oc) = (arr(ns, "podCIDRs"), arr(os, "podCIDRs"));
    if !oc.is_empty() && nc != oc {
        errs.push(forbidden(
            "spec.podCIDRs".into(),
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_pid = sz(os, "providerID");
    if !old_pid.is_empty() && old_pid != sz(ns, "providerID") {
        errs.push(forbidden(
            "spec.providerID".into(),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, check_update};
    use serde_json::json;

    #[test]
    fn config_maps_and_secrets() {
        let cm = |extra: serde_json::Value| {
            let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}});
            for (k, x) in extra.as_object().cloned().unwrap_or_default() {
                v[k] = x;
            }
            v
        };
        check(
            "ConfigMap",
            cm(json!({"data": {"a.b": "1", "C_D": "2"}})),
            &[],
        );
        check(
            "ConfigMap",
            cm(json!({"data": {"bad/key": "1"}})),
            &["data[bad/key]"],
        );
        check(
            "ConfigMap",
            cm(json!({"data": {"k": "1"}, "binaryData": {"k": "AA=="}})),
            &["data[k]"],
        );
        check(
            "ConfigMap",
            cm(json!({"binaryData": {"..": "AA=="}})),
            &["binaryData[..]"],
        );
        check(
            "ConfigMap",
            cm(json!({"data": {"big": "x".repeat(1024 * 1024 + 1)}})),
            &[""],
        );
        let sec = |extra: serde_json::Value| {
            let mut v = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}});
            for (k, x) in extra.as_object().cloned().unwrap_or_default() {
                v[k] = x;
            }
            v
        };
        check(
            "Secret",
            sec(json!({"data": {"password": "cGFzcw=="}})),
            &[],
        );
        check(
            "Secret",
            sec(json!({"data": {"password": "not base64!"}})),
            &["data[password]"],
        );
        check(
            "Secret",
            sec(json!({"data": {"a b": "cGFzcw=="}})),
            &["data[a b]"],
        );
        check("Secret", sec(json!({"stringData": {"x": "y"}})), &[]);
        check(
            "Secret",
            sec(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "AA=="}})),
            &["data[tls.key]"],
        );
        check(
            "Secret",
            sec(json!({"type": "kubernetes.io/basic-auth"})),
            &["data[username]", "data[password]"],
        );
        check(
            "Secret",
            sec(json!({"type": "kubernetes.io/service-account-token"})),
            &["metadata.annotations[kubernetes.io/service-account.name]"],
        );
        let with_rv = |mut v: serde_json::Value| {
            v["metadata"]["resourceVersion"] = json!("1");
            v
        };
        check_update(
            "Secret",
            sec(json!({})),
            with_rv(sec(
                json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "AA==", "tls.key": "AA=="}}),
            )),
            &["type"],
        );
        check_update(
            "Secret",
            sec(json!({"immutable": true, "data": {"a": "AA=="}})),
            with_rv(sec(json!({"immutable": true, "data": {"a": "AQ=="}}))),
            &["data"],
        );
        check_update(
            "ConfigMap",
            cm(json!({"immutable": true, "data": {"a": "1"}})),
            with_rv(cm(json!({"data": {"a": "1"}}))),
            &["immutable"],
        );
        check_update(
            "ConfigMap",
            cm(json!({"data": {"a": "1"}})),
            with_rv(cm(json!({"data": {"a": "2"}}))),
            &[],
        );
    }

    #[test]
    fn namespaces_events_nodes() {
        check("Namespace", json!({"metadata": {"name": "team-a"}}), &[]);
        check(
            "Namespace",
            json!({"metadata": {"name": "team.a"}}),
            &["metadata.name"],
        );
        check(
            "Namespace",
            json!({"metadata": {"name": "Team"}}),
            &["metadata.name"],
        );
        check(
            "Namespace",
            json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["custom"]}}),
            &["spec.finalizers"],
        );
        let ev = |inv_ns: &str| json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": inv_ns}, "reason": "R"});
        check("Event", ev("default"), &[]);
        check("Event", ev("other"), &["involvedObject.namespace"]);
        check(
            "Event",
            json!({"metadata": {"name": "a/b", "namespace": "default"}, "involvedObject": {}}),
            &["metadata.name"],
        );
        check("Node", json!({"metadata": {"name": "node-1"}}), &[]);
        check(
            "Node",
            json!({"metadata": {"name": "Node_1"}}),
            &["metadata.name"],
        );
        check(
            "Node",
            json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "Bogus"}, {"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}]}}),
            &["metadata.taints[0].effect", "metadata.taints[2]"],
        );
        check(
            "Node",
            json!({"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.0.0.0/33"]}}),
            &["spec.podCIDRs[0]"],
        );
        check_update(
            "Node",
            json!({"metadata": {"name": "n"}, "spec": {"providerID": "a"}}),
            json!({"metadata": {"name": "n", "resourceVersion": "2"}, "spec": {"providerID": "b"}}),
            &["spec.providerID"],
        );
    }
}
