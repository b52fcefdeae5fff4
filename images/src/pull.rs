//! Pulls from registries with `oci-client`, streaming every blob into the store (a large
//! layer never sits in memory) and verifying it there; the manifest and index are chosen for
//! the node's platform here, and every layer's DiffID is checked before the image is named.
//!
//! Where a pull goes follows Docker and k3s: a registry on a loopback address (localhost,
//! 127.0.0.0/8, ::1) is tried over HTTPS without verification and then plain HTTP (Docker's
//! default insecure registries); any other over HTTPS. A k3s-style `registries.yaml`
//! (`k3s-io/docs` `private-registry.md`) adds mirrors (`mirrors.<host>.endpoint`, `"*"` for
//! every host), tried in order before the default endpoint, and per-host `configs` with
//! credentials and TLS settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::import::record;
use crate::oci::{self, Index, Manifest};
use crate::platform;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};

/// Why a pull failed (the last endpoint's error, with where it was tried).
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Every endpoint failed.
    #[error("{0}")]
    Failed(String),
    /// `registries.yaml` is unreadable.
    #[error("read {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// `registries.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Registries {
    /// Mirrors per registry host (`"*"`: every host).
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Settings per registry host (or mirror endpoint host).
    #[serde(default)]
    pub configs: BTreeMap<String, HostConfig>,
}

/// `mirrors.<host>`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mirror {
    /// `https://host[:port]` or `http://host[:port]`, tried in order.
    #[serde(default)]
    pub endpoint: Vec<String>,
}

/// `configs.<host>`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HostConfig {
    /// Credentials.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS settings.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// `configs.<host>.auth`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthConfig {
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// `base64(user:password)`.
    #[serde(default)]
    pub auth: Option<String>,
    /// A bearer token.
    #[serde(default)]
    pub token: Option<String>,
}

/// `configs.<host>.tls`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TlsConfig {
    /// A CA bundle (PEM) to trust for this host.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl Registries {
    /// Reads `path`; a missing file is no configuration.
    pub fn load(path: &Path) -> Result<Registries, PullError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| PullError::Config {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registries::default()),
            Err(e) => Err(PullError::Config {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    /// Where to pull `domain`'s images from, in order: its mirrors (or `"*"`'s), then itself.
    pub fn endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mirrors = self.mirrors.get(domain).or_else(|| self.mirrors.get("*"));
        let mut endpoints: Vec<Endpoint> = mirrors
            .into_iter()
            .flat_map(|m| m.endpoint.iter())
            .filter_map(|url| Endpoint::parse(url))
            .collect();
        let host = match domain {
            "docker.io" => "index.docker.io",
            other => other,
        };
        if is_loopback(host) {
            endpoints.push(Endpoint {
                host: host.into(),
                scheme: Scheme::Https,
                verify: false,
            });
            endpoints.push(Endpoint {
                host: host.into(),
                scheme: Scheme::Http,
                verify: false,
            });
        } else {
            endpoints.push(Endpoint {
                host: host.into(),
                scheme: Scheme::Https,
                verify: true,
            });
        }
        endpoints.dedup();
        endpoints
    }
}

/// How a registry endpoint is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS.
    Https,
    /// Plain HTTP.
    Http,
}

/// One place to pull from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`.
    pub host: String,
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// Whether the server certificate is verified.
    pub verify: bool,
}

impl Endpoint {
    fn parse(url: &str) -> Option<Endpoint> {
        let (scheme, rest) = match url.split_once("://") {
            Some(("http", rest)) => (Scheme::Http, rest),
            Some(("https", rest)) => (Scheme::Https, rest),
            Some(_) => return None,
            None => (Scheme::Https, url),
        };
        let host = rest.split('/').next().filter(|h| !h.is_empty())?;
        Some(Endpoint {
            host: host.to_string(),
            scheme,
            verify: true,
        })
    }
}

/// Whether a registry host (with its port) is on a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Credentials for a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// None.
    Anonymous,
    /// User and password (Basic, or exchanged for a token by the registry's token service).
    Basic(String, String),
    /// A bearer token.
    Bearer(String),
}

