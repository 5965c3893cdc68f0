//! The v1 API driven through the `switchyard-api` client against an in-process controller.

mod common;

use std::time::Duration;

use common::{raw_request, TestController};
use controller::config::ClusterOverrides;
use switchyard_api::{
    Client, FlowQuery, NewNode, NewPod, NodeName, PodName, PodState, PodStatus, TableSelector,
};

fn node(name: &str, ip: &str) -> NewNode {
    NewNode {
        name: name.parse().unwrap(),
        ip: ip.parse().unwrap(),
        uplink: None,
        datapath: None,
    }
}

fn pod(name: &str, node: &str) -> NewPod {
    NewPod {
        name: name.parse().unwrap(),
        node: node.parse().unwrap(),
        netns: None,
    }
}

fn n(name: &str) -> NodeName {
    name.parse().unwrap()
}

fn p(name: &str) -> PodName {
    name.parse().unwrap()
}

fn api_status(e: &switchyard_api::Error) -> u16 {
    e.status()
        .unwrap_or_else(|| panic!("expected an API error, got {e:?}"))
}

#[tokio::test]
async fn adds_nodes_and_pods_with_derived_addresses() {
    let t = TestController::start().await;
    let c = t.client();
    assert_eq!(c.health().await.unwrap().status, "ok");
    let n1 = c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let n2 = c.add_node(&node("n2", "192.168.56.12")).await.unwrap();
    assert_eq!(
        (n1.index, n1.subnet.to_string()),
        (1, "10.244.1.0/24".into())
    );
    assert_eq!(n2.subnet.to_string(), "10.244.2.0/24");
    assert_eq!(n2.mgmt_mac.to_string(), "0a:58:0a:f4:02:02");

    let a = c.add_pod(&pod("web-1", "n1")).await.unwrap();
    let b = c.add_pod(&pod("web-2", "n1")).await.unwrap();
    let d = c.add_pod(&pod("db-1", "n2")).await.unwrap();
    assert_eq!(a.ip.to_string(), "10.244.1.3");
    assert_eq!(b.mac.to_string(), "0a:58:0a:f4:01:04");
    assert_eq!(
        (d.gateway.to_string(), d.netns.as_str()),
        ("10.244.2.1".into(), "yp-db-1")
    );
    assert_eq!(a.status.state, PodState::Pending);

    assert_eq!(c.nodes().await.unwrap(), vec![n1.clone(), n2]);
    assert_eq!(c.node(&n("n1")).await.unwrap(), n1);
    assert_eq!(c.pods(Some(&n("n1"))).await.unwrap(), vec![a.clone(), b]);
    assert_eq!(c.pods(None).await.unwrap().len(), 3);
    assert_eq!(c.pod(&p("web-1")).await.unwrap(), a);
    assert_eq!(c.cluster().await.unwrap().mtu, 1400);

    c.remove_pod(&p("web-1")).await.unwrap();
    // The released address is handed out again.
    assert_eq!(c.add_pod(&pod("web-3", "n1")).await.unwrap().ip, a.ip);
}

