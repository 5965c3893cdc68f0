//! OFPT_PACKET_IN (§7.4.1) and OFPT_PACKET_OUT (§7.3.7).

use bytes::{BufMut, Bytes, BytesMut};

use crate::action::{actions_len, Action};
use crate::oxm::Match;
use crate::wire::{put_zeros, DecodeError, Reader, Wire};

/// A packet the switch sends to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    pub buffer_id: u32,
    pub total_len: u16,
    /// `OFPR_NO_MATCH` 0, `OFPR_ACTION` 1, `OFPR_INVALID_TTL` 2.
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    /// Pipeline fields (in_port, metadata, registers, tunnel...).
    pub match_: Match,
    pub data: Bytes,
}

impl PacketIn {
    pub(crate) fn body_len(&self) -> usize {
        16 + self.match_.wire_len() + 2 + self.data.len()
    }
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u32(self.buffer_id);
        out.put_u16(self.total_len);
        out.put_u8(self.reason);
        out.put_u8(self.table_id);
        out.put_u64(self.cookie);
        self.match_.encode(out);
        put_zeros(out, 2);
        out.put_slice(&self.data);
    }
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<PacketIn, DecodeError> {
        let buffer_id = r.u32("packet_in.buffer_id")?;
        let total_len = r.u16("packet_in.total_len")?;
        let reason = r.u8("packet_in.reason")?;
        let table_id = r.u8("packet_in.table_id")?;
        let cookie = r.u64("packet_in.cookie")?;
        let match_ = Match::decode(r)?;
        r.skip(2, "packet_in.pad")?;
        let data = Bytes::copy_from_slice(r.take_rest());
        Ok(PacketIn {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            match_,
            data,
        })
    }
}

/// A packet the controller sends out through the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOut {
    /// [`NO_BUFFER`](crate::action::NO_BUFFER) when `data` carries the packet.
    pub buffer_id: u32,
    pub in_port: u32,
    pub actions: Vec<Action>,
    pub data: Bytes,
}

impl PacketOut {
    pub(crate) fn body_len(&self) -> usize {
        16 + actions_len(&self.actions) + self.data.len()
    }
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u32(self.buffer_id);
        out.put_u32(self.in_port);
        out.put_u16(actions_len(&self.actions) as u16);
        put_zeros(out, 6);
        for a in &self.actions {
            a.encode(out);
        }
        out.put_slice(&self.data);
    }
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<PacketOut, DecodeError> {
        let buffer_id = r.u32("packet_out.buffer_id")?;
        let in_port = r.u32("packet_out.in_port")?;
        let alen = usize::from(r.u16("packet_out.actions_len")?);
        r.skip(6, "packet_out.pad")?;
        let mut ab = r.sub(alen, "packet_out.actions")?;
        let mut actions = Vec::new();
        while !ab.is_empty() {
            actions.push(Action::decode(&mut ab)?);
        }
        Ok(PacketOut {
            buffer_id,
            in_port,
            actions,
            data: Bytes::copy_from_slice(r.take_rest()),
        })
    }
}
