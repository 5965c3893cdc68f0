//! The v1 JSON types of `docs/API.md`, field for field.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::net::{Ipv4Cidr, MacAddr};

/// Why a name was refused (names follow DNS labels: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name {name:?}: {reason}")]
pub struct NameError {
    /// `node`, `pod` or `service`.
    pub kind: &'static str,
    /// The refused text.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks a name against the API's rule; `kind` names the object in the error.
pub fn validate_name(kind: &'static str, name: &str) -> Result<(), NameError> {
    let fail = |reason| {
        Err(NameError {
            kind,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("must not be empty");
    }
    if name.len() > 63 {
        return fail("must be at most 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return fail("only lowercase letters, digits and '-' are allowed");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return fail("must start and end with a letter or digit");
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name` (see [`validate_name`]).
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate_name($kind, &name)?;
                Ok($ty(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                $ty::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A node's name, validated.
    NodeName,
    "node"
);
name_type!(
    /// A pod's name, validated.
    PodName,
    "pod"
);
name_type!(
    /// A service's name, validated.
    ServiceName,
    "service"
);

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` when the controller answers.
    pub status: String,
    /// The cluster state's current revision.
    pub revision: u64,
}

/// `GET /v1/cluster`: the cluster-wide network settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Pod addresses of all nodes come from here (default `10.244.0.0/16`).
    pub cluster_cidr: Ipv4Cidr,
    /// Prefix length of each node's pod subnet (default 24).
    pub node_prefix_len: u8,
    /// MTU of pod interfaces and `yard0` (default 1400: room for Geneve).
    pub mtu: u16,
    /// MAC of the virtual router `.1` of every node subnet (default `0a:58:0a:f4:00:01`).
    pub router_mac: MacAddr,
    /// Service addresses (default `10.96.0.0/16`); must not overlap the cluster CIDR.
    pub service_cidr: Ipv4Cidr,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            cluster_cidr: Ipv4Cidr::new(Ipv4Addr::new(10, 244, 0, 0), 16).expect("valid literal"),
            node_prefix_len: 24,
            mtu: 1400,
            router_mac: MacAddr([0x0a, 0x58, 0x0a, 0xf4, 0x00, 0x01]),
            service_cidr: Ipv4Cidr::new(Ipv4Addr::new(10, 96, 0, 0), 16).expect("valid literal"),
        }
    }
}

/// The Open vSwitch datapath a node's bridges use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datapath {
    /// Userspace datapath (`datapath_type=netdev`), what the lab uses.
    #[default]
    Netdev,
    /// Kernel datapath (`datapath_type=system`).
    System,
}

impl Datapath {
    /// The OVSDB `datapath_type` value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Datapath::Netdev => "netdev",
            Datapath::System => "system",
        }
    }
}

impl fmt::Display for Datapath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Datapath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "netdev" => Ok(Datapath::Netdev),
            "system" => Ok(Datapath::System),
            other => Err(format!(
                "unknown datapath {other:?}: expected netdev or system"
            )),
        }
    }
}

/// `POST /v1/nodes` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    /// The node's name.
    pub name: NodeName,
    /// The node's underlay address (OVSDB at `tcp:IP:6640`, Geneve endpoint).
    pub ip: Ipv4Addr,
    /// The NIC to attach to br-ex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// Datapath type; `netdev` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<Datapath>,
}

/// State of the controller's OVSDB session to a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OvsdbState {
    /// Session up and monitored.
    Connected,
    /// Not (yet) connected; retrying.
    #[default]
    Connecting,
    /// Connected but something failed; see `reason`.
    Error,
}

/// State of a node's OpenFlow connection to the controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenflowState {
    /// The node's br-int is connected.
    Connected,
    /// No switch connection.
    #[default]
    Disconnected,
}

/// Runtime status of a node, set by its reconciler (not persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// OVSDB session state.
    pub ovsdb: OvsdbState,
    /// OpenFlow connection state.
    pub openflow: OpenflowState,
    /// Why the state is what it is, when not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Number of flows installed on the node's br-int, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<u64>,
    /// The newest revision that concerned the node whose flows its switches acknowledged (a
    /// barrier after the bundle). Revisions that do not concern the node (a pod elsewhere) do
    /// not move it; a service or node change concerns every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<u64>,
}

