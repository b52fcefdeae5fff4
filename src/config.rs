//! The validated configuration of `kubicle up`: parsed addresses and CIDRs, resolved paths,
//! checked ranges. Nothing binds, writes or creates anything until a [`Config`] exists.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use ipnet::Ipv4Net;

use crate::cli::UpArgs;

/// Default address of the HTTPS API server.
pub(crate) const LISTEN: &str = "127.0.0.1:6443";
/// Default data directory.
pub(crate) const DATA_DIR: &str = "/var/lib/kubicle";
/// Default pod network.
pub(crate) const POD_CIDR: &str = "10.244.0.0/16";
/// Default service network.
pub(crate) const SERVICE_CIDR: &str = "10.96.0.0/12";
/// Default NodePort range.
pub(crate) const NODE_PORT_RANGE: &str = "30000-32767";
/// Default cluster DNS domain.
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// Parses an IPv4 network `a.b.c.d/n` (n from 8 to 30) whose host bits are zero.
pub(crate) fn parse_cidr(s: &str) -> anyhow::Result<Ipv4Net> {
    let net: Ipv4Net = s
        .parse()
        .with_context(|| format!("{s:?} is not an IPv4 CIDR (expected a.b.c.d/n)"))?;
    if !(8..=30).contains(&net.prefix_len()) {
        bail!(
            "prefix /{} of {s} must be between 8 and 30",
            net.prefix_len()
        );
    }
    if net.trunc() != net {
        bail!("{s} has host bits set (did you mean {}?)", net.trunc());
    }
    Ok(net)
}

/// The first non-loopback IPv4 address of an interface that is up, or 127.0.0.1.
fn detect_node_ip() -> Ipv4Addr {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Ipv4Addr::LOCALHOST;
    };
    addrs
        .filter(|a| a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP))
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .find(|ip| !ip.is_loopback())
        .unwrap_or(Ipv4Addr::LOCALHOST)
}

/// The addresses of this network namespace's interfaces that are up.
fn local_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP))
        .filter_map(|a| {
            let address = a.address?;
            match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
                (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
                (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
                _ => None,
            }
        })
        .collect()
}

/// This host's name, lower-cased, as the node name.
fn detect_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kubicle".to_string())
}

