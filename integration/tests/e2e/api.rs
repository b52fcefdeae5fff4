//! kubectl against a running server: discovery, tables, apply (client- and server-side),
//! create/replace/patch/label/annotate/scale/rollout restart/delete, watches.

use std::time::Duration;

use integration::Cluster;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: auth
spec:
  replicas: 2
  selector:
    matchLabels: {app: auth}
  template:
    metadata:
      labels: {app: auth}
    spec:
      containers:
      - name: auth
        image: kubicle/demo
        args: [auth]
        ports: [{containerPort: 80}]
        env: [{name: MODE, value: one}, {name: KEEP, value: 'yes'}]
      - name: sidecar
        image: kubicle/host
        command: [sleep, infinity]
";

const LB_SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: users-service
spec:
  type: LoadBalancer
  selector: {app: users}
  ports:
  - port: 8080
    targetPort: 8080
";

#[test]
fn discovery_health_version_and_auth() {
    let c = Cluster::start("discovery");
    let resources = c.kubectl(&["api-resources", "--no-headers"]);
    let out = resources.success();
    for (name, short) in [
        ("pods", "po"),
        ("services", "svc"),
        ("deployments", "deploy"),
        ("endpoints", "ep"),
        ("namespaces", "ns"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().take(2).eq([name, short])),
            "{name} ({short}) missing from:\n{out}"
        );
    }
    assert_eq!(c.kubectl(&["get", "--raw", "/healthz"]).success(), "ok");
    assert!(
        c.kubectl(&["version", "-o", "json"])
            .success()
            .contains("\"gitVersion\"")
    );
    let namespaces = c.kubectl(&["get", "ns", "-o", "name"]);
    for ns in ["default", "kube-system", "kube-public"] {
        assert!(namespaces.success().contains(&format!("namespace/{ns}")));
    }
    let wrong = c.kubectl(&["--token", "wrong", "get", "pods"]);
    assert!(
        wrong.failure().contains("provide credentials") || wrong.stderr.contains("Unauthorized"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn seed_service_prints_the_seed_columns() {
    let c = Cluster::start("seed-svc");
    let path = crate::repo().join("examples/auth-service.yaml");
    let applied = c.kubectl(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    assert_eq!(applied.success().trim(), "service/auth-service created");
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(LB_SERVICE))
        .success();
    let table = c.kubectl(&["get", "service"]);
    let header: Vec<&str> = table
        .success()
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let row = |name: &str| -> Vec<String> {
        let line = table
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in\n{}", table.stdout));
        line.split_whitespace().map(str::to_string).collect()
    };
    let auth = row("auth-service");
    assert_eq!(
        (auth[1].as_str(), auth[3].as_str(), auth[4].as_str()),
        ("ClusterIP", "<none>", "80/TCP")
    );
    let ip: std::net::Ipv4Addr = auth[2].parse().expect("auth-service has a ClusterIP");
    assert_eq!(
        u32::from(ip) >> 20,
        u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)) >> 20,
        "{ip} is in 10.96.0.0/12"
    );
    assert!(
        u32::from(ip) > u32::from(std::net::Ipv4Addr::new(10, 96, 1, 0)),
        "{ip} comes from the dynamic band"
    );
    assert_eq!(
        row("kubernetes")[1..5],
        ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    );
    let users = row("users-service");
    assert_eq!(users[1], "LoadBalancer");
    assert_ne!(
        users[3], "<pending>",
        "a LoadBalancer gets its ingress at once"
    );
    let node_port: u16 = users[4]
        .strip_prefix("8080:")
        .and_then(|p| p.strip_suffix("/TCP"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("PORT(S) {} is 8080:<nodePort>/TCP", users[4]));
    assert!((30000..=32767).contains(&node_port));
    let dns = c.kubectl(&[
        "get",
        "svc",
        "kube-dns",
        "-n",
        "kube-system",
        "--no-headers",
    ]);
    let dns: Vec<&str> = dns.success().split_whitespace().collect();
    assert_eq!(
        dns[1..5],
        ["ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP"]
    );
    let nodes = c.kubectl(&["get", "nodes", "--no-headers"]);
    assert_eq!(nodes.success().split_whitespace().nth(1), Some("Ready"));
    let wide = c.kubectl(&["get", "svc", "auth-service", "-o", "wide", "--no-headers"]);
    assert!(wide.success().contains("app=auth"), "{}", wide.stdout);
    let json: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "svc", "auth-service", "-o", "json"])
            .success(),
    )
    .expect("json");
    assert_eq!(json["spec"]["ports"][0]["targetPort"], 80);
    assert_eq!(json["spec"]["sessionAffinity"], "None");
    assert!(
        json["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    let yaml = c.kubectl(&["get", "svc", "auth-service", "-o", "yaml"]);
    assert!(yaml.success().contains("kind: Service"));
}

/// A Service manifest with `spec_extra` lines (two-space indented) and `port_extra` on its port.
fn service(name: &str, spec_extra: &str, port_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n{spec_extra}  selector: {{app: x}}\n  ports: [{{port: 80{port_extra}}}]\n"
    )
}

