//! Wiring one pod: a veth pair whose host end stays in the node's namespace and whose other
//! end becomes `eth0` in the pod's namespace, with MAC, address, MTU and routes.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use switchyard_api::{Ipv4Cidr, MacAddr, Node, Pod};

use crate::netns::{self, NetnsError};
use crate::nl::{self, Link, LinkWant, Route4};

/// Longest Linux interface name (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;
/// Prefix of every host-side veth the agent makes: `y` + 14 hex digits.
pub const HOST_IF_PREFIX: char = 'y';
/// The alias the host end carries: `switchyard-pod=<pod>`, so the agent can recognise its
/// veths (and detect a name collision) from netlink alone.
pub const ALIAS_PREFIX: &str = "switchyard-pod=";

/// The host-side veth name for a pod: `y` followed by 14 hex digits of a 64-bit FNV-1a hash
/// of the pod name (15 characters, the most Linux allows). Deterministic, so a restarted
/// agent finds its veths again; two pods that collide are refused (the alias names the owner).
pub fn host_if_name(pod: &str) -> String {
    format!("{HOST_IF_PREFIX}{:014x}", fnv1a(pod.as_bytes()) >> 8)
}

/// Whether `name` follows the host veth naming scheme (`y` + 14 lowercase hex digits).
pub fn is_host_if_name(name: &str) -> bool {
    name.len() == IFNAME_MAX
        && name.starts_with(HOST_IF_PREFIX)
        && name[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where the pod's network namespace is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsRef {
    /// A name under `/run/netns`.
    Named(String),
    /// An absolute path to a namespace file (`/proc/PID/ns/net`, a CNI netns path).
    Path(PathBuf),
}

impl NetnsRef {
    /// Parses the API's form: an absolute path, or else a name under `/run/netns`.
    pub fn parse(s: &str) -> NetnsRef {
        if s.starts_with('/') {
            NetnsRef::Path(PathBuf::from(s))
        } else {
            NetnsRef::Named(s.to_owned())
        }
    }

    /// The namespace file.
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsRef::Named(n) => netns::netns_path(n),
            NetnsRef::Path(p) => p.clone(),
        }
    }
}

impl std::fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetnsRef::Named(n) => f.write_str(n),
            NetnsRef::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Everything needed to wire one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    /// The pod's name (used in errors, the host veth name and OVSDB `external_ids`).
    pub name: String,
    /// The pod's network namespace.
    pub netns: NetnsRef,
    /// Create the namespace (named ones only) if it does not exist.
    pub create_netns: bool,
    /// Delete the namespace on unwire (the agent made it).
    pub remove_netns: bool,
    /// Interface name inside the pod (`eth0`).
    pub ifname: String,
    /// Host-side veth name (see [`host_if_name`]).
    pub host_if: String,
    /// The pod interface's MAC.
    pub mac: MacAddr,
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Default gateway (the node subnet's `.1`).
    pub gateway: Ipv4Addr,
    /// MTU of both veth ends.
    pub mtu: u16,
    /// More routes via the gateway.
    pub routes: Vec<Ipv4Cidr>,
    /// The node's pod subnet; the address must lie in it (checked by [`PodSpec::validate`]).
    pub subnet: Option<Ipv4Cidr>,
}

impl PodSpec {
    /// A spec with the usual defaults: `eth0`, the derived host veth name, MTU 1400, the
    /// namespace `yp-<name>` created on wire and removed on unwire.
    pub fn new(name: &str, ip: Ipv4Addr, prefix_len: u8, gateway: Ipv4Addr) -> PodSpec {
        PodSpec {
            name: name.to_owned(),
            netns: NetnsRef::Named(format!("yp-{name}")),
            create_netns: true,
            remove_netns: true,
            ifname: "eth0".into(),
            host_if: host_if_name(name),
            mac: MacAddr::from_ipv4(ip),
            ip,
            prefix_len,
            gateway,
            mtu: 1400,
            routes: Vec::new(),
            subnet: None,
        }
    }

