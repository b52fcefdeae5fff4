//! The VIP table: a pure function from Services and EndpointSlices to the listeners proxyd
//! binds and the endpoints each one forwards to.
//!
//! It plays the part of nftables mode's `service-ips` and `service-nodeports` verdict maps
//! (networking doc §5.4 and §5.9): one [`Route`] per (protocol, address, port), each holding
//! its own endpoint set, so the data path never scans a global list. Endpoint selection
//! follows kube-proxy's `CategorizeEndpoints` (K8S `pkg/proxy/topology.go`): ready endpoints,
//! or the serving-terminating ones when none is ready; the networking doc does not cover that
//! fallback, the upstream code does.
//!
//! What gets a listener:
//! - every `spec.clusterIPs` address (or `spec.clusterIP`) on every port, unless headless;
//! - every `spec.externalIPs` address on every port;
//! - `spec.ports[].nodePort` on each of [`Config::node_addresses`] of the same family, for
//!   `NodePort` and `LoadBalancer` Services;
//! - for `LoadBalancer` Services, each `status.loadBalancer.ingress[].ip` whose `ipMode` is not
//!   `Proxy` (KEP-1860), and the loopback address of each family of the Service when
//!   [`Config::load_balancer_localhost`] is set (so `curl localhost:8080` reaches it).
//!
//! `ExternalName` and headless Services get none. Two Services claiming the same address and
//! port are a [`Conflict`]: the older Service (by `creationTimestamp`, then namespace and name)
//! keeps it, so creating a Service never steals a port from one that works.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::Config;

/// The label that links an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when unset (K8S `DefaultClientIPServiceAffinitySeconds`).
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10_800);

/// The largest affinity timeout the API accepts (`MaxClientIPServiceAffinitySeconds`).
const MAX_AFFINITY_SECONDS: u64 = 86_400;

/// A transport protocol proxyd forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP: one backend pick per connection.
    Tcp,
    /// UDP: one backend pick per client flow, forgotten after an idle timeout.
    Udp,
}

impl Protocol {
    /// The name the API uses: `TCP` or `UDP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Service's namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One port of one Service, as kube-proxy's `ServicePortName` names it. Session affinity is
/// kept per service port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortName {
    /// The Service.
    pub service: ServiceName,
    /// `spec.ports[].name`, empty for an unnamed port.
    pub port: String,
    /// `spec.ports[].protocol`.
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.service)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// Where a listener is bound: the key of the table and of the set of running listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerKey {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The local address and port.
    pub addr: SocketAddr,
}

impl fmt::Display for ListenerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.protocol, self.addr)
    }
}

/// Why a listener exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListenerKind {
    /// A `spec.clusterIPs` address.
    ClusterIp,
    /// A `spec.externalIPs` address.
    ExternalIp,
    /// A node address and `spec.ports[].nodePort`.
    NodePort,
    /// A `status.loadBalancer.ingress[].ip`.
    LoadBalancer,
    /// The node's loopback address on a LoadBalancer port (kubicle's own addition).
    LoadBalancerLocalhost,
}

impl ListenerKind {
    /// Whether `externalTrafficPolicy` (rather than `internalTrafficPolicy`) applies.
    fn is_external(self) -> bool {
        !matches!(self, ListenerKind::ClusterIp)
    }
}

/// The endpoints of one service port that new connections may go to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backends {
    /// Ready endpoints, or serving-terminating ones when none is ready; sorted, no duplicates.
    /// Empty means new connections are reset (UDP datagrams are dropped).
    pub endpoints: Vec<SocketAddr>,
    /// True when `endpoints` holds the serving-terminating fallback.
    pub terminating_fallback: bool,
}

/// What one listener forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The service port the listener belongs to.
    pub service_port: Arc<ServicePortName>,
    /// Why the listener exists.
    pub kind: ListenerKind,
    /// Where new connections go.
    pub backends: Arc<Backends>,
    /// `sessionAffinity: ClientIP` and its timeout; `None` for no affinity.
    pub affinity: Option<Duration>,
}

/// An address and port that two service ports claim; the older Service keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The contested listener.
    pub key: ListenerKey,
    /// How the losing service port wanted it.
    pub kind: ListenerKind,
    /// The service port that gets no listener there.
    pub service_port: Arc<ServicePortName>,
    /// The service port that has it.
    pub holder: Arc<ServicePortName>,
}

