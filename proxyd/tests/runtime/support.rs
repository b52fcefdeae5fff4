//! Helpers for the runtime tests: Services and EndpointSlices as the API serves them, backends
//! that answer with their own id, and loopback addresses (all of 127.0.0.0/8 is local, so each
//! test takes its own 127.91.<test>.x "VIPs" and needs no root).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use proxyd::table::SERVICE_NAME_LABEL;
use proxyd::{Config, Proxy, VipTable};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `127.91.<test>.<host>`.
pub(crate) fn ip(test: u8, host: u8) -> IpAddr {
    IpAddr::from([127, 91, test, host])
}

/// A port that is free on `ip` for TCP (and most likely UDP) right now.
pub(crate) fn free_port(ip: IpAddr) -> u16 {
    let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A ClusterIP Service `name` on `vip:port` with one unnamed port.
pub(crate) fn service(name: &str, vip: IpAddr, port: u16, protocol: &str) -> Value {
    json!({"metadata": {"namespace": "test", "name": name, "creationTimestamp": "2025-01-01T00:00:00Z"},
           "spec": {"type": "ClusterIP", "clusterIP": vip.to_string(), "clusterIPs": [vip.to_string()],
                    "ports": [{"port": port, "protocol": protocol, "targetPort": port}]}})
}

/// One EndpointSlice per endpoint (each backend listens on its own port).
pub(crate) fn slices(
    service: &str,
    protocol: &str,
    endpoints: &[(SocketAddr, bool)],
) -> Vec<Value> {
    endpoints
        .iter()
        .enumerate()
        .map(|(i, (addr, ready))| {
            json!({"metadata": {"namespace": "test", "name": format!("{service}-{i}"),
                                "labels": {SERVICE_NAME_LABEL: service}},
                   "addressType": "IPv4",
                   "ports": [{"port": addr.port(), "protocol": protocol}],
                   "endpoints": [{"addresses": [addr.ip().to_string()],
                                  "conditions": {"ready": ready, "serving": ready, "terminating": false}}]})
        })
        .collect()
}

/// The table for `services` and `slices` under the default config.
pub(crate) fn table(services: &[Value], slices: &[Value]) -> Arc<VipTable> {
    Arc::new(proxyd::table::build(services, slices, &Config::default()))
}

/// A proxy with a fixed seed and the given config tweaks.
pub(crate) fn proxy(config: Config) -> (Proxy, CancellationToken) {
    let shutdown = CancellationToken::new();
    let config = Config {
        seed: Some(42),
        ..config
    };
    (
        Proxy::new(config, shutdown.clone()).expect("proxy"),
        shutdown,
    )
}

/// A TCP backend on `ip` that writes `id` to each connection and closes it.
pub(crate) async fn id_server(ip: IpAddr, id: &str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind backend");
    let addr = listener.local_addr().expect("local addr");
    let id = id.to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let id = id.clone();
            tokio::spawn(async move {
                let _ = stream.write_all(id.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, task)
}

/// A TCP backend on `ip` that writes `id\n` and then echoes until EOF.
pub(crate) async fn echo_server(ip: IpAddr, id: &str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind backend");
    let addr = listener.local_addr().expect("local addr");
    let id = id.to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let id = id.clone();
            tokio::spawn(async move {
                if stream
                    .write_all(format!("{id}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, task)
}

/// A UDP backend on `ip` that answers each datagram with `id:` and the datagram.
pub(crate) async fn udp_id_server(ip: IpAddr, id: &str) -> (SocketAddr, JoinHandle<()>) {
    let socket = UdpSocket::bind((ip, 0)).await.expect("bind backend");
    let addr = socket.local_addr().expect("local addr");
    let id = id.to_string();
    let task = tokio::spawn(async move {
        let mut buffer = [0u8; 2048];
        while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
            let mut reply = format!("{id}:").into_bytes();
            reply.extend_from_slice(&buffer[..len]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (addr, task)
}

/// A UDP backend on `ip` that answers each datagram with the sender's port.
pub(crate) async fn udp_port_server(ip: IpAddr) -> (SocketAddr, JoinHandle<()>) {
    let socket = UdpSocket::bind((ip, 0)).await.expect("bind backend");
    let addr = socket.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let mut buffer = [0u8; 2048];
        while let Ok((_, from)) = socket.recv_from(&mut buffer).await {
            let _ = socket
                .send_to(from.port().to_string().as_bytes(), from)
                .await;
        }
    });
    (addr, task)
}

/// Connects to `addr` and reads everything it says.
pub(crate) async fn ask(addr: SocketAddr) -> std::io::Result<String> {
    ask_from(None, addr).await
}

/// Like [`ask`], from the source address `from` when given.
pub(crate) async fn ask_from(from: Option<IpAddr>, addr: SocketAddr) -> std::io::Result<String> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(from) = from {
        socket.bind(SocketAddr::new(from, 0))?;
    }
    let mut stream: TcpStream = socket.connect(addr).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}
