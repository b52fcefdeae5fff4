//! Tests of managed fields: each case replays a sequence of writes against the functions of
//! the module and checks the object, the managedFields entries and the conflicts against what
//! a v1.32 apiserver produces (several expectations are real managedFields copied from
//! apiserver output).

use serde_json::{Value, json};

use super::*;

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-01-01T00:01:00Z";
const T3: &str = "2024-01-01T00:02:00Z";

/// One write of a scenario.
enum Step {
    /// `update` (create when there is no object yet) of the whole object by a manager.
    Update(&'static str, Value),
    /// `apply` of a configuration by a manager, with force.
    Apply(&'static str, Value, bool),
}

/// Replays the steps on a Deployment (times T1, T2, T3, ...), returning the object after the
/// last one or the first apply error.
fn replay(
    kind: &str,
    api_version: &str,
    start: Option<Value>,
    steps: Vec<Step>,
) -> Result<Value, ApplyError> {
    let times = [T1, T2, T3, "2024-01-01T00:03:00Z", "2024-01-01T00:04:00Z"];
    let mut object = start;
    for (i, step) in steps.into_iter().enumerate() {
        let now = times.get(i).copied().unwrap_or(T3);
        object = Some(match step {
            Step::Update(manager, mut new) => {
                if let Some(old) = &object {
                    // What a client sends back: the stored object with its changes.
                    new["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
                    new["metadata"]["uid"] = json!("u-1");
                }
                update(kind, api_version, object.as_ref(), &mut new, manager, now);
                new["metadata"]["uid"] = json!("u-1");
                new
            }
            Step::Apply(manager, config, force) => {
                let mut out = apply(
                    kind,
                    api_version,
                    object.as_ref(),
                    &config,
                    manager,
                    force,
                    now,
                )?;
                out["metadata"]["uid"] = json!("u-1");
                out
            }
        });
    }
    object.ok_or(ApplyError::NotAnObject)
}

fn deploy(steps: Vec<Step>) -> Result<Value, ApplyError> {
    replay("Deployment", "apps/v1", None, steps)
}

/// (object stored before the steps, steps, conflicts as (field, cause message), message)
type ConflictCase = (
    Option<Value>,
    Vec<Step>,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

/// The entry of a manager and operation.
fn entry<'a>(object: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

fn fields(object: &Value, manager: &str, operation: &str) -> Value {
    entry(object, manager, operation).map_or(Value::Null, |e| e["fieldsV1"].clone())
}

fn managers(object: &Value) -> Vec<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["manager"].as_str().unwrap_or(""),
                        e["operation"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn conflicts(result: Result<Value, ApplyError>) -> Vec<(String, String)> {
    match result {
        Err(ApplyError::Conflicts(list)) => list
            .into_iter()
            .map(|c| (c.field.clone(), c.cause_message()))
            .collect(),
        other => panic!("expected conflicts, got {other:?}"),
    }
}

/// A small Deployment configuration.
fn nginx(replicas: i64, image: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// Real apiserver output
// ---------------------------------------------------------------------------------------

/// `kubectl apply` (client side) of a Deployment and what the apiserver stored, copied from a
/// cluster's `kubectl get -o yaml` (Kubernetes 1.20, when `LabelSelector` was still granular:
/// since it is `+structType=atomic`, `f:selector` is a leaf).
fn csa_created() -> (Value, Value) {
    let last_applied = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"labels":{"app":"nginx"},"name":"nginx","namespace":"default"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"nginx"}},"template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"image":"nginx:1.16","name":"nginx","ports":[{"containerPort":8080}]}]}}}}"#;
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{last_applied}\n")},
            "creationTimestamp": "2021-03-13T23:20:06Z", "generation": 1,
            "labels": {"app": "nginx"}, "name": "nginx", "namespace": "default",
            "resourceVersion": "6562", "uid": "133301f7-2c96-4c73-b326-67205e79c451"
        },
        "spec": {
            "progressDeadlineSeconds": 600, "replicas": 2, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                "spec": {
                    "containers": [{
                        "image": "nginx:1.16", "imagePullPolicy": "IfNotPresent", "name": "nginx",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "resources": {}, "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            }
        },
        "status": {}
    });
    let fields = json!({
        "f:metadata": {
            "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
            "f:labels": {".": {}, "f:app": {}}
        },
        "f:spec": {
            "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {},
            "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        "k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                            "f:ports": {
                                ".": {},
                                "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}
                            },
                            "f:resources": {}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}
                        }
                    },
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                    "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}
                }
            }
        }
    });
    (object, fields)
}

