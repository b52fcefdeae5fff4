//! Pod and container status as the kubelet reports them (`pkg/kubelet/status`,
//! `kubelet_pods.go` `generateAPIPodStatus`): phase, conditions, podIP(s), container states.

use serde_json::{Value, json};

/// The state of one container, as podd tracks it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running: `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, ...
    Waiting {
        /// Reason.
        reason: String,
        /// Message.
        message: String,
    },
    /// Running since the time given (RFC 3339).
    Running {
        /// Start time.
        started_at: String,
    },
    /// Exited.
    Terminated {
        /// Exit code (128 + signal for a signal).
        exit_code: i32,
        /// `Completed` or `Error`.
        reason: String,
        /// Start time.
        started_at: String,
        /// Exit time.
        finished_at: String,
    },
}

impl State {
    fn to_json(&self) -> Value {
        match self {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if !message.is_empty() {
                    w["message"] = json!(message);
                }
                json!({"waiting": w})
            }
            State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            State::Terminated {
                exit_code,
                reason,
                started_at,
                finished_at,
            } => json!({"terminated": {
                "exitCode": exit_code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at}}),
        }
    }
}

/// One container's status.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// Container name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Current state.
    pub state: State,
    /// The previous termination, if any.
    pub last: Option<State>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Readiness (no readiness probe: ready while running).
    pub ready: bool,
}

impl Container {
    fn to_json(&self) -> Value {
        let running = matches!(self.state, State::Running { .. });
        json!({
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "containerID": format!("kubicle://{}", self.name),
            "state": self.state.to_json(),
            "lastState": self.last.as_ref().map(State::to_json).unwrap_or_else(|| json!({})),
            "restartCount": self.restart_count,
            "ready": self.ready && running,
            "started": running,
        })
    }
}

/// What podd knows about a pod.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The pod IP, once the sandbox exists.
    pub pod_ip: Option<String>,
    /// The node IP.
    pub host_ip: String,
    /// When podd started the pod (RFC 3339).
    pub start_time: String,
    /// Init containers, in order.
    pub init: Vec<Container>,
    /// App containers.
    pub containers: Vec<Container>,
}

impl Observed {
    /// A pod whose sandbox is being made: app containers `ContainerCreating`, init
    /// containers `PodInitializing`, nothing run yet. A container that ran before (kubicle
    /// restarted: its processes were stopped) keeps its restart count, plus one for the
    /// start to come, as the kubelet counts the containers it starts again after a reboot.
    pub fn creating(pod: &Value, host_ip: std::net::Ipv4Addr, now: &str) -> Observed {
        let list = |field: &str, statuses: &str, reason: &str| -> Vec<Container> {
            let before = pod["status"][statuses].as_array();
            pod["spec"][field]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or("");
                    let previous = before
                        .into_iter()
                        .flatten()
                        .find(|s| s["name"].as_str() == Some(name));
                    let (restart_count, last) = carried_over(previous, now);
                    Container {
                        name: name.to_string(),
                        image: c["image"].as_str().unwrap_or("").to_string(),
                        state: State::Waiting {
                            reason: reason.into(),
                            message: String::new(),
                        },
                        last,
                        restart_count,
                        ready: false,
                    }
                })
                .collect()
        };
        Observed {
            pod_ip: None,
            host_ip: host_ip.to_string(),
            start_time: now.to_string(),
            init: list("initContainers", "initContainerStatuses", "PodInitializing"),
            containers: list("containers", "containerStatuses", "ContainerCreating"),
        }
    }
}

