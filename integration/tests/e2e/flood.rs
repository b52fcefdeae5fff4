//! An API that floods cannot starve (issue 12, items 4 and 5): idle connections and stalled
//! TLS handshakes held by the thousand, a pod holding more than its share, requests past
//! kube-apiserver's max-in-flight limits (429), and deeply nested bodies, while host kubectl
//! and pods keep getting answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use integration::{Cluster, eventually, patience as wait, root_or_skip};

const SLEEPER: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";

/// Opens `count` TCP connections to `host:port` (each stalled after 6 bytes of a TLS
/// ClientHello when `partial` is 1), prints how many the server still holds open two seconds
/// later, and keeps them until its stdin closes.
const FLOOD: &str = r#"
import select, socket, sys, time
host, port, count, partial = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
held = []
for _ in range(count):
    s = socket.create_connection((host, port))
    if partial:
        s.send(b"\x16\x03\x01\x02\x00\x01")
    held.append(s)
time.sleep(2)
poll = select.poll()
for s in held:
    poll.register(s, select.POLLIN)
closed = len(poll.poll(0))
print(count - closed, flush=True)
sys.stdin.read()
"#;

/// A flood of connections, held until dropped.
struct Flood(Child);

impl Flood {
    /// Starts the flood from the cluster's node (its network namespace as root) and
    /// returns it with the number of connections the server kept.
    fn start(c: &Cluster, host: &str, count: usize, partial: bool) -> (Flood, usize) {
        let port = c.address.rsplit(':').next().expect("port");
        let mut child = c
            .on_node("python3")
            .args(["-c", FLOOD, host, port, &count.to_string()])
            .arg(if partial { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the flood");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let kept = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("flood: {line:?}"));
        (Flood(child), kept)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The bearer token in the cluster's kubeconfig.
fn token(c: &Cluster) -> String {
    let kubeconfig = std::fs::read_to_string(c.kubeconfig()).expect("kubeconfig");
    kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .expect("token")
        .trim()
        .trim_matches('"')
        .to_string()
}

/// curl against the API on the cluster's node, with its CA and token, printing the
/// response's status line and headers (`-i`).
fn curl(c: &Cluster, args: &[&str]) -> Command {
    let mut command = c.on_node("curl");
    command
        .args(["-sS", "-i", "--http1.1", "--cacert"])
        .arg(c.data_dir.join("pki/ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {}", token(c))])
        .args(args);
    command
}

fn url(c: &Cluster, path: &str) -> String {
    format!("https://{}{path}", c.address)
}

fn readyz_ok(c: &Cluster) {
    assert_eq!(
        c.kubectl(&["get", "--raw", "/readyz"]).success().trim(),
        "ok"
    );
}

#[test]
fn idle_connections_and_stalled_handshakes_leave_kubectl_answered() {
    let c = Cluster::start_with("flood-idle", &["--no-pods"]);
    let host = c.address.rsplit_once(':').expect("address").0.to_string();
    let (_idle, idle) = Flood::start(&c, &host, 1500, false);
    let (_stalled, stalled) = Flood::start(&c, &host, 1500, true);
    // The host's own clients (loopback) are held only to the listener's limit.
    assert!(idle > 0 && stalled > 0, "{idle} {stalled}");
    readyz_ok(&c);
    c.kubectl(&["create", "configmap", "during", "--from-literal=a=b"])
        .success();
    assert_eq!(c.jsonpath(&["configmap", "during"], "{.data.a}"), "b");
}

#[test]
fn a_pod_holds_no_more_than_its_share_and_the_others_get_answers() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("flood-share");
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(SLEEPER))
        .success();
    eventually("sleeper running", wait(), || {
        (c.jsonpath(&["pod", "sleeper"], "{.status.phase}") == "Running").then_some(())
    });
    let gateway = c.jsonpath(
        &["endpoints", "kubernetes"],
        "{.subsets[0].addresses[0].ip}",
    );
    // From the node's side of the bridge: one peer address that is not loopback, on the
    // listener pods use.
    let (_flood, kept) = Flood::start(&c, &gateway, 3000, false);
    assert!(kept > 0 && kept < 3000, "the server kept {kept} of 3000");
    readyz_ok(&c);
    let port = c.address.rsplit(':').next().expect("port");
    let from_pod = c.kubectl(&[
        "exec",
        "sleeper",
        "--",
        "curl",
        "-sSk",
        &format!("https://{gateway}:{port}/readyz"),
    ]);
    assert_eq!(from_pod.success().trim(), "ok");
}

#[test]
fn past_max_in_flight_mutating_requests_get_429_with_retry_after() {
    let c = Cluster::start_with(
        "flood-inflight",
        &["--no-pods", "--max-mutating-requests-inflight", "1"],
    );
    let configmaps = url(&c, "/api/v1/namespaces/default/configmaps");
    // A POST whose body never comes holds the one mutating slot.
    let mut held = curl(&c, &["-X", "POST", "-H", "Content-Type: application/json"])
        .args(["-T", "-", &configmaps])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl");
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"late-"}}"#;
    let post = || {
        let mut command = curl(&c, &["-X", "POST", "-H", "Content-Type: application/json"]);
        command.args(["--data", body, &configmaps]);
        integration::run(&mut command, None, wait())
    };
    let mut last = String::new();
    let refused = eventually("a 429", wait(), || {
        let out = post();
        if !out.stdout.starts_with("HTTP/1.1 429") {
            last = format!(
                "{}{} (held curl alive: {:?})",
                out.stdout,
                out.stderr,
                held.try_wait().map(|s| s.is_none())
            );
            eprintln!("not yet a 429: {last}");
        }
        out.stdout.starts_with("HTTP/1.1 429").then_some(out.stdout)
    });
    let lower = refused.to_ascii_lowercase();
    assert!(lower.contains("\r\nretry-after: 1\r\n"), "{refused}");
    assert!(
        refused.ends_with("\r\n\r\nToo many requests, please try again later.\n"),
        "{refused}"
    );
    // Reads have their own pool; probes and long-running requests are not counted.
    readyz_ok(&c);
    c.kubectl(&["get", "configmaps"]).success();
    drop(held.stdin.take());
    let _ = held.kill();
    let _ = held.wait();
    eventually("the slot back", wait(), || {
        post().stdout.starts_with("HTTP/1.1 201").then_some(())
    });
}

