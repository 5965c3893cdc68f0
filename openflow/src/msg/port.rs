//! `ofp_port` (§7.2.1) and OFPT_PORT_STATUS (§7.4.3).

use bytes::{BufMut, BytesMut};

use crate::wire::{fixed_str, put_fixed_str, put_zeros, DecodeError, Reader, Wire};

/// A port's description (PORT_STATUS, PORT_DESC reply).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortDesc {
    pub port_no: u32,
    pub hw_addr: [u8; 6],
    /// Up to 15 bytes.
    pub name: String,
    /// `OFPPC_*`.
    pub config: u32,
    /// `OFPPS_*` (LINK_DOWN 1, BLOCKED 2, LIVE 4).
    pub state: u32,
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    pub curr_speed: u32,
    pub max_speed: u32,
}

impl Wire for PortDesc {
    fn wire_len(&self) -> usize {
        64
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.port_no);
        put_zeros(out, 4);
        out.put_slice(&self.hw_addr);
        put_zeros(out, 2);
        put_fixed_str(out, &self.name, 16);
        for v in [
            self.config,
            self.state,
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            out.put_u32(v);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = r.u32("port.port_no")?;
        r.skip(4, "port.pad")?;
        let hw_addr = r.array("port.hw_addr")?;
        r.skip(2, "port.pad2")?;
        Ok(PortDesc {
            port_no,
            hw_addr,
            name: fixed_str(r, 16, "port.name")?,
            config: r.u32("port.config")?,
            state: r.u32("port.state")?,
            curr: r.u32("port.curr")?,
            advertised: r.u32("port.advertised")?,
            supported: r.u32("port.supported")?,
            peer: r.u32("port.peer")?,
            curr_speed: r.u32("port.curr_speed")?,
            max_speed: r.u32("port.max_speed")?,
        })
    }
}

/// A port was added, deleted or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// `OFPPR_ADD` 0, `OFPPR_DELETE` 1, `OFPPR_MODIFY` 2.
    pub reason: u8,
    pub desc: PortDesc,
}

impl PortStatus {
    pub(crate) const LEN: usize = 72;
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.reason);
        put_zeros(out, 7);
        self.desc.encode(out);
    }
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<PortStatus, DecodeError> {
        let reason = r.u8("port_status.reason")?;
        r.skip(7, "port_status.pad")?;
        Ok(PortStatus {
            reason,
            desc: PortDesc::decode(r)?,
        })
    }
}
