//! String-format checks, hand-written equivalents of the regexes in
//! apimachinery `pkg/util/validation/validation.go` (v0.32) and
//! `pkg/api/validation/path/name.go`. Each returns upstream's list of
//! messages (empty when valid), so callers can wrap them in field errors.

/// `MaxLenError`.
fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `RegexError(msg, fmt, examples...)`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    // Upstream appends "'ex', " per example and " or " between them, which
    // yields the double space in "'a',  or 'b', ".
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

/// `InclusiveRangeError`.
pub(crate) fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QNAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QNAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => alnum(f) && alnum(l) && b.iter().all(|&c| alnum(c) || c == b'-'),
        _ => false,
    }
}

fn is_subdomain_chars(s: &str) -> bool {
    s.split('.').all(is_label_chars)
}

/// `IsDNS1123Label`.
pub(crate) fn dns1123_label(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push(max_len(63));
    }
    if !is_label_chars(v) {
        if is_subdomain_chars(v) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `IsDNS1123Subdomain`.
pub(crate) fn dns1123_subdomain(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 253 {
        errs.push(max_len(253));
    }
    if !is_subdomain_chars(v) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `IsDNS1035Label`.
pub(crate) fn dns1035_label(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push(max_len(63));
    }
    let starts_alpha = v.as_bytes().first().is_some_and(u8::is_ascii_lowercase);
    if !(starts_alpha && is_label_chars(v)) {
        errs.push(regex_error(
            DNS1035_LABEL_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Replaces a trailing '-' as `maskTrailingDash` does for generateName prefixes.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        // Upstream: name[:len(name)-2] + "a" (drops two bytes, appends 'a').
        let cut = name.len() - 2;
        match name.get(..cut) {
            Some(p) => format!("{p}a"),
            None => name.to_string(),
        }
    } else {
        name.to_string()
    }
}

/// `NameIsDNSSubdomain(name, prefix)`.
pub(crate) fn name_subdomain(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        return dns1123_subdomain(&mask_trailing_dash(name));
    }
    dns1123_subdomain(name)
}

/// `NameIsDNSLabel(name, prefix)` (also `ValidateNamespaceName`).
pub(crate) fn name_label(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        return dns1123_label(&mask_trailing_dash(name));
    }
    dns1123_label(name)
}

/// `NameIsDNS1035Label(name, prefix)` (Service names).
pub(crate) fn name_1035(name: &str, prefix: bool) -> Vec<String> {
    if prefix {
        return dns1035_label(&mask_trailing_dash(name));
    }
    dns1035_label(name)
}

/// `path.ValidatePathSegmentName`, the rule the generic registry applies to
/// every kind's name.
pub(crate) fn path_segment_name(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for bad in [".", ".."] {
            if name == bad {
                return vec![format!("may not be '{bad}'")];
            }
        }
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

fn is_qname_chars(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        }
        _ => false,
    }
}

/// `IsQualifiedName`: label keys, annotation keys, finalizers...
pub(crate) fn qualified_name(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = v.split('/').collect();
    let name = match parts.as_slice() {
        [n] => *n,
        [prefix, n] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for m in dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *n
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QNAME_MSG, QNAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len(63)));
    }
    if !is_qname_chars(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QNAME_MSG, QNAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// `IsValidLabelValue`.
pub(crate) fn label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push(max_len(63));
    }
    if !(v.is_empty() || is_qname_chars(v)) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// `IsValidPortName` (IANA_SVC_NAME).
pub(crate) fn port_name(p: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if p.len() > 15 {
        errs.push(max_len(15));
    }
    if p.is_empty()
        || !p
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !p.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if p.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if p.starts_with('-') || p.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// `IsValidPortNum`.
pub(crate) fn port_num(p: i64) -> Vec<String> {
    if (1..=65535).contains(&p) {
        Vec::new()
    } else {
        vec![inclusive_range(1, 65535)]
    }
}

fn chdir_prefix(v: &str) -> Vec<String> {
    if v == "." {
        vec!["must not be '.'".to_string()]
    } else if v == ".." {
        vec!["must not be '..'".to_string()]
    } else if v.starts_with("..") {
        vec!["must not start with '..'".to_string()]
    } else {
        Vec::new()
    }
}

/// `IsConfigMapKey` (ConfigMap and Secret data keys).
pub(crate) fn config_map_key(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 253 {
        errs.push(max_len(253));
    }
    if v.is_empty()
        || !v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
    {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errs.extend(chdir_prefix(v));
    errs
}

/// `IsRelaxedEnvVarName`: the RelaxedEnvironmentVariableValidation gate is
/// beta and on by default in 1.32, so any printable ASCII except '=' passes.
pub(crate) fn env_var_name(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if v.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    errs
}

/// `IsValidPercent`.
pub(crate) fn percent(v: &str) -> Vec<String> {
    let digits = v.strip_suffix('%').unwrap_or("");
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid percent string must be a numeric string followed by an ending '%'",
            "[0-9]+%",
            &["1%", "93%"],
        )]
    }
}

