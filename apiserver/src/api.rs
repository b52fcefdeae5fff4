//! [`Api`]: the validated read/write surface over the store, shared by the HTTP handlers and
//! every in-process consumer (controllers, podd, proxyd, dnsd).
//!
//! **API Boundary:** other crates read and write objects only through [`Api`] and
//! [`crate::watch::Watcher`]; they never see SQL or HTTP. Every write goes through the same
//! pipeline ([`crate::objects`]) whether it came from kubectl or from a controller.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::cluster::ClusterConfig;
use crate::managed;
use crate::objects::{self, FieldValidation, PatchType};
use crate::resources::{self, Resource};
use crate::selector::{FieldSelector, LabelSelector};
use crate::services::{Allocators, Plan};
use crate::status::ApiError;
use crate::store::{Change, ObjectKey, OpenError, Store};
use crate::watch::{EventType, Start, Watcher};

/// Options of a create, update or patch.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `dryRun=All`: run every check, store nothing.
    pub dry_run: bool,
    /// `fieldValidation`: what to do with fields the schema does not know.
    pub field_validation: FieldValidation,
    /// `fieldManager`: who owns the fields this write sets (`metadata.managedFields`).
    pub field_manager: String,
    /// `force`: a server-side apply takes conflicting fields over.
    pub force: bool,
}

impl Default for WriteOptions {
    /// Options of kubicle's own writes (controllers, bootstrap), recorded as `kubicle`.
    fn default() -> Self {
        WriteOptions::by("kubicle")
    }
}

impl WriteOptions {
    /// Default options for writes by `manager`.
    pub fn by(manager: &str) -> WriteOptions {
        WriteOptions {
            dry_run: false,
            field_validation: FieldValidation::default(),
            field_manager: manager.to_string(),
            force: false,
        }
    }
}

/// Which part of an object a write touches, for field ownership.
fn scope(resource: &Resource, subresource: Option<&'static str>) -> managed::Scope<'static> {
    match subresource {
        Some(sub) => managed::Scope::Subresource(sub),
        None if resource.has_status() => managed::Scope::Main,
        None => managed::Scope::Whole,
    }
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored (or as it would be, for a dry run).
    pub object: Arc<Value>,
    /// Warnings for the client (sent as `Warning: 299` headers over HTTP).
    pub warnings: Vec<String>,
    /// Whether the write created the object (server-side apply can).
    pub created: bool,
}

/// Options of a delete (the `DeleteOptions` body and query).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `propagationPolicy`: `Background` (the default), `Foreground` or `Orphan`.
    pub propagation_policy: Option<String>,
}

/// Namespaces that exist from the start and cannot be deleted.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The validated object API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    store: Arc<Store>,
    cluster: Arc<ClusterConfig>,
    allocators: Arc<Allocators>,
    node_streams: Arc<std::sync::OnceLock<Arc<dyn crate::streams::NodeStreams>>>,
}

fn key(resource: &Resource, namespace: Option<&str>, name: &str) -> ObjectKey {
    let ns = if resource.namespaced {
        namespace.unwrap_or("default")
    } else {
        ""
    };
    (resource.key(), ns.to_string(), name.to_string())
}

fn namespaces() -> &'static Resource {
    resources::RESOURCES
        .iter()
        .find(|r| r.kind == "Namespace")
        .unwrap_or(&resources::RESOURCES[0])
}

impl Api {
    /// Opens the store under `data_dir` and makes sure the system namespaces exist.
    pub async fn open(data_dir: &Path, cluster: ClusterConfig) -> Result<Api, OpenError> {
        let store = Store::open(data_dir, cluster.store.clone()).await?;
        let allocators = Allocators::new(&cluster);
        let services = resources::RESOURCES.iter().find(|r| r.kind == "Service");
        if let Some(services) = services {
            for service in store.list(&services.key(), None).0 {
                for problem in allocators.adopt(&service) {
                    tracing::error!(
                        service = %service["metadata"]["name"],
                        namespace = %service["metadata"]["namespace"],
                        "stored service holds an address it cannot keep: {problem}"
                    );
                }
            }
        }
        let api = Api {
            store,
            cluster: Arc::new(cluster),
            allocators: Arc::new(allocators),
            node_streams: Arc::new(std::sync::OnceLock::new()),
        };
        for ns in SYSTEM_NAMESPACES {
            let exists = api.get(namespaces(), None, ns).is_ok();
            if !exists {
                let obj =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                if let Err(e) = api
                    .create(namespaces(), None, obj, &WriteOptions::default())
                    .await
                {
                    tracing::error!(namespace = ns, error = %e, "create system namespace");
                }
            }
        }
        Ok(api)
    }

