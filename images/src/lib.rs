//! kubicle's OCI images, as mechanism only (like netd, it depends on no kubicle crate):
//! references normalised as Docker normalises them (`reference`), a content-addressed store
//! that survives kills (`store`), and archive import (`import`). Registry pulls, layer unpack
//! and root filesystems come next (issue 13, `shared/docs/oci-images.md`).

pub mod digest;
pub mod import;
pub mod oci;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod secrets;
pub mod store;
pub mod unpack;

pub use import::{DirImport, ImportError, Options as ImportOptions, import, import_dir};
pub use reference::{Reference, ReferenceError};
pub use store::{ImageRecord, Store, StoreError};
