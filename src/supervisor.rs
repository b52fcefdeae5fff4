//! `kubicle up`: starts each component in order, reports readiness, and stops everything on
//! SIGINT/SIGTERM. `kubicle reset` removes what a cluster made.
//!
//! Startup order: store, credentials, API listener. Later components (netd, dnsd, proxyd,
//! podd, controllers) start after the API and wait for their first watch sync.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::Config;
use crate::data_dir::{DataDir, DataDirError, Record, new_id};

/// Runs the cluster until a signal arrives.
pub(crate) async fn run(config: Config, started: Instant) -> anyhow::Result<()> {
    let span = tracing::info_span!("up", cluster = %config.cluster_name);
    up(config, started).instrument(span).await
}

async fn up(config: Config, started: Instant) -> anyhow::Result<()> {
    // Before anything else: one cluster per data dir.
    let data_dir = DataDir::create_and_lock(&config.data_dir)?;
    let record = take_identity(&config, data_dir.path())?;
    let open_files = raise_open_files_limit();
    let (host_conns, pod_conns) = apiserver::http::limits::ConnLimits::from_open_files(open_files);
    tracing::debug!(open_files, ?host_conns, ?pod_conns, "connection limits");
    let names = record.host_names();
    // Archives dropped in <data-dir>/images/ are imported in the background (k3s's airgap
    // habit), each once until it changes, so that they never delay readiness.
    tokio::task::spawn_blocking({
        let data_dir = config.data_dir.clone();
        move || crate::image::import_drop_ins(&data_dir)
    });
    // The node network comes first: in a fresh network namespace it also brings up `lo`,
    // which the API listener on 127.0.0.1 needs.
    let netd = if config.pods {
        let netd = netd::Netd::start(names.netd_config(config.pod_cidr, config.run_dir()))
            .await
            .with_context(|| format!("set up the node network (bridge {})", names.bridge))?;
        netd.reject_unallocated(config.service_cidr)
            .await
            .context("reject unallocated ClusterIPs on the node")?;
        Some(std::sync::Arc::new(netd))
    } else {
        tracing::warn!("pods will not run: the pod runtime needs root (and no --no-pods)");
        if config.kernel_proxy {
            tracing::warn!("--proxy-mode nftables has nothing to carry without pods");
        }
        None
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("bind the API server to {}", config.listen))?;
    let address = listener
        .local_addr()
        .context("read the API server's address")?;
    let (pod_listener, api_ip) = api_for_pods(netd.as_deref(), address, &config).await;
    let cluster = config.cluster(address.port(), api_ip);
    let api = apiserver::Api::open(&config.data_dir, cluster)
        .await
        .with_context(|| format!("open the store in {}", config.data_dir.display()))?;
    apiserver::bootstrap::ensure_system_objects(&api)
        .await
        .context("create the cluster's system objects")?;
    let store_ready = started.elapsed();
    let credentials = apiserver::tls::ensure(
        &config.data_dir.join("pki"),
        &config.cluster_name,
        &config.api_sans(api_ip),
    )
    .context("set up the cluster's credentials")?;
    let tls = apiserver::tls::server_config(&credentials)?;
    let kubeconfig_path = config.data_dir.join("kubeconfig");
    apiserver::tls::write_private(
        &kubeconfig_path,
        &apiserver::tls::kubeconfig(&config.cluster_name, address, &credentials),
    )
    .context("write the kubeconfig")?;

    let shutdown = CancellationToken::new();
    let router =
        apiserver::http::router_with(api.clone(), &credentials.token, config.max_in_flight);
    let for_pods = pod_listener.map(|listener| {
        let (tls, router) = (tls.clone(), router.clone());
        let serve = apiserver::http::serve(listener, tls, router, pod_conns, shutdown.clone());
        tokio::spawn(serve.in_current_span())
    });
    let serve = apiserver::http::serve(listener, tls, router, host_conns, shutdown.clone());
    let server = tokio::spawn(serve.in_current_span());
    // The data path (Service traffic, cluster DNS) runs on threads of its own, so that it is
    // served whatever the API's workers are busy with.
    let data_path = DataPath::start()?;
    let mut controllers = apiserver::controllers::spawn(&api, &shutdown);
    let pod_runtime = match &netd {
        Some(netd) => {
            let podd_config = podd::Config {
                node_name: config.node_name.clone(),
                node_ip: config.node_ip,
                pod_cidr: config.pod_cidr,
                state_dir: config.run_dir().join("pods"),
                cgroup_root: names.cgroup_dir(),
                kubicle_exe: std::env::current_exe().context("find the kubicle executable")?,
                cluster_dns: api.cluster().service_ip(10),
                cluster_domain: config.cluster_domain.clone(),
                host_resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            };
            let task = podd::run(api.clone(), netd.clone(), podd_config, shutdown.clone());
            Some(tokio::spawn(task.instrument(tracing::info_span!("podd"))))
        }
        None => None,
    };
    let dns = {
        let (config, api, netd, shutdown) =
            (config.clone(), api.clone(), netd.clone(), shutdown.clone());
        data_path
            .spawn(
                async move { start_dns(&config, &api, netd.as_deref(), &shutdown).await }
                    .in_current_span(),
            )
            .await
            .context("start the cluster DNS")?
            .context("start the cluster DNS")?
    };
    // Service traffic, with pods only: the ClusterIPs are addresses on the bridge.
    let proxy = netd.as_ref().map(|netd| {
        let proxy_config = proxyd::Config {
            node_addresses: vec![config.node_ip.into()],
            node_name: Some(config.node_name.clone()),
            drain_timeout: std::time::Duration::from_secs(1),
            ..proxyd::Config::default()
        };
        let feed = proxyd::feed::Feed {
            netd: Some(netd.clone()),
            // dnsd answers on the kube-dns ClusterIP itself.
            skip: vec!["kube-system/kube-dns".into()],
            kernel: config.kernel_proxy,
        };
        data_path.spawn(
            proxyd::feed::run(api.clone(), proxy_config, feed, shutdown.clone())
                .instrument(tracing::info_span!("proxyd")),
        )
    });
    tracing::info!(
        %address,
        store_ms = store_ready.as_secs_f64() * 1e3,
        ready_ms = started.elapsed().as_secs_f64() * 1e3,
        kubeconfig = %kubeconfig_path.display(),
        node = %config.node_name,
        node_ip = %config.node_ip,
        api_for_pods = ?api_ip,
        kernel_proxy = config.kernel_proxy,
        pod_cidr = %config.pod_cidr,
        service_cidr = %config.service_cidr,
        node_ports = ?config.node_ports,
        domain = %config.cluster_domain,
        "api ready"
    );
    // One stable line on stdout that scripts and tests wait for.
    println!(
        "kubicle: api server ready at https://{address} (kubeconfig: {})",
        kubeconfig_path.display()
    );

    let applying = config.manifests.clone().map(|path| {
        let api = api.clone();
        let domain = config.cluster_domain.clone();
        tokio::spawn(apply_and_map(api, path, domain, started).in_current_span())
    });

    wait_for_signal().await?;
    if let Some(applying) = applying {
        applying.abort();
    }
    tracing::info!("stopping");
    shutdown.cancel();
    server.await.context("the API server task failed")?;
    if let Some(for_pods) = for_pods {
        for_pods
            .await
            .context("the API server task for pods failed")?;
    }
    if let Some(pod_runtime) = pod_runtime {
        pod_runtime.await.context("the pod runtime failed")?;
    }
    if let Some(proxy) = proxy {
        proxy.await.context("the service proxy failed")?;
    }
    for task in dns {
        task.await.context("the cluster DNS failed")?;
    }
    if let Some(root) = names.cgroup_dir() {
        // Every pod's cgroup is gone by now; the cluster's own directory goes too.
        let _ = std::fs::remove_dir(root);
    }
    while let Some(done) = controllers.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a controller failed");
        }
    }
    // The data dir is free for the next `kubicle up` only now.
    drop(data_dir);
    Ok(())
}

