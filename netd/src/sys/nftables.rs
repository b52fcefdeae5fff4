//! A small nf_tables client over `NETLINK_NETFILTER`: it replaces or deletes netd's own
//! table (`ip kubicle-<cluster id>`, named in its config), in one atomic batch, the way `nft -f` does.
//!
//! The messages are encoded here after `include/uapi/linux/netfilter/nf_tables.h` and
//! `nfnetlink.h`: no maintained crate speaks nf_tables over netlink (rustables is GPL-3.0,
//! nf_tables 0.1 is new), and netd needs only tables, chains, verdict maps and rules made of
//! a handful of expressions. `netlink-sys` (already under rtnetlink) owns the socket.
//!
//! The table holds what pods need to reach beyond the node (masquerade of traffic from the
//! pod CIDR to anywhere outside it, as the CNI bridge plugin's `ipMasq` does) and, when
//! given, a kernel data path for Services in the shape of kube-proxy's nftables mode: a
//! verdict map from `ip daddr . meta l4proto . th dport` to a chain per Service port, which
//! picks an endpoint chain with `numgen random` (through one map of all endpoints keyed by
//! Service index and pick), which DNATs. DNAT'd traffic is masqueraded
//! as the node, so answers between pods on the bridge and hairpin traffic come back through
//! conntrack (no br_netfilter needed), and backends see the node as the client, as with the
//! userspace proxy. In `nft` terms (`nft list table ip kubicle`):
//!
//! ```text
//! table ip kubicle {
//!     map service-ips { type ipv4_addr . inet_proto . inet_service : verdict
//!                       elements = { 10.96.0.50 . tcp . 80 : goto svc-0 } }
//!     map endpoints { type mark . mark : verdict
//!                     elements = { 0x0 . 0x0 : goto ep-0-0, 0x0 . 0x1 : goto ep-0-1 } }
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat; policy accept;
//!         ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade
//!         ip daddr 10.244.0.0/16 ct status dnat masquerade
//!     }
//!     chain prerouting { type nat hook prerouting priority dstnat; jump services }
//!     chain output { type nat hook output priority -100; jump services }
//!     chain services { ip daddr . meta l4proto . th dport vmap @service-ips }
//!     chain svc-0 { 0x0 . numgen random mod 2 vmap @endpoints }
//!     chain ep-0-0 { dnat to 10.244.0.2:8080 }
//!     chain ep-0-1 { dnat to 10.244.0.3:8080 }
//! }
//! ```

use std::io;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use ipnet::Ipv4Net;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use nix::sys::socket::{setsockopt, sockopt};

/// The table netd owns in the node netns.
/// The attribute that names the table, the same number in every nf_tables message netd sends
/// (`NFTA_TABLE_NAME`, `NFTA_CHAIN_TABLE`, `NFTA_RULE_TABLE`, `NFTA_SET_TABLE`,
/// `NFTA_SET_ELEM_LIST_TABLE` are all 1 in linux/netfilter/nf_tables.h).
const NFTA_ANY_TABLE: u16 = 1;
const CHAIN: &str = "postrouting";

// nfnetlink.h / netlink.h
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NFPROTO_IPV4: u8 = 2;

// nf_tables.h: messages
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
// attributes
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_DATA_VALUE: u16 = 1;
// values
const NF_INET_POST_ROUTING: u32 = 4;
const NF_IP_PRI_NAT_SRC: i32 = 100;
const NF_ACCEPT: u32 = 1;
const NFT_REG_1: u32 = 1;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_DREG: u16 = 3;
const NFTA_NG_DREG: u16 = 1;
const NFTA_NG_MODULUS: u16 = 2;
const NFTA_NG_TYPE: u16 = 3;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFT_SET_MAP: u32 = 0x8;
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG32_00: u32 = 8;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_META_L4PROTO: u32 = 16;
const NFT_CT_STATUS: u32 = 2;
const IPS_DST_NAT: u32 = 0x20;
const NFT_NG_RANDOM: u32 = 1;
const NFT_NAT_DNAT: u32 = 1;
const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_LOCAL_OUT: u32 = 3;
const NF_IP_PRI_NAT_DST: i32 = -100;

/// One Service port whose new connections the kernel sends to one of `endpoints` at random.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNat {
    /// The ClusterIP.
    pub vip: Ipv4Addr,
    /// The IP protocol number: 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// The Service port.
    pub port: u16,
    /// Where connections go; a Service port without endpoints is left out.
    pub endpoints: Vec<std::net::SocketAddrV4>,
}

