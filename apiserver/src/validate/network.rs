//! Endpoints (`pkg/apis/core/validation`), EndpointSlice
//! (`pkg/apis/discovery/validation`) and NetworkPolicy
//! (`pkg/apis/networking/validation`) rules.

use super::container::{self, PROTOCOLS};
use super::meta::{self, push_duplicate};
use super::names::{self, Ip};
use super::{
    FieldError, arr, child, forbidden, index, int, invalid, invalid_each, not_supported, required,
    s, sz, too_many,
};
use serde_json::Value;

/// `ValidateEndpoints`.
pub(crate) fn validate_endpoints(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    for (i, ss) in arr(o, "subsets").iter().enumerate() {
        let p = index("subsets", i);
        if arr(ss, "addresses").is_empty() && arr(ss, "notReadyAddresses").is_empty() {
            errs.push(required(
                p.clone(),
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(ss, list).iter().enumerate() {
                let ap = index(&child(&p, list), j);
                let ip = sz(a, "ip");
                let ipp = child(&ap, "ip");
                let parsed = names::parse_ip(ip);
                if parsed.is_none() {
                    errs.push(invalid(ipp.clone(), Value::from(ip), names::INVALID_IP));
                }
                if let Some(h) = s(a, "hostname").filter(|h| !h.is_empty()) {
                    invalid_each(&child(&ap, "hostname"), h, names::dns1123_label(h), errs);
                }
                if let Some(n) = s(a, "nodeName") {
                    invalid_each(
                        &child(&ap, "nodeName"),
                        n,
                        names::name_subdomain(n, false),
                        errs,
                    );
                }
                match parsed {
                    None => errs.push(invalid(ipp, Value::from(ip), "must be a valid IP address")),
                    Some(x) => invalid_each(&ipp, ip, names::non_special_ip(ip, x), errs),
                }
            }
        }
        let ports = arr(ss, "ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = index(&child(&p, "ports"), j);
            let name = sz(port, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(required(child(&pp, "name"), ""));
            } else if !name.is_empty() {
                invalid_each(&child(&pp, "name"), name, names::dns1123_label(name), errs);
            }
            container::port_num_errs(int(port, "port").unwrap_or(0), &child(&pp, "port"), errs);
            container::protocol(port, &pp, errs);
            if let Some(ap) = s(port, "appProtocol") {
                invalid_each(
                    &child(&pp, "appProtocol"),
                    ap,
                    names::qualified_name(ap),
                    errs,
                );
            }
        }
    }
}

/// `ValidateEndpointSlice` (create: IPv4, IPv6, FQDN address types).
pub(crate) fn validate_endpoint_slice(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let at = sz(o, "addressType");
    const TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];
    if at.is_empty() {
        errs.push(required("addressType".into(), ""));
    } else if !TYPES.contains(&at) {
        errs.push(not_supported("addressType".into(), Value::from(at), &TYPES));
    }
    let eps = arr(o, "endpoints");
    if eps.len() > 1000 {
        errs.push(too_many("endpoints".into(), eps.len(), 1000));
    } else {
        for (i, ep) in eps.iter().enumerate() {
            let p = index("endpoints", i);
            let ap = child(&p, "addresses");
            let addrs = arr(ep, "addresses");
            if addrs.is_empty() {
                errs.push(required(ap.clone(), "must contain at least 1 address"));
            } else if addrs.len() > 100 {
                errs.push(too_many(ap.clone(), addrs.len(), 100));
            }
            for (j, a) in addrs.iter().enumerate() {
                slice_address(a.as_str().unwrap_or(""), at, &index(&ap, j), errs);
            }
            if let Some(h) = s(ep, "hostname") {
                invalid_each(&child(&p, "hostname"), h, names::dns1123_label(h), errs);
            }
        }
    }
    let ports = arr(o, "ports");
    if ports.len() > 100 {
        errs.push(too_many("ports".into(), ports.len(), 100));
        return;
    }
    let mut seen = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let p = index("ports", i);
        let name = sz(port, "name");
        if !name.is_empty() {
            invalid_each(&child(&p, "name"), name, names::dns1123_label(name), errs);
        }
        push_duplicate(&mut seen, name, child(&p, "name"), errs);
        match s(port, "protocol") {
            None => errs.push(required(child(&p, "protocol"), "")),
            Some(pr) if !PROTOCOLS.contains(&pr) => {
                errs.push(not_supported(
                    child(&p, "protocol"),
                    Value::from(pr),
                    &PROTOCOLS,
                ));
            }
            _ => {}
        }
        if let Some(ap) = s(port, "appProtocol") {
            invalid_each(
                &child(&p, "appProtocol"),
                ap,
                names::qualified_name(ap),
                errs,
            );
        }
    }
}

