//! [`OxmField`] (one OXM TLV) and the canonical [`Match`] (OF1.3 §7.2.3 `ofp_match`).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use bytes::{BufMut, Bytes, BytesMut};

use super::fields::{Field, Prereq, OXM_CLASS_EXPERIMENTER};
use crate::wire::{pad8, put_zeros, DecodeError, Reader, Wire};

/// `OFPMT_OXM`.
const OFPMT_OXM: u16 = 1;

/// Bits of the `ct_state` field.
pub mod ct_state {
    pub const NEW: u32 = 0x01;
    pub const EST: u32 = 0x02;
    pub const REL: u32 = 0x04;
    pub const RPL: u32 = 0x08;
    pub const INV: u32 = 0x10;
    pub const TRK: u32 = 0x20;
    pub const SNAT: u32 = 0x40;
    pub const DNAT: u32 = 0x80;
    /// Names in the order ovs-ofctl prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (NEW, "new"),
        (EST, "est"),
        (REL, "rel"),
        (RPL, "rpl"),
        (INV, "inv"),
        (TRK, "trk"),
        (SNAT, "snat"),
        (DNAT, "dnat"),
    ];
}

/// Bits of the `tcp_flags` field, with the names ovs-ofctl uses, in the order it prints them.
pub const TCP_FLAG_NAMES: &[(u32, &str)] = &[
    (0x001, "fin"),
    (0x002, "syn"),
    (0x004, "rst"),
    (0x008, "psh"),
    (0x010, "ack"),
    (0x020, "urg"),
    (0x040, "ece"),
    (0x080, "cwr"),
    (0x100, "ns"),
];

/// One OXM TLV: a field, its value and an optional mask (same width as the value).
/// In a [`Match`] it is kept canonical: no all-ones or all-zero masks, value bits
/// outside the mask cleared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OxmField {
    pub field: Field,
    pub value: Vec<u8>,
    pub mask: Option<Vec<u8>>,
}

impl OxmField {
    /// An exact match on `value` (big-endian bytes).
    pub fn exact(field: Field, value: impl Into<Vec<u8>>) -> OxmField {
        OxmField {
            field,
            value: value.into(),
            mask: None,
        }
    }

    /// A masked match.
    pub fn masked(field: Field, value: impl Into<Vec<u8>>, mask: impl Into<Vec<u8>>) -> OxmField {
        OxmField {
            field,
            value: value.into(),
            mask: Some(mask.into()),
        }
    }

    /// An exact match on the low bytes of `value`, as wide as the field is.
    /// Fields this codec does not know are taken as 4 bytes wide.
    pub fn uint(field: Field, value: u128) -> OxmField {
        let w = field.width().map_or(4, usize::from);
        OxmField::exact(field, be_bytes(value, w))
    }

    /// A masked match on the low bytes of `value` and `mask`.
    pub fn uint_masked(field: Field, value: u128, mask: u128) -> OxmField {
        let w = field.width().map_or(4, usize::from);
        OxmField::masked(field, be_bytes(value, w), be_bytes(mask, w))
    }

    /// The value as an unsigned integer (fields up to 16 bytes).
    pub fn value_u128(&self) -> u128 {
        to_u128(&self.value)
    }

    /// The mask as an unsigned integer; all ones of the value's width when exact.
    pub fn mask_u128(&self) -> u128 {
        match &self.mask {
            Some(m) => to_u128(m),
            None => ones(self.value.len()),
        }
    }

    fn payload_len(&self) -> usize {
        let exp = if self.field.class == OXM_CLASS_EXPERIMENTER {
            4
        } else {
            0
        };
        exp + self.value.len() + self.mask.as_ref().map_or(0, Vec::len)
    }

