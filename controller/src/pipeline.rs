//! THE declaration of the br-int pipeline: table numbers and names, the registers and
//! conntrack zones the flows share, the port numbers the controller asks OVS for, and the
//! cookie scheme that names every flow's owner. Flow builders, the flow-dump printer, the
//! OVSDB `Flow_Table` names and the docs all read this module.

use std::net::Ipv4Addr;

use switchyard_api::Protocol;

/// One table of the br-int pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Sorts packets by the port they came in on.
    Classifier,
    /// A pod may only send with its own MAC and IP.
    PortSecurity,
    /// Answers ARP for the router, `yard0` and local pods.
    ArpResponder,
    /// The gate to conntrack: only packets that may belong to a NATed connection enter it
    /// (replies to this node's SNAT address are un-SNATed in zone 2 here); the rest go
    /// straight to routing.
    Conntrack,
    /// Connection tracking and un-DNAT (zone 1) for what the gate let in.
    ConntrackDnat,
    /// New connections to a service address go to its select group; replies of NodePort
    /// connections go back out through br-ex.
    Service,
    /// SNAT (zone 2) for NodePort connections from outside and for hairpin connections.
    ServiceSnat,
    /// Routing: rewrite MACs, pick the tunnel, the host or the local pod.
    L3Forward,
    /// Delivery by destination MAC.
    L2Forward,
}

impl Table {
    /// Every table, in pipeline order.
    pub const ALL: [Table; 9] = [
        Table::Classifier,
        Table::PortSecurity,
        Table::ArpResponder,
        Table::Conntrack,
        Table::ConntrackDnat,
        Table::Service,
        Table::ServiceSnat,
        Table::L3Forward,
        Table::L2Forward,
    ];

    /// The OpenFlow table id.
    pub const fn id(self) -> u8 {
        match self {
            Table::Classifier => 0,
            Table::PortSecurity => 10,
            Table::ArpResponder => 20,
            Table::Conntrack => 30,
            Table::ConntrackDnat => 31,
            Table::Service => 40,
            Table::ServiceSnat => 45,
            Table::L3Forward => 50,
            Table::L2Forward => 60,
        }
    }

    /// The name `ovs-ofctl --names`, `yardctl flows` and the docs show.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Classifier => "classifier",
            Table::PortSecurity => "port-security",
            Table::ArpResponder => "arp-responder",
            Table::Conntrack => "conntrack",
            Table::ConntrackDnat => "conntrack-dnat",
            Table::Service => "service",
            Table::ServiceSnat => "service-snat",
            Table::L3Forward => "l3-forward",
            Table::L2Forward => "l2-forward",
        }
    }

    /// What the table does, one line (README and `docs/pipeline.md` show it).
    pub const fn purpose(self) -> &'static str {
        match self {
            Table::Classifier => "sorts by in_port: pod → port-security; tunnel, yard0, br-ex → conntrack; else drop",
            Table::PortSecurity => "a pod sends only with its own MAC and IP (ARP: its own SHA/SPA)",
            Table::ArpResponder => "answers ARP for the router .1, yard0 .2 and local pods; nothing is flooded",
            Table::Conntrack => "only what may be NATed enters ct: replies to .1 are un-SNATed (zone 2); service addresses, backends' replies → conntrack-dnat; else → l3-forward",
            Table::ConntrackDnat => "ct(zone=1,nat): replies of DNATed connections are un-DNATed",
            Table::Service => "new connections to ClusterIP:port / NODE_IP:nodePort → the service's select group",
            Table::ServiceSnat => "NodePort from outside and hairpin connections are SNATed to .1 (zone 2)",
            Table::L3Forward => "local pod / yard0 → MAC rewrite; other node's subnet → dec_ttl, its tunnel; else → yard0",
            Table::L2Forward => "delivery by destination MAC to the pod's port or yard0",
        }
    }

    /// The table with this id, if the pipeline has one.
    pub fn from_id(id: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The table with this name, if the pipeline has one.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The pipeline's table names, as the codec's text form uses them.
pub fn table_names() -> openflow::TableNames {
    let names: Vec<(u8, &str)> = Table::ALL.iter().map(|t| (t.id(), t.name())).collect();
    openflow::TableNames::new(&names)
}

/// A slice of a register or conntrack field the pipeline gives a meaning, as
/// `FIELD[ofs..ofs+n_bits-1]` in ovs-ofctl syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldBits {
    /// The field.
    pub field: openflow::Field,
    /// First bit.
    pub ofs: u16,
    /// Width in bits.
    pub n_bits: u16,
    /// What it holds, for docs and errors.
    pub name: &'static str,
}

