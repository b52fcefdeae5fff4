//! Network namespaces as bind mounts: create, enter ([`in_netns`]), list and remove them, and
//! write sysctls.
//!
//! A netns belongs to a *thread* (setns(2), unshare(2)), so everything that enters or creates
//! one runs on a fresh OS thread that does only synchronous work there and then ends. Nothing
//! ever awaits inside a pod netns, and no runtime thread is ever moved out of the node netns
//! (ztunnel `src/inpod/netns.rs` works the same way). Async callers wait for that thread's
//! answer on a oneshot channel.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{FsType, statfs};
use tokio::sync::oneshot;

use super::netlink::{Connection, Netlink};
use crate::Error;

/// `NSFS_MAGIC` from `include/uapi/linux/magic.h`: the filesystem type of `/proc/*/ns/*` files
/// and of their bind mounts. nix has no constant for it.
const NSFS_MAGIC: FsType = FsType(0x6e73_6673);

/// The calling thread's own netns (proc(5), `/proc/thread-self` since Linux 3.17). Not
/// `/proc/self`, which is the thread-group leader's and so the node netns.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Runs `f` on a fresh OS thread that has entered the netns bind-mounted at `path`, and returns
/// its result.
///
/// The netns file is opened with `O_CLOEXEC` (as std always does) on the calling thread, then
/// the new thread calls `setns(fd, CLONE_NEWNET)` and runs `f`. Sockets that `f` opens stay
/// bound to that netns for their whole life and may be handed back to async code. `f` must not
/// block on async work: the thread has no runtime and ends when `f` returns. A panic in `f` is
/// resumed on the calling thread. The calling thread waits for `f`, so async code that runs a
/// slow `f` should call this from `tokio::task::spawn_blocking`.
pub fn in_netns<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let netns = open(path)?;
    let owned_path = path.to_owned();
    let thread = spawn(path, move || enter(&netns, &owned_path).map(|()| f()))?;
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Opens an rtnetlink connection inside the netns at `path` and spawns its task on the current
/// tokio runtime.
pub(super) async fn connect_in(path: &Path) -> Result<Netlink, Error> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|error| Error::OpenPodNetlink {
        path: path.to_owned(),
        source: io::Error::other(error),
    })?;
    let netns = open(path)?;
    let owned_path = path.to_owned();
    let (answer, answered) = oneshot::channel::<Result<(Connection, Netlink), Error>>();
    spawn(path, move || {
        let opened = enter(&netns, &owned_path).and_then(|()| {
            // The socket must register with the runtime's reactor, which needs the runtime's
            // context on this thread; it does not run the runtime here.
            let _context = runtime.enter();
            Netlink::open().map_err(|source| Error::OpenPodNetlink {
                path: owned_path.clone(),
                source,
            })
        });
        // The receiver is gone only if the caller was cancelled; the socket then just closes.
        let _ = answer.send(opened);
    })?;
    let (connection, netlink) = answered.await.map_err(|_| Error::NetnsThreadPanicked {
        path: path.to_owned(),
    })??;
    tokio::spawn(connection);
    Ok(netlink)
}

