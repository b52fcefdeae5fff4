//! Cases from distribution/reference's `normalize_test.go` and `reference_test.go`.

use super::{Reference, ReferenceError};

fn full(s: &str) -> Result<String, ReferenceError> {
    Reference::parse_normalized(s).map(|r| r.to_string())
}

#[test]
fn names_are_normalised_as_docker_normalises_them() {
    let hex = "a".repeat(64);
    let cases = [
        ("docker/docker", "docker.io/docker/docker"),
        ("library/debian", "docker.io/library/debian"),
        ("debian", "docker.io/library/debian"),
        ("docker.io/docker/docker", "docker.io/docker/docker"),
        ("docker.io/debian", "docker.io/library/debian"),
        ("index.docker.io/docker/docker", "docker.io/docker/docker"),
        ("index.docker.io/debian", "docker.io/library/debian"),
        ("localhost/library/debian", "localhost/library/debian"),
        ("localhost/debian", "localhost/debian"),
        (
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/docker/docker",
        ),
        ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("[::1]:5000/app", "[::1]:5000/app"),
        ("[2001:db8::1]/app:v2", "[2001:db8::1]/app:v2"),
        ("192.168.0.1", "docker.io/library/192.168.0.1"),
        ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
        ("foo.com:8080/bar", "foo.com:8080/bar"),
        ("FOO/bar", "FOO/bar"),
        ("nginx:1.27-alpine", "docker.io/library/nginx:1.27-alpine"),
        ("nginx:Latest", "docker.io/library/nginx:Latest"),
        ("a__b.c--d_e/f-g", "a__b.c--d_e/f-g"),
        ("a__b--c/d.e", "docker.io/a__b--c/d.e"),
    ];
    for (input, want) in cases {
        assert_eq!(full(input).as_deref(), Ok(want), "{input}");
    }
    let digest = format!("sha256:{hex}");
    assert_eq!(
        full(&format!("nginx@{digest}")),
        Ok(format!("docker.io/library/nginx@{digest}"))
    );
    assert_eq!(
        full(&format!("ghcr.io/o/app:v1@{digest}")),
        Ok(format!("ghcr.io/o/app:v1@{digest}"))
    );
}

#[test]
fn bad_references_get_upstreams_words() {
    use ReferenceError::*;
    let hex = "a".repeat(64);
    let long = format!("a/{}", "b".repeat(255));
    let long_tag = format!("nginx:{}", "t".repeat(129));
    let cases: Vec<(String, ReferenceError)> = vec![
        ("".into(), InvalidFormat),
        ("-foo".into(), InvalidFormat),
        ("foo-".into(), InvalidFormat),
        ("foo_-bar".into(), InvalidFormat),
        ("foo___bar".into(), InvalidFormat),
        ("aa/asdf$$^/aa".into(), InvalidFormat),
        ("https://github.com/docker/docker".into(), InvalidFormat),
        ("nginx:".into(), InvalidFormat),
        ("nginx:-tag".into(), InvalidFormat),
        (long_tag, InvalidFormat),
        ("a//b".into(), InvalidFormat),
        ("[::1/app".into(), InvalidFormat),
        ("[zz]:5000/app".into(), InvalidFormat),
        ("host:port/app".into(), InvalidFormat),
        (
            "docker.io/docker/Docker".into(),
            RemoteNameUppercase("docker/Docker".into()),
        ),
        ("Nginx".into(), RemoteNameUppercase("library/Nginx".into())),
        (hex.clone(), HexIdentifier(hex.clone())),
        (long, NameTooLong),
        (format!("nginx@sha256:{}", "a".repeat(63)), DigestLength),
        (format!("nginx@sha256:{}", "A".repeat(64)), DigestFormat),
        (format!("nginx@md5:{}", "a".repeat(32)), DigestUnsupported),
        ("nginx@sha256:abc".into(), InvalidFormat),
    ];
    for (input, want) in cases {
        assert_eq!(full(&input), Err(want), "{input}");
    }
    assert_eq!(
        ReferenceError::RemoteNameUppercase("library/Nginx".into()).to_string(),
        "invalid reference format: repository name (library/Nginx) must be lowercase"
    );
}

#[test]
fn the_kubelet_adds_latest_only_without_tag_or_digest() {
    let digest = format!("sha256:{}", "0".repeat(64));
    let cases = [
        (
            "nginx".to_string(),
            "docker.io/library/nginx:latest".to_string(),
        ),
        (
            "nginx:1".to_string(),
            "docker.io/library/nginx:1".to_string(),
        ),
        (
            format!("nginx@{digest}"),
            format!("docker.io/library/nginx@{digest}"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(Reference::for_pull(&input).map(|r| r.to_string()), Ok(want));
    }
}

#[test]
fn familiar_names_drop_docker_hubs_defaults() {
    let cases = [
        ("nginx", "nginx:latest"),
        ("user/app:v1", "user/app:v1"),
        ("library/foo/bar", "library/foo/bar:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("quay.io/x/y:z", "quay.io/x/y:z"),
    ];
    for (input, want) in cases {
        let reference = Reference::for_pull(input).expect(input);
        assert_eq!(reference.familiar(), want, "{input}");
    }
    let r = Reference::for_pull("nginx").expect("nginx");
    assert_eq!(r.name(), "docker.io/library/nginx");
}
