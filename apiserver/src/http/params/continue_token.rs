//! `?continue=` tokens, read as the etcd3 store reads them (`storage.DecodeContinue` in
//! `k8s.io/apiserver/pkg/storage/continue.go`): base64url without padding of the JSON
//! `{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key after the prefix>"}`. A token that
//! does not decode is a 400 `invalid continue token: <why>`, the why in Go's words
//! (`encoding/base64`, `encoding/json`), which this module reproduces.

use crate::strconv;

/// A decoded token: the revision of the list it continues and the key it starts at,
/// relative to the list's key prefix (`<namespace>/<name>` or `<name>`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContinueToken {
    pub(crate) rv: i64,
    pub(crate) start: String,
}

const GENERIC: &str = "continue key is not valid";

/// `DecodeContinue`, its error texts included.
pub(crate) fn decode(value: &str) -> Result<ContinueToken, String> {
    let data = base64_raw_url(value).map_err(|e| format!("{GENERIC}: {e}"))?;
    let fields = json_object(&data).map_err(|e| format!("{GENERIC}: {e}"))?;
    if fields.v != "meta.k8s.io/v1" {
        return Err(format!(
            "{GENERIC}: server does not recognize this encoded version {}",
            fields.v
        ));
    }
    if fields.rv == 0 {
        return Err(format!(
            "{GENERIC}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        ));
    }
    if fields.start.is_empty() {
        return Err(format!(
            "{GENERIC}: encoded start key empty (version meta.k8s.io/v1)"
        ));
    }
    // Path traversal: the key must be its own `path.Clean`.
    let key = match fields.start.starts_with('/') {
        true => fields.start.clone(),
        false => format!("/{}", fields.start),
    };
    if clean_rooted(&key) != key {
        return Err(format!("{GENERIC}: {}", fields.start));
    }
    Ok(ContinueToken {
        rv: fields.rv,
        start: key[1..].to_string(),
    })
}

/// `path.Clean` of a path that starts with `/`.
fn clean_rooted(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `base64.RawURLEncoding.DecodeString`: `\r` and `\n` skipped, leftover bits ignored, any
/// other byte outside the alphabet (`=` too) an `illegal base64 data at input byte N`.
fn base64_raw_url(s: &str) -> Result<Vec<u8>, String> {
    let illegal = |at: usize| format!("illegal base64 data at input byte {at}");
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut count = 0;
    let mut last = 0;
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for (i, b) in s.bytes().enumerate() {
        let v = match b {
            b'\r' | b'\n' => continue,
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(illegal(i)),
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        count += 1;
        last = i;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if count % 4 == 1 {
        return Err(illegal(last));
    }
    Ok(out)
}

/// The fields of `continueToken` as `json.Unmarshal` fills them.
#[derive(Debug, Default)]
struct Fields {
    v: String,
    rv: i64,
    start: String,
}

/// A JSON value, numbers kept as their text (Go's type errors quote it).
#[derive(Debug)]
enum Json {
    Null,
    Bool,
    Number(String),
    Str(String),
    Array,
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The kind `UnmarshalTypeError` names.
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "bool",
            Json::Number(_) => "number",
            Json::Str(_) => "string",
            Json::Array => "array",
            Json::Object(_) => "object",
        }
    }
}

/// `json.Unmarshal(data, &continueToken{})`: the syntax checked first (the scanner's
/// messages), then the fields, matched case-insensitively, the first type error reported.
fn json_object(data: &[u8]) -> Result<Fields, String> {
    let mut scan = Scanner { b: data, i: 0 };
    let value = scan.value()?;
    scan.skip_space();
    if let Some(c) = scan.peek() {
        return Err(invalid_char(c, "after top-level value"));
    }
    let mut fields = Fields::default();
    let members = match value {
        Json::Null => return Ok(fields),
        Json::Object(members) => members,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type storage.continueToken",
                other.kind()
            ));
        }
    };
    let mut first_error = None;
    for (key, value) in members {
        let error = match (key.to_lowercase().as_str(), &value) {
            (_, Json::Null) => None,
            ("v", Json::Str(s)) => {
                fields.v = s.clone();
                None
            }
            ("start", Json::Str(s)) => {
                fields.start = s.clone();
                None
            }
            ("rv", Json::Number(text)) => match text.parse::<i64>() {
                Ok(n) => {
                    fields.rv = n;
                    None
                }
                Err(_) => Some(mismatch(&format!("number {text}"), "rv", "int64")),
            },
            ("rv", other) => Some(mismatch(other.kind(), "rv", "int64")),
            (field @ ("v" | "start"), other) => Some(mismatch(other.kind(), field, "string")),
            _ => None,
        };
        if first_error.is_none() {
            first_error = error;
        }
    }
    first_error.map_or(Ok(fields), Err)
}

/// `UnmarshalTypeError.Error()` for a field of `continueToken`.
fn mismatch(shown: &str, field: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {shown} into Go struct field continueToken.{field} of type {go_type}"
    )
}

/// `invalid character 'x' <context>`, the character quoted as the scanner's `quoteChar`.
fn invalid_char(c: u8, context: &str) -> String {
    let quoted = match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            let q = strconv::quote(&char::from(c).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    };
    format!("invalid character {quoted} {context}")
}

const END: &str = "unexpected end of JSON input";

