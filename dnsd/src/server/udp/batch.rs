//! Many datagrams per system call: `recvmmsg(2)` fills up to [`BATCH`] slots of one buffer,
//! `sendmmsg(2)` sends the replies gathered for them, both through nix's safe wrappers and
//! tokio's readiness (`try_io`), so one wake-up of the loop serves every query that is queued.
//!
//! nix's `MultiHeaders` holds raw pointers (it is not `Send`), so each call builds its own
//! inside the synchronous `try_io` closure instead of keeping one across an `.await`.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::warn;

use super::RECEIVE_BUFFER;

/// Datagrams read, and replies sent, per system call.
pub(super) const BATCH: usize = 32;

/// What one loop reuses from batch to batch: the receive slots and the replies.
#[derive(Debug)]
pub(super) struct Batch {
    /// [`BATCH`] slots of [`RECEIVE_BUFFER`] bytes.
    packets: Vec<u8>,
    /// Per datagram of the last receive: its length and source (`None`: not an IP address).
    received: Vec<(usize, Option<SocketAddr>)>,
    /// One encode buffer per slot; the first `destinations.len()` hold replies to send.
    replies: Vec<Vec<u8>>,
    /// Where each reply goes.
    destinations: Vec<Option<SockaddrStorage>>,
}

impl Batch {
    pub(super) fn new() -> Batch {
        Batch {
            packets: vec![0u8; BATCH * RECEIVE_BUFFER],
            received: Vec::with_capacity(BATCH),
            replies: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            destinations: Vec::with_capacity(BATCH),
        }
    }

    /// Reads what is queued on `socket`, up to [`BATCH`] datagrams, without waiting
    /// (`WouldBlock` when there is nothing). Forgets the replies of the last batch.
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let fd = socket.as_raw_fd();
        self.destinations.clear();
        let Batch {
            packets, received, ..
        } = self;
        socket.try_io(Interest::READABLE, || receive(fd, packets, received))?;
        Ok(self.received.len())
    }

    /// Datagram `index` of the last receive and its source, and the encode buffer for the
    /// reply to it (which [`Batch::queue_reply`] then sends).
    pub(super) fn datagram(&mut self, index: usize) -> (&[u8], Option<SocketAddr>, &mut Vec<u8>) {
        let (len, src) = self.received[index];
        // The kernel copies at most a slot (a longer datagram is cut and flagged MSG_TRUNC).
        debug_assert!(len <= RECEIVE_BUFFER);
        let len = len.min(RECEIVE_BUFFER);
        let start = index * RECEIVE_BUFFER;
        let slot = self.destinations.len();
        (
            &self.packets[start..start + len],
            src,
            &mut self.replies[slot],
        )
    }

    /// Sends the encode buffer [`Batch::datagram`] last gave out to `to`.
    pub(super) fn queue_reply(&mut self, to: SocketAddr) {
        self.destinations.push(Some(SockaddrStorage::from(to)));
    }

    /// Sends the queued replies, waiting while the socket's send buffer is full; a reply the
    /// kernel refuses is logged and dropped.
    pub(super) async fn send(&self, socket: &UdpSocket) {
        let fd = socket.as_raw_fd();
        let n_replies = self.destinations.len();
        let mut sent = 0;
        while sent < n_replies {
            let replies = &self.replies[sent..n_replies];
            let destinations = &self.destinations[sent..];
            match socket.try_io(Interest::WRITABLE, || send(fd, replies, destinations)) {
                Ok(0) => break,
                Ok(count) => sent += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(error) = socket.writable().await {
                        warn!(%error, dropped = n_replies - sent, "dns udp socket not writable");
                        return;
                    }
                }
                Err(error) => {
                    let to = self.destinations[sent].as_ref().map(ToString::to_string);
                    warn!(?to, %error, "sending a dns reply failed; dropped");
                    sent += 1;
                }
            }
        }
    }
}

fn receive(
    fd: RawFd,
    packets: &mut [u8],
    received: &mut Vec<(usize, Option<SocketAddr>)>,
) -> io::Result<()> {
    received.clear();
    let mut slots: Vec<[IoSliceMut<'_>; 1]> = packets
        .chunks_exact_mut(RECEIVE_BUFFER)
        .map(|slot| [IoSliceMut::new(slot)])
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slots.len(), None);
    let messages = recvmmsg(
        fd,
        &mut headers,
        slots.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )?;
    // `bytes` is what was copied: a datagram longer than its slot is cut, as a plain
    // `recv_from` into a slot-sized buffer cuts it.
    received.extend(messages.map(|message| (message.bytes, message.address.and_then(ip))));
    Ok(())
}

fn send(
    fd: RawFd,
    replies: &[Vec<u8>],
    destinations: &[Option<SockaddrStorage>],
) -> io::Result<usize> {
    let slices: Vec<[IoSlice<'_>; 1]> = replies.iter().map(|r| [IoSlice::new(r)]).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), None);
    let no_control: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(
        fd,
        &mut headers,
        &slices,
        destinations,
        no_control,
        MsgFlags::MSG_DONTWAIT,
    )?;
    Ok(sent.count())
}

/// The IP socket address in `address`, if that is what it is.
fn ip(address: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddrV4::from(*v4).into());
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddrV6::from(*v6).into())
}
