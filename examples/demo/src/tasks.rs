//! The tasks app (port 8000): a task list behind `Authorization: Bearer <token>`, each token
//! verified by auth. Auth is `AUTH_ADDRESS`, else the injected `AUTH_SERVICE_SERVICE_HOST`
//! and `_PORT` (the seed's "ClusterIP from env" way).
//!
//! Tasks live in memory, per process, **one list per user** (the token's email): a user sees
//! only their own tasks. Ids are unique per process.
//!
//! | method | path | body | answers |
//! |---|---|---|---|
//! | GET | `/tasks` | | 200 `{email, tasks: [{id, title, text}]}`, 401, 503/502 auth |
//! | POST | `/tasks` | `{title, text}` | 201 `{task}`, 401, 400, 503/502 auth |
//!
//! Answers that called auth carry `authServedBy`, the replica that answered.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    api::{ApiError, answer_field, lock, read_json},
    call::Upstream,
    config::Config,
};

const MAX_TASKS_PER_USER: usize = 1_000;
const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 10_000;

struct TasksState {
    auth: Upstream,
    /// Email → that user's tasks, oldest first.
    tasks: Mutex<HashMap<String, Vec<Task>>>,
    next_id: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
struct Task {
    id: u64,
    title: String,
    text: String,
}

#[derive(Deserialize)]
struct NewTask {
    title: String,
    #[serde(default)]
    text: String,
}

/// The user a verified token names, and the auth replica that said so.
struct Verified {
    email: String,
    auth_served_by: String,
}

pub(crate) fn router(config: &Config) -> Router {
    let state = Arc::new(TasksState {
        auth: Upstream::from_config(config),
        tasks: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
    });
    Router::new()
        .route("/tasks", get(list).post(create))
        .with_state(state)
}

/// Asks auth whether the bearer token is good: 401 if it is missing or auth refuses it.
async fn authorize(state: &TasksState, headers: &HeaderMap) -> Result<Verified, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::bearer("missing Authorization: Bearer <token>"));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::bearer("expected Authorization: Bearer <token>"))?;
    let caller = state.auth.caller().map_err(ApiError::unconfigured)?;
    let answer = caller
        .post_json("/verify", &json!({ "token": token }))
        .await
        .map_err(|err| ApiError::unreachable(&caller.address, "/verify", &err))?;
    if answer.status == StatusCode::UNAUTHORIZED {
        let reason = answer
            .json()
            .ok()
            .and_then(|body| body.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "refused by auth".to_owned());
        return Err(ApiError::bearer(format!("invalid token: {reason}")));
    }
    let email = answer_field(caller, "/verify", &answer, "email")?;
    Ok(Verified {
        email,
        auth_served_by: answer.served_by().to_owned(),
    })
}

/// `GET /tasks` → 200 `{email, tasks}`, the caller's tasks.
async fn list(
    State(state): State<Arc<TasksState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let verified = authorize(&state, &headers).await?;
    let tasks = lock(&state.tasks)
        .get(&verified.email)
        .cloned()
        .unwrap_or_default();
    Ok(Json(json!({
        "email": verified.email,
        "tasks": tasks,
        "authServedBy": verified.auth_served_by,
    }))
    .into_response())
}

/// `POST /tasks {title, text}` → 201 `{task}`.
async fn create(
    State(state): State<Arc<TasksState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let verified = authorize(&state, &headers).await?;
    let new: NewTask = read_json(body).await?;
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(ApiError::bad_request(format!(
            "title must be 1 to {MAX_TITLE} characters"
        )));
    }
    if new.text.chars().count() > MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "text must be at most {MAX_TEXT} characters"
        )));
    }
    let task = Task {
        id: state.next_id.fetch_add(1, Ordering::Relaxed),
        title: title.to_owned(),
        text: new.text,
    };
    {
        let mut tasks = lock(&state.tasks);
        let mine = tasks.entry(verified.email.clone()).or_default();
        if mine.len() >= MAX_TASKS_PER_USER {
            return Err(ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("this demo keeps at most {MAX_TASKS_PER_USER} tasks per user"),
            ));
        }
        mine.push(task.clone());
    }
    let body = json!({ "task": task, "authServedBy": verified.auth_served_by });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
