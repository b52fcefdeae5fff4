//! Hostile and ordinary layers, unpacked for real (root-only parts checked as root).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;
use crate::oci;

/// One tar entry with a raw name (`..` and absolute names included, as a hostile layer has
/// them) and the given type, mode, owner, contents and link target.
struct Entry<'a> {
    name: &'a str,
    kind: tar::EntryType,
    mode: u32,
    data: &'a [u8],
    link: &'a str,
}

fn entry(name: &str, kind: tar::EntryType) -> Entry<'_> {
    Entry {
        name,
        kind,
        mode: 0o644,
        data: b"",
        link: "",
    }
}

fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_old();
        let name = &mut header.as_old_mut().name;
        name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        if !e.link.is_empty() {
            let link = &mut header.as_old_mut().linkname;
            link[..e.link.len()].copy_from_slice(e.link.as_bytes());
        }
        header.set_entry_type(e.kind);
        header.set_mode(e.mode);
        header.set_uid(1000);
        header.set_gid(1000);
        header.set_mtime(1_700_000_000);
        header.set_size(e.data.len() as u64);
        header.set_cksum();
        builder.append(&header, e.data).expect("append");
    }
    builder.into_inner().expect("tar")
}

fn store_with(bytes: &[u8]) -> (super::super::import::tests_support::Dir, Store, Descriptor) {
    let dir = super::super::import::tests_support::Dir::new();
    let store = Store::open(&dir.0.join("store")).expect("open");
    let lock = store.lock().expect("lock");
    let (digest, size) = store.put_blob(bytes, None).expect("blob");
    drop(lock);
    let descriptor = Descriptor {
        media_type: oci::LAYER_TAR.into(),
        digest,
        size,
        platform: None,
        annotations: Default::default(),
    };
    (dir, store, descriptor)
}

#[test]
fn hostile_names_and_links_stay_inside_the_layer() {
    use tar::EntryType::*;
    let bytes = layer(&[
        Entry {
            mode: 0o755,
            ..entry("www", Directory)
        },
        Entry {
            data: b"hello",
            ..entry("www/index.html", Regular)
        },
        Entry {
            link: "/tmp",
            ..entry("escape", Symlink)
        },
        Entry {
            data: b"through a link",
            ..entry("escape/planted", Regular)
        },
        Entry {
            data: b"dots",
            ..entry("../../dotdot", Regular)
        },
        Entry {
            data: b"absolute",
            ..entry("/absolute", Regular)
        },
        Entry {
            link: "www/index.html",
            ..entry("www/hard.html", Link)
        },
        Entry {
            link: "/etc/passwd",
            ..entry("passwd", Symlink)
        },
        Entry {
            mode: 0o4755,
            data: b"#!",
            ..entry("bin/setuid", Regular)
        },
    ]);
    let (_dir, store, descriptor) = store_with(&bytes);
    let chain = chain_id(None, &descriptor.digest);
    let fs = unpack_layer(&store, &descriptor, &chain).expect("unpack");
    assert_eq!(
        std::fs::read(fs.join("www/index.html")).expect("index"),
        b"hello"
    );
    // The symlink the layer made leads into the layer's own /tmp, not the host's.
    assert_eq!(
        std::fs::read(fs.join("tmp/planted")).expect("planted"),
        b"through a link"
    );
    assert!(!Path::new("/tmp/planted").exists());
    assert_eq!(std::fs::read(fs.join("dotdot")).expect("dotdot"), b"dots");
    assert_eq!(
        std::fs::read(fs.join("absolute")).expect("absolute"),
        b"absolute"
    );
    let (a, b) = (
        std::fs::metadata(fs.join("www/index.html")).expect("a"),
        std::fs::metadata(fs.join("www/hard.html")).expect("b"),
    );
    assert_eq!(a.ino(), b.ino(), "a hard link");
    assert_eq!(
        std::fs::read_link(fs.join("passwd")).expect("link"),
        Path::new("/etc/passwd")
    );
    let setuid = std::fs::metadata(fs.join("bin/setuid")).expect("setuid");
    assert_eq!(setuid.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(setuid.mtime(), 1_700_000_000);
    if rustix::process::geteuid().is_root() {
        assert_eq!((setuid.uid(), setuid.gid()), (1000, 1000));
    }
    // Unpacked once: the second call finds it.
    assert_eq!(
        unpack_layer(&store, &descriptor, &chain).expect("again"),
        fs
    );
}

#[test]
fn a_hard_link_out_of_the_layer_fails_the_unpack_and_leaves_nothing() {
    use tar::EntryType::*;
    let bytes = layer(&[Entry {
        link: "../../../etc/passwd",
        ..entry("stolen", Link)
    }]);
    let (_dir, store, descriptor) = store_with(&bytes);
    let chain = chain_id(None, &descriptor.digest);
    let err = unpack_layer(&store, &descriptor, &chain).expect_err("no such file in the layer");
    assert!(err.to_string().contains("stolen"), "{err}");
    assert!(!store.root().join("layers").join(&chain[7..]).exists());
    let tmp: Vec<_> = std::fs::read_dir(store.root().join("tmp"))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty(), "nothing half-made is left: {tmp:?}");
}

#[test]
fn whiteouts_become_what_overlayfs_reads() {
    if !rustix::process::geteuid().is_root() {
        return; // mknod and trusted.* xattrs need root
    }
    use tar::EntryType::*;
    let bytes = layer(&[
        Entry {
            mode: 0o755,
            ..entry("www", Directory)
        },
        entry("www/.wh.old.txt", Regular),
        Entry {
            mode: 0o755,
            ..entry("cache", Directory)
        },
        entry("cache/.wh..wh..opq", Regular),
    ]);
    let (_dir, store, descriptor) = store_with(&bytes);
    let fs =
        unpack_layer(&store, &descriptor, &chain_id(None, &descriptor.digest)).expect("unpack");
    let whiteout = std::fs::symlink_metadata(fs.join("www/old.txt")).expect("whiteout");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &whiteout.file_type()
    ));
    assert_eq!(whiteout.rdev(), 0);
    let mut value = [0u8; 8];
    let n = rustix::fs::getxattr(
        fs.join("cache").as_path(),
        "trusted.overlay.opaque",
        &mut value,
    )
    .expect("opaque xattr");
    assert_eq!(&value[..n], b"y");
}

#[test]
fn chain_ids_follow_the_image_spec() {
    let (a, b) = (digest::of_bytes(b"a"), digest::of_bytes(b"b"));
    assert_eq!(chain_id(None, &a), a);
    assert_eq!(
        chain_id(Some(&a), &b),
        digest::of_bytes(format!("{a} {b}").as_bytes())
    );
}
