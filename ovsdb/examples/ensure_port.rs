//! Makes sure a bridge (userspace datapath) and a port on it exist, then waits for the
//! port's OpenFlow number. Safe to run twice.
//!
//! `cargo run -p ovsdb --example ensure_port -- unix:/var/run/openvswitch/db.sock br-test p1 internal`

use std::time::Duration;

use ovsdb::vswitch::{ensure_bridge, ensure_port, wait_ofport, BridgeSpec, PortSpec};
use ovsdb::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, bridge, port, kind] = args.as_slice() else {
        eprintln!("usage: ensure_port TARGET BRIDGE PORT TYPE   (TYPE: internal, system, ...)");
        std::process::exit(2);
    };
    let client = Client::connect(target).await?;
    let br = BridgeSpec {
        name: bridge.clone(),
        datapath_type: "netdev".into(),
        ..BridgeSpec::default()
    };
    println!(
        "bridge {bridge}: {}",
        if ensure_bridge(&client, &br).await? {
            "changed"
        } else {
            "unchanged"
        }
    );
    let kind = if kind == "system" {
        String::new()
    } else {
        kind.clone()
    };
    let spec = PortSpec {
        name: port.clone(),
        iface_type: kind,
        ..PortSpec::default()
    };
    println!(
        "port {port}: {}",
        if ensure_port(&client, bridge, &spec).await? {
            "changed"
        } else {
            "unchanged"
        }
    );
    println!(
        "ofport {}",
        wait_ofport(&client, port, Duration::from_secs(10)).await?
    );
    Ok(())
}