#[test]
fn nested_bodies_are_refused_in_upstreams_words_while_the_api_answers() {
    let c = Cluster::start_with("flood-nested", &["--no-pods"]);
    let yaml = c.data_dir.join("nested.yaml");
    let json = c.data_dir.join("nested.json");
    std::fs::write(
        &yaml,
        format!("kind: ConfigMap\ndata: {}", "[".repeat(200_000)),
    )
    .expect("write");
    std::fs::write(&json, format!("{{\"data\": {}", "[".repeat(200_000))).expect("write");
    let configmaps = url(&c, "/api/v1/namespaces/default/configmaps");
    let post = |file: &std::path::Path, content_type: &str| {
        let mut command = curl(&c, &["-X", "POST", "-H"]);
        command
            .arg(format!("Content-Type: {content_type}"))
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(&configmaps)
            .stdout(Stdio::piped());
        command.spawn().expect("curl")
    };
    let posts: Vec<Child> = (0..4).map(|_| post(&yaml, "application/yaml")).collect();
    readyz_ok(&c);
    for child in posts {
        let out = child.wait_with_output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(
            text.contains(
                r#""message":"error converting YAML to JSON: yaml: line 2: exceeded max depth of 127""#
            ),
            "{text}"
        );
    }
    let out = post(&json, "application/json")
        .wait_with_output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains(
            r#""message":"couldn't get version/kind; json parse error: invalid character '[' exceeded max depth""#
        ),
        "{text}"
    );
}
