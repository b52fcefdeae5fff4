//! The in-process controllers: scheduler, ReplicaSets, Deployments, Endpoints and
//! EndpointSlices, and the garbage collector.
//!
//! Layout:
//! - `controllers/scheduler.rs`: binds pods to the one node.
//! - `controllers/replicaset.rs`, `controllers/deployment.rs`: pods from templates, rollouts.
//! - `controllers/endpoints.rs`: Endpoints and EndpointSlices from Services and pods.
//! - `controllers/gc.rs`: deletion by ownerReferences (background, foreground, orphan).
//!
//! Controllers read through [`crate::informer::Informer`] and record [`crate::events`].
//!
//! **Architecture Invariant:** controllers are level-triggered. A reconcile reads only its
//! informers' caches and writes only through [`crate::Api`], the same validated path kubectl
//! uses; running it twice changes nothing the second time. Reconcile errors are logged with
//! the object's key and retried with backoff; they never stop the process.

pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod replicaset;
pub mod scheduler;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::Api;

/// Starts every controller; they stop when `shutdown` is cancelled.
pub fn spawn(api: &Api, shutdown: &CancellationToken) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let run = |name: &'static str| tracing::info_span!("controller", name);
    tasks.spawn(scheduler::run(api.clone(), shutdown.clone()).instrument(run("scheduler")));
    tasks.spawn(replicaset::run(api.clone(), shutdown.clone()).instrument(run("replicaset")));
    tasks.spawn(deployment::run(api.clone(), shutdown.clone()).instrument(run("deployment")));
    tasks.spawn(endpoints::run(api.clone(), shutdown.clone()).instrument(run("endpoints")));
    tasks.spawn(gc::run(api.clone(), shutdown.clone()).instrument(run("gc")));
    tasks
}

/// A namespace/name key.
pub type Key = (String, String);

/// The key of an object.
pub fn key_of(obj: &serde_json::Value) -> Key {
    let meta = &obj["metadata"];
    (
        meta["namespace"].as_str().unwrap_or("").to_string(),
        meta["name"].as_str().unwrap_or("").to_string(),
    )
}

/// Keys waiting to be reconciled, each at the earliest time asked for, with per-key backoff
/// for failures (10 s doubling to 5 min, as the style guide asks for crash loops).
#[derive(Debug, Default)]
pub struct Queue {
    due: BTreeMap<Key, Instant>,
    failures: BTreeMap<Key, u32>,
}

impl Queue {
    /// Reconcile `key` now.
    pub fn add(&mut self, key: Key) {
        self.add_after(key, Duration::ZERO);
    }

    /// Reconcile `key` after `delay` (an earlier request wins).
    pub fn add_after(&mut self, key: Key, delay: Duration) {
        let at = Instant::now() + delay;
        let entry = self.due.entry(key).or_insert(at);
        if at < *entry {
            *entry = at;
        }
    }

    /// Records the outcome of a reconcile: failures back off, success resets.
    pub fn done(&mut self, key: &Key, ok: bool) {
        if ok {
            self.failures.remove(key);
            return;
        }
        let n = self.failures.entry(key.clone()).or_insert(0);
        *n += 1;
        let delay = Duration::from_secs(10u64.saturating_mul(1 << (*n - 1).min(5)).min(300));
        self.add_after(key.clone(), delay);
    }

    /// The keys due now, removed from the queue.
    pub fn take_due(&mut self) -> Vec<Key> {
        let now = Instant::now();
        let due: Vec<Key> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &due {
            self.due.remove(key);
        }
        due
    }

    /// When the next key is due (far in the future when the queue is empty).
    pub fn next_due(&self) -> Instant {
        self.due
            .values()
            .min()
            .copied()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }
}

/// The ownerReference that is the controller of `obj`, as (kind, name, uid).
pub fn controller_of(obj: &serde_json::Value) -> Option<(&str, &str, &str)> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
                r["uid"].as_str().unwrap_or(""),
            )
        })
}

/// An ownerReference making `owner` the controller of a dependent.
pub fn controller_ref(owner: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether the pod has the `Ready` condition true.
pub fn pod_ready(pod: &serde_json::Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether the object is marked for deletion.
pub fn terminating(obj: &serde_json::Value) -> bool {
    obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn queue_backs_off_then_resets() {
        let mut q = Queue::default();
        let k: Key = ("ns".into(), "a".into());
        q.add(k.clone());
        assert_eq!(q.take_due(), vec![k.clone()]);
        q.done(&k, false);
        assert!(q.take_due().is_empty());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(q.take_due(), vec![k.clone()]);
        q.done(&k, false);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(q.take_due().is_empty(), "second failure waits 20 s");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(q.take_due(), vec![k.clone()]);
        q.done(&k, true);
        q.add(k.clone());
        assert_eq!(q.take_due(), vec![k]);
    }
}
