//! Pod network creation and deletion against the recording fake: the order of the calls,
//! idempotency, adoption of leftovers, and cleanup after injected failures.

use std::path::PathBuf;

use super::*;
use crate::Config;
use crate::bridge;
use crate::sys::fake::Fake;

fn node() -> Node {
    Node::new(&Config {
        bridge: "kubicle0".to_owned(),
        pod_cidr: "10.244.0.0/16".parse().expect("cidr"),
        run_dir: PathBuf::from("/run/k"),
        veth_prefix: "kv".to_owned(),
        nft_table: "kubicle".to_owned(),
    })
    .expect("valid config")
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().expect("ip")
}

/// A fake node after `start`, with the call log cleared.
async fn started() -> (Fake, Node) {
    let fake = Fake::new();
    let node = node();
    bridge::ensure(&fake, &node).await.expect("ensure bridge");
    fake.clear_calls();
    (fake, node)
}

#[test]
fn veth_names_are_stable_short_and_recognisable() {
    let name = host_veth_name("kv", "0f8e3c9a-5b1d-4c2e-9a7f-3d6b8e1c2a4f");
    assert_eq!(name.len(), 12);
    assert_eq!(
        name,
        host_veth_name("kv", "0f8e3c9a-5b1d-4c2e-9a7f-3d6b8e1c2a4f")
    );
    assert_ne!(
        name,
        host_veth_name("kv", "0f8e3c9a-5b1d-4c2e-9a7f-3d6b8e1c2a4e")
    );
    // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
    assert_eq!(host_veth_name("kv", "a"), "kv4c8601ec8c");
    assert_eq!(host_veth_name("kvabc", "a").len(), 15);
    assert!(is_host_veth_name("kv", &name));
    assert!(!is_host_veth_name("kv", "kubicle0"));
    assert!(!is_host_veth_name("kv", "kv12345"));
    assert!(!is_host_veth_name("kv", "kvABCDEF0123"));
}

#[test]
fn ids_must_be_one_path_component() {
    let node = node();
    for bad in ["", ".", "..", "a/b", "a\0b", &"x".repeat(256)] {
        assert!(
            matches!(PodNames::new(&node, bad), Err(Error::InvalidPodId { .. })),
            "{bad:?}"
        );
    }
    let names = PodNames::new(&node, "default_web-0_uid").expect("valid id");
    assert_eq!(
        names.netns_path,
        PathBuf::from("/run/k/netns/default_web-0_uid")
    );
}

#[tokio::test]
async fn create_makes_netns_veth_address_and_route_in_order() {
    let (fake, node) = started().await;
    let pod = create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("create");
    let veth = host_veth_name("kv", "pod-a");
    assert_eq!(pod.host_veth, veth);
    assert_eq!(pod.netns_path, PathBuf::from("/run/k/netns/pod-a"));
    assert_eq!(
        fake.calls(),
        [
            "node: link kubicle0".to_owned(),
            "create_netns pod-a".to_owned(),
            "pod_links pod-a".to_owned(),
            format!("node: link {veth}"),
            format!("node: add_veth {veth} peer eth0 in pod-a"),
            format!("node: link {veth}"),
            format!("node: attach {veth} to kubicle0"),
            format!("node: set_hairpin {veth}"),
            "pod-a: link lo".to_owned(),
            "pod-a: set_up lo".to_owned(),
            "pod-a: link eth0".to_owned(),
            "pod-a: add_address eth0 10.244.0.2/16".to_owned(),
            "pod-a: set_up eth0".to_owned(),
            "pod-a: set_default_route via 10.244.0.1 dev eth0".to_owned(),
        ]
    );
    assert_eq!(
        fake.port(&veth),
        Some((true, Some("kubicle0".to_owned()), true))
    );
    assert!(fake.is_up("pod-a", "lo") && fake.is_up("pod-a", "eth0"));
    assert_eq!(fake.addresses("pod-a", "eth0"), ["10.244.0.2/16"]);
    assert_eq!(
        fake.default_route("pod-a"),
        Some((ip("10.244.0.1"), "eth0".to_owned()))
    );
}

