//! Server-side apply schema of the built-in kinds: which lists are associative (`+listType=map`
//! with their `+listMapKey`s, or `+listType=set`), which structs and maps are atomic
//! (`+structType=atomic`, `+mapType=atomic`), and the zero object of each kind.
//!
//! Generated from the Go types of k8s.io/api v0.32 (core/v1, apps/v1, batch/v1, discovery/v1,
//! networking/v1, rbac/v1, policy/v1, coordination/v1, scheduling/v1, storage/v1) and
//! k8s.io/apimachinery v0.32 meta/v1, the way kube-openapi turns those markers into the
//! structured-merge-diff schema: a list without `+listType` but with `patchStrategy:"merge"` is
//! associative on its `patchMergeKey`; every other list is atomic. Only fields that differ
//! from the default (objects granular, lists atomic) and the fields leading to them are listed.
//! Key defaults come from `+default` markers on key fields (`protocol` defaults to "TCP").

/// How server-side apply treats one field's value.
#[derive(Clone, Copy, Debug)]
pub(super) enum Shape {
    /// A granular struct or map: every key is a field of its own. Lists the keys whose shape
    /// differs from the default.
    Object(Fields),
    /// An atomic struct or map: the whole value is one leaf.
    Atomic,
    /// `+listType=set`: a list of scalars, each element addressed by its value.
    Set,
    /// `+listType=map`: elements addressed by their key fields; the element fields.
    Map(&'static [Key], Fields),
}

/// One `+listMapKey` of an associative list.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    /// The key field.
    pub(super) name: &'static str,
    /// The field's `+default`, used when an element omits it (always a string in v1.32).
    pub(super) default: Option<&'static str>,
}

/// Fields of a struct whose shape is not the default, by JSON name.
pub(super) type Fields = &'static [(&'static str, Shape)];

/// No field with a special shape.
pub(super) const NONE: Fields = &[];

use Shape::{Atomic, Map, Object, Set};

const fn key(name: &'static str) -> Key {
    Key {
        name,
        default: None,
    }
}

const fn key_or(name: &'static str, default: &'static str) -> Key {
    Key {
        name,
        default: Some(default),
    }
}

/// Root fields of a kind; unknown kinds (custom resources) only know `metadata`.
pub(super) fn root(kind: &str) -> Fields {
    KINDS
        .iter()
        .find(|(kinds, _, _)| kinds.contains(&kind))
        .map_or(UNKNOWN, |(_, fields, _)| fields)
}

/// The JSON Go marshals for an empty object of the kind (struct fields without `omitempty`
/// and non-pointer structs are always present); `{}` for unknown kinds. Creation compares
/// against it, so that fields present in every object do not get a `.` entry.
pub(super) fn zero(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(kinds, _, _)| kinds.contains(&kind))
        .map_or("{}", |(_, _, zero)| zero)
}

/// Custom resources: ObjectMeta, and everything else granular with atomic lists.
const UNKNOWN: Fields = &[("metadata", Object(OBJECT_META))];

/// meta/v1 ObjectMeta.
const OBJECT_META: Fields = &[
    ("ownerReferences", Map(&[key("uid")], NONE)),
    ("finalizers", Set),
];

/// core/v1 ISCSIVolumeSource, core/v1 RBDVolumeSource, core/v1 FlexVolumeSource, core/v1 CinderVolumeSource, core/v1 CephFSVolumeSource, core/v1 ScaleIOVolumeSource, core/v1 StorageOSVolumeSource, core/v1 RBDPersistentVolumeSource, core/v1 ISCSIPersistentVolumeSource, core/v1 CinderPersistentVolumeSource, core/v1 CephFSPersistentVolumeSource, core/v1 FlexPersistentVolumeSource, core/v1 ScaleIOPersistentVolumeSource, core/v1 StorageOSPersistentVolumeSource.
const SECRET_REF_SOURCE: Fields = &[("secretRef", Atomic)];

/// core/v1 CSIVolumeSource.
const CSI_VOLUME_SOURCE: Fields = &[("nodePublishSecretRef", Atomic)];