/// The object above as stored after its creation by client-side apply.
fn csa_stored() -> Value {
    let (mut object, _) = csa_created();
    update(
        "Deployment",
        "apps/v1",
        None,
        &mut object,
        "kubectl-client-side-apply",
        "2021-03-13T23:20:06Z",
    );
    object
}

#[test]
fn create_records_the_fields_exactly_as_the_apiserver() {
    let (_, expected) = csa_created();
    let object = csa_stored();
    let entries = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        entries,
        vec![json!({
            "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
            "time": "2021-03-13T23:20:06Z", "fieldsType": "FieldsV1", "fieldsV1": expected
        })]
    );
}

#[test]
fn status_update_records_the_controller_entry_as_the_apiserver() {
    let old = csa_stored();
    let mut new = old.clone();
    new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
    new["metadata"]["resourceVersion"] = json!("6563");
    let condition = |kind: &str, reason: &str| {
        json!({"lastTransitionTime": "2021-03-13T23:20:08Z", "lastUpdateTime": "2021-03-13T23:20:08Z",
               "message": "m", "reason": reason, "status": "True", "type": kind})
    };
    new["status"] = json!({
        "availableReplicas": 2, "observedGeneration": 1, "readyReplicas": 2, "replicas": 2, "updatedReplicas": 2,
        "conditions": [condition("Available", "MinimumReplicasAvailable"), condition("Progressing", "NewReplicaSetAvailable")]
    });
    let scope = Scope::Subresource("status");
    update_in(
        "Deployment",
        "apps/v1",
        Some(&old),
        &mut new,
        "kube-controller-manager",
        T1,
        scope,
    );
    let condition_fields = json!({".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {}, "f:message": {},
                                  "f:reason": {}, "f:status": {}, "f:type": {}});
    let expected = json!({
        "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:annotations": {"f:deployment.kubernetes.io/revision": {}}},
            "f:status": {
                "f:availableReplicas": {},
                "f:conditions": {".": {}, "k:{\"type\":\"Available\"}": condition_fields.clone(),
                                 "k:{\"type\":\"Progressing\"}": condition_fields},
                "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}
            }
        },
        "subresource": "status"
    });
    assert_eq!(
        entry(&new, "kube-controller-manager", "Update"),
        Some(&expected)
    );
    // The client-side apply entry is untouched.
    assert_eq!(
        fields(&new, "kubectl-client-side-apply", "Update"),
        csa_created().1
    );
}

#[test]
fn apply_entries_are_encoded_as_the_apiserver_emits_them() {
    // The ConfigMap of the server-side apply documentation, and the nginx Deployment.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "test-cm", "namespace": "default", "labels": {"test-label": "test"}},
                    "data": {"key": "some value"}});
    let out = apply("ConfigMap", "v1", None, &cm, "kubectl", false, T1).expect("apply");
    assert_eq!(
        out["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {"f:test-label": {}}}, "f:data": {"f:key": {}}}}])
    );
    assert_eq!(out["data"], json!({"key": "some value"}));

    let out = deploy(vec![Step::Apply(
        "kubectl",
        nginx(3, "nginx:1.14.2", json!({"app": "nginx"})),
        false,
    )])
    .expect("apply");
    assert_eq!(
        fields(&out, "kubectl", "Apply"),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {}, "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                }
            }
        })
    );
}

// ---------------------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------------------

