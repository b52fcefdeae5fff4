//! Tests of the protobuf decoder: real kubectl bodies, hand-built encodings of what kubectl's
//! generators do not send, every error, the schema's invariants, and random input.

use serde_json::json;

use super::*;

/// Hex to bytes (the fixtures are well-formed).
fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn kubectl_bodies_decode_to_their_json() {
    for (name, body, want) in CAPTURES {
        let want: Value = serde_json::from_str(want).expect("fixture json");
        let got = decode(&unhex(body)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

// ---- A minimal protobuf encoder for hand-built bodies. ----

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint field.
fn int(number: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(number) << 3, &mut out);
    varint(v, &mut out);
    out
}

/// A length-delimited field.
fn len(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(number) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn text(number: u32, s: &str) -> Vec<u8> {
    len(number, s.as_bytes())
}

/// A message: its fields concatenated.
fn msg(fields: &[Vec<u8>]) -> Vec<u8> {
    fields.concat()
}

/// A whole body: magic and `runtime.Unknown`.
fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(len(1, &msg(&[text(1, api_version), text(2, kind)])));
    out.extend(len(2, raw));
    out
}

/// `ObjectMeta{name}`.
fn meta(name: &str) -> Vec<u8> {
    len(1, &text(1, name))
}

/// A `metav1.Time` or `MicroTime` message.
fn time_msg(seconds: i64, nanos: i32) -> Vec<u8> {
    msg(&[int(1, seconds as u64), int(2, nanos as i64 as u64)])
}

#[test]
fn pod_with_every_special_type() {
    // Container{name=1, ports=6{containerPort=3, hostPort=2 (0)}, livenessProbe=10{handler=1
    // {httpGet=2{port=2 IntOrString str}}}, resources=8{limits=1 map}}.
    let port_str = msg(&[int(1, 1), text(3, "http")]);
    let container = msg(&[
        text(1, "app"),
        len(6, &msg(&[int(2, 0), int(3, 80)])),
        len(
            8,
            &len(1, &msg(&[text(1, "cpu"), len(2, &text(1, "250m"))])),
        ),
        len(10, &len(1, &len(2, &len(2, &port_str)))),
    ]);
    // PodSecurityContext.supplementalGroups=4 packed, runAsUser=2 (pointer, 0 kept).
    let mut packed = Vec::new();
    for g in [4u64, 5, 300] {
        varint(g, &mut packed);
    }
    let psc = msg(&[int(2, 0), len(4, &packed), int(4, 7)]);
    // Volume{name=1, volumeSource=2{secret=6{secretName=1}}}: inline.
    let volume = msg(&[text(1, "v"), len(2, &len(6, &text(1, "s")))]);
    let spec = msg(&[
        len(1, &volume),
        len(2, &container),
        text(3, ""), // restartPolicy "" (omitempty): dropped
        int(4, 0),   // terminationGracePeriodSeconds 0 (pointer): kept
        len(14, &psc),
        int(21, 0), // automountServiceAccountToken false (pointer): kept
        int(11, 0), // hostNetwork false (omitempty): dropped
    ]);
    let status = msg(&[
        text(1, "Running"),
        len(
            2,
            &msg(&[
                text(1, "Ready"),
                len(3, &[]),
                len(4, &time_msg(1_700_000_000, 5)),
            ]),
        ),
        len(7, &time_msg(0, 0)),
    ]);
    let creation = len(8, &[]);
    let pod = msg(&[
        len(1, &msg(&[text(1, "p"), text(2, ""), creation])),
        len(2, &spec),
        len(3, &status),
    ]);
    let got = decode(&body("v1", "Pod", &pod)).expect("decode");
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "volumes": [{"name": "v", "secret": {"secretName": "s"}}],
                "containers": [{
                    "name": "app",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "250m"}},
                    "livenessProbe": {"httpGet": {"port": "http"}},
                }],
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": false,
                "securityContext": {"runAsUser": 0, "supplementalGroups": [4, 5, 300, 7]},
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "lastTransitionTime": "2023-11-14T22:13:20Z"}],
                "startTime": "1970-01-01T00:00:00Z",
            },
        })
    );
}