/// core/v1 PersistentVolumeClaimSpec.
const PERSISTENT_VOLUME_CLAIM_SPEC: Fields = &[("selector", Atomic), ("dataSource", Atomic)];

/// core/v1 PersistentVolumeClaimTemplate.
const PERSISTENT_VOLUME_CLAIM_TEMPLATE: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(PERSISTENT_VOLUME_CLAIM_SPEC)),
];

/// core/v1 EphemeralVolumeSource.
const EPHEMERAL_VOLUME_SOURCE: Fields = &[(
    "volumeClaimTemplate",
    Object(PERSISTENT_VOLUME_CLAIM_TEMPLATE),
)];

/// core/v1 Volume.
const VOLUME: Fields = &[
    ("iscsi", Object(SECRET_REF_SOURCE)),
    ("rbd", Object(SECRET_REF_SOURCE)),
    ("flexVolume", Object(SECRET_REF_SOURCE)),
    ("cinder", Object(SECRET_REF_SOURCE)),
    ("cephfs", Object(SECRET_REF_SOURCE)),
    ("scaleIO", Object(SECRET_REF_SOURCE)),
    ("storageos", Object(SECRET_REF_SOURCE)),
    ("csi", Object(CSI_VOLUME_SOURCE)),
    ("ephemeral", Object(EPHEMERAL_VOLUME_SOURCE)),
];

/// core/v1 EnvVarSource.
const ENV_VAR_SOURCE: Fields = &[
    ("fieldRef", Atomic),
    ("resourceFieldRef", Atomic),
    ("configMapKeyRef", Atomic),
    ("secretKeyRef", Atomic),
];

/// core/v1 EnvVar.
const ENV_VAR: Fields = &[("valueFrom", Object(ENV_VAR_SOURCE))];

/// core/v1 ResourceRequirements.
const RESOURCE_REQUIREMENTS: Fields = &[("claims", Map(&[key("name")], NONE))];

/// core/v1 Container, core/v1 EphemeralContainer.
const CONTAINER: Fields = &[
    (
        "ports",
        Map(&[key("containerPort"), key_or("protocol", "TCP")], NONE),
    ),
    ("env", Map(&[key("name")], ENV_VAR)),
    ("resources", Object(RESOURCE_REQUIREMENTS)),
    ("volumeMounts", Map(&[key("mountPath")], NONE)),
    ("volumeDevices", Map(&[key("devicePath")], NONE)),
];

/// core/v1 NodeAffinity.
const NODE_AFFINITY: Fields = &[("requiredDuringSchedulingIgnoredDuringExecution", Atomic)];

/// core/v1 Affinity.
const AFFINITY: Fields = &[("nodeAffinity", Object(NODE_AFFINITY))];

/// core/v1 TopologySpreadConstraint.
const TOPOLOGY_SPREAD_CONSTRAINT: Fields = &[("labelSelector", Atomic)];

/// core/v1 PodSpec.
const POD_SPEC: Fields = &[
    ("volumes", Map(&[key("name")], VOLUME)),
    ("initContainers", Map(&[key("name")], CONTAINER)),
    ("containers", Map(&[key("name")], CONTAINER)),
    ("ephemeralContainers", Map(&[key("name")], CONTAINER)),
    ("nodeSelector", Atomic),
    ("imagePullSecrets", Map(&[key_or("name", "")], NONE)),
    ("affinity", Object(AFFINITY)),
    ("hostAliases", Map(&[key("ip")], NONE)),
    (
        "topologySpreadConstraints",
        Map(
            &[key("topologyKey"), key("whenUnsatisfiable")],
            TOPOLOGY_SPREAD_CONSTRAINT,
        ),
    ),
    ("schedulingGates", Map(&[key("name")], NONE)),
    ("resourceClaims", Map(&[key("name")], NONE)),
    ("resources", Object(RESOURCE_REQUIREMENTS)),
];

/// core/v1 PodStatus.
const POD_STATUS: Fields = &[
    ("conditions", Map(&[key("type")], NONE)),
    ("podIPs", Map(&[key("ip")], NONE)),
    ("resourceClaimStatuses", Map(&[key("name")], NONE)),
];

