//! The built `yardctl` binary against an in-process controller: output and exit codes.

mod common;

use common::TestController;
use switchyard_api::{Node, Pod};

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
    assert!(show.contains("subnet:    10.244.1.0/24\n"), "{show}");
    assert!(show.contains("mgmt mac:  0a:58:0a:f4:01:02\n"), "{show}");
    assert!(show.contains("pods:      2 db web-1\n"), "{show}");
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
