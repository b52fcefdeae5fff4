//! The ReplicaSet controller: keeps `spec.replicas` pods from the template alive, adopts
//! matching orphans, and reports replicas/ready/available counts in the status
//! (`pkg/controller/replicaset/replica_set.go`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Key, Queue, controller_of, controller_ref, key_of, pod_ready, terminating};
use crate::api::{Api, DeleteOptions, WriteOptions};
use crate::events;
use crate::informer::Informer;
use crate::objects::PatchType;
use crate::resources::{self, Resource};
use crate::selector::LabelSelector;
use crate::status::ApiError;

/// Runs until `shutdown`.
pub async fn run(api: Api, shutdown: CancellationToken) {
    let (Some(rs_resource), Some(pod_resource)) = (
        resources::lookup("apps", "v1", "replicasets"),
        resources::lookup("", "v1", "pods"),
    ) else {
        return;
    };
    let (mut replicasets, mut pods) = match (
        Informer::start(&api, rs_resource).await,
        Informer::start(&api, pod_resource).await,
    ) {
        (Ok(r), Ok(p)) => (r, p),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "start informers");
            return;
        }
    };
    let mut queue = Queue::default();
    for rs in replicasets.all() {
        queue.add(key_of(rs));
    }
    loop {
        // Bring both caches up to the store's revision first, so a reconcile sees the pods
        // its previous round created (client-go uses "expectations" for the same purpose).
        let revision = api.store().revision();
        for event in replicasets.sync(revision).await {
            queue.add((event.namespace.clone(), event.name.clone()));
        }
        for event in pods.sync(revision).await {
            enqueue_owner(&mut queue, &replicasets, &event.object);
        }
        for key in queue.take_due() {
            let Some(rs) = replicasets.get(&key.0, &key.1).cloned() else {
                continue;
            };
            let result = reconcile(&api, rs_resource, pod_resource, &rs, &pods).await;
            match result {
                Ok(Some(after)) => {
                    queue.done(&key, true);
                    queue.add_after(key, after);
                }
                Ok(None) => queue.done(&key, true),
                Err(e) => {
                    tracing::warn!(replicaset = %key.1, namespace = %key.0, error = %e, "reconcile");
                    queue.done(&key, false);
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(queue.next_due()) => {}
            event = replicasets.next() => match event {
                Some(event) => queue.add((event.namespace.clone(), event.name.clone())),
                None => replicasets.all().for_each(|rs| queue.add(key_of(rs))),
            },
            event = pods.next() => match event {
                Some(event) => enqueue_owner(&mut queue, &replicasets, &event.object),
                None => replicasets.all().for_each(|rs| queue.add(key_of(rs))),
            },
        }
    }
}

/// A pod change wakes its controlling ReplicaSet, or every ReplicaSet that could adopt it.
fn enqueue_owner(queue: &mut Queue, replicasets: &Informer, pod: &Value) {
    let (namespace, _) = key_of(pod);
    match controller_of(pod) {
        Some(("ReplicaSet", name, _)) => queue.add((namespace, name.to_string())),
        Some(_) => {}
        None => {
            let labels = &pod["metadata"]["labels"];
            let adopters: Vec<Key> = replicasets
                .in_namespace(&namespace)
                .filter(|rs| {
                    LabelSelector::from_label_selector(&rs["spec"]["selector"])
                        .is_some_and(|s| !s.is_empty() && s.matches_labels(labels))
                })
                .map(|rs| key_of(rs))
                .collect();
            for key in adopters {
                queue.add(key);
            }
        }
    }
}

/// When a pod has been Ready long enough to count as available (`minReadySeconds`): `Ok`
/// if available now, `Err(wait)` with the time left otherwise, `None` if not ready.
pub fn available_in(
    pod: &Value,
    min_ready_seconds: i64,
    now: jiff::Timestamp,
) -> Option<Result<(), Duration>> {
    if !pod_ready(pod) {
        return None;
    }
    if min_ready_seconds <= 0 {
        return Some(Ok(()));
    }
    let since = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let Some(since) = since else {
        return Some(Ok(()));
    };
    let ready_for = now.as_second() - since.as_second();
    if ready_for >= min_ready_seconds {
        Some(Ok(()))
    } else {
        Some(Err(Duration::from_secs(
            (min_ready_seconds - ready_for) as u64,
        )))
    }
}

/// The order in which surplus pods go (`ActivePodsWithRanks`): unscheduled before
/// scheduled, pending before running, not ready before ready, newer before older.
fn deletion_rank(pod: &Value) -> (bool, u8, bool, std::cmp::Reverse<String>) {
    let scheduled = pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let phase = match pod["status"]["phase"].as_str().unwrap_or("Pending") {
        "Pending" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (scheduled, phase, pod_ready(pod), std::cmp::Reverse(created))
}

/// Whether a pod still counts toward replicas (`controller.FilterActivePods`).
fn active(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    phase != "Succeeded" && phase != "Failed" && !terminating(pod)
}

async fn reconcile(
    api: &Api,
    rs_resource: &'static Resource,
    pod_resource: &'static Resource,
    rs: &Arc<Value>,
    pods: &Informer,
) -> Result<Option<Duration>, ApiError> {
    if terminating(rs) {
        return Ok(None);
    }
    let (namespace, name) = key_of(rs);
    let uid = rs["metadata"]["uid"].as_str().unwrap_or("");
    let Some(selector) = LabelSelector::from_label_selector(&rs["spec"]["selector"]) else {
        return Ok(None);
    };
    let mut owned: Vec<Arc<Value>> = Vec::new();
    for pod in pods.in_namespace(&namespace) {
        match controller_of(pod) {
            Some((_, _, owner)) if owner == uid => owned.push(pod.clone()),
            None if !selector.is_empty()
                && selector.matches(pod)
                && active(pod)
                && !terminating(rs) =>
            {
                // Adopt the orphan: it matches our selector and nobody controls it.
                let patch = json!({"metadata": {"ownerReferences": [controller_ref(rs)]}});
                let (_, pod_name) = key_of(pod);
                match api
                    .patch(
                        pod_resource,
                        Some(&namespace),
                        &pod_name,
                        None,
                        PatchType::Merge,
                        patch,
                        &WriteOptions::default(),
                    )
                    .await
                {
                    Ok(adopted) => owned.push(adopted.object),
                    Err(e) => tracing::warn!(pod = %pod_name, error = %e, "adopt pod"),
                }
            }
            _ => {}
        }
    }
    let mut live: Vec<Arc<Value>> = owned.iter().filter(|p| active(p)).cloned().collect();
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    if live.len() < want {
        for _ in live.len()..want {
            let pod = pod_from_template(rs);
            let created = api
                .create(
                    pod_resource,
                    Some(&namespace),
                    pod,
                    &WriteOptions::default(),
                )
                .await?;
            let pod_name = created.object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            events::record(
                api,
                rs,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {pod_name}"),
                "replicaset-controller",
            )
            .await;
            live.push(created.object);
        }
    } else if live.len() > want {
        live.sort_by_key(|p| deletion_rank(p));
        let surplus: Vec<Arc<Value>> = live.drain(..live.len() - want).collect();
        for pod in surplus {
            let (_, pod_name) = key_of(&pod);
            api.delete_if_present(
                pod_resource,
                Some(&namespace),
                &pod_name,
                &DeleteOptions::default(),
            )
            .await?;
            events::record(
                api,
                rs,
                "Normal",
                "SuccessfulDelete",
                &format!("Deleted pod: {pod_name}"),
                "replicaset-controller",
            )
            .await;
        }
    }

    let min_ready = rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let now = jiff::Timestamp::now();
    let mut ready = 0;
    let mut available = 0;
    let mut recheck: Option<Duration> = None;
    for pod in &live {
        match available_in(pod, min_ready, now) {
            None => {}
            Some(Ok(())) => {
                ready += 1;
                available += 1;
            }
            Some(Err(wait)) => {
                ready += 1;
                recheck = Some(recheck.map_or(wait, |r| r.min(wait)));
            }
        }
    }
    let template_labels = &rs["spec"]["template"]["metadata"]["labels"];
    let fully_labeled = live
        .iter()
        .filter(|p| {
            template_labels.as_object().is_none_or(|want| {
                want.iter()
                    .all(|(k, v)| p["metadata"]["labels"][k.as_str()] == *v)
            })
        })
        .count();
    let status = json!({
        "replicas": live.len(),
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs["metadata"]["generation"].as_i64().unwrap_or(1),
    });
    let current = Value::clone(&*api.get(rs_resource, Some(&namespace), &name)?);
    if current["status"] != status {
        let mut updated = current;
        updated["status"] = status;
        api.replace_status(
            rs_resource,
            Some(&namespace),
            &name,
            updated,
            &WriteOptions::default(),
        )
        .await?;
    }
    Ok(recheck)
}

/// A new pod from the ReplicaSet's template, controlled by it.
fn pod_from_template(rs: &Value) -> Value {
    let template = &rs["spec"]["template"];
    let mut metadata = json!({
        "generateName": format!("{}-", rs["metadata"]["name"].as_str().unwrap_or("pod")),
        "namespace": rs["metadata"]["namespace"],
        "ownerReferences": [controller_ref(rs)],
    });
    for field in ["labels", "annotations"] {
        if let Some(v) = template["metadata"].get(field) {
            metadata[field] = v.clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surplus_pods_go_unscheduled_pending_unready_newest_first() {
        let pod = |name: &str, node: &str, phase: &str, ready: bool, created: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": created},
                   "spec": {"nodeName": node},
                   "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
        };
        let mut pods = [
            pod("old-ready", "n", "Running", true, "2026-01-01T00:00:00Z"),
            pod("new-ready", "n", "Running", true, "2026-01-02T00:00:00Z"),
            pod("unready", "n", "Running", false, "2026-01-01T00:00:00Z"),
            pod("pending", "n", "Pending", false, "2026-01-01T00:00:00Z"),
            pod("unscheduled", "", "Pending", false, "2026-01-01T00:00:00Z"),
        ];
        pods.sort_by_key(deletion_rank);
        let order: Vec<&str> = pods
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str())
            .collect();
        assert_eq!(
            order,
            [
                "unscheduled",
                "pending",
                "unready",
                "new-ready",
                "old-ready"
            ]
        );
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let now: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().expect("time");
        let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}]}});
        assert_eq!(available_in(&pod, 0, now), Some(Ok(())));
        assert_eq!(available_in(&pod, 5, now), Some(Ok(())));
        assert_eq!(
            available_in(&pod, 8, now),
            Some(Err(Duration::from_secs(3)))
        );
        assert_eq!(available_in(&json!({}), 0, now), None);
    }
}