/// core/v1 Pod.
const POD: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(POD_SPEC)),
    ("status", Object(POD_STATUS)),
];

/// core/v1 PodTemplateSpec.
const POD_TEMPLATE_SPEC: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(POD_SPEC)),
];

/// core/v1 PodTemplate.
const POD_TEMPLATE: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("template", Object(POD_TEMPLATE_SPEC)),
];

/// core/v1 ReplicationControllerSpec, apps/v1 DeploymentSpec, apps/v1 ReplicaSetSpec, apps/v1 StatefulSetSpec, apps/v1 DaemonSetSpec, batch/v1 JobSpec.
const WORKLOAD_SPEC: Fields = &[
    ("selector", Atomic),
    ("template", Object(POD_TEMPLATE_SPEC)),
];

/// core/v1 ReplicationControllerStatus, core/v1 ServiceStatus, core/v1 NamespaceStatus, core/v1 PersistentVolumeClaimStatus, apps/v1 DeploymentStatus, apps/v1 ReplicaSetStatus, apps/v1 StatefulSetStatus, apps/v1 DaemonSetStatus, policy/v1 PodDisruptionBudgetStatus.
const CONDITIONS_STATUS: Fields = &[("conditions", Map(&[key("type")], NONE))];

/// core/v1 ReplicationController, apps/v1 Deployment, apps/v1 ReplicaSet, apps/v1 StatefulSet, apps/v1 DaemonSet.
const WORKLOAD: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(WORKLOAD_SPEC)),
    ("status", Object(CONDITIONS_STATUS)),
];

/// core/v1 ServiceSpec.
const SERVICE_SPEC: Fields = &[
    (
        "ports",
        Map(&[key("port"), key_or("protocol", "TCP")], NONE),
    ),
    ("selector", Atomic),
];

/// core/v1 Service.
const SERVICE: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(SERVICE_SPEC)),
    ("status", Object(CONDITIONS_STATUS)),
];

/// core/v1 Endpoints, core/v1 ConfigMap, core/v1 Secret, core/v1 LimitRange, discovery/v1 EndpointSlice, rbac/v1 Role, rbac/v1 ClusterRole, coordination/v1 Lease, scheduling/v1 PriorityClass, storage/v1 StorageClass.
const METADATA_ONLY: Fields = &[("metadata", Object(OBJECT_META))];

/// core/v1 NodeSpec.
const NODE_SPEC: Fields = &[("podCIDRs", Set)];

/// core/v1 NodeStatus.
const NODE_STATUS: Fields = &[
    ("conditions", Map(&[key("type")], NONE)),
    ("addresses", Map(&[key("type")], NONE)),
];

/// core/v1 Node.
const NODE: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(NODE_SPEC)),
    ("status", Object(NODE_STATUS)),
];

/// core/v1 Namespace.
const NAMESPACE: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("status", Object(CONDITIONS_STATUS)),
];

/// core/v1 ServiceAccount.
const SERVICE_ACCOUNT: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("secrets", Map(&[key("name")], NONE)),
];

/// core/v1 PersistentVolumeClaim.
const PERSISTENT_VOLUME_CLAIM: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(PERSISTENT_VOLUME_CLAIM_SPEC)),
    ("status", Object(CONDITIONS_STATUS)),
];

/// core/v1 CSIPersistentVolumeSource.
const CSI_PERSISTENT_VOLUME_SOURCE: Fields = &[
    ("controllerPublishSecretRef", Atomic),
    ("nodeStageSecretRef", Atomic),
    ("nodePublishSecretRef", Atomic),
    ("controllerExpandSecretRef", Atomic),
    ("nodeExpandSecretRef", Atomic),
];

/// core/v1 VolumeNodeAffinity.
const VOLUME_NODE_AFFINITY: Fields = &[("required", Atomic)];

