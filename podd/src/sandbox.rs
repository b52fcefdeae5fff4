//! A pod's sandbox: what its containers share (as the CRI's pod sandbox): the pod IP and
//! network namespace (netd), the pod directory with the `/etc` files, the IPC namespace, the
//! cgroup with the pod's limits, and with `shareProcessNamespace` the pause process that holds
//! the pod's PID namespace, as the pause container does in Kubernetes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::dns_config;
use crate::init::{InitArgs, PidNamespace};
use crate::runtime::Shared;

/// A pod's sandbox, made by [`Sandbox::create`] and removed by [`Sandbox::teardown`].
#[derive(Debug)]
pub(crate) struct Sandbox {
    /// The pod's uid.
    pub(crate) uid: String,
    /// The pod IP.
    pub(crate) ip: Ipv4Addr,
    /// The pod's network namespace (a bind mount).
    pub(crate) netns: PathBuf,
    /// `<state dir>/<pod uid>`: the `/etc` files, the logs, the IPC namespace's mount.
    pub(crate) dir: PathBuf,
    /// The files bind-mounted over `/etc/<name>` in each container.
    pub(crate) files: Vec<PathBuf>,
    /// The pod's IPC namespace (a bind mount), `None` when each container gets its own.
    pub(crate) ipc: Option<PathBuf>,
    /// The pod's cgroup, `None` without cgroup2.
    pub(crate) cgroup: Option<PathBuf>,
    /// The pod's hostname.
    pub(crate) hostname: String,
    /// The pause process of a pod with `shareProcessNamespace`.
    pub(crate) pause: Option<Pause>,
}

/// Why a pod's sandbox could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    /// No pod IP is free.
    #[error("allocate a pod IP")]
    AllocateIp(#[source] netd::Error),
    /// netd could not make the pod's network.
    #[error("create the pod network")]
    Network(#[source] netd::Error),
    /// The pod's directory or its `/etc` files could not be written (a full disk).
    #[error("write the pod's files in {dir}")]
    Files {
        /// The pod directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    /// The message with its causes, as the `FailedCreatePodSandBox` event says it.
    pub(crate) fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            text.push_str(": ");
            text.push_str(&e.to_string());
            cause = e.source();
        }
        text
    }
}

impl Sandbox {
    /// Makes the sandbox of `pod`, keeping the IP its status already has (a restart of
    /// kubicle). Processes left in its cgroup from before a restart are stopped: the
    /// containers start afresh, as the kubelet restarts them after a node reboot.
    pub(crate) async fn create(shared: &Shared, pod: &Value) -> Result<Sandbox, SandboxError> {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let ip = reserve_ip(shared, pod).map_err(SandboxError::AllocateIp)?;
        let network = match shared.netd.create_pod_network(&uid, ip).await {
            Ok(n) => n,
            Err(e) => {
                shared.release_ip(ip);
                return Err(SandboxError::Network(e));
            }
        };
        let dir = shared.config.state_dir.join(&uid);
        let files = match prepare_files(shared, pod, &dir, ip) {
            Ok(f) => f,
            Err(source) => {
                // Nothing half-made stays: the containers never start on wrong files.
                teardown(shared, &uid, Some(ip)).await;
                return Err(SandboxError::Files { dir, source });
            }
        };
        let ipc = match crate::ipc::create(&dir) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!(error = %e, "the pod's containers get their own IPC namespaces");
                None
            }
        };
        let cgroup = match &shared.config.cgroup_root {
            Some(root) => pod_cgroup(root.join(&uid)).await,
            None => None,
        };
        if let Some(warning) = crate::limits::apply(pod, cgroup.as_deref()) {
            tracing::warn!(%warning, "resource limits");
            apiserver::events::record(
                &shared.api,
                pod,
                "Warning",
                "LimitsNotEnforced",
                &warning,
                "kubelet",
            )
            .await;
        }
        let mut sandbox = Sandbox {
            uid,
            ip,
            netns: network.netns_path,
            dir,
            files,
            ipc,
            cgroup,
            hostname: dns_config::hostname(pod, &shared.config.cluster_domain),
            pause: None,
        };
        if pod["spec"]["shareProcessNamespace"].as_bool() == Some(true) {
            match sandbox.start_pause(&shared.config.kubicle_exe).await {
                Ok(p) => sandbox.pause = Some(p),
                Err(e) => tracing::error!(
                    error = %e,
                    "the pod's containers get PID namespaces of their own"
                ),
            }
        }
        Ok(sandbox)
    }

    /// The PID namespace the pod's containers run in: the pause's, or each its own.
    pub(crate) fn pid_namespace(&self) -> PidNamespace {
        match &self.pause {
            Some(p) => PidNamespace::Join(p.pid_namespace.clone()),
            None => PidNamespace::New,
        }
    }

    /// The init settings every container of the pod starts from.
    pub(crate) fn init_args(&self) -> InitArgs {
        InitArgs {
            netns: self.netns.clone(),
            ipc: self.ipc.clone(),
            hostname: self.hostname.clone(),
            etc_files: self.files.clone(),
            cgroup: self.cgroup.clone(),
            working_dir: None,
            uid: None,
            gid: None,
            pid: self.pid_namespace(),
            join: None,
            stage2: false,
            tty: None,
            command: Vec::new(),
        }
    }

    /// The cgroup of container `name` (made now), under the pod's: all of the container's
    /// processes, which [`crate::cgroup::kill_and_wait`] ends when its init exits.
    pub(crate) fn container_cgroup(&self, name: &str) -> std::io::Result<Option<PathBuf>> {
        let Some(pod) = &self.cgroup else {
            return Ok(None);
        };
        let dir = pod.join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(Some(dir))
    }

    /// Kills everything left in the sandbox and removes it.
    pub(crate) async fn teardown(self, shared: &Shared, ip: Option<Ipv4Addr>) {
        teardown(shared, &self.uid, ip).await;
        // The cgroup's kill took the pause process with it.
        if let Some(mut pause) = self.pause {
            let _ = pause.child.wait().await;
        }
    }
}

