//! What follows a container's exit, as a pure decision: the pod's `restartPolicy` (init
//! containers restart unless it is `Never`), and the kubelet's CrashLoopBackOff delay
//! (`pkg/kubelet/kuberuntime` `doBackOff`: 10 s doubling to 5 min, afresh after a run of
//! 10 minutes).

use std::time::Duration;

use serde_json::Value;

/// A pod's `spec.restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restart every container that exits (the default).
    Always,
    /// Restart containers that fail.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// The policy of `pod` (`Always` when unset).
    pub fn of(pod: &Value) -> RestartPolicy {
        match pod["spec"]["restartPolicy"].as_str() {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }
}

/// Which list of the pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `initContainers`: run to completion, in order, before the app containers.
    Init,
    /// `containers`.
    App,
}

/// What to do after a container exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// An init container succeeded: start the next one, or the app containers.
    InitDone,
    /// Start it again after the back-off delay.
    Restart {
        /// The delay.
        after: Duration,
    },
    /// It stays terminated.
    Stay,
}

/// A run at least this long starts the back-off afresh (the kubelet's back-off entry expires
/// after twice its 5-minute cap).
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// The decision after a container of `kind` exited with `code` after running for `ran_for`,
/// having been restarted `restarts` times before.
pub fn on_exit(
    policy: RestartPolicy,
    kind: Kind,
    code: i32,
    ran_for: Duration,
    restarts: u32,
) -> Next {
    let restart = match (kind, policy) {
        (Kind::Init, _) if code == 0 => return Next::InitDone,
        (Kind::Init, RestartPolicy::Never) => false,
        (Kind::Init, _) => true,
        (Kind::App, RestartPolicy::Always) => true,
        (Kind::App, RestartPolicy::OnFailure) => code != 0,
        (Kind::App, RestartPolicy::Never) => false,
    };
    if !restart {
        return Next::Stay;
    }
    let after = if ran_for > BACKOFF_RESET {
        backoff(1)
    } else {
        backoff(restarts + 1)
    };
    Next::Restart { after }
}

/// The restart delay after `restarts` crashes: 10 s doubling to 5 min (kubelet `backOff`).
pub fn backoff(restarts: u32) -> Duration {
    Duration::from_secs((10u64 << restarts.saturating_sub(1).min(5)).min(300))
}

/// The delay before attempt `attempt + 1` at making a pod's sandbox: 1 s doubling to the
/// kubelet's pod worker back-off of 10 s (`workerBackOffPeriod`), which it waits between
/// syncs of a pod whose sandbox failed.
pub fn sandbox_retry(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.saturating_sub(1).min(4)).min(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::{App, Init};
    use RestartPolicy::{Always, Never, OnFailure};

    const SHORT: Duration = Duration::from_secs(3);
    const LONG: Duration = Duration::from_secs(601);

    fn restart(secs: u64) -> Next {
        Next::Restart {
            after: Duration::from_secs(secs),
        }
    }

    #[test]
    fn exits() {
        #[rustfmt::skip]
        let cases = [
            // policy, kind, code, ran for, restarts so far => next
            (Always, App, 0, SHORT, 0, restart(10)),
            (Always, App, 1, SHORT, 0, restart(10)),
            (Always, App, 137, SHORT, 1, restart(20)),
            (Always, App, 1, SHORT, 4, restart(160)),
            (Always, App, 1, SHORT, 9, restart(300)),
            (Always, App, 1, LONG, 9, restart(10)),
            (OnFailure, App, 0, SHORT, 0, Next::Stay),
            (OnFailure, App, 2, SHORT, 2, restart(40)),
            (Never, App, 0, SHORT, 0, Next::Stay),
            (Never, App, 1, SHORT, 0, Next::Stay),
            (Always, Init, 0, SHORT, 3, Next::InitDone),
            (Never, Init, 0, SHORT, 0, Next::InitDone),
            (Always, Init, 1, SHORT, 0, restart(10)),
            (OnFailure, Init, 1, LONG, 5, restart(10)),
            (Never, Init, 1, SHORT, 0, Next::Stay),
        ];
        for (policy, kind, code, ran_for, restarts, next) in cases {
            assert_eq!(
                on_exit(policy, kind, code, ran_for, restarts),
                next,
                "{policy:?} {kind:?} exit {code} after {ran_for:?}, {restarts} restarts"
            );
        }
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn sandbox_retries_double_to_ten_seconds() {
        let secs: Vec<u64> = (1..=7).map(|n| sandbox_retry(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10, 10]);
    }

    #[test]
    fn policies() {
        let pod = |p: &str| serde_json::json!({"spec": {"restartPolicy": p}});
        assert_eq!(RestartPolicy::of(&pod("Never")), Never);
        assert_eq!(RestartPolicy::of(&pod("OnFailure")), OnFailure);
        assert_eq!(RestartPolicy::of(&pod("Always")), Always);
        assert_eq!(RestartPolicy::of(&serde_json::json!({})), Always);
    }
}
