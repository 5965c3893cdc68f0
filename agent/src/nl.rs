//! Small rtnetlink helpers: read a link's state, and change links, addresses and routes only
//! where they differ from what is wanted (check first, then set: a repeated call sends no
//! change).

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

/// The kernel's `ENODEV`/`ENOENT`/`ESRCH` answers mean "no such object".
fn is_absent(e: &rtnetlink::Error) -> bool {
    match e {
        rtnetlink::Error::NetlinkError(m) => {
            matches!(m.code.map(|c| -c.get()), Some(19 | 2 | 3))
        }
        _ => false,
    }
}

/// A link as read from the kernel: the few attributes the agent compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index (in its own namespace).
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address.
    pub mac: Option<[u8; 6]>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// `IFLA_INFO_KIND` is `veth`.
    pub veth: bool,
    /// `IFLA_LINK`: for a veth, the peer's index (in the peer's namespace).
    pub peer_index: Option<u32>,
    /// `IFLA_IFALIAS`.
    pub alias: Option<String>,
}

impl Link {
    fn from_msg(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            mac: None,
            mtu: None,
            up: m.header.flags.contains(LinkFlags::Up),
            veth: false,
            peer_index: None,
            alias: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Address(b) => l.mac = <[u8; 6]>::try_from(b.as_slice()).ok(),
                LinkAttribute::Mtu(v) => l.mtu = Some(*v),
                LinkAttribute::Link(v) => l.peer_index = Some(*v),
                LinkAttribute::IfAlias(s) => l.alias = Some(s.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    l.veth = infos
                        .iter()
                        .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth)));
                }
                _ => {}
            }
        }
        l
    }
}

