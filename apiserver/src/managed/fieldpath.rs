//! Field paths and sets of them, after structured-merge-diff's `fieldpath` package: path
//! elements, their `FieldsV1` serialization (`f:name`, `k:{"name":"web"}`, `v:"x"`, `i:0`),
//! the dotted form conflicts print (`.spec.containers[name="web"].image`) and a prefix tree
//! used to encode sets and to remove them from objects.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// Deepest `FieldsV1` nesting decoded; deeper input is rejected rather than recursed into.
const MAX_DEPTH: usize = 200;

/// One step of a path into an object.
#[derive(Clone, Debug)]
pub(super) enum Element {
    /// A field of a struct or a key of a map.
    Field(String),
    /// An element of an associative list, by its key fields (sorted by name).
    Key(Vec<(String, Value)>),
    /// An element of a set, by its value.
    Value(Value),
    /// An element of a list by position (never produced here; kept when decoding).
    Index(usize),
}

/// A path from the root of an object.
pub(super) type Path = Vec<Element>;

/// A set of paths: the fields one manager owns, or the result of a comparison.
pub(super) type Set = BTreeSet<Path>;

impl Element {
    fn rank(&self) -> u8 {
        match self {
            Element::Field(_) => 0,
            Element::Key(_) => 1,
            Element::Value(_) => 2,
            Element::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key of this element.
    pub(super) fn serialize(&self) -> String {
        match self {
            Element::Field(name) => format!("f:{name}"),
            Element::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| {
                        format!("{}:{}", json(&Value::from(name.as_str())), json(value))
                    })
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            Element::Value(value) => format!("v:{}", json(value)),
            Element::Index(index) => format!("i:{index}"),
        }
    }

    /// Parses a `FieldsV1` key; `Ok(None)` for an unknown element type, which Go skips.
    pub(super) fn deserialize(text: &str) -> Result<Option<Element>, String> {
        let (kind, rest) = match (text.get(..2), text.get(2..)) {
            (Some(kind), Some(rest)) => (kind, rest),
            _ => return Err(format!("key must be 2 characters long: {text}")),
        };
        let Some(kind) = kind.strip_suffix(':') else {
            return Err(format!("missing colon: {text}"));
        };
        Ok(Some(match kind {
            "f" => Element::Field(rest.to_owned()),
            "v" => Element::Value(serde_json::from_str(rest).map_err(|e| e.to_string())?),
            "k" => {
                let Value::Object(map) = serde_json::from_str(rest).map_err(|e| e.to_string())?
                else {
                    return Err(format!("key element is not an object: {text}"));
                };
                let mut fields: Vec<(String, Value)> = map.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Element::Key(fields)
            }
            "i" => Element::Index(rest.parse().map_err(|_| format!("bad index: {text}"))?),
            _ => return Ok(None),
        }))
    }
}

impl Ord for Element {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Element::Field(a), Element::Field(b)) => a.cmp(b),
            (Element::Key(a), Element::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let c = an.cmp(bn).then_with(|| value_cmp(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Element::Value(a), Element::Value(b)) => value_cmp(a, b),
            (Element::Index(a), Element::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Element {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Element {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Element {}

fn json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// structured-merge-diff's `value.Compare`: numbers (compared numerically, ints and floats
/// alike) < strings < booleans < lists < maps < null.
pub(super) fn value_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x.cmp(&y)
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x.cmp(&y)
            } else {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (x, y) in x.iter().zip(y) {
                let c = value_cmp(x, y);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(_), Value::Object(_)) => json(a).cmp(&json(b)),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Deep equality with numbers compared numerically (`1` equals `1.0`), as Go's
/// `value.Equals` does.
pub(super) fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| value_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| value_eq(v, w)))
        }
        _ => value_cmp(a, b) == Ordering::Equal,
    }
}

/// Go's `%q` for the strings kubectl shows in paths and conflict messages.
pub(super) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// structured-merge-diff's `value.ToString`.
fn value_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::String(s) => go_quote(s),
        Value::Array(list) => {
            let items: Vec<String> = list.iter().map(value_string).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", value_string(v)))
            .collect(),
        other => other.to_string(),
    }
}

