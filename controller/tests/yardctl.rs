//! The built `yardctl` binary against an in-process controller: output and exit codes.

mod common;

use common::TestController;
use switchyard_api::{Node, Pod, Service};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `yardctl` with `args` (split on whitespace) and the given environment.
async fn yardctl_env(env: &[(&str, &str)], args: &str) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_yardctl"))
        .env_remove("YARD_TOKEN")
        .envs(env.iter().copied())
        .args(args.split_whitespace())
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

async fn yardctl_at(controller: &str, args: &str) -> Run {
    yardctl_env(&[("YARD_CONTROLLER", controller)], args).await
}

async fn yardctl(t: &TestController, args: &str) -> Run {
    yardctl_at(&t.socket_url(), args).await
}

async fn ok(t: &TestController, args: &str) -> String {
    let r = yardctl(t, args).await;
    assert_eq!(r.code, 0, "yardctl {args}: {}", r.stderr);
    r.stdout
}

/// Adds n1, node-two and three pods; returns what each add printed.
async fn two_nodes_three_pods(t: &TestController) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        "node add n1 --ip 192.168.56.11 --uplink eth1",
        "node add node-two --ip 192.168.56.12 --datapath system",
        "pod add web-1 --node n1",
        "pod add web-2 --node node-two --netns /var/run/netns/w2",
        "pod add db --node n1",
    ] {
        out.push(ok(t, args).await);
    }
    out
}

#[tokio::test]
async fn read_commands_print_aligned_tables() {
    let t = TestController::start().await;
    let added = two_nodes_three_pods(&t).await;
    assert_eq!(
        added[0],
        "node n1 added: ip 192.168.56.11, subnet 10.244.1.0/24\n"
    );
    assert_eq!(
        added[2],
        "pod web-1 added on node n1: ip 10.244.1.3/24, mac 0a:58:0a:f4:01:03\n"
    );

    assert_eq!(
        ok(&t, "node list").await,
        "NAME      IP             SUBNET         DATAPATH  UPLINK  PODS  OVSDB       OPENFLOW\n\
         n1        192.168.56.11  10.244.1.0/24  netdev    eth1    2     connecting  disconnected\n\
         node-two  192.168.56.12  10.244.2.0/24  system    -       1     connecting  disconnected\n"
    );
    assert_eq!(
        ok(&t, "pod list --node n1").await,
        "NAME   NODE  IP             MAC                NETNS     STATE\n\
         db     n1    10.244.1.4/24  0a:58:0a:f4:01:04  yp-db     pending\n\
         web-1  n1    10.244.1.3/24  0a:58:0a:f4:01:03  yp-web-1  pending\n"
    );
    let all = ok(&t, "pod list").await;
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(all.contains("/var/run/netns/w2"), "{all}");

    let show = ok(&t, "node show n1").await;
    assert!(show.contains("subnet:           10.244.1.0/24\n"), "{show}");
    assert!(
        show.contains("mgmt mac:         0a:58:0a:f4:01:02\n"),
        "{show}"
    );
    assert!(show.contains("applied revision: -\n"), "{show}");
    assert!(show.contains("pods:             2 db web-1\n"), "{show}");
    let show = ok(&t, "pod show web-2").await;
    assert!(show.contains("gateway: 10.244.2.1\n"), "{show}");

    let status = ok(&t, "status").await;
    assert!(status.contains("(ok, revision "), "{status}");
    assert!(
        status.contains("NODE      OVSDB       OPENFLOW      FLOWS  PODS  WIRED  REASON\n"),
        "{status}"
    );
    assert!(
        status.contains("n1        connecting  disconnected  -      2     0      -\n"),
        "{status}"
    );
}

