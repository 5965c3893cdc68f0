//! One simulated node: its OVSDB server, and its two bridges, which follow the `Controller`
//! rows the controller writes like ovs-vswitchd does: a passive target (`ptcp:`, what
//! Switchyard writes for both) is listened on, an active one (`tcp:`) dialled.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ovsdb::Value;
use serde_json::{json, Value as Json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::ovsdb_server::SimDb;
use crate::switch::{self, Bridge};

/// A pod port as the node's agent attaches it (the agent's own contract).
#[derive(Debug, Clone)]
pub struct PodPort {
    /// The pod.
    pub pod: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: switchyard_api::MacAddr,
    /// Its namespace as the API names it.
    pub netns: String,
}

impl PodPort {
    fn agent(&self) -> agent::ovs::PodPort {
        agent::ovs::PodPort {
            name: agent::host_if_name(&self.pod),
            pod: self.pod.clone(),
            ip: self.ip,
            mac: self.mac,
            netns: self.netns.clone(),
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A simulated node.
pub struct SimNode {
    /// The node's name.
    pub name: String,
    /// Its address (127.x.y.z).
    pub ip: Ipv4Addr,
    /// Its database.
    pub db: Arc<SimDb>,
    /// br-int.
    pub br_int: Arc<Bridge>,
    /// br-ex.
    pub br_ex: Arc<Bridge>,
    ovsdb_addr: SocketAddr,
    _tasks: Vec<AbortOnDrop>,
}

impl std::fmt::Debug for SimNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNode")
            .field("name", &self.name)
            .field("ip", &self.ip)
            .finish()
    }
}

/// A bridge's controller targets, datapath id and ports, read from the database.
fn bridge_config(db: &SimDb, bridge: &str) -> (Vec<String>, Option<u64>, Vec<(u32, String)>) {
    db.with_tables(|tables| {
        let empty = BTreeMap::new();
        let table = |t: &str| tables.get(t).unwrap_or(&empty);
        let Some(br) = table("Bridge")
            .values()
            .find(|r| r.get("name").and_then(Value::as_str) == Some(bridge))
        else {
            return (Vec::new(), None, Vec::new());
        };
        let ctls = table("Controller");
        let mut targets: Vec<String> = br
            .get("controller")
            .map(Value::uuids)
            .unwrap_or_default()
            .iter()
            .filter_map(|u| ctls.get(u))
            .filter_map(|c| c.get("target").and_then(Value::as_str).map(str::to_owned))
            .collect();
        targets.sort();
        let dpid = br
            .get("datapath_id")
            .and_then(Value::as_str)
            .and_then(|s| u64::from_str_radix(s, 16).ok());
        let (ports, ifaces) = (table("Port"), table("Interface"));
        let mut of = Vec::new();
        for p in br.get("ports").map(Value::uuids).unwrap_or_default() {
            let Some(p) = ports.get(&p) else { continue };
            for i in p.get("interfaces").map(Value::uuids).unwrap_or_default() {
                let Some(i) = ifaces.get(&i) else { continue };
                if let (Some(no), Some(name)) = (
                    i.get("ofport").and_then(Value::as_i64),
                    i.get("name").and_then(Value::as_str),
                ) {
                    if let Ok(no) = u32::try_from(no) {
                        of.push((no, name.to_owned()));
                    }
                }
            }
        }
        (targets, dpid, of)
    })
}

/// `tcp:IP:PORT` → the address; `ptcp:PORT[:IP]` → (address, passive).
fn parse_target(t: &str) -> Option<(SocketAddr, bool)> {
    let mut it = t.split(':');
    match (it.next()?, it.next(), it.next()) {
        ("tcp", Some(ip), Some(port)) => {
            Some((SocketAddr::new(ip.parse().ok()?, port.parse().ok()?), false))
        }
        ("ptcp", Some(port), ip) => Some((
            SocketAddr::new(ip.unwrap_or("0.0.0.0").parse().ok()?, port.parse().ok()?),
            true,
        )),
        _ => None,
    }
}

/// Keeps `bridge` attached to the targets the database names, as ovs-vswitchd does.
async fn follow(db: Arc<SimDb>, bridge: Arc<Bridge>) {
    let mut changes = db.changes();
    let mut current: Option<(String, AbortOnDrop)> = None;
    loop {
        let (targets, dpid, ports) = bridge_config(&db, &bridge.name);
        if let Some(d) = dpid {
            bridge.set_dpid(d);
        }
        bridge.set_ports(ports);
        // One target per bridge is all Switchyard sets.
        let want = targets.first().cloned().filter(|_| dpid.is_some());
        if want.as_ref() != current.as_ref().map(|c| &c.0) {
            current = None;
            if let Some(t) = want {
                if let Some((addr, passive)) = parse_target(&t) {
                    let b = bridge.clone();
                    let task = if passive {
                        tokio::spawn(listen(addr, b))
                    } else {
                        tokio::spawn(dial(addr, b))
                    };
                    current = Some((t, AbortOnDrop(task)));
                }
            }
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// An active target: connect, serve, reconnect with backoff (like OVS's `max_backoff`).
async fn dial(addr: SocketAddr, bridge: Arc<Bridge>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if let Ok(s) = TcpStream::connect(addr).await {
            let _ = s.set_nodelay(true);
            backoff = Duration::from_millis(50);
            switch::serve(s, bridge.clone()).await;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// A passive target: accept the controller's connections.
async fn listen(addr: SocketAddr, bridge: Arc<Bridge>) {
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let mut conns = Vec::new();
    loop {
        if let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            conns.retain(|c: &AbortOnDrop| !c.0.is_finished());
            conns.push(AbortOnDrop(tokio::spawn(switch::serve(s, bridge.clone()))));
        }
    }
}

impl SimNode {
    /// Starts the node: its OVSDB server on `ip:ovsdb_port` and the bridges' followers.
    ///
    /// # Errors
    /// Binding the OVSDB address failed.
    pub async fn start(name: &str, ip: Ipv4Addr, ovsdb_port: u16) -> std::io::Result<SimNode> {
        let db = SimDb::new(true);
        let ovsdb_addr = SocketAddr::from((ip, ovsdb_port));
        let listener = TcpListener::bind(ovsdb_addr).await?;
        let br_int = Bridge::new("br-int");
        let br_ex = Bridge::new("br-ex");
        let tasks = vec![
            AbortOnDrop(tokio::spawn(db.clone().serve(listener))),
            AbortOnDrop(tokio::spawn(follow(db.clone(), br_int.clone()))),
            AbortOnDrop(tokio::spawn(follow(db.clone(), br_ex.clone()))),
        ];
        Ok(SimNode {
            name: name.to_owned(),
            ip,
            db,
            br_int,
            br_ex,
            ovsdb_addr,
            _tasks: tasks,
        })
    }

    /// Whether the node's database has a bridge named `name` yet.
    pub fn has_bridge(&self, name: &str) -> bool {
        self.db.with_tables(|t| {
            t.get("Bridge").is_some_and(|rows| {
                rows.values()
                    .any(|r| r.get("name").and_then(Value::as_str) == Some(name))
            })
        })
    }

    /// Attaches pods' ports to br-int in one transaction, with the rows the agent's
    /// `ovsdb::vswitch::ensure_port` inserts for a new port (Interface, Port, Bridge.ports).
    /// Bulk loading only: a real agent makes one transaction per pod.
    ///
    /// # Errors
    /// The database's error text.
    pub fn attach_bulk(&self, pods: &[PodPort]) -> Result<(), String> {
        let mut ops: Vec<Json> = Vec::new();
        let mut refs = Vec::new();
        for (i, p) in pods.iter().enumerate() {
            let a = p.agent();
            let ids: Vec<Json> = a
                .external_ids()
                .into_iter()
                .map(|(k, v)| json!([k, v]))
                .collect();
            ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{i}"),
                "row": {"name": a.name, "type": "", "options": ["map", []], "external_ids": ["map", ids]}}));
            ops.push(
                json!({"op": "insert", "table": "Port", "uuid-name": format!("p{i}"),
                "row": {"name": a.name, "interfaces": ["named-uuid", format!("i{i}")]}}),
            );
            refs.push(json!(["named-uuid", format!("p{i}")]));
        }
        ops.push(
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
            "mutations": [["ports", "insert", ["set", refs]]]}),
        );
        let r = self.db.transact(&ops);
        match r
            .as_array()
            .and_then(|a| a.iter().find(|x| x.get("error").is_some()))
        {
            Some(e) => Err(e.to_string()),
            None if r[ops.len() - 1]["count"] == json!(1) => Ok(()),
            None => Err("br-int does not exist yet".into()),
        }
    }

    /// Attaches one pod's port as `yard-agent` does: through the agent's own OVSDB code
    /// (`agent::ovs::OvsdbPorts`), over TCP to this node's server.
    ///
    /// # Errors
    /// The agent's error.
    pub async fn attach_as_agent(
        &self,
        client: &ovsdb::Client,
        pod: &PodPort,
    ) -> Result<(), String> {
        use agent::ovs::PortAttach;
        let ports = agent::ovs::OvsdbPorts::new(client.clone(), "br-int");
        ports.attach(&pod.agent()).await.map_err(|e| e.to_string())
    }

    /// An OVSDB client of this node's server (what the node's agent would hold).
    ///
    /// # Errors
    /// Connecting failed.
    pub async fn client(&self) -> Result<ovsdb::Client, String> {
        ovsdb::Client::connect(&format!("tcp:{}", self.ovsdb_addr))
            .await
            .map_err(|e| e.to_string())
    }

    /// Ends every OpenFlow connection (the tasks end when the node is dropped).
    pub fn close(&self) {
        self.br_int.close();
        self.br_ex.close();
    }
}
