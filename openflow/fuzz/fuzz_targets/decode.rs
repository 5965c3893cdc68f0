//! Any bytes: decoding never panics, and whatever decodes re-encodes to a message
//! that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openflow::codec::OfCodec;
use openflow::Frame;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::decode(data) {
        if let Ok(b) = f.to_bytes() {
            assert_eq!(Frame::decode(&b).as_ref(), Ok(&f));
        }
    }
    let mut buf = bytes::BytesMut::from(data);
    let mut c = OfCodec;
    while let Ok(Some(_)) = c.decode(&mut buf) {}
});
