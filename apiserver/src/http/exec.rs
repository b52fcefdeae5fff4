//! `kubectl exec` over WebSocket with the `v5.channel.k8s.io` subprotocol (KEP-4006; the
//! framing is in `../shared/docs/kubectl-api.md` §11): every binary message starts with its
//! channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize); `[0xFF, 0]` closes stdin; the
//! exit status goes once on channel 3 as a `Status`, then the socket closes with code 1000.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::status::ApiError;

/// The only subprotocol served (kubectl 1.32 offers just this one).
pub(crate) const PROTOCOL: &str = "v5.channel.k8s.io";

/// Upgrades to the exec WebSocket and bridges it to the started process.
pub(crate) fn upgrade(ws: WebSocketUpgrade, process: crate::streams::ExecProcess) -> Response {
    ws.protocols([PROTOCOL])
        .on_upgrade(move |socket| bridge(socket, process))
        .into_response()
}

/// The Status of channel 3 for an exit code.
fn exit_status(code: i32) -> serde_json::Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: {code}"),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        })
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

async fn bridge(socket: WebSocket, process: crate::streams::ExecProcess) {
    let crate::streams::ExecProcess {
        mut child,
        input,
        output,
        errors,
        mut resize,
    } = process;
    let (mut sink, mut source) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let mut readers = Vec::new();
    // With a TTY there is no stderr: the terminal is channel 1 (kubectl discards channel 2).
    for (pipe, channel) in [(Some(output), 1u8), (errors, 2u8)] {
        let Some(mut pipe) = pipe else { continue };
        let tx = out_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            // A terminal's reads fail with EIO once the process is gone: that is its end.
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 || tx.send(frame(channel, &buf[..n])).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(out_tx);
    let mut stdin = input;
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        sink
    });
    // Client → process: stdin, its close signal, terminal resizes (ignored without a TTY), the
    // socket closing (which ends the command).
    let mut exit = Box::pin(child.wait());
    let code = loop {
        tokio::select! {
            status = &mut exit => break status.ok().and_then(|s| s.code()).unwrap_or(1),
            message = source.next() => match message {
                Some(Ok(Message::Binary(data))) => match data.first() {
                    Some(0) => {
                        if let Some(pipe) = stdin.as_mut() {
                            if pipe.write_all(&data[1..]).await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    Some(0xFF) if data.get(1) == Some(&0) => stdin = None,
                    Some(4) => {
                        // remotecommand's TerminalSize: {"Width": columns, "Height": rows}.
                        let size: serde_json::Value =
                            serde_json::from_slice(&data[1..]).unwrap_or_default();
                        let dimension = |field: &str| {
                            size[field].as_u64().and_then(|n| u16::try_from(n).ok())
                        };
                        if let (Some(set), Some(width), Some(height)) =
                            (resize.as_mut(), dimension("Width"), dimension("Height"))
                        {
                            set(width, height);
                        }
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    drop(stdin.take());
                    break exit.await.ok().and_then(|s| s.code()).unwrap_or(1);
                }
            }
        }
    };
    for reader in readers {
        let _ = reader.await;
    }
    if let Ok(mut sink) = writer.await {
        let _ = sink
            .send(frame(3, exit_status(code).to_string().as_bytes()))
            .await;
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "".into(),
            })))
            .await;
    }
}

/// An exec request without a WebSocket upgrade (the SPDY fallback is not served).
pub(crate) fn needs_websocket() -> ApiError {
    ApiError::BadRequest(
        "exec needs a WebSocket upgrade with the v5.channel.k8s.io subprotocol (kubectl 1.32 does this by default; SPDY is not served)".into(),
    )
}
