//! Label and field selectors, as `?labelSelector=` and `?fieldSelector=` carry them.
//!
//! The grammar is apimachinery's (`pkg/labels/selector.go`, `pkg/fields/selector.go`):
//! requirements joined by commas; labels take `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`
//! and `k notin (a,b)`; fields take `path=v`, `path==v` and `path!=v`, where the path is a
//! dotted path into the object (`metadata.name`, `spec.nodeName`, `involvedObject.uid`).

use serde_json::Value;

use crate::status::ApiError;

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// A parsed field selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn bad(kind: &str, s: &str, why: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "unable to parse requirement: {kind} selector {s:?}: {why}"
    ))
}

impl LabelSelector {
    /// Parses `?labelSelector=`.
    pub fn parse(s: &str) -> Result<LabelSelector, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err(bad("label", s, "empty requirement"));
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                LabelReq::NotExists(key.trim().to_string())
            } else if let Some((key, value)) = part.split_once("!=") {
                LabelReq::NotIn(key.trim().into(), vec![value.trim().into()])
            } else if let Some((key, value)) = part.split_once("==") {
                LabelReq::In(key.trim().into(), vec![value.trim().into()])
            } else if let Some((key, value)) = part.split_once('=') {
                LabelReq::In(key.trim().into(), vec![value.trim().into()])
            } else if let Some((key, set)) = split_set(part, " notin ") {
                LabelReq::NotIn(key, set)
            } else if let Some((key, set)) = split_set(part, " in ") {
                LabelReq::In(key, set)
            } else if part.contains(['(', ')', ' ']) {
                return Err(bad("label", s, "expected one of: =, ==, !=, in, notin"));
            } else {
                LabelReq::Exists(part.to_string())
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// Builds the selector `k1=v1,k2=v2` of a map (a Service or ReplicaSet selector).
    pub fn from_map(map: &serde_json::Map<String, Value>) -> LabelSelector {
        LabelSelector(
            map.iter()
                .map(|(k, v)| LabelReq::In(k.clone(), vec![v.as_str().unwrap_or("").to_string()]))
                .collect(),
        )
    }

    /// Builds the selector of a `metav1.LabelSelector` object (`matchLabels` and
    /// `matchExpressions`). A missing selector matches nothing; an empty one everything
    /// (`metav1.LabelSelectorAsSelector`).
    pub fn from_label_selector(selector: &Value) -> Option<LabelSelector> {
        if !selector.is_object() {
            return None;
        }
        let mut reqs = Vec::new();
        if let Some(labels) = selector["matchLabels"].as_object() {
            reqs.extend(LabelSelector::from_map(labels).0);
        }
        for expr in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = expr["key"].as_str().unwrap_or("").to_string();
            let values: Vec<String> = expr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            reqs.push(match expr["operator"].as_str().unwrap_or("") {
                "In" => LabelReq::In(key, values),
                "NotIn" => LabelReq::NotIn(key, values),
                "Exists" => LabelReq::Exists(key),
                "DoesNotExist" => LabelReq::NotExists(key),
                _ => return None,
            });
        }
        Some(LabelSelector(reqs))
    }

    /// Whether a label map (not a whole object) satisfies the selector.
    pub fn matches_labels(&self, labels: &Value) -> bool {
        self.matches(&serde_json::json!({"metadata": {"labels": labels}}))
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
            LabelReq::In(k, set) => get(k).is_some_and(|v| set.iter().any(|s| s == v)),
            LabelReq::NotIn(k, set) => get(k).is_none_or(|v| !set.iter().any(|s| s == v)),
        })
    }
}

fn split_set(part: &str, op: &str) -> Option<(String, Vec<String>)> {
    let (key, rest) = part.split_once(op)?;
    let rest = rest.trim();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    let set = inner
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some((key.trim().to_string(), set))
}

impl FieldSelector {
    /// Parses `?fieldSelector=`.
    pub fn parse(s: &str) -> Result<FieldSelector, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for part in s.split(',') {
            let (path, equal, value) = if let Some((p, v)) = part.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = part.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = part.split_once('=') {
                (p, true, v)
            } else {
                return Err(bad("field", s, "expected =, == or !="));
            };
            reqs.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the object's fields satisfy the selector. A missing field reads as `""`.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut cur = object;
            for seg in path.split('.') {
                cur = &cur[seg];
            }
            let actual = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }

    /// The value of `metadata.name=` if the selector pins one name (watch fast path).
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, eq, _)| *eq && p == "metadata.name")
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(selector: &str, labels: Value, expected: bool) {
        let sel = LabelSelector::parse(selector).expect("parse");
        let obj = json!({"metadata": {"labels": labels}});
        assert_eq!(sel.matches(&obj), expected, "{selector} on {labels}");
    }

    #[test]
    fn label_selectors() {
        check("", json!({}), true);
        check("app=web", json!({"app": "web"}), true);
        check("app==web", json!({"app": "api"}), false);
        check("app!=web", json!({}), true);
        check("app", json!({"app": ""}), true);
        check("!app", json!({"app": "x"}), false);
        check("env in (a, b),app", json!({"env": "b", "app": "x"}), true);
        check("env notin (a,b)", json!({"env": "a"}), false);
        check("env notin (a,b)", json!({}), true);
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("a,,b").is_err());
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "p1", "namespace": "default"}, "spec": {"nodeName": "n"}, "count": 3});
        let yes = |s: &str| FieldSelector::parse(s).expect("parse").matches(&obj);
        assert!(yes("metadata.name=p1"));
        assert!(yes("metadata.name==p1,metadata.namespace=default"));
        assert!(!yes("metadata.name!=p1"));
        assert!(yes("spec.nodeName=n,status.phase="));
        assert!(yes("count=3"));
        assert!(FieldSelector::parse("nonsense").is_err());
        assert_eq!(
            FieldSelector::parse("metadata.name=x")
                .expect("parse")
                .pinned_name(),
            Some("x")
        );
    }
}
