//! Schema-aware operations on JSON objects, after structured-merge-diff's `typed` package:
//! the fields a value sets (`ToFieldSet`), what one value adds, changes and removes relative
//! to another (`Compare`), merging an applied configuration into a live object (`Merge`),
//! removing a set of fields (`RemoveItems`) and the list checks of an applied configuration.
//!
//! Every walk recurses once per level of the values it is given; callers bound their depth.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{Element, Path, Set, Tree, go_quote, path_string, value_eq};
use super::schema::{Fields, Key, NONE, Shape};

/// What a value is once its schema and its JSON type are both known.
#[derive(Clone, Copy)]
enum Kind {
    /// A scalar, an atomic list, struct or map, or a value of the wrong type: one field.
    Leaf,
    /// A granular struct or map.
    Object(Fields),
    /// An associative list.
    List(List),
}

/// An associative list.
#[derive(Clone, Copy)]
enum List {
    /// `+listType=set`.
    Set,
    /// `+listType=map` with its keys and element fields.
    Map(&'static [Key], Fields),
}

impl List {
    fn item_shape(self) -> Option<Shape> {
        match self {
            List::Set => None,
            List::Map(_, fields) => Some(Shape::Object(fields)),
        }
    }
}

fn field_shape(fields: Fields, name: &str) -> Option<Shape> {
    fields.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Resolves a field's shape against the values present (`None` = the default shape: objects
/// granular, everything else a leaf). A value of the wrong JSON type makes the field a leaf.
fn kind_of(shape: Option<Shape>, values: [Option<&Value>; 2]) -> Kind {
    let present = || values.into_iter().flatten().filter(|v| !v.is_null());
    let objects = present().all(Value::is_object);
    let arrays = present().all(Value::is_array);
    match shape {
        Some(Shape::Object(fields)) if objects => Kind::Object(fields),
        Some(Shape::Set) if arrays => Kind::List(List::Set),
        Some(Shape::Map(keys, fields)) if arrays => Kind::List(List::Map(keys, fields)),
        None if objects && present().next().is_some() => Kind::Object(NONE),
        _ => Kind::Leaf,
    }
}

/// The path element of a list item (`listItemToPathElement`).
fn item_element(list: List, item: &Value) -> Result<Element, String> {
    match list {
        List::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            scalar => Ok(Element::Value(scalar.clone())),
        },
        List::Map(keys, _) => {
            let map = match item {
                Value::Object(map) => map,
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let mut fields = Vec::with_capacity(keys.len());
            for key in keys {
                match (map.get(key.name), key.default) {
                    (Some(value), _) => fields.push((key.name.to_owned(), value.clone())),
                    (None, Some(default)) => fields.push((key.name.to_owned(), default.into())),
                    (None, None) => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {} \
                             (and doesn't have default value)",
                            go_quote(key.name)
                        ));
                    }
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Element::Key(fields))
        }
    }
}

/// The path elements of all items, or `None` if one has none (then the list is a leaf).
fn index(list: List, items: &[Value]) -> Option<Vec<(Element, &Value)>> {
    items
        .iter()
        .map(|item| item_element(list, item).ok().map(|e| (e, item)))
        .collect()
}

fn non_empty_map(value: Option<&Value>) -> Option<&Map<String, Value>> {
    value.and_then(Value::as_object).filter(|m| !m.is_empty())
}

fn non_empty_list(value: Option<&Value>) -> Option<&Vec<Value>> {
    value.and_then(Value::as_array).filter(|l| !l.is_empty())
}

// ---------------------------------------------------------------------------------------
// Validation of an applied configuration (validate.go, without AllowDuplicates)
// ---------------------------------------------------------------------------------------

/// The list errors structured-merge-diff reports for an applied configuration: elements
/// without a key and duplicate keys, as `"<path>: <message>"`.
pub(super) fn validate(value: &Value, root: Fields) -> Vec<String> {
    fn walk(value: &Value, shape: Option<Shape>, path: &mut Path, errors: &mut Vec<String>) {
        match kind_of(shape, [Some(value), None]) {
            Kind::Leaf => {}
            Kind::Object(fields) => {
                for (key, child) in value.as_object().into_iter().flatten() {
                    path.push(Element::Field(key.clone()));
                    walk(child, field_shape(fields, key), path, errors);
                    path.pop();
                }
            }
            Kind::List(list) => {
                let mut seen = BTreeSet::new();
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    let element = match item_element(list, item) {
                        Ok(element) => element,
                        Err(message) => {
                            errors.push(at(path, &format!("element {i}: {message}")));
                            return;
                        }
                    };
                    if seen.contains(&element) {
                        let key = path_string(std::slice::from_ref(&element));
                        errors.push(at(path, &format!("duplicate entries for key {key}")));
                    }
                    seen.insert(element.clone());
                    path.push(element);
                    walk(item, list.item_shape(), path, errors);
                    path.pop();
                }
            }
        }
    }
    fn at(path: &Path, message: &str) -> String {
        if path.is_empty() {
            message.to_owned()
        } else {
            format!("{}: {message}", path_string(path))
        }
    }
    let mut errors = Vec::new();
    walk(
        value,
        Some(Shape::Object(root)),
        &mut Vec::new(),
        &mut errors,
    );
    errors
}

