//! The cluster's desired state as plain data: what the store persists and what the reconcilers
//! read. Addresses that follow from others (node subnet, router and `yard0` addresses, MACs) are
//! derived here, never stored, so they cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use imbl::{OrdMap, OrdSet};

use serde::{Deserialize, Serialize};
use switchyard_api::{
    Backend, Cluster, Datapath, Ipv4Cidr, MacAddr, Node, NodeStatus, Pod, PodStatus, Protocol,
    Service, ServiceType,
};

pub use switchyard_api::{NodeName, PodName, ServiceId, ServiceName};

use crate::{config, ipam};

/// A node as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// The node's name.
    pub name: NodeName,
    /// Underlay address (OVSDB `tcp:IP:6640`, Geneve `remote_ip`).
    pub ip: Ipv4Addr,
    /// K: the node subnet is the K-th `/node_prefix_len` of the cluster CIDR (K ≥ 1).
    pub index: u32,
    /// NIC attached to br-ex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// Datapath type of the node's bridges.
    pub datapath: Datapath,
}

/// A pod as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSpec {
    /// The pod's name.
    pub name: PodName,
    /// The node it runs on.
    pub node: NodeName,
    /// Its address inside the node subnet.
    pub ip: Ipv4Addr,
    /// A name under `/run/netns` or an absolute path.
    pub netns: String,
}

/// A service as stored. Its backends are pod names; [`ClusterModel::backends_of`] resolves
/// them to addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// The service's name.
    pub name: ServiceName,
    /// Its stable number (1..=0xFFFFF), unique among the services; the data plane's group ids
    /// and cookies carry it.
    pub id: ServiceId,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// NodePort or ClusterIP.
    #[serde(rename = "type")]
    pub service_type: ServiceType,
    /// The port on the ClusterIP (≥ 1).
    pub port: u16,
    /// The port on the backends (≥ 1).
    pub target_port: u16,
    /// From the service CIDR, unique.
    pub cluster_ip: Ipv4Addr,
    /// NodePort services only: the port on every node's IP, unique cluster-wide, in
    /// [`ipam::NODE_PORTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
    /// The pods that serve it; each exists (removing a pod removes it here too).
    #[serde(default)]
    pub backends: BTreeSet<PodName>,
}

impl ServiceSpec {
    /// Where its backends listen: (protocol, target port).
    pub fn target(&self) -> (Protocol, u16) {
        (self.protocol, self.target_port)
    }
}

/// The addresses a node's subnet defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddrs {
    /// The node's pod subnet.
    pub subnet: Ipv4Cidr,
    /// `.1`, the virtual router (answered by OpenFlow rules).
    pub router_ip: Ipv4Addr,
    /// `.2`, the host's management port `yard0`.
    pub mgmt_ip: Ipv4Addr,
    /// MAC of `yard0`, derived from `mgmt_ip`.
    pub mgmt_mac: MacAddr,
}

/// The names a change touched: added, removed or modified nodes, pods and services. The
/// reconcilers turn them into the owners whose flows to recompute, on the nodes concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Nodes added, removed or changed.
    pub nodes: BTreeSet<NodeName>,
    /// Pods added, removed or changed.
    pub pods: BTreeSet<PodName>,
    /// Services added, removed or changed (their backends included).
    pub services: BTreeSet<ServiceName>,
}

impl Touched {
    /// Adds everything `other` touched.
    pub fn merge(&mut self, other: &Touched) {
        self.nodes.extend(other.nodes.iter().cloned());
        self.pods.extend(other.pods.iter().cloned());
        self.services.extend(other.services.iter().cloned());
    }

    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pods.is_empty() && self.services.is_empty()
    }
}

/// The whole desired state at one revision. Immutable once published by
/// [`ClusterState`](crate::state::ClusterState); readers hold it in an `Arc`.
///
/// The maps are persistent (`imbl`): a copy shares its structure with the original, so a
/// change costs what it touches, not what the cluster holds. They change only through the
/// methods here, which keep the indexes (pods by node, services by id) and record what a
/// change [`touched`](Self::touched).
#[derive(Debug, Clone)]
pub struct ClusterModel {
    /// Increases by one with every committed change.
    pub revision: u64,
    /// Cluster-wide settings (fixed once the cluster exists).
    pub cluster: Cluster,
    nodes: OrdMap<NodeName, NodeSpec>,
    pods: OrdMap<PodName, PodSpec>,
    services: OrdMap<ServiceName, ServiceSpec>,
    pods_by_node: OrdMap<NodeName, OrdSet<PodName>>,
    service_ids: OrdMap<ServiceId, ServiceName>,
    services_by_target: OrdMap<(Protocol, u16), OrdSet<ServiceName>>,
    touched: Touched,
}

