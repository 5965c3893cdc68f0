//! Bundles as Open vSwitch accepts them in OpenFlow 1.3: the ONF extension
//! (experimenter 0x4F4E4600, ONFT_BUNDLE_CONTROL 2300, ONFT_BUNDLE_ADD_MESSAGE 2301),
//! the same layout as OF1.4's OFPT_BUNDLE_CONTROL / OFPT_BUNDLE_ADD_MESSAGE.

use bytes::{BufMut, BytesMut};

use super::Frame;
use crate::wire::{DecodeError, Reader};

pub(crate) const ONF_EXPERIMENTER_ID: u32 = 0x4f4e_4600;
pub(crate) const ONFT_BUNDLE_CONTROL: u32 = 2300;
pub(crate) const ONFT_BUNDLE_ADD_MESSAGE: u32 = 2301;

/// Bundle flags.
pub mod bundle_flags {
    /// Commit all or nothing.
    pub const ATOMIC: u16 = 1;
    /// Apply in the order added.
    pub const ORDERED: u16 = 2;
}

/// `ofp_bundle_ctrl_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleCtrlType {
    OpenRequest,
    OpenReply,
    CloseRequest,
    CloseReply,
    CommitRequest,
    CommitReply,
    DiscardRequest,
    DiscardReply,
}

impl BundleCtrlType {
    fn from_u16(v: u16) -> Option<BundleCtrlType> {
        use BundleCtrlType::*;
        Some(match v {
            0 => OpenRequest,
            1 => OpenReply,
            2 => CloseRequest,
            3 => CloseReply,
            4 => CommitRequest,
            5 => CommitReply,
            6 => DiscardRequest,
            7 => DiscardReply,
            _ => return None,
        })
    }
}

/// Open, close, commit or discard a bundle (or the switch's reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleControl {
    pub bundle_id: u32,
    pub kind: BundleCtrlType,
    /// [`bundle_flags`].
    pub flags: u16,
}

impl BundleControl {
    pub(crate) const BODY_LEN: usize = 16;

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u32(ONF_EXPERIMENTER_ID);
        out.put_u32(ONFT_BUNDLE_CONTROL);
        out.put_u32(self.bundle_id);
        out.put_u16(self.kind as u16);
        out.put_u16(self.flags);
    }

    /// Decodes after the experimenter head. `None` if properties follow (the caller
    /// then keeps the message as `Unknown`).
    pub(crate) fn decode_rest(r: &mut Reader<'_>) -> Result<Option<BundleControl>, DecodeError> {
        let bundle_id = r.u32("bundle_ctrl.bundle_id")?;
        let at = r.offset();
        let t = r.u16("bundle_ctrl.type")?;
        let kind = BundleCtrlType::from_u16(t).ok_or(DecodeError::BadValue {
            what: "bundle_ctrl.type",
            value: t.into(),
            offset: at,
        })?;
        let flags = r.u16("bundle_ctrl.flags")?;
        if !r.is_empty() {
            return Ok(None);
        }
        Ok(Some(BundleControl {
            bundle_id,
            kind,
            flags,
        }))
    }
}

/// Add one message to an open bundle. On the wire the inner message carries the
/// same xid as the add (OVS rejects anything else with OFPBFC_MSG_BAD_XID), so
/// encoding writes the outer xid into the inner header whatever `message.xid` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    pub message: Box<Frame>,
}

impl BundleAdd {
    pub(crate) fn body_len(&self) -> usize {
        16 + self.message.wire_len()
    }

    pub(crate) fn encode_body(&self, xid: u32, out: &mut BytesMut) {
        out.put_u32(ONF_EXPERIMENTER_ID);
        out.put_u32(ONFT_BUNDLE_ADD_MESSAGE);
        out.put_u32(self.bundle_id);
        out.put_u16(0);
        out.put_u16(self.flags);
        self.message.encode_unchecked(xid, out);
    }

    /// `None` (the caller keeps the message as unknown bytes) when something is left
    /// after the inner message, or when the inner xid is not the add's `xid`: encoding
    /// writes the outer xid, so such a message could not be re-encoded unchanged.
    pub(crate) fn decode_rest(
        r: &mut Reader<'_>,
        xid: u32,
    ) -> Result<Option<BundleAdd>, DecodeError> {
        let bundle_id = r.u32("bundle_add.bundle_id")?;
        r.skip(2, "bundle_add.pad")?;
        let flags = r.u16("bundle_add.flags")?;
        let at = r.offset();
        let h = crate::header::Header::decode(&mut r.clone())?;
        let len = usize::from(h.length);
        if len > r.remaining() {
            return Err(DecodeError::BadLength {
                what: "bundle_add.message.length",
                len,
                offset: at + 2,
            });
        }
        let mut inner = r.sub(len, "bundle_add.message")?;
        inner.enter("bundle_add.message (nested too deep)")?;
        let message = Frame::decode_at(inner)?;
        if !r.is_empty() || message.xid != xid {
            return Ok(None);
        }
        Ok(Some(BundleAdd {
            bundle_id,
            flags,
            message: Box::new(message),
        }))
    }
}
