//! The entry points `kubicle demo <app>` calls: [`main`] (sync, owns the runtime and the
//! log output) and [`run`] (async, reads the process env, serves until SIGTERM or SIGINT).

use std::{process::ExitCode, time::Duration};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::{
    config::{App, Config},
    error::{Error, chain},
    server::Server,
};

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
pub const EX_USAGE: u8 = 64;

/// The usage text of `kubicle demo`.
pub const USAGE: &str = "\
usage: kubicle demo <app>

The demo apps of the examples (image kubicle/demo; pick one with the container's args,
e.g. args: [\"auth\"]):
  auth     hashes passwords, issues and verifies tokens       (port 80)
  users    POST /signup, POST /login, through auth            (port 8080)
  tasks    GET and POST /tasks with a token auth verifies     (port 8000)
  client   calls auth's /healthz every second; GET /check     (port 9000)

Environment:
  PORT                        the listen port, instead of the app's
  AUTH_ADDRESS                auth as host, host:port or IP (users, tasks, client)
  AUTH_SERVICE_SERVICE_HOST   with AUTH_SERVICE_SERVICE_PORT: auth when AUTH_ADDRESS is unset
  AUTH_SECRET                 auth's token signing key (default: a public dev key)
  AUTH_TOKEN_TTL_SECONDS      token lifetime (default 3600)
  KUBICLE_LOG                 log filter (default info)";

/// The app `args` names (`args` are what follows `kubicle demo`).
pub(crate) fn parse_args(args: &[String]) -> Result<App, Error> {
    match args {
        [] => Err(Error::Usage("missing app name".to_owned())),
        [flag] if matches!(flag.as_str(), "-h" | "--help" | "help") => {
            Err(Error::Usage(String::new()))
        }
        [name] => App::from_name(name).ok_or_else(|| Error::Usage(format!("unknown app {name:?}"))),
        [_, extra, ..] => Err(Error::Usage(format!("unexpected argument {extra:?}"))),
    }
}

/// How long an app keeps serving after SIGTERM before it closes its listener.
const TERM_DRAIN: Duration = Duration::from_millis(500);

/// Runs the app `args` names until SIGTERM or SIGINT, with its configuration from the process
/// environment. Expects a tokio runtime with IO and time enabled.
pub async fn run(args: &[String]) -> Result<(), Error> {
    let app = parse_args(args)?;
    let config = Config::from_process_env(app)?;
    let server = Server::bind(config).await?;
    let shutdown = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).map_err(|source| Error::Signal {
        signal: "SIGTERM",
        source,
    })?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|source| Error::Signal {
        signal: "SIGINT",
        source,
    })?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {
                // A pod's SIGTERM and the removal of its endpoints happen at the same time;
                // serving a little longer (what a preStop sleep does) lets the proxies stop
                // sending new connections before the listener closes.
                info!("got SIGTERM; serving {} ms more while the endpoints go", TERM_DRAIN.as_millis());
                tokio::time::sleep(TERM_DRAIN).await;
            }
            _ = interrupt.recv() => info!("got SIGINT"),
            () = on_signal.cancelled() => return,
        }
        on_signal.cancel();
    });
    let result = server.run(shutdown.clone()).await;
    shutdown.cancel();
    result
}

/// `kubicle demo <args>`: runs the app on its own runtime, logging plain text to stdout.
/// Usage and configuration errors exit with [`EX_USAGE`], others with 1.
pub fn main(args: &[String]) -> ExitCode {
    let app = match parse_args(args) {
        Ok(app) => app,
        Err(err) => {
            let reason = err.to_string();
            if reason.is_empty() {
                eprintln!("{USAGE}");
            } else {
                eprintln!("kubicle demo: {reason}\n\n{USAGE}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            eprintln!("kubicle demo {app}: {}", chain(&Error::Runtime { source }));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Blocking tasks (a password hash) are short; do not let one hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kubicle demo {app}: {}", chain(&err));
            if err.is_usage() {
                ExitCode::from(EX_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Plain text logs on stdout, filtered by `KUBICLE_LOG` (default `info`). If the caller
/// installed a subscriber already, that one stays.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBICLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn args_pick_the_app() {
        for app in App::ALL {
            assert_eq!(parse_args(&args(&[app.name()])).unwrap(), app);
        }
        for bad in [
            &[][..],
            &["--help"],
            &["-h"],
            &["help"],
            &["web"],
            &["auth", "extra"],
        ] {
            let err = parse_args(&args(bad)).unwrap_err();
            assert!(err.is_usage(), "{bad:?}");
        }
        assert_eq!(
            parse_args(&args(&["web"])).unwrap_err().to_string(),
            "unknown app \"web\""
        );
    }

    #[test]
    fn usage_exits_64() {
        assert_eq!(main(&args(&["--help"])), ExitCode::from(EX_USAGE));
        assert_eq!(main(&args(&["nope"])), ExitCode::from(EX_USAGE));
    }
}
