//! [`Netlink`]: the [`Links`] of one network namespace over an rtnetlink connection.
//!
//! A netlink socket talks to the netns its creating thread was in when `socket(2)` ran, for its
//! whole life (netlink(7); `net/netlink/af_netlink.c` takes `sock_net` at create time), so a
//! connection opened on a thread inside a pod netns keeps configuring that netns after the
//! thread is gone.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use nix::errno::Errno;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{
    AddressMessageBuilder, Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use super::{Link, Links};
use crate::Error;

/// An rtnetlink connection to one netns. Its connection task runs on the tokio runtime and
/// ends when the last clone of the handle is dropped.
#[derive(Clone)]
pub(crate) struct Netlink {
    /// The request side of the connection.
    handle: Handle,
}

/// The connection half that must be spawned on a runtime, as rtnetlink returns it.
pub(crate) type Connection =
    rtnetlink::proto::Connection<rtnetlink::packet_route::RouteNetlinkMessage>;

impl Netlink {
    /// Opens a connection in the calling thread's netns and spawns its task. Must run inside a
    /// tokio runtime.
    pub(crate) fn connect() -> io::Result<Netlink> {
        let (connection, netlink) = Netlink::open()?;
        tokio::spawn(connection);
        Ok(netlink)
    }

    /// Opens a connection in the calling thread's netns without spawning it: the caller spawns
    /// the returned task (used from a thread inside a pod netns that has entered the runtime
    /// but does not run it). Must be called in a tokio runtime context, since the socket
    /// registers with the runtime's reactor.
    pub(crate) fn open() -> io::Result<(Connection, Netlink)> {
        // The third part is the stream of unsolicited messages (multicast events); we
        // subscribe to none, and dropping it lets the connection task end with the handle.
        let (connection, handle, _unsolicited) = rtnetlink::new_connection()?;
        Ok((connection, Netlink { handle }))
    }
}

/// The errno of a netlink error answer, if the error is one.
fn errno(error: &rtnetlink::Error) -> Option<Errno> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(Errno::from_raw(-message.raw_code())),
        _ => None,
    }
}

/// Whether `error` is the kernel answering with one of `codes`.
fn is(error: &rtnetlink::Error, codes: &[Errno]) -> bool {
    errno(error).is_some_and(|code| codes.contains(&code))
}

impl Links for Netlink {
    async fn link(&self, name: &str) -> Result<Option<Link>, Error> {
        let mut answers = self.handle.link().get().match_name(name).execute();
        match answers.try_next().await {
            Ok(Some(message)) => Ok(Some(Link {
                index: message.header.index,
                name: name.to_owned(),
            })),
            Ok(None) => Ok(None),
            // RTM_GETLINK by IFLA_IFNAME answers ENODEV for a name that does not exist.
            Err(error) if is(&error, &[Errno::ENODEV]) => Ok(None),
            Err(source) => Err(Error::GetLink {
                name: name.to_owned(),
                source: Box::new(source),
            }),
        }
    }

    async fn links(&self) -> Result<Vec<Link>, Error> {
        let mut answers = self.handle.link().get().execute();
        let mut links = Vec::new();
        while let Some(message) = answers
            .try_next()
            .await
            .map_err(|source| Error::ListLinks {
                source: Box::new(source),
            })?
        {
            let name = message
                .attributes
                .iter()
                .find_map(|attribute| match attribute {
                    LinkAttribute::IfName(name) => Some(name.clone()),
                    _ => None,
                });
            if let Some(name) = name {
                links.push(Link {
                    index: message.header.index,
                    name,
                });
            }
        }
        Ok(links)
    }

    async fn add_bridge(&self, name: &str) -> Result<(), Error> {
        let message = LinkBridge::new(name).build();
        match self.handle.link().add(message).execute().await {
            Err(error) if is(&error, &[Errno::EEXIST]) => Ok(()),
            result => result.map_err(|source| Error::CreateBridge {
                name: name.to_owned(),
                source: Box::new(source),
            }),
        }
    }

