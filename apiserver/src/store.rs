//! The store: every object in SQLite (WAL), mirrored in memory, with one global revision.
//!
//! Layout:
//! - `store.rs`: [`Store`], the write path ([`Store::mutate`]) and the read path (get, list).
//! - `store/sql.rs`: the schema and every SQL statement; nothing else in the workspace touches SQL.
//!
//! **Architecture Invariant:** a write commits to SQLite first, then updates the in-memory view,
//! then publishes its event to the watch hub, all under one writer lock. So events leave in
//! revision order, an acknowledged write is on disk (WAL, `synchronous=NORMAL` survives a
//! `kill -9` of the process), and a reader never sees a revision the disk does not have.
//!
//! The revision is the row id of the write in the `events` table: the object's
//! `resourceVersion`, and the position a watch resumes from after a restart.

mod sql;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::status::ApiError;
use crate::watch::{EventType, Hub, WatchEvent};

/// Where one object lives: the type's storage key, the namespace (`""` if cluster-scoped), the name.
pub type ObjectKey = (String, String, String);

/// What a [`Store::mutate`] closure decides to do with the object.
#[derive(Debug)]
pub enum Change {
    /// Store this new state (its `metadata.resourceVersion` is set by the store).
    Put(Value),
    /// Remove the object.
    Delete,
    /// Leave everything as it is (no revision is used).
    Keep,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The object as stored (for a delete: its last state).
    pub object: Arc<Value>,
    /// `Added`, `Modified` or `Deleted`; `None` when nothing changed.
    pub event: Option<EventType>,
}

