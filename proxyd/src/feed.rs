//! [`run`]: proxyd fed from the API. Informers of Services and EndpointSlices; after each
//! burst of changes the whole [`VipTable`] is rebuilt ([`table::build`]), the ClusterIPs it
//! serves are kept as local addresses on the node (netd), and [`Proxy::apply`] reconciles the
//! listeners. A listener that cannot bind becomes a Warning event and a `False` condition on
//! its Service, and is retried every few seconds until it binds.
//!
//! With [`Feed::kernel`], the ClusterIP ports the kernel can serve exactly as the proxy would
//! (TCP or UDP, IPv4, no session affinity, at least one endpoint) also go to netd's nftables
//! DNAT ([`kernel_nat`]), which then takes their new connections before they reach the
//! listener: a kernel data path, as kube-proxy's nftables mode. The listeners stay, and serve
//! everything else (affinity, no endpoints: a reset; NodePorts, LoadBalancers, 127.0.0.1).
//! What the kernel cannot do is try another endpoint when the chosen one refuses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use apiserver::informer::Informer;
use apiserver::{Api, WriteOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::table::{self, ListenerKind};
use crate::{Config, Proxy};

/// The Service condition that says whether proxyd serves all of a Service's addresses.
pub const CONDITION: &str = "kubicle.dev/ProxyListening";
/// How often listeners that failed to bind are tried again.
const RETRY: Duration = Duration::from_secs(5);
/// The component name on proxyd's events and writes.
const COMPONENT: &str = "kube-proxy";

/// What the glue gives proxyd besides its [`Config`].
#[derive(Clone)]
pub struct Feed {
    /// Where the ClusterIPs are added as local addresses (`None`: the caller's addresses are
    /// already local, as 127.0.0.0/8 is).
    pub netd: Option<Arc<netd::Netd>>,
    /// Services proxyd leaves alone, as `namespace/name` (kube-dns, which dnsd serves
    /// itself on its ClusterIP).
    pub skip: Vec<String>,
    /// Whether ClusterIP traffic the kernel can serve goes through netd's nftables DNAT
    /// (needs `netd`).
    pub kernel: bool,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("netd", &self.netd.is_some())
            .field("skip", &self.skip)
            .field("kernel", &self.kernel)
            .finish()
    }
}

/// Runs proxyd until `shutdown`, then waits for its connections to drain.
pub async fn run(api: Api, config: Config, feed: Feed, shutdown: CancellationToken) {
    let (Some(services_r), Some(slices_r)) = (
        apiserver::resources::lookup("", "v1", "services"),
        apiserver::resources::lookup("discovery.k8s.io", "v1", "endpointslices"),
    ) else {
        return;
    };
    let (mut services, mut slices) = match (
        Informer::start(&api, services_r).await,
        Informer::start(&api, slices_r).await,
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "start informers: services are not proxied");
            return;
        }
    };
    let proxy = match Proxy::new(config.clone(), shutdown.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "start the proxy: services are not proxied");
            return;
        }
    };
    let mut state = State::default();
    loop {
        let failing = state
            .sync(&api, &config, &feed, &proxy, &services, &slices)
            .await;
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = services.next() => {}
            _ = slices.next() => {}
            () = tokio::time::sleep(RETRY), if failing => {}
        }
        // A burst of changes (a `kubectl apply` of many objects) is one rebuild.
        while let Ok(_event) = tokio::time::timeout(Duration::ZERO, async {
            tokio::select! {
                e = services.next() => e,
                e = slices.next() => e,
            }
        })
        .await
        {}
    }
    proxy.closed().await;
    state.release_addresses(&feed).await;
}

/// What proxyd has done to the node and reported to the API so far.
#[derive(Debug, Default)]
struct State {
    /// ClusterIPs added as local addresses.
    addresses: BTreeSet<Ipv4Addr>,
    /// The bind failure message last reported per Service (`namespace/name`).
    reported: HashMap<String, String>,
    /// The Service ports last given to the kernel.
    nat: Vec<netd::ServiceNat>,
}

