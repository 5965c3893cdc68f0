//! THE list of match fields this codec knows: OXM basic fields (class 0x8000) and the
//! Nicira NXM fields (class 0x0001) Open vSwitch accepts in OpenFlow 1.3, with their
//! ovs-ofctl names, widths, text format and prerequisites.
//!
//! The order of [`FIELDS`] is the order Open vSwitch writes fields into a match, so a
//! canonical [`Match`](crate::Match) encodes to the same bytes `ovs-ofctl` sends.

use std::fmt;

/// `OFPXMC_OPENFLOW_BASIC`.
pub const OXM_CLASS_BASIC: u16 = 0x8000;
/// `OFPXMC_NXM_0` (legacy OpenFlow 1.0 fields as NXM).
pub const NXM_CLASS_0: u16 = 0x0000;
/// `OFPXMC_NXM_1` (Nicira extension fields).
pub const NXM_CLASS_1: u16 = 0x0001;
/// `OFPXMC_EXPERIMENTER`.
pub const OXM_CLASS_EXPERIMENTER: u16 = 0xffff;

/// The identity of a match field: its OXM class and field number (and, for the
/// experimenter class, the experimenter id). Mask bit and length are not part of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field {
    pub class: u16,
    pub field: u8,
    /// Only for class 0xffff; 0 otherwise.
    pub experimenter: u32,
}

impl Field {
    /// A field of class `class` (not the experimenter class).
    pub const fn new(class: u16, field: u8) -> Field {
        Field {
            class,
            field,
            experimenter: 0,
        }
    }
    const fn basic(field: u8) -> Field {
        Field::new(OXM_CLASS_BASIC, field)
    }
    const fn nx(field: u8) -> Field {
        Field::new(NXM_CLASS_1, field)
    }

