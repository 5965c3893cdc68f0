//! The text form: ovs-ofctl flow and group syntax. `Display` prints what
//! `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` / `dump-groups` print (without their
//! leading space); `FromStr` parses what `add-flow` / `add-group` accept (the subset
//! listed in the crate docs).

mod actions;
mod flow;
mod group;
mod matchfmt;
mod value;

use std::collections::BTreeMap;

pub(crate) use actions::reason_name;
pub use flow::{Flow, FlowDisplay, FlowStatsDisplay};
pub use group::{Group, GroupDisplay};
pub(crate) use matchfmt::match_pieces;

/// One line describing a message: a flow-mod (add) as its flow text and a group-mod
/// (add) as `--group ` plus its group text (both what `ofp encode` takes back), any
/// other message as `OFPT_NAME xid=0x..: <details>`.
pub fn describe(f: &crate::Frame) -> String {
    use crate::msg::{FlowModCommand, GroupModCommand, Message};
    match &f.msg {
        Message::FlowMod(fm)
            if fm.command == FlowModCommand::Add
                && fm.cookie_mask == 0
                && fm.buffer_id == crate::action::NO_BUFFER
                && fm.out_port == crate::action::port::ANY
                && fm.out_group == crate::action::group::ANY =>
        {
            let flow = Flow {
                table_id: fm.table_id,
                priority: fm.priority,
                cookie: fm.cookie,
                idle_timeout: fm.idle_timeout,
                hard_timeout: fm.hard_timeout,
                flags: fm.flags,
                match_: fm.match_.clone(),
                instructions: fm.instructions.clone(),
            };
            if f.xid == 1 {
                flow.to_string()
            } else {
                format!("OFPT_FLOW_MOD xid={:#x}: ADD {flow}", f.xid)
            }
        }
        Message::GroupMod(g) if g.command == GroupModCommand::Add && f.xid == 1 => {
            let g = Group {
                group_id: g.group_id,
                group_type: g.group_type,
                buckets: g.buckets.clone(),
            };
            format!("--group {g}")
        }
        Message::MultipartReply(crate::msg::MultipartReply {
            flags,
            body: crate::msg::MultipartReplyBody::FlowStats(v),
        }) => {
            let flows: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            format!(
                "OFPST_FLOW reply xid={:#x} flags={flags}: {}",
                f.xid,
                flows.join(" ; ")
            )
        }
        Message::Error(e) => format!("OFPT_ERROR xid={:#x}: {e}", f.xid),
        Message::MeterMod(m) => format!("OFPT_METER_MOD xid={:#x}: {m}", f.xid),
        Message::PacketIn2(p) => format!("NXT_PACKET_IN2 xid={:#x}:{p}", f.xid),
        m => format!("{} xid={:#x}: {m:?}", m.name(), f.xid),
    }
}

/// Why a flow or group text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct ParseError {
    msg: String,
}

impl ParseError {
    pub(crate) fn new(msg: impl Into<String>) -> ParseError {
        ParseError { msg: msg.into() }
    }
}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError::new(msg))
}

/// Table names for text (`table=l3-forward`, `goto_table:l2-forward`,
/// `resubmit(,service)`), as `ovs-ofctl --names` prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableNames {
    by_id: BTreeMap<u8, String>,
}

impl TableNames {
    /// A map from `(id, name)` pairs.
    pub fn new(pairs: &[(u8, &str)]) -> TableNames {
        TableNames {
            by_id: pairs.iter().map(|(i, n)| (*i, (*n).to_owned())).collect(),
        }
    }

    /// No names: tables print as numbers.
    pub fn none() -> TableNames {
        TableNames::default()
    }

    /// The name of table `id`.
    pub fn name(&self, id: u8) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    /// The id of the table called `name`.
    pub fn id(&self, name: &str) -> Option<u8> {
        self.by_id
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(i, _)| *i)
    }

    /// Parses a table reference: a number or a name from this map.
    pub(crate) fn parse(&self, s: &str) -> Result<u8, ParseError> {
        if let Ok(n) = value::parse_uint(s) {
            return u8::try_from(n)
                .map_err(|_| ParseError::new(format!("table {s} is out of range (0-254)")));
        }
        self.id(s)
            .ok_or_else(|| ParseError::new(format!("unknown table name {s:?}")))
    }
}

/// Splits `s` at top-level separators (commas, and whitespace when `ws`), leaving
/// anything inside parentheses alone. Empty pieces are dropped.
pub(crate) fn split_top(s: &str, ws: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            c if ws && depth == 0 && c.is_whitespace() => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Splits `key=value` / `key:value` (first separator) / `key`.
pub(crate) fn key_value(s: &str) -> (&str, Option<&str>) {
    match s.find(['=', ':']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// `name(args)` → `Some(args)` if `s` has that form.
pub(crate) fn call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

impl std::fmt::Display for crate::oxm::Match {
    /// The match as ovs-ofctl prints it (`ct_state=+new+trk,tcp,nw_dst=10.0.0.1`);
    /// empty for the match-everything match.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&matchfmt::match_pieces(self).join(","))
    }
}

impl std::fmt::Display for crate::action::Action {
    /// The action as ovs-ofctl prints it (`resubmit(,10)`, `ct(commit,zone=5)`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        actions::fmt_action_list(&mut s, std::slice::from_ref(self), &TableNames::none());
        f.write_str(&s)
    }
}

impl std::fmt::Display for crate::action::Instruction {
    /// The instruction as it appears after `actions=` (`goto_table:5`, `output:1,dec_ttl`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        actions::fmt_instructions(&mut s, std::slice::from_ref(self), &TableNames::none());
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Flow, Instruction};

    #[test]
    fn match_action_and_instruction_print_alone() {
        let f: Flow = "table=3,priority=9,ct_state=+new+trk,tcp,tp_dst=80,actions=ct(commit,zone=5),goto_table:4"
            .parse()
            .unwrap();
        assert_eq!(f.match_.to_string(), "ct_state=+new+trk,tcp,tp_dst=80");
        assert_eq!(f.instructions[1].to_string(), "goto_table:4");
        let Instruction::ApplyActions(a) = &f.instructions[0] else {
            panic!()
        };
        assert_eq!(a[0].to_string(), "ct(commit,zone=5)");
    }
}
