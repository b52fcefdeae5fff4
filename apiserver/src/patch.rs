//! Patches that are not plain RFC 6902 / RFC 7386 (those come from the `json-patch` crate).
//!
//! Layout:
//! - `patch/strategic.rs`: Kubernetes strategic merge patch, with the built-in kinds' merge keys.

pub mod strategic;
