//! Duplicate keys in a JSON body, found as `sigs.k8s.io/json`'s strict decoding finds them
//! (`UnmarshalStrict`, `DisallowDuplicateFields`): a key seen twice in one object is a
//! `duplicate field "<path>"` error, the path dotted from the root with `[i]` for list
//! items (`newFieldError`). The API server makes them one 400 `strict decoding error` with
//! `fieldValidation=Strict`, warnings with `Warn`, and says nothing with `Ignore`.
//!
//! A parsed `serde_json::Value` keeps only the last of duplicate keys, so this reads the
//! bytes, which the caller has already parsed successfully (any malformed input simply ends
//! the walk).

/// `duplicate field "<path>"` for each repeated key, in document order.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut walk = Walk {
        b: body,
        i: 0,
        found: Vec::new(),
    };
    walk.value(&mut String::new());
    walk.found
}

struct Walk<'a> {
    b: &'a [u8],
    i: usize,
    found: Vec<String>,
}

impl Walk<'_> {
    fn skip_space(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.b.get(self.i).copied()
    }

    /// One value at `path`; `None` when the input ends or is malformed.
    fn value(&mut self, path: &mut String) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(path),
            b'[' => self.array(path),
            b'"' => self.string().map(|_| ()),
            _ => {
                // A number or a literal: up to the next delimiter.
                while !matches!(self.b.get(self.i), None | Some(b',' | b'}' | b']'))
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }

    /// A string's decoded text (the cursor on its opening quote).
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.b.get(self.i)? {
                b'\\' => self.i += 2,
                b'"' => break,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        serde_json::from_slice(&self.b[start..self.i]).ok()
    }

    fn object(&mut self, path: &mut String) -> Option<()> {
        self.i += 1;
        let mut seen = std::collections::HashSet::new();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key);
            if !seen.insert(key) {
                self.found
                    .push(format!("duplicate field {}", crate::strconv::quote(path)));
            }
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.value(path)?;
            path.truncate(len);
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, path: &mut String) -> Option<()> {
        self.i += 1;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        for index in 0.. {
            let len = path.len();
            path.push_str(&format!("[{index}]"));
            self.value(path)?;
            path.truncate(len);
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_named_by_their_path() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{"a":1,"b":2}"#, &[]),
            (
                r#"{"kind":"Pod","kind":"Pod"}"#,
                &[r#"duplicate field "kind""#],
            ),
            (
                r#"{"metadata":{"name":"a","labels":{"x":"1","x":"2"},"name":"b"}}"#,
                &[
                    r#"duplicate field "metadata.labels.x""#,
                    r#"duplicate field "metadata.name""#,
                ],
            ),
            (
                r#"{"spec":{"containers":[{"name":"a"},{"name":"b","image":"i","image":"j"}]}}"#,
                &[r#"duplicate field "spec.containers[1].image""#],
            ),
            (r#"{"a\u0062":1,"ab":2}"#, &[r#"duplicate field "ab""#]),
            (r#"{"a":{"x":1},"b":{"x":1}}"#, &[]),
            (r#"[{"a":1,"a":2}]"#, &[r#"duplicate field "[0].a""#]),
        ];
        for (body, want) in cases {
            assert_eq!(duplicate_fields(body.as_bytes()), *want, "{body}");
        }
    }
}