    /// The spec for a pod as the controller describes it. A named namespace is created when
    /// missing; it is removed on unwire only if it is the API's default `yp-<pod>` (the
    /// agent's own).
    pub fn from_pod(pod: &Pod, node: &Node) -> PodSpec {
        let name = pod.name.as_str();
        let netns = NetnsRef::parse(&pod.netns);
        let named = matches!(netns, NetnsRef::Named(_));
        PodSpec {
            name: name.to_owned(),
            remove_netns: named && pod.netns == format!("yp-{name}"),
            create_netns: named,
            netns,
            ifname: "eth0".into(),
            host_if: host_if_name(name),
            mac: pod.mac,
            ip: pod.ip,
            prefix_len: pod.prefix_len,
            gateway: pod.gateway,
            mtu: pod.mtu,
            routes: Vec::new(),
            subnet: Some(node.subnet),
        }
    }

    /// Checks the spec before anything is touched.
    ///
    /// # Errors
    /// [`WireError::Invalid`] naming the pod and the field: an interface name that is empty,
    /// too long or has `/` or spaces; a multicast or zero MAC; an address outside the node
    /// subnet, equal to the gateway, or a network/broadcast address; a gateway outside the
    /// pod's prefix; an MTU below 68; a namespace name with `/`.
    pub fn validate(&self) -> Result<(), WireError> {
        let bad = |reason: String| {
            Err(WireError::Invalid {
                pod: self.name.clone(),
                reason,
            })
        };
        if self.name.is_empty() {
            return bad("the pod name is empty".into());
        }
        for (what, n) in [
            ("interface name", &self.ifname),
            ("host interface name", &self.host_if),
        ] {
            if n.is_empty() || n.len() > IFNAME_MAX {
                return bad(format!("{what} {n:?} must be 1..={IFNAME_MAX} characters"));
            }
            if n.contains(['/', ' ', ':']) || n == "." || n == ".." {
                return bad(format!("{what} {n:?} may not contain '/', ':' or spaces"));
            }
        }
        if !self.mac.is_unicast() {
            return bad(format!(
                "MAC {} is multicast; a pod needs a unicast MAC",
                self.mac
            ));
        }
        if self.mac.0 == [0; 6] {
            return bad("MAC 00:00:00:00:00:00 is not a usable address".into());
        }
        if self.prefix_len == 0 || self.prefix_len > 30 {
            return bad(format!("prefix length /{} must be 1..=30", self.prefix_len));
        }
        let own = Ipv4Cidr::new(mask(self.ip, self.prefix_len), self.prefix_len).map_err(|e| {
            WireError::Invalid {
                pod: self.name.clone(),
                reason: e.to_string(),
            }
        })?;
        if let Some(subnet) = self.subnet {
            if !subnet.contains(self.ip) {
                return bad(format!(
                    "address {} is outside the node subnet {subnet}",
                    self.ip
                ));
            }
        }
        if self.ip == own.network() || self.ip == own.last() {
            return bad(format!(
                "address {} is the network or broadcast address of {own}",
                self.ip
            ));
        }
        if !own.contains(self.gateway) || self.gateway == self.ip {
            return bad(format!(
                "gateway {} must be another address in {own}",
                self.gateway
            ));
        }
        if self.mtu < 68 {
            return bad(format!("MTU {} is below the IPv4 minimum 68", self.mtu));
        }
        if let NetnsRef::Named(n) = &self.netns {
            if n.is_empty() || n.contains('/') || n == "." || n == ".." {
                return bad(format!(
                    "namespace name {n:?} must be a plain name or an absolute path"
                ));
            }
        }
        Ok(())
    }

    fn port_routes(&self, eth0: u32) -> Vec<Route4> {
        let mut r = vec![Route4 {
            dst: Ipv4Addr::UNSPECIFIED,
            len: 0,
            gateway: self.gateway,
            oif: eth0,
        }];
        r.extend(self.routes.iter().map(|c| Route4 {
            dst: c.network(),
            len: c.prefix_len(),
            gateway: self.gateway,
            oif: eth0,
        }));
        r
    }
}

/// Maps an rtnetlink error to [`WireError::Netlink`] naming the pod, the step and the object.
fn netlink_error(
    pod: &str,
    op: &'static str,
    object: &str,
) -> impl FnOnce(rtnetlink::Error) -> WireError {
    let (pod, object) = (pod.to_owned(), object.to_owned());
    move |source| WireError::Netlink {
        pod,
        op,
        object,
        source: Box::new(source),
    }
}

fn mask(ip: Ipv4Addr, len: u8) -> Ipv4Addr {
    let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) & m)
}

