//! End to end: the built `yard-sim` against the built `yard-controller` (run
//! `cargo build --workspace --bins` first, as `./test.sh` does).

use std::path::PathBuf;
use std::process::Command;

fn controller() -> Option<PathBuf> {
    let sim = PathBuf::from(env!("CARGO_BIN_EXE_yard-sim"));
    let c = sim.parent()?.join("yard-controller");
    c.exists().then_some(c)
}

#[test]
fn a_small_fleet_converges_and_changes_cost_what_they_change() {
    let Some(ctl) = controller() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("yard-controller is not built next to yard-sim (CI=true): run cargo build --workspace --bins");
        }
        println!("SKIP: yard-controller is not built next to yard-sim; run cargo build --workspace --bins");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_yard-sim"))
        .args([
            "--nodes",
            "4",
            "--pods-per-node",
            "5",
            "--services",
            "3",
            "--pod-adds",
            "5",
        ])
        .args(["--phase-timeout", "60", "--json", "--ovsdb-port", "16640"])
        // Its own address block, so a benchmark running meanwhile does not collide.
        .args(["--ip-block", &(200 + std::process::id() % 50).to_string()])
        .arg("--controller-bin")
        .arg(&ctl)
        .output()
        .expect("running yard-sim");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "yard-sim failed:\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    for key in [
        "nodes",
        "pods",
        "initial_sync_s",
        "pod_add_p50_ms",
        "pod_add_p99_ms",
        "cpu_ms_per_pod_add",
        "switches_touched_per_pod_add",
        "node_add_converged_s",
        "ovsdb_txns_to_others_per_node_add",
        "flow_mods_to_others_per_node_add",
        "controller_rss_mib",
    ] {
        assert!(
            r.get(key).is_some_and(|v| v.is_number()),
            "key {key} missing in {r}"
        );
    }
    assert_eq!(r["nodes"], 5, "{r}");
    assert_eq!(r["pods"], 4 * 5 + 5, "{r}");
    assert_eq!(r["all_pods_converged"], true, "{r}");
    assert_eq!(
        r["switches_touched_per_pod_add"].as_f64(),
        Some(1.0),
        "a pod add sends flow-mods to exactly one switch: {r}"
    );
    assert_eq!(
        r["ovsdb_txns_to_others_per_node_add"], 0,
        "a node add sends no OVSDB transaction to other nodes: {r}"
    );
    assert!(
        r["flow_mods_to_others_per_node_add"]
            .as_u64()
            .is_some_and(|n| n <= 2),
        "a node add sends at most 2 flow-mods to each other node: {r}"
    );
}
