//! A node's desired flows and groups, as pure data computed from the cluster model.
//!
//! The flows of a node are made of [`Part`]s: the node's own pipeline skeleton, a route to
//! each other node, each local pod, each service. Every part is built alone ([`piece`]) with
//! the typed builders of [`build`], so a change recomputes only the parts it touched
//! ([`update`], [`touched_parts`]) and a node's full set ([`desired`]) is only needed at
//! first sync, on reconnect and for the audit. Nothing is stored per node: old flows are
//! recomputed from the old model. One builder per feature: [`node`] (the skeleton,
//! br-ex), [`pod`], [`tunnel`] (routes to other nodes), [`service`] (ClusterIP / NodePort).

pub mod build;
pub mod node;
pub mod pod;
pub mod service;
pub mod tunnel;

use std::collections::{BTreeMap, BTreeSet};

use openflow::{Flow, Group, Match};

use crate::model::{ClusterModel, NodeName, NodeSpec, PodName, ServiceName, Touched};

/// Identity of a flow in a table: what OpenFlow's strict match compares.
pub type FlowKey = (u8, u16, Match);

/// The flows and groups one bridge should have, in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowSet {
    /// Flows by identity.
    pub flows: BTreeMap<FlowKey, Flow>,
    /// Groups by id.
    pub groups: BTreeMap<u32, Group>,
}

fn key(f: &Flow) -> FlowKey {
    (f.table_id, f.priority, f.match_.clone())
}

impl FlowSet {
    /// Adds (or replaces) a flow.
    pub fn insert(&mut self, flow: Flow) {
        self.flows.insert(key(&flow), flow);
    }

    /// Adds (or replaces) a group.
    pub fn insert_group(&mut self, group: Group) {
        self.groups.insert(group.group_id, group);
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether there is no flow and no group.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty() && self.groups.is_empty()
    }
}

/// What the controller learned from a node's OVSDB that flows depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learned {
    /// br-int port number of each local pod's host veth (from `external_ids:switchyard-pod`).
    pub pod_ports: BTreeMap<PodName, u32>,
    /// br-ex port number of the node's uplink.
    pub uplink_port: Option<u32>,
}

/// Both bridges of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFlows {
    /// br-int.
    pub br_int: FlowSet,
    /// br-ex.
    pub br_ex: FlowSet,
}

/// One part of a node's flows; each is computed alone, from what it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// The node's own skeleton: tables' defaults, router and `yard0`, conntrack, br-ex.
    Node,
    /// The route to another node's pod subnet.
    Route(NodeName),
    /// A local pod.
    Pod(PodName),
    /// A service (its flows and groups are on every node).
    Service(ServiceName),
    /// The replies from one backend port (protocol, target port) of the services.
    Replies(switchyard_api::Protocol, u16),
}

/// What one part puts on a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Piece {
    /// br-int flows.
    pub br_int: Vec<Flow>,
    /// br-int groups.
    pub groups: Vec<Group>,
    /// br-ex flows.
    pub br_ex: Vec<Flow>,
    /// Matches the codec refused (a pipeline bug; tests assert there is none).
    pub invalid: Vec<String>,
}

impl Piece {
    /// A builder for br-int flows of `owner`.
    pub fn br_int(&mut self, owner: crate::pipeline::Owner) -> build::Builder<'_> {
        build::Builder {
            owner,
            out: &mut self.br_int,
            invalid: &mut self.invalid,
        }
    }

    /// A builder for br-ex flows of `owner`.
    pub fn br_ex(&mut self, owner: crate::pipeline::Owner) -> build::Builder<'_> {
        build::Builder {
            owner,
            out: &mut self.br_ex,
            invalid: &mut self.invalid,
        }
    }
}

/// What every builder of one node's flows reads.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The cluster.
    pub model: &'a ClusterModel,
    /// The node whose flows are built.
    pub node: &'a NodeSpec,
    /// Its subnet's addresses.
    pub addrs: crate::model::NodeAddrs,
    /// What its OVSDB told us.
    pub learned: &'a Learned,
}

impl<'a> Ctx<'a> {
    /// The context of `node`, if its index fits the cluster CIDR (always, for a model the
    /// store accepted).
    pub fn new(model: &'a ClusterModel, node: &'a NodeSpec, learned: &'a Learned) -> Option<Self> {
        Some(Ctx {
            model,
            node,
            addrs: model.node_addrs(node)?,
            learned,
        })
    }

