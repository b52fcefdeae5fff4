//! The resource endpoints: get, list, watch, create, replace, patch, delete, the `status` and
//! `scale` subresources, and server-side Table printing.
//!
//! Paths are parsed by hand ([`Target::parse`]) because the Kubernetes URL space is ambiguous
//! for axum's router: `/api/v1/namespaces/x/status` is a subresource of namespace `x`, while
//! `/api/v1/namespaces/x/pods` is a collection in it.

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::api::Api;
use crate::api::Written;
use crate::objects::{self, FieldValidation, PatchType};
use crate::resources::{self, Resource};
use crate::selector::{FieldSelector, LabelSelector};

use super::params::{self, ListOptions, Params, Write};
use crate::status::ApiError;
use crate::table;
use crate::watch::{EventType, Start, WatchEvent, Watcher};

/// What a resource URL names.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) resource: &'static Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

impl Target {
    /// Parses the segments after `/api/v1` or `/apis/<group>/<version>`.
    pub(crate) fn parse(group: &str, version: &str, segs: &[&str]) -> Result<Target, ApiError> {
        let lookup = |plural: &str| {
            resources::lookup(group, version, plural).ok_or(ApiError::UnknownResource)
        };
        let namespaces_sub = |s: &str| s == "status" || s == "finalize";
        let (resource, namespace, rest) = match segs {
            ["namespaces", ns, plural, rest @ ..]
                if !(group.is_empty() && rest.is_empty() && namespaces_sub(plural)) =>
            {
                let r = lookup(plural)?;
                if !r.namespaced {
                    return Err(ApiError::UnknownResource);
                }
                (r, Some(ns.to_string()), rest)
            }
            [plural, rest @ ..] => (lookup(plural)?, None, rest),
            [] => return Err(ApiError::UnknownResource),
        };
        let (name, subresource) = match rest {
            [] => (None, None),
            [name] => (Some(name.to_string()), None),
            [name, sub] => {
                if resource.subresource(sub).is_none() {
                    return Err(ApiError::UnknownResource);
                }
                (Some(name.to_string()), Some(sub.to_string()))
            }
            _ => return Err(ApiError::UnknownResource),
        };
        if name.is_some() && resource.namespaced && namespace.is_none() {
            // `/api/v1/pods/x` does not exist: named namespaced objects need their namespace.
            return Err(ApiError::UnknownResource);
        }
        Ok(Target {
            resource,
            namespace,
            name,
            subresource,
        })
    }
}

/// How the client wants objects rendered.
#[derive(Debug, Clone, Copy)]
enum Render {
    Object,
    Table {
        api_version: &'static str,
        include: Include,
    },
}

/// `includeObject` of a Table request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Include {
    None,
    Metadata,
    Object,
}

/// How the client wants objects rendered; a Table with a bad `includeObject` is a 400.
fn render(headers: &HeaderMap, params: &Params) -> Result<Render, ApiError> {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Take the first offered media type we can serve: a Table, or plain JSON.
    for offer in accept.split(',') {
        if offer.contains("as=Table") && offer.contains("g=meta.k8s.io") {
            let api_version = if offer.contains("v=v1beta1") {
                "meta.k8s.io/v1beta1"
            } else {
                "meta.k8s.io/v1"
            };
            let include = match params::include_object(params)? {
                Some("None") => Include::None,
                Some("Object") => Include::Object,
                _ => Include::Metadata,
            };
            return Ok(Render::Table {
                api_version,
                include,
            });
        }
        if offer.contains("json") || offer.trim() == "*/*" {
            return Ok(Render::Object);
        }
    }
    Ok(Render::Object)
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    text_response(code, value.to_string())
}

