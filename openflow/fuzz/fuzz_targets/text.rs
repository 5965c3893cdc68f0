//! Any text: the flow and group parsers never panic; a parsed flow or group prints to
//! text that parses back to the same value, and encodes to a message that decodes back
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openflow::{Flow, FlowModCommand, Frame, Group, GroupModCommand, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(f) = s.parse::<Flow>() {
        let text = f.to_string();
        let again: Flow = text
            .parse()
            .unwrap_or_else(|e| panic!("printed flow {text:?} does not parse: {e}"));
        assert_eq!(again, f, "{text}");
        let frame = Frame::new(1, Message::FlowMod(f.to_flow_mod(FlowModCommand::Add)));
        if let Ok(b) = frame.to_bytes() {
            assert_eq!(Frame::decode(&b).as_ref(), Ok(&frame), "{text}");
        }
    }
    if let Ok(g) = s.parse::<Group>() {
        let text = g.to_string();
        let again: Group = text
            .parse()
            .unwrap_or_else(|e| panic!("printed group {text:?} does not parse: {e}"));
        assert_eq!(again, g, "{text}");
        let frame = Frame::new(1, Message::GroupMod(g.to_group_mod(GroupModCommand::Add)));
        if let Ok(b) = frame.to_bytes() {
            assert_eq!(Frame::decode(&b).as_ref(), Ok(&frame), "{text}");
        }
    }
});
