//! The test cluster's underlay works before Switchyard touches it: nodes (with the node IP
//! on br-ex, userspace datapath), the controller and the outside world reach each other.

use switchyard_tests::cluster::{Lab, CONTROLLER_IP, EXTERNAL_IP};
use switchyard_tests::ovs_available;

#[test]
fn underlay_connects_nodes_controller_and_outside() {
    if !ovs_available() {
        return;
    }
    let lab = Lab::new(2);
    let n2 = lab.nodes[1].ip.to_string();
    for (ns, dst) in [
        (&lab.nodes[0].netns, n2.as_str()),
        (&lab.nodes[0].netns, &CONTROLLER_IP.to_string()),
        (&lab.ext, &lab.nodes[1].ip.to_string()),
        (&lab.ctl, &EXTERNAL_IP.to_string()),
    ] {
        assert!(
            ns.ok(&["ping", "-c", "1", "-W", "1", "-w", "5", dst]),
            "{} cannot reach {dst}",
            ns.name
        );
    }
}
