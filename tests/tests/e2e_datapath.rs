//! End to end: what the datapath does per packet. Pod-to-pod traffic is cached as megaflows
//! with no `ct()` and no recirculation (as on a plain bridge); service traffic still goes
//! through conntrack; a connection made straight to a backend's target port, whose replies
//! meet conntrack and find no NAT, works.

use std::net::Ipv4Addr;
use std::process::{Child, Stdio};

use switchyard_tests::cluster::{Lab, LabNode, PATIENCE};
use switchyard_tests::{ask, ovs_available, wait_for, Children, Netns};

fn spawn(ns: &Netns, argv: &[&str]) -> Child {
    ns.cmd(argv)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

/// The node's datapath flows (megaflows) that name `ip` as source or destination.
fn megaflows(node: &LabNode, ip: &str) -> Vec<String> {
    let names = |l: &&str| {
        ["src=", "dst="].iter().any(|k| {
            l.split(&format!("{k}{ip}"))
                .skip(1)
                .any(|rest| rest.starts_with([',', '/', ')']))
        })
    };
    node.ovs
        .appctl("ovs-vswitchd", &["dpctl/dump-flows"])
        .lines()
        .filter(names)
        .map(str::to_owned)
        .collect()
}

fn uses_conntrack(flow: &str) -> bool {
    flow.contains("ct(") || flow.contains("recirc(") || !flow.contains("recirc_id(0)")
}

/// Answers every TCP connection on `port` with `name`.
fn answer(ns: &Netns, port: u16, name: &str) -> Child {
    spawn(
        ns,
        &[
            "socat",
            &format!("TCP-LISTEN:{port},fork,reuseaddr"),
            &format!("SYSTEM:echo {name}"),
        ],
    )
}

#[test]
fn pod_to_pod_traffic_never_meets_conntrack_and_service_traffic_does() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(2);
    let (a, a_ip) = lab.add_pod("a", 0);
    let (b, b_ip) = lab.add_pod("b", 1);
    let (a_ns, b_ns) = (lab.pod_netns(&a), lab.pod_netns(&b));
    let _server = Children(vec![answer(&b_ns, 8080, &b)]);
    lab.yardctl_ok(&[
        "service",
        "add",
        "web",
        "--port",
        "80",
        "--target-port",
        "8080",
        "--nodeport",
        "30080",
        "--pod",
        &b,
    ]);
    let vip = lab.cluster_ip("web");
    assert!(Lab::reaches(&a_ns, b_ip), "a reaches b");

    // A TCP stream from a to b on a port no service uses, both ways through the tunnel.
    let mut stream = Children(Vec::new());
    stream.0.push(spawn(
        &b_ns,
        &["socat", "-u", "TCP-LISTEN:5201,reuseaddr,fork", "/dev/null"],
    ));
    stream.0.push(spawn(
        &a_ns,
        &[
            "sh",
            "-c",
            &format!("while :; do socat -u /dev/zero TCP:{b_ip}:5201; sleep 0.2; done"),
        ],
    ));
    let streaming = |node: &LabNode, ip: Ipv4Addr| {
        wait_for(
            &format!("megaflows of the a→b stream on {}", node.name),
            PATIENCE,
            || {
                let flows = megaflows(node, &ip.to_string());
                flows
                    .iter()
                    .any(|f| f.contains("proto=6") && !f.contains("packets:0,"))
                    .then_some(flows)
            },
        )
    };
    for (node, ip) in [(&lab.nodes[0], a_ip), (&lab.nodes[1], b_ip)] {
        let flows = streaming(node, ip);
        let slow: Vec<&String> = flows.iter().filter(|f| uses_conntrack(f)).collect();
        assert!(
            slow.is_empty(),
            "pod-to-pod megaflows on {} go through conntrack:\n{}",
            node.name,
            slow.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // The stream would crowd out the short connections below on a loaded machine.
    drop(stream);

    // Through the service: the megaflows for the ClusterIP enter conntrack.
    assert_eq!(
        wait_for("ClusterIP from a", PATIENCE, || ask(&a_ns, &vip, 80)),
        b
    );
    let via_vip = megaflows(&lab.nodes[0], &vip);
    assert!(
        via_vip.iter().any(|f| f.contains("ct(")),
        "service traffic did not meet conntrack on {}:\n{}",
        lab.nodes[0].name,
        via_vip.join("\n")
    );

    // Straight to the backend's target port, not through the service: the replies pass the
    // gate into conntrack, find no NAT there and arrive unchanged.
    for i in 0..5 {
        let answer = wait_for(
            &format!("connection {i} straight to {b_ip}:8080"),
            PATIENCE,
            || ask(&a_ns, &b_ip.to_string(), 8080),
        );
        assert_eq!(answer, b);
    }
}
