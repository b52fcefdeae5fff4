//! Bad input through the real kubectl: each error prints as the real server's does, and
//! nothing is stored.

use integration::Cluster;

#[test]
fn kubectl_prints_each_error_cleanly() {
    let c = Cluster::start("errors");
    let invalid = c.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers: [{name: c, image: kubicle/demo, ports: [{containerPort: 70000}]}]\n"),
    );
    let stderr = invalid.failure();
    assert!(
        stderr.contains("The Pod \"Bad_Name\" is invalid"),
        "{stderr}"
    );
    assert!(
        stderr.contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("spec.containers[0].ports[0].containerPort: Invalid value: 70000"),
        "{stderr}"
    );

    c.kubectl(&["create", "namespace", "twice"]).success();
    let again = c.kubectl(&["create", "namespace", "twice"]);
    assert!(
        again
            .failure()
            .contains("Error from server (AlreadyExists): namespaces \"twice\" already exists"),
        "{}",
        again.stderr
    );

    // kubectl validates kinds it cannot find in OpenAPI v3 against OpenAPI v2, which kubicle
    // does not serve (it is protobuf-only), so an unknown kind fails validation first ...
    let unknown_doc = "apiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n";
    let unknown = c.kubectl_with_stdin(&["apply", "-f", "-"], Some(unknown_doc));
    assert!(
        unknown.failure().contains("--validate=false"),
        "{}",
        unknown.stderr
    );
    // ... and without validation, discovery says the kind does not exist.
    let unknown =
        c.kubectl_with_stdin(&["apply", "--validate=false", "-f", "-"], Some(unknown_doc));
    assert!(
        unknown
            .failure()
            .contains("no matches for kind \"Frobnicator\""),
        "{}",
        unknown.stderr
    );

    let unknown_field = c.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatta: {a: b}\n"),
    );
    assert!(
        unknown_field.failure().contains("unknown field \"datta\""),
        "{}",
        unknown_field.stderr
    );

    let malformed = c.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n"),
    );
    assert!(!malformed.failure().is_empty());

    let wrong_type = c.kubectl_with_stdin(
        &["apply", "--validate=false", "-f", "-"],
        Some("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: three\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n"),
    );
    assert!(
        wrong_type.failure().contains("BadRequest") || wrong_type.stderr.contains("cannot"),
        "{}",
        wrong_type.stderr
    );

    let missing_ns = c.kubectl(&["get", "configmap", "x", "-n", "nowhere"]);
    assert!(
        missing_ns.failure().contains("NotFound"),
        "{}",
        missing_ns.stderr
    );

    let selector = c.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: mismatch}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: i}]}\n"),
    );
    assert!(
        selector.failure().contains("spec.template.metadata.labels"),
        "{}",
        selector.stderr
    );

    let listed = c.kubectl(&["get", "pods,deployments", "-o", "name"]);
    assert_eq!(listed.success().trim(), "", "a rejected object was stored");
}

/// Malformed query parameters get the real server's 400s through kubectl instead of being
/// ignored (issue 12): a label selector that does not parse, an unsupported field selector,
/// an integer that is not one; and a watch with a timeout ends.
#[test]
fn malformed_parameters_are_refused_as_upstream_refuses_them() {
    let c = Cluster::start_with("errors-params", &["--no-pods"]);
    let selector = c.kubectl(&["get", "configmaps", "-l", "a!!b"]);
    assert!(
        selector.failure().contains(
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"
        ),
        "{}",
        selector.stderr
    );
    let field = c.kubectl(&["get", "pods", "--field-selector", "spec.color=red"]);
    assert!(
        field
            .failure()
            .contains("field label not supported: spec.color"),
        "{}",
        field.stderr
    );
    let limit = c.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?limit=abc",
    ]);
    assert!(
        limit
            .failure()
            .contains("strconv.ParseInt: parsing \"abc\": invalid syntax"),
        "{}",
        limit.stderr
    );
    let watch = c.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
    ]);
    assert!(
        watch.ok(),
        "the watch ends after a second: {}",
        watch.stderr
    );
}
