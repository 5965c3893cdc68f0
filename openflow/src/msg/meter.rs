//! OFPT_METER_MOD (OF1.3 §7.3.4.4): add, modify or delete a meter and its bands.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{put_zeros, DecodeError, Reader};

const OFPMC_ADD: u16 = 0;
const OFPMC_MODIFY: u16 = 1;
const OFPMC_DELETE: u16 = 2;

const OFPMBT_DROP: u16 = 1;
const OFPMBT_DSCP_REMARK: u16 = 2;

/// Meter flags (`OFPMF_*`).
pub mod meter_flags {
    pub const KBPS: u16 = 1;
    pub const PKTPS: u16 = 2;
    pub const BURST: u16 = 4;
    pub const STATS: u16 = 8;
}

/// Reserved meter ids (`OFPM_*`).
pub mod meter_id {
    pub const SLOWPATH: u32 = 0xffff_fffd;
    pub const CONTROLLER: u32 = 0xffff_fffe;
    pub const ALL: u32 = 0xffff_ffff;
}

/// What a METER_MOD does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterModCommand {
    Add,
    Modify,
    Delete,
    /// A command number this codec does not know, kept.
    Other(u16),
}

impl MeterModCommand {
    fn to_wire(self) -> u16 {
        match self {
            MeterModCommand::Add => OFPMC_ADD,
            MeterModCommand::Modify => OFPMC_MODIFY,
            MeterModCommand::Delete => OFPMC_DELETE,
            MeterModCommand::Other(c) => c,
        }
    }
    fn from_wire(c: u16) -> MeterModCommand {
        match c {
            OFPMC_ADD => MeterModCommand::Add,
            OFPMC_MODIFY => MeterModCommand::Modify,
            OFPMC_DELETE => MeterModCommand::Delete,
            c => MeterModCommand::Other(c),
        }
    }
}

/// One band of a meter (`ofp_meter_band_*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MeterBand {
    /// `type=drop rate=R burst_size=B`.
    Drop { rate: u32, burst_size: u32 },
    /// `type=dscp_remark rate=R burst_size=B prec_level=P`.
    DscpRemark {
        rate: u32,
        burst_size: u32,
        prec_level: u8,
    },
    /// Another band type (experimenter bands among them); `body` is everything after
    /// the type and length, kept so re-encoding is lossless.
    Unknown { kind: u16, body: Bytes },
}

