//! Go's `time.ParseDuration`, for the `?timeout=` every non-long-running request may carry
//! (`WithRequestDeadline` answers 400 with its error text when it does not parse).

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const LIMIT: u64 = 1 << 63;

/// The duration in nanoseconds, or Go's error text (`time: invalid duration "abc"`).
pub(crate) fn parse(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let (neg, mut s) = match orig.as_bytes().first() {
        Some(b'-') => (true, &orig[1..]),
        Some(b'+') => (false, &orig[1..]),
        _ => (false, orig),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let (value, rest) = component(s, orig)?;
        s = rest;
        total = total
            .checked_add(value)
            .filter(|t| *t <= LIMIT)
            .ok_or_else(invalid)?;
    }
    match (neg, i64::try_from(total)) {
        (true, _) => Ok(0i64.wrapping_sub_unsigned(total)),
        (false, Ok(d)) => Ok(d),
        (false, Err(_)) => Err(invalid()),
    }
}

/// One `[0-9]*(\.[0-9]*)?[a-z]+` component: its nanoseconds and the rest of the input.
fn component<'a>(s: &'a str, orig: &str) -> Result<(u64, &'a str), String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
        return Err(invalid());
    }
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut v: u64 = 0;
    for b in s[..int_len].bytes() {
        // leadingInt: overflow is an invalid duration.
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .filter(|v| *v <= LIMIT)
            .ok_or_else(invalid)?;
    }
    let mut rest = &s[int_len..];
    let (mut f, mut scale, mut frac_len) = (0u64, 1f64, 0);
    if let Some(after) = rest.strip_prefix('.') {
        frac_len = after.bytes().take_while(u8::is_ascii_digit).count();
        let mut overflow = false;
        for b in after[..frac_len].bytes() {
            // leadingFraction: digits past what fits are dropped.
            if overflow || f > (LIMIT - 1) / 10 {
                overflow = true;
                continue;
            }
            let y = f * 10 + u64::from(b - b'0');
            if y > LIMIT {
                overflow = true;
                continue;
            }
            f = y;
            scale *= 10.0;
        }
        rest = &after[frac_len..];
    }
    if int_len == 0 && frac_len == 0 {
        return Err(invalid());
    }
    let unit_len = rest
        .find(|c: char| c == '.' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    if unit_len == 0 {
        return Err(format!("time: missing unit in duration {}", quote(orig)));
    }
    let (unit, rest) = rest.split_at(unit_len);
    let Some(&(_, scale_ns)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(format!(
            "time: unknown unit {} in duration {}",
            quote(unit),
            quote(orig)
        ));
    };
    if v > LIMIT / scale_ns {
        return Err(invalid());
    }
    let mut ns = v * scale_ns;
    if f > 0 {
        // Go adds the fraction through float64, exactly so.
        ns += (f as f64 * (scale_ns as f64 / scale)) as u64;
        if ns > LIMIT {
            return Err(invalid());
        }
    }
    Ok((ns, rest))
}

/// The `time` package's own `quote`: `"` and `\` escaped, other bytes outside printable
/// ASCII as `\xNN`.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) < 0x20 || (c as u32) >= 0x80 {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_fail_as_go_does() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("0", Ok(0)),
            ("-0", Ok(0)),
            ("32s", Ok(32_000_000_000)),
            ("1h2m3.5s", Ok(3_723_500_000_000)),
            ("1.5µs", Ok(1_500)),
            (".5ms", Ok(500_000)),
            ("-2m", Ok(-120_000_000_000)),
            ("", Err(r#"time: invalid duration """#)),
            ("abc", Err(r#"time: invalid duration "abc""#)),
            ("5", Err(r#"time: missing unit in duration "5""#)),
            ("5x", Err(r#"time: unknown unit "x" in duration "5x""#)),
            ("1.s", Ok(1_000_000_000)),
            (".s", Err(r#"time: invalid duration ".s""#)),
            (
                "9999999999h",
                Err(r#"time: invalid duration "9999999999h""#),
            ),
            (
                "3é",
                Err(r#"time: unknown unit "\xc3\xa9" in duration "3\xc3\xa9""#),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), want.map_err(str::to_string), "{input:?}");
        }
    }
}
