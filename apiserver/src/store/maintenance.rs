//! The store's background work, one task per store that ends when the store is dropped:
//! every second it checks the store's files, compacts when due, and keeps the WAL small.
//!
//! Compaction follows kube-apiserver's compactor (`storage/etcd3/compact.go`): every
//! interval (`--etcd-compaction-interval`, 5 minutes by default) the log is compacted to the
//! revision the previous tick saw, so between one and two intervals of history stay
//! replayable. The log is also compacted early when more than [`super::Options::history_bytes`]
//! of bodies were logged since the last compaction (down to half of that), and, while the
//! space reserve is released on a full disk, to the newest revision. After a compaction the
//! freed pages go back to the file system (incremental vacuum, in steps, each followed by a
//! WAL checkpoint that truncates it).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::Store;
use crate::status::ApiError;

/// How often the files are checked and the compactor looks at the clock.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// SQLite's page size (the default, which the store keeps).
const PAGE_BYTES: u64 = 4_096;
/// A WAL larger than this is checkpointed and truncated at the next check.
const WAL_LIMIT: u64 = 16 << 20;

/// Starts the maintenance task of `store`.
pub(super) fn spawn(store: &Arc<Store>) {
    let weak = Arc::downgrade(store);
    let wake = store.wake.clone();
    let interval = store.options.compaction_interval;
    tokio::spawn(run(weak, wake, interval));
}

async fn run(store: Weak<Store>, wake: Arc<tokio::sync::Notify>, interval: Duration) {
    let mut compactor = Compactor::new(interval, Instant::now());
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = wake.notified() => {}
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        store.maintain(&mut compactor).await;
    }
}

/// kube-apiserver's compaction clock: at each tick, compact to the revision seen at the
/// previous tick (nothing at the first one: "we don't compact on bootstrap").
#[derive(Debug)]
pub(super) struct Compactor {
    interval: Duration,
    next: Option<Instant>,
    seen: u64,
}

impl Compactor {
    pub(super) fn new(interval: Duration, now: Instant) -> Compactor {
        Compactor {
            interval,
            next: (!interval.is_zero()).then(|| now + interval),
            seen: 0,
        }
    }

    /// The revision to compact to at `now`, when a tick is due; `revision` is the store's.
    pub(super) fn tick(&mut self, now: Instant, revision: u64) -> Option<u64> {
        let next = self.next?;
        if now < next {
            return None;
        }
        self.next = Some(now + self.interval);
        let target = std::mem::replace(&mut self.seen, revision);
        (target > 0).then_some(target)
    }
}

impl Store {
    /// One round: the file check, a compaction when due, the reserve, the WAL's size.
    pub(super) async fn maintain(&self, compactor: &mut Compactor) {
        if self.check_files().await.is_err() {
            return;
        }
        let revision = self.revision();
        let mut target = compactor.tick(Instant::now(), revision);
        if self.logged.load(Ordering::Relaxed) > self.options.history_bytes {
            let half = self.options.history_bytes / 2;
            match self.db.size_target(self.hub.compacted(), half).await {
                Ok(by_size) => target = target.max(by_size),
                Err(e) => tracing::warn!(error = %e, "store: size of the log"),
            }
        }
        if !self.reserve.armed() {
            // Only deletes are accepted: everything they free goes back to the disk.
            target = Some(revision);
        }
        if let Some(to) = target {
            if let Err(e) = self.compact(to).await {
                tracing::warn!(error = %e, to, "store: compact the log");
            }
        }
        if !self.reserve.armed() {
            self.reserve.try_arm();
        }
        self.bound_wal().await;
    }

    /// Compacts the log to `to` (at most the newest revision): a watch or list from an older
    /// revision gets 410 Expired from now on, and the rows nothing needs any more go, their
    /// pages back to the file system. Returns the compacted revision.
    pub async fn compact(&self, to: u64) -> Result<u64, ApiError> {
        let _one = self.compacting.lock().await;
        let to = to.min(self.revision());
        let sql = |e: sqlx::Error| ApiError::Internal(format!("compact the event log: {e}"));
        if to > self.hub.compacted() {
            // Marked before any row goes: a reader that checks after reading knows whether
            // what it read was whole.
            self.db.mark_compacted(to).await.map_err(sql)?;
            self.hub.set_compacted(to);
        }
        let mut cursor = 0;
        let mut freed = false;
        while let Some(last) = self.db.compact_chunk(to, cursor).await.map_err(sql)? {
            cursor = last;
            freed = true;
        }
        {
            // Under the writer lock, so no write's bytes are counted twice or lost.
            let _writing = self.writer.lock().await;
            let logged = self.db.logged_since(to).await.map_err(sql)?;
            self.logged.store(logged, Ordering::Relaxed);
        }
        if freed {
            self.vacuum().await.map_err(sql)?;
            tracing::info!(compacted = to, "store: compacted the event log");
        }
        Ok(self.hub.compacted())
    }

