//! [`Informer`]: a cache of one type kept by list-then-watch, relisting when the watch
//! expires (the client-go informer / kube-rs reflector pattern). A consumer holds one per
//! type it reads and `select!`s over their `next()`.
//!
//! **API Boundary:** with [`crate::Api`] and [`crate::watch`], this is what the controllers,
//! podd, and later proxyd and dnsd read the cluster through.
//!
//! A metadata informer ([`Informer::metadata`], upstream's metadata-only informers that the
//! garbage collector uses) keeps only what identifies an object, its owners, finalizers and
//! deletion mark, so a consumer that watches every type does not hold every object whole.
//! A watch that expires (its position was compacted away) is replaced by a relist.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::api::Api;
use crate::controllers::Key;
use crate::resources::Resource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::watch::{EventType, Start, WatchEvent, Watcher};

/// A cache of every object of one type.
#[derive(Debug)]
pub struct Informer {
    api: Api,
    resource: &'static Resource,
    watcher: Watcher,
    objects: BTreeMap<Key, Arc<Value>>,
    shape: Shape,
}

/// What an informer keeps of each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Whole,
    Metadata,
}

impl Informer {
    /// Lists every object, then watches from the list's revision.
    pub async fn start(api: &Api, resource: &'static Resource) -> Result<Informer, ApiError> {
        Self::start_shaped(api, resource, Shape::Whole).await
    }

    /// [`Informer::start`], keeping only each object's metadata that says who owns it and
    /// whether it is being deleted (see the module docs); events still carry whole objects.
    pub async fn metadata(api: &Api, resource: &'static Resource) -> Result<Informer, ApiError> {
        Self::start_shaped(api, resource, Shape::Metadata).await
    }

    async fn start_shaped(
        api: &Api,
        resource: &'static Resource,
        shape: Shape,
    ) -> Result<Informer, ApiError> {
        let (objects, watcher) = Self::list_and_watch(api, resource, shape).await?;
        Ok(Informer {
            api: api.clone(),
            resource,
            watcher,
            objects,
            shape,
        })
    }

    async fn list_and_watch(
        api: &Api,
        resource: &'static Resource,
        shape: Shape,
    ) -> Result<(BTreeMap<Key, Arc<Value>>, Watcher), ApiError> {
        let (items, revision) = api.list(
            resource,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
        );
        let objects = items
            .into_iter()
            .map(|o| (crate::controllers::key_of(&o), shape.keep(&o)))
            .collect();
        let watcher = api.watch(resource, None, Start::After(revision)).await?;
        Ok((objects, watcher))
    }

    /// The next change, applied to the cache first. Cancel-safe. A watch that expired is
    /// replaced by a relist, reported as `None` (everything may have changed).
    pub async fn next(&mut self) -> Option<Arc<WatchEvent>> {
        match self.watcher.next().await {
            Ok(event) => {
                self.apply(&event);
                Some(event)
            }
            Err(e) => {
                tracing::warn!(resource = self.resource.plural, error = %e, "watch ended; relisting");
                self.relist().await;
                None
            }
        }
    }

    /// Applies every change up to `revision` (the store's current one) and returns them, so
    /// a controller reconciles against a cache that includes its own earlier writes.
    pub async fn sync(&mut self, revision: u64) -> Vec<Arc<WatchEvent>> {
        let mut events = Vec::new();
        loop {
            match self.watcher.next_until(revision).await {
                Ok(Some(event)) => {
                    self.apply(&event);
                    events.push(event);
                }
                Ok(None) => return events,
                Err(e) => {
                    tracing::warn!(resource = self.resource.plural, error = %e, "watch ended; relisting");
                    self.relist().await;
                    return events;
                }
            }
        }
    }

    fn apply(&mut self, event: &WatchEvent) {
        let key = (event.namespace.clone(), event.name.clone());
        match event.event_type {
            EventType::Deleted => {
                self.objects.remove(&key);
            }
            _ => {
                self.objects.insert(key, self.shape.keep(&event.object));
            }
        }
    }

    async fn relist(&mut self) {
        match Self::list_and_watch(&self.api, self.resource, self.shape).await {
            Ok((objects, watcher)) => {
                self.objects = objects;
                self.watcher = watcher;
            }
            Err(e) => {
                tracing::error!(resource = self.resource.plural, error = %e, "relist failed");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }

    /// One cached object.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Arc<Value>> {
        self.objects.get(&(namespace.to_string(), name.to_string()))
    }

    /// Every cached object in one namespace.
    pub fn in_namespace<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
        self.objects
            .range((namespace.to_string(), String::new())..)
            .take_while(move |((ns, _), _)| ns == namespace)
            .map(|(_, v)| v)
    }

    /// Every cached object.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Value>> {
        self.objects.values()
    }
}

impl Shape {
    fn keep(self, object: &Arc<Value>) -> Arc<Value> {
        match self {
            Shape::Whole => object.clone(),
            Shape::Metadata => Arc::new(metadata_only(object)),
        }
    }
}

/// The fields of `metadata` a metadata informer keeps.
const METADATA_KEPT: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `object` reduced to its kind and the metadata in [`METADATA_KEPT`].
fn metadata_only(object: &Value) -> Value {
    let mut metadata = serde_json::Map::new();
    if let Some(meta) = object["metadata"].as_object() {
        for field in METADATA_KEPT {
            if let Some(value) = meta.get(*field) {
                metadata.insert(field.to_string(), value.clone());
            }
        }
    }
    serde_json::json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "metadata": metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::WriteOptions;
    use serde_json::json;

    #[tokio::test]
    async fn an_informer_relists_when_compaction_took_its_position() {
        let dir = std::env::temp_dir().join(format!("kubicle-informer-{}", uuid::Uuid::new_v4()));
        let api = Api::open(&dir, crate::ClusterConfig::default())
            .await
            .expect("open");
        let configmaps = crate::resources::lookup("", "v1", "configmaps").expect("configmaps");
        let create = |name: String| {
            let api = api.clone();
            async move {
                let cm =
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
                api.create(configmaps, Some("default"), cm, &WriteOptions::default())
                    .await
                    .expect("create");
            }
        };
        create("first".into()).await;
        let mut informer = Informer::start(&api, configmaps).await.expect("informer");
        // Fall behind the hub's ring, then lose the position to a compaction.
        let n = crate::watch::RING_EVENTS + 10;
        for i in 0..n {
            create(format!("cm-{i}")).await;
        }
        api.store()
            .compact(api.store().revision())
            .await
            .expect("compact");
        assert!(
            informer.next().await.is_none(),
            "the expired watch is replaced by a relist"
        );
        assert_eq!(informer.all().count(), n + 1);
        create("after".into()).await;
        let event = informer.next().await.expect("follows again");
        assert_eq!(event.name, "after");
        assert!(informer.get("default", "after").is_some());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn metadata_keeps_identity_owners_and_deletion() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
            "metadata": {"name": "x", "namespace": "d", "uid": "u", "resourceVersion": "7",
                "labels": {"l": "v"}, "managedFields": [{"manager": "m"}],
                "ownerReferences": [{"uid": "o"}], "finalizers": ["f"],
                "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert_eq!(
            metadata_only(&cm),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": "d", "uid": "u", "resourceVersion": "7",
                    "ownerReferences": [{"uid": "o"}], "finalizers": ["f"],
                    "deletionTimestamp": "2026-01-01T00:00:00Z"}})
        );
    }
}
