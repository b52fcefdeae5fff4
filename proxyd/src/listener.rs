//! [`Proxy`]: the set of bound listeners, reconciled against each new [`VipTable`], and the
//! TCP accept loop.
//!
//! Each listener is one task that owns its socket. What it forwards to (a [`Target`]: the
//! route of the table, the shared affinity state of its service port and a generation) sits
//! behind a lock in its [`ListenerState`] and is swapped whole on apply: readers take a
//! snapshot (`Arc` clone) per connection, so an endpoint change never rebinds the socket nor
//! touches established connections, which hold their backend socket and nothing else.
//! Removing a listener cancels its task and waits for it, so the port is free again when
//! `apply` returns.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::balance::{self, Affinity};
use crate::socket::{self, BindError, Bound};
use crate::splice::PipePool;
use crate::table::{ListenerKey, ListenerKind, Route, ServicePortName, VipTable};
use crate::{Config, Error, conn, udp};

/// How long `apply` waits for a removed listener's task to let go of its socket.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A listener that could not be bound; `Proxy::apply` lists every one, every time.
#[derive(Debug)]
pub struct BindFailure {
    /// Where it should listen.
    pub key: ListenerKey,
    /// Why it exists.
    pub kind: ListenerKind,
    /// The service port it belongs to (for the Kubernetes Event and Service condition).
    pub service_port: Arc<ServicePortName>,
    /// What went wrong.
    pub error: BindError,
}

/// What one [`Proxy::apply`] did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Listeners bound by this apply.
    pub opened: usize,
    /// Listeners closed because their address left the table.
    pub closed: usize,
    /// Listeners whose endpoints or affinity were swapped in place.
    pub updated: usize,
    /// Every listener of the table that is not bound after this apply, with the reason; an
    /// empty list means the whole table is served. Each apply retries them.
    pub failed: Vec<BindFailure>,
}

/// State the proxy's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The validated settings.
    pub(crate) config: Config,
    /// One permit per open TCP connection.
    pub(crate) connections: Arc<Semaphore>,
    /// Every connection task, so that shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Cancelled when open connections must be cut.
    pub(crate) abort: CancellationToken,
    /// Pipes for the splice data path.
    pub(crate) pipes: PipePool,
}

/// What a listener forwards to; replaced whole when the table changes.
#[derive(Debug)]
pub(crate) struct Target {
    /// The table's route for this listener.
    pub(crate) route: Route,
    /// `ClientIP` affinity, shared by all listeners of the service port.
    pub(crate) affinity: Option<Arc<Mutex<Affinity>>>,
    /// Changes whenever the target is replaced (UDP flows revalidate on it).
    pub(crate) generation: u64,
}

/// One listener's view of the table.
#[derive(Debug)]
pub(crate) struct ListenerState {
    /// Where it listens.
    pub(crate) key: ListenerKey,
    /// What it forwards to.
    target: RwLock<Arc<Target>>,
    /// The random source of its picks.
    rng: Mutex<SmallRng>,
}

