//! One reconciler per node: it owns the node's OVSDB session and keeps the node's two
//! bridges' flows equal to the desired set.
//!
//! - OVSDB: connect (and reconnect) to `tcp:NODE_IP:6640`, create or repair the bridges and
//!   ports whenever the model or the node's database changes (a replica of the tables
//!   we own is monitored, so someone deleting a port is noticed and undone).
//! - Flows: a change recomputes the parts it touched, in the old model and in the new
//!   ([`flows::update`]; nothing is stored per node), and sends their difference; a switch that
//!   (re)connects is read back once and brought in line with one bundle against the node's full
//!   set ([`flows::desired`]), and an audit re-reads the switch now and then.

use std::sync::Arc;
use std::time::Duration;

use openflow::{
    Flow, FlowMod, FlowModCommand, Group, GroupMod, GroupModCommand, GroupType, Match, Message,
};
use switchyard_api::{NodeStatus, OpenflowState, OvsdbState};
use tokio::sync::watch;

use super::diff::diff;
use super::Wake;
use crate::conn::of::{Switch, SwitchError, Switches};
use crate::conn::ovsdb as node_db;
use crate::flows::{self, Ctx, FlowSet, Learned, NodeFlows};
use crate::model::{ClusterModel, NodeName};
use crate::pipeline::{names, Owner, COOKIE_MAGIC};
use crate::state::ClusterState;

/// What every node reconciler shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The cluster state.
    pub state: ClusterState,
    /// Connected switches.
    pub switches: Switches,
    /// The port every node's ovsdb-server listens on.
    pub ovsdb_port: u16,
    /// How often a switch's tables are read back and repaired even if nothing changed.
    pub audit: Duration,
    /// Held while computing a node's full flow set or diffing a read-back (CPU work of
    /// milliseconds): a fleet's reconcilers starting at once then take turns with the
    /// connections' tasks instead of starving them of the runtime (echo timeouts).
    pub compute: Arc<tokio::sync::Semaphore>,
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
        set.insert(Flow::from(s));
    }
    for g in &switch.groups().await? {
        set.insert_group(Group::from(g));
    }
    Ok(set)
}

/// Brings one bridge in line: given `want` (the bridge's whole desired set: after a
/// (re)connect, or for the audit), the switch is read back and diffed against it; otherwise
/// only the change `old` → `new` of the parts that changed is sent.
async fn sync(
    shared: &Shared,
    node: &NodeName,
    switch: &Switch,
    want: Option<&FlowSet>,
    (old, new): (&FlowSet, &FlowSet),
) -> Result<(), SwitchError> {
    let read_back_now = want.is_some();
    let delta = match want {
        Some(want) => {
            let back = read_back(switch).await?;
            let _turn = shared.compute.acquire().await;
            diff(&back, want)
        }
        None => diff(old, new),
    };
    if !delta.is_empty() {
        let d = &delta;
        tracing::info!(%node, bridge = switch.bridge, added = d.flows_added, changed = d.flows_changed,
            removed = d.flows_removed, groups = d.groups_changed, read_back = read_back_now, "flows updated");
        switch.bundle(delta.messages).await?;
    }
    Ok(())
}