// ---------------------------------------------------------------------------------------
// ToFieldSet (tofieldset.go)
// ---------------------------------------------------------------------------------------

/// The fields a value sets: leaves, `null`s and empty maps, and associative list items.
pub(super) fn field_set(value: &Value, root: Fields) -> Set {
    fn walk(value: &Value, shape: Option<Shape>, path: &mut Path, out: &mut Set) {
        match kind_of(shape, [Some(value), None]) {
            Kind::Leaf => {
                out.insert(path.clone());
            }
            Kind::Object(fields) => {
                for (key, child) in value.as_object().into_iter().flatten() {
                    path.push(Element::Field(key.clone()));
                    walk(child, field_shape(fields, key), path, out);
                    if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                        out.insert(path.clone());
                    }
                    path.pop();
                }
            }
            Kind::List(list) => {
                let items = value.as_array().map_or(&[][..], Vec::as_slice);
                let Some(indexed) = index(list, items) else {
                    out.insert(path.clone());
                    return;
                };
                let mut count: BTreeMap<&Element, usize> = BTreeMap::new();
                for (element, _) in &indexed {
                    *count.entry(element).or_default() += 1;
                }
                for (element, item) in &indexed {
                    path.push(element.clone());
                    if count.get(element).copied().unwrap_or(0) < 2 {
                        walk(item, list.item_shape(), path, out);
                    }
                    out.insert(path.clone());
                    path.pop();
                }
            }
        }
    }
    let mut out = Set::new();
    walk(value, Some(Shape::Object(root)), &mut Vec::new(), &mut out);
    out.remove(&Vec::new());
    out
}

// ---------------------------------------------------------------------------------------
// Compare (compare.go)
// ---------------------------------------------------------------------------------------

/// Fields the right-hand object added, modified and removed relative to the left one.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    /// Set in the new object only (also maps and list items that did not exist before).
    pub(super) added: Set,
    /// Leaves whose value changed.
    pub(super) modified: Set,
    /// Set in the old object only.
    pub(super) removed: Set,
}

impl Comparison {
    /// Drops the ignored fields and everything below them from all three sets.
    pub(super) fn exclude(&mut self, ignored: &Set) {
        use super::fieldpath::recursive_difference;
        self.added = recursive_difference(&self.added, ignored);
        self.modified = recursive_difference(&self.modified, ignored);
        self.removed = recursive_difference(&self.removed, ignored);
    }
}

/// Compares two objects of one kind.
pub(super) fn compare(old: &Value, new: &Value, root: Fields) -> Comparison {
    let mut out = Comparison::default();
    compare_walk(
        Some(old),
        Some(new),
        Some(Shape::Object(root)),
        &mut Vec::new(),
        &mut out,
    );
    out
}

fn compare_leaf(l: Option<&Value>, r: Option<&Value>, path: &Path, out: &mut Comparison) {
    match (l, r) {
        (None, _) => {
            out.added.insert(path.clone());
        }
        (_, None) => {
            out.removed.insert(path.clone());
        }
        (Some(l), Some(r)) => {
            if !value_eq(l, r) {
                out.modified.insert(path.clone());
            }
        }
    }
}

fn compare_walk(
    l: Option<&Value>,
    r: Option<&Value>,
    shape: Option<Shape>,
    path: &mut Path,
    out: &mut Comparison,
) {
    if l.is_none() && r.is_none() {
        return;
    }
    let leaf = match kind_of(shape, [l, r]) {
        Kind::Leaf => true,
        Kind::Object(fields) => {
            let (lm, rm) = (non_empty_map(l), non_empty_map(r));
            if lm.is_none() && rm.is_none() {
                true
            } else {
                for (key, lv) in lm.into_iter().flatten() {
                    path.push(Element::Field(key.clone()));
                    let rv = rm.and_then(|m| m.get(key));
                    compare_walk(Some(lv), rv, field_shape(fields, key), path, out);
                    path.pop();
                }
                for (key, rv) in rm.into_iter().flatten() {
                    if lm.is_some_and(|m| m.contains_key(key)) {
                        continue;
                    }
                    path.push(Element::Field(key.clone()));
                    compare_walk(None, Some(rv), field_shape(fields, key), path, out);
                    path.pop();
                }
                false
            }
        }
        Kind::List(list) => {
            let (ll, rl) = (non_empty_list(l), non_empty_list(r));
            if ll.is_none() && rl.is_none() {
                true
            } else {
                let li = index(list, ll.map_or(&[][..], Vec::as_slice));
                let ri = index(list, rl.map_or(&[][..], Vec::as_slice));
                match (li, ri) {
                    (Some(li), Some(ri)) => {
                        compare_items(list, &li, &ri, path, out);
                        false
                    }
                    _ => true,
                }
            }
        }
    };
    if leaf {
        compare_leaf(l, r, path, out);
    } else if l.is_none() {
        out.added.insert(path.clone());
    } else if r.is_none() {
        out.removed.insert(path.clone());
    }
}

