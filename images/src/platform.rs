//! The node's platform and the choice of a manifest from an index, as containerd's default
//! platform matcher makes it (`platforms.Only`: the OS and architecture must match; for arm64
//! a missing variant counts as `v8`).

use crate::oci::{Descriptor, Platform};

/// This machine's platform, in Go's names.
pub fn node() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    Platform {
        architecture: architecture.to_string(),
        os: "linux".to_string(),
        variant: None,
    }
}

/// The first manifest of an index for `platform`.
pub fn choose<'a>(manifests: &'a [Descriptor], platform: &Platform) -> Option<&'a Descriptor> {
    let variant = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
        ("arm64", None) => Some("v8".to_string()),
        (_, v) => v.map(str::to_string),
    };
    manifests.iter().find(|m| {
        m.platform.as_ref().is_some_and(|p| {
            p.os == platform.os
                && p.architecture == platform.architecture
                && (platform.variant.is_none() || variant(p) == variant(platform))
        })
    })
}
