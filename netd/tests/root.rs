//! Root-only tests of netd against the real kernel, each sealed in network and mount namespaces
//! of its own so that nothing touches the host's network or mounts.
//!
//! Each test runs on a dedicated thread that first calls `unshare(CLONE_NEWNET | CLONE_NEWNS)`.
//! Both are per-thread (unshare(2): `CLONE_NEWNS` implies `CLONE_FS`, which a thread of a
//! multi-threaded process may unshare; only `CLONE_NEWUSER` needs a single-threaded process),
//! so the test harness's other threads and the other tests are untouched. The thread then makes
//! every mount private (mount_namespaces(7): without that, mounts under a shared `/` would
//! propagate back to the host), puts a tmpfs on its run dir and a fresh sysfs on `/sys` (sysfs
//! shows the netns of whoever mounted it), and runs a current-thread tokio runtime. Threads it
//! spawns (netd's netns threads, the listeners) inherit both namespaces. When the thread ends,
//! by returning or by panicking, the last reference to its namespaces goes: the mounts, the
//! pod netns they pin, the veths and the bridge all disappear with it. The host keeps only the
//! empty temp dir, which a guard removes.
//!
//! Without root each test prints `SKIPPED: needs root` to stderr and passes, unless
//! `KUBICLE_REQUIRE_ROOT_TESTS=1`, when it fails.

use std::fs;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use netd::{Config, Error, Netd, PodNetwork, in_netns};
use nix::ifaddrs::getifaddrs;
use nix::mount::{MsFlags, mount};
use nix::net::if_::InterfaceFlags;
use nix::sched::{CloneFlags, unshare};

/// How long a connection attempt between namespaces may take before the test fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this process may run the tests; prints the skip, or panics when root is required.
fn have_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("KUBICLE_REQUIRE_ROOT_TESTS").is_ok_and(|value| value == "1") {
        panic!("{test}: needs root, and KUBICLE_REQUIRE_ROOT_TESTS=1");
    }
    eprintln!("SKIPPED: needs root ({test})");
    false
}

/// An empty directory on the host for one test's run dir; removed on drop, panic or not.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("netd-root-{}-{test}", std::process::id()));
        fs::create_dir_all(&path).expect("create the test's temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `body(run_dir)` in fresh network and mount namespaces (see the module docs).
fn sandboxed<F, Fut>(test: &'static str, body: F)
where
    F: FnOnce(PathBuf) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if !have_root(test) {
        return;
    }
    let dir = TempDir::new(test);
    let run_dir = dir.0.clone();
    let outcome = thread::Builder::new()
        .name(test.to_owned())
        .spawn(move || {
            unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
                .expect("unshare net and mount namespaces");
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .expect("make every mount private");
            mount(
                Some("tmpfs"),
                &run_dir,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("mode=0755"),
            )
            .expect("mount a tmpfs on the run dir");
            mount(
                Some("sysfs"),
                "/sys",
                Some("sysfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .expect("mount a sysfs of this netns");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime");
            runtime.block_on(body(run_dir));
        })
        .expect("spawn the test thread")
        .join();
    drop(dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn config(run_dir: &Path) -> Config {
    Config {
        bridge: "kubicle0".to_owned(),
        pod_cidr: "10.244.0.0/16".parse().expect("cidr"),
        run_dir: run_dir.to_owned(),
        veth_prefix: "kv".to_owned(),
        nft_table: "kubicle".to_owned(),
    }
}

/// The links of the calling thread's netns: name → (flags, IPv4 addresses).
fn interfaces() -> Vec<(String, InterfaceFlags, Vec<Ipv4Addr>)> {
    let mut found: Vec<(String, InterfaceFlags, Vec<Ipv4Addr>)> = Vec::new();
    for entry in getifaddrs().expect("getifaddrs") {
        let ip = entry
            .address
            .as_ref()
            .and_then(|address| address.as_sockaddr_in())
            .map(|sin| sin.ip());
        match found
            .iter_mut()
            .find(|(name, _, _)| *name == entry.interface_name)
        {
            Some((_, _, ips)) => ips.extend(ip),
            None => found.push((entry.interface_name, entry.flags, ip.into_iter().collect())),
        }
    }
    found
}

fn interface(name: &str) -> Option<(InterfaceFlags, Vec<Ipv4Addr>)> {
    interfaces()
        .into_iter()
        .find(|(found, _, _)| found == name)
        .map(|(_, flags, ips)| (flags, ips))
}

fn interface_in(netns: &Path, name: &'static str) -> Option<(InterfaceFlags, Vec<Ipv4Addr>)> {
    in_netns(netns, move || interface(name)).expect("enter pod netns")
}

/// A server for `n` connections on `listener`, on a thread of its own (the listener stays in
/// the netns it was bound in): each gets `reply(peer, first bytes)` after its first bytes.
fn answer(
    listener: TcpListener,
    n: usize,
    reply: impl Fn(SocketAddr, &[u8]) -> Vec<u8> + Send + 'static,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut stream, peer)) = listener.accept() else {
                return;
            };
            let mut buffer = [0u8; 64];
            if let Ok(read) = stream.read(&mut buffer) {
                let _ = stream.write_all(&reply(peer, &buffer[..read]));
            }
        }
    })
}

