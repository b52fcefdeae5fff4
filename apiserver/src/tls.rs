//! The cluster's credentials: a CA, a serving certificate, the admin token and the kubeconfig.
//!
//! kubectl sends no credentials over plain HTTP (client-go `clientcmd` reads auth info only
//! for TLS), so the API is HTTPS only. The CA key and the token are made once and kept in the
//! data dir (mode 0600); the serving certificate is re-issued at every start so that it always
//! names the addresses the server listens on. Lifetimes are kubeadm's: the CA ten years (made
//! anew at a start within a year of its end), a serving certificate one year.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Errors setting up credentials; each names the file or step.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A credential file could not be read.
    #[error("read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A credential file could not be written.
    #[error("write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Generating or parsing a key or certificate failed.
    #[error("{step}")]
    Certificate {
        /// What was being done.
        step: &'static str,
        /// The cause.
        source: rcgen::Error,
    },
    /// rustls refused the certificate.
    #[error("build the TLS server configuration")]
    Config {
        /// The cause.
        source: rustls::Error,
    },
}

/// What a running server needs to serve HTTPS and check tokens.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The CA certificate (PEM) clients trust.
    pub ca_pem: String,
    /// The serving certificate chain (PEM).
    pub server_cert_pem: String,
    /// The serving key (PEM).
    pub server_key_pem: String,
    /// The admin bearer token.
    pub token: String,
}

/// How long the cluster CA is valid: ten years, as kubeadm's (`CertificateValidityPeriod`
/// for the CA in cmd/kubeadm/app/constants).
const CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// How long a serving certificate is valid: one year, as kubeadm's.
const SERVING_VALIDITY: time::Duration = time::Duration::days(365);
/// How far back a new certificate's validity starts, for clocks a little behind ours.
const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

/// A new CA's parameters: its distinguished name names the cluster; valid ten years from now.
fn ca_params(cluster: &str, now: time::OffsetDateTime) -> Result<CertificateParams, TlsError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|source| TlsError::Certificate {
            step: "make CA parameters",
            source,
        })?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("kubicle-ca-{cluster}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + CA_VALIDITY;
    Ok(params)
}

/// When a PEM certificate stops being valid (`None` if it cannot be read as one).
pub fn expiry(cert_pem: &str) -> Option<time::OffsetDateTime> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    time::OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

/// Whether the CA must be made anew: it cannot be read, or it expires before a serving
/// certificate issued now would.
fn ca_needs_renewal(ca_pem: &str, now: time::OffsetDateTime) -> bool {
    expiry(ca_pem).is_none_or(|not_after| not_after < now + SERVING_VALIDITY)
}

