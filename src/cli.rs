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
    /// Manage the node's images: import archives, list, remove, prune.
    Image(ImageArgs),
    /// Run a demo app of the examples: auth, users, tasks or client (image kubicle/demo).
    Demo(DemoArgs),
    /// Internal: the container init that podd re-executes (enters the pod, then execs).
    #[command(hide = true)]
    Init(podd::init::InitArgs),
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
    /// kube-apiserver's flag: the most read-only requests served at once (long-running ones
    /// and health probes aside); more get 429. 0: no limit.
    #[arg(long, default_value_t = 400)]
    pub(crate) max_requests_inflight: usize,
    /// kube-apiserver's flag: the most mutating requests served at once; more get 429.
    /// 0: no limit.
    #[arg(long, default_value_t = 200)]
    pub(crate) max_mutating_requests_inflight: usize,
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

/// `kubicle image`.
#[derive(Debug, Args)]
pub(crate) struct ImageArgs {
    /// The cluster's data directory.
    #[arg(long, default_value = config::DATA_DIR, env = "KUBICLE_DATA_DIR", global = true)]
    pub(crate) data_dir: PathBuf,
    #[command(subcommand)]
    pub(crate) command: ImageCommand,
}

/// The subcommands of `kubicle image`.
#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Import images from docker-archive or oci-archive files (plain, gzip or zstd; `-` reads
    /// stdin), as `docker save`, `podman save` and `skopeo copy` write them; they are pinned.
    Import {
        /// The archives.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The repository of images an OCI archive names by a tag alone (`v1` becomes
        /// `<base-name>:v1`), as `ctr import --base-name`.
        #[arg(long)]
        base_name: Option<String>,
    },
    /// Pull an image from its registry (or the mirrors of `<data-dir>/registries.yaml`).
    Pull {
        /// The image (`nginx`, `localhost:5000/app:v1`, ...).
        image: String,
        /// Credentials, `user:password`.
        #[arg(long)]
        creds: Option<String>,
    },
    /// List the images.
    #[command(alias = "list")]
    Ls,
    /// Remove images by name.
    #[command(alias = "remove")]
    Rm {
        /// The names (`nginx`, `docker.io/library/nginx:latest`, ...).
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove the blobs no image uses.
    Prune,
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    #[test]
    fn kubicle_init_parses_what_podd_writes() {
        let args = podd::init::InitArgs {
            netns: "/data/run/netns/uid".into(),
            ipc: Some("/data/run/pods/uid/ipc".into()),
            hostname: "web-0".into(),
            etc_files: vec!["/data/run/pods/uid/hosts".into()],
            cgroup: Some("/sys/fs/cgroup/kubicle-c/uid".into()),
            working_dir: None,
            uid: Some(1000),
            gid: None,
            pid: podd::init::PidNamespace::New,
            join: None,
            stage2: false,
            tty: None,
            command: vec!["sh".into(), "-c".into(), "--log-format=json".into()],
        };
        let line = std::iter::once("kubicle".into()).chain(args.to_args());
        match Cli::try_parse_from(line).map(|cli| cli.command) {
            Ok(Command::Init(parsed)) => assert_eq!(parsed, args),
            other => panic!("not kubicle init: {other:?}"),
        }
    }
}
