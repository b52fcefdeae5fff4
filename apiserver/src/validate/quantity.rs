//! Parsing of resource quantities (`k8s.io/apimachinery/pkg/api/resource`)
//! far enough to compare them and test their sign and integrality, which is
//! all `validateResourceRequirements` needs.

/// The format error upstream returns for an unparsable quantity.
pub(crate) const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A quantity in units of 10^-9, saturating at the i128 range (far beyond
/// anything a real quantity can hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Quantity(pub(crate) i128);

impl Quantity {
    /// Whether the value is a whole number (`MilliValue() % 1000 == 0`).
    pub(crate) fn is_integer(self) -> bool {
        // Upstream checks at milli precision.
        (self.0 / 1_000_000) % 1000 == 0
    }
}

fn pow(base: i128, exp: u32) -> i128 {
    base.checked_pow(exp).unwrap_or(i128::MAX)
}

fn mul(a: i128, b: i128) -> i128 {
    a.checked_mul(b).unwrap_or(if (a < 0) != (b < 0) {
        i128::MIN
    } else {
        i128::MAX
    })
}

/// Parses a quantity given as a JSON string or number.
pub(crate) fn parse_value(v: &serde_json::Value) -> Option<Quantity> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => parse(&n.to_string()),
        _ => None,
    }
}

/// Parses `[+-]digits[.digits](suffix|e[+-]digits)?`.
pub(crate) fn parse(s: &str) -> Option<Quantity> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let num_len = rest
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.')
        .count();
    let (num, suffix) = rest.split_at(num_len);
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return None;
    }
    // Keep at most 30 significant digits; quantities are never that precise.
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let keep = digits.len().min(30);
    let dropped = u32::try_from(digits.len() - keep).ok()?;
    let mantissa: i128 = if keep == 0 {
        0
    } else {
        digits.get(..keep)?.parse().ok()?
    };
    let frac_len = i64::try_from(frac_part.len()).ok()?;
    // value = mantissa * 10^(dropped - frac_len) * multiplier, in nano units.
    let (bin_exp, dec_exp): (u32, i64) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        e if e.starts_with(['e', 'E']) => {
            let x = e.get(1..)?;
            let body = x.strip_prefix(['+', '-']).unwrap_or(x);
            if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) || body.len() > 6 {
                return None;
            }
            (0, x.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let exp10 = i64::from(dropped) - frac_len + dec_exp + 9;
    let mut v = mul(mantissa, pow(2, bin_exp));
    if exp10 >= 0 {
        v = mul(v, pow(10, u32::try_from(exp10.min(60)).ok()?));
    } else {
        let d = pow(10, u32::try_from((-exp10).min(60)).ok()?);
        // Round away from zero, as Quantity rounds up to its smallest scale.
        v = v / d + i128::from(v % d != 0);
    }
    Some(Quantity(if neg { -v } else { v }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Option<i128>)] = &[
            ("1", Some(1_000_000_000)),
            ("500m", Some(500_000_000)),
            ("0.5", Some(500_000_000)),
            ("1Ki", Some(1024 * 1_000_000_000)),
            ("1k", Some(1_000_000_000_000)),
            ("1e3", Some(1_000_000_000_000)),
            ("-1", Some(-1_000_000_000)),
            ("1n", Some(1)),
            (".5", Some(500_000_000)),
            ("abc", None),
            ("1x", None),
            ("", None),
            ("1.2.3", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s).map(|q| q.0), *want, "{s}");
        }
        assert!(parse("2").is_some_and(Quantity::is_integer));
        assert!(!parse("1500m").is_some_and(Quantity::is_integer));
    }
}
