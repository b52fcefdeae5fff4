//! Image references, parsed and normalised exactly as Docker and the kubelet do
//! (`github.com/distribution/reference` v0.6: `normalize.go` `ParseNormalizedNamed`,
//! `reference.go` `Parse`, `regexp.go`; `github.com/opencontainers/go-digest` `Parse`; and the
//! kubelet's `pkg/util/parsers` `ParseImageName`, which adds `latest` when a reference has
//! neither tag nor digest): `nginx` is `docker.io/library/nginx:latest`.
//!
//! The grammar (`regexp.go`), checked here by hand instead of by regular expressions:
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] path-component ['/' path-component]*
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | '[' IPv6address ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component   := /[a-z0-9]+/ [ separator /[a-z0-9]+/ ]*
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" /[0-9a-fA-F]{32,}/
//! algorithm        := /[A-Za-z][A-Za-z0-9]*/ [ /[+.-_]/ /[A-Za-z][A-Za-z0-9]*/ ]*
//! ```

use std::fmt;

/// Docker Hub's registry, the domain of a name without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's old name, normalised to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images (`nginx` is `library/nginx`).
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The longest repository path (`RepositoryNameTotalLengthMax`).
const PATH_MAX: usize = 255;

/// A normalised, named image reference: a domain, a path, and a tag, a digest or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry's host (and port): `docker.io`, `127.0.0.1:5000`, `[::1]:5000`; empty
    /// when the first component looked like a domain but is not one (`a_b.c/d`), as upstream.
    pub domain: String,
    /// The repository inside the registry: `library/nginx`.
    pub path: String,
    /// The tag, when the reference names one.
    pub tag: Option<String>,
    /// The digest (`sha256:<hex>`), when the reference names one.
    pub digest: Option<String>,
}

/// Why a reference does not parse, in distribution/reference's and go-digest's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// `ErrReferenceInvalidFormat`.
    #[error("invalid reference format")]
    InvalidFormat,
    /// `ErrNameEmpty`.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// `ErrNameContainsUppercase`.
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// `ParseNormalizedNamed`'s check of the repository part.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    RemoteNameUppercase(String),
    /// `ErrNameTooLong`.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// `ParseNormalizedNamed` on a bare image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// go-digest's `ErrDigestInvalidFormat`.
    #[error("invalid checksum digest format")]
    DigestFormat,
    /// go-digest's `ErrDigestInvalidLength`.
    #[error("invalid checksum digest length")]
    DigestLength,
    /// go-digest's `ErrDigestUnsupported`.
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

impl Reference {
    /// `ParseNormalizedNamed`: a reference as a user writes it (`nginx`, `user/app:v1`,
    /// `localhost:5000/app@sha256:…`) with Docker Hub's defaults filled in. No tag is added.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::HexIdentifier(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::RemoteNameUppercase(remote.to_string()));
        }
        parse(&format!("{domain}/{remainder}"))
    }

    /// The kubelet's reading of a container's `image` (`ParseImageName` plus the default
    /// tag): normalised, with `latest` when it names neither tag nor digest.
    pub fn for_pull(image: &str) -> Result<Reference, ReferenceError> {
        let mut reference = Reference::parse_normalized(image)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some("latest".to_string());
        }
        Ok(reference)
    }

    /// The repository's full name, `docker.io/library/nginx` (`Named.Name()`).
    pub fn name(&self) -> String {
        match self.domain.as_str() {
            "" => self.path.clone(),
            domain => format!("{domain}/{}", self.path),
        }
    }

    /// The short form people write (`FamiliarString`): `nginx:latest`, `user/app:v1`,
    /// `localhost:5000/app:v1`.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        let Some(rest) = full.strip_prefix("docker.io/") else {
            return full;
        };
        rest.strip_prefix(OFFICIAL_REPO_PREFIX)
            .filter(|short| !short.split([':', '@']).next().unwrap_or("").contains('/'))
            .unwrap_or(rest)
            .to_string()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `splitDockerDomain`: the first component is a domain only if it looks like one (a `.` or
/// `:`, `localhost`, or an uppercase letter); otherwise the name is Docker Hub's.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// `Parse` of a name that carries its domain.
fn parse(s: &str) -> Result<Reference, ReferenceError> {
    let Some(reference) = parse_grammar(s) else {
        return Err(if s.is_empty() {
            ReferenceError::NameEmpty
        } else if parse_grammar(&s.to_lowercase()).is_some() {
            ReferenceError::NameContainsUppercase
        } else {
            ReferenceError::InvalidFormat
        });
    };
    if reference.path.len() > PATH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(digest) = &reference.digest {
        validate_digest(digest)?;
    }
    Ok(reference)
}

/// Matches `ReferenceRegexp` and splits the name as `anchoredNameRegexp` does.
fn parse_grammar(s: &str) -> Option<Reference> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !is_digest_syntax(d)) {
        return None;
    }
    // A tag follows the last ':' after the last '/' (a ':' before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return None;
    }
    let (domain, path) = match name.split_once('/') {
        Some((domain, path)) if is_domain(domain) && is_path(path) => (domain, path),
        _ if is_path(name) => ("", name),
        _ => return None,
    };
    Some(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

fn is_path(path: &str) -> bool {
    path.split('/').all(is_path_component)
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or any run of `-`.
fn is_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if alnum(b) {
            if !matches!(separator.as_str(), "" | "." | "_" | "__")
                && !separator.bytes().all(|s| s == b'-')
            {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(b as char);
        } else {
            return false;
        }
    }
    true
}

/// `host [':' port]`, the host a domain name, an IPv4 address (which the domain-name
/// grammar covers) or a bracketed IPv6 address.
fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((address, after)) = v6.split_once(']') else {
            return false;
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => ("", after.strip_prefix(':').unwrap_or("x")),
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, port),
            None => (domain, "0"),
        }
    };
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let bracketed = host.is_empty() && domain.starts_with('[');
    let host_ok = bracketed || host.split('.').all(is_domain_component);
    port_ok && host_ok
}

/// `[a-zA-Z0-9]`, or `[a-zA-Z0-9-]*` between two of them.
fn is_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

/// The digest's shape in `ReferenceRegexp` (its contents are go-digest's to judge).
fn is_digest_syntax(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    };
    algorithm.split(['+', '.', '-', '_']).all(component_ok)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// go-digest's `Digest.Validate` for the algorithms it registers by default.
fn validate_digest(digest: &str) -> Result<(), ReferenceError> {
    let (algorithm, hex) = digest.split_once(':').ok_or(ReferenceError::DigestFormat)?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ReferenceError::DigestUnsupported),
    };
    if hex.len() != length {
        return Err(ReferenceError::DigestLength);
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ReferenceError::DigestFormat);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
