//! Services: ClusterIP and NodePort load balancing with conntrack NAT and select groups.
//!
//! New connections to `CLUSTER_IP:port` (from pods and hosts) or to `NODE_IP:nodePort` (from
//! outside through br-ex) go to the service's select group; each bucket commits the
//! connection in the DNAT zone with `nat(dst=POD:targetPort)`, records where it came from in
//! `ct_mark` and the request's MACs in `ct_label`, and continues in service-snat. The switch
//! hashes the 5-tuple to pick the bucket. A service with no backend drops (and counts).
//!
//! One OpenFlow message holds at most 64 KiB, about 800 such buckets; a service with more
//! backends gets a two-level tree: the top group's buckets point, weighted by size, to child
//! groups of at most [`BUCKETS_PER_GROUP`] backends each ([`pipeline::group`] numbers them).

use openflow::oxm::ct_state::{NEW, TRK};
use openflow::{Bucket, Field, Group, GroupType};
use switchyard_api::{Backend, Protocol, ServiceType};

use super::build::{ct, group, mov, output, whole, NatTo, M};
use super::{Ctx, Piece};
use crate::model::{ClusterModel, ServiceSpec};
use crate::pipeline::{
    self, port, prio, Owner, Table, CT_LABEL_REQUEST_DST, CT_LABEL_REQUEST_SRC, CT_MARK_SOURCE,
    REG_SOURCE, ZONE_DNAT,
};

/// Backends per select group before the service gets a two-level tree.
pub const BUCKETS_PER_GROUP: usize = 256;

/// The service's top group id.
pub fn group_id(svc: &ServiceSpec) -> u32 {
    pipeline::group::service(svc.id.get(), 0)
}

/// The name of the service a group id belongs to.
pub fn group_owner(model: &ClusterModel, group_id: u32) -> Option<String> {
    name_of(model, pipeline::group::service_of(group_id))
}

/// The name of the service with this id.
pub fn name_of(model: &ClusterModel, id: u32) -> Option<String> {
    model
        .service_by_id(switchyard_api::ServiceId(id))
        .map(|s| s.name.to_string())
}

/// The id of the service with this name.
pub fn id_of(model: &ClusterModel, name: &str) -> Option<u32> {
    let name: crate::model::ServiceName = name.parse().ok()?;
    model.services().get(&name).map(|s| s.id.get())
}

fn bucket(b: &Backend) -> Bucket {
    let commit = ct(
        true,
        Table::ServiceSnat,
        ZONE_DNAT,
        NatTo::Dst(b.ip, b.port),
        vec![
            mov(
                REG_SOURCE.first(CT_MARK_SOURCE.n_bits).slice(),
                CT_MARK_SOURCE.slice(),
            ),
            mov(whole(Field::ETH_SRC), CT_LABEL_REQUEST_SRC.slice()),
            mov(whole(Field::ETH_DST), CT_LABEL_REQUEST_DST.slice()),
        ],
    );
    Bucket::new(100, vec![commit])
}

fn select(group_id: u32, buckets: Vec<Bucket>) -> Group {
    Group {
        group_id,
        group_type: GroupType::Select,
        buckets,
    }
}

/// The service's groups: one group, or a top group and its children.
pub fn groups(svc: &ServiceSpec, backends: &[Backend]) -> Vec<Group> {
    let top = group_id(svc);
    if backends.len() <= BUCKETS_PER_GROUP {
        return vec![select(top, backends.iter().map(bucket).collect())];
    }
    let mut out = Vec::new();
    let mut top_buckets = Vec::new();
    for (k, chunk) in backends.chunks(BUCKETS_PER_GROUP).enumerate() {
        let child = pipeline::group::service(svc.id.get(), k as u32 + 1);
        out.push(select(child, chunk.iter().map(bucket).collect()));
        top_buckets.push(Bucket::new(chunk.len() as u16, vec![group(child)]));
    }
    out.push(select(top, top_buckets));
    out
}

