//! `yard-sim`: a fleet of simulated Open vSwitch nodes that talk to a real `yard-controller`
//! over the real protocols, and the benchmark that drives them.
//!
//! What it is: per node, an RFC 7047 OVSDB server ([`ovsdb_server::SimDb`]) holding the
//! node's `Open_vSwitch` database with a simulated ovs-vswitchd (ofports, datapath ids), and
//! two OpenFlow 1.3 bridges ([`switch::Bridge`]) built on the `openflow` codec, which follow
//! the controller targets the database names. Agents are simulated: pod ports are written
//! to the node's database with the agent's own contract (`agent::ovs`).
//!
//! What it is not: no packets are forwarded, no datapath, no kernel state.

pub mod driver;
pub mod node;
pub mod ovsdb_server;
pub mod switch;
