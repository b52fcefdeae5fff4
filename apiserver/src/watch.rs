//! The watch hub: ordered events after commit, replayable from any retained revision.
//!
//! **API Boundary:** [`Watcher`] and [`WatchEvent`] are what every in-process consumer (the
//! HTTP watch endpoint, controllers, podd, proxyd, dnsd) reads. They never see SQL.
//!
//! The store publishes each committed event into a ring in memory, bounded by a count
//! ([`RING_EVENTS`]) and by the bytes of the objects it holds ([`RING_BYTES`]), so the hub
//! never keeps more than that alive however fast writes come. A [`Watcher`] is a position (a
//! revision) that reads the ring by revision; one that falls behind the ring is not dropped:
//! it reads the event log on disk, a page at a time, the same path a resumed watch takes.
//! Only a position the store has compacted away is lost: the watcher then gets 410 Expired
//! ("too old resource version"), as upstream's watch cache answers, and must relist.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

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
    /// The object after the change (for a delete, its last state at the delete's revision).
    pub object: Arc<Value>,
    /// The object before the change, when known, for selector transitions.
    pub previous: Option<Arc<Value>>,
    /// When the store published the event (for replayed events: when it was read back), so
    /// consumers can measure how far behind the store they are.
    pub published: std::time::Instant,
}

/// Events the ring keeps at most.
pub(crate) const RING_EVENTS: usize = 1024;
/// Bytes (the JSON of each event's object and previous state) the ring keeps at most; it
/// always keeps the newest event.
const RING_BYTES: usize = 8 << 20;
/// Events a lagging watcher reads from disk per query.
const PAGE: usize = 256;

/// The newest events, oldest first, with the revision before the oldest.
#[derive(Debug)]
struct Ring {
    events: VecDeque<(Arc<WatchEvent>, usize)>,
    bytes: usize,
    /// Every event after this revision is in `events`; older ones are on disk only.
    floor: u64,
}

/// Where a watcher's next event is.
#[derive(Debug)]
enum Next {
    /// The next event it wants.
    Event(Arc<WatchEvent>),
    /// None it wants up to this revision (the newest published).
    Seen(u64),
    /// On disk: the events up to this revision left the ring.
    Disk(u64),
}

/// The publisher side, owned by the store.
#[derive(Debug)]
pub struct Hub {
    ring: Mutex<Ring>,
    latest: tokio::sync::watch::Sender<u64>,
    compacted: AtomicU64,
}

