//! The store: every object in SQLite (WAL), mirrored in memory, with one global revision.
//!
//! Layout:
//! - `store.rs`: [`Store`], the write path ([`Store::mutate`]) and the read path (get, list).
//! - `store/sql.rs`: the schema and every SQL statement; nothing else in the workspace touches SQL.
//! - `store/maintenance.rs`: compaction (as kube-apiserver compacts etcd, and past a size
//!   bound), returning freed pages to the file system, WAL checkpoints, the file checks.
//! - `store/files.rs`: the file identity check, the space reserve and the revision lease.
//!
//! **Architecture Invariant:** a write commits to SQLite first, then updates the in-memory view,
//! then publishes its event to the watch hub, all under one writer lock. So events leave in
//! revision order, an acknowledged write is on disk (WAL, `synchronous=NORMAL` survives a
//! `kill -9` of the process), and a reader never sees a revision the disk does not have.
//!
//! The revision is the row id of the write in the `events` table: the object's
//! `resourceVersion`, and the position a watch resumes from after a restart.
//!
//! Memory is proportional to the live data: the view keeps each object as the JSON text it
//! was stored as, and the parsed [`Value`] only while someone (an informer, an event in the
//! hub, a request) holds it; a read of an object nobody holds parses it again.
//!
//! A delete logs a tombstone, not the body: its event row points at the row holding the last
//! state. Writes other than deletes are refused with etcd's "database space exceeded" when
//! the live data passes [`Options::quota_bytes`] or when the disk is full (see
//! `files.rs`, [`files::Reserve`]), so a full disk can always be relieved through deletes.

mod files;
mod maintenance;
mod sql;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use serde_json::Value;

use crate::status::ApiError;
use crate::watch::{EventType, Hub, WatchEvent};

pub use maintenance::parse_interval;

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

