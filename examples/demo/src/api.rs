//! What every app's HTTP API shares: JSON request bodies, JSON errors (`{"error": "..."}`)
//! and the handlers for unknown paths (404), wrong methods (405) and `GET /healthz`.

use axum::{
    Extension, Json,
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{
    call::{Answer, CallError, Caller},
    config::{AuthAddress, Config},
};

/// The largest request body any app reads.
const MAX_BODY: usize = 64 * 1024;

/// Which replica answered: `<hostname> <pod IP>`, the `X-Served-By` header's value.
#[derive(Debug, Clone)]
pub(crate) struct ServedBy(pub(crate) String);

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    /// Sent as `WWW-Authenticate` (401 answers of tasks).
    challenge: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            challenge: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// A 401 that asks for a bearer token.
    pub(crate) fn bearer(message: impl Into<String>) -> ApiError {
        ApiError {
            challenge: Some("Bearer"),
            ..ApiError::unauthorized(message)
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 503: auth is not configured.
    pub(crate) fn unconfigured(reason: &str) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason)
    }

    /// 503: no answer from auth.
    pub(crate) fn unreachable(address: &AuthAddress, path: &str, err: &CallError) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("auth unreachable at {}: {err}", address.url(path)),
        )
    }

    /// 502: auth answered, but not as it should.
    pub(crate) fn bad_answer(address: &AuthAddress, path: &str, answer: &Answer) -> ApiError {
        let detail = answer
            .json()
            .ok()
            .and_then(|body| {
                body.get("error")
                    .and_then(|e| e.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(200)
                    .collect()
            });
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "bad answer from auth at {}: {} {detail}",
                address.url(path),
                answer.status
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The string `field` of a 200 JSON answer from auth, else a 502.
pub(crate) fn answer_field(
    caller: &Caller,
    path: &str,
    answer: &Answer,
    field: &str,
) -> Result<String, ApiError> {
    if answer.status != StatusCode::OK {
        return Err(ApiError::bad_answer(&caller.address, path, answer));
    }
    answer
        .json()
        .ok()
        .and_then(|body| {
            body.get(field)
                .and_then(|value| value.as_str())
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "bad answer from auth at {}: no {field:?} in the JSON body",
                    caller.address.url(path)
                ),
            )
        })
}

/// Reads a JSON body of at most 64 KiB into `T`; any content type is accepted, so a
/// `curl -d` without `-H` works too.
pub(crate) async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|err| {
        let too_large = std::error::Error::source(&err)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {MAX_BODY} bytes"),
            )
        } else {
            ApiError::bad_request(format!("read request body: {err}"))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))
}

/// 404 for any path an app does not serve.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such path")
}

/// 405 for a known path with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
}

/// `GET /healthz`: 200 `{ok, app, servedBy}` as long as the process serves.
pub(crate) async fn healthz(
    Extension(config): Extension<std::sync::Arc<Config>>,
    Extension(served_by): Extension<ServedBy>,
) -> Json<serde_json::Value> {
    Json(json!({ "ok": true, "app": config.app.name(), "servedBy": served_by.0 }))
}

/// Locks `mutex`; the apps' maps stay consistent even if a holder panicked (single inserts).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
