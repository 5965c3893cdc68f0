//! Service benchmark (a table, not a test): `cargo bench -p switchyard-tests --bench nodeport`
//! as root. On a 2-node lab cluster with one backend pod on n2, one client program counts TCP
//! connections (connect, read the answer, close) for 10 s each:
//! - from the outside namespace to n1's NodePort (DNAT + SNAT, across the tunnel);
//! - from a pod on n1 to the service's ClusterIP (DNAT, across the tunnel);
//! - from another pod on n1 to the backend's pod IP directly (no NAT): the baseline.
//!
//! The binary runs itself as the server (`serve PORT`) and the client (`client ADDR SECS`)
//! inside the namespaces.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use switchyard_tests::cluster::Lab;
use switchyard_tests::{ovs_available, wait_for, Netns};

const SECS: u64 = 10;

fn serve(port: u16) {
    let listener = TcpListener::bind(("0.0.0.0", port)).expect("bind");
    for conn in listener.incoming().flatten() {
        let mut conn = conn;
        let _ = conn.write_all(b"ok\n");
    }
}

fn client(addr: &str, secs: u64) {
    let (start, mut ok, mut failed) = (Instant::now(), 0u64, 0u64);
    while start.elapsed() < Duration::from_secs(secs) {
        let done = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(1))
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(1)))?;
                let mut buf = [0u8; 3];
                s.read_exact(&mut buf)
            });
        if done.is_ok() {
            ok += 1
        } else {
            failed += 1
        }
    }
    println!("{ok} {failed}");
}

fn run_client(ns: &Netns, addr: &str) -> (f64, u64) {
    let exe = std::env::current_exe().expect("exe");
    let out = ns
        .cmd(&[
            exe.to_str().expect("path"),
            "client",
            addr,
            &SECS.to_string(),
        ])
        .output()
        .expect("client");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (ok, failed) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (ok as f64 / SECS as f64, failed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => return serve(args[2].parse().expect("port")),
        Some("client") => return client(&args[2], args[3].parse().expect("secs")),
        _ => {}
    }
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(2);
    let (web, web_ip) = lab.add_pod("web", 1);
    // One client pod per path: connections of one path leave TIME_WAIT sockets and conntrack
    // entries whose 4-tuples a reused client port of another path would run into.
    let (cl, _) = lab.add_pod("client", 0);
    let (cl2, _) = lab.add_pod("client2", 0);
    let exe = std::env::current_exe().expect("exe");
    let mut server = lab
        .pod_netns(&web)
        .cmd(&[exe.to_str().expect("path"), "serve", "8080"])
        .stdout(Stdio::null())
        .spawn()
        .expect("server");
    lab.yardctl_ok(&[
        "service",
        "add",
        "web",
        "--port",
        "80",
        "--target-port",
        "8080",
        "--nodeport",
        "30090",
        "--pod",
        &web,
    ]);
    let vip = lab.cluster_ip("web");
    let node_port = format!("{}:30090", lab.nodes[0].ip);
    let cluster_ip = format!("{vip}:80");
    let direct = format!("{web_ip}:8080");
    let client_ns = lab.pod_netns(&cl);
    let direct_ns = lab.pod_netns(&cl2);
    for (ns, addr) in [
        (&lab.ext, &node_port),
        (&client_ns, &cluster_ip),
        (&direct_ns, &direct),
    ] {
        wait_for(
            &format!("{addr} to answer"),
            Duration::from_secs(60),
            || {
                ns.ok(&["sh", "-c", &format!("echo | socat -T 2 - TCP:{addr}")])
                    .then_some(())
            },
        );
    }
    let di = run_client(&direct_ns, &direct);
    let ci = run_client(&client_ns, &cluster_ip);
    let np = run_client(&lab.ext, &node_port);
    let _ = server.kill();
    let _ = server.wait();
    println!("| path ({SECS} s each, one client) | connections/s | failed | vs direct |");
    println!("|---|---|---|---|");
    for (name, (rate, failed)) in [
        ("outside → NodePort on n1 → pod on n2", np),
        ("pod on n1 → ClusterIP → pod on n2", ci),
        ("another pod on n1 → pod IP on n2 (direct)", di),
    ] {
        println!(
            "| {name} | {rate:.0} | {failed} | {:.2} |",
            rate / di.0.max(1.0)
        );
    }
}
