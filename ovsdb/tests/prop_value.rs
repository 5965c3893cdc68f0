//! Properties: values survive a JSON round trip; applying the diff ovsdb-server would
//! send gives back the new row; arbitrary peer JSON never panics the decoders.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ovsdb::{
    apply_row_diff, Atom, MonitorKind, MonitorRequest, MonitorRequests, MonitorState, RowMap,
    Schema, Value,
};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        any::<i64>().prop_map(Atom::Integer),
        // Any finite real (OVSDB has no NaN or infinity).
        (prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO)
            .prop_map(Atom::Real),
        any::<bool>().prop_map(Atom::Boolean),
        ".{0,8}".prop_map(Atom::String),
        any::<u128>().prop_map(|u| Atom::Uuid(ovsdb::Uuid(u))),
        "[a-z][a-z0-9_]{0,6}".prop_map(Atom::NamedUuid),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        atom().prop_map(Value::Atom),
        proptest::collection::btree_set(atom(), 0..5).prop_map(Value::Set),
        proptest::collection::btree_map(atom(), atom(), 0..5).prop_map(Value::Map),
    ]
}

/// Arbitrary JSON, biased towards OVSDB-looking shapes.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        prop_oneof![
            Just("set"),
            Just("map"),
            Just("uuid"),
            Just("named-uuid"),
            Just("initial"),
            Just("modify"),
            Just("x")
        ]
        .prop_map(Json::from),
        Just(Json::from("285a5225-e8ed-484d-af86-f74146b279c1")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("Bridge".to_owned()),
                    Just("285a5225-e8ed-484d-af86-f74146b279c1".to_owned()),
                    Just("modify".to_owned()),
                    Just("insert".to_owned()),
                    Just("name".to_owned()),
                    Just("ports".to_owned()),
                    Just("other_config".to_owned())
                ],
                inner,
                0..3,
            )
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

fn schema() -> Arc<Schema> {
    Arc::new(
        Schema::from_json(&json!({"name": "db", "tables": {"Bridge": {"columns": {
            "name": {"type": "string"},
            "fail_mode": {"type": {"key": "string", "min": 0, "max": 1}},
            "protocols": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
            "other_config": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
            "ports": {"type": {"key": "uuid", "min": 0, "max": "unlimited"}}
        }}}}))
        .unwrap(),
    )
}

/// What ovsdb-server puts in an `update2` "modify" for one column (RFC 7047-bis
/// §4.1.14): the symmetric difference for sets, changed/added/removed entries for maps.
fn server_diff(composite: bool, old: &Value, new: &Value) -> Value {
    match (old, new) {
        _ if !composite => new.clone(),
        (Value::Set(o), Value::Set(n)) => Value::Set(o.symmetric_difference(n).cloned().collect()),
        (Value::Map(o), Value::Map(n)) => {
            let mut d = BTreeMap::new();
            for (k, v) in n {
                if o.get(k) != Some(v) {
                    d.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in o {
                if !n.contains_key(k) {
                    d.insert(k.clone(), v.clone());
                }
            }
            Value::Map(d)
        }
        _ => new.clone(),
    }
}

fn strings(max: usize) -> impl Strategy<Value = BTreeSet<Atom>> {
    proptest::collection::btree_set("[a-c]{1,2}".prop_map(Atom::String), 0..max)
}

fn string_map() -> impl Strategy<Value = BTreeMap<Atom, Atom>> {
    proptest::collection::btree_map(
        "[a-d]".prop_map(Atom::String),
        "[0-2]".prop_map(Atom::String),
        0..4,
    )
}

proptest! {
    #[test]
    fn values_round_trip_through_rfc_json(v in value()) {
        let back = Value::from_json(&v.to_json(), "t.c").unwrap();
        prop_assert_eq!(&back, &v);
        // And through the bytes on the wire.
        let text = serde_json::to_string(&v.to_json()).unwrap();
        prop_assert_eq!(Value::from_json(&serde_json::from_str(&text).unwrap(), "t.c").unwrap(), v);
    }

    #[test]
    fn applying_the_servers_diff_yields_the_new_row(
        old_p in strings(5), new_p in strings(5),
        old_m in string_map(), new_m in string_map(),
        old_f in strings(2), new_f in strings(2),
        name in "[a-z]{1,3}",
    ) {
        let ts = schema().tables["Bridge"].clone();
        let row = |p: &BTreeSet<Atom>, m: &BTreeMap<Atom, Atom>, f: &BTreeSet<Atom>, n: &str| RowMap::from([
            ("protocols".into(), Value::Set(p.clone())),
            ("other_config".into(), Value::Map(m.clone())),
            ("fail_mode".into(), Value::Set(f.clone())),
            ("name".into(), Value::string(n)),
        ]);
        let old = row(&old_p, &old_m, &old_f, "old");
        let new = row(&new_p, &new_m, &new_f, &name);
        // The server sends only changed columns; an optional column as its new value.
        let diff: RowMap = new
            .iter()
            .filter(|(c, v)| old[*c] != **v)
            .map(|(c, v)| (c.clone(), server_diff(ts.columns[c].is_composite(), &old[c], v)))
            .collect();
        let applied = apply_row_diff(&ts, &old, &diff, "Bridge").unwrap();
        let normalized: RowMap = new.iter().map(|(c, v)| (c.clone(), ts.columns[c].normalize(v.clone()))).collect();
        let applied: RowMap = applied.into_iter().map(|(c, v)| { let v = ts.columns[&c].normalize(v); (c, v) }).collect();
        prop_assert_eq!(applied, normalized);
    }

    #[test]
    fn arbitrary_peer_json_never_panics(j in any_json(), k in any_json()) {
        let _ = Value::from_json(&j, "x");
        let _ = ovsdb::row_from_json(&j, "x");
        let _ = Schema::from_json(&j);
        for kind in [MonitorKind::Monitor, MonitorKind::MonitorCond, MonitorKind::MonitorCondSince] {
            let reqs = MonitorRequests::from([("Bridge".to_owned(), MonitorRequest::all())]);
            let mut st = MonitorState::new(schema(), kind, reqs).unwrap();
            let _ = st.apply_reply(&j);
            let _ = st.apply_update(&k);
            let _ = st.apply_update(&j);
        }
    }
}