    /// The owner of the node's own flows.
    pub fn owner(&self) -> crate::pipeline::Owner {
        crate::pipeline::Owner::Node(self.node.index)
    }

    /// The virtual router's MAC.
    pub fn router_mac(&self) -> switchyard_api::MacAddr {
        self.model.cluster.router_mac
    }
}

/// What `part` puts on `ctx.node`: empty when it does not concern the node (a pod elsewhere,
/// a pod whose port is not known yet, an object that is gone).
pub fn piece(ctx: &Ctx<'_>, part: &Part) -> Piece {
    let mut out = Piece::default();
    match part {
        Part::Node => node::flows(ctx, &mut out),
        Part::Route(name) => {
            if let Some(other) = ctx
                .model
                .nodes()
                .get(name)
                .filter(|o| o.name != ctx.node.name)
            {
                tunnel::flows(ctx, other, &mut out);
            }
        }
        Part::Pod(name) => {
            let pod = ctx
                .model
                .pods()
                .get(name)
                .filter(|p| p.node == ctx.node.name);
            if let (Some(pod), Some(&port)) = (pod, ctx.learned.pod_ports.get(name)) {
                pod::flows(ctx, pod, port, &mut out);
            }
        }
        Part::Service(name) => {
            if let Some(svc) = ctx.model.services().get(name) {
                service::flows(ctx, svc, &mut out);
            }
        }
        Part::Replies(protocol, port) => service::replies(ctx, (*protocol, *port), &mut out),
    }
    out
}

/// Every part `node` has.
pub fn parts(model: &ClusterModel, node: &NodeSpec) -> Vec<Part> {
    let mut out = vec![Part::Node];
    out.extend(
        model
            .nodes()
            .keys()
            .filter(|n| **n != node.name)
            .cloned()
            .map(Part::Route),
    );
    out.extend(model.pods_on(&node.name).map(|p| Part::Pod(p.name.clone())));
    out.extend(model.services().keys().cloned().map(Part::Service));
    out.extend(model.targets().map(|(p, port)| Part::Replies(p, port)));
    out
}

/// The parts of `node` that changed between `old` and `new`, given what the revisions between
/// them touched and what the node's OVSDB told before and after. `None`: recompute the node
/// in full (the node itself changed, or its uplink did).
pub fn touched_parts(
    old: &ClusterModel,
    new: &ClusterModel,
    node: &NodeName,
    touched: &Touched,
    old_learned: &Learned,
    new_learned: &Learned,
) -> Option<BTreeSet<Part>> {
    if touched.nodes.contains(node) || old_learned.uplink_port != new_learned.uplink_port {
        return None;
    }
    let mut parts: BTreeSet<Part> = touched.nodes.iter().cloned().map(Part::Route).collect();
    let here = |m: &ClusterModel, p: &PodName| m.pods().get(p).is_some_and(|p| &p.node == node);
    for p in &touched.pods {
        if here(old, p) || here(new, p) {
            parts.insert(Part::Pod(p.clone()));
        }
    }
    for s in &touched.services {
        parts.insert(Part::Service(s.clone()));
        for m in [old, new] {
            if let Some(svc) = m.services().get(s) {
                let (p, port) = svc.target();
                parts.insert(Part::Replies(p, port));
            }
        }
    }
    let (a, b) = (&old_learned.pod_ports, &new_learned.pod_ports);
    if a != b {
        let moved = |x: &BTreeMap<PodName, u32>, y: &BTreeMap<PodName, u32>| {
            x.iter()
                .filter(|(pod, port)| y.get(*pod) != Some(*port))
                .map(|(pod, _)| Part::Pod(pod.clone()))
                .collect::<Vec<_>>()
        };
        parts.extend(moved(a, b));
        parts.extend(moved(b, a));
    }
    Some(parts)
}

/// Whether a change that touched `touched` (from `old` to `new`) concerns node `node` at all.
/// Pods concern only their own node; nodes and services concern every node.
pub fn concerns(
    old: &ClusterModel,
    new: &ClusterModel,
    node: &NodeName,
    touched: &Touched,
) -> bool {
    concerned(old, new, touched).is_none_or(|nodes| nodes.contains(node))
}

