//! Service traffic through proxyd (root only): ClusterIP connections spread over the ready
//! endpoints, survive a pod's deletion, pin with ClientIP affinity; UDP through a ClusterIP;
//! NodePort and LoadBalancer (also on 127.0.0.1) from the node; no endpoints → refused at once.
//! The backends are the demo auth app (`kubicle/demo`), whose `/healthz` names the replica.

use std::collections::BTreeMap;
use std::time::Duration;

use integration::{Cluster, eventually, patience as wait, root_or_skip};

/// GETs of `url` from the node, each on a new connection, `count` of them or (with
/// `for_seconds`) as many as fit in that time: the replica that answered each (the first word
/// of `servedBy`), or `FAIL`.
fn requests(c: &Cluster, url: &str, count: usize, for_seconds: f64) -> Vec<String> {
    let script = format!(
        "import json, time, urllib.request\n\
         end = time.time() + {for_seconds}\n\
         n = 0\n\
         while n < {count} or time.time() < end:\n\
         \tn += 1\n\
         \ttry:\n\
         \t\tprint(json.load(urllib.request.urlopen('{url}', timeout=5))['servedBy'].split()[0])\n\
         \texcept Exception as e:\n\
         \t\tprint('FAIL', e)\n"
    );
    let out = integration::run(c.on_node("python3").args(["-c", &script]), None, wait());
    out.success()
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

fn replicas(c: &Cluster, url: &str, count: usize) -> Vec<String> {
    requests(c, url, count, 0.0)
}

fn tally(answers: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for a in answers {
        *counts.entry(a.clone()).or_insert(0) += 1;
    }
    counts
}

const AUTH: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: auth}
spec:
  replicas: 3
  selector: {matchLabels: {app: auth}}
  template:
    metadata: {labels: {app: auth}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: auth
        image: kubicle/demo
        args: [auth]
        readinessProbe: {httpGet: {path: /healthz, port: 80}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: auth-unready, labels: {app: auth}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: auth
    image: kubicle/demo
    args: [auth]
    readinessProbe: {exec: {command: ['false']}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: auth-service}
spec:
  selector: {app: auth}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: auth}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: users}
