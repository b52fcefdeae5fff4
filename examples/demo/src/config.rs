//! [`Config`]: which app runs and how, validated from an env map before anything binds.
//!
//! The env map is passed in (see [`Config::from_env`]) so tests never touch process env.
//! Variables read, by name (see [`env_names`]):
//! - `PORT`: the listen port (default: the app's, see [`App::default_port`]).
//! - `AUTH_ADDRESS`: where users, tasks and client reach auth: `host`, `host:port` or an IP
//!   (default port 80), e.g. `auth-service.default`.
//! - `AUTH_SERVICE_SERVICE_HOST`, `AUTH_SERVICE_SERVICE_PORT`: the variables the kubelet
//!   injects for the `auth-service` Service, used when `AUTH_ADDRESS` is unset.
//! - `AUTH_SECRET`: auth's token signing key (default [`DEV_AUTH_SECRET`], a documented,
//!   public dev key).
//! - `AUTH_TOKEN_TTL_SECONDS`: how long a token is valid (default 3600).

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv6Addr},
    time::Duration,
};

use crate::error::Error;

/// The names of the environment variables the apps read.
pub mod env_names {
    /// The listen port.
    pub const PORT: &str = "PORT";
    /// Auth's address for users, tasks and client.
    pub const AUTH_ADDRESS: &str = "AUTH_ADDRESS";
    /// The injected ClusterIP of the `auth-service` Service.
    pub const AUTH_SERVICE_HOST: &str = "AUTH_SERVICE_SERVICE_HOST";
    /// The injected port of the `auth-service` Service.
    pub const AUTH_SERVICE_PORT: &str = "AUTH_SERVICE_SERVICE_PORT";
    /// Auth's token signing key.
    pub const AUTH_SECRET: &str = "AUTH_SECRET";
    /// Token lifetime in seconds.
    pub const AUTH_TOKEN_TTL_SECONDS: &str = "AUTH_TOKEN_TTL_SECONDS";
    /// The fallback for the kernel hostname.
    pub const HOSTNAME: &str = "HOSTNAME";
}

/// The signing key auth uses when `AUTH_SECRET` is unset. It is public: fine for a dev
/// cluster, where every auth replica must agree on a key, and nowhere else.
pub const DEV_AUTH_SECRET: &str = "kubicle-demo-dev-secret";

/// Default token lifetime.
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// One of the demo apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// Password hashes and tokens (port 80).
    Auth,
    /// Signup and login through auth (port 8080).
    Users,
    /// Tasks behind a token auth verifies (port 8000).
    Tasks,
    /// Polls auth every second and answers `GET /check` (port 9000).
    Client,
}

impl App {
    /// Every app, in the order the usage text lists them.
    pub const ALL: [App; 4] = [App::Auth, App::Users, App::Tasks, App::Client];

    /// The app's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            App::Auth => "auth",
            App::Users => "users",
            App::Tasks => "tasks",
            App::Client => "client",
        }
    }

    /// The app named `name`, if any.
    pub fn from_name(name: &str) -> Option<App> {
        App::ALL.into_iter().find(|app| app.name() == name)
    }

    /// The port the app listens on when `PORT` is unset (the seed's ports).
    pub fn default_port(self) -> u16 {
        match self {
            App::Auth => 80,
            App::Users => 8080,
            App::Tasks => 8000,
            App::Client => 9000,
        }
    }

    /// Whether the app calls auth.
    pub fn calls_auth(self) -> bool {
        !matches!(self, App::Auth)
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where auth's address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSource {
    /// `AUTH_ADDRESS`.
    AuthAddress,
    /// `AUTH_SERVICE_SERVICE_HOST` and `_PORT`, injected for the `auth-service` Service.
    ServiceEnv,
}

impl AddressSource {
    /// The variable's name, for logs.
    pub fn env_name(self) -> &'static str {
        match self {
            AddressSource::AuthAddress => env_names::AUTH_ADDRESS,
            AddressSource::ServiceEnv => env_names::AUTH_SERVICE_HOST,
        }
    }
}

/// Auth's address: a DNS name or an IP, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAddress {
    /// A DNS name (`auth-service.default`) or an IP literal (no brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The variable it came from.
    pub source: AddressSource,
}

