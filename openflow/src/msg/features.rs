//! OFPT_FEATURES_REPLY (§7.3.1), switch configuration (§7.3.2) and roles (§7.3.9).

use bytes::{BufMut, BytesMut};

use crate::wire::{put_zeros, DecodeError, Reader};

/// The switch's answer to FEATURES_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    pub auxiliary_id: u8,
    /// `OFPC_*` bits.
    pub capabilities: u32,
}

impl Features {
    pub(crate) const LEN: usize = 24;

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u64(self.datapath_id);
        out.put_u32(self.n_buffers);
        out.put_u8(self.n_tables);
        out.put_u8(self.auxiliary_id);
        put_zeros(out, 2);
        out.put_u32(self.capabilities);
        out.put_u32(0); // reserved
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Features, DecodeError> {
        let f = Features {
            datapath_id: r.u64("features.datapath_id")?,
            n_buffers: r.u32("features.n_buffers")?,
            n_tables: r.u8("features.n_tables")?,
            auxiliary_id: r.u8("features.auxiliary_id")?,
            capabilities: {
                r.skip(2, "features.pad")?;
                r.u32("features.capabilities")?
            },
        };
        r.skip(4, "features.reserved")?;
        Ok(f)
    }
}

/// GET_CONFIG_REPLY / SET_CONFIG body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchConfig {
    /// `OFPC_FRAG_*`.
    pub flags: u16,
    pub miss_send_len: u16,
}

impl SwitchConfig {
    pub(crate) const LEN: usize = 4;
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.flags);
        out.put_u16(self.miss_send_len);
    }
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<SwitchConfig, DecodeError> {
        Ok(SwitchConfig {
            flags: r.u16("config.flags")?,
            miss_send_len: r.u16("config.miss_send_len")?,
        })
    }
}

/// Controller roles (`OFPCR_ROLE_*`).
pub mod role {
    pub const NOCHANGE: u32 = 0;
    pub const EQUAL: u32 = 1;
    pub const MASTER: u32 = 2;
    pub const SLAVE: u32 = 3;
}

/// ROLE_REQUEST / ROLE_REPLY body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Role {
    /// See [`role`].
    pub role: u32,
    pub generation_id: u64,
}

impl Role {
    pub(crate) const LEN: usize = 16;
    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u32(self.role);
        put_zeros(out, 4);
        out.put_u64(self.generation_id);
    }
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Role, DecodeError> {
        let role = r.u32("role.role")?;
        r.skip(4, "role.pad")?;
        Ok(Role {
            role,
            generation_id: r.u64("role.generation_id")?,
        })
    }
}
