//! Monitors (RFC 7047 §4.1.5, `monitor_cond`/`update2` from RFC 7047-bis): what to
//! watch, and the pure logic that turns the server's updates into whole rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use crate::ops::Condition;
use crate::schema::{ColumnType, Schema, TableSchema};
use crate::value::{row_from_json, short, RowMap, Uuid, Value};
use crate::Error;

/// Which kinds of change a monitor reports (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSelect {
    pub initial: bool,
    pub insert: bool,
    pub delete: bool,
    pub modify: bool,
}

impl Default for MonitorSelect {
    fn default() -> Self {
        MonitorSelect {
            initial: true,
            insert: true,
            delete: true,
            modify: true,
        }
    }
}

/// What to watch in one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorRequest {
    /// Columns to report; `None` means all.
    pub columns: Option<Vec<String>>,
    /// Only rows matching all conditions (`monitor_cond` only; `None` means all rows).
    pub where_: Option<Vec<Condition>>,
    pub select: Option<MonitorSelect>,
}

impl MonitorRequest {
    /// All rows, these columns.
    pub fn columns(cols: &[&str]) -> MonitorRequest {
        MonitorRequest {
            columns: Some(cols.iter().map(|c| (*c).to_owned()).collect()),
            ..MonitorRequest::default()
        }
    }

    /// All rows, all columns.
    pub fn all() -> MonitorRequest {
        MonitorRequest::default()
    }

    fn to_json(&self, cond: bool) -> Json {
        let mut o = Map::new();
        if let Some(c) = &self.columns {
            o.insert("columns".into(), json!(c));
        }
        if let (true, Some(w)) = (cond, &self.where_) {
            o.insert(
                "where".into(),
                Json::Array(w.iter().map(Condition::to_json).collect()),
            );
        }
        if let Some(s) = &self.select {
            o.insert(
                "select".into(),
                json!({"initial": s.initial, "insert": s.insert, "delete": s.delete, "modify": s.modify}),
            );
        }
        json!([Json::Object(o)])
    }
}

/// The monitor requests for a database: table name to request.
pub type MonitorRequests = BTreeMap<String, MonitorRequest>;

/// Which monitor method (and so which notification) a monitor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorKind {
    /// `monitor` / `update` (RFC 7047).
    Monitor,
    /// `monitor_cond` / `update2` (RFC 7047-bis): diffs, conditions.
    MonitorCond,
    /// `monitor_cond_since` / `update3` (OVS 2.12+): as `MonitorCond`, plus a
    /// transaction id so that after a reconnect a server that still has the history
    /// (clustered databases) sends only what changed meanwhile.
    MonitorCondSince,
}

impl MonitorKind {
    pub(crate) fn method(self) -> &'static str {
        match self {
            MonitorKind::Monitor => "monitor",
            MonitorKind::MonitorCond => "monitor_cond",
            MonitorKind::MonitorCondSince => "monitor_cond_since",
        }
    }

    pub(crate) fn notification(self) -> &'static str {
        match self {
            MonitorKind::Monitor => "update",
            MonitorKind::MonitorCond => "update2",
            MonitorKind::MonitorCondSince => "update3",
        }
    }
}

/// One row's change, with whole rows (every monitored column present; columns the
/// server left out carry their default).
#[derive(Debug, Clone, PartialEq)]
pub enum RowUpdate {
    /// A new row (or, in an initial update, a row that exists).
    Insert(RowMap),
    /// A changed row: its columns before and after.
    Modify { old: RowMap, new: RowMap },
    /// A deleted row, with its last columns.
    Delete(RowMap),
}

/// One batch of changes from a monitor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableUpdates {
    /// `true` for the complete current state (the first reply, and again after every
    /// reconnect): the caller replaces what it had instead of merging. Every monitored
    /// table is present then, possibly with no rows.
    pub initial: bool,
    /// Table name to row UUID to change.
    pub tables: BTreeMap<String, BTreeMap<Uuid, RowUpdate>>,
}

impl TableUpdates {
    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.initial && self.tables.values().all(BTreeMap::is_empty)
    }
}