/// Offsets of the source and destination addresses in the IPv4 header.
const IPV4_SADDR: u32 = 12;
const IPV4_DADDR: u32 = 16;

/// A `NETLINK_NETFILTER` socket opened in the node netns.
pub(crate) struct Nftables {
    /// The socket and the next sequence number; one batch at a time.
    socket: Mutex<(Socket, u32)>,
    /// The one table netd owns (`ip <table>`); nothing else is touched.
    table: String,
}

impl Nftables {
    /// Opens the socket in the calling thread's netns, for the table `ip <table>`.
    pub(crate) fn open(table: &str) -> io::Result<Nftables> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // nfnetlink handles a batch inside sendmsg, so every answer is queued when send
        // returns: a receive that would block means an answer that will never come.
        socket.set_non_blocking(true)?;
        Ok(Nftables {
            socket: Mutex::new((socket, 1)),
            table: table.to_owned(),
        })
    }

    /// The table's name.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// Replaces the table: pod traffic to outside `pod_cidr` is masqueraded, and new
    /// connections to each of `services` go to one of its endpoints (DNAT), masqueraded as the
    /// node on their way (as the userspace proxy's are), which also covers hairpin traffic and
    /// answers between pods on the bridge.
    pub(crate) fn apply(&self, pod_cidr: Ipv4Net, services: &[ServiceNat]) -> io::Result<()> {
        let services: Vec<&ServiceNat> = services
            .iter()
            .filter(|s| !s.endpoints.is_empty())
            .collect();
        self.run(|batch| {
            delete_table(batch);
            batch.message(NFT_MSG_NEWTABLE, NLM_F_CREATE, |_| {});
            base_chain(batch, CHAIN, NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);
            rule(batch, CHAIN, |list| {
                address_in(list, IPV4_SADDR, pod_cidr, NFT_CMP_EQ);
                address_in(list, IPV4_DADDR, pod_cidr, NFT_CMP_NEQ);
                expression(list, "masq", |_| {});
            });
            if services.is_empty() {
                return;
            }
            // Only what netd DNATs to pods: other DNAT on the host (Docker's published ports)
            // keeps its client addresses.
            rule(batch, CHAIN, |list| {
                address_in(list, IPV4_DADDR, pod_cidr, NFT_CMP_EQ);
                expression(list, "ct", |e| {
                    e.be32(NFTA_CT_DREG, NFT_REG_1);
                    e.be32(NFTA_CT_KEY, NFT_CT_STATUS);
                });
                // ct status & dnat != 0
                masked_compare(list, &IPS_DST_NAT.to_ne_bytes(), &[0; 4], NFT_CMP_NEQ);
                expression(list, "masq", |_| {});
            });
            base_chain(batch, "prerouting", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST);
            base_chain(batch, "output", NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST);
            plain_chain(batch, "services");
            for (i, service) in services.iter().enumerate() {
                plain_chain(batch, &format!("svc-{i}"));
                for j in 0..service.endpoints.len() {
                    plain_chain(batch, &format!("ep-{i}-{j}"));
                }
            }
            let mut set_id = 0;
            // The key type is for `nft list` only (nft's datatype ids; a concatenation is
            // `(a << 6 | b) << 6 | c`); the kernel goes by the key length.
            let mut verdict_map = |batch: &mut Batch, name: &str, key_type: u32, key_len: u32| {
                set_id += 1;
                let id = set_id;
                batch.message(NFT_MSG_NEWSET, NLM_F_CREATE, |m| {
                    m.string(NFTA_SET_NAME, name);
                    m.be32(NFTA_SET_FLAGS, NFT_SET_MAP);
                    m.be32(NFTA_SET_KEY_TYPE, key_type);
                    m.be32(NFTA_SET_KEY_LEN, key_len);
                    m.be32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT);
                    m.be32(NFTA_SET_ID, id);
                });
            };
            // ip daddr . meta l4proto . th dport, each field in a 4-byte register.
            const IPV4_ADDR: u32 = 7;
            const INET_PROTO: u32 = 12;
            const INET_SERVICE: u32 = 13;
            const MARK: u32 = 19;
            let concat = ((IPV4_ADDR << 6) | INET_PROTO) << 6 | INET_SERVICE;
            verdict_map(batch, "service-ips", concat, 12);
            // One map for every endpoint, keyed by Service index . random pick: sets are kept
            // in a list per table, so a set per Service would make a big table quadratic.
            // Shown as `mark . mark`: nft cannot list an `integer . integer` key (integers
            // have no fixed size for it), and a mark is a host-order 32-bit integer.
            verdict_map(batch, "endpoints", (MARK << 6) | MARK, 8);
            elements(
                batch,
                "service-ips",
                services.iter().enumerate().map(|(i, s)| {
                    let mut key = Vec::with_capacity(12);
                    key.extend_from_slice(&s.vip.octets());
                    key.extend_from_slice(&[s.protocol, 0, 0, 0]);
                    key.extend_from_slice(&s.port.to_be_bytes());
                    key.extend_from_slice(&[0, 0]);
                    (key, format!("svc-{i}"))
                }),
            );
            let picks = services.iter().enumerate().flat_map(|(i, service)| {
                (0..service.endpoints.len()).map(move |j| {
                    let (si, sj) = (index(i), index(j));
                    (
                        [si.to_ne_bytes(), sj.to_ne_bytes()].concat(),
                        format!("ep-{i}-{j}"),
                    )
                })
            });
            elements(batch, "endpoints", picks);
            for (i, service) in services.iter().enumerate() {
                rule(batch, &format!("svc-{i}"), |list| {
                    immediate(list, NFT_REG32_00, &index(i).to_ne_bytes());
                    expression(list, "numgen", |e| {
                        e.be32(NFTA_NG_DREG, NFT_REG32_00 + 1);
                        e.be32(NFTA_NG_MODULUS, index(service.endpoints.len()));
                        e.be32(NFTA_NG_TYPE, NFT_NG_RANDOM);
                    });
                    lookup(list, "endpoints");
                });
                for (j, endpoint) in service.endpoints.iter().enumerate() {
                    rule(batch, &format!("ep-{i}-{j}"), |list| {
                        immediate(list, NFT_REG32_00, &endpoint.ip().octets());
                        immediate(list, NFT_REG32_00 + 1, &endpoint.port().to_be_bytes());
                        expression(list, "nat", |e| {
                            e.be32(NFTA_NAT_TYPE, NFT_NAT_DNAT);
                            e.be32(NFTA_NAT_FAMILY, u32::from(NFPROTO_IPV4));
                            e.be32(NFTA_NAT_REG_ADDR_MIN, NFT_REG32_00);
                            e.be32(NFTA_NAT_REG_PROTO_MIN, NFT_REG32_00 + 1);
                        });
                    });
                }
            }
            rule(batch, "services", |list| {
                payload(
                    list,
                    NFT_REG32_00,
                    NFT_PAYLOAD_NETWORK_HEADER,
                    IPV4_DADDR,
                    4,
                );
                expression(list, "meta", |e| {
                    e.be32(NFTA_META_DREG, NFT_REG32_00 + 1);
                    e.be32(NFTA_META_KEY, NFT_META_L4PROTO);
                });
                // th dport: bytes 2-3 of the TCP or UDP header.
                payload(list, NFT_REG32_00 + 2, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
                lookup(list, "service-ips");
            });
            for base in ["prerouting", "output"] {
                rule(batch, base, |list| verdict(list, NFT_JUMP, "services"));
            }
        })
    }

    /// Deletes the table; fine if there is none.
    pub(crate) fn delete(&self) -> io::Result<()> {
        self.run(delete_table)
    }

    /// Sends the messages `build` adds as one batch and waits for every acknowledgement;
    /// the kernel applies all of them or none.
    fn run(&self, build: impl FnOnce(&mut Batch)) -> io::Result<()> {
        let mut guard = self
            .socket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (socket, seq) = &mut *guard;
        let mut batch = Batch::new(*seq, &self.table);
        batch.control(NFNL_MSG_BATCH_BEGIN);
        build(&mut batch);
        let acks = batch.ack_last();
        batch.control(NFNL_MSG_BATCH_END);
        *seq = batch.seq;
        // The kernel takes a batch as one message, which must fit the send buffer: a table of
        // 10,000 Services is some megabytes. SO_SNDBUFFORCE passes the sysctl cap (root).
        let size = batch.buf.len().saturating_add(64 << 10);
        let size = size.min(usize::try_from(i32::MAX).unwrap_or(usize::MAX));
        if setsockopt(&*socket, sockopt::SndBufForce, &size).is_err() {
            setsockopt(&*socket, sockopt::SndBuf, &size).map_err(io::Error::from)?;
        }
        socket.send(&batch.buf, 0)?;
        let mut acked = 0;
        while acked < acks {
            let reply = match socket.recv_from_full() {
                Ok((reply, _)) => reply,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::other("nf_tables did not acknowledge the batch"));
                }
                Err(error) => return Err(error),
            };
            acked += check_replies(&reply)?;
        }
        Ok(())
    }
}

