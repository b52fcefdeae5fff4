//! ObjectMeta, labels, annotations, owner references, finalizers and label
//! selectors: apimachinery `pkg/api/validation/objectmeta.go` and
//! `pkg/apis/meta/v1/validation/validation.go`, plus the finalizer rule of
//! `pkg/apis/core/validation.ValidateObjectMeta`.

use super::names;
use super::{
    FieldError, arr, boolean, child, duplicate, forbidden, index, invalid, invalid_each, metadata,
    required, s, sz,
};
use serde_json::Value;

/// A `ValidateNameFunc`: (name, prefix) -> messages.
pub(crate) type NameFn = fn(&str, bool) -> Vec<String>;

/// Total size of all annotation keys and values (`TotalAnnotationSizeLimitB`).
const ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Standard finalizer names without a domain (`helper.IsStandardFinalizerName`).
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// `ValidateObjectMeta` (core flavour, with the kube finalizer rule).
pub(crate) fn validate_object_meta(
    o: &Value,
    requires_namespace: bool,
    name_fn: NameFn,
    errs: &mut Vec<FieldError>,
) {
    let m = metadata(o);
    let gen_name = sz(m, "generateName");
    if !gen_name.is_empty() {
        invalid_each(
            "metadata.generateName",
            gen_name,
            name_fn(gen_name, true),
            errs,
        );
    }
    let name = sz(m, "name");
    if name.is_empty() {
        // The real server generates the name from generateName before
        // validating; without that step there is nothing to check here.
        if gen_name.is_empty() {
            errs.push(required(
                "metadata.name".into(),
                "name or generateName is required",
            ));
        }
    } else {
        invalid_each("metadata.name", name, name_fn(name, false), errs);
    }
    let ns = sz(m, "namespace");
    if requires_namespace {
        if ns.is_empty() {
            errs.push(required("metadata.namespace".into(), ""));
        } else {
            invalid_each("metadata.namespace", ns, names::name_label(ns, false), errs);
        }
    } else if !ns.is_empty() {
        errs.push(forbidden(
            "metadata.namespace".into(),
            "not allowed on this type",
        ));
    }
    if let Some(g) = m.get("generation").and_then(super::as_int) {
        super::nonnegative(g, "metadata.generation".into(), errs);
    }
    validate_labels(m.get("labels"), "metadata.labels", errs);
    validate_annotations(m.get("annotations"), "metadata.annotations", errs);
    validate_owner_references(m, errs);
    validate_finalizers(m, errs);
}

/// The generic registry's ObjectMeta check (`rest.BeforeCreate`): the
/// path-segment name rule for every kind, and the namespace rule when the
/// scope is known.
pub(crate) fn validate_generic_meta(o: &Value, scope: Option<bool>, errs: &mut Vec<FieldError>) {
    match scope {
        Some(ns) => validate_object_meta(o, ns, names::path_segment_name, errs),
        None => {
            // Unknown scope: check everything but the namespace.
            let mut all = Vec::new();
            validate_object_meta(o, true, names::path_segment_name, &mut all);
            errs.extend(all.into_iter().filter(|e| e.field != "metadata.namespace"));
        }
    }
}

/// `ValidateLabels`: keys are qualified names, values label values; errors
/// are reported on the map's path itself, as upstream does.
pub(crate) fn validate_labels(labels: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = labels.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in map {
        invalid_each(path, k, names::qualified_name(k), errs);
        let v = v.as_str().unwrap_or("");
        invalid_each(path, v, names::label_value(v), errs);
    }
}

/// `ValidateAnnotations`: keys (lower-cased) are qualified names; total size
/// of keys and values at most 256 KiB.
pub(crate) fn validate_annotations(ann: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = ann.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in map {
        invalid_each(path, k, names::qualified_name(&k.to_lowercase()), errs);
        total = total
            .saturating_add(k.len())
            .saturating_add(v.as_str().map_or(0, str::len));
    }
    if total > ANNOTATION_SIZE_LIMIT {
        errs.push(super::too_long(path.to_string(), ANNOTATION_SIZE_LIMIT));
    }
}

