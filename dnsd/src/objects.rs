//! The few fields of Services, EndpointSlices, Pods and Namespaces that DNS reads, taken from
//! their Kubernetes JSON (`serde_json::Value`, exactly as the API returns them).
//!
//! The conversions follow CoreDNS's `plugin/kubernetes/object/{service,endpoint,pod}.go`:
//! a Service or EndpointSlice without ports gets the sentinel port −1 (it answers A/AAAA but
//! never SRV), `spec.clusterIPs` falls back to `[spec.clusterIP]`, and an endpoint's DNS
//! hostname is its `hostname` field or else its address with `.`/`:` replaced by `-`.
//! Nothing here panics on malformed input: a missing name is an [`ObjectError`], anything else
//! that does not parse is left out.

use std::net::IpAddr;

use serde_json::Value;

use crate::error::ObjectError;

/// The label that links an EndpointSlice to its Service (`discovery.LabelServiceName`).
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The sentinel CoreDNS uses for "no ports declared".
pub(crate) const NO_PORT: i32 = -1;

/// A Service or EndpointSlice port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Port {
    /// `name`, empty when unnamed.
    pub(crate) name: String,
    /// `protocol` as written (`TCP`, `UDP`, `SCTP`); empty when absent.
    pub(crate) protocol: String,
    /// `port`, or [`NO_PORT`].
    pub(crate) port: i32,
}

/// What a Service resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    /// A ClusterIP (or NodePort/LoadBalancer) Service with its parsed `clusterIPs`.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`.
    Headless,
    /// `type: ExternalName`, with the target as written (no trailing dot added).
    ExternalName(String),
}

/// A Service as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// `metadata.name`.
    pub(crate) name: String,
    /// ClusterIP, headless or ExternalName.
    pub(crate) kind: ServiceKind,
    /// `spec.ports`, or the single sentinel port.
    pub(crate) ports: Vec<Port>,
    /// `spec.publishNotReadyAddresses`: every endpoint counts as ready (DNS-SPEC §1.1).
    pub(crate) publish_not_ready: bool,
}

/// One address of an endpoint, with the DNS hostname it is published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// The address.
    pub(crate) ip: IpAddr,
    /// `endpoints[].hostname`, or the dashed address (`endpointHostname`).
    pub(crate) hostname: String,
}

/// One entry of `endpoints[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Its addresses.
    pub(crate) addresses: Vec<Address>,
    /// `conditions.ready`; `None` (unknown) counts as ready.
    pub(crate) ready: Option<bool>,
}

/// An EndpointSlice as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointSlice {
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// `metadata.name`.
    pub(crate) name: String,
    /// The `kubernetes.io/service-name` label; empty when the slice has none.
    pub(crate) service: String,
    /// `ports`, or the single sentinel port.
    pub(crate) ports: Vec<Port>,
    /// `endpoints`.
    pub(crate) endpoints: Vec<Endpoint>,
}

/// A Pod as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pod {
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// `metadata.name`.
    pub(crate) name: String,
    /// `status.podIPs` (or `status.podIP`).
    pub(crate) ips: Vec<IpAddr>,
    /// `spec.hostNetwork`: the IP is the node's, shared with every host process.
    pub(crate) host_network: bool,
    /// `metadata.deletionTimestamp` is set.
    pub(crate) terminating: bool,
    /// `status.phase` is `Succeeded` or `Failed`: its IP has been given back.
    pub(crate) finished: bool,
}

/// The namespace and name of any object.
pub(crate) fn key(kind: &'static str, object: &Value) -> Result<(String, String), ObjectError> {
    let name = object["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or(ObjectError::MissingName { kind })?;
    // Namespaces themselves are cluster-scoped; everything else defaults like kubectl does.
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    Ok((namespace.to_ascii_lowercase(), name.to_ascii_lowercase()))
}

/// Converts a Service.
pub(crate) fn service(object: &Value) -> Result<Service, ObjectError> {
    let (namespace, name) = key("service", object)?;
    let spec = &object["spec"];
    let kind = if spec["type"].as_str() == Some("ExternalName") {
        ServiceKind::ExternalName(spec["externalName"].as_str().unwrap_or("").to_string())
    } else {
        let listed: Vec<&str> = match spec["clusterIPs"].as_array() {
            Some(ips) if !ips.is_empty() => ips.iter().filter_map(Value::as_str).collect(),
            _ => vec![spec["clusterIP"].as_str().unwrap_or("")],
        };
        if listed.first() == Some(&"None") {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(listed.iter().filter_map(|ip| ip.parse().ok()).collect())
        }
    };
    Ok(Service {
        namespace,
        name,
        kind,
        ports: ports(&spec["ports"]),
        publish_not_ready: spec["publishNotReadyAddresses"].as_bool().unwrap_or(false),
    })
}

/// Converts an EndpointSlice. Addresses that are not IPs (`addressType: FQDN`) are skipped.
pub(crate) fn endpoint_slice(object: &Value) -> Result<EndpointSlice, ObjectError> {
    let (namespace, name) = key("endpoint slice", object)?;
    let service = object["metadata"]["labels"][SERVICE_NAME_LABEL]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    let endpoints = object["endpoints"]
        .as_array()
        .map(|endpoints| endpoints.iter().map(endpoint).collect())
        .unwrap_or_default();
    Ok(EndpointSlice {
        namespace,
        name,
        service,
        ports: ports(&object["ports"]),
        endpoints,
    })
}

fn endpoint(object: &Value) -> Endpoint {
    let hostname = object["hostname"].as_str().filter(|h| !h.is_empty());
    let addresses = object["addresses"]
        .as_array()
        .map(|addresses| {
            addresses
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|text| {
                    let ip = text.parse().ok()?;
                    let hostname = match hostname {
                        Some(h) => h.to_ascii_lowercase(),
                        None => dashed(text),
                    };
                    Some(Address { ip, hostname })
                })
                .collect()
        })
        .unwrap_or_default();
    Endpoint {
        addresses,
        ready: object["conditions"]["ready"].as_bool(),
    }
}

