//! OFPT_GROUP_MOD (OF1.3 §7.3.4.2) and buckets.

use bytes::{BufMut, BytesMut};

use crate::action::{actions_len, Action};
use crate::wire::{put_zeros, DecodeError, Reader, Wire};

/// `ofp_group_mod_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupModCommand {
    Add,
    Modify,
    Delete,
}

/// `ofp_group_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupType {
    All,
    Select,
    Indirect,
    FastFailover,
}

impl GroupType {
    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }
    pub(crate) fn from_u8(v: u8) -> Option<GroupType> {
        Some(match v {
            0 => GroupType::All,
            1 => GroupType::Select,
            2 => GroupType::Indirect,
            3 => GroupType::FastFailover,
            _ => return None,
        })
    }
    /// The ovs-ofctl name (`all`, `select`, `indirect`, `ff`).
    pub fn name(self) -> &'static str {
        match self {
            GroupType::All => "all",
            GroupType::Select => "select",
            GroupType::Indirect => "indirect",
            GroupType::FastFailover => "ff",
        }
    }
    pub(crate) fn decode(r: &mut Reader<'_>, what: &'static str) -> Result<GroupType, DecodeError> {
        let at = r.offset();
        let v = r.u8(what)?;
        GroupType::from_u8(v).ok_or(DecodeError::BadValue {
            what,
            value: v.into(),
            offset: at,
        })
    }
}

/// One bucket of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket {
    /// Relative weight (select groups); 0 for other types.
    pub weight: u16,
    /// Liveness port (fast failover); [`port::ANY`](crate::action::port::ANY) otherwise.
    pub watch_port: u32,
    /// Liveness group; [`group::ANY`](crate::action::group::ANY) otherwise.
    pub watch_group: u32,
    pub actions: Vec<Action>,
}

impl Bucket {
    /// A bucket with no watch port/group.
    pub fn new(weight: u16, actions: Vec<Action>) -> Bucket {
        Bucket {
            weight,
            watch_port: crate::action::port::ANY,
            watch_group: crate::action::group::ANY,
            actions,
        }
    }
}

impl Wire for Bucket {
    fn wire_len(&self) -> usize {
        16 + actions_len(&self.actions)
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.wire_len() as u16);
        out.put_u16(self.weight);
        out.put_u32(self.watch_port);
        out.put_u32(self.watch_group);
        put_zeros(out, 4);
        for a in &self.actions {
            a.encode(out);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let len = usize::from(r.u16("bucket.len")?);
        if len < 16 || len % 8 != 0 {
            return Err(DecodeError::BadLength {
                what: "bucket.len",
                len,
                offset: at,
            });
        }
        let mut b = r.sub(len - 2, "bucket")?;
        let weight = b.u16("bucket.weight")?;
        let watch_port = b.u32("bucket.watch_port")?;
        let watch_group = b.u32("bucket.watch_group")?;
        b.skip(4, "bucket.pad")?;
        let mut actions = Vec::new();
        while !b.is_empty() {
            actions.push(Action::decode(&mut b)?);
        }
        Ok(Bucket {
            weight,
            watch_port,
            watch_group,
            actions,
        })
    }
}

/// Add, change or delete a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMod {
    pub command: GroupModCommand,
    pub group_type: GroupType,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    pub(crate) fn body_len(&self) -> usize {
        8 + self.buckets.iter().map(Wire::wire_len).sum::<usize>()
    }
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.command as u16);
        out.put_u8(self.group_type.to_u8());
        out.put_u8(0);
        out.put_u32(self.group_id);
        for b in &self.buckets {
            b.encode(out);
        }
    }
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<GroupMod, DecodeError> {
        let at = r.offset();
        let c = r.u16("group_mod.command")?;
        let command = match c {
            0 => GroupModCommand::Add,
            1 => GroupModCommand::Modify,
            2 => GroupModCommand::Delete,
            _ => {
                return Err(DecodeError::BadValue {
                    what: "group_mod.command",
                    value: c.into(),
                    offset: at,
                })
            }
        };
        let group_type = GroupType::decode(r, "group_mod.type")?;
        r.skip(1, "group_mod.pad")?;
        let group_id = r.u32("group_mod.group_id")?;
        let mut buckets = Vec::new();
        while !r.is_empty() {
            buckets.push(Bucket::decode(r)?);
        }
        Ok(GroupMod {
            command,
            group_type,
            group_id,
            buckets,
        })
    }
}
