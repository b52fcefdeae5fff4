//! The content store under `<data-dir>/images/`: verified, immutable blobs by digest, and
//! `images.json`, the names that point at them. Every file is written under `tmp/` and renamed
//! into place (blobs after their digest is checked, the index after an fsync), so a kill at
//! any moment leaves either the old state or the new one, and leftovers in `tmp/` that the
//! next open removes. Two advisory locks: writers of content (imports, pulls, in any process)
//! share `lock`, which a prune takes alone, so that a prune never removes a blob a writer is
//! about to name; and every change of `images.json` takes `index.lock` alone for a moment.
//! Readers need none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{Hashing, sha256_hex};
use crate::oci::Descriptor;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A blob's content does not match the digest it was given under.
    #[error("blob digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the document said.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A digest that is not `sha256:<64 hex>`.
    #[error("unsupported or malformed digest {0:?}")]
    BadDigest(String),
    /// `images.json` does not parse.
    #[error("read {}: {source}", path.display())]
    Index {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// No image has that name.
    #[error("image {0:?} not found")]
    NotFound(String),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// One named image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// The manifest's digest: the image's identity (`imageID` and `repoDigests` derive from it).
    pub manifest: String,
    /// The config blob.
    pub config: Descriptor,
    /// The layer blobs, base first.
    pub layers: Vec<Descriptor>,
    /// The layers' uncompressed digests, base first.
    pub diff_ids: Vec<String>,
    /// Imported images are pinned: prune and garbage collection keep them.
    pub pinned: bool,
}

impl ImageRecord {
    /// Every blob the image needs.
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.manifest.as_str())
            .chain(std::iter::once(self.config.digest.as_str()))
            .chain(self.layers.iter().map(|l| l.digest.as_str()))
    }

    /// The total size of its blobs (config and layers, as `crictl images` counts).
    pub fn size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    images: BTreeMap<String, ImageRecord>,
    /// The drop-in archives imported, with the size and mtime they had then.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    imported: BTreeMap<String, String>,
}

/// The store at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Holds one of the store's locks until dropped.
#[derive(Debug)]
pub struct WriteLock {
    _lock: nix::fcntl::Flock<File>,
}

fn flock(path: &Path, how: nix::fcntl::FlockArg) -> Result<WriteLock, StoreError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err("open", path))?;
    let lock = nix::fcntl::Flock::lock(file, how)
        .map_err(|(_, errno)| io_err("lock", path)(errno.into()))?;
    Ok(WriteLock { _lock: lock })
}

