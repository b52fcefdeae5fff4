//! A cluster's data directory: who holds it, what it is called on the host, and what
//! `kubicle reset` needs to know about it.
//!
//! - [`DataDir::lock`] takes an exclusive `flock(2)` on `<data-dir>/lock` before anything else
//!   is touched, so a second `kubicle up` (from any network or mount namespace, on any port)
//!   or a `kubicle reset` of a running cluster stops at once and names the running PID. The
//!   lock is the kernel's: it is released when the process dies, even by `kill -9`.
//! - [`Record`] is `<data-dir>/cluster.json`: the cluster's name, CIDRs and its identity, six
//!   hex digits made at first start. [`HostNames`] derives from that identity the name of
//!   every object the cluster makes on the host (bridge, nf_tables table, veth prefix,
//!   cgroup), so two clusters never see each other's objects, whatever `--cluster-name` says.
//!
//! The data dir is 0700 and `kubicle up` runs with umask 077 (set in `main`), so every file a
//! cluster writes is private from its first byte.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why a data directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataDirError {
    /// Another kubicle process holds the lock.
    #[error(
        "the cluster in {dir} is already running (pid {pid}): stop it first, or use another --data-dir"
    )]
    Busy {
        /// The data directory.
        dir: String,
        /// What the lock file says about its holder ("unknown" if it says nothing).
        pid: String,
    },
    /// A file system step failed.
    #[error("{step} {path}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl DataDirError {
    fn io(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError {
        let path = path.display().to_string();
        move |source| DataDirError::Io { step, path, source }
    }
}

/// A data directory this process holds the lock of; the lock goes with the value (or the
/// process).
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    _lock: Flock<File>,
}

impl DataDir {
    /// Creates `path` (0700) if needed, makes it 0700 if it is not, and takes its lock, writing
    /// this process's PID into it. Fails at once with [`DataDirError::Busy`] if another
    /// process holds it.
    pub(crate) fn create_and_lock(path: &Path) -> Result<DataDir, DataDirError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(DataDirError::io("create the data directory", path))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(DataDirError::io("make private", path))?;
        Self::lock(path)
    }

    /// Takes the lock of an existing data directory.
    pub(crate) fn lock(path: &Path) -> Result<DataDir, DataDirError> {
        let lock_path = path.join("lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(DataDirError::io("open", &lock_path))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let pid = holder.trim();
                return Err(DataDirError::Busy {
                    dir: path.display().to_string(),
                    pid: if pid.is_empty() { "unknown" } else { pid }.to_string(),
                });
            }
            Err((_, errno)) => {
                return Err(DataDirError::Io {
                    step: "lock",
                    path: lock_path.display().to_string(),
                    source: errno.into(),
                });
            }
        };
        let pid = format!("{}\n", std::process::id());
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(pid.as_bytes()))
            .map_err(DataDirError::io("write", &lock_path))?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// What `<data-dir>/cluster.json` keeps: written by `kubicle up`, read by the next start and
/// by `kubicle reset`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    /// The cluster name (`--cluster-name`: the kubeconfig's names).
    pub(crate) name: String,
    /// Six hex digits made at first start: every host object is named from it. Absent in
    /// records written before it existed (see [`HostNames::legacy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// The pod CIDR (the bridge's address).
    #[serde(rename = "podCIDR")]
    pub(crate) pod_cidr: ipnet::Ipv4Net,
    /// The Service CIDR (rejected on the node by an `unreachable` route).
    #[serde(rename = "serviceCIDR", default)]
    pub(crate) service_cidr: Option<ipnet::Ipv4Net>,
    /// The host objects' names, for people and tools; the code derives them from `id`.
    #[serde(default, skip_deserializing)]
    pub(crate) host: Option<HostNames>,
}

