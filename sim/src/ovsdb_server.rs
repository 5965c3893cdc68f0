//! A small RFC 7047 OVSDB server holding one `Open_vSwitch` database in memory, with a
//! simulated ovs-vswitchd that numbers interfaces and reports datapath ids.
//!
//! What it covers: `list_dbs`, `get_schema`, `transact` (insert with `uuid-name`, select,
//! update, mutate, delete, wait with timeout 0, comment, abort; all-or-nothing, with
//! referential integrity, unique indexes, set-size constraints and garbage collection of
//! unreferenced non-root rows), `monitor` (`update`), `monitor_cond` (`update2`),
//! `monitor_cond_since` (`update3`, always answering "not found", so the client takes the full
//! state), `monitor_cancel`, `echo` both ways, and `lock`/`steal`/`unlock` (always granted).
//!
//! What it is not: no `_version` column, no clustering, no waits that block, no weak
//! references (the trimmed schema has none), no SSL.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ovsdb::{Atom, ColumnType, RowMap, Schema, Uuid, Value};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// The trimmed Open_vSwitch schema (OVS 3.1, 8.3.1): the tables Switchyard touches.
pub const SCHEMA: &str = include_str!("../schema/vswitch.ovsschema");
/// The database name.
pub const DB: &str = "Open_vSwitch";
/// OpenFlow's local port, which a bridge's own internal interface gets.
pub const OFPP_LOCAL: i64 = 65534;

type Tables = BTreeMap<String, BTreeMap<Uuid, RowMap>>;

/// Where a column's UUIDs point (key side, value side of a map).
#[derive(Debug, Clone, Default)]
struct Refs {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Monitor,
    Cond,
    Since,
}

#[derive(Debug, Clone)]
struct SubTable {
    columns: Option<Vec<String>>,
    where_: Vec<Json>,
    initial: bool,
    insert: bool,
    delete: bool,
    modify: bool,
}

struct Sub {
    conn: u64,
    id: Json,
    kind: Kind,
    tables: BTreeMap<String, SubTable>,
    tx: mpsc::UnboundedSender<Json>,
}

/// One row's change in a commit.
struct Change {
    table: String,
    uuid: Uuid,
    old: Option<RowMap>,
    new: Option<RowMap>,
}

struct Inner {
    tables: Tables,
    subs: Vec<Sub>,
    next_uuid: u128,
    txn: u64,
}

/// An in-memory `Open_vSwitch` database with its server side. Cheap to share (`Arc`).
pub struct SimDb {
    schema: Schema,
    schema_json: Json,
    refs: BTreeMap<(String, String), Refs>,
    vswitchd: bool,
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
    transacts: AtomicU64,
    next_conn: AtomicU64,
}

impl std::fmt::Debug for SimDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDb")
            .field("transacts", &self.transacts())
            .finish_non_exhaustive()
    }
}

fn err(error: &str, details: impl Into<String>) -> Json {
    json!({"error": error, "details": details.into()})
}

impl SimDb {
    /// A database with one `Open_vSwitch` row (as `ovs-vsctl init` leaves it). With
    /// `vswitchd`, every commit is followed by what ovs-vswitchd would write back: interface
    /// `ofport`s, bridge `datapath_id`s, `cur_cfg`.
    pub fn new(vswitchd: bool) -> Arc<SimDb> {
        let db = SimDb::empty(vswitchd, 1);
        let r = db.transact(&[json!({"op": "insert", "table": "Open_vSwitch", "row": {}})]);
        debug_assert!(r[0].get("uuid").is_some(), "{r}");
        db
    }