/// The cluster's record with its identity: the stored one, or a new one at first start. A
/// data dir from before identities first has its host objects (named by the old scheme)
/// removed, as a node reboot would; its pods come back under the new names.
fn take_identity(config: &Config, data_dir: &Path) -> anyhow::Result<Record> {
    let stored = Record::read(data_dir);
    let id = match stored.as_ref().and_then(|r| r.id.clone()) {
        Some(id) => id,
        None => {
            if let Some(old) = &stored {
                tracing::info!("giving the cluster an identity: removing its old host objects");
                remove_host_objects(data_dir, old)?;
            }
            new_id()
        }
    };
    let record = Record {
        name: config.cluster_name.clone(),
        id: Some(id),
        pod_cidr: config.pod_cidr,
        service_cidr: Some(config.service_cidr),
        host: None,
    };
    record.write(data_dir).context("write cluster.json")?;
    tracing::info!(bridge = %record.host_names().bridge, "cluster identity");
    Ok(record)
}

/// Where pods reach the API server (the `kubernetes` Service's endpoint), and the extra
/// listener that needs: with pods and a loopback `--listen`, the node's gateway at the same
/// port; with an unspecified `--listen`, the gateway (or the node IP without pods), which the
/// one listener already covers; with a routable `--listen`, that address; else (or when the
/// gateway's port is taken) nowhere.
async fn api_for_pods(
    netd: Option<&netd::Netd>,
    address: std::net::SocketAddr,
    config: &Config,
) -> (Option<tokio::net::TcpListener>, Option<std::net::Ipv4Addr>) {
    match (netd, address.ip()) {
        (Some(netd), ip) if ip.is_unspecified() => (None, Some(netd.gateway())),
        (None, ip) if ip.is_unspecified() => (None, Some(config.node_ip)),
        (Some(netd), ip) if ip.is_loopback() => {
            let gateway = std::net::SocketAddr::from((netd.gateway(), address.port()));
            match tokio::net::TcpListener::bind(gateway).await {
                Ok(listener) => (Some(listener), Some(netd.gateway())),
                // Pods lose in-cluster access to the API; the cluster still runs.
                Err(error) => {
                    tracing::warn!(%gateway, %error, "cannot listen for pods: default/kubernetes gets no endpoints");
                    (None, None)
                }
            }
        }
        (_, std::net::IpAddr::V4(ip)) if !ip.is_loopback() => (None, Some(ip)),
        _ => (None, None),
    }
}

