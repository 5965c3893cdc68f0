//! Switchyard controller: cluster state, IPAM, HTTP API, per-node reconcilers, the br-int pipeline.
//!
//! - [`config`]: cluster settings, their defaults and validation;
//! - [`model`]: the desired state as plain data ([`model::ClusterModel`]);
//! - [`ipam`]: node subnets, pod IPs and MACs, as functions of the model;
//! - [`store`]: persistence ([`store::Store`], the embedded [`store::FileStore`]);
//! - [`state`]: the live state ([`state::ClusterState`]): validated changes, revisions that
//!   reconcilers subscribe to, runtime status of nodes and pods;
//! - [`server`]: the v1 HTTP API, with the [`server::FlowSource`] hook for flow dumps;
//! - [`render`]: text tables for `yardctl`;
//! - [`pipeline`]: THE table, register, zone, port and cookie declaration of br-int;
//! - [`flows`]: each node's desired flows and groups as pure data;
//! - [`reconcile`]: one reconciler per node (OVSDB configuration, flows by bundle) and the diff;
//! - [`conn`]: the OpenFlow listener and switch handles, the OVSDB configuration, live dumps.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use controller::config::ClusterOverrides;
//! use controller::state::ClusterState;
//! use controller::store::MemoryStore;
//! use switchyard_api::NewNode;
//!
//! let state = ClusterState::open(Arc::new(MemoryStore::default()), &ClusterOverrides::default()).unwrap();
//! let node = state
//!     .add_node(NewNode { name: "n1".parse().unwrap(), ip: "192.168.56.11".parse().unwrap(), uplink: None, datapath: None })
//!     .await
//!     .unwrap();
//! assert_eq!(node.subnet.to_string(), "10.244.1.0/24");
//! # });
//! ```

pub mod config;
pub mod conn;
pub mod flows;
pub mod ipam;
pub mod model;
pub mod pipeline;
pub mod reconcile;
pub mod render;
pub mod server;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use config::ClusterOverrides;
use server::{ApiOptions, ApiServer, FlowSource, NoOpenFlow, ServeError};
use state::{ClusterState, StateError};
use store::FileStore;

/// Default state file.
pub const DEFAULT_STATE: &str = "/var/lib/switchyard/state.json";
/// Default API socket.
pub const DEFAULT_SOCKET: &str = "/run/switchyard/controller.sock";

/// Everything `yard-controller` is told at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerOptions {
    /// The state file ([`FileStore`]).
    pub state: PathBuf,
    /// The API's unix socket.
    pub socket: PathBuf,
    /// Optional TCP API address (needs `token`).
    pub listen: Option<SocketAddr>,
    /// Bearer token for the TCP API.
    pub token: Option<String>,
    /// Cluster settings for a new cluster (checked against an existing one).
    pub cluster: ClusterOverrides,
    /// The port every node's ovsdb-server listens on (`tcp:NODE_IP:PORT`).
    pub ovsdb_port: u16,
    /// How often each switch's tables are read back and repaired even when nothing changed.
    pub audit_interval: Duration,
    /// Whether to run the reconcilers and the OpenFlow listener (off in API-only tests).
    pub reconcile: bool,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            state: PathBuf::from(DEFAULT_STATE),
            socket: PathBuf::from(DEFAULT_SOCKET),
            listen: None,
            token: None,
            cluster: ClusterOverrides::default(),
            ovsdb_port: 6640,
            audit_interval: Duration::from_secs(10),
            reconcile: true,
        }
    }
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The state could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The API could not start.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// A running controller. The reconciler side adds its tasks to it.
pub struct Controller {
    /// The cluster state all parts share.
    pub state: ClusterState,
    /// The options it was started with.
    pub options: ControllerOptions,
    api: ApiServer,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("state", &self.state)
            .field("api", &self.api)
            .finish()
    }
}

impl Controller {
    /// The running API (socket path, bound TCP address).
    pub fn api(&self) -> &ApiServer {
        &self.api
    }

    /// Becomes `true` when the controller shuts down; long-running tasks watch it and return.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs `task` until shutdown; [`shutdown`](Self::shutdown) waits for it to return after
    /// [`stopping`](Self::stopping) turns `true`.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Runs until `signal` completes, then shuts down.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }

    /// Tells every task to stop, stops the API, and waits for the tasks to return.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        self.api.shutdown().await;
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                tracing::warn!(error = %e, "controller task failed");
            }
        }
    }
}

/// Opens the state and starts the controller's tasks.
///
/// # Errors
/// [`RunError`]: the state file is unreadable, corrupt, newer or conflicts with the cluster
/// options; the API socket or TCP address cannot be served (TCP without a token is refused).
pub async fn run(options: ControllerOptions) -> Result<Controller, RunError> {
    if let (Some(addr), None) = (options.listen, &options.token) {
        return Err(ServeError::TcpWithoutToken { addr }.into());
    }
    // One small file read at start; blocking here is fine.
    let store = Arc::new(FileStore::new(&options.state));
    let state = ClusterState::open(store, &options.cluster)?;

    let (stop, _) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut flows: Arc<dyn FlowSource> = Arc::new(NoOpenFlow);
    if options.reconcile {
        let switches = conn::of::Switches::default();
        let shared = Arc::new(reconcile::Shared {
            state: state.clone(),
            switches: switches.clone(),
            ovsdb_port: options.ovsdb_port,
            audit: options.audit_interval,
            compute: reconcile::compute_permits(),
        });
        tasks.spawn(reconcile::run(shared, stop.subscribe()));
        flows = Arc::new(conn::LiveFlows {
            state: state.clone(),
            switches,
        });
    }

    let api_options = ApiOptions {
        socket: options.socket.clone(),
        listen: options.listen,
        token: options.token.clone(),
    };
    let api = server::serve(state.clone(), flows, &api_options).await?;
    Ok(Controller {
        state,
        options,
        api,
        stop,
        tasks,
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Completes when `stop` turns true (or its sender is gone); for `select!` branches.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