#[test]
fn micro_time_keeps_microseconds_and_time_drops_nanoseconds() {
    // events.k8s.io/v1 Event{eventTime=2 MicroTime, deprecatedFirstTimestamp=15 Time}.
    let event = msg(&[
        meta("e"),
        len(2, &time_msg(1_700_000_000, 123_456_789)),
        len(13, &time_msg(1_700_000_000, 999_999_999)),
    ]);
    let got = decode(&body("events.k8s.io/v1", "Event", &event)).expect("decode");
    assert_eq!(got["eventTime"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(got["deprecatedFirstTimestamp"], "2023-11-14T22:13:20Z");

    // Go's zero time (0001-01-01T00:00:00Z), sent by some encoders instead of nothing.
    let zero = msg(&[meta("e"), len(2, &time_msg(GO_ZERO_TIME, 0))]);
    let got = decode(&body("events.k8s.io/v1", "Event", &zero)).expect("decode");
    assert_eq!(got.get("eventTime"), None);
    // Nanoseconds past a second carry over, as Go's time.Unix does.
    let carry = msg(&[meta("e"), len(2, &time_msg(0, 1_500_000_000))]);
    let got = decode(&body("events.k8s.io/v1", "Event", &carry)).expect("decode");
    assert_eq!(got["eventTime"], "1970-01-01T00:00:01.500000Z");
}

#[test]
fn times_outside_go_range_are_errors() {
    for seconds in [GO_ZERO_TIME - 1, MAX_TIME + 1, i64::MIN, i64::MAX] {
        let pod = msg(&[len(3, &len(7, &time_msg(seconds, 0)))]);
        let err = decode(&body("v1", "Pod", &pod)).expect_err("out of range");
        assert!(
            matches!(
                err,
                Error::TimeRange {
                    field: "startTime",
                    ..
                }
            ),
            "{err}"
        );
    }
    let last = msg(&[len(3, &len(7, &time_msg(MAX_TIME, 0)))]);
    let got = decode(&body("v1", "Pod", &last)).expect("decode");
    assert_eq!(got["status"]["startTime"], "9999-12-31T23:59:59Z");
}

#[test]
fn raw_extensions_hold_json_or_protobuf() {
    // apps/v1 ControllerRevision{metadata=1, data=2 RawExtension{raw=1}, revision=3}.
    let json_raw = br#"{"spec":{"replicas":2}}"#;
    let rev = msg(&[meta("r"), len(2, &len(1, json_raw)), int(3, 4)]);
    let got = decode(&body("apps/v1", "ControllerRevision", &rev)).expect("decode");
    assert_eq!(got["data"], json!({"spec": {"replicas": 2}}));
    assert_eq!(got["revision"], 4);

    let inner = body(
        "v1",
        "ConfigMap",
        &msg(&[meta("c"), len(2, &msg(&[text(1, "k"), text(2, "v")]))]),
    );
    let rev = msg(&[meta("r"), len(2, &len(1, &inner))]);
    let got = decode(&body("apps/v1", "ControllerRevision", &rev)).expect("decode");
    assert_eq!(
        got["data"],
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}})
    );

    let rev = msg(&[meta("r"), len(2, &len(1, b"{not json"))]);
    let err = decode(&body("apps/v1", "ControllerRevision", &rev)).expect_err("bad raw");
    assert_eq!(
        err.to_string(),
        "field ControllerRevision.data does not hold valid json"
    );

    // An empty RawExtension is Go's nil: left out.
    let rev = msg(&[meta("r"), len(2, &[])]);
    let got = decode(&body("apps/v1", "ControllerRevision", &rev)).expect("decode");
    assert_eq!(got.get("data"), None);
}

#[test]
fn int_or_string_and_named_slices() {
    // policy/v1 PodDisruptionBudget{spec=2{minAvailable=1, maxUnavailable=3}}.
    let spec = msg(&[
        len(1, &msg(&[int(1, 0), int(2, 3)])),
        len(3, &msg(&[int(1, 1), text(3, "25%")])),
    ]);
    let got = decode(&body(
        "policy/v1",
        "PodDisruptionBudget",
        &msg(&[len(2, &spec)]),
    ))
    .expect("pdb");
    assert_eq!(
        got["spec"],
        json!({"minAvailable": 3, "maxUnavailable": "25%"})
    );

    // meta/v1 APIResourceList{groupVersion=1, resources=2{name=1, verbs=4 Verbs{items}}}, under
    // the core version: the meta/v1 fallback.
    let verbs = msg(&[text(1, "get"), text(1, "list")]);
    let list = msg(&[
        text(1, "v1"),
        len(2, &msg(&[text(1, "pods"), len(4, &verbs)])),
    ]);
    let got = decode(&body("v1", "APIResourceList", &list)).expect("list");
    assert_eq!(
        got["resources"],
        json!([{"name": "pods", "verbs": ["get", "list"]}])
    );
}

#[test]
fn protobuf_merge_rules() {
    // Repeated singular messages merge; a later scalar wins; unknown fields of every wire type
    // are skipped; a later zero of an omitempty scalar removes the earlier value.
    let mut unknown = int(999, 1);
    unknown.extend(len(998, b"xyz"));
    unknown.extend([
        (997 << 3 | 1) as u8 & 0x7f | 0x80,
        0x3e,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
    ]);
    unknown.extend([(996 << 3 | 5) as u8 & 0x7f | 0x80, 0x3e, 1, 2, 3, 4]);
    let cm = msg(&[
        len(1, &msg(&[text(1, "a"), text(3, "ns")])),
        unknown,
        len(
            1,
            &msg(&[text(1, "b"), len(11, &msg(&[text(1, "l"), text(2, "v")]))]),
        ),
        len(1, &text(3, "")),
        int(4, 1),
        int(4, 0),
    ]);
    let got = decode(&body("v1", "ConfigMap", &cm)).expect("decode");
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "labels": {"l": "v"}}, "immutable": false})
    );
}

#[test]
fn struct_fields_tagged_omitempty_stay() {
    // ServicePort{name=1, port=3, targetPort=4 IntOrString 0}: Go prints `"targetPort": 0`.
    let port = msg(&[
        text(1, ""),
        int(3, 80),
        len(4, &msg(&[int(1, 0), int(2, 0), text(3, "")])),
    ]);
    let svc = msg(&[meta("s"), len(2, &len(1, &port))]);
    let got = decode(&body("v1", "Service", &svc)).expect("decode");
    assert_eq!(
        got["spec"],
        json!({"ports": [{"port": 80, "targetPort": 0}]})
    );
}

#[test]
fn civil_dates() {
    for (days, want) in [
        (0, (1970, 1, 1)),
        (-1, (1969, 12, 31)),
        (11_016, (2000, 2, 29)),
        (-25_508, (1900, 3, 1)),
        (GO_ZERO_TIME / 86_400, (1, 1, 1)),
        (MAX_TIME / 86_400, (9999, 12, 31)),
    ] {
        assert_eq!(civil_from_days(days), want, "{days}");
    }
}

