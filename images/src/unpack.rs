//! Layers unpacked once each, into `<store>/layers/<chain id>/fs`, in the form overlayfs reads
//! as a lower directory: whiteouts as 0:0 character devices, opaque directories with the
//! `trusted.overlay.opaque` xattr (containerd's `OverlayConvertWhiteout`). A layer is written
//! under `tmp/` and renamed into place whole, so a kill mid-unpack leaves nothing in use.
//!
//! A layer is hostile input: every path is resolved inside the layer's own directory
//! (`openat2` with `RESOLVE_IN_ROOT`, so `..`, absolute names and symlinks, even ones the
//! layer itself made, cannot lead out), the last component is never followed, and hard
//! links may only point at files inside the layer. `tar` only parses; the writes are here.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use crate::digest;
use crate::oci::Descriptor;
use crate::store::{Store, StoreError};

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read or write failed.
    #[error("unpack {layer}: {path}: {source}")]
    Io {
        /// The layer.
        layer: String,
        /// The entry.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// The chain ID of a layer on top of `parent` (the OCI image spec: the DiffID for the first
/// layer, then `sha256(parent + " " + diff_id)`).
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(parent) => digest::of_bytes(format!("{parent} {diff_id}").as_bytes()),
    }
}

/// The unpacked directories of an image's layers, base first, unpacking those not yet there.
pub fn unpack_image(
    store: &Store,
    layers: &[Descriptor],
    diff_ids: &[String],
) -> Result<Vec<PathBuf>, UnpackError> {
    let mut parent: Option<String> = None;
    let mut dirs = Vec::new();
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        let chain = chain_id(parent.as_deref(), diff_id);
        dirs.push(unpack_layer(store, layer, &chain)?);
        parent = Some(chain);
    }
    Ok(dirs)
}

/// The unpacked `fs` directory of one layer, unpacked now unless it is there.
pub fn unpack_layer(
    store: &Store,
    layer: &Descriptor,
    chain: &str,
) -> Result<PathBuf, UnpackError> {
    let io_err = |path: &str| {
        let (layer, path) = (layer.digest.clone(), path.to_string());
        move |source| UnpackError::Io {
            layer,
            path,
            source,
        }
    };
    let hex = digest::sha256_hex(chain).ok_or_else(|| StoreError::BadDigest(chain.to_string()))?;
    let done = store.root().join("layers").join(hex);
    if done.join("fs").is_dir() {
        return Ok(done.join("fs"));
    }
    let (temp, fs) = store.temp_dir().map_err(io_err("layer directory"))?;
    let result = (|| {
        let blob = io::BufReader::new(store.open_blob(&layer.digest)?);
        // By its first bytes (gzip, zstd or a plain tar), whatever the media type says.
        let reader = crate::import::decompressed(blob)
            .map_err(|e| io_err("layer")(io::Error::other(e.to_string())))?;
        let root = rustix::fs::open(
            &fs,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("layer directory")(e.into()))?;
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(io_err("archive"))? {
            let mut entry = entry.map_err(io_err("archive"))?;
            let name = entry
                .path()
                .map_err(io_err("archive"))?
                .to_string_lossy()
                .into_owned();
            apply(&root, &mut entry).map_err(io_err(&name))?;
        }
        let parent = done.parent().expect("layers dir");
        std::fs::create_dir_all(parent).map_err(io_err("layers"))?;
        match std::fs::rename(&temp, &done) {
            Ok(()) => Ok(()),
            // Another writer unpacked it first: theirs stands.
            Err(_) if done.join("fs").is_dir() => Ok(()),
            Err(e) => Err(io_err("rename")(e)),
        }
    })();
    if result.is_err() || temp.exists() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result.map(|()| done.join("fs"))
}

/// A path inside the layer: no empty, `.` or `..` components (`..` at the top stays at it).
pub(crate) fn clean(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts
}

/// Opens (creating as 0755 directories what is missing) the directory `parts` inside `root`.
/// A symlink on the way is followed inside the root, and what it points at made if missing.
fn dir_in_root(root: &OwnedFd, parts: &[&str]) -> io::Result<OwnedFd> {
    dir_in_root_depth(root, parts, 0)
}

fn dir_in_root_depth(root: &OwnedFd, parts: &[&str], depth: u32) -> io::Result<OwnedFd> {
    let open = |parts: &[&str]| {
        let path = if parts.is_empty() {
            ".".to_string()
        } else {
            parts.join("/")
        };
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        rustix::fs::openat2(root, path, flags, Mode::empty(), resolve)
    };
    match open(parts) {
        Err(rustix::io::Errno::NOENT) if depth < 8 => {}
        other => return Ok(other?),
    }
    let mut dir = open(&[])?;
    for (i, part) in parts.iter().enumerate() {
        match open(&parts[..=i]) {
            Ok(next) => {
                dir = next;
                continue;
            }
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
        match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
            Ok(()) => {}
            // A symlink to what does not exist yet: make its target, inside the root.
            Err(rustix::io::Errno::EXIST) => {
                let target = rustix::fs::readlinkat(&dir, *part, Vec::new())?;
                let target = target.to_string_lossy().into_owned();
                let joined = match target.starts_with('/') {
                    true => target,
                    false => format!("{}/{target}", parts[..i].join("/")),
                };
                dir_in_root_depth(root, &clean(&joined), depth + 1)?;
            }
            Err(e) => return Err(e.into()),
        }
        dir = open(&parts[..=i])?;
    }
    Ok(dir)
}

