//! Prints bridges, their ports and interfaces (with ofport and type), like a short
//! `ovs-vsctl show`, from one transaction of three selects.
//!
//! `cargo run -p ovsdb --example show -- unix:/var/run/openvswitch/db.sock`

use std::collections::BTreeMap;

use ovsdb::{Client, Op, RowMap, Uuid, Value};

fn select(table: &str, columns: &[&str]) -> Op {
    Op::Select {
        table: table.into(),
        where_: vec![],
        columns: Some(columns.iter().map(|c| (*c).to_owned()).collect()),
    }
}

fn by_uuid(rows: &[RowMap]) -> BTreeMap<Uuid, &RowMap> {
    rows.iter()
        .filter_map(|r| Some((r.get("_uuid")?.as_uuid()?, r)))
        .collect()
}

fn text<'a>(row: &'a RowMap, column: &str) -> &'a str {
    row.get(column).and_then(Value::as_str).unwrap_or("")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "unix:/var/run/openvswitch/db.sock".into());
    let client = Client::connect(&target).await?;
    let r = client
        .transact(
            "Open_vSwitch",
            vec![
                select(
                    "Bridge",
                    &["_uuid", "name", "ports", "datapath_type", "fail_mode"],
                ),
                select("Port", &["_uuid", "name", "interfaces"]),
                select("Interface", &["_uuid", "name", "type", "ofport", "options"]),
            ],
        )
        .await?;
    let [bridges, ports, ifaces] = [0, 1, 2].map(|i| r[i].rows.clone().unwrap_or_default());
    let (ports, ifaces) = (by_uuid(&ports), by_uuid(&ifaces));
    for br in &bridges {
        println!(
            "Bridge {} (datapath {:?}, fail_mode {:?})",
            text(br, "name"),
            text(br, "datapath_type"),
            text(br, "fail_mode")
        );
        for port in br
            .get("ports")
            .map(Value::uuids)
            .unwrap_or_default()
            .iter()
            .filter_map(|u| ports.get(u))
        {
            println!("    Port {}", text(port, "name"));
            for iface in port
                .get("interfaces")
                .map(Value::uuids)
                .unwrap_or_default()
                .iter()
                .filter_map(|u| ifaces.get(u))
            {
                let ofport = iface
                    .get("ofport")
                    .and_then(Value::as_i64)
                    .map_or("-".to_owned(), |p| p.to_string());
                let options = iface
                    .get("options")
                    .map(Value::string_map_entries)
                    .unwrap_or_default();
                println!(
                    "        Interface {} type={:?} ofport={ofport} options={options:?}",
                    text(iface, "name"),
                    text(iface, "type")
                );
            }
        }
    }
    Ok(())
}