impl Hub {
    pub(crate) fn new(revision: u64, compacted: u64) -> Hub {
        Hub {
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                bytes: 0,
                floor: revision,
            }),
            latest: tokio::sync::watch::Sender::new(revision),
            compacted: AtomicU64::new(compacted),
        }
    }

    /// Publishes a committed event; `bytes` is the size of its objects as JSON.
    pub(crate) fn publish(&self, event: WatchEvent, bytes: usize) {
        let revision = event.revision;
        {
            let mut ring = self.lock();
            ring.events.push_back((Arc::new(event), bytes));
            ring.bytes += bytes;
            while ring.events.len() > 1
                && (ring.events.len() > RING_EVENTS || ring.bytes > RING_BYTES)
            {
                if let Some((old, size)) = ring.events.pop_front() {
                    ring.bytes -= size;
                    ring.floor = old.revision;
                }
            }
        }
        self.latest.send_replace(revision);
    }

    pub(crate) fn set_compacted(&self, revision: u64) {
        self.compacted.fetch_max(revision, Ordering::AcqRel);
    }

    /// The compacted revision: a watch must start at or after it.
    pub fn compacted(&self) -> u64 {
        self.compacted.load(Ordering::Acquire)
    }

    /// 410 Expired for a watch from `after`, if the store compacted past it.
    fn expired(&self, after: u64) -> Result<(), ApiError> {
        let compacted = self.compacted();
        if after < compacted {
            return Err(ApiError::Expired {
                requested: after,
                compacted,
            });
        }
        Ok(())
    }

    /// The first event after `after` that `wanted` accepts.
    fn next_after(&self, after: u64, wanted: impl Fn(&WatchEvent) -> bool) -> Next {
        let ring = self.lock();
        if after < ring.floor {
            return Next::Disk(ring.floor);
        }
        let start = ring.events.partition_point(|(e, _)| e.revision <= after);
        for (event, _) in ring.events.range(start..) {
            if wanted(event) {
                return Next::Event(event.clone());
            }
        }
        Next::Seen(
            ring.events
                .back()
                .map_or(after, |(e, _)| e.revision.max(after)),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Every change to the ring is a push or a pop: a poisoned lock is still consistent.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Synthetic `ADDED` events for every current object, then changes (`resourceVersion`
    /// unset or `"0"`).
    Now,
    /// Every change after this revision (410 Expired if it was compacted away).
    After(u64),
}

/// One consumer's ordered stream of events of one type.
#[derive(Debug)]
pub struct Watcher {
    store: Arc<Store>,
    resource: String,
    namespace: Option<String>,
    latest: tokio::sync::watch::Receiver<u64>,
    pending: VecDeque<Arc<WatchEvent>>,
    /// Every event up to this revision has been delivered or skipped.
    last: u64,
}

impl Watcher {
    /// Starts watching objects of `resource` (a storage key), optionally in one namespace.
    pub async fn start(
        store: Arc<Store>,
        resource: &str,
        namespace: Option<&str>,
        start: Start,
    ) -> Result<Watcher, ApiError> {
        let mut watcher = Watcher {
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
            latest: store.hub().latest.subscribe(),
            pending: VecDeque::new(),
            last: 0,
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
                watcher.store.hub().expired(after)?;
                watcher.last = after;
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
            if self.last >= revision {
                return Ok(None);
            }
            let hub = self.store.hub();
            match hub.next_after(self.last, |e| self.matches(e)) {
                Next::Event(event) => {
                    self.last = event.revision;
                    return Ok(Some(event));
                }
                Next::Seen(seen) => {
                    self.last = seen;
                    if seen >= revision {
                        return Ok(None);
                    }
                    if self.latest.wait_for(|&v| v > seen).await.is_err() {
                        return Err(ApiError::Internal("the watch hub closed".into()));
                    }
                }
                Next::Disk(up_to) => self.read_disk(up_to).await?,
            }
        }
    }

    /// Reads the next page of events in `(last, up_to]` from the log on disk.
    async fn read_disk(&mut self, up_to: u64) -> Result<(), ApiError> {
        let hub = self.store.hub();
        hub.expired(self.last)?;
        let events = self
            .store
            .events_between(&self.resource, self.last, up_to, PAGE)
            .await?;
        // A compaction that ran meanwhile may have taken rows this read expected.
        hub.expired(self.last)?;
        self.last = match events.last() {
            Some(e) if events.len() == PAGE => e.revision,
            _ => up_to,
        };
        for event in events {
            if self.matches(&event) {
                self.pending.push_back(Arc::new(event));
            }
        }
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
    use crate::store::{Change, ObjectKey, Options};
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

    async fn open() -> (Arc<Store>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("kubicle-watch-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir, Options::default()).await.expect("open");
        (store, dir)
    }

    #[tokio::test]
    async fn replays_then_follows_in_order() {
        let (store, dir) = open().await;
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
        let (store, dir) = open().await;
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
        let (store, dir) = open().await;
        for name in ["a", "b", "c"] {
            put(&store, name).await;
        }
        store.compact(2).await.expect("compact");
        let expired = Watcher::start(store.clone(), "/configmaps", None, Start::After(1)).await;
        assert!(matches!(
            expired,
            Err(ApiError::Expired {
                requested: 1,
                compacted: 2
            })
        ));
        let resumed = Watcher::start(store.clone(), "/configmaps", None, Start::After(2)).await;
        assert!(resumed.is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_lagging_watcher_catches_up_from_disk() {
        let (store, dir) = open().await;
        let mut watcher = Watcher::start(store.clone(), "/configmaps", None, Start::After(0))
            .await
            .expect("watch");
        let n = (RING_EVENTS + PAGE + 50) as u64;
        for i in 0..n {
            put(&store, &format!("cm{i}")).await;
        }
        for expected in 1..=n {
            let event = watcher.next().await.expect("event");
            assert_eq!(event.revision, expected);
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_lagging_watcher_whose_position_was_compacted_expires() {
        let (store, dir) = open().await;
        put(&store, "first").await;
        let mut watcher = Watcher::start(store.clone(), "/configmaps", None, Start::After(1))
            .await
            .expect("watch");
        for i in 0..RING_EVENTS + 10 {
            put(&store, &format!("cm{i}")).await;
        }
        store.compact(store.revision()).await.expect("compact");
        let err = watcher.next().await.expect_err("its events are gone");
        assert!(
            matches!(err, ApiError::Expired { requested: 1, .. }),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    fn event(revision: u64) -> WatchEvent {
        WatchEvent {
            revision,
            resource: "/configmaps".into(),
            namespace: "default".into(),
            name: format!("cm{revision}"),
            event_type: EventType::Added,
            object: Arc::new(Value::Null),
            previous: None,
            published: std::time::Instant::now(),
        }
    }

    #[test]
    fn the_ring_is_bounded_by_count_and_by_bytes() {
        let hub = Hub::new(10, 0);
        for revision in 11..=10 + RING_EVENTS as u64 + 5 {
            hub.publish(event(revision), 100);
        }
        assert_eq!(hub.lock().events.len(), RING_EVENTS);
        assert!(matches!(hub.next_after(14, |_| true), Next::Disk(15)));
        assert!(matches!(hub.next_after(15, |_| true), Next::Event(e) if e.revision == 16));
        // Big events push the small ones out; the newest always stays.
        hub.publish(event(2000), RING_BYTES / 2);
        hub.publish(event(2001), RING_BYTES / 2);
        assert_eq!(hub.lock().events.len(), 2);
        hub.publish(event(2002), RING_BYTES * 2);
        assert_eq!(hub.lock().events.len(), 1);
        assert!(matches!(hub.next_after(2002, |_| true), Next::Seen(2002)));
    }
}
