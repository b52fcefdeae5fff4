//! `kubectl port-forward` (`../shared/docs/kubectl-api.md` §12): a WebSocket whose binary
//! messages carry one continuous SPDY/3.1 byte stream (message boundaries mean nothing).
//!
//! For each forwarded connection kubectl opens two client streams (odd ids) with the headers
//! `streamtype` (`error`, then `data`), `port` and `requestid`. Each SYN_STREAM is answered at
//! once with a SYN_REPLY; the data stream then connects to `<pod IP>:<port>` and copies bytes
//! both ways (DATA frames, FIN when the pod closes, a half-close of the pod socket when kubectl
//! sends FIN). A failure is written as text on the paired error stream, which is closed (FIN)
//! whenever the data stream ends. PING is echoed; RST_STREAM drops a stream; GOAWAY stops new
//! streams. Header blocks are zlib streams primed with the SPDY/3 dictionary, one compression
//! context per direction. There is no flow control (kubectl's spdystream sends no
//! WINDOW_UPDATE and ignores SETTINGS), so back-pressure is the WebSocket's own: while one
//! stream's queue towards its pod is full, the reader waits, as spdystream does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

/// The WebSocket subprotocol kubectl 1.32 offers for port-forward.
pub(crate) const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Upgrades and serves SPDY port-forwarding to `pod_ip` until the client goes away.
pub(crate) fn upgrade(ws: WebSocketUpgrade, pod_ip: IpAddr) -> Response {
    ws.protocols([PROTOCOL])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, pod_ip))
}

// ---------------------------------------------------------------------------------------------
// Limits.

/// Largest WebSocket message accepted: a whole SPDY frame of the largest size fits.
const MAX_MESSAGE: usize = 16 << 20;
/// Open streams (two per forwarded connection) before new ones are refused.
const MAX_STREAMS: usize = 512;
/// Pieces queued towards one pod connection before the reader waits.
const INBOUND_QUEUE: usize = 8;
/// Frames queued towards the WebSocket.
const OUTBOUND_QUEUE: usize = 64;
/// How long a connection to the pod may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the writer may take to flush its last frames once the reader has stopped.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

mod spdy;
// The framing and header blocks this connection speaks.
use spdy::*;

// ---------------------------------------------------------------------------------------------
// The connection.

