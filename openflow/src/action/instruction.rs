//! Instructions (OF1.3 §7.2.4).

use bytes::{BufMut, Bytes, BytesMut};

use super::{actions_len, Action};
use crate::wire::{put_zeros, DecodeError, Reader, Wire};

const OFPIT_GOTO_TABLE: u16 = 1;
const OFPIT_WRITE_METADATA: u16 = 2;
const OFPIT_WRITE_ACTIONS: u16 = 3;
const OFPIT_APPLY_ACTIONS: u16 = 4;
const OFPIT_CLEAR_ACTIONS: u16 = 5;
const OFPIT_METER: u16 = 6;

/// One instruction of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Instruction {
    /// `goto_table:N`.
    GotoTable(u8),
    /// `write_metadata:V/M`.
    WriteMetadata { metadata: u64, mask: u64 },
    /// The `actions=` list.
    ApplyActions(Vec<Action>),
    /// `write_actions(...)`.
    WriteActions(Vec<Action>),
    /// `clear_actions`.
    ClearActions,
    /// `meter:N`.
    Meter(u32),
    /// An instruction this codec does not model; `body` is everything after type/len.
    Unknown { kind: u16, body: Bytes },
}

impl Wire for Instruction {
    fn wire_len(&self) -> usize {
        match self {
            Instruction::GotoTable(_) | Instruction::ClearActions | Instruction::Meter(_) => 8,
            Instruction::WriteMetadata { .. } => 24,
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => 8 + actions_len(a),
            Instruction::Unknown { body, .. } => 4 + body.len(),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        let len = self.wire_len() as u16;
        match self {
            Instruction::GotoTable(t) => {
                out.put_u16(OFPIT_GOTO_TABLE);
                out.put_u16(len);
                out.put_u8(*t);
                put_zeros(out, 3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                out.put_u16(OFPIT_WRITE_METADATA);
                out.put_u16(len);
                put_zeros(out, 4);
                out.put_u64(*metadata);
                out.put_u64(*mask);
            }
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => {
                let kind = if matches!(self, Instruction::ApplyActions(_)) {
                    OFPIT_APPLY_ACTIONS
                } else {
                    OFPIT_WRITE_ACTIONS
                };
                out.put_u16(kind);
                out.put_u16(len);
                put_zeros(out, 4);
                for x in a {
                    x.encode(out);
                }
            }
            Instruction::ClearActions => {
                out.put_u16(OFPIT_CLEAR_ACTIONS);
                out.put_u16(len);
                put_zeros(out, 4);
            }
            Instruction::Meter(m) => {
                out.put_u16(OFPIT_METER);
                out.put_u16(len);
                out.put_u32(*m);
            }
            Instruction::Unknown { kind, body } => {
                out.put_u16(*kind);
                out.put_u16(len);
                out.put_slice(body);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let kind = r.u16("instruction.type")?;
        let len = usize::from(r.u16("instruction.len")?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength {
                what: "instruction.len",
                len,
                offset: at + 2,
            });
        }
        let mut b = r.sub(len - 4, "instruction.body")?;
        let i = match kind {
            OFPIT_GOTO_TABLE if len == 8 => {
                let t = b.u8("goto_table.table_id")?;
                b.skip(3, "goto_table.pad")?;
                Instruction::GotoTable(t)
            }
            OFPIT_WRITE_METADATA if len == 24 => {
                b.skip(4, "write_metadata.pad")?;
                let metadata = b.u64("write_metadata.metadata")?;
                let mask = b.u64("write_metadata.mask")?;
                Instruction::WriteMetadata { metadata, mask }
            }
            OFPIT_APPLY_ACTIONS | OFPIT_WRITE_ACTIONS => {
                b.skip(4, "actions.pad")?;
                let mut v = Vec::new();
                while !b.is_empty() {
                    v.push(Action::decode(&mut b)?);
                }
                if kind == OFPIT_APPLY_ACTIONS {
                    Instruction::ApplyActions(v)
                } else {
                    Instruction::WriteActions(v)
                }
            }
            OFPIT_CLEAR_ACTIONS if len == 8 => {
                b.skip(4, "clear_actions.pad")?;
                Instruction::ClearActions
            }
            OFPIT_METER if len == 8 => Instruction::Meter(b.u32("meter.meter_id")?),
            _ => Instruction::Unknown {
                kind,
                body: Bytes::copy_from_slice(b.take_rest()),
            },
        };
        b.finish("instruction")?;
        Ok(i)
    }
}

/// The encoded length of an instruction list.
pub fn instructions_len(i: &[Instruction]) -> usize {
    i.iter().map(Wire::wire_len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(i: &Instruction) -> String {
        let mut b = BytesMut::new();
        i.encode(&mut b);
        assert_eq!(b.len(), i.wire_len());
        assert_eq!(&Instruction::decode(&mut Reader::new(&b)).unwrap(), i);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn instructions_match_ovs_ofctl_bytes() {
        assert_eq!(hex(&Instruction::GotoTable(5)), "0001000805000000"); // goto_table:5
        assert_eq!(hex(&Instruction::ClearActions), "0005000800000000"); // clear_actions
                                                                         // write_metadata:0x5/0xff
        assert_eq!(
            hex(&Instruction::WriteMetadata {
                metadata: 5,
                mask: 0xff
            }),
            concat!(
                "00020018",
                "00000000",
                "0000000000000005",
                "00000000000000ff"
            )
        );
        // write_actions(output:1)
        assert_eq!(
            hex(&Instruction::WriteActions(vec![Action::Output {
                port: 1,
                max_len: 0
            }])),
            concat!("00030018", "00000000", "00000010000000010000000000000000")
        );
    }
}
