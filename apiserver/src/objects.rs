//! The object pipeline: decoding, system metadata, defaulting, validation and patching.
//!
//! Pure functions over `serde_json::Value`, shared by every write path ([`crate::api::Api`]
//! calls them inside the store's read-modify-write). The order is the real apiserver's:
//! decode (400 on malformed bodies and wrong types), fill system metadata, default, validate
//! (422 with one cause per field).
//!
//! Before a body is parsed, `objects/depth.rs` checks how deeply it nests, in one linear
//! pass, because the parsers are not linear in nesting. [`decode`] runs both on the
//! blocking pool (`crate::cpu`), so a large or hostile body never holds an async worker.

pub mod depth;

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::resources::Resource;
use crate::status::ApiError;
use crate::validate::{ErrorType, FieldError};
use crate::{defaults, validate};

/// The largest request body the server takes (the real apiserver's limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// [`decode_body`] on the blocking pool, at most a few at a time (`crate::cpu`).
pub async fn decode(content_type: &str, body: bytes::Bytes) -> Result<Value, ApiError> {
    let content_type = content_type.to_string();
    crate::cpu::run(move || decode_body(&content_type, &body)).await?
}

/// Decodes a request body by its content type: JSON, or YAML (a superset of JSON). A body
/// nested deeper than [`depth::MAX_DEPTH`] is refused before it is parsed, with the words
/// of upstream's decoders (encoding/json's `invalid character '[' exceeded max depth`, go-yaml's
/// `exceeded max depth of <limit>`).
pub fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::TooLarge(MAX_BODY));
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json_depth = || depth::json(body, depth::MAX_DEPTH).map_err(too_deep_json);
    match media.as_str() {
        "" | "application/json" | "*/*" => json_depth()
            .and_then(|()| serde_json::from_slice(body).map_err(|e| e.to_string()))
            .map_err(|e| {
                ApiError::BadRequest(format!("couldn't get version/kind; json parse error: {e}"))
            }),
        "application/yaml"
        | "application/x-yaml"
        | "text/yaml"
        | "application/apply-patch+yaml" => depth::yaml(body, depth::MAX_DEPTH)
            .map_err(too_deep_yaml)
            .and_then(|()| serde_yaml_ng::from_slice(body).map_err(|e| e.to_string()))
            .map_err(|e| ApiError::BadRequest(format!("error converting YAML to JSON: yaml: {e}"))),
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(body)
            .map_err(|e| ApiError::BadRequest(format!("decode the protobuf request body: {e}"))),
        "application/json-patch+json"
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json" => json_depth()
            .and_then(|()| serde_json::from_slice(body).map_err(|e| e.to_string()))
            .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}"))),
        other => Err(ApiError::UnsupportedMediaType(other.to_string())),
    }
}

/// encoding/json's words for a nesting past its limit (`scanner.go` `pushParseState`, as
/// its `error` words every scanner error).
fn too_deep_json(at: depth::TooDeep) -> String {
    format!(
        "invalid character '{}' exceeded max depth",
        char::from(at.bracket)
    )
}

/// go-yaml's words for a flow level past its limit (`yaml_parser_increase_flow_level`),
/// with the line as its `parser.fail` gives it: none on the first line.
fn too_deep_yaml(at: depth::TooDeep) -> String {
    let line = match at.line {
        1 => String::new(),
        n => format!("line {n}: "),
    };
    format!("{line}exceeded max depth of {}", depth::MAX_DEPTH)
}

/// What the server does with fields the schema does not know (`?fieldValidation=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (the API server's default).
    #[default]
    Warn,
    /// Refuse the request with 400 (what `kubectl apply` asks for).
    Strict,
}

