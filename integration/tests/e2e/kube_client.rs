//! The kube-rs client against a running server: typed CRUD, scale, errors, and the
//! watcher/reflector that in-process consumers mirror (list, then watch from the revision).

use std::time::Duration;

use futures_util::StreamExt;
use integration::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;

async fn client(cluster: &Cluster) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig()).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

fn configmap(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"key": value},
    }))
    .expect("configmap")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_crud_scale_and_errors() {
    // kube-rs runs in this process, in the host network namespace: no pods, no netns.
    let cluster = Cluster::start_with("kube-rs", &["--no-pods"]);
    let client = client(&cluster).await;
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());

    let created = configmaps
        .create(&PostParams::default(), &configmap("a", "1"))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let duplicate = configmaps
        .create(&PostParams::default(), &configmap("a", "1"))
        .await;
    let err = duplicate.expect_err("duplicate create").to_string();
    assert!(err.contains("already exists"), "{err}");

    let patch = serde_json::json!({"data": {"key": "2"}});
    let patched = configmaps
        .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    assert_eq!(
        patched
            .data
            .as_ref()
            .and_then(|d| d.get("key"))
            .map(String::as_str),
        Some("2")
    );

    let mut replaced = patched.clone();
    replaced.data = Some([("key".to_string(), "3".to_string())].into());
    configmaps
        .replace("a", &PostParams::default(), &replaced)
        .await
        .expect("replace");
    let stale = configmaps
        .replace("a", &PostParams::default(), &replaced)
        .await;
    assert!(
        stale
            .expect_err("stale replace")
            .to_string()
            .contains("modified")
    );

    let applied = configmaps
        .patch(
            "b",
            &PatchParams::apply("kube-rs-test"),
            &Patch::Apply(&configmap("b", "x")),
        )
        .await
        .expect("server-side apply creates");
    assert_eq!(applied.metadata.name.as_deref(), Some("b"));

    let listed = configmaps
        .list(&ListParams::default().labels(""))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 2);
    assert!(listed.metadata.resource_version.is_some());

    let deployments: Api<Deployment> = Api::default_namespaced(client);
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "kubicle/demo"}]}}}
    }))
    .expect("deployment");
    let stored = deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create deployment");
    assert_eq!(
        stored.spec.as_ref().and_then(|s| s.replicas),
        Some(1),
        "replicas is defaulted"
    );
    let scale = serde_json::json!({"spec": {"replicas": 4}});
    deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale");
    let scale = deployments.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(4));

    configmaps
        .delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = configmaps.get("a").await.expect_err("deleted").to_string();
    assert!(gone.contains("not found"), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watcher_sees_every_change_in_order() {
    let cluster = Cluster::start_with("kube-rs-watch", &["--no-pods"]);
    let client = client(&cluster).await;
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);
    configmaps
        .create(&PostParams::default(), &configmap("before", "0"))
        .await
        .expect("create");

    let mut events = watcher(configmaps.clone(), watcher::Config::default()).boxed();
    let mut seen = Vec::new();
    let mut init_done = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 4 {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("watch events before the deadline")
            .expect("stream open")
            .expect("watch event");
        match event {
            watcher::Event::InitApply(cm) | watcher::Event::Apply(cm) => {
                seen.push(format!("apply:{}", cm.metadata.name.unwrap_or_default()));
            }
            watcher::Event::Delete(cm) => {
                seen.push(format!("delete:{}", cm.metadata.name.unwrap_or_default()))
            }
            watcher::Event::InitDone => {
                init_done = true;
                // The reflector is in sync: now make changes it must report.
                configmaps
                    .create(&PostParams::default(), &configmap("after", "1"))
                    .await
                    .expect("create");
                let patch = serde_json::json!({"data": {"key": "2"}});
                configmaps
                    .patch("after", &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("patch");
                configmaps
                    .delete("before", &DeleteParams::default())
                    .await
                    .expect("delete");
            }
            watcher::Event::Init => {}
        }
    }
    assert!(init_done);
    assert_eq!(
        seen,
        [
            "apply:before",
            "apply:after",
            "apply:after",
            "delete:before"
        ]
    );
}