    /// Registers the pod runtime's streams (once; later calls are ignored).
    pub fn set_node_streams(&self, streams: Arc<dyn crate::streams::NodeStreams>) {
        let _ = self.node_streams.set(streams);
    }

    /// The pod runtime's streams, if one runs.
    pub fn node_streams(&self) -> Option<&Arc<dyn crate::streams::NodeStreams>> {
        self.node_streams.get()
    }

    /// The cluster-wide settings.
    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// The store behind the API.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// One object, or 404.
    pub fn get(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(&key(resource, namespace, name))
            .ok_or_else(|| ApiError::not_found(resource, name))
    }

    /// Objects of a type (in one namespace, or all) that match both selectors, with the
    /// revision the list is consistent with.
    pub fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Arc<Value>>, u64) {
        let ns = if resource.namespaced { namespace } else { None };
        let (items, revision) = self.store.list(&resource.key(), ns);
        let items = items
            .into_iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .collect();
        (items, revision)
    }

    /// [`Api::list`] as the stored JSON text of each object. Selectors are applied parsing
    /// one object at a time, so a large list never holds every object parsed at once.
    pub fn list_json(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Arc<str>>, u64) {
        let ns = if resource.namespaced { namespace } else { None };
        let (texts, revision) = self.store.list_json(&resource.key(), ns);
        if labels.is_empty() && fields.is_empty() {
            return (texts, revision);
        }
        let texts = texts
            .into_iter()
            .filter(|text| {
                serde_json::from_str::<Value>(text)
                    .is_ok_and(|o| labels.matches(&o) && fields.matches(&o))
            })
            .collect();
        (texts, revision)
    }

    /// Watches a type from `start`.
    pub async fn watch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        start: Start,
    ) -> Result<Watcher, ApiError> {
        let ns = if resource.namespaced { namespace } else { None };
        Watcher::start(self.store.clone(), &resource.key(), ns, start).await
    }

    fn require_namespace(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if !resource.namespaced {
            return Ok(());
        }
        let ns = namespace.unwrap_or("default");
        let found = self.get(namespaces(), None, ns)?;
        if found["metadata"].get("deletionTimestamp").is_some() {
            return Err(ApiError::Forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    /// Creates an object (POST). 409 AlreadyExists if the name is taken.
    pub async fn create(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        obj: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        self.create_tracked(resource, namespace, obj, options, true)
            .await
    }

    /// [`Api::create`]; `track` is false when the object's managedFields are already set (a
    /// server-side apply that creates).
    async fn create_tracked(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        obj: Value,
        options: &WriteOptions,
        track: bool,
    ) -> Result<Written, ApiError> {
        let now = jiff::Timestamp::now();
        let (mut obj, mut warnings) = crate::cpu::in_place(|| {
            objects::prepare_create(resource, obj, namespace, now, options.field_validation)
        })?;
        warnings.extend(crate::hardcoded::warnings(self, resource, &obj));
        if track {
            let api_version = resource.api_version();
            let stamp = objects::timestamp(now);
            crate::cpu::in_place(|| {
                managed::update_in(
                    resource.kind,
                    &api_version,
                    None,
                    &mut obj,
                    &options.field_manager,
                    &stamp,
                    scope(resource, None),
                )
            });
        }
        self.require_namespace(resource, namespace)?;
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let object = if options.dry_run {
            if self.get(resource, namespace, &name).is_ok() {
                return Err(ApiError::already_exists(resource, &name));
            }
            let mut obj = obj;
            let plan = self.allocators.plan(resource, None, &mut obj)?;
            self.allocators.settle(plan, false);
            Arc::new(obj)
        } else {
            let key = key(resource, namespace, &name);
            let mut plan: Option<Plan> = None;
            let result = self
                .store
                .mutate(key, |current, _| match current {
                    Some(_) => Err(ApiError::already_exists(resource, &name)),
                    None => {
                        let mut obj = obj;
                        plan = Some(self.allocators.plan(resource, None, &mut obj)?);
                        Ok(Change::Put(obj))
                    }
                })
                .await;
            if let Some(plan) = plan {
                self.allocators.settle(plan, result.is_ok());
            }
            result?.object
        };
        Ok(Written {
            object,
            warnings,
            created: true,
        })
    }

    /// Runs `change` on the current object under the writer lock and stores what it returns,
    /// deleting the object instead when it is marked for deletion and has no finalizer left.
    async fn rewrite<F>(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &WriteOptions,
        change: F,
    ) -> Result<Written, ApiError>
    where
        F: FnOnce(&Value) -> Result<(Value, Vec<String>), ApiError>,
    {
        let mut dry = None;
        let mut warnings = Vec::new();
        let mut plan: Option<Plan> = None;
        let result = self
            .store
            .mutate(key(resource, namespace, name), |current, _| {
                let current = current.ok_or_else(|| ApiError::not_found(resource, name))?;
                let (mut new, found) = crate::cpu::in_place(|| change(current))?;
                warnings = found;
                plan = Some(self.allocators.plan(resource, Some(current), &mut new)?);
                if options.dry_run {
                    dry = Some(new);
                    return Ok(Change::Keep);
                }
                if new == **current {
                    return Ok(Change::Keep);
                }
                if finished_deleting(resource, &new) {
                    return Ok(Change::Delete);
                }
                Ok(Change::Put(new))
            })
            .await;
        if let Some(plan) = plan {
            let stored = result.as_ref().is_ok_and(|c| c.event.is_some()) && dry.is_none();
            self.allocators.settle(plan, stored);
        }
        let committed = result?;
        if committed.event == Some(EventType::Deleted) {
            self.allocators.release(resource, &committed.object);
        }
        let written = dry.as_ref().unwrap_or(&committed.object);
        if written["metadata"]["deletionTimestamp"].is_null() {
            warnings.extend(crate::hardcoded::warnings(self, resource, written));
        }
        Ok(Written {
            object: dry.map(Arc::new).unwrap_or(committed.object),
            warnings,
            created: false,
        })
    }

    /// Replaces an object (PUT).
    pub async fn replace(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let validation = options.field_validation;
        self.rewrite(resource, namespace, name, options, |current| {
            let (mut new, warnings) =
                objects::prepare_update(resource, obj, current, namespace, name, validation)?;
            track(resource, None, current, &mut new, options);
            Ok((new, warnings))
        })
        .await
    }

    /// Replaces an object's status (PUT on `/status`): the owner of the status writes here.
    pub async fn replace_status(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        obj: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let validation = options.field_validation;
        self.rewrite(resource, namespace, name, options, |current| {
            let (mut new, warnings) =
                objects::prepare_status_update(resource, obj, current, name, validation)?;
            track(resource, Some("status"), current, &mut new, options);
            Ok((new, warnings))
        })
        .await
    }

    /// Patches an object, its `status` or its `scale`. Server-side apply merges by field
    /// ownership (see [`crate::managed`]) and creates the object when it is absent.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let stamp = objects::timestamp(jiff::Timestamp::now());
        let api_version = resource.api_version();
        let apply =
            |current: Option<&Value>, sub: Option<&'static str>| -> Result<Value, ApiError> {
                let mut applied = patch.clone();
                objects_set_name(&mut applied, name);
                Ok(managed::apply_in(
                    resource.kind,
                    &api_version,
                    current,
                    &applied,
                    &options.field_manager,
                    options.force,
                    &stamp,
                    scope(resource, sub),
                )?)
            };
        if patch_type == PatchType::Apply
            && subresource.is_none()
            && self.get(resource, namespace, name).is_err()
        {
            let obj = crate::cpu::in_place(|| apply(None, None))?;
            return self
                .create_tracked(resource, namespace, obj, options, false)
                .await;
        }
        let kind = resource.kind;
        let validation = options.field_validation;
        self.rewrite(resource, namespace, name, options, |current| {
            match (subresource, patch_type) {
                (None, PatchType::Apply) => {
                    let applied = apply(Some(current), None)?;
                    objects::prepare_update(resource, applied, current, namespace, name, validation)
                }
                (None, _) => {
                    let patched = objects::apply_patch(kind, patch_type, current, &patch)?;
                    let (mut new, warnings) = objects::prepare_update(
                        resource, patched, current, namespace, name, validation,
                    )?;
                    track(resource, None, current, &mut new, options);
                    Ok((new, warnings))
                }
                (Some("status"), PatchType::Apply) => {
                    let applied = apply(Some(current), Some("status"))?;
                    let owners = applied["metadata"]["managedFields"].clone();
                    let (mut new, warnings) = objects::prepare_status_update(
                        resource, applied, current, name, validation,
                    )?;
                    new["metadata"]["managedFields"] = owners;
                    Ok((new, warnings))
                }
                (Some("status"), _) => {
                    let patched = objects::apply_patch(kind, patch_type, current, &patch)?;
                    let (mut new, warnings) = objects::prepare_status_update(
                        resource, patched, current, name, validation,
                    )?;
                    track(resource, Some("status"), current, &mut new, options);
                    Ok((new, warnings))
                }
                (Some("scale"), _) => {
                    let scale = scale_of(current);
                    let patched = objects::apply_patch("Scale", patch_type, &scale, &patch)?;
                    let (mut new, warnings) =
                        with_replicas(resource, current, &patched, namespace, name)?;
                    track(resource, Some("scale"), current, &mut new, options);
                    Ok((new, warnings))
                }
                _ => Err(ApiError::MethodNotAllowed),
            }
        })
        .await
    }

    /// Binds a pod to a node (the `pods/binding` subresource the scheduler uses): sets
    /// `spec.nodeName` once and the `PodScheduled` condition. 409 if already bound elsewhere.
    pub async fn bind_pod(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
    ) -> Result<Written, ApiError> {
        let pods = resources::lookup("", "v1", "pods").ok_or(ApiError::UnknownResource)?;
        let now = objects::timestamp(jiff::Timestamp::now());
        self.rewrite(
            pods,
            Some(namespace),
            name,
            &WriteOptions::default(),
            |current| {
                match current["spec"]["nodeName"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                {
                    Some(bound) if bound == node => return Ok((current.clone(), Vec::new())),
                    Some(bound) => {
                        return Err(ApiError::Conflict {
                            qualified: "pods".into(),
                            group: String::new(),
                            plural: "pods".into(),
                            name: name.to_string(),
                            reason: format!("pod {name} is already assigned to node \"{bound}\""),
                        });
                    }
                    None => {}
                }
                let mut new = current.clone();
                new["spec"]["nodeName"] = json!(node);
                set_condition(&mut new, "PodScheduled", "True", &now);
                Ok((new, Vec::new()))
            },
        )
        .await
    }

    /// The `autoscaling/v1` Scale of a Deployment or ReplicaSet.
    pub fn get_scale(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(scale_of(&*self.get(resource, namespace, name)?))
    }

    /// Replaces the Scale (PUT on `/scale`): sets the parent's `spec.replicas`.
    pub async fn replace_scale(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        scale: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let out = self
            .rewrite(resource, namespace, name, options, |current| {
                let (mut new, warnings) =
                    with_replicas(resource, current, &scale, namespace, name)?;
                track(resource, Some("scale"), current, &mut new, options);
                Ok((new, warnings))
            })
            .await?;
        Ok(scale_of(&out.object))
    }

    /// Deletes an object. Objects with finalizers, and pods bound to a node with a grace
    /// period, are marked with `deletionTimestamp` and stay until their owner lets go.
    /// Deleting a namespace deletes everything in it first.
    pub async fn delete(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        if resource.kind == "Namespace" {
            if SYSTEM_NAMESPACES.contains(&name) {
                return Err(ApiError::Forbidden(format!(
                    "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                )));
            }
            self.get(resource, None, name)?;
            if !options.dry_run {
                self.delete_namespace_content(name).await?;
            }
        }
        self.delete_one(resource, namespace, name, options).await
    }

    async fn delete_one(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let now = jiff::Timestamp::now();
        let mut dry = None;
        let committed = self
            .store
            .mutate(key(resource, namespace, name), |current, _| {
                let current = current.ok_or_else(|| ApiError::not_found(resource, name))?;
                let meta = &current["metadata"];
                let precondition_failed = options
                    .precondition_uid
                    .as_deref()
                    .is_some_and(|uid| Some(uid) != meta["uid"].as_str())
                    || options
                        .precondition_resource_version
                        .as_deref()
                        .is_some_and(|rv| Some(rv) != meta["resourceVersion"].as_str());
                if precondition_failed {
                    return Err(ApiError::conflict(resource, name));
                }
                // Foreground and Orphan deletion are finalizers the garbage collector removes
                // once it has deleted, or let go of, the dependents.
                let policy_finalizer = match options.propagation_policy.as_deref() {
                    Some("Foreground") => Some("foregroundDeletion"),
                    Some("Orphan") => Some("orphan"),
                    _ => None,
                };
                let mut current = Value::clone(current);
                if let Some(finalizer) = policy_finalizer {
                    let list = current["metadata"]["finalizers"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if !list.iter().any(|f| f == finalizer) {
                        let mut list = list;
                        list.push(json!(finalizer));
                        current["metadata"]["finalizers"] = json!(list);
                    }
                }
                let current = &current;
                let meta = &current["metadata"];
                let has_finalizers = meta["finalizers"].as_array().is_some_and(|f| !f.is_empty());
                let grace = if self.cluster.pod_runtime {
                    grace_period(resource, current, options)
                } else {
                    0
                };
                if !has_finalizers && grace == 0 {
                    if options.dry_run {
                        dry = Some(Value::clone(current));
                        return Ok(Change::Keep);
                    }
                    return Ok(Change::Delete);
                }
                let mut marked = Value::clone(current);
                if meta.get("deletionTimestamp").is_none() || grace == 0 {
                    let at = now
                        .checked_add(jiff::SignedDuration::from_secs(grace))
                        .unwrap_or(now);
                    marked["metadata"]["deletionTimestamp"] = json!(objects::timestamp(at));
                    marked["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                }
                if options.dry_run {
                    dry = Some(marked);
                    return Ok(Change::Keep);
                }
                Ok(Change::Put(marked))
            })
            .await?;
        if committed.event == Some(EventType::Deleted) {
            self.allocators.release(resource, &committed.object);
        }
        Ok(dry.map(Arc::new).unwrap_or(committed.object))
    }

    /// [`Api::delete`], where an object that is already gone is not an error (controllers
    /// and the garbage collector race with users and with each other).
    pub async fn delete_if_present(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<(), ApiError> {
        match self.delete(resource, namespace, name, options).await {
            Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_namespace_content(&self, namespace: &str) -> Result<(), ApiError> {
        let forced = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        for resource in resources::RESOURCES.iter().filter(|r| r.namespaced) {
            let (items, _) = self.store.list(&resource.key(), Some(namespace));
            for item in items {
                let name = item["metadata"]["name"].as_str().unwrap_or("");
                match self
                    .delete_one(resource, Some(namespace), name, &forced)
                    .await
                {
                    Ok(_) | Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// Seconds a delete waits for the owner: only pods bound to a node get a grace period (their
/// kubelet, podd, stops the containers and finishes the delete).
fn grace_period(resource: &Resource, current: &Value, options: &DeleteOptions) -> i64 {
    if resource.kind != "Pod"
        || current["spec"]["nodeName"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    {
        return 0;
    }
    let phase = current["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return 0;
    }
    options
        .grace_period_seconds
        .or_else(|| current["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

/// An object marked for deletion whose finalizers are all gone is removed. A pod marked
/// with a grace period is finished by its kubelet instead (a zero-grace delete); one whose
/// grace period is zero goes with its last finalizer.
fn finished_deleting(resource: &Resource, obj: &Value) -> bool {
    let meta = &obj["metadata"];
    meta.get("deletionTimestamp").is_some_and(|t| !t.is_null())
        && meta["finalizers"].as_array().is_none_or(|f| f.is_empty())
        && (resource.kind != "Pod" || meta["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) == 0)
}

/// Records an ordinary write's field ownership (operation `Update`) on `new`.
fn track(
    resource: &Resource,
    subresource: Option<&'static str>,
    old: &Value,
    new: &mut Value,
    options: &WriteOptions,
) {
    let stamp = objects::timestamp(jiff::Timestamp::now());
    let api_version = resource.api_version();
    managed::update_in(
        resource.kind,
        &api_version,
        Some(old),
        new,
        &options.field_manager,
        &stamp,
        scope(resource, subresource),
    );
}

fn objects_set_name(obj: &mut Value, name: &str) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.entry("name").or_insert_with(|| json!(name));
    }
}

/// The Scale view of an object with `spec.replicas` (apps `ScaleREST`).
fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

/// The object with `spec.replicas` taken from a Scale.
fn with_replicas(
    resource: &Resource,
    current: &Value,
    scale: &Value,
    namespace: Option<&str>,
    name: &str,
) -> Result<(Value, Vec<String>), ApiError> {
    let replicas = &scale["spec"]["replicas"];
    let Some(n) = replicas.as_i64() else {
        return Err(ApiError::BadRequest(format!(
            "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be an integer, not {replicas}"
        )));
    };
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
        if !rv.is_empty() && Some(rv) != current["metadata"]["resourceVersion"].as_str() {
            return Err(ApiError::conflict(resource, name));
        }
    }
    let mut new = current.clone();
    new["spec"]["replicas"] = json!(n);
    objects::prepare_update(
        resource,
        new,
        current,
        namespace,
        name,
        FieldValidation::Ignore,
    )
}

/// Sets (or adds) a status condition, keeping `lastTransitionTime` when the status is the same.
pub fn set_condition(obj: &mut Value, kind: &str, status: &str, now: &str) {
    if !obj["status"].is_object() {
        obj["status"] = json!({});
    }
    if !obj["status"]["conditions"].is_array() {
        obj["status"]["conditions"] = json!([]);
    }
    if let Some(conditions) = obj["status"]["conditions"].as_array_mut() {
        match conditions.iter_mut().find(|c| c["type"] == kind) {
            Some(c) if c["status"] == status => {}
            Some(c) => {
                c["status"] = json!(status);
                c["lastTransitionTime"] = json!(now);
            }
            None => conditions.push(json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn api(pod_runtime: bool) -> (Api, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("kubicle-api-{}", uuid::Uuid::new_v4()));
        let cluster = ClusterConfig {
            pod_runtime,
            ..ClusterConfig::default()
        };
        (Api::open(&dir, cluster).await.expect("open"), dir)
    }

    fn pods() -> &'static Resource {
        resources::lookup("", "v1", "pods").expect("pods")
    }

    async fn bound_pod(api: &Api) {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"containers": [{"name": "c", "image": "kubicle/demo"}]}});
        api.create(pods(), Some("default"), pod, &WriteOptions::default())
            .await
            .expect("create");
        api.bind_pod("default", "p", "node-1").await.expect("bind");
    }

    #[tokio::test]
    async fn bound_pods_are_deleted_gracefully_when_a_runtime_finishes_them() {
        let (api, dir) = api(true).await;
        bound_pod(&api).await;
        let marked = api
            .delete(pods(), Some("default"), "p", &DeleteOptions::default())
            .await
            .expect("delete");
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
        assert!(
            api.get(pods(), Some("default"), "p").is_ok(),
            "the pod stays while it terminates"
        );
        let now = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        api.delete(pods(), Some("default"), "p", &now)
            .await
            .expect("finish");
        assert!(api.get(pods(), Some("default"), "p").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn without_a_runtime_pods_go_at_once_and_binding_is_once() {
        let (api, dir) = api(false).await;
        bound_pod(&api).await;
        let again = api.bind_pod("default", "p", "node-2").await;
        assert_eq!(again.expect_err("already bound").code(), 409);
        api.delete(pods(), Some("default"), "p", &DeleteOptions::default())
            .await
            .expect("delete");
        assert!(api.get(pods(), Some("default"), "p").is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn finalizers_hold_an_object_until_removed() {
        let (api, dir) = api(false).await;
        let cm = resources::lookup("", "v1", "configmaps").expect("configmaps");
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["example.com/hold"]}});
        api.create(cm, Some("default"), obj, &WriteOptions::default())
            .await
            .expect("create");
        let marked = api
            .delete(cm, Some("default"), "c", &DeleteOptions::default())
            .await
            .expect("delete");
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        let patch = json!({"metadata": {"finalizers": []}});
        api.patch(
            cm,
            Some("default"),
            "c",
            None,
            PatchType::Merge,
            patch,
            &WriteOptions::default(),
        )
        .await
        .expect("remove finalizer");
        assert!(
            api.get(cm, Some("default"), "c").is_err(),
            "gone with its last finalizer"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