#[tokio::test]
async fn json_output_is_the_api_json() {
    let t = TestController::start().await;
    two_nodes_three_pods(&t).await;
    let c = t.client();
    let json = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap();
    let nodes: Vec<Node> = serde_json::from_str(&ok(&t, "node list --json").await).unwrap();
    assert_eq!(nodes, c.nodes().await.unwrap());
    let node: Node = serde_json::from_str(&ok(&t, "--json node show n1").await).unwrap();
    assert_eq!(node, c.node(&"n1".parse().unwrap()).await.unwrap());
    let pods: Vec<Pod> =
        serde_json::from_str(&ok(&t, "pod list --node node-two --json").await).unwrap();
    let expected = c.pods(Some(&"node-two".parse().unwrap())).await.unwrap();
    assert_eq!(pods, expected);
    assert_eq!(json(ok(&t, "pod show db --json").await)["ip"], "10.244.1.4");
    assert_eq!(
        json(ok(&t, "--json pod add x --node n1").await)["ip"],
        "10.244.1.5"
    );
    let status = json(ok(&t, "status --json").await);
    assert_eq!(status["health"]["status"], "ok");
    assert_eq!(status["cluster"]["cluster_cidr"], "10.244.0.0/16");
    assert_eq!(status["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(status["pods"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn api_errors_exit_1_naming_the_object() {
    let t = TestController::start().await;
    two_nodes_three_pods(&t).await;
    let before = t.fingerprint().await;
    for (args, message) in [
        ("node add n1 --ip 192.168.56.99", "node n1 already exists"),
        ("node add n3 --ip 192.168.56.11", "already used by node n1"),
        ("node add n3 --ip 10.244.9.9", "inside the cluster CIDR"),
        ("node show n9", "node n9 not found"),
        ("pod add p --node n9", "node n9 not found"),
        ("node remove n1", "node n1 still has 2 pod(s)"),
        (
            "flows n1 --table l3-forward",
            "node n1: OpenFlow not connected",
        ),
    ] {
        let r = yardctl(&t, args).await;
        assert_eq!(r.code, 1, "{args}: {}", r.stderr);
        assert!(r.stderr.starts_with("yardctl: "), "{args}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args}: {}", r.stdout);
    }
    assert_eq!(t.fingerprint().await, before);
    assert_eq!(ok(&t, "node remove n1 --force").await, "node n1 removed\n");
    assert_eq!(ok(&t, "pod remove web-2").await, "pod web-2 removed\n");
}

#[tokio::test]
async fn usage_errors_exit_2_and_change_nothing() {
    let t = TestController::start().await;
    two_nodes_three_pods(&t).await;
    let before = t.fingerprint().await;
    for args in [
        "node add N1 --ip 192.168.56.20",
        "node add n5",
        "node add n5 --ip 192.168.56",
        "node add n5 --ip 192.168.56.20 --datapath dpdk",
        "flows n1 --table 300",
        "flows n1 --bridge br-foo",
        "pods",
        "",
    ] {
        let r = yardctl(&t, args).await;
        assert_eq!(r.code, 2, "{args}: {}", r.stderr);
        assert!(!r.stderr.is_empty());
    }
    let r = yardctl_at("ftp://x", "node list").await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad controller URL \"ftp://x\""),
        "{}",
        r.stderr
    );
    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn an_unreachable_controller_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("unix:{}", dir.path().join("none.sock").display());
    let r = yardctl_at(&url, "node list").await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot reach the controller at unix:"),
        "{}",
        r.stderr
    );
    let r = yardctl_at("http://127.0.0.1:1", "status").await;
    assert_eq!(r.code, 3, "{}", r.stderr);
}

#[tokio::test]
async fn help_lists_every_command_and_option() {
    let t = TestController::start().await;
    for (args, words) in [
        (
            "--help",
            &[
                "node",
                "pod",
                "service",
                "flows",
                "status",
                "--controller",
                "--token",
                "--json",
                "YARD_CONTROLLER",
                "Exit codes",
            ][..],
        ),
        (
            "node add --help",
            &["--ip", "--uplink", "--datapath", "netdev", "system"],
        ),
        (
            "flows --help",
            &["--bridge", "br-int", "br-ex", "--table", "--owner"],
        ),
        ("node remove --help", &["--force"]),
        ("pod list --help", &["--node"]),
        ("pod add --help", &["--node", "--netns"]),
    ] {
        let help = ok(&t, args).await;
        for word in words {
            assert!(help.contains(word), "{word} missing from {args}:\n{help}");
        }
    }
}

