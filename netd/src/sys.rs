//! The thin Linux boundary: the [`Links`] and [`Namespaces`] traits, their netlink/nix
//! implementation ([`Linux`]), and a recording fake for unit tests.
//!
//! Everything above this module (`bridge`, `pod_net`) is plain logic over these traits, so the
//! order of operations and the cleanup after a failure are tested without root, the way youki
//! tests against `libcontainer/src/syscall/test.rs`.
//!
//! No `unsafe` is needed: nix wraps `unshare`, `setns`, `mount` and `statfs`, and rtnetlink
//! wraps the netlink socket. The workspace's `unsafe_code = "deny"` therefore holds here too.
//!
//! Layout:
//! - `netlink`: [`Netlink`], the [`Links`] of one netns over an rtnetlink connection.
//! - `netns`: creating, entering, listing and removing netns bind mounts; sysctl writes;
//!   [`in_netns`].
//! - `nftables`: netd's nf_tables table (the pod masquerade rule) over NETLINK_NETFILTER.
//! - `fake` (tests only): the recording fake.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

use crate::Error;

#[cfg(test)]
pub(crate) mod fake;
mod netlink;
mod netns;
mod nftables;

pub use nftables::ServiceNat;

pub(crate) use netlink::Netlink;
pub use netns::in_netns;

/// A link as the kernel knows it in one netns: its index and its name (kept for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// The interface index.
    pub(crate) index: u32,
    /// The interface name.
    pub(crate) name: String,
}

