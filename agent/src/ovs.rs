//! Attaching pod ports to br-int. The controller binds a pod's flows to the Interface whose
//! `external_ids` carry `switchyard-pod`, `switchyard-pod-ip` and `switchyard-pod-mac`, so
//! those keys are the contract; [`PortAttach`] is how the agent writes them, with two
//! implementations: [`OvsdbPorts`] (our own OVSDB client, what `yard-agent` uses) and
//! [`VsctlPorts`] (`ovs-vsctl` commands, kept as a fallback and as the benchmark's floor).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use switchyard_api::MacAddr;

/// `external_ids` key naming the pod a port belongs to.
pub const EXT_POD: &str = "switchyard-pod";
/// `external_ids` key with the pod's IPv4 address.
pub const EXT_POD_IP: &str = "switchyard-pod-ip";
/// `external_ids` key with the pod's MAC.
pub const EXT_POD_MAC: &str = "switchyard-pod-mac";
/// `external_ids` key with the pod's network namespace (name or path), for orphan cleanup.
pub const EXT_POD_NETNS: &str = "switchyard-pod-netns";

/// A pod's host-side port as the bridge should carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPort {
    /// The host-side veth (port and interface name).
    pub name: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// The pod's MAC.
    pub mac: MacAddr,
    /// The pod's namespace, as the API names it.
    pub netns: String,
}

impl PodPort {
    /// The `external_ids` the port gets.
    pub fn external_ids(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (EXT_POD.to_owned(), self.pod.clone()),
            (EXT_POD_IP.to_owned(), self.ip.to_string()),
            (EXT_POD_MAC.to_owned(), self.mac.to_string()),
            (EXT_POD_NETNS.to_owned(), self.netns.clone()),
        ])
    }
}

/// A port on the bridge that carries `switchyard-pod` (one the agent made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPort {
    /// Port/interface name.
    pub name: String,
    /// The pod it was made for.
    pub pod: String,
    /// The pod's namespace, if recorded.
    pub netns: Option<String>,
}

/// Why a bridge operation failed.
#[derive(Debug, thiserror::Error)]
#[error("OVSDB {op} of port {port} on {bridge} failed: {reason}")]
pub struct OvsError {
    /// `attach`, `detach`, `list` or `ofport`.
    pub op: &'static str,
    /// The bridge.
    pub bridge: String,
    /// The port (empty for `list`).
    pub port: String,
    /// What the database or the tool said.
    pub reason: String,
}

/// Adds and removes pod ports on one bridge. Every method is idempotent.
pub trait PortAttach: Send + Sync {
    /// The bridge's name (`br-int`).
    fn bridge(&self) -> &str;
    /// Makes `port` a port of the bridge with exactly the pod's `external_ids` keys set.
    fn attach(&self, port: &PodPort) -> impl Future<Output = Result<(), OvsError>> + Send;
    /// Removes the port; `Ok(false)` if it was not there.
    fn detach(&self, name: &str) -> impl Future<Output = Result<bool, OvsError>> + Send;
    /// Every interface that carries `switchyard-pod`.
    fn pod_ports(&self) -> impl Future<Output = Result<Vec<OwnedPort>, OvsError>> + Send;
    /// Attaches `port` after its device was made again (a repaired veth with the same
    /// name): if the port existed, it is removed and ovs-vswitchd is waited for before it is
    /// added back, because the userspace datapath keeps reading the old device otherwise
    /// (its AF_PACKET socket is bound to the old interface index), and traffic stops.
    fn reattach(&self, port: &PodPort) -> impl Future<Output = Result<(), OvsError>> + Send;
    /// Waits until ovs-vswitchd has given the interface an OpenFlow port number.
    fn ofport(
        &self,
        name: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<u32, OvsError>> + Send;
}

/// [`PortAttach`] through `ovs-vsctl --db=TARGET` commands.
#[derive(Debug, Clone)]
pub struct VsctlPorts {
    db: String,
    bridge: String,
}

impl VsctlPorts {
    /// `db` is an OVSDB target (`unix:/var/run/openvswitch/db.sock`).
    pub fn new(db: impl Into<String>, bridge: impl Into<String>) -> VsctlPorts {
        VsctlPorts {
            db: db.into(),
            bridge: bridge.into(),
        }
    }

    async fn vsctl(
        &self,
        op: &'static str,
        port: &str,
        args: &[String],
    ) -> Result<String, OvsError> {
        let out = tokio::process::Command::new("ovs-vsctl")
            .arg(format!("--db={}", self.db))
            .arg("--timeout=10")
            .args(args)
            .output()
            .await
            .map_err(|e| self.err(op, port, format!("cannot run ovs-vsctl: {e}")))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(self.err(op, port, msg));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn err(&self, op: &'static str, port: &str, reason: String) -> OvsError {
        OvsError {
            op,
            bridge: self.bridge.clone(),
            port: port.to_owned(),
            reason,
        }
    }
}

impl PortAttach for VsctlPorts {
    fn bridge(&self) -> &str {
        &self.bridge
    }

