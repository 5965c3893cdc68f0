//! OpenFlow 1.3 messages: [`Message`] and [`Frame`] (a message with its xid).

mod bundle;
mod error;
mod features;
mod flow_mod;
mod group_mod;
mod hello;
mod meter;
mod multipart;
mod packet;
mod packet_in2;
mod port;

use bytes::{BufMut, Bytes, BytesMut};

pub use bundle::{bundle_flags, BundleAdd, BundleControl, BundleCtrlType};
pub use error::{ErrorMsg, NX_EXPERIMENTER_ID, OFPET_EXPERIMENTER, ONF_EXPERIMENTER_ID};
pub use features::{role, Features, Role, SwitchConfig};
pub use flow_mod::{flow_mod_flags, FlowMod, FlowModCommand};
pub use group_mod::{Bucket, GroupMod, GroupModCommand, GroupType};
pub use hello::{Hello, HelloElement};
pub use meter::{meter_flags, meter_id, MeterBand, MeterMod, MeterModCommand};
pub use multipart::{
    AggregateStats, Desc, FlowStats, FlowStatsRequest, GroupDesc, MultipartReply,
    MultipartReplyBody, MultipartRequest, MultipartRequestBody, PortStats, TableStats, REPLY_MORE,
};
pub use packet::{PacketIn, PacketOut};
pub use packet_in2::{PacketIn2, PacketIn2Prop};
pub use port::{PortDesc, PortStatus};

use crate::header::*;
use crate::wire::{DecodeError, Reader};

/// Every message this codec knows. Anything else decodes to `Unknown` and encodes
/// back to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Bytes),
    EchoReply(Bytes),
    FeaturesRequest,
    FeaturesReply(Features),
    GetConfigRequest,
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PacketIn(PacketIn),
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    PortStatus(PortStatus),
    BarrierRequest,
    BarrierReply,
    RoleRequest(Role),
    RoleReply(Role),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    BundleControl(BundleControl),
    BundleAdd(BundleAdd),
    MeterMod(MeterMod),
    /// NXT_PACKET_IN2 (a Nicira experimenter message).
    PacketIn2(PacketIn2),
    /// A message type this codec does not model (or an experimenter message other
    /// than the bundle ones); `body` is everything after the header.
    Unknown {
        msg_type: u8,
        body: Bytes,
    },
}