/// A recursive-descent reading of `encoding/json`'s scanner, its errors worded as there.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Result<u8, String> {
        let c = self.peek().ok_or(END)?;
        self.i += 1;
        Ok(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        match self.next()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Json::Str),
            b't' => self.literal("true", Json::Bool),
            b'f' => self.literal("false", Json::Bool),
            b'n' => self.literal("null", Json::Null),
            c @ (b'-' | b'0'..=b'9') => self.number(c),
            c => Err(invalid_char(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                let context = format!("in literal {word} (expecting '{}')", expected as char);
                return Err(invalid_char(c, &context));
            }
        }
        Ok(value)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn number(&mut self, first: u8) -> Result<Json, String> {
        let start = self.i - 1;
        let mut lead = first;
        if first == b'-' {
            lead = self.next()?;
            if !lead.is_ascii_digit() {
                return Err(invalid_char(lead, "in numeric literal"));
            }
        }
        if lead != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid_char(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(invalid_char(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        let text = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        Ok(Json::Number(text))
    }

    fn string(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => return Ok(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => self.escape(&mut out)?,
                c if c < 0x20 => return Err(invalid_char(c, "in string literal")),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let c = self.next()?;
        let simple = match c {
            b'"' | b'\\' | b'/' => c,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut code = 0u32;
                for _ in 0..4 {
                    let h = self.next()?;
                    let digit = char::from(h)
                        .to_digit(16)
                        .ok_or_else(|| invalid_char(h, "in \\u hexadecimal character escape"))?;
                    code = code * 16 + digit;
                }
                // Surrogates decode to U+FFFD here; the token's fields are ASCII anyway.
                let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                out.extend_from_slice(ch.to_string().as_bytes());
                return Ok(());
            }
            _ => return Err(invalid_char(c, "in string escape code")),
        };
        out.push(simple);
        Ok(())
    }

    fn array(&mut self) -> Result<Json, String> {
        self.skip_space();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array);
        }
        loop {
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(Json::Array),
                c => return Err(invalid_char(c, "after array element")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_space();
            match self.next()? {
                b'"' => {}
                c => {
                    return Err(invalid_char(
                        c,
                        "looking for beginning of object key string",
                    ));
                }
            }
            let key = self.string()?;
            self.skip_space();
            match self.next()? {
                b':' => {}
                c => return Err(invalid_char(c, "after object key")),
            }
            members.push((key, self.value()?));
            self.skip_space();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(Json::Object(members)),
                c => return Err(invalid_char(c, "after object key:value pair")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn token(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn tokens_decode_as_upstream_and_fail_in_its_words() {
        let ok = token(r#"{"v":"meta.k8s.io/v1","rv":12,"start":"default/web\u0000"}"#);
        assert_eq!(
            decode(&ok),
            Ok(ContinueToken {
                rv: 12,
                start: "default/web\0".into()
            })
        );
        let g = GENERIC;
        let cases: Vec<(String, String)> = vec![
            (
                "garbage".into(),
                format!(r"{g}: invalid character '\u0081' looking for beginning of value"),
            ),
            (
                "a=".into(),
                format!("{g}: illegal base64 data at input byte 1"),
            ),
            (
                "abcde".into(),
                format!("{g}: illegal base64 data at input byte 4"),
            ),
            (token(""), format!("{g}: unexpected end of JSON input")),
            (
                token("{\"v\" 1}"),
                format!("{g}: invalid character '1' after object key"),
            ),
            (
                token("{} x"),
                format!("{g}: invalid character 'x' after top-level value"),
            ),
            (
                token("[1 2]"),
                format!("{g}: invalid character '2' after array element"),
            ),
            (token("tru"), format!("{g}: unexpected end of JSON input")),
            (
                token("nul1"),
                format!("{g}: invalid character '1' in literal null (expecting 'l')"),
            ),
            (
                token("-x"),
                format!("{g}: invalid character 'x' in numeric literal"),
            ),
            (
                token("{'a'"),
                format!(r"{g}: invalid character '\'' looking for beginning of object key string"),
            ),
            (
                token("\"x\""),
                format!(
                    "{g}: json: cannot unmarshal string into Go value of type storage.continueToken"
                ),
            ),
            (
                token(r#"{"rv":"1"}"#),
                format!(
                    "{g}: json: cannot unmarshal string into Go struct field continueToken.rv of type int64"
                ),
            ),
            (
                token(r#"{"rv":1.5}"#),
                format!(
                    "{g}: json: cannot unmarshal number 1.5 into Go struct field continueToken.rv of type int64"
                ),
            ),
            (
                token(r#"{"v":3}"#),
                format!(
                    "{g}: json: cannot unmarshal number into Go struct field continueToken.v of type string"
                ),
            ),
            (
                token("{}"),
                format!("{g}: server does not recognize this encoded version "),
            ),
            (
                token(r#"{"V":"meta.k8s.io/v1","start":"a"}"#),
                format!("{g}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"),
            ),
            (
                token(r#"{"v":"meta.k8s.io/v1","rv":3}"#),
                format!("{g}: encoded start key empty (version meta.k8s.io/v1)"),
            ),
            (
                token(r#"{"v":"meta.k8s.io/v1","rv":3,"start":"../x"}"#),
                format!("{g}: ../x"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(decode(&input), Err(want), "{input}");
        }
    }
}
