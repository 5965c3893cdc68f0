//! Typed, idempotent helpers for the `Open_vSwitch` database: the bridges, ports,
//! interfaces, controllers and flow-table names Switchyard manages.
//!
//! Every helper reads what is there, computes the difference, and sends **one**
//! transaction only if something differs (so repeating a call changes nothing, not even
//! a row version). Each write carries `wait` operations on exactly the values it read:
//! if another writer changed them in between, the server aborts the transaction and the
//! helper reads again and retries (a few times), so no update is lost. Creating a row
//! also relies on the schema's unique `name` index of Bridge, Port and Interface, so
//! two writers can never create duplicates.
//!
//! Bridges, ports and interfaces are not root tables: a port leaves the database when
//! no bridge refers to it, so removal is "drop the reference" and the server collects
//! the rows (and their interfaces, controllers and flow tables) in the same commit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::client::Client;
use crate::monitor::{MonitorRequest, MonitorRequests, RowUpdate};
use crate::ops::{Condition, Mutation, Op, OpResult, WaitUntil};
use crate::value::{Atom, RowMap, Uuid, Value};
use crate::Error;

/// The database these helpers work on.
pub const DB: &str = "Open_vSwitch";

/// How often a helper re-reads and retries after another writer raced it.
const ATTEMPTS: usize = 8;

/// What a bridge should look like. `fail_mode`, `protocols` and `datapath_type` are
/// set to exactly these values (`None`/empty/`""` mean unset, i.e. OVS's default);
/// in `other_config` and `external_ids` only the keys named here are set, other keys
/// are left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    /// `"netdev"` for the userspace datapath, `""` or `"system"` for the kernel's.
    pub datapath_type: String,
    /// `"secure"` or `"standalone"`.
    pub fail_mode: Option<String>,
    /// e.g. `["OpenFlow13"]`.
    pub protocols: Vec<String>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

/// What a port (one Port row with one Interface row of the same name) should look
/// like. `iface_type` and `options` are set to exactly these values; in `external_ids`
/// (of the Interface, where `interfaces()` reports them) only the keys named here are
/// set; `ofport_request`/`mtu_request` are set when `Some` and left alone when `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSpec {
    pub name: String,
    /// `""` (a system device), `"internal"`, `"patch"`, `"geneve"`, ...
    pub iface_type: String,
    /// e.g. `peer` for patch ports; `remote_ip`, `key`, `csum` for geneve.
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    pub ofport_request: Option<i64>,
    pub mtu_request: Option<i64>,
}

/// One OpenFlow controller target of a bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ControllerSpec {
    /// e.g. `tcp:192.168.56.10:6653`.
    pub target: String,
    /// `"in-band"` or `"out-of-band"`; `None` leaves OVS's default.
    pub connection_mode: Option<String>,
    pub inactivity_probe_ms: Option<i64>,
    pub max_backoff_ms: Option<i64>,
}

/// An interface as the switch reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceRow {
    pub name: String,
    pub iface_type: String,
    /// `None` until ovs-vswitchd assigned one; `Some(-1)` if it failed (see `error`).
    pub ofport: Option<i64>,
    pub mac_in_use: Option<String>,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    pub error: Option<String>,
}

fn select(table: &str, where_: Vec<Condition>, columns: &[&str]) -> Op {
    Op::Select {
        table: table.into(),
        where_,
        columns: Some(columns.iter().map(|c| (*c).to_owned()).collect()),
    }
}

/// A guard: the row `uuid` of `table` still has exactly these column values.
fn still(table: &str, uuid: Uuid, row: &RowMap, columns: &[&str]) -> Op {
    let cols: RowMap = columns
        .iter()
        .filter_map(|c| Some(((*c).to_owned(), row.get(*c)?.clone())))
        .collect();
    Op::Wait {
        table: table.into(),
        where_: vec![Condition::uuid(uuid)],
        columns: cols.keys().cloned().collect(),
        until: WaitUntil::Equal,
        rows: vec![cols],
        timeout_ms: Some(0),
    }
}

