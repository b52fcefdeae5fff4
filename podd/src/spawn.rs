//! Starting one container: its image resolved to a command, then `kubicle init` started with
//! the container's environment, in its own process group, logging to a file.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::init::InitArgs;

/// The images kubicle runs without a registry.
pub const DEMO_IMAGE: &str = "kubicle/demo";
/// Commands from the host's root filesystem.
pub const HOST_IMAGE: &str = "kubicle/host";

/// The image's name without tag or digest.
fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => without_digest,
    }
}

/// Why a container has no command line, as the kubelet's waiting reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoCommand {
    /// `InvalidImageName`: the reference does not parse (the kubelet's message).
    InvalidImageName(String),
    /// `ErrImagePull`: an image kubicle cannot run.
    Unavailable(String),
}

/// The command line a container runs, or why there is none. `kubicle/demo` runs the demo
/// apps built into the kubicle executable (its args pick the app); `kubicle/host` runs
/// `command` + `args` from the host filesystem.
pub fn command_line(container: &Value, kubicle_exe: &Path) -> Result<Vec<String>, NoCommand> {
    let strings = |field: &str| -> Vec<String> {
        container[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let image = container["image"].as_str().unwrap_or("");
    let (command, args) = (strings("command"), strings("args"));
    match image_name(image) {
        DEMO_IMAGE => {
            let mut line = vec![kubicle_exe.display().to_string(), "demo".to_string()];
            line.extend(command);
            line.extend(args);
            Ok(line)
        }
        HOST_IMAGE => {
            let mut line = command;
            line.extend(args);
            if line.is_empty() {
                return Err(NoCommand::Unavailable("the image kubicle/host runs a command from the host's filesystem: set the container's command".into()));
            }
            Ok(line)
        }
        // The kubelet's `applyDefaultImageTag` (`pkg/kubelet/images/image_manager.go`).
        _ => match images::Reference::for_pull(image) {
            Err(e) => Err(NoCommand::InvalidImageName(format!(
                "Failed to apply default image tag {image:?}: couldn't parse image name {image:?}: {e}"
            ))),
            Ok(_) => Err(NoCommand::Unavailable(format!(
                "image {image:?} is not available: kubicle does not run images yet (`kubicle image` stores them) and runs only {DEMO_IMAGE} (the built-in demo apps) and {HOST_IMAGE} (a command from the host's filesystem)"
            ))),
        },
    }
}

/// The default PATH of a container whose environment sets none (what container runtimes use).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A started container process and the task copying its output into its log.
#[derive(Debug)]
pub struct Started {
    /// `kubicle init` (the container's first stage).
    pub child: tokio::process::Child,
    /// Ends when the container's stdout and stderr have both closed and are in the log.
    pub log_copy: tokio::task::JoinHandle<()>,
}

/// Starts `kubicle init` for one container. The process leads its own process group, so
/// signals reach everything it starts; its stdout and stderr go through pipes into `log` in
/// the CRI format ([`crate::logs::cri`]).
pub fn start(
    kubicle_exe: &Path,
    init: &InitArgs,
    env: &[(String, String)],
    log: &PathBuf,
) -> std::io::Result<Started> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = tokio::process::Command::new(kubicle_exe);
    command
        .args(init.to_args())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if !env.iter().any(|(k, _)| k == "PATH") {
        command.env("PATH", DEFAULT_PATH);
    }
    let mut child = command.spawn()?;
    let log_copy = tokio::spawn(crate::logs::cri::copy(
        child.stdout.take(),
        child.stderr.take(),
        file,
    ));
    Ok(Started { child, log_copy })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images() {
        let exe = Path::new("/usr/bin/kubicle");
        let demo = json!({"image": "kubicle/demo:latest", "args": ["auth"]});
        assert_eq!(
            command_line(&demo, exe),
            Ok(vec![
                "/usr/bin/kubicle".into(),
                "demo".into(),
                "auth".into()
            ])
        );
        let host = json!({"image": "kubicle/host", "command": ["sleep"], "args": ["1"]});
        assert_eq!(
            command_line(&host, exe),
            Ok(vec!["sleep".into(), "1".into()])
        );
        assert!(command_line(&json!({"image": "kubicle/host"}), exe).is_err());
        let nginx = command_line(&json!({"image": "nginx:1.27"}), exe).expect_err("no registry");
        assert!(
            matches!(&nginx, NoCommand::Unavailable(m) if m.contains("kubicle/demo") && m.contains("\"nginx:1.27\"")),
            "{nginx:?}"
        );
        assert_eq!(
            command_line(&json!({"image": "Nginx"}), exe),
            Err(NoCommand::InvalidImageName(
                "Failed to apply default image tag \"Nginx\": couldn't parse image name \"Nginx\": invalid reference format: repository name (library/Nginx) must be lowercase".into()
            ))
        );
        assert_eq!(image_name("registry:5000/x/y:1"), "registry:5000/x/y");
    }
}
