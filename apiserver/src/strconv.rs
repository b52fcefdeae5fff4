//! Go's `strconv` where upstream's error texts come from it: integers parsed as
//! `strconv.ParseInt`/`ParseUint` parse them (with their `NumError` messages, which the API
//! server answers verbatim), and strings quoted as `strconv.Quote` quotes them.

/// Why a number did not parse, as `strconv.ErrSyntax` and `strconv.ErrRange` say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumError {
    /// `ParseInt` or `ParseUint`.
    func: &'static str,
    /// The input.
    num: String,
    /// `invalid syntax` or `value out of range`.
    why: &'static str,
}

impl std::fmt::Display for NumError {
    /// `strconv.ParseInt: parsing "abc": invalid syntax`, as `NumError.Error()`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "strconv.{}: parsing {}: {}",
            self.func,
            quote(&self.num),
            self.why
        )
    }
}

/// `strconv.ParseInt(s, 10, 64)`: an optional sign, then decimal digits only.
pub fn parse_int(s: &str) -> Result<i64, NumError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    number("ParseInt", s, digits, || s.parse::<i64>().ok())
}

/// `strconv.ParseUint(s, 10, 64)`: decimal digits only, no sign.
pub fn parse_uint(s: &str) -> Result<u64, NumError> {
    number("ParseUint", s, s, || s.parse::<u64>().ok())
}

fn number<T>(
    func: &'static str,
    s: &str,
    digits: &str,
    parse: impl FnOnce() -> Option<T>,
) -> Result<T, NumError> {
    let error = |why| NumError {
        func,
        num: s.to_string(),
        why,
    };
    // Rust also takes a `+` where Go's ParseUint does not, so the syntax is checked here.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("invalid syntax"));
    }
    parse().ok_or_else(|| error("value out of range"))
}

/// `strconv.Quote`: double quotes, Go escapes, printable characters kept as they are.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// `unicode.IsPrint` (and `strconv.IsPrint`): letters, marks, numbers, punctuation, symbols
/// and the ASCII space. Without Unicode category tables this rules out what upstream rules
/// out in practice: controls, every space but U+0020, format characters, private use and
/// noncharacters. Unassigned code points are taken as printable.
pub fn is_print(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F);
    let private = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD);
    let nonchar = matches!(u, 0xFDD0..=0xFDEF) || u & 0xFFFE == 0xFFFE;
    !(format || private || nonchar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_and_fail_as_go_does() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("42", Ok(42)),
            ("+7", Ok(7)),
            ("-0", Ok(0)),
            ("007", Ok(7)),
            (
                "abc",
                Err(r#"strconv.ParseInt: parsing "abc": invalid syntax"#),
            ),
            ("", Err(r#"strconv.ParseInt: parsing "": invalid syntax"#)),
            ("-", Err(r#"strconv.ParseInt: parsing "-": invalid syntax"#)),
            (
                "1_000",
                Err(r#"strconv.ParseInt: parsing "1_000": invalid syntax"#),
            ),
            (
                " 1",
                Err(r#"strconv.ParseInt: parsing " 1": invalid syntax"#),
            ),
            (
                "9223372036854775808",
                Err(r#"strconv.ParseInt: parsing "9223372036854775808": value out of range"#),
            ),
        ];
        for (input, want) in cases {
            let got = parse_int(input).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{input:?}");
        }
        assert_eq!(parse_uint("18446744073709551615"), Ok(u64::MAX));
        for bad in ["+1", "-1", "abc", ""] {
            let e = parse_uint(bad).expect_err(bad).to_string();
            assert!(e.ends_with("invalid syntax"), "{e}");
        }
        assert_eq!(
            parse_uint("18446744073709551616").map_err(|e| e.to_string()),
            Err(r#"strconv.ParseUint: parsing "18446744073709551616": value out of range"#.into())
        );
    }

    #[test]
    fn quotes_as_go() {
        assert_eq!(quote("a\"b\n\u{1}"), "\"a\\\"b\\n\\x01\"");
        assert_eq!(quote("é ü"), "\"é ü\"");
        assert_eq!(quote("\u{a0}\u{200b}\u{7f}"), "\"\\u00a0\\u200b\\x7f\"");
        assert_eq!(quote("\u{10ffff}"), "\"\\U0010ffff\"");
    }
}
