//! Any text: the flow and group parsers never panic, and a parsed flow prints to
//! text that parses back to the same flow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openflow::{Flow, Group};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(f) = s.parse::<Flow>() {
        let again: Flow = f.to_string().parse().expect("printed flow parses");
        assert_eq!(again, f);
    }
    let _ = s.parse::<Group>();
});
