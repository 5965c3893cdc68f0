//! Cluster benchmark (a table, not a test): `cargo bench -p switchyard-tests --bench cluster`
//! as root. Measures, on a 3-node lab cluster:
//! - time from `yardctl pod add` to the first answered ping from a pod on another node
//!   (median and max over 20 pods; the client keeps a permanent neighbour entry for its
//!   gateway so the kernel's ARP retry timer does not count);
//! - flows per node as pods grow, and flow-mods per pod add (from the controller's log);
//! - the controller's RSS with 3 nodes × 50 pods.

use std::time::{Duration, Instant};

use switchyard_tests::cluster::Lab;
use switchyard_tests::ovs_available;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn controller_pid() -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-n", "-x", "yard-controller"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn flows(lab: &Lab, node: usize) -> usize {
    lab.nodes[node]
        .ofctl(&["dump-flows", "br-int"])
        .lines()
        .filter(|l| l.contains("cookie="))
        .count()
}

fn main() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::cluster(3);
    let (probe, _) = lab.add_pod("probe", 1);
    let probe_ns = lab.pod_netns(&probe);
    let gw = "10.244.2.1";
    probe_ns.run(&[
        "ip",
        "neigh",
        "replace",
        gw,
        "lladdr",
        "0a:58:0a:f4:00:01",
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);

    let mut latencies = Vec::new();
    for i in 0..21 {
        let name = lab.pod_name(&format!("l{i}"));
        let start = Instant::now();
        lab.yardctl_ok(&["pod", "add", &name, "--node", "n1"]);
        let ip = loop {
            let out = lab.yardctl_ok(&["pod", "show", &name, "--json"]);
            if let Some(ip) = out
                .split("\"ip\": \"")
                .nth(1)
                .and_then(|s| s.split('"').next())
            {
                break ip.to_owned();
            }
        };
        while !probe_ns.ok(&["ping", "-c", "1", "-W", "0.2", &ip]) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "pod {name} never answered"
            );
        }
        if i > 0 {
            latencies.push(start.elapsed());
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];

    let log_before = lab.log("controller").len();
    let (_, _) = lab.add_pod("one-more", 0);
    std::thread::sleep(Duration::from_secs(1));
    let log = lab.log("controller");
    let mods: usize = log[log_before..]
        .lines()
        .filter(|l| l.contains("flows updated"))
        .filter_map(|l| {
            l.split("added=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();

    let mut growth = vec![(
        lab.yardctl_ok(&["pod", "list", "--node", "n1", "--json"])
            .matches("\"wired\"")
            .count(),
        flows(&lab, 0),
    )];
    for node in 0..3 {
        for i in 0..50 {
            let name = lab.pod_name(&format!("r{node}-{i}"));
            lab.yardctl_ok(&["pod", "add", &name, "--node", &format!("n{}", node + 1)]);
        }
    }
    let start = Instant::now();
    while lab
        .yardctl_ok(&["pod", "list", "--json"])
        .matches("\"wired\"")
        .count()
        < 150
        && start.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    growth.push((
        lab.yardctl_ok(&["pod", "list", "--node", "n1", "--json"])
            .matches("\"wired\"")
            .count(),
        flows(&lab, 0),
    ));
    let rss = controller_pid().map(rss_kib).unwrap_or(0);

    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| pod add → first cross-node ping, median of 20 | {} ms |",
        median.as_millis()
    );
    println!(
        "| pod add → first cross-node ping, max of 20 | {} ms |",
        max.as_millis()
    );
    println!("| flow-mods for one pod add | {mods} |");
    for (pods, n) in &growth {
        println!("| br-int flows on n1 with {pods} pods on it | {n} |");
    }
    println!(
        "| controller RSS, 3 nodes, ~{} pods | {} MiB |",
        150 + 23,
        rss / 1024
    );
}
