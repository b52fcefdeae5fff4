//! The Endpoints and EndpointSlice controllers: for every Service with a selector, the
//! addresses of the pods it selects, split into ready and not ready, with named target
//! ports resolved per pod (`pkg/controller/endpoint`, `staging/src/k8s.io/endpointslice`).
//! Services without a selector keep the Endpoints and EndpointSlices their users write.
//!
//! `build` is a pure function of a Service and the pods of its namespace.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Key, Queue, key_of, pod_ready, terminating};
use crate::api::{Api, DeleteOptions, WriteOptions};
use crate::informer::Informer;
use crate::resources::{self, Resource};
use crate::selector::LabelSelector;
use crate::status::ApiError;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// What a Service's endpoints should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `subsets` of the Endpoints object (empty: no endpoints).
    pub subsets: Vec<Value>,
    /// EndpointSlices by name.
    pub slices: BTreeMap<String, Value>,
}

/// One pod's address in a group: the Endpoints address, whether it is ready, whether the
/// pod is terminating.
type Address = (Value, bool, bool);

/// The selector of a Service, `None` when it has none (its endpoints are the user's).
fn service_selector(service: &Value) -> Option<LabelSelector> {
    let map = service["spec"]["selector"]
        .as_object()
        .filter(|m| !m.is_empty())?;
    Some(LabelSelector::from_map(map))
}

/// Resolves a Service port's `targetPort` for one pod: a number as is, a name through the
/// pod's container ports (`podutil.FindPort`). `None` if the pod has no such named port.
fn target_port(service_port: &Value, pod: &Value) -> Option<i64> {
    match &service_port["targetPort"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => {
            let protocol = service_port["protocol"].as_str().unwrap_or("TCP");
            pod["spec"]["containers"]
                .as_array()?
                .iter()
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .find(|p| {
                    p["name"] == *name.as_str()
                        && p["protocol"].as_str().unwrap_or("TCP") == protocol
                })
                .and_then(|p| p["containerPort"].as_i64())
        }
        _ => service_port["port"].as_i64(),
    }
}

