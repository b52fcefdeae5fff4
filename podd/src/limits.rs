//! Resource limits: a pod's memory and CPU limits written to its cgroup (`memory.max`,
//! `cpu.max`) where the cgroup2 controllers are available, and a warning where they are not
//! (a hybrid host's unified hierarchy has no controllers: cgroup-v2.rst "Controllers").

use std::path::Path;

use serde_json::Value;

/// A memory quantity in bytes (`128Mi`, `1G`, `512000`), `None` if unparsable.
pub fn bytes(quantity: &str) -> Option<u64> {
    let q = quantity.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let unit: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        _ => return None,
    };
    Some((n * unit) as u64)
}

/// A CPU quantity in millicores (`500m`, `2`, `0.5`).
pub fn millicores(quantity: &str) -> Option<u64> {
    let q = quantity.trim();
    match q.strip_suffix('m') {
        Some(m) => m.parse::<f64>().ok().map(|v| v as u64),
        None => q.parse::<f64>().ok().map(|v| (v * 1000.0) as u64),
    }
}

/// The pod's limits: the sums over its containers, `None` when any container has none (then
/// the pod as a whole is unlimited, as the kubelet's pod cgroup is).
pub fn pod_limits(pod: &Value) -> (Option<u64>, Option<u64>) {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sum = |field: &str, parse: fn(&str) -> Option<u64>| -> Option<u64> {
        containers
            .iter()
            .map(|c| c["resources"]["limits"][field].as_str().and_then(parse))
            .sum::<Option<u64>>()
            .filter(|_| !containers.is_empty())
    };
    (sum("memory", bytes), sum("cpu", millicores))
}

/// Applies the limits to the pod's cgroup; returns a warning when a limit is set but cannot
/// be enforced here.
pub fn apply(pod: &Value, cgroup: Option<&Path>) -> Option<String> {
    let (memory, cpu) = pod_limits(pod);
    if memory.is_none() && cpu.is_none() {
        return None;
    }
    let Some(dir) = cgroup else {
        return Some("resource limits are not enforced: no cgroup2 hierarchy on this host".into());
    };
    let mut missing = Vec::new();
    if let Some(memory) = memory {
        if std::fs::write(dir.join("memory.max"), memory.to_string()).is_err() {
            missing.push("memory");
        }
    }
    if let Some(cpu) = cpu {
        // cpu.max is "<quota> <period>" in microseconds; 1000 millicores = one full period.
        let period = 100_000u64;
        if std::fs::write(
            dir.join("cpu.max"),
            format!("{} {period}", cpu * period / 1000),
        )
        .is_err()
        {
            missing.push("cpu");
        }
    }
    (!missing.is_empty()).then(|| {
        format!(
            "{} limits are not enforced: the cgroup2 hierarchy of {} has no {} controller (a hybrid cgroup host keeps them in cgroup v1)",
            missing.join(" and "),
            dir.display(),
            missing.join("/")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(bytes("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("512"), Some(512));
        assert_eq!(bytes("1x"), None);
        assert_eq!(millicores("500m"), Some(500));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("0.25"), Some(250));
    }

    #[test]
    fn pod_limits_need_every_container() {
        let limited = json!({"spec": {"containers": [
            {"resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}},
            {"resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}]}});
        assert_eq!(pod_limits(&limited), (Some(128 * 1024 * 1024), Some(500)));
        let partly =
            json!({"spec": {"containers": [{"resources": {"limits": {"memory": "64Mi"}}}, {}]}});
        assert_eq!(pod_limits(&partly), (None, None));
        assert!(apply(&json!({"spec": {"containers": [{}]}}), None).is_none());
        assert!(apply(&limited, None).is_some());
    }
}