/// A guard: no row of `table` is named `name` (the unique index would also refuse a
/// duplicate, but this turns the race into a clean retry).
fn absent(table: &str, name: &str) -> Op {
    Op::Wait {
        table: table.into(),
        where_: vec![Condition::eq("name", name)],
        columns: vec!["name".into()],
        until: WaitUntil::Equal,
        rows: vec![],
        timeout_ms: Some(0),
    }
}

fn rows(r: &OpResult) -> Vec<RowMap> {
    r.rows.clone().unwrap_or_default()
}

fn uuid_of(row: &RowMap) -> Result<Uuid, Error> {
    row.get("_uuid")
        .and_then(Value::as_uuid)
        .ok_or_else(|| Error::malformed("select reply", "row without _uuid"))
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Transaction { op: "wait", error, .. } if error == "timed out")
}

/// Runs `attempt` (read, compute, write) until it does not lose a race.
async fn retrying<F, Fut, T>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match attempt().await {
            Err(e) if is_conflict(&e) => last = Some(e),
            other => return other,
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Sends `ops` unless there is nothing to write (only guards).
async fn write(client: &Client, ops: Vec<Op>) -> Result<bool, Error> {
    if ops
        .iter()
        .all(|o| matches!(o, Op::Wait { .. } | Op::Comment(_)))
    {
        return Ok(false);
    }
    client.transact(DB, ops).await?;
    Ok(true)
}

/// `current` with `want`'s keys set; `None` if that changes nothing.
fn merged(current: &Value, want: &BTreeMap<String, String>) -> Option<Value> {
    let mut m = current.string_map_entries();
    let before = m.clone();
    m.extend(want.iter().map(|(k, v)| (k.clone(), v.clone())));
    (m != before).then(|| Value::string_map(&m))
}

/// An Interface row of type internal.
fn internal(name: &str) -> RowMap {
    RowMap::from([
        ("name".into(), Value::string(name)),
        ("type".into(), Value::string("internal")),
    ])
}

/// Guards and inserts for a new Port `name` with one Interface `iface` (its name is
/// set here), as named uuids `port` and `iface`; the caller references `port`.
fn new_port(name: &str, mut iface: RowMap) -> Vec<Op> {
    iface.insert("name".into(), Value::string(name));
    vec![
        absent("Port", name),
        absent("Interface", name),
        Op::Insert {
            table: "Interface".into(),
            row: iface,
            uuid_name: Some("iface".into()),
        },
        Op::Insert {
            table: "Port".into(),
            row: RowMap::from([
                ("name".into(), Value::string(name)),
                ("interfaces".into(), Value::named_uuid("iface")),
            ]),
            uuid_name: Some("port".into()),
        },
    ]
}

fn not_found(table: &'static str, name: &str) -> Error {
    Error::NotFound {
        table,
        name: name.to_owned(),
    }
}

const BRIDGE_COLS: &[&str] = &[
    "_uuid",
    "name",
    "datapath_type",
    "fail_mode",
    "protocols",
    "other_config",
    "external_ids",
    "ports",
];

/// Makes bridge `spec.name` exist as described, in `Open_vSwitch.bridges`, with its
/// internal port of the same name. Returns whether anything changed.
pub async fn ensure_bridge(client: &Client, spec: &BridgeSpec) -> Result<bool, Error> {
    retrying(|| ensure_bridge_once(client, spec)).await
}

async fn ensure_bridge_once(client: &Client, spec: &BridgeSpec) -> Result<bool, Error> {
    let name = spec.name.as_str();
    let read = client
        .transact(
            DB,
            vec![
                select("Bridge", vec![Condition::eq("name", name)], BRIDGE_COLS),
                select("Port", vec![Condition::eq("name", name)], &["_uuid"]),
            ],
        )
        .await?;
    let desired = [
        ("datapath_type", Value::string(spec.datapath_type.as_str())),
        ("fail_mode", Value::optional(spec.fail_mode.as_deref())),
        (
            "protocols",
            Value::set(spec.protocols.iter().map(String::as_str)),
        ),
    ];
    let Some(br) = rows(&read[0]).into_iter().next() else {
        if !rows(&read[1]).is_empty() {
            return Err(Error::Invalid(format!(
                "cannot create bridge {name}: a port named {name} exists on another bridge; remove it first"
            )));
        }
        let mut row: RowMap = desired
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        row.insert("name".into(), Value::string(name));
        row.insert("other_config".into(), Value::string_map(&spec.other_config));
        row.insert("external_ids".into(), Value::string_map(&spec.external_ids));
        row.insert("ports".into(), Value::named_uuid("port"));
        let mut ops = new_port(name, internal(name));
        ops.extend([
            absent("Bridge", name),
            Op::Insert {
                table: "Bridge".into(),
                row,
                uuid_name: Some("br".into()),
            },
            Op::Mutate {
                table: "Open_vSwitch".into(),
                where_: vec![],
                mutations: vec![Mutation::insert("bridges", Value::named_uuid("br"))],
            },
        ]);
        return write(client, ops).await;
    };
    let uuid = uuid_of(&br)?;
    let mut update = RowMap::new();
    for (col, want) in desired {
        if !br.get(col).is_some_and(|have| have.same_as(&want)) {
            update.insert(col.to_owned(), want);
        }
    }
    for (col, want) in [
        ("other_config", &spec.other_config),
        ("external_ids", &spec.external_ids),
    ] {
        if let Some(v) = merged(br.get(col).unwrap_or(&Value::empty()), want) {
            update.insert(col.to_owned(), v);
        }
    }
    let mut ops = Vec::new();
    if !update.is_empty() {
        let cols: Vec<&str> = update.keys().map(String::as_str).collect();
        ops.push(still("Bridge", uuid, &br, &cols));
        ops.push(Op::Update {
            table: "Bridge".into(),
            where_: vec![Condition::uuid(uuid)],
            row: update,
        });
    }
    // The bridge's own internal port, if someone removed it.
    if rows(&read[1]).is_empty() {
        ops.push(still("Bridge", uuid, &br, &["ports"]));
        ops.extend(new_port(name, internal(name)));
        ops.push(Op::Mutate {
            table: "Bridge".into(),
            where_: vec![Condition::uuid(uuid)],
            mutations: vec![Mutation::insert("ports", Value::named_uuid("port"))],
        });
    }
    write(client, ops).await
}

const IFACE_COLS: &[&str] = &[
    "_uuid",
    "name",
    "type",
    "options",
    "external_ids",
    "ofport_request",
    "mtu_request",
];

/// Makes port `spec.name` exist on `bridge` as described (one Port, one Interface). An
/// existing port with other settings is updated in place; a port of that name on
/// another bridge is moved here. Returns whether anything changed.
///
/// # Errors
/// [`Error::NotFound`] if `bridge` does not exist.
pub async fn ensure_port(client: &Client, bridge: &str, spec: &PortSpec) -> Result<bool, Error> {
    retrying(|| ensure_port_once(client, bridge, spec)).await
}

fn iface_row(spec: &PortSpec) -> RowMap {
    let mut row = RowMap::from([
        ("type".into(), Value::string(spec.iface_type.as_str())),
        ("options".into(), Value::string_map(&spec.options)),
    ]);
    if let Some(p) = spec.ofport_request {
        row.insert("ofport_request".into(), Value::integer(p));
    }
    if let Some(m) = spec.mtu_request {
        row.insert("mtu_request".into(), Value::integer(m));
    }
    row
}

async fn ensure_port_once(client: &Client, bridge: &str, spec: &PortSpec) -> Result<bool, Error> {
    let name = spec.name.as_str();
    let read = client
        .transact(
            DB,
            vec![
                select("Bridge", vec![], &["_uuid", "name", "ports"]),
                select(
                    "Port",
                    vec![Condition::eq("name", name)],
                    &["_uuid", "interfaces"],
                ),
                select("Interface", vec![Condition::eq("name", name)], IFACE_COLS),
            ],
        )
        .await?;
    let bridges = rows(&read[0]);
    let target = bridges
        .iter()
        .find(|b| b.get("name").and_then(Value::as_str) == Some(bridge))
        .ok_or_else(|| not_found("Bridge", bridge))?;
    let target_uuid = uuid_of(target)?;
    let Some(port) = rows(&read[1]).into_iter().next() else {
        let mut iface = iface_row(spec);
        iface.insert("external_ids".into(), Value::string_map(&spec.external_ids));
        let mut ops = new_port(name, iface);
        ops.push(Op::Mutate {
            table: "Bridge".into(),
            where_: vec![Condition::uuid(target_uuid)],
            mutations: vec![Mutation::insert("ports", Value::named_uuid("port"))],
        });
        return write(client, ops).await;
    };
    let port_uuid = uuid_of(&port)?;
    let mut ops = Vec::new();
    // Move it from whichever bridge holds it.
    if !target
        .get("ports")
        .is_some_and(|p| p.uuids().contains(&port_uuid))
    {
        for b in bridges.iter().filter(|b| {
            b.get("ports")
                .is_some_and(|p| p.uuids().contains(&port_uuid))
        }) {
            let u = uuid_of(b)?;
            ops.push(still("Bridge", u, b, &["ports"]));
            ops.push(Op::Mutate {
                table: "Bridge".into(),
                where_: vec![Condition::uuid(u)],
                mutations: vec![Mutation::delete("ports", Value::uuid(port_uuid))],
            });
        }
        ops.push(still("Bridge", target_uuid, target, &["ports"]));
        ops.push(Op::Mutate {
            table: "Bridge".into(),
            where_: vec![Condition::uuid(target_uuid)],
            mutations: vec![Mutation::insert("ports", Value::uuid(port_uuid))],
        });
    }
    let iface = rows(&read[2])
        .into_iter()
        .next()
        .filter(|i| uuid_of(i).is_ok_and(|u| port.get("interfaces").is_some_and(|p| p.uuids().contains(&u))))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "port {name} exists but has no interface named {name}; remove the port and add it again"
            ))
        })?;
    let iface_uuid = uuid_of(&iface)?;
    let mut update: RowMap = iface_row(spec)
        .into_iter()
        .filter(|(c, want)| !iface.get(c).is_some_and(|have| have.same_as(want)))
        .collect();
    if let Some(v) = merged(
        iface.get("external_ids").unwrap_or(&Value::empty()),
        &spec.external_ids,
    ) {
        update.insert("external_ids".into(), v);
    }
    if !update.is_empty() {
        let cols: Vec<&str> = update.keys().map(String::as_str).collect();
        ops.push(still("Interface", iface_uuid, &iface, &cols));
        ops.push(Op::Update {
            table: "Interface".into(),
            where_: vec![Condition::uuid(iface_uuid)],
            row: update,
        });
    }
    write(client, ops).await
}

