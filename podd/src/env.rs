//! A container's environment as the kubelet builds it: service links, `envFrom`, `env` with
//! `$(VAR)` expansion and the downward API.
//!
//! Ported from K8S `pkg/kubelet/envvars/envvars.go` (`FromServices`), `pkg/kubelet/kubelet_pods.go`
//! (`getServiceEnvVarMap`, `makeEnvironmentVariables`, `podFieldSelectorRuntimeValue`),
//! `pkg/api/v1/pod/util.go` (`ConvertDownwardAPIFieldLabel`), `pkg/fieldpath/fieldpath.go` and
//! `third_party/forked/golang/expansion/expand.go`.
//! The spec is `kubernetes-networking.md` §3.
//!
//! Upstream keeps the environment in Go maps, so its order is random.
//! Here every order is stable and documented on the function that produces it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

/// The namespace of the master service (`metav1.NamespaceDefault`).
const MASTER_SERVICE_NAMESPACE: &str = "default";
/// The one master service (`masterServices` in `kubelet_pods.go`).
const MASTER_SERVICE_NAME: &str = "kubernetes";

/// A conservative cap, in bytes, for the service link block of one container.
///
/// The kernel refuses an `execve` whose single argument or environment string exceeds
/// `MAX_ARG_STRLEN` (32 pages, 128 KiB), and the whole block must fit in its share of
/// `ARG_MAX` (a quarter of the stack limit). Namespaces with thousands of Services reach that
/// (kubernetes/kubernetes#92615), so the service link block is kept under this cap.
pub const SERVICE_LINKS_CAP: usize = 128 * 1024;

/// Why a container's environment could not be built.
///
/// The messages are the kubelet's, so they read the same in events as upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A ConfigMap that is not `optional` does not exist.
    #[error("configmap {name:?} not found")]
    ConfigMapNotFound {
        /// The ConfigMap's name, in the pod's namespace.
        name: String,
    },
    /// A Secret that is not `optional` does not exist.
    #[error("secret {name:?} not found")]
    SecretNotFound {
        /// The Secret's name, in the pod's namespace.
        name: String,
    },
    /// A `configMapKeyRef` that is not `optional` names a missing key.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        /// The pod's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
        /// The missing key.
        key: String,
    },
    /// A `secretKeyRef` that is not `optional` names a missing key.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        /// The pod's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The missing key.
        key: String,
    },
    /// A Secret's `data` value is not base64, which a stored Secret never has.
    #[error("couldn't decode key {key} in Secret {namespace}/{name}: invalid base64")]
    DecodeSecretData {
        /// The pod's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key whose value is not base64.
        key: String,
    },
    /// A `fieldRef` names an API version other than `v1`.
    #[error("unsupported pod version: {api_version}")]
    FieldRefVersion {
        /// The `fieldRef.apiVersion` given.
        api_version: String,
    },
    /// A `fieldRef` names a field the downward API does not know.
    #[error("field label not supported: {field_path}")]
    FieldRefLabel {
        /// The `fieldRef.fieldPath` given.
        field_path: String,
    },
    /// A `fieldRef` subscripts a field other than labels or annotations.
    #[error("field label does not support subscript: {field_path}")]
    FieldRefSubscript {
        /// The `fieldRef.fieldPath` given.
        field_path: String,
    },
    /// A `fieldRef` names a known field that env vars cannot read (`status.phase`, ...).
    #[error("unsupported fieldPath: {field_path}")]
    FieldRefPath {
        /// The `fieldRef.fieldPath` given.
        field_path: String,
    },
    /// A `valueFrom` source that kubicle does not implement (`resourceFieldRef`, `fileKeyRef`).
    #[error("env var {name}: {source_kind} is not supported")]
    UnsupportedSource {
        /// The env var's name.
        name: String,
        /// The `valueFrom` field used.
        source_kind: &'static str,
    },
}

