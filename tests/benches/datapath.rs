//! The datapath's cost against a plain bridge (a table, not a test): `cargo bench -p
//! switchyard-tests --bench datapath [-- ROUNDS [SECS]]` as root (default 10 rounds of 5 s).
//!
//! One lab of 2 nodes holds both paths with the same wiring: the same node namespaces, the
//! same ovs-vswitchd per node (userspace datapath), the same underlay through br-ex, pods
//! made the same way (veth, MTU 1400, tx checksum offload off):
//! - **Switchyard**: pod on n1 → pod on n2 through br-int's pipeline and `yard-gnv`;
//! - **plain**: on each node a second bridge `br-plain` with one `NORMAL` flow and a Geneve
//!   port (`key=flow`, `csum=true`, another UDP port), and a namespace on it, one L2 segment.
//!
//! Each round runs one TCP stream through each path, back to back, the order alternating, and
//! records the machine's CPU steal during it; the table pairs the rounds and gives the median
//! (and range) of the per-round ratios of throughput and of ovs-vswitchd CPU-seconds per GB
//! (both nodes' daemons), which the noisy shared machine disturbs less than raw numbers.
//!
//! The binary runs itself as the sink (`sink PORT`) and the sender (`blast ADDR SECS`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_tests::cluster::{Lab, LabNode};
use switchyard_tests::{ovs_available, run, unique_name, wait_for, Children, Netns};

fn sink(port: u16) {
    let listener = TcpListener::bind(("0.0.0.0", port)).expect("bind");
    let mut buf = vec![0u8; 1 << 16];
    for conn in listener.incoming().flatten() {
        let mut conn = conn;
        while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
    }
}

fn blast(addr: &str, secs: u64) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let buf = vec![7u8; 1 << 16];
    let (start, mut sent) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs(secs) {
        match s.write(&buf) {
            Ok(n) => sent += n as u64,
            Err(_) => break,
        }
    }
    println!("{sent} {}", start.elapsed().as_secs_f64());
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

/// (steal, total) jiffies of all CPUs, from /proc/stat.
fn steal_and_total() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.get(7).copied().unwrap_or(0.0), v.iter().take(8).sum())
}

/// One stream's result.
#[derive(Clone, Copy)]
struct Round {
    bytes_per_s: f64,
    cpu_per_gb: f64,
    steal: f64,
}

/// One stream from `from` to `to_addr`: bytes/s, vswitchd CPU-seconds per GB, steal share.
fn round(from: &Netns, to_addr: &str, vswitchds: &[i32], secs: u64) -> Round {
    let exe = std::env::current_exe().expect("exe");
    let cpu0: f64 = vswitchds.iter().map(|p| cpu_secs(*p)).sum();
    let (s0, t0) = steal_and_total();
    let out = from
        .cmd(&[
            exe.to_str().expect("path"),
            "blast",
            to_addr,
            &secs.to_string(),
        ])
        .output()
        .expect("blast");
    let (s1, t1) = steal_and_total();
    let cpu1: f64 = vswitchds.iter().map(|p| cpu_secs(*p)).sum();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    let (bytes, secs) = (it.next().unwrap_or(0.0), it.next().unwrap_or(1.0));
    Round {
        bytes_per_s: bytes / secs,
        cpu_per_gb: (cpu1 - cpu0) / (bytes / 1e9).max(1e-9),
        steal: (s1 - s0) / (t1 - t0).max(1.0),
    }
}

/// A namespace on `node`'s `br-plain`, wired as the agent wires a pod: a veth, MTU 1400, tx
/// checksum offload off on both ends.
fn plain_pod(node: &LabNode, ip: &str) -> Netns {
    let ns = Netns::new(unique_name("tpl"));
    let (tmp, port) = (unique_name("tp"), unique_name("pl"));
    run(Command::new("ip").args([
        "link",
        "add",
        &tmp,
        "netns",
        &ns.name,
        "type",
        "veth",
        "peer",
        "name",
        &port,
        "netns",
        &node.netns.name,
    ]));
    ns.run(&["ip", "link", "set", &tmp, "name", "eth0"]);
    ns.run(&["ip", "link", "set", "eth0", "mtu", "1400", "up"]);
    ns.run(&["ip", "link", "set", "lo", "up"]);
    ns.run(&["ip", "addr", "add", ip, "dev", "eth0"]);
    ns.run(&["ethtool", "-K", "eth0", "tx", "off"]);
    node.netns
        .run(&["ip", "link", "set", &port, "mtu", "1400", "up"]);
    node.netns.run(&["ethtool", "-K", &port, "tx", "off"]);
    node.ovs.vsctl(&["add-port", "br-plain", &port]);
    ns
}

