//! RFC 7047 (OVSDB) client for Switchyard, with typed helpers for the `Open_vSwitch`
//! database.
//!
//! What it is: a JSON-RPC 1.0 client over `unix:PATH` and `tcp:IP:PORT` (OVS target
//! syntax; `ssl:` is not supported yet) with pipelined requests, `echo` both ways,
//! reconnect with backoff, `transact` with every RFC 7047 operation, `monitor`,
//! `monitor_cond` and `monitor_cond_since` (the client applies `update2`/`update3` diffs
//! and hands out whole rows; monitors come back by themselves after a reconnect),
//! `lock`/`steal`/`unlock`, a monitor-fed [`Replica`], and idempotent helpers for the
//! bridges, ports, controllers and flow-table names Switchyard manages in [`vswitch`].
//!
//! The pieces, in the order a caller meets them:
//! - [`Client::connect`] (one task owns the socket; the `Client` is a cheap, `Clone +
//!   Send + Sync` handle). While disconnected, calls fail at once with
//!   [`Error::Disconnected`]; [`Client::connection_events`] says when it is back
//!   (`ConnState::Connected { generation }` counts connections).
//! - [`Client::transact`] with [`Op`]s built from [`Value`]s and [`Condition`]s; a
//!   rejection is [`Error::Transaction`] naming the operation, table and the server's
//!   words.
//! - [`Client::monitor_cond`] → initial [`TableUpdates`] + a [`MonitorReceiver`]; or
//!   [`Replica::start`] for a live copy to read without round trips.
//!
//! What it is not: an IDL. There is no generated row type per table and no
//! automatic transaction building from local edits; rows are column maps of typed
//! [`Value`]s. It never logs: connection changes are published on
//! [`Client::connection_events`], and errors are values.
//!
//! Why our own: the `ovsdb-client` crate (0.0.1) has no `transact` and does not answer
//! the server's `echo`, so a server would drop it after its inactivity probe; and the
//! controller needs reconnect with monitor re-sync, which it also lacks.
//!
//! Values use the RFC's JSON forms exactly (§5.1):
//!
//! ```
//! use ovsdb::{Value, Uuid};
//! let ports: serde_json::Value = serde_json::from_str(
//!     r#"["set",[["uuid","5cd2aba3-e39d-4c63-b2d4-9daebad98724"]]]"#).unwrap();
//! let v = Value::from_json(&ports, "Bridge.ports").unwrap();
//! let uuid: Uuid = "5cd2aba3-e39d-4c63-b2d4-9daebad98724".parse().unwrap();
//! assert_eq!(v.uuids(), vec![uuid]);
//! assert_eq!(v.to_json(), ports);
//! // An absent optional value is the empty set.
//! assert_eq!(Value::optional(None::<&str>).to_json(), serde_json::json!(["set", []]));
//! ```
//!
//! Talking to a server:
//!
//! ```no_run
//! # async fn demo() -> Result<(), ovsdb::Error> {
//! use ovsdb::{Client, Op, Condition};
//! let client = Client::connect("unix:/var/run/openvswitch/db.sock").await?;
//! let r = client.transact("Open_vSwitch", vec![Op::Select {
//!     table: "Bridge".into(),
//!     where_: vec![Condition::eq("name", "br-int")],
//!     columns: Some(vec!["name".into(), "ports".into()]),
//! }]).await?;
//! println!("{:?}", r[0].rows);
//! # Ok(()) }
//! ```

mod client;
mod error;
mod monitor;
mod ops;
mod replica;
mod rpc;
mod schema;
mod value;
pub mod vswitch;

pub use client::{Client, ClientConfig, ConnState, LockEvent, MonitorReceiver};
pub use error::Error;
pub use monitor::{
    apply_row_diff, MonitorKind, MonitorRequest, MonitorRequests, MonitorSelect, MonitorState,
    RowUpdate, TableUpdates,
};
pub use ops::{Condition, Function, Mutation, Mutator, Op, OpResult, WaitUntil};
pub use replica::{Replica, Row};
pub use schema::{AtomicType, ColumnType, Schema, TableSchema};
pub use value::{row_from_json, row_to_json, Atom, RowMap, Uuid, Value};
