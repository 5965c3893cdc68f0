//! Any byte stream, cut into any chunks: the OVSDB JSON-RPC framer (`ovsdb/src/rpc.rs`)
//! never panics, never hangs, and every message it yields classifies without panicking.
//!
//! The framer is private to the `ovsdb` crate, so this target compiles that very file
//! (`#[path]` below) next to the two crate items it uses (`crate::Error::malformed`,
//! `crate::value::short`), rather than widening the crate's API for the fuzzer.
#![no_main]
#![allow(dead_code)]

use libfuzzer_sys::fuzz_target;

/// Stands in for `ovsdb::Error` (only `malformed` is used by rpc.rs).
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    pub(crate) fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error(format!("{}: {}", what.into(), reason.into()))
    }
}

pub(crate) mod value {
    pub(crate) use super::short;
}

/// The same as `ovsdb::value::short`: a bounded rendering for error messages.
pub(crate) fn short(j: &serde_json::Value) -> String {
    let s = j.to_string();
    if s.len() > 120 {
        let mut end = 117;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

#[path = "../../../ovsdb/src/rpc.rs"]
mod rpc;

/// Feeds `stream` in chunks of `cut` bytes; the messages up to the first error, and
/// whether there was one.
fn frame(stream: &[u8], cut: usize) -> (Vec<serde_json::Value>, bool) {
    let mut f = rpc::Framer::default();
    let mut got = Vec::new();
    for c in stream.chunks(cut) {
        f.feed(c);
        while let Some(m) = f.next_message() {
            match m {
                Ok(j) => got.push(j),
                Err(_) => return (got, true),
            }
        }
    }
    (got, false)
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size: a stream split anywhere frames the same.
    let Some((&cut, stream)) = data.split_first() else { return };
    let cut = usize::from(cut % 32) + 1;
    let whole = frame(stream, stream.len().max(1));
    let chunked = frame(stream, cut);
    assert_eq!(whole, chunked, "chunks of {cut}");
    for j in chunked.0 {
        let _ = rpc::Incoming::classify(j);
    }
});