    /// A database with no rows; `seed` varies the UUIDs it hands out.
    pub fn empty(vswitchd: bool, seed: u64) -> Arc<SimDb> {
        let schema_json: Json = serde_json::from_str(SCHEMA).expect("embedded schema is JSON");
        let schema = Schema::from_json(&schema_json).expect("embedded schema parses");
        let mut refs = BTreeMap::new();
        for (t, tj) in schema_json["tables"].as_object().into_iter().flatten() {
            for (c, cj) in tj["columns"].as_object().into_iter().flatten() {
                let side = |s: &str| {
                    cj["type"][s]
                        .get("refTable")
                        .and_then(Json::as_str)
                        .map(str::to_owned)
                };
                let r = Refs {
                    key: side("key"),
                    value: side("value"),
                };
                if r.key.is_some() || r.value.is_some() {
                    refs.insert((t.clone(), c.clone()), r);
                }
            }
        }
        let (changed, _) = watch::channel(0);
        Arc::new(SimDb {
            schema,
            schema_json,
            refs,
            vswitchd,
            inner: Mutex::new(Inner {
                tables: Tables::new(),
                subs: Vec::new(),
                next_uuid: u128::from(seed) << 64 | 0x5359_0000_0000_0000_0000_0000,
                txn: 0,
            }),
            changed,
            transacts: AtomicU64::new(0),
            next_conn: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `transact` calls received from network clients so far.
    pub fn transacts(&self) -> u64 {
        self.transacts.load(Ordering::Relaxed)
    }

    /// Goes up after every commit that changed something.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The rows of `table` (every column, defaults filled in).
    pub fn rows(&self, table: &str) -> Vec<(Uuid, RowMap)> {
        self.lock()
            .tables
            .get(table)
            .map(|t| t.iter().map(|(u, r)| (*u, r.clone())).collect())
            .unwrap_or_default()
    }

    /// Runs `f` on the rows of every table (table → UUID → row) without copying them.
    pub fn with_tables<R>(
        &self,
        f: impl FnOnce(&BTreeMap<String, BTreeMap<Uuid, RowMap>>) -> R,
    ) -> R {
        f(&self.lock().tables)
    }

    /// Runs a transaction's operations (the `params` of `transact` after the database
    /// name) and returns the result array, as a client would see it.
    pub fn transact(&self, ops: &[Json]) -> Json {
        let mut inner = self.lock();
        let (result, changes) = self.execute(&mut inner, ops);
        if !changes.is_empty() {
            self.publish(&mut inner, changes);
            if self.vswitchd {
                let changes = self.vswitchd_pass(&mut inner);
                if !changes.is_empty() {
                    self.publish(&mut inner, changes);
                }
            }
            drop(inner);
            self.changed.send_modify(|v| *v += 1);
        }
        result
    }

    fn fresh_uuid(inner: &mut Inner) -> Uuid {
        inner.next_uuid = inner.next_uuid.wrapping_add(1);
        // Spread the bits so UUIDs look like UUIDs and sort unpredictably, as real ones do.
        let x = inner
            .next_uuid
            .wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        Uuid(x ^ (x >> 61))
    }

    fn col_type(&self, table: &str, col: &str) -> Option<&ColumnType> {
        self.schema.tables.get(table)?.columns.get(col)
    }

    fn default_row(&self, table: &str) -> RowMap {
        self.schema.tables[table]
            .columns
            .iter()
            .map(|(c, t)| (c.clone(), t.default_value()))
            .collect()
    }

    /// Parses a value for `table.col`, resolving named UUIDs, in the column's one form.
    fn value(
        &self,
        table: &str,
        col: &str,
        j: &Json,
        names: &HashMap<String, Uuid>,
    ) -> Result<Value, Json> {
        let what = format!("{table}.{col}");
        let ty = if col == "_uuid" {
            None
        } else {
            Some(self.col_type(table, col).ok_or_else(|| {
                err(
                    "unknown column",
                    format!("{col} is not a column of table {table}"),
                )
            })?)
        };
        let v = Value::from_json(j, &what).map_err(|e| err("syntax error", e.to_string()))?;
        let resolve = |a: Atom| -> Result<Atom, Json> {
            match a {
                Atom::NamedUuid(n) => names.get(&n).map(|u| Atom::Uuid(*u)).ok_or_else(|| {
                    err(
                        "referential integrity violation",
                        format!("named-uuid {n} is not the uuid-name of any insert"),
                    )
                }),
                a => Ok(a),
            }
        };
        let v = match v {
            Value::Atom(a) => Value::Atom(resolve(a)?),
            Value::Set(s) => Value::Set(s.into_iter().map(resolve).collect::<Result<_, _>>()?),
            Value::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| Ok((resolve(k)?, resolve(v)?)))
                    .collect::<Result<_, Json>>()?,
            ),
        };
        Ok(match ty {
            Some(t) => t.normalize(v),
            None => v,
        })
    }

    fn parse_where(
        &self,
        table: &str,
        conds: &Json,
        names: &HashMap<String, Uuid>,
    ) -> Result<Vec<(String, String, Value)>, Json> {
        let Some(arr) = conds.as_array() else {
            return Err(err("syntax error", "where must be an array"));
        };
        arr.iter()
            .map(|c| match c.as_array().map(Vec::as_slice) {
                Some([Json::String(col), Json::String(f), v]) => {
                    Ok((col.clone(), f.clone(), self.value(table, col, v, names)?))
                }
                _ => Err(err("syntax error", format!("bad condition {c}"))),
            })
            .collect()
    }

    fn matches(uuid: Uuid, row: &RowMap, conds: &[(String, String, Value)]) -> bool {
        conds.iter().all(|(col, f, want)| {
            let have = if col == "_uuid" {
                Value::uuid(uuid)
            } else {
                row.get(col).cloned().unwrap_or_else(Value::empty)
            };
            cond_holds(&have, f, want)
        })
    }

    fn project(uuid: Uuid, row: &RowMap, cols: Option<&[String]>) -> Json {
        let mut o = serde_json::Map::new();
        match cols {
            Some(cols) => {
                for c in cols {
                    if c == "_uuid" {
                        o.insert(c.clone(), wire(&Value::uuid(uuid)));
                    } else if let Some(v) = row.get(c) {
                        o.insert(c.clone(), wire(v));
                    }
                }
            }
            None => {
                o.insert("_uuid".into(), wire(&Value::uuid(uuid)));
                for (c, v) in row {
                    o.insert(c.clone(), wire(v));
                }
            }
        }
        Json::Object(o)
    }

    /// Runs `ops` on a copy of the tables; commits the copy if every operation and the
    /// commit checks succeed. Returns the result array and what changed.
    fn execute(&self, inner: &mut Inner, ops: &[Json]) -> (Json, Vec<Change>) {
        let mut names: HashMap<String, Uuid> = HashMap::new();
        // Named UUIDs may be used anywhere in the transaction.
        for op in ops {
            if op.get("op").and_then(Json::as_str) == Some("insert") {
                if let Some(n) = op.get("uuid-name").and_then(Json::as_str) {
                    let u = match op.get("uuid").and_then(Json::as_str) {
                        Some(s) => s.parse().unwrap_or_else(|_| SimDb::fresh_uuid(inner)),
                        None => SimDb::fresh_uuid(inner),
                    };
                    names.insert(n.to_owned(), u);
                }
            }
        }
        let mut work = inner.tables.clone();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match self.op(inner, &mut work, op, &names) {
                Ok(r) => results.push(r),
                Err(e) => {
                    results.push(e);
                    return (Json::Array(results), Vec::new());
                }
            }
        }
        if let Err(e) = self.commit_checks(&mut work) {
            results.push(e);
            return (Json::Array(results), Vec::new());
        }
        let changes = diff_tables(&inner.tables, &work);
        inner.tables = work;
        if !changes.is_empty() {
            inner.txn += 1;
        }
        (Json::Array(results), changes)
    }