/// `IsHTTPHeaderName`.
pub(crate) fn http_header_name(v: &str) -> Vec<String> {
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            "[-A-Za-z0-9]+",
            &["X-Header-Name"],
        )]
    }
}

/// `IsFullyQualifiedDomainName` messages (without the Required case).
pub(crate) fn fqdn(name: &str) -> Vec<(String, String)> {
    let n = name.strip_suffix('.').unwrap_or(name);
    let errs = dns1123_subdomain(n);
    if !errs.is_empty() {
        return vec![(n.to_string(), errs.join(","))];
    }
    if n.split('.').count() < 2 {
        return vec![(
            n.to_string(),
            "should be a domain with at least two segments separated by dots".to_string(),
        )];
    }
    for label in n.split('.') {
        let e = dns1123_label(label);
        if !e.is_empty() {
            return vec![(label.to_string(), e.join(","))];
        }
    }
    Vec::new()
}

// ---------------------------------------------------------------------------
// IP addresses, parsed like Go's net.ParseIP via netutils.ParseIPSloppy
// (which also accepts IPv4 octets with leading zeros).

/// A parsed IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ip {
    V4([u8; 4]),
    V6([u16; 8]),
}

fn parse_v4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n >= 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let v: u16 = part.parse().ok()?;
        *out.get_mut(n)? = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then_some(out)
}

fn parse_v6(s: &str) -> Option<[u16; 8]> {
    // Split on "::" at most once.
    let (head, tail, compressed) = match s.find("::") {
        Some(i) => (s.get(..i)?, s.get(i + 2..)?, true),
        None => (s, "", false),
    };
    let mut groups: Vec<u16> = Vec::new();
    let mut tail_groups: Vec<u16> = Vec::new();
    let parse_side = |side: &str, out: &mut Vec<u16>, allow_v4: bool| -> Option<()> {
        if side.is_empty() {
            return Some(());
        }
        let parts: Vec<&str> = side.split(':').collect();
        for (i, p) in parts.iter().enumerate() {
            if allow_v4 && i + 1 == parts.len() && p.contains('.') {
                let v4 = parse_v4(p)?;
                out.push(u16::from(v4[0]) << 8 | u16::from(v4[1]));
                out.push(u16::from(v4[2]) << 8 | u16::from(v4[3]));
            } else {
                if p.is_empty() || p.len() > 4 {
                    return None;
                }
                out.push(u16::from_str_radix(p, 16).ok()?);
            }
        }
        Some(())
    };
    if compressed {
        parse_side(head, &mut groups, false)?;
        parse_side(tail, &mut tail_groups, true)?;
        if groups.len() + tail_groups.len() > 7 {
            return None;
        }
        let fill = 8 - groups.len() - tail_groups.len();
        groups.extend(std::iter::repeat_n(0, fill));
        groups.extend(tail_groups);
    } else {
        parse_side(head, &mut groups, true)?;
        if groups.len() != 8 {
            return None;
        }
    }
    let mut out = [0u16; 8];
    for (o, g) in out.iter_mut().zip(groups) {
        *o = g;
    }
    Some(out)
}

/// Parses an IP address; IPv4-mapped IPv6 addresses count as IPv4, as in Go.
pub(crate) fn parse_ip(s: &str) -> Option<Ip> {
    if let Some(v4) = parse_v4(s) {
        return Some(Ip::V4(v4));
    }
    if !s.contains(':') {
        return None;
    }
    let g = parse_v6(s)?;
    if g[..5].iter().all(|&x| x == 0) && g[5] == 0xffff {
        let b = |x: u16| [(x >> 8) as u8, (x & 0xff) as u8];
        let (h, l) = (b(g[6]), b(g[7]));
        return Some(Ip::V4([h[0], h[1], l[0], l[1]]));
    }
    Some(Ip::V6(g))
}