#[tokio::test]
async fn duplicates_are_conflicts_and_change_nothing() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    c.add_pod(&pod("web-1", "n1")).await.unwrap();
    let before = t.fingerprint().await;

    let e = c.add_node(&node("n1", "192.168.56.99")).await.unwrap_err();
    assert_eq!(api_status(&e), 409);
    assert!(e.to_string().contains("node n1 already exists"), "{e}");

    let e = c.add_node(&node("n2", "192.168.56.11")).await.unwrap_err();
    assert_eq!(api_status(&e), 409);
    assert!(
        e.to_string()
            .contains("IP 192.168.56.11 is already used by node n1"),
        "{e}"
    );

    let e = c.add_pod(&pod("web-1", "n1")).await.unwrap_err();
    assert_eq!(api_status(&e), 409);
    assert!(e.to_string().contains("pod web-1 already exists"), "{e}");

    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let t = TestController::start().await;
    let c = t.client();
    let url = t.socket_url();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let before = t.fingerprint().await;

    // Node IPs that overlap the pod or service network.
    for (ip, what) in [
        ("10.244.7.1", "cluster CIDR 10.244.0.0/16"),
        ("10.96.0.10", "service CIDR 10.96.0.0/16"),
    ] {
        let e = c.add_node(&node("n2", ip)).await.unwrap_err();
        assert_eq!(api_status(&e), 400, "{e}");
        assert!(e.to_string().contains(what), "{e}");
        assert!(e.to_string().starts_with("node n2: ip"), "{e}");
    }
    let e = c.add_pod(&pod("web-1", "n9")).await.unwrap_err();
    assert_eq!(api_status(&e), 404);
    assert!(e.to_string().contains("node n9 not found"), "{e}");
    let e = c.pods(Some(&n("n9"))).await.unwrap_err();
    assert_eq!(api_status(&e), 404);
    let e = c.remove_node(&n("n9"), false).await.unwrap_err();
    assert!(e.to_string().contains("node n9 not found"), "{e}");
    let e = c.remove_pod(&p("nope")).await.unwrap_err();
    assert!(e.to_string().contains("pod nope not found"), "{e}");
    let e = c
        .set_pod_status(&p("nope"), &PodStatus::default())
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 404);
    let mut bad_netns = pod("web-1", "n1");
    bad_netns.netns = Some("../../etc".into());
    let e = c.add_pod(&bad_netns).await.unwrap_err();
    assert_eq!(api_status(&e), 400);
    assert!(e.to_string().starts_with("pod web-1: netns"), "{e}");
    let mut bad_uplink = node("n2", "192.168.56.12");
    bad_uplink.uplink = Some("a/b".into());
    let e = c.add_node(&bad_uplink).await.unwrap_err();
    assert!(e.to_string().starts_with("node n2: uplink"), "{e}");

    // Requests the typed client cannot even produce.
    let cases = [
        ("POST", "/v1/nodes", "{not json"),
        ("POST", "/v1/nodes", r#"{"name":"n2"}"#),
        ("POST", "/v1/nodes", r#"{"name":"N2","ip":"192.168.56.12"}"#),
        (
            "POST",
            "/v1/nodes",
            r#"{"name":"n2","ip":"192.168.56.300"}"#,
        ),
        (
            "POST",
            "/v1/nodes",
            r#"{"name":"n2","ip":"192.168.56.12","datapath":"dpdk"}"#,
        ),
        (
            "POST",
            "/v1/nodes",
            r#"{"name":"n2","ip":"192.168.56.12","colour":"red"}"#,
        ),
        (
            "POST",
            "/v1/pods",
            r#"{"name":"web-1","node":"n1","netns":7}"#,
        ),
        ("DELETE", "/v1/nodes/n1?force=maybe", ""),
        ("GET", "/v1/pods?node=N1", ""),
        ("GET", "/v1/pods?nod=n1", ""),
        ("GET", "/v1/nodes/Not_A_Name", ""),
        ("GET", "/v1/watch/nodes/n1?since=abc", ""),
        ("PUT", "/v1/pods/web-1/status", r#"{"state":"flying"}"#),
        ("GET", "/v1/flows/n1?bridge=br-foo", ""),
        ("GET", "/v1/flows/n1?table=256", ""),
    ];
    for (method, path, body) in cases {
        let (status, answer) = raw_request(&url, method, path, body).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(!v["error"].as_str().unwrap().is_empty(), "{answer}");
    }
    let (status, answer) = raw_request(&url, "GET", "/v2/nodes", "").await;
    assert_eq!(status, 404);
    assert!(answer.contains("no endpoint GET /v2/nodes"), "{answer}");

    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn node_removal_waits_for_its_pods_unless_forced() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    c.add_pod(&pod("web-1", "n1")).await.unwrap();
    c.add_pod(&pod("web-2", "n1")).await.unwrap();
    let before = t.fingerprint().await;
    let e = c.remove_node(&n("n1"), false).await.unwrap_err();
    assert_eq!(api_status(&e), 409);
    assert!(
        e.to_string()
            .contains("node n1 still has 2 pod(s) (web-1, web-2)"),
        "{e}"
    );
    assert_eq!(t.fingerprint().await, before);

    c.remove_node(&n("n1"), true).await.unwrap();
    assert!(c.nodes().await.unwrap().is_empty());
    assert!(c.pods(None).await.unwrap().is_empty());
    // Subnet and addresses are free again.
    c.add_node(&node("n2", "192.168.56.12")).await.unwrap();
    let again = c.add_pod(&pod("web-1", "n2")).await.unwrap();
    assert_eq!(again.ip.to_string(), "10.244.1.3");
}

#[tokio::test]
async fn a_full_node_subnet_is_a_conflict_naming_the_node() {
    let overrides = ClusterOverrides {
        node_prefix_len: Some(29),
        ..Default::default()
    };
    let t = TestController::start_with(TestController::with_cluster(overrides)).await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    for i in 0..4 {
        c.add_pod(&pod(&format!("p{i}"), "n1")).await.unwrap();
    }
    let before = t.fingerprint().await;
    let e = c.add_pod(&pod("p4", "n1")).await.unwrap_err();
    assert_eq!(api_status(&e), 409);
    assert!(
        e.to_string()
            .contains("node n1: subnet 10.244.0.8/29 has no free pod address"),
        "{e}"
    );
    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn watch_returns_when_the_revision_moves_past_since() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let view = c
        .watch_node(&n("n1"), 0, Duration::from_secs(0))
        .await
        .unwrap();
    assert!(view.pods.is_empty());

    let watcher = {
        let c = c.clone();
        let since = view.revision;
        tokio::spawn(async move {
            c.watch_node(&n("n1"), since, Duration::from_secs(300))
                .await
        })
    };
    c.add_pod(&pod("web-1", "n1")).await.unwrap();
    let changed = watcher.await.unwrap().unwrap();
    assert!(changed.revision > view.revision);
    assert_eq!(changed.pods.len(), 1);
    assert_eq!(changed.node.name.as_str(), "n1");
    assert_eq!(changed.cluster.node_prefix_len, 24);

    // Nothing changes: the long poll ends at its timeout with the current view.
    let same = c
        .watch_node(&n("n1"), changed.revision, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(same, changed);

    let e = c
        .watch_node(&n("n9"), 0, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 404);
}

#[tokio::test]
async fn pod_status_is_runtime_data_and_the_rest_survives_a_restart() {
    let mut t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    c.add_pod(&pod("web-1", "n1")).await.unwrap();
    let wired = PodStatus {
        state: PodState::Wired,
        host_if: Some("yv-web-1".into()),
        ofport: Some(5),
        reason: None,
    };
    let revision = c.health().await.unwrap().revision;
    c.set_pod_status(&p("web-1"), &wired).await.unwrap();
    assert_eq!(c.pod(&p("web-1")).await.unwrap().status, wired);
    assert_eq!(c.health().await.unwrap().revision, revision);
    let state = &t.controller().state;
    assert_eq!(state.pod_status(&p("web-1")), wired);
    let ns = switchyard_api::NodeStatus {
        openflow: switchyard_api::OpenflowState::Connected,
        ..Default::default()
    };
    state.set_node_status(&n("n1"), ns.clone()).unwrap();
    assert_eq!(c.node(&n("n1")).await.unwrap().status, ns);
    assert!(state.set_node_status(&n("n9"), ns).is_err());

    let pods = c.pods(None).await.unwrap();
    t.restart().await;
    let c = t.client();
    assert_eq!(c.health().await.unwrap().revision, revision);
    let after = c.pods(None).await.unwrap();
    assert_eq!(after.len(), pods.len());
    assert_eq!(after[0].ip, pods[0].ip);
    assert_eq!(after[0].status, PodStatus::default());
}

#[tokio::test]
async fn flows_need_an_openflow_connection() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let mut q = FlowQuery::node(n("n1"));
    q.table = Some(TableSelector::Name("l3-forward".into()));
    let e = c.flows(&q).await.unwrap_err();
    assert_eq!(api_status(&e), 503);
    assert!(
        e.to_string().contains("node n1: OpenFlow not connected"),
        "{e}"
    );
    let e = c.flows(&FlowQuery::node(n("n9"))).await.unwrap_err();
    assert_eq!(api_status(&e), 404);
}

#[tokio::test]
async fn tcp_api_requires_the_bearer_token() {
    let (t, url) = TestController::start_tcp("s3cret-token").await;
    let e = Client::new(&url).unwrap().health().await.unwrap_err();
    assert_eq!(api_status(&e), 401);
    assert!(e.to_string().contains("bearer token"), "{e}");
    let wrong = Client::new(&url).unwrap().with_token("s3cret-tokeN");
    assert_eq!(api_status(&wrong.nodes().await.unwrap_err()), 401);
    let before = t.fingerprint().await;
    let e = wrong
        .add_node(&node("n1", "192.168.56.11"))
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 401);
    assert_eq!(t.fingerprint().await, before);

    let right = Client::new(&url).unwrap().with_token("s3cret-token");
    right.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    assert_eq!(right.nodes().await.unwrap().len(), 1);
    // The unix socket needs no token.
    assert_eq!(t.client().nodes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn tcp_without_a_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = TestController::options(&dir);
    options.listen = Some("127.0.0.1:0".parse().unwrap());
    let e = controller::run(options.clone()).await.unwrap_err();
    assert!(e.to_string().contains("needs a bearer token"), "{e}");
    options.token = Some("  ".into());
    let e = controller::run(options).await.unwrap_err();
    assert!(e.to_string().contains("needs a bearer token"), "{e}");
    assert!(!dir.path().join("run/controller.sock").exists());
}

#[tokio::test]
async fn refuses_bad_cluster_settings_and_changed_cidrs_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = TestController::options(&dir);
    options.cluster.service_cidr = Some("10.244.0.0/20".parse().unwrap());
    let e = controller::run(options.clone()).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("service_cidr 10.244.0.0/20: overlaps"),
        "{e}"
    );
    assert!(!dir.path().join("state.json").exists());

    options.cluster = ClusterOverrides::default();
    controller::run(options.clone())
        .await
        .unwrap()
        .shutdown()
        .await;
    options.cluster.cluster_cidr = Some("10.200.0.0/16".parse().unwrap());
    let e = controller::run(options).await.unwrap_err();
    assert!(
        e.to_string().starts_with(
            "cluster_cidr: 10.200.0.0/16 was given but the existing cluster uses 10.244.0.0/16"
        ),
        "{e}"
    );
}