fn slice_address(a: &str, at: &str, path: &str, errs: &mut Vec<FieldError>) {
    match at {
        "IPv4" | "IPv6" => {
            let parsed = names::parse_ip(a);
            let ok = matches!(
                (at, parsed),
                ("IPv4", Some(Ip::V4(_))) | ("IPv6", Some(Ip::V6(_)))
            );
            if !ok {
                errs.push(invalid(
                    path.to_string(),
                    Value::from(a),
                    &format!("must be a valid {at} address"),
                ));
            }
            match parsed {
                None => errs.push(invalid(
                    path.to_string(),
                    Value::from(a),
                    "must be a valid IP address",
                )),
                Some(x) => invalid_each(path, a, names::non_special_ip(a, x), errs),
            }
        }
        "FQDN" => {
            if a.is_empty() {
                errs.push(required(path.to_string(), ""));
            }
            for (v, m) in if a.is_empty() {
                Vec::new()
            } else {
                names::fqdn(a)
            } {
                errs.push(invalid(path.to_string(), Value::from(v), &m));
            }
        }
        _ => {}
    }
}

/// `ValidateEndpointSliceUpdate`: addressType is immutable.
pub(crate) fn validate_endpoint_slice_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if sz(new, "addressType") != sz(old, "addressType") {
        errs.push(invalid(
            "addressType".into(),
            Value::from(sz(new, "addressType")),
            "field is immutable",
        ));
    }
}

