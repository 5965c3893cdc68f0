//! Lists the databases an OVSDB server offers, with their schema versions.
//!
//! `cargo run -p ovsdb --example list_dbs -- unix:/var/run/openvswitch/db.sock`

use ovsdb::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "unix:/var/run/openvswitch/db.sock".into());
    let client = Client::connect(&target).await?;
    for db in client.list_dbs().await? {
        let schema = client.get_schema(&db).await?;
        println!(
            "{db} (schema {}, {} tables)",
            schema.version,
            schema.tables.len()
        );
    }
    Ok(())
}