/// Models are equal when their contents are; what the last change touched does not count.
impl PartialEq for ClusterModel {
    fn eq(&self, other: &Self) -> bool {
        self.revision == other.revision
            && self.cluster == other.cluster
            && self.nodes == other.nodes
            && self.pods == other.pods
            && self.services == other.services
    }
}

impl Eq for ClusterModel {}

impl ClusterModel {
    /// An empty cluster at revision 0.
    pub fn new(cluster: Cluster) -> Self {
        ClusterModel {
            revision: 0,
            cluster,
            nodes: OrdMap::new(),
            pods: OrdMap::new(),
            services: OrdMap::new(),
            pods_by_node: OrdMap::new(),
            service_ids: OrdMap::new(),
            services_by_target: OrdMap::new(),
            touched: Touched::default(),
        }
    }

    /// Nodes by name.
    pub fn nodes(&self) -> &OrdMap<NodeName, NodeSpec> {
        &self.nodes
    }

    /// Pods by name.
    pub fn pods(&self) -> &OrdMap<PodName, PodSpec> {
        &self.pods
    }

    /// Services by name.
    pub fn services(&self) -> &OrdMap<ServiceName, ServiceSpec> {
        &self.services
    }

    /// What changed since the last [`take_touched`](Self::take_touched); for a published
    /// model, what the change that made it touched.
    pub fn touched(&self) -> &Touched {
        &self.touched
    }

    /// Returns what changed and starts recording afresh.
    pub fn take_touched(&mut self) -> Touched {
        std::mem::take(&mut self.touched)
    }

    /// Adds or replaces a node; returns the one it replaced.
    pub fn insert_node(&mut self, node: NodeSpec) -> Option<NodeSpec> {
        self.touched.nodes.insert(node.name.clone());
        self.nodes.insert(node.name.clone(), node)
    }

    /// Removes a node (not its pods: remove those first).
    pub fn remove_node(&mut self, name: &NodeName) -> Option<NodeSpec> {
        let node = self.nodes.remove(name)?;
        self.touched.nodes.insert(name.clone());
        Some(node)
    }

    /// Adds or replaces a pod; returns the one it replaced.
    pub fn insert_pod(&mut self, pod: PodSpec) -> Option<PodSpec> {
        let old = self.remove_pod(&pod.name);
        self.touched.pods.insert(pod.name.clone());
        self.pods_by_node
            .entry(pod.node.clone())
            .or_default()
            .insert(pod.name.clone());
        self.pods.insert(pod.name.clone(), pod);
        old
    }

    /// Removes a pod (not from the services that have it as a backend).
    pub fn remove_pod(&mut self, name: &PodName) -> Option<PodSpec> {
        let pod = self.pods.remove(name)?;
        self.touched.pods.insert(name.clone());
        if let Some(on_node) = self.pods_by_node.get_mut(&pod.node) {
            on_node.remove(name);
            if on_node.is_empty() {
                self.pods_by_node.remove(&pod.node);
            }
        }
        Some(pod)
    }

    /// Adds or replaces a service; returns the one it replaced.
    pub fn insert_service(&mut self, svc: ServiceSpec) -> Option<ServiceSpec> {
        let old = self.remove_service(&svc.name);
        self.touched.services.insert(svc.name.clone());
        self.service_ids.insert(svc.id, svc.name.clone());
        self.services_by_target
            .entry(svc.target())
            .or_default()
            .insert(svc.name.clone());
        self.services.insert(svc.name.clone(), svc);
        old
    }

    /// Removes a service.
    pub fn remove_service(&mut self, name: &ServiceName) -> Option<ServiceSpec> {
        let svc = self.services.remove(name)?;
        self.touched.services.insert(name.clone());
        self.service_ids.remove(&svc.id);
        if let Some(same) = self.services_by_target.get_mut(&svc.target()) {
            same.remove(name);
            if same.is_empty() {
                self.services_by_target.remove(&svc.target());
            }
        }
        Some(svc)
    }

    /// Changes a service with `f` (which must keep its name); `None` if there is no such
    /// service.
    pub fn update_service<T>(
        &mut self,
        name: &ServiceName,
        f: impl FnOnce(&mut ServiceSpec) -> T,
    ) -> Option<T> {
        let mut svc = self.services.get(name)?.clone();
        let out = f(&mut svc);
        debug_assert_eq!(&svc.name, name, "update_service renamed a service");
        self.insert_service(svc);
        Some(out)
    }

