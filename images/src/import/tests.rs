//! Archives made here as `docker save`, skopeo and podman lay them out.

use std::io::Write;

use serde_json::json;

use super::*;

/// A tar of `(path, contents)` regular files and `(path, -> target)` symlinks.
fn tar_of(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, *bytes)
            .expect("append");
    }
    for (path, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, path, target)
            .expect("link");
    }
    builder.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn hex(digest: &str) -> &str {
    &digest["sha256:".len()..]
}

/// An image config for layers with these uncompressed contents.
fn config(layers: &[&[u8]], architecture: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| digest::of_bytes(l)).collect();
    serde_json::to_vec(&json!({
        "architecture": architecture, "os": "linux",
        "config": {"Entrypoint": ["/bin/httpd"], "Cmd": ["-f"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("json")
}

fn layers() -> (Vec<u8>, Vec<u8>) {
    (
        tar_of(&[("www/index.html", b"hello")], &[]),
        tar_of(&[("www/.wh.old.txt", b"")], &[]),
    )
}

/// A `docker save` archive in the legacy layout, as skopeo writes it (layers first,
/// `<id>/layer.tar` symlinks, `manifest.json` last).
fn docker_archive(name: &str) -> Vec<u8> {
    let (one, two) = layers();
    let config = config(&[&one, &two], "amd64");
    let (c, l1, l2) = (
        digest::of_bytes(&config),
        digest::of_bytes(&one),
        digest::of_bytes(&two),
    );
    let manifest = json!([{
        "Config": format!("{}.json", hex(&c)),
        "RepoTags": [name],
        "Layers": ["aaaa/layer.tar", format!("{}.tar", hex(&l2))],
    }])
    .to_string();
    tar_of(
        &[
            (&format!("{}.tar", hex(&l1)), &one),
            (&format!("{}.tar", hex(&l2)), &two),
            (&format!("{}.json", hex(&c)), &config),
            ("manifest.json", manifest.as_bytes()),
        ],
        &[("aaaa/layer.tar", &format!("../{}.tar", hex(&l1)))],
    )
}

/// An OCI archive whose index holds one entry (a manifest, or an index of `platforms`),
/// named `name`, with gzip layers.
fn oci_archive(name: &str, platforms: &[&str]) -> Vec<u8> {
    let (one, two) = layers();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut manifests = Vec::new();
    for arch in platforms {
        let config = config(&[&one, &two], arch);
        let (g1, g2) = (gzip(&one), gzip(&two));
        let manifest = json!({
            "schemaVersion": 2, "mediaType": oci::MANIFEST,
            "config": {"mediaType": oci::CONFIG, "digest": digest::of_bytes(&config), "size": config.len()},
            "layers": [
                {"mediaType": oci::LAYER_GZIP, "digest": digest::of_bytes(&g1), "size": g1.len()},
                {"mediaType": oci::LAYER_GZIP, "digest": digest::of_bytes(&g2), "size": g2.len()},
            ],
        })
        .to_string()
        .into_bytes();
        manifests.push(json!({
            "mediaType": oci::MANIFEST, "digest": digest::of_bytes(&manifest),
            "size": manifest.len(), "platform": {"architecture": arch, "os": "linux"},
        }));
        blobs.extend([config, g1, g2, manifest]);
    }
    let top = if platforms.len() == 1 {
        let mut only = manifests[0].clone();
        only.as_object_mut().expect("object").remove("platform");
        only
    } else {
        let index = json!({"schemaVersion": 2, "mediaType": oci::INDEX, "manifests": manifests})
            .to_string()
            .into_bytes();
        let entry = json!({"mediaType": oci::INDEX, "digest": digest::of_bytes(&index), "size": index.len()});
        blobs.push(index);
        entry
    };
    let mut top = top;
    top["annotations"] = json!({ oci::REF_NAME: name });
    let index = json!({"schemaVersion": 2, "manifests": [top]}).to_string();
    let paths: Vec<String> = blobs
        .iter()
        .map(|b| format!("blobs/sha256/{}", hex(&digest::of_bytes(b))))
        .collect();
    let mut files: Vec<(&str, &[u8])> = paths
        .iter()
        .zip(&blobs)
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    files.push(("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#));
    files.push(("index.json", index.as_bytes()));
    tar_of(&files, &[])
}

fn store() -> (Dir, Store) {
    let dir = Dir::new();
    let store = Store::open(&dir.0.join("images")).expect("open");
    (dir, store)
}

use super::tests_support::Dir;

#[test]
fn a_legacy_docker_archive_imports_under_its_normalised_name() {
    let (_dir, store) = store();
    let names = import(
        &store,
        &docker_archive("demo/httpd:v1")[..],
        &Options::node(),
    )
    .expect("import");
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].0, "docker.io/demo/httpd:v1");
    let images = store.images().expect("images");
    let image = &images["docker.io/demo/httpd:v1"];
    assert!(image.pinned);
    assert_eq!(image.layers.len(), 2);
    assert!(image.layers.iter().all(|l| l.media_type == oci::LAYER_TAR));
    assert!(image.blobs().all(|b| store.has_blob(b)), "{image:?}");
    // The same archive again changes nothing.
    let again = import(
        &store,
        &docker_archive("demo/httpd:v1")[..],
        &Options::node(),
    )
    .expect("import");
    assert_eq!(again, names);
}

#[test]
fn oci_archives_plain_gzipped_and_multi_platform_import() {
    let (_dir, store) = store();
    let single = oci_archive("demo/app:v2", &["amd64"]);
    let names = import(&store, &gzip(&single)[..], &Options::node()).expect("gzipped archive");
    assert_eq!(names[0].0, "docker.io/demo/app:v2");
    let layers = &store.images().expect("images")["docker.io/demo/app:v2"].layers;
    assert!(layers.iter().all(|l| l.media_type == oci::LAYER_GZIP));

    let multi = oci_archive("registry.local:5000/multi", &["arm64", "amd64"]);
    let amd64 = Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    };
    let arm64 = Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        variant: Some("v8".into()),
    };
    let with = |platform: &Platform| Options {
        platform: platform.clone(),
        base_name: None,
    };
    let a = import(&store, &multi[..], &with(&amd64)).expect("amd64");
    let b = import(&store, &multi[..], &with(&arm64)).expect("arm64");
    assert_eq!(a[0].0, "registry.local:5000/multi:latest");
    assert_ne!(a[0].1, b[0].1, "each platform its own manifest");
    let s390 = Platform {
        architecture: "s390x".into(),
        os: "linux".into(),
        variant: None,
    };
    let none = import(&store, &multi[..], &with(&s390)).expect_err("no s390x image");
    assert!(
        none.to_string()
            .starts_with("no image for linux/s390x in sha256:"),
        "{none}"
    );
}

#[test]
fn wrong_diff_ids_and_digests_are_refused_and_name_nothing() {
    let (_dir, store) = store();
    // A config whose DiffIDs do not match the layers (kind #3479's "wrong diff id").
    let (one, two) = layers();
    let bad_config = config(&[&two, &one], "amd64");
    let c = digest::of_bytes(&bad_config);
    let manifest = json!([{
        "Config": format!("{}.json", hex(&c)), "RepoTags": ["bad:1"],
        "Layers": ["one.tar", "two.tar"],
    }])
    .to_string();
    let archive = tar_of(
        &[
            ("one.tar", &one),
            ("two.tar", &two),
            (&format!("{}.json", hex(&c)), &bad_config),
            ("manifest.json", manifest.as_bytes()),
        ],
        &[],
    );
    let err = import(&store, &archive[..], &Options::node()).expect_err("wrong diff id");
    assert!(err.to_string().contains("wrong diff id"), "{err}");
    // A blob in an OCI layout whose name is not its digest.
    let lying = tar_of(
        &[
            (&format!("blobs/sha256/{}", "0".repeat(64)), b"not that"),
            ("index.json", br#"{"schemaVersion":2,"manifests":[]}"#),
        ],
        &[],
    );
    let err = import(&store, &lying[..], &Options::node()).expect_err("digest mismatch");
    assert!(err.to_string().starts_with("blob digest mismatch"), "{err}");
    let unknown = tar_of(&[("hello.txt", b"hi")], &[]);
    let err = import(&store, &unknown[..], &Options::node()).expect_err("unknown");
    assert!(matches!(err, ImportError::UnknownFormat), "{err}");
    assert!(store.images().expect("images").is_empty());
}

#[test]
fn prune_keeps_what_images_name_and_open_removes_dead_writers_leftovers() {
    let (dir, store) = store();
    import(&store, &docker_archive("keep:1")[..], &Options::node()).expect("import");
    let lock = store.lock().expect("lock");
    let (orphan, _) = store.put_blob(&b"nobody names me"[..], None).expect("blob");
    drop(lock);
    let removed = store.prune(|_| true).expect("prune");
    assert_eq!(removed, std::slice::from_ref(&orphan));
    assert!(!store.has_blob(&orphan));
    assert_eq!(
        store.images().expect("images").len(),
        1,
        "pinned images stay"
    );
    // A temporary file of a writer that died (no such PID) goes at the next open; a live
    // writer's stays.
    let tmp = dir.0.join("images/tmp");
    std::fs::write(tmp.join("999999999-0"), b"half").expect("write");
    std::fs::write(tmp.join(format!("{}-9", std::process::id())), b"mine").expect("write");
    Store::open(&dir.0.join("images")).expect("reopen");
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [format!("{}-9", std::process::id())]);
    store.remove("docker.io/library/keep:1").expect("rm");
    assert!(matches!(
        store.remove("docker.io/library/keep:1"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn drop_in_archives_import_once_until_they_change() {
    let (dir, store) = store();
    let drop_in = dir.0.join("images");
    std::fs::create_dir_all(&drop_in).expect("dir");
    std::fs::write(drop_in.join("app.tar"), docker_archive("app:1")).expect("write");
    std::fs::write(
        drop_in.join("app.tar.gz"),
        gzip(&oci_archive("app:2", &["amd64"])),
    )
    .expect("write");
    std::fs::write(drop_in.join("notes.txt"), b"not an archive").expect("write");
    std::fs::write(drop_in.join("broken.tar"), b"not a tar").expect("write");
    let first = import_dir(&store, &drop_in, &Options::node());
    let outcomes: Vec<(String, bool)> = first
        .iter()
        .map(|d| {
            let name = d
                .file
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, matches!(d.outcome, Some(Ok(_))))
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("app.tar".into(), true),
            ("app.tar.gz".into(), true),
            ("broken.tar".into(), false)
        ]
    );
    let again = import_dir(&store, &drop_in, &Options::node());
    let skipped: Vec<bool> = again.iter().map(|d| d.outcome.is_none()).collect();
    assert_eq!(
        skipped,
        [true, true, false],
        "imported files are skipped, failed ones retried"
    );
    assert_eq!(store.images().expect("images").len(), 2);
}

#[test]
fn an_oci_archive_named_by_a_tag_alone_needs_a_base_name() {
    let (_dir, store) = store();
    let tagged = oci_archive("v3", &["amd64"]);
    let err = import(&store, &tagged[..], &Options::node()).expect_err("unnamed");
    assert!(matches!(err, ImportError::Unnamed), "{err}");
    let options = Options {
        base_name: Some("ghcr.io/me/app".into()),
        ..Options::node()
    };
    let names = import(&store, &tagged[..], &options).expect("named");
    assert_eq!(names[0].0, "ghcr.io/me/app:v3");
}
