//! Routes to another node: its whole pod subnet goes into its Geneve tunnel (remote nodes
//! route subnets, never single pods), and what comes out of that tunnel is tracked.

use super::node::Ctx;
use super::FlowSet;
use crate::model::NodeSpec;
use crate::pipeline::{port, source, Owner, Table};

/// Adds the flows of the tunnel from `ctx.node` to `other`.
pub fn flows(ctx: &Ctx<'_>, other: &NodeSpec, out: &mut FlowSet) {
    let Some(subnet) = ctx.model.node_subnet(other.index) else {
        return;
    };
    let o = Owner::Node(other.index);
    let tunnel = port::tunnel(other.index);
    out.push(
        o,
        Table::Classifier,
        100,
        &format!("in_port={tunnel}"),
        &format!(
            "set_field:{}->reg0,goto_table:{}",
            source::TUNNEL,
            Table::Conntrack.id()
        ),
    );
    out.push(
        o,
        Table::L3Forward,
        100,
        &format!("ip,nw_dst={subnet}"),
        &format!(
            "set_field:{}->eth_src,dec_ttl,output:{tunnel}",
            ctx.router_mac
        ),
    );
}
