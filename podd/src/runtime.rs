//! The kubelet loop: one worker task per pod bound to this node. A worker makes the pod's
//! sandbox (`sandbox.rs`), runs its init containers in order and then its containers,
//! restarts them per `restartPolicy` with CrashLoopBackOff (`worker.rs`, deciding with
//! `restart.rs`), reports status, and on deletion stops everything gracefully and finishes
//! the delete.

mod probes;
mod worker;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use apiserver::informer::Informer;
use apiserver::{Api, ApiError, DeleteOptions, WriteOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::sandbox::Sandbox;
use crate::status::{Observed, State};

/// podd's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name (pods bound to it are ours).
    pub node_name: String,
    /// This node's IP (`status.hostIP`).
    pub node_ip: Ipv4Addr,
    /// The pod network that pod IPs come from.
    pub pod_cidr: ipnet::Ipv4Net,
    /// Per-pod files (resolv.conf, hosts, logs) live in `<state_dir>/<pod uid>/`.
    pub state_dir: PathBuf,
    /// The cgroup2 directory under which each pod gets one (`None`: no cgroup support).
    pub cgroup_root: Option<PathBuf>,
    /// The kubicle executable (re-executed as the container init).
    pub kubicle_exe: PathBuf,
    /// The cluster DNS address (`kube-dns`).
    pub cluster_dns: Ipv4Addr,
    /// The cluster domain.
    pub cluster_domain: String,
    /// The host's resolv.conf text (for dnsPolicy Default and host search domains).
    pub host_resolv_conf: String,
}

/// What the workers share.
pub(crate) struct Shared {
    /// The API (status, events, ConfigMaps and Secrets for the environment).
    pub(crate) api: Api,
    /// The node network.
    pub(crate) netd: Arc<netd::Netd>,
    /// The pod IPs in use.
    pub(crate) ipam: Mutex<netd::Ipam>,
    /// podd's settings.
    pub(crate) config: Config,
    /// The Services now (for service links).
    pub(crate) services: tokio::sync::watch::Receiver<Vec<Arc<Value>>>,
    /// Containers running now (for `kubectl logs -f`).
    pub(crate) running: crate::logs::Running,
    /// How to exec into the running containers.
    pub(crate) targets: crate::logs::ExecTargets,
}

impl Shared {
    /// Gives a pod IP back.
    pub(crate) fn release_ip(&self, ip: Ipv4Addr) {
        self.ipam
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(ip);
    }
}

/// The handle of a pod's worker task.
struct Handle {
    /// Set to the grace period to use when the pod must stop.
    stop: tokio::sync::watch::Sender<Option<i64>>,
}

fn ours(pod: &Value, node: &str) -> bool {
    pod["spec"]["nodeName"].as_str() == Some(node)
}

fn terminating(pod: &Value) -> bool {
    pod["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"].as_str().unwrap_or("").to_string()
}

/// The pod IP its status reports.
fn pod_ip(pod: &Value) -> Option<Ipv4Addr> {
    pod["status"]["podIP"].as_str()?.parse().ok()
}

/// Runs until `shutdown`; then stops every pod it runs.
pub async fn run(api: Api, netd: Arc<netd::Netd>, config: Config, shutdown: CancellationToken) {
    let (Some(pods_r), Some(services_r)) = (
        apiserver::resources::lookup("", "v1", "pods"),
        apiserver::resources::lookup("", "v1", "services"),
    ) else {
        return;
    };
    let (mut pods, mut services) = match (
        Informer::start(&api, pods_r).await,
        Informer::start(&api, services_r).await,
    ) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "start informers");
            return;
        }
    };
    let in_use: Vec<Ipv4Addr> = pods
        .all()
        .filter(|p| ours(p, &config.node_name))
        .filter_map(|p| p["status"]["podIP"].as_str()?.parse().ok())
        .collect();
    let ipam = netd::Ipam::new(config.pod_cidr, in_use, None);
    let (services_tx, services_rx) =
        tokio::sync::watch::channel(services.all().cloned().collect::<Vec<_>>());
    let running: crate::logs::Running = Arc::default();
    let targets: crate::logs::ExecTargets = Arc::default();
    api.set_node_streams(Arc::new(crate::logs::PodStreams {
        logs: crate::logs::PodLogs {
            state_dir: config.state_dir.clone(),
            running: running.clone(),
        },
        targets: targets.clone(),
        kubicle_exe: config.kubicle_exe.clone(),
    }));
    let shared = Arc::new(Shared {
        api: api.clone(),
        netd,
        ipam: Mutex::new(ipam),
        config,
        services: services_rx,
        running,
        targets,
    });

    // Networks left by pods that no longer exist (a crash, a deletion while stopped) go.
    let live: Vec<String> = pods.all().map(|p| uid(p)).collect();
    if let Ok(networks) = shared.netd.pod_networks() {
        for id in networks.into_iter().filter(|id| !live.contains(id)) {
            if let Err(e) = shared.netd.delete_pod_network(&id).await {
                tracing::warn!(pod = %id, error = %e, "remove a leftover pod network");
            }
        }
    }

    let mut workers: HashMap<String, Handle> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let initial: Vec<Arc<Value>> = pods.all().cloned().collect();
    for pod in initial {
        sync_pod(&shared, &mut workers, &mut tasks, &pod);
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            event = pods.next() => match event {
                Some(event) if event.event_type == apiserver::EventType::Deleted => {
                    if let Some(worker) = workers.get(&uid(&event.object)) {
                        let _ = worker.stop.send(Some(0));
                    }
                }
                Some(event) => sync_pod(&shared, &mut workers, &mut tasks, &event.object),
                None => {
                    let all: Vec<Arc<Value>> = pods.all().cloned().collect();
                    for pod in all {
                        sync_pod(&shared, &mut workers, &mut tasks, &pod);
                    }
                }
            },
            _ = services.next() => {
                let _ = services_tx.send(services.all().cloned().collect());
            },
            Some(done) = tasks.join_next() => {
                if let Ok(id) = done {
                    workers.remove(&id);
                }
            }
        }
    }
    for worker in workers.values() {
        let _ = worker.stop.send(Some(2));
    }
    while tasks.join_next().await.is_some() {}
}

