//! Reconcilers: one per node ([`node`]), started and stopped as nodes come and go
//! ([`run`]), and the pure diff they send ([`diff`]).

pub mod diff;
pub mod node;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::NodeName;
pub use node::Shared;

/// Keeps one reconciler running per node of the model until `stop` turns true.
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut revisions = shared.state.subscribe();
    let mut running: HashMap<NodeName, JoinHandle<()>> = HashMap::new();
    loop {
        let model = shared.state.snapshot();
        running.retain(|name, task| {
            let keep = model.nodes().contains_key(name) && !task.is_finished();
            if !keep {
                tracing::info!(node = %name, "node reconciler stopped");
                task.abort();
            }
            keep
        });
        for name in model.nodes().keys() {
            if !running.contains_key(name) {
                let task = tokio::spawn(node::run(shared.clone(), name.clone(), stop.clone()));
                running.insert(name.clone(), task);
            }
        }
        tokio::select! {
            _ = crate::stopped(&mut stop) => break,
            r = revisions.changed() => if r.is_err() { break },
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}
