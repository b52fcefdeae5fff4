//! Binding listener sockets: TCP with `SO_REUSEADDR` (a restarted proxy rebinds while old
//! connections sit in TIME_WAIT) and both protocols with `IP_FREEBIND`, so a listener can be
//! bound before netd has added its VIP to the node and survives the address being re-added.
//!
//! UDP sockets do *not* get `SO_REUSEADDR`: for UDP it lets two sockets share a port, so a
//! port taken by another process that also set it would bind "successfully" and silently
//! split the traffic. Without it, a taken port fails with `EADDRINUSE` like TCP does.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use nix::sys::socket::{self as nix_socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

use crate::table::{ListenerKey, Protocol, ServicePortName};

/// The accept backlog of TCP listeners (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: u32 = 4096;

/// Why a listener is not bound. Each variant names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// `socket(2)` failed, e.g. out of file descriptors.
    #[error("create socket for {key}")]
    Socket {
        /// The listener.
        key: ListenerKey,
        /// The OS error.
        source: io::Error,
    },
    /// A socket option could not be set.
    #[error("set {option} on socket for {key}")]
    SetOption {
        /// The listener.
        key: ListenerKey,
        /// The option, e.g. `SO_REUSEADDR`.
        option: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// `bind(2)` failed; `EADDRINUSE` means another socket holds the port.
    #[error("bind {key}")]
    Bind {
        /// The listener.
        key: ListenerKey,
        /// The OS error.
        source: io::Error,
    },
    /// `listen(2)` failed; for TCP this is also where a port taken by a listener that set
    /// `SO_REUSEADDR` too is found out.
    #[error("listen on {key}")]
    Listen {
        /// The listener.
        key: ListenerKey,
        /// The OS error.
        source: io::Error,
    },
    /// The socket could not be registered with the tokio reactor.
    #[error("register {key} with the runtime")]
    Register {
        /// The listener.
        key: ListenerKey,
        /// The OS error.
        source: io::Error,
    },
    /// Another service port already has this address and port (see `table::Conflict`).
    #[error("{key} is already served by {holder}")]
    Claimed {
        /// The listener.
        key: ListenerKey,
        /// The service port that has it.
        holder: Arc<ServicePortName>,
    },
}

impl BindError {
    /// The OS error behind the failure, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            BindError::Socket { source, .. }
            | BindError::SetOption { source, .. }
            | BindError::Bind { source, .. }
            | BindError::Listen { source, .. }
            | BindError::Register { source, .. } => Some(source),
            BindError::Claimed { .. } => None,
        }
    }

    /// Whether the address and port are in use, by another process or another Service.
    pub fn is_address_in_use(&self) -> bool {
        matches!(self, BindError::Claimed { .. })
            || self
                .io_error()
                .is_some_and(|e| e.kind() == io::ErrorKind::AddrInUse)
    }
}

/// A bound socket, ready to be served.
#[derive(Debug)]
pub(crate) enum Bound {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A UDP socket.
    Udp(UdpSocket),
}

/// Binds the listener `key`. Must run inside a tokio runtime.
pub(crate) fn bind(key: ListenerKey) -> Result<Bound, BindError> {
    match key.protocol {
        Protocol::Tcp => bind_tcp(key).map(Bound::Tcp),
        Protocol::Udp => bind_udp(key).map(Bound::Udp),
    }
}

fn bind_tcp(key: ListenerKey) -> Result<TcpListener, BindError> {
    let socket = match key.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|source| BindError::Socket { key, source })?;
    socket
        .set_reuseaddr(true)
        .map_err(|source| BindError::SetOption {
            key,
            option: "SO_REUSEADDR",
            source,
        })?;
    set_freebind(&socket, key)?;
    socket
        .bind(key.addr)
        .map_err(|source| BindError::Bind { key, source })?;
    socket
        .listen(BACKLOG)
        .map_err(|source| BindError::Listen { key, source })
}

fn bind_udp(key: ListenerKey) -> Result<UdpSocket, BindError> {
    let family = match key.addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = nix_socket::socket(
        family,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|errno| BindError::Socket {
        key,
        source: errno.into(),
    })?;
    set_freebind(&fd, key)?;
    nix_socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(key.addr)).map_err(|errno| {
        BindError::Bind {
            key,
            source: errno.into(),
        }
    })?;
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
        .map_err(|source| BindError::Register { key, source })
}

/// `IP_FREEBIND`; Linux honours it on IPv6 sockets as well (`ipv6_can_nonlocal_bind`).
fn set_freebind(socket: &impl AsFd, key: ListenerKey) -> Result<(), BindError> {
    nix_socket::setsockopt(socket, nix_socket::sockopt::IpFreebind, &true).map_err(|errno| {
        BindError::SetOption {
            key,
            option: "IP_FREEBIND",
            source: errno.into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(protocol: Protocol, addr: &str) -> ListenerKey {
        ListenerKey {
            protocol,
            addr: addr.parse().expect("socket address"),
        }
    }

    #[tokio::test]
    async fn a_taken_port_is_address_in_use_for_both_protocols() {
        let taken_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken_tcp.local_addr().expect("local addr");
        let error = bind(key(Protocol::Tcp, &addr.to_string())).expect_err("port is taken");
        assert!(error.is_address_in_use(), "{error:?}");
        assert_eq!(error.to_string(), format!("bind TCP {addr}"));

        let taken_udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = taken_udp.local_addr().expect("local addr");
        let error = bind(key(Protocol::Udp, &addr.to_string())).expect_err("port is taken");
        assert!(error.is_address_in_use(), "{error:?}");
    }

    #[tokio::test]
    async fn binds_an_address_that_is_not_local_yet() {
        // TEST-NET-1 is never a local address; IP_FREEBIND lets the bind succeed anyway.
        let bound = bind(key(Protocol::Tcp, "192.0.2.1:0")).expect("freebind");
        assert!(matches!(bound, Bound::Tcp(_)));
        let bound = bind(key(Protocol::Udp, "192.0.2.1:0")).expect("freebind");
        assert!(matches!(bound, Bound::Udp(_)));
    }
}
