//! Pods as network namespaces (root only): one shared localhost per pod, a unique IP per pod
//! on a flat network, localhost never crossing pods, service links in the environment, and
//! the kubelet's resolv.conf and hosts. Containers use `kubicle/host` with host tools
//! (python3, curl, sh), and the tests read the container logs podd writes.

use integration::{Cluster, eventually, patience as wait, root_or_skip};

/// The text of one container's log, read from the file podd writes.
fn log(c: &Cluster, pod: &str, container: &str) -> String {
    let uid = c.jsonpath(&["pod", pod], "{.metadata.uid}");
    let path = c
        .data_dir
        .join("run/pods")
        .join(uid)
        .join(format!("{container}.log"));
    // The CRI format: `<time> <stream> <P|F> <text>`; F ends a line.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut fields = l.splitn(4, ' ').skip(2);
            let (tag, content) = (fields.next()?, fields.next().unwrap_or(""));
            Some(if tag == "F" {
                format!("{content}\n")
            } else {
                content.to_string()
            })
        })
        .collect()
}

fn wait_running(c: &Cluster, pod: &str) -> String {
    eventually(&format!("{pod} running with an IP"), wait(), || {
        let out = c.jsonpath(&["pod", pod], "{.status.phase} {.status.podIP}");
        let (phase, ip) = out.split_once(' ')?;
        (phase == "Running" && !ip.is_empty()).then(|| ip.to_string())
    })
}

const SERVER: &str = "[python3, -m, http.server, '8080', --bind, '0.0.0.0']";

#[test]
fn containers_of_a_pod_share_localhost_and_pods_reach_each_other_by_ip() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-net");
    let x = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-x}}\nspec:\n  containers:\n  - {{name: a, image: kubicle/host, command: {SERVER}}}\n  - name: b\n    image: kubicle/host\n    command: [sh, -c, 'until curl -sf -o /dev/null http://127.0.0.1:8080/; do sleep 0.1; done; echo localhost-reached; exec sleep 3600']\n"
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&x))
        .success();
    let x_ip = wait_running(&c, "pod-x");
    eventually(
        "container b reaches container a on localhost",
        wait(),
        || {
            log(&c, "pod-x", "b")
                .contains("localhost-reached")
                .then_some(())
        },
    );

    let y = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-y}}\nspec:\n  containers:\n  - name: probe\n    image: kubicle/host\n    command: [sh, -c, 'if curl -s -m 2 -o /dev/null http://127.0.0.1:8080/; then echo LOCALHOST-CROSSED; else echo localhost-is-private; fi; until curl -sf -o /dev/null http://{x_ip}:8080/; do sleep 0.1; done; echo pod-ip-reached; exec sleep 3600']\n"
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&y))
        .success();
    let y_ip = wait_running(&c, "pod-y");
    eventually("pod y reaches pod x by its IP", wait(), || {
        log(&c, "pod-y", "probe")
            .contains("pod-ip-reached")
            .then_some(())
    });
    let y_log = log(&c, "pod-y", "probe");
    assert!(
        y_log.contains("localhost-is-private") && !y_log.contains("LOCALHOST-CROSSED"),
        "{y_log}"
    );
    assert_ne!(x_ip, y_ip);
    for ip in [&x_ip, &y_ip] {
        assert!(ip.starts_with("10.244."), "{ip} is in the pod CIDR");
    }
    let ready = c.jsonpath(&["pod", "pod-x"], "{.status.containerStatuses[*].ready}");
    assert_eq!(ready, "true true");
}

