//! Strategic merge patch (`application/strategic-merge-patch+json`) for built-in kinds.
//!
//! A port of the server-side half of apimachinery's `pkg/util/strategicpatch/patch.go`
//! (`StrategicMergeMapPatch`, kubernetes v1.32) to `serde_json::Value`: maps merge
//! recursively, `null` deletes a key, and lists merge or are replaced according to the
//! `patchStrategy`/`patchMergeKey` struct tags of the Go API types. Those tags are kept here
//! as a compact static table per kind instead of reflection. The directives `$patch`
//! (`replace`/`delete`), `$setElementOrder/<list>`, `$retainKeys` and
//! `$deleteFromPrimitiveList/<list>` are interpreted and never leak into the result.
//!
//! Deliberate differences from Go, all on input the Go code rejects, panics on, or only
//! tolerates because its output is decoded into typed structs afterwards:
//! - values copied verbatim from the patch (added keys, appended list elements, replaced
//!   lists) go through `sanitize`, so `null`s and directive keys never reach the result;
//! - a `null` list element is an error instead of a Go panic, and so is a list of lists;
//! - an empty or `null` list under `$setElementOrder` is accepted rather than an error;
//! - `$deleteFromPrimitiveList/<list>` must be a list of primitives.

use serde_json::{Map, Value};

/// Deepest nesting of maps and lists accepted in a patch; it bounds every recursion below.
const MAX_DEPTH: usize = 100;
const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM_LIST: &str = "$deleteFromPrimitiveList";

/// Errors returned by [`apply`]; after an error the patch must be rejected as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The patch or the original document is not a JSON object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// The patch nests maps and lists deeper than the supported limit.
    #[error("patch is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A `$patch` directive has a value other than `replace` or `delete`.
    #[error("unknown patch type {0}")]
    UnknownDirective(String),
    /// `{"$patch": "merge"}` as a list element, which apimachinery does not support.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeListDirective,
    /// A list element (abbreviated JSON, third) of a field (first) lacks the merge key
    /// (second) that the field's `patchMergeKey` tag declares.
    #[error("element {2} of {0} does not contain declared merge key {1}")]
    MissingMergeKey(String, &'static str, String),
    /// A value in a field (first) should have one JSON type (second) but has another (third).
    #[error("expected a {1} in {0}, but received a {2}")]
    WrongType(String, &'static str, &'static str),
    /// A list mixes element types or contains `null`.
    #[error("list element types are not identical in {0}")]
    MixedElementTypes(String),
    /// A list contains lists, which strategic merge patch cannot merge.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A list of maps is merged but its field declares no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKey(String),
    /// `$retainKeys` is not a list, or the patch sets a key it does not list.
    #[error("invalid patch format of retainKeys")]
    InvalidRetainKeys,
    /// A `$setElementOrder/...` key or value is malformed.
    #[error("invalid patch format of setElementOrder list")]
    InvalidSetElementOrder,
    /// A `$deleteFromPrimitiveList/...` key or value is malformed.
    #[error("invalid patch format of primitive list")]
    InvalidPrimitiveList,
    /// The patch list orders its elements differently from its `$setElementOrder` list.
    #[error("the order in patch list {0} doesn't match its $setElementOrder list")]
    OrderMismatch(String),
}

type Result<T> = std::result::Result<T, Error>;

/// Applies a strategic merge patch to `original` for an object of the given kind
/// (e.g. "Pod", "Deployment", "Service", "ReplicaSet", "Namespace", "ConfigMap", "Secret",
/// "Endpoints", "EndpointSlice", "NetworkPolicy", "Event", "Node", "Scale").
/// Unknown kinds: merge maps recursively, replace lists atomically (what apimachinery does for
/// a struct whose fields carry no patch strategy).
///
/// `original` may be `null` (treated as `{}`); `patch` must be an object nested at most 100
/// levels deep.
pub fn apply(kind: &str, original: &Value, patch: &Value) -> Result<Value> {
    apply_with(schema_for(kind), original, patch)
}

fn apply_with(schema: Fields, original: &Value, patch: &Value) -> Result<Value> {
    let Value::Object(patch) = patch else {
        return Err(Error::NotAnObject("patch"));
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err(Error::NotAnObject("original")),
    };
    if too_deep(patch) {
        return Err(Error::TooDeep);
    }
    merge_map(original, patch.clone(), schema).map(Value::Object)
}

/// Iterative (so itself safe on any input) check that keeps the recursive merge shallow:
/// every recursion below descends only where the patch does.
fn too_deep(patch: &Map<String, Value>) -> bool {
    let mut stack: Vec<(&Value, usize)> = patch.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Object(_) | Value::Array(_) if depth > MAX_DEPTH => return true,
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            Value::Array(list) => stack.extend(list.iter().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    false
}

// ---------------------------------------------------------------------------------------
// Merging (patch.go: mergeMap, mergeSlice and helpers)
// ---------------------------------------------------------------------------------------

/// patch.go `mergeMap` with `MergeParallelList` and `IgnoreUnmatchedNulls` set, as the
/// server uses it.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Fields,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        // handleDirectiveInMergeMap: `merge` is a struct-tag strategy only, so Go rejects it.
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(sanitize_map(patch))
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_directive(directive)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, schema)?;
    // Go visits keys in random map order; deletion lists go last here so that they act on
    // the merged list, as they do when `$setElementOrder` already merged it.
    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key.starts_with(DELETE_FROM_LIST) {
            let list = list_name(&key, DELETE_FROM_LIST, Error::InvalidPrimitiveList)?;
            deletions.push((list.to_owned(), value));
        } else {
            merge_field(&mut original, key, value, schema, false)?;
        }
    }
    for (key, value) in deletions {
        if !value.is_array() {
            return Err(Error::InvalidPrimitiveList);
        }
        merge_field(&mut original, key, value, schema, true)?;
    }
    Ok(original)
}

/// One iteration of the loop in `mergeMap`.
fn merge_field(
    original: &mut Map<String, Value>,
    key: String,
    value: Value,
    schema: Fields,
    delete_list: bool,
) -> Result<()> {
    if value.is_null() {
        // retain instead of remove: keeps key order with serde_json's `preserve_order`.
        original.retain(|k, _| *k != key);
        return Ok(());
    }
    let Some(slot) = original.get_mut(&key) else {
        // A deletion list for an absent list adds nothing.
        if let Some(value) = Some(value).filter(|_| !delete_list).and_then(sanitize) {
            original.insert(key, value);
        }
        return Ok(());
    };
    let field = lookup(schema, &key);
    let merged = match (std::mem::take(slot), value) {
        (Value::Object(o), Value::Object(p)) if !delete_list => {
            Some(Value::Object(if field.has_strategy("replace") {
                sanitize_map(p)
            } else {
                merge_map(o, p, field.sub)?
            }))
        }
        (Value::Array(o), Value::Array(p)) if delete_list || field.has_strategy("merge") => {
            Some(Value::Array(merge_list(o, p, &field, &key, delete_list)?))
        }
        // A deletion list never replaces what it does not apply to.
        (o, _) if delete_list => Some(o),
        // Different types, primitives, or a list without merge strategy: take the patch.
        (_, p) => sanitize(p),
    };
    match merged {
        Some(value) => *slot = value,
        None => original.retain(|k, _| *k != key),
    }
    Ok(())
}

/// patch.go `mergeSlice` (lists whose field has strategy `merge`, and deletion lists).
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &Field,
    name: &str,
    delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let is_map = element_type(name, &original, &patch)? == Some(Ty::Map);
    let mode = Mode {
        key: field.key,
        field: name,
    };
    if delete_list {
        if is_map {
            return Err(Error::InvalidPrimitiveList);
        }
        return Ok(original
            .into_iter()
            .filter(|v| !patch.contains(v))
            .collect());
    }
    if is_map == field.key.is_empty() {
        // Go: "cannot merge lists without merge key", or a failed map type assertion.
        return Err(match is_map {
            true => Error::NoMergeKey(name.to_owned()),
            false => mode.wrong_type(original.iter().chain(&patch).next()),
        });
    }
    let (original, patch) = match is_map {
        true => split_special_elements(original, patch, &mode)?,
        false => (original, patch),
    };
    let server_ids = mode.ids(&original)?;
    let patch_ids = mode.ids(&patch)?;
    let merged = if is_map {
        merge_elements(original, patch, &mode, field.sub)?
    } else {
        // Union without duplicates; the order is settled by `normalize` below.
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.into_iter().chain(patch) {
            if !merged.contains(&v) {
                merged.push(v);
            }
        }
        merged
    };
    let (patch_items, server_only) = mode.partition(merged, &patch_ids)?;
    Ok(mode.normalize(patch_items, server_only, &patch_ids, &server_ids))
}

