//! OFPT_ERROR (OF1.3 §7.4.4), decoded into type/code names and the head of the
//! offending message.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::header::{type_name, Header};
use crate::wire::{DecodeError, Reader};

/// `OFPET_EXPERIMENTER`.
pub const OFPET_EXPERIMENTER: u16 = 0xffff;
/// The ONF experimenter id (bundles in OF1.3).
pub const ONF_EXPERIMENTER_ID: u32 = 0x4f4e_4600;
/// The Nicira experimenter id.
pub const NX_EXPERIMENTER_ID: u32 = 0x0000_2320;

/// An error message. For experimenter errors (`err_type` 0xffff) `code` is the
/// experimenter's `exp_code` and `experimenter` its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub err_type: u16,
    pub code: u16,
    pub experimenter: Option<u32>,
    /// Usually the first bytes (at least 64) of the message that caused the error.
    pub data: Bytes,
}

const HELLO_FAILED: &[&str] = &["OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"];
const BAD_REQUEST: &[&str] = &[
    "OFPBRC_BAD_VERSION",
    "OFPBRC_BAD_TYPE",
    "OFPBRC_BAD_MULTIPART",
    "OFPBRC_BAD_EXPERIMENTER",
    "OFPBRC_BAD_EXP_TYPE",
    "OFPBRC_EPERM",
    "OFPBRC_BAD_LEN",
    "OFPBRC_BUFFER_EMPTY",
    "OFPBRC_BUFFER_UNKNOWN",
    "OFPBRC_BAD_TABLE_ID",
    "OFPBRC_IS_SLAVE",
    "OFPBRC_BAD_PORT",
    "OFPBRC_BAD_PACKET",
    "OFPBRC_MULTIPART_BUFFER_OVERFLOW",
];
const BAD_ACTION: &[&str] = &[
    "OFPBAC_BAD_TYPE",
    "OFPBAC_BAD_LEN",
    "OFPBAC_BAD_EXPERIMENTER",
    "OFPBAC_BAD_EXP_TYPE",
    "OFPBAC_BAD_OUT_PORT",
    "OFPBAC_BAD_ARGUMENT",
    "OFPBAC_EPERM",
    "OFPBAC_TOO_MANY",
    "OFPBAC_BAD_QUEUE",
    "OFPBAC_BAD_OUT_GROUP",
    "OFPBAC_MATCH_INCONSISTENT",
    "OFPBAC_UNSUPPORTED_ORDER",
    "OFPBAC_BAD_TAG",
    "OFPBAC_BAD_SET_TYPE",
    "OFPBAC_BAD_SET_LEN",
    "OFPBAC_BAD_SET_ARGUMENT",
];
const BAD_INSTRUCTION: &[&str] = &[
    "OFPBIC_UNKNOWN_INST",
    "OFPBIC_UNSUP_INST",
    "OFPBIC_BAD_TABLE_ID",
    "OFPBIC_UNSUP_METADATA",
    "OFPBIC_UNSUP_METADATA_MASK",
    "OFPBIC_BAD_EXPERIMENTER",
    "OFPBIC_BAD_EXP_TYPE",
    "OFPBIC_BAD_LEN",
    "OFPBIC_EPERM",
];
const BAD_MATCH: &[&str] = &[
    "OFPBMC_BAD_TYPE",
    "OFPBMC_BAD_LEN",
    "OFPBMC_BAD_TAG",
    "OFPBMC_BAD_DL_ADDR_MASK",
    "OFPBMC_BAD_NW_ADDR_MASK",
    "OFPBMC_BAD_WILDCARDS",
    "OFPBMC_BAD_FIELD",
    "OFPBMC_BAD_VALUE",
    "OFPBMC_BAD_MASK",
    "OFPBMC_BAD_PREREQ",
    "OFPBMC_DUP_FIELD",
    "OFPBMC_EPERM",
];
const FLOW_MOD_FAILED: &[&str] = &[
    "OFPFMFC_UNKNOWN",
    "OFPFMFC_TABLE_FULL",
    "OFPFMFC_BAD_TABLE_ID",
    "OFPFMFC_OVERLAP",
    "OFPFMFC_EPERM",
    "OFPFMFC_BAD_TIMEOUT",
    "OFPFMFC_BAD_COMMAND",
    "OFPFMFC_BAD_FLAGS",
];
const GROUP_MOD_FAILED: &[&str] = &[
    "OFPGMFC_GROUP_EXISTS",
    "OFPGMFC_INVALID_GROUP",
    "OFPGMFC_WEIGHT_UNSUPPORTED",
    "OFPGMFC_OUT_OF_GROUPS",
    "OFPGMFC_OUT_OF_BUCKETS",
    "OFPGMFC_CHAINING_UNSUPPORTED",
    "OFPGMFC_WATCH_UNSUPPORTED",
    "OFPGMFC_LOOP",
    "OFPGMFC_UNKNOWN_GROUP",
    "OFPGMFC_CHAINED_GROUP",
    "OFPGMFC_BAD_TYPE",
    "OFPGMFC_BAD_COMMAND",
    "OFPGMFC_BAD_BUCKET",
    "OFPGMFC_BAD_WATCH",
    "OFPGMFC_EPERM",
];
const PORT_MOD_FAILED: &[&str] = &[
    "OFPPMFC_BAD_PORT",
    "OFPPMFC_BAD_HW_ADDR",
    "OFPPMFC_BAD_CONFIG",
    "OFPPMFC_BAD_ADVERTISE",
    "OFPPMFC_EPERM",
];
const TABLE_MOD_FAILED: &[&str] = &["OFPTMFC_BAD_TABLE", "OFPTMFC_BAD_CONFIG", "OFPTMFC_EPERM"];
const QUEUE_OP_FAILED: &[&str] = &["OFPQOFC_BAD_PORT", "OFPQOFC_BAD_QUEUE", "OFPQOFC_EPERM"];
const SWITCH_CONFIG_FAILED: &[&str] = &["OFPSCFC_BAD_FLAGS", "OFPSCFC_BAD_LEN", "OFPSCFC_EPERM"];
const ROLE_REQUEST_FAILED: &[&str] = &["OFPRRFC_STALE", "OFPRRFC_UNSUP", "OFPRRFC_BAD_ROLE"];
const METER_MOD_FAILED: &[&str] = &[
    "OFPMMFC_UNKNOWN",
    "OFPMMFC_METER_EXISTS",
    "OFPMMFC_INVALID_METER",
    "OFPMMFC_UNKNOWN_METER",
    "OFPMMFC_BAD_COMMAND",
    "OFPMMFC_BAD_FLAGS",
    "OFPMMFC_BAD_RATE",
    "OFPMMFC_BAD_BURST",
    "OFPMMFC_BAD_BAND",
    "OFPMMFC_BAD_BAND_VALUE",
    "OFPMMFC_OUT_OF_METERS",
    "OFPMMFC_OUT_OF_BANDS",
];
const TABLE_FEATURES_FAILED: &[&str] = &[
    "OFPTFFC_BAD_TABLE",
    "OFPTFFC_BAD_METADATA",
    "OFPTFFC_BAD_TYPE",
    "OFPTFFC_BAD_LEN",
    "OFPTFFC_BAD_ARGUMENT",
    "OFPTFFC_EPERM",
];
/// ONF bundle errors; OVS sends them in OF1.3 as ONF experimenter errors with
/// exp_code 2300 + n.
const BUNDLE_FAILED: &[&str] = &[
    "OFPBFC_UNKNOWN",
    "OFPBFC_EPERM",
    "OFPBFC_BAD_ID",
    "OFPBFC_BUNDLE_EXIST",
    "OFPBFC_BUNDLE_CLOSED",
    "OFPBFC_OUT_OF_BUNDLES",
    "OFPBFC_BAD_TYPE",
    "OFPBFC_BAD_FLAGS",
    "OFPBFC_MSG_BAD_LEN",
    "OFPBFC_MSG_BAD_XID",
    "OFPBFC_MSG_UNSUP",
    "OFPBFC_MSG_CONFLICT",
    "OFPBFC_MSG_TOO_MANY",
    "OFPBFC_MSG_FAILED",
    "OFPBFC_TIMEOUT",
    "OFPBFC_BUNDLE_IN_PROGRESS",
];