    fn op(
        &self,
        inner: &mut Inner,
        work: &mut Tables,
        op: &Json,
        names: &HashMap<String, Uuid>,
    ) -> Result<Json, Json> {
        let kind = op
            .get("op")
            .and_then(Json::as_str)
            .ok_or_else(|| err("syntax error", "operation without \"op\""))?;
        if kind == "comment" {
            return Ok(json!({}));
        }
        if kind == "abort" {
            return Err(err("aborted", "aborted by request"));
        }
        if kind == "assert" {
            return Ok(json!({}));
        }
        let table = op
            .get("table")
            .and_then(Json::as_str)
            .ok_or_else(|| err("syntax error", format!("{kind} without \"table\"")))?;
        if !self.schema.tables.contains_key(table) {
            return Err(err("unknown table", format!("no table named {table}")));
        }
        let where_ = |key: &str| -> Result<Vec<(String, String, Value)>, Json> {
            match op.get(key) {
                Some(w) => self.parse_where(table, w, names),
                None if kind == "insert" => Ok(Vec::new()),
                None => Err(err("syntax error", format!("{kind} without \"where\""))),
            }
        };
        let row_of = |j: Option<&Json>| -> Result<RowMap, Json> {
            let Some(obj) = j.and_then(Json::as_object) else {
                return Ok(RowMap::new());
            };
            obj.iter()
                .map(|(c, v)| {
                    if c.starts_with('_') {
                        return Err(err("constraint violation", format!("{c} is read-only")));
                    }
                    Ok((c.clone(), self.value(table, c, v, names)?))
                })
                .collect()
        };
        let rows = work.entry(table.to_owned()).or_default();
        match kind {
            "insert" => {
                let uuid = match op.get("uuid-name").and_then(Json::as_str) {
                    Some(n) => names[n],
                    None => match op.get("uuid").and_then(Json::as_str) {
                        Some(s) => s.parse().map_err(|_| err("syntax error", "bad uuid"))?,
                        None => SimDb::fresh_uuid(inner),
                    },
                };
                if rows.contains_key(&uuid) {
                    return Err(err("duplicate uuid", uuid.to_string()));
                }
                let mut row = self.default_row(table);
                row.extend(row_of(op.get("row"))?);
                rows.insert(uuid, row);
                Ok(json!({"uuid": ["uuid", uuid.to_string()]}))
            }
            "select" => {
                let conds = where_("where")?;
                let cols: Option<Vec<String>> =
                    op.get("columns").and_then(Json::as_array).map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    });
                let out: Vec<Json> = rows
                    .iter()
                    .filter(|(u, r)| SimDb::matches(**u, r, &conds))
                    .map(|(u, r)| SimDb::project(*u, r, cols.as_deref()))
                    .collect();
                Ok(json!({"rows": out}))
            }
            "update" => {
                let conds = where_("where")?;
                let set = row_of(op.get("row"))?;
                let mut n = 0;
                for (u, r) in rows.iter_mut() {
                    if SimDb::matches(*u, r, &conds) {
                        r.extend(set.clone());
                        n += 1;
                    }
                }
                Ok(json!({"count": n}))
            }
            "mutate" => {
                let conds = where_("where")?;
                let muts = op
                    .get("mutations")
                    .and_then(Json::as_array)
                    .ok_or_else(|| err("syntax error", "mutate without mutations"))?;
                let mut parsed = Vec::new();
                for m in muts {
                    match m.as_array().map(Vec::as_slice) {
                        Some([Json::String(c), Json::String(f), v]) => {
                            let ty = self.col_type(table, c).ok_or_else(|| {
                                err("unknown column", format!("{c} is not a column of {table}"))
                            })?;
                            // A map "delete" may name keys only (a set).
                            let val = if f == "delete" && ty.is_map() {
                                let raw = Value::from_json(v, c)
                                    .map_err(|e| err("syntax error", e.to_string()))?;
                                match raw {
                                    Value::Map(_) => self.value(table, c, v, names)?,
                                    other => other,
                                }
                            } else if ["+=", "-=", "*=", "/=", "%="].contains(&f.as_str()) {
                                Value::from_json(v, c)
                                    .map_err(|e| err("syntax error", e.to_string()))?
                            } else {
                                self.value(table, c, v, names)?
                            };
                            parsed.push((c.clone(), f.clone(), val, ty.clone()));
                        }
                        _ => return Err(err("syntax error", format!("bad mutation {m}"))),
                    }
                }
                let mut n = 0;
                for (u, r) in rows.iter_mut() {
                    if !SimDb::matches(*u, r, &conds) {
                        continue;
                    }
                    for (c, f, v, ty) in &parsed {
                        let cur = r.remove(c).unwrap_or_else(|| ty.default_value());
                        r.insert(c.clone(), mutate(ty, cur, f, v)?);
                    }
                    n += 1;
                }
                Ok(json!({"count": n}))
            }
            "delete" => {
                let conds = where_("where")?;
                let before = rows.len();
                rows.retain(|u, r| !SimDb::matches(*u, r, &conds));
                Ok(json!({"count": before - rows.len()}))
            }
            "wait" => {
                let conds = where_("where")?;
                let cols: Vec<String> = op
                    .get("columns")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let until = op.get("until").and_then(Json::as_str).unwrap_or("==");
                let want: Vec<BTreeMap<String, Value>> = op
                    .get("rows")
                    .and_then(Json::as_array)
                    .map(|rs| {
                        rs.iter()
                            .map(|r| {
                                cols.iter()
                                    .map(|c| {
                                        let v = r.get(c).cloned().unwrap_or(json!(["set", []]));
                                        Ok((c.clone(), self.value(table, c, &v, names)?))
                                    })
                                    .collect::<Result<BTreeMap<_, _>, Json>>()
                            })
                            .collect::<Result<Vec<_>, Json>>()
                    })
                    .transpose()?
                    .unwrap_or_default();
                let mut have: Vec<BTreeMap<String, Value>> = rows
                    .iter()
                    .filter(|(u, r)| SimDb::matches(**u, r, &conds))
                    .map(|(u, r)| {
                        cols.iter()
                            .map(|c| {
                                let v = if c == "_uuid" {
                                    Value::uuid(*u)
                                } else {
                                    r.get(c).cloned().unwrap_or_else(Value::empty)
                                };
                                (c.clone(), v)
                            })
                            .collect()
                    })
                    .collect();
                let mut want = want;
                have.sort();
                want.sort();
                let equal = have == want;
                if (until == "==") == equal {
                    Ok(json!({}))
                } else {
                    // RFC 7047 §5.2.6: with timeout 0 an unmet wait fails at once. Longer
                    // timeouts are not simulated (they fail at once too).
                    Err(err("timed out", format!("wait on {table} not satisfied")))
                }
            }
            other => Err(err("unknown operation", format!("no operation {other}"))),
        }
    }

    /// Referential integrity, garbage collection, set sizes, unique indexes.
    fn commit_checks(&self, work: &mut Tables) -> Result<(), Json> {
        // Strong references must point at rows that exist.
        for ((t, c), r) in &self.refs {
            for (u, row) in work.get(t).into_iter().flatten() {
                let Some(v) = row.get(c) else { continue };
                for (side, target) in [(true, &r.key), (false, &r.value)] {
                    let Some(target) = target else { continue };
                    for id in ref_uuids(v, side) {
                        if !work.get(target).is_some_and(|rows| rows.contains_key(&id)) {
                            return Err(err(
                                "referential integrity violation",
                                format!("row {u} in {t}.{c} references missing {target} row {id}"),
                            ));
                        }
                    }
                }
            }
        }
        // Non-root rows nobody references are deleted.
        loop {
            let mut referenced: BTreeSet<Uuid> = BTreeSet::new();
            for ((t, c), r) in &self.refs {
                for row in work.get(t).into_iter().flat_map(BTreeMap::values) {
                    if let Some(v) = row.get(c) {
                        if r.key.is_some() {
                            referenced.extend(ref_uuids(v, true));
                        }
                        if r.value.is_some() {
                            referenced.extend(ref_uuids(v, false));
                        }
                    }
                }
            }
            let mut removed = false;
            for (t, ts) in &self.schema.tables {
                if ts.is_root {
                    continue;
                }
                if let Some(rows) = work.get_mut(t) {
                    let before = rows.len();
                    rows.retain(|u, _| referenced.contains(u));
                    removed |= rows.len() != before;
                }
            }
            if !removed {
                break;
            }
            // References from deleted rows are gone: drop them from surviving rows' sets
            // only through another pass (strong refs keep their targets alive, so a pass
            // can only delete rows whose referrers were deleted too).
        }
        for (t, rows) in work.iter() {
            let Some(ts) = self.schema.tables.get(t) else {
                continue;
            };
            for (u, row) in rows {
                for (c, ty) in &ts.columns {
                    let n = match row.get(c) {
                        Some(Value::Atom(_)) => 1,
                        Some(Value::Set(s)) => s.len() as u64,
                        Some(Value::Map(m)) => m.len() as u64,
                        None => 0,
                    };
                    if n < ty.min || ty.max.is_some_and(|m| n > m) {
                        return Err(err(
                            "constraint violation",
                            format!("{t} row {u} column {c} has {n} elements"),
                        ));
                    }
                }
            }
            for ix in &ts.indexes {
                let mut seen = BTreeSet::new();
                for row in rows.values() {
                    let key: Vec<Option<&Value>> = ix.iter().map(|c| row.get(c)).collect();
                    if !seen.insert(key) {
                        return Err(err(
                            "constraint violation",
                            format!("duplicate {t} index ({}) value", ix.join(", ")),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// What ovs-vswitchd writes back: `ofport`s (the `ofport_request` if free, else the
    /// lowest free number; a bridge's own interface is LOCAL), `datapath_id` from
    /// `other_config:datapath-id`, `cur_cfg = next_cfg`.
    fn vswitchd_pass(&self, inner: &mut Inner) -> Vec<Change> {
        let mut work = inner.tables.clone();
        let ports = work.get("Port").cloned().unwrap_or_default();
        let bridges = work.get("Bridge").cloned().unwrap_or_default();
        let ifaces = work.entry("Interface".into()).or_default();
        for (bu, br) in &bridges {
            let bname = br.get("name").and_then(Value::as_str).unwrap_or_default();
            let members: Vec<Uuid> = br
                .get("ports")
                .map(Value::uuids)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| ports.get(p))
                .flat_map(|p| p.get("interfaces").map(Value::uuids).unwrap_or_default())
                .collect();
            let ofport = |r: &RowMap| r.get("ofport").and_then(Value::as_i64).filter(|p| *p > 0);
            let mut used: BTreeSet<i64> = members
                .iter()
                .filter_map(|i| ifaces.get(i).and_then(ofport))
                .collect();
            for i in &members {
                let Some(row) = ifaces.get_mut(i) else {
                    continue;
                };
                let name = row.get("name").and_then(Value::as_str).unwrap_or_default();
                let request = row.get("ofport_request").and_then(Value::as_i64);
                let have = ofport(row);
                let want = if name == bname {
                    Some(OFPP_LOCAL)
                } else {
                    match (have, request) {
                        (Some(h), Some(r)) if h == r => None,
                        (_, Some(r)) if !used.contains(&r) => Some(r),
                        (Some(_), _) => None,
                        (None, _) => (1..).find(|p| !used.contains(p)),
                    }
                };
                if let Some(p) = want.filter(|p| Some(*p) != have) {
                    if let Some(h) = have {
                        used.remove(&h);
                    }
                    used.insert(p);
                    row.insert(
                        "ofport".into(),
                        Value::Set(BTreeSet::from([Atom::Integer(p)])),
                    );
                }
            }
            let _ = bu;
        }
        if let Some(brs) = work.get_mut("Bridge") {
            for (u, br) in brs.iter_mut() {
                let want = br
                    .get("other_config")
                    .map(Value::string_map_entries)
                    .and_then(|m| m.get("datapath-id").cloned())
                    .unwrap_or_else(|| format!("{:016x}", u.0 as u64 & 0x0000_ffff_ffff_ffff));
                let v = Value::Set(BTreeSet::from([Atom::String(want)]));
                if br.get("datapath_id") != Some(&v) {
                    br.insert("datapath_id".into(), v);
                }
            }
        }
        if let Some(ovs) = work.get_mut("Open_vSwitch") {
            for row in ovs.values_mut() {
                let next = row.get("next_cfg").cloned().unwrap_or(Value::integer(0));
                if row.get("cur_cfg") != Some(&next) {
                    row.insert("cur_cfg".into(), next);
                }
            }
        }
        let changes = diff_tables(&inner.tables, &work);
        inner.tables = work;
        if !changes.is_empty() {
            inner.txn += 1;
        }
        changes
    }

    fn txn_id(txn: u64) -> String {
        Uuid(u128::from(txn) | 0x5359 << 112).to_string()
    }

    /// Sends every monitor the part of `changes` it asked for.
    fn publish(&self, inner: &mut Inner, changes: Vec<Change>) {
        inner.subs.retain(|s| !s.tx.is_closed());
        let txn = SimDb::txn_id(inner.txn);
        for sub in &inner.subs {
            let mut out = serde_json::Map::new();
            for ch in &changes {
                let Some(st) = sub.tables.get(&ch.table) else {
                    continue;
                };
                let Ok(conds) =
                    self.parse_where(&ch.table, &Json::Array(st.where_.clone()), &HashMap::new())
                else {
                    continue;
                };
                let old = ch
                    .old
                    .as_ref()
                    .filter(|r| SimDb::matches(ch.uuid, r, &conds));
                let new = ch
                    .new
                    .as_ref()
                    .filter(|r| SimDb::matches(ch.uuid, r, &conds));
                let cols = |r: &RowMap| -> RowMap {
                    match &st.columns {
                        Some(cs) => cs
                            .iter()
                            .filter_map(|c| Some((c.clone(), r.get(c)?.clone())))
                            .collect(),
                        None => r.clone(),
                    }
                };
                let ru = match (old, new) {
                    (None, Some(n)) if st.insert => match sub.kind {
                        Kind::Monitor => json!({"new": row_json(&cols(n))}),
                        _ => json!({"insert": row_json(&self.non_default(&ch.table, &cols(n)))}),
                    },
                    (Some(o), None) if st.delete => match sub.kind {
                        Kind::Monitor => json!({"old": row_json(&cols(o))}),
                        _ => json!({"delete": null}),
                    },
                    (Some(o), Some(n)) if st.modify => {
                        let (o, n) = (cols(o), cols(n));
                        let changed: Vec<&String> =
                            n.keys().filter(|c| o.get(*c) != n.get(*c)).collect();
                        if changed.is_empty() {
                            continue;
                        }
                        match sub.kind {
                            Kind::Monitor => {
                                let old: RowMap = changed
                                    .iter()
                                    .filter_map(|c| Some(((*c).clone(), o.get(*c)?.clone())))
                                    .collect();
                                json!({"old": row_json(&old), "new": row_json(&n)})
                            }
                            _ => {
                                let mut diff = serde_json::Map::new();
                                for c in changed {
                                    let ty = self.col_type(&ch.table, c);
                                    diff.insert(c.clone(), wire(&value_diff(ty, o.get(c), &n[c])));
                                }
                                json!({"modify": Json::Object(diff)})
                            }
                        }
                    }
                    _ => continue,
                };
                out.entry(ch.table.clone())
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("object")
                    .insert(ch.uuid.to_string(), ru);
            }
            if out.is_empty() {
                continue;
            }
            let msg = match sub.kind {
                Kind::Monitor => json!({"id": null, "method": "update", "params": [sub.id, out]}),
                Kind::Cond => json!({"id": null, "method": "update2", "params": [sub.id, out]}),
                Kind::Since => {
                    json!({"id": null, "method": "update3", "params": [sub.id, txn, out]})
                }
            };
            let _ = sub.tx.send(msg);
        }
    }

    fn non_default(&self, table: &str, row: &RowMap) -> RowMap {
        row.iter()
            .filter(|(c, v)| {
                self.col_type(table, c)
                    .is_none_or(|t| !t.default_value().same_as(v))
            })
            .map(|(c, v)| (c.clone(), v.clone()))
            .collect()
    }

    /// Starts a monitor for connection `conn`; returns the reply's result.
    fn monitor(
        &self,
        conn: u64,
        kind: Kind,
        params: &[Json],
        tx: &mpsc::UnboundedSender<Json>,
    ) -> Result<Json, Json> {
        let (db, id, reqs) = match params {
            [Json::String(db), id, reqs, ..] => (db, id, reqs),
            _ => return Err(json!("bad monitor params")),
        };
        if db != DB {
            return Err(json!(format!("unknown database {db}")));
        }
        let reqs = reqs
            .as_object()
            .ok_or_else(|| json!("monitor requests must be an object"))?;
        let mut tables = BTreeMap::new();
        for (t, r) in reqs {
            if !self.schema.tables.contains_key(t) {
                return Err(json!(format!("unknown table {t}")));
            }
            // One request or an array of them; we merge an array's first element.
            let r = match r {
                Json::Array(a) => a.first().cloned().unwrap_or(json!({})),
                other => other.clone(),
            };
            let columns: Option<Vec<String>> = r.get("columns").and_then(Json::as_array).map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            });
            for c in columns.iter().flatten() {
                if self.col_type(t, c).is_none() {
                    return Err(json!(format!("table {t} has no column {c}")));
                }
            }
            let sel = |k: &str| r["select"].get(k).and_then(Json::as_bool).unwrap_or(true);
            tables.insert(
                t.clone(),
                SubTable {
                    columns,
                    where_: r
                        .get("where")
                        .and_then(Json::as_array)
                        .cloned()
                        .unwrap_or_default(),
                    initial: sel("initial"),
                    insert: sel("insert"),
                    delete: sel("delete"),
                    modify: sel("modify"),
                },
            );
        }
        let mut inner = self.lock();
        let mut initial = serde_json::Map::new();
        for (t, st) in &tables {
            if !st.initial {
                continue;
            }
            let conds = self
                .parse_where(t, &Json::Array(st.where_.clone()), &HashMap::new())
                .map_err(|e| json!(e.to_string()))?;
            let mut rows = serde_json::Map::new();
            for (u, r) in inner.tables.get(t).into_iter().flatten() {
                if !SimDb::matches(*u, r, &conds) {
                    continue;
                }
                let row: RowMap = match &st.columns {
                    Some(cs) => cs
                        .iter()
                        .filter_map(|c| Some((c.clone(), r.get(c)?.clone())))
                        .collect(),
                    None => r.clone(),
                };
                let key = if kind == Kind::Monitor {
                    "new"
                } else {
                    "initial"
                };
                rows.insert(u.to_string(), json!({ key: row_json(&row) }));
            }
            if !rows.is_empty() {
                initial.insert(t.clone(), Json::Object(rows));
            }
        }
        inner.subs.push(Sub {
            conn,
            id: id.clone(),
            kind,
            tables,
            tx: tx.clone(),
        });
        let initial = Json::Object(initial);
        Ok(match kind {
            Kind::Since => json!([false, SimDb::txn_id(inner.txn), initial]),
            _ => initial,
        })
    }

    fn cancel(&self, conn: u64, id: &Json) -> bool {
        let mut inner = self.lock();
        let before = inner.subs.len();
        inner.subs.retain(|s| !(s.conn == conn && &s.id == id));
        inner.subs.len() != before
    }

    /// Serves clients on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let db = self.clone();
            tokio::spawn(async move { db.connection(stream).await });
        }
    }

    /// One client connection: JSON-RPC requests in, replies and notifications out.
    pub async fn connection(self: Arc<Self>, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Json>();
        let writer = tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Some(m) = rx.recv().await {
                buf.clear();
                let _ = serde_json::to_writer(&mut buf, &m);
                // Write whatever else is queued in the same syscall.
                while let Ok(m) = rx.try_recv() {
                    let _ = serde_json::to_writer(&mut buf, &m);
                }
                if wr.write_all(&buf).await.is_err() {
                    return;
                }
            }
        });
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 65536];
        // RFC 7047 §4.1.11: the server probes an idle client with echo.
        let probe = Duration::from_secs(5);
        'conn: loop {
            let n = match tokio::time::timeout(probe, rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => n,
                Err(_) => {
                    let _ = tx.send(json!({"id": "echo", "method": "echo", "params": []}));
                    continue;
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut consumed = 0;
            {
                let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Json>();
                loop {
                    match it.next() {
                        Some(Ok(msg)) => {
                            consumed = it.byte_offset();
                            if let Some(reply) = self.handle(conn, msg, &tx) {
                                let _ = tx.send(reply);
                            }
                        }
                        Some(Err(e)) if e.is_eof() => break,
                        Some(Err(_)) => break 'conn,
                        None => {
                            consumed = it.byte_offset();
                            break;
                        }
                    }
                }
            }
            buf.drain(..consumed);
        }
        self.lock().subs.retain(|s| s.conn != conn);
        drop(tx);
        let _ = writer.await;
    }

    fn handle(&self, conn: u64, msg: Json, tx: &mpsc::UnboundedSender<Json>) -> Option<Json> {
        let method = msg.get("method").and_then(Json::as_str)?;
        let id = msg.get("id").cloned().unwrap_or(Json::Null);
        let empty = Vec::new();
        let params = msg.get("params").and_then(Json::as_array).unwrap_or(&empty);
        let reply = |r: Result<Json, Json>| match r {
            Ok(result) => json!({"id": id, "result": result, "error": null}),
            Err(error) => json!({"id": id, "result": null, "error": error}),
        };
        if id.is_null() {
            // A notification (e.g. a reply to our echo has no method): nothing to answer.
            return None;
        }
        Some(match method {
            "echo" => reply(Ok(Json::Array(params.clone()))),
            "list_dbs" => reply(Ok(json!([DB]))),
            "get_schema" => match params.first().and_then(Json::as_str) {
                Some(DB) => reply(Ok(self.schema_json.clone())),
                _ => reply(Err(json!("unknown database"))),
            },
            "transact" => {
                self.transacts.fetch_add(1, Ordering::Relaxed);
                match params.first().and_then(Json::as_str) {
                    Some(DB) => reply(Ok(self.transact(&params[1..]))),
                    _ => reply(Err(json!("unknown database"))),
                }
            }
            "monitor" => reply(self.monitor(conn, Kind::Monitor, params, tx)),
            "monitor_cond" => reply(self.monitor(conn, Kind::Cond, params, tx)),
            "monitor_cond_since" => reply(self.monitor(conn, Kind::Since, params, tx)),
            "monitor_cancel" => {
                if params.first().is_some_and(|m| self.cancel(conn, m)) {
                    reply(Ok(json!({})))
                } else {
                    reply(Err(json!("unknown monitor")))
                }
            }
            "lock" | "steal" => reply(Ok(json!({"locked": true}))),
            "unlock" => reply(Ok(json!({}))),
            "set_db_change_aware" => reply(Ok(json!({}))),
            other => reply(Err(json!(format!("unknown method {other}")))),
        })
    }
}