/// patch.go `mergeSliceWithSpecialElements`: applies `{"$patch": ...}` list elements and
/// returns the original list and the patch list without them.
fn split_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    mode: &Mode,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Some(directive) = element.get(DIRECTIVE) else {
            rest.push(element);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(key_value) = element.get(mode.key) else {
                    return Err(mode.missing_key(&element));
                };
                // "Delete operation will delete all entries in the list that match".
                original.retain(|o| o.get(mode.key) != Some(key_value));
            }
            // Keep scanning: other `$patch` elements must still be dropped or rejected.
            Some("replace") => replace = true,
            Some("merge") => return Err(Error::MergeListDirective),
            _ => return Err(unknown_directive(directive)),
        }
    }
    if replace {
        return Ok((sanitize_list(rest), Vec::new()));
    }
    Ok((original, rest))
}

/// patch.go `mergeSliceWithoutSpecialElements`: merges each patch element into the
/// original element with the same merge key value, or appends it.
fn merge_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    mode: &Mode,
    sub: Fields,
) -> Result<Vec<Value>> {
    for element in patch {
        let Value::Object(element) = element else {
            return Err(mode.wrong_type(Some(&element)));
        };
        let key_value = element.get(mode.key);
        match original.iter_mut().find(|o| o.get(mode.key) == key_value) {
            Some(slot) => {
                let Value::Object(o) = std::mem::take(slot) else {
                    return Err(mode.wrong_type(Some(slot)));
                };
                *slot = Value::Object(merge_map(o, element, sub)?);
            }
            None => original.push(Value::Object(sanitize_map(element))),
        }
    }
    Ok(original)
}

/// patch.go `applyRetainKeysDirective`: drops original keys missing from `$retainKeys`.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(Error::InvalidRetainKeys);
    };
    let retained = |key: &str| retain.iter().any(|r| r.as_str() == Some(key));
    let listed = patch.iter().all(|(k, v)| {
        v.is_null() || k.starts_with(DELETE_FROM_LIST) || k.starts_with(SET_ORDER) || retained(k)
    });
    if !listed {
        return Err(Error::InvalidRetainKeys);
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// patch.go `mergePatchIntoOriginal`: merges every list that has a `$setElementOrder`
/// directive and orders it; precedence is `$setElementOrder` > patch order > live order.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Fields,
) -> Result<()> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let Some(Value::Array(order)) = patch.remove(&directive) else {
            return Err(Error::InvalidSetElementOrder);
        };
        let name = list_name(&directive, SET_ORDER, Error::InvalidSetElementOrder)?.to_owned();
        let field = lookup(schema, &name);
        let mode = Mode {
            key: field.key,
            field: &name,
        };
        let patch_list = match patch.remove(&name) {
            None => None,
            Some(Value::Array(list)) => Some(list),
            Some(other) => return Err(mode.wrong_list(&other)),
        };
        let original_list = match original.get_mut(&name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) => Some(std::mem::take(list)),
            Some(other) => return Err(mode.wrong_list(other)),
        };
        let (orig, pat) = (
            original_list.as_deref().unwrap_or(&[]),
            patch_list.as_deref().unwrap_or(&[]),
        );
        validate_order(pat, &order, &mode)?;
        let is_map = element_type(&name, orig, pat)? == Some(Ty::Map);
        let mut server_ids = mode.ids(orig)?;
        let merges = field.has_strategy("merge");
        if merges && is_map && !orig.is_empty() && !pat.is_empty() {
            replay_slice_aliasing(&mut server_ids, pat, &mode);
        }
        let merged = match (original_list, patch_list) {
            (None, None) => continue,
            (Some(o), None) => o,
            (None, Some(p)) => sanitize_list(p),
            (Some(o), Some(p)) if merges => merge_list(o, p, &field, &name, false)?,
            (Some(_), Some(p)) => sanitize_list(p),
        };
        if is_map && field.key.is_empty() && !merged.is_empty() {
            return Err(Error::NoMergeKey(name));
        }
        let order_ids = mode.ids(&order)?;
        let (patch_items, server_only) = mode.partition(merged, &order_ids)?;
        let ordered = mode.normalize(patch_items, server_only, &order_ids, &server_ids);
        original.insert(name, Value::Array(ordered));
    }
    Ok(())
}

/// Reproduces a Go slice-aliasing effect that apimachinery's own tests pin down ("add map
/// and delete map from merging list"): in `mergePatchIntoOriginal` the live list used as the
/// server order shares its backing array with the list `mergeSlice` edits, so deletions
/// shift it in place (leaving the last slot stale) and appended patch elements land in the
/// freed slots. Replayed here on the merge key values only.
fn replay_slice_aliasing(backing: &mut [Id], patch: &[Value], mode: &Mode) {
    let mut current: Vec<Id> = backing.to_vec();
    let mut replace = false;
    for element in patch {
        match element.get(DIRECTIVE).and_then(Value::as_str) {
            Some("delete") => {
                let id = mode.id(element);
                while let Some(i) = current.iter().position(|c| c.as_ref() == id) {
                    if let Some(window) = backing.get_mut(i..current.len()) {
                        window.rotate_left(1);
                        if let [.., prev, last] = window {
                            *last = prev.clone();
                        }
                    }
                    current.remove(i);
                }
            }
            Some("replace") => replace = true,
            _ => {}
        }
    }
    if replace {
        return; // Go continues with a fresh slice
    }
    for element in patch.iter().filter(|e| e.get(DIRECTIVE).is_none()) {
        let id = mode.id(element).cloned();
        if !current.contains(&id) {
            if let Some(slot) = backing.get_mut(current.len()) {
                *slot = id.clone();
            }
            current.push(id);
        }
    }
}

/// patch.go `validatePatchWithSetOrderList`: non-deleted patch elements must appear in the
/// `$setElementOrder` list in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], mode: &Mode) -> Result<()> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(patch.len());
    for element in patch {
        if !mode.key.is_empty() {
            if !element.is_object() {
                return Err(mode.wrong_type(Some(element)));
            }
            if element.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        items.push(element);
    }
    let (mut p, mut o) = (0, 0);
    while let (Some(item), Some(wanted)) = (items.get(p), order.get(o)) {
        if item.get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if mode.key.is_empty() {
            p += usize::from(*item == wanted);
        } else {
            mode.check(item)?;
            mode.check(wanted)?;
            p += usize::from(item.get(mode.key) == wanted.get(mode.key));
        }
        o += 1;
    }
    if p < items.len() {
        return Err(Error::OrderMismatch(mode.field.to_owned()));
    }
    Ok(())
}

/// patch.go `sliceElementType`: the common element type of two lists, if they have any.
fn element_type(name: &str, a: &[Value], b: &[Value]) -> Result<Option<Ty>> {
    let mut seen = None;
    for value in a.iter().chain(b) {
        let ty = match value {
            Value::Bool(_) => Ty::Bool,
            Value::Number(n) if n.is_f64() => Ty::Float,
            Value::Number(_) => Ty::Int,
            Value::String(_) => Ty::Str,
            Value::Object(_) => Ty::Map,
            Value::Array(_) => return Err(Error::ListOfLists),
            // Go's reflect.TypeOf(nil) makes sliceElementType panic; reject instead.
            Value::Null => return Err(Error::MixedElementTypes(name.to_owned())),
        };
        if seen.is_some_and(|s| s != ty) {
            return Err(Error::MixedElementTypes(name.to_owned()));
        }
        seen = Some(ty);
    }
    Ok(seen)
}

/// Go types after decoding with apimachinery's util/json: integers and floats differ.
#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Map,
}

/// The identity of a list element for ordering: its merge key value, or itself for
/// primitives (patch.go `index`); `null` and a missing key are both Go's `nil`.
type Id = Option<Value>;

/// How elements of one list are identified: by `key` for lists of maps, whole otherwise.
struct Mode<'a> {
    key: &'static str,
    field: &'a str,
}