/// The link named `name`, if it exists.
pub async fn link(h: &Handle, name: &str) -> Result<Option<Link>, rtnetlink::Error> {
    let mut s = h.link().get().match_name(name.to_owned()).execute();
    match s.try_next().await {
        Ok(m) => Ok(m.as_ref().map(Link::from_msg)),
        Err(e) if is_absent(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// All links of the namespace.
pub async fn links(h: &Handle) -> Result<Vec<Link>, rtnetlink::Error> {
    let msgs: Vec<LinkMessage> = h.link().get().execute().try_collect().await?;
    Ok(msgs.iter().map(Link::from_msg).collect())
}

/// Deletes link `index`; an already absent link is fine.
pub async fn del_link(h: &Handle, index: u32) -> Result<(), rtnetlink::Error> {
    match h.clone().link().del(index).execute().await {
        Err(e) if !is_absent(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Deletes the link named `name` if it exists.
pub async fn del_link_named(h: &Handle, name: &str) -> Result<bool, rtnetlink::Error> {
    match link(h, name).await? {
        Some(l) => del_link(h, l.index).await.map(|()| true),
        None => Ok(false),
    }
}

/// What a link should look like; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct LinkWant {
    /// MTU.
    pub mtu: Option<u32>,
    /// Hardware address.
    pub mac: Option<[u8; 6]>,
    /// Up.
    pub up: bool,
    /// `IFLA_IFALIAS`.
    pub alias: Option<String>,
}

/// Brings `link` to `want`, in one request, only if something differs. Returns whether it
/// changed anything.
pub async fn ensure_link(
    h: &Handle,
    link: &Link,
    want: &LinkWant,
) -> Result<bool, rtnetlink::Error> {
    let new_mac = want.mac.filter(|m| link.mac != Some(*m));
    if new_mac.is_some() && link.up {
        // Devices without live address change (a tap like yard0) refuse a new MAC while up
        // (EBUSY): take the link down first; it comes back up below.
        h.link()
            .set(LinkUnspec::new_with_index(link.index).down().build())
            .execute()
            .await?;
    }
    let mut b = LinkUnspec::new_with_index(link.index);
    let mut changed = false;
    if let Some(mtu) = want.mtu.filter(|m| link.mtu != Some(*m)) {
        b = b.mtu(mtu);
        changed = true;
    }
    if let Some(mac) = new_mac {
        b = b.address(mac.to_vec());
        changed = true;
    }
    if want.up && (!link.up || new_mac.is_some()) {
        b = b.up();
        changed = true;
    }
    let mut msg = b.build();
    if let Some(alias) = want
        .alias
        .as_ref()
        .filter(|a| link.alias.as_ref() != Some(*a))
    {
        msg.attributes.push(LinkAttribute::IfAlias(alias.clone()));
        changed = true;
    }
    if changed {
        h.link().set(msg).execute().await?;
    }
    Ok(changed)
}

fn addr_of(m: &AddressMessage) -> Option<Ipv4Addr> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point links.
    let mut found = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(IpAddr::V4(ip)) => return Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) => found = Some(*ip),
            _ => {}
        }
    }
    found
}

async fn ipv4_addrs(h: &Handle, index: u32) -> Result<Vec<AddressMessage>, rtnetlink::Error> {
    let all: Vec<AddressMessage> = h
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await?;
    Ok(all
        .into_iter()
        .filter(|m| m.header.family == AddressFamily::Inet && m.header.index == index)
        .collect())
}

/// Makes `ip/prefix` the only IPv4 address of link `index`. Returns whether it changed
/// anything.
pub async fn ensure_only_addr(
    h: &Handle,
    index: u32,
    ip: Ipv4Addr,
    prefix: u8,
) -> Result<bool, rtnetlink::Error> {
    let have = ipv4_addrs(h, index).await?;
    let mut present = false;
    let mut changed = false;
    for m in have
        .into_iter()
        .filter(|m| m.header.family == AddressFamily::Inet)
    {
        if m.header.index != index {
            continue;
        }
        if addr_of(&m) == Some(ip) && m.header.prefix_len == prefix {
            present = true;
        } else {
            h.address().del(m).execute().await?;
            changed = true;
        }
    }
    if !present {
        h.address()
            .add(index, IpAddr::V4(ip), prefix)
            .execute()
            .await?;
        changed = true;
    }
    Ok(changed)
}

/// Removes every IPv4 address of link `index` (absent link is fine).
pub async fn flush_addrs(h: &Handle, index: u32) -> Result<(), rtnetlink::Error> {
    let have = ipv4_addrs(h, index).await?;
    for m in have
        .into_iter()
        .filter(|m| m.header.family == AddressFamily::Inet && m.header.index == index)
    {
        match h.address().del(m).execute().await {
            Err(e) if !is_absent(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// An IPv4 route in the main table: `dst/len via gw dev oif`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route4 {
    /// Destination network.
    pub dst: Ipv4Addr,
    /// Destination prefix length.
    pub len: u8,
    /// Next hop.
    pub gateway: Ipv4Addr,
    /// Output interface index.
    pub oif: u32,
}

impl Route4 {
    fn message(&self) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(self.dst, self.len)
            .gateway(self.gateway)
            .output_interface(self.oif)
            .build()
    }

    fn matches(&self, m: &RouteMessage) -> bool {
        if m.header.destination_prefix_length != self.len
            || m.header.table != netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN
        {
            return false;
        }
        let mut dst = Ipv4Addr::UNSPECIFIED;
        let (mut gw, mut oif) = (None, None);
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
                RouteAttribute::Oif(o) => oif = Some(*o),
                _ => {}
            }
        }
        dst == self.dst && gw == Some(self.gateway) && oif == Some(self.oif)
    }

    fn same_destination(&self, m: &RouteMessage) -> bool {
        m.header.destination_prefix_length == self.len
            && m.header.table == netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN
            && m.attributes.iter().any(|a| {
                matches!(a, RouteAttribute::Destination(RouteAddress::Inet(d)) if *d == self.dst)
                    || (self.len == 0 && !matches!(a, RouteAttribute::Destination(_)))
            })
    }
}

async fn main_routes(h: &Handle) -> Result<Vec<RouteMessage>, rtnetlink::Error> {
    let all: Vec<RouteMessage> = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await?;
    Ok(all
        .into_iter()
        .filter(|m| m.header.table == netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN)
        .collect())
}

/// Makes each route present (replacing a route to the same destination that differs).
/// Returns how many were changed.
pub async fn ensure_routes(h: &Handle, routes: &[Route4]) -> Result<usize, rtnetlink::Error> {
    let have = main_routes(h).await?;
    let mut changed = 0;
    for r in routes {
        if !have.iter().any(|m| r.matches(m)) {
            h.route().add(r.message()).replace().execute().await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Deletes each route if present (same destination, gateway and device).
pub async fn remove_routes(h: &Handle, routes: &[Route4]) -> Result<(), rtnetlink::Error> {
    let have = main_routes(h).await?;
    for r in routes {
        for m in have
            .iter()
            .filter(|m| r.matches(m) && r.same_destination(m))
        {
            match h.route().del(m.clone()).execute().await {
                Err(e) if !is_absent(&e) => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}