impl ErrorMsg {
    /// An error about `offending` (its first 64 bytes are quoted, as OVS does).
    pub fn new(err_type: u16, code: u16, offending: &[u8]) -> ErrorMsg {
        let n = offending.len().min(64);
        ErrorMsg {
            err_type,
            code,
            experimenter: None,
            data: Bytes::copy_from_slice(&offending[..n]),
        }
    }

    /// The type's `OFPET_*` name.
    pub fn type_name(&self) -> &'static str {
        match self.err_type {
            0 => "OFPET_HELLO_FAILED",
            1 => "OFPET_BAD_REQUEST",
            2 => "OFPET_BAD_ACTION",
            3 => "OFPET_BAD_INSTRUCTION",
            4 => "OFPET_BAD_MATCH",
            5 => "OFPET_FLOW_MOD_FAILED",
            6 => "OFPET_GROUP_MOD_FAILED",
            7 => "OFPET_PORT_MOD_FAILED",
            8 => "OFPET_TABLE_MOD_FAILED",
            9 => "OFPET_QUEUE_OP_FAILED",
            10 => "OFPET_SWITCH_CONFIG_FAILED",
            11 => "OFPET_ROLE_REQUEST_FAILED",
            12 => "OFPET_METER_MOD_FAILED",
            13 => "OFPET_TABLE_FEATURES_FAILED",
            OFPET_EXPERIMENTER => "OFPET_EXPERIMENTER",
            _ => "OFPET_UNKNOWN",
        }
    }

    /// The code's name (`OFPBAC_BAD_OUT_PORT`), if known.
    pub fn code_name(&self) -> Option<&'static str> {
        let table = match (self.err_type, self.experimenter) {
            (0, _) => HELLO_FAILED,
            (1, _) => BAD_REQUEST,
            (2, _) => BAD_ACTION,
            (3, _) => BAD_INSTRUCTION,
            (4, _) => BAD_MATCH,
            (5, _) => FLOW_MOD_FAILED,
            (6, _) => GROUP_MOD_FAILED,
            (7, _) => PORT_MOD_FAILED,
            (8, _) => TABLE_MOD_FAILED,
            (9, _) => QUEUE_OP_FAILED,
            (10, _) => SWITCH_CONFIG_FAILED,
            (11, _) => ROLE_REQUEST_FAILED,
            (12, _) => METER_MOD_FAILED,
            (13, _) => TABLE_FEATURES_FAILED,
            (OFPET_EXPERIMENTER, Some(ONF_EXPERIMENTER_ID)) => {
                return self
                    .code
                    .checked_sub(2300)
                    .and_then(|c| BUNDLE_FAILED.get(usize::from(c)).copied());
            }
            _ => return None,
        };
        table.get(usize::from(self.code)).copied()
    }

    /// The header of the message this error is about, if `data` holds one.
    pub fn offending(&self) -> Option<Header> {
        Header::peek(&self.data)
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + if self.experimenter.is_some() { 4 } else { 0 } + self.data.len()
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.err_type);
        out.put_u16(self.code);
        if let Some(e) = self.experimenter {
            out.put_u32(e);
        }
        out.put_slice(&self.data);
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<ErrorMsg, DecodeError> {
        let err_type = r.u16("error.type")?;
        let code = r.u16("error.code")?;
        let experimenter = if err_type == OFPET_EXPERIMENTER {
            Some(r.u32("error.experimenter")?)
        } else {
            None
        };
        Ok(ErrorMsg {
            err_type,
            code,
            experimenter,
            data: Bytes::copy_from_slice(r.take_rest()),
        })
    }
}