/// `br-plain` on `node`: one `NORMAL` flow and a Geneve port to `peer`.
fn plain_bridge(node: &LabNode, peer: &LabNode) {
    node.ovs.add_bridge("br-plain");
    node.ovs.vsctl(&[
        "add-port",
        "br-plain",
        "plain-gnv",
        "--",
        "set",
        "interface",
        "plain-gnv",
        "type=geneve",
        &format!("options:remote_ip={}", peer.ip),
        "options:key=flow",
        "options:csum=true",
        "options:dst_port=6082",
    ]);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sink") => return sink(args[2].parse().expect("port")),
        Some("blast") => return blast(&args[2], args[3].parse().expect("secs")),
        _ => {}
    }
    if !ovs_available() {
        return;
    }
    let numbers: Vec<u64> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let rounds = numbers.first().copied().unwrap_or(10) as usize;
    let secs = numbers.get(1).copied().unwrap_or(5);
    let exe = std::env::current_exe().expect("exe");
    let exe = exe.to_str().expect("path");

    let lab = Lab::cluster(2);
    let (a, _) = lab.add_pod("a", 0);
    let (b, b_ip) = lab.add_pod("b", 1);
    let a_ns = lab.pod_netns(&a);
    plain_bridge(&lab.nodes[0], &lab.nodes[1]);
    plain_bridge(&lab.nodes[1], &lab.nodes[0]);
    let c = plain_pod(&lab.nodes[0], "10.99.0.1/24");
    let d = plain_pod(&lab.nodes[1], "10.99.0.2/24");
    let _sinks = Children(
        [lab.pod_netns(&b), Netns::existing(d.name.clone())]
            .iter()
            .map(|ns| {
                ns.cmd(&[exe, "sink", "5001"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("sink")
            })
            .collect(),
    );
    let paths = [
        ("Switchyard", &a_ns, format!("{b_ip}:5001")),
        ("plain", &c, "10.99.0.2:5001".to_owned()),
    ];
    for (name, from, addr) in &paths {
        wait_for(&format!("the {name} sink"), Duration::from_secs(60), || {
            from.ok(&["sh", "-c", &format!("echo | socat -T 1 - TCP:{addr}")])
                .then_some(())
        });
    }
    let pids: Vec<i32> = lab
        .nodes
        .iter()
        .filter_map(|n| n.ovs.pid("ovs-vswitchd"))
        .collect();

    let mut pairs: Vec<(Round, Round)> = Vec::new();
    for r in 0..rounds {
        let mut yard_plain = [None, None];
        let order: [usize; 2] = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (_, from, addr) = &paths[i];
            yard_plain[i] = Some(round(from, addr, &pids, secs));
        }
        let (y, p) = (yard_plain[0].expect("ran"), yard_plain[1].expect("ran"));
        eprintln!(
            "round {}/{rounds}: Switchyard {:.2} Gbit/s {:.2} CPU-s/GB, plain {:.2} Gbit/s {:.2} CPU-s/GB, steal {:.1}%",
            r + 1,
            y.bytes_per_s * 8e-9,
            y.cpu_per_gb,
            p.bytes_per_s * 8e-9,
            p.cpu_per_gb,
            (y.steal + p.steal) * 50.0
        );
        pairs.push((y, p));
    }

    println!("| round | Switchyard Gbit/s | plain Gbit/s | ratio | Switchyard CPU-s/GB | plain CPU-s/GB | ratio | steal % |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (y, p)) in pairs.iter().enumerate() {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
            i + 1,
            y.bytes_per_s * 8e-9,
            p.bytes_per_s * 8e-9,
            y.bytes_per_s / p.bytes_per_s.max(1.0),
            y.cpu_per_gb,
            p.cpu_per_gb,
            y.cpu_per_gb / p.cpu_per_gb.max(1e-9),
            (y.steal + p.steal) * 50.0
        );
    }
    let tput: Vec<f64> = pairs
        .iter()
        .map(|(y, p)| y.bytes_per_s / p.bytes_per_s.max(1.0))
        .collect();
    let cpu: Vec<f64> = pairs
        .iter()
        .map(|(y, p)| y.cpu_per_gb / p.cpu_per_gb.max(1e-9))
        .collect();
    println!();
    println!(
        "| Switchyard vs plain, {rounds} rounds of {secs} s | median of per-round ratios | range |"
    );
    println!("|---|---|---|");
    for (what, v) in [("throughput", &tput), ("ovs-vswitchd CPU-s per GB", &cpu)] {
        let (lo, hi) = range(v);
        println!("| {what} | {:.3} | {lo:.2}–{hi:.2} |", median(v.clone()));
    }
}
