//! Server-side Table printing: the columns and row cells kube-apiserver sends when kubectl asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io` (`kubectl get`, `get -o wide`, `get -w`).
//!
//! Each printer is a port of its Go counterpart in Kubernetes 1.32
//! `pkg/printers/internalversion/printers.go`, matched cell by cell, plus `duration.HumanDuration`
//! from apimachinery and the apiserver's default `Name`/`Created At` table for kinds without a
//! printer (`k8s.io/apiserver/pkg/registry/rest/table.go`). The apiserver always prints with
//! `Wide: true`, so rows carry the priority-1 cells too; kubectl drops them without `-o wide`.
//!
//! Objects arrive as their stored JSON, while the Go printers see decoded, defaulted internal
//! objects. So a missing or wrongly typed field reads as Go's zero value, and the few v1 defaults
//! the apiserver applies on decode that show up in a cell (service type, port protocol, secret
//! type, namespace phase, replicas) are applied here too. Nothing here panics on any input.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

/// One column definition, serialises as a meta.k8s.io/v1 TableColumnDefinition
/// (`name`, `type`, `format`, `description`, `priority`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Column {
    /// Column title as the Go printer spells it; kubectl upper-cases it for display.
    pub name: &'static str,
    /// OpenAPI type of the column (`string`, `integer`, `date`). Upstream declares some columns
    /// `string` and fills them with integers; we copy both the declaration and the cells.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// `name` marks the object-name column, which kubectl prefixes with `kind/`; empty otherwise.
    pub format: &'static str,
    /// One-line human description of the column.
    pub description: &'static str,
    /// 0 for normal columns, 1 for the ones kubectl shows only with `-o wide`.
    pub priority: i32,
}

/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`, the description of every `Name` column upstream.
const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`, the description of every `Age` column.
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// A `string` column shown by default.
const fn text(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_: "string",
        format: "",
        description,
        priority: 0,
    }
}
/// A `string` column shown only with `-o wide`.
const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        priority: 1,
        ..text(name, description)
    }
}
/// An `integer` column shown by default.
const fn integer(name: &'static str, description: &'static str) -> Column {
    Column {
        type_: "integer",
        ..text(name, description)
    }
}

const NAME: Column = Column {
    format: "name",
    ..text("Name", NAME_DESC)
};
const AGE: Column = text("Age", AGE_DESC);
const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);
const RESTARTS: &str = "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.";

