//! Pod wiring speed: wire+unwire latency per pod (median and p99 over 100 pods) and pods
//! wired per second when 50 are requested at once, for the agent's rtnetlink path (alone and
//! with the bridge port), against the floor of the same steps done by `ip`, `ethtool` and
//! `ovs-vsctl` commands in a shell loop. Needs root and Open vSwitch; prints a table.
//!
//! `cargo bench -p agent --bench wire` (BENCH_PODS=N changes the 100).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use agent::ovs::{OvsdbPorts, PortAttach, VsctlPorts};
use agent::{NetnsRef, NodeNet, PodSpec, Wirer};
use switchyard_tests::{ovs_available, unique_name, Netns, Ovs};

fn spec(prefix: &str, i: usize) -> PodSpec {
    let host = u8::try_from(10 + i % 240).expect("small");
    let third = u8::try_from(i / 240).expect("small");
    let name = format!("{prefix}-{i}");
    let mut s = PodSpec::new(
        &name,
        Ipv4Addr::new(10, 244, 1 + third, host),
        24,
        Ipv4Addr::new(10, 244, 1 + third, 1),
    );
    s.netns = NetnsRef::Named(format!("yp-{name}"));
    s.routes = vec!["10.96.0.0/16".parse().expect("literal")];
    s
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (p(0.5), p(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

struct Row {
    what: &'static str,
    median: Duration,
    p99: Duration,
    burst: f64,
}

async fn sequential<P: PortAttach>(
    wirer: &Wirer<P>,
    with_ports: bool,
    prefix: &str,
    n: usize,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = spec(prefix, i);
        let t = Instant::now();
        if with_ports {
            wirer.wire(&s).await.expect("wire");
            wirer.unwire(&s).await.expect("unwire");
        } else {
            wirer.net.wire(&s).await.expect("wire");
            wirer.net.unwire(&s).await.expect("unwire");
        }
        out.push(t.elapsed());
    }
    out
}

async fn burst<P: PortAttach>(wirer: &Wirer<P>, with_ports: bool, prefix: &str, n: usize) -> f64 {
    let specs: Vec<PodSpec> = (0..n).map(|i| spec(prefix, i)).collect();
    let t = Instant::now();
    futures::future::join_all(specs.iter().map(|s| async move {
        if with_ports {
            wirer.wire(s).await.map(drop)
        } else {
            wirer.net.wire(s).await.map(drop)
        }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<()>, _>>()
    .expect("wire");
    let rate = n as f64 / t.elapsed().as_secs_f64();
    for s in &specs {
        wirer.unwire(s).await.expect("unwire");
    }
    rate
}

/// The same steps as `NodeNet::wire` + `unwire` (and the port when `db` is given), as the
/// commands an operator would type, one bash loop; prints one duration (ns) per pod.
fn shell_floor(
    node: &Netns,
    db: Option<&str>,
    prefix: &str,
    n: usize,
    parallel: bool,
) -> (Vec<Duration>, f64) {
    let port_add = db.map_or(String::new(), |db| {
        format!("ovs-vsctl --db={db} -- --may-exist add-port br-int $h -- set Interface $h external_ids:switchyard-pod=$p external_ids:switchyard-pod-ip=$ip\n  while [ \"$(ovs-vsctl --db={db} get Interface $h ofport)\" -le 0 ] 2>/dev/null; do sleep 0.01; done\n")
    });
    let port_del = db.map_or(String::new(), |db| {
        format!("ovs-vsctl --db={db} --if-exists del-port br-int $h\n")
    });
    let wire = format!(
        "wire() {{ p={prefix}s-$1; h=s$(printf %014x $1); t=t$(printf %014x $1); ip=10.244.$((1 + $1 / 240)).$((10 + $1 % 240)); ns=yp-$p
  ip netns add $ns
  ip link add $h mtu 1400 type veth peer name $t mtu 1400
  ethtool -K $h tx off >/dev/null; ethtool -K $t tx off >/dev/null
  ip link set $t address 0a:58:0a:f4:01:0a netns $ns
  ip -n $ns link set $t name eth0
  ip -n $ns link set eth0 up
  ip -n $ns link set lo up
  ip -n $ns addr add $ip/24 dev eth0
  ip -n $ns route add default via ${{ip%.*}}.1 dev eth0
  ip -n $ns route add 10.96.0.0/16 via ${{ip%.*}}.1 dev eth0
  ip link set $h up
  {port_add}}}
unwire() {{ p={prefix}s-$1; h=s$(printf %014x $1); ns=yp-$p
  {port_del}  ip link del $h
  ip netns del $ns
}}
"
    );
    let body = if parallel {
        format!("{wire}s=$(date +%s%N); for i in $(seq 0 {last}); do wire $i & done; wait; e=$(date +%s%N); echo $((e - s)); for i in $(seq 0 {last}); do unwire $i; done\n", last = n - 1)
    } else {
        format!("{wire}for i in $(seq 0 {last}); do s=$(date +%s%N); wire $i; unwire $i; e=$(date +%s%N); echo $((e - s)); done\n", last = n - 1)
    };
    let out = node.run(&["bash", "-euc", &body]);
    let v: Vec<Duration> = out
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .map(Duration::from_nanos)
        .collect();
    let rate = if parallel {
        n as f64 / v[0].as_secs_f64()
    } else {
        0.0
    };
    (v, rate)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !ovs_available() {
        eprintln!("wire bench skipped: needs root and Open vSwitch");
        return;
    }
    let n: usize = std::env::var("BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let burst_n = 50;
    let node = Netns::new(unique_name("bn"));
    let ovs = Ovs::in_netns(&node, &[]);
    ovs.add_bridge("br-int");
    let prefix = unique_name("b");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    rt.block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.expect("netlink");
        let wirer = Wirer::new(net, VsctlPorts::new(ovs.db_target(), "br-int"));
        // Warm-up (first namespace creation, page cache for ethtool).
        sequential(&wirer, false, &format!("{prefix}w"), 3).await;
        let (m, p) = stats(sequential(&wirer, false, &format!("{prefix}n"), n).await);
        let r = burst(&wirer, false, &format!("{prefix}N"), burst_n).await;
        rows.push(Row {
            what: "agent rtnetlink (veth, netns, addr, routes)",
            median: m,
            p99: p,
            burst: r,
        });
        let (m, p) = stats(sequential(&wirer, true, &format!("{prefix}o"), n).await);
        let r = burst(&wirer, true, &format!("{prefix}O"), burst_n).await;
        rows.push(Row {
            what: "agent rtnetlink + port via ovs-vsctl",
            median: m,
            p99: p,
            burst: r,
        });
        let ports = OvsdbPorts::connect(&ovs.db_target(), "br-int")
            .await
            .expect("ovsdb");
        let wirer = Wirer::new(wirer.net.clone(), ports);
        let (m, p) = stats(sequential(&wirer, true, &format!("{prefix}d"), n).await);
        let r = burst(&wirer, true, &format!("{prefix}D"), burst_n).await;
        rows.push(Row {
            what: "agent rtnetlink + port via OVSDB (yard-agent)",
            median: m,
            p99: p,
            burst: r,
        });
    });
    let (v, _) = shell_floor(&node, None, &format!("{prefix}f"), n, false);
    let (_, r) = shell_floor(&node, None, &format!("{prefix}F"), burst_n, true);
    let (m, p) = stats(v);
    rows.push(Row {
        what: "floor: ip/ethtool shell loop",
        median: m,
        p99: p,
        burst: r,
    });
    let db = ovs.db_target();
    let (v, _) = shell_floor(&node, Some(&db), &format!("{prefix}g"), n, false);
    let (_, r) = shell_floor(&node, Some(&db), &format!("{prefix}G"), burst_n, true);
    let (m, p) = stats(v);
    rows.push(Row {
        what: "floor: ip/ethtool + ovs-vsctl shell loop",
        median: m,
        p99: p,
        burst: r,
    });

    println!("wire+unwire per pod over {n} pods; burst = {burst_n} pods wired at once\n");
    println!(
        "| {:<46} | {:>10} | {:>10} | {:>12} |",
        "path", "median", "p99", "burst pods/s"
    );
    println!("|{:-<48}|{:->12}|{:->12}|{:->14}|", "", "", "", "");
    for r in rows {
        println!(
            "| {:<46} | {:>10} | {:>10} | {:>12.1} |",
            r.what,
            ms(r.median),
            ms(r.p99),
            r.burst
        );
    }
}