impl FieldBits {
    /// As the codec's slice type, with the header Open vSwitch uses inside actions (the NXM
    /// one where the field has one), so what a switch reports back compares equal.
    pub fn slice(self) -> openflow::action::nx::FieldSlice {
        let field = openflow::oxm::FIELDS
            .iter()
            .find(|d| d.field == self.field)
            .map_or(self.field, |d| d.act);
        openflow::action::nx::FieldSlice {
            field,
            ofs: self.ofs,
            n_bits: self.n_bits,
        }
    }

    /// The first `n_bits` of this slice.
    pub const fn first(self, n_bits: u16) -> FieldBits {
        FieldBits { n_bits, ..self }
    }
}

/// `reg0`: where the packet entered br-int (one of [`source`]), set by the classifier.
pub const REG_SOURCE: FieldBits = FieldBits {
    field: openflow::Field::reg(0),
    ofs: 0,
    n_bits: 32,
    name: "packet source",
};

/// `ct_mark[0..3]`: where the first packet of a service connection came from ([`source`]),
/// copied from `reg0[0..3]` when the connection is committed.
pub const CT_MARK_SOURCE: FieldBits = FieldBits {
    field: openflow::Field::CT_MARK,
    ofs: 0,
    n_bits: 4,
    name: "connection source",
};

/// `ct_label[0..47]`: the source MAC of a service connection's request (the reply goes
/// back to it).
pub const CT_LABEL_REQUEST_SRC: FieldBits = FieldBits {
    field: openflow::Field::CT_LABEL,
    ofs: 0,
    n_bits: 48,
    name: "request source MAC",
};

/// `ct_label[64..111]`: the destination MAC of a service connection's request (the reply
/// leaves with it as its source).
pub const CT_LABEL_REQUEST_DST: FieldBits = FieldBits {
    field: openflow::Field::CT_LABEL,
    ofs: 64,
    n_bits: 48,
    name: "request destination MAC",
};

/// Priorities inside the tables, named for what the flows at each level do. A table's miss
/// rule is [`prio::MISS`].
pub mod prio {
    /// Every table's lowest rule (drop, or go on for service and service-snat).
    pub const MISS: u16 = 0;
    /// classifier: a port sorted into its source.
    pub const PORT: u16 = 100;
    /// port-security: a pod's own MAC and IP.
    pub const POD_SOURCE: u16 = 100;
    /// arp-responder: an answer for an address.
    pub const ARP_ANSWER: u16 = 100;
    /// conntrack: replies to this node's SNAT address.
    pub const UNSNAT: u16 = 200;
    /// conntrack: packets to a service address, or from a backend's target port, go on to
    /// conntrack-dnat (the rest skip conntrack).
    pub const MAY_BE_NATED: u16 = 100;
    /// conntrack-dnat: what the gate let in is tracked (and un-DNATed).
    pub const TRACK: u16 = 100;
    /// service: replies of NodePort connections leave through br-ex.
    pub const NODEPORT_REPLY: u16 = 300;
    /// service: later packets of NodePort connections get their SNAT.
    pub const NODEPORT_REQUEST: u16 = 250;
    /// service: new connections to a service address (the service's own flows).
    pub const SERVICE: u16 = 200;
    /// service: other requests may be hairpin (service-snat decides).
    pub const MAYBE_HAIRPIN: u16 = 100;
    /// service-snat: new NodePort connections from outside.
    pub const NODEPORT_SNAT: u16 = 200;
    /// service-snat: a pod that reached itself through a service.
    pub const HAIRPIN: u16 = 190;
    /// l3-forward: a local address (a pod, yard0).
    pub const LOCAL: u16 = 200;
    /// l3-forward: another node's pod subnet.
    pub const REMOTE_SUBNET: u16 = 100;
    /// l3-forward: unknown cluster and service addresses.
    pub const UNKNOWN_CLUSTER: u16 = 50;
    /// l3-forward: the host's own traffic to outside the cluster.
    pub const HOST_OUTSIDE: u16 = 20;
    /// l3-forward: pod egress to the host.
    pub const EGRESS: u16 = 10;
    /// l2-forward: delivery to a MAC.
    pub const DELIVER: u16 = 100;
    /// br-ex: NodePort steering and the way back out.
    pub const BR_EX_STEER: u16 = 100;
    /// br-ex: everything else is switched normally.
    pub const BR_EX_NORMAL: u16 = 1;
}

