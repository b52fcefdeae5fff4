//! [`Server`]: the UDP sockets and TCP listeners, bound before anything is served, then
//! served with the [`Handler`] until shutdown: TCP by hickory's `Server`, UDP by dnsd's own
//! loops (`server/udp.rs`), which answer cluster names without a task per packet.
//!
//! Each listen address gets a UDP socket and a TCP listener on the same port; with port 0 the
//! UDP socket picks the port and TCP binds the same one (retrying a few times should another
//! process hold it), so clients can fall back to TCP on a truncated answer.

mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::NetError;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use crate::config::Config;
use crate::error::Error;
use crate::handler::{Forwarder, Handler};
use crate::index::Index;
use crate::upstream;

/// A TCP connection that sends nothing for this long is closed (CoreDNS: 10 s idle timeout).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// Attempts to find a port free for both UDP and TCP when port 0 is asked for.
const PORT_ATTEMPTS: usize = 16;

/// The cluster DNS server, bound and ready to run.
#[derive(Debug)]
pub struct Server {
    sockets: Vec<(UdpSocket, TcpListener)>,
    local_addrs: Vec<SocketAddr>,
    upstreams: Vec<SocketAddr>,
    handler: Handler,
}

impl Server {
    /// Binds UDP and TCP on every `config.listen` address and reads the upstream resolvers.
    /// Nothing is served until [`Server::run`].
    pub async fn bind(config: &Config, index: Arc<Index>) -> Result<Server, Error> {
        config.zone_fqdn()?;
        if config.listen.is_empty() {
            return Err(Error::NoListenAddress);
        }
        let mut sockets = Vec::with_capacity(config.listen.len());
        let mut local_addrs = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            let (udp, tcp, local) = bind_pair(*addr).await?;
            sockets.push((udp, tcp));
            local_addrs.push(local);
        }
        let upstreams = if config.upstreams.is_empty() {
            upstream::upstreams(
                &config.resolv_conf,
                &config.systemd_resolv_conf,
                &local_addrs,
            )?
        } else {
            upstream::without_own(config.upstreams.clone(), &local_addrs)
        };
        let forwarder = Forwarder::new(upstreams.clone(), config.upstream_timeout);
        Ok(Server {
            sockets,
            local_addrs,
            upstreams,
            handler: Handler::new(index, forwarder),
        })
    }

    /// The bound addresses, one per listen address (UDP and TCP share it).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The upstream resolvers names outside the cluster are forwarded to (empty: REFUSED).
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Serves until `shutdown` is cancelled, or until a listener fails.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        for addr in &self.local_addrs {
            info!(%addr, "dns listening on udp and tcp");
        }
        if self.upstreams.is_empty() {
            warn!("no upstream resolvers: names outside the cluster will be refused");
        } else {
            info!(upstreams = ?self.upstreams, "forwarding other names");
        }
        let mut tcp = hickory_server::Server::new(self.handler.clone());
        let mut udp = JoinSet::new();
        let stop_udp = shutdown.child_token();
        for ((socket, listener), addr) in self.sockets.into_iter().zip(&self.local_addrs) {
            tcp.register_listener(listener, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
            let serve = udp::serve(socket, *addr, self.handler.clone(), stop_udp.clone());
            udp.spawn(serve.in_current_span());
        }
        let first = tokio::select! {
            result = tcp.block_until_done() => Ended::Tcp(result),
            Some(joined) = udp.join_next() => Ended::Udp(joined),
            () = shutdown.cancelled() => Ended::Shutdown,
        };
        // Whatever ended first, the rest stops too (a dead listener ends the whole server).
        stop_udp.cancel();
        let serve_error = |e: NetError| Error::Serve { source: e.into() };
        let mut result = Ok(());
        if let Ended::Tcp(tcp_result) = first {
            keep_first(&mut result, tcp_result.map_err(serve_error));
        } else {
            if let Ended::Udp(joined) = first {
                keep_first(&mut result, udp_result(joined));
            } else {
                info!("dns shutting down");
            }
            keep_first(
                &mut result,
                tcp.shutdown_gracefully().await.map_err(serve_error),
            );
        }
        while let Some(joined) = udp.join_next().await {
            keep_first(&mut result, udp_result(joined));
        }
        result
    }
}

/// What ended first while serving.
enum Ended {
    /// Every TCP listener (hickory ends them together, after the last).
    Tcp(Result<(), NetError>),
    /// A UDP loop.
    Udp(Result<Result<(), Error>, JoinError>),
    /// The shutdown token fired.
    Shutdown,
}

/// How a UDP loop ended, a panic included.
fn udp_result(joined: Result<Result<(), Error>, JoinError>) -> Result<(), Error> {
    joined.unwrap_or_else(|e| Err(Error::Serve { source: e.into() }))
}

/// Keeps the first error of several.
fn keep_first(result: &mut Result<(), Error>, next: Result<(), Error>) {
    if result.is_ok() {
        *result = next;
    }
}

/// A UDP socket and a TCP listener on the same address.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener, SocketAddr), Error> {
    let mut last_error = None;
    for _ in 0..PORT_ATTEMPTS {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| Error::BindUdp { addr, source })?;
        let local = udp
            .local_addr()
            .map_err(|source| Error::BindUdp { addr, source })?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp, local)),
            // Port 0 gave a UDP port whose TCP twin is taken: try another.
            Err(source) if addr.port() == 0 && source.kind() == std::io::ErrorKind::AddrInUse => {
                last_error = Some(source);
            }
            Err(source) => return Err(Error::BindTcp { addr, source }),
        }
    }
    Err(Error::BindTcp {
        addr,
        source: last_error.unwrap_or_else(|| std::io::Error::other("no free port")),
    })
}