    /// Brings the field into canonical form; `None` if the mask is all zeros (the
    /// field matches anything and is dropped).
    fn canonical(mut self) -> Option<OxmField> {
        // Open vSwitch sends an exact ct_state as masked with 0xff (the defined bits)
        // and prints it as exact: keep that one form for both.
        if self.field == Field::CT_STATE && self.value.len() == 4 {
            let m = self.mask.get_or_insert_with(|| vec![0xff; 4]);
            if m[..3].iter().all(|&b| b == 0xff) || (m[..3].iter().all(|&b| b == 0) && m[3] == 0xff)
            {
                *m = vec![0, 0, 0, 0xff];
                self.value[..3].fill(0);
            }
        }
        // tcp_flags is 12 bits wide: a mask covering them is an exact match.
        if self.field == Field::TCP_FLAGS && self.mask.as_deref() == Some(&[0x0f, 0xff][..]) {
            self.mask = None;
            self.value[0] &= 0x0f;
        }
        if let Some(m) = &self.mask {
            if m.iter().all(|&b| b == 0xff) && self.field != Field::CT_STATE {
                self.mask = None;
            } else if m.iter().all(|&b| b == 0) {
                return None;
            } else {
                for (v, m) in self.value.iter_mut().zip(m) {
                    *v &= m;
                }
            }
        }
        Some(self)
    }
}

pub(crate) fn be_bytes(v: u128, w: usize) -> Vec<u8> {
    let b = v.to_be_bytes();
    b[16 - w.min(16)..].to_vec()
}

pub(crate) fn to_u128(b: &[u8]) -> u128 {
    b.iter()
        .rev()
        .take(16)
        .rev()
        .fold(0u128, |a, &x| (a << 8) | u128::from(x))
}

fn ones(w: usize) -> u128 {
    if w >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * w)) - 1
    }
}

impl Wire for OxmField {
    fn wire_len(&self) -> usize {
        4 + self.payload_len()
    }

    fn encode(&self, out: &mut BytesMut) {
        let len = self.payload_len() as u8;
        out.put_u32(self.field.header(self.mask.is_some(), len));
        if self.field.class == OXM_CLASS_EXPERIMENTER {
            out.put_u32(self.field.experimenter);
        }
        out.put_slice(&self.value);
        if let Some(m) = &self.mask {
            out.put_slice(m);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let header = r.u32("oxm.header")?;
        let class = (header >> 16) as u16;
        let field = ((header >> 9) & 0x7f) as u8;
        let hasmask = header & 0x100 != 0;
        let mut len = (header & 0xff) as usize;
        let mut experimenter = 0;
        if class == OXM_CLASS_EXPERIMENTER {
            if len < 4 {
                return Err(DecodeError::BadLength {
                    what: "oxm.length",
                    len,
                    offset: at,
                });
            }
            experimenter = r.u32("oxm.experimenter")?;
            len -= 4;
        }
        let f = Field {
            class,
            field,
            experimenter,
        };
        if hasmask && len & 1 != 0 {
            return Err(DecodeError::BadLength {
                what: "oxm.length (masked)",
                len,
                offset: at,
            });
        }
        let vlen = if hasmask { len / 2 } else { len };
        if let Some(d) = f.def() {
            if vlen != usize::from(d.len) {
                return Err(DecodeError::BadLength {
                    what: d.name,
                    len: vlen,
                    offset: at,
                });
            }
        }
        let value = r.bytes(vlen, "oxm.value")?.to_vec();
        let mask = if hasmask {
            Some(r.bytes(vlen, "oxm.mask")?.to_vec())
        } else {
            None
        };
        Ok(OxmField {
            field: f,
            value,
            mask,
        })
    }
}

/// Why a set of fields is not a valid match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// The field's prerequisite is not matched (OVS answers OFPBMC_BAD_PREREQ).
    #[error("match on {field} needs {needs} (add it to the match)")]
    MissingPrereq { field: Field, needs: &'static str },
    /// The same field appears twice.
    #[error("field {0} is matched twice")]
    Duplicate(Field),
    /// The value or mask has the wrong width for the field.
    #[error("field {field} is {want} bytes wide, got {got}")]
    BadWidth {
        field: Field,
        want: usize,
        got: usize,
    },
    /// The field cannot be masked.
    #[error("field {0} cannot be masked")]
    NotMaskable(Field),
}

/// A canonical OpenFlow match: fields kept in one fixed order (Open vSwitch's), masks
/// normalised, prerequisites checked when built. Two matches on the same packets
/// compare and hash equal whatever order they were built in.
///
/// A match that was decoded also remembers the bytes it came from when they are not
/// the canonical encoding (another order, an all-ones mask, a field masked to nothing,
/// non-zero padding), and encodes to those bytes again: a message from another
/// controller or switch passes through unchanged. Equality, ordering, hashing and
/// `Debug` look only at the canonical fields; matches that are built always encode
/// canonically.
#[derive(Clone, Default)]
pub struct Match {
    fields: Vec<OxmField>,
    /// The whole `ofp_match` (padding included) as received, if not canonical.
    wire: Option<Bytes>,
}

impl PartialEq for Match {
    fn eq(&self, o: &Match) -> bool {
        self.fields == o.fields
    }
}

impl Eq for Match {}

impl PartialOrd for Match {
    fn partial_cmp(&self, o: &Match) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Match {
    fn cmp(&self, o: &Match) -> Ordering {
        self.fields.cmp(&o.fields)
    }
}

impl Hash for Match {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.fields.hash(h);
    }
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Match")
            .field("fields", &self.fields)
            .finish()
    }
}

