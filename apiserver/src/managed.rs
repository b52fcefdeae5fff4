//! Server-side apply field management: `metadata.managedFields`, the apply merge and conflicts.
//!
//! A port of the apiserver's field manager (k8s.io/apimachinery v0.32
//! `pkg/util/managedfields/internal`) and of the structured-merge-diff v4.4 updater it drives
//! (`merge/update.go`, `typed`, `fieldpath`) to `serde_json::Value`:
//!
//! - [`apply`] is `PATCH` with `application/apply-patch+yaml`: the applied configuration is
//!   merged into the live object (associative lists by key, atomic values replaced), fields the
//!   manager applied last time and no longer applies are removed unless another manager owns
//!   them, and changing a field another manager owns is a [`Conflict`] unless forced.
//! - [`update`] records any other write (create, update, non-apply patch): the fields the
//!   write added or changed move to the writer's `Update` entry.
//!
//! The wrappers of the Go field manager are reproduced: the version check, the client-side
//! apply migration for the `kubectl` manager (conflicts on fields whose live value still
//! matches the `kubectl.kubernetes.io/last-applied-configuration` annotation are taken over,
//! and the annotation is kept up to date), `before-first-apply` for objects without
//! managedFields, `metadata`/`apiVersion`/`kind` stripping, timestamps only when something
//! changed, and the cap of 10 `Update` entries (older ones merge into `ancient-changes`).
//!
//! The schema (which lists are associative, which structs atomic) comes from a static table of
//! the built-in kinds in `managed/schema.rs`; other kinds are treated as custom resources
//! without schema markers (all lists atomic, all objects granular). Objects of all API
//! versions are assumed to share one JSON shape (no conversion between versions).
//!
//! Differences from the apiserver, all outside what well-formed objects exercise:
//! - every key of a granular object counts as a named field (Go tells struct fields from
//!   `map[string]X` keys; the two differ only for map values that are non-empty objects);
//! - a stored object whose associative list has an element without key is handled with that
//!   list atomic (Go fails the typed conversion and drops the object's managedFields);
//! - maps and list items emptied by an apply's removal are removed (Go stores `null`, which
//!   decoding into Go types drops);
//! - the fields never owned per scope are `status` (main resource) or `spec` (`status`
//!   subresource), not each registry strategy's exact reset fields;
//! - entry times compare as strings when sorting (all are RFC 3339 in UTC, to the second);
//! - custom resources' `x-kubernetes-list-type` markers are not read (all their lists are
//!   atomic), and no field is checked against a schema (the caller validates the result).

mod fieldpath;
mod schema;
#[cfg(test)]
mod tests;
mod typed;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use fieldpath::{Element, Path, Set};
use typed::Removal;

/// Deepest nesting of maps and lists accepted in objects; it bounds every recursion.
const MAX_DEPTH: usize = 100;
/// The client-side apply annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// `apimachineryvalidation.TotalAnnotationSizeLimitB`.
const ANNOTATIONS_LIMIT: usize = 256 * 1024;
/// `DefaultMaxUpdateManagers`.
const MAX_UPDATE_MANAGERS: usize = 10;
/// Key of the in-flight update; not a JSON identifier, so it never collides with one.
const CURRENT_OPERATION: &str = "current-operation";

/// One conflict of an apply: a field another manager owns and the apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The field path as kubectl prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="web"].image`.
    pub field: String,
    /// The manager that owns the field.
    pub manager: String,
    /// The apiVersion of that manager's entry.
    pub api_version: String,
    /// The operation of that manager's entry: `Apply` or `Update`.
    pub operation: String,
    /// The subresource of that manager's entry (`""` for the main resource).
    pub subresource: String,
}

impl Conflict {
    /// The manager as the apiserver prints it (`printManager`): `"kubectl"` for an applier,
    /// `"kube-controller-manager" using apps/v1` for an updater, with
    /// `with subresource "status"` when the entry belongs to a subresource.
    pub fn manager_description(&self) -> String {
        let mut out = fieldpath::go_quote(&self.manager);
        if !self.subresource.is_empty() {
            out.push_str(" with subresource ");
            out.push_str(&fieldpath::go_quote(&self.subresource));
        }
        if self.operation == "Update" {
            out.push_str(" using ");
            out.push_str(&self.api_version);
        }
        out
    }

