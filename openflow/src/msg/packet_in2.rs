//! NXT_PACKET_IN2 (Nicira experimenter message 30): a packet-in as a list of
//! properties, what OVS sends for `controller(...)` with userdata, pause or meter_id.
//! Kept as its properties, each exactly as received, with accessors that interpret them.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::oxm::Match;
use crate::wire::{pad8, put_zeros, DecodeError, Reader, Wire};

/// `NXT_PACKET_IN2`.
pub(crate) const NXT_PACKET_IN2: u32 = 30;

const NXPINT_PACKET: u16 = 0;
const NXPINT_FULL_LEN: u16 = 1;
const NXPINT_BUFFER_ID: u16 = 2;
const NXPINT_TABLE_ID: u16 = 3;
const NXPINT_COOKIE: u16 = 4;
const NXPINT_REASON: u16 = 5;
const NXPINT_METADATA: u16 = 6;
const NXPINT_USERDATA: u16 = 7;
const NXPINT_CONTINUATION: u16 = 8;

/// One property (`ofp_prop_header` + value, padded to 8 on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketIn2Prop {
    /// `NXPINT_*`.
    pub kind: u16,
    /// The value, without the 4-byte head and the padding.
    pub value: Bytes,
}

/// NXT_PACKET_IN2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PacketIn2 {
    /// In the order received; properties this codec does not know are kept too.
    pub props: Vec<PacketIn2Prop>,
}

