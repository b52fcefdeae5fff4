//! Containers supervised whatever dies (issue 12 item 6, root only): killing either stage of
//! a container's `kubicle init` ends all of its processes and the restart is clean; a pod
//! whose sandbox cannot be written is a `FailedCreatePodSandBox` event and never Running.
//! (A restart of `kubicle up` counting restarts: `pods::a_restarted_cluster_keeps_...`.)

use std::path::Path;

use integration::{Cluster, eventually, patience as wait, processes_in, root_or_skip};

/// A pod whose container is a shell (its PID 1, the second stage after exec) running a web
/// server in the background, so a process outlives the one podd watches unless something
/// ends it.
const WEB: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: c, image: kubicle/host, command: [sh, -c, 'python3 -m http.server 8080 --bind 0.0.0.0 & wait']}\n";

/// A process that exists and is not a zombie.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").starts_with(" Z"))
}

fn cmdline(pid: &str) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

fn parent(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The container's processes: its first-stage `kubicle init`, the second stage (the shell
/// it became) and the server, once all run.
struct Stages {
    first: String,
    second: String,
    server: String,
}

fn stages(cgroup: &Path) -> Option<Stages> {
    let pids = processes_in(cgroup);
    let first = pids.iter().find(|p| {
        let cmd = cmdline(p);
        cmd.get(1).is_some_and(|w| w == "init") && !cmd.iter().any(|w| w == "--stage2")
    })?;
    let second = pids.iter().find(|p| parent(p) == *first)?;
    let server = pids
        .iter()
        .find(|p| cmdline(p).first().is_some_and(|w| w == "python3"))?;
    Some(Stages {
        first: first.clone(),
        second: second.clone(),
        server: server.clone(),
    })
}

fn answers(c: &Cluster, ip: &str) -> bool {
    let url = format!("http://{ip}:8080/");
    integration::run(
        c.on_node("curl")
            .args(["-sf", "-o", "/dev/null", "-m", "2", &url]),
        None,
        wait(),
    )
    .ok()
}

#[test]
fn killing_either_init_stage_ends_the_container_and_it_restarts_cleanly() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("supervise-stages");
    let Some(cgroups) = c.host_names().cgroup_dir.clone() else {
        eprintln!("SKIPPED: needs cgroup2");
        return;
    };
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(WEB))
        .success();
    for (round, stage) in [(1, "first"), (2, "second")] {
        let (ip, uid) = eventually("web running", wait(), || {
            let out = c.jsonpath(
                &["pod", "web"],
                "{.status.phase} {.status.podIP} {.metadata.uid}",
            );
            let mut words = out.split(' ');
            let (phase, ip, uid) = (words.next()?, words.next()?, words.next()?);
            (phase == "Running").then(|| (ip.to_string(), uid.to_string()))
        });
        let cgroup = cgroups.join(&uid).join("c");
        let before = eventually("the container's processes, serving", wait(), || {
            stages(&cgroup).filter(|_| answers(&c, &ip))
        });
        let victim = if stage == "first" {
            &before.first
        } else {
            &before.second
        };
        integration::run(
            std::process::Command::new("kill").args(["-KILL", victim]),
            None,
            wait(),
        )
        .success();
        eventually(
            &format!("every process of the container gone after the {stage} stage's kill"),
            wait(),
            || {
                [&before.first, &before.second, &before.server]
                    .iter()
                    .all(|p| !alive(p))
                    .then_some(())
            },
        );
        // Restarted (after its back-off) on a free port: it serves again.
        eventually(&format!("restart {round}, serving"), wait() * 2, || {
            let count = c.jsonpath(
                &["pod", "web"],
                "{.status.containerStatuses[0].restartCount}",
            );
            let now = stages(&cgroup)?;
            (count == round.to_string() && now.server != before.server && answers(&c, &ip))
                .then_some(())
        });
        let logs = c.kubectl(&["logs", "web"]);
        assert!(
            !logs.stdout.contains("Address already in use"),
            "{}",
            logs.stdout
        );
    }
}

#[test]
fn a_sandbox_that_cannot_be_written_fails_and_is_never_running() {
    if !root_or_skip() {
        return;
    }
    let c = Cluster::start("supervise-full");
    // A full filesystem under the pods' files, in the cluster's own mount namespace.
    let pods = c.data_dir.join("run/pods");
    let filler = pods.join("filler");
    std::fs::create_dir_all(&pods).expect("the pods dir");
    integration::run(
        c.on_node("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "kubicle-full"])
            .arg(&pods),
        None,
        wait(),
    )
    .success();
    let mut fill = c.on_node("dd");
    fill.arg("if=/dev/zero")
        .arg(format!("of={}", filler.display()))
        .arg("bs=4k");
    let _ = integration::run(&mut fill, None, wait());
    let sleeper = "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: c, image: kubicle/host, command: [sleep, '3600']}]\n";
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(sleeper))
        .success();
    let failures = || -> Vec<String> {
        let path = "{range .items[?(@.reason==\"FailedCreatePodSandBox\")]}{.involvedObject.name} {.type} {.message}{\"\\n\"}{end}";
        c.jsonpath(&["events"], path)
            .lines()
            .map(str::to_string)
            .collect()
    };
    // Retried with back-off: a second attempt fails too, and the pod is not running.
    let events = eventually("two FailedCreatePodSandBox events", wait(), || {
        let events = failures();
        (events.len() >= 2).then_some(events)
    });
    for event in &events {
        assert!(
            event.starts_with("sleeper Warning Failed to create pod sandbox: ")
                && event.contains("No space left on device"),
            "{event}"
        );
    }
    assert_eq!(
        c.jsonpath(
            &["pod", "sleeper"],
            "{.status.phase} {.status.containerStatuses[0].state.waiting.reason}"
        ),
        "Pending ContainerCreating"
    );
    // Space freed: the next attempt makes the sandbox, with the pod's own files.
    integration::run(c.on_node("rm").arg(&filler), None, wait()).success();
    eventually("sleeper running and ready", wait(), || {
        let out = c.jsonpath(
            &["pod", "sleeper"],
            "{.status.phase} {.status.conditions[?(@.type==\"Ready\")].status}",
        );
        (out == "Running True").then_some(())
    });
    let hostname = c.kubectl(&["exec", "sleeper", "--", "cat", "/etc/hostname"]);
    assert_eq!(hostname.success().trim(), "sleeper");
    let resolv = c.kubectl(&["exec", "sleeper", "--", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv
            .success()
            .contains("search default.svc.cluster.local"),
        "{}",
        resolv.stdout
    );
    let uid = c.jsonpath(&["pod", "sleeper"], "{.metadata.uid}");
    for name in ["resolv.conf", "hosts", "hostname"] {
        let path = pods.join(&uid).join(name);
        let mode = integration::run(
            c.on_node("stat").args(["-c", "%a"]).arg(&path),
            None,
            wait(),
        );
        assert_eq!(mode.success().trim(), "644", "{}", path.display());
    }
}