/// Makes sure the table exists, then deletes it: a delete that cannot fail for its absence.
fn delete_table(batch: &mut Batch) {
    batch.message(NFT_MSG_NEWTABLE, NLM_F_CREATE, |_| {});
    batch.message(NFT_MSG_DELTABLE, 0, |_| {});
}

/// A NAT base chain on `hook` at `priority`, accepting by default.
fn base_chain(batch: &mut Batch, name: &str, hook: u32, priority: i32) {
    batch.message(NFT_MSG_NEWCHAIN, NLM_F_CREATE, |m| {
        m.string(NFTA_CHAIN_NAME, name);
        m.nested(NFTA_CHAIN_HOOK, |h| {
            h.be32(NFTA_HOOK_HOOKNUM, hook);
            h.be32(NFTA_HOOK_PRIORITY, priority as u32);
        });
        m.be32(NFTA_CHAIN_POLICY, NF_ACCEPT);
        m.string(NFTA_CHAIN_TYPE, "nat");
    });
}

/// A chain reached only by jumps.
fn plain_chain(batch: &mut Batch, name: &str) {
    batch.message(NFT_MSG_NEWCHAIN, NLM_F_CREATE, |m| {
        m.string(NFTA_CHAIN_NAME, name);
    });
}

/// A rule appended to `chain`.
fn rule(batch: &mut Batch, chain: &str, expressions: impl FnOnce(&mut Attrs)) {
    batch.message(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, |m| {
        m.string(NFTA_RULE_CHAIN, chain);
        m.nested(NFTA_RULE_EXPRESSIONS, expressions);
    });
}

