//! A service with 5 000 backends on a real switch: the controller's group tree installed by
//! our codec in one bundle, and TCP connections through it reaching many different backends.
//!
//! The switch runs in its own namespace between a client namespace and a server namespace
//! that holds all 5 000 backend addresses; a small flow table (conntrack, the service flow,
//! delivery) stands in for the rest of the pipeline.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use controller::conn::of::open_unix;
use controller::flows::service::groups;
use controller::model::ServiceSpec;
use openflow::{Flow, FlowModCommand, GroupModCommand, Message};
use switchyard_api::{Backend, Protocol, ServiceId, ServiceType};
use switchyard_tests::{ovs_available, run, unique_name, wait_for, Netns, Ovs};

const BACKENDS: usize = 5000;
const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const CLIENT_MAC: &str = "0a:58:0a:fa:00:02";
const SERVER_MAC: &str = "0a:58:0a:fb:00:01";
const GATEWAY_MAC: &str = "0a:58:0a:fa:00:01";

fn backend_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 251, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// A veth from `ns` (eth0, `mac`) to the switch namespace (`port`), added to br0.
fn plug(sw: &Netns, ovs: &Ovs, ns: &Netns, port: &str, mac: &str) {
    let tmp = unique_name("ls");
    run(Command::new("ip").args([
        "link", "add", &tmp, "netns", &ns.name, "type", "veth", "peer", "name", port, "netns",
        &sw.name,
    ]));
    ns.run(&["ip", "link", "set", &tmp, "name", "eth0"]);
    ns.run(&["ip", "link", "set", "eth0", "address", mac, "up"]);
    ns.run(&["ethtool", "-K", "eth0", "tx", "off"]);
    sw.run(&["ethtool", "-K", port, "tx", "off"]);
    sw.run(&["ip", "link", "set", port, "up"]);
    ovs.vsctl(&["add-port", "br0", port]);
}

#[test]
fn five_thousand_backends_take_traffic_through_a_group_tree() {
    if !ovs_available() {
        return;
    }
    let sw = Netns::new(unique_name("lsw"));
    let client = Netns::new(unique_name("lsc"));
    let server = Netns::new(unique_name("lss"));
    let ovs = Ovs::in_netns(&sw, &[]);
    ovs.add_bridge("br0");
    ovs.vsctl(&[
        "set",
        "bridge",
        "br0",
        "fail_mode=secure",
        "protocols=OpenFlow13",
    ]);
    plug(&sw, &ovs, &client, "cli", CLIENT_MAC);
    plug(&sw, &ovs, &server, "srv", SERVER_MAC);
    let port_of = |p: &str| {
        ovs.vsctl(&["get", "interface", p, "ofport"])
            .trim()
            .to_owned()
    };
    let (cli, srv) = (port_of("cli"), port_of("srv"));

    client.run(&["ip", "addr", "add", "10.250.0.2/16", "dev", "eth0"]);
    client.run(&[
        "ip",
        "route",
        "add",
        "10.96.0.0/16",
        "via",
        "10.250.0.1",
        "dev",
        "eth0",
    ]);
    client.run(&[
        "ip",
        "neigh",
        "replace",
        "10.250.0.1",
        "lladdr",
        GATEWAY_MAC,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    let mut batch = String::new();
    for i in 0..BACKENDS {
        batch.push_str(&format!("addr add {}/32 dev eth0\n", backend_ip(i)));
    }
    let mut ip = server
        .cmd(&["ip", "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("ip -batch");
    std::io::Write::write_all(ip.stdin.as_mut().expect("stdin"), batch.as_bytes()).expect("write");
    assert!(
        ip.wait().expect("ip").success(),
        "adding the backend addresses failed"
    );
    server.run(&["ip", "route", "add", "10.250.0.0/16", "dev", "eth0"]);
    server.run(&[
        "ip",
        "neigh",
        "replace",
        "10.250.0.2",
        "lladdr",
        CLIENT_MAC,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    let mut responder = server
        .cmd(&[
            "socat",
            "TCP-LISTEN:8080,fork,reuseaddr",
            "SYSTEM:echo $SOCAT_SOCKADDR",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("socat");

    let svc = ServiceSpec {
        name: "big".parse().expect("name"),
        id: ServiceId(42),
        protocol: Protocol::Tcp,
        service_type: ServiceType::ClusterIp,
        port: 80,
        target_port: 8080,
        cluster_ip: VIP,
        node_port: None,
        backends: Default::default(),
    };
    let backends: Vec<Backend> = (0..BACKENDS)
        .map(|i| Backend {
            pod: format!("b{i}").parse().expect("name"),
            node: "n1".parse().expect("name"),
            ip: backend_ip(i),
            port: 8080,
        })
        .collect();
    let mut msgs: Vec<Message> = groups(&svc, &backends)
        .iter()
        .map(|g| Message::GroupMod(g.to_group_mod(GroupModCommand::Add)))
        .collect();
    let n_groups = msgs.len();
    let top = svc.id.get() << 12;
    for text in [
        "table=0,priority=10,tcp actions=ct(table=1,zone=1,nat)".to_owned(),
        format!("table=1,priority=20,ct_state=+new+trk,tcp,nw_dst={VIP},tp_dst=80 actions=group:{top}"),
        format!("table=1,priority=10,ct_state=+est+trk,in_port={cli} actions=set_field:{SERVER_MAC}->eth_dst,output:{srv}"),
        format!("table=1,priority=10,ct_state=+est+trk,in_port={srv} actions=set_field:{CLIENT_MAC}->eth_dst,output:{cli}"),
        format!("table=45,priority=10,ip actions=set_field:{SERVER_MAC}->eth_dst,output:{srv}"),
    ] {
        msgs.push(Message::FlowMod(text.parse::<Flow>().expect("flow").to_flow_mod(FlowModCommand::Add)));
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let switch = open_unix(&ovs.mgmt_sock("br0")).await.expect("open br0");
        switch
            .bundle(msgs)
            .await
            .expect("the switch takes the whole tree in one bundle");
    });
    let dump = ovs.ofctl(&["dump-groups", "br0"]);
    assert_eq!(
        dump.lines().filter(|l| l.contains("group_id=")).count(),
        n_groups,
        "groups installed"
    );
    assert_eq!(
        dump.matches("nat(dst=").count(),
        BACKENDS,
        "every backend has its bucket"
    );

    // 60 connections from different source ports: every one is answered, by many backends.
    let mut seen = BTreeSet::new();
    for i in 0..60 {
        let answer = wait_for(
            &format!("connection {i} through the service"),
            std::time::Duration::from_secs(30),
            || {
                let out = client
                    .cmd(&[
                        "socat",
                        "-T",
                        "3",
                        "-u",
                        &format!("TCP:{VIP}:80,connect-timeout=3"),
                        "-",
                    ])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                (!text.is_empty()).then_some(text)
            },
        );
        let ip: Ipv4Addr = answer
            .parse()
            .unwrap_or_else(|_| panic!("unexpected answer {answer:?}"));
        assert!(
            (0..BACKENDS).any(|i| backend_ip(i) == ip),
            "{ip} is not a backend"
        );
        seen.insert(ip);
    }
    assert!(
        seen.len() >= 30,
        "60 connections reached only {} backends: {seen:?}",
        seen.len()
    );
    let _ = responder.kill();
    let _ = responder.wait();
}
