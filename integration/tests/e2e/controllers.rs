//! The controllers through kubectl: Deployments make ReplicaSets and pods, scale, roll and
//! undo; Services get addresses and Endpoints that follow pod readiness; deletion cascades.
//! The clusters here run without kubicle's pod runtime (`--no-pods`): where pods must become
//! ready, `Cluster::pod_status_writer` writes the status a kubelet would (Running, a pod IP,
//! Ready) through the real `pods/status` API, so controller behaviour is tested on its own.

use integration::{Cluster, eventually, patience as wait};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: kubicle/demo, args: [auth], ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
";

/// These tests are about the controllers: the pods' status comes from
/// `Cluster::pod_status_writer`, so kubicle's own pod runtime stays off.
const NO_PODS: &[&str] = &["--no-pods"];

fn names(c: &Cluster, what: &str) -> Vec<String> {
    let out = c.kubectl(&["get", what, "-o", "name"]);
    out.stdout.lines().map(str::to_string).collect()
}

fn pod_count(c: &Cluster) -> usize {
    names(c, "pods").len()
}

#[test]
fn deployments_scale_roll_and_undo() {
    let c = Cluster::start_with("deploy", NO_PODS);
    let _kubelet = c.pod_status_writer(&[]);
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(WEB))
        .success();
    eventually("3 pods", wait(), || (pod_count(&c) == 3).then_some(()));
    let rs = names(&c, "replicasets");
    assert_eq!(rs.len(), 1, "{rs:?}");
    let hash = rs[0].rsplit('-').next().expect("hash").to_string();
    let labels = c.kubectl(&[
        "get",
        "pods",
        "-o",
        "jsonpath={.items[*].metadata.labels.pod-template-hash}",
    ]);
    assert!(
        labels.success().split_whitespace().all(|h| h == hash),
        "{}",
        labels.stdout
    );
    let status = c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        status.success().contains("successfully rolled out"),
        "{}",
        status.stdout
    );

    c.kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success();
    eventually("5 pods", wait(), || (pod_count(&c) == 5).then_some(()));
    c.kubectl(&["scale", "deployment/web", "--replicas=1"])
        .success();
    eventually("1 pod", wait(), || (pod_count(&c) == 1).then_some(()));
    c.kubectl(&["scale", "deployment/web", "--replicas=3"])
        .success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();

    let before = names(&c, "pods");
    c.kubectl(&["rollout", "restart", "deployment/web"])
        .success();
    let status = c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        status.success().contains("successfully rolled out"),
        "{}\n{}",
        status.stdout,
        status.stderr
    );
    eventually("old pods replaced", wait(), || {
        let after = names(&c, "pods");
        (after.len() == 3 && after.iter().all(|p| !before.contains(p))).then_some(())
    });
    assert_eq!(
        names(&c, "replicasets").len(),
        2,
        "the old ReplicaSet stays as history"
    );
    let history = c.kubectl(&["rollout", "history", "deployment/web"]);
    assert!(history.success().contains('2'), "{}", history.stdout);
    c.kubectl(&["rollout", "undo", "deployment/web"]).success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();
    let revision = c.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.metadata.annotations}",
    ]);
    assert!(
        !revision.success().contains("restartedAt"),
        "undo restored the first template: {}",
        revision.stdout
    );
    let events = c.kubectl(&["describe", "deployment", "web"]);
    assert!(
        events.success().contains("ScalingReplicaSet"),
        "{}",
        events.stdout
    );
}

