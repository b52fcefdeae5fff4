//! Writes core/v1 `Event` objects about what controllers do, as client-go's event recorder
//! does, so `kubectl describe` and `kubectl get events` show them.

use serde_json::{Value, json};

use crate::api::{Api, WriteOptions};
use crate::resources;

/// Records a `Normal` (or `Warning`) event about `object`. Failures are logged, never fatal.
pub async fn record(
    api: &Api,
    object: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let Some(events) = resources::lookup("", "v1", "events") else {
        return;
    };
    let meta = &object["metadata"];
    let namespace = meta["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let now = jiff::Timestamp::now();
    let stamp = crate::objects::timestamp(now);
    let name = format!(
        "{}.{:x}",
        meta["name"].as_str().unwrap_or("object"),
        now.as_nanosecond()
    );
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": object["apiVersion"],
            "kind": object["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    });
    if let Err(e) = api
        .create(events, Some(namespace), event, &WriteOptions::default())
        .await
    {
        tracing::warn!(reason, error = %e, "record event");
    }
}