/// A node as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The node's name.
    pub name: NodeName,
    /// Underlay address.
    pub ip: Ipv4Addr,
    /// K: the node's subnet is the K-th node subnet of the cluster CIDR (from 1).
    pub index: u32,
    /// The node's pod subnet, e.g. `10.244.K.0/24`.
    pub subnet: Ipv4Cidr,
    /// `.1`: the virtual router (OpenFlow rules only).
    pub router_ip: Ipv4Addr,
    /// `.2`: the host's management port `yard0`.
    pub mgmt_ip: Ipv4Addr,
    /// MAC of `yard0`, derived from `mgmt_ip`.
    pub mgmt_mac: MacAddr,
    /// NIC attached to br-ex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// Datapath type of the node's bridges.
    pub datapath: Datapath,
    /// Runtime status from the node's reconciler.
    #[serde(default)]
    pub status: NodeStatus,
}

/// `POST /v1/pods` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPod {
    /// The pod's name.
    pub name: PodName,
    /// The node it runs on.
    pub node: NodeName,
    /// A name under `/run/netns` or an absolute path; `yp-<name>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
}

/// Where the pod's wiring stands, as reported by the node's agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodState {
    /// Allocated, not wired yet.
    #[default]
    Pending,
    /// veth, addresses and routes in place, attached to br-int.
    Wired,
    /// The agent failed; see `reason`.
    Error,
}

impl fmt::Display for PodState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PodState::Pending => "pending",
            PodState::Wired => "wired",
            PodState::Error => "error",
        })
    }
}

/// `PUT /v1/pods/{name}/status` body and the pod's runtime status (not persisted). Unknown
/// fields are ignored (not refused) so that agents and controllers of different versions agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodStatus {
    /// Wiring state.
    pub state: PodState,
    /// Why, when `state` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Host-side veth name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_if: Option<String>,
    /// The host veth's OpenFlow port number on br-int.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ofport: Option<u32>,
}

/// A pod as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// The pod's name.
    pub name: PodName,
    /// The node it runs on.
    pub node: NodeName,
    /// Its address in the node subnet.
    pub ip: Ipv4Addr,
    /// The node subnet's prefix length.
    pub prefix_len: u8,
    /// Derived from `ip`.
    pub mac: MacAddr,
    /// The node subnet's `.1`.
    pub gateway: Ipv4Addr,
    /// Interface MTU.
    pub mtu: u16,
    /// A name under `/run/netns` or an absolute path.
    pub netns: String,
    /// Runtime status from the agent.
    #[serde(default)]
    pub status: PodStatus,
}

/// The transport protocol a service forwards.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (IP protocol 6).
    #[default]
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Protocol {
    /// The JSON and command-line form: `tcp` or `udp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// The IP protocol number (`nw_proto`): 6 or 17.
    pub fn ip_proto(&self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(format!("unknown protocol {other:?}: expected tcp or udp")),
        }
    }
}

/// How a service is published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceType {
    /// Only on its ClusterIP, from pods and hosts.
    #[serde(rename = "ClusterIP")]
    ClusterIp,
    /// On its ClusterIP and on every node's IP at its node port.
    #[default]
    NodePort,
}

impl ServiceType {
    /// The JSON and command-line form: `ClusterIP` or `NodePort`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceType {
    type Err = String;
    /// `ClusterIP` or `NodePort`, in any letter case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "clusterip" => Ok(ServiceType::ClusterIp),
            "nodeport" => Ok(ServiceType::NodePort),
            _ => Err(format!(
                "unknown service type {s:?}: expected NodePort or ClusterIP"
            )),
        }
    }
}

/// A service's small, stable number (1..=0xFFFFF): unique among the services that exist and
/// kept for the service's lifetime. The data plane puts it into OpenFlow group ids and cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceId(pub u32);