impl PacketIn2 {
    fn prop(&self, kind: u16) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|p| p.kind == kind)
            .map(|p| &p.value[..])
    }

    fn uint(&self, kind: u16, width: usize) -> Option<u64> {
        let v = self.prop(kind)?;
        // 64-bit values may come after 4 bytes of padding (OVS's ofpprop_put_be64).
        let v = if width == 8 && v.len() == 12 {
            &v[4..]
        } else {
            v
        };
        (v.len() == width).then(|| v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    /// The packet (or its first bytes).
    pub fn packet(&self) -> &[u8] {
        self.prop(NXPINT_PACKET).unwrap_or(&[])
    }
    /// The packet's full length, when only part of it was sent.
    pub fn full_len(&self) -> Option<u32> {
        self.uint(NXPINT_FULL_LEN, 4).map(|v| v as u32)
    }
    pub fn buffer_id(&self) -> Option<u32> {
        self.uint(NXPINT_BUFFER_ID, 4).map(|v| v as u32)
    }
    pub fn table_id(&self) -> Option<u8> {
        self.uint(NXPINT_TABLE_ID, 1).map(|v| v as u8)
    }
    pub fn cookie(&self) -> Option<u64> {
        self.uint(NXPINT_COOKIE, 8)
    }
    /// `OFPR_*` reason.
    pub fn reason(&self) -> Option<u8> {
        self.uint(NXPINT_REASON, 1).map(|v| v as u8)
    }
    /// The controller action's `userdata`.
    pub fn userdata(&self) -> Option<&[u8]> {
        self.prop(NXPINT_USERDATA)
    }
    /// The opaque continuation of a paused pipeline (`controller(pause)`).
    pub fn continuation(&self) -> Option<&[u8]> {
        self.prop(NXPINT_CONTINUATION)
    }

    /// The packet's metadata (in_port, registers, tunnel, conntrack fields), an
    /// `nx_match` of OXM TLVs.
    ///
    /// # Errors
    /// [`DecodeError`] if the TLVs are malformed.
    pub fn metadata(&self) -> Result<Match, DecodeError> {
        let Some(tlvs) = self.prop(NXPINT_METADATA) else {
            return Ok(Match::new());
        };
        // Parse it as the ofp_match it would be, so it is canonicalised the same way.
        let l = 4 + tlvs.len();
        let mut m = BytesMut::with_capacity(l + 8);
        m.put_u16(1);
        m.put_u16(u16::try_from(l).map_err(|_| DecodeError::BadLength {
            what: "packet_in2.metadata",
            len: l,
            offset: 0,
        })?);
        m.put_slice(tlvs);
        put_zeros(&mut m, pad8(l));
        Ok(Match::decode(&mut Reader::new(&m))?.canonical())
    }

    pub(crate) fn body_len(&self) -> usize {
        8 + self
            .props
            .iter()
            .map(|p| {
                let l = 4 + p.value.len();
                l + pad8(l)
            })
            .sum::<usize>()
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u32(super::NX_EXPERIMENTER_ID);
        out.put_u32(NXT_PACKET_IN2);
        for p in &self.props {
            let l = 4 + p.value.len();
            out.put_u16(p.kind);
            out.put_u16(l as u16);
            out.put_slice(&p.value);
            put_zeros(out, pad8(l));
        }
    }

    /// Decodes the properties (after the experimenter id and subtype).
    pub(crate) fn decode_rest(r: &mut Reader<'_>) -> Result<PacketIn2, DecodeError> {
        let mut props = Vec::new();
        while !r.is_empty() {
            let at = r.offset();
            let kind = r.u16("packet_in2.prop.type")?;
            let len = usize::from(r.u16("packet_in2.prop.len")?);
            if len < 4 {
                return Err(DecodeError::BadLength {
                    what: "packet_in2.prop.len",
                    len,
                    offset: at + 2,
                });
            }
            let value = Bytes::copy_from_slice(r.bytes(len - 4, "packet_in2.prop.value")?);
            r.skip(pad8(len), "packet_in2.prop.pad")?;
            props.push(PacketIn2Prop { kind, value });
        }
        Ok(PacketIn2 { props })
    }
}

/// As `ovs-ofctl ofp-print` shows the message after its `NXT_PACKET_IN2 (OF1.3)
/// (xid=0x0):` prefix, without the dissection of the packet that it adds:
/// ` table_id=1 cookie=0x5 total_len=64 in_port=1 (via action) data_len=14
/// (unbuffered)`, then ` userdata=01.02` on a line of its own.
impl fmt::Display for PacketIn2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data_len = self.packet().len();
        let total_len = self.full_len().map_or(data_len, |l| l as usize);
        if let Some(t) = self.table_id().filter(|&t| t != 0) {
            write!(f, " table_id={t}")?;
        }
        if let Some(c) = self.cookie().filter(|&c| c != u64::MAX) {
            write!(f, " cookie={c:#x}")?;
        }
        if total_len != data_len {
            write!(f, " total_len={total_len}")?;
        }
        match self.metadata() {
            Ok(m) => write!(f, " {}", crate::text::match_pieces(&m).join(","))?,
            Err(e) => write!(f, " (bad metadata: {e})")?,
        }
        write!(
            f,
            " (via {}) data_len={data_len}",
            crate::text::reason_name(self.reason().unwrap_or(0))
        )?;
        match self.buffer_id().filter(|&b| b != u32::MAX) {
            None => f.write_str(" (unbuffered)")?,
            Some(b) => write!(f, " buffer={b:#010x}")?,
        }
        if total_len != data_len {
            f.write_str(" (***total_len != data_len***)")?;
        }
        if let Some(u) = self.userdata() {
            let hex: Vec<String> = u.iter().map(|x| format!("{x:02x}")).collect();
            write!(f, "\n userdata={}", hex.join("."))?;
        }
        if let Some(c) = self.continuation() {
            write!(f, "\n continuation: {} bytes", c.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::msg::unhex;
    use crate::{Frame, Message};

    #[test]
    fn packet_in2_decodes_reencodes_and_prints_as_ovs_ofctl_ofp_print_does() {
        let b = unhex(
            "04040068 00000000 00002320 0000001e \
             0000 0012 ffffffffffff 020000000001 88b5 000000000000 \
             0001 0008 00000040 \
             0003 0005 01 000000 \
             0004 0010 00000000 0000000000000005 \
             0005 0005 01 000000 \
             0006 000c 80000004 00000001 00000000 \
             0007 0006 0102 0000",
        );
        let f = Frame::decode(&b).unwrap();
        let Message::PacketIn2(p) = &f.msg else {
            panic!("{f:?}")
        };
        assert_eq!(f.to_bytes().unwrap().to_vec(), b);
        assert_eq!(p.packet().len(), 14);
        assert_eq!(
            (p.table_id(), p.cookie(), p.reason()),
            (Some(1), Some(5), Some(1))
        );
        // `ovs-ofctl -O OpenFlow13 ofp-print` (OVS 3.1) prints these two lines, then
        // its dissection of the packet.
        assert_eq!(
            p.to_string(),
            " table_id=1 cookie=0x5 total_len=64 in_port=1 (via action) data_len=14 (unbuffered) (***total_len != data_len***)\n userdata=01.02"
        );
    }

    #[test]
    fn packet_in2_property_shorter_than_its_head_is_an_error() {
        let b = unhex("04040018 00000000 00002320 0000001e 0007 0002 00000000");
        assert_eq!(Frame::decode(&b).unwrap_err().what(), "packet_in2.prop.len");
    }
}