/// Everything `kubicle up` needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// State, credentials and kubeconfig live here.
    pub(crate) data_dir: PathBuf,
    /// The API server's address.
    pub(crate) listen: SocketAddr,
    /// The cluster's name.
    pub(crate) cluster_name: String,
    /// Pod network.
    pub(crate) pod_cidr: Ipv4Net,
    /// Service network; its first address is `kubernetes`, its tenth `kube-dns`.
    pub(crate) service_cidr: Ipv4Net,
    /// Name of this node.
    pub(crate) node_name: String,
    /// This node's address (InternalIP, LoadBalancer ingress).
    pub(crate) node_ip: Ipv4Addr,
    /// Whether this process runs pods (root, and not `--no-pods`).
    pub(crate) pods: bool,
    /// Cluster DNS domain.
    pub(crate) cluster_domain: String,
    /// NodePort range, inclusive.
    pub(crate) node_ports: (u16, u16),
    /// Extra addresses of the cluster DNS (besides the kube-dns ClusterIP).
    pub(crate) dns_listen: Vec<SocketAddr>,
    /// TTL of the cluster DNS's answers.
    pub(crate) dns_ttl: u32,
    /// Whether ClusterIP traffic goes through the kernel's DNAT where it can (`--proxy-mode
    /// nftables`); it needs pods (netd).
    pub(crate) kernel_proxy: bool,
    /// Manifests to apply after start (`-f`).
    pub(crate) manifests: Option<PathBuf>,
    /// `--max-requests-inflight` and `--max-mutating-requests-inflight`.
    pub(crate) max_in_flight: apiserver::http::limits::MaxInFlight,
    /// How often the store compacts its event log (`--etcd-compaction-interval`).
    pub(crate) compaction_interval: std::time::Duration,
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Config {
    pub(crate) fn from_args(args: UpArgs) -> anyhow::Result<Config> {
        let listen: SocketAddr = args.listen.parse().with_context(|| {
            format!(
                "--listen {:?} is not an address like 127.0.0.1:6443",
                args.listen
            )
        })?;
        if !is_dns_label(&args.cluster_name) {
            bail!(
                "--cluster-name {:?} must be a DNS label (lower-case letters, digits and '-')",
                args.cluster_name
            );
        }
        let pod_cidr = parse_cidr(&args.pod_cidr).context("--pod-cidr")?;
        let service_cidr = parse_cidr(&args.service_cidr).context("--service-cidr")?;
        if pod_cidr.contains(&service_cidr.network()) || service_cidr.contains(&pod_cidr.network())
        {
            bail!("--pod-cidr {pod_cidr} and --service-cidr {service_cidr} overlap");
        }
        let domain = args.cluster_domain.trim_end_matches('.').to_string();
        if domain.is_empty() || !domain.split('.').all(is_dns_label) {
            bail!(
                "--cluster-domain {:?} must be a DNS name such as cluster.local",
                args.cluster_domain
            );
        }
        let (first, last) = args
            .node_port_range
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
            .filter(|(a, b)| 0 < *a && a < b)
            .with_context(|| {
                format!(
                    "--node-port-range {:?} must be first-last, e.g. 30000-32767",
                    args.node_port_range
                )
            })?;
        let data_dir = if args.data_dir.is_absolute() {
            args.data_dir
        } else {
            std::env::current_dir()
                .context("resolve the current directory")?
                .join(args.data_dir)
        };
        let node_name = match args.node_name {
            Some(name) => name,
            None => detect_node_name(),
        };
        if node_name.is_empty() || !node_name.split('.').all(is_dns_label) {
            bail!("node name {node_name:?} must be a DNS name (set --node-name)");
        }
        let pods = !args.no_pods && nix::unistd::geteuid().is_root();
        let dns_listen = args
            .dns_listen
            .iter()
            .map(|a| {
                a.parse::<SocketAddr>().with_context(|| {
                    format!("--dns-listen {a:?} is not an address like 127.0.0.1:5353")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if args.dns_ttl > 3600 {
            bail!("--dns-ttl {} must be at most 3600 seconds", args.dns_ttl);
        }
        let node_ip = match args.node_ip {
            Some(ip) => ip
                .parse()
                .with_context(|| format!("--node-ip {ip:?} is not an IPv4 address"))?,
            // With pods, the bridge's address is this node's address on the pod network:
            // pods, the host and the API all reach it.
            None if pods => Ipv4Addr::from(u32::from(pod_cidr.network()) + 1),
            None => detect_node_ip(),
        };
        Ok(Config {
            data_dir,
            listen,
            cluster_name: args.cluster_name,
            pod_cidr,
            service_cidr,
            node_name,
            node_ip,
            pods,
            cluster_domain: domain,
            node_ports: (first, last),
            dns_listen,
            dns_ttl: args.dns_ttl,
            kernel_proxy: args.proxy_mode == crate::cli::ProxyMode::Nftables,
            manifests: args.filename,
            max_in_flight: apiserver::http::limits::MaxInFlight {
                requests: args.max_requests_inflight,
                mutating: args.max_mutating_requests_inflight,
            },
            compaction_interval: args.etcd_compaction_interval,
        })
    }

    /// The cluster settings for an API server bound at `api_port`, also reachable from pods
    /// on `api_ip` when there is one.
    pub(crate) fn cluster(
        &self,
        api_port: u16,
        api_ip: Option<Ipv4Addr>,
    ) -> apiserver::ClusterConfig {
        apiserver::ClusterConfig {
            service_cidr: self.service_cidr,
            node_ports: self.node_ports,
            node_name: self.node_name.clone(),
            node_ip: self.node_ip,
            cluster_domain: self.cluster_domain.clone(),
            api_port,
            api_ip,
            pod_runtime: self.pods,
            store: apiserver::store::Options {
                compaction_interval: self.compaction_interval,
                ..apiserver::store::Options::default()
            },
        }
    }

    /// The names and addresses the serving certificate must cover: the `kubernetes` Service's
    /// names and ClusterIP, loopback, the listen address (every local address when it is
    /// unspecified) and `api_ip`, where pods reach the API.
    pub(crate) fn api_sans(&self, api_ip: Option<Ipv4Addr>) -> Vec<String> {
        let mut sans = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            format!("kubernetes.default.svc.{}", self.cluster_domain),
            self.cluster(0, None).service_ip(1).to_string(),
        ];
        let ip: IpAddr = self.listen.ip();
        let mut addresses: Vec<IpAddr> = api_ip.into_iter().map(IpAddr::V4).collect();
        if ip.is_unspecified() {
            addresses.push(self.node_ip.into());
            addresses.extend(local_addresses());
        } else {
            addresses.push(ip);
        }
        for address in addresses {
            if !sans.contains(&address.to_string()) {
                sans.push(address.to_string());
            }
        }
        sans
    }
}

impl Config {
    /// Where this cluster keeps host-side runtime state: pod netns bind mounts, per-pod
    /// files. Under the data dir, so `kubicle reset` and the tests' cleanup find all of it.
    pub(crate) fn run_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> UpArgs {
        UpArgs {
            data_dir: "/tmp/x".into(),
            listen: LISTEN.into(),
            cluster_name: "kubicle".into(),
            pod_cidr: POD_CIDR.into(),
            service_cidr: SERVICE_CIDR.into(),
            cluster_domain: "cluster.local.".into(),
            node_port_range: NODE_PORT_RANGE.into(),
            node_name: Some("node-1".into()),
            node_ip: None,
            no_pods: true,
            dns_listen: Vec::new(),
            dns_ttl: 30,
            proxy_mode: crate::cli::ProxyMode::Userspace,
            filename: None,
            max_requests_inflight: 400,
            max_mutating_requests_inflight: 200,
            etcd_compaction_interval: std::time::Duration::from_secs(300),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::from_args(args()).expect("defaults");
        assert_eq!(
            config.cluster(1, None).service_ip(1),
            Ipv4Addr::new(10, 96, 0, 1)
        );
        assert_eq!(
            config.cluster(1, None).service_ip(10),
            Ipv4Addr::new(10, 96, 0, 10)
        );
        assert_eq!(config.cluster_domain, "cluster.local");
        assert!(config.api_sans(None).contains(&"10.96.0.1".to_string()));
    }

    #[test]
    fn the_certificate_covers_where_pods_and_the_host_reach_the_api() {
        let config = Config::from_args(args()).expect("defaults");
        let sans = config.api_sans(Some(Ipv4Addr::new(10, 244, 0, 1)));
        for want in [
            "127.0.0.1",
            "10.96.0.1",
            "10.244.0.1",
            "kubernetes.default.svc",
        ] {
            assert!(sans.contains(&want.to_string()), "{want} in {sans:?}");
        }
        let mut args = args();
        args.listen = "0.0.0.0:6443".into();
        args.node_ip = Some("192.0.2.7".into());
        let sans = Config::from_args(args).expect("valid").api_sans(None);
        assert!(sans.contains(&"192.0.2.7".to_string()), "{sans:?}");
        assert!(!sans.contains(&"0.0.0.0".to_string()), "{sans:?}");
    }

    #[test]
    fn bad_values_are_refused() {
        let bad = |f: fn(&mut UpArgs)| {
            let mut a = args();
            f(&mut a);
            Config::from_args(a).is_err()
        };
        assert!(bad(|a| a.listen = "nope".into()));
        assert!(bad(|a| a.pod_cidr = "10.244.0.1/16".into()));
        assert!(bad(|a| a.pod_cidr = "10.96.0.0/16".into()));
        assert!(bad(|a| a.service_cidr = "10.96.0.0/40".into()));
        assert!(bad(|a| a.cluster_name = "Bad_Name".into()));
        assert!(bad(|a| a.cluster_domain = "".into()));
        assert!(bad(|a| a.node_port_range = "32767-30000".into()));
        assert!(bad(|a| a.node_ip = Some("nope".into())));
        assert!(bad(|a| a.node_name = Some("Bad_Node".into())));
    }
}