    /// The `message` of this conflict's `details.causes` entry (whose `reason` is
    /// `FieldManagerConflict` and whose `field` is [`Conflict::field`]):
    /// `conflict with "kubectl-client-side-apply" using apps/v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }

    fn identifier(&self) -> String {
        let operation = if self.operation == "Apply" {
            Operation::Apply
        } else {
            Operation::Update
        };
        identifier(
            &self.manager,
            operation,
            &self.api_version,
            &self.subresource,
        )
    }
}

/// The `message` of the 409 Status for a failed apply, as `getConflictMessage` builds it:
/// `Apply failed with 1 conflict: conflict with "x" using apps/v1: .spec.replicas`, or for
/// several `Apply failed with N conflicts: conflicts with "x" using apps/v1:\n- .a\n- .b`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager_description(),
            one.field
        );
    }
    let mut by_manager: BTreeMap<String, (&Conflict, Vec<&str>)> = BTreeMap::new();
    for conflict in conflicts {
        by_manager
            .entry(conflict.identifier())
            .or_insert_with(|| (conflict, Vec::new()))
            .1
            .push(&conflict.field);
    }
    let mut lines = Vec::new();
    for (first, fields) in by_manager.values() {
        lines.push(format!("conflicts with {}:", first.manager_description()));
        lines.extend(fields.iter().map(|field| format!("- {field}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Why an apply was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (HTTP 409, reason `Conflict`, one
    /// `FieldManagerConflict` cause per conflict).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration's `apiVersion`/`kind` differ from the endpoint's (HTTP 400);
    /// the field holds the configuration's group/version/kind as Go prints it.
    #[error("invalid object type: {0}")]
    InvalidObjectType(String),
    /// The applied configuration sets `metadata.managedFields` (HTTP 400).
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsSet,
    /// The applied configuration is not a JSON object (HTTP 400).
    #[error("the applied configuration must be a JSON object")]
    NotAnObject,
    /// An object nests maps and lists deeper than supported (HTTP 400).
    #[error("object is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// An associative list of the configuration has an element without its key or two
    /// elements with the same key. The apiserver answers these with HTTP 500
    /// (`InternalError`), with this message.
    #[error("failed to create typed patch object ({object}): {errors}")]
    InvalidConfig {
        /// `namespace/name; group/version, Kind=kind` of the configuration.
        object: String,
        /// structured-merge-diff's errors (one line, or `errors:` and one indented line each).
        errors: String,
    },
}

impl ApplyError {
    /// The HTTP status code the apiserver answers with.
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::InvalidConfig { .. } => 500,
            _ => 400,
        }
    }
}

/// Which part of an object a request writes; it decides which fields are never owned (the
/// `GetResetFields` of the registry strategies) and the entries' `subresource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The main resource of a kind with a status subresource: `status` is reset by the
    /// server and never owned. What [`apply`] and [`update`] use.
    Main,
    /// The main resource of a kind without status subresource (e.g. a custom resource
    /// without one): every field is tracked.
    Whole,
    /// A subresource, e.g. `status` (then `spec` is not owned) or `scale` (then `status` is
    /// not owned). Entries carry `"subresource"`, and updates never take managedFields from the
    /// request object.
    Subresource(&'a str),
}

impl Scope<'_> {
    fn ignored(self) -> Set {
        let top = match self {
            Scope::Main => "status",
            Scope::Whole => return Set::new(),
            Scope::Subresource("status") => "spec",
            Scope::Subresource(_) => "status",
        };
        Set::from([vec![Element::Field(top.to_owned())]])
    }
}

/// What every step of one request shares.
struct Ctx<'a> {
    root: schema::Fields,
    api_version: &'a str,
    subresource: &'a str,
    ignored: Set,
}

