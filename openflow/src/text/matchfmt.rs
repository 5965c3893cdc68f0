//! A [`Match`] in ovs-ofctl text: printed in `match_format`'s order with its protocol
//! shorthands (`tcp`, `arp`...), parsed from `key=value` tokens.

use super::value::{format_value, parse_uint, parse_value};
use super::{err, ParseError};
use crate::oxm::fields::{field_by_name, FIELDS};
use crate::oxm::matching::be_bytes;
use crate::oxm::{Field, Match, OxmField};

fn put(out: &mut Vec<String>, m: &Match, f: Field) {
    if let (Some(x), Some(d)) = (m.get(f), f.def()) {
        out.push(format!("{}={}", d.match_name, format_value(d, x, true)));
    }
}

/// The match's pieces in the order ovs-ofctl prints them.
pub(crate) fn match_pieces(m: &Match) -> Vec<String> {
    let mut out = Vec::new();
    put(&mut out, m, Field::PKT_MARK);
    put(&mut out, m, Field::CONJ_ID);
    for f in [
        Field::CT_STATE,
        Field::CT_ZONE,
        Field::CT_MARK,
        Field::CT_LABEL,
        Field::CT_NW_SRC,
        Field::CT_IPV6_SRC,
        Field::CT_NW_DST,
        Field::CT_IPV6_DST,
        Field::CT_NW_PROTO,
        Field::CT_TP_SRC,
        Field::CT_TP_DST,
    ] {
        put(&mut out, m, f);
    }
    let eth = m.exact(Field::ETH_TYPE);
    let proto = m.exact(Field::IP_PROTO);
    let (short, skip_proto) = match (eth, proto) {
        (Some(0x0800), Some(1)) => (Some("icmp"), true),
        (Some(0x0800), Some(2)) => (Some("igmp"), true),
        (Some(0x0800), Some(6)) => (Some("tcp"), true),
        (Some(0x0800), Some(17)) => (Some("udp"), true),
        (Some(0x0800), Some(132)) => (Some("sctp"), true),
        (Some(0x0800), _) => (Some("ip"), false),
        (Some(0x86dd), Some(58)) => (Some("icmp6"), true),
        (Some(0x86dd), Some(6)) => (Some("tcp6"), true),
        (Some(0x86dd), Some(17)) => (Some("udp6"), true),
        (Some(0x86dd), Some(132)) => (Some("sctp6"), true),
        (Some(0x86dd), _) => (Some("ipv6"), false),
        (Some(0x0806), _) => (Some("arp"), false),
        (Some(0x8035), _) => (Some("rarp"), false),
        (Some(0x8847), _) => (Some("mpls"), false),
        (Some(0x8848), _) => (Some("mplsm"), false),
        _ => (None, false),
    };
    if let Some(s) = short {
        out.push(s.to_owned());
    }
    for i in 0..16 {
        put(&mut out, m, Field::reg(i));
    }
    for i in 0..4 {
        put(&mut out, m, Field::xxreg(i));
    }
    put(&mut out, m, Field::TUNNEL_ID);
    put(&mut out, m, Field::TUN_IPV4_SRC);
    put(&mut out, m, Field::TUN_IPV4_DST);
    put(&mut out, m, Field::METADATA);
    put(&mut out, m, Field::IN_PORT);
    put(&mut out, m, Field::IN_PHY_PORT);
    match (m.get(Field::VLAN_VID), m.get(Field::VLAN_PCP)) {
        (Some(v), pcp) if v.mask.is_none() && v.value_u128() & 0x1000 != 0 => {
            out.push(format!("dl_vlan={}", v.value_u128() & 0xfff));
            if let Some(p) = pcp {
                out.push(format!("dl_vlan_pcp={}", p.value_u128()));
            }
        }
        (Some(v), Some(p)) if v.mask_u128() == 0x1000 && v.value_u128() == 0x1000 => {
            out.push(format!("dl_vlan_pcp={}", p.value_u128()));
        }
        _ => {
            put(&mut out, m, Field::VLAN_VID);
            put(&mut out, m, Field::VLAN_PCP);
            put(&mut out, m, Field::VLAN_TCI);
        }
    }
    put(&mut out, m, Field::ETH_SRC);
    put(&mut out, m, Field::ETH_DST);
    if short.is_none() {
        put(&mut out, m, Field::ETH_TYPE);
    }
    match eth {
        Some(0x86dd) => {
            put(&mut out, m, Field::IPV6_SRC);
            put(&mut out, m, Field::IPV6_DST);
            put(&mut out, m, Field::IPV6_FLABEL);
        }
        Some(0x0806 | 0x8035) => {
            put(&mut out, m, Field::ARP_SPA);
            put(&mut out, m, Field::ARP_TPA);
        }
        _ => {
            put(&mut out, m, Field::IPV4_SRC);
            put(&mut out, m, Field::IPV4_DST);
        }
    }
    if !skip_proto {
        put(&mut out, m, Field::IP_PROTO);
        put(&mut out, m, Field::ARP_OP);
    }
    put(&mut out, m, Field::ARP_SHA);
    put(&mut out, m, Field::ARP_THA);
    put(&mut out, m, Field::IP_DSCP);
    put(&mut out, m, Field::IP_ECN);
    put(&mut out, m, Field::NW_TTL);
    put(&mut out, m, Field::MPLS_LABEL);
    put(&mut out, m, Field::MPLS_TC);
    put(&mut out, m, Field::MPLS_BOS);
    for f in [
        Field::ICMPV4_TYPE,
        Field::ICMPV4_CODE,
        Field::ICMPV6_TYPE,
        Field::ICMPV6_CODE,
        Field::IPV6_ND_TARGET,
        Field::IPV6_ND_SLL,
        Field::IPV6_ND_TLL,
        Field::TCP_SRC,
        Field::TCP_DST,
        Field::UDP_SRC,
        Field::UDP_DST,
        Field::SCTP_SRC,
        Field::SCTP_DST,
        Field::TCP_FLAGS,
    ] {
        put(&mut out, m, f);
    }
    // Fields without a text name: printed so nothing is hidden (ovs-ofctl cannot
    // parse these back).
    for f in m.fields() {
        if f.field.def().is_none() {
            let h: String = f.value.iter().map(|b| format!("{b:02x}")).collect();
            out.push(format!("{:?}=0x{h}", f.field));
        }
    }
    out
}