/// The service link variables of one pod (`getServiceEnvVarMap` + `FromServices`).
///
/// It takes every Service of the cluster. It keeps those with a ClusterIP (not `None` or
/// empty, so headless and ExternalName Services are skipped): `default/kubernetes` always,
/// and the Services of `pod_namespace` when `enable_service_links` is true (the API default).
/// A Service named `kubernetes` in the pod's own namespace replaces `default/kubernetes`.
///
/// Order: Services sorted by name (upstream iterates a map), each emitting exactly the
/// `FromServices` sequence of §3.3. A Service without ports, which validation rejects, is
/// skipped rather than indexed.
#[must_use]
pub fn service_links(
    pod_namespace: &str,
    enable_service_links: bool,
    services: &[&Value],
) -> Vec<(String, String)> {
    let mut selected: BTreeMap<&str, &Value> = BTreeMap::new();
    for &service in services {
        if !is_service_ip_set(service) {
            continue;
        }
        let name = str_at(service, &["metadata", "name"]);
        let namespace = str_at(service, &["metadata", "namespace"]);
        if name.is_empty() {
            continue;
        }
        if namespace == MASTER_SERVICE_NAMESPACE && name == MASTER_SERVICE_NAME {
            selected.entry(name).or_insert(service);
        } else if namespace == pod_namespace && enable_service_links {
            selected.insert(name, service);
        }
    }
    let mut vars = Vec::new();
    for service in selected.values() {
        from_service(service, &mut vars);
    }
    vars
}

/// `IsServiceIPSet`: the ClusterIP is neither `None` nor empty.
fn is_service_ip_set(service: &Value) -> bool {
    let cluster_ip = str_at(service, &["spec", "clusterIP"]);
    !cluster_ip.is_empty() && cluster_ip != "None"
}

/// One port of a Service, as `FromServices` reads it.
struct ServicePort<'a> {
    name: &'a str,
    port: i64,
    protocol: &'a str,
}

