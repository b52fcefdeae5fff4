//! `kubicle image import`: images from a `docker save` archive (the legacy layout with
//! `manifest.json`, and Docker 25+'s, which is also an OCI layout), an OCI archive
//! (`skopeo copy … oci-archive:`, `podman save --format oci-archive`), plain or gzip/zstd
//! compressed, read as one stream (stdin works). Every blob is verified against the digest
//! its name or document gives, every layer's uncompressed content against the config's
//! DiffIDs (a wrong DiffID is refused, not run); the images are pinned.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use crate::digest;
use crate::oci::{self, Descriptor, DockerArchiveEntry, ImageConfig, Index, Manifest, Platform};
use crate::reference::{Reference, ReferenceError};
use crate::store::{ImageRecord, Store, StoreError};

/// Why an archive was not imported. Nothing is named when import fails.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The archive could not be read.
    #[error("read the archive: {0}")]
    Read(#[from] std::io::Error),
    /// A document in it does not parse.
    #[error("{file}: {source}")]
    Document {
        /// Which.
        file: String,
        /// Why.
        source: serde_json::Error,
    },
    /// Neither `manifest.json` nor `index.json`.
    #[error("not a docker-archive or oci-archive: it has neither manifest.json nor index.json")]
    UnknownFormat,
    /// A file the documents name is not in the archive.
    #[error("{0} is named in the archive's manifest but missing")]
    Missing(String),
    /// An image name that does not parse.
    #[error("image name {name:?}: {source}")]
    Name {
        /// The name.
        name: String,
        /// Why.
        source: ReferenceError,
    },
    /// The archive names no image.
    #[error(
        "the archive names no image: save it with a name (docker save app:v1), or give the \
         repository of images named by a tag alone (--base-name)"
    )]
    Unnamed,
    /// A layer's uncompressed content is not what the config says.
    #[error("layer {layer}: wrong diff id: the config says {expected}, the content is {actual}")]
    DiffId {
        /// The layer blob.
        layer: String,
        /// The config's DiffID.
        expected: String,
        /// The content's.
        actual: String,
    },
    /// An index has no manifest for the node's platform.
    #[error("no image for {os}/{architecture} in {index}")]
    NoPlatform {
        /// The index.
        index: String,
        /// The node's OS.
        os: String,
        /// The node's architecture.
        architecture: String,
    },
}

/// The largest JSON document read from an archive into memory.
const MAX_DOCUMENT: u64 = 16 << 20;

/// The archive's files: blobs in the store by path, documents in memory.
#[derive(Default)]
struct Contents {
    blobs: BTreeMap<String, String>,
    links: BTreeMap<String, String>,
    documents: BTreeMap<String, Vec<u8>>,
}

impl Contents {
    /// The digest of the blob at `path`, following symlinks (the legacy `<id>/layer.tar`).
    fn blob(&self, path: &str) -> Result<String, ImportError> {
        let mut path = clean(path);
        for _ in 0..8 {
            if let Some(digest) = self.blobs.get(&path) {
                return Ok(digest.clone());
            }
            match self.links.get(&path) {
                Some(target) => path = target.clone(),
                None => break,
            }
        }
        Err(ImportError::Missing(path))
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    /// The platform chosen from multi-platform images (the node's).
    pub platform: Platform,
    /// The repository for an OCI archive's images named by a tag only (`v1` becomes
    /// `<base>:v1`), as `ctr import --base-name`; without it such images are not named.
    pub base_name: Option<String>,
}

impl Options {
    /// The node's platform, no base name.
    pub fn node() -> Options {
        Options {
            platform: crate::platform::node(),
            base_name: None,
        }
    }
}

/// Imports every image of the archive read from `reader` and returns `(name, manifest
/// digest)` for each name now in the store.
pub fn import(
    store: &Store,
    reader: impl Read,
    options: &Options,
) -> Result<Vec<(String, String)>, ImportError> {
    let platform = &options.platform;
    let lock = store.lock()?;
    let contents = read_archive(store, decompressed(reader)?)?;
    let images = if contents.documents.contains_key("index.json") {
        oci_images(store, &contents, platform, options.base_name.as_deref())?
    } else if contents.documents.contains_key("manifest.json") {
        docker_images(store, &contents)?
    } else {
        return Err(ImportError::UnknownFormat);
    };
    if images.is_empty() {
        return Err(ImportError::Unnamed);
    }
    let named: Vec<(String, String)> = images
        .iter()
        .map(|(name, image)| (name.clone(), image.manifest.clone()))
        .collect();
    store.update_images(&lock, |all| {
        all.extend(images);
        Ok(())
    })?;
    // The legacy layout's per-layer `json` and `VERSION` files are no image's blobs: not
    // kept (unless an image names the same bytes; other writers may be storing blobs now,
    // so nothing else is removed here: that is prune's job).
    let used: std::collections::BTreeSet<String> = store
        .images()?
        .values()
        .flat_map(|image| image.blobs().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let legacy = contents
        .blobs
        .iter()
        .filter(|(path, _)| path.ends_with("/json") || path.ends_with("/VERSION"));
    for (_, digest) in legacy.filter(|(_, d)| !used.contains(*d)) {
        let _ = std::fs::remove_file(store.blob_path(digest)?);
    }
    Ok(named)
}

/// What [`import_dir`] did with one file.
#[derive(Debug)]
pub struct DirImport {
    /// The file.
    pub file: std::path::PathBuf,
    /// The names imported, or why not; `None` when the file was imported before unchanged.
    pub outcome: Option<Result<Vec<(String, String)>, ImportError>>,
}

/// k3s's airgap habit: imports every archive in `dir` (`*.tar`, `*.tar.gz`, `*.tgz`,
/// `*.tar.zst`) that changed (size or mtime) since it was last imported, so that a start
/// does not pay again for what it imported before.
pub fn import_dir(store: &Store, dir: &std::path::Path, options: &Options) -> Vec<DirImport> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            [".tar", ".tar.gz", ".tgz", ".tar.zst"]
                .iter()
                .any(|ext| name.ends_with(ext))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let stamp = std::fs::metadata(&file).ok().map(|m| {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                format!("{}:{}", m.len(), mtime.map_or(0, |d| d.as_nanos()))
            });
            let key = file.to_string_lossy().into_owned();
            if stamp.is_some() && store.stamp(&key).ok().flatten() == stamp {
                return DirImport {
                    file,
                    outcome: None,
                };
            }
            let outcome = std::fs::File::open(&file)
                .map_err(ImportError::Read)
                .and_then(|f| import(store, f, options));
            if let (Ok(_), Some(stamp)) = (&outcome, stamp) {
                let _ = store.set_stamp(&key, &stamp);
            }
            DirImport {
                file,
                outcome: Some(outcome),
            }
        })
        .collect()
}