/// Why wiring or unwiring a pod failed. Each names the pod.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The spec is unusable; nothing was touched.
    #[error("pod {pod}: {reason}")]
    Invalid {
        /// The pod.
        pod: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The pod's namespace is missing (and was not to be created) or unusable.
    #[error("pod {pod}: network namespace problem")]
    Netns {
        /// The pod.
        pod: String,
        /// The namespace error.
        #[source]
        source: NetnsError,
    },
    /// The host veth name is taken by another pod's or a foreign interface.
    #[error("pod {pod}: host interface {host_if} already exists and belongs to {owner}; remove it or rename the pod")]
    NameTaken {
        /// The pod.
        pod: String,
        /// The interface name.
        host_if: String,
        /// Who has it (another pod, or "a non-Switchyard interface").
        owner: String,
    },
    /// A netlink request failed.
    #[error("pod {pod}: netlink {op} on {object} failed")]
    Netlink {
        /// The pod.
        pod: String,
        /// What was attempted.
        op: &'static str,
        /// The interface or route.
        object: String,
        /// The kernel's answer.
        #[source]
        source: Box<rtnetlink::Error>,
    },
    /// A helper command (`ethtool`) failed.
    #[error("pod {pod}: {command} failed: {reason}")]
    Command {
        /// The pod.
        pod: String,
        /// The command line.
        command: String,
        /// Its stderr or the OS error.
        reason: String,
    },
    /// Attaching to or detaching from the bridge failed.
    #[error("pod {pod}: bridge port")]
    Ovs {
        /// The pod.
        pod: String,
        /// The OVSDB error.
        #[source]
        source: crate::ovs::OvsError,
    },
}

/// The node side of wiring: an rtnetlink handle in the node's network namespace (the one
/// the agent runs in, or another one given by path, as tests do).
#[derive(Clone)]
pub struct NodeNet {
    handle: rtnetlink::Handle,
    netns: Option<PathBuf>,
}

impl std::fmt::Debug for NodeNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeNet")
            .field("netns", &self.netns)
            .finish()
    }
}

/// What [`NodeNet::wire`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireOutcome {
    /// The veth pair was (re)created.
    pub created: bool,
    /// Some attribute, address or route was changed.
    pub changed: bool,
}

impl NodeNet {
    /// Operates in the agent's own network namespace.
    ///
    /// # Errors
    /// If no netlink socket can be opened.
    pub async fn current() -> Result<NodeNet, NetnsError> {
        Ok(NodeNet {
            handle: netns::rtnetlink_in(None).await?,
            netns: None,
        })
    }

    /// Operates in the network namespace `path` (a node namespace in tests).
    ///
    /// # Errors
    /// If the namespace cannot be joined or the socket opened.
    pub async fn in_netns(path: &Path) -> Result<NodeNet, NetnsError> {
        Ok(NodeNet {
            handle: netns::rtnetlink_in(Some(path)).await?,
            netns: Some(path.to_owned()),
        })
    }

    /// The rtnetlink handle (node namespace).
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// The node namespace's file, when it is not the agent's own.
    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// A command that runs in the node's namespace (`nsenter --net=PATH` when it is not ours).
    pub(crate) fn command(&self, program: &str) -> tokio::process::Command {
        match &self.netns {
            None => tokio::process::Command::new(program),
            Some(ns) => {
                let mut c = tokio::process::Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(program);
                c
            }
        }
    }

    /// Wires the pod in (see the crate docs). Idempotent: a second call changes nothing; a
    /// half-made pair (a crash in the middle) is removed and made again.
    ///
    /// # Errors
    /// [`WireError`] naming the pod. Bad input is refused before anything changes; a failure
    /// after the pair was created removes the pair again.
    pub async fn wire(&self, spec: &PodSpec) -> Result<WireOutcome, WireError> {
        spec.validate()?;
        let pod = spec.name.as_str();
        let ns_path = spec.netns.path();
        let mut created_ns = false;
        if !netns::is_netns(&ns_path) {
            if spec.create_netns && matches!(spec.netns, NetnsRef::Named(_)) {
                netns::create(&ns_path).map_err(|source| WireError::Netns {
                    pod: pod.into(),
                    source,
                })?;
                created_ns = true;
            } else {
                return Err(WireError::Netns {
                    pod: pod.into(),
                    source: NetnsError::Missing { path: ns_path },
                });
            }
        }
        let result = self.wire_in(spec, &ns_path, created_ns).await;
        if result.is_err() && created_ns {
            let _ = netns::remove(&ns_path);
        }
        result
    }

