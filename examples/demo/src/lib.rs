//! The demo apps of kubicle's examples, run as `kubicle demo <app>` (image `kubicle/demo`).
//!
//! Four small HTTP/JSON services in the spirit of the seed note: `auth` hashes passwords and
//! issues and verifies tokens, `users` signs up and logs in through auth, `tasks` keeps tasks
//! behind a token that auth verifies, and `client` polls auth once a second so the "three ways
//! to reach auth" (Pod IP, ClusterIP, Service DNS) can be watched side by side.
//! Every app answers with an `X-Served-By: <hostname> <pod IP>` header, and users, tasks and
//! client log which address they called and which peer answered.
//!
//! **Layout**, in reading order:
//! - `cli`: [`main`] and [`run`], the entry points `kubicle demo` calls; usage text; signals.
//! - `config`: [`Config`], validated from an env map; [`App`]; auth address parsing.
//! - `error`: [`Error`], the start-up errors.
//! - `server`: [`Server`], the listeners, per-request log and `X-Served-By`, graceful shutdown.
//! - `api`: JSON bodies and JSON errors shared by every app (400, 404, 405, 503, ...).
//! - `call`: outgoing calls to auth, with connect and request deadlines.
//! - `password`, `token`: PBKDF2 password hashes and HMAC-signed tokens (pure).
//! - `auth`, `users`, `tasks`, `client`: the four apps' routers.
//!
//! **Architecture Invariant:** auth replicas share nothing but `AUTH_SECRET`: a token issued
//! by one replica verifies on any other, so a Service can balance over them freely.
//! Users and tasks keep their data in memory, per process.

#![warn(missing_docs)]

mod api;
mod auth;
mod call;
mod cli;
mod client;
mod config;
mod error;
mod password;
mod server;
mod tasks;
mod token;
mod users;

#[cfg(test)]
mod tests;

pub use cli::{EX_USAGE, USAGE, main, run};
pub use config::{AddressSource, App, AuthAddress, AuthTarget, Config, DEV_AUTH_SECRET, env_names};
pub use error::Error;
pub use server::Server;
