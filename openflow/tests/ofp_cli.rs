//! The `ofp` binary: decode/encode round trip, reencode, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ofp(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ofp"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin).unwrap();
    c.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn decode_output_fed_to_encode_gives_the_same_bytes() {
    let flow = "table=30,priority=5,ct_state=+new+trk,tcp,nw_dst=10.96.0.10,tp_dst=53,actions=ct(commit,table=40,zone=5,nat(dst=10.244.1.5:53))";
    let hex = out(&ofp(&["encode", flow], b""));
    let text = out(&ofp(&["decode", "--hex"], hex.as_bytes()));
    assert_eq!(text, "table=30, priority=5,ct_state=+new+trk,tcp,nw_dst=10.96.0.10,tp_dst=53 actions=ct(commit,table=40,zone=5,nat(dst=10.244.1.5:53))");
    assert_eq!(out(&ofp(&["encode", &text], b"")), hex);

    let group = "group_id=5,type=select,bucket=weight:100,actions=output:1,bucket=weight:50,actions=output:2";
    let hex = out(&ofp(&["encode", "--group", group], b""));
    let text = out(&ofp(&["decode", "--hex"], hex.as_bytes()));
    let g = text.strip_prefix("--group ").unwrap();
    assert_eq!(out(&ofp(&["encode", "--group", g], b"")), hex);
}

#[test]
fn reencode_gives_back_the_input_and_decode_handles_several_messages() {
    let a = out(&ofp(&["encode", "priority=1,actions=output:2"], b""));
    let b = out(&ofp(&["encode", "priority=2,arp,actions=NORMAL"], b""));
    let raw: Vec<u8> = (0..a.len() + b.len())
        .step_by(2)
        .map(|i| {
            let s = format!("{a}{b}");
            u8::from_str_radix(&s[i..i + 2], 16).unwrap()
        })
        .collect();
    let o = ofp(&["reencode"], &raw);
    assert!(o.status.success());
    assert_eq!(out(&o), format!("{a}\n{b}"));
    let o = ofp(&["decode"], &raw);
    assert_eq!(out(&o).lines().count(), 2);
}

#[test]
fn malformed_input_exits_1_and_unsupported_types_exit_77() {
    let o = ofp(&["decode", "--hex"], b"040e0010000000");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ofp: "),
        "{o:?}"
    );
    let o = ofp(&["decode", "--hex"], b"0411000800000001");
    assert_eq!(o.status.code(), Some(77));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("OFPT_TABLE_MOD"),
        "{o:?}"
    );
    let o = ofp(&["encode", "tcp_dst=80,actions=drop"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tcp_dst"),
        "{o:?}"
    );
}
