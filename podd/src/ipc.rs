//! The pod's IPC namespace, shared by all its containers (as the pod sandbox's is in
//! Kubernetes): made once per pod on a fresh thread, kept alive by a bind mount at
//! `<pod dir>/ipc`, entered by each container's init with `setns(2)`.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

/// Why the pod's IPC namespace could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// Creating the bind-mount target failed.
    #[error("create {path}")]
    Target {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `unshare(CLONE_NEWIPC)` or the bind mount failed.
    #[error("make an IPC namespace at {path}")]
    Namespace {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// The helper thread died.
    #[error("the IPC namespace thread panicked")]
    Thread,
}

/// The bind mount of a pod's IPC namespace.
pub fn path(pod_dir: &Path) -> PathBuf {
    pod_dir.join("ipc")
}

/// Makes the pod's IPC namespace (idempotent: an existing one is kept).
pub fn create(pod_dir: &Path) -> Result<PathBuf, IpcError> {
    let target = path(pod_dir);
    if is_mounted(&target) {
        return Ok(target);
    }
    std::fs::write(&target, b"").map_err(|source| IpcError::Target {
        path: target.clone(),
        source,
    })?;
    let thread_target = target.clone();
    // unshare(2) changes only the calling thread's namespace: a throwaway thread holds the new
    // namespace just long enough to bind-mount it (namespaces(7), "/proc/[pid]/ns").
    let made = std::thread::spawn(move || -> Result<(), nix::Error> {
        unshare(CloneFlags::CLONE_NEWIPC)?;
        mount(
            Some("/proc/thread-self/ns/ipc"),
            &thread_target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    })
    .join()
    .map_err(|_| IpcError::Thread)?;
    made.map_err(|source| IpcError::Namespace {
        path: target.clone(),
        source,
    })?;
    Ok(target)
}

fn is_mounted(target: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines()
            .any(|l| l.split_whitespace().nth(4) == Some(&*target.to_string_lossy()))
    })
}

/// Releases the pod's IPC namespace (idempotent).
pub fn remove(pod_dir: &Path) {
    let target = path(pod_dir);
    let _ = umount2(&target, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(&target);
}