impl AuthAddress {
    /// Parses an `AUTH_ADDRESS` value: `host`, `host:port`, an IPv4 or IPv6 literal, or
    /// `[v6]:port`; an `http://` prefix and a trailing `/` are tolerated.
    pub fn parse(value: &str, source: AddressSource) -> Result<AuthAddress, String> {
        let mut rest = value.trim();
        if let Some(stripped) = strip_prefix_ignore_case(rest, "http://") {
            rest = stripped;
        } else if rest.contains("://") {
            return Err("only http:// is supported".to_owned());
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err("empty address".to_owned());
        }
        if rest.contains('/') {
            return Err("expected host or host:port, without a path".to_owned());
        }
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (ip, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "missing ']' after an IPv6 address".to_owned())?;
            ip.parse::<Ipv6Addr>()
                .map_err(|_| format!("{ip:?} is not an IPv6 address"))?;
            let port = match after {
                "" => 80,
                _ => match after.strip_prefix(':') {
                    Some(port) => parse_port(port)?,
                    None => return Err("expected ':port' after ']'".to_owned()),
                },
            };
            (ip.to_owned(), port)
        } else if rest.parse::<Ipv6Addr>().is_ok() {
            (rest.to_owned(), 80)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host.to_owned(), parse_port(port)?),
                None => (rest.to_owned(), 80),
            }
        };
        if host.parse::<IpAddr>().is_err() {
            check_dns_name(&host)?;
        }
        Ok(AuthAddress { host, port, source })
    }

    /// `host:port` as an HTTP `Host` header and in URLs (`:80` left out, IPv6 bracketed).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `http://<authority><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.authority())
    }
}

impl fmt::Display for AuthAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

/// Whether users, tasks and client know where auth is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthTarget {
    /// Auth's address.
    Configured(AuthAddress),
    /// No usable address; the app starts anyway and answers 503 with this reason.
    Unconfigured {
        /// Why, in words an operator can act on.
        reason: String,
    },
}

/// A validated configuration of one app.
#[derive(Debug, Clone)]
pub struct Config {
    /// The app to run.
    pub app: App,
    /// The listen port.
    pub port: u16,
    /// This pod's name, from the kernel hostname (or `HOSTNAME`).
    pub hostname: String,
    /// Where auth is (unused by auth itself).
    pub auth: AuthTarget,
    /// Auth's token signing key.
    pub auth_secret: Vec<u8>,
    /// Whether `auth_secret` is [`DEV_AUTH_SECRET`] because `AUTH_SECRET` is unset.
    pub auth_secret_is_default: bool,
    /// How long a token auth issues stays valid.
    pub token_ttl: Duration,
    /// How long a call to auth may take to connect (name resolution included).
    pub connect_timeout: Duration,
    /// How long a whole call to auth may take.
    pub request_timeout: Duration,
    /// How often client polls auth.
    pub client_interval: Duration,
}

impl Config {
    /// The configuration of `app` from an env map (names in [`env_names`]).
    ///
    /// A bad `PORT` or `AUTH_TOKEN_TTL_SECONDS` is an error; a missing or bad auth address
    /// is not (see [`AuthTarget::Unconfigured`]).
    pub fn from_env(app: App, env: &HashMap<String, String>) -> Result<Config, Error> {
        let get = |name: &str| {
            env.get(name)
                .map(|value| value.trim())
                .filter(|v| !v.is_empty())
        };
        let port = match get(env_names::PORT) {
            Some(value) => parse_port(value).map_err(|_| Error::InvalidEnv {
                name: env_names::PORT,
                value: value.to_owned(),
                reason: "expected a port (1-65535)".to_owned(),
            })?,
            None => app.default_port(),
        };
        let token_ttl = match get(env_names::AUTH_TOKEN_TTL_SECONDS) {
            Some(value) => match value.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
                _ => {
                    return Err(Error::InvalidEnv {
                        name: env_names::AUTH_TOKEN_TTL_SECONDS,
                        value: value.to_owned(),
                        reason: "expected a positive number of seconds".to_owned(),
                    });
                }
            },
            None => DEFAULT_TOKEN_TTL,
        };
        let (auth_secret, auth_secret_is_default) = match env.get(env_names::AUTH_SECRET) {
            Some(secret) if !secret.is_empty() => (secret.as_bytes().to_vec(), false),
            _ => (DEV_AUTH_SECRET.as_bytes().to_vec(), true),
        };
        let hostname = kernel_hostname()
            .or_else(|| get(env_names::HOSTNAME).map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(Config {
            app,
            port,
            hostname,
            auth: auth_target(env),
            auth_secret,
            auth_secret_is_default,
            token_ttl,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            client_interval: Duration::from_secs(1),
        })
    }

