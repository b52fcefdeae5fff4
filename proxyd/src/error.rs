//! The crate's error for setting up a [`Proxy`](crate::Proxy). Failures to bind one listener
//! are not errors of the proxy: they are reported per listener by `Proxy::apply` as
//! [`BindFailure`](crate::BindFailure)s.

/// Why a [`Proxy`](crate::Proxy) could not be created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `Proxy::new` ran outside a tokio runtime.
    #[error("start proxyd outside a tokio runtime")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// A [`Config`](crate::Config) field is out of range.
    #[error("invalid proxyd config: {field} {reason}")]
    Config {
        /// The field, as named in `Config`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}
