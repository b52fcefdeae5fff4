//! [`ClusterConfig`]: the cluster-wide settings the API server's allocators and bootstrap
//! objects need (the binary builds it from its validated command line).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Cluster-wide settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Service (ClusterIP) network.
    pub service_cidr: Ipv4Net,
    /// Inclusive NodePort range.
    pub node_ports: (u16, u16),
    /// Name of the one node (this host).
    pub node_name: String,
    /// The node's address: its InternalIP and the LoadBalancer ingress address.
    pub node_ip: Ipv4Addr,
    /// Cluster DNS domain.
    pub cluster_domain: String,
    /// The API server's port, the target of the `kubernetes` Service (0 until bound).
    pub api_port: u16,
    /// An address pods can reach on which the API server listens at `api_port`: the
    /// `kubernetes` Service's endpoint. `None` (the API listens on loopback only) leaves the
    /// Service without endpoints.
    pub api_ip: Option<Ipv4Addr>,
    /// Whether a pod runtime (the kubelet role) runs on the node and finishes graceful pod
    /// deletions. Without one, deleted pods go at once: nothing would ever finish them.
    pub pod_runtime: bool,
    /// How the store bounds its history and disk use (compaction interval and the like).
    pub store: crate::store::Options,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            service_cidr: Ipv4Net::new(Ipv4Addr::new(10, 96, 0, 0), 12).unwrap_or_default(),
            node_ports: (30000, 32767),
            node_name: "kubicle".to_string(),
            node_ip: Ipv4Addr::LOCALHOST,
            cluster_domain: "cluster.local".to_string(),
            api_port: 6443,
            api_ip: None,
            pod_runtime: false,
            store: crate::store::Options::default(),
        }
    }
}

impl ClusterConfig {
    /// The n-th address of the service CIDR (1: `kubernetes`, 10: `kube-dns`).
    pub fn service_ip(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_cidr.network()).wrapping_add(n))
    }
}
