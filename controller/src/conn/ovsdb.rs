//! A node's switch configuration over OVSDB: the bridges, their ports, controller targets and
//! table names, as the node's model says, created or repaired by idempotent helpers.

use std::collections::BTreeMap;

use ovsdb::vswitch::{self, BridgeSpec, ControllerSpec, PortSpec};
use ovsdb::{Client, Condition, Op, Value};

use crate::flows::Learned;
use crate::model::{ClusterModel, NodeSpec, PodName};
use crate::pipeline::{self, names, port, Table};

/// `external_ids` key the agent puts on a pod's host veth.
pub const POD_KEY: &str = "switchyard-pod";
/// `external_ids` key on everything the controller creates.
const NODE_KEY: &str = "switchyard-node";

fn map(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn bridge(node: &NodeSpec, name: &str, fail_mode: &str) -> BridgeSpec {
    BridgeSpec {
        name: name.to_owned(),
        datapath_type: node.datapath.as_str().to_owned(),
        fail_mode: Some(fail_mode.to_owned()),
        // OpenFlow10 too, so that plain `ovs-ofctl dump-flows` on the node works; the
        // controller itself speaks 1.3 only.
        protocols: vec!["OpenFlow10".into(), "OpenFlow13".into()],
        other_config: map(&[(
            "datapath-id",
            format!("{:016x}", pipeline::datapath_id(node.index, name)),
        )]),
        external_ids: map(&[(NODE_KEY, node.name.to_string())]),
    }
}

fn port_spec(
    name: &str,
    iface_type: &str,
    options: &[(&str, String)],
    ofport: u32,
    mtu: Option<u16>,
) -> PortSpec {
    PortSpec {
        name: name.to_owned(),
        iface_type: iface_type.to_owned(),
        options: map(options),
        external_ids: BTreeMap::new(),
        ofport_request: Some(i64::from(ofport)),
        mtu_request: mtu.map(i64::from),
    }
}

/// br-int's ports: `yard0`, the patch to br-ex, and the flow-based Geneve port.
fn br_int_ports(model: &ClusterModel) -> Vec<PortSpec> {
    let mut ports = vec![
        port_spec(
            names::MGMT,
            "internal",
            &[],
            port::MGMT,
            Some(model.cluster.mtu),
        ),
        port_spec(
            names::PATCH_INT,
            "patch",
            &[("peer", names::PATCH_EX.into())],
            port::PATCH_INT,
            None,
        ),
    ];
    ports.push(port_spec(
        names::TUNNEL,
        "geneve",
        &[
            ("remote_ip", "flow".into()),
            ("key", "flow".into()),
            ("csum", "true".into()),
        ],
        port::TUNNEL,
        None,
    ));
    ports
}

/// Creates or repairs `node`'s bridges, ports and controller targets. Returns whether
/// anything changed. Idempotent: a second call with the same model changes nothing.
///
/// # Errors
/// The first OVSDB error, naming what failed.
pub async fn ensure(
    client: &Client,
    model: &ClusterModel,
    node: &NodeSpec,
) -> Result<bool, ovsdb::Error> {
    let mut changed = false;
    changed |= vswitch::ensure_bridge(client, &bridge(node, names::BR_INT, "secure")).await?;
    changed |= vswitch::ensure_bridge(client, &bridge(node, names::BR_EX, "standalone")).await?;
    let wanted = br_int_ports(model);
    for p in &wanted {
        changed |= vswitch::ensure_port(client, names::BR_INT, p).await?;
    }
    if let Some(addrs) = model.node_addrs(node) {
        changed |= ensure_mac(client, names::MGMT, &addrs.mgmt_mac.to_string()).await?;
    }
    changed |= vswitch::ensure_port(client, names::BR_EX, &patch_ex()).await?;
    if let Some(uplink) = &node.uplink {
        let up = PortSpec {
            name: uplink.clone(),
            ..PortSpec::default()
        };
        if !vswitch::bridge_ports(client, names::BR_EX)
            .await?
            .contains(uplink)
        {
            changed |= vswitch::ensure_port(client, names::BR_EX, &up).await?;
        }
    }
    // Earlier releases' per-peer tunnels.
    for name in vswitch::bridge_ports(client, names::BR_INT).await? {
        if name.starts_with(names::LEGACY_TUNNEL_PREFIX) {
            changed |= vswitch::remove_port(client, names::BR_INT, &name).await?;
        }
    }
    let tables: Vec<(u8, &str)> = Table::ALL.iter().map(|t| (t.id(), t.name())).collect();
    changed |= vswitch::set_flow_table_names(client, names::BR_INT, &tables).await?;
    let (br_int, br_ex) = controllers(node);
    changed |= vswitch::set_controllers(client, names::BR_INT, &[br_int]).await?;
    changed |= vswitch::set_controllers(client, names::BR_EX, &[br_ex]).await?;
    Ok(changed)
}

fn patch_ex() -> PortSpec {
    port_spec(
        names::PATCH_EX,
        "patch",
        &[("peer", names::PATCH_INT.into())],
        port::PATCH_EX,
        None,
    )
}

/// br-int's and br-ex's controller targets: both passive (`ptcp:PORT:NODE_IP`), dialed by
/// the controller. A bridge with an active ("primary") controller has its table flushed by
/// ovs-vswitchd whenever that controller appears in its configuration — at start, and when
/// `other_config:flow-restore-wait` is lifted after a restart — so the tables an `ovs-ctl
/// restart` saved and put back would be thrown away again, and br-ex (which carries this
/// OVSDB session and the tunnels) would stop switching until our flows arrive. With only
/// passive targets the tables survive a restart and the controller, not the switch's own
/// backoff, decides how soon it reconnects.
fn controllers(node: &NodeSpec) -> (ControllerSpec, ControllerSpec) {
    let ctl = |port: u16| ControllerSpec {
        target: format!("ptcp:{port}:{}", node.ip),
        connection_mode: None,
        inactivity_probe_ms: Some(5_000),
        max_backoff_ms: Some(2_000),
    };
    (ctl(port::BR_INT_OPENFLOW), ctl(port::BR_EX_OPENFLOW))
}

/// The tables and columns a node's replica follows: what [`in_sync`] compares and
/// [`learn`] reads.
pub const REPLICA: &[(&str, &[&str])] = &[
    (
        "Bridge",
        &[
            "name",
            "ports",
            "controller",
            "fail_mode",
            "other_config",
            "external_ids",
            "protocols",
            "datapath_type",
        ],
    ),
    ("Port", &["name", "interfaces"]),
    (
        "Interface",
        &[
            "name",
            "type",
            "options",
            "ofport",
            "ofport_request",
            "mtu_request",
            "mac",
            "external_ids",
        ],
    ),
    (
        "Controller",
        &[
            "target",
            "connection_mode",
            "inactivity_probe",
            "max_backoff",
        ],
    ),
];

/// Whether the node's replica already shows everything [`ensure`] would make (bridges,
/// ports, `yard0`'s MAC, controller targets; not the table names, which only `ensure` writes),
/// so that a wake-up that changes nothing sends no transaction.
pub fn in_sync(replica: &ovsdb::Replica, model: &ClusterModel, node: &NodeSpec) -> bool {
    let bridges = replica.rows("Bridge");
    let find = |name: &str| bridges.iter().find(|b| b.get_str("name") == Some(name));
    let has = |have: &BTreeMap<String, String>, want: &BTreeMap<String, String>| {
        want.iter().all(|(k, v)| have.get(k) == Some(v))
    };
    let bridge_ok = |spec: &BridgeSpec| {
        find(&spec.name).is_some_and(|b| {
            b.get_str("datapath_type") == Some(spec.datapath_type.as_str())
                && b.get("fail_mode")
                    .is_some_and(|v| v.same_as(&Value::optional(spec.fail_mode.as_deref())))
                && b.get("protocols").is_some_and(|v| {
                    v.same_as(&Value::set(spec.protocols.iter().map(String::as_str)))
                })
                && has(&b.get_map("other_config"), &spec.other_config)
                && has(&b.get_map("external_ids"), &spec.external_ids)
        })
    };
    let ifaces_of = |bridge: &str| -> Vec<(String, std::sync::Arc<ovsdb::Row>)> {
        let Some(b) = find(bridge) else {
            return Vec::new();
        };
        b.get_uuids("ports")
            .into_iter()
            .filter_map(|u| replica.row("Port", u))
            .flat_map(|p| {
                let name = p.get_str("name").unwrap_or_default().to_owned();
                p.get_uuids("interfaces")
                    .into_iter()
                    .filter_map(|u| replica.row("Interface", u))
                    .map(move |i| (name.clone(), i))
            })
            .collect()
    };
    let port_ok = |ifaces: &[(String, std::sync::Arc<ovsdb::Row>)], spec: &PortSpec| {
        ifaces.iter().any(|(port, i)| {
            port == &spec.name
                && i.get_str("name") == Some(spec.name.as_str())
                && i.get_str("type").unwrap_or_default() == spec.iface_type
                && i.get_map("options") == spec.options
                && has(&i.get_map("external_ids"), &spec.external_ids)
                && spec
                    .ofport_request
                    .is_none_or(|p| i.get_i64("ofport_request") == Some(p))
                && spec
                    .mtu_request
                    .is_none_or(|m| i.get_i64("mtu_request") == Some(m))
        })
    };
    let controller_ok = |bridge: &str, spec: &ControllerSpec| {
        let Some(b) = find(bridge) else { return false };
        let ctls: Vec<_> = b
            .get_uuids("controller")
            .into_iter()
            .filter_map(|u| replica.row("Controller", u))
            .collect();
        matches!(&ctls[..], [c] if c.get_str("target") == Some(spec.target.as_str())
            && c.get_str("connection_mode") == spec.connection_mode.as_deref()
            && c.get_i64("inactivity_probe") == spec.inactivity_probe_ms
            && c.get_i64("max_backoff") == spec.max_backoff_ms)
    };
    let (int_ctl, ex_ctl) = controllers(node);
    let int_ifaces = ifaces_of(names::BR_INT);
    let ex_ifaces = ifaces_of(names::BR_EX);
    let mgmt_mac = model.node_addrs(node).map(|a| a.mgmt_mac.to_string());
    bridge_ok(&bridge(node, names::BR_INT, "secure"))
        && bridge_ok(&bridge(node, names::BR_EX, "standalone"))
        && br_int_ports(model).iter().all(|p| port_ok(&int_ifaces, p))
        && !int_ifaces
            .iter()
            .any(|(p, _)| p.starts_with(names::LEGACY_TUNNEL_PREFIX))
        && int_ifaces
            .iter()
            .any(|(p, i)| p == names::MGMT && i.get_str("mac").map(str::to_owned) == mgmt_mac)
        && port_ok(&ex_ifaces, &patch_ex())
        && node
            .uplink
            .as_ref()
            .is_none_or(|u| ex_ifaces.iter().any(|(p, _)| p == u))
        && controller_ok(names::BR_INT, &int_ctl)
        && controller_ok(names::BR_EX, &ex_ctl)
}

/// Gives interface `iface` the MAC `mac` (the `mac` column, which ovs-vswitchd applies to
/// internal ports), so flows can address `yard0` by the MAC derived from its IP.
async fn ensure_mac(client: &Client, iface: &str, mac: &str) -> Result<bool, ovsdb::Error> {
    let by_name = || vec![Condition::eq("name", Value::string(iface))];
    let rows = client
        .transact(
            "Open_vSwitch",
            vec![Op::Select {
                table: "Interface".into(),
                where_: by_name(),
                columns: Some(vec!["mac".into()]),
            }],
        )
        .await?;
    let current = rows
        .first()
        .and_then(|r| r.rows.as_ref())
        .and_then(|rows| rows.first())
        .and_then(|row| row.get("mac"))
        .and_then(Value::as_str);
    if current == Some(mac) {
        return Ok(false);
    }
    let row = [("mac".to_owned(), Value::string(mac))]
        .into_iter()
        .collect();
    client
        .transact(
            "Open_vSwitch",
            vec![Op::Update {
                table: "Interface".into(),
                where_: by_name(),
                row,
            }],
        )
        .await?;
    Ok(true)
}

/// Removes what [`ensure`] made that would keep the node tied to the cluster: the Geneve
/// port(s) and both bridges' controller targets (the bridges and `yard0` stay for the host).
///
/// # Errors
/// The first OVSDB error.
pub async fn forget(client: &Client) -> Result<(), ovsdb::Error> {
    for name in vswitch::bridge_ports(client, names::BR_INT).await? {
        if name == names::TUNNEL || name.starts_with(names::LEGACY_TUNNEL_PREFIX) {
            vswitch::remove_port(client, names::BR_INT, &name).await?;
        }
    }
    vswitch::set_controllers(client, names::BR_INT, &[]).await?;
    vswitch::set_controllers(client, names::BR_EX, &[]).await?;
    Ok(())
}

/// What the flows need from OVSDB, read from the node's replica (no round trip): pods' ports
/// (by the agent's `external_ids`) and the uplink's port on br-ex.
pub fn learn(replica: &ovsdb::Replica, model: &ClusterModel, node: &NodeSpec) -> Learned {
    let mut learned = Learned::default();
    for iface in replica.rows("Interface") {
        let Some(ofport) = iface
            .get_i64("ofport")
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0 && *p < 0xff00)
        else {
            continue;
        };
        let name = iface.get_str("name").unwrap_or_default();
        if let Some(pod) = iface
            .get_map("external_ids")
            .get(POD_KEY)
            .and_then(|p| p.parse::<PodName>().ok())
        {
            if model.pods().get(&pod).is_some_and(|p| p.node == node.name) {
                learned.pod_ports.insert(pod, ofport);
            }
        } else if node.uplink.as_deref() == Some(name) {
            learned.uplink_port = Some(ofport);
        }
    }
    learned
}
