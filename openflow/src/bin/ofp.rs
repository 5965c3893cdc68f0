//! `ofp`: OpenFlow 1.3 messages from and to ovs-ofctl text, for debugging and tests.
//!
//! ```text
//! ofp decode [--hex]          messages on stdin (raw, or hex text) -> one line each
//! ofp encode 'FLOW'           OFPT_FLOW_MOD (add, xid 1) for an ovs-ofctl flow, as hex
//! ofp encode --group 'GROUP'  OFPT_GROUP_MOD (add, xid 1) for an ovs-ofctl group, as hex
//! ofp reencode                raw messages on stdin -> decoded and encoded again, as hex
//! ```
//! `decode` prints a flow-mod (add) as its flow text and a group-mod (add) as
//! `--group` plus its group text, so its output fed to `encode` gives the same bytes.
//! Exit status: 1 for malformed input or usage, 77 for message types it cannot show.

use std::io::{Read, Write};
use std::process::ExitCode;

use openflow::text::describe;
use openflow::{Flow, FlowModCommand, Frame, Group, GroupModCommand, Header, Message};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() & 1 != 0 {
        return Err("hex input has an odd number of digits".into());
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, p)| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
                .ok_or_else(|| format!("not hex at digit {}", 2 * i))
        })
        .collect()
}

/// Splits a byte stream into messages by their header lengths.
fn split(mut b: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut off = 0;
    while !b.is_empty() {
        let h = Header::peek(b)
            .ok_or_else(|| format!("offset {off}: truncated or bad OpenFlow header"))?;
        let len = usize::from(h.length);
        if len > b.len() {
            return Err(format!(
                "offset {off}: message says {len} bytes, only {} left",
                b.len()
            ));
        }
        out.push(&b[..len]);
        b = &b[len..];
        off += len;
    }
    Ok(out)
}

fn stdin_bytes() -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    std::io::stdin()
        .read_to_end(&mut v)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(v)
}

enum Fail {
    Bad(String),
    Unsupported(String),
}

fn run(args: &[String]) -> Result<Vec<String>, Fail> {
    let bad = Fail::Bad;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["decode", rest @ ..] => {
            let raw = stdin_bytes().map_err(bad)?;
            let bytes = if rest == ["--hex"] {
                unhex(&String::from_utf8_lossy(&raw)).map_err(Fail::Bad)?
            } else if rest.is_empty() {
                raw
            } else {
                return Err(Fail::Bad(format!("unknown decode option {rest:?}")));
            };
            let mut lines = Vec::new();
            for (i, m) in split(&bytes).map_err(Fail::Bad)?.into_iter().enumerate() {
                let f =
                    Frame::decode(m).map_err(|e| Fail::Bad(format!("message {}: {e}", i + 1)))?;
                if let Message::Unknown { msg_type, .. } = f.msg {
                    return Err(Fail::Unsupported(format!(
                        "message {}: unsupported message type {} ({msg_type})",
                        i + 1,
                        openflow::header::type_name(msg_type)
                    )));
                }
                lines.push(describe(&f));
            }
            Ok(lines)
        }
        ["encode", "--group", g] => {
            let g: Group = g.parse().map_err(|e| Fail::Bad(format!("group: {e}")))?;
            let f = Frame::new(1, Message::GroupMod(g.to_group_mod(GroupModCommand::Add)));
            Ok(vec![hex(&f
                .to_bytes()
                .map_err(|e| Fail::Bad(e.to_string()))?)])
        }
        ["encode", flow] => {
            let fl: Flow = flow.parse().map_err(|e| Fail::Bad(format!("flow: {e}")))?;
            let f = Frame::new(1, Message::FlowMod(fl.to_flow_mod(FlowModCommand::Add)));
            Ok(vec![hex(&f
                .to_bytes()
                .map_err(|e| Fail::Bad(e.to_string()))?)])
        }
        ["reencode"] => {
            let bytes = stdin_bytes().map_err(bad)?;
            let mut lines = Vec::new();
            for (i, m) in split(&bytes).map_err(Fail::Bad)?.into_iter().enumerate() {
                let f =
                    Frame::decode(m).map_err(|e| Fail::Bad(format!("message {}: {e}", i + 1)))?;
                lines.push(hex(&f.to_bytes().map_err(|e| Fail::Bad(e.to_string()))?));
            }
            Ok(lines)
        }
        _ => Err(Fail::Bad(
            "usage: ofp decode [--hex] | ofp encode [--group] TEXT | ofp reencode".into(),
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for l in lines {
                if writeln!(out, "{l}").is_err() {
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        Err(Fail::Bad(e)) => {
            eprintln!("ofp: {e}");
            ExitCode::from(1)
        }
        Err(Fail::Unsupported(e)) => {
            eprintln!("ofp: {e}");
            ExitCode::from(77)
        }
    }
}
