//! The depth scans: a table of what opens a level and what does not, and a differential
//! check against serde_yaml_ng that noise before a real flow collection never hides it.

use rand::{Rng, SeedableRng};

use super::*;

/// The deepest flow nesting the scan sees (no limit).
fn yaml_depth(text: &str) -> usize {
    (0..=64)
        .find(|&limit| yaml(text.as_bytes(), limit).is_ok())
        .unwrap_or(usize::MAX)
}

fn json_depth(text: &str) -> usize {
    (0..=64)
        .find(|&limit| json(text.as_bytes(), limit).is_ok())
        .unwrap_or(usize::MAX)
}

#[test]
fn json_counts_brackets_outside_strings() {
    for (text, depth) in [
        (r#"{"a": [1, {"b": []}]}"#, 4),
        (r#"{"a": "[[[[{{{"}"#, 1),
        (r#"{"a": "\"[[[", "b": [[]]}"#, 3),
        (r#"{"a": "\\", "b": [[]]}"#, 3),
        ("[[[]]][[]]", 3),
        ("", 0),
    ] {
        assert_eq!(json_depth(text), depth, "{text}");
    }
    assert_eq!(
        json(b"[\n[\n{", 2),
        Err(TooDeep {
            line: 3,
            bracket: b'{'
        })
    );
}

#[test]
fn yaml_counts_the_flow_collections_libyaml_opens() {
    for (text, depth) in [
        ("a: [1, {b: [c]}]", 3),
        ("a: b[c[d", 0),
        ("a: x [[[", 0),
        ("a: 'it''s [[['\nb: [x]", 1),
        ("a: \"\\\" [[[\"\nb: [x]", 1),
        ("a: \"multi\n  line [[[\"\nb: [x]", 1),
        ("# [[[\nb: [x] # [[[", 1),
        ("a: b#[[[\nc: [x]", 1),
        ("a: |\n  [[[ \"\n  '\nb: [x]", 1),
        ("a: >-\n   {{{\n\n   }\nb: [[x]]", 2),
        ("- a: |\n    [[[\n  b: [x]", 1),
        ("- - |\n   [[[\n  - [x]", 1),
        ("a: x\n  [[[ continued\nb: [y]", 1),
        ("a:\n  b: x\n   [[[ continued\n  c: [y]", 1),
        ("a: [b, 'c]]', \"d}}\"]", 1),
        ("a: {k: v, 'q': \"[\", r: [s]}", 2),
        ("a: !foo [x]", 1),
        // libyaml stops at a tag that runs into a bracket; the scan counts on.
        ("a: !foo[bar [x]", 2),
        ("a: !<tag:x,[y]> [x]", 1),
        ("a: &x [y]", 1),
        ("a: &x[ [y]", 2),
        ("[[x]]: y\nz: [[[w]]]", 3),
        ("a: |2\n   [[[\nb: [x]", 1),
        ("--- [[a]]\n--- [b]", 2),
        ("\u{feff}a: [[b]]", 2),
    ] {
        assert_eq!(yaml_depth(text), depth, "{text:?}");
    }
}

#[test]
fn yaml_reads_utf16_as_libyaml_does() {
    let text = "a: [[[b]]]";
    let mut le = vec![0xff, 0xfe];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(
        yaml(&le, 2),
        Err(TooDeep {
            line: 1,
            bracket: b'['
        })
    );
    assert_eq!(yaml(&le, 3), Ok(()));
}

#[test]
fn the_line_is_where_the_limit_was_crossed() {
    let deep = format!("apiVersion: v1\nkind: ConfigMap\ndata: {}", "[".repeat(200));
    let at = |line| {
        Err(TooDeep {
            line,
            bracket: b'[',
        })
    };
    assert_eq!(yaml(deep.as_bytes(), MAX_DEPTH), at(3));
    assert_eq!(yaml("[".repeat(200).as_bytes(), MAX_DEPTH), at(1));
}

/// Pieces of YAML that put libyaml's scanner in every state a bracket can hide in, with the
/// flow nesting each really has.
const NOISE: &[(&str, usize)] = &[
    ("a: x", 0),
    ("a: 'it''s [ \"'", 0),
    ("a: \"q \\\" [ ]\"", 0),
    ("# [ [ \"", 0),
    ("a: |\n  [ \" '\n  ]]]", 0),
    ("a: >-\n   {{{ '\n\n   ' }", 0),
    ("- b: x [ y", 0),
    ("b: x\n  [ continued \"", 0),
    ("c: \"multi\n  line [\"", 0),
    ("d: [a, 'b]', \"c}\"]", 1),
    ("e: {k: v, 'q': \"[\"}", 1),
    ("f: !!str x'", 0),
    ("g: &anc y", 0),
    ("  nested: v", 0),
    ("- - x", 0),
    ("? k\n: v", 0),
    ("i: a#b\"", 0),
    ("j: a #[ comment \"", 0),
    ("k: x:y[", 0),
    ("l: |+\n\n  \"\n", 0),
    ("m:\n- \"a\n  b\"\n- 'c'", 0),
    ("n: \"\\\n  [\"", 0),
    ("[k, 'l']: v", 1),
    ("\"k [\": v", 0),
    ("'k': \"v [\"", 0),
    ("- [x, \"]\"]", 1),
    ("- |\n  [[ \"\n", 0),
    ("- \"a [\n  b\"", 0),
    ("o: p\n  q\n", 0),
    ("r: s\n  'not [ a quote\n", 0),
    ("t: |2\n    [[\n  u: v", 0),
];

/// Whatever valid noise comes first, the scan counts exactly the flow collections libyaml
/// opens: it never takes libyaml's state for a quote, comment or scalar it is not in (which
/// could hide a collection) nor the other way round.
#[test]
fn noise_never_hides_a_flow_collection() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut checked = 0;
    for _ in 0..20_000 {
        let pieces: Vec<(&str, usize)> = (0..rng.random_range(1..6))
            .map(|_| NOISE[rng.random_range(0..NOISE.len())])
            .collect();
        let depth = rng.random_range(2..6);
        let last = match rng.random_range(0..3) {
            0 => "z: ",
            1 => "- ",
            _ => "",
        };
        let text = format!(
            "{}\n{last}{}q{}",
            pieces.iter().map(|p| p.0).collect::<Vec<_>>().join("\n"),
            "[".repeat(depth),
            "]".repeat(depth)
        );
        if serde_yaml_ng::from_str::<serde_json::Value>(&text).is_err() {
            continue;
        }
        checked += 1;
        let noise = pieces.iter().map(|p| p.1).max().unwrap_or(0);
        assert_eq!(yaml_depth(&text), depth.max(noise), "{text:?}");
    }
    assert!(checked > 1000, "only {checked} valid documents");
}

/// Every manifest the project ships scans well under the limit.
#[test]
fn real_manifests_are_shallow() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seen = 0;
    for dir in ["examples", "apiserver/tests/bad-input"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir").flatten() {
            let path = entry.path();
            let name = path.to_string_lossy();
            if name.ends_with(".yaml") && !name.contains("nested") {
                let text = std::fs::read_to_string(&path).expect("read");
                assert!(yaml_depth(&text) < 8, "{}", path.display());
                seen += 1;
            }
        }
    }
    assert!(seen > 40);
}
