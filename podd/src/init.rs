//! The container init: a re-executed copy of the kubicle binary (`kubicle init`, the runc-init
//! pattern) that puts itself into the pod's namespaces and then `exec`s the container command.
//!
//! It runs in a fresh, single-threaded process, so it may call `setns(2)` and `unshare(2)`
//! for namespaces that refuse multi-threaded callers, and nothing it changes (mounts,
//! hostname) leaks into the server. The server never does this work in a `pre_exec` hook.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, setns, unshare};

/// What `kubicle init` is told to do (all paths absolute). It is also the parser of the
/// hidden `kubicle init` command (`src/cli.rs`), so [`InitArgs::to_args`] and the parser are
/// the one contract between podd and the init it starts.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct InitArgs {
    /// The pod's network namespace (a bind mount under the cluster's run dir).
    #[arg(long)]
    pub netns: PathBuf,
    /// The pod's IPC namespace (a bind mount), shared by its containers.
    #[arg(long)]
    pub ipc: Option<PathBuf>,
    /// The pod's hostname (UTS namespace).
    #[arg(long)]
    pub hostname: String,
    /// Files bind-mounted over `/etc/<name>` in the container's own mount namespace
    /// (`resolv.conf`, `hosts`, `hostname`).
    #[arg(long = "etc-file")]
    pub etc_files: Vec<PathBuf>,
    /// The pod's cgroup directory; the init joins it before exec.
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// The working directory.
    #[arg(long)]
    pub working_dir: Option<PathBuf>,
    /// `runAsUser`.
    #[arg(long)]
    pub uid: Option<u32>,
    /// `runAsGroup` (default: the user's, 0 for root).
    #[arg(long)]
    pub gid: Option<u32>,
    /// The PID namespace the command runs in: `inherit`, `new`, or a namespace file to join.
    #[arg(long, default_value = "inherit")]
    pub pid: PidNamespace,
    /// The first-stage init of a running container (its host PID): enter that container's
    /// IPC, UTS, network and mount namespaces and the PID namespace of its children instead
    /// of making new ones (`kubectl exec`, exec probes). The pod's netns, IPC, hostname and
    /// files above are then the container's already.
    #[arg(long)]
    pub join: Option<u32>,
    /// Internal: this is the second stage, already in the container's PID namespace.
    #[arg(long)]
    pub stage2: bool,
    /// A terminal (the slave side of a pty) to make the command's controlling terminal.
    #[arg(long)]
    pub tty: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Which PID namespace a container's command runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidNamespace {
    /// The one `kubicle init` was started in.
    Inherit,
    /// A new one, with the command as its PID 1 (each container, by default).
    New,
    /// An existing one, named by a namespace file such as `/proc/<pid>/ns/pid_for_children`
    /// (`shareProcessNamespace`: the pod's, whose PID 1 is its pause process).
    Join(PathBuf),
}

impl std::str::FromStr for PidNamespace {
    type Err = String;

    /// `inherit`, `new`, or the absolute path of a namespace file (`--pid`).
    fn from_str(s: &str) -> Result<PidNamespace, String> {
        match s {
            "inherit" => Ok(PidNamespace::Inherit),
            "new" => Ok(PidNamespace::New),
            path if path.starts_with('/') => Ok(PidNamespace::Join(path.into())),
            other => Err(format!(
                "{other:?} is not inherit, new or the absolute path of a namespace file"
            )),
        }
    }
}

