//! Transaction operations (RFC 7047 §5.2) and their results.

use serde_json::{json, Map, Value as Json};

use crate::value::{row_from_json, row_to_json, short, RowMap, Uuid, Value};
use crate::Error;

/// A condition function (RFC 7047 §5.1 `<function>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    Includes,
    Excludes,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Ge => ">=",
            Function::Gt => ">",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// `[column, function, value]`: one term of a `where` clause (all terms must hold).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: Function,
    pub value: Value,
}

impl Condition {
    /// `column == value`.
    pub fn eq(column: impl Into<String>, value: impl Into<Value>) -> Condition {
        Condition {
            column: column.into(),
            function: Function::Eq,
            value: value.into(),
        }
    }

    /// `column != value`.
    pub fn ne(column: impl Into<String>, value: impl Into<Value>) -> Condition {
        Condition {
            column: column.into(),
            function: Function::Ne,
            value: value.into(),
        }
    }

    /// `column includes value` (sets and maps).
    pub fn includes(column: impl Into<String>, value: impl Into<Value>) -> Condition {
        Condition {
            column: column.into(),
            function: Function::Includes,
            value: value.into(),
        }
    }

    /// `_uuid == uuid`: the row with this UUID.
    pub fn uuid(uuid: Uuid) -> Condition {
        Condition::eq("_uuid", Value::uuid(uuid))
    }

    /// The JSON form `[column, function, value]`.
    pub fn to_json(&self) -> Json {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

/// A mutator (RFC 7047 §5.1 `<mutator>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    /// Insert elements into a set or entries into a map.
    Insert,
    /// Delete elements from a set, or keys (given as a set) or entries from a map.
    Delete,
}

impl Mutator {
    fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// `[column, mutator, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: Mutator,
    pub value: Value,
}

impl Mutation {
    /// Inserts `value`'s elements (or entries) into the set (or map) `column`.
    pub fn insert(column: impl Into<String>, value: impl Into<Value>) -> Mutation {
        Mutation {
            column: column.into(),
            mutator: Mutator::Insert,
            value: value.into(),
        }
    }

    /// Deletes `value`'s elements (or keys/entries) from the set (or map) `column`.
    pub fn delete(column: impl Into<String>, value: impl Into<Value>) -> Mutation {
        Mutation {
            column: column.into(),
            mutator: Mutator::Delete,
            value: value.into(),
        }
    }

    fn to_json(&self) -> Json {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

/// When a `wait` operation is satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    /// The selected rows' columns equal `rows` exactly.
    Equal,
    /// They differ.
    NotEqual,
}

/// One operation of a transaction (RFC 7047 §5.2).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// Inserts a row; `uuid_name` lets later operations refer to it with
    /// [`Value::named_uuid`].
    Insert {
        table: String,
        row: RowMap,
        uuid_name: Option<String>,
    },
    /// Selects rows; `columns: None` returns all columns.
    Select {
        table: String,
        where_: Vec<Condition>,
        columns: Option<Vec<String>>,
    },
    /// Sets the given columns of every matching row.
    Update {
        table: String,
        where_: Vec<Condition>,
        row: RowMap,
    },
    /// Applies mutations to every matching row.
    Mutate {
        table: String,
        where_: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    /// Deletes every matching row.
    Delete {
        table: String,
        where_: Vec<Condition>,
    },
    /// Aborts the transaction unless the selected rows' `columns` compare as `until` says
    /// with `rows` (within `timeout_ms`; `Some(0)` checks once). The guard against
    /// read-then-write races.
    Wait {
        table: String,
        where_: Vec<Condition>,
        columns: Vec<String>,
        until: WaitUntil,
        rows: Vec<RowMap>,
        timeout_ms: Option<i64>,
    },
    /// Commits with or without waiting for the disk (`durable`).
    Commit { durable: bool },
    /// Aborts the transaction (always fails, with error "aborted").
    Abort,
    /// Adds a comment to the server's log of this transaction.
    Comment(String),
    /// Fails unless this session owns `lock`.
    Assert { lock: String },
}

impl Op {
    /// The operation's name as the RFC spells it (`"insert"`, `"wait"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Insert { .. } => "insert",
            Op::Select { .. } => "select",
            Op::Update { .. } => "update",
            Op::Mutate { .. } => "mutate",
            Op::Delete { .. } => "delete",
            Op::Wait { .. } => "wait",
            Op::Commit { .. } => "commit",
            Op::Abort => "abort",
            Op::Comment(_) => "comment",
            Op::Assert { .. } => "assert",
        }
    }