/// The pod's cgroup, made or emptied: processes left in it from before a restart of kubicle
/// are stopped, and gone before the containers start again, as the kubelet restarts them
/// after a node reboot. `None` when it cannot be made.
async fn pod_cgroup(path: PathBuf) -> Option<PathBuf> {
    tokio::task::spawn_blocking(move || {
        crate::cgroup::kill_and_wait(&path);
        std::fs::create_dir_all(&path).ok().map(|()| path)
    })
    .await
    .ok()
    .flatten()
}

/// The pod's IP: the one its status has (kept across restarts of kubicle), else a new one.
fn reserve_ip(shared: &Shared, pod: &Value) -> Result<Ipv4Addr, netd::Error> {
    let mut ipam = shared.ipam.lock().unwrap_or_else(|e| e.into_inner());
    match pod["status"]["podIP"]
        .as_str()
        .and_then(|ip| ip.parse().ok())
    {
        Some(ip) => {
            ipam.reserve(ip);
            Ok(ip)
        }
        None => ipam.allocate(),
    }
}

/// Kills whatever is left of pod `uid` (its whole cgroup) and removes its network, its IP,
/// its cgroup and its files.
pub(crate) async fn teardown(shared: &Shared, uid: &str, ip: Option<Ipv4Addr>) {
    if let Some(root) = &shared.config.cgroup_root {
        let cgroup = root.join(uid);
        let _ = tokio::task::spawn_blocking(move || crate::cgroup::kill_and_remove(&cgroup)).await;
    }
    if let Err(e) = shared.netd.delete_pod_network(uid).await {
        tracing::warn!(error = %e, "remove the pod network");
    }
    if let Some(ip) = ip {
        shared.release_ip(ip);
    }
    let dir = shared.config.state_dir.join(uid);
    crate::ipc::remove(&dir);
    let _ = std::fs::remove_dir_all(dir);
}

/// The pod's /etc files: resolv.conf, hosts, hostname.
fn prepare_files(
    shared: &Shared,
    pod: &Value,
    dir: &Path,
    ip: Ipv4Addr,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let config = &shared.config;
    let (resolv, warnings) = dns_config::resolv_conf(
        pod,
        config.cluster_dns,
        &config.cluster_domain,
        &config.host_resolv_conf,
    );
    for warning in warnings {
        tracing::warn!(%warning, "DNSConfigForming");
    }
    let hosts = dns_config::hosts_file(pod, &[ip.into()], &config.cluster_domain);
    let hostname = format!("{}\n", dns_config::hostname(pod, &config.cluster_domain));
    let mut files = Vec::new();
    for (name, text) in [
        ("resolv.conf", resolv),
        ("hosts", hosts),
        ("hostname", hostname),
    ] {
        let path = dir.join(name);
        write_atomically(&path, text.as_bytes())?;
        files.push(path);
    }
    Ok(files)
}

/// Writes a file readable by all under a temporary name and renames it into place, so a
/// container never sees it half-written (a full disk leaves the old file, or none).
fn write_atomically(path: &Path, text: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        // Mounted over /etc in containers of any user: readable by all, as the kubelet writes
        // them. fchmod, not the mode at open: the server's umask (077) would take it away.
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        file.write_all(text)?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A running pause process and the PID namespace it is PID 1 of.
#[derive(Debug)]
pub struct Pause {
    /// The first-stage init of the pause (podd's child, waited for at teardown).
    pub child: tokio::process::Child,
    /// The namespace file the pod's containers join.
    pub pid_namespace: PathBuf,
}

/// Why the pod's shared PID namespace could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    /// `kubicle init ... -- kubicle pause` could not start.
    #[error("start the pause process")]
    Start(#[source] std::io::Error),
    /// The pause process did not become PID 1 of a new namespace in time.
    #[error("the pause process did not start its PID namespace within {0:?}")]
    NotReady(Duration),
}

/// How long the pause process may take to start its namespace.
const PAUSE_READY: Duration = Duration::from_secs(5);

impl Sandbox {
    /// Starts the pause process of a pod with `shareProcessNamespace`, in the pod's network
    /// and IPC namespaces, hostname and cgroup, and waits until its PID namespace exists: the
    /// first stage's `pid_for_children` names it once the pause runs as its PID 1
    /// (pid_namespaces(7)).
    async fn start_pause(&self, kubicle_exe: &Path) -> Result<Pause, PauseError> {
        let init = InitArgs {
            etc_files: Vec::new(),
            pid: PidNamespace::New,
            command: vec![kubicle_exe.display().to_string(), "pause".into()],
            ..self.init_args()
        };
        let child = crate::spawn::start(kubicle_exe, &init, &[], &self.dir.join("pause.log"))
            .map_err(PauseError::Start)?
            .child;
        let pid = child.id().unwrap_or(0);
        let pid_namespace = PathBuf::from(format!("/proc/{pid}/ns/pid_for_children"));
        let own = std::fs::read_link("/proc/self/ns/pid").ok();
        let deadline = tokio::time::Instant::now() + PAUSE_READY;
        loop {
            let theirs = std::fs::read_link(&pid_namespace).ok();
            let running_pause = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .is_ok_and(|children| !children.trim().is_empty());
            if theirs.is_some() && theirs != own && running_pause {
                return Ok(Pause {
                    child,
                    pid_namespace,
                });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(PauseError::NotReady(PAUSE_READY));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
