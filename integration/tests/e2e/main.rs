//! kubicle's end-to-end suite: one test binary made of modules, each test with its own
//! cluster process, data dir and port, driven by the real kubectl.

mod api;
mod controllers;
mod crash;
mod dns;
mod errors;
mod flood;
mod hardening;
mod images;
mod kube_client;
mod pods;
mod services;
mod store_limits;
mod supervision;
mod tidy;
mod walkthrough;

use std::path::PathBuf;

/// The repository root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration/ lives in the repo")
        .to_path_buf()
}
