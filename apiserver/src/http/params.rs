//! Query parameters, read as the real API server reads them: the query string split as Go's
//! `url.ParseQuery` splits it, then each handler's options decoded as apimachinery's
//! parameter codec decodes them (`Convert_url_Values_To_v1_*`: an integer that does not parse
//! is a 400 with `strconv`'s text, a boolean is true unless `0` or `false`), then validated as
//! `pkg/apis/meta/v1/validation` and `pkg/apis/meta/internalversion/validation` validate them
//! (a 422 `<Kind>Options.meta.k8s.io` Invalid). Parameters no handler reads are ignored, as
//! upstream ignores them.

mod continue_token;
mod duration;

pub(crate) use continue_token::ContinueToken;

use http::HeaderMap;
use serde_json::Value;

use crate::api::{DeleteOptions, WriteOptions};
use crate::objects::{FieldValidation, PatchType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::strconv;
use crate::validate::{ErrorType, FieldError};

/// Query parameters, in order, repeated keys kept.
#[derive(Debug, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    /// `url.ParseQuery`: `&`-separated `key=value` pairs, `+` for a space; a pair with a `;`
    /// or a bad `%` escape is dropped (the API server reads `req.URL.Query()`, which ignores
    /// the error).
    pub(crate) fn parse(query: &str) -> Params {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.contains(';'))
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((unescape(key)?, unescape(value)?))
            })
            .collect();
        Params(pairs)
    }

    /// The first value of `key` (`url.Values.Get`, and what the converters read).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parameter (`Convert_Slice_string_To_bool`): false when absent.
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(go_bool)
    }

    /// An optional integer parameter (`Convert_Slice_string_To_Pointer_int64`).
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|v| strconv::parse_int(v).map_err(|e| ApiError::BadRequest(e.to_string())))
            .transpose()
    }
}

/// `QueryUnescape`: `+` is a space and `%XX` a byte; a bad escape is `None`.
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A boolean as the parameter codec reads one: only `0` and `false` (any case) are false,
/// even an empty value is true.
pub(crate) fn go_bool(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("false"))
}

/// The 422 of a malformed options object (`errors.NewInvalid(meta.k8s.io/<kind>, "", errs)`).
fn options_invalid(kind: &str, causes: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        kind_qualified: format!("{kind}.meta.k8s.io"),
        kind: kind.to_string(),
        group: "meta.k8s.io".to_string(),
        name: String::new(),
        causes,
    }
}

fn cause(error_type: ErrorType, field: &str, bad: Option<Value>, detail: &str) -> FieldError {
    FieldError {
        error_type,
        field: field.to_string(),
        bad_value: bad,
        detail: detail.to_string(),
    }
}

fn not_supported(field: &str, bad: Value, valid: &[&str]) -> FieldError {
    let quoted: Vec<String> = valid.iter().map(|v| strconv::quote(v)).collect();
    let detail = format!("supported values: {}", quoted.join(", "));
    cause(ErrorType::NotSupported, field, Some(bad), &detail)
}

/// `ValidateDryRun`: every value must be `All`.
fn dry_run(values: &[&str], causes: &mut Vec<FieldError>) -> bool {
    if values.iter().any(|v| *v != "All") {
        causes.push(not_supported(
            "dryRun",
            Value::from(values.to_vec()),
            &["All"],
        ));
    }
    !values.is_empty()
}

/// `ListOptions`, decoded and validated for one kind.
#[derive(Debug, Default)]
pub(crate) struct ListOptions {
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) watch: bool,
    pub(crate) allow_watch_bookmarks: bool,
    pub(crate) resource_version: String,
    pub(crate) resource_version_match: String,
    pub(crate) timeout_seconds: Option<i64>,
    pub(crate) limit: i64,
    pub(crate) continue_token: String,
    pub(crate) send_initial_events: Option<bool>,
}

