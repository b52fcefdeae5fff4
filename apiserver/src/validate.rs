//! Validation of built-in kinds, as kube-apiserver 1.32 performs it after
//! defaulting: pure functions over the object's JSON that return the same
//! field errors (type, field path, bad value, detail) as upstream
//! `k8s.io/kubernetes/pkg/apis/*/validation` and apimachinery's
//! `pkg/api/validation` + `pkg/util/validation`, so a Status built from them
//! reads like the real server's `422 Invalid` response.
//!
//! The entry points are [`validate_create`] and [`validate_update`]. Kinds
//! without specific rules get the generic metadata checks that the generic
//! registry (`rest.BeforeCreate`) applies to every object. Wrong JSON types
//! never panic: a field of an unexpected type is treated as absent (the server
//! rejects type mismatches with 400 before calling us).

mod apps;
mod container;
mod core;
mod meta;
mod names;
mod network;
mod pod;
mod quantity;
mod resources;
mod service;
#[cfg(test)]
mod testutil;
mod volume;

pub(crate) use names::{label_value, qualified_name};

use serde_json::Value;
use std::fmt;

/// The kind of a field error, serialised in Status causes as `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A required value is missing (`FieldValueRequired`).
    Required,
    /// A malformed or out-of-range value (`FieldValueInvalid`).
    Invalid,
    /// A value that must be unique is repeated (`FieldValueDuplicate`).
    Duplicate,
    /// A value outside an enumeration (`FieldValueNotSupported`).
    NotSupported,
    /// A value not permitted in the current context (`FieldValueForbidden`).
    Forbidden,
    /// A value that is too long (`FieldValueTooLong`).
    TooLong,
    /// A list with too many items (`FieldValueTooMany`).
    TooMany,
    /// A reference to something that does not exist (`FieldValueNotFound`):
    /// upstream uses it for volume mounts naming an unknown volume, so it is
    /// needed to report those faithfully.
    NotFound,
}

impl ErrorType {
    /// The machine-readable reason: "FieldValueRequired", "FieldValueInvalid",
    /// "FieldValueDuplicate", "FieldValueNotSupported", "FieldValueForbidden",
    /// "FieldValueTooLong", "FieldValueTooMany" or "FieldValueNotFound".
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotFound => "FieldValueNotFound",
        }
    }

    /// The human-readable prefix, as `field.ErrorType.String()`.
    fn label(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::NotFound => "Not found",
        }
    }
}

/// One field error, as apimachinery's field.Error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What went wrong.
    pub error_type: ErrorType,
    /// The JSON path of the field, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The offending value, where upstream reports one.
    pub bad_value: Option<Value>,
    /// The explanation, possibly empty.
    pub detail: String,
}

impl FieldError {
    /// The cause message without the field, exactly as field.Error.ErrorBody():
    /// e.g. `Required value`, `Invalid value: "Foo_bar": a lowercase RFC 1123 ...`,
    /// `Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"`,
    /// `Duplicate value: "http"`, `Invalid value: 70000: must be between 1 and 65535, inclusive`,
    /// `Forbidden: ...`.
    pub fn body(&self) -> String {
        // ErrorBody prints no value for these types (field/errors.go).
        let mut s = match self.error_type {
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong => {
                self.error_type.label().to_string()
            }
            _ => format!(
                "{}: {}",
                self.error_type.label(),
                render_value(self.bad_value.as_ref())
            ),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Renders a bad value the way Go's `%v`/`%q`/`%#v` does in ErrorBody for the
/// shapes our values take: strings quoted, numbers and booleans bare, string
/// maps and string lists in Go literal syntax, anything else as compact JSON.
fn render_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".to_string(),
        Some(Value::String(s)) => go_quote(s),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v.as_str().unwrap_or(""))))
                .collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            let parts: Vec<String> = a
                .iter()
                .map(|v| go_quote(v.as_str().unwrap_or("")))
                .collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
        Some(other) => other.to_string(),
    }
}

/// The warnings of a write that validation lets through, as `GetWarningsForPodTemplate`
/// (pkg/api/pod/warnings.go) gives them for a template's negative grace period (a Pod's
/// own is made 1 when decoded, see `defaults`).
pub fn warnings(kind: &str, obj: &Value) -> Vec<String> {
    let grace = match kind {
        "Deployment" | "ReplicaSet" => {
            &obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        }
        _ => return Vec::new(),
    };
    match grace.as_i64() {
        Some(g) if g < 0 => vec![
            "spec.template.spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1".into(),
        ],
        _ => Vec::new(),
    }
}