impl Message {
    /// The OFPT_* type number.
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Hello(_) => OFPT_HELLO,
            Message::Error(_) => OFPT_ERROR,
            Message::EchoRequest(_) => OFPT_ECHO_REQUEST,
            Message::EchoReply(_) => OFPT_ECHO_REPLY,
            Message::FeaturesRequest => OFPT_FEATURES_REQUEST,
            Message::FeaturesReply(_) => OFPT_FEATURES_REPLY,
            Message::GetConfigRequest => OFPT_GET_CONFIG_REQUEST,
            Message::GetConfigReply(_) => OFPT_GET_CONFIG_REPLY,
            Message::SetConfig(_) => OFPT_SET_CONFIG,
            Message::PacketIn(_) => OFPT_PACKET_IN,
            Message::PacketOut(_) => OFPT_PACKET_OUT,
            Message::FlowMod(_) => OFPT_FLOW_MOD,
            Message::GroupMod(_) => OFPT_GROUP_MOD,
            Message::PortStatus(_) => OFPT_PORT_STATUS,
            Message::BarrierRequest => OFPT_BARRIER_REQUEST,
            Message::BarrierReply => OFPT_BARRIER_REPLY,
            Message::RoleRequest(_) => OFPT_ROLE_REQUEST,
            Message::RoleReply(_) => OFPT_ROLE_REPLY,
            Message::MultipartRequest(_) => OFPT_MULTIPART_REQUEST,
            Message::MultipartReply(_) => OFPT_MULTIPART_REPLY,
            Message::BundleControl(_) | Message::BundleAdd(_) | Message::PacketIn2(_) => {
                OFPT_EXPERIMENTER
            }
            Message::MeterMod(_) => OFPT_METER_MOD,
            Message::Unknown { msg_type, .. } => *msg_type,
        }
    }

    /// The OFPT_* name (`OFPT_FLOW_MOD`; bundles: `ONFT_BUNDLE_CONTROL`, `ONFT_BUNDLE_ADD_MESSAGE`).
    pub fn name(&self) -> &'static str {
        match self {
            Message::BundleControl(_) => "ONFT_BUNDLE_CONTROL",
            Message::BundleAdd(_) => "ONFT_BUNDLE_ADD_MESSAGE",
            Message::PacketIn2(_) => "NXT_PACKET_IN2",
            m => type_name(m.msg_type()),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Message::Hello(h) => h.body_len(),
            Message::Error(e) => e.body_len(),
            Message::EchoRequest(b) | Message::EchoReply(b) => b.len(),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => 0,
            Message::FeaturesReply(_) => Features::LEN,
            Message::GetConfigReply(_) | Message::SetConfig(_) => SwitchConfig::LEN,
            Message::PacketIn(p) => p.body_len(),
            Message::PacketOut(p) => p.body_len(),
            Message::FlowMod(f) => f.body_len(),
            Message::GroupMod(g) => g.body_len(),
            Message::PortStatus(_) => PortStatus::LEN,
            Message::RoleRequest(_) | Message::RoleReply(_) => Role::LEN,
            Message::MultipartRequest(m) => m.body_len(),
            Message::MultipartReply(m) => m.body_len(),
            Message::BundleControl(_) => BundleControl::BODY_LEN,
            Message::BundleAdd(b) => b.body_len(),
            Message::MeterMod(m) => m.body_len(),
            Message::PacketIn2(p) => p.body_len(),
            Message::Unknown { body, .. } => body.len(),
        }
    }

    fn encode_body(&self, xid: u32, out: &mut BytesMut) {
        match self {
            Message::Hello(h) => h.encode_body(out),
            Message::Error(e) => e.encode_body(out),
            Message::EchoRequest(b) | Message::EchoReply(b) => out.put_slice(b),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => {}
            Message::FeaturesReply(f) => f.encode_body(out),
            Message::GetConfigReply(c) | Message::SetConfig(c) => c.encode_body(out),
            Message::PacketIn(p) => p.encode_body(out),
            Message::PacketOut(p) => p.encode_body(out),
            Message::FlowMod(f) => f.encode_body(out),
            Message::GroupMod(g) => g.encode_body(out),
            Message::PortStatus(p) => p.encode_body(out),
            Message::RoleRequest(r) | Message::RoleReply(r) => r.encode_body(out),
            Message::MultipartRequest(m) => m.encode_body(out),
            Message::MultipartReply(m) => m.encode_body(out),
            Message::BundleControl(b) => b.encode_body(out),
            Message::BundleAdd(b) => b.encode_body(xid, out),
            Message::MeterMod(m) => m.encode_body(out),
            Message::PacketIn2(p) => p.encode_body(out),
            Message::Unknown { body, .. } => out.put_slice(body),
        }
    }
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would exceed OpenFlow's 64 KiB limit (the 16-bit length field).
    #[error("{msg} xid={xid:#x} would be {len} bytes, over OpenFlow's limit of 65535 (split it, e.g. fewer buckets)")]
    TooLong {
        msg: &'static str,
        xid: u32,
        len: usize,
    },
}

/// One OpenFlow message with its transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub xid: u32,
    pub msg: Message,
}

impl Frame {
    /// `msg` with transaction id `xid`.
    pub fn new(xid: u32, msg: Message) -> Frame {
        Frame { xid, msg }
    }

