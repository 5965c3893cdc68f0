//! Framing across partial reads and the handshake, over in-memory IO.

use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use openflow::codec::{CodecError, OfCodec};
use openflow::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Framed, FramedRead};

fn sample_frames() -> Vec<Frame> {
    let flows = [
        "table=10,priority=100,tcp,nw_dst=10.244.2.5,tp_dst=80,actions=ct(commit,zone=5,nat(dst=10.0.0.1:8080)),goto_table:20",
        "table=0,priority=1,in_port=3,actions=resubmit(,10)",
    ];
    let mut v = vec![
        Frame::new(1, Message::Hello(Hello::default())),
        Frame::new(2, Message::EchoRequest(bytes::Bytes::from_static(b"ping"))),
        Frame::new(3, Message::BarrierRequest),
    ];
    for (i, f) in flows.iter().enumerate() {
        let f: Flow = f.parse().unwrap();
        v.push(Frame::new(
            10 + i as u32,
            Message::FlowMod(f.to_flow_mod(FlowModCommand::Add)),
        ));
    }
    v
}

#[tokio::test]
async fn frames_survive_one_byte_reads() {
    let frames = sample_frames();
    let mut bytes = BytesMut::new();
    for f in &frames {
        f.encode(&mut bytes).unwrap();
    }
    // A mock reader that hands out one byte per read.
    let mut b = tokio_test_io(bytes.to_vec());
    let mut got = Vec::new();
    let mut read = FramedRead::new(&mut b, OfCodec);
    while let Some(f) = read.next().await {
        got.push(f.unwrap());
    }
    assert_eq!(got, frames);
}

/// A reader returning its data in 1-byte chunks (tokio's duplex with a 1-byte buffer).
fn tokio_test_io(data: Vec<u8>) -> tokio::io::DuplexStream {
    let (mut tx, rx) = tokio::io::duplex(1);
    tokio::spawn(async move {
        tx.write_all(&data).await.unwrap();
    });
    rx
}

#[test]
fn a_wrong_version_is_an_error_not_a_wait() {
    let mut c = OfCodec;
    let mut b = BytesMut::from(&[0x01u8, 14, 0x10, 0, 0, 0, 0, 1][..]);
    match c.decode(&mut b) {
        Err(CodecError::Decode(DecodeError::BadVersion { version: 1 })) => {}
        r => panic!("{r:?}"),
    }
}

#[test]
fn garbage_in_a_known_message_names_the_field() {
    // FLOW_MOD whose match type is 0 (OF1.0 standard match), not OXM.
    let mut msg = vec![4u8, 14, 0, 56, 0, 0, 0, 9];
    msg.extend_from_slice(&[0; 40]);
    msg.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0]);
    let e = Frame::decode(&msg).unwrap_err();
    assert_eq!((e.what(), e.offset()), ("match.type", 48), "{e}");
}

/// Plays a switch: reads our HELLO, sends `hello`, and (if compatible) answers
/// FEATURES_REQUEST after an ECHO_REQUEST of its own.
async fn fake_switch(mut io: tokio::io::DuplexStream, hello: Vec<u8>) -> Vec<Frame> {
    let mut seen = Vec::new();
    let mut buf = BytesMut::new();
    let mut codec = OfCodec;
    io.write_all(&hello).await.unwrap();
    loop {
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            match &f.msg {
                Message::FeaturesRequest => {
                    let mut out = BytesMut::new();
                    Frame::new(77, Message::EchoRequest(bytes::Bytes::from_static(b"x")))
                        .encode(&mut out)
                        .unwrap();
                    let feat = Features {
                        datapath_id: 0xabc,
                        n_buffers: 0,
                        n_tables: 254,
                        auxiliary_id: 0,
                        capabilities: 0x4f,
                    };
                    Frame::new(f.xid, Message::FeaturesReply(feat))
                        .encode(&mut out)
                        .unwrap();
                    io.write_all(&out).await.unwrap();
                }
                Message::EchoReply(_) => {
                    seen.push(f);
                    return seen;
                }
                Message::Error(_) => {
                    seen.push(f);
                    return seen;
                }
                _ => {}
            }
            seen.push(f);
        }
        let mut tmp = [0u8; 512];
        let n = io.read(&mut tmp).await.unwrap();
        if n == 0 {
            return seen;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

#[tokio::test]
async fn handshake_negotiates_1_3_from_a_1_5_hello_and_answers_echo() {
    let (ours, theirs) = tokio::io::duplex(4096);
    // OVS's default HELLO: version 0x06, bitmap 0x7e (1.0 to 1.5).
    let hello = vec![6, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x7e];
    let sw = tokio::spawn(fake_switch(theirs, hello));
    let mut framed = Framed::new(ours, OfCodec);
    let features = tokio::time::timeout(Duration::from_secs(30), handshake(&mut framed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(features.datapath_id, 0xabc);
    // Our echo reply must reach the switch before it hangs up.
    framed.flush().await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(30), sw)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&seen[0].msg, Message::Hello(h) if h.versions() == vec![4]),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|f| f.xid == 77 && matches!(f.msg, Message::EchoReply(_))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn handshake_refuses_a_peer_without_1_3_and_says_why() {
    let (ours, theirs) = tokio::io::duplex(4096);
    let hello = vec![1, 0, 0, 8, 0, 0, 0, 1]; // OpenFlow 1.0 only, no bitmap
    let sw = tokio::spawn(fake_switch(theirs, hello));
    let mut framed = Framed::new(ours, OfCodec);
    let e = handshake(&mut framed).await.unwrap_err();
    assert!(
        matches!(&e, HandshakeError::Incompatible { offered } if offered == &vec![1]),
        "{e}"
    );
    assert!(e.to_string().contains("OpenFlow13"), "{e}");
    drop(framed);
    let seen = sw.await.unwrap();
    let err = seen.iter().find_map(|f| match &f.msg {
        Message::Error(e) => Some(e.clone()),
        _ => None,
    });
    let err = err.expect("switch got HELLO_FAILED");
    assert_eq!((err.err_type, err.code), (0, 0));
    assert!(err.to_string().starts_with("OFPHFC_INCOMPATIBLE"), "{err}");
}
