//! A pod's `/etc/resolv.conf`, `/etc/hosts` and hostname, as the kubelet and its container
//! runtime write them.
//!
//! Ported from K8S `pkg/kubelet/network/dns/dns.go` (`GetPodDNS` and its helpers),
//! `pkg/kubelet/kubelet_pods.go` (`managedHostsFileContent`, `nodeHostsFileContent`,
//! `GeneratePodHostNameAndDomain`, `truncatePodHostnameIfNeeded`) and
//! `pkg/kubelet/util/util.go` (`GetNodenameForKernel`). The resolv.conf text is laid out as
//! containerd's `parseDNSOptions` writes the CRI `DNSConfig`.
//! The spec is `kubernetes-networking.md` §1.7 and §1.11.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

/// At most this many nameservers (`MaxDNSNameservers`).
pub const MAX_DNS_NAMESERVERS: usize = 3;
/// At most this many search domains (`MaxDNSSearchPathsExpanded`, the default since 1.28).
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
/// At most this many characters in the search line (`MaxDNSSearchListCharsExpanded`).
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;
/// Longer search domains make glibc 2.28 abort, so the kubelet drops them
/// (`DNS1123SubdomainMaxLength`).
const MAX_SEARCH_DOMAIN_LEN: usize = 253;
/// The options of a ClusterFirst pod (`defaultDNSOptions`).
const DEFAULT_DNS_OPTIONS: &str = "ndots:5";

/// The header of a managed `/etc/hosts` (`managedHostsHeader`).
const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
/// The header of a hostNetwork pod's `/etc/hosts` (`managedHostsHeaderWithHostNetwork`).
const MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK: &str =
    "# Kubernetes-managed hosts file (host network).\n";
/// The entries every managed `/etc/hosts` starts with.
const LOCAL_HOSTS: &str = "127.0.0.1\tlocalhost\n\
    ::1\tlocalhost ip6-localhost ip6-loopback\n\
    fe00::0\tip6-localnet\n\
    fe00::0\tip6-mcastprefix\n\
    fe00::1\tip6-allnodes\n\
    fe00::2\tip6-allrouters\n";
/// A hostname is at most 63 characters: 64 bytes of `utsname.nodename` less the NUL.
const HOSTNAME_MAX_LEN: usize = 63;
/// With `setHostnameAsFQDN` the whole FQDN must fit in `utsname.nodename`.
const FQDN_MAX_LEN: usize = 64;

/// Why a pod's kernel hostname cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostnameError {
    /// `setHostnameAsFQDN` asks for an FQDN longer than the kernel's nodename field.
    #[error(
        "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long \
         ({FQDN_MAX_LEN} characters is the max, {} characters requested)",
        .fqdn.len()
    )]
    FqdnTooLong {
        /// The FQDN that does not fit.
        fqdn: String,
    },
}

/// `/etc/resolv.conf` of a pod, and the warnings to emit as `DNSConfigForming` events.
///
/// `dnsPolicy` (default `ClusterFirst`) picks the base:
/// - `ClusterFirst` (not hostNetwork) and `ClusterFirstWithHostNet`: nameserver
///   `cluster_dns`, search `<ns>.svc.<domain> svc.<domain> <domain>` then the host's search
///   domains without duplicates, options `ndots:5`. An unspecified `cluster_dns` (0.0.0.0)
///   means none is configured: a warning, then `Default`.
/// - `Default`, and `ClusterFirst` on hostNetwork: `host_resolv_conf` as parsed, a loopback
///   stub such as `127.0.0.53` kept as is. Empty text (no `--resolv-conf`) gives nameserver
///   `127.0.0.1` and search `.`.
/// - `None`: empty.
///
/// Then `spec.dnsConfig` is merged: nameservers and searches appended without duplicates,
/// options merged by name with the pod's values winning (in place; new names in pod order).
/// Last, the limits apply: 3 nameservers, 32 search domains of at most 253 characters, 2048
/// characters in the search line. Each truncation adds the kubelet's warning.
///
/// The text is `search`, `nameserver` (one line each), `options`, as containerd writes it;
/// an empty config is the empty string.
#[must_use]
pub fn resolv_conf(
    pod: &Value,
    cluster_dns: Ipv4Addr,
    cluster_domain: &str,
    host_resolv_conf: &str,
) -> (String, Vec<String>) {
    let (config, warnings) = pod_dns(pod, cluster_dns, cluster_domain, host_resolv_conf);
    (config.render(), warnings)
}

