//! Switchyard end to end in Docker (`deploy/docker/e2e.sh`): node and controller images
//! built from this build's binaries, a two-node compose cluster, a cross-node pod ping and
//! a NodePort curl, and the teardown. It takes minutes, so it is ignored by default:
//!
//! ```text
//! cargo nextest run -p switchyard-tests --test docker_e2e --run-ignored only
//! ```

use std::process::Command;

use switchyard_tests::cluster::bin;

/// Docker is usable here: the client is installed and the daemon answers.
fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("docker e2e cannot run in CI: no Docker daemon answers `docker info`");
        }
        eprintln!("SKIP: no Docker daemon answers `docker info`");
    }
    ok
}

#[test]
#[ignore = "builds images and runs a compose cluster: minutes"]
fn docker_cluster_pings_across_nodes_and_serves_nodeport() {
    if !docker_available() {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/docker/e2e.sh");
    let bins = bin("yard-agent").parent().expect("bin dir").to_path_buf();
    let out = Command::new("bash")
        .arg(script)
        .env("E2E_BIN_DIR", bins)
        .env(
            "E2E_PROJECT",
            format!("switchyard-e2e-{}", std::process::id()),
        )
        .output()
        .expect("run deploy/docker/e2e.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "e2e.sh failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("cross-node ping: ok"), "{stdout}");
    assert!(stdout.contains("E2E OK"), "{stdout}");
}
