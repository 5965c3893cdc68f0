//! One transaction with several operation kinds: a comment for the server log, a
//! `wait` that guards against a concurrent change, a `mutate` of a map column, and a
//! `select` reading the result back. Sets `external_ids:switchyard-example=<value>` on
//! the Open_vSwitch row.
//!
//! `cargo run -p ovsdb --example transact -- unix:/var/run/openvswitch/db.sock hello`

use std::collections::BTreeMap;

use ovsdb::{Client, Condition, Mutation, Op, RowMap, Value, WaitUntil};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .unwrap_or_else(|| "unix:/var/run/openvswitch/db.sock".into());
    let value = args.next().unwrap_or_else(|| "hello".into());
    let client = Client::connect(&target).await?;
    let key = "switchyard-example".to_owned();
    let entry = BTreeMap::from([(key.clone(), value)]);
    let ops = vec![
        Op::Comment("switchyard example: set an external_id".into()),
        // Abort unless there is exactly one Open_vSwitch row (with any _uuid).
        Op::Wait {
            table: "Open_vSwitch".into(),
            where_: vec![],
            columns: vec![],
            until: WaitUntil::Equal,
            rows: vec![RowMap::new()],
            timeout_ms: Some(0),
        },
        // A map "insert" keeps an existing key, so delete it first.
        Op::Mutate {
            table: "Open_vSwitch".into(),
            where_: vec![],
            mutations: vec![
                Mutation::delete("external_ids", Value::set([key.as_str()])),
                Mutation::insert("external_ids", Value::string_map(&entry)),
            ],
        },
        Op::Select {
            table: "Open_vSwitch".into(),
            where_: vec![Condition::includes(
                "external_ids",
                Value::string_map(&entry),
            )],
            columns: Some(vec!["external_ids".into()]),
        },
    ];
    let results = client.transact("Open_vSwitch", ops).await?;
    println!("mutated {} row(s)", results[2].count.unwrap_or(0));
    for row in results[3].rows.iter().flatten() {
        println!(
            "external_ids now {:?}",
            row["external_ids"].string_map_entries()
        );
    }
    Ok(())
}