/// A value as ovsdb-server writes it: a set of exactly one element as the bare atom.
fn wire(v: &Value) -> Json {
    match v {
        Value::Set(s) if s.len() == 1 => s.iter().next().map(Atom::to_json).unwrap_or(Json::Null),
        other => other.to_json(),
    }
}

fn row_json(row: &RowMap) -> Json {
    Json::Object(row.iter().map(|(k, v)| (k.clone(), wire(v))).collect())
}

/// The UUIDs in a value's keys (`key`) or map values (`!key`).
fn ref_uuids(v: &Value, key: bool) -> Vec<Uuid> {
    match v {
        Value::Atom(a) if key => a.as_uuid().into_iter().collect(),
        Value::Set(s) if key => s.iter().filter_map(Atom::as_uuid).collect(),
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| if key { k.as_uuid() } else { v.as_uuid() })
            .collect(),
        _ => Vec::new(),
    }
}

fn elements(v: &Value) -> BTreeSet<Atom> {
    match v {
        Value::Atom(a) => BTreeSet::from([a.clone()]),
        Value::Set(s) => s.clone(),
        Value::Map(_) => BTreeSet::new(),
    }
}

fn cond_holds(have: &Value, f: &str, want: &Value) -> bool {
    match f {
        "==" => have.same_as(want),
        "!=" => !have.same_as(want),
        "includes" => match (have, want) {
            (Value::Map(h), Value::Map(w)) => w.iter().all(|(k, v)| h.get(k) == Some(v)),
            (_, Value::Map(w)) => w.is_empty(),
            _ => elements(want).is_subset(&elements(have)),
        },
        "excludes" => match (have, want) {
            (Value::Map(h), Value::Map(w)) => w.iter().all(|(k, v)| h.get(k) != Some(v)),
            _ => elements(want).is_disjoint(&elements(have)),
        },
        "<" | "<=" | ">" | ">=" => match (have.as_i64(), want.as_i64()) {
            (Some(a), Some(b)) => match f {
                "<" => a < b,
                "<=" => a <= b,
                ">" => a > b,
                _ => a >= b,
            },
            _ => false,
        },
        _ => false,
    }
}

