//! One reconciler per node: it owns the node's OVSDB session and keeps the node's two
//! bridges' flows equal to the desired set.
//!
//! - OVSDB: connect (and reconnect) to `tcp:NODE_IP:6640`, create or repair the bridges and
//!   ports whenever the model or the node's database changes (a replica of the tables
//!   we own is monitored, so someone deleting a port is noticed and undone).
//! - Flows: the desired set is recomputed on every change; a switch that (re)connects is read
//!   back once and brought in line with one bundle; after that each change costs only what
//!   changed (old desired vs new desired), and an audit re-reads the switch now and then.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openflow::{
    Flow, FlowMod, FlowModCommand, Group, GroupMod, GroupModCommand, GroupType, Match, Message,
};
use switchyard_api::{NodeStatus, OpenflowState, OvsdbState};
use tokio::sync::watch;

use super::diff::diff;
use crate::conn::of::{Switch, SwitchError, Switches};
use crate::conn::ovsdb as node_db;
use crate::flows::{self, FlowSet};
use crate::model::NodeName;
use crate::pipeline::{names, Owner, COOKIE_MAGIC};
use crate::state::ClusterState;

/// What every node reconciler shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The cluster state.
    pub state: ClusterState,
    /// Connected switches.
    pub switches: Switches,
    /// Where switches reach the controller (`tcp:IP:PORT` targets).
    pub controller: (IpAddr, u16),
    /// The port every node's ovsdb-server listens on.
    pub ovsdb_port: u16,
    /// How often a switch's tables are read back and repaired even if nothing changed.
    pub audit: Duration,
}

/// What was last made true on one bridge.
#[derive(Default)]
struct Synced {
    generation: u64,
    flows: FlowSet,
}

/// Reads what a switch holds of ours: flows with our cookies, and every group.
pub async fn read_back(switch: &Switch) -> Result<FlowSet, SwitchError> {
    let mut set = FlowSet::default();
    for s in switch
        .flows()
        .await?
        .iter()
        .filter(|s| Owner::is_ours(s.cookie))
    {
        let f = Flow::from(s);
        set.flows
            .insert((f.table_id, f.priority, f.match_.clone()), f);
    }
    for g in &switch.groups().await? {
        set.groups.insert(g.group_id, Group::from(g));
    }
    Ok(set)
}

/// Brings one bridge in line with `want`: a full read-back after a (re)connect or when
/// `audit` is set, else only the change since the last successful push.
async fn sync(
    node: &NodeName,
    switch: &Switch,
    synced: &mut Synced,
    want: &FlowSet,
    audit: bool,
) -> Result<(), SwitchError> {
    let fresh = synced.generation != switch.generation;
    let delta = if fresh || audit {
        let have = read_back(switch).await?;
        diff(&have, want)
    } else {
        diff(&synced.flows, want)
    };
    if !delta.is_empty() {
        let d = &delta;
        tracing::info!(%node, bridge = switch.bridge, added = d.flows_added, changed = d.flows_changed,
            removed = d.flows_removed, groups = d.groups_changed, read_back = fresh || audit, "flows updated");
        switch.bundle(delta.messages).await?;
    }
    synced.generation = switch.generation;
    synced.flows = want.clone();
    Ok(())
}

/// Runs node `name`'s reconciler until `stop` turns true or the node leaves the model.
pub async fn run(shared: Arc<Shared>, name: NodeName, stop: watch::Receiver<bool>) {
    let Some(node) = shared.state.snapshot().nodes().get(&name).cloned() else {
        return;
    };
    let target = format!("tcp:{}:{}", node.ip, shared.ovsdb_port);
    // The client (re)connects by itself; the config loop reports its state.
    let client = match ovsdb::Client::start(&target, ovsdb::ClientConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            let status = NodeStatus {
                reason: Some(format!("OVSDB {target}: {e}")),
                ..NodeStatus::default()
            };
            let _ = shared.state.set_node_status(&name, status);
            return;
        }
    };
    let replica = ovsdb::Replica::start(
        &client,
        "Open_vSwitch",
        &[
            (
                "Bridge",
                &[
                    "name",
                    "ports",
                    "controller",
                    "fail_mode",
                    "other_config",
                    "protocols",
                    "datapath_type",
                ][..],
            ),
            ("Port", &["name", "interfaces"][..]),
            (
                "Interface",
                &["name", "type", "options", "ofport", "external_ids"][..],
            ),
            ("Controller", &["target", "connection_mode"][..]),
        ],
    );
    let status = std::sync::Mutex::new(NodeStatus::default());
    // Two loops, so that flows never wait on an OVSDB round trip (they read the replica), and
    // configuration never waits on a switch. br-int connects to the controller; the
    // controller dials br-ex's passive target.
    let br_ex = std::net::SocketAddr::from((node.ip, crate::pipeline::port::BR_EX_OPENFLOW));
    tokio::select! {
        _ = async {
            tokio::join!(
                config_loop(&shared, &name, &client, &replica, &status, stop.clone()),
                flows_loop(&shared, &name, &replica, &status, stop.clone()),
            )
        } => {}
        _ = crate::conn::of::dial(br_ex, shared.switches.clone(), stop.clone()) => {}
    }
    if !*stop.borrow() && !shared.state.snapshot().nodes().contains_key(&name) {
        forget(&shared, &node, &client).await;
    }
}