#[tokio::test]
async fn talks_to_the_tcp_api_with_a_token() {
    let (_t, url) = TestController::start_tcp("tok-123").await;
    let r = yardctl_at(&url, "node list").await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bearer token"), "{}", r.stderr);
    let r = yardctl_at(&url, "--token tok-123 node add n1 --ip 192.168.56.11").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let env = [("YARD_CONTROLLER", url.as_str()), ("YARD_TOKEN", "tok-123")];
    let r = yardctl_env(&env, "node list").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("n1  "), "{}", r.stdout);
}

/// `two_nodes_three_pods` plus services web (NodePort 80->8080, web-1 and web-2) and dns
/// (ClusterIP, udp, db); returns what the adds printed.
async fn with_services(t: &TestController) -> Vec<String> {
    two_nodes_three_pods(t).await;
    let mut out = Vec::new();
    for args in [
        "service add web --port 80 --target-port 8080 --pod web-1 --pod web-2",
        "service add dns --port 53 --type ClusterIP --protocol udp --pod db",
    ] {
        out.push(ok(t, args).await);
    }
    out
}

#[tokio::test]
async fn service_commands_print_tables_and_details() {
    let t = TestController::start().await;
    let added = with_services(&t).await;
    assert_eq!(
        added,
        [
            "service web added: NodePort 10.96.0.2:80/tcp, node port 30000, 2 backend(s)\n",
            "service dns added: ClusterIP 10.96.0.3:53/udp, 1 backend(s)\n",
        ]
    );
    assert_eq!(
        ok(
            &t,
            "service add api --port 443 --nodeport 30443 --type nodeport"
        )
        .await,
        "service api added: NodePort 10.96.0.4:443/tcp, node port 30443, 0 backend(s)\n"
    );
    assert_eq!(
        ok(&t, "service list").await,
        "NAME  TYPE       CLUSTER-IP  PORT      NODEPORT  PROTO  BACKENDS\n\
         api   NodePort   10.96.0.4   443       30443     tcp    0\n\
         dns   ClusterIP  10.96.0.3   53        -         udp    1\n\
         web   NodePort   10.96.0.2   80->8080  30000     tcp    2\n"
    );
    assert_eq!(
        ok(&t, "service show web").await,
        "name:        web\n\
         id:          1\n\
         type:        NodePort\n\
         protocol:    tcp\n\
         cluster ip:  10.96.0.2\n\
         port:        80\n\
         target port: 8080\n\
         node port:   30000\n\
         backends:    2\n\
         \n\
         POD    NODE      IP          PORT\n\
         web-1  n1        10.244.1.3  8080\n\
         web-2  node-two  10.244.2.3  8080\n"
    );
    let status = ok(&t, "status").await;
    assert!(status.contains("services:   3\n"), "{status}");
    let api = ok(&t, "service show api").await;
    assert!(api.ends_with("backends:    0\n"), "{api}");

    assert_eq!(
        ok(&t, "service backends add web --pod db web-1").await,
        "service web: 3 backend(s) db web-1 web-2\n"
    );
    assert_eq!(
        ok(&t, "service backends remove web --pod web-1 --pod web-1").await,
        "service web: 2 backend(s) db web-2\n"
    );
    assert_eq!(
        ok(&t, "service backends remove web --pod web-1").await,
        "service web: 2 backend(s) db web-2\n"
    );
    assert_eq!(ok(&t, "service remove dns").await, "service dns removed\n");
    // Removing a pod drops it from its services.
    ok(&t, "pod remove db").await;
    let list = ok(&t, "service list").await;
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.contains("web   NodePort  10.96.0.2   80->8080  30000     tcp    1\n"),
        "{list}"
    );
}

