//! The difference between two [`FlowSet`]s as the OpenFlow messages that turn one into the
//! other, in an order a bundle can apply: groups that flows will point to first, then flows,
//! then the groups nothing points to any more.

use openflow::{FlowModCommand, GroupModCommand, Message};

use crate::flows::FlowSet;

/// What changes between `old` and `new`, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Messages to send, in order.
    pub messages: Vec<Message>,
    /// Flows added (new identity).
    pub flows_added: usize,
    /// Flows whose actions or cookie changed (re-added in place).
    pub flows_changed: usize,
    /// Flows removed.
    pub flows_removed: usize,
    /// Groups added, changed or removed.
    pub groups_changed: usize,
}

impl Delta {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// The messages that make a switch holding `old` hold `new`. Only our own flows ever appear
/// in `old` (callers filter foreign cookies out), so nothing foreign is touched.
pub fn diff(old: &FlowSet, new: &FlowSet) -> Delta {
    let mut d = Delta::default();
    for (id, group) in &new.groups {
        let command = match old.groups.get(id) {
            None => GroupModCommand::Add,
            Some(g) if g == group => continue,
            Some(_) => GroupModCommand::Modify,
        };
        d.messages
            .push(Message::GroupMod(group.to_group_mod(command)));
        d.groups_changed += 1;
    }
    for (key, flow) in &new.flows {
        match old.flows.get(key) {
            Some(f) if f == flow => continue,
            // ADD with the same table, priority and match replaces the flow, cookie included.
            Some(_) => d.flows_changed += 1,
            None => d.flows_added += 1,
        }
        d.messages
            .push(Message::FlowMod(flow.to_flow_mod(FlowModCommand::Add)));
    }
    for (key, flow) in &old.flows {
        if !new.flows.contains_key(key) {
            let mut del = flow.to_flow_mod(FlowModCommand::DeleteStrict);
            del.cookie_mask = u64::MAX;
            del.instructions.clear();
            d.messages.push(Message::FlowMod(del));
            d.flows_removed += 1;
        }
    }
    for (id, group) in &old.groups {
        if !new.groups.contains_key(id) {
            d.messages.push(Message::GroupMod(
                group.to_group_mod(GroupModCommand::Delete),
            ));
            d.groups_changed += 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::{model, with_service};
    use crate::flows::{desired, Learned};

    fn learned(ports: &[(&str, u32)]) -> Learned {
        Learned {
            pod_ports: ports
                .iter()
                .map(|(p, n)| (p.parse().unwrap(), *n))
                .collect(),
            uplink_port: Some(1),
        }
    }

    #[test]
    fn the_same_state_twice_sends_nothing() {
        let m = model(2, 2);
        let n1 = &m.nodes()[&"n1".parse::<crate::model::NodeName>().unwrap()];
        let l = learned(&[("p1-0", 5), ("p1-1", 6)]);
        let a = desired(&m, n1, &l);
        assert!(diff(&a.br_int, &desired(&m, n1, &l).br_int).is_empty());
        assert!(diff(&a.br_ex, &desired(&m, n1, &l).br_ex).is_empty());
    }

    #[test]
    fn a_new_pod_sends_only_its_flows_and_removal_takes_them_back() {
        let m = model(2, 2);
        let n1 = &m.nodes()[&"n1".parse::<crate::model::NodeName>().unwrap()];
        let before = desired(&m, n1, &learned(&[("p1-0", 5)])).br_int;
        let after = desired(&m, n1, &learned(&[("p1-0", 5), ("p1-1", 6)])).br_int;
        let d = diff(&before, &after);
        assert_eq!((d.flows_added, d.flows_changed, d.flows_removed), (8, 0, 0));
        let back = diff(&after, &before);
        assert_eq!(
            (back.flows_added, back.flows_changed, back.flows_removed),
            (0, 0, 8)
        );
        assert!(back.messages.iter().all(|m| matches!(m, Message::FlowMod(f)
            if f.command == FlowModCommand::DeleteStrict && f.cookie_mask == u64::MAX)));
    }

    #[test]
    fn a_new_backend_changes_one_group_per_node_and_no_flow() {
        let before = with_service(2, 2, &["p1-0", "p2-0"]);
        let after = with_service(2, 2, &["p1-0", "p2-0", "p2-1"]);
        for node in before.nodes().values() {
            let l = learned(&[]);
            let d = diff(
                &desired(&before, node, &l).br_int,
                &desired(&after, node, &l).br_int,
            );
            assert_eq!(
                (
                    d.flows_added,
                    d.flows_changed,
                    d.flows_removed,
                    d.groups_changed
                ),
                (0, 0, 0, 1),
                "{}",
                node.name
            );
            assert!(
                matches!(&d.messages[..], [Message::GroupMod(g)] if g.command == GroupModCommand::Modify)
            );
        }
    }

    #[test]
    fn a_moved_port_changes_flows_in_place() {
        let m = model(1, 1);
        let n1 = &m.nodes()[&"n1".parse::<crate::model::NodeName>().unwrap()];
        let a = desired(&m, n1, &learned(&[("p1-0", 5)])).br_int;
        let b = desired(&m, n1, &learned(&[("p1-0", 9)])).br_int;
        let d = diff(&a, &b);
        // The flows matching in_port=5 are new identities; the L2 output changes in place.
        assert_eq!(d.flows_changed, 1);
        assert_eq!(d.flows_added, d.flows_removed);
    }
}
