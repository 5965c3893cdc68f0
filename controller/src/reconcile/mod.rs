//! Reconcilers: one per node ([`node`]), started, stopped and woken by [`run`] only for the
//! changes that concern their node, and the pure diff they send ([`diff`]).

pub mod diff;
pub mod node;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::flows;
use crate::model::NodeName;
pub use node::Shared;

/// What wakes one node's reconciler: the newest revision that concerns its flows, and the
/// newest that concerns its switch configuration (the node itself changed).
#[derive(Debug, Clone)]
pub struct Wake {
    /// Flows: pods of this node, any node, any service.
    pub flows: watch::Receiver<u64>,
    /// OVSDB configuration: this node's own record.
    pub config: watch::Receiver<u64>,
}

struct Running {
    task: JoinHandle<()>,
    flows: watch::Sender<u64>,
    config: watch::Sender<u64>,
}

/// Keeps one reconciler running per node of the model until `stop` turns true, and wakes
/// each only for the revisions that concern it: a pod change wakes its node alone, so its
/// cost does not grow with the cluster.
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut revisions = shared.state.subscribe();
    let mut running: HashMap<NodeName, Running> = HashMap::new();
    let mut seen = shared.state.snapshot();
    loop {
        let model = shared.state.snapshot();
        let touched = shared.state.touched_between(seen.revision, model.revision);
        running.retain(|name, r| {
            let keep = model.nodes().contains_key(name) && !r.task.is_finished();
            if !keep {
                tracing::info!(node = %name, "node reconciler stopped");
                r.task.abort();
            }
            keep
        });
        for (name, r) in &running {
            let (flows, config) = match &touched {
                None => (true, true),
                Some(t) => (
                    flows::concerns(&seen, &model, name, t),
                    t.nodes.contains(name),
                ),
            };
            if flows {
                r.flows.send_replace(model.revision);
            }
            if config {
                r.config.send_replace(model.revision);
            }
        }
        for name in model.nodes().keys() {
            if !running.contains_key(name) {
                let (flows, flows_rx) = watch::channel(model.revision);
                let (config, config_rx) = watch::channel(model.revision);
                let wake = Wake {
                    flows: flows_rx,
                    config: config_rx,
                };
                let task =
                    tokio::spawn(node::run(shared.clone(), name.clone(), wake, stop.clone()));
                running.insert(
                    name.clone(),
                    Running {
                        task,
                        flows,
                        config,
                    },
                );
            }
        }
        seen = model;
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            r = revisions.changed() => if r.is_err() { break },
        }
    }
    for (_, r) in running {
        let _ = r.task.await;
    }
}
