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

#[test]
fn replies_captured_from_ovs_decode_and_reencode_to_the_same_bytes() {
    let mut n = 0;
    let mut kinds = Vec::new();
    for l in lines("replies.txt") {
        let raw: Vec<u8> = (0..l.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
            .collect();
        let f = Frame::decode(&raw).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(f.to_bytes().unwrap().to_vec(), raw, "{}", f.msg.name());
        kinds.push(openflow::text::describe(&f));
        n += 1;
    }
    assert!(n >= 15, "{n} replies");
    let all = kinds.join("\n");
    for want in [
        "OFPBAC_BAD_OUT_GROUP",
        "OFPBFC_BAD_ID",
        "OFPST_FLOW reply",
        "PortDesc",
        "Table(",
        "Desc(",
        "GroupDesc",
        "DiscardReply",
    ] {
        assert!(all.contains(want), "no {want} in\n{all}");
    }
}

#[test]
fn table_names_print_and_parse_like_ovs_ofctl_names() {
    let names =
        openflow::TableNames::new(&[(0, "classifier"), (30, "service"), (40, "l3-forward")]);
    let text = "table=service, priority=5,ip actions=ct(table=l3-forward,zone=5,nat),resubmit(,classifier),goto_table:l3-forward";
    let f = Flow::parse_with(text, &names).unwrap();
    assert_eq!(f.table_id, 30);
    assert_eq!(f.display_with(&names).to_string(), text);
    assert_eq!(
        f.to_string(),
        "table=30, priority=5,ip actions=ct(table=40,zone=5,nat),resubmit(,0),goto_table:40"
    );
    let text = "table=service, priority=6,ct_state=+new+trk,ip actions=resubmit(,l3-forward,ct),resubmit(2,classifier,ct)";
    let f = Flow::parse_with(text, &names).unwrap();
    assert_eq!(f.display_with(&names).to_string(), text);
    assert_eq!(
        f.to_string(),
        "table=30, priority=6,ct_state=+new+trk,ip actions=resubmit(,40,ct),resubmit(2,0,ct)"
    );
    let f0 = Flow::parse_with("table=classifier,priority=0,actions=drop", &names).unwrap();
    assert_eq!(
        f0.display_with(&names).to_string(),
        "table=classifier, priority=0 actions=drop"
    );
    let e = Flow::parse_with("table=nowhere,actions=drop", &names).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
}

#[test]
fn parse_errors_name_the_token() {
    for (text, needle) in [
        ("tcp_dst=80,actions=drop", "tcp_dst"),
        ("ip,nw_dst=10.0.0.300,actions=drop", "10.0.0.300"),
        ("ip,actions=frobnicate:3", "frobnicate"),
        ("priority=1", "actions="),
        ("ip,bogus=1,actions=drop", "bogus"),
        ("ip,actions=ct(zone=NXM_NX_REG0[0..99])", "NXM_NX_REG0"),
        ("ip,actions=load:0x1ff->NXM_NX_REG0[0..7]", "8 bits"),
    ] {
        let e = text.parse::<Flow>().unwrap_err().to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_input_encodes_to_the_bytes_ovs_ofctl_sends_and_back() {
    let (ins, hex) = (lines("flows.in"), lines("flows.hex"));
    assert_eq!(
        ins.len(),
        hex.len(),
        "flows.hex is stale: run tests/data/regen.sh"
    );
    let mut bad = Vec::new();
    for (l, h) in ins.iter().zip(&hex) {
        let f: Flow = l.parse().unwrap();
        let frame = Frame::new(1, Message::FlowMod(f.to_flow_mod(FlowModCommand::Add)));
        let ours: String = frame
            .to_bytes()
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if &ours != h {
            bad.push(format!("  {l}\n    ovs: {h}\n    our: {ours}"));
        }
        assert_eq!(Frame::decode(&unhex(h)).unwrap(), frame, "{l}");
    }
    let (ins, hex) = (lines("groups.in"), lines("groups.hex"));
    assert_eq!(
        ins.len(),
        hex.len(),
        "groups.hex is stale: run tests/data/regen.sh"
    );
    for (l, h) in ins.iter().zip(&hex) {
        let g: Group = l.parse().unwrap();
        let frame = Frame::new(1, Message::GroupMod(g.to_group_mod(GroupModCommand::Add)));
        let ours: String = frame
            .to_bytes()
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if &ours != h {
            bad.push(format!("  {l}\n    ovs: {h}\n    our: {ours}"));
        }
        assert_eq!(Frame::decode(&unhex(h)).unwrap(), frame, "{l}");
    }
    assert!(
        bad.is_empty(),
        "{} messages differ from ovs-ofctl:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