#[test]
fn replaced_pods_get_new_ips_and_ips_are_unique() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-ips");
    let deploy = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 2\n      containers: [{{name: web, image: kubicle/host, command: {SERVER}}}]\n"
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&deploy))
        .success();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .success();
    let ips = c.jsonpath(&["pods", "-l", "app=web"], "{.items[*].status.podIP}");
    let mut list: Vec<&str> = ips.split_whitespace().collect();
    assert_eq!(list.len(), 3, "{ips}");
    list.sort();
    list.dedup();
    assert_eq!(list.len(), 3, "every pod has its own IP: {ips}");
    let victim = c.jsonpath(&["pods", "-l", "app=web"], "{.items[0].metadata.name}");
    let old_ip = c.jsonpath(&["pod", &victim], "{.status.podIP}");
    c.kubectl(&["delete", "pod", &victim]).success();
    let replacement_ips = eventually("a replacement pod with a new IP", wait(), || {
        let now = c.jsonpath(
            &[
                "pods",
                "-l",
                "app=web",
                "--field-selector=status.phase=Running",
            ],
            "{.items[*].status.podIP}",
        );
        let ips: Vec<String> = now.split_whitespace().map(str::to_string).collect();
        (ips.len() == 3 && !ips.contains(&old_ip)).then_some(ips)
    });
    assert!(!replacement_ips.contains(&old_ip));
    // The endpoints follow the real pods.
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(svc))
        .success();
    let before = eventually("3 ready endpoints", wait(), || {
        let eps = c.jsonpath(&["endpoints", "web"], "{.subsets[0].addresses[*].ip}");
        (eps.split_whitespace().count() == 3).then_some(eps)
    });
    // A rollout restart with real pods: replaced one by one, every pod gets a new IP, and
    // the endpoints follow.
    c.kubectl(&["rollout", "restart", "deployment/web"])
        .success();
    let status = c.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(
        status.success().contains("successfully rolled out"),
        "{}",
        status.stdout
    );
    let old: Vec<&str> = before.split_whitespace().collect();
    eventually("endpoints hold only the new pods", wait(), || {
        let eps = c.jsonpath(&["endpoints", "web"], "{.subsets[0].addresses[*].ip}");
        let now: Vec<&str> = eps.split_whitespace().collect();
        (now.len() == 3 && now.iter().all(|ip| !old.contains(ip))).then_some(())
    });
}

#[test]
fn environment_resolv_conf_and_hosts_are_the_kubelets() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-env");
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: auth-service}\nspec:\n  selector: {app: auth}\n  ports: [{name: http, protocol: TCP, port: 80, targetPort: 80}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(svc))
        .success();
    let auth_ip = c.jsonpath(&["svc", "auth-service"], "{.spec.clusterIP}");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: show, namespace: default}\nspec:\n  containers:\n  - name: show\n    image: kubicle/host\n    env: [{name: AUTH_ADDRESS, value: auth-service.default}, {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]\n    securityContext: {runAsUser: 65534, runAsGroup: 65534}\n    command: [sh, -c, 'env | sort; echo uid=$(id -u) gid=$(id -g); echo ---; cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname; exec sleep 3600']\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    let pod_ip = wait_running(&c, "show");
    let out = eventually("the container printed its environment", wait(), || {
        let text = c.kubectl(&["logs", "show"]).stdout;
        (text.matches("---").count() >= 3).then_some(text)
    });
    let mut sections = out.split("---\n");
    let env = sections.next().unwrap_or("");
    for line in [
        format!("AUTH_SERVICE_SERVICE_HOST={auth_ip}"),
        "AUTH_SERVICE_SERVICE_PORT=80".to_string(),
        "AUTH_SERVICE_SERVICE_PORT_HTTP=80".to_string(),
        format!("AUTH_SERVICE_PORT=tcp://{auth_ip}:80"),
        format!("AUTH_SERVICE_PORT_80_TCP=tcp://{auth_ip}:80"),
        "AUTH_SERVICE_PORT_80_TCP_PROTO=tcp".to_string(),
        "AUTH_SERVICE_PORT_80_TCP_PORT=80".to_string(),
        format!("AUTH_SERVICE_PORT_80_TCP_ADDR={auth_ip}"),
        "KUBERNETES_SERVICE_HOST=10.96.0.1".to_string(),
        "KUBERNETES_SERVICE_PORT=443".to_string(),
        "AUTH_ADDRESS=auth-service.default".to_string(),
        format!("MY_IP={pod_ip}"),
        "HOSTNAME=show".to_string(),
        "uid=65534 gid=65534".to_string(),
    ] {
        assert!(env.lines().any(|l| l == line), "missing {line} in:\n{env}");
    }
    let resolv = sections.next().unwrap_or("");
    assert!(resolv.contains("nameserver 10.96.0.10\n"), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");
    let hosts = sections.next().unwrap_or("");
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"),
        "{hosts}"
    );
    assert!(hosts.contains(&format!("{pod_ip}\tshow\n")), "{hosts}");
    assert_eq!(sections.next().unwrap_or("").trim(), "show");
}