    async fn attach(&self, port: &PodPort) -> Result<(), OvsError> {
        let mut args: Vec<String> = ["--", "--may-exist", "add-port", &self.bridge, &port.name]
            .map(str::to_owned)
            .into();
        args.extend(["--", "set", "Interface", &port.name].map(str::to_owned));
        for (k, v) in port.external_ids() {
            args.push(format!("external_ids:{k}=\"{v}\""));
        }
        self.vsctl("attach", &port.name, &args).await.map(drop)
    }

    async fn detach(&self, name: &str) -> Result<bool, OvsError> {
        let exists = self
            .vsctl(
                "detach",
                name,
                &[
                    "--if-exists".into(),
                    "get".into(),
                    "Port".into(),
                    name.into(),
                    "name".into(),
                ],
            )
            .await?;
        if exists.trim().is_empty() {
            return Ok(false);
        }
        let args = ["--if-exists", "del-port", &self.bridge, name].map(str::to_owned);
        self.vsctl("detach", name, &args).await.map(|_| true)
    }

    async fn reattach(&self, port: &PodPort) -> Result<(), OvsError> {
        // Without --no-wait, ovs-vsctl waits until ovs-vswitchd has applied the removal.
        self.detach(&port.name).await?;
        self.attach(port).await
    }

    async fn pod_ports(&self) -> Result<Vec<OwnedPort>, OvsError> {
        let args = [
            "--columns=name,external_ids",
            "--format=csv",
            "--data=bare",
            "--no-headings",
            "list",
            "Interface",
        ]
        .map(str::to_owned);
        let out = self.vsctl("list", "", &args).await?;
        Ok(out.lines().filter_map(parse_vsctl_row).collect())
    }

