//! OVSDB values (RFC 7047 §5.1): atoms, sets, maps, UUIDs and named UUIDs, typed.
//!
//! The JSON forms are exactly the RFC's: an atom is a JSON string, number or boolean, or
//! `["uuid", "<uuid>"]` / `["named-uuid", "<id>"]`; a set is `["set", [atom, ...]]` (a
//! one-element set may also be sent as the bare atom); a map is `["map", [[k, v], ...]]`.
//! An optional value (a column with `min: 0, max: 1`) is a set of zero or one atom, so
//! "absent" is the empty set.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value as Json};

use crate::Error;

/// A row UUID, as OVSDB writes it (`8-4-4-4-12` lowercase hex).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub u128);

impl Uuid {
    /// The all-zero UUID (the default of a non-optional uuid column).
    pub const ZERO: Uuid = Uuid(0);
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl FromStr for Uuid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Uuid, Error> {
        let bad = || Error::malformed("uuid", format!("{s:?} is not an 8-4-4-4-12 hex UUID"));
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(bad());
        }
        let mut hex = String::with_capacity(32);
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(bad());
                }
            } else if c.is_ascii_hexdigit() {
                hex.push(char::from(c));
            } else {
                return Err(bad());
            }
        }
        u128::from_str_radix(&hex, 16).map(Uuid).map_err(|_| bad())
    }
}

