//! Store tests on real SQLite files: revisions across reopen, compaction and what it keeps,
//! tombstone replay, vacuum returning space, the size bound, the quota, a full disk (a small
//! tmpfs, as root), files removed under the store, and revisions never reused.

use super::maintenance::Compactor;
use super::*;
use crate::watch::{Start, Watcher};
use serde_json::json;

fn key(name: &str) -> ObjectKey {
    ("/configmaps".into(), "default".into(), name.into())
}

pub(crate) fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kubicle-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}

fn configmap(name: &str, data: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"}, "data": {"d": data}})
}

async fn put(store: &Store, name: &str, data: &str) -> Result<u64, ApiError> {
    let obj = configmap(name, data);
    let committed = store.mutate(key(name), |_, _| Ok(Change::Put(obj))).await?;
    Ok(crate::watch::object_revision(&committed.object))
}

async fn delete(store: &Store, name: &str) -> Result<Committed, ApiError> {
    store.mutate(key(name), |_, _| Ok(Change::Delete)).await
}

fn disk_bytes(dir: &Path) -> u64 {
    ["state.db", "state.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// One maintenance round, as the background task runs it.
async fn maintain(store: &Store) {
    let mut once = Compactor::new(Duration::ZERO, tokio::time::Instant::now());
    store.maintain(&mut once).await;
}

#[tokio::test]
async fn writes_survive_reopen_and_revisions_grow() {
    let dir = tempdir();
    {
        let store = Store::open(&dir, Options::default()).await.expect("open");
        for i in 0..5 {
            put(&store, &format!("cm{i}"), "x").await.expect("put");
        }
        delete(&store, "cm0").await.expect("delete");
        assert_eq!(store.revision(), 6);
        store.close().await;
    }
    let store = Store::open(&dir, Options::default()).await.expect("reopen");
    assert_eq!(store.revision(), 6);
    let (items, rev) = store.list("/configmaps", Some("default"));
    assert_eq!(items.len(), 4);
    assert_eq!(rev, 6);
    assert_eq!(items[0]["metadata"]["resourceVersion"], "2");
    let events = store
        .events_between("/configmaps", 4, 6, 100)
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
    let store = Store::open(&dir, Options::default()).await.expect("open");
    let err = store
        .mutate(key("x"), |_, _| Err(ApiError::BadRequest("no".into())))
        .await;
    assert!(err.is_err());
    assert_eq!(store.revision(), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn reads_share_the_parsed_object_while_someone_holds_it() {
    let dir = tempdir();
    let store = Store::open(&dir, Options::default()).await.expect("open");
    put(&store, "a", "x").await.expect("put");
    let first = store.get(&key("a")).expect("a");
    let second = store.get(&key("a")).expect("a");
    assert!(Arc::ptr_eq(&first, &second));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_delete_logs_a_tombstone_and_replays_the_last_state() {
    let dir = tempdir();
    let store = Store::open(&dir, Options::default()).await.expect("open");
    put(&store, "a", "last").await.expect("put");
    let before = store.revision();
    let deleted = delete(&store, "a").await.expect("delete");
    assert_eq!(deleted.object["metadata"]["resourceVersion"], "2");
    // The delete logged no body.
    assert_eq!(store.db.logged_since(before).await.expect("logged"), 0);
    let replayed = store
        .events_between("/configmaps", before, 2, 10)
        .await
        .expect("events");
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].event_type, EventType::Deleted);
    assert_eq!(replayed[0].object["data"]["d"], "last");
    assert_eq!(replayed[0].object["metadata"]["resourceVersion"], "2");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn compaction_keeps_what_replay_needs_and_expires_older_starts() {
    let dir = tempdir();
    {
        let store = Store::open(&dir, Options::default()).await.expect("open");
        put(&store, "a", "1").await.expect("a@1");
        put(&store, "b", "b-last").await.expect("b@2");
        put(&store, "a", "3").await.expect("a@3");
        put(&store, "c", "4").await.expect("c@4");
        delete(&store, "b").await.expect("b deleted @5");
        assert_eq!(store.compact(4).await.expect("compact"), 4);
        let expired = Watcher::start(store.clone(), "/configmaps", None, Start::After(3)).await;
        let err = expired.expect_err("a start before the compacted revision");
        assert_eq!(err.to_string(), "too old resource version: 3 (4)");
        // b's create (revision 2) is before the compacted revision, but its tombstone is
        // after it: the replayed DELETED event still carries b's last state.
        let mut watcher = Watcher::start(store.clone(), "/configmaps", None, Start::After(4))
            .await
            .expect("watch from the compacted revision");
        let event = watcher.next().await.expect("event");
        assert_eq!((event.revision, event.event_type), (5, EventType::Deleted));
        assert_eq!(event.object["data"]["d"], "b-last");
        assert_eq!(event.object["metadata"]["resourceVersion"], "5");
        assert_eq!(
            event.previous.as_ref().map(|p| p["data"]["d"].clone()),
            Some(json!("b-last"))
        );
        // a@1 is gone (superseded before the compacted revision); a@3 and c@4 are live.
        let kept = store
            .events_between("/configmaps", 0, 4, 10)
            .await
            .expect("events");
        let kept: Vec<u64> = kept.iter().map(|e| e.revision).collect();
        assert_eq!(kept, vec![2, 3, 4]);
        store.close().await;
    }
    let store = Store::open(&dir, Options::default()).await.expect("reopen");
    assert_eq!(store.hub().compacted(), 4);
    let (items, _) = store.list("/configmaps", None);
    let names: Vec<&str> = items
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(items[0]["data"]["d"], "3");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn compaction_returns_the_space_to_the_file_system() {
    let dir = tempdir();
    let store = Store::open(&dir, Options::default()).await.expect("open");
    let big = "x".repeat(100 << 10);
    for _ in 0..200 {
        put(&store, "big", &big).await.expect("rewrite");
    }
    let before = disk_bytes(&dir);
    assert!(
        before > 15 << 20,
        "200 rewrites of 100 KiB take {before} bytes"
    );
    store.compact(store.revision()).await.expect("compact");
    let after = disk_bytes(&dir);
    assert!(
        after < 1 << 20,
        "after compaction and vacuum: {after} bytes"
    );
    assert_eq!(
        store.get(&key("big")).expect("big")["data"]["d"],
        big.as_str()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_log_is_compacted_early_past_its_size_bound() {
    let dir = tempdir();
    let options = Options {
        history_bytes: 1 << 20,
        ..Options::default()
    };
    let store = Store::open(&dir, options).await.expect("open");
    let chunk = "x".repeat(100 << 10);
    for _ in 0..30 {
        put(&store, "big", &chunk).await.expect("rewrite");
    }
    maintain(&store).await;
    let compacted = store.hub().compacted();
    // At most 1 MiB (ten versions) stays after the compacted revision.
    assert!(compacted >= 20, "compacted to {compacted}");
    let logged = store.db.logged_since(compacted).await.expect("logged");
    // At most the bound stays (the background task may have compacted meanwhile too).
    assert!(
        logged <= 1 << 20,
        "{logged} bytes after the compacted revision"
    );
    // That the freed space goes back to the file system is
    // `compaction_returns_the_space_to_the_file_system`'s to check: here the background task
    // may be between its vacuum steps (seen under load), so the file size is no measure.
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn past_the_quota_only_deletes_pass() {
    let dir = tempdir();
    let options = Options {
        quota_bytes: 4 << 10,
        ..Options::default()
    };
    let store = Store::open(&dir, options).await.expect("open");
    let data = "x".repeat(1 << 10);
    let mut refused = None;
    for i in 0..10 {
        if let Err(e) = put(&store, &format!("cm{i}"), &data).await {
            refused = Some(e);
            break;
        }
    }
    let err = refused.expect("the quota refuses a write");
    assert_eq!(err.to_string(), "etcdserver: mvcc: database space exceeded");
    delete(&store, "cm0").await.expect("a delete passes");
    put(&store, "cm0", "small").await.expect("room again");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_removed_wal_stops_writes_and_loses_no_acknowledged_one() {
    let dir = tempdir();
    let last = {
        let store = Store::open(&dir, Options::default()).await.expect("open");
        for i in 0..3 {
            put(&store, &format!("cm{i}"), "x").await.expect("put");
        }
        std::fs::remove_file(dir.join("state.db-wal")).expect("remove the WAL");
        let err = put(&store, "after", "x")
            .await
            .expect_err("not acknowledged");
        assert!(matches!(err, ApiError::Unavailable(_)), "{err}");
        assert!(
            err.to_string().contains("state.db-wal was removed"),
            "{err}"
        );
        assert!(store.failure().is_some());
        let again = put(&store, "again", "x").await.expect_err("still refused");
        assert!(matches!(again, ApiError::Unavailable(_)));
        assert_eq!(
            store.get(&key("cm2")).expect("reads go on")["data"]["d"],
            "x"
        );
        store.revision()
    };
    // What a kill -9 now leaves: the database file and the lease (the WAL is gone).
    let crashed = tempdir();
    for file in ["state.db", "state.revision"] {
        std::fs::copy(dir.join(file), crashed.join(file)).expect("copy");
    }
    let store = Store::open(&crashed, Options::default())
        .await
        .expect("reopen");
    for i in 0..3 {
        assert!(store.get(&key(&format!("cm{i}"))).is_some(), "cm{i} kept");
    }
    let next = put(&store, "new", "x")
        .await
        .expect("writes again after a restart");
    assert!(
        next > last + 1,
        "revision {next} after {last} (and the unacknowledged one)"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&crashed).ok();
}

#[tokio::test]
async fn a_lost_wal_never_makes_a_revision_reused() {
    let dir = tempdir();
    let store = Store::open(&dir, Options::default()).await.expect("open");
    for i in 0..5 {
        put(&store, &format!("cm{i}"), "x").await.expect("put");
    }
    let handed_out = store.revision();
    // What a kill -9 leaves when the WAL is gone: the database file as of the last
    // checkpoint (here: nothing of the five writes) and the lease.
    let crashed = tempdir();
    for file in ["state.db", "state.revision"] {
        std::fs::copy(dir.join(file), crashed.join(file)).expect("copy");
    }
    drop(store);
    let store = Store::open(&crashed, Options::default())
        .await
        .expect("open");
    let next = put(&store, "cm0", "again").await.expect("put");
    assert!(
        next > handed_out,
        "revision {next} reuses one of 1..={handed_out}"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&crashed).ok();
}

#[tokio::test]
async fn a_database_from_before_tombstones_is_migrated() {
    let dir = tempdir();
    {
        let url = format!("sqlite://{}?mode=rwc", dir.join("state.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("old db");
        sqlx::raw_sql(&format!(
            "CREATE TABLE objects (resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
                revision INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID;
             CREATE TABLE events (revision INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL,
                name TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);
             INSERT INTO objects VALUES ('/configmaps', 'default', 'a', 3, '{a3}');
             INSERT INTO events VALUES (5, '/configmaps', 'default', 'b', 'ADDED', '{b5}');
             INSERT INTO events VALUES (6, '/configmaps', 'default', 'b', 'DELETED', '{b5}');",
            a3 = json!({"metadata": {"name": "a", "namespace": "default", "resourceVersion": "3"},
                        "data": {"d": "3"}}),
            b5 = configmap("b", "5"),
        ))
        .execute(&pool)
        .await
        .expect("old schema");
        pool.close().await;
    }
    let store = Store::open(&dir, Options::default())
        .await
        .expect("migrate");
    assert_eq!(store.revision(), 6);
    assert_eq!(store.hub().compacted(), 4);
    assert_eq!(store.get(&key("a")).expect("a")["data"]["d"], "3");
    let events = store
        .events_between("/configmaps", 4, 6, 10)
        .await
        .expect("events");
    assert_eq!(events[1].object["data"]["d"], "5");
    delete(&store, "a")
        .await
        .expect("delete after the migration");
    // Read from the file's header (the switch checkpoints it there): a pool connection
    // opened before the VACUUM may still answer `PRAGMA auto_vacuum` from its old header.
    // https://www.sqlite.org/fileformat2.html#database_header (offsets 52 and 64).
    let header = std::fs::read(dir.join("state.db")).expect("database file");
    let word = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    assert!(
        word(52) != 0 && word(64) == 1,
        "switched to incremental vacuum"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs(std::path::PathBuf);

/// Set in the copy of a test that runs in its own mount namespace.
const IN_MOUNT_NS: &str = "KUBICLE_TEST_IN_MOUNT_NS";

impl Tmpfs {
    /// In a copy of the test `name` running in a private mount namespace (so the mount goes
    /// with the namespace whatever happens), mounts a tmpfs of `size` (e.g. `6m`) on a new
    /// directory. `None` in the test itself, once the copy passed, and without root.
    fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        if std::env::var_os(IN_MOUNT_NS).is_none() {
            let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            });
            if !root {
                eprintln!("SKIPPED: needs root (mounts a tmpfs)");
                return None;
            }
            let exe = std::env::current_exe().expect("test binary");
            let status = std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--"])
                .arg(exe)
                .args(["--exact", name, "--nocapture", "--test-threads=1"])
                .env(IN_MOUNT_NS, "1")
                .status()
                .expect("run unshare");
            assert!(status.success(), "{name} in its own mount namespace");
            return None;
        }
        let dir = tempdir();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "kubicle-test",
            ])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs on {}", dir.display());
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_is_relieved_through_deletes() {
    let name = "store::tests::a_full_disk_is_relieved_through_deletes";
    let Some(tmpfs) = Tmpfs::mount(name, "6m") else {
        return;
    };
    let options = Options {
        reserve_bytes: 1 << 20,
        ..Options::default()
    };
    let store = Store::open(&tmpfs.0, options).await.expect("open");
    let data = "x".repeat(64 << 10);
    let mut created = 0;
    let full = loop {
        match put(&store, &format!("cm{created}"), &data).await {
            Ok(_) => created += 1,
            Err(e) => break e,
        }
        assert!(created < 200, "a 6 MiB disk never filled");
    };
    assert!(matches!(full, ApiError::SpaceExceeded), "{full}");
    assert!(created > 10, "only {created} objects fit");
    // The first delete meets the full disk too: it releases the reserve and goes through.
    delete(&store, "cm0")
        .await
        .expect("a delete on a full disk");
    assert!(!store.reserve.armed());
    let refused = put(&store, "new", "x")
        .await
        .expect_err("only deletes until there is room");
    assert!(matches!(refused, ApiError::SpaceExceeded));
    for i in 1..created / 2 {
        delete(&store, &format!("cm{i}"))
            .await
            .expect("more deletes");
    }
    maintain(&store).await;
    assert!(
        store.reserve.armed(),
        "the reserve is made again once deletes freed room"
    );
    put(&store, "new", "x").await.expect("writes again");
    assert_eq!(
        store
            .get(&key(&format!("cm{}", created - 1)))
            .expect("kept")["data"]["d"],
        data.as_str()
    );
}
