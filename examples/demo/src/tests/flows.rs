//! The happy paths and the input errors.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn signup_login_then_tasks_across_two_auth_replicas() {
    let auth_a = start_auth("auth-a").await;
    let auth_b = start_auth("auth-b").await;
    // Users and tasks reach different replicas: a token issued by A must verify on B.
    let users = start(calling(App::Users, "users-0", auth_a.addr)).await;
    let tasks = start(calling(App::Tasks, "tasks-0", auth_b.addr)).await;

    let credentials = json!({ "email": "Ada@Example.com", "password": "hunter2" });
    let signup = post(users.addr, "/signup", credentials.clone()).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.json);
    assert_eq!(signup.str("email"), "ada@example.com");
    assert_eq!(signup.str("authServedBy"), "auth-a 127.0.0.1");
    assert_eq!(signup.served_by(), "users-0 127.0.0.1");

    let login = post(users.addr, "/login", credentials).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json);
    let token = login.str("token").to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT");

    let task = json!({ "title": "write the demo", "text": "auth, users, tasks" }).to_string();
    let created = send(tasks.addr, Method::POST, "/tasks", Some(&token), &task).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.json["task"]["title"], "write the demo");
    assert_eq!(created.str("authServedBy"), "auth-b 127.0.0.1");
    assert_eq!(created.served_by(), "tasks-0 127.0.0.1");

    let listed = send(tasks.addr, Method::GET, "/tasks", Some(&token), "").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    assert_eq!(listed.str("email"), "ada@example.com");
    assert_eq!(
        listed.json["tasks"],
        json!([{ "id": 1, "title": "write the demo", "text": "auth, users, tasks" }])
    );

    // Lists are per user.
    let other = token_for(users.addr, "bob@example.com", "pw").await;
    let listed = send(tasks.addr, Method::GET, "/tasks", Some(&other), "").await;
    assert_eq!(
        (listed.status, &listed.json["tasks"]),
        (StatusCode::OK, &json!([]))
    );

    for app in [users, tasks, auth_a, auth_b] {
        app.stop().await;
    }
}

#[tokio::test]
async fn auth_api_hash_token_verify() {
    let auth_a = start_auth("auth-a").await;
    let auth_b = start_auth("auth-b").await;

    let hashed = post(auth_a.addr, "/hash", json!({ "password": "pw" })).await;
    assert_eq!(hashed.status, StatusCode::OK, "{}", hashed.json);
    assert_eq!(hashed.served_by(), "auth-a 127.0.0.1");
    assert_eq!(hashed.str("servedBy"), "auth-a 127.0.0.1");
    let hash = hashed.str("hash").to_owned();
    assert!(hash.starts_with("pbkdf2-sha256$"), "{hash}");

    // Any replica checks a hash any replica made, and issues a token any replica verifies.
    let request = json!({ "email": "ada@example.com", "password": "pw", "hash": hash });
    let issued = post(auth_b.addr, "/token", request).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.json);
    let token = issued.str("token").to_owned();
    let verified = post(auth_a.addr, "/verify", json!({ "token": token })).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.json);
    assert_eq!(verified.json["valid"], true);
    assert_eq!(verified.str("email"), "ada@example.com");
    assert_eq!(verified.served_by(), "auth-a 127.0.0.1");

    let wrong = json!({ "email": "ada@example.com", "password": "nope", "hash": hash });
    let refused = post(auth_a.addr, "/token", wrong).await;
    assert_eq!(
        (refused.status, refused.str("error")),
        (StatusCode::UNAUTHORIZED, "wrong password")
    );

    let garbage = post(auth_b.addr, "/verify", json!({ "token": "not.a.token" })).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(garbage.json["valid"], false);

    let malformed = json!({ "email": "a@b", "password": "pw", "hash": "md5$x" });
    let bad_hash = post(auth_b.addr, "/token", malformed).await;
    assert_eq!(
        bad_hash.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_hash.json
    );

    let empty = post(auth_a.addr, "/hash", json!({ "password": "" })).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);

    // Another key: the token no longer verifies.
    let other_key = start(config(
        App::Auth,
        "auth-c",
        &[("AUTH_SECRET", "other".to_owned())],
    ))
    .await;
    let foreign = post(other_key.addr, "/verify", json!({ "token": token })).await;
    assert_eq!(
        (foreign.status, foreign.str("error")),
        (StatusCode::UNAUTHORIZED, "bad token signature")
    );

    for app in [auth_a, auth_b, other_key] {
        app.stop().await;
    }
}

