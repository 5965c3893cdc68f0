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
/// cost does not grow with the cluster. Reconcilers are started and stopped when the nodes
/// change (one that ended by itself is restarted then too).
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut revisions = shared.state.subscribe();
    let mut running: HashMap<NodeName, Running> = HashMap::new();
    let mut seen = shared.state.snapshot();
    let mut first = true;
    loop {
        let model = shared.state.snapshot();
        let touched = if first {
            None
        } else {
            shared.state.touched_between(seen.revision, model.revision)
        };
        first = false;
        // A node or service change (or a gap in the history) wakes every reconciler; a pod
        // change only its node's, without looking at the others.
        let concerned = touched
            .as_ref()
            .and_then(|t| flows::concerned(&seen, &model, t));
        let config = |name: &NodeName| touched.as_ref().is_none_or(|t| t.nodes.contains(name));
        let wake = |name: &NodeName, r: &Running| {
            r.flows.send_replace(model.revision);
            if config(name) {
                r.config.send_replace(model.revision);
            }
        };
        match &concerned {
            Some(nodes) => {
                for name in nodes {
                    if let Some(r) = running.get(*name) {
                        wake(name, r);
                    }
                }
            }
            None => {
                running.retain(|name, r| {
                    let keep = model.nodes().contains_key(name) && !r.task.is_finished();
                    if !keep {
                        tracing::info!(node = %name, "node reconciler stopped");
                        r.task.abort();
                    }
                    keep
                });
                for (name, r) in &running {
                    wake(name, r);
                }
                for name in model.nodes().keys() {
                    if !running.contains_key(name) {
                        running.insert(name.clone(), start(&shared, name, model.revision, &stop));
                    }
                }
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

/// The turns of [`Shared::compute`]: one per core.
pub fn compute_permits() -> Arc<tokio::sync::Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    Arc::new(tokio::sync::Semaphore::new(cores))
}

/// Starts node `name`'s reconciler, woken from `revision` on.
fn start(
    shared: &Arc<Shared>,
    name: &NodeName,
    revision: u64,
    stop: &watch::Receiver<bool>,
) -> Running {
    let (flows, flows_rx) = watch::channel(revision);
    let (config, config_rx) = watch::channel(revision);
    let wake = Wake {
        flows: flows_rx,
        config: config_rx,
    };
    let task = tokio::spawn(node::run(shared.clone(), name.clone(), wake, stop.clone()));
    Running {
        task,
        flows,
        config,
    }
}