#[rustfmt::skip]
static POD: &[Column] = &[
    NAME,
    text("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    text("Status", "The aggregate status of the containers in this pod."),
    text("Restarts", RESTARTS),
    AGE,
    wide("IP", "IP address allocated to the pod. Empty if not yet allocated."),
    wide("Node", "The node this pod is scheduled to."),
    wide("Nominated Node", "The node this pod is expected to run on after preempting others."),
    wide("Readiness Gates", "Readiness gates that are true, out of those the pod declares."),
];
#[rustfmt::skip]
static SERVICE: &[Column] = &[
    NAME,
    text("Type", "How the Service is exposed: ClusterIP, NodePort, LoadBalancer, ExternalName."),
    text("Cluster-IP", "The IP address of the service, usually assigned randomly."),
    text("External-IP", "IP addresses on which nodes also accept traffic for this service."),
    text("Port(s)", "The list of ports that are exposed by this service."),
    AGE,
    wide("Selector", "Service traffic is routed to pods with labels matching this selector."),
];
#[rustfmt::skip]
static DEPLOYMENT: &[Column] = &[
    NAME,
    text("Ready", "Number of the pod with ready state"),
    text("Up-to-date", "Number of pods that have the desired template spec."),
    text("Available", "Number of pods ready for at least minReadySeconds."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "Label selector for pods."),
];
#[rustfmt::skip]
static REPLICA_SET: &[Column] = &[
    NAME,
    integer("Desired", "The number of desired replicas."),
    integer("Current", "The most recently observed number of replicas."),
    integer("Ready", "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "A label query over pods that should match the replica count."),
];
#[rustfmt::skip]
static ENDPOINTS: &[Column] = &[
    NAME,
    text("Endpoints", "The set of all endpoints is the union of all subsets."),
    AGE,
];
#[rustfmt::skip]
static ENDPOINT_SLICE: &[Column] = &[
    NAME,
    text("AddressType", "The type of address carried by this EndpointSlice."),
    text("Ports", "The network ports exposed by each endpoint in this slice."),
    text("Endpoints", "The unique endpoints in this slice."),
    AGE,
];
static NAMESPACE: &[Column] = &[NAME, text("Status", "The status of the namespace"), AGE];
#[rustfmt::skip]
static EVENT: &[Column] = &[
    text("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    text("Type", "Type of this event (Normal, Warning)."),
    text("Reason", "A short, machine understandable reason for the transition."),
    text("Object", "The object that this event is about."),
    wide("Subobject", "The part of the object the event is about, as a field path."),
    wide("Source", "The component reporting this event."),
    text("Message", "A human-readable description of the status of this operation."),
    wide("First Seen", "The time at which the event was first recorded."),
    wide("Count", "The number of times this event has occurred."),
    Column { priority: 1, ..NAME },
];
static CONFIG_MAP: &[Column] = &[NAME, text("Data", "The number of data entries."), AGE];
#[rustfmt::skip]
static SECRET: &[Column] = &[
    NAME,
    text("Type", "Used to facilitate programmatic handling of secret data."),
    text("Data", "The number of data entries."),
    AGE,
];
#[rustfmt::skip]
static NETWORK_POLICY: &[Column] = &[
    NAME,
    text("Pod-Selector", "Selects the pods to which this NetworkPolicy object applies."),
    AGE,
];
#[rustfmt::skip]
static NODE: &[Column] = &[
    NAME,
    text("Status", "The status of the node"),
    text("Roles", "The roles of the node"),
    AGE,
    text("Version", "Kubelet Version reported by the node."),
    wide("Internal-IP", "The node's first InternalIP address."),
    wide("External-IP", "The node's first ExternalIP address."),
    wide("OS-Image", "OS Image reported by the node from /etc/os-release."),
    wide("Kernel-Version", "Kernel Version reported by the node from 'uname -r'."),
    wide("Container-Runtime", "ContainerRuntime Version reported by the node."),
];
/// The apiserver's table for kinds without a printer (`rest.NewDefaultTableConvertor`).
#[rustfmt::skip]
static DEFAULT: &[Column] = &[NAME, Column { type_: "date", ..text("Created At", AGE_DESC) }];

/// Columns for a kind ("Pod", "Service", "Deployment", "ReplicaSet", "Endpoints", "EndpointSlice", "Namespace", "Event", "ConfigMap", "Secret", "NetworkPolicy", "Node", anything else → the default Name + Created At columns).
pub fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => POD,
        "Service" => SERVICE,
        "Deployment" => DEPLOYMENT,
        "ReplicaSet" => REPLICA_SET,
        "Endpoints" => ENDPOINTS,
        "EndpointSlice" => ENDPOINT_SLICE,
        "Namespace" => NAMESPACE,
        "Event" => EVENT,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "NetworkPolicy" => NETWORK_POLICY,
        "Node" => NODE,
        _ => DEFAULT,
    }
}

/// Builds a row: every cell goes through `Value::from`, so `&str`/`String` become JSON strings and
/// integers JSON numbers, as the Go printers' `string`/`int64` cells serialise.
macro_rules! row {
    ($($cell:expr),* $(,)?) => { vec![$(Value::from($cell)),*] };
}

/// The cells of one row (same length as `columns(kind)`, wide cells included: the server always sends them).
pub fn cells(kind: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let now = now.as_nanosecond();
    let name = st(obj, "metadata.name");
    let created = time(obj, "metadata.creationTimestamp").unwrap_or(ZERO);
    let age = since(created, now);
    match kind {
        "Pod" => pod_cells(obj, name, age, now),
        "Service" => service_cells(obj, name, age),
        "Deployment" => deployment_cells(obj, name, age),
        "ReplicaSet" => replica_set_cells(obj, name, age),
        // printEndpoints
        "Endpoints" => row![name, format_endpoints(list(obj, "subsets")), age],
        // printEndpointSlice
        "EndpointSlice" => {
            let ports = format_discovery_ports(list(obj, "ports"));
            let endpoints = format_discovery_endpoints(list(obj, "endpoints"));
            row![name, st(obj, "addressType"), ports, endpoints, age]
        }
        // printNamespace; SetDefaults_NamespaceStatus turns an unset phase into "Active".
        "Namespace" => row![name, or(st(obj, "status.phase"), "Active"), age],
        "Event" => event_cells(obj, name, now),
        // printConfigMap counts both maps.
        "ConfigMap" => row![name, map_len(obj, "data") + map_len(obj, "binaryData"), age],
        // printSecret; SetDefaults_Secret turns an unset type into "Opaque".
        "Secret" => {
            let secret_type = or(st(obj, "type"), "Opaque");
            row![name, secret_type, map_len(obj, "data"), age]
        }
        // printNetworkPolicy. podSelector is a struct, so an absent one is the empty selector;
        // both print as "<none>".
        "NetworkPolicy" => {
            let selector = format_label_selector(at(obj, "spec.podSelector"));
            row![name, selector, age]
        }
        "Node" => node_cells(obj, name, age),
        // defaultTableConvertor: `m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339)`.
        _ => row![name, rfc3339(created)],
    }
}

/// Extra row conditions (pods that Succeeded/Failed get [{"type":"Completed","status":"True",...}] as the real printer); empty otherwise.
pub fn row_conditions(kind: &str, obj: &Value) -> Vec<Value> {
    // podSuccessConditions / podFailedConditions in printers.go.
    let (reason, message) = match (kind, st(obj, "status.phase")) {
        ("Pod", "Succeeded") => ("Succeeded", "The pod has completed successfully."),
        ("Pod", "Failed") => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

/// `duration.HumanDuration` of the time since `ts`, `"<unknown>"` when absent, `"<invalid>"` more than 1s in the future — translateTimestampSince.
pub fn age(creation_timestamp: Option<&str>, now: Timestamp) -> String {
    let t = creation_timestamp.and_then(parse_time).unwrap_or(ZERO);
    since(t, now.as_nanosecond())
}

// Time

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix nanoseconds. An absent `metav1.Time`
/// decodes to it and upstream compares against it (`IsZero`, `Before`), so we keep it an instant.
const ZERO: i128 = -62_135_596_800 * 1_000_000_000;

/// Parses a `metav1.Time`/`MicroTime` (RFC 3339) into Unix nanoseconds; `None` if it won't decode.
fn parse_time(s: &str) -> Option<i128> {
    s.parse::<Timestamp>().ok().map(|t| t.as_nanosecond())
}

/// translateTimestampSince / translateMicroTimestampSince: `<unknown>` for the zero time, else
/// `HumanDuration(time.Since(t))`. Go's `Time.Sub` saturates at the `Duration` range: so do we.
fn since(t: i128, now: i128) -> String {
    if t == ZERO {
        return "<unknown>".into();
    }
    let d = (now - t).clamp(i64::MIN.into(), i64::MAX.into());
    human_duration(i64::try_from(d).unwrap_or(i64::MAX))
}

/// apimachinery `duration.HumanDuration` of `d` nanoseconds: about 2-3 significant figures.
fn human_duration(d: i64) -> String {
    // `int(d.Seconds())` truncates towards zero like integer division. Less than 2s in the future
    // is tolerated as clock skew and shown as "0s".
    let seconds = d / 1_000_000_000;
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let (days, years) = (hours / 24, hours / 24 / 365);
    let two_units = |unit: String, rest: i64, suffix: &str| match rest {
        0 => unit,
        r => format!("{unit}{r}{suffix}"),
    };
    if seconds < -1 {
        "<invalid>".into()
    } else if seconds < 0 {
        "0s".into()
    } else if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        two_units(format!("{minutes}m"), seconds % 60, "s")
    } else if minutes < 3 * 60 {
        format!("{minutes}m")
    } else if hours < 8 {
        two_units(format!("{hours}h"), minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        two_units(format!("{days}d"), hours % 24, "h")
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        two_units(format!("{years}y"), days % 365, "d")
    } else {
        format!("{years}y")
    }
}

/// `t.UTC().Format(time.RFC3339)`: whole seconds and a `Z`.
fn rfc3339(t: i128) -> String {
    let t = Timestamp::from_nanosecond(t).unwrap_or(Timestamp::UNIX_EPOCH);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// JSON access by dotted path. A missing or wrongly typed field reads as Go's zero value.

static NULL: Value = Value::Null;

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

fn st<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, path: &str) -> Option<i64> {
    at(v, path).and_then(Value::as_i64)
}

fn flag(v: &Value, path: &str) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

fn list<'a>(v: &'a Value, path: &str) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A pointer-to-struct field: non-nil in Go only when it is a JSON object.
fn obj<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    at(v, path).filter(|v| v.is_object())
}

fn map_len(v: &Value, path: &str) -> usize {
    at(v, path)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// `Some` when the timestamp is set (a non-nil `*metav1.Time`).
fn time(v: &Value, path: &str) -> Option<i128> {
    at(v, path).and_then(Value::as_str).and_then(parse_time)
}

fn strings<'a>(v: &'a Value, path: &str) -> Vec<&'a str> {
    list(v, path).iter().filter_map(Value::as_str).collect()
}