/// Elements per NEWSETELEM message: an attribute's length is 16 bits, so a list of
/// thousands must be split (an element is under 100 bytes).
const ELEMENTS_PER_MESSAGE: usize = 256;

/// The elements of verdict map `set`: each key → goto its chain, in as many messages as it
/// takes.
fn elements(batch: &mut Batch, set: &str, entries: impl Iterator<Item = (Vec<u8>, String)>) {
    let entries: Vec<(Vec<u8>, String)> = entries.collect();
    for chunk in entries.chunks(ELEMENTS_PER_MESSAGE) {
        batch.message(NFT_MSG_NEWSETELEM, NLM_F_CREATE, |m| {
            m.string(NFTA_SET_ELEM_LIST_SET, set);
            m.nested(NFTA_SET_ELEM_LIST_ELEMENTS, |list| {
                for (key, chain) in chunk {
                    list.nested(NFTA_LIST_ELEM, |elem| {
                        elem.nested(NFTA_SET_ELEM_KEY, |k| k.bytes(NFTA_DATA_VALUE, key));
                        elem.nested(NFTA_SET_ELEM_DATA, |d| verdict_data(d, NFT_GOTO, chain));
                    });
                }
            });
        });
    }
}

fn verdict_data(data: &mut Attrs, code: i32, chain: &str) {
    data.nested(NFTA_DATA_VERDICT, |v| {
        v.be32(NFTA_VERDICT_CODE, code as u32);
        v.string(NFTA_VERDICT_CHAIN, chain);
    });
}

/// `jump|goto chain` as an expression.
fn verdict(list: &mut Attrs, code: i32, chain: &str) {
    expression(list, "immediate", |e| {
        e.be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
        e.nested(NFTA_IMMEDIATE_DATA, |d| verdict_data(d, code, chain));
    });
}

/// Loads `value` into register `reg`.
fn immediate(list: &mut Attrs, reg: u32, value: &[u8]) {
    expression(list, "immediate", |e| {
        e.be32(NFTA_IMMEDIATE_DREG, reg);
        e.nested(NFTA_IMMEDIATE_DATA, |d| d.bytes(NFTA_DATA_VALUE, value));
    });
}

/// Looks the key starting at register 8 up in verdict map `set` and follows the verdict.
fn lookup(list: &mut Attrs, set: &str) {
    expression(list, "lookup", |e| {
        e.string(NFTA_LOOKUP_SET, set);
        e.be32(NFTA_LOOKUP_SREG, NFT_REG32_00);
        e.be32(NFTA_LOOKUP_DREG, NFT_REG_VERDICT);
    });
}