#[test]
fn crashing_containers_back_off_and_unknown_or_invalid_images_fail_to_pull() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-crash");
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: crash}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sh, -c, 'exit 3']}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: nginx}\nspec:\n  containers: [{name: c, image: 'nginx:1.27'}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: upper}\nspec:\n  containers: [{name: c, image: 'Nginx:1'}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pods))
        .success();
    eventually("CrashLoopBackOff", wait(), || {
        let out = c.kubectl(&["get", "pod", "crash", "--no-headers"]);
        out.stdout.contains("CrashLoopBackOff").then_some(())
    });
    let last = c.jsonpath(
        &["pod", "crash"],
        "{.status.containerStatuses[0].lastState.terminated.exitCode}",
    );
    assert_eq!(last, "3");
    eventually("ErrImagePull or ImagePullBackOff", wait(), || {
        let reason = c.jsonpath(
            &["pod", "nginx"],
            "{.status.containerStatuses[0].state.waiting.reason}",
        );
        (reason == "ErrImagePull" || reason == "ImagePullBackOff").then_some(())
    });
    let message = c.jsonpath(
        &["pod", "nginx"],
        "{.status.containerStatuses[0].state.waiting.message}",
    );
    assert!(message.contains("kubicle/host"), "{message}");
    let crash_events = c.kubectl(&["describe", "pod", "crash"]);
    for reason in ["Scheduled", "Started", "BackOff"] {
        assert!(
            crash_events.success().contains(reason),
            "no {reason} event in:\n{}",
            crash_events.stdout
        );
    }
    let pull = c.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=nginx,reason=Failed",
        "-o",
        "name",
    ]);
    assert!(
        !pull.success().trim().is_empty(),
        "a Failed (image) event for nginx"
    );
    // A reference that does not parse is the kubelet's InvalidImageName, with its words.
    eventually("InvalidImageName", wait(), || {
        let reason = c.jsonpath(
            &["pod", "upper"],
            "{.status.containerStatuses[0].state.waiting.reason}",
        );
        (reason == "InvalidImageName").then_some(())
    });
    let message = c.jsonpath(
        &["pod", "upper"],
        "{.status.containerStatuses[0].state.waiting.message}",
    );
    assert_eq!(
        message,
        "Failed to apply default image tag \"Nginx:1\": couldn't parse image name \"Nginx:1\": invalid reference format: repository name (library/Nginx) must be lowercase"
    );
    let inspect = c.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=upper,reason=InspectFailed",
        "-o",
        "name",
    ]);
    assert!(
        !inspect.success().trim().is_empty(),
        "an InspectFailed event"
    );
}

#[test]
fn reset_removes_what_a_crashed_cluster_left() {
    if !root_or_skip() {
        return;
    }
    let mut c = Cluster::start("pods-reset");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    wait_running(&c, "sleeper");
    let cgroup = c
        .host_names()
        .cgroup_dir
        .clone()
        .filter(|dir| dir.exists())
        .expect("the cluster's cgroup");
    let pids = integration::processes_in(&cgroup);
    assert!(!pids.is_empty(), "the pod's process is in its cgroup");
    // The node masquerades pod traffic bound outside the pod network (netd's nf_tables table).
    let table = integration::run(
        c.on_node("nft")
            .args(["list", "table", "ip", &c.host_names().nft_table]),
        None,
        wait(),
    );
    assert!(
        table
            .success()
            .contains("ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade"),
        "{}",
        table.stdout
    );
    // A crash leaves the pod's processes running.
    c.kill9();
    assert!(
        pids.iter()
            .all(|pid| std::path::Path::new("/proc").join(pid).exists())
    );
    let reset = integration::run(
        c.on_node(integration::kubicle_bin())
            .args(["reset", "--yes", "--data-dir"])
            .arg(&c.data_dir),
        None,
        wait(),
    );
    assert!(reset.ok(), "{}\n{}", reset.stdout, reset.stderr);
    eventually("the pod's processes are gone", wait(), || {
        pids.iter()
            .all(|pid| !std::path::Path::new("/proc").join(pid).exists())
            .then_some(())
    });
    assert!(!cgroup.exists(), "the cluster's cgroup is gone");
    assert!(!c.data_dir.exists(), "the data dir is gone");
    // The node's links (bridge, veths) and every mount under the data dir are gone too.
    let links = integration::run(c.on_node("ip").args(["-br", "link"]), None, wait());
    let names: Vec<&str> = links
        .success()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["lo"], "only lo is left on the node");
    let routes = integration::run(c.on_node("ip").args(["route", "show"]), None, wait());
    assert!(
        !routes.success().contains("10.96.0.0/12"),
        "the Service CIDR's unreachable route is gone: {}",
        routes.stdout
    );
    let tables = integration::run(c.on_node("nft").args(["list", "tables"]), None, wait());
    assert!(
        !tables.success().contains("kubicle"),
        "netd's nf_tables table is gone: {}",
        tables.stdout
    );
    let holder = c.netns_pid().expect("the cluster's namespaces");
    let mounts = std::fs::read_to_string(format!("/proc/{holder}/mountinfo")).expect("mountinfo");
    let data_dir = c.data_dir.display().to_string();
    assert!(
        !mounts.lines().any(|l| l.contains(&data_dir)),
        "no mount of the cluster is left: {mounts}"
    );
}

