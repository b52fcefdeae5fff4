//! Bulk transfers through a VIP: 64 MiB each way, byte-exact, with half-close, on both data
//! paths.

use proxyd::{Config, DataPath};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// 64 MiB each way through the VIP, byte-exact, with the client's half-close passing through
/// while the backend is still sending.
async fn bulk(data_path: DataPath, test: u8) {
    const SIZE: usize = 64 << 20;
    fn pattern(seed: u8, size: usize) -> Vec<u8> {
        (0..size)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 13) as u8))
            .collect()
    }
    let vip = ip(test, 1);
    let port = free_port(vip);
    let backend = tokio::net::TcpListener::bind((ip(test, 11), 0))
        .await
        .expect("bind");
    let backend_addr = backend.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (stream, _) = backend.accept().await.expect("accept");
        let (mut read, mut write) = stream.into_split();
        let sender = tokio::spawn(async move {
            write
                .write_all(&pattern(2, SIZE))
                .await
                .expect("backend write");
            write.shutdown().await.expect("backend half-close");
        });
        let mut received = Vec::with_capacity(SIZE);
        read.read_to_end(&mut received).await.expect("backend read");
        sender.await.expect("sender");
        received
    });
    let (proxy, _shutdown) = proxy(Config {
        data_path,
        ..Config::default()
    });
    let vips = table(
        &[service("bulk", vip, port, "TCP")],
        &slices("bulk", "TCP", &[(backend_addr, true)]),
    );
    proxy.apply(vips).await;

    let stream = TcpStream::connect((vip, port)).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let sender = tokio::spawn(async move {
        write
            .write_all(&pattern(1, SIZE))
            .await
            .expect("client write");
        write.shutdown().await.expect("client half-close");
    });
    let mut received = Vec::with_capacity(SIZE);
    read.read_to_end(&mut received).await.expect("client read");
    sender.await.expect("sender");
    let at_backend = server.await.expect("server");
    assert!(
        at_backend == pattern(1, SIZE),
        "client → backend bytes differ"
    );
    assert!(
        received == pattern(2, SIZE),
        "backend → client bytes differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_transfer_is_byte_exact_both_ways_with_splice() {
    bulk(DataPath::Splice, 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_transfer_is_byte_exact_both_ways_with_copy() {
    bulk(DataPath::Copy, 14).await;
}