/// `visitListItems` of compare.go, duplicates included.
fn compare_items(
    list: List,
    left: &[(Element, &Value)],
    right: &[(Element, &Value)],
    path: &mut Path,
    out: &mut Comparison,
) {
    let mut order: Vec<&Element> = Vec::new();
    let mut lv: BTreeMap<&Element, Vec<&Value>> = BTreeMap::new();
    let mut rv: BTreeMap<&Element, Vec<&Value>> = BTreeMap::new();
    for (element, item) in left {
        let entry = lv.entry(element).or_default();
        if entry.is_empty() {
            order.push(element);
        }
        entry.push(item);
    }
    for (element, item) in right {
        let entry = rv.entry(element).or_default();
        if entry.is_empty() && !lv.contains_key(element) {
            order.push(element);
        }
        entry.push(item);
    }
    for element in order {
        let l = lv.get(element).map_or(&[][..], Vec::as_slice);
        let r = rv.get(element).map_or(&[][..], Vec::as_slice);
        path.push(element.clone());
        match (l.len(), r.len()) {
            (0..=1, 0..=1) => {
                compare_walk(
                    l.first().copied(),
                    r.first().copied(),
                    list.item_shape(),
                    path,
                    out,
                );
            }
            (2.., 2..) => {
                let same = l.len() == r.len() && l.iter().zip(r).all(|(a, b)| value_eq(a, b));
                if !same {
                    out.modified.insert(path.clone());
                }
            }
            (2.., _) => {
                if let Some(first) = r.first() {
                    compare_walk(None, Some(first), list.item_shape(), path, out);
                }
                out.removed.insert(path.clone());
            }
            (_, _) => {
                if let Some(first) = l.first() {
                    compare_walk(Some(first), None, list.item_shape(), path, out);
                }
                out.added.insert(path.clone());
            }
        }
        path.pop();
    }
}

// ---------------------------------------------------------------------------------------
// Merge (merge.go with ruleKeepRHS)
// ---------------------------------------------------------------------------------------

/// Merges an applied configuration (right) into a live object (left): maps merge, leaves
/// and atomic values take the configuration's value, associative lists merge by key in the
/// order structured-merge-diff produces.
pub(super) fn merge(live: &Value, config: &Value, root: Fields) -> Value {
    merge_walk(Some(live), Some(config), Some(Shape::Object(root))).unwrap_or(Value::Null)
}

