//! One pod's worker, once its sandbox exists: it starts the containers through `kubicle init`
//! (init containers in order, then the app containers), turns each exit into a restart, the
//! next init container or a termination (`restart::on_exit`), retries what could not start,
//! runs the probes, reports status, and finally stops the containers and removes the sandbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::probes::{self, ProbeCtx};
use super::{Shared, now, pod_ip, report};
use crate::init::InitArgs;
use crate::restart::{self, Kind, Next, RestartPolicy};
use crate::sandbox::Sandbox;
use crate::status::{Container, Observed, State};
use crate::{dns_config, env, spawn};

/// A container of the pod: its list and its index there.
type Key = (Kind, usize);

/// A container's environment variables, in order.
type Env = Vec<(String, String)>;

/// A running container process and what is known of it.
struct Running {
    /// The first-stage init (podd's child, leading the container's process group).
    pid: i32,
    /// When it started (RFC 3339), for its status.
    started_at: String,
    /// When it started, for the back-off.
    since: Instant,
}

/// The state of one pod's containers.
pub(super) struct PodWorker {
    shared: Arc<Shared>,
    pod: Arc<Value>,
    uid: String,
    sandbox: Sandbox,
    policy: RestartPolicy,
    inits: Vec<Value>,
    containers: Vec<Value>,
    /// What podd knows now.
    observed: Observed,
    /// What the last status write reported, to turn changes into kubelet events.
    reported: Observed,
    running: HashMap<Key, Running>,
    /// The probes of the running app containers, by index (set up at each start).
    probes: HashMap<usize, ProbeCtx>,
    /// Containers waiting to be started again, and when.
    retry_at: HashMap<Key, Instant>,
    /// The init container that runs (or runs next).
    next_init: usize,
    exits_tx: mpsc::Sender<(Key, i32)>,
    exits: mpsc::Receiver<(Key, i32)>,
}

/// How far away "never" is for a timer in the loop.
const IDLE: Duration = Duration::from_secs(3600);

impl PodWorker {
    pub(super) fn new(
        shared: Arc<Shared>,
        pod: Arc<Value>,
        sandbox: Sandbox,
        observed: Observed,
        reported: Observed,
    ) -> PodWorker {
        let list = |field: &str| pod["spec"][field].as_array().cloned().unwrap_or_default();
        let (exits_tx, exits) = mpsc::channel(64);
        PodWorker {
            uid: sandbox.uid.clone(),
            policy: RestartPolicy::of(&pod),
            inits: list("initContainers"),
            containers: list("containers"),
            shared,
            pod,
            sandbox,
            observed,
            reported,
            running: HashMap::new(),
            probes: HashMap::new(),
            retry_at: HashMap::new(),
            next_init: 0,
            exits_tx,
            exits,
        }
    }

    /// Starts the first init container, or every app container when there is none.
    pub(super) async fn start(&mut self) {
        if self.inits.is_empty() {
            self.launch_apps();
        } else {
            self.launch_or_retry((Kind::Init, 0));
        }
        self.report().await;
    }