fn sync_pod(
    shared: &Arc<Shared>,
    workers: &mut HashMap<String, Handle>,
    tasks: &mut tokio::task::JoinSet<String>,
    pod: &Arc<Value>,
) {
    if !ours(pod, &shared.config.node_name) {
        return;
    }
    let id = uid(pod);
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    match workers.get(&id) {
        Some(worker) => {
            if terminating(pod) {
                let grace = pod["metadata"]["deletionGracePeriodSeconds"]
                    .as_i64()
                    .unwrap_or(30);
                let _ = worker.stop.send(Some(grace));
            }
        }
        None if terminating(pod) || phase == "Succeeded" || phase == "Failed" => {
            if terminating(pod) {
                // Nothing runs for it (podd restarted): clean up and finish the delete.
                let shared = shared.clone();
                let pod = pod.clone();
                tasks.spawn(async move {
                    crate::sandbox::teardown(&shared, &uid(&pod), pod_ip(&pod)).await;
                    finish_delete(&shared, &pod).await;
                    uid(&pod)
                });
            }
        }
        None => {
            let (stop, stopped) = tokio::sync::watch::channel(None);
            workers.insert(id, Handle { stop });
            let shared = shared.clone();
            let pod = pod.clone();
            tasks.spawn(async move {
                let span = tracing::info_span!("pod", namespace = %pod["metadata"]["namespace"].as_str().unwrap_or(""), name = %pod["metadata"]["name"].as_str().unwrap_or(""));
                let _ = tracing::Instrument::instrument(run_pod(shared, pod.clone(), stopped), span).await;
                uid(&pod)
            });
        }
    }
}

fn now() -> String {
    apiserver::objects::timestamp(jiff::Timestamp::now())
}

async fn write_status(shared: &Shared, pod: &Value, observed: &Observed) {
    let Some(pods_r) = apiserver::resources::lookup("", "v1", "pods") else {
        return;
    };
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().unwrap_or(""),
        pod["metadata"]["name"].as_str().unwrap_or(""),
    );
    for _ in 0..3 {
        let Ok(current) = shared.api.get(pods_r, Some(ns), name) else {
            return;
        };
        if current["metadata"]["uid"] != pod["metadata"]["uid"] {
            return;
        }
        let mut updated = Value::clone(&current);
        updated["status"] = crate::status::pod_status(&current, observed, &now());
        if updated["status"] == current["status"] {
            return;
        }
        match shared
            .api
            .replace_status(
                pods_r,
                Some(ns),
                name,
                updated,
                &WriteOptions::by("kubelet"),
            )
            .await
        {
            Ok(_) | Err(ApiError::NotFound { .. }) => return,
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "write pod status");
                return;
            }
        }
    }
}

