//! ClusterIP and NodePort allocation, as the real API server's allocators do it.
//!
//! Both are one [`Range`]: indexes `0..size`, split into a static lower band (preferred for
//! addresses users ask for) and a dynamic upper band where automatic allocation starts at a
//! random index and scans with wrap-around, falling back to the lower band when full
//! (KEP-3070 for ClusterIPs, KEP-3668 for NodePorts; `pkg/registry/core/service/allocator/bitmap.go`).
//!
//! **Architecture Invariant:** the allocators hold no state of their own that matters across
//! restarts: `Api::open` rebuilds them from the stored Services, so an allocation exists
//! exactly when a committed Service holds it, also after a `kill -9`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rand::Rng;

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The requested value is outside the range.
    #[error("not in the valid range")]
    OutOfRange,
    /// The requested value is taken.
    #[error("provided {0} is already allocated")]
    Taken(&'static str),
    /// Nothing is free.
    #[error("range is full")]
    Full,
}

/// A set of indexes `0..size` with a static band `0..offset` and a dynamic band `offset..size`.
#[derive(Debug, Clone)]
pub struct Range {
    size: u32,
    offset: u32,
    used: BTreeSet<u32>,
}

impl Range {
    /// A range of `size` indexes split at `offset`.
    pub fn new(size: u32, offset: u32) -> Range {
        Range {
            size,
            offset: offset.min(size),
            used: BTreeSet::new(),
        }
    }

    /// Takes a specific index.
    pub fn take(&mut self, index: u32) -> Result<(), AllocError> {
        if index >= self.size {
            return Err(AllocError::OutOfRange);
        }
        if !self.used.insert(index) {
            return Err(AllocError::Taken("value"));
        }
        Ok(())
    }

    /// Takes a free index: the dynamic band first, from a random start, then the static band.
    pub fn take_any(&mut self, rng: &mut impl Rng) -> Result<u32, AllocError> {
        for (start, end) in [(self.offset, self.size), (0, self.offset)] {
            if let Some(index) = self.scan(start, end, rng) {
                self.used.insert(index);
                return Ok(index);
            }
        }
        Err(AllocError::Full)
    }

    fn scan(&self, start: u32, end: u32, rng: &mut impl Rng) -> Option<u32> {
        let len = end.checked_sub(start).filter(|l| *l > 0)?;
        let first = rng.random_range(0..len);
        (0..len)
            .map(|i| start + (first + i) % len)
            .find(|index| !self.used.contains(index))
    }

    /// Gives an index back; unknown indexes are ignored.
    pub fn release(&mut self, index: u32) {
        self.used.remove(&index);
    }

    /// How many indexes are taken.
    pub fn used(&self) -> usize {
        self.used.len()
    }
}

/// ClusterIPs of one service CIDR. Index `i` is the address `network + 1 + i`; the network
/// and broadcast addresses are never handed out.
#[derive(Debug, Clone)]
pub struct ClusterIps {
    cidr: Ipv4Net,
    range: Range,
}

impl ClusterIps {
    /// The allocator of `cidr`: at most 2^16 usable addresses, split per KEP-3070 at
    /// `min(max(16, size/16), 256)` (no split below 16 addresses).
    pub fn new(cidr: Ipv4Net) -> ClusterIps {
        // The band offset comes from the whole CIDR's size (`calculateRangeOffset` in
        // pkg/registry/core/service/ipallocator); the usable size leaves out the network and
        // broadcast addresses and is capped at 2^16.
        let cidr_size = 1u64 << (32 - u32::from(cidr.prefix_len()));
        let size = cidr_size.saturating_sub(2).min(1 << 16) as u32;
        let offset = if cidr_size < 16 {
            0
        } else {
            (cidr_size / 16).clamp(16, 256) as u32
        };
        ClusterIps {
            cidr,
            range: Range::new(size, offset),
        }
    }

    /// The CIDR served.
    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    /// The n-th usable address (1 = the `kubernetes` Service, 10 = `kube-dns`).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.network()).wrapping_add(n))
    }

    fn index(&self, ip: Ipv4Addr) -> Option<u32> {
        if !self.cidr.contains(&ip) {
            return None;
        }
        (u32::from(ip) - u32::from(self.cidr.network())).checked_sub(1)
    }

    /// Takes a requested address.
    pub fn take(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        let index = self.index(ip).ok_or(AllocError::OutOfRange)?;
        self.range.take(index).map_err(|e| match e {
            AllocError::Taken(_) => AllocError::Taken("IP"),
            other => other,
        })
    }

    /// Takes a free address.
    pub fn take_any(&mut self, rng: &mut impl Rng) -> Result<Ipv4Addr, AllocError> {
        let index = self.range.take_any(rng)?;
        Ok(self.nth(index + 1))
    }

    /// Gives an address back.
    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(index) = self.index(ip) {
            self.range.release(index);
        }
    }

    /// Addresses in use.
    pub fn used(&self) -> usize {
        self.range.used()
    }
}

/// NodePorts of one inclusive port range, split per KEP-3668 at `min(max(16, size/32), 128)`.
#[derive(Debug, Clone)]
pub struct NodePorts {
    first: u16,
    last: u16,
    range: Range,
}

