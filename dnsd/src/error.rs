//! [`Error`], one variant per failed step, and [`ObjectError`] for objects the index cannot
//! take.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A failure to set up or run the DNS server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Config::zone` is not a usable domain name.
    #[error("invalid cluster domain {zone:?}: {reason}")]
    InvalidZone {
        /// The configured zone.
        zone: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `Config::ttl` is outside 0..=3600 (CoreDNS's `ttl` option range).
    #[error("invalid ttl {ttl}: must be at most 3600 seconds")]
    InvalidTtl {
        /// The configured TTL.
        ttl: u32,
    },
    /// No listen address was configured.
    #[error("no listen address configured")]
    NoListenAddress,
    /// Binding a UDP socket failed.
    #[error("bind udp socket on {addr}")]
    BindUdp {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Binding a TCP listener failed.
    #[error("bind tcp listener on {addr}")]
    BindTcp {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the resolv.conf that names the upstream resolvers failed.
    #[error("read upstream resolvers from {path}")]
    ReadResolvConf {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A UDP socket failed while serving.
    #[error("serve dns over udp on {addr}")]
    ServeUdp {
        /// The socket's address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listener stopped with an error while serving.
    #[error("serve dns")]
    Serve {
        /// What the server reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An object the index cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The object has no `metadata.name`.
    #[error("{kind} has no metadata.name")]
    MissingName {
        /// `service`, `endpoint slice`, `pod` or `namespace`.
        kind: &'static str,
    },
}
