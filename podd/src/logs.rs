//! Container logs for `kubectl logs`: podd copies each container's stdout and stderr into
//! `<state dir>/<pod uid>/<container>.log` in the CRI format (`cri.rs`; the previous
//! instance's log is `.previous.log`) and serves them to the API server through
//! `apiserver::streams::NodeStreams`, with `--tail`, `--since`, `--timestamps`,
//! `--limit-bytes`, `--previous` and `-f`.

pub mod cri;

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver::ApiError;
use apiserver::streams::{ByteStream, ExecProcess, LogOptions, NodeStreams, choose_container};
use bytes::Bytes;
use serde_json::Value;

/// The containers running now, by (pod uid, container name): a follow ends when its
/// container is no longer in it.
pub type Running = Arc<Mutex<HashSet<(String, String)>>>;

/// podd's log files, served to the API server.
#[derive(Debug, Clone)]
pub struct PodLogs {
    /// Where the pods' files live.
    pub state_dir: PathBuf,
    /// What runs now.
    pub running: Running,
}

/// The log file of a container (or of its previous instance).
pub fn log_path(
    state_dir: &std::path::Path,
    uid: &str,
    container: &str,
    previous: bool,
) -> PathBuf {
    let suffix = if previous { "previous.log" } else { "log" };
    state_dir.join(uid).join(format!("{container}.{suffix}"))
}

/// How to start a process in a running container: init settings that join it
/// ([`crate::init::InitArgs::joining`]) and its environment, by (pod uid, container name).
pub type ExecTargets = Arc<
    Mutex<
        std::collections::HashMap<(String, String), (crate::init::InitArgs, Vec<(String, String)>)>,
    >,
>;

/// podd's [`NodeStreams`]: container logs and exec.
#[derive(Debug, Clone)]
pub struct PodStreams {
    /// The log files.
    pub logs: PodLogs,
    /// The running containers' exec settings.
    pub targets: ExecTargets,
    /// The kubicle executable (`kubicle init`).
    pub kubicle_exe: PathBuf,
}

impl NodeStreams for PodStreams {
    fn log(&self, pod: &Value, options: &LogOptions) -> Result<ByteStream, ApiError> {
        self.logs.log(pod, options)
    }