#[tokio::test]
async fn refuses_to_start_on_a_corrupt_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = TestController::options(&dir);
    std::fs::write(&options.state, "{\"format\": 1, \"revision\": ").unwrap();
    let e = controller::run(options.clone()).await.unwrap_err();
    let msg = format!("{e}");
    assert!(msg.contains(&options.state.display().to_string()), "{msg}");
    assert!(msg.contains("never resets"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&options.state).unwrap(),
        "{\"format\": 1, \"revision\": "
    );
}

#[tokio::test]
async fn a_second_controller_on_the_same_socket_is_refused() {
    let t = TestController::start().await;
    let dir2 = tempfile::tempdir().unwrap();
    let mut options = TestController::options(&dir2);
    options.socket = t.dir.path().join("run/controller.sock");
    let e = controller::run(options).await.unwrap_err();
    assert!(
        e.to_string().contains("is in use by a running controller"),
        "{e}"
    );
    assert!(t.client().health().await.is_ok());
}

#[tokio::test]
async fn a_change_the_store_cannot_save_is_not_applied() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let before = t.fingerprint().await;
    // A directory where the store's temp file goes makes every save fail.
    std::fs::create_dir(t.dir.path().join("state.json.tmp")).unwrap();
    let e = c.add_pod(&pod("web-1", "n1")).await.unwrap_err();
    assert_eq!(api_status(&e), 500);
    assert!(e.to_string().contains("state.json: cannot write it"), "{e}");
    assert_eq!(t.fingerprint().await, before);
    // Once the store works again, so do changes.
    std::fs::remove_dir(t.dir.path().join("state.json.tmp")).unwrap();
    c.add_pod(&pod("web-1", "n1")).await.unwrap();
}