    /// The table the operation works on, if any.
    pub fn table(&self) -> Option<&str> {
        match self {
            Op::Insert { table, .. }
            | Op::Select { table, .. }
            | Op::Update { table, .. }
            | Op::Mutate { table, .. }
            | Op::Delete { table, .. }
            | Op::Wait { table, .. } => Some(table),
            _ => None,
        }
    }

    /// The JSON object the server receives.
    pub fn to_json(&self) -> Json {
        let mut o = Map::new();
        o.insert("op".into(), json!(self.name()));
        if let Some(t) = self.table() {
            o.insert("table".into(), json!(t));
        }
        let conds = |w: &[Condition]| Json::Array(w.iter().map(Condition::to_json).collect());
        match self {
            Op::Insert { row, uuid_name, .. } => {
                o.insert("row".into(), row_to_json(row));
                if let Some(n) = uuid_name {
                    o.insert("uuid-name".into(), json!(n));
                }
            }
            Op::Select {
                where_, columns, ..
            } => {
                o.insert("where".into(), conds(where_));
                if let Some(c) = columns {
                    o.insert("columns".into(), json!(c));
                }
            }
            Op::Update { where_, row, .. } => {
                o.insert("where".into(), conds(where_));
                o.insert("row".into(), row_to_json(row));
            }
            Op::Mutate {
                where_, mutations, ..
            } => {
                o.insert("where".into(), conds(where_));
                o.insert(
                    "mutations".into(),
                    Json::Array(mutations.iter().map(Mutation::to_json).collect()),
                );
            }
            Op::Delete { where_, .. } => {
                o.insert("where".into(), conds(where_));
            }
            Op::Wait {
                where_,
                columns,
                until,
                rows,
                timeout_ms,
                ..
            } => {
                o.insert("where".into(), conds(where_));
                o.insert("columns".into(), json!(columns));
                o.insert(
                    "until".into(),
                    json!(match until {
                        WaitUntil::Equal => "==",
                        WaitUntil::NotEqual => "!=",
                    }),
                );
                o.insert(
                    "rows".into(),
                    Json::Array(rows.iter().map(row_to_json).collect()),
                );
                if let Some(t) = timeout_ms {
                    o.insert("timeout".into(), json!(t));
                }
            }
            Op::Commit { durable } => {
                o.insert("durable".into(), json!(durable));
            }
            Op::Abort => {}
            Op::Comment(c) => {
                o.insert("comment".into(), json!(c));
            }
            Op::Assert { lock } => {
                o.insert("lock".into(), json!(lock));
            }
        }
        Json::Object(o)
    }
}

/// The result of one successful operation: `uuid` for insert, `count` for
/// update/mutate/delete, `rows` for select; all empty for the others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpResult {
    pub uuid: Option<Uuid>,
    pub count: Option<i64>,
    pub rows: Option<Vec<RowMap>>,
}

