//! The 8-byte OpenFlow header (OF1.3 §7.1) and the message type numbers.

use bytes::{BufMut, BytesMut};

use crate::wire::{DecodeError, Reader};

/// OpenFlow 1.3's wire version.
pub const OFP_VERSION: u8 = 0x04;
/// Header length.
pub const HEADER_LEN: usize = 8;
/// The largest message the 16-bit length field allows.
pub const MAX_MESSAGE_LEN: usize = 0xffff;

pub(crate) const OFPT_HELLO: u8 = 0;
pub(crate) const OFPT_ERROR: u8 = 1;
pub(crate) const OFPT_ECHO_REQUEST: u8 = 2;
pub(crate) const OFPT_ECHO_REPLY: u8 = 3;
pub(crate) const OFPT_EXPERIMENTER: u8 = 4;
pub(crate) const OFPT_FEATURES_REQUEST: u8 = 5;
pub(crate) const OFPT_FEATURES_REPLY: u8 = 6;
pub(crate) const OFPT_GET_CONFIG_REQUEST: u8 = 7;
pub(crate) const OFPT_GET_CONFIG_REPLY: u8 = 8;
pub(crate) const OFPT_SET_CONFIG: u8 = 9;
pub(crate) const OFPT_PACKET_IN: u8 = 10;
pub(crate) const OFPT_PORT_STATUS: u8 = 12;
pub(crate) const OFPT_PACKET_OUT: u8 = 13;
pub(crate) const OFPT_FLOW_MOD: u8 = 14;
pub(crate) const OFPT_GROUP_MOD: u8 = 15;
pub(crate) const OFPT_MULTIPART_REQUEST: u8 = 18;
pub(crate) const OFPT_MULTIPART_REPLY: u8 = 19;
pub(crate) const OFPT_BARRIER_REQUEST: u8 = 20;
pub(crate) const OFPT_BARRIER_REPLY: u8 = 21;
pub(crate) const OFPT_ROLE_REQUEST: u8 = 24;
pub(crate) const OFPT_ROLE_REPLY: u8 = 25;
pub(crate) const OFPT_METER_MOD: u8 = 29;

/// The `OFPT_*` name of a message type number.
pub fn type_name(t: u8) -> &'static str {
    match t {
        0 => "OFPT_HELLO",
        1 => "OFPT_ERROR",
        2 => "OFPT_ECHO_REQUEST",
        3 => "OFPT_ECHO_REPLY",
        4 => "OFPT_EXPERIMENTER",
        5 => "OFPT_FEATURES_REQUEST",
        6 => "OFPT_FEATURES_REPLY",
        7 => "OFPT_GET_CONFIG_REQUEST",
        8 => "OFPT_GET_CONFIG_REPLY",
        9 => "OFPT_SET_CONFIG",
        10 => "OFPT_PACKET_IN",
        11 => "OFPT_FLOW_REMOVED",
        12 => "OFPT_PORT_STATUS",
        13 => "OFPT_PACKET_OUT",
        14 => "OFPT_FLOW_MOD",
        15 => "OFPT_GROUP_MOD",
        16 => "OFPT_PORT_MOD",
        17 => "OFPT_TABLE_MOD",
        18 => "OFPT_MULTIPART_REQUEST",
        19 => "OFPT_MULTIPART_REPLY",
        20 => "OFPT_BARRIER_REQUEST",
        21 => "OFPT_BARRIER_REPLY",
        22 => "OFPT_QUEUE_GET_CONFIG_REQUEST",
        23 => "OFPT_QUEUE_GET_CONFIG_REPLY",
        24 => "OFPT_ROLE_REQUEST",
        25 => "OFPT_ROLE_REPLY",
        26 => "OFPT_GET_ASYNC_REQUEST",
        27 => "OFPT_GET_ASYNC_REPLY",
        28 => "OFPT_SET_ASYNC",
        29 => "OFPT_METER_MOD",
        _ => "OFPT_UNKNOWN",
    }
}

/// `ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    /// Total message length, header included.
    pub length: u16,
    pub xid: u32,
}

impl Header {
    /// Reads the header.
    ///
    /// # Errors
    /// Truncated input, or a length below 8.
    pub fn decode(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
        let h = Header {
            version: r.u8("header.version")?,
            msg_type: r.u8("header.type")?,
            length: r.u16("header.length")?,
            xid: r.u32("header.xid")?,
        };
        if usize::from(h.length) < HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "header.length",
                len: h.length.into(),
                offset: 2,
            });
        }
        Ok(h)
    }

    /// Peeks at a header at the start of `buf` (for framing).
    pub fn peek(buf: &[u8]) -> Option<Header> {
        Header::decode(&mut Reader::new(buf.get(..HEADER_LEN)?)).ok()
    }

    /// Appends the 8 header bytes.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.version);
        out.put_u8(self.msg_type);
        out.put_u16(self.length);
        out.put_u32(self.xid);
    }
}