#[test]
fn a_restarted_cluster_keeps_its_pods_and_their_ips() {
    if !root_or_skip() {
        return;
    }
    let mut c = Cluster::start("pods-restart");
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: kubicle/host, command: [sleep, '3600']}}]\n"
        )
    };
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&pod("kept")))
        .success();
    let ip = wait_running(&c, "kept");
    // The container processes in the cluster's cgroups.
    let cgroup = c
        .host_names()
        .cgroup_dir
        .clone()
        .filter(|dir| dir.exists())
        .expect("the cluster's cgroup");
    let sleepers = || -> Vec<String> {
        integration::processes_in(&cgroup)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| cmd.starts_with(b"sleep\0"))
            })
            .collect()
    };
    let before = sleepers();
    assert_eq!(before.len(), 1, "one container process");
    // A crash of kubicle, then a new start on the same data dir in the same node network.
    c.restart();
    // The pod runs again on its IP, its container started afresh (as after a node reboot):
    // one process, not the old one beside a new one.
    eventually("the pod's container runs again", wait(), || {
        let now = sleepers();
        (now.len() == 1 && now != before).then_some(())
    });
    wait_running(&c, "kept");
    assert_eq!(c.jsonpath(&["pod", "kept"], "{.status.podIP}"), ip);
    // Started again, it counts as a restart, as the kubelet counts the containers it starts
    // again after a reboot; the instance before was killed (SIGKILL).
    eventually("the restart is counted", wait(), || {
        let status = c.jsonpath(
            &["pod", "kept"],
            "{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode}",
        );
        (status == "1 137").then_some(())
    });
    // A new pod gets another IP: the kept pod's IP is not handed out twice.
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&pod("fresh")))
        .success();
    assert_ne!(wait_running(&c, "fresh"), ip);
    // Deleting both removes their veths from the node.
    c.kubectl(&["delete", "pod", "kept", "fresh"]).success();
    eventually("the pods' veths are gone", wait(), || {
        let links = integration::run(c.on_node("ip").args(["-br", "link"]), None, wait());
        (links.ok() && !links.stdout.contains('@')).then_some(())
    });
}

