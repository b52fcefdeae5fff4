//! [`Informer`]: a cache of one type kept by list-then-watch, relisting when the watch
//! expires (the client-go informer / kube-rs reflector pattern). A consumer holds one per
//! type it reads and `select!`s over their `next()`.
//!
//! **API Boundary:** with [`crate::Api`] and [`crate::watch`], this is what the controllers,
//! podd, and later proxyd and dnsd read the cluster through.

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
}

impl Informer {
    /// Lists every object, then watches from the list's revision.
    pub async fn start(api: &Api, resource: &'static Resource) -> Result<Informer, ApiError> {
        let (objects, watcher) = Self::list_and_watch(api, resource).await?;
        Ok(Informer {
            api: api.clone(),
            resource,
            watcher,
            objects,
        })
    }

    async fn list_and_watch(
        api: &Api,
        resource: &'static Resource,
    ) -> Result<(BTreeMap<Key, Arc<Value>>, Watcher), ApiError> {
        let (items, revision) = api.list(
            resource,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
        );
        let objects = items
            .into_iter()
            .map(|o| (crate::controllers::key_of(&o), o))
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
                self.objects.insert(key, event.object.clone());
            }
        }
    }

    async fn relist(&mut self) {
        match Self::list_and_watch(&self.api, self.resource).await {
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
