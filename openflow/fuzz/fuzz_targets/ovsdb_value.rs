//! Any JSON: OVSDB's value, row, uuid and schema parsers never panic, and a parsed
//! value prints to JSON that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovsdb::{row_from_json, Atom, Schema, Uuid, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(j) = serde_json::from_slice::<serde_json::Value>(data) else {
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(u) = s.parse::<Uuid>() {
                assert_eq!(u.to_string().parse::<Uuid>().unwrap(), u);
            }
        }
        return;
    };
    if let Ok(v) = Value::from_json(&j, "fuzz") {
        let back = Value::from_json(&v.to_json(), "fuzz").expect("printed value parses");
        assert!(back.same_as(&v), "{v:?} -> {back:?}");
        let _ = (v.strings(), v.uuids(), v.string_map_entries());
    }
    if let Ok(a) = Atom::from_json(&j, "fuzz") {
        let back = Atom::from_json(&a.to_json(), "fuzz").expect("printed atom parses");
        assert_eq!(back, a);
    }
    if let Ok(r) = row_from_json(&j, "fuzz") {
        let back = row_from_json(&ovsdb::row_to_json(&r), "fuzz").expect("printed row parses");
        assert_eq!(back.len(), r.len());
    }
    if let Ok(s) = Schema::from_json(&j) {
        for t in s.tables.values() {
            for c in t.columns.values() {
                let d = c.default_value();
                let _ = c.normalize(d);
            }
        }
    }
});