impl Record {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("cluster.json")
    }

    /// The record, if the data dir has a readable one.
    pub(crate) fn read(data_dir: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(Self::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record (with the host names of its identity) through a temporary file, so
    /// a crash leaves the old one or the new one.
    pub(crate) fn write(&self, data_dir: &Path) -> Result<(), DataDirError> {
        let mut record = self.clone();
        record.host = Some(record.host_names());
        let mut text = serde_json::to_string_pretty(&record).unwrap_or_default();
        text.push('\n');
        let path = Self::path(data_dir);
        let tmp = path.with_extension("json.tmp");
        let mut file = File::create(&tmp).map_err(DataDirError::io("create", &tmp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(DataDirError::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(DataDirError::io("rename into place", &path))
    }

    /// The names of this cluster's host objects.
    pub(crate) fn host_names(&self) -> HostNames {
        match &self.id {
            Some(id) => HostNames::new(id),
            None => HostNames::legacy(&self.name),
        }
    }
}

/// A new identity: six hex digits from the kernel's random source.
pub(crate) fn new_id() -> String {
    // A random (version 4) UUID from the kernel: its first six digits are random.
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .ok()
        .map(|uuid| uuid.trim().replace('-', ""))
        .filter(|hex| hex.len() >= 6)
        .map(|hex| hex[..6].to_ascii_lowercase())
        .unwrap_or_else(|| format!("{:06x}", std::process::id() & 0xff_ffff))
}

/// The names of every object a cluster makes on the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HostNames {
    /// The pods' bridge (at most 15 bytes).
    pub(crate) bridge: String,
    /// netd's nf_tables table, `ip <nft_table>`.
    pub(crate) nft_table: String,
    /// The prefix of the host-side veths (5 bytes at most).
    pub(crate) veth_prefix: String,
    /// The cluster's key in `podd::cgroup`: its pods' cgroups are under `kubicle-<key>`.
    pub(crate) cgroup: String,
}

impl HostNames {
    /// The names for identity `id` (six hex digits).
    pub(crate) fn new(id: &str) -> HostNames {
        let short: String = id.chars().take(4).collect();
        HostNames {
            bridge: format!("kubicle-{id}"),
            nft_table: format!("kubicle-{id}"),
            veth_prefix: format!("k{short}"),
            cgroup: id.to_string(),
        }
    }

    /// The names kubicle used before clusters had an identity; only to remove what such a
    /// cluster left.
    pub(crate) fn legacy(cluster_name: &str) -> HostNames {
        HostNames {
            bridge: "kubicle0".into(),
            nft_table: "kubicle".into(),
            veth_prefix: "kv".into(),
            cgroup: cluster_name.to_string(),
        }
    }

    /// The cgroup2 directory of the cluster's pods (`None` without cgroup2).
    pub(crate) fn cgroup_dir(&self) -> Option<PathBuf> {
        podd::cgroup::cluster_dir(&self.cgroup)
    }

    /// netd's configuration for these names.
    pub(crate) fn netd_config(&self, pod_cidr: ipnet::Ipv4Net, run_dir: PathBuf) -> netd::Config {
        netd::Config {
            bridge: self.bridge.clone(),
            pod_cidr,
            run_dir,
            veth_prefix: self.veth_prefix.clone(),
            nft_table: self.nft_table.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kubicle-datadir-{name}-{}-{}",
            std::process::id(),
            new_id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_until_the_first_goes() {
        let dir = tempdir("lock");
        let first = DataDir::create_and_lock(&dir).expect("first lock");
        let mode = std::fs::metadata(&dir).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let error = DataDir::lock(&dir).expect_err("second lock refused");
        let message = error.to_string();
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        assert!(message.contains("already running"), "{message}");
        drop(first);
        let again = DataDir::lock(&dir).expect("free again");
        drop(again);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn host_names_fit_the_kernels_limits_and_differ_by_identity() {
        let a = HostNames::new("0a1b2c");
        let b = HostNames::new("ffee01");
        assert_eq!(a.bridge, "kubicle-0a1b2c");
        assert!(a.bridge.len() <= 15);
        assert!(a.veth_prefix.len() <= 5);
        assert_ne!(a.bridge, b.bridge);
        assert_ne!(a.nft_table, b.nft_table);
        assert_ne!(a.veth_prefix, b.veth_prefix);
        assert_ne!(a.cgroup, b.cgroup);
        assert_eq!(HostNames::legacy("dev").cgroup, "dev");
        assert_eq!(HostNames::legacy("dev").bridge, "kubicle0");
    }

    #[test]
    fn identities_are_six_lower_hex_digits_and_vary() {
        let ids: std::collections::HashSet<String> = (0..20).map(|_| new_id()).collect();
        assert!(ids.len() > 15, "{ids:?}");
        for id in &ids {
            assert_eq!(id.len(), 6);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
    }

    #[test]
    fn records_round_trip_and_old_records_read_as_legacy() {
        let dir = tempdir("record");
        std::fs::create_dir_all(&dir).expect("dir");
        let record = Record {
            name: "dev".into(),
            id: Some("abc123".into()),
            pod_cidr: "10.244.0.0/16".parse().expect("cidr"),
            service_cidr: Some("10.96.0.0/12".parse().expect("cidr")),
            host: None,
        };
        record.write(&dir).expect("write");
        let text = std::fs::read_to_string(dir.join("cluster.json")).expect("read");
        assert!(text.contains("\"bridge\": \"kubicle-abc123\""), "{text}");
        assert_eq!(Record::read(&dir), Some(record));
        // What kubicle wrote before identities.
        std::fs::write(
            dir.join("cluster.json"),
            "{\"name\": \"old\", \"podCIDR\": \"10.244.0.0/16\", \"bridge\": \"kubicle0\"}\n",
        )
        .expect("write old");
        let old = Record::read(&dir).expect("old record");
        assert_eq!(old.id, None);
        assert_eq!(old.host_names(), HostNames::legacy("old"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
