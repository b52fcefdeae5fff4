//! Hardening (issue 12), each a finding of the probe that failed on the code before it: one
//! cluster per data dir, host objects that belong to one cluster alone whatever its name,
//! private files, and a serving certificate for every address the API is reached at.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use integration::{Cluster, eventually, patience as wait, processes_in, root_or_skip};

const SLEEPER: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";

fn wait_running(c: &Cluster, pod: &str) {
    eventually(&format!("{pod} running"), wait(), || {
        (c.jsonpath(&["pod", pod], "{.status.phase}") == "Running").then_some(())
    });
}

/// `kubicle <args>` in a network and mount namespace of its own (as root), so that nothing it
/// might do could reach the host's network or another test's cluster.
fn kubicle_elsewhere(args: &[&str], data_dir: &Path) -> integration::Output {
    let mut command = if integration::is_root() {
        let mut c = Command::new("unshare");
        c.args(["--net", "--mount", "--propagation", "private", "--"])
            .arg(integration::kubicle_bin());
        c
    } else {
        Command::new(integration::kubicle_bin())
    };
    command.args(args).arg("--data-dir").arg(data_dir);
    integration::run(&mut command, None, wait())
}

#[test]
fn a_second_up_on_a_data_dir_in_use_exits_at_once_changing_nothing() {
    let c = Cluster::start_with("second-up", &["--no-pods"]);
    let kubeconfig = std::fs::read(c.kubeconfig()).expect("kubeconfig");
    let record = std::fs::read(c.data_dir.join("cluster.json")).expect("cluster.json");
    let pid = c.pid().expect("running");
    // Another port, another network namespace, another cluster name: still the same data dir.
    let second = kubicle_elsewhere(
        &["up", "--listen", "127.0.0.1:0", "--cluster-name", "other"],
        &c.data_dir,
    );
    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains(&format!("is already running (pid {pid})")),
        "{}",
        second.stderr
    );
    assert!(second.stdout.is_empty(), "{}", second.stdout);
    assert_eq!(
        std::fs::read(c.kubeconfig()).expect("kubeconfig"),
        kubeconfig
    );
    assert_eq!(
        std::fs::read(c.data_dir.join("cluster.json")).expect("cluster.json"),
        record
    );
    // The first keeps working: its store was not touched.
    c.kubectl(&["create", "configmap", "after", "--from-literal=a=b"])
        .success();
    assert_eq!(c.jsonpath(&["configmap", "after"], "{.data.a}"), "b");
}

#[test]
fn reset_refuses_a_running_cluster_and_changes_nothing() {
    let c = Cluster::start_with("reset-running", &["--no-pods"]);
    c.kubectl(&["create", "configmap", "kept", "--from-literal=a=b"])
        .success();
    let pid = c.pid().expect("running");
    let reset = kubicle_elsewhere(&["reset", "--yes"], &c.data_dir);
    assert_eq!(reset.code, Some(1), "{}", reset.stderr);
    assert!(
        reset
            .stderr
            .contains(&format!("is already running (pid {pid})")),
        "{}",
        reset.stderr
    );
    assert!(c.data_dir.join("state.db").exists());
    assert_eq!(c.jsonpath(&["configmap", "kept"], "{.data.a}"), "b");
}

#[test]
fn clusters_with_one_name_never_touch_each_others_host_objects() {
    if !root_or_skip() {
        return;
    }
    let mut a = Cluster::start_with("same-name-a", &["--cluster-name", "twin"]);
    let b = Cluster::start_with("same-name-b", &["--cluster-name", "twin"]);
    for c in [&a, &b] {
        c.kubectl_with_stdin(&["apply", "-f", "-"], Some(SLEEPER))
            .success();
        wait_running(c, "sleeper");
    }
    let (names_a, names_b) = (a.host_names().clone(), b.host_names().clone());
    assert_ne!(names_a.cgroup_dir, names_b.cgroup_dir);
    assert_ne!(names_a.bridge, names_b.bridge);
    assert_ne!(names_a.nft_table, names_b.nft_table);
    let b_cgroup = names_b.cgroup_dir.clone().expect("cgroup2");
    let b_pids = processes_in(&b_cgroup);
    assert!(!b_pids.is_empty(), "b's pod runs in b's cgroup");
    // a crashes and is reset, as a user would after a crash.
    a.kill9();
    let reset = integration::run(
        a.on_node(integration::kubicle_bin())
            .args(["reset", "--yes", "--data-dir"])
            .arg(&a.data_dir),
        None,
        wait(),
    );
    assert!(reset.ok(), "{}\n{}", reset.stdout, reset.stderr);
    assert!(
        !names_a.cgroup_dir.expect("cgroup2").exists(),
        "a's cgroup is gone"
    );
    // b's pod is the same process, untouched, and b's pod reports no restart.
    for pid in &b_pids {
        assert!(Path::new("/proc").join(pid).exists(), "b's process {pid}");
    }
    assert_eq!(processes_in(&b_cgroup), b_pids);
    assert_eq!(
        b.jsonpath(
            &["pod", "sleeper"],
            "{.status.phase} {.status.containerStatuses[0].restartCount}"
        ),
        "Running 0"
    );
}