impl ListOptions {
    /// The options of a list or watch of `kind`, in `ListResource`'s order: decode (400),
    /// validation (422), then the field labels the kind supports (400).
    ///
    /// `SetListOptionsDefaults` is left out: the defaults it sets (`sendInitialEvents` for a
    /// watch from "now") never make these checks fail, and kubicle's watch does not read them.
    pub(crate) fn from_params(
        params: &Params,
        kind: &'static str,
    ) -> Result<ListOptions, ApiError> {
        let mut options = ListOptions::decode(params)?;
        let causes = options.validate();
        if !causes.is_empty() {
            return Err(options_invalid("ListOptions", causes));
        }
        options.fields = std::mem::take(&mut options.fields).for_kind(kind)?;
        Ok(options)
    }

    /// `Convert_url_Values_To_v1_ListOptions` (field by field, so the first bad integer
    /// wins), then the selectors as `Convert_v1_ListOptions_To_internalversion_ListOptions`
    /// parses them.
    pub(crate) fn decode(params: &Params) -> Result<ListOptions, ApiError> {
        let text = |key| params.get(key).unwrap_or("").to_string();
        let timeout_seconds = params.int("timeoutSeconds")?;
        let limit = params.int("limit")?.unwrap_or(0);
        Ok(ListOptions {
            watch: params.flag("watch"),
            allow_watch_bookmarks: params.flag("allowWatchBookmarks"),
            resource_version: text("resourceVersion"),
            resource_version_match: text("resourceVersionMatch"),
            timeout_seconds,
            limit,
            continue_token: text("continue"),
            send_initial_events: params.get("sendInitialEvents").map(go_bool),
            labels: LabelSelector::parse(params.get("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(params.get("fieldSelector").unwrap_or(""))?,
        })
    }

    /// `ValidateListOptions`.
    fn validate(&self) -> Vec<FieldError> {
        let mut causes = Vec::new();
        let forbidden =
            |detail: &str| cause(ErrorType::Forbidden, "resourceVersionMatch", None, detail);
        let rvm = self.resource_version_match.as_str();
        if self.watch {
            if self.send_initial_events.is_some() && rvm != "NotOlderThan" {
                causes.push(forbidden(
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if !rvm.is_empty() {
                if self.send_initial_events.is_none() {
                    causes.push(forbidden(
                        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                    ));
                }
                if rvm != "NotOlderThan" {
                    causes.push(not_supported(
                        "resourceVersionMatch",
                        Value::from(rvm),
                        &["NotOlderThan"],
                    ));
                }
                if !self.continue_token.is_empty() {
                    causes.push(forbidden(
                        "resourceVersionMatch is forbidden when continue is provided",
                    ));
                }
            }
            return causes;
        }
        if !rvm.is_empty() {
            if self.resource_version.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !self.continue_token.is_empty() {
                causes.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if rvm != "Exact" && rvm != "NotOlderThan" {
                causes.push(not_supported(
                    "resourceVersionMatch",
                    Value::from(rvm),
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if rvm == "Exact" && self.resource_version == "0" {
                causes.push(forbidden(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if self.send_initial_events.is_some() {
            causes.push(cause(
                ErrorType::Forbidden,
                "sendInitialEvents",
                None,
                "sendInitialEvents is forbidden for list",
            ));
        }
        causes
    }
}

impl ListOptions {
    /// The version checks of a list, by who would serve it upstream: the etcd3 store
    /// (`storage.ValidateListOptions`: a continue token, an exact or paged version) answers
    /// 400s; the watch cache (`CacheDelegator.GetList`) passes `ParseResourceVersion`'s error
    /// on as it is, a 500 without a reason. A valid continue token is returned.
    pub(crate) fn check_list_revision(&self) -> Result<Option<ContinueToken>, ApiError> {
        let rv = self.resource_version.as_str();
        if !self.continue_token.is_empty() {
            let token = continue_token::decode(&self.continue_token)
                .map_err(|e| ApiError::BadRequest(format!("invalid continue token: {e}")))?;
            if !rv.is_empty() && rv != "0" {
                return Err(ApiError::BadRequest(
                    "specifying resource version is not allowed when using continue".into(),
                ));
            }
            return Ok(Some(token));
        }
        // `shouldDelegateList`, with a version given.
        let from_storage = self.resource_version_match == "Exact"
            || (self.resource_version_match.is_empty() && self.limit > 0 && rv != "0");
        match resource_version(rv) {
            Ok(_) => Ok(None),
            Err(e) if from_storage => Err(ApiError::BadRequest(format!(
                "invalid resource version: {e}"
            ))),
            Err(e) => Err(ApiError::Unknown(e)),
        }
    }
}

/// `APIObjectVersioner.ParseResourceVersion`: `""` and `"0"` are 0; anything that is not a
/// `u64` is its `resourceVersion: Invalid value` error text.
pub(crate) fn resource_version(rv: &str) -> Result<u64, String> {
    if rv.is_empty() || rv == "0" {
        return Ok(0);
    }
    strconv::parse_uint(rv).map_err(|e| {
        let bad = Some(Value::from(rv));
        cause(ErrorType::Invalid, "resourceVersion", bad, &e.to_string()).to_string()
    })
}

/// The write a request makes, for its options' name and checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Write {
    Create,
    Update,
    Patch(PatchType),
}

/// The options of a write (`CreateOptions`, `UpdateOptions`, `PatchOptions`), checked as
/// `ValidateCreateOptions`/`ValidateUpdateOptions`/`ValidatePatchOptions` check them.
/// `fieldManager` defaults to the client's User-Agent product (`kubectl`), as the
/// API server does, except for an apply, which must name one.
pub(crate) fn write_options(
    params: &Params,
    headers: &HeaderMap,
    write: Write,
) -> Result<WriteOptions, ApiError> {
    let apply = write == Write::Patch(PatchType::Apply);
    let manager = params.get("fieldManager").unwrap_or("");
    let directive = params.get("fieldValidation").unwrap_or("");
    let mut causes = Vec::new();
    if let Write::Patch(_) = write {
        if apply && manager.is_empty() {
            causes.push(cause(
                ErrorType::Required,
                "fieldManager",
                None,
                "is required for apply patch",
            ));
        }
        if !apply && params.get("force").is_some() {
            causes.push(cause(
                ErrorType::Forbidden,
                "force",
                None,
                "may not be specified for non-apply patch",
            ));
        }
    }
    field_manager(manager, &mut causes);
    let dry_run = dry_run(&params.all("dryRun"), &mut causes);
    let field_validation = FieldValidation::from_directive(directive);
    if field_validation.is_none() {
        let valid = ["", "Ignore", "Strict", "Warn"];
        causes.push(not_supported(
            "fieldValidation",
            Value::from(directive),
            &valid,
        ));
    }
    if !causes.is_empty() {
        let kind = match write {
            Write::Create => "CreateOptions",
            Write::Update => "UpdateOptions",
            Write::Patch(_) => "PatchOptions",
        };
        return Err(options_invalid(kind, causes));
    }
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    Ok(WriteOptions {
        dry_run,
        field_validation: field_validation.unwrap_or_default(),
        field_manager: match manager {
            "" if !apply => crate::managed::default_manager(user_agent),
            m => m.to_string(),
        },
        force: params.flag("force"),
    })
}

/// `ValidateFieldManager`: at most 128 bytes, printable characters only.
fn field_manager(manager: &str, causes: &mut Vec<FieldError>) {
    if manager.len() > 128 {
        causes.push(cause(
            ErrorType::TooLong,
            "fieldManager",
            None,
            "may not be more than 128 bytes",
        ));
    }
    for (i, c) in manager.char_indices() {
        if !strconv::is_print(c) {
            // `%#U` of a rune that does not print: `U+0007`.
            let detail = format!("invalid character U+{:04X} (at position {i})", c as u32);
            let bad = Some(Value::from(manager));
            causes.push(cause(ErrorType::Invalid, "fieldManager", bad, &detail));
        }
    }
}

/// The options of a delete: the body's `DeleteOptions` if it has one, else the query's
/// (`DeleteResource` reads one or the other), checked as `ValidateDeleteOptions` does.
pub(crate) fn delete_options(params: &Params, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions as Decoded;
    let decoded: Decoded = if body.iter().all(u8::is_ascii_whitespace) {
        Decoded {
            grace_period_seconds: params.int("gracePeriodSeconds")?,
            orphan_dependents: params.get("orphanDependents").map(go_bool),
            propagation_policy: params.get("propagationPolicy").map(str::to_string),
            dry_run: params.get("dryRun").map(|_| {
                params
                    .all("dryRun")
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            }),
            ..Decoded::default()
        }
    } else {
        let mut json = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(&mut json)
            .map_err(|e| ApiError::BadRequest(format!("invalid DeleteOptions: {e}")))?
    };
    let mut causes = Vec::new();
    let policy = decoded.propagation_policy.as_deref();
    if decoded.orphan_dependents.is_some() && policy.is_some() {
        let detail = "orphanDependents and deletionPropagation cannot be both set";
        causes.push(cause(
            ErrorType::Invalid,
            "propagationPolicy",
            policy.map(Value::from),
            detail,
        ));
    }
    if let Some(p) = policy.filter(|p| !matches!(*p, "Foreground" | "Background" | "Orphan")) {
        let valid = ["Foreground", "Background", "Orphan", "nil"];
        causes.push(not_supported("propagationPolicy", Value::from(p), &valid));
    }
    let dry_values = decoded.dry_run.clone().unwrap_or_default();
    let dry = dry_run(
        &dry_values.iter().map(String::as_str).collect::<Vec<_>>(),
        &mut causes,
    );
    if !causes.is_empty() {
        return Err(options_invalid("DeleteOptions", causes));
    }
    let orphan = decoded
        .orphan_dependents
        .map(|o| if o { "Orphan" } else { "Background" });
    let preconditions = decoded.preconditions.unwrap_or_default();
    Ok(DeleteOptions {
        grace_period_seconds: decoded.grace_period_seconds,
        precondition_uid: preconditions.uid,
        precondition_resource_version: preconditions.resource_version,
        dry_run: dry,
        propagation_policy: policy.or(orphan).map(str::to_string),
    })
}

/// `includeObject` of a Table request, checked as `ValidateTableOptions` does (a 400 from
/// `optionsForTransform`).
pub(crate) fn include_object(params: &Params) -> Result<Option<&str>, ApiError> {
    match params.get("includeObject") {
        None | Some("") => Ok(None),
        Some(v @ ("Metadata" | "None" | "Object")) => Ok(Some(v)),
        Some(v) => {
            let bad = Some(Value::from(v));
            let detail = "must be 'Metadata', 'Object', 'None', or empty";
            let error = cause(ErrorType::Invalid, "includeObject", bad, detail);
            Err(ApiError::BadRequest(format!(
                "Unable to convert to Table as requested: {error}"
            )))
        }
    }
}

/// `?timeout=` of a request that is not long-running (`WithRequestDeadline`): it must be a
/// Go duration. kubicle's requests finish well within any deadline, so only its form is
/// checked.
pub(crate) fn request_timeout(params: &Params) -> Result<(), ApiError> {
    match params.get("timeout") {
        None | Some("") => Ok(()),
        Some(v) => duration::parse(v).map(|_| ()).map_err(|e| {
            ApiError::BadRequest(format!(
                "invalid timeout specified in the request URL - {e}"
            ))
        }),
    }
}

/// How long a watch runs: `timeoutSeconds` seconds (computed in Go's wrapping nanoseconds,
/// so a negative or overflowing value ends it at once), or, unset or 0, the API server's
/// minimum request timeout (30 min) stretched by `jitter` (0 to 1), as `ListResource` does.
pub(crate) fn watch_timeout(timeout_seconds: Option<i64>, jitter: f64) -> std::time::Duration {
    const MIN_REQUEST_TIMEOUT: f64 = 1800.0;
    let nanos = timeout_seconds.unwrap_or(0).wrapping_mul(1_000_000_000);
    match u64::try_from(nanos) {
        Ok(0) => {
            std::time::Duration::from_secs_f64(MIN_REQUEST_TIMEOUT * (jitter.clamp(0.0, 1.0) + 1.0))
        }
        Ok(n) => std::time::Duration::from_nanos(n),
        Err(_) => std::time::Duration::ZERO,
    }
}

#[cfg(test)]
mod tests;