/// `s`, or `default` when `s` is empty (Go's `if s == "" { s = "<none>" }`).
fn or<'a>(s: &'a str, default: &'a str) -> &'a str {
    Some(s).filter(|s| !s.is_empty()).unwrap_or(default)
}

/// The first element of `items` whose `key` field equals `value`.
fn find<'a>(items: &'a [Value], key: &str, value: &str) -> Option<&'a Value> {
    items.iter().find(|i| st(i, key) == value)
}

// Pods

/// printPod, in upstream's order so the STATUS overrides apply in the same sequence.
fn pod_cells(pod: &Value, name: &str, age: String, now: i128) -> Vec<Value> {
    let phase = st(pod, "status.phase");
    let status_reason = st(pod, "status.reason");
    let mut reason = or(status_reason, phase).to_string();
    let conds = list(pod, "status.conditions");
    let is_true = |c: Option<&Value>| c.is_some_and(|c| st(c, "status") == "True");
    let gated = |c: &Value| st(c, "type") == "PodScheduled" && st(c, "reason") == "SchedulingGated";
    if conds.iter().any(gated) {
        reason = "SchedulingGated".into();
    }

    // podutil.IsRestartableInitContainer: an init container with restartPolicy Always (a sidecar).
    // Statuses find their spec through a name-keyed map, so the last spec of a name wins.
    let init_specs = list(pod, "spec.initContainers");
    let restartable = |c: &Value| st(c, "restartPolicy") == "Always";
    let sidecar = |name: &str| init_specs.iter().rev().find(|c| st(c, "name") == name);
    let sidecars = init_specs.iter().filter(|c| restartable(c)).count();
    let total = list(pod, "spec.containers").len() + sidecars;
    let mut ready = 0usize;
    let (mut restarts, mut sidecar_restarts) = (0i64, 0i64);
    let (mut last_restart, mut last_sidecar_restart) = (ZERO, ZERO);
    // `Some(finishedAt)` when lastState.terminated is set; the zero time if it has none.
    let last_finished = |c: &Value| obj(c, "lastState.terminated").map(|t| time(t, "finishedAt"));

    let mut initializing = false;
    for (i, c) in list(pod, "status.initContainerStatuses").iter().enumerate() {
        let count = num(c, "restartCount").unwrap_or(0);
        let finished = last_finished(c).flatten().unwrap_or(ZERO);
        restarts = restarts.saturating_add(count);
        last_restart = last_restart.max(finished);
        let is_sidecar = sidecar(st(c, "name")).is_some_and(restartable);
        if is_sidecar {
            sidecar_restarts = sidecar_restarts.saturating_add(count);
            last_sidecar_restart = last_sidecar_restart.max(finished);
        }
        let terminated = obj(c, "state.terminated");
        if terminated.is_some_and(|t| num(t, "exitCode").unwrap_or(0) == 0) {
            continue;
        }
        if is_sidecar && flag(c, "started") {
            ready += usize::from(flag(c, "ready"));
            continue;
        }
        let waiting = obj(c, "state.waiting").map_or("", |w| st(w, "reason"));
        reason = match terminated {
            Some(t) if st(t, "reason").is_empty() => exit_reason("Init:", t),
            Some(t) => format!("Init:{}", st(t, "reason")),
            None if !waiting.is_empty() && waiting != "PodInitializing" => {
                format!("Init:{waiting}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        // Upstream breaks here: later init containers add no restarts.
        initializing = true;
        break;
    }

    // isPodInitializedConditionTrue looks at the first Initialized condition only.
    if !initializing || is_true(find(conds, "type", "Initialized")) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Walked backwards, so the first container with a waiting/terminated reason wins.
        for c in list(pod, "status.containerStatuses").iter().rev() {
            restarts = restarts.saturating_add(num(c, "restartCount").unwrap_or(0));
            if let Some(finished) = last_finished(c) {
                last_restart = last_restart.max(finished.unwrap_or(ZERO));
            }
            let waiting = obj(c, "state.waiting").map_or("", |w| st(w, "reason"));
            match obj(c, "state.terminated") {
                _ if !waiting.is_empty() => reason = waiting.into(),
                Some(t) if st(t, "reason").is_empty() => reason = exit_reason("", t),
                Some(t) => reason = st(t, "reason").into(),
                None if flag(c, "ready") && obj(c, "state.running").is_some() => {
                    has_running = true;
                    ready += 1;
                }
                None => {}
            }
        }
        // A Completed container next to a running one does not complete the pod.
        if reason == "Completed" && has_running {
            let pod_ready = conds
                .iter()
                .any(|c| st(c, "type") == "Ready" && is_true(Some(c)));
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    if time(pod, "metadata.deletionTimestamp").is_some() {
        if status_reason == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    let restarts = match restarts {
        0 => "0".to_string(),
        n if last_restart == ZERO => n.to_string(),
        n => format!("{n} ({} ago)", since(last_restart, now)),
    };

    // Convert_v1_PodStatus_To_core_PodStatus: a set `podIP` is authoritative over `podIPs[0]`.
    let first_ip = list(pod, "status.podIPs")
        .first()
        .map_or("", |p| st(p, "ip"));
    let ip = or(or(st(pod, "status.podIP"), first_ip), "<none>");
    let gates = list(pod, "spec.readinessGates");
    let met = gates
        .iter()
        .filter(|g| is_true(find(conds, "type", st(g, "conditionType"))));
    let gates = match gates.len() {
        0 => "<none>".to_string(),
        n => format!("{}/{n}", met.count()),
    };
    let node = or(st(pod, "spec.nodeName"), "<none>");
    let nominated = or(st(pod, "status.nominatedNodeName"), "<none>");
    let ready = format!("{ready}/{total}");
    row![
        name, ready, reason, restarts, age, ip, node, nominated, gates
    ]
}

/// What printPod shows for a terminated container without a reason: `Signal:N`, else `ExitCode:N`.
fn exit_reason(prefix: &str, terminated: &Value) -> String {
    match num(terminated, "signal").unwrap_or(0) {
        0 => format!(
            "{prefix}ExitCode:{}",
            num(terminated, "exitCode").unwrap_or(0)
        ),
        signal => format!("{prefix}Signal:{signal}"),
    }
}

// Services

/// printService. SetDefaults_Service turns an unset type into ClusterIP and protocol into TCP.
fn service_cells(svc: &Value, name: &str, age: String) -> Vec<Value> {
    let kind = or(st(svc, "spec.type"), "ClusterIP");
    // The registry stores `clusterIPs` next to `clusterIP`; objects written without it fall back
    // to the singular field.
    let cluster_ip = match list(svc, "spec.clusterIPs").first() {
        Some(ip) => ip.as_str().unwrap_or(""),
        None => or(st(svc, "spec.clusterIP"), "<none>"),
    };
    // makePortString
    let port = |p: &Value| {
        let (port, proto) = (num(p, "port").unwrap_or(0), or(st(p, "protocol"), "TCP"));
        match num(p, "nodePort").unwrap_or(0) {
            n if n > 0 => format!("{port}:{n}/{proto}"),
            _ => format!("{port}/{proto}"),
        }
    };
    let ports = list(svc, "spec.ports")
        .iter()
        .map(port)
        .collect::<Vec<_>>()
        .join(",");
    let external = service_external_ip(svc, kind);
    let selector = format_labels(at(svc, "spec.selector"));
    row![
        name,
        kind,
        cluster_ip,
        external,
        or(&ports, "<none>"),
        age,
        selector
    ]
}

/// getServiceExternalIP, wide: the load-balancer list is never clipped to 16 characters.
fn service_external_ip(svc: &Value, kind: &str) -> String {
    let external = strings(svc, "spec.externalIPs");
    match kind {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            // loadBalancerStatusStringer: the sorted set of ingress IPs, or hostnames if no IP.
            let ingress = list(svc, "status.loadBalancer.ingress");
            let lb = ingress.iter().map(|i| or(st(i, "ip"), st(i, "hostname")));
            let lb: BTreeSet<&str> = lb.filter(|s| !s.is_empty()).collect();
            let all: Vec<&str> = lb.into_iter().chain(external).collect();
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => st(svc, "spec.externalName").into(),
        _ => "<unknown>".into(),
    }
}

// Workloads

/// printDeployment. apps/v1 defaults an unset `spec.replicas` to 1.
fn deployment_cells(d: &Value, name: &str, age: String) -> Vec<Value> {
    let (names, images) = layout_containers(list(d, "spec.template.spec.containers"));
    let ready = num(d, "status.readyReplicas").unwrap_or(0);
    let ready = format!("{ready}/{}", num(d, "spec.replicas").unwrap_or(1));
    let updated = num(d, "status.updatedReplicas").unwrap_or(0);
    let available = num(d, "status.availableReplicas").unwrap_or(0);
    // Unlike its siblings this printer shows the raw selector string: "" when empty.
    let selector = selector_string(at(d, "spec.selector")).unwrap_or_else(|| "<invalid>".into());
    row![
        name, ready, updated, available, age, names, images, selector
    ]
}

/// printReplicaSet. apps/v1 defaults an unset `spec.replicas` to 1.
fn replica_set_cells(rs: &Value, name: &str, age: String) -> Vec<Value> {
    let (names, images) = layout_containers(list(rs, "spec.template.spec.containers"));
    let desired = num(rs, "spec.replicas").unwrap_or(1);
    let current = num(rs, "status.replicas").unwrap_or(0);
    let ready = num(rs, "status.readyReplicas").unwrap_or(0);
    let selector = format_label_selector(at(rs, "spec.selector"));
    row![name, desired, current, ready, age, names, images, selector]
}

/// layoutContainerCells: the container names and the images, each comma-joined.
fn layout_containers(containers: &[Value]) -> (String, String) {
    let field = |key| {
        containers
            .iter()
            .map(|c| st(c, key))
            .collect::<Vec<_>>()
            .join(",")
    };
    (field("name"), field("image"))
}

// Endpoints and EndpointSlices

/// formatEndpoints with `ports == nil`: at most 3 `ip:port` entries, then ` + N more...`.
fn format_endpoints(subsets: &[Value]) -> String {
    const MAX: usize = 3;
    if subsets.is_empty() {
        return "<none>".into();
    }
    let (mut shown, mut count, mut more) = (Vec::new(), 0, false);
    for ss in subsets {
        let addresses = list(ss, "addresses");
        // Headless services may have no ports: then each address is listed once, bare.
        let ports: Vec<Option<i64>> = match list(ss, "ports") {
            [] => vec![None],
            ports => ports
                .iter()
                .map(|p| Some(num(p, "port").unwrap_or(0)))
                .collect(),
        };
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if shown.len() == MAX {
                    more = true;
                    break;
                }
                let ip = st(a, "ip");
                shown.push(match port {
                    None => ip.to_string(),
                    // net.JoinHostPort brackets a host containing a colon (IPv6).
                    Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
                    Some(p) => format!("{ip}:{p}"),
                });
            }
        }
    }
    let joined = shown.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// formatDiscoveryPorts: each port's number, else its name, else `*`.
fn format_discovery_ports(ports: &[Value]) -> String {
    let port = |p: &Value| match (num(p, "port"), at(p, "name").and_then(Value::as_str)) {
        (Some(n), _) => n.to_string(),
        (None, Some(name)) => name.to_string(),
        (None, None) => "*".to_string(),
    };
    list_with_more(ports.iter().map(port))
}

/// formatDiscoveryEndpoints: every address of every endpoint.
fn format_discovery_endpoints(endpoints: &[Value]) -> String {
    let addresses = endpoints.iter().flat_map(|e| strings(e, "addresses"));
    list_with_more(addresses.map(str::to_string))
}

/// listWithMoreString with at most 3 items shown; `<unset>` when there are none.
fn list_with_more(items: impl Iterator<Item = String>) -> String {
    const MAX: usize = 3;
    let (mut shown, mut count) = (Vec::new(), 0);
    for item in items {
        if shown.len() < MAX {
            shown.push(item);
        }
        count += 1;
    }
    match count {
        0 => "<unset>".into(),
        n if n > MAX => format!("{} + {} more...", shown.join(","), n - MAX),
        _ => shown.join(","),
    }
}

// Events

/// printEvent. events.k8s.io/v1 Events live in the same storage and are converted to core Events
/// before printing, so their renamed fields are read under the new names.
fn event_cells(ev: &Value, name: &str, now: i128) -> Vec<Value> {
    let new_api = st(ev, "apiVersion").starts_with("events.k8s.io/");
    let f = |core, events| if new_api { events } else { core };

    let first = time(ev, f("firstTimestamp", "deprecatedFirstTimestamp")).unwrap_or(ZERO);
    let first = if first == ZERO {
        time(ev, "eventTime").unwrap_or(ZERO)
    } else {
        first
    };
    let first = since(first, now);
    let mut last = match time(ev, f("lastTimestamp", "deprecatedLastTimestamp")).unwrap_or(ZERO) {
        ZERO => first.clone(),
        t => since(t, now),
    };
    let mut count = num(ev, f("count", "deprecatedCount")).unwrap_or(0);
    if let Some(series) = obj(ev, "series") {
        last = since(time(series, "lastObservedTime").unwrap_or(ZERO), now);
        count = num(series, "count").unwrap_or(0);
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }

    let involved = at(ev, f("involvedObject", "regarding")).unwrap_or(&NULL);
    let kind = st(involved, "kind").to_lowercase();
    let target = match st(involved, "name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    // formatEventSource: the component (or reporting controller), then `, ` and the host (or
    // reporting instance) when there is one.
    let source = at(ev, f("source", "deprecatedSource")).unwrap_or(&NULL);
    let reporter = st(ev, f("reportingComponent", "reportingController"));
    let component = or(st(source, "component"), reporter);
    let source = match or(st(source, "host"), st(ev, "reportingInstance")) {
        "" => component.to_string(),
        host => format!("{component}, {host}"),
    };
    let (event_type, reason) = (st(ev, "type"), st(ev, "reason"));
    let (field, message) = (
        st(involved, "fieldPath"),
        st(ev, f("message", "note")).trim(),
    );
    row![
        last, event_type, reason, target, field, source, message, first, count, name
    ]
}

// Nodes

/// printNode. Only the Ready condition feeds STATUS.
fn node_cells(node: &Value, name: &str, age: String) -> Vec<Value> {
    // Upstream keys conditions by type, so the last Ready condition wins.
    let conds = list(node, "status.conditions");
    let mut status = match conds.iter().rev().find(|c| st(c, "type") == "Ready") {
        Some(c) if st(c, "status") == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if flag(node, "spec.unschedulable") {
        status.push("SchedulingDisabled");
    }
    // findNodeRoles: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role=<role>`, sorted.
    let labels = at(node, "metadata.labels").and_then(Value::as_object);
    let role = |(k, v): (&String, &Value)| match k.strip_prefix("node-role.kubernetes.io/") {
        Some(role) => role.to_string(),
        None if k == "kubernetes.io/role" => v.as_str().unwrap_or("").to_string(),
        None => String::new(),
    };
    let roles: BTreeSet<String> = labels.into_iter().flatten().map(role).collect();
    let roles = roles
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join(",");

    let addresses = list(node, "status.addresses");
    let address = |kind| find(addresses, "type", kind).map_or("<none>", |a| st(a, "address"));
    let info = |key: &str| or(st(node, &format!("status.nodeInfo.{key}")), "<unknown>");
    let version = st(node, "status.nodeInfo.kubeletVersion");
    let (internal, external) = (address("InternalIP"), address("ExternalIP"));
    let (os, kernel, runtime) = (
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    );
    let status = status.join(",");
    row![
        name,
        status,
        or(&roles, "<none>"),
        age,
        version,
        internal,
        external,
        os,
        kernel,
        runtime
    ]
}

// Labels and selectors

/// labels.FormatLabels: `k=v` pairs sorted by key, or `<none>`.
fn format_labels(map: Option<&Value>) -> String {
    let entries = map.and_then(Value::as_object).into_iter().flatten();
    let mut pairs: Vec<(&str, &str)> = entries
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    // Sort on the key itself (not "k=v"), and explicitly: serde_json may keep insertion order.
    pairs.sort_unstable();
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    or(&pairs.join(","), "<none>").to_string()
}

/// metav1.FormatLabelSelector: `<error>` for an invalid selector, `<none>` for an empty/nil one.
fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`, `None` where that conversion fails. A nil
/// selector (labels.Nothing) and an empty one (labels.Everything) both print as "".
fn selector_string(sel: Option<&Value>) -> Option<String> {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return Some(String::new());
    };
    let mut reqs: Vec<(&str, String)> = Vec::new();
    let match_labels = at(sel, "matchLabels").and_then(Value::as_object);
    for (key, value) in match_labels.into_iter().flatten() {
        // A non-string value would not decode in Go; like every wrongly typed field it is skipped.
        let Some(value) = value.as_str() else {
            continue;
        };
        if !is_label_key(key) || !is_label_value(value) {
            return None;
        }
        reqs.push((key, format!("{key}={value}")));
    }
    for e in list(sel, "matchExpressions") {
        let key = st(e, "key");
        let mut values = strings(e, "values");
        // labels.NewRequirement's validation.
        if !is_label_key(key) || !values.iter().all(|v| is_label_value(v)) {
            return None;
        }
        // Requirement.String prints set values sorted.
        values.sort_unstable();
        let text = match (st(e, "operator"), values.is_empty()) {
            ("In", false) => format!("{key} in ({})", values.join(",")),
            ("NotIn", false) => format!("{key} notin ({})", values.join(",")),
            ("Exists", true) => key.to_string(),
            ("DoesNotExist", true) => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key, text));
    }
    // internalSelector.Add sorts by key. A stable sort keeps matchLabels before expressions on a
    // tie, as Go's insertion sort does for selectors of up to 12 requirements.
    reqs.sort_by(|a, b| a.0.cmp(b.0));
    let reqs: Vec<String> = reqs.into_iter().map(|(_, s)| s).collect();
    Some(reqs.join(","))
}

/// validation.IsQualifiedName: `[prefix/]name`, where the prefix is a DNS-1123 subdomain.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns1123_subdomain) && name.len() <= 63 && is_name_part(name)
}

/// validation.IsValidLabelValue: empty, or up to 63 characters of the qualified-name alphabet.
fn is_label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= 63 && is_name_part(v))
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    let edge = |c: Option<&u8>| c.is_some_and(u8::is_ascii_alphanumeric);
    edge(b.first()) && edge(b.last()) && b.iter().all(inner)
}

/// validation.IsDNS1123Subdomain: at most 253 characters of dot-separated DNS-1123 labels.
fn is_dns1123_subdomain(s: &str) -> bool {
    let edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let label = |l: &str| edge(l.as_bytes().first()) && edge(l.as_bytes().last());
    s.len() <= 253
        && s.split('.')
            .all(|l| label(l) && l.bytes().all(|c| inner(&c)))
}

#[cfg(test)]
mod tests;