fn with_ip(name: &str, ip: &str) -> String {
    service(name, &format!("  clusterIP: {ip}\n"), "")
}

fn with_node_port(name: &str, port: u16) -> String {
    service(name, "  type: NodePort\n", &format!(", nodePort: {port}"))
}

#[test]
fn service_addresses_are_allocated_once_and_kept_across_restarts() {
    let mut c = Cluster::start("alloc");
    let apply = |c: &Cluster, manifest: String| {
        c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&manifest))
    };
    apply(&c, with_ip("a", "10.96.0.50")).success();
    let taken = apply(&c, with_ip("b", "10.96.0.50"));
    assert!(
        taken.failure().contains(
            "spec.clusterIPs: Invalid value: []string{\"10.96.0.50\"}: failed to allocate IP 10.96.0.50: provided IP is already allocated"
        ),
        "{}",
        taken.stderr
    );
    let outside = apply(&c, with_ip("b", "10.200.0.1"));
    assert!(
        outside.failure().contains("is not in the valid range"),
        "{}",
        outside.stderr
    );
    apply(&c, with_node_port("np1", 30080)).success();
    let port_taken = apply(&c, with_node_port("np2", 30080));
    assert!(
        port_taken.failure().contains(
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        ),
        "{}",
        port_taken.stderr
    );
    apply(&c, with_ip("h", "None")).success();
    assert_eq!(
        c.kubectl(&["get", "svc", "h", "-o", "jsonpath={.spec.clusterIP}"])
            .success(),
        "None"
    );

    c.restart();
    let again = apply(&c, with_ip("c", "10.96.0.50"));
    assert!(
        again.failure().contains("already allocated"),
        "allocations survive a restart: {}",
        again.stderr
    );
    c.kubectl(&["delete", "svc", "a", "np1"]).success();
    apply(&c, with_ip("c", "10.96.0.50")).success();
    apply(&c, with_node_port("np2", 30080)).success();
    // Changing the type to ClusterIP frees the node port.
    let to_cluster_ip = r#"[{"op":"replace","path":"/spec/type","value":"ClusterIP"},{"op":"remove","path":"/spec/ports/0/nodePort"}]"#;
    c.kubectl(&["patch", "svc", "np2", "--type=json", "-p", to_cluster_ip])
        .success();
    apply(&c, with_node_port("np3", 30080)).success();
}

