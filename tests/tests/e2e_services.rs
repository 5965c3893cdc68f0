//! End to end: NodePort and ClusterIP services on a 3-node cluster, load balanced by the
//! switches' select groups, from outside, from pods and hosts, hairpin and UDP.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use switchyard_tests::cluster::{Lab, PATIENCE};
use switchyard_tests::{ask, ovs_available, wait_for, Children, Netns};

/// A TCP responder in `ns` on `port` that answers every connection with `name` and then
/// keeps it open for `hold` seconds; and a UDP one that answers each datagram.
fn serve(ns: &Netns, name: &str, port: u16, hold: u32) -> Vec<Child> {
    let tcp = ns
        .cmd(&[
            "socat",
            &format!("TCP-LISTEN:{port},fork,reuseaddr"),
            &format!("SYSTEM:echo {name}; sleep {hold}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat tcp");
    let udp = ns
        .cmd(&[
            "socat",
            &format!("UDP-RECVFROM:{port},fork,reuseaddr"),
            &format!("SYSTEM:echo {name}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat udp");
    vec![tcp, udp]
}

fn ask_udp(ns: &Netns, ip: &str, port: u16) -> Option<String> {
    let out = ns
        .cmd(&[
            "sh",
            "-c",
            &format!("echo hi | socat -T 2 - UDP:{ip}:{port}"),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
}

fn ask_until(ns: &Netns, ip: &str, port: u16, what: &str) -> String {
    wait_for(what, PATIENCE, || ask(ns, ip, port))
}

#[test]
fn nodeport_clusterip_hairpin_and_udp() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(3);
    let (b2, _) = lab.add_pod("web2", 1);
    let (b3, _) = lab.add_pod("web3", 2);
    let (client, _) = lab.add_pod("client", 0);
    let mut servers = Children(Vec::new());
    for b in [&b2, &b3] {
        servers.0.extend(serve(&lab.pod_netns(b), b, 8080, 0));
    }
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
        &b2,
        "--pod",
        &b3,
    ]);
    lab.yardctl_ok(&[
        "service",
        "add",
        "dns",
        "--protocol",
        "udp",
        "--port",
        "53",
        "--target-port",
        "8080",
        "--type",
        "ClusterIP",
        "--pod",
        &b3,
    ]);
    let vip = lab.cluster_ip("web");
    let dns_vip = lab.cluster_ip("dns");

    // From outside, every node's NodePort answers; over 100 connections both backends serve.
    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    for node in &lab.nodes {
        let who = ask_until(
            &lab.ext,
            &node.ip.to_string(),
            30080,
            &format!("NodePort on {}", node.name),
        );
        *served.entry(who).or_default() += 1;
    }
    for i in 0..100 {
        let node = &lab.nodes[i % 3];
        let who = ask(&lab.ext, &node.ip.to_string(), 30080).unwrap_or_else(|| {
            panic!(
                "connection {i} to {}:30080 failed\n{}",
                node.ip,
                lab.flows(i % 3, &[])
            )
        });
        *served.entry(who).or_default() += 1;
    }
    assert_eq!(
        served.keys().cloned().collect::<Vec<_>>(),
        vec![b2.clone(), b3.clone()],
        "{served:?}"
    );

    // ClusterIP from a pod and from a node's host.
    let client_ns = lab.pod_netns(&client);
    ask_until(&client_ns, &vip, 80, "ClusterIP from a pod");
    ask_until(&lab.nodes[0].netns, &vip, 80, "ClusterIP from a host");
    // Hairpin: a backend reaching its own service (it may be chosen itself).
    let b2_ns = lab.pod_netns(&b2);
    for _ in 0..10 {
        ask_until(&b2_ns, &vip, 80, "ClusterIP from a backend (hairpin)");
    }
    // UDP.
    assert_eq!(
        wait_for("UDP ClusterIP", PATIENCE, || ask_udp(
            &client_ns, &dns_vip, 53
        )),
        b3
    );

    // A service without backends drops, and its flow counts what it dropped.
    lab.yardctl_ok(&[
        "service",
        "add",
        "empty",
        "--port",
        "81",
        "--type",
        "ClusterIP",
    ]);
    let empty_vip = lab.cluster_ip("empty");
    let dropped = || {
        let flows = lab.nodes[0].ofctl(&["dump-flows", "br-int", "table=40"]);
        let line = flows
            .lines()
            .find(|l| l.contains(&format!("nw_dst={empty_vip},tp_dst=81")))?
            .to_owned();
        assert!(line.ends_with("actions=drop"), "{line}");
        line.split("n_packets=")
            .nth(1)?
            .split(',')
            .next()?
            .parse::<u64>()
            .ok()
    };
    wait_for("the empty service's flow", PATIENCE, dropped);
    assert_eq!(
        ask(&client_ns, &empty_vip, 81),
        None,
        "a service without backends answered"
    );
    assert!(
        dropped().unwrap_or(0) > 0,
        "the empty service's flow counted no drop"
    );

    // `yardctl flows --owner web` shows the service's flows and its group, nothing else.
    let own = lab.flows(0, &["--owner", "web"]);
    assert!(
        own.contains("group"),
        "the service's group is listed:\n{own}"
    );
    assert!(own.contains(&vip) && own.contains("30080"), "{own}");
    assert!(!own.contains("dns") && !own.contains(&dns_vip), "{own}");
}

#[test]
fn removing_a_backend_keeps_connections_to_the_others() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(2);
    let (a, _) = lab.add_pod("a", 0);
    let (b, _) = lab.add_pod("b", 1);
    let mut servers = Children(Vec::new());
    for p in [&a, &b] {
        servers.0.extend(serve(&lab.pod_netns(p), p, 8080, 20));
    }
    lab.yardctl_ok(&[
        "service",
        "add",
        "web",
        "--port",
        "80",
        "--target-port",
        "8080",
        "--nodeport",
        "30081",
        "--pod",
        &a,
        "--pod",
        &b,
    ]);
    let node_ip = lab.nodes[0].ip.to_string();
    wait_for("the NodePort", PATIENCE, || {
        first_line(&lab.ext, &node_ip, 30081)
    });

    // Long-lived connections until one lands on b; it stays open (the server holds 30 s).
    let (mut conn, mut first) = (None, String::new());
    for _ in 0..40 {
        let mut c = lab
            .ext
            .cmd(&[
                "socat",
                "-T",
                "30",
                "-u",
                &format!("TCP:{node_ip}:30081"),
                "-",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("socat");
        let mut out = c.stdout.take().expect("stdout");
        let line = read_line(&mut out);
        if line == b {
            conn = Some((c, out));
            first = line;
            break;
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    let (mut c, mut out) = conn.expect("no connection landed on backend b in 40 tries");
    assert_eq!(first, b);
    lab.yardctl_ok(&["service", "backends", "remove", "web", "--pod", &a]);
    std::thread::sleep(Duration::from_secs(2));
    // The connection to b is still open: the server's socket has not seen a reset, and new
    // connections all go to b.
    for _ in 0..5 {
        assert_eq!(
            wait_for("the NodePort after removal", PATIENCE, || first_line(
                &lab.ext, &node_ip, 30081
            )),
            b
        );
    }
    assert!(
        c.try_wait().expect("poll").is_none(),
        "the long-lived connection to b was closed"
    );
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut rest);
    let status = c.wait().expect("socat");
    assert!(
        status.success(),
        "the long-lived connection ended with an error ({status}): {rest}"
    );
}

/// The first line a server sends, without waiting for it to close (the servers of this
/// test hold their connections open).
fn first_line(ns: &Netns, ip: &str, port: u16) -> Option<String> {
    let mut c = ns
        .cmd(&[
            "socat",
            "-T",
            "3",
            "-u",
            &format!("TCP:{ip}:{port},connect-timeout=3"),
            "-",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = c.stdout.take()?;
    let line = read_line(&mut out);
    let _ = c.kill();
    let _ = c.wait();
    Some(line).filter(|l| !l.is_empty())
}

fn read_line(out: &mut impl std::io::Read) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while let Ok(1) = out.read(&mut byte) {
        if byte[0] == b'\n' {
            break;
        }
        buf.push(byte[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}