#[tokio::test]
async fn create_twice_adopts_without_creating_anything() {
    let (fake, node) = started().await;
    let first = create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("first");
    fake.clear_calls();
    let second = create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("second");
    assert_eq!(first, second);
    let calls = fake.calls();
    assert!(
        !calls.iter().any(|call| call.contains("add_veth")
            || call.contains("add_address")
            || call.contains("delete")),
        "{calls:?}"
    );
    assert_eq!(fake.link_names("pod-a"), ["eth0", "lo"]);
    assert_eq!(fake.netns().len(), 1);
}

#[tokio::test]
async fn create_again_with_another_ip_converges_on_it() {
    let (fake, node) = started().await;
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("first");
    create(&fake, &node, "pod-a", ip("10.244.0.9"))
        .await
        .expect("second");
    assert_eq!(fake.addresses("pod-a", "eth0"), ["10.244.0.9/16"]);
    assert_eq!(
        fake.default_route("pod-a"),
        Some((ip("10.244.0.1"), "eth0".to_owned()))
    );
}

#[tokio::test]
async fn a_lone_end_of_a_pair_is_replaced() {
    let (fake, node) = started().await;
    let veth = host_veth_name("kv", "pod-a");
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("first");
    // The pair is gone, and a lone link with our host-side name is left (its pod end went
    // elsewhere): create must not adopt it.
    fake.delete_behind("pod-a", "eth0");
    fake.add_behind("node", &veth);
    fake.clear_calls();
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("recreate");
    let calls = fake.calls();
    let delete_at = calls
        .iter()
        .position(|call| *call == format!("node: delete_link {veth}"));
    let add_at = calls
        .iter()
        .position(|call| *call == format!("node: add_veth {veth} peer eth0 in pod-a"));
    assert!(delete_at.is_some() && delete_at < add_at, "{calls:?}");
    // The mirror case: a lone eth0 in the pod netns.
    fake.delete_behind("node", &veth);
    fake.add_behind("pod-a", "eth0");
    fake.clear_calls();
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("recreate again");
    let calls = fake.calls();
    assert!(
        calls.contains(&"pod-a: delete_link eth0".to_owned()),
        "{calls:?}"
    );
    assert_eq!(fake.addresses("pod-a", "eth0"), ["10.244.0.2/16"]);
    assert_eq!(
        fake.port(&veth),
        Some((true, Some("kubicle0".to_owned()), true))
    );
}

#[tokio::test]
async fn failure_inside_the_pod_removes_veth_and_netns() {
    let (fake, node) = started().await;
    fake.fail_on("pod-a: add_address");
    let error = create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect_err("injected");
    assert!(
        matches!(error, Error::AddAddress { ref link, .. } if link == "eth0"),
        "{error}"
    );
    let veth = host_veth_name("kv", "pod-a");
    let calls = fake.calls();
    let tail = &calls[calls.len() - 3..];
    assert_eq!(
        tail,
        [
            format!("node: link {veth}"),
            format!("node: delete_link {veth}"),
            "remove_netns pod-a".to_owned()
        ]
    );
    assert!(fake.netns().is_empty());
    assert_eq!(fake.link_names("node"), ["kubicle0", "lo"]);
}

#[tokio::test]
async fn failure_creating_the_veth_removes_only_the_netns() {
    let (fake, node) = started().await;
    fake.fail_on("node: add_veth");
    let error = create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect_err("injected");
    assert!(matches!(error, Error::CreateVeth { .. }), "{error}");
    let calls = fake.calls();
    assert_eq!(calls.last().map(String::as_str), Some("remove_netns pod-a"));
    assert!(
        !calls.iter().any(|call| call.contains("delete_link")),
        "{calls:?}"
    );
    assert!(fake.netns().is_empty());
}

#[tokio::test]
async fn failure_on_a_second_create_keeps_what_the_first_made() {
    let (fake, node) = started().await;
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("first");
    fake.fail_on("pod-a: set_default_route");
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect_err("injected");
    // Nothing was made by the failed call, so nothing is removed.
    assert_eq!(fake.netns().len(), 1);
    assert!(
        fake.link_names("node")
            .contains(&host_veth_name("kv", "pod-a"))
    );
}