/// A TCP echo server for one connection.
fn echo_once(listener: TcpListener) -> thread::JoinHandle<()> {
    answer(listener, 1, |_, got| got.to_vec())
}

/// Connects to `to` from inside `netns`, sends a line and returns the echo and the local address.
fn talk_from(netns: &Path, to: SocketAddr) -> std::io::Result<(String, SocketAddr)> {
    in_netns(netns, move || {
        let mut stream = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        stream.write_all(b"ping")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok((answer, stream.local_addr()?))
    })
    .expect("enter pod netns")
}

/// Binds a listener inside `netns` on `ip`, port 0.
fn listen_in(netns: &Path, ip: Ipv4Addr) -> TcpListener {
    in_netns(netns, move || TcpListener::bind(SocketAddrV4::new(ip, 0)))
        .expect("enter pod netns")
        .expect("bind in pod netns")
}

fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path.as_ref())
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn start_brings_up_bridge_gateway_loopback_and_forwarding() {
    sandboxed("start", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        assert_eq!(netd.gateway(), Ipv4Addr::new(10, 244, 0, 1));
        let (flags, ips) = interface("kubicle0").expect("bridge exists");
        assert!(
            flags.contains(InterfaceFlags::IFF_UP),
            "bridge up: {flags:?}"
        );
        assert_eq!(ips, [Ipv4Addr::new(10, 244, 0, 1)]);
        assert_eq!(read("/sys/class/net/kubicle0/bridge/stp_state"), "0");
        let (flags, _) = interface("lo").expect("lo");
        assert!(flags.contains(InterfaceFlags::IFF_UP));
        assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), "1");
        assert!(run_dir.join("netns").is_dir());

        // A second start (a restart) adopts all of it.
        drop(netd);
        let again = Netd::start(config(&run_dir)).await.expect("second start");
        let (_, ips) = interface("kubicle0").expect("bridge still exists");
        assert_eq!(ips, [Ipv4Addr::new(10, 244, 0, 1)]);
        assert!(again.pod_networks().expect("list").is_empty());
    });
}