/// Appends one Service's variables in `FromServices` order.
fn from_service(service: &Value, vars: &mut Vec<(String, String)>) {
    let cluster_ip = str_at(service, &["spec", "clusterIP"]);
    let ports: Vec<ServicePort<'_>> = array_at(service, &["spec", "ports"])
        .iter()
        .map(|port| ServicePort {
            name: str_at(port, &["name"]),
            port: port.get("port").and_then(Value::as_i64).unwrap_or(0),
            protocol: match str_at(port, &["protocol"]) {
                "" => "TCP",
                protocol => protocol,
            },
        })
        .collect();
    let Some(first) = ports.first() else {
        return;
    };
    let prefix = env_var_name(str_at(service, &["metadata", "name"]));
    vars.push((format!("{prefix}_SERVICE_HOST"), cluster_ip.to_string()));
    let service_port = format!("{prefix}_SERVICE_PORT");
    vars.push((service_port.clone(), first.port.to_string()));
    // Only the first port may be unnamed (checked in validation).
    for port in ports.iter().filter(|port| !port.name.is_empty()) {
        vars.push((
            format!("{service_port}_{}", env_var_name(port.name)),
            port.port.to_string(),
        ));
    }
    // Docker-compatible link variables; Docker special-cases the first port.
    for (i, port) in ports.iter().enumerate() {
        let proto = port.protocol.to_lowercase();
        let url = format!("{proto}://{}", join_host_port(cluster_ip, port.port));
        if i == 0 {
            vars.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!(
            "{prefix}_PORT_{}_{}",
            port.port,
            port.protocol.to_uppercase()
        );
        vars.push((port_prefix.clone(), url));
        vars.push((format!("{port_prefix}_PROTO"), proto));
        vars.push((format!("{port_prefix}_PORT"), port.port.to_string()));
        vars.push((format!("{port_prefix}_ADDR"), cluster_ip.to_string()));
    }
}

/// `makeEnvVariableName`: upper case, `-` to `_`, nothing more (see §3.2).
fn env_var_name(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

/// `net.JoinHostPort`: IPv6 addresses are bracketed.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A container's whole environment as the kubelet builds it (`makeEnvironmentVariables`).
///
/// 1. `envFrom`, in order: each `configMapRef` or `secretRef` adds all its keys (sorted), each
///    with the entry's `prefix`. A missing source is skipped when `optional`.
/// 2. `env`, in order: a non-empty `value` is expanded (`$(VAR)`) against what is defined so
///    far, then `service_vars`; otherwise `valueFrom` is resolved (`fieldRef`,
///    `configMapKeyRef`, `secretKeyRef`; a missing `optional` source or key skips the entry);
///    otherwise the value is empty.
/// 3. The entries of `service_vars` whose names steps 1 and 2 did not define.
///
/// A name defined twice keeps the position of its first definition and the last value.
///
/// `lookup(kind, name)` fetches a `"ConfigMap"` or a `"Secret"` in the pod's namespace; each
/// object is fetched at most once per call. Secret `data` is base64-decoded, and bytes that
/// are not UTF-8 become U+FFFD. `fieldRef` reads the pod as given, so the caller sets
/// `status.podIP(s)` and `status.hostIP(s)` before the pod's status is written.
///
/// # Errors
///
/// A missing ConfigMap, Secret or key that is not `optional`, a `fieldRef` the downward API
/// cannot serve, a `valueFrom` source kubicle does not implement, or Secret data that is not
/// base64. The first one ends the build, as upstream.
pub fn container_env(
    pod: &Value,
    container: &Value,
    service_vars: &[(String, String)],
    lookup: &dyn Fn(&str, &str) -> Option<Value>,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = str_at(pod, &["metadata", "namespace"]);
    let mut sources = Sources {
        lookup,
        namespace,
        cache: HashMap::new(),
    };
    let mut env = OrderedEnv::default();

    for env_from in array_at(container, &["envFrom"]) {
        let prefix = str_at(env_from, &["prefix"]);
        if let Some(reference) = object_at(env_from, "configMapRef") {
            let name = str_at(reference, &["name"]);
            let Some(config_map) = sources.get(Kind::ConfigMap, name) else {
                if is_optional(reference) {
                    continue;
                }
                return Err(EnvError::ConfigMapNotFound {
                    name: name.to_string(),
                });
            };
            for (key, value) in config_map_data(config_map) {
                env.set(format!("{prefix}{key}"), value.to_string());
            }
        } else if let Some(reference) = object_at(env_from, "secretRef") {
            let name = str_at(reference, &["name"]);
            let Some(secret) = sources.get(Kind::Secret, name) else {
                if is_optional(reference) {
                    continue;
                }
                return Err(EnvError::SecretNotFound {
                    name: name.to_string(),
                });
            };
            for (key, value) in secret_data(secret, namespace, name)? {
                env.set(format!("{prefix}{key}"), value);
            }
        }
    }

    let mut service_map: HashMap<&str, &str> = HashMap::new();
    for (name, value) in service_vars {
        service_map.entry(name).or_insert(value);
    }
    for entry in array_at(container, &["env"]) {
        let name = str_at(entry, &["name"]);
        let value = str_at(entry, &["value"]);
        let runtime_value = if !value.is_empty() {
            let mapping = |var: &str| {
                env.get(var)
                    .or_else(|| service_map.get(var).copied())
                    .map(str::to_string)
            };
            expand(value, &mapping)
        } else if let Some(value_from) = object_at(entry, "valueFrom") {
            match value_from_source(pod, name, value_from, &mut sources)? {
                Some(resolved) => resolved,
                None => continue,
            }
        } else {
            String::new()
        };
        env.set(name.to_string(), runtime_value);
    }

    let mut result = env.vars;
    let mut seen: HashSet<&str> = HashSet::new();
    for (name, value) in service_vars {
        if !env.index.contains_key(name) && seen.insert(name) {
            result.push((name.clone(), value.clone()));
        }
    }
    Ok(result)
}

/// Resolves one `valueFrom`; `Ok(None)` means an `optional` source or key was missing.
fn value_from_source(
    pod: &Value,
    env_name: &str,
    value_from: &Value,
    sources: &mut Sources<'_>,
) -> Result<Option<String>, EnvError> {
    if let Some(field_ref) = object_at(value_from, "fieldRef") {
        return field_ref_value(pod, field_ref).map(Some);
    }
    if object_at(value_from, "resourceFieldRef").is_some() {
        return Err(EnvError::UnsupportedSource {
            name: env_name.to_string(),
            source_kind: "resourceFieldRef",
        });
    }
    if let Some(selector) = object_at(value_from, "configMapKeyRef") {
        let name = str_at(selector, &["name"]);
        let key = str_at(selector, &["key"]);
        let optional = is_optional(selector);
        let Some(config_map) = sources.get(Kind::ConfigMap, name) else {
            if optional {
                return Ok(None);
            }
            return Err(EnvError::ConfigMapNotFound {
                name: name.to_string(),
            });
        };
        return match config_map_data(config_map).get(key) {
            Some(value) => Ok(Some(value.to_string())),
            None if optional => Ok(None),
            None => Err(EnvError::ConfigMapKeyNotFound {
                namespace: sources.namespace.to_string(),
                name: name.to_string(),
                key: key.to_string(),
            }),
        };
    }
    if let Some(selector) = object_at(value_from, "secretKeyRef") {
        let name = str_at(selector, &["name"]);
        let key = str_at(selector, &["key"]);
        let optional = is_optional(selector);
        let namespace = sources.namespace;
        let Some(secret) = sources.get(Kind::Secret, name) else {
            if optional {
                return Ok(None);
            }
            return Err(EnvError::SecretNotFound {
                name: name.to_string(),
            });
        };
        let Some(encoded) = secret.get("data").and_then(|data| data.get(key)) else {
            if optional {
                return Ok(None);
            }
            return Err(EnvError::SecretKeyNotFound {
                namespace: namespace.to_string(),
                name: name.to_string(),
                key: key.to_string(),
            });
        };
        return decode_secret_value(encoded, namespace, name, key).map(Some);
    }
    if object_at(value_from, "fileKeyRef").is_some() {
        return Err(EnvError::UnsupportedSource {
            name: env_name.to_string(),
            source_kind: "fileKeyRef",
        });
    }
    // No known source: upstream's switch falls through and sets the empty string.
    Ok(Some(String::new()))
}

/// `podFieldSelectorRuntimeValue`, after `ConvertDownwardAPIFieldLabel`.
fn field_ref_value(pod: &Value, field_ref: &Value) -> Result<String, EnvError> {
    let api_version = match str_at(field_ref, &["apiVersion"]) {
        "" => "v1",
        version => version,
    };
    if api_version != "v1" {
        return Err(EnvError::FieldRefVersion {
            api_version: api_version.to_string(),
        });
    }
    let field_path = str_at(field_ref, &["fieldPath"]);
    if let Some((path, subscript)) = split_subscripted_path(field_path) {
        return match path {
            "metadata.annotations" | "metadata.labels" => {
                let map = path.trim_start_matches("metadata.");
                Ok(str_at(pod, &["metadata", map, subscript]).to_string())
            }
            _ => Err(EnvError::FieldRefSubscript {
                field_path: field_path.to_string(),
            }),
        };
    }
    let value = match field_path {
        "metadata.name" => str_at(pod, &["metadata", "name"]).to_string(),
        "metadata.namespace" => str_at(pod, &["metadata", "namespace"]).to_string(),
        "metadata.uid" => str_at(pod, &["metadata", "uid"]).to_string(),
        "metadata.annotations" => format_map(pod, "annotations"),
        "metadata.labels" => format_map(pod, "labels"),
        // `spec.host` is what old v1 clients send for `spec.nodeName`.
        "spec.nodeName" | "spec.host" => str_at(pod, &["spec", "nodeName"]).to_string(),
        "spec.serviceAccountName" => str_at(pod, &["spec", "serviceAccountName"]).to_string(),
        "status.hostIP" => first_or_empty(&ips(pod, "hostIPs", "hostIP")),
        "status.hostIPs" => ips(pod, "hostIPs", "hostIP").join(","),
        "status.podIP" => first_or_empty(&ips(pod, "podIPs", "podIP")),
        "status.podIPs" => ips(pod, "podIPs", "podIP").join(","),
        // Known to ConvertDownwardAPIFieldLabel, but ExtractFieldPathAsString cannot read them.
        "spec.restartPolicy" | "spec.schedulerName" | "status.phase" => {
            return Err(EnvError::FieldRefPath {
                field_path: field_path.to_string(),
            });
        }
        _ => {
            return Err(EnvError::FieldRefLabel {
                field_path: field_path.to_string(),
            });
        }
    };
    Ok(value)
}

/// `SplitMaybeSubscriptedPath`: `metadata.labels['k']` is `("metadata.labels", "k")`.
fn split_subscripted_path(field_path: &str) -> Option<(&str, &str)> {
    let inner = field_path.strip_suffix("']")?;
    let (path, subscript) = inner.split_once("['")?;
    (!path.is_empty()).then_some((path, subscript))
}

/// A pod's IPs from `status.<list>[].ip`, or else `status.<single>`, in the order given.
fn ips<'a>(pod: &'a Value, list: &str, single: &str) -> Vec<&'a str> {
    let listed: Vec<&str> = array_at(pod, &["status", list])
        .iter()
        .map(|entry| str_at(entry, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    let single = str_at(pod, &["status", single]);
    if single.is_empty() {
        Vec::new()
    } else {
        vec![single]
    }
}

fn first_or_empty(values: &[&str]) -> String {
    values.first().copied().unwrap_or_default().to_string()
}

/// `fieldpath.FormatMap`: sorted `key="value"` lines, values quoted as Go's `%q` does.
fn format_map(pod: &Value, map: &str) -> String {
    let Some(Value::Object(entries)) = pod.get("metadata").and_then(|m| m.get(map)) else {
        return String::new();
    };
    let sorted: BTreeMap<&str, &str> = entries
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str().unwrap_or_default()))
        .collect();
    let lines: Vec<String> = sorted
        .iter()
        .map(|(key, value)| format!("{key}={}", go_quote(value)))
        .collect();
    lines.join("\n")
}

