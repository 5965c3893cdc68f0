//! Services: filled in when the service model lands.

use super::node::Ctx;
use super::{Learned, NodeFlows};

/// Adds every service's flows and groups on `ctx.node`.
pub fn flows(_ctx: &Ctx<'_>, _learned: &Learned, _out: &mut NodeFlows) {}