    /// `OXM_OF_IN_PORT`.
    pub const IN_PORT: Field = Field::basic(0);
    /// `OXM_OF_IN_PHY_PORT`.
    pub const IN_PHY_PORT: Field = Field::basic(1);
    /// `OXM_OF_METADATA`.
    pub const METADATA: Field = Field::basic(2);
    /// `OXM_OF_ETH_DST`.
    pub const ETH_DST: Field = Field::basic(3);
    /// `OXM_OF_ETH_SRC`.
    pub const ETH_SRC: Field = Field::basic(4);
    /// `OXM_OF_ETH_TYPE`.
    pub const ETH_TYPE: Field = Field::basic(5);
    /// `OXM_OF_VLAN_VID`.
    pub const VLAN_VID: Field = Field::basic(6);
    /// `OXM_OF_VLAN_PCP`.
    pub const VLAN_PCP: Field = Field::basic(7);
    /// `OXM_OF_IP_DSCP`.
    pub const IP_DSCP: Field = Field::basic(8);
    /// `OXM_OF_IP_ECN`.
    pub const IP_ECN: Field = Field::basic(9);
    /// `OXM_OF_IP_PROTO`.
    pub const IP_PROTO: Field = Field::basic(10);
    /// `OXM_OF_IPV4_SRC`.
    pub const IPV4_SRC: Field = Field::basic(11);
    /// `OXM_OF_IPV4_DST`.
    pub const IPV4_DST: Field = Field::basic(12);
    /// `OXM_OF_TCP_SRC`.
    pub const TCP_SRC: Field = Field::basic(13);
    /// `OXM_OF_TCP_DST`.
    pub const TCP_DST: Field = Field::basic(14);
    /// `OXM_OF_UDP_SRC`.
    pub const UDP_SRC: Field = Field::basic(15);
    /// `OXM_OF_UDP_DST`.
    pub const UDP_DST: Field = Field::basic(16);
    /// `OXM_OF_SCTP_SRC`.
    pub const SCTP_SRC: Field = Field::basic(17);
    /// `OXM_OF_SCTP_DST`.
    pub const SCTP_DST: Field = Field::basic(18);
    /// `OXM_OF_ICMPV4_TYPE`.
    pub const ICMPV4_TYPE: Field = Field::basic(19);
    /// `OXM_OF_ICMPV4_CODE`.
    pub const ICMPV4_CODE: Field = Field::basic(20);
    /// `OXM_OF_ARP_OP`.
    pub const ARP_OP: Field = Field::basic(21);
    /// `OXM_OF_ARP_SPA`.
    pub const ARP_SPA: Field = Field::basic(22);
    /// `OXM_OF_ARP_TPA`.
    pub const ARP_TPA: Field = Field::basic(23);
    /// `OXM_OF_ARP_SHA`.
    pub const ARP_SHA: Field = Field::basic(24);
    /// `OXM_OF_ARP_THA`.
    pub const ARP_THA: Field = Field::basic(25);
    /// `OXM_OF_IPV6_SRC`.
    pub const IPV6_SRC: Field = Field::basic(26);
    /// `OXM_OF_IPV6_DST`.
    pub const IPV6_DST: Field = Field::basic(27);
    /// `OXM_OF_IPV6_FLABEL`.
    pub const IPV6_FLABEL: Field = Field::basic(28);
    /// `OXM_OF_ICMPV6_TYPE`.
    pub const ICMPV6_TYPE: Field = Field::basic(29);
    /// `OXM_OF_ICMPV6_CODE`.
    pub const ICMPV6_CODE: Field = Field::basic(30);
    /// `OXM_OF_IPV6_ND_TARGET`.
    pub const IPV6_ND_TARGET: Field = Field::basic(31);
    /// `OXM_OF_IPV6_ND_SLL`.
    pub const IPV6_ND_SLL: Field = Field::basic(32);
    /// `OXM_OF_IPV6_ND_TLL`.
    pub const IPV6_ND_TLL: Field = Field::basic(33);
    /// `OXM_OF_MPLS_LABEL`.
    pub const MPLS_LABEL: Field = Field::basic(34);
    /// `OXM_OF_MPLS_TC`.
    pub const MPLS_TC: Field = Field::basic(35);
    /// `OXM_OF_MPLS_BOS`.
    pub const MPLS_BOS: Field = Field::basic(36);
    /// `ONFOXM_ET_TCP_FLAGS` (`tcp_flags`), an ONF experimenter field in OpenFlow 1.3.
    pub const TCP_FLAGS: Field = Field {
        class: OXM_CLASS_EXPERIMENTER,
        field: 42,
        experimenter: 0x4f4e_4600,
    };
    /// `NXM_NX_IP_TTL` (`nw_ttl`).
    pub const NW_TTL: Field = Field::nx(29);
    /// `NXM_OF_VLAN_TCI` (`vlan_tci`), the 802.1Q TCI as Open vSwitch keeps it;
    /// mostly seen in actions (`move:NXM_OF_VLAN_TCI[0..11]->...`).
    pub const VLAN_TCI: Field = Field::new(NXM_CLASS_0, 4);
    /// `OXM_OF_TUNNEL_ID`.
    pub const TUNNEL_ID: Field = Field::basic(38);