impl ListenerState {
    /// The current target, for one connection or datagram.
    pub(crate) fn target(&self) -> Arc<Target> {
        self.target
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The endpoint for a new connection or flow from `client`, skipping `tried`.
    pub(crate) fn choose(
        &self,
        target: &Target,
        client: IpAddr,
        tried: &[SocketAddr],
    ) -> Option<SocketAddr> {
        let endpoints = &target.route.backends.endpoints;
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        match &target.affinity {
            None => balance::pick(endpoints, tried, &mut *rng),
            Some(affinity) => {
                let mut affinity = affinity.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                balance::choose(
                    endpoints,
                    Some(&mut affinity),
                    client,
                    tried,
                    now,
                    &mut *rng,
                )
            }
        }
    }

    /// Forgets `client`'s pin to `endpoint`, which failed.
    pub(crate) fn forget(&self, target: &Target, client: IpAddr, endpoint: SocketAddr) {
        if let Some(affinity) = &target.affinity {
            affinity
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .forget(client, endpoint);
        }
    }

    /// Replaces the target if the route or affinity state differs; true if it did.
    fn update(
        &self,
        route: &Route,
        affinity: Option<Arc<Mutex<Affinity>>>,
        generation: u64,
    ) -> bool {
        let mut target = self.target.write().unwrap_or_else(PoisonError::into_inner);
        let same_affinity = match (&target.affinity, &affinity) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if target.route == *route && same_affinity {
            return false;
        }
        *target = Arc::new(Target {
            route: route.clone(),
            affinity,
            generation,
        });
        true
    }
}

/// A bound listener and its task.
#[derive(Debug)]
struct Running {
    state: Arc<ListenerState>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The listeners and the affinity state of each service port.
#[derive(Debug, Default)]
struct Listeners {
    running: HashMap<ListenerKey, Running>,
    affinity: HashMap<Arc<ServicePortName>, Arc<Mutex<Affinity>>>,
}

/// The userspace Service proxy. Create it with [`Proxy::new`], then call [`Proxy::apply`]
/// with each new table. Dropping it closes every listener and cuts every connection.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    listeners: tokio::sync::Mutex<Listeners>,
    /// Parent of every listener's token; a child of the caller's shutdown token.
    root: CancellationToken,
    /// Cancelled when shutdown (drain included) is complete.
    done: CancellationToken,
    generation: AtomicU64,
    seed: u64,
}

impl Proxy {
    /// A proxy with no listeners. Cancelling `shutdown` closes every listener, gives open
    /// connections [`Config::drain_timeout`] to finish and then cuts them; [`Proxy::closed`]
    /// resolves when that is done. Must be called inside a tokio runtime.
    pub fn new(config: Config, shutdown: CancellationToken) -> Result<Proxy, Error> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(Error::NoRuntime)?;
        let seed = config.seed.unwrap_or_else(|| rand::rng().random());
        let shared = Arc::new(Shared {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            tracker: TaskTracker::new(),
            abort: CancellationToken::new(),
            pipes: PipePool::new(),
            config,
        });
        let root = shutdown.child_token();
        let done = CancellationToken::new();
        runtime.spawn(drain(shared.clone(), root.clone(), done.clone()));
        Ok(Proxy {
            shared,
            listeners: tokio::sync::Mutex::new(Listeners::default()),
            root,
            done,
            generation: AtomicU64::new(0),
            seed,
        })
    }

    /// Makes the bound listeners match `table`: binds new addresses, closes removed ones and
    /// swaps the endpoints of the rest in place. Never fails as a whole: each listener that
    /// cannot be bound is in [`ApplyReport::failed`] and is tried again by the next apply
    /// (call it again, with the same table if nothing changed, to retry).
    pub async fn apply(&self, table: Arc<VipTable>) -> ApplyReport {
        let mut listeners = self.listeners.lock().await;
        let mut report = ApplyReport::default();
        if self.root.is_cancelled() {
            return report;
        }
        let started = std::time::Instant::now();

        let gone: Vec<ListenerKey> = listeners
            .running
            .keys()
            .filter(|key| !table.routes.contains_key(key))
            .copied()
            .collect();
        let mut closing = Vec::with_capacity(gone.len());
        for key in gone {
            if let Some(running) = listeners.running.remove(&key) {
                info!(listener = %key, "closing listener");
                running.cancel.cancel();
                closing.push((key, running.task));
            }
        }
        report.closed = closing.len();
        for (key, task) in closing {
            match tokio::time::timeout(CLOSE_WAIT, task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(listener = %key, %error, "listener task failed"),
                Err(_) => warn!(listener = %key, "listener task did not stop in time"),
            }
        }

        // Affinity state is per service port; keep it while the timeout stays the same.
        let mut affinity = HashMap::new();
        for route in table.routes.values() {
            if let Some(timeout) = route.affinity {
                let port = &route.service_port;
                let kept = listeners.affinity.get(port).filter(|state| {
                    state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .timeout()
                        == timeout
                });
                let state = kept
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Mutex::new(Affinity::new(timeout))));
                affinity.entry(port.clone()).or_insert(state);
            }
        }
        listeners.affinity = affinity;

        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        for (key, route) in &table.routes {
            let route_affinity = route
                .affinity
                .and(listeners.affinity.get(&route.service_port).cloned());
            if let Some(running) = listeners.running.get(key) {
                if running.state.update(route, route_affinity, generation) {
                    debug!(listener = %key, service = %route.service_port,
                        endpoints = route.backends.endpoints.len(), "updated listener");
                    report.updated += 1;
                }
                continue;
            }
            match socket::bind(*key) {
                Ok(bound) => {
                    let running = self.spawn(*key, bound, route, route_affinity, generation);
                    info!(listener = %key, service = %route.service_port, kind = ?route.kind,
                        endpoints = route.backends.endpoints.len(), "listening");
                    listeners.running.insert(*key, running);
                    report.opened += 1;
                }
                Err(error) => {
                    warn!(listener = %key, service = %route.service_port, error = %error,
                        cause = ?error.io_error().map(ToString::to_string), "cannot bind listener");
                    report.failed.push(BindFailure {
                        key: *key,
                        kind: route.kind,
                        service_port: route.service_port.clone(),
                        error,
                    });
                }
            }
        }
        for conflict in &table.conflicts {
            warn!(listener = %conflict.key, service = %conflict.service_port,
                holder = %conflict.holder, "listener claimed by another service");
            report.failed.push(BindFailure {
                key: conflict.key,
                kind: conflict.kind,
                service_port: conflict.service_port.clone(),
                error: BindError::Claimed {
                    key: conflict.key,
                    holder: conflict.holder.clone(),
                },
            });
        }
        debug!(opened = report.opened, closed = report.closed, updated = report.updated,
            failed = report.failed.len(), elapsed = ?started.elapsed(), "applied vip table");
        report
    }

    /// The listeners currently bound.
    pub async fn local_addrs(&self) -> Vec<ListenerKey> {
        let mut keys: Vec<ListenerKey> = self
            .listeners
            .lock()
            .await
            .running
            .keys()
            .copied()
            .collect();
        keys.sort();
        keys
    }

    /// Resolves once shutdown has finished: listeners closed and connections drained or cut.
    pub async fn closed(&self) {
        self.done.cancelled().await;
    }

    fn spawn(
        &self,
        key: ListenerKey,
        bound: Bound,
        route: &Route,
        affinity: Option<Arc<Mutex<Affinity>>>,
        generation: u64,
    ) -> Running {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&key, &mut hasher);
        let seed = self.seed ^ std::hash::Hasher::finish(&hasher);
        let state = Arc::new(ListenerState {
            key,
            target: RwLock::new(Arc::new(Target {
                route: route.clone(),
                affinity,
                generation,
            })),
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
        });
        let cancel = self.root.child_token();
        let span = info_span!("listener", listener = %key);
        let task = match bound {
            Bound::Tcp(listener) => tokio::spawn(
                accept_loop(listener, state.clone(), self.shared.clone(), cancel.clone())
                    .instrument(span),
            ),
            Bound::Udp(socket) => tokio::spawn(
                udp::serve(socket, state.clone(), self.shared.clone(), cancel.clone())
                    .instrument(span),
            ),
        };
        Running {
            state,
            cancel,
            task,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.root.cancel();
        self.shared.abort.cancel();
    }
}