#[test]
fn two_pods_talk_over_the_bridge_and_reach_the_gateway() {
    sandboxed("pods", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let ip_a = Ipv4Addr::new(10, 244, 0, 2);
        let ip_b = Ipv4Addr::new(10, 244, 0, 3);
        let pod_a = netd
            .create_pod_network("pod-a", ip_a)
            .await
            .expect("create pod a");
        let pod_b = netd
            .create_pod_network("pod-b", ip_b)
            .await
            .expect("create pod b");
        assert_eq!(pod_a.netns_path, run_dir.join("netns/pod-a"));
        assert_eq!(netd.pod_networks().expect("list"), ["pod-a", "pod-b"]);

        // The pod side: eth0 up with the address, lo up, IPv6 off, default route via gateway.
        let (flags, ips) = interface_in(&pod_a.netns_path, "eth0").expect("eth0 in pod a");
        assert!(
            flags.contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING),
            "{flags:?}"
        );
        assert_eq!(ips, [ip_a]);
        let (flags, ips) = interface_in(&pod_a.netns_path, "lo").expect("lo in pod a");
        assert!(flags.contains(InterfaceFlags::IFF_UP));
        assert_eq!(ips, [Ipv4Addr::LOCALHOST]);
        let ipv6_off = in_netns(&pod_a.netns_path, || {
            read("/proc/sys/net/ipv6/conf/eth0/disable_ipv6")
        })
        .expect("enter pod a");
        assert!(
            ipv6_off == "1" || ipv6_off.is_empty(),
            "disable_ipv6 = {ipv6_off:?}"
        );
        // /proc/thread-self/net, not /proc/net: that is /proc/self/net, the netns of the
        // thread-group leader (proc(5)), which is the host's here.
        let routes = in_netns(&pod_a.netns_path, || read("/proc/thread-self/net/route"))
            .expect("enter pod a");
        // Default destination 00000000 via gateway 10.244.0.1 (0100F40A, little-endian hex).
        assert!(
            routes
                .lines()
                .any(|line| line.starts_with("eth0\t00000000\t0100F40A")),
            "no default route via the gateway:\n{routes}"
        );

        // The host side: a bridge port, up, hairpin on.
        let veth = &pod_a.host_veth;
        assert!(veth.starts_with("kv") && veth.len() == 12, "{veth}");
        assert!(interface(veth).is_some_and(|(flags, _)| flags.contains(InterfaceFlags::IFF_UP)));
        assert_eq!(
            read(format!("/sys/class/net/{veth}/brport/hairpin_mode")),
            "1"
        );
        assert!(
            fs::read_link(format!("/sys/class/net/{veth}/master"))
                .is_ok_and(|master| master.ends_with("kubicle0"))
        );

        // Pod a → pod b, on pod b's address, through the bridge.
        let listener = listen_in(&pod_b.netns_path, ip_b);
        let port = listener.local_addr().expect("local addr").port();
        let server = echo_once(listener);
        let (answer, from) =
            talk_from(&pod_a.netns_path, SocketAddr::from((ip_b, port))).expect("a reaches b");
        assert_eq!(answer, "ping");
        assert_eq!(from.ip(), ip_a);
        server.join().expect("echo server");

        // Pod b → the gateway: a listener in the node netns on the bridge address.
        let listener =
            TcpListener::bind(SocketAddrV4::new(netd.gateway(), 0)).expect("bind gateway");
        let port = listener.local_addr().expect("local addr").port();
        let server = echo_once(listener);
        let (answer, from) = talk_from(&pod_b.netns_path, SocketAddr::from((netd.gateway(), port)))
            .expect("b reaches gateway");
        assert_eq!(answer, "ping");
        assert_eq!(from.ip(), ip_b);
        server.join().expect("echo server");

        // A pod reaches itself through its own address (loopback inside the pod).
        let listener = listen_in(&pod_a.netns_path, ip_a);
        let port = listener.local_addr().expect("local addr").port();
        let server = echo_once(listener);
        let (answer, _) =
            talk_from(&pod_a.netns_path, SocketAddr::from((ip_a, port))).expect("a reaches a");
        assert_eq!(answer, "ping");
        server.join().expect("echo server");
    });
}

#[test]
fn create_and_delete_are_idempotent_and_delete_removes_veth_and_netns() {
    sandboxed("idempotent", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let ip_a = Ipv4Addr::new(10, 244, 0, 2);
        let ip_b = Ipv4Addr::new(10, 244, 0, 3);
        let first = netd
            .create_pod_network("pod-a", ip_a)
            .await
            .expect("create");
        let again = netd
            .create_pod_network("pod-a", ip_a)
            .await
            .expect("create again");
        assert_eq!(first, again);
        let netns_inode =
            |path: &Path| fs::metadata(path).map(|meta| std::os::unix::fs::MetadataExt::ino(&meta));
        let (_, ips) = interface_in(&first.netns_path, "eth0").expect("eth0");
        assert_eq!(ips, [ip_a]);
        let inode = netns_inode(&first.netns_path).expect("netns file");

        // Same pod, another address: the same netns, the address converges.
        let moved = netd
            .create_pod_network("pod-a", ip_b)
            .await
            .expect("create with another ip");
        assert_eq!(
            netns_inode(&moved.netns_path).expect("netns file"),
            inode,
            "netns was replaced"
        );
        let (_, ips) = interface_in(&moved.netns_path, "eth0").expect("eth0");
        assert_eq!(ips, [ip_b]);

        netd.delete_pod_network("pod-a").await.expect("delete");
        assert!(
            interface(&first.host_veth).is_none(),
            "host veth still there"
        );
        assert!(!first.netns_path.exists(), "netns file still there");
        assert!(matches!(
            in_netns(&first.netns_path, || ()),
            Err(Error::OpenNetns { .. })
        ));
        assert!(netd.pod_networks().expect("list").is_empty());
        netd.delete_pod_network("pod-a")
            .await
            .expect("delete again");
        netd.delete_pod_network("never-made")
            .await
            .expect("delete unknown");

        // The id can be used again at once.
        let back = netd
            .create_pod_network("pod-a", ip_a)
            .await
            .expect("create after delete");
        let (_, ips) = interface_in(&back.netns_path, "eth0").expect("eth0");
        assert_eq!(ips, [ip_a]);
    });
}