/// Go's `strconv.Quote` for the characters labels and annotations can hold.
fn go_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for ch in value.chars() {
        match ch {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\x07' => quoted.push_str("\\a"),
            '\x08' => quoted.push_str("\\b"),
            '\x0c' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\x0b' => quoted.push_str("\\v"),
            ch if ch < ' ' || ch == '\x7f' => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(ch));
            }
            ch => quoted.push(ch),
        }
    }
    quoted.push('"');
    quoted
}

/// Expands `$(VAR)` references as Kubernetes does (`expansion.Expand` with `MappingFuncFor`).
///
/// `$$` is an escaped `$`. A reference that `vars` does not know stays as written, and so do
/// an unterminated `$(`, a `$` before any other character, and a `$` at the end. Expanded
/// values are not expanded again.
#[must_use]
pub fn expand(input: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut expanded = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            expanded.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            // The number of bytes after the `$` that this operator consumed.
            let advance = match bytes[cursor + 1] {
                b'$' => {
                    expanded.push('$');
                    1
                }
                b'(' => match rest[1..].find(')') {
                    Some(end) => {
                        let name = &rest[1..1 + end];
                        match vars(name) {
                            Some(value) => expanded.push_str(&value),
                            None => {
                                expanded.push_str("$(");
                                expanded.push_str(name);
                                expanded.push(')');
                            }
                        }
                        end + 2
                    }
                    None => {
                        expanded.push_str("$(");
                        1
                    }
                },
                _ => {
                    // Go copies one byte here; copying the whole character keeps UTF-8 intact.
                    let width = rest.chars().next().map_or(1, char::len_utf8);
                    expanded.push('$');
                    expanded.push_str(&rest[..width]);
                    width
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    expanded.push_str(&input[checkpoint..]);
    expanded
}

/// The size in bytes of an environment as `execve` counts it: the sum of `"K=V\0"`.
#[must_use]
pub fn env_size(vars: &[(String, String)]) -> usize {
    vars.iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum()
}

/// Drops whole Services from the end of a [`service_links`] block until its [`env_size`] is
/// at most `cap`, and returns what is kept with the number of Services dropped, so that the
/// caller can emit a warning event. The `KUBERNETES_*` block, which in-cluster clients need,
/// is dropped last.
///
/// Upstream has no such cap; a container whose environment is too big fails to start with
/// `E2BIG` ("argument list too long").
#[must_use]
pub fn trim_service_links(
    vars: Vec<(String, String)>,
    cap: usize,
) -> (Vec<(String, String)>, usize) {
    let mut size = env_size(&vars);
    if size <= cap {
        return (vars, 0);
    }
    let blocks = service_blocks(&vars);
    let mut dropped = vec![false; blocks.len()];
    let mut n_dropped = 0;
    let protected_last = blocks
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, block)| !block.protected)
        .chain(
            blocks
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, block)| block.protected),
        );
    for (i, block) in protected_last {
        if size <= cap {
            break;
        }
        size -= env_size(&vars[block.start..block.start + block.len]);
        dropped[i] = true;
        n_dropped += 1;
    }
    let mut kept = Vec::with_capacity(vars.len());
    let mut entries = vars.into_iter();
    for (block, is_dropped) in blocks.iter().zip(dropped) {
        let block_entries = entries.by_ref().take(block.len);
        if is_dropped {
            block_entries.for_each(drop);
        } else {
            kept.extend(block_entries);
        }
    }
    (kept, n_dropped)
}

