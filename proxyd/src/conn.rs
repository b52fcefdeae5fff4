//! One accepted TCP connection: pick an endpoint, connect with a timeout, try another endpoint
//! when that one refuses or times out, and forward bytes both ways; with no endpoint left,
//! reset the client at once (nftables mode rejects, §4.4; a reset is the TCP form of it).
//!
//! The legacy userspace kube-proxy (removed in v1.26) also retried another endpoint on a
//! failed connect; here every attempt excludes the endpoints that already failed.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;
use tracing::{debug, trace};

use crate::listener::{ListenerState, Shared};
use crate::{DataPath, splice};

/// Serves `client` until both directions are done or one fails.
pub(crate) async fn serve(
    mut client: TcpStream,
    peer: SocketAddr,
    state: &ListenerState,
    shared: &Shared,
) {
    let Some((mut backend, endpoint)) = connect(peer, state, shared).await else {
        reset(&client);
        return;
    };
    // Both legs carry the client's writes as they come; do not let Nagle hold them back.
    if let Err(error) = client
        .set_nodelay(true)
        .and_then(|()| backend.set_nodelay(true))
    {
        trace!(%peer, %error, "set TCP_NODELAY");
    }
    let result = match shared.config.data_path {
        DataPath::Splice => splice::bidirectional(&client, &backend, &shared.pipes).await,
        DataPath::Copy => {
            const BUFFER: usize = 64 * 1024;
            tokio::io::copy_bidirectional_with_sizes(&mut client, &mut backend, BUFFER, BUFFER)
                .await
        }
    };
    match result {
        Ok((sent, received)) => trace!(%peer, %endpoint, sent, received, "connection closed"),
        Err(error) => {
            // Pass an abort on as an abort: the other side sees a reset too, not a clean end.
            trace!(%peer, %endpoint, %error, "connection failed; resetting both legs");
            reset(&client);
            reset(&backend);
        }
    }
}

/// Connects to an endpoint of the listener's service port, trying up to
/// `connect_attempts` different endpoints.
async fn connect(
    peer: SocketAddr,
    state: &ListenerState,
    shared: &Shared,
) -> Option<(TcpStream, SocketAddr)> {
    let target = state.target();
    let attempts = shared.config.connect_attempts;
    let mut tried: Vec<SocketAddr> = Vec::new();
    while tried.len() < attempts {
        let Some(endpoint) = state.choose(&target, peer.ip(), &tried) else {
            break;
        };
        let error =
            match tokio::time::timeout(shared.config.connect_timeout, TcpStream::connect(endpoint))
                .await
            {
                Ok(Ok(backend)) => {
                    trace!(%peer, %endpoint, listener = %state.key, "connected");
                    return Some((backend, endpoint));
                }
                Ok(Err(error)) => error,
                Err(_) => io::Error::from(io::ErrorKind::TimedOut),
            };
        debug!(%peer, %endpoint, service = %target.route.service_port, %error,
            "endpoint failed; trying another");
        state.forget(&target, peer.ip(), endpoint);
        tried.push(endpoint);
    }
    debug!(%peer, listener = %state.key, service = %target.route.service_port,
        tried = tried.len(), "no endpoint; resetting connection");
    None
}

/// Closes `client` with a RST rather than a FIN, so it fails at once instead of waiting.
fn reset(client: &TcpStream) {
    if let Err(error) = client.set_zero_linger() {
        trace!(%error, "set SO_LINGER 0");
    }
}
