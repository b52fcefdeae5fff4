//! The kubelet loop: one worker task per pod bound to this node. A worker makes the pod's
//! sandbox (IP, network namespace, /etc files, cgroup), runs its init containers in order and
//! then its containers, restarts them per `restartPolicy` with CrashLoopBackOff, reports
//! status, and on deletion stops everything gracefully and finishes the delete.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver::informer::Informer;
use apiserver::{Api, ApiError, DeleteOptions, WriteOptions};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::init::{InitArgs, PidNamespace};
use crate::status::{Container, Observed, State};
use crate::{dns_config, env, spawn};

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
struct Shared {
    api: Api,
    netd: Arc<netd::Netd>,
    ipam: Mutex<netd::Ipam>,
    config: Config,
    services: tokio::sync::watch::Receiver<Vec<Arc<Value>>>,
    /// Containers running now (for `kubectl logs -f`).
    running: crate::logs::Running,
    /// How to exec into the running containers.
    targets: crate::logs::ExecTargets,
}

struct Worker {
    /// Cancelled with the grace period to use when the pod must stop.
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

    let mut workers: HashMap<String, Worker> = HashMap::new();
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
    workers: &mut HashMap<String, Worker>,
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
                    teardown(&shared, &pod, None).await;
                    finish_delete(&shared, &pod).await;
                    uid(&pod)
                });
            }
        }
        None => {
            let (stop, stopped) = tokio::sync::watch::channel(None);
            workers.insert(id, Worker { stop });
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

/// The restart delay after `restarts` crashes: 10 s doubling to 5 min (kubelet `backOff`).
pub fn backoff(restarts: u32) -> Duration {
    Duration::from_secs((10u64 << restarts.saturating_sub(1).min(5)).min(300))
}

fn now() -> String {
    apiserver::objects::timestamp(jiff::Timestamp::now())
}

fn pod_dir(shared: &Shared, pod: &Value) -> PathBuf {
    shared.config.state_dir.join(uid(pod))
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

/// A running container process and what is known of it.
struct Running {
    pid: i32,
    started_at: String,
}

async fn run_pod(
    shared: Arc<Shared>,
    pod: Arc<Value>,
    mut stopped: tokio::sync::watch::Receiver<Option<i64>>,
) {
    let id = uid(&pod);
    let existing_ip: Option<Ipv4Addr> = pod["status"]["podIP"]
        .as_str()
        .and_then(|ip| ip.parse().ok());
    let ip = match existing_ip {
        Some(ip) => {
            shared
                .ipam
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .reserve(ip);
            Ok(ip)
        }
        None => shared
            .ipam
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allocate(),
    };
    // What the last status write reported, to turn changes into kubelet events.
    let mut reported = Observed::default();
    let mut observed = Observed {
        host_ip: shared.config.node_ip.to_string(),
        start_time: now(),
        ..Observed::default()
    };
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let inits: Vec<Value> = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let creating = |c: &Value| Container {
        name: c["name"].as_str().unwrap_or("").to_string(),
        image: c["image"].as_str().unwrap_or("").to_string(),
        state: State::Waiting {
            reason: "ContainerCreating".into(),
            message: String::new(),
        },
        last: None,
        restart_count: 0,
        ready: false,
    };
    observed.containers = containers.iter().map(creating).collect();
    observed.init = inits
        .iter()
        .map(|c| {
            let mut s = creating(c);
            s.state = State::Waiting {
                reason: "PodInitializing".into(),
                message: String::new(),
            };
            s
        })
        .collect();

    let ip = match ip {
        Ok(ip) => ip,
        Err(e) => {
            tracing::error!(error = %e, "allocate a pod IP");
            report(&shared, &pod, &mut reported, &observed).await;
            return;
        }
    };
    let network = match shared.netd.create_pod_network(&id, ip).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "create the pod network");
            shared
                .ipam
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release(ip);
            return;
        }
    };
    observed.pod_ip = Some(ip.to_string());
    let dir = pod_dir(&shared, &pod);
    let files = match prepare_files(&shared, &pod, &dir, ip) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "write the pod's files");
            Vec::new()
        }
    };
    let ipc_ns = match crate::ipc::create(&dir) {
        Ok(path) => Some(path),
        Err(e) => {
            tracing::warn!(error = %e, "the pod's containers get their own IPC namespaces");
            None
        }
    };
    let cgroup = shared.config.cgroup_root.as_ref().and_then(|root| {
        let path = root.join(&id);
        // Processes left from before a restart of kubicle are stopped: the containers start
        // afresh, as the kubelet restarts them after a node reboot.
        let _ = std::fs::write(path.join("cgroup.kill"), "1");
        std::fs::create_dir_all(&path).ok().map(|()| path)
    });
    if let Some(warning) = crate::limits::apply(&pod, cgroup.as_deref()) {
        tracing::warn!(%warning, "resource limits");
        apiserver::events::record(
            &shared.api,
            &pod,
            "Warning",
            "LimitsNotEnforced",
            &warning,
            "kubelet",
        )
        .await;
    }
    let hostname = dns_config::hostname(&pod, &shared.config.cluster_domain);
    // shareProcessNamespace: the containers join one PID namespace whose PID 1 is a pause
    // process; otherwise each container is PID 1 of its own.
    let mut pause = None;
    if pod["spec"]["shareProcessNamespace"].as_bool() == Some(true) {
        match crate::sandbox::start_pause(
            &shared.config.kubicle_exe,
            &network.netns_path,
            ipc_ns.as_deref(),
            &hostname,
            cgroup.as_deref(),
            &dir.join("pause.log"),
        )
        .await
        {
            Ok(p) => pause = Some(p),
            Err(e) => {
                tracing::error!(error = %e, "the pod's containers get PID namespaces of their own")
            }
        }
    }
    let pid_namespace = match &pause {
        Some(p) => PidNamespace::Join(p.pid_namespace.clone()),
        None => PidNamespace::New,
    };
    report(&shared, &pod, &mut reported, &observed).await;

    let restart_policy = pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always")
        .to_string();
    let (exits_tx, mut exits) = mpsc::channel::<(bool, usize, i32)>(64);
    let mut running: HashMap<(bool, usize), Running> = HashMap::new();
    // Probes of the running app containers, by index (set up at each start).
    let probe_ctx: Mutex<HashMap<usize, ProbeCtx>> = Mutex::default();
    let launch = |is_init: bool,
                  index: usize,
                  container: &Value,
                  observed: &mut Observed,
                  running: &mut HashMap<(bool, usize), Running>| {
        let slot = if is_init {
            &mut observed.init[index]
        } else {
            &mut observed.containers[index]
        };
        let command = match spawn::command_line(container, &shared.config.kubicle_exe) {
            Ok(c) => c,
            Err(message) => {
                let reason = if slot.restart_count == 0
                    && !matches!(slot.state, State::Waiting { ref reason, .. } if reason == "ErrImagePull")
                {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                slot.state = State::Waiting {
                    reason: reason.into(),
                    message,
                };
                return false;
            }
        };
        let services = shared.services.borrow().clone();
        let service_refs: Vec<&Value> = services.iter().map(|s| &**s).collect();
        let links = env::service_links(
            pod["metadata"]["namespace"].as_str().unwrap_or("default"),
            pod["spec"]["enableServiceLinks"].as_bool().unwrap_or(true),
            &service_refs,
        );
        let (links, dropped) = env::trim_service_links(links, env::SERVICE_LINKS_CAP);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "too many services for the container environment: their service links were left out"
            );
        }
        let mut pod_now = Value::clone(&pod);
        let (pod_ip, host_ip) = (ip.to_string(), shared.config.node_ip.to_string());
        pod_now["status"]["podIP"] = serde_json::json!(pod_ip);
        pod_now["status"]["podIPs"] = serde_json::json!([{"ip": pod_ip}]);
        pod_now["status"]["hostIP"] = serde_json::json!(host_ip);
        pod_now["status"]["hostIPs"] = serde_json::json!([{"ip": host_ip}]);
        let lookup = |kind: &str, name: &str| -> Option<Value> {
            let plural = if kind == "Secret" {
                "secrets"
            } else {
                "configmaps"
            };
            let r = apiserver::resources::lookup("", "v1", plural)?;
            shared
                .api
                .get(r, pod["metadata"]["namespace"].as_str(), name)
                .ok()
                .map(|o| Value::clone(&o))
        };
        let mut vars = match env::container_env(&pod_now, container, &links, &lookup) {
            Ok(v) => v,
            Err(e) => {
                slot.state = State::Waiting {
                    reason: "CreateContainerConfigError".into(),
                    message: e.to_string(),
                };
                return false;
            }
        };
        if !vars.iter().any(|(k, _)| k == "HOSTNAME") {
            vars.push((
                "HOSTNAME".into(),
                dns_config::hostname(&pod, &shared.config.cluster_domain),
            ));
        }
        let expand = |s: &str| {
            env::expand(s, &|k| {
                vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
        };
        let command: Vec<String> = command.iter().map(|a| expand(a)).collect();
        let init = InitArgs {
            netns: network.netns_path.clone(),
            ipc: ipc_ns.clone(),
            hostname: hostname.clone(),
            etc_files: files.clone(),
            cgroup: cgroup.clone(),
            working_dir: container["workingDir"].as_str().map(PathBuf::from),
            // The container's securityContext wins over the pod's (`DetermineEffectiveSecurityContext`).
            uid: security_id(&pod, container, "runAsUser"),
            gid: security_id(&pod, container, "runAsGroup"),
            pid: pid_namespace.clone(),
            join: None,
            stage2: false,
            tty: None,
            command,
        };
        let log = crate::logs::log_path(&shared.config.state_dir, &id, &slot.name, false);
        if slot.restart_count > 0 {
            // The previous instance's log stays for `kubectl logs --previous`.
            let _ = std::fs::rename(
                &log,
                crate::logs::log_path(&shared.config.state_dir, &id, &slot.name, true),
            );
        }
        match spawn::start(&shared.config.kubicle_exe, &init, &vars, &log) {
            Ok(spawn::Started {
                mut child,
                log_copy,
            }) => {
                let pid = child.id().map(|p| p as i32).unwrap_or(0);
                let started_at = now();
                slot.state = State::Running {
                    started_at: started_at.clone(),
                };
                // Without a readiness probe a running container is ready; with one, only
                // once the probe has succeeded.
                slot.ready = !is_init && container["readinessProbe"].is_null();
                if !is_init {
                    shared
                        .targets
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(
                            (id.clone(), slot.name.clone()),
                            (init.joining(pid as u32), vars.clone()),
                        );
                    let probes = crate::probe::Probe::of(container, tokio::time::Instant::now());
                    probe_ctx.lock().unwrap_or_else(|e| e.into_inner()).insert(
                        index,
                        ProbeCtx {
                            started: !probes.iter().any(|p| p.kind == crate::probe::Kind::Startup),
                            probes,
                            init: init.joining(pid as u32),
                            env: vars.clone(),
                            pid,
                            container: container.clone(),
                        },
                    );
                }
                running.insert((is_init, index), Running { pid, started_at });
                shared
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((id.clone(), slot.name.clone()));
                let tx = exits_tx.clone();
                tokio::spawn(async move {
                    let code = match child.wait().await {
                        Ok(status) => status.code().unwrap_or_else(|| {
                            128 + std::os::unix::process::ExitStatusExt::signal(&status)
                                .unwrap_or(0)
                        }),
                        Err(_) => 255,
                    };
                    // The exit is reported once the output is in the log, so `kubectl logs`
                    // of a finished container shows all of it; a process left behind holding
                    // the pipes does not hold the exit up for long.
                    let _ = tokio::time::timeout(Duration::from_secs(2), log_copy).await;
                    let _ = tx.send((is_init, index, code)).await;
                });
                true
            }
            Err(e) => {
                slot.state = State::Waiting {
                    reason: "RunContainerError".into(),
                    message: e.to_string(),
                };
                false
            }
        }
    };

    // Init containers, in order; app containers once they all succeeded.
    let mut next_init = 0;
    let mut retry_at: HashMap<(bool, usize), tokio::time::Instant> = HashMap::new();
    if inits.is_empty() {
        for (i, c) in containers.iter().enumerate() {
            if !launch(false, i, c, &mut observed, &mut running) {
                retry_at.insert((false, i), tokio::time::Instant::now() + backoff(1));
            }
        }
    } else if !launch(true, 0, &inits[0], &mut observed, &mut running) {
        retry_at.insert((true, 0), tokio::time::Instant::now() + backoff(1));
    }
    report(&shared, &pod, &mut reported, &observed).await;

    let grace = loop {
        let next_probe = probe_ctx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flat_map(|ctx| {
                ctx.probes
                    .iter()
                    .filter(|p| ctx.started || p.kind == crate::probe::Kind::Startup)
                    .map(|p| p.next_at)
            })
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let next_retry = retry_at
            .values()
            .min()
            .copied()
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            changed = stopped.changed() => {
                let grace = if changed.is_err() { Some(0) } else { *stopped.borrow() };
                if let Some(grace) = grace { break grace; }
            }
            Some((is_init, index, code)) = exits.recv() => {
                let Some(run) = running.remove(&(is_init, index)) else { continue };
                let slot = if is_init { &mut observed.init[index] } else { &mut observed.containers[index] };
                shared.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&(id.clone(), slot.name.clone()));
                if !is_init {
                    probe_ctx.lock().unwrap_or_else(|e| e.into_inner()).remove(&index);
                }
                let finished = State::Terminated {
                    exit_code: code,
                    reason: if code == 0 { "Completed".into() } else { "Error".into() },
                    started_at: run.started_at.clone(),
                    finished_at: now(),
                };
                let restart = if is_init { code != 0 && restart_policy != "Never" } else {
                    match restart_policy.as_str() { "Always" => true, "OnFailure" => code != 0, _ => false }
                };
                if is_init && code == 0 {
                    slot.state = finished;
                    next_init += 1;
                    if next_init < inits.len() {
                        if !launch(true, next_init, &inits[next_init], &mut observed, &mut running) {
                            retry_at.insert((true, next_init), tokio::time::Instant::now() + backoff(1));
                        }
                    } else {
                        for (i, c) in containers.iter().enumerate() {
                            if !launch(false, i, c, &mut observed, &mut running) {
                                retry_at.insert((false, i), tokio::time::Instant::now() + backoff(1));
                            }
                        }
                    }
                } else if restart {
                    // A container that ran for 10 minutes starts its backoff afresh.
                    let ran_long = run.started_at.parse::<jiff::Timestamp>().is_ok_and(|t| jiff::Timestamp::now().as_second() - t.as_second() > 600);
                    slot.last = Some(finished);
                    slot.restart_count += 1;
                    let delay = if ran_long { backoff(1) } else { backoff(slot.restart_count) };
                    slot.state = State::Waiting { reason: "CrashLoopBackOff".into(), message: format!("back-off {}s restarting failed container={} pod={}", delay.as_secs(), slot.name, pod["metadata"]["name"].as_str().unwrap_or("")) };
                    slot.ready = false;
                    retry_at.insert((is_init, index), tokio::time::Instant::now() + delay);
                } else {
                    slot.state = finished;
                    slot.ready = false;
                }
                report(&shared, &pod, &mut reported, &observed).await;
            }
            _ = tokio::time::sleep_until(next_probe) => {
                if run_probes(&shared, &probe_ctx, &mut observed, ip).await {
                    report(&shared, &pod, &mut reported, &observed).await;
                }
            }
            _ = tokio::time::sleep_until(next_retry) => {
                let due: Vec<(bool, usize)> = retry_at.iter().filter(|(_, at)| **at <= tokio::time::Instant::now()).map(|(k, _)| *k).collect();
                for key in due {
                    retry_at.remove(&key);
                    let container = if key.0 { &inits[key.1] } else { &containers[key.1] };
                    if !launch(key.0, key.1, container, &mut observed, &mut running) {
                        let restarts = if key.0 { observed.init[key.1].restart_count } else { observed.containers[key.1].restart_count };
                        if key.0 { observed.init[key.1].restart_count += 1 } else { observed.containers[key.1].restart_count += 1 }
                        retry_at.insert(key, tokio::time::Instant::now() + backoff(restarts + 1));
                    }
                }
                report(&shared, &pod, &mut reported, &observed).await;
            }
        }
    };

    // Stop: SIGTERM to every container's process group, SIGKILL after the grace period.
    let pids: Vec<i32> = running.values().map(|r| r.pid).filter(|p| *p > 0).collect();
    for pid in &pids {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(grace.max(0) as u64);
    while !running.is_empty() && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, exits.recv()).await {
            Ok(Some((is_init, index, _))) => {
                running.remove(&(is_init, index));
            }
            _ => break,
        }
    }
    shared
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(pod_uid, _)| *pod_uid != id);
    shared
        .targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(pod_uid, _), _| *pod_uid != id);
    teardown(&shared, &pod, Some(&running)).await;
    // The teardown killed the pod's cgroup, the pause process with it.
    if let Some(mut pause) = pause {
        let _ = pause.child.wait().await;
    }
    finish_delete(&shared, &pod).await;
}

