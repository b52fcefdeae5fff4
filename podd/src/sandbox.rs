//! The pod-level processes of a sandbox: the pause process that holds a pod's shared PID
//! namespace (`shareProcessNamespace`), as the pause container does in Kubernetes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::init::{InitArgs, PidNamespace};

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

/// Starts the pause process of a pod with `shareProcessNamespace`, in the pod's network and
/// IPC namespaces, hostname and cgroup, and waits until its PID namespace exists: the first
/// stage's `pid_for_children` names it once the pause runs as its PID 1 (pid_namespaces(7)).
pub async fn start_pause(
    kubicle_exe: &Path,
    netns: &Path,
    ipc: Option<&Path>,
    hostname: &str,
    cgroup: Option<&Path>,
    log: &PathBuf,
) -> Result<Pause, PauseError> {
    let init = InitArgs {
        netns: netns.to_path_buf(),
        ipc: ipc.map(Path::to_path_buf),
        hostname: hostname.to_string(),
        etc_files: Vec::new(),
        cgroup: cgroup.map(Path::to_path_buf),
        working_dir: None,
        uid: None,
        gid: None,
        pid: PidNamespace::New,
        join: None,
        stage2: false,
        tty: None,
        command: vec![kubicle_exe.display().to_string(), "pause".into()],
    };
    let child = crate::spawn::start(kubicle_exe, &init, &[], log)
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
