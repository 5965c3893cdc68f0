//! [`Group`]: a group in `ovs-ofctl add-group` / `dump-groups` text form.

use std::fmt;
use std::str::FromStr;

use super::actions::{fmt_action_list, parse_action_list, Ctx};
use super::value::{fmt_port, parse_port, parse_u16, parse_u32};
use super::{err, split_top, ParseError, TableNames};
use crate::action::{group, port};
use crate::msg::{Bucket, GroupDesc, GroupMod, GroupModCommand, GroupType};
use crate::oxm::Match;

/// A group as `add-group` takes it and `dump-groups` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    pub group_id: u32,
    pub group_type: GroupType,
    pub buckets: Vec<Bucket>,
}

impl Group {
    /// A GROUP_MOD applying `command` to this group.
    pub fn to_group_mod(&self, command: GroupModCommand) -> GroupMod {
        GroupMod {
            command,
            group_type: self.group_type,
            group_id: self.group_id,
            buckets: self.buckets.clone(),
        }
    }

    /// Parses `add-group` syntax, resolving table names (in `resubmit`, `ct`) with `names`.
    ///
    /// # Errors
    /// [`ParseError`] naming the wrong token.
    pub fn parse_with(s: &str, names: &TableNames) -> Result<Group, ParseError> {
        let starts = bucket_starts(s);
        let head = &s[..starts.first().copied().unwrap_or(s.len())];
        let (mut id, mut ty) = (None, None);
        for tok in split_top(head, true) {
            match tok.split_once('=') {
                Some(("group_id", v)) => id = Some(parse_u32(v, "group_id")?),
                Some(("type", v)) => {
                    ty = Some(match v {
                        "all" => GroupType::All,
                        "select" => GroupType::Select,
                        "indirect" => GroupType::Indirect,
                        "ff" | "fast_failover" => GroupType::FastFailover,
                        _ => {
                            return err(format!(
                                "unknown group type {v:?} (all, select, indirect, ff)"
                            ))
                        }
                    })
                }
                _ => return err(format!("unknown group keyword {tok:?}")),
            }
        }
        let group_id =
            id.ok_or_else(|| ParseError::new(format!("group {s:?} has no group_id=")))?;
        let group_type = ty.unwrap_or(GroupType::All);
        let empty = Match::new();
        let ctx = Ctx {
            names,
            match_: &empty,
        };
        let mut buckets = Vec::new();
        for (i, &st) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(s.len());
            let body = s[st + "bucket=".len()..end].trim().trim_end_matches(',');
            buckets.push(parse_bucket(body, group_type, &ctx)?);
        }
        Ok(Group {
            group_id,
            group_type,
            buckets,
        })
    }

    /// Displays the group with table names (for `resubmit(,NAME)` in buckets).
    pub fn display_with<'a>(&'a self, names: &'a TableNames) -> GroupDisplay<'a> {
        GroupDisplay { group: self, names }
    }
}

fn bucket_starts(s: &str) -> Vec<usize> {
    let mut v = Vec::new();
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            'b' if depth == 0 && s[i..].starts_with("bucket=") && after_separator(&s[..i]) => {
                v.push(i)
            }
            _ => {}
        }
    }
    v
}

fn after_separator(before: &str) -> bool {
    before
        .chars()
        .last()
        .is_none_or(|c| c == ',' || c.is_whitespace())
}

fn default_weight(t: GroupType) -> u16 {
    if t == GroupType::Select {
        1
    } else {
        0
    }
}

fn parse_bucket(body: &str, t: GroupType, ctx: &Ctx<'_>) -> Result<Bucket, ParseError> {
    let mut b = Bucket {
        weight: default_weight(t),
        watch_port: port::ANY,
        watch_group: group::ANY,
        actions: Vec::new(),
    };
    let mut rest = body;
    let mut acts = String::new();
    while !rest.is_empty() {
        if let Some(a) = rest.strip_prefix("actions=") {
            if !acts.is_empty() {
                acts.push(',');
            }
            acts.push_str(a);
            break;
        }
        let toks = split_top(rest, false);
        let Some(tok) = toks.first().copied() else {
            break;
        };
        let key = tok.split([':', '=']).next().unwrap_or("");
        let val = tok.get(key.len() + 1..).unwrap_or("");
        match key {
            "weight" => b.weight = parse_u16(val, "bucket weight")?,
            "watch_port" => b.watch_port = parse_port(val)?,
            "watch_group" => b.watch_group = parse_u32(val, "watch_group")?,
            _ => {
                if !acts.is_empty() {
                    acts.push(',');
                }
                acts.push_str(tok);
            }
        }
        // Advance past this token and its comma.
        let pos = rest.find(tok).unwrap_or(0) + tok.len();
        rest = rest[pos..].trim_start_matches([',', ' ']);
    }
    b.actions = parse_action_list(&acts, ctx)?;
    Ok(b)
}

impl FromStr for Group {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Group, ParseError> {
        Group::parse_with(s, &TableNames::none())
    }
}

impl From<&GroupDesc> for Group {
    fn from(g: &GroupDesc) -> Group {
        Group {
            group_id: g.group_id,
            group_type: g.group_type,
            buckets: g.buckets.clone(),
        }
    }
}

/// [`Group`] with table names.
pub struct GroupDisplay<'a> {
    group: &'a Group,
    names: &'a TableNames,
}

impl fmt::Display for GroupDisplay<'_> {
    /// `group_id=5,type=select,bucket=weight:100,actions=output:1,bucket=...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.group;
        let mut s = format!("group_id={},type={}", g.group_id, g.group_type.name());
        for b in &g.buckets {
            s.push_str(",bucket=");
            if b.weight != default_weight(g.group_type) {
                s.push_str(&format!("weight:{},", b.weight));
            }
            if b.watch_port != port::ANY {
                s.push_str(&format!("watch_port:{},", fmt_port(b.watch_port)));
            }
            if b.watch_group != group::ANY {
                s.push_str(&format!("watch_group:{},", b.watch_group));
            }
            s.push_str("actions=");
            if b.actions.is_empty() {
                s.push_str("drop");
            } else {
                fmt_action_list(&mut s, &b.actions, self.names);
            }
        }
        f.write_str(&s)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.display_with(&TableNames::none()), f)
    }
}