/// core/v1 PersistentVolumeSpec.
const PERSISTENT_VOLUME_SPEC: Fields = &[
    ("rbd", Object(SECRET_REF_SOURCE)),
    ("iscsi", Object(SECRET_REF_SOURCE)),
    ("cinder", Object(SECRET_REF_SOURCE)),
    ("cephfs", Object(SECRET_REF_SOURCE)),
    ("flexVolume", Object(SECRET_REF_SOURCE)),
    ("scaleIO", Object(SECRET_REF_SOURCE)),
    ("storageos", Object(SECRET_REF_SOURCE)),
    ("csi", Object(CSI_PERSISTENT_VOLUME_SOURCE)),
    ("claimRef", Atomic),
    ("nodeAffinity", Object(VOLUME_NODE_AFFINITY)),
];

/// core/v1 PersistentVolume.
const PERSISTENT_VOLUME: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(PERSISTENT_VOLUME_SPEC)),
];

/// core/v1 Event.
const EVENT: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("involvedObject", Atomic),
    ("related", Atomic),
];

/// core/v1 ResourceQuotaSpec.
const RESOURCE_QUOTA_SPEC: Fields = &[("scopeSelector", Atomic)];

/// core/v1 ResourceQuota.
const RESOURCE_QUOTA: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(RESOURCE_QUOTA_SPEC)),
];

/// batch/v1 UncountedTerminatedPods.
const UNCOUNTED_TERMINATED_PODS: Fields = &[("succeeded", Set), ("failed", Set)];

/// batch/v1 JobStatus.
const JOB_STATUS: Fields = &[("uncountedTerminatedPods", Object(UNCOUNTED_TERMINATED_PODS))];

/// batch/v1 Job.
const JOB: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(WORKLOAD_SPEC)),
    ("status", Object(JOB_STATUS)),
];

/// batch/v1 JobTemplateSpec.
const JOB_TEMPLATE_SPEC: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(WORKLOAD_SPEC)),
];

/// batch/v1 CronJobSpec.
const CRON_JOB_SPEC: Fields = &[("jobTemplate", Object(JOB_TEMPLATE_SPEC))];

/// batch/v1 CronJob.
const CRON_JOB: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(CRON_JOB_SPEC)),
];

/// networking/v1 NetworkPolicySpec.
const NETWORK_POLICY_SPEC: Fields = &[("podSelector", Atomic)];

/// networking/v1 NetworkPolicy.
const NETWORK_POLICY: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(NETWORK_POLICY_SPEC)),
];

/// networking/v1 IngressServiceBackend.
const INGRESS_SERVICE_BACKEND: Fields = &[("port", Atomic)];

/// networking/v1 IngressBackend.
const INGRESS_BACKEND: Fields = &[
    ("service", Object(INGRESS_SERVICE_BACKEND)),
    ("resource", Atomic),
];

/// networking/v1 IngressSpec.
const INGRESS_SPEC: Fields = &[("defaultBackend", Object(INGRESS_BACKEND))];

/// networking/v1 Ingress.
const INGRESS: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(INGRESS_SPEC)),
];

/// rbac/v1 RoleBinding, rbac/v1 ClusterRoleBinding.
const ROLE_BINDING: Fields = &[("metadata", Object(OBJECT_META)), ("roleRef", Atomic)];

/// policy/v1 PodDisruptionBudgetSpec.
const POD_DISRUPTION_BUDGET_SPEC: Fields = &[("selector", Atomic)];

/// policy/v1 PodDisruptionBudget.
const POD_DISRUPTION_BUDGET: Fields = &[
    ("metadata", Object(OBJECT_META)),
    ("spec", Object(POD_DISRUPTION_BUDGET_SPEC)),
    ("status", Object(CONDITIONS_STATUS)),
];