/// The rows a monitor has seen, needed to apply `update2` diffs and to report whole
/// rows. Pure: no IO.
#[derive(Debug, Clone)]
pub struct MonitorState {
    pub(crate) schema: Arc<Schema>,
    pub(crate) kind: MonitorKind,
    pub(crate) requests: MonitorRequests,
    tables: BTreeMap<String, BTreeMap<Uuid, RowMap>>,
    /// The last transaction id seen (`monitor_cond_since` only).
    last_txn_id: Option<String>,
}

impl MonitorState {
    /// Checks the requests against the schema.
    pub fn new(
        schema: Arc<Schema>,
        kind: MonitorKind,
        requests: MonitorRequests,
    ) -> Result<MonitorState, Error> {
        for (t, r) in &requests {
            let ts = schema.table(t)?;
            for c in r.columns.iter().flatten() {
                if !ts.columns.contains_key(c) {
                    return Err(Error::Invalid(format!("table {t} has no column {c}")));
                }
            }
        }
        Ok(MonitorState {
            schema,
            kind,
            requests,
            tables: BTreeMap::new(),
            last_txn_id: None,
        })
    }

    /// The monitor request's `params` for database `db` and monitor id `id`.
    pub(crate) fn request_params(&self, db: &str, id: &str) -> Json {
        let cond = self.kind != MonitorKind::Monitor;
        let reqs: Json = Json::Object(
            self.requests
                .iter()
                .map(|(t, r)| (t.clone(), r.to_json(cond)))
                .collect(),
        );
        match self.kind {
            MonitorKind::MonitorCondSince => {
                // The zero UUID asks for everything (we have no history yet).
                let last = self
                    .last_txn_id
                    .clone()
                    .unwrap_or_else(|| Uuid::ZERO.to_string());
                json!([db, id, reqs, last])
            }
            _ => json!([db, id, reqs]),
        }
    }

    /// Applies the reply to the monitor request: the full state for `monitor` and
    /// `monitor_cond`; for `monitor_cond_since` either the full state or, if the server
    /// still had our last transaction, the changes since. Either way the result is the
    /// complete state, marked `initial`.
    pub fn apply_reply(&mut self, result: &Json) -> Result<TableUpdates, Error> {
        if self.kind != MonitorKind::MonitorCondSince {
            return self.apply_initial(result);
        }
        let (found, last, updates) = match result.as_array().map(Vec::as_slice) {
            Some([Json::Bool(found), Json::String(last), updates]) => (*found, last, updates),
            _ => {
                return Err(Error::malformed(
                    "monitor_cond_since reply",
                    format!(
                        "expected [found, last-txn-id, updates], got {}",
                        short(result)
                    ),
                ))
            }
        };
        let out = if found && self.last_txn_id.is_some() {
            self.apply_update(updates)?;
            self.full_state()
        } else {
            self.apply_initial(updates)?
        };
        self.last_txn_id = Some(last.clone());
        Ok(out)
    }

    /// Records the transaction id an `update3` notification carried.
    pub(crate) fn note_txn(&mut self, last: &Json) {
        if let Some(l) = last.as_str() {
            self.last_txn_id = Some(l.to_owned());
        }
    }

    fn full_state(&self) -> TableUpdates {
        let mut tables: BTreeMap<String, BTreeMap<Uuid, RowUpdate>> = self
            .requests
            .keys()
            .map(|t| (t.clone(), BTreeMap::new()))
            .collect();
        for (t, rows) in &self.tables {
            tables
                .entry(t.clone())
                .or_default()
                .extend(rows.iter().map(|(u, r)| (*u, RowUpdate::Insert(r.clone()))));
        }
        TableUpdates {
            initial: true,
            tables,
        }
    }

    fn table_info(&self, table: &str) -> Result<(&TableSchema, Vec<String>), Error> {
        let ts = self.schema.table(table).map_err(|_| {
            Error::malformed(
                "monitor update",
                format!("update for unknown table {table}"),
            )
        })?;
        let cols = self
            .requests
            .get(table)
            .and_then(|r| r.columns.clone())
            .unwrap_or_default();
        Ok((ts, cols))
    }