    /// `NXM_NX_REG<n>`, n in 0..16.
    pub const fn reg(n: u8) -> Field {
        Field::nx(n)
    }
    /// `NXM_NX_XXREG<n>`, n in 0..4 (128 bits: reg4n..reg4n+3).
    pub const fn xxreg(n: u8) -> Field {
        Field::nx(111 + n)
    }
    /// `NXM_NX_TUN_IPV4_SRC`.
    pub const TUN_IPV4_SRC: Field = Field::nx(31);
    /// `NXM_NX_TUN_IPV4_DST`.
    pub const TUN_IPV4_DST: Field = Field::nx(32);
    /// `NXM_NX_PKT_MARK`.
    pub const PKT_MARK: Field = Field::nx(33);
    /// `conj_id`: the id of the matched conjunction.
    pub const CONJ_ID: Field = Field::nx(37);
    /// `NXM_NX_CT_STATE`.
    pub const CT_STATE: Field = Field::nx(105);
    /// `NXM_NX_CT_ZONE`.
    pub const CT_ZONE: Field = Field::nx(106);
    /// `NXM_NX_CT_MARK`.
    pub const CT_MARK: Field = Field::nx(107);
    /// `NXM_NX_CT_LABEL`.
    pub const CT_LABEL: Field = Field::nx(108);
    /// `NXM_NX_CT_NW_PROTO`.
    pub const CT_NW_PROTO: Field = Field::nx(119);
    /// `NXM_NX_CT_NW_SRC`.
    pub const CT_NW_SRC: Field = Field::nx(120);
    /// `NXM_NX_CT_NW_DST`.
    pub const CT_NW_DST: Field = Field::nx(121);
    /// `NXM_NX_CT_IPV6_SRC`.
    pub const CT_IPV6_SRC: Field = Field::nx(122);
    /// `NXM_NX_CT_IPV6_DST`.
    pub const CT_IPV6_DST: Field = Field::nx(123);
    /// `NXM_NX_CT_TP_SRC`.
    pub const CT_TP_SRC: Field = Field::nx(124);
    /// `NXM_NX_CT_TP_DST`.
    pub const CT_TP_DST: Field = Field::nx(125);

    /// The table entry for this field, if this codec knows it.
    pub fn def(self) -> Option<&'static FieldDef> {
        field_def(self)
    }

    /// The payload width in bytes of a known field, as a match field or as an action
    /// header (`NXM_OF_IN_PORT` is 2 bytes).
    pub fn width(self) -> Option<u8> {
        act_def(self).map(|(_, bits)| (bits / 8) as u8)
    }

    /// The 32-bit OXM header for this field (`hasmask` clear) with payload `len`.
    pub fn header(self, masked: bool, len: u8) -> u32 {
        (u32::from(self.class) << 16)
            | (u32::from(self.field) << 9)
            | (u32::from(masked) << 8)
            | u32::from(len)
    }

    /// Order used by canonical matches: Open vSwitch's own order, unknown fields last.
    pub(crate) fn rank(self) -> usize {
        field_rank(self).unwrap_or(usize::MAX)
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.def() {
            Some(d) => f.write_str(d.name),
            None if self.class == OXM_CLASS_EXPERIMENTER => {
                write!(
                    f,
                    "OXM({:#06x}:{}:exp={:#010x})",
                    self.class, self.field, self.experimenter
                )
            }
            None => write!(f, "OXM({:#06x}:{})", self.class, self.field),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a field's value is written in ovs-ofctl text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Decimal (`tp_dst=80`), masked as hex.
    Decimal,
    /// Hexadecimal (`reg0=0x5`, `metadata=0x1/0xff`).
    Hex,
    /// `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// Dotted quad, masks as CIDR prefix where contiguous.
    Ipv4,
    /// IPv6 text.
    Ipv6,
    /// An OpenFlow port number (`LOCAL`, `CONTROLLER`, or decimal).
    Port,
    /// `ct_state` flags (`+trk+est-new`).
    CtState,
    /// `tcp_flags` (`+syn-ack`).
    TcpFlags,
    /// `vlan_vid`: 0x1000|vid.
    VlanVid,
    /// IPv6 flow label, printed as `0x%05x`.
    Flabel,
}

/// What must be matched before a field may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prereq {
    None,
    /// eth_type 0x0800 or 0x86dd.
    Ip,
    Ipv4,
    Ipv6,
    Arp,
    Vlan,
    /// ip (v4 or v6) and ip_proto = N.
    IpProto(u8),
    /// ipv4 and ip_proto 1.
    Icmp4,
    /// ipv6 and ip_proto 58.
    Icmp6,
    /// icmpv6 type 135 or 136.
    Nd,
    /// ct_state shows a valid connection (+new, +est, +rel or +rpl, or +trk-inv).
    Ct,
    /// `Ct` and ipv4.
    CtIpv4,
    /// `Ct` and ipv6.
    CtIpv6,
    /// `Ct` and ct_nw_proto matched.
    CtTp,
    /// eth_type is an MPLS type.
    Mpls,
}

