//! A node's desired flows and groups, as pure data computed from the cluster model.
//!
//! Builders write each flow as `ovs-ofctl` text — the form operators read in dumps and in the
//! docs — and the codec parses it into a canonical [`openflow::Flow`], so the diff against what
//! a switch reports compares values, not strings. One builder per feature:
//! [`node`] (the pipeline skeleton, br-ex), [`pod`], [`tunnel`] (routes to other nodes),
//! [`service`] (ClusterIP / NodePort).

pub mod node;
pub mod pod;
pub mod service;
pub mod tunnel;

use std::collections::{BTreeMap, HashMap};

use openflow::{Flow, Group, Match};

use crate::model::{ClusterModel, NodeSpec, PodName};
use crate::pipeline::{Owner, Table};

/// Identity of a flow in a table: what OpenFlow's strict match compares.
pub type FlowKey = (u8, u16, Match);

/// The flows and groups one bridge should have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowSet {
    /// Flows by identity.
    pub flows: HashMap<FlowKey, Flow>,
    /// Groups by id.
    pub groups: BTreeMap<u32, Group>,
    /// Builder texts the codec refused (a pipeline bug; tests assert there are none).
    pub invalid: Vec<String>,
}

impl FlowSet {
    /// Adds the flow `table=T, priority=P, cookie=<owner>, MATCH actions=ACTIONS`.
    pub fn push(
        &mut self,
        owner: Owner,
        table: Table,
        priority: u16,
        matches: &str,
        actions: &str,
    ) {
        let sep = if matches.is_empty() { "" } else { "," };
        let text = format!(
            "table={},priority={priority},cookie={:#x}{sep}{matches},actions={actions}",
            table.id(),
            owner.cookie()
        );
        match text.parse::<Flow>() {
            Ok(flow) => {
                let key = (flow.table_id, flow.priority, flow.match_.clone());
                self.flows.insert(key, flow);
            }
            Err(e) => {
                tracing::error!(flow = %text, error = %e, "pipeline bug: a flow builder wrote a flow the codec refuses");
                self.invalid.push(format!("{text}: {e}"));
            }
        }
    }

    /// Adds a group written as `ovs-ofctl add-group` text.
    pub fn push_group(&mut self, text: &str) {
        match text.parse::<Group>() {
            Ok(group) => {
                self.groups.insert(group.group_id, group);
            }
            Err(e) => {
                tracing::error!(group = %text, error = %e, "pipeline bug: a group builder wrote a group the codec refuses");
                self.invalid.push(format!("{text}: {e}"));
            }
        }
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

/// Everything `node` should have, computed from the model and what its OVSDB told us.
pub fn desired(model: &ClusterModel, node: &NodeSpec, learned: &Learned) -> NodeFlows {
    let mut out = NodeFlows::default();
    let Some(addrs) = model.node_addrs(node) else {
        return out;
    };
    let ctx = node::Ctx {
        model,
        node,
        addrs,
        router_mac: model.cluster.router_mac,
    };
    node::br_int(&ctx, &mut out.br_int);
    node::br_ex(&ctx, learned, &mut out.br_ex);
    for pod in model.pods_on(&node.name) {
        if let Some(&port) = learned.pod_ports.get(&pod.name) {
            pod::flows(&ctx, pod, port, &mut out.br_int);
        }
    }
    for other in model.nodes().values().filter(|o| o.name != node.name) {
        tunnel::flows(&ctx, other, &mut out.br_int);
    }
    service::flows(&ctx, learned, &mut out);
    out
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
}

#[cfg(test)]
mod tests {
    use super::testing::model;
    use super::*;

    fn learned_all(model: &ClusterModel, node: &NodeSpec) -> Learned {
        let pod_ports = model
            .pods_on(&node.name)
            .enumerate()
            .map(|(i, p)| (p.name.clone(), 10 + i as u32))
            .collect();
        Learned {
            pod_ports,
            uplink_port: Some(1),
        }
    }

    #[test]
    fn every_builder_writes_flows_the_codec_accepts() {
        let m = model(3, 2);
        for node in m.nodes().values() {
            let d = desired(&m, node, &learned_all(&m, node));
            assert!(d.br_int.invalid.is_empty(), "{:#?}", d.br_int.invalid);
            assert!(d.br_ex.invalid.is_empty(), "{:#?}", d.br_ex.invalid);
            assert!(
                d.br_int.len() > 20,
                "br-int has the pipeline: {}",
                d.br_int.len()
            );
        }
    }

    #[test]
    fn desired_state_is_a_pure_function_of_its_inputs() {
        let m = model(2, 3);
        let n1 = &m.nodes()[&"n1".parse::<crate::model::NodeName>().unwrap()];
        let l = learned_all(&m, n1);
        assert_eq!(desired(&m, n1, &l), desired(&m, n1, &l));
    }

    #[test]
    fn a_pod_costs_the_same_flows_on_its_node_and_none_elsewhere() {
        let small = model(2, 1);
        let big = model(2, 100);
        let n1 = &small.nodes()[&"n1".parse::<crate::model::NodeName>().unwrap()];
        let per_pod_small = desired(&small, n1, &learned_all(&small, n1)).br_int.len()
            - desired(
                &small,
                n1,
                &Learned {
                    uplink_port: Some(1),
                    ..Learned::default()
                },
            )
            .br_int
            .len();
        let n1b = &big.nodes()[&"n1".parse::<crate::model::NodeName>().unwrap()];
        let per_pod_big = (desired(&big, n1b, &learned_all(&big, n1b)).br_int.len()
            - desired(
                &big,
                n1b,
                &Learned {
                    uplink_port: Some(1),
                    ..Learned::default()
                },
            )
            .br_int
            .len())
            / 100;
        assert_eq!(per_pod_small, per_pod_big);
        // Node 2's flows do not depend on node 1's pods.
        let n2 = &small.nodes()[&"n2".parse::<crate::model::NodeName>().unwrap()];
        let n2b = &big.nodes()[&"n2".parse::<crate::model::NodeName>().unwrap()];
        let empty = Learned {
            uplink_port: Some(1),
            ..Learned::default()
        };
        assert_eq!(
            desired(&small, n2, &empty).br_int.len(),
            desired(&big, n2b, &empty).br_int.len()
        );
    }
}