/// The archive as a tar stream, gunzipped or un-zstd'ed when its first bytes say so.
pub(crate) fn decompressed<'a>(reader: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ImportError> {
    let mut reader = BufReader::new(reader);
    let head = reader.fill_buf()?.to_vec();
    Ok(match head.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
            ruzstd::decoding::StreamingDecoder::new(reader)
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        ),
        _ => Box::new(reader),
    })
}

fn read_archive(store: &Store, reader: impl Read) -> Result<Contents, ImportError> {
    let mut archive = tar::Archive::new(reader);
    let mut contents = Contents::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = clean(&entry.path()?.to_string_lossy());
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if is_document(&path) && entry.size() <= MAX_DOCUMENT {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes)?;
                    contents.documents.insert(path, bytes);
                    continue;
                }
                // An OCI layout names its blobs by digest: hold them to it.
                let expected = path
                    .strip_prefix("blobs/")
                    .and_then(|rest| rest.split_once('/'))
                    .map(|(algorithm, hex)| format!("{algorithm}:{hex}"));
                let (digest, _) = store.put_blob(&mut entry, expected.as_deref())?;
                contents.blobs.insert(path, digest);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name()? {
                    let target = target.to_string_lossy();
                    let base = match entry.header().entry_type() {
                        tar::EntryType::Symlink => path.rsplit_once('/').map_or("", |(d, _)| d),
                        _ => "",
                    };
                    let resolved = clean(&format!("{base}/{target}"));
                    contents.links.insert(path, resolved);
                }
            }
            _ => {}
        }
    }
    Ok(contents)
}

/// Small JSON documents read into memory (the rest goes to the store as blobs).
fn is_document(path: &str) -> bool {
    matches!(
        path,
        "manifest.json" | "index.json" | "oci-layout" | "repositories"
    )
}

