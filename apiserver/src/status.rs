//! Every API error, and its one mapping to a Kubernetes `Status` response.
//!
//! Handlers return `Result<_, ApiError>` and never build error JSON themselves. The shapes follow
//! apimachinery's `pkg/api/errors/errors.go` constructors, so kubectl prints them as it prints the
//! real server's (`Error from server (NotFound): pods "x" not found`, `The Pod "x" is invalid: ...`).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use crate::resources::Resource;
use crate::validate::FieldError;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The object does not exist.
    #[error("{qualified} \"{name}\" not found")]
    NotFound {
        /// `<plural>[.<group>]`.
        qualified: String,
        /// Group of the type.
        group: String,
        /// Plural name of the type.
        plural: String,
        /// Name of the object.
        name: String,
    },
    /// A create found the name taken.
    #[error("{qualified} \"{name}\" already exists")]
    AlreadyExists {
        /// `<plural>[.<group>]`.
        qualified: String,
        /// Group of the type.
        group: String,
        /// Plural name of the type.
        plural: String,
        /// Name of the object.
        name: String,
    },
    /// An update carried a stale `resourceVersion`, or another conflict.
    #[error("Operation cannot be fulfilled on {qualified} \"{name}\": {reason}")]
    Conflict {
        /// `<plural>[.<group>]`.
        qualified: String,
        /// Group of the type.
        group: String,
        /// Plural name of the type.
        plural: String,
        /// Name of the object.
        name: String,
        /// Why, in apimachinery's words.
        reason: String,
    },
    /// A server-side apply would change fields other managers own.
    #[error("{message}")]
    ApplyConflict {
        /// `Apply failed with N conflict(s): ...`.
        message: String,
        /// `(field, message)` per conflict.
        causes: Vec<(String, String)>,
    },
    /// Validation failed: one cause per field.
    #[error("{kind_qualified} \"{name}\" is invalid: {}", join_causes(.causes))]
    Invalid {
        /// `Kind[.group]`, e.g. `Deployment.apps`.
        kind_qualified: String,
        /// Kind of the object.
        kind: String,
        /// Group of the type.
        group: String,
        /// Name of the object.
        name: String,
        /// The field errors.
        causes: Vec<FieldError>,
    },
    /// The request cannot be understood (malformed body, mismatched names).
    #[error("{0}")]
    BadRequest(String),
    /// The token is missing or wrong.
    #[error("Unauthorized")]
    Unauthorized,
    /// The URL names no resource the server serves.
    #[error("the server could not find the requested resource")]
    UnknownResource,
    /// The verb is not allowed on this path.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// The requested watch start has been compacted away (the watch cache's words,
    /// `cacher/watch_cache_history.go`).
    #[error("too old resource version: {requested} ({compacted})")]
    Expired {
        /// The revision the client asked for.
        requested: u64,
        /// The compacted revision: the oldest a watch may start from.
        compacted: u64,
    },
    /// A list at an exact revision the store compacted away (etcd3's `expired`,
    /// `storage/etcd3/errors.go`).
    #[error("The resourceVersion for the provided list is too old.")]
    ListExpired,
    /// The body's content type cannot be decoded.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml ({0})"
    )]
    UnsupportedMediaType(String),
    /// The body is larger than the server takes.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The object is being deleted or the namespace is terminating.
    #[error("{0}")]
    Forbidden(String),
    /// The server failed (storage error and the like).
    #[error("{0}")]
    Internal(String),
    /// An error upstream's handlers pass on without making it a `Status` (a storage error,
    /// a version that does not parse where the watch cache parses it): 500 with no reason,
    /// as `responsewriters.ErrorToAPIStatus` answers it.
    #[error("{0}")]
    Unknown(String),
    /// The store refuses writes other than deletes: the live data passed the quota, or the
    /// disk is full. etcd's error, which kube-apiserver passes on as a 500 without a reason.
    #[error("etcdserver: mvcc: database space exceeded")]
    SpaceExceeded,
    /// The store stopped accepting writes (its files were removed or replaced under it).
    #[error("{0}")]
    Unavailable(String),
}