impl FieldValidation {
    /// The directive of a `fieldValidation` parameter upstream accepts (`""` is the default),
    /// `None` for any other (`ValidateFieldValidation` makes that a 422).
    pub fn from_directive(value: &str) -> Option<FieldValidation> {
        match value {
            "" | "Warn" => Some(FieldValidation::Warn),
            "Ignore" => Some(FieldValidation::Ignore),
            "Strict" => Some(FieldValidation::Strict),
            _ => None,
        }
    }
}

/// Decodes `obj` as an object of `resource`'s kind through its k8s-openapi type, as the real
/// server decodes into its Go type: wrong field types are a 400, fields the schema does not
/// know are dropped (and reported per `validation`), and missing required fields are left
/// to validation (422). Returns the object as the schema knows it, and any warnings.
pub fn decode_typed(
    resource: &Resource,
    obj: Value,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let Some(map) = obj.as_object() else {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    };
    let kind = string(map, "kind");
    let api_version = string(map, "apiVersion");
    if kind.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&obj.to_string(), 200)
        )));
    }
    if kind != resource.kind || api_version != resource.api_version() {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}), or the kind ({kind}) does not match {}",
            resource.api_version(),
            resource.kind
        )));
    }
    use k8s_openapi::api::{apps, core, discovery, networking};
    let known = match resource.kind {
        "Pod" => typed::<core::v1::Pod>(&obj),
        "Service" => typed::<core::v1::Service>(&obj),
        "Namespace" => typed::<core::v1::Namespace>(&obj),
        "Node" => typed::<core::v1::Node>(&obj),
        "Endpoints" => typed::<core::v1::Endpoints>(&obj),
        "ConfigMap" => typed::<core::v1::ConfigMap>(&obj),
        "Secret" => typed::<core::v1::Secret>(&obj),
        "Event" => typed::<core::v1::Event>(&obj),
        "Deployment" => typed::<apps::v1::Deployment>(&obj),
        "ReplicaSet" => typed::<apps::v1::ReplicaSet>(&obj),
        "EndpointSlice" => typed::<discovery::v1::EndpointSlice>(&obj),
        "NetworkPolicy" => typed::<networking::v1::NetworkPolicy>(&obj),
        _ => Ok(None),
    };
    let cannot = |why: String| {
        ApiError::BadRequest(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: {why}",
            resource.version
        ))
    };
    let Some(known) = known.map_err(cannot)? else {
        return Ok((obj, Vec::new()));
    };
    let mut obj = obj;
    let mut unknown = Vec::new();
    prune(&mut obj, &known, "", &mut unknown);
    if unknown.is_empty() || validation == FieldValidation::Ignore {
        return Ok((obj, Vec::new()));
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if validation == FieldValidation::Strict {
        return Err(cannot(format!(
            "strict decoding error: {}",
            messages.join(", ")
        )));
    }
    Ok((obj, messages))
}

/// The typed round trip of `obj`: `Ok(None)` when a required field is missing (validation
/// reports it), `Err` on a wrong type.
fn typed<T>(obj: &Value) -> Result<Option<Value>, String>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(typed) => serde_json::to_value(&typed)
            .map(Some)
            .map_err(|e| format!("re-encode: {e}")),
        Err(e) => {
            let inner = e.inner().to_string();
            // A missing required field is a validation matter (422 Required value), not a
            // decoding one: Go's decoder leaves it at its zero value.
            if inner.starts_with("missing field") {
                Ok(None)
            } else {
                Err(format!("json: {inner} at {}", e.path()))
            }
        }
    }
}