/// A part of a Service that proxyd cannot serve, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The Service.
    pub service: ServiceName,
    /// The port name when one port is concerned (empty for an unnamed port).
    pub port: Option<String>,
    /// Lower-case reason, e.g. "protocol SCTP is not supported by the userspace proxy".
    pub reason: String,
}

/// Every listener proxyd should have, and what could not be served.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VipTable {
    /// One route per listener.
    pub routes: BTreeMap<ListenerKey, Route>,
    /// Addresses claimed twice; each loser is also reported by `Proxy::apply`.
    pub conflicts: Vec<Conflict>,
    /// Ports and addresses that were left out.
    pub skipped: Vec<Skipped>,
}

/// Builds the table from every Service and EndpointSlice (the JSON the API serves).
///
/// Malformed objects never panic: a Service without a name is ignored, a bad address or port
/// is listed in [`VipTable::skipped`], a malformed endpoint is left out.
pub fn build<'a>(
    services: impl IntoIterator<Item = &'a Value>,
    slices: impl IntoIterator<Item = &'a Value>,
    config: &Config,
) -> VipTable {
    let mut slices_by_service: HashMap<(&str, &str), Vec<&Value>> = HashMap::new();
    for slice in slices {
        let metadata = &slice["metadata"];
        let (Some(namespace), Some(service)) = (
            metadata["namespace"].as_str(),
            metadata["labels"][SERVICE_NAME_LABEL].as_str(),
        ) else {
            continue;
        };
        slices_by_service
            .entry((namespace, service))
            .or_default()
            .push(slice);
    }
    // Oldest first, so that the older of two Services claiming a port keeps it.
    let mut services: Vec<(&str, ServiceName, &Value)> = services
        .into_iter()
        .filter_map(|service| {
            let metadata = &service["metadata"];
            let name = ServiceName {
                namespace: metadata["namespace"].as_str()?.to_string(),
                name: metadata["name"].as_str()?.to_string(),
            };
            let created = metadata["creationTimestamp"].as_str().unwrap_or("");
            Some((created, name, service))
        })
        .collect();
    services.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));

    let mut table = VipTable::default();
    for (_, name, service) in &services {
        let mut slices = slices_by_service
            .remove(&(name.namespace.as_str(), name.name.as_str()))
            .unwrap_or_default();
        // Slice order decides which copy of a duplicated endpoint counts; make it stable.
        slices.sort_by_key(|slice| slice["metadata"]["name"].as_str().unwrap_or(""));
        add_service(&mut table, name, service, &slices, config);
    }
    table
}

/// What [`build`] needs of one Service, read once.
struct ServiceSpec<'a> {
    name: &'a ServiceName,
    cluster_ips: Vec<IpAddr>,
    external_ips: Vec<IpAddr>,
    node_ports: bool,
    load_balancer_ips: Vec<IpAddr>,
    load_balancer: bool,
    affinity: Option<Duration>,
    internal_local: bool,
    external_local: bool,
}

