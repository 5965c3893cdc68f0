//! End to end: restart drills under a 10 ms ping between pods on two nodes. Restarting
//! `ovsdb-server`, the controller or an agent loses no packet; restarting `ovs-vswitchd` the
//! way `ovs-ctl restart` does (flows saved, `flow-restore-wait`, flows restored) and crashing
//! it (an empty table, the controller re-pushes) heal, and the test prints the longest
//! silence of each (the datapath bench's numbers, not an assertion on a shared machine).

use switchyard_tests::cluster::{Lab, PATIENCE};
use switchyard_tests::{ovs_available, wait_for, PingReport, Pinger};

const INTERVAL: f64 = 0.01;

fn lost(r: &PingReport) -> u64 {
    r.sent.saturating_sub(r.received)
}

#[test]
fn restarts_of_every_daemon_keep_pods_talking() {
    if !ovs_available() {
        return;
    }
    let mut lab = Lab::cluster(2);
    let (_, a_ip) = lab.add_pod("a", 0);
    let (b, _) = lab.add_pod("b", 1);
    let b_ns = lab.pod_netns(&b);
    assert!(Lab::reaches(&b_ns, a_ip), "b reaches a");
    let a = a_ip.to_string();
    let n1 = lab.nodes[0].name.clone();
    let connected = |lab: &Lab, what: &str| {
        wait_for(&format!("{n1}'s {what} connected again"), PATIENCE, || {
            let out = lab.yardctl(&["node", "show", &n1, "--json"]);
            String::from_utf8_lossy(&out.stdout)
                .contains(&format!("\"{what}\": \"connected\""))
                .then_some(())
        })
    };
    let mut report = Vec::new();

    // ovsdb-server: the switch keeps forwarding; the controller reconnects.
    let ping = Pinger::start(&b_ns, &a, INTERVAL);
    ping.wait_more(20, "pings before the ovsdb-server restart");
    lab.nodes[0].ovs.restart_ovsdb_server();
    connected(&lab, "ovsdb");
    ping.wait_more(50, "pings after the ovsdb-server restart");
    let r = ping.stop();
    assert_eq!(lost(&r), 0, "an ovsdb-server restart lost pings: {r:?}");
    report.push(("ovsdb-server restart", r));

    // The controller and the agent: nothing on the data path depends on them running.
    let ping = Pinger::start(&b_ns, &a, INTERVAL);
    ping.wait_more(20, "pings before the controller restart");
    lab.kill("controller");
    lab.start_controller();
    lab.wait_nodes_ready();
    lab.kill("agent-n1");
    lab.start_agent(0);
    ping.wait_more(50, "pings after the controller and agent restarts");
    let r = ping.stop();
    assert_eq!(
        lost(&r),
        0,
        "controller and agent restarts lost pings: {r:?}"
    );
    report.push(("controller + agent restart", r));

    // ovs-vswitchd, restarted as ovs-ctl does: it comes back with its saved tables.
    for (what, bridges) in [
        (
            "ovs-vswitchd restart (ovs-ctl way)",
            &["br-int", "br-ex"][..],
        ),
        ("ovs-vswitchd crash (empty table)", &[][..]),
    ] {
        let ping = Pinger::start(&b_ns, &a, INTERVAL);
        ping.wait_more(20, &format!("pings before the {what}"));
        lab.nodes[0].ovs.restart_vswitchd(bridges);
        ping.wait_more(50, &format!("pings after the {what}"));
        connected(&lab, "openflow");
        report.push((what, ping.stop()));
    }

    eprintln!("| drill, 10 ms ping pod on n2 → pod on n1 | sent | lost | longest gap |");
    eprintln!("|---|---|---|---|");
    for (what, r) in &report {
        eprintln!(
            "| {what} | {} | {} | {:.0} ms |",
            r.sent,
            lost(r),
            r.longest_gap * 1e3
        );
    }
}
