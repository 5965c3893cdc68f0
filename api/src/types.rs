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
    /// `node` or `pod`.
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
    /// Only flows whose cookie names this owner (a node, pod or service name).
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
