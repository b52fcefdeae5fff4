//! Endpoint choice: a uniform random pick per new connection or flow, and `ClientIP` session
//! affinity. Pure: the caller passes the random source and the time, so tests seed the one
//! and pause the other.
//!
//! kube-proxy's nftables mode picks with `numgen random mod n` and its iptables mode with a
//! cascade of `statistic --probability 1/(n-i)` rules; both are uniform per new connection
//! (networking doc §4.4). Affinity mirrors the per-endpoint `affinity-*` sets: the key is the
//! client IP only, per service port, and every new connection through an endpoint refreshes
//! its timeout (`update @affinity-… { ip saddr }`, §5.5).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Client IPs remembered per service port before expired entries are swept; past this, new
/// clients are balanced without being pinned rather than growing the map without bound.
pub const MAX_AFFINITY_CLIENTS: usize = 65_536;

/// Picks uniformly among `endpoints` that are not in `tried`; `None` when none is left.
///
/// `tried` holds the endpoints that already refused this connection, so a retry never lands
/// on the same one twice.
pub fn pick<R: Rng + ?Sized>(
    endpoints: &[SocketAddr],
    tried: &[SocketAddr],
    rng: &mut R,
) -> Option<SocketAddr> {
    if tried.is_empty() {
        if endpoints.is_empty() {
            return None;
        }
        return Some(endpoints[rng.random_range(0..endpoints.len())]);
    }
    let left = endpoints.iter().filter(|e| !tried.contains(e)).count();
    if left == 0 {
        return None;
    }
    let nth = rng.random_range(0..left);
    endpoints
        .iter()
        .filter(|e| !tried.contains(e))
        .nth(nth)
        .copied()
}

/// One pinned client.
#[derive(Clone, Copy, Debug)]
struct Pin {
    endpoint: SocketAddr,
    expires: Instant,
}

/// `sessionAffinity: ClientIP` state of one service port: client IP → endpoint, each entry
/// valid for `timeout` after the last connection that used it.
#[derive(Debug)]
pub struct Affinity {
    timeout: Duration,
    pins: HashMap<IpAddr, Pin>,
    capacity: usize,
}

impl Affinity {
    /// Empty state with the Service's `timeoutSeconds`.
    pub fn new(timeout: Duration) -> Affinity {
        Affinity::with_capacity(timeout, MAX_AFFINITY_CLIENTS)
    }

    /// Empty state that remembers at most `capacity` clients.
    pub fn with_capacity(timeout: Duration, capacity: usize) -> Affinity {
        Affinity {
            timeout,
            pins: HashMap::new(),
            capacity,
        }
    }

    /// The timeout entries are kept for.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The number of clients currently remembered (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.pins.len()
    }

    /// Whether no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }

    /// The endpoint `client` is pinned to, if the pin has not expired.
    pub fn get(&self, client: IpAddr, now: Instant) -> Option<SocketAddr> {
        self.pins
            .get(&client)
            .filter(|pin| pin.expires > now)
            .map(|pin| pin.endpoint)
    }

    /// Pins `client` to `endpoint` for the timeout from `now`.
    pub fn set(&mut self, client: IpAddr, endpoint: SocketAddr, now: Instant) {
        if self.pins.len() >= self.capacity && !self.pins.contains_key(&client) {
            self.pins.retain(|_, pin| pin.expires > now);
            if self.pins.len() >= self.capacity {
                return;
            }
        }
        let expires = later(now, self.timeout);
        self.pins.insert(client, Pin { endpoint, expires });
    }

    /// Forgets `client` if it is pinned to `endpoint` (which just refused a connection).
    pub fn forget(&mut self, client: IpAddr, endpoint: SocketAddr) {
        if self
            .pins
            .get(&client)
            .is_some_and(|pin| pin.endpoint == endpoint)
        {
            self.pins.remove(&client);
        }
    }
}

/// `now + duration`, saturating at about 30 years rather than overflowing.
pub(crate) fn later(now: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);
    now.checked_add(duration.min(FAR)).unwrap_or(now)
}

