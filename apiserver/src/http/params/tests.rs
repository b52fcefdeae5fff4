//! The query parameters against upstream's answers: decoding (400), options validation
//! (422) and the version checks of lists, watches and gets.

use super::*;

fn params(query: &str) -> Params {
    Params::parse(query)
}

fn list(query: &str, kind: &'static str) -> Result<ListOptions, ApiError> {
    ListOptions::from_params(&params(query), kind)
}

/// `(code, reason, message)` of an error.
fn answer(e: &ApiError) -> (u16, String, String) {
    let status = e.to_status();
    (
        e.code().as_u16(),
        status["reason"].as_str().unwrap_or("").to_string(),
        status["message"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn queries_split_as_go_splits_them() {
    let p = params("a=1&b=x+y&a=2&c&bad=%zz&d=%41;e=1&&f=");
    assert_eq!(p.get("a"), Some("1"));
    assert_eq!(p.all("a"), ["1", "2"]);
    assert_eq!(p.get("b"), Some("x y"));
    assert_eq!(p.get("c"), Some(""));
    assert_eq!(p.get("bad"), None, "a bad escape drops the pair");
    assert_eq!(p.get("d"), None, "a pair with ';' is dropped");
    assert_eq!(p.get("f"), Some(""));
    for (value, want) in [
        ("", true),
        ("1", true),
        ("yes", true),
        ("0", false),
        ("FALSE", false),
    ] {
        assert_eq!(go_bool(value), want, "{value:?}");
    }
}

/// `(query, code, reason, message)`: each malformed list query and upstream's answer.
#[test]
fn malformed_list_queries_get_upstreams_answers() {
    let parse_int = |v: &str| format!("strconv.ParseInt: parsing \"{v}\": invalid syntax");
    let rv_abc = r#"resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#;
    let cases: Vec<(&str, u16, &str, String)> = vec![
        ("limit=abc", 400, "BadRequest", parse_int("abc")),
        ("timeoutSeconds=abc", 400, "BadRequest", parse_int("abc")),
        ("timeoutSeconds=1.5&limit=x", 400, "BadRequest", parse_int("1.5")),
        ("limit=99999999999999999999", 400, "BadRequest",
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#.into()),
        ("labelSelector=a!!b", 400, "BadRequest",
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("fieldSelector=spec.foo%3Dx", 400, "BadRequest", "field label not supported: spec.foo".into()),
        ("resourceVersion=abc", 500, "", rv_abc.into()),
        ("resourceVersion=abc&limit=5", 400, "BadRequest", format!("invalid resource version: {rv_abc}")),
        ("resourceVersion=abc&resourceVersionMatch=Exact", 400, "BadRequest",
            format!("invalid resource version: {rv_abc}")),
        ("continue=garbage", 400, "BadRequest",
            r"invalid continue token: continue key is not valid: invalid character '\u0081' looking for beginning of value".into()),
        ("resourceVersionMatch=Exact", 422, "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".into()),
        ("resourceVersion=1&resourceVersionMatch=Newest", 422, "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\", \"\"".into()),
        ("sendInitialEvents=true", 422, "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list".into()),
    ];
    for (query, code, reason, message) in cases {
        let e = list(query, "Pod")
            .and_then(|o| o.check_list_revision().map(|_| o))
            .expect_err(query);
        assert_eq!(answer(&e), (code, reason.to_string(), message), "{query}");
    }
}

#[test]
fn good_list_queries_decode() {
    let o = list(
        "labelSelector=app%3Dweb&limit=5&timeoutSeconds=30&watch=1&resourceVersion=7",
        "Pod",
    )
    .expect("options");
    assert!(o.watch);
    assert_eq!((o.limit, o.timeout_seconds), (5, Some(30)));
    assert_eq!(o.resource_version, "7");
    let token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIsInN0YXJ0IjoiYiJ9";
    let o = list(&format!("continue={token}&resourceVersion=0"), "ConfigMap").expect("options");
    let got = o.check_list_revision().expect("token");
    assert_eq!(
        got,
        Some(ContinueToken {
            rv: 12,
            start: "b".into()
        })
    );
    let e = list(&format!("continue={token}&resourceVersion=5"), "ConfigMap")
        .and_then(|o| o.check_list_revision())
        .expect_err("rv with continue");
    assert_eq!(
        answer(&e),
        (
            400,
            "BadRequest".into(),
            "specifying resource version is not allowed when using continue".into()
        )
    );
}

#[test]
fn watches_end_when_asked() {
    use std::time::Duration;
    assert_eq!(watch_timeout(Some(3), 0.5), Duration::from_secs(3));
    assert_eq!(watch_timeout(Some(-1), 0.5), Duration::ZERO);
    assert_eq!(
        watch_timeout(Some(i64::MAX), 0.5),
        Duration::ZERO,
        "Go's nanoseconds wrap"
    );
    assert_eq!(watch_timeout(None, 0.0), Duration::from_secs(1800));
    assert_eq!(watch_timeout(Some(0), 1.0), Duration::from_secs(3600));
}

#[test]
fn write_options_are_validated_as_upstream() {
    let headers = HeaderMap::new();
    let invalid = |query: &str, write: Write| {
        let e = write_options(&params(query), &headers, write).expect_err(query);
        answer(&e)
    };
    assert_eq!(
        invalid("fieldValidation=Loud", Write::Create),
        (422, "Invalid".into(), "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Loud\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"".into())
    );
    assert_eq!(
        invalid("dryRun=Some", Write::Update),
        (422, "Invalid".into(), "UpdateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Some\"}: supported values: \"All\"".into())
    );
    assert_eq!(
        invalid("fieldManager=a%07b", Write::Patch(PatchType::Merge)),
        (422, "Invalid".into(), "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Invalid value: \"a\\ab\": invalid character U+0007 (at position 1)".into())
    );
    let ok = write_options(
        &params("dryRun=All&fieldValidation=Strict"),
        &headers,
        Write::Create,
    )
    .expect("options");
    assert!(ok.dry_run);
    assert_eq!(ok.field_validation, FieldValidation::Strict);
}

#[test]
fn delete_and_table_options_are_validated_as_upstream() {
    let e = delete_options(&params("gracePeriodSeconds=x"), b"").expect_err("grace");
    assert_eq!(
        answer(&e).2,
        "strconv.ParseInt: parsing \"x\": invalid syntax"
    );
    let e = delete_options(&params("propagationPolicy=Now"), b"").expect_err("policy");
    assert_eq!(
        answer(&e),
        (422, "Invalid".into(), "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Now\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"".into())
    );
    let e = include_object(&params("includeObject=All")).expect_err("include");
    assert_eq!(
        answer(&e),
        (400, "BadRequest".into(), "Unable to convert to Table as requested: includeObject: Invalid value: \"All\": must be 'Metadata', 'Object', 'None', or empty".into())
    );
    let e = request_timeout(&params("timeout=abc")).expect_err("timeout");
    assert_eq!(
        answer(&e).2,
        "invalid timeout specified in the request URL - time: invalid duration \"abc\""
    );
}
