//! Golden text tests: `tests/data/flows.txt` and `groups.txt` are what
//! `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` / `dump-groups` printed for the
//! flows and groups in `flows.in` / `groups.in` (see `tests/data/regen.sh`).
//! Checked here without a switch: every dump line parses and prints back to itself,
//! every input line parses to the same value as its dump line, and every flow encodes
//! and decodes back to itself. `tests/ovs.rs` checks the same files against a switch.

use std::collections::HashMap;

use bytes::BytesMut;
use openflow::{Flow, FlowModCommand, Frame, Group, GroupModCommand, Message};

fn lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_dumped_flow_prints_back_to_the_same_text() {
    let mut bad = Vec::new();
    for l in lines("flows.txt") {
        match l.parse::<Flow>() {
            Ok(f) if f.to_string() == l => {}
            Ok(f) => bad.push(format!("  ovs: {l}\n  our: {f}")),
            Err(e) => bad.push(format!("  ovs: {l}\n  parse error: {e}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} flows differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_input_flow_parses_to_its_dump() {
    let dumped: HashMap<(u8, u16), Flow> = lines("flows.txt")
        .iter()
        .map(|l| l.parse::<Flow>().unwrap_or_else(|e| panic!("{l}: {e}")))
        .map(|f| ((f.table_id, f.priority), f))
        .collect();
    let mut bad = Vec::new();
    for l in lines("flows.in") {
        let f: Flow = l.parse().unwrap_or_else(|e| panic!("{l}: {e}"));
        match dumped.get(&(f.table_id, f.priority)) {
            Some(d) if *d == f => {}
            Some(d) => bad.push(format!("  in:   {l}\n  dump: {d}\n  ours: {f}")),
            None => bad.push(format!("  in: {l}: not in flows.txt")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} flows differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_flow_encodes_and_decodes_back() {
    for l in lines("flows.txt") {
        let f: Flow = l.parse().unwrap();
        let frame = Frame::new(1, Message::FlowMod(f.to_flow_mod(FlowModCommand::Add)));
        let mut b = BytesMut::new();
        frame.encode(&mut b).unwrap();
        assert_eq!(Frame::decode(&b).unwrap(), frame, "{l}");
    }
}

#[test]
fn every_group_prints_back_and_round_trips() {
    let mut bad = Vec::new();
    for l in lines("groups.txt") {
        match l.parse::<Group>() {
            Ok(g) if g.to_string() == l => {
                let frame = Frame::new(1, Message::GroupMod(g.to_group_mod(GroupModCommand::Add)));
                let mut b = BytesMut::new();
                frame.encode(&mut b).unwrap();
                assert_eq!(Frame::decode(&b).unwrap(), frame, "{l}");
            }
            Ok(g) => bad.push(format!("  ovs: {l}\n  our: {g}")),
            Err(e) => bad.push(format!("  ovs: {l}\n  parse error: {e}")),
        }
    }
    let dumped: Vec<Group> = lines("groups.txt")
        .iter()
        .filter_map(|l| l.parse().ok())
        .collect();
    for l in lines("groups.in") {
        match l.parse::<Group>() {
            Ok(g) if dumped.contains(&g) => {}
            Ok(g) => bad.push(format!("  in: {l}\n  our: {g} (not in groups.txt)")),
            Err(e) => bad.push(format!("  in: {l}\n  parse error: {e}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} groups differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