/// CoreDNS `endpointHostname` for an endpoint without `hostname`: `10-11-12-13`, and for IPv6
/// `:` becomes `-` with a `0` appended after a trailing `-` (`5678-abcd--1`, `fd00--0`). The
/// address is used as written in the object, without re-formatting.
pub(crate) fn dashed(ip: &str) -> String {
    let ip = ip.to_ascii_lowercase();
    if ip.contains('.') {
        return ip.replace('.', "-");
    }
    let mut dashed = ip.replace(':', "-");
    if dashed.ends_with('-') {
        dashed.push('0');
    }
    dashed
}

fn ports(list: &Value) -> Vec<Port> {
    let ports: Vec<Port> = list
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .map(|p| Port {
                    name: p["name"].as_str().unwrap_or("").to_string(),
                    protocol: p["protocol"].as_str().unwrap_or("").to_string(),
                    port: p["port"]
                        .as_i64()
                        .and_then(|port| i32::try_from(port).ok())
                        .unwrap_or(NO_PORT),
                })
                .collect()
        })
        .unwrap_or_default();
    if ports.is_empty() {
        return vec![Port {
            name: String::new(),
            protocol: String::new(),
            port: NO_PORT,
        }];
    }
    ports
}

/// Converts a Pod.
pub(crate) fn pod(object: &Value) -> Result<Pod, ObjectError> {
    let (namespace, name) = key("pod", object)?;
    let status = &object["status"];
    let mut ips: Vec<IpAddr> = status["podIPs"]
        .as_array()
        .map(|ips| {
            ips.iter()
                .filter_map(|ip| ip["ip"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if ips.is_empty() {
        ips.extend(
            status["podIP"]
                .as_str()
                .and_then(|ip| ip.parse::<IpAddr>().ok()),
        );
    }
    let phase = status["phase"].as_str().unwrap_or("");
    Ok(Pod {
        namespace,
        name,
        ips,
        host_network: object["spec"]["hostNetwork"].as_bool().unwrap_or(false),
        terminating: !object["metadata"]["deletionTimestamp"].is_null(),
        finished: phase == "Succeeded" || phase == "Failed",
    })
}

/// The name of a Namespace.
pub(crate) fn namespace(object: &Value) -> Result<String, ObjectError> {
    object["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_lowercase)
        .ok_or(ObjectError::MissingName { kind: "namespace" })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dashed_hostnames_match_coredns() {
        // kubernetes_test.go TestEndpointHostname.
        assert_eq!(dashed("10.11.12.13"), "10-11-12-13");
        assert_eq!(
            dashed("2001:db8:3333:4444:5555:6666::"),
            "2001-db8-3333-4444-5555-6666--0"
        );
        assert_eq!(dashed("5678:abcd::1"), "5678-abcd--1");
    }

    #[test]
    fn service_forms() {
        let headless = service(&json!({"metadata": {"name": "h", "namespace": "n"},
            "spec": {"clusterIP": "None", "clusterIPs": ["None"]}}))
        .unwrap();
        assert_eq!(headless.kind, ServiceKind::Headless);
        assert_eq!(headless.ports[0].port, NO_PORT);
        let single = service(&json!({"metadata": {"name": "s", "namespace": "n"},
            "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 80}]}}))
        .unwrap();
        assert_eq!(
            single.kind,
            ServiceKind::ClusterIp(vec!["10.0.0.1".parse().unwrap()])
        );
        assert_eq!(single.ports[0].name, "");
        assert!(matches!(
            service(&json!({"spec": {}})),
            Err(ObjectError::MissingName { .. })
        ));
        assert!(service(&json!(null)).is_err());
    }

    #[test]
    fn slice_skips_non_ip_addresses() {
        let slice = endpoint_slice(&json!({"metadata": {"name": "x", "namespace": "n",
            "labels": {SERVICE_NAME_LABEL: "svc"}},
            "endpoints": [{"addresses": ["example.com", "10.0.0.1"], "conditions": {}}]}))
        .unwrap();
        assert_eq!(slice.service, "svc");
        assert_eq!(slice.endpoints[0].addresses.len(), 1);
        assert_eq!(slice.endpoints[0].ready, None);
    }
}