/// Why the init could not start the container command.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The pod's netns could not be opened or entered.
    #[error("enter the pod network namespace {path}")]
    EnterNetns {
        /// The netns path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The pod's IPC namespace could not be opened or entered.
    #[error("enter the pod IPC namespace {path}")]
    EnterIpc {
        /// The namespace's bind mount.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A namespace of a running container (or the pod's PID namespace) could not be entered.
    #[error("enter the namespace {path}")]
    Enter {
        /// The namespace file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A namespace could not be created.
    #[error("unshare {what}")]
    Unshare {
        /// Which namespaces.
        what: &'static str,
        /// The cause.
        source: nix::Error,
    },
    /// Setting the hostname failed.
    #[error("set hostname {hostname:?}")]
    Hostname {
        /// The hostname.
        hostname: String,
        /// The cause.
        source: nix::Error,
    },
    /// A mount failed.
    #[error("mount {what}")]
    Mount {
        /// What was being mounted.
        what: String,
        /// The cause.
        source: nix::Error,
    },
    /// Joining the cgroup failed.
    #[error("join cgroup {path}")]
    Cgroup {
        /// The cgroup directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The working directory does not exist.
    #[error("change to the working directory {path}")]
    WorkingDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Dropping to `runAsUser`/`runAsGroup` failed.
    #[error("switch to uid {uid} gid {gid}")]
    Credentials {
        /// The user.
        uid: u32,
        /// The group.
        gid: u32,
        /// The cause.
        source: nix::Error,
    },
    /// The terminal could not become the controlling terminal.
    #[error("take {path} as the controlling terminal")]
    Terminal {
        /// The pty.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The second stage (PID 1 of the new PID namespace) could not be started.
    #[error("start the container's PID 1")]
    Stage2 {
        /// The cause.
        source: std::io::Error,
    },
    /// The command is empty or holds a NUL byte.
    #[error("invalid command {0:?}")]
    Command(Vec<String>),
    /// `execvp` failed (not found, not executable).
    #[error("exec {command:?}")]
    Exec {
        /// The program.
        command: String,
        /// The cause.
        source: nix::Error,
    },
}

impl InitArgs {
    /// The settings that start another process in the running container whose first-stage
    /// init is `pid` (an exec or an exec probe): it joins that container's namespaces.
    pub fn joining(&self, pid: u32) -> InitArgs {
        InitArgs {
            pid: PidNamespace::Inherit,
            join: Some(pid),
            stage2: false,
            tty: None,
            command: Vec::new(),
            ..self.clone()
        }
    }

    /// The arguments of `kubicle init` that carry these settings: what [`InitArgs`] parses
    /// back to the same value.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["init".into()];
        // `--name=value` in one word, so a value starting with `-` is never taken for a flag.
        let mut flag = |name: &str, value: &OsStr| {
            let mut word = OsString::from(format!("--{name}="));
            word.push(value);
            args.push(word);
        };
        flag("netns", self.netns.as_os_str());
        flag("hostname", OsStr::new(&self.hostname));
        if let Some(ipc) = &self.ipc {
            flag("ipc", ipc.as_os_str());
        }
        for file in &self.etc_files {
            flag("etc-file", file.as_os_str());
        }
        if let Some(cgroup) = &self.cgroup {
            flag("cgroup", cgroup.as_os_str());
        }
        if let Some(dir) = &self.working_dir {
            flag("working-dir", dir.as_os_str());
        }
        if let Some(uid) = self.uid {
            flag("uid", OsStr::new(&uid.to_string()));
        }
        if let Some(gid) = self.gid {
            flag("gid", OsStr::new(&gid.to_string()));
        }
        match &self.pid {
            PidNamespace::Inherit => {}
            PidNamespace::New => flag("pid", OsStr::new("new")),
            PidNamespace::Join(path) => flag("pid", path.as_os_str()),
        }
        if let Some(pid) = self.join {
            flag("join", OsStr::new(&pid.to_string()));
        }
        if let Some(tty) = &self.tty {
            flag("tty", tty.as_os_str());
        }
        if self.stage2 {
            args.push("--stage2".into());
        }
        args.push("--".into());
        args.extend(self.command.iter().map(OsString::from));
        args
    }
}

/// Enters the pod, then replaces this process with the container command. The environment
/// is the one this process was started with (podd computes it).
///
/// With a PID namespace to make or join, the work takes two processes, because a process
/// never changes its own PID namespace, only its *children's* (pid_namespaces(7)): this first
/// stage enters every other namespace, unshares or joins the PID namespace and starts a
/// second `kubicle init` there, which mounts its `/proc` (in a new mount namespace), drops
/// privileges and execs. The first stage then waits and returns the command's exit code
/// (`Ok`) for the caller to exit with. Without one, `Ok` is never returned: the process
/// becomes the command.
pub fn run(args: &InitArgs) -> Result<i32, InitError> {
    if args.stage2 {
        return Err(stage2(args));
    }
    // Our own executable, found while /proc is still the host's.
    let exe = std::env::current_exe().map_err(|source| InitError::Stage2 { source })?;
    let pid_namespace = match args.join {
        Some(pid) => Some(join(args, pid)?),
        None => {
            enter(args)?;
            match &args.pid {
                PidNamespace::Inherit => None,
                PidNamespace::New => {
                    unshare(CloneFlags::CLONE_NEWPID).map_err(|source| InitError::Unshare {
                        what: "pid namespace",
                        source,
                    })?;
                    Some(())
                }
                PidNamespace::Join(path) => {
                    enter_namespace(path, CloneFlags::CLONE_NEWPID)?;
                    Some(())
                }
            }
        }
    };
    if pid_namespace.is_some() {
        return relay(args, &exe);
    }
    finish(args)?;
    Err(exec(&args.command))
}

/// Opens a namespace file and enters it.
fn enter_namespace(path: &Path, kind: CloneFlags) -> Result<(), InitError> {
    let failed = |source| InitError::Enter {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    setns(file.as_fd(), kind).map_err(|e| failed(e.into()))
}

/// Enters the namespaces of the running container whose first stage is `pid`: every file
/// is opened first, as the container's mount namespace has a `/proc` of its own.
fn join(args: &InitArgs, pid: u32) -> Result<(), InitError> {
    join_cgroup(args)?;
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid_for_children", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut files = Vec::new();
    for (name, kind) in kinds {
        let path = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let file = std::fs::File::open(&path).map_err(|source| InitError::Enter {
            path: path.clone(),
            source,
        })?;
        files.push((path, file, kind));
    }
    for (path, file, kind) in files {
        setns(file.as_fd(), kind).map_err(|e| InitError::Enter {
            path,
            source: e.into(),
        })?;
    }
    // The working directory still points into the host's mount namespace.
    nix::unistd::chdir("/").map_err(|source| InitError::WorkingDir {
        path: "/".into(),
        source,
    })
}

/// The signals the first stage leaves to PID 1: blocked here (so a stop reaches only the
/// container's process), unblocked again by the second stage before exec.
fn relayed_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(signal);
    }
    set
}

fn relay(args: &InitArgs, exe: &Path) -> Result<i32, InitError> {
    relayed_signals()
        .thread_block()
        .map_err(|source| InitError::Unshare {
            what: "signal mask",
            source,
        })?;
    let mut second = args.clone();
    second.stage2 = true;
    second.pid = PidNamespace::Inherit;
    let status = std::process::Command::new(exe)
        .args(second.to_args())
        .status()
        .map_err(|source| InitError::Stage2 { source })?;
    Ok(status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    }))
}

