//! proxyd: kubicle's kube-proxy, in userspace on tokio. It listens on every Service VIP
//! (ClusterIPs, external IPs, NodePorts on the node's addresses, LoadBalancer ingress IPs and
//! `127.0.0.1:<port>` for LoadBalancers) and forwards each TCP connection or UDP flow to an
//! endpoint of the Service.
//!
//! The glue feeds Services and EndpointSlices (as the API's JSON) to [`table::build`], a pure
//! function, and hands the resulting [`VipTable`] to [`Proxy::apply`], which reconciles the
//! bound listeners: new ones are bound, removed ones closed, and a listener whose endpoints
//! changed keeps its socket and swaps its endpoint set in place. Established connections keep
//! their backend across applies. Bind failures (a taken port, a port two Services claim) come
//! back in the [`ApplyReport`] and are retried by the next apply.
//!
//! **Readiness:** nothing is bound before the first [`Proxy::apply`]; the glue calls it once
//! its Service and EndpointSlice stores have synced. Until then a VIP has no listener, so the
//! kernel refuses connections to it (RST), which is what the style guide asks of proxyd.
//!
//! Layout, in reading order:
//! - `table.rs`: [`table::build`], Services + EndpointSlices → [`VipTable`] (pure).
//! - `balance.rs`: the uniform random pick and `ClientIP` affinity (pure, seedable).
//! - `socket.rs`: binding with `SO_REUSEADDR` and `IP_FREEBIND`; [`BindError`].
//! - `listener.rs`: [`Proxy`], reconciling listeners against a table; the TCP accept loop.
//! - `conn.rs`: one TCP connection: pick, connect with retry, or reset; then forward.
//! - `splice.rs`: the TCP data path, splice(2) through pooled pipes, with half-close.
//! - `udp.rs`: UDP listeners, one flow per client address with an idle timeout.
//! - `error.rs`: [`Error`], what can fail when starting.
//! - `feed.rs`: [`feed::run`], proxyd fed from the API's informers: rebuilds the table after
//!   each burst of changes, keeps the ClusterIPs local on the node (netd), and reports what
//!   cannot bind as an event and a Service condition.
//!
//! **Differences from kube-proxy** (networking doc §5.9), all inherent to a userspace proxy:
//! - backends see the proxy's source address, not the client's (nothing is masqueraded;
//!   nothing needs to be);
//! - a TCP connection with no usable endpoint is accepted and reset, also under a `Local`
//!   traffic policy where nftables mode would drop; UDP datagrams with no endpoint are
//!   dropped instead of answered with ICMP port-unreachable;
//! - SCTP ports are not served (reported in [`VipTable::skipped`]);
//! - NodePorts listen on [`Config::node_addresses`] only, so on loopback only if the glue
//!   lists it there (nftables mode never serves localhost NodePorts).
//!
//! **Architecture Invariant:** the data path does one lookup per connection: each listener
//! holds its own service port's endpoint set; nothing scans the whole table.
//! **Architecture Invariant:** proxyd never binds a wildcard address, so a known VIP on an
//! unknown port is refused by the kernel, as nftables mode's `cluster-ips-check` rejects it.

#![warn(missing_docs)]

use std::net::IpAddr;
use std::time::Duration;

pub mod balance;
mod conn;
mod error;
pub mod feed;
mod listener;
mod socket;
mod splice;
pub mod table;
mod udp;

pub use error::Error;
pub use listener::{ApplyReport, BindFailure, Proxy};
pub use socket::BindError;
pub use table::{ListenerKey, ListenerKind, Protocol, ServiceName, ServicePortName, VipTable};

/// How TCP bytes are moved between the client and the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataPath {
    /// splice(2) through a pipe: the bytes never enter userspace (the faster one, see
    /// `benches/proxy.rs`).
    #[default]
    Splice,
    /// `tokio::io::copy_bidirectional` with 64 KiB buffers.
    Copy,
}

/// Validated proxyd settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The node addresses NodePorts listen on (kube-proxy's `--nodeport-addresses`).
    pub node_addresses: Vec<IpAddr>,
    /// This node's name, for `internalTrafficPolicy`/`externalTrafficPolicy: Local`; `None`
    /// counts every endpoint as local (right for a single-node cluster).
    pub node_name: Option<String>,
    /// Also listen on `127.0.0.1:<port>` (and `[::1]` for IPv6 Services) for each
    /// LoadBalancer port, so `curl localhost:<port>` reaches the Service.
    pub load_balancer_localhost: bool,
    /// How long one connect attempt to an endpoint may take before another is tried.
    pub connect_timeout: Duration,
    /// Endpoints tried per connection (a refused or timed-out connect moves to the next).
    pub connect_attempts: usize,
    /// A UDP flow (client address → endpoint) is forgotten after this long without a
    /// datagram in either direction.
    pub udp_idle_timeout: Duration,
    /// Open TCP connections across all listeners; past it, listeners stop accepting.
    pub max_connections: usize,
    /// UDP flows per listener; datagrams of new flows past it are dropped.
    pub max_udp_flows: usize,
    /// After shutdown starts, how long open connections may go on before they are cut.
    pub drain_timeout: Duration,
    /// How TCP bytes are moved.
    pub data_path: DataPath,
    /// Seed for the endpoint picker (tests); `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            node_addresses: Vec::new(),
            node_name: None,
            load_balancer_localhost: true,
            connect_timeout: Duration::from_secs(2),
            connect_attempts: 4,
            udp_idle_timeout: Duration::from_secs(30),
            max_connections: 8192,
            max_udp_flows: 4096,
            drain_timeout: Duration::from_secs(5),
            data_path: DataPath::default(),
            seed: None,
        }
    }
}

impl Config {
    /// Checks the ranges `Proxy::new` relies on.
    pub fn validate(&self) -> Result<(), Error> {
        let rules = [
            (
                !self.connect_timeout.is_zero(),
                "connect_timeout",
                "must be positive",
            ),
            (
                self.connect_attempts > 0,
                "connect_attempts",
                "must be at least 1",
            ),
            (
                !self.udp_idle_timeout.is_zero(),
                "udp_idle_timeout",
                "must be positive",
            ),
            (
                self.max_connections > 0,
                "max_connections",
                "must be at least 1",
            ),
            // The semaphore that enforces it cannot hold more permits.
            (
                self.max_connections <= tokio::sync::Semaphore::MAX_PERMITS,
                "max_connections",
                "is too large",
            ),
            (
                self.max_udp_flows > 0,
                "max_udp_flows",
                "must be at least 1",
            ),
        ];
        match rules.into_iter().find(|(ok, _, _)| !ok) {
            Some((_, field, reason)) => Err(Error::Config { field, reason }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn proxy_needs_a_runtime_and_a_valid_config() {
        let error =
            Proxy::new(Config::default(), CancellationToken::new()).expect_err("no runtime");
        assert!(matches!(error, Error::NoRuntime(_)), "{error:?}");
        let config = Config {
            connect_attempts: 0,
            ..Config::default()
        };
        let error = config.validate().expect_err("zero attempts");
        assert_eq!(
            error.to_string(),
            "invalid proxyd config: connect_attempts must be at least 1"
        );
        assert!(Config::default().validate().is_ok());
    }
}