/// Runs node `name`'s reconciler until `stop` turns true or the node leaves the model.
pub async fn run(shared: Arc<Shared>, name: NodeName, wake: Wake, stop: watch::Receiver<bool>) {
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
    let replica = ovsdb::Replica::start(&client, "Open_vSwitch", node_db::REPLICA);
    let status = std::sync::Mutex::new(NodeStatus::default());
    // Two loops, so that flows never wait on an OVSDB round trip (they read the replica), and
    // configuration never waits on a switch. The controller dials both bridges' passive
    // targets.
    let at = |port| std::net::SocketAddr::from((node.ip, port));
    let dial = |port| crate::conn::of::dial(at(port), shared.switches.clone(), stop.clone());
    use crate::pipeline::port::{BR_EX_OPENFLOW, BR_INT_OPENFLOW};
    tokio::select! {
        _ = async {
            tokio::join!(
                config_loop(&shared, &name, &client, &replica, &status, wake.config, stop.clone()),
                flows_loop(&shared, &name, &replica, &status, wake.flows, stop.clone()),
            )
        } => {}
        _ = async { tokio::join!(dial(BR_INT_OPENFLOW), dial(BR_EX_OPENFLOW)) } => {}
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

/// Keeps the node's bridges and ports as the model says. The replica is compared with what
/// the node should have first, so a wake-up that changes nothing costs no transaction.
async fn config_loop(
    shared: &Shared,
    name: &NodeName,
    client: &ovsdb::Client,
    replica: &ovsdb::Replica,
    status: &std::sync::Mutex<NodeStatus>,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
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
        if let ovsdb::ConnState::Connected { generation } = conn {
            if generation != seen_generation {
                tracing::info!(node = %name, generation, "OVSDB connected");
                seen_generation = generation;
            }
            let ready = *db_changes.borrow_and_update() > 0;
            if ready && node_db::in_sync(replica, &model, &node) {
                retry = false;
                report(shared, name, status, |s| s.ovsdb = OvsdbState::Connected);
            } else {
                match node_db::ensure(client, &model, &node).await {
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
            r = wake.changed() => if r.is_err() { return },
            _ = db_changes.changed() => {}
            _ = db_events.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
    }
}

/// Keeps the node's flows as the model and the learned ports say. Each wake-up recomputes
/// only the parts the revisions since the last one touched ([`flows::touched_parts`]); the
/// whole node is recomputed at start, when the node itself or its uplink changed, and when
/// the revision history no longer reaches back.
async fn flows_loop(
    shared: &Shared,
    name: &NodeName,
    replica: &ovsdb::Replica,
    status: &std::sync::Mutex<NodeStatus>,
    mut wake: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(index) = shared.state.snapshot().nodes().get(name).map(|n| n.index) else {
        return;
    };
    let mut switch_events = shared.switches.subscribe(index);
    let mut db_changes = replica.changed();
    let mut synced = [0u64; 2];
    let mut audit = tokio::time::interval(shared.audit);
    audit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    audit.tick().await;
    // Until the replica holds the node's interfaces the pods' ports are unknown, and a push
    // then would take their flows away (after a controller restart, say).
    tokio::select! {
        _ = replica.ready() => {}
        _ = crate::stopped(&mut stop) => return,
    }
    let mut prev: Option<(Arc<ClusterModel>, Learned)> = None;
    let mut learned_at = 0;
    let mut full = false;
    let mut flow_count = 0usize;
    loop {
        let model = shared.state.snapshot();
        let Some(node) = model.nodes().get(name).cloned() else {
            return;
        };
        let db_version = *db_changes.borrow_and_update();
        let learned = match &prev {
            Some((_, l)) if learned_at == db_version => l.clone(),
            _ => node_db::learn(replica, &model, &node),
        };
        learned_at = db_version;
        let parts = prev.as_ref().and_then(|(old, old_learned)| {
            let touched = shared.state.touched_between(old.revision, model.revision)?;
            flows::touched_parts(old, &model, name, &touched, old_learned, &learned)
        });
        let old_ctx = prev
            .as_ref()
            .and_then(|(m, l)| Ctx::new(m, m.nodes().get(name)?, l));
        // Incremental when the history says what changed; otherwise (first pass, the node's
        // own change, its uplink) the whole set before and after.
        let (update, whole) = match (parts, Ctx::new(&model, &node, &learned), old_ctx) {
            (Some(parts), Some(ctx), Some(old)) => (flows::update(&old, &ctx, &parts), false),
            (_, _, old) => {
                let _turn = shared.compute.acquire().await;
                let old = old.map_or_else(NodeFlows::default, |c| {
                    flows::desired(c.model, c.node, c.learned)
                });
                let new = flows::desired(&model, &node, &learned);
                (flows::Update { old, new }, true)
            }
        };
        let switches = [names::BR_INT, names::BR_EX].map(|b| shared.switches.get(node.index, b));
        let read_back = [0, 1].map(|i| {
            switches[i]
                .as_ref()
                .is_some_and(|s| full || synced[i] != s.generation)
        });
        let computed;
        let want: Option<&NodeFlows> = if whole {
            Some(&update.new)
        } else if read_back.contains(&true) {
            let _turn = shared.compute.acquire().await;
            computed = flows::desired(&model, &node, &learned);
            Some(&computed)
        } else {
            None
        };
        flow_count = match want {
            Some(w) => w.br_int.len(),
            None => (flow_count + update.new.br_int.len()).saturating_sub(update.old.br_int.len()),
        };
        let mut retry = false;
        for (i, bridge) in [names::BR_INT, names::BR_EX].into_iter().enumerate() {
            let Some(switch) = &switches[i] else {
                synced[i] = 0;
                continue;
            };
            fn side(f: &NodeFlows, i: usize) -> &FlowSet {
                if i == 0 {
                    &f.br_int
                } else {
                    &f.br_ex
                }
            }
            let want = want.filter(|_| read_back[i]).map(|w| side(w, i));
            let change = (side(&update.old, i), side(&update.new, i));
            match sync(shared, name, switch, want, change).await {
                Ok(()) => synced[i] = switch.generation,
                Err(e) => {
                    tracing::warn!(node = %name, bridge, error = %e, "pushing flows failed; will re-read the switch");
                    synced[i] = 0;
                    retry = true;
                    report(shared, name, status, |s| s.reason = Some(e.to_string()));
                }
            }
        }
        let [br_int, br_ex] = switches.map(|s| s.is_some());
        report(shared, name, status, |s| {
            s.openflow = if br_int {
                OpenflowState::Connected
            } else {
                OpenflowState::Disconnected
            };
            s.flows = Some(flow_count as u64);
            if !retry && br_int && br_ex {
                s.applied_revision = Some(model.revision);
            }
            if !retry && br_int && s.ovsdb == OvsdbState::Connected {
                s.reason = None;
            }
        });
        prev = Some((model, learned));
        full = false;
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            r = wake.changed() => if r.is_err() { return },
            _ = switch_events.changed() => {}
            _ = db_changes.changed() => {}
            _ = audit.tick() => full = true,
            _ = tokio::time::sleep(Duration::from_secs(1)), if retry => {}
        }
    }
}
