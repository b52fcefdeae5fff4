//! The scheduler of a one-node cluster: every pod without `spec.nodeName` is bound to this
//! node, with a `Scheduled` event, as kube-scheduler's default binder would.

use tokio_util::sync::CancellationToken;

use super::terminating;
use crate::api::Api;
use crate::events;
use crate::informer::Informer;
use crate::resources;

/// Runs until `shutdown`.
pub async fn run(api: Api, shutdown: CancellationToken) {
    let Some(pods) = resources::lookup("", "v1", "pods") else {
        return;
    };
    let mut informer = match Informer::start(&api, pods).await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "start the pod informer");
            return;
        }
    };
    let node = api.cluster().node_name.clone();
    let pending: Vec<_> = informer.all().cloned().collect();
    for pod in pending {
        bind(&api, &pod, &node).await;
    }
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = informer.next() => event,
        };
        match event {
            Some(event) if event.event_type != crate::watch::EventType::Deleted => {
                bind(&api, &event.object, &node).await;
            }
            Some(_) => {}
            None => {
                let pending: Vec<_> = informer.all().cloned().collect();
                for pod in pending {
                    bind(&api, &pod, &node).await;
                }
            }
        }
    }
}

async fn bind(api: &Api, pod: &serde_json::Value, node: &str) {
    if terminating(pod)
        || pod["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    {
        return;
    }
    let (namespace, name) = super::key_of(pod);
    match api.bind_pod(&namespace, &name, node).await {
        Ok(bound) => {
            let message = format!("Successfully assigned {namespace}/{name} to {node}");
            events::record(
                api,
                &bound.object,
                "Normal",
                "Scheduled",
                &message,
                "default-scheduler",
            )
            .await;
        }
        Err(crate::ApiError::NotFound { .. }) => {}
        Err(e) => tracing::warn!(pod = %name, namespace = %namespace, error = %e, "bind pod"),
    }
}
