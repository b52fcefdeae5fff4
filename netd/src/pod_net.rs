//! One pod's network: its netns bind mount, the veth pair between it and the bridge, and the
//! address, links and default route inside it. Creation and deletion are idempotent per pod id,
//! and a failed creation removes what it made.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use tracing::debug;

use crate::config::{Node, POD_IFNAME, VETH_HASH_DIGITS};
use crate::sys::{Link, Links, Namespaces};
use crate::{Error, PodNetwork};

/// The names and paths of one pod's network, all derived from its id.
#[derive(Debug, Clone)]
pub(crate) struct PodNames {
    /// The pod id.
    pub(crate) id: String,
    /// `<run_dir>/netns/<id>`.
    pub(crate) netns_path: PathBuf,
    /// `<prefix><hash>`.
    pub(crate) host_veth: String,
}

impl PodNames {
    /// Checks `id` and derives the names from it.
    pub(crate) fn new(node: &Node, id: &str) -> Result<PodNames, Error> {
        check_id(id)?;
        Ok(PodNames {
            id: id.to_owned(),
            netns_path: node.netns_dir.join(id),
            host_veth: host_veth_name(&node.veth_prefix, id),
        })
    }
}

/// Pod ids become file names under `<run_dir>/netns`, so they must be one path component.
fn check_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > 255 || id == "." || id == ".." || id.contains(['/', '\0']) {
        return Err(Error::InvalidPodId { id: id.to_owned() });
    }
    Ok(())
}

/// `<prefix>` and the low 40 bits of the 64-bit FNV-1a hash of `id`, in hex.
///
/// The hash must be the same in every build and run, since a restarted netd finds the veths of
/// running pods by name; std's `DefaultHasher` does not promise that, FNV-1a (a fixed public
/// algorithm) does. 40 bits make a collision among 10,000 pods about a 1 in 20,000 chance.
pub(crate) fn host_veth_name(prefix: &str, id: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = id.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    let digits = VETH_HASH_DIGITS;
    format!("{prefix}{:0digits$x}", hash & ((1 << (4 * digits)) - 1))
}