fn stage2(args: &InitArgs) -> InitError {
    if let Err(source) = relayed_signals().thread_unblock() {
        return InitError::Unshare {
            what: "signal mask",
            source,
        };
    }
    // This process is in the container's PID namespace: its /proc shows only that namespace.
    // A joined container has that /proc mounted already.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if args.join.is_none() {
        if let Err(source) = mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>) {
            return InitError::Mount {
                what: "proc on /proc".into(),
                source,
            };
        }
    }
    if let Err(e) = finish(args) {
        return e;
    }
    // The command dies with the first stage (a SIGKILL of it included), so no container
    // process runs on unsupervised (prctl(2) PR_SET_PDEATHSIG). Set after the credentials
    // change, which clears it, and kept across exec. Were the first stage killed before
    // this line, podd still kills the container's cgroup when it sees the first stage go.
    if let Err(source) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        return InitError::Unshare {
            what: "parent-death signal",
            source,
        };
    }
    exec(&args.command)
}

fn join_cgroup(args: &InitArgs) -> Result<(), InitError> {
    if let Some(cgroup) = &args.cgroup {
        std::fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string()).map_err(
            |source| InitError::Cgroup {
                path: cgroup.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

fn enter(args: &InitArgs) -> Result<(), InitError> {
    join_cgroup(args)?;
    let netns = std::fs::File::open(&args.netns).map_err(|source| InitError::EnterNetns {
        path: args.netns.clone(),
        source,
    })?;
    setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| InitError::EnterNetns {
        path: args.netns.clone(),
        source: std::io::Error::from(e),
    })?;
    if let Some(ipc) = &args.ipc {
        let file = std::fs::File::open(ipc).map_err(|source| InitError::EnterIpc {
            path: ipc.clone(),
            source,
        })?;
        setns(file.as_fd(), CloneFlags::CLONE_NEWIPC).map_err(|e| InitError::EnterIpc {
            path: ipc.clone(),
            source: std::io::Error::from(e),
        })?;
    }
    unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS).map_err(|source| {
        InitError::Unshare {
            what: "uts and mount namespaces",
            source,
        }
    })?;
    nix::unistd::sethostname(&args.hostname).map_err(|source| InitError::Hostname {
        hostname: args.hostname.clone(),
        source,
    })?;
    // Make every mount private first, so the bind mounts below stay in this container's
    // mount namespace and never propagate back to the host (mount_namespaces(7)).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|source| InitError::Mount {
        what: "/ private".into(),
        source,
    })?;
    for file in &args.etc_files {
        let Some(name) = file.file_name() else {
            continue;
        };
        let target = Path::new("/etc").join(name);
        if !target.exists() {
            continue;
        }
        mount(
            Some(file.as_path()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|source| InitError::Mount {
            what: format!("{} on {}", file.display(), target.display()),
            source,
        })?;
    }
    Ok(())
}

