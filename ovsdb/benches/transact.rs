//! Throughput against a real ovsdb-server over a unix socket: transactions per second
//! sequential vs pipelined, a 1000-row monitor initial dump, and `ensure_port` calls.
//! Needs root and Open vSwitch (it starts its own ovsdb-server in a temp dir).
//!
//! `cargo bench -p ovsdb --bench transact`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use ovsdb::vswitch::{ensure_bridge, ensure_port, BridgeSpec, PortSpec};
use ovsdb::{Client, MonitorRequest, MonitorRequests, Op, RowMap, Value};
use switchyard_tests::{ovs_available, Ovs};

const DB: &str = "Open_vSwitch";
const N: usize = 1000;

/// A one-row insert into Queue, a root table (rows of other tables would be
/// garbage-collected at commit unless something refers to them).
fn insert_queue(i: usize) -> Vec<Op> {
    let ids = BTreeMap::from([("bench".to_owned(), i.to_string())]);
    vec![Op::Insert {
        table: "Queue".into(),
        row: RowMap::from([("external_ids".into(), Value::string_map(&ids))]),
        uuid_name: None,
    }]
}

fn line(what: &str, n: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "| {what:<44} | {n:>5} | {secs:>8.3} | {:>10.0} |",
        n as f64 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let c = Client::connect(&ovs.db_target()).await.expect("connect");
    println!(
        "| {:<44} | {:>5} | {:>8} | {:>10} |",
        "operation", "n", "seconds", "per second"
    );
    println!("|{:-<46}|{:->7}|{:->10}|{:->12}|", "", "", "", "");

    let t = Instant::now();
    for _ in 0..N {
        c.echo().await.expect("echo");
    }
    line("echo, sequential", N, t.elapsed());

    let t = Instant::now();
    join_all((0..N).map(|_| c.echo()))
        .await
        .into_iter()
        .for_each(|r| r.expect("echo"));
    line("echo, pipelined (all in flight)", N, t.elapsed());

    let t = Instant::now();
    for i in 0..N {
        c.transact(DB, insert_queue(i)).await.expect("insert");
    }
    line("transact: insert 1 row, sequential", N, t.elapsed());

    let t = Instant::now();
    join_all((N..2 * N).map(|i| c.transact(DB, insert_queue(i))))
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("insert");
        });
    line("transact: insert 1 row, pipelined", N, t.elapsed());

    // 2000 Queue rows exist now; dump them through a monitor.
    let reqs = MonitorRequests::from([("Queue".to_owned(), MonitorRequest::all())]);
    let t = Instant::now();
    let (init, _rx) = c.monitor_cond(DB, reqs).await.expect("monitor");
    let rows = init.tables["Queue"].len();
    line("monitor_cond initial dump (rows/s)", rows, t.elapsed());

    let br = BridgeSpec {
        name: "bench0".into(),
        datapath_type: "netdev".into(),
        ..BridgeSpec::default()
    };
    ensure_bridge(&c, &br).await.expect("bridge");
    let ports: Vec<PortSpec> = (0..200)
        .map(|i| PortSpec {
            name: format!("bp{i}"),
            iface_type: "internal".into(),
            ..PortSpec::default()
        })
        .collect();
    let t = Instant::now();
    for p in &ports {
        assert!(ensure_port(&c, "bench0", p).await.expect("ensure_port"));
    }
    line(
        "ensure_port, new port (sequential)",
        ports.len(),
        t.elapsed(),
    );
    let t = Instant::now();
    for p in &ports {
        assert!(!ensure_port(&c, "bench0", p).await.expect("ensure_port"));
    }
    line(
        "ensure_port, unchanged (sequential)",
        ports.len(),
        t.elapsed(),
    );
    let t = Instant::now();
    join_all(ports.iter().map(|p| ensure_port(&c, "bench0", p)))
        .await
        .into_iter()
        .for_each(|r| {
            assert!(!r.expect("ensure_port"));
        });
    line(
        "ensure_port, unchanged (concurrent)",
        ports.len(),
        t.elapsed(),
    );
}