/// `up -f`: applies the manifests, waits until they are ready, prints the map on stdout.
async fn apply_and_map(
    api: apiserver::Api,
    path: std::path::PathBuf,
    domain: String,
    started: Instant,
) {
    let applied = match crate::apply::apply(&api, &path).await {
        Ok(applied) => applied,
        Err(e) => {
            tracing::error!(path = %path.display(), "apply failed: {e:#}");
            eprintln!("kubicle: apply -f {}: {e:#}", path.display());
            return;
        }
    };
    let waiting = crate::apply::wait_ready(&api, &applied).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut text = if waiting.is_empty() {
        format!(
            "kubicle: applied {} objects from {}; everything is ready ({elapsed:.2} s after start)\n",
            applied.len(),
            path.display()
        )
    } else {
        format!(
            "kubicle: applied {} objects from {}; still not ready: {}\n",
            applied.len(),
            path.display(),
            waiting.join(", ")
        )
    };
    text.push_str(&crate::apply::map(&api, &applied, &domain));
    println!("{text}");
}

/// Starts dnsd on the kube-dns ClusterIP (a local address on the bridge; only with pods)
/// and the `--dns-listen` addresses, fed from the API. Returns its tasks (none when it has
/// nowhere to listen).
async fn start_dns(
    config: &Config,
    api: &apiserver::Api,
    netd: Option<&netd::Netd>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let dns_ip = api.cluster().service_ip(10);
    let mut listen = config.dns_listen.clone();
    if let Some(netd) = netd {
        netd.add_local_address(dns_ip)
            .await
            .with_context(|| format!("add the kube-dns address {dns_ip}"))?;
        listen.insert(0, std::net::SocketAddr::from((dns_ip, 53)));
    }
    if listen.is_empty() {
        return Ok(Vec::new());
    }
    let dns_config = dnsd::Config {
        zone: config.cluster_domain.clone(),
        ttl: config.dns_ttl,
        dns_service_ips: vec![dns_ip.into()],
        listen,
        reverse_cidrs: vec![config.service_cidr.into(), config.pod_cidr.into()],
        ..dnsd::Config::default()
    };
    let index = std::sync::Arc::new(dnsd::Index::new(&dns_config)?);
    let server = dnsd::Server::bind(&dns_config, index.clone()).await?;
    let span = tracing::info_span!("dnsd");
    let feed =
        tokio::spawn(dnsd::feed(api.clone(), index, shutdown.clone()).instrument(span.clone()));
    let serve = tokio::spawn(
        {
            let shutdown = shutdown.clone();
            async move {
                if let Err(e) = server.run(shutdown).await {
                    tracing::error!(error = %e, "the cluster DNS stopped");
                }
            }
        }
        .instrument(span),
    );
    Ok(vec![feed, serve])
}

/// Raises the open-files soft limit to the hard limit (many hosts start at 1,024, which a
/// flood of connections exhausts) and returns the limit now in force.
fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    if soft >= hard {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => hard,
        Err(error) => {
            tracing::warn!(soft, hard, %error, "cannot raise the open-files limit");
            soft
        }
    }
}

/// A tokio runtime of its own for proxyd and dnsd. Sockets belong to the runtime whose
/// task opens them, so they are opened by tasks spawned here.
struct DataPath(Option<tokio::runtime::Runtime>);

impl DataPath {
    fn start() -> anyhow::Result<DataPath> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("kubicle-data")
            .on_thread_start(raise_priority)
            .enable_all()
            .build()
            .context("start the data path's threads")?;
        Ok(DataPath(Some(runtime)))
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }
}

/// Gives the calling thread (a data-path thread) a higher scheduling priority: with the API
/// busy (TLS and decoding of large bodies on every core), DNS answers and proxied connections
/// still get a core within microseconds instead of waiting out the API threads' time slices,
/// as they would in processes of their own (CoreDNS, kube-proxy). Needs root (CAP_SYS_NICE);
/// without it the thread keeps the default.
fn raise_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), DATA_PATH_NICE) {
        tracing::debug!(error = %e, "the data path keeps the default priority");
    }
}

