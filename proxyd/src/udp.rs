//! UDP listeners. A flow is a client address; its first datagram picks an endpoint (with
//! affinity, if any) and opens a connected socket to it, and a task relays the replies back
//! from the VIP. The flow is forgotten after [`Config::udp_idle_timeout`](crate::Config)
//! without traffic either way, like a conntrack entry.
//!
//! When the endpoints change, a flow whose endpoint is gone is replaced on its next datagram
//! (kube-proxy clears such conntrack entries, networking doc §5.7); other flows stay put.
//! With no endpoint, datagrams are dropped: a userspace proxy cannot easily send the ICMP
//! port-unreachable that nftables mode's reject would.
//!
//! Receive buffers live on the stack of synchronous helpers, never across an `.await`, so an
//! idle UDP listener costs a socket and a small task, whatever the number of Services.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::socket::{self as nix_socket, MsgFlags, SockaddrStorage};
use tokio::net::UdpSocket;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace, warn};

use crate::balance::later;
use crate::listener::{ListenerState, Shared};

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Datagrams handled per wake-up before yielding to other tasks.
const BATCH: usize = 64;

/// One client's flow.
struct Flow {
    id: u64,
    endpoint: SocketAddr,
    /// The target generation the endpoint was last checked against.
    generation: u64,
    backend: Arc<UdpSocket>,
    activity: Arc<Activity>,
    relay: AbortHandle,
}

/// When a flow last carried a datagram, in milliseconds since it started.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        later(later(self.start, last), idle)
    }
}

/// A UDP listener's flows.
struct Flows {
    socket: Arc<UdpSocket>,
    state: Arc<ListenerState>,
    shared: Arc<Shared>,
    flows: HashMap<SocketAddr, Flow>,
    relays: JoinSet<(SocketAddr, u64)>,
    next_id: u64,
}

/// Serves the UDP listener until `cancel`; then ends every flow before letting go of the
/// socket.
pub(crate) async fn serve(
    socket: UdpSocket,
    state: Arc<ListenerState>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut flows = Flows {
        socket: Arc::new(socket),
        state,
        shared,
        flows: HashMap::new(),
        relays: JoinSet::new(),
        next_id: 0,
    };
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(ended) = flows.relays.join_next() => {
                if let Ok((client, id)) = ended {
                    if flows.flows.get(&client).is_some_and(|flow| flow.id == id) {
                        trace!(%client, "udp flow ended");
                        flows.flows.remove(&client);
                    }
                }
            }
            ready = flows.socket.readable() => {
                if let Err(error) = ready {
                    warn!(%error, "udp listener failed");
                    break;
                }
                flows.receive();
                tokio::task::yield_now().await;
            }
        }
    }
    flows.relays.shutdown().await;
}

impl Flows {
    /// Forwards the datagrams waiting on the listener, up to a batch.
    fn receive(&mut self) {
        let mut buffer = [0u8; MAX_DATAGRAM];
        for _ in 0..BATCH {
            match self.socket.try_recv_from(&mut buffer) {
                Ok((len, client)) => self.forward(&buffer[..len], client),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    debug!(%error, "udp receive failed");
                    return;
                }
            }
        }
    }

    fn forward(&mut self, datagram: &[u8], client: SocketAddr) {
        let target = self.state.target();
        if let Some(flow) = self.flows.get_mut(&client) {
            let current = flow.generation == target.generation
                || target.route.backends.endpoints.contains(&flow.endpoint);
            if current {
                flow.generation = target.generation;
                flow.activity.touch();
                if let Err(error) = send(&flow.backend, datagram, None) {
                    trace!(%client, endpoint = %flow.endpoint, %error, "udp datagram dropped");
                }
                return;
            }
            debug!(%client, endpoint = %flow.endpoint, "udp flow endpoint is gone; picking again");
            if let Some(old) = self.flows.remove(&client) {
                old.relay.abort();
            }
        }
        if self.flows.len() >= self.shared.config.max_udp_flows {
            trace!(%client, "udp flow table full; datagram dropped");
            return;
        }
        let Some(endpoint) = self.state.choose(&target, client.ip(), &[]) else {
            trace!(%client, service = %target.route.service_port, "no endpoint; udp datagram dropped");
            return;
        };
        let backend = match connect(endpoint) {
            Ok(backend) => Arc::new(backend),
            Err(error) => {
                debug!(%client, %endpoint, %error, "cannot open udp flow");
                self.state.forget(&target, client.ip(), endpoint);
                return;
            }
        };
        let activity = Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        self.next_id += 1;
        let id = self.next_id;
        let relay = self.relays.spawn(relay(
            backend.clone(),
            self.socket.clone(),
            client,
            activity.clone(),
            self.shared.config.udp_idle_timeout,
            id,
        ));
        if let Err(error) = send(&backend, datagram, None) {
            trace!(%client, %endpoint, %error, "udp datagram dropped");
        }
        trace!(%client, %endpoint, "udp flow opened");
        let flow = Flow {
            id,
            endpoint,
            generation: target.generation,
            backend,
            activity,
            relay,
        };
        self.flows.insert(client, flow);
    }
}

/// Sends one datagram now or drops it, as a full queue on a router would.
///
/// A direct `send(2)`, not tokio's `try_send`: that one reports `WouldBlock` until the
/// reactor has seen the socket writable once, which would drop the first datagram of every
/// new flow.
fn send(socket: &UdpSocket, datagram: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    let sent = match to {
        None => nix_socket::send(fd, datagram, MsgFlags::MSG_DONTWAIT),
        Some(to) => nix_socket::sendto(
            fd,
            datagram,
            &SockaddrStorage::from(to),
            MsgFlags::MSG_DONTWAIT,
        ),
    };
    sent.map_err(io::Error::from)
}

/// A socket connected to `endpoint` from an ephemeral port.
fn connect(endpoint: SocketAddr) -> io::Result<UdpSocket> {
    let any = match endpoint.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    socket.connect(endpoint)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Relays the endpoint's replies to `client` from the listener's address until the flow has
/// been idle for `idle` or the endpoint refuses (ICMP port unreachable).
async fn relay(
    backend: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    activity: Arc<Activity>,
    idle: Duration,
    id: u64,
) -> (SocketAddr, u64) {
    loop {
        let deadline = activity.idle_deadline(idle);
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                if activity.idle_deadline(idle) <= Instant::now() {
                    break;
                }
            }
            ready = backend.readable() => {
                if ready.is_err() || relay_ready(&backend, &listener, client, &activity).is_err() {
                    break;
                }
            }
        }
    }
    (client, id)
}

fn relay_ready(
    backend: &UdpSocket,
    listener: &UdpSocket,
    client: SocketAddr,
    activity: &Activity,
) -> io::Result<()> {
    let mut buffer = [0u8; MAX_DATAGRAM];
    for _ in 0..BATCH {
        match backend.try_recv(&mut buffer) {
            Ok(len) => {
                activity.touch();
                if let Err(error) = send(listener, &buffer[..len], Some(client)) {
                    trace!(%client, %error, "udp reply dropped");
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) => {
                trace!(%client, %error, "udp endpoint failed");
                return Err(error);
            }
        }
    }
    Ok(())
}
