//! The v1 HTTP API (`docs/API.md`) over axum: on a unix socket (the local, trusted way in) and
//! optionally on TCP, where every request must carry the bearer token.
//!
//! Requests that do not parse (JSON, path or query) get `400` with a message and change
//! nothing; refused changes get the status of [`StateError`]'s kind (404, 409, 400, 500).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use switchyard_api::{
    BackendPods, ErrorBody, FlowEntry, FlowQuery, Health, NewNode, NewPod, NewService, NodeName,
    PodName, PodStatus, Service, ServiceName, TableSelector,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::render::error_chain;
use crate::state::{ClusterState, StateError};

/// Long-poll timeout when the request gives none, and the most it may ask for.
pub const WATCH_DEFAULT: Duration = Duration::from_secs(30);
/// See [`WATCH_DEFAULT`].
pub const WATCH_MAX: Duration = Duration::from_secs(300);

/// The bridges whose flows can be dumped.
pub const BRIDGES: [&str; 2] = ["br-int", "br-ex"];

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a flow dump failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The node's switch has no OpenFlow connection to the controller (answered with 503).
    #[error("node {node}: OpenFlow not connected")]
    NotConnected {
        /// The node.
        node: NodeName,
    },
    /// A query parameter names nothing known, e.g. an unknown table name (400).
    #[error("{field} {value:?}: {reason}")]
    BadQuery {
        /// `bridge`, `table` or `owner`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The switch failed or refused the request (502).
    #[error("node {node}: bridge {bridge}: flow dump failed: {reason}")]
    Switch {
        /// The node.
        node: NodeName,
        /// The bridge.
        bridge: String,
        /// What happened.
        reason: String,
    },
}

/// Reads a node's live flows over OpenFlow. Implemented by the reconciler side; the server only
/// checks that the node exists and the bridge is one of [`BRIDGES`] before calling it (`bridge`
/// is always set by then).
pub trait FlowSource: Send + Sync + 'static {
    /// The flows of `query.bridge` on `query.node`, filtered by table and owner.
    fn dump<'a>(&'a self, query: &'a FlowQuery)
        -> BoxFuture<'a, Result<Vec<FlowEntry>, FlowError>>;
}

/// The flow source until OpenFlow connections exist: every node is "not connected".
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOpenFlow;

impl FlowSource for NoOpenFlow {
    fn dump<'a>(
        &'a self,
        query: &'a FlowQuery,
    ) -> BoxFuture<'a, Result<Vec<FlowEntry>, FlowError>> {
        Box::pin(async move {
            Err(FlowError::NotConnected {
                node: query.node.clone(),
            })
        })
    }
}

/// An error answer: status plus `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(e: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        let status = match &e {
            StateError::NotFound { .. } | StateError::UnknownBackend { .. } => {
                StatusCode::NOT_FOUND
            }
            StateError::Exists { .. }
            | StateError::DuplicateIp { .. }
            | StateError::NodePortInUse { .. }
            | StateError::NodeHasPods { .. }
            | StateError::Ipam(_) => StatusCode::CONFLICT,
            StateError::Invalid { .. } | StateError::Config(_) => StatusCode::BAD_REQUEST,
            StateError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %error_chain(&e), "request failed");
        }
        ApiError::new(status, error_chain(&e))
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        let status = match &e {
            FlowError::NotConnected { .. } => StatusCode::SERVICE_UNAVAILABLE,
            FlowError::BadQuery { .. } => StatusCode::BAD_REQUEST,
            FlowError::Switch { .. } => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, error_chain(&e))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::bad_request(format!("request body: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Clone)]
struct App {
    state: ClusterState,
    flows: Arc<dyn FlowSource>,
    shutdown: watch::Receiver<bool>,
}

/// The v1 routes, without authentication (the unix socket's file mode is the access control).
pub fn router(state: ClusterState, flows: Arc<dyn FlowSource>) -> Router {
    router_with_shutdown(state, flows, watch::channel(false).1)
}

fn router_with_shutdown(
    state: ClusterState,
    flows: Arc<dyn FlowSource>,
    shutdown: watch::Receiver<bool>,
) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/cluster", get(cluster))
        .route("/v1/nodes", post(add_node).get(list_nodes))
        .route("/v1/nodes/{name}", get(get_node).delete(remove_node))
        .route("/v1/pods", post(add_pod).get(list_pods))
        .route("/v1/pods/batch", post(add_pods))
        .route("/v1/pods/{name}", get(get_pod).delete(remove_pod))
        .route("/v1/pods/{name}/status", put(set_pod_status))
        .route("/v1/services", post(add_service).get(list_services))
        .route(
            "/v1/services/{name}",
            get(get_service).delete(remove_service),
        )
        .route(
            "/v1/services/{name}/backends",
            post(add_backends).delete(remove_backends),
        )
        .route("/v1/watch/nodes/{name}", get(watch_node))
        .route("/v1/flows/{node}", get(flows_of))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(App {
            state,
            flows,
            shutdown,
        })
}

async fn no_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {} {}; see docs/API.md for the v1 API",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn wrong_method(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {}; see docs/API.md for the v1 API",
            req.uri().path(),
            req.method()
        ),
    )
}