/// One row of [`FIELDS`].
#[derive(Debug)]
pub struct FieldDef {
    /// The identity used in matches and `set_field` (OXM, or NXM for Nicira-only fields).
    pub field: Field,
    /// The Open vSwitch field name (`eth_src`, `ip_dst`, `reg0`), as `set_field` prints it.
    pub name: &'static str,
    /// The name ovs-ofctl prints in a match (`dl_src`, `nw_dst`, `tp_dst`).
    pub match_name: &'static str,
    /// Other names ovs-ofctl accepts.
    pub aliases: &'static [&'static str],
    /// Payload width in bytes.
    pub len: u8,
    pub maskable: bool,
    pub format: Format,
    pub prereq: Prereq,
    /// The header Open vSwitch uses for this field inside actions (`move`, `load`,
    /// `learn`, `output:REG`, ct zone): the NXM one where the field has one.
    pub act: Field,
    /// Width of `act` in bytes (NXM_OF_IN_PORT is 16 bits, OXM in_port 32).
    pub act_len: u8,
    /// The name of `act` (`NXM_OF_ETH_SRC`, `NXM_NX_REG0`, `OXM_OF_METADATA`).
    pub act_name: &'static str,
}

const fn nxm0(field: u8) -> Field {
    Field::new(NXM_CLASS_0, field)
}
const fn nxm1(field: u8) -> Field {
    Field::new(NXM_CLASS_1, field)
}

macro_rules! f {
    ($field:expr, $name:literal, $mname:literal, [$($alias:literal),*], $len:literal, $mask:literal, $fmt:ident, $pre:expr,
     $act:expr, $alen:literal, $aname:literal) => {
        FieldDef { field: $field, name: $name, match_name: $mname, aliases: &[$($alias),*], len: $len, maskable: $mask,
                   format: Format::$fmt, prereq: $pre, act: $act, act_len: $alen, act_name: $aname }
    };
    ($field:expr, $name:literal, $mname:literal, [$($alias:literal),*], $len:literal, $mask:literal, $fmt:ident, $pre:expr, $aname:literal) => {
        f!($field, $name, $mname, [$($alias),*], $len, $mask, $fmt, $pre, $field, $len, $aname)
    };
}

