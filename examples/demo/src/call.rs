//! Outgoing HTTP/1 calls to auth: resolve the name, connect within the connect deadline,
//! send one request on a fresh connection, read the whole answer within the request deadline.
//!
//! A fresh connection per call keeps the demo honest: every call goes through the Service
//! again, so the proxy can pick another auth replica each time.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header},
};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::{net::TcpStream, task::AbortHandle, time::timeout};
use tracing::{info, warn};

use crate::config::{AuthAddress, Config};

/// The largest answer read from auth.
const MAX_ANSWER: usize = 1024 * 1024;
/// The header auth names its replica in.
pub(crate) const SERVED_BY: &str = "x-served-by";

/// Why a call got no answer. Messages embed their cause: they go into JSON errors as is.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("resolve {host}: {cause}")]
    Resolve { host: String, cause: std::io::Error },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("connect to {addr}: {cause}")]
    Connect {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("connect timed out after {after:?}")]
    ConnectTimeout { after: Duration },
    #[error("http handshake with {peer}: {cause}")]
    Handshake {
        peer: SocketAddr,
        cause: hyper::Error,
    },
    #[error("build request: {cause}")]
    Request { cause: axum::http::Error },
    #[error("send request to {peer}: {cause}")]
    Send {
        peer: SocketAddr,
        cause: hyper::Error,
    },
    #[error("read answer from {peer}: {cause}")]
    ReadBody {
        peer: SocketAddr,
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no answer within {after:?}")]
    Timeout { after: Duration },
}

/// An answer from auth, whatever its status.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The socket address that answered (a ClusterIP when the call went through a Service).
    pub(crate) peer: SocketAddr,
}

impl Answer {
    /// The `X-Served-By` header, or `"-"`.
    pub(crate) fn served_by(&self) -> &str {
        self.headers
            .get(SERVED_BY)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-")
    }

    pub(crate) fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Calls one HTTP address with deadlines.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) address: AuthAddress,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Caller {
    pub(crate) fn new(
        address: AuthAddress,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Caller {
        Caller {
            address,
            connect_timeout,
            request_timeout,
        }
    }

    /// POSTs `body` as JSON to `path` and logs who answered.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer, CallError> {
        let body = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        let result = self.send(Method::POST, path, &[], body).await;
        self.log(path, &result);
        result
    }

    /// Logs `called <url>, answered by <peer> (<X-Served-By>)` or the failure.
    pub(crate) fn log(&self, path: &str, result: &Result<Answer, CallError>) {
        let url = self.address.url(path);
        match result {
            Ok(answer) => info!(
                "called {url}, answered by {} ({}): {}",
                answer.peer,
                answer.served_by(),
                answer.status
            ),
            Err(err) => warn!("called {url}, no answer: {err}"),
        }
    }

    /// Sends one request on a fresh connection; the whole exchange is bounded by the request
    /// deadline and the connect step by the connect deadline.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, CallError> {
        let after = self.request_timeout;
        timeout(after, self.exchange(method, path, headers, body))
            .await
            .unwrap_or(Err(CallError::Timeout { after }))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, CallError> {
        let stream = self.connect().await?;
        let peer = stream.peer_addr().map_err(|cause| CallError::Connect {
            addr: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), self.address.port),
            cause,
        })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|cause| CallError::Handshake { peer, cause })?;
        // The connection task ends when this call does, answered or not.
        let _connection = AbortOnDrop(
            tokio::spawn(async move {
                let _ = connection.await;
            })
            .abort_handle(),
        );
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.address.authority())
            .header(header::CONNECTION, "close")
            .header(header::USER_AGENT, "kubicle-demo");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|cause| CallError::Request { cause })?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|cause| CallError::Send { peer, cause })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|cause| CallError::ReadBody { peer, cause })?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
            peer,
        })
    }

    /// Resolves the host and tries each address in turn, all within the connect deadline.
    async fn connect(&self) -> Result<TcpStream, CallError> {
        let after = self.connect_timeout;
        let host = &self.address.host;
        let port = self.address.port;
        let attempt = async {
            let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|cause| CallError::Resolve {
                        host: host.clone(),
                        cause,
                    })?
                    .collect(),
            };
            let mut last_error = CallError::NoAddress { host: host.clone() };
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(stream);
                    }
                    Err(cause) => last_error = CallError::Connect { addr, cause },
                }
            }
            Err(last_error)
        };
        timeout(after, attempt)
            .await
            .unwrap_or(Err(CallError::ConnectTimeout { after }))
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Auth as the apps that call it see it: an address to call, or why there is none.
#[derive(Debug, Clone)]
pub(crate) enum Upstream {
    Ready(Caller),
    Unconfigured(String),
}

impl Upstream {
    pub(crate) fn from_config(config: &Config) -> Upstream {
        match &config.auth {
            crate::config::AuthTarget::Configured(address) => Upstream::Ready(Caller::new(
                address.clone(),
                config.connect_timeout,
                config.request_timeout,
            )),
            crate::config::AuthTarget::Unconfigured { reason } => {
                Upstream::Unconfigured(reason.clone())
            }
        }
    }

    /// The caller, or the reason auth cannot be called.
    pub(crate) fn caller(&self) -> Result<&Caller, &str> {
        match self {
            Upstream::Ready(caller) => Ok(caller),
            Upstream::Unconfigured(reason) => Err(reason),
        }
    }
}