/// Whether `name` is a host veth name netd would make with `prefix`.
pub(crate) fn is_host_veth_name(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|hash| {
        hash.len() == VETH_HASH_DIGITS
            && hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// What one `create` call made itself, and so must remove if a later step fails.
#[derive(Debug, Default)]
struct Made {
    /// The netns bind mount.
    netns: bool,
    /// The veth pair.
    veth: bool,
}

/// Creates (or completes, or adopts) the network of pod `id` with address `ip`.
pub(crate) async fn create<N: Namespaces>(
    ns: &N,
    node: &Node,
    id: &str,
    ip: Ipv4Addr,
) -> Result<PodNetwork, Error> {
    let names = PodNames::new(node, id)?;
    node.check_pod_ip(ip)?;
    let mut made = Made::default();
    match set_up(ns, node, &names, ip, &mut made).await {
        Ok(()) => {
            debug!(pod = id, %ip, host_veth = %names.host_veth, "pod network ready");
            Ok(PodNetwork {
                id: names.id,
                netns_path: names.netns_path,
                ip,
                host_veth: names.host_veth,
            })
        }
        Err(error) => match clean_up(ns, &names, &made).await {
            Ok(()) => Err(error),
            Err(cleanup) => Err(Error::CleanupFailed {
                id: names.id,
                cleanup: Box::new(cleanup),
                source: Box::new(error),
            }),
        },
    }
}

/// The steps of `create`, each idempotent, recording in `made` what it created.
async fn set_up<N: Namespaces>(
    ns: &N,
    node: &Node,
    names: &PodNames,
    ip: Ipv4Addr,
    made: &mut Made,
) -> Result<(), Error> {
    let host = ns.node();
    // The bridge first: without it (before start, after teardown) there is nothing to do.
    let bridge = host
        .link(&node.bridge)
        .await?
        .ok_or_else(|| Error::LinkMissing {
            name: node.bridge.clone(),
        })?;
    made.netns = ns.create_netns(&names.netns_path).await?;
    let pod = ns.pod_links(&names.netns_path).await?;

    // Adopt a pair only if both ends are there. A lone end is a leftover: the host end of a
    // pair whose netns was replaced, or an `eth0` whose host end was deleted by hand.
    let existing_host = host.link(&names.host_veth).await?;
    let existing_pod = if made.netns {
        None
    } else {
        pod.link(POD_IFNAME).await?
    };
    let host_veth = match (existing_host, existing_pod) {
        (Some(host_veth), Some(_)) => host_veth,
        (existing_host, existing_pod) => {
            if let Some(stale) = existing_host {
                host.delete_link(&stale).await?;
            }
            if let Some(stale) = existing_pod {
                pod.delete_link(&stale).await?;
            }
            host.add_veth(&names.host_veth, POD_IFNAME, &names.netns_path)
                .await?;
            made.veth = true;
            host.link(&names.host_veth)
                .await?
                .ok_or_else(|| Error::LinkMissing {
                    name: names.host_veth.clone(),
                })?
        }
    };
    host.attach(&host_veth, &bridge).await?;
    // Hairpin lets a frame leave by the port it came in on, so a pod reaches itself through a
    // Service VIP that resolves back to it (what kubelet's hairpin-mode=hairpin-veth sets).
    host.set_hairpin(&host_veth).await?;

    let lo = pod.link("lo").await?.ok_or_else(|| Error::LinkMissing {
        name: "lo".to_owned(),
    })?;
    pod.set_up(&lo).await?;
    let eth0 = pod
        .link(POD_IFNAME)
        .await?
        .ok_or_else(|| Error::LinkMissing {
            name: POD_IFNAME.to_owned(),
        })?;
    let address =
        Ipv4Net::new(ip, node.pod_cidr.prefix_len()).map_err(|_| Error::InvalidPodIp {
            ip,
            cidr: node.pod_cidr,
        })?;
    let addresses = if made.veth {
        Vec::new()
    } else {
        pod.addresses(&eth0).await?
    };
    // An adopted eth0 may hold an earlier address of this pod: converge on the one asked for.
    for stale in addresses.iter().filter(|&&other| other != address) {
        pod.delete_address(&eth0, *stale).await?;
    }
    if !addresses.contains(&address) {
        pod.add_address(&eth0, address).await?;
    }
    // Up after the address, so the connected route exists as soon as the link does; the
    // default route needs it to reach the gateway (fib_check_nh: the gateway must be on-link).
    pod.set_up(&eth0).await?;
    pod.set_default_route(node.gateway.addr(), &eth0).await?;
    Ok(())
}

/// Removes what `create` made, best effort: every step is tried, the first failure returned.
async fn clean_up<N: Namespaces>(ns: &N, names: &PodNames, made: &Made) -> Result<(), Error> {
    let mut first_error = None;
    if made.veth {
        let deleted = match ns.node().link(&names.host_veth).await {
            Ok(Some(host_veth)) => ns.node().delete_link(&host_veth).await,
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        first_error = deleted.err();
    }
    if made.netns {
        if let Err(error) = ns.remove_netns(&names.netns_path) {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Deletes the network of pod `id`: its veth pair, then its netns bind mount and file.
pub(crate) async fn delete<N: Namespaces>(ns: &N, node: &Node, id: &str) -> Result<(), Error> {
    let names = PodNames::new(node, id)?;
    // The host end first: deleting it deletes the peer at once, even if a process still keeps
    // the netns alive after the unmount.
    if let Some(host_veth) = ns.node().link(&names.host_veth).await? {
        ns.node().delete_link(&host_veth).await?;
    }
    ns.remove_netns(&names.netns_path)?;
    debug!(pod = id, "pod network deleted");
    Ok(())
}

/// The ids of the pod netns bind mounts present (files that could not be a pod id are skipped).
pub(crate) fn list<N: Namespaces>(ns: &N, node: &Node) -> Result<Vec<String>, Error> {
    let mut ids = ns.list_netns(&node.netns_dir)?;
    ids.retain(|id| check_id(id).is_ok());
    Ok(ids)
}

/// Deletes every pod network, and host veths of ours that no pod netns accounts for. Every
/// deletion is tried; the first failure is returned.
pub(crate) async fn delete_all<N: Namespaces>(ns: &N, node: &Node) -> Result<(), Error> {
    let mut first_error = None;
    for id in list(ns, node)? {
        if let Err(error) = delete(ns, node, &id).await {
            first_error.get_or_insert(error);
        }
    }
    let orphans: Vec<Link> = ns
        .node()
        .links()
        .await?
        .into_iter()
        .filter(|link| is_host_veth_name(&node.veth_prefix, &link.name))
        .collect();
    for orphan in orphans {
        if let Err(error) = ns.node().delete_link(&orphan).await {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests;
