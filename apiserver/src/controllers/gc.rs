//! The garbage collector: deletes objects whose owners are all gone (background deletion),
//! deletes the dependents of an owner marked `foregroundDeletion` before letting it go, and
//! removes the ownerReferences of an owner marked `orphan` (`pkg/controller/garbagecollector`).
//!
//! It keeps a metadata informer per namespaced type (names, uids, owners, finalizers and
//! deletion marks only, as upstream's collector uses metadata informers) and, whenever
//! something is deleted or marked, runs one pass over the ownership graph ([`plan`], a pure
//! function).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::terminating;
use crate::api::{Api, DeleteOptions, WriteOptions};
use crate::informer::Informer;
use crate::objects::PatchType;
use crate::resources::{self, Resource};
use crate::status::ApiError;

/// One thing the collector does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Delete the dependent (index into the object list), with this propagation policy.
    Delete(usize, &'static str),
    /// Drop the ownerReferences to these uids from the dependent.
    DropOwners(usize, Vec<String>),
    /// Remove this finalizer from the owner.
    Finalize(usize, &'static str),
}

fn uid(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or("")
}

fn has_finalizer(obj: &Value, finalizer: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == finalizer))
}

fn owner_uids(obj: &Value) -> Vec<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| refs.iter().filter_map(|r| r["uid"].as_str()).collect())
        .unwrap_or_default()
}

/// One pass over every object (owners may be cluster-scoped, dependents namespaced).
pub fn plan(objects: &[&Value]) -> Vec<Action> {
    let by_uid: BTreeMap<&str, &Value> = objects.iter().map(|o| (uid(o), *o)).collect();
    let mut actions = Vec::new();
    let mut has_dependents: BTreeSet<&str> = BTreeSet::new();
    for (i, obj) in objects.iter().enumerate() {
        let owners = owner_uids(obj);
        if owners.is_empty() {
            continue;
        }
        let live: Vec<&Value> = owners
            .iter()
            .filter_map(|u| by_uid.get(u).copied())
            .collect();
        let orphaning: Vec<String> = live
            .iter()
            .filter(|o| terminating(o) && has_finalizer(o, "orphan"))
            .map(|o| uid(o).to_string())
            .collect();
        // An owner keeps its finalizer while anything still names it: orphaned dependents
        // drop the reference in this pass, the finalizer goes in a later one.
        for owner in &live {
            has_dependents.insert(uid(owner));
        }
        if !orphaning.is_empty() {
            actions.push(Action::DropOwners(i, orphaning));
            continue;
        }
        if terminating(obj) {
            continue;
        }
        if live.is_empty() {
            actions.push(Action::Delete(i, "Background"));
        } else if live
            .iter()
            .any(|o| terminating(o) && has_finalizer(o, "foregroundDeletion"))
        {
            actions.push(Action::Delete(i, "Foreground"));
        }
    }
    for (i, obj) in objects.iter().enumerate() {
        if !terminating(obj) || has_dependents.contains(uid(obj)) {
            continue;
        }
        for finalizer in ["foregroundDeletion", "orphan"] {
            if has_finalizer(obj, finalizer) {
                actions.push(Action::Finalize(i, finalizer));
            }
        }
    }
    actions
}

/// Runs until `shutdown`.
pub async fn run(api: Api, shutdown: CancellationToken) {
    let mut informers: Vec<(&'static Resource, Informer)> = Vec::new();
    for resource in resources::RESOURCES
        .iter()
        .filter(|r| r.kind != "Event" && r.kind != "Namespace")
    {
        match Informer::metadata(&api, resource).await {
            Ok(i) => informers.push((resource, i)),
            Err(e) => {
                tracing::error!(resource = resource.plural, error = %e, "start informer");
                return;
            }
        }
    }
    let mut dirty = true;
    loop {
        let revision = api.store().revision();
        for (_, informer) in informers.iter_mut() {
            for event in informer.sync(revision).await {
                dirty |= event.event_type == crate::watch::EventType::Deleted
                    || terminating(&event.object);
            }
        }
        if dirty {
            // A pass that acted may have unblocked another step (orphaned dependents let an
            // owner's finalizer go), so it is followed by another once the caches catch up.
            dirty = match collect(&api, &informers).await {
                Ok(acted) => acted,
                Err(e) => {
                    tracing::warn!(error = %e, "garbage collection pass");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    true
                }
            };
            if dirty {
                continue;
            }
        }
        // Wait for any change (a pass only follows deletions and deletion marks).
        let next =
            futures_util::future::select_all(informers.iter_mut().map(|(_, i)| Box::pin(i.next())));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            (event, _, _) = next => {
                dirty |= event.is_none_or(|e| e.event_type == crate::watch::EventType::Deleted || terminating(&e.object));
            }
        }
    }
}