impl Mode<'_> {
    fn id<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        if self.key.is_empty() {
            Some(v)
        } else {
            v.get(self.key).filter(|k| !k.is_null())
        }
    }

    /// patch.go `validateMergeKeyInLists` for one element.
    fn check(&self, v: &Value) -> Result<()> {
        match v {
            _ if self.key.is_empty() => Ok(()),
            Value::Object(m) if m.contains_key(self.key) => Ok(()),
            Value::Object(_) => Err(self.missing_key(v)),
            _ => Err(self.wrong_type(Some(v))),
        }
    }

    fn ids(&self, list: &[Value]) -> Result<Vec<Id>> {
        list.iter()
            .map(|v| self.check(v).map(|()| self.id(v).cloned()))
            .collect()
    }

    fn position(&self, order: &[Id], v: &Value) -> Option<usize> {
        let id = self.id(v);
        order.iter().position(|o| o.as_ref() == id)
    }

    /// patch.go `partitionMapsByPresentInList`/`partitionPrimitivesByPresentInList`.
    fn partition(&self, merged: Vec<Value>, by: &[Id]) -> Result<(Vec<Value>, Vec<Value>)> {
        let (mut inside, mut outside) = (Vec::new(), Vec::new());
        for v in merged {
            self.check(&v)?;
            if self.position(by, &v).is_some() {
                inside.push(v);
            } else {
                outside.push(v);
            }
        }
        Ok((inside, outside))
    }

    /// patch.go `normalizeElementOrder`: sorts patch items by `patch_order` and server-only
    /// items by `server_order`, then interleaves them (`mergeSortedSlice`): a server-only
    /// item goes first only if both items occur in the live list and it came earlier there.
    fn normalize(
        &self,
        patch_items: Vec<Value>,
        server_only: Vec<Value>,
        patch_order: &[Id],
        server_order: &[Id],
    ) -> Vec<Value> {
        let right = self.sort(patch_items, patch_order);
        let left = self.sort(server_only, server_order);
        let mut out = Vec::with_capacity(left.len() + right.len());
        let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
        loop {
            let take_left = match (left.peek(), right.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(l), Some(r)) => matches!(
                    (self.position(server_order, l), self.position(server_order, r)),
                    (Some(i), Some(j)) if i < j
                ),
            };
            out.extend(if take_left { left.next() } else { right.next() });
        }
        out
    }

    /// patch.go `normalizeSliceOrder`: Go's `sort.SliceStable` with a `less` that is true
    /// whenever either element is missing from `order`. That is not a strict weak order, so
    /// for the up-to-20-element lists where Go runs a plain insertion sort we replay it
    /// exactly; longer lists with such elements keep them last.
    fn sort(&self, items: Vec<Value>, order: &[Id]) -> Vec<Value> {
        let mut keyed: Vec<(Option<usize>, Value)> = items
            .into_iter()
            .map(|v| (self.position(order, &v), v))
            .collect();
        if keyed.len() <= 20 {
            let less = |a: Option<usize>, b: Option<usize>| match (a, b) {
                (Some(a), Some(b)) => a < b,
                _ => true,
            };
            for i in 1..keyed.len() {
                let mut j = i;
                while j > 0
                    && matches!((keyed.get(j), keyed.get(j - 1)), (Some(a), Some(b)) if less(a.0, b.0))
                {
                    keyed.swap(j, j - 1);
                    j -= 1;
                }
            }
        } else {
            keyed.sort_by_key(|(i, _)| i.unwrap_or(usize::MAX));
        }
        keyed.into_iter().map(|(_, v)| v).collect()
    }

    fn missing_key(&self, element: &Value) -> Error {
        Error::MissingMergeKey(self.field.to_owned(), self.key, abbreviate(element))
    }

    fn wrong_type(&self, actual: Option<&Value>) -> Error {
        let expected = if self.key.is_empty() {
            "primitive"
        } else {
            "map"
        };
        Error::WrongType(
            self.field.to_owned(),
            expected,
            actual.map_or("nothing", json_type),
        )
    }

    fn wrong_list(&self, actual: &Value) -> Error {
        Error::WrongType(self.field.to_owned(), "list", json_type(actual))
    }
}

/// patch.go `extractKey`: `$prefix/<list>` to `<list>`.
fn list_name<'k>(key: &'k str, prefix: &str, error: Error) -> Result<&'k str> {
    match key.split_once('/') {
        Some((p, name)) if p == prefix => Ok(name),
        _ => Err(error),
    }
}

/// Patch content copied verbatim: patch.go `discardNullValuesFromPatch` + `removeDirectives`
/// (a map carrying `$patch` disappears), and other directive keys are dropped as well since
/// no typed decode follows to discard them.
fn sanitize(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.get(DIRECTIVE).is_some_and(|d| !d.is_null()) => None,
        Value::Object(map) => Some(Value::Object(sanitize_map(map))),
        Value::Array(list) => Some(Value::Array(sanitize_list(list))),
        other => Some(other),
    }
}

fn sanitize_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
        .filter_map(|(k, v)| sanitize(v).map(|v| (k, v)))
        .collect()
}

fn sanitize_list(list: Vec<Value>) -> Vec<Value> {
    list.into_iter().filter_map(sanitize).collect()
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ORDER)
        || key.starts_with(DELETE_FROM_LIST)
}