    /// The configuration of `app` from this process's environment.
    pub fn from_process_env(app: App) -> Result<Config, Error> {
        Config::from_env(app, &std::env::vars().collect())
    }
}

/// Auth's address: `AUTH_ADDRESS`, else the injected `AUTH_SERVICE_SERVICE_HOST`/`_PORT`.
fn auth_target(env: &HashMap<String, String>) -> AuthTarget {
    let get = |name: &str| {
        env.get(name)
            .map(|value| value.trim())
            .filter(|v| !v.is_empty())
    };
    if let Some(value) = get(env_names::AUTH_ADDRESS) {
        return match AuthAddress::parse(value, AddressSource::AuthAddress) {
            Ok(address) => AuthTarget::Configured(address),
            Err(reason) => AuthTarget::Unconfigured {
                reason: format!("invalid {}={value:?}: {reason}", env_names::AUTH_ADDRESS),
            },
        };
    }
    let Some(host) = get(env_names::AUTH_SERVICE_HOST) else {
        return AuthTarget::Unconfigured {
            reason: format!(
                "auth address not configured: set {} (or {} and {})",
                env_names::AUTH_ADDRESS,
                env_names::AUTH_SERVICE_HOST,
                env_names::AUTH_SERVICE_PORT
            ),
        };
    };
    let port = match get(env_names::AUTH_SERVICE_PORT) {
        Some(value) => match parse_port(value) {
            Ok(port) => port,
            Err(reason) => {
                return AuthTarget::Unconfigured {
                    reason: format!(
                        "invalid {}={value:?}: {reason}",
                        env_names::AUTH_SERVICE_PORT
                    ),
                };
            }
        },
        None => 80,
    };
    match host.parse::<IpAddr>() {
        Ok(_) => AuthTarget::Configured(AuthAddress {
            host: host.to_owned(),
            port,
            source: AddressSource::ServiceEnv,
        }),
        Err(_) => AuthTarget::Unconfigured {
            reason: format!(
                "invalid {}={host:?}: expected an IP address",
                env_names::AUTH_SERVICE_HOST
            ),
        },
    }
}

fn parse_port(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{value:?} is not a port (1-65535)")),
    }
}

/// Accepts RFC 1123 host names (and `_`, which some DNS setups use).
fn check_dns_name(host: &str) -> Result<(), String> {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("{host:?} is not a host name or IP address"));
    }
    Ok(())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The kernel hostname, which is the pod name inside a kubicle pod.
