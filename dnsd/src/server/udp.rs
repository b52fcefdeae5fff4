//! The UDP side of [`Server`](super::Server): one loop per socket that reads every queued
//! query in one system call, answers them in place, and sends the replies in one more
//! (`udp/batch.rs`), reusing its buffers from batch to batch.
//!
//! hickory's UDP server spawns a task per packet and hands the reply back through a channel;
//! here a query is answered inline whenever [`Handler::respond_now`] can (cluster names,
//! reverse names, cached upstream answers: the index lookup is synchronous), and only what
//! needs the network (forwarding, ExternalNames outside the zone, an autopath walk that goes
//! upstream) becomes a task, which sends its own reply.
//!
//! What reaches the handler, and what goes back, is what hickory's `Server` did:
//! - a source that cannot be answered (port 0, unspecified or broadcast address) is dropped;
//! - a datagram shorter than a header is dropped; one whose header decodes but whose body does
//!   not gets FORMERR (no question, no OPT record); a response (QR set) is dropped;
//! - datagrams are read into [`RECEIVE_BUFFER`] bytes, as hickory's `UdpStream` reads them;
//! - a reply is cut at the client's EDNS payload size (512 without EDNS), with TC set, and one
//!   that fails to encode becomes a bare SERVFAIL.

mod batch;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::Request;
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, trace, warn};

use crate::error::Error;
use crate::handler::{self, Handler, NeedsNetwork};
use batch::Batch;

/// Bytes read per datagram (hickory's `MAX_RECEIVE_BUFFER_SIZE`): a longer one is cut.
pub(super) const RECEIVE_BUFFER: usize = 4096;

/// What became of one datagram.
#[derive(Debug)]
pub(super) enum Handled {
    /// Nothing goes back.
    Dropped,
    /// The reply is in the encode buffer.
    Reply,
    /// The answer needs the network: a task makes and sends it.
    Later(Box<Request>),
}

/// Serves `socket` (bound to `local`) until `shutdown` fires. An error only when the socket
/// itself fails.
pub(super) async fn serve(
    socket: UdpSocket,
    local: SocketAddr,
    handler: Handler,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let socket = Arc::new(socket);
    let mut later = JoinSet::new();
    let mut batch = Batch::new();
    let mut cancelled = pin!(shutdown.cancelled());
    loop {
        let ready = tokio::select! {
            biased;
            () = &mut cancelled => return Ok(()),
            ready = socket.readable() => ready,
        };
        // Only a runtime that is going away fails to wait for readiness.
        let fail = |source| Error::ServeUdp {
            addr: local,
            source,
        };
        ready.map_err(fail)?;
        let n_received = match batch.receive(&socket) {
            Ok(n_received) => n_received,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(source) if unrecoverable(&source) => return Err(fail(source)),
            Err(error) => {
                warn!(addr = %local, %error, "receiving on the dns udp socket failed");
                continue;
            }
        };
        for index in 0..n_received {
            let (packet, src, reply) = batch.datagram(index);
            let Some(src) = src else {
                continue;
            };
            match handle(&handler, packet, src, reply) {
                Handled::Dropped => {}
                Handled::Reply => batch.queue_reply(src),
                Handled::Later(request) => {
                    let answer = answer_later(socket.clone(), handler.clone(), request);
                    later.spawn(answer.in_current_span());
                }
            }
        }
        batch.send(&socket).await;
        while later.try_join_next().is_some() {}
    }
}

/// Makes the reply that needs the network and sends it.
async fn answer_later(socket: Arc<UdpSocket>, handler: Handler, request: Box<Request>) {
    let response = handler.respond(&request).await;
    let mut reply = Vec::with_capacity(512);
    if encode(&request, &response, &mut reply) {
        send(&socket, &reply, request.src()).await;
    }
}

/// Decodes one datagram from `src` and, when it can be done now, encodes the reply into
/// `reply`.
pub(super) fn handle(
    handler: &Handler,
    packet: &[u8],
    src: SocketAddr,
    reply: &mut Vec<u8>,
) -> Handled {
    if !answerable(src) {
        debug!(%src, "dropping a dns query from an address that cannot be answered");
        return Handled::Dropped;
    }
    let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else {
        trace!(%src, "dropping a datagram shorter than a dns header");
        return Handled::Dropped;
    };
    let request = match Request::from_bytes(packet.to_vec(), src, Protocol::Udp) {
        Ok(request) => request,
        Err(error) => {
            debug!(%src, %error, "malformed dns query: formerr");
            return if formerr(&header, reply) {
                Handled::Reply
            } else {
                Handled::Dropped
            };
        }
    };
    // Answering a response would let anyone make two servers talk to each other.
    if request.metadata.message_type == MessageType::Response {
        return Handled::Dropped;
    }
    match handler.respond_now(&request) {
        Ok(response) if encode(&request, &response, reply) => Handled::Reply,
        Ok(_) => Handled::Dropped,
        Err(NeedsNetwork) => Handled::Later(Box::new(request)),
    }
}

/// Encodes the response into `reply` (cleared first), cut to the size the client takes.
/// `false` if not even a SERVFAIL could be written.
fn encode(request: &Request, response: &handler::Response, reply: &mut Vec<u8>) -> bool {
    reply.clear();
    let mut encoder = BinEncoder::new(reply);
    encoder.set_max_size(response.udp_max_size());
    match handler::message(request, response).destructive_emit(&mut encoder) {
        Ok(_) => true,
        Err(error) => {
            error!(%error, "encoding a dns reply failed; sending servfail");
            servfail(request.metadata.id, reply)
        }
    }
}

/// FORMERR for a query whose header decoded but whose body did not (no question, no OPT).
fn formerr(header: &Header, reply: &mut Vec<u8>) -> bool {
    let Ok(queries) = Queries::read(&mut BinDecoder::new(&[]), 0) else {
        return false;
    };
    reply.clear();
    let mut encoder = BinEncoder::new(reply);
    encoder.set_max_size(512);
    let message = MessageResponseBuilder::new(&queries, None)
        .error_msg(&header.metadata, ResponseCode::FormErr);
    match message.destructive_emit(&mut encoder) {
        Ok(_) => true,
        Err(error) => {
            error!(%error, "encoding a dns reply failed; sending servfail");
            servfail(header.metadata.id, reply)
        }
    }
}

/// A bare SERVFAIL header, what hickory sends when a reply does not encode.
fn servfail(id: u16, reply: &mut Vec<u8>) -> bool {
    reply.clear();
    let mut encoder = BinEncoder::new(reply);
    encoder.set_max_size(512);
    let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    header.emit(&mut encoder).is_ok()
}

async fn send(socket: &UdpSocket, reply: &[u8], to: SocketAddr) {
    if let Err(error) = socket.send_to(reply, to).await {
        warn!(%to, %error, "sending a dns reply failed; dropped");
    }
}

/// Whether a reply to `src` can go anywhere (hickory's `sanitize_src_address`).
fn answerable(src: SocketAddr) -> bool {
    src.port() != 0
        && match src.ip() {
            IpAddr::V4(ip) => !ip.is_unspecified() && !ip.is_broadcast(),
            IpAddr::V6(ip) => !ip.is_unspecified(),
        }
}

/// Errors after which the socket is no use (hickory's `is_unrecoverable_socket_error`).
fn unrecoverable(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotConnected | std::io::ErrorKind::ConnectionAborted
    )
}
