//! The pipeline skeleton every node has, whatever its pods: the tables' default rules, the
//! router and `yard0` ARP answers, conntrack, routing to the host, and br-ex's own rules.

use std::net::Ipv4Addr;

use switchyard_api::MacAddr;

use super::{FlowSet, Learned};
use crate::model::{ClusterModel, NodeAddrs, NodeSpec};
use crate::pipeline::{port, source, Owner, Table, ZONE_DNAT, ZONE_SNAT};

/// What every builder of one node's flows reads.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The cluster.
    pub model: &'a ClusterModel,
    /// The node whose flows are built.
    pub node: &'a NodeSpec,
    /// Its subnet's addresses.
    pub addrs: NodeAddrs,
    /// The virtual router's MAC.
    pub router_mac: MacAddr,
}

impl Ctx<'_> {
    /// The owner of the node's own flows.
    pub fn owner(&self) -> Owner {
        Owner::Node(self.node.index)
    }
}

/// Actions that turn an ARP request for `ip` into the reply "`ip` is at `mac`", sent back
/// out of the port it came in on.
pub fn arp_reply(mac: MacAddr, ip: Ipv4Addr) -> String {
    format!(
        "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:{mac}->eth_src,set_field:2->arp_op,\
         move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],\
         set_field:{mac}->arp_sha,set_field:{ip}->arp_spa,IN_PORT"
    )
}

/// Actions that route a packet to a MAC on this node: router MAC as source, `mac` as
/// destination, then L2 delivery.
pub fn route_to(router: MacAddr, mac: MacAddr) -> String {
    format!(
        "set_field:{router}->eth_src,set_field:{mac}->eth_dst,goto_table:{}",
        Table::L2Forward.id()
    )
}

/// The node's br-int skeleton.
pub fn br_int(ctx: &Ctx<'_>, out: &mut FlowSet) {
    use Table::*;
    let o = ctx.owner();
    let a = ctx.addrs;
    let (rmac, hmac) = (ctx.router_mac, a.mgmt_mac);
    let cluster = &ctx.model.cluster;

    // classifier: the host and br-ex; pods and tunnels add their own.
    let (mgmt, patch) = (port::MGMT, port::PATCH_INT);
    out.push(
        o,
        Classifier,
        100,
        &format!("in_port={mgmt},arp"),
        &format!(
            "set_field:{}->reg0,goto_table:{}",
            source::HOST,
            ArpResponder.id()
        ),
    );
    out.push(
        o,
        Classifier,
        100,
        &format!("in_port={mgmt},ip"),
        &format!(
            "set_field:{}->reg0,goto_table:{}",
            source::HOST,
            Conntrack.id()
        ),
    );
    out.push(
        o,
        Classifier,
        100,
        &format!("in_port={patch},ip"),
        &format!(
            "set_field:{}->reg0,goto_table:{}",
            source::EXTERNAL,
            Conntrack.id()
        ),
    );

    // arp-responder: the router and yard0.
    out.push(
        o,
        ArpResponder,
        100,
        &format!("arp,arp_op=1,arp_tpa={}", a.router_ip),
        &arp_reply(rmac, a.router_ip),
    );
    out.push(
        o,
        ArpResponder,
        100,
        &format!("arp,arp_op=1,arp_tpa={}", a.mgmt_ip),
        &arp_reply(hmac, a.mgmt_ip),
    );

    // conntrack: replies to the SNAT address (.1) are un-SNATed first, then everything is
    // tracked (and un-DNATed) in the DNAT zone.
    out.push(
        o,
        Conntrack,
        200,
        &format!("ip,nw_dst={}", a.router_ip),
        &format!("ct(table={},zone={ZONE_SNAT},nat)", ConntrackDnat.id()),
    );
    out.push(
        o,
        Conntrack,
        100,
        "ip",
        &format!("goto_table:{}", ConntrackDnat.id()),
    );
    out.push(
        o,
        ConntrackDnat,
        100,
        "ip",
        &format!("ct(table={},zone={ZONE_DNAT},nat)", Service.id()),
    );

    // service: replies of NodePort connections leave through br-ex to the MAC the request
    // came from (kept in ct_label when the connection was committed). Requests of NodePort
    // connections already committed (established, or a retransmitted SYN, which conntrack
    // still calls new) get their SNAT; other requests may be hairpin (service-snat decides).
    // The services' own flows (priority 200, new connections to a service address) sit
    // between: a committed connection's packets are already DNATed and never match them.
    let ext = source::EXTERNAL;
    out.push(o, Service, 300, &format!("ct_state=+est+rpl+trk,ct_mark={ext:#x}/0xf,ip"),
        &format!("move:NXM_NX_CT_LABEL[0..47]->NXM_OF_ETH_DST[],move:NXM_NX_CT_LABEL[64..111]->NXM_OF_ETH_SRC[],output:{patch}"));
    out.push(
        o,
        Service,
        250,
        &format!("ct_state=-rpl+trk,ct_mark={ext:#x}/0xf,ip"),
        &format!("ct(table={},zone={ZONE_SNAT},nat)", L3Forward.id()),
    );
    out.push(
        o,
        Service,
        100,
        "ct_state=-rpl+trk,ip",
        &format!("goto_table:{}", ServiceSnat.id()),
    );
    out.push(o, Service, 0, "", &format!("goto_table:{}", L3Forward.id()));

    // service-snat: new NodePort connections from outside are SNATed to .1 so that the
    // backend's replies come back through this node.
    out.push(
        o,
        ServiceSnat,
        200,
        &format!("ct_state=+new+trk,ct_mark={ext:#x}/0xf,ip"),
        &format!(
            "ct(commit,table={},zone={ZONE_SNAT},nat(src={}))",
            L3Forward.id(),
            a.router_ip
        ),
    );
    out.push(
        o,
        ServiceSnat,
        0,
        "",
        &format!("goto_table:{}", L3Forward.id()),
    );

    // l3-forward: yard0; unknown cluster and service addresses drop; everything else goes to
    // the host, which routes and masquerades (never back to the host itself).
    out.push(
        o,
        L3Forward,
        200,
        &format!("ip,nw_dst={}", a.mgmt_ip),
        &route_to(rmac, hmac),
    );
    out.push(
        o,
        L3Forward,
        50,
        &format!("ip,nw_dst={}", cluster.cluster_cidr),
        "drop",
    );
    out.push(
        o,
        L3Forward,
        50,
        &format!("ip,nw_dst={}", cluster.service_cidr),
        "drop",
    );
    out.push(
        o,
        L3Forward,
        20,
        &format!("ip,reg0={}", source::HOST),
        "drop",
    );
    out.push(o, L3Forward, 10, "ip", &route_to(rmac, hmac));

    // l2-forward: yard0.
    out.push(
        o,
        L2Forward,
        100,
        &format!("dl_dst={hmac}"),
        &format!("output:{mgmt}"),
    );

    // Every table's miss drops (and counts).
    for t in Table::ALL {
        if t != Service && t != ServiceSnat {
            out.push(o, t, 0, "", "drop");
        }
    }
}

/// br-ex: the host's traffic is switched normally; NodePort steering (from `service`) and
/// the way back out for replies come on top.
pub fn br_ex(ctx: &Ctx<'_>, learned: &Learned, out: &mut FlowSet) {
    let o = ctx.owner();
    out.push(o, Table::Classifier, 1, "", "NORMAL");
    if let Some(uplink) = learned.uplink_port {
        out.push(
            o,
            Table::Classifier,
            100,
            &format!("in_port={}", port::PATCH_EX),
            &format!("output:{uplink}"),
        );
    }
}