fn add_service(
    table: &mut VipTable,
    name: &ServiceName,
    service: &Value,
    slices: &[&Value],
    config: &Config,
) {
    let spec = &service["spec"];
    let service_type = spec["type"].as_str().unwrap_or("ClusterIP");
    if service_type == "ExternalName" {
        return;
    }
    let mut skip = |port: Option<&str>, reason: String| {
        table.skipped.push(Skipped {
            service: name.clone(),
            port: port.map(str::to_string),
            reason,
        });
    };
    let cluster_ip_values: Vec<&str> = match spec["clusterIPs"].as_array() {
        Some(ips) => ips.iter().filter_map(Value::as_str).collect(),
        None => spec["clusterIP"].as_str().into_iter().collect(),
    };
    if cluster_ip_values.contains(&"None") {
        return; // Headless: clients resolve the endpoints themselves.
    }
    let cluster_ips = parse_ips(&cluster_ip_values, "cluster ip", &mut skip);
    let external_ip_values: Vec<&str> = spec["externalIPs"]
        .as_array()
        .map(|ips| ips.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let external_ips = parse_ips(&external_ip_values, "external ip", &mut skip);
    let load_balancer = service_type == "LoadBalancer";
    let mut load_balancer_ips = Vec::new();
    if load_balancer {
        let ingress = service["status"]["loadBalancer"]["ingress"].as_array();
        for entry in ingress.into_iter().flatten() {
            if entry["ipMode"].as_str() == Some("Proxy") {
                continue; // KEP-1860: the external proxy must see this traffic.
            }
            if let Some(ip) = entry["ip"].as_str() {
                load_balancer_ips.extend(parse_ips(&[ip], "load balancer ingress ip", &mut skip));
            }
        }
    }
    let affinity = (spec["sessionAffinity"].as_str() == Some("ClientIP")).then(|| {
        match spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"].as_u64() {
            Some(seconds) if (1..=MAX_AFFINITY_SECONDS).contains(&seconds) => {
                Duration::from_secs(seconds)
            }
            _ => DEFAULT_AFFINITY_TIMEOUT,
        }
    });
    let service_spec = ServiceSpec {
        name,
        cluster_ips,
        external_ips,
        node_ports: service_type == "NodePort" || load_balancer,
        load_balancer_ips,
        load_balancer,
        affinity,
        internal_local: spec["internalTrafficPolicy"].as_str() == Some("Local"),
        external_local: spec["externalTrafficPolicy"].as_str() == Some("Local"),
    };
    for port in spec["ports"].as_array().into_iter().flatten() {
        add_service_port(table, &service_spec, port, slices, config);
    }
}

fn parse_ips(
    values: &[&str],
    what: &str,
    skip: &mut impl FnMut(Option<&str>, String),
) -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for value in values.iter().filter(|v| !v.is_empty()) {
        match value.parse::<IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) => skip(None, format!("invalid {what} {value:?}")),
        }
    }
    ips
}

fn parse_port(value: &Value) -> Option<u16> {
    value
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
}

fn add_service_port(
    table: &mut VipTable,
    service: &ServiceSpec<'_>,
    port: &Value,
    slices: &[&Value],
    config: &Config,
) {
    let port_name = port["name"].as_str().unwrap_or("");
    let skip = |table: &mut VipTable, reason: String| {
        table.skipped.push(Skipped {
            service: service.name.clone(),
            port: Some(port_name.to_string()),
            reason,
        });
    };
    let protocol = match port["protocol"].as_str().unwrap_or("TCP") {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        other => {
            skip(
                table,
                format!("protocol {other} is not supported by the userspace proxy"),
            );
            return;
        }
    };
    let Some(service_port) = parse_port(&port["port"]) else {
        skip(table, format!("invalid port {}", port["port"]));
        return;
    };
    let node_port = if service.node_ports {
        parse_port(&port["nodePort"])
    } else {
        None
    };
    let name = Arc::new(ServicePortName {
        service: service.name.clone(),
        port: port_name.to_string(),
        protocol,
    });
    let endpoints = collect_endpoints(slices, port_name, protocol);
    // At most four endpoint sets per service port: (family, Local policy or not).
    let mut backends_cache: HashMap<(bool, bool), Arc<Backends>> = HashMap::new();
    let mut claim = |table: &mut VipTable, ip: IpAddr, port: u16, kind: ListenerKind| {
        let local = if kind.is_external() {
            service.external_local
        } else {
            service.internal_local
        };
        let backends = backends_cache
            .entry((ip.is_ipv4(), local))
            .or_insert_with(|| {
                let node_name = local.then_some(config.node_name.as_deref()).flatten();
                Arc::new(usable_backends(&endpoints, ip.is_ipv4(), local, node_name))
            })
            .clone();
        let key = ListenerKey {
            protocol,
            addr: SocketAddr::new(ip, port),
        };
        let route = Route {
            service_port: name.clone(),
            kind,
            backends,
            affinity: service.affinity,
        };
        insert_route(table, key, route);
    };
    for ip in &service.cluster_ips {
        claim(table, *ip, service_port, ListenerKind::ClusterIp);
    }
    for ip in &service.external_ips {
        claim(table, *ip, service_port, ListenerKind::ExternalIp);
    }
    let service_has_family = |v4: bool| service.cluster_ips.iter().any(|ip| ip.is_ipv4() == v4);
    if let Some(node_port) = node_port {
        for ip in &config.node_addresses {
            if service_has_family(ip.is_ipv4()) {
                claim(table, *ip, node_port, ListenerKind::NodePort);
            }
        }
    }
    if service.load_balancer {
        for ip in &service.load_balancer_ips {
            claim(table, *ip, service_port, ListenerKind::LoadBalancer);
        }
        if config.load_balancer_localhost {
            let loopbacks = [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
            for ip in loopbacks {
                if service_has_family(ip.is_ipv4()) {
                    claim(table, ip, service_port, ListenerKind::LoadBalancerLocalhost);
                }
            }
        }
    }
}

fn insert_route(table: &mut VipTable, key: ListenerKey, route: Route) {
    match table.routes.get(&key) {
        None => {
            table.routes.insert(key, route);
        }
        // The same service port twice (an ingress IP that is also the loopback address, say):
        // the first claim, the more specific kind, stands.
        Some(existing) if existing.service_port == route.service_port => {}
        Some(existing) => {
            let holder = existing.service_port.clone();
            table.conflicts.push(Conflict {
                key,
                kind: route.kind,
                service_port: route.service_port,
                holder,
            });
        }
    }
}

/// One endpoint of one service port, as the slices describe it.
#[derive(Debug)]
struct EndpointInfo<'a> {
    addr: SocketAddr,
    ready: bool,
    serving: bool,
    terminating: bool,
    node_name: Option<&'a str>,
}