#[test]
fn every_error_names_what_failed() {
    let cm = |raw: &[u8]| body("v1", "ConfigMap", raw);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"{\"kind\":\"ConfigMap\"}".to_vec(),
            "bad magic: body does not start with \"k8s\\0\"",
        ),
        (
            b"k8s".to_vec(),
            "bad magic: body does not start with \"k8s\\0\"",
        ),
        (b"k8s\0\x0a".to_vec(), "truncated varint at offset 5"),
        (
            b"k8s\0\x0a\x05ab".to_vec(),
            "truncated field at offset 6: 5 bytes wanted, 2 left",
        ),
        (
            [
                &b"k8s\0"[..],
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ],
            ]
            .concat(),
            "varint overflows 64 bits at offset 5",
        ),
        (
            b"k8s\0\x00\x00".to_vec(),
            "invalid field key at offset 4: field number 0, wire type 0",
        ),
        (
            b"k8s\0\x0b".to_vec(),
            "invalid field key at offset 4: field number 1, wire type 3",
        ),
        (MAGIC.to_vec(), "envelope has no apiVersion or kind"),
        (
            body("v1", "Nope", &[]),
            "unknown kind \"Nope\" in version \"v1\"",
        ),
        (
            body("nope/v9", "Pod", &[]),
            "unknown kind \"Pod\" in version \"nope/v9\"",
        ),
        (
            [cm(&[]), text(3, "gzip")].concat(),
            "unsupported content encoding \"gzip\"",
        ),
        (
            [cm(&[]), text(4, "application/json")].concat(),
            "unsupported content type \"application/json\" in envelope",
        ),
        (
            cm(&int(1, 5)),
            "field ConfigMap.metadata at offset 23 has wire type 0, expected 2",
        ),
        (
            cm(&len(1, &text(7, "x"))),
            "field ObjectMeta.generation at offset 25 has wire type 2, expected 0",
        ),
        (
            cm(&len(3, &msg(&[text(1, "k"), int(2, 1)]))),
            "field ConfigMap.binaryData at offset 28 has wire type 0, expected 2",
        ),
    ];
    for (input, want) in &cases {
        let err = decode(input).expect_err(want);
        assert_eq!(err.to_string(), *want);
    }
    // A map entry's key with the wrong wire type is an unknown field, skipped.
    let got = decode(&cm(&len(2, &msg(&[int(1, 1), text(2, "v")])))).expect("decode");
    assert_eq!(got["data"], json!({"": "v"}));
}

#[test]
fn nesting_is_bounded() {
    // ControllerRevisions nested in each other's data, each level two messages deep.
    let mut raw = body("v1", "ConfigMap", &meta("c"));
    for _ in 0..MAX_DEPTH {
        raw = body("apps/v1", "ControllerRevision", &len(2, &len(1, &raw)));
    }
    assert!(matches!(decode(&raw), Err(Error::TooDeep(_))));
    let mut raw = body("v1", "ConfigMap", &meta("c"));
    for _ in 0..MAX_DEPTH / 4 {
        raw = body("apps/v1", "ControllerRevision", &len(2, &len(1, &raw)));
    }
    assert!(decode(&raw).is_ok());
}

#[test]
fn schema_is_well_formed() {
    fn check(m: &'static Message, seen: &mut Vec<*const Message>) {
        if seen.contains(&(m as *const Message)) {
            return;
        }
        seen.push(m);
        assert!(
            m.fields.windows(2).all(|w| w[0].number < w[1].number),
            "{} order",
            m.name
        );
        if m.list {
            assert!(
                m.fields.len() == 1 && m.fields[0].card == REP,
                "{} list",
                m.name
            );
        }
        for f in m.fields {
            assert_eq!(
                f.flags & INLINE != 0,
                f.json.is_empty(),
                "{}.{}",
                m.name,
                f.json
            );
            if f.flags & INLINE != 0 {
                assert!(matches!(f.ty, Type::Msg(_)) && f.card == ONE, "{}", m.name);
            }
            if f.flags & OMIT_ZERO != 0 {
                assert!(matches!(
                    f.ty,
                    Type::Str | Type::Bytes | Type::Bool | Type::I32 | Type::I64
                ));
            }
            if let Type::Msg(inner) = f.ty {
                check(inner, seen);
            }
        }
    }
    let mut seen = Vec::new();
    let mut versions: Vec<&str> = schema::KINDS.iter().map(|(v, _)| *v).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), schema::KINDS.len());
    for (version, kinds) in schema::KINDS {
        assert!(kinds.windows(2).all(|w| w[0].0 < w[1].0), "{version} order");
        for (kind, m) in *kinds {
            assert_eq!(*kind, m.name);
            check(m, &mut seen);
        }
    }
    for (version, kind) in [
        ("v1", "Pod"),
        ("v1", "Service"),
        ("apps/v1", "Deployment"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("batch/v1", "CronJob"),
        ("apps/v1", "DeleteOptions"),
        ("meta.k8s.io/v1", "Status"),
    ] {
        assert!(lookup(version, kind).is_some(), "{version} {kind}");
    }
}

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let n = noise.below(64);
        let mut input: Vec<u8> = (0..n).map(|_| noise.next() as u8).collect();
        if noise.below(2) == 0 {
            input.splice(0..0, MAGIC.iter().copied());
        }
        let _ = decode(&input);
    }
    let bodies: Vec<Vec<u8>> = CAPTURES.iter().map(|(_, b, _)| unhex(b)).collect();
    for b in &bodies {
        for cut in 0..b.len() {
            let _ = decode(&b[..cut]);
        }
    }
    for _ in 0..20_000 {
        let mut input = bodies[noise.below(bodies.len())].clone();
        for _ in 0..1 + noise.below(4) {
            let i = noise.below(input.len());
            match noise.below(4) {
                0 => input[i] ^= 1 << noise.below(8),
                1 => input[i] = noise.next() as u8,
                2 => input.insert(i, noise.next() as u8),
                _ => {
                    input.remove(i);
                }
            }
            if input.is_empty() {
                break;
            }
        }
        let _ = decode(&input);
    }
}