#[test]
fn a_clusters_files_are_its_owners_alone_and_containers_get_the_usual_umask() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("private");
    c.kubectl(&[
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=k=secret",
    ])
    .success();
    // A non-root container reads the pod's /etc files and creates files as usual (022).
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: nonroot}\nspec:\n  securityContext: {runAsUser: 1000, runAsGroup: 1000}\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(pod))
        .success();
    wait_running(&c, "nonroot");
    let out = c.kubectl(&[
        "exec",
        "nonroot",
        "--",
        "sh",
        "-c",
        "umask; id -u; grep -c nameserver /etc/resolv.conf; grep -c nonroot /etc/hosts",
    ]);
    assert_eq!(out.success(), "0022\n1000\n1\n1\n");
    let mode = std::fs::metadata(&c.data_dir)
        .expect("data dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the data dir");
    let mut seen = 0;
    let mut public = Vec::new();
    walk(&c.data_dir, &mut |path, meta| {
        seen += 1;
        let mode = meta.permissions().mode() & 0o777;
        // The pod's /etc files are mounted into containers of any user, inside a 0700 tree.
        let pod_etc = path
            .parent()
            .and_then(Path::parent)
            .map(|p| p.ends_with("run/pods"))
            == Some(true)
            && ["resolv.conf", "hosts", "hostname"]
                .iter()
                .any(|f| path.ends_with(f));
        if mode & 0o077 != 0 && !pod_etc {
            public.push(format!("{:o} {}", mode, path.display()));
        }
    });
    assert!(seen > 10, "walked {seen} entries");
    assert!(public.is_empty(), "open to others: {public:#?}");
    for name in [
        "state.db",
        "state.db-wal",
        "pki/ca.key",
        "pki/token",
        "kubeconfig",
    ] {
        let mode = std::fs::metadata(c.data_dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

/// Calls `visit` for every entry under `dir`, not crossing into other file systems (the
/// pods' namespace bind mounts).
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let dev = std::fs::symlink_metadata(dir).map(|m| m.dev()).unwrap_or(0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        visit(&path, &meta);
        if meta.is_dir() {
            walk(&path, visit);
        }
    }
}

#[test]
fn the_serving_certificate_covers_the_gateway_for_a_year_under_a_ten_year_ca() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("cert");
    let port = c.address.rsplit(':').next().expect("port");
    let ca = c.data_dir.join("pki/ca.crt");
    // Where pods reach the API server (the `kubernetes` Service's endpoint): the gateway.
    let endpoint = c.jsonpath(
        &["endpoints", "kubernetes"],
        "{.subsets[0].addresses[0].ip}",
    );
    assert_eq!(endpoint, "10.244.0.1");
    for host in ["127.0.0.1", endpoint.as_str()] {
        let url = format!("https://{host}:{port}/version");
        let out = integration::run(
            c.on_node("curl")
                .args(["-sS", "--cacert"])
                .arg(&ca)
                .args(["-w", "%{certs}", &url]),
            None,
            wait(),
        );
        let text = out.success();
        let expire = days_left(text, "Expire date:");
        assert!((364..=365).contains(&expire), "{host}: {expire} days");
    }
    let out = integration::run(
        Command::new("openssl")
            .args(["x509", "-noout", "-enddate", "-in"])
            .arg(&ca),
        None,
        wait(),
    );
    let end = out
        .success()
        .trim()
        .trim_start_matches("notAfter=")
        .to_string();
    let years = years_from_now(&end);
    assert!((9..=10).contains(&years), "CA ends {end}");
}

/// Days from now until the date after `label` in curl's `%{certs}` (`2027-12-08 02:14:02 GMT`
/// form), read with `date`.
fn days_left(certs: &str, label: &str) -> i64 {
    let line = certs
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {certs}"));
    (epoch(line.trim()) - epoch("now")) / 86_400
}

fn years_from_now(date: &str) -> i64 {
    (epoch(date) - epoch("now")) / (365 * 86_400)
}

fn epoch(date: &str) -> i64 {
    let out = integration::run(
        Command::new("date").args(["-u", "+%s", "-d", date]),
        None,
        wait(),
    );
    out.success().trim().parse().expect("seconds")
}
