//! Plain-text rendering of API objects for `yardctl`: aligned tables and `key: value` blocks.
//! Pure functions returning strings; the binary prints them.

use std::collections::BTreeMap;
use std::fmt::Write;

use switchyard_api::{Cluster, FlowEntry, Health, Node, NodeStatus, Pod, Service};

/// `e` followed by its sources, `: `-separated (what a person reads, and the API's messages).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A table with a header row; columns are padded to their widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The table as text, one line per row, columns separated by at least two spaces.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn ovsdb_state(s: &NodeStatus) -> String {
    serde_plain(&s.ovsdb)
}

fn openflow_state(s: &NodeStatus) -> String {
    serde_plain(&s.openflow)
}

/// The JSON string form of a unit enum (`"connected"` → `connected`).
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// `yardctl node list`.
pub fn nodes_table(nodes: &[Node], pods: &[Pod]) -> String {
    let counts = pod_counts(pods);
    let mut t = Table::new(&[
        "NAME", "IP", "SUBNET", "DATAPATH", "UPLINK", "PODS", "OVSDB", "OPENFLOW",
    ]);
    for n in nodes {
        t.row(vec![
            n.name.to_string(),
            n.ip.to_string(),
            n.subnet.to_string(),
            n.datapath.to_string(),
            or_dash(n.uplink.as_ref()),
            counts
                .get(n.name.as_str())
                .copied()
                .unwrap_or(0)
                .to_string(),
            ovsdb_state(&n.status),
            openflow_state(&n.status),
        ]);
    }
    t.render()
}

fn pod_counts(pods: &[Pod]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for p in pods {
        *counts.entry(p.node.as_str()).or_insert(0) += 1;
    }
    counts
}

/// `yardctl pod list`.
pub fn pods_table(pods: &[Pod]) -> String {
    let mut t = Table::new(&["NAME", "NODE", "IP", "MAC", "NETNS", "STATE"]);
    for p in pods {
        t.row(vec![
            p.name.to_string(),
            p.node.to_string(),
            format!("{}/{}", p.ip, p.prefix_len),
            p.mac.to_string(),
            p.netns.clone(),
            p.status.state.to_string(),
        ]);
    }
    t.render()
}

/// Key/value block: keys padded to the longest.
fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{:<w$} {v}", format!("{k}:"), w = w);
    }
    out
}

/// `yardctl node show`.
pub fn node_detail(n: &Node, pods: &[Pod]) -> String {
    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    fields(&[
        ("name", n.name.to_string()),
        ("ip", n.ip.to_string()),
        ("index", n.index.to_string()),
        ("subnet", n.subnet.to_string()),
        ("router ip", n.router_ip.to_string()),
        ("mgmt ip", n.mgmt_ip.to_string()),
        ("mgmt mac", n.mgmt_mac.to_string()),
        ("uplink", or_dash(n.uplink.as_ref())),
        ("datapath", n.datapath.to_string()),
        ("ovsdb", ovsdb_state(&n.status)),
        ("openflow", openflow_state(&n.status)),
        ("flows", or_dash(n.status.flows)),
        ("applied revision", or_dash(n.status.applied_revision)),
        ("reason", or_dash(n.status.reason.as_ref())),
        (
            "pods",
            format!("{} {}", names.len(), names.join(" "))
                .trim_end()
                .to_owned(),
        ),
    ])
}

/// `yardctl pod show`.
pub fn pod_detail(p: &Pod) -> String {
    fields(&[
        ("name", p.name.to_string()),
        ("node", p.node.to_string()),
        ("ip", format!("{}/{}", p.ip, p.prefix_len)),
        ("mac", p.mac.to_string()),
        ("gateway", p.gateway.to_string()),
        ("mtu", p.mtu.to_string()),
        ("netns", p.netns.clone()),
        ("state", p.status.state.to_string()),
        ("reason", or_dash(p.status.reason.as_ref())),
        ("host if", or_dash(p.status.host_if.as_ref())),
        ("ofport", or_dash(p.status.ofport)),
    ])
}