/// Removes port `name` from `bridge` (the server deletes the Port and its Interface
/// with the last reference). `Ok(false)` if the bridge or the port is not there.
pub async fn remove_port(client: &Client, bridge: &str, name: &str) -> Result<bool, Error> {
    let read = client
        .transact(
            DB,
            vec![
                select(
                    "Bridge",
                    vec![Condition::eq("name", bridge)],
                    &["_uuid", "ports"],
                ),
                select("Port", vec![Condition::eq("name", name)], &["_uuid"]),
            ],
        )
        .await?;
    let (Some(b), Some(p)) = (
        rows(&read[0]).into_iter().next(),
        rows(&read[1]).into_iter().next(),
    ) else {
        return Ok(false);
    };
    let (b, p) = (uuid_of(&b)?, uuid_of(&p)?);
    // The mutate's own `where` is the guard: it only matches while the port is on it.
    let r = client
        .transact(
            DB,
            vec![Op::Mutate {
                table: "Bridge".into(),
                where_: vec![
                    Condition::uuid(b),
                    Condition::includes("ports", Value::uuid(p)),
                ],
                mutations: vec![Mutation::delete("ports", Value::uuid(p))],
            }],
        )
        .await?;
    Ok(r[0].count.unwrap_or(0) > 0)
}

