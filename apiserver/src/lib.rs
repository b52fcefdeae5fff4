//! kubicle's Kubernetes API server: the store, the watch hub, and the REST API kubectl speaks.
//!
//! Layout, in reading order:
//! - `resources`: the table of served kinds (discovery, routing and storage all read it).
//! - `store`: SQLite (WAL) as the single source of truth, mirrored in memory, one revision.
//! - `watch`: the hub; ordered, replayable events (**API Boundary** for in-process consumers).
//! - `api`: [`Api`], the validated object API shared by HTTP and in-process clients
//!   (**API Boundary**).
//! - `informer`: list-then-watch caches for in-process consumers (**API Boundary**).
//! - `events`: the event recorder (core/v1 Event objects).
//! - `services`, `alloc`: ClusterIP and NodePort allocation, LoadBalancer ingress.
//! - `hardcoded`: the `Warning:` for a pod template whose env hard-codes a Pod IP or ClusterIP.
//! - `bootstrap`: the objects every cluster has (system Services, the Node).
//! - `controllers`: scheduler, ReplicaSets, Deployments, Endpoints/EndpointSlices, garbage collector.
//! - `managed`: server-side apply: managedFields, field ownership, conflicts.
//! - `objects`: the write pipeline (decode, system metadata, defaults, validation, patches).
//! - `cpu`: CPU-heavy request work (decoding, patches, apply) kept off the async workers.
//! - `defaults`, `validate`, `patch`, `selector`, `table`: the pure pieces of that pipeline.
//! - `protobuf`: decoding of the protobuf bodies kubectl's typed clients send.
//! - `status`: every error as a Kubernetes `Status`.
//! - `strconv`: Go's number parsing and quoting, whose texts upstream's errors carry.
//! - `strict`: the duplicate keys of a JSON body, as strict decoding reports them.
//! - `streams`: the pod runtime's log streams behind `pods/log` (**API Boundary**).
//! - `tls`: CA, serving certificate, token, kubeconfig.
//! - `http`: the HTTPS router and accept loop.

#![warn(missing_docs)]

pub mod alloc;
pub mod api;
pub mod bootstrap;
pub mod cluster;
pub mod controllers;
mod cpu;
pub mod defaults;
pub mod events;
mod hardcoded;
pub mod http;
pub mod informer;
pub mod managed;
pub mod objects;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod services;
pub mod status;
pub mod store;
pub mod strconv;
pub mod streams;
pub mod strict;
pub mod table;
pub mod tls;
pub mod validate;
pub mod watch;

pub use api::{Api, DeleteOptions, WriteOptions, Written};
pub use cluster::ClusterConfig;
pub use status::ApiError;
pub use watch::{EventType, Start, WatchEvent, Watcher};
