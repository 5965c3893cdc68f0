//! Field values in text: formatting and parsing per [`Format`].

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{err, ParseError};
use crate::action::port;
use crate::oxm::fields::{FieldDef, Format};
use crate::oxm::matching::{be_bytes, to_u128};
use crate::oxm::{ct_state, Field, OxmField, TCP_FLAG_NAMES};

/// Parses an unsigned integer: decimal or `0x` hex.
pub(crate) fn parse_uint(s: &str) -> Result<u128, ParseError> {
    let s = s.trim();
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u128::from_str_radix(h, 16)
    } else {
        s.parse::<u128>()
    };
    r.or_else(|_| err(format!("{s:?} is not a number")))
}

pub(crate) fn parse_u64(s: &str, what: &str) -> Result<u64, ParseError> {
    let v = parse_uint(s)?;
    u64::try_from(v).or_else(|_| err(format!("{what} {s} is out of range")))
}

pub(crate) fn parse_u16(s: &str, what: &str) -> Result<u16, ParseError> {
    let v = parse_uint(s)?;
    u16::try_from(v).or_else(|_| err(format!("{what} {s} is out of range (0-65535)")))
}

pub(crate) fn parse_u32(s: &str, what: &str) -> Result<u32, ParseError> {
    let v = parse_uint(s)?;
    u32::try_from(v).or_else(|_| err(format!("{what} {s} is out of range")))
}

/// `%#x` as C prints it: `0` for zero, else `0x..`.
pub(crate) fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

pub(crate) fn mac(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn parse_mac(s: &str) -> Result<Vec<u8>, ParseError> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return err(format!("{s:?} is not an Ethernet address"));
    }
    parts
        .iter()
        .map(|p| {
            u8::from_str_radix(p, 16).or_else(|_| err(format!("{s:?} is not an Ethernet address")))
        })
        .collect()
}

/// The prefix length if `mask` is a CIDR mask.
fn cidr(mask: u128, bits: u32) -> Option<u32> {
    let shifted = mask << (128 - bits);
    let ones = shifted.leading_ones();
    let m = if ones == 0 {
        0
    } else {
        u128::MAX << (128 - ones)
    };
    (m == shifted).then_some(ones)
}

/// A port number as ovs-ofctl prints it.
pub(crate) fn fmt_port(p: u32) -> String {
    match port::name(p) {
        Some(n) => n.to_owned(),
        None => p.to_string(),
    }
}

pub(crate) fn parse_port(s: &str) -> Result<u32, ParseError> {
    if let Some(p) = port::from_name(s) {
        return Ok(p);
    }
    parse_u32(s, "port")
}

fn ct_flags(v: u32) -> Vec<&'static str> {
    ct_state::NAMES
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Formats a field's value (and mask) the way ovs-ofctl prints it after `name=` in a
/// match, or in `set_field:VALUE->name` when `in_match` is false.
pub(crate) fn format_value(d: &FieldDef, f: &OxmField, in_match: bool) -> String {
    let v = to_u128(&f.value);
    let m = f.mask.as_ref().map(|m| to_u128(m));
    let bits = (f.value.len() * 8) as u32;
    match d.format {
        Format::Decimal | Format::VlanVid => {
            let v = if d.format == Format::Decimal && in_match && d.match_name == "nw_tos" {
                v << 2
            } else {
                v
            };
            match m {
                None => v.to_string(),
                Some(m) => format!("{v:#x}/{m:#x}"),
            }
        }
        Format::Hex => match m {
            None if in_match && d.name == "eth_type" => format!("0x{v:04x}"),
            None => hex(v),
            Some(m) => format!("{}/{}", hex(v), hex(m)),
        },
        Format::Flabel => match m {
            None => format!("0x{v:05x}"),
            Some(m) => format!("0x{v:05x}/0x{m:05x}"),
        },
        Format::Mac => match &f.mask {
            None => mac(&f.value),
            Some(mm) => format!("{}/{}", mac(&f.value), mac(mm)),
        },
        Format::Ipv4 => {
            let a = Ipv4Addr::from(v as u32);
            match m {
                None => a.to_string(),
                Some(m) => match cidr(m, bits) {
                    Some(n) => format!("{a}/{n}"),
                    None => format!("{a}/{}", Ipv4Addr::from(m as u32)),
                },
            }
        }
        Format::Ipv6 => {
            let a = Ipv6Addr::from(v);
            match m {
                None => a.to_string(),
                Some(m) => match cidr(m, bits) {
                    Some(n) => format!("{a}/{n}"),
                    None => format!("{a}/{}", Ipv6Addr::from(m)),
                },
            }
        }
        Format::Port => fmt_port(v as u32),
        Format::TcpFlags => {
            let named: u32 = TCP_FLAG_NAMES.iter().map(|(b, _)| b).sum();
            let (v, m) = (v as u32, m.map(|m| m as u32));
            if v & !named != 0 || m.is_some_and(|m| m & !named != 0) {
                return match m {
                    None => format!("{v:#x}"),
                    Some(m) => format!("{v:#x}/{m:#x}"),
                };
            }
            match m {
                None if v == 0 => "0".into(),
                None => TCP_FLAG_NAMES
                    .iter()
                    .filter(|(b, _)| v & b != 0)
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join("|"),
                Some(m) => TCP_FLAG_NAMES
                    .iter()
                    .filter(|(b, _)| m & b != 0)
                    .map(|(b, n)| format!("{}{n}", if v & b != 0 { '+' } else { '-' }))
                    .collect(),
            }
        }
        Format::CtState => match m {
            None | Some(0xff) if v == 0 => "0".into(),
            None | Some(0xff) => ct_flags(v as u32).join("|"),
            Some(m) => {
                let mut s = String::new();
                for (b, n) in ct_state::NAMES {
                    if m as u32 & b != 0 {
                        s.push(if v as u32 & b != 0 { '+' } else { '-' });
                        s.push_str(n);
                    }
                }
                // Bits without a name (none today) would be lost: print numerically.
                if (m as u32) & !0xff != 0 {
                    return format!("{v:#x}/{m:#x}");
                }
                s
            }
        },
    }
}

