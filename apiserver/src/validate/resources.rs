//! Resource requirements and security context of a container:
//! `validateResourceRequirements`, `validateContainerResourceName` and the
//! policy-free parts of `ValidateSecurityContext` in
//! `pkg/apis/core/validation/validation.go`.

use super::quantity::{self, Quantity};
use super::{
    FieldError, child, forbidden, int, invalid, invalid_each, key, names, not_supported, obj,
    required, s,
};
use serde_json::Value;

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && names::qualified_name(&format!("requests.{name}")).is_empty()
}

/// `IsOvercommitAllowed`: native, non-hugepages resources.
fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_hugepages(name)
}

/// `validateContainerResourceName`.
fn resource_name(name: &str, path: &str, errs: &mut Vec<FieldError>) {
    let msgs = names::qualified_name(name);
    if !msgs.is_empty() {
        invalid_each(path, name, msgs, errs);
        return;
    }
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(invalid(
                path.to_string(),
                Value::from(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && !is_extended(name) {
        errs.push(invalid(
            path.to_string(),
            Value::from(name),
            "doesn't follow extended resource name standard",
        ));
    }
}

/// Parses one quantity of a resource list, reporting format and sign errors.
fn quantity_of(
    name: &str,
    raw: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Option<Quantity> {
    let shown = match raw {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let Some(q) = quantity::parse_value(raw) else {
        errs.push(invalid(
            path.to_string(),
            Value::from(shown),
            quantity::FORMAT_ERROR,
        ));
        return None;
    };
    if q.0 < 0 {
        errs.push(invalid(
            path.to_string(),
            Value::from(shown.clone()),
            "must be greater than or equal to 0",
        ));
    }
    if is_extended(name) && !q.is_integer() {
        errs.push(invalid(
            path.to_string(),
            Value::from(shown),
            "must be an integer",
        ));
    }
    Some(q)
}

/// `ValidateContainerResourceRequirements`: names, quantities, requests <=
/// limits (equal for non-overcommittable resources).
pub(crate) fn validate_resources(r: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let empty = serde_json::Map::new();
    let limits = obj(r, "limits").unwrap_or(&empty);
    let requests = obj(r, "requests").unwrap_or(&empty);
    let (mut cpu_mem, mut huge) = (false, false);
    let mut lim_q = Vec::new();
    for (name, raw) in limits {
        let p = key(&lim_path, name);
        resource_name(name, &p, errs);
        lim_q.push((name.as_str(), quantity_of(name, raw, &p, errs)));
        huge |= is_hugepages(name);
        cpu_mem |= name == "cpu" || name == "memory";
    }
    for (name, raw) in requests {
        let p = key(&req_path, name);
        resource_name(name, &p, errs);
        let q = quantity_of(name, raw, &p, errs);
        let shown = raw.as_str().map_or_else(|| raw.to_string(), str::to_string);
        match lim_q.iter().find(|(n, _)| *n == name) {
            Some((_, lim)) => {
                let lim_raw = limits.get(name).map_or(String::new(), |v| {
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                });
                if let (Some(q), Some(l)) = (q, *lim) {
                    if q != l && !overcommit_allowed(name) {
                        errs.push(invalid(
                            req_path.clone(),
                            Value::from(shown),
                            &format!("must be equal to {name} limit of {lim_raw}"),
                        ));
                    } else if q > l {
                        errs.push(invalid(
                            req_path.clone(),
                            Value::from(shown),
                            &format!("must be less than or equal to {name} limit of {lim_raw}"),
                        ));
                    }
                }
            }
            None if !overcommit_allowed(name) => {
                errs.push(required(
                    lim_path.clone(),
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
        huge |= is_hugepages(name);
        cpu_mem |= name == "cpu" || name == "memory";
    }
    if huge && !cpu_mem {
        errs.push(forbidden(
            path.to_string(),
            "HugePages require cpu or memory",
        ));
    }
}

/// The parts of `ValidateSecurityContext` that need no cluster policy: user
/// and group ids in range, procMount values, allowPrivilegeEscalation vs privileged.
pub(crate) fn validate_security_context(sc: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for f in ["runAsUser", "runAsGroup"] {
        if let Some(id) = int(sc, f) {
            if !(0..=i64::from(i32::MAX)).contains(&id) {
                errs.push(invalid(
                    child(path, f),
                    Value::from(id),
                    &names::inclusive_range(0, i64::from(i32::MAX)),
                ));
            }
        }
    }
    if let Some(pm) = s(sc, "procMount") {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(not_supported(
                child(path, "procMount"),
                Value::from(pm),
                &["Default", "Unmasked"],
            ));
        }
    }
    let ape = sc.get("allowPrivilegeEscalation").and_then(Value::as_bool);
    let privileged = sc.get("privileged").and_then(Value::as_bool);
    if ape == Some(false) && privileged == Some(true) {
        errs.push(invalid(
            path.to_string(),
            sc.clone(),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
}