#[test]
fn endpoints_follow_pod_readiness() {
    let c = Cluster::start_with("endpoints", NO_PODS);
    let _kubelet = c.pod_status_writer(&["-unready-"]);
    let manifest = WEB.replace(
        "name: web}\nspec:\n  replicas: 3",
        "name: web}\nspec:\n  replicas: 2",
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&manifest))
        .success();
    let ep = eventually("2 ready endpoints", wait(), || {
        let out = c.kubectl(&["get", "endpoints", "web", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        let addresses = v["subsets"][0]["addresses"].as_array()?.len();
        (addresses == 2).then_some(v)
    });
    assert_eq!(
        ep["subsets"][0]["ports"][0]["port"], 8080,
        "the named targetPort resolves per pod"
    );
    // A pod that is not ready is listed as not ready, and in the slice with ready=false.
    let unready_pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web-unready-1, labels: {app: web}}\nspec:\n  containers: [{name: web, image: kubicle/demo, ports: [{name: http, containerPort: 8080}]}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(unready_pod))
        .success();
    eventually("a not-ready address", wait(), || {
        let out = c.kubectl(&[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={.subsets[0].notReadyAddresses[*].targetRef.name}",
        ]);
        out.stdout.contains("web-unready-1").then_some(())
    });
    let slice = c.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "json",
    ]);
    let slice: serde_json::Value = serde_json::from_str(slice.success()).expect("json");
    let endpoints = slice["items"][0]["endpoints"]
        .as_array()
        .expect("endpoints");
    assert_eq!(endpoints.len(), 3);
    assert_eq!(
        endpoints
            .iter()
            .filter(|e| e["conditions"]["ready"] == true)
            .count(),
        2
    );
    let describe = c.kubectl(&["describe", "service", "web"]);
    assert!(
        describe.success().contains("Endpoints:"),
        "{}",
        describe.stdout
    );
}

#[test]
fn deletion_cascades_by_owner() {
    let c = Cluster::start_with("gc", NO_PODS);
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(WEB))
        .success();
    eventually("3 pods", wait(), || (pod_count(&c) == 3).then_some(()));
    c.kubectl(&["delete", "deployment", "web"]).success();
    eventually("replicasets and pods collected", wait(), || {
        (names(&c, "replicasets").is_empty() && pod_count(&c) == 0).then_some(())
    });

    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(WEB))
        .success();
    eventually("3 pods again", wait(), || {
        (pod_count(&c) == 3).then_some(())
    });
    c.kubectl(&["delete", "deployment", "web", "--cascade=orphan"])
        .success();
    eventually("deployment gone", wait(), || {
        names(&c, "deployments").is_empty().then_some(())
    });
    let rs = names(&c, "replicasets");
    assert_eq!(rs.len(), 1, "the orphaned ReplicaSet stays");
    let owners = c.kubectl(&["get", &rs[0], "-o", "jsonpath={.metadata.ownerReferences}"]);
    assert_eq!(owners.success().trim(), "", "and no longer names its owner");
    assert_eq!(pod_count(&c), 3);

    c.kubectl(&["delete", &rs[0], "--cascade=foreground"])
        .success();
    eventually("foreground deletion finishes", wait(), || {
        (names(&c, "replicasets").is_empty() && pod_count(&c) == 0).then_some(())
    });
    c.kubectl(&["delete", "service", "web"]).success();
    eventually("endpoints of a deleted service go", wait(), || {
        let out = c.kubectl(&["get", "endpoints,endpointslices", "-o", "name"]);
        (!out.stdout.contains("/web")).then_some(())
    });
}

#[test]
fn typed_client_commands_run_create_deployment_expose() {
    let c = Cluster::start_with("typed", NO_PODS);
    // These kubectl commands send protobuf bodies through client-go's typed clients.
    c.kubectl(&[
        "create",
        "deployment",
        "api",
        "--image=kubicle/demo",
        "--replicas=2",
        "--port=8080",
    ])
    .success();
    c.kubectl(&[
        "expose",
        "deployment",
        "api",
        "--port=80",
        "--target-port=8080",
    ])
    .success();
    c.kubectl(&[
        "run",
        "one-off",
        "--image=kubicle/host",
        "--restart=Never",
        "--",
        "true",
    ])
    .success();
    c.kubectl(&["create", "configmap", "settings", "--from-literal=mode=dev"])
        .success();
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "token",
        "--from-literal=value=s3cr3t",
    ])
    .success();
    eventually("2 api pods", wait(), || {
        let pods = c.kubectl(&["get", "pods", "-l", "app=api", "-o", "name"]);
        (pods.stdout.lines().count() == 2).then_some(())
    });
    let svc = c.kubectl(&[
        "get",
        "svc",
        "api",
        "-o",
        "jsonpath={.spec.selector.app} {.spec.ports[0].targetPort}",
    ]);
    assert_eq!(svc.success(), "api 8080");
    let secret = c.kubectl(&["get", "secret", "token", "-o", "jsonpath={.data.value}"]);
    assert_eq!(secret.success(), "czNjcjN0");
    let describe = c.kubectl(&["describe", "pod", "one-off"]);
    assert!(
        describe.success().contains("Scheduled"),
        "events show in describe: {}",
        describe.stdout
    );
    let events = c.kubectl(&["get", "events"]);
    assert!(
        events.success().contains("SuccessfulCreate"),
        "{}",
        events.stdout
    );
}

