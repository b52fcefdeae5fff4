//! Container-level rules of `pkg/apis/core/validation/validation.go`:
//! `validateContainerCommon`, ports, env, probes and handlers, volume mounts
//! and resource requirements.

use super::meta::push_duplicate;
use super::{
    ErrorType, FieldError, arr, as_int, child, err, forbidden, has, index, int, invalid,
    invalid_each, names, nonnegative, not_supported, required, sz,
};
use serde_json::Value;

/// Protocols accepted for container, service and endpoint ports (sorted).
pub(crate) const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// `validateContainerCommon`: name, image, terminationMessagePolicy, ports,
/// env, envFrom, volume mounts, pull policy, resources, security context.
pub(crate) fn validate_container_common(
    c: &Value,
    volumes: &[String],
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let name = sz(c, "name");
    let name_path = child(path, "name");
    if name.is_empty() {
        errs.push(required(name_path, ""));
    } else {
        invalid_each(&name_path, name, names::dns1123_label(name), errs);
    }
    if sz(c, "image").is_empty() {
        errs.push(required(child(path, "image"), ""));
    }
    match sz(c, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(required(child(path, "terminationMessagePolicy"), "")),
        other => errs.push(not_supported(
            child(path, "terminationMessagePolicy"),
            Value::from(other),
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_container_ports(arr(c, "ports"), &child(path, "ports"), errs);
    validate_env(arr(c, "env"), &child(path, "env"), errs);
    validate_env_from(arr(c, "envFrom"), &child(path, "envFrom"), errs);
    validate_volume_mounts(
        arr(c, "volumeMounts"),
        volumes,
        &child(path, "volumeMounts"),
        errs,
    );
    match sz(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(required(child(path, "imagePullPolicy"), "")),
        other => errs.push(not_supported(
            child(path, "imagePullPolicy"),
            Value::from(other),
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    if let Some(r) = c.get("resources") {
        super::resources::validate_resources(r, &child(path, "resources"), errs);
    }
    if let Some(sc) = c.get("securityContext") {
        super::resources::validate_security_context(sc, &child(path, "securityContext"), errs);
    }
}

/// `validateContainerPorts`.
fn validate_container_ports(ports: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    let mut names_seen: Vec<String> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = index(path, i);
        let name = sz(p, "name");
        if !name.is_empty() {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                invalid_each(&child(&ip, "name"), name, msgs, errs);
            } else {
                push_duplicate(&mut names_seen, name, child(&ip, "name"), errs);
            }
        }
        match int(p, "containerPort") {
            None | Some(0) => errs.push(required(child(&ip, "containerPort"), "")),
            Some(n) => port_num_errs(n, &child(&ip, "containerPort"), errs),
        }
        if let Some(h) = int(p, "hostPort").filter(|h| *h != 0) {
            port_num_errs(h, &child(&ip, "hostPort"), errs);
        }
        protocol(p, &ip, errs);
    }
}

/// Protocol required and one of TCP/UDP/SCTP.
pub(crate) fn protocol(p: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match sz(p, "protocol") {
        "" => errs.push(required(child(path, "protocol"), "")),
        "TCP" | "UDP" | "SCTP" => {}
        other => errs.push(not_supported(
            child(path, "protocol"),
            Value::from(other),
            &PROTOCOLS,
        )),
    }
}

/// `IsValidPortNum` wrapped in Invalid errors.
pub(crate) fn port_num_errs(n: i64, path: &str, errs: &mut Vec<FieldError>) {
    for m in names::port_num(n) {
        errs.push(invalid(path.to_string(), Value::from(n), &m));
    }
}

/// `ValidatePortNumOrName` for an int-or-string value.
pub(crate) fn port_num_or_name(v: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    match v {
        Some(Value::String(s)) => invalid_each(path, s, names::port_name(s), errs),
        Some(n) => port_num_errs(as_int(n).unwrap_or(0), path, errs),
        None => port_num_errs(0, path, errs),
    }
}

/// `ValidateEnv`.
fn validate_env(env: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, e) in env.iter().enumerate() {
        let ip = index(path, i);
        let name = sz(e, "name");
        if name.is_empty() {
            errs.push(required(child(&ip, "name"), ""));
        } else {
            invalid_each(&child(&ip, "name"), name, names::env_var_name(name), errs);
        }
        let Some(vf) = e.get("valueFrom").filter(|v| !v.is_null()) else {
            continue;
        };
        let vp = child(&ip, "valueFrom");
        let mut n = 0;
        if let Some(fr) = vf.get("fieldRef") {
            n += 1;
            let fp = child(&vp, "fieldRef");
            field_selector(fr, &fp, errs);
        }
        for (k, name_required) in [
            ("resourceFieldRef", false),
            ("configMapKeyRef", true),
            ("secretKeyRef", true),
        ] {
            let Some(r) = vf.get(k) else { continue };
            n += 1;
            let rp = child(&vp, k);
            if name_required {
                let nm = sz(r, "name");
                invalid_each(
                    &child(&rp, "name"),
                    nm,
                    names::name_subdomain(nm, false),
                    errs,
                );
                let kk = sz(r, "key");
                if kk.is_empty() {
                    errs.push(required(child(&rp, "key"), ""));
                } else {
                    invalid_each(&child(&rp, "key"), kk, names::config_map_key(kk), errs);
                }
            } else if sz(r, "resource").is_empty() {
                errs.push(required(child(&rp, "resource"), ""));
            }
        }
        if n == 0 {
            errs.push(invalid(vp, Value::from(""), "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if !sz(e, "value").is_empty() {
            errs.push(invalid(
                vp,
                Value::from(""),
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(invalid(
                vp,
                Value::from(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// Field paths an env var may select (`validEnvDownwardAPIFieldPathExpressions`, sorted).
const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `validateObjectFieldSelector` with `podshelper.ConvertDownwardAPIFieldLabel`.
fn field_selector(fr: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let version = sz(fr, "apiVersion");
    let fp = sz(fr, "fieldPath");
    if version.is_empty() {
        errs.push(required(child(path, "apiVersion"), ""));
        return;
    }
    if fp.is_empty() {
        errs.push(required(child(path, "fieldPath"), ""));
        return;
    }
    let conv_err = |m: String, errs: &mut Vec<FieldError>| {
        errs.push(invalid(
            child(path, "fieldPath"),
            Value::from(fp),
            &format!("error converting fieldPath: {m}"),
        ));
    };
    if version != "v1" {
        return conv_err(format!("unsupported pod version: {version}"), errs);
    }
    // fieldpath.SplitMaybeSubscriptedPath: `path['subscript']`.
    if let Some((base, rest)) = fp.split_once("['") {
        if let Some(sub) = rest.strip_suffix("']") {
            match base {
                "metadata.annotations" => invalid_each(
                    path,
                    &sub.to_lowercase(),
                    names::qualified_name(&sub.to_lowercase()),
                    errs,
                ),
                "metadata.labels" => invalid_each(path, sub, names::qualified_name(sub), errs),
                _ => conv_err(
                    format!("field label does not support subscript: {fp}"),
                    errs,
                ),
            }
            return;
        }
    }
    let converted = match fp {
        "spec.host" => "spec.nodeName",
        "metadata.annotations"
        | "metadata.labels"
        | "metadata.name"
        | "metadata.namespace"
        | "metadata.uid"
        | "spec.nodeName"
        | "spec.restartPolicy"
        | "spec.serviceAccountName"
        | "spec.schedulerName"
        | "status.phase"
        | "status.hostIP"
        | "status.hostIPs"
        | "status.podIP"
        | "status.podIPs" => fp,
        _ => return conv_err(format!("field label not supported: {fp}"), errs),
    };
    if !ENV_FIELD_PATHS.contains(&converted) {
        errs.push(not_supported(
            child(path, "fieldPath"),
            Value::from(converted),
            &ENV_FIELD_PATHS,
        ));
    }
}

/// `ValidateEnvFrom`.
fn validate_env_from(list: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, e) in list.iter().enumerate() {
        let ip = index(path, i);
        let prefix = sz(e, "prefix");
        if !prefix.is_empty() {
            invalid_each(
                &child(&ip, "prefix"),
                prefix,
                names::env_var_name(prefix),
                errs,
            );
        }
        let mut n = 0;
        for k in ["configMapRef", "secretRef"] {
            if let Some(r) = e.get(k).filter(|v| !v.is_null()) {
                n += 1;
                let nm = sz(r, "name");
                if nm.is_empty() {
                    errs.push(required(child(&child(&ip, k), "name"), ""));
                } else {
                    invalid_each(
                        &child(&child(&ip, k), "name"),
                        nm,
                        names::name_subdomain(nm, true),
                        errs,
                    );
                }
            }
        }
        if n == 0 {
            errs.push(invalid(
                path.to_string(),
                Value::from(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(invalid(
                path.to_string(),
                Value::from(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// `ValidateVolumeMounts`: the volume must exist (NotFound), mountPath
/// required and unique.
fn validate_volume_mounts(
    mounts: &[Value],
    volumes: &[String],
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut points: Vec<String> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let ip = index(path, i);
        let name = sz(m, "name");
        if name.is_empty() {
            errs.push(required(child(&ip, "name"), ""));
        }
        if !volumes.iter().any(|v| v == name) {
            errs.push(err(
                ErrorType::NotFound,
                child(&ip, "name"),
                Some(Value::from(name)),
                "",
            ));
        }
        let mp = sz(m, "mountPath");
        if mp.is_empty() {
            errs.push(required(child(&ip, "mountPath"), ""));
        }
        if points.iter().any(|p| p == mp) {
            errs.push(invalid(
                child(&ip, "mountPath"),
                Value::from(mp),
                "must be unique",
            ));
        }
        points.push(mp.to_string());
        let (sp, spe) = (sz(m, "subPath"), sz(m, "subPathExpr"));
        if !sp.is_empty() {
            local_descending_path(sp, &child(path, "subPath"), errs);
        }
        if !spe.is_empty() {
            if !sp.is_empty() {
                errs.push(invalid(
                    child(&ip, "subPathExpr"),
                    Value::from(spe),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(spe, &child(path, "subPathExpr"), errs);
        }
    }
}

/// `validateLocalDescendingPath`: relative, no '..' element.
pub(crate) fn local_descending_path(p: &str, path: &str, errs: &mut Vec<FieldError>) {
    if p.starts_with('/') {
        errs.push(invalid(
            path.to_string(),
            Value::from(p),
            "must be a relative path",
        ));
    }
    if p.split(['/', '\\']).any(|e| e == "..") {
        errs.push(invalid(
            path.to_string(),
            Value::from(p),
            "must not contain '..'",
        ));
    }
}

// ---------------------------------------------------------------------------
// Probes and lifecycle handlers.

/// Which probe: liveness and startup need successThreshold 1, readiness may
/// not set terminationGracePeriodSeconds.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// `validateLivenessProbe` / `validateReadinessProbe` / `validateStartupProbe`.
pub(crate) fn validate_probe(
    p: &Value,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if p.is_null() {
        return;
    }
    validate_handler(p, false, grace, path, errs);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        nonnegative(int(p, f).unwrap_or(0), child(path, f), errs);
    }
    if let Some(t) = int(p, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(invalid(
                child(path, "terminationGracePeriodSeconds"),
                Value::from(t),
                "must be greater than 0",
            ));
        }
    }
    let success = int(p, "successThreshold").unwrap_or(0);
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup if success != 1 => {
            errs.push(invalid(
                child(path, "successThreshold"),
                Value::from(success),
                "must be 1",
            ));
        }
        ProbeKind::Readiness if has(p, "terminationGracePeriodSeconds") => {
            errs.push(invalid(
                child(path, "terminationGracePeriodSeconds"),
                p.get("terminationGracePeriodSeconds")
                    .cloned()
                    .unwrap_or(Value::Null),
                "must not be set for readinessProbes",
            ));
        }
        _ => {}
    }
}

/// `validateLifecycle`.
pub(crate) fn validate_lifecycle(
    l: &Value,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    for k in ["postStart", "preStop"] {
        if let Some(h) = l.get(k).filter(|v| !v.is_null()) {
            validate_handler(h, true, grace, &child(path, k), errs);
        }
    }
}

/// `validateHandler`: exactly one of exec/httpGet/tcpSocket/grpc (probes) or
/// exec/httpGet/tcpSocket/sleep (lifecycle).
fn validate_handler(
    h: &Value,
    lifecycle: bool,
    grace: Option<i64>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    let mut n = 0;
    for k in kinds {
        let Some(v) = h.get(*k).filter(|v| !v.is_null()) else {
            continue;
        };
        let p = child(path, k);
        if n > 0 {
            errs.push(forbidden(p, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *k {
            "exec" if arr(v, "command").is_empty() => errs.push(required(child(&p, "command"), "")),
            "httpGet" => {
                if sz(v, "path").is_empty() {
                    errs.push(required(child(&p, "path"), ""));
                }
                port_num_or_name(v.get("port"), &child(&p, "port"), errs);
                let scheme = sz(v, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(not_supported(
                        child(&p, "scheme"),
                        Value::from(scheme),
                        &["HTTP", "HTTPS"],
                    ));
                }
                for hd in arr(v, "httpHeaders") {
                    let hn = sz(hd, "name");
                    invalid_each(
                        &child(&p, "httpHeaders"),
                        hn,
                        names::http_header_name(hn),
                        errs,
                    );
                }
            }
            "tcpSocket" => port_num_or_name(v.get("port"), &child(&p, "port"), errs),
            "grpc" => port_num_errs(int(v, "port").unwrap_or(0), &child(&p, "port"), errs),
            "sleep" => {
                let secs = int(v, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs <= 0 || secs > g {
                        errs.push(invalid(p, Value::from(secs), &format!(
                            "must be greater than 0 and less than terminationGracePeriodSeconds ({g}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path.to_string(), "must specify a handler type"));
    }
}