/// `ValidateOwnerReferences`.
fn validate_owner_references(m: &Value, errs: &mut Vec<FieldError>) {
    let path = "metadata.ownerReferences";
    let refs = arr(m, "ownerReferences");
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = sz(r, "apiVersion");
        let kind = sz(r, "kind");
        // schema.FromAPIVersionAndKind: "group/version" or "version".
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if version.is_empty() {
            errs.push(invalid(
                child(path, "apiVersion"),
                Value::from(api_version),
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(invalid(
                child(path, "kind"),
                Value::from(kind),
                "kind must not be empty",
            ));
        }
        if sz(r, "name").is_empty() {
            errs.push(invalid(
                child(path, "name"),
                Value::from(""),
                "name must not be empty",
            ));
        }
        if sz(r, "uid").is_empty() {
            errs.push(invalid(
                child(path, "uid"),
                Value::from(""),
                "uid must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(invalid(
                path.to_string(),
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if boolean(r, "controller") {
            let cur = format!("{kind}/{}", sz(r, "name"));
            match &first_controller {
                Some(first) => errs.push(invalid(
                    path.to_string(),
                    Value::Array(refs.to_vec()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"
                    ),
                )),
                None => first_controller = Some(cur),
            }
        }
    }
}

/// `ValidateFinalizers` plus core's `validateKubeFinalizerName`.
fn validate_finalizers(m: &Value, errs: &mut Vec<FieldError>) {
    let path = "metadata.finalizers";
    let list = arr(m, "finalizers");
    let mut orphan = false;
    let mut foreground = false;
    for f in list.iter().filter_map(Value::as_str) {
        invalid_each(path, f, names::qualified_name(f), errs);
        orphan |= f == "orphan";
        foreground |= f == "foregroundDeletion";
    }
    if orphan && foreground {
        errs.push(invalid(
            path.to_string(),
            Value::Array(list.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    for (i, f) in list.iter().enumerate() {
        if let Some(f) = f.as_str() {
            kube_finalizer_name(f, &index(path, i), errs);
        }
    }
}

/// `validateKubeFinalizerName`: a finalizer without '/' must be standard.
pub(crate) fn kube_finalizer_name(f: &str, path: &str, errs: &mut Vec<FieldError>) {
    if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
        errs.push(invalid(
            path.to_string(),
            Value::from(f),
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

/// `ValidateObjectMetaUpdate` (minus what the store supplies: generation,
/// creationTimestamp and, for unconditional updates, resourceVersion).
pub(crate) fn validate_object_meta_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (nm, om) = (metadata(new), metadata(old));
    if om.get("deletionTimestamp").is_some_and(|v| !v.is_null()) {
        let old_f: Vec<&str> = arr(om, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut extra: Vec<&str> = arr(nm, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
            errs.push(forbidden(
                "metadata.finalizers".into(),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }
    for f in ["name", "namespace"] {
        if sz(nm, f) != sz(om, f) {
            errs.push(invalid(
                format!("metadata.{f}"),
                Value::from(sz(nm, f)),
                "field is immutable",
            ));
        }
    }
    // BeforeUpdate fills an empty uid from the old object.
    if let Some(uid) = s(nm, "uid").filter(|u| !u.is_empty()) {
        if uid != sz(om, "uid") {
            errs.push(invalid(
                "metadata.uid".into(),
                Value::from(uid),
                "field is immutable",
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Label selectors.

/// `ValidateLabelSelector` (strict: label values in expressions are checked).
pub(crate) fn validate_label_selector(sel: &Value, path: &str, errs: &mut Vec<FieldError>) {
    validate_labels(sel.get("matchLabels"), &child(path, "matchLabels"), errs);
    for (i, e) in arr(sel, "matchExpressions").iter().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        let values = arr(e, "values");
        match sz(e, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(invalid(
                child(&p, "operator"),
                Value::from(op),
                "not a valid selector operator",
            )),
        }
        let k = sz(e, "key");
        invalid_each(&child(&p, "key"), k, names::qualified_name(k), errs);
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            invalid_each(
                &index(&child(&p, "values"), j),
                v,
                names::label_value(v),
                errs,
            );
        }
    }
}

/// One requirement of a parsed selector.
pub(crate) enum Req {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// The result of `metav1.LabelSelectorAsSelector`.
pub(crate) enum Selector {
    /// A nil selector: matches nothing, and is not "empty".
    Nothing,
    /// `{}`: matches everything, and is "empty".
    Everything,
    /// A list of requirements, all of which must hold.
    Reqs(Vec<Req>),
}

impl Selector {
    /// `labels.Selector.Empty()`.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Selector::Everything)
    }

    /// `labels.Selector.Matches(labels)`.
    pub(crate) fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            Selector::Nothing => false,
            Selector::Everything => true,
            Selector::Reqs(reqs) => reqs.iter().all(|r| match r {
                Req::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
                Req::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
                Req::Exists(k) => get(k).is_some(),
                Req::DoesNotExist(k) => get(k).is_none(),
            }),
        }
    }
}

/// `metav1.LabelSelectorAsSelector`: None when the selector cannot be
/// converted (bad operator, key or value), as upstream returns an error.
pub(crate) fn selector_from(sel: Option<&Value>) -> Option<Selector> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return Some(Selector::Nothing);
    };
    let labels = sel.get("matchLabels").and_then(Value::as_object);
    let exprs = arr(sel, "matchExpressions");
    if labels.is_none_or(|l| l.is_empty()) && exprs.is_empty() {
        return Some(Selector::Everything);
    }
    let valid_key = |k: &str| names::qualified_name(k).is_empty();
    let valid_val = |v: &str| names::label_value(v).is_empty();
    let mut reqs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        let v = v.as_str()?;
        if !valid_key(k) || !valid_val(v) {
            return None;
        }
        reqs.push(Req::In(k.clone(), vec![v.to_string()]));
    }
    for e in exprs {
        let k = sz(e, "key").to_string();
        if !valid_key(&k) {
            return None;
        }
        let mut vals = Vec::new();
        for v in arr(e, "values") {
            let v = v.as_str()?;
            if !valid_val(v) {
                return None;
            }
            vals.push(v.to_string());
        }
        reqs.push(match sz(e, "operator") {
            "In" if !vals.is_empty() => Req::In(k, vals),
            "NotIn" if !vals.is_empty() => Req::NotIn(k, vals),
            "Exists" if vals.is_empty() => Req::Exists(k),
            "DoesNotExist" if vals.is_empty() => Req::DoesNotExist(k),
            _ => return None,
        });
    }
    Some(Selector::Reqs(reqs))
}

/// Reports duplicate string values in a list, as a helper for name sets.
pub(crate) fn push_duplicate(
    seen: &mut Vec<String>,
    name: &str,
    path: String,
    errs: &mut Vec<FieldError>,
) {
    if seen.iter().any(|n| n == name) {
        errs.push(duplicate(path, Value::from(name)));
    } else {
        seen.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::check;
    use serde_json::json;

    #[test]
    fn metadata_rules() {
        let cm = |m: serde_json::Value| json!({"apiVersion":"v1","kind":"ConfigMap","metadata":m});
        check(
            "ConfigMap",
            cm(json!({"name":"ok","namespace":"default"})),
            &[],
        );
        check(
            "ConfigMap",
            cm(json!({"namespace":"default"})),
            &["metadata.name"],
        );
        check(
            "ConfigMap",
            cm(json!({"generateName":"x-","namespace":"default"})),
            &[],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"Foo_bar","namespace":"default"})),
            &["metadata.name"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a"})),
            &["metadata.namespace"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"Bad"})),
            &["metadata.namespace"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","labels":{"a b":"x"}})),
            &["metadata.labels"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","labels":{"k":"-v"}})),
            &["metadata.labels"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","annotations":{"a/b/c":"x"}})),
            &["metadata.annotations"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","annotations":{"big":"x".repeat(262_144)}})),
            &["metadata.annotations"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","finalizers":["foo"]})),
            &["metadata.finalizers[0]"],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","finalizers":["example.com/x"]})),
            &[],
        );
        check(
            "ConfigMap",
            cm(
                json!({"name":"a","namespace":"d","ownerReferences":[{"apiVersion":"","kind":"","name":"","uid":""}]}),
            ),
            &[
                "metadata.ownerReferences.apiVersion",
                "metadata.ownerReferences.kind",
                "metadata.ownerReferences.name",
                "metadata.ownerReferences.uid",
            ],
        );
        check(
            "ConfigMap",
            cm(json!({"name":"a","namespace":"d","ownerReferences":[
            {"apiVersion":"v1","kind":"A","name":"x","uid":"1","controller":true},
            {"apiVersion":"v1","kind":"B","name":"y","uid":"2","controller":true}]})),
            &["metadata.ownerReferences"],
        );
        check(
            "Widget",
            json!({"metadata":{"name":"a/b","namespace":"d"}}),
            &["metadata.name"],
        );
        check(
            "Widget",
            json!({"metadata":{"name":"Any_Name","namespace":"d"}}),
            &[],
        );
        check(
            "Node",
            json!({"metadata":{"name":"n","namespace":"d"}}),
            &["metadata.namespace"],
        );
    }
}
