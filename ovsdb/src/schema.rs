//! Database schemas (RFC 7047 §3.2), as far as a client needs them: the column types,
//! which decide how `update2` diffs apply and what an omitted column's default is.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::value::{short, Atom, RowMap, Uuid, Value};
use crate::Error;

/// An atomic type (RFC 7047 §3.2 `<atomic-type>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str, what: &str) -> Result<AtomicType, Error> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            _ => return Err(Error::malformed(what, format!("unknown atomic type {s:?}"))),
        })
    }

    fn default_atom(self) -> Atom {
        match self {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid::ZERO),
        }
    }
}

/// A column's type: key (and value, for maps) atomic types and the element count bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    pub key: AtomicType,
    /// `Some` for a map column.
    pub value: Option<AtomicType>,
    pub min: u64,
    /// `None` means `"unlimited"`.
    pub max: Option<u64>,
    /// The referenced table, for uuid keys.
    pub ref_table: Option<String>,
}

impl ColumnType {
    /// True for maps and for sets that may hold more than one element: `update2` sends
    /// these as diffs (RFC 7047-bis §4.1.14); other columns are sent as their new value.
    pub fn is_composite(&self) -> bool {
        self.max != Some(1)
    }

    /// True for a map column.
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// The value a column has when it is not set: the empty set/map when `min` is 0,
    /// otherwise the atomic type's default (0, 0.0, false, "", the zero UUID).
    pub fn default_value(&self) -> Value {
        if self.is_map() {
            Value::Map(BTreeMap::new())
        } else if self.min == 0 {
            Value::empty()
        } else {
            Value::Atom(self.key.default_atom())
        }
    }

    /// Brings a value into the one form this column uses: a bare atom for a scalar
    /// column, a set (possibly of one) for an optional or set column, a map for a map
    /// column. Values that do not fit are returned unchanged.
    pub fn normalize(&self, v: Value) -> Value {
        let scalar = self.min == 1 && self.max == Some(1);
        match v {
            Value::Atom(a) if !self.is_map() && !scalar => Value::Set(BTreeSet::from([a])),
            Value::Set(s) if scalar && s.len() == 1 => {
                Value::Atom(s.into_iter().next().expect("one element"))
            }
            Value::Set(s) if self.is_map() && s.is_empty() => Value::Map(BTreeMap::new()),
            other => other,
        }
    }

    fn parse(j: &Json, what: &str) -> Result<ColumnType, Error> {
        let base = |j: &Json| -> Result<(AtomicType, Option<String>), Error> {
            match j {
                Json::String(s) => Ok((AtomicType::parse(s, what)?, None)),
                Json::Object(o) => {
                    let t = o
                        .get("type")
                        .and_then(Json::as_str)
                        .ok_or_else(|| Error::malformed(what, "base type lacks \"type\""))?;
                    let r = o.get("refTable").and_then(Json::as_str).map(str::to_owned);
                    Ok((AtomicType::parse(t, what)?, r))
                }
                _ => Err(Error::malformed(
                    what,
                    format!("bad base type {}", short(j)),
                )),
            }
        };
        match j {
            Json::String(_) => {
                let (key, ref_table) = base(j)?;
                Ok(ColumnType {
                    key,
                    value: None,
                    min: 1,
                    max: Some(1),
                    ref_table,
                })
            }
            Json::Object(o) => {
                let (key, ref_table) = base(
                    o.get("key")
                        .ok_or_else(|| Error::malformed(what, "type lacks \"key\""))?,
                )?;
                let value = o.get("value").map(base).transpose()?.map(|(t, _)| t);
                let min = match o.get("min") {
                    None => 1,
                    Some(m) => m
                        .as_u64()
                        .ok_or_else(|| Error::malformed(what, format!("bad min {m}")))?,
                };
                let max = match o.get("max") {
                    None => Some(1),
                    Some(Json::String(s)) if s == "unlimited" => None,
                    Some(m) => Some(
                        m.as_u64()
                            .ok_or_else(|| Error::malformed(what, format!("bad max {m}")))?,
                    ),
                };
                Ok(ColumnType {
                    key,
                    value,
                    min,
                    max,
                    ref_table,
                })
            }
            _ => Err(Error::malformed(
                what,
                format!("bad column type {}", short(j)),
            )),
        }
    }
}

/// One table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnType>,
    /// Sets of columns whose values must be unique across rows.
    pub indexes: Vec<Vec<String>>,
    /// Root tables keep unreferenced rows; rows of other tables are garbage-collected.
    pub is_root: bool,
}

impl TableSchema {
    /// A row with every listed column (all columns if `columns` is empty) present:
    /// values the server omitted get the column default, present values are normalised.
    pub fn complete_row(&self, mut row: RowMap, columns: &[String]) -> RowMap {
        for (name, ty) in &self.columns {
            if !columns.is_empty() && !columns.contains(name) {
                continue;
            }
            let v = row
                .remove(name)
                .map(|v| ty.normalize(v))
                .unwrap_or_else(|| ty.default_value());
            row.insert(name.clone(), v);
        }
        row
    }
}

/// A database schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

impl Schema {
    /// Parses the result of `get_schema` (RFC 7047 §3.2).
    pub fn from_json(j: &Json) -> Result<Schema, Error> {
        let name = j
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        let version = j
            .get("version")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        let tables_json = j
            .get("tables")
            .and_then(Json::as_object)
            .ok_or_else(|| Error::malformed("schema", "no \"tables\" object"))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            let cols = t
                .get("columns")
                .and_then(Json::as_object)
                .ok_or_else(|| Error::malformed(format!("schema table {tname}"), "no columns"))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let what = format!("schema column {tname}.{cname}");
                let ty = c
                    .get("type")
                    .ok_or_else(|| Error::malformed(&what, "no type"))?;
                columns.insert(cname.clone(), ColumnType::parse(ty, &what)?);
            }
            let indexes = t
                .get("indexes")
                .and_then(Json::as_array)
                .map(|ixs| {
                    ixs.iter()
                        .filter_map(Json::as_array)
                        .map(|ix| {
                            ix.iter()
                                .filter_map(|c| c.as_str().map(str::to_owned))
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let is_root = t.get("isRoot").and_then(Json::as_bool).unwrap_or(false);
            tables.insert(
                tname.clone(),
                TableSchema {
                    columns,
                    indexes,
                    is_root,
                },
            );
        }
        Ok(Schema {
            name,
            version,
            tables,
        })
    }

    /// The table's schema, or an error naming the table and database.
    pub fn table(&self, table: &str) -> Result<&TableSchema, Error> {
        self.tables
            .get(table)
            .ok_or_else(|| Error::Invalid(format!("database {} has no table {table}", self.name)))
    }
}
