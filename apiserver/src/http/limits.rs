//! What keeps a flood from starving the API: connection limits, the timeouts of
//! kube-apiserver's secure serving, and its max-in-flight filter.
//!
//! - Timeouts (`k8s.io/apiserver/pkg/server/secure_serving.go`): [`READ_HEADER_TIMEOUT`]
//!   32 s, which Go's `http.Server` also gives the TLS handshake (`tlsHandshakeTimeout`), and
//!   [`IDLE_TIMEOUT`] 90 s for a connection with no request in flight. hyper starts the
//!   HTTP/1.1 header timer as soon as a keep-alive connection is idle, so an idle HTTP/1.1
//!   connection closes after 32 s (Go waits 90 s for the first byte); HTTP/2 (kubectl's)
//!   gets the 90 s.
//! - Connections ([`ConnLimits`]): Go has no limit but the open-files limit, which a flood
//!   from one pod exhausts for everyone. Here each listener takes at most a share of the
//!   open-files limit, and each peer address other than loopback (a pod, another host) at
//!   most a share of that, so pods cannot take what host clients need. A connection past a
//!   limit is closed at once: the accept loop never waits.
//! - Requests in flight ([`InFlight`], `k8s.io/apiserver/pkg/server/filters/maxinflight.go`):
//!   at most `--max-requests-inflight` (400) read-only and `--max-mutating-requests-inflight`
//!   (200) mutating requests at once; long-running ones (watch, and the attach, exec, log,
//!   portforward and proxy subresources; `BasicLongRunningRequestCheck`) are not counted, nor
//!   are the health probes (APF's exempt `probes` flow schema). Past the limit: 429, upstream's
//!   text and `Retry-After: 1`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use tokio::sync::Semaphore;

/// kube-apiserver's `ReadHeaderTimeout` ("just shy of requestTimeoutUpperBound"); Go's
/// server gives the TLS handshake the same.
pub const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(32);
/// kube-apiserver's `IdleTimeout` (HTTP/1.1 and HTTP/2), "matches http.DefaultTransport
/// keep-alive timeout".
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// golang.org/x/net/http2's default `MaxConcurrentStreams`, which kube-apiserver keeps
/// (`--http2-max-streams-per-connection` 0).
pub const MAX_CONCURRENT_STREAMS: u32 = 250;

/// How many connections a listener takes: in all, and from one peer address that is not
/// loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections on the listener, from anywhere.
    pub listener: usize,
    /// Open connections from one peer address other than loopback.
    pub per_peer: usize,
}

impl ConnLimits {
    /// The limits for the host's listener and for the listener pods use (the bridge
    /// gateway), from the process's open-files limit: the API takes at most half of it
    /// (proxyd's connections, the store, pods' files and logs need the rest), the pods'
    /// listener half of that, one peer an eighth of its listener (at most 1,024).
    pub fn from_open_files(limit: u64) -> (ConnLimits, ConnLimits) {
        let api = usize::try_from(limit / 2)
            .unwrap_or(usize::MAX)
            .clamp(64, 65_536);
        let of = |listener: usize| ConnLimits {
            listener,
            per_peer: (listener / 8).clamp(8, 1024),
        };
        (of(api), of(api / 2))
    }
}

/// The open connections of one listener, by peer.
#[derive(Debug)]
pub(crate) struct Connections {
    limits: ConnLimits,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; it leaves the count when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    connections: Arc<Connections>,
    peer: IpAddr,
}

impl Connections {
    pub(crate) fn new(limits: ConnLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Counts a new connection from `peer`, or refuses it (`None`) when over a limit.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_peer) = &mut *open;
        let from_peer = by_peer.get(&peer).copied().unwrap_or(0);
        if !admits(self.limits, *total, from_peer, peer) {
            return None;
        }
        *total += 1;
        by_peer.insert(peer, from_peer + 1);
        Some(Admitted {
            connections: self.clone(),
            peer,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (total, by_peer) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                by_peer.remove(&self.peer);
            }
        }
    }
}

/// Whether one more connection from `peer` fits, with `total` open on the listener and
/// `from_peer` of them from that peer. Loopback is the host's own clients (kubectl): only
/// the listener's limit holds them.
fn admits(limits: ConnLimits, total: usize, from_peer: usize, peer: IpAddr) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    total < limits.listener && (peer.is_loopback() || from_peer < limits.per_peer)
}

/// What a connection is doing: requests in flight (a response counts until its body is
/// done, so a watch keeps its connection busy) and since when it has had none.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<(usize, Instant)>,
}

