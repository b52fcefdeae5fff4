//! The store's files besides SQLite's own handling of them: the identity check that notices
//! `state.db` or its WAL removed or replaced under the running store, the space reserve that
//! lets a delete through on a full disk, and the revision lease that keeps revisions from
//! being handed out twice across a restart.
//!
//! - [`Identity`]: (device, inode) of each file, taken at open and compared before a write is
//!   acknowledged and every second. SQLite keeps writing to an unlinked WAL, and the next
//!   `kill -9` would lose every write since the last checkpoint, so a mismatch stops the store.
//! - [`Reserve`]: `state.reserve`, a file of real blocks. When the disk is full, a delete that
//!   SQLite cannot write releases it and is retried; until the file can be made again, only
//!   deletes are accepted, so the space stays there for them.
//! - [`Lease`]: `state.revision`, the revision up to which numbers may have been handed out.
//!   It moves ahead in blocks ([`LEASE_BLOCK`]), synced before any revision past it is used,
//!   and a start begins after it: a revision is never reused, even when a lost WAL took the
//!   newest writes with it.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// How far ahead of the newest revision the lease is taken.
pub(super) const LEASE_BLOCK: u64 = 1_000;

/// Where a file lives on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(path: &Path) -> std::io::Result<FileId> {
    let meta = std::fs::metadata(path)?;
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// The identity of the files a store writes to, as they were when it opened them.
#[derive(Debug)]
pub(super) struct Identity {
    files: Vec<(PathBuf, FileId)>,
}

impl Identity {
    /// Records the files as they are now (each must exist).
    pub(super) fn take(paths: &[PathBuf]) -> std::io::Result<Identity> {
        let files = paths
            .iter()
            .map(|p| Ok((p.clone(), file_id(p)?)))
            .collect::<std::io::Result<_>>()?;
        Ok(Identity { files })
    }

