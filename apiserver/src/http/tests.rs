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

/// `(uri, code, reason, message)`: each malformed parameter gets upstream's answer, the
/// reason left out where upstream's is unknown (a 500 passed on from the watch cache).
#[tokio::test]
async fn malformed_parameters_get_upstreams_answers() {
    let (router, _, dir) = router().await;
    let rv_abc = r#"resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#;
    let parse_int = r#"strconv.ParseInt: parsing "abc": invalid syntax"#;
    let cases: Vec<(&str, u16, Option<&str>, String)> = vec![
        ("/api/v1/configmaps?watch=true&resourceVersion=abc", 500, None, rv_abc.into()),
        ("/api/v1/configmaps?resourceVersion=abc", 500, None, rv_abc.into()),
        ("/api/v1/namespaces/default?resourceVersion=abc", 500, None, rv_abc.into()),
        (
            "/api/v1/configmaps?resourceVersion=abc&limit=10",
            400,
            Some("BadRequest"),
            format!("invalid resource version: {rv_abc}"),
        ),
        ("/api/v1/configmaps?limit=abc", 400, Some("BadRequest"), parse_int.into()),
        ("/api/v1/pods?watch=1&timeoutSeconds=abc", 400, Some("BadRequest"), parse_int.into()),
        (
            "/api/v1/configmaps?continue=garbage",
            400,
            Some("BadRequest"),
            r"invalid continue token: continue key is not valid: invalid character '\u0081' looking for beginning of value".into(),
        ),
        (
            "/api/v1/pods?labelSelector=a!!b",
            400,
            Some("BadRequest"),
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        (
            "/api/v1/pods?fieldSelector=spec.image%3Dx",
            400,
            Some("BadRequest"),
            "field label not supported: spec.image".into(),
        ),
        (
            "/api/v1/configmaps?fieldSelector=data.x%3Dy",
            400,
            Some("BadRequest"),
            r#""data.x" is not a known field selector: only "metadata.name", "metadata.namespace""#.into(),
        ),
        (
            "/api/v1/namespaces?timeout=abc",
            400,
            Some("BadRequest"),
            r#"invalid timeout specified in the request URL - time: invalid duration "abc""#.into(),
        ),
    ];
    for (uri, code, reason, message) in cases {
        let (got, body) = get(&router, uri, Some(TOKEN)).await;
        let status: Value = serde_json::from_str(&body).expect(uri);
        assert_eq!(got, code, "{uri}: {body}");
        assert_eq!(status["reason"].as_str(), reason, "{uri}: {body}");
        assert_eq!(status["message"], message, "{uri}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_watch_with_a_timeout_ends_and_selectors_filter() {
    let (router, _, dir) = router().await;
    tokio::time::pause();
    // Paused time jumps to the deadline: the watch ends after its initial events.
    let uri =
        "/api/v1/namespaces?watch=true&timeoutSeconds=5&fieldSelector=metadata.name%3Ddefault";
    let (code, body) = get(&router, uri, Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    let names: Vec<String> = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("event"))
        .map(|e| {
            e["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(names.iter().all(|n| n == "default"), "{body}");
    let (code, body) = get(
        &router,
        "/api/v1/namespaces?labelSelector=x%20in%20(a)",
        Some(TOKEN),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    std::fs::remove_dir_all(&dir).ok();
}

/// POSTs `body` as JSON; the code, the body and the `Warning` headers.
async fn post(router: &axum::Router, uri: &str, body: &str) -> (u16, Value, Vec<String>) {
    let request = Request::post(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let code = response.status().as_u16();
    let warnings = response
        .headers()
        .get_all(http::header::WARNING)
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .collect();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        warnings,
    )
}

#[tokio::test]
async fn creates_are_checked_as_upstream_checks_them() {
    let (router, _, dir) = router().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    let dup = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","name":"d"},"data":{"x":"1"},"colour":1}"#;
    let (code, status, _) = post(&router, &format!("{cms}?fieldValidation=Strict"), dup).await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "colour", duplicate field "metadata.name""#
    );
    let (code, _, warnings) = post(&router, cms, dup).await;
    assert_eq!(code, 201);
    assert_eq!(
        warnings,
        [
            r#"299 - "duplicate field 'metadata.name'""#,
            r#"299 - "unknown field 'colour'""#
        ]
    );
    let with_rv =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"r","resourceVersion":"5"}}"#;
    let (code, status, _) = post(&router, cms, with_rv).await;
    assert_eq!(code, 500, "{status}");
    assert_eq!(
        status["message"],
        "resourceVersion should not be set on objects to be created"
    );
    assert!(status.get("reason").is_none(), "{status}");
    let (code, _, _) = post(&router, &format!("{cms}?dryRun=All"), with_rv).await;
    assert_eq!(code, 201, "a dry run never reaches the store's check");
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"terminationGracePeriodSeconds":-5,"containers":[{"name":"c","image":"i"}]}}"#;
    let (code, created, _) = post(&router, "/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["terminationGracePeriodSeconds"], 1);
    let deployment = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"terminationGracePeriodSeconds":-5,"containers":[{"name":"c","image":"i"}]}}}}"#;
    let (code, _, warnings) = post(
        &router,
        "/apis/apps/v1/namespaces/default/deployments",
        deployment,
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        warnings,
        [
            "299 - \"spec.template.spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1\""
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}