impl ServiceId {
    /// The lowest id.
    pub const MIN: ServiceId = ServiceId(1);
    /// The highest id (20 bits).
    pub const MAX: ServiceId = ServiceId(0xF_FFFF);

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether the id is in `MIN..=MAX`.
    pub fn is_valid(self) -> bool {
        (Self::MIN..=Self::MAX).contains(&self)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn is_nodeport(t: &ServiceType) -> bool {
    *t == ServiceType::NodePort
}

/// `POST /v1/services` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// The service's name.
    pub name: ServiceName,
    /// `tcp` when absent.
    #[serde(default)]
    pub protocol: Protocol,
    /// The port on the ClusterIP (1..=65535).
    pub port: u16,
    /// The port on the backend pods; `port` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    /// NodePort services only: the port on every node's IP (30000..=32767); a free one is
    /// allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
    /// `NodePort` when absent.
    #[serde(default, rename = "type", skip_serializing_if = "is_nodeport")]
    pub service_type: ServiceType,
    /// The pods that serve it (each must exist); none when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<PodName>,
}

impl NewService {
    /// A TCP NodePort service on `port` with no backends; set the other fields as needed.
    pub fn new(name: ServiceName, port: u16) -> Self {
        NewService {
            name,
            protocol: Protocol::Tcp,
            port,
            target_port: None,
            node_port: None,
            service_type: ServiceType::NodePort,
            backends: Vec::new(),
        }
    }
}

/// One backend of a service: a pod, where it runs, and where connections go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Backend {
    /// The pod.
    pub pod: PodName,
    /// The node it runs on.
    pub node: NodeName,
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// The service's target port.
    pub port: u16,
}

/// A service as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The service's name.
    pub name: ServiceName,
    /// Its stable number (OpenFlow group ids and cookies).
    pub id: ServiceId,
    /// `tcp` or `udp`.
    pub protocol: Protocol,
    /// `NodePort` or `ClusterIP`.
    #[serde(rename = "type")]
    pub service_type: ServiceType,
    /// The port on the ClusterIP.
    pub port: u16,
    /// The port on the backends.
    pub target_port: u16,
    /// Allocated from the cluster's service CIDR.
    pub cluster_ip: Ipv4Addr,
    /// NodePort services: the port on every node's IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
    /// The backends, by pod name.
    pub backends: Vec<Backend>,
}

/// `POST` and `DELETE /v1/services/{name}/backends` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendPods {
    /// The pods to add or remove.
    pub pods: Vec<PodName>,
}

/// `GET /v1/watch/nodes/{name}`: everything an agent needs for its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The revision this view was taken at; pass it as `since` to wait for the next change.
    pub revision: u64,
    /// Cluster settings.
    pub cluster: Cluster,
    /// The node.
    pub node: Node,
    /// The pods assigned to the node, by name.
    pub pods: Vec<Pod>,
}

/// A table given by number or by pipeline name (`l3-forward`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableSelector {
    /// OpenFlow table id.
    Id(u8),
    /// Pipeline table name.
    Name(String),
}

impl fmt::Display for TableSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableSelector::Id(id) => write!(f, "{id}"),
            TableSelector::Name(name) => f.write_str(name),
        }
    }
}

impl FromStr for TableSelector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("table must be a number 0..=254 or a pipeline table name".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<u8>() {
                Ok(id) if id != u8::MAX => Ok(TableSelector::Id(id)),
                _ => Err(format!("table {s}: OpenFlow table ids are 0..=254")),
            };
        }
        Ok(TableSelector::Name(s.to_owned()))
    }
}

/// The query of `GET /v1/flows/{node}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowQuery {
    /// The node whose switch is asked.
    pub node: NodeName,
    /// `br-int` when absent.
    pub bridge: Option<String>,
    /// Only this table.
    pub table: Option<TableSelector>,
    /// Only flows whose cookie names this owner (a node, pod or service name; a plain string,
    /// passed on as given).
    pub owner: Option<String>,
}

impl FlowQuery {
    /// All flows of the node's br-int.
    pub fn node(node: NodeName) -> Self {
        FlowQuery {
            node,
            bridge: None,
            table: None,
            owner: None,
        }
    }
}

