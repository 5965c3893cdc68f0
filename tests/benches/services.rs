//! Service scale benchmark (a table, not a test): `cargo bench -p switchyard-tests --bench
//! services [-- COUNT]` as root. On a 2-node lab cluster with 7 pods, it adds ClusterIP
//! services of 7 backends through the API, and measures one more service add end to end —
//! from the API call until both nodes' switches acknowledged its flows and group (each node's
//! `applied_revision`) — with 10 services present and with COUNT (default 4 000) present.
//! It runs the release binaries (`cargo build --release --bins` first) unless
//! `SWITCHYARD_BIN_DIR` names others.

use std::time::{Duration, Instant};

use switchyard_api::{Client, NewService, PodName, ServiceType};
use switchyard_tests::cluster::Lab;
use switchyard_tests::ovs_available;

fn service(i: usize, backends: &[PodName]) -> NewService {
    let mut s = NewService::new(format!("svc-{i}").parse().expect("name"), 80);
    s.service_type = ServiceType::ClusterIp;
    s.target_port = Some(8080);
    s.backends = backends.to_vec();
    s
}

/// Adds service `i` and waits until every node applied it; returns (API answered, applied).
async fn add_and_wait(c: &Client, i: usize, backends: &[PodName]) -> (Duration, Duration) {
    let t0 = Instant::now();
    c.add_service(&service(i, backends))
        .await
        .expect("add service");
    let api = t0.elapsed();
    let revision = c.health().await.expect("health").revision;
    loop {
        let nodes = c.nodes().await.expect("nodes");
        if nodes
            .iter()
            .all(|n| n.status.applied_revision.is_some_and(|r| r >= revision))
        {
            return (api, t0.elapsed());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "service svc-{i} not applied in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn groups(lab: &Lab, node: usize) -> usize {
    lab.nodes[node]
        .ofctl(&["dump-groups", "br-int"])
        .lines()
        .filter(|l| l.contains("group_id="))
        .count()
}

fn main() {
    if !ovs_available() {
        return;
    }
    // The release binaries, unless SWITCHYARD_BIN_DIR says otherwise: a debug controller
    // measures the debug checks.
    if std::env::var_os("SWITCHYARD_BIN_DIR").is_none() {
        let release = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release");
        std::env::set_var("SWITCHYARD_BIN_DIR", release);
    }
    eprintln!(
        "binaries from {} (SWITCHYARD_BIN_DIR; build them with cargo build --release --bins)",
        std::env::var("SWITCHYARD_BIN_DIR").unwrap_or_default()
    );
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(4000);
    const SAMPLES: usize = 20;
    let lab = Lab::cluster(2);
    let backends: Vec<PodName> = (0..7)
        .map(|i| lab.add_pod(&format!("b{i}"), i % 2).0.parse().expect("pod"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::new(&lab.controller_url()).expect("client");
    let mut rows = Vec::new();
    let mut next = 0;
    for present in [10, count] {
        let started = Instant::now();
        while next < present {
            rt.block_on(client.add_service(&service(next, &backends)))
                .expect("add service");
            next += 1;
            if next % 500 == 0 {
                eprintln!(
                    "{next} services added ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let (mut api, mut applied): (Vec<_>, Vec<_>) = (0..SAMPLES)
            .map(|k| rt.block_on(add_and_wait(&client, count + present + k, &backends)))
            .unzip();
        api.sort();
        applied.sort();
        rows.push((present, api, applied, groups(&lab, 0)));
    }
    println!("one more ClusterIP service of 7 backends, 2 nodes, {SAMPLES} adds per row");
    println!(
        "{:>9} {:>13} {:>17} {:>17} {:>15}",
        "present", "api p50 ms", "applied p50 ms", "applied max ms", "groups (n1)"
    );
    for (present, api, applied, groups) in &rows {
        println!(
            "{present:>9} {:>13.2} {:>17.2} {:>17.2} {groups:>15}",
            ms(percentile(api, 0.5)),
            ms(percentile(applied, 0.5)),
            ms(percentile(applied, 1.0)),
        );
    }
}