/// Removes from `input` what its typed round trip `known` does not have: fields the schema
/// does not know (recorded in `unknown` by path) and `null`s. Everything else keeps the
/// client's value; `known` is not stored itself because k8s-openapi fills in missing required
/// fields with empty values, which would hide them from validation.
fn prune(input: &mut Value, known: &Value, path: &str, unknown: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(given), Value::Object(kept)) => {
            given.retain(|key, value| {
                if value.is_null() {
                    return false;
                }
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kept.get(key) {
                    Some(k) => {
                        prune(value, k, &field, unknown);
                        true
                    }
                    None => {
                        unknown.push(field);
                        false
                    }
                }
            });
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (value, k)) in given.iter_mut().zip(kept).enumerate() {
                prune(value, k, &format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

/// A string field of a JSON object, `""` when absent or not a string.
fn string(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The RFC 3339 time (seconds) Kubernetes stamps on objects.
pub fn timestamp(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The suffix alphabet of `generateName` (apiserver `names.SimpleNameGenerator`: no vowels,
/// no look-alike characters).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A name from `generateName`: the prefix (cut to leave room) and five random characters.
pub fn generate_name(prefix: &str) -> String {
    let mut rng = rand::rng();
    let keep = prefix.len().min(63 - 5);
    let mut name = truncate(prefix, keep).to_string();
    for _ in 0..5 {
        name.push(NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char);
    }
    name
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match &mut obj["metadata"] {
        Value::Object(meta) => meta,
        _ => unreachable!("metadata was made an object just above"),
    }
}

/// The namespace an object must carry: the URL's for namespaced types, none otherwise.
fn place(resource: &Resource, obj: &mut Value, namespace: Option<&str>) -> Result<(), ApiError> {
    let meta = meta_mut(obj);
    if resource.namespaced {
        let url_ns = namespace.unwrap_or("default");
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ))
            }
            _ => {
                meta.insert("namespace".into(), Value::String(url_ns.to_string()));
            }
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// Prepares a new object: placement, name, system metadata, reset status, defaults, validation.
pub fn prepare_create(
    resource: &Resource,
    obj: Value,
    namespace: Option<&str>,
    now: jiff::Timestamp,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let (mut obj, warnings) = decode_typed(resource, obj, validation)?;
    place(resource, &mut obj, namespace)?;
    let meta = meta_mut(&mut obj);
    let name = string(meta, "name");
    let generate = string(meta, "generateName");
    let name = if name.is_empty() && !generate.is_empty() {
        generate_name(&generate)
    } else {
        name
    };
    if name.is_empty() {
        return Err(ApiError::invalid(
            resource,
            "",
            vec![FieldError {
                error_type: ErrorType::Required,
                field: "metadata.name".into(),
                bad_value: None,
                detail: "name or generateName is required".into(),
            }],
        ));
    }
    meta.insert("name".into(), Value::String(name.clone()));
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(timestamp(now)));
    for system in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(system);
    }
    if obj.get("spec").is_some() {
        meta_mut(&mut obj).insert("generation".into(), json!(1));
    } else {
        meta_mut(&mut obj).remove("generation");
    }
    if resource.has_status() {
        obj["status"] = initial_status(resource);
    }
    defaults::apply(resource.kind, &mut obj);
    fold_string_data(resource, &mut obj);
    let errors = validate::validate_create(resource.kind, &obj);
    if !errors.is_empty() {
        return Err(ApiError::invalid(resource, &name, errors));
    }
    let mut warnings = warnings;
    warnings.extend(validate::warnings(resource.kind, &obj));
    Ok((obj, warnings))
}

/// A Secret's `stringData` is write-only convenience: it is merged into `data` (base64) and
/// never stored (`pkg/registry/core/secret/strategy.go`).
fn fold_string_data(resource: &Resource, obj: &mut Value) {
    use base64::Engine;
    if resource.kind != "Secret" {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in strings {
        let text = value.as_str().unwrap_or("").as_bytes().to_vec();
        data[key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// The status a new object starts with (what the REST strategies' PrepareForCreate set).
fn initial_status(resource: &Resource) -> Value {
    match resource.kind {
        "Pod" => json!({"phase": "Pending"}),
        "Namespace" => json!({"phase": "Active"}),
        "Service" => json!({"loadBalancer": {}}),
        _ => json!({}),
    }
}

/// Whether an update changes the object's desired state (everything but metadata and status).
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("metadata");
            map.remove("status");
            map.remove("kind");
            map.remove("apiVersion");
        }
        v
    };
    strip(old) != strip(new)
}

/// Prepares a full replacement of `old` (PUT, and every patch after it is applied): the
/// name must match, a stale `resourceVersion` conflicts, system metadata is kept, the status is
/// kept when the type has a status subresource, `generation` grows when the spec changes.
pub fn prepare_update(
    resource: &Resource,
    obj: Value,
    old: &Value,
    namespace: Option<&str>,
    name: &str,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let (mut obj, warnings) = decode_typed(resource, obj, validation)?;
    place(resource, &mut obj, namespace)?;
    let old_meta = &old["metadata"];
    let meta = meta_mut(&mut obj);
    match meta.get("name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        Some(n) if !n.is_empty() => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        _ => {
            meta.insert("name".into(), Value::String(name.to_string()));
        }
    }
    if let Some(rv) = meta.get("resourceVersion").and_then(Value::as_str) {
        if !rv.is_empty() && Some(rv) != old_meta["resourceVersion"].as_str() {
            return Err(ApiError::conflict(resource, name));
        }
    }
    if let Some(uid) = meta.get("uid").and_then(Value::as_str) {
        if !uid.is_empty() && Some(uid) != old_meta["uid"].as_str() {
            return Err(ApiError::conflict(resource, name));
        }
    }
    for system in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "generateName",
    ] {
        match old_meta.get(system) {
            Some(v) => {
                meta.insert(system.into(), v.clone());
            }
            None => {
                meta.remove(system);
            }
        }
    }
    if resource.kind == "Service" {
        keep_allocated_service_values(&mut obj, old);
    }
    if resource.has_status() {
        match old.get("status") {
            Some(status) => obj["status"] = status.clone(),
            None => {
                if let Some(map) = obj.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    defaults::apply(resource.kind, &mut obj);
    if spec_changed(old, &obj) {
        let generation = old_meta["generation"].as_i64().unwrap_or(0) + 1;
        meta_mut(&mut obj).insert("generation".into(), json!(generation));
    }
    fold_string_data(resource, &mut obj);
    let errors = validate::validate_update(resource.kind, &obj, old);
    if !errors.is_empty() {
        return Err(ApiError::invalid(resource, name, errors));
    }
    let mut warnings = warnings;
    warnings.extend(validate::warnings(resource.kind, &obj));
    Ok((obj, warnings))
}

/// A Service update that leaves out what the allocators assigned keeps the old values, as the
/// real service REST storage does (`patchAllocatedValues` in
/// `pkg/registry/core/service/storage/storage.go`): clients that PUT a manifest must not have to
/// repeat the ClusterIP or node ports.
fn keep_allocated_service_values(new: &mut Value, old: &Value) {
    let (Some(spec), Some(old_spec)) = (
        new.get_mut("spec").and_then(Value::as_object_mut),
        old["spec"].as_object(),
    ) else {
        return;
    };
    let new_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let old_type = old_spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    let external = |t: &str| t == "NodePort" || t == "LoadBalancer";
    // A type change drops the fields that only the old type uses, when the client left them
    // as they were (`dropTypeDependentFields` in pkg/registry/core/service/storage/storage.go).
    if new_type != old_type {
        if external(old_type) && !external(&new_type) {
            for field in [
                "externalTrafficPolicy",
                "healthCheckNodePort",
                "allocateLoadBalancerNodePorts",
            ] {
                if spec.get(field) == old_spec.get(field) {
                    spec.remove(field);
                }
            }
            let old_ports = old_spec
                .get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for port in ports.iter_mut() {
                    let kept = old_ports
                        .iter()
                        .any(|o| o["port"] == port["port"] && o["nodePort"] == port["nodePort"]);
                    if let (true, Some(map)) = (kept, port.as_object_mut()) {
                        map.remove("nodePort");
                    }
                }
            }
        }
        if old_type == "LoadBalancer"
            && new_type != "LoadBalancer"
            && spec.get("loadBalancerClass") == old_spec.get("loadBalancerClass")
        {
            spec.remove("loadBalancerClass");
        }
    }
    if new_type == "ExternalName" {
        return;
    }
    let unset = |v: Option<&Value>| {
        v.is_none_or(|v| v.is_null() || v == "" || v.as_array().is_some_and(|a| a.is_empty()))
    };
    if unset(spec.get("clusterIP")) && unset(spec.get("clusterIPs")) {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if let Some(v) = old_spec.get(field) {
                spec.insert(field.into(), v.clone());
            }
        }
    }
    if new_type == "NodePort" || new_type == "LoadBalancer" {
        let old_ports = old_spec
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut() {
                if port
                    .get("nodePort")
                    .is_some_and(|p| p.as_i64().unwrap_or(0) != 0)
                {
                    continue;
                }
                let same = old_ports.iter().find(|o| {
                    o["port"] == port["port"]
                        && o["protocol"].as_str().unwrap_or("TCP")
                            == port["protocol"].as_str().unwrap_or("TCP")
                });
                if let (Some(node_port), Some(map)) =
                    (same.and_then(|o| o.get("nodePort")), port.as_object_mut())
                {
                    map.insert("nodePort".into(), node_port.clone());
                }
            }
        }
        if unset(spec.get("healthCheckNodePort")) {
            if let Some(v) = old_spec.get("healthCheckNodePort") {
                spec.insert("healthCheckNodePort".into(), v.clone());
            }
        }
    }
}

/// Prepares a status write: the old object with the new status (nothing else changes).
pub fn prepare_status_update(
    resource: &Resource,
    obj: Value,
    old: &Value,
    name: &str,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let (obj, warnings) = decode_typed(resource, obj, validation)?;
    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
        if !rv.is_empty() && Some(rv) != old["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(resource, name));
        }
    }
    let mut new = old.clone();
    new["status"] = obj.get("status").cloned().unwrap_or_else(|| json!({}));
    Ok((new, warnings))
}