    /// Returns every free page to the file system, a step at a time.
    async fn vacuum(&self) -> Result<(), sqlx::Error> {
        loop {
            let step = wal_pages(self.options.reserve_bytes);
            if self.db.vacuum(step).await? == 0 {
                return Ok(());
            }
        }
    }

    /// Checkpoints and truncates a WAL that grew past [`WAL_LIMIT`] (SQLite's own
    /// checkpoints only reuse it, and a long transaction can leave it large).
    async fn bound_wal(&self) {
        let wal = self.db_path.with_extension("db-wal");
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size > WAL_LIMIT {
            if let Err(e) = self.db.checkpoint().await {
                tracing::warn!(error = %e, "store: checkpoint the WAL");
            }
        }
    }

    /// Bytes the database file holds in live pages (after [`Store::compact`], about the live
    /// objects and the history since the compacted revision).
    pub async fn used_bytes(&self) -> Result<u64, ApiError> {
        self.db
            .used_bytes()
            .await
            .map_err(|e| ApiError::Internal(format!("read the database size: {e}")))
    }
}

/// The WAL's checkpoint size and the vacuum step, in pages: half the space reserve, so that
/// on a full disk the reserve always has room for what a checkpoint or a vacuum step adds to
/// the database file before the WAL's blocks are freed (SQLite's 1,000 at most).
pub(super) fn wal_pages(reserve_bytes: u64) -> u32 {
    if reserve_bytes == 0 {
        return 1_000;
    }
    (reserve_bytes / 2 / PAGE_BYTES).clamp(16, 1_000) as u32
}

/// Parses a compaction interval as kube-apiserver's flag takes it: a Go duration such as
/// `5m`, `90s`, `1h30m` or `500ms`, or a plain number of seconds; `0` turns compaction off.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let invalid = || format!("invalid duration {text:?}");
    let mut millis: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let n: u64 = number.parse().map_err(|_| invalid())?;
        let unit_millis: u64 = match unit {
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            _ => return Err(format!("{}: unknown unit {unit:?}", invalid())),
        };
        millis = n
            .checked_mul(unit_millis)
            .and_then(|m| m.checked_add(millis))
            .ok_or_else(invalid)?;
        rest = &rest[digits + unit_len..];
    }
    if text.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_as_go_durations() {
        let check = |text: &str, expected: Result<u64, ()>| {
            let got = parse_interval(text)
                .map(|d| d.as_millis() as u64)
                .map_err(|_| ());
            assert_eq!(got, expected, "{text}");
        };
        check("0", Ok(0));
        check("300", Ok(300_000));
        check("5m", Ok(300_000));
        check("5m0s", Ok(300_000));
        check("1h30m", Ok(5_400_000));
        check("1500ms", Ok(1_500));
        check("2s", Ok(2_000));
        check("", Err(()));
        check("5d", Err(()));
        check("m", Err(()));
        check("-1s", Err(()));
    }

    #[test]
    fn the_wal_fits_in_half_the_reserve() {
        // (reserve bytes, pages)
        let table: &[(u64, u32)] = &[
            (0, 1_000),
            (8 << 20, 1_000),
            (4 << 20, 512),
            (1 << 20, 128),
            (16 << 10, 16),
        ];
        for &(reserve, pages) in table {
            assert_eq!(wal_pages(reserve), pages, "reserve {reserve}");
        }
    }

    #[test]
    fn the_compactor_compacts_to_what_the_previous_tick_saw() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut c = Compactor::new(Duration::from_secs(300), start);
        // (seconds since start, store revision, compaction target)
        let ticks: &[(u64, u64, Option<u64>)] = &[
            (10, 50, None),
            (300, 100, None),
            (400, 150, None),
            (600, 200, Some(100)),
            (900, 260, Some(200)),
            (901, 999, None),
            (1200, 260, Some(260)),
        ];
        for &(s, revision, target) in ticks {
            assert_eq!(c.tick(at(s), revision), target, "at {s} s");
        }
        let mut off = Compactor::new(Duration::ZERO, start);
        assert_eq!(off.tick(at(10_000), 5), None);
    }
}
