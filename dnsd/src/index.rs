//! [`Index`]: the in-memory view of Services, EndpointSlices, Pods and Namespaces that every
//! answer is computed from, fed by watch events.
//!
//! One `RwLock` guards the whole view. Queries take the read lock for the few microseconds an
//! answer takes and never block each other; an update parses its object before it takes the
//! write lock, then patches a few maps. A relist (`replace_*`) swaps one kind in a single
//! critical section, so no query sees half a list.
//!
//! Beside the per-namespace maps it keeps three reverse maps, by ClusterIP, endpoint IP and
//! pod IP, for PTR answers, `pods verified` and autopath.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, ObjectError};
use crate::objects::{self, EndpointSlice, Pod, Service, ServiceKind};

/// `(namespace, name)` of an object in a reverse map.
pub(crate) type Key = (String, String);

/// The cluster DNS zone's data: what the watch events said, plus the zone's own settings.
///
/// Feed it from the Service, EndpointSlice, Pod and (optionally) Namespace informers, call
/// [`Index::mark_synced`] once every informer has delivered its first full list, and hand it
/// to [`crate::Server::bind`]. Until then every name in the zone answers SERVFAIL.
#[derive(Debug)]
pub struct Index {
    /// The zone, lower case, with its trailing dot.
    pub(crate) zone: String,
    /// The TTL of cluster answers.
    pub(crate) ttl: u32,
    /// The A/AAAA of `ns.dns.<zone>`.
    pub(crate) dns_service_ips: Vec<IpAddr>,
    /// Ranges whose reverse names are ours (no fallthrough).
    pub(crate) reverse_cidrs: Vec<IpNet>,
    synced: AtomicBool,
    state: RwLock<State>,
}

/// Everything the watch events said.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// By namespace name.
    pub(crate) namespaces: HashMap<String, Namespace>,
    /// Services by ClusterIP.
    pub(crate) cluster_ips: HashMap<IpAddr, BTreeSet<Key>>,
    /// EndpointSlices by endpoint address.
    pub(crate) endpoint_ips: HashMap<IpAddr, BTreeSet<Key>>,
    /// Pods by pod IP.
    pub(crate) pod_ips: HashMap<IpAddr, BTreeSet<Key>>,
    /// Unix time of the last change: the SOA serial, as CoreDNS's `Modified()`.
    pub(crate) serial: u32,
}

/// One namespace's objects.
#[derive(Debug, Default)]
pub(crate) struct Namespace {
    /// A Namespace object with this name was seen.
    pub(crate) declared: bool,
    /// Services by name.
    pub(crate) services: HashMap<String, Service>,
    /// EndpointSlices by name.
    pub(crate) slices: HashMap<String, EndpointSlice>,
    /// Slice names by the Service they belong to.
    pub(crate) slices_by_service: HashMap<String, BTreeSet<String>>,
    /// Pods by name.
    pub(crate) pods: HashMap<String, Pod>,
}

impl Namespace {
    /// CoreDNS asks the API whether the namespace exists (`namespaceExposed`); here it exists
    /// if its Namespace object was fed, or if it holds a Service or a Pod, so that the index
    /// also works for a caller that does not watch Namespaces.
    pub(crate) fn exists(&self) -> bool {
        self.declared || !self.services.is_empty() || !self.pods.is_empty()
    }

    fn is_empty(&self) -> bool {
        !self.declared && self.services.is_empty() && self.slices.is_empty() && self.pods.is_empty()
    }
}

impl Index {
    /// An empty, unsynced index for `config`'s zone.
    pub fn new(config: &Config) -> Result<Index, Error> {
        Ok(Index {
            zone: config.zone_fqdn()?,
            ttl: config.ttl,
            dns_service_ips: config.dns_service_ips.clone(),
            reverse_cidrs: config.reverse_cidrs.clone(),
            synced: AtomicBool::new(false),
            state: RwLock::new(State::default()),
        })
    }

    /// Records that every informer has delivered its first full list: from now on a missing
    /// name is NXDOMAIN rather than SERVFAIL.
    pub fn mark_synced(&self) {
        if !self.synced.swap(true, Ordering::AcqRel) {
            let state = self.read();
            let services: usize = state.namespaces.values().map(|n| n.services.len()).sum();
            let pods: usize = state.namespaces.values().map(|n| n.pods.len()).sum();
            info!(zone = %self.zone, services, pods, "dns index synced");
        }
    }