    /// The encoded length, header included (may exceed 65535: then `encode` fails).
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.msg.body_len()
    }

    /// Appends the message to `out`.
    ///
    /// # Errors
    /// [`EncodeError::TooLong`] if it would not fit OpenFlow's 16-bit length; `out`
    /// is then left unchanged (never a truncated message).
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = self.wire_len();
        if len > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong {
                msg: self.msg.name(),
                xid: self.xid,
                len,
            });
        }
        out.reserve(len);
        self.encode_unchecked(self.xid, out);
        Ok(())
    }

    /// The encoded message as bytes.
    ///
    /// # Errors
    /// As [`Frame::encode`].
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut b = BytesMut::with_capacity(self.wire_len());
        self.encode(&mut b)?;
        Ok(b.freeze())
    }

    pub(crate) fn encode_unchecked(&self, xid: u32, out: &mut BytesMut) {
        let version = match &self.msg {
            Message::Hello(h) => h.version,
            _ => OFP_VERSION,
        };
        Header {
            version,
            msg_type: self.msg.msg_type(),
            length: self.wire_len() as u16,
            xid,
        }
        .encode(out);
        self.msg.encode_body(xid, out);
    }

    /// Decodes exactly one whole message.
    ///
    /// # Errors
    /// [`DecodeError`] naming the field and offset; [`DecodeError::BadVersion`] for a
    /// message other than HELLO whose version is not 0x04.
    pub fn decode(buf: &[u8]) -> Result<Frame, DecodeError> {
        Frame::decode_at(Reader::new(buf))
    }

    pub(crate) fn decode_at(mut r: Reader<'_>) -> Result<Frame, DecodeError> {
        let h = Header::decode(&mut r)?;
        let len = usize::from(h.length);
        if len != r.remaining() + HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "header.length",
                len,
                offset: r.offset() - 6,
            });
        }
        if h.version != OFP_VERSION && h.msg_type != OFPT_HELLO {
            return Err(DecodeError::BadVersion { version: h.version });
        }
        let mut b = r.sub(len - HEADER_LEN, "body")?;
        let empty = |b: &Reader<'_>, m: Message| b.finish("body").map(|()| m);
        let msg = match h.msg_type {
            OFPT_HELLO => Message::Hello(Hello::decode_body(h.version, &mut b)?),
            OFPT_ERROR => Message::Error(ErrorMsg::decode_body(&mut b)?),
            OFPT_ECHO_REQUEST => Message::EchoRequest(Bytes::copy_from_slice(b.take_rest())),
            OFPT_ECHO_REPLY => Message::EchoReply(Bytes::copy_from_slice(b.take_rest())),
            OFPT_FEATURES_REQUEST => empty(&b, Message::FeaturesRequest)?,
            OFPT_FEATURES_REPLY => Message::FeaturesReply(Features::decode_body(&mut b)?),
            OFPT_GET_CONFIG_REQUEST => empty(&b, Message::GetConfigRequest)?,
            OFPT_GET_CONFIG_REPLY => Message::GetConfigReply(SwitchConfig::decode_body(&mut b)?),
            OFPT_SET_CONFIG => Message::SetConfig(SwitchConfig::decode_body(&mut b)?),
            OFPT_PACKET_IN => Message::PacketIn(PacketIn::decode_body(&mut b)?),
            OFPT_PACKET_OUT => Message::PacketOut(PacketOut::decode_body(&mut b)?),
            OFPT_FLOW_MOD => Message::FlowMod(FlowMod::decode_body(&mut b)?),
            OFPT_GROUP_MOD => Message::GroupMod(GroupMod::decode_body(&mut b)?),
            OFPT_PORT_STATUS => Message::PortStatus(PortStatus::decode_body(&mut b)?),
            OFPT_BARRIER_REQUEST => empty(&b, Message::BarrierRequest)?,
            OFPT_BARRIER_REPLY => empty(&b, Message::BarrierReply)?,
            OFPT_ROLE_REQUEST => Message::RoleRequest(Role::decode_body(&mut b)?),
            OFPT_ROLE_REPLY => Message::RoleReply(Role::decode_body(&mut b)?),
            OFPT_MULTIPART_REQUEST => {
                Message::MultipartRequest(MultipartRequest::decode_body(&mut b)?)
            }
            OFPT_MULTIPART_REPLY => Message::MultipartReply(MultipartReply::decode_body(&mut b)?),
            OFPT_EXPERIMENTER => decode_experimenter(&mut b, h.xid)?,
            OFPT_METER_MOD => Message::MeterMod(MeterMod::decode_body(&mut b)?),
            t => Message::Unknown {
                msg_type: t,
                body: Bytes::copy_from_slice(b.take_rest()),
            },
        };
        b.finish("body")?;
        Ok(Frame { xid: h.xid, msg })
    }
}

fn decode_experimenter(b: &mut Reader<'_>, xid: u32) -> Result<Message, DecodeError> {
    let all = b.clone();
    let unknown = |mut all: Reader<'_>| Message::Unknown {
        msg_type: OFPT_EXPERIMENTER,
        body: Bytes::copy_from_slice(all.take_rest()),
    };
    if b.remaining() < 8 {
        b.take_rest();
        return Ok(unknown(all));
    }
    let experimenter = b.u32("experimenter.id")?;
    let exp_type = b.u32("experimenter.exp_type")?;
    let msg = match (experimenter, exp_type) {
        (bundle::ONF_EXPERIMENTER_ID, bundle::ONFT_BUNDLE_CONTROL) => {
            BundleControl::decode_rest(b)?.map(Message::BundleControl)
        }
        (bundle::ONF_EXPERIMENTER_ID, bundle::ONFT_BUNDLE_ADD_MESSAGE) => {
            BundleAdd::decode_rest(b, xid)?.map(Message::BundleAdd)
        }
        (NX_EXPERIMENTER_ID, packet_in2::NXT_PACKET_IN2) => {
            Some(Message::PacketIn2(PacketIn2::decode_rest(b)?))
        }
        _ => None,
    };
    b.take_rest();
    Ok(msg.unwrap_or_else(|| unknown(all)))
}

/// Bytes from hex text (whitespace and separators ignored), for the messages' tests.
#[cfg(test)]
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