    async fn wire_in(
        &self,
        spec: &PodSpec,
        ns_path: &Path,
        fresh_ns: bool,
    ) -> Result<WireOutcome, WireError> {
        let pod = spec.name.as_str();
        let nle = |op, object: &str| netlink_error(pod, op, object);
        let ns_file = netns::open(ns_path).map_err(|source| WireError::Netns {
            pod: pod.into(),
            source,
        })?;
        let inner =
            netns::rtnetlink_in(Some(ns_path))
                .await
                .map_err(|source| WireError::Netns {
                    pod: pod.into(),
                    source,
                })?;
        let alias = format!("{ALIAS_PREFIX}{pod}");

        let host = nl::link(&self.handle, &spec.host_if)
            .await
            .map_err(nle("get link", &spec.host_if))?;
        if let Some(h) = &host {
            if h.alias.as_deref() != Some(alias.as_str()) {
                let owner = match h
                    .alias
                    .as_deref()
                    .and_then(|a| a.strip_prefix(ALIAS_PREFIX))
                {
                    Some(other) => format!("pod {other}"),
                    None => "a non-Switchyard interface".into(),
                };
                return Err(WireError::NameTaken {
                    pod: pod.into(),
                    host_if: spec.host_if.clone(),
                    owner,
                });
            }
        }
        let eth = if fresh_ns {
            None
        } else {
            nl::link(&inner, &spec.ifname)
                .await
                .map_err(nle("get link", &spec.ifname))?
        };
        let paired = match (&host, &eth) {
            (Some(h), Some(e)) => {
                h.veth && e.veth && e.peer_index == Some(h.index) && h.peer_index == Some(e.index)
            }
            _ => false,
        };
        let mut out = WireOutcome::default();
        let (host, eth) = if paired {
            (
                host.unwrap_or_else(|| unreachable!()),
                eth.unwrap_or_else(|| unreachable!()),
            )
        } else {
            out.created = true;
            // Whatever a crash left behind goes first: our host end (its peer goes with it)
            // and a pod end that is a veth.
            if let Some(h) = &host {
                nl::del_link(&self.handle, h.index)
                    .await
                    .map_err(nle("delete link", &spec.host_if))?;
            }
            if !fresh_ns {
                let name = spec.ifname.as_str();
                if let Some(l) = nl::link(&inner, name)
                    .await
                    .map_err(nle("get link", name))?
                {
                    if !l.veth {
                        return Err(WireError::Invalid {
                            pod: pod.into(),
                            reason: format!(
                                "{name} in {} exists and is not a veth; remove it",
                                spec.netns
                            ),
                        });
                    }
                    nl::del_link(&inner, l.index)
                        .await
                        .map_err(nle("delete link", name))?;
                }
            }
            match self
                .create_pair(spec, &inner, &ns_file, ns_path, &alias)
                .await
            {
                Ok(pair) => pair,
                Err(e) => {
                    let _ = nl::del_link_named(&self.handle, &spec.host_if).await;
                    return Err(e);
                }
            }
        };
        let mtu = Some(u32::from(spec.mtu));
        out.changed |= nl::ensure_link(
            &self.handle,
            &host,
            &LinkWant {
                mtu,
                mac: None,
                up: true,
                alias: Some(alias),
            },
        )
        .await
        .map_err(nle("set link", &spec.host_if))?;
        out.changed |= nl::ensure_link(
            &inner,
            &eth,
            &LinkWant {
                mtu,
                mac: Some(spec.mac.0),
                up: true,
                alias: None,
            },
        )
        .await
        .map_err(nle("set link", &spec.ifname))?;
        if let Some(lo) = nl::link(&inner, "lo")
            .await
            .map_err(nle("get link", "lo"))?
        {
            out.changed |= nl::ensure_link(
                &inner,
                &lo,
                &LinkWant {
                    up: true,
                    ..LinkWant::default()
                },
            )
            .await
            .map_err(nle("set link", "lo"))?;
        }
        out.changed |= nl::ensure_only_addr(&inner, eth.index, spec.ip, spec.prefix_len)
            .await
            .map_err(nle("set address", &spec.ifname))?;
        out.changed |= nl::ensure_routes(&inner, &spec.port_routes(eth.index))
            .await
            .map_err(nle("set routes", &spec.ifname))?
            > 0;
        Ok(out)
    }

