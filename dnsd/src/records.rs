//! The answer to one question about the cluster zone, computed from the [`Index`]: the query
//! grammar and record rules of CoreDNS's `kubernetes` plugin, with no DNS library types.
//!
//! The functions follow the Go code they port, so that the two can be read side by side:
//! - here, `Index::lookup` picks the zone and `Zone::serve` is `handler.go` `ServeDNS` (one
//!   rule per query type, then NXDOMAIN vs NODATA);
//! - `records/kubernetes.rs`: `kubernetes.go` `Records`/`findServices`/`findPods`, with
//!   `parse.go` `parseRequest` inlined;
//! - `records/backend.rs`: `plugin/backend_lookup.go` (`A`, `SRV`, `TXT`, `CNAME`, `NS`);
//! - `records/reverse.rs`: `reverse.go`, PTR and the reverse-zone fallthrough.
//!
//! Options are fixed to kubicle's: `pods verified`, no `namespaces` filter, no multicluster, no
//! `zonal`, no `endpoint_pod_names`, no `ignore empty_service`.
//!
//! Owner names keep the query's case; service and namespace labels in targets come from the
//! objects (lower case) and the zone part of a target keeps the query's case
//! (`handler_case_test.go`).

mod backend;
mod kubernetes;
mod reverse;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use backend::Resolved;

use crate::index::{Index, State};

/// `DNSSchemaVersion`, served as `dns-version.<zone>` TXT.
pub(crate) const DNS_SCHEMA_VERSION: &str = "1.1.0";
/// The TTL of the `dns-version` TXT record.
const DNS_VERSION_TTL: u32 = 28800;
/// CoreDNS `maxCnameChainLength`.
const MAX_CNAME_CHAIN: usize = 10;

/// The query types the rules tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QType {
    A,
    Aaaa,
    Cname,
    Ptr,
    Mx,
    Txt,
    Srv,
    Soa,
    Ns,
    Axfr,
    Ixfr,
    /// Anything else (HINFO, ANY, ...): NODATA or NXDOMAIN only.
    Other,
}

/// Whose name a record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The name that was looked up, as it was asked.
    Query,
    /// Another name (absolute, with its trailing dot).
    Name(String),
}

/// One resource record, class IN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) owner: Owner,
    pub(crate) ttl: u32,
    pub(crate) data: Data,
}

/// Record data. Names are absolute, with their trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Ptr(String),
    Ns(String),
    Txt(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: i32,
        retry: i32,
        expire: i32,
        minimum: u32,
    },
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// NOERROR, authoritative, with records.
    Answer {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
    /// NOERROR, authoritative, no answer, the zone's SOA in Authority.
    NoData { soa: Record },
    /// NXDOMAIN, authoritative, the zone's SOA in Authority.
    NxDomain { soa: Record },
    /// SERVFAIL with the SOA: the index has not synced yet.
    ServFail { soa: Record },
    /// REFUSED (zone transfers).
    Refused,
    /// An ExternalName outside the zone: answer `chain` (CNAMEs) followed by the upstream's
    /// answer for `target`; if the upstream cannot be asked, NODATA with `soa`
    /// (`backend_lookup.go` drops the CNAME when `Lookup` fails).
    External {
        chain: Vec<Record>,
        target: String,
        soa: Record,
    },
    /// Not a name this server answers: forward it.
    Forward,
}

/// `errNoItems`, `errNsNotExposed` and `errInvalidRequest`: the cases that end in NXDOMAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameError;

impl Index {
    /// Answers `qname` (absolute or not; any case) for `qtype`.
    pub(crate) fn lookup(&self, qname: &str, qtype: QType) -> Outcome {
        let qname = if qname.ends_with('.') {
            qname.to_string()
        } else {
            format!("{qname}.")
        };
        let lower = qname.to_ascii_lowercase();
        if in_zone(&lower, &self.zone) {
            let state = self.read();
            let cx = Zone {
                index: self,
                state: &state,
                zone: &qname[qname.len() - self.zone.len()..],
            };
            if !self.is_synced() {
                return Outcome::ServFail { soa: cx.soa() };
            }
            return cx.serve(&lower, qtype);
        }
        self.reverse(&qname, &lower, qtype)
    }