/// The endpoint for a new connection from `client`: its pinned endpoint while that is still
/// usable and not in `tried`, else a uniform pick, which then becomes the pin.
pub fn choose<R: Rng + ?Sized>(
    endpoints: &[SocketAddr],
    affinity: Option<&mut Affinity>,
    client: IpAddr,
    tried: &[SocketAddr],
    now: Instant,
    rng: &mut R,
) -> Option<SocketAddr> {
    let Some(affinity) = affinity else {
        return pick(endpoints, tried, rng);
    };
    if let Some(pinned) = affinity.get(client, now) {
        if endpoints.contains(&pinned) && !tried.contains(&pinned) {
            affinity.set(client, pinned, now);
            return Some(pinned);
        }
    }
    let endpoint = pick(endpoints, tried, rng)?;
    affinity.set(client, endpoint, now);
    Some(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn addrs(n: u8) -> Vec<SocketAddr> {
        (1..=n)
            .map(|i| SocketAddr::from(([10, 244, 0, i], 8080)))
            .collect()
    }

    fn client(i: u8) -> IpAddr {
        IpAddr::from([10, 244, 1, i])
    }

    #[test]
    fn pick_is_uniform_over_endpoints() {
        let endpoints = addrs(4);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = HashMap::new();
        for _ in 0..40_000 {
            let e = pick(&endpoints, &[], &mut rng).expect("an endpoint");
            *counts.entry(e).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 4);
        for (endpoint, count) in counts {
            assert!((9_000..11_000).contains(&count), "{endpoint}: {count}");
        }
    }

    #[test]
    fn pick_skips_tried_endpoints_and_ends() {
        let endpoints = addrs(3);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut tried = Vec::new();
        while let Some(e) = pick(&endpoints, &tried, &mut rng) {
            assert!(!tried.contains(&e));
            tried.push(e);
        }
        tried.sort();
        assert_eq!(tried, endpoints);
        assert_eq!(pick(&[], &[], &mut rng), None);
    }

    #[test]
    fn pick_after_a_refusal_is_uniform_over_the_rest() {
        let endpoints = addrs(3);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut counts = HashMap::new();
        for _ in 0..20_000 {
            let e = pick(&endpoints, &endpoints[..1], &mut rng).expect("an endpoint");
            *counts.entry(e).or_insert(0u32) += 1;
        }
        assert!(!counts.contains_key(&endpoints[0]));
        assert!(
            counts.values().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn picks_only_from_the_given_set() {
        // The table hands the picker ready endpoints only; whatever the seed, nothing else
        // comes out.
        let ready = addrs(2);
        for seed in 0..200 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let e = choose(&ready, None, client(1), &[], Instant::now(), &mut rng);
            assert!(e.is_some_and(|e| ready.contains(&e)));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn affinity_pins_until_timeout() {
        let endpoints = addrs(5);
        let mut rng = SmallRng::seed_from_u64(11);
        let mut affinity = Affinity::new(Duration::from_secs(10));
        let first = choose(
            &endpoints,
            Some(&mut affinity),
            client(1),
            &[],
            Instant::now(),
            &mut rng,
        )
        .expect("an endpoint");
        for _ in 0..50 {
            tokio::time::advance(Duration::from_secs(9)).await;
            // Each connection refreshes the pin, as the nftables `update` does.
            let again = choose(
                &endpoints,
                Some(&mut affinity),
                client(1),
                &[],
                Instant::now(),
                &mut rng,
            );
            assert_eq!(again, Some(first));
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(affinity.get(client(1), Instant::now()), None);
        // After expiry the next pick is random again: over many clients, all endpoints appear.
        let mut seen = std::collections::HashSet::new();
        for i in 0..100 {
            let now = Instant::now();
            seen.insert(choose(
                &endpoints,
                Some(&mut affinity),
                client(i),
                &[],
                now,
                &mut rng,
            ));
        }
        assert_eq!(seen.len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn affinity_is_per_client_and_repicks_when_the_endpoint_goes() {
        let endpoints = addrs(3);
        let mut rng = SmallRng::seed_from_u64(5);
        let mut affinity = Affinity::new(Duration::from_secs(60));
        let now = Instant::now();
        let pinned = choose(
            &endpoints,
            Some(&mut affinity),
            client(1),
            &[],
            now,
            &mut rng,
        )
        .expect("an endpoint");
        let rest: Vec<SocketAddr> = endpoints.iter().copied().filter(|e| *e != pinned).collect();
        let moved =
            choose(&rest, Some(&mut affinity), client(1), &[], now, &mut rng).expect("an endpoint");
        assert!(rest.contains(&moved));
        assert_eq!(affinity.get(client(1), now), Some(moved));
        // A refusal of the pinned endpoint moves the client on too.
        let retried = choose(
            &rest,
            Some(&mut affinity),
            client(1),
            &[moved],
            now,
            &mut rng,
        );
        assert!(retried.is_some_and(|e| e != moved));
    }

    #[test]
    fn a_huge_timeout_saturates_instead_of_overflowing() {
        let mut affinity = Affinity::new(Duration::MAX);
        let now = Instant::now();
        affinity.set(client(1), addrs(1)[0], now);
        assert_eq!(affinity.get(client(1), now), Some(addrs(1)[0]));
    }

    #[tokio::test(start_paused = true)]
    async fn affinity_is_bounded() {
        let endpoints = addrs(2);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut affinity = Affinity::with_capacity(Duration::from_secs(5), 10);
        for i in 0..20 {
            choose(
                &endpoints,
                Some(&mut affinity),
                client(i),
                &[],
                Instant::now(),
                &mut rng,
            );
        }
        assert_eq!(affinity.len(), 10);
        tokio::time::advance(Duration::from_secs(6)).await;
        // Expired entries are swept when room is needed.
        choose(
            &endpoints,
            Some(&mut affinity),
            client(100),
            &[],
            Instant::now(),
            &mut rng,
        );
        assert_eq!(affinity.len(), 1);
        affinity.forget(client(100), endpoints[0]);
        affinity.forget(client(100), endpoints[1]);
        assert!(affinity.is_empty());
    }
}
