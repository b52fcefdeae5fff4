//! The node side: the bridge with the gateway address, loopback, forwarding, the netns
//! directory, and the local /32 addresses that Service VIPs use.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::Error;
use crate::config::Node;
use crate::sys::{Link, Links, Namespaces};

/// Brings the node netns to the state netd needs; idempotent, so a restart adopts what the
/// last run made.
pub(crate) async fn ensure<N: Namespaces>(ns: &N, node: &Node) -> Result<(), Error> {
    let links = ns.node();
    // In a fresh netns (a test's, or a cluster started in its own netns) `lo` starts down,
    // and local listeners on 127.0.0.1 would not work.
    let lo = links.link("lo").await?.ok_or_else(|| Error::LinkMissing {
        name: "lo".to_owned(),
    })?;
    links.set_up(&lo).await?;
    ns.prepare_netns_dir(&node.netns_dir)?;

    let bridge = match links.link(&node.bridge).await? {
        Some(bridge) => bridge,
        None => {
            refuse_taken_cidr(ns, node).await?;
            links.add_bridge(&node.bridge).await?;
            bridge_link(ns, node).await?
        }
    };
    // A bridge whose MAC address was never set takes the lowest of its ports' addresses, so it
    // changes whenever a pod's veth with a lower one joins (br_stp_recalculate_bridge_id in
    // net/bridge/br_stp_if.c). Pods that already resolved the gateway keep sending to the old
    // address, which the bridge now takes for another host's (PACKET_OTHERHOST) and drops,
    // until their neighbor entry expires: seconds to a minute of silence. A set address
    // never changes. Set on every start, so a bridge made by an older kubicle is fixed too.
    links
        .set_mac(&bridge, bridge_mac(node.gateway.addr()))
        .await?;
    // An adopted bridge may have been set down; a new one is created up already, and setting
    // it up again is harmless.
    links.set_up(&bridge).await?;
    if !links.addresses(&bridge).await?.contains(&node.gateway) {
        links.add_address(&bridge, node.gateway).await?;
    }
    // Pods reach Service VIPs, the host and beyond through the gateway, so the node routes;
    // what leaves for beyond the pod network leaves from the node's own address, or answers
    // could never find their way back to a pod address nobody outside routes.
    ns.write_sysctl("net/ipv4/ip_forward", "1")?;
    // A kernel without nf_tables NAT still runs pods; they only cannot leave the node.
    if let Err(error) = ns.set_nat(node.pod_cidr, &[]) {
        tracing::warn!(error = %error, source = ?std::error::Error::source(&error),
            "pods cannot reach beyond the node: no masquerade for their traffic");
    }
    Ok(())
}

/// Fails if another link of the node netns holds an address in the pod CIDR (another cluster's
/// bridge, say): two bridges with one gateway would split the pods between them.
async fn refuse_taken_cidr<N: Namespaces>(ns: &N, node: &Node) -> Result<(), Error> {
    for link in ns.node().links().await? {
        for address in ns.node().addresses(&link).await? {
            if node.pod_cidr.contains(&address.addr()) || address.contains(&node.pod_cidr.addr()) {
                return Err(Error::PodCidrTaken {
                    cidr: node.pod_cidr,
                    link: link.name,
                    address,
                });
            }
        }
    }
    Ok(())
}

/// The bridge's MAC address: locally administered (`02`), `6b` for kubicle, then the gateway
/// address, so it reads back as the cluster it belongs to (`02:6b:0a:f4:00:01`).
pub(crate) fn bridge_mac(gateway: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = gateway.octets();
    [0x02, 0x6b, a, b, c, d]
}

/// The bridge, which must exist.
async fn bridge_link<N: Namespaces>(ns: &N, node: &Node) -> Result<Link, Error> {
    ns.node()
        .link(&node.bridge)
        .await?
        .ok_or_else(|| Error::LinkMissing {
            name: node.bridge.clone(),
        })
}

/// Adds `ip/32` to the bridge, so that local listeners can bind it.
pub(crate) async fn add_local_address<N: Namespaces>(
    ns: &N,
    node: &Node,
    ip: Ipv4Addr,
) -> Result<(), Error> {
    let bridge = bridge_link(ns, node).await?;
    ns.node().add_address(&bridge, Ipv4Net::from(ip)).await
}

/// Removes `ip/32` from the bridge; fine if it (or the bridge) is gone.
pub(crate) async fn remove_local_address<N: Namespaces>(
    ns: &N,
    node: &Node,
    ip: Ipv4Addr,
) -> Result<(), Error> {
    match ns.node().link(&node.bridge).await? {
        Some(bridge) => ns.node().delete_address(&bridge, Ipv4Net::from(ip)).await,
        None => Ok(()),
    }
}

/// Adds the `unreachable` route for `cidr` in the node netns.
pub(crate) async fn reject<N: Namespaces>(ns: &N, cidr: Ipv4Net) -> Result<(), Error> {
    ns.node().set_unreachable_route(cidr.trunc()).await
}

/// Deletes the `unreachable` route for `cidr`; fine if it is gone.
pub(crate) async fn stop_rejecting<N: Namespaces>(ns: &N, cidr: Ipv4Net) -> Result<(), Error> {
    ns.node().delete_unreachable_route(cidr.trunc()).await
}

