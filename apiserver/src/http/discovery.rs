//! Discovery (`/api`, `/apis`, aggregated v2 and legacy), `/version` and OpenAPI v3.
//!
//! All documents are built from [`crate::resources::RESOURCES`]. kubectl reads short names and
//! categories only from here (client-go `restmapper/shortcut.go`), and `kubectl apply` checks
//! the OpenAPI v3 PATCH operations for a `fieldValidation` parameter before it trusts the
//! server to validate (cli-runtime `query_param_verifier_v3.go`). No `components.schemas` are
//! published, so kubectl computes strategic merge patches from its compiled-in types.

use serde_json::{Value, json};

use crate::resources::{self, Resource};

/// The media type of aggregated discovery.
pub(crate) const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client asked for aggregated discovery.
pub(crate) fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList") && accept.contains("g=apidiscovery.k8s.io")
}

/// The Kubernetes version kubicle's types and behaviour follow.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0+kubicle",
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "2026-11-26T00:00:00Z",
        "goVersion": "none (rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, goarch()),
    })
}

fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn aggregated_resource(r: &Resource) -> Value {
    json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": VERBS,
        "shortNames": r.short_names,
        "categories": r.categories,
        "subresources": r.subresources.iter().map(|s| json!({
            "subresource": s.name,
            "responseKind": {"group": s.response.0, "version": s.response.1, "kind": s.response.2},
            "verbs": s.verbs,
        })).collect::<Vec<_>>(),
    })
}

fn aggregated_group(group: &str) -> Value {
    let resources: Vec<Value> = resources::RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .map(aggregated_resource)
        .collect();
    json!({
        "metadata": {"name": group, "creationTimestamp": null},
        "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
    })
}

/// `/api` (core) or `/apis` (named groups) in the aggregated format.
pub(crate) fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group("")]
    } else {
        resources::groups()
            .into_iter()
            .map(aggregated_group)
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// `/api` in the legacy format.
pub(crate) fn legacy_core() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

/// `/apis` in the legacy format.
pub(crate) fn legacy_groups() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/api/v1` or `/apis/<group>/<version>`: the APIResourceList, or `None` if unknown.
pub(crate) fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut list = Vec::new();
    for r in resources::in_group_version(group, version) {
        list.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
            "shortNames": r.short_names,
            "categories": r.categories,
        }));
        for s in r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.response.2,
                "verbs": s.verbs,
            });
            if s.response.0 != r.group {
                entry["group"] = json!(s.response.0);
                entry["version"] = json!(s.response.1);
            }
            list.push(entry);
        }
    }
    if list.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

/// A hash that changes when the served types change, for the OpenAPI URLs.
fn openapi_hash() -> String {
    format!(
        "kubicle-{}-{}",
        env!("CARGO_PKG_VERSION"),
        resources::RESOURCES.len()
    )
}

fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// `/openapi/v3`: one entry per group-version.
pub(crate) fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    for r in resources::RESOURCES {
        let path = gv_path(r);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", openapi_hash())}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<gv>`: a PATCH operation per kind that declares `fieldValidation`.
pub(crate) fn openapi_group_version(gv: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for r in resources::RESOURCES.iter().filter(|r| gv_path(r) == gv) {
        let url = if r.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("/{gv}/{}/{{name}}", r.plural)
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        paths.insert(
            url,
            json!({
                "patch": {
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                        {"name": "force", "in": "query", "schema": {"type": "boolean"}}
                    ],
                    "requestBody": {"content": {
                        "application/merge-patch+json": {"schema": {"type": "object"}},
                        "application/json-patch+json": {"schema": {"type": "object"}},
                        "application/apply-patch+yaml": {"schema": {"type": "object"}}
                    }},
                    "responses": {"200": {"description": "OK"}}
                }
            }),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubicle)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_has_a_response_kind_and_deployments_scale() {
        let apis = aggregated(false);
        let apps = apis["items"]
            .as_array()
            .and_then(|items| items.iter().find(|g| g["metadata"]["name"] == "apps"))
            .expect("apps group");
        let deploy = &apps["versions"][0]["resources"][0];
        assert_eq!(deploy["resource"], "deployments");
        assert_eq!(deploy["shortNames"][0], "deploy");
        let scale = deploy["subresources"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["subresource"] == "scale"))
            .expect("scale");
        assert_eq!(scale["responseKind"]["kind"], "Scale");
        let core = aggregated(true);
        assert_eq!(core["items"][0]["metadata"]["name"], "");
    }

    #[test]
    fn openapi_declares_field_validation_per_kind() {
        let root = openapi_root();
        assert!(
            root["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("/openapi/v3/apis/apps/v1?hash="))
        );
        let doc = openapi_group_version("apis/apps/v1").expect("apps doc");
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(openapi_group_version("apis/nope/v1").is_none());
        assert!(resource_list("apps", "v1").is_some());
        assert!(resource_list("apps", "v9").is_none());
    }
}
