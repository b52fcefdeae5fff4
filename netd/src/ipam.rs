//! [`Ipam`]: a pure pod IP allocator in the style of the CNI `host-local` plugin.
//!
//! It keeps no state on disk: netd's caller rebuilds it at start from the addresses its pods
//! hold (the API's pods are the truth), so an address is never handed out twice after a crash.
//! Like `host-local` (containernetworking/plugins `pkg/ip/../allocator/range_set.go`,
//! `allocator.go` `GetIter`), it hands out the next free address *after the last one handed
//! out*, wrapping around, so a released address is reused only after a full rotation. That keeps
//! a just-deleted pod's address from going to a new pod while old connections or DNS answers
//! may still point at it.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::Error;

/// A pod IP allocator over one IPv4 CIDR.
///
/// The network address, the gateway (the CIDR's first host address, which the bridge holds)
/// and the broadcast address are never handed out.
#[derive(Debug, Clone)]
pub struct Ipam {
    /// The pod CIDR (host bits cleared).
    cidr: Ipv4Net,
    /// The first address that may be handed out (network + 2), as a number.
    first: u32,
    /// The last address that may be handed out (broadcast - 1), as a number.
    end: u32,
    /// Addresses in use, as numbers, all within `first..=end`.
    used: BTreeSet<u32>,
    /// The address handed out most recently; the search for a free one starts after it.
    last: Option<Ipv4Addr>,
}

impl Ipam {
    /// An allocator over `cidr` with `in_use` already taken; the next allocation starts after
    /// `last` (or at the start of the range when `last` is `None` or outside it).
    ///
    /// Addresses in `in_use` that are outside the range or reserved are ignored.
    pub fn new(
        cidr: Ipv4Net,
        in_use: impl IntoIterator<Item = Ipv4Addr>,
        last: Option<Ipv4Addr>,
    ) -> Ipam {
        let cidr = cidr.trunc();
        let network = u32::from(cidr.network());
        let broadcast = u32::from(cidr.broadcast());
        // For a /31 or /32 `first > end`: the range is empty and every allocation fails.
        let mut ipam = Ipam {
            cidr,
            first: network.saturating_add(2),
            end: broadcast.saturating_sub(1),
            used: BTreeSet::new(),
            last,
        };
        for ip in in_use {
            ipam.reserve(ip);
        }
        ipam
    }

