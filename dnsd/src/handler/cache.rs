//! A small cache of upstream answers, as the `cache 30` of kubeadm's Corefile keeps for
//! forwarded names (cluster answers are never cached: they come from the index).
//!
//! Positive answers live for the smallest TTL among their records, negative ones (NXDOMAIN,
//! NODATA) for `min(SOA TTL, SOA minimum)` (RFC 2308), both capped at [`MAX_TTL`]. Truncated
//! answers, errors and answers without a usable TTL are not kept. When the cache is full,
//! expired entries go first, then an arbitrary one (CoreDNS evicts at random too).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{RData, Record};

use super::forward::Answer;

/// The longest anything is cached (`cache 30`).
pub(super) const MAX_TTL: u32 = 30;
/// CoreDNS's default capacity (`cache` plugin: 9984 entries per kind).
pub(super) const CAPACITY: usize = 10_000;

/// (lower-case name, type, class).
pub(super) type Key = (String, u16, u16);

#[derive(Debug)]
struct Entry {
    answer: Answer,
    stored: Instant,
    ttl: u32,
}

/// Upstream answers by question.
#[derive(Debug)]
pub(super) struct Cache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// The cached answer for `key`, with TTLs counted down to what is left of its life.
    pub(super) fn get(&mut self, key: &Key, now: Instant) -> Option<Answer> {
        let entry = self.entries.get(key)?;
        let age = now.saturating_duration_since(entry.stored).as_secs();
        let left = u64::from(entry.ttl)
            .checked_sub(age)
            .filter(|left| *left > 0);
        let Some(left) = left else {
            self.entries.remove(key);
            return None;
        };
        Some(capped(&entry.answer, left as u32))
    }

    /// Keeps `answer` if it may be cached; returns it as it should be sent (TTLs capped).
    pub(super) fn insert(&mut self, key: Key, answer: Answer, now: Instant) -> Answer {
        let Some(ttl) = cache_ttl(&answer) else {
            return answer;
        };
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| {
                now.saturating_duration_since(e.stored) < Duration::from_secs(u64::from(e.ttl))
            });
            if self.entries.len() >= self.capacity {
                if let Some(victim) = self.entries.keys().next().cloned() {
                    self.entries.remove(&victim);
                }
            }
        }
        let sent = capped(&answer, ttl);
        self.entries.insert(
            key,
            Entry {
                answer,
                stored: now,
                ttl,
            },
        );
        sent
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// How long `answer` may be cached, if at all.
fn cache_ttl(answer: &Answer) -> Option<u32> {
    if answer.truncated {
        return None;
    }
    let ttl = match answer.rcode {
        ResponseCode::NoError if !answer.answers.is_empty() => answer
            .answers
            .iter()
            .chain(&answer.authorities)
            .map(|r| r.ttl)
            .min()?,
        ResponseCode::NoError | ResponseCode::NXDomain => {
            answer.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })?
        }
        _ => return None,
    };
    Some(ttl.min(MAX_TTL)).filter(|ttl| *ttl > 0)
}

fn capped(answer: &Answer, ttl: u32) -> Answer {
    let cap = |records: &[Record]| {
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.ttl = r.ttl.min(ttl);
                r
            })
            .collect()
    };
    Answer {
        rcode: answer.rcode,
        recursion_available: answer.recursion_available,
        truncated: answer.truncated,
        answers: cap(&answer.answers),
        authorities: cap(&answer.authorities),
        additionals: cap(&answer.additionals),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_server::proto::rr::Name;
    use hickory_server::proto::rr::rdata::{A, SOA};

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn positive(ttl: u32) -> Answer {
        Answer {
            rcode: ResponseCode::NoError,
            recursion_available: true,
            truncated: false,
            answers: vec![Record::from_rdata(
                name("example.com."),
                ttl,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            )],
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    fn negative(soa_ttl: u32, minimum: u32) -> Answer {
        let soa = SOA::new(name("ns.example."), name("h.example."), 1, 1, 1, 1, minimum);
        Answer {
            rcode: ResponseCode::NXDomain,
            recursion_available: true,
            truncated: false,
            answers: Vec::new(),
            authorities: vec![Record::from_rdata(
                name("example."),
                soa_ttl,
                RData::SOA(soa),
            )],
            additionals: Vec::new(),
        }
    }

    fn key(n: &str) -> Key {
        (n.to_string(), 1, 1)
    }

    #[test]
    fn ttls_decide_lifetimes() {
        assert_eq!(cache_ttl(&positive(300)), Some(MAX_TTL));
        assert_eq!(cache_ttl(&positive(7)), Some(7));
        assert_eq!(cache_ttl(&positive(0)), None);
        assert_eq!(cache_ttl(&negative(3600, 10)), Some(10));
        assert_eq!(cache_ttl(&negative(5, 900)), Some(5));
        let mut no_soa = negative(5, 5);
        no_soa.authorities.clear();
        assert_eq!(cache_ttl(&no_soa), None);
        let mut truncated = positive(10);
        truncated.truncated = true;
        assert_eq!(cache_ttl(&truncated), None);
        let mut failed = positive(10);
        failed.rcode = ResponseCode::ServFail;
        assert_eq!(cache_ttl(&failed), None);
    }

    #[test]
    fn entries_count_down_and_expire() {
        let mut cache = Cache::new(4);
        let t0 = Instant::now();
        let sent = cache.insert(key("example.com."), positive(300), t0);
        assert_eq!(sent.answers[0].ttl, MAX_TTL);
        let hit = cache
            .get(&key("example.com."), t0 + Duration::from_secs(12))
            .unwrap();
        assert_eq!(hit.answers[0].ttl, MAX_TTL - 12);
        assert!(
            cache
                .get(&key("example.com."), t0 + Duration::from_secs(30))
                .is_none()
        );
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn capacity_is_bounded() {
        let mut cache = Cache::new(3);
        let t0 = Instant::now();
        cache.insert(key("a."), positive(1), t0);
        cache.insert(key("b."), positive(30), t0);
        cache.insert(key("c."), positive(30), t0);
        // "a." has expired: it goes first.
        cache.insert(key("d."), positive(30), t0 + Duration::from_secs(2));
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&key("d."), t0 + Duration::from_secs(2)).is_some());
        cache.insert(key("e."), positive(30), t0 + Duration::from_secs(2));
        assert_eq!(cache.len(), 3);
    }
}