impl State {
    /// Rebuilds the table and applies it; returns whether some listener failed to bind.
    async fn sync(
        &mut self,
        api: &Api,
        config: &Config,
        feed: &Feed,
        proxy: &Proxy,
        services: &Informer,
        slices: &Informer,
    ) -> bool {
        let served: Vec<&Value> = services
            .all()
            .map(|s| &**s)
            .filter(|s| !feed.skip.contains(&key(s)))
            .collect();
        let table = table::build(served.iter().copied(), slices.all().map(|s| &**s), config);
        let wanted: BTreeSet<Ipv4Addr> = table
            .routes
            .iter()
            .filter(|(_, route)| route.kind == ListenerKind::ClusterIp)
            .filter_map(|(key, _)| match key.addr.ip() {
                IpAddr::V4(ip) => Some(ip),
                IpAddr::V6(_) => None,
            })
            .collect();
        self.set_addresses(feed, wanted).await;
        if let (true, Some(netd)) = (feed.kernel, &feed.netd) {
            let nat = kernel_nat(&table);
            if nat != self.nat {
                match set_service_nat(netd, nat.clone()).await {
                    Ok(()) => self.nat = nat,
                    Err(e) => tracing::warn!(error = %e, "kernel data path: left to the listeners"),
                }
            }
        }
        let report = proxy.apply(Arc::new(table)).await;
        let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for failure in &report.failed {
            failures
                .entry(failure.service_port.service.to_string())
                .or_default()
                .push(format!("{}: {:#}", failure.key, Chain(&failure.error)));
        }
        for service in &served {
            let name = key(service);
            let message = failures.get(&name).map(|m| m.join("; "));
            let before = self.reported.get(&name);
            if message.as_ref() == before || (message.is_none() && before.is_none()) {
                continue;
            }
            report_condition(api, service, message.as_deref()).await;
            match message {
                Some(m) => self.reported.insert(name, m),
                None => self.reported.remove(&name),
            };
        }
        self.reported
            .retain(|name, _| served.iter().any(|s| key(s) == *name));
        !report.failed.is_empty()
    }

    /// Makes the node's local VIP addresses exactly `wanted`.
    async fn set_addresses(&mut self, feed: &Feed, wanted: BTreeSet<Ipv4Addr>) {
        let Some(netd) = &feed.netd else { return };
        for ip in wanted.difference(&self.addresses) {
            if let Err(e) = netd.add_local_address(*ip).await {
                tracing::warn!(%ip, error = %e, "add a ClusterIP to the node");
            }
        }
        for ip in self.addresses.difference(&wanted) {
            if let Err(e) = netd.remove_local_address(*ip).await {
                tracing::warn!(%ip, error = %e, "remove a ClusterIP from the node");
            }
        }
        self.addresses = wanted;
    }

    async fn release_addresses(&mut self, feed: &Feed) {
        self.set_addresses(feed, BTreeSet::new()).await;
        if let (false, Some(netd)) = (self.nat.is_empty(), &feed.netd) {
            if let Err(e) = set_service_nat(netd, Vec::new()).await {
                tracing::warn!(error = %e, "remove the kernel data path");
            }
        }
    }
}

/// Hands `nat` to the kernel off the runtime's workers: the kernel's commit of a table of
/// thousands of Services takes seconds, and netd's socket works from any thread. The error
/// comes with its causes.
async fn set_service_nat(netd: &Arc<netd::Netd>, nat: Vec<netd::ServiceNat>) -> Result<(), String> {
    let netd = Arc::clone(netd);
    match tokio::task::spawn_blocking(move || netd.set_service_nat(&nat)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Chain(&e).to_string()),
        Err(join) => Err(join.to_string()),
    }
}

/// The ClusterIP ports of `table` that the kernel can serve as the proxy would: TCP or UDP
/// on IPv4 with IPv4 endpoints, no session affinity, at least one endpoint. Sorted.
pub fn kernel_nat(table: &table::VipTable) -> Vec<netd::ServiceNat> {
    let mut nat: Vec<netd::ServiceNat> = table
        .routes
        .iter()
        .filter(|(_, route)| route.kind == ListenerKind::ClusterIp && route.affinity.is_none())
        .filter_map(|(key, route)| {
            let IpAddr::V4(vip) = key.addr.ip() else {
                return None;
            };
            let endpoints: Vec<std::net::SocketAddrV4> = route
                .backends
                .endpoints
                .iter()
                .filter_map(|e| match e {
                    std::net::SocketAddr::V4(v4) => Some(*v4),
                    std::net::SocketAddr::V6(_) => None,
                })
                .collect();
            let protocol = match key.protocol {
                table::Protocol::Tcp => 6,
                table::Protocol::Udp => 17,
            };
            (!endpoints.is_empty()).then_some(netd::ServiceNat {
                vip,
                protocol,
                port: key.addr.port(),
                endpoints,
            })
        })
        .collect();
    nat.sort_by_key(|s| (s.vip, s.protocol, s.port));
    nat
}