    async fn add_veth(&self, host: &str, peer: &str, peer_netns: &Path) -> Result<(), Error> {
        // std opens with O_CLOEXEC, so the fd cannot leak into a child spawned meanwhile.
        let netns = File::open(peer_netns).map_err(|source| Error::OpenNetns {
            path: peer_netns.to_owned(),
            source,
        })?;
        // The peer is created straight inside the pod netns under its final name, with
        // IFLA_NET_NS_FD in the peer's message (what `ip link add H type veth peer name eth0
        // netns NS` sends; veth_newlink in drivers/net/veth.c honours it). That is one atomic
        // step instead of create, move and rename, and no temporary name in the node netns can
        // collide or be left behind.
        let peer_message = LinkUnspec::new_with_name(peer)
            .setns_by_fd(netns.as_raw_fd())
            .build();
        let message = LinkVeth::new(host, peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message)))
            .build();
        let result = self.handle.link().add(message).execute().await;
        // The kernel has taken its own reference to the netns by the time it answers.
        drop(netns);
        result.map_err(|source| Error::CreateVeth {
            host: host.to_owned(),
            peer: peer.to_owned(),
            netns: peer_netns.to_owned(),
            source: Box::new(source),
        })
    }

    async fn attach(&self, link: &Link, bridge: &Link) -> Result<(), Error> {
        let message = LinkUnspec::new_with_index(link.index)
            .controller(bridge.index)
            .up()
            .build();
        self.handle
            .link()
            .change(message)
            .execute()
            .await
            .map_err(|source| Error::AttachLink {
                name: link.name.clone(),
                bridge: bridge.name.clone(),
                source: Box::new(source),
            })
    }

    async fn set_hairpin(&self, link: &Link) -> Result<(), Error> {
        // IFLA_BRPORT_MODE through RTM_NEWLINK's IFLA_INFO_SLAVE_DATA (what `ip link set DEV
        // type bridge_slave hairpin on` sends) rather than writing
        // /sys/class/net/DEV/brport/hairpin_mode: sysfs shows the netns of whoever mounted it
        // (sysfs-class-net docs), which need not be the node netns.
        let message = LinkBridgePort::new(link.index).hairpin(true).build();
        self.handle
            .link()
            .set_port(message)
            .execute()
            .await
            .map_err(|source| Error::SetHairpin {
                name: link.name.clone(),
                source: Box::new(source),
            })
    }

    async fn set_up(&self, link: &Link) -> Result<(), Error> {
        let message = LinkUnspec::new_with_index(link.index).up().build();
        self.handle
            .link()
            .change(message)
            .execute()
            .await
            .map_err(|source| Error::SetLinkUp {
                name: link.name.clone(),
                source: Box::new(source),
            })
    }

    async fn set_mac(&self, link: &Link, mac: [u8; 6]) -> Result<(), Error> {
        let message = LinkUnspec::new_with_index(link.index)
            .address(mac.to_vec())
            .build();
        self.handle
            .link()
            .change(message)
            .execute()
            .await
            .map_err(|source| Error::SetLinkMac {
                name: link.name.clone(),
                source: Box::new(source),
            })
    }

    async fn delete_link(&self, link: &Link) -> Result<(), Error> {
        match self.handle.link().del(link.index).execute().await {
            Err(error) if is(&error, &[Errno::ENODEV]) => Ok(()),
            result => result.map_err(|source| Error::DeleteLink {
                name: link.name.clone(),
                source: Box::new(source),
            }),
        }
    }

    async fn addresses(&self, link: &Link) -> Result<Vec<Ipv4Net>, Error> {
        let mut answers = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .execute();
        let mut addresses = Vec::new();
        while let Some(message) =
            answers
                .try_next()
                .await
                .map_err(|source| Error::ListAddresses {
                    link: link.name.clone(),
                    source: Box::new(source),
                })?
        {
            if message.header.family != AddressFamily::Inet {
                continue;
            }
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
            // point-to-point links and equal to IFA_LOCAL otherwise (rtnetlink(7)).
            let local = message
                .attributes
                .iter()
                .find_map(|attribute| match attribute {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                });
            let address = local.or_else(|| {
                message
                    .attributes
                    .iter()
                    .find_map(|attribute| match attribute {
                        AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                        _ => None,
                    })
            });
            if let Some(address) = address {
                if let Ok(net) = Ipv4Net::new(address, message.header.prefix_len) {
                    addresses.push(net);
                }
            }
        }
        Ok(addresses)
    }

    async fn add_address(&self, link: &Link, address: Ipv4Net) -> Result<(), Error> {
        let request =
            self.handle
                .address()
                .add(link.index, IpAddr::V4(address.addr()), address.prefix_len());
        match request.execute().await {
            Err(error) if is(&error, &[Errno::EEXIST]) => Ok(()),
            result => result.map_err(|source| Error::AddAddress {
                link: link.name.clone(),
                address,
                source: Box::new(source),
            }),
        }
    }

    async fn delete_address(&self, link: &Link, address: Ipv4Net) -> Result<(), Error> {
        let message = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(link.index)
            .address(address.addr(), address.prefix_len())
            .build();
        match self.handle.address().del(message).execute().await {
            // inet_rtm_deladdr answers EADDRNOTAVAIL for an address the link does not have,
            // and ENODEV once the link itself is gone (with its addresses).
            Err(error) if is(&error, &[Errno::EADDRNOTAVAIL, Errno::ENODEV]) => Ok(()),
            result => result.map_err(|source| Error::DeleteAddress {
                link: link.name.clone(),
                address,
                source: Box::new(source),
            }),
        }
    }

    async fn set_unreachable_route(&self, destination: Ipv4Net) -> Result<(), Error> {
        self.handle
            .route()
            .add(unreachable(destination))
            .replace()
            .execute()
            .await
            .map_err(|source| Error::UnreachableRoute {
                action: "add",
                destination,
                source: Box::new(source),
            })
    }

    async fn delete_unreachable_route(&self, destination: Ipv4Net) -> Result<(), Error> {
        match self
            .handle
            .route()
            .del(unreachable(destination))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is(&e, &[Errno::ESRCH, Errno::ENOENT]) => Ok(()),
            Err(source) => Err(Error::UnreachableRoute {
                action: "delete",
                destination,
                source: Box::new(source),
            }),
        }
    }

    async fn set_default_route(&self, gateway: Ipv4Addr, link: &Link) -> Result<(), Error> {
        // No destination attribute and a /0 prefix: the default route. NLM_F_REPLACE makes a
        // repeated call converge on this gateway instead of failing with EEXIST.
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(link.index)
            .build();
        self.handle
            .route()
            .add(message)
            .replace()
            .execute()
            .await
            .map_err(|source| Error::SetDefaultRoute {
                gateway,
                link: link.name.clone(),
                source: Box::new(source),
            })
    }
}

/// The message of an `unreachable` route for `destination` in the main table.
fn unreachable(destination: Ipv4Net) -> rtnetlink::packet_route::route::RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(destination.network(), destination.prefix_len())
        .kind(rtnetlink::packet_route::route::RouteType::Unreachable)
        .build()
}
