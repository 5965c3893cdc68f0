//! The pipeline skeleton every node has, whatever its pods: the tables' default rules, the
//! router and `yard0` ARP answers, the tunnel port, conntrack, routing to the host, and
//! br-ex's own rules.

use std::net::Ipv4Addr;

use openflow::oxm::ct_state::{EST, NEW, RPL, TRK};
use openflow::{Action, Field};
use switchyard_api::MacAddr;

use super::build::{
    ct, in_port, load, mov, mov_whole, normal, output, set, set_eth_dst, set_eth_src, set_mac,
    whole, NatTo, M,
};
use super::{Ctx, Piece};
use crate::pipeline::{
    port, prio, source, Table, CT_LABEL_REQUEST_DST, CT_LABEL_REQUEST_SRC, CT_MARK_SOURCE,
    REG_SOURCE, ZONE_DNAT, ZONE_SNAT,
};

/// Actions that turn an ARP request for `ip` into the reply "`ip` is at `mac`", sent back
/// out of the port it came in on.
pub fn arp_reply(mac: MacAddr, ip: Ipv4Addr) -> Vec<Action> {
    vec![
        mov_whole(Field::ETH_SRC, Field::ETH_DST),
        set_eth_src(mac),
        set(Field::ARP_OP, 2),
        mov_whole(Field::ARP_SHA, Field::ARP_THA),
        mov_whole(Field::ARP_SPA, Field::ARP_TPA),
        set_mac(Field::ARP_SHA, mac),
        set(Field::ARP_SPA, u32::from(ip).into()),
        in_port(),
    ]
}

/// Actions that route a packet to a MAC on this node: router MAC as source, `mac` as
/// destination (L2 delivery follows).
pub fn route_to(router: MacAddr, mac: MacAddr) -> Vec<Action> {
    vec![set_eth_src(router), set_eth_dst(mac)]
}

/// The node's own part: br-int's skeleton and br-ex's rules.
pub fn flows(ctx: &Ctx<'_>, out: &mut Piece) {
    br_int(ctx, out);
    br_ex(ctx, out);
}