#[test]
fn kubectl_logs_tail_follow_previous_and_container() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-logs");
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: two}\nspec:\n  containers:\n  - {name: a, image: kubicle/host, command: [sh, -c, 'for i in 1 2 3; do echo line-$i; done; exec sleep 3600']}\n  - {name: b, image: kubicle/host, command: [sh, -c, 'echo b-start; exit 1']}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: counter}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: kubicle/host, command: [sh, -c, 'for i in 1 2 3 4 5; do echo tick-$i; sleep 0.2; done']}\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pods))
        .success();
    // -f follows the container until it ends, then kubectl exits 0.
    let followed = eventually("kubectl logs -f of a running container", wait(), || {
        let out = c.kubectl(&["logs", "-f", "counter"]);
        out.ok().then_some(out.stdout)
    });
    assert!(followed.contains("tick-5"), "{followed}");
    eventually("container a logged", wait(), || {
        c.kubectl(&["logs", "two", "-c", "a"])
            .stdout
            .contains("line-3")
            .then_some(())
    });
    assert_eq!(
        c.kubectl(&["logs", "two", "-c", "a", "--tail=1"]).success(),
        "line-3\n"
    );
    eventually("b restarted once", wait(), || {
        (c.jsonpath(
            &["pod", "two"],
            "{.status.containerStatuses[1].restartCount}",
        ) != "0")
            .then_some(())
    });
    eventually("the previous instance's log", wait(), || {
        c.kubectl(&["logs", "two", "-c", "b", "--previous"])
            .stdout
            .contains("b-start")
            .then_some(())
    });
    let unknown = c.kubectl(&["logs", "two", "-c", "nope"]);
    assert!(unknown.failure().contains("nope"), "{}", unknown.stderr);
    // --timestamps puts the RFC 3339 time each line was logged before it; --since keeps the
    // lines logged since then (none of the finished counter's within the last second, all
    // within the last hour).
    let stamped = c.kubectl(&["logs", "counter", "--timestamps"]);
    let lines: Vec<&str> = stamped.success().lines().collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        let (time, text) = line.split_once(' ').expect("time and text");
        assert!(
            time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
        assert_eq!(text, format!("tick-{}", i + 1));
    }
    eventually(
        "a second has passed since the counter ended",
        wait(),
        || {
            c.kubectl(&["logs", "counter", "--since=1s"])
                .success()
                .is_empty()
                .then_some(())
        },
    );
    assert_eq!(
        c.kubectl(&["logs", "counter", "--since=1h", "--tail=2"])
            .success(),
        "tick-4\ntick-5\n"
    );
    // --since-time travels as a metav1.Time, in whole seconds: the lines of that second on.
    let second = &lines[4][..19];
    let expected: String = lines
        .iter()
        .filter(|l| &l[..19] >= second)
        .map(|l| format!("{}\n", &l[31..]))
        .collect();
    let since_time = format!("--since-time={second}Z");
    assert_eq!(
        c.kubectl(&["logs", "counter", &since_time]).success(),
        expected
    );
    // Out-of-range options are the API's 422, printed cleanly by kubectl.
    let bad = c.kubectl(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/pods/counter/log?sinceSeconds=0",
    ]);
    assert!(
        bad.failure().contains("must be greater than 0"),
        "{}",
        bad.stderr
    );
}

#[test]
fn probes_decide_readiness_and_restart_unhealthy_containers() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-probes");
    let pods = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: served, labels: {{app: probed}}}}\nspec:\n  containers:\n  - name: web\n    image: kubicle/host\n    command: {SERVER}\n    readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: never-ready, labels: {{app: probed}}}}\nspec:\n  containers:\n  - name: web\n    image: kubicle/host\n    command: {SERVER}\n    readinessProbe: {{exec: {{command: ['false']}}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: unhealthy}}\nspec:\n  containers:\n  - name: web\n    image: kubicle/host\n    command: [sleep, '3600']\n    livenessProbe: {{tcpSocket: {{port: 9999}}, periodSeconds: 1, failureThreshold: 1}}\n"
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&pods))
        .success();
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: probed}\nspec:\n  selector: {app: probed}\n  ports: [{port: 80, targetPort: 8080}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(svc))
        .success();
    let ready = |pod: &str| {
        c.jsonpath(
            &["pod", pod],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        )
    };
    eventually("the served pod turns ready", wait(), || {
        (ready("served") == "True").then_some(())
    });
    let served_ip = c.jsonpath(&["pod", "served"], "{.status.podIP}");
    eventually("the endpoints hold only the ready pod", wait(), || {
        let ready_ips = c.jsonpath(&["endpoints", "probed"], "{.subsets[0].addresses[*].ip}");
        let not_ready = c.jsonpath(
            &["endpoints", "probed"],
            "{.subsets[0].notReadyAddresses[*].ip}",
        );
        (ready_ips == served_ip && !not_ready.is_empty()).then_some(())
    });
    assert_eq!(
        c.jsonpath(&["pod", "never-ready"], "{.status.phase}"),
        "Running"
    );
    assert_eq!(ready("never-ready"), "False");
    eventually("the liveness probe restarts the container", wait(), || {
        let restarts = c.jsonpath(
            &["pod", "unhealthy"],
            "{.status.containerStatuses[0].restartCount}",
        );
        (restarts.parse::<u32>().unwrap_or(0) > 0).then_some(())
    });
}

