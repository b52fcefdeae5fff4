//! The selector grammars against upstream's answers: matches, and the exact error texts of
//! `labels.Parse`, `fields.ParseSelector` and the field-label conversions.

use super::*;
use serde_json::json;

fn check(selector: &str, labels: Value, expected: bool) {
    let sel = LabelSelector::parse(selector).expect("parse");
    let obj = json!({"metadata": {"labels": labels}});
    assert_eq!(sel.matches(&obj), expected, "{selector} on {labels}");
}

#[test]
fn label_selectors_match() {
    check("", json!({}), true);
    check("app=web", json!({"app": "web"}), true);
    check("app==web", json!({"app": "api"}), false);
    check("app!=web", json!({}), true);
    check("app", json!({"app": ""}), true);
    check("!app", json!({"app": "x"}), false);
    check("env in (a, b),app", json!({"env": "b", "app": "x"}), true);
    check("env notin (a,b)", json!({"env": "a"}), false);
    check("env notin (a,b)", json!({}), true);
    check(
        "x in (foo,,baz),y,z notin ()",
        json!({"x": "", "y": "1"}),
        true,
    );
    check("x in (foo,,baz)", json!({"x": "bar"}), false);
    check("n>1", json!({"n": "2"}), true);
    check("n>1", json!({"n": "x"}), false);
    check("n<1", json!({}), false);
    check("in in (in)", json!({"in": "in"}), true);
    check("  a  =  b  ", json!({"a": "b"}), true);
}

/// `(selector, message)`: each malformed selector is a 400 with upstream's message.
#[test]
fn malformed_label_selectors_say_what_upstream_says() {
    let qname = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    let value = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    let cases = [
        (
            "a!!b",
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"
                .to_string(),
        ),
        (
            "a b",
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        ("a,,b", "found ',', expected: identifier after ','".into()),
        ("=a", "found '=', expected: !, identifier, or 'end of string'".into()),
        ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
        ("!", "unable to parse requirement: found '', expected: identifier".into()),
        ("a in b", "unable to parse requirement: found 'b' expected: '('".into()),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'".into()),
        (
            "-a",
            format!("unable to parse requirement: <nil>: Invalid value: \"-a\": name part {qname}"),
        ),
        (
            "a=-b",
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-b\": {value}"),
        ),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            "a<-x",
            format!("unable to parse requirement: [values[0]: Invalid value: \"-x\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: \"-x\": {value}]"),
        ),
    ];
    for (selector, want) in cases {
        match LabelSelector::parse(selector) {
            Err(ApiError::BadRequest(got)) => assert_eq!(got, want, "{selector}"),
            other => panic!("{selector}: {other:?}"),
        }
    }
}

fn fields(selector: &str, kind: &'static str) -> Result<FieldSelector, String> {
    FieldSelector::parse(selector)
        .and_then(|f| f.for_kind(kind))
        .map_err(|e| e.to_string())
}

#[test]
fn field_selectors_select_each_kinds_fields() {
    let pod = json!({
        "metadata": {"name": "p1", "namespace": "default"},
        "spec": {"nodeName": "n", "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]},
    });
    let yes = |s: &str| fields(s, "Pod").expect(s).matches(&pod);
    assert!(yes("metadata.name=p1"));
    assert!(yes("metadata.name==p1,metadata.namespace=default"));
    assert!(!yes("metadata.name!=p1"));
    assert!(
        yes("spec.host=n"),
        "old clients' spec.host is spec.nodeName"
    );
    assert!(
        yes("spec.hostNetwork=false"),
        "an unset bool selects as false"
    );
    assert!(yes("status.podIP=10.0.0.1,status.phase=Running"));
    assert!(!yes("spec.nodeName="));
    let event = json!({"metadata": {"name": "e"}, "reportingComponent": "kubelet", "source": {}});
    assert!(
        fields("source=kubelet", "Event")
            .expect("event")
            .matches(&event)
    );
    let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
    assert!(
        fields("spec.unschedulable=true", "Node")
            .expect("node")
            .matches(&node)
    );
    let escaped = fields(r"metadata.name=a\,b", "ConfigMap").expect("escaped");
    assert!(escaped.matches(&json!({"metadata": {"name": "a,b"}})));
    assert_eq!(escaped.pinned_name(), Some("a,b"));
    assert!(fields("", "Pod").expect("empty").is_empty());
}

/// `(selector, kind, message)`.
#[test]
fn malformed_or_unsupported_field_selectors_say_what_upstream_says() {
    let cases = [
        (
            "nonsense",
            "Pod",
            "invalid selector: 'nonsense'; can't understand 'nonsense'",
        ),
        (
            "b=1,a",
            "Pod",
            "invalid selector: 'b=1,a'; can't understand 'a'",
        ),
        (
            "a=b=c",
            "Pod",
            "invalid field selector: unescaped character in value: 61",
        ),
        (
            r"a=b\x",
            "Pod",
            r"invalid field selector: invalid escape sequence: \x",
        ),
        (
            r"a=b\",
            "Pod",
            r"invalid field selector: invalid escape sequence: \",
        ),
        ("spec.foo=1", "Pod", "field label not supported: spec.foo"),
        (
            "metadata.namespace=x",
            "Node",
            "field label not supported: metadata.namespace",
        ),
        (
            "spec.foo=x",
            "ConfigMap",
            r#""spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace""#,
        ),
        (
            "metadata.name =x",
            "Deployment",
            r#""metadata.name " is not a known field selector: only "metadata.name", "metadata.namespace""#,
        ),
    ];
    for (selector, kind, want) in cases {
        assert_eq!(
            fields(selector, kind).map(|_| ()),
            Err(want.to_string()),
            "{selector}"
        );
    }
}
