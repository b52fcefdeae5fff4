//! Credentials from `imagePullSecrets`, matched to an image as the kubelet's keyring does
//! (`pkg/credentialprovider/keyring.go`, `config.go`): a `kubernetes.io/dockerconfigjson`
//! Secret's `.dockerconfigjson` (`{"auths": {...}}`) or a legacy `kubernetes.io/dockercfg`
//! (the map itself). A key is a registry host (with `*` wildcards per label, an optional
//! port and scheme) and an optional path prefix; Docker Hub's `https://index.docker.io/v1/`
//! stands for `index.docker.io`, which every Docker Hub image matches. The most specific key
//! comes first; the kubelet tries each in turn.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;

use crate::pull::Credentials;
use crate::reference::Reference;

#[derive(Debug, Default, Deserialize)]
struct Entry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DockerConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

/// The credentials of `config` (one Secret's data, decoded) that apply to `image`, most
/// specific key first. A document that parses as neither form yields none.
pub fn matching(config: &[u8], image: &Reference) -> Vec<Credentials> {
    let entries: BTreeMap<String, Entry> = serde_json::from_slice::<DockerConfigJson>(config)
        .ok()
        .filter(|c| !c.auths.is_empty())
        .map(|c| c.auths)
        .or_else(|| serde_json::from_slice(config).ok())
        .unwrap_or_default();
    let mut keyed: Vec<(String, Credentials)> = entries
        .into_iter()
        .filter_map(|(key, entry)| Some((normalise_key(&key), credentials(&entry)?)))
        .filter(|(key, _)| key_matches(key, image))
        .collect();
    keyed.sort_by_key(|(key, _)| std::cmp::Reverse(key.len()));
    keyed.into_iter().map(|(_, c)| c).collect()
}

fn credentials(entry: &Entry) -> Option<Credentials> {
    if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
        return Some(Credentials::Basic(user.clone(), password.clone()));
    }
    if let Some(auth) = &entry.auth {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?;
        let (user, password) = String::from_utf8(decoded)
            .ok()?
            .split_once(':')
            .map(|(u, p)| (u.to_string(), p.to_string()))?;
        return Some(Credentials::Basic(user, password));
    }
    entry.identity_token.clone().map(Credentials::Bearer)
}

/// A key without its scheme and trailing `/`; Docker Hub's v1 URL as its host.
fn normalise_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key)
        .trim_end_matches('/');
    match key {
        "index.docker.io/v1" => "index.docker.io".to_string(),
        other => other.to_string(),
    }
}

/// `URLsMatch`: the host's labels match one by one (`*` matches one label), ports are equal,
/// and the key's path is a prefix of the image's; a Docker Hub image matches Docker Hub's key.
fn key_matches(key: &str, image: &Reference) -> bool {
    let (key_host, key_path) = key.split_once('/').unwrap_or((key, ""));
    if image.domain == "docker.io" && matches!(key_host, "index.docker.io" | "docker.io") {
        return key_path.is_empty() || image.path.starts_with(key_path);
    }
    let split_port = |h: &str| -> (String, String) {
        let port_at = match h.strip_prefix('[') {
            Some(v6) => v6.find("]:").map(|i| i + 2),
            None => h.rfind(':'),
        };
        match port_at {
            Some(i) => (h[..i].to_string(), h[i + 1..].to_string()),
            None => (h.to_string(), String::new()),
        }
    };
    let ((kh, kp), (ih, ip)) = (split_port(key_host), split_port(&image.domain));
    let (kl, il): (Vec<&str>, Vec<&str>) = (kh.split('.').collect(), ih.split('.').collect());
    kp == ip
        && kl.len() == il.len()
        && kl.iter().zip(&il).all(|(k, i)| glob_label(k, i))
        && image.path.starts_with(key_path)
}

/// One host label against a pattern with `*` (Go's `filepath.Match` for a label).
fn glob_label(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(label),
        Some((before, after)) => {
            label.len() >= before.len() + after.len()
                && label.starts_with(before)
                && label.ends_with(after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> Reference {
        Reference::for_pull(s).expect(s)
    }

    #[test]
    fn keys_match_as_the_kubelets_keyring_matches_them() {
        let config = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOmh1YnBhc3M="},
            "registry.example.com": {"username": "a", "password": "1"},
            "registry.example.com/team": {"username": "b", "password": "2"},
            "*.corp.example": {"username": "c", "password": "3"},
            "127.0.0.1:5000": {"identitytoken": "tok"}
        }}"#;
        let basic = |u: &str, p: &str| Credentials::Basic(u.into(), p.into());
        let cases: Vec<(&str, Vec<Credentials>)> = vec![
            ("nginx", vec![basic("hub", "hubpass")]),
            ("someone/app:v1", vec![basic("hub", "hubpass")]),
            (
                "registry.example.com/team/app",
                vec![basic("b", "2"), basic("a", "1")],
            ),
            ("registry.example.com/other/app", vec![basic("a", "1")]),
            ("eu.corp.example/app", vec![basic("c", "3")]),
            ("a.eu.corp.example/app", vec![]),
            (
                "127.0.0.1:5000/app",
                vec![Credentials::Bearer("tok".into())],
            ),
            ("127.0.0.1:5001/app", vec![]),
            ("[::1]:5000/app", vec![]),
            ("quay.io/x/y", vec![]),
        ];
        for (name, want) in cases {
            assert_eq!(matching(config, &image(name)), want, "{name}");
        }
    }

    #[test]
    fn legacy_dockercfg_and_garbage() {
        let legacy = br#"{"quay.io": {"username": "q", "password": "p"}}"#;
        assert_eq!(
            matching(legacy, &image("quay.io/x/y")),
            [Credentials::Basic("q".into(), "p".into())]
        );
        assert!(matching(b"not json", &image("quay.io/x/y")).is_empty());
    }
}