/// One pass; returns whether it did anything.
async fn collect(api: &Api, informers: &[(&'static Resource, Informer)]) -> Result<bool, ApiError> {
    let mut objects: Vec<(&'static Resource, Arc<Value>)> = Vec::new();
    for (resource, informer) in informers {
        objects.extend(informer.all().map(|o| (*resource, o.clone())));
    }
    let values: Vec<&Value> = objects.iter().map(|(_, o)| &**o).collect();
    let actions = plan(&values);
    let acted = !actions.is_empty();
    for action in actions {
        let index = match &action {
            Action::Delete(i, _) | Action::DropOwners(i, _) | Action::Finalize(i, _) => *i,
        };
        let Some((resource, obj)) = objects.get(index) else {
            continue;
        };
        let (namespace, name) = super::key_of(obj);
        let ns = Some(namespace.as_str()).filter(|n| !n.is_empty());
        let result = match action {
            Action::Delete(_, policy) => {
                let options = DeleteOptions {
                    propagation_policy: Some(policy.to_string()),
                    ..DeleteOptions::default()
                };
                api.delete(resource, ns, &name, &options).await.map(|_| ())
            }
            Action::DropOwners(_, uids) => {
                let kept: Vec<Value> = obj["metadata"]["ownerReferences"]
                    .as_array()
                    .map(|refs| {
                        refs.iter()
                            .filter(|r| !uids.iter().any(|u| r["uid"] == u.as_str()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let patch = json!({"metadata": {"ownerReferences": if kept.is_empty() { Value::Null } else { json!(kept) }}});
                api.patch(
                    resource,
                    ns,
                    &name,
                    None,
                    PatchType::Merge,
                    patch,
                    &WriteOptions::default(),
                )
                .await
                .map(|_| ())
            }
            Action::Finalize(_, finalizer) => {
                let kept: Vec<Value> = obj["metadata"]["finalizers"]
                    .as_array()
                    .map(|f| f.iter().filter(|x| *x != finalizer).cloned().collect())
                    .unwrap_or_default();
                let patch = json!({"metadata": {"finalizers": kept}});
                api.patch(
                    resource,
                    ns,
                    &name,
                    None,
                    PatchType::Merge,
                    patch,
                    &WriteOptions::default(),
                )
                .await
                .map(|_| ())
            }
        };
        match result {
            Ok(()) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(acted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(uid: &str, owners: &[&str], marks: &[&str]) -> Value {
        let mut o = json!({"metadata": {"name": uid, "uid": uid,
            "ownerReferences": owners.iter().map(|o| json!({"uid": o, "kind": "X", "name": o})).collect::<Vec<_>>()}});
        if !marks.is_empty() {
            o["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            o["metadata"]["finalizers"] = json!(marks);
        }
        o
    }

    #[test]
    fn plans() {
        // Background: a dependent of a deleted owner goes.
        let rs = obj("rs", &["gone"], &[]);
        assert_eq!(plan(&[&rs]), vec![Action::Delete(0, "Background")]);
        // A live owner keeps it.
        let d = obj("d", &[], &[]);
        let rs = obj("rs", &["d"], &[]);
        assert!(plan(&[&d, &rs]).is_empty());
        // Foreground: dependents go first (foreground too), then the finalizer.
        let d = obj("d", &[], &["foregroundDeletion"]);
        assert_eq!(plan(&[&d, &rs]), vec![Action::Delete(1, "Foreground")]);
        assert_eq!(plan(&[&d]), vec![Action::Finalize(0, "foregroundDeletion")]);
        // Orphan: dependents let go of the owner, then the finalizer.
        let d = obj("d", &[], &["orphan"]);
        assert_eq!(
            plan(&[&d, &rs]),
            vec![Action::DropOwners(1, vec!["d".into()])]
        );
        let freed = obj("rs", &[], &[]);
        assert_eq!(plan(&[&d, &freed]), vec![Action::Finalize(0, "orphan")]);
        // Two owners, one gone: it stays.
        let both = obj("p", &["d", "gone"], &[]);
        let d = obj("d", &[], &[]);
        assert!(plan(&[&d, &both]).is_empty());
    }
}