#[test]
fn apply_merges_strategically_and_reports_unchanged() {
    let c = Cluster::start("apply");
    let created = c.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert_eq!(created.success().trim(), "deployment.apps/auth created");
    let again = c.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert_eq!(again.success().trim(), "deployment.apps/auth unchanged");
    // Change one env var of one container: a JSON merge patch would replace the whole
    // containers list; a strategic merge keeps the other container and the other env var.
    let changed = DEPLOYMENT.replace("value: one", "value: two");
    let configured = c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&changed));
    assert_eq!(
        configured.success().trim(),
        "deployment.apps/auth configured"
    );
    let got: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "deploy", "auth", "-o", "json"])
            .success(),
    )
    .expect("json");
    let containers = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 2);
    assert_eq!(
        containers[0]["env"],
        serde_json::json!([{"name": "MODE", "value": "two"}, {"name": "KEEP", "value": "yes"}])
    );
    assert_eq!(got["metadata"]["generation"], 2);
    assert_eq!(got["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(got["spec"]["template"]["spec"]["restartPolicy"], "Always");
    let table = c.kubectl(&["get", "deploy", "-o", "wide"]);
    let header: Vec<&str> = table
        .success()
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert!(table.stdout.contains("auth,sidecar"));
}

#[test]
fn server_side_apply_creates_then_updates() {
    let c = Cluster::start("ssa");
    let out = c.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(DEPLOYMENT));
    assert_eq!(
        out.success().trim(),
        "deployment.apps/auth serverside-applied"
    );
    let changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3");
    c.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&changed))
        .success();
    let replicas = c.kubectl(&["get", "deploy", "auth", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(replicas.success(), "3");
}

#[test]
fn server_side_apply_tracks_owners_and_reports_conflicts() {
    let c = Cluster::start("ssa-conflict");
    c.kubectl_with_stdin(&["create", "-f", "-"], Some(DEPLOYMENT))
        .success();
    let changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3");
    let conflict = c.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&changed));
    assert!(
        conflict
            .failure()
            .contains("Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"),
        "{}",
        conflict.stderr
    );
    assert_eq!(
        c.kubectl(&["get", "deploy", "auth", "-o", "jsonpath={.spec.replicas}"])
            .success(),
        "2"
    );
    c.kubectl_with_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&changed),
    )
    .success();
    assert_eq!(
        c.kubectl(&["get", "deploy", "auth", "-o", "jsonpath={.spec.replicas}"])
            .success(),
        "3"
    );
    let managers = c.kubectl(&[
        "get",
        "deploy",
        "auth",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
        "--show-managed-fields",
    ]);
    let managers = managers.success();
    assert!(
        managers.contains("kubectl-create") && managers.contains("kubectl"),
        "{managers}"
    );
    // Applying the same value another manager set is shared ownership, not a conflict.
    let sidecar_image = changed.replace("replicas: 3", "replicas: 3\n  minReadySeconds: 0");
    c.kubectl_with_stdin(
        &["apply", "--server-side", "--field-manager=other", "-f", "-"],
        Some(&sidecar_image),
    )
    .success();
    // A field the applier stops applying is removed when nobody else owns it.
    let mut labelled = changed.replace(
        "name: auth\nspec:",
        "name: auth\n  labels: {tier: backend}\nspec:",
    );
    c.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&labelled))
        .success();
    assert_eq!(
        c.kubectl(&[
            "get",
            "deploy",
            "auth",
            "-o",
            "jsonpath={.metadata.labels.tier}"
        ])
        .success(),
        "backend"
    );
    labelled = changed.clone();
    c.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&labelled))
        .success();
    assert_eq!(
        c.kubectl(&[
            "get",
            "deploy",
            "auth",
            "-o",
            "jsonpath={.metadata.labels.tier}"
        ])
        .success(),
        ""
    );
}