/// The per-process part: controlling terminal, working directory and credentials.
fn finish(args: &InitArgs) -> Result<(), InitError> {
    if let Some(tty) = &args.tty {
        // A session leader without a controlling terminal acquires the first terminal it
        // opens (credentials(7), "controlling terminal"): no TIOCSCTTY ioctl needed.
        nix::unistd::setsid().map_err(|source| InitError::Terminal {
            path: tty.clone(),
            source: source.into(),
        })?;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tty)
            .map_err(|source| InitError::Terminal {
                path: tty.clone(),
                source,
            })?;
    }
    if let Some(dir) = &args.working_dir {
        nix::unistd::chdir(dir).map_err(|source| InitError::WorkingDir {
            path: dir.clone(),
            source,
        })?;
    }
    // Credentials last: the namespace and mount set-up above needs root. The group goes
    // first, while this process may still change it (setuid(2), setgroups(2)).
    if args.uid.is_some() || args.gid.is_some() {
        let uid = args.uid.unwrap_or(0);
        let gid = args.gid.unwrap_or(if args.uid.is_some() { uid } else { 0 });
        let error = |source| InitError::Credentials { uid, gid, source };
        let group = nix::unistd::Gid::from_raw(gid);
        nix::unistd::setgroups(&[group]).map_err(error)?;
        nix::unistd::setgid(group).map_err(error)?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(error)?;
    }
    Ok(())
}

/// `kubicle pause`: PID 1 of a pod's shared PID namespace (`shareProcessNamespace`), as the
/// pause container is in Kubernetes: it reaps the orphans the namespace's processes leave and
/// exits on SIGTERM or SIGINT (its namespace's other processes then die with it).
pub fn pause() -> i32 {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        signals.add(signal);
    }
    if signals.thread_block().is_err() {
        return 1;
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    if status == WaitStatus::StillAlive {
                        break;
                    }
                }
            }
            Ok(_) => return 0,
            Err(_) => return 1,
        }
    }
}