#[tokio::test]
async fn users_input_errors() {
    let auth = start_auth("auth-a").await;
    let users = start(calling(App::Users, "users-0", auth.addr)).await;
    token_for(users.addr, "ada@example.com", "pw").await;

    let duplicate = post(
        users.addr,
        "/signup",
        json!({ "email": "ADA@example.com", "password": "x" }),
    )
    .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT, "{}", duplicate.json);
    assert_eq!(
        duplicate.str("error"),
        "user ada@example.com already exists"
    );

    let wrong = post(
        users.addr,
        "/login",
        json!({ "email": "ada@example.com", "password": "nope" }),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.str("error")),
        (StatusCode::UNAUTHORIZED, "wrong email or password")
    );
    let unknown = post(
        users.addr,
        "/login",
        json!({ "email": "eve@example.com", "password": "pw" }),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let not_json = send(users.addr, Method::POST, "/signup", None, "{email").await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(
        not_json.str("error").starts_with("invalid JSON body:"),
        "{}",
        not_json.json
    );
    let missing = post(users.addr, "/signup", json!({ "email": "a@b" })).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.str("error").contains("missing field `password`"),
        "{}",
        missing.json
    );
    for bad in [
        json!({ "email": "nobody", "password": "pw" }),
        json!({ "email": "a@b", "password": "" }),
    ] {
        let reply = post(users.addr, "/signup", bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.json);
    }
    let huge = format!(r#"{{"email":"a@b","password":"{}"}}"#, "x".repeat(70_000));
    let too_large = send(users.addr, Method::POST, "/signup", None, &huge).await;
    assert_eq!(
        too_large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_large.json
    );

    users.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn tasks_refuses_missing_and_bad_tokens() {
    let auth = start_auth("auth-a").await;
    let tasks = start(calling(App::Tasks, "tasks-0", auth.addr)).await;

    let missing = get(tasks.addr, "/tasks").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing
            .headers
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let bad = send(tasks.addr, Method::GET, "/tasks", Some("garbage"), "").await;
    assert_eq!(
        (bad.status, bad.str("error")),
        (StatusCode::UNAUTHORIZED, "invalid token: malformed token")
    );
    let post_bad = send(
        tasks.addr,
        Method::POST,
        "/tasks",
        Some("a.b.c"),
        r#"{"title":"x","text":""}"#,
    )
    .await;
    assert_eq!(post_bad.status, StatusCode::UNAUTHORIZED);

    // A token from a cluster with another AUTH_SECRET.
    let foreign_auth = start(config(
        App::Auth,
        "auth-x",
        &[("AUTH_SECRET", "other".to_owned())],
    ))
    .await;
    let foreign_users = start(calling(App::Users, "users-x", foreign_auth.addr)).await;
    let foreign = token_for(foreign_users.addr, "ada@example.com", "pw").await;
    let refused = send(tasks.addr, Method::GET, "/tasks", Some(&foreign), "").await;
    assert_eq!(
        (refused.status, refused.str("error")),
        (
            StatusCode::UNAUTHORIZED,
            "invalid token: bad token signature"
        )
    );

    // A good token, a bad body.
    let users = start(calling(App::Users, "users-0", auth.addr)).await;
    let token = token_for(users.addr, "ada@example.com", "pw").await;
    let untitled = send(
        tasks.addr,
        Method::POST,
        "/tasks",
        Some(&token),
        r#"{"title":" ","text":"x"}"#,
    )
    .await;
    assert_eq!(
        untitled.status,
        StatusCode::BAD_REQUEST,
        "{}",
        untitled.json
    );
    let not_json = send(tasks.addr, Method::POST, "/tasks", Some(&token), "title=x").await;
    assert_eq!(
        not_json.status,
        StatusCode::BAD_REQUEST,
        "{}",
        not_json.json
    );

    for app in [tasks, users, auth, foreign_users, foreign_auth] {
        app.stop().await;
    }
}

#[tokio::test]
async fn json_errors_for_unknown_paths_and_wrong_methods() {
    let auth = start_auth("auth-a").await;
    let users = start(calling(App::Users, "users-0", auth.addr)).await;

    let not_found = get(users.addr, "/nope").await;
    assert_eq!(
        (not_found.status, not_found.str("error")),
        (StatusCode::NOT_FOUND, "no such path")
    );
    let wrong_method = get(users.addr, "/signup").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.json["error"].is_string());
    let delete = send(auth.addr, Method::DELETE, "/verify", None, "").await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.served_by(), "auth-a 127.0.0.1");

    let health = get(users.addr, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        health.json,
        json!({ "ok": true, "app": "users", "servedBy": "users-0 127.0.0.1" })
    );

    users.stop().await;
    auth.stop().await;
}
