//! Switchyard node agent: wires pod network namespaces in with rtnetlink, attaches their host
//! ends to br-int through OVSDB, and sets up the node's host side (`yard0`, routes,
//! forwarding, masquerade). The `yard-agent` binary runs it against the controller's watch
//! API ([`daemon`]).
//!
//! What it is not: no CNI plugin (yet), no flows (the controller owns every flow), and no
//! `ip` shell-outs. The commands it does run: `ethtool -K IF tx off` on both veth ends of a
//! new pair (the `ethtool` crate only reads features; the pod end is reached with `nsenter
//! --net`), `nft` for the masquerade table, and `ovs-vsctl` only in [`ovs::VsctlPorts`], the
//! fallback/benchmark path (the daemon uses [`ovs::OvsdbPorts`], our own OVSDB client).
//!
//! Namespaces: every `setns` happens on a short-lived thread of its own, so tokio's worker
//! threads always stay in the node's network namespace; `yard-agent --mount-ns auto` joins
//! the host mount namespace at start so pod namespaces it creates under `/run/netns` are
//! visible outside `ip netns exec`'s private mount namespace.
//!
//! Pieces:
//! - [`PodSpec`] (validated input) and [`NodeNet::wire`] / [`NodeNet::unwire`]: veth pair,
//!   host end `y<14 hex>` (see [`host_if_name`]), the other end `eth0` in the pod namespace
//!   with MAC, address, MTU, `lo` up and routes; idempotent, repairs half-made wiring.
//! - [`ovs::PortAttach`]: attach/detach the host end on br-int with
//!   `external_ids:switchyard-pod=<pod>` (+ `-ip`, `-mac`), the controller's binding key.
//! - [`Wirer`]: both together, the unit the daemon and the benchmark call.
//! - [`host`]: `yard0`, routes, `ip_forward`, masquerade.
//! - [`netns`]: named namespaces, sockets in other namespaces, joining the host mount namespace.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use agent::{host_if_name, PodSpec};
//!
//! let mut spec = PodSpec::new("web-1", Ipv4Addr::new(10, 244, 1, 3), 24, Ipv4Addr::new(10, 244, 1, 1));
//! spec.subnet = Some("10.244.1.0/24".parse().unwrap());
//! assert!(spec.validate().is_ok());
//! assert_eq!(spec.host_if, host_if_name("web-1"));
//! assert_eq!(spec.mac.to_string(), "0a:58:0a:f4:01:03");
//!
//! spec.ip = Ipv4Addr::new(10, 244, 9, 3); // not in the node subnet: refused before any change
//! assert!(spec.validate().unwrap_err().to_string().contains("outside the node subnet"));
//! ```

pub mod daemon;
pub mod host;
pub mod netns;
mod nl;
pub mod ovs;
mod pod;

use std::time::Duration;

pub use pod::{
    host_if_name, is_host_if_name, NetnsRef, NodeNet, PodSpec, WireError, WireOutcome,
    ALIAS_PREFIX, HOST_IF_PREFIX, IFNAME_MAX,
};

use ovs::{PodPort, PortAttach};

/// How long [`Wirer::wire`] waits for ovs-vswitchd to number a new port.
pub const OFPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// A wired pod: what the agent reports to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiredPod {
    /// The host-side veth.
    pub host_if: String,
    /// Its OpenFlow port number on the bridge.
    pub ofport: u32,
    /// What the netlink half did.
    pub outcome: WireOutcome,
}

/// Netlink wiring plus the bridge port, in the order that leaves nothing half-made for
/// the controller to see: the port is attached only after the veth is complete, and
/// detached before the veth goes.
#[derive(Debug, Clone)]
pub struct Wirer<P> {
    /// The node-side netlink handle.
    pub net: NodeNet,
    /// The bridge the host ends go on.
    pub ports: P,
}

impl<P: PortAttach> Wirer<P> {
    /// Combines the two halves.
    pub fn new(net: NodeNet, ports: P) -> Self {
        Wirer { net, ports }
    }

    /// Wires the pod and attaches its host end; waits for the port's ofport.
    ///
    /// # Errors
    /// [`WireError`] naming the pod. If attaching fails, the veth stays (the next call
    /// only retries the attach).
    pub async fn wire(&self, spec: &PodSpec) -> Result<WiredPod, WireError> {
        let outcome = self.net.wire(spec).await?;
        let port = PodPort {
            name: spec.host_if.clone(),
            pod: spec.name.clone(),
            ip: spec.ip,
            mac: spec.mac,
            netns: spec.netns.to_string(),
        };
        let ovs = |source| WireError::Ovs {
            pod: spec.name.clone(),
            source,
        };
        if outcome.created {
            self.ports.reattach(&port).await.map_err(ovs)?;
        } else {
            self.ports.attach(&port).await.map_err(ovs)?;
        }
        let ofport = self
            .ports
            .ofport(&spec.host_if, OFPORT_TIMEOUT)
            .await
            .map_err(ovs)?;
        if outcome.created {
            self.net.ensure_host_up(spec).await?;
        }
        Ok(WiredPod {
            host_if: spec.host_if.clone(),
            ofport,
            outcome,
        })
    }

    /// Detaches the port, then removes the veth (and the namespace if the spec says so).
    ///
    /// # Errors
    /// [`WireError`] naming the pod.
    pub async fn unwire(&self, spec: &PodSpec) -> Result<(), WireError> {
        self.ports
            .detach(&spec.host_if)
            .await
            .map_err(|source| WireError::Ovs {
                pod: spec.name.clone(),
                source,
            })?;
        self.net.unwire(spec).await
    }
}

/// Wires `spec` in the agent's own network namespace (netlink half only; see [`Wirer`] for
/// the bridge port).
///
/// # Errors
/// [`WireError`] naming the pod.
pub async fn wire_pod(spec: &PodSpec) -> Result<WireOutcome, WireError> {
    let net = NodeNet::current()
        .await
        .map_err(|source| WireError::Netns {
            pod: spec.name.clone(),
            source,
        })?;
    net.wire(spec).await
}

/// Unwires `spec` in the agent's own network namespace; absent is fine.
///
/// # Errors
/// [`WireError`] naming the pod.
pub async fn unwire_pod(spec: &PodSpec) -> Result<(), WireError> {
    let net = NodeNet::current()
        .await
        .map_err(|source| WireError::Netns {
            pod: spec.name.clone(),
            source,
        })?;
    net.unwire(spec).await
}

/// An error and its causes on one line (`a: b: c`), for logs and the pod status reason.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