fn exec(command: &[String]) -> InitError {
    let Ok(argv) = command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return InitError::Command(command.to_vec());
    };
    let Some(program) = argv.first() else {
        return InitError::Command(command.to_vec());
    };
    // The server runs with umask 077 (its files are private); a container gets the usual
    // 022, as runc gives it when the OCI spec names none.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    match nix::unistd::execvp(program, &argv) {
        Err(source) => InitError::Exec {
            command: command[0].clone(),
            source,
        },
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    /// Parses a `kubicle init` command line as the kubicle binary does (`src/cli.rs` has the
    /// same subcommand; its own test parses through the whole CLI).
    fn parse(line: &[OsString]) -> Result<InitArgs, clap::Error> {
        let init = InitArgs::augment_args(clap::Command::new("init"));
        let matches = clap::Command::new("kubicle")
            .subcommand(init)
            .try_get_matches_from(
                std::iter::once(OsString::from("kubicle")).chain(line.to_vec()),
            )?;
        let (_, init) = matches
            .subcommand()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand))?;
        InitArgs::from_arg_matches(init)
    }

    fn container() -> InitArgs {
        InitArgs {
            netns: "/run/kubicle/c/netns/uid".into(),
            ipc: None,
            hostname: "web-0".into(),
            etc_files: Vec::new(),
            cgroup: None,
            working_dir: None,
            uid: None,
            gid: None,
            pid: PidNamespace::Inherit,
            join: None,
            stage2: false,
            tty: None,
            command: vec!["sh".into(), "-c".into(), "echo hi".into()],
        }
    }

    #[test]
    fn what_podd_writes_parses_back_to_the_same_args() {
        let base = container();
        let cases = [
            base.clone(),
            InitArgs {
                ipc: Some("/run/kubicle/c/pods/uid/ipc".into()),
                etc_files: vec![
                    "/run/kubicle/c/pods/uid/resolv.conf".into(),
                    "/run/kubicle/c/pods/uid/hosts".into(),
                ],
                cgroup: Some("/sys/fs/cgroup/kubicle/uid".into()),
                working_dir: Some("/srv/app dir".into()),
                uid: Some(1000),
                gid: Some(0),
                pid: PidNamespace::New,
                ..base.clone()
            },
            InitArgs {
                pid: PidNamespace::Join("/proc/42/ns/pid_for_children".into()),
                ..base.clone()
            },
            InitArgs {
                stage2: true,
                tty: Some("/dev/pts/3".into()),
                command: vec!["sh".into()],
                ..base.joining(4242)
            },
            // A command whose words look like the init's own flags stays the command.
            InitArgs {
                command: vec!["--netns".into(), "-c".into(), "--".into(), String::new()],
                ..base.clone()
            },
            InitArgs {
                hostname: "-h".into(),
                command: vec!["kubicle".into(), "pause".into()],
                ..base.clone()
            },
        ];
        for args in cases {
            let line = args.to_args();
            assert_eq!(line[0], "init");
            match parse(&line) {
                Ok(parsed) => assert_eq!(parsed, args, "{line:?}"),
                Err(e) => panic!("{line:?} does not parse: {e}"),
            }
        }
    }

    #[test]
    fn pid_namespaces_are_named_or_absolute_paths() {
        let cases: [(&str, Result<PidNamespace, ()>); 4] = [
            ("inherit", Ok(PidNamespace::Inherit)),
            ("new", Ok(PidNamespace::New)),
            (
                "/proc/1/ns/pid",
                Ok(PidNamespace::Join("/proc/1/ns/pid".into())),
            ),
            ("proc/1/ns/pid", Err(())),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<PidNamespace>().map_err(|_| ()),
                expected,
                "{text}"
            );
        }
    }
}
