//! Label and field selectors, as `?labelSelector=` and `?fieldSelector=` carry them.
//!
//! Ported from apimachinery, error texts included, since the API server answers them verbatim:
//! - labels: the lexer and recursive-descent parser of `pkg/labels/selector.go` (`Parse`):
//!   requirements joined by commas; `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//!   `k notin (a,b)`, `k>1`, `k<1`; keys and values validated as `NewRequirement` does;
//! - fields: `pkg/fields/selector.go` (`ParseSelector`): `path=v`, `path==v`, `path!=v` with
//!   `\`-escapes;
//! - which field labels a kind supports ([`FieldSelector::for_kind`]): the
//!   `AddFieldLabelConversionFunc`s of `pkg/apis/core/v1/conversion.go`, and
//!   `runtime.DefaultMetaV1FieldSelectorConversion` for every other kind; and the value each
//!   label selects (the `ToSelectableFields` of each kind's registry strategy).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::status::ApiError;
use crate::validate::{ErrorType, FieldError, label_value, qualified_name};

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    /// Parses `?labelSelector=`; a malformed selector is upstream's 400 and message.
    pub fn parse(s: &str) -> Result<LabelSelector, ApiError> {
        Parser::new(s)
            .parse()
            .map(LabelSelector)
            .map_err(ApiError::BadRequest)
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
        let number = |k: &str| get(k).and_then(|v| crate::strconv::parse_int(v).ok());
        self.0.iter().all(|req| match req {
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
            LabelReq::In(k, set) => get(k).is_some_and(|v| set.iter().any(|s| s == v)),
            LabelReq::NotIn(k, set) => get(k).is_none_or(|v| !set.iter().any(|s| s == v)),
            LabelReq::Gt(k, n) => number(k).is_some_and(|v| v > *n),
            LabelReq::Lt(k, n) => number(k).is_some_and(|v| v < *n),
        })
    }
}

/// A token of the label selector lexer (`Token` in `selector.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// `string2token`.
fn keyword(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// The byte lexer of `selector.go`. A NUL byte reads as the end of the input, as there.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        loop {
            match self.read() {
                0 => break,
                ch if is_special(ch) || is_whitespace(ch) => {
                    self.unread();
                    break;
                }
                ch => buffer.push(ch),
            }
        }
        let text = String::from_utf8_lossy(&buffer).into_owned();
        (keyword(&buffer).unwrap_or(Token::Identifier), text)
    }

    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        let mut last = None;
        loop {
            match self.read() {
                0 => break,
                ch if is_special(ch) => {
                    buffer.push(ch);
                    if let Some(token) = keyword(&buffer) {
                        last = Some((token, String::from_utf8_lossy(&buffer).into_owned()));
                    } else if last.is_some() {
                        self.unread();
                        break;
                    }
                }
                _ => {
                    self.unread();
                    break;
                }
            }
        }
        last.unwrap_or_else(|| {
            let found = String::from_utf8_lossy(&buffer).into_owned();
            (
                Token::Error,
                format!("error expected: keyword found '{found}'"),
            )
        })
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::End, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special_symbol()
        } else {
            self.scan_id_or_keyword()
        }
    }
}

/// A requirement's operator (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    Exists,
    DoesNotExist,
}

/// The recursive-descent parser of `selector.go`, over the scanned tokens.
struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

/// Whether `in` and `notin` read as identifiers (`Values`) or operators (`KeyAndOperator`).
#[derive(Clone, Copy, PartialEq)]
enum Context {
    KeyAndOperator,
    Values,
}

type Parsed<T> = Result<T, String>;

