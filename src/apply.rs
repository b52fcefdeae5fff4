//! `kubicle up -f <path>`: applies manifests once the cluster runs (server-side apply through
//! the in-process API, field manager `kubicle-up`), waits until what they made is ready, and
//! prints a short map: pods and their IPs, Services with ClusterIPs, DNS names and the host
//! URLs of LoadBalancers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use apiserver::objects::PatchType;
use apiserver::selector::{FieldSelector, LabelSelector};
use apiserver::{Api, WriteOptions};
use serde::Deserialize;
use serde_json::Value;

/// How long `up -f` waits for what it applied to be ready before printing the map anyway.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The manifest files of `path`: the file itself, or a folder's `.yaml`, `.yml` and `.json`
/// files in name order (not recursive, as `kubectl apply -f <dir>`).
fn manifest_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("read {}", path.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The objects of one file: every YAML document, `List` items unpacked.
fn objects_of(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = Value::deserialize(document)
            .with_context(|| format!("{}: not valid YAML", path.display()))?;
        match value {
            Value::Null => {}
            Value::Object(ref o) if o.get("kind").and_then(Value::as_str) == Some("List") => {
                objects.extend(
                    o.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            other => objects.push(other),
        }
    }
    Ok(objects)
}

/// Applies every manifest under `path`; returns what was applied as (kind, namespace, name).
pub(crate) async fn apply(api: &Api, path: &Path) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut applied = Vec::new();
    let options = WriteOptions {
        force: true,
        ..WriteOptions::by("kubicle-up")
    };
    for file in manifest_files(path)? {
        for object in objects_of(&file)? {
            let (api_version, kind) = (
                object["apiVersion"].as_str().unwrap_or(""),
                object["kind"].as_str().unwrap_or(""),
            );
            let Some(resource) = apiserver::resources::by_kind(api_version, kind) else {
                bail!(
                    "{}: unknown kind {kind:?} of apiVersion {api_version:?}",
                    file.display()
                );
            };
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let namespace = resource.namespaced.then(|| {
                object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string()
            });
            api.patch(
                resource,
                namespace.as_deref(),
                &name,
                None,
                PatchType::Apply,
                object.clone(),
                &options,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {kind} {name:?}: {e}", file.display()))?;
            applied.push((kind.to_string(), namespace.unwrap_or_default(), name));
        }
    }
    Ok(applied)
}

fn list(api: &Api, plural: &str, group: &str, version: &str, namespace: &str) -> Vec<Value> {
    let Some(resource) = apiserver::resources::lookup(group, version, plural) else {
        return Vec::new();
    };
    api.list(
        resource,
        Some(namespace),
        &LabelSelector::default(),
        &FieldSelector::default(),
    )
    .0
    .into_iter()
    .map(|o| Value::clone(&o))
    .collect()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// What is not ready yet among the applied objects' namespaces: Deployments short of their
/// replicas, pods not Ready, LoadBalancers without an ingress address.
fn waiting_for(api: &Api, namespaces: &[String]) -> Vec<String> {
    let mut waiting = Vec::new();
    for ns in namespaces {
        for deployment in list(api, "deployments", "apps", "v1", ns) {
            let want = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = deployment["status"]["readyReplicas"].as_i64().unwrap_or(0);
            let updated = deployment["status"]["updatedReplicas"]
                .as_i64()
                .unwrap_or(0);
            if ready < want || updated < want {
                waiting.push(format!(
                    "deployment {ns}/{} ({ready}/{want} ready)",
                    deployment["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
        for pod in list(api, "pods", "", "v1", ns) {
            let phase = pod["status"]["phase"].as_str().unwrap_or("");
            if phase != "Succeeded"
                && pod["metadata"]["deletionTimestamp"].is_null()
                && !is_ready(&pod)
            {
                waiting.push(format!(
                    "pod {ns}/{}",
                    pod["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
        for service in list(api, "services", "", "v1", ns) {
            if service["spec"]["type"] == "LoadBalancer"
                && service["status"]["loadBalancer"]["ingress"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
            {
                waiting.push(format!(
                    "service {ns}/{}",
                    service["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
        }
    }
    waiting
}

/// Waits until everything in the applied objects' namespaces is ready (or the timeout);
/// returns what is still not ready. It looks again whenever a pod, Deployment or Service
/// changes (the watch hub says so), not on a timer.
pub(crate) async fn wait_ready(api: &Api, applied: &[(String, String, String)]) -> Vec<String> {
    let mut namespaces: Vec<String> = applied
        .iter()
        .map(|(_, ns, _)| ns.clone())
        .filter(|ns| !ns.is_empty())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let start = apiserver::Start::After(api.store().revision());
    let mut watchers = Vec::new();
    for (group, plural) in [("", "pods"), ("apps", "deployments"), ("", "services")] {
        let Some(resource) = apiserver::resources::lookup(group, "v1", plural) else {
            continue;
        };
        match api.watch(resource, None, start).await {
            Ok(watcher) => watchers.push(watcher),
            Err(e) => tracing::warn!(plural, error = %e, "watch for readiness"),
        }
    }
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let waiting = waiting_for(api, &namespaces);
        if waiting.is_empty() || watchers.is_empty() {
            return waiting;
        }
        let changed =
            futures_util::future::select_all(watchers.iter_mut().map(|w| Box::pin(w.next())));
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(_), _, _)) => {}
            // A watch that ended (or the deadline): say what is still waiting.
            Ok((Err(_), _, _)) | Err(_) => return waiting_for(api, &namespaces),
        }
    }
}

/// The map printed once everything is ready: pods, then Services and how to reach them.
pub(crate) fn map(api: &Api, applied: &[(String, String, String)], domain: &str) -> String {
    let mut namespaces: Vec<&str> = applied
        .iter()
        .map(|(_, ns, _)| ns.as_str())
        .filter(|ns| !ns.is_empty())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let mut out = String::new();
    let mut pods = Vec::new();
    let mut services = Vec::new();
    for ns in namespaces {
        for pod in list(api, "pods", "", "v1", ns) {
            pods.push([
                format!("{ns}/{}", pod["metadata"]["name"].as_str().unwrap_or("")),
                pod["status"]["podIP"].as_str().unwrap_or("-").to_string(),
                if is_ready(&pod) { "Ready" } else { "not ready" }.to_string(),
            ]);
        }
        for service in list(api, "services", "", "v1", ns) {
            let name = service["metadata"]["name"].as_str().unwrap_or("");
            let ports: Vec<i64> = service["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["port"].as_i64())
                .collect();
            let reach = if service["spec"]["type"] == "LoadBalancer" {
                ports
                    .iter()
                    .map(|p| format!("http://127.0.0.1:{p}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                "-".to_string()
            };
            services.push([
                format!("{ns}/{name}"),
                service["spec"]["type"]
                    .as_str()
                    .unwrap_or("ClusterIP")
                    .to_string(),
                service["spec"]["clusterIP"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
                format!("{name}.{ns}.svc.{domain}"),
                reach,
            ]);
        }
    }
    table(&mut out, &["POD", "IP", "STATUS"], &pods);
    out.push('\n');
    table(
        &mut out,
        &[
            "SERVICE",
            "TYPE",
            "CLUSTER-IP",
            "DNS NAME",
            "FROM THIS HOST",
        ],
        &services,
    );
    out
}

fn table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let text: Vec<String> = cells.zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "  {}", text.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_yields_its_manifests_in_order_and_lists_unpack() {
        let dir = std::env::temp_dir().join(format!("kubicle-apply-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        std::fs::write(dir.join("b.yaml"), "kind: Service\n---\n---\nkind: Pod\n").expect("b");
        std::fs::write(
            dir.join("a.json"),
            r#"{"kind": "List", "items": [{"kind": "ConfigMap"}]}"#,
        )
        .expect("a");
        std::fs::write(dir.join("README.md"), "# not a manifest").expect("readme");
        std::fs::write(dir.join("sub/c.yaml"), "kind: Secret\n").expect("c");
        let kinds: Vec<String> = manifest_files(&dir)
            .expect("files")
            .iter()
            .flat_map(|f| objects_of(f).expect("objects"))
            .map(|o| o["kind"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Service", "Pod"]);
        std::fs::write(dir.join("bad.yaml"), "kind: [\n").expect("bad");
        let error = objects_of(&dir.join("bad.yaml")).expect_err("malformed");
        assert!(
            format!("{error:#}").contains("bad.yaml: not valid YAML"),
            "{error:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