/// Writes one entry of the layer.
fn apply<R: Read>(root: &OwnedFd, entry: &mut tar::Entry<'_, R>) -> io::Result<()> {
    let name = entry.path()?.to_string_lossy().into_owned();
    let parts = clean(&name);
    let Some((base, parent_parts)) = parts.split_last() else {
        return Ok(()); // the layer's root itself
    };
    let parent = dir_in_root(root, parent_parts)?;
    let header = entry.header().clone();
    let mode = Mode::from_raw_mode(header.mode()? & 0o7777);
    // Whiteouts, as overlayfs wants them.
    if *base == ".wh..wh..opq" {
        let dir = rustix::fs::openat(
            &parent,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        return set_xattr(&dir, "trusted.overlay.opaque", b"y");
    }
    if let Some(hidden) = base.strip_prefix(".wh.") {
        remove_existing(&parent, hidden)?;
        return Ok(rustix::fs::mknodat(
            &parent,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )?);
    }
    let kind = header.entry_type();
    if !kind.is_dir() {
        remove_existing(&parent, base)?;
    }
    match kind {
        tar::EntryType::Directory => {
            match rustix::fs::mkdirat(&parent, *base, mode) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let fd = rustix::fs::openat(
                &parent,
                *base,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            finish(&fd, &header, mode, entry)
        }
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let fd = rustix::fs::openat(
                &parent,
                *base,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut file = File::from(fd);
            io::copy(entry, &mut file)?;
            finish(&file, &header, mode, entry)
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name()?.unwrap_or_default();
            rustix::fs::symlinkat(target.as_ref(), &parent, *base)?;
            let (uid, gid) = (header.uid()? as u32, header.gid()? as u32);
            chown_at(&parent, base, uid, gid)
        }
        tar::EntryType::Link => {
            let target = entry.link_name()?.unwrap_or_default();
            let target = clean(&target.to_string_lossy()).join("/");
            let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
            let source = rustix::fs::openat2(
                root,
                &target,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                resolve,
            )?;
            let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&source));
            Ok(rustix::fs::linkat(
                rustix::fs::CWD,
                proc_path.as_str(),
                &parent,
                *base,
                AtFlags::SYMLINK_FOLLOW,
            )?)
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let file_type = match kind {
                tar::EntryType::Char => FileType::CharacterDevice,
                tar::EntryType::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let dev = rustix::fs::makedev(
                header.device_major()?.unwrap_or(0),
                header.device_minor()?.unwrap_or(0),
            );
            rustix::fs::mknodat(&parent, *base, file_type, mode, dev)?;
            let (uid, gid) = (header.uid()? as u32, header.gid()? as u32);
            chown_at(&parent, base, uid, gid)
        }
        // PAX and GNU headers the parser consumed; anything else (sockets) is not content.
        _ => Ok(()),
    }
}

/// Removes what an earlier entry of the layer left at `base` (a file or an empty directory);
/// a non-empty directory stays and the write that follows fails.
fn remove_existing(parent: &OwnedFd, base: &str) -> io::Result<()> {
    for flags in [AtFlags::empty(), AtFlags::REMOVEDIR] {
        match rustix::fs::unlinkat(parent, base, flags) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Owner, mode (after the owner: chown clears setuid bits), xattrs and mtime of an open file
/// or directory.
fn finish<Fd: AsFd, R: Read>(
    fd: &Fd,
    header: &tar::Header,
    mode: Mode,
    entry: &mut tar::Entry<'_, R>,
) -> io::Result<()> {
    let (uid, gid) = (header.uid()? as u32, header.gid()? as u32);
    match rustix::fs::fchown(
        fd,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    ) {
        Ok(()) => {}
        // Without root, files stay the unpacker's.
        Err(rustix::io::Errno::PERM) if !rustix::process::geteuid().is_root() => {}
        Err(e) => return Err(e.into()),
    }
    rustix::fs::fchmod(fd, mode)?;
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let Some(name) = extension
                .key()
                .ok()
                .and_then(|k| k.strip_prefix("SCHILY.xattr."))
            else {
                continue;
            };
            set_xattr(fd, name, extension.value_bytes())?;
        }
    }
    let mtime = rustix::fs::Timespec {
        tv_sec: header.mtime()? as i64,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    Ok(rustix::fs::futimens(fd, &times)?)
}

fn chown_at(parent: &OwnedFd, base: &str, uid: u32, gid: u32) -> io::Result<()> {
    match rustix::fs::chownat(
        parent,
        base,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::PERM) if !rustix::process::geteuid().is_root() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sets an xattr; `user.*` ones the file system refuses are skipped, as containerd does.
fn set_xattr<Fd: AsFd>(fd: &Fd, name: &str, value: &[u8]) -> io::Result<()> {
    match rustix::fs::fsetxattr(fd, name, value, rustix::fs::XattrFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::PERM | rustix::io::Errno::NOTSUP) if name.starts_with("user.") => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
