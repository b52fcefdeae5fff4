//! The SQLite schema and every SQL statement of kubicle (**only** this file holds SQL).
//!
//! Three tables:
//! - `events`: the write log, one row per revision. A `DELETED` row is a tombstone: its body
//!   is empty and `prev` names the row that holds the object's last state. Every row names
//!   the key's previous revision in `prev` (`NULL` for a create).
//! - `objects`: the live state, one row per object, pointing at the `events` row that holds
//!   its body (so a live object's body is stored once).
//! - `meta`: the compacted revision.
//!
//! A write is one statement (an `INSERT` into `events` whose trigger updates `objects`), so
//! the log and the state never disagree. Compaction keeps what etcd keeps: every row after the
//! compacted revision, and at or before it only the rows something still needs (a live
//! object's body, or the `prev` of a later row, so a replayed `DELETED` event carries the last
//! state and a replayed `MODIFIED` event the previous one).
//!
//! The database uses `auto_vacuum=INCREMENTAL`, so pages freed by compaction go back to the
//! file system ([`Db::vacuum`]); a database made before this is switched by one `VACUUM`.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::ObjectKey;
use crate::watch::{EventType, WatchEvent};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    resource  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    revision  INTEGER NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    revision  INTEGER PRIMARY KEY,
    resource  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    type      TEXT NOT NULL,
    body      TEXT NOT NULL,
    prev      INTEGER
);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, revision);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
-- A write is one INSERT into the log; this trigger applies it to the live state inside the
-- same statement, so the two tables cannot disagree and a write costs one round trip.
CREATE TRIGGER IF NOT EXISTS events_apply AFTER INSERT ON events BEGIN
    DELETE FROM objects
     WHERE NEW.type = 'DELETED'
       AND resource = NEW.resource AND namespace = NEW.namespace AND name = NEW.name;
    INSERT OR REPLACE INTO objects (resource, namespace, name, revision)
    SELECT NEW.resource, NEW.namespace, NEW.name, NEW.revision
     WHERE NEW.type != 'DELETED';
END;
";

/// The schema before tombstones: `objects` held a copy of each body, every row of `events` a
/// whole body. One transaction moves it to [`SCHEMA`]: each live body is kept in `events` (at
/// the object's revision), `objects` points at it, and the old log floor becomes the
/// compacted revision.
const MIGRATE_FROM_BODIES: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR REPLACE INTO meta (name, value)
SELECT 'compacted', COALESCE((SELECT MIN(revision) - 1 FROM events),
                             (SELECT MAX(revision) FROM objects), 0);
DROP TRIGGER IF EXISTS events_apply;
ALTER TABLE events ADD COLUMN prev INTEGER;
INSERT OR IGNORE INTO events (revision, resource, namespace, name, type, body)
SELECT revision, resource, namespace, name, 'ADDED', body FROM objects;
CREATE TABLE objects_by_revision (
    resource  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    revision  INTEGER NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
INSERT INTO objects_by_revision SELECT resource, namespace, name, revision FROM objects;
DROP TABLE objects;
ALTER TABLE objects_by_revision RENAME TO objects;
";

/// Rows the compactor deletes per statement, so no transaction holds the write lock (or
/// grows the WAL) for long.
const COMPACT_CHUNK: i64 = 2_000;

/// Connections to the database (all opened at start).
const CONNECTIONS: u32 = 4;

/// One live object as loaded at start.
pub(super) struct Loaded {
    pub(super) key: ObjectKey,
    pub(super) revision: u64,
    pub(super) body: String,
}

/// The database handle.
#[derive(Debug)]
pub(super) struct Db {
    pool: SqlitePool,
}

/// Whether an error is SQLite's `SQLITE_FULL` (the disk, or the file size limit, is full).
pub(super) fn is_full(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => e.code().as_deref() == Some("13"),
        _ => false,
    }
}