fn key(service: &Value) -> String {
    format!(
        "{}/{}",
        service["metadata"]["namespace"].as_str().unwrap_or(""),
        service["metadata"]["name"].as_str().unwrap_or("")
    )
}

/// An error with its sources, `a: b: c`.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// Records a Warning event for a failure (`Some`) and sets the Service's condition.
async fn report_condition(api: &Api, service: &Value, failure: Option<&str>) {
    let name = service["metadata"]["name"].as_str().unwrap_or("");
    let namespace = service["metadata"]["namespace"].as_str();
    if let Some(message) = failure {
        tracing::warn!(service = %key(service), %message, "cannot listen");
        apiserver::events::record(
            api,
            service,
            "Warning",
            "FailedToListen",
            message,
            COMPONENT,
        )
        .await;
    }
    let Some(services) = apiserver::resources::lookup("", "v1", "services") else {
        return;
    };
    // Write onto the newest copy, so a concurrent spec change is not undone.
    let Ok(current) = api.get(services, namespace, name) else {
        return;
    };
    let mut updated = Value::clone(&current);
    let condition = match failure {
        Some(message) => json!({
            "type": CONDITION, "status": "False", "reason": "PortNotAvailable",
            "message": message,
        }),
        None => json!({
            "type": CONDITION, "status": "True", "reason": "Listening", "message": "",
        }),
    };
    let mut conditions: Vec<Value> = updated["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    conditions.retain(|c| c["type"] != CONDITION);
    let mut condition = condition;
    condition["lastTransitionTime"] = json!(
        jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    if let Some(generation) = current["metadata"]["generation"].as_i64() {
        condition["observedGeneration"] = json!(generation);
    }
    conditions.push(condition);
    updated["status"]["conditions"] = json!(conditions);
    if let Err(e) = api
        .replace_status(
            services,
            namespace,
            name,
            updated,
            &WriteOptions::by(COMPONENT),
        )
        .await
    {
        tracing::debug!(service = %key(service), error = %e, "write the listening condition");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::SERVICE_NAME_LABEL;

    fn service(name: &str, ip: &str, spec: Value) -> Value {
        let mut spec = spec;
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        json!({"metadata": {"namespace": "default", "name": name,
                            "creationTimestamp": "2025-01-01T00:00:00Z"},
               "spec": spec})
    }

    fn slice(service: &str, protocol: &str, ips: &[&str]) -> Value {
        let endpoints: Vec<Value> = ips
            .iter()
            .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
            .collect();
        json!({"metadata": {"namespace": "default", "name": service,
                            "labels": {SERVICE_NAME_LABEL: service}},
               "addressType": "IPv4",
               "ports": [{"port": 8080, "protocol": protocol}],
               "endpoints": endpoints})
    }

    #[test]
    fn the_kernel_gets_the_cluster_ip_ports_it_can_serve_exactly() {
        let port = |protocol: &str| json!([{"port": 80, "targetPort": 8080, "protocol": protocol}]);
        let services = [
            service(
                "web",
                "10.96.0.2",
                json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]}),
            ),
            service("dns", "10.96.0.3", json!({"ports": port("UDP")})),
            service(
                "sticky",
                "10.96.0.4",
                json!({"ports": port("TCP"), "sessionAffinity": "ClientIP"}),
            ),
            service("empty", "10.96.0.5", json!({"ports": port("TCP")})),
        ];
        let slices = [
            slice("web", "TCP", &["10.244.0.3", "10.244.0.2"]),
            slice("dns", "UDP", &["10.244.0.4"]),
            slice("sticky", "TCP", &["10.244.0.5"]),
        ];
        let config = Config {
            node_addresses: vec!["192.168.1.10".parse().expect("ip")],
            ..Config::default()
        };
        let table = table::build(&services, &slices, &config);
        let nat = kernel_nat(&table);
        // Not the NodePort listener, not the affinity Service, not the one without endpoints.
        let ep = |ip: &str| std::net::SocketAddrV4::new(ip.parse().expect("ip"), 8080);
        assert_eq!(
            nat,
            [
                netd::ServiceNat {
                    vip: "10.96.0.2".parse().expect("ip"),
                    protocol: 6,
                    port: 80,
                    endpoints: vec![ep("10.244.0.2"), ep("10.244.0.3")],
                },
                netd::ServiceNat {
                    vip: "10.96.0.3".parse().expect("ip"),
                    protocol: 17,
                    port: 80,
                    endpoints: vec![ep("10.244.0.4")],
                },
            ]
        );
    }
}