impl Match {
    /// The empty match (every packet).
    pub fn new() -> Match {
        Match::default()
    }

    /// A builder; see [`MatchBuilder`].
    pub fn builder() -> MatchBuilder {
        MatchBuilder::default()
    }

    /// Builds a canonical match from fields in any order and checks widths, masks and
    /// prerequisites.
    ///
    /// # Errors
    /// [`MatchError`] naming the offending field.
    pub fn from_fields(fields: impl IntoIterator<Item = OxmField>) -> Result<Match, MatchError> {
        let m = Match::canonicalize(fields.into_iter().collect())?;
        m.check_prereqs()?;
        Ok(m)
    }

    fn canonicalize(fields: Vec<OxmField>) -> Result<Match, MatchError> {
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            if let Some(d) = f.field.def() {
                let want = usize::from(d.len);
                for got in std::iter::once(f.value.len()).chain(f.mask.as_ref().map(Vec::len)) {
                    if got != want {
                        return Err(MatchError::BadWidth {
                            field: f.field,
                            want,
                            got,
                        });
                    }
                }
                if f.mask.is_some()
                    && !d.maskable
                    && f.mask
                        .as_ref()
                        .is_some_and(|m| m.iter().any(|&b| b != 0xff))
                {
                    return Err(MatchError::NotMaskable(f.field));
                }
            }
            if let Some(f) = f.canonical() {
                out.push(f);
            }
        }
        out.sort_by_key(|a| (a.field.rank(), a.field));
        for w in out.windows(2) {
            if w[0].field == w[1].field {
                return Err(MatchError::Duplicate(w[0].field));
            }
        }
        Ok(Match {
            fields: out,
            wire: None,
        })
    }

    /// The fields, in canonical order.
    pub fn fields(&self) -> &[OxmField] {
        &self.fields
    }

    /// True if this match was decoded from bytes that were not its canonical encoding,
    /// and so encodes to those bytes rather than canonically.
    pub fn is_wire_exact(&self) -> bool {
        self.wire.is_some()
    }

    /// The same match without the remembered wire bytes: it encodes canonically.
    pub fn canonical(&self) -> Match {
        Match {
            fields: self.fields.clone(),
            wire: None,
        }
    }

    /// True for the match-everything match.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The entry for `field`, if matched.
    pub fn get(&self, field: Field) -> Option<&OxmField> {
        self.fields.iter().find(|f| f.field == field)
    }

    /// The exact value of `field` as an integer, if it is matched exactly.
    pub fn exact(&self, field: Field) -> Option<u128> {
        self.get(field)
            .filter(|f| f.mask.is_none())
            .map(OxmField::value_u128)
    }

    /// Checks every field's prerequisites (OVS's rules, which OVS enforces with
    /// OFPBMC_BAD_PREREQ or by silently dropping the field).
    ///
    /// # Errors
    /// [`MatchError::MissingPrereq`] for the first field whose prerequisite is missing.
    pub fn check_prereqs(&self) -> Result<(), MatchError> {
        for f in &self.fields {
            let Some(d) = f.field.def() else { continue };
            if let Some(needs) = self.missing(d.prereq) {
                return Err(MatchError::MissingPrereq {
                    field: f.field,
                    needs,
                });
            }
        }
        Ok(())
    }

    fn missing(&self, p: Prereq) -> Option<&'static str> {
        let eth = self.exact(Field::ETH_TYPE);
        let proto = self.exact(Field::IP_PROTO);
        let is4 = eth == Some(0x0800);
        let is6 = eth == Some(0x86dd);
        let ok = match p {
            Prereq::None => true,
            Prereq::Ip => {
                return (!(is4 || is6)).then_some("dl_type=0x0800 or 0x86dd (ip or ipv6)");
            }
            Prereq::Ipv4 => return (!is4).then_some("dl_type=0x0800 (ip)"),
            Prereq::Ipv6 => return (!is6).then_some("dl_type=0x86dd (ipv6)"),
            Prereq::Arp => {
                return (!matches!(eth, Some(0x0806 | 0x8035))).then_some("dl_type=0x0806 (arp)");
            }
            Prereq::Vlan => self
                .get(Field::VLAN_VID)
                .is_some_and(|v| v.value_u128() & v.mask_u128() & 0x1000 != 0),
            Prereq::IpProto(p) => {
                if !(is4 || is6) || proto != Some(u128::from(p)) {
                    return Some(match p {
                        6 => "ip (or ipv6) and nw_proto=6 (tcp or tcp6)",
                        17 => "ip (or ipv6) and nw_proto=17 (udp or udp6)",
                        132 => "ip (or ipv6) and nw_proto=132 (sctp or sctp6)",
                        _ => "ip and nw_proto",
                    });
                }
                true
            }
            Prereq::Icmp4 => {
                return (!(is4 && proto == Some(1))).then_some("ip and nw_proto=1 (icmp)")
            }
            Prereq::Icmp6 => {
                return (!(is6 && proto == Some(58))).then_some("ipv6 and nw_proto=58 (icmp6)")
            }
            Prereq::Nd => {
                let t = self.exact(Field::ICMPV6_TYPE);
                return (!(is6 && proto == Some(58) && matches!(t, Some(135 | 136))))
                    .then_some("icmp6 with icmpv6_type=135 or 136");
            }
            Prereq::Ct => return (!self.ct_valid()).then_some(CT_NEEDS),
            Prereq::CtIpv4 => {
                if !self.ct_valid() {
                    return Some(CT_NEEDS);
                }
                return (!is4).then_some("dl_type=0x0800 (ip)");
            }
            Prereq::CtIpv6 => {
                if !self.ct_valid() {
                    return Some(CT_NEEDS);
                }
                return (!is6).then_some("dl_type=0x86dd (ipv6)");
            }
            Prereq::CtTp => {
                if !self.ct_valid() {
                    return Some(CT_NEEDS);
                }
                return self
                    .get(Field::CT_NW_PROTO)
                    .is_none()
                    .then_some("ct_nw_proto");
            }
            Prereq::Mpls => matches!(eth, Some(0x8847 | 0x8848)),
        };
        (!ok).then_some(match p {
            Prereq::Vlan => "a VLAN (vlan_vid with 0x1000 set)",
            _ => "dl_type=0x8847 or 0x8848 (mpls)",
        })
    }

    fn ct_valid(&self) -> bool {
        use ct_state::*;
        let Some(f) = self.get(Field::CT_STATE) else {
            return false;
        };
        let (v, m) = (f.value_u128() as u32, f.mask_u128() as u32);
        v & m & (NEW | EST | REL | RPL) != 0 || (v & m & TRK != 0 && m & INV != 0 && v & INV == 0)
    }

    fn fields_len(&self) -> usize {
        self.fields.iter().map(Wire::wire_len).sum()
    }
}

