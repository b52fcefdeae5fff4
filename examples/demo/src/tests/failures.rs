//! Auth down, silent or unconfigured; the injected Service env; client; shutdown.

use std::time::Instant;

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::*;

#[tokio::test]
async fn auth_down_answers_503_quickly() {
    let down = closed_port().await;
    let users = start(calling(App::Users, "users-0", down)).await;
    let tasks = start(calling(App::Tasks, "tasks-0", down)).await;

    let started = Instant::now();
    let signup = post(
        users.addr,
        "/signup",
        json!({ "email": "a@b", "password": "pw" }),
    )
    .await;
    assert_eq!(
        signup.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        signup.json
    );
    let expected = format!("auth unreachable at http://{down}/hash: connect to {down}: ");
    assert!(
        signup.str("error").starts_with(&expected),
        "{}",
        signup.json
    );

    let listed = send(tasks.addr, Method::GET, "/tasks", Some("a.b.c"), "").await;
    assert_eq!(
        listed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        listed.json
    );
    assert!(
        listed
            .str("error")
            .starts_with(&format!("auth unreachable at http://{down}/verify"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    users.stop().await;
    tasks.stop().await;
}

#[tokio::test]
async fn silent_auth_times_out_instead_of_hanging() {
    let silent = silent_listener().await;
    let mut tasks_config = calling(App::Tasks, "tasks-0", silent);
    tasks_config.request_timeout = Duration::from_millis(300);
    let tasks = start(tasks_config).await;

    let started = Instant::now();
    let listed = send(tasks.addr, Method::GET, "/tasks", Some("a.b.c"), "").await;
    assert_eq!(
        listed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        listed.json
    );
    assert_eq!(
        listed.str("error"),
        format!("auth unreachable at http://{silent}/verify: no answer within 300ms")
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );

    tasks.stop().await;
}

#[tokio::test]
async fn unconfigured_auth_answers_503_with_the_reason() {
    let users = start(config(App::Users, "users-0", &[])).await;
    let tasks = start(config(
        App::Tasks,
        "tasks-0",
        &[("AUTH_ADDRESS", "https://auth".to_owned())],
    ))
    .await;

    let signup = post(
        users.addr,
        "/signup",
        json!({ "email": "a@b", "password": "pw" }),
    )
    .await;
    assert_eq!(signup.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        signup.str("error"),
        "auth address not configured: set AUTH_ADDRESS (or AUTH_SERVICE_SERVICE_HOST and AUTH_SERVICE_SERVICE_PORT)"
    );
    let listed = send(tasks.addr, Method::GET, "/tasks", Some("a.b.c"), "").await;
    assert_eq!(listed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        listed.str("error"),
        "invalid AUTH_ADDRESS=\"https://auth\": only http:// is supported"
    );
    // Health does not depend on auth.
    assert_eq!(get(users.addr, "/healthz").await.status, StatusCode::OK);

    users.stop().await;
    tasks.stop().await;
}

#[tokio::test]
async fn tasks_falls_back_to_the_injected_service_env() {
    let auth = start_auth("auth-a").await;
    let users = start(calling(App::Users, "users-0", auth.addr)).await;
    let token = token_for(users.addr, "ada@example.com", "pw").await;
    let env = [
        ("AUTH_SERVICE_SERVICE_HOST", auth.addr.ip().to_string()),
        ("AUTH_SERVICE_SERVICE_PORT", auth.addr.port().to_string()),
    ];
    let tasks = start(config(App::Tasks, "tasks-0", &env)).await;

    let listed = send(tasks.addr, Method::GET, "/tasks", Some(&token), "").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    assert_eq!(listed.str("authServedBy"), "auth-a 127.0.0.1");

    for app in [tasks, users, auth] {
        app.stop().await;
    }
}

#[tokio::test]
async fn client_check_ok_and_fail() {
    let auth = start_auth("auth-a").await;
    let mut polling = calling(App::Client, "client-0", auth.addr);
    polling.client_interval = Duration::from_millis(50);
    let client = start(polling).await;

    let ok = get(client.addr, "/check").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json);
    assert_eq!(
        ok.json,
        json!({
            "ok": true,
            "address": auth.addr.to_string(),
            "peer": auth.addr.to_string(),
            "servedBy": "auth-a 127.0.0.1",
        })
    );

    let down = closed_port().await;
    let failing = start(calling(App::Client, "client-1", down)).await;
    let fail = get(failing.addr, "/check").await;
    assert_eq!(fail.status, StatusCode::BAD_GATEWAY, "{}", fail.json);
    assert_eq!(
        (&fail.json["ok"], fail.str("address")),
        (&json!(false), down.to_string().as_str())
    );
    assert!(
        fail.str("error")
            .starts_with(&format!("connect to {down}: ")),
        "{}",
        fail.json
    );

    let unconfigured = start(config(App::Client, "client-2", &[])).await;
    let reply = get(unconfigured.addr, "/check").await;
    assert_eq!(
        (reply.status, &reply.json["address"]),
        (StatusCode::BAD_GATEWAY, &Value::Null)
    );

    // Let the poll loops run a few rounds, then stop everything.
    tokio::time::sleep(Duration::from_millis(150)).await;
    for app in [client, failing, unconfigured, auth] {
        app.stop().await;
    }
}

#[tokio::test]
async fn shutdown_is_prompt_with_requests_in_flight() {
    let silent = silent_listener().await;
    let tasks = start(calling(App::Tasks, "tasks-0", silent)).await;
    let addr = tasks.addr;
    // An idle connection and a request stuck on a silent auth (5 s request timeout).
    let _idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let stuck = tokio::spawn(async move {
        let caller = Caller::new(
            AuthAddress {
                host: addr.ip().to_string(),
                port: addr.port(),
                source: AddressSource::AuthAddress,
            },
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        let headers = [(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer a.b.c"),
        )];
        caller
            .send(Method::GET, "/tasks", &headers, Bytes::new())
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    tasks.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    stuck.abort();
}

#[tokio::test]
async fn bind_serves_ipv4_on_an_ephemeral_port() {
    let mut config = config(App::Auth, "auth-a", &[]);
    config.port = 0;
    let server = Server::bind(config).await.expect("bind");
    let addrs = server.local_addrs();
    assert!(!addrs.is_empty());
    let port = addrs[0].port();
    assert!(
        addrs
            .iter()
            .all(|addr| addr.port() == port && addr.ip().is_unspecified()),
        "{addrs:?}"
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));

    let health = get(SocketAddr::from(([127, 0, 0, 1], port)), "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.str("servedBy"), "auth-a 127.0.0.1");

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(1), task).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))));
}