    /// Whether [`Index::mark_synced`] was called.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Adds or replaces a Service.
    pub fn upsert_service(&self, service: &Value) -> Result<(), ObjectError> {
        let service = objects::service(service)?;
        debug!(service = %format_args!("{}/{}", service.namespace, service.name), "dns index: service");
        let mut state = self.write();
        insert_service(&mut state, service);
        Ok(())
    }

    /// Removes a Service.
    pub fn delete_service(&self, service: &Value) -> Result<(), ObjectError> {
        let (namespace, name) = objects::key("service", service)?;
        let mut state = self.write();
        remove_service(&mut state, &namespace, &name);
        prune(&mut state, &namespace);
        Ok(())
    }

    /// Adds or replaces an EndpointSlice.
    pub fn upsert_endpoint_slice(&self, slice: &Value) -> Result<(), ObjectError> {
        let slice = objects::endpoint_slice(slice)?;
        let mut state = self.write();
        insert_slice(&mut state, slice);
        Ok(())
    }

    /// Removes an EndpointSlice.
    pub fn delete_endpoint_slice(&self, slice: &Value) -> Result<(), ObjectError> {
        let (namespace, name) = objects::key("endpoint slice", slice)?;
        let mut state = self.write();
        remove_slice(&mut state, &namespace, &name);
        prune(&mut state, &namespace);
        Ok(())
    }

    /// Adds or replaces a Pod. As in CoreDNS, an update of a terminating pod is ignored (the
    /// pod keeps its last entry until it is deleted); a pod that has `Succeeded` or `Failed`
    /// is dropped, since its IP may already belong to another pod.
    pub fn upsert_pod(&self, pod: &Value) -> Result<(), ObjectError> {
        let pod = objects::pod(pod)?;
        let mut state = self.write();
        insert_pod(&mut state, pod);
        Ok(())
    }

    /// Removes a Pod.
    pub fn delete_pod(&self, pod: &Value) -> Result<(), ObjectError> {
        let (namespace, name) = objects::key("pod", pod)?;
        let mut state = self.write();
        remove_pod(&mut state, &namespace, &name);
        prune(&mut state, &namespace);
        Ok(())
    }

    /// Records a Namespace (it then exists for `<ns>.svc.<zone>` and `<ns>.pod.<zone>`).
    pub fn upsert_namespace(&self, namespace: &Value) -> Result<(), ObjectError> {
        let name = objects::namespace(namespace)?;
        let mut state = self.write();
        state.namespaces.entry(name).or_default().declared = true;
        touch(&mut state);
        Ok(())
    }

    /// Forgets a Namespace.
    pub fn delete_namespace(&self, namespace: &Value) -> Result<(), ObjectError> {
        let name = objects::namespace(namespace)?;
        let mut state = self.write();
        if let Some(entry) = state.namespaces.get_mut(&name) {
            entry.declared = false;
        }
        prune(&mut state, &name);
        touch(&mut state);
        Ok(())
    }