/// Errors opening the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("create data directory {path}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite refused to open or migrate the database.
    #[error("open database {path}")]
    Open {
        /// The database file.
        path: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// A stored object is not valid JSON (the file was edited or damaged).
    #[error("load object {key:?} from the database")]
    Corrupt {
        /// Where the object lives.
        key: ObjectKey,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The in-memory view: every live object and the newest revision.
#[derive(Debug, Default)]
struct View {
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    revision: u64,
}

/// The single source of truth. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    db: sql::Db,
    view: RwLock<View>,
    writer: tokio::sync::Mutex<()>,
    hub: Hub,
}

/// Events kept on disk for watches that resume from an older revision.
const RETAINED_EVENTS: u64 = 100_000;

impl Store {
    /// Opens (creating if needed) the database under `data_dir` and loads every object.
    pub async fn open(data_dir: &Path) -> Result<Store, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::CreateDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("state.db");
        let db = sql::Db::open(&path)
            .await
            .map_err(|source| OpenError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let open_err = |source| OpenError::Open {
            path: path.display().to_string(),
            source,
        };
        let rows = db.load_objects().await.map_err(open_err)?;
        let revision = db.max_revision().await.map_err(open_err)?;
        let oldest = db.oldest_revision().await.map_err(open_err)?;
        let mut objects = BTreeMap::new();
        for (key, body) in rows {
            let value: Value =
                serde_json::from_str(&body).map_err(|source| OpenError::Corrupt {
                    key: key.clone(),
                    source,
                })?;
            objects.insert(key, Arc::new(value));
        }
        tracing::debug!(objects = objects.len(), revision, "store loaded");
        Ok(Store {
            db,
            view: RwLock::new(View { objects, revision }),
            writer: tokio::sync::Mutex::new(()),
            hub: Hub::new(oldest),
        })
    }

    /// The watch hub fed by this store.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The newest committed revision.
    pub fn revision(&self) -> u64 {
        self.read_view().revision
    }

    /// One object.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        self.read_view().objects.get(key).cloned()
    }

    /// Every object of a type, optionally in one namespace, in key order, with the revision
    /// the list is consistent with.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let view = self.read_view();
        let start = (
            resource.to_string(),
            namespace.unwrap_or("").to_string(),
            String::new(),
        );
        let items = view
            .objects
            .range(start..)
            .take_while(|((r, ns, _), _)| r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect();
        (items, view.revision)
    }

    /// Reads, decides and writes one object atomically. `decide` sees the current state (if
    /// any) and the revision the write will get; its [`Change`] is committed, applied to the
    /// view and published, in that order.
    pub async fn mutate<F>(&self, key: ObjectKey, decide: F) -> Result<Committed, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<Change, ApiError>,
    {
        let _writing = self.writer.lock().await;
        let (current, revision) = {
            let view = self.read_view();
            (view.objects.get(&key).cloned(), view.revision + 1)
        };
        let change = decide(current.as_ref(), revision)?;
        let (event_type, object) = match change {
            Change::Keep => {
                let object = current.unwrap_or_else(|| Arc::new(Value::Null));
                return Ok(Committed {
                    object,
                    event: None,
                });
            }
            Change::Put(mut object) => {
                set_resource_version(&mut object, revision);
                let event_type = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (event_type, Arc::new(object))
            }
            Change::Delete => {
                let Some(last) = current.as_ref() else {
                    return Ok(Committed {
                        object: Arc::new(Value::Null),
                        event: None,
                    });
                };
                let mut object = Value::clone(last);
                set_resource_version(&mut object, revision);
                (EventType::Deleted, Arc::new(object))
            }
        };
        let body = object.to_string();
        self.db
            .commit(revision, &key, event_type, &body)
            .await
            .map_err(|e| ApiError::Internal(format!("commit revision {revision}: {e}")))?;
        {
            let mut view = self.write_view();
            match event_type {
                EventType::Deleted => {
                    view.objects.remove(&key);
                }
                _ => {
                    view.objects.insert(key.clone(), object.clone());
                }
            }
            view.revision = revision;
        }
        self.hub.publish(WatchEvent {
            revision,
            resource: key.0,
            namespace: key.1,
            name: key.2,
            event_type,
            object: object.clone(),
            previous: current,
            published: std::time::Instant::now(),
        });
        if revision % 1024 == 0 && revision > RETAINED_EVENTS {
            let keep_after = revision - RETAINED_EVENTS;
            match self.db.compact(keep_after).await {
                Ok(()) => self.hub.set_oldest(keep_after),
                Err(e) => tracing::warn!(error = %e, "compact the event log"),
            }
        }
        Ok(Committed {
            object,
            event: Some(event_type),
        })
    }

    /// Events of one type with a revision in `(after, up_to]`, from disk, in order.
    pub(crate) async fn events_between(
        &self,
        resource: &str,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<WatchEvent>, ApiError> {
        self.db
            .events_between(resource, after, up_to)
            .await
            .map_err(|e| ApiError::Internal(format!("read event log: {e}")))
    }

    fn read_view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        // A panic while holding the lock cannot leave the map half-written (every write is a
        // single insert/remove), so a poisoned lock is still consistent.
        self.view.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_view(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn set_resource_version(object: &mut Value, revision: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ("/configmaps".into(), "default".into(), name.into())
    }

    #[tokio::test]
    async fn writes_survive_reopen_and_revisions_grow() {
        let dir = tempdir();
        {
            let store = Store::open(&dir).await.expect("open");
            for i in 0..5 {
                let name = format!("cm{i}");
                store
                    .mutate(key(&name), |_, _| {
                        Ok(Change::Put(json!({"metadata": {"name": name}})))
                    })
                    .await
                    .expect("put");
            }
            store
                .mutate(key("cm0"), |_, _| Ok(Change::Delete))
                .await
                .expect("delete");
            assert_eq!(store.revision(), 6);
        }
        let store = Store::open(&dir).await.expect("reopen");
        assert_eq!(store.revision(), 6);
        let (items, rev) = store.list("/configmaps", Some("default"));
        assert_eq!(items.len(), 4);
        assert_eq!(rev, 6);
        assert_eq!(items[0]["metadata"]["resourceVersion"], "2");
        let events = store
            .events_between("/configmaps", 4, 6)
            .await
            .expect("events");
        assert_eq!(
            events
                .iter()
                .map(|e| (e.revision, e.event_type))
                .collect::<Vec<_>>(),
            vec![(5, EventType::Added), (6, EventType::Deleted)]
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_refused_change_writes_nothing() {
        let dir = tempdir();
        let store = Store::open(&dir).await.expect("open");
        let err = store
            .mutate(key("x"), |_, _| Err(ApiError::BadRequest("no".into())))
            .await;
        assert!(err.is_err());
        assert_eq!(store.revision(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    pub(crate) fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kubicle-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("tempdir");
        dir
    }
}