/// Adds `svc`'s flows and groups on `ctx.node`.
pub fn flows(ctx: &Ctx<'_>, svc: &ServiceSpec, out: &mut Piece) {
    let backends = ctx.model.backends_of(svc);
    let to_group = if backends.is_empty() {
        vec![]
    } else {
        out.groups.extend(groups(svc, &backends));
        vec![group(group_id(svc))]
    };
    let o = Owner::Service(svc.id.get());
    let to = |dst, tp| {
        M::any()
            .proto(svc.protocol)
            .nw_dst(dst)
            .tp_dst(svc.protocol, tp)
    };
    let mut addresses = vec![(svc.cluster_ip, svc.port)];
    let node_port = match (svc.service_type, svc.node_port) {
        (ServiceType::NodePort, Some(np)) => Some(np),
        _ => None,
    };
    addresses.extend(node_port.map(|np| (ctx.node.ip, np)));
    let mut b = out.br_int(o);
    for &(dst, tp) in &addresses {
        // The gate lets the service's packets into conntrack; new connections pick a backend.
        b.goto(
            Table::Conntrack,
            prio::MAY_BE_NATED,
            to(dst, tp),
            Table::ConntrackDnat,
        );
        b.add(
            Table::Service,
            prio::SERVICE,
            to(dst, tp).ct_state(NEW | TRK, 0),
            to_group.clone(),
            None,
        );
    }
    if let (Some(np), Some(_)) = (node_port, ctx.learned.uplink_port) {
        out.br_ex(o).add(
            Table::Classifier,
            prio::BR_EX_STEER,
            to(ctx.node.ip, np),
            vec![output(port::PATCH_EX)],
            None,
        );
    }
}

/// Adds, on `ctx.node`, the gate flow that lets the replies from backend port `target` into
/// conntrack (where those of DNATed connections are un-DNATed), if some service forwards to
/// it. Services that share a target port share this flow; a reply of a connection made
/// straight to the pod, not through a service, finds no NAT there and goes on unchanged.
pub fn replies(ctx: &Ctx<'_>, target: (Protocol, u16), out: &mut Piece) {
    if !ctx.model.has_target(target) {
        return;
    }
    let (protocol, port) = target;
    out.br_int(Owner::Replies(protocol, port)).goto(
        Table::Conntrack,
        prio::MAY_BE_NATED,
        M::any()
            .proto(protocol)
            .nw_src_net(ctx.model.cluster.cluster_cidr)
            .tp_src(protocol, port),
        Table::ConntrackDnat,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn svc_with(n: usize) -> (ServiceSpec, Vec<Backend>) {
        let svc = ServiceSpec {
            name: "web".parse().unwrap(),
            id: switchyard_api::ServiceId(7),
            protocol: switchyard_api::Protocol::Tcp,
            service_type: ServiceType::NodePort,
            port: 80,
            target_port: 8080,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            node_port: Some(30080),
            backends: Default::default(),
        };
        let backends = (0..n)
            .map(|i| Backend {
                pod: format!("p{i}").parse().unwrap(),
                node: "n1".parse().unwrap(),
                ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 1, 3)) + i as u32),
                port: 8080,
            })
            .collect();
        (svc, backends)
    }

    #[test]
    fn small_services_get_one_group_and_large_ones_a_tree() {
        let (svc, few) = svc_with(3);
        let g = groups(&svc, &few);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].buckets.len(), 3);
        assert_eq!(g[0].group_id, 7 << 12);

        let (svc, many) = svc_with(5000);
        let g = groups(&svc, &many);
        let top = g.iter().find(|g| g.group_id == 7 << 12).expect("top group");
        assert_eq!(top.buckets.len(), 5000usize.div_ceil(BUCKETS_PER_GROUP));
        let leaves: usize = g
            .iter()
            .filter(|g| g.group_id != 7 << 12)
            .map(|g| g.buckets.len())
            .sum();
        assert_eq!(leaves, 5000);
        assert!(g.iter().all(|g| g.group_id >> 12 == 7));
    }
}