impl Store {
    /// Opens (creating) the store at `root` and removes what writers killed mid-write left.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
        };
        let blobs = store.root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(io_err("create", &blobs))?;
        let tmp = store.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io_err("create", &tmp))?;
        // Temporary files are named after their writer's PID: those of writers no longer
        // alive were left by a kill.
        for entry in std::fs::read_dir(&tmp)
            .map_err(io_err("list", &tmp))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().unwrap_or_default();
            if !Path::new("/proc").join(pid).exists() || pid.is_empty() {
                let _ = match entry.path().is_dir() {
                    true => std::fs::remove_dir_all(entry.path()),
                    false => std::fs::remove_file(entry.path()),
                };
            }
        }
        Ok(store)
    }

    /// Takes the content lock shared, as every writer does (waiting only for a prune).
    pub fn lock(&self) -> Result<WriteLock, StoreError> {
        flock(&self.root.join("lock"), nix::fcntl::FlockArg::LockShared)
    }

    /// The path of a stored blob.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = sha256_hex(digest).ok_or_else(|| StoreError::BadDigest(digest.to_string()))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// Whether a blob is stored.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.exists())
    }

    /// Opens a stored blob.
    pub fn open_blob(&self, digest: &str) -> Result<File, StoreError> {
        let path = self.blob_path(digest)?;
        File::open(&path).map_err(io_err("open", &path))
    }

    /// Streams `reader` into the store and returns its digest and size; with `expected`, a
    /// blob whose bytes hash to anything else is refused and nothing is kept. Call it under
    /// the content lock ([`Store::lock`]), so that a prune cannot remove the blob before a name
    /// points at it.
    pub fn put_blob(
        &self,
        reader: impl Read,
        expected: Option<&str>,
    ) -> Result<(String, u64), StoreError> {
        if let Some(expected) = expected {
            self.blob_path(expected)?;
        }
        let (temp, file) = self.temp_file()?;
        let mut hashing = Hashing::new(io::BufWriter::new(file));
        let copied = io::copy(&mut { reader }, &mut hashing).map_err(io_err("write", &temp));
        let (digest, size, writer) = hashing.finish();
        let file = writer.into_inner().map_err(|e| e.into_error());
        let synced = copied.and_then(|_| {
            file.and_then(|f| f.sync_all())
                .map_err(io_err("sync", &temp))
        });
        if let Err(e) = synced {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        if let Some(expected) = expected.filter(|e| **e != digest) {
            let _ = std::fs::remove_file(&temp);
            return Err(StoreError::DigestMismatch {
                expected: expected.to_string(),
                actual: digest,
            });
        }
        let path = self.blob_path(&digest)?;
        std::fs::rename(&temp, &path).map_err(io_err("rename", &path))?;
        Ok((digest, size))
    }

    /// Stores a small document and returns its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<String, StoreError> {
        self.put_blob(bytes, None).map(|(digest, _)| digest)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A new directory under `tmp/` (named after this process, like temporary files) with an
    /// empty `fs` directory in it; returns both paths.
    pub fn temp_dir(&self) -> io::Result<(PathBuf, PathBuf)> {
        let dir = self.root.join("tmp");
        for attempt in 0.. {
            let path = dir.join(format!("{}-d{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let fs = path.join("fs");
                    std::fs::create_dir(&fs)?;
                    return Ok((path, fs));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the attempts never end")
    }

    fn temp_file(&self) -> Result<(PathBuf, File), StoreError> {
        let dir = self.root.join("tmp");
        for attempt in 0.. {
            let path = dir.join(format!("{}-{attempt}", std::process::id()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create", &path)(e)),
            }
        }
        unreachable!("the attempts never end")
    }

    fn index(&self) -> Result<IndexFile, StoreError> {
        let path = self.root.join("images.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<IndexFile>(&bytes)
                .map_err(|source| StoreError::Index { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(IndexFile::default()),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Every named image.
    pub fn images(&self) -> Result<BTreeMap<String, ImageRecord>, StoreError> {
        self.index().map(|index| index.images)
    }

    /// The stamp recorded for a drop-in archive.
    pub fn stamp(&self, file: &str) -> Result<Option<String>, StoreError> {
        self.index().map(|mut index| index.imported.remove(file))
    }

    /// Records the stamp of a drop-in archive just imported.
    pub fn set_stamp(&self, file: &str, stamp: &str) -> Result<(), StoreError> {
        let lock = self.lock()?;
        self.write_index(&lock, |index| {
            index.imported.insert(file.to_string(), stamp.to_string());
            Ok(())
        })
    }

    /// Changes the named images (under the content lock the caller holds) and writes the index
    /// atomically.
    pub fn update_images(
        &self,
        lock: &WriteLock,
        change: impl FnOnce(&mut BTreeMap<String, ImageRecord>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write_index(lock, |index| change(&mut index.images))
    }

    fn write_index(
        &self,
        _lock: &WriteLock,
        change: impl FnOnce(&mut IndexFile) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _index = flock(
            &self.root.join("index.lock"),
            nix::fcntl::FlockArg::LockExclusive,
        )?;
        let mut index = self.index()?;
        change(&mut index)?;
        let bytes = serde_json::to_vec_pretty(&index).expect("serialisable");
        let (temp, mut file) = self.temp_file()?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(io_err("write", &temp))?;
        let path = self.root.join("images.json");
        std::fs::rename(&temp, &path).map_err(io_err("rename", &path))?;
        sync_dir(&self.root)
    }

    /// Removes a name; its blobs stay until [`Store::prune`].
    pub fn remove(&self, name: &str) -> Result<ImageRecord, StoreError> {
        let lock = self.lock()?;
        let mut removed = None;
        self.update_images(&lock, |images| {
            removed = images.remove(name);
            removed
                .is_some()
                .then_some(())
                .ok_or_else(|| StoreError::NotFound(name.to_string()))
        })?;
        Ok(removed.expect("removed"))
    }

    /// Removes the blobs no image names, and the images `unused` selects (never pinned ones);
    /// returns the digests of the blobs removed.
    pub fn prune(&self, unused: impl Fn(&str) -> bool) -> Result<Vec<String>, StoreError> {
        let lock = flock(&self.root.join("lock"), nix::fcntl::FlockArg::LockExclusive)?;
        self.update_images(&lock, |images| {
            images.retain(|name, image| image.pinned || !unused(name));
            Ok(())
        })?;
        let keep: BTreeSet<String> = self
            .images()?
            .values()
            .flat_map(|image| image.blobs().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let dir = self.root.join("blobs/sha256");
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .map_err(io_err("list", &dir))?
            .flatten()
        {
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if !keep.contains(&digest) && std::fs::remove_file(entry.path()).is_ok() {
                removed.push(digest);
            }
        }
        Ok(removed)
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", dir))
}