    /// Replaces every Service with `services` (after a relist). Objects that cannot be read
    /// are logged and skipped.
    pub fn replace_services<'a>(&self, services: impl IntoIterator<Item = &'a Value>) {
        let parsed = parse_all(services, objects::service);
        let mut state = self.write();
        let keys = all_keys(&state, |n| n.services.keys());
        for (namespace, name) in keys {
            remove_service(&mut state, &namespace, &name);
        }
        for service in parsed {
            insert_service(&mut state, service);
        }
        prune_all(&mut state);
    }

    /// Replaces every EndpointSlice with `slices` (after a relist).
    pub fn replace_endpoint_slices<'a>(&self, slices: impl IntoIterator<Item = &'a Value>) {
        let parsed = parse_all(slices, objects::endpoint_slice);
        let mut state = self.write();
        let keys = all_keys(&state, |n| n.slices.keys());
        for (namespace, name) in keys {
            remove_slice(&mut state, &namespace, &name);
        }
        for slice in parsed {
            insert_slice(&mut state, slice);
        }
        prune_all(&mut state);
    }

    /// Replaces every Pod with `pods` (after a relist).
    pub fn replace_pods<'a>(&self, pods: impl IntoIterator<Item = &'a Value>) {
        let parsed = parse_all(pods, objects::pod);
        let mut state = self.write();
        let keys = all_keys(&state, |n| n.pods.keys());
        for (namespace, name) in keys {
            remove_pod(&mut state, &namespace, &name);
        }
        for pod in parsed {
            insert_pod(&mut state, pod);
        }
        prune_all(&mut state);
    }

    /// Replaces every Namespace with `namespaces` (after a relist).
    pub fn replace_namespaces<'a>(&self, namespaces: impl IntoIterator<Item = &'a Value>) {
        let parsed = parse_all(namespaces, objects::namespace);
        let mut state = self.write();
        for entry in state.namespaces.values_mut() {
            entry.declared = false;
        }
        for name in parsed {
            state.namespaces.entry(name).or_default().declared = true;
        }
        prune_all(&mut state);
        touch(&mut state);
    }

    /// The view, for answering. Held only while one answer is computed.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // A writer never panics while holding the lock, but if one did the maps are still
        // consistent enough to answer from: recover rather than fail every query.
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn parse_all<'a, T>(
    objects: impl IntoIterator<Item = &'a Value>,
    parse: impl Fn(&Value) -> Result<T, ObjectError>,
) -> Vec<T> {
    objects
        .into_iter()
        .filter_map(|object| match parse(object) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                warn!(%error, "dns index: skipping object");
                None
            }
        })
        .collect()
}

fn all_keys<'a, I>(state: &'a State, names: impl Fn(&'a Namespace) -> I) -> Vec<Key>
where
    I: Iterator<Item = &'a String>,
{
    state
        .namespaces
        .iter()
        .flat_map(|(namespace, entry)| {
            names(entry).map(move |name| (namespace.clone(), name.clone()))
        })
        .collect()
}

fn touch(state: &mut State) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The SOA serial is 32 bits wide; CoreDNS truncates the same way.
    state.serial = now as u32;
}

fn index_ip(map: &mut HashMap<IpAddr, BTreeSet<Key>>, ip: IpAddr, key: &Key) {
    map.entry(ip).or_default().insert(key.clone());
}

fn unindex_ip(map: &mut HashMap<IpAddr, BTreeSet<Key>>, ip: IpAddr, key: &Key) {
    if let Some(keys) = map.get_mut(&ip) {
        keys.remove(key);
        if keys.is_empty() {
            map.remove(&ip);
        }
    }
}

fn insert_service(state: &mut State, service: Service) {
    remove_service(state, &service.namespace, &service.name);
    let key = (service.namespace.clone(), service.name.clone());
    if let ServiceKind::ClusterIp(ips) = &service.kind {
        for ip in ips {
            index_ip(&mut state.cluster_ips, *ip, &key);
        }
    }
    state
        .namespaces
        .entry(service.namespace.clone())
        .or_default()
        .services
        .insert(service.name.clone(), service);
    touch(state);
}

fn remove_service(state: &mut State, namespace: &str, name: &str) {
    let Some(old) = state
        .namespaces
        .get_mut(namespace)
        .and_then(|n| n.services.remove(name))
    else {
        return;
    };
    if let ServiceKind::ClusterIp(ips) = &old.kind {
        let key = (old.namespace.clone(), old.name.clone());
        for ip in ips {
            unindex_ip(&mut state.cluster_ips, *ip, &key);
        }
    }
    touch(state);
}

fn insert_slice(state: &mut State, slice: EndpointSlice) {
    remove_slice(state, &slice.namespace, &slice.name);
    let key = (slice.namespace.clone(), slice.name.clone());
    for endpoint in &slice.endpoints {
        for address in &endpoint.addresses {
            index_ip(&mut state.endpoint_ips, address.ip, &key);
        }
    }
    let entry = state.namespaces.entry(slice.namespace.clone()).or_default();
    entry
        .slices_by_service
        .entry(slice.service.clone())
        .or_default()
        .insert(slice.name.clone());
    entry.slices.insert(slice.name.clone(), slice);
    touch(state);
}