/// One flow read live from a switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEntry {
    /// `br-int` or `br-ex`.
    pub bridge: String,
    /// OpenFlow table id.
    pub table_id: u8,
    /// The pipeline's name for the table.
    pub table: String,
    /// Flow priority.
    pub priority: u16,
    /// The flow's cookie.
    pub cookie: u64,
    /// The object the cookie names (node, pod or service), or `""` if foreign.
    pub owner: String,
    /// Packet counter.
    pub packets: u64,
    /// Byte counter.
    pub bytes: u64,
    /// The flow in `ovs-ofctl` syntax.
    pub text: String,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A message naming the object and what to do.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_labels() {
        for ok in ["n1", "web-1", "a", &"x".repeat(63)] {
            assert!(NodeName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "Web", "a_b", "a.b", &"x".repeat(64)] {
            assert!(PodName::new(bad).is_err(), "{bad}");
        }
        let e = serde_json::from_str::<NewNode>(r#"{"name":"N1","ip":"1.2.3.4"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid node name \"N1\""), "{e}");
    }

    #[test]
    fn node_json_matches_the_api_doc() {
        let c = Cluster::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cluster_cidr":"10.244.0.0/16","node_prefix_len":24,"mtu":1400,
                "router_mac":"0a:58:0a:f4:00:01","service_cidr":"10.96.0.0/16"})
        );
        let s = serde_json::to_value(NodeStatus::default()).unwrap();
        assert_eq!(
            s,
            serde_json::json!({"ovsdb":"connecting","openflow":"disconnected"})
        );
        let p = serde_json::to_value(PodStatus::default()).unwrap();
        assert_eq!(p, serde_json::json!({"state":"pending"}));
        let n: NewNode =
            serde_json::from_str(r#"{"name":"n1","ip":"192.168.56.11","datapath":"system"}"#)
                .unwrap();
        assert_eq!(n.datapath, Some(Datapath::System));
    }

    #[test]
    fn service_json_matches_the_api_doc() {
        let minimal: NewService = serde_json::from_str(r#"{"name":"web","port":80}"#).unwrap();
        assert_eq!(minimal, NewService::new("web".parse().unwrap(), 80));
        assert_eq!(
            serde_json::to_value(&minimal).unwrap(),
            serde_json::json!({"name":"web","protocol":"tcp","port":80})
        );
        let full: NewService = serde_json::from_str(
            r#"{"name":"dns","protocol":"udp","port":53,"target_port":5353,"type":"ClusterIP",
                "backends":["a","b"]}"#,
        )
        .unwrap();
        assert_eq!(full.service_type, ServiceType::ClusterIp);
        assert_eq!(
            (full.protocol, full.target_port),
            (Protocol::Udp, Some(5353))
        );
        for bad in [
            r#"{"name":"web","port":80,"protocol":"sctp"}"#,
            r#"{"name":"web","port":80,"type":"LoadBalancer"}"#,
            r#"{"name":"web","port":70000}"#,
            r#"{"name":"Web","port":80}"#,
            r#"{"name":"web","port":80,"backends":["A"]}"#,
            r#"{"name":"web","port":80,"nodeport":30000}"#,
        ] {
            assert!(serde_json::from_str::<NewService>(bad).is_err(), "{bad}");
        }
        let svc = Service {
            name: "web".parse().unwrap(),
            id: ServiceId(7),
            protocol: Protocol::Tcp,
            service_type: ServiceType::NodePort,
            port: 80,
            target_port: 8080,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 2),
            node_port: Some(30080),
            backends: vec![Backend {
                pod: "web-1".parse().unwrap(),
                node: "n1".parse().unwrap(),
                ip: Ipv4Addr::new(10, 244, 1, 3),
                port: 8080,
            }],
        };
        assert_eq!(
            serde_json::to_value(&svc).unwrap(),
            serde_json::json!({"name":"web","id":7,"protocol":"tcp","type":"NodePort","port":80,
                "target_port":8080,"cluster_ip":"10.96.0.2","node_port":30080,
                "backends":[{"pod":"web-1","node":"n1","ip":"10.244.1.3","port":8080}]})
        );
        assert_eq!(
            "clusterip".parse::<ServiceType>(),
            Ok(ServiceType::ClusterIp)
        );
        assert_eq!("NodePort".parse::<ServiceType>(), Ok(ServiceType::NodePort));
        assert!("udp".parse::<Protocol>().is_ok() && "UDP".parse::<Protocol>().is_err());
        assert_eq!(
            (Protocol::Tcp.ip_proto(), Protocol::Udp.ip_proto()),
            (6, 17)
        );
        assert!(ServiceId::MAX.is_valid() && !ServiceId(0).is_valid());
        assert!(!ServiceId(0x10_0000).is_valid());
    }

    #[test]
    fn table_selector_parses_numbers_and_names() {
        assert_eq!(
            "50".parse::<TableSelector>().unwrap(),
            TableSelector::Id(50)
        );
        assert_eq!(
            "l3-forward".parse::<TableSelector>().unwrap(),
            TableSelector::Name("l3-forward".into())
        );
        assert!("300".parse::<TableSelector>().is_err());
        assert!("255".parse::<TableSelector>().is_err());
    }
}