/// Removes bridge `name` from the switch (the server deletes its ports, interfaces,
/// controllers and flow tables with it). `Ok(false)` if it does not exist.
pub async fn remove_bridge(client: &Client, name: &str) -> Result<bool, Error> {
    let read = client
        .transact(
            DB,
            vec![select(
                "Bridge",
                vec![Condition::eq("name", name)],
                &["_uuid"],
            )],
        )
        .await?;
    let Some(b) = rows(&read[0]).into_iter().next() else {
        return Ok(false);
    };
    let b = uuid_of(&b)?;
    let r = client
        .transact(
            DB,
            vec![Op::Mutate {
                table: "Open_vSwitch".into(),
                where_: vec![Condition::includes("bridges", Value::uuid(b))],
                mutations: vec![Mutation::delete("bridges", Value::uuid(b))],
            }],
        )
        .await?;
    Ok(r[0].count.unwrap_or(0) > 0)
}

/// The names of the ports on `bridge`, sorted.
///
/// # Errors
/// [`Error::NotFound`] if the bridge does not exist.
pub async fn bridge_ports(client: &Client, bridge: &str) -> Result<Vec<String>, Error> {
    let read = client
        .transact(
            DB,
            vec![
                select("Bridge", vec![Condition::eq("name", bridge)], &["ports"]),
                select("Port", vec![], &["_uuid", "name"]),
            ],
        )
        .await?;
    let b = rows(&read[0])
        .into_iter()
        .next()
        .ok_or_else(|| not_found("Bridge", bridge))?;
    let ours: BTreeSet<Uuid> = b
        .get("ports")
        .map(Value::uuids)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut names: Vec<String> = rows(&read[1])
        .iter()
        .filter(|p| uuid_of(p).is_ok_and(|u| ours.contains(&u)))
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

fn controller_of(row: &RowMap) -> ControllerSpec {
    ControllerSpec {
        target: row
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        connection_mode: row
            .get("connection_mode")
            .and_then(Value::as_str)
            .map(str::to_owned),
        inactivity_probe_ms: row.get("inactivity_probe").and_then(Value::as_i64),
        max_backoff_ms: row.get("max_backoff").and_then(Value::as_i64),
    }
}

/// Makes `bridge`'s controllers exactly `controllers`; controllers that already match
/// are kept (their OpenFlow connections stay up). Returns whether anything changed.
///
/// # Errors
/// [`Error::NotFound`] if the bridge does not exist.
pub async fn set_controllers(
    client: &Client,
    bridge: &str,
    controllers: &[ControllerSpec],
) -> Result<bool, Error> {
    retrying(|| set_controllers_once(client, bridge, controllers)).await
}

async fn set_controllers_once(
    client: &Client,
    bridge: &str,
    want: &[ControllerSpec],
) -> Result<bool, Error> {
    let read = client
        .transact(
            DB,
            vec![
                select(
                    "Bridge",
                    vec![Condition::eq("name", bridge)],
                    &["_uuid", "controller"],
                ),
                select(
                    "Controller",
                    vec![],
                    &[
                        "_uuid",
                        "target",
                        "connection_mode",
                        "inactivity_probe",
                        "max_backoff",
                    ],
                ),
            ],
        )
        .await?;
    let br = rows(&read[0])
        .into_iter()
        .next()
        .ok_or_else(|| not_found("Bridge", bridge))?;
    let br_uuid = uuid_of(&br)?;
    let refs: BTreeSet<Uuid> = br
        .get("controller")
        .map(Value::uuids)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut have: Vec<(Uuid, ControllerSpec)> = rows(&read[1])
        .iter()
        .filter_map(|r| Some((uuid_of(r).ok()?, r)))
        .filter(|(u, _)| refs.contains(u))
        .map(|(u, r)| (u, controller_of(r)))
        .collect();
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    want_sorted.dedup();
    let mut have_specs: Vec<ControllerSpec> = have.iter().map(|(_, s)| s.clone()).collect();
    have_specs.sort();
    if have_specs == want_sorted {
        return Ok(false);
    }
    let mut ops = vec![still("Bridge", br_uuid, &br, &["controller"])];
    let mut new_refs = BTreeSet::new();
    for (i, spec) in want_sorted.iter().enumerate() {
        if let Some(pos) = have.iter().position(|(_, s)| s == spec) {
            new_refs.insert(Atom::Uuid(have.remove(pos).0));
            continue;
        }
        let name = format!("ctrl{i}");
        let mut row = RowMap::from([("target".into(), Value::string(spec.target.as_str()))]);
        for (col, v) in [
            (
                "connection_mode",
                Value::optional(spec.connection_mode.as_deref()),
            ),
            (
                "inactivity_probe",
                Value::optional(spec.inactivity_probe_ms),
            ),
            ("max_backoff", Value::optional(spec.max_backoff_ms)),
        ] {
            row.insert(col.into(), v);
        }
        ops.push(Op::Insert {
            table: "Controller".into(),
            row,
            uuid_name: Some(name.clone()),
        });
        new_refs.insert(Atom::NamedUuid(name));
    }
    ops.push(Op::Update {
        table: "Bridge".into(),
        where_: vec![Condition::uuid(br_uuid)],
        row: RowMap::from([("controller".into(), Value::Set(new_refs))]),
    });
    write(client, ops).await
}

/// Names `bridge`'s OpenFlow tables (`Bridge.flow_tables` → `Flow_Table.name`), so
/// `ovs-ofctl --names` shows them. Tables not listed are left alone. Returns whether
/// anything changed.
///
/// # Errors
/// [`Error::NotFound`] if the bridge does not exist.
pub async fn set_flow_table_names(
    client: &Client,
    bridge: &str,
    names: &[(u8, &str)],
) -> Result<bool, Error> {
    retrying(|| set_flow_table_names_once(client, bridge, names)).await
}

async fn set_flow_table_names_once(
    client: &Client,
    bridge: &str,
    names: &[(u8, &str)],
) -> Result<bool, Error> {
    let read = client
        .transact(
            DB,
            vec![
                select(
                    "Bridge",
                    vec![Condition::eq("name", bridge)],
                    &["_uuid", "flow_tables"],
                ),
                select("Flow_Table", vec![], &["_uuid", "name"]),
            ],
        )
        .await?;
    let br = rows(&read[0])
        .into_iter()
        .next()
        .ok_or_else(|| not_found("Bridge", bridge))?;
    let br_uuid = uuid_of(&br)?;
    let tables: BTreeMap<Uuid, RowMap> = rows(&read[1])
        .into_iter()
        .filter_map(|r| Some((uuid_of(&r).ok()?, r)))
        .collect();
    let current: BTreeMap<i64, Uuid> = match br.get("flow_tables") {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.as_i64()?, v.as_uuid()?)))
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut ops = vec![still("Bridge", br_uuid, &br, &["flow_tables"])];
    let mut added = BTreeMap::new();
    for &(id, name) in names {
        let want = Value::string(name);
        match current.get(&i64::from(id)) {
            Some(u) => {
                let row = tables.get(u).cloned().unwrap_or_default();
                if !row.get("name").is_some_and(|n| n.same_as(&want)) {
                    ops.push(still("Flow_Table", *u, &row, &["name"]));
                    ops.push(Op::Update {
                        table: "Flow_Table".into(),
                        where_: vec![Condition::uuid(*u)],
                        row: RowMap::from([("name".into(), want)]),
                    });
                }
            }
            None => {
                let tag = format!("table{id}");
                ops.push(Op::Insert {
                    table: "Flow_Table".into(),
                    row: RowMap::from([("name".into(), want)]),
                    uuid_name: Some(tag.clone()),
                });
                added.insert(Atom::Integer(i64::from(id)), Atom::NamedUuid(tag));
            }
        }
    }
    if !added.is_empty() {
        ops.push(Op::Mutate {
            table: "Bridge".into(),
            where_: vec![Condition::uuid(br_uuid)],
            mutations: vec![Mutation::insert("flow_tables", Value::Map(added))],
        });
    }
    write(client, ops).await
}