#[test]
fn recreate_strategy_and_user_managed_endpoints() {
    let c = Cluster::start_with("recreate", NO_PODS);
    let _kubelet = c.pod_status_writer(&[]);
    let recreate = WEB.replace(
        "replicas: 3\n",
        "replicas: 2\n  strategy: {type: Recreate}\n",
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&recreate))
        .success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();
    c.kubectl(&["rollout", "restart", "deployment/web"])
        .success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();
    let rs = c.kubectl(&[
        "get",
        "rs",
        "-o",
        "jsonpath={range .items[*]}{.spec.replicas} {end}",
    ]);
    let mut counts: Vec<&str> = rs.success().split_whitespace().collect();
    counts.sort();
    assert_eq!(counts, ["0", "2"], "the old ReplicaSet is scaled to zero");

    // A Service without a selector keeps the Endpoints its user writes.
    let manual = "apiVersion: v1\nkind: Service\nmetadata: {name: external-db}\nspec:\n  ports: [{port: 5432}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: external-db}\nsubsets: [{addresses: [{ip: 10.244.9.9}], ports: [{port: 5432}]}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(manual))
        .success();
    c.kubectl(&["label", "svc", "external-db", "touched=yes"])
        .success();
    let ep = c.kubectl(&[
        "get",
        "endpoints",
        "external-db",
        "-o",
        "jsonpath={.subsets[0].addresses[0].ip}",
    ]);
    assert_eq!(ep.success(), "10.244.9.9");
}

#[test]
fn a_full_service_range_fails_cleanly() {
    // A /28 has 14 usable addresses; two are the kubernetes and kube-dns Services.
    let c = Cluster::start_with("full", &["--no-pods", "--service-cidr", "10.100.0.0/28"]);
    for i in 0..12 {
        let svc = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec:\n  ports: [{{port: 80}}]\n"
        );
        c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&svc))
            .success();
    }
    let full = c.kubectl_with_stdin(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: Service\nmetadata: {name: one-too-many}\nspec:\n  ports: [{port: 80}]\n"));
    assert!(full.failure().contains("range is full"), "{}", full.stderr);
    c.kubectl(&["delete", "svc", "s3"]).success();
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: Service\nmetadata: {name: one-too-many}\nspec:\n  ports: [{port: 80}]\n")).success();
    let ips = c.kubectl(&[
        "get",
        "svc",
        "-A",
        "-o",
        "jsonpath={.items[*].spec.clusterIP}",
    ]);
    let mut ips: Vec<&str> = ips.success().split_whitespace().collect();
    let n = ips.len();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), n, "no address is held twice");
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let c = Cluster::start_with("deadline", NO_PODS);
    // No pod ever becomes ready (nothing writes their status), so the rollout cannot progress.
    let stuck = WEB.replace(
        "replicas: 3\n",
        "replicas: 2\n  progressDeadlineSeconds: 2\n",
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&stuck))
        .success();
    let status = c.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(
        status.failure().contains("exceeded its progress deadline"),
        "{}\n{}",
        status.stdout,
        status.stderr
    );
    let reason = c.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
    ]);
    assert_eq!(reason.success(), "ProgressDeadlineExceeded");
}
