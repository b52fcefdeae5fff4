//! The watch hub: ordered events after commit, replayable from any retained revision.
//!
//! **API Boundary:** [`Watcher`] and [`WatchEvent`] are what every in-process consumer (the
//! HTTP watch endpoint, controllers, podd, proxyd, dnsd) reads. They never see SQL.
//!
//! The store publishes each committed event on a bounded broadcast channel. A [`Watcher`]
//! subscribes first, then reads its start (a snapshot of current objects, or the event log on
//! disk after a revision), then follows the channel, skipping what it has already seen. A
//! watcher that falls behind the channel's buffer is not dropped: it catches up from the log
//! on disk, the same path a resumed watch takes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::status::ApiError;
use crate::store::Store;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created (or first seen by this watcher).
    Added,
    /// Changed.
    Modified,
    /// Removed; the event carries the last state.
    Deleted,
}

impl EventType {
    /// The wire name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        match s {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }
}

/// One committed change.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// The revision of the write (the object's `resourceVersion`).
    pub revision: u64,
    /// Storage key of the type (`apps/deployments`).
    pub resource: String,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// What happened.
    pub event_type: EventType,
    /// The object after the change (for a delete, its last state).
    pub object: Arc<Value>,
    /// The object before the change, when known (live events only), for selector transitions.
    pub previous: Option<Arc<Value>>,
    /// When the store published the event (for replayed events: when it was read back), so
    /// consumers can measure how far behind the store they are.
    pub published: std::time::Instant,
}

/// Capacity of the broadcast buffer. A slower watcher catches up from disk.
const BUFFER: usize = 8192;

/// The publisher side, owned by the store.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<WatchEvent>>,
    oldest: AtomicU64,
}

impl Hub {
    pub(crate) fn new(oldest: u64) -> Hub {
        let (sender, _) = broadcast::channel(BUFFER);
        Hub {
            sender,
            oldest: AtomicU64::new(oldest),
        }
    }

    pub(crate) fn publish(&self, event: WatchEvent) {
        // No receiver is not an error: nobody is watching.
        let _ = self.sender.send(Arc::new(event));
    }

    pub(crate) fn set_oldest(&self, oldest: u64) {
        self.oldest.store(oldest, Ordering::Release);
    }

    /// The newest revision that is no longer replayable: a watch must start at or after it.
    pub fn oldest(&self) -> u64 {
        self.oldest.load(Ordering::Acquire)
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Synthetic `ADDED` events for every current object, then changes (`resourceVersion`
    /// unset or `"0"`).
    Now,
    /// Every change after this revision (410 Expired if it is no longer retained).
    After(u64),
}

/// One consumer's ordered stream of events of one type.
#[derive(Debug)]
pub struct Watcher {
    store: Arc<Store>,
    resource: String,
    namespace: Option<String>,
    receiver: broadcast::Receiver<Arc<WatchEvent>>,
    pending: VecDeque<Arc<WatchEvent>>,
    last: u64,
    /// Set when the channel dropped events for us; cleared once caught up from disk. Kept as
    /// state (not done inline) so that cancelling [`Watcher::next`] mid catch-up loses nothing.
    lagged: bool,
}

impl Watcher {
    /// Starts watching objects of `resource` (a storage key), optionally in one namespace.
    pub async fn start(
        store: Arc<Store>,
        resource: &str,
        namespace: Option<&str>,
        start: Start,
    ) -> Result<Watcher, ApiError> {
        // Subscribe before reading the start point: every event newer than it is then in the
        // channel (see the module docs).
        let receiver = store.hub().sender.subscribe();
        let mut watcher = Watcher {
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
            receiver,
            pending: VecDeque::new(),
            last: 0,
            lagged: false,
            store,
        };
        match start {
            Start::Now => {
                let (items, revision) = watcher.store.list(resource, namespace);
                for object in items {
                    let revision = object_revision(&object);
                    let meta = &object["metadata"];
                    watcher.pending.push_back(Arc::new(WatchEvent {
                        revision,
                        resource: resource.to_string(),
                        namespace: meta["namespace"].as_str().unwrap_or("").to_string(),
                        name: meta["name"].as_str().unwrap_or("").to_string(),
                        event_type: EventType::Added,
                        object,
                        previous: None,
                        published: std::time::Instant::now(),
                    }));
                }
                watcher.last = revision;
            }
            Start::After(after) => {
                let oldest = watcher.store.hub().oldest();
                if after < oldest {
                    return Err(ApiError::Expired {
                        requested: after,
                        oldest: oldest + 1,
                    });
                }
                let now = watcher.store.revision();
                watcher.catch_up(after, now).await?;
            }
        }
        Ok(watcher)
    }

    /// The revision this watcher has seen up to (for bookmarks).
    pub fn revision(&self) -> u64 {
        self.last
    }

    /// The next event, waiting for one. `Err` only when the log behind a lagging watcher was
    /// compacted (the consumer must relist) or reading it failed. Cancel-safe.
    pub async fn next(&mut self) -> Result<Arc<WatchEvent>, ApiError> {
        loop {
            if let Some(event) = self.next_until(u64::MAX).await? {
                return Ok(event);
            }
        }
    }

    /// The next event at or before `revision`, or `None` once the watcher has seen every
    /// event up to it. Never waits for a write that has not happened: every event up to a
    /// revision the store reported is already published (or about to be, under the writer
    /// lock). Controllers use it to bring their caches up to date before they reconcile.
    /// Cancel-safe.
    pub async fn next_until(&mut self, revision: u64) -> Result<Option<Arc<WatchEvent>>, ApiError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.lagged {
                let oldest = self.store.hub().oldest();
                if self.last < oldest {
                    return Err(ApiError::Expired {
                        requested: self.last,
                        oldest: oldest + 1,
                    });
                }
                let now = self.store.revision();
                self.catch_up(self.last, now).await?;
                self.lagged = false;
                continue;
            }
            if self.last >= revision {
                return Ok(None);
            }
            match self.receiver.recv().await {
                Ok(event) => {
                    if event.revision <= self.last {
                        continue;
                    }
                    self.last = event.revision;
                    if self.matches(&event) {
                        return Ok(Some(event));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.lagged = true,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(ApiError::Internal("the watch hub closed".into()));
                }
            }
        }
    }

    async fn catch_up(&mut self, after: u64, up_to: u64) -> Result<(), ApiError> {
        if up_to > after {
            let events = self
                .store
                .events_between(&self.resource, after, up_to)
                .await?;
            for event in events {
                let event = Arc::new(event);
                if self.matches(&event) {
                    self.pending.push_back(event);
                }
            }
        }
        self.last = self.last.max(up_to);
        Ok(())
    }

    fn matches(&self, event: &WatchEvent) -> bool {
        event.resource == self.resource
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == event.namespace)
    }
}

