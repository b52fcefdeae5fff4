//! Which resolvers names outside the cluster go to: the `nameserver` lines of a resolv.conf,
//! as CoreDNS's `forward . /etc/resolv.conf`.
//!
//! Two rules keep dnsd from forwarding to itself or to a stub that cannot reach the world:
//! - If the file lists only loopback addresses (systemd-resolved's `127.0.0.53`, a local
//!   dnsmasq), the systemd-resolved file of real upstreams
//!   (`/run/systemd/resolve/resolv.conf`) is read instead, when it names any non-loopback
//!   server.
//! - An upstream that is one of dnsd's own listen addresses (or a loopback address on the port
//!   of a wildcard listener) is dropped.
//!
//! Like CoreDNS's `forward`, at most 15 upstreams are kept, in file order.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use tracing::{info, warn};

use crate::error::Error;

/// CoreDNS `forward`'s limit on upstreams.
const MAX_UPSTREAMS: usize = 15;

/// The upstream resolvers to forward to, in order. An empty list means "answer REFUSED".
pub(crate) fn upstreams(
    resolv_conf: &Path,
    systemd_resolv_conf: &Path,
    own: &[SocketAddr],
) -> Result<Vec<SocketAddr>, Error> {
    let listed = match std::fs::read_to_string(resolv_conf) {
        Ok(text) => nameservers(&text),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            warn!(path = %resolv_conf.display(), "no resolv.conf: names outside the cluster will be refused");
            Vec::new()
        }
        Err(source) => {
            return Err(Error::ReadResolvConf {
                path: resolv_conf.to_path_buf(),
                source,
            });
        }
    };
    let mut chosen = listed.clone();
    if !listed.is_empty() && listed.iter().all(|s| s.ip().is_loopback()) {
        // A loopback stub: take the real upstreams from systemd-resolved, if it names any.
        let real: Vec<SocketAddr> = std::fs::read_to_string(systemd_resolv_conf)
            .map(|text| nameservers(&text))
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.ip().is_loopback())
            .collect();
        if !real.is_empty() {
            info!(stub = ?listed, path = %systemd_resolv_conf.display(), "resolv.conf names only a loopback stub; using the systemd-resolved upstreams");
            chosen = real;
        }
    }
    Ok(without_own(chosen, own))
}

/// `upstreams` without dnsd's own addresses and duplicates, at most [`MAX_UPSTREAMS`].
pub(crate) fn without_own(upstreams: Vec<SocketAddr>, own: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut unique: Vec<SocketAddr> = Vec::new();
    for upstream in upstreams {
        if is_own(upstream, own) {
            warn!(%upstream, "not forwarding to an address dnsd listens on");
        } else if !unique.contains(&upstream) {
            unique.push(upstream);
        }
    }
    unique.truncate(MAX_UPSTREAMS);
    unique
}

/// The `nameserver` addresses of a resolv.conf, port 53. Scoped IPv6 addresses (`fe80::1%eth0`)
/// are skipped: a `SocketAddr` cannot name the interface.
fn nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Whether a query sent to `upstream` would reach dnsd itself.
fn is_own(upstream: SocketAddr, own: &[SocketAddr]) -> bool {
    own.iter().any(|listen| {
        listen.port() == upstream.port()
            && (listen.ip() == upstream.ip()
                || (listen.ip().is_unspecified() && upstream.ip().is_loopback()))
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("dnsd-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn parses_nameserver_lines() {
        let text = "# generated\nsearch example.org\nnameserver 192.0.2.1 # primary\n\
                    nameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver bogus\n\
                    ;nameserver 192.0.2.9\noptions ndots:2\nnameserver 192.0.2.1\n";
        assert_eq!(
            nameservers(text),
            addrs(&["192.0.2.1:53", "[2001:db8::53]:53", "192.0.2.1:53"])
        );
    }

    #[test]
    fn systemd_stub_is_replaced_by_the_real_upstreams() {
        let dir = TempDir::new("stub");
        let stub = dir.file(
            "resolv.conf",
            "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
        );
        let real = dir.file(
            "real.conf",
            "nameserver 192.0.2.10\nnameserver 192.0.2.11\n",
        );
        assert_eq!(
            upstreams(&stub, &real, &[]).unwrap(),
            addrs(&["192.0.2.10:53", "192.0.2.11:53"])
        );
        // No systemd file, or one naming only loopback: the stub stays.
        let missing = dir.0.join("missing.conf");
        assert_eq!(
            upstreams(&stub, &missing, &[]).unwrap(),
            addrs(&["127.0.0.53:53"])
        );
        let also_stub = dir.file("also.conf", "nameserver 127.0.0.53\n");
        assert_eq!(
            upstreams(&stub, &also_stub, &[]).unwrap(),
            addrs(&["127.0.0.53:53"])
        );
        // A file with one real server is used as it is.
        let mixed = dir.file(
            "mixed.conf",
            "nameserver 127.0.0.53\nnameserver 192.0.2.1\n",
        );
        assert_eq!(
            upstreams(&mixed, &real, &[]).unwrap(),
            addrs(&["127.0.0.53:53", "192.0.2.1:53"])
        );
    }

    #[test]
    fn never_forwards_to_itself() {
        let dir = TempDir::new("self");
        let conf = dir.file(
            "resolv.conf",
            "nameserver 10.96.0.10\nnameserver 127.0.0.1\nnameserver 192.0.2.1\n",
        );
        let none = dir.0.join("none");
        assert_eq!(
            upstreams(&conf, &none, &addrs(&["10.96.0.10:53"])).unwrap(),
            addrs(&["127.0.0.1:53", "192.0.2.1:53"])
        );
        assert_eq!(
            upstreams(&conf, &none, &addrs(&["0.0.0.0:53"])).unwrap(),
            addrs(&["10.96.0.10:53", "192.0.2.1:53"])
        );
        // A missing file means no upstream; an unreadable one is an error.
        assert_eq!(
            upstreams(&none, &none, &[]).unwrap(),
            Vec::<SocketAddr>::new()
        );
        assert!(matches!(
            upstreams(&dir.0, &none, &[]),
            Err(Error::ReadResolvConf { .. })
        ));
    }
}
