//! netd: a node's networking for kubicle, through netlink only (rtnetlink and nix; nothing
//! shells out to `ip`).
//!
//! It is mechanism only: it knows network namespaces, links, addresses and routes, and nothing
//! about Kubernetes objects; podd and proxyd turn objects into calls here. It keeps no state of
//! its own: what exists in the kernel (the bridge, the veths, the netns bind mounts under
//! `<run_dir>/netns`) is adopted on restart, and [`Ipam`] is rebuilt from the addresses the
//! pods hold.
//!
//! The shape of a node: a bridge (`kubicle0`) holds the gateway, the first address of the pod
//! CIDR; each pod has its own netns, bind-mounted at `<run_dir>/netns/<id>`, joined to the
//! bridge by a veth pair (`kv<hash>` on the host, `eth0` in the pod) with a default route via
//! the gateway. Service VIPs are /32 addresses on the bridge so that local listeners can bind
//! them. Traffic from pods to anywhere outside the pod CIDR leaves masqueraded as the node
//! (nf_tables table `ip kubicle`), so answers find their way back.
//!
//! Layout, in reading order:
//! - `config`: [`Config`], checked and resolved once at start.
//! - `ipam`: [`Ipam`], the pure pod IP allocator.
//! - `bridge`: the node side: bridge, gateway, loopback, forwarding, local addresses.
//! - `pod_net`: one pod's netns, veth pair, address and route; cleanup after a failure.
//! - `sys`: the Linux boundary: the `Links` and `Namespaces` traits, their rtnetlink, nix and
//!   nf_tables implementation, [`in_netns`], and a recording fake for the unit tests.
//! - `error`: [`Error`], one variant per step.
//!
//! Every [`Netd`] operation is idempotent, so a caller may retry or repeat it after a crash.
//! Operations on different pods may run concurrently; the caller serialises those on one pod.

#![warn(missing_docs)]

mod bridge;
mod config;
mod error;
mod ipam;
mod pod_net;
mod sys;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use tracing::info;

pub use config::Config;
pub use error::Error;
pub use ipam::Ipam;
pub use sys::{ServiceNat, in_netns};

use config::Node;

/// The node's network: an rtnetlink connection to the node netns (the netns of the thread that
/// called [`Netd::start`]) and the resolved configuration.
pub struct Netd {
    /// The kernel boundary.
    sys: sys::Linux,
    /// The resolved configuration.
    node: Node,
    /// The configuration as given.
    config: Config,
}

/// A pod's network as [`Netd::create_pod_network`] made or found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// The pod id it was made for.
    pub id: String,
    /// The netns bind mount, `<run_dir>/netns/<id>`: enter it with [`in_netns`] or `setns`.
    pub netns_path: PathBuf,
    /// The pod's address on `eth0`.
    pub ip: Ipv4Addr,
    /// The host-side veth, a port of the bridge.
    pub host_veth: String,
}

impl Netd {
    /// Ensures the bridge exists and is up with the gateway address and its fixed MAC,
    /// loopback is up, the netns directory exists, `net.ipv4.ip_forward=1`, and pod traffic
    /// to outside the pod CIDR is masqueraded, all in the node netns. Idempotent: a second
    /// start adopts what exists.
    ///
    /// Must be called inside a tokio runtime, on a thread in the node netns (any runtime thread
    /// is: netd never moves one).
    pub async fn start(config: Config) -> Result<Netd, Error> {
        let node = Node::new(&config)?;
        let sys = sys::Linux::connect(&node.nft_table)?;
        bridge::ensure(&sys, &node).await?;
        info!(
            bridge = %node.bridge,
            gateway = %node.gateway,
            netns_dir = %node.netns_dir.display(),
            "node network ready"
        );
        Ok(Netd { sys, node, config })
    }