fn remove_slice(state: &mut State, namespace: &str, name: &str) {
    let Some(entry) = state.namespaces.get_mut(namespace) else {
        return;
    };
    let Some(old) = entry.slices.remove(name) else {
        return;
    };
    if let Some(names) = entry.slices_by_service.get_mut(&old.service) {
        names.remove(name);
        if names.is_empty() {
            entry.slices_by_service.remove(&old.service);
        }
    }
    let key = (old.namespace.clone(), old.name.clone());
    for endpoint in &old.endpoints {
        for address in &endpoint.addresses {
            unindex_ip(&mut state.endpoint_ips, address.ip, &key);
        }
    }
    touch(state);
}

fn insert_pod(state: &mut State, pod: Pod) {
    if pod.terminating {
        // CoreDNS's informer skips updates of terminating pods (`errPodTerminating`).
        return;
    }
    if pod.finished {
        remove_pod(state, &pod.namespace, &pod.name);
        prune(state, &pod.namespace);
        return;
    }
    remove_pod(state, &pod.namespace, &pod.name);
    let key = (pod.namespace.clone(), pod.name.clone());
    for ip in &pod.ips {
        index_ip(&mut state.pod_ips, *ip, &key);
    }
    state
        .namespaces
        .entry(pod.namespace.clone())
        .or_default()
        .pods
        .insert(pod.name.clone(), pod);
    touch(state);
}

fn remove_pod(state: &mut State, namespace: &str, name: &str) {
    let Some(old) = state
        .namespaces
        .get_mut(namespace)
        .and_then(|n| n.pods.remove(name))
    else {
        return;
    };
    let key = (old.namespace.clone(), old.name.clone());
    for ip in &old.ips {
        unindex_ip(&mut state.pod_ips, *ip, &key);
    }
    touch(state);
}

fn prune(state: &mut State, namespace: &str) {
    if state
        .namespaces
        .get(namespace)
        .is_some_and(Namespace::is_empty)
    {
        state.namespaces.remove(namespace);
    }
}

fn prune_all(state: &mut State) {
    state.namespaces.retain(|_, entry| !entry.is_empty());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn index() -> Index {
        Index::new(&Config::default()).unwrap()
    }

    #[test]
    fn reverse_maps_follow_updates() {
        let index = index();
        let svc = json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"]}});
        index.upsert_service(&svc).unwrap();
        let moved = json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"clusterIP": "10.0.0.2", "clusterIPs": ["10.0.0.2"]}});
        index.upsert_service(&moved).unwrap();
        {
            let state = index.read();
            assert!(!state.cluster_ips.contains_key(&"10.0.0.1".parse().unwrap()));
            assert!(state.cluster_ips.contains_key(&"10.0.0.2".parse().unwrap()));
        }
        index.delete_service(&moved).unwrap();
        let state = index.read();
        assert!(state.cluster_ips.is_empty());
        assert!(state.namespaces.is_empty());
    }

    #[test]
    fn terminating_pod_keeps_its_entry_and_finished_pod_goes() {
        let index = index();
        let pod = |extra: Value| {
            let mut pod = json!({"metadata": {"name": "p", "namespace": "ns"},
                "status": {"podIP": "10.244.0.5", "phase": "Running"}});
            if let (Some(pod), Some(extra)) = (pod.as_object_mut(), extra.as_object()) {
                for (k, v) in extra {
                    pod.insert(k.clone(), v.clone());
                }
            }
            pod
        };
        index.upsert_pod(&pod(json!({}))).unwrap();
        index
            .upsert_pod(&pod(json!({"metadata": {"name": "p", "namespace": "ns",
                "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {}})))
            .unwrap();
        assert_eq!(index.read().pod_ips.len(), 1);
        index
            .upsert_pod(&pod(
                json!({"status": {"podIP": "10.244.0.5", "phase": "Succeeded"}}),
            ))
            .unwrap();
        assert!(index.read().pod_ips.is_empty());
    }

    #[test]
    fn relist_replaces_one_kind() {
        let index = index();
        let a = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"clusterIP": "10.0.0.1"}});
        let b = json!({"metadata": {"name": "b", "namespace": "ns"}, "spec": {"clusterIP": "10.0.0.2"}});
        index.upsert_service(&a).unwrap();
        index.replace_services([&b, &json!({"spec": {}})]);
        let state = index.read();
        let ns = &state.namespaces["ns"];
        assert!(ns.services.contains_key("b") && !ns.services.contains_key("a"));
        assert_eq!(state.cluster_ips.len(), 1);
    }
}