/// `(name, body, expected JSON)`: bodies kubectl v1.32.4 sent to a stub server, expected JSON
/// from `--dry-run=client -o json` (nulls removed) or, where kubectl has no dry run, checked by
/// hand against the object the stub served.
const CAPTURES: &[(&str, &str, &str)] = &[
    (
        "configmap",
        concat!(
            "6b3873000a0f0a0276311209436f6e6669674d617012320a130a0363666712001a0022002a00320038004200",
            "12060a016112013112080a0162120374776f12090a05656d70747912001a002200",
        ),
        r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cfg"},"data":{"a":"1","b":"two","empty":""}}"#,
    ),
    (
        "secret",
        concat!(
            "6b3873000a0c0a0276311206536563726574123c0a130a0373656312001a0022002a00320038004200120e0a",
            "027077120873336372e282ac74120d0a0475736572120561646d696e1a064f70617175651a002200",
        ),
        r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"sec"},"data":{"pw":"czNjcuKCrHQ=","user":"YWRtaW4="},"type":"Opaque"}"#,
    ),
    (
        "secret_docker",
        concat!(
            "6b3873000a0c0a0276311206536563726574128c010a130a0372656712001a0022002a003200380042001255",
            "0a112e646f636b6572636f6e6669676a736f6e12407b226175746873223a7b22722e696f223a7b2275736572",
            "6e616d65223a2275222c2270617373776f7264223a2270222c2261757468223a2264547077227d7d7d1a1e6b",
            "756265726e657465732e696f2f646f636b6572636f6e6669676a736f6e1a002200",
        ),
        r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"reg"},"data":{".dockerconfigjson":"eyJhdXRocyI6eyJyLmlvIjp7InVzZXJuYW1lIjoidSIsInBhc3N3b3JkIjoicCIsImF1dGgiOiJkVHB3In19fQ=="},"type":"kubernetes.io/dockerconfigjson"}"#,
    ),
    (
        "namespace",
        concat!(
            "6b3873000a0f0a02763112094e616d657370616365121b0a130a036e733112001a0022002a00320038004200",
            "12001a020a001a002200",
        ),
        r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ns1"},"spec":{},"status":{}}"#,
    ),
    (
        "serviceaccount",
        concat!(
            "6b3873000a140a027631120e536572766963654163636f756e7412140a120a02736112001a0022002a003200",
            "380042001a002200",
        ),
        r#"{"kind":"ServiceAccount","apiVersion":"v1","metadata":{"name":"sa"}}"#,
    ),
    (
        "service",
        concat!(
            "6b3873000a0d0a0276311207536572766963651283010a1f0a0373766312001a0022002a003200380042005a",
            "0a0a036170701203737663125c0a1b0a0738302d38303830120354435018502207080010903f1a0028000a18",
            "0a03343433120354435018bb032207080010bb031a002800120a0a0361707012037376631a002209436c7573",
            "74657249503a00420052005a00600068001a020a001a002200",
        ),
        r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"svc","labels":{"app":"svc"}},"spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080},{"name":"443","protocol":"TCP","port":443,"targetPort":443}],"selector":{"app":"svc"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}"#,
    ),
    (
        "service_nodeport",
        concat!(
            "6b3873000a0d0a027631120753657276696365126a0a1d0a026e7012001a0022002a003200380042005a090a",
            "0361707012026e7012450a200a09353637382d38303830120354435018ae2c2207080010903f1a002880eb01",
            "12090a0361707012026e701a0022084e6f6465506f72743a00420052005a00600068001a020a001a002200",
        ),
        r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"np","labels":{"app":"np"}},"spec":{"ports":[{"name":"5678-8080","protocol":"TCP","port":5678,"targetPort":8080,"nodePort":30080}],"selector":{"app":"np"},"type":"NodePort"},"status":{"loadBalancer":{}}}"#,
    ),
    (
        "service_headless",
        concat!(
            "6b3873000a0d0a027631120753657276696365124d0a1d0a02686c12001a0022002a003200380042005a090a",
            "036170701202686c122812090a036170701202686c1a044e6f6e652209436c757374657249503a0042005200",
            "5a00600068001a020a001a002200",
        ),
        r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"hl","labels":{"app":"hl"}},"spec":{"selector":{"app":"hl"},"clusterIP":"None","type":"ClusterIP"},"status":{"loadBalancer":{}}}"#,
    ),
    (
        "service_external",
        concat!(
            "6b3873000a0d0a027631120753657276696365125a0a1f0a0365787412001a0022002a003200380042005a0a",
            "0a0361707012036578741233120a0a0361707012036578741a00220c45787465726e616c4e616d653a004200",
            "520b6578616d706c652e636f6d5a00600068001a020a001a002200",
        ),
        r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"ext","labels":{"app":"ext"}},"spec":{"selector":{"app":"ext"},"type":"ExternalName","externalName":"example.com"},"status":{"loadBalancer":{}}}"#,
    ),
    (
        "deployment",
        concat!(
            "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412bd010a1f0a0377656212001a0022002a",
            "003200380042005a0a0a036170701203776562128b010803120c0a0a0a0361707012037765621a710a1c0a00",
            "12001a0022002a003200380042005a0a0a036170701203776562125112330a056e67696e78120a6e67696e78",
            "3a312e32372a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a",
            "0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a",
            "002200",
        ),
        r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{}}]}},"strategy":{}},"status":{}}"#,
    ),
    (
        "deployment_zero",
        concat!(
            "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412d9010a210a047a65726f12001a002200",
            "2a003200380042005a0b0a0361707012047a65726f12a5010800120d0a0b0a0361707012047a65726f1a8901",
            "0a1d0a0012001a0022002a003200380042005a0b0a0361707012047a65726f126812220a056e67696e781205",
            "6e67696e782a0042006a007200800100880100900100a2010012260a0762757379626f78120762757379626f",
            "782a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a",
            "0100c2010022020a00280038001a0c0800100018002000280038001a002200",
        ),
        r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"zero","labels":{"app":"zero"}},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"zero"}},"template":{"metadata":{"labels":{"app":"zero"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}},{"name":"busybox","image":"busybox","resources":{}}]}},"strategy":{}},"status":{}}"#,
    ),
    (
        "job",
        concat!(
            "6b3873000a0f0a0862617463682f763112034a6f621284010a120a026a3112001a0022002a00320038004200",
            "126432620a100a0012001a0022002a00320038004200124e122b0a026a31120762757379626f781a04656368",
            "6f1a0268692a0042006a007200800100880100900100a201001a054e65766572320042004a00520058006000",
            "68008201008a01009a0100c201001a082000280030003a001a002200",
        ),
        r#"{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"j1"},"spec":{"template":{"metadata":{},"spec":{"containers":[{"name":"j1","image":"busybox","command":["echo","hi"],"resources":{}}],"restartPolicy":"Never"}}},"status":{}}"#,
    ),
    (
        "cronjob",
        concat!(
            "6b3873000a130a0862617463682f7631120743726f6e4a6f6212a4010a120a02636a12001a0022002a003200",
            "38004200128b010a0b2a2f35202a202a202a202a1a002a7a0a120a02636a12001a0022002a00320038004200",
            "126432620a100a0012001a0022002a00320038004200124e12270a02636a120762757379626f781a04646174",
            "652a0042006a007200800100880100900100a201001a094f6e4661696c757265320042004a00520058006000",
            "68008201008a01009a0100c201001a001a002200",
        ),
        r#"{"kind":"CronJob","apiVersion":"batch/v1","metadata":{"name":"cj"},"spec":{"schedule":"*/5 * * * *","jobTemplate":{"metadata":{"name":"cj"},"spec":{"template":{"metadata":{},"spec":{"containers":[{"name":"cj","image":"busybox","command":["date"],"resources":{}}],"restartPolicy":"OnFailure"}}}}},"status":{}}"#,
    ),
    (
        "ingress",
        concat!(
            "6b3873000a1f0a146e6574776f726b696e672e6b38732e696f2f76311207496e6772657373129a010a1b0a03",
            "696e6712001a0022002a0032003800420062060a0161120162127712120a07666f6f2e636f6d12076d792d63",
            "6572741a2e0a07666f6f2e636f6d12230a210a1f0a042f626172120f220d0a047376633112050a0010903f1a",
            "065072656669781a2a0a0012260a240a220a052f70617468121222100a047376633212080a04687474701000",
            "1a05457861637422056e67696e781a020a001a002200",
        ),
        r#"{"kind":"Ingress","apiVersion":"networking.k8s.io/v1","metadata":{"name":"ing","annotations":{"a":"b"}},"spec":{"ingressClassName":"nginx","tls":[{"hosts":["foo.com"],"secretName":"my-cert"}],"rules":[{"host":"foo.com","http":{"paths":[{"path":"/bar","pathType":"Prefix","backend":{"service":{"name":"svc1","port":{"number":8080}}}}]}},{"http":{"paths":[{"path":"/path","pathType":"Exact","backend":{"service":{"name":"svc2","port":{"name":"http"}}}}]}}]},"status":{"loadBalancer":{}}}"#,
    ),
    (
        "pdb",
        concat!(
            "6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e427564676574123c0a130a03",
            "70646212001a0022002a0032003800420012190a09080110001a03353025120c0a0a0a036170701203776562",
            "1a0a080018002000280030001a002200",
        ),
        r#"{"kind":"PodDisruptionBudget","apiVersion":"policy/v1","metadata":{"name":"pdb"},"spec":{"minAvailable":"50%","selector":{"matchLabels":{"app":"web"}}},"status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,"expectedPods":0}}"#,
    ),
    (
        "pdb_int",
        concat!(
            "6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e427564676574123a0a140a04",
            "7064623212001a0022002a003200380042001216120c0a0a0a0361707012037765621a06080010011a001a0a",
            "080018002000280030001a002200",
        ),
        r#"{"kind":"PodDisruptionBudget","apiVersion":"policy/v1","metadata":{"name":"pdb2"},"spec":{"selector":{"matchLabels":{"app":"web"}},"maxUnavailable":1},"status":{"disruptionsAllowed":0,"currentHealthy":0,"desiredHealthy":0,"expectedPods":0}}"#,
    ),
    (
        "quota",
        concat!(
            "6b3873000a130a027631120d5265736f7572636551756f7461124c0a110a017112001a0022002a0032003800",
            "420012350a0a0a0363707512030a01310a0e0a066d656d6f727912040a0231470a0b0a04706f647312030a01",
            "32120a426573744566666f72741a001a002200",
        ),
        r#"{"kind":"ResourceQuota","apiVersion":"v1","metadata":{"name":"q"},"spec":{"hard":{"cpu":"1","memory":"1G","pods":"2"},"scopes":["BestEffort"]},"status":{}}"#,
    ),
    (
        "role",
        concat!(
            "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c65124f",
            "0a120a02723112001a0022002a0032003800420012160a036765740a046c69737412001a04706f6473220178",
            "12210a036765740a046c6973741204617070731a0b6465706c6f796d656e74732201781a002200",
        ),
        r#"{"kind":"Role","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"r1"},"rules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods"],"resourceNames":["x"]},{"verbs":["get","list"],"apiGroups":["apps"],"resources":["deployments"],"resourceNames":["x"]}]}"#,
    ),
    (
        "rolebinding",
        concat!(
            "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c654269",
            "6e64696e6712b1010a120a02726212001a0022002a00320038004200122a0a04557365721219726261632e61",
            "7574686f72697a6174696f6e2e6b38732e696f1a05616c696365220012270a0547726f75701219726261632e",
            "617574686f72697a6174696f6e2e6b38732e696f1a01672200121f0a0e536572766963654163636f756e7412",
            "001a027361220764656661756c741a250a19726261632e617574686f72697a6174696f6e2e6b38732e696f12",
            "04526f6c651a0272311a002200",
        ),
        r#"{"kind":"RoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"rb"},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"},{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"g"},{"kind":"ServiceAccount","name":"sa","namespace":"default"}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r1"}}"#,
    ),
    (
        "clusterrole",
        concat!(
            "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c75737465",
            "72526f6c6512240a120a02637212001a0022002a00320038004200120e0a036765742a072f6c6f67732f2a1a",
            "002200",
        ),
        r#"{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"cr"},"rules":[{"verbs":["get"],"nonResourceURLs":["/logs/*"]}]}"#,
    ),
    (
        "clusterrole_agg",
        concat!(
            "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c75737465",
            "72526f6c65123d0a130a0361676712001a0022002a003200380042001a260a240a220a1a726261632e657861",
            "6d706c652e636f6d2f6167677265676174651204747275651a002200",
        ),
        r#"{"kind":"ClusterRole","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"agg"},"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"rbac.example.com/aggregate":"true"}}]}}"#,
    ),
    (
        "clusterrolebinding",
        concat!(
            "6b3873000a320a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311212436c75737465",
            "72526f6c6542696e64696e67126d0a130a0363726212001a0022002a0032003800420012280a045573657212",
            "19726261632e617574686f72697a6174696f6e2e6b38732e696f1a03626f6222001a2c0a19726261632e6175",
            "74686f72697a6174696f6e2e6b38732e696f120b436c7573746572526f6c651a0263721a002200",
        ),
        r#"{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1","metadata":{"name":"crb"},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"bob"}],"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cr"}}"#,
    ),
    (
        "priorityclass",
        concat!(
            "6b3873000a250a147363686564756c696e672e6b38732e696f2f7631120d5072696f72697479436c61737312",
            "260a120a02706312001a0022002a0032003800420010e80718002204686967682a054e657665721a002200",
        ),
        r#"{"kind":"PriorityClass","apiVersion":"scheduling.k8s.io/v1","metadata":{"name":"pc"},"value":1000,"description":"high","preemptionPolicy":"Never"}"#,
    ),
    (
        "priorityclass_default",
        concat!(
            "6b3873000a250a147363686564756c696e672e6b38732e696f2f7631120d5072696f72697479436c61737312",
            "310a130a0370633012001a0022002a003200380042001000180122002a14507265656d70744c6f7765725072",
            "696f726974791a002200",
        ),
        r#"{"kind":"PriorityClass","apiVersion":"scheduling.k8s.io/v1","metadata":{"name":"pc0"},"value":0,"globalDefault":true,"preemptionPolicy":"PreemptLowerPriority"}"#,
    ),
    (
        "autoscale",
        concat!(
            "6b3873000a290a0e6175746f7363616c696e672f76321217486f72697a6f6e74616c506f644175746f736361",
            "6c657212610a130a0377656212001a0022002a0032003800420012440a1a0a0a4465706c6f796d656e741203",
            "7765621a07617070732f76311002180522220a085265736f7572636522160a03637075120f0a0b5574696c69",
            "7a6174696f6e20501a04180020001a002200",
        ),
        r#"{"kind":"HorizontalPodAutoscaler","apiVersion":"autoscaling/v2","metadata":{"name":"web"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":2,"maxReplicas":5,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":80}}}]},"status":{"desiredReplicas":0}}"#,
    ),
    (
        "token",
        concat!(
            "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565",
            "737412220a100a0012001a0022002a0032003800420012080a03612c6220d8041a040a0012001a002200",
        ),
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{},"spec":{"audiences":["a,b"],"expirationSeconds":600},"status":{"token":""}}"#,
    ),
    (
        "can_i",
        concat!(
            "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374",
            "41636365737352657669657712530a100a0012001a0022002a0032003800420012350a330a0b6b7562652d73",
            "797374656d12066372656174651a046170707322002a0b6465706c6f796d656e747332057363616c653a001a",
            "08080012001a0020001a002200",
        ),
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","metadata":{},"spec":{"resourceAttributes":{"group":"apps","namespace":"kube-system","resource":"deployments","subresource":"scale","verb":"create"}},"status":{"allowed":false}}"#,
    ),
    (
        "delete_options",
        "6b3873000a130a027631120d44656c6574654f7074696f6e73120208071a002200",
        r#"{"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":7}"#,
    ),
    (
        "csr_approve",
        concat!(
            "6b3873000a330a166365727469666963617465732e6b38732e696f2f76311219436572746966696361746553",
            "69676e696e675265717565737412da040afb010a046373723112001a0022002a2436633165346339652d3030",
            "30302d343030302d383030302d3030303030303030303030323201373802420808bffb9ecd0610005a060a01",
            "6c1201766a360a044e6f64651a026e31222436633165346339652d303030302d343030302d383030302d3030",
            "303030303030303030332a02763130008a01770a0e6b75626563746c2d63726561746512065570646174651a",
            "166365727469666963617465732e6b38732e696f2f7631220808bffb9ecd06100032084669656c647356313a",
            "2f0a2d7b22663a73706563223a207b22663a72657175657374223a207b7d2c2022663a757361676573223a20",
            "7b7d7d7d420012c6010a242d2d2d2d2d424547494e20434552544946494341544520524551554553542d2d2d",
            "2d2d0a1205616c6963651a03752d31221473797374656d3a61757468656e746963617465642204646576732a",
            "116469676974616c207369676e61747572652a106b657920656e6369706865726d656e742a0b636c69656e74",
            "206175746832090a05656d707479120032100a0673636f70657312060a01610a01623a236b756265726e6574",
            "65732e696f2f6b7562652d6170697365727665722d636c69656e744080a3051a90010a290a064661696c6564",
            "1201521a016d220808c0fb9ecd0610002a0808c1fb9ecd061000320546616c73650a630a08417070726f7665",
            "64120e4b75626563746c417070726f76651a3554686973204353522077617320617070726f76656420627920",
            "6b75626563746c20636572746966696361746520617070726f76652e2208088c849ed80610002a0032045472",
            "75651a002200",
        ),
        r#"{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"creationTimestamp":"2026-03-04T05:06:07Z","generation":2,"labels":{"l":"v"},"managedFields":[{"apiVersion":"certificates.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:request":{},"f:usages":{}}},"manager":"kubectl-create","operation":"Update","time":"2026-03-04T05:06:07Z"}],"name":"csr1","ownerReferences":[{"apiVersion":"v1","controller":false,"kind":"Node","name":"n1","uid":"6c1e4c9e-0000-4000-8000-000000000003"}],"resourceVersion":"7","uid":"6c1e4c9e-0000-4000-8000-000000000002"},"spec":{"expirationSeconds":86400,"extra":{"empty":[],"scopes":["a","b"]},"groups":["system:authenticated","devs"],"request":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K","signerName":"kubernetes.io/kube-apiserver-client","uid":"u-1","usages":["digital signature","key encipherment","client auth"],"username":"alice"},"status":{"conditions":[{"lastTransitionTime":"2026-03-04T05:06:09Z","lastUpdateTime":"2026-03-04T05:06:08Z","message":"m","reason":"R","status":"False","type":"Failed"},{"lastUpdateTime":"2026-11-26T00:49:16Z","message":"This CSR was approved by kubectl certificate approve.","reason":"KubectlApprove","status":"True","type":"Approved"}]}}"#,
    ),
    (
        "debug_copy",
        concat!(
            "6b3873000a090a0276311203506f6412fa090a280a09726963682d636f707912001a0764656661756c742200",
            "2a0032003800420062060a016112016212b8090a1b0a0363666712149a01110a040a02636d12060a016b1201",
            "7018a4030a0e0a03736563120732050a017320000a1b0a05656d707479121212100a064d656d6f727912060a",
            "0436344d690a1b0a0470726f6a1213d201100a0e220c0a0010901c1a05746f6b656e1293040a03617070120a",
            "6e67696e783a312e32372201612201622a022f7732110a04687474701000185022035443502a00320e0a0010",
            "e929183522035544502a003a060a01411201313a090a05454d50545912003a1a0a0746524f4d5f434d12001a",
            "0d1a0b0a040a02636d12016b18013a180a0846524f4d5f53454312001a0a22080a030a017312016b3a1e0a03",
            "504f4412001a150a130a027631120d6d657461646174612e6e616d653a1f0a0343505512001a1612140a0012",
            "0a6c696d6974732e6370751a040a02316d42430a0d0a0363707512060a043530306d0a110a066d656d6f7279",
            "12070a053132384d69120d0a0363707512060a043235306d12100a066d656d6f727912060a0436344d694a11",
            "0a0363666710011a042f636667220032004a120a05656d70747910001a022f65220178320052340a2812260a",
            "082f6865616c74687a120a080110001a04687474701a002204485454502a060a015812017910031801200a28",
            "0130035a190a0d1a0b0a07080010903f1a0012001000180020052800300062100a080a060a04747275651204",
            "220208056a142f6465762f7465726d696e6174696f6e2d6c6f67720c49664e6f7450726573656e747a1c0a10",
            "0a094e45545f41444d494e1203414c4c100020002800300138008001008801009001009a010c0a02505f1206",
            "0a040a02636da2010446696c65b201180a0c0a0a0a036361740a032f6f6b1000180020002800301e12260a03",
            "646267120762757379626f782a0042006a007200800100880100900100a2010446696c651a06416c77617973",
            "20002864320c436c757374657246697273743a0b0a046469736b1203737364420273614a0052005800600068",
            "00723d10e80720042005200628d00f30b8173a1a0a126e65742e636f72652e736f6d6178636f6e6e12043130",
            "323452100a0e52756e74696d6544656661756c747a050a03726567820101688a0102736492016c0a280a130a",
            "110a0f0a016b1202496e1a0276311a02763212110801120d0a0b0a017a12064578697374731a40123e086412",
            "3a0a200a0b0a0361707012047269636812110a047469657212054e6f74496e1a0264621a166b756265726e65",
            "7465732e696f2f686f73746e616d659a011164656661756c742d7363686564756c6572a201310a04696e6974",
            "120762757379626f781a0273681a022d631a04747275652a0042006a007200800100880100900100a20100a8",
            "0100b201360a1c6e6f64652e6b756265726e657465732e696f2f6e6f742d726561647912064578697374731a",
            "0022094e6f4578656375746528ac02b2010e0a0012064578697374731a002200ba01100a093139322e302e32",
            "2e341203612e62c201027063c80100d201180a0a3139322e302e322e35331a0a0a056e646f7473120132d801",
            "01f00101fa0114507265656d70744c6f7765725072696f7269747982020c0a0363707512050a0331306d8a02",
            "26080112047a6f6e651a0d446f4e6f745363686564756c65220d0a0b0a036170701204726963681a130a001a",
            "0022002a0032004a005a0072008801001a002200",
        ),
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"a":"b"},"name":"rich-copy","namespace":"default"},"spec":{"activeDeadlineSeconds":100,"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"preference":{"matchExpressions":[{"key":"z","operator":"Exists"}]},"weight":1}],"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"In","values":["v1","v2"]}]}]}},"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"podAffinityTerm":{"labelSelector":{"matchExpressions":[{"key":"tier","operator":"NotIn","values":["db"]}],"matchLabels":{"app":"rich"}},"topologyKey":"kubernetes.io/hostname"},"weight":100}]}},"automountServiceAccountToken":false,"containers":[{"args":["a","b"],"env":[{"name":"A","value":"1"},{"name":"EMPTY"},{"name":"FROM_CM","valueFrom":{"configMapKeyRef":{"key":"k","name":"cm","optional":true}}},{"name":"FROM_SEC","valueFrom":{"secretKeyRef":{"key":"k","name":"s"}}},{"name":"POD","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"CPU","valueFrom":{"resourceFieldRef":{"divisor":"1m","resource":"limits.cpu"}}}],"envFrom":[{"configMapRef":{"name":"cm"},"prefix":"P_"}],"image":"nginx:1.27","imagePullPolicy":"IfNotPresent","lifecycle":{"postStart":{"exec":{"command":["true"]}},"preStop":{"sleep":{"seconds":5}}},"livenessProbe":{"failureThreshold":3,"httpGet":{"httpHeaders":[{"name":"X","value":"y"}],"path":"/healthz","port":"http","scheme":"HTTP"},"initialDelaySeconds":3,"periodSeconds":10,"successThreshold":1,"timeoutSeconds":1},"name":"app","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":53,"hostPort":5353,"protocol":"UDP"}],"readinessProbe":{"periodSeconds":5,"tcpSocket":{"port":8080}},"resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"250m","memory":"64Mi"}},"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,"runAsNonRoot":false,"runAsUser":0},"startupProbe":{"exec":{"command":["cat","/ok"]},"failureThreshold":30},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","volumeMounts":[{"mountPath":"/cfg","name":"cfg","readOnly":true},{"mountPath":"/e","name":"empty","subPath":"x"}],"workingDir":"/w"},{"image":"busybox","name":"dbg","resources":{},"terminationMessagePolicy":"File"}],"dnsConfig":{"nameservers":["192.0.2.53"],"options":[{"name":"ndots","value":"2"}]},"dnsPolicy":"ClusterFirst","enableServiceLinks":true,"hostAliases":[{"hostnames":["a.b"],"ip":"192.0.2.4"}],"hostname":"h","imagePullSecrets":[{"name":"reg"}],"initContainers":[{"command":["sh","-c","true"],"image":"busybox","name":"init","resources":{}}],"nodeSelector":{"disk":"ssd"},"overhead":{"cpu":"10m"},"preemptionPolicy":"PreemptLowerPriority","priority":0,"priorityClassName":"pc","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{"fsGroup":2000,"runAsGroup":3000,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"},"supplementalGroups":[4,5,6],"sysctls":[{"name":"net.core.somaxconn","value":"1024"}]},"serviceAccountName":"sa","shareProcessNamespace":true,"subdomain":"sd","terminationGracePeriodSeconds":0,"tolerations":[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300},{"operator":"Exists"}],"topologySpreadConstraints":[{"labelSelector":{"matchLabels":{"app":"rich"}},"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}],"volumes":[{"configMap":{"defaultMode":420,"items":[{"key":"k","path":"p"}],"name":"cm"},"name":"cfg"},{"name":"sec","secret":{"optional":false,"secretName":"s"}},{"emptyDir":{"medium":"Memory","sizeLimit":"64Mi"},"name":"empty"},{"name":"proj","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3600,"path":"token"}}]}}]},"status":{}}"#,
    ),
];
