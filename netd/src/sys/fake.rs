//! A recording fake of [`Links`] and [`Namespaces`] for unit tests (youki's
//! `libcontainer/src/syscall/test.rs` pattern).
//!
//! It records every call as a line such as `"node: add_veth kv0123456789 peer eth0 in pod-a"`
//! or `"pod-a: set_up lo"` (the namespace is `node` or the netns file name), keeps a small
//! model of the kernel's state so that idempotency and cleanup can be checked, enforces the
//! ordering rules the kernel does (a default route needs an up link with an address on the
//! gateway's subnet; hairpin needs a bridge port), and fails the calls whose line starts with
//! a prefix given to [`Fake::fail_on`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::Ipv4Net;
use nix::errno::Errno;

use super::{Link, Links, Namespaces};
use crate::Error;

/// One link of the model.
#[derive(Debug, Clone, Default)]
struct FakeLink {
    index: u32,
    up: bool,
    /// The bridge this link is a port of.
    master: Option<String>,
    hairpin: bool,
    addresses: Vec<Ipv4Net>,
    /// The other end of a veth: (namespace, name).
    peer: Option<(String, String)>,
}

/// The model of the kernel and the call log.
#[derive(Debug, Default)]
struct State {
    calls: Vec<String>,
    /// Prefixes of call lines that fail once each.
    fail: Vec<String>,
    /// Mounted netns, by path.
    netns: BTreeMap<PathBuf, ()>,
    /// Links by (namespace, name).
    links: BTreeMap<(String, String), FakeLink>,
    /// Default routes by namespace: (gateway, link).
    routes: BTreeMap<String, (Ipv4Addr, String)>,
    /// `unreachable` routes: (namespace, destination).
    unreachable: std::collections::BTreeSet<(String, Ipv4Net)>,
    next_index: u32,
}

impl State {
    /// Records `line`; `true` if an injected failure claims it.
    fn call(&mut self, line: String) -> bool {
        let failing = self
            .fail
            .iter()
            .position(|prefix| line.starts_with(prefix.as_str()));
        self.calls.push(line);
        match failing {
            Some(at) => {
                self.fail.remove(at);
                true
            }
            None => false,
        }
    }

    fn add_link(&mut self, ns: &str, name: &str, peer: Option<(String, String)>) {
        self.next_index += 1;
        let link = FakeLink {
            index: self.next_index,
            peer,
            ..FakeLink::default()
        };
        self.links.insert((ns.to_owned(), name.to_owned()), link);
    }

    /// Removes a link and, like the kernel, its veth peer.
    fn remove_link(&mut self, ns: &str, name: &str) {
        if let Some(link) = self.links.remove(&(ns.to_owned(), name.to_owned())) {
            if let Some(peer) = link.peer {
                self.links.remove(&peer);
            }
        }
        self.routes
            .retain(|route_ns, (_, dev)| !(route_ns == ns && dev == name));
    }
}

/// The namespace label of a netns path in call lines: its file name.
fn label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// The error an injected netlink failure returns.
fn failed() -> Box<rtnetlink::Error> {
    Box::new(rtnetlink::Error::RequestFailed)
}

/// The recording fake; clones share state.
#[derive(Clone)]
pub(crate) struct Fake {
    state: Arc<Mutex<State>>,
    node: FakeLinks,
}