fn join_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl From<crate::managed::ApplyError> for ApiError {
    fn from(e: crate::managed::ApplyError) -> Self {
        use crate::managed::ApplyError;
        match e {
            ApplyError::Conflicts(conflicts) => ApiError::ApplyConflict {
                message: crate::managed::conflict_message(&conflicts),
                causes: conflicts
                    .iter()
                    .map(|c| (c.field.clone(), c.cause_message()))
                    .collect(),
            },
            ApplyError::InvalidConfig { .. } => ApiError::Internal(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl ApiError {
    /// 404 for an object of `resource`.
    pub fn not_found(resource: &Resource, name: &str) -> Self {
        ApiError::NotFound {
            qualified: resource.qualified(),
            group: resource.group.to_string(),
            plural: resource.plural.to_string(),
            name: name.to_string(),
        }
    }

    /// 409 AlreadyExists for an object of `resource`.
    pub fn already_exists(resource: &Resource, name: &str) -> Self {
        ApiError::AlreadyExists {
            qualified: resource.qualified(),
            group: resource.group.to_string(),
            plural: resource.plural.to_string(),
            name: name.to_string(),
        }
    }

    /// 409 Conflict for a stale resourceVersion.
    pub fn conflict(resource: &Resource, name: &str) -> Self {
        ApiError::Conflict {
            qualified: resource.qualified(),
            group: resource.group.to_string(),
            plural: resource.plural.to_string(),
            name: name.to_string(),
            reason: "the object has been modified; please apply your changes to the latest version and try again".to_string(),
        }
    }

    /// 422 Invalid with the given causes.
    pub fn invalid(resource: &Resource, name: &str, causes: Vec<FieldError>) -> Self {
        let kind_qualified = if resource.group.is_empty() {
            resource.kind.to_string()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        ApiError::Invalid {
            kind_qualified,
            kind: resource.kind.to_string(),
            group: resource.group.to_string(),
            name: name.to_string(),
            causes,
        }
    }

    /// The HTTP code of the error.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownResource => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Expired { .. } | ApiError::ListExpired => StatusCode::GONE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) | ApiError::Unknown(_) | ApiError::SpaceExceeded => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `reason` field of the Status (empty: `StatusReasonUnknown`, left out).
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownResource => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::Expired { .. } | ApiError::ListExpired => "Expired",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Internal(_) => "InternalError",
            ApiError::Unknown(_) | ApiError::SpaceExceeded => "",
            ApiError::Unavailable(_) => "ServiceUnavailable",
        }
    }

    /// The full `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        if self.reason().is_empty() {
            // `StatusReasonUnknown` is "", which the omitempty field leaves out.
            if let Some(map) = status.as_object_mut() {
                map.remove("reason");
            }
        }
        let details = match self {
            ApiError::NotFound {
                group,
                plural,
                name,
                ..
            }
            | ApiError::AlreadyExists {
                group,
                plural,
                name,
                ..
            }
            | ApiError::Conflict {
                group,
                plural,
                name,
                ..
            } => Some(json!({"name": name, "group": group, "kind": plural})),
            ApiError::Invalid {
                kind,
                group,
                name,
                causes,
                ..
            } => Some(json!({
                "name": name,
                "group": group,
                "kind": kind,
                "causes": causes.iter().map(|c| json!({
                    "reason": c.error_type.reason(),
                    "message": c.body(),
                    "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            ApiError::ApplyConflict { causes, .. } => Some(json!({
                "causes": causes.iter().map(|(field, message)| json!({
                    "reason": "FieldManagerConflict",
                    "message": message,
                    "field": field,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let (Some(details), Some(map)) = (details, status.as_object_mut()) {
            map.insert("details".into(), details);
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = self.to_status().to_string();
        (
            self.code(),
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;
    use crate::validate::ErrorType;

    #[test]
    fn not_found_matches_apimachinery() {
        let deploy = lookup("apps", "v1", "deployments").expect("deployments");
        let status = ApiError::not_found(deploy, "web").to_status();
        assert_eq!(status["message"], "deployments.apps \"web\" not found");
        assert_eq!(status["details"]["kind"], "deployments");
        assert_eq!(status["code"], 404);
    }

    #[test]
    fn store_errors_match_upstream() {
        let expired = ApiError::Expired {
            requested: 5,
            compacted: 12,
        }
        .to_status();
        assert_eq!(expired["message"], "too old resource version: 5 (12)");
        assert_eq!(
            (expired["code"].as_u64(), expired["reason"].as_str()),
            (Some(410), Some("Expired"))
        );
        let full = ApiError::SpaceExceeded.to_status();
        assert_eq!(full["message"], "etcdserver: mvcc: database space exceeded");
        assert_eq!(full["code"], 500);
        assert!(full.get("reason").is_none(), "{full}");
        let unavailable = ApiError::Unavailable("x".into()).to_status();
        assert_eq!(
            (unavailable["code"].as_u64(), unavailable["reason"].as_str()),
            (Some(503), Some("ServiceUnavailable"))
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let deploy = lookup("apps", "v1", "deployments").expect("deployments");
        let cause = |field: &str| FieldError {
            error_type: ErrorType::Required,
            field: field.to_string(),
            bad_value: None,
            detail: String::new(),
        };
        let one = ApiError::invalid(deploy, "web", vec![cause("spec.a")]).to_status();
        assert_eq!(
            one["message"],
            "Deployment.apps \"web\" is invalid: spec.a: Required value"
        );
        assert_eq!(one["details"]["causes"][0]["reason"], "FieldValueRequired");
        let two = ApiError::invalid(deploy, "web", vec![cause("a"), cause("b")]).to_status();
        assert_eq!(
            two["message"],
            "Deployment.apps \"web\" is invalid: [a: Required value, b: Required value]"
        );
    }
}