impl Db {
    /// Opens the database; `wal_pages` is the WAL size (in pages) at which a commit
    /// checkpoints it, which bounds what a checkpoint adds to the database file.
    pub(super) async fn open(path: &Path, wal_pages: u32) -> Result<Db, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            // A new database starts with incremental auto-vacuum; an older one is switched
            // below. https://www.sqlite.org/pragma.html#pragma_auto_vacuum
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode syncs at checkpoints only: a committed transaction is in the
            // WAL file when COMMIT returns, so it survives the process being killed (not a
            // power cut). https://www.sqlite.org/pragma.html#pragma_synchronous
            .synchronous(SqliteSynchronous::Normal)
            // After a checkpoint resets the WAL, it is cut back to this size.
            .pragma("journal_size_limit", (4 << 20).to_string())
            // https://www.sqlite.org/pragma.html#pragma_wal_autocheckpoint
            .pragma("wal_autocheckpoint", wal_pages.to_string())
            .busy_timeout(std::time::Duration::from_secs(5));
        // No ping before each acquire: it would be one more round trip to sqlx's worker
        // thread on every write, and a local file does not go away between two queries.
        // Connections live as long as the pool: SQLite deletes the WAL when the last one
        // closes, and a connection opened after the WAL was removed would make a new, empty
        // one; the store watches the WAL's inode (see `files.rs`).
        let pool = SqlitePoolOptions::new()
            .max_connections(CONNECTIONS)
            // Not `min_connections`: with no idle timeout sqlx then opens connections from a
            // background task too, which can race the first one while it creates the file
            // and switches it to WAL ("database is locked" at start, seen under load). The
            // connections are opened one by one below and never time out.
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let db = Db { pool };
        if db.has_bodies_in_objects().await? {
            let mut tx = db.pool.begin().await?;
            sqlx::raw_sql(MIGRATE_FROM_BODIES).execute(&mut *tx).await?;
            tx.commit().await?;
            tracing::info!("store: migrated to tombstones (live bodies kept once)");
        }
        sqlx::raw_sql(SCHEMA).execute(&db.pool).await?;
        db.switch_to_incremental_vacuum().await;
        db.open_every_connection().await?;
        Ok(db)
    }

    /// Opens the pool's other connections now, after the one that set the database up (so
    /// none of them switches the journal mode while another writes the schema), and before
    /// the store takes the files' identity.
    /// One at a time: connections opening together each run the open-time pragmas, and one
    /// could find another's lock (SQLITE_BUSY at start under load).
    async fn open_every_connection(&self) -> Result<(), sqlx::Error> {
        let mut connections = Vec::new();
        for _ in 0..CONNECTIONS {
            connections.push(self.pool.acquire().await?);
        }
        drop(connections);
        Ok(())
    }

    /// Closes every connection (the last one checkpoints and removes the WAL).
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    async fn has_bodies_in_objects(&self) -> Result<bool, sqlx::Error> {
        // Run to its end (`fetch_all`): a statement left after its first row keeps a read
        // lock, and the VACUUM that may follow would find the database locked.
        let n: Vec<i64> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('objects') WHERE name = 'body'",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(n.first().is_some_and(|n| *n > 0))
    }

    /// A database made without `auto_vacuum` keeps freed pages forever; one `VACUUM`
    /// (rewriting the file) switches it. A failure (a full disk) is not fatal: the file then
    /// only stops growing, and the next start tries again.
    async fn switch_to_incremental_vacuum(&self) {
        // One connection for the check and the VACUUM, the check's statement run to its end
        // (`fetch_all`): a statement left stepped on another connection holds a read lock,
        // and VACUUM then fails with "database is locked".
        let result = async {
            let mut conn = self.pool.acquire().await?;
            let mode: Vec<i64> = sqlx::query_scalar("PRAGMA auto_vacuum")
                .fetch_all(&mut *conn)
                .await?;
            if mode.first() == Some(&2) {
                return Ok(None);
            }
            sqlx::raw_sql("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                .execute(&mut *conn)
                .await?;
            sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await
                .map(Some)
        }
        .await;
        match result {
            Ok(None) => {}
            Ok(Some(_)) => tracing::info!("store: switched the database to incremental vacuum"),
            Err(e) => tracing::warn!(error = %e, "store: switch to incremental vacuum"),
        }
    }

    /// Every live object with its revision and body.
    pub(super) async fn load_objects(&self) -> Result<Vec<Loaded>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT o.resource, o.namespace, o.name, o.revision, e.body
               FROM objects o LEFT JOIN events e ON e.revision = o.revision",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let revision: i64 = row.try_get(3)?;
                let body: Option<String> = row.try_get(4)?;
                Ok(Loaded {
                    key: (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
                    revision: revision.max(0) as u64,
                    body: body.unwrap_or_default(),
                })
            })
            .collect()
    }

    pub(super) async fn max_revision(&self) -> Result<u64, sqlx::Error> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(max.unwrap_or(0).max(0) as u64)
    }

    /// The compacted revision: no event at or before it is replayable.
    pub(super) async fn compacted(&self) -> Result<u64, sqlx::Error> {
        let value: Option<i64> =
            sqlx::query_scalar("SELECT value FROM meta WHERE name = 'compacted'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(value.unwrap_or(0).max(0) as u64)
    }

    /// Bytes of bodies logged after `compacted` (what the next compaction may free).
    pub(super) async fn logged_since(&self, compacted: u64) -> Result<u64, sqlx::Error> {
        let bytes: Option<i64> =
            sqlx::query_scalar("SELECT SUM(octet_length(body)) FROM events WHERE revision > ?")
                .bind(compacted as i64)
                .fetch_one(&self.pool)
                .await?;
        Ok(bytes.unwrap_or(0).max(0) as u64)
    }

    /// The revision to compact to so that at most `keep` bytes of bodies logged after it
    /// remain (`None` when everything after `compacted` fits).
    pub(super) async fn size_target(
        &self,
        compacted: u64,
        keep: u64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let target: Option<i64> = sqlx::query_scalar(
            "SELECT revision FROM (
                SELECT revision, SUM(octet_length(body)) OVER (ORDER BY revision DESC) AS tail
                  FROM events WHERE revision > ?1)
              WHERE tail > ?2 ORDER BY revision DESC LIMIT 1",
        )
        .bind(compacted as i64)
        .bind(keep as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(target.map(|t| t.max(0) as u64))
    }

    /// Appends one write to the log; the `events_apply` trigger updates `objects` in the same
    /// (implicit) transaction. A delete's `body` is empty (a tombstone).
    pub(super) async fn commit(
        &self,
        revision: u64,
        key: &ObjectKey,
        event_type: EventType,
        body: &str,
        prev: Option<u64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO events (revision, resource, namespace, name, type, body, prev) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(revision as i64)
            .bind(&key.0)
            .bind(&key.1)
            .bind(&key.2)
            .bind(event_type.as_str())
            .bind(body)
            .bind(prev.map(|p| p as i64))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records `to` as the compacted revision (before any row goes, so a reader that checks
    /// it after reading knows whether what it read was complete).
    pub(super) async fn mark_compacted(&self, to: u64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)")
            .bind(to as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the next chunk of rows at or before `to` that nothing needs, after `cursor`;
    /// returns the newest revision deleted, or `None` when there is nothing left to delete.
    pub(super) async fn compact_chunk(
        &self,
        to: u64,
        cursor: u64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let deleted: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM events WHERE revision IN (
                SELECT e.revision FROM events e
                 WHERE e.revision > ?1 AND e.revision <= ?2
                   AND NOT EXISTS (SELECT 1 FROM objects o
                                    WHERE o.resource = e.resource AND o.namespace = e.namespace
                                      AND o.name = e.name AND o.revision = e.revision)
                   AND e.revision NOT IN (SELECT prev FROM events
                                           WHERE revision > ?2 AND prev IS NOT NULL)
                 ORDER BY e.revision LIMIT ?3)
             RETURNING revision",
        )
        .bind(cursor as i64)
        .bind(to as i64)
        .bind(COMPACT_CHUNK)
        .fetch_all(&self.pool)
        .await?;
        Ok(deleted.into_iter().max().map(|r| r.max(0) as u64))
    }

    /// Returns up to `pages` free pages to the file system; the WAL is checkpointed and cut
    /// back after each step, so the step's WAL frames are the only extra space it needs.
    /// Returns the free pages left.
    pub(super) async fn vacuum(&self, pages: u32) -> Result<u64, sqlx::Error> {
        sqlx::raw_sql(&format!("PRAGMA incremental_vacuum({pages})"))
            .execute(&self.pool)
            .await?;
        self.checkpoint().await?;
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(&self.pool)
            .await?;
        Ok(free.max(0) as u64)
    }

    /// Copies the WAL into the database file and truncates it to zero bytes (when no reader
    /// is in the way). Returns whether it completed.
    pub(super) async fn checkpoint(&self) -> Result<bool, sqlx::Error> {
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        let busy: i64 = row.try_get(0)?;
        Ok(busy == 0)
    }

    /// Bytes of the database file that hold data (its pages minus the free ones).
    pub(super) async fn used_bytes(&self) -> Result<u64, sqlx::Error> {
        let row = sqlx::query(
            "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()),
                    (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&self.pool)
        .await?;
        let pages: i64 = row.try_get(0)?;
        let size: i64 = row.try_get(1)?;
        Ok((pages.max(0) * size.max(0)) as u64)
    }

    /// Events of one type with a revision in `(after, up_to]`, at most `limit`, in order. A
    /// `DELETED` event carries the last state (the body of its `prev` row) and every event
    /// the state before it when the log still has it, so selector transitions replay too.
    pub(super) async fn events_between(
        &self,
        resource: &str,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT e.revision, e.namespace, e.name, e.type, e.body, p.body
               FROM events e LEFT JOIN events p ON p.revision = e.prev
              WHERE e.resource = ? AND e.revision > ? AND e.revision <= ?
              ORDER BY e.revision LIMIT ?",
        )
        .bind(resource)
        .bind(after as i64)
        .bind(up_to as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        let decode = |body: &str| -> Result<Arc<Value>, sqlx::Error> {
            serde_json::from_str(body)
                .map(Arc::new)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let revision: i64 = row.try_get(0)?;
            let namespace: String = row.try_get(1)?;
            let name: String = row.try_get(2)?;
            let event_type: String = row.try_get(3)?;
            let body: String = row.try_get(4)?;
            let prev: Option<String> = row.try_get(5)?;
            let Some(event_type) = EventType::parse(&event_type) else {
                continue;
            };
            let revision = revision.max(0) as u64;
            let previous = prev.as_deref().map(decode).transpose()?;
            let object = match (event_type, body.is_empty(), &previous) {
                (EventType::Deleted, true, Some(last)) => {
                    super::with_resource_version(last, revision)
                }
                (EventType::Deleted, true, None) => {
                    tracing::warn!(
                        resource,
                        namespace,
                        name,
                        revision,
                        "tombstone without its last state"
                    );
                    super::with_resource_version(
                        &super::bare(resource, &namespace, &name),
                        revision,
                    )
                }
                _ => decode(&body)?,
            };
            events.push(WatchEvent {
                revision,
                resource: resource.to_string(),
                namespace,
                name,
                event_type,
                object,
                previous,
                published: std::time::Instant::now(),
            });
        }
        Ok(events)
    }
}
