//! The byte-level pieces every message uses: [`Reader`], the [`Wire`] trait and
//! [`DecodeError`].

use bytes::{BufMut, BytesMut};

/// Implemented by every wire type. `encode` appends exactly `wire_len()` bytes.
pub trait Wire: Sized {
    /// The number of bytes `encode` writes.
    fn wire_len(&self) -> usize;
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut BytesMut);
    /// Decodes one value from `r`, consuming exactly its bytes.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field and the offset where the input was wrong.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Why a byte string is not a valid OpenFlow message. Every variant names the field
/// (`what`) and the byte offset from the start of the message where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before the field does.
    #[error("{what}: truncated at offset {offset} (needs {need} bytes, {have} left)")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    /// A length field is impossible (too short, not a multiple of 8, past the end).
    #[error("{what}: bad length {len} at offset {offset}")]
    BadLength {
        what: &'static str,
        len: usize,
        offset: usize,
    },
    /// A field holds a value this codec cannot represent.
    #[error("{what}: bad value {value:#x} at offset {offset}")]
    BadValue {
        what: &'static str,
        value: u64,
        offset: usize,
    },
    /// Bytes are left over inside a length-delimited structure.
    #[error("{what}: {left} unexpected trailing bytes at offset {offset}")]
    Trailing {
        what: &'static str,
        offset: usize,
        left: usize,
    },
    /// The header's version is not OpenFlow 1.3 (0x04).
    #[error(
        "unsupported OpenFlow version {version:#04x} at offset 0 (this codec speaks 1.3, 0x04)"
    )]
    BadVersion { version: u8 },
}

impl DecodeError {
    /// The field (or structure) that was wrong.
    pub fn what(&self) -> &'static str {
        match self {
            DecodeError::Truncated { what, .. }
            | DecodeError::BadLength { what, .. }
            | DecodeError::BadValue { what, .. }
            | DecodeError::Trailing { what, .. } => what,
            DecodeError::BadVersion { .. } => "header.version",
        }
    }

    /// The byte offset (from the start of the message) where decoding stopped.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::BadLength { offset, .. }
            | DecodeError::BadValue { offset, .. }
            | DecodeError::Trailing { offset, .. } => *offset,
            DecodeError::BadVersion { .. } => 1,
        }
    }
}

/// A bounds-checked cursor over a byte slice. Every read names the field it reads so
/// errors point at it; offsets are absolute (from the start of the message), also in
/// child readers made with [`Reader::sub`].
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    depth: u8,
}

/// How deep structures may nest (ct inside ct, bundle inside bundle): bounds the
/// recursion on hostile input.
const MAX_DEPTH: u8 = 8;

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`, offsets starting at 0.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            base: 0,
            depth: 0,
        }
    }

    /// The absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                offset: self.offset(),
                need: n,
                have: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N, what)?);
        Ok(a)
    }

    /// Reads a big-endian `u8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, what)?[0])
    }
    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    /// Reads a big-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Looks at the next two bytes without consuming them.
    pub fn peek_u16(&self, what: &'static str) -> Result<u16, DecodeError> {
        self.clone().u16(what)
    }

    /// Skips `n` bytes (padding or reserved fields).
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.bytes(n, what).map(|_| ())
    }

    /// A child reader over the next `n` bytes, which this reader skips.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        let base = self.offset();
        let buf = self.bytes(n, what)?;
        Ok(Reader {
            buf,
            pos: 0,
            base,
            depth: self.depth,
        })
    }

    /// Everything not read yet.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails if bytes are left: a structure must be consumed exactly.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing {
                what,
                offset: self.offset(),
                left: self.remaining(),
            })
        }
    }

    /// Enters a nested structure (ct's actions, a bundled message); fails past the
    /// nesting limit. Pair with [`Reader::leave`].
    pub fn enter(&mut self, what: &'static str) -> Result<(), DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::BadValue {
                what,
                value: self.depth.into(),
                offset: self.offset(),
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a nested structure.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A `BadLength` error at the current offset.
    pub fn bad_len(&self, what: &'static str, len: usize) -> DecodeError {
        DecodeError::BadLength {
            what,
            len,
            offset: self.offset(),
        }
    }

    /// A `BadValue` error at the current offset.
    pub fn bad_value(&self, what: &'static str, value: u64) -> DecodeError {
        DecodeError::BadValue {
            what,
            value,
            offset: self.offset(),
        }
    }
}

/// Bytes needed to pad `len` to a multiple of 8.
pub(crate) fn pad8(len: usize) -> usize {
    (8 - len % 8) % 8
}

pub(crate) fn put_zeros(out: &mut BytesMut, n: usize) {
    out.put_bytes(0, n);
}

/// Reads a fixed-width NUL-padded string field. Bytes that are not UTF-8 become
/// U+FFFD, and the result is cut (at a character boundary) to the `n - 1` bytes
/// [`put_fixed_str`] writes, so decoding what was re-encoded gives the same string.
pub(crate) fn fixed_str(
    r: &mut Reader<'_>,
    n: usize,
    what: &'static str,
) -> Result<String, DecodeError> {
    let b = r.bytes(n, what)?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(n);
    let mut s = String::from_utf8_lossy(&b[..end]).into_owned();
    let mut cut = s.len().min(n.saturating_sub(1));
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    Ok(s)
}

/// Writes `s` into a fixed-width NUL-padded field (truncated to `n - 1` bytes).
pub(crate) fn put_fixed_str(out: &mut BytesMut, s: &str, n: usize) {
    let b = s.as_bytes();
    let k = b.len().min(n - 1);
    out.put_slice(&b[..k]);
    out.put_bytes(0, n - k);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_read_names_field_and_offset() {
        let mut r = Reader::new(&[1, 2, 3]);
        r.u16("a").unwrap();
        let e = r.u16("b").unwrap_err();
        assert_eq!(e.what(), "b");
        assert_eq!(e.offset(), 2);
    }

    #[test]
    fn fixed_string_that_is_not_utf8_or_not_terminated_reencodes_to_itself() {
        // Found by the `decode` fuzz target: a port name of invalid UTF-8 grew past
        // 15 bytes when replaced by U+FFFD, so its re-encoding decoded differently.
        for raw in [
            &b"ab\xae\xae\xae\xae\xae\xae]\xae\xae\xae\xae\0\0\0\0"[..],
            b"0123456789abcdef", // no NUL terminator
            b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", // a 2-byte char across byte 15
        ] {
            let s = fixed_str(&mut Reader::new(raw), 16, "name").unwrap();
            assert!(s.len() <= 15, "{s:?}");
            let mut b = BytesMut::new();
            put_fixed_str(&mut b, &s, 16);
            assert_eq!(fixed_str(&mut Reader::new(&b), 16, "name").unwrap(), s);
        }
    }

    #[test]
    fn sub_reader_keeps_absolute_offsets() {
        let mut r = Reader::new(&[0, 0, 0, 0, 9]);
        r.skip(2, "pad").unwrap();
        let mut s = r.sub(3, "child").unwrap();
        s.skip(2, "x").unwrap();
        assert_eq!(s.offset(), 4);
        assert_eq!(s.finish("child").unwrap_err().offset(), 4);
    }
}