fn read(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    file.write_all(contents.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Loads the CA and token from `dir` (making them on first start, and the CA anew when it
/// would expire within a year) and issues a serving certificate for `sans` (IPs and DNS
/// names), valid for a year.
pub fn ensure(dir: &Path, cluster: &str, sans: &[String]) -> Result<Credentials, TlsError> {
    ensure_at(dir, cluster, sans, time::OffsetDateTime::now_utc())
}

fn ensure_at(
    dir: &Path,
    cluster: &str,
    sans: &[String],
    now: time::OffsetDateTime,
) -> Result<Credentials, TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let (issuer, ca_pem) = ca(dir, cluster, now)?;
    let ca_not_after = expiry(&ca_pem).unwrap_or(now + SERVING_VALIDITY);
    let mut server =
        CertificateParams::new(sans.to_vec()).map_err(|source| TlsError::Certificate {
            step: "make serving certificate parameters",
            source,
        })?;
    server
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.not_before = now - CLOCK_SKEW;
    server.not_after = (now + SERVING_VALIDITY).min(ca_not_after);
    let server_key = KeyPair::generate().map_err(|source| TlsError::Certificate {
        step: "generate the serving key",
        source,
    })?;
    let server_cert =
        server
            .signed_by(&server_key, &issuer)
            .map_err(|source| TlsError::Certificate {
                step: "sign the serving certificate",
                source,
            })?;
    Ok(Credentials {
        ca_pem,
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        token: token(&dir.join("token"))?,
    })
}

/// The cluster CA as an issuer, with its certificate: the stored one, or a new one at first
/// start or when the stored one is near its end.
fn ca(
    dir: &Path,
    cluster: &str,
    now: time::OffsetDateTime,
) -> Result<(Issuer<'static, KeyPair>, String), TlsError> {
    let ca_key_path = dir.join("ca.key");
    let ca_cert_path = dir.join("ca.crt");
    if let (Some(key_pem), Some(cert_pem)) = (read(&ca_key_path)?, read(&ca_cert_path)?) {
        if !ca_needs_renewal(&cert_pem, now) {
            let key = KeyPair::from_pem(&key_pem).map_err(|source| TlsError::Certificate {
                step: "parse the CA key",
                source,
            })?;
            let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|source| {
                TlsError::Certificate {
                    step: "parse the CA certificate",
                    source,
                }
            })?;
            return Ok((issuer, cert_pem));
        }
        tracing::warn!(
            ca = %ca_cert_path.display(),
            "the cluster CA expires within a year: making a new one (copies of the old \
             kubeconfig stop working; the one in the data dir is rewritten)"
        );
    }
    let params = ca_params(cluster, now)?;
    let key = KeyPair::generate().map_err(|source| TlsError::Certificate {
        step: "generate the CA key",
        source,
    })?;
    let cert = params
        .self_signed(&key)
        .map_err(|source| TlsError::Certificate {
            step: "self-sign the CA certificate",
            source,
        })?;
    write_private(&ca_key_path, &key.serialize_pem())?;
    write_private(&ca_cert_path, &cert.pem())?;
    Ok((Issuer::new(params, key), cert.pem()))
}

/// The admin token: the stored one, or a new random one.
fn token(path: &Path) -> Result<String, TlsError> {
    match read(path)? {
        Some(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            write_private(path, &token)?;
            Ok(token)
        }
    }
}

/// The rustls server configuration (HTTP/2 and HTTP/1.1; upgrades such as exec need 1.1).
pub fn server_config(credentials: &Credentials) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(credentials.server_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::Config {
            source: rustls::Error::General("parse the serving certificate PEM".into()),
        })?;
    let key =
        PrivateKeyDer::from_pem_slice(credentials.server_key_pem.as_bytes()).map_err(|_| {
            TlsError::Config {
                source: rustls::Error::General("parse the serving key PEM".into()),
            }
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Config { source })?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Config { source })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The kubeconfig for the admin user, as kubectl reads it.
pub fn kubeconfig(cluster: &str, server: SocketAddr, credentials: &Credentials) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(credentials.ca_pem.as_bytes());
    let host = match server {
        SocketAddr::V4(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
        SocketAddr::V6(a) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
        other => other.to_string(),
    };
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: https://{host}
    certificate-authority-data: {ca}
users:
- name: {cluster}-admin
  user:
    token: {token}
contexts:
- name: {cluster}
  context:
    cluster: {cluster}
    user: {cluster}-admin
    namespace: default
current-context: {cluster}
preferences: {{}}
",
        token = credentials.token
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_persist_and_certificates_chain() {
        let dir = std::env::temp_dir().join(format!("kubicle-tls-{}", uuid::Uuid::new_v4()));
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let first = ensure(&dir, "t", &sans).expect("first");
        let second = ensure(&dir, "t", &sans).expect("second");
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_eq!(first.token, second.token);
        assert!(server_config(&second).is_ok());
        let mode = std::fs::metadata(dir.join("token"))
            .expect("token")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let config = kubeconfig("t", "127.0.0.1:6443".parse().expect("addr"), &first);
        assert!(config.contains("server: https://127.0.0.1:6443"));
        std::fs::remove_dir_all(&dir).ok();
    }

    fn days(pem: &str, from: time::OffsetDateTime) -> i64 {
        (expiry(pem).expect("a certificate") - from).whole_days()
    }

    #[test]
    fn the_ca_lives_ten_years_serving_certificates_one_and_a_ca_near_its_end_is_renewed() {
        let dir = std::env::temp_dir().join(format!("kubicle-tls-{}", uuid::Uuid::new_v4()));
        let sans = vec!["10.244.0.1".to_string()];
        let start = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("whole seconds");
        let first = ensure_at(&dir, "t", &sans, start).expect("first");
        assert_eq!(days(&first.ca_pem, start), 3650);
        assert_eq!(days(&first.server_cert_pem, start), 365);
        // Nine years on, the same CA signs; it still outlives the new serving certificate.
        let later = start + time::Duration::days(9 * 365);
        let second = ensure_at(&dir, "t", &sans, later).expect("nine years on");
        assert_eq!(second.ca_pem, first.ca_pem);
        assert_eq!(days(&second.server_cert_pem, later), 365);
        // Within a year of its end, the CA is made anew, and signs the serving certificate.
        let late = start + time::Duration::days(3650 - 200);
        let third = ensure_at(&dir, "t", &sans, late).expect("renewed");
        assert_ne!(third.ca_pem, first.ca_pem);
        assert_eq!(days(&third.ca_pem, late), 3650);
        assert_eq!(third.token, first.token, "the token stays");
        let (_, server) =
            x509_parser::pem::parse_x509_pem(third.server_cert_pem.as_bytes()).expect("pem");
        let server = server.parse_x509().expect("x509");
        let (_, ca) = x509_parser::pem::parse_x509_pem(third.ca_pem.as_bytes()).expect("pem");
        let ca = ca.parse_x509().expect("x509");
        assert_eq!(server.issuer(), ca.subject());
        assert!(server.verify_signature(Some(ca.public_key())).is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
