//! [`Config`], what the caller chooses, and `Node`, the same checked and resolved once at start
//! (names, paths and addresses that every operation derives from it).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

use crate::Error;

/// What netd manages, and under which names. Everything netd creates on the host is named or
/// placed from these, so two clusters with different values can run side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bridge the pods' veths attach to, e.g. `kubicle0`.
    pub bridge: String,
    /// The pod CIDR, e.g. `10.244.0.0/16`. The bridge holds its first address (the gateway)
    /// with the CIDR's prefix length.
    pub pod_cidr: Ipv4Net,
    /// Pod netns bind mounts live in `<run_dir>/netns/<id>`.
    pub run_dir: PathBuf,
    /// Host-side veth names are `<veth_prefix><10 hex digits of a hash of the pod id>`, at
    /// most 15 bytes, so the prefix is 1 to 5 bytes, e.g. `kv`.
    pub veth_prefix: String,
    /// The nf_tables table netd owns in the node netns (`ip <nft_table>`), e.g. `kubicle`.
    pub nft_table: String,
}

/// Linux's limit on interface names: `IFNAMSIZ` (16) less the terminating NUL.
const MAX_IFNAME: usize = 15;

/// How many hex digits of the pod id's hash follow the veth prefix.
pub(crate) const VETH_HASH_DIGITS: usize = 10;

/// The name of the pod side of every veth pair, inside the pod's netns.
pub(crate) const POD_IFNAME: &str = "eth0";

/// The validated, resolved [`Config`].
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The bridge name.
    pub(crate) bridge: String,
    /// The pod CIDR with its host bits cleared.
    pub(crate) pod_cidr: Ipv4Net,
    /// The gateway address with the pod CIDR's prefix length, as the bridge holds it.
    pub(crate) gateway: Ipv4Net,
    /// `<run_dir>/netns`.
    pub(crate) netns_dir: PathBuf,
    /// The host veth name prefix.
    pub(crate) veth_prefix: String,
    /// The nf_tables table's name.
    pub(crate) nft_table: String,
}

impl Node {
    /// Checks `config` and derives the gateway and the netns directory.
    pub(crate) fn new(config: &Config) -> Result<Node, Error> {
        if !valid_ifname(&config.bridge) {
            return Err(Error::InvalidBridgeName {
                name: config.bridge.clone(),
            });
        }
        if config.veth_prefix.is_empty()
            || config.veth_prefix.len() + VETH_HASH_DIGITS > MAX_IFNAME
            || !valid_ifname(&config.veth_prefix)
        {
            return Err(Error::InvalidVethPrefix {
                prefix: config.veth_prefix.clone(),
            });
        }
        if !valid_nft_name(&config.nft_table) {
            return Err(Error::InvalidTableName {
                name: config.nft_table.clone(),
            });
        }
        let pod_cidr = config.pod_cidr.trunc();
        // A /30 has room for the gateway and one pod; anything smaller has none.
        if pod_cidr.prefix_len() > 30 {
            return Err(Error::PodCidrTooSmall {
                cidr: config.pod_cidr,
            });
        }
        let gateway_ip = Ipv4Addr::from(u32::from(pod_cidr.network()) + 1);
        let gateway = Ipv4Net::new(gateway_ip, pod_cidr.prefix_len()).map_err(|_| {
            Error::PodCidrTooSmall {
                cidr: config.pod_cidr,
            }
        })?;
        Ok(Node {
            bridge: config.bridge.clone(),
            pod_cidr,
            gateway,
            netns_dir: config.run_dir.join("netns"),
            veth_prefix: config.veth_prefix.clone(),
            nft_table: config.nft_table.clone(),
        })
    }

    /// Checks that `ip` is a pod address: inside the CIDR and not the network, gateway or
    /// broadcast address.
    pub(crate) fn check_pod_ip(&self, ip: Ipv4Addr) -> Result<(), Error> {
        let reserved = [
            self.pod_cidr.network(),
            self.gateway.addr(),
            self.pod_cidr.broadcast(),
        ];
        if !self.pod_cidr.contains(&ip) || reserved.contains(&ip) {
            return Err(Error::InvalidPodIp {
                ip,
                cidr: self.pod_cidr,
            });
        }
        Ok(())
    }
}

/// Whether `name` is a valid interface name: 1 to 15 bytes, not `.` or `..`, and none of the
/// characters the kernel rejects (`dev_valid_name` in net/core/dev.c: `/`, `:` and
/// whitespace).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// Whether `name` is a valid nf_tables table name: 1 to 255 bytes (`NFT_NAME_MAXLEN` is 256
/// with the NUL) of letters, digits, `-` and `_`, as `nft` accepts unquoted.
fn valid_nft_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            bridge: "kubicle0".to_owned(),
            pod_cidr: "10.244.0.0/16".parse().expect("cidr"),
            run_dir: PathBuf::from("/run/kubicle"),
            veth_prefix: "kv".to_owned(),
            nft_table: "kubicle".to_owned(),
        }
    }

    #[test]
    fn resolves_gateway_and_netns_dir() {
        let node = Node::new(&config()).expect("valid config");
        assert_eq!(node.gateway.to_string(), "10.244.0.1/16");
        assert_eq!(node.netns_dir, PathBuf::from("/run/kubicle/netns"));
        let node = Node::new(&Config {
            pod_cidr: "10.9.9.9/24".parse().expect("cidr"),
            ..config()
        })
        .expect("host bits are cleared");
        assert_eq!(node.gateway.to_string(), "10.9.9.1/24");
    }

    #[test]
    fn rejects_bad_names_and_tiny_cidrs() {
        let check = |config: Config| Node::new(&config).err().map(|error| error.to_string());
        assert!(
            check(Config {
                bridge: "a-very-long-bridge".to_owned(),
                ..config()
            })
            .is_some()
        );
        assert!(
            check(Config {
                bridge: "br/0".to_owned(),
                ..config()
            })
            .is_some()
        );
        assert!(
            check(Config {
                bridge: String::new(),
                ..config()
            })
            .is_some()
        );
        for table in ["", "a b", "kubicle\"x"] {
            assert!(
                check(Config {
                    nft_table: table.to_owned(),
                    ..config()
                })
                .is_some(),
                "{table:?}"
            );
        }
        assert!(
            check(Config {
                veth_prefix: "kvabcd".to_owned(),
                ..config()
            })
            .is_some()
        );
        assert!(
            check(Config {
                veth_prefix: String::new(),
                ..config()
            })
            .is_some()
        );
        assert!(
            check(Config {
                veth_prefix: "kvabc".to_owned(),
                ..config()
            })
            .is_none()
        );
        assert!(
            check(Config {
                pod_cidr: "10.0.0.0/31".parse().expect("cidr"),
                ..config()
            })
            .is_some()
        );
        assert!(
            check(Config {
                pod_cidr: "10.0.0.0/30".parse().expect("cidr"),
                ..config()
            })
            .is_none()
        );
    }

    #[test]
    fn pod_ips_exclude_network_gateway_and_broadcast() {
        let node = Node::new(&config()).expect("valid config");
        for bad in ["10.244.0.0", "10.244.0.1", "10.244.255.255", "10.245.0.2"] {
            assert!(
                node.check_pod_ip(bad.parse().expect("ip")).is_err(),
                "{bad}"
            );
        }
        assert!(node.check_pod_ip("10.244.0.2".parse().expect("ip")).is_ok());
    }
}