/// The entries of one Service in a [`service_links`] block.
struct ServiceBlock {
    start: usize,
    len: usize,
    /// The `KUBERNETES_*` block.
    protected: bool,
}

/// Splits a [`service_links`] block into Services by its structure (host, port, named ports,
/// first link, link groups of four), since names alone are ambiguous: a port may be named
/// `service-host`. Entries that do not fit the structure count as one Service each.
fn service_blocks(vars: &[(String, String)]) -> Vec<ServiceBlock> {
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < vars.len() {
        let (len, prefix) = service_block_len(&vars[start..]);
        blocks.push(ServiceBlock {
            start,
            len,
            protected: prefix == Some(MASTER_SERVICE_NAME.to_uppercase()),
        });
        start += len;
    }
    blocks
}

/// The length (at least 1) of the Service block at the start of `vars`, and its prefix.
fn service_block_len(vars: &[(String, String)]) -> (usize, Option<String>) {
    let name = |i: usize| vars.get(i).map(|(name, _)| name.as_str());
    let Some(prefix) = name(0).and_then(|first| first.strip_suffix("_SERVICE_HOST")) else {
        return (1, None);
    };
    let service_port = format!("{prefix}_SERVICE_PORT");
    if name(1) != Some(service_port.as_str()) {
        return (1, None);
    }
    let mut len = 2;
    let named_port = format!("{service_port}_");
    while name(len).is_some_and(|n| n.starts_with(&named_port)) {
        len += 1;
    }
    let first_link = format!("{prefix}_PORT");
    if name(len) != Some(first_link.as_str()) {
        return (len, Some(prefix.to_string()));
    }
    len += 1;
    let link = format!("{first_link}_");
    while let Some(group) = name(len).filter(|n| n.starts_with(&link)) {
        let is_group = ["_PROTO", "_PORT", "_ADDR"]
            .iter()
            .enumerate()
            .all(|(i, suffix)| name(len + 1 + i) == Some(format!("{group}{suffix}").as_str()));
        if !is_group {
            break;
        }
        len += 4;
    }
    (len, Some(prefix.to_string()))
}