/// The endpoints of the service port named `port_name`: a slice port matches on name and
/// protocol, and each slice may give a different port number.
fn collect_endpoints<'a>(
    slices: &[&'a Value],
    port_name: &str,
    protocol: Protocol,
) -> Vec<EndpointInfo<'a>> {
    let mut endpoints: Vec<EndpointInfo<'a>> = Vec::new();
    for slice in slices {
        let v4 = match slice["addressType"].as_str() {
            Some("IPv4") => true,
            Some("IPv6") => false,
            _ => continue, // FQDN slices are not proxied (nor by kube-proxy).
        };
        let Some(port) = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["name"].as_str().unwrap_or("") == port_name
                    && p["protocol"].as_str().unwrap_or("TCP") == protocol.as_str()
            })
            .and_then(|p| parse_port(&p["port"]))
        else {
            continue;
        };
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            // kube-proxy uses the first address only (`endpointslicecache.go`).
            let Some(ip) = endpoint["addresses"][0]
                .as_str()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .filter(|ip| ip.is_ipv4() == v4)
            else {
                continue;
            };
            let addr = SocketAddr::new(ip, port);
            if endpoints.iter().any(|e| e.addr == addr) {
                continue;
            }
            let conditions = &endpoint["conditions"];
            endpoints.push(EndpointInfo {
                addr,
                // nil means ready and serving, and not terminating (EndpointConditions docs).
                ready: conditions["ready"].as_bool().unwrap_or(true),
                serving: conditions["serving"].as_bool().unwrap_or(true),
                terminating: conditions["terminating"].as_bool().unwrap_or(false),
                node_name: endpoint["nodeName"].as_str(),
            });
        }
    }
    endpoints
}

/// kube-proxy's `CategorizeEndpoints` for one family: ready endpoints, else serving and
/// terminating ones; with a Local policy only those on this node (an endpoint without
/// `nodeName`, or any endpoint when the node name is unknown, counts as local).
fn usable_backends(
    endpoints: &[EndpointInfo<'_>],
    v4: bool,
    local: bool,
    node_name: Option<&str>,
) -> Backends {
    let candidates = endpoints
        .iter()
        .filter(|e| e.addr.is_ipv4() == v4)
        .filter(|e| {
            !local || node_name.is_none() || e.node_name.is_none() || e.node_name == node_name
        });
    let pick = |keep: &dyn Fn(&EndpointInfo<'_>) -> bool| -> Vec<SocketAddr> {
        let mut addrs: Vec<SocketAddr> = candidates
            .clone()
            .filter(|e| keep(e))
            .map(|e| e.addr)
            .collect();
        addrs.sort();
        addrs
    };
    let ready = pick(&|e| e.ready);
    if !ready.is_empty() {
        return Backends {
            endpoints: ready,
            terminating_fallback: false,
        };
    }
    let fallback = pick(&|e| e.serving && e.terminating);
    let terminating_fallback = !fallback.is_empty();
    Backends {
        endpoints: fallback,
        terminating_fallback,
    }
}

#[cfg(test)]
mod tests;