/// The resolver settings of a pod (the CRI's `DNSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DnsConfig {
    servers: Vec<String>,
    searches: Vec<String>,
    options: Vec<String>,
}

impl DnsConfig {
    /// containerd's `parseDNSOptions`.
    fn render(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            let _ = writeln!(text, "search {}", self.searches.join(" "));
        }
        for server in &self.servers {
            let _ = writeln!(text, "nameserver {server}");
        }
        if !self.options.is_empty() {
            let _ = writeln!(text, "options {}", self.options.join(" "));
        }
        text
    }
}

/// How a pod's resolver is based (`podDNSType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodDnsType {
    Cluster,
    Host,
    None,
}

/// `getPodDNSType`. An unknown policy, which validation rejects, counts as cluster DNS as
/// upstream does after logging.
fn pod_dns_type(pod: &Value) -> PodDnsType {
    let host_network = pod
        .pointer("/spec/hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match str_at(pod, &["spec", "dnsPolicy"]) {
        "None" => PodDnsType::None,
        "ClusterFirstWithHostNet" => PodDnsType::Cluster,
        "ClusterFirst" | "" if !host_network => PodDnsType::Cluster,
        // A hostNetwork pod with ClusterFirst falls back to Default.
        "ClusterFirst" | "" | "Default" => PodDnsType::Host,
        _ => PodDnsType::Cluster,
    }
}

/// `GetPodDNS`.
fn pod_dns(
    pod: &Value,
    cluster_dns: Ipv4Addr,
    cluster_domain: &str,
    host_resolv_conf: &str,
) -> (DnsConfig, Vec<String>) {
    let (host, mut warnings) = parse_resolv_conf(host_resolv_conf);
    let host_config = || {
        if host_resolv_conf.trim().is_empty() {
            // With `--resolv-conf=""` the kubelet points the pod at the local machine, which
            // is what the resolver does with no nameserver at all.
            DnsConfig {
                servers: vec!["127.0.0.1".to_string()],
                searches: vec![".".to_string()],
                options: host.options.clone(),
            }
        } else {
            host.clone()
        }
    };
    let mut config = match pod_dns_type(pod) {
        PodDnsType::None => DnsConfig::default(),
        PodDnsType::Cluster if !cluster_dns.is_unspecified() => {
            let namespace = match str_at(pod, &["metadata", "namespace"]) {
                "" => "default",
                namespace => namespace,
            };
            DnsConfig {
                servers: vec![cluster_dns.to_string()],
                searches: cluster_first_searches(namespace, cluster_domain, &host.searches),
                options: vec![DEFAULT_DNS_OPTIONS.to_string()],
            }
        }
        PodDnsType::Cluster => {
            warnings.push(
                "kubelet does not have ClusterDNS IP configured and cannot create Pod using \
                 \"ClusterFirst\" policy. Falling back to \"Default\" policy."
                    .to_string(),
            );
            host_config()
        }
        PodDnsType::Host => host_config(),
    };
    if let Some(pod_config) = pod.pointer("/spec/dnsConfig").filter(|c| c.is_object()) {
        append_dns_config(&mut config, pod_config);
    }
    fit_limits(&mut config, &mut warnings);
    (config, warnings)
}

/// `generateSearchesForDNSClusterFirst`.
fn cluster_first_searches(
    namespace: &str,
    cluster_domain: &str,
    host_searches: &[String],
) -> Vec<String> {
    if cluster_domain.is_empty() {
        return host_searches.to_vec();
    }
    let mut searches = vec![
        format!("{namespace}.svc.{cluster_domain}"),
        format!("svc.{cluster_domain}"),
        cluster_domain.to_string(),
    ];
    searches.extend_from_slice(host_searches);
    omit_duplicates(searches)
}

