//! Actions (OF1.3 §7.2.5) and instructions (§7.2.4): [`Action`], [`NxAction`],
//! [`Instruction`].

mod instruction;
pub mod nx;

use bytes::{BufMut, Bytes, BytesMut};

pub use instruction::{instructions_len, Instruction};
pub use nx::{
    Bundle, Controller2, Ct, CtZone, FieldSlice, Learn, LearnDst, LearnSpec, LearnSrc, Multipath,
    Nat, NxAction,
};

use crate::oxm::OxmField;
use crate::wire::{pad8, put_zeros, DecodeError, Reader, Wire};

const OFPAT_OUTPUT: u16 = 0;
const OFPAT_SET_MPLS_TTL: u16 = 15;
const OFPAT_DEC_MPLS_TTL: u16 = 16;
const OFPAT_PUSH_MPLS: u16 = 19;
const OFPAT_POP_MPLS: u16 = 20;
const OFPAT_PUSH_VLAN: u16 = 17;
const OFPAT_POP_VLAN: u16 = 18;
const OFPAT_GROUP: u16 = 22;
const OFPAT_DEC_NW_TTL: u16 = 24;
const OFPAT_SET_FIELD: u16 = 25;
const OFPAT_EXPERIMENTER: u16 = 0xffff;

/// The Nicira vendor id (`NX_VENDOR_ID`).
pub const NX_VENDOR_ID: u32 = 0x0000_2320;

/// Reserved OpenFlow 1.3 port numbers (`ofp_port_no`).
pub mod port {
    /// Highest ordinary port number.
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    pub const ANY: u32 = 0xffff_ffff;

    /// The ovs-ofctl name of a reserved port.
    pub fn name(p: u32) -> Option<&'static str> {
        Some(match p {
            IN_PORT => "IN_PORT",
            TABLE => "TABLE",
            NORMAL => "NORMAL",
            FLOOD => "FLOOD",
            ALL => "ALL",
            CONTROLLER => "CONTROLLER",
            LOCAL => "LOCAL",
            ANY => "ANY",
            _ => return None,
        })
    }

    /// The reserved port named `s` (as ovs-ofctl spells it, any case).
    pub fn from_name(s: &str) -> Option<u32> {
        Some(match s.to_ascii_uppercase().as_str() {
            "IN_PORT" => IN_PORT,
            "TABLE" => TABLE,
            "NORMAL" => NORMAL,
            "FLOOD" => FLOOD,
            "ALL" => ALL,
            "CONTROLLER" => CONTROLLER,
            "LOCAL" => LOCAL,
            "ANY" | "NONE" => ANY,
            _ => return None,
        })
    }
}

/// Reserved group numbers.
pub mod group {
    pub const ALL: u32 = 0xffff_fffc;
    pub const ANY: u32 = 0xffff_ffff;
}

/// `OFP_NO_BUFFER`.
pub const NO_BUFFER: u32 = 0xffff_ffff;

/// One action in an action list or bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// `output:PORT` (`max_len` only matters for CONTROLLER).
    Output { port: u32, max_len: u16 },
    /// `group:N`.
    Group(u32),
    /// `set_field:VALUE->FIELD` (unmasked; masked writes are [`NxAction::RegLoad`]).
    SetField(OxmField),
    /// `push_vlan:ETHERTYPE`.
    PushVlan(u16),
    /// `pop_vlan`.
    PopVlan,
    /// `dec_ttl` (OFPAT_DEC_NW_TTL).
    DecTtl,
    /// `push_mpls:ETHERTYPE`.
    PushMpls(u16),
    /// `pop_mpls:ETHERTYPE` (the ethertype of what is under the label).
    PopMpls(u16),
    /// `set_mpls_ttl(TTL)` (OFPAT_SET_MPLS_TTL).
    SetMplsTtl(u8),
    /// `dec_mpls_ttl`.
    DecMplsTtl,
    /// A Nicira extension action.
    Nx(NxAction),
    /// An action this codec does not model, kept so re-encoding is lossless. `body` is
    /// everything after the 4-byte type/length head.
    Unknown { kind: u16, body: Bytes },
}

