//! Container logs for `kubectl logs`: podd writes each container's stdout and stderr to
//! `<state dir>/<pod uid>/<container>.log` (the previous instance's to `.previous.log`) and
//! serves them to the API server through `apiserver::streams::NodeStreams`.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver::ApiError;
use apiserver::streams::{ByteStream, LogOptions, NodeStreams, choose_container};
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

/// The last `n` lines of `text`.
fn tail(text: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &text[text.len()..];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut count = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            count += 1;
            if count == n {
                return &text[i + 1..];
            }
        }
    }
    text
}

impl NodeStreams for PodLogs {
    fn log(&self, pod: &Value, options: &LogOptions) -> Result<ByteStream, ApiError> {
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
        let offset = text.len() as u64;
        let mut first = match options.tail_lines {
            Some(n) => tail(&text, n).to_vec(),
            None => text,
        };
        let mut budget = options.limit_bytes.unwrap_or(usize::MAX);
        first.truncate(budget);
        budget -= first.len();
        let key = (uid, container);
        let follow = options.follow && !options.previous && budget > 0;
        let running = self.running.clone();
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
                        let _ = (&mut s.file).take(s.budget as u64).read_to_end(&mut more);
                    }
                    if !more.is_empty() {
                        s.offset += more.len() as u64;
                        s.budget -= more.len();
                        if s.budget == 0 {
                            s.follow = false;
                        }
                        return Some((Ok(Bytes::from(more)), s));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }
}
