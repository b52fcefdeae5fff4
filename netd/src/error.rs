//! [`Error`]: every way netd can fail, one variant per step, each carrying the step's inputs.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

/// A failed netd step.
///
/// Variants name the step that failed and carry its inputs; the cause is the `source`, so
/// `{:#}` in anyhow prints the whole chain ("create veth pair kv0a1b2c3d4e: ... File exists").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bridge name is not a valid Linux interface name.
    #[error(
        "bridge name {name:?} is not a valid interface name (1 to 15 bytes, no '/', ':' or whitespace)"
    )]
    InvalidBridgeName {
        /// The rejected name.
        name: String,
    },
    /// The veth prefix would make host veth names longer than an interface name may be.
    #[error(
        "veth prefix {prefix:?} must be 1 to 5 bytes of interface-name characters, so that \
         \"<prefix><10 hex digits>\" fits in 15 bytes"
    )]
    InvalidVethPrefix {
        /// The rejected prefix.
        prefix: String,
    },
    /// The nf_tables table name is empty, too long or has characters `nft` would need quoted.
    #[error("invalid nf_tables table name {name:?}: 1 to 255 letters, digits, '-' or '_'")]
    InvalidTableName {
        /// The rejected name.
        name: String,
    },
    /// Another link of the node netns already has an address in the pod CIDR.
    #[error(
        "pod cidr {cidr} is taken: {link} has {address} (another cluster in this network namespace?): choose another --pod-cidr"
    )]
    PodCidrTaken {
        /// The pod CIDR.
        cidr: Ipv4Net,
        /// The link that has an address in it.
        link: String,
        /// That address.
        address: Ipv4Net,
    },
    /// The pod CIDR has no room for a gateway and at least one pod.
    #[error("pod cidr {cidr} is too small: it needs a gateway and at least one pod address")]
    PodCidrTooSmall {
        /// The rejected CIDR.
        cidr: Ipv4Net,
    },
    /// A pod id cannot be used as a file name under `<run_dir>/netns`.
    #[error(
        "pod id {id:?} is not usable as a file name (1 to 255 bytes, no '/' or NUL, not '.' or '..')"
    )]
    InvalidPodId {
        /// The rejected id.
        id: String,
    },
    /// A pod address is not a usable host address of the pod CIDR.
    #[error(
        "pod ip {ip} is not a pod address of {cidr} (network, gateway and broadcast are reserved)"
    )]
    InvalidPodIp {
        /// The rejected address.
        ip: Ipv4Addr,
        /// The pod CIDR.
        cidr: Ipv4Net,
    },
    /// The IPAM pool has no free address left.
    #[error("no free pod ip left in {cidr}")]
    PoolExhausted {
        /// The exhausted pod CIDR.
        cidr: Ipv4Net,
    },

    /// Opening an rtnetlink socket failed.
    #[error("open rtnetlink socket in the node netns")]
    OpenNetlink {
        /// The cause.
        source: io::Error,
    },
    /// Opening an rtnetlink socket inside a pod netns failed.
    #[error("open rtnetlink socket in netns {path}")]
    OpenPodNetlink {
        /// The pod netns bind mount.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Looking a link up by name failed.
    #[error("look up link {name}")]
    GetLink {
        /// The link name.
        name: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Listing the links failed.
    #[error("list links")]
    ListLinks {
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// A link that must exist does not.
    #[error("link {name} does not exist")]
    LinkMissing {
        /// The link name.
        name: String,
    },
    /// Creating the bridge failed.
    #[error("create bridge {name}")]
    CreateBridge {
        /// The bridge name.
        name: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Creating a veth pair failed.
    #[error("create veth pair {host} with peer {peer} in netns {netns}")]
    CreateVeth {
        /// The host-side name.
        host: String,
        /// The pod-side name.
        peer: String,
        /// The netns the pod side is created in.
        netns: PathBuf,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Attaching a link to the bridge (and setting it up) failed.
    #[error("attach link {name} to bridge {bridge} and set it up")]
    AttachLink {
        /// The link name.
        name: String,
        /// The bridge name.
        bridge: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Turning on hairpin mode on a bridge port failed.
    #[error("turn on hairpin mode on bridge port {name}")]
    SetHairpin {
        /// The port name.
        name: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Setting a link up failed.
    #[error("set link {name} up")]
    SetLinkUp {
        /// The link name.
        name: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Setting a link's MAC address failed.
    #[error("set the MAC address of link {name}")]
    SetLinkMac {
        /// The link name.
        name: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Deleting a link failed.
    #[error("delete link {name}")]
    DeleteLink {
        /// The link name.
        name: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Listing the addresses of a link failed.
    #[error("list addresses of link {link}")]
    ListAddresses {
        /// The link name.
        link: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Adding an address to a link failed.
    #[error("add address {address} to link {link}")]
    AddAddress {
        /// The link name.
        link: String,
        /// The address and prefix.
        address: Ipv4Net,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Removing an address from a link failed.
    #[error("remove address {address} from link {link}")]
    DeleteAddress {
        /// The link name.
        link: String,
        /// The address and prefix.
        address: Ipv4Net,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },
    /// Setting the default route failed.
    #[error("set default route via {gateway} on link {link}")]
    SetDefaultRoute {
        /// The gateway.
        gateway: Ipv4Addr,
        /// The link name.
        link: String,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },

    /// Adding or deleting an `unreachable` route failed.
    #[error("{action} the unreachable route for {destination}")]
    UnreachableRoute {
        /// `add` or `delete`.
        action: &'static str,
        /// The destination.
        destination: Ipv4Net,
        /// The cause.
        source: Box<rtnetlink::Error>,
    },

    /// An nf_tables operation failed.
    #[error("nftables: {action} ip {table}")]
    Nftables {
        /// What netd was doing.
        action: &'static str,
        /// The table it was doing it to.
        table: String,
        /// The cause.
        source: io::Error,
    },
    /// Writing a sysctl failed.
    #[error("write {value:?} to {path}")]
    WriteSysctl {
        /// The `/proc/sys` file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The cause.
        source: io::Error,
    },
    /// Spawning the thread that enters or creates a netns failed.
    #[error("spawn a thread to enter netns {path}")]
    SpawnThread {
        /// The netns bind mount.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The thread working inside a netns ended without an answer (it panicked).
    #[error("the thread working in netns {path} panicked")]
    NetnsThreadPanicked {
        /// The netns bind mount.
        path: PathBuf,
    },
    /// Creating the directory of the netns bind mounts failed.
    #[error("create netns directory {path}")]
    CreateNetnsDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Making the netns directory a shared mount point failed.
    #[error("make netns directory {path} a shared mount")]
    ShareNetnsDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Removing the netns directory failed.
    #[error("remove netns directory {path}")]
    RemoveNetnsDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Listing the netns bind mounts failed.
    #[error("list netns directory {path}")]
    ListNetns {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Checking whether a path is a netns bind mount failed.
    #[error("check whether {path} is a netns bind mount")]
    StatNetns {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Creating the mount point file of a netns failed.
    #[error("create netns mount point {path}")]
    CreateNetnsFile {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `unshare(CLONE_NEWNET)` failed.
    #[error("unshare a new netns for {path}")]
    UnshareNetns {
        /// The bind mount the netns was for.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Bind-mounting a new netns onto its path failed.
    #[error("bind-mount the new netns onto {path}")]
    BindMountNetns {
        /// The mount point.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Opening a netns file failed.
    #[error("open netns {path}")]
    OpenNetns {
        /// The netns bind mount.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `setns` into a netns failed.
    #[error("enter netns {path}")]
    EnterNetns {
        /// The netns bind mount.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Unmounting a netns bind mount failed.
    #[error("unmount netns {path}")]
    UnmountNetns {
        /// The mount point.
        path: PathBuf,
        /// The cause.
        source: nix::Error,
    },
    /// Removing the mount point file of a netns failed.
    #[error("remove netns mount point {path}")]
    RemoveNetnsFile {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },

    /// Creating a pod network failed, and so did removing what had been made for it.
    #[error("clean up the half-made network of pod {id} after the failure below: {cleanup}")]
    CleanupFailed {
        /// The pod id.
        id: String,
        /// What went wrong while cleaning up.
        cleanup: Box<Error>,
        /// The failure that started the cleanup.
        source: Box<Error>,
    },
}