/// Group ids: a service's top group is `id << 12`, its children (large services) `id << 12 | k`
/// for k ≥ 1, so every group names its service.
pub mod group {
    /// The group `k` of service `id` (0: the top group).
    pub const fn service(id: u32, k: u32) -> u32 {
        id << 12 | k
    }

    /// The service id a group belongs to.
    pub const fn service_of(group_id: u32) -> u32 {
        group_id >> 12
    }
}

/// `reg0` holds where the packet entered br-int (set by the classifier).
pub mod source {
    /// A local pod's port.
    pub const POD: u32 = 1;
    /// A Geneve tunnel from another node.
    pub const TUNNEL: u32 = 2;
    /// The host's management port `yard0`.
    pub const HOST: u32 = 3;
    /// The patch port from br-ex: traffic from outside the cluster (NodePort).
    pub const EXTERNAL: u32 = 4;
}

/// Conntrack zone of the connections to services (and their DNAT).
pub const ZONE_DNAT: u16 = 1;
/// Conntrack zone of the SNAT that NodePort and hairpin connections get.
pub const ZONE_SNAT: u16 = 2;

/// br-int port numbers the controller requests (`ofport_request`), so flows need no lookup.
pub mod port {
    /// `yard0`, the host's management port.
    pub const MGMT: u32 = 1;
    /// `patch-int-to-ex` on br-int.
    pub const PATCH_INT: u32 = 2;
    /// `patch-ex-to-int` on br-ex (a high number: the uplink is usually there first).
    pub const PATCH_EX: u32 = 65000;
    /// The TCP port br-ex listens on for the controller (`ptcp:PORT:NODE_IP`); the
    /// controller dials it.
    pub const BR_EX_OPENFLOW: u16 = 6654;
    /// The TCP port br-int listens on for the controller (`ptcp:PORT:NODE_IP`); the
    /// controller dials it, as it dials br-ex.
    pub const BR_INT_OPENFLOW: u16 = 6655;
    /// The one flow-based Geneve port (`remote_ip=flow`). Earlier releases had one port per
    /// peer at 4096 + its index, so 4096 itself was never taken.
    pub const TUNNEL: u32 = 4096;
}

/// Bridge and port names on every node.
pub mod names {
    /// The integration bridge.
    pub const BR_INT: &str = "br-int";
    /// The external bridge (holds the node IP and the uplink).
    pub const BR_EX: &str = "br-ex";
    /// The host's management port on br-int.
    pub const MGMT: &str = "yard0";
    /// The patch port on br-int.
    pub const PATCH_INT: &str = "patch-int-to-ex";
    /// The patch port on br-ex.
    pub const PATCH_EX: &str = "patch-ex-to-int";

    /// The flow-based Geneve port: every tunnel to every other node (`tun_dst` is set per
    /// route flow).
    pub const TUNNEL: &str = "yard-gnv";
    /// Earlier releases' per-peer Geneve ports were named `gnv-<node>`; the controller
    /// removes what it finds with this prefix.
    pub const LEGACY_TUNNEL_PREFIX: &str = "gnv-";
}

/// The first 16 bits of every Switchyard cookie ("SY").
pub const COOKIE_MAGIC: u64 = 0x5359;

/// Who a flow belongs to; encoded in its cookie as `0x5359 << 48 | kind << 40 | id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// A node, by index: its own pipeline skeleton, and on other nodes the route and tunnel to it.
    Node(u32),
    /// A pod, by its IPv4 address.
    Pod(Ipv4Addr),
    /// A service, by its id.
    Service(u32),
    /// The replies from one backend port (protocol, target port), shared by every service
    /// that forwards to it.
    Replies(Protocol, u16),
}

impl Owner {
    /// The cookie that names this owner.
    pub fn cookie(self) -> u64 {
        let (kind, id) = match self {
            Owner::Node(i) => (1u64, u64::from(i)),
            Owner::Pod(ip) => (2, u64::from(u32::from(ip))),
            Owner::Service(id) => (3, u64::from(id)),
            Owner::Replies(p, port) => (4, u64::from(p.ip_proto()) << 16 | u64::from(port)),
        };
        COOKIE_MAGIC << 48 | kind << 40 | (id & 0xFF_FFFF_FFFF)
    }

