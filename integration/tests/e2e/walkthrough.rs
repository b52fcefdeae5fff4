//! The README walkthrough (root only): `kubectl apply -f examples/`, the seed's users and
//! tasks reached from the node on 127.0.0.1 through auth, `kubectl get service` with the
//! seed's columns, the warning on a hard-coded Pod IP, and the three-ways script's outcome.

use std::time::Duration;

use integration::{Cluster, eventually, patience as wait, root_or_skip};

/// A JSON request from the node: (HTTP status, body).
fn call(
    c: &Cluster,
    method: &str,
    url: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut args = vec![
        "-s".to_string(),
        "-m".into(),
        "10".into(),
        "-X".into(),
        method.into(),
    ];
    args.extend([
        "-w".into(),
        "\n%{http_code}".into(),
        "-H".into(),
        "content-type: application/json".into(),
    ]);
    if let Some(token) = token {
        args.extend(["-H".into(), format!("authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        args.extend(["-d".into(), body.into()]);
    }
    args.push(url.into());
    let out = integration::run(c.on_node("curl").args(&args), None, wait());
    let (text, code) = out.stdout.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn the_seed_end_to_end() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("walkthrough");
    let examples = crate::repo().join("examples");
    c.kubectl(&["apply", "-f", &examples.display().to_string()])
        .success();
    eventually("the examples are ready", wait(), || {
        let ready = |d: &str| c.jsonpath(&["deployment", d], "{.status.readyReplicas}");
        (ready("auth") == "2" && ready("users") == "1" && ready("tasks") == "1").then_some(())
    });

    // users and tasks from the node, on 127.0.0.1 (their LoadBalancer ports), through auth.
    let account = r#"{"email": "ada@example.com", "password": "correct horse"}"#;
    let (code, body) = call(
        &c,
        "POST",
        "http://127.0.0.1:8080/signup",
        Some(account),
        None,
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(
        &c,
        "POST",
        "http://127.0.0.1:8080/login",
        Some(account),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let token = body["token"].as_str().expect("a token").to_string();
    let wrong = r#"{"email": "ada@example.com", "password": "wrong"}"#;
    assert_eq!(
        call(&c, "POST", "http://127.0.0.1:8080/login", Some(wrong), None).0,
        401
    );
    let task = r#"{"title": "learn services", "text": "use the DNS name"}"#;
    let (code, body) = call(
        &c,
        "POST",
        "http://127.0.0.1:8000/tasks",
        Some(task),
        Some(&token),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(&c, "GET", "http://127.0.0.1:8000/tasks", None, Some(&token));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["tasks"][0]["title"], "learn services", "{body}");
    assert_eq!(
        call(
            &c,
            "GET",
            "http://127.0.0.1:8000/tasks",
            None,
            Some("forged")
        )
        .0,
        401
    );
    // The users app logs the address it called and who answered (an auth replica).
    let logs = c.kubectl(&["logs", "deployment/users"]);
    assert!(
        logs.success()
            .contains("called http://auth-service.default/"),
        "{}",
        logs.stdout
    );

    // kubectl get service: the seed's columns and rows.
    let services = c.kubectl(&["get", "service"]);
    let lines: Vec<Vec<&str>> = services
        .success()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l[0] == name)
            .unwrap_or_else(|| panic!("{name} in {}", services.stdout))
            .clone()
    };
    let auth = row("auth-service");
    assert_eq!(
        (auth[1], auth[3], auth[4]),
        ("ClusterIP", "<none>", "80/TCP")
    );
    let users = row("users-service");
    assert_eq!(users[1], "LoadBalancer");
    assert!(
        users[4].starts_with("8080:") && users[4].ends_with("/TCP"),
        "{users:?}"
    );
    assert_eq!(row("kubernetes")[2], "10.96.0.1");

    // The seed's lesson: a hard-coded Pod IP is accepted with a warning naming the DNS name.
    let pod_ip = c.jsonpath(&["pods", "-l", "app=auth"], "{.items[0].status.podIP}");
    let hard_coded = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: hard-coded}}\nspec:\n  selector: {{matchLabels: {{app: hc}}}}\n  template:\n    metadata: {{labels: {{app: hc}}}}\n    spec:\n      containers:\n      - {{name: c, image: kubicle/demo, args: [client], env: [{{name: AUTH_ADDRESS, value: '{pod_ip}'}}]}}\n"
    );
    let applied = c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&hard_coded));
    applied.success();
    assert!(
        applied
            .stderr
            .contains("Warning: spec.template.spec.containers[0].env[0].value")
            && applied
                .stderr
                .contains(&format!("{pod_ip} is the Pod IP of default/auth-"))
            && applied
                .stderr
                .contains("auth-service.default (auth-service.default.svc.cluster.local)"),
        "{}",
        applied.stderr
    );
    c.kubectl(&["delete", "deployment", "hard-coded"]).success();

    // The three ways: Pod IP breaks after the rollout, ClusterIP after the Service is
    // recreated, DNS survives both.
    let script = examples.join("three-ways/run.sh");
    let out = integration::run(
        c.on_node("bash")
            .arg(&script)
            .env("KUBECONFIG", c.kubeconfig())
            .env("KUBECACHEDIR", c.data_dir.join("three-ways-cache")),
        None,
        Duration::from_secs(300),
    );
    let table: Vec<Vec<&str>> = out
        .success()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let outcome = |label: &str| -> Vec<&str> {
        table
            .iter()
            .find(|l| l.join(" ").starts_with(label))
            .map(|l| l[l.len() - 3..].to_vec())
            .unwrap_or_else(|| panic!("{label} in {}\n{}", out.stdout, out.stderr))
    };
    assert_eq!(
        outcome("at the start"),
        ["ok", "ok", "ok"],
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        outcome("after rollout restart"),
        ["FAIL", "ok", "ok"],
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        outcome("after Service recreate"),
        ["FAIL", "FAIL", "ok"],
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn up_dash_f_applies_the_examples_and_prints_the_map() {
    if !root_or_skip() {
        return;
    }
    let examples = crate::repo().join("examples");
    let c = Cluster::start_with("up-f", &["-f", &examples.display().to_string()]);
    let map = eventually("the map once everything is ready", wait(), || {
        let text = c.stdout_text();
        text.contains("everything is ready").then_some(text)
    });
    assert!(
        map.contains("applied 7 objects from") && map.contains("default/sidecar"),
        "{map}"
    );
    let users = map
        .lines()
        .find(|l| l.trim_start().starts_with("default/users-service"))
        .unwrap_or_else(|| panic!("users-service in {map}"));
    assert!(
        users.contains("LoadBalancer")
            && users.contains("users-service.default.svc.cluster.local")
            && users.contains("http://127.0.0.1:8080"),
        "{users}"
    );
    // Ready means ready: users answers through auth at once.
    let account = r#"{"email": "up@example.com", "password": "right away"}"#;
    assert_eq!(
        call(
            &c,
            "POST",
            "http://127.0.0.1:8080/signup",
            Some(account),
            None
        )
        .0,
        201
    );
}
