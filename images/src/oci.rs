//! The few OCI image-spec and Docker documents kubicle reads (`image-spec` `specs-go/v1`:
//! `Descriptor`, `Manifest`, `Index`, `Image`; Docker's `manifest.json` of `docker save`),
//! as serde structs keeping only the fields kubicle uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An OCI image manifest.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image config.
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed layer.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// A gzip layer.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A zstd layer.
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The annotation naming an image in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation with an image's full name (`docker save` 25+ writes it).
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A reference to a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its length in bytes.
    pub size: u64,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (an index's entries are named by them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The platform of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// `v8` for arm64, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema 2: the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// 2.
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(default)]
    pub media_type: String,
    /// The image config.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

/// An image index or manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// 2.
    pub schema_version: u32,
    /// The index's media type.
    #[serde(default)]
    pub media_type: String,
    /// The manifests (or nested indexes).
    pub manifests: Vec<Descriptor>,
}

/// The parts of an image config kubicle reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `amd64`, ...
    #[serde(default)]
    pub architecture: String,
    /// `linux`.
    #[serde(default)]
    pub os: String,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
    /// How a container of the image runs.
    #[serde(default)]
    pub config: Option<RunConfig>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The DiffIDs, base layer first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// `config` of an image config: the defaults of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `NAME=value` pairs.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// The entrypoint.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// The default arguments.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// The working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `user[:group]`.
    #[serde(default)]
    pub user: Option<String>,
}

/// One image of a `docker save` archive's `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    /// The config file's path in the archive.
    pub config: String,
    /// The names it was saved under.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// The layer files' paths, base first.
    pub layers: Vec<String>,
}
