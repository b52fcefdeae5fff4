//! The hickory boundary: [`Handler`] implements `RequestHandler` over the [`Index`] and the
//! upstream [`Forwarder`], the way ztunnel's `dns/handler.rs` does, with no `Catalog`.
//!
//! For each query it checks the message (opcode, EDNS version, one question), asks the index,
//! and turns the pure answer into hickory records: names in the cluster zone and the owned
//! reverse ranges are answered from the index, ExternalNames that leave the zone and every
//! other name go upstream. When the client is a known pod and the index says NXDOMAIN for
//! `<x>.<pod ns>.svc.<zone>`, the search path is walked here (autopath).
//!
//! [`Handler::respond`] is the one place a reply is made. TCP reaches it through hickory's
//! `RequestHandler`; UDP through `server/udp.rs`, which first asks [`Handler::respond_now`]
//! (the same rules, never waiting: cluster names and cached upstream answers) and only spawns
//! a task for what needs the network.
//!
//! Hickory types stay in this module (with its `forward` and `cache` children) and in
//! `server.rs`; the rest of the crate sees none.

mod cache;
mod forward;

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use tracing::{debug, trace, warn};

use crate::index::Index;
use crate::records::{self, Data, Outcome, Owner, QType};
use forward::Answer;
pub(crate) use forward::{ForwardError, Forwarder};

/// Answers DNS requests from the index, forwarding what is not the cluster's. Cloning is cheap
/// (two `Arc`s): TCP's hickory server and every UDP loop hold one.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    index: Arc<Index>,
    forwarder: Arc<Forwarder>,
}

/// The reply to one request and the OPT record that goes with it, before encoding.
#[derive(Debug)]
pub(crate) struct Response {
    edns: Option<Edns>,
    reply: Reply,
}

impl Response {
    /// The most bytes the reply may take over UDP: the client's EDNS payload size (at least
    /// 512), or 512 without EDNS (RFC 1035 §4.2.1).
    pub(crate) fn udp_max_size(&self) -> u16 {
        self.edns.as_ref().map_or(512, Edns::max_payload)
    }
}

/// The answer needs an upstream question the cache cannot answer: ask again with the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedsNetwork;

/// Where upstream answers come from while a reply is made.
trait Upstream: Sync {
    /// Why no answer could be had without waiting.
    type Error;

    async fn lookup(
        &self,
        forwarder: &Forwarder,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<Result<Answer, ForwardError>, Self::Error>;
}

/// Ask the upstreams (through the cache).
struct Network;

impl Upstream for Network {
    type Error = Infallible;

    async fn lookup(
        &self,
        forwarder: &Forwarder,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<Result<Answer, ForwardError>, Infallible> {
        Ok(forwarder.lookup(name, qtype, qclass).await)
    }
}

/// The cache alone: never waits, gives [`NeedsNetwork`] on a miss.
struct CacheOnly;

impl Upstream for CacheOnly {
    type Error = NeedsNetwork;