#[tokio::test]
async fn shutdown_answers_long_polls_and_removes_the_socket() {
    let mut t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let revision = c.health().await.unwrap().revision;
    let watcher = {
        let c = c.clone();
        tokio::spawn(async move {
            c.watch_node(&n("n1"), revision, Duration::from_secs(300))
                .await
        })
    };
    // Wait until the long poll is parked in the server.
    let state = t.controller().state.clone();
    while state.subscribers() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.controller.take().unwrap().shutdown().await;
    let view = watcher.await.unwrap().unwrap();
    assert_eq!(view.revision, revision);
    assert!(!t.dir.path().join("run/controller.sock").exists());
    assert!(c.health().await.unwrap_err().is_unreachable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_get_distinct_addresses_and_one_revision_each() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let start = c.health().await.unwrap().revision;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.add_pod(&pod(&format!("p{i}"), "n1")).await.unwrap() })
        })
        .collect();
    let mut ips = std::collections::BTreeSet::new();
    for task in tasks {
        ips.insert(task.await.unwrap().ip);
    }
    assert_eq!(ips.len(), 20);
    assert_eq!(c.health().await.unwrap().revision, start + 20);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.state_path()).unwrap()).unwrap();
    assert_eq!(on_disk["revision"], start + 20);
    assert_eq!(on_disk["pods"].as_array().unwrap().len(), 20);
}