    /// Replaces the state with the reply to the monitor request (the initial rows).
    pub fn apply_initial(&mut self, result: &Json) -> Result<TableUpdates, Error> {
        let mut fresh: BTreeMap<String, BTreeMap<Uuid, RowMap>> = self
            .requests
            .keys()
            .map(|t| (t.clone(), BTreeMap::new()))
            .collect();
        let obj = table_updates_obj(result)?;
        for (table, rows) in obj {
            let (ts, cols) = self.table_info(table)?;
            for (uuid, ru) in rows_obj(table, rows)? {
                let row = match (self.kind, ru.get("initial"), ru.get("new")) {
                    (MonitorKind::Monitor, _, Some(r)) => r,
                    (MonitorKind::MonitorCond | MonitorKind::MonitorCondSince, Some(r), _) => r,
                    _ => {
                        return Err(Error::malformed(
                            format!("initial row {table} {uuid}"),
                            format!("no row in {}", short(ru)),
                        ))
                    }
                };
                let row = ts.complete_row(row_from_json(row, table)?, &cols);
                fresh.entry(table.clone()).or_default().insert(uuid, row);
            }
        }
        self.tables = fresh;
        Ok(self.full_state())
    }

    /// Applies an `update` / `update2` notification's table updates.
    pub fn apply_update(&mut self, updates: &Json) -> Result<TableUpdates, Error> {
        let obj = table_updates_obj(updates)?;
        // Work out every change first, so a malformed update changes nothing.
        let mut out: BTreeMap<String, BTreeMap<Uuid, RowUpdate>> = BTreeMap::new();
        for (table, rows) in obj {
            let (ts, cols) = self.table_info(table)?;
            let known = self.tables.get(table);
            for (uuid, ru) in rows_obj(table, rows)? {
                let old = known.and_then(|k| k.get(&uuid));
                let what = || format!("update of {table} row {uuid}");
                let change = match self.kind {
                    MonitorKind::Monitor => match (ru.get("new"), old) {
                        (Some(new), None) => {
                            RowUpdate::Insert(ts.complete_row(row_from_json(new, table)?, &cols))
                        }
                        (Some(new), Some(old)) => {
                            let mut row = old.clone();
                            for (c, v) in row_from_json(new, table)? {
                                let v = ts.columns.get(&c).map_or(v.clone(), |t| t.normalize(v));
                                row.insert(c, v);
                            }
                            RowUpdate::Modify {
                                old: old.clone(),
                                new: row,
                            }
                        }
                        (None, Some(old)) => RowUpdate::Delete(old.clone()),
                        (None, None) => continue, // deleting a row we never saw
                    },
                    MonitorKind::MonitorCond | MonitorKind::MonitorCondSince => {
                        let o = ru
                            .as_object()
                            .ok_or_else(|| Error::malformed(what(), "not an object"))?;
                        match (o.iter().next(), o.len(), old) {
                            (Some((k, r)), 1, None) if k == "insert" || k == "initial" => {
                                RowUpdate::Insert(ts.complete_row(row_from_json(r, table)?, &cols))
                            }
                            (Some((k, r)), 1, Some(old)) if k == "insert" || k == "initial" => {
                                RowUpdate::Modify {
                                    old: old.clone(),
                                    new: ts.complete_row(row_from_json(r, table)?, &cols),
                                }
                            }
                            (Some((k, diff)), 1, Some(old)) if k == "modify" => {
                                let new =
                                    apply_row_diff(ts, old, &row_from_json(diff, table)?, table)?;
                                RowUpdate::Modify {
                                    old: old.clone(),
                                    new,
                                }
                            }
                            (Some((k, _)), 1, None) if k == "modify" => {
                                return Err(Error::malformed(
                                    what(),
                                    "modify of a row never reported",
                                ))
                            }
                            (Some((k, _)), 1, Some(old)) if k == "delete" => {
                                RowUpdate::Delete(old.clone())
                            }
                            (Some((k, _)), 1, None) if k == "delete" => continue,
                            _ => {
                                return Err(Error::malformed(
                                    what(),
                                    format!("unknown row update {}", short(ru)),
                                ))
                            }
                        }
                    }
                };
                out.entry(table.clone()).or_default().insert(uuid, change);
            }
        }
        for (table, rows) in &out {
            let t = self.tables.entry(table.clone()).or_default();
            for (uuid, change) in rows {
                match change {
                    RowUpdate::Insert(r) | RowUpdate::Modify { new: r, .. } => {
                        t.insert(*uuid, r.clone());
                    }
                    RowUpdate::Delete(_) => {
                        t.remove(uuid);
                    }
                }
            }
        }
        Ok(TableUpdates {
            initial: false,
            tables: out,
        })
    }

