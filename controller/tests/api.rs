//! The v1 API driven through the `switchyard-api` client against an in-process controller.

mod common;

use std::time::Duration;

use common::{raw_request, TestController};
use controller::config::ClusterOverrides;
use controller::store::{FileStore, Store};
use switchyard_api::{
    Client, FlowQuery, NewNode, NewPod, NewService, NodeName, PodName, PodState, PodStatus,
    Protocol, ServiceId, ServiceName, ServiceType, TableSelector,
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

fn s(name: &str) -> ServiceName {
    name.parse().unwrap()
}

fn pods(names: &[&str]) -> Vec<PodName> {
    names.iter().map(|name| p(name)).collect()
}

fn service(name: &str, port: u16, backends: &[&str]) -> NewService {
    let mut svc = NewService::new(s(name), port);
    svc.backends = pods(backends);
    svc
}

/// Two nodes; web-1 on n1, web-2 and web-3 on n2.
async fn three_pods(c: &Client) {
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    c.add_node(&node("n2", "192.168.56.12")).await.unwrap();
    for (name, on) in [("web-1", "n1"), ("web-2", "n2"), ("web-3", "n2")] {
        c.add_pod(&pod(name, on)).await.unwrap();
    }
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
async fn a_watch_sleeps_through_changes_that_do_not_concern_its_node() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    c.add_node(&node("n2", "192.168.56.12")).await.unwrap();
    c.add_pod(&pod("db-1", "n2")).await.unwrap();
    let state = t.controller().state.clone();
    let parked = state.subscribers();
    let since = c.health().await.unwrap().revision;
    let watcher = {
        let c = c.clone();
        tokio::spawn(async move {
            c.watch_node(&n("n1"), since, Duration::from_secs(300))
                .await
        })
    };
    while state.subscribers() == parked {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Two changes on n2 (an add and a removal), then one on n1: only the last wakes n1's watch.
    c.add_pod(&pod("db-2", "n2")).await.unwrap();
    c.remove_pod(&"db-1".parse().unwrap()).await.unwrap();
    c.add_pod(&pod("web-1", "n1")).await.unwrap();
    let woke = watcher.await.unwrap().unwrap();
    assert_eq!(woke.revision, since + 3, "woken by the n1 change alone");
    assert_eq!(woke.pods.len(), 1);

    // A watch from an older revision is answered at once if anything since may concern it.
    let view = c
        .watch_node(&n("n2"), since, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(view.pods.len(), 1);
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
    // A directory in the journal's place makes every save fail.
    let journal = t.dir.path().join("state.json.journal");
    let saved = std::fs::read(&journal).unwrap();
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let e = c.add_pod(&pod("web-1", "n1")).await.unwrap_err();
    assert_eq!(api_status(&e), 500);
    assert!(
        e.to_string()
            .contains("state.json.journal: cannot write it"),
        "{e}"
    );
    assert_eq!(t.fingerprint().await, before);
    // Once the store works again, so do changes.
    std::fs::remove_dir(&journal).unwrap();
    std::fs::write(&journal, saved).unwrap();
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
    let on_disk = FileStore::new(t.state_path()).load().unwrap().unwrap();
    assert_eq!(on_disk.revision, start + 20);
    assert_eq!(on_disk.pods().len(), 20);
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

#[tokio::test]
async fn services_get_an_id_a_cluster_ip_a_node_port_and_resolved_backends() {
    let t = TestController::start().await;
    let c = t.client();
    three_pods(&c).await;
    let rev = c.health().await.unwrap().revision;

    let web = c
        .add_service(&service("web", 80, &["web-2", "web-1"]))
        .await
        .unwrap();
    assert_eq!(c.health().await.unwrap().revision, rev + 1);
    assert_eq!((web.id, web.port, web.target_port), (ServiceId(1), 80, 80));
    assert_eq!(web.service_type, ServiceType::NodePort);
    assert_eq!(web.protocol, Protocol::Tcp);
    assert_eq!(web.cluster_ip.to_string(), "10.96.0.2");
    assert_eq!(web.node_port, Some(30000));
    let backends: Vec<_> = web
        .backends
        .iter()
        .map(|b| format!("{} {} {}:{}", b.pod, b.node, b.ip, b.port))
        .collect();
    assert_eq!(
        backends,
        ["web-1 n1 10.244.1.3:80", "web-2 n2 10.244.2.3:80"]
    );

    let mut dns = service("dns", 53, &["web-3"]);
    dns.protocol = Protocol::Udp;
    dns.service_type = ServiceType::ClusterIp;
    dns.target_port = Some(5353);
    let dns = c.add_service(&dns).await.unwrap();
    assert_eq!((dns.id, dns.node_port), (ServiceId(2), None));
    assert_eq!(dns.cluster_ip.to_string(), "10.96.0.3");
    assert_eq!(dns.backends[0].port, 5353);

    let mut fixed = service("api", 443, &[]);
    fixed.node_port = Some(32767);
    let fixed = c.add_service(&fixed).await.unwrap();
    assert_eq!(fixed.node_port, Some(32767));
    assert!(fixed.backends.is_empty());

    assert_eq!(
        c.services().await.unwrap(),
        vec![fixed.clone(), dns.clone(), web.clone()]
    );
    assert_eq!(c.service(&s("web")).await.unwrap(), web);

    // Backends: added once, removed idempotently; each real change is one revision.
    let rev = c.health().await.unwrap().revision;
    let web = c
        .add_backends(&s("web"), &pods(&["web-3", "web-1"]))
        .await
        .unwrap();
    assert_eq!(web.backends.len(), 3);
    assert_eq!(c.health().await.unwrap().revision, rev + 1);
    let again = c.add_backends(&s("web"), &pods(&["web-3"])).await.unwrap();
    assert_eq!(again, web);
    assert_eq!(c.health().await.unwrap().revision, rev + 1);
    let web = c
        .remove_backends(&s("web"), &pods(&["web-1", "web-9"]))
        .await
        .unwrap();
    let left: Vec<_> = web.backends.iter().map(|b| b.pod.as_str()).collect();
    assert_eq!(left, ["web-2", "web-3"]);
    assert_eq!(c.health().await.unwrap().revision, rev + 2);
    let same = c
        .remove_backends(&s("web"), &pods(&["web-1"]))
        .await
        .unwrap();
    assert_eq!(same, web);
    assert_eq!(c.health().await.unwrap().revision, rev + 2);

    // A removed pod leaves every service; a removed node takes its pods' backends along.
    c.remove_pod(&p("web-3")).await.unwrap();
    assert!(c.service(&s("dns")).await.unwrap().backends.is_empty());
    assert_eq!(c.service(&s("web")).await.unwrap().backends.len(), 1);
    c.remove_node(&n("n2"), true).await.unwrap();
    assert!(c.service(&s("web")).await.unwrap().backends.is_empty());

    // Removing a service frees its ClusterIP and node port for the next one.
    c.remove_service(&s("web")).await.unwrap();
    let e = c.service(&s("web")).await.unwrap_err();
    assert_eq!(api_status(&e), 404);
    assert_eq!(e.to_string(), "service web not found (HTTP 404)");
    let next = c.add_service(&service("next", 8080, &[])).await.unwrap();
    assert_eq!(
        (next.id, next.cluster_ip, next.node_port),
        (ServiceId(1), web.cluster_ip, web.node_port)
    );
}

#[tokio::test]
async fn bad_service_requests_are_refused_naming_the_object_and_change_nothing() {
    let t = TestController::start().await;
    let c = t.client();
    let url = t.socket_url();
    three_pods(&c).await;
    let mut web = service("web", 80, &["web-1"]);
    web.node_port = Some(30080);
    c.add_service(&web).await.unwrap();
    let before = t.fingerprint().await;

    let with = |f: fn(&mut NewService)| {
        let mut svc = service("x", 80, &[]);
        f(&mut svc);
        svc
    };
    let cases = [
        (service("web", 81, &[]), 409, "service web already exists"),
        (
            with(|s| s.node_port = Some(30080)),
            409,
            "service x: node port 30080 is already used by service web",
        ),
        (with(|s| s.port = 0), 400, "service x: port 0 is not a port"),
        (
            with(|s| s.target_port = Some(0)),
            400,
            "service x: target_port 0 is not a port",
        ),
        (
            with(|s| s.node_port = Some(29999)),
            400,
            "service x: node_port 29999 is outside the node port range 30000-32767",
        ),
        (
            with(|s| {
                s.service_type = ServiceType::ClusterIp;
                s.node_port = Some(30001);
            }),
            400,
            "service x: node_port 30001 is given, but only NodePort services have a node port",
        ),
        (
            service("x", 80, &["web-1", "ghost"]),
            404,
            "service x: backend pod ghost not found",
        ),
    ];
    for (req, status, message) in cases {
        let e = c.add_service(&req).await.unwrap_err();
        assert_eq!(api_status(&e), status, "{e}");
        assert!(e.to_string().starts_with(message), "{message}: {e}");
    }
    for e in [
        c.service(&s("nope")).await.unwrap_err(),
        c.remove_service(&s("nope")).await.unwrap_err(),
        c.add_backends(&s("nope"), &pods(&["web-1"]))
            .await
            .unwrap_err(),
        c.remove_backends(&s("nope"), &pods(&["web-1"]))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(api_status(&e), 404);
        assert!(e.to_string().starts_with("service nope not found"), "{e}");
    }
    let e = c
        .add_backends(&s("web"), &pods(&["web-2", "ghost"]))
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 404);
    assert!(
        e.to_string()
            .starts_with("service web: backend pod ghost not found"),
        "{e}"
    );
    for e in [
        c.add_backends(&s("web"), &[]).await.unwrap_err(),
        c.remove_backends(&s("web"), &[]).await.unwrap_err(),
    ] {
        assert_eq!(api_status(&e), 400);
        assert!(
            e.to_string().starts_with("service web: pods is empty"),
            "{e}"
        );
    }

    // Requests the typed client cannot produce.
    let cases = [
        ("POST", "/v1/services", "{not json"),
        ("POST", "/v1/services", r#"{"name":"x"}"#),
        ("POST", "/v1/services", r#"{"name":"X","port":80}"#),
        ("POST", "/v1/services", r#"{"name":"x","port":65536}"#),
        ("POST", "/v1/services", r#"{"name":"x","port":-1}"#),
        (
            "POST",
            "/v1/services",
            r#"{"name":"x","port":80,"protocol":"sctp"}"#,
        ),
        (
            "POST",
            "/v1/services",
            r#"{"name":"x","port":80,"type":"LoadBalancer"}"#,
        ),
        (
            "POST",
            "/v1/services",
            r#"{"name":"x","port":80,"nodePort":30001}"#,
        ),
        (
            "POST",
            "/v1/services",
            r#"{"name":"x","port":80,"backends":"web-1"}"#,
        ),
        ("GET", "/v1/services/Not_A_Name", ""),
        ("DELETE", "/v1/services/Web", ""),
        ("POST", "/v1/services/web/backends", r#"{"pods":["Web-1"]}"#),
        ("POST", "/v1/services/web/backends", r#"{"pod":["web-1"]}"#),
        ("DELETE", "/v1/services/web/backends", ""),
        ("POST", "/v1/services/web/backends", "[]"),
    ];
    for (method, path, body) in cases {
        let (status, answer) = raw_request(&url, method, path, body).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(!v["error"].as_str().unwrap().is_empty(), "{answer}");
    }
    let (status, answer) = raw_request(&url, "PUT", "/v1/services/web", "{}").await;
    assert_eq!(status, 405, "{answer}");
    assert!(
        answer.contains("/v1/services/web does not take PUT"),
        "{answer}"
    );

    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn a_full_service_cidr_is_a_conflict_naming_it() {
    let overrides = ClusterOverrides {
        service_cidr: Some("10.96.0.0/29".parse().unwrap()),
        ..Default::default()
    };
    let t = TestController::start_with(TestController::with_cluster(overrides)).await;
    let c = t.client();
    for i in 0..5 {
        let svc = c
            .add_service(&service(&format!("s{i}"), 80, &[]))
            .await
            .unwrap();
        assert_eq!(svc.cluster_ip.octets()[3], 2 + i);
    }
    let before = t.fingerprint().await;
    let e = c.add_service(&service("s5", 80, &[])).await.unwrap_err();
    assert_eq!(api_status(&e), 409);
    assert!(
        e.to_string()
            .starts_with("service CIDR 10.96.0.0/29 has no free ClusterIP (5 services)"),
        "{e}"
    );
    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn services_survive_a_restart_and_do_not_wake_node_watches() {
    let mut t = TestController::start().await;
    let c = t.client();
    three_pods(&c).await;
    let view = c
        .watch_node(&n("n1"), 0, Duration::from_secs(0))
        .await
        .unwrap();
    let watcher = {
        let c = c.clone();
        tokio::spawn(async move {
            c.watch_node(&n("n1"), view.revision, Duration::from_secs(1))
                .await
        })
    };
    c.add_service(&service("web", 80, &["web-1", "web-2"]))
        .await
        .unwrap();
    // A node's view has no services: the watch runs to its timeout, then gives the revision.
    let after = watcher.await.unwrap().unwrap();
    assert_eq!(after.revision, view.revision + 1);
    assert_eq!(after.pods, view.pods);
    let services = c.services().await.unwrap();
    let revision = c.health().await.unwrap().revision;
    t.restart().await;
    let c = t.client();
    assert_eq!(c.services().await.unwrap(), services);
    assert_eq!(c.health().await.unwrap().revision, revision);
    let snapshot = t.controller().state.snapshot();
    let (spec, backends) = snapshot.service_backends().next().unwrap();
    assert_eq!(spec.name.as_str(), "web");
    assert_eq!(backends, services[0].backends);
}

#[tokio::test]
async fn a_pod_batch_is_added_in_one_revision_or_not_at_all() {
    let t = TestController::start().await;
    let c = t.client();
    c.add_node(&node("n1", "192.168.56.11")).await.unwrap();
    let before = c.health().await.unwrap().revision;
    let added = c
        .add_pods(&[pod("a", "n1"), pod("b", "n1"), pod("c", "n1")])
        .await
        .unwrap();
    let names: Vec<&str> = added.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(c.health().await.unwrap().revision, before + 1);

    // One bad entry (an unknown node) refuses the batch, naming it; nothing is added.
    let e = c
        .add_pods(&[pod("d", "n1"), pod("e", "n9")])
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 404);
    assert!(e.to_string().contains("n9"), "{e}");
    assert_eq!(c.pods(None).await.unwrap().len(), 3);
}
