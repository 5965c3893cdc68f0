//! JSON-RPC 1.0 framing (RFC 7047 §4): messages are JSON objects back to back on the
//! stream, with no delimiter, so the reader finds each object's end itself.

use serde_json::Value as Json;

use crate::value::short;
use crate::Error;

/// Largest message we accept from a peer (a full dump of a big database fits easily).
pub(crate) const MAX_MESSAGE: usize = 256 << 20;

/// Splits a byte stream into JSON values. Linear in the input: it tracks nesting and
/// strings byte by byte instead of re-parsing a partial message on every read.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    scan: usize,
    depth: usize,
    in_str: bool,
    escape: bool,
    start: usize,
    /// Bytes consumed before `buf[0]`, for error positions.
    offset: u64,
}

impl Framer {
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `None` if more bytes are needed, or an error if the
    /// stream is not a sequence of JSON objects (after which the stream is unusable).
    pub(crate) fn next_message(&mut self) -> Option<Result<Json, Error>> {
        let mut i = self.scan;
        while i < self.buf.len() {
            let c = self.buf[i];
            if self.depth == 0 {
                if c.is_ascii_whitespace() {
                    i += 1;
                    continue;
                }
                if c != b'{' && c != b'[' {
                    return Some(Err(Error::malformed(
                        "JSON-RPC stream",
                        format!(
                            "expected '{{' at byte {}, got {:?}",
                            self.offset + i as u64,
                            char::from(c)
                        ),
                    )));
                }
                self.start = i;
                self.depth = 1;
            } else if self.in_str {
                if self.escape {
                    self.escape = false;
                } else if c == b'\\' {
                    self.escape = true;
                } else if c == b'"' {
                    self.in_str = false;
                }
            } else {
                match c {
                    b'"' => self.in_str = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            let end = i + 1;
                            let at = self.offset + self.start as u64;
                            let parsed = serde_json::from_slice::<Json>(&self.buf[self.start..end])
                                .map_err(|e| {
                                    Error::malformed(
                                        "JSON-RPC stream",
                                        format!("message at byte {at}: {e}"),
                                    )
                                });
                            self.buf.drain(..end);
                            self.offset += end as u64;
                            self.scan = 0;
                            return Some(parsed);
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        if self.depth == 0 {
            // Only whitespace left: drop it.
            self.offset += self.buf.len() as u64;
            self.buf.clear();
            self.scan = 0;
        } else {
            self.scan = i;
            if self.buf.len() - self.start > MAX_MESSAGE {
                return Some(Err(Error::malformed(
                    "JSON-RPC stream",
                    format!("message longer than {MAX_MESSAGE} bytes"),
                )));
            }
        }
        None
    }
}

/// A message received from the server, classified.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A reply to our request `id`: `Ok(result)` or `Err(error)`.
    Response { id: u64, result: Result<Json, Json> },
    /// A request from the server (in practice `echo`).
    Request {
        id: Json,
        method: String,
        params: Json,
    },
    /// A notification (`update`, `update2`, `update3`, `locked`, `stolen`).
    Notification { method: String, params: Json },
}

impl Incoming {
    pub(crate) fn classify(j: Json) -> Result<Incoming, Error> {
        let Json::Object(mut o) = j else {
            return Err(Error::malformed(
                "JSON-RPC message",
                format!("not an object: {}", short(&j)),
            ));
        };
        let id = o.remove("id").unwrap_or(Json::Null);
        if let Some(method) = o.get("method") {
            let method = method
                .as_str()
                .ok_or_else(|| Error::malformed("JSON-RPC message", "method is not a string"))?
                .to_owned();
            let params = o.remove("params").unwrap_or(Json::Array(vec![]));
            return Ok(if id.is_null() {
                Incoming::Notification { method, params }
            } else {
                Incoming::Request { id, method, params }
            });
        }
        let id = id.as_u64().ok_or_else(|| {
            Error::malformed(
                "JSON-RPC reply",
                format!("id {} is not one of ours", short(&id)),
            )
        })?;
        let error = o.remove("error").unwrap_or(Json::Null);
        let result = if error.is_null() {
            Ok(o.remove("result").unwrap_or(Json::Null))
        } else {
            Err(error)
        };
        Ok(Incoming::Response { id, result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_messages_across_arbitrary_chunk_boundaries() {
        let stream = br#"{"id":1,"result":["a}\"{b"],"error":null} {"id":null,"method":"update2","params":[null,{"T":{}}]}
{"id":"echo","method":"echo","params":[]}"#;
        for chunk in 1..stream.len() {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                f.feed(part);
                while let Some(m) = f.next_message() {
                    got.push(m.unwrap());
                }
            }
            assert_eq!(got.len(), 3, "chunk size {chunk}");
            assert_eq!(got[0]["result"][0], "a}\"{b");
            assert_eq!(got[2]["method"], "echo");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b"hello"[..], b"{\"a\":tru}", b"}", b"{\"a\":1}x"] {
            let mut f = Framer::default();
            f.feed(bad);
            let mut err = None;
            while let Some(m) = f.next_message() {
                if let Err(e) = m {
                    err = Some(e);
                    break;
                }
            }
            let e = err.unwrap_or_else(|| panic!("{:?} accepted", String::from_utf8_lossy(bad)));
            assert!(e.to_string().contains("JSON-RPC stream"), "{e}");
        }
    }

    #[test]
    fn classifies_replies_requests_and_notifications() {
        let c = |s: &str| Incoming::classify(serde_json::from_str(s).unwrap());
        assert!(matches!(
            c(r#"{"id":7,"result":["Open_vSwitch"],"error":null}"#),
            Ok(Incoming::Response {
                id: 7,
                result: Ok(_)
            })
        ));
        assert!(matches!(
            c(r#"{"id":6,"error":"unknown method"}"#),
            Ok(Incoming::Response {
                id: 6,
                result: Err(_)
            })
        ));
        assert!(matches!(
            c(r#"{"id":"echo","method":"echo","params":[]}"#),
            Ok(Incoming::Request { .. })
        ));
        assert!(matches!(
            c(r#"{"id":null,"method":"update2","params":[]}"#),
            Ok(Incoming::Notification { .. })
        ));
        assert!(c(r#"{"id":"x","result":1}"#).is_err());
        assert!(c(r#"[1]"#).is_err());
        assert!(c(r#"{"method":5}"#).is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn framer_and_classifier_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), cut in 1usize..64) {
            let mut f = Framer::default();
            for chunk in bytes.chunks(cut) {
                f.feed(chunk);
                while let Some(m) = f.next_message() {
                    match m {
                        Ok(j) => { let _ = Incoming::classify(j); }
                        Err(_) => return Ok(()),
                    }
                }
            }
        }

        #[test]
        fn framer_finds_every_message_of_a_valid_stream(
            msgs in proptest::collection::vec(("[ -~]{0,12}", any::<i64>()), 1..6),
            cut in 1usize..40,
        ) {
            let stream: String = msgs
                .iter()
                .map(|(s, n)| serde_json::json!({"id": n, "result": [s, {"k": s}], "error": null}).to_string() + " ")
                .collect();
            let mut f = Framer::default();
            let mut got = Vec::new();
            for chunk in stream.as_bytes().chunks(cut) {
                f.feed(chunk);
                while let Some(m) = f.next_message() {
                    got.push(m.unwrap());
                }
            }
            prop_assert_eq!(got.len(), msgs.len());
            for (g, (s, n)) in got.iter().zip(&msgs) {
                prop_assert_eq!(&g["result"][0], &serde_json::json!(s));
                prop_assert_eq!(&g["id"], &serde_json::json!(n));
            }
        }
    }
}