    fn exec(
        &self,
        pod: &Value,
        options: &apiserver::streams::ExecOptions,
    ) -> Result<ExecProcess, ApiError> {
        let container = choose_container(pod, options.container.as_deref())?;
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        if options.command.is_empty() {
            return Err(ApiError::BadRequest(
                "you must specify at least one command for the container".into(),
            ));
        }
        let Some((mut init, env)) = self
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(uid, container.clone()))
            .cloned()
        else {
            return Err(ApiError::BadRequest(format!(
                "container {container} is not valid for pod {name}: it is not running"
            )));
        };
        // The target joins the running container's namespaces (`InitArgs::joining`).
        init.command = options.command.clone();
        init.working_dir = init.working_dir.filter(|d| d.exists());
        let failed = |e: std::io::Error| {
            ApiError::Internal(format!("start the exec in {name}/{container}: {e}"))
        };
        let mut command = tokio::process::Command::new(&self.kubicle_exe);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        if !env.iter().any(|(k, _)| k == "PATH") {
            command.env("PATH", crate::spawn::DEFAULT_PATH);
        }
        if options.tty {
            // One terminal for input and output; the init makes it the controlling one.
            let winsize = nix::pty::Winsize {
                ws_row: 24,
                ws_col: 80,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let pty = nix::pty::openpty(&winsize, None).map_err(|e| failed(e.into()))?;
            init.tty = Some(nix::unistd::ttyname(&pty.slave).map_err(|e| failed(e.into()))?);
            if !env.iter().any(|(k, _)| k == "TERM") {
                command.env("TERM", "xterm");
            }
            let slave = std::fs::File::from(pty.slave);
            command
                .args(init.to_args())
                .stdin(slave.try_clone().map_err(failed)?)
                .stdout(slave.try_clone().map_err(failed)?)
                .stderr(slave);
            let child = command.spawn().map_err(failed)?;
            let master = std::fs::File::from(pty.master);
            let writer = tokio::fs::File::from_std(master.try_clone().map_err(failed)?);
            let terminal = master.try_clone().map_err(failed)?;
            let resize = move |columns: u16, rows: u16| {
                let size = rustix::termios::Winsize {
                    ws_row: rows,
                    ws_col: columns,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                if let Err(e) = rustix::termios::tcsetwinsize(&terminal, size) {
                    tracing::debug!(error = %e, "resize the exec's terminal");
                }
            };
            return Ok(ExecProcess {
                child,
                input: options.stdin.then(|| {
                    Box::pin(writer) as std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>
                }),
                output: Box::pin(tokio::fs::File::from_std(master)),
                errors: None,
                resize: Some(Box::new(resize)),
            });
        }
        command
            .args(init.to_args())
            .stdin(if options.stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().map_err(failed)?;
        let input = child
            .stdin
            .take()
            .map(|p| Box::pin(p) as std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>);
        let output = child
            .stdout
            .take()
            .ok_or_else(|| ApiError::Internal("exec stdout".into()))?;
        let errors = child
            .stderr
            .take()
            .map(|p| Box::pin(p) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>);
        Ok(ExecProcess {
            child,
            input,
            output: Box::pin(output),
            errors,
            resize: None,
        })
    }
}

impl PodLogs {
    /// The log of one container of `pod`.
    // ApiError is the API's one error type, returned by value on every handler path; its size
    // is the same here as behind the NodeStreams trait this serves.
    #[allow(clippy::result_large_err)]
    pub fn log(&self, pod: &Value, options: &LogOptions) -> Result<ByteStream, ApiError> {
        let container = choose_container(pod, options.container.as_deref())?;
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let path = log_path(&self.state_dir, &uid, &container, options.previous);
        let mut file = std::fs::File::open(&path).map_err(|_| {
            if options.previous {
                ApiError::BadRequest(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
            } else {
                let reason = pod["status"]["containerStatuses"]
                    .as_array()
                    .and_then(|s| s.iter().find(|c| c["name"] == container.as_str()))
                    .and_then(|c| c["state"]["waiting"]["reason"].as_str())
                    .unwrap_or("ContainerCreating");
                ApiError::BadRequest(format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
                ))
            }
        })?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .map_err(|e| ApiError::Internal(format!("read {}: {e}", path.display())))?;
        // Only whole entries: a follow goes on after the last newline.
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let offset = whole as u64;
        let mut first = render(&text[..whole], options);
        let mut budget = options.limit_bytes.unwrap_or(usize::MAX);
        first.truncate(budget);
        budget -= first.len();
        let key = (uid, container);
        let follow = options.follow && !options.previous && budget > 0;
        let running = self.running.clone();
        let timestamps = options.timestamps;
        struct Follow {
            file: std::fs::File,
            offset: u64,
            budget: usize,
            first: Option<Vec<u8>>,
            follow: bool,
        }
        let state = Follow {
            file,
            offset,
            budget,
            first: Some(first),
            follow,
        };
        let stream = futures_util::stream::unfold(state, move |mut s| {
            let running = running.clone();
            let key = key.clone();
            async move {
                if let Some(first) = s.first.take() {
                    if !first.is_empty() || s.follow {
                        return Some((Ok(Bytes::from(first)), s));
                    }
                }
                if !s.follow {
                    return None;
                }
                loop {
                    let alive = running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains(&key);
                    let mut more = Vec::new();
                    if s.file.seek(SeekFrom::Start(s.offset)).is_ok() {
                        let _ = s.file.read_to_end(&mut more);
                    }
                    let whole = more.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                    if whole > 0 {
                        s.offset += whole as u64;
                        let mut out = Vec::new();
                        for entry in more[..whole].split(|b| *b == b'\n').filter_map(cri::parse) {
                            entry.render(timestamps, &mut out);
                        }
                        out.truncate(s.budget);
                        s.budget -= out.len();
                        if s.budget == 0 {
                            s.follow = false;
                        }
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), s));
                        }
                    }
                    if !alive {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

/// What `kubectl logs` shows of a log file's whole entries: those at or after `since`, the
/// last `tail_lines` lines of them, with their times for `timestamps`.
fn render(text: &[u8], options: &LogOptions) -> Vec<u8> {
    let entries: Vec<cri::Entry<'_>> = text
        .split(|b| *b == b'\n')
        .filter_map(cri::parse)
        .filter(|e| options.since.is_none_or(|since| e.time >= since))
        .collect();
    // A line is its partial entries and the full one that ends it.
    let skip = match options.tail_lines {
        Some(n) => {
            let mut lines = 0;
            let mut start = entries.len();
            for (i, entry) in entries.iter().enumerate().rev() {
                if entry.full {
                    if lines == n {
                        break;
                    }
                    lines += 1;
                }
                start = i;
            }
            if n == 0 { entries.len() } else { start }
        }
        None => 0,
    };
    let mut out = Vec::new();
    for entry in &entries[skip..] {
        entry.render(options.timestamps, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_since_and_timestamps() {
        let file = b"2026-11-26T10:00:00.000000000Z stdout F one\n\
2026-11-26T10:00:01.000000000Z stderr P tw\n\
2026-11-26T10:00:01.000000000Z stderr F o\n\
2026-11-26T10:00:02.000000000Z stdout F three\n";
        let show = |tail_lines, since: Option<&str>, timestamps| {
            let options = LogOptions {
                tail_lines,
                since: since.and_then(|s| s.parse().ok()),
                timestamps,
                ..LogOptions::default()
            };
            String::from_utf8(render(file, &options)).expect("utf-8")
        };
        assert_eq!(show(None, None, false), "one\ntwo\nthree\n");
        assert_eq!(show(Some(2), None, false), "two\nthree\n");
        assert_eq!(show(Some(0), None, false), "");
        assert_eq!(show(Some(9), None, false), "one\ntwo\nthree\n");
        assert_eq!(
            show(None, Some("2026-11-26T10:00:01Z"), false),
            "two\nthree\n"
        );
        assert_eq!(
            show(Some(1), None, true),
            "2026-11-26T10:00:02.000000000Z three\n"
        );
    }
}