#[test]
fn conflicts_with_other_managers_are_reported_as_the_apiserver_does() {
    let created = || {
        Step::Update(
            "kubectl-client-side-apply",
            nginx(2, "nginx:1.16", json!({"app": "nginx"})),
        )
    };
    // Stored before managedFields existed.
    let mut untracked = nginx(2, "nginx:1.16", json!({"app": "nginx"}));
    untracked["metadata"]["uid"] = json!("u-1");
    let cases: Vec<ConflictCase> = vec![
        // Another manager changes replicas: conflict on that field only.
        (
            None,
            vec![
                created(),
                Step::Apply(
                    "deployer",
                    nginx(3, "nginx:1.16", json!({"app": "nginx"})),
                    false,
                ),
            ],
            vec![(
                ".spec.replicas",
                "conflict with \"kubectl-client-side-apply\" using apps/v1",
            )],
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas",
        ),
        // Two fields: grouped per manager.
        (
            None,
            vec![
                created(),
                Step::Apply(
                    "deployer",
                    nginx(3, "nginx:1.17", json!({"app": "nginx"})),
                    false,
                ),
            ],
            vec![
                (
                    ".spec.replicas",
                    "conflict with \"kubectl-client-side-apply\" using apps/v1",
                ),
                (
                    ".spec.template.spec.containers[name=\"nginx\"].image",
                    "conflict with \"kubectl-client-side-apply\" using apps/v1",
                ),
            ],
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
             - .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image",
        ),
        // Against an applier: no apiVersion in the message.
        (
            None,
            vec![
                Step::Apply(
                    "alice",
                    nginx(2, "nginx:1.16", json!({"app": "nginx"})),
                    false,
                ),
                Step::Apply(
                    "bob",
                    json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": "nginx"}, "spec": {"replicas": 5}}),
                    false,
                ),
            ],
            vec![(".spec.replicas", "conflict with \"alice\"")],
            "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas",
        ),
        // An object that was never tracked: its fields belong to "before-first-apply".
        (
            Some(untracked),
            vec![Step::Apply(
                "bob",
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                            "metadata": {"name": "nginx", "labels": {"app": "x"}}}),
                false,
            )],
            vec![(
                ".metadata.labels.app",
                "conflict with \"before-first-apply\" using apps/v1",
            )],
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .metadata.labels.app",
        ),
    ];
    for (i, (start, steps, expected, message)) in cases.into_iter().enumerate() {
        let result = replay("Deployment", "apps/v1", start, steps);
        let seen = result
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert_eq!(seen, message, "case {i}");
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(f, m)| (f.to_owned(), m.to_owned()))
            .collect();
        assert_eq!(conflicts(result), expected, "case {i}");
    }
}

#[test]
fn equal_values_are_shared_not_conflicting() {
    let out = deploy(vec![
        Step::Update(
            "kubectl-client-side-apply",
            nginx(2, "nginx:1.16", json!({"app": "nginx"})),
        ),
        Step::Apply(
            "deployer",
            nginx(2, "nginx:1.16", json!({"app": "nginx"})),
            false,
        ),
    ])
    .expect("no conflict");
    // Both own replicas.
    assert_eq!(
        fields(&out, "deployer", "Apply")["f:spec"]["f:replicas"],
        json!({})
    );
    assert_eq!(
        fields(&out, "kubectl-client-side-apply", "Update")["f:spec"]["f:replicas"],
        json!({})
    );
    // Nothing changed: the applier's entry has no time yet.
    assert_eq!(
        entry(&out, "deployer", "Apply").map(|e| e.get("time").is_none()),
        Some(true)
    );
}