/// The `metadata.resourceVersion` of a stored object as a number.
pub fn object_revision(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Change, ObjectKey};
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ("/configmaps".into(), "default".into(), name.into())
    }

    async fn put(store: &Store, name: &str) {
        store
            .mutate(key(name), |_, _| {
                Ok(Change::Put(
                    json!({"metadata": {"name": name, "namespace": "default"}}),
                ))
            })
            .await
            .expect("put");
    }

    #[tokio::test]
    async fn replays_then_follows_in_order() {
        let dir = std::env::temp_dir().join(format!("kubicle-watch-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(Store::open(&dir).await.expect("open"));
        put(&store, "a").await;
        put(&store, "b").await;
        let mut from_one = Watcher::start(store.clone(), "/configmaps", None, Start::After(1))
            .await
            .expect("watch");
        let mut now = Watcher::start(store.clone(), "/configmaps", Some("default"), Start::Now)
            .await
            .expect("watch");
        put(&store, "c").await;
        let first = from_one.next().await.expect("event");
        assert_eq!((first.revision, first.name.as_str()), (2, "b"));
        let second = from_one.next().await.expect("event");
        assert_eq!((second.revision, second.name.as_str()), (3, "c"));
        let names: Vec<String> = [
            now.next().await.expect("a"),
            now.next().await.expect("b"),
            now.next().await.expect("c"),
        ]
        .iter()
        .map(|e| format!("{}:{}", e.event_type.as_str(), e.name))
        .collect();
        assert_eq!(names, ["ADDED:a", "ADDED:b", "ADDED:c"]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn next_until_returns_once_caught_up_even_past_other_types() {
        let dir = std::env::temp_dir().join(format!("kubicle-watch-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(Store::open(&dir).await.expect("open"));
        let mut secrets = Watcher::start(store.clone(), "/secrets", None, Start::After(0))
            .await
            .expect("watch");
        put(&store, "a").await;
        put(&store, "b").await;
        let until = store.revision();
        let caught_up =
            tokio::time::timeout(std::time::Duration::from_secs(5), secrets.next_until(until))
                .await
                .expect("does not wait for future writes")
                .expect("no error");
        assert!(caught_up.is_none());
        assert_eq!(secrets.revision(), until);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_compacted_start_is_expired() {
        let dir = std::env::temp_dir().join(format!("kubicle-watch-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(Store::open(&dir).await.expect("open"));
        for name in ["a", "b", "c"] {
            put(&store, name).await;
        }
        store.hub().set_oldest(2);
        let expired = Watcher::start(store.clone(), "/configmaps", None, Start::After(1)).await;
        assert!(matches!(
            expired,
            Err(ApiError::Expired {
                requested: 1,
                oldest: 3
            })
        ));
        let resumed = Watcher::start(store.clone(), "/configmaps", None, Start::After(2)).await;
        assert!(resumed.is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_lagging_watcher_catches_up_from_disk() {
        let dir = std::env::temp_dir().join(format!("kubicle-watch-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(Store::open(&dir).await.expect("open"));
        let mut watcher = Watcher::start(store.clone(), "/configmaps", None, Start::After(0))
            .await
            .expect("watch");
        let n = BUFFER as u64 + 50;
        for i in 0..n {
            put(&store, &format!("cm{i}")).await;
        }
        for expected in 1..=n {
            let event = watcher.next().await.expect("event");
            assert_eq!(event.revision, expected);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
