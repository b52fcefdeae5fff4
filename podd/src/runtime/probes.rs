//! The probes of a pod's running app containers: which are due, running them, and what their
//! verdicts do (readiness, or a kill that the restart policy then handles).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::Shared;
use crate::init::InitArgs;
use crate::probe::{Kind, Probe, Verdict};
use crate::status::Container;

/// A running app container's probes and what an exec probe needs.
pub(super) struct ProbeCtx {
    /// Its probes, with their schedules and counts.
    pub(super) probes: Vec<Probe>,
    /// The startup probe has succeeded (or there is none): the others may run.
    pub(super) started: bool,
    /// Init settings that join the container (exec probes).
    pub(super) init: InitArgs,
    /// The container's environment (exec probes).
    pub(super) env: Vec<(String, String)>,
    /// The container's first-stage init, whose process group a failed probe kills.
    pub(super) pid: i32,
    /// The container spec.
    pub(super) container: Value,
}

impl ProbeCtx {
    /// When the next of its probes that may run is due.
    fn next_at(&self) -> Option<tokio::time::Instant> {
        self.probes
            .iter()
            .filter(|p| self.started || p.kind == Kind::Startup)
            .map(|p| p.next_at)
            .min()
    }
}

/// When the next probe of any container is due.
pub(super) fn next_at(probes: &HashMap<usize, ProbeCtx>) -> Option<tokio::time::Instant> {
    probes.values().filter_map(ProbeCtx::next_at).min()
}

/// Runs the probes that are due. A failed startup or liveness probe kills the container
/// (its exit then goes through the restart policy); readiness sets `ready`. Returns whether
/// the status changed.
pub(super) async fn run_due(
    shared: &Shared,
    probes: &mut HashMap<usize, ProbeCtx>,
    containers: &mut [Container],
    ip: Ipv4Addr,
) -> bool {
    let now = tokio::time::Instant::now();
    let due: Vec<(usize, usize)> = probes
        .iter()
        .flat_map(|(index, ctx)| {
            ctx.probes
                .iter()
                .enumerate()
                .filter(|(_, p)| p.next_at <= now && (ctx.started || p.kind == Kind::Startup))
                .map(|(i, _)| (*index, i))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut changed = false;
    for (index, i) in due {
        let Some(ctx) = probes.get_mut(&index) else {
            continue;
        };
        let result = run_one(shared, ctx, i, ip).await;
        let kind = ctx.probes[i].kind;
        let verdict = ctx.probes[i].record(result.is_ok());
        let status = &mut containers[index];
        if let Err(why) = &result {
            tracing::debug!(container = %status.name, ?kind, %why, "probe failed");
        }
        match (kind, verdict) {
            (Kind::Startup, Verdict::Succeeded) => ctx.started = true,
            (Kind::Startup | Kind::Liveness, Verdict::Failed) => {
                tracing::info!(container = %status.name, ?kind, "probe failed: restarting the container");
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(ctx.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            (Kind::Readiness, Verdict::Succeeded) if !status.ready => {
                status.ready = true;
                changed = true;
            }
            (Kind::Readiness, Verdict::Failed) if status.ready => {
                status.ready = false;
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

/// Runs probe `i` of a container within its timeout.
async fn run_one(shared: &Shared, ctx: &ProbeCtx, i: usize, ip: Ipv4Addr) -> Result<(), String> {
    let probe = &ctx.probes[i];
    let timeout = probe.timeout();
    let run = crate::probe::run(
        &probe.spec,
        &ctx.container,
        ip.into(),
        &shared.config.kubicle_exe,
        &ctx.init,
        &ctx.env,
    );
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("timeout after {}s", timeout.as_secs())),
    }
}
