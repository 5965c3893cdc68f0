//! Address types that travel as strings in JSON: IPv4 CIDR blocks and MAC addresses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a CIDR or MAC string was refused. The message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?}: {reason}")]
pub struct ParseError {
    /// The text that was parsed.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

fn parse_error(input: &str, reason: impl Into<String>) -> ParseError {
    ParseError {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// An IPv4 network such as `10.244.0.0/16`. Host bits are always zero: `10.244.1.0/16` is refused,
/// not silently truncated, because it is almost always a typo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// Builds a network; fails if `prefix_len > 32` or `network` has host bits set.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, ParseError> {
        let text = format!("{network}/{prefix_len}");
        if prefix_len > 32 {
            return Err(parse_error(&text, "prefix length must be 0..=32"));
        }
        let cidr = Ipv4Cidr {
            network,
            prefix_len,
        };
        if u32::from(network) & !cidr.mask() != 0 {
            let fixed = Ipv4Addr::from(u32::from(network) & cidr.mask());
            return Err(parse_error(
                &text,
                format!("host bits are set; the network is {fixed}/{prefix_len}"),
            ));
        }
        Ok(cidr)
    }

    /// The network address (all host bits zero).
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length, 0..=32.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }

    /// The last address of the block (the broadcast address for prefixes shorter than /31).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// Number of addresses in the block.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len))
    }

    /// Whether `ip` lies inside this block.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    /// Whether the two blocks share at least one address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `index`-th address of the block (`0` is the network address), if the block has it.
    pub fn host(&self, index: u64) -> Option<Ipv4Addr> {
        if index >= self.size() {
            return None;
        }
        let offset = u32::try_from(index).ok()?;
        Some(Ipv4Addr::from(u32::from(self.network) + offset))
    }

    /// Offset of `ip` inside the block, if it is inside.
    pub fn offset_of(&self, ip: Ipv4Addr) -> Option<u64> {
        self.contains(ip)
            .then(|| u64::from(u32::from(ip) - u32::from(self.network)))
    }

    /// The `index`-th sub-block of length `prefix_len` (`0` is the first), if it exists.
    pub fn subnet(&self, prefix_len: u8, index: u64) -> Option<Ipv4Cidr> {
        if prefix_len < self.prefix_len || prefix_len > 32 {
            return None;
        }
        let count = 1u64 << u32::from(prefix_len - self.prefix_len);
        if index >= count {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix_len));
        let start = u64::from(u32::from(self.network)) + index * step;
        Ipv4Cidr::new(Ipv4Addr::from(u32::try_from(start).ok()?), prefix_len).ok()
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| parse_error(s, "expected ADDRESS/PREFIX, e.g. 10.244.0.0/16"))?;
        let network: Ipv4Addr = addr
            .parse()
            .map_err(|_| parse_error(s, format!("{addr:?} is not an IPv4 address")))?;
        let prefix_len: u8 = len
            .parse()
            .map_err(|_| parse_error(s, format!("{len:?} is not a prefix length 0..=32")))?;
        Ipv4Cidr::new(network, prefix_len).map_err(|e| parse_error(s, e.reason))
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}

/// An Ethernet MAC address, written `0a:58:0a:f4:01:03`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The MAC Switchyard derives from an IPv4 address: `0a:58` followed by the four address
    /// bytes (as ovn-kubernetes does), so a pod keeps its MAC across restarts.
    pub fn from_ipv4(ip: Ipv4Addr) -> MacAddr {
        let [a, b, c, d] = ip.octets();
        MacAddr([0x0a, 0x58, a, b, c, d])
    }

    /// Whether this is a unicast address (the I/G bit of the first octet is clear).
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts
                .next()
                .ok_or_else(|| parse_error(s, "expected six hex bytes separated by ':'"))?;
            if part.len() != 2 {
                return Err(parse_error(s, "each byte must be two hex digits"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| parse_error(s, format!("{part:?} is not a hex byte")))?;
        }
        if parts.next().is_some() {
            return Err(parse_error(s, "expected six hex bytes separated by ':'"));
        }
        Ok(MacAddr(out))
    }
}

impl TryFrom<String> for MacAddr {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_round_trips_through_text() {
        let c: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        assert_eq!(c.to_string(), "10.244.0.0/16");
        assert_eq!(c.size(), 65536);
        assert_eq!(c.last(), Ipv4Addr::new(10, 244, 255, 255));
    }

    #[test]
    fn cidr_with_host_bits_is_refused_with_the_fix() {
        let e = "10.244.1.0/16".parse::<Ipv4Cidr>().unwrap_err();
        assert!(e.to_string().contains("10.244.0.0/16"), "{e}");
    }

    #[test]
    fn malformed_cidrs_are_refused() {
        for bad in [
            "10.244.0.0",
            "10.244.0/16",
            "10.244.0.0/33",
            "x/8",
            "10.244.0.0/-1",
            "",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn subnet_k_of_a_slash16_is_the_kth_slash24() {
        let c: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        assert_eq!(c.subnet(24, 3).unwrap().to_string(), "10.244.3.0/24");
        assert_eq!(c.subnet(24, 255).unwrap().to_string(), "10.244.255.0/24");
        assert!(c.subnet(24, 256).is_none());
        assert!(c.subnet(8, 0).is_none());
    }

    #[test]
    fn overlap_and_containment() {
        let a: Ipv4Cidr = "10.244.0.0/16".parse().unwrap();
        let b: Ipv4Cidr = "10.244.7.0/24".parse().unwrap();
        let c: Ipv4Cidr = "10.96.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(a.contains(Ipv4Addr::new(10, 244, 9, 9)));
        assert_eq!(b.offset_of(Ipv4Addr::new(10, 244, 7, 3)), Some(3));
        assert_eq!(b.host(3), Some(Ipv4Addr::new(10, 244, 7, 3)));
        assert_eq!(b.host(256), None);
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
    }

    #[test]
    fn mac_is_derived_from_the_ip_and_round_trips() {
        let m = MacAddr::from_ipv4(Ipv4Addr::new(10, 244, 1, 3));
        assert_eq!(m.to_string(), "0a:58:0a:f4:01:03");
        assert_eq!("0a:58:0a:f4:01:03".parse::<MacAddr>().unwrap(), m);
        assert!(m.is_unicast());
        assert!(!"01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_unicast());
        for bad in [
            "0a:58:0a:f4:01",
            "0a:58:0a:f4:01:03:04",
            "0a:58:0a:f4:1:03",
            "zz:58:0a:f4:01:03",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