impl<'a> Ctx<'a> {
    fn new(kind: &str, api_version: &'a str, scope: Scope<'a>) -> Ctx<'a> {
        let subresource = match scope {
            Scope::Subresource(name) => name,
            Scope::Main | Scope::Whole => "",
        };
        Ctx {
            root: schema::root(kind),
            api_version,
            subresource,
            ignored: scope.ignored(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One managedFields entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    subresource: String,
    time: Option<String>,
    set: Set,
}

/// Entries by manager identifier (`BuildManagerIdentifier`).
type Managers = BTreeMap<String, Entry>;

/// `BuildManagerIdentifier`: the entry without fields and time, and without apiVersion for
/// appliers, marshalled the way Go does (field order, `omitempty`).
fn identifier(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> String {
    let mut map = Map::new();
    let mut put = |key: &str, value: &str| {
        if !value.is_empty() {
            map.insert(key.to_owned(), Value::from(value));
        }
    };
    put("manager", manager);
    put("operation", operation.as_str());
    if operation == Operation::Update {
        put("apiVersion", api_version);
    }
    put("subresource", subresource);
    // Go's field order, independent of serde_json's map ordering.
    let parts: Vec<String> = ["manager", "operation", "apiVersion", "subresource"]
        .iter()
        .filter_map(|key| map.get(*key).map(|v| format!("\"{key}\":{}", go_json(v))))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A conflict before it is reported.
struct RawConflict {
    id: String,
    entry: Entry,
    path: Path,
}

/// Server-side apply of `applied` (the client's configuration) by `manager` onto `live` (the
/// stored object, `None` if it does not exist yet: the result is then the applied
/// configuration itself plus managedFields), for the main resource ([`Scope::Main`]).
///
/// Returns the new object, with `metadata.managedFields` updated, or why the apply fails:
/// with `force` false, changing a field another manager owns is a conflict; with `force`
/// the conflicting fields are taken over from the other managers. `now` is the RFC 3339 time
/// recorded in the manager's entry when the object changes. An empty `manager` is
/// `"unknown"`, as in the apiserver.
pub fn apply(
    kind: &str,
    api_version: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    apply_in(
        kind,
        api_version,
        live,
        applied,
        manager,
        force,
        now,
        Scope::Main,
    )
}

/// [`apply`] for a given [`Scope`] (e.g. `PATCH .../status` with an apply patch).
#[allow(clippy::too_many_arguments)]
pub fn apply_in(
    kind: &str,
    api_version: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
    scope: Scope<'_>,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::NotAnObject);
    }
    let applied_version = str_at(applied, "apiVersion");
    let applied_kind = str_at(applied, "kind");
    if applied_version != api_version || applied_kind != kind {
        return Err(ApplyError::InvalidObjectType(gvk(
            applied_version,
            applied_kind,
        )));
    }
    if applied
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::ManagedFieldsSet);
    }
    if too_deep(applied) || live.is_some_and(too_deep) {
        return Err(ApplyError::TooDeep);
    }
    let ctx = Ctx::new(kind, api_version, scope);
    let errors = typed::validate(applied, ctx.root);
    if !errors.is_empty() {
        let meta = applied.get("metadata");
        let object = format!(
            "{}/{}; {}",
            meta.map_or("", |m| str_at(m, "namespace")),
            meta.map_or("", |m| str_at(m, "name")),
            gvk(applied_version, applied_kind)
        );
        let errors = match errors.as_slice() {
            [one] => one.clone(),
            many => format!("errors:\n  {}", many.join("\n  ")),
        };
        return Err(ApplyError::InvalidConfig { object, errors });
    }
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    let mut managers = live.map(decode_object).unwrap_or_default();
    let live_value = live.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    if live.is_some() && managers.is_empty() {
        // skipnonapplied.go: what nobody owned so far is owned by "before-first-apply".
        let zero = zero_object(kind);
        record_update(
            &ctx,
            &zero,
            &live_value,
            &mut managers,
            "before-first-apply",
            now,
        );
    }
    let first = apply_managers(
        &ctx,
        &live_value,
        applied,
        managers.clone(),
        manager,
        force,
        now,
    );
    let result = match first {
        Err(conflicts) if manager == "kubectl" && !force => {
            match allowed_from_last_applied(&live_value, api_version, ctx.root) {
                Some(allowed) => {
                    let rest: Vec<RawConflict> = conflicts
                        .into_iter()
                        .filter(|c| !allowed.contains(&c.path))
                        .collect();
                    if rest.is_empty() {
                        apply_managers(&ctx, &live_value, applied, managers, manager, true, now)
                    } else {
                        Err(rest)
                    }
                }
                None => Err(conflicts),
            }
        }
        other => other,
    };
    let (mut object, managers) = result.map_err(|c| ApplyError::Conflicts(report(c)))?;
    if manager == "kubectl" && has_last_applied(&object) {
        set_last_applied(&mut object, build_last_applied(applied));
    }
    set_managed_fields(&mut object, &managers);
    Ok(object)
}

/// Records an ordinary write (create, update or non-apply patch; operation `Update`) by
/// `manager` on the main resource ([`Scope::Main`]): the fields that `new` added or changed
/// relative to `old` (every set field on create, `old` = `None`) join `manager`'s `Update`
/// entry for `api_version` and leave the other managers' entries; fields `new` removed leave
/// every entry; entries left empty are dropped. Rewrites `new`'s `metadata.managedFields`.
///
/// As in the apiserver, managedFields sent in `new` replace the stored ones when they decode
/// and are not empty (`[]` or `[{}]` resets them), and an existing object without
/// managedFields stays untracked. An empty `manager` is `"unknown"`.
pub fn update(
    kind: &str,
    api_version: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
) {
    update_in(kind, api_version, old, new, manager, now, Scope::Main);
}

/// [`update`] for a given [`Scope`] (e.g. `PUT .../status` or a scale of the parent object).
pub fn update_in(
    kind: &str,
    api_version: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    now: &str,
    scope: Scope<'_>,
) {
    if !new.is_object() {
        return;
    }
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    let sent = new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .cloned();
    let from_old = || old.map(decode_object).unwrap_or_default();
    // fieldmanager.go decodeLiveOrNew.
    let mut managers = match (scope, sent) {
        (Scope::Subresource(_), _) | (_, None) => from_old(),
        (_, Some(sent)) if is_reset(&sent) => Managers::new(),
        (_, Some(sent)) => match decode_list(&sent) {
            Ok(managers) if !managers.is_empty() => managers,
            _ => from_old(),
        },
    };
    remove_managed_fields(new);
    // skipnonapplied.go: only creations start tracking an object.
    let creating = old.is_none_or(|o| {
        o.get("metadata")
            .is_none_or(|m| str_at(m, "uid").is_empty())
    });
    if managers.is_empty() && !creating {
        return;
    }
    if too_deep(new) || old.is_some_and(too_deep) {
        return;
    }
    let ctx = Ctx::new(kind, api_version, scope);
    let old_value = old.map_or_else(|| zero_object(kind), without_managed_fields);
    record_update(&ctx, &old_value, new, &mut managers, manager, now);
    set_managed_fields(new, &managers);
}

/// The field manager the apiserver uses for a request without `?fieldManager=`: the
/// User-Agent up to its first `/` (`kubectl`, `kube-rs`, `Go-http-client`), without
/// unprintable characters, at most 128 bytes (`prefixFromUserAgent`). Empty without a
/// User-Agent; [`apply`] and [`update`] record an empty manager as `"unknown"`.
pub fn default_manager(user_agent: Option<&str>) -> String {
    let prefix = user_agent.unwrap_or("").split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars() {
        // Go's unicode.IsPrint: graphic characters and the ASCII space.
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            continue;
        }
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The structured-merge-diff updater (merge/update.go) and the managers wrapped around it
// ---------------------------------------------------------------------------------------

/// `Updater.Apply` followed by stripmeta.go and managedfieldsupdater.go: the object after the
/// apply and the new entries.
fn apply_managers(
    ctx: &Ctx<'_>,
    live: &Value,
    config: &Value,
    mut managers: Managers,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<(Value, Managers), Vec<RawConflict>> {
    let merged = typed::merge(live, config, ctx.root);
    let id = identifier(manager, Operation::Apply, ctx.api_version, ctx.subresource);
    let previous = managers.remove(&id);
    let config_set = typed::field_set(config, ctx.root);
    let entry = Entry {
        manager: manager.to_owned(),
        operation: Operation::Apply,
        api_version: ctx.api_version.to_owned(),
        subresource: ctx.subresource.to_owned(),
        time: previous.as_ref().and_then(|e| e.time.clone()),
        set: fieldpath::recursive_difference(&config_set, &ctx.ignored),
    };
    managers.insert(id.clone(), entry);
    let merged = prune(
        merged,
        &managers,
        previous.as_ref().map(|e| &e.set),
        ctx.root,
    );
    update_managers(ctx, live, &merged, &mut managers, &id, force)?;
    strip_meta(&mut managers, &id);
    if fieldpath::value_eq(live, &merged) {
        // Nothing changed: the entry's time stays.
        return Ok((live.clone(), managers));
    }
    if let Some(entry) = managers.get_mut(&id) {
        entry.time = Some(now.to_owned());
    }
    // `null`s of the configuration unset fields, as decoding into Go types does.
    let object = typed::remove(&merged, &config_set, ctx.root, Removal::Nulls);
    Ok((object, managers))
}

/// `Updater.prune`: removes what the applier applied last time (`last`), no longer applies
/// and nobody else owns. Named fields above owned fields count as owned
/// (`EnsureNamedFieldsAreMembers`).
fn prune(merged: Value, managers: &Managers, last: Option<&Set>, root: schema::Fields) -> Value {
    let Some(last) = last.filter(|s| !s.is_empty()) else {
        return merged;
    };
    let mut owned = Set::new();
    for entry in managers.values() {
        owned.extend(entry.set.iter().cloned());
    }
    let owned = fieldpath::with_field_parents(&owned);
    let remove: Set = fieldpath::with_field_parents(last)
        .difference(&owned)
        .cloned()
        .collect();
    typed::remove(&merged, &remove, root, Removal::Fields)
}

/// `Updater.update`: compares the objects; the fields `new` added or modified that other
/// managers own are conflicts (an error unless `force`, else taken from them), and removed
/// fields leave every other manager. Entries left empty are dropped.
fn update_managers(
    ctx: &Ctx<'_>,
    old: &Value,
    new: &Value,
    managers: &mut Managers,
    workflow: &str,
    force: bool,
) -> Result<typed::Comparison, Vec<RawConflict>> {
    let mut comparison = typed::compare(old, new, ctx.root);
    comparison.exclude(&ctx.ignored);
    let changed: Set = comparison
        .modified
        .union(&comparison.added)
        .cloned()
        .collect();
    let mut conflicts: Vec<(String, Set)> = Vec::new();
    for (id, entry) in managers.iter() {
        if id == workflow {
            continue;
        }
        let conflict: Set = entry.set.intersection(&changed).cloned().collect();
        if !conflict.is_empty() {
            conflicts.push((id.clone(), conflict));
        }
    }
    if !force && !conflicts.is_empty() {
        let mut raw = Vec::new();
        for (id, set) in conflicts {
            let Some(entry) = managers.get(&id) else {
                continue;
            };
            let mut paths: Vec<Path> = set.into_iter().collect();
            paths.sort_by(|a, b| fieldpath::iterate_order(a, b));
            raw.extend(paths.into_iter().map(|path| RawConflict {
                id: id.clone(),
                entry: entry.clone(),
                path,
            }));
        }
        return Err(raw);
    }
    for (id, conflict) in &conflicts {
        if let Some(entry) = managers.get_mut(id) {
            entry.set = entry.set.difference(conflict).cloned().collect();
        }
    }
    if !comparison.removed.is_empty() {
        for (id, entry) in managers.iter_mut() {
            if id != workflow {
                entry.set = entry.set.difference(&comparison.removed).cloned().collect();
            }
        }
    }
    managers.retain(|_, entry| !entry.set.is_empty());
    Ok(comparison)
}

/// `Updater.Update` for the in-flight operation, then stripmeta.go, managedfieldsupdater.go
/// (the changed fields join the manager's entry, whose time becomes `now`) and
/// capmanagers.go.
fn record_update(
    ctx: &Ctx<'_>,
    old: &Value,
    new: &Value,
    managers: &mut Managers,
    manager: &str,
    now: &str,
) {
    if let Ok(comparison) = update_managers(ctx, old, new, managers, CURRENT_OPERATION, true) {
        let changed: Set = comparison
            .modified
            .union(&comparison.added)
            .cloned()
            .collect();
        let set = fieldpath::recursive_difference(&changed, &ctx.ignored);
        let set: Set = set.difference(&strip_set()).cloned().collect();
        if !set.is_empty() {
            let id = identifier(manager, Operation::Update, ctx.api_version, ctx.subresource);
            let entry = managers.entry(id).or_insert_with(|| Entry {
                manager: manager.to_owned(),
                operation: Operation::Update,
                api_version: ctx.api_version.to_owned(),
                subresource: ctx.subresource.to_owned(),
                time: None,
                set: Set::new(),
            });
            entry.set.extend(set);
            entry.time = Some(now.to_owned());
        }
    }
    cap_update_managers(managers);
}

/// stripmeta.go: fields never owned.
fn strip_set() -> Set {
    let mut set = Set::new();
    for top in ["apiVersion", "kind", "metadata"] {
        set.insert(vec![Element::Field(top.to_owned())]);
    }
    for meta in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(vec![
            Element::Field("metadata".to_owned()),
            Element::Field(meta.to_owned()),
        ]);
    }
    set
}

fn strip_meta(managers: &mut Managers, id: &str) {
    if let Some(entry) = managers.get_mut(id) {
        entry.set = entry.set.difference(&strip_set()).cloned().collect();
        if entry.set.is_empty() {
            managers.remove(id);
        }
    }
}

/// capmanagers.go: with more than 10 `Update` entries, the oldest merge into one
/// `ancient-changes` entry per apiVersion.
fn cap_update_managers(managers: &mut Managers) {
    let mut updaters: Vec<(Option<String>, String)> = managers
        .iter()
        .filter(|(_, e)| e.operation == Operation::Update)
        .map(|(id, e)| (e.time.clone(), id.clone()))
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort();
    let mut length = updaters.len();
    let mut first_of_version: BTreeMap<String, String> = BTreeMap::new();
    for (_, id) in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = managers.get(&id).cloned() else {
            continue;
        };
        let version = entry.api_version.clone();
        let bucket = identifier("ancient-changes", Operation::Update, &version, "");
        let Some(first) = first_of_version.get(&version).cloned() else {
            first_of_version.insert(version, id);
            continue;
        };
        if !managers.contains_key(&bucket) {
            if let Some(mut moved) = managers.remove(&first) {
                moved.manager = "ancient-changes".to_owned();
                moved.subresource = String::new();
                managers.insert(bucket.clone(), moved);
            }
        }
        if let Some(target) = managers.get_mut(&bucket) {
            target.set.extend(entry.set.iter().cloned());
            target.api_version = version;
            target.time = entry.time.clone();
        }
        managers.remove(&id);
        length -= 1;
    }
}

/// lastappliedmanager.go: the fields of the last-applied annotation whose live value is still
/// the annotation's; `None` without a usable annotation.
fn allowed_from_last_applied(live: &Value, api_version: &str, root: schema::Fields) -> Option<Set> {
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    let last: Value = serde_json::from_str(text).ok()?;
    if !last.is_object() || str_at(&last, "apiVersion") != api_version || too_deep(&last) {
        return None;
    }
    if !typed::validate(&last, root).is_empty() {
        return None;
    }
    let comparison = typed::compare(&last, live, root);
    let mut allowed = typed::field_set(&last, root);
    for changed in [&comparison.modified, &comparison.added, &comparison.removed] {
        allowed = allowed.difference(changed).cloned().collect();
    }
    Some(allowed)
}

fn has_last_applied(object: &Value) -> bool {
    object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// lastappliedupdater.go `buildLastApplied`: the configuration without the annotation, as Go
/// encodes an unstructured object (sorted keys, HTML-safe escapes, trailing newline).
fn build_last_applied(applied: &Value) -> String {
    let mut copy = applied.clone();
    if let Some(Value::Object(annotations)) = copy
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.remove(LAST_APPLIED);
    }
    let mut text = go_json(&sorted(&copy));
    text.push('\n');
    text
}

/// lastapplied.go `SetLastApplied`: dropped again when the annotations exceed 256 KiB.
fn set_last_applied(object: &mut Value, value: String) {
    let Some(Value::Object(annotations)) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    annotations.insert(LAST_APPLIED.to_owned(), Value::String(value));
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_LIMIT {
        annotations.remove(LAST_APPLIED);
    }
}

// ---------------------------------------------------------------------------------------
// Encoding and decoding managedFields (managedfields.go)
// ---------------------------------------------------------------------------------------

/// The stored entries of an object; undecodable entries count as none.
fn decode_object(object: &Value) -> Managers {
    match object.get("metadata").and_then(|m| m.get("managedFields")) {
        Some(list) => decode_list(list).unwrap_or_default(),
        None => Managers::new(),
    }
}

/// `DecodeManagedFields`; any malformed entry fails the whole list.
fn decode_list(list: &Value) -> Result<Managers, String> {
    let entries = match list {
        Value::Null => return Ok(Managers::new()),
        Value::Array(entries) => entries,
        _ => return Err("managedFields must be a list".into()),
    };
    let mut managers = Managers::new();
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(map) = entry else {
            return Err(format!("managed fields entry {i} is not an object"));
        };
        let text = |key: &str| -> Result<String, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("{key} of managed fields entry {i} is not a string")),
            }
        };
        let operation = match text("operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".into()),
        };
        let api_version = text("apiVersion")?;
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match text("fieldsType")?.as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {i}"
                ));
            }
        }
        let set = match map.get("fieldsV1") {
            None | Some(Value::Null) => Set::new(),
            Some(fields) => fieldpath::decode(fields)?,
        };
        let time = Some(text("time")?).filter(|t| !t.is_empty());
        let entry = Entry {
            manager: text("manager")?,
            operation,
            api_version,
            subresource: text("subresource")?,
            time,
            set,
        };
        let id = identifier(
            &entry.manager,
            operation,
            &entry.api_version,
            &entry.subresource,
        );
        managers.insert(id, entry);
    }
    Ok(managers)
}

