//! A monitor-fed, in-memory copy of some tables, so callers read switch state without a
//! round trip.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::client::{Client, ConnState};
use crate::monitor::{MonitorRequest, MonitorRequests, RowUpdate, TableUpdates};
use crate::value::{Uuid, Value};
use crate::Error;

/// One row: its UUID and its columns (every monitored column is present).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub uuid: Uuid,
    pub columns: BTreeMap<String, Value>,
}

impl Row {
    /// A column's value.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns.get(column)
    }

    /// A string column (or optional string) as `&str`.
    pub fn get_str(&self, column: &str) -> Option<&str> {
        self.get(column).and_then(Value::as_str)
    }

    /// An integer column (or optional integer).
    pub fn get_i64(&self, column: &str) -> Option<i64> {
        self.get(column).and_then(Value::as_i64)
    }

    /// A string-to-string map column; empty if absent.
    pub fn get_map(&self, column: &str) -> BTreeMap<String, String> {
        self.get(column)
            .map(Value::string_map_entries)
            .unwrap_or_default()
    }

    /// The UUIDs in a reference (set) column.
    pub fn get_uuids(&self, column: &str) -> Vec<Uuid> {
        self.get(column).map(Value::uuids).unwrap_or_default()
    }
}

type Tables = BTreeMap<String, BTreeMap<Uuid, Arc<Row>>>;

/// A live copy of the chosen tables and columns of one database. Cheap to clone; the
/// feeding task stops when the last clone is dropped.
///
/// ```no_run
/// # async fn demo(client: ovsdb::Client) {
/// let replica = ovsdb::Replica::start(&client, "Open_vSwitch", &[
///     ("Bridge", &["name", "ports"]),
///     ("Interface", &["name", "ofport", "external_ids"]),
/// ]);
/// replica.ready().await;
/// let mut changed = replica.changed();
/// loop {
///     for iface in replica.rows("Interface") {
///         println!("{} {:?}", iface.get_str("name").unwrap_or(""), iface.get_i64("ofport"));
///     }
///     if changed.changed().await.is_err() { break; }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Replica {
    tables: Arc<RwLock<Tables>>,
    changed: watch::Receiver<u64>,
    last_error: Arc<Mutex<Option<String>>>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("version", &*self.changed.borrow())
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Starts replicating `tables` (name, columns; an empty column list means all
    /// columns) of `db`. Returns at once; the copy fills when the monitor's first reply
    /// arrives (see [`Replica::ready`]) and is replaced after every reconnect. Needs a
    /// tokio runtime. Takes the client by reference or by value.
    pub fn start(client: impl Borrow<Client>, db: &str, tables: &[(&str, &[&str])]) -> Replica {
        let requests: MonitorRequests = tables
            .iter()
            .map(|(t, cols)| {
                let req = if cols.is_empty() {
                    MonitorRequest::all()
                } else {
                    MonitorRequest::columns(cols)
                };
                ((*t).to_owned(), req)
            })
            .collect();
        let store = Arc::new(RwLock::new(Tables::new()));
        let (changed_tx, changed_rx) = watch::channel(0u64);
        let last_error = Arc::new(Mutex::new(None));
        let task = tokio::spawn(feed(
            client.borrow().clone(),
            db.to_owned(),
            requests,
            store.clone(),
            changed_tx,
            last_error.clone(),
        ));
        Replica {
            tables: store,
            changed: changed_rx,
            last_error,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// The rows of `table` (empty if unknown or not yet filled), in UUID order. Rows are
    /// shared, not copied: reading a table costs a reference count per row.
    pub fn rows(&self, table: &str) -> Vec<Arc<Row>> {
        let tables = self.tables.read().expect("replica lock");
        tables
            .get(table)
            .map(|rows| rows.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One row by UUID.
    pub fn row(&self, table: &str, uuid: Uuid) -> Option<Arc<Row>> {
        let tables = self.tables.read().expect("replica lock");
        tables.get(table)?.get(&uuid).cloned()
    }

    /// The rows of `table` whose `column` means the same as `value`.
    pub fn find(&self, table: &str, column: &str, value: &Value) -> Vec<Arc<Row>> {
        self.rows(table)
            .into_iter()
            .filter(|r| r.get(column).is_some_and(|v| v.same_as(value)))
            .collect()
    }

    /// A counter that goes up on every applied update, including the full reload after a
    /// reconnect. 0 until the first state arrived.
    /// The current value counts as seen: `changed()` waits for the next update.
    pub fn changed(&self) -> watch::Receiver<u64> {
        let mut rx = self.changed.clone();
        rx.mark_unchanged();
        rx
    }

    /// Why the replica could not start its monitor the last time it tried (e.g. a table
    /// or column the server does not have), or `None` while it is fine or merely
    /// waiting for a connection. It keeps retrying either way.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("replica error lock").clone()
    }

    /// Waits until the first complete state has arrived.
    pub async fn ready(&self) {
        let mut rx = self.changed.clone();
        let _ = rx.wait_for(|v| *v > 0).await;
    }
}

async fn feed(
    client: Client,
    db: String,
    requests: MonitorRequests,
    store: Arc<RwLock<Tables>>,
    changed: watch::Sender<u64>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    let mut conn = client.connection_events();
    loop {
        // Wait for a connection, then (re)start the monitor; the client re-establishes it
        // across reconnects, so this loop only repeats if the monitor itself ended.
        let _ = conn
            .wait_for(|s| matches!(s, ConnState::Connected { .. }))
            .await;
        let started = match client.monitor_cond_since(&db, requests.clone()).await {
            // A server before OVS 2.12: plain monitor_cond.
            Err(Error::Rpc { .. }) => client.monitor_cond(&db, requests.clone()).await,
            r => r,
        };
        match started {
            Ok((initial, mut rx)) => {
                *last_error.lock().expect("replica error lock") = None;
                apply(&store, &changed, initial);
                while let Some(u) = rx.recv().await {
                    apply(&store, &changed, u);
                }
            }
            Err(e) => {
                // Disconnected meanwhile, or the server refused (e.g. unknown table):
                // try again after the next state change or a pause.
                if !matches!(e, Error::Disconnected { .. }) {
                    *last_error.lock().expect("replica error lock") = Some(e.to_string());
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), conn.changed()).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn apply(store: &RwLock<Tables>, changed: &watch::Sender<u64>, u: TableUpdates) {
    {
        let mut tables = store.write().expect("replica lock");
        if u.initial {
            tables.clear();
        }
        for (t, rows) in u.tables {
            let table = tables.entry(t).or_default();
            for (uuid, ru) in rows {
                match ru {
                    RowUpdate::Insert(columns) | RowUpdate::Modify { new: columns, .. } => {
                        table.insert(uuid, Arc::new(Row { uuid, columns }));
                    }
                    RowUpdate::Delete(_) => {
                        table.remove(&uuid);
                    }
                }
            }
        }
    }
    changed.send_modify(|v| *v += 1);
}