impl Parser {
    fn new(selector: &str) -> Parser {
        let mut lexer = Lexer {
            s: selector.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::End;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn token(&self, at: usize, context: Context) -> (Token, String) {
        let (token, text) = self
            .items
            .get(at)
            .cloned()
            .unwrap_or((Token::End, String::new()));
        match token {
            Token::In | Token::NotIn if context == Context::Values => (Token::Identifier, text),
            _ => (token, text),
        }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        self.token(self.position, context)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        self.position += 1;
        self.token(self.position - 1, context)
    }

    fn parse(&mut self) -> Parsed<Vec<LabelReq>> {
        use Token::*;
        let mut reqs = Vec::new();
        loop {
            let (token, text) = self.lookahead(Context::Values);
            match token {
                Identifier | DoesNotExist => {
                    let req = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(req);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        End => return Ok(reqs),
                        Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Identifier && t2 != DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                End => return Ok(reqs),
                _ => {
                    return Err(format!(
                        "found '{text}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Parsed<LabelReq> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return requirement(key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Op::In | Op::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        requirement(key, op, values.into_iter().collect())
    }

    fn parse_key_and_infer_operator(&mut self) -> Parsed<(String, Option<Op>)> {
        let (mut token, mut text) = self.consume(Context::Values);
        let mut op = None;
        if token == Token::DoesNotExist {
            op = Some(Op::DoesNotExist);
            (token, text) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{text}', expected: identifier"));
        }
        // The parser's own path is nil, which field.Path prints as `<nil>`.
        if let Some(e) = label_key_error(&text, "<nil>") {
            return Err(e.to_string());
        }
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::End | Token::Comma) && op != Some(Op::DoesNotExist) {
            op = Some(Op::Exists);
        }
        Ok((text, op))
    }

    fn parse_operator(&mut self) -> Parsed<Op> {
        let (token, text) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Op::In,
            Token::Equals => Op::Equals,
            Token::DoubleEquals => Op::DoubleEquals,
            Token::GreaterThan => Op::GreaterThan,
            Token::LessThan => Op::LessThan,
            Token::NotIn => Op::NotIn,
            Token::NotEquals => Op::NotEquals,
            _ => {
                return Err(format!(
                    "found '{text}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Parsed<BTreeSet<String>> {
        let (token, text) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{text}' expected: '('"));
        }
        let (token, text) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{text}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{text}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Parsed<BTreeSet<String>> {
        let mut set = BTreeSet::new();
        loop {
            let (token, text) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    set.insert(text);
                    let (next, next_text) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{next_text}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            set.insert(String::new());
                            return Ok(set);
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{text}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Parsed<BTreeSet<String>> {
        if matches!(self.lookahead(Context::Values).0, Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.consume(Context::Values) {
            (Token::Identifier, text) => Ok(BTreeSet::from([text])),
            (_, text) => Err(format!("found '{text}', expected: identifier")),
        }
    }
}

/// `validateLabelKey`.
fn label_key_error(key: &str, path: &str) -> Option<FieldError> {
    let msgs = qualified_name(key);
    (!msgs.is_empty()).then(|| invalid(path.to_string(), Value::from(key), &msgs.join("; ")))
}

fn invalid(field: String, value: Value, detail: &str) -> FieldError {
    FieldError {
        error_type: ErrorType::Invalid,
        field,
        bad_value: Some(value),
        detail: detail.to_string(),
    }
}

/// `NewRequirement`: the requirement, or its field errors as one aggregate message.
fn requirement(key: String, op: Op, values: Vec<String>) -> Parsed<LabelReq> {
    let mut errs: Vec<FieldError> = label_key_error(&key, "key").into_iter().collect();
    let list = || Value::from(values.clone());
    let mut numbers = Vec::new();
    match op {
        Op::In | Op::NotIn if values.is_empty() => errs.push(invalid(
            "values".into(),
            list(),
            "for 'in', 'notin' operators, values set can't be empty",
        )),
        Op::Equals | Op::DoubleEquals | Op::NotEquals if values.len() != 1 => errs.push(invalid(
            "values".into(),
            list(),
            "exact-match compatibility requires one single value",
        )),
        Op::Exists | Op::DoesNotExist if !values.is_empty() => errs.push(invalid(
            "values".into(),
            list(),
            "values set must be empty for exists and does not exist",
        )),
        Op::GreaterThan | Op::LessThan => {
            if values.len() != 1 {
                errs.push(invalid(
                    "values".into(),
                    list(),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in values.iter().enumerate() {
                match crate::strconv::parse_int(v) {
                    Ok(n) => numbers.push(n),
                    Err(_) => errs.push(invalid(
                        format!("values[{i}]"),
                        Value::from(v.as_str()),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    )),
                }
            }
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let msgs = label_value(v);
        if !msgs.is_empty() {
            let field = format!("values[{i}][{key}]");
            errs.push(invalid(field, Value::from(v.as_str()), &msgs.join("; ")));
        }
    }
    if !errs.is_empty() {
        return Err(aggregate(&errs));
    }
    Ok(match op {
        Op::In | Op::Equals | Op::DoubleEquals => LabelReq::In(key, values),
        Op::NotIn | Op::NotEquals => LabelReq::NotIn(key, values),
        Op::Exists => LabelReq::Exists(key),
        Op::DoesNotExist => LabelReq::NotExists(key),
        Op::GreaterThan => LabelReq::Gt(key, numbers.first().copied().unwrap_or(0)),
        Op::LessThan => LabelReq::Lt(key, numbers.first().copied().unwrap_or(0)),
    })
}

/// `utilerrors.NewAggregate(...).Error()`: one message, or `[a, b]` without repeats.
fn aggregate(errs: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let text = e.to_string();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    match seen.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// One field requirement: `field=value` (`hasTerm`) or `field!=value` (`notHasTerm`).
#[derive(Debug, Clone, PartialEq)]
struct Term {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed field selector; empty matches everything. [`FieldSelector::for_kind`] checks its
/// labels against a kind and binds the values they select.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<Term>,
    kind: &'static str,
}

impl FieldSelector {
    /// Parses `?fieldSelector=` (`fields.ParseSelector`); a malformed selector is a 400.
    pub fn parse(s: &str) -> Result<FieldSelector, ApiError> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, op, rhs)) = split_term(part) else {
                return Err(ApiError::BadRequest(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            terms.push(Term {
                field: field.to_string(),
                equal: op != "!=",
                value: unescape_value(rhs).map_err(ApiError::BadRequest)?,
            });
        }
        Ok(FieldSelector { terms, kind: "" })
    }

    /// The selector for objects of `kind`, with every label converted as the kind's
    /// field-label conversion does; a label the kind does not support is upstream's 400.
    pub fn for_kind(self, kind: &'static str) -> Result<FieldSelector, ApiError> {
        let terms = self
            .terms
            .into_iter()
            .map(|t| {
                let field = convert_label(kind, &t.field).map_err(ApiError::BadRequest)?;
                Ok(Term { field, ..t })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(FieldSelector { terms, kind })
    }

    /// Whether the object's selectable fields satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value(self.kind, &t.field, object) == t.value) == t.equal)
    }

    /// The value of `metadata.name=` if the selector pins one name (watch fast path).
    pub fn pinned_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.equal && t.field == "metadata.name")
            .map(|t| t.value.as_str())
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// `splitTerms`: commas split terms unless escaped with `\` (the escape is kept).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// `splitTerm`: the first `!=`, `==` or `=` splits the term.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        for op in ["!=", "==", "="] {
            if term[i..].starts_with(op) {
                return Some((&term[..i], op, &term[i + op.len()..]));
            }
        }
    }
    None
}

/// `UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go prints the rune with %v: its code point.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".into());
    }
    Ok(out)
}

/// The field labels of the kinds with their own conversion (`pkg/apis/core/v1/conversion.go`).
fn kind_labels(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        "Node" => &["metadata.name", "spec.unschedulable"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ],
        "Namespace" => &["status.phase", "metadata.name"],
        "Secret" => &["type", "metadata.namespace", "metadata.name"],
        "Service" => &[
            "metadata.namespace",
            "metadata.name",
            "spec.clusterIP",
            "spec.type",
        ],
        _ => return None,
    })
}

/// `ConvertFieldLabel`: the label a kind selects on, or upstream's refusal.
fn convert_label(kind: &str, label: &str) -> Result<String, String> {
    if kind == "Pod" && label == "spec.host" {
        // Old v1 clients send spec.host.
        return Ok("spec.nodeName".into());
    }
    match kind_labels(kind) {
        Some(labels) if labels.contains(&label) => Ok(label.into()),
        Some(_) => Err(format!("field label not supported: {label}")),
        None if matches!(label, "metadata.name" | "metadata.namespace") => Ok(label.into()),
        None => Err(format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            crate::strconv::quote(label)
        )),
    }
}

/// The value a field label selects on an object (`ToSelectableFields`); a field the object
/// does not have is `""`, as `fields.Set.Get` answers.
fn field_value(kind: &str, label: &str, obj: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let flag = |v: &Value| v.as_bool().unwrap_or(false).to_string();
    match (kind, label) {
        ("Pod", "spec.hostNetwork") => flag(&obj["spec"]["hostNetwork"]),
        ("Node", "spec.unschedulable") => flag(&obj["spec"]["unschedulable"]),
        // The first of status.podIPs (status.podIP converts into it).
        ("Pod", "status.podIP") => match obj["status"]["podIPs"][0]["ip"].as_str() {
            Some(ip) => ip.to_string(),
            None => text(&obj["status"]["podIP"]),
        },
        // Accepted by the conversion but not among the selectable fields.
        ("Pod", "status.podIPs") => String::new(),
        ("Event", "source") => match obj["source"]["component"].as_str() {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => text(&obj["reportingComponent"]),
        },
        _ => text(label.split('.').fold(obj, |v, seg| &v[seg])),
    }
}

#[cfg(test)]
mod tests;