spec:
  type: LoadBalancer
  selector: {app: auth}
  ports: [{port: 8080, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nothing-matches}
  ports: [{port: 80}]
";

#[test]
fn cluster_ips_balance_over_ready_endpoints_and_survive_pod_deletion() {
    if !root_or_skip() {
        return;
    }
    balance_and_survive(&Cluster::start("svc"), false);
}

#[test]
fn the_same_through_the_kernel_with_proxy_mode_nftables() {
    if !root_or_skip() {
        return;
    }
    balance_and_survive(
        &Cluster::start_with("svc-nft", &["--proxy-mode", "nftables"]),
        true,
    );
}

/// The Service behaviour of issue 5, whichever carries the traffic: with `kernel`, the
/// ClusterIP ports without affinity go through netd's nftables DNAT (checked in the kernel's
/// map), the rest through proxyd's listeners.
fn balance_and_survive(c: &Cluster, kernel: bool) {
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(AUTH))
        .success();
    eventually("three auth replicas are ready", wait(), || {
        let ready = c.jsonpath(&["deployment", "auth"], "{.status.readyReplicas}");
        (ready == "3").then_some(())
    });
    let cluster_ip = c.jsonpath(&["service", "auth-service"], "{.spec.clusterIP}");
    let url = format!("http://{cluster_ip}/healthz");
    eventually("the ClusterIP answers", wait(), || {
        (replicas(c, &url, 1) != ["FAIL"]).then_some(())
    });
    if kernel {
        let sticky_ip = c.jsonpath(&["service", "sticky"], "{.spec.clusterIP}");
        let map = eventually("the kernel carries auth-service", wait(), || {
            let out = integration::run(
                c.on_node("nft").args([
                    "list",
                    "map",
                    "ip",
                    &c.host_names().nft_table,
                    "service-ips",
                ]),
                None,
                wait(),
            );
            out.stdout
                .contains(&format!("{cluster_ip} . tcp . 80 :"))
                .then_some(out.stdout)
        });
        assert!(
            !map.contains(&sticky_ip),
            "ClientIP affinity stays with the listeners: {map}"
        );
    }

    // 300 new connections: each ready replica gets about a third, the unready pod none.
    let answers = replicas(c, &url, 300);
    let counts = tally(&answers);
    assert!(!counts.contains_key("FAIL"), "{counts:?}");
    assert!(!counts.contains_key("auth-unready"), "{counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (replica, n) in &counts {
        assert!(
            (60..=140).contains(n),
            "{replica} got {n} of 300: {counts:?}"
        );
    }

    // Hairpin: an auth pod reaches its own Service, and through it itself.
    // The Deployment's pods (`pod-template-hash`), not the unready bare pod.
    let replica = |i: usize| {
        c.jsonpath(
            &["pods", "-l", "app=auth,pod-template-hash"],
            &format!("{{.items[{i}].metadata.name}}"),
        )
    };
    let own_pod = replica(0);
    let hairpin = eventually("the pod reaches itself through its Service", wait(), || {
        let out = c.kubectl(&[
            "exec",
            &own_pod,
            "--",
            "sh",
            "-c",
            &format!("for i in $(seq 30); do curl -s -m 5 {url}; echo; done"),
        ]);
        out.stdout
            .contains(&format!("\"servedBy\":\"{own_pod} "))
            .then_some(out.stdout)
    });
    // Every one of the 30 requests was answered (a failed curl prints an empty line).
    assert_eq!(
        hairpin
            .lines()
            .filter(|l| l.contains("\"servedBy\""))
            .count(),
        30,
        "{hairpin}"
    );

    // ClientIP affinity: one client, one replica.
    let sticky_ip = c.jsonpath(&["service", "sticky"], "{.spec.clusterIP}");
    let pinned = tally(&replicas(c, &format!("http://{sticky_ip}/healthz"), 30));
    assert_eq!(pinned.len(), 1, "{pinned:?}");

    // LoadBalancer: on its ingress IP (the node's), on 127.0.0.1, and on its NodePort.
    let ingress = c.jsonpath(
        &["service", "users"],
        "{.status.loadBalancer.ingress[0].ip}",
    );
    let node_port = c.jsonpath(&["service", "users"], "{.spec.ports[0].nodePort}");
    for url in [
        format!("http://{ingress}:8080/healthz"),
        "http://127.0.0.1:8080/healthz".to_string(),
        format!("http://{ingress}:{node_port}/healthz"),
    ] {
        assert_ne!(replicas(c, &url, 1), ["FAIL"], "{url}");
    }

    // No endpoints: refused at once (a reset), not a hang until the timeout (curl exit 28).
    let nobody = c.jsonpath(&["service", "nobody"], "{.spec.clusterIP}");
    let refused = integration::run(
        c.on_node("curl")
            .args(["-s", "-m", "10", &format!("http://{nobody}/")]),
        None,
        wait(),
    );
    // The listener accepts and resets: curl sees it connecting (7), reading (52, 56) or,
    // when the reset beats its request out, sending (55). Never 28.
    assert!(
        matches!(refused.code, Some(7 | 52 | 55 | 56)),
        "curl exit {:?}: {}",
        refused.code,
        refused.stderr
    );
    // A known ClusterIP on a port it does not serve is refused too.
    let other_port = integration::run(
        c.on_node("curl")
            .args(["-s", "-m", "10", &format!("http://{cluster_ip}:81/")]),
        None,
        wait(),
    );
    assert_eq!(other_port.code, Some(7), "{}", other_port.stderr);

    // A pod deleted while requests flow costs no failed request on new connections.
    let victim = replica(1);
    // Requests for 4 s; the pod is deleted after about one, and is gone (its process
    // stopped) well before the end.
    let flow = std::thread::scope(|scope| {
        let flow = scope.spawn(|| requests(c, &url, 0, 4.0));
        std::thread::sleep(Duration::from_secs(1));
        c.kubectl(&["delete", "pod", &victim, "--wait=false"])
            .success();
        flow.join().expect("requests")
    });
    let counts = tally(&flow);
    assert!(!counts.contains_key("FAIL"), "{counts:?}");
    assert!(
        counts.contains_key(&victim),
        "the victim served before: {counts:?}"
    );
    let last = &flow[flow.len() * 9 / 10..];
    assert!(
        !last.contains(&victim),
        "the deleted pod serves no new connection at the end: {counts:?}"
    );
}

