//! Reconcilers: one per node ([`node`]), started, stopped and woken by [`run`] only for the
//! changes that concern their node, and the pure diff they send ([`diff`]).

pub mod diff;
pub mod node;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::flows;
use crate::model::{ClusterModel, NodeName};
pub use node::Shared;

/// What wakes one node's reconciler: the newest revision that concerns its flows, and the
/// newest that concerns its switch configuration (the node itself changed).
#[derive(Debug, Clone)]
pub struct Wake {
    /// Flows: pods of this node, any node, any service.
    pub flows: watch::Receiver<u64>,
    /// OVSDB configuration: this node's own record.
    pub config: watch::Receiver<u64>,
    /// The model to diff the next change against, left by the dispatcher.
    pub base: Arc<Base>,
}

/// Between the dispatcher and one reconciler: the revision the reconciler's flows were last
/// computed at, and a model to compute the old flows of the next change from.
///
/// An idle reconciler holds no model: the dispatcher hands it the model just before the
/// change that wakes it (any model since its last pass gives the same flows for it, as
/// nothing between concerned it). Otherwise a thousand idle nodes would each keep a different
/// old revision alive, and with it every part of the model changed since.
#[derive(Debug, Default)]
pub struct Base {
    processed: AtomicU64,
    model: Mutex<Option<Arc<ClusterModel>>>,
}

impl Base {
    /// The model left for the next pass, if any.
    pub fn take(&self) -> Option<Arc<ClusterModel>> {
        self.model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The reconciler's flows are computed at `revision`.
    pub fn processed(&self, revision: u64) {
        self.processed.store(revision, Ordering::Release);
    }

    /// Leaves `model` for the next pass if the reconciler has processed everything it was
    /// woken for (`woken`), so that nothing since concerned it, and holds no base yet.
    fn offer(&self, woken: u64, model: &Arc<ClusterModel>) {
        if self.processed.load(Ordering::Acquire) >= woken {
            self.model
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(|| model.clone());
        }
    }
}

struct Running {
    task: JoinHandle<()>,
    flows: watch::Sender<u64>,
    config: watch::Sender<u64>,
    base: Arc<Base>,
    /// The last revision sent on `flows`.
    woken: u64,
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
        let wake = |name: &NodeName, r: &mut Running| {
            r.base.offer(r.woken, &seen);
            r.woken = model.revision;
            r.flows.send_replace(model.revision);
            if config(name) {
                r.config.send_replace(model.revision);
            }
        };
        match &concerned {
            Some(nodes) => {
                for name in nodes {
                    if let Some(r) = running.get_mut(*name) {
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
                for (name, r) in &mut running {
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
    let base = Arc::new(Base::default());
    let wake = Wake {
        flows: flows_rx,
        config: config_rx,
        base: base.clone(),
    };
    let task = tokio::spawn(node::run(shared.clone(), name.clone(), wake, stop.clone()));
    Running {
        task,
        flows,
        config,
        base,
        woken: revision,
    }
}
