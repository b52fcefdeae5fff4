//! The objects a cluster has from its first start, kept true at every start: the system
//! namespaces, this host's Node, the `default/kubernetes` Service (first service IP, 443 →
//! the API server) with its Endpoints and EndpointSlice, and `kube-system/kube-dns` (tenth
//! service IP, 53/UDP `dns` and 53/TCP `dns-tcp`).

use serde_json::{Value, json};

use crate::api::{Api, WriteOptions};
use crate::resources::{self, Resource};
use crate::status::ApiError;

fn resource(kind: &str) -> Result<&'static Resource, ApiError> {
    resources::RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .ok_or_else(|| ApiError::Internal(format!("no resource for kind {kind}")))
}

/// Creates `obj` if absent; otherwise brings the fields that `update` sets up to date.
async fn ensure(
    api: &Api,
    kind: &str,
    namespace: Option<&str>,
    obj: Value,
    update: impl FnOnce(&mut Value, &Value),
) -> Result<(), ApiError> {
    let r = resource(kind)?;
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let options = WriteOptions::default();
    match api.get(r, namespace, &name) {
        Err(ApiError::NotFound { .. }) => {
            api.create(r, namespace, obj, &options).await?;
        }
        Err(e) => return Err(e),
        Ok(current) => {
            let mut wanted = Value::clone(&current);
            update(&mut wanted, &obj);
            if wanted != *current {
                api.replace(r, namespace, &name, wanted, &options).await?;
            }
        }
    }
    Ok(())
}

/// Makes sure the bootstrap objects exist and point at this start's API port, the address pods
/// reach the API server at, and the node IP.
pub async fn ensure_system_objects(api: &Api) -> Result<(), ApiError> {
    let cluster = api.cluster().clone();
    let api_port = cluster.api_port;

    ensure(
        api,
        "Service",
        Some("default"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": cluster.service_ip(1).to_string(), "type": "ClusterIP",
                     "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}]},
        }),
        |current, wanted| current["spec"]["ports"] = wanted["spec"]["ports"].clone(),
    )
    .await?;
    // Endpoints may not hold a loopback address (validation, as upstream): an API server
    // that listens on loopback only has nothing to publish.
    let Some(api_ip) = cluster
        .api_ip
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
    else {
        tracing::warn!(
            "the API server listens on no address pods can reach: default/kubernetes gets no endpoints"
        );
        return ensure_kube_dns_and_node(api, &cluster).await;
    };
    let api_ip = api_ip.to_string();
    let endpoint_subsets = json!([{"addresses": [{"ip": api_ip}],
                                   "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}]}]);
    ensure(
        api,
        "Endpoints",
        Some("default"),
        json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": endpoint_subsets,
        }),
        |current, wanted| current["subsets"] = wanted["subsets"].clone(),
    )
    .await?;
    ensure(
        api,
        "EndpointSlice",
        Some("default"),
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes",
                                    "endpointslice.kubernetes.io/managed-by": "kubicle-apiserver"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [api_ip], "conditions": {"ready": true, "serving": true, "terminating": false}}],
            "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}],
        }),
        |current, wanted| {
            current["endpoints"] = wanted["endpoints"].clone();
            current["ports"] = wanted["ports"].clone();
        },
    )
    .await?;
    ensure_kube_dns_and_node(api, &cluster).await
}

async fn ensure_kube_dns_and_node(
    api: &Api,
    cluster: &crate::ClusterConfig,
) -> Result<(), ApiError> {
    ensure(
        api,
        "Service",
        Some("kube-system"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS",
                                    "kubernetes.io/cluster-service": "true"}},
            "spec": {"clusterIP": cluster.service_ip(10).to_string(), "type": "ClusterIP",
                     "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
        }),
        |_, _| {},
    )
    .await?;
    ensure_node(api).await
}

/// This host's Node object, Ready, with its InternalIP and Hostname addresses.
async fn ensure_node(api: &Api) -> Result<(), ApiError> {
    let cluster = api.cluster().clone();
    let now = crate::objects::timestamp(jiff::Timestamp::now());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let os_image = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".to_string());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let capacity =
        json!({"cpu": cpus.to_string(), "memory": format!("{memory_kib}Ki"), "pods": "110"});
    let status = json!({
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubicle is running this node", "lastHeartbeatTime": now,
                        "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": cluster.node_ip.to_string()},
                      {"type": "Hostname", "address": cluster.node_name}],
        "capacity": capacity,
        "allocatable": capacity,
        "nodeInfo": {"kubeletVersion": "v1.33.0-kubicle", "kubeProxyVersion": "v1.33.0-kubicle",
                     "containerRuntimeVersion": concat!("kubicle://", env!("CARGO_PKG_VERSION")),
                     "kernelVersion": kernel.trim(), "osImage": os_image,
                     "operatingSystem": "linux", "architecture": arch,
                     "machineID": "", "systemUUID": "", "bootID": ""},
    });
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": cluster.node_name,
                     "labels": {"kubernetes.io/hostname": cluster.node_name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": arch, "node-role.kubernetes.io/control-plane": ""}},
        "spec": {},
    });
    let r = resource("Node")?;
    ensure(api, "Node", None, node, |_, _| {}).await?;
    let mut current = Value::clone(&*api.get(r, None, &cluster.node_name)?);
    current["status"] = status;
    api.replace_status(
        r,
        None,
        &cluster.node_name,
        current,
        &WriteOptions::default(),
    )
    .await?;
    Ok(())
}