/// The path as kubectl prints it: `.spec.template.spec.containers[name="web"].image`.
pub(super) fn path_string(path: &[Element]) -> String {
    let mut out = String::new();
    for element in path {
        match element {
            Element::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Element::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={}", value_string(value)))
                    .collect();
                out.push('[');
                out.push_str(&parts.join(","));
                out.push(']');
            }
            Element::Value(value) => out.push_str(&format!("[={}]", value_string(value))),
            Element::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// Go's `Set.Iterate` order: at every level the members first, then the children.
pub(super) fn iterate_order(a: &[Element], b: &[Element]) -> Ordering {
    let mut i = 0;
    loop {
        let (a_end, b_end) = (a.len() == i + 1, b.len() == i + 1);
        match (a.get(i), b.get(i)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (a_end, b_end) {
                (true, false) => return Ordering::Less,
                (false, true) => return Ordering::Greater,
                _ => {
                    let c = x.cmp(y);
                    if c != Ordering::Equal || a_end {
                        return c;
                    }
                }
            },
        }
        i += 1;
    }
}

/// The paths of `set` that neither are in `ignored` nor lie below one of its paths
/// (`Set.RecursiveDifference`, what an exclude filter does).
pub(super) fn recursive_difference(set: &Set, ignored: &Set) -> Set {
    if ignored.is_empty() {
        return set.clone();
    }
    set.iter()
        .filter(|path| !(1..=path.len()).any(|n| ignored.contains(&path[..n])))
        .cloned()
        .collect()
}

/// The set plus every path whose last element is a field and that leads to a path of the set
/// (`EnsureNamedFieldsAreMembers`, treating every object key as a named field).
pub(super) fn with_field_parents(set: &Set) -> Set {
    let mut out = set.clone();
    for path in set {
        for n in 1..path.len() {
            if matches!(path[n - 1], Element::Field(_)) && !out.contains(&path[..n]) {
                out.insert(path[..n].to_vec());
            }
        }
    }
    out
}

/// A set as a prefix tree.
#[derive(Debug, Default)]
pub(super) struct Tree {
    /// Whether the path leading here is in the set.
    pub(super) member: bool,
    /// Longer paths, by their next element.
    pub(super) children: BTreeMap<Element, Tree>,
}

impl Tree {
    /// Builds the tree of a set.
    pub(super) fn of(set: &Set) -> Tree {
        let mut root = Tree::default();
        for path in set {
            let mut node = &mut root;
            for element in path {
                node = node.children.entry(element.clone()).or_default();
            }
            node.member = true;
        }
        root
    }

    /// The subtree below one element, if any path continues there.
    pub(super) fn child(&self, element: &Element) -> Option<&Tree> {
        self.children.get(element)
    }
}

/// The `fieldsV1` JSON of a set: nested objects keyed by serialized elements, `{}` for a
/// member without children and a `"."` key for a member that also has children.
pub(super) fn encode(set: &Set) -> Value {
    fn node(tree: &Tree, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && tree.member && !tree.children.is_empty() {
            out.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, child) in &tree.children {
            out.insert(element.serialize(), Value::Object(node(child, true)));
        }
        out
    }
    Value::Object(node(&Tree::of(set), false))
}

/// Parses `fieldsV1` (`FieldsToSet`).
pub(super) fn decode(fields: &Value) -> Result<Set, String> {
    fn walk(value: &Value, prefix: &mut Path, out: &mut Set, depth: usize) -> Result<bool, String> {
        if depth > MAX_DEPTH {
            return Err("fieldsV1 is nested too deeply".to_owned());
        }
        let Value::Object(map) = value else {
            return Err("fieldsV1 must be made of objects".to_owned());
        };
        let mut member = false;
        let mut children = false;
        for (key, child) in map {
            if key == "." {
                member = true;
                continue;
            }
            let Some(element) = Element::deserialize(key)? else {
                continue;
            };
            children = true;
            prefix.push(element);
            let child_member = walk(child, prefix, out, depth + 1);
            if child_member? {
                out.insert(prefix.clone());
            }
            prefix.pop();
        }
        Ok(member || !children)
    }
    let mut out = Set::new();
    walk(fields, &mut Vec::new(), &mut out, 0)?;
    Ok(out)
}