#[test]
fn imperative_commands() {
    let c = Cluster::start("imperative");
    c.kubectl_with_stdin(&["create", "-f", "-"], Some(DEPLOYMENT))
        .success();
    assert_eq!(
        c.kubectl(&["scale", "deploy", "auth", "--replicas=5"])
            .success()
            .trim(),
        "deployment.apps/auth scaled"
    );
    let scale = c.kubectl(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/auth/scale",
    ]);
    let scale: serde_json::Value = serde_json::from_str(scale.success()).expect("scale json");
    assert_eq!(
        (scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()),
        (Some("Scale"), Some(5))
    );
    assert_eq!(
        c.kubectl(&["rollout", "restart", "deploy/auth"])
            .success()
            .trim(),
        "deployment.apps/auth restarted"
    );
    let restarted = c.kubectl(&[
        "get",
        "deploy",
        "auth",
        "-o",
        "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
    ]);
    assert!(!restarted.success().is_empty());
    c.kubectl(&["label", "deploy", "auth", "tier=backend"])
        .success();
    c.kubectl(&["annotate", "deploy", "auth", "owner=team-a"])
        .success();
    c.kubectl(&[
        "patch",
        "deploy",
        "auth",
        "--type=merge",
        "-p",
        r#"{"spec":{"minReadySeconds":3}}"#,
    ])
    .success();
    c.kubectl(&[
        "patch",
        "deploy",
        "auth",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]"#,
    ])
    .success();
    c.kubectl(&["patch", "deploy", "auth", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"auth","image":"kubicle/demo:v2"}]}}}}"#]).success();
    let got: serde_json::Value = serde_json::from_str(
        c.kubectl(&["get", "deploy", "auth", "-o", "json"])
            .success(),
    )
    .expect("json");
    assert_eq!(got["metadata"]["labels"]["tier"], "backend");
    assert_eq!(got["metadata"]["annotations"]["owner"], "team-a");
    assert_eq!(got["spec"]["minReadySeconds"], 3);
    assert_eq!(got["spec"]["revisionHistoryLimit"], 4);
    let containers = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(
        (containers.len(), containers[0]["image"].as_str()),
        (2, Some("kubicle/demo:v2"))
    );
    // An unconditional replace (no resourceVersion) succeeds even while controllers write
    // the status; the same object with the old resourceVersion then conflicts.
    let mut replaced = got.clone();
    replaced["spec"]["replicas"] = 1.into();
    if let Some(meta) = replaced["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
    }
    c.kubectl_with_stdin(&["replace", "-f", "-"], Some(&replaced.to_string()))
        .success();
    replaced["metadata"]["resourceVersion"] = got["metadata"]["resourceVersion"].clone();
    let replaced_text = replaced.to_string();
    let stale = c.kubectl_with_stdin(&["replace", "-f", "-"], Some(&replaced_text));
    assert!(
        stale.failure().contains("Conflict")
            || stale.stderr.contains("the object has been modified"),
        "{}",
        stale.stderr
    );
    let describe = c.kubectl(&["describe", "deploy", "auth"]);
    assert!(
        describe.success().contains("Replicas:"),
        "{}",
        describe.stdout
    );
    assert_eq!(
        c.kubectl(&["delete", "deploy", "auth"]).success().trim(),
        "deployment.apps \"auth\" deleted"
    );
    let gone = c.kubectl(&["get", "deploy", "auth"]);
    assert!(
        gone.failure()
            .contains("Error from server (NotFound): deployments.apps \"auth\" not found"),
        "{}",
        gone.stderr
    );
}

#[test]
fn get_watch_prints_new_rows() {
    let c = Cluster::start("watch");
    c.kubectl(&["create", "namespace", "team"]).success();
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(CONFIGMAP_ZERO))
        .success();
    let mut watch = c.kubectl_stream(&["get", "configmaps", "-n", "team", "-w"]);
    // The first row comes from the list; once it is printed the watch is established.
    watch.wait_for(Duration::from_secs(20), |l| l.starts_with("zero "));
    c.kubectl(&["label", "configmap", "zero", "-n", "team", "changed=yes"])
        .success();
    c.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some(&CONFIGMAP_ZERO.replace("zero", "one")),
    )
    .success();
    watch.wait_for(Duration::from_secs(20), |l| l.starts_with("one "));
    let zero_rows = watch.seen.iter().filter(|l| l.starts_with("zero ")).count();
    assert_eq!(
        zero_rows, 2,
        "the list row and the MODIFIED row: {:?}",
        watch.seen
    );
    drop(watch);
    c.kubectl(&["delete", "namespace", "team"]).success();
    let left = c.kubectl(&["get", "configmaps", "-n", "team", "-o", "name"]);
    assert_eq!(left.stdout.trim(), "");
}

const CONFIGMAP_ZERO: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: zero
  namespace: team
data:
  k: v
";

#[test]
fn two_clusters_run_side_by_side() {
    let a = Cluster::start("side-a");
    let b = Cluster::start("side-b");
    a.kubectl(&["create", "namespace", "only-in-a"]).success();
    assert!(
        b.kubectl(&["get", "namespace", "only-in-a"])
            .failure()
            .contains("NotFound")
    );
    assert_ne!(a.address, b.address);
}