/// `IsValidIP` message.
pub(crate) const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// Parses a CIDR (`ip/prefix`), returning the address and prefix length.
pub(crate) fn parse_cidr(s: &str) -> Option<(Ip, u32)> {
    let (ip, bits) = s.split_once('/')?;
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let bits: u32 = bits.parse().ok()?;
    let ip = match (parse_v4(ip), ip.contains(':')) {
        (Some(v4), _) => Ip::V4(v4),
        (None, true) => Ip::V6(parse_v6(ip)?),
        _ => return None,
    };
    let max = if matches!(ip, Ip::V4(_)) { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

/// `IsValidCIDR` message.
pub(crate) const INVALID_CIDR: &str =
    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// The address as a 128-bit integer plus its width (32 or 128).
pub(crate) fn ip_bits(ip: Ip) -> (u128, u32) {
    match ip {
        Ip::V4(b) => (u128::from(u32::from_be_bytes(b)), 32),
        Ip::V6(g) => (g.iter().fold(0u128, |a, &x| a << 16 | u128::from(x)), 128),
    }
}

/// `ValidateNonSpecialIP` messages for an already-valid address.
pub(crate) fn non_special_ip(raw: &str, ip: Ip) -> Vec<String> {
    let mut errs = Vec::new();
    let (unspecified, loopback, ll_unicast, ll_multicast) = match ip {
        Ip::V4(b) => (
            b == [0, 0, 0, 0],
            b[0] == 127,
            b[0] == 169 && b[1] == 254,
            b[0] == 224 && b[1] == 0 && b[2] == 0,
        ),
        Ip::V6(g) => (
            g == [0; 8],
            g == [0, 0, 0, 0, 0, 0, 0, 1],
            g[0] & 0xffc0 == 0xfe80,
            g[0] & 0xff0f == 0xff02,
        ),
    };
    if unspecified {
        errs.push(format!("may not be unspecified ({raw})"));
    }
    if loopback {
        errs.push("may not be in the loopback range (127.0.0.0/8, ::1/128)".to_string());
    }
    if ll_unicast {
        errs.push("may not be in the link-local range (169.254.0.0/16, fe80::/10)".to_string());
    }
    if ll_multicast {
        errs.push(
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)".to_string(),
        );
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, expected number of messages) per checker.
    #[test]
    fn formats() {
        type Checker = fn(&str) -> Vec<String>;
        let cases: &[(Checker, &str, usize)] = &[
            (dns1123_label, "my-name", 0),
            (dns1123_label, "a.b", 1),
            (dns1123_label, "Foo", 1),
            (dns1123_label, "-a", 1),
            (dns1123_label, &"a".repeat(64), 1),
            (dns1123_subdomain, "example.com", 0),
            (dns1123_subdomain, "Foo_bar", 1),
            (dns1123_subdomain, "a..b", 1),
            (dns1035_label, "1abc", 1),
            (dns1035_label, "abc-1", 0),
            (qualified_name, "example.com/MyName", 0),
            (qualified_name, "a/b/c", 1),
            (qualified_name, "/x", 1),
            (qualified_name, "Bad_/x", 1),
            (qualified_name, "-x", 1),
            (label_value, "", 0),
            (label_value, "a b", 1),
            (port_name, "http", 0),
            (port_name, "123", 1),
            (port_name, "http--x", 1),
            (port_name, "averyveryverylongname", 1),
            (config_map_key, "key.name", 0),
            (config_map_key, "a/b", 1),
            (config_map_key, "..x", 1),
            (env_var_name, "1FOO", 0),
            (env_var_name, "A=B", 1),
            (percent, "25%", 0),
            (percent, "x%", 1),
            (http_header_name, "X-Foo", 0),
            (path_segment_name_nonprefix, "a/b", 1),
            (path_segment_name_nonprefix, "..", 1),
        ];
        for (i, (f, input, n)) in cases.iter().enumerate() {
            assert_eq!(f(input).len(), *n, "case {i}: {input:?} -> {:?}", f(input));
        }
    }

    fn path_segment_name_nonprefix(v: &str) -> Vec<String> {
        path_segment_name(v, false)
    }

    #[test]
    fn ips() {
        let cases: &[(&str, bool)] = &[
            ("10.9.8.7", true),
            ("010.0.0.1", true),
            ("256.1.1.1", false),
            ("1.2.3", false),
            ("2001:db8::ffff", true),
            ("::1", true),
            ("::", true),
            ("::ffff:1.2.3.4", true),
            ("1::2::3", false),
            ("gggg::", false),
            ("", false),
            ("None", false),
        ];
        for (s, ok) in cases {
            assert_eq!(parse_ip(s).is_some(), *ok, "{s}");
        }
        assert!(parse_cidr("10.0.0.0/8").is_some());
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("fd00::/64").is_some());
        assert!(parse_cidr("10.0.0.0").is_none());
        assert_eq!(mask_trailing_dash("abc-"), "aba");
        assert_eq!(non_special_ip("127.0.0.1", Ip::V4([127, 0, 0, 1])).len(), 1);
    }
}
