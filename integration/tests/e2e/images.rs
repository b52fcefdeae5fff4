//! The node's image store (issue 13): `kubicle image import|ls|rm|prune` on archives that
//! skopeo writes from an image umoci built (no container runs), while the cluster runs, and
//! the `images/` drop-in directory imported at start.

use std::path::Path;
use std::process::Command;

use integration::{Cluster, eventually, patience as wait};

/// Builds a two-layer busybox image as an OCI layout at `dir/layout:v1`, and writes it as
/// `dir/docker.tar` (docker-archive) and `dir/oci.tar` (oci-archive), both named
/// `demo/httpd:v1`. `None` where umoci, skopeo or busybox are missing (outside CI).
fn build_image(dir: &Path) -> Option<()> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() || !tool("umoci") || !tool("skopeo") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs umoci, skopeo and busybox-static (scripts/setup)"
        );
        return None;
    }
    let sh = |script: &str| {
        let out = integration::run(
            Command::new("sh").args(["-ec", script]).current_dir(dir),
            None,
            wait(),
        );
        assert!(out.ok(), "{script}\n{}\n{}", out.stdout, out.stderr);
    };
    sh(
        "umoci init --layout layout && umoci new --image layout:base \
        && umoci unpack --rootless --image layout:base bundle >/dev/null \
        && mkdir -p bundle/rootfs/bin bundle/rootfs/www \
        && cp /bin/busybox bundle/rootfs/bin/busybox && ln -s busybox bundle/rootfs/bin/sh \
        && echo hello > bundle/rootfs/www/index.html && echo old > bundle/rootfs/www/old.txt \
        && umoci repack --image layout:v1 bundle \
        && rm bundle/rootfs/www/old.txt && umoci repack --image layout:v1 bundle \
        && umoci config --image layout:v1 --tag v1 --config.entrypoint /bin/sh \
           --architecture amd64 --os linux && umoci gc --layout layout",
    );
    sh(
        "skopeo copy -q oci:layout:v1 docker-archive:docker.tar:demo/httpd:v1 \
        && skopeo copy -q oci:layout:v1 oci-archive:oci.tar:demo/httpd:v1",
    );
    Some(())
}

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kubicle_image(c: &Cluster, args: &[&str], stdin: Option<&str>) -> integration::Output {
    let mut command = Command::new(integration::kubicle_bin());
    command
        .arg("image")
        .args(args)
        .arg("--data-dir")
        .arg(&c.data_dir);
    integration::run(&mut command, stdin, wait())
}

#[test]
fn archives_import_while_the_cluster_runs_and_list_remove_and_prune() {
    let c = Cluster::start_with("images-cli", &["--no-pods"]);
    let work = c.data_dir.parent().expect("test dir").join("build");
    std::fs::create_dir_all(&work).expect("build dir");
    if build_image(&work).is_none() {
        return;
    }
    for archive in ["docker.tar", "oci.tar"] {
        let path = work.join(archive);
        let out = kubicle_image(&c, &["import", path.to_str().expect("utf-8")], None);
        assert_eq!(
            out.success(),
            "Loaded image: docker.io/demo/httpd:v1\n",
            "{archive}"
        );
    }
    // From stdin, gzip-compressed, under a second name.
    let mut command = Command::new("sh");
    command
        .arg("-ec")
        .arg(format!(
            "skopeo copy -q oci:layout:v1 oci-archive:other.tar:other/app:v2 \
             && gzip -c other.tar | {} image import - --data-dir {}",
            integration::kubicle_bin().display(),
            c.data_dir.display()
        ))
        .current_dir(&work);
    let piped = integration::run(&mut command, None, wait());
    assert_eq!(piped.success(), "Loaded image: docker.io/other/app:v2\n");

    let list = kubicle_image(&c, &["ls"], None);
    let rows: Vec<Vec<&str>> = list
        .success()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]);
    let names: Vec<(&str, &str)> = rows[1..].iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        names,
        [
            ("docker.io/demo/httpd", "v1"),
            ("docker.io/other/app", "v2")
        ]
    );
    assert_eq!(rows[1][2], rows[2][2], "one image, one ID");

    let rm = kubicle_image(&c, &["rm", "other/app:v2"], None);
    assert_eq!(rm.success(), "Deleted: docker.io/other/app:v2\n");
    let again = kubicle_image(&c, &["rm", "other/app:v2"], None);
    assert!(again.failure().contains("not found"), "{}", again.stderr);
    let prune = kubicle_image(&c, &["prune"], None);
    assert!(prune.success().starts_with("Deleted "), "{}", prune.stdout);
    assert!(
        kubicle_image(&c, &["ls"], None)
            .success()
            .contains("docker.io/demo/httpd")
    );
    let bad = kubicle_image(&c, &["import", "/nonexistent.tar"], None);
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr.contains("open /nonexistent.tar"),
        "{}",
        bad.stderr
    );
}

#[test]
fn archives_dropped_in_the_images_dir_are_imported_at_start() {
    let mut c = Cluster::start_with("images-drop-in", &["--no-pods"]);
    let work = c.data_dir.parent().expect("test dir").join("build");
    std::fs::create_dir_all(&work).expect("build dir");
    if build_image(&work).is_none() {
        return;
    }
    let drop_in = c.data_dir.join("images");
    std::fs::create_dir_all(&drop_in).expect("images dir");
    std::fs::copy(work.join("docker.tar"), drop_in.join("httpd.tar")).expect("copy");
    c.restart();
    eventually("the dropped archive is imported", wait(), || {
        let list = kubicle_image(&c, &["ls"], None);
        list.stdout.contains("docker.io/demo/httpd").then_some(())
    });
}

