//! The record builders of `plugin/backend_lookup.go`: `A`/`AAAA` (with ExternalName chains),
//! `SRV` (weights, de-duplication, Additional), `TXT`, `CNAME` and the apex `NS`.

use std::net::IpAddr;

use super::kubernetes::{Entry, Host};
use super::{
    DNS_SCHEMA_VERSION, DNS_VERSION_TTL, Data, MAX_CNAME_CHAIN, NameError, Owner, QType, Record,
    Zone, in_zone, strip_zone,
};

/// Addresses found for an A/AAAA question, and an ExternalName still to resolve upstream.
#[derive(Debug, Default)]
pub(super) struct Resolved {
    pub(super) records: Vec<Record>,
    pub(super) external: Option<String>,
}

impl Zone<'_> {
    /// `plugin.A` / `plugin.AAAA`: addresses, following ExternalName CNAMEs inside the zone
    /// and handing the first one that leaves the zone to the upstream.
    pub(super) fn address(
        &self,
        owner: &Owner,
        lower: &str,
        qtype: QType,
        previous: &[String],
    ) -> Result<Resolved, NameError> {
        // `checkForApex`: `apex.dns.<zone>` is never a valid name here, so the apex itself
        // is looked up, and has no addresses.
        let entries = self.services(lower, qtype)?;
        let mut resolved = Resolved::default();
        let mut seen: Vec<IpAddr> = Vec::new();
        for entry in entries {
            match entry.host {
                Host::Name(target) => {
                    let target = format!("{target}.");
                    let target_lower = target.to_ascii_lowercase();
                    // x CNAME x (or below x) is a loop.
                    if in_zone(&target_lower, lower) {
                        continue;
                    }
                    if previous.len() > MAX_CNAME_CHAIN
                        || previous.iter().any(|t| t.eq_ignore_ascii_case(&target))
                    {
                        continue;
                    }
                    let cname = Record {
                        owner: owner.clone(),
                        ttl: self.index.ttl,
                        data: Data::Cname(target.clone()),
                    };
                    if in_zone(&target_lower, &self.index.zone) {
                        let mut chain = previous.to_vec();
                        chain.push(target.clone());
                        let nested = Owner::Name(target.clone());
                        if let Ok(next) = self.address(&nested, &target_lower, qtype, &chain) {
                            if !next.records.is_empty() {
                                resolved.records.push(cname);
                                resolved.records.extend(next.records);
                                resolved.external = resolved.external.or(next.external);
                            }
                        }
                        continue;
                    }
                    resolved.records.push(cname);
                    resolved.external = Some(target);
                }
                Host::Ip(ip) if !seen.contains(&ip) => {
                    let data = match (qtype, ip) {
                        (QType::Aaaa, IpAddr::V6(v6)) => Data::Aaaa(v6),
                        (QType::Aaaa, IpAddr::V4(_)) => continue,
                        (_, IpAddr::V4(v4)) => Data::A(v4),
                        (_, IpAddr::V6(_)) => continue,
                    };
                    seen.push(ip);
                    resolved.records.push(Record {
                        owner: owner.clone(),
                        ttl: self.index.ttl,
                        data,
                    });
                }
                Host::Ip(_) => {}
            }
        }
        Ok(resolved)
    }

    /// `plugin.SRV`: one SRV per (target, port), the addresses in Additional.
    pub(super) fn srv(&self, lower: &str) -> Result<(Vec<Record>, Vec<Record>), NameError> {
        let entries = self.services(lower, QType::Srv)?;
        // Every entry has priority 0 and the default weight 100; CoreDNS computes
        // 100 / (100 * n) * 100 in floating point, counting the port −1 entries too.
        let total = 100.0 * entries.len() as f64;
        let weight = ((100.0 / total * 100.0).floor() as u16).max(1);
        let (mut answers, mut additionals) = (Vec::new(), Vec::new());
        let mut seen_srv: Vec<(String, u16)> = Vec::new();
        let mut seen_addr: Vec<(String, IpAddr)> = Vec::new();
        for entry in entries {
            let (Host::Ip(ip), Ok(port)) = (entry.host, u16::try_from(entry.port)) else {
                continue; // port −1: no ports declared
            };
            let target = format!("{}.{}", entry.target, self.zone);
            if !seen_srv.iter().any(|(t, p)| *t == target && *p == port) {
                seen_srv.push((target.clone(), port));
                answers.push(Record {
                    owner: Owner::Query,
                    ttl: self.index.ttl,
                    data: Data::Srv {
                        priority: 0,
                        weight,
                        port,
                        target: target.clone(),
                    },
                });
            }
            if !seen_addr.iter().any(|(t, a)| *t == target && *a == ip) {
                seen_addr.push((target.clone(), ip));
                additionals.push(Record {
                    owner: Owner::Name(target),
                    ttl: self.index.ttl,
                    data: address_data(ip),
                });
            }
        }
        Ok((answers, additionals))
    }

    /// TXT: `dns-version.<zone>`; any other name is NODATA if it has entries, else NXDOMAIN
    /// (so `svc.<zone>` TXT is NXDOMAIN, and an ExternalName's TXT is NODATA).
    pub(super) fn txt(&self, lower: &str) -> Result<Vec<Record>, NameError> {
        if strip_zone(lower, &self.index.zone) == "dns-version" {
            return Ok(vec![Record {
                owner: Owner::Query,
                ttl: DNS_VERSION_TTL,
                data: Data::Txt(DNS_SCHEMA_VERSION.to_string()),
            }]);
        }
        match self.records(lower) {
            Ok(entries) if !entries.is_empty() => Ok(Vec::new()),
            _ => Err(NameError),
        }
    }

    /// `plugin.CNAME`: an ExternalName's target, without following it.
    pub(super) fn cname(&self, lower: &str) -> Result<Vec<Record>, NameError> {
        let entries = self.services(lower, QType::Cname)?;
        Ok(match entries.into_iter().next() {
            Some(Entry {
                host: Host::Name(target),
                ..
            }) => vec![Record {
                owner: Owner::Query,
                ttl: self.index.ttl,
                data: Data::Cname(format!("{target}.")),
            }],
            _ => Vec::new(),
        })
    }

    /// NS at the apex: `ns.dns.<zone>`, with the DNS Service's IPs as glue.
    pub(super) fn ns(&self) -> (Resolved, Vec<Record>) {
        let target = format!("ns.dns.{}", self.zone);
        let mut answers = Vec::new();
        let mut glue = Vec::new();
        for ip in &self.index.dns_service_ips {
            glue.push(Record {
                owner: Owner::Name(target.clone()),
                ttl: self.index.ttl,
                data: address_data(*ip),
            });
            if answers.is_empty() {
                answers.push(Record {
                    owner: Owner::Query,
                    ttl: self.index.ttl,
                    data: Data::Ns(target.clone()),
                });
            }
        }
        (
            Resolved {
                records: answers,
                external: None,
            },
            glue,
        )
    }
}

fn address_data(ip: IpAddr) -> Data {
    match ip {
        IpAddr::V4(v4) => Data::A(v4),
        IpAddr::V6(v6) => Data::Aaaa(v6),
    }
}