const IFACE_REPORT_COLS: &[&str] = &[
    "name",
    "type",
    "ofport",
    "mac_in_use",
    "options",
    "external_ids",
    "error",
];

fn interface_of(row: &RowMap) -> InterfaceRow {
    let s = |c: &str| row.get(c).and_then(Value::as_str).map(str::to_owned);
    InterfaceRow {
        name: s("name").unwrap_or_default(),
        iface_type: s("type").unwrap_or_default(),
        ofport: row.get("ofport").and_then(Value::as_i64),
        mac_in_use: s("mac_in_use"),
        options: row
            .get("options")
            .map(Value::string_map_entries)
            .unwrap_or_default(),
        external_ids: row
            .get("external_ids")
            .map(Value::string_map_entries)
            .unwrap_or_default(),
        error: s("error"),
    }
}

/// Every interface with its ofport, MAC and error, sorted by name.
pub async fn interfaces(client: &Client) -> Result<Vec<InterfaceRow>, Error> {
    let read = client
        .transact(DB, vec![select("Interface", vec![], IFACE_REPORT_COLS)])
        .await?;
    let mut out: Vec<InterfaceRow> = rows(&read[0]).iter().map(interface_of).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Waits until ovs-vswitchd has given interface `iface` an OpenFlow port number, and
/// returns it. Watches a monitor on that one row (no polling).
///
/// # Errors
/// [`Error::Timeout`] after `timeout` (the message carries the interface's `error`
/// column if it has one, e.g. a device that does not exist).
pub async fn wait_ofport(client: &Client, iface: &str, timeout: Duration) -> Result<i64, Error> {
    let reqs = MonitorRequests::from([(
        "Interface".to_owned(),
        MonitorRequest {
            columns: Some(IFACE_REPORT_COLS.iter().map(|c| (*c).to_owned()).collect()),
            where_: Some(vec![Condition::eq("name", iface)]),
            select: None,
        },
    )]);
    let mut last_error = None;
    let found = tokio::time::timeout(timeout, async {
        let (mut updates, mut rx) = client.monitor_cond(DB, reqs).await?;
        loop {
            for row in updates.tables.values().flat_map(|t| t.values()) {
                if let RowUpdate::Insert(r) | RowUpdate::Modify { new: r, .. } = row {
                    let i = interface_of(r);
                    match i.ofport {
                        Some(p) if p > 0 => {
                            client.monitor_cancel(&rx);
                            return Ok(p);
                        }
                        _ => last_error = i.error,
                    }
                }
            }
            updates = rx.recv().await.ok_or_else(|| Error::Disconnected {
                target: client.target().to_owned(),
            })?;
        }
    })
    .await;
    match found {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            what: match last_error {
                Some(e) => format!("an ofport for interface {iface} (its error: {e})"),
                None => format!("an ofport for interface {iface}"),
            },
            timeout,
        }),
    }
}
