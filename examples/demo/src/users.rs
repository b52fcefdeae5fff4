//! The users app (port 8080): signup and login, with every password operation done by auth
//! at `http://$AUTH_ADDRESS`. Users live in memory (email → password hash), per process.
//!
//! | method | path | body | answers |
//! |---|---|---|---|
//! | POST | `/signup` | `{email, password}` | 201 `{email}`, 409 taken, 400, 503/502 auth |
//! | POST | `/login` | `{email, password}` | 200 `{token}`, 401, 400, 503/502 auth |
//!
//! Answers that called auth carry `authServedBy`, the replica that answered.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::{ApiError, answer_field, lock, read_json},
    auth::MAX_PASSWORD,
    call::Upstream,
    config::Config,
};

/// The most users one process keeps.
const MAX_USERS: usize = 10_000;

struct UsersState {
    auth: Upstream,
    /// Email (lower case) → password hash made by auth.
    users: Mutex<HashMap<String, String>>,
}

pub(crate) fn router(config: &Config) -> Router {
    let state = Arc::new(UsersState {
        auth: Upstream::from_config(config),
        users: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/signup", post(signup))
        .route("/login", post(login))
        .with_state(state)
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// The email, trimmed and lower-cased, if the credentials are well-formed.
fn validate(credentials: &Credentials) -> Result<String, ApiError> {
    let email = credentials.email.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !well_formed {
        return Err(ApiError::bad_request(format!(
            "{:?} is not an email address",
            credentials.email
        )));
    }
    if credentials.password.is_empty() || credentials.password.len() > MAX_PASSWORD {
        return Err(ApiError::bad_request(format!(
            "password must be 1 to {MAX_PASSWORD} bytes"
        )));
    }
    Ok(email)
}

/// `POST /signup {email, password}` → 201 `{email}`; 409 if the email is taken.
async fn signup(State(state): State<Arc<UsersState>>, body: Body) -> Result<Response, ApiError> {
    let credentials: Credentials = read_json(body).await?;
    let email = validate(&credentials)?;
    let taken = || ApiError::new(StatusCode::CONFLICT, format!("user {email} already exists"));
    if lock(&state.users).contains_key(&email) {
        return Err(taken());
    }
    let caller = state.auth.caller().map_err(ApiError::unconfigured)?;
    let answer = caller
        .post_json("/hash", &json!({ "password": credentials.password }))
        .await
        .map_err(|err| ApiError::unreachable(&caller.address, "/hash", &err))?;
    let hash = answer_field(caller, "/hash", &answer, "hash")?;
    {
        let mut users = lock(&state.users);
        if users.contains_key(&email) {
            return Err(taken());
        }
        if users.len() >= MAX_USERS {
            return Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("this demo keeps at most {MAX_USERS} users"),
            ));
        }
        users.insert(email.clone(), hash);
    }
    let body = json!({ "email": email, "authServedBy": answer.served_by() });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /login {email, password}` → 200 `{token}`; 401 for an unknown email or a wrong
/// password (the same message for both).
async fn login(State(state): State<Arc<UsersState>>, body: Body) -> Result<Response, ApiError> {
    let credentials: Credentials = read_json(body).await?;
    let email = validate(&credentials)?;
    let wrong = || ApiError::unauthorized("wrong email or password");
    let Some(hash) = lock(&state.users).get(&email).cloned() else {
        return Err(wrong());
    };
    let caller = state.auth.caller().map_err(ApiError::unconfigured)?;
    let request = json!({ "email": email, "password": credentials.password, "hash": hash });
    let answer = caller
        .post_json("/token", &request)
        .await
        .map_err(|err| ApiError::unreachable(&caller.address, "/token", &err))?;
    if answer.status == StatusCode::UNAUTHORIZED {
        return Err(wrong());
    }
    let token = answer_field(caller, "/token", &answer, "token")?;
    Ok(Json(json!({ "token": token, "authServedBy": answer.served_by() })).into_response())
}