/// The nodes a change that touched `touched` (from `old` to `new`) concerns; `None`: all of
/// them (a node or a service changed). Costs what the change touched.
pub fn concerned<'m>(
    old: &'m ClusterModel,
    new: &'m ClusterModel,
    touched: &Touched,
) -> Option<BTreeSet<&'m NodeName>> {
    if !touched.nodes.is_empty() || !touched.services.is_empty() {
        return None;
    }
    Some(
        touched
            .pods
            .iter()
            .flat_map(|p| [old, new].into_iter().filter_map(|m| m.pods().get(p)))
            .map(|p| &p.node)
            .collect(),
    )
}

/// The flows of the parts an update recomputed, before and after: what the switch must change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// The parts' flows as they were.
    pub old: NodeFlows,
    /// The parts' flows as they are now.
    pub new: NodeFlows,
}

/// The flows `parts` put on `ctx`'s node (a part that does not concern it, or whose object
/// is gone, puts none).
pub fn of_parts<'p>(ctx: &Ctx<'_>, parts: impl IntoIterator<Item = &'p Part>) -> NodeFlows {
    let mut out = NodeFlows::default();
    for part in parts {
        let p = piece(ctx, part);
        for f in p.br_int {
            out.br_int.insert(f);
        }
        for g in p.groups {
            out.br_int.insert_group(g);
        }
        for f in p.br_ex {
            out.br_ex.insert(f);
        }
    }
    out
}

/// What a change does to `parts` of a node: their flows in the old context and in the new.
///
/// Nothing is kept between changes: a part's flows are a pure function of the model, the
/// node and what its OVSDB told, so the old ones are recomputed from the old model (which the
/// reconciler holds anyway, sharing its structure with the new one) instead of being stored.
/// A node then costs no memory for its desired flows, whatever the cluster holds; its full
/// set ([`desired`]) is built only for a first sync, a reconnect and the audit. A flow that
/// passes from one part to another (a port number OVS gave a new pod after the old one left)
/// is in both sets and so is not sent at all.
pub fn update(old: &Ctx<'_>, new: &Ctx<'_>, parts: &BTreeSet<Part>) -> Update {
    Update {
        old: of_parts(old, parts),
        new: of_parts(new, parts),
    }
}

