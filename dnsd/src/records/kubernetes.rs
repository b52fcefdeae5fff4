//! The Kubernetes side of a lookup: `kubernetes.go` `Records`, `findServices` and `findPods`,
//! with `parse.go` `parseRequest` inlined, and `Services` (the `ns.dns.<zone>` addresses).

use std::net::IpAddr;

use super::{NameError, QType, Zone, strip_zone};
use crate::index::Namespace;
use crate::objects::{Port, Service, ServiceKind};

/// `msg.Service`: one (host, port) a name stands for, and the name SRV targets use.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) host: Host,
    pub(super) port: i32,
    /// The target's labels left of the zone: `svc.ns.svc`, `host.svc.ns.svc`, `ip.ns.pod`.
    pub(super) target: String,
}

#[derive(Debug, Clone)]
pub(super) enum Host {
    Ip(IpAddr),
    /// An ExternalName (CoreDNS's `HostType() == CNAME`), as written.
    Name(String),
}

/// A parsed `parseRequest`: the labels left of `svc`/`pod` and the namespace.
struct Request<'q> {
    pod: bool,
    namespace: &'q str,
    service: &'q str,
    endpoint: &'q str,
    port: &'q str,
    protocol: &'q str,
}

impl Zone<'_> {
    /// `Records`: the entries a name in the zone stands for.
    pub(super) fn records(&self, lower: &str) -> Result<Vec<Entry>, NameError> {
        let base = strip_zone(lower, &self.index.zone);
        if base.is_empty() || base == "svc" || base == "pod" {
            return Ok(Vec::new());
        }
        let mut labels = base.rsplit('.');
        let pod = match labels.next() {
            Some("svc") => false,
            Some("pod") => true,
            _ => return Err(NameError),
        };
        let namespace = labels.next().unwrap_or("");
        let service = labels.next().unwrap_or("");
        let left: Vec<&str> = labels.collect();
        let (endpoint, port, protocol) = match left.as_slice() {
            [] => ("", "", ""),
            [endpoint] => (*endpoint, "", ""),
            // `_port._proto`, the leading underscores stripped.
            [protocol, port] => ("", strip_underscore(port), strip_underscore(protocol)),
            // Too long (CoreDNS's `zonal` names are not enabled).
            _ => return Err(NameError),
        };
        let request = Request {
            pod,
            namespace,
            service,
            endpoint,
            port,
            protocol,
        };
        let Some(ns) = self.state.namespaces.get(namespace).filter(|n| n.exists()) else {
            return Err(NameError);
        };
        if request.pod {
            self.find_pods(&request)
        } else {
            Self::find_services(ns, &request)
        }
    }

    /// `findServices`.
    fn find_services(ns: &Namespace, r: &Request<'_>) -> Result<Vec<Entry>, NameError> {
        if r.service.is_empty() {
            // `<ns>.svc.<zone>` of an existing namespace.
            return Ok(Vec::new());
        }
        let service = ns.services.get(r.service).ok_or(NameError)?;
        let service_labels = format!("{}.{}.svc", service.name, service.namespace);
        match &service.kind {
            ServiceKind::ExternalName(target) => {
                if !r.endpoint.is_empty() || !r.port.is_empty() || !r.protocol.is_empty() {
                    return Err(NameError);
                }
                // Only a host name is served (`HostType() == CNAME`); an IP yields nothing.
                let target = target.trim_end_matches('.');
                if target.is_empty() || target.parse::<IpAddr>().is_ok() {
                    return Err(NameError);
                }
                Ok(vec![Entry {
                    host: Host::Name(target.to_string()),
                    port: 0,
                    target: service_labels,
                }])
            }
            ServiceKind::Headless => Self::endpoints(ns, service, r, &service_labels),
            ServiceKind::ClusterIp(_) if !r.endpoint.is_empty() => {
                Self::endpoints(ns, service, r, &service_labels)
            }
            ServiceKind::ClusterIp(ips) => {
                let mut entries = Vec::new();
                let mut matched = false;
                for port in service.ports.iter().filter(|p| port_matches(r, p)) {
                    matched = true;
                    entries.extend(ips.iter().map(|ip| Entry {
                        host: Host::Ip(*ip),
                        port: port.port,
                        target: service_labels.clone(),
                    }));
                }
                if matched { Ok(entries) } else { Err(NameError) }
            }
        }
    }

    /// The ready endpoints of `service` × their matching ports (headless services, and
    /// endpoint names of any service).
    fn endpoints(
        ns: &Namespace,
        service: &Service,
        r: &Request<'_>,
        service_labels: &str,
    ) -> Result<Vec<Entry>, NameError> {
        let mut entries = Vec::new();
        let slices = ns
            .slices_by_service
            .get(&service.name)
            .into_iter()
            .flatten()
            .filter_map(|name| ns.slices.get(name));
        for slice in slices {
            for endpoint in &slice.endpoints {
                // `endpointsliceReady`: nil counts as ready; publishNotReadyAddresses makes
                // every endpoint ready (DNS-SPEC §1.1, the controller does the same).
                if endpoint.ready == Some(false) && !service.publish_not_ready {
                    continue;
                }
                for address in &endpoint.addresses {
                    if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&address.hostname)
                    {
                        continue;
                    }
                    for port in slice.ports.iter().filter(|p| port_matches(r, p)) {
                        entries.push(Entry {
                            host: Host::Ip(address.ip),
                            port: port.port,
                            target: format!("{}.{service_labels}", address.hostname),
                        });
                    }
                }
            }
        }
        if entries.is_empty() {
            Err(NameError)
        } else {
            Ok(entries)
        }
    }

    /// `findPods` in `verified` mode: the label decodes to an IP that a pod in that
    /// namespace has.
    fn find_pods(&self, r: &Request<'_>) -> Result<Vec<Entry>, NameError> {
        let label = r.service;
        if label.is_empty() {
            return Ok(Vec::new());
        }
        let text = if label.matches('-').count() == 3 && !label.contains("--") {
            label.replace('-', ".")
        } else {
            label.replace('-', ":")
        };
        let ip: IpAddr = text.parse().map_err(|_| NameError)?;
        let entries: Vec<Entry> = self
            .state
            .pod_ips
            .get(&ip)
            .into_iter()
            .flatten()
            .filter(|(namespace, _)| namespace == r.namespace)
            .map(|_| Entry {
                host: Host::Ip(ip),
                port: 0,
                target: format!("{label}.{}.pod", r.namespace),
            })
            .collect();
        if entries.is_empty() {
            Err(NameError)
        } else {
            Ok(entries)
        }
    }

    /// `Services` for the types that reach it: the `ns.dns.<zone>` addresses, else
    /// `Records` (ExternalNames dropped for SRV).
    pub(super) fn services(&self, lower: &str, qtype: QType) -> Result<Vec<Entry>, NameError> {
        if strip_zone(lower, &self.index.zone) == "ns.dns" {
            let wanted = |ip: &&IpAddr| match qtype {
                QType::A => ip.is_ipv4(),
                QType::Aaaa => ip.is_ipv6(),
                _ => false,
            };
            return Ok(self
                .index
                .dns_service_ips
                .iter()
                .filter(wanted)
                .map(|ip| Entry {
                    host: Host::Ip(*ip),
                    port: 0,
                    target: "ns.dns".to_string(),
                })
                .collect());
        }
        let mut entries = self.records(lower)?;
        if qtype == QType::Srv {
            entries.retain(|e| matches!(e.host, Host::Ip(_)));
        }
        Ok(entries)
    }
}

fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// `matchPortAndProtocol`: an empty request label matches anything.
fn port_matches(r: &Request<'_>, port: &Port) -> bool {
    (r.port.is_empty() || r.port.eq_ignore_ascii_case(&port.name))
        && (r.protocol.is_empty() || r.protocol.eq_ignore_ascii_case(&port.protocol))
}
