//! The node's host side: the management port `yard0` (an OVS internal port the controller
//! creates on br-int) gets `10.244.K.2/24` and the cluster MTU; the cluster and service CIDRs
//! are routed via the virtual router `10.244.K.1 dev yard0`; `net.ipv4.ip_forward=1`; and pod
//! egress to non-cluster addresses is masqueraded by the nftables table `ip switchyard`.
//!
//! The masquerade rule goes through the `nft` command (`nft -f -`, one atomic transaction):
//! nftables' netlink messages are built by libnftnl, and the Rust crates for it either bind
//! that C library (`nftnl`) or drive the same `nft` binary with JSON (`nftables`), so calling
//! `nft` directly adds no dependency and shows operators the exact ruleset.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use switchyard_api::{Cluster, Ipv4Cidr, MacAddr, Node};
use tokio::io::AsyncWriteExt;

use crate::netns::{self, NetnsError};
use crate::nl::{self, LinkWant, Route4};
use crate::NodeNet;

/// The management port's name.
pub const MGMT_IF: &str = "yard0";
/// The nftables table (family `ip`) that holds the masquerade rule.
pub const NFT_TABLE: &str = "switchyard";

/// What the host side should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// The node (for errors).
    pub node: String,
    /// Management port name (`yard0`).
    pub mgmt_if: String,
    /// Its address (`10.244.K.2`).
    pub mgmt_ip: Ipv4Addr,
    /// Its MAC (derived from `mgmt_ip`, what the controller's flows expect); `None` leaves
    /// the MAC ovs-vswitchd gave it.
    pub mgmt_mac: Option<MacAddr>,
    /// The node's pod subnet (`10.244.K.0/24`).
    pub subnet: Ipv4Cidr,
    /// The virtual router (`10.244.K.1`).
    pub router_ip: Ipv4Addr,
    /// MTU of `yard0`.
    pub mtu: u16,
    /// Cluster CIDR, routed via the router and excluded from masquerade.
    pub cluster_cidr: Ipv4Cidr,
    /// Service CIDR, routed via the router.
    pub service_cidr: Ipv4Cidr,
}

impl HostSpec {
    /// The host side of `node` in `cluster`.
    pub fn new(node: &Node, cluster: &Cluster) -> HostSpec {
        HostSpec {
            node: node.name.to_string(),
            mgmt_if: MGMT_IF.into(),
            mgmt_ip: node.mgmt_ip,
            mgmt_mac: Some(node.mgmt_mac),
            subnet: node.subnet,
            router_ip: node.router_ip,
            mtu: cluster.mtu,
            cluster_cidr: cluster.cluster_cidr,
            service_cidr: cluster.service_cidr,
        }
    }

    fn routes(&self, oif: u32) -> Vec<Route4> {
        [self.cluster_cidr, self.service_cidr]
            .iter()
            .map(|c| Route4 {
                dst: c.network(),
                len: c.prefix_len(),
                gateway: self.router_ip,
                oif,
            })
            .collect()
    }

    /// The masquerade rule as `nft list` prints it.
    pub fn masquerade_rule(&self) -> String {
        format!(
            "ip saddr {} ip daddr != {} masquerade",
            self.subnet, self.cluster_cidr
        )
    }

    fn nft_script(&self) -> String {
        // Declaring then deleting then re-adding the table makes one atomic replace that
        // works whether or not the table exists.
        format!(
            "table ip {t}\ndelete table ip {t}\ntable ip {t} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    {rule}\n  }}\n}}\n",
            t = NFT_TABLE,
            rule = self.masquerade_rule()
        )
    }
}

/// Why the host side could not be set up or removed. Each names the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// `yard0` did not appear.
    #[error("node {node}: management port {mgmt_if} did not appear within {waited:?}; has the controller created it on br-int (is OVSDB connected)?")]
    NoMgmtPort {
        /// The node.
        node: String,
        /// The port.
        mgmt_if: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A netlink request failed.
    #[error("node {node}: netlink {op} failed")]
    Netlink {
        /// The node.
        node: String,
        /// What was attempted.
        op: &'static str,
        /// The kernel's answer.
        #[source]
        source: Box<rtnetlink::Error>,
    },
    /// Setting `ip_forward` failed.
    #[error("node {node}: cannot set net.ipv4.ip_forward=1")]
    Forwarding {
        /// The node.
        node: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The node namespace could not be entered.
    #[error("node {node}: namespace problem")]
    Netns {
        /// The node.
        node: String,
        /// The namespace error.
        #[source]
        source: NetnsError,
    },
    /// `nft` failed.
    #[error("node {node}: nft {what} failed: {reason}; is nftables installed (apt-get install nftables)?")]
    Nft {
        /// The node.
        node: String,
        /// `list`, `apply` or `delete`.
        what: &'static str,
        /// Its stderr or the OS error.
        reason: String,
    },
}

/// What [`setup_host`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostOutcome {
    /// `yard0` link attributes or address.
    pub mgmt_changed: bool,
    /// Routes added or replaced.
    pub routes_changed: usize,
    /// `ip_forward` was 0.
    pub forwarding_changed: bool,
    /// The nftables table was (re)written.
    pub nat_changed: bool,
}

impl HostOutcome {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        self.mgmt_changed || self.routes_changed > 0 || self.forwarding_changed || self.nat_changed
    }
}

