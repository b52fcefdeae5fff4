//! The pods' cgroups: one cgroup2 directory per cluster (`kubicle-<cluster>`), one per pod
//! under it (holding the pause process), one per container under that. Finding the
//! hierarchy and killing everything in a cgroup live here, for podd, `kubicle up` and
//! `kubicle reset` alike.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup2 directory of a cluster's pods: under the unified hierarchy of a hybrid host,
/// or the root of a pure cgroup2 host; `None` without cgroup2.
pub fn cluster_dir(cluster: &str) -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        // Only a cgroup2 root has cgroup.controllers (cgroup-v2.rst).
        .find(|root| root.join("cgroup.controllers").exists())
        .map(|root| root.join(format!("kubicle-{cluster}")))
}

/// Kills every process in `dir` and its descendants and removes them all; `true` once it is
/// gone. Blocks for at most a second while the kernel reaps the processes.
pub fn kill_and_remove(dir: &Path) -> bool {
    kill_and_wait(dir);
    remove_tree(dir)
}

/// Kills every process in `dir` and its descendants and waits (at most a second) until none
/// is left, so what they held (ports, files) is free; `true` once the cgroup is empty.
pub fn kill_and_wait(dir: &Path) -> bool {
    // cgroup.kill (Linux 5.14) kills every process of the cgroup and its descendants at
    // once, including ones a container started in the background (cgroup-v2.rst).
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    for _ in 0..100 {
        match std::fs::read_to_string(dir.join("cgroup.events")) {
            // `populated 0`: no process left in the subtree (cgroup-v2.rst, "cgroup.events").
            Ok(events) if events.lines().any(|l| l == "populated 0") => return true,
            Err(_) => return !dir.exists(),
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

/// Removes a cgroup and its descendants, deepest first (a cgroup with children or processes
/// cannot be removed); retries while the kernel finishes reaping.
fn remove_tree(dir: &Path) -> bool {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten().filter(|e| e.path().is_dir()) {
            remove_tree(&child.path());
        }
    }
    for _ in 0..100 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Kills every pod of a cluster and removes its cgroups; returns the pods (uids) stopped.
pub fn remove_cluster(cluster: &str) -> Vec<String> {
    let Some(dir) = cluster_dir(cluster) else {
        return Vec::new();
    };
    let mut stopped = Vec::new();
    if let Ok(pods) = std::fs::read_dir(&dir) {
        for pod in pods.flatten().filter(|e| e.path().is_dir()) {
            if kill_and_remove(&pod.path()) {
                stopped.push(pod.file_name().to_string_lossy().into_owned());
            }
        }
    }
    let _ = std::fs::remove_dir(&dir);
    stopped
}
