//! tokio-util framing for OpenFlow: [`OfCodec`] splits a byte stream into
//! [`Frame`]s by the 8-byte header and encodes frames back.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::header::{Header, HEADER_LEN, OFPT_HELLO, OFP_VERSION};
use crate::msg::{EncodeError, Frame};
use crate::wire::DecodeError;

/// Why the OpenFlow stream failed. After a decode error the stream is unusable
/// (tokio-util's `Framed` ends it): the peer is out of sync or speaks another version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("malformed OpenFlow message from peer: {0}")]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("OpenFlow connection I/O")]
    Io(#[from] std::io::Error),
}

/// The OpenFlow 1.3 codec. Stateless; one per connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfCodec;

impl OfCodec {
    /// A codec (it has no state).
    pub fn new() -> OfCodec {
        OfCodec
    }
}

impl Decoder for OfCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if src.len() < HEADER_LEN {
            src.reserve(HEADER_LEN - src.len());
            return Ok(None);
        }
        let Some(h) = Header::peek(src) else {
            let len = usize::from(u16::from_be_bytes([src[2], src[3]]));
            return Err(DecodeError::BadLength {
                what: "header.length",
                len,
                offset: 2,
            }
            .into());
        };
        // Checked before waiting for the body so a peer speaking another version is
        // told at once (HELLO may carry any version: negotiation needs it).
        if h.version != OFP_VERSION && h.msg_type != OFPT_HELLO {
            return Err(DecodeError::BadVersion { version: h.version }.into());
        }
        let len = usize::from(h.length);
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let msg = src.split_to(len);
        Ok(Some(Frame::decode(&msg)?))
    }
}

impl Encoder<Frame> for OfCodec {
    type Error = CodecError;
    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(item.encode(dst)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Message;

    #[test]
    fn waits_for_whole_message_then_decodes() {
        let mut c = OfCodec;
        let mut b = BytesMut::from(&[4u8, 20, 0, 8, 0, 0][..]);
        assert!(c.decode(&mut b).unwrap().is_none());
        b.extend_from_slice(&[0, 7, 4, 21]);
        let f = c.decode(&mut b).unwrap().unwrap();
        assert_eq!(f, Frame::new(7, Message::BarrierRequest));
        assert_eq!(&b[..], &[4, 21]);
    }

    #[test]
    fn short_length_and_wrong_version_are_errors() {
        let mut c = OfCodec;
        let e = c
            .decode(&mut BytesMut::from(&[4u8, 20, 0, 7, 0, 0, 0, 0][..]))
            .unwrap_err();
        assert!(e.to_string().contains("header.length"), "{e}");
        let e = c
            .decode(&mut BytesMut::from(&[1u8, 20, 0, 8, 0, 0, 0, 0][..]))
            .unwrap_err();
        assert!(e.to_string().contains("version 0x01"), "{e}");
        // HELLO of another version is fine.
        let f = c
            .decode(&mut BytesMut::from(&[6u8, 0, 0, 8, 0, 0, 0, 1][..]))
            .unwrap()
            .unwrap();
        assert!(matches!(f.msg, Message::Hello(ref h) if h.version == 6 && h.supports(4)));
    }
}