fn unknown_directive(directive: &Value) -> Error {
    Error::UnknownDirective(
        directive
            .as_str()
            .map_or_else(|| directive.to_string(), str::to_owned),
    )
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn abbreviate(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------
// Schema: the patchStrategy / patchMergeKey struct tags of the built-in types, from
// k8s.io/api v0.32 (kubernetes v1.32) core/v1, apps/v1, batch/v1, policy/v1,
// autoscaling/v2, admissionregistration/v1, storage/v1 types.go and
// k8s.io/apimachinery pkg/apis/meta/v1/types.go. Only fields that carry a tag, and the
// struct fields leading to them, are listed; everything else merges maps and replaces lists.
// ---------------------------------------------------------------------------------------

type Fields = &'static [Field];

/// Patch metadata of one JSON field of a Go struct.
#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    /// The `patchStrategy` tag verbatim: "", "merge", "replace", "retainKeys" or
    /// "merge,retainKeys". `retainKeys` needs no handling: the `$retainKeys` directive
    /// alone drives it (patch.go `applyRetainKeysDirective`).
    strategy: &'static str,
    /// The `patchMergeKey` tag; empty for primitive lists and maps.
    key: &'static str,
    /// Fields of the value's struct (of the element's struct for lists).
    sub: Fields,
}

impl Field {
    fn has_strategy(&self, strategy: &str) -> bool {
        self.strategy.split(',').any(|s| s == strategy)
    }
}

fn lookup(schema: Fields, name: &str) -> Field {
    schema
        .iter()
        .find(|f| f.name == name)
        .copied()
        .unwrap_or(f("", NONE))
}

const NONE: Fields = &[];

/// A struct-valued field without a tag.
const fn f(name: &'static str, sub: Fields) -> Field {
    tagged(name, "", "", sub)
}

/// A list with `patchStrategy:"merge"`; `key` is empty for lists of primitives.
const fn merge(name: &'static str, key: &'static str) -> Field {
    tagged(name, "merge", key, NONE)
}

#[rustfmt::skip]
const fn tagged(name: &'static str, strategy: &'static str, key: &'static str, sub: Fields) -> Field {
    Field { name, strategy, key, sub }
}

/// meta/v1 ObjectMeta.
const OBJECT_META: Fields = &[merge("finalizers", ""), merge("ownerReferences", "uid")];
const METADATA: Field = f("metadata", OBJECT_META);
/// core/v1 Container and EphemeralContainerCommon (same tags); `envFrom`, `resizePolicy`
/// and the probes carry none.
const CONTAINER: Fields = &[
    merge("ports", "containerPort"),
    merge("env", "name"),
    merge("volumeMounts", "mountPath"),
    merge("volumeDevices", "devicePath"),
];
/// core/v1 Volume -> EphemeralVolumeSource -> PersistentVolumeClaimTemplate.metadata.
const VOLUME: Fields = &[f("ephemeral", &[f("volumeClaimTemplate", &[METADATA])])];
/// core/v1 PodSpec. `tolerations`, `readinessGates` and `affinity` lists carry no tag.
/// `topologySpreadConstraints` lists `whenUnsatisfiable` as a second key only for
/// server-side apply (`listMapKey`); the patch merge key is `topologyKey` alone.
const POD_SPEC: Fields = &[
    tagged("volumes", "merge,retainKeys", "name", VOLUME),
    tagged("initContainers", "merge", "name", CONTAINER),
    tagged("containers", "merge", "name", CONTAINER),
    tagged("ephemeralContainers", "merge", "name", CONTAINER),
    merge("imagePullSecrets", "name"),
    merge("hostAliases", "ip"),
    merge("topologySpreadConstraints", "topologyKey"),
    merge("schedulingGates", "name"),
    tagged("resourceClaims", "merge,retainKeys", "name", NONE),
];
/// core/v1 PodStatus; `containerStatuses` and friends carry no tag and are replaced whole.
const POD_STATUS: Fields = &[
    merge("conditions", "type"),
    merge("hostIPs", "ip"),
    merge("podIPs", "ip"),
    tagged("resourceClaimStatuses", "merge,retainKeys", "name", NONE),
];
const TEMPLATE: Field = f("template", &[METADATA, f("spec", POD_SPEC)]);
const CONDITIONS: Fields = &[merge("conditions", "type")];

/// Root fields per kind.
#[rustfmt::skip]
const KINDS: &[(&[&str], Fields)] = &[
    (&["Pod"], &[METADATA, f("spec", POD_SPEC), f("status", POD_STATUS)]),
    (&["PodTemplate"], &[METADATA, TEMPLATE]),
    // The specs of these hold a PodTemplateSpec `template`; their status `conditions` merge.
    (&["ReplicationController", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"],
        &[METADATA, f("spec", &[TEMPLATE]), f("status", CONDITIONS)]),
    // apps/v1 DeploymentSpec.strategy is `patchStrategy:"retainKeys"`.
    (&["Deployment"], &[METADATA, f("spec", &[TEMPLATE, tagged("strategy", "retainKeys", "", NONE)]),
        f("status", CONDITIONS)]),
    // batch/v1 CronJobSpec.jobTemplate is a JobTemplateSpec.
    (&["CronJob"], &[METADATA, f("spec", &[f("jobTemplate", &[METADATA, f("spec", &[TEMPLATE])])])]),
    (&["Service"], &[METADATA, f("spec", &[merge("ports", "port")]), f("status", CONDITIONS)]),
    (&["Node"], &[METADATA, f("spec", &[merge("podCIDRs", "")]),
        f("status", &[merge("conditions", "type"), merge("addresses", "type")])]),
    (&["Namespace", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "FlowSchema",
        "PriorityLevelConfiguration"], &[METADATA, f("status", CONDITIONS)]),
    (&["ServiceAccount"], &[METADATA, merge("secrets", "name")]),
    (&["ComponentStatus"], &[METADATA, merge("conditions", "type")]),
    // policy/v1 PodDisruptionBudgetSpec.selector is `patchStrategy:"replace"`.
    (&["PodDisruptionBudget"], &[METADATA, f("spec", &[tagged("selector", "replace", "", NONE)]),
        f("status", CONDITIONS)]),
    (&["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"],
        &[METADATA, tagged("webhooks", "merge", "name", &[merge("matchConditions", "name")])]),
    (&["ValidatingAdmissionPolicy"],
        &[METADATA, f("spec", &[merge("matchConditions", "name"), merge("variables", "name")])]),
    (&["CSINode"], &[METADATA, f("spec", &[merge("drivers", "name")])]),
    // Only ObjectMeta is tagged (core/v1 Endpoints.subsets, discovery/v1 EndpointSlice,
    // networking/v1, events/v1, rbac/v1 and autoscaling/v1 Scale lists are all atomic).
    (&["ConfigMap", "Secret", "Endpoints", "EndpointSlice", "NetworkPolicy", "Ingress",
        "IngressClass", "Event", "Scale", "PersistentVolume", "LimitRange", "ResourceQuota", "Role",
        "RoleBinding", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass",
        "Lease", "RuntimeClass"], &[METADATA]),
];

fn schema_for(kind: &str) -> Fields {
    KINDS
        .iter()
        .find(|(kinds, _)| kinds.contains(&kind))
        .map_or(NONE, |(_, fields)| fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// apimachinery's test struct `MergeItem` (patch_test.go), tags included.
    static MERGE_ITEM: [Field; 9] = [
        tagged("mergingList", "merge", "name", &MERGE_ITEM),
        f("nonMergingList", &MERGE_ITEM),
        merge("mergingIntList", ""),
        f("nonMergingIntList", NONE),
        tagged("mergeItemPtr", "merge", "name", &MERGE_ITEM),
        f("simpleMap", NONE),
        tagged("replacingItem", "replace", "", NONE),
        tagged("retainKeysMap", "retainKeys", "", &RETAIN_KEYS_ITEM),
        tagged(
            "retainKeysMergingList",
            "merge,retainKeys",
            "name",
            &MERGE_ITEM,
        ),
    ];
    /// apimachinery's test struct `RetainKeysMergeItem`.
    static RETAIN_KEYS_ITEM: [Field; 3] = [
        merge("mergingIntList", ""),
        tagged("mergingList", "merge", "name", &MERGE_ITEM),
        f("nonMergingList", &MERGE_ITEM),
    ];

    fn run(kind: &str, original: &Value, patch: &Value) -> Result<Value> {
        match kind {
            "MergeItem" => apply_with(&MERGE_ITEM, original, patch),
            _ => apply(kind, original, patch),
        }
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON {text}: {e}"))
    }

    fn assert_no_directives(value: &Value) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                assert!(!is_directive_key(k), "directive {k} leaked");
                assert_no_directives(v);
            }),
            Value::Array(list) => list.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    /// Applies `patch` to `original` for `kind` and compares with `expected` (all JSON text).
    fn check(kind: &str, original: &str, patch: &str, expected: &str) {
        let got = run(kind, &parse(original), &parse(patch))
            .unwrap_or_else(|e| panic!("{kind}: {patch} on {original} failed: {e}"));
        assert_eq!(got, parse(expected), "{kind}: {patch} on {original}");
        assert_no_directives(&got);
    }

    /// Asserts that the patch is rejected with an error (and does not panic).
    fn check_err(kind: &str, original: &str, patch: &str) {
        let got = run(kind, &parse(original), &parse(patch));
        assert!(
            got.is_err(),
            "{kind}: {patch} on {original} should fail, got {got:?}"
        );
    }

    /// Cases from apimachinery pkg/util/strategicpatch/patch_test.go (v0.32): the two-way
    /// and three-way application checks of the raw and YAML tables, applied with the same
    /// `MergeItem` schema; "Unknown" rows are TestUnknownField (no schema at all).
    #[rustfmt::skip]
    const UPSTREAM: &[(&str, &str, &str, &str)] = &[
        ("MergeItem", r#"{"mergingIntList":[1,2]}"#, r#"{"mergingIntList":[2,3]}"#, r#"{"mergingIntList":[1,2,3]}"#), // unique scalars when merging lists /2way
        ("MergeItem", r#"{"simpleMap":{"key1":1,"key2":1}}"#, r#"{"simpleMap":{"$patch":"delete"}}"#, r#"{"simpleMap":{}}"#), // delete map from nested map /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2}]}"#, r#"{"mergingList":[{"$patch":"replace"}]}"#, r#"{"mergingList":[]}"#), // delete all items from merging list /2way
        ("MergeItem", r#"{"name":1,"value":1}"#, r#"{"$patch":"replace"}"#, r#"{}"#), // delete all keys from map /2way
        ("MergeItem", r#"{"name":1,"value":1}"#, r#"{"other":"a","$patch":"replace"}"#, r#"{"other":"a"}"#), // add key and delete all keys from map /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":1},{"name":2,"value":"a"},{"name":3},{"name":3}]}"#, r#"{"mergingList":[{"name":1,"$patch":"delete"},{"name":3,"$patch":"delete"}]}"#, r#"{"mergingList":[{"name":2,"value":"a"}]}"#), // delete all duplicate entries in a merging list /2way
        ("MergeItem", r#"{"retainKeysMap":{"name":"foo","value":"a"}}"#, r#"{"retainKeysMap":{"value":null}}"#, r#"{"retainKeysMap":{"name":"foo"}}"#), // retainKeys map can delete a field when no retainKeys directive present /2way
        ("MergeItem", r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#, r#"{"retainKeysMergingList":[{"name":"foo","value":null}]}"#, r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo"}]}"#), // retainKeys list can delete a field when no retainKeys directive present /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":"b"},{"name":3}]}"#, r#"{"mergingList":[{"name":1,"value":"a"},{"name":2,"other":"x"},{"name":3,"value":"c"}]}"#, r#"{"mergingList":[{"name":1,"value":"a"},{"name":2,"value":"b","other":"x"},{"name":3,"value":"c"}]}"#), // preserve the order from the patch in a merging list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":"b"},{"name":3}]}"#, r#"{"mergingList":[{"name":1,"value":"a"},{"name":3,"value":"c"}]}"#, r#"{"mergingList":[{"name":1,"value":"a"},{"name":2,"value":"b"},{"name":3,"value":"c"}]}"#), // preserve the order from the patch in a merging list 2 /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3]}"#, r#"{"mergingIntList":[1,2,3]}"#, r#"{"mergingIntList":[1,2,3]}"#), // preserve the order from the patch in a merging int list /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3]}"#, r#"{"mergingIntList":[1,3]}"#, r#"{"mergingIntList":[1,2,3]}"#), // preserve the order from the patch in a merging int list /2way
        ("MergeItem", r#"{"name":1}"#, r#"{}"#, r#"{"name":1}"#), // nil patch /2way
        ("MergeItem", r#"{"simpleMap":{"key1":1,"key2":1}}"#, r#"{"simpleMap":{"key2":null}}"#, r#"{"simpleMap":{"key1":1}}"#), // delete field from nested map /2way
        ("MergeItem", r#"{"nonMergingIntList":[1,2]}"#, r#"{"nonMergingIntList":[2,3]}"#, r#"{"nonMergingIntList":[2,3]}"#), // replace list of scalars /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2}]}"#, r#"{"mergingList":[{"name":1,"$patch":"delete"},{"name":2,"$patch":"delete"}]}"#, r#"{"mergingList":[]}"#), // delete all maps from merging list /2way
        ("MergeItem", r#"{"name":2}"#, r#"{"name":1,"value":1,"other":null}"#, r#"{"name":1,"value":1}"#), // defined null values should propagate overwrite current fields (with conflict) /2way
        ("MergeItem", r#"{"name":"original-name","value":"original-value","other":"current-other"}"#, r#"{"name":"modified-name","value":null}"#, r#"{"name":"modified-name","other":"current-other"}"#), // defined null values should propagate removing original fields /3way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":3}]}"#, r#"{"$setElementOrder/mergingList":[{"name":3},{"name":2},{"name":1}],"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]}"#, r#"{"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]}"#), // $setElementOrder contains item that is not present in the list to be merged /2way
        ("MergeItem", r#"{"mergingIntList":[1,3]}"#, r#"{"$setElementOrder/mergingIntList":[3,2,1]}"#, r#"{"mergingIntList":[3,1]}"#), // $setElementOrder contains item that is not present in the int list to be merged /2way
        ("MergeItem", r#"{"mergingIntList":[1,2]}"#, r#"{"$deleteFromPrimitiveList/mergingIntList":[3]}"#, r#"{"mergingIntList":[1,2]}"#), // $deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list /2way
        ("MergeItem", r#"{"foo":["bar"]}"#, r#"{"$deleteFromPrimitiveList/mergingIntList":[3]}"#, r#"{"foo":["bar"]}"#), // $deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3]}"#, r#"{"$deleteFromPrimitiveList/mergingIntList":[2]}"#, r#"{"mergingIntList":[1,3]}"#), // $deleteFromPrimitiveList should delete item from a list with merge patch strategy /2way
        ("MergeItem", r#"{"nonMergingIntList":[1,2,3]}"#, r#"{"$deleteFromPrimitiveList/nonMergingIntList":[2]}"#, r#"{"nonMergingIntList":[1,3]}"#), // $deleteFromPrimitiveList should delete item from a list without merge patch strategy /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3]}"#, r#"{"$setElementOrder/mergingIntList":[1,2],"$deleteFromPrimitiveList/mergingIntList":[3]}"#, r#"{"mergingIntList":[1,2]}"#), // delete items in lists of scalars /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3,3]}"#, r#"{"$setElementOrder/mergingIntList":[1,2],"$deleteFromPrimitiveList/mergingIntList":[3]}"#, r#"{"mergingIntList":[1,2]}"#), // delete all duplicate items in lists of scalars /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3]}"#, r#"{"$setElementOrder/mergingIntList":[1,2,4],"$deleteFromPrimitiveList/mergingIntList":[3],"mergingIntList":[4]}"#, r#"{"mergingIntList":[1,2,4]}"#), // add and delete items in lists of scalars /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":4},{"name":1},{"name":2},{"name":3}],"mergingList":[{"name":4,"value":4},{"name":3,"value":3}]}"#, r#"{"mergingList":[{"name":4,"value":4},{"name":1},{"name":2,"value":2},{"name":3,"value":3}]}"#), // merge lists of maps /2way
        ("MergeItem", r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"value":2,"other":"b"}]}"#, r#"{"$setElementOrder/mergingList":[{"name":4},{"name":1},{"name":2},{"name":3}],"mergingList":[{"name":4,"value":4},{"name":3,"value":3}]}"#, r#"{"mergingList":[{"name":4,"value":4},{"name":1,"other":"a"},{"name":2,"value":2,"other":"b"},{"name":3,"value":3}]}"#), // merge lists of maps /3way
        ("MergeItem", r#"{"mergingList":[{"name":1,"value":"a"},{"name":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":1},{"name":2},{"name":3}],"mergingList":[{"name":3}]}"#, r#"{"mergingList":[{"name":1,"value":"a"},{"name":2},{"name":3}]}"#), // add an item that already exists in current object in merging list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2}],"mergingList":[{"name":1,"$patch":"delete"}]}"#, r#"{"mergingList":[{"name":2}]}"#), // delete map from merging list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2}],"mergingList":[{"name":1,"$patch":"delete"}]}"#, r#"{"mergingList":[{"name":2}]}"#), // delete missing map from merging list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"other":"b"},{"name":4,"other":"c"}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2},{"name":3}],"mergingList":[{"name":3},{"name":1,"$patch":"delete"}]}"#, r#"{"mergingList":[{"name":2,"other":"b"},{"name":4,"other":"c"},{"name":3}]}"#), // add map and delete map from merging list /3way
        ("MergeItem", r#"{"mergingList":[{"name":1,"other":"a"},{"name":4,"other":"c"}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2},{"name":3}],"mergingList":[{"name":2},{"name":3},{"name":1,"$patch":"delete"}]}"#, r#"{"mergingList":[{"name":4,"other":"c"},{"name":2},{"name":3}]}"#), // add map and delete map from merging list with conflict /3way
        ("MergeItem", r#"{"mergingList":[{"name":1,"nonMergingList":[{"name":1},{"name":2,"value":2}]},{"name":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":1},{"name":2}],"mergingList":[{"name":1,"nonMergingList":[{"name":1,"value":1}]}]}"#, r#"{"mergingList":[{"name":1,"nonMergingList":[{"name":1,"value":1}]},{"name":2}]}"#), // replace non merging list nested in merging list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1,"mergingList":[{"name":1},{"name":2,"value":2}]},{"name":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":1},{"name":2}],"mergingList":[{"$setElementOrder/mergingList":[{"name":1},{"name":2}],"name":1,"mergingList":[{"name":1,"value":1}]}]}"#, r#"{"mergingList":[{"name":1,"mergingList":[{"name":1,"value":1},{"name":2,"value":2}]},{"name":2}]}"#), // add field to map in merging list nested in merging list /2way
        ("MergeItem", r#"{"mergeItemPtr":[{"name":1}]}"#, r#"{"$setElementOrder/mergeItemPtr":[{"name":1},{"name":2}],"mergeItemPtr":[{"name":2}]}"#, r#"{"mergeItemPtr":[{"name":1},{"name":2}]}"#), // add map to merging list by pointer /2way
        ("MergeItem", r#"{"mergeItemPtr":[{"name":1,"mergeItemPtr":[{"name":1},{"name":2,"value":2}]},{"name":2}]}"#, r#"{"$setElementOrder/mergeItemPtr":[{"name":1},{"name":2}],"mergeItemPtr":[{"$setElementOrder/mergeItemPtr":[{"name":1},{"name":2}],"name":1,"mergeItemPtr":[{"name":1,"value":1}]}]}"#, r#"{"mergeItemPtr":[{"name":1,"mergeItemPtr":[{"name":1,"value":1},{"name":2,"value":2}]},{"name":2}]}"#), // add field to map in merging list by pointer /2way
        ("MergeItem", r#"{"mergingIntList":[1,2]}"#, r#"{"$setElementOrder/mergingIntList":[1,2,3],"mergingIntList":[3]}"#, r#"{"mergingIntList":[1,2,3]}"#), // add duplicate field to map in merging int list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":3},{"name":1},{"name":2}],"mergingList":[{"name":3,"value":3}]}"#, r#"{"mergingList":[{"name":3,"value":3},{"name":1},{"name":2,"value":2}]}"#), // add an item in a list and preserve order /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":2,"value":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":1}],"mergingList":[{"name":4,"value":4},{"name":3,"$patch":"delete"}]}"#, r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":1}]}"#), // add and delete an item in a list and preserve order /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]}"#, r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1}]}"#), // set elements order in a list /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]}"#, r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]}"#, r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1}]}"#), // set elements order in a list with server-only items /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":2},{"name":3,"value":3},{"name":4,"value":4}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]}"#, r#"{"mergingList":[{"name":2,"value":2},{"name":1},{"name":4,"value":4},{"name":3,"value":3}]}"#), // set elements order in a list with server-only items 2 /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":2},{"name":3,"value":3},{"name":4,"value":4}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]}"#, r#"{"mergingList":[{"name":2,"value":2},{"name":1},{"name":4,"value":4},{"name":3,"value":3}]}"#), // set elements order in a list with server-only items 3 /2way
        ("MergeItem", r#"{"mergingIntList":[1,3,4,2]}"#, r#"{"$setElementOrder/mergingIntList":[4,2,3,1]}"#, r#"{"mergingIntList":[4,2,3,1]}"#), // set elements order in a int list /2way
        ("MergeItem", r#"{"mergingIntList":[1,3,4,2]}"#, r#"{"$setElementOrder/mergingIntList":[4,2,3,1]}"#, r#"{"mergingIntList":[4,2,3,1]}"#), // set elements order in a int list with server-only items /2way
        ("MergeItem", r#"{"mergingList":[{"name":1},{"name":2,"value":"dup1"},{"name":3},{"name":2,"value":"dup2"},{"name":4}]}"#, r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3},{"name":2}]}"#, r#"{"mergingList":[{"name":2,"value":"dup1"},{"name":2,"value":"dup2"},{"name":1},{"name":4},{"name":3}]}"#), // behavior of set element order for a merging list with duplicate /2way
        ("MergeItem", r#"{"mergingIntList":[1,2,3,2,4]}"#, r#"{"$setElementOrder/mergingIntList":[2,1,4,3,2]}"#, r#"{"mergingIntList":[2,2,1,4,3]}"#), // behavior of set element order for a merging int list with duplicate /2way
        ("MergeItem", r#"{}"#, r#"{"retainKeysMap":{"other":"bar"}}"#, r#"{"retainKeysMap":{"other":"bar"}}"#), // retainKeys map should clear defaulted field /2way
        ("MergeItem", r#"{}"#, r#"{"retainKeysMap":{"name":"type2","other":"bar"}}"#, r#"{"retainKeysMap":{"name":"type2","other":"bar"}}"#), // retainKeys map should clear defaulted field with conflict (discriminated union) /2way
        ("MergeItem", r#"{"retainKeysMap":{"name":"foo"}}"#, r#"{"retainKeysMap":{"$retainKeys":["name","value"],"value":"bar"}}"#, r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#), // retainKeys map adds a field /2way
        ("MergeItem", r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#, r#"{}"#, r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#), // retainKeys map clears a field /2way
        ("MergeItem", r#"{"retainKeysMap":{"name":"foo","value":"bar","nonMergingList":[{"name":"a"},{"name":"b"}]}}"#, r#"{"retainKeysMap":{"$retainKeys":["name","nonMergingList","value"],"nonMergingList":[{"name":"a"},{"name":"c"},{"name":"b"}]}}"#, r#"{"retainKeysMap":{"name":"foo","value":"bar","nonMergingList":[{"name":"a"},{"name":"c"},{"name":"b"}]}}"#), // retainKeys map replaces non-merging list /2way
        ("MergeItem", r#"{"retainKeysMap":{"name":"foo","mergingIntList":[1,2,3]}}"#, r#"{"retainKeysMap":{"$retainKeys":["mergingIntList","name"],"mergingIntList":[5],"$deleteFromPrimitiveList/mergingIntList":[2],"$setElementOrder/mergingIntList":[1,3,5]}}"#, r#"{"retainKeysMap":{"name":"foo","mergingIntList":[1,3,5]}}"#), // retainKeys map adds an item and deletes an item in nested merging int list /2way
        ("MergeItem", r#"{"retainKeysMap":{"name":"foo","mergingList":[{"name":"a"},{"name":"b"}]}}"#, r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"}],"mergingList":[{"name":"b","$patch":"delete"}]}}"#, r#"{"retainKeysMap":{"name":"foo","mergingList":[{"name":"a"}]}}"#), // retainKeys map deletes an item in nested merging list /2way
        ("MergeItem", r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#, r#"{}"#, r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#), // retainKeys list of maps clears a field /2way
        ("MergeItem", r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"old"}]}"#, r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"new"}]}"#, r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"new"}]}"#), // retainKeys list of maps changes a field and clear a field /2way
        ("MergeItem", r#"{"mergingList":[{"name":"a","value":"a"},{"name":"b","value":"b"}],"mergeItemPtr":[{"name":"c","value":"c"},{"name":"d","value":"d"}]}"#, r#"{"$setElementOrder/mergingList":[{"name":"b"}],"$setElementOrder/mergeItemPtr":[{"name":"d"},{"name":"c"}],"mergingList":[{"$patch":"delete","name":"a"}]}"#, r#"{"mergingList":[{"name":"b","value":"b"}],"mergeItemPtr":[{"name":"d","value":"d"},{"name":"c","value":"c"}]}"#), // delete and reorder in one list, reorder in another /2way
        ("MergeItem", r#"{"name":"my-object","value":"some-value","other":"current-other","mergingList":[{"name":1}],"replacingItem":{"Some":"Generic","Yaml":"Inside","The":"RawExtension","Field":"Period"}}"#, r#"{"$setElementOrder/mergingList":[{"name":1},{"name":2}],"mergingList":[{"name":2}],"replacingItem":{"Newly":"Modified","Yaml":"Inside","The":"RawExtension"}}"#, r#"{"name":"my-object","value":"some-value","other":"current-other","mergingList":[{"name":1},{"name":2}],"replacingItem":{"Newly":"Modified","Yaml":"Inside","The":"RawExtension"}}"#), // replace RawExtension field and merge list /2way
        ("Unknown", r#"{"array":[1,2,3],"complex":{"nested":true},"name":"foo","scalar":true}"#, r#"{"complex_nullable":{"key":{"keynotnull":"value","keynull":null}}}"#, r#"{"array":[1,2,3],"complex":{"nested":true},"complex_nullable":{"key":{"keynotnull":"value"}},"name":"foo","scalar":true}"#), // discard nulls in nested and adds not nulls /2way
        ("Unknown", r#"{}"#, r#"{"complex":{"nested":null}}"#, r#"{"complex":{}}"#), // discard if modified all nulls /2way
        ("Unknown", r#"{}"#, r#"{"complex_nullable":[{"inner_one":{"key_one":null,"key_two":null}}]}"#, r#"{"complex_nullable":[{"inner_one":{}}]}"#), // filter if slice is all empty /2way
        ("Unknown", r#"{}"#, r#"{"complex_nullable":["key1",null,"key2"]}"#, r#"{"complex_nullable":["key1",null,"key2"]}"#), // not filter nulls from non-associative slice /2way
        ("Unknown", r#"{"name":"foo","scalar":true,"complex":{"nested":true}}"#, r#"{"complex":null,"scalar":null}"#, r#"{"name":"foo"}"#), // removed only /2way
    ];

    #[test]
    fn upstream_cases() {
        for (kind, original, patch, expected) in UPSTREAM {
            check(kind, original, patch, expected);
        }
    }

    #[test]
    fn upstream_errors() {
        // "should check if order in $setElementOrder and patch list match" (maps and ints).
        check_err(
            "MergeItem",
            r#"{"mergingList":[{"name":1},{"name":3},{"name":2}]}"#,
            r#"{"$setElementOrder/mergingList":[{"name":1},{"name":2},{"name":3}],"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]}"#,
        );
        check_err(
            "MergeItem",
            r#"{"mergingIntList":[1,3,2]}"#,
            r#"{"$setElementOrder/mergingIntList":[1,2,3],"mergingIntList":[3,1]}"#,
        );
        // "missing merge key should error out".
        check_err(
            "MergeItem",
            r#"{"mergingList":[{"name":1,"value":"a"}]}"#,
            r#"{"mergingList":[{"value":"b"}]}"#,
        );
    }

    const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","annotations":{"a":"1"}},"spec":{"replicas":1,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27","env":[{"name":"A","value":"1"},{"name":"B","value":"b"}],"ports":[{"containerPort":80}]}],"tolerations":[{"key":"k","operator":"Exists"}]}}}}"#;

    #[test]
    #[rustfmt::skip]
    fn kubectl_patches() {
        // kubectl apply: last-applied annotation, $setElementOrder for containers and env; the
        // server-only env var B keeps its place after A.
        check("Deployment", DEPLOYMENT,
            r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\n"}},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"name":"A","value":"2"}],"image":"nginx:1.28","name":"web"}]}}}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","annotations":{"a":"1","kubectl.kubernetes.io/last-applied-configuration":"{}\n"}},"spec":{"replicas":1,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.28","env":[{"name":"A","value":"2"},{"name":"B","value":"b"}],"ports":[{"containerPort":80}]}],"tolerations":[{"key":"k","operator":"Exists"}]}}}}"#);
        // kubectl rollout restart.
        check("Deployment", r#"{"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}}"#,
            r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}}"#,
            r#"{"spec":{"template":{"metadata":{"labels":{"app":"web"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}}"#);
        // kubectl apply removing a container and an env var, adding a port, reordering.
        check("Deployment", r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}]},{"name":"b"},{"name":"c"}]}}}}"#,
            r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}],"containers":[{"name":"b","$patch":"delete"},{"$setElementOrder/env":[{"name":"Y"}],"env":[{"name":"X","$patch":"delete"}],"name":"a","ports":[{"containerPort":8080}]}]}}}}"#,
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"c"},{"name":"a","env":[{"name":"Y","value":"2"}],"ports":[{"containerPort":8080}]}]}}}}"#);
        // kubectl scale-like and label patches.
        check("Deployment", r#"{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"replicas":1}}"#,
            r#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"replicas":3}}"#,
            r#"{"metadata":{"labels":{"b":"2","c":"3"}},"spec":{"replicas":3}}"#);
    }

    #[test]
    #[rustfmt::skip]
    fn builtin_field_strategies() {
        // Pod containers merge by name; like Go, a new element without $setElementOrder goes
        // before the live-only ones (patch.go mergeSortedSlice).
        check("Pod", r#"{"spec":{"containers":[{"name":"a","image":"x"}]}}"#, r#"{"spec":{"containers":[{"name":"b","image":"y"}]}}"#, r#"{"spec":{"containers":[{"name":"b","image":"y"},{"name":"a","image":"x"}]}}"#);
        check("Pod", r#"{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"}]}}"#, r#"{"spec":{"containers":[{"name":"a","image":"z"}]}}"#, r#"{"spec":{"containers":[{"name":"a","image":"z"},{"name":"b"}]}}"#);
        check("Pod", r#"{"spec":{"initContainers":[{"name":"i","volumeMounts":[{"mountPath":"/a","name":"v"}]}]}}"#, r#"{"spec":{"initContainers":[{"name":"i","volumeMounts":[{"mountPath":"/a","readOnly":true}]}]}}"#, r#"{"spec":{"initContainers":[{"name":"i","volumeMounts":[{"mountPath":"/a","name":"v","readOnly":true}]}]}}"#);
        check("Pod", r#"{"spec":{"ephemeralContainers":[{"name":"e","ports":[{"containerPort":1,"name":"p"}]}]}}"#, r#"{"spec":{"ephemeralContainers":[{"name":"e","ports":[{"containerPort":1,"protocol":"UDP"}]}]}}"#, r#"{"spec":{"ephemeralContainers":[{"name":"e","ports":[{"containerPort":1,"name":"p","protocol":"UDP"}]}]}}"#);
        check("Pod", r#"{"spec":{"containers":[{"name":"a","volumeDevices":[{"devicePath":"/d","name":"x"}],"envFrom":[{"prefix":"A"}],"args":["1"]}]}}"#, r#"{"spec":{"containers":[{"name":"a","volumeDevices":[{"devicePath":"/d","name":"y"}],"envFrom":[{"prefix":"B"}],"args":["2"]}]}}"#, r#"{"spec":{"containers":[{"name":"a","volumeDevices":[{"devicePath":"/d","name":"y"}],"envFrom":[{"prefix":"B"}],"args":["2"]}]}}"#);
        check("Pod", r#"{"spec":{"imagePullSecrets":[{"name":"a"}],"hostAliases":[{"ip":"1.1.1.1","hostnames":["a"]}],"topologySpreadConstraints":[{"topologyKey":"zone","maxSkew":1}],"schedulingGates":[{"name":"g"}]}}"#,
            r#"{"spec":{"imagePullSecrets":[{"name":"b"}],"hostAliases":[{"ip":"1.1.1.1","hostnames":["b"]}],"topologySpreadConstraints":[{"topologyKey":"zone","maxSkew":2}],"schedulingGates":[{"name":"g","$patch":"delete"}]}}"#,
            r#"{"spec":{"imagePullSecrets":[{"name":"b"},{"name":"a"}],"hostAliases":[{"ip":"1.1.1.1","hostnames":["b"]}],"topologySpreadConstraints":[{"topologyKey":"zone","maxSkew":2}],"schedulingGates":[]}}"#);
        // tolerations carry no strategy: replaced whole.
        check("Pod", r#"{"spec":{"tolerations":[{"key":"a"},{"key":"b"}]}}"#, r#"{"spec":{"tolerations":[{"key":"c"}]}}"#, r#"{"spec":{"tolerations":[{"key":"c"}]}}"#);
        // Pod status: conditions by type, podIPs by ip, containerStatuses atomic.
        check("Pod", r#"{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Initialized","status":"True"}],"podIPs":[{"ip":"10.0.0.1"}],"containerStatuses":[{"name":"a","ready":false},{"name":"b"}]}}"#,
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}],"podIPs":[{"ip":"fd00::1"}],"containerStatuses":[{"name":"a","ready":true}]}}"#,
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Initialized","status":"True"}],"podIPs":[{"ip":"fd00::1"},{"ip":"10.0.0.1"}],"containerStatuses":[{"name":"a","ready":true}]}}"#);
        // ObjectMeta: finalizers are a set, ownerReferences merge by uid.
        check("ConfigMap", r#"{"metadata":{"finalizers":["a","b"],"ownerReferences":[{"uid":"1","name":"x"}]},"data":{"k":"v","gone":"x"}}"#,
            r#"{"metadata":{"finalizers":["b","c"],"ownerReferences":[{"uid":"1","controller":true}]},"data":{"k":"w","gone":null}}"#,
            r#"{"metadata":{"finalizers":["a","b","c"],"ownerReferences":[{"uid":"1","name":"x","controller":true}]},"data":{"k":"w"}}"#);
        check("Secret", r#"{"metadata":{"finalizers":["a","b","c"]}}"#, r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}}"#, r#"{"metadata":{"finalizers":["a","c"]}}"#);
        check("Namespace", r#"{"metadata":{"finalizers":["a","b","c"]}}"#, r#"{"metadata":{"$setElementOrder/finalizers":["c","a","b"]}}"#, r#"{"metadata":{"finalizers":["c","a","b"]}}"#);
        // Namespace spec.finalizers has no strategy; status.conditions merge by type.
        check("Namespace", r#"{"spec":{"finalizers":["kubernetes"]},"status":{"conditions":[{"type":"A","status":"True"}]}}"#, r#"{"spec":{"finalizers":[]},"status":{"conditions":[{"type":"B","status":"True"}]}}"#, r#"{"spec":{"finalizers":[]},"status":{"conditions":[{"type":"B","status":"True"},{"type":"A","status":"True"}]}}"#);
        // Deployment/ReplicaSet/StatefulSet/DaemonSet/Job templates, CronJob job template.
        for kind in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"] {
            check(kind, r#"{"spec":{"template":{"metadata":{"finalizers":["a"]},"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"}]}]}}},"status":{"conditions":[{"type":"A"}]}}"#,
                r#"{"spec":{"template":{"metadata":{"finalizers":["b"]},"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"2"}]}]}}},"status":{"conditions":[{"type":"A","reason":"r"}]}}"#,
                r#"{"spec":{"template":{"metadata":{"finalizers":["b","a"]},"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"2"}]}]}}},"status":{"conditions":[{"type":"A","reason":"r"}]}}"#);
        }
        check("CronJob", r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"}]}}}}}}"#, r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"y"}]}}}}}}"#, r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"y"},{"name":"b"}]}}}}}}"#);
        check("PodTemplate", r#"{"template":{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}}"#, r#"{"template":{"spec":{"containers":[{"name":"b","image":"i"}]}}}"#, r#"{"template":{"spec":{"containers":[{"name":"a"},{"name":"b","image":"i"}]}}}"#);
        // Service ports merge by port; Node addresses and conditions by type, podCIDRs a set.
        check("Service", r#"{"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"name":"https"}],"selector":{"a":"b"}}}"#, r#"{"spec":{"ports":[{"port":443,"targetPort":8443}],"selector":{"c":"d"}}}"#, r#"{"spec":{"ports":[{"port":80,"name":"http"},{"port":443,"name":"https","targetPort":8443}],"selector":{"a":"b","c":"d"}}}"#);
        check("Node", r#"{"spec":{"podCIDRs":["10.0.0.0/24"],"taints":[{"key":"a"}]},"status":{"addresses":[{"type":"InternalIP","address":"1.1.1.1"},{"type":"Hostname","address":"n"}],"conditions":[{"type":"Ready","status":"False"}]}}"#,
            r#"{"spec":{"podCIDRs":["fd00::/64"],"taints":[{"key":"b"}]},"status":{"addresses":[{"type":"InternalIP","address":"2.2.2.2"}],"conditions":[{"type":"Ready","status":"True"}]}}"#,
            r#"{"spec":{"podCIDRs":["fd00::/64","10.0.0.0/24"],"taints":[{"key":"b"}]},"status":{"addresses":[{"type":"InternalIP","address":"2.2.2.2"},{"type":"Hostname","address":"n"}],"conditions":[{"type":"Ready","status":"True"}]}}"#);
        // Lists in kinds without tags are atomic.
        check("Endpoints", r#"{"subsets":[{"addresses":[{"ip":"1.1.1.1"}]}]}"#, r#"{"subsets":[{"addresses":[{"ip":"2.2.2.2"}]}]}"#, r#"{"subsets":[{"addresses":[{"ip":"2.2.2.2"}]}]}"#);
        check("EndpointSlice", r#"{"endpoints":[{"addresses":["1.1.1.1"]}],"ports":[{"port":80}]}"#, r#"{"endpoints":[{"addresses":["2.2.2.2"]}]}"#, r#"{"endpoints":[{"addresses":["2.2.2.2"]}],"ports":[{"port":80}]}"#);
        check("NetworkPolicy", r#"{"spec":{"ingress":[{"from":[{"podSelector":{}}]}],"policyTypes":["Ingress"]}}"#, r#"{"spec":{"policyTypes":["Egress"]}}"#, r#"{"spec":{"ingress":[{"from":[{"podSelector":{}}]}],"policyTypes":["Egress"]}}"#);
        check("Event", r#"{"count":1,"series":{"count":1}}"#, r#"{"count":2}"#, r#"{"count":2,"series":{"count":1}}"#);
        check("Scale", r#"{"spec":{"replicas":1},"status":{"replicas":1}}"#, r#"{"spec":{"replicas":5}}"#, r#"{"spec":{"replicas":5},"status":{"replicas":1}}"#);
        // PodDisruptionBudget spec.selector has patchStrategy replace.
        check("PodDisruptionBudget", r#"{"spec":{"selector":{"matchLabels":{"a":"1"}},"minAvailable":1}}"#, r#"{"spec":{"selector":{"matchLabels":{"b":"2"}}}}"#, r#"{"spec":{"selector":{"matchLabels":{"b":"2"}},"minAvailable":1}}"#);
        // Unknown kinds: maps merge, lists (even finalizers) are replaced.
        check("Widget", r#"{"metadata":{"finalizers":["a"]},"spec":{"items":[{"name":"a"}],"m":{"x":1}}}"#, r#"{"metadata":{"finalizers":["b"]},"spec":{"items":[{"name":"b"}],"m":{"y":2}}}"#, r#"{"metadata":{"finalizers":["b"]},"spec":{"items":[{"name":"b"}],"m":{"x":1,"y":2}}}"#);
        check("Widget", "null", r#"{"a":{"b":null,"c":1}}"#, r#"{"a":{"c":1}}"#);
    }

    #[test]
    #[rustfmt::skip]
    fn directives() {
        // $patch: replace / delete on maps.
        check("Pod", r#"{"spec":{"nodeSelector":{"a":"1","b":"2"}}}"#, r#"{"spec":{"nodeSelector":{"$patch":"replace","c":"3"}}}"#, r#"{"spec":{"nodeSelector":{"c":"3"}}}"#);
        check("Deployment", r#"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}"#, r#"{"spec":{"strategy":{"rollingUpdate":{"$patch":"delete"}}}}"#, r#"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{}}}}"#);
        check("Pod", r#"{"a":1,"b":{"c":2}}"#, r#"{"$patch":"replace","x":{"y":null,"z":1}}"#, r#"{"x":{"z":1}}"#);
        check("Pod", r#"{"a":1}"#, r#"{"$patch":"delete"}"#, r#"{}"#);
        // Like Go's removeDirectives, a directive map for an absent key adds nothing.
        check("Pod", r#"{"spec":{}}"#, r#"{"spec":{"nodeSelector":{"$patch":"replace","c":"3"},"affinity":{"$patch":"delete"}}}"#, r#"{"spec":{}}"#);
        // $patch on list elements: delete by merge key (all matches), replace the whole list.
        check("Pod", r#"{"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"a","image":"dup"}]}}"#, r#"{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}"#, r#"{"spec":{"containers":[{"name":"b"}]}}"#);
        check("Pod", r#"{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}"#, r#"{"spec":{"containers":[{"name":"c","env":[{"name":"X","$patch":"delete"}],"image":null},{"$patch":"replace"}]}}"#, r#"{"spec":{"containers":[{"name":"c","env":[]}]}}"#);
        // $retainKeys: Deployment strategy (retainKeys) and volumes (merge,retainKeys).
        check("Deployment", r#"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}"#, r#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#, r#"{"spec":{"strategy":{"type":"Recreate"}}}"#);
        check("Pod", r#"{"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"w","secret":{"secretName":"s"}}]}}"#, r#"{"spec":{"$setElementOrder/volumes":[{"name":"v"},{"name":"w"}],"volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"c"},"name":"v"}]}}"#, r#"{"spec":{"volumes":[{"name":"v","configMap":{"name":"c"}},{"name":"w","secret":{"secretName":"s"}}]}}"#);
        // $deleteFromPrimitiveList, also together with additions; missing lists stay missing.
        check("Pod", r#"{"metadata":{"finalizers":["a","b"]}}"#, r#"{"metadata":{"finalizers":["c"],"$deleteFromPrimitiveList/finalizers":["a"]}}"#, r#"{"metadata":{"finalizers":["c","b"]}}"#);
        check("Pod", r#"{"metadata":{}}"#, r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}"#, r#"{"metadata":{}}"#);
        // $setElementOrder on a list the patch does not touch (b is live-only and came before
        // c there), and on a new list.
        check("Pod", r#"{"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}}"#, r#"{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}]}}"#, r#"{"spec":{"containers":[{"name":"b"},{"name":"c"},{"name":"a"}]}}"#);
        check("Pod", r#"{"spec":{}}"#, r#"{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],"containers":[{"name":"b"},{"name":"a","$setElementOrder/env":[{"name":"E"}],"env":[{"name":"E","value":"1"}]}]}}"#, r#"{"spec":{"containers":[{"name":"b"},{"name":"a","env":[{"name":"E","value":"1"}]}]}}"#);
    }

    #[test]
    #[rustfmt::skip]
    fn errors() {
        check_err("Pod", "{}", "[]");
        check_err("Pod", "[]", "{}");
        check_err("Pod", "{}", r#"{"$patch":"merge"}"#);
        check_err("Pod", r#"{"spec":{"a":{}}}"#, r#"{"spec":{"a":{"$patch":"bogus"}}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"name":"a"}]}}"#, r#"{"spec":{"containers":[{"$patch":"merge"}]}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"name":"a"}]}}"#, r#"{"spec":{"containers":[{"$patch":"delete"}]}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"name":"a"}]}}"#, r#"{"spec":{"containers":[{"image":"x"}]}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"image":"x"}]}}"#, r#"{"spec":{"containers":[{"name":"a"}]}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"name":"a"}]}}"#, r#"{"spec":{"containers":["a"]}}"#);
        check_err("Pod", r#"{"metadata":{"finalizers":["a"]}}"#, r#"{"metadata":{"finalizers":[1]}}"#);
        check_err("Pod", r#"{"metadata":{"finalizers":["a"]}}"#, r#"{"metadata":{"finalizers":[null]}}"#);
        check_err("Pod", r#"{"metadata":{"finalizers":["a"]}}"#, r#"{"metadata":{"finalizers":[["b"]]}}"#);
        check_err("Pod", r#"{"metadata":{"finalizers":["a"]}}"#, r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}}"#);
        check_err("Pod", r#"{"metadata":{"finalizers":["a"]}}"#, r#"{"metadata":{"$deleteFromPrimitiveListfinalizers":["a"]}}"#);
        check_err("Deployment", r#"{"spec":{"strategy":{}}}"#, r#"{"spec":{"strategy":{"$retainKeys":"type"}}}"#);
        check_err("Deployment", r#"{"spec":{"strategy":{}}}"#, r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}}"#);
        check_err("Pod", r#"{"spec":{}}"#, r#"{"spec":{"$setElementOrder/containers":{"name":"a"}}}"#);
        check_err("Pod", r#"{"spec":{}}"#, r#"{"spec":{"$setElementOrder":[]}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"name":"a"}]}}"#, r#"{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":{"name":"a"}}}"#);
        check_err("Pod", r#"{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}"#, r#"{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"name":"b"},{"name":"a"}]}}"#);
        check_err("Pod", r#"{"spec":{"tolerations":[{"key":"a"}]}}"#, r#"{"spec":{"$setElementOrder/tolerations":[{"key":"a"}]}}"#);
    }

    fn nested(depth: usize) -> Value {
        (1..depth).fold(json!({}), |inner, _| json!({ "a": inner }))
    }

    #[test]
    fn depth_is_bounded() {
        assert!(apply("Pod", &json!({}), &nested(MAX_DEPTH)).is_ok());
        assert!(matches!(
            apply("Pod", &json!({}), &nested(MAX_DEPTH + 1)),
            Err(Error::TooDeep)
        ));
        let deep_list = (1..1000).fold(json!([]), |inner, _| Value::Array(vec![inner]));
        assert!(matches!(
            apply("Pod", &json!({}), &json!({ "x": deep_list })),
            Err(Error::TooDeep)
        ));
    }

    /// Random documents built from directive-heavy pieces must never make `apply` panic.
    #[test]
    fn never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        const KEYS: [&str; 14] = [
            "spec",
            "metadata",
            "containers",
            "name",
            "env",
            "finalizers",
            "volumes",
            "$patch",
            "$retainKeys",
            "$setElementOrder/containers",
            "$deleteFromPrimitiveList/finalizers",
            "$setElementOrder/finalizers",
            "strategy",
            "template",
        ];
        fn random_value(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> Value {
            const WORDS: [&str; 5] = ["replace", "delete", "merge", "a", "name"];
            match next(if depth == 0 { 5 } else { 8 }) {
                0 => Value::Null,
                1 => json!(next(3)),
                2 => json!(WORDS[next(5) as usize]),
                3 => json!(next(2) == 0),
                4 => json!(1.5),
                5 | 6 => Value::Object(
                    (0..next(4))
                        .map(|_| {
                            (
                                KEYS[next(14) as usize].to_owned(),
                                random_value(next, depth - 1),
                            )
                        })
                        .collect(),
                ),
                _ => Value::Array(
                    (0..next(4))
                        .map(|_| random_value(next, depth - 1))
                        .collect(),
                ),
            }
        }
        for kind in ["Pod", "Deployment", "Unknown"] {
            for _ in 0..3000 {
                // Stored objects carry no directives, so only the patch may bring them.
                let mut object = || {
                    Value::Object(
                        KEYS[..3]
                            .iter()
                            .map(|k| (k.to_string(), random_value(&mut next, 5)))
                            .collect(),
                    )
                };
                let original = sanitize(object()).unwrap_or_default();
                let patch = object();
                if let Ok(result) = apply(kind, &original, &patch) {
                    assert_no_directives(&result);
                }
            }
        }
    }
}