/// An environment being built: order of first definition, last value wins.
#[derive(Default)]
struct OrderedEnv {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedEnv {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }
}

/// The kinds `lookup` is asked for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

/// ConfigMaps and Secrets fetched during one [`container_env`] call.
struct Sources<'a> {
    lookup: &'a dyn Fn(&str, &str) -> Option<Value>,
    namespace: &'a str,
    cache: HashMap<(Kind, String), Value>,
}

impl Sources<'_> {
    fn get(&mut self, kind: Kind, name: &str) -> Option<&Value> {
        let key = (kind, name.to_string());
        if !self.cache.contains_key(&key) {
            let object = (self.lookup)(kind.as_str(), name)?;
            self.cache.insert(key.clone(), object);
        }
        self.cache.get(&key)
    }
}

/// A ConfigMap's string `data`, sorted by key (`binaryData` is not used for env).
fn config_map_data(config_map: &Value) -> BTreeMap<&str, &str> {
    match config_map.get("data") {
        Some(Value::Object(data)) => data
            .iter()
            .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A Secret's decoded `data`, sorted by key.
fn secret_data(
    secret: &Value,
    namespace: &str,
    name: &str,
) -> Result<Vec<(String, String)>, EnvError> {
    let Some(Value::Object(data)) = secret.get("data") else {
        return Ok(Vec::new());
    };
    let sorted: BTreeMap<&String, &Value> = data.iter().collect();
    sorted
        .into_iter()
        .map(|(key, encoded)| {
            Ok((
                key.clone(),
                decode_secret_value(encoded, namespace, name, key)?,
            ))
        })
        .collect()
}

fn decode_secret_value(
    encoded: &Value,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, EnvError> {
    encoded
        .as_str()
        .and_then(decode_base64)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .ok_or_else(|| EnvError::DecodeSecretData {
            namespace: namespace.to_string(),
            name: name.to_string(),
            key: key.to_string(),
        })
}

/// Standard base64 (RFC 4648 §4), padding optional.
fn decode_base64(encoded: &str) -> Option<Vec<u8>> {
    let unpadded = encoded.trim_end_matches('=');
    if encoded.len() - unpadded.len() > 2 || unpadded.len() % 4 == 1 {
        return None;
    }
    let mut decoded = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for byte in unpadded.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            decoded.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(decoded)
}

fn is_optional(reference: &Value) -> bool {
    reference
        .get("optional")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The object at `key`, if it is one (an explicit `null` counts as absent).
fn object_at<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|v| v.is_object())
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn array_at<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests;