const CT_NEEDS: &str = "a valid connection in ct_state (+new, +est, +rel or +rpl, or +trk-inv)";

impl Wire for Match {
    fn wire_len(&self) -> usize {
        if let Some(w) = &self.wire {
            return w.len();
        }
        let l = 4 + self.fields_len();
        l + pad8(l)
    }

    fn encode(&self, out: &mut BytesMut) {
        if let Some(w) = &self.wire {
            out.put_slice(w);
            return;
        }
        let l = 4 + self.fields_len();
        out.put_u16(OFPMT_OXM);
        out.put_u16(l as u16);
        for f in &self.fields {
            f.encode(out);
        }
        put_zeros(out, pad8(l));
    }

    /// Decodes an `ofp_match` and canonicalises it. Prerequisites are not checked
    /// here: the switch checked them.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let mut whole = r.clone();
        let kind = r.u16("match.type")?;
        if kind != OFPMT_OXM {
            return Err(DecodeError::BadValue {
                what: "match.type",
                value: kind.into(),
                offset: at,
            });
        }
        let len = usize::from(r.u16("match.length")?);
        if len < 4 {
            return Err(DecodeError::BadLength {
                what: "match.length",
                len,
                offset: at + 2,
            });
        }
        let mut body = r.sub(len - 4, "match.fields")?;
        let mut fields = Vec::new();
        while !body.is_empty() {
            fields.push(OxmField::decode(&mut body)?);
        }
        r.skip(pad8(len), "match.pad")?;
        let mut m = Match::canonicalize(fields).map_err(|e| DecodeError::BadValue {
            what: match e {
                MatchError::Duplicate(_) => "match: duplicate field",
                _ => "match: field",
            },
            value: 0,
            offset: at,
        })?;
        let raw = whole.bytes(r.offset() - at, "match")?;
        let mut canonical = BytesMut::with_capacity(m.wire_len());
        m.encode(&mut canonical);
        if raw != &canonical[..] {
            m.wire = Some(Bytes::copy_from_slice(raw));
        }
        Ok(m)
    }
}