/// Collects match fields from `key[=value]` tokens; `tp_src`-style names are
/// resolved once the protocol is known.
#[derive(Default)]
pub(crate) struct MatchParser {
    fields: Vec<OxmField>,
    deferred: Vec<(String, String)>,
}

impl MatchParser {
    fn add(&mut self, f: OxmField) -> Result<(), ParseError> {
        if let Some(old) = self.fields.iter().find(|o| o.field == f.field) {
            if *old == f {
                return Ok(());
            }
            let name = f.field.def().map_or("field", |d| d.match_name);
            return err(format!("{name} is given twice with different values"));
        }
        self.fields.push(f);
        Ok(())
    }

    fn eth(&mut self, t: u16) -> Result<(), ParseError> {
        self.add(OxmField::uint(Field::ETH_TYPE, t.into()))
    }

    fn proto(&mut self, eth: u16, p: u8) -> Result<(), ParseError> {
        self.eth(eth)?;
        self.add(OxmField::uint(Field::IP_PROTO, p.into()))
    }

    /// Handles one token; `Ok(false)` if `key` is not a match key.
    pub(crate) fn token(&mut self, key: &str, value: Option<&str>) -> Result<bool, ParseError> {
        match (key, value) {
            ("ip", None) => self.eth(0x0800)?,
            ("ipv6", None) => self.eth(0x86dd)?,
            ("arp", None) => self.eth(0x0806)?,
            ("rarp", None) => self.eth(0x8035)?,
            ("mpls", None) => self.eth(0x8847)?,
            ("mplsm", None) => self.eth(0x8848)?,
            ("icmp", None) => self.proto(0x0800, 1)?,
            ("igmp", None) => self.proto(0x0800, 2)?,
            ("tcp", None) => self.proto(0x0800, 6)?,
            ("udp", None) => self.proto(0x0800, 17)?,
            ("sctp", None) => self.proto(0x0800, 132)?,
            ("icmp6", None) => self.proto(0x86dd, 58)?,
            ("tcp6", None) => self.proto(0x86dd, 6)?,
            ("udp6", None) => self.proto(0x86dd, 17)?,
            ("sctp6", None) => self.proto(0x86dd, 132)?,
            ("tp_src" | "tp_dst" | "icmp_type" | "icmp_code", Some(v)) => {
                self.deferred.push((key.to_owned(), v.to_owned()));
            }
            ("nw_tos", Some(v)) => {
                let n = parse_uint(v)?;
                if n > 255 || n & 3 != 0 {
                    return err(format!(
                        "nw_tos={v}: must be a multiple of 4 below 256 (the DSCP bits)"
                    ));
                }
                self.add(OxmField::uint(Field::IP_DSCP, n >> 2))?;
            }
            ("dl_vlan", Some(v)) => {
                let n = parse_uint(v)?;
                if n > 0xfff {
                    return err(format!("dl_vlan={v}: VLAN ids are 0-4095"));
                }
                self.add(OxmField::uint(Field::VLAN_VID, 0x1000 | n))?;
            }
            (k @ ("dl_vlan_pcp" | "vlan_pcp"), Some(v)) => {
                if !self.fields.iter().any(|f| f.field == Field::VLAN_VID) {
                    self.add(OxmField::uint_masked(Field::VLAN_VID, 0x1000, 0x1000))?;
                }
                let n = parse_uint(v)?;
                if n > 7 {
                    return err(format!("{k}={v}: VLAN priorities are 0-7"));
                }
                self.add(OxmField::uint(Field::VLAN_PCP, n))?;
            }
            (k, Some(v)) if k.starts_with("xxreg") => {
                let d = field_by_name(k)
                    .ok_or_else(|| ParseError::new(format!("unknown field {k}")))?;
                let f = parse_value(d, v)?;
                // Open vSwitch keeps xxregN as reg4N (high) .. reg4N+3 (low) and
                // dumps it that way: do the same so parse and dump compare equal.
                let n = (d.field.field - 111) * 4;
                let val = f.value_u128();
                let mask = f.mask_u128();
                for i in 0..4u8 {
                    let shift = 96 - 32 * u32::from(i);
                    let (v, m) = ((val >> shift) as u32, (mask >> shift) as u32);
                    if m != 0 {
                        self.add(OxmField::masked(
                            Field::reg(n + i),
                            be_bytes(v.into(), 4),
                            be_bytes(m.into(), 4),
                        ))?;
                    }
                }
            }
            (k, Some(v)) => {
                match field_by_name(k).or_else(|| FIELDS.iter().find(|d| d.match_name == k)) {
                    Some(d) => self.add(parse_value(d, v)?)?,
                    None => return Ok(false),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Resolves deferred names and builds the (checked) match.
    pub(crate) fn finish(mut self) -> Result<Match, ParseError> {
        let eth = self
            .fields
            .iter()
            .find(|f| f.field == Field::ETH_TYPE)
            .map(OxmField::value_u128);
        let proto = self
            .fields
            .iter()
            .find(|f| f.field == Field::IP_PROTO)
            .map(OxmField::value_u128);
        for (k, v) in std::mem::take(&mut self.deferred) {
            let f = match (k.as_str(), eth, proto) {
                ("tp_src", _, Some(6)) => Field::TCP_SRC,
                ("tp_dst", _, Some(6)) => Field::TCP_DST,
                ("tp_src", _, Some(17)) => Field::UDP_SRC,
                ("tp_dst", _, Some(17)) => Field::UDP_DST,
                ("tp_src", _, Some(132)) => Field::SCTP_SRC,
                ("tp_dst", _, Some(132)) => Field::SCTP_DST,
                ("icmp_type", Some(0x86dd), _) => Field::ICMPV6_TYPE,
                ("icmp_code", Some(0x86dd), _) => Field::ICMPV6_CODE,
                ("icmp_type", _, _) => Field::ICMPV4_TYPE,
                ("icmp_code", _, _) => Field::ICMPV4_CODE,
                _ => {
                    return err(format!(
                        "{k}={v} needs tcp, udp or sctp (or nw_proto) in the match"
                    ))
                }
            };
            let d = f
                .def()
                .ok_or_else(|| ParseError::new("internal: field table"))?;
            let x = parse_value(d, &v)?;
            self.add(x)?;
        }
        Match::from_fields(self.fields).map_err(|e| ParseError::new(e.to_string()))
    }
}
