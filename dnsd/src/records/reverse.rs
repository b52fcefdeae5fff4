//! Reverse names (`in-addr.arpa`, `ip6.arpa`): PTR records for ClusterIPs and endpoint IPs
//! (`reverse.go` `serviceRecordForIP`), and the fallthrough of kubeadm's Corefile.
//!
//! CoreDNS serves both reverse zones and falls through to `forward` on every miss. dnsd does
//! the same, except inside `Config::reverse_cidrs`, whose names are its own: a miss there is
//! NXDOMAIN (SERVFAIL before sync) and never leaves the node.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Data, Outcome, Owner, QType, Record};
use crate::index::{Index, State};

const IP4_ARPA: &str = "in-addr.arpa.";
const IP6_ARPA: &str = "ip6.arpa.";

impl Index {
    /// Answers a name outside the cluster zone: a reverse name, or [`Outcome::Forward`].
    pub(super) fn reverse(&self, qname: &str, lower: &str, qtype: QType) -> Outcome {
        let Some(arpa) = [IP4_ARPA, IP6_ARPA]
            .into_iter()
            .find(|arpa| super::in_zone(lower, arpa))
        else {
            return Outcome::Forward;
        };
        let ip = address_from_reverse(lower);
        let owned = ip.is_some_and(|ip| self.reverse_cidrs.iter().any(|net| net.contains(&ip)));
        let state = self.read();
        let soa = || self.soa_for(&qname[qname.len() - arpa.len()..], state.serial);
        if !self.is_synced() {
            return if owned {
                Outcome::ServFail { soa: soa() }
            } else {
                Outcome::Forward
            };
        }
        let targets = ip
            .map(|ip| self.ptr_targets(&state, ip))
            .unwrap_or_default();
        match (targets.is_empty(), qtype, owned) {
            (false, QType::Ptr, _) => Outcome::Answer {
                answers: targets
                    .into_iter()
                    .map(|target| Record {
                        owner: Owner::Query,
                        ttl: self.ttl,
                        data: Data::Ptr(target),
                    })
                    .collect(),
                additionals: Vec::new(),
            },
            (false, _, true) => Outcome::NoData { soa: soa() },
            (true, _, true) => Outcome::NxDomain { soa: soa() },
            (_, _, false) => Outcome::Forward,
        }
    }

    /// `serviceRecordForIP`: a ClusterIP gives its one Service; otherwise every ready
    /// endpoint with that address gives `<hostname>.<svc>.<ns>.svc.<zone>.` (de-duplicated).
    fn ptr_targets(&self, state: &State, ip: IpAddr) -> Vec<String> {
        if let Some((namespace, name)) = state.cluster_ips.get(&ip).and_then(|keys| keys.first()) {
            return vec![format!("{name}.{namespace}.svc.{}", self.zone)];
        }
        let mut targets: Vec<String> = Vec::new();
        for (namespace, slice_name) in state.endpoint_ips.get(&ip).into_iter().flatten() {
            let Some(ns) = state.namespaces.get(namespace) else {
                continue;
            };
            let Some(slice) = ns.slices.get(slice_name) else {
                continue;
            };
            let publish_not_ready = ns
                .services
                .get(&slice.service)
                .is_some_and(|s| s.publish_not_ready);
            for endpoint in &slice.endpoints {
                if endpoint.ready == Some(false) && !publish_not_ready {
                    continue;
                }
                for address in endpoint.addresses.iter().filter(|a| a.ip == ip) {
                    let target = format!(
                        "{}.{}.{namespace}.svc.{}",
                        address.hostname, slice.service, self.zone
                    );
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
            }
        }
        targets
    }
}

/// `ExtractAddressFromReverse`: `4.3.2.1.in-addr.arpa.` → 1.2.3.4, and 32 nibbles under
/// `ip6.arpa.` → the IPv6 address. Anything shorter or malformed is `None`.
pub(crate) fn address_from_reverse(lower: &str) -> Option<IpAddr> {
    if let Some(labels) = lower.strip_suffix(".in-addr.arpa.") {
        let mut octets = [0u8; 4];
        let mut count = 0;
        for label in labels.rsplit('.') {
            // Decimal without leading zeros, as Go's net.ParseIP wants it.
            if label.is_empty()
                || (label.len() > 1 && label.starts_with('0'))
                || !label.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            *octets.get_mut(count)? = label.parse().ok()?;
            count += 1;
        }
        return (count == 4).then(|| IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let labels = lower.strip_suffix(".ip6.arpa.")?;
    let mut value: u128 = 0;
    let mut count = 0;
    for label in labels.rsplit('.') {
        let mut chars = label.chars();
        let nibble = chars.next()?.to_digit(16)?;
        if chars.next().is_some() {
            return None;
        }
        value = (value << 4) | u128::from(nibble);
        count += 1;
        if count > 32 {
            return None;
        }
    }
    (count == 32).then(|| IpAddr::V6(Ipv6Addr::from(value)))
}

/// The reverse name of `ip`, with its trailing dot.
#[cfg(test)]
pub(crate) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{IP4_ARPA}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::new();
            for nibble in (0..32).map(|i| (u128::from(v6) >> (i * 4)) & 0xf) {
                name.push_str(&format!("{nibble:x}."));
            }
            name + IP6_ARPA
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_round_trip() {
        for ip in ["10.96.0.10", "0.0.0.0", "2001:db8::1", "fd00:10:96::a"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(address_from_reverse(&reverse_name(ip)), Some(ip));
        }
        // The spec's example (DNS-SPEC §1.3).
        assert_eq!(
            address_from_reverse(
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
            ),
            Some("2001:db8::1".parse().unwrap())
        );
        for partial in [
            "0.96.10.in-addr.arpa.",
            "1.2.3.4.5.in-addr.arpa.",
            "01.0.96.10.in-addr.arpa.",
            "x.0.96.10.in-addr.arpa.",
            "in-addr.arpa.",
            "1.0.ip6.arpa.",
            "10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        ] {
            assert_eq!(address_from_reverse(partial), None, "{partial}");
        }
    }
}
