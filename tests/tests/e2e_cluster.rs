//! End to end: a cluster of node namespaces with real Open vSwitch (userspace datapath), the
//! controller and an agent per node; pods reach each other, their hosts and the outside world
//! through the flows the controller pushed, and the controller keeps them true.

use std::time::{Duration, Instant};

use switchyard_tests::cluster::{Lab, PATIENCE};
use switchyard_tests::{ovs_available, wait_for, Netns};

fn assert_reaches(lab: &Lab, from: &Netns, what: &str, ip: std::net::Ipv4Addr) {
    assert!(
        Lab::reaches(from, ip),
        "{} cannot reach {what} {ip}\n{}",
        from.name,
        lab.flows(0, &[])
    );
}

#[test]
fn pods_hosts_and_outside_reach_each_other_through_the_pipeline() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(3);
    let mut pods = Vec::new();
    for node in 0..3 {
        for i in 0..2 {
            let (name, ip) = lab.add_pod(&format!("p{node}{i}"), node);
            pods.push((name, ip, node));
        }
    }
    // Every ordered pod pair.
    for (a, _, _) in &pods {
        let ns = lab.pod_netns(a);
        for (b, ip, _) in &pods {
            if a != b {
                assert_reaches(&lab, &ns, &format!("pod {b}"), *ip);
            }
        }
    }
    // TCP across nodes: a listener in the last pod, a client on node 1.
    let server = lab.pod_netns(&pods[5].0);
    let mut listener = server
        .cmd(&["nc", "-l", "-p", "8080"])
        .spawn()
        .expect("nc -l");
    let client = lab.pod_netns(&pods[0].0);
    let target = pods[5].1.to_string();
    wait_for("a TCP connection across nodes", PATIENCE, || {
        client
            .ok(&[
                "sh",
                "-c",
                &format!("echo hello | nc -w 2 -N {target} 8080"),
            ])
            .then_some(())
    });
    let _ = listener.kill();
    let _ = listener.wait();
    // Each node's host reaches every pod through yard0.
    for node in &lab.nodes {
        for (name, ip, _) in &pods {
            assert_reaches(
                &lab,
                &node.netns,
                &format!("pod {name} from host {}", node.name),
                *ip,
            );
        }
    }
    // Egress: the outside namespace has no route to the pod network; an answer proves the
    // node masqueraded.
    assert_reaches(
        &lab,
        &lab.pod_netns(&pods[2].0),
        "the outside world",
        switchyard_tests::cluster::EXTERNAL_IP,
    );

    // `yardctl flows --owner POD` shows exactly the pod's flows, with table names and owner.
    let own = lab.flows(0, &["--owner", &pods[0].0]);
    let own_lines: Vec<&str> = own.lines().filter(|l| l.contains(&pods[0].0)).collect();
    assert_eq!(own_lines.len(), 8, "a pod owns 8 flows on its node:\n{own}");
    assert!(
        own.contains("l2-forward") && own.contains("port-security"),
        "{own}"
    );
    // Nothing on br-int floods or learns.
    let all = lab.nodes[0].ofctl(&["dump-flows", "br-int"]);
    assert!(
        !all.contains("NORMAL") && !all.contains("FLOOD") && !all.contains("ALL"),
        "{all}"
    );
}

#[test]
fn spoofed_pods_get_nothing_through_and_unknown_arp_is_not_flooded() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(2);
    let (a, _) = lab.add_pod("a", 0);
    let (b, b_ip) = lab.add_pod("b", 0);
    let (_, c_ip) = lab.add_pod("c", 1);
    let a_ns = lab.pod_netns(&a);
    assert_reaches(&lab, &a_ns, "pod c", c_ip);
    assert_reaches(&lab, &lab.pod_netns(&b), "pod c", c_ip);

    // a takes b's address: nothing gets through.
    let a_ip = a_ns.run(&["ip", "-4", "-o", "addr", "show", "eth0"]);
    let a_cidr = a_ip.split_whitespace().nth(3).expect("address").to_owned();
    a_ns.run(&["ip", "addr", "del", &a_cidr, "dev", "eth0"]);
    a_ns.run(&["ip", "addr", "add", &format!("{b_ip}/24"), "dev", "eth0"]);
    a_ns.run(&[
        "ip",
        "route",
        "replace",
        "default",
        "via",
        &lab_gateway(&a_cidr),
        "dev",
        "eth0",
    ]);
    for _ in 0..3 {
        assert!(
            !Lab::ping_once(&a_ns, c_ip),
            "a pod sending with another pod's IP got through"
        );
    }
    // Same with b's MAC and own IP restored.
    a_ns.run(&["ip", "addr", "flush", "dev", "eth0"]);
    a_ns.run(&["ip", "addr", "add", &a_cidr, "dev", "eth0"]);
    a_ns.run(&[
        "ip",
        "route",
        "replace",
        "default",
        "via",
        &lab_gateway(&a_cidr),
        "dev",
        "eth0",
    ]);
    let b_mac = lab
        .pod_netns(&b)
        .run(&["cat", "/sys/class/net/eth0/address"]);
    a_ns.run(&["ip", "link", "set", "eth0", "address", b_mac.trim()]);
    a_ns.run(&["ip", "neigh", "flush", "dev", "eth0"]);
    for _ in 0..3 {
        assert!(
            !Lab::ping_once(&a_ns, c_ip),
            "a pod sending with another pod's MAC got through"
        );
    }

    // An ARP for an address nobody has is dropped (and counted) by the ARP responder's miss
    // rule; no flow anywhere floods it to other pods.
    let b_ns = lab.pod_netns(&b);
    let before = drops(&lab, 20);
    let _ = b_ns.ok(&["ping", "-c", "2", "-W", "1", "10.244.1.250"]);
    wait_for(
        "the ARP responder's miss rule to count the unknown ARP",
        PATIENCE,
        || (drops(&lab, 20) > before).then_some(()),
    );
}