/// The nice value of the data path's threads.
const DATA_PATH_NICE: i32 = -10;

impl Drop for DataPath {
    /// Dropping a runtime waits for its threads, which async code may not do; its tasks
    /// have ended (or are abandoned on an early error) by now.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Why `kubicle reset` did not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResetError {
    /// `--yes` was not given and there is no terminal to ask on.
    #[error("refusing to reset without confirmation: pass --yes")]
    NotConfirmed,
    /// The directory does not look like a kubicle data directory.
    #[error("{0} does not look like a kubicle data directory (no state.db): refusing to remove it")]
    NotADataDir(String),
    /// The cluster is running (or its lock could not be taken).
    #[error(transparent)]
    Locked(#[from] DataDirError),
    /// Removing the node network failed.
    #[error("remove the node network")]
    Network(#[source] netd::Error),
    /// Removing failed.
    #[error("remove {path}")]
    Remove {
        /// What was being removed.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Removes the cluster's host objects and its data directory (state, credentials,
/// kubeconfig). Refuses, changing nothing, while the cluster runs.
pub(crate) fn reset(data_dir: &Path, yes: bool) -> Result<(), ResetError> {
    if !data_dir.exists() {
        println!("kubicle: nothing to reset at {}", data_dir.display());
        return Ok(());
    }
    if !data_dir.join("state.db").exists() {
        return Err(ResetError::NotADataDir(data_dir.display().to_string()));
    }
    let held = DataDir::lock(data_dir)?;
    if !yes && !confirm(data_dir) {
        return Err(ResetError::NotConfirmed);
    }
    if let Some(record) = Record::read(data_dir) {
        remove_host_objects(data_dir, &record)?;
    }
    std::fs::remove_dir_all(data_dir).map_err(|source| ResetError::Remove {
        path: data_dir.display().to_string(),
        source,
    })?;
    drop(held);
    println!("kubicle: removed {}", data_dir.display());
    Ok(())
}

/// Removes what the cluster of `record` made on the host: its pods' processes and cgroups,
/// and, in the network namespace it ran in, its node network; elsewhere only the bind mounts.
fn remove_host_objects(data_dir: &Path, record: &Record) -> Result<(), ResetError> {
    let names = record.host_names();
    for pod in podd::cgroup::remove_cluster(&names.cgroup) {
        println!("kubicle: stopped the processes of pod {pod}");
    }
    let netns_dir = data_dir.join("run").join("netns");
    // The bridge lives in the network namespace the cluster ran in. If it is not here,
    // that namespace is gone (or elsewhere): only the bind mounts are ours to undo.
    if nix::net::if_::if_nametoindex(names.bridge.as_str()).is_ok() {
        remove_node_network(data_dir, record)?;
    } else if netns_dir.exists() {
        unmount_all(&netns_dir);
    }
    // Each pod's IPC namespace is a bind mount in its directory.
    if let Ok(pods) = std::fs::read_dir(data_dir.join("run").join("pods")) {
        for pod in pods.flatten() {
            let _ = nix::mount::umount2(&pod.path().join("ipc"), nix::mount::MntFlags::MNT_DETACH);
        }
    }
    Ok(())
}

/// Detaches the bind mounts of pod network namespaces (and of their directory), so removing
/// the data dir cannot fail on a busy mount point.
fn unmount_all(netns_dir: &Path) {
    use nix::mount::{MntFlags, umount2};
    if let Ok(entries) = std::fs::read_dir(netns_dir) {
        for entry in entries.flatten() {
            let _ = umount2(&entry.path(), MntFlags::MNT_DETACH);
        }
    }
    let _ = umount2(netns_dir, MntFlags::MNT_DETACH);
}

/// Removes the pods' network namespaces and veths, the bridge and the nf_tables table,
/// through netd.
fn remove_node_network(data_dir: &Path, record: &Record) -> Result<(), ResetError> {
    let names = record.host_names();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ResetError::Remove {
            path: "the node network".into(),
            source,
        })?;
    runtime
        .block_on(async {
            let netd =
                netd::Netd::start(names.netd_config(record.pod_cidr, data_dir.join("run"))).await?;
            if let Some(cidr) = record.service_cidr {
                netd.stop_rejecting(cidr).await?;
            }
            netd.teardown().await
        })
        .map_err(ResetError::Network)?;
    println!(
        "kubicle: removed the node network (bridge {}, pod network namespaces)",
        names.bridge
    );
    Ok(())
}

fn confirm(data_dir: &Path) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!(
        "Remove the cluster at {} and all its objects? [y/N] ",
        data_dir.display()
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}
