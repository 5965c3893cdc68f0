//! The connection handshake a controller runs on a new switch connection: HELLO
//! with version negotiation, FEATURES, answering ECHO meanwhile.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use crate::codec::{CodecError, OfCodec};
use crate::msg::{ErrorMsg, Features, Frame, Hello, Message};
use crate::OFP_VERSION;

/// The xid of our HELLO.
pub const HELLO_XID: u32 = 0xffff_fff0;
/// The xid of our FEATURES_REQUEST.
pub const FEATURES_XID: u32 = 0xffff_fff1;

/// Why the handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer does not offer OpenFlow 1.3; we sent it HELLO_FAILED.
    #[error("peer offers OpenFlow versions {offered:?} but not 1.3 (0x04); set the bridge's protocols to include OpenFlow13")]
    Incompatible { offered: Vec<u8> },
    /// The peer answered with an OFPT_ERROR.
    #[error("peer rejected the handshake: {0}")]
    Rejected(ErrorMsg),
    /// The first message was not a HELLO.
    #[error("peer sent {0} before HELLO")]
    NoHello(&'static str),
    /// The connection closed.
    #[error("peer closed the connection during the handshake")]
    Closed,
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Runs the handshake on a fresh connection and returns the switch's features.
/// Messages other than ECHO_REQUEST that arrive before the FEATURES_REPLY (e.g.
/// PORT_STATUS) are dropped. There is no timeout here (the codec has no clock): wrap
/// the call in `tokio::time::timeout`.
///
/// # Errors
/// [`HandshakeError`]; on version mismatch the peer has been sent HELLO_FAILED.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S, OfCodec>,
) -> Result<Features, HandshakeError> {
    framed
        .send(Frame::new(
            HELLO_XID,
            Message::Hello(Hello::new(&[OFP_VERSION])),
        ))
        .await?;
    let hello = match framed.next().await.ok_or(HandshakeError::Closed)?? {
        Frame {
            msg: Message::Hello(h),
            ..
        } => h,
        Frame {
            msg: Message::Error(e),
            ..
        } => return Err(HandshakeError::Rejected(e)),
        f => return Err(HandshakeError::NoHello(f.msg.name())),
    };
    if !hello.supports(OFP_VERSION) {
        let offered = hello.versions();
        let text = format!("we support OpenFlow 1.3 (0x04), you offered {offered:?}");
        let err = ErrorMsg {
            data: text.into_bytes().into(),
            ..ErrorMsg::new(0, 0, &[])
        };
        // Best effort: the peer may already be gone.
        let _ = framed
            .send(Frame::new(HELLO_XID, Message::Error(err)))
            .await;
        return Err(HandshakeError::Incompatible { offered });
    }
    framed
        .send(Frame::new(FEATURES_XID, Message::FeaturesRequest))
        .await?;
    loop {
        let f = framed.next().await.ok_or(HandshakeError::Closed)??;
        match f.msg {
            Message::FeaturesReply(features) if f.xid == FEATURES_XID => return Ok(features),
            Message::EchoRequest(data) => {
                framed
                    .send(Frame::new(f.xid, Message::EchoReply(data)))
                    .await?
            }
            Message::Error(e) => return Err(HandshakeError::Rejected(e)),
            _ => {}
        }
    }
}