/// Quotes a string like Go's `strconv.Quote`.
fn go_quote(s: &str) -> String {
    crate::strconv::quote(s)
}

/// Whether a kind is namespaced: `Some(false)` for the built-in
/// cluster-scoped kinds, `Some(true)` for the namespaced kinds this module
/// knows, `None` for anything else (its namespace is then not checked here;
/// the server's routing decides it).
pub fn namespaced(kind: &str) -> Option<bool> {
    const CLUSTER_SCOPED: &[&str] = &[
        "Namespace",
        "Node",
        "PersistentVolume",
        "ComponentStatus",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "CustomResourceDefinition",
        "APIService",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "CertificateSigningRequest",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "IPAddress",
        "ServiceCIDR",
        "DeviceClass",
        "ResourceSlice",
        "TokenReview",
        "SelfSubjectReview",
        "SubjectAccessReview",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
    ];
    const NAMESPACED: &[&str] = &[
        "Pod",
        "Service",
        "Deployment",
        "ReplicaSet",
        "ConfigMap",
        "Secret",
        "Endpoints",
        "EndpointSlice",
        "NetworkPolicy",
        "Event",
        "ServiceAccount",
        "PersistentVolumeClaim",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Ingress",
        "Role",
        "RoleBinding",
        "LimitRange",
        "ResourceQuota",
        "PodTemplate",
        "ReplicationController",
        "Lease",
        "ControllerRevision",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ];
    if CLUSTER_SCOPED.contains(&kind) {
        Some(false)
    } else if NAMESPACED.contains(&kind) {
        Some(true)
    } else {
        None
    }
}

/// Validation of a new object (after defaulting). Namespaced-ness comes from
/// [`namespaced`]: a namespaced kind must have metadata.namespace set to a
/// valid DNS-1123 label, a cluster-scoped kind must not set one. The caller is
/// expected to have copied the request's namespace into the object, as the
/// real server does before validating.
pub fn validate_create(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = namespaced(kind).unwrap_or(true);
    match kind {
        "Pod" => pod::validate_pod(obj, ns, &mut errs),
        "Service" => service::validate_service(obj, ns, &mut errs),
        "Deployment" => apps::validate_deployment(obj, ns, &mut errs),
        "ReplicaSet" => apps::validate_replica_set(obj, ns, &mut errs),
        "Namespace" => core::validate_namespace(obj, ns, &mut errs),
        "ConfigMap" => core::validate_config_map(obj, ns, &mut errs),
        "Secret" => core::validate_secret(obj, ns, &mut errs),
        "Endpoints" => network::validate_endpoints(obj, ns, &mut errs),
        "EndpointSlice" => network::validate_endpoint_slice(obj, ns, &mut errs),
        "NetworkPolicy" => network::validate_network_policy(obj, ns, &mut errs),
        "Event" => core::validate_event(obj, &mut errs),
        "Node" => core::validate_node(obj, ns, &mut errs),
        _ => {}
    }
    // rest.BeforeCreate runs the generic ObjectMeta validation (with the
    // path-segment name rule) only after the kind's own validation passed.
    if errs.is_empty() {
        meta::validate_generic_meta(obj, namespaced(kind), &mut errs);
    }
    errs
}

/// Validation of an update: everything of create plus the immutable-field
/// rules against `old`. `metadata.resourceVersion` is not required: every
/// kind here allows unconditional updates, where the store supplies it.
pub fn validate_update(kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    meta::validate_object_meta_update(new, old, &mut errs);
    match kind {
        "Pod" => pod::validate_pod_update(new, old, &mut errs),
        "Service" => service::validate_service_update(new, old, &mut errs),
        "Deployment" | "ReplicaSet" => apps::validate_selector_update(new, old, &mut errs),
        "ConfigMap" => core::validate_config_map_update(new, old, &mut errs),
        "Secret" => core::validate_secret_update(new, old, &mut errs),
        "EndpointSlice" => network::validate_endpoint_slice_update(new, old, &mut errs),
        "Node" => core::validate_node_update(new, old, &mut errs),
        _ => {}
    }
    errs.extend(validate_create(kind, new));
    errs
}

// ---------------------------------------------------------------------------
// Shared helpers for the submodules.