/// Collects fields for a [`Match`]; `build` canonicalises and checks prerequisites.
#[derive(Debug, Clone, Default)]
pub struct MatchBuilder {
    fields: Vec<OxmField>,
}

impl MatchBuilder {
    /// Adds a field as given.
    pub fn field(mut self, f: OxmField) -> Self {
        self.fields.push(f);
        self
    }
    /// Adds an exact match on an integer value (see [`OxmField::uint`]).
    pub fn exact(self, field: Field, value: u128) -> Self {
        self.field(OxmField::uint(field, value))
    }
    /// Adds a masked match on an integer value.
    pub fn masked(self, field: Field, value: u128, mask: u128) -> Self {
        self.field(OxmField::uint_masked(field, value, mask))
    }
    /// `dl_type=0x0800`.
    pub fn ip(self) -> Self {
        self.exact(Field::ETH_TYPE, 0x0800)
    }
    /// `tcp`: ip and nw_proto=6.
    pub fn tcp(self) -> Self {
        self.ip().exact(Field::IP_PROTO, 6)
    }
    /// `udp`: ip and nw_proto=17.
    pub fn udp(self) -> Self {
        self.ip().exact(Field::IP_PROTO, 17)
    }
    /// `arp`.
    pub fn arp(self) -> Self {
        self.exact(Field::ETH_TYPE, 0x0806)
    }
    /// `in_port=N`.
    pub fn in_port(self, port: u32) -> Self {
        self.exact(Field::IN_PORT, port.into())
    }
    /// `regN=V/M`.
    pub fn reg(self, n: u8, value: u32, mask: u32) -> Self {
        self.masked(Field::reg(n), value.into(), mask.into())
    }
    /// Finishes the match.
    ///
    /// # Errors
    /// [`MatchError`] naming the offending field.
    pub fn build(self) -> Result<Match, MatchError> {
        Match::from_fields(self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &Match) -> Vec<u8> {
        let mut b = BytesMut::new();
        m.encode(&mut b);
        assert_eq!(b.len(), m.wire_len());
        b.to_vec()
    }

    #[test]
    fn equal_whatever_the_build_order() {
        let a = Match::builder()
            .tcp()
            .exact(Field::TCP_DST, 80)
            .reg(0, 1, 0xff)
            .build()
            .unwrap();
        let b = Match::builder()
            .reg(0, 1, 0xff)
            .exact(Field::TCP_DST, 80)
            .exact(Field::IP_PROTO, 6)
            .ip()
            .build()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_tcp_dst_without_tcp() {
        let e = Match::builder()
            .ip()
            .exact(Field::TCP_DST, 80)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                MatchError::MissingPrereq {
                    field: Field::TCP_DST,
                    ..
                }
            ),
            "{e}"
        );
        let e = Match::builder()
            .exact(Field::IPV4_DST, 1)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("ip_dst"), "{e}");
    }

    #[test]
    fn ct_fields_need_a_valid_connection() {
        let e = Match::builder()
            .ip()
            .exact(Field::CT_NW_SRC, 1)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("ct_state"), "{e}");
        Match::builder()
            .ip()
            .masked(Field::CT_STATE, 0x21, 0x21)
            .exact(Field::CT_NW_SRC, 1)
            .build()
            .unwrap();
    }

    #[test]
    fn all_ones_mask_is_exact_and_value_is_masked() {
        let a = Match::builder()
            .reg(1, 0xffff_ffff, 0x0000_00ff)
            .build()
            .unwrap();
        assert_eq!(a.get(Field::reg(1)).unwrap().value, vec![0, 0, 0, 0xff]);
        let b = Match::builder().reg(1, 5, u32::MAX).build().unwrap();
        assert_eq!(b.get(Field::reg(1)).unwrap().mask, None);
        let c = Match::builder().reg(1, 5, 0).build().unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn encodes_like_ovs_ofctl() {
        // ovs-ofctl -O OpenFlow13 parse-flow 'ip,in_port=3,nw_dst=10.0.0.1,actions=drop'
        let m = Match::builder()
            .in_port(3)
            .ip()
            .exact(Field::IPV4_DST, 0x0a00_0001)
            .build()
            .unwrap();
        assert_eq!(
            enc(&m),
            [
                0x00, 0x01, 0x00, 0x1a, // type OXM, length 26
                0x80, 0x00, 0x00, 0x04, 0, 0, 0, 3, // in_port=3
                0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, // eth_type=0x0800
                0x80, 0x00, 0x18, 0x04, 10, 0, 0, 1, // ipv4_dst
                0, 0, 0, 0, 0, 0 // pad
            ]
        );
        let back = Match::decode(&mut Reader::new(&enc(&m))).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn decoded_match_in_another_order_reencodes_to_its_bytes_and_equals_the_canonical_one() {
        // eth_type, then in_port (OVS sends in_port first), then reg0 with an all-ones mask.
        let bytes = [
            0x00, 0x01, 0x00, 0x1e, // type OXM, length 30
            0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, // eth_type=0x0800
            0x80, 0x00, 0x00, 0x04, 0, 0, 0, 3, // in_port=3
            0x00, 0x01, 0x01, 0x08, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, // reg0=5/0xffffffff
            0, 0, // pad
        ];
        let m = Match::decode(&mut Reader::new(&bytes)).unwrap();
        assert!(m.is_wire_exact());
        assert_eq!(m.wire_len(), bytes.len());
        assert_eq!(enc(&m), bytes);
        let built = Match::builder()
            .in_port(3)
            .ip()
            .exact(Field::reg(0), 5)
            .build()
            .unwrap();
        assert_eq!(m, built);
        assert_eq!(format!("{m:?}"), format!("{built:?}"));
        assert!(!built.is_wire_exact());
        assert_ne!(enc(&built), bytes);
        assert_eq!(enc(&m.canonical()), enc(&built));
        // A canonical input is not remembered at all.
        let again = Match::decode(&mut Reader::new(&enc(&built))).unwrap();
        assert!(!again.is_wire_exact());
    }

    #[test]
    fn rejects_bad_widths_and_match_types() {
        let e = Match::from_fields([OxmField::exact(Field::IN_PORT, vec![1, 2])]).unwrap_err();
        assert!(matches!(e, MatchError::BadWidth { .. }));
        let bytes = [0, 0, 0, 4, 0, 0, 0, 0];
        let e = Match::decode(&mut Reader::new(&bytes)).unwrap_err();
        assert_eq!(e.what(), "match.type");
        // in_port with a 2-byte payload
        let bytes = [0, 1, 0, 10, 0x80, 0, 0, 2, 0, 1, 0, 0];
        assert!(Match::decode(&mut Reader::new(&bytes)).is_err());
    }
}