/// A path inside the archive without `.`, `..` (never above the top) or empty components.
fn clean(path: &str) -> String {
    crate::unpack::clean(path).join("/")
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, ImportError> {
    serde_json::from_slice(bytes).map_err(|source| ImportError::Document {
        file: file.to_string(),
        source,
    })
}

fn read_blob(store: &Store, digest: &str) -> Result<Vec<u8>, ImportError> {
    let mut bytes = Vec::new();
    store
        .open_blob(digest)?
        .take(MAX_DOCUMENT)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The images of an OCI layout (`index.json`), by the names its annotations give.
fn oci_images(
    store: &Store,
    contents: &Contents,
    platform: &Platform,
    base_name: Option<&str>,
) -> Result<Vec<(String, ImageRecord)>, ImportError> {
    let index: Index = parse("index.json", &contents.documents["index.json"])?;
    let mut images = Vec::new();
    for entry in &index.manifests {
        // containerd's name, else the OCI ref name: a full reference, or a tag that needs
        // the base name (`refTranslator` of containerd's import).
        let name = match entry.annotations.get(oci::CONTAINERD_NAME) {
            Some(name) => Some(name.clone()),
            None => entry.annotations.get(oci::REF_NAME).and_then(|r| {
                match (r.contains(['/', ':', '@']), base_name) {
                    (true, _) => Some(r.clone()),
                    (false, Some(base)) => Some(format!("{base}:{r}")),
                    (false, None) => None,
                }
            }),
        };
        let Some(name) = name else { continue };
        let manifest = resolve_platform(store, entry, platform)?;
        images.push((normalise(&name)?, record(store, &manifest.digest)?));
    }
    Ok(images)
}

/// The manifest of `descriptor` for the node's platform (itself when it is a manifest).
fn resolve_platform(
    store: &Store,
    descriptor: &Descriptor,
    platform: &Platform,
) -> Result<Descriptor, ImportError> {
    let mut descriptor = descriptor.clone();
    for _ in 0..4 {
        if !matches!(
            descriptor.media_type.as_str(),
            oci::INDEX | oci::DOCKER_LIST
        ) {
            return Ok(descriptor);
        }
        let index: Index = parse(&descriptor.digest, &read_blob(store, &descriptor.digest)?)?;
        descriptor = crate::platform::choose(&index.manifests, platform)
            .cloned()
            .ok_or_else(|| ImportError::NoPlatform {
                index: descriptor.digest.clone(),
                os: platform.os.clone(),
                architecture: platform.architecture.clone(),
            })?;
    }
    Err(ImportError::Missing(descriptor.digest))
}

/// The images of a `docker save` archive (`manifest.json`), one record per tag.
fn docker_images(
    store: &Store,
    contents: &Contents,
) -> Result<Vec<(String, ImageRecord)>, ImportError> {
    let entries: Vec<DockerArchiveEntry> =
        parse("manifest.json", &contents.documents["manifest.json"])?;
    let mut images = Vec::new();
    for entry in entries {
        let config = contents.blob(&entry.config)?;
        let config_size = store.open_blob(&config)?.metadata()?.len();
        let mut layers = Vec::new();
        for path in &entry.layers {
            let digest = contents.blob(path)?;
            let mut head = [0u8; 4];
            let file = store.open_blob(&digest)?;
            let size = file.metadata()?.len();
            let n = (&file).take(4).read(&mut head)?;
            layers.push(descriptor(layer_media_type(&head[..n]), digest, size));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: oci::MANIFEST.to_string(),
            config: descriptor(oci::CONFIG, config, config_size),
            layers,
        };
        let manifest = store.put_bytes(&serde_json::to_vec(&manifest).expect("serialisable"))?;
        let image = record(store, &manifest)?;
        for name in entry.repo_tags.iter().flatten() {
            images.push((normalise(name)?, image.clone()));
        }
    }
    Ok(images)
}

fn descriptor(media_type: &str, digest: String, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

/// A layer's media type by its magic bytes (docker-archive layers carry none).
fn layer_media_type(head: &[u8]) -> &'static str {
    match head {
        [0x1f, 0x8b, ..] => oci::LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => oci::LAYER_ZSTD,
        _ => oci::LAYER_TAR,
    }
}

/// An image's full name with the default tag (`demo/httpd:v1` → `docker.io/demo/httpd:v1`).
fn normalise(name: &str) -> Result<String, ImportError> {
    Reference::for_pull(name)
        .map(|r| r.to_string())
        .map_err(|source| ImportError::Name {
            name: name.to_string(),
            source,
        })
}

/// The record of the image whose manifest is stored under `manifest`, once every blob is
/// there and every layer's content matches its DiffID.
pub fn record(store: &Store, manifest: &str) -> Result<ImageRecord, ImportError> {
    let parsed: Manifest = parse(manifest, &read_blob(store, manifest)?)?;
    let config: ImageConfig = parse(
        &parsed.config.digest,
        &read_blob(store, &parsed.config.digest)?,
    )?;
    let diff_ids = config.rootfs.diff_ids;
    if diff_ids.len() != parsed.layers.len() {
        return Err(ImportError::Missing(format!(
            "{}: {} layers for {} diff ids",
            parsed.config.digest,
            parsed.layers.len(),
            diff_ids.len()
        )));
    }
    for (layer, expected) in parsed.layers.iter().zip(&diff_ids) {
        let actual = diff_id(store, layer)?;
        if &actual != expected {
            return Err(ImportError::DiffId {
                layer: layer.digest.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(ImageRecord {
        manifest: manifest.to_string(),
        config: parsed.config,
        layers: parsed.layers,
        diff_ids,
        pinned: true,
    })
}

/// The digest of a layer's uncompressed content.
fn diff_id(store: &Store, layer: &Descriptor) -> Result<String, ImportError> {
    let file = BufReader::new(store.open_blob(&layer.digest)?);
    let (digest, _) = match layer.media_type.as_str() {
        oci::LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => {
            return Ok(layer.digest.clone());
        }
        _ => digest::of_reader(decompressed(file)?)?,
    };
    Ok(digest)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod tests_support {
    /// A directory removed on drop.
    pub(crate) struct Dir(pub(crate) std::path::PathBuf);

    impl Dir {
        pub(crate) fn new() -> Dir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("kubicle-images-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