/// `ip saddr|daddr [!=] cidr`: load the address, mask it, compare with the network.
fn address_in(list: &mut Attrs, offset: u32, cidr: Ipv4Net, op: u32) {
    payload(list, NFT_REG_1, NFT_PAYLOAD_NETWORK_HEADER, offset, 4);
    masked_compare(list, &cidr.netmask().octets(), &cidr.network().octets(), op);
}

/// `(register 1 & mask) op value`, for 4-byte values.
fn masked_compare(list: &mut Attrs, mask: &[u8; 4], value: &[u8; 4], op: u32) {
    expression(list, "bitwise", |e| {
        e.be32(NFTA_BITWISE_SREG, NFT_REG_1);
        e.be32(NFTA_BITWISE_DREG, NFT_REG_1);
        e.be32(NFTA_BITWISE_LEN, 4);
        e.nested(NFTA_BITWISE_MASK, |d| d.bytes(NFTA_DATA_VALUE, mask));
        e.nested(NFTA_BITWISE_XOR, |d| d.bytes(NFTA_DATA_VALUE, &[0; 4]));
    });
    expression(list, "cmp", |e| {
        e.be32(NFTA_CMP_SREG, NFT_REG_1);
        e.be32(NFTA_CMP_OP, op);
        e.nested(NFTA_CMP_DATA, |d| d.bytes(NFTA_DATA_VALUE, value));
    });
}

/// An index as the 32-bit integer nf_tables keys hold.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Loads `len` bytes at `offset` of header `base` into register `dreg`.
fn payload(list: &mut Attrs, dreg: u32, base: u32, offset: u32, len: u32) {
    expression(list, "payload", |e| {
        e.be32(NFTA_PAYLOAD_DREG, dreg);
        e.be32(NFTA_PAYLOAD_BASE, base);
        e.be32(NFTA_PAYLOAD_OFFSET, offset);
        e.be32(NFTA_PAYLOAD_LEN, len);
    });
}

/// One element of a rule's expression list.
fn expression(list: &mut Attrs, name: &str, data: impl FnOnce(&mut Attrs)) {
    list.nested(NFTA_LIST_ELEM, |elem| {
        elem.string(NFTA_EXPR_NAME, name);
        elem.nested(NFTA_EXPR_DATA, data);
    });
}

/// Netlink attributes being appended to a buffer.
struct Attrs<'a>(&'a mut Vec<u8>);

impl Attrs<'_> {
    fn bytes(&mut self, kind: u16, payload: &[u8]) {
        let len = u16::try_from(4 + payload.len()).expect("a netlink attribute under 64 KiB");
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(payload);
        pad(self.0);
    }

    /// A NUL-terminated string.
    fn string(&mut self, kind: u16, value: &str) {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        self.bytes(kind, &payload);
    }

    /// nf_tables reads its 32-bit numbers in network byte order.
    fn be32(&mut self, kind: u16, value: u32) {
        self.bytes(kind, &value.to_be_bytes());
    }

    fn nested(&mut self, kind: u16, inner: impl FnOnce(&mut Attrs)) {
        let start = self.0.len();
        self.0.extend_from_slice(&[0; 4]);
        inner(&mut Attrs(self.0));
        // Callers keep attributes small (see ELEMENTS_PER_MESSAGE); a longer one would be
        // misread by the kernel, never silently truncated here.
        let len = u16::try_from(self.0.len() - start).expect("a netlink attribute under 64 KiB");
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.0[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }
}