impl Wire for Action {
    fn wire_len(&self) -> usize {
        match self {
            Action::Output { .. } => 16,
            Action::Group(_)
            | Action::PushVlan(_)
            | Action::PopVlan
            | Action::DecTtl
            | Action::PushMpls(_)
            | Action::PopMpls(_)
            | Action::SetMplsTtl(_)
            | Action::DecMplsTtl => 8,
            Action::SetField(f) => {
                let l = 4 + f.wire_len();
                l + pad8(l)
            }
            Action::Nx(a) => a.wire_len(),
            Action::Unknown { body, .. } => 4 + body.len(),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            Action::Output { port, max_len } => {
                out.put_u16(OFPAT_OUTPUT);
                out.put_u16(16);
                out.put_u32(*port);
                out.put_u16(*max_len);
                put_zeros(out, 6);
            }
            Action::Group(g) => {
                out.put_u16(OFPAT_GROUP);
                out.put_u16(8);
                out.put_u32(*g);
            }
            Action::SetField(f) => {
                out.put_u16(OFPAT_SET_FIELD);
                out.put_u16(self.wire_len() as u16);
                f.encode(out);
                put_zeros(out, pad8(4 + f.wire_len()));
            }
            Action::PushVlan(t) => {
                out.put_u16(OFPAT_PUSH_VLAN);
                out.put_u16(8);
                out.put_u16(*t);
                put_zeros(out, 2);
            }
            Action::PopVlan | Action::DecTtl => {
                out.put_u16(if *self == Action::PopVlan {
                    OFPAT_POP_VLAN
                } else {
                    OFPAT_DEC_NW_TTL
                });
                out.put_u16(8);
                put_zeros(out, 4);
            }
            Action::PushMpls(t) | Action::PopMpls(t) => {
                out.put_u16(if matches!(self, Action::PushMpls(_)) {
                    OFPAT_PUSH_MPLS
                } else {
                    OFPAT_POP_MPLS
                });
                out.put_u16(8);
                out.put_u16(*t);
                put_zeros(out, 2);
            }
            Action::SetMplsTtl(t) => {
                out.put_u16(OFPAT_SET_MPLS_TTL);
                out.put_u16(8);
                out.put_u8(*t);
                put_zeros(out, 3);
            }
            Action::DecMplsTtl => {
                out.put_u16(OFPAT_DEC_MPLS_TTL);
                out.put_u16(8);
                put_zeros(out, 4);
            }
            Action::Nx(a) => a.encode(out),
            Action::Unknown { kind, body } => {
                out.put_u16(*kind);
                out.put_u16((4 + body.len()) as u16);
                out.put_slice(body);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let kind = r.u16("action.type")?;
        let len = usize::from(r.u16("action.len")?);
        // OF1.3 §7.2.5: action lengths are a multiple of 8 and include the 4-byte head.
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength {
                what: "action.len",
                len,
                offset: at + 2,
            });
        }
        let mut body = r.sub(len - 4, "action.body")?;
        let action = match kind {
            OFPAT_OUTPUT if len == 16 => {
                let port = body.u32("output.port")?;
                let max_len = body.u16("output.max_len")?;
                body.skip(6, "output.pad")?;
                Action::Output { port, max_len }
            }
            OFPAT_GROUP if len == 8 => Action::Group(body.u32("group.group_id")?),
            OFPAT_PUSH_VLAN if len == 8 => {
                let t = body.u16("push_vlan.ethertype")?;
                body.skip(2, "push_vlan.pad")?;
                Action::PushVlan(t)
            }
            OFPAT_POP_VLAN if len == 8 => {
                body.skip(4, "pop_vlan.pad")?;
                Action::PopVlan
            }
            OFPAT_DEC_NW_TTL if len == 8 => {
                body.skip(4, "dec_nw_ttl.pad")?;
                Action::DecTtl
            }
            OFPAT_PUSH_MPLS | OFPAT_POP_MPLS if len == 8 => {
                let t = body.u16("mpls.ethertype")?;
                body.skip(2, "mpls.pad")?;
                if kind == OFPAT_PUSH_MPLS {
                    Action::PushMpls(t)
                } else {
                    Action::PopMpls(t)
                }
            }
            OFPAT_SET_MPLS_TTL if len == 8 => {
                let t = body.u8("set_mpls_ttl.mpls_ttl")?;
                body.skip(3, "set_mpls_ttl.pad")?;
                Action::SetMplsTtl(t)
            }
            OFPAT_DEC_MPLS_TTL if len == 8 => {
                body.skip(4, "dec_mpls_ttl.pad")?;
                Action::DecMplsTtl
            }
            OFPAT_SET_FIELD => {
                let f = OxmField::decode(&mut body)?;
                if body.remaining() >= 8 {
                    return Err(body.bad_len("set_field.pad", body.remaining()));
                }
                body.take_rest();
                Action::SetField(f)
            }
            OFPAT_EXPERIMENTER if body.clone().u32("experimenter")? == NX_VENDOR_ID => {
                body.skip(4, "experimenter")?;
                Action::Nx(NxAction::decode_body(&mut body)?)
            }
            _ => Action::Unknown {
                kind,
                body: Bytes::copy_from_slice(body.take_rest()),
            },
        };
        body.finish("action")?;
        Ok(action)
    }
}

