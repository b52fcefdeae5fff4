//! Pod and pod-template rules of `pkg/apis/core/validation/validation.go`:
//! `validatePodMetadataAndSpec`, `ValidatePodSpec`, `ValidateVolumes`,
//! `ValidatePodTemplateSpec` and the update rule of `ValidatePodUpdate`.

use super::container::{self, ProbeKind};
use super::meta::{self, push_duplicate};
use super::{
    FieldError, arr, child, forbidden, has, index, int, invalid, invalid_each, metadata, names,
    not_supported, obj, required, s, sz,
};
use serde_json::Value;

/// `ValidatePod` for create: metadata (DNS subdomain name, namespaced), spec,
/// and the pod-only image whitespace rule.
pub(crate) fn validate_pod(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    validate_pod_spec(spec, "spec", true, errs);
    if s(spec, "serviceAccountName").unwrap_or("").is_empty() {
        for (vi, v) in arr(spec, "volumes").iter().enumerate() {
            for (si, src) in arr(v.get("projected").unwrap_or(&Value::Null), "sources")
                .iter()
                .enumerate()
            {
                if has(src, "serviceAccountToken") {
                    errs.push(forbidden(
                        format!("spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in arr(spec, list).iter().enumerate() {
            let image = sz(c, "image");
            if image.len() != image.trim().len() {
                errs.push(invalid(
                    format!("spec.{list}[{i}].image"),
                    Value::from(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
}

/// `ValidatePodTemplateSpec` (used by Deployment and ReplicaSet): labels and
/// annotations are reported at `<path>.labels` / `<path>.annotations`, as upstream does.
pub(crate) fn validate_pod_template(t: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let m = metadata(t);
    meta::validate_labels(m.get("labels"), &child(path, "labels"), errs);
    meta::validate_annotations(m.get("annotations"), &child(path, "annotations"), errs);
    let spec = t.get("spec").unwrap_or(&Value::Null);
    let spec_path = child(path, "spec");
    validate_pod_spec(spec, &spec_path, false, errs);
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            child(&spec_path, "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// `ValidatePodSpec`.
pub(crate) fn validate_pod_spec(
    spec: &Value,
    path: &str,
    is_pod: bool,
    errs: &mut Vec<FieldError>,
) {
    let grace = int(spec, "terminationGracePeriodSeconds");
    if grace.is_none() {
        errs.push(required(child(path, "terminationGracePeriodSeconds"), ""));
    }
    let volumes =
        super::volume::validate_volumes(arr(spec, "volumes"), &child(path, "volumes"), errs);
    validate_containers(spec, &volumes, grace, path, errs);
    validate_init_containers(spec, &volumes, grace, path, errs);
    host_network_ports(spec, path, is_pod, errs);
    match sz(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(required(child(path, "restartPolicy"), "")),
        other => errs.push(not_supported(
            child(path, "restartPolicy"),
            Value::from(other),
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns_policy = sz(spec, "dnsPolicy");
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(required(child(path, "dnsPolicy"), "")),
        other => errs.push(not_supported(
            child(path, "dnsPolicy"),
            Value::from(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    meta::validate_labels(spec.get("nodeSelector"), &child(path, "nodeSelector"), errs);
    if let Some(sc) = spec.get("securityContext") {
        super::resources::validate_security_context(sc, &child(path, "securityContext"), errs);
    }
    for (i, ps) in arr(spec, "imagePullSecrets").iter().enumerate() {
        if ps
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k != "name"))
        {
            errs.push(invalid(
                index(&child(path, "imagePullSecrets"), i),
                ps.clone(),
                "only name may be set",
            ));
        }
    }
    validate_dns_config(spec, dns_policy, &child(path, "dnsConfig"), errs);
    for (i, g) in arr(spec, "readinessGates").iter().enumerate() {
        let ct = sz(g, "conditionType");
        let p = child(&index(&child(path, "readinessGates"), i), "conditionType");
        invalid_each(&p, ct, names::qualified_name(ct), errs);
    }
    let mut gates = Vec::new();
    for (i, g) in arr(spec, "schedulingGates").iter().enumerate() {
        let n = sz(g, "name");
        let p = index(&child(path, "schedulingGates"), i);
        invalid_each(&p, n, names::qualified_name(n), errs);
        push_duplicate(&mut gates, n, p, errs);
    }
    for (f, check) in [
        (
            "serviceAccountName",
            names::name_subdomain as fn(&str, bool) -> Vec<String>,
        ),
        ("nodeName", names::name_subdomain),
        ("priorityClassName", names::name_subdomain),
    ] {
        if let Some(v) = s(spec, f).filter(|v| !v.is_empty()) {
            invalid_each(&child(path, f), v, check(v, false), errs);
        }
    }
    if let Some(ads) =
        int(spec, "activeDeadlineSeconds").filter(|a| !(1..=i64::from(i32::MAX)).contains(a))
    {
        errs.push(invalid(
            child(path, "activeDeadlineSeconds"),
            Value::from(ads),
            &names::inclusive_range(1, i64::from(i32::MAX)),
        ));
    }
    for f in ["hostname", "subdomain"] {
        if let Some(v) = s(spec, f).filter(|v| !v.is_empty()) {
            invalid_each(&child(path, f), v, names::dns1123_label(v), errs);
        }
    }
    validate_tolerations(arr(spec, "tolerations"), &child(path, "tolerations"), errs);
    for (i, ha) in arr(spec, "hostAliases").iter().enumerate() {
        let p = index(&child(path, "hostAliases"), i);
        let ip = sz(ha, "ip");
        if names::parse_ip(ip).is_none() {
            errs.push(invalid(child(&p, "ip"), Value::from(ip), names::INVALID_IP));
        }
        for (j, h) in arr(ha, "hostnames").iter().enumerate() {
            let h = h.as_str().unwrap_or("");
            invalid_each(
                &index(&child(&p, "hostnames"), j),
                h,
                names::dns1123_subdomain(h),
                errs,
            );
        }
    }
    if let Some(pp) =
        s(spec, "preemptionPolicy").filter(|p| *p != "PreemptLowerPriority" && *p != "Never")
    {
        errs.push(not_supported(
            child(path, "preemptionPolicy"),
            Value::from(pp),
            &["PreemptLowerPriority", "Never"],
        ));
    }
}

/// `validateContainers`: at least one, unique names, probes and lifecycle
/// allowed, restartPolicy forbidden.
fn validate_containers(
    spec: &Value,
    volumes: &[String],
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let path = child(path, "containers");
    let list = arr(spec, "containers");
    if list.is_empty() {
        errs.push(required(path, ""));
        return;
    }
    let mut seen = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let p = index(&path, i);
        container::validate_container_common(c, volumes, &p, errs);
        push_duplicate(&mut seen, sz(c, "name"), child(&p, "name"), errs);
        probes_and_lifecycle(c, grace, &p, errs);
        if has(c, "restartPolicy") {
            errs.push(forbidden(
                child(&p, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    host_port_conflicts(list, &path, errs);
}

fn probes_and_lifecycle(c: &Value, grace: Option<i64>, p: &str, errs: &mut Vec<FieldError>) {
    if let Some(l) = c.get("lifecycle").filter(|v| !v.is_null()) {
        container::validate_lifecycle(l, grace, &child(p, "lifecycle"), errs);
    }
    for (k, kind) in [
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        if let Some(pr) = c.get(k) {
            container::validate_probe(pr, kind, grace, &child(p, k), errs);
        }
    }
}

/// `validateInitContainers`: names unique across init and regular
/// containers; probes/lifecycle only for restartable (sidecar) containers.
fn validate_init_containers(
    spec: &Value,
    volumes: &[String],
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let path = child(path, "initContainers");
    let mut seen: Vec<String> = arr(spec, "containers")
        .iter()
        .map(|c| sz(c, "name").to_string())
        .collect();
    for (i, c) in arr(spec, "initContainers").iter().enumerate() {
        let p = index(&path, i);
        container::validate_container_common(c, volumes, &p, errs);
        let restart_always = match s(c, "restartPolicy") {
            None => false,
            Some("Always") => true,
            Some(other) => {
                errs.push(not_supported(
                    child(&p, "restartPolicy"),
                    Value::from(other),
                    &["Always"],
                ));
                false
            }
        };
        let name = sz(c, "name");
        if seen.iter().any(|n| n == name) {
            errs.push(super::duplicate(child(&p, "name"), Value::from(name)));
        } else if !name.is_empty() {
            seen.push(name.to_string());
        }
        host_port_conflicts(std::slice::from_ref(c), &path, errs);
        if restart_always {
            probes_and_lifecycle(c, grace, &p, errs);
        } else {
            for k in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if has(c, k) {
                    errs.push(forbidden(
                        child(&p, k),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

/// `checkHostPortConflicts`: protocol/hostIP/hostPort must be unique.
fn host_port_conflicts(list: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let mut seen = Vec::new();
    for (ci, c) in list.iter().enumerate() {
        for (pi, p) in arr(c, "ports").iter().enumerate() {
            let hp = int(p, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let k = format!("{}/{}/{}", sz(p, "protocol"), sz(p, "hostIP"), hp);
            let fp = format!("{path}[{ci}].ports[{pi}].hostPort");
            push_duplicate(&mut seen, &k, fp, errs);
        }
    }
}

/// `validatePodHostNetworkDeps`: with hostNetwork, hostPort must equal
/// containerPort (0 tolerated in templates, where it is defaulted later).
fn host_network_ports(spec: &Value, path: &str, is_pod: bool, errs: &mut Vec<FieldError>) {
    if spec.get("hostNetwork").and_then(Value::as_bool) != Some(true) {
        return;
    }
    let is_template = !is_pod;
    for (ci, c) in arr(spec, "containers").iter().enumerate() {
        for (pi, p) in arr(c, "ports").iter().enumerate() {
            let (hp, cp) = (
                int(p, "hostPort").unwrap_or(0),
                int(p, "containerPort").unwrap_or(0),
            );
            if (!is_template || hp != 0) && hp != cp {
                errs.push(invalid(
                    format!("{path}.containers[{ci}].ports[{pi}].hostPort"),
                    Value::from(hp),
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

/// `validatePodDNSConfig` (strict DNS search validation: the relaxed gate is alpha in 1.32).
fn validate_dns_config(spec: &Value, policy: &str, path: &str, errs: &mut Vec<FieldError>) {
    let cfg = spec.get("dnsConfig").filter(|v| !v.is_null());
    if policy == "None" {
        match cfg {
            None => {
                errs.push(required(
                    path.to_string(),
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                ));
                return;
            }
            Some(c) if arr(c, "nameservers").is_empty() => {
                errs.push(required(
                    child(path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ));
                return;
            }
            _ => {}
        }
    }
    let Some(c) = cfg else { return };
    let ns = arr(c, "nameservers");
    if ns.len() > 3 {
        errs.push(invalid(
            child(path, "nameservers"),
            Value::Array(ns.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        let n = n.as_str().unwrap_or("");
        if names::parse_ip(n).is_none() {
            errs.push(invalid(
                index(&child(path, "nameservers"), i),
                Value::from(n),
                names::INVALID_IP,
            ));
        }
    }
    let searches = arr(c, "searches");
    if searches.len() > 32 {
        errs.push(invalid(
            child(path, "searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    for (i, sr) in searches.iter().enumerate() {
        let sr = sr.as_str().unwrap_or("");
        let sr = sr.strip_suffix('.').unwrap_or(sr);
        invalid_each(
            &index(&child(path, "searches"), i),
            sr,
            names::dns1123_subdomain(sr),
            errs,
        );
    }
    for (i, o) in arr(c, "options").iter().enumerate() {
        if sz(o, "name").is_empty() {
            errs.push(required(
                index(&child(path, "options"), i),
                "must not be empty",
            ));
        }
    }
}

/// `ValidateTolerations`.
fn validate_tolerations(list: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, t) in list.iter().enumerate() {
        let p = index(path, i);
        let (k, op, effect) = (sz(t, "key"), sz(t, "operator"), sz(t, "effect"));
        if !k.is_empty() {
            invalid_each(&child(&p, "key"), k, names::qualified_name(k), errs);
        }
        if k.is_empty() && op != "Exists" {
            errs.push(invalid(child(&p, "operator"), Value::from(op), "operator must be Exists when `key` is empty, which means \"match all values and all keys\""));
        }
        if has(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(invalid(
                child(&p, "effect"),
                Value::from(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let v = sz(t, "value");
        match op {
            "Equal" | "" => {
                let m = names::label_value(v);
                if !m.is_empty() {
                    errs.push(invalid(child(&p, "operator"), Value::from(v), &m.join(";")));
                }
            }
            "Exists" if !v.is_empty() => errs.push(invalid(
                child(&p, "operator"),
                Value::from(v),
                "value must be empty when `operator` is 'Exists'",
            )),
            "Exists" => {}
            other => errs.push(not_supported(
                child(&p, "operator"),
                Value::from(other),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(not_supported(
                child(&p, "effect"),
                Value::from(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
}

/// `ValidatePodUpdate`'s spec rule: only container images,
/// activeDeadlineSeconds, tolerations (additions) and scheduling gates
/// (removals) may change.
pub(crate) fn validate_pod_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(ns), Some(os)) = (obj(new, "spec"), obj(old, "spec")) else {
        return;
    };
    let mut munged = ns.clone();
    for list in ["containers", "initContainers"] {
        let old_list = os.get(list).and_then(Value::as_array);
        if let (Some(Value::Array(new_list)), Some(old_list)) = (
            munged.get_mut(list),
            old_list
                .filter(|o| Some(o.len()) == ns.get(list).and_then(Value::as_array).map(Vec::len)),
        ) {
            for (n, o) in new_list.iter_mut().zip(old_list) {
                if let (Some(nm), Some(img)) = (n.as_object_mut(), o.get("image")) {
                    nm.insert("image".into(), img.clone());
                }
            }
        }
    }
    let ads_path = "spec.activeDeadlineSeconds";
    match (
        int(&Value::Object(ns.clone()), "activeDeadlineSeconds"),
        old.pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_i64),
    ) {
        (Some(n), Some(o)) if n > o => errs.push(invalid(
            ads_path.into(),
            Value::from(n),
            "must be less than or equal to previous value",
        )),
        (None, Some(_)) => errs.push(invalid(
            ads_path.into(),
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    for f in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
        match os.get(f) {
            Some(v) => munged.insert(f.into(), v.clone()),
            None => munged.remove(f),
        };
    }
    let old_tol = os
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_tol = ns
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !old_tol.iter().all(|t| new_tol.contains(t)) {
        errs.push(forbidden(
            "spec.tolerations".into(),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    if munged != *os {
        errs.push(forbidden(
            "spec".into(),
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
}

#[cfg(test)]
mod tests;