/// The endpoints of `service` given the pods of its namespace.
pub fn build(service: &Value, pods: &[&Value]) -> Desired {
    let name = service["metadata"]["name"].as_str().unwrap_or("");
    let namespace = service["metadata"]["namespace"].as_str().unwrap_or("");
    let publish_not_ready = service["spec"]["publishNotReadyAddresses"]
        .as_bool()
        .unwrap_or(false);
    let service_ports: Vec<&Value> = service["spec"]["ports"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let selector = service_selector(service);
    // Pods grouped by the port list they resolve to (one subset / slice per group).
    let mut groups: BTreeMap<String, (Vec<Value>, Vec<Address>)> = BTreeMap::new();
    for pod in pods {
        let Some(selector) = &selector else { break };
        let ip = pod["status"]["podIP"].as_str().unwrap_or("");
        if ip.is_empty() || !selector.matches(pod) {
            continue;
        }
        let phase = pod["status"]["phase"].as_str().unwrap_or("");
        if phase == "Succeeded" || phase == "Failed" {
            continue;
        }
        let is_terminating = terminating(pod);
        let ready = publish_not_ready || (pod_ready(pod) && !is_terminating);
        let ports: Vec<Value> = service_ports
            .iter()
            .filter_map(|sp| {
                let port = target_port(sp, pod)?;
                let mut p =
                    json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
                if let Some(n) = sp["name"].as_str().filter(|n| !n.is_empty()) {
                    p["name"] = json!(n);
                }
                Some(p)
            })
            .collect();
        if ports.is_empty() && !service_ports.is_empty() {
            continue;
        }
        let mut address = json!({
            "ip": ip,
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
        });
        if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            address["nodeName"] = json!(node);
        }
        // ShouldSetHostname: the pod names a hostname and this Service as its subdomain.
        if let Some(host) = pod["spec"]["hostname"].as_str().filter(|h| !h.is_empty()) {
            if pod["spec"]["subdomain"].as_str() == Some(name) {
                address["hostname"] = json!(host);
            }
        }
        let entry = groups
            .entry(Value::Array(ports.clone()).to_string())
            .or_insert_with(|| (ports, Vec::new()));
        entry.1.push((address, ready, is_terminating));
    }
    let mut subsets = Vec::new();
    let mut slices = BTreeMap::new();
    for (group_key, (ports, mut addresses)) in groups {
        addresses.sort_by(|a, b| a.0["ip"].as_str().cmp(&b.0["ip"].as_str()));
        let ready: Vec<Value> = addresses
            .iter()
            .filter(|a| a.1)
            .map(|a| a.0.clone())
            .collect();
        let not_ready: Vec<Value> = addresses
            .iter()
            .filter(|a| !a.1 && !a.2)
            .map(|a| a.0.clone())
            .collect();
        if !ready.is_empty() || !not_ready.is_empty() {
            let mut subset = json!({"ports": ports});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            subsets.push(subset);
        }
        let endpoints: Vec<Value> = addresses
            .iter()
            .map(|(address, ready, is_terminating)| {
                let pod_is_ready = *ready && !*is_terminating;
                let mut e = json!({
                    "addresses": [address["ip"]],
                    "conditions": {"ready": *ready, "serving": pod_is_ready || (*is_terminating && *ready), "terminating": *is_terminating},
                    "targetRef": address["targetRef"],
                });
                for field in ["nodeName", "hostname"] {
                    if let Some(v) = address.get(field) {
                        e[field] = v.clone();
                    }
                }
                e
            })
            .collect();
        slices.insert(
            slice_name(name, &group_key),
            slice(service, json!(ports), endpoints),
        );
    }
    if slices.is_empty() && selector.is_some() {
        // A placeholder slice, as upstream keeps for a Service that selects nothing.
        slices.insert(slice_name(name, ""), slice(service, json!([]), Vec::new()));
    }
    Desired { subsets, slices }
}

fn slice_name(service: &str, group_key: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in group_key.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let prefix: String = service.chars().take(50).collect();
    format!("{prefix}-{:08x}", hash)
}

fn slice(service: &Value, ports: Value, endpoints: Vec<Value>) -> Value {
    let name = service["metadata"]["name"].clone();
    let mut labels = service["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
    labels.insert(MANAGED_BY.into(), json!(CONTROLLER));
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"namespace": service["metadata"]["namespace"], "labels": labels,
                     "ownerReferences": [super::controller_ref(service)]},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// Runs until `shutdown`.
pub async fn run(api: Api, shutdown: CancellationToken) {
    let (Some(services_r), Some(pods_r), Some(endpoints_r), Some(slices_r)) = (
        resources::lookup("", "v1", "services"),
        resources::lookup("", "v1", "pods"),
        resources::lookup("", "v1", "endpoints"),
        resources::lookup("discovery.k8s.io", "v1", "endpointslices"),
    ) else {
        return;
    };
    let informers = async {
        Ok::<_, ApiError>((
            Informer::start(&api, services_r).await?,
            Informer::start(&api, pods_r).await?,
            Informer::start(&api, slices_r).await?,
        ))
    };
    let (mut services, mut pods, mut slices) = match informers.await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "start informers");
            return;
        }
    };
    let mut queue = Queue::default();
    services.all().for_each(|s| queue.add(key_of(s)));
    let targets = Targets {
        endpoints: endpoints_r,
        slices: slices_r,
    };
    loop {
        let revision = api.store().revision();
        for event in services.sync(revision).await {
            queue.add((event.namespace.clone(), event.name.clone()));
        }
        for event in pods.sync(revision).await {
            enqueue_selecting(
                &mut queue,
                &services,
                &event.object,
                event.previous.as_deref(),
            );
        }
        slices.sync(revision).await;
        for key in queue.take_due() {
            let result = reconcile(&api, &targets, &key, &services, &pods, &slices).await;
            if let Err(e) = &result {
                tracing::warn!(service = %key.1, namespace = %key.0, error = %e, "reconcile");
            }
            queue.done(&key, result.is_ok());
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(queue.next_due()) => {}
            event = services.next() => match event {
                Some(event) => queue.add((event.namespace.clone(), event.name.clone())),
                None => services.all().for_each(|s| queue.add(key_of(s))),
            },
            event = pods.next() => match event {
                Some(event) => enqueue_selecting(&mut queue, &services, &event.object, event.previous.as_deref()),
                None => services.all().for_each(|s| queue.add(key_of(s))),
            },
            _ = slices.next() => {}
        }
    }
}