#[test]
fn failed_create_removes_the_netns_and_veth_it_made() {
    sandboxed("cleanup", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        // Swap the bridge for a veth of the same name behind netd's back: creating the pod's
        // netns and veth pair works, attaching the veth to a "bridge" that is none then fails
        // (EOPNOTSUPP), and everything made so far must go.
        replace_bridge_with_a_veth().await;
        let error = netd
            .create_pod_network("pod-a", Ipv4Addr::new(10, 244, 0, 2))
            .await
            .expect_err("a veth is no bridge");
        assert!(
            matches!(error, Error::AttachLink { ref bridge, .. } if bridge == "kubicle0"),
            "{error}"
        );
        assert!(!run_dir.join("netns/pod-a").exists(), "netns left behind");
        let names: Vec<String> = interfaces().into_iter().map(|(name, _, _)| name).collect();
        assert_eq!(
            names.iter().filter(|name| name.starts_with("kv")).count(),
            0,
            "veth left behind: {names:?}"
        );
        assert!(netd.pod_networks().expect("list").is_empty());

        // Without any bridge, nothing is made at all.
        netd.teardown().await.expect("teardown");
        let error = netd
            .create_pod_network("pod-a", Ipv4Addr::new(10, 244, 0, 2))
            .await
            .expect_err("no bridge");
        assert!(
            matches!(error, Error::LinkMissing { ref name } if name == "kubicle0"),
            "{error}"
        );
    });
}

/// Deletes the bridge and makes a veth pair `kubicle0`/`kubicle0p` in its place, over a
/// netlink connection of the test's own.
async fn replace_bridge_with_a_veth() {
    let (connection, handle, _) = rtnetlink::new_connection().expect("netlink");
    tokio::spawn(connection);
    let bridge = link_index(&handle, "kubicle0").await;
    handle
        .link()
        .del(bridge)
        .execute()
        .await
        .expect("delete bridge");
    handle
        .link()
        .add(rtnetlink::LinkVeth::new("kubicle0", "kubicle0p").build())
        .execute()
        .await
        .expect("create veth kubicle0");
}

#[test]
fn local_addresses_can_be_bound_and_are_reached_from_pods() {
    sandboxed("local", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let vip = Ipv4Addr::new(10, 96, 0, 10);
        assert!(
            TcpListener::bind(SocketAddrV4::new(vip, 0)).is_err(),
            "vip bindable before it was added"
        );
        netd.add_local_address(vip).await.expect("add");
        netd.add_local_address(vip).await.expect("add again");
        let (_, ips) = interface("kubicle0").expect("bridge");
        assert_eq!(ips, [Ipv4Addr::new(10, 244, 0, 1), vip]);

        let listener = TcpListener::bind(SocketAddrV4::new(vip, 0)).expect("bind the vip");
        let port = listener.local_addr().expect("local addr").port();
        let server = echo_once(listener);
        let pod = netd
            .create_pod_network("pod-a", Ipv4Addr::new(10, 244, 0, 2))
            .await
            .expect("create");
        let (answer, _) =
            talk_from(&pod.netns_path, SocketAddr::from((vip, port))).expect("pod reaches the vip");
        assert_eq!(answer, "ping");
        server.join().expect("echo server");

        netd.remove_local_address(vip).await.expect("remove");
        netd.remove_local_address(vip).await.expect("remove again");
        assert!(
            TcpListener::bind(SocketAddrV4::new(vip, 0)).is_err(),
            "vip bindable after removal"
        );

        // With the Service CIDR rejected, a ClusterIP that is not (or no longer) local fails
        // at once with host-unreachable, instead of following a default route off the node.
        let cidr = "10.96.0.0/12".parse().expect("cidr");
        netd.reject_unallocated(cidr).await.expect("reject");
        netd.reject_unallocated(cidr).await.expect("reject again");
        let gone = talk_from(&pod.netns_path, SocketAddr::from((vip, port)));
        assert_eq!(
            gone.expect_err("an unallocated ClusterIP").raw_os_error(),
            Some(nix::libc::EHOSTUNREACH)
        );
        netd.stop_rejecting(cidr).await.expect("stop");
        netd.stop_rejecting(cidr).await.expect("stop again");
    });
}

