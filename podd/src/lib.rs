//! podd: kubicle's kubelet. It runs the pods bound to this node as network namespaces (made
//! by netd) holding container processes, and reports their status through the API.
//!
//! Layout, in reading order:
//! - `runtime.rs`: [`run`], the pod informer loop and one worker task per pod; its
//!   `worker.rs` runs a pod's containers (starts, exits, retries, graceful termination) and
//!   `probes.rs` their probes.
//! - `restart.rs`: what follows a container's exit (restart policy, CrashLoopBackOff), pure.
//! - `spawn.rs`: starting a container process through `kubicle init` and its images.
//! - `init.rs`: the re-executed container init (namespaces, /etc files, exec; joining a
//!   running container for exec), and `kubicle pause`.
//! - `cgroup.rs`: the pods' cgroups (finding cgroup2, killing everything in one).
//! - `env.rs`: service links and container environment (`$(VAR)` expansion, refs).
//! - `dns_config.rs`: resolv.conf, hosts and hostname as the kubelet writes them.
//! - `status.rs`: pod and container status as the kubelet reports it.
//! - `ipc.rs`: the pod's IPC namespace, shared by its containers.
//! - `sandbox.rs`: a pod's sandbox (IP, netns, /etc files, IPC namespace, cgroup, and the
//!   pause process of a pod with one PID namespace), made and removed as one.
//! - `limits.rs`: memory and CPU limits on the pod's cgroup, or a warning.
//! - `probe.rs`: startup, liveness and readiness probes (httpGet, tcpSocket, exec).
//! - `logs.rs`: container log files and `kubectl logs` (`-f`, `--tail`, `--previous`).
//!
//! **Architecture Invariant:** podd owns pod status; it reads pods and services only through
//! `apiserver::Api` informers and writes status through `Api::replace_status`.

pub mod cgroup;
pub mod dns_config;
pub mod env;
pub mod init;
pub mod ipc;
pub mod limits;
pub mod logs;
pub mod probe;
pub mod restart;
pub mod runtime;
pub mod sandbox;
pub mod spawn;
pub mod status;

pub use runtime::{Config, run};
