//! Asking the upstream resolvers: one question over UDP, again over TCP when the reply is
//! truncated, each upstream in turn with its own timeout, through the answer cache.
//!
//! dnsd asks its own question (fresh ID, fresh source port, RD set, EDNS with a 1232-byte
//! payload) rather than relaying the client's packet, so that answers can be cached per
//! question and autopath can ask for a name the client did not send. A reply counts only if it
//! comes from the upstream's address (the socket is connected), carries the ID and echoes the
//! question; anything else is ignored until the timeout.
//!
//! Like the `max_concurrent 1000` of kubeadm's Corefile, at most [`MAX_CONCURRENT`] upstream
//! questions are in flight; past that the client gets REFUSED.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout_at;
use tracing::{debug, trace};

use super::cache::{CAPACITY, Cache, Key};

/// The most upstream questions in flight at once.
pub(crate) const MAX_CONCURRENT: usize = 1000;
/// The EDNS payload size dnsd advertises upstream (the DNS Flag Day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

/// An upstream's answer, as dnsd passes it on.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) rcode: ResponseCode,
    pub(crate) recursion_available: bool,
    pub(crate) truncated: bool,
    pub(crate) answers: Vec<Record>,
    pub(crate) authorities: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
}

/// Why no answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForwardError {
    /// No upstream is configured: REFUSED.
    NoUpstream,
    /// Too many questions in flight: REFUSED.
    Overloaded,
    /// Every upstream failed or timed out: SERVFAIL.
    Failed,
}

/// Why one exchange with one upstream failed (logged, then the next upstream is tried).
#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("encode query")]
    Encode,
    #[error("open udp socket to {upstream}")]
    Socket {
        upstream: SocketAddr,
        source: std::io::Error,
    },
    #[error("send query to {upstream}")]
    Send {
        upstream: SocketAddr,
        source: std::io::Error,
    },
    #[error("receive reply from {upstream}")]
    Receive {
        upstream: SocketAddr,
        source: std::io::Error,
    },
    #[error("no reply from {upstream} in time")]
    TimedOut { upstream: SocketAddr },
}

/// The upstream resolvers and the cache in front of them.
#[derive(Debug)]
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<Cache>,
    in_flight: Semaphore,
    ids: AtomicU64,
    random: RandomState,
}

impl Forwarder {
    pub(crate) fn new(upstreams: Vec<SocketAddr>, timeout: Duration) -> Forwarder {
        Forwarder {
            upstreams,
            timeout,
            cache: Mutex::new(Cache::new(CAPACITY)),
            in_flight: Semaphore::new(MAX_CONCURRENT),
            ids: AtomicU64::new(0),
            random: RandomState::new(),
        }
    }

    /// The answer to `name`/`qtype`/`qclass`, from the cache or the first upstream that
    /// replies.
    pub(crate) async fn lookup(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<Answer, ForwardError> {
        if let Some(known) = self.lookup_cached(name, qtype, qclass) {
            return known;
        }
        let key = key(name, qtype, qclass);
        let Ok(_permit) = self.in_flight.try_acquire() else {
            debug!(name = %key.0, "too many upstream questions in flight");
            return Err(ForwardError::Overloaded);
        };
        for upstream in &self.upstreams {
            match self.exchange(*upstream, name, qtype, qclass).await {
                Ok(reply) => {
                    let answer = Answer {
                        rcode: reply.metadata.response_code,
                        recursion_available: reply.metadata.recursion_available,
                        truncated: reply.metadata.truncation,
                        answers: reply.answers,
                        authorities: reply.authorities,
                        additionals: reply.additionals,
                    };
                    return Ok(self.cache().insert(key, answer, Instant::now()));
                }
                Err(error) => {
                    debug!(name = %key.0, %qtype, %error, "upstream failed; trying the next");
                }
            }
        }
        Err(ForwardError::Failed)
    }

    /// What [`Forwarder::lookup`] gives without asking anyone: REFUSED's cause with no
    /// upstream, or the cached answer. `None`: only the network can tell.
    pub(crate) fn lookup_cached(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Option<Result<Answer, ForwardError>> {
        if self.upstreams.is_empty() {
            return Some(Err(ForwardError::NoUpstream));
        }
        let key = key(name, qtype, qclass);
        let hit = self.cache().get(&key, Instant::now())?;
        trace!(name = %key.0, %qtype, "upstream cache hit");
        Some(Ok(hit))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // Nothing panics while holding the lock; a poisoned cache is still a valid cache.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u16 {
        let mut hasher = self.random.build_hasher();
        hasher.write_u64(self.ids.fetch_add(1, Ordering::Relaxed));
        hasher.finish() as u16
    }

    /// One question to one upstream: UDP, then TCP if the reply is truncated.
    async fn exchange(
        &self,
        upstream: SocketAddr,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<Message, ExchangeError> {
        let id = self.next_id();
        let mut query = Query::query(name.clone(), qtype);
        query.set_query_class(qclass);
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        let bytes = message.to_vec().map_err(|_| ExchangeError::Encode)?;
        let deadline = tokio::time::Instant::now() + self.timeout;

        let local: SocketAddr = match upstream {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket_error = |source| ExchangeError::Socket { upstream, source };
        let socket = UdpSocket::bind(local).await.map_err(socket_error)?;
        socket.connect(upstream).await.map_err(socket_error)?;
        socket
            .send(&bytes)
            .await
            .map_err(|source| ExchangeError::Send { upstream, source })?;
        let mut buf = vec![0u8; 65535];
        let reply = loop {
            let received = timeout_at(deadline, socket.recv(&mut buf)).await;
            let n = match received {
                Err(_) => return Err(ExchangeError::TimedOut { upstream }),
                Ok(Err(source)) => return Err(ExchangeError::Receive { upstream, source }),
                Ok(Ok(n)) => n,
            };
            match Message::from_vec(&buf[..n]) {
                Ok(reply) if answers(&reply, id, &query) => break reply,
                _ => trace!(%upstream, "ignoring a datagram that does not answer the question"),
            }
        };
        if !reply.metadata.truncation {
            return Ok(reply);
        }
        trace!(%upstream, "udp reply truncated; asking over tcp");
        match timeout_at(deadline, exchange_tcp(upstream, &bytes)).await {
            Ok(Ok(reply)) if answers(&reply, id, &query) => Ok(reply),
            // The truncated UDP answer is still an answer (CoreDNS passes TC on).
            _ => Ok(reply),
        }
    }
}

/// The cache key of a question.
fn key(name: &Name, qtype: RecordType, qclass: DNSClass) -> Key {
    (
        name.to_ascii().to_ascii_lowercase(),
        u16::from(qtype),
        u16::from(qclass),
    )
}

/// Whether `reply` is the response to our question.
fn answers(reply: &Message, id: u16, query: &Query) -> bool {
    reply.metadata.id == id
        && reply.metadata.message_type == MessageType::Response
        && reply.queries.len() == 1
        && reply.queries[0].name() == query.name()
        && reply.queries[0].query_type() == query.query_type()
        && reply.queries[0].query_class() == query.query_class()
}

async fn exchange_tcp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await?;
    let length = u16::try_from(query.len()).map_err(std::io::Error::other)?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let length = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(length)];
    stream.read_exact(&mut buf).await?;
    Message::from_vec(&buf).map_err(std::io::Error::other)
}
