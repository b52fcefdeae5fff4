//! [`feed`]: keeps an [`Index`] equal to the cluster, from informers of Services,
//! EndpointSlices, Pods and Namespaces (list, then watch; a relist replaces a kind whole),
//! and marks it synced once every first list is in.

use std::sync::Arc;

use apiserver::Api;
use apiserver::informer::Informer;
use apiserver::watch::EventType;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{Index, ObjectError};

/// The kinds the index reads, in the order they are fed.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Services,
    EndpointSlices,
    Pods,
    Namespaces,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Services,
        Kind::EndpointSlices,
        Kind::Pods,
        Kind::Namespaces,
    ];

    fn resource(self) -> Option<&'static apiserver::resources::Resource> {
        match self {
            Kind::Services => apiserver::resources::lookup("", "v1", "services"),
            Kind::EndpointSlices => {
                apiserver::resources::lookup("discovery.k8s.io", "v1", "endpointslices")
            }
            Kind::Pods => apiserver::resources::lookup("", "v1", "pods"),
            Kind::Namespaces => apiserver::resources::lookup("", "v1", "namespaces"),
        }
    }

    fn replace(self, index: &Index, informer: &Informer) {
        let objects = informer.all().map(|o| &**o);
        match self {
            Kind::Services => index.replace_services(objects),
            Kind::EndpointSlices => index.replace_endpoint_slices(objects),
            Kind::Pods => index.replace_pods(objects),
            Kind::Namespaces => index.replace_namespaces(objects),
        }
    }

    fn apply(
        self,
        index: &Index,
        event_type: &EventType,
        object: &Value,
    ) -> Result<(), ObjectError> {
        let deleted = matches!(event_type, EventType::Deleted);
        match (self, deleted) {
            (Kind::Services, false) => index.upsert_service(object),
            (Kind::Services, true) => index.delete_service(object),
            (Kind::EndpointSlices, false) => index.upsert_endpoint_slice(object),
            (Kind::EndpointSlices, true) => index.delete_endpoint_slice(object),
            (Kind::Pods, false) => index.upsert_pod(object),
            (Kind::Pods, true) => index.delete_pod(object),
            (Kind::Namespaces, false) => index.upsert_namespace(object),
            (Kind::Namespaces, true) => index.delete_namespace(object),
        }
    }
}

/// Feeds `index` from `api` until `shutdown`. The index answers SERVFAIL for cluster names
/// until the first lists of every kind are in.
pub async fn feed(api: Api, index: Arc<Index>, shutdown: CancellationToken) {
    let mut informers = Vec::new();
    for kind in Kind::ALL {
        let Some(resource) = kind.resource() else {
            tracing::error!(?kind, "unknown resource: cluster names stay SERVFAIL");
            return;
        };
        match Informer::start(&api, resource).await {
            Ok(informer) => {
                kind.replace(&index, &informer);
                informers.push((kind, informer));
            }
            Err(e) => {
                tracing::error!(?kind, error = %e, "start an informer: cluster names stay SERVFAIL");
                return;
            }
        }
    }
    index.mark_synced();
    tracing::debug!("dns index synced");
    let [(k0, i0), (k1, i1), (k2, i2), (k3, i3)] = &mut informers[..] else {
        return;
    };
    loop {
        let (kind, informer, event) = tokio::select! {
            () = shutdown.cancelled() => return,
            e = i0.next() => (*k0, &*i0, e),
            e = i1.next() => (*k1, &*i1, e),
            e = i2.next() => (*k2, &*i2, e),
            e = i3.next() => (*k3, &*i3, e),
        };
        match event {
            Some(event) => {
                if let Err(e) = kind.apply(&index, &event.event_type, &event.object) {
                    tracing::debug!(?kind, name = %event.name, error = %e, "not indexed");
                }
            }
            // The watch expired and the informer listed again: take the new list whole.
            None => kind.replace(&index, informer),
        }
    }
}