/// The index of the link called `name`, over `handle`.
async fn link_index(handle: &rtnetlink::Handle, name: &str) -> u32 {
    use futures_util::TryStreamExt;
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    let link = links.try_next().await.expect("look up link");
    link.unwrap_or_else(|| panic!("{name} exists")).header.index
}

/// Makes a veth pair `<name>0`/`<name>1` whose first end, with MAC 00:00:00:00:00:`low`
/// (below any random one), joins `kubicle0`; over a netlink connection of the test's own.
async fn attach_a_port_with_a_low_mac(name: &str, low: u8) {
    let (connection, handle, _) = rtnetlink::new_connection().expect("netlink");
    tokio::spawn(connection);
    let (port, peer) = (format!("{name}0"), format!("{name}1"));
    let veth = rtnetlink::LinkVeth::new(&port, &peer)
        .address(vec![0, 0, 0, 0, 0, low])
        .build();
    handle
        .link()
        .add(veth)
        .execute()
        .await
        .expect("create veth");
    let bridge = link_index(&handle, "kubicle0").await;
    let port = link_index(&handle, &port).await;
    let join = rtnetlink::LinkUnspec::new_with_index(port)
        .controller(bridge)
        .up()
        .build();
    handle
        .link()
        .change(join)
        .execute()
        .await
        .expect("join the bridge");
}

#[test]
fn the_gateway_mac_stays_put_when_a_port_with_a_lower_one_joins() {
    sandboxed("mac", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let mac = "02:6b:0a:f4:00:01";
        assert_eq!(read("/sys/class/net/kubicle0/address"), mac);
        // A bridge without a set address would take this port's, the lowest so far.
        attach_a_port_with_a_low_mac("kvtwo", 2).await;
        let pod = netd
            .create_pod_network("pod-a", Ipv4Addr::new(10, 244, 0, 2))
            .await
            .expect("create");
        let gateway = || {
            let listener =
                TcpListener::bind(SocketAddrV4::new(netd.gateway(), 0)).expect("bind gateway");
            let port = listener.local_addr().expect("local addr").port();
            let server = echo_once(listener);
            let talked = talk_from(&pod.netns_path, SocketAddr::from((netd.gateway(), port)));
            if talked.is_ok() {
                server.join().expect("echo server");
            }
            talked
        };
        // The pod resolves the gateway's MAC and keeps it (REACHABLE) for a while.
        gateway().expect("pod reaches the gateway");
        attach_a_port_with_a_low_mac("kvone", 1).await;
        assert_eq!(read("/sys/class/net/kubicle0/address"), mac);
        // Without a set address the bridge would now answer to 00:00:00:00:00:01, and take
        // the pod's frames to the 00:00:00:00:00:02 it resolved for another host's: dropped,
        // this connect would time out.
        gateway().expect("pod still reaches the gateway after the new port joined");
    });
}

/// Runs `ip` with `args` (from the calling thread, so in its netns); panics on failure.
fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args:?}: {status}");
}

/// A host outside the node: a `sleep` in a netns of its own, joined to the node by a veth
/// (`kvout0`, 192.0.2.1/24 on the node, which routes everything there by default; `eth0`,
/// 192.0.2.2/24, outside). It has no route to the pod network, so it can answer a pod only
/// if the node masqueraded the pod's traffic. Killed on drop.
struct Outside {
    sleeper: std::process::Child,
    netns: PathBuf,
}