impl MeterBand {
    fn wire_len(&self) -> usize {
        match self {
            MeterBand::Drop { .. } | MeterBand::DscpRemark { .. } => 16,
            MeterBand::Unknown { body, .. } => 4 + body.len(),
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        match self {
            MeterBand::Drop { rate, burst_size } => {
                out.put_u16(OFPMBT_DROP);
                out.put_u16(16);
                out.put_u32(*rate);
                out.put_u32(*burst_size);
                put_zeros(out, 4);
            }
            MeterBand::DscpRemark {
                rate,
                burst_size,
                prec_level,
            } => {
                out.put_u16(OFPMBT_DSCP_REMARK);
                out.put_u16(16);
                out.put_u32(*rate);
                out.put_u32(*burst_size);
                out.put_u8(*prec_level);
                put_zeros(out, 3);
            }
            MeterBand::Unknown { kind, body } => {
                out.put_u16(*kind);
                out.put_u16((4 + body.len()) as u16);
                out.put_slice(body);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<MeterBand, DecodeError> {
        let at = r.offset();
        let kind = r.u16("meter_band.type")?;
        let len = usize::from(r.u16("meter_band.len")?);
        // OF1.3 §7.3.4.4: every band is at least the 12-byte header, padded to 8.
        if len < 16 || len % 8 != 0 {
            return Err(DecodeError::BadLength {
                what: "meter_band.len",
                len,
                offset: at + 2,
            });
        }
        let mut b = r.sub(len - 4, "meter_band.body")?;
        let band = match kind {
            OFPMBT_DROP if len == 16 => {
                let rate = b.u32("meter_band.rate")?;
                let burst_size = b.u32("meter_band.burst_size")?;
                b.skip(4, "meter_band_drop.pad")?;
                MeterBand::Drop { rate, burst_size }
            }
            OFPMBT_DSCP_REMARK if len == 16 => {
                let rate = b.u32("meter_band.rate")?;
                let burst_size = b.u32("meter_band.burst_size")?;
                let prec_level = b.u8("meter_band_dscp_remark.prec_level")?;
                b.skip(3, "meter_band_dscp_remark.pad")?;
                MeterBand::DscpRemark {
                    rate,
                    burst_size,
                    prec_level,
                }
            }
            _ => MeterBand::Unknown {
                kind,
                body: Bytes::copy_from_slice(b.take_rest()),
            },
        };
        b.finish("meter_band")?;
        Ok(band)
    }
}

/// OFPT_METER_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MeterMod {
    pub command: MeterModCommand,
    /// [`meter_flags`].
    pub flags: u16,
    pub meter_id: u32,
    pub bands: Vec<MeterBand>,
}

impl MeterMod {
    pub(crate) fn body_len(&self) -> usize {
        8 + self.bands.iter().map(MeterBand::wire_len).sum::<usize>()
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.command.to_wire());
        out.put_u16(self.flags);
        out.put_u32(self.meter_id);
        for b in &self.bands {
            b.encode(out);
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<MeterMod, DecodeError> {
        let command = MeterModCommand::from_wire(r.u16("meter_mod.command")?);
        let flags = r.u16("meter_mod.flags")?;
        let meter_id = r.u32("meter_mod.meter_id")?;
        let mut bands = Vec::new();
        while !r.is_empty() {
            bands.push(MeterBand::decode(r)?);
        }
        Ok(MeterMod {
            command,
            flags,
            meter_id,
            bands,
        })
    }
}

/// As `ovs-ofctl ofp-print` shows the message after its `OFPT_METER_MOD (OF1.3)
/// (xid=0x1): ` prefix: `ADD meter=1 kbps burst stats bands=` and one
/// `\ntype=drop rate=1000 burst_size=10` line per band.
impl fmt::Display for MeterMod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.command {
            MeterModCommand::Add => f.write_str("ADD ")?,
            MeterModCommand::Modify => f.write_str("MOD ")?,
            MeterModCommand::Delete => f.write_str("DEL ")?,
            MeterModCommand::Other(c) => write!(f, "cmd:{c} ")?,
        }
        match self.meter_id {
            meter_id::ALL => f.write_str("meter=all ")?,
            meter_id::CONTROLLER => f.write_str("meter=controller ")?,
            meter_id::SLOWPATH => f.write_str("meter=slowpath ")?,
            m => write!(f, "meter={m} ")?,
        }
        for (bit, name) in [
            (meter_flags::KBPS, "kbps"),
            (meter_flags::PKTPS, "pktps"),
            (meter_flags::BURST, "burst"),
            (meter_flags::STATS, "stats"),
        ] {
            if self.flags & bit != 0 {
                write!(f, "{name} ")?;
            }
        }
        f.write_str("bands=")?;
        let burst = self.flags & meter_flags::BURST != 0;
        for b in &self.bands {
            let (rate, burst_size) = match b {
                MeterBand::Drop { rate, burst_size } => {
                    f.write_str("\ntype=drop")?;
                    (*rate, *burst_size)
                }
                MeterBand::DscpRemark {
                    rate, burst_size, ..
                } => {
                    f.write_str("\ntype=dscp_remark")?;
                    (*rate, *burst_size)
                }
                MeterBand::Unknown { kind, body } => {
                    let hex: String = body.iter().map(|x| format!("{x:02x}")).collect();
                    write!(f, "\ntype={kind:#x} body={hex}")?;
                    continue;
                }
            };
            write!(f, " rate={rate}")?;
            if burst {
                write!(f, " burst_size={burst_size}")?;
            }
            if let MeterBand::DscpRemark { prec_level, .. } = b {
                write!(f, " prec_level={prec_level}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::msg::unhex;
    use crate::{Frame, Message};

    #[test]
    fn meter_mod_decodes_and_prints_as_ovs_ofctl_ofp_print_does() {
        // The text is what `ovs-ofctl -O OpenFlow13 ofp-print` (OVS 3.1) prints for these bytes.
        for (hex, text) in [
            (
                "041d0030 00000001 0000 000d 00000001 \
                 0001 0010 000003e8 0000000a 00000000 \
                 0002 0010 00000064 00000000 01 000000",
                "ADD meter=1 kbps burst stats bands=\ntype=drop rate=1000 burst_size=10\n\
                 type=dscp_remark rate=100 burst_size=0 prec_level=1",
            ),
            ("041d0010 00000005 0002 0000 00000007", "DEL meter=7 bands="),
        ] {
            let b = unhex(hex);
            let f = Frame::decode(&b).unwrap();
            let Message::MeterMod(m) = &f.msg else {
                panic!("{f:?}")
            };
            assert_eq!(m.to_string(), text);
            assert_eq!(f.to_bytes().unwrap().to_vec(), b);
        }
    }

    #[test]
    fn meter_band_of_unknown_type_is_kept_and_bad_band_length_is_an_error() {
        let b = unhex("041d0028 00000001 0000 0001 00000002 ffff 0018 00000001 00000002 00002320 0000000000000000");
        let f = Frame::decode(&b).unwrap();
        assert_eq!(f.to_bytes().unwrap().to_vec(), b);
        let bad = unhex("041d001c 00000001 0000 0001 00000002 0001 000c 00000001 00000002");
        assert_eq!(Frame::decode(&bad).unwrap_err().what(), "meter_band.len");
    }
}