fn flag(names: &[(u32, &str)], name: &str) -> Result<u32, ParseError> {
    names
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(b, _)| *b)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
            ParseError::new(format!("unknown flag {name:?} (known: {})", all.join(", ")))
        })
}

/// Parses `VALUE[/MASK]` for field `d` into an [`OxmField`] (not canonicalised).
/// Fields whose values are narrower than their OXM payload (OF1.3 §7.2.3.7).
fn value_bits(f: Field) -> Option<u32> {
    Some(match f {
        Field::IP_DSCP => 6,
        Field::IP_ECN => 2,
        Field::VLAN_PCP | Field::MPLS_TC => 3,
        Field::MPLS_BOS => 1,
        Field::MPLS_LABEL | Field::IPV6_FLABEL => 20,
        _ => return None,
    })
}

pub(crate) fn parse_value(d: &FieldDef, s: &str) -> Result<OxmField, ParseError> {
    let w = usize::from(d.len);
    // A value too wide for the field is an error here; ovs-ofctl would silently cut it
    // to the field's bits in a match, and then print a different value.
    let bits = value_bits(d.field).unwrap_or((w * 8) as u32);
    let (vs, ms) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let ctx = |e: ParseError| ParseError::new(format!("{}={s}: {}", d.match_name, e.msg));
    let int = |x: &str| -> Result<Vec<u8>, ParseError> {
        let n = parse_uint(x)?;
        if bits < 128 && n >> bits != 0 {
            return err(format!("{x} does not fit in {bits} bits"));
        }
        Ok(be_bytes(n, w))
    };
    let (value, mask) = match d.format {
        Format::Decimal | Format::Hex | Format::Flabel | Format::VlanVid => {
            (int(vs).map_err(ctx)?, ms.map(int).transpose().map_err(ctx)?)
        }
        Format::Mac => (
            parse_mac(vs).map_err(ctx)?,
            ms.map(parse_mac).transpose().map_err(ctx)?,
        ),
        Format::Ipv4 | Format::Ipv6 => {
            let addr = |x: &str| -> Result<u128, ParseError> {
                if d.format == Format::Ipv4 {
                    x.parse::<Ipv4Addr>()
                        .map(|a| u128::from(u32::from(a)))
                        .or_else(|_| err(format!("{x:?} is not an IPv4 address")))
                } else {
                    x.parse::<Ipv6Addr>()
                        .map(u128::from)
                        .or_else(|_| err(format!("{x:?} is not an IPv6 address")))
                }
            };
            let v = addr(vs).map_err(ctx)?;
            let m = match ms {
                None => None,
                Some(m) if !m.contains(['.', ':']) => {
                    let n: u32 = m
                        .parse()
                        .map_err(|_| ctx(ParseError::new(format!("bad prefix length {m}"))))?;
                    if n > bits {
                        return Err(ctx(ParseError::new(format!(
                            "prefix length {n} is longer than {bits}"
                        ))));
                    }
                    let full = if bits == 128 {
                        u128::MAX
                    } else {
                        (1u128 << bits) - 1
                    };
                    Some(if n == 0 {
                        0
                    } else {
                        (full << (bits - n)) & full
                    })
                }
                Some(m) => Some(addr(m).map_err(ctx)?),
            };
            (be_bytes(v, w), m.map(|m| be_bytes(m, w)))
        }
        Format::Port => {
            if ms.is_some() {
                return Err(ctx(ParseError::new("in_port cannot be masked")));
            }
            (be_bytes(u128::from(parse_port(vs).map_err(ctx)?), w), None)
        }
        Format::CtState | Format::TcpFlags => {
            let names = if d.format == Format::CtState {
                ct_state::NAMES
            } else {
                TCP_FLAG_NAMES
            };
            if vs.starts_with(['+', '-']) && ms.is_none() {
                let (mut v, mut m) = (0u32, 0u32);
                let mut rest = vs;
                while !rest.is_empty() {
                    let plus = rest.starts_with('+');
                    rest = &rest[1..];
                    let end = rest.find(['+', '-']).unwrap_or(rest.len());
                    let name = &rest[..end];
                    let bit = flag(names, name).map_err(ctx)?;
                    m |= bit;
                    if plus {
                        v |= bit;
                    }
                    rest = &rest[end..];
                }
                (be_bytes(v.into(), w), Some(be_bytes(m.into(), w)))
            } else if vs.contains('|') || vs.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            {
                let mut v = 0u32;
                for name in vs.split('|') {
                    v |= flag(names, name).map_err(ctx)?;
                }
                (be_bytes(v.into(), w), None)
            } else {
                (int(vs).map_err(ctx)?, ms.map(int).transpose().map_err(ctx)?)
            }
        }
    };
    if mask.is_some() && !d.maskable {
        return Err(ParseError::new(format!(
            "{} cannot be masked",
            d.match_name
        )));
    }
    Ok(OxmField {
        field: d.field,
        value,
        mask,
    })
}
