//! The table of resource kinds the server knows: group, version, names, scope and subresources.
//!
//! Discovery, OpenAPI, routing and the store all read this one table, so adding a kind is one
//! entry here (plus its defaults, validation and printer where it has special ones).

/// One resource type served by the API, as discovery describes it.
#[derive(Debug)]
pub struct Resource {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind of one object, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: &'static str,
    /// Singular name, e.g. `deployment`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl expands (`po`, `svc`, `deploy`).
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all` for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// Subresources served under `<object>/<name>`.
    pub subresources: &'static [Subresource],
}

/// A subresource of a resource type.
#[derive(Debug)]
pub struct Subresource {
    /// Name in the URL, e.g. `status`, `scale`, `log`.
    pub name: &'static str,
    /// `(group, version, kind)` of what the subresource returns.
    pub response: (&'static str, &'static str, &'static str),
    /// Verbs discovery advertises.
    pub verbs: &'static [&'static str],
}

impl Resource {
    /// The storage key of the type, unique across groups: `apps/deployments`, `/pods`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// `apiVersion` of objects of this type: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The `<resource>[.<group>]` form used in API error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether the type has a `status` subresource (status is then written only there).
    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    /// Looks up a subresource by name.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

macro_rules! status {
    ($g:expr, $k:expr) => {
        Subresource {
            name: "status",
            response: ($g, "v1", $k),
            verbs: STATUS_VERBS,
        }
    };
}

const SCALE: Subresource = Subresource {
    name: "scale",
    response: ("autoscaling", "v1", "Scale"),
    verbs: STATUS_VERBS,
};

/// Every resource type the server serves, in discovery order.
pub static RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &[status!("", "Namespace")],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        subresources: &[status!("", "Node")],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            status!("", "Pod"),
            Subresource {
                name: "log",
                response: ("", "v1", "Pod"),
                verbs: &["get"],
            },
            Subresource {
                name: "exec",
                response: ("", "v1", "PodExecOptions"),
                verbs: &["create", "get"],
            },
            Subresource {
                name: "portforward",
                response: ("", "v1", "PodPortForwardOptions"),
                verbs: &["create", "get"],
            },
        ],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[status!("", "Service")],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[status!("apps", "Deployment"), SCALE],
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[status!("apps", "ReplicaSet"), SCALE],
    },
    Resource {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
    Resource {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        singular: "networkpolicy",
        namespaced: true,
        short_names: &["netpol"],
        categories: &[],
        subresources: &[status!("networking.k8s.io", "NetworkPolicy")],
    },
];

/// Finds a type by group, version and plural name, as a URL names it.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a type by `apiVersion` and `kind`, as an object names it.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The groups served under `/apis`, in order, each with its one version.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}

/// The types of one group-version.
pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static Resource> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_short_names_do_not_clash() {
        let mut keys: Vec<String> = RESOURCES.iter().map(|r| r.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), RESOURCES.len());
        let mut shorts: Vec<&str> = RESOURCES
            .iter()
            .flat_map(|r| r.short_names.iter().copied())
            .collect();
        let n = shorts.len();
        shorts.sort();
        shorts.dedup();
        assert_eq!(shorts.len(), n);
    }

    #[test]
    fn lookups_agree() {
        let d = lookup("apps", "v1", "deployments").expect("deployments");
        assert_eq!(d.kind, "Deployment");
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(d.qualified(), "deployments.apps");
        assert!(std::ptr::eq(
            d,
            by_kind("apps/v1", "Deployment").expect("by kind")
        ));
        assert!(by_kind("apps/v2", "Deployment").is_none());
        assert_eq!(
            lookup("", "v1", "pods").map(|r| r.key()),
            Some("/pods".to_string())
        );
    }
}
