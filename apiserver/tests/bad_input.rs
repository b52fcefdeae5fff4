//! The bad-input corpus: every manifest under `tests/bad-input/` is POSTed to the real router
//! (real store on a temp dir, no socket) and must get exactly the `Status` code, reason and
//! field causes its `# expect:` header names.

use std::path::Path;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "test-token";

struct Expectation {
    code: u16,
    reason: String,
    fields: Vec<String>,
}

fn expectation(text: &str) -> Expectation {
    let mut code = 0;
    let mut reason = String::new();
    let mut fields = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# expect:") {
            // `<code> <reason> [<field>]`; a field may contain spaces (`data[a b]`).
            let mut parts = rest.trim().splitn(3, ' ');
            code = parts.next().and_then(|c| c.parse().ok()).expect("code");
            reason = parts.next().expect("reason").to_string();
            fields.extend(
                parts
                    .next()
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty()),
            );
        } else if let Some(field) = line.strip_prefix("# expect-cause:") {
            fields.push(field.trim().to_string());
        }
    }
    Expectation {
        code,
        reason,
        fields,
    }
}

/// The collection URL for a manifest, from its apiVersion and kind (unknown kinds get the URL
/// a client would guess, which must then answer 404).
fn url(manifest: &str) -> String {
    let doc: Value = serde_yaml_ng::from_str(manifest).unwrap_or(Value::Null);
    let api_version = doc["apiVersion"].as_str().unwrap_or("v1");
    let kind = doc["kind"].as_str().unwrap_or("ConfigMap");
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match apiserver::resources::by_kind(api_version, kind) {
        Some(r) if r.namespaced => format!("{prefix}/namespaces/default/{}", r.plural),
        Some(r) => format!("{prefix}/{}", r.plural),
        None => format!("{prefix}/namespaces/default/{}s", kind.to_lowercase()),
    }
}

#[tokio::test]
async fn every_bad_manifest_gets_its_status() {
    let dir = std::env::temp_dir().join(format!("kubicle-bad-input-{}", std::process::id()));
    let api = apiserver::Api::open(&dir, apiserver::ClusterConfig::default())
        .await
        .expect("open store");
    let router = apiserver::http::router(api.clone(), TOKEN);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "the corpus must hold at least 40 manifests"
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read manifest");
        let want = expectation(&text);
        let request = Request::post(url(&text))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/yaml")
            .body(Body::from(text.clone()))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("response");
        let code = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let status: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let causes: Vec<&str> = status["details"]["causes"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["field"].as_str()).collect())
            .unwrap_or_default();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        if code != want.code
            || status["reason"] != want.reason.as_str()
            || status["kind"] != "Status"
        {
            failures.push(format!(
                "{name}: want {} {}, got {code} {}",
                want.code, want.reason, status
            ));
        } else if let Some(missing) = want.fields.iter().find(|f| !causes.contains(&f.as_str())) {
            failures.push(format!("{name}: no cause on {missing}; causes {causes:?}"));
        }
    }
    // Nothing that was refused may have been stored.
    for r in apiserver::resources::RESOURCES
        .iter()
        .filter(|r| r.kind != "Namespace")
    {
        let (items, _) = api.list(r, None, &Default::default(), &Default::default());
        assert!(items.is_empty(), "a refused {} was stored", r.kind);
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