fn kernel_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn auth_address_forms() {
        #[track_caller]
        fn check(input: &str, expected: Result<(&str, u16, &str), ()>) {
            let parsed = AuthAddress::parse(input, AddressSource::AuthAddress);
            match (parsed, expected) {
                (Ok(address), Ok((host, port, authority))) => {
                    assert_eq!(
                        (
                            address.host.as_str(),
                            address.port,
                            address.authority().as_str()
                        ),
                        (host, port, authority),
                        "{input}"
                    );
                }
                (Err(_), Err(())) => {}
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
        check(
            "auth-service.default",
            Ok(("auth-service.default", 80, "auth-service.default")),
        );
        check("auth-service", Ok(("auth-service", 80, "auth-service")));
        check(
            "auth-service.default.svc.cluster.local.",
            Ok((
                "auth-service.default.svc.cluster.local.",
                80,
                "auth-service.default.svc.cluster.local.",
            )),
        );
        check("10.109.214.64", Ok(("10.109.214.64", 80, "10.109.214.64")));
        check(
            "10.244.1.23:8080",
            Ok(("10.244.1.23", 8080, "10.244.1.23:8080")),
        );
        check("auth:80", Ok(("auth", 80, "auth")));
        check(
            "http://auth-service.default/",
            Ok(("auth-service.default", 80, "auth-service.default")),
        );
        check("HTTP://auth:81", Ok(("auth", 81, "auth:81")));
        check("fd00::1", Ok(("fd00::1", 80, "[fd00::1]")));
        check("[fd00::1]:8080", Ok(("fd00::1", 8080, "[fd00::1]:8080")));
        check("[fd00::1]", Ok(("fd00::1", 80, "[fd00::1]")));
        check("", Err(()));
        check("https://auth", Err(()));
        check("auth/verify", Err(()));
        check("auth:0", Err(()));
        check("auth:99999", Err(()));
        check("auth:", Err(()));
        check("bad host", Err(()));
        check("-auth", Err(()));
        check("[fd00::1", Err(()));
        check("[auth]:80", Err(()));
        check("a..b", Err(()));
    }

    #[test]
    fn defaults_per_app() {
        for app in App::ALL {
            let config = Config::from_env(app, &env(&[])).unwrap();
            assert_eq!(config.port, app.default_port());
            assert!(config.auth_secret_is_default);
            assert_eq!(config.auth_secret, DEV_AUTH_SECRET.as_bytes());
            assert!(matches!(config.auth, AuthTarget::Unconfigured { .. }));
        }
        assert_eq!(App::from_name("tasks"), Some(App::Tasks));
        assert_eq!(App::from_name("Tasks"), None);
    }

    #[test]
    fn port_and_ttl_are_validated() {
        let config = Config::from_env(App::Auth, &env(&[("PORT", "8081")])).unwrap();
        assert_eq!(config.port, 8081);
        for bad in ["0", "http", "70000", "-1"] {
            let err = Config::from_env(App::Auth, &env(&[("PORT", bad)])).unwrap_err();
            assert!(err.is_usage(), "{err}");
            assert!(err.to_string().starts_with("invalid PORT="), "{err}");
        }
        let config =
            Config::from_env(App::Auth, &env(&[("AUTH_TOKEN_TTL_SECONDS", "60")])).unwrap();
        assert_eq!(config.token_ttl, Duration::from_secs(60));
        assert!(Config::from_env(App::Auth, &env(&[("AUTH_TOKEN_TTL_SECONDS", "0")])).is_err());
        let config = Config::from_env(App::Auth, &env(&[("AUTH_SECRET", "s3")])).unwrap();
        assert_eq!(
            (config.auth_secret.as_slice(), config.auth_secret_is_default),
            (&b"s3"[..], false)
        );
    }

    #[test]
    fn auth_target_prefers_auth_address_then_service_env() {
        let both = env(&[
            ("AUTH_ADDRESS", "auth-service.default"),
            ("AUTH_SERVICE_SERVICE_HOST", "10.96.0.20"),
            ("AUTH_SERVICE_SERVICE_PORT", "80"),
        ]);
        let AuthTarget::Configured(address) = auth_target(&both) else {
            panic!("not configured");
        };
        assert_eq!(
            (address.host.as_str(), address.source),
            ("auth-service.default", AddressSource::AuthAddress)
        );

        let injected = env(&[
            ("AUTH_ADDRESS", " "),
            ("AUTH_SERVICE_SERVICE_HOST", "10.96.0.20"),
            ("AUTH_SERVICE_SERVICE_PORT", "8080"),
        ]);
        assert_eq!(
            auth_target(&injected),
            AuthTarget::Configured(AuthAddress {
                host: "10.96.0.20".to_owned(),
                port: 8080,
                source: AddressSource::ServiceEnv,
            })
        );

        for bad in [
            env(&[("AUTH_ADDRESS", "https://auth")]),
            env(&[
                ("AUTH_SERVICE_SERVICE_HOST", "10.96.0.20"),
                ("AUTH_SERVICE_SERVICE_PORT", "x"),
            ]),
            env(&[("AUTH_SERVICE_SERVICE_HOST", "not an ip")]),
            env(&[]),
        ] {
            let AuthTarget::Unconfigured { reason } = auth_target(&bad) else {
                panic!("configured from {bad:?}");
            };
            assert!(reason.contains("AUTH_"), "{reason}");
        }
    }
}
