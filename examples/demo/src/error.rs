//! The start-up errors of the demo apps: usage, configuration, binding and signals.
//!
//! Errors while serving a request never end the process; they become JSON answers (see `api`).

use std::{io, net::SocketAddr};

/// Why a demo app could not start, or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line names no known app, or asks for help.
    #[error("{0}")]
    Usage(String),
    /// An environment variable has a value the app cannot use.
    #[error("invalid {name}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable's name.
        name: &'static str,
        /// The value found.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A listen address could not be bound.
    #[error("bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A bound listener did not tell its local address.
    #[error("read the local address of a listener")]
    LocalAddr {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A server was given no listener.
    #[error("no listener to serve on")]
    NoListener,
    /// The accept loop of a listener failed.
    #[error("serve http on {addr}")]
    Serve {
        /// The listener's address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The tokio runtime could not be built.
    #[error("build the tokio runtime")]
    Runtime {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A signal handler could not be installed.
    #[error("install the {signal} handler")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Whether this is a usage or configuration error (exit code 64) rather than a runtime one.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_) | Error::InvalidEnv { .. })
    }
}

/// `err` and its sources, joined by `": "`.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