/// The [`Links`] of one namespace of a [`Fake`].
#[derive(Clone)]
pub(crate) struct FakeLinks {
    ns: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    /// A node netns with only `lo` (down) in it.
    pub(crate) fn new() -> Fake {
        let state = Arc::new(Mutex::new(State::default()));
        let fake = Fake {
            node: FakeLinks {
                ns: "node".to_owned(),
                state: Arc::clone(&state),
            },
            state,
        };
        fake.lock().add_link("node", "lo", None);
        fake
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Makes the next call whose line starts with `prefix` fail.
    pub(crate) fn fail_on(&self, prefix: &str) {
        self.lock().fail.push(prefix.to_owned());
    }

    /// The calls so far.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the calls so far.
    pub(crate) fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The names of the links in namespace `ns` (`node` or a netns file name).
    pub(crate) fn link_names(&self, ns: &str) -> Vec<String> {
        self.lock()
            .links
            .keys()
            .filter(|(link_ns, _)| link_ns == ns)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// The addresses of a link, as text.
    pub(crate) fn addresses(&self, ns: &str, name: &str) -> Vec<String> {
        self.lock()
            .links
            .get(&(ns.to_owned(), name.to_owned()))
            .map(|link| link.addresses.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// Whether a link is up, a bridge port with hairpin on, and of which bridge.
    pub(crate) fn port(&self, name: &str) -> Option<(bool, Option<String>, bool)> {
        self.lock()
            .links
            .get(&("node".to_owned(), name.to_owned()))
            .map(|link| (link.up, link.master.clone(), link.hairpin))
    }

    /// Whether a link in `ns` is up.
    pub(crate) fn is_up(&self, ns: &str, name: &str) -> bool {
        self.lock()
            .links
            .get(&(ns.to_owned(), name.to_owned()))
            .is_some_and(|link| link.up)
    }

    /// Whether `ns` has an `unreachable` route for `destination`.
    pub(crate) fn has_unreachable(&self, ns: &str, destination: Ipv4Net) -> bool {
        self.lock()
            .unreachable
            .contains(&(ns.to_string(), destination))
    }

    /// The default route of `ns`.
    pub(crate) fn default_route(&self, ns: &str) -> Option<(Ipv4Addr, String)> {
        self.lock().routes.get(ns).cloned()
    }

    /// The mounted netns paths.
    pub(crate) fn netns(&self) -> Vec<PathBuf> {
        self.lock().netns.keys().cloned().collect()
    }

    /// Adds a lone link behind netd's back.
    pub(crate) fn add_behind(&self, ns: &str, name: &str) {
        self.lock().add_link(ns, name, None);
    }

    /// Deletes a link behind netd's back, as an operator might.
    pub(crate) fn delete_behind(&self, ns: &str, name: &str) {
        self.lock().remove_link(ns, name);
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread poisons the lock; the state is still fine to read.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeLinks {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn key(&self, name: &str) -> (String, String) {
        (self.ns.clone(), name.to_owned())
    }

    /// The model's link, or ENODEV as the kernel would answer.
    fn with_link<T>(
        &self,
        state: &mut State,
        link: &Link,
        change: impl FnOnce(&mut FakeLink) -> Result<T, Box<rtnetlink::Error>>,
    ) -> Result<T, Box<rtnetlink::Error>> {
        match state.links.get_mut(&self.key(&link.name)) {
            Some(model) if model.index == link.index => change(model),
            _ => Err(errno(Errno::ENODEV)),
        }
    }
}

/// A netlink error answer with `code`.
fn errno(code: Errno) -> Box<rtnetlink::Error> {
    let mut message = rtnetlink::packet_core::ErrorMessage::default();
    message.code = std::num::NonZeroI32::new(-(code as i32));
    Box::new(rtnetlink::Error::NetlinkError(message))
}

impl Links for FakeLinks {
    async fn link(&self, name: &str) -> Result<Option<Link>, Error> {
        let mut state = self.lock();
        if state.call(format!("{}: link {name}", self.ns)) {
            return Err(Error::GetLink {
                name: name.to_owned(),
                source: failed(),
            });
        }
        Ok(state.links.get(&self.key(name)).map(|link| Link {
            index: link.index,
            name: name.to_owned(),
        }))
    }

    async fn links(&self) -> Result<Vec<Link>, Error> {
        let mut state = self.lock();
        if state.call(format!("{}: links", self.ns)) {
            return Err(Error::ListLinks { source: failed() });
        }
        Ok(state
            .links
            .iter()
            .filter(|((ns, _), _)| *ns == self.ns)
            .map(|((_, name), link)| Link {
                index: link.index,
                name: name.clone(),
            })
            .collect())
    }

    async fn add_bridge(&self, name: &str) -> Result<(), Error> {
        let mut state = self.lock();
        if state.call(format!("{}: add_bridge {name}", self.ns)) {
            return Err(Error::CreateBridge {
                name: name.to_owned(),
                source: failed(),
            });
        }
        if !state.links.contains_key(&self.key(name)) {
            state.add_link(&self.ns, name, None);
        }
        if let Some(bridge) = state.links.get_mut(&self.key(name)) {
            bridge.up = true;
        }
        Ok(())
    }

    async fn add_veth(&self, host: &str, peer: &str, peer_netns: &Path) -> Result<(), Error> {
        let mut state = self.lock();
        let peer_ns = label(peer_netns);
        let error = |source| Error::CreateVeth {
            host: host.to_owned(),
            peer: peer.to_owned(),
            netns: peer_netns.to_owned(),
            source,
        };
        if state.call(format!(
            "{}: add_veth {host} peer {peer} in {peer_ns}",
            self.ns
        )) {
            return Err(error(failed()));
        }
        if !state.netns.contains_key(peer_netns) {
            return Err(Error::OpenNetns {
                path: peer_netns.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        if state.links.contains_key(&self.key(host))
            || state
                .links
                .contains_key(&(peer_ns.clone(), peer.to_owned()))
        {
            return Err(error(errno(Errno::EEXIST)));
        }
        state.add_link(&self.ns, host, Some((peer_ns.clone(), peer.to_owned())));
        state.add_link(&peer_ns, peer, Some((self.ns.clone(), host.to_owned())));
        Ok(())
    }

    async fn attach(&self, link: &Link, bridge: &Link) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::AttachLink {
            name: link.name.clone(),
            bridge: bridge.name.clone(),
            source,
        };
        if state.call(format!(
            "{}: attach {} to {}",
            self.ns, link.name, bridge.name
        )) {
            return Err(error(failed()));
        }
        if !state.links.contains_key(&self.key(&bridge.name)) {
            return Err(error(errno(Errno::ENODEV)));
        }
        self.with_link(&mut state, link, |model| {
            model.master = Some(bridge.name.clone());
            model.up = true;
            Ok(())
        })
        .map_err(error)
    }

    async fn set_hairpin(&self, link: &Link) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::SetHairpin {
            name: link.name.clone(),
            source,
        };
        if state.call(format!("{}: set_hairpin {}", self.ns, link.name)) {
            return Err(error(failed()));
        }
        self.with_link(&mut state, link, |model| {
            // Port options need a bridge master (rtnl_newlink: no slave_changelink otherwise).
            if model.master.is_none() {
                return Err(errno(Errno::EOPNOTSUPP));
            }
            model.hairpin = true;
            Ok(())
        })
        .map_err(error)
    }

    async fn set_up(&self, link: &Link) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::SetLinkUp {
            name: link.name.clone(),
            source,
        };
        if state.call(format!("{}: set_up {}", self.ns, link.name)) {
            return Err(error(failed()));
        }
        self.with_link(&mut state, link, |model| {
            model.up = true;
            Ok(())
        })
        .map_err(error)
    }

    async fn set_mac(&self, link: &Link, mac: [u8; 6]) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::SetLinkMac {
            name: link.name.clone(),
            source,
        };
        let mac = mac.map(|byte| format!("{byte:02x}")).join(":");
        if state.call(format!("{}: set_mac {} {mac}", self.ns, link.name)) {
            return Err(error(failed()));
        }
        self.with_link(&mut state, link, |_| Ok(())).map_err(error)
    }

    async fn delete_link(&self, link: &Link) -> Result<(), Error> {
        let mut state = self.lock();
        if state.call(format!("{}: delete_link {}", self.ns, link.name)) {
            return Err(Error::DeleteLink {
                name: link.name.clone(),
                source: failed(),
            });
        }
        state.remove_link(&self.ns, &link.name);
        Ok(())
    }

    async fn addresses(&self, link: &Link) -> Result<Vec<Ipv4Net>, Error> {
        let mut state = self.lock();
        let error = |source| Error::ListAddresses {
            link: link.name.clone(),
            source,
        };
        if state.call(format!("{}: addresses {}", self.ns, link.name)) {
            return Err(error(failed()));
        }
        self.with_link(&mut state, link, |model| Ok(model.addresses.clone()))
            .map_err(error)
    }

    async fn add_address(&self, link: &Link, address: Ipv4Net) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::AddAddress {
            link: link.name.clone(),
            address,
            source,
        };
        if state.call(format!("{}: add_address {} {address}", self.ns, link.name)) {
            return Err(error(failed()));
        }
        self.with_link(&mut state, link, |model| {
            if !model.addresses.contains(&address) {
                model.addresses.push(address);
            }
            Ok(())
        })
        .map_err(error)
    }

    async fn delete_address(&self, link: &Link, address: Ipv4Net) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::DeleteAddress {
            link: link.name.clone(),
            address,
            source,
        };
        if state.call(format!(
            "{}: delete_address {} {address}",
            self.ns, link.name
        )) {
            return Err(error(failed()));
        }
        match self.with_link(&mut state, link, |model| {
            model.addresses.retain(|&other| other != address);
            Ok(())
        }) {
            Err(e) if e == errno(Errno::ENODEV) => Ok(()),
            result => result.map_err(error),
        }
    }

    async fn set_unreachable_route(&self, destination: Ipv4Net) -> Result<(), Error> {
        let mut state = self.lock();
        state.call(format!("{}: set_unreachable_route {destination}", self.ns));
        state.unreachable.insert((self.ns.clone(), destination));
        Ok(())
    }

    async fn delete_unreachable_route(&self, destination: Ipv4Net) -> Result<(), Error> {
        let mut state = self.lock();
        state.call(format!(
            "{}: delete_unreachable_route {destination}",
            self.ns
        ));
        state.unreachable.remove(&(self.ns.clone(), destination));
        Ok(())
    }

    async fn set_default_route(&self, gateway: Ipv4Addr, link: &Link) -> Result<(), Error> {
        let mut state = self.lock();
        let error = |source| Error::SetDefaultRoute {
            gateway,
            link: link.name.clone(),
            source,
        };
        if state.call(format!(
            "{}: set_default_route via {gateway} dev {}",
            self.ns, link.name
        )) {
            return Err(error(failed()));
        }
        // The gateway must be on-link: an up link with an address on its subnet.
        let reachable = self
            .with_link(&mut state, link, |model| {
                Ok(model.up
                    && model
                        .addresses
                        .iter()
                        .any(|address| address.contains(&gateway)))
            })
            .map_err(error)?;
        if !reachable {
            return Err(error(errno(Errno::ENETUNREACH)));
        }
        state
            .routes
            .insert(self.ns.clone(), (gateway, link.name.clone()));
        Ok(())
    }
}

impl Namespaces for Fake {
    type Links = FakeLinks;

    fn node(&self) -> &FakeLinks {
        &self.node
    }

    async fn pod_links(&self, path: &Path) -> Result<FakeLinks, Error> {
        let mut state = self.lock();
        let ns = label(path);
        if state.call(format!("pod_links {ns}")) || !state.netns.contains_key(path) {
            return Err(Error::OpenNetns {
                path: path.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        Ok(FakeLinks {
            ns,
            state: Arc::clone(&self.state),
        })
    }

    fn prepare_netns_dir(&self, dir: &Path) -> Result<(), Error> {
        let mut state = self.lock();
        if state.call(format!("prepare_netns_dir {}", dir.display())) {
            return Err(Error::ShareNetnsDir {
                path: dir.to_owned(),
                source: Errno::EPERM,
            });
        }
        Ok(())
    }

    fn remove_netns_dir(&self, dir: &Path) -> Result<(), Error> {
        let mut state = self.lock();
        if state.call(format!("remove_netns_dir {}", dir.display())) {
            return Err(Error::UnmountNetns {
                path: dir.to_owned(),
                source: Errno::EBUSY,
            });
        }
        Ok(())
    }

    async fn create_netns(&self, path: &Path) -> Result<bool, Error> {
        let mut state = self.lock();
        let ns = label(path);
        if state.call(format!("create_netns {ns}")) {
            return Err(Error::UnshareNetns {
                path: path.to_owned(),
                source: Errno::EPERM,
            });
        }
        if state.netns.contains_key(path) {
            return Ok(false);
        }
        state.netns.insert(path.to_owned(), ());
        state.add_link(&ns, "lo", None);
        Ok(true)
    }

    fn remove_netns(&self, path: &Path) -> Result<(), Error> {
        let mut state = self.lock();
        let ns = label(path);
        if state.call(format!("remove_netns {ns}")) {
            return Err(Error::UnmountNetns {
                path: path.to_owned(),
                source: Errno::EBUSY,
            });
        }
        // With its last reference gone the netns dies, and its veths' peers with it.
        if state.netns.remove(path).is_some() {
            let names: Vec<String> = state
                .links
                .keys()
                .filter(|(link_ns, _)| *link_ns == ns)
                .map(|(_, name)| name.clone())
                .collect();
            for name in names {
                state.remove_link(&ns, &name);
            }
            state.routes.remove(&ns);
        }
        Ok(())
    }

    fn list_netns(&self, dir: &Path) -> Result<Vec<String>, Error> {
        let mut state = self.lock();
        if state.call(format!("list_netns {}", dir.display())) {
            return Err(Error::ListNetns {
                path: dir.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        Ok(state
            .netns
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .map(|path| label(path))
            .collect())
    }

    fn write_sysctl(&self, key: &str, value: &str) -> Result<(), Error> {
        let mut state = self.lock();
        if state.call(format!("write_sysctl {key}={value}")) {
            return Err(Error::WriteSysctl {
                path: Path::new("/proc/sys").join(key),
                value: value.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        Ok(())
    }

    fn set_nat(&self, pod_cidr: Ipv4Net, services: &[super::ServiceNat]) -> Result<(), Error> {
        self.nftables_call(format!("set_nat {pod_cidr} services={}", services.len()))
    }

    fn delete_nftables(&self) -> Result<(), Error> {
        self.nftables_call("delete_nftables".to_owned())
    }
}

impl Fake {
    fn nftables_call(&self, call: String) -> Result<(), Error> {
        if self.lock().call(call) {
            return Err(Error::Nftables {
                action: "fake",
                table: "fake".to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        Ok(())
    }
}
