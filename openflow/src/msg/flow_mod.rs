//! OFPT_FLOW_MOD (OF1.3 §7.3.4.1).

use bytes::{BufMut, BytesMut};

use crate::action::{instructions_len, Instruction};
use crate::oxm::Match;
use crate::wire::{put_zeros, DecodeError, Reader, Wire};

/// `ofp_flow_mod_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowModCommand {
    Add,
    Modify,
    ModifyStrict,
    Delete,
    DeleteStrict,
}

impl FlowModCommand {
    fn to_u8(self) -> u8 {
        self as u8
    }
    fn from_u8(v: u8) -> Option<FlowModCommand> {
        Some(match v {
            0 => FlowModCommand::Add,
            1 => FlowModCommand::Modify,
            2 => FlowModCommand::ModifyStrict,
            3 => FlowModCommand::Delete,
            4 => FlowModCommand::DeleteStrict,
            _ => return None,
        })
    }
}

/// `ofp_flow_mod_flags`.
pub mod flow_mod_flags {
    pub const SEND_FLOW_REM: u16 = 1;
    pub const CHECK_OVERLAP: u16 = 2;
    pub const RESET_COUNTS: u16 = 4;
    pub const NO_PKT_COUNTS: u16 = 8;
    pub const NO_BYT_COUNTS: u16 = 16;
}

/// Add, change or delete flows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMod {
    pub cookie: u64,
    /// For modify/delete: only flows whose cookie matches under this mask.
    pub cookie_mask: u64,
    /// 0xff (`OFPTT_ALL`) for delete in all tables.
    pub table_id: u8,
    pub command: FlowModCommand,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    /// [`NO_BUFFER`](crate::action::NO_BUFFER) normally.
    pub buffer_id: u32,
    /// Delete filter; [`port::ANY`](crate::action::port::ANY) for none.
    pub out_port: u32,
    /// Delete filter; [`group::ANY`](crate::action::group::ANY) for none.
    pub out_group: u32,
    /// [`flow_mod_flags`].
    pub flags: u16,
    pub match_: Match,
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// A flow-mod with no filters: buffer, out_port and out_group set to "none",
    /// everything else zero/empty.
    pub fn new(command: FlowModCommand, table_id: u8, priority: u16, match_: Match) -> FlowMod {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id,
            command,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: crate::action::NO_BUFFER,
            out_port: crate::action::port::ANY,
            out_group: crate::action::group::ANY,
            flags: 0,
            match_,
            instructions: Vec::new(),
        }
    }

    pub(crate) fn body_len(&self) -> usize {
        40 + self.match_.wire_len() + instructions_len(&self.instructions)
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        out.put_u8(self.table_id);
        out.put_u8(self.command.to_u8());
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.priority);
        out.put_u32(self.buffer_id);
        out.put_u32(self.out_port);
        out.put_u32(self.out_group);
        out.put_u16(self.flags);
        put_zeros(out, 2);
        self.match_.encode(out);
        for i in &self.instructions {
            i.encode(out);
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<FlowMod, DecodeError> {
        let cookie = r.u64("flow_mod.cookie")?;
        let cookie_mask = r.u64("flow_mod.cookie_mask")?;
        let table_id = r.u8("flow_mod.table_id")?;
        let at = r.offset();
        let c = r.u8("flow_mod.command")?;
        let command = FlowModCommand::from_u8(c).ok_or(DecodeError::BadValue {
            what: "flow_mod.command",
            value: c.into(),
            offset: at,
        })?;
        let idle_timeout = r.u16("flow_mod.idle_timeout")?;
        let hard_timeout = r.u16("flow_mod.hard_timeout")?;
        let priority = r.u16("flow_mod.priority")?;
        let buffer_id = r.u32("flow_mod.buffer_id")?;
        let out_port = r.u32("flow_mod.out_port")?;
        let out_group = r.u32("flow_mod.out_group")?;
        let flags = r.u16("flow_mod.flags")?;
        r.skip(2, "flow_mod.pad")?;
        let match_ = Match::decode(r)?;
        let mut instructions = Vec::new();
        while !r.is_empty() {
            instructions.push(Instruction::decode(r)?);
        }
        Ok(FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            match_,
            instructions,
        })
    }
}