/// `parseResolvConf`: `nameserver` lines accumulate, the last `search` and `options` lines
/// win, `#` starts a comment line. A trailing dot is cut from each search domain, and a
/// domain left empty (the root, `.`) is dropped. A `nameserver` line without an address is
/// skipped with a warning (upstream fails the pod).
fn parse_resolv_conf(text: &str) -> (DnsConfig, Vec<String>) {
    let mut config = DnsConfig::default();
    let mut warnings = Vec::new();
    for line in text.split('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        let mut fields = trimmed.split_whitespace();
        match fields.next() {
            Some("nameserver") => match fields.next() {
                Some(server) => config.servers.push(server.to_string()),
                None => warnings.push("host resolv.conf: nameserver list is empty".to_string()),
            },
            Some("search") => {
                config.searches = fields
                    .map(|domain| domain.strip_suffix('.').unwrap_or(domain))
                    .filter(|domain| !domain.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            Some("options") => config.options = fields.map(str::to_string).collect(),
            _ => {}
        }
    }
    (config, warnings)
}

/// `appendDNSConfig`.
fn append_dns_config(config: &mut DnsConfig, pod_config: &Value) {
    let strings = |key: &str| -> Vec<String> {
        array_at(pod_config, key)
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    config.servers.extend(strings("nameservers"));
    config.servers = omit_duplicates(std::mem::take(&mut config.servers));
    config.searches.extend(strings("searches"));
    config.searches = omit_duplicates(std::mem::take(&mut config.searches));
    config.options = merge_dns_options(&config.options, array_at(pod_config, "options"));
}

/// `mergeDNSOptions`: by name, pod values win. Upstream goes through a map; here an option
/// keeps the position of its first occurrence and new names follow in pod order.
fn merge_dns_options(existing: &[String], pod_options: &[Value]) -> Vec<String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match merged.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => merged.push((name.to_string(), value.to_string())),
    };
    for option in existing {
        let (name, value) = option.split_once(':').unwrap_or((option, ""));
        set(name, value);
    }
    for option in pod_options {
        set(str_at(option, &["name"]), str_at(option, &["value"]));
    }
    merged
        .into_iter()
        .map(|(name, value)| {
            if value.is_empty() {
                name
            } else {
                format!("{name}:{value}")
            }
        })
        .collect()
}

/// `formDNSConfigFitsLimits`: nameservers, then searches, each with its own warning.
fn fit_limits(config: &mut DnsConfig, warnings: &mut Vec<String>) {
    if config.servers.len() > MAX_DNS_NAMESERVERS {
        config.servers.truncate(MAX_DNS_NAMESERVERS);
        warnings.push(format!(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied \
             nameserver line is: {}",
            config.servers.join(" ")
        ));
    }
    let mut exceeded = false;
    if config.searches.len() > MAX_DNS_SEARCH_PATHS {
        config.searches.truncate(MAX_DNS_SEARCH_PATHS);
        exceeded = true;
    }
    let before = config.searches.len();
    config
        .searches
        .retain(|search| search.len() <= MAX_SEARCH_DOMAIN_LEN);
    exceeded |= config.searches.len() != before;
    let mut line_len = config.searches.join(" ").len();
    if line_len > MAX_DNS_SEARCH_LIST_CHARS {
        while line_len > MAX_DNS_SEARCH_LIST_CHARS {
            let Some(last) = config.searches.pop() else {
                break;
            };
            line_len = line_len.saturating_sub(last.len() + 1);
        }
        exceeded = true;
    }
    if exceeded {
        warnings.push(format!(
            "Search Line limits were exceeded, some search paths have been omitted, the applied \
             search line is: {}",
            config.searches.join(" ")
        ));
    }
}

/// `omitDuplicates`: the first occurrence stays.
fn omit_duplicates(values: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .filter(|value| seen.insert(value.clone()))
        .collect()
}

/// `/etc/hosts` as the kubelet writes it for a pod that is not on the host network
/// (`managedHostsFileContent`).
///
/// After the header and the localhost and `fe00::`/`ff00::` lines comes one line per pod IP:
/// `<ip>\t<hostname>.<subdomain>.<ns>.svc.<domain>\t<hostname>` when `spec.subdomain` is set,
/// else `<ip>\t<hostname>`. Then `spec.hostAliases`, after a blank line and
/// `# Entries added by HostAliases.`, one `<ip>\t<host1>\t<host2>...` line each.
#[must_use]
pub fn hosts_file(pod: &Value, pod_ips: &[IpAddr], cluster_domain: &str) -> String {
    let (hostname, domain) = hostname_and_domain(pod, cluster_domain);
    let mut text = String::from(MANAGED_HOSTS_HEADER);
    text.push_str(LOCAL_HOSTS);
    for ip in pod_ips {
        if domain.is_empty() {
            let _ = writeln!(text, "{ip}\t{hostname}");
        } else {
            let _ = writeln!(text, "{ip}\t{hostname}.{domain}\t{hostname}");
        }
    }
    text.push_str(&host_aliases_entries(pod));
    text
}

/// `/etc/hosts` for a hostNetwork pod (`nodeHostsFileContent`): the node's file after its own
/// header, then the pod's `hostAliases` as in [`hosts_file`].
#[must_use]
pub fn host_network_hosts_file(node_hosts: &str, pod: &Value) -> String {
    let mut text = String::from(MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK);
    text.push_str(node_hosts);
    text.push_str(&host_aliases_entries(pod));
    text
}

/// `hostsEntriesFromHostAliases`.
fn host_aliases_entries(pod: &Value) -> String {
    let aliases = pod
        .pointer("/spec/hostAliases")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if aliases.is_empty() {
        return String::new();
    }
    let mut text = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        let hostnames: Vec<&str> = array_at(alias, "hostnames")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(text, "{}\t{}", str_at(alias, &["ip"]), hostnames.join("\t"));
    }
    text
}