    /// The namespace to complete a search path for when `client` asks (autopath): the pod
    /// with that IP, if exactly one namespace has such a pod. Host-network pods share the
    /// node's address with every host process, so they never count.
    pub(crate) fn autopath_namespace(&self, client: IpAddr) -> Option<String> {
        let state = self.read();
        let mut namespaces = state
            .pod_ips
            .get(&client)?
            .iter()
            .filter(|(namespace, name)| {
                state
                    .namespaces
                    .get(namespace)
                    .and_then(|n| n.pods.get(name))
                    .is_some_and(|pod| !pod.host_network)
            });
        let (first, _) = namespaces.next()?;
        if namespaces.any(|(namespace, _)| namespace != first) {
            return None;
        }
        Some(first.clone())
    }

    /// The SOA a negative answer carries for `zone` (as asked, with its trailing dot).
    fn soa_for(&self, zone: &str, serial: u32) -> Record {
        Record {
            owner: Owner::Name(zone.to_string()),
            ttl: self.ttl.min(300),
            data: Data::Soa {
                mname: format!("ns.dns.{zone}"),
                rname: format!("hostmaster.{zone}"),
                serial,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: self.ttl,
            },
        }
    }
}

/// Whether `lower` is `zone` or below it.
pub(crate) fn in_zone(lower: &str, zone: &str) -> bool {
    lower.len() >= zone.len()
        && lower.ends_with(zone)
        && (lower.len() == zone.len() || lower.as_bytes()[lower.len() - zone.len() - 1] == b'.')
}

/// The labels of `lower` left of `zone`, without the joining dot ("" for the apex).
fn strip_zone<'q>(lower: &'q str, zone: &str) -> &'q str {
    lower
        .len()
        .checked_sub(zone.len() + 1)
        .map_or("", |end| &lower[..end])
}

/// One question about the cluster zone, under the read lock.
struct Zone<'a> {
    index: &'a Index,
    state: &'a State,
    /// The zone as the query spelled it, with its trailing dot.
    zone: &'a str,
}

impl Zone<'_> {
    fn soa(&self) -> Record {
        self.index.soa_for(self.zone, self.state.serial)
    }

    /// `ServeDNS`: the answer for each query type.
    fn serve(&self, lower: &str, qtype: QType) -> Outcome {
        let apex = lower.len() == self.index.zone.len();
        let result = match qtype {
            QType::A | QType::Aaaa => self
                .address(&Owner::Query, lower, qtype, &[])
                .map(|r| (r, Vec::new())),
            QType::Txt => self.txt(lower).map(records),
            QType::Cname => self.cname(lower).map(records),
            // A PTR question for a forward name: `Reverse` finds no address in it and
            // falls back to `Records` only to tell NODATA from NXDOMAIN.
            QType::Ptr => self.records(lower).map(|_| records(Vec::new())),
            // Kubernetes entries are never mail hosts.
            QType::Mx => self.services(lower, qtype).map(|_| records(Vec::new())),
            QType::Srv => self.srv(lower).map(|(answers, extra)| {
                (
                    Resolved {
                        records: answers,
                        external: None,
                    },
                    extra,
                )
            }),
            QType::Soa if apex => Ok(records(vec![Record {
                owner: Owner::Query,
                ..self.soa()
            }])),
            // SOA for any other name is NODATA, whether the name exists or not.
            QType::Soa => Ok(records(Vec::new())),
            QType::Axfr | QType::Ixfr => return Outcome::Refused,
            QType::Ns if apex => Ok(self.ns()),
            // Anything else: a fake A lookup tells NODATA from NXDOMAIN.
            QType::Ns | QType::Other => self
                .address(&Owner::Query, lower, QType::A, &[])
                .map(|_| records(Vec::new())),
        };
        match result {
            Err(NameError) => Outcome::NxDomain { soa: self.soa() },
            Ok((
                Resolved {
                    records,
                    external: Some(target),
                },
                _,
            )) => Outcome::External {
                chain: records,
                target,
                soa: self.soa(),
            },
            Ok((Resolved { records, .. }, _)) if records.is_empty() => {
                Outcome::NoData { soa: self.soa() }
            }
            Ok((Resolved { records, .. }, additionals)) => Outcome::Answer {
                answers: records,
                additionals,
            },
        }
    }
}

fn records(records: Vec<Record>) -> (Resolved, Vec<Record>) {
    (
        Resolved {
            records,
            external: None,
        },
        Vec::new(),
    )
}
