//! End-to-end tests: the apps run in-process on `127.0.0.1:0` and talk over loopback only.
//!
//! - `flows`: signup, login and tasks across two auth replicas; input errors; JSON errors.
//! - `failures`: auth down, silent or unconfigured; the injected Service env; client; shutdown.

mod failures;
mod flows;

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
};
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    call::Caller,
    config::{AddressSource, App, AuthAddress, Config},
    error::Error,
    server::Server,
};

/// One app running on a loopback port.
struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    /// Stops the app and checks it stopped cleanly and promptly.
    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(1), self.task)
            .await
            .expect("stops within a second")
            .expect("server task did not panic");
        result.expect("server ran without error");
    }
}

/// `app`'s configuration from `env`, named `hostname`.
fn config(app: App, hostname: &str, env: &[(&str, String)]) -> Config {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    let mut config = Config::from_env(app, &env).expect("valid test config");
    config.hostname = hostname.to_owned();
    config
}

/// The configuration of an app that calls auth at `auth`.
fn calling(app: App, hostname: &str, auth: SocketAddr) -> Config {
    config(app, hostname, &[("AUTH_ADDRESS", auth.to_string())])
}

async fn start(config: Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let server = Server::from_listeners(config, vec![listener]).expect("server");
    let addr = server.local_addrs()[0];
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
    }
}

async fn start_auth(hostname: &str) -> Running {
    start(config(App::Auth, hostname, &[])).await
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    listener.local_addr().expect("local addr")
}

/// A listener that accepts connections and never answers; it lives as long as the test.
async fn silent_listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// An answer as a test sees it.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Reply {
    fn str(&self, field: &str) -> &str {
        self.json[field].as_str().unwrap_or_else(|| {
            panic!("no string {field:?} in {}", self.json);
        })
    }

    fn served_by(&self) -> &str {
        self.headers
            .get("x-served-by")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends one request to `addr` with an optional bearer token and raw body.
async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> Reply {
    let address = AuthAddress {
        host: addr.ip().to_string(),
        port: addr.port(),
        source: AddressSource::AuthAddress,
    };
    let caller = Caller::new(address, Duration::from_secs(2), Duration::from_secs(10));
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if let Some(token) = bearer {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
        headers.push((header::AUTHORIZATION, value));
    }
    let answer = caller
        .send(method, path, &headers, Bytes::from(body.to_owned()))
        .await
        .expect("the app answers");
    let json = serde_json::from_slice(&answer.body).unwrap_or_else(|err| {
        panic!("{path} answered non-JSON ({err}): {:?}", answer.body);
    });
    Reply {
        status: answer.status,
        headers: answer.headers,
        json,
    }
}

async fn post(addr: SocketAddr, path: &str, body: Value) -> Reply {
    send(addr, Method::POST, path, None, &body.to_string()).await
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, Method::GET, path, None, "").await
}

/// Signs up and logs in `email` through users, returning the token.
async fn token_for(users: SocketAddr, email: &str, password: &str) -> String {
    let credentials = serde_json::json!({ "email": email, "password": password });
    let signup = post(users, "/signup", credentials.clone()).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.json);
    let login = post(users, "/login", credentials).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json);
    login.str("token").to_owned()
}