    /// The pod CIDR this allocator hands out addresses from.
    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    /// Hands out the next free address after the last one handed out, wrapping around.
    ///
    /// Returns [`Error::PoolExhausted`] when every address is in use.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, Error> {
        let exhausted = Error::PoolExhausted { cidr: self.cidr };
        if self.first > self.end {
            return Err(exhausted);
        }
        let start = match self.last.map(u32::from) {
            Some(last) if (self.first..self.end).contains(&last) => last + 1,
            _ => self.first,
        };
        let found = self
            .first_free(start, self.end)
            .or_else(|| self.first_free(self.first, start.saturating_sub(1)));
        let Some(ip) = found else {
            return Err(exhausted);
        };
        self.used.insert(ip);
        let ip = Ipv4Addr::from(ip);
        self.last = Some(ip);
        Ok(ip)
    }

    /// The lowest free address in `from..=to`, skipping runs of used ones in one ordered walk.
    fn first_free(&self, from: u32, to: u32) -> Option<u32> {
        if from > to {
            return None;
        }
        let mut candidate = from;
        for &used in self.used.range(from..=to) {
            if used != candidate {
                break;
            }
            if candidate == to {
                return None;
            }
            candidate += 1;
        }
        Some(candidate)
    }

    /// Marks an existing address as used (a pod that already holds it).
    ///
    /// Returns `true` if it was free and is now taken; `false` if it was already used, or is
    /// not an address this allocator hands out.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        (self.first..=self.end).contains(&ip) && self.used.insert(ip)
    }

    /// Gives an address back. Releasing a free or foreign address does nothing.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&u32::from(ip));
    }

    /// The address handed out most recently (what the next allocation starts after).
    pub fn last(&self) -> Option<Ipv4Addr> {
        self.last
    }

    /// Whether `ip` is currently in use.
    pub fn is_used(&self, ip: Ipv4Addr) -> bool {
        self.used.contains(&u32::from(ip))
    }

    /// How many addresses are in use.
    pub fn n_used(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("test cidr")
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test ip")
    }

    #[test]
    fn starts_after_the_gateway_and_goes_in_order() {
        let mut ipam = Ipam::new(net("10.244.0.0/16"), [], None);
        assert_eq!(ipam.allocate().ok(), Some(ip("10.244.0.2")));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.244.0.3")));
        assert_eq!(ipam.last(), Some(ip("10.244.0.3")));
    }

    #[test]
    fn next_after_last_skips_in_use() {
        let in_use = [ip("10.244.0.10"), ip("10.244.0.11"), ip("10.244.0.13")];
        let mut ipam = Ipam::new(net("10.244.0.0/16"), in_use, Some(ip("10.244.0.9")));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.244.0.12")));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.244.0.14")));
    }

    #[test]
    fn released_addresses_come_back_only_after_a_rotation() {
        // 10.0.0.0/29: network .0, gateway .1, broadcast .7, pods .2 to .6.
        let mut ipam = Ipam::new(net("10.0.0.0/29"), [], None);
        let first = ipam.allocate().ok();
        assert_eq!(first, Some(ip("10.0.0.2")));
        ipam.release(ip("10.0.0.2"));
        let rest: Vec<_> = (0..4).filter_map(|_| ipam.allocate().ok()).collect();
        assert_eq!(
            rest,
            [
                ip("10.0.0.3"),
                ip("10.0.0.4"),
                ip("10.0.0.5"),
                ip("10.0.0.6")
            ]
        );
        // Wraps past the broadcast and the network and gateway addresses.
        assert_eq!(ipam.allocate().ok(), Some(ip("10.0.0.2")));
    }

    #[test]
    fn wraps_and_never_hands_out_network_gateway_or_broadcast() {
        let mut ipam = Ipam::new(net("10.0.0.0/29"), [], Some(ip("10.0.0.6")));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.0.0.2")));
        let mut ipam = Ipam::new(net("10.0.0.0/29"), [], Some(ip("10.0.0.7")));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.0.0.2")));
        let mut ipam = Ipam::new(net("10.0.0.0/29"), [], Some(ip("192.168.0.1")));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.0.0.2")));
    }

    #[test]
    fn exhaustion_is_an_error_and_release_makes_room() {
        let mut ipam = Ipam::new(net("10.0.0.0/29"), [], None);
        for _ in 0..5 {
            assert!(ipam.allocate().is_ok());
        }
        assert!(
            matches!(ipam.allocate(), Err(Error::PoolExhausted { cidr }) if cidr == net("10.0.0.0/29"))
        );
        ipam.release(ip("10.0.0.4"));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.0.0.4")));
        assert!(matches!(ipam.allocate(), Err(Error::PoolExhausted { .. })));
    }

    #[test]
    fn tiny_cidrs_have_no_pod_addresses() {
        for cidr in ["10.0.0.0/31", "10.0.0.0/32", "10.0.0.0/30"] {
            let mut ipam = Ipam::new(net(cidr), [], None);
            let got = ipam.allocate();
            if cidr == "10.0.0.0/30" {
                // .0 network, .1 gateway, .2 the one pod, .3 broadcast.
                assert_eq!(got.ok(), Some(ip("10.0.0.2")));
                assert!(ipam.allocate().is_err());
            } else {
                assert!(matches!(got, Err(Error::PoolExhausted { .. })), "{cidr}");
            }
        }
    }

    #[test]
    fn reserve_marks_only_pod_addresses() {
        let mut ipam = Ipam::new(net("10.244.0.0/16"), [], None);
        assert!(ipam.reserve(ip("10.244.0.2")));
        assert!(!ipam.reserve(ip("10.244.0.2")), "already used");
        assert!(!ipam.reserve(ip("10.244.0.0")), "network");
        assert!(!ipam.reserve(ip("10.244.0.1")), "gateway");
        assert!(!ipam.reserve(ip("10.244.255.255")), "broadcast");
        assert!(!ipam.reserve(ip("10.96.0.10")), "outside");
        assert_eq!(ipam.allocate().ok(), Some(ip("10.244.0.3")));
        assert_eq!(ipam.n_used(), 2);
    }

    #[test]
    fn host_bits_in_the_cidr_are_ignored() {
        let mut ipam = Ipam::new(net("10.244.7.9/16"), [], None);
        assert_eq!(ipam.cidr(), net("10.244.0.0/16"));
        assert_eq!(ipam.allocate().ok(), Some(ip("10.244.0.2")));
    }

    /// A small deterministic generator, so the random walk below needs no extra crate and
    /// fails the same way every run.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_allocate_and_release_never_duplicates() {
        let cidr = net("10.1.0.0/24");
        let reserved = [ip("10.1.0.0"), ip("10.1.0.1"), ip("10.1.0.255")];
        for seed in 1..=8u64 {
            let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ seed);
            let mut ipam = Ipam::new(cidr, [], None);
            let mut held: Vec<Ipv4Addr> = Vec::new();
            let mut seen: HashSet<Ipv4Addr> = HashSet::new();
            for step in 0..5_000 {
                // Lean towards allocating so the pool fills up and exhaustion is exercised.
                if rng.next() % 10 < 6 {
                    match ipam.allocate() {
                        Ok(got) => {
                            assert!(cidr.contains(&got), "step {step}: {got} outside");
                            assert!(!reserved.contains(&got), "step {step}: reserved {got}");
                            assert!(!seen.contains(&got), "step {step}: {got} handed out twice");
                            seen.insert(got);
                            held.push(got);
                        }
                        Err(Error::PoolExhausted { .. }) => assert_eq!(held.len(), 253),
                        Err(other) => panic!("step {step}: {other}"),
                    }
                } else if !held.is_empty() {
                    let at = usize::try_from(rng.next() % held.len() as u64).unwrap_or(0);
                    let gone = held.swap_remove(at);
                    seen.remove(&gone);
                    ipam.release(gone);
                }
                assert_eq!(ipam.n_used(), held.len(), "step {step}");
            }
        }
    }

    #[test]
    fn rebuilt_allocator_never_duplicates_held_addresses() {
        let cidr = net("10.2.0.0/28");
        let mut ipam = Ipam::new(cidr, [], None);
        let held: Vec<_> = (0..7).filter_map(|_| ipam.allocate().ok()).collect();
        // A restart: a fresh allocator fed what the pods hold, with no memory of `last`.
        let mut again = Ipam::new(cidr, held.clone(), None);
        while let Ok(got) = again.allocate() {
            assert!(!held.contains(&got), "{got} was already held");
        }
        assert_eq!(again.n_used(), 13);
    }
}