/// `isResetManagedFields`: `[]`, or one entry with nothing set.
fn is_reset(list: &Value) -> bool {
    match list {
        Value::Array(entries) => match entries.as_slice() {
            [] => true,
            [Value::Object(entry)] => entry
                .values()
                .all(|v| v.is_null() || v.as_str().is_some_and(str::is_empty)),
            _ => false,
        },
        _ => false,
    }
}

/// `encodeManagedFields`, sorted as `sortEncodedManagedFields` does: operation, time,
/// manager, apiVersion, subresource. Times compare as RFC 3339 strings.
fn encode(managers: &Managers) -> Vec<Value> {
    let mut entries: Vec<&Entry> = managers.values().collect();
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| p.time.cmp(&q.time))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    entries
        .into_iter()
        .map(|entry| {
            let mut map = Map::new();
            map.insert("manager".into(), Value::from(entry.manager.as_str()));
            map.insert("operation".into(), Value::from(entry.operation.as_str()));
            map.insert("apiVersion".into(), Value::from(entry.api_version.as_str()));
            if let Some(time) = &entry.time {
                map.insert("time".into(), Value::from(time.as_str()));
            }
            map.insert("fieldsType".into(), Value::from("FieldsV1"));
            map.insert("fieldsV1".into(), fieldpath::encode(&entry.set));
            if !entry.subresource.is_empty() {
                map.insert(
                    "subresource".into(),
                    Value::from(entry.subresource.as_str()),
                );
            }
            Value::Object(map)
        })
        .collect()
}