/// One OVSDB atom. Ordered (reals by `total_cmp`) so sets and maps are canonical and
/// compare equal regardless of the order the server sent them in.
#[derive(Debug, Clone)]
pub enum Atom {
    Integer(i64),
    /// A finite real (JSON has no NaN or infinity; they would be sent as `null`).
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    /// A reference to a row inserted earlier in the same transaction (`uuid-name`).
    NamedUuid(String),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    /// The string, if this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer atom.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The UUID, if this is a uuid atom.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The RFC 7047 §5.1 JSON form.
    pub fn to_json(&self) -> Json {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Parses an atom from its JSON form; `what` names where it came from in errors.
    pub fn from_json(j: &Json, what: &str) -> Result<Atom, Error> {
        match j {
            Json::String(s) => Ok(Atom::String(s.clone())),
            Json::Bool(b) => Ok(Atom::Boolean(*b)),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if n.is_u64() {
                    Err(Error::malformed(
                        what,
                        format!("integer {n} is out of range"),
                    ))
                } else {
                    n.as_f64()
                        .map(Atom::Real)
                        .ok_or_else(|| Error::malformed(what, format!("bad number {n}")))
                }
            }
            Json::Array(a) => match (a.first().and_then(Json::as_str), a.get(1), a.len()) {
                (Some("uuid"), Some(Json::String(s)), 2) => s
                    .parse()
                    .map(Atom::Uuid)
                    .map_err(|_| Error::malformed(what, format!("{s:?} is not a UUID"))),
                (Some("named-uuid"), Some(Json::String(s)), 2) => Ok(Atom::NamedUuid(s.clone())),
                _ => Err(Error::malformed(
                    what,
                    format!("expected an atom, got {}", short(j)),
                )),
            },
            _ => Err(Error::malformed(
                what,
                format!("expected an atom, got {}", short(j)),
            )),
        }
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Atom) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Atom) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s:?}"),
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "{n}"),
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Atom {
        Atom::String(s.to_owned())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Atom {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Atom {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Atom {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Atom {
        Atom::Uuid(u)
    }
}

/// A column value: an atom, a set of atoms, or a map of atoms to atoms.
///
/// The server may send a one-element set as a bare atom, so compare with
/// [`Value::same_as`] (or normalise against the column type with
/// [`crate::ColumnType::normalize`]) rather than `==` when the form may differ.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Atom(Atom),
    Set(BTreeSet<Atom>),
    Map(BTreeMap<Atom, Atom>),
}

impl Value {
    /// The empty set: an absent optional value, or an empty set column.
    pub fn empty() -> Value {
        Value::Set(BTreeSet::new())
    }

    /// A string atom.
    pub fn string(s: impl Into<String>) -> Value {
        Value::Atom(Atom::String(s.into()))
    }

    /// An integer atom.
    pub fn integer(i: i64) -> Value {
        Value::Atom(Atom::Integer(i))
    }

    /// A uuid atom.
    pub fn uuid(u: Uuid) -> Value {
        Value::Atom(Atom::Uuid(u))
    }

    /// A reference to a row inserted in the same transaction with this `uuid-name`.
    pub fn named_uuid(name: impl Into<String>) -> Value {
        Value::Atom(Atom::NamedUuid(name.into()))
    }

    /// An optional value: the empty set for `None`, the atom otherwise.
    pub fn optional<A: Into<Atom>>(v: Option<A>) -> Value {
        match v {
            None => Value::empty(),
            Some(a) => Value::Atom(a.into()),
        }
    }

    /// A set of atoms.
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Value {
        Value::Set(items.into_iter().map(Into::into).collect())
    }

    /// A string-to-string map (`other_config`, `external_ids`, `options`).
    pub fn string_map<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
        Value::Map(
            m.into_iter()
                .map(|(k, v)| (Atom::String(k.clone()), Atom::String(v.clone())))
                .collect(),
        )
    }

    /// The atoms of this value seen as a set (an atom is a one-element set; a map
    /// yields nothing).
    pub fn atoms(&self) -> Vec<&Atom> {
        match self {
            Value::Atom(a) => vec![a],
            Value::Set(s) => s.iter().collect(),
            Value::Map(_) => Vec::new(),
        }
    }

    /// The single atom of an atom or one-element set.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Value::Atom(a) => Some(a),
            Value::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    /// The string of a string atom (or a one-element set of one).
    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    /// The integer of an integer atom (or a one-element set of one).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }

    /// The UUID of a uuid atom (or a one-element set of one).
    pub fn as_uuid(&self) -> Option<Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }

    /// The UUIDs in a uuid set (reference columns such as `Bridge.ports`).
    pub fn uuids(&self) -> Vec<Uuid> {
        self.atoms().into_iter().filter_map(Atom::as_uuid).collect()
    }

    /// The strings in a string set (such as `Bridge.protocols`).
    pub fn strings(&self) -> Vec<String> {
        self.atoms()
            .into_iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    }

    /// A map as string-to-string pairs; non-string entries are skipped. The empty set
    /// counts as an empty map.
    pub fn string_map_entries(&self) -> BTreeMap<String, String> {
        match self {
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// True if both values mean the same thing: a bare atom equals the one-element set
    /// of it, and the empty set equals the empty map.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Map(m), Value::Set(s)) | (Value::Set(s), Value::Map(m)) => {
                m.is_empty() && s.is_empty()
            }
            (Value::Map(_), _) | (_, Value::Map(_)) => false,
            _ => {
                let a: BTreeSet<&Atom> = self.atoms().into_iter().collect();
                let b: BTreeSet<&Atom> = other.atoms().into_iter().collect();
                a == b
            }
        }
    }

    /// The RFC 7047 §5.1 JSON form. Sets are always written as `["set", [...]]`.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Atom(a) => a.to_json(),
            Value::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Value::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// Parses a value from its JSON form; `what` names where it came from in errors
    /// (e.g. `Bridge.ports`).
    pub fn from_json(j: &Json, what: &str) -> Result<Value, Error> {
        let Json::Array(a) = j else {
            return Atom::from_json(j, what).map(Value::Atom);
        };
        match (a.first().and_then(Json::as_str), a.get(1), a.len()) {
            (Some("set"), Some(Json::Array(items)), 2) => items
                .iter()
                .map(|i| Atom::from_json(i, what))
                .collect::<Result<BTreeSet<_>, _>>()
                .map(Value::Set),
            (Some("map"), Some(Json::Array(pairs)), 2) => {
                let mut m = BTreeMap::new();
                for p in pairs {
                    match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => {
                            m.insert(Atom::from_json(k, what)?, Atom::from_json(v, what)?);
                        }
                        _ => {
                            return Err(Error::malformed(
                                what,
                                format!("map entry must be [key, value], got {}", short(p)),
                            ))
                        }
                    }
                }
                Ok(Value::Map(m))
            }
            _ => Atom::from_json(j, what).map(Value::Atom),
        }
    }
}