/// Encodes an action list.
pub(crate) fn actions_len(a: &[Action]) -> usize {
    a.iter().map(Wire::wire_len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oxm::Field;

    fn rt(a: &Action, hex: &str) {
        let mut b = BytesMut::new();
        a.encode(&mut b);
        assert_eq!(b.len(), a.wire_len(), "{a:?}");
        let want: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(hex::encode(&b), hex::encode(&want), "{a:?}");
        assert_eq!(&Action::decode(&mut Reader::new(&want)).unwrap(), a);
    }

    mod hex {
        pub fn encode(b: &[u8]) -> String {
            b.iter().map(|x| format!("{x:02x}")).collect()
        }
    }

    #[test]
    fn standard_actions_match_ovs_ofctl_bytes() {
        // Vectors from `ovs-ofctl -O OpenFlow13 -mmmmm parse-flow 'actions=...'`.
        rt(&Action::Group(5), "0016000800000005"); // group:5
        rt(
            &Action::Output {
                port: port::IN_PORT,
                max_len: 0,
            },
            "00000010fffffff80000000000000000",
        ); // IN_PORT
        rt(
            &Action::Output {
                port: port::CONTROLLER,
                max_len: 100,
            },
            "00000010fffffffd0064000000000000",
        ); // CONTROLLER:100
        rt(&Action::PushVlan(0x8100), "0011000881000000"); // push_vlan:0x8100
        rt(&Action::DecTtl, "0018000800000000"); // dec_ttl
                                                 // set_field:1.2.3.4->ip_dst
        rt(
            &Action::SetField(OxmField::uint(Field::IPV4_DST, 0x0102_0304)),
            "00190010800018040102030400000000",
        );
    }

    #[test]
    fn unknown_action_is_kept() {
        rt(
            &Action::Unknown {
                kind: 11,
                body: Bytes::from_static(&[0, 0, 0, 0]),
            },
            "000b000800000000",
        );
    }

    #[test]
    fn rejects_action_with_bad_length() {
        let e =
            Action::decode(&mut Reader::new(&[0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(e.what(), "action.len");
        let e = Action::decode(&mut Reader::new(&[0, 22, 0, 16, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(e.what(), "action.body");
    }
}
