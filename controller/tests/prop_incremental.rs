//! The incremental desired state equals the full recomputation: after any sequence of model
//! changes (nodes, pods, services, backends) and of ports learned from OVSDB, every node's
//! flows, updated part by part, equal what [`flows::desired`] computes from scratch; the change
//! sent to the switch turns the old set into the new one; and a change that does not concern
//! a node changes nothing there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use controller::flows::{self, Ctx, FlowSet, Learned, NodeFlows};
use controller::model::{
    ClusterModel, NodeName, NodeSpec, PodName, PodSpec, ServiceName, ServiceSpec,
};
use proptest::prelude::*;
use switchyard_api::{Cluster, Datapath, Protocol, ServiceId, ServiceType};

#[derive(Debug, Clone)]
enum Op {
    AddNode(u32),
    RemoveNode(u32),
    AddPod(u32, u32, Option<u32>),
    RemovePod(u32, u32),
    SetPort(u32, u32, Option<u32>),
    AddService(u32, bool, Vec<(u32, u32)>),
    RemoveService(u32),
    SetBackends(u32, Vec<(u32, u32)>),
    Uplink(u32, Option<u32>),
}

fn op() -> impl Strategy<Value = Op> {
    let node = 1u32..5;
    let pod = (1u32..5, 0u32..4);
    let backends = prop::collection::vec(pod.clone(), 0..4);
    prop_oneof![
        3 => node.clone().prop_map(Op::AddNode),
        1 => node.clone().prop_map(Op::RemoveNode),
        4 => (pod.clone(), prop::option::of(10u32..14)).prop_map(|((n, i), p)| Op::AddPod(n, i, p)),
        2 => pod.clone().prop_map(|(n, i)| Op::RemovePod(n, i)),
        2 => (pod.clone(), prop::option::of(10u32..14)).prop_map(|((n, i), p)| Op::SetPort(n, i, p)),
        2 => (1u32..4, any::<bool>(), backends.clone()).prop_map(|(s, np, b)| Op::AddService(s, np, b)),
        1 => (1u32..4).prop_map(Op::RemoveService),
        2 => (1u32..4, backends).prop_map(|(s, b)| Op::SetBackends(s, b)),
        1 => (node, prop::option::of(1u32..3)).prop_map(|(n, u)| Op::Uplink(n, u)),
    ]
}

fn nn(k: u32) -> NodeName {
    format!("n{k}").parse().unwrap()
}
fn pn(k: u32, i: u32) -> PodName {
    format!("p{k}-{i}").parse().unwrap()
}
fn sn(s: u32) -> ServiceName {
    format!("s{s}").parse().unwrap()
}

/// The cluster and what each node's OVSDB reports.
struct World {
    model: ClusterModel,
    learned: BTreeMap<NodeName, Learned>,
}

impl World {
    fn apply(&mut self, op: &Op) {
        let m = &mut self.model;
        match op.clone() {
            Op::AddNode(k) if !m.nodes().contains_key(&nn(k)) => {
                m.insert_node(NodeSpec {
                    name: nn(k),
                    ip: Ipv4Addr::new(192, 168, 56, 10 + k as u8),
                    index: k,
                    uplink: Some("eth1".into()),
                    datapath: Datapath::Netdev,
                });
                self.learned.insert(
                    nn(k),
                    Learned {
                        uplink_port: Some(1),
                        ..Learned::default()
                    },
                );
            }
            Op::RemoveNode(k) if m.nodes().contains_key(&nn(k)) => {
                let pods: Vec<PodName> = m.pods_on(&nn(k)).map(|p| p.name.clone()).collect();
                for p in &pods {
                    m.remove_pod(p);
                    drop_backend(m, p);
                }
                m.remove_node(&nn(k));
                self.learned.remove(&nn(k));
            }
            Op::AddPod(k, i, port)
                if m.nodes().contains_key(&nn(k)) && !m.pods().contains_key(&pn(k, i)) =>
            {
                m.insert_pod(PodSpec {
                    name: pn(k, i),
                    node: nn(k),
                    ip: Ipv4Addr::new(10, 244, k as u8, 3 + i as u8),
                    netns: format!("yp-{}", pn(k, i)),
                });
                set_port(&mut self.learned, k, i, port);
            }
            Op::RemovePod(k, i) if m.pods().contains_key(&pn(k, i)) => {
                m.remove_pod(&pn(k, i));
                drop_backend(m, &pn(k, i));
                set_port(&mut self.learned, k, i, None);
            }
            Op::SetPort(k, i, port) if m.pods().contains_key(&pn(k, i)) => {
                set_port(&mut self.learned, k, i, port)
            }
            Op::AddService(s, nodeport, backends) if !m.services().contains_key(&sn(s)) => {
                let backends = existing(m, &backends);
                m.insert_service(ServiceSpec {
                    name: sn(s),
                    id: ServiceId(s),
                    protocol: if s % 2 == 0 {
                        Protocol::Udp
                    } else {
                        Protocol::Tcp
                    },
                    service_type: if nodeport {
                        ServiceType::NodePort
                    } else {
                        ServiceType::ClusterIp
                    },
                    port: 80,
                    target_port: 8080,
                    cluster_ip: Ipv4Addr::new(10, 96, 0, s as u8),
                    node_port: nodeport.then_some(30000 + s as u16),
                    backends,
                });
            }
            Op::RemoveService(s) => {
                m.remove_service(&sn(s));
            }
            Op::SetBackends(s, backends) => {
                let backends = existing(m, &backends);
                m.update_service(&sn(s), |svc| svc.backends = backends);
            }
            Op::Uplink(k, port) => {
                if let Some(l) = self.learned.get_mut(&nn(k)) {
                    l.uplink_port = port;
                }
            }
            _ => {}
        }
    }
}