/// Writes the status and records the kubelet's events for what changed since the last
/// report: Started, BackOff, Failed (image), Unhealthy (readiness).
async fn report(shared: &Shared, pod: &Value, reported: &mut Observed, observed: &Observed) {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
    for (i, now) in observed.init.iter().chain(&observed.containers).enumerate() {
        let before = reported.init.iter().chain(&reported.containers).nth(i);
        let (kind, reason, message) = match (&now.state, before.map(|b| &b.state)) {
            (State::Running { started_at }, Some(State::Running { started_at: was }))
                if started_at == was =>
            {
                if before.is_some_and(|b| b.ready)
                    && !now.ready
                    && !observed.init.iter().any(|c| c.name == now.name)
                {
                    (
                        "Warning",
                        "Unhealthy",
                        format!("Readiness probe failed for container {}", now.name),
                    )
                } else {
                    continue;
                }
            }
            (State::Running { .. }, _) => (
                "Normal",
                "Started",
                format!("Started container {}", now.name),
            ),
            (State::Waiting { reason, message }, previous) if previous != Some(&now.state) => {
                match reason.as_str() {
                    "CrashLoopBackOff" => (
                        "Warning",
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {pod_name}",
                            now.name
                        ),
                    ),
                    "ErrImagePull" | "ImagePullBackOff" => (
                        "Warning",
                        "Failed",
                        format!("Failed to pull image {:?}: {message}", now.image),
                    ),
                    // The kubelet's `FailedToInspectImage` event.
                    "InvalidImageName" => ("Warning", "InspectFailed", message.clone()),
                    "CreateContainerConfigError" | "RunContainerError" => {
                        ("Warning", "Failed", format!("Error: {message}"))
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        apiserver::events::record(&shared.api, pod, kind, reason, &message, "kubelet").await;
    }
    *reported = observed.clone();
    write_status(shared, pod, observed).await;
}

/// One pod's life on this node: its sandbox, its containers until the pod must stop, then
/// the sandbox's removal and the end of the delete.
async fn run_pod(
    shared: Arc<Shared>,
    pod: Arc<Value>,
    mut stopped: tokio::sync::watch::Receiver<Option<i64>>,
) {
    let mut observed = Observed::creating(&pod, shared.config.node_ip, &now());
    let mut reported = Observed::default();
    let Some(sandbox) = create_sandbox(&shared, &pod, &mut stopped, &mut reported, &observed).await
    else {
        crate::sandbox::teardown(&shared, &uid(&pod), pod_ip(&pod)).await;
        finish_delete(&shared, &pod).await;
        return;
    };
    observed.pod_ip = Some(sandbox.ip.to_string());
    report(&shared, &pod, &mut reported, &observed).await;
    let mut worker =
        worker::PodWorker::new(shared.clone(), pod.clone(), sandbox, observed, reported);
    worker.start().await;
    let grace = worker.run(stopped).await;
    worker.stop(grace).await;
    finish_delete(&shared, &pod).await;
}

/// Makes the pod's sandbox, retrying with back-off until it exists or the pod must stop
/// (`None`). Each failure is a `FailedCreatePodSandBox` event, as the kubelet records it
/// (`kuberuntime_manager.go`), and the pod stays Pending with its containers
/// ContainerCreating: nothing runs on a half-made sandbox.
async fn create_sandbox(
    shared: &Shared,
    pod: &Value,
    stopped: &mut tokio::sync::watch::Receiver<Option<i64>>,
    reported: &mut Observed,
    observed: &Observed,
) -> Option<Sandbox> {
    for attempt in 1.. {
        let error = match Sandbox::create(shared, pod).await {
            Ok(sandbox) => return Some(sandbox),
            Err(e) => e.chain(),
        };
        tracing::error!(%error, attempt, "create the pod sandbox");
        let message = format!("Failed to create pod sandbox: {error}");
        apiserver::events::record(
            &shared.api,
            pod,
            "Warning",
            "FailedCreatePodSandBox",
            &message,
            "kubelet",
        )
        .await;
        report(shared, pod, reported, observed).await;
        let retry = tokio::time::sleep(crate::restart::sandbox_retry(attempt));
        tokio::select! {
            () = retry => {}
            changed = stopped.changed() => {
                if changed.is_err() || stopped.borrow().is_some() {
                    return None;
                }
            }
        }
    }
    None
}

/// Finishes a graceful delete: the pod is removed once its containers are gone.
async fn finish_delete(shared: &Shared, pod: &Value) {
    let Some(pods_r) = apiserver::resources::lookup("", "v1", "pods") else {
        return;
    };
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str(),
        pod["metadata"]["name"].as_str().unwrap_or(""),
    );
    let Ok(current) = shared.api.get(pods_r, ns, name) else {
        return;
    };
    if current["metadata"]["uid"] != pod["metadata"]["uid"] || !terminating(&current) {
        return;
    }
    let options = DeleteOptions {
        grace_period_seconds: Some(0),
        precondition_uid: Some(uid(pod)),
        ..DeleteOptions::default()
    };
    if let Err(e) = shared
        .api
        .delete_if_present(pods_r, ns, name, &options)
        .await
    {
        tracing::warn!(error = %e, "finish deleting the pod");
    }
}
