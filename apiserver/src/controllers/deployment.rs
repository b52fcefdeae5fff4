//! The Deployment controller: one ReplicaSet per pod template (named by its
//! `pod-template-hash`), rolled by the RollingUpdate or Recreate strategy as pods become
//! available, with revisions, history pruning and the status kubectl's `rollout status` reads
//! (`pkg/controller/deployment/{sync,rolling,recreate,progress}.go`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{Queue, controller_of, controller_ref, key_of, terminating};
use crate::api::{Api, DeleteOptions, WriteOptions};
use crate::events;
use crate::informer::Informer;
use crate::resources::{self, Resource};
use crate::status::ApiError;

/// The label and selector key that tells the ReplicaSets of one Deployment apart.
pub const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Runs until `shutdown`.
pub async fn run(api: Api, shutdown: CancellationToken) {
    let (Some(deployments_r), Some(rs_r)) = (
        resources::lookup("apps", "v1", "deployments"),
        resources::lookup("apps", "v1", "replicasets"),
    ) else {
        return;
    };
    let (mut deployments, mut replicasets) = match (
        Informer::start(&api, deployments_r).await,
        Informer::start(&api, rs_r).await,
    ) {
        (Ok(d), Ok(r)) => (d, r),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "start informers");
            return;
        }
    };
    let mut queue = Queue::default();
    deployments.all().for_each(|d| queue.add(key_of(d)));
    loop {
        let revision = api.store().revision();
        for event in deployments.sync(revision).await {
            queue.add((event.namespace.clone(), event.name.clone()));
        }
        for event in replicasets.sync(revision).await {
            if let Some(("Deployment", name, _)) = controller_of(&event.object) {
                queue.add((event.namespace.clone(), name.to_string()));
            }
        }
        for key in queue.take_due() {
            let Some(deployment) = deployments.get(&key.0, &key.1).cloned() else {
                continue;
            };
            match reconcile(&api, deployments_r, rs_r, &deployment, &replicasets).await {
                Ok(after) => {
                    queue.done(&key, true);
                    if let Some(after) = after {
                        queue.add_after(key, after);
                    }
                }
                Err(e) => {
                    tracing::warn!(deployment = %key.1, namespace = %key.0, error = %e, "reconcile");
                    queue.done(&key, false);
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(queue.next_due()) => {}
            event = deployments.next() => match event {
                Some(event) => queue.add((event.namespace.clone(), event.name.clone())),
                None => deployments.all().for_each(|d| queue.add(key_of(d))),
            },
            event = replicasets.next() => match event {
                Some(event) => if let Some(("Deployment", name, _)) = controller_of(&event.object) {
                    queue.add((event.namespace.clone(), name.to_string()));
                },
                None => deployments.all().for_each(|d| queue.add(key_of(d))),
            },
        }
    }
}

/// The `pod-template-hash` of a template: FNV-1a (32 bit) over its canonical JSON and the
/// collision count, written with the apimachinery "safe" alphabet (`ComputeHash` and
/// `rand.SafeEncodeString`); stable for one template, different for another.
pub fn template_hash(template: &Value, collision_count: i64) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(template.to_string().as_bytes());
    if collision_count > 0 {
        feed(&collision_count.to_le_bytes());
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digits = hash.to_string();
    digits
        .bytes()
        .map(|d| ALPHABET[usize::from(d) % ALPHABET.len()] as char)
        .collect()
}

/// The template without the hash label, for comparing a ReplicaSet's template with the
/// Deployment's (`EqualIgnoreHash`).
fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

/// `maxSurge` and `maxUnavailable` as pod counts (`ResolveFenceposts`): surge rounds up,
/// unavailable down, and both 0 means one unavailable.
pub fn fenceposts(strategy: &Value, replicas: i64) -> (i64, i64) {
    let resolve = |v: &Value, default: &str, round_up: bool| -> i64 {
        match v {
            Value::Number(n) => n.as_i64().unwrap_or(0),
            Value::String(s) => {
                let text = if s.is_empty() { default } else { s.as_str() };
                let percent: i64 = text.trim_end_matches('%').parse().unwrap_or(25);
                let scaled = percent * replicas;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
            _ => {
                let percent: i64 = default.trim_end_matches('%').parse().unwrap_or(25);
                let scaled = percent * replicas;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
        }
    };
    let rolling = &strategy["rollingUpdate"];
    let surge = resolve(&rolling["maxSurge"], "25%", true);
    let unavailable = resolve(&rolling["maxUnavailable"], "25%", false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn replicas_of(rs: &Value) -> i64 {
    rs["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn status_of(rs: &Value, field: &str) -> i64 {
    rs["status"][field].as_i64().unwrap_or(0)
}

fn revision_of(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// One step of a rolling update: the new replica counts `(new, olds)`. `new` and each of
/// `olds` are `(spec.replicas, availableReplicas)`; `olds` are oldest first. As upstream
/// (`rolloutRolling`), a step either scales the new ReplicaSet up within `maxSurge`, or (when
/// it cannot) removes old pods: unhealthy ones first, then available ones while at least
/// `replicas - maxUnavailable` stay available.
pub fn rolling_step(
    replicas: i64,
    strategy: &Value,
    new: (i64, i64),
    olds: &[(i64, i64)],
) -> (i64, Vec<i64>) {
    let (surge, unavailable) = fenceposts(strategy, replicas);
    let mut old_counts: Vec<i64> = olds.iter().map(|o| o.0).collect();
    let old_pods: i64 = old_counts.iter().sum();
    // reconcileNewReplicaSet
    if new.0 > replicas {
        return (replicas, old_counts);
    }
    if new.0 < replicas {
        let max_total = replicas + surge;
        let total = new.0 + old_pods;
        if total < max_total {
            let scaled = replicas.min(new.0 + (max_total - total));
            if scaled != new.0 {
                return (scaled, old_counts);
            }
        }
    }
    // reconcileOldReplicaSets
    if old_pods == 0 {
        return (new.0, old_counts);
    }
    let min_available = replicas - unavailable;
    let new_unavailable = (new.0 - new.1).max(0);
    let max_scaled_down = new.0 + old_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return (new.0, old_counts);
    }
    // cleanupUnhealthyReplicas
    let mut cleaned = 0;
    for (count, (spec, avail)) in old_counts.iter_mut().zip(olds) {
        let unhealthy = (spec - avail).max(0);
        let cut = unhealthy.min(max_scaled_down - cleaned);
        *count -= cut;
        cleaned += cut;
    }
    // scaleDownOldReplicaSetsForRollingUpdate
    let available = new.1 + olds.iter().map(|o| o.1).sum::<i64>();
    if available > min_available {
        let mut left = available - min_available;
        for count in old_counts.iter_mut() {
            let cut = (*count).min(left);
            *count -= cut;
            left -= cut;
        }
    }
    (new.0, old_counts)
}

async fn reconcile(
    api: &Api,
    deployments_r: &'static Resource,
    rs_r: &'static Resource,
    deployment: &Arc<Value>,
    replicasets: &Informer,
) -> Result<Option<Duration>, ApiError> {
    if terminating(deployment) {
        return Ok(None);
    }
    let (namespace, name) = key_of(deployment);
    let uid = deployment["metadata"]["uid"].as_str().unwrap_or("");
    let spec = &deployment["spec"];
    let replicas = spec["replicas"].as_i64().unwrap_or(1).max(0);
    let template = &spec["template"];
    let mut owned: Vec<Arc<Value>> = replicasets
        .in_namespace(&namespace)
        .filter(|rs| {
            controller_of(rs).is_some_and(|(_, _, owner)| owner == uid) && !terminating(rs)
        })
        .cloned()
        .collect();
    owned.sort_by_key(|rs| revision_of(rs));
    let new_rs = owned
        .iter()
        .find(|rs| without_hash(&rs["spec"]["template"]) == without_hash(template))
        .cloned();
    let max_revision = owned.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
    let options = WriteOptions::default();
    let paused = spec["paused"].as_bool().unwrap_or(false);

    let new_rs = match new_rs {
        Some(rs) if revision_of(&rs) < max_revision && !paused => {
            // An old template came back (rollout undo): that ReplicaSet is new again.
            let mut updated = Value::clone(&rs);
            updated["metadata"]["annotations"][REVISION] = json!((max_revision + 1).to_string());
            let (_, rs_name) = key_of(&rs);
            Some(
                api.replace(rs_r, Some(&namespace), &rs_name, updated, &options)
                    .await?
                    .object,
            )
        }
        Some(rs) => Some(rs),
        None if paused => None,
        None => {
            let hash = template_hash(
                template,
                deployment["status"]["collisionCount"].as_i64().unwrap_or(0),
            );
            let rs_name = format!("{name}-{hash}");
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = spec["selector"].clone();
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let mut labels = template["metadata"]["labels"].clone();
            labels[HASH_LABEL] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name, "namespace": namespace, "labels": labels,
                    "annotations": {REVISION: (max_revision + 1).to_string(),
                                    "deployment.kubernetes.io/desired-replicas": replicas.to_string()},
                    "ownerReferences": [controller_ref(deployment)],
                },
                // Created empty, then scaled by the strategy below like any new ReplicaSet.
                "spec": {"replicas": 0, "minReadySeconds": spec["minReadySeconds"].as_i64().unwrap_or(0),
                         "selector": selector, "template": rs_template},
            });
            match api.create(rs_r, Some(&namespace), rs, &options).await {
                Ok(created) => {
                    let message = format!("Created new replica set \"{rs_name}\"");
                    events::record(
                        api,
                        deployment,
                        "Normal",
                        "ScalingReplicaSet",
                        &message,
                        "deployment-controller",
                    )
                    .await;
                    Some(created.object)
                }
                Err(ApiError::AlreadyExists { .. }) => {
                    // A ReplicaSet with this hash exists but holds another template: bump the
                    // collision count so the next hash differs (`getNewReplicaSet`).
                    let mut d = Value::clone(&*api.get(deployments_r, Some(&namespace), &name)?);
                    let count = d["status"]["collisionCount"].as_i64().unwrap_or(0) + 1;
                    d["status"]["collisionCount"] = json!(count);
                    api.replace_status(deployments_r, Some(&namespace), &name, d, &options)
                        .await?;
                    return Ok(Some(Duration::ZERO));
                }
                Err(e) => return Err(e),
            }
        }
    };
    let olds: Vec<Arc<Value>> = owned
        .iter()
        .filter(|rs| {
            new_rs
                .as_ref()
                .is_none_or(|n| n["metadata"]["uid"] != rs["metadata"]["uid"])
        })
        .cloned()
        .collect();

    // Decide the replica counts.
    let mut targets: Vec<(Arc<Value>, i64)> = Vec::new();
    if let Some(new_rs) = &new_rs {
        let new_state = (replicas_of(new_rs), status_of(new_rs, "availableReplicas"));
        if paused {
            // Paused: only scaling, proportionally simple: the newest takes the difference.
            let total: i64 = replicas_of(new_rs) + olds.iter().map(|o| replicas_of(o)).sum::<i64>();
            targets.push((
                new_rs.clone(),
                (replicas_of(new_rs) + replicas - total).max(0),
            ));
        } else if spec["strategy"]["type"] == "Recreate" {
            let old_running: i64 = olds.iter().map(|o| status_of(o, "replicas")).sum();
            for old in &olds {
                targets.push((old.clone(), 0));
            }
            let new_count = if old_running == 0 {
                replicas
            } else {
                replicas_of(new_rs)
            };
            targets.push((new_rs.clone(), new_count));
        } else {
            let old_states: Vec<(i64, i64)> = olds
                .iter()
                .map(|o| (replicas_of(o), status_of(o, "availableReplicas")))
                .collect();
            let (new_count, old_counts) =
                rolling_step(replicas, &spec["strategy"], new_state, &old_states);
            targets.push((new_rs.clone(), new_count));
            for (old, count) in olds.iter().zip(old_counts) {
                targets.push((old.clone(), count));
            }
        }
    }
    for (rs, count) in &targets {
        if replicas_of(rs) == *count {
            continue;
        }
        let (_, rs_name) = key_of(rs);
        let mut updated = Value::clone(rs);
        let from = replicas_of(rs);
        updated["spec"]["replicas"] = json!(count);
        updated["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
            json!(replicas.to_string());
        api.replace(rs_r, Some(&namespace), &rs_name, updated, &options)
            .await?;
        let verb = if *count > from { "up" } else { "down" };
        let message = format!("Scaled {verb} replica set {rs_name} from {from} to {count}");
        events::record(
            api,
            deployment,
            "Normal",
            "ScalingReplicaSet",
            &message,
            "deployment-controller",
        )
        .await;
    }

    // Prune history beyond revisionHistoryLimit: old ReplicaSets scaled to zero, oldest first.
    let limit = spec["revisionHistoryLimit"].as_i64().unwrap_or(10).max(0) as usize;
    let mut empty_olds: Vec<&Arc<Value>> = olds
        .iter()
        .filter(|o| replicas_of(o) == 0 && status_of(o, "replicas") == 0)
        .collect();
    if empty_olds.len() > limit {
        empty_olds.sort_by_key(|rs| revision_of(rs));
        for rs in &empty_olds[..empty_olds.len() - limit] {
            let (_, rs_name) = key_of(rs);
            api.delete_if_present(rs_r, Some(&namespace), &rs_name, &DeleteOptions::default())
                .await?;
        }
    }

    update_status(
        api,
        deployments_r,
        deployment,
        new_rs.as_deref(),
        &olds,
        replicas,
    )
    .await
}

/// Writes replicas/updated/ready/available counts and the Available and Progressing
/// conditions; returns when to look again for the progress deadline.
async fn update_status(
    api: &Api,
    deployments_r: &'static Resource,
    deployment: &Value,
    new_rs: Option<&Value>,
    olds: &[Arc<Value>],
    replicas: i64,
) -> Result<Option<Duration>, ApiError> {
    let (namespace, name) = key_of(deployment);
    let all: Vec<&Value> = new_rs
        .into_iter()
        .chain(olds.iter().map(|o| &**o))
        .collect();
    let sum = |field: &str| all.iter().map(|rs| status_of(rs, field)).sum::<i64>();
    let total = sum("replicas");
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let updated = new_rs.map(|rs| status_of(rs, "replicas")).unwrap_or(0);
    let (_, max_unavailable) = fenceposts(&deployment["spec"]["strategy"], replicas);
    let now = crate::objects::timestamp(jiff::Timestamp::now());
    let current = Value::clone(&*api.get(deployments_r, Some(&namespace), &name)?);
    let mut status = current["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    status["observedGeneration"] = deployment["metadata"]["generation"].clone();
    status["replicas"] = json!(total);
    status["updatedReplicas"] = json!(updated);
    status["readyReplicas"] = json!(ready);
    status["availableReplicas"] = json!(available);
    status["unavailableReplicas"] = json!((total - available).max(0));
    let complete = updated == replicas && total == replicas && available == replicas;
    let (avail_status, avail_reason, avail_message) = if available >= replicas - max_unavailable {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let rs_name = new_rs.map(|rs| key_of(rs).1).unwrap_or_default();
    let (progress_reason, progress_message) = if complete {
        (
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
        )
    } else {
        (
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs_name}\" is progressing."),
        )
    };
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let set =
        |conditions: &mut Vec<Value>, kind: &str, state: &str, reason: &str, message: &str| {
            match conditions.iter_mut().find(|c| c["type"] == kind) {
                Some(c) => {
                    if c["status"] != state {
                        c["lastTransitionTime"] = json!(now);
                    }
                    if c["reason"] != reason || c["status"] != state {
                        c["lastUpdateTime"] = json!(now);
                    }
                    c["status"] = json!(state);
                    c["reason"] = json!(reason);
                    c["message"] = json!(message);
                }
                None => conditions.push(
                    json!({"type": kind, "status": state, "reason": reason, "message": message,
                                           "lastUpdateTime": now, "lastTransitionTime": now}),
                ),
            }
        };
    set(
        &mut conditions,
        "Available",
        avail_status,
        avail_reason,
        avail_message,
    );
    // Progress deadline (`progress.go`): any change in the replica counts is progress and
    // renews the Progressing condition; a rollout that makes none for
    // progressDeadlineSeconds is marked ProgressDeadlineExceeded, which `kubectl rollout
    // status` reports as a failure.
    let counts = |s: &Value| {
        [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ]
        .map(|f| s[f].clone())
    };
    let progressed = counts(&status) != counts(&current["status"]);
    let deadline = deployment["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .unwrap_or(600);
    let last_progress = conditions
        .iter()
        .find(|c| c["type"] == "Progressing")
        .and_then(|c| c["lastUpdateTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let mut recheck = None;
    if complete {
        set(
            &mut conditions,
            "Progressing",
            "True",
            progress_reason,
            &progress_message,
        );
    } else if progressed || last_progress.is_none() {
        set(
            &mut conditions,
            "Progressing",
            "True",
            progress_reason,
            &progress_message,
        );
        if let Some(c) = conditions.iter_mut().find(|c| c["type"] == "Progressing") {
            c["lastUpdateTime"] = json!(now);
        }
        recheck = Some(Duration::from_secs(deadline.max(0) as u64 + 1));
    } else if let Some(since) = last_progress {
        let stalled = jiff::Timestamp::now().as_second() - since.as_second();
        if stalled >= deadline {
            let message = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
            set(
                &mut conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &message,
            );
        } else {
            recheck = Some(Duration::from_secs((deadline - stalled).max(1) as u64));
        }
    }
    conditions.sort_by_key(|c| if c["type"] == "Available" { 0 } else { 1 });
    status["conditions"] = json!(conditions);
    if status != current["status"] {
        let mut updated_obj = current;
        updated_obj["status"] = status;
        api.replace_status(
            deployments_r,
            Some(&namespace),
            &name,
            updated_obj,
            &WriteOptions::default(),
        )
        .await?;
    }
    Ok(recheck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_template_specific() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}});
        let b = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x:2"}]}});
        assert_eq!(template_hash(&a, 0), template_hash(&a, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&b, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&a, 1));
        assert!(
            template_hash(&a, 0)
                .bytes()
                .all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c))
        );
    }

    #[test]
    fn fenceposts_round_like_upstream() {
        let default = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
        assert_eq!(fenceposts(&default, 3), (1, 0));
        assert_eq!(fenceposts(&default, 4), (1, 1));
        assert_eq!(fenceposts(&default, 10), (3, 2));
        let zero = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
        assert_eq!(fenceposts(&zero, 3), (0, 1));
    }

    /// One data-driven line per step of a rollout of 3 replicas with 25%/25%.
    #[test]
    fn rolling_steps() {
        let strategy = json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
        let check = |new: (i64, i64), olds: &[(i64, i64)], want: (i64, &[i64])| {
            let (n, o) = rolling_step(3, &strategy, new, olds);
            assert_eq!((n, o.as_slice()), want, "new {new:?} olds {olds:?}");
        };
        check((0, 0), &[(3, 3)], (1, &[3])); // surge one new pod first
        check((1, 0), &[(3, 3)], (1, &[3])); // wait: nothing may go until it is available
        check((1, 1), &[(3, 3)], (1, &[2])); // one new available: one old goes
        check((1, 1), &[(2, 2)], (2, &[2])); // room again: the next new pod
        check((3, 3), &[(0, 0)], (3, &[0])); // done
        check((0, 0), &[], (3, &[])); // first rollout: all at once
        check((1, 0), &[(3, 1)], (1, &[3])); // nothing may go while the new pod is unavailable
        check((1, 1), &[(3, 1)], (1, &[2])); // unhealthy old pods go first
    }
}
