//! [`Config`]: what the DNS server serves and where, checked once before anything binds.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::error::Error;

/// The DNS server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The cluster domain, e.g. `cluster.local` (a trailing dot is allowed).
    pub zone: String,
    /// The TTL of every cluster answer, 0..=3600 s (kubeadm's Corefile says `ttl 30`). Negative
    /// answers carry it as the SOA minimum, and `min(ttl, 300)` as the SOA's own TTL.
    pub ttl: u32,
    /// The cluster DNS Service's IPs (`kube-dns`, normally the 10th IP of the service CIDR).
    /// They are the A/AAAA of `ns.dns.<zone>`, the zone's NS glue.
    pub dns_service_ips: Vec<IpAddr>,
    /// The upstream resolvers. When empty (the default) they are read from `resolv_conf`.
    pub upstreams: Vec<SocketAddr>,
    /// Where the upstream resolvers are read from.
    pub resolv_conf: PathBuf,
    /// Read instead of `resolv_conf` when that lists only loopback stubs (systemd-resolved's
    /// `127.0.0.53`): the file in which systemd-resolved lists the real upstreams.
    pub systemd_resolv_conf: PathBuf,
    /// UDP and TCP are bound on each of these (port 0 picks one port for both).
    pub listen: Vec<SocketAddr>,
    /// Address ranges whose reverse names (`in-addr.arpa`, `ip6.arpa`) dnsd owns, normally
    /// the service and pod CIDRs: a miss there is NXDOMAIN, never forwarded. Reverse names
    /// outside them that match no ClusterIP or endpoint are forwarded, like the
    /// `fallthrough in-addr.arpa ip6.arpa` of kubeadm's Corefile.
    pub reverse_cidrs: Vec<IpNet>,
    /// How long to wait for one upstream before trying the next (CoreDNS forward: 2 s).
    pub upstream_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            zone: "cluster.local".to_string(),
            ttl: 30,
            dns_service_ips: Vec::new(),
            upstreams: Vec::new(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            systemd_resolv_conf: PathBuf::from("/run/systemd/resolve/resolv.conf"),
            listen: Vec::new(),
            reverse_cidrs: Vec::new(),
            upstream_timeout: Duration::from_secs(2),
        }
    }
}

impl Config {
    /// The zone in lower case with its trailing dot (`cluster.local.`), checked.
    pub(crate) fn zone_fqdn(&self) -> Result<String, Error> {
        let invalid = |reason| Error::InvalidZone {
            zone: self.zone.clone(),
            reason,
        };
        let zone = self.zone.trim_end_matches('.').to_ascii_lowercase();
        if zone.is_empty() {
            return Err(invalid("the root zone cannot be the cluster domain"));
        }
        if zone.len() > 253 {
            return Err(invalid("longer than 253 characters"));
        }
        for label in zone.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(invalid("each label must have 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid("labels may hold only letters, digits, '-' and '_'"));
            }
        }
        if self.ttl > 3600 {
            return Err(Error::InvalidTtl { ttl: self.ttl });
        }
        Ok(zone + ".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_is_normalised_and_checked() {
        let mut config = Config {
            zone: "Cluster.Local.".into(),
            ..Config::default()
        };
        assert_eq!(config.zone_fqdn().unwrap(), "cluster.local.");
        config.zone = ".".into();
        assert!(matches!(config.zone_fqdn(), Err(Error::InvalidZone { .. })));
        config.zone = "a..b".into();
        assert!(config.zone_fqdn().is_err());
        config.zone = "a b".into();
        assert!(config.zone_fqdn().is_err());
        config.zone = "example.org".into();
        config.ttl = 3601;
        assert!(matches!(
            config.zone_fqdn(),
            Err(Error::InvalidTtl { ttl: 3601 })
        ));
    }
}