#[test]
fn force_takes_fields_over() {
    let out = deploy(vec![
        Step::Update(
            "kubectl-client-side-apply",
            nginx(2, "nginx:1.16", json!({"app": "nginx"})),
        ),
        Step::Apply(
            "deployer",
            nginx(3, "nginx:1.16", json!({"app": "nginx"})),
            true,
        ),
    ])
    .expect("forced");
    assert_eq!(out["spec"]["replicas"], json!(3));
    assert_eq!(
        fields(&out, "deployer", "Apply")["f:spec"]["f:replicas"],
        json!({})
    );
    let csa = fields(&out, "kubectl-client-side-apply", "Update");
    assert!(csa["f:spec"].get("f:replicas").is_none(), "{csa}");
    assert_eq!(
        csa["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["f:image"],
        json!({})
    );
    assert_eq!(
        entry(&out, "deployer", "Apply").map(|e| e["time"].clone()),
        Some(json!(T2))
    );
    // Apply entries come first.
    assert_eq!(
        managers(&out),
        ["deployer/Apply", "kubectl-client-side-apply/Update"]
    );
}

#[test]
fn client_side_apply_migration() {
    let stored = csa_stored();
    let mut config: Value = serde_json::from_str(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap_or("{}"),
    )
    .unwrap_or_default();
    config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.17");
    // Another manager: only the changed field conflicts.
    let result = apply(
        "Deployment",
        "apps/v1",
        Some(&stored),
        &config,
        "my-manager",
        false,
        T1,
    );
    assert_eq!(
        conflicts(result),
        vec![(
            ".spec.template.spec.containers[name=\"nginx\"].image".to_owned(),
            "conflict with \"kubectl-client-side-apply\" using apps/v1".to_owned()
        )]
    );
    // kubectl: fields still matching the last-applied annotation are taken over.
    let out = apply(
        "Deployment",
        "apps/v1",
        Some(&stored),
        &config,
        "kubectl",
        false,
        T1,
    )
    .expect("migrated");
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx:1.17")
    );
    let csa = fields(&out, "kubectl-client-side-apply", "Update");
    let container =
        &csa["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert!(container.get("f:image").is_none(), "{csa}");
    assert_eq!(
        fields(&out, "kubectl", "Apply")["f:spec"]["f:replicas"],
        json!({})
    );
    // The annotation follows the applied configuration.
    let annotation =
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap_or("");
    assert!(
        annotation.ends_with("}\n") && annotation.contains("nginx:1.17"),
        "{annotation}"
    );
    assert!(!annotation.contains("last-applied"), "{annotation}");
    // Unless someone changed a field since: that one still conflicts.
    let mut scaled = stored.clone();
    scaled["spec"]["replicas"] = json!(5);
    update(
        "Deployment",
        "apps/v1",
        Some(&stored),
        &mut scaled,
        "kubectl-scale",
        T1,
    );
    config["spec"]["replicas"] = json!(2);
    let result = apply(
        "Deployment",
        "apps/v1",
        Some(&scaled),
        &config,
        "kubectl",
        false,
        T2,
    );
    assert_eq!(
        conflicts(result),
        vec![(
            ".spec.replicas".to_owned(),
            "conflict with \"kubectl-scale\" using apps/v1".to_owned()
        )]
    );
}

// ---------------------------------------------------------------------------------------
// Merging and removal
// ---------------------------------------------------------------------------------------

#[test]
fn applying_again_without_a_field_removes_it_unless_someone_else_owns_it() {
    let two_labels = json!({"app": "nginx", "tier": "web"});
    // (steps, labels afterwards)
    let cases: Vec<(Vec<Step>, Value)> = vec![
        (
            vec![
                Step::Apply("kubectl", nginx(2, "x", two_labels.clone()), false),
                Step::Apply("kubectl", nginx(2, "x", json!({"app": "nginx"})), false),
            ],
            json!({"app": "nginx"}),
        ),
        // Owned by another applier too: stays.
        (
            vec![
                Step::Apply("kubectl", nginx(2, "x", two_labels.clone()), false),
                Step::Apply(
                    "other",
                    json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "nginx", "labels": {"tier": "web"}}}),
                    false,
                ),
                Step::Apply("kubectl", nginx(2, "x", json!({"app": "nginx"})), false),
            ],
            two_labels.clone(),
        ),
        // Set by an update since: the updater owns it, it stays.
        (
            vec![
                Step::Apply("kubectl", nginx(2, "x", json!({"app": "nginx"})), false),
                Step::Update("editor", {
                    let mut d = nginx(2, "x", two_labels.clone());
                    d["metadata"]["managedFields"] = json!(null);
                    d
                }),
                Step::Apply("kubectl", nginx(2, "x", json!({"app": "nginx"})), false),
            ],
            two_labels.clone(),
        ),
        // Removing every label removes the map.
        (
            vec![
                Step::Apply("kubectl", nginx(2, "x", two_labels.clone()), false),
                Step::Apply(
                    "kubectl",
                    {
                        let mut d = nginx(2, "x", json!({}));
                        d["metadata"].as_object_mut().map(|m| m.remove("labels"));
                        d
                    },
                    false,
                ),
            ],
            Value::Null,
        ),
    ];
    for (i, (steps, labels)) in cases.into_iter().enumerate() {
        let out = deploy(steps).expect("apply");
        assert_eq!(out["metadata"]["labels"], labels, "case {i}: {out}");
    }
}

