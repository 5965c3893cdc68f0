//! Keeps a live copy of the Interface table and prints each interface's ofport and MAC
//! whenever anything changes (also after a reconnect). Stop with Ctrl-C.
//!
//! `cargo run -p ovsdb --example replica -- unix:/var/run/openvswitch/db.sock`

use ovsdb::{Client, Replica};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "unix:/var/run/openvswitch/db.sock".into());
    let client = Client::connect(&target).await?;
    let replica = Replica::start(
        &client,
        "Open_vSwitch",
        &[("Interface", &["name", "ofport", "mac_in_use"])],
    );
    replica.ready().await;
    let mut changed = replica.changed();
    loop {
        println!("-- version {} --", *changed.borrow_and_update());
        for row in replica.rows("Interface") {
            let ofport = row
                .get_i64("ofport")
                .map_or("-".to_owned(), |p| p.to_string());
            println!(
                "{:<16} ofport {ofport:<5} mac {}",
                row.get_str("name").unwrap_or(""),
                row.get_str("mac_in_use").unwrap_or("-")
            );
        }
        tokio::select! {
            r = changed.changed() => r?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
