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
//! groups of at most [`BUCKETS_PER_GROUP`] backends each. Group ids are `id << 12 | k`
//! (k = 0 the top group, 1.. the children), so a group names its service.

use switchyard_api::{Backend, ServiceType};

use super::node::Ctx;
use super::{Learned, NodeFlows};
use crate::model::{ClusterModel, ServiceSpec};
use crate::pipeline::{port, Owner, Table, ZONE_DNAT};

/// Backends per select group before the service gets a two-level tree.
pub const BUCKETS_PER_GROUP: usize = 256;

/// The service's top group id.
pub fn group_id(svc: &ServiceSpec) -> u32 {
    svc.id.get() << 12
}

/// The name of the service a group id belongs to.
pub fn group_owner(model: &ClusterModel, group_id: u32) -> Option<String> {
    name_of(model, group_id >> 12)
}

/// The name of the service with this id.
pub fn name_of(model: &ClusterModel, id: u32) -> Option<String> {
    model
        .services()
        .values()
        .find(|s| s.id.get() == id)
        .map(|s| s.name.to_string())
}

/// The id of the service with this name.
pub fn id_of(model: &ClusterModel, name: &str) -> Option<u32> {
    model
        .services()
        .values()
        .find(|s| s.name.as_str() == name)
        .map(|s| s.id.get())
}

fn bucket(b: &Backend) -> String {
    format!(
        "bucket=weight:100,actions=ct(commit,table={},zone={ZONE_DNAT},nat(dst={}:{}),\
         exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3],\
         move:NXM_OF_ETH_SRC[]->NXM_NX_CT_LABEL[0..47],move:NXM_OF_ETH_DST[]->NXM_NX_CT_LABEL[64..111]))",
        Table::ServiceSnat.id(),
        b.ip,
        b.port
    )
}

/// The service's groups as `add-group` text: one group, or a top group and its children.
pub fn groups(svc: &ServiceSpec, backends: &[Backend]) -> Vec<String> {
    let top = group_id(svc);
    if backends.len() <= BUCKETS_PER_GROUP {
        let buckets: Vec<String> = backends.iter().map(bucket).collect();
        return vec![format!("group_id={top},type=select,{}", buckets.join(","))];
    }
    let mut out = Vec::new();
    let mut top_buckets = Vec::new();
    for (k, chunk) in backends.chunks(BUCKETS_PER_GROUP).enumerate() {
        let child = top | (k as u32 + 1);
        let buckets: Vec<String> = chunk.iter().map(bucket).collect();
        out.push(format!(
            "group_id={child},type=select,{}",
            buckets.join(",")
        ));
        top_buckets.push(format!(
            "bucket=weight:{},actions=group:{child}",
            chunk.len()
        ));
    }
    out.push(format!(
        "group_id={top},type=select,{}",
        top_buckets.join(",")
    ));
    out
}

/// Adds every service's flows and groups on `ctx.node`.
pub fn flows(ctx: &Ctx<'_>, learned: &Learned, out: &mut NodeFlows) {
    for (svc, backends) in ctx.model.service_backends() {
        let o = Owner::Service(svc.id.get());
        let proto = svc.protocol.as_str();
        let to_group = if backends.is_empty() {
            "drop".to_owned()
        } else {
            for g in groups(svc, &backends) {
                out.br_int.push_group(&g);
            }
            format!("group:{}", group_id(svc))
        };
        let new = "ct_state=+new+trk";
        out.br_int.push(
            o,
            Table::Service,
            200,
            &format!(
                "{new},{proto},nw_dst={},tp_dst={}",
                svc.cluster_ip, svc.port
            ),
            &to_group,
        );
        if let (ServiceType::NodePort, Some(np)) = (svc.service_type, svc.node_port) {
            let node_ip = ctx.node.ip;
            out.br_int.push(
                o,
                Table::Service,
                200,
                &format!("{new},{proto},nw_dst={node_ip},tp_dst={np}"),
                &to_group,
            );
            if learned.uplink_port.is_some() {
                out.br_ex.push(
                    o,
                    Table::Classifier,
                    100,
                    &format!("{proto},nw_dst={node_ip},tp_dst={np}"),
                    &format!("output:{}", port::PATCH_EX),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::model;
    use std::net::Ipv4Addr;

    fn svc_with(n: usize) -> (ServiceSpec, Vec<Backend>) {
        let m = model(1, 1);
        let mut svc = m
            .services()
            .values()
            .next()
            .cloned()
            .unwrap_or_else(|| ServiceSpec {
                name: "web".parse().unwrap(),
                id: switchyard_api::ServiceId(7),
                protocol: switchyard_api::Protocol::Tcp,
                service_type: ServiceType::NodePort,
                port: 80,
                target_port: 8080,
                cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
                node_port: Some(30080),
                backends: Default::default(),
            });
        svc.id = switchyard_api::ServiceId(7);
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
        let parsed: openflow::Group = g[0].parse().expect("group parses");
        assert_eq!(parsed.buckets.len(), 3);
        assert_eq!(parsed.group_id, 7 << 12);

        let (svc, many) = svc_with(5000);
        let g = groups(&svc, &many);
        let parsed: Vec<openflow::Group> =
            g.iter().map(|t| t.parse().expect("group parses")).collect();
        let top = parsed
            .iter()
            .find(|g| g.group_id == 7 << 12)
            .expect("top group");
        assert_eq!(top.buckets.len(), 5000usize.div_ceil(BUCKETS_PER_GROUP));
        let leaves: usize = parsed
            .iter()
            .filter(|g| g.group_id != 7 << 12)
            .map(|g| g.buckets.len())
            .sum();
        assert_eq!(leaves, 5000);
        assert!(parsed.iter().all(|g| g.group_id >> 12 == 7));
    }
}