/// A `securityContext` id (`runAsUser`, `runAsGroup`): the container's, else the pod's.
fn security_id(pod: &Value, container: &Value, field: &str) -> Option<u32> {
    container["securityContext"][field]
        .as_u64()
        .or_else(|| pod["spec"]["securityContext"][field].as_u64())
        .and_then(|id| u32::try_from(id).ok())
}

/// A running app container's probes and what an exec probe needs.
struct ProbeCtx {
    probes: Vec<crate::probe::Probe>,
    /// The startup probe has succeeded (or there is none): the others may run.
    started: bool,
    init: InitArgs,
    env: Vec<(String, String)>,
    pid: i32,
    container: Value,
}

/// Runs the probes that are due. A failed startup or liveness probe kills the container
/// (its exit then goes through the restart policy); readiness sets `ready`. Returns whether
/// the status changed.
async fn run_probes(
    shared: &Shared,
    probe_ctx: &Mutex<HashMap<usize, ProbeCtx>>,
    observed: &mut Observed,
    ip: Ipv4Addr,
) -> bool {
    use crate::probe::{Kind, Verdict};
    let now = tokio::time::Instant::now();
    let due: Vec<(usize, usize)> = probe_ctx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .flat_map(|(index, ctx)| {
            ctx.probes
                .iter()
                .enumerate()
                .filter(|(_, p)| p.next_at <= now && (ctx.started || p.kind == Kind::Startup))
                .map(|(i, _)| (*index, i))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut changed = false;
    for (index, i) in due {
        let Some((spec, container, init, env, timeout)) = probe_ctx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&index)
            .map(|ctx| {
                let p = &ctx.probes[i];
                (
                    p.spec.clone(),
                    ctx.container.clone(),
                    ctx.init.clone(),
                    ctx.env.clone(),
                    p.timeout(),
                )
            })
        else {
            continue;
        };
        let run = crate::probe::run(
            &spec,
            &container,
            std::net::IpAddr::V4(ip),
            &shared.config.kubicle_exe,
            &init,
            &env,
        );
        let result = match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(format!("timeout after {}s", timeout.as_secs())),
        };
        let mut ctxs = probe_ctx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ctx) = ctxs.get_mut(&index) else {
            continue;
        };
        let kind = ctx.probes[i].kind;
        let verdict = ctx.probes[i].record(result.is_ok());
        if let Err(why) = &result {
            tracing::debug!(container = %observed.containers[index].name, ?kind, %why, "probe failed");
        }
        match (kind, verdict) {
            (Kind::Startup, Verdict::Succeeded) => ctx.started = true,
            (Kind::Startup | Kind::Liveness, Verdict::Failed) => {
                tracing::info!(container = %observed.containers[index].name, ?kind, "probe failed: restarting the container");
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(ctx.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            (Kind::Readiness, Verdict::Succeeded) if !observed.containers[index].ready => {
                observed.containers[index].ready = true;
                changed = true;
            }
            (Kind::Readiness, Verdict::Failed) if observed.containers[index].ready => {
                observed.containers[index].ready = false;
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

/// The pod's /etc files: resolv.conf, hosts, hostname.
fn prepare_files(
    shared: &Shared,
    pod: &Value,
    dir: &PathBuf,
    ip: Ipv4Addr,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let (resolv, warnings) = dns_config::resolv_conf(
        pod,
        shared.config.cluster_dns,
        &shared.config.cluster_domain,
        &shared.config.host_resolv_conf,
    );
    for warning in warnings {
        tracing::warn!(%warning, "DNSConfigForming");
    }
    let hosts = dns_config::hosts_file(
        pod,
        &[std::net::IpAddr::V4(ip)],
        &shared.config.cluster_domain,
    );
    let hostname = format!(
        "{}\n",
        dns_config::hostname(pod, &shared.config.cluster_domain)
    );
    let mut files = Vec::new();
    for (name, text) in [
        ("resolv.conf", resolv),
        ("hosts", hosts),
        ("hostname", hostname),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        // Mounted over /etc in containers of any user: readable by all (the server's umask
        // is 077), as the kubelet writes them.
        let readable =
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644);
        std::fs::set_permissions(&path, readable)?;
        files.push(path);
    }
    Ok(files)
}

/// Kills whatever is left (the whole cgroup, then each process group), removes the network,
/// the IP, the cgroup and the pod's files.
async fn teardown(shared: &Shared, pod: &Value, running: Option<&HashMap<(bool, usize), Running>>) {
    let id = uid(pod);
    if let Some(root) = &shared.config.cgroup_root {
        let cgroup = root.join(&id);
        let _ = tokio::task::spawn_blocking(move || crate::cgroup::kill_and_remove(&cgroup)).await;
    }
    if let Some(running) = running {
        for r in running.values().filter(|r| r.pid > 0) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(r.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    if let Err(e) = shared.netd.delete_pod_network(&id).await {
        tracing::warn!(error = %e, "remove the pod network");
    }
    if let Some(ip) = pod["status"]["podIP"]
        .as_str()
        .and_then(|ip| ip.parse().ok())
    {
        shared
            .ipam
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(ip);
    }
    crate::ipc::remove(&pod_dir(shared, pod));
    let _ = std::fs::remove_dir_all(pod_dir(shared, pod));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