/// `80`, or `80->8080` when the target port differs.
fn service_port(s: &Service) -> String {
    if s.port == s.target_port {
        s.port.to_string()
    } else {
        format!("{}->{}", s.port, s.target_port)
    }
}

/// `yardctl service list`.
pub fn services_table(services: &[Service]) -> String {
    let mut t = Table::new(&[
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "PORT",
        "NODEPORT",
        "PROTO",
        "BACKENDS",
    ]);
    for s in services {
        t.row(vec![
            s.name.to_string(),
            s.service_type.to_string(),
            s.cluster_ip.to_string(),
            service_port(s),
            or_dash(s.node_port),
            s.protocol.to_string(),
            s.backends.len().to_string(),
        ]);
    }
    t.render()
}

/// `yardctl service show`: the service, then one row per backend.
pub fn service_detail(s: &Service) -> String {
    let mut out = fields(&[
        ("name", s.name.to_string()),
        ("id", s.id.to_string()),
        ("type", s.service_type.to_string()),
        ("protocol", s.protocol.to_string()),
        ("cluster ip", s.cluster_ip.to_string()),
        ("port", s.port.to_string()),
        ("target port", s.target_port.to_string()),
        ("node port", or_dash(s.node_port)),
        ("backends", s.backends.len().to_string()),
    ]);
    if !s.backends.is_empty() {
        let mut t = Table::new(&["POD", "NODE", "IP", "PORT"]);
        for b in &s.backends {
            t.row(vec![
                b.pod.to_string(),
                b.node.to_string(),
                b.ip.to_string(),
                b.port.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}

/// `yardctl flows`: one flow per line in ovs-ofctl syntax, with its owner as a trailing comment.
pub fn flows_text(flows: &[FlowEntry]) -> String {
    let mut out = String::new();
    for f in flows {
        if f.owner.is_empty() {
            let _ = writeln!(out, "{}", f.text);
        } else {
            let _ = writeln!(out, "{}  # owner={}", f.text, f.owner);
        }
    }
    out
}

/// `yardctl status`.
pub fn status_text(
    url: &str,
    health: &Health,
    cluster: &Cluster,
    nodes: &[Node],
    pods: &[Pod],
    services: &[Service],
) -> String {
    let mut out = fields(&[
        (
            "controller",
            format!("{url} ({}, revision {})", health.status, health.revision),
        ),
        (
            "cluster",
            format!(
                "{} (nodes /{}), services {}, mtu {}, router mac {}",
                cluster.cluster_cidr,
                cluster.node_prefix_len,
                cluster.service_cidr,
                cluster.mtu,
                cluster.router_mac
            ),
        ),
        ("nodes", nodes.len().to_string()),
        ("pods", pods.len().to_string()),
        ("services", services.len().to_string()),
    ]);
    if !nodes.is_empty() {
        let counts = pod_counts(pods);
        let wired = pods.iter().fold(BTreeMap::new(), |mut m, p| {
            if p.status.state == switchyard_api::PodState::Wired {
                *m.entry(p.node.as_str()).or_insert(0usize) += 1;
            }
            m
        });
        let mut t = Table::new(&[
            "NODE", "OVSDB", "OPENFLOW", "FLOWS", "PODS", "WIRED", "REASON",
        ]);
        for n in nodes {
            let name = n.name.as_str();
            t.row(vec![
                n.name.to_string(),
                ovsdb_state(&n.status),
                openflow_state(&n.status),
                or_dash(n.status.flows),
                counts.get(name).copied().unwrap_or(0).to_string(),
                wired.get(name).copied().unwrap_or(0).to_string(),
                or_dash(n.status.reason.as_ref()),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_are_aligned_without_trailing_spaces() {
        let mut t = Table::new(&["NAME", "IP"]);
        t.row(vec!["n1".into(), "192.168.56.11".into()]);
        t.row(vec!["node-two".into(), "10.0.0.1".into()]);
        assert_eq!(
            t.render(),
            "NAME      IP\nn1        192.168.56.11\nnode-two  10.0.0.1\n"
        );
    }
}
