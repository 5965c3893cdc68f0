//! Routes to another node: its whole pod subnet goes into the one flow-based Geneve port with
//! the node's address as `tun_dst` (remote nodes route subnets, never single pods). What comes
//! out of the tunnel is sorted by the node's own classifier flow.

use super::build::{dec_ttl, output, set_eth_src, set_tun_dst, M};
use super::{Ctx, Piece};
use crate::model::NodeSpec;
use crate::pipeline::{port, prio, Owner, Table};

/// Adds the route from `ctx.node` to `other`: one flow.
pub fn flows(ctx: &Ctx<'_>, other: &NodeSpec, out: &mut Piece) {
    let Some(subnet) = ctx.model.node_subnet(other.index) else {
        return;
    };
    out.br_int(Owner::Node(other.index)).add(
        Table::L3Forward,
        prio::REMOTE_SUBNET,
        M::any().ip().nw_dst_net(subnet),
        vec![
            set_eth_src(ctx.router_mac()),
            dec_ttl(),
            set_tun_dst(other.ip),
            output(port::TUNNEL),
        ],
        None,
    );
}