impl From<Atom> for Value {
    fn from(a: Atom) -> Value {
        Value::Atom(a)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::string(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::string(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::integer(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Atom(Atom::Boolean(b))
    }
}
impl From<Uuid> for Value {
    fn from(u: Uuid) -> Value {
        Value::uuid(u)
    }
}

/// A row as the server sends it: column name to value.
pub type RowMap = BTreeMap<String, Value>;

/// Parses a `<row>` JSON object; `table` names where it came from in errors.
pub fn row_from_json(j: &Json, table: &str) -> Result<RowMap, Error> {
    let obj = j.as_object().ok_or_else(|| {
        Error::malformed(table, format!("row must be an object, got {}", short(j)))
    })?;
    obj.iter()
        .map(|(col, v)| Ok((col.clone(), Value::from_json(v, &format!("{table}.{col}"))?)))
        .collect()
}

/// The JSON object for a row.
pub fn row_to_json(row: &RowMap) -> Json {
    Json::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// A short rendering of peer JSON for error messages (never the whole message).
pub(crate) fn short(j: &Json) -> String {
    let s = j.to_string();
    if s.len() > 120 {
        let mut end = 117;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "285a5225-e8ed-484d-af86-f74146b279c1";

    fn parse(s: &str) -> Value {
        Value::from_json(&serde_json::from_str(s).unwrap(), "t.c").unwrap()
    }

    #[test]
    fn uuid_round_trips_through_text() {
        let u: Uuid = U.parse().unwrap();
        assert_eq!(u.to_string(), U);
        assert!("285a5225e8ed-484d-af86-f74146b279c1x"
            .parse::<Uuid>()
            .is_err());
        assert!("285a5225-e8ed-484d-af86-f74146b279cg"
            .parse::<Uuid>()
            .is_err());
        assert!("".parse::<Uuid>().is_err());
    }

    #[test]
    fn atoms_use_the_rfc_json_forms() {
        assert_eq!(parse("5"), Value::integer(5));
        assert_eq!(parse("-5"), Value::integer(-5));
        assert_eq!(parse("1.5"), Value::Atom(Atom::Real(1.5)));
        assert_eq!(parse("true"), true.into());
        assert_eq!(parse(r#""br0""#), "br0".into());
        assert_eq!(
            parse(&format!(r#"["uuid","{U}"]"#)),
            Value::uuid(U.parse().unwrap())
        );
        assert_eq!(parse(r#"["named-uuid","row1"]"#), Value::named_uuid("row1"));
        assert_eq!(
            Value::named_uuid("row1").to_json(),
            json!(["named-uuid", "row1"])
        );
        assert_eq!(
            Value::uuid(U.parse().unwrap()).to_json(),
            json!(["uuid", U])
        );
        assert_eq!(Value::Atom(Atom::Real(2.0)).to_json().to_string(), "2.0");
    }

    #[test]
    fn sets_and_maps_use_the_rfc_json_forms() {
        let set = parse(r#"["set",["b","a"]]"#);
        assert_eq!(set, Value::set(["a", "b"]));
        assert_eq!(set.to_json(), json!(["set", ["a", "b"]]));
        assert_eq!(parse(r#"["set",[]]"#), Value::empty());
        assert_eq!(Value::empty().to_json(), json!(["set", []]));
        let map = parse(r#"["map",[["x","y"],["a","1"]]]"#);
        assert_eq!(map.to_json(), json!(["map", [["a", "1"], ["x", "y"]]]));
        assert_eq!(
            map.string_map_entries().get("x").map(String::as_str),
            Some("y")
        );
        assert_eq!(parse(r#"["map",[]]"#).to_json(), json!(["map", []]));
    }

    #[test]
    fn optional_and_one_element_sets_compare_by_meaning() {
        assert!(parse(r#""secure""#).same_as(&Value::set(["secure"])));
        assert!(Value::optional(None::<&str>).same_as(&parse(r#"["set",[]]"#)));
        assert!(Value::empty().same_as(&parse(r#"["map",[]]"#)));
        assert!(!Value::set(["a"]).same_as(&Value::set(["a", "b"])));
        assert_eq!(Value::set(["x"]).as_str(), Some("x"));
        assert_eq!(Value::empty().as_str(), None);
    }

    #[test]
    fn rejects_malformed_values_with_a_named_error() {
        for bad in [
            r#"null"#,
            r#"{"a":1}"#,
            r#"["set"]"#,
            r#"["set",[["set",[]]]]"#,
            r#"["map",[["a"]]]"#,
            r#"["uuid","nope"]"#,
            r#"["uuid",5]"#,
            r#"["frob",[]]"#,
            r#"18446744073709551615"#,
        ] {
            let e = Value::from_json(&serde_json::from_str(bad).unwrap(), "Bridge.ports")
                .unwrap_err()
                .to_string();
            assert!(e.contains("Bridge.ports"), "{bad}: {e}");
        }
    }
}
