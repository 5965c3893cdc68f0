//! Datapath throughput (a table, not a test): `cargo bench -p switchyard-tests --bench
//! throughput` as root. One TCP stream for 5 s, three interleaved rounds each:
//! - pod on n1 → pod on n2 through Switchyard (br-int pipeline, Geneve, the other br-int);
//! - two namespaces on one userspace-datapath bridge that only does `NORMAL` (the floor the
//!   same datapath sets without tunnels or a pipeline).
//!
//! Besides Gbit/s it reports ovs-vswitchd CPU seconds per GB moved, which the noisy shared
//! machine disturbs less than raw throughput.
//!
//! The binary runs itself as the sink (`sink PORT`) and the sender (`blast ADDR SECS`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_tests::cluster::Lab;
use switchyard_tests::{ovs_available, run, unique_name, wait_for, Netns, Ovs};

const SECS: u64 = 5;
const ROUNDS: usize = 3;

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

/// One round: bytes/s and vswitchd CPU-seconds per GB.
fn round(from: &Netns, to_addr: &str, vswitchds: &[i32]) -> (f64, f64) {
    let exe = std::env::current_exe().expect("exe");
    let cpu0: f64 = vswitchds.iter().map(|p| cpu_secs(*p)).sum();
    let out = from
        .cmd(&[
            exe.to_str().expect("path"),
            "blast",
            to_addr,
            &SECS.to_string(),
        ])
        .output()
        .expect("blast");
    let cpu1: f64 = vswitchds.iter().map(|p| cpu_secs(*p)).sum();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    let (bytes, secs) = (it.next().unwrap_or(0.0), it.next().unwrap_or(1.0));
    (bytes / secs, (cpu1 - cpu0) / (bytes / 1e9).max(1e-9))
}

fn plug(sw: &Netns, ovs: &Ovs, ns: &Netns, port: &str, ip: &str) {
    let tmp = unique_name("tp");
    run(Command::new("ip").args([
        "link", "add", &tmp, "netns", &ns.name, "type", "veth", "peer", "name", port, "netns",
        &sw.name,
    ]));
    ns.run(&["ip", "link", "set", &tmp, "name", "eth0"]);
    ns.run(&["ip", "link", "set", "eth0", "mtu", "1400", "up"]);
    ns.run(&["ip", "addr", "add", ip, "dev", "eth0"]);
    ns.run(&["ethtool", "-K", "eth0", "tx", "off"]);
    sw.run(&["ethtool", "-K", port, "tx", "off"]);
    sw.run(&["ip", "link", "set", port, "up"]);
    ovs.vsctl(&["add-port", "br0", port]);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let exe = std::env::current_exe().expect("exe");
    let exe = exe.to_str().expect("path");

    let lab = Lab::cluster(2);
    let (a, _) = lab.add_pod("a", 0);
    let (b, b_ip) = lab.add_pod("b", 1);
    let mut sink1 = lab
        .pod_netns(&b)
        .cmd(&[exe, "sink", "5001"])
        .stdout(Stdio::null())
        .spawn()
        .expect("sink");
    let a_ns = lab.pod_netns(&a);
    let yard_addr = format!("{b_ip}:5001");
    wait_for("the sink across nodes", Duration::from_secs(60), || {
        a_ns.ok(&["sh", "-c", &format!("echo | socat -T 1 - TCP:{yard_addr}")])
            .then_some(())
    });
    let yard_pids: Vec<i32> = lab
        .nodes
        .iter()
        .filter_map(|n| n.ovs.pid("ovs-vswitchd"))
        .collect();

    let sw = Netns::new(unique_name("tsw"));
    let (c, d) = (Netns::new(unique_name("tc")), Netns::new(unique_name("td")));
    let ovs = Ovs::in_netns(&sw, &[]);
    ovs.add_bridge("br0");
    plug(&sw, &ovs, &c, "tpc", "10.99.0.1/24");
    plug(&sw, &ovs, &d, "tpd", "10.99.0.2/24");
    let mut sink2 = d
        .cmd(&[exe, "sink", "5001"])
        .stdout(Stdio::null())
        .spawn()
        .expect("sink");
    wait_for(
        "the sink on the NORMAL bridge",
        Duration::from_secs(30),
        || {
            c.ok(&["sh", "-c", "echo | socat -T 1 - TCP:10.99.0.2:5001"])
                .then_some(())
        },
    );
    let normal_pids: Vec<i32> = ovs.pid("ovs-vswitchd").into_iter().collect();

    let (mut yard, mut normal) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        yard.push(round(&a_ns, &yard_addr, &yard_pids));
        normal.push(round(&c, "10.99.0.2:5001", &normal_pids));
    }
    let _ = sink1.kill();
    let _ = sink1.wait();
    let _ = sink2.kill();
    let _ = sink2.wait();
    println!("| path (one TCP stream, {SECS} s, median of {ROUNDS}) | Gbit/s | ovs-vswitchd CPU-s per GB |");
    println!("|---|---|---|");
    for (name, r) in [
        ("pod on n1 → pod on n2 (Switchyard, Geneve)", &yard),
        ("two namespaces on one NORMAL bridge", &normal),
    ] {
        let gbps = median(r.iter().map(|x| x.0 * 8.0 / 1e9).collect());
        let cpu = median(r.iter().map(|x| x.1).collect());
        println!("| {name} | {gbps:.2} | {cpu:.2} |");
    }
}
