//! The raw command line. Values here are unchecked; [`crate::config::Config`] validates them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config;

/// A small, real Kubernetes-style cluster on one Linux host.
#[derive(Debug, Parser)]
#[command(name = "kubicle", version, about)]
pub(crate) struct Cli {
    /// Log format on stderr (the level comes from KUBICLE_LOG, default `info`).
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the cluster in the foreground (stop with Ctrl-C or SIGTERM).
    Up(UpArgs),
    /// Print the admin kubeconfig of a cluster.
    Kubeconfig(DataDirArgs),
    /// Print kubicle's version.
    Version,
    /// Remove everything a cluster made (its data directory).
    Reset(ResetArgs),
    /// Run a demo app of the examples: auth, users, tasks or client (image kubicle/demo).
    Demo(DemoArgs),
    /// Internal: the container init that podd re-executes (enters the pod, then execs).
    #[command(hide = true)]
    Init(InitArgs),
    /// Internal: PID 1 of a pod's shared PID namespace (reaps orphans, exits on SIGTERM).
    #[command(hide = true)]
    Pause,
}

/// The arguments of `kubicle demo`, passed on untouched (see `demo::USAGE`).
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// The app and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) args: Vec<String>,
}

/// Flags of the hidden `kubicle init` (see `podd::init`).
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The pod's network namespace.
    #[arg(long)]
    pub(crate) netns: PathBuf,
    /// The pod's IPC namespace.
    #[arg(long)]
    pub(crate) ipc: Option<PathBuf>,
    /// The pod's hostname.
    #[arg(long)]
    pub(crate) hostname: String,
    /// Files to bind over /etc/<name>.
    #[arg(long = "etc-file")]
    pub(crate) etc_files: Vec<PathBuf>,
    /// The pod's cgroup directory.
    #[arg(long)]
    pub(crate) cgroup: Option<PathBuf>,
    /// The working directory.
    #[arg(long)]
    pub(crate) working_dir: Option<PathBuf>,
    /// runAsUser.
    #[arg(long)]
    pub(crate) uid: Option<u32>,
    /// runAsGroup.
    #[arg(long)]
    pub(crate) gid: Option<u32>,
    /// Run the command as PID 1 of its own PID namespace.
    #[arg(long, conflicts_with = "pid_join")]
    pub(crate) pid_namespace: bool,
    /// Run the command in this existing PID namespace (a namespace file).
    #[arg(long)]
    pub(crate) pid_join: Option<PathBuf>,
    /// Join the namespaces of the running container whose init has this PID.
    #[arg(long)]
    pub(crate) join: Option<u32>,
    /// Internal: the second stage of --pid-namespace.
    #[arg(long)]
    pub(crate) stage2: bool,
    /// A pty to take as the controlling terminal.
    #[arg(long)]
    pub(crate) tty: Option<PathBuf>,
    /// The command.
    #[arg(last = true, required = true)]
    pub(crate) command: Vec<String>,
}

/// Flags of `kubicle up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where the cluster keeps its state, credentials and kubeconfig.
    #[arg(long, default_value = config::DATA_DIR, env = "KUBICLE_DATA_DIR")]
    pub(crate) data_dir: PathBuf,
    /// Address of the HTTPS API server (port 0 picks a free port).
    #[arg(long, default_value = config::LISTEN)]
    pub(crate) listen: String,
    /// Name of the cluster (in the kubeconfig and in host objects it makes).
    #[arg(long, default_value = "kubicle")]
    pub(crate) cluster_name: String,
    /// Pod network.
    #[arg(long, default_value = config::POD_CIDR)]
    pub(crate) pod_cidr: String,
    /// Service (ClusterIP) network.
    #[arg(long, default_value = config::SERVICE_CIDR)]
    pub(crate) service_cidr: String,
    /// Cluster DNS domain.
    #[arg(long, default_value = config::CLUSTER_DOMAIN)]
    pub(crate) cluster_domain: String,
    /// NodePort range, `first-last`.
    #[arg(long, default_value = config::NODE_PORT_RANGE)]
    pub(crate) node_port_range: String,
    /// Name of this node (default: the host name).
    #[arg(long)]
    pub(crate) node_name: Option<String>,
    /// This node's IPv4 address (default: the bridge's address when pods run, else the first
    /// non-loopback address of an interface that is up).
    #[arg(long)]
    pub(crate) node_ip: Option<String>,
    /// Do not run pods (API server and controllers only). Pods need root.
    #[arg(long)]
    pub(crate) no_pods: bool,
    /// Manifests to apply once the cluster runs (a file, or a folder's .yaml/.yml/.json
    /// files); a map of pods and Services is printed when everything is ready.
    #[arg(short = 'f', long = "filename")]
    pub(crate) filename: Option<PathBuf>,
    /// An extra address for the cluster DNS, for the host (e.g. 127.0.0.1:5353); pods use
    /// the kube-dns ClusterIP.
    #[arg(long)]
    pub(crate) dns_listen: Vec<String>,
    /// TTL of the cluster DNS's answers, in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) dns_ttl: u32,
    /// How ClusterIP traffic is carried: `userspace` (proxyd's listeners, which also try
    /// another endpoint when one refuses) or `nftables` (the kernel DNATs the ClusterIP ports
    /// it can serve exactly, as kube-proxy's nftables mode; the listeners serve the rest).
    #[arg(long, value_enum, default_value_t = ProxyMode::Userspace)]
    pub(crate) proxy_mode: ProxyMode,
    /// How often the store compacts its event log, as kube-apiserver's flag (a Go duration;
    /// 0 turns it off). Hidden: tests shorten it.
    #[arg(long, hide = true, default_value = "5m", value_parser = apiserver::store::parse_interval)]
    pub(crate) etcd_compaction_interval: std::time::Duration,
}

/// How ClusterIP traffic is carried (`--proxy-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProxyMode {
    /// proxyd's userspace listeners only.
    Userspace,
    /// The kernel (netd's nftables DNAT) where it can, the listeners for the rest.
    Nftables,
}

/// A command that only needs the data directory.
#[derive(Debug, Args)]
pub(crate) struct DataDirArgs {
    /// The cluster's data directory.
    #[arg(long, default_value = config::DATA_DIR, env = "KUBICLE_DATA_DIR")]
    pub(crate) data_dir: PathBuf,
}

/// Flags of `kubicle reset`.
#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    /// The cluster's data directory.
    #[arg(long, env = "KUBICLE_DATA_DIR")]
    pub(crate) data_dir: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub(crate) yes: bool,
}
