//! The cluster DNS (root only): a pod resolves the seed's three forms of a Service's name
//! to its ClusterIP through the kube-dns ClusterIP, headless Services answer their ready pods,
//! SRV, PTR and ExternalName follow the spec, and a new Service resolves at once.

use integration::{Cluster, eventually, patience as wait, root_or_skip};

/// `dig +short` from inside the pod `client`, through its resolv.conf (the kube-dns IP).
fn dig(c: &Cluster, args: &[&str]) -> String {
    let mut command = vec![
        "exec", "client", "--", "dig", "+short", "+tries=1", "+time=2",
    ];
    command.extend_from_slice(args);
    c.kubectl(&command).success().trim().to_string()
}

const MANIFESTS: &str = "apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Service
metadata: {name: auth-service}
spec:
  selector: {app: auth}
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: alias}
spec:
  type: ExternalName
  externalName: auth-service.default.svc.cluster.local
";

/// A db pod whose readiness is the file `ready` (containers of kubicle/host share the
/// host's filesystem: the file is under the test's data dir, one per pod).
fn db_pod(name: &str, ready: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: db}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: kubicle/host
    command: [sh, -c, 'touch {ready}; exec sleep 3600']
    readinessProbe:
      exec: {{command: [test, -f, {ready}]}}
      periodSeconds: 1
"
    )
}

#[test]
fn pods_resolve_services_by_the_cluster_dns() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("dns");
    let mut manifests = MANIFESTS.to_string();
    let ready = |name: &str| {
        c.data_dir
            .join(format!("ready-{name}"))
            .display()
            .to_string()
    };
    for name in ["db-0", "db-1"] {
        manifests.push_str("---\n");
        manifests.push_str(&db_pod(name, &ready(name)));
    }
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&manifests))
        .success();
    let cluster_ip = c.jsonpath(&["service", "auth-service"], "{.spec.clusterIP}");
    eventually("the pods are ready", wait(), || {
        let ready = c.jsonpath(
            &["pods"],
            "{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\" \"}{end}",
        );
        (ready.split_whitespace().filter(|s| *s == "True").count() == 3).then_some(())
    });

    // The seed's three forms, through the search path of the pod's resolv.conf (getent, as
    // an application resolves) and fully qualified (dig).
    for name in [
        "auth-service",
        "auth-service.default",
        "auth-service.default.svc.cluster.local",
    ] {
        let hosts = c.kubectl(&["exec", "client", "--", "getent", "hosts", name]);
        assert_eq!(
            hosts.success().split_whitespace().next(),
            Some(cluster_ip.as_str()),
            "getent hosts {name}: {}",
            hosts.stdout
        );
    }
    assert_eq!(
        dig(&c, &["auth-service.default.svc.cluster.local"]),
        cluster_ip
    );
    // SRV of the named port, PTR of the ClusterIP, ExternalName as a CNAME inside the zone.
    assert_eq!(
        dig(
            &c,
            &["SRV", "_http._tcp.auth-service.default.svc.cluster.local"]
        ),
        "0 100 80 auth-service.default.svc.cluster.local."
    );
    let reverse: Vec<&str> = cluster_ip.split('.').rev().collect();
    assert_eq!(
        dig(&c, &["PTR", &format!("{}.in-addr.arpa", reverse.join("."))]),
        "auth-service.default.svc.cluster.local."
    );
    assert_eq!(
        dig(&c, &["alias.default.svc.cluster.local"]),
        format!("auth-service.default.svc.cluster.local.\n{cluster_ip}")
    );
    // A name that does not exist is NXDOMAIN, answered by the cluster DNS itself.
    let missing = c.kubectl(&[
        "exec",
        "client",
        "--",
        "dig",
        "+tries=1",
        "nope.default.svc.cluster.local",
    ]);
    assert!(
        missing.success().contains("status: NXDOMAIN"),
        "{}",
        missing.stdout
    );

    // A headless Service answers its ready pods, and drops one that turns unready.
    let pod_ips: Vec<String> = ["db-0", "db-1"]
        .iter()
        .map(|p| c.jsonpath(&["pod", p], "{.status.podIP}"))
        .collect();
    let answered = |c: &Cluster| {
        let mut ips: Vec<String> = dig(c, &["db.default.svc.cluster.local"])
            .lines()
            .map(str::to_string)
            .collect();
        ips.sort();
        ips
    };
    let mut expected = pod_ips.clone();
    expected.sort();
    assert_eq!(answered(&c), expected);
    std::fs::remove_file(ready("db-1")).expect("db-1 turns unready");
    eventually("db-1 leaves the headless answer", wait(), || {
        (answered(&c) == [pod_ips[0].clone()]).then_some(())
    });

    // A Service resolves as soon as its create has returned: asked once, right away, from
    // the node (the kube-dns address is local there).
    c.kubectl(&["create", "service", "clusterip", "fresh", "--tcp=8080"])
        .success();
    let fresh = integration::run(
        c.on_node("dig").args([
            "+short",
            "+tries=1",
            "@10.96.0.10",
            "fresh.default.svc.cluster.local",
        ]),
        None,
        wait(),
    );
    assert_eq!(
        fresh.success().trim(),
        c.jsonpath(&["service", "fresh"], "{.spec.clusterIP}")
    );
}