/// Sets up the host side, waiting up to `wait` for `yard0`. Idempotent: a second call
/// changes nothing.
///
/// # Errors
/// [`HostError`] naming the node and the step.
pub async fn setup_host(
    net: &NodeNet,
    spec: &HostSpec,
    wait: Duration,
) -> Result<HostOutcome, HostError> {
    let nle = |op| {
        let node = spec.node.clone();
        move |e| HostError::Netlink {
            node,
            op,
            source: Box::new(e),
        }
    };
    let start = Instant::now();
    let mgmt = loop {
        if let Some(l) = nl::link(net.handle(), &spec.mgmt_if)
            .await
            .map_err(nle("get link"))?
        {
            break l;
        }
        if start.elapsed() >= wait {
            return Err(HostError::NoMgmtPort {
                node: spec.node.clone(),
                mgmt_if: spec.mgmt_if.clone(),
                waited: wait,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut out = HostOutcome::default();
    let want = LinkWant {
        mtu: Some(u32::from(spec.mtu)),
        mac: spec.mgmt_mac.map(|m| m.0),
        up: true,
        alias: None,
    };
    out.mgmt_changed |= nl::ensure_link(net.handle(), &mgmt, &want)
        .await
        .map_err(nle("set link"))?;
    out.mgmt_changed |= nl::ensure_only_addr(
        net.handle(),
        mgmt.index,
        spec.mgmt_ip,
        spec.subnet.prefix_len(),
    )
    .await
    .map_err(nle("set address"))?;
    out.routes_changed = nl::ensure_routes(net.handle(), &spec.routes(mgmt.index))
        .await
        .map_err(nle("set routes"))?;
    out.forwarding_changed =
        enable_forwarding(net.netns()).map_err(|source| HostError::Forwarding {
            node: spec.node.clone(),
            source,
        })?;
    out.nat_changed = ensure_masquerade(net, spec).await?;
    Ok(out)
}

/// Undoes [`setup_host`]: the nftables table, the routes and `yard0`'s address. Leaves
/// `ip_forward` on (other software may rely on it) and `yard0` itself (the controller's).
///
/// # Errors
/// [`HostError`] naming the node and the step.
pub async fn teardown_host(net: &NodeNet, spec: &HostSpec) -> Result<(), HostError> {
    let nle = |op| {
        let node = spec.node.clone();
        move |e| HostError::Netlink {
            node,
            op,
            source: Box::new(e),
        }
    };
    if nft(net, spec, "list", &["list", "table", "ip", NFT_TABLE], None)
        .await
        .is_ok()
    {
        nft(
            net,
            spec,
            "delete",
            &["delete", "table", "ip", NFT_TABLE],
            None,
        )
        .await?;
    }
    if let Some(mgmt) = nl::link(net.handle(), &spec.mgmt_if)
        .await
        .map_err(nle("get link"))?
    {
        nl::remove_routes(net.handle(), &spec.routes(mgmt.index))
            .await
            .map_err(nle("delete routes"))?;
        nl::flush_addrs(net.handle(), mgmt.index)
            .await
            .map_err(nle("delete address"))?;
    }
    Ok(())
}

/// Sets `net.ipv4.ip_forward=1` in the node namespace (`netns`, or ours when `None`);
/// returns whether it was off.
fn enable_forwarding(netns: Option<&Path>) -> std::io::Result<bool> {
    // /proc/sys/net follows the network namespace of the thread that opens it.
    fn set() -> std::io::Result<bool> {
        const PATH: &str = "/proc/sys/net/ipv4/ip_forward";
        if std::fs::read_to_string(PATH)?.trim() == "1" {
            return Ok(false);
        }
        std::fs::write(PATH, "1\n")?;
        Ok(true)
    }
    match netns {
        None => set(),
        Some(ns) => netns::run_in(ns, set).map_err(std::io::Error::other)?,
    }
}

async fn ensure_masquerade(net: &NodeNet, spec: &HostSpec) -> Result<bool, HostError> {
    if let Ok(listing) = nft(net, spec, "list", &["list", "table", "ip", NFT_TABLE], None).await {
        let rule = spec.masquerade_rule();
        let rules = listing.lines().filter(|l| l.contains("masquerade")).count();
        if rules == 1
            && listing.lines().any(|l| l.trim().starts_with(&rule))
            && listing.contains("hook postrouting")
        {
            return Ok(false);
        }
    }
    nft(net, spec, "apply", &["-f", "-"], Some(spec.nft_script())).await?;
    Ok(true)
}

async fn nft(
    net: &NodeNet,
    spec: &HostSpec,
    what: &'static str,
    args: &[&str],
    stdin: Option<String>,
) -> Result<String, HostError> {
    let err = |reason: String| HostError::Nft {
        node: spec.node.clone(),
        what,
        reason,
    };
    let mut cmd = net.command("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| err(format!("cannot run nft: {e}")))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(|e| err(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_script_replaces_the_table_atomically() {
        let spec = HostSpec {
            node: "n1".into(),
            mgmt_if: MGMT_IF.into(),
            mgmt_ip: Ipv4Addr::new(10, 244, 1, 2),
            mgmt_mac: None,
            subnet: "10.244.1.0/24".parse().unwrap(),
            router_ip: Ipv4Addr::new(10, 244, 1, 1),
            mtu: 1400,
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            service_cidr: "10.96.0.0/16".parse().unwrap(),
        };
        let s = spec.nft_script();
        assert!(
            s.starts_with("table ip switchyard\ndelete table ip switchyard\n"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 masquerade"),
            "{s}"
        );
        assert!(
            s.contains("type nat hook postrouting priority srcnat"),
            "{s}"
        );
    }
}
