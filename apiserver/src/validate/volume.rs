//! Pod volumes: `ValidateVolumes` and `validateVolumeSource` of
//! `pkg/apis/core/validation/validation.go` (names, exactly one source, the
//! required fields of the common sources, modes and items).

use super::{
    FieldError, arr, child, forbidden, index, int, invalid, invalid_each, names, required, sz,
};
use serde_json::Value;

/// Volume source keys in the order `validateVolumeSource` checks them.
const VOLUME_SOURCES: [&str; 29] = [
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
];

/// `ValidateVolumes`: names required, DNS labels, unique; exactly one
/// source. Returns the names of the valid volumes (mount targets).
pub(crate) fn validate_volumes(
    vols: &[Value],
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Vec<String> {
    let mut names_ok: Vec<String> = Vec::new();
    for (i, v) in vols.iter().enumerate() {
        let p = index(path, i);
        let mut el = Vec::new();
        validate_volume_source(v, &p, &mut el);
        let name = sz(v, "name");
        if name.is_empty() {
            el.push(required(child(&p, "name"), ""));
        } else {
            invalid_each(
                &child(&p, "name"),
                name,
                names::dns1123_label(name),
                &mut el,
            );
        }
        if names_ok.iter().any(|n| n == name) {
            el.push(super::duplicate(child(&p, "name"), Value::from(name)));
        }
        if el.is_empty() {
            names_ok.push(name.to_string());
        }
        errs.extend(el);
    }
    names_ok
}

fn validate_volume_source(v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let mut n = 0;
    for k in VOLUME_SOURCES {
        let Some(src) = v.get(k).filter(|x| !x.is_null()) else {
            continue;
        };
        let p = child(path, k);
        if n > 0 {
            errs.push(forbidden(p, "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        let req = |f: &str, errs: &mut Vec<FieldError>| {
            if sz(src, f).is_empty() {
                errs.push(required(child(&p, f), ""));
            }
        };
        match k {
            "hostPath" => req("path", errs),
            "secret" => req("secretName", errs),
            "configMap" => req("name", errs),
            "persistentVolumeClaim" => req("claimName", errs),
            "nfs" => {
                req("server", errs);
                req("path", errs);
                if !sz(src, "path").starts_with('/') {
                    errs.push(invalid(
                        child(&p, "path"),
                        Value::from(sz(src, "path")),
                        "must be an absolute path",
                    ));
                }
            }
            _ => {}
        }
        if let Some(mode) = int(src, "defaultMode") {
            if !(0..=0o777).contains(&mode) {
                errs.push(invalid(
                    child(&p, "defaultMode"),
                    Value::from(mode),
                    "must be a number between 0 and 0777 (octal), both inclusive",
                ));
            }
        }
        for (j, item) in arr(src, "items").iter().enumerate() {
            let ip = index(&child(&p, "items"), j);
            if sz(item, "key").is_empty() && k != "downwardAPI" {
                errs.push(required(child(&ip, "key"), ""));
            }
            if sz(item, "path").is_empty() {
                errs.push(required(child(&ip, "path"), ""));
            }
        }
    }
    if n == 0 {
        errs.push(required(path.to_string(), "must specify a volume type"));
    }
}
