//! Deployment and ReplicaSet rules of `pkg/apis/apps/validation/validation.go`
//! (`ValidateDeploymentSpec`, `ValidateReplicaSetSpec`,
//! `ValidatePodTemplateSpecForReplicaSet`, `ValidateDeploymentStrategy`) and
//! the selector immutability enforced by the apps/v1 registry strategies
//! (`pkg/registry/apps/{deployment,replicaset}/strategy.go`).

use super::meta::{self, Selector};
use super::pod;
use super::{
    FieldError, forbidden, int, invalid, metadata, names, nonnegative, not_supported, obj,
    required, sz,
};
use serde_json::Value;

/// `ValidateDeployment`.
pub(crate) fn validate_deployment(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    common_spec(spec, "Deployment", errs);
    validate_strategy(spec.get("strategy").unwrap_or(&Value::Null), errs);
    let min_ready = int(spec, "minReadySeconds").unwrap_or(0);
    nonnegative(min_ready, "spec.minReadySeconds".into(), errs);
    if let Some(r) = int(spec, "revisionHistoryLimit") {
        nonnegative(r, "spec.revisionHistoryLimit".into(), errs);
    }
    if let Some(p) = int(spec, "progressDeadlineSeconds") {
        nonnegative(p, "spec.progressDeadlineSeconds".into(), errs);
        if p <= min_ready {
            errs.push(invalid(
                "spec.progressDeadlineSeconds".into(),
                Value::from(p),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

/// `ValidateReplicaSet`.
pub(crate) fn validate_replica_set(o: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    meta::validate_object_meta(o, namespaced, names::name_subdomain, errs);
    let spec = o.get("spec").unwrap_or(&Value::Null);
    nonnegative(
        int(spec, "replicas").unwrap_or(0),
        "spec.replicas".into(),
        errs,
    );
    nonnegative(
        int(spec, "minReadySeconds").unwrap_or(0),
        "spec.minReadySeconds".into(),
        errs,
    );
    selector_and_template(spec, "ReplicaSet", errs);
}

/// replicas (Deployment order: replicas, then selector and template).
fn common_spec(spec: &Value, kind: &str, errs: &mut Vec<FieldError>) {
    nonnegative(
        int(spec, "replicas").unwrap_or(0),
        "spec.replicas".into(),
        errs,
    );
    selector_and_template(spec, kind, errs);
}

/// Selector required and non-empty, must match the template labels; the
/// template is a valid pod template whose restartPolicy is Always.
fn selector_and_template(spec: &Value, kind: &str, errs: &mut Vec<FieldError>) {
    let sel = spec.get("selector").filter(|v| !v.is_null());
    match sel {
        None => errs.push(required("spec.selector".into(), "")),
        Some(sv) => {
            meta::validate_label_selector(sv, "spec.selector", errs);
            let n = obj(sv, "matchLabels").map_or(0, |m| m.len())
                + sv.get("matchExpressions")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
            if n == 0 {
                // Upstream uses the deployment wording for ReplicaSets too.
                errs.push(invalid(
                    "spec.selector".into(),
                    sv.clone(),
                    "empty selector is invalid for deployment",
                ));
            }
        }
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    match meta::selector_from(sel) {
        None => errs.push(invalid(
            "spec.selector".into(),
            sel.cloned().unwrap_or(Value::Null),
            "invalid label selector",
        )),
        // A missing selector converts to `labels.Nothing()` upstream
        // (`metav1.LabelSelectorAsSelector(nil)`), which matches no template.
        Some(selector) => {
            let nothing = sel.is_none_or(Value::is_null);
            template_for_replica_set(template, &selector, nothing, kind, errs)
        }
    }
}

/// `ValidatePodTemplateSpecForReplicaSet`.
fn template_for_replica_set(
    t: &Value,
    selector: &Selector,
    nothing: bool,
    kind: &str,
    errs: &mut Vec<FieldError>,
) {
    let labels = metadata(t).get("labels");
    if nothing || (!selector.is_empty() && !selector.matches(labels)) {
        errs.push(invalid(
            "spec.template.metadata.labels".into(),
            labels.cloned().unwrap_or(Value::Null),
            "`selector` does not match template `labels`",
        ));
    }
    pod::validate_pod_template(t, "spec.template", errs);
    let spec = t.get("spec").unwrap_or(&Value::Null);
    let rp = sz(spec, "restartPolicy");
    if rp != "Always" {
        errs.push(not_supported(
            "spec.template.spec.restartPolicy".into(),
            Value::from(rp),
            &["Always"],
        ));
    }
    if spec
        .get("activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(forbidden(
            "spec.template.spec.activeDeadlineSeconds".into(),
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// `ValidateDeploymentStrategy`.
fn validate_strategy(st: &Value, errs: &mut Vec<FieldError>) {
    let ru = st.get("rollingUpdate").filter(|v| !v.is_null());
    match sz(st, "type") {
        "Recreate" => {
            if ru.is_some() {
                errs.push(forbidden(
                    "spec.strategy.rollingUpdate".into(),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs.push(required(
                "spec.strategy.rollingUpdate".into(),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => validate_rolling_update(ru, errs),
        },
        _ => errs.push(not_supported(
            "spec.strategy".into(),
            st.clone(),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// `ValidateRollingUpdateDeployment`.
fn validate_rolling_update(ru: &Value, errs: &mut Vec<FieldError>) {
    let mu = ru.get("maxUnavailable").unwrap_or(&Value::Null);
    let ms = ru.get("maxSurge").unwrap_or(&Value::Null);
    positive_int_or_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable", errs);
    positive_int_or_percent(ms, "spec.strategy.rollingUpdate.maxSurge", errs);
    if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
        errs.push(invalid(
            "spec.strategy.rollingUpdate.maxUnavailable".into(),
            mu.clone(),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    if percent_value(mu).is_some_and(|p| p > 100) {
        errs.push(invalid(
            "spec.strategy.rollingUpdate.maxUnavailable".into(),
            mu.clone(),
            "must not be greater than 100%",
        ));
    }
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match v {
        Value::String(s) => {
            for m in names::percent(s) {
                errs.push(invalid(path.to_string(), v.clone(), &m));
            }
        }
        other => nonnegative(super::as_int(other).unwrap_or(0), path.to_string(), errs),
    }
}

/// `getPercentValue`.
fn percent_value(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    if !names::percent(s).is_empty() {
        return None;
    }
    Some(s.trim_end_matches('%').parse::<i64>().unwrap_or(i64::MAX))
}

/// `getIntOrPercentValue` (a non-percent string counts as 0, like IntValue()).
fn int_or_percent_value(v: &Value) -> i64 {
    percent_value(v).unwrap_or_else(|| match v {
        Value::String(s) => s.parse().unwrap_or(0),
        other => super::as_int(other).unwrap_or(0),
    })
}

/// `spec.selector` is immutable in apps/v1 (registry strategy ValidateUpdate).
pub(crate) fn validate_selector_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let n = new.pointer("/spec/selector").unwrap_or(&Value::Null);
    let o = old.pointer("/spec/selector").unwrap_or(&Value::Null);
    if n != o {
        errs.push(invalid(
            "spec.selector".into(),
            n.clone(),
            "field is immutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{check, check_update};
    use serde_json::{Value, json};

    fn deploy(kind: &str, spec_patch: Value) -> Value {
        let mut spec = json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        });
        if let (Some(s), Value::Object(p)) = (spec.as_object_mut(), spec_patch) {
            for (k, v) in p {
                s.insert(k, v);
            }
        }
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn deployment_rules() {
        let t = |labels: Value| json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        check("Deployment", deploy("Deployment", json!({})), &[]);
        check(
            "Deployment",
            deploy("Deployment", json!({"selector": null})),
            &["spec.selector", "spec.template.metadata.labels"],
        );
        check(
            "Deployment",
            deploy("Deployment", json!({"selector": {}})),
            &["spec.selector"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"template": t(json!({"app": "other"}))}),
            ),
            &["spec.template.metadata.labels"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}}),
            ),
            &[],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"selector": {"matchExpressions": [{"key": "app", "operator": "Near", "values": ["web"]}]}}),
            ),
            &[
                "spec.selector.matchExpressions[0].operator",
                "spec.selector",
            ],
        );
        check(
            "Deployment",
            deploy("Deployment", json!({"replicas": -1})),
            &["spec.replicas"],
        );
        check(
            "Deployment",
            deploy("Deployment", json!({"minReadySeconds": -1})),
            &["spec.minReadySeconds"],
        );
        check(
            "Deployment",
            deploy("Deployment", json!({"revisionHistoryLimit": -1})),
            &["spec.revisionHistoryLimit"],
        );
        check(
            "Deployment",
            deploy("Deployment", json!({"minReadySeconds": 700})),
            &["spec.progressDeadlineSeconds"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}),
            ),
            &["spec.strategy.rollingUpdate"],
        );
        check(
            "Deployment",
            deploy("Deployment", json!({"strategy": {"type": "Canary"}})),
            &["spec.strategy"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}),
            ),
            &["spec.strategy.rollingUpdate.maxUnavailable"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"strategy": {"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}}),
            ),
            &["spec.strategy.rollingUpdate.maxUnavailable"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"strategy": {"rollingUpdate": {"maxUnavailable": "150%"}}}),
            ),
            &["spec.strategy.rollingUpdate.maxUnavailable"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"strategy": {"rollingUpdate": {"maxSurge": "abc"}}}),
            ),
            &["spec.strategy.rollingUpdate.maxSurge"],
        );
        check(
            "Deployment",
            deploy(
                "Deployment",
                json!({"strategy": {"rollingUpdate": {"maxSurge": -1}}}),
            ),
            &["spec.strategy.rollingUpdate.maxSurge"],
        );
        let mut never = deploy("Deployment", json!({}));
        never["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        check("Deployment", never, &["spec.template.spec.restartPolicy"]);
        let mut noimg = deploy("Deployment", json!({}));
        noimg["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        check(
            "Deployment",
            noimg,
            &["spec.template.spec.containers[0].image"],
        );
        let mut badlabel = deploy("Deployment", json!({}));
        badlabel["spec"]["template"]["metadata"]["labels"]["bad key!"] = json!("x");
        check("Deployment", badlabel, &["spec.template.labels"]);
        check("ReplicaSet", deploy("ReplicaSet", json!({})), &[]);
        check(
            "ReplicaSet",
            deploy("ReplicaSet", json!({"replicas": -2, "selector": null})),
            &[
                "spec.replicas",
                "spec.selector",
                "spec.template.metadata.labels",
            ],
        );
        check(
            "ReplicaSet",
            deploy("ReplicaSet", json!({"template": t(json!({"app": "x"}))})),
            &["spec.template.metadata.labels"],
        );
    }

    #[test]
    fn selector_immutable() {
        let old = deploy("Deployment", json!({}));
        let mut new = deploy("Deployment", json!({"replicas": 3}));
        new["metadata"]["resourceVersion"] = json!("5");
        check_update("Deployment", old.clone(), new.clone(), &[]);
        let mut changed = new.clone();
        changed["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "x"}});
        changed["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
        check_update("Deployment", old, changed.clone(), &["spec.selector"]);
        check_update(
            "ReplicaSet",
            deploy("ReplicaSet", json!({})),
            changed,
            &["spec.selector"],
        );
    }
}