    async fn lookup(
        &self,
        forwarder: &Forwarder,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<Result<Answer, ForwardError>, NeedsNetwork> {
        forwarder
            .lookup_cached(name, qtype, qclass)
            .ok_or(NeedsNetwork)
    }
}

/// A reply before it is encoded.
#[derive(Debug)]
struct Reply {
    rcode: ResponseCode,
    authoritative: bool,
    truncated: bool,
    recursion_available: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl Reply {
    fn empty(rcode: ResponseCode, authoritative: bool) -> Reply {
        Reply {
            rcode,
            authoritative,
            truncated: false,
            recursion_available: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

impl Handler {
    pub(crate) fn new(index: Arc<Index>, forwarder: Forwarder) -> Handler {
        Handler {
            index,
            forwarder: Arc::new(forwarder),
        }
    }

    /// The response to `request`, asking the upstreams where the answer says so.
    pub(crate) async fn respond(&self, request: &Request) -> Response {
        match self.respond_with(request, &Network).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// The response to `request` if it can be made without waiting (everything but an
    /// upstream question the cache cannot answer): the same rules as [`Handler::respond`].
    pub(crate) fn respond_now(&self, request: &Request) -> Result<Response, NeedsNetwork> {
        let future = pin!(self.respond_with(request, &CacheOnly));
        // With `CacheOnly` nothing awaits anything that can be pending, so the first poll
        // finishes; were it ever pending, the network path gives the same answer.
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(NeedsNetwork),
        }
    }

    /// The message checks (EDNS version, opcode, one question), then the answer.
    async fn respond_with<U: Upstream>(
        &self,
        request: &Request,
        upstream: &U,
    ) -> Result<Response, U::Error> {
        // RFC 6891 §7: answer with an OPT record when the query had one.
        let edns = request.edns.as_ref().map(|query_edns| {
            let mut edns = Edns::new();
            edns.set_max_payload(query_edns.max_payload().max(512));
            edns.set_version(0);
            edns
        });
        let refuse = |rcode| Reply::empty(rcode, false);
        let reply = if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            refuse(ResponseCode::BADVERS)
        } else if request.metadata.op_code != OpCode::Query {
            refuse(ResponseCode::NotImp)
        } else if let Ok(info) = request.request_info() {
            let query = info.query.original();
            let reply = self
                .answer(
                    query.name(),
                    query.query_type(),
                    query.query_class(),
                    request.src().ip(),
                    upstream,
                )
                .await?;
            trace!(name = %query.name(), qtype = %query.query_type(), rcode = %reply.rcode, "dns answer");
            reply
        } else {
            refuse(ResponseCode::FormErr)
        };
        Ok(Response { edns, reply })
    }

    /// The reply to one question from `client`.
    async fn answer<U: Upstream>(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        client: IpAddr,
        upstream: &U,
    ) -> Result<Reply, U::Error> {
        let text = name.to_ascii();
        let outcome = self.index.lookup(&text, qtype_of(qtype));
        if matches!(outcome, Outcome::NxDomain { .. }) {
            if let Some(reply) = self
                .autopath(name, &text, qtype, qclass, client, upstream)
                .await?
            {
                return Ok(reply);
            }
        }
        self.finish(name, qtype, qclass, outcome, upstream).await
    }

    /// The reply for `name` on its own (no autopath).
    async fn resolve<U: Upstream>(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        upstream: &U,
    ) -> Result<Reply, U::Error> {
        let outcome = self.index.lookup(&name.to_ascii(), qtype_of(qtype));
        self.finish(name, qtype, qclass, outcome, upstream).await
    }

    /// Turns an outcome into a reply, asking upstream where it says so.
    async fn finish<U: Upstream>(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        outcome: Outcome,
        upstream: &U,
    ) -> Result<Reply, U::Error> {
        let reply = match outcome {
            Outcome::Answer {
                answers,
                additionals,
            } => Reply {
                answers: convert(name, answers),
                additionals: convert(name, additionals),
                ..Reply::empty(ResponseCode::NoError, true)
            },
            Outcome::NoData { soa } => negative(name, ResponseCode::NoError, soa),
            Outcome::NxDomain { soa } => negative(name, ResponseCode::NXDomain, soa),
            Outcome::ServFail { soa } => negative(name, ResponseCode::ServFail, soa),
            Outcome::Refused => Reply::empty(ResponseCode::Refused, false),
            Outcome::External { chain, target, soa } => {
                let Ok(target) = Name::from_ascii(&target) else {
                    return Ok(negative(name, ResponseCode::NoError, soa));
                };
                match upstream
                    .lookup(&self.forwarder, &target, qtype, qclass)
                    .await?
                {
                    Ok(upstream) => {
                        let mut answers = convert(name, chain);
                        answers.extend(upstream.answers);
                        Reply {
                            truncated: upstream.truncated,
                            answers,
                            ..Reply::empty(ResponseCode::NoError, true)
                        }
                    }
                    // backend_lookup.go: when Lookup fails the CNAME is dropped: NODATA.
                    Err(_) => negative(name, ResponseCode::NoError, soa),
                }
            }
            Outcome::Forward => match upstream
                .lookup(&self.forwarder, name, qtype, qclass)
                .await?
            {
                Ok(upstream) => Reply {
                    rcode: upstream.rcode,
                    authoritative: false,
                    truncated: upstream.truncated,
                    recursion_available: upstream.recursion_available,
                    answers: upstream.answers,
                    authorities: upstream.authorities,
                    additionals: upstream.additionals,
                },
                Err(ForwardError::NoUpstream | ForwardError::Overloaded) => {
                    Reply::empty(ResponseCode::Refused, false)
                }
                Err(ForwardError::Failed) => Reply::empty(ResponseCode::ServFail, false),
            },
        };
        Ok(reply)
    }

    /// CoreDNS `autopath @kubernetes`: for a pod in `<ns>` asking `<x>.<ns>.svc.<zone>`, which
    /// does not exist, try `<x>.svc.<zone>`, `<x>.<zone>` (from the index) and `<x>.` (one
    /// upstream question), and answer with a CNAME from the asked name to the first that is
    /// not NXDOMAIN or a failure. `None` when autopath does not apply or nothing resolved.
    async fn autopath<U: Upstream>(
        &self,
        name: &Name,
        text: &str,
        qtype: RecordType,
        qclass: DNSClass,
        client: IpAddr,
        upstream: &U,
    ) -> Result<Option<Reply>, U::Error> {
        let Some(namespace) = self.index.autopath_namespace(client) else {
            return Ok(None);
        };
        let suffix = format!(".{namespace}.svc.{}", self.index.zone);
        let lower = text.to_ascii_lowercase();
        // Only names strictly below the first search domain (CoreDNS answers SERVFAIL for
        // the search domain itself, through TrimZone's error).
        if lower.len() <= suffix.len() || !lower.ends_with(&suffix) {
            return Ok(None);
        }
        let base = &text[..text.len() - suffix.len()];
        let zone = &self.index.zone;
        let candidates = [
            format!("{base}.svc.{zone}"),
            format!("{base}.{zone}"),
            format!("{base}."),
        ];
        for candidate in candidates {
            let Ok(candidate) = Name::from_ascii(&candidate) else {
                return Ok(None);
            };
            let reply = self.resolve(&candidate, qtype, qclass, upstream).await?;
            // autopath.go goes on after NXDOMAIN and after what `plugin.ClientWrite` says was
            // not written (SERVFAIL, REFUSED, FORMERR, NOTIMP); when nothing else answers,
            // the asked name's own reply (NXDOMAIN) goes out, not an upstream failure.
            match reply.rcode {
                ResponseCode::NXDomain
                | ResponseCode::ServFail
                | ResponseCode::Refused
                | ResponseCode::FormErr
                | ResponseCode::NotImp => continue,
                _ => {
                    trace!(%name, found = %candidate, "autopath");
                    return Ok(Some(cnamer(reply, name)));
                }
            }
        }
        Ok(None)
    }
}

/// The response as hickory encodes it: the question as asked, the reply's sections, and the
/// OPT record when the query had one. Shared by TCP (hickory sends it) and UDP (`server/udp.rs`
/// encodes it).
pub(crate) fn message<'q>(
    request: &'q Request,
    response: &'q Response,
) -> MessageResponse<
    'q,
    'q,
    std::slice::Iter<'q, Record>,
    std::slice::Iter<'q, Record>,
    std::iter::Empty<&'q Record>,
    std::slice::Iter<'q, Record>,
> {
    let reply = &response.reply;
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = reply.rcode;
    metadata.authoritative = reply.authoritative;
    metadata.truncation = reply.truncated;
    metadata.recursion_available = reply.recursion_available;
    MessageResponseBuilder::new(&request.queries, response.edns.as_ref()).build(
        metadata,
        reply.answers.iter(),
        reply.authorities.iter(),
        std::iter::empty(),
        reply.additionals.iter(),
    )
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let response = self.respond(request).await;
        match response_handle
            .send_response(message(request, &response))
            .await
        {
            Ok(info) => info,
            Err(error) => {
                debug!(%error, "sending dns response failed");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

fn qtype_of(qtype: RecordType) -> QType {
    match qtype {
        RecordType::A => QType::A,
        RecordType::AAAA => QType::Aaaa,
        RecordType::CNAME => QType::Cname,
        RecordType::PTR => QType::Ptr,
        RecordType::MX => QType::Mx,
        RecordType::TXT => QType::Txt,
        RecordType::SRV => QType::Srv,
        RecordType::SOA => QType::Soa,
        RecordType::NS => QType::Ns,
        RecordType::AXFR => QType::Axfr,
        RecordType::IXFR => QType::Ixfr,
        _ => QType::Other,
    }
}

fn negative(query: &Name, rcode: ResponseCode, soa: records::Record) -> Reply {
    Reply {
        authorities: convert(query, vec![soa]),
        ..Reply::empty(rcode, true)
    }
}

/// Hickory records from the index's. A name that does not parse (an ExternalName holding
/// something that is no domain name) drops its record.
fn convert(query: &Name, records: Vec<records::Record>) -> Vec<Record> {
    records
        .into_iter()
        .filter_map(|record| {
            let owner = match &record.owner {
                Owner::Query => query.clone(),
                Owner::Name(name) => parse(name)?,
            };
            let data = match record.data {
                Data::A(ip) => RData::A(A(ip)),
                Data::Aaaa(ip) => RData::AAAA(AAAA(ip)),
                Data::Cname(target) => RData::CNAME(CNAME(parse(&target)?)),
                Data::Ptr(target) => RData::PTR(PTR(parse(&target)?)),
                Data::Ns(target) => RData::NS(NS(parse(&target)?)),
                Data::Txt(text) => RData::TXT(TXT::new(vec![text])),
                Data::Srv {
                    priority,
                    weight,
                    port,
                    target,
                } => RData::SRV(SRV::new(priority, weight, port, parse(&target)?)),
                Data::Soa {
                    mname,
                    rname,
                    serial,
                    refresh,
                    retry,
                    expire,
                    minimum,
                } => RData::SOA(SOA::new(
                    parse(&mname)?,
                    parse(&rname)?,
                    serial,
                    refresh,
                    retry,
                    expire,
                    minimum,
                )),
            };
            Some(Record::from_rdata(owner, record.ttl, data))
        })
        .collect()
}

fn parse(name: &str) -> Option<Name> {
    match Name::from_ascii(name) {
        Ok(name) => Some(name),
        Err(error) => {
            warn!(name, %error, "dropping a record whose name does not parse");
            None
        }
    }
}

/// autopath's `cnamer`: put a CNAME from the asked name to the owner of the first record that
/// is not the asked name in front of the answer.
fn cnamer(mut reply: Reply, asked: &Name) -> Reply {
    if let Some(first) = reply.answers.iter().find(|r| r.name != *asked) {
        let cname = Record::from_rdata(
            asked.clone(),
            first.ttl,
            RData::CNAME(CNAME(first.name.clone())),
        );
        reply.answers.insert(0, cname);
    }
    reply
}