/// Gives pod `i` of node `k` br-int port `port` (or none), unless another pod has it: OVS
/// never gives two interfaces one number, but reuses a number once its interface is gone.
fn set_port(learned: &mut BTreeMap<NodeName, Learned>, k: u32, i: u32, port: Option<u32>) {
    if let Some(l) = learned.get_mut(&nn(k)) {
        if port.is_some_and(|p| l.pod_ports.iter().any(|(q, n)| *n == p && *q != pn(k, i))) {
            return;
        }
        match port {
            Some(p) => l.pod_ports.insert(pn(k, i), p),
            None => l.pod_ports.remove(&pn(k, i)),
        };
    }
}

fn existing(m: &ClusterModel, pods: &[(u32, u32)]) -> BTreeSet<PodName> {
    pods.iter()
        .map(|(k, i)| pn(*k, *i))
        .filter(|p| m.pods().contains_key(p))
        .collect()
}

fn drop_backend(m: &mut ClusterModel, pod: &PodName) {
    let hit: Vec<ServiceName> = m
        .services()
        .values()
        .filter(|s| s.backends.contains(pod))
        .map(|s| s.name.clone())
        .collect();
    for s in hit {
        m.update_service(&s, |svc| {
            svc.backends.remove(pod);
        });
    }
}

/// `have` after removing what `old` lists and adding what `new` lists: what a switch holds
/// after the update's diff.
fn applied(have: &FlowSet, old: &FlowSet, new: &FlowSet) -> FlowSet {
    let mut out = have.clone();
    for k in old.flows.keys() {
        out.flows.remove(k);
    }
    for id in old.groups.keys() {
        out.groups.remove(id);
    }
    out.flows.extend(new.flows.clone());
    out.groups.extend(new.groups.clone());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn incremental_desired_state_equals_the_full_recomputation(
        steps in prop::collection::vec(prop::collection::vec(op(), 1..4), 1..25)
    ) {
        let mut world = World { model: ClusterModel::new(Cluster::default()), learned: BTreeMap::new() };
        // What each node's OVSDB told at the previous step.
        let mut kept: BTreeMap<NodeName, Learned> = BTreeMap::new();
        for batch in &steps {
            let old = world.model.clone();
            for op in batch {
                world.apply(op);
            }
            world.model.revision += 1;
            let touched = world.model.take_touched();
            let new = &world.model;
            kept.retain(|n, _| new.nodes().contains_key(n));
            for node in new.nodes().values() {
                let learned = world.learned[&node.name].clone();
                let full = flows::desired(new, node, &learned);
                let (Some(old_learned), Some(old_node)) = (kept.get_mut(&node.name), old.nodes().get(&node.name)) else {
                    kept.insert(node.name.clone(), learned);
                    continue;
                };
                let before: NodeFlows = flows::desired(&old, old_node, old_learned);
                let parts = flows::touched_parts(&old, new, &node.name, &touched, old_learned, &learned);
                if !flows::concerns(&old, new, &node.name, &touched) && *old_learned == learned {
                    prop_assert_eq!(&full, &before, "a change that does not concern {} changed it", node.name);
                }
                if let Some(parts) = parts {
                    let old_ctx = Ctx::new(&old, old_node, old_learned).unwrap();
                    let ctx = Ctx::new(new, node, &learned).unwrap();
                    let u = flows::update(&old_ctx, &ctx, &parts);
                    prop_assert_eq!(&applied(&before.br_int, &u.old.br_int, &u.new.br_int), &full.br_int, "node {} after {:?}", node.name, batch);
                    prop_assert_eq!(&applied(&before.br_ex, &u.old.br_ex, &u.new.br_ex), &full.br_ex, "node {} after {:?}", node.name, batch);
                }
                *old_learned = learned;
            }
        }
    }
}