impl Outside {
    const NODE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn start() -> Outside {
        let sleeper = std::process::Command::new("unshare")
            .args(["--net", "--", "sleep", "60"])
            .spawn()
            .expect("spawn the outside host");
        let pid = sleeper.id();
        let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let started = Instant::now();
        while fs::read_link(&netns).ok() == fs::read_link("/proc/thread-self/ns/net").ok()
            || fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| !exe.ends_with("sleep"))
        {
            assert!(
                started.elapsed() < CONNECT_TIMEOUT,
                "the outside netns never appeared"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let outside = Outside { sleeper, netns };
        let pid = pid.to_string();
        ip(&[
            "link", "add", "kvout0", "type", "veth", "peer", "name", "eth0", "netns", &pid,
        ]);
        ip(&["addr", "add", "192.0.2.1/24", "dev", "kvout0"]);
        ip(&["link", "set", "kvout0", "up"]);
        ip(&["route", "add", "default", "via", "192.0.2.2"]);
        let inside = outside.netns.clone();
        in_netns(&inside, || {
            ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
            ip(&["link", "set", "eth0", "up"]);
        })
        .expect("enter the outside netns");
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
    }
}

#[test]
fn pods_reach_beyond_the_node_from_the_node_address() {
    sandboxed("egress", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let pod = netd
            .create_pod_network("pod-a", Ipv4Addr::new(10, 244, 0, 2))
            .await
            .expect("create");
        let outside = Outside::start();
        let listener = listen_in(&outside.netns, Outside::HOST);
        let port = listener.local_addr().expect("local addr").port();
        let server = answer(listener, 1, |peer, _| peer.to_string().into_bytes());
        // The outside host saw the node's address, not the pod's (which it could not answer).
        let (seen, _) = talk_from(&pod.netns_path, SocketAddr::from((Outside::HOST, port)))
            .expect("the pod reaches the outside host");
        server.join().expect("server");
        let seen: SocketAddr = seen.parse().expect("an address");
        assert_eq!(seen.ip(), Outside::NODE);

        // A start after a teardown (which deletes the table) sets the rule again.
        drop(pod);
        netd.teardown().await.expect("teardown");
        let netd = Netd::start(config(&run_dir)).await.expect("start again");
        let pod = netd
            .create_pod_network("pod-b", Ipv4Addr::new(10, 244, 0, 3))
            .await
            .expect("create");
        let listener = listen_in(&outside.netns, Outside::HOST);
        let port = listener.local_addr().expect("local addr").port();
        let server = answer(listener, 1, |peer, _| peer.to_string().into_bytes());
        let (seen, _) = talk_from(&pod.netns_path, SocketAddr::from((Outside::HOST, port)))
            .expect("masqueraded again after a restart");
        server.join().expect("server");
        assert!(seen.starts_with("192.0.2.1:"), "{seen}");
    });
}

#[test]
fn service_nat_spreads_new_connections_over_endpoints() {
    sandboxed("nat", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let (ip_a, ip_b, ip_c) = (
            Ipv4Addr::new(10, 244, 0, 2),
            Ipv4Addr::new(10, 244, 0, 3),
            Ipv4Addr::new(10, 244, 0, 4),
        );
        let a = netd.create_pod_network("a", ip_a).await.expect("pod a");
        let b = netd.create_pod_network("b", ip_b).await.expect("pod b");
        let c = netd.create_pod_network("c", ip_c).await.expect("pod c");
        let listener_a = listen_in(&a.netns_path, ip_a);
        let listener_b = listen_in(&b.netns_path, ip_b);
        let port = |l: &TcpListener| l.local_addr().expect("addr").port();
        let endpoints = vec![
            SocketAddrV4::new(ip_a, port(&listener_a)),
            SocketAddrV4::new(ip_b, port(&listener_b)),
        ];
        // As proxyd keeps them: the ClusterIP is also a local address of the node.
        let vip = Ipv4Addr::new(10, 96, 0, 50);
        netd.add_local_address(vip).await.expect("vip");
        netd.set_service_nat(&[netd::ServiceNat {
            vip,
            protocol: 6,
            port: 80,
            endpoints,
        }])
        .expect("service nat");
        let (from_pods, hairpin, from_node) = (40, 5, 5);
        let total = from_pods + hairpin + from_node;
        let server_a = answer(listener_a, total, |_, _| b"a".to_vec());
        let server_b = answer(listener_b, total, |_, _| b"b".to_vec());
        let to = SocketAddr::from((vip, 80));
        let mut answers = std::collections::BTreeMap::new();
        for _ in 0..from_pods {
            let (id, _) = talk_from(&c.netns_path, to).expect("pod c reaches the service");
            *answers.entry(id).or_insert(0) += 1;
        }
        assert_eq!(answers.len(), 2, "both endpoints answer: {answers:?}");
        // Hairpin: a pod through its own Service, possibly to itself.
        for _ in 0..hairpin {
            let (id, _) = talk_from(&a.netns_path, to).expect("pod a reaches its own service");
            assert!(id == "a" || id == "b", "{id}");
        }
        // From the node itself (the output hook).
        for _ in 0..from_node {
            let mut stream = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT).expect("node");
            stream.write_all(b"ping").expect("write");
            let mut id = String::new();
            stream.read_to_string(&mut id).expect("read");
            assert!(id == "a" || id == "b", "{id}");
        }
        // An empty list leaves only the masquerade: the VIP is a plain local address again,
        // where nothing listens.
        netd.set_service_nat(&[]).expect("no services");
        let refused = talk_from(&c.netns_path, to).expect_err("nothing behind the vip");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        drop((server_a, server_b));
    });
}