#[test]
fn kubectl_exec_runs_in_the_container_with_stdin_and_exit_codes() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-exec");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: shell}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600'], env: [{name: GREETING, value: hello}]}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    wait_running(&c, "shell");
    let out = c.kubectl(&[
        "exec",
        "shell",
        "--",
        "sh",
        "-c",
        "echo $GREETING from $(hostname); echo oops >&2; exit 3",
    ]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "hello from shell\n");
    assert!(
        out.stderr.contains("oops") && out.stderr.contains("command terminated with exit code 3"),
        "{}",
        out.stderr
    );
    let echoed = c.kubectl_with_stdin(
        &["exec", "-i", "shell", "--", "cat"],
        Some("through stdin\n"),
    );
    assert_eq!(echoed.success(), "through stdin\n");
    let same_netns = c.kubectl(&["exec", "shell", "--", "cat", "/etc/hostname"]);
    assert_eq!(same_netns.success().trim(), "shell");
}

#[test]
fn limits_are_enforced_or_warned_about() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-limits");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: limited}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600'], resources: {limits: {memory: 64Mi, cpu: 250m}}}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    wait_running(&c, "limited");
    assert_eq!(
        c.jsonpath(&["pod", "limited"], "{.status.qosClass}"),
        "Guaranteed"
    );
    let uid = c.jsonpath(&["pod", "limited"], "{.metadata.uid}");
    let memory_max = c
        .host_names()
        .cgroup_dir
        .as_ref()
        .and_then(|dir| std::fs::read_to_string(dir.join(&uid).join("memory.max")).ok());
    match memory_max {
        Some(max) => assert_eq!(max.trim(), (64 * 1024 * 1024).to_string()),
        None => {
            let events = c.kubectl(&[
                "get",
                "events",
                "--field-selector",
                "reason=LimitsNotEnforced",
                "-o",
                "name",
            ]);
            assert!(
                !events.success().trim().is_empty(),
                "a warning event says the limits are not enforced"
            );
        }
    }
}

#[test]
fn containers_of_a_pod_share_its_ipc_namespace() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-ipc");
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: ipc-pod}\nspec:\n  containers:\n  - {name: maker, image: kubicle/host, command: [sh, -c, 'ipcmk -M 4096; exec sleep 3600']}\n  - {name: looker, image: kubicle/host, command: [sh, -c, 'until ipcs -m | grep -q 4096; do sleep 0.1; done; echo shared-memory-seen; exec sleep 3600']}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: other-pod}\nspec:\n  containers:\n  - {name: c, image: kubicle/host, command: [sh, -c, 'sleep 1; ipcs -m | grep -c 4096 || true; exec sleep 3600']}\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pods))
        .success();
    eventually(
        "the second container sees the first one's shared memory",
        wait(),
        || {
            c.kubectl(&["logs", "ipc-pod", "-c", "looker"])
                .stdout
                .contains("shared-memory-seen")
                .then_some(())
        },
    );
    let other = eventually("the other pod reported", wait(), || {
        let out = c.kubectl(&["logs", "other-pod"]).stdout;
        (!out.trim().is_empty()).then_some(out)
    });
    assert_eq!(other.trim(), "0", "another pod does not see it");
}

#[test]
fn kubectl_port_forward_reaches_the_pod() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-pf");
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers: [{{name: c, image: kubicle/host, command: {SERVER}, readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}}}]\n"
    );
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(&pod))
        .success();
    eventually("the pod serves (ready)", wait(), || {
        (c.jsonpath(
            &["pod", "web"],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        ) == "True")
            .then_some(())
    });
    let mut forward = c.kubectl_stream(&["port-forward", "pod/web", "18080:8080"]);
    forward.wait_for(wait(), |l| l.contains("Forwarding from 127.0.0.1:18080"));
    // kubectl listens inside the cluster's network namespace; fetch from there.
    for _ in 0..3 {
        let page = integration::run(
            c.on_node("curl")
                .args(["-sf", "-m", "5", "http://127.0.0.1:18080/"]),
            None,
            wait(),
        );
        assert!(
            page.ok() && page.stdout.contains("Directory listing"),
            "{}\n{}",
            page.stdout,
            page.stderr
        );
    }
}