/// The kinds of patch a PATCH request can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Kubernetes strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// From the request's `Content-Type`.
    pub fn from_content_type(content_type: &str) -> Result<PatchType, ApiError> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            other => Err(ApiError::UnsupportedMediaType(other.to_string())),
        }
    }
}

/// Applies a patch document to an object's JSON.
pub fn apply_patch(
    kind: &str,
    patch_type: PatchType,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON patch: {e}")))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| ApiError::Invalid {
                kind_qualified: kind.to_string(),
                kind: kind.to_string(),
                group: String::new(),
                name: current["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                causes: vec![FieldError {
                    error_type: ErrorType::Invalid,
                    field: String::new(),
                    bad_value: None,
                    detail: format!("the JSON patch could not be applied: {e}"),
                }],
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::BadRequest(
                    "a merge patch must be a JSON object".into(),
                ));
            }
            let mut doc = current.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic | PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::BadRequest(
                    "a strategic merge patch must be a JSON object".into(),
                ));
            }
            crate::patch::strategic::apply(kind, current, patch).map_err(|e| {
                ApiError::BadRequest(format!("unable to apply the strategic merge patch: {e}"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;

    fn deployments() -> &'static Resource {
        lookup("apps", "v1", "deployments").expect("deployments")
    }

    #[test]
    fn wrong_types_are_bad_requests_and_missing_fields_are_not() {
        let d = deployments();
        let bad = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w"},"spec":{"replicas":"three"}});
        let strict = FieldValidation::Strict;
        let err = decode_typed(d, bad, strict).expect_err("string replicas");
        assert_eq!(err.code(), 400);
        assert!(err.to_string().contains("spec.replicas"), "{err}");
        let missing = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w"},"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}});
        assert!(decode_typed(d, missing, strict).is_ok());
        let wrong_kind = json!({"apiVersion":"v1","kind":"Deployment","metadata":{"name":"w"}});
        assert_eq!(
            decode_typed(d, wrong_kind, strict)
                .expect_err("kind")
                .code(),
            400
        );
        let extra = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w","creationTimestamp":null},"spec":{"replicaz":1,"template":{"spec":{"containers":[{"name":"c","image":"i","colour":"red"}]}}}});
        let err = decode_typed(d, extra.clone(), strict).expect_err("unknown fields");
        assert!(err.to_string().contains(r#"strict decoding error: unknown field "spec.replicaz", unknown field "spec.template.spec.containers[0].colour""#), "{err}");
        let (pruned, warnings) = decode_typed(d, extra, FieldValidation::Warn).expect("warn");
        assert_eq!(warnings.len(), 2);
        assert!(pruned["spec"].get("replicaz").is_none());
    }

    #[test]
    fn deep_bodies_are_refused_in_upstreams_words_before_parsing() {
        let deep_yaml = format!("kind: ConfigMap\ndata: {}", "[".repeat(200_000));
        let deep_json = format!("{{\"a\": {}", "[".repeat(200_000));
        for (content_type, body, message) in [
            (
                "application/yaml",
                deep_yaml.clone(),
                "error converting YAML to JSON: yaml: line 2: exceeded max depth of 127",
            ),
            (
                "application/apply-patch+yaml",
                "[".repeat(128),
                "error converting YAML to JSON: yaml: exceeded max depth of 127",
            ),
            (
                "application/json",
                deep_json.clone(),
                "couldn't get version/kind; json parse error: invalid character '[' exceeded max depth",
            ),
            (
                "application/merge-patch+json",
                deep_json,
                "error decoding patch: invalid character '[' exceeded max depth",
            ),
        ] {
            let err = decode_body(content_type, body.as_bytes()).expect_err(content_type);
            assert_eq!(err.code(), 400);
            assert_eq!(err.to_string(), message);
        }
        let at_limit = format!("{}{}", "[".repeat(127), "]".repeat(127));
        for content_type in ["application/json", "application/yaml"] {
            assert!(decode_body(content_type, at_limit.as_bytes()).is_ok());
        }
    }

    #[test]
    fn create_sets_system_metadata_and_generate_name() {
        let cm = lookup("", "v1", "configmaps").expect("configmaps");
        let obj = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"x-","resourceVersion":"9"}});
        let now = jiff::Timestamp::from_second(0).expect("epoch");
        let (out, _) =
            prepare_create(cm, obj, Some("default"), now, FieldValidation::Strict).expect("create");
        let name = out["metadata"]["name"].as_str().expect("name");
        assert!(name.starts_with("x-") && name.len() == 7, "{name}");
        assert_eq!(out["metadata"]["namespace"], "default");
        assert_eq!(out["metadata"]["creationTimestamp"], "1970-01-01T00:00:00Z");
        assert!(out["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn update_keeps_system_fields_and_bumps_generation_on_spec_change() {
        let d = deployments();
        let old = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w","namespace":"default","uid":"u1","generation":1,"resourceVersion":"5","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}},"status":{"replicas":1}});
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(2);
        new["status"] = json!({});
        new["metadata"]["uid"] = json!("");
        let (out, _) = prepare_update(d, new, &old, Some("default"), "w", FieldValidation::Strict)
            .expect("update");
        assert_eq!(out["metadata"]["generation"], 2);
        assert_eq!(out["metadata"]["uid"], "u1");
        assert_eq!(out["status"]["replicas"], 1);
        let mut stale = old.clone();
        stale["metadata"]["resourceVersion"] = json!("4");
        assert_eq!(
            prepare_update(
                d,
                stale,
                &old,
                Some("default"),
                "w",
                FieldValidation::Strict
            )
            .expect_err("stale")
            .code(),
            409
        );
    }
}