fn br_int(ctx: &Ctx<'_>, out: &mut Piece) {
    use Table::*;
    let a = ctx.addrs;
    let (rmac, hmac) = (ctx.router_mac(), a.mgmt_mac);
    let cluster = &ctx.model.cluster;
    let mut b = out.br_int(ctx.owner());
    let from = |s: u32| vec![load(REG_SOURCE, s)];

    // classifier: the host, br-ex and the tunnel; pods add their own.
    let (mgmt, patch) = (port::MGMT, port::PATCH_INT);
    b.add(
        Classifier,
        prio::PORT,
        M::any().in_port(mgmt).arp(),
        from(source::HOST),
        Some(ArpResponder),
    );
    b.add(
        Classifier,
        prio::PORT,
        M::any().in_port(mgmt).ip(),
        from(source::HOST),
        Some(Conntrack),
    );
    b.add(
        Classifier,
        prio::PORT,
        M::any().in_port(patch).ip(),
        from(source::EXTERNAL),
        Some(Conntrack),
    );
    b.add(
        Classifier,
        prio::PORT,
        M::any().in_port(port::TUNNEL),
        from(source::TUNNEL),
        Some(Conntrack),
    );

    // arp-responder: the router and yard0.
    for (ip, mac) in [(a.router_ip, rmac), (a.mgmt_ip, hmac)] {
        b.add(
            ArpResponder,
            prio::ARP_ANSWER,
            M::any().arp().arp_request().arp_tpa(ip),
            arp_reply(mac, ip),
            None,
        );
    }

    // conntrack: the gate. Replies to the SNAT address (.1) are un-SNATed, then tracked (and
    // un-DNATed) in the DNAT zone; so are the packets the services let in (to a service
    // address, from a backend's target port). Everything else never meets conntrack.
    b.add(
        Conntrack,
        prio::UNSNAT,
        M::any().ip().nw_dst(a.router_ip),
        vec![ct(false, ConntrackDnat, ZONE_SNAT, NatTo::Reverse, vec![])],
        None,
    );
    b.goto(Conntrack, prio::MISS, M::any(), L3Forward);
    b.add(
        ConntrackDnat,
        prio::TRACK,
        M::any().ip(),
        vec![ct(false, Service, ZONE_DNAT, NatTo::Reverse, vec![])],
        None,
    );

    // service: replies of NodePort connections leave through br-ex to the MAC the request
    // came from (kept in ct_label when the connection was committed). Requests of NodePort
    // connections already committed (established, or a retransmitted SYN, which conntrack
    // still calls new) get their SNAT; other requests may be hairpin (service-snat decides).
    // The services' own flows (new connections to a service address) sit between: a
    // committed connection's packets are already DNATed and never match them.
    let nodeport = |m: M| m.bits(CT_MARK_SOURCE, source::EXTERNAL.into()).ip();
    b.add(
        Service,
        prio::NODEPORT_REPLY,
        nodeport(M::any().ct_state(EST | RPL | TRK, 0)),
        vec![
            mov(CT_LABEL_REQUEST_SRC.slice(), whole(Field::ETH_DST)),
            mov(CT_LABEL_REQUEST_DST.slice(), whole(Field::ETH_SRC)),
            output(patch),
        ],
        None,
    );
    b.add(
        Service,
        prio::NODEPORT_REQUEST,
        nodeport(M::any().ct_state(TRK, RPL)),
        vec![ct(false, L3Forward, ZONE_SNAT, NatTo::Reverse, vec![])],
        None,
    );
    b.goto(
        Service,
        prio::MAYBE_HAIRPIN,
        M::any().ct_state(TRK, RPL).ip(),
        ServiceSnat,
    );
    b.goto(Service, prio::MISS, M::any(), L3Forward);

    // service-snat: new NodePort connections from outside are SNATed to .1 so that the
    // backend's replies come back through this node.
    b.add(
        ServiceSnat,
        prio::NODEPORT_SNAT,
        nodeport(M::any().ct_state(NEW | TRK, 0)),
        vec![ct(
            true,
            L3Forward,
            ZONE_SNAT,
            NatTo::Src(a.router_ip),
            vec![],
        )],
        None,
    );
    b.goto(ServiceSnat, prio::MISS, M::any(), L3Forward);

    // l3-forward: yard0; unknown cluster and service addresses drop; everything else goes to
    // the host, which routes and masquerades (never back to the host itself).
    b.add(
        L3Forward,
        prio::LOCAL,
        M::any().ip().nw_dst(a.mgmt_ip),
        route_to(rmac, hmac),
        Some(L2Forward),
    );
    b.drop(
        L3Forward,
        prio::UNKNOWN_CLUSTER,
        M::any().ip().nw_dst_net(cluster.cluster_cidr),
    );
    b.drop(
        L3Forward,
        prio::UNKNOWN_CLUSTER,
        M::any().ip().nw_dst_net(cluster.service_cidr),
    );
    b.drop(
        L3Forward,
        prio::HOST_OUTSIDE,
        M::any().ip().bits(REG_SOURCE, source::HOST.into()),
    );
    b.add(
        L3Forward,
        prio::EGRESS,
        M::any().ip(),
        route_to(rmac, hmac),
        Some(L2Forward),
    );

    // l2-forward: yard0.
    b.add(
        L2Forward,
        prio::DELIVER,
        M::any().dl_dst(hmac),
        vec![output(mgmt)],
        None,
    );

    // Every other table's miss drops (and counts).
    for t in Table::ALL {
        if ![Conntrack, Service, ServiceSnat].contains(&t) {
            b.drop(t, prio::MISS, M::any());
        }
    }
}

/// br-ex: the host's traffic is switched normally; NodePort steering (from `service`) and
/// the way back out for replies come on top.
fn br_ex(ctx: &Ctx<'_>, out: &mut Piece) {
    let mut b = out.br_ex(ctx.owner());
    b.add(
        Table::Classifier,
        prio::BR_EX_NORMAL,
        M::any(),
        vec![normal()],
        None,
    );
    if let Some(uplink) = ctx.learned.uplink_port {
        b.add(
            Table::Classifier,
            prio::BR_EX_STEER,
            M::any().in_port(port::PATCH_EX),
            vec![output(uplink)],
            None,
        );
    }
}