/// A pod change wakes the Services whose selector matches it now or matched it before.
fn enqueue_selecting(
    queue: &mut Queue,
    services: &Informer,
    pod: &Value,
    previous: Option<&Value>,
) {
    let (namespace, _) = key_of(pod);
    let keys: Vec<Key> = services
        .in_namespace(&namespace)
        .filter(|s| {
            service_selector(s)
                .is_some_and(|sel| sel.matches(pod) || previous.is_some_and(|p| sel.matches(p)))
        })
        .map(|s| key_of(s))
        .collect();
    for key in keys {
        queue.add(key);
    }
}

struct Targets {
    endpoints: &'static Resource,
    slices: &'static Resource,
}

async fn reconcile(
    api: &Api,
    targets: &Targets,
    key: &Key,
    services: &Informer,
    pods: &Informer,
    slices: &Informer,
) -> Result<(), ApiError> {
    let (namespace, name) = key;
    let options = WriteOptions::default();
    let ours: Vec<Arc<Value>> = slices
        .in_namespace(namespace)
        .filter(|s| {
            s["metadata"]["labels"][SERVICE_NAME_LABEL] == name.as_str()
                && s["metadata"]["labels"][MANAGED_BY] == CONTROLLER
        })
        .cloned()
        .collect();
    let service = services.get(namespace, name).filter(|s| !terminating(s));
    let desired = match service {
        Some(s) if s["spec"]["type"] != "ExternalName" && service_selector(s).is_some() => {
            let in_namespace: Vec<&Value> = pods.in_namespace(namespace).map(|p| &**p).collect();
            Some((s.clone(), build(s, &in_namespace)))
        }
        _ => None,
    };
    let Some((service, desired)) = desired else {
        // No Service (or no selector): remove what this controller made.
        if service.is_none() {
            api.delete_if_present(
                targets.endpoints,
                Some(namespace),
                name,
                &DeleteOptions::default(),
            )
            .await?;
        }
        for slice in ours {
            let (_, slice_name) = key_of(&slice);
            api.delete_if_present(
                targets.slices,
                Some(namespace),
                &slice_name,
                &DeleteOptions::default(),
            )
            .await?;
        }
        return Ok(());
    };

    let mut endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace, "labels": service["metadata"]["labels"].clone()},
    });
    if endpoints["metadata"]["labels"].is_null() {
        endpoints["metadata"]["labels"] = json!({});
    }
    if !desired.subsets.is_empty() {
        endpoints["subsets"] = json!(desired.subsets);
    }
    match api.get(targets.endpoints, Some(namespace), name) {
        Err(ApiError::NotFound { .. }) => {
            api.create(targets.endpoints, Some(namespace), endpoints, &options)
                .await?;
        }
        Err(e) => return Err(e),
        Ok(current) => {
            if current.get("subsets") != endpoints.get("subsets")
                || current["metadata"]["labels"] != endpoints["metadata"]["labels"]
            {
                let mut updated = Value::clone(&current);
                updated["metadata"]["labels"] = endpoints["metadata"]["labels"].clone();
                match endpoints.get("subsets") {
                    Some(s) => updated["subsets"] = s.clone(),
                    None => {
                        if let Some(map) = updated.as_object_mut() {
                            map.remove("subsets");
                        }
                    }
                }
                api.replace(targets.endpoints, Some(namespace), name, updated, &options)
                    .await?;
            }
        }
    }

    for (slice_name, mut wanted) in desired.slices.clone() {
        match ours
            .iter()
            .find(|s| s["metadata"]["name"] == slice_name.as_str())
        {
            None => {
                wanted["metadata"]["name"] = json!(slice_name);
                api.create(targets.slices, Some(namespace), wanted, &options)
                    .await?;
            }
            Some(current) => {
                let same = current["endpoints"] == wanted["endpoints"]
                    && current["ports"] == wanted["ports"]
                    && current["metadata"]["labels"] == wanted["metadata"]["labels"];
                if !same {
                    let mut updated = Value::clone(current);
                    updated["endpoints"] = wanted["endpoints"].take();
                    updated["ports"] = wanted["ports"].take();
                    updated["metadata"]["labels"] = wanted["metadata"]["labels"].take();
                    api.replace(
                        targets.slices,
                        Some(namespace),
                        &slice_name,
                        updated,
                        &options,
                    )
                    .await?;
                }
            }
        }
    }
    for stale in ours.iter().filter(|s| {
        !desired
            .slices
            .contains_key(s["metadata"]["name"].as_str().unwrap_or(""))
    }) {
        let (_, slice_name) = key_of(stale);
        api.delete_if_present(
            targets.slices,
            Some(namespace),
            &slice_name,
            &DeleteOptions::default(),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, labels: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels},
               "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
               "status": {"podIP": ip, "phase": "Running",
                          "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    fn service(extra: Value) -> Value {
        let mut s = json!({"metadata": {"name": "web", "namespace": "default"},
                           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}});
        if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        s
    }

    #[test]
    fn ready_and_not_ready_addresses_with_named_ports() {
        let a = pod("a", "10.244.0.3", true, json!({"app": "web"}));
        let b = pod("b", "10.244.0.2", false, json!({"app": "web"}));
        let other = pod("c", "10.244.0.4", true, json!({"app": "db"}));
        let unscheduled =
            json!({"metadata": {"name": "d", "labels": {"app": "web"}}, "status": {}});
        let desired = build(&service(json!({})), &[&a, &b, &other, &unscheduled]);
        assert_eq!(desired.subsets.len(), 1);
        let subset = &desired.subsets[0];
        assert_eq!(
            subset["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(subset["addresses"][0]["ip"], "10.244.0.3");
        assert_eq!(subset["notReadyAddresses"][0]["ip"], "10.244.0.2");
        let slice = desired.slices.values().next().expect("one slice");
        assert_eq!(slice["endpoints"].as_array().map(Vec::len), Some(2));
        assert_eq!(slice["endpoints"][0]["conditions"]["ready"], false);
        assert_eq!(slice["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
    }

    #[test]
    fn publish_not_ready_and_hostnames() {
        let mut b = pod("b", "10.244.0.2", false, json!({"app": "web"}));
        b["spec"]["hostname"] = json!("web-0");
        b["spec"]["subdomain"] = json!("web");
        let desired = build(&service(json!({"publishNotReadyAddresses": true})), &[&b]);
        assert_eq!(desired.subsets[0]["addresses"][0]["hostname"], "web-0");
        assert!(desired.subsets[0].get("notReadyAddresses").is_none());
    }

    #[test]
    fn nothing_selected_gives_no_subsets_and_a_placeholder_slice() {
        let desired = build(&service(json!({})), &[]);
        assert!(desired.subsets.is_empty());
        assert_eq!(desired.slices.len(), 1);
        let no_selector = json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
        assert!(build(&no_selector, &[]).slices.is_empty());
    }
}