fn mutate(ty: &ColumnType, cur: Value, f: &str, v: &Value) -> Result<Value, Json> {
    let bad = || {
        err(
            "constraint violation",
            format!("mutator {f} does not fit the column"),
        )
    };
    match f {
        "insert" => match (cur, v) {
            (Value::Map(mut m), Value::Map(add)) => {
                for (k, val) in add {
                    m.entry(k.clone()).or_insert_with(|| val.clone());
                }
                Ok(Value::Map(m))
            }
            (Value::Set(s), Value::Map(add)) if s.is_empty() && ty.is_map() => {
                Ok(Value::Map(add.clone()))
            }
            (cur, add) if !ty.is_map() => {
                let mut s = elements(&cur);
                s.extend(elements(add));
                Ok(ty.normalize(Value::Set(s)))
            }
            _ => Err(bad()),
        },
        "delete" => match (cur, v) {
            (Value::Map(mut m), Value::Map(del)) => {
                for (k, val) in del {
                    if m.get(k) == Some(val) {
                        m.remove(k);
                    }
                }
                Ok(Value::Map(m))
            }
            (Value::Map(mut m), keys) => {
                for k in elements(keys) {
                    m.remove(&k);
                }
                Ok(Value::Map(m))
            }
            (cur, del) => {
                let mut s = elements(&cur);
                for a in elements(del) {
                    s.remove(&a);
                }
                Ok(ty.normalize(Value::Set(s)))
            }
        },
        "+=" | "-=" | "*=" | "/=" | "%=" => {
            let by = v.as_i64().ok_or_else(bad)?;
            let apply = |a: &Atom| -> Result<Atom, Json> {
                let Atom::Integer(x) = a else {
                    return Err(bad());
                };
                Ok(Atom::Integer(match f {
                    "+=" => x.wrapping_add(by),
                    "-=" => x.wrapping_sub(by),
                    "*=" => x.wrapping_mul(by),
                    "/=" if by != 0 => x / by,
                    "%=" if by != 0 => x % by,
                    _ => return Err(err("domain error", "division by zero")),
                }))
            };
            match cur {
                Value::Atom(a) => Ok(Value::Atom(apply(&a)?)),
                Value::Set(s) => Ok(Value::Set(s.iter().map(apply).collect::<Result<_, _>>()?)),
                Value::Map(_) => Err(bad()),
            }
        }
        _ => Err(err("syntax error", format!("unknown mutator {f}"))),
    }
}

