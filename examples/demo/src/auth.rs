//! The auth app (port 80): hashes passwords, issues a token for a good password, verifies
//! tokens. It keeps no state, so any number of replicas can sit behind one Service.
//!
//! | method | path | body | answers |
//! |---|---|---|---|
//! | POST | `/hash` | `{password}` | 200 `{hash}`, 400 |
//! | POST | `/token` | `{email, password, hash}` | 200 `{token, expiresAt}`, 401 wrong password, 400 |
//! | POST | `/verify` | `{token}` | 200 `{valid: true, email, expiresAt}`, 401 `{valid: false, error}` |
//!
//! Every answer also carries `servedBy` and the `X-Served-By` header.

use std::sync::Arc;

use axum::{
    Extension, Json, Router,
    body::Body,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use ring::rand::SystemRandom;
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::{ApiError, ServedBy, read_json},
    config::Config,
    password,
    token::{self, Claims, Signer},
};

/// The longest password accepted (bytes).
pub(crate) const MAX_PASSWORD: usize = 1024;

struct AuthState {
    signer: Signer,
    rng: SystemRandom,
    token_ttl_secs: u64,
}

pub(crate) fn router(config: &Config) -> Router {
    let state = Arc::new(AuthState {
        signer: Signer::new(&config.auth_secret),
        rng: SystemRandom::new(),
        token_ttl_secs: config.token_ttl.as_secs(),
    });
    Router::new()
        .route("/hash", post(hash))
        .route("/token", post(issue_token))
        .route("/verify", post(verify))
        .with_state(state)
}

#[derive(Deserialize)]
struct HashRequest {
    password: String,
}

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    password: String,
    hash: String,
}

#[derive(Deserialize)]
struct VerifyRequest {
    token: String,
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.is_empty() {
        return Err(ApiError::bad_request("password must not be empty"));
    }
    if password.len() > MAX_PASSWORD {
        return Err(ApiError::bad_request(format!(
            "password longer than {MAX_PASSWORD} bytes"
        )));
    }
    Ok(())
}

/// `POST /hash {password}` → 200 `{hash}`.
async fn hash(
    State(state): State<Arc<AuthState>>,
    Extension(served_by): Extension<ServedBy>,
    body: Body,
) -> Result<Response, ApiError> {
    let request: HashRequest = read_json(body).await?;
    check_password(&request.password)?;
    let rng = state.rng.clone();
    // PBKDF2 is deliberately slow: keep it off the async workers.
    let hashed = tokio::task::spawn_blocking(move || password::hash(&request.password, &rng))
        .await
        .map_err(|err| ApiError::internal(format!("hash task failed: {err}")))?
        .map_err(|err| ApiError::internal(err.to_string()))?;
    Ok(Json(json!({ "hash": hashed, "servedBy": served_by.0 })).into_response())
}

/// `POST /token {email, password, hash}` → 200 `{token, expiresAt}` or 401.
async fn issue_token(
    State(state): State<Arc<AuthState>>,
    Extension(served_by): Extension<ServedBy>,
    body: Body,
) -> Result<Response, ApiError> {
    let request: TokenRequest = read_json(body).await?;
    if request.email.trim().is_empty() {
        return Err(ApiError::bad_request("email must not be empty"));
    }
    check_password(&request.password)?;
    let TokenRequest {
        email,
        password,
        hash,
    } = request;
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .map_err(|err| ApiError::internal(format!("verify task failed: {err}")))?
        .map_err(|err| ApiError::bad_request(err.to_string()))?;
    if !matches {
        return Err(ApiError::unauthorized("wrong password"));
    }
    let now = token::now_unix();
    let claims = Claims {
        sub: email,
        iat: now,
        exp: now.saturating_add(state.token_ttl_secs),
    };
    let token = state.signer.issue(&claims);
    Ok(Json(json!({
        "token": token,
        "expiresAt": claims.exp,
        "servedBy": served_by.0,
    }))
    .into_response())
}

/// `POST /verify {token}` → 200 `{valid: true, email, expiresAt}` or 401 `{valid: false}`.
async fn verify(
    State(state): State<Arc<AuthState>>,
    Extension(served_by): Extension<ServedBy>,
    body: Body,
) -> Result<Response, ApiError> {
    let request: VerifyRequest = read_json(body).await?;
    let response = match state.signer.verify(&request.token, token::now_unix()) {
        Ok(claims) => Json(json!({
            "valid": true,
            "email": claims.sub,
            "expiresAt": claims.exp,
            "servedBy": served_by.0,
        }))
        .into_response(),
        Err(err) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "valid": false, "error": err.to_string(), "servedBy": served_by.0 })),
        )
            .into_response(),
    };
    Ok(response)
}
