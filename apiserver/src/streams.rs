//! The node's streams behind `pods/log` (and, later, `exec` and `portforward`): the API
//! server serves the URL, the pod runtime (podd) provides the bytes through [`NodeStreams`].
//!
//! **API Boundary:** the apiserver knows nothing about where logs live; podd registers its
//! implementation with [`crate::Api::set_node_streams`] at start.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;

use crate::status::ApiError;

/// `PodLogOptions` as the query of `GET .../pods/<name>/log` carries them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    /// The container (`container=`); required when the pod has several.
    pub container: Option<String>,
    /// `follow=true`: keep streaming until the container ends.
    pub follow: bool,
    /// `previous=true`: the log of the previous instance (before the last restart).
    pub previous: bool,
    /// `tailLines=N`: only the last N lines.
    pub tail_lines: Option<usize>,
    /// `limitBytes=N`: stop after N bytes.
    pub limit_bytes: Option<usize>,
    /// `sinceSeconds=N` or `sinceTime=T`: only lines logged at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// `timestamps=true`: each line starts with the time it was logged (RFC 3339).
    pub timestamps: bool,
}

/// A stream of log bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// `PodExecOptions` as the query of `.../pods/<name>/exec` carries them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecOptions {
    /// The container.
    pub container: Option<String>,
    /// The command (`command=` repeated).
    pub command: Vec<String>,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client asked for a TTY (stderr then goes to stdout).
    pub tty: bool,
}

/// What the pod runtime offers the API server.
pub trait NodeStreams: Send + Sync + std::fmt::Debug {
    /// The log of one container of `pod`.
    fn log(&self, pod: &Value, options: &LogOptions) -> Result<ByteStream, ApiError>;
    /// Starts a command in one container of `pod` (its namespaces, environment and user).
    fn exec(&self, pod: &Value, options: &ExecOptions) -> Result<ExecProcess, ApiError>;
}

/// A command started for `kubectl exec`: its process and its streams (with a TTY, one
/// terminal carries input and output and there is no separate stderr).
pub struct ExecProcess {
    /// The process, to wait for its exit code.
    pub child: tokio::process::Child,
    /// What the client types (`None` without `stdin=true`).
    pub input: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    /// Standard output (or the terminal).
    pub output: Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    /// Standard error (`None` with a TTY).
    pub errors: Option<Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
    /// Sets the terminal's size in (columns, rows) (`None` without a TTY).
    pub resize: Option<Box<dyn FnMut(u16, u16) + Send>>,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProcess")
            .field("child", &self.child)
            .finish_non_exhaustive()
    }
}

/// The container a log request means: the one named, or the pod's only one (kubectl names
/// the container itself when there are several).
pub fn choose_container(pod: &Value, wanted: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let names: Vec<&str> = ["initContainers", "containers"]
        .iter()
        .flat_map(|field| pod["spec"][*field].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect();
    match wanted {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            let containers: Vec<&str> = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect();
            match containers.as_slice() {
                [one] => Ok(one.to_string()),
                many => Err(ApiError::BadRequest(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                ))),
            }
        }
    }
}