/// The link, address and route operations netd needs in one network namespace.
///
/// Every method is idempotent where the kernel allows it: adding what exists or deleting what
/// is gone succeeds, so a retried or repeated call converges instead of failing.
pub(crate) trait Links: Send + Sync {
    /// The link called `name`, or `None` when there is none.
    fn link(&self, name: &str) -> impl Future<Output = Result<Option<Link>, Error>> + Send;
    /// Every link in the netns.
    fn links(&self) -> impl Future<Output = Result<Vec<Link>, Error>> + Send;
    /// Creates a bridge called `name` (an existing one is fine).
    fn add_bridge(&self, name: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// Creates a veth pair: `host` here, and `peer` directly inside the netns bind-mounted at
    /// `peer_netns`.
    fn add_veth(
        &self,
        host: &str,
        peer: &str,
        peer_netns: &Path,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Makes `link` a port of `bridge` and sets it up.
    fn attach(&self, link: &Link, bridge: &Link) -> impl Future<Output = Result<(), Error>> + Send;
    /// Turns hairpin mode on for the bridge port `link`.
    fn set_hairpin(&self, link: &Link) -> impl Future<Output = Result<(), Error>> + Send;
    /// Sets `link` up.
    fn set_up(&self, link: &Link) -> impl Future<Output = Result<(), Error>> + Send;
    /// Sets the MAC address of `link` (the same one again is fine).
    fn set_mac(&self, link: &Link, mac: [u8; 6]) -> impl Future<Output = Result<(), Error>> + Send;
    /// Deletes `link` (a veth takes its peer with it). A link already gone is fine.
    fn delete_link(&self, link: &Link) -> impl Future<Output = Result<(), Error>> + Send;
    /// The IPv4 addresses of `link`.
    fn addresses(&self, link: &Link) -> impl Future<Output = Result<Vec<Ipv4Net>, Error>> + Send;
    /// Adds `address` to `link`. An address already there is fine.
    fn add_address(
        &self,
        link: &Link,
        address: Ipv4Net,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Removes `address` from `link`. An address already gone is fine.
    fn delete_address(
        &self,
        link: &Link,
        address: Ipv4Net,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Sets (adds or replaces) an `unreachable` route for `destination`: this netns answers
    /// packets to it with ICMP host-unreachable instead of routing them on.
    fn set_unreachable_route(
        &self,
        destination: Ipv4Net,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Deletes the `unreachable` route for `destination`. Already gone is fine.
    fn delete_unreachable_route(
        &self,
        destination: Ipv4Net,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// Sets (adds or replaces) the IPv4 default route: via `gateway` on `link`.
    fn set_default_route(
        &self,
        gateway: Ipv4Addr,
        link: &Link,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Network namespaces as bind mounts, and the [`Links`] inside them.
pub(crate) trait Namespaces: Send + Sync {
    /// The [`Links`] of one netns.
    type Links: Links;

    /// The links of the node netns (the one the process was in at start).
    fn node(&self) -> &Self::Links;
    /// Opens the links of the netns bind-mounted at `path`.
    fn pod_links(&self, path: &Path) -> impl Future<Output = Result<Self::Links, Error>> + Send;
    /// Creates the directory that holds the netns bind mounts, as a shared mount point.
    fn prepare_netns_dir(&self, dir: &Path) -> Result<(), Error>;
    /// Unmounts and removes the netns directory. A directory already gone is fine.
    fn remove_netns_dir(&self, dir: &Path) -> Result<(), Error>;
    /// Creates a netns with IPv6 off and bind-mounts it at `path`. Returns `false` without
    /// doing anything when `path` already is a netns bind mount.
    fn create_netns(&self, path: &Path) -> impl Future<Output = Result<bool, Error>> + Send;
    /// Unmounts the netns at `path` and removes the file. Already gone is fine.
    fn remove_netns(&self, path: &Path) -> Result<(), Error>;
    /// The names of the files in `dir` (an absent `dir` has none).
    fn list_netns(&self, dir: &Path) -> Result<Vec<String>, Error>;
    /// Writes `value` to `/proc/sys/<key>` for the node netns.
    fn write_sysctl(&self, key: &str, value: &str) -> Result<(), Error>;
    /// Replaces netd's nf_tables table in the node netns: traffic from `pod_cidr` to anywhere
    /// outside it is masqueraded, and new connections to `services` are sent to their
    /// endpoints (see [`ServiceNat`]).
    fn set_nat(&self, pod_cidr: Ipv4Net, services: &[ServiceNat]) -> Result<(), Error>;
    /// Deletes netd's nf_tables table. Already gone is fine.
    fn delete_nftables(&self) -> Result<(), Error>;
}

/// The real [`Namespaces`]: rtnetlink in the node netns, nix for the namespaces.
pub(crate) struct Linux {
    /// The rtnetlink connection opened in the node netns at start.
    node: Netlink,
    /// The nf_tables socket, opened in the node netns at start too.
    nftables: nftables::Nftables,
}

impl Linux {
    /// Opens an rtnetlink connection in the calling thread's netns, which becomes the node
    /// netns. Must run inside a tokio runtime (the connection is a task on it).
    pub(crate) fn connect(nft_table: &str) -> Result<Linux, Error> {
        let node = Netlink::connect().map_err(|source| Error::OpenNetlink { source })?;
        let nftables = nftables::Nftables::open(nft_table).map_err(|source| Error::Nftables {
            action: "open a netfilter netlink socket for table",
            table: nft_table.to_owned(),
            source,
        })?;
        Ok(Linux { node, nftables })
    }
}

impl Namespaces for Linux {
    type Links = Netlink;

    fn node(&self) -> &Netlink {
        &self.node
    }

    async fn pod_links(&self, path: &Path) -> Result<Netlink, Error> {
        netns::connect_in(path).await
    }

    fn prepare_netns_dir(&self, dir: &Path) -> Result<(), Error> {
        netns::prepare_dir(dir)
    }

    fn remove_netns_dir(&self, dir: &Path) -> Result<(), Error> {
        netns::remove_dir(dir)
    }

    async fn create_netns(&self, path: &Path) -> Result<bool, Error> {
        netns::create(path).await
    }

    fn remove_netns(&self, path: &Path) -> Result<(), Error> {
        netns::remove(path)
    }

    fn list_netns(&self, dir: &Path) -> Result<Vec<String>, Error> {
        netns::list(dir)
    }

    fn write_sysctl(&self, key: &str, value: &str) -> Result<(), Error> {
        netns::write_sysctl(key, value)
    }

    fn set_nat(&self, pod_cidr: Ipv4Net, services: &[ServiceNat]) -> Result<(), Error> {
        self.nftables
            .apply(pod_cidr, services)
            .map_err(|source| Error::Nftables {
                action: "replace table",
                table: self.nftables.table().to_owned(),
                source,
            })
    }

    fn delete_nftables(&self) -> Result<(), Error> {
        self.nftables.delete().map_err(|source| Error::Nftables {
            action: "delete table",
            table: self.nftables.table().to_owned(),
            source,
        })
    }
}