#[test]
fn teardown_removes_bridge_pods_and_netns_dir() {
    sandboxed("teardown", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let pods: Vec<PodNetwork> = create_concurrently(&netd, 3).await;
        netd.teardown().await.expect("teardown");
        assert!(interface("kubicle0").is_none(), "bridge left");
        for pod in &pods {
            assert!(
                interface(&pod.host_veth).is_none(),
                "{} left",
                pod.host_veth
            );
            assert!(!pod.netns_path.exists());
        }
        assert!(!run_dir.join("netns").exists(), "netns dir left");
        netd.teardown().await.expect("teardown again");
        // And the node can be set up again afterwards.
        Netd::start(config(&run_dir))
            .await
            .expect("start after teardown");
    });
}

/// Creates `n` pods concurrently (netd's calls for different pods may overlap).
async fn create_concurrently(netd: &Netd, n: u8) -> Vec<PodNetwork> {
    let ids: Vec<String> = (0..n).map(|i| format!("pod-{i}")).collect();
    let creations = ids
        .iter()
        .enumerate()
        .map(|(i, id)| netd.create_pod_network(id, Ipv4Addr::new(10, 244, 1, 2 + i as u8)));
    let mut pods = Vec::new();
    for result in futures_util::future::join_all(creations).await {
        pods.push(result.expect("concurrent create"));
    }
    pods
}

#[test]
fn create_pod_network_timing() {
    sandboxed("timing", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let mut took = Vec::new();
        for i in 0..20u8 {
            let started = Instant::now();
            netd.create_pod_network(&format!("t{i}"), Ipv4Addr::new(10, 244, 2, 2 + i))
                .await
                .expect("create");
            took.push(started.elapsed());
        }
        let deleting = Instant::now();
        for i in 0..20u8 {
            netd.delete_pod_network(&format!("t{i}"))
                .await
                .expect("delete");
        }
        let delete_mean = deleting.elapsed() / 20;
        took.sort();
        eprintln!(
            "create_pod_network over 20: median {:?}, min {:?}, max {:?}; delete_pod_network mean {:?}",
            took[10], took[0], took[19], delete_mean
        );
    });
}

#[test]
fn service_nat_takes_a_table_of_thousands_whole() {
    // More elements than one netlink attribute can hold (64 KiB): they must be split, not
    // truncated (which the kernel took silently, dropping every Service past ~1,100).
    sandboxed("nat-scale", |run_dir| async move {
        let netd = Netd::start(config(&run_dir)).await.expect("start");
        let n = 2_000u32;
        let services: Vec<netd::ServiceNat> = (1..=n)
            .map(|i| netd::ServiceNat {
                vip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + i),
                protocol: 6,
                port: 80,
                endpoints: vec![SocketAddrV4::new(Ipv4Addr::new(10, 244, 0, 2), 8080)],
            })
            .collect();
        netd.set_service_nat(&services).expect("service nat");
        for map in ["service-ips", "endpoints"] {
            let out = std::process::Command::new("nft")
                .args(["list", "map", "ip", "kubicle", map])
                .output()
                .expect("run nft");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listed = String::from_utf8_lossy(&out.stdout).matches("goto").count();
            assert_eq!(listed, n as usize, "{map}");
        }
    });
}