/// Field-path builder: mirrors field.Path's Child/Index/Key rendering.
pub(crate) fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `base[key]`.
pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// Builds an error.
pub(crate) fn err(t: ErrorType, field: String, value: Option<Value>, detail: &str) -> FieldError {
    FieldError {
        error_type: t,
        field,
        bad_value: value,
        detail: detail.to_string(),
    }
}

/// `field.Required(path, detail)`.
pub(crate) fn required(field: String, detail: &str) -> FieldError {
    err(ErrorType::Required, field, None, detail)
}

/// `field.Forbidden(path, detail)`.
pub(crate) fn forbidden(field: String, detail: &str) -> FieldError {
    err(ErrorType::Forbidden, field, None, detail)
}

/// `field.Invalid(path, value, detail)`.
pub(crate) fn invalid(field: String, value: Value, detail: &str) -> FieldError {
    err(ErrorType::Invalid, field, Some(value), detail)
}

/// `field.Duplicate(path, value)`.
pub(crate) fn duplicate(field: String, value: Value) -> FieldError {
    err(ErrorType::Duplicate, field, Some(value), "")
}

/// `field.NotSupported(path, value, valid)`: the detail lists the quoted
/// valid values in the given order (callers pass upstream's sorted order).
pub(crate) fn not_supported(field: String, value: Value, valid: &[&str]) -> FieldError {
    let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
    let detail = if valid.is_empty() {
        String::new()
    } else {
        format!("supported values: {}", quoted.join(", "))
    };
    FieldError {
        error_type: ErrorType::NotSupported,
        field,
        bad_value: Some(value),
        detail,
    }
}

/// `field.TooLong(path, _, max)`.
pub(crate) fn too_long(field: String, max: usize) -> FieldError {
    err(
        ErrorType::TooLong,
        field,
        None,
        &format!("may not be more than {max} bytes"),
    )
}

/// `field.TooMany(path, actual, max)`.
pub(crate) fn too_many(field: String, actual: usize, max: usize) -> FieldError {
    err(
        ErrorType::TooMany,
        field,
        Some(Value::from(actual)),
        &format!("must have at most {max} items"),
    )
}

/// `ValidateNonnegativeField`.
pub(crate) fn nonnegative(v: i64, field: String, errs: &mut Vec<FieldError>) {
    if v < 0 {
        errs.push(invalid(
            field,
            Value::from(v),
            "must be greater than or equal to 0",
        ));
    }
}

/// Pushes one Invalid error per message, like the `for _, msg := range` loops upstream.
pub(crate) fn invalid_each(
    field: &str,
    value: &str,
    msgs: Vec<String>,
    errs: &mut Vec<FieldError>,
) {
    for m in msgs {
        errs.push(invalid(field.to_string(), Value::from(value), &m));
    }
}

/// The string at `key` of an object, if present and a string.
pub(crate) fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The string at `key`, or "" (Go's zero value).
pub(crate) fn sz<'a>(v: &'a Value, k: &str) -> &'a str {
    s(v, k).unwrap_or("")
}

/// The integer at `key`, if present and integral.
pub(crate) fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(as_int)
}

/// An integral JSON number as i64 (floats with no fraction count too).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
        _ => None,
    }
}

/// The object at `key`, if present and an object.
pub(crate) fn obj<'a>(v: &'a Value, k: &str) -> Option<&'a serde_json::Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}