/// How the store bounds its history and its disk use.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the log is compacted, each time to the revision the previous time saw
    /// (kube-apiserver's `--etcd-compaction-interval`, 5 minutes by default); zero turns the
    /// periodic compaction off.
    pub compaction_interval: Duration,
    /// Bytes of bodies the log may gain between two compactions before it is compacted
    /// early, down to half of them.
    pub history_bytes: u64,
    /// Bytes of live objects past which writes other than deletes are refused (etcd's
    /// `--quota-backend-bytes`, 2 GiB by default).
    pub quota_bytes: u64,
    /// Size of the space reserve released for deletes on a full disk (0: none).
    pub reserve_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compaction_interval: Duration::from_secs(5 * 60),
            history_bytes: 64 << 20,
            quota_bytes: 2 << 30,
            reserve_bytes: 8 << 20,
        }
    }
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
    /// The revision lease could not be read or written.
    #[error("open the revision lease {path}")]
    Lease {
        /// The lease file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database or its WAL could not be identified on disk.
    #[error("identify the database files in {path}")]
    Identify {
        /// The data directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// One live object in the view: its JSON, and its parsed form while anyone holds it.
#[derive(Debug)]
struct Entry {
    json: Arc<str>,
    revision: u64,
    parsed: Mutex<Weak<Value>>,
}

impl Entry {
    fn new(json: Arc<str>, revision: u64, parsed: Option<&Arc<Value>>) -> Entry {
        Entry {
            json,
            revision,
            parsed: Mutex::new(parsed.map(Arc::downgrade).unwrap_or_default()),
        }
    }

    /// The parsed object: the one someone already holds, or a new parse of the JSON.
    fn value(&self) -> Arc<Value> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = parsed.upgrade() {
            return value;
        }
        // The JSON was written by serde_json or checked when the store opened.
        let value = Arc::new(serde_json::from_str(&self.json).unwrap_or_else(|e| {
            tracing::error!(error = %e, "stored object is not JSON");
            Value::Null
        }));
        *parsed = Arc::downgrade(&value);
        value
    }
}

/// The in-memory view: every live object and the newest revision.
#[derive(Debug, Default)]
struct View {
    objects: BTreeMap<ObjectKey, Arc<Entry>>,
    revision: u64,
    /// Bytes of JSON of every live object (for the quota).
    live_bytes: u64,
}

/// The single source of truth. Shared as `Arc<Store>`.
#[derive(Debug)]
pub struct Store {
    db: sql::Db,
    view: RwLock<View>,
    writer: tokio::sync::Mutex<()>,
    hub: Hub,
    options: Options,
    /// The database and WAL as opened (see `files.rs`).
    identity: files::Identity,
    reserve: files::Reserve,
    lease: Arc<files::Lease>,
    /// Bytes of bodies logged since the last compaction.
    logged: AtomicU64,
    /// Why the store stopped accepting writes, once it has.
    failed: OnceLock<String>,
    /// Wakes the maintenance task (a size-bound compaction, a delete on a full disk).
    wake: Arc<tokio::sync::Notify>,
    /// One compaction at a time.
    compacting: tokio::sync::Mutex<()>,
    db_path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database under `data_dir`, loads every object and
    /// starts the maintenance task (which ends when the store is dropped).
    pub async fn open(data_dir: &Path, options: Options) -> Result<Arc<Store>, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::CreateDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("state.db");
        let open_err = |source| OpenError::Open {
            path: path.display().to_string(),
            source,
        };
        let wal_pages = maintenance::wal_pages(options.reserve_bytes);
        let db = sql::Db::open(&path, wal_pages).await.map_err(open_err)?;
        let (view, compacted, logged) = load(&db).await.map_err(|e| match e {
            LoadError::Sql(source) => open_err(source),
            LoadError::Corrupt { key, source } => OpenError::Corrupt { key, source },
        })?;
        let lease_path = data_dir.join("state.revision");
        let lease_err = |source| OpenError::Lease {
            path: lease_path.display().to_string(),
            source,
        };
        let (lease, leased) = files::Lease::open(lease_path.clone()).map_err(lease_err)?;
        let mut view = view;
        // A start never reuses a revision the previous run may have handed out.
        view.revision = view.revision.max(leased);
        let wal = data_dir.join("state.db-wal");
        let identity =
            files::Identity::take(&[path.clone(), wal, lease_path.clone()]).map_err(|source| {
                OpenError::Identify {
                    path: data_dir.display().to_string(),
                    source,
                }
            })?;
        let reserve = files::Reserve::open(data_dir.join("state.reserve"), options.reserve_bytes);
        tracing::debug!(
            objects = view.objects.len(),
            revision = view.revision,
            compacted,
            "store loaded"
        );
        let store = Arc::new(Store {
            db,
            hub: Hub::new(view.revision, compacted),
            view: RwLock::new(view),
            writer: tokio::sync::Mutex::new(()),
            options,
            identity,
            reserve,
            lease: Arc::new(lease),
            logged: AtomicU64::new(logged),
            failed: OnceLock::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
            compacting: tokio::sync::Mutex::new(()),
            db_path: path,
        });
        maintenance::spawn(&store);
        Ok(store)
    }

    /// The watch hub fed by this store.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The newest committed revision.
    pub fn revision(&self) -> u64 {
        self.read_view().revision
    }

    /// Why the store stopped accepting writes, if it has (`/readyz` fails then).
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// One object.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<Value>> {
        let entry = self.read_view().objects.get(key).cloned();
        entry.map(|e| e.value())
    }

    /// Every object of a type, optionally in one namespace, in key order, with the revision
    /// the list is consistent with.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (entries, revision) = self.entries(resource, namespace);
        // Parsed outside the lock: writers are not held up by a long list.
        (entries.iter().map(|e| e.value()).collect(), revision)
    }

    /// [`Store::list`] as the JSON text each object is stored as, parsing nothing: a large
    /// list then costs its text, not every object parsed at once.
    pub fn list_json(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<str>>, u64) {
        let (entries, revision) = self.entries(resource, namespace);
        (entries.iter().map(|e| e.json.clone()).collect(), revision)
    }

    fn entries(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Entry>>, u64) {
        let view = self.read_view();
        let start = (
            resource.to_string(),
            namespace.unwrap_or("").to_string(),
            String::new(),
        );
        let entries = view
            .objects
            .range(start..)
            .take_while(|((r, ns, _), _)| r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, e)| e.clone())
            .collect();
        (entries, view.revision)
    }

    /// Reads, decides and writes one object atomically. `decide` sees the current state (if
    /// any) and the revision the write will get; its [`Change`] is committed, applied to the
    /// view and published, in that order.
    pub async fn mutate<F>(&self, key: ObjectKey, decide: F) -> Result<Committed, ApiError>
    where
        F: FnOnce(Option<&Arc<Value>>, u64) -> Result<Change, ApiError>,
    {
        let _writing = self.writer.lock().await;
        self.check_files().await?;
        let (entry, revision) = {
            let view = self.read_view();
            (view.objects.get(&key).cloned(), view.revision + 1)
        };
        let current = entry.as_ref().map(|e| e.value());
        let (event_type, object, body) = match decide(current.as_ref(), revision)? {
            Change::Keep => {
                let object = current.unwrap_or_else(|| Arc::new(Value::Null));
                return Ok(unchanged(object));
            }
            Change::Put(mut object) => {
                set_resource_version(&mut object, revision);
                let body = object.to_string();
                let event_type = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (event_type, Arc::new(object), body)
            }
            Change::Delete => {
                let Some(last) = current.as_ref() else {
                    return Ok(unchanged(Arc::new(Value::Null)));
                };
                // A tombstone: the last state stays in the row `prev` names.
                (
                    EventType::Deleted,
                    with_resource_version(last, revision),
                    String::new(),
                )
            }
        };
        let old_bytes = entry.as_ref().map_or(0, |e| e.json.len() as u64);
        self.admit(event_type, old_bytes, body.len() as u64)?;
        let prev = entry.as_ref().map(|e| e.revision);
        self.commit(revision, &key, event_type, &body, prev).await?;
        let ring_bytes = body.len() + old_bytes as usize;
        self.apply(&key, revision, event_type, body, &object, old_bytes);
        self.hub.publish(
            WatchEvent {
                revision,
                resource: key.0,
                namespace: key.1,
                name: key.2,
                event_type,
                object: object.clone(),
                previous: current,
                published: std::time::Instant::now(),
            },
            ring_bytes,
        );
        Ok(Committed {
            object,
            event: Some(event_type),
        })
    }

    /// Closes the database (tests that open it again in the same process; a stopping
    /// process just exits). Writes fail afterwards.
    pub async fn close(&self) {
        self.end_lease();
        self.db.close().await;
    }

    /// On a clean stop, moves the lease back to the last revision, so the next start goes
    /// on from there instead of skipping the rest of the block.
    fn end_lease(&self) {
        let revision = self.revision();
        if self.failed.get().is_none() && revision > 0 && self.identity.check().is_ok() {
            if let Err(e) = self.lease.extend(revision) {
                tracing::warn!(error = %e, "store: end the revision lease");
            }
        }
    }

    /// Refuses writes once the store has failed.
    fn writable(&self) -> Result<(), ApiError> {
        match self.failed.get() {
            Some(why) => Err(ApiError::Unavailable(format!(
                "the store stopped accepting writes: {why}; restart kubicle to open the database again"
            ))),
            None => Ok(()),
        }
    }

    /// Whether a change of this type and size may be written now (deletes always may).
    fn admit(&self, event_type: EventType, old_bytes: u64, new_bytes: u64) -> Result<(), ApiError> {
        let live_after = self.read_view().live_bytes.saturating_sub(old_bytes) + new_bytes;
        let space = Space {
            delete: event_type == EventType::Deleted,
            reserve_armed: self.reserve.armed(),
            live_after,
            quota: self.options.quota_bytes,
        };
        if space.admits() {
            Ok(())
        } else {
            Err(ApiError::SpaceExceeded)
        }
    }

    /// Writes one event to the log, moving the revision lease first when needed. On a full
    /// disk a delete releases the space reserve and is tried once more; anything else is
    /// refused with the quota's error. Before the write is acknowledged, the files are checked.
    async fn commit(
        &self,
        revision: u64,
        key: &ObjectKey,
        event_type: EventType,
        body: &str,
        prev: Option<u64>,
    ) -> Result<(), ApiError> {
        self.cover(revision).await?;
        let delete = event_type == EventType::Deleted;
        let mut result = self.db.commit(revision, key, event_type, body, prev).await;
        if delete && result.as_ref().is_err_and(sql::is_full) {
            // The reserve's room lets the WAL go into the database file (it holds at most
            // half the reserve, see `maintenance::wal_pages`); the WAL's blocks are freed.
            self.reserve.release();
            if let Err(e) = self.db.checkpoint().await {
                tracing::warn!(error = %e, "checkpoint on a full disk");
            }
            result = self.db.commit(revision, key, event_type, body, prev).await;
        }
        match result {
            Ok(()) => {}
            Err(e) if sql::is_full(&e) => {
                tracing::error!(revision, error = %e, "commit: the disk is full");
                return Err(ApiError::SpaceExceeded);
            }
            Err(e) => {
                // A write that failed because the files went away says so (503).
                self.check_files().await?;
                return Err(ApiError::Internal(format!(
                    "commit revision {revision}: {e}"
                )));
            }
        }
        self.check_files().await
    }

    /// Moves the revision lease past `revision` if it does not cover it yet.
    async fn cover(&self, revision: u64) -> Result<(), ApiError> {
        if self.lease.covers(revision) {
            return Ok(());
        }
        let to = revision + files::LEASE_BLOCK;
        let path = self.lease.path().display().to_string();
        let lease = self.lease.clone();
        let extended = tokio::task::spawn_blocking(move || lease.extend(to))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        extended.map_err(|e| {
            tracing::error!(path, error = %e, "extend the revision lease");
            ApiError::Internal(format!("extend the revision lease {path}: {e}"))
        })
    }

    /// Stops the store if its database or WAL is not the file it opened.
    async fn check_files(&self) -> Result<(), ApiError> {
        if self.failed.get().is_none() {
            if let Err(why) = self.identity.check() {
                self.fail(why).await;
            }
        }
        self.writable()
    }

    /// Stops accepting writes for good (until a restart). What the lost WAL held is copied
    /// into the database file first, if that file is still the one opened, so acknowledged
    /// writes survive the restart.
    async fn fail(&self, why: String) {
        if self.failed.set(why.clone()).is_err() {
            return;
        }
        tracing::error!(reason = %why, "store: stopped accepting writes; restart kubicle to open the database again");
        if self.identity.unchanged(&self.db_path) {
            match self.db.checkpoint().await {
                Ok(done) => tracing::warn!(
                    complete = done,
                    "store: copied the WAL into the database file"
                ),
                Err(e) => tracing::error!(error = %e, "store: checkpoint after losing the WAL"),
            }
        }
    }

    /// Applies a committed write to the view.
    fn apply(
        &self,
        key: &ObjectKey,
        revision: u64,
        event_type: EventType,
        body: String,
        object: &Arc<Value>,
        old_bytes: u64,
    ) {
        let new_bytes = body.len() as u64;
        {
            let mut view = self.write_view();
            match event_type {
                EventType::Deleted => {
                    view.objects.remove(key);
                }
                _ => {
                    let entry = Entry::new(Arc::from(body), revision, Some(object));
                    view.objects.insert(key.clone(), Arc::new(entry));
                }
            }
            view.live_bytes = view.live_bytes.saturating_sub(old_bytes) + new_bytes;
            view.revision = revision;
        }
        let logged = self.logged.fetch_add(new_bytes, Ordering::Relaxed) + new_bytes;
        let relieving = event_type == EventType::Deleted && !self.reserve.armed();
        if logged > self.options.history_bytes || relieving {
            self.wake.notify_one();
        }
    }

    /// Events of one type with a revision in `(after, up_to]`, at most `limit`, from disk,
    /// in order.
    pub(crate) async fn events_between(
        &self,
        resource: &str,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, ApiError> {
        self.db
            .events_between(resource, after, up_to, limit)
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

impl Drop for Store {
    /// A clean stop leaves the lease at the last revision, so the next start goes on from
    /// there instead of skipping the rest of the block.
    fn drop(&mut self) {
        self.end_lease();
    }
}

/// What [`Store::admit`] decides from.
#[derive(Debug, Clone, Copy)]
struct Space {
    delete: bool,
    reserve_armed: bool,
    live_after: u64,
    quota: u64,
}

impl Space {
    /// Deletes always pass; other writes need the reserve in place and room in the quota.
    fn admits(self) -> bool {
        self.delete || (self.reserve_armed && self.live_after <= self.quota)
    }
}

fn unchanged(object: Arc<Value>) -> Committed {
    Committed {
        object,
        event: None,
    }
}

enum LoadError {
    Sql(sqlx::Error),
    Corrupt {
        key: ObjectKey,
        source: serde_json::Error,
    },
}

impl From<sqlx::Error> for LoadError {
    fn from(e: sqlx::Error) -> Self {
        LoadError::Sql(e)
    }
}

/// The view as the database holds it, the compacted revision and the bytes logged since.
async fn load(db: &sql::Db) -> Result<(View, u64, u64), LoadError> {
    let mut view = View {
        revision: db.max_revision().await?,
        ..View::default()
    };
    for loaded in db.load_objects().await? {
        // Checked once here, so a read never meets a body that does not parse.
        if let Err(source) = serde_json::from_str::<serde::de::IgnoredAny>(&loaded.body) {
            return Err(LoadError::Corrupt {
                key: loaded.key,
                source,
            });
        }
        view.live_bytes += loaded.body.len() as u64;
        let entry = Entry::new(Arc::from(loaded.body), loaded.revision, None);
        view.objects.insert(loaded.key, Arc::new(entry));
    }
    let compacted = db.compacted().await?;
    let logged = db.logged_since(compacted).await?;
    Ok((view, compacted, logged))
}

fn set_resource_version(object: &mut Value, revision: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

/// A copy of `object` at `revision` (a deleted object's last state carries the revision of
/// its deletion, as upstream's watch sends it).
pub(crate) fn with_resource_version(object: &Value, revision: u64) -> Arc<Value> {
    let mut object = object.clone();
    set_resource_version(&mut object, revision);
    Arc::new(object)
}

/// The least object that names `resource`'s kind and the key (for a tombstone whose last
/// state is missing from the log).
pub(crate) fn bare(resource: &str, namespace: &str, name: &str) -> Value {
    let r = crate::resources::RESOURCES
        .iter()
        .find(|r| r.key() == resource);
    let mut metadata = serde_json::json!({"name": name});
    if !namespace.is_empty() {
        metadata["namespace"] = Value::String(namespace.to_string());
    }
    serde_json::json!({
        "apiVersion": r.map(|r| r.api_version()).unwrap_or_default(),
        "kind": r.map(|r| r.kind).unwrap_or_default(),
        "metadata": metadata,
    })
}

#[cfg(test)]
pub(crate) mod tests;