    async fn ofport(&self, name: &str, timeout: Duration) -> Result<u32, OvsError> {
        let start = Instant::now();
        loop {
            let args = ["get", "Interface", name, "ofport"].map(str::to_owned);
            let out = self.vsctl("ofport", name, &args).await?;
            if let Ok(n) = out.trim().parse::<i64>() {
                if let Ok(port) = u32::try_from(n) {
                    if port > 0 {
                        return Ok(port);
                    }
                }
            }
            if start.elapsed() > timeout {
                return Err(self.err(
                    "ofport",
                    name,
                    format!("no ofport after {timeout:?}; is ovs-vswitchd running?"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// [`PortAttach`] through Switchyard's own OVSDB client (`ovsdb::vswitch`): one
/// transaction per attach or detach, ofport waits on a monitor instead of polling.
#[derive(Clone)]
pub struct OvsdbPorts {
    client: ovsdb::Client,
    bridge: String,
}

impl std::fmt::Debug for OvsdbPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvsdbPorts")
            .field("bridge", &self.bridge)
            .finish()
    }
}

impl OvsdbPorts {
    /// Uses an open client (it reconnects by itself).
    pub fn new(client: ovsdb::Client, bridge: impl Into<String>) -> OvsdbPorts {
        OvsdbPorts {
            client,
            bridge: bridge.into(),
        }
    }

    /// Connects to `target` (`unix:PATH` or `tcp:IP:PORT`).
    ///
    /// # Errors
    /// The client's error when the first connection fails.
    pub async fn connect(
        target: &str,
        bridge: impl Into<String>,
    ) -> Result<OvsdbPorts, ovsdb::Error> {
        Ok(OvsdbPorts::new(
            ovsdb::Client::connect(target).await?,
            bridge,
        ))
    }

    fn err(&self, op: &'static str, port: &str, e: ovsdb::Error) -> OvsError {
        OvsError {
            op,
            bridge: self.bridge.clone(),
            port: port.to_owned(),
            reason: crate::error_chain(&e),
        }
    }
}

impl PortAttach for OvsdbPorts {
    fn bridge(&self) -> &str {
        &self.bridge
    }

    async fn attach(&self, port: &PodPort) -> Result<(), OvsError> {
        let spec = ovsdb::vswitch::PortSpec {
            name: port.name.clone(),
            iface_type: String::new(),
            options: BTreeMap::new(),
            external_ids: port.external_ids(),
            ofport_request: None,
            mtu_request: None,
        };
        ovsdb::vswitch::ensure_port(&self.client, &self.bridge, &spec)
            .await
            .map(drop)
            .map_err(|e| self.err("attach", &port.name, e))
    }

    async fn detach(&self, name: &str) -> Result<bool, OvsError> {
        ovsdb::vswitch::remove_port(&self.client, &self.bridge, name)
            .await
            .map_err(|e| self.err("detach", name, e))
    }

    async fn reattach(&self, port: &PodPort) -> Result<(), OvsError> {
        if self.detach(&port.name).await? {
            self.sync_switch(&port.name, crate::OFPORT_TIMEOUT).await?;
        }
        self.attach(port).await
    }

    async fn pod_ports(&self) -> Result<Vec<OwnedPort>, OvsError> {
        let rows = ovsdb::vswitch::interfaces(&self.client)
            .await
            .map_err(|e| self.err("list", "", e))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(OwnedPort {
                    pod: r.external_ids.get(EXT_POD)?.clone(),
                    netns: r.external_ids.get(EXT_POD_NETNS).cloned(),
                    name: r.name,
                })
            })
            .collect())
    }

    async fn ofport(&self, name: &str, timeout: Duration) -> Result<u32, OvsError> {
        let n = ovsdb::vswitch::wait_ofport(&self.client, name, timeout)
            .await
            .map_err(|e| self.err("ofport", name, e))?;
        u32::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| {
            self.err_text("ofport", name, format!("ovs-vswitchd reported ofport {n}"))
        })
    }
}

impl OvsdbPorts {
    /// Asks ovs-vswitchd to apply the database now and waits until it has, as `ovs-vsctl`
    /// does: bump `Open_vSwitch.next_cfg`, wait for `cur_cfg` to reach it.
    async fn sync_switch(&self, port: &str, timeout: Duration) -> Result<(), OvsError> {
        use ovsdb::{Mutation, Mutator, Op, Value};
        const DB: &str = "Open_vSwitch";
        let int_of = |r: &[ovsdb::OpResult], i: usize, col: &str| -> Option<i64> {
            match r.get(i)?.rows.as_ref()?.first()?.get(col)?.as_atom()? {
                ovsdb::Atom::Integer(n) => Some(*n),
                _ => None,
            }
        };
        let select = |col: &str| Op::Select {
            table: DB.into(),
            where_: vec![],
            columns: Some(vec![col.into()]),
        };
        let bump = Op::Mutate {
            table: DB.into(),
            where_: vec![],
            mutations: vec![Mutation {
                column: "next_cfg".into(),
                mutator: Mutator::Add,
                value: Value::integer(1),
            }],
        };
        let r = self
            .client
            .transact(DB, vec![bump, select("next_cfg")])
            .await
            .map_err(|e| self.err("sync", port, e))?;
        let want = int_of(&r, 1, "next_cfg")
            .ok_or_else(|| self.err_text("sync", port, "no Open_vSwitch row".into()))?;
        let start = Instant::now();
        loop {
            let r = self
                .client
                .transact(DB, vec![select("cur_cfg")])
                .await
                .map_err(|e| self.err("sync", port, e))?;
            if int_of(&r, 0, "cur_cfg").is_some_and(|c| c >= want) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(self.err_text(
                    "sync",
                    port,
                    format!(
                        "ovs-vswitchd did not apply the change within {timeout:?}; is it running?"
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn err_text(&self, op: &'static str, port: &str, reason: String) -> OvsError {
        OvsError {
            op,
            bridge: self.bridge.clone(),
            port: port.to_owned(),
            reason,
        }
    }
}

/// One line of `--format=csv --data=bare list Interface name,external_ids`:
/// `name,k=v k2=v2` (a value with spaces is quoted by the tool; ours never have any).
fn parse_vsctl_row(line: &str) -> Option<OwnedPort> {
    let (name, ids) = line.split_once(',')?;
    let ids = ids.trim_matches('"');
    let get = |key: &str| {
        ids.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim_matches('"').to_owned())
    };
    Some(OwnedPort {
        name: name.to_owned(),
        pod: get(EXT_POD)?,
        netns: get(EXT_POD_NETNS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsctl_rows_with_the_pod_key_are_ours() {
        let p = parse_vsctl_row(
            "y0123,switchyard-pod=web-1 switchyard-pod-ip=10.244.1.3 switchyard-pod-netns=yp-web-1",
        )
        .unwrap();
        assert_eq!(p.name, "y0123");
        assert_eq!(p.pod, "web-1");
        assert_eq!(p.netns.as_deref(), Some("yp-web-1"));
        assert!(parse_vsctl_row("br-int,").is_none());
        assert!(parse_vsctl_row("x,other=1").is_none());
        assert!(parse_vsctl_row("garbage").is_none());
    }
}
