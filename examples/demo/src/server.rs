//! [`Server`]: binds an app's listeners, serves its router, logs one line per request,
//! stamps `X-Served-By`, and drains within a short grace period on shutdown.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Extension, Router,
    extract::{ConnectInfo, Request, State, connect_info::Connected},
    http::HeaderValue,
    middleware::{self, Next},
    response::Response,
    routing::get,
    serve::IncomingStream,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::{
    api::{self, ServedBy},
    auth,
    call::SERVED_BY,
    client,
    config::{App, AuthTarget, Config},
    error::Error,
    tasks, users,
};

/// How long open connections may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The two ends of an accepted connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    /// Our address on this connection: the pod IP the caller reached.
    pub(crate) local: SocketAddr,
    /// The caller.
    pub(crate) remote: SocketAddr,
}

impl Connected<IncomingStream<'_, TcpListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> ConnInfo {
        let local = stream
            .io()
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        ConnInfo {
            local,
            remote: *stream.remote_addr(),
        }
    }
}

/// One bound listener.
#[derive(Debug)]
struct Bound {
    addr: SocketAddr,
    listener: TcpListener,
    /// An IPv6 socket that also takes IPv4 connections.
    dual_stack: bool,
}

/// A demo app with its listeners bound, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    config: Arc<Config>,
    listeners: Vec<Bound>,
}

impl Server {
    /// Binds `[::]:PORT` and `0.0.0.0:PORT`. On a dual-stack kernel the IPv6 socket takes
    /// IPv4 too and the second bind finds the port taken, which is fine; without IPv6 (say, a
    /// pod netns with IPv6 off) only `0.0.0.0` is bound.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let port = config.port;
        let mut listeners = Vec::new();
        let v4_addr = |port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).await {
            Ok(v6) => {
                let addr = v6
                    .local_addr()
                    .map_err(|source| Error::LocalAddr { source })?;
                let mut bound = Bound {
                    addr,
                    listener: v6,
                    dual_stack: false,
                };
                match TcpListener::bind(v4_addr(addr.port())).await {
                    Ok(v4) => {
                        listeners.push(Bound {
                            addr: v4_addr(addr.port()),
                            listener: v4,
                            dual_stack: false,
                        });
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
                        bound.dual_stack = true;
                    }
                    Err(source) => {
                        return Err(Error::Bind {
                            addr: v4_addr(addr.port()),
                            source,
                        });
                    }
                }
                listeners.insert(0, bound);
            }
            Err(err) => {
                debug!("no IPv6 listener on [::]:{port}: {err}");
                let addr = v4_addr(port);
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::Bind { addr, source })?;
                let addr = listener
                    .local_addr()
                    .map_err(|source| Error::LocalAddr { source })?;
                listeners.push(Bound {
                    addr,
                    listener,
                    dual_stack: false,
                });
            }
        }
        Ok(Server {
            config: Arc::new(config),
            listeners,
        })
    }

    /// A server on listeners bound by the caller (tests bind `127.0.0.1:0`).
    pub fn from_listeners(config: Config, listeners: Vec<TcpListener>) -> Result<Server, Error> {
        if listeners.is_empty() {
            return Err(Error::NoListener);
        }
        let listeners = listeners
            .into_iter()
            .map(|listener| {
                let addr = listener
                    .local_addr()
                    .map_err(|source| Error::LocalAddr { source })?;
                Ok(Bound {
                    addr,
                    listener,
                    dual_stack: false,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Server {
            config: Arc::new(config),
            listeners,
        })
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|bound| bound.addr).collect()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish for up to half a
    /// second and closes the rest.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let config = self.config;
        let shutdown = shutdown.child_token();
        log_config(&config);
        let router = router(&config);
        let mut tasks = JoinSet::new();
        for bound in self.listeners {
            let addr = bound.addr;
            if bound.dual_stack {
                info!("{} listening on {addr} (IPv4 too)", config.app);
            } else {
                info!("{} listening on {addr}", config.app);
            }
            let service = router
                .clone()
                .into_make_service_with_connect_info::<ConnInfo>();
            let signal = shutdown.clone().cancelled_owned();
            tasks.spawn(async move {
                axum::serve(bound.listener, service)
                    .with_graceful_shutdown(signal)
                    .await
                    .map_err(|source| Error::Serve { addr, source })
            });
        }
        if config.app == App::Client {
            tasks.spawn(client::poll(config.clone(), shutdown.clone()));
        }

        let mut outcome = Ok(());
        tokio::select! {
            // Serving tasks end on the same token: check it first so a shutdown reads as one.
            biased;
            () = shutdown.cancelled() => info!("shutting down"),
            Some(done) = tasks.join_next() => {
                outcome = flatten(done);
                if let Err(err) = &outcome {
                    error!("stopping: {}", crate::error::chain(err));
                }
            }
        }
        shutdown.cancel();
        let started = Instant::now();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = tasks.join_next().await {
                if let Err(err) = flatten(done) {
                    warn!("while stopping: {}", crate::error::chain(&err));
                }
            }
        })
        .await;
        if drained.is_err() {
            info!("closing connections still open after {SHUTDOWN_GRACE:?}");
            tasks.abort_all();
        }
        info!("stopped in {} ms", started.elapsed().as_millis());
        outcome
    }
}

fn flatten(done: Result<Result<(), Error>, tokio::task::JoinError>) -> Result<(), Error> {
    match done {
        Ok(result) => result,
        Err(err) => {
            // A panicking task is a bug, not input: report it and stop.
            error!("a server task ended abnormally: {err}");
            Ok(())
        }
    }
}

/// Logs what the app runs with; secrets and tokens are never logged, only variable names.
fn log_config(config: &Config) {
    info!(
        "starting {} on port {} as {}",
        config.app, config.port, config.hostname
    );
    if config.app == App::Auth {
        if config.auth_secret_is_default {
            warn!("AUTH_SECRET is unset: signing tokens with the public dev key");
        }
        info!("tokens valid for {} s", config.token_ttl.as_secs());
        return;
    }
    match &config.auth {
        AuthTarget::Configured(address) => info!(
            "auth at {} (from {}), connect timeout {:?}, request timeout {:?}",
            address.url(""),
            address.source.env_name(),
            config.connect_timeout,
            config.request_timeout
        ),
        AuthTarget::Unconfigured { reason } => {
            error!("{reason}; answering 503 until it is set")
        }
    }
}

/// The app's router with the shared routes, fallbacks and per-request middleware.
fn router(config: &Arc<Config>) -> Router {
    let app_router = match config.app {
        App::Auth => auth::router(config),
        App::Users => users::router(config),
        App::Tasks => tasks::router(config),
        App::Client => client::router(config),
    };
    app_router
        .route("/healthz", get(api::healthz))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn_with_state(config.clone(), observe))
        .layer(Extension(config.clone()))
}

/// Stamps `X-Served-By: <hostname> <pod IP>` and logs one line per request.
async fn observe(
    State(config): State<Arc<Config>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    mut request: Request,
    next: Next,
) -> Response {
    let served_by = ServedBy(format!(
        "{} {}",
        config.hostname,
        conn.local.ip().to_canonical()
    ));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(served_by.clone());
    let started = Instant::now();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&served_by.0) {
        response.headers_mut().insert(SERVED_BY, value);
    }
    let remote = SocketAddr::new(conn.remote.ip().to_canonical(), conn.remote.port());
    info!(
        "{method} {path} {} from {remote} in {} ms",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}
