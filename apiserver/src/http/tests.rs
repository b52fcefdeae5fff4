//! Router tests without binding a socket (tower `oneshot`): authentication, the watch
//! stream's bookmarks and timeout, and the 410 of a compacted watch start.

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::{Api, ClusterConfig};

const TOKEN: &str = "t0ken";

async fn router() -> (axum::Router, Api, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kubicle-http-{}", uuid::Uuid::new_v4()));
    let api = Api::open(&dir, ClusterConfig::default())
        .await
        .expect("open");
    (super::router(api.clone(), TOKEN), api, dir)
}

async fn get(router: &axum::Router, uri: &str, token: Option<&str>) -> (u16, String) {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let code = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn requests_without_the_token_are_unauthorized() {
    let (router, _, dir) = router().await;
    let (code, body) = get(&router, "/api/v1/namespaces", None).await;
    assert_eq!(code, 401);
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");
    assert_eq!(
        get(&router, "/api/v1/namespaces", Some("wrong")).await.0,
        401
    );
    assert_eq!(get(&router, "/api/v1/namespaces", Some(TOKEN)).await.0, 200);
    assert_eq!(
        get(&router, "/healthz", None).await,
        (200, "ok".to_string())
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn watches_send_bookmarks_and_end_at_their_timeout() {
    let (router, api, dir) = router().await;
    // Pause only now: sqlx's pool has its own timeouts while opening the store.
    tokio::time::pause();
    let revision = api.store().revision();
    let uri = format!(
        "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=65&resourceVersion={revision}"
    );
    // Paused time advances while the watch waits: bookmarks at 30 s and 60 s, end at 65 s.
    let (code, body) = get(&router, &uri, Some(TOKEN)).await;
    assert_eq!(code, 200);
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    assert_eq!(events.len(), 2, "{body}");
    for event in &events {
        assert_eq!(event["type"], "BOOKMARK");
        assert_eq!(event["object"]["kind"], "ConfigMap");
        assert_eq!(
            event["object"]["metadata"]["resourceVersion"],
            revision.to_string()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_bad_resource_version_is_a_bad_request() {
    let (router, _, dir) = router().await;
    let (code, body) = get(
        &router,
        "/api/v1/configmaps?watch=true&resourceVersion=abc",
        Some(TOKEN),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = get(&router, "/api/v1/frobs", Some(TOKEN)).await;
    assert_eq!(code, 404);
    std::fs::remove_dir_all(&dir).ok();
}
