//! Probes as the kubelet runs them (`pkg/kubelet/prober`): httpGet, tcpSocket and exec, with
//! their timing fields, and the result bookkeeping (thresholds) of one probe of one container.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::init::InitArgs;

/// When a container's first probe runs, after its `initialDelaySeconds`.
const FIRST_PROBE_AFTER: Duration = Duration::from_millis(100);
/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `startupProbe`: the others wait for it; failure restarts the container.
    Startup,
    /// `livenessProbe`: failure restarts the container.
    Liveness,
    /// `readinessProbe`: decides `ready`.
    Readiness,
}

impl Kind {
    /// The field of the container spec.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Startup => "startupProbe",
            Kind::Liveness => "livenessProbe",
            Kind::Readiness => "readinessProbe",
        }
    }
}

/// One probe of one container, with its counters.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Which probe.
    pub kind: Kind,
    /// The probe spec (defaults applied by the API server).
    pub spec: Value,
    /// When it runs next.
    pub next_at: Instant,
    successes: u32,
    failures: u32,
}

/// What a probe's result changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet (below the threshold).
    Pending,
    /// The success threshold was reached.
    Succeeded,
    /// The failure threshold was reached.
    Failed,
}

fn seconds(spec: &Value, field: &str, default: i64) -> Duration {
    Duration::from_secs(spec[field].as_i64().unwrap_or(default).max(0) as u64)
}

impl Probe {
    /// The probes of `container`, the first run after `initialDelaySeconds` from `started`.
    pub fn of(container: &Value, started: Instant) -> Vec<Probe> {
        // The kubelet's probe worker ticks from the pod's admission, so a container's first
        // probe falls somewhere in its first period; kubicle probes first a moment after the
        // exec (when a server has had time to bind), not at the instant it cannot have.
        [Kind::Startup, Kind::Liveness, Kind::Readiness]
            .into_iter()
            .filter(|kind| container[kind.field()].is_object())
            .map(|kind| {
                let spec = container[kind.field()].clone();
                Probe {
                    kind,
                    next_at: started + seconds(&spec, "initialDelaySeconds", 0) + FIRST_PROBE_AFTER,
                    spec,
                    successes: 0,
                    failures: 0,
                }
            })
            .collect()
    }

    /// Records one result and schedules the next run.
    pub fn record(&mut self, ok: bool) -> Verdict {
        self.next_at =
            Instant::now() + seconds(&self.spec, "periodSeconds", 10).max(Duration::from_secs(1));
        if ok {
            self.failures = 0;
            self.successes += 1;
            let threshold = self.spec["successThreshold"].as_u64().unwrap_or(1).max(1) as u32;
            if self.successes >= threshold {
                Verdict::Succeeded
            } else {
                Verdict::Pending
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            let threshold = self.spec["failureThreshold"].as_u64().unwrap_or(3).max(1) as u32;
            if self.failures >= threshold {
                Verdict::Failed
            } else {
                Verdict::Pending
            }
        }
    }

    /// The probe's timeout.
    pub fn timeout(&self) -> Duration {
        seconds(&self.spec, "timeoutSeconds", 1).max(Duration::from_secs(1))
    }
}

/// A named port of the container, or a number.
fn port(value: &Value, container: &Value) -> Option<u16> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(name) => container["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == *name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|p| u16::try_from(p).ok()),
        _ => None,
    }
}

/// Runs one probe: `Ok(())` on success, `Err(why)` on failure. `exec` probes run through
/// `kubicle init` with `init`, which joins the running container (see [`InitArgs::joining`]).
pub async fn run(
    spec: &Value,
    container: &Value,
    pod_ip: IpAddr,
    kubicle_exe: &std::path::Path,
    init: &InitArgs,
    env: &[(String, String)],
) -> Result<(), String> {
    if let Some(http) = spec.get("httpGet").filter(|v| v.is_object()) {
        let port = port(&http["port"], container).ok_or("httpGet: unknown port")?;
        let host: IpAddr = http["host"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .unwrap_or(pod_ip);
        let path = http["path"].as_str().unwrap_or("/");
        if http["scheme"].as_str() == Some("HTTPS") {
            return Err("httpGet: scheme HTTPS is not supported by kubicle's prober yet".into());
        }
        let mut stream = tokio::net::TcpStream::connect(SocketAddr::new(host, port))
            .await
            .map_err(|e| format!("Get \"http://{host}:{port}{path}\": {e}"))?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
        );
        for header in http["httpHeaders"].as_array().into_iter().flatten() {
            request.push_str(&format!(
                "{}: {}\r\n",
                header["name"].as_str().unwrap_or(""),
                header["value"].as_str().unwrap_or("")
            ));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&head[..n]);
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or("httpGet: no HTTP status")?;
        return if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {code}"))
        };
    }
    if let Some(tcp) = spec.get("tcpSocket").filter(|v| v.is_object()) {
        let port = port(&tcp["port"], container).ok_or("tcpSocket: unknown port")?;
        let host: IpAddr = tcp["host"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .unwrap_or(pod_ip);
        return tokio::net::TcpStream::connect(SocketAddr::new(host, port))
            .await
            .map(|_| ())
            .map_err(|e| format!("dial tcp {host}:{port}: {e}"));
    }
    if let Some(exec) = spec.get("exec").filter(|v| v.is_object()) {
        let command: Vec<String> = exec["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut args = init.clone();
        args.command = command;
        let mut child = tokio::process::Command::new(kubicle_exe)
            .args(args.to_args())
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        return if status.success() {
            Ok(())
        } else {
            Err(format!(
                "command exited with {}",
                status.code().unwrap_or(-1)
            ))
        };
    }
    Err("the probe has no handler kubicle supports (grpc is not supported yet)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn thresholds() {
        let container = json!({"readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 2, "successThreshold": 2}});
        let start = Instant::now();
        let mut probes = Probe::of(&container, start);
        assert_eq!(probes.len(), 1);
        let probe = &mut probes[0];
        assert_eq!(
            probe.next_at,
            start + Duration::from_secs(5) + FIRST_PROBE_AFTER
        );
        assert_eq!(probe.record(true), Verdict::Pending);
        assert_eq!(probe.record(true), Verdict::Succeeded);
        assert_eq!(probe.record(false), Verdict::Pending);
        assert_eq!(probe.record(false), Verdict::Failed);
        assert_eq!(probe.next_at, Instant::now() + Duration::from_secs(2));
    }

    #[tokio::test]
    async fn tcp_and_http_against_a_local_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let container = json!({"ports": [{"name": "web", "containerPort": port}]});
        let init = InitArgs {
            netns: "/x".into(),
            ipc: None,
            hostname: "h".into(),
            etc_files: vec![],
            cgroup: None,
            working_dir: None,
            uid: None,
            gid: None,
            pid: crate::init::PidNamespace::Inherit,
            join: None,
            stage2: false,
            tty: None,
            command: vec![],
        };
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let exe = std::path::Path::new("/nonexistent");
        assert!(
            run(
                &json!({"tcpSocket": {"port": "web"}}),
                &container,
                ip,
                exe,
                &init,
                &[]
            )
            .await
            .is_ok()
        );
        let http = run(
            &json!({"httpGet": {"port": port, "path": "/healthz"}}),
            &container,
            ip,
            exe,
            &init,
            &[],
        )
        .await;
        assert_eq!(
            http,
            Err("HTTP probe failed with statuscode: 503".to_string())
        );
        assert!(
            run(
                &json!({"tcpSocket": {"port": 1}}),
                &container,
                ip,
                exe,
                &init,
                &[]
            )
            .await
            .is_err()
        );
    }
}