/// Root fields and the zero object (what Go marshals for an empty typed object) per kind.
pub(super) const KINDS: &[(&[&str], Fields, &str)] = &[
    (
        &["Pod"],
        POD,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"containers":null},"status":{}}"#,
    ),
    (
        &["PodTemplate"],
        POD_TEMPLATE,
        r#"{"metadata":{"creationTimestamp":null},"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}}"#,
    ),
    (
        &["ReplicationController"],
        WORKLOAD,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"replicas":0}}"#,
    ),
    (
        &["Service"],
        SERVICE,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"loadBalancer":{}}}"#,
    ),
    (
        &["Endpoints", "ConfigMap", "Secret"],
        METADATA_ONLY,
        r#"{"metadata":{"creationTimestamp":null}}"#,
    ),
    (
        &["Node"],
        NODE,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"architecture":"","bootID":"","containerRuntimeVersion":"","kernelVersion":"","kubeProxyVersion":"","kubeletVersion":"","machineID":"","operatingSystem":"","osImage":"","systemUUID":""}}}"#,
    ),
    (
        &["Namespace"],
        NAMESPACE,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{}}"#,
    ),
    (
        &["ServiceAccount"],
        SERVICE_ACCOUNT,
        r#"{"metadata":{"creationTimestamp":null}}"#,
    ),
    (
        &["PersistentVolumeClaim"],
        PERSISTENT_VOLUME_CLAIM,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"resources":{}},"status":{}}"#,
    ),
    (
        &["PersistentVolume"],
        PERSISTENT_VOLUME,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{}}"#,
    ),
    (
        &["Event"],
        EVENT,
        r#"{"eventTime":null,"firstTimestamp":null,"involvedObject":{},"lastTimestamp":null,"metadata":{"creationTimestamp":null},"reportingComponent":"","reportingInstance":"","source":{}}"#,
    ),
    (
        &["LimitRange"],
        METADATA_ONLY,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"limits":null}}"#,
    ),
    (
        &["ResourceQuota"],
        RESOURCE_QUOTA,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{}}"#,
    ),
    (
        &["Deployment"],
        WORKLOAD,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"selector":null,"strategy":{},"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}},"status":{}}"#,
    ),
    (
        &["ReplicaSet"],
        WORKLOAD,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"selector":null,"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}},"status":{"replicas":0}}"#,
    ),
    (
        &["StatefulSet"],
        WORKLOAD,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"selector":null,"serviceName":"","template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}},"updateStrategy":{}},"status":{"availableReplicas":0,"replicas":0}}"#,
    ),
    (
        &["DaemonSet"],
        WORKLOAD,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"selector":null,"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}},"updateStrategy":{}},"status":{"currentNumberScheduled":0,"desiredNumberScheduled":0,"numberMisscheduled":0,"numberReady":0}}"#,
    ),
    (
        &["Job"],
        JOB,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}},"status":{}}"#,
    ),
    (
        &["CronJob"],
        CRON_JOB,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"jobTemplate":{"metadata":{"creationTimestamp":null},"spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":null}}}},"schedule":""},"status":{}}"#,
    ),
    (
        &["EndpointSlice"],
        METADATA_ONLY,
        r#"{"addressType":"","endpoints":null,"metadata":{"creationTimestamp":null},"ports":null}"#,
    ),
    (
        &["NetworkPolicy"],
        NETWORK_POLICY,
        r#"{"metadata":{"creationTimestamp":null},"spec":{"podSelector":{}}}"#,
    ),
    (
        &["Ingress"],
        INGRESS,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"loadBalancer":{}}}"#,
    ),
    (
        &["Role", "ClusterRole"],
        METADATA_ONLY,
        r#"{"metadata":{"creationTimestamp":null},"rules":null}"#,
    ),
    (
        &["RoleBinding", "ClusterRoleBinding"],
        ROLE_BINDING,
        r#"{"metadata":{"creationTimestamp":null},"roleRef":{"apiGroup":"","kind":"","name":""}}"#,
    ),
    (
        &["PodDisruptionBudget"],
        POD_DISRUPTION_BUDGET,
        r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"currentHealthy":0,"desiredHealthy":0,"disruptionsAllowed":0,"expectedPods":0}}"#,
    ),
    (
        &["Lease"],
        METADATA_ONLY,
        r#"{"metadata":{"creationTimestamp":null},"spec":{}}"#,
    ),
    (
        &["PriorityClass"],
        METADATA_ONLY,
        r#"{"metadata":{"creationTimestamp":null},"value":0}"#,
    ),
    (
        &["StorageClass"],
        METADATA_ONLY,
        r#"{"metadata":{"creationTimestamp":null},"provisioner":""}"#,
    ),
];