/// The node left the cluster: take back what the controller put on it — br-int's flows and
/// groups, the tunnels, the controller targets. br-ex keeps its `NORMAL` rule, so the host's
/// own traffic never stops.
async fn forget(shared: &Shared, node: &crate::model::NodeSpec, client: &ovsdb::Client) {
    if let Some(switch) = shared.switches.get(node.index, names::BR_INT) {
        let mut flows = FlowMod::new(FlowModCommand::Delete, 0xff, 0, Match::new());
        flows.cookie = COOKIE_MAGIC << 48;
        flows.cookie_mask = 0xffff << 48;
        let groups = GroupMod {
            command: GroupModCommand::Delete,
            group_type: GroupType::All,
            group_id: openflow::action::group::ALL,
            buckets: Vec::new(),
        };
        if let Err(e) = switch
            .bundle(vec![Message::FlowMod(flows), Message::GroupMod(groups)])
            .await
        {
            tracing::warn!(node = %node.name, error = %e, "removing the flows of a removed node failed");
        }
    }
    if let Err(e) = node_db::forget(client).await {
        tracing::warn!(node = %node.name, error = %e, "removing the tunnels and controller targets of a removed node failed");
    }
    tracing::info!(node = %node.name, "node removed: its flows, tunnels and controller targets are gone");
}

fn report(
    shared: &Shared,
    name: &NodeName,
    status: &std::sync::Mutex<NodeStatus>,
    f: impl FnOnce(&mut NodeStatus),
) {
    let mut s = status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut s);
    let _ = shared.state.set_node_status(name, s.clone());
}

/// Keeps the node's bridges and ports as the model says.
async fn config_loop(
    shared: &Shared,
    name: &NodeName,
    client: &ovsdb::Client,
    replica: &ovsdb::Replica,
    status: &std::sync::Mutex<NodeStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let mut revisions = shared.state.subscribe();
    let mut db_events = client.connection_events();
    let mut db_changes = replica.changed();
    let mut retry = false;
    let mut seen_generation = 0;
    loop {
        let model = shared.state.snapshot();
        let Some(node) = model.nodes().get(name).cloned() else {
            return;
        };
        let conn = db_events.borrow_and_update().clone();
        let connected = matches!(conn, ovsdb::ConnState::Connected { .. });
        if let ovsdb::ConnState::Connected { generation } = conn {
            if generation != seen_generation {
                tracing::info!(node = %name, generation, "OVSDB connected");
                seen_generation = generation;
            }
        }
        if connected {
            match node_db::ensure(client, &model, &node, shared.controller).await {
                Ok(changed) => {
                    if changed {
                        tracing::info!(node = %name, "switch configuration created or repaired");
                    }
                    retry = false;
                    report(shared, name, status, |s| s.ovsdb = OvsdbState::Connected);
                }
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "switch configuration failed; retrying");
                    retry = true;
                    report(shared, name, status, |s| {
                        s.ovsdb = OvsdbState::Error;
                        s.reason = Some(format!("OVSDB: {e}"));
                    });
                }
            }
        } else {
            let reason = match conn {
                ovsdb::ConnState::Disconnected { reason } => {
                    Some(format!("OVSDB {}: {reason}", client.target()))
                }
                _ => None,
            };
            report(shared, name, status, |s| {
                s.ovsdb = OvsdbState::Connecting;
                s.reason = reason;
            });
        }
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            r = revisions.changed() => if r.is_err() { return },
            _ = db_changes.changed() => {}
            _ = db_events.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
    }
}

/// Keeps the node's flows as the model and the learned ports say.
async fn flows_loop(
    shared: &Shared,
    name: &NodeName,
    replica: &ovsdb::Replica,
    status: &std::sync::Mutex<NodeStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let mut revisions = shared.state.subscribe();
    let mut switch_events = shared.switches.subscribe();
    let mut db_changes = replica.changed();
    let mut int = Synced::default();
    let mut ex = Synced::default();
    let mut audit = tokio::time::interval(shared.audit);
    audit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    audit.tick().await;
    // Until the replica holds the node's interfaces the pods' ports are unknown, and a push
    // then would take their flows away (after a controller restart, say).
    tokio::select! {
        _ = replica.ready() => {}
        _ = crate::stopped(&mut stop) => return,
    }
    let mut full = false;
    loop {
        let model = shared.state.snapshot();
        let Some(node) = model.nodes().get(name).cloned() else {
            return;
        };
        let learned = node_db::learn(replica, &model, &node);
        let want = flows::desired(&model, &node, &learned);
        let mut retry = false;
        let mut br_int_connected = false;
        for (bridge, synced, set) in [
            (names::BR_INT, &mut int, &want.br_int),
            (names::BR_EX, &mut ex, &want.br_ex),
        ] {
            let Some(switch) = shared.switches.get(node.index, bridge) else {
                continue;
            };
            br_int_connected |= bridge == names::BR_INT;
            if let Err(e) = sync(name, &switch, synced, set, full).await {
                tracing::warn!(node = %name, bridge, error = %e, "pushing flows failed; will re-read the switch");
                synced.generation = 0;
                retry = true;
                report(shared, name, status, |s| s.reason = Some(e.to_string()));
            }
        }
        report(shared, name, status, |s| {
            s.openflow = if br_int_connected {
                OpenflowState::Connected
            } else {
                OpenflowState::Disconnected
            };
            s.flows = Some(want.br_int.len() as u64);
            if !retry && br_int_connected && s.ovsdb == OvsdbState::Connected {
                s.reason = None;
            }
        });
        full = false;
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            r = revisions.changed() => if r.is_err() { return },
            _ = switch_events.changed() => {}
            _ = db_changes.changed() => {}
            _ = audit.tick() => full = true,
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
    }
}