#[test]
fn associative_lists_merge_by_key() {
    let containers = |list: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
               "spec": {"template": {"spec": {"containers": list}}}})
    };
    let names = |object: &Value| -> Vec<String> {
        object["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| c["name"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let base = Step::Update(
        "kubectl-create",
        containers(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])),
    );
    // (configuration applied by "sidecar", names afterwards)
    let cases = vec![
        (json!([{"name": "c", "image": "c:1"}]), vec!["a", "b", "c"]),
        (
            json!([{"name": "c", "image": "c:1"}, {"name": "a", "image": "a:1"}]),
            vec!["c", "a", "b"],
        ),
        (
            json!([{"name": "b", "image": "b:1", "env": [{"name": "X", "value": "1"}]}]),
            vec!["a", "b"],
        ),
    ];
    for (i, (list, expected)) in cases.into_iter().enumerate() {
        let base = match &base {
            Step::Update(m, v) => Step::Update(m, v.clone()),
            Step::Apply(..) => unreachable!(),
        };
        let out =
            deploy(vec![base, Step::Apply("sidecar", containers(list), false)]).expect("apply");
        assert_eq!(names(&out), expected, "case {i}");
    }
    // The env entry joined container b, and only it is the sidecar's (with b's key and image).
    let out = deploy(vec![
        Step::Update(
            "kubectl-create",
            containers(json!([{"name": "b", "image": "b:1"}])),
        ),
        Step::Apply(
            "sidecar",
            containers(
                json!([{"name": "b", "image": "b:1", "env": [{"name": "X", "value": "1"}]}]),
            ),
            false,
        ),
    ])
    .expect("apply");
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "X", "value": "1"}])
    );
    assert_eq!(
        fields(&out, "sidecar", "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({"k:{\"name\":\"b\"}": {".": {}, "f:name": {}, "f:image": {},
               "f:env": {"k:{\"name\":\"X\"}": {".": {}, "f:name": {}, "f:value": {}}}}})
    );
    // Changing b's image conflicts on that field only; dropping the sidecar's items removes
    // only what nobody else owns.
    let result = deploy(vec![
        Step::Update(
            "kubectl-create",
            containers(json!([{"name": "b", "image": "b:1"}])),
        ),
        Step::Apply(
            "sidecar",
            containers(json!([{"name": "b", "image": "b:2"}, {"name": "s", "image": "s"}])),
            false,
        ),
    ]);
    assert_eq!(
        conflicts(result),
        vec![(
            ".spec.template.spec.containers[name=\"b\"].image".to_owned(),
            "conflict with \"kubectl-create\" using apps/v1".to_owned()
        )]
    );
    let out = deploy(vec![
        Step::Update(
            "kubectl-create",
            containers(json!([{"name": "b", "image": "b:1"}])),
        ),
        Step::Apply(
            "sidecar",
            containers(json!([{"name": "b", "image": "b:1"}, {"name": "s", "image": "s"}])),
            false,
        ),
        Step::Apply("sidecar", containers(json!([])), false),
    ])
    .expect("apply");
    assert_eq!(names(&out), vec!["b"]);
}