    /// `Err` with what happened when a file is gone or is another file now.
    pub(super) fn check(&self) -> Result<(), String> {
        for (path, id) in &self.files {
            match file_id(path) {
                Ok(now) if now == *id => {}
                Ok(_) => return Err(format!("{} was replaced", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(format!("{} was removed", path.display()));
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(())
    }

    /// Whether `path` is still the file it was.
    pub(super) fn unchanged(&self, path: &Path) -> bool {
        self.files
            .iter()
            .any(|(p, id)| p == path && file_id(p).is_ok_and(|now| now == *id))
    }
}

/// The space reserve (see the module docs).
#[derive(Debug)]
pub(super) struct Reserve {
    path: PathBuf,
    bytes: u64,
    armed: AtomicBool,
}

impl Reserve {
    /// The reserve at `path`, made now if it is missing and the disk has room.
    pub(super) fn open(path: PathBuf, bytes: u64) -> Reserve {
        let reserve = Reserve {
            path,
            bytes,
            armed: AtomicBool::new(false),
        };
        let whole = std::fs::metadata(&reserve.path).is_ok_and(|m| m.len() == bytes);
        if bytes == 0 || whole {
            reserve.armed.store(true, Ordering::Release);
        } else {
            reserve.try_arm();
        }
        reserve
    }

    /// Whether the reserve is in place (non-delete writes are accepted).
    pub(super) fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Frees the reserve for a delete; returns whether there was one to free.
    pub(super) fn release(&self) -> bool {
        if self.bytes == 0 || !self.armed.swap(false, Ordering::AcqRel) {
            return false;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                tracing::warn!(path = %self.path.display(), "the disk is full: released the space reserve for deletes; only deletes are accepted until there is room again")
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "release the space reserve")
            }
        }
        true
    }

    /// Makes the reserve again when the disk has room for it twice over; returns whether it
    /// is in place.
    pub(super) fn try_arm(&self) -> bool {
        if self.armed() {
            return true;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let free = rustix::fs::statvfs(dir)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0);
        if free < self.bytes.saturating_mul(2) {
            return false;
        }
        match write_reserve(&self.path, self.bytes) {
            Ok(()) => {
                self.armed.store(true, Ordering::Release);
                tracing::info!(path = %self.path.display(), bytes = self.bytes, "space reserve in place");
                true
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::warn!(path = %self.path.display(), error = %e, "make the space reserve");
                false
            }
        }
    }
}

/// Writes `bytes` of data that no file system can store sparsely or compress away.
fn write_reserve(path: &Path, bytes: u64) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    let mut block = vec![0u8; 64 << 10];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut left = bytes;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            // xorshift64: cheap bytes without runs.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

/// The revision lease (see the module docs).
#[derive(Debug)]
pub(super) struct Lease {
    file: File,
    path: PathBuf,
    leased: AtomicU64,
}

/// The lease file holds one fixed-width decimal, so rewriting it in place never needs a new
/// block (it works on a full disk).
const LEASE_WIDTH: usize = 20;

impl Lease {
    /// Opens (or creates) the lease at `path`; returns it with the revision it holds.
    pub(super) fn open(path: PathBuf) -> std::io::Result<(Lease, u64)> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut text = [0u8; LEASE_WIDTH + 1];
        let n = file.read_at(&mut text, 0)?;
        let leased = std::str::from_utf8(&text[..n])
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let lease = Lease {
            file,
            path,
            leased: AtomicU64::new(leased),
        };
        Ok((lease, leased))
    }

    /// The lease file's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `revision` may be used without moving the lease.
    pub(super) fn covers(&self, revision: u64) -> bool {
        revision <= self.leased.load(Ordering::Acquire)
    }

    /// Moves the lease to `to` and syncs it (blocking: call off the async workers).
    pub(super) fn extend(&self, to: u64) -> std::io::Result<()> {
        let text = format!("{to:0width$}\n", width = LEASE_WIDTH);
        self.file.write_all_at(text.as_bytes(), 0)?;
        self.file.sync_data()?;
        self.leased.fetch_max(to, Ordering::AcqRel);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_notices_a_removed_or_replaced_file() {
        let dir = crate::store::tests::tempdir();
        let a = dir.join("a");
        std::fs::write(&a, "1").expect("write");
        // Held open, as SQLite holds its files, so the inode is not reused by the new file.
        let _open = File::open(&a).expect("open");
        let identity = Identity::take(std::slice::from_ref(&a)).expect("take");
        assert_eq!(identity.check(), Ok(()));
        std::fs::remove_file(&a).expect("remove");
        assert!(
            identity
                .check()
                .is_err_and(|e| e.ends_with("a was removed"))
        );
        std::fs::write(dir.join("b"), "2").expect("write");
        std::fs::rename(dir.join("b"), &a).expect("rename");
        assert!(
            identity
                .check()
                .is_err_and(|e| e.ends_with("a was replaced"))
        );
        assert!(!identity.unchanged(&a));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_lease_survives_reopen_and_only_grows() {
        let dir = crate::store::tests::tempdir();
        let path = dir.join("state.revision");
        let (lease, start) = Lease::open(path.clone()).expect("open");
        assert_eq!(start, 0);
        assert!(!lease.covers(1));
        lease.extend(1_000).expect("extend");
        lease.extend(2_000).expect("extend");
        assert!(lease.covers(2_000) && !lease.covers(2_001));
        drop(lease);
        let (_, start) = Lease::open(path).expect("reopen");
        assert_eq!(start, 2_000);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_reserve_is_released_once_and_made_again() {
        let dir = crate::store::tests::tempdir();
        let path = dir.join("state.reserve");
        let reserve = Reserve::open(path.clone(), 1 << 20);
        assert!(reserve.armed());
        assert_eq!(std::fs::metadata(&path).expect("reserve").len(), 1 << 20);
        assert!(reserve.release());
        assert!(!reserve.release());
        assert!(!path.exists() && !reserve.armed());
        assert!(reserve.try_arm());
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
