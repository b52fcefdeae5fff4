//! The SQLite schema and every SQL statement of kubicle (**only** this file holds SQL).
//!
//! Two tables: `objects` (the live state, one row per object) and `events` (the write log, one
//! row per revision, trimmed to the newest [`super::RETAINED_EVENTS`]). A write is one
//! statement over both (an `INSERT` into `events` whose trigger updates `objects`), so the
//! log and the state never disagree.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::ObjectKey;
use crate::watch::{EventType, WatchEvent};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    resource  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    revision  INTEGER NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    revision  INTEGER PRIMARY KEY,
    resource  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    type      TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, revision);
-- A write is one INSERT into the log; this trigger applies it to the live state inside the
-- same statement, so the two tables cannot disagree and a write costs one round trip.
CREATE TRIGGER IF NOT EXISTS events_apply AFTER INSERT ON events BEGIN
    DELETE FROM objects
     WHERE NEW.type = 'DELETED'
       AND resource = NEW.resource AND namespace = NEW.namespace AND name = NEW.name;
    INSERT OR REPLACE INTO objects (resource, namespace, name, revision, body)
    SELECT NEW.resource, NEW.namespace, NEW.name, NEW.revision, NEW.body
     WHERE NEW.type != 'DELETED';
END;
";

/// The database handle.
#[derive(Debug)]
pub(super) struct Db {
    pool: SqlitePool,
}

impl Db {
    pub(super) async fn open(path: &Path) -> Result<Db, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode syncs at checkpoints only: a committed transaction is in the
            // WAL file when COMMIT returns, so it survives the process being killed (not a
            // power cut). https://www.sqlite.org/pragma.html#pragma_synchronous
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        // No ping before each acquire: it would be one more round trip to sqlx's worker
        // thread on every write, and a local file does not go away between two queries.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Db { pool })
    }

    pub(super) async fn load_objects(&self) -> Result<Vec<(ObjectKey, String)>, sqlx::Error> {
        let rows = sqlx::query("SELECT resource, namespace, name, body FROM objects")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok((
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
                    row.try_get(3)?,
                ))
            })
            .collect()
    }

    pub(super) async fn max_revision(&self) -> Result<u64, sqlx::Error> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(max.unwrap_or(0).max(0) as u64)
    }

    /// The newest revision no longer in the log (a watch must start at or after it).
    pub(super) async fn oldest_revision(&self) -> Result<u64, sqlx::Error> {
        let min: Option<i64> = sqlx::query_scalar("SELECT MIN(revision) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(min.map(|m| (m - 1).max(0) as u64).unwrap_or(0))
    }

    /// Appends one write to the log; the `events_apply` trigger updates `objects` in the same
    /// (implicit) transaction.
    pub(super) async fn commit(
        &self,
        revision: u64,
        key: &ObjectKey,
        event_type: EventType,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO events (revision, resource, namespace, name, type, body) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(revision as i64)
            .bind(&key.0)
            .bind(&key.1)
            .bind(&key.2)
            .bind(event_type.as_str())
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn compact(&self, keep_after: u64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM events WHERE revision <= ?")
            .bind(keep_after as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn events_between(
        &self,
        resource: &str,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<WatchEvent>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT revision, namespace, name, type, body FROM events
             WHERE resource = ? AND revision > ? AND revision <= ? ORDER BY revision",
        )
        .bind(resource)
        .bind(after as i64)
        .bind(up_to as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let revision: i64 = row.try_get(0)?;
            let event_type: String = row.try_get(3)?;
            let body: String = row.try_get(4)?;
            let Some(event_type) = EventType::parse(&event_type) else {
                continue;
            };
            let object =
                serde_json::from_str(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            events.push(WatchEvent {
                revision: revision.max(0) as u64,
                resource: resource.to_string(),
                namespace: row.try_get(1)?,
                name: row.try_get(2)?,
                event_type,
                object: Arc::new(object),
                previous: None,
                published: std::time::Instant::now(),
            });
        }
        Ok(events)
    }
}
