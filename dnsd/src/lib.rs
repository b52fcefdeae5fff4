//! dnsd: kubicle's cluster DNS, in the role CoreDNS plays in Kubernetes.
//!
//! It serves the cluster zone (`cluster.local` by default) from an in-memory [`Index`] that
//! the Service, EndpointSlice, Pod and Namespace informers feed, following the Kubernetes DNS
//! specification and CoreDNS's `kubernetes` plugin as kubeadm configures it (`pods verified`,
//! `ttl 30`, `fallthrough in-addr.arpa ip6.arpa`, `autopath @kubernetes`), and forwards
//! every other name to the node's resolvers (`forward . /etc/resolv.conf`, `cache 30`).
//! `../shared/docs/kubernetes-networking.md` §1–§2 is the specification it implements.
//!
//! Layout, in reading order:
//! - `config`: [`Config`], checked once before anything binds.
//! - `objects`: the fields of Services, EndpointSlices, Pods and Namespaces that DNS reads.
//! - `index`: [`Index`], the view fed by watch events; readers never wait for each other.
//! - `records`: the answer to one question, as pure data (no hickory types): the query
//!   grammar and NXDOMAIN vs NODATA (`records.rs`), services, endpoints and pods
//!   (`records/kubernetes.rs`), the record builders (`records/backend.rs`), PTR and the
//!   reverse fallthrough (`records/reverse.rs`); the rule table is `records/tests.rs`.
//! - `upstream`: which resolvers to forward to, from resolv.conf.
//! - `handler`: the one function that makes a reply (message checks, conversion to hickory
//!   records, autopath), and the hickory `RequestHandler` around it; `handler/forward.rs`
//!   asks the upstreams and `handler/cache.rs` keeps their answers.
//! - `server`: [`Server`]: binds UDP and TCP, runs until the shutdown token fires: TCP on
//!   hickory's server, UDP on dnsd's own loop (`server/udp.rs`), which answers inline what
//!   needs no network.
//! - `feed`: [`feed`], which keeps the index equal to the cluster through `apiserver`
//!   informers.
//! - `error`: [`Error`] and [`ObjectError`].
//!
//! Use:
//! ```no_run
//! # async fn demo(service: serde_json::Value) -> Result<(), dnsd::Error> {
//! use std::sync::Arc;
//! let config = dnsd::Config {
//!     listen: vec!["10.96.0.10:53".parse().unwrap()],
//!     dns_service_ips: vec!["10.96.0.10".parse().unwrap()],
//!     ..dnsd::Config::default()
//! };
//! let index = Arc::new(dnsd::Index::new(&config)?);
//! let server = dnsd::Server::bind(&config, index.clone()).await?;
//! // Feed the informers' objects, then say the first lists are in:
//! index.upsert_service(&service).ok();
//! index.mark_synced();
//! server.run(tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```
//!
//! **Architecture Invariant:** dnsd never answers NXDOMAIN before [`Index::mark_synced`]:
//! until then every name it owns is SERVFAIL.
//! **Architecture Invariant:** hickory types stay in `handler` and `server`.

#![warn(missing_docs)]

mod config;
mod error;
mod feed;
mod handler;
mod index;
mod objects;
mod records;
mod server;
mod upstream;

pub use config::Config;
pub use error::{Error, ObjectError};
pub use feed::feed;
pub use index::Index;
pub use server::Server;
