//! What a Service write does beyond the common pipeline: allocate its ClusterIP and node
//! ports, free them when they are no longer held, and give LoadBalancer Services their ingress
//! address at once (the node's IP), so EXTERNAL-IP is never `<pending>`.
//!
//! A write gets a [`Plan`] while the store's writer lock is held; the store commits; then the
//! plan is settled: on success the old values are released, on failure the new ones are.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::alloc::{AllocError, ClusterIps, NodePorts};
use crate::cluster::ClusterConfig;
use crate::resources::Resource;
use crate::status::ApiError;
use crate::validate::{ErrorType, FieldError};

/// The allocators of one cluster. Rebuilt from stored Services at start.
#[derive(Debug)]
pub struct Allocators {
    inner: Mutex<(ClusterIps, NodePorts)>,
    node_ip: Ipv4Addr,
}

/// Values a write took and values it frees once committed.
#[derive(Debug, Default)]
pub struct Plan {
    took_ips: Vec<Ipv4Addr>,
    took_ports: Vec<u16>,
    frees_ips: Vec<Ipv4Addr>,
    frees_ports: Vec<u16>,
}

fn cluster_ip(service: &Value) -> Option<Ipv4Addr> {
    service["spec"]["clusterIP"].as_str()?.parse().ok()
}

fn node_ports(service: &Value) -> Vec<u16> {
    service["spec"]["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p["nodePort"].as_u64())
                .filter_map(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .collect()
        })
        .unwrap_or_default()
}

fn service_type(service: &Value) -> &str {
    service["spec"]["type"].as_str().unwrap_or("ClusterIP")
}