impl NodePorts {
    /// The allocator of `first..=last`.
    pub fn new(first: u16, last: u16) -> NodePorts {
        let size = u32::from(last.saturating_sub(first)) + 1;
        let offset = (size / 32).clamp(16, 128).min(size);
        NodePorts {
            first,
            last,
            range: Range::new(size, offset),
        }
    }

    /// The range as `first-last`.
    pub fn describe(&self) -> String {
        format!("{}-{}", self.first, self.last)
    }

    /// Takes a requested port.
    pub fn take(&mut self, port: u16) -> Result<(), AllocError> {
        if port < self.first || port > self.last {
            return Err(AllocError::OutOfRange);
        }
        self.range
            .take(u32::from(port - self.first))
            .map_err(|e| match e {
                AllocError::Taken(_) => AllocError::Taken("port"),
                other => other,
            })
    }

    /// Takes a free port.
    pub fn take_any(&mut self, rng: &mut impl Rng) -> Result<u16, AllocError> {
        let index = self.range.take_any(rng)?;
        Ok(self.first + index as u16)
    }

    /// Gives a port back.
    pub fn release(&mut self, port: u16) {
        if port >= self.first && port <= self.last {
            self.range.release(u32::from(port - self.first));
        }
    }

    /// Ports in use.
    pub fn used(&self) -> usize {
        self.range.used()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn rng(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    #[test]
    fn bands_follow_the_keps() {
        let ips = ClusterIps::new("10.96.0.0/12".parse().expect("cidr"));
        assert_eq!((ips.range.size, ips.range.offset), (65536, 256));
        assert_eq!(ips.nth(1), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(ips.nth(10), Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(
            ClusterIps::new("10.0.0.0/22".parse().expect("cidr"))
                .range
                .offset,
            64
        );
        assert_eq!(
            ClusterIps::new("10.0.0.0/26".parse().expect("cidr"))
                .range
                .offset,
            16
        );
        assert_eq!(
            ClusterIps::new("10.0.0.0/29".parse().expect("cidr"))
                .range
                .offset,
            0
        );
        let ports = NodePorts::new(30000, 32767);
        assert_eq!((ports.range.size, ports.range.offset), (2768, 86));
    }

    #[test]
    fn dynamic_allocation_prefers_the_upper_band_and_is_random() {
        let mut ips = ClusterIps::new("10.96.0.0/12".parse().expect("cidr"));
        let mut r = rng(1);
        let a = ips.take_any(&mut r).expect("a");
        let b = ips.take_any(&mut r).expect("b");
        assert!(u32::from(a) > u32::from(Ipv4Addr::new(10, 96, 1, 0)), "{a}");
        assert_ne!(u32::from(b), u32::from(a) + 1, "not sequential");
        assert_eq!(ips.take(a), Err(AllocError::Taken("IP")));
        assert_eq!(
            ips.take(Ipv4Addr::new(10, 200, 0, 1)),
            Err(AllocError::OutOfRange)
        );
        assert_eq!(
            ips.take(Ipv4Addr::new(10, 96, 0, 0)),
            Err(AllocError::OutOfRange)
        );
        assert!(ips.take(Ipv4Addr::new(10, 96, 0, 10)).is_ok());
    }

    /// Thousands of random take/release sequences never hand out one value twice, never leak
    /// one, and a full range fails cleanly without corrupting state.
    #[test]
    fn random_sequences_never_duplicate_or_leak() {
        for seed in 0..20 {
            let mut r = rng(seed);
            let mut ports = NodePorts::new(30000, 30099);
            let mut ips = ClusterIps::new("10.0.0.0/25".parse().expect("cidr"));
            let mut held_ports: HashSet<u16> = HashSet::new();
            let mut held_ips: HashSet<Ipv4Addr> = HashSet::new();
            for _ in 0..3000 {
                match r.random_range(0..4) {
                    0 => match ports.take_any(&mut r) {
                        Ok(p) => assert!(held_ports.insert(p), "port {p} handed out twice"),
                        Err(e) => {
                            assert_eq!(e, AllocError::Full);
                            assert_eq!(held_ports.len(), 100);
                        }
                    },
                    1 => {
                        if let Some(&p) = held_ports.iter().next() {
                            held_ports.remove(&p);
                            ports.release(p);
                        }
                    }
                    2 => match ips.take_any(&mut r) {
                        Ok(ip) => assert!(held_ips.insert(ip), "ip {ip} handed out twice"),
                        Err(e) => {
                            assert_eq!(e, AllocError::Full);
                            assert_eq!(held_ips.len(), 126);
                        }
                    },
                    _ => {
                        let want = Ipv4Addr::new(10, 0, 0, r.random_range(1..127));
                        match ips.take(want) {
                            Ok(()) => assert!(held_ips.insert(want)),
                            Err(AllocError::Taken(_)) => assert!(held_ips.contains(&want)),
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                }
                assert_eq!(ports.used(), held_ports.len(), "port leak");
                assert_eq!(ips.used(), held_ips.len(), "ip leak");
            }
        }
    }
}
