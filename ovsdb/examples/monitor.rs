//! Prints every change to bridges, ports and interfaces as it happens (`monitor_cond`),
//! and says when the connection drops and comes back. Stop with Ctrl-C.
//!
//! `cargo run -p ovsdb --example monitor -- unix:/var/run/openvswitch/db.sock`

use ovsdb::{Client, MonitorRequest, MonitorRequests, RowUpdate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "unix:/var/run/openvswitch/db.sock".into());
    let client = Client::connect(&target).await?;
    let reqs = MonitorRequests::from([
        (
            "Bridge".to_owned(),
            MonitorRequest::columns(&["name", "ports", "fail_mode"]),
        ),
        (
            "Port".to_owned(),
            MonitorRequest::columns(&["name", "interfaces"]),
        ),
        (
            "Interface".to_owned(),
            MonitorRequest::columns(&["name", "type", "ofport", "options"]),
        ),
    ]);
    let (initial, mut updates) = client.monitor_cond("Open_vSwitch", reqs).await?;
    let mut events = client.connection_events();
    let mut batch = Some(initial);
    loop {
        if let Some(u) = batch.take() {
            if u.initial {
                println!("-- complete state --");
            }
            for (table, rows) in &u.tables {
                for (uuid, change) in rows {
                    match change {
                        RowUpdate::Insert(r) => {
                            println!("{table} {uuid} + {}", ovsdb::row_to_json(r))
                        }
                        RowUpdate::Modify { new, .. } => {
                            println!("{table} {uuid} ~ {}", ovsdb::row_to_json(new))
                        }
                        RowUpdate::Delete(_) => println!("{table} {uuid} -"),
                    }
                }
            }
        }
        tokio::select! {
            u = updates.recv() => match u {
                Some(u) => batch = Some(u),
                None => return Ok(()),
            },
            r = events.changed() => {
                r?;
                println!("-- connection: {:?} --", *events.borrow());
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