/// The array at `key`, or an empty slice.
pub(crate) fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Whether `key` is present and not null (Go: pointer non-nil).
pub(crate) fn has(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

/// The boolean at `key`, or false.
pub(crate) fn boolean(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// `metadata` of an object (or Null).
pub(crate) fn metadata(v: &Value) -> &Value {
    v.get("metadata").unwrap_or(&Value::Null)
}

#[cfg(test)]
mod tests {
    use super::testutil::errors;
    use super::*;
    use serde_json::json;

    /// (kind, object, field, exact body) for message fidelity.
    #[test]
    fn bodies() {
        let pod = |c: Value| json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [c]}});
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            (
                "ConfigMap",
                json!({"metadata": {"name": "Foo_bar", "namespace": "d"}}),
                "metadata.name",
                "Invalid value: \"Foo_bar\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ),
            (
                "Pod",
                pod(json!({"name": "a"})),
                "spec.containers[0].image",
                "Required value",
            ),
            (
                "Pod",
                json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x"}]}}),
                "spec.restartPolicy",
                "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ),
            (
                "Pod",
                pod(json!({"name": "a", "image": "x", "ports": [{"containerPort": 70000}]})),
                "spec.containers[0].ports[0].containerPort",
                "Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
            (
                "Pod",
                pod(
                    json!({"name": "a", "image": "x", "ports": [{"containerPort": 1, "name": "http"}, {"containerPort": 2, "name": "http"}]}),
                ),
                "spec.containers[0].ports[1].name",
                "Duplicate value: \"http\"",
            ),
            (
                "Pod",
                pod(
                    json!({"name": "a", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}),
                ),
                "spec.containers[0].volumeMounts[0].name",
                "Not found: \"v\"",
            ),
            (
                "Service",
                json!({"metadata": {"name": "s", "namespace": "d"}, "spec": {"ports": [{"port": 80, "nodePort": 30000}]}}),
                "spec.ports[0].nodePort",
                "Forbidden: may not be used when `type` is 'ClusterIP'",
            ),
            (
                "Deployment",
                json!({"metadata": {"name": "d", "namespace": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
                "spec.template.metadata.labels",
                "Invalid value: map[string]string{\"a\":\"c\"}: `selector` does not match template `labels`",
            ),
            (
                "ConfigMap",
                json!({"metadata": {"name": "c", "namespace": "d", "labels": {"k": "v v"}}}),
                "metadata.labels",
                "Invalid value: \"v v\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
        ];
        for (kind, obj, field, body) in cases {
            let errs = errors(kind, obj);
            let e = errs.iter().find(|e| e.field == field);
            let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
            assert_eq!(
                e.map(FieldError::body),
                Some(body.to_string()),
                "{kind} {field}: {got:#?}"
            );
            assert_eq!(e.map(ToString::to_string), Some(format!("{field}: {body}")));
        }
        assert_eq!(ErrorType::TooMany.reason(), "FieldValueTooMany");
        assert_eq!(go_quote("a\"b\n\u{1}"), "\"a\\\"b\\n\\x01\"");
    }

    /// Feeds every kind a range of malformed shapes: no panics, and errors
    /// rather than silence for empty objects of kinds with required fields.
    #[test]
    fn never_panics() {
        let kinds = [
            "Pod",
            "Service",
            "Deployment",
            "ReplicaSet",
            "Namespace",
            "ConfigMap",
            "Secret",
            "Endpoints",
            "EndpointSlice",
            "NetworkPolicy",
            "Event",
            "Node",
            "Other",
        ];
        let shapes = [
            json!(null),
            json!(7),
            json!("x"),
            json!([1, 2]),
            json!({}),
            json!({"metadata": [], "spec": "x", "data": 5, "subsets": {}, "endpoints": "e"}),
            json!({"metadata": {"name": 5, "labels": [1], "annotations": "a", "ownerReferences": {}, "finalizers": [1, null]},
                   "spec": {"containers": [null, 1, {"ports": [null, {"containerPort": "x"}], "env": [1], "resources": {"limits": {"cpu": []}}}],
                            "ports": [{"port": "eighty", "targetPort": {}}], "selector": [1], "template": {"metadata": {"labels": 1}, "spec": []},
                            "strategy": {"rollingUpdate": {"maxSurge": [], "maxUnavailable": {}}}, "replicas": "three",
                            "ingress": [{"from": [1], "ports": [{"port": [], "endPort": "x"}]}], "policyTypes": "x",
                            "podSelector": {"matchExpressions": [1, {"values": 2}]}, "taints": [1], "finalizers": [{}]},
                   "data": {"k": 1, "é/..": null}, "binaryData": {"x": 2}, "subsets": [{"addresses": [1], "ports": [{"port": 1e40}]}],
                   "addressType": 1, "endpoints": [{"addresses": [1, "::ffff:1.2.3.4"]}], "ports": [{"name": 1}]}),
        ];
        for kind in kinds {
            for shape in &shapes {
                let mut v = shape.clone();
                crate::defaults::apply(kind, &mut v);
                let _ = validate_create(kind, &v);
                let _ = validate_update(kind, &v, shape);
            }
        }
        for kind in ["Pod", "Service", "Deployment", "ReplicaSet", "Node"] {
            assert!(!validate_create(kind, &json!({})).is_empty(), "{kind}");
        }
    }
}
