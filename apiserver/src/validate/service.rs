//! Service rules of `pkg/apis/core/validation/validation.go`:
//! `ValidateService`, `validateServicePort`,
//! `ValidateServiceClusterIPsRelatedFields` and `ValidateServiceUpdate`.

use super::container;
use super::meta::{self, push_duplicate};
use super::names::{self, Ip};
use super::{
    FieldError, arr, child, duplicate, forbidden, has, index, int, invalid, invalid_each,
    not_supported, required, s, sz,
};
use serde_json::Value;

/// The cluster IPs as the strategy normalises them: `clusterIPs`, or
/// `[clusterIP]` when only the singular field is set (`normalizeClusterIPs`).
fn cluster_ips(spec: &Value) -> Vec<String> {
    let list: Vec<String> = arr(spec, "clusterIPs")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if list.is_empty() {
        if let Some(ip) = s(spec, "clusterIP").filter(|ip| !ip.is_empty()) {
            return vec![ip.to_string()];
        }
    }
    list
}

fn is_headless(spec: &Value) -> bool {
    let ips = cluster_ips(spec);
    ips.len() == 1 && ips[0] == "None"
}

/// `ValidateService`.
pub(crate) fn validate_service(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_1035, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    let ty = sz(spec, "type");
    let ports = arr(spec, "ports");
    let headless = is_headless(spec);
    let ips = cluster_ips(spec);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(required("spec.ports".into(), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => errs.push(invalid(
            "spec.clusterIPs[0]".into(),
            Value::from("None"),
            &format!("may not be set to 'None' for {ty} services"),
        )),
        "ExternalName" => {
            if !ips.is_empty() {
                errs.push(forbidden(
                    "spec.clusterIPs".into(),
                    "may not be set for ExternalName services",
                ));
            }
            if !arr(spec, "ipFamilies").is_empty() {
                errs.push(forbidden(
                    "spec.ipFamilies".into(),
                    "may not be set for ExternalName services",
                ));
            }
            if has(spec, "ipFamilyPolicy") {
                errs.push(forbidden(
                    "spec.ipFamilyPolicy".into(),
                    "may not be set for ExternalName services",
                ));
            }
            let cname = sz(spec, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(required("spec.externalName".into(), ""));
            } else {
                invalid_each(
                    "spec.externalName",
                    cname,
                    names::dns1123_subdomain(cname),
                    errs,
                );
            }
        }
        _ => {}
    }
    let mut port_names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        validate_service_port(
            p,
            ports.len() > 1,
            &mut port_names,
            &index("spec.ports", i),
            errs,
        );
    }
    if spec.get("selector").is_some_and(|v| !v.is_null()) {
        meta::validate_labels(spec.get("selector"), "spec.selector", errs);
    }
    match sz(spec, "sessionAffinity") {
        "" => errs.push(required("spec.sessionAffinity".into(), "")),
        "ClientIP" => {
            let t = spec.pointer("/sessionAffinityConfig/clientIP/timeoutSeconds");
            match t.and_then(super::as_int) {
                None => errs.push(required(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds".into(),
                    "when session affinity type is ClientIP",
                )),
                Some(t) if t <= 0 || t > 86400 => errs.push(invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds".into(),
                    Value::from(t),
                    "must be greater than 0 and less than 86400",
                )),
                _ => {}
            }
        }
        "None" => {
            if has(spec, "sessionAffinityConfig") {
                errs.push(forbidden(
                    "spec.sessionAffinityConfig".into(),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(not_supported(
            "spec.sessionAffinity".into(),
            Value::from(other),
            &["ClientIP", "None"],
        )),
    }
    cluster_ip_fields(spec, ty, &ips, errs);
    for (i, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let raw = ip.as_str().unwrap_or("");
        let p = index("spec.externalIPs", i);
        match names::parse_ip(raw) {
            None => errs.push(invalid(p, Value::from(raw), names::INVALID_IP)),
            Some(parsed) => invalid_each(&p, raw, names::non_special_ip(raw, parsed), errs),
        }
    }
    const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if ty.is_empty() {
        errs.push(required("spec.type".into(), ""));
    } else if !TYPES.contains(&ty) {
        errs.push(not_supported("spec.type".into(), Value::from(ty), &TYPES));
    }
    let mut node_ports = Vec::new();
    let mut port_keys = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = int(p, "nodePort").unwrap_or(0);
        if ty == "ClusterIP" && np != 0 {
            errs.push(forbidden(
                format!("spec.ports[{i}].nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if np != 0 {
            let k = format!("{}/{np}", sz(p, "protocol"));
            if node_ports.contains(&k) {
                errs.push(duplicate(
                    format!("spec.ports[{i}].nodePort"),
                    Value::from(np),
                ));
            }
            node_ports.push(k);
        }
        let k = format!("{}/{}", sz(p, "protocol"), int(p, "port").unwrap_or(0));
        if port_keys.contains(&k) {
            let v = serde_json::json!({"port": int(p, "port").unwrap_or(0), "protocol": sz(p, "protocol")});
            errs.push(duplicate(format!("spec.ports[{i}]"), v));
        }
        port_keys.push(k);
    }
    let ranges = arr(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        if ty != "LoadBalancer" {
            errs.push(forbidden(
                "spec.LoadBalancerSourceRanges".into(),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let r = r.as_str().unwrap_or("").trim();
            if names::parse_cidr(r).is_none() {
                errs.push(invalid(
                    index("spec.LoadBalancerSourceRanges", i),
                    Value::from(r),
                    names::INVALID_CIDR,
                ));
            }
        }
    }
    if has(spec, "allocateLoadBalancerNodePorts") && ty != "LoadBalancer" {
        errs.push(forbidden(
            "spec.allocateLoadBalancerNodePorts".into(),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if ty == "LoadBalancer" && !has(spec, "allocateLoadBalancerNodePorts") {
        errs.push(required("allocateLoadBalancerNodePorts".into(), ""));
    }
    if let Some(c) = s(spec, "loadBalancerClass") {
        if ty == "LoadBalancer" {
            invalid_each("spec.loadBalancerClass", c, names::qualified_name(c), errs);
        } else {
            errs.push(forbidden(
                "spec.loadBalancerClass".into(),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    traffic_policies(spec, ty, errs);
}

/// `validateServicePort`.
fn validate_service_port(
    p: &Value,
    require_name: bool,
    seen: &mut Vec<String>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let name = sz(p, "name");
    if require_name && name.is_empty() {
        errs.push(required(child(path, "name"), ""));
    } else if !name.is_empty() {
        invalid_each(&child(path, "name"), name, names::dns1123_label(name), errs);
        push_duplicate(seen, name, child(path, "name"), errs);
    }
    container::port_num_errs(int(p, "port").unwrap_or(0), &child(path, "port"), errs);
    container::protocol(p, path, errs);
    container::port_num_or_name(p.get("targetPort"), &child(path, "targetPort"), errs);
    if let Some(ap) = s(p, "appProtocol") {
        invalid_each(
            &child(path, "appProtocol"),
            ap,
            names::qualified_name(ap),
            errs,
        );
    }
}

/// `ValidateServiceClusterIPsRelatedFields` (skipping the clusterIP /
/// clusterIPs sync check, which the strategy's normalisation guarantees).
fn cluster_ip_fields(spec: &Value, ty: &str, ips: &[String], errs: &mut Vec<FieldError>) {
    if ty == "ExternalName" {
        return;
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, f) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        let p = index("spec.ipFamilies", i);
        if f != "IPv4" && f != "IPv6" {
            errs.push(not_supported(p.clone(), Value::from(f), &["IPv4", "IPv6"]));
        }
        if seen.contains(&f) {
            errs.push(duplicate(p, Value::from(f)));
        }
        seen.push(f);
    }
    if let Some(pol) = s(spec, "ipFamilyPolicy") {
        const POLICIES: [&str; 3] = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&pol) {
            errs.push(not_supported(
                "spec.ipFamilyPolicy".into(),
                Value::from(pol),
                &POLICIES,
            ));
        }
    }
    let all = Value::from(ips.to_vec());
    let mut parsed: Vec<Ip> = Vec::new();
    let mut bad = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                bad = true;
                errs.push(invalid(
                    "spec.clusterIPs".into(),
                    all.clone(),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        match names::parse_ip(ip) {
            Some(p) => parsed.push(p),
            None => {
                bad = true;
                errs.push(invalid(
                    index("spec.clusterIPs", i),
                    Value::from(ip.as_str()),
                    names::INVALID_IP,
                ));
            }
        }
    }
    if ips.len() > 2 {
        errs.push(invalid(
            "spec.clusterIPs".into(),
            all.clone(),
            "may only hold up to 2 values",
        ));
    }
    if bad {
        return;
    }
    if ips.len() > 1
        && !(parsed.len() == 2 && matches!(parsed[0], Ip::V4(_)) != matches!(parsed[1], Ip::V4(_)))
    {
        errs.push(invalid(
            "spec.clusterIPs".into(),
            all,
            "may specify no more than one IP for each IP family",
        ));
    }
}

/// External/internal traffic policy and health-check node port rules.
fn traffic_policies(spec: &Value, ty: &str, errs: &mut Vec<FieldError>) {
    let externally = ty == "LoadBalancer"
        || ty == "NodePort"
        || (ty == "ClusterIP" && !arr(spec, "externalIPs").is_empty());
    let etp = sz(spec, "externalTrafficPolicy");
    if !externally {
        if !etp.is_empty() {
            errs.push(invalid(
                "spec.externalTrafficPolicy".into(),
                Value::from(etp),
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(required("spec.externalTrafficPolicy".into(), ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(not_supported(
            "spec.externalTrafficPolicy".into(),
            Value::from(etp),
            &["Cluster", "Local"],
        ));
    }
    let hc = int(spec, "healthCheckNodePort").unwrap_or(0);
    if !(ty == "LoadBalancer" && etp == "Local") {
        if hc != 0 {
            errs.push(invalid("spec.healthCheckNodePort".into(), Value::from(hc), "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
        }
    } else if hc != 0 {
        // Zero is left for the allocator, which fills it after defaulting.
        container::port_num_errs(hc, "spec.healthCheckNodePort", errs);
    }
    match s(spec, "internalTrafficPolicy") {
        None if matches!(ty, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(required("spec.internalTrafficPolicy".into(), ""));
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(not_supported(
                "spec.internalTrafficPolicy".into(),
                Value::from(p),
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
    if let Some(td) = s(spec, "trafficDistribution") {
        if td != "PreferClose" {
            errs.push(not_supported(
                "spec.trafficDistribution".into(),
                Value::from(td),
                &["PreferClose"],
            ));
        }
    }
}

/// `ValidateServiceUpdate`: the primary cluster IP may not change once set
/// (unless either side is ExternalName or both are headless), nor the
/// primary IP family, nor loadBalancerClass between LoadBalancers.
pub(crate) fn validate_service_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let ns = new.get("spec").unwrap_or(&Value::Null);
    let os = old.get("spec").unwrap_or(&Value::Null);
    let (nt, ot) = (sz(ns, "type"), sz(os, "type"));
    if nt == "ExternalName" || ot == "ExternalName" {
        return;
    }
    if !(is_headless(ns) && is_headless(os)) {
        let (n, o) = (cluster_ips(ns), cluster_ips(os));
        let shown = Value::from(n.clone());
        if n.is_empty() && !o.is_empty() {
            errs.push(invalid(
                "spec.clusterIPs[0]".into(),
                shown,
                "primary clusterIP can not be unset",
            ));
        } else if !o.is_empty() && n.len() == o.len() {
            for (i, (a, b)) in n.iter().zip(&o).enumerate() {
                if a != b {
                    errs.push(invalid(
                        index("spec.clusterIPs", i),
                        shown.clone(),
                        "may not change once set",
                    ));
                }
            }
        } else if let (Some(a), Some(b)) = (n.first(), o.first()) {
            if a != b {
                errs.push(invalid(
                    "spec.clusterIPs[0]".into(),
                    shown,
                    "may not change once set",
                ));
            }
        }
    }
    if !is_headless(ns) && !is_headless(os) {
        let (nf, of) = (arr(ns, "ipFamilies"), arr(os, "ipFamilies"));
        if let (Some(a), Some(b)) = (nf.first(), of.first()) {
            if a != b {
                errs.push(invalid(
                    "spec.ipFamilies[0]".into(),
                    Value::from(nf.to_vec()),
                    "may not change once set",
                ));
            }
        }
    }
    if nt == "LoadBalancer"
        && ot == "LoadBalancer"
        && ns.get("loadBalancerClass") != os.get("loadBalancerClass")
    {
        errs.push(invalid(
            "spec.loadBalancerClass".into(),
            ns.get("loadBalancerClass").cloned().unwrap_or(Value::Null),
            "may not change once set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, check_update};
    use serde_json::{Value, json};

    fn svc(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn services() {
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "selector": {"app": "web"}})),
            &[],
        );
        check("Service", svc(json!({})), &["spec.ports"]);
        check("Service", svc(json!({"clusterIP": "None"})), &[]);
        check(
            "Service",
            svc(json!({"type": "ExternalName", "externalName": "db.example.com."})),
            &[],
        );
        check(
            "Service",
            svc(json!({"type": "ExternalName"})),
            &["spec.externalName"],
        );
        check(
            "Service",
            svc(json!({"type": "ExternalName", "externalName": "Not_A_Host"})),
            &["spec.externalName"],
        );
        check(
            "Service",
            svc(json!({"type": "Magic", "ports": [{"port": 80}]})),
            &["spec.type"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 70000}]})),
            &["spec.ports[0].port", "spec.ports[0].targetPort"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "targetPort": 0}]})),
            &[],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "targetPort": "not_valid"}]})),
            &["spec.ports[0].targetPort"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}, {"port": 81}]})),
            &["spec.ports[0].name", "spec.ports[1].name"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]})),
            &["spec.ports[1].name"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]})),
            &["spec.ports[1]"],
        );
        check(
            "Service",
            svc(
                json!({"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b", "protocol": "UDP"}]}),
            ),
            &[],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "protocol": "HTTP"}]})),
            &["spec.ports[0].protocol"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "nodePort": 30080}]})),
            &["spec.ports[0].nodePort"],
        );
        check(
            "Service",
            svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})),
            &[],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "sessionAffinity": "Sticky"})),
            &["spec.sessionAffinity"],
        );
        check(
            "Service",
            svc(
                json!({"ports": [{"port": 80}], "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}),
            ),
            &["spec.sessionAffinityConfig.clientIP.timeoutSeconds"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.300"})),
            &["spec.clusterIPs[0]"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.10"})),
            &[],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "selector": {"app": "bad value"}})),
            &["spec.selector"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "externalIPs": ["127.0.0.1"]})),
            &["spec.externalIPs[0]"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "loadBalancerSourceRanges": ["10.0.0.0/8"]})),
            &["spec.LoadBalancerSourceRanges"],
        );
        check(
            "Service",
            svc(json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]})),
            &["spec.clusterIPs[0]"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "externalTrafficPolicy": "Local"})),
            &["spec.externalTrafficPolicy"],
        );
        check(
            "Service",
            svc(json!({"ports": [{"port": 80}], "internalTrafficPolicy": "Nearby"})),
            &["spec.internalTrafficPolicy"],
        );
        let mut bad_name = svc(json!({"ports": [{"port": 80}]}));
        bad_name["metadata"]["name"] = json!("1web");
        check("Service", bad_name, &["metadata.name"]);
    }

    #[test]
    fn service_updates() {
        let old = svc(json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.10"}));
        let rv = |mut v: Value| {
            v["metadata"]["resourceVersion"] = json!("1");
            v
        };
        check_update(
            "Service",
            old.clone(),
            rv(svc(
                json!({"ports": [{"port": 81}], "clusterIP": "10.0.0.10"}),
            )),
            &[],
        );
        check_update(
            "Service",
            old.clone(),
            rv(svc(
                json!({"ports": [{"port": 80}], "clusterIP": "10.0.0.11"}),
            )),
            &["spec.clusterIPs[0]"],
        );
        check_update(
            "Service",
            old.clone(),
            rv(svc(json!({"ports": [{"port": 80}]}))),
            &["spec.clusterIPs[0]"],
        );
        check_update(
            "Service",
            old,
            rv(svc(json!({"type": "ExternalName", "externalName": "a.b"}))),
            &[],
        );
    }
}