async fn health(State(app): State<App>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        revision: app.state.revision(),
    })
}

async fn cluster(State(app): State<App>) -> Json<switchyard_api::Cluster> {
    Json(app.state.cluster())
}

async fn add_node(
    State(app): State<App>,
    body: Result<Json<NewNode>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(req) = body?;
    let node = app.state.add_node(req).await?;
    Ok((StatusCode::CREATED, Json(node)))
}

async fn list_nodes(State(app): State<App>) -> Json<Vec<switchyard_api::Node>> {
    Json(app.state.nodes())
}

async fn get_node(
    State(app): State<App>,
    name: Result<Path<NodeName>, PathRejection>,
) -> ApiResult<Json<switchyard_api::Node>> {
    let Path(name) = name?;
    Ok(Json(app.state.node(&name)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveNodeQuery {
    #[serde(default)]
    force: bool,
}

async fn remove_node(
    State(app): State<App>,
    name: Result<Path<NodeName>, PathRejection>,
    query: Result<Query<RemoveNodeQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let (Path(name), Query(q)) = (name?, query?);
    app.state.remove_node(&name, q.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_pod(
    State(app): State<App>,
    body: Result<Json<NewPod>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(req) = body?;
    let pod = app.state.add_pod(req).await?;
    Ok((StatusCode::CREATED, Json(pod)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PodBatch {
    pods: Vec<NewPod>,
}

async fn add_pods(
    State(app): State<App>,
    body: Result<Json<PodBatch>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(req) = body?;
    let pods = app.state.add_pods(req.pods).await?;
    Ok((StatusCode::CREATED, Json(pods)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PodsQuery {
    node: Option<NodeName>,
}

async fn list_pods(
    State(app): State<App>,
    query: Result<Query<PodsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<switchyard_api::Pod>>> {
    let Query(q) = query?;
    Ok(Json(app.state.pods(q.node.as_ref())?))
}

async fn get_pod(
    State(app): State<App>,
    name: Result<Path<PodName>, PathRejection>,
) -> ApiResult<Json<switchyard_api::Pod>> {
    let Path(name) = name?;
    Ok(Json(app.state.pod(&name)?))
}

async fn remove_pod(
    State(app): State<App>,
    name: Result<Path<PodName>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(name) = name?;
    app.state.remove_pod(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_pod_status(
    State(app): State<App>,
    name: Result<Path<PodName>, PathRejection>,
    body: Result<Json<PodStatus>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let (Path(name), Json(status)) = (name?, body?);
    app.state.set_pod_status(&name, status)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_service(
    State(app): State<App>,
    body: Result<Json<NewService>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    let Json(req) = body?;
    let service = app.state.add_service(req).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

async fn list_services(State(app): State<App>) -> Json<Vec<Service>> {
    Json(app.state.services())
}

async fn get_service(
    State(app): State<App>,
    name: Result<Path<ServiceName>, PathRejection>,
) -> ApiResult<Json<Service>> {
    let Path(name) = name?;
    Ok(Json(app.state.service(&name)?))
}

async fn remove_service(
    State(app): State<App>,
    name: Result<Path<ServiceName>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(name) = name?;
    app.state.remove_service(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_backends(
    State(app): State<App>,
    name: Result<Path<ServiceName>, PathRejection>,
    body: Result<Json<BackendPods>, JsonRejection>,
) -> ApiResult<Json<Service>> {
    let (Path(name), Json(req)) = (name?, body?);
    Ok(Json(app.state.add_backends(&name, req.pods).await?))
}

async fn remove_backends(
    State(app): State<App>,
    name: Result<Path<ServiceName>, PathRejection>,
    body: Result<Json<BackendPods>, JsonRejection>,
) -> ApiResult<Json<Service>> {
    let (Path(name), Json(req)) = (name?, body?);
    Ok(Json(app.state.remove_backends(&name, req.pods).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchQuery {
    #[serde(default)]
    since: u64,
    timeout: Option<u64>,
}

async fn watch_node(
    State(mut app): State<App>,
    name: Result<Path<NodeName>, PathRejection>,
    query: Result<Query<WatchQuery>, QueryRejection>,
) -> ApiResult<Json<switchyard_api::NodeView>> {
    let (Path(name), Query(q)) = (name?, query?);
    let timeout = q
        .timeout
        .map_or(WATCH_DEFAULT, Duration::from_secs)
        .min(WATCH_MAX);
    let view = tokio::select! {
        view = app.state.watch_node(&name, q.since, timeout) => view?,
        // On shutdown, answer with what is current rather than holding the connection.
        _ = app.shutdown.wait_for(|stop| *stop) => app.state.node_view(&name)?,
    };
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowsQuery {
    bridge: Option<String>,
    table: Option<String>,
    owner: Option<String>,
}

async fn flows_of(
    State(app): State<App>,
    node: Result<Path<NodeName>, PathRejection>,
    query: Result<Query<FlowsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<FlowEntry>>> {
    let (Path(node), Query(q)) = (node?, query?);
    app.state.node(&node)?;
    let bridge = q.bridge.unwrap_or_else(|| BRIDGES[0].to_owned());
    if !BRIDGES.contains(&bridge.as_str()) {
        return Err(ApiError::bad_request(format!(
            "bridge {bridge:?}: expected one of {}",
            BRIDGES.join(", ")
        )));
    }
    let table = q
        .table
        .map(|t| t.parse::<TableSelector>())
        .transpose()
        .map_err(ApiError::bad_request)?;
    let query = FlowQuery {
        node,
        bridge: Some(bridge),
        table,
        owner: q.owner,
    };
    Ok(Json(app.flows.dump(&query).await?))
}

/// Equal-time comparison, so the token cannot be guessed byte by byte from response times.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len_diff = a.len() ^ b.len();
    let mut diff = u8::from(len_diff != 0);
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token: the TCP API needs `Authorization: Bearer <token>` \
                 (yardctl --token or YARD_TOKEN)",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
    }
}

/// Where the API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiOptions {
    /// The unix socket (created with mode 0660, its directory made if missing).
    pub socket: PathBuf,
    /// Optional TCP address; requires `token`.
    pub listen: Option<SocketAddr>,
    /// The bearer token for TCP.
    pub token: Option<String>,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// TCP without a token would let anyone on the network change the cluster.
    #[error("TCP API on {addr} needs a bearer token (--token-file or YARD_TOKEN); refusing to serve it without one")]
    TcpWithoutToken {
        /// The TCP address.
        addr: SocketAddr,
    },
    /// Another process serves the socket.
    #[error(
        "API socket {path} is in use by a running controller; stop it or choose another --socket"
    )]
    SocketInUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way.
    #[error("API socket {path}: a file that is not a socket is in the way; move it or choose another --socket")]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// Creating, binding or chmod-ing the socket failed.
    #[error("API socket {path}: cannot {op}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Binding TCP failed.
    #[error("TCP API on {addr}: cannot listen")]
    Tcp {
        /// The TCP address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    socket: PathBuf,
    tcp: Option<SocketAddr>,
}

impl ApiServer {
    /// The unix socket path.
    pub fn socket(&self) -> &FsPath {
        &self.socket
    }

    /// The bound TCP address (the real port when `:0` was asked for).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// Stops accepting, lets requests in flight finish (long polls answer at once), and
    /// removes the socket file.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "API server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "API server task failed"),
            }
        }
        if let Err(e) = std::fs::remove_file(&self.socket) {
            tracing::debug!(socket = %self.socket.display(), error = %e, "socket not removed");
        }
        tracing::info!("API stopped");
    }
}

fn prepare_socket(path: &FsPath) -> Result<(), ServeError> {
    let err = |op, source| ServeError::Socket {
        path: path.to_owned(),
        op,
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err("create its directory", e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::SocketInUse {
                    path: path.to_owned(),
                });
            }
            // A socket nobody listens on is left from a controller that died: replace it.
            std::fs::remove_file(path).map_err(|e| err("remove the stale socket", e))
        }
        Ok(_) => Err(ServeError::NotASocket {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err("inspect it", e)),
    }
}

/// Starts the API on the unix socket and, if asked, on TCP with the bearer token.
///
/// # Errors
/// [`ServeError`] naming the socket or address; nothing is left listening on error.
pub async fn serve(
    state: ClusterState,
    flows: Arc<dyn FlowSource>,
    options: &ApiOptions,
) -> Result<ApiServer, ServeError> {
    let tcp_token = match (options.listen, &options.token) {
        (Some(addr), None) => return Err(ServeError::TcpWithoutToken { addr }),
        (Some(addr), Some(t)) if t.trim().is_empty() => {
            return Err(ServeError::TcpWithoutToken { addr })
        }
        (Some(addr), Some(t)) => Some((addr, Arc::<str>::from(t.trim()))),
        (None, _) => None,
    };
    let tcp_listener =
        match &tcp_token {
            Some((addr, _)) => Some(tokio::net::TcpListener::bind(addr).await.map_err(
                |source| ServeError::Tcp {
                    addr: *addr,
                    source,
                },
            )?),
            None => None,
        };
    let path = options.socket.clone();
    prepare_socket(&path)?;
    let unix = tokio::net::UnixListener::bind(&path).map_err(|source| ServeError::Socket {
        path: path.clone(),
        op: "bind",
        source,
    })?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).map_err(|source| {
        ServeError::Socket {
            path: path.clone(),
            op: "set its mode to 0660",
            source,
        }
    })?;

    let (shutdown, stop) = watch::channel(false);
    let routes = router_with_shutdown(state, flows, stop.clone());
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = Vec::new();
    tracing::info!(socket = %path.display(), "API listening on unix socket");
    tasks.push(tokio::spawn(
        axum::serve(unix, routes.clone())
            .with_graceful_shutdown(stopped(stop.clone()))
            .into_future(),
    ));
    let mut tcp = None;
    if let (Some(listener), Some((_, token))) = (tcp_listener, tcp_token) {
        let addr = listener.local_addr().map_err(|source| ServeError::Tcp {
            addr: options.listen.unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
            source,
        })?;
        tcp = Some(addr);
        let authed = routes.layer(middleware::from_fn_with_state(token, require_token));
        tracing::info!(%addr, "API listening on TCP (bearer token required)");
        tasks.push(tokio::spawn(
            axum::serve(listener, authed)
                .with_graceful_shutdown(stopped(stop))
                .into_future(),
        ));
    }
    Ok(ApiServer {
        shutdown,
        tasks,
        socket: path,
        tcp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
