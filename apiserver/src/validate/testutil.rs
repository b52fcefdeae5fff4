//! Test helpers shared by the validation modules' data-driven tests.

use super::{FieldError, validate_create, validate_update};
use serde_json::Value;

fn fields(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.field.clone()).collect()
}

/// Defaults `obj`, validates it as a create and asserts the exact list of
/// error fields (order-insensitive, duplicates counted).
pub(crate) fn check(kind: &str, mut obj: Value, expected: &[&str]) {
    crate::defaults::apply(kind, &mut obj);
    let errs = validate_create(kind, &obj);
    assert_fields(&errs, expected, &obj);
}

/// Like [`check`] for an update from `old` (both defaulted) to `new`.
pub(crate) fn check_update(kind: &str, mut old: Value, mut new: Value, expected: &[&str]) {
    crate::defaults::apply(kind, &mut old);
    crate::defaults::apply(kind, &mut new);
    let errs = validate_update(kind, &new, &old);
    assert_fields(&errs, expected, &new);
}

/// Returns the errors of a create (after defaulting) for message assertions.
pub(crate) fn errors(kind: &str, mut obj: Value) -> Vec<FieldError> {
    crate::defaults::apply(kind, &mut obj);
    validate_create(kind, &obj)
}

fn assert_fields(errs: &[FieldError], expected: &[&str], obj: &Value) {
    let mut got = fields(errs);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    got.sort();
    want.sort();
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(got, want, "errors: {msgs:#?}\nobject: {obj}");
}