/// The pod's hostname: `spec.hostname` or `metadata.name`, cut to 63 characters; with
/// `spec.setHostnameAsFQDN` and a `spec.subdomain`, the FQDN
/// `<hostname>.<subdomain>.<ns>.svc.<domain>` instead.
///
/// An FQDN longer than 64 characters, with which upstream fails the pod, gives the short
/// hostname here; use [`kernel_hostname`] to get the error.
#[must_use]
pub fn hostname(pod: &Value, cluster_domain: &str) -> String {
    kernel_hostname(pod, cluster_domain)
        .unwrap_or_else(|_| hostname_and_domain(pod, cluster_domain).0)
}

/// The pod's kernel hostname exactly as the kubelet decides it (`GetNodenameForKernel`): as
/// [`hostname`], but an FQDN that does not fit is an error.
///
/// # Errors
///
/// [`HostnameError::FqdnTooLong`] when `setHostnameAsFQDN` asks for an FQDN longer than
/// 64 characters; upstream then fails the pod.
pub fn kernel_hostname(pod: &Value, cluster_domain: &str) -> Result<String, HostnameError> {
    let (hostname, domain) = hostname_and_domain(pod, cluster_domain);
    let as_fqdn = pod
        .pointer("/spec/setHostnameAsFQDN")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if domain.is_empty() || !as_fqdn {
        return Ok(hostname);
    }
    let fqdn = format!("{hostname}.{domain}");
    if fqdn.len() > FQDN_MAX_LEN {
        return Err(HostnameError::FqdnTooLong { fqdn });
    }
    Ok(fqdn)
}

/// `GeneratePodHostNameAndDomain`: the hostname, and `<subdomain>.<ns>.svc.<domain>` or "".
/// The names are not validated again; the API server did that.
fn hostname_and_domain(pod: &Value, cluster_domain: &str) -> (String, String) {
    let hostname = match str_at(pod, &["spec", "hostname"]) {
        "" => str_at(pod, &["metadata", "name"]),
        hostname => hostname,
    };
    let subdomain = str_at(pod, &["spec", "subdomain"]);
    let domain = if subdomain.is_empty() {
        String::new()
    } else {
        let namespace = str_at(pod, &["metadata", "namespace"]);
        format!("{subdomain}.{namespace}.svc.{cluster_domain}")
    };
    (truncate_hostname(hostname), domain)
}

/// `truncatePodHostnameIfNeeded`: at most 63 bytes, then no trailing `-` or `.`.
/// Upstream fails the pod if nothing is left; the untruncated name is kept then.
fn truncate_hostname(hostname: &str) -> String {
    if hostname.len() <= HOSTNAME_MAX_LEN {
        return hostname.to_string();
    }
    let mut end = HOSTNAME_MAX_LEN;
    while !hostname.is_char_boundary(end) {
        end -= 1;
    }
    match hostname[..end].trim_end_matches(['-', '.']) {
        "" => hostname.to_string(),
        truncated => truncated.to_string(),
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests;