/// What goes out on the WebSocket, in order.
#[derive(Debug)]
enum Out {
    Reply {
        stream_id: u32,
    },
    Data {
        stream_id: u32,
        data: Bytes,
        fin: bool,
    },
    Rst {
        stream_id: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
}

/// What reaches a data stream's task from kubectl.
#[derive(Debug)]
enum Inbound {
    Data(Bytes),
    Fin,
}

enum Entry {
    /// An error stream; its FIN is sent by the data stream's task.
    Error,
    Data {
        /// `None` once kubectl has sent FIN: later DATA is dropped.
        tx: Option<mpsc::Sender<Inbound>>,
        task: AbortHandle,
        error_id: Option<u32>,
    },
}

struct Connection {
    pod_ip: IpAddr,
    decoder: Decoder,
    headers: HeaderDecompressor,
    out: mpsc::Sender<Out>,
    streams: HashMap<u32, Entry>,
    /// Error streams not yet paired with a data stream, by request id.
    unpaired: HashMap<String, u32>,
    last_stream_id: u32,
    gone_away: bool,
    tasks: JoinSet<()>,
    /// Data-stream tasks report (data stream, error stream) here when they end.
    done: mpsc::UnboundedSender<(u32, Option<u32>)>,
}

async fn serve(socket: WebSocket, pod_ip: IpAddr) {
    let (sink, mut source) = socket.split();
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
    let mut writer = tokio::spawn(write_frames(sink, out_rx));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut conn = Connection {
        pod_ip,
        decoder: Decoder::default(),
        headers: HeaderDecompressor::new(),
        out: out_tx,
        streams: HashMap::new(),
        unpaired: HashMap::new(),
        last_stream_id: 0,
        gone_away: false,
        tasks: JoinSet::new(),
        done: done_tx,
    };
    let mut writer_ended = false;
    loop {
        tokio::select! {
            message = source.next() => match message {
                Some(Ok(Message::Binary(bytes))) => match conn.receive(&bytes).await {
                    Ok(()) => {}
                    Err(Error::Gone) => break,
                    Err(err) => {
                        tracing::warn!(%err, "port-forward: closing on a SPDY protocol error");
                        let goaway = Out::GoAway { last_good: conn.last_stream_id, status: GOAWAY_PROTOCOL_ERROR };
                        let _ = conn.out.send(goaway).await;
                        break;
                    }
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {} // Text is not part of the protocol; pings are answered by axum.
            },
            Some((data_id, error_id)) = done_rx.recv() => conn.finished(data_id, error_id),
            _ = &mut writer => {
                writer_ended = true;
                break;
            }
        }
    }
    // Stop every stream (dropping their pod connections), then let the writer flush and close.
    conn.tasks.shutdown().await;
    drop(conn);
    if !writer_ended {
        if tokio::time::timeout(FLUSH_TIMEOUT, &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
}

/// Owns the sink and our compression context; ends when every sender is gone or the socket fails.
async fn write_frames(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Out>) {
    let mut compressor = match HeaderCompressor::new() {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(%err, "port-forward: no header compressor");
            return;
        }
    };
    while let Some(out) = rx.recv().await {
        let frame = match out {
            Out::Reply { stream_id } => match compressor.compress(&Headers::default()) {
                Ok(block) => syn_reply_frame(stream_id, false, &block),
                Err(err) => {
                    tracing::error!(%err, "port-forward: compressing a reply");
                    return;
                }
            },
            Out::Data {
                stream_id,
                data,
                fin,
            } => data_frame(stream_id, fin, &data),
            Out::Rst { stream_id, status } => rst_stream_frame(stream_id, status),
            Out::Ping { id } => ping_frame(id),
            Out::GoAway { last_good, status } => goaway_frame(last_good, status),
        };
        if sink.send(Message::Binary(frame)).await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

impl Connection {
    async fn receive(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.decoder.push(bytes);
        while let Some(frame) = self.decoder.next_frame()? {
            self.handle(frame).await?;
        }
        Ok(())
    }

    /// Queues `message` for a data stream's task, waiting while its queue is full (that is the
    /// back-pressure) unless the writer stops meanwhile. A task that has ended has dropped its
    /// receiver: then there is nothing to deliver.
    async fn deliver(&self, tx: &mpsc::Sender<Inbound>, message: Inbound) -> Result<(), Error> {
        tokio::select! {
            _ = tx.send(message) => Ok(()),
            () = self.out.closed() => Err(Error::Gone),
        }
    }

    async fn send(&self, out: Out) {
        // Fails only once the writer is gone, which ends the connection anyway.
        let _ = self.out.send(out).await;
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), Error> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                block,
            } => {
                // Inflate first: the context must see every block, even a refused stream's.
                let headers = self.headers.decompress(&block)?;
                self.open(stream_id, flags, &headers).await;
            }
            Frame::SynReply { block, .. } | Frame::Headers { block, .. } => {
                self.headers.decompress(&block)?;
            }
            Frame::Data {
                stream_id,
                data,
                fin,
            } => {
                // Error streams carry nothing from kubectl but their FIN; unknown streams
                // (already finished here) are ignored, as spdystream does.
                let Some(Entry::Data { tx: Some(tx), .. }) = self.streams.get_mut(&stream_id)
                else {
                    return Ok(());
                };
                let tx = tx.clone();
                if fin {
                    if let Some(Entry::Data { tx, .. }) = self.streams.get_mut(&stream_id) {
                        *tx = None;
                    }
                }
                if !data.is_empty() {
                    self.deliver(&tx, Inbound::Data(data)).await?;
                }
                if fin {
                    self.deliver(&tx, Inbound::Fin).await?;
                }
            }
            Frame::RstStream { stream_id, .. } => match self.streams.remove(&stream_id) {
                Some(Entry::Data { task, error_id, .. }) => {
                    task.abort();
                    if let Some(error_id) = error_id {
                        self.streams.remove(&error_id);
                    }
                }
                Some(Entry::Error) => self.unpaired.retain(|_, id| *id != stream_id),
                None => {}
            },
            Frame::Ping { id } => {
                // Odd ids are the client's; even ones would answer pings we never send.
                if id & 1 == 1 {
                    self.send(Out::Ping { id }).await;
                }
            }
            Frame::GoAway { .. } => self.gone_away = true,
            Frame::Ignored { .. } => {}
        }
        Ok(())
    }

    /// Answers a SYN_STREAM: a reply and, for a data stream, a task forwarding to the pod.
    async fn open(&mut self, stream_id: u32, flags: u8, headers: &Headers) {
        if stream_id & 1 == 0 || stream_id <= self.last_stream_id {
            self.send(Out::Rst {
                stream_id,
                status: RST_PROTOCOL_ERROR,
            })
            .await;
            return;
        }
        self.last_stream_id = stream_id;
        let port = headers
            .get("port")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p > 0);
        let stream_type = headers.get("streamtype");
        let Some(port) = port.filter(|_| !self.gone_away && self.streams.len() < MAX_STREAMS)
        else {
            tracing::debug!(stream_id, ?headers, "port-forward: refusing a stream");
            self.send(Out::Rst {
                stream_id,
                status: RST_REFUSED_STREAM,
            })
            .await;
            return;
        };
        // Clients older than the requestid header pair streams by id (the kubelet's rule).
        let request_id = match headers.get("requestid") {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ if stream_type == Some("data") => stream_id.saturating_sub(2).to_string(),
            _ => stream_id.to_string(),
        };
        match stream_type {
            Some("error") => {
                self.send(Out::Reply { stream_id }).await;
                self.streams.insert(stream_id, Entry::Error);
                self.unpaired.insert(request_id, stream_id);
            }
            Some("data") => {
                self.send(Out::Reply { stream_id }).await;
                let error_id = self.unpaired.remove(&request_id);
                let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
                let tx = if flags & FLAG_FIN != 0 {
                    // Nothing will come from kubectl on this stream.
                    let _ = tx.try_send(Inbound::Fin);
                    None
                } else {
                    Some(tx)
                };
                let target = SocketAddr::new(self.pod_ip, port);
                let (out, done) = (self.out.clone(), self.done.clone());
                let task = self.tasks.spawn(async move {
                    forward(target, stream_id, error_id, rx, &out).await;
                    let _ = done.send((stream_id, error_id));
                });
                self.streams
                    .insert(stream_id, Entry::Data { tx, task, error_id });
            }
            _ => {
                tracing::debug!(stream_id, ?headers, "port-forward: unknown stream type");
                self.send(Out::Rst {
                    stream_id,
                    status: RST_REFUSED_STREAM,
                })
                .await;
            }
        }
    }

    fn finished(&mut self, data_id: u32, error_id: Option<u32>) {
        self.streams.remove(&data_id);
        if let Some(error_id) = error_id {
            self.streams.remove(&error_id);
        }
        while self.tasks.try_join_next().is_some() {}
    }
}

/// Forwards one data stream to `target`, then closes the data and error streams (FIN).
async fn forward(
    target: SocketAddr,
    data_id: u32,
    error_id: Option<u32>,
    mut inbound: mpsc::Receiver<Inbound>,
    out: &mpsc::Sender<Out>,
) {
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await;
    let mut pod = match connected {
        Ok(Ok(pod)) => Some(pod),
        Ok(Err(err)) => {
            report(target, error_id, out, &err.to_string()).await;
            None
        }
        Err(_) => {
            report(target, error_id, out, "connection timed out").await;
            None
        }
    };
    if let Some(pod) = pod.as_mut() {
        // Bytes go on as they come, as with Go's dialer (the kubelet's), which sets TCP_NODELAY.
        let _ = pod.set_nodelay(true);
        let (mut from_pod, mut to_pod) = pod.split();
        // kubectl → pod; on kubectl's FIN, half-close and keep reading from the pod. Once this
        // direction is over its queue is dropped, so the reader never waits on it again.
        let upstream = async move {
            while let Some(message) = inbound.recv().await {
                match message {
                    Inbound::Data(data) => {
                        if to_pod.write_all(&data).await.is_err() {
                            break;
                        }
                    }
                    Inbound::Fin => {
                        let _ = to_pod.shutdown().await;
                        break;
                    }
                }
            }
            drop(inbound);
            std::future::pending::<()>().await;
        };
        // pod → kubectl, until the pod closes: that ends the stream.
        let downstream = async {
            let mut buf = BytesMut::with_capacity(MAX_CHUNK);
            loop {
                buf.reserve(MAX_CHUNK);
                match from_pod.read_buf(&mut (&mut buf).limit(MAX_CHUNK)).await {
                    Ok(0) => return true,
                    Ok(_) => {
                        let data = buf.split().freeze();
                        if out
                            .send(Out::Data {
                                stream_id: data_id,
                                data,
                                fin: false,
                            })
                            .await
                            .is_err()
                        {
                            return false;
                        }
                    }
                    Err(err) => {
                        tracing::debug!(%err, %target, "port-forward: reading from the pod");
                        return true;
                    }
                }
            }
        };
        tokio::select! {
            () = upstream => {}
            alive = downstream => if !alive { return },
        }
    }
    let _ = out
        .send(Out::Data {
            stream_id: data_id,
            data: Bytes::new(),
            fin: true,
        })
        .await;
    if let Some(error_id) = error_id {
        let _ = out
            .send(Out::Data {
                stream_id: error_id,
                data: Bytes::new(),
                fin: true,
            })
            .await;
    }
}

/// Writes a failure on the error stream; kubectl prints "an error occurred forwarding …".
async fn report(target: SocketAddr, error_id: Option<u32>, out: &mpsc::Sender<Out>, err: &str) {
    let message = format!(
        "error forwarding port {} to pod {}: {err}",
        target.port(),
        target.ip()
    );
    tracing::debug!(%message, "port-forward");
    if let Some(error_id) = error_id {
        let data = Bytes::from(message.into_bytes());
        let _ = out
            .send(Out::Data {
                stream_id: error_id,
                data,
                fin: false,
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::spdy::test_support::*;
    use super::*;
    use tokio_tungstenite::tungstenite;

    // -----------------------------------------------------------------------------------------
    // End to end: an axum server, a TCP echo "pod", and a client speaking SPDY like kubectl.

    type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

    struct Client {
        ws: Ws,
        deflater: HeaderCompressor,
        inflater: HeaderDecompressor,
        decoder: Decoder,
    }

    impl Client {
        async fn connect(addr: SocketAddr) -> Client {
            use tungstenite::client::IntoClientRequest;
            let url = format!("ws://{addr}/api/v1/namespaces/default/pods/p1/portforward");
            let mut request = url.into_client_request().unwrap();
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", PROTOCOL.parse().unwrap());
            let (ws, response) = tokio_tungstenite::connect_async_with_config(request, None, true)
                .await
                .unwrap();
            assert_eq!(response.headers()["sec-websocket-protocol"], PROTOCOL);
            Client {
                ws,
                deflater: HeaderCompressor::new().unwrap(),
                inflater: HeaderDecompressor::new(),
                decoder: Decoder::default(),
            }
        }

        /// Sends `bytes` split into small messages (odd sizes, straddling frames), as
        /// spdystream's unbuffered writes do.
        async fn send(&mut self, bytes: &[u8]) {
            let step = if bytes.len() > 1024 { 4093 } else { 5 };
            for piece in bytes.chunks(step) {
                let message = tungstenite::Message::Binary(Bytes::copy_from_slice(piece));
                self.ws.send(message).await.unwrap();
            }
        }

        /// Opens a stream the way client-go's handleConnection does.
        async fn open(&mut self, stream_id: u32, stream_type: &str, port: u16, request_id: u32) {
            let block = headers(&[
                ("streamtype", stream_type),
                ("port", &port.to_string()),
                ("requestid", &request_id.to_string()),
            ]);
            let block = self.deflater.compress(&block).unwrap();
            self.send(&syn_stream_frame(stream_id, 0, &block)).await;
        }

        /// The next frame from the server (panics after 10 s or on close).
        async fn next(&mut self) -> Frame {
            loop {
                if let Some(frame) = self.decoder.next_frame().unwrap() {
                    if let Frame::SynReply {
                        stream_id,
                        flags,
                        block,
                    } = frame
                    {
                        // Inflate in order (one context); a reply carries no headers.
                        assert_eq!(
                            self.inflater.decompress(&block).unwrap(),
                            Headers::default()
                        );
                        return Frame::SynReply {
                            stream_id,
                            flags,
                            block,
                        };
                    }
                    return frame;
                }
                let message = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                    .await
                    .expect("server silent for 10 s")
                    .expect("socket closed")
                    .unwrap();
                if let tungstenite::Message::Binary(bytes) = message {
                    self.decoder.push(&bytes);
                }
            }
        }

        async fn expect_reply(&mut self, stream_id: u32) {
            match self.next().await {
                Frame::SynReply {
                    stream_id: id,
                    flags: 0,
                    ..
                } if id == stream_id => {}
                other => panic!("expected SYN_REPLY {stream_id}, got {other:?}"),
            }
        }

        /// Reads DATA until FIN on each of `streams`; returns the payloads.
        async fn read_until_fin(&mut self, streams: &[u32]) -> HashMap<u32, Vec<u8>> {
            let mut got: HashMap<u32, Vec<u8>> = HashMap::new();
            let mut open: Vec<u32> = streams.to_vec();
            while !open.is_empty() {
                match self.next().await {
                    Frame::Data {
                        stream_id,
                        data,
                        fin,
                    } => {
                        got.entry(stream_id).or_default().extend_from_slice(&data);
                        if fin {
                            open.retain(|s| *s != stream_id);
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            got
        }
    }

    /// A TCP echo server; reports on the channel whenever one of its connections ends.
    async fn echo_server() -> (u16, mpsc::UnboundedReceiver<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let ended = ended_tx.clone();
                tokio::spawn(async move {
                    let (mut r, mut w) = conn.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                    let _ = ended.send(());
                });
            }
        });
        (port, ended_rx)
    }

    async fn api_server() -> SocketAddr {
        let app = axum::Router::new().route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            axum::routing::get(|ws: WebSocketUpgrade| async move {
                upgrade(ws, IpAddr::from([127, 0, 0, 1]))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // As the apiserver does: small frames must not wait for Nagle's algorithm.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    #[tokio::test]
    async fn forwards_like_kubectl() {
        let (echo_port, mut ended) = echo_server().await;
        let mut client = Client::connect(api_server().await).await;

        // handleConnection: error stream, replied, half-closed; then the data stream.
        client.open(1, "error", echo_port, 0).await;
        client.expect_reply(1).await;
        client.send(&data_frame(1, true, b"")).await;
        client.open(3, "data", echo_port, 0).await;
        client.expect_reply(3).await;

        // Bytes both ways, including a frame larger than a piece.
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        client
            .send(&data_frame(3, false, b"hello port-forward "))
            .await;
        client.send(&data_frame(3, false, &payload)).await;
        let mut expected = b"hello port-forward ".to_vec();
        expected.extend_from_slice(&payload);
        let mut echoed = Vec::new();
        while echoed.len() < expected.len() {
            match client.next().await {
                Frame::Data {
                    stream_id: 3,
                    data,
                    fin: false,
                } => echoed.extend_from_slice(&data),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(echoed, expected);

        // PING is echoed with the same id.
        client.send(&ping_frame(1)).await;
        assert_eq!(client.next().await, Frame::Ping { id: 1 });

        // kubectl's FIN half-closes the pod socket; the pod closes; both streams get FIN and
        // the error stream stays empty (no error).
        client.send(&data_frame(3, true, b"")).await;
        // DATA after FIN breaks the protocol: dropped, and it must not stall the reader.
        client.send(&data_frame(3, false, &payload)).await;
        let got = client.read_until_fin(&[3, 1]).await;
        assert!(got.get(&3).is_none_or(|d| d.is_empty()));
        assert!(got.get(&1).is_none_or(|d| d.is_empty()));
        tokio::time::timeout(Duration::from_secs(5), ended.recv())
            .await
            .unwrap();

        // A second forwarded connection on the same socket (next request id), to a closed
        // port: the failure is text on its error stream, then both streams close.
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        client.open(5, "error", closed_port, 1).await;
        client.expect_reply(5).await;
        client.send(&data_frame(5, true, b"")).await;
        client.open(7, "data", closed_port, 1).await;
        client.expect_reply(7).await;
        let got = client.read_until_fin(&[7, 5]).await;
        let message = String::from_utf8(got[&5].clone()).unwrap();
        assert!(
            message.starts_with(&format!(
                "error forwarding port {closed_port} to pod 127.0.0.1: "
            )),
            "{message}"
        );

        // Refused streams: no port, an unknown type, an even (server-side) id.
        client.open(9, "data", 0, 2).await;
        assert_eq!(
            client.next().await,
            Frame::RstStream {
                stream_id: 9,
                status: RST_REFUSED_STREAM
            }
        );
        client.open(11, "bogus", echo_port, 2).await;
        assert_eq!(
            client.next().await,
            Frame::RstStream {
                stream_id: 11,
                status: RST_REFUSED_STREAM
            }
        );
        client.open(12, "data", echo_port, 2).await;
        assert_eq!(
            client.next().await,
            Frame::RstStream {
                stream_id: 12,
                status: RST_PROTOCOL_ERROR
            }
        );

        // RST_STREAM on a data stream drops its pod connection.
        client.open(13, "error", echo_port, 3).await;
        client.expect_reply(13).await;
        client.open(15, "data", echo_port, 3).await;
        client.expect_reply(15).await;
        client.send(&data_frame(15, false, b"x")).await;
        assert_eq!(
            client.next().await,
            Frame::Data {
                stream_id: 15,
                data: Bytes::from_static(b"x"),
                fin: false
            }
        );
        client.send(&rst_stream_frame(15, 5)).await;
        tokio::time::timeout(Duration::from_secs(5), ended.recv())
            .await
            .unwrap();

        // Closing the socket drops every pod connection still open.
        client.open(17, "error", echo_port, 4).await;
        client.expect_reply(17).await;
        client.open(19, "data", echo_port, 4).await;
        client.expect_reply(19).await;
        client.send(&data_frame(19, false, b"y")).await;
        assert_eq!(
            client.next().await,
            Frame::Data {
                stream_id: 19,
                data: Bytes::from_static(b"y"),
                fin: false
            }
        );
        client.ws.close(None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), ended.recv())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn protocol_error_sends_goaway_and_closes() {
        let mut client = Client::connect(api_server().await).await;
        client.open(1, "error", 1, 0).await;
        client.expect_reply(1).await;
        // A SYN_STREAM whose header block is not zlib.
        client.send(&syn_stream_frame(3, 0, b"garbage")).await;
        assert_eq!(
            client.next().await,
            Frame::GoAway {
                last_good: 1,
                status: GOAWAY_PROTOCOL_ERROR
            }
        );
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match client.ws.next().await {
                    None | Some(Err(_)) | Some(Ok(tungstenite::Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                }
            }
        });
        closed.await.unwrap();
    }
}