#[tokio::test]
async fn failed_cleanup_reports_both_errors() {
    let (fake, node) = started().await;
    fake.fail_on("pod-a: set_up eth0");
    fake.fail_on("remove_netns pod-a");
    let error = create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect_err("injected");
    let Error::CleanupFailed {
        id,
        cleanup,
        source,
    } = &error
    else {
        panic!("expected CleanupFailed, got {error}");
    };
    assert_eq!(id, "pod-a");
    assert!(
        matches!(**source, Error::SetLinkUp { ref name, .. } if name == "eth0"),
        "{source}"
    );
    assert!(matches!(**cleanup, Error::UnmountNetns { .. }), "{cleanup}");
    assert!(error.to_string().contains("unmount netns"), "{error}");
    // The veth was still deleted: cleanup goes on past a failed step.
    assert!(
        !fake
            .link_names("node")
            .contains(&host_veth_name("kv", "pod-a"))
    );
}

#[tokio::test]
async fn bad_input_makes_nothing() {
    let (fake, node) = started().await;
    assert!(matches!(
        create(&fake, &node, "../x", ip("10.244.0.2")).await,
        Err(Error::InvalidPodId { .. })
    ));
    assert!(matches!(
        create(&fake, &node, "pod-a", ip("10.244.0.1")).await,
        Err(Error::InvalidPodIp { .. })
    ));
    assert!(matches!(
        create(&fake, &node, "pod-a", ip("10.96.0.1")).await,
        Err(Error::InvalidPodIp { .. })
    ));
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn delete_removes_veth_then_netns_and_is_idempotent() {
    let (fake, node) = started().await;
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("create");
    fake.clear_calls();
    delete(&fake, &node, "pod-a").await.expect("delete");
    let veth = host_veth_name("kv", "pod-a");
    assert_eq!(
        fake.calls(),
        [
            format!("node: link {veth}"),
            format!("node: delete_link {veth}"),
            "remove_netns pod-a".to_owned()
        ]
    );
    fake.clear_calls();
    delete(&fake, &node, "pod-a").await.expect("delete again");
    assert_eq!(
        fake.calls(),
        [
            format!("node: link {veth}"),
            "remove_netns pod-a".to_owned()
        ]
    );
    assert!(fake.netns().is_empty());
    assert_eq!(fake.link_names("node"), ["kubicle0", "lo"]);
}

#[tokio::test]
async fn list_and_delete_all_cover_pods_and_orphan_veths() {
    let (fake, node) = started().await;
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("a");
    create(&fake, &node, "pod-b", ip("10.244.0.3"))
        .await
        .expect("b");
    assert_eq!(list(&fake, &node).expect("list"), ["pod-a", "pod-b"]);
    // An orphan: a veth of ours whose netns mount is gone while a process keeps the netns.
    fake.add_behind("node", &host_veth_name("kv", "ghost"));
    // Not ours: another prefix, or not a hash.
    fake.add_behind("node", "kx0123456789");
    fake.add_behind("node", "kvnothex");
    delete_all(&fake, &node).await.expect("delete all");
    assert!(list(&fake, &node).expect("list").is_empty());
    assert_eq!(
        fake.link_names("node"),
        ["kubicle0", "kvnothex", "kx0123456789", "lo"]
    );
}

#[tokio::test]
async fn delete_all_goes_on_after_a_failure() {
    let (fake, node) = started().await;
    create(&fake, &node, "pod-a", ip("10.244.0.2"))
        .await
        .expect("a");
    create(&fake, &node, "pod-b", ip("10.244.0.3"))
        .await
        .expect("b");
    fake.fail_on("remove_netns pod-a");
    let error = delete_all(&fake, &node).await.expect_err("injected");
    assert!(matches!(error, Error::UnmountNetns { .. }), "{error}");
    assert_eq!(list(&fake, &node).expect("list"), ["pod-a"]);
    assert!(
        !fake
            .link_names("node")
            .iter()
            .any(|name| is_host_veth_name("kv", name))
    );
}