    /// The rows currently known for `table`.
    pub fn rows(&self, table: &str) -> Option<&BTreeMap<Uuid, RowMap>> {
        self.tables.get(table)
    }
}

/// Applies one `update2` "modify" diff to a row (RFC 7047-bis §4.1.14): for a map or a
/// set that may hold several elements the diff lists what changes (a set element
/// present in both is removed, absent is added; a map key whose value equals the old
/// one is removed, otherwise set); every other column is sent as its new value.
pub fn apply_row_diff(
    ts: &TableSchema,
    old: &RowMap,
    diff: &RowMap,
    table: &str,
) -> Result<RowMap, Error> {
    let mut new = old.clone();
    for (col, d) in diff {
        let ty = ts.columns.get(col).ok_or_else(|| {
            Error::malformed(
                format!("update2 of {table}"),
                format!("unknown column {col}"),
            )
        })?;
        let cur = new.remove(col).unwrap_or_else(|| ty.default_value());
        new.insert(
            col.clone(),
            apply_value_diff(ty, cur, d.clone(), &format!("{table}.{col}"))?,
        );
    }
    Ok(new)
}

fn apply_value_diff(ty: &ColumnType, old: Value, diff: Value, what: &str) -> Result<Value, Error> {
    if !ty.is_composite() {
        return Ok(ty.normalize(diff));
    }
    match (ty.normalize(old), ty.normalize(diff)) {
        (Value::Map(mut m), Value::Map(d)) => {
            for (k, v) in d {
                if m.get(&k) == Some(&v) {
                    m.remove(&k);
                } else {
                    m.insert(k, v);
                }
            }
            Ok(Value::Map(m))
        }
        (Value::Set(mut s), Value::Set(d)) => {
            for a in d {
                if !s.remove(&a) {
                    s.insert(a);
                }
            }
            Ok(Value::Set(s))
        }
        (_, d) => Err(Error::malformed(
            what,
            format!("diff {} does not fit the column type", short(&d.to_json())),
        )),
    }
}

fn table_updates_obj(j: &Json) -> Result<&Map<String, Json>, Error> {
    j.as_object().ok_or_else(|| {
        Error::malformed(
            "monitor update",
            format!("table updates must be an object, got {}", short(j)),
        )
    })
}

