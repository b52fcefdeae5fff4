//! The seed's lesson as a warning: a pod template whose environment holds a literal Pod IP
//! or ClusterIP in use now gets a `Warning:` (kubectl prints it) naming the Service DNS name
//! to use instead. Pod IPs change when pods are replaced, ClusterIPs when a Service is
//! recreated; the DNS name survives both. Writes are never refused for it.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::api::Api;
use crate::resources::{self, Resource};
use crate::selector::{FieldSelector, LabelSelector};

/// The pod spec inside an object of `resource`, with its field path, if it has one.
fn pod_spec<'a>(resource: &Resource, obj: &'a Value) -> Option<(&'a Value, &'static str)> {
    match (resource.group, resource.kind) {
        ("", "Pod") => Some((&obj["spec"], "spec")),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some((&obj["spec"]["template"]["spec"], "spec.template.spec")),
        ("batch", "CronJob") => Some((
            &obj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            "spec.jobTemplate.spec.template.spec",
        )),
        _ => None,
    }
}

/// The IPv4 literals in `text` (`10.96.0.5`, `10.96.0.5:80`, `http://10.96.0.5/x`).
fn ipv4_literals(text: &str) -> Vec<Ipv4Addr> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|token| token.matches('.').count() == 3)
        .filter_map(|token| token.parse().ok())
        .collect()
}

/// Every `env[].value` of the pod spec with an IPv4 literal: (field path, address).
fn env_literals(spec: &Value, spec_path: &str) -> Vec<(String, Ipv4Addr)> {
    let mut found = Vec::new();
    for field in ["initContainers", "containers"] {
        for (i, container) in spec[field].as_array().into_iter().flatten().enumerate() {
            for (j, var) in container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                for ip in ipv4_literals(var["value"].as_str().unwrap_or("")) {
                    found.push((format!("{spec_path}.{field}[{i}].env[{j}].value"), ip));
                }
            }
        }
    }
    found
}

fn all(api: &Api, plural: &str) -> Vec<std::sync::Arc<Value>> {
    let Some(resource) = resources::lookup("", "v1", plural) else {
        return Vec::new();
    };
    api.list(
        resource,
        None,
        &LabelSelector::default(),
        &FieldSelector::default(),
    )
    .0
}

fn short_name(service: &Value) -> String {
    format!(
        "{}.{}",
        service["metadata"]["name"].as_str().unwrap_or(""),
        service["metadata"]["namespace"].as_str().unwrap_or("")
    )
}

fn selects(service: &Value, pod: &Value) -> bool {
    let selector = service["spec"]["selector"].as_object();
    selector
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| pod["metadata"]["labels"][k] == *v))
        && service["metadata"]["namespace"] == pod["metadata"]["namespace"]
}

/// The warnings for `obj`, a write of `resource`: one per env value that holds a current Pod
/// IP or ClusterIP. Cheap when there is none: the lists are read only for a literal.
pub(crate) fn warnings(api: &Api, resource: &Resource, obj: &Value) -> Vec<String> {
    let Some((spec, spec_path)) = pod_spec(resource, obj) else {
        return Vec::new();
    };
    let literals = env_literals(spec, spec_path);
    if literals.is_empty() {
        return Vec::new();
    }
    let domain = &api.cluster().cluster_domain;
    let (services, pods) = (all(api, "services"), all(api, "pods"));
    let mut warnings = Vec::new();
    for (field, ip) in literals {
        let text = ip.to_string();
        let has_ip = |list: &Value| {
            list.as_array().is_some_and(|a| {
                a.iter()
                    .any(|v| v.as_str() == Some(&text) || v["ip"].as_str() == Some(&text))
            })
        };
        if let Some(service) = services.iter().find(|s| has_ip(&s["spec"]["clusterIPs"])) {
            let name = short_name(service);
            warnings.push(format!(
                "{field}: {ip} is the ClusterIP of Service {name}, which changes if the Service is recreated: use its DNS name {name} ({name}.svc.{domain}) instead"
            ));
        } else if let Some(pod) = pods.iter().find(|p| {
            has_ip(&p["status"]["podIPs"]) || p["status"]["podIP"].as_str() == Some(&text)
        }) {
            let pod_name = format!(
                "{}/{}",
                pod["metadata"]["namespace"].as_str().unwrap_or(""),
                pod["metadata"]["name"].as_str().unwrap_or("")
            );
            let advice = match services.iter().find(|s| selects(s, pod)) {
                Some(service) => {
                    let name = short_name(service);
                    format!(
                        "use the DNS name of its Service, {name} ({name}.svc.{domain}), instead"
                    )
                }
                None => {
                    "put a Service in front of it and use the Service's DNS name instead".into()
                }
            };
            warnings.push(format!(
                "{field}: {ip} is the Pod IP of {pod_name}, which changes whenever the pod is replaced: {advice}"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_found_in_addresses_and_urls() {
        let ips =
            |s: &str| -> Vec<String> { ipv4_literals(s).iter().map(|i| i.to_string()).collect() };
        assert_eq!(ips("10.96.0.5"), ["10.96.0.5"]);
        assert_eq!(ips("http://10.244.1.23:8080/x"), ["10.244.1.23"]);
        assert!(ips("auth-service.default").is_empty());
        assert!(ips("1.2.3").is_empty());
        assert!(ips("999.1.1.1").is_empty());
        let spec = serde_json::json!({"containers": [{"env": [
            {"name": "A", "value": "auth-service.default"},
            {"name": "B", "value": "10.96.0.5:80"},
        ]}]});
        assert_eq!(
            env_literals(&spec, "spec"),
            [(
                "spec.containers[0].env[1].value".to_string(),
                Ipv4Addr::new(10, 96, 0, 5)
            )]
        );
    }
}