    /// Creates the pair in the node namespace, turns TX checksum offload off on both ends,
    /// then moves the peer into the pod and renames it.
    async fn create_pair(
        &self,
        spec: &PodSpec,
        inner: &rtnetlink::Handle,
        ns_file: &std::fs::File,
        ns_path: &Path,
        alias: &str,
    ) -> Result<(Link, Link), WireError> {
        use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute};
        let pod = spec.name.as_str();
        let nle = |op, object: &str| netlink_error(pod, op, object);
        // The peer is born in the pod namespace with its final name, MAC and MTU: one
        // request, no move (moving a device costs an RCU grace period, ~15 ms) and no
        // temporary name that a crash could leave behind.
        let peer = rtnetlink::LinkUnspec::new_with_name(&spec.ifname)
            .mtu(u32::from(spec.mtu))
            .address(spec.mac.0.to_vec())
            .setns_by_fd(ns_file.as_raw_fd())
            .build();
        let mut msg = rtnetlink::LinkVeth::new(&spec.host_if, &spec.ifname)
            .mtu(u32::from(spec.mtu))
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_owned()));
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(nle("create veth", &spec.host_if))?;
        self.tx_checksum_off(pod, &[(None, &spec.host_if), (Some(ns_path), &spec.ifname)])
            .await?;
        let host = nl::link(&self.handle, &spec.host_if)
            .await
            .map_err(nle("get link", &spec.host_if))?;
        let eth = nl::link(inner, &spec.ifname)
            .await
            .map_err(nle("get link", &spec.ifname))?;
        match (host, eth) {
            (Some(h), Some(e)) => Ok((h, e)),
            _ => Err(WireError::Invalid {
                pod: pod.into(),
                reason: "the veth pair vanished while being wired".into(),
            }),
        }
    }

    /// `ethtool -K IF tx off` for each interface: the OVS userspace datapath does not complete
    /// partial checksums (LAB-NOTES). No maintained crate sets ethtool features over netlink
    /// (the `ethtool` crate only reads them), so this is the one command the agent runs per pod.
    async fn tx_checksum_off(
        &self,
        pod: &str,
        ifs: &[(Option<&Path>, &str)],
    ) -> Result<(), WireError> {
        let runs = ifs.iter().map(|(ns, i)| async move {
            let mut c = match ns {
                None => self.command("ethtool"),
                Some(ns) => {
                    let mut c = tokio::process::Command::new("nsenter");
                    c.arg(format!("--net={}", ns.display()))
                        .args(["--", "ethtool"]);
                    c
                }
            };
            c.args(["-K", i, "tx", "off"]);
            let line = format!("ethtool -K {i} tx off");
            let out = c.output().await.map_err(|e| WireError::Command {
                pod: pod.into(),
                command: line.clone(),
                reason: e.to_string(),
            })?;
            if !out.status.success() {
                return Err(WireError::Command {
                    pod: pod.into(),
                    command: line,
                    reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                });
            }
            Ok(())
        });
        futures::future::try_join_all(runs).await.map(drop)
    }

    /// Removes the pod's wiring: the veth pair (from either end) and, if
    /// `spec.remove_netns`, the namespace. Absent parts are fine.
    ///
    /// # Errors
    /// [`WireError::Netlink`] / [`WireError::Netns`] naming the pod.
    pub async fn unwire(&self, spec: &PodSpec) -> Result<(), WireError> {
        let pod = spec.name.as_str();
        let nle = |op, object: &str| netlink_error(pod, op, object);
        if spec.host_if.is_empty() || spec.host_if.len() > IFNAME_MAX {
            return Err(WireError::Invalid {
                pod: pod.into(),
                reason: format!("host interface name {:?} is invalid", spec.host_if),
            });
        }
        let mut host_deleted = false;
        if let Some(h) = nl::link(&self.handle, &spec.host_if)
            .await
            .map_err(nle("get link", &spec.host_if))?
        {
            let alias = format!("{ALIAS_PREFIX}{pod}");
            if h.alias.as_deref() == Some(alias.as_str()) {
                nl::del_link(&self.handle, h.index)
                    .await
                    .map_err(nle("delete link", &spec.host_if))?;
                host_deleted = true;
            }
        }
        let ns_path = spec.netns.path();
        let drop_ns = spec.remove_netns && matches!(spec.netns, NetnsRef::Named(_));
        // The pod end dies with the host end, or with the namespace; only a kept namespace
        // whose host end was already gone needs a look inside.
        if !host_deleted && !drop_ns && netns::is_netns(&ns_path) {
            let inner = netns::rtnetlink_in(Some(&ns_path))
                .await
                .map_err(|source| WireError::Netns {
                    pod: pod.into(),
                    source,
                })?;
            let name = spec.ifname.as_str();
            if let Some(l) = nl::link(&inner, name)
                .await
                .map_err(nle("get link", name))?
            {
                if l.veth {
                    nl::del_link(&inner, l.index)
                        .await
                        .map_err(nle("delete link", name))?;
                }
            }
        }
        if drop_ns {
            netns::remove(&ns_path).map_err(|source| WireError::Netns {
                pod: pod.into(),
                source,
            })?;
        }
        Ok(())
    }

    /// Brings the host end up again if something turned it down; returns whether it did.
    ///
    /// ovs-vswitchd turns on `PROMISC` when it adds a port, computing the new flags from
    /// its cached copy; for a device made again under a name it knew, that copy can be the
    /// old device's (down), and the new device goes down with it. [`crate::Wirer`] calls
    /// this once the port has its ofport.
    ///
    /// # Errors
    /// [`WireError::Netlink`] naming the pod.
    pub async fn ensure_host_up(&self, spec: &PodSpec) -> Result<bool, WireError> {
        let nle = |op, object: &str| netlink_error(&spec.name, op, object);
        match nl::link(&self.handle, &spec.host_if)
            .await
            .map_err(nle("get link", &spec.host_if))?
        {
            Some(l) if !l.up => {
                let want = LinkWant {
                    up: true,
                    ..LinkWant::default()
                };
                nl::ensure_link(&self.handle, &l, &want)
                    .await
                    .map_err(nle("set link", &spec.host_if))
            }
            _ => Ok(false),
        }
    }

    /// The host veths in this namespace that the agent made: `(interface, pod)` for every
    /// link named by the scheme whose alias names a pod.
    ///
    /// # Errors
    /// If the links cannot be listed.
    pub async fn own_veths(&self) -> Result<Vec<(String, String)>, rtnetlink::Error> {
        Ok(nl::links(&self.handle)
            .await?
            .into_iter()
            .filter(|l| is_host_if_name(&l.name))
            .filter_map(|l| {
                let pod = l.alias.as_deref()?.strip_prefix(ALIAS_PREFIX)?.to_owned();
                Some((l.name, pod))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PodSpec {
        let mut s = PodSpec::new(
            "web-1",
            Ipv4Addr::new(10, 244, 1, 3),
            24,
            Ipv4Addr::new(10, 244, 1, 1),
        );
        s.subnet = Some("10.244.1.0/24".parse().unwrap());
        s
    }

    #[test]
    fn host_if_names_are_deterministic_short_and_recognisable() {
        let a = host_if_name("web-1");
        assert_eq!(a, host_if_name("web-1"));
        assert_ne!(a, host_if_name("web-2"));
        assert_eq!(a.len(), IFNAME_MAX);
        assert!(is_host_if_name(&a));
        assert!(!is_host_if_name("yard0"));
        assert!(!is_host_if_name("eth0"));
        let long = "x".repeat(63);
        assert_eq!(host_if_name(&long).len(), IFNAME_MAX);
    }

    #[test]
    fn a_good_spec_validates() {
        spec().validate().unwrap();
    }

    #[test]
    fn rejects_address_outside_the_node_subnet() {
        let mut s = spec();
        s.ip = Ipv4Addr::new(10, 244, 2, 3);
        s.gateway = Ipv4Addr::new(10, 244, 2, 1);
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("pod web-1") && e.contains("outside the node subnet 10.244.1.0/24"),
            "{e}"
        );
    }

    #[test]
    fn rejects_multicast_mac() {
        let mut s = spec();
        s.mac = "01:00:5e:00:00:01".parse().unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("multicast"), "{e}");
    }

    #[test]
    fn rejects_too_long_interface_name() {
        let mut s = spec();
        s.ifname = "a-very-long-ifname".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("1..=15 characters"), "{e}");
    }

    #[test]
    fn rejects_gateway_and_broadcast_mistakes() {
        let mut s = spec();
        s.gateway = s.ip;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.ip = Ipv4Addr::new(10, 244, 1, 255);
        assert!(s.validate().is_err());
        let mut s = spec();
        s.mtu = 10;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.netns = NetnsRef::Named("a/b".into());
        assert!(s.validate().is_err());
    }
}
