//! The harness of kubicle's end-to-end tests: a real `kubicle up` process per test, with its
//! own data dir and port, driven by the real `kubectl`.
//!
//! Layout:
//! - [`Cluster`]: starts, kills (`kill -9`), restarts and cleans up one cluster.
//! - [`Cluster::kubectl`]: runs kubectl against it with a private discovery cache and a
//!   timeout, capturing output.
//! - [`eventually`]: waits for asynchronous convergence without bare sleeps in tests.
//!
//! Each test owns everything it makes (process by PID, data dir); the `Drop` of [`Cluster`]
//! removes it even when the test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Output of a finished command.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None` if killed by the timeout or a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Whether the command exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with both streams unless the command succeeded; returns stdout.
    #[track_caller]
    pub fn success(&self) -> &str {
        assert!(
            self.ok(),
            "command failed ({:?})\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Panics unless the command failed; returns stderr.
    #[track_caller]
    pub fn failure(&self) -> &str {
        assert!(
            !self.ok(),
            "command unexpectedly succeeded\n--- stdout\n{}",
            self.stdout
        );
        &self.stderr
    }
}

/// How long kubectl may take before the harness kills it.
pub fn patience() -> Duration {
    let secs = std::env::var("KUBICLE_TEST_PATIENCE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Runs a command with optional stdin, killing it after `timeout`.
pub fn run(command: &mut Command, stdin: Option<&str>, timeout: Duration) -> Output {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn command");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait().expect("wait") {
            Some(status) => break status.code(),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    Output {
        code,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
#[track_caller]
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `kubicle` binary under test: `KUBICLE_BIN`, or `target/<profile>/kubicle` next to the
/// test executable (cargo builds it for the root package's own tests).
pub fn kubicle_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("KUBICLE_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("kubicle");
    assert!(
        bin.exists(),
        "{} does not exist: build it first (`cargo build`), or run the whole suite with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Whether this process runs as root (pods, network namespaces).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// For tests that need root: true to go on; false (after saying so on stderr) to skip.
/// With `KUBICLE_REQUIRE_ROOT_TESTS=1` (CI) a missing root fails the test instead.
#[track_caller]
pub fn root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("KUBICLE_REQUIRE_ROOT_TESTS").as_deref() != Ok("1"),
        "this test needs root and KUBICLE_REQUIRE_ROOT_TESTS=1 is set"
    );
    eprintln!("SKIPPED: needs root");
    false
}

/// One running cluster. As root it runs in a network and mount namespace of its own, made
/// by `unshare` for a holder process (`sleep`) that keeps them alive across restarts of the
/// server, so its bridge, pods and bind mounts never touch the host and vanish with the
/// holder; the server and kubectl enter them with `nsenter`.
#[derive(Debug)]
pub struct Cluster {
    child: Option<Child>,
    holder: Option<Child>,
    /// The cluster's data directory (removed on drop).
    pub data_dir: PathBuf,
    /// The API server's `host:port`.
    pub address: String,
    cache_dir: PathBuf,
    log: PathBuf,
    /// Every line the server printed on stdout after its ready line.
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    flags: Vec<String>,
    /// The cluster name (`--cluster-name`, unique per test).
    pub name: String,
    /// The names of the cluster's host objects, read from its `cluster.json` once it is ready.
    host: Option<HostNames>,
}

/// The names of a cluster's host objects, which `kubicle up` derives from the identity it
/// keeps in `<data-dir>/cluster.json`.
#[derive(Debug, Clone)]
pub struct HostNames {
    /// The pods' bridge.
    pub bridge: String,
    /// netd's nf_tables table (`ip <nft_table>`).
    pub nft_table: String,
    /// The cgroup2 directory of the cluster's pods.
    pub cgroup_dir: Option<PathBuf>,
}

impl HostNames {
    /// Reads them from a data dir's `cluster.json`.
    pub fn read(data_dir: &Path) -> Option<HostNames> {
        let text = std::fs::read_to_string(data_dir.join("cluster.json")).ok()?;
        let record: serde_json::Value = serde_json::from_str(&text).ok()?;
        let host = &record["host"];
        let cgroup = format!("kubicle-{}", host["cgroup"].as_str()?);
        Some(HostNames {
            bridge: host["bridge"].as_str()?.to_string(),
            nft_table: host["nftTable"].as_str()?.to_string(),
            cgroup_dir: ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
                .iter()
                .map(Path::new)
                .find(|root| root.join("cgroup.controllers").exists())
                .map(|root| root.join(cgroup)),
        })
    }
}

impl Cluster {
    /// Starts a new cluster with a fresh data dir and a free port.
    pub fn start(name: &str) -> Cluster {
        Cluster::start_with(name, &[])
    }

    /// Starts a new cluster with extra `kubicle up` flags.
    pub fn start_with(name: &str, flags: &[&str]) -> Cluster {
        let root = std::env::temp_dir().join(format!(
            "kubicle-it-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&root).expect("create test dir");
        let mut cluster = Cluster {
            child: None,
            holder: None,
            data_dir: root.join("data"),
            address: String::new(),
            cache_dir: root.join("kube-cache"),
            log: root.join("kubicle.log"),
            stdout: Default::default(),
            flags: Vec::new(),
            name: format!("it{}", unique() % 1_000_000_000),
            host: None,
        };
        // A test may name its cluster itself: `boot` passes `--cluster-name` once.
        let mut flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        if let Some(at) = flags.iter().position(|f| f == "--cluster-name") {
            cluster.name = flags
                .drain(at..(at + 2).min(flags.len()))
                .nth(1)
                .unwrap_or_default();
        }
        cluster.flags = flags;
        cluster.boot();
        cluster
    }

    fn boot(&mut self) {
        if self.in_netns() && self.holder.is_none() {
            let holder = Command::new("unshare")
                .args(["--net", "--mount", "--propagation", "private", "--"])
                .args(["sleep", "infinity"])
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn the namespace holder");
            let pid = holder.id();
            self.holder = Some(holder);
            // The namespaces exist once the holder runs `sleep` (unshare execs it).
            eventually("the cluster's namespaces", Duration::from_secs(10), || {
                let ns = |p: &str| std::fs::read_link(p).ok();
                (ns(&format!("/proc/{pid}/ns/net")) != ns("/proc/self/ns/net")
                    && std::fs::read_link(format!("/proc/{pid}/exe"))
                        .is_ok_and(|exe| exe.ends_with("sleep")))
                .then_some(())
            });
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut child = self
            .on_node(kubicle_bin())
            .args(["--log-format=text", "up", "--listen", "127.0.0.1:0"])
            .args(["--cluster-name", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .args(&self.flags)
            .env("KUBICLE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn kubicle up");
        let stdout = child.stdout.take().expect("stdout");
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        let later = self.stdout.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the server never blocks on a full pipe.
            for line in lines.map_while(Result::ok) {
                later.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("kubicle did not get ready; log:\n{}", self.log_text()));
        let address = line
            .split("https://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected ready line: {line}"));
        self.address = address.to_string();
        self.host = HostNames::read(&self.data_dir);
    }

    /// The names of the cluster's host objects (bridge, nf_tables table, cgroup).
    #[track_caller]
    pub fn host_names(&self) -> &HostNames {
        self.host
            .as_ref()
            .expect("a running cluster has a cluster.json with its host names")
    }

    /// What the server printed on stdout after its ready line (the `up -f` map).
    pub fn stdout_text(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The kubeconfig the server wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// The PID of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The PID of the process holding the cluster's network and mount namespaces (`None`
    /// when the cluster runs in the caller's), for `nsenter -t`.
    pub fn netns_pid(&self) -> Option<u32> {
        self.holder.as_ref().map(Child::id)
    }

    /// Runs kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_stdin(args, None)
    }

    /// Whether the cluster runs in a network namespace of its own: as root, when it runs
    /// pods (a cluster without pods creates no links and only listens on 127.0.0.1).
    pub fn in_netns(&self) -> bool {
        is_root() && !self.flags.iter().any(|f| f == "--no-pods")
    }

    /// A command that runs in the cluster's network and mount namespaces (as root; in the
    /// caller's otherwise), as if run on the cluster's node.
    pub fn on_node(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self.netns_pid() {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.args(["-t", &pid.to_string(), "--net", "--mount", "--"])
                    .arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// A kubectl command that reaches this cluster (inside its network namespace as root).
    fn kubectl_command(&self) -> Command {
        let mut command = self.on_node("kubectl");
        command
            .env("KUBECONFIG", self.kubeconfig())
            .env("KUBECACHEDIR", &self.cache_dir);
        command
    }

    /// `kubectl get <what...> -o jsonpath=<path>`, trimmed (empty when kubectl fails).
    pub fn jsonpath(&self, what: &[&str], path: &str) -> String {
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        let expr = format!("jsonpath={path}");
        args.extend_from_slice(&["-o", &expr]);
        self.kubectl(&args).stdout.trim().to_string()
    }

    /// Runs kubectl with `stdin` fed to it (for `-f -`).
    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = self.kubectl_command();
        command.args(args).env_remove("KUBECTL_EXTERNAL_DIFF");
        run(&mut command, stdin, patience())
    }

    /// Starts a long-running kubectl (such as `get -w`) whose output lines arrive as they are
    /// printed. It is killed when the returned handle drops.
    pub fn kubectl_stream(&self, args: &[&str]) -> Streaming {
        let mut child = self
            .kubectl_command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        let (tx, rx) = std::sync::mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Streaming {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Plays the kubelet's status role for the tests that run before kubicle's own pod runtime
    /// exists: every pod bound to a node gets phase Running, a unique pod IP and `Ready` (as a
    /// kubelet would write through `pods/status`), except pods whose name matches `unready`.
    /// Runs until the returned guard drops.
    pub fn pod_status_writer(&self, unready: &'static [&'static str]) -> StatusWriter {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let kubeconfig = self.kubeconfig();
        let cache = self.cache_dir.clone();
        let netns_pid = self.netns_pid();
        let kubectl = move || {
            let mut c = match netns_pid {
                Some(pid) => {
                    let mut c = Command::new("nsenter");
                    c.args(["-t", &pid.to_string(), "-n", "--", "kubectl"]);
                    c
                }
                None => Command::new("kubectl"),
            };
            c.env("KUBECONFIG", &kubeconfig).env("KUBECACHEDIR", &cache);
            c
        };
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut next_ip = 2u32;
            let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let mut list = kubectl();
                list.args(["get", "pods", "-A", "-o", "json"]);
                let out = run(&mut list, None, patience());
                let pods: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
                for pod in pods["items"].as_array().into_iter().flatten() {
                    let meta = &pod["metadata"];
                    let uid = meta["uid"].as_str().unwrap_or("").to_string();
                    let name = meta["name"].as_str().unwrap_or("");
                    let bound = pod["spec"]["nodeName"]
                        .as_str()
                        .is_some_and(|n| !n.is_empty());
                    if !bound || done.contains(&uid) || meta.get("deletionTimestamp").is_some() {
                        continue;
                    }
                    let ready = if unready.iter().any(|u| name.contains(u)) {
                        "False"
                    } else {
                        "True"
                    };
                    let ip = format!("10.244.{}.{}", next_ip / 250, next_ip % 250 + 2);
                    next_ip += 1;
                    let status = serde_json::json!({"status": {
                        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                        "conditions": [{"type": "Ready", "status": ready}, {"type": "ContainersReady", "status": ready}],
                    }});
                    let mut patch = kubectl();
                    patch
                        .args([
                            "patch",
                            "pod",
                            name,
                            "-n",
                            meta["namespace"].as_str().unwrap_or("default"),
                        ])
                        .args([
                            "--subresource=status",
                            "--type=merge",
                            "-p",
                            &status.to_string(),
                        ]);
                    if run(&mut patch, None, patience()).ok() {
                        done.insert(uid);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        StatusWriter {
            stop,
            thread: Some(thread),
        }
    }

    /// Kills the server with SIGKILL (a crash) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM and waits for a graceful exit; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again on the same data dir (a new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.boot();
    }
}

/// The processes in a cgroup directory and all its descendants (a pod's cgroup holds one
/// per container).
pub fn processes_in(dir: &Path) -> Vec<String> {
    let mut pids: Vec<String> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    for child in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if child.path().is_dir() {
            pids.extend(processes_in(&child.path()));
        }
    }
    pids
}

/// Removes a cgroup whose processes were killed, children first.
fn remove_cgroup(dir: &Path) {
    for child in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if child.path().is_dir() {
            remove_cgroup(&child.path());
        }
    }
    for _ in 0..100 {
        if std::fs::remove_dir(dir).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill9();
        // Container processes outlive a killed kubicle; their cgroups find them all.
        if let Some(dir) = self.host.as_ref().and_then(|h| h.cgroup_dir.clone()) {
            let pods = std::fs::read_dir(&dir).into_iter().flatten();
            for pod in pods.flatten().filter(|e| e.path().is_dir()) {
                let _ = std::fs::write(pod.path().join("cgroup.kill"), "1");
                remove_cgroup(&pod.path());
            }
            let _ = std::fs::remove_dir(&dir);
        }
        // The namespaces, their links and mounts go with their last process.
        if let Some(mut holder) = self.holder.take() {
            let _ = holder.kill();
            let _ = holder.wait();
        }
        if let Some(root) = self.data_dir.parent() {
            if std::thread::panicking() {
                eprintln!("kubicle log of the failed test:\n{}", self.log_text());
            }
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// Stops [`Cluster::pod_status_writer`] when dropped.
#[derive(Debug)]
pub struct StatusWriter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running kubectl whose output is read line by line.
#[derive(Debug)]
pub struct Streaming {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line received so far (stdout and stderr interleaved).
    pub seen: Vec<String>,
}

impl Streaming {
    /// Waits (up to `timeout`, then kills it) for the command to exit, and returns every line
    /// it printed.
    pub fn finish(mut self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The readers end once the pipes close.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }

    /// Waits until a line satisfies `pred`, panicking with everything seen after `timeout`.
    #[track_caller]
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        if let Some(line) = self.seen.iter().find(|l| pred(l)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no matching line within {timeout:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    NEXT.fetch_add(1, Ordering::Relaxed) * 1_000_000_000 + nanos
}

/// Writes `files` (name, contents) into a fresh directory under `dir` and returns it.
pub fn write_manifests(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("manifest dir");
    for (name, contents) in files {
        std::fs::write(dir.join(name), contents).expect("write manifest");
    }
    dir.to_path_buf()
}