/// A registry (distribution, Debian's `docker-registry`) on 127.0.0.1, stopped by PID on drop.
struct Registry {
    child: std::process::Child,
    address: String,
}

impl Registry {
    /// Serves `dir`'s storage on a free loopback port; with `tls` (cert, key, htpasswd) over
    /// HTTPS with basic auth.
    fn start(dir: &Path, tls: Option<(&Path, &Path, &Path)>) -> Option<Registry> {
        if !tool_exists("docker-registry") {
            assert!(std::env::var_os("CI").is_none(), "CI needs docker-registry");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {address}",
            dir.join("storage").display()
        );
        match tls {
            Some((cert, key, htpasswd)) => config.push_str(&format!(
                ", tls: {{certificate: {}, key: {}}}}}\nauth: {{htpasswd: {{realm: kubicle-test, path: {}}}}}\n",
                cert.display(),
                key.display(),
                htpasswd.display()
            )),
            None => config.push_str("}\n"),
        }
        let file = dir.join("registry.yml");
        std::fs::write(&file, config).expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { child, address };
        eventually("the registry listens", wait(), || {
            std::net::TcpStream::connect(&registry.address)
                .ok()
                .map(|_| ())
        });
        Some(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

#[test]
fn images_pull_from_a_loopback_registry_over_http_and_https_with_basic_auth() {
    let c = Cluster::start_with("images-pull", &["--no-pods"]);
    let work = c.data_dir.parent().expect("test dir").join("build");
    std::fs::create_dir_all(&work).expect("build dir");
    if build_image(&work).is_none() {
        return;
    }
    let plain_dir = work.join("plain");
    std::fs::create_dir_all(&plain_dir).expect("dir");
    let Some(plain) = Registry::start(&plain_dir, None) else {
        return;
    };
    let push = |dest: &str, extra: &str| {
        let script = format!("skopeo copy -q {extra} oci:layout:v1 docker://{dest}");
        let out = integration::run(
            Command::new("sh").args(["-ec", &script]).current_dir(&work),
            None,
            wait(),
        );
        assert!(out.ok(), "{script}: {}", out.stderr);
    };
    push(
        &format!("{}/demo/httpd:v1", plain.address),
        "--dest-tls-verify=false",
    );
    let image = format!("{}/demo/httpd:v1", plain.address);
    let pulled = kubicle_image(&c, &["pull", &image], None);
    assert!(
        pulled
            .success()
            .starts_with(&format!("Image is up to date for {image}@sha256:")),
        "{}",
        pulled.stdout
    );
    assert!(
        kubicle_image(&c, &["ls"], None)
            .success()
            .contains(&format!("{}/demo/httpd", plain.address))
    );
    let missing = kubicle_image(
        &c,
        &["pull", &format!("{}/demo/nothing:v1", plain.address)],
        None,
    );
    assert!(
        missing
            .failure()
            .contains("failed to pull and unpack image"),
        "{}",
        missing.stderr
    );

    // HTTPS with basic auth: the CA and the credentials from registries.yaml.
    let secure_dir = work.join("secure");
    std::fs::create_dir_all(&secure_dir).expect("dir");
    let certs = integration::run(
        Command::new("sh")
            .args(["-ec", "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
                -addext subjectAltName=IP:127.0.0.1 -keyout tls.key -out tls.crt 2>/dev/null \
                && htpasswd -Bbn dev s3cret > htpasswd && mkdir -p certs.d && cp tls.crt certs.d/ca.crt"])
            .current_dir(&secure_dir),
        None,
        wait(),
    );
    assert!(certs.ok(), "{}", certs.stderr);
    let (cert, key, htpasswd) = (
        secure_dir.join("tls.crt"),
        secure_dir.join("tls.key"),
        secure_dir.join("htpasswd"),
    );
    let Some(secure) = Registry::start(&secure_dir, Some((&cert, &key, &htpasswd))) else {
        return;
    };
    push(
        &format!("{}/private/app:v1", secure.address),
        &format!(
            "--dest-cert-dir {} --dest-creds dev:s3cret",
            secure_dir.join("certs.d").display()
        ),
    );
    let private = format!("{}/private/app:v1", secure.address);
    let denied = kubicle_image(&c, &["pull", &private], None);
    assert_eq!(denied.code, Some(1), "no credentials: {}", denied.stdout);
    std::fs::write(
        c.data_dir.join("registries.yaml"),
        format!(
            "configs:\n  \"{}\":\n    auth: {{username: dev, password: s3cret}}\n    tls: {{ca_file: {}}}\n",
            secure.address,
            cert.display()
        ),
    )
    .expect("registries.yaml");
    let pulled = kubicle_image(&c, &["pull", &private], None);
    assert!(pulled.success().contains(&private), "{}", pulled.stdout);
    let with_flag = kubicle_image(&c, &["pull", &private, "--creds", "dev:s3cret"], None);
    assert!(with_flag.ok(), "{}", with_flag.stderr);
}