/// A response whose body is JSON already written out.
fn text_response(code: StatusCode, json: String) -> Response {
    (
        code,
        [(http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Serves one request to a resource URL.
pub(crate) async fn handle(
    api: &Api,
    method: Method,
    target: Target,
    params: Params,
    headers: &HeaderMap,
    body: Bytes,
    ws: Option<axum::extract::ws::WebSocketUpgrade>,
) -> Result<Response, ApiError> {
    let r = target.resource;
    let ns = target.namespace.as_deref();
    let how = render(headers, &params)?;
    let content_type = header(headers, http::header::CONTENT_TYPE);
    match (
        &method,
        target.name.as_deref(),
        target.subresource.as_deref(),
    ) {
        (&Method::GET, None, None) => {
            let options = ListOptions::from_params(&params, r.kind)?;
            if options.watch {
                return watch(api, r, ns, options, how).await;
            }
            params::request_timeout(&params)?;
            let token = options.check_list_revision()?;
            list_not_compacted(&params, api.store().hub().compacted())?;
            // From the stored text: a JSON list parses no object, a Table one at a time.
            let (mut texts, revision) = api.list_json(r, ns, &options.labels, &options.fields);
            if let Some(token) = token {
                // A list is never cut into pages here (`limit` is served whole, as the
                // watch cache serves it), so a token comes from elsewhere: go on from its key.
                texts.retain(|t| {
                    serde_json::from_str::<Value>(t)
                        .is_ok_and(|o| list_key(&o, ns.is_some()).as_str() >= token.start.as_str())
                });
            }
            match how {
                Render::Object => Ok(text_response(
                    StatusCode::OK,
                    list_text(r, &texts, revision),
                )),
                Render::Table {
                    api_version,
                    include,
                } => {
                    let objects = texts
                        .iter()
                        .filter_map(|t| serde_json::from_str::<Value>(t).ok());
                    let table = table_body(r, objects, revision, api_version, include);
                    Ok(json_response(StatusCode::OK, &table))
                }
            }
        }
        (&Method::GET, Some(name), None | Some("status")) => {
            params::request_timeout(&params)?;
            // The watch cache serves a get at a version, and parses it first (`CacheDelegator.Get`).
            params::resource_version(params.get("resourceVersion").unwrap_or(""))
                .map_err(ApiError::Unknown)?;
            let obj = api.get(r, ns, name)?;
            let revision = api.store().revision();
            Ok(json_response(
                StatusCode::OK,
                &object_body(r, &obj, revision, how),
            ))
        }
        (&Method::GET, Some(name), Some("scale")) => {
            Ok(json_response(StatusCode::OK, &api.get_scale(r, ns, name)?))
        }
        (&Method::GET, Some(name), Some("log")) => {
            let pod = api.get(r, ns, name)?;
            super::log::respond(api, &pod, &params)
        }
        (&Method::GET | &Method::POST, Some(name), Some("exec")) => {
            let pod = api.get(r, ns, name)?;
            let phase = pod["status"]["phase"].as_str().unwrap_or("");
            if phase == "Succeeded" || phase == "Failed" {
                return Err(ApiError::BadRequest(format!(
                    "cannot exec into a container in a completed pod; current phase is {phase}"
                )));
            }
            let options = crate::streams::ExecOptions {
                container: params.get("container").map(str::to_string),
                command: params
                    .0
                    .iter()
                    .filter(|(k, _)| k == "command")
                    .map(|(_, v)| v.clone())
                    .collect(),
                stdin: params.flag("stdin"),
                tty: params.flag("tty"),
            };
            let Some(ws) = ws else {
                return Err(super::exec::needs_websocket());
            };
            let Some(streams) = api.node_streams() else {
                return Err(ApiError::BadRequest(format!(
                    "pod {name} exec: no pod runtime runs on this node (kubicle up without root, or --no-pods)"
                )));
            };
            let process = streams.exec(&pod, &options)?;
            Ok(super::exec::upgrade(ws, process))
        }
        (&Method::GET | &Method::POST, Some(name), Some("portforward")) => {
            let pod = api.get(r, ns, name)?;
            let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
            let pod_ip = pod["status"]["podIP"]
                .as_str()
                .and_then(|ip| ip.parse().ok());
            let (Some(pod_ip), "Running") = (pod_ip, phase) else {
                return Err(ApiError::BadRequest(format!(
                    "unable to forward port because pod is not running. Current status={phase}"
                )));
            };
            let Some(ws) = ws else {
                return Err(ApiError::BadRequest(
                    "port-forward needs a WebSocket upgrade with the SPDY/3.1+portforward.k8s.io subprotocol (kubectl 1.32 does this by default; plain SPDY is not served)".into(),
                ));
            };
            Ok(super::portforward::upgrade(ws, pod_ip))
        }
        (&Method::POST, None, None) => {
            let obj = objects::decode(content_type, body.clone()).await?;
            let options = params::write_options(&params, headers, Write::Create)?;
            let duplicates =
                crate::cpu::in_place(|| duplicate_fields(r, content_type, &body, &obj, &options))?;
            set_on_create(&obj, &options)?;
            let mut created = api.create(r, ns, obj, &options).await?;
            created.warnings.splice(0..0, duplicates);
            Ok(written_response(r, &created, how))
        }
        (&Method::PUT, Some(name), sub) => {
            let obj = objects::decode(content_type, body.clone()).await?;
            let options = params::write_options(&params, headers, Write::Update)?;
            let duplicates =
                crate::cpu::in_place(|| duplicate_fields(r, content_type, &body, &obj, &options))?;
            let mut out = match sub {
                None => api.replace(r, ns, name, obj, &options).await?,
                Some("status") => api.replace_status(r, ns, name, obj, &options).await?,
                Some("scale") => {
                    let scale = api.replace_scale(r, ns, name, obj, &options).await?;
                    return Ok(json_response(StatusCode::OK, &scale));
                }
                Some(_) => return Err(ApiError::MethodNotAllowed),
            };
            out.warnings.splice(0..0, duplicates);
            Ok(written_response(r, &out, how))
        }
        (&Method::PATCH, Some(name), sub) => {
            let patch_type = PatchType::from_content_type(content_type)?;
            let patch = objects::decode(content_type, body).await?;
            let options = params::write_options(&params, headers, Write::Patch(patch_type))?;
            let out = api
                .patch(r, ns, name, sub, patch_type, patch, &options)
                .await?;
            if sub == Some("scale") {
                return Ok(json_response(StatusCode::OK, &api.get_scale(r, ns, name)?));
            }
            Ok(written_response(r, &out, how))
        }
        (&Method::DELETE, Some(name), None) => {
            let options = params::delete_options(&params, &body)?;
            let out = api.delete(r, ns, name, &options).await?;
            Ok(json_response(
                StatusCode::OK,
                &object_body(r, &out, 0, Render::Object),
            ))
        }
        (&Method::DELETE, None, None) => {
            let list = ListOptions::from_params(&params, r.kind)?;
            let options = params::delete_options(&params, &body)?;
            let (items, _) = api.list(r, ns, &list.labels, &list.fields);
            let mut deleted = Vec::new();
            for item in items {
                let meta = &item["metadata"];
                let name = meta["name"].as_str().unwrap_or("");
                let item_ns = meta["namespace"].as_str();
                match api.delete(r, item_ns, name, &options).await {
                    Ok(obj) => deleted.push(obj),
                    Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let revision = api.store().revision();
            Ok(json_response(
                StatusCode::OK,
                &list_body(r, &deleted, revision, Render::Object),
            ))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The repeated keys of a JSON create or update body, as strict decoding reports them
/// (`sigs.k8s.io/json`): with `fieldValidation=Strict` one 400 together with the unknown
/// fields, as `transformDecodeError` words it; with `Warn` warnings; with `Ignore` nothing.
fn duplicate_fields(
    r: &Resource,
    content_type: &str,
    body: &[u8],
    obj: &Value,
    options: &crate::api::WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    let json = matches!(
        media.to_ascii_lowercase().as_str(),
        "" | "application/json" | "*/*"
    );
    if !json || options.field_validation == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let duplicates = crate::strict::duplicate_fields(body);
    if duplicates.is_empty() || options.field_validation != FieldValidation::Strict {
        return Ok(duplicates);
    }
    let (_, mut errors) = objects::decode_typed(r, obj.clone(), FieldValidation::Warn)?;
    errors.extend(duplicates);
    Err(ApiError::BadRequest(format!(
        "{kind} in version \"{}\" cannot be handled as a {kind}: strict decoding error: {}",
        r.version,
        errors.join(", "),
        kind = r.kind,
    )))
}

/// The etcd3 store refuses to create an object that carries a resourceVersion (one that
/// parses to a non-zero `u64`), with `storage.ErrResourceVersionSetOnCreate`, which
/// `InterpretCreateError` passes on as a 500 without a reason; a dry run never reaches it.
/// Upstream checks this after validation; here it comes before.
fn set_on_create(obj: &Value, options: &crate::api::WriteOptions) -> Result<(), ApiError> {
    let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if options.dry_run || !crate::strconv::parse_uint(rv).is_ok_and(|v| v != 0) {
        return Ok(());
    }
    Err(ApiError::Unknown(
        "resourceVersion should not be set on objects to be created".into(),
    ))
}

/// An object's key relative to the key prefix of a list (`<namespace>/<name>` across
/// namespaces, `<name>` within one or for a cluster-scoped kind), as continue tokens hold it.
fn list_key(obj: &Value, in_namespace: bool) -> String {
    let meta = &obj["metadata"];
    let name = meta["name"].as_str().unwrap_or("");
    match meta["namespace"].as_str() {
        Some(ns) if !in_namespace => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// A write's answer: 201 when it created the object, with its warnings as `Warning` headers
/// (kubectl prints them as `Warning: <text>`; client-go `rest/warnings.go`).
fn written_response(r: &Resource, written: &Written, how: Render) -> Response {
    let code = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = json_response(code, &object_body(r, &written.object, 0, how));
    for warning in &written.warnings {
        let text = warning.replace(['"', '\\', '\n'], "'");
        if let Ok(value) = http::HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            response.headers_mut().append(http::header::WARNING, value);
        }
    }
    response
}

/// An object as JSON, or as a one-row Table.
fn object_body(r: &Resource, obj: &Value, revision: u64, how: Render) -> Value {
    match how {
        Render::Object => obj.clone(),
        Render::Table {
            api_version,
            include,
        } => table_body(r, std::slice::from_ref(obj), revision, api_version, include),
    }
}

/// A list as `<Kind>List` from each object's stored JSON text.
fn list_text(r: &Resource, items: &[Arc<str>], revision: u64) -> String {
    let head = json!({
        "kind": format!("{}List", r.kind),
        "apiVersion": r.api_version(),
        "metadata": {"resourceVersion": revision.to_string()},
    })
    .to_string();
    let size = items.iter().map(|i| i.len() + 1).sum::<usize>() + head.len() + 16;
    let mut out = String::with_capacity(size);
    // `head` is an object: its closing brace makes way for the items.
    out.push_str(&head[..head.len() - 1]);
    out.push_str(",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push_str("]}");
    out
}

/// A list as `<Kind>List`, or as a Table.
fn list_body(r: &Resource, items: &[Arc<Value>], revision: u64, how: Render) -> Value {
    match how {
        Render::Object => json!({
            "kind": format!("{}List", r.kind),
            "apiVersion": r.api_version(),
            "metadata": {"resourceVersion": revision.to_string()},
            "items": items.iter().map(|i| Value::clone(i)).collect::<Vec<_>>(),
        }),
        Render::Table {
            api_version,
            include,
        } => {
            let objects = items.iter().map(|i| &**i);
            table_body(r, objects, revision, api_version, include)
        }
    }
}

fn table_body<T: Borrow<Value>>(
    r: &Resource,
    items: impl IntoIterator<Item = T>,
    revision: u64,
    api_version: &str,
    include: Include,
) -> Value {
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = items
        .into_iter()
        .map(|obj| {
            let obj: &Value = obj.borrow();
            let mut row = json!({
                "cells": table::cells(r.kind, obj, now),
            });
            let conditions = table::row_conditions(r.kind, obj);
            if !conditions.is_empty() {
                row["conditions"] = json!(conditions);
            }
            match include {
                Include::None => {}
                Include::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj["metadata"],
                    })
                }
                Include::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    let mut meta = json!({});
    if revision > 0 {
        meta["resourceVersion"] = json!(revision.to_string());
    }
    json!({
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": meta,
        "columnDefinitions": table::columns(r.kind),
        "rows": rows,
    })
}

/// 410 Expired for a list at an exact revision (`resourceVersionMatch=Exact`) the store has
/// compacted away, as kube-apiserver answers when etcd has compacted it. (Any other list is
/// served from the newest state, which is not older than any revision asked for.)
fn list_not_compacted(params: &Params, compacted: u64) -> Result<(), ApiError> {
    let exact = params.get("resourceVersionMatch") == Some("Exact");
    let requested = params
        .get("resourceVersion")
        .and_then(|rv| rv.parse::<u64>().ok());
    match requested {
        Some(rv) if exact && rv < compacted => Err(ApiError::ListExpired),
        _ => Ok(()),
    }
}

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

struct WatchStream {
    watcher: Watcher,
    resource: &'static Resource,
    labels: LabelSelector,
    fields: FieldSelector,
    how: Render,
    bookmarks: tokio::time::Interval,
    allow_bookmarks: bool,
    deadline: tokio::time::Instant,
    done: bool,
}

async fn watch(
    api: &Api,
    r: &'static Resource,
    ns: Option<&str>,
    options: ListOptions,
    how: Render,
) -> Result<Response, ApiError> {
    // `Cacher.Watch` parses the version and passes its error on as it is: a 500.
    let start = match params::resource_version(&options.resource_version) {
        Ok(0) => Start::Now,
        Ok(rv) => Start::After(rv),
        Err(e) => return Err(ApiError::Unknown(e)),
    };
    let timeout = params::watch_timeout(options.timeout_seconds, rand::random::<f64>());
    let first_line = match api.watch(r, ns, start).await {
        Ok(watcher) => {
            let mut bookmarks = tokio::time::interval(BOOKMARK_EVERY);
            bookmarks.reset();
            let state = WatchStream {
                watcher,
                resource: r,
                labels: options.labels,
                fields: options.fields,
                how,
                bookmarks,
                allow_bookmarks: options.allow_watch_bookmarks,
                deadline: tokio::time::Instant::now() + timeout,
                done: false,
            };
            return Ok(stream_response(state));
        }
        Err(e @ ApiError::Expired { .. }) => json!({"type": "ERROR", "object": e.to_status()}),
        Err(e) => return Err(e),
    };
    let body = format!("{first_line}\n");
    Ok((
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

fn stream_response(state: WatchStream) -> Response {
    let lines = stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            tokio::select! {
                event = s.watcher.next() => match event {
                    Ok(event) => {
                        if let Some(line) = s.line(&event) {
                            return Some((Ok::<Bytes, std::convert::Infallible>(line), s));
                        }
                    }
                    Err(e) => {
                        s.done = true;
                        let line = json!({"type": "ERROR", "object": e.to_status()});
                        return Some((Ok(Bytes::from(format!("{line}\n"))), s));
                    }
                },
                _ = s.bookmarks.tick(), if s.allow_bookmarks => {
                    let line = json!({"type": "BOOKMARK", "object": {
                        "kind": s.resource.kind,
                        "apiVersion": s.resource.api_version(),
                        "metadata": {"resourceVersion": s.watcher.revision().to_string()},
                    }});
                    return Some((Ok(Bytes::from(format!("{line}\n"))), s));
                }
                _ = tokio::time::sleep_until(s.deadline) => return None,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

impl WatchStream {
    /// The wire line of an event for this watcher, or `None` if the selectors filter it out.
    /// An object that starts or stops matching a selector is reported as ADDED or DELETED,
    /// as the real watch cache does.
    fn line(&self, event: &WatchEvent) -> Option<Bytes> {
        let matches = |o: &Value| self.labels.matches(o) && self.fields.matches(o);
        let now = matches(&event.object);
        let before = event.previous.as_deref().map(matches);
        let event_type = match (event.event_type, now, before) {
            (EventType::Modified, true, Some(false)) => EventType::Added,
            (EventType::Modified, false, Some(true)) => EventType::Deleted,
            (t, true, _) => t,
            _ => return None,
        };
        let object = object_body(self.resource, &event.object, 0, self.how);
        let line = json!({"type": event_type.as_str(), "object": object});
        Some(Bytes::from(format!("{line}\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resource plural, then the optional namespace, name and subresource.
    type Parsed = (String, Option<String>, Option<String>, Option<String>);

    fn parse(group: &str, segs: &[&str]) -> Result<Parsed, ApiError> {
        let t = Target::parse(group, "v1", segs)?;
        Ok((
            t.resource.plural.to_string(),
            t.namespace,
            t.name,
            t.subresource,
        ))
    }

    #[test]
    fn a_list_from_stored_text_is_the_list_of_parsed_objects() {
        let r = resources::lookup("", "v1", "configmaps").expect("configmaps");
        let objects = [
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "b"}}),
        ];
        let texts: Vec<Arc<str>> = objects.iter().map(|o| Arc::from(o.to_string())).collect();
        let parsed: Vec<Arc<Value>> = objects.iter().cloned().map(Arc::new).collect();
        for n in [0, 1, 2] {
            let text: Value = serde_json::from_str(&list_text(r, &texts[..n], 7)).expect("JSON");
            assert_eq!(
                text,
                list_body(r, &parsed[..n], 7, Render::Object),
                "{n} items"
            );
        }
    }

    #[test]
    fn an_exact_list_from_a_compacted_revision_is_expired() {
        let params = |q: &[(&str, &str)]| {
            Params(
                q.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        type Query = &'static [(&'static str, &'static str)];
        // (query, compacted revision, expired)
        let table: &[(Query, u64, bool)] = &[
            (
                &[("resourceVersion", "5"), ("resourceVersionMatch", "Exact")],
                10,
                true,
            ),
            (
                &[("resourceVersion", "10"), ("resourceVersionMatch", "Exact")],
                10,
                false,
            ),
            (
                &[
                    ("resourceVersion", "5"),
                    ("resourceVersionMatch", "NotOlderThan"),
                ],
                10,
                false,
            ),
            (&[("resourceVersion", "5")], 10, false),
            (&[], 10, false),
        ];
        for &(query, compacted, expired) in table {
            let got = list_not_compacted(&params(query), compacted);
            assert_eq!(got.is_err(), expired, "{query:?}");
        }
        let status = ApiError::ListExpired.to_status();
        assert_eq!(
            (status["code"].as_u64(), status["reason"].as_str()),
            (Some(410), Some("Expired"))
        );
        assert_eq!(
            status["message"],
            "The resourceVersion for the provided list is too old."
        );
    }

    #[test]
    fn targets() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            parse("", &["pods"]).expect("all pods"),
            ("pods".into(), None, None, None)
        );
        assert_eq!(
            parse("", &["namespaces", "a", "pods"]).expect("ns pods"),
            ("pods".into(), s("a"), None, None)
        );
        assert_eq!(
            parse("", &["namespaces", "a"]).expect("ns"),
            ("namespaces".into(), None, s("a"), None)
        );
        assert_eq!(
            parse("", &["namespaces", "a", "status"]).expect("ns status"),
            ("namespaces".into(), None, s("a"), s("status"))
        );
        assert_eq!(
            parse("apps", &["namespaces", "d", "deployments", "w", "scale"]).expect("scale"),
            ("deployments".into(), s("d"), s("w"), s("scale"))
        );
        assert!(parse("", &["frobs"]).is_err());
        assert!(parse("", &["pods", "x"]).is_err());
        assert!(parse("", &["namespaces", "a", "pods", "p", "nope"]).is_err());
        assert!(parse("", &["namespaces", "a", "namespaces"]).is_err());
    }
}
