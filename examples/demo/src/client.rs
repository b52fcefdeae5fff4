//! The client app (port 9000), for the seed's "three ways to reach auth": it calls
//! `http://$AUTH_ADDRESS/healthz` every second and logs one line per try,
//! `ok <address> -> <peer> (<X-Served-By>)` or `fail <address>: <cause>`, so three
//! deployments (Pod IP, ClusterIP, Service DNS) can be compared in their logs.
//!
//! | method | path | answers |
//! |---|---|---|
//! | GET | `/check` | 200 `{ok: true, address, peer, servedBy}`, 502 `{ok: false, address, error}` |

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::{
    call::{Answer, Caller, Upstream},
    config::Config,
    error::Error,
};

pub(crate) fn router(config: &Config) -> Router {
    Router::new()
        .route("/check", get(check))
        .with_state(Arc::new(Upstream::from_config(config)))
}

/// One `GET /healthz` to auth; any answer but a 2xx is a failure.
async fn probe(caller: &Caller) -> Result<Answer, String> {
    let answer = caller
        .send(Method::GET, "/healthz", &[], Bytes::new())
        .await
        .map_err(|err| err.to_string())?;
    if !answer.status.is_success() {
        return Err(format!("{} answered {}", answer.peer, answer.status));
    }
    Ok(answer)
}

/// `GET /check`: calls auth now.
async fn check(State(upstream): State<Arc<Upstream>>) -> Response {
    let caller = match upstream.caller() {
        Ok(caller) => caller,
        Err(reason) => {
            let body = json!({ "ok": false, "address": null, "error": reason });
            return (StatusCode::BAD_GATEWAY, Json(body)).into_response();
        }
    };
    let address = caller.address.authority();
    match probe(caller).await {
        Ok(answer) => Json(json!({
            "ok": true,
            "address": address,
            "peer": answer.peer.to_string(),
            "servedBy": answer.served_by(),
        }))
        .into_response(),
        Err(error) => {
            let body = json!({ "ok": false, "address": address, "error": error });
            (StatusCode::BAD_GATEWAY, Json(body)).into_response()
        }
    }
}

/// Calls auth every `client_interval` until `shutdown`, one log line per try.
pub(crate) async fn poll(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), Error> {
    let upstream = Upstream::from_config(&config);
    let mut ticks = tokio::time::interval(config.client_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let caller = match upstream.caller() {
            Ok(caller) => caller,
            Err(reason) => {
                info!("fail <unset>: {reason}");
                continue;
            }
        };
        let address = caller.address.authority();
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            result = probe(caller) => match result {
                Ok(answer) => info!("ok {address} -> {} ({})", answer.peer, answer.served_by()),
                Err(error) => info!("fail {address}: {error}"),
            },
        }
    }
}