/// Netlink aligns every attribute to 4 bytes.
fn pad(buf: &mut Vec<u8>) {
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// Netlink messages being appended to one buffer. Only the last nf_tables message asks for
/// an acknowledgement: errors come back whatever the flags, and one ack per message would
/// overflow the socket's receive buffer for a table of thousands of Services.
struct Batch {
    buf: Vec<u8>,
    seq: u32,
    /// The table every nf_tables message of the batch names.
    table: String,
    /// Where the last nf_tables message starts.
    last: Option<usize>,
}

impl Batch {
    fn new(seq: u32, table: &str) -> Batch {
        Batch {
            buf: Vec::new(),
            seq,
            table: table.to_owned(),
            last: None,
        }
    }

    /// Batch begin/end: no family, the subsystem in `res_id`.
    fn control(&mut self, kind: u16) {
        self.push(kind, NLM_F_REQUEST, 0, |_| {});
    }

    /// An nf_tables message for the `ip` family, about the batch's table.
    fn message(&mut self, kind: u16, flags: u16, attrs: impl FnOnce(&mut Attrs)) {
        self.last = Some(self.buf.len());
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        let table = std::mem::take(&mut self.table);
        self.push(kind, NLM_F_REQUEST | flags, NFPROTO_IPV4, |m| {
            m.string(NFTA_ANY_TABLE, &table);
            attrs(m);
        });
        self.table = table;
    }

    /// Asks for the acknowledgement of the last nf_tables message; how many will come.
    fn ack_last(&mut self) -> usize {
        let Some(start) = self.last else { return 0 };
        let at = start + 6; // nlmsg_flags
        let flags = u16::from_ne_bytes([self.buf[at], self.buf[at + 1]]) | NLM_F_ACK;
        self.buf[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
        1
    }

    fn push(&mut self, kind: u16, flags: u16, family: u8, attrs: impl FnOnce(&mut Attrs)) {
        let start = self.buf.len();
        // struct nlmsghdr: length (filled in below), type, flags, sequence, port id.
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        // struct nfgenmsg: family, version 0, res_id (big-endian).
        self.buf.push(family);
        self.buf.push(0);
        self.buf
            .extend_from_slice(&NFNL_SUBSYS_NFTABLES.to_be_bytes());
        attrs(&mut Attrs(&mut self.buf));
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        self.seq = self.seq.wrapping_add(1);
    }
}

/// Walks the netlink messages in `reply`: the number of acknowledgements, or the first error.
fn check_replies(mut reply: &[u8]) -> io::Result<usize> {
    let mut acked = 0;
    while reply.len() >= 16 {
        let len = u32::from_ne_bytes([reply[0], reply[1], reply[2], reply[3]]) as usize;
        let kind = u16::from_ne_bytes([reply[4], reply[5]]);
        if len < 16 || len > reply.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a truncated netlink message from nf_tables",
            ));
        }
        if kind == NLMSG_ERROR && len >= 20 {
            let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            if code != 0 {
                return Err(io::Error::from_raw_os_error(-code));
            }
            acked += 1;
        }
        reply = &reply[len.next_multiple_of(4).min(reply.len())..];
    }
    Ok(acked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_lengths_cover_their_children() {
        let mut buf = Vec::new();
        let mut attrs = Attrs(&mut buf);
        attrs.nested(4, |inner| {
            inner.string(1, "nat"); // 4 + 4 bytes
            inner.be32(2, 100); // 4 + 4 bytes
        });
        assert_eq!(buf.len(), 20);
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), 20);
        assert_eq!(u16::from_ne_bytes([buf[2], buf[3]]), 4 | NLA_F_NESTED);
        assert_eq!(&buf[8..11], b"nat");
        assert_eq!(&buf[16..20], &100u32.to_be_bytes());
    }

    #[test]
    fn a_batch_asks_only_its_last_message_for_an_acknowledgement() {
        let flags = |batch: &Batch, start: usize| {
            u16::from_ne_bytes([batch.buf[start + 6], batch.buf[start + 7]])
        };
        let mut batch = Batch::new(7, "kubicle");
        batch.control(NFNL_MSG_BATCH_BEGIN);
        let first = batch.buf.len();
        delete_table(&mut batch);
        let last = batch.last.expect("a message");
        assert_eq!(batch.ack_last(), 1);
        batch.control(NFNL_MSG_BATCH_END);
        assert_eq!(batch.seq, 11);
        assert_eq!(flags(&batch, first) & NLM_F_ACK, 0);
        assert_eq!(flags(&batch, last) & NLM_F_ACK, NLM_F_ACK);
        // The first message: batch begin, 20 bytes, subsystem in res_id.
        assert_eq!(
            u32::from_ne_bytes([batch.buf[0], batch.buf[1], batch.buf[2], batch.buf[3]]),
            20
        );
        assert_eq!(&batch.buf[18..20], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
    }

    #[test]
    fn replies_give_acks_or_the_first_error() {
        let message = |code: i32| {
            let mut m = Vec::new();
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&[0; 10]);
            m.extend_from_slice(&code.to_ne_bytes());
            m.extend_from_slice(&[0; 16]);
            m
        };
        let acks = [message(0), message(0)].concat();
        assert_eq!(check_replies(&acks).expect("acks"), 2);
        let error = [message(0), message(-22)].concat();
        assert_eq!(
            check_replies(&error).expect_err("EINVAL").raw_os_error(),
            Some(22)
        );
    }
}
