//! The HTTPS front: routing, bearer-token authentication, and the TLS accept loop.
//!
//! Layout:
//! - `http.rs`: [`router`], the auth middleware, [`serve`].
//! - `http/limits.rs`: connection limits, timeouts, the max-in-flight filter.
//! - `http/discovery.rs`: `/api`, `/apis`, `/version`, `/openapi/v3`.
//! - `http/rest.rs`: every resource URL (objects, lists, watches, subresources, Tables).
//! - `http/log.rs`: `pods/log`, its options validated as upstream does.
//! - `http/exec.rs`: `pods/exec` over WebSocket (`v5.channel.k8s.io`).
//! - `http/portforward.rs`: `pods/portforward`, SPDY/3.1 tunnelled in a WebSocket.

mod discovery;
mod exec;
pub mod limits;
mod log;
mod params;
mod portforward;
mod rest;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, Method, Uri};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::objects::MAX_BODY;
use crate::status::ApiError;

/// Shared state of the HTTP handlers.
#[derive(Debug, Clone)]
struct AppState {
    api: Api,
    token: Arc<str>,
}

/// The API router with kube-apiserver's default max-in-flight limits.
pub fn router(api: Api, token: &str) -> Router {
    router_with(api, token, limits::MaxInFlight::default())
}

/// The API router. Every route but the health and version probes needs the bearer token;
/// those routes pass the max-in-flight filter after authentication, as upstream's chain.
pub fn router_with(api: Api, token: &str, max_in_flight: limits::MaxInFlight) -> Router {
    let in_flight = limits::InFlight::new(max_in_flight);
    let state = AppState {
        api,
        token: Arc::from(token),
    };
    let authenticated = Router::new()
        .route("/api", get(core_discovery))
        .route("/apis", get(group_discovery))
        .route("/api/{*rest}", axum::routing::any(core_resources))
        .route("/apis/{*rest}", axum::routing::any(group_resources))
        .route("/openapi/v3", get(openapi_root))
        .route("/openapi/v3/{*gv}", get(openapi_group_version))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            in_flight,
            limits::max_in_flight,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/version", get(version))
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(readyz))
        .merge(authenticated)
        .with_state(state)
}

async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let authorized = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), state.token.as_bytes()));
    if !authorized {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Compares two secrets without leaking the position of the first difference through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json(value: &Value) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn ok() -> &'static str {
    "ok"
}

/// Ready while the store accepts writes; otherwise 500 with the failed check, as
/// kube-apiserver's `/readyz` lists its `etcd` check.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.api.store().failure() {
        None => "ok".into_response(),
        Some(_) => (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n",
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    ApiError::UnknownResource.into_response()
}

async fn version() -> Response {
    json(&discovery::version())
}

fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn discovery_response(headers: &HeaderMap, core: bool) -> Response {
    if discovery::wants_aggregated(accept(headers)) {
        (
            [(http::header::CONTENT_TYPE, discovery::AGGREGATED)],
            discovery::aggregated(core).to_string(),
        )
            .into_response()
    } else if core {
        json(&discovery::legacy_core())
    } else {
        json(&discovery::legacy_groups())
    }
}

async fn core_discovery(headers: HeaderMap) -> Response {
    discovery_response(&headers, true)
}

async fn group_discovery(headers: HeaderMap) -> Response {
    discovery_response(&headers, false)
}

async fn openapi_root() -> Response {
    json(&discovery::openapi_root())
}

async fn openapi_group_version(uri: Uri) -> Response {
    let gv = uri.path().trim_start_matches("/openapi/v3/");
    match discovery::openapi_group_version(gv) {
        Some(doc) => json(&doc),
        None => ApiError::UnknownResource.into_response(),
    }
}

/// The raw query string, split as `url.ParseQuery` splits it ([`params::Params::parse`]).
type RawQuery = axum::extract::RawQuery;

/// The WebSocket upgrade of an exec request, if it is one.
type WsUpgrade = Result<
    axum::extract::ws::WebSocketUpgrade,
    axum::extract::ws::rejection::WebSocketUpgradeRejection,
>;

async fn core_resources(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: RawQuery,
    ws: WsUpgrade,
    body: Body,
) -> Response {
    let path = uri.path().trim_start_matches("/api/");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.split_first() {
        Some((&"v1", [])) => match discovery::resource_list("", "v1") {
            Some(list) => json(&list),
            None => ApiError::UnknownResource.into_response(),
        },
        Some((&"v1", rest)) => {
            resources(&state, "", "v1", rest, method, headers, query, ws, body).await
        }
        _ => ApiError::UnknownResource.into_response(),
    }
}

async fn group_resources(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: RawQuery,
    ws: WsUpgrade,
    body: Body,
) -> Response {
    let path = uri.path().trim_start_matches("/apis/");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [group] => match discovery::legacy_groups()["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["name"] == *group))
        {
            Some(g) => {
                let mut doc = g.clone();
                doc["kind"] = "APIGroup".into();
                doc["apiVersion"] = "v1".into();
                json(&doc)
            }
            None => ApiError::UnknownResource.into_response(),
        },
        [group, version] => match discovery::resource_list(group, version) {
            Some(list) => json(&list),
            None => ApiError::UnknownResource.into_response(),
        },
        [group, version, rest @ ..] => {
            resources(
                &state, group, version, rest, method, headers, query, ws, body,
            )
            .await
        }
        [] => ApiError::UnknownResource.into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn resources(
    state: &AppState,
    group: &str,
    version: &str,
    segs: &[&str],
    method: Method,
    headers: HeaderMap,
    query: RawQuery,
    ws: WsUpgrade,
    body: Body,
) -> Response {
    let result = async {
        let target = rest::Target::parse(group, version, segs)?;
        let params = params::Params::parse(query.0.as_deref().unwrap_or(""));
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| ApiError::TooLarge(MAX_BODY))?;
        rest::handle(&state.api, method, target, params, &headers, body, ws.ok()).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Serves `router` over TLS on `listener` until `shutdown` is cancelled; then stops
/// accepting, and gives open connections (watches included) a short deadline to finish.
/// A connection past `conn_limits` is closed at once; the handshake, the headers and idle
/// connections have upstream's timeouts (`http/limits.rs`).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    conn_limits: limits::ConnLimits,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let connections = tokio_util::task::TaskTracker::new();
    let open = limits::Connections::new(conn_limits);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Running out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = open.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection limit reached: closed");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve_connection(
            tcp,
            peer,
            acceptor.clone(),
            router.clone(),
            shutdown.clone(),
            admitted,
        ));
    }
    connections.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), connections.wait()).await;
}

/// One connection: the TLS handshake, then HTTP/1.1 or HTTP/2 until the peer leaves, the
/// connection idles past [`limits::IDLE_TIMEOUT`], or the server stops.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    shutdown: CancellationToken,
    _admitted: limits::Admitted,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    let handshake = tokio::time::timeout(limits::READ_HEADER_TIMEOUT, acceptor.accept(tcp));
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let activity = Arc::new(limits::Activity::new());
    let service = limits::tracked(router, activity.clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits::READ_HEADER_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits::MAX_CONCURRENT_STREAMS);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let stop = tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = activity.idle(limits::IDLE_TIMEOUT) => std::time::Duration::from_secs(5),
        _ = shutdown.cancelled() => std::time::Duration::from_secs(2),
    };
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(stop, conn).await;
}

#[cfg(test)]
mod tests;
