//! OFPT_HELLO with its version-bitmap element (OF1.3 §7.5.1).

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{pad8, put_zeros, DecodeError, Reader};

const OFPHET_VERSIONBITMAP: u16 = 1;

/// A HELLO. `version` is the header version the sender put on it (the highest it
/// speaks); the bitmap, if present, lists every version it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u8,
    pub elements: Vec<HelloElement>,
}

/// One element of a HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloElement {
    /// Bit `v` of word `v / 32` set: version `v` supported.
    VersionBitmap(Vec<u32>),
    Unknown {
        kind: u16,
        body: Bytes,
    },
}

impl Default for Hello {
    fn default() -> Self {
        Hello::new(&[crate::OFP_VERSION])
    }
}

impl Hello {
    /// A HELLO offering exactly `versions` (header version = the highest).
    pub fn new(versions: &[u8]) -> Hello {
        let max = versions.iter().copied().max().unwrap_or(crate::OFP_VERSION);
        let mut words = vec![0u32; usize::from(max) / 32 + 1];
        for v in versions {
            words[usize::from(*v) / 32] |= 1 << (v % 32);
        }
        Hello {
            version: max,
            elements: vec![HelloElement::VersionBitmap(words)],
        }
    }

    /// The versions the sender offers: the bitmap if present, else every version up to
    /// the header's (OF1.3 §6.3.1).
    pub fn versions(&self) -> Vec<u8> {
        for e in &self.elements {
            if let HelloElement::VersionBitmap(words) = e {
                return (0..words.len() * 32)
                    .filter(|&v| words[v / 32] & (1 << (v % 32)) != 0)
                    .filter_map(|v| u8::try_from(v).ok())
                    .collect();
            }
        }
        (1..=self.version).collect()
    }

    /// True if the sender offers `version`.
    pub fn supports(&self, version: u8) -> bool {
        self.versions().contains(&version)
    }

    pub(crate) fn body_len(&self) -> usize {
        self.elements
            .iter()
            .map(|e| {
                let l = 4 + match e {
                    HelloElement::VersionBitmap(w) => 4 * w.len(),
                    HelloElement::Unknown { body, .. } => body.len(),
                };
                l + pad8(l)
            })
            .sum()
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        for e in &self.elements {
            let (kind, l) = match e {
                HelloElement::VersionBitmap(w) => (OFPHET_VERSIONBITMAP, 4 + 4 * w.len()),
                HelloElement::Unknown { kind, body } => (*kind, 4 + body.len()),
            };
            out.put_u16(kind);
            out.put_u16(l as u16);
            match e {
                HelloElement::VersionBitmap(w) => w.iter().for_each(|x| out.put_u32(*x)),
                HelloElement::Unknown { body, .. } => out.put_slice(body),
            }
            put_zeros(out, pad8(l));
        }
    }

    pub(crate) fn decode_body(version: u8, r: &mut Reader<'_>) -> Result<Hello, DecodeError> {
        let mut elements = Vec::new();
        while r.remaining() >= 4 {
            let at = r.offset();
            let kind = r.u16("hello.element.type")?;
            let len = usize::from(r.u16("hello.element.length")?);
            if len < 4 {
                return Err(DecodeError::BadLength {
                    what: "hello.element.length",
                    len,
                    offset: at + 2,
                });
            }
            let mut b = r.sub(len - 4, "hello.element")?;
            elements.push(if kind == OFPHET_VERSIONBITMAP && (len - 4) % 4 == 0 {
                let mut w = Vec::with_capacity((len - 4) / 4);
                while !b.is_empty() {
                    w.push(b.u32("hello.bitmap")?);
                }
                HelloElement::VersionBitmap(w)
            } else {
                HelloElement::Unknown {
                    kind,
                    body: Bytes::copy_from_slice(b.take_rest()),
                }
            });
            // The last element's padding may be missing in the wild; accept that.
            let pad = pad8(len).min(r.remaining());
            r.skip(pad, "hello.element.pad")?;
        }
        if !r.is_empty() {
            return Err(DecodeError::Trailing {
                what: "hello",
                offset: r.offset(),
                left: r.remaining(),
            });
        }
        Ok(Hello { version, elements })
    }
}