#[test]
fn each_container_is_pid_1_of_its_own_pid_namespace() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-pid");
    // `$$$$` is the shell's `$$`: Kubernetes expands `$$` in commands to a literal `$`.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: pid}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: kubicle/host, command: [sh, -c, 'echo pid=$$$$; echo procs=$(ls /proc | grep -c \"^[0-9]\"); exit 7']}\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    eventually("the container ran to its end", wait(), || {
        (c.jsonpath(
            &["pod", "pid"],
            "{.status.containerStatuses[0].state.terminated.exitCode}",
        ) == "7")
            .then_some(())
    });
    let out = c.kubectl(&["logs", "pid"]);
    assert!(out.success().contains("pid=1\n"), "{}", out.stdout);
    let procs: usize = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .expect("procs line");
    // sh, its command substitution, ls and grep: nothing of the host.
    assert!(
        procs <= 5,
        "the container sees only its own processes: {}",
        out.stdout
    );
    assert_eq!(c.jsonpath(&["pod", "pid"], "{.status.phase}"), "Failed");
}

#[test]
fn kubectl_exec_with_a_terminal() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-tty");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: term}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    wait_running(&c, "term");
    // kubectl asks for a TTY only when its own stdin is a terminal: script(1) gives it one.
    let pid = c.netns_pid().expect("cluster netns").to_string();
    // kubectl sends its terminal's size (set here with stty) when the stream opens, and on
    // every change; the container's terminal takes it (the short sleep lets it arrive).
    let inner = format!(
        "stty rows 33 cols 111; nsenter -t {pid} -n -- kubectl exec -it term -- sh -c 'tty; sleep 0.5; stty size; exit 4'"
    );
    let out = integration::run(
        std::process::Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env("KUBECONFIG", c.kubeconfig())
            .env(
                "KUBECACHEDIR",
                c.data_dir.parent().expect("test dir").join("kube-cache"),
            ),
        None,
        wait(),
    );
    assert!(
        out.stdout.contains("/dev/pts/"),
        "the command runs on a terminal: {}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("33 111"),
        "the terminal has kubectl's size: {}",
        out.stdout
    );
    assert_eq!(out.code, Some(4), "{}", out.stdout);
}

#[test]
fn exec_joins_the_container_and_share_process_namespace_gives_one_pid_namespace() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("pods-sharepid");
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: own}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: c, image: kubicle/host, command: [sleep, '3600']}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: shared}\nspec:\n  terminationGracePeriodSeconds: 1\n  shareProcessNamespace: true\n  containers:\n  - {name: a, image: kubicle/host, command: [sleep, '3600']}\n  - {name: b, image: kubicle/host, command: [sleep, '3601']}\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pods))
        .success();
    wait_running(&c, "own");
    wait_running(&c, "shared");
    let cmdlines = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done";
    // An exec joins its container's PID namespace (PID 1 is the container's command) and its
    // mount namespace (the pod's /etc/hostname is there).
    let own = c.kubectl(&["exec", "own", "--", "sh", "-c", cmdlines]);
    let seen: Vec<&str> = own.success().lines().map(str::trim).collect();
    assert!(seen.contains(&"sleep 3600"), "{seen:?}");
    assert!(
        !seen.iter().any(|l| l.contains("kubicle")),
        "nothing of the node is visible: {seen:?}"
    );
    let pid1 = c.kubectl(&["exec", "own", "--", "cat", "/proc/1/cmdline"]);
    assert_eq!(pid1.success(), "sleep\u{0}3600\u{0}");
    let hostname = c.kubectl(&["exec", "own", "--", "cat", "/etc/hostname"]);
    assert_eq!(hostname.success().trim(), "own");
    // With shareProcessNamespace the containers see each other, and PID 1 is the pause.
    let shared = c.kubectl(&["exec", "shared", "-c", "b", "--", "sh", "-c", cmdlines]);
    let seen: Vec<&str> = shared.success().lines().map(str::trim).collect();
    assert!(
        seen.contains(&"sleep 3600") && seen.contains(&"sleep 3601"),
        "container b sees container a's process: {seen:?}"
    );
    let pid1 = c.kubectl(&["exec", "shared", "-c", "a", "--", "cat", "/proc/1/cmdline"]);
    assert!(
        pid1.success().ends_with("pause\u{0}"),
        "PID 1 is the pod's pause process: {:?}",
        pid1.stdout
    );
    // Deleting the pod stops everything in its PID namespace.
    c.kubectl(&["delete", "pod", "shared", "own"]).success();
}