/// A flow source that answers with the query it was given, to check what the server passes.
struct EchoFlows;

impl controller::server::FlowSource for EchoFlows {
    fn dump<'a>(
        &'a self,
        q: &'a FlowQuery,
    ) -> controller::server::BoxFuture<
        'a,
        Result<Vec<switchyard_api::FlowEntry>, controller::server::FlowError>,
    > {
        Box::pin(async move {
            Ok(vec![switchyard_api::FlowEntry {
                bridge: q.bridge.clone().unwrap_or_default(),
                table_id: match &q.table {
                    Some(TableSelector::Id(id)) => *id,
                    _ => 0,
                },
                table: q
                    .table
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                priority: 0,
                cookie: u64::MAX,
                owner: q.owner.clone().unwrap_or_default(),
                packets: 0,
                bytes: 0,
                text: format!("node={}", q.node),
            }])
        })
    }
}

#[tokio::test]
async fn flow_dumps_go_to_the_flow_source_with_the_parsed_query() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(controller::store::MemoryStore::default());
    let state = controller::state::ClusterState::open(store, &ClusterOverrides::default()).unwrap();
    let options = controller::server::ApiOptions {
        socket: dir.path().join("api.sock"),
        listen: None,
        token: None,
    };
    let api = controller::server::serve(state, std::sync::Arc::new(EchoFlows), &options)
        .await
        .unwrap();
    let c = Client::new(&format!("unix:{}", dir.path().join("api.sock").display())).unwrap();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let flows = c.flows(&FlowQuery::node(n("n1"))).await.unwrap();
    assert_eq!(
        (flows[0].bridge.as_str(), flows[0].text.as_str()),
        ("br-int", "node=n1")
    );
    let q = FlowQuery {
        node: n("n1"),
        bridge: Some("br-ex".into()),
        table: Some(TableSelector::Id(40)),
        owner: Some("web 1".into()),
    };
    let flows = c.flows(&q).await.unwrap();
    assert_eq!(flows[0].bridge, "br-ex");
    assert_eq!(flows[0].table_id, 40);
    assert_eq!(flows[0].owner, "web 1");
    assert_eq!(flows[0].cookie, u64::MAX);
    api.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_and_waits_for_spawned_tasks() {
    let mut t = TestController::start().await;
    let mut controller = t.controller.take().unwrap();
    let mut stopping = controller.stopping();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    controller.spawn(async move {
        let _ = stopping.wait_for(|s| *s).await;
        let _ = done_tx.send(());
    });
    controller.shutdown().await;
    done_rx.await.unwrap();
}
