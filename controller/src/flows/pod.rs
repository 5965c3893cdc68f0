//! A local pod's flows: eight, whatever else the node runs.

use switchyard_api::MacAddr;

use super::node::{arp_reply, route_to, Ctx};
use super::FlowSet;
use crate::model::PodSpec;
use crate::pipeline::{source, Owner, Table, ZONE_SNAT};

/// Adds the flows of `pod`, whose host veth is br-int port `port`.
pub fn flows(ctx: &Ctx<'_>, pod: &PodSpec, port: u32, out: &mut FlowSet) {
    use Table::*;
    let o = Owner::Pod(pod.ip);
    let (ip, mac) = (pod.ip, MacAddr::from_ipv4(pod.ip));
    out.push(
        o,
        Classifier,
        100,
        &format!("in_port={port}"),
        &format!(
            "set_field:{}->reg0,goto_table:{}",
            source::POD,
            PortSecurity.id()
        ),
    );
    out.push(
        o,
        PortSecurity,
        100,
        &format!("in_port={port},dl_src={mac},ip,nw_src={ip}"),
        &format!("goto_table:{}", Conntrack.id()),
    );
    out.push(
        o,
        PortSecurity,
        100,
        &format!("in_port={port},dl_src={mac},arp,arp_spa={ip},arp_sha={mac}"),
        &format!("goto_table:{}", ArpResponder.id()),
    );
    out.push(
        o,
        ArpResponder,
        100,
        &format!("arp,arp_op=1,arp_tpa={ip}"),
        &arp_reply(mac, ip),
    );
    // Hairpin: the pod reached a service whose chosen backend is itself; SNAT to .1 so the
    // reply comes back through the pipeline and is un-NATed.
    out.push(
        o,
        ServiceSnat,
        190,
        &format!("ct_state=+new+trk,ip,nw_src={ip},nw_dst={ip}"),
        &format!(
            "ct(commit,table={},zone={ZONE_SNAT},nat(src={}))",
            L3Forward.id(),
            ctx.addrs.router_ip
        ),
    );
    out.push(
        o,
        ServiceSnat,
        190,
        &format!("ct_state=+est+trk,ip,nw_src={ip},nw_dst={ip}"),
        &format!("ct(table={},zone={ZONE_SNAT},nat)", L3Forward.id()),
    );
    out.push(
        o,
        L3Forward,
        200,
        &format!("ip,nw_dst={ip}"),
        &route_to(ctx.router_mac, mac),
    );
    out.push(
        o,
        L2Forward,
        100,
        &format!("dl_dst={mac}"),
        &format!("output:{port}"),
    );
}