impl Allocators {
    /// Empty allocators for the cluster's ranges.
    pub fn new(cluster: &ClusterConfig) -> Allocators {
        Allocators {
            inner: Mutex::new((
                ClusterIps::new(cluster.service_cidr),
                NodePorts::new(cluster.node_ports.0, cluster.node_ports.1),
            )),
            node_ip: cluster.node_ip,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (ClusterIps, NodePorts)> {
        // Every critical section is a set insert or remove: a poisoned lock is consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks what a stored Service holds as taken (at start). Returns what could not be
    /// taken (out of range after a flag change, or duplicated), for the caller to report.
    pub fn adopt(&self, service: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let mut guard = self.lock();
        let (ips, ports) = &mut *guard;
        if let Some(ip) = cluster_ip(service) {
            if let Err(e) = ips.take(ip) {
                problems.push(format!("clusterIP {ip}: {e}"));
            }
        }
        for port in node_ports(service) {
            if let Err(e) = ports.take(port) {
                problems.push(format!("nodePort {port}: {e}"));
            }
        }
        problems
    }

    /// Allocates what `new` needs (keeping what `old` already holds) and sets the
    /// LoadBalancer ingress; an empty plan for kinds other than Service. Call with the
    /// store's writer lock held.
    pub fn plan(
        &self,
        resource: &Resource,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<Plan, ApiError> {
        let mut plan = Plan::default();
        // Only Services hold addresses: every other write gets an empty plan.
        if resource.kind != "Service" {
            return Ok(plan);
        }
        match self.plan_into(resource, old, new, &mut plan) {
            Ok(()) => Ok(plan),
            Err(e) => {
                self.settle(plan, false);
                Err(e)
            }
        }
    }

    fn plan_into(
        &self,
        resource: &Resource,
        old: Option<&Value>,
        new: &mut Value,
        plan: &mut Plan,
    ) -> Result<(), ApiError> {
        let name = new["metadata"]["name"].as_str().unwrap_or("").to_string();
        let invalid = |field: String, value: Value, detail: String| {
            ApiError::invalid(
                resource,
                &name,
                vec![FieldError {
                    error_type: ErrorType::Invalid,
                    field,
                    bad_value: Some(value),
                    detail,
                }],
            )
        };
        let kind = service_type(new).to_string();
        let old_ip = old.and_then(cluster_ip);
        let mut rng = rand::rng();
        let mut guard = self.lock();
        let (ips, ports) = &mut *guard;

        let requested = new["spec"]["clusterIP"].as_str().unwrap_or("").to_string();
        let wants_ip = kind != "ExternalName" && requested != "None";
        let mut keeps_ip = None;
        if wants_ip {
            let ip = if requested.is_empty() {
                match old_ip {
                    Some(ip) => ip,
                    None => {
                        let ip = ips.take_any(&mut rng).map_err(|e| {
                            ApiError::Internal(format!("failed to allocate a serviceIP: {e}"))
                        })?;
                        plan.took_ips.push(ip);
                        ip
                    }
                }
            } else {
                let ip: Ipv4Addr = requested.parse().map_err(|_| {
                    invalid(
                        "spec.clusterIPs".into(),
                        json!([requested]),
                        "must be a valid IP address".into(),
                    )
                })?;
                if Some(ip) != old_ip {
                    ips.take(ip).map_err(|e| {
                        let why = match e {
                            AllocError::OutOfRange => format!(
                                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                                ips.cidr()
                            ),
                            other => other.to_string(),
                        };
                        invalid("spec.clusterIPs".into(), json!([requested]), format!("failed to allocate IP {ip}: {why}"))
                    })?;
                    plan.took_ips.push(ip);
                }
                ip
            };
            new["spec"]["clusterIP"] = json!(ip.to_string());
            new["spec"]["clusterIPs"] = json!([ip.to_string()]);
            keeps_ip = Some(ip);
        } else if kind == "ExternalName" {
            if let Some(spec) = new["spec"].as_object_mut() {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        }
        if let Some(ip) = old_ip.filter(|ip| Some(*ip) != keeps_ip) {
            plan.frees_ips.push(ip);
        }

        let old_ports = old.map(node_ports).unwrap_or_default();
        let mut keeps_ports = Vec::new();
        if kind == "NodePort" || kind == "LoadBalancer" {
            if let Some(list) = new["spec"]["ports"].as_array_mut() {
                for (i, port) in list.iter_mut().enumerate() {
                    let wanted = port["nodePort"].as_u64().unwrap_or(0);
                    let node_port = if wanted == 0 {
                        let p = ports.take_any(&mut rng).map_err(|e| {
                            ApiError::Internal(format!("failed to allocate a nodePort: {e}"))
                        })?;
                        plan.took_ports.push(p);
                        p
                    } else {
                        let p = u16::try_from(wanted).unwrap_or(0);
                        if !old_ports.contains(&p) || keeps_ports.contains(&p) {
                            ports.take(p).map_err(|e| {
                                let why = match e {
                                    AllocError::OutOfRange => format!(
                                        "provided port is not in the valid range. The range of valid ports is {}",
                                        ports.describe()
                                    ),
                                    other => other.to_string(),
                                };
                                invalid(format!("spec.ports[{i}].nodePort"), json!(wanted), why)
                            })?;
                            plan.took_ports.push(p);
                        }
                        p
                    };
                    port["nodePort"] = json!(node_port);
                    keeps_ports.push(node_port);
                }
            }
        }
        plan.frees_ports
            .extend(old_ports.into_iter().filter(|p| !keeps_ports.contains(p)));

        if kind == "LoadBalancer" {
            new["status"]["loadBalancer"] =
                json!({"ingress": [{"ip": self.node_ip.to_string(), "ipMode": "VIP"}]});
        } else if new.get("status").is_some() {
            new["status"]["loadBalancer"] = json!({});
        }
        Ok(())
    }

    /// After the write: `committed` frees what the write let go; otherwise what it took.
    pub fn settle(&self, plan: Plan, committed: bool) {
        let mut guard = self.lock();
        let (ips, ports) = &mut *guard;
        let (free_ips, free_ports) = if committed {
            (plan.frees_ips, plan.frees_ports)
        } else {
            (plan.took_ips, plan.took_ports)
        };
        for ip in free_ips {
            ips.release(ip);
        }
        for port in free_ports {
            ports.release(port);
        }
    }

    /// Frees everything a deleted object held (only Services hold anything).
    pub fn release(&self, resource: &Resource, service: &Value) {
        if resource.kind != "Service" {
            return;
        }
        let mut guard = self.lock();
        let (ips, ports) = &mut *guard;
        if let Some(ip) = cluster_ip(service) {
            ips.release(ip);
        }
        for port in node_ports(service) {
            ports.release(port);
        }
    }
}