/// One request in flight on a connection.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            state: Mutex::new((0, Instant::now())),
        }
    }

    fn start(self: &Arc<Self>) -> Busy {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        Busy(self.clone())
    }

    /// Returns once the connection has had no request in flight for `timeout`.
    pub(crate) async fn idle(&self, timeout: Duration) {
        loop {
            let (in_flight, since) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
            match idle_left(in_flight, since.elapsed(), timeout) {
                Some(left) => tokio::time::sleep(left).await,
                None => return,
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = state.0.saturating_sub(1);
        if state.0 == 0 {
            state.1 = Instant::now();
        }
    }
}

/// How long until a connection counts as idle (`None`: it is): a connection with requests
/// in flight is looked at again a whole timeout later.
fn idle_left(in_flight: usize, idle_for: Duration, timeout: Duration) -> Option<Duration> {
    match in_flight {
        0 => Some(timeout.saturating_sub(idle_for)).filter(|left| !left.is_zero()),
        _ => Some(timeout),
    }
}

/// `router` as one connection's hyper service, counting its requests in `activity` until
/// their response bodies end.
pub(crate) fn tracked(
    router: axum::Router,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let service = move |request: http::Request<hyper::body::Incoming>| {
        let busy = activity.start();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok(response.map(|body| {
                axum::body::Body::new(body.map_frame(move |frame| {
                    let _busy = &busy;
                    frame
                }))
            }))
        }
    };
    hyper::service::service_fn(service)
}

/// kube-apiserver's `--max-requests-inflight` and `--max-mutating-requests-inflight`
/// (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxInFlight {
    /// Read-only requests (GET, HEAD) at once.
    pub requests: usize,
    /// Mutating requests at once.
    pub mutating: usize,
}

impl Default for MaxInFlight {
    fn default() -> Self {
        MaxInFlight {
            requests: 400,
            mutating: 200,
        }
    }
}

/// The two pools of the max-in-flight filter.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    read_only: Option<Arc<Semaphore>>,
    mutating: Option<Arc<Semaphore>>,
}

impl InFlight {
    pub(crate) fn new(max: MaxInFlight) -> InFlight {
        let pool = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        InFlight {
            read_only: pool(max.requests),
            mutating: pool(max.mutating),
        }
    }
}

/// The kinds of request the filter tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LongRunning,
    ReadOnly,
    Mutating,
}

/// `BasicLongRunningRequestCheck({watch, proxy}, {attach, exec, proxy, log, portforward})`
/// over the request info, then `nonMutatingRequestVerbs` (get, list, watch: GET and HEAD).
fn kind(method: &Method, path: &str, query: Option<&str>) -> Kind {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[][..],
    };
    let watch_param = query.into_iter().flat_map(|q| q.split('&')).any(|pair| {
        matches!(
            pair.split_once('='),
            Some(("watch", "true" | "1" | "True" | "TRUE" | "t" | "T"))
        )
    });
    let watch = rest.first() == Some(&"watch") || (method == Method::GET && watch_param);
    // namespaces/{ns}/{resource}/{name}/{subresource} or {resource}/{name}/{subresource}.
    let subresource = match rest {
        ["namespaces", _, _, _, sub, ..] | [_, _, sub, ..] => Some(*sub),
        _ => None,
    };
    let long_subresource = matches!(
        subresource,
        Some("attach" | "exec" | "proxy" | "log" | "portforward")
    );
    let proxy_verb = rest.first() == Some(&"proxy");
    if watch || long_subresource || proxy_verb {
        Kind::LongRunning
    } else if method == Method::GET || method == Method::HEAD {
        Kind::ReadOnly
    } else {
        Kind::Mutating
    }
}

/// The max-in-flight filter (after authentication, as upstream's chain has it).
pub(crate) async fn max_in_flight(
    State(limits): State<InFlight>,
    request: Request,
    next: Next,
) -> Response {
    let uri = request.uri();
    let pool = match kind(request.method(), uri.path(), uri.query()) {
        Kind::LongRunning => None,
        Kind::ReadOnly => limits.read_only.as_ref(),
        Kind::Mutating => limits.mutating.as_ref(),
    };
    let _permit = match pool.map(|p| p.clone().try_acquire_owned()) {
        Some(Err(_)) => return too_many_requests(),
        Some(Ok(permit)) => Some(permit),
        None => None,
    };
    next.run(request).await
}