/// Waits for shutdown, then for open connections (at most the drain timeout), then cuts them.
async fn drain(shared: Arc<Shared>, root: CancellationToken, done: CancellationToken) {
    root.cancelled().await;
    shared.tracker.close();
    let open = shared.tracker.len();
    if open > 0 {
        info!(connections = open, "draining connections");
    }
    if tokio::time::timeout(shared.config.drain_timeout, shared.tracker.wait())
        .await
        .is_err()
    {
        info!(
            connections = shared.tracker.len(),
            "cutting connections after the drain timeout"
        );
    }
    shared.abort.cancel();
    shared.tracker.wait().await;
    done.cancel();
}

/// Accepts connections until `cancel`, each in a task of its own holding a connection permit.
///
/// The permit is taken after `accept`, not before: a listener waiting for its next client
/// holds none, so the limit counts connections, not listeners (taking it first, every idle
/// listener held one, and with more service ports than `max_connections` the last ones
/// never accepted at all). At the limit, the listener holds the one connection it accepted
/// until a permit frees, and accepts no more meanwhile: new clients wait in the kernel's
/// backlog.
async fn accept_loop(
    listener: TcpListener,
    state: Arc<ListenerState>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let permit = tokio::select! {
                    biased;
                    () = cancel.cancelled() => return,
                    permit = shared.connections.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return, // The semaphore is never closed.
                    },
                };
                let state = state.clone();
                let shared_conn = shared.clone();
                let abort = shared.abort.clone();
                shared.tracker.spawn(async move {
                    tokio::select! {
                        biased;
                        () = abort.cancelled() => {}
                        () = conn::serve(stream, peer, &state, &shared_conn) => {}
                    }
                    drop(permit);
                });
            }
            Err(error) if is_transient(&error) => {
                debug!(%error, "accept failed; the client went away");
            }
            Err(error) => {
                // Out of file descriptors or memory: wait rather than spin.
                warn!(%error, backoff = ?backoff, "accept failed");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
