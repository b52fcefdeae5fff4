//! CPU-heavy request work (decoding bodies, typed round trips, patches, server-side apply,
//! validation) kept off the async workers, so that one large or hostile request never stalls
//! the other connections a worker serves.
//!
//! Two doors: [`run`] moves owned work to tokio's blocking pool, at most [`permits`] at a
//! time (about half the cores, so the rest of the process keeps the other half); [`in_place`]
//! is for work that borrows (the writer's read-modify-write under the store's lock): on a
//! multi-thread runtime it hands the worker's other tasks to another worker first
//! (`block_in_place`). The store's writer lock already lets one such step run at a time.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use crate::status::ApiError;

/// How many pieces of CPU-heavy work run at once: half the cores, at least one.
pub(crate) fn permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(permits()));

/// Runs `work` on the blocking pool once a permit is free.
pub(crate) async fn run<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let _permit = PERMITS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("wait for a decoding slot: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("decode the request: {e}")))
}

/// Runs `work` here, first moving this worker's other tasks to another worker when the
/// runtime has several (tests on a current-thread runtime just run it).
pub(crate) fn in_place<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