/// Deletes the bridge (its addresses go with it), netd's nf_tables table and the netns
/// directory. The pod networks must be gone already. `ip_forward` is left as it is: netd
/// cannot know what it was before.
pub(crate) async fn remove<N: Namespaces>(ns: &N, node: &Node) -> Result<(), Error> {
    if let Some(bridge) = ns.node().link(&node.bridge).await? {
        ns.node().delete_link(&bridge).await?;
    }
    ns.delete_nftables()?;
    ns.remove_netns_dir(&node.netns_dir)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::Config;
    use crate::sys::fake::Fake;

    fn node() -> Node {
        Node::new(&Config {
            bridge: "kubicle0".to_owned(),
            pod_cidr: "10.244.0.0/16".parse().expect("cidr"),
            run_dir: PathBuf::from("/run/k"),
            veth_prefix: "kv".to_owned(),
            nft_table: "kubicle".to_owned(),
        })
        .expect("valid config")
    }

    #[tokio::test]
    async fn first_start_creates_the_bridge_with_the_gateway() {
        let fake = Fake::new();
        ensure(&fake, &node()).await.expect("ensure");
        assert_eq!(
            fake.calls(),
            [
                "node: link lo",
                "node: set_up lo",
                "prepare_netns_dir /run/k/netns",
                "node: link kubicle0",
                "node: links",
                "node: addresses lo",
                "node: add_bridge kubicle0",
                "node: link kubicle0",
                "node: set_mac kubicle0 02:6b:0a:f4:00:01",
                "node: set_up kubicle0",
                "node: addresses kubicle0",
                "node: add_address kubicle0 10.244.0.1/16",
                "write_sysctl net/ipv4/ip_forward=1",
                "set_nat 10.244.0.0/16 services=0",
            ]
        );
    }

    #[tokio::test]
    async fn a_pod_cidr_another_bridge_holds_is_refused() {
        let fake = Fake::new();
        ensure(&fake, &node()).await.expect("first cluster");
        let other = Node::new(&Config {
            bridge: "kubicle-other".to_owned(),
            pod_cidr: "10.244.128.0/17".parse().expect("cidr"),
            run_dir: PathBuf::from("/run/k2"),
            veth_prefix: "kw".to_owned(),
            nft_table: "kubicle-other".to_owned(),
        })
        .expect("valid config");
        let error = ensure(&fake, &other).await.expect_err("overlap refused");
        assert_eq!(
            error.to_string(),
            "pod cidr 10.244.128.0/17 is taken: kubicle0 has 10.244.0.1/16 (another cluster in \
             this network namespace?): choose another --pod-cidr"
        );
        assert_eq!(fake.link_names("node"), ["kubicle0", "lo"], "nothing made");
    }

    #[tokio::test]
    async fn a_kernel_without_nat_still_gets_a_node_network() {
        let fake = Fake::new();
        fake.fail_on("set_nat");
        ensure(&fake, &node())
            .await
            .expect("ensure without masquerade");
        assert!(fake.calls().contains(&"node: set_up kubicle0".to_owned()));
    }

    #[tokio::test]
    async fn the_service_cidr_is_rejected_until_told_otherwise() {
        let fake = Fake::new();
        let cidr: Ipv4Net = "10.96.0.0/12".parse().expect("cidr");
        reject(&fake, "10.96.0.7/12".parse().expect("cidr"))
            .await
            .expect("reject");
        assert!(
            fake.has_unreachable("node", cidr),
            "the prefix, host bits cleared"
        );
        stop_rejecting(&fake, cidr).await.expect("stop");
        stop_rejecting(&fake, cidr).await.expect("idempotent");
        assert!(!fake.has_unreachable("node", cidr));
    }

    #[tokio::test]
    async fn second_start_adopts_the_bridge() {
        let fake = Fake::new();
        ensure(&fake, &node()).await.expect("first");
        fake.clear_calls();
        ensure(&fake, &node()).await.expect("second");
        let calls = fake.calls();
        assert!(
            !calls
                .iter()
                .any(|call| call.contains("add_bridge") || call.contains("add_address")),
            "{calls:?}"
        );
        assert_eq!(fake.addresses("node", "kubicle0"), ["10.244.0.1/16"]);
    }

    #[tokio::test]
    async fn local_addresses_are_idempotent() {
        let fake = Fake::new();
        let node = node();
        ensure(&fake, &node).await.expect("ensure");
        let vip = Ipv4Addr::new(10, 96, 0, 10);
        add_local_address(&fake, &node, vip).await.expect("add");
        add_local_address(&fake, &node, vip)
            .await
            .expect("add again");
        assert_eq!(
            fake.addresses("node", "kubicle0"),
            ["10.244.0.1/16", "10.96.0.10/32"]
        );
        remove_local_address(&fake, &node, vip)
            .await
            .expect("remove");
        remove_local_address(&fake, &node, vip)
            .await
            .expect("remove again");
        assert_eq!(fake.addresses("node", "kubicle0"), ["10.244.0.1/16"]);
    }

    #[tokio::test]
    async fn a_failed_step_is_named() {
        let fake = Fake::new();
        fake.fail_on("node: add_bridge");
        let error = ensure(&fake, &node()).await.expect_err("injected failure");
        assert!(
            matches!(error, Error::CreateBridge { ref name, .. } if name == "kubicle0"),
            "{error}"
        );
    }
}
