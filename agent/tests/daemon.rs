//! `yard-agent` end to end: the real `yard-controller` and the agent inside a node namespace
//! of the lab, with the node's own Open vSwitch.

use std::process::{Command, Stdio};
use std::time::Duration;

use switchyard_tests::cluster::{bin, Lab};
use switchyard_tests::{ovs_available, wait_for};

fn pod_json(lab: &Lab, pod: &str) -> Option<serde_json::Value> {
    let out = lab.yardctl(&["--json", "pod", "show", pod]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn wait_wired(lab: &Lab, pod: &str) -> serde_json::Value {
    wait_for(&format!("pod {pod} wired"), Duration::from_secs(60), || {
        pod_json(lab, pod)
            .filter(|p| p["status"]["state"] == "wired" && p["status"]["ofport"].as_u64().is_some())
    })
}

/// br-int and yard0 as the controller makes them, for as long as the controller does not.
fn ensure_br_int(lab: &Lab) {
    let ovs = &lab.nodes[0].ovs;
    ovs.vsctl(&[
        "--may-exist",
        "add-br",
        "br-int",
        "--",
        "set",
        "bridge",
        "br-int",
        "datapath_type=netdev",
        "fail_mode=secure",
        "--",
        "--may-exist",
        "add-port",
        "br-int",
        "yard0",
        "--",
        "set",
        "interface",
        "yard0",
        "type=internal",
        "ofport_request=1",
    ]);
}

#[test]
fn agent_wires_pods_reports_status_and_reconciles_after_restart() {
    if !ovs_available() {
        return;
    }
    let mut lab = Lab::new(1);
    lab.start_controller();
    lab.add_nodes();
    ensure_br_int(&lab);
    lab.start_agent(0);
    let node = &lab.nodes[0];

    let a = lab.pod_name("a");
    lab.yardctl_ok(&["pod", "add", &a, "--node", "n1"]);
    let p = wait_wired(&lab, &a);
    let ip = p["ip"].as_str().unwrap().to_owned();
    let host_if = p["status"]["host_if"].as_str().unwrap().to_owned();
    assert_eq!(host_if, agent::host_if_name(&a));
    // The pod namespace is visible from the root mount namespace, wired as the API says.
    let ns = lab.pod_netns(&a);
    let addr = ns.run(&["ip", "addr", "show", "dev", "eth0"]);
    assert!(addr.contains(&format!("inet {ip}/24")), "{addr}");
    assert!(addr.contains(p["mac"].as_str().unwrap()), "{addr}");
    assert!(ns
        .run(&["ip", "route"])
        .contains("default via 10.244.1.1 dev eth0"));
    let ids = node
        .ovs
        .vsctl(&["get", "Interface", &host_if, "external_ids"]);
    assert!(ids.contains(&a) && ids.contains(&ip), "{ids}");
    // The host side.
    wait_for(
        "the host side (yard0, routes, masquerade)",
        Duration::from_secs(60),
        || {
            let addr = node.netns.run(&["ip", "addr", "show", "dev", "yard0"]);
            let routes = node.netns.run(&["ip", "route"]);
            (addr.contains("inet 10.244.1.2/24")
                && addr.contains("link/ether 0a:58:0a:f4:01:02")
                && routes.contains("10.244.0.0/16 via 10.244.1.1 dev yard0")
                && routes.contains("10.96.0.0/16 via 10.244.1.1 dev yard0")
                && node.netns.ok(&["nft", "list", "table", "ip", "switchyard"]))
            .then_some(())
        },
    );

    // A namespace that is gone is reported as an error naming it; nothing is made for it.
    let gone = lab.pod_name("g");
    let gone_ns = format!("/run/netns/{gone}-missing");
    lab.yardctl_ok(&["pod", "add", &gone, "--node", "n1", "--netns", &gone_ns]);
    let g = wait_for("pod g in error", Duration::from_secs(60), || {
        pod_json(&lab, &gone).filter(|p| p["status"]["state"] == "error")
    });
    let reason = g["status"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&gone) && reason.contains(&gone_ns) && reason.contains("does not exist"),
        "{reason}"
    );
    assert!(!node
        .netns
        .ok(&["ip", "link", "show", &agent::host_if_name(&gone)]));
    lab.yardctl_ok(&["pod", "remove", &gone]);

    // Removing the pod unwires it.
    lab.yardctl_ok(&["pod", "remove", &a]);
    wait_for("pod a unwired", Duration::from_secs(60), || {
        (!node.netns.ok(&["ip", "link", "show", &host_if])
            && !std::path::Path::new("/run/netns")
                .join(format!("yp-{a}"))
                .exists()
            && !node.ovs.vsctl(&["list-ports", "br-int"]).contains(&host_if))
        .then_some(())
    });

    // While the agent is down: pod b is added, pod c (wired before) removed.
    let c = lab.pod_name("c");
    lab.yardctl_ok(&["pod", "add", &c, "--node", "n1"]);
    let c_if = wait_wired(&lab, &c)["status"]["host_if"]
        .as_str()
        .unwrap()
        .to_owned();
    lab.kill("agent-n1");
    let b = lab.pod_name("b");
    lab.yardctl_ok(&["pod", "add", &b, "--node", "n1"]);
    lab.yardctl_ok(&["pod", "remove", &c]);
    let node_ns = lab.nodes[0].netns.name.clone();
    assert!(Command::new("ip")
        .args(["netns", "exec", &node_ns, "ip", "link", "show", &c_if])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    lab.start_agent(0);
    wait_wired(&lab, &b);
    let node = &lab.nodes[0];
    wait_for("orphan c removed", Duration::from_secs(60), || {
        (!node.netns.ok(&["ip", "link", "show", &c_if])
            && !node.ovs.vsctl(&["list-ports", "br-int"]).contains(&c_if)
            && !std::path::Path::new("/run/netns")
                .join(format!("yp-{c}"))
                .exists())
        .then_some(())
    });
    lab.yardctl_ok(&["pod", "remove", &b]);
}

#[test]
fn agent_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let mut child = Command::new(bin("yard-agent"))
        .args([
            "--controller",
            &format!("unix:{}", sock.display()),
            "--node",
            "n1",
            "--mount-ns",
            "none",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it get into its retry loop (the controller is absent).
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = wait_for("yard-agent to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
}