/// Every field this codec knows, in the order Open vSwitch puts them in a match.
#[rustfmt::skip]
pub static FIELDS: &[FieldDef] = &[
    f!(Field::CONJ_ID, "conj_id", "conj_id", [], 4, false, Decimal, Prereq::None, "NXM_NX_CONJ_ID"),
    f!(Field::IN_PORT, "in_port", "in_port", [], 4, false, Port, Prereq::None, nxm0(0), 2, "NXM_OF_IN_PORT"),
    f!(Field::IN_PHY_PORT, "in_phy_port", "in_phy_port", [], 4, false, Port, Prereq::None, "OXM_OF_IN_PHY_PORT"),
    f!(Field::ETH_SRC, "eth_src", "dl_src", ["dl_src"], 6, true, Mac, Prereq::None, nxm0(2), 6, "NXM_OF_ETH_SRC"),
    f!(Field::ETH_DST, "eth_dst", "dl_dst", ["dl_dst"], 6, true, Mac, Prereq::None, nxm0(1), 6, "NXM_OF_ETH_DST"),
    f!(Field::ETH_TYPE, "eth_type", "dl_type", ["dl_type"], 2, false, Hex, Prereq::None, nxm0(3), 2, "NXM_OF_ETH_TYPE"),
    f!(Field::VLAN_VID, "vlan_vid", "vlan_vid", [], 2, true, VlanVid, Prereq::None, "OXM_OF_VLAN_VID"),
    f!(Field::VLAN_PCP, "vlan_pcp", "dl_vlan_pcp", ["dl_vlan_pcp"], 1, false, Decimal, Prereq::Vlan, "OXM_OF_VLAN_PCP"),
    f!(Field::VLAN_TCI, "vlan_tci", "vlan_tci", [], 2, true, Hex, Prereq::None, "NXM_OF_VLAN_TCI"),
    f!(Field::MPLS_TC, "mpls_tc", "mpls_tc", [], 1, false, Decimal, Prereq::Mpls, "OXM_OF_MPLS_TC"),
    f!(Field::MPLS_BOS, "mpls_bos", "mpls_bos", [], 1, false, Decimal, Prereq::Mpls, "OXM_OF_MPLS_BOS"),
    f!(Field::MPLS_LABEL, "mpls_label", "mpls_label", [], 4, false, Decimal, Prereq::Mpls, "OXM_OF_MPLS_LABEL"),
    f!(Field::IPV4_SRC, "ip_src", "nw_src", ["nw_src", "ipv4_src"], 4, true, Ipv4, Prereq::Ipv4, nxm0(7), 4, "NXM_OF_IP_SRC"),
    f!(Field::IPV4_DST, "ip_dst", "nw_dst", ["nw_dst", "ipv4_dst"], 4, true, Ipv4, Prereq::Ipv4, nxm0(8), 4, "NXM_OF_IP_DST"),
    f!(Field::IPV6_SRC, "ipv6_src", "ipv6_src", [], 16, true, Ipv6, Prereq::Ipv6, nxm1(19), 16, "NXM_NX_IPV6_SRC"),
    f!(Field::IPV6_DST, "ipv6_dst", "ipv6_dst", [], 16, true, Ipv6, Prereq::Ipv6, nxm1(20), 16, "NXM_NX_IPV6_DST"),
    f!(Field::IPV6_FLABEL, "ipv6_label", "ipv6_label", [], 4, true, Flabel, Prereq::Ipv6, nxm1(27), 4, "NXM_NX_IPV6_LABEL"),
    f!(Field::IP_PROTO, "nw_proto", "nw_proto", ["ip_proto"], 1, false, Decimal, Prereq::Ip, nxm0(6), 1, "NXM_OF_IP_PROTO"),
    f!(Field::IP_DSCP, "ip_dscp", "nw_tos", [], 1, false, Decimal, Prereq::Ip, "OXM_OF_IP_DSCP"),
    f!(Field::IP_ECN, "nw_ecn", "nw_ecn", ["ip_ecn"], 1, false, Decimal, Prereq::Ip, nxm1(28), 1, "NXM_NX_IP_ECN"),
    f!(Field::NW_TTL, "nw_ttl", "nw_ttl", [], 1, false, Decimal, Prereq::Ip, "NXM_NX_IP_TTL"),
    f!(Field::TCP_SRC, "tcp_src", "tp_src", [], 2, true, Decimal, Prereq::IpProto(6), nxm0(9), 2, "NXM_OF_TCP_SRC"),
    f!(Field::TCP_DST, "tcp_dst", "tp_dst", [], 2, true, Decimal, Prereq::IpProto(6), nxm0(10), 2, "NXM_OF_TCP_DST"),
    f!(Field::UDP_SRC, "udp_src", "tp_src", [], 2, true, Decimal, Prereq::IpProto(17), nxm0(11), 2, "NXM_OF_UDP_SRC"),
    f!(Field::UDP_DST, "udp_dst", "tp_dst", [], 2, true, Decimal, Prereq::IpProto(17), nxm0(12), 2, "NXM_OF_UDP_DST"),
    f!(Field::SCTP_SRC, "sctp_src", "tp_src", [], 2, true, Decimal, Prereq::IpProto(132), "OXM_OF_SCTP_SRC"),
    f!(Field::SCTP_DST, "sctp_dst", "tp_dst", [], 2, true, Decimal, Prereq::IpProto(132), "OXM_OF_SCTP_DST"),
    f!(Field::TCP_FLAGS, "tcp_flags", "tcp_flags", [], 2, true, TcpFlags, Prereq::IpProto(6), nxm1(34), 2, "NXM_NX_TCP_FLAGS"),
    f!(Field::ICMPV4_TYPE, "icmp_type", "icmp_type", ["icmpv4_type"], 1, false, Decimal, Prereq::Icmp4, nxm0(13), 1, "NXM_OF_ICMP_TYPE"),
    f!(Field::ICMPV4_CODE, "icmp_code", "icmp_code", ["icmpv4_code"], 1, false, Decimal, Prereq::Icmp4, nxm0(14), 1, "NXM_OF_ICMP_CODE"),
    f!(Field::ICMPV6_TYPE, "icmpv6_type", "icmp_type", [], 1, false, Decimal, Prereq::Icmp6, nxm1(21), 1, "NXM_NX_ICMPV6_TYPE"),
    f!(Field::ICMPV6_CODE, "icmpv6_code", "icmp_code", [], 1, false, Decimal, Prereq::Icmp6, nxm1(22), 1, "NXM_NX_ICMPV6_CODE"),
    f!(Field::IPV6_ND_TARGET, "nd_target", "nd_target", [], 16, true, Ipv6, Prereq::Nd, nxm1(23), 16, "NXM_NX_ND_TARGET"),
    f!(Field::IPV6_ND_SLL, "nd_sll", "nd_sll", [], 6, true, Mac, Prereq::Nd, nxm1(24), 6, "NXM_NX_ND_SLL"),
    f!(Field::IPV6_ND_TLL, "nd_tll", "nd_tll", [], 6, true, Mac, Prereq::Nd, nxm1(25), 6, "NXM_NX_ND_TLL"),
    f!(Field::ARP_OP, "arp_op", "arp_op", [], 2, false, Decimal, Prereq::Arp, nxm0(15), 2, "NXM_OF_ARP_OP"),
    f!(Field::ARP_SPA, "arp_spa", "arp_spa", [], 4, true, Ipv4, Prereq::Arp, nxm0(16), 4, "NXM_OF_ARP_SPA"),
    f!(Field::ARP_TPA, "arp_tpa", "arp_tpa", [], 4, true, Ipv4, Prereq::Arp, nxm0(17), 4, "NXM_OF_ARP_TPA"),
    f!(Field::ARP_SHA, "arp_sha", "arp_sha", [], 6, true, Mac, Prereq::Arp, nxm1(17), 6, "NXM_NX_ARP_SHA"),
    f!(Field::ARP_THA, "arp_tha", "arp_tha", [], 6, true, Mac, Prereq::Arp, nxm1(18), 6, "NXM_NX_ARP_THA"),
    f!(Field::TUNNEL_ID, "tun_id", "tun_id", ["tunnel_id"], 8, true, Hex, Prereq::None, nxm1(16), 8, "NXM_NX_TUN_ID"),
    f!(Field::TUN_IPV4_SRC, "tun_src", "tun_src", ["tun_ipv4_src"], 4, true, Ipv4, Prereq::None, "NXM_NX_TUN_IPV4_SRC"),
    f!(Field::TUN_IPV4_DST, "tun_dst", "tun_dst", ["tun_ipv4_dst"], 4, true, Ipv4, Prereq::None, "NXM_NX_TUN_IPV4_DST"),
    f!(Field::reg(0), "reg0", "reg0", [], 4, true, Hex, Prereq::None, "NXM_NX_REG0"),
    f!(Field::reg(1), "reg1", "reg1", [], 4, true, Hex, Prereq::None, "NXM_NX_REG1"),
    f!(Field::reg(2), "reg2", "reg2", [], 4, true, Hex, Prereq::None, "NXM_NX_REG2"),
    f!(Field::reg(3), "reg3", "reg3", [], 4, true, Hex, Prereq::None, "NXM_NX_REG3"),
    f!(Field::reg(4), "reg4", "reg4", [], 4, true, Hex, Prereq::None, "NXM_NX_REG4"),
    f!(Field::reg(5), "reg5", "reg5", [], 4, true, Hex, Prereq::None, "NXM_NX_REG5"),
    f!(Field::reg(6), "reg6", "reg6", [], 4, true, Hex, Prereq::None, "NXM_NX_REG6"),
    f!(Field::reg(7), "reg7", "reg7", [], 4, true, Hex, Prereq::None, "NXM_NX_REG7"),
    f!(Field::reg(8), "reg8", "reg8", [], 4, true, Hex, Prereq::None, "NXM_NX_REG8"),
    f!(Field::reg(9), "reg9", "reg9", [], 4, true, Hex, Prereq::None, "NXM_NX_REG9"),
    f!(Field::reg(10), "reg10", "reg10", [], 4, true, Hex, Prereq::None, "NXM_NX_REG10"),
    f!(Field::reg(11), "reg11", "reg11", [], 4, true, Hex, Prereq::None, "NXM_NX_REG11"),
    f!(Field::reg(12), "reg12", "reg12", [], 4, true, Hex, Prereq::None, "NXM_NX_REG12"),
    f!(Field::reg(13), "reg13", "reg13", [], 4, true, Hex, Prereq::None, "NXM_NX_REG13"),
    f!(Field::reg(14), "reg14", "reg14", [], 4, true, Hex, Prereq::None, "NXM_NX_REG14"),
    f!(Field::reg(15), "reg15", "reg15", [], 4, true, Hex, Prereq::None, "NXM_NX_REG15"),
    f!(Field::xxreg(0), "xxreg0", "xxreg0", [], 16, true, Hex, Prereq::None, "NXM_NX_XXREG0"),
    f!(Field::xxreg(1), "xxreg1", "xxreg1", [], 16, true, Hex, Prereq::None, "NXM_NX_XXREG1"),
    f!(Field::xxreg(2), "xxreg2", "xxreg2", [], 16, true, Hex, Prereq::None, "NXM_NX_XXREG2"),
    f!(Field::xxreg(3), "xxreg3", "xxreg3", [], 16, true, Hex, Prereq::None, "NXM_NX_XXREG3"),
    f!(Field::PKT_MARK, "pkt_mark", "pkt_mark", [], 4, true, Hex, Prereq::None, "NXM_NX_PKT_MARK"),
    f!(Field::CT_STATE, "ct_state", "ct_state", [], 4, true, CtState, Prereq::None, "NXM_NX_CT_STATE"),
    f!(Field::CT_ZONE, "ct_zone", "ct_zone", [], 2, false, Decimal, Prereq::None, "NXM_NX_CT_ZONE"),
    f!(Field::CT_MARK, "ct_mark", "ct_mark", [], 4, true, Hex, Prereq::None, "NXM_NX_CT_MARK"),
    f!(Field::CT_LABEL, "ct_label", "ct_label", [], 16, true, Hex, Prereq::None, "NXM_NX_CT_LABEL"),
    f!(Field::CT_NW_SRC, "ct_nw_src", "ct_nw_src", [], 4, true, Ipv4, Prereq::CtIpv4, "NXM_NX_CT_NW_SRC"),
    f!(Field::CT_NW_DST, "ct_nw_dst", "ct_nw_dst", [], 4, true, Ipv4, Prereq::CtIpv4, "NXM_NX_CT_NW_DST"),
    f!(Field::CT_IPV6_SRC, "ct_ipv6_src", "ct_ipv6_src", [], 16, true, Ipv6, Prereq::CtIpv6, "NXM_NX_CT_IPV6_SRC"),
    f!(Field::CT_IPV6_DST, "ct_ipv6_dst", "ct_ipv6_dst", [], 16, true, Ipv6, Prereq::CtIpv6, "NXM_NX_CT_IPV6_DST"),
    f!(Field::CT_NW_PROTO, "ct_nw_proto", "ct_nw_proto", [], 1, false, Decimal, Prereq::Ct, "NXM_NX_CT_NW_PROTO"),
    f!(Field::CT_TP_SRC, "ct_tp_src", "ct_tp_src", [], 2, true, Decimal, Prereq::CtTp, "NXM_NX_CT_TP_SRC"),
    f!(Field::CT_TP_DST, "ct_tp_dst", "ct_tp_dst", [], 2, true, Decimal, Prereq::CtTp, "NXM_NX_CT_TP_DST"),
    f!(Field::METADATA, "metadata", "metadata", [], 8, true, Hex, Prereq::None, "OXM_OF_METADATA"),
];

