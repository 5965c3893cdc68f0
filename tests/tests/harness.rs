//! The harness itself works: a switch starts, takes a bridge and answers ovs-ofctl.

use switchyard_tests::{ovs_available, unique_name, Netns, Ovs};

#[test]
fn switch_starts_and_answers_ofctl() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::switch();
    ovs.add_bridge("br0");
    let flows = ovs.ofctl(&["dump-flows", "br0"]);
    assert!(
        flows.contains("actions=NORMAL"),
        "fresh bridge has the NORMAL flow: {flows}"
    );
}

#[test]
fn switch_runs_inside_a_namespace() {
    if !ovs_available() {
        return;
    }
    let ns = Netns::new(unique_name("syh"));
    let ovs = Ovs::in_netns(&ns, &[]);
    ovs.add_bridge("br-int");
    let shown = ovs.vsctl(&["show"]);
    assert!(shown.contains("br-int"), "{shown}");
    // The bridge's internal port lives in the namespace, not in the root namespace.
    assert!(ns.ok(&["ip", "link", "show", "br-int"]));
}