#[test]
fn keys_sets_and_atomic_values_are_addressed_as_the_apiserver_does() {
    let config = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s", "finalizers": ["example.com/x"]},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}],
                 "template": null}
    });
    let out = apply("Service", "v1", None, &config, "m", false, T1).expect("apply");
    assert_eq!(
        fields(&out, "m", "Apply"),
        json!({"f:metadata": {"f:finalizers": {"v:\"example.com/x\"": {}}},
               "f:spec": {"f:selector": {}, "f:template": {},
                          "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}}})
    );
    // A null in the configuration unsets the field.
    assert!(out["spec"].get("template").is_none(), "{out}");
}

// ---------------------------------------------------------------------------------------
// Updates
// ---------------------------------------------------------------------------------------

#[test]
fn updates_move_ownership_of_changed_fields() {
    let out = deploy(vec![
        Step::Apply(
            "kubectl",
            nginx(2, "nginx:1.16", json!({"app": "nginx"})),
            false,
        ),
        Step::Update("hpa", nginx(7, "nginx:1.16", json!({"app": "nginx"}))),
    ])
    .expect("update");
    assert_eq!(
        fields(&out, "hpa", "Update"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    assert!(
        fields(&out, "kubectl", "Apply")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    // An update that changes nothing adds no entry.
    let same = deploy(vec![
        Step::Apply(
            "kubectl",
            nginx(2, "nginx:1.16", json!({"app": "nginx"})),
            false,
        ),
        Step::Update("noop", nginx(2, "nginx:1.16", json!({"app": "nginx"}))),
    ])
    .expect("update");
    assert_eq!(managers(&same), ["kubectl/Apply"]);
}

#[test]
fn managed_fields_in_the_request() {
    let stored = csa_stored();
    // Sent back unchanged (kubectl edit, replace): kept.
    let mut new = stored.clone();
    new["spec"]["replicas"] = json!(3);
    update(
        "Deployment",
        "apps/v1",
        Some(&stored),
        &mut new,
        "kubectl-edit",
        T1,
    );
    assert_eq!(
        managers(&new),
        ["kubectl-client-side-apply/Update", "kubectl-edit/Update"]
    );
    // Omitted: the stored ones are used.
    let mut new = stored.clone();
    new["metadata"]
        .as_object_mut()
        .map(|m| m.remove("managedFields"));
    update("Deployment", "apps/v1", Some(&stored), &mut new, "x", T1);
    assert_eq!(managers(&new), ["kubectl-client-side-apply/Update"]);
    // Rewritten (kubectl's client-side to server-side upgrade): taken as sent.
    let mut new = stored.clone();
    new["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
    new["metadata"]["managedFields"][0]["operation"] = json!("Apply");
    update(
        "Deployment",
        "apps/v1",
        Some(&stored),
        &mut new,
        "kubectl",
        T1,
    );
    assert_eq!(managers(&new), ["kubectl/Apply"]);
    // [{}] resets them, and an untracked object stays untracked.
    for reset in [json!([{}]), json!([])] {
        let mut new = stored.clone();
        new["metadata"]["managedFields"] = reset;
        new["spec"]["replicas"] = json!(9);
        update("Deployment", "apps/v1", Some(&stored), &mut new, "x", T1);
        assert!(new["metadata"].get("managedFields").is_none(), "{new}");
    }
    // Subresources never take them from the request.
    let mut new = stored.clone();
    new["metadata"]["managedFields"] = json!([{}]);
    new["status"] = json!({"replicas": 1});
    update_in(
        "Deployment",
        "apps/v1",
        Some(&stored),
        &mut new,
        "kcm",
        T1,
        Scope::Subresource("status"),
    );
    assert_eq!(
        managers(&new),
        ["kubectl-client-side-apply/Update", "kcm/Update"]
    );
}

#[test]
fn update_entries_are_capped_at_ten() {
    let mut object = nginx(1, "x", json!({"app": "nginx"}));
    update(
        "Deployment",
        "apps/v1",
        None,
        &mut object,
        "creator",
        "2024-01-01T00:00:00Z",
    );
    object["metadata"]["uid"] = json!("u-1");
    for i in 0..11 {
        let mut new = object.clone();
        new["metadata"]["labels"][format!("l{i}")] = json!("v");
        let now = format!("2024-01-01T00:{:02}:00Z", i + 1);
        update(
            "Deployment",
            "apps/v1",
            Some(&object),
            &mut new,
            &format!("m{i:02}"),
            &now,
        );
        object = new;
    }
    let names = managers(&object);
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(
        names.first().map(String::as_str),
        Some("ancient-changes/Update")
    );
    let ancient = fields(&object, "ancient-changes", "Update");
    assert_eq!(
        ancient["f:metadata"]["f:labels"].get("f:l0"),
        Some(&json!({})),
        "{ancient}"
    );
    assert_eq!(ancient["f:spec"]["f:replicas"], json!({}), "{ancient}");
}

// ---------------------------------------------------------------------------------------
// Input checks and names
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_configurations_are_rejected_like_the_apiserver() {
    let mut deep = json!("leaf");
    for _ in 0..200 {
        deep = json!({"a": deep});
    }
    let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    let with = |pointer: &str, value: Value| {
        let mut config = base.clone();
        if let Some(slot) = config.pointer_mut(pointer) {
            *slot = value;
        } else if let Some((parent, key)) = pointer.rsplit_once('/') {
            if let Some(Value::Object(map)) = config.pointer_mut(parent) {
                map.insert(key.to_owned(), value);
            }
        }
        config
    };
    let containers =
        |list: Value| with("/spec", json!({"template": {"spec": {"containers": list}}}));
    // (configuration, code, message)
    let cases = vec![
        (
            with("/apiVersion", json!("apps/v1beta1")),
            400,
            "invalid object type: apps/v1beta1, Kind=Deployment",
        ),
        (
            with("/kind", json!("Pod")),
            400,
            "invalid object type: apps/v1, Kind=Pod",
        ),
        (
            json!({"kind": "Deployment"}),
            400,
            "invalid object type: /, Kind=Deployment",
        ),
        (
            with("/metadata/managedFields", json!([])),
            400,
            "metadata.managedFields must be nil",
        ),
        (
            json!([1]),
            400,
            "the applied configuration must be a JSON object",
        ),
        (
            with("/spec", deep),
            400,
            "object is nested deeper than 100 levels",
        ),
        (
            containers(json!([{"name": "a", "env": [{"name": "X"}, {"name": "X"}]}])),
            500,
            "failed to create typed patch object (/d; apps/v1, Kind=Deployment): \
             .spec.template.spec.containers[name=\"a\"].env: duplicate entries for key [name=\"X\"]",
        ),
        (
            containers(
                json!([{"name": "b", "ports": [{"containerPort": 1}, {"containerPort": 1, "protocol": "TCP"}]},
                              {"image": "a"}, {"image": "not reached"}]),
            ),
            500,
            "failed to create typed patch object (/d; apps/v1, Kind=Deployment): errors:\n  \
             .spec.template.spec.containers[name=\"b\"].ports: duplicate entries for key \
             [containerPort=1,protocol=\"TCP\"]\n  \
             .spec.template.spec.containers: element 1: associative list with keys has an element \
             that omits key field \"name\" (and doesn't have default value)",
        ),
    ];
    for (i, (config, code, message)) in cases.into_iter().enumerate() {
        let live = base.clone();
        match apply(
            "Deployment",
            "apps/v1",
            Some(&live),
            &config,
            "m",
            false,
            T1,
        ) {
            Err(e) => {
                assert_eq!(
                    (e.code(), e.to_string().as_str()),
                    (code, message),
                    "case {i}"
                );
            }
            Ok(v) => panic!("case {i} applied: {v}"),
        }
    }
}

#[test]
fn default_managers_come_from_the_user_agent() {
    let cases = [
        (
            Some("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9"),
            "kubectl",
        ),
        (Some("kube-rs/0.98.0"), "kube-rs"),
        (Some("Go-http-client/2.0"), "Go-http-client"),
        (Some("no slash\tat all"), "no slashat all"),
        (None, ""),
    ];
    for (agent, manager) in cases {
        assert_eq!(default_manager(agent), manager);
    }
    assert_eq!(default_manager(Some(&"x".repeat(300))).len(), 128);
    // An empty manager is recorded as "unknown".
    let mut object = nginx(1, "x", json!({"a": "b"}));
    update("Deployment", "apps/v1", None, &mut object, "", T1);
    assert_eq!(managers(&object), ["unknown/Update"]);
}

#[test]
fn hostile_input_does_not_panic() {
    let mut deep = json!(1);
    for _ in 0..1_000 {
        deep = json!([deep]);
    }
    let mut new =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": deep});
    update("ConfigMap", "v1", None, &mut new, "m", T1);
    assert!(new["metadata"].get("managedFields").is_none());
    // Garbage managedFields in the stored object count as none.
    let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "c", "uid": "u", "managedFields": [{"operation": "Nope"}, 3]},
                      "data": {"a": "1"}});
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
    let result = apply("ConfigMap", "v1", Some(&live), &config, "m", false, T1);
    assert_eq!(conflicts(result).len(), 1);
    // Odd shapes: a list where an object is expected and the other way round.
    let odd = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": ["x"]},
                     "spec": {"template": {"spec": {"containers": {"name": "a"}}}}});
    let out = apply("Deployment", "apps/v1", None, &odd, "m", false, T1).expect("leaves");
    assert_eq!(
        fields(&out, "m", "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({})
    );
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let config = nginx(2, "nginx:1.16", json!({"app": "nginx"}));
    let first = deploy(vec![Step::Apply("kubectl", config.clone(), false)]).expect("apply");
    let again = apply(
        "Deployment",
        "apps/v1",
        Some(&first),
        &config,
        "kubectl",
        false,
        T2,
    )
    .expect("apply");
    assert_eq!(again, first);
    assert_eq!(
        entry(&again, "kubectl", "Apply").map(|e| e["time"].clone()),
        Some(json!(T1))
    );
}

#[test]
fn subresources_have_their_own_entries() {
    let created = deploy(vec![Step::Apply(
        "kubectl",
        nginx(2, "nginx:1.16", json!({"app": "nginx"})),
        false,
    )])
    .expect("apply");
    // A controller applies the status (kube-rs `patch_status` with `Patch::Apply`); what it
    // sends outside `status` is not its own.
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
                        "spec": {"replicas": 9}, "status": {"replicas": 2, "readyReplicas": 1}});
    let scope = Scope::Subresource("status");
    let out = apply_in(
        "Deployment",
        "apps/v1",
        Some(&created),
        &status,
        "ctrl",
        false,
        T2,
        scope,
    )
    .expect("status apply");
    assert_eq!(
        entry(&out, "ctrl", "Apply"),
        Some(
            &json!({"manager": "ctrl", "operation": "Apply", "apiVersion": "apps/v1", "time": T2,
                     "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:status": {"f:readyReplicas": {}, "f:replicas": {}}},
                     "subresource": "status"})
        )
    );
    // A scale moves replicas to a "scale" entry; applying the old count again conflicts.
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(5);
    let scope = Scope::Subresource("scale");
    update_in(
        "Deployment",
        "apps/v1",
        Some(&created),
        &mut scaled,
        "kubectl",
        T2,
        scope,
    );
    assert_eq!(
        fields(&scaled, "kubectl", "Update"),
        json!({"f:spec": {"f:replicas": {}}})
    );
    let result = apply(
        "Deployment",
        "apps/v1",
        Some(&scaled),
        &nginx(2, "nginx:1.16", json!({"app": "nginx"})),
        "kubectl",
        false,
        T3,
    );
    assert_eq!(
        result.map(|_| ()).map_err(|e| e.to_string()),
        Err(
            "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" \
             using apps/v1: .spec.replicas"
                .to_owned()
        )
    );
}
