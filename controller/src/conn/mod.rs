//! Connections to the nodes' switches: OpenFlow ([`of`]) and OVSDB ([`ovsdb`]), and the live
//! flow dumps `yardctl flows` shows ([`LiveFlows`]).

pub mod of;
pub mod ovsdb;

use openflow::Group;
use switchyard_api::{FlowEntry, FlowQuery, TableSelector};

use crate::model::ClusterModel;
use crate::pipeline::{self, Owner, Table};
use crate::server::{BoxFuture, FlowError, FlowSource};
use crate::state::ClusterState;
use of::Switches;

/// Table name shown for groups in flow dumps.
pub const GROUP_TABLE: &str = "group";

/// Dumps a node's flows (and groups) live from its switch.
#[derive(Debug, Clone)]
pub struct LiveFlows {
    /// The cluster state (to resolve owners).
    pub state: ClusterState,
    /// The connected switches.
    pub switches: Switches,
}

/// The name of the object a cookie names, `""` for foreign cookies.
pub fn owner_name(model: &ClusterModel, cookie: u64) -> String {
    match Owner::from_cookie(cookie) {
        Some(Owner::Node(i)) => model
            .nodes()
            .values()
            .find(|n| n.index == i)
            .map(|n| n.name.to_string()),
        Some(Owner::Pod(ip)) => model
            .pods()
            .values()
            .find(|p| p.ip == ip)
            .map(|p| p.name.to_string()),
        Some(Owner::Service(id)) => crate::flows::service::name_of(model, id),
        Some(Owner::Replies(p, port)) => Some(format!("replies from {p}/{port}")),
        None => None,
    }
    .unwrap_or_default()
}

impl LiveFlows {
    async fn dump_now(&self, q: &FlowQuery) -> Result<Vec<FlowEntry>, FlowError> {
        let model = self.state.snapshot();
        let node = model
            .nodes()
            .get(&q.node)
            .ok_or_else(|| FlowError::NotConnected {
                node: q.node.clone(),
            })?;
        let bridge = q
            .bridge
            .clone()
            .unwrap_or_else(|| pipeline::names::BR_INT.into());
        let table = match &q.table {
            None => None,
            Some(TableSelector::Id(id)) => Some(*id),
            Some(TableSelector::Name(n)) => Some(Table::from_name(n).map(Table::id).ok_or_else(
                || FlowError::BadQuery {
                    field: "table",
                    value: n.clone(),
                    reason: format!(
                    "no such pipeline table; the tables are {}",
                    Table::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                ),
                },
            )?),
        };
        if let Some(owner) = &q.owner {
            let known = model.nodes().keys().any(|n| n.as_str() == owner)
                || model.pods().keys().any(|p| p.as_str() == owner)
                || crate::flows::service::id_of(&model, owner).is_some();
            if !known {
                return Err(FlowError::BadQuery {
                    field: "owner",
                    value: owner.clone(),
                    reason: "no node, pod or service has this name".into(),
                });
            }
        }
        let switch =
            self.switches
                .get(node.index, &bridge)
                .ok_or_else(|| FlowError::NotConnected {
                    node: q.node.clone(),
                })?;
        let failed = |e: of::SwitchError| FlowError::Switch {
            node: q.node.clone(),
            bridge: bridge.clone(),
            reason: e.to_string(),
        };
        let names = pipeline::table_names();
        let mut out = Vec::new();
        for s in switch.flows().await.map_err(failed)? {
            let owner = owner_name(&model, s.cookie);
            if table.is_some_and(|t| t != s.table_id)
                || q.owner.as_ref().is_some_and(|o| *o != owner)
            {
                continue;
            }
            out.push(FlowEntry {
                bridge: bridge.clone(),
                table_id: s.table_id,
                table: Table::from_id(s.table_id)
                    .map(|t| t.name().to_owned())
                    .unwrap_or_default(),
                priority: s.priority,
                cookie: s.cookie,
                owner,
                packets: s.packet_count,
                bytes: s.byte_count,
                text: s.display_with(&names).to_string(),
            });
        }
        if table.is_none() {
            for g in switch.groups().await.map_err(failed)? {
                let owner =
                    crate::flows::service::group_owner(&model, g.group_id).unwrap_or_default();
                if q.owner.as_ref().is_some_and(|o| *o != owner) {
                    continue;
                }
                out.push(FlowEntry {
                    bridge: bridge.clone(),
                    table_id: 0,
                    table: GROUP_TABLE.into(),
                    priority: 0,
                    cookie: 0,
                    owner,
                    packets: 0,
                    bytes: 0,
                    text: Group::from(&g).to_string(),
                });
            }
        }
        Ok(out)
    }
}

impl FlowSource for LiveFlows {
    fn dump<'a>(
        &'a self,
        query: &'a FlowQuery,
    ) -> BoxFuture<'a, Result<Vec<FlowEntry>, FlowError>> {
        Box::pin(self.dump_now(query))
    }
}