#[test]
fn udp_goes_through_a_cluster_ip_and_a_taken_port_is_reported() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("svc-udp");
    let manifests = "apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: kubicle/host
    command: [python3, -c, \"import socket\\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\\ns.bind(('0.0.0.0', 5353))\\nwhile True:\\n  d,a=s.recvfrom(2048)\\n  s.sendto(b'echo:'+d, a)\"]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{protocol: UDP, port: 53, targetPort: 5353}]
";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(manifests))
        .success();
    let ip = c.jsonpath(&["service", "echo"], "{.spec.clusterIP}");
    let client = format!(
        "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(1)\ns.sendto(b'ping', ('{ip}', 53))\nprint(s.recv(2048).decode())"
    );
    let echoed = eventually(
        "a datagram comes back through the ClusterIP",
        wait(),
        || {
            let out = integration::run(c.on_node("python3").args(["-c", &client]), None, wait());
            out.ok().then(|| out.stdout.trim().to_string())
        },
    );
    assert_eq!(echoed, "echo:ping");

    // A LoadBalancer port already taken on the node: a Warning event and a False condition
    // on the Service, and the cluster goes on.
    let mut holder = c
        .on_node("python3")
        .args([
            "-c",
            "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 9090))\ns.listen()\nprint('held', flush=True)\ntime.sleep(120)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hold a port");
    let mut held = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().expect("stdout")),
        &mut held,
    )
    .expect("the port is held");
    c.kubectl(&[
        "create",
        "service",
        "loadbalancer",
        "taken",
        "--tcp=9090:80",
    ])
    .success();
    let condition = eventually("the Service says it cannot listen", wait(), || {
        let status = c.jsonpath(&["service", "taken"],
            "{.status.conditions[?(@.type==\"kubicle.dev/ProxyListening\")].status} {.status.conditions[?(@.type==\"kubicle.dev/ProxyListening\")].message}",
        );
        status.starts_with("False ").then_some(status)
    });
    assert!(condition.contains("127.0.0.1:9090"), "{condition}");
    let events = c.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "reason=FailedToListen",
        "-o",
        "jsonpath={.items[*].involvedObject.name}",
    ]);
    assert!(events.success().contains("taken"), "{}", events.stdout);
    let _ = holder.kill();
    let _ = holder.wait();
    // Once the port is free the listener binds (retried) and the condition turns True.
    eventually("the Service listens once the port is free", wait(), || {
        (c.jsonpath(
            &["service", "taken"],
            "{.status.conditions[?(@.type==\"kubicle.dev/ProxyListening\")].status}",
        ) == "True")
            .then_some(())
    });
}

#[test]
fn pods_reach_the_api_server_through_the_kubernetes_service() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("svc-api");
    // The `kubernetes` Service's endpoint is an address pods can reach (the node's gateway),
    // not the loopback address the API listens on for kubectl.
    let endpoint = c.jsonpath(
        &["endpoints", "kubernetes"],
        "{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
    );
    assert!(endpoint.starts_with("10.244.0.1:"), "{endpoint}");
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: client, image: kubicle/host, command: [sleep, '3600']}
";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(manifest))
        .success();
    eventually("the client pod runs", wait(), || {
        (c.jsonpath(&["pod", "client"], "{.status.phase}") == "Running").then_some(())
    });
    let from_pod = |script: &str| {
        let out = c.kubectl(&["exec", "client", "--", "sh", "-c", script]);
        out.success().to_string()
    };
    // By DNS name, as in-cluster clients do; /version needs no credentials.
    let version = from_pod("curl -sS -k -m 5 https://kubernetes.default.svc/version");
    assert!(version.contains("\"gitVersion\""), "{version}");
    // By the injected environment, without credentials: 401 as a Status.
    let unauthorized = from_pod(
        "curl -sS -k -m 5 https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces",
    );
    assert!(unauthorized.contains("\"code\":401"), "{unauthorized}");
    // With the cluster's token (what a mounted service account token would give), a real
    // answer, checked against the cluster's CA.
    let kubeconfig = std::fs::read_to_string(c.kubeconfig()).expect("kubeconfig");
    let token = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("a token in the kubeconfig")
        .trim();
    let ca = c.data_dir.join("pki/ca.crt");
    assert!(ca.exists(), "{}", ca.display());
    let namespaces = from_pod(&format!(
        "curl -sS -m 5 --cacert {} -H 'Authorization: Bearer {token}' \
         https://kubernetes.default.svc/api/v1/namespaces/default",
        ca.display()
    ));
    assert!(namespaces.contains("\"name\":\"default\""), "{namespaces}");
}
