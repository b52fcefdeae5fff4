//! `kubicle`: one binary that runs a small, real Kubernetes-style cluster on one Linux host.
//!
//! Layout, in reading order:
//! - `cli.rs`: the raw command line (clap).
//! - `config.rs`: the validated [`config::Config`]; nothing binds or writes before it exists.
//! - `data_dir.rs`: the data directory's lock, the cluster's identity and its host objects' names.
//! - `supervisor.rs`: `kubicle up`, which starts every component and stops them on a signal.
//! - `apply.rs`: `kubicle up -f`, manifests applied after start and the map printed once ready.
//! - `image.rs`: `kubicle image`, the node's image store.

mod apply;
mod cli;
mod config;
mod data_dir;
mod image;
mod supervisor;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let cli = match cli::Cli::try_parse() {
        // The container init runs before anything else: no runtime, no threads, no logging
        // set-up that could touch the container's stdout.
        Ok(cli::Cli {
            command: cli::Command::Init(args),
            ..
        }) => return container_init(args),
        // A demo app owns its runtime and logs to stdout (the container log).
        Ok(cli::Cli {
            command: cli::Command::Demo(args),
            ..
        }) => return demo::main(&args.args),
        Ok(cli::Cli {
            command: cli::Command::Pause,
            ..
        }) => return ExitCode::from(u8::try_from(podd::init::pause()).unwrap_or(1)),
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.log_format);
    // Every file a cluster writes (database, WAL, keys, logs) is its owner's alone from its
    // first byte; files meant for containers are given their modes explicitly.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    match run(cli, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("kubicle: {e:#}");
            ExitCode::from(EX_USAGE)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("kubicle: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `kubicle init`: enter the pod and exec the container command; on failure say why on
/// stderr (the container log) and exit 127, as a shell does for a command it cannot run.
fn container_init(init: podd::init::InitArgs) -> ExitCode {
    match podd::init::run(&init) {
        // The container's PID 1 exited: pass its code on, as the container's own.
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(error) => {
            eprintln!("kubicle init: {:#}", anyhow::Error::new(error));
            ExitCode::from(127)
        }
    }
}

/// Why a command failed: the user's input (exit 64) or the run itself (exit 1).
enum Failure {
    Usage(anyhow::Error),
    Runtime(anyhow::Error),
}

fn run(cli: cli::Cli, started: std::time::Instant) -> Result<(), Failure> {
    match cli.command {
        cli::Command::Up(args) => {
            let config = config::Config::from_args(args).map_err(Failure::Usage)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("kubicle")
                .build()
                .map_err(|e| {
                    Failure::Runtime(anyhow::Error::new(e).context("start the async runtime"))
                })?;
            runtime
                .block_on(supervisor::run(config, started))
                .map_err(Failure::Runtime)
        }
        cli::Command::Kubeconfig(args) => {
            let path = args.data_dir.join("kubeconfig");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Failure::Runtime(anyhow::Error::new(e).context(format!(
                    "read {} (has `kubicle up --data-dir {}` run yet?)",
                    path.display(),
                    args.data_dir.display()
                )))
            })?;
            print_stdout(&text);
            Ok(())
        }
        cli::Command::Version => {
            print_stdout(&format!(
                "kubicle {} (Kubernetes API v1.33)\n",
                env!("CARGO_PKG_VERSION")
            ));
            Ok(())
        }
        cli::Command::Init(args) => {
            let _ = container_init(args);
            Err(Failure::Runtime(anyhow::anyhow!(
                "kubicle init could not start the container"
            )))
        }
        cli::Command::Demo(_) => Err(Failure::Usage(anyhow::anyhow!(
            "kubicle demo runs before any other set-up"
        ))),
        cli::Command::Pause => Err(Failure::Runtime(anyhow::anyhow!(
            "kubicle pause runs only as a pod's PID 1"
        ))),
        cli::Command::Image(args) => {
            let text = image::run(args).map_err(Failure::Runtime)?;
            print_stdout(&text);
            Ok(())
        }
        cli::Command::Reset(args) => {
            supervisor::reset(&args.data_dir, args.yes).map_err(|e| match e {
                supervisor::ResetError::NotConfirmed | supervisor::ResetError::NotADataDir(_) => {
                    Failure::Usage(anyhow::Error::new(e))
                }
                other => Failure::Runtime(anyhow::Error::new(other)),
            })
        }
    }
}

/// Prints to stdout; a closed pipe (`kubicle kubeconfig | head -1`) is not an error.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("kubicle: write to stdout: {e}");
    }
}

fn init_tracing(format: cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let wanted = std::env::var("KUBICLE_LOG").unwrap_or_else(|_| "info".into());
    // hickory-server logs every DNS request at info: quiet it unless asked for by name.
    let wanted = if wanted.contains("hickory") {
        wanted
    } else {
        format!("{wanted},hickory_server=warn")
    };
    let filter = EnvFilter::try_new(&wanted).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Text => builder.init(),
        cli::LogFormat::Json => builder.json().init(),
    }
}