impl Credentials {
    fn of(config: Option<&AuthConfig>) -> Credentials {
        use base64::Engine;
        let Some(auth) = config else {
            return Credentials::Anonymous;
        };
        if let Some(token) = &auth.token {
            return Credentials::Bearer(token.clone());
        }
        if let (Some(user), Some(password)) = (&auth.username, &auth.password) {
            return Credentials::Basic(user.clone(), password.clone());
        }
        let decoded = auth
            .auth
            .as_deref()
            .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => Credentials::Basic(user.into(), password.into()),
            None => Credentials::Anonymous,
        }
    }

    fn registry_auth(&self) -> RegistryAuth {
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic(u, p) => RegistryAuth::Basic(u.clone(), p.clone()),
            Credentials::Bearer(t) => RegistryAuth::Bearer(t.clone()),
        }
    }
}

/// Pulls `image` into the store (credentials from `credentials`, else `registries.yaml`) and
/// names it; returns the record. Tries each endpoint in turn.
pub async fn pull(
    store: &Store,
    image: &Reference,
    registries: &Registries,
    credentials: Option<&Credentials>,
) -> Result<ImageRecord, PullError> {
    let mut errors = Vec::new();
    for endpoint in registries.endpoints(&image.domain) {
        let config = registries.configs.get(&endpoint.host);
        let auth = credentials
            .cloned()
            .unwrap_or_else(|| Credentials::of(config.and_then(|c| c.auth.as_ref())));
        match pull_from(store, image, &endpoint, config, &auth).await {
            Ok(record) => return Ok(record),
            Err(e) => errors.push(format!(
                "{}://{}: {e}",
                scheme_name(endpoint.scheme),
                endpoint.host
            )),
        }
    }
    Err(PullError::Failed(format!(
        "failed to pull and unpack image \"{image}\": {}",
        errors.join("; ")
    )))
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Https => "https",
        Scheme::Http => "http",
    }
}

fn client(endpoint: &Endpoint, config: Option<&HostConfig>) -> Result<oci_client::Client, String> {
    // reqwest's rustls takes the process's crypto provider: ring, as the rest of kubicle
    // (an error only says one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = config.and_then(|c| c.tls.clone()).unwrap_or_default();
    let mut roots = Vec::new();
    if let Some(ca) = &tls.ca_file {
        let data = std::fs::read(ca).map_err(|e| format!("read {}: {e}", ca.display()))?;
        roots.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    Ok(oci_client::Client::new(ClientConfig {
        protocol: match endpoint.scheme {
            Scheme::Https => ClientProtocol::Https,
            Scheme::Http => ClientProtocol::Http,
        },
        accept_invalid_certificates: !endpoint.verify || tls.insecure_skip_verify,
        extra_root_certificates: roots,
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        ..ClientConfig::default()
    }))
}

async fn pull_from(
    store: &Store,
    image: &Reference,
    endpoint: &Endpoint,
    config: Option<&HostConfig>,
    credentials: &Credentials,
) -> Result<ImageRecord, String> {
    let client = client(endpoint, config)?;
    let auth = credentials.registry_auth();
    let at = |tag_or_digest: &str| -> Result<oci_client::Reference, String> {
        format!("{}/{}{tag_or_digest}", endpoint.host, image.path)
            .parse()
            .map_err(|e: oci_client::ParseError| e.to_string())
    };
    let wanted = match (&image.digest, &image.tag) {
        (Some(digest), _) => format!("@{digest}"),
        (None, Some(tag)) => format!(":{tag}"),
        (None, None) => ":latest".to_string(),
    };
    let accepted = [
        oci::MANIFEST,
        oci::INDEX,
        oci::DOCKER_MANIFEST,
        oci::DOCKER_LIST,
    ];
    let reference = at(&wanted)?;
    let (mut bytes, _) = client
        .pull_manifest_raw(&reference, &auth, &accepted)
        .await
        .map_err(|e| e.to_string())?;
    let lock = tokio::task::block_in_place(|| store.lock()).map_err(|e| e.to_string())?;
    let mut digest = put_document(store, &bytes, image.digest.as_deref())?;
    if let Ok(index) = serde_json::from_slice::<Index>(&bytes) {
        let target = platform::node();
        let chosen = platform::choose(&index.manifests, &target).ok_or_else(|| {
            format!(
                "no match for platform {}/{} in manifest {digest}",
                target.os, target.architecture
            )
        })?;
        let chosen = chosen.digest.clone();
        (bytes, _) = client
            .pull_manifest_raw(&at(&format!("@{chosen}"))?, &auth, &accepted)
            .await
            .map_err(|e| e.to_string())?;
        digest = put_document(store, &bytes, Some(&chosen))?;
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("manifest {digest}: {e}"))?;
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if !store.has_blob(&blob.digest) {
            fetch_blob(&client, store, &reference, &blob.digest).await?;
        }
    }
    let store_for_record = store.clone();
    let record = tokio::task::spawn_blocking(move || record(&store_for_record, &digest))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let record = ImageRecord {
        pinned: false,
        ..record
    };
    let name = image.to_string();
    let named = record.clone();
    tokio::task::block_in_place(|| {
        store.update_images(&lock, |images| {
            images.insert(name, named);
            Ok(())
        })
    })
    .map_err(|e| e.to_string())?;
    Ok(record)
}