/// Everything `node` should have, computed from the model and what its OVSDB told us.
pub fn desired(model: &ClusterModel, node: &NodeSpec, learned: &Learned) -> NodeFlows {
    Ctx::new(model, node, learned)
        .map(|ctx| of_parts(&ctx, &parts(model, node)))
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use switchyard_api::{NewNode, NewPod, NewService};

    use crate::config::ClusterOverrides;
    use crate::model::ClusterModel;
    use crate::state::ClusterState;
    use crate::store::MemoryStore;

    /// A model with nodes `n1..=nodes` (192.168.56.11..) and `pods` pods per node (`p<node>-<i>`).
    pub fn model(nodes: u32, pods: u32) -> Arc<ClusterModel> {
        with_service(nodes, pods, &[])
    }

    /// [`model`] plus a NodePort service `web` (port 80 → 8080, node port 30080) whose
    /// backends are the pods named in `backends`.
    pub fn with_service(nodes: u32, pods: u32, backends: &[&str]) -> Arc<ClusterModel> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let state = ClusterState::open(
                Arc::new(MemoryStore::default()),
                &ClusterOverrides::default(),
            )
            .expect("state");
            for n in 1..=nodes {
                let ip = format!("192.168.56.{}", 10 + n);
                state
                    .add_node(NewNode {
                        name: format!("n{n}").parse().expect("name"),
                        ip: ip.parse().expect("ip"),
                        uplink: Some("eth1".into()),
                        datapath: None,
                    })
                    .await
                    .expect("node");
                for i in 0..pods {
                    state
                        .add_pod(NewPod {
                            name: format!("p{n}-{i}").parse().expect("name"),
                            node: format!("n{n}").parse().expect("name"),
                            netns: None,
                        })
                        .await
                        .expect("pod");
                }
            }
            if !backends.is_empty() {
                let mut svc = NewService::new("web".parse().expect("name"), 80);
                svc.target_port = Some(8080);
                svc.node_port = Some(30080);
                svc.backends = backends.iter().map(|b| b.parse().expect("name")).collect();
                state.add_service(svc).await.expect("service");
            }
            state.snapshot()
        })
    }

    /// Every pod of `node` with a port (10, 11, ...), and the uplink on port 1.
    pub fn learned_all(model: &ClusterModel, node: &crate::model::NodeSpec) -> super::Learned {
        let pod_ports = model
            .pods_on(&node.name)
            .enumerate()
            .map(|(i, p)| (p.name.clone(), 10 + i as u32))
            .collect();
        super::Learned {
            pod_ports,
            uplink_port: Some(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{learned_all, model, with_service};
    use super::*;
    use crate::model::NodeName;

    fn n(name: &str) -> NodeName {
        name.parse().unwrap()
    }

    #[test]
    fn every_builder_writes_flows_the_codec_accepts_and_no_two_parts_share_a_flow() {
        let m = with_service(3, 2, &["p1-0", "p2-1"]);
        for node in m.nodes().values() {
            let learned = learned_all(&m, node);
            let ctx = Ctx::new(&m, node, &learned).unwrap();
            let pieces: Vec<Piece> = parts(&m, node).iter().map(|p| piece(&ctx, p)).collect();
            let invalid: Vec<&String> = pieces.iter().flat_map(|p| &p.invalid).collect();
            assert!(invalid.is_empty(), "{invalid:#?}");
            let claimed: usize = pieces
                .iter()
                .map(|p| p.br_int.len() + p.groups.len() + p.br_ex.len())
                .sum();
            let f = desired(&m, node, &learned);
            assert!(
                f.br_int.len() > 20,
                "br-int has the pipeline: {}",
                f.br_int.len()
            );
            assert_eq!(
                claimed,
                f.br_int.len() + f.br_int.groups.len() + f.br_ex.len(),
                "two parts claim the same flow or group on {}",
                node.name
            );
        }
    }

    #[test]
    fn typed_flows_print_as_text_that_parses_back_to_them() {
        let m = with_service(2, 2, &["p1-0", "p2-1"]);
        let names = crate::pipeline::table_names();
        for node in m.nodes().values() {
            let d = desired(&m, node, &learned_all(&m, node));
            for f in d.br_int.flows.values().chain(d.br_ex.flows.values()) {
                let text = f.display_with(&names).to_string();
                let back =
                    Flow::parse_with(&text, &names).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(&back, f, "{text}");
                assert_eq!(back.cookie, f.cookie, "{text}");
            }
            for g in d.br_int.groups.values() {
                let text = g.to_string();
                let back =
                    Group::parse_with(&text, &names).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(&back, g, "{text}");
            }
        }
    }

    #[test]
    fn desired_state_is_a_pure_function_of_its_inputs() {
        let m = model(2, 3);
        let n1 = &m.nodes()[&n("n1")];
        let l = learned_all(&m, n1);
        assert_eq!(desired(&m, n1, &l), desired(&m, n1, &l));
    }

    #[test]
    fn a_pod_costs_the_same_flows_on_its_node_and_none_elsewhere() {
        let empty = Learned {
            uplink_port: Some(1),
            ..Learned::default()
        };
        let per_pod = |m: &ClusterModel, pods: usize| {
            let n1 = &m.nodes()[&n("n1")];
            (desired(m, n1, &learned_all(m, n1)).br_int.len() - desired(m, n1, &empty).br_int.len())
                / pods
        };
        let (small, big) = (model(2, 1), model(2, 100));
        assert_eq!(per_pod(&small, 1), per_pod(&big, 100));
        // Node 2's flows do not depend on node 1's pods.
        assert_eq!(
            desired(&small, &small.nodes()[&n("n2")], &empty)
                .br_int
                .len(),
            desired(&big, &big.nodes()[&n("n2")], &empty).br_int.len()
        );
    }

    #[test]
    fn another_node_costs_one_flow() {
        let (two, three) = (model(2, 0), model(3, 0));
        let empty = Learned::default();
        let n1 = |m: &ClusterModel| desired(m, &m.nodes()[&n("n1")], &empty).br_int.len();
        assert_eq!(n1(&three) - n1(&two), 1);
    }
}