fn rows_obj<'a>(table: &str, j: &'a Json) -> Result<Vec<(Uuid, &'a Json)>, Error> {
    let o = j.as_object().ok_or_else(|| {
        Error::malformed(
            format!("monitor update of {table}"),
            format!("not an object: {}", short(j)),
        )
    })?;
    o.iter()
        .map(|(u, r)| {
            let uuid = u.parse::<Uuid>().map_err(|_| {
                Error::malformed(
                    format!("monitor update of {table}"),
                    format!("row id {u:?} is not a UUID"),
                )
            })?;
            Ok((uuid, r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The Bridge columns' types, as OVS 3.1's vswitch.ovsschema declares them.
    fn schema() -> Arc<Schema> {
        Arc::new(
            Schema::from_json(&json!({"name": "Open_vSwitch", "version": "8.3.1", "tables": {"Bridge": {"columns": {
                "name": {"type": "string"},
                "datapath_type": {"type": "string"},
                "fail_mode": {"type": {"key": {"type": "string", "enum": ["set", ["standalone", "secure"]]}, "min": 0, "max": 1}},
                "protocols": {"type": {"key": {"type": "string"}, "min": 0, "max": "unlimited"}},
                "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}}
            }, "indexes": [["name"]]}}}))
            .unwrap(),
        )
    }

    const BR: &str = "285a5225-e8ed-484d-af86-f74146b279c1";

    fn j(s: &str) -> Json {
        serde_json::from_str(s).unwrap()
    }

    fn strings(v: &Value) -> BTreeSet<String> {
        v.strings().into_iter().collect()
    }

    /// The notifications below are the bytes ovsdb-server 3.1 sent for a sequence of
    /// `ovs-vsctl` commands (one per notification, named in the comments).
    #[test]
    fn update2_diffs_apply_to_whole_rows_as_the_server_meant() {
        let req = MonitorRequests::from([(
            "Bridge".to_owned(),
            MonitorRequest::columns(&[
                "name",
                "protocols",
                "other_config",
                "external_ids",
                "ports",
                "fail_mode",
                "datapath_type",
            ]),
        )]);
        let mut st = MonitorState::new(schema(), MonitorKind::MonitorCond, req).unwrap();
        let uuid: Uuid = BR.parse().unwrap();
        // add-br br0 -- set bridge br0 datapath_type=netdev protocols=OpenFlow13
        //   other_config:a=1 other_config:b=2 external_ids:x=y
        let init = st.apply_initial(&j(r#"{"Bridge":{"285a5225-e8ed-484d-af86-f74146b279c1":{"initial":{"datapath_type":"netdev","external_ids":["map",[["x","y"]]],"name":"br0","other_config":["map",[["a","1"],["b","2"]]],"ports":["uuid","5cd2aba3-e39d-4c63-b2d4-9daebad98724"],"protocols":"OpenFlow13"}}}}"#)).unwrap();
        assert!(init.initial);
        let RowUpdate::Insert(row) = &init.tables["Bridge"][&uuid] else {
            panic!("{init:?}")
        };
        assert_eq!(
            row["fail_mode"],
            Value::empty(),
            "omitted column gets its default"
        );
        assert_eq!(
            row["protocols"],
            Value::set(["OpenFlow13"]),
            "one-element set normalised"
        );
        assert_eq!(row["name"], Value::string("br0"));

        // set bridge br0 protocols=OpenFlow13,OpenFlow14 other_config:a=9 fail_mode=secure
        let u = st.apply_update(&j(r#"{"Bridge":{"285a5225-e8ed-484d-af86-f74146b279c1":{"modify":{"fail_mode":"secure","other_config":["map",[["a","9"]]],"protocols":"OpenFlow14"}}}}"#)).unwrap();
        let RowUpdate::Modify { new, .. } = &u.tables["Bridge"][&uuid] else {
            panic!("{u:?}")
        };
        assert_eq!(
            strings(&new["protocols"]),
            BTreeSet::from(["OpenFlow13".into(), "OpenFlow14".into()])
        );
        assert_eq!(
            new["other_config"].string_map_entries(),
            BTreeMap::from([("a".into(), "9".into()), ("b".into(), "2".into())])
        );
        assert_eq!(new["fail_mode"].as_str(), Some("secure"));

        // remove bridge br0 other_config b -- set bridge br0 protocols=OpenFlow14
        //   -- clear bridge br0 fail_mode -- set bridge br0 external_ids:x=z
        let u = st.apply_update(&j(r#"{"Bridge":{"285a5225-e8ed-484d-af86-f74146b279c1":{"modify":{"external_ids":["map",[["x","z"]]],"fail_mode":["set",[]],"other_config":["map",[["b","2"]]],"protocols":"OpenFlow13"}}}}"#)).unwrap();
        let RowUpdate::Modify { new, old } = &u.tables["Bridge"][&uuid] else {
            panic!("{u:?}")
        };
        assert_eq!(old["fail_mode"].as_str(), Some("secure"));
        assert_eq!(
            strings(&new["protocols"]),
            BTreeSet::from(["OpenFlow14".into()])
        );
        assert_eq!(
            new["other_config"].string_map_entries(),
            BTreeMap::from([("a".into(), "9".into())])
        );
        assert_eq!(
            new["external_ids"].string_map_entries(),
            BTreeMap::from([("x".into(), "z".into())])
        );
        assert_eq!(new["fail_mode"], Value::empty());

        // add-port br0 p1
        let u = st.apply_update(&j(r#"{"Bridge":{"285a5225-e8ed-484d-af86-f74146b279c1":{"modify":{"ports":["uuid","78b97919-5765-430d-82f0-578355b1552c"]}}}}"#)).unwrap();
        let RowUpdate::Modify { new, .. } = &u.tables["Bridge"][&uuid] else {
            panic!("{u:?}")
        };
        assert_eq!(new["ports"].uuids().len(), 2);
        assert_eq!(st.rows("Bridge").unwrap()[&uuid], *new);

        // del-br br0
        let u = st
            .apply_update(&j(
                r#"{"Bridge":{"285a5225-e8ed-484d-af86-f74146b279c1":{"delete":null}}}"#,
            ))
            .unwrap();
        assert!(
            matches!(&u.tables["Bridge"][&uuid], RowUpdate::Delete(r) if r["name"] == Value::string("br0"))
        );
        assert!(st.rows("Bridge").unwrap().is_empty());
    }

    #[test]
    fn malformed_updates_are_errors_and_change_nothing() {
        let req = MonitorRequests::from([("Bridge".to_owned(), MonitorRequest::all())]);
        let mut st = MonitorState::new(schema(), MonitorKind::MonitorCond, req).unwrap();
        st.apply_initial(&j(&format!(
            r#"{{"Bridge":{{"{BR}":{{"initial":{{"name":"br0"}}}}}}}}"#
        )))
        .unwrap();
        let before = st.rows("Bridge").unwrap().clone();
        for bad in [
            r#"[]"#.to_owned(),
            r#"{"Nope":{}}"#.to_owned(),
            r#"{"Bridge":{"not-a-uuid":{"delete":null}}}"#.to_owned(),
            format!(r#"{{"Bridge":{{"{BR}":{{"frob":{{}}}}}}}}"#),
            format!(r#"{{"Bridge":{{"{BR}":{{"modify":{{"nosuch":1}}}}}}}}"#),
            format!(r#"{{"Bridge":{{"{BR}":{{"modify":{{"ports":["map",[]]}}}}}}}}"#),
            r#"{"Bridge":{"00000000-0000-0000-0000-000000000001":{"modify":{"name":"x"}}}}"#
                .to_owned(),
        ] {
            assert!(st.apply_update(&j(&bad)).is_err(), "{bad}");
            assert_eq!(st.rows("Bridge").unwrap(), &before, "{bad}");
        }
        assert!(MonitorState::new(
            schema(),
            MonitorKind::Monitor,
            MonitorRequests::from([("Nope".into(), MonitorRequest::all())])
        )
        .is_err());
        assert!(MonitorState::new(
            schema(),
            MonitorKind::Monitor,
            MonitorRequests::from([("Bridge".into(), MonitorRequest::columns(&["nope"]))])
        )
        .is_err());
    }

    #[test]
    fn monitor_v1_updates_replace_columns() {
        let req = MonitorRequests::from([(
            "Bridge".to_owned(),
            MonitorRequest::columns(&["name", "fail_mode"]),
        )]);
        let mut st = MonitorState::new(schema(), MonitorKind::Monitor, req).unwrap();
        let uuid: Uuid = BR.parse().unwrap();
        st.apply_initial(&j(&format!(
            r#"{{"Bridge":{{"{BR}":{{"new":{{"name":"br0","fail_mode":["set",[]]}}}}}}}}"#
        )))
        .unwrap();
        let u = st
            .apply_update(&j(&format!(r#"{{"Bridge":{{"{BR}":{{"old":{{"fail_mode":["set",[]]}},"new":{{"name":"br0","fail_mode":"secure"}}}}}}}}"#)))
            .unwrap();
        let RowUpdate::Modify { new, .. } = &u.tables["Bridge"][&uuid] else {
            panic!("{u:?}")
        };
        assert_eq!(new["fail_mode"], Value::set(["secure"]));
        let u = st
            .apply_update(&j(&format!(
                r#"{{"Bridge":{{"{BR}":{{"old":{{"name":"br0"}}}}}}}}"#
            )))
            .unwrap();
        assert!(matches!(u.tables["Bridge"][&uuid], RowUpdate::Delete(_)));
    }
}