    /// The owner a cookie names; `None` for foreign cookies.
    pub fn from_cookie(cookie: u64) -> Option<Owner> {
        if cookie >> 48 != COOKIE_MAGIC {
            return None;
        }
        let id = cookie & 0xFF_FFFF_FFFF;
        match (cookie >> 40) & 0xFF {
            1 => u32::try_from(id).ok().map(Owner::Node),
            2 => u32::try_from(id)
                .ok()
                .map(|v| Owner::Pod(Ipv4Addr::from(v))),
            3 => u32::try_from(id).ok().map(Owner::Service),
            4 => {
                let port = u16::try_from(id & 0xFFFF).ok()?;
                match id >> 16 {
                    6 => Some(Owner::Replies(Protocol::Tcp, port)),
                    17 => Some(Owner::Replies(Protocol::Udp, port)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Whether `cookie` is one of ours (any owner).
    pub fn is_ours(cookie: u64) -> bool {
        Owner::from_cookie(cookie).is_some()
    }
}

/// The datapath id the controller gives a node's bridge: `0x5359 << 48 | index << 8 | bridge`
/// (1 = br-int, 2 = br-ex). The OpenFlow listener maps a connecting switch back with
/// [`from_datapath_id`].
pub fn datapath_id(index: u32, bridge: &str) -> u64 {
    let b = if bridge == names::BR_EX { 2 } else { 1 };
    COOKIE_MAGIC << 48 | u64::from(index) << 8 | b
}

/// The node index and bridge name a datapath id from [`datapath_id`] names.
pub fn from_datapath_id(dpid: u64) -> Option<(u32, &'static str)> {
    if dpid >> 48 != COOKIE_MAGIC {
        return None;
    }
    let index = u32::try_from((dpid >> 8) & 0xFF_FFFF_FFFF).ok()?;
    match dpid & 0xFF {
        1 => Some((index, names::BR_INT)),
        2 => Some((index, names::BR_EX)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids_and_names_are_unique_and_ordered() {
        let ids: Vec<u8> = Table::ALL.iter().map(|t| t.id()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            ids, sorted,
            "tables are declared in pipeline order, ids unique"
        );
        for t in Table::ALL {
            assert_eq!(Table::from_id(t.id()), Some(t));
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn cookies_round_trip_and_foreign_ones_are_not_ours() {
        for o in [
            Owner::Node(7),
            Owner::Pod(Ipv4Addr::new(10, 244, 3, 9)),
            Owner::Service(0xFFFFF),
            Owner::Replies(Protocol::Udp, 53),
            Owner::Replies(Protocol::Tcp, 65535),
        ] {
            assert_eq!(Owner::from_cookie(o.cookie()), Some(o));
        }
        assert_eq!(Owner::from_cookie(0), None);
        assert_eq!(Owner::from_cookie(0x1234 << 48 | 1 << 40), None);
        assert_eq!(Owner::from_cookie(COOKIE_MAGIC << 48 | 9 << 40), None);
        assert_eq!(
            Owner::from_cookie(COOKIE_MAGIC << 48 | 4 << 40 | 1 << 16),
            None
        );
    }

    #[test]
    fn datapath_ids_name_node_and_bridge() {
        assert_eq!(
            from_datapath_id(datapath_id(3, "br-int")),
            Some((3, "br-int"))
        );
        assert_eq!(
            from_datapath_id(datapath_id(3, "br-ex")),
            Some((3, "br-ex"))
        );
        assert_eq!(from_datapath_id(0xdead), None);
    }

    #[test]
    fn group_ids_name_their_service() {
        assert_eq!(group::service_of(group::service(7, 0)), 7);
        assert_eq!(group::service_of(group::service(0xFFFFF, 19)), 0xFFFFF);
        assert!(!names::TUNNEL.starts_with(names::LEGACY_TUNNEL_PREFIX));
    }
}

#[cfg(test)]
mod doc_tests {
    use super::Table;

    #[test]
    fn pipeline_doc_lists_every_table() {
        for (file, doc) in [
            ("docs/pipeline.md", include_str!("../../docs/pipeline.md")),
            ("README.md", include_str!("../../README.md")),
        ] {
            for t in Table::ALL {
                let row = format!("| {} | {} | {} |", t.id(), t.name(), t.purpose());
                assert!(doc.contains(&row), "{file} lacks the row `{row}`");
            }
        }
    }
}