/// `tooManyRequests` in maxinflight.go: Go's `http.Error` with upstream's words.
fn too_many_requests() -> Response {
    (
        http::StatusCode::TOO_MANY_REQUESTS,
        [
            (http::header::RETRY_AFTER, "1"),
            (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "Too many requests, please try again later.\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_running_requests_are_not_counted() {
        use Kind::*;
        let get = Method::GET;
        for (method, path, query, want) in [
            (
                &get,
                "/api/v1/namespaces/a/pods",
                Some("watch=true"),
                LongRunning,
            ),
            (
                &get,
                "/api/v1/namespaces/a/pods",
                Some("limit=5&watch=1"),
                LongRunning,
            ),
            (&get, "/api/v1/watch/namespaces/a/pods", None, LongRunning),
            (
                &get,
                "/apis/apps/v1/deployments",
                Some("watch=true"),
                LongRunning,
            ),
            (
                &get,
                "/api/v1/namespaces/a/pods/p/log",
                Some("follow=false"),
                LongRunning,
            ),
            (
                &Method::POST,
                "/api/v1/namespaces/a/pods/p/exec",
                None,
                LongRunning,
            ),
            (
                &get,
                "/api/v1/namespaces/a/pods/p/attach",
                None,
                LongRunning,
            ),
            (
                &Method::POST,
                "/api/v1/namespaces/a/pods/p/portforward",
                None,
                LongRunning,
            ),
            (&get, "/api/v1/nodes/n/proxy", None, LongRunning),
            (
                &get,
                "/api/v1/namespaces/a/services/s/proxy",
                None,
                LongRunning,
            ),
            (
                &get,
                "/api/v1/namespaces/a/pods",
                Some("watch=false"),
                ReadOnly,
            ),
            (&get, "/api/v1/namespaces/a/pods/p", None, ReadOnly),
            (&get, "/api/v1/namespaces/log", None, ReadOnly),
            (&get, "/api/v1/namespaces/a/configmaps/exec", None, ReadOnly),
            (&Method::HEAD, "/api/v1/pods", None, ReadOnly),
            (&get, "/openapi/v3", None, ReadOnly),
            (&get, "/api", None, ReadOnly),
            (
                &Method::POST,
                "/api/v1/namespaces/a/configmaps",
                Some("watch=true"),
                Mutating,
            ),
            (
                &Method::PUT,
                "/api/v1/namespaces/a/pods/p/status",
                None,
                Mutating,
            ),
            (
                &Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/d/scale",
                None,
                Mutating,
            ),
            (
                &Method::DELETE,
                "/api/v1/namespaces/a/pods/p",
                None,
                Mutating,
            ),
            (
                &Method::POST,
                "/api/v1/namespaces/a/pods/p/eviction",
                None,
                Mutating,
            ),
        ] {
            assert_eq!(kind(method, path, query), want, "{method} {path} {query:?}");
        }
    }

    #[test]
    fn a_connection_is_idle_after_the_timeout_with_nothing_in_flight() {
        let timeout = Duration::from_secs(90);
        let s = Duration::from_secs;
        for (in_flight, idle_for, want) in [
            (0, s(0), Some(s(90))),
            (0, s(30), Some(s(60))),
            (0, s(90), None),
            (0, s(500), None),
            (1, s(500), Some(s(90))),
            (3, s(0), Some(s(90))),
        ] {
            assert_eq!(
                idle_left(in_flight, idle_for, timeout),
                want,
                "{in_flight} {idle_for:?}"
            );
        }
    }

    #[test]
    fn pods_cannot_take_the_connections_host_clients_need() {
        let limits = ConnLimits {
            listener: 100,
            per_peer: 10,
        };
        let pod: IpAddr = "10.244.0.5".parse().expect("ip");
        let host: IpAddr = "127.0.0.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        for (total, from_peer, peer, want) in [
            (0, 0, pod, true),
            (50, 9, pod, true),
            (50, 10, pod, false),
            (50, 10, host, true),
            (50, 10, mapped, true),
            (99, 60, host, true),
            (100, 60, host, false),
            (100, 0, pod, false),
        ] {
            assert_eq!(
                admits(limits, total, from_peer, peer),
                want,
                "{total} {from_peer} {peer}"
            );
        }
    }

    #[test]
    fn connections_leave_the_count_when_dropped() {
        let connections = Connections::new(ConnLimits {
            listener: 3,
            per_peer: 2,
        });
        let pod: IpAddr = "10.244.0.5".parse().expect("ip");
        let a = connections.admit(pod).expect("first");
        let _b = connections.admit(pod).expect("second");
        assert!(connections.admit(pod).is_none());
        let _c = connections
            .admit("127.0.0.1".parse().expect("ip"))
            .expect("host");
        assert!(
            connections
                .admit("127.0.0.1".parse().expect("ip"))
                .is_none()
        );
        drop(a);
        assert!(connections.admit(pod).is_some());
    }

    #[test]
    fn limits_follow_the_open_files_limit() {
        for (open_files, host, pods) in [
            (1024, (512, 64), (256, 32)),
            (4096, (2048, 256), (1024, 128)),
            (1_048_576, (65_536, 1024), (32_768, 1024)),
            (16, (64, 8), (32, 8)),
        ] {
            let (h, p) = ConnLimits::from_open_files(open_files);
            assert_eq!((h.listener, h.per_peer), host, "{open_files}");
            assert_eq!((p.listener, p.per_peer), pods, "{open_files}");
        }
    }
}