/// The table entry for a field used as an action header (`NXM_OF_ETH_SRC`), and its
/// width in bits there.
pub fn act_def(f: Field) -> Option<(&'static FieldDef, u16)> {
    FIELDS.iter().find_map(|d| {
        if d.act == f {
            Some((d, u16::from(d.act_len) * 8))
        } else if d.field == f {
            Some((d, u16::from(d.len) * 8))
        } else {
            None
        }
    })
}

/// Looks a field up by a name Open vSwitch accepts in actions (`NXM_NX_REG0`,
/// `OXM_OF_METADATA`, `reg0`, `eth_src`) and returns the action header identity.
pub fn act_field_by_name(name: &str) -> Option<&'static FieldDef> {
    FIELDS
        .iter()
        .find(|d| d.act_name == name || d.name == name)
        .or_else(|| field_by_name(name))
}

fn field_rank(f: Field) -> Option<usize> {
    FIELDS.iter().position(|d| d.field == f)
}

fn field_def(f: Field) -> Option<&'static FieldDef> {
    field_rank(f).map(|i| &FIELDS[i])
}

/// Looks a field up by any of its ovs-ofctl names (`nw_dst`, `ip_dst`, `reg3`) or its
/// NXM/OXM name (`NXM_NX_REG3`, `OXM_OF_METADATA`).
pub fn field_by_name(name: &str) -> Option<&'static FieldDef> {
    FIELDS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name) || d.act_name == name)
        .or_else(|| {
            let alt = match name {
                "OXM_OF_IN_PORT" => Field::IN_PORT,
                "OXM_OF_ETH_SRC" => Field::ETH_SRC,
                "OXM_OF_ETH_DST" => Field::ETH_DST,
                "OXM_OF_ETH_TYPE" => Field::ETH_TYPE,
                "OXM_OF_IPV4_SRC" => Field::IPV4_SRC,
                "OXM_OF_IPV4_DST" => Field::IPV4_DST,
                "OXM_OF_IP_PROTO" => Field::IP_PROTO,
                "OXM_OF_TCP_SRC" => Field::TCP_SRC,
                "OXM_OF_TCP_DST" => Field::TCP_DST,
                "OXM_OF_UDP_SRC" => Field::UDP_SRC,
                "OXM_OF_UDP_DST" => Field::UDP_DST,
                "OXM_OF_TUNNEL_ID" => Field::TUNNEL_ID,
                "OXM_OF_ARP_OP" => Field::ARP_OP,
                "OXM_OF_ARP_SPA" => Field::ARP_SPA,
                "OXM_OF_ARP_TPA" => Field::ARP_TPA,
                "OXM_OF_ARP_SHA" => Field::ARP_SHA,
                "OXM_OF_ARP_THA" => Field::ARP_THA,
                _ => return None,
            };
            alt.def()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_table_has_no_duplicates() {
        for (i, a) in FIELDS.iter().enumerate() {
            for b in &FIELDS[i + 1..] {
                assert_ne!(a.field, b.field, "{} and {}", a.name, b.name);
                assert_ne!(a.name, b.name);
                assert_ne!(a.act, b.act, "{} and {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn header_of_masked_reg0() {
        // NXM_NX_REG0_W: class 0x0001, field 0, hasmask, 8 bytes.
        assert_eq!(Field::reg(0).header(true, 8), 0x0001_0108);
        assert_eq!(Field::IN_PORT.header(false, 4), 0x8000_0004);
    }
}