    /// Runs the containers until the pod must stop; returns the grace period to stop with.
    pub(super) async fn run(
        &mut self,
        mut stopped: tokio::sync::watch::Receiver<Option<i64>>,
    ) -> i64 {
        loop {
            let next_probe = probes::next_at(&self.probes).unwrap_or_else(|| Instant::now() + IDLE);
            let next_retry = self
                .retry_at
                .values()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + IDLE);
            tokio::select! {
                changed = stopped.changed() => {
                    let grace = if changed.is_err() { Some(0) } else { *stopped.borrow() };
                    if let Some(grace) = grace {
                        return grace;
                    }
                }
                Some((key, code)) = self.exits.recv() => self.exited(key, code).await,
                _ = tokio::time::sleep_until(next_probe) => {
                    let (shared, ip) = (&self.shared, self.sandbox.ip);
                    if probes::run_due(shared, &mut self.probes, &mut self.observed.containers, ip).await {
                        self.report().await;
                    }
                }
                _ = tokio::time::sleep_until(next_retry) => self.retry_due().await,
            }
        }
    }

    /// Stops the pod: SIGTERM to every container's process group, SIGKILL to what is left
    /// after the grace period, then the sandbox goes.
    pub(super) async fn stop(mut self, grace: i64) {
        let pids: Vec<i32> = self
            .running
            .values()
            .map(|r| r.pid)
            .filter(|p| *p > 0)
            .collect();
        for pid in &pids {
            signal_group(*pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(grace.max(0) as u64);
        while !self.running.is_empty() && Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, self.exits.recv()).await {
                Ok(Some((key, _))) => {
                    self.running.remove(&key);
                }
                _ => break,
            }
        }
        let uid = &self.uid;
        lock(&self.shared.running).retain(|(pod, _)| pod != uid);
        lock(&self.shared.targets).retain(|(pod, _), _| pod != uid);
        for r in self.running.values().filter(|r| r.pid > 0) {
            signal_group(r.pid, nix::sys::signal::Signal::SIGKILL);
        }
        self.sandbox.teardown(&self.shared, pod_ip(&self.pod)).await;
    }

    async fn report(&mut self) {
        report(&self.shared, &self.pod, &mut self.reported, &self.observed).await;
    }

    fn spec(&self, (kind, index): Key) -> &Value {
        match kind {
            Kind::Init => &self.inits[index],
            Kind::App => &self.containers[index],
        }
    }

    fn status(&self, (kind, index): Key) -> &Container {
        match kind {
            Kind::Init => &self.observed.init[index],
            Kind::App => &self.observed.containers[index],
        }
    }

    fn slot(&mut self, (kind, index): Key) -> &mut Container {
        match kind {
            Kind::Init => &mut self.observed.init[index],
            Kind::App => &mut self.observed.containers[index],
        }
    }

    fn launch_apps(&mut self) {
        for index in 0..self.containers.len() {
            self.launch_or_retry((Kind::App, index));
        }
    }

    /// Starts a container, or schedules a retry when it could not start.
    fn launch_or_retry(&mut self, key: Key) {
        if !self.launch(key) {
            self.retry_at
                .insert(key, Instant::now() + restart::backoff(1));
        }
    }

    /// Starts a container; `false` (with the reason in its state) when it could not start.
    fn launch(&mut self, key: Key) -> bool {
        let container = self.spec(key).clone();
        let (command, vars) = match self.command_and_env(key, &container) {
            Ok(ready) => ready,
            Err(waiting) => {
                self.slot(key).state = waiting;
                return false;
            }
        };
        let name = self.status(key).name.clone();
        let cgroup = match self.sandbox.container_cgroup(&name) {
            Ok(Some(dir)) => Some(dir),
            Ok(None) => None,
            Err(e) => {
                self.slot(key).state = State::Waiting {
                    reason: "RunContainerError".into(),
                    message: format!("create the container's cgroup: {e}"),
                };
                return false;
            }
        };
        let init = InitArgs {
            cgroup,
            working_dir: container["workingDir"].as_str().map(Into::into),
            // The container's securityContext wins over the pod's (`DetermineEffectiveSecurityContext`).
            uid: security_id(&self.pod, &container, "runAsUser"),
            gid: security_id(&self.pod, &container, "runAsGroup"),
            command,
            ..self.sandbox.init_args()
        };
        let state_dir = &self.shared.config.state_dir;
        let slot = self.status(key);
        let log = crate::logs::log_path(state_dir, &self.uid, &slot.name, false);
        if slot.restart_count > 0 {
            // The previous instance's log stays for `kubectl logs --previous`.
            let previous = crate::logs::log_path(state_dir, &self.uid, &slot.name, true);
            let _ = std::fs::rename(&log, previous);
        }
        match spawn::start(&self.shared.config.kubicle_exe, &init, &vars, &log) {
            Ok(started) => {
                self.started(key, &container, init, vars, started);
                true
            }
            Err(e) => {
                self.slot(key).state = State::Waiting {
                    reason: "RunContainerError".into(),
                    message: e.to_string(),
                };
                false
            }
        }
    }

    /// The command line and environment of a container, or the waiting state that says why
    /// there is none (the image, a missing ConfigMap or Secret).
    fn command_and_env(&self, key: Key, container: &Value) -> Result<(Vec<String>, Env), State> {
        let (shared, pod) = (&self.shared, &self.pod);
        let command = match spawn::command_line(container, &shared.config.kubicle_exe) {
            Ok(c) => c,
            Err(spawn::NoCommand::InvalidImageName(message)) => {
                return Err(State::Waiting {
                    reason: "InvalidImageName".into(),
                    message,
                });
            }
            Err(spawn::NoCommand::Unavailable(message)) => {
                let slot = self.status(key);
                let pulled_before = matches!(&slot.state, State::Waiting { reason, .. } if reason == "ErrImagePull");
                let reason = if slot.restart_count == 0 && !pulled_before {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                return Err(State::Waiting {
                    reason: reason.into(),
                    message,
                });
            }
        };
        let namespace = pod["metadata"]["namespace"].as_str();
        let services = shared.services.borrow().clone();
        let service_refs: Vec<&Value> = services.iter().map(|s| &**s).collect();
        let links = env::service_links(
            namespace.unwrap_or("default"),
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
        let mut pod_now = Value::clone(pod);
        let (pod_ip, host_ip) = (
            self.sandbox.ip.to_string(),
            shared.config.node_ip.to_string(),
        );
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
                .get(r, namespace, name)
                .ok()
                .map(|o| Value::clone(&o))
        };
        let mut vars = env::container_env(&pod_now, container, &links, &lookup).map_err(|e| {
            State::Waiting {
                reason: "CreateContainerConfigError".into(),
                message: e.to_string(),
            }
        })?;
        if !vars.iter().any(|(k, _)| k == "HOSTNAME") {
            vars.push((
                "HOSTNAME".into(),
                dns_config::hostname(pod, &shared.config.cluster_domain),
            ));
        }
        let expand = |s: &str| {
            env::expand(s, &|k| {
                vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
        };
        let command = command.iter().map(|a| expand(a)).collect();
        Ok((command, vars))
    }

    /// Records a started container and waits for its exit in a task of its own.
    fn started(
        &mut self,
        key: Key,
        container: &Value,
        init: InitArgs,
        vars: Vec<(String, String)>,
        started: spawn::Started,
    ) {
        let spawn::Started {
            mut child,
            log_copy,
        } = started;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let started_at = now();
        let uid = self.uid.clone();
        let slot = self.slot(key);
        let name = slot.name.clone();
        slot.state = State::Running {
            started_at: started_at.clone(),
        };
        // Without a readiness probe a running container is ready; with one, only once the
        // probe has succeeded.
        slot.ready = key.0 == Kind::App && container["readinessProbe"].is_null();
        if key.0 == Kind::App {
            lock(&self.shared.targets).insert(
                (uid.clone(), name.clone()),
                (init.joining(pid as u32), vars.clone()),
            );
            let probes = crate::probe::Probe::of(container, Instant::now());
            self.probes.insert(
                key.1,
                ProbeCtx {
                    started: !probes.iter().any(|p| p.kind == crate::probe::Kind::Startup),
                    probes,
                    init: init.joining(pid as u32),
                    env: vars,
                    pid,
                    container: container.clone(),
                },
            );
        }
        self.running.insert(
            key,
            Running {
                pid,
                started_at,
                since: Instant::now(),
            },
        );
        lock(&self.shared.running).insert((uid, name));
        let tx = self.exits_tx.clone();
        let cgroup = init.cgroup;
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(status) => status.code().unwrap_or_else(|| {
                    128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
                }),
                Err(_) => 255,
            };
            // Whatever of the container outlived its init (the init killed, a process left
            // in the background) goes now, and is gone before it starts again.
            if let Some(cgroup) = cgroup {
                let _ = tokio::task::spawn_blocking(move || crate::cgroup::kill_and_wait(&cgroup))
                    .await;
            }
            // The exit is reported once the output is in the log, so `kubectl logs` of a
            // finished container shows all of it; a process left behind holding the pipes
            // does not hold the exit up for long.
            let _ = tokio::time::timeout(Duration::from_secs(2), log_copy).await;
            let _ = tx.send((key, code)).await;
        });
    }

    /// A container exited with `code`: the next init container, a restart after the
    /// back-off, or a termination.
    async fn exited(&mut self, key: Key, code: i32) {
        let Some(run) = self.running.remove(&key) else {
            return;
        };
        let pod_name = self.pod["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let uid = self.uid.clone();
        let slot = self.slot(key);
        let name = slot.name.clone();
        let restarts = slot.restart_count;
        lock(&self.shared.running).remove(&(uid, name.clone()));
        if key.0 == Kind::App {
            self.probes.remove(&key.1);
        }
        let finished = State::Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            started_at: run.started_at,
            finished_at: now(),
        };
        let next = restart::on_exit(self.policy, key.0, code, run.since.elapsed(), restarts);
        let slot = self.slot(key);
        match next {
            Next::InitDone => {
                slot.state = finished;
                self.next_init += 1;
                if self.next_init < self.inits.len() {
                    self.launch_or_retry((Kind::Init, self.next_init));
                } else {
                    self.launch_apps();
                }
            }
            Next::Restart { after } => {
                slot.last = Some(finished);
                slot.restart_count += 1;
                slot.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {}s restarting failed container={name} pod={pod_name}",
                        after.as_secs()
                    ),
                };
                slot.ready = false;
                self.retry_at.insert(key, Instant::now() + after);
            }
            Next::Stay => {
                slot.state = finished;
                slot.ready = false;
            }
        }
        self.report().await;
    }

    /// Starts the containers whose retry is due; one that fails again backs off further.
    async fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<Key> = self
            .retry_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            self.retry_at.remove(&key);
            if !self.launch(key) {
                let slot = self.slot(key);
                let restarts = slot.restart_count;
                slot.restart_count += 1;
                self.retry_at
                    .insert(key, Instant::now() + restart::backoff(restarts + 1));
            }
        }
        self.report().await;
    }
}

/// A `securityContext` id (`runAsUser`, `runAsGroup`): the container's, else the pod's.
fn security_id(pod: &Value, container: &Value, field: &str) -> Option<u32> {
    container["securityContext"][field]
        .as_u64()
        .or_else(|| pod["spec"]["securityContext"][field].as_u64())
        .and_then(|id| u32::try_from(id).ok())
}

/// Sends `signal` to the process group that `pid` leads.
fn signal_group(pid: i32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