impl fmt::Display for ErrorMsg {
    /// `OFPBAC_BAD_OUT_PORT (type 2, code 4) for OFPT_FLOW_MOD xid=0x5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code_name(), self.experimenter) {
            (Some(n), _) => write!(f, "{n} (type {}, code {})", self.err_type, self.code)?,
            (None, Some(e)) => write!(f, "experimenter {e:#010x} error code {}", self.code)?,
            (None, None) => write!(
                f,
                "{} code {} (type {})",
                self.type_name(),
                self.code,
                self.err_type
            )?,
        }
        if let Some(h) = self.offending() {
            write!(f, " for {} xid={:#x}", type_name(h.msg_type), h.xid)?;
        } else if self.err_type == 0 && !self.data.is_empty() {
            write!(f, ": {}", String::from_utf8_lossy(&self.data))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_code_and_offending_message() {
        let offending = [4, 14, 0, 8, 0, 0, 0, 5];
        let e = ErrorMsg::new(2, 4, &offending);
        assert_eq!(
            e.to_string(),
            "OFPBAC_BAD_OUT_PORT (type 2, code 4) for OFPT_FLOW_MOD xid=0x5"
        );
        let b = ErrorMsg {
            err_type: 0xffff,
            code: 2309,
            experimenter: Some(ONF_EXPERIMENTER_ID),
            data: Bytes::new(),
        };
        assert_eq!(b.code_name(), Some("OFPBFC_MSG_BAD_XID"));
    }
}