fn merge_walk(l: Option<&Value>, r: Option<&Value>, shape: Option<Shape>) -> Option<Value> {
    let keep_right = || r.or(l).cloned();
    match kind_of(shape, [l, r]) {
        Kind::Leaf => keep_right(),
        Kind::Object(fields) => {
            let (lm, rm) = (non_empty_map(l), non_empty_map(r));
            if lm.is_none() && rm.is_none() {
                return keep_right();
            }
            let mut out = Map::new();
            for (key, lv) in lm.into_iter().flatten() {
                let rv = rm.and_then(|m| m.get(key));
                if let Some(v) = merge_walk(Some(lv), rv, field_shape(fields, key)) {
                    out.insert(key.clone(), v);
                }
            }
            for (key, rv) in rm.into_iter().flatten() {
                if lm.is_some_and(|m| m.contains_key(key)) {
                    continue;
                }
                if let Some(v) = merge_walk(None, Some(rv), field_shape(fields, key)) {
                    out.insert(key.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        Kind::List(list) => {
            let (ll, rl) = (non_empty_list(l), non_empty_list(r));
            if ll.is_none() && rl.is_none() {
                return keep_right();
            }
            let li = index(list, ll.map_or(&[][..], Vec::as_slice));
            let ri = index(list, rl.map_or(&[][..], Vec::as_slice));
            match (li, ri) {
                (Some(li), Some(ri)) => Some(Value::Array(merge_items(list, &li, &ri))),
                _ => keep_right(),
            }
        }
    }
}

/// `visitListItems` of merge.go: items of both lists, keeping the live order while placing
/// new items of the configuration relative to the ones both share.
fn merge_items(list: List, left: &[(Element, &Value)], right: &[(Element, &Value)]) -> Vec<Value> {
    let shape = list.item_shape();
    // Duplicated live items are not merged with the configuration (they count as absent).
    let mut observed_left: BTreeMap<&Element, Option<&Value>> = BTreeMap::new();
    for (element, item) in left {
        observed_left
            .entry(element)
            .and_modify(|v| *v = None)
            .or_insert(Some(*item));
    }
    let observed_right: BTreeMap<&Element, &Value> = right
        .iter()
        .map(|(element, item)| (element, *item))
        .collect();
    let mut shared = right
        .iter()
        .map(|(element, _)| element)
        .filter(|element| observed_left.contains_key(element));
    let mut next_shared = shared.next();
    let mut merged_right: BTreeSet<&Element> = BTreeSet::new();
    let mut out = Vec::with_capacity(left.len().max(right.len()));
    let (mut li, mut ri) = (0, 0);
    // Every round consumes at least one item; the bound is only a guard.
    let mut rounds = 2 * (left.len() + right.len()) + 2;
    while (li < left.len() || ri < right.len()) && rounds > 0 {
        rounds -= 1;
        if let (Some((le, _)), Some((re, _))) = (left.get(li), right.get(ri)) {
            if le == re {
                merged_right.insert(le);
                let lv = observed_left.get(le).copied().flatten();
                out.extend(merge_walk(lv, observed_right.get(le).copied(), shape));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_right.contains_key(le) && next_shared.is_some_and(|n| n != le) {
                li += 1;
                continue;
            }
        }
        if let Some((le, lv)) = left.get(li) {
            if !observed_right.contains_key(le) {
                out.extend(merge_walk(Some(lv), None, shape));
                li += 1;
                continue;
            } else if merged_right.contains(le) {
                li += 1;
            }
        }
        if let Some((re, rv)) = right.get(ri) {
            merged_right.insert(re);
            let lv = observed_left.get(re).copied().flatten();
            out.extend(merge_walk(lv, Some(rv), shape));
            ri += 1;
            if next_shared.is_some_and(|n| n == re) {
                next_shared = shared.next();
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// RemoveItems (remove.go)
// ---------------------------------------------------------------------------------------

/// What to remove.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Removal {
    /// Every field of the set with everything below it; maps, structs and list items left
    /// empty by the removal are removed too (Go leaves a `null` that decoding drops).
    Fields,
    /// Only the fields of the set whose value is `null`.
    Nulls,
}

/// Removes the fields of `set` from `value`.
pub(super) fn remove(value: &Value, set: &Set, root: Fields, mode: Removal) -> Value {
    if set.is_empty() {
        return value.clone();
    }
    let tree = Tree::of(set);
    remove_walk(value, &tree, Some(Shape::Object(root)), mode).unwrap_or_else(|| match value {
        Value::Object(_) => Value::Object(Map::new()),
        other => other.clone(),
    })
}

fn remove_walk(value: &Value, tree: &Tree, shape: Option<Shape>, mode: Removal) -> Option<Value> {
    let drop = |child: &Tree, v: &Value| child.member && (mode == Removal::Fields || v.is_null());
    let emptied = |empty: bool, out: Value| {
        if empty && mode == Removal::Fields {
            None
        } else {
            Some(out)
        }
    };
    match kind_of(shape, [Some(value), None]) {
        Kind::Object(fields) => {
            let Some(map) = non_empty_map(Some(value)) else {
                return Some(value.clone());
            };
            let mut out = Map::new();
            for (key, child) in map {
                let element = Element::Field(key.clone());
                let kept = match tree.child(&element) {
                    Some(sub) if drop(sub, child) => None,
                    Some(sub) if !sub.children.is_empty() => {
                        remove_walk(child, sub, field_shape(fields, key), mode)
                    }
                    _ => Some(child.clone()),
                };
                if let Some(kept) = kept {
                    out.insert(key.clone(), kept);
                }
            }
            emptied(out.is_empty(), Value::Object(out))
        }
        Kind::List(list) => {
            let Some(items) = non_empty_list(Some(value)) else {
                return Some(value.clone());
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let kept = match item_element(list, item).ok().and_then(|e| tree.child(&e)) {
                    Some(sub) if drop(sub, item) => None,
                    Some(sub) if !sub.children.is_empty() => {
                        remove_walk(item, sub, list.item_shape(), mode)
                    }
                    _ => Some(item.clone()),
                };
                out.extend(kept);
            }
            emptied(out.is_empty(), Value::Array(out))
        }
        Kind::Leaf => Some(value.clone()),
    }
}