#[tokio::test]
async fn service_json_output_is_the_api_json() {
    let t = TestController::start().await;
    with_services(&t).await;
    let c = t.client();
    let services: Vec<Service> =
        serde_json::from_str(&ok(&t, "service list --json").await).unwrap();
    assert_eq!(services, c.services().await.unwrap());
    let web: Service = serde_json::from_str(&ok(&t, "--json service show web").await).unwrap();
    assert_eq!(web, c.service(&"web".parse().unwrap()).await.unwrap());
    let added: Service =
        serde_json::from_str(&ok(&t, "service add x --port 9 --pod db --json").await).unwrap();
    assert_eq!(added, c.service(&"x".parse().unwrap()).await.unwrap());
    let changed: Service =
        serde_json::from_str(&ok(&t, "service backends add x --pod web-1 --json").await).unwrap();
    assert_eq!(changed.backends.len(), 2);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&t, "service show dns --json").await).unwrap();
    assert_eq!(v["type"], "ClusterIP");
    let status: serde_json::Value = serde_json::from_str(&ok(&t, "status --json").await).unwrap();
    assert_eq!(status["services"].as_array().unwrap().len(), 3);
    assert_eq!(v["protocol"], "udp");
    assert!(v.get("node_port").is_none(), "{v}");
}

#[tokio::test]
async fn service_errors_exit_1_naming_the_object_and_change_nothing() {
    let t = TestController::start().await;
    with_services(&t).await;
    let before = t.fingerprint().await;
    for (args, message) in [
        ("service add web --port 81", "service web already exists"),
        (
            "service add x --port 80 --nodeport 30000",
            "service x: node port 30000 is already used by service web",
        ),
        (
            "service add x --port 80 --nodeport 8080",
            "service x: node_port 8080 is outside the node port range 30000-32767",
        ),
        ("service add x --port 0", "service x: port 0 is not a port"),
        (
            "service add x --port 80 --type ClusterIP --nodeport 30001",
            "only NodePort services have a node port",
        ),
        (
            "service add x --port 80 --pod web-1 --pod ghost",
            "service x: backend pod ghost not found",
        ),
        ("service show nope", "service nope not found"),
        ("service remove nope", "service nope not found"),
        (
            "service backends add nope --pod web-1",
            "service nope not found",
        ),
        (
            "service backends remove nope --pod web-1",
            "service nope not found",
        ),
        (
            "service backends add web --pod ghost",
            "service web: backend pod ghost not found",
        ),
        // --owner takes a service name as it takes a node or pod name.
        ("flows n1 --owner web", "node n1: OpenFlow not connected"),
    ] {
        let r = yardctl(&t, args).await;
        assert_eq!(r.code, 1, "{args}: {}", r.stderr);
        assert!(r.stderr.starts_with("yardctl: "), "{args}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args}: {}", r.stdout);
    }
    for args in [
        "service add web",
        "service add x --port 70000",
        "service add x --port 80 --type LoadBalancer",
        "service add x --port 80 --protocol sctp",
        "service add X --port 80",
        "service add x --port 80 --pod Bad_Pod",
        "service backends add web",
        "service backends remove web",
        "service backends web --pod web-1",
        "service show",
        "service",
    ] {
        let r = yardctl(&t, args).await;
        assert_eq!(r.code, 2, "{args}: {}", r.stderr);
        assert!(!r.stderr.is_empty(), "{args}");
    }
    assert_eq!(t.fingerprint().await, before);
}

#[tokio::test]
async fn service_help_lists_every_command_and_option() {
    let t = TestController::start().await;
    for (args, words) in [
        (
            "service --help",
            &["add", "list", "show", "remove", "backends"][..],
        ),
        (
            "service add --help",
            &[
                "--port",
                "--target-port",
                "--nodeport",
                "30000-32767",
                "--type",
                "NodePort",
                "ClusterIP",
                "--protocol",
                "tcp",
                "udp",
                "--pod",
            ],
        ),
        ("service backends --help", &["add", "remove"]),
        ("service backends add --help", &["--pod", "<NAME>"]),
        ("service backends remove --help", &["--pod", "<NAME>"]),
    ] {
        let help = ok(&t, args).await;
        for word in words {
            assert!(help.contains(word), "{word} missing from {args}:\n{help}");
        }
    }
}
