//! OpenFlow 1.3 wire codec with the Open vSwitch (Nicira, ONF bundle) extensions.
//!
//! What it is: owned message types ([`Message`], [`Frame`]), a canonical [`Match`],
//! actions and instructions, symmetric encode/decode (decode → encode gives back the
//! same bytes; values it does not model are kept as `Unknown`), a tokio-util framing
//! codec ([`codec::OfCodec`]) and the connection [`handshake`].
//!
//! What it is not: no sockets, no clock, no logging. Callers own the connection.
//!
//! Peer input never panics the decoder: every failure is a [`DecodeError`] naming the
//! field and the byte offset.
//!
//! ```
//! use bytes::BytesMut;
//! use openflow::{Action, Field, FlowMod, FlowModCommand, Frame, Instruction, Match, Message};
//!
//! let m = Match::builder().tcp().exact(Field::TCP_DST, 80).build()?;
//! let mut fm = FlowMod::new(FlowModCommand::Add, 10, 100, m);
//! fm.instructions = vec![Instruction::ApplyActions(vec![Action::Output { port: 3, max_len: 0 }])];
//! let frame = Frame::new(7, Message::FlowMod(fm));
//!
//! let mut buf = BytesMut::new();
//! frame.encode(&mut buf)?;
//! assert_eq!(Frame::decode(&buf)?, frame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod action;
pub mod codec;
mod handshake;
pub mod header;
pub mod msg;
pub mod oxm;
pub mod wire;

pub use action::{port, Action, Instruction, NxAction};
pub use handshake::{handshake, HandshakeError};
pub use header::{Header, OFP_VERSION};
pub use msg::*;
pub use oxm::{Field, Match, MatchError, OxmField};
pub use wire::{DecodeError, Reader, Wire};