fn lab_gateway(cidr: &str) -> String {
    let ip: std::net::Ipv4Addr = cidr.split('/').next().expect("ip").parse().expect("ip");
    let o = ip.octets();
    format!("{}.{}.{}.1", o[0], o[1], o[2])
}

/// Packets dropped by table `table`'s miss rule on node 0's br-int.
fn drops(lab: &Lab, table: u8) -> u64 {
    let out = lab.nodes[0].ofctl(&["dump-flows", "br-int", &format!("table={table}")]);
    let miss = out
        .lines()
        .find(|l| l.contains("priority=0 actions=drop"))
        .unwrap_or_default();
    miss.split("n_packets=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The smallest `duration=` of our flows on a bridge, in seconds.
fn youngest_flow(lab: &Lab, node: usize, bridge: &str) -> f64 {
    lab.nodes[node]
        .ofctl(&[
            "dump-flows",
            bridge,
            "cookie=0x5359000000000000/0xffff000000000000",
        ])
        .lines()
        .filter_map(|l| {
            l.split("duration=")
                .nth(1)?
                .split('s')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(f64::MAX, f64::min)
}

#[test]
fn controller_restart_sends_nothing_and_drift_is_repaired() {
    if !ovs_available() {
        return;
    }
    let mut lab = Lab::cluster(2);
    let (a, _) = lab.add_pod("a", 0);
    let (_, b_ip) = lab.add_pod("b", 1);
    let a_ns = lab.pod_netns(&a);
    assert_reaches(&lab, &a_ns, "pod b", b_ip);

    // A continuous ping across nodes while the controller is down and comes back.
    let ping = a_ns
        .cmd(&[
            "ping",
            "-i",
            "0.2",
            "-c",
            "60",
            "-W",
            "1",
            &b_ip.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ping");
    std::thread::sleep(Duration::from_secs(2));
    let restarted = Instant::now();
    lab.kill("controller");
    std::thread::sleep(Duration::from_secs(2));
    lab.start_controller();
    lab.wait_nodes_ready();
    // Give the reconcilers time to read back and compare (an audit runs too).
    std::thread::sleep(Duration::from_secs(3));
    let out = ping.wait_with_output().expect("ping");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" 0% packet loss"),
        "packets were lost across the restart:\n{summary}"
    );
    let since = restarted.elapsed().as_secs_f64();
    for node in 0..2 {
        for bridge in ["br-int", "br-ex"] {
            let youngest = youngest_flow(&lab, node, bridge);
            assert!(youngest >= since - 1.0, "node {node} {bridge}: a flow was re-added after the restart (youngest {youngest} s, restart {since} s ago)");
        }
    }
    assert!(
        !lab.log("controller").contains("flows updated"),
        "the restarted controller sent flow-mods:\n{}",
        lab.log("controller")
    );

    // Drift: a table deleted by hand, and the tunnel port deleted by hand, are repaired; a
    // per-peer tunnel port an earlier release made (`gnv-<node>`) is removed.
    lab.nodes[0].ofctl(&["del-flows", "br-int", "table=50"]);
    lab.nodes[0].ovs.vsctl(&["del-port", "br-int", "yard-gnv"]);
    lab.nodes[0].ovs.vsctl(&[
        "add-port",
        "br-int",
        "gnv-n2",
        "--",
        "set",
        "interface",
        "gnv-n2",
        "type=geneve",
        "options:remote_ip=192.0.2.1",
        "options:key=flow",
    ]);
    wait_for("l3-forward on n1 to be repaired", PATIENCE, || {
        lab.nodes[0]
            .ofctl(&["dump-flows", "br-int", "table=50"])
            .contains("10.244.2.0/24")
            .then_some(())
    });
    wait_for(
        "yard-gnv on n1 to be recreated and gnv-n2 removed",
        PATIENCE,
        || {
            let ports = lab.nodes[0].ovs.vsctl(&["list-ports", "br-int"]);
            (ports.contains("yard-gnv") && !ports.contains("gnv-n2")).then_some(())
        },
    );
    assert_reaches(&lab, &a_ns, "pod b after repair", b_ip);
}

#[test]
fn removing_pods_and_nodes_removes_their_flows_and_routes() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(3);
    let (a, a_ip) = lab.add_pod("a", 0);
    let (_, c_ip) = lab.add_pod("c", 2);
    assert_reaches(&lab, &lab.pod_netns(&a), "pod c", c_ip);
    let flows_n2_before = lab.nodes[1]
        .ofctl(&["dump-flows", "br-int"])
        .lines()
        .count();

    lab.yardctl_ok(&["pod", "remove", &a]);
    wait_for("pod a's flows to leave n1", PATIENCE, || {
        (!lab.nodes[0]
            .ofctl(&["dump-flows", "br-int"])
            .contains(&a_ip.to_string()))
        .then_some(())
    });
    assert_eq!(
        lab.nodes[1]
            .ofctl(&["dump-flows", "br-int"])
            .lines()
            .count(),
        flows_n2_before,
        "n2 changed for a pod of n1"
    );

    lab.yardctl_ok(&["node", "remove", "n3", "--force"]);
    for node in &lab.nodes[..2] {
        wait_for(
            &format!("{}'s route to n3 to go", node.name),
            PATIENCE,
            || {
                let flows = node.ofctl(&["dump-flows", "br-int"]);
                (!flows.contains("10.244.3.0/24") && !flows.contains("192.168.56.13")).then_some(())
            },
        );
    }
}

#[test]
fn adding_a_pod_costs_the_same_with_many_pods() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(2);
    // Many pods on n1, added at once, then waited for together.
    let names: Vec<String> = (0..60).map(|i| lab.pod_name(&format!("m{i}"))).collect();
    for n in &names {
        lab.yardctl_ok(&["pod", "add", n, "--node", "n1"]);
    }
    wait_for("60 pods wired", PATIENCE * 2, || {
        let out = lab.yardctl_ok(&["pod", "list", "--node", "n1", "--json"]);
        (out.matches("\"wired\"").count() >= names.len()).then_some(())
    });
    // Every pod's delivery rule is in (table 60 also has yard0's and the miss rule), and the
    // controller has finished pushing: no flow update for a second.
    wait_for("n1's flows for 60 pods", PATIENCE, || {
        let dump = lab.nodes[0].ofctl(&["dump-flows", "br-int", "table=60"]);
        let pods = dump
            .lines()
            .filter(|l| l.contains("dl_dst=") && !l.contains("dl_dst=0a:58:0a:f4:01:02"))
            .count();
        (pods >= names.len()).then_some(())
    });
    wait_for("the controller to be idle", PATIENCE, || {
        let before = lab.log("controller").matches("flows updated").count();
        std::thread::sleep(Duration::from_secs(1));
        (lab.log("controller").matches("flows updated").count() == before).then_some(())
    });
    let log_before = lab.log("controller").len();
    let (_, ip) = lab.add_pod("last", 0);
    wait_for("the last pod's flows", PATIENCE, || {
        lab.nodes[0]
            .ofctl(&["dump-flows", "br-int", "table=60"])
            .contains(&switchyard_api_mac(ip))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let log = lab.log("controller");
    let new: Vec<&str> = log[log_before..]
        .lines()
        .filter(|l| l.contains("flows updated"))
        .collect();
    assert!(
        !new.is_empty(),
        "no flow update logged:\n{}",
        &log[log_before..]
    );
    for line in &new {
        assert!(
            line.contains("node=n1"),
            "a pod of n1 changed another node's flows: {line}"
        );
        assert!(
            line.contains("removed=0") && line.contains("changed=0"),
            "{line}"
        );
    }
    let added: usize = new
        .iter()
        .filter_map(|l| {
            l.split("added=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(
        added,
        8,
        "the 61st pod cost {added} flow-mods:\n{}",
        new.join("\n")
    );
}

/// The MAC Switchyard derives from a pod IP (`0a:58:` + the IP's bytes), as ovs-ofctl prints it.
fn switchyard_api_mac(ip: std::net::Ipv4Addr) -> String {
    let o = ip.octets();
    format!("0a:58:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}