/// Whether `path` is a netns bind mount (a missing path is not).
fn is_netns_mount(path: &Path) -> Result<bool, Error> {
    match statfs(path) {
        Ok(stat) => Ok(stat.filesystem_type() == NSFS_MAGIC),
        Err(Errno::ENOENT) => Ok(false),
        Err(source) => Err(Error::StatNetns {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates the directory of the netns bind mounts and makes it a shared mount point.
///
/// As `ip netns add` does (iproute2 `ip/ipnetns.c`, `netns_add`): mount namespaces made later
/// (a pod's own) get copies of the netns mounts under this directory, and only with shared
/// propagation does our later unmount reach those copies, so the netns can be freed.
/// mount_namespaces(7), "Shared subtrees".
pub(super) fn prepare_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|source| Error::CreateNetnsDir {
        path: dir.to_owned(),
        source,
    })?;
    let share = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match share() {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet. Bind it onto itself, then share it.
        Err(Errno::EINVAL) => mount(
            Some(dir),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .and_then(|()| share())
        .map_err(|source| Error::ShareNetnsDir {
            path: dir.to_owned(),
            source,
        }),
        Err(source) => Err(Error::ShareNetnsDir {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Unmounts the netns directory (its self bind mount) and removes it.
pub(super) fn remove_dir(dir: &Path) -> Result<(), Error> {
    match umount2(dir, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (never prepared, or already unmounted).
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(source) => {
            return Err(Error::UnmountNetns {
                path: dir.to_owned(),
                source,
            });
        }
    }
    match fs::remove_dir(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        result => result.map_err(|source| Error::RemoveNetnsDir {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Creates a netns with IPv6 off and bind-mounts it at `path`; `Ok(false)` if `path` already
/// is a netns bind mount.
pub(super) async fn create(path: &Path) -> Result<bool, Error> {
    if is_netns_mount(path)? {
        return Ok(false);
    }
    // The mount point is an empty file, made like iproute2's `open(O_RDONLY|O_CREAT|O_EXCL, 0)`
    // except that a stale one (left by a crash between create and mount) is reused.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o444)
        .open(path)
        .map_err(|source| Error::CreateNetnsFile {
            path: path.to_owned(),
            source,
        })?;
    let owned_path = path.to_owned();
    let (answer, answered) = oneshot::channel();
    let spawned = spawn(path, move || {
        let _ = answer.send(unshare_and_mount(&owned_path));
    });
    let made = match spawned {
        Ok(_thread) => answered.await.unwrap_or_else(|_| {
            Err(Error::NetnsThreadPanicked {
                path: path.to_owned(),
            })
        }),
        Err(error) => Err(error),
    };
    if let Err(error) = made {
        // The file is ours to remove; the netns, unmounted, died with the thread.
        let _ = fs::remove_file(path);
        return Err(error);
    }
    Ok(true)
}

/// On a thread of its own: moves the thread into a new netns, turns IPv6 off there, and
/// bind-mounts the netns at `path` so that it outlives the thread.
fn unshare_and_mount(path: &Path) -> Result<(), Error> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|source| Error::UnshareNetns {
        path: path.to_owned(),
        source,
    })?;
    // Pods are IPv4 only. With IPv6 off before eth0 exists, no link-local address is made and
    // no duplicate address detection runs, so nothing waits for DAD and no IPv6 traffic leaves
    // the pod. `default` covers links created later, `all` the `lo` that exists already
    // (Documentation/networking/ip-sysctl.rst). /proc/sys/net shows the netns of the thread
    // that opens it. A kernel without IPv6 has no such files, which is fine.
    for key in [
        "net/ipv6/conf/default/disable_ipv6",
        "net/ipv6/conf/all/disable_ipv6",
    ] {
        match write_sysctl(key, "1") {
            Err(Error::WriteSysctl { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            result => result?,
        }
    }
    mount(
        Some(THREAD_NETNS),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|source| Error::BindMountNetns {
        path: path.to_owned(),
        source,
    })
}

/// Unmounts the netns at `path` and removes the file; both may already be gone.
pub(super) fn remove(path: &Path) -> Result<(), Error> {
    // MNT_DETACH, as `ip netns delete` does: a process still inside the netns (or an open fd)
    // keeps it alive, but the name is gone at once.
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(source) => {
            return Err(Error::UnmountNetns {
                path: path.to_owned(),
                source,
            });
        }
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        result => result.map_err(|source| Error::RemoveNetnsFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The names of the entries of `dir`, sorted; an absent `dir` has none.
pub(super) fn list(dir: &Path) -> Result<Vec<String>, Error> {
    let list_error = |source| Error::ListNetns {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(list_error(error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(list_error)?;
        // Pod ids are UTF-8 (they come from a &str); anything else is not ours.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Writes `value` to `/proc/sys/<key>`, for the calling thread's netns where the key is per
/// netns (everything under `net/`).
pub(super) fn write_sysctl(key: &str, value: &str) -> Result<(), Error> {
    let path = Path::new("/proc/sys").join(key);
    fs::write(&path, value).map_err(|source| Error::WriteSysctl {
        path,
        value: value.to_owned(),
        source,
    })
}

/// Opens the netns file at `path` (`O_CLOEXEC`, as std always does).
fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::OpenNetns {
        path: path.to_owned(),
        source,
    })
}

/// Moves the calling thread into the netns `netns`.
fn enter(netns: &File, path: &Path) -> Result<(), Error> {
    setns(netns, CloneFlags::CLONE_NEWNET).map_err(|source| Error::EnterNetns {
        path: path.to_owned(),
        source,
    })
}

/// Spawns the named thread that works in the netns at `path`.
fn spawn<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<thread::JoinHandle<T>, Error> {
    thread::Builder::new()
        .name("netd-netns".to_owned())
        .spawn(work)
        .map_err(|source| Error::SpawnThread {
            path: PathBuf::from(path),
            source,
        })
}