    /// The configuration netd was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The gateway (bridge) address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.node.gateway.addr()
    }

    /// Where the netns of pod `id` is (or would be) bind-mounted: `<run_dir>/netns/<id>`.
    pub fn pod_netns_path(&self, id: &str) -> PathBuf {
        self.node.netns_dir.join(id)
    }

    /// Creates the network of one pod: a netns bind-mounted at `<run_dir>/netns/<id>` with IPv6
    /// off, a veth pair (host end a port of the bridge, up, hairpin on; pod end `eth0` inside
    /// the netns with `ip` and the pod CIDR's prefix, up), `lo` up, and a default route via the
    /// gateway.
    ///
    /// Idempotent per `id`: what exists is adopted and completed, and the address converges on
    /// `ip`. On failure, what this call made is removed; if that fails too, both errors are in
    /// [`Error::CleanupFailed`]. If the future is dropped midway, what it made stays: a later
    /// call with the same id completes it, and [`Netd::delete_pod_network`] removes it.
    pub async fn create_pod_network(&self, id: &str, ip: Ipv4Addr) -> Result<PodNetwork, Error> {
        pod_net::create(&self.sys, &self.node, id, ip).await
    }

    /// Removes a pod's veth pair and its netns bind mount and file. Idempotent.
    ///
    /// A process still inside the netns keeps the namespace alive, but without a network.
    pub async fn delete_pod_network(&self, id: &str) -> Result<(), Error> {
        pod_net::delete(&self.sys, &self.node, id).await
    }

    /// The ids of the pod netns bind mounts under `<run_dir>/netns`, sorted, for reconciling
    /// after a restart. A file left by a crash before its mount is listed too, so that it is
    /// reconciled (deleted) like the rest.
    pub fn pod_networks(&self) -> Result<Vec<String>, Error> {
        pod_net::list(&self.sys, &self.node)
    }

    /// Makes the kernel send new connections to each of `services` to one of its endpoints at
    /// random (DNAT, masqueraded as the node), replacing the previous set; the pod masquerade
    /// rule stays. Established connections keep their endpoint (conntrack). An empty list
    /// leaves only the masquerade rule.
    pub fn set_service_nat(&self, services: &[ServiceNat]) -> Result<(), Error> {
        use sys::Namespaces;
        self.sys.set_nat(self.node.pod_cidr, services)
    }

    /// Adds `ip/32` to the bridge (a Service VIP, the DNS IP), so that local listeners can bind
    /// it. Idempotent.
    pub async fn add_local_address(&self, ip: Ipv4Addr) -> Result<(), Error> {
        bridge::add_local_address(&self.sys, &self.node, ip).await
    }

    /// Removes `ip/32` from the bridge. Idempotent.
    pub async fn remove_local_address(&self, ip: Ipv4Addr) -> Result<(), Error> {
        bridge::remove_local_address(&self.sys, &self.node, ip).await
    }

    /// Makes the node answer packets to `cidr` (the Service CIDR) with ICMP host-unreachable,
    /// as kube-proxy's nftables mode rejects unallocated ClusterIPs: a connection to a
    /// ClusterIP that no longer exists fails at once and never leaves the node by its default
    /// route. The ClusterIPs in use are local /32 addresses, which win over any route.
    pub async fn reject_unallocated(&self, cidr: Ipv4Net) -> Result<(), Error> {
        bridge::reject(&self.sys, cidr).await
    }

    /// Undoes [`Netd::reject_unallocated`]; fine if it was not done.
    pub async fn stop_rejecting(&self, cidr: Ipv4Net) -> Result<(), Error> {
        bridge::stop_rejecting(&self.sys, cidr).await
    }

    /// Removes every pod network, host veths of ours that no pod accounts for, the bridge with
    /// its addresses, and the netns directory (for `kubicle reset`). `ip_forward` stays as it
    /// is. Every step is tried; the first failure is returned.
    pub async fn teardown(&self) -> Result<(), Error> {
        let pods = pod_net::delete_all(&self.sys, &self.node).await;
        let bridge = bridge::remove(&self.sys, &self.node).await;
        let removed = pods.and(bridge);
        if removed.is_ok() {
            info!(bridge = %self.node.bridge, "node network removed");
        }
        removed
    }
}

/// Compile-time checks: a [`Netd`] can be shared between tasks, and its futures can be spawned
/// on a multi-threaded runtime (podd and proxyd do both).
#[cfg(test)]
mod send_checks {
    use super::*;

    fn is_send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync>() {}

    #[allow(dead_code)]
    fn futures_are_send(netd: &Netd, config: Config, ip: Ipv4Addr) {
        is_send_sync::<Netd>();
        is_send(&Netd::start(config));
        is_send(&netd.create_pod_network("id", ip));
        is_send(&netd.delete_pod_network("id"));
        is_send(&netd.add_local_address(ip));
        is_send(&netd.remove_local_address(ip));
        is_send(&netd.teardown());
    }
}