fn set_managed_fields(object: &mut Value, managers: &Managers) {
    let Value::Object(root) = object else { return };
    if managers.is_empty() {
        remove_managed_fields(object);
        return;
    }
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert("managedFields".into(), Value::Array(encode(managers)));
    }
}

fn remove_managed_fields(object: &mut Value) {
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("managedFields");
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    remove_managed_fields(&mut copy);
    copy
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn report(conflicts: Vec<RawConflict>) -> Vec<Conflict> {
    let mut conflicts = conflicts;
    conflicts.sort_by(|a, b| {
        a.id.cmp(&b.id)
            .then_with(|| fieldpath::iterate_order(&a.path, &b.path))
    });
    conflicts
        .into_iter()
        .map(|c| Conflict {
            field: fieldpath::path_string(&c.path),
            manager: c.entry.manager,
            api_version: c.entry.api_version,
            operation: c.entry.operation.as_str().to_owned(),
            subresource: c.entry.subresource,
        })
        .collect()
}

fn zero_object(kind: &str) -> Value {
    serde_json::from_str(schema::zero(kind)).unwrap_or_else(|_| Value::Object(Map::new()))
}

fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Go's `GroupVersionKind.String()` of an apiVersion and kind: `apps/v1, Kind=Deployment`,
/// `/v1, Kind=Pod`.
fn gvk(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

/// Iterative, so itself safe on any input.
fn too_deep(value: &Value) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
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

/// A copy with every map's keys inserted in sorted order (the order Go marshals maps in,
/// whatever serde_json's map preserves). Callers bound the depth.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(list) => Value::Array(list.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// JSON as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