fn put_document(store: &Store, bytes: &[u8], expected: Option<&str>) -> Result<String, String> {
    tokio::task::block_in_place(|| store.put_blob(bytes, expected))
        .map(|(digest, _)| digest)
        .map_err(|e| e.to_string())
}

/// Streams one blob into the store on the blocking pool, verified against `digest`.
async fn fetch_blob(
    client: &oci_client::Client,
    store: &Store,
    reference: &oci_client::Reference,
    digest: &str,
) -> Result<(), String> {
    let sized = client
        .pull_blob_stream(reference, digest)
        .await
        .map_err(|e| e.to_string())?;
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(sized.stream));
    let (store, digest) = (store.clone(), digest.to_string());
    tokio::task::spawn_blocking(move || store.put_blob(reader, Some(&digest)).map(|_| ()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// One pull per image however many ask at once: later callers wait for the first and find
/// the image stored.
#[derive(Debug, Default)]
pub struct Puller {
    inflight: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Puller {
    /// The image named `image`, pulled unless the store has it.
    pub async fn ensure(
        &self,
        store: &Store,
        image: &Reference,
        registries: &Registries,
        credentials: Option<&Credentials>,
    ) -> Result<ImageRecord, PullError> {
        let name = image.to_string();
        let gate = self
            .inflight
            .lock()
            .expect("pull map")
            .entry(name.clone())
            .or_default()
            .clone();
        let _turn = gate.lock().await;
        if let Some(found) = store.images().ok().and_then(|mut all| all.remove(&name)) {
            return Ok(found);
        }
        pull(store, image, registries, credentials).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_docker_and_k3s() {
        let registries: Registries = serde_yaml_ng::from_str(
            "mirrors:\n  docker.io:\n    endpoint: [\"http://127.0.0.1:5000\", \"https://mirror.example:8443/v2\"]\n  \"*\":\n    endpoint: [\"https://all.example\"]\nconfigs:\n  mirror.example:8443:\n    auth: {username: u, password: p}\n",
        )
        .expect("yaml");
        let e = |host: &str, scheme, verify| Endpoint {
            host: host.into(),
            scheme,
            verify,
        };
        assert_eq!(
            registries.endpoints("docker.io"),
            [
                e("127.0.0.1:5000", Scheme::Http, true),
                e("mirror.example:8443", Scheme::Https, true),
                e("index.docker.io", Scheme::Https, true),
            ]
        );
        assert_eq!(
            registries.endpoints("quay.io"),
            [
                e("all.example", Scheme::Https, true),
                e("quay.io", Scheme::Https, true)
            ]
        );
        assert_eq!(
            Registries::default().endpoints("localhost:5000"),
            [
                e("localhost:5000", Scheme::Https, false),
                e("localhost:5000", Scheme::Http, false)
            ]
        );
        for (host, loopback) in [
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("localhost", true),
            ("10.0.0.1:5000", false),
            ("registry.local", false),
        ] {
            assert_eq!(is_loopback(host), loopback, "{host}");
        }
    }

    #[test]
    fn credentials_come_from_user_and_password_auth_or_token() {
        let auth =
            |yaml: &str| Credentials::of(Some(&serde_yaml_ng::from_str(yaml).expect("yaml")));
        assert_eq!(
            auth("{username: a, password: b}"),
            Credentials::Basic("a".into(), "b".into())
        );
        assert_eq!(
            auth("{auth: \"ZGV2OnMzY3JldA==\"}"),
            Credentials::Basic("dev".into(), "s3cret".into())
        );
        assert_eq!(auth("{token: t}"), Credentials::Bearer("t".into()));
        assert_eq!(Credentials::of(None), Credentials::Anonymous);
    }
}