/// The restart count and last termination a container keeps from its status before a
/// restart of kubicle (`now`: when its processes were stopped). One that ran (running or
/// terminated) starts again, which counts as a restart; a running one was killed (SIGKILL:
/// exit 137). One that was waiting keeps what it had (a back-off already counted).
fn carried_over(previous: Option<&Value>, now: &str) -> (u32, Option<State>) {
    let Some(previous) = previous else {
        return (0, None);
    };
    let count = previous["restartCount"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let state = &previous["state"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    if let Some(running) = state.get("running") {
        let killed = State::Terminated {
            exit_code: 137,
            reason: "Error".into(),
            started_at: text(&running["startedAt"]),
            finished_at: now.to_string(),
        };
        return (count.saturating_add(1), Some(killed));
    }
    let terminated = |t: &Value| State::Terminated {
        exit_code: t["exitCode"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(0),
        reason: text(&t["reason"]),
        started_at: text(&t["startedAt"]),
        finished_at: text(&t["finishedAt"]),
    };
    match state.get("terminated") {
        Some(t) => (count.saturating_add(1), Some(terminated(t))),
        None => (
            count,
            previous["lastState"].get("terminated").map(terminated),
        ),
    }
}

/// The phase: Pending until every app container has started, Succeeded/Failed when all
/// have terminated and none will restart, Running otherwise (`getPhase`).
pub fn phase(restart_policy: &str, observed: &Observed) -> &'static str {
    let all = &observed.containers;
    if all.is_empty()
        || observed
            .init
            .iter()
            .any(|c| !matches!(c.state, State::Terminated { exit_code: 0, .. }))
    {
        return "Pending";
    }
    let running = all
        .iter()
        .filter(|c| matches!(c.state, State::Running { .. }))
        .count();
    let waiting = all
        .iter()
        .filter(|c| matches!(c.state, State::Waiting { .. }))
        .count();
    let failed = all
        .iter()
        .filter(|c| matches!(c.state, State::Terminated { exit_code, .. } if exit_code != 0))
        .count();
    if waiting > 0 && running == 0 && all.iter().all(|c| c.restart_count == 0 && c.last.is_none()) {
        return "Pending";
    }
    if running > 0 || waiting > 0 {
        return "Running";
    }
    match restart_policy {
        "Always" => "Running",
        _ if failed > 0 => "Failed",
        _ => "Succeeded",
    }
}

/// The pod's QoS class (`pkg/apis/core/v1/helper/qos`): Guaranteed when every container
/// limits CPU and memory with requests equal to the limits (unset requests default to them),
/// BestEffort when no container requests or limits anything, Burstable otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|field| pod["spec"][*field].as_array().into_iter().flatten())
        .collect();
    let set = |v: &Value| v.as_object().is_some_and(|m| !m.is_empty());
    if containers
        .iter()
        .all(|c| !set(&c["resources"]["requests"]) && !set(&c["resources"]["limits"]))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let (requests, limits) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        ["cpu", "memory"].iter().all(|r| {
            limits[*r].is_string() && (requests[*r].is_null() || requests[*r] == limits[*r])
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The full pod status.
pub fn pod_status(pod: &Value, observed: &Observed, now: &str) -> Value {
    let restart_policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let phase = phase(restart_policy, observed);
    let initialized = observed
        .init
        .iter()
        .all(|c| matches!(c.state, State::Terminated { exit_code: 0, .. }));
    let ready = initialized
        && !observed.containers.is_empty()
        && observed
            .containers
            .iter()
            .all(|c| c.ready && matches!(c.state, State::Running { .. }));
    let previous = &pod["status"]["conditions"];
    let condition = |kind: &str, ok: bool| {
        let status = if ok { "True" } else { "False" };
        let since = previous
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|c| c["type"] == kind && c["status"] == status)
            })
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(now)
            .to_string();
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since})
    };
    let mut status = json!({
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", observed.pod_ip.is_some()),
            condition("Initialized", initialized),
            condition("Ready", ready),
            condition("ContainersReady", ready),
            condition("PodScheduled", true),
        ],
        "hostIP": observed.host_ip,
        "hostIPs": [{"ip": observed.host_ip}],
        "startTime": observed.start_time,
        "containerStatuses": observed.containers.iter().map(Container::to_json).collect::<Vec<_>>(),
        "qosClass": qos_class(pod),
    });
    if !observed.init.is_empty() {
        status["initContainerStatuses"] = json!(
            observed
                .init
                .iter()
                .map(Container::to_json)
                .collect::<Vec<_>>()
        );
    }
    if let Some(ip) = &observed.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: State, restarts: u32) -> Container {
        Container {
            name: "c".into(),
            image: "i".into(),
            state,
            last: None,
            restart_count: restarts,
            ready: true,
        }
    }

    #[test]
    fn a_restart_of_kubicle_counts_the_containers_it_starts_again() {
        let t = |code: i32, reason: &str| State::Terminated {
            exit_code: code,
            reason: reason.into(),
            started_at: "s".into(),
            finished_at: "f".into(),
        };
        let ended = json!({"exitCode": 1, "reason": "Error", "startedAt": "s", "finishedAt": "f"});
        let cases = [
            (json!(null), 0, None),
            (
                json!({"restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}),
                0,
                None,
            ),
            (
                json!({"restartCount": 2, "state": {"running": {"startedAt": "s"}}}),
                3,
                Some(State::Terminated {
                    exit_code: 137,
                    reason: "Error".into(),
                    started_at: "s".into(),
                    finished_at: "now".into(),
                }),
            ),
            (
                json!({"restartCount": 0, "state": {"terminated": ended}}),
                1,
                Some(t(1, "Error")),
            ),
            (
                json!({"restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": ended}}),
                4,
                Some(t(1, "Error")),
            ),
        ];
        for (previous, count, last) in cases {
            let pod = json!({
                "spec": {"containers": [{"name": "c", "image": "i"}]},
                "status": {"containerStatuses": [
                    {"name": "other", "restartCount": 9, "state": {"running": {}}},
                    if previous.is_null() { json!({"name": "new"}) } else {
                        let mut p = previous.clone();
                        p["name"] = json!("c");
                        p
                    },
                ]},
            });
            let observed = Observed::creating(&pod, std::net::Ipv4Addr::LOCALHOST, "now");
            let c = &observed.containers[0];
            assert_eq!((c.restart_count, &c.last), (count, &last), "{previous}");
            assert_eq!(
                c.state,
                State::Waiting {
                    reason: "ContainerCreating".into(),
                    message: String::new()
                }
            );
        }
    }

    #[test]
    fn qos_classes() {
        let pod = |resources: Value| json!({"spec": {"containers": [{"resources": resources}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        let unequal = json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "1Gi"}});
        assert_eq!(qos_class(&pod(unequal)), "Burstable");
        assert_eq!(
            qos_class(&pod(json!({"requests": {"memory": "1Gi"}}))),
            "Burstable"
        );
    }

    #[test]
    fn phases() {
        let running = State::Running {
            started_at: "t".into(),
        };
        let done = |code| State::Terminated {
            exit_code: code,
            reason: "Completed".into(),
            started_at: "t".into(),
            finished_at: "t".into(),
        };
        let waiting = State::Waiting {
            reason: "ContainerCreating".into(),
            message: String::new(),
        };
        let observed = |states: Vec<Container>| Observed {
            containers: states,
            ..Observed::default()
        };
        assert_eq!(
            phase("Always", &observed(vec![container(waiting.clone(), 0)])),
            "Pending"
        );
        assert_eq!(
            phase("Always", &observed(vec![container(running.clone(), 0)])),
            "Running"
        );
        assert_eq!(
            phase("Never", &observed(vec![container(done(0), 0)])),
            "Succeeded"
        );
        assert_eq!(
            phase("Never", &observed(vec![container(done(1), 0)])),
            "Failed"
        );
        assert_eq!(
            phase("Always", &observed(vec![container(waiting, 2)])),
            "Running",
            "crash loop"
        );
        let mut init_pending = observed(vec![container(running, 0)]);
        init_pending.init = vec![container(
            State::Running {
                started_at: "t".into(),
            },
            0,
        )];
        assert_eq!(phase("Always", &init_pending), "Pending");
    }

    #[test]
    fn ready_needs_every_container_running_and_keeps_transition_times() {
        let pod = json!({"spec": {"restartPolicy": "Always"},
                         "status": {"conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "early"}]}});
        let observed = Observed {
            pod_ip: Some("10.244.0.2".into()),
            host_ip: "10.244.0.1".into(),
            start_time: "t".into(),
            init: vec![],
            containers: vec![container(
                State::Running {
                    started_at: "t".into(),
                },
                0,
            )],
        };
        let status = pod_status(&pod, &observed, "now");
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["podIP"], "10.244.0.2");
        let ready = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .expect("ready");
        assert_eq!(ready["status"], "True");
        let scheduled = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"))
            .expect("scheduled");
        assert_eq!(scheduled["lastTransitionTime"], "early");
    }
}
