//! `pods/log`: the query of `kubectl logs` validated as upstream's `ValidatePodLogOptions`
//! (`pkg/apis/core/validation`), then the node's log stream as `text/plain`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::params::Params;
use crate::api::Api;
use crate::status::ApiError;
use crate::streams::LogOptions;
use crate::validate::{ErrorType, FieldError};

/// Streams the log of one container of `pod`.
pub(crate) fn respond(api: &Api, pod: &Value, params: &Params) -> Result<Response, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let options = options(params, name, jiff::Timestamp::now())?;
    let Some(streams) = api.node_streams() else {
        return Err(ApiError::BadRequest(format!(
            "pod {name} log: no pod runtime runs on this node (kubicle up without root, or --no-pods)"
        )));
    };
    let body = streams.log(pod, &options)?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

/// The options of a log request at `now`. An unparsable number is a 400, as the query
/// decoder answers; a value out of range is a 422 `PodLogOptions` Invalid.
fn options(params: &Params, name: &str, now: jiff::Timestamp) -> Result<LogOptions, ApiError> {
    // `Convert_Slice_string_To_Pointer_int64`: `strconv.ParseInt`'s error as a 400.
    let number = |key: &str| params.int(key);
    let (tail_lines, limit_bytes, since_seconds) = (
        number("tailLines")?,
        number("limitBytes")?,
        number("sinceSeconds")?,
    );
    let since_time = params
        .get("sinceTime")
        .map(|v| {
            v.parse::<jiff::Timestamp>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "sinceTime: invalid value {v:?}: not an RFC 3339 time"
                ))
            })
        })
        .transpose()?;
    let invalid = |field: &str, value: i64, detail: &str| FieldError {
        error_type: ErrorType::Invalid,
        field: field.into(),
        bad_value: Some(json!(value)),
        detail: detail.into(),
    };
    let mut causes = Vec::new();
    if let Some(n) = tail_lines.filter(|n| *n < 0) {
        causes.push(invalid(
            "tailLines",
            n,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = limit_bytes.filter(|n| *n < 1) {
        causes.push(invalid("limitBytes", n, "must be greater than 0"));
    }
    match (since_seconds, since_time) {
        (Some(_), Some(_)) => causes.push(FieldError {
            error_type: ErrorType::Forbidden,
            field: String::new(),
            bad_value: None,
            detail: "at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
        }),
        (Some(n), None) if n < 1 => {
            causes.push(invalid("sinceSeconds", n, "must be greater than 0"))
        }
        _ => {}
    }
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            kind_qualified: "PodLogOptions".into(),
            kind: "PodLogOptions".into(),
            group: String::new(),
            name: name.into(),
            causes,
        });
    }
    let since = match (since_seconds, since_time) {
        (Some(seconds), _) => now
            .checked_sub(jiff::SignedDuration::from_secs(seconds))
            .ok(),
        (None, time) => time,
    };
    Ok(LogOptions {
        container: params.get("container").map(str::to_string),
        follow: params.flag("follow"),
        previous: params.flag("previous"),
        tail_lines: tail_lines.and_then(|n| usize::try_from(n).ok()),
        limit_bytes: limit_bytes.and_then(|n| usize::try_from(n).ok()),
        since,
        timestamps: params.flag("timestamps"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &[(&str, &str)]) -> Result<LogOptions, ApiError> {
        let params = Params(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        options(
            &params,
            "web",
            "2026-11-26T12:00:00Z".parse().expect("time"),
        )
    }

    #[test]
    fn since_seconds_and_time_become_one_instant() {
        let now: jiff::Timestamp = "2026-11-26T12:00:00Z".parse().expect("time");
        let options = parse(&[("sinceSeconds", "60"), ("timestamps", "true")]).expect("valid");
        assert_eq!(
            options.since,
            Some(now - jiff::SignedDuration::from_secs(60))
        );
        assert!(options.timestamps);
        let options = parse(&[("sinceTime", "2026-11-26T11:00:00Z")]).expect("valid");
        assert_eq!(options.since, "2026-11-26T11:00:00Z".parse().ok());
        assert_eq!(parse(&[]).expect("valid").since, None);
    }

    #[test]
    fn out_of_range_values_are_invalid_as_upstream_says() {
        let message = |query: &[(&str, &str)]| match parse(query) {
            Err(e) => e.to_string(),
            Ok(o) => format!("accepted: {o:?}"),
        };
        assert_eq!(
            message(&[("tailLines", "-1")]),
            "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            message(&[("sinceSeconds", "0")]),
            "PodLogOptions \"web\" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0"
        );
        assert!(
            message(&[("sinceSeconds", "5"), ("sinceTime", "2026-11-26T11:00:00Z")])
                .contains("at most one of `sinceTime` or `sinceSeconds` may be specified")
        );
        assert!(matches!(
            parse(&[("tailLines", "x")]),
            Err(ApiError::BadRequest(_))
        ));
    }
}
