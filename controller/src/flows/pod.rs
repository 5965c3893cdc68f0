//! A local pod's flows: eight, whatever else the node runs.

use openflow::oxm::ct_state::{EST, NEW, TRK};
use switchyard_api::MacAddr;

use super::build::{ct, load, output, NatTo, M};
use super::node::{arp_reply, route_to};
use super::{Ctx, Piece};
use crate::model::PodSpec;
use crate::pipeline::{prio, source, Owner, Table, REG_SOURCE, ZONE_SNAT};

/// Adds the flows of `pod`, whose host veth is br-int port `port`.
pub fn flows(ctx: &Ctx<'_>, pod: &PodSpec, port: u32, out: &mut Piece) {
    use Table::*;
    let (ip, mac) = (pod.ip, MacAddr::from_ipv4(pod.ip));
    let mut b = out.br_int(Owner::Pod(ip));
    b.add(
        Classifier,
        prio::PORT,
        M::any().in_port(port),
        vec![load(REG_SOURCE, source::POD)],
        Some(PortSecurity),
    );
    b.goto(
        PortSecurity,
        prio::POD_SOURCE,
        M::any().in_port(port).dl_src(mac).ip().nw_src(ip),
        Conntrack,
    );
    b.goto(
        PortSecurity,
        prio::POD_SOURCE,
        M::any()
            .in_port(port)
            .dl_src(mac)
            .arp()
            .arp_spa(ip)
            .arp_sha(mac),
        ArpResponder,
    );
    b.add(
        ArpResponder,
        prio::ARP_ANSWER,
        M::any().arp().arp_request().arp_tpa(ip),
        arp_reply(mac, ip),
        None,
    );
    // Hairpin: the pod reached a service whose chosen backend is itself; SNAT to .1 so the
    // reply comes back through the pipeline and is un-NATed.
    let itself = |on| M::any().ct_state(on, 0).ip().nw_src(ip).nw_dst(ip);
    b.add(
        ServiceSnat,
        prio::HAIRPIN,
        itself(NEW | TRK),
        vec![ct(
            true,
            L3Forward,
            ZONE_SNAT,
            NatTo::Src(ctx.addrs.router_ip),
            vec![],
        )],
        None,
    );
    b.add(
        ServiceSnat,
        prio::HAIRPIN,
        itself(EST | TRK),
        vec![ct(false, L3Forward, ZONE_SNAT, NatTo::Reverse, vec![])],
        None,
    );
    b.add(
        L3Forward,
        prio::LOCAL,
        M::any().ip().nw_dst(ip),
        route_to(ctx.router_mac(), mac),
        Some(L2Forward),
    );
    b.add(
        L2Forward,
        prio::DELIVER,
        M::any().dl_dst(mac),
        vec![output(port)],
        None,
    );
}