/// Turns a `transact` result array into per-operation results, or the first error.
pub(crate) fn parse_transact_result(ops: &[Op], result: &Json) -> Result<Vec<OpResult>, Error> {
    let arr = result.as_array().ok_or_else(|| {
        Error::malformed(
            "transact reply",
            format!("result must be an array, got {}", short(result)),
        )
    })?;
    // RFC 7047 §4.1.3: an error object at the failed operation's index; an extra
    // element past the last operation reports a failure at commit time.
    for (i, r) in arr.iter().enumerate() {
        if let Some(err) = r.get("error") {
            let op = ops.get(i);
            return Err(Error::Transaction {
                op_index: i,
                op: op.map_or("commit", Op::name),
                table: op.and_then(Op::table).map(str::to_owned),
                error: err.as_str().map_or_else(|| err.to_string(), str::to_owned),
                details: r.get("details").and_then(Json::as_str).map(str::to_owned),
            });
        }
    }
    if arr.len() < ops.len() {
        return Err(Error::malformed(
            "transact reply",
            format!("{} results for {} operations", arr.len(), ops.len()),
        ));
    }
    ops.iter()
        .zip(arr)
        .enumerate()
        .map(|(i, (op, r))| {
            let what = format!("result of operation {i} ({})", op.name());
            let table = op.table().unwrap_or("?");
            let mut out = OpResult::default();
            if let Some(u) = r.get("uuid") {
                out.uuid = Value::from_json(u, &what)?.as_uuid();
                if out.uuid.is_none() {
                    return Err(Error::malformed(what, format!("bad uuid {}", short(u))));
                }
            }
            if let Some(c) = r.get("count") {
                out.count = Some(
                    c.as_i64()
                        .ok_or_else(|| Error::malformed(&what, "bad count"))?,
                );
            }
            if let Some(rows) = r.get("rows") {
                let rows = rows
                    .as_array()
                    .ok_or_else(|| Error::malformed(&what, "bad rows"))?;
                out.rows = Some(
                    rows.iter()
                        .map(|j| row_from_json(j, table))
                        .collect::<Result<_, _>>()?,
                );
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins() -> Op {
        Op::Insert {
            table: "Bridge".into(),
            row: RowMap::from([("name".into(), Value::string("x"))]),
            uuid_name: Some("br".into()),
        }
    }

    #[test]
    fn operations_encode_as_rfc_objects() {
        assert_eq!(
            ins().to_json(),
            json!({"op":"insert","table":"Bridge","row":{"name":"x"},"uuid-name":"br"})
        );
        let m = Op::Mutate {
            table: "Open_vSwitch".into(),
            where_: vec![],
            mutations: vec![Mutation::insert(
                "bridges",
                Value::set([Value::named_uuid("br").as_atom().cloned().unwrap()]),
            )],
        };
        assert_eq!(
            m.to_json(),
            json!({"op":"mutate","table":"Open_vSwitch","where":[],
                   "mutations":[["bridges","insert",["set",[["named-uuid","br"]]]]]})
        );
        let w = Op::Wait {
            table: "Bridge".into(),
            where_: vec![Condition::eq("name", "x")],
            columns: vec!["ports".into()],
            until: WaitUntil::Equal,
            rows: vec![RowMap::from([("ports".into(), Value::empty())])],
            timeout_ms: Some(0),
        };
        assert_eq!(
            w.to_json(),
            json!({"op":"wait","table":"Bridge","where":[["name","==","x"]],"columns":["ports"],
                   "until":"==","rows":[{"ports":["set",[]]}],"timeout":0})
        );
        assert_eq!(
            Op::Comment("hi".into()).to_json(),
            json!({"op":"comment","comment":"hi"})
        );
        assert_eq!(
            Op::Commit { durable: false }.to_json(),
            json!({"op":"commit","durable":false})
        );
    }

    #[test]
    fn rejected_transaction_names_operation_table_and_details() {
        // Bytes ovsdb-server 3.1 sent for an insert with fail_mode "bogus".
        let r: Json = serde_json::from_str(
            r#"[{"details":"bogus is not one of the allowed values ([secure, standalone])","error":"constraint violation"}]"#,
        )
        .unwrap();
        match parse_transact_result(&[ins()], &r).unwrap_err() {
            Error::Transaction {
                op_index: 0,
                op: "insert",
                table: Some(t),
                error,
                details,
            } => {
                assert_eq!(t, "Bridge");
                assert_eq!(error, "constraint violation");
                assert!(details.unwrap().contains("bogus"));
            }
            e => panic!("{e:?}"),
        }
        // A failure at commit comes as an extra element.
        let r = json!([{"uuid":["uuid","fd8a55e5-cc1a-4e69-a15b-1427b35f1a60"]},
                       {"error":"referential integrity violation","details":"x"}]);
        let e = parse_transact_result(&[ins()], &r).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Transaction {
                    op_index: 1,
                    op: "commit",
                    table: None,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn successful_results_are_typed() {
        let r = json!([{"uuid":["uuid","fd8a55e5-cc1a-4e69-a15b-1427b35f1a60"]}]);
        let out = parse_transact_result(&[ins()], &r).unwrap();
        assert_eq!(
            out[0].uuid.unwrap().to_string(),
            "fd8a55e5-cc1a-4e69-a15b-1427b35f1a60"
        );
        let sel = Op::Select {
            table: "Bridge".into(),
            where_: vec![],
            columns: None,
        };
        let out = parse_transact_result(
            std::slice::from_ref(&sel),
            &json!([{"rows":[{"name":"br0"}]}]),
        )
        .unwrap();
        assert_eq!(
            out[0].rows.as_ref().unwrap()[0]["name"],
            Value::string("br0")
        );
        assert!(parse_transact_result(std::slice::from_ref(&sel), &json!({})).is_err());
        assert!(parse_transact_result(std::slice::from_ref(&sel), &json!([])).is_err());
        assert!(parse_transact_result(&[sel], &json!([{"rows":5}])).is_err());
    }
}