/// An `update2` diff for one column (RFC 7047-bis §4.1.14): for maps and multi-element
/// sets, what to toggle; for everything else, the new value.
fn value_diff(ty: Option<&ColumnType>, old: Option<&Value>, new: &Value) -> Value {
    let Some(ty) = ty.filter(|t| t.is_composite()) else {
        return new.clone();
    };
    let old = old.cloned().unwrap_or_else(|| ty.default_value());
    match (ty.normalize(old), ty.normalize(new.clone())) {
        (Value::Map(o), Value::Map(n)) => {
            let mut d = BTreeMap::new();
            for (k, v) in &o {
                match n.get(k) {
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                    Some(nv) if nv != v => {
                        d.insert(k.clone(), nv.clone());
                    }
                    _ => {}
                }
            }
            for (k, v) in &n {
                if !o.contains_key(k) {
                    d.insert(k.clone(), v.clone());
                }
            }
            Value::Map(d)
        }
        (Value::Set(o), Value::Map(n)) if o.is_empty() => Value::Map(n),
        (Value::Map(o), Value::Set(n)) if n.is_empty() => Value::Map(o),
        (o, n) => {
            let (o, n) = (elements(&o), elements(&n));
            Value::Set(o.symmetric_difference(&n).cloned().collect())
        }
    }
}

fn diff_tables(old: &Tables, new: &Tables) -> Vec<Change> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let none = BTreeMap::new();
    for t in names {
        let (o, n) = (old.get(t).unwrap_or(&none), new.get(t).unwrap_or(&none));
        for (u, r) in o {
            match n.get(u) {
                None => out.push(Change {
                    table: t.clone(),
                    uuid: *u,
                    old: Some(r.clone()),
                    new: None,
                }),
                Some(nr) if nr != r => out.push(Change {
                    table: t.clone(),
                    uuid: *u,
                    old: Some(r.clone()),
                    new: Some(nr.clone()),
                }),
                _ => {}
            }
        }
        for (u, r) in n {
            if !o.contains_key(u) {
                out.push(Change {
                    table: t.clone(),
                    uuid: *u,
                    old: None,
                    new: Some(r.clone()),
                });
            }
        }
    }
    out
}
