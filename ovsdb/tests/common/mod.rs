//! Helpers shared by the OVS-backed tests.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use ovsdb::{Client, ClientConfig, ConnState};
use switchyard_tests::{run, wait_for, Ovs};
use tokio::sync::watch;

pub const DB: &str = "Open_vSwitch";
pub const LONG: Duration = Duration::from_secs(60);

/// Restarts the instance's ovsdb-server (after [`Ovs::kill`]) on the same database
/// file and socket, with the harness's arguments.
pub fn restart_db(ovs: &Ovs) {
    let d = ovs.path();
    run(Command::new("ovsdb-server").args([
        d.join("conf.db").display().to_string(),
        format!("--remote=punix:{}", d.join("db.sock").display()),
        "--remote=db:Open_vSwitch,Open_vSwitch,manager_options".into(),
        format!("--pidfile={}", d.join("ovsdb-server.pid").display()),
        format!("--unixctl={}", d.join("ovsdb-server.ctl").display()),
        format!("--log-file={}", d.join("ovsdb-server.log").display()),
        "--detach".into(),
    ]));
}

/// Adds a TCP listener on 127.0.0.1 with an OS-given port (through a Manager row, so the
/// server's own inactivity probe can be set) and returns `tcp:127.0.0.1:PORT`.
pub fn add_tcp_remote(ovs: &Ovs, inactivity_probe_ms: i64) -> String {
    ovs.vsctl(&[
        "--no-wait",
        "--",
        "--id=@m",
        "create",
        "Manager",
        "target=\"ptcp:0:127.0.0.1\"",
        &format!("inactivity_probe={inactivity_probe_ms}"),
        "--",
        "set",
        "Open_vSwitch",
        ".",
        "manager_options=@m",
    ]);
    let log = ovs.path().join("ovsdb-server.log");
    let port = wait_for("ovsdb-server to listen on TCP", LONG, || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.lines()
            .rev()
            .find_map(|l| l.split("listening on port ").nth(1))
            .and_then(|p| p.trim().parse::<u16>().ok())
    });
    format!("tcp:127.0.0.1:{port}")
}

/// A `ovsdb-client dump` of the instance's database (for before/after comparisons).
pub fn dump(ovs: &Ovs) -> String {
    run(Command::new("ovsdb-client").args(["dump", &ovs.db_target(), DB]))
}

pub async fn connect(ovs: &Ovs) -> Client {
    Client::connect(&ovs.db_target())
        .await
        .expect("connect to ovsdb-server")
}

/// A config that reconnects quickly, for fault tests.
pub fn quick() -> ClientConfig {
    ClientConfig {
        backoff_max: Duration::from_millis(500),
        ..ClientConfig::default()
    }
}

/// Waits (up to 60 s) until the connection state satisfies `f`.
pub async fn wait_state(
    rx: &mut watch::Receiver<ConnState>,
    what: &str,
    f: impl FnMut(&ConnState) -> bool,
) -> ConnState {
    tokio::time::timeout(LONG, rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("client task alive")
        .clone()
}