/// `ValidateNetworkPolicy`.
pub(crate) fn validate_network_policy(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    meta::validate_label_selector(
        spec.get("podSelector").unwrap_or(&Value::Null),
        "spec.podSelector",
        errs,
    );
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in arr(spec, dir).iter().enumerate() {
            let rp = index(&child("spec", dir), i);
            for (j, port) in arr(rule, "ports").iter().enumerate() {
                policy_port(port, &index(&child(&rp, "ports"), j), errs);
            }
            for (j, peer) in arr(rule, peers).iter().enumerate() {
                policy_peer(peer, &index(&child(&rp, peers), j), errs);
            }
        }
    }
    let types = arr(spec, "policyTypes");
    if types.len() > 2 {
        errs.push(invalid(
            "spec.policyTypes".into(),
            Value::from(types.to_vec()),
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (i, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or("");
        if t != "Ingress" && t != "Egress" {
            errs.push(not_supported(
                index("spec.policyTypes", i),
                Value::from(t),
                &["Ingress", "Egress"],
            ));
        }
    }
}

/// `ValidateNetworkPolicyPort`.
fn policy_port(port: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(pr) = s(port, "protocol") {
        if !matches!(pr, "TCP" | "UDP" | "SCTP") {
            errs.push(not_supported(
                child(path, "protocol"),
                Value::from(pr),
                &["TCP", "UDP", "SCTP"],
            ));
        }
    }
    let end = int(port, "endPort");
    match port.get("port").filter(|v| !v.is_null()) {
        Some(Value::String(name)) => {
            if let Some(e) = end {
                errs.push(invalid(
                    child(path, "endPort"),
                    Value::from(e),
                    "may not be specified when `port` is non-numeric",
                ));
            }
            invalid_each(&child(path, "port"), name, names::port_name(name), errs);
        }
        Some(n) => {
            let n = super::as_int(n).unwrap_or(0);
            container::port_num_errs(n, &child(path, "port"), errs);
            if let Some(e) = end {
                if e < n {
                    errs.push(invalid(
                        child(path, "endPort"),
                        Value::from(e),
                        "must be greater than or equal to `port`",
                    ));
                }
                container::port_num_errs(e, &child(path, "endPort"), errs);
            }
        }
        None => {
            if let Some(e) = end {
                errs.push(invalid(
                    child(path, "endPort"),
                    Value::from(e),
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

/// `ValidateNetworkPolicyPeer` and `ValidateIPBlock`.
fn policy_peer(peer: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let mut n = 0;
    for k in ["podSelector", "namespaceSelector"] {
        if let Some(sel) = peer.get(k).filter(|v| !v.is_null()) {
            n += 1;
            meta::validate_label_selector(sel, &child(path, k), errs);
        }
    }
    let ipb = peer.get("ipBlock").filter(|v| !v.is_null());
    if let Some(b) = ipb {
        n += 1;
        let bp = child(path, "ipBlock");
        let cidr = sz(b, "cidr");
        if cidr.is_empty() {
            errs.push(required(child(&bp, "cidr"), ""));
        } else if let Some((ip, bits)) = names::parse_cidr(cidr) {
            let (base, width) = names::ip_bits(ip);
            for (i, ex) in arr(b, "except").iter().enumerate() {
                let ex = ex.as_str().unwrap_or("");
                let ep = index(&child(&bp, "except"), i);
                match names::parse_cidr(ex) {
                    None => errs.push(invalid(ep, Value::from(ex), names::INVALID_CIDR)),
                    Some((eip, ebits)) => {
                        let (eb, ew) = names::ip_bits(eip);
                        let shift = width.saturating_sub(bits);
                        let contained =
                            ew == width && (shift >= 128 || eb >> shift == base >> shift);
                        if !contained || bits >= ebits {
                            errs.push(invalid(
                                ep,
                                Value::from(ex),
                                "must be a strict subset of `cidr`",
                            ));
                        }
                    }
                }
            }
        } else {
            errs.push(invalid(
                child(&bp, "cidr"),
                Value::from(cidr),
                names::INVALID_CIDR,
            ));
        }
    }
    if n == 0 {
        errs.push(required(path.to_string(), "must specify a peer"));
    } else if n > 1 && ipb.is_some() {
        errs.push(forbidden(
            path.to_string(),
            "may not specify both ipBlock and another peer",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::check;
    use serde_json::{Value, json};

    #[test]
    fn endpoints_slices_policies() {
        let ep = |subsets: Value| json!({"metadata": {"name": "e", "namespace": "default"}, "subsets": subsets});
        check(
            "Endpoints",
            ep(json!([{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}])),
            &[],
        );
        check(
            "Endpoints",
            ep(json!([{"ports": [{"port": 80}]}])),
            &["subsets[0]"],
        );
        check(
            "Endpoints",
            ep(json!([{"addresses": [{"ip": "nope"}]}])),
            &["subsets[0].addresses[0].ip", "subsets[0].addresses[0].ip"],
        );
        check(
            "Endpoints",
            ep(json!([{"addresses": [{"ip": "127.0.0.1"}]}])),
            &["subsets[0].addresses[0].ip"],
        );
        check(
            "Endpoints",
            ep(json!([{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 0}]}])),
            &["subsets[0].ports[0].port"],
        );
        let es = |at: &str, addr: &str| {
            json!({"metadata": {"name": "s", "namespace": "default"}, "addressType": at,
            "endpoints": [{"addresses": [addr]}], "ports": [{"port": 80, "name": "http"}]})
        };
        check("EndpointSlice", es("IPv4", "10.1.2.3"), &[]);
        check(
            "EndpointSlice",
            es("IPv4", "fd00::1"),
            &["endpoints[0].addresses[0]"],
        );
        check("EndpointSlice", es("IPv6", "fd00::1"), &[]);
        check("EndpointSlice", es("FQDN", "db.example.com"), &[]);
        check("EndpointSlice", es("Bogus", "x"), &["addressType"]);
        check(
            "EndpointSlice",
            json!({"metadata": {"name": "s", "namespace": "default"}, "addressType": "IPv4", "endpoints": [{"addresses": []}]}),
            &["endpoints[0].addresses"],
        );
        let np =
            |spec: Value| json!({"metadata": {"name": "n", "namespace": "default"}, "spec": spec});
        check("NetworkPolicy", np(json!({"podSelector": {}})), &[]);
        check(
            "NetworkPolicy",
            np(json!({"podSelector": {"matchLabels": {"a": "b c"}}})),
            &["spec.podSelector.matchLabels"],
        );
        check(
            "NetworkPolicy",
            np(json!({"podSelector": {}, "policyTypes": ["Sideways"]})),
            &["spec.policyTypes[0]"],
        );
        check(
            "NetworkPolicy",
            np(
                json!({"podSelector": {}, "ingress": [{"ports": [{"port": 0}, {"protocol": "ICMP"}]}]}),
            ),
            &[
                "spec.ingress[0].ports[0].port",
                "spec.ingress[0].ports[1].protocol",
            ],
        );
        check(
            "NetworkPolicy",
            np(json!({"podSelector": {}, "ingress": [{"from": [{}]}]})),
            &["spec.ingress[0].from[0]"],
        );
        check(
            "NetworkPolicy",
            np(
                json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]}),
            ),
            &["spec.egress[0].to[0].ipBlock.except[0]"],
        );
        check(
            "NetworkPolicy",
            np(
                json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]}),
            ),
            &[],
        );
        check(
            "NetworkPolicy",
            np(json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "bad"}}]}]})),
            &["spec.egress[0].to[0].ipBlock.cidr"],
        );
        check(
            "NetworkPolicy",
            np(json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPort": 70}]}]})),
            &["spec.ingress[0].ports[0].endPort"],
        );
    }
}