    /// The backends' ports the services forward to, as (protocol, target port), each once.
    pub fn targets(&self) -> impl Iterator<Item = (Protocol, u16)> + '_ {
        self.services_by_target.keys().copied()
    }

    /// Whether some service forwards to `port` of `protocol` on its backends.
    pub fn has_target(&self, target: (Protocol, u16)) -> bool {
        self.services_by_target.contains_key(&target)
    }

    /// The subnet of node index `index`, if the cluster CIDR has it.
    pub fn node_subnet(&self, index: u32) -> Option<Ipv4Cidr> {
        self.cluster
            .cluster_cidr
            .subnet(self.cluster.node_prefix_len, u64::from(index))
    }

    /// The addresses of `node`'s subnet, if its index fits the cluster CIDR (always true for a
    /// model the store accepted).
    pub fn node_addrs(&self, node: &NodeSpec) -> Option<NodeAddrs> {
        let subnet = self.node_subnet(node.index)?;
        let router_ip = subnet.host(1)?;
        let mgmt_ip = subnet.host(2)?;
        Some(NodeAddrs {
            subnet,
            router_ip,
            mgmt_ip,
            mgmt_mac: MacAddr::from_ipv4(mgmt_ip),
        })
    }

    /// The pods on `node`, by name (from an index: the cluster's other pods cost nothing).
    pub fn pods_on<'a>(&'a self, node: &NodeName) -> impl Iterator<Item = &'a PodSpec> + 'a {
        self.pods_by_node
            .get(node)
            .into_iter()
            .flat_map(|names| names.iter())
            .filter_map(|name| self.pods.get(name))
    }

    /// Why `ip` cannot be a node address of this cluster, if it cannot.
    pub fn node_ip_problem(&self, ip: Ipv4Addr) -> Option<String> {
        let c = &self.cluster;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Some(format!("{ip} is not a unicast address"));
        }
        if c.cluster_cidr.contains(ip) {
            return Some(format!(
                "{ip} is inside the cluster CIDR {}; node addresses must be outside the pod network",
                c.cluster_cidr
            ));
        }
        if c.service_cidr.contains(ip) {
            return Some(format!(
                "{ip} is inside the service CIDR {}; node addresses must be outside it",
                c.service_cidr
            ));
        }
        None
    }

    /// Checks the invariants every committed model keeps: valid settings, node indices and IPs
    /// unique and in range, every pod on a known node with a unique address of that node's
    /// pod range.
    ///
    /// # Errors
    /// The first broken invariant, naming the object.
    pub fn check(&self) -> Result<(), String> {
        config::validate(&self.cluster).map_err(|e| e.to_string())?;
        let mut indices = BTreeMap::new();
        let mut ips = BTreeMap::new();
        for (name, node) in &self.nodes {
            if &node.name != name {
                return Err(format!("node {} is filed under {name}", node.name));
            }
            if node.index == 0 || self.node_subnet(node.index).is_none() {
                return Err(format!(
                    "node {name}: index {} is outside the cluster CIDR",
                    node.index
                ));
            }
            if let Some(other) = indices.insert(node.index, name) {
                return Err(format!(
                    "nodes {other} and {name} share index {}",
                    node.index
                ));
            }
            if let Some(other) = ips.insert(node.ip, name) {
                return Err(format!("nodes {other} and {name} share IP {}", node.ip));
            }
            if let Some(problem) = self.node_ip_problem(node.ip) {
                return Err(format!("node {name}: {problem}"));
            }
        }
        let mut pod_ips = BTreeMap::new();
        for (name, pod) in &self.pods {
            if &pod.name != name {
                return Err(format!("pod {} is filed under {name}", pod.name));
            }
            let node = self
                .nodes
                .get(&pod.node)
                .ok_or_else(|| format!("pod {name} is on unknown node {}", pod.node))?;
            let subnet = self
                .node_subnet(node.index)
                .unwrap_or(self.cluster.cluster_cidr);
            if !ipam::is_pod_address(&subnet, pod.ip) {
                return Err(format!(
                    "pod {name}: {} is not a pod address of node {} ({subnet})",
                    pod.ip, pod.node
                ));
            }
            if let Some(other) = pod_ips.insert(pod.ip, name) {
                return Err(format!("pods {other} and {name} share IP {}", pod.ip));
            }
        }
        self.check_services()
    }

    fn check_services(&self) -> Result<(), String> {
        let mut ids = BTreeMap::new();
        let mut cluster_ips = BTreeMap::new();
        let mut node_ports = BTreeMap::new();
        for (name, svc) in &self.services {
            if &svc.name != name {
                return Err(format!("service {} is filed under {name}", svc.name));
            }
            if !svc.id.is_valid() {
                return Err(format!(
                    "service {name}: id {} is outside {}..={}",
                    svc.id,
                    ServiceId::MIN,
                    ServiceId::MAX
                ));
            }
            if let Some(other) = ids.insert(svc.id, name) {
                return Err(format!("services {other} and {name} share id {}", svc.id));
            }
            if let Some(problem) = service_ports_problem(svc.port, svc.target_port) {
                return Err(format!("service {name}: {problem}"));
            }
            if !ipam::is_cluster_ip(&self.cluster.service_cidr, svc.cluster_ip) {
                return Err(format!(
                    "service {name}: {} is not a ClusterIP of the service CIDR {}",
                    svc.cluster_ip, self.cluster.service_cidr
                ));
            }
            if let Some(other) = cluster_ips.insert(svc.cluster_ip, name) {
                return Err(format!(
                    "services {other} and {name} share ClusterIP {}",
                    svc.cluster_ip
                ));
            }
            match (svc.service_type, svc.node_port) {
                (ServiceType::NodePort, Some(port)) => {
                    if !ipam::NODE_PORTS.contains(&port) {
                        return Err(format!(
                            "service {name}: node port {port} is outside {}",
                            ipam::node_port_range()
                        ));
                    }
                    if let Some(other) = node_ports.insert(port, name) {
                        return Err(format!(
                            "services {other} and {name} share node port {port}"
                        ));
                    }
                }
                (ServiceType::NodePort, None) => {
                    return Err(format!(
                        "service {name}: NodePort service without a node port"
                    ))
                }
                (ServiceType::ClusterIp, Some(port)) => {
                    return Err(format!(
                        "service {name}: ClusterIP service with node port {port}"
                    ))
                }
                (ServiceType::ClusterIp, None) => {}
            }
            if let Some(pod) = svc.backends.iter().find(|p| !self.pods.contains_key(*p)) {
                return Err(format!("service {name}: backend pod {pod} does not exist"));
            }
        }
        Ok(())
    }

    /// The backends of `service`, resolved: each pod with its node, IP and the service's
    /// target port, in pod-name order. This is what the data plane programs.
    pub fn backends_of(&self, service: &ServiceSpec) -> Vec<Backend> {
        service
            .backends
            .iter()
            .filter_map(|name| self.pods.get(name))
            .map(|pod| Backend {
                pod: pod.name.clone(),
                node: pod.node.clone(),
                ip: pod.ip,
                port: service.target_port,
            })
            .collect()
    }

    /// Every service with its resolved backends ([`backends_of`](Self::backends_of)), by name.
    pub fn service_backends(&self) -> impl Iterator<Item = (&ServiceSpec, Vec<Backend>)> + '_ {
        self.services
            .values()
            .map(move |svc| (svc, self.backends_of(svc)))
    }

    /// The service with this id (e.g. read back from a cookie or group id).
    pub fn service_by_id(&self, id: ServiceId) -> Option<&ServiceSpec> {
        self.services.get(self.service_ids.get(&id)?)
    }

    /// The services that have `pod` as a backend.
    pub fn services_of<'a>(
        &'a self,
        pod: &'a PodName,
    ) -> impl Iterator<Item = &'a ServiceSpec> + 'a {
        self.services
            .values()
            .filter(move |s| s.backends.contains(pod))
    }

    /// `service` in API form.
    pub fn api_service(&self, service: &ServiceSpec) -> Service {
        Service {
            name: service.name.clone(),
            id: service.id,
            protocol: service.protocol,
            service_type: service.service_type,
            port: service.port,
            target_port: service.target_port,
            cluster_ip: service.cluster_ip,
            node_port: service.node_port,
            backends: self.backends_of(service),
        }
    }

    /// `node` in API form with `status`.
    pub fn api_node(&self, node: &NodeSpec, status: NodeStatus) -> Option<Node> {
        let a = self.node_addrs(node)?;
        Some(Node {
            name: node.name.clone(),
            ip: node.ip,
            index: node.index,
            subnet: a.subnet,
            router_ip: a.router_ip,
            mgmt_ip: a.mgmt_ip,
            mgmt_mac: a.mgmt_mac,
            uplink: node.uplink.clone(),
            datapath: node.datapath,
            status,
        })
    }

    /// `pod` in API form with `status`.
    pub fn api_pod(&self, pod: &PodSpec, status: PodStatus) -> Option<Pod> {
        let node = self.nodes.get(&pod.node)?;
        let a = self.node_addrs(node)?;
        Some(Pod {
            name: pod.name.clone(),
            node: pod.node.clone(),
            ip: pod.ip,
            prefix_len: a.subnet.prefix_len(),
            mac: MacAddr::from_ipv4(pod.ip),
            gateway: a.router_ip,
            mtu: self.cluster.mtu,
            netns: pod.netns.clone(),
            status,
        })
    }
}

/// Why `port`/`target_port` cannot be a service's ports, if they cannot (0 is no port).
pub fn service_ports_problem(port: u16, target_port: u16) -> Option<String> {
    if port == 0 {
        return Some("port 0 is not a port; use 1..=65535".into());
    }
    if target_port == 0 {
        return Some(
            "target_port 0 is not a port; use 1..=65535 (or leave it out: it defaults to port)"
                .into(),
        );
    }
    None
}
