//! The connection: one task per [`Client`] owns the socket; every clone of the client
//! talks to it over a channel. Requests are pipelined and matched by id, the server's
//! `echo` is answered, our own `echo` detects a dead peer, and the task reconnects with
//! backoff (re-establishing monitors) until the last clone is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::monitor::{MonitorKind, MonitorRequests, MonitorState, TableUpdates};
use crate::ops::{parse_transact_result, Op, OpResult};
use crate::rpc::{Framer, Incoming};
use crate::schema::Schema;
use crate::value::short;
use crate::Error;

/// Timing of the connection; the defaults suit a controller talking to many nodes.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// After this long without hearing from the server we send an `echo`; after twice
    /// this long the connection counts as dead and is re-established. Default 5 s.
    pub echo_interval: Duration,
    /// First reconnect delay; doubles after every failed attempt. Default 100 ms.
    pub backoff_min: Duration,
    /// Largest reconnect delay. Default 5 s.
    pub backoff_max: Duration,
    /// How long one connection attempt may take. Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            echo_interval: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The connection's state, published on [`Client::connection_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Trying to (re)connect.
    Connecting,
    /// Connected; `generation` counts connections (1 for the first) so a caller can tell
    /// a reconnect happened and re-read what it owns.
    Connected { generation: u64 },
    /// The connection broke (or an attempt failed); a retry follows after a backoff.
    Disconnected { reason: String },
}

/// A change of a database lock this client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEvent {
    /// The lock was granted (after waiting for it).
    Locked(String),
    /// Another client stole it.
    Stolen(String),
    /// The connection broke while we held or waited for it.
    Lost(String),
}

/// Where the server is, in OVS target syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Unix(String),
    /// `host:port` as `TcpStream::connect` takes it (IPv6 hosts in brackets).
    Tcp(String),
}

fn parse_target(target: &str) -> Result<Target, Error> {
    let bad = |reason: &str| Error::BadTarget {
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    let (kind, rest) = target
        .split_once(':')
        .ok_or_else(|| bad("expected unix:PATH or tcp:IP:PORT"))?;
    match kind {
        "unix" if !rest.is_empty() => Ok(Target::Unix(rest.to_owned())),
        "unix" => Err(bad("empty socket path")),
        "tcp" => {
            // tcp:IP:PORT, tcp:[IPv6]:PORT; the port defaults to 6640 as in OVS.
            let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                let (h, p) = v6
                    .split_once(']')
                    .ok_or_else(|| bad("unclosed '[' in IPv6 address"))?;
                (
                    h,
                    p.strip_prefix(':')
                        .unwrap_or(if p.is_empty() { "6640" } else { p }),
                )
            } else {
                match rest.rsplit_once(':') {
                    Some((h, p)) if !h.contains(':') => (h, p),
                    Some(_) => return Err(bad("put an IPv6 address in brackets: tcp:[ADDR]:PORT")),
                    None => (rest, "6640"),
                }
            };
            if host.is_empty() {
                return Err(bad("missing host"));
            }
            let port: u16 = port
                .parse()
                .map_err(|_| bad("port must be a number 0-65535"))?;
            Ok(Target::Tcp(if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }))
        }
        "ssl" => Err(bad("ssl: is not supported yet; use tcp: or unix:")),
        "ptcp" | "punix" | "pssl" => Err(bad(
            "passive targets are not supported: the client connects to ovsdb-server",
        )),
        _ => Err(bad("unknown transport; expected unix:PATH or tcp:IP:PORT")),
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

async fn open(target: &Target) -> std::io::Result<Box<dyn Stream>> {
    Ok(match target {
        Target::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
        Target::Tcp(a) => {
            let s = tokio::net::TcpStream::connect(a.as_str()).await?;
            s.set_nodelay(true)?;
            Box::new(s)
        }
    })
}

/// A handle on one OVSDB server connection. Cheap to clone; `Send + Sync`. The
/// connection lives until the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    target: String,
    cmds: mpsc::UnboundedSender<Cmd>,
    state: watch::Receiver<ConnState>,
    schemas: Mutex<HashMap<String, (u64, Arc<Schema>)>>,
    next_monitor: AtomicU64,
    locks: broadcast::Sender<LockEvent>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

enum Cmd {
    Call {
        method: String,
        params: Json,
        reply: oneshot::Sender<Result<Json, Error>>,
    },
    Monitor {
        db: String,
        id: String,
        state: MonitorState,
        tx: mpsc::UnboundedSender<TableUpdates>,
        reply: oneshot::Sender<Result<TableUpdates, Error>>,
    },
    Cancel {
        id: String,
    },
}

/// Updates from one monitor. The first value after a reconnect has
/// [`TableUpdates::initial`] set: replace, don't merge. Dropping the receiver cancels the
/// monitor (at the next update); [`Client::monitor_cancel`] does so at once.
///
/// The channel is unbounded so a slow reader never stalls the connection (and its echo
/// replies); a reader that stops reading without dropping the receiver accumulates
/// updates.
#[derive(Debug)]
pub struct MonitorReceiver {
    id: String,
    rx: mpsc::UnboundedReceiver<TableUpdates>,
}

impl MonitorReceiver {
    /// The next batch of changes; `None` once the monitor is cancelled, the server
    /// refused to re-establish it, or the client is gone.
    pub async fn recv(&mut self) -> Option<TableUpdates> {
        self.rx.recv().await
    }

    /// The monitor id used on the wire.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Client {
    /// Connects to `target` (`unix:PATH` or `tcp:IP:PORT`) and returns once connected.
    /// From then on the connection is kept up in the background.
    ///
    /// # Errors
    /// [`Error::BadTarget`] for a target we cannot use (including `ssl:`, not supported
    /// yet), [`Error::Connect`] if the first attempt fails (nothing keeps retrying then;
    /// use [`Client::start`] for a client that retries from the start).
    pub async fn connect(target: &str) -> Result<Client, Error> {
        Self::connect_with(target, ClientConfig::default()).await
    }

    /// [`Client::connect`] with explicit timing.
    pub async fn connect_with(target: &str, config: ClientConfig) -> Result<Client, Error> {
        let (first_tx, first_rx) = oneshot::channel();
        let client = Self::spawn(target, config, Some(first_tx))?;
        match first_rx.await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Disconnected {
                target: target.to_owned(),
            }),
        }
    }

    /// Returns at once and keeps trying to connect in the background (calls fail with
    /// [`Error::Disconnected`] until it succeeds; watch [`Client::connection_events`]).
    /// Needs a tokio runtime.
    pub fn start(target: &str, config: ClientConfig) -> Result<Client, Error> {
        Self::spawn(target, config, None)
    }

    fn spawn(
        target: &str,
        config: ClientConfig,
        first: Option<oneshot::Sender<Result<(), Error>>>,
    ) -> Result<Client, Error> {
        let parsed = parse_target(target)?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(ConnState::Connecting);
        let (locks_tx, _) = broadcast::channel(64);
        let conn = Connection {
            target: target.to_owned(),
            parsed,
            config,
            cmds: cmd_rx,
            state: state_tx,
            monitors: BTreeMap::new(),
            pending: HashMap::new(),
            next_id: 0,
            locks: BTreeSet::new(),
            locks_tx: locks_tx.clone(),
        };
        tokio::spawn(conn.run(first));
        Ok(Client {
            inner: Arc::new(Inner {
                target: target.to_owned(),
                cmds: cmd_tx,
                state: state_rx,
                schemas: Mutex::new(HashMap::new()),
                next_monitor: AtomicU64::new(0),
                locks: locks_tx,
            }),
        })
    }

    /// The target this client connects to, as given.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The connection state; changes on every connect and disconnect.
    /// The current state counts as seen: `changed()` waits for the next change.
    pub fn connection_events(&self) -> watch::Receiver<ConnState> {
        let mut rx = self.inner.state.clone();
        rx.mark_unchanged();
        rx
    }

    fn disconnected(&self) -> Error {
        Error::Disconnected {
            target: self.inner.target.clone(),
        }
    }

    /// Sends any JSON-RPC request and returns its `result`.
    ///
    /// # Errors
    /// [`Error::Disconnected`] at once when not connected, [`Error::Rpc`] if the server
    /// answers with an error.
    pub async fn call(&self, method: &str, params: Json) -> Result<Json, Error> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .cmds
            .send(Cmd::Call {
                method: method.to_owned(),
                params,
                reply,
            })
            .map_err(|_| self.disconnected())?;
        rx.await.map_err(|_| self.disconnected())?
    }

    /// Round trip to the server (`echo`).
    pub async fn echo(&self) -> Result<(), Error> {
        self.call("echo", json!([])).await.map(drop)
    }

    /// The databases the server offers (`list_dbs`).
    pub async fn list_dbs(&self) -> Result<Vec<String>, Error> {
        let r = self.call("list_dbs", json!([])).await?;
        r.as_array()
            .and_then(|a| a.iter().map(|d| d.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| Error::malformed("list_dbs reply", short(&r)))
    }

    /// The schema of `db` (`get_schema`), fetched from the server.
    pub async fn get_schema(&self, db: &str) -> Result<Schema, Error> {
        Schema::from_json(&self.call("get_schema", json!([db])).await?)
    }

    /// The schema of `db`, cached for the current connection (fetched again after a
    /// reconnect, since the server may have been upgraded).
    pub async fn schema(&self, db: &str) -> Result<Arc<Schema>, Error> {
        let generation = self.generation();
        if let Some((g, s)) = self.inner.schemas.lock().expect("schema cache").get(db) {
            if *g == generation {
                return Ok(s.clone());
            }
        }
        let s = Arc::new(self.get_schema(db).await?);
        self.inner
            .schemas
            .lock()
            .expect("schema cache")
            .insert(db.to_owned(), (generation, s.clone()));
        Ok(s)
    }

    fn generation(&self) -> u64 {
        match &*self.inner.state.borrow() {
            ConnState::Connected { generation } => *generation,
            _ => 0,
        }
    }

    /// Runs a transaction (`transact`): all operations or none.
    ///
    /// # Errors
    /// [`Error::Transaction`] naming the failed operation, its table and the server's
    /// `error`/`details` when the server rejects it; [`Error::Disconnected`] when not
    /// connected or the connection broke before the reply (the outcome is then unknown).
    pub async fn transact(&self, db: &str, ops: Vec<Op>) -> Result<Vec<OpResult>, Error> {
        let mut params = Vec::with_capacity(ops.len() + 1);
        params.push(json!(db));
        params.extend(ops.iter().map(Op::to_json));
        let r = self.call("transact", Json::Array(params)).await?;
        parse_transact_result(&ops, &r)
    }

    /// Starts a `monitor` (RFC 7047 `update` notifications) and returns the initial
    /// rows and a receiver of later changes, as whole rows. The monitor survives
    /// reconnects: the client re-establishes it and sends the fresh state with
    /// [`TableUpdates::initial`] set.
    pub async fn monitor(
        &self,
        db: &str,
        requests: MonitorRequests,
    ) -> Result<(TableUpdates, MonitorReceiver), Error> {
        self.start_monitor(db, requests, MonitorKind::Monitor).await
    }

    /// Like [`Client::monitor`] with `monitor_cond` (`update2` diffs, which the client
    /// applies, and `where` conditions).
    pub async fn monitor_cond(
        &self,
        db: &str,
        requests: MonitorRequests,
    ) -> Result<(TableUpdates, MonitorReceiver), Error> {
        self.start_monitor(db, requests, MonitorKind::MonitorCond)
            .await
    }

    /// Like [`Client::monitor_cond`] with `monitor_cond_since` (`update3`): after a
    /// reconnect a server that kept the transaction history (clustered databases) sends
    /// only the changes, which the client applies; the receiver still gets the complete
    /// state marked [`TableUpdates::initial`]. Servers before OVS 2.12 answer with
    /// [`Error::Rpc`]; fall back to [`Client::monitor_cond`] then.
    pub async fn monitor_cond_since(
        &self,
        db: &str,
        requests: MonitorRequests,
    ) -> Result<(TableUpdates, MonitorReceiver), Error> {
        self.start_monitor(db, requests, MonitorKind::MonitorCondSince)
            .await
    }

    /// Asks for the database lock `lock` (RFC 7047 §4.1.8). Returns `true` if this
    /// session holds it now; otherwise a [`LockEvent::Locked`] follows on
    /// [`Client::lock_events`] when it is granted. Locks belong to a connection: after a
    /// reconnect they are gone ([`LockEvent::Lost`]) and must be asked for again.
    pub async fn lock(&self, lock: &str) -> Result<bool, Error> {
        let r = self.call("lock", json!([lock])).await?;
        Ok(r.get("locked").and_then(Json::as_bool).unwrap_or(false))
    }

    /// Takes the lock `lock` from whoever holds it (they get a `stolen` notification).
    pub async fn steal(&self, lock: &str) -> Result<(), Error> {
        self.call("steal", json!([lock])).await.map(drop)
    }

    /// Releases (or stops waiting for) the lock `lock`.
    pub async fn unlock(&self, lock: &str) -> Result<(), Error> {
        self.call("unlock", json!([lock])).await.map(drop)
    }

    /// Lock notifications: granted, stolen by another client, lost with the connection.
    pub fn lock_events(&self) -> broadcast::Receiver<LockEvent> {
        self.inner.locks.subscribe()
    }

    async fn start_monitor(
        &self,
        db: &str,
        requests: MonitorRequests,
        kind: MonitorKind,
    ) -> Result<(TableUpdates, MonitorReceiver), Error> {
        let schema = self.schema(db).await?;
        let state = MonitorState::new(schema, kind, requests)?;
        let id = format!(
            "m{}",
            self.inner.next_monitor.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, reply_rx) = oneshot::channel();
        self.inner
            .cmds
            .send(Cmd::Monitor {
                db: db.to_owned(),
                id: id.clone(),
                state,
                tx,
                reply,
            })
            .map_err(|_| self.disconnected())?;
        let initial = reply_rx.await.map_err(|_| self.disconnected())??;
        Ok((initial, MonitorReceiver { id, rx }))
    }

    /// Cancels a monitor (`monitor_cancel`); its receiver then yields `None`.
    pub fn monitor_cancel(&self, monitor: &MonitorReceiver) {
        let _ = self.inner.cmds.send(Cmd::Cancel {
            id: monitor.id.clone(),
        });
    }
}

/// A JSON-RPC `error` as text: a string as is; an object as `error: details`.
fn rpc_error_text(e: &Json) -> String {
    match (
        e.as_str(),
        e.get("error").and_then(Json::as_str),
        e.get("details").and_then(Json::as_str),
    ) {
        (Some(s), _, _) => s.to_owned(),
        (None, Some(err), Some(details)) => format!("{err}: {details}"),
        (None, Some(err), None) => err.to_owned(),
        _ => short(e),
    }
}

struct Mon {
    db: String,
    state: MonitorState,
    tx: mpsc::UnboundedSender<TableUpdates>,
}

enum Pending {
    Call {
        method: String,
        reply: oneshot::Sender<Result<Json, Error>>,
    },
    MonitorSetup {
        id: String,
        reply: Option<oneshot::Sender<Result<TableUpdates, Error>>>,
    },
    Ignore,
}

struct Connection {
    target: String,
    parsed: Target,
    config: ClientConfig,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    state: watch::Sender<ConnState>,
    monitors: BTreeMap<String, Mon>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    /// Locks asked for on this connection (held or waited for).
    locks: BTreeSet<String>,
    locks_tx: broadcast::Sender<LockEvent>,
}

/// Why a session ended.
enum End {
    /// Every client handle is gone: stop.
    Dropped,
    /// The connection broke: reconnect.
    Broken(String),
}

/// Aborts the reader task when the session ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Connection {
    async fn run(mut self, mut first: Option<oneshot::Sender<Result<(), Error>>>) {
        let mut backoff = self.config.backoff_min;
        let mut generation = 0u64;
        loop {
            self.state.send_replace(ConnState::Connecting);
            let parsed = self.parsed.clone();
            let timeout = self.config.connect_timeout;
            let attempt = async move {
                match tokio::time::timeout(timeout, open(&parsed)).await {
                    Ok(r) => r,
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connection attempt timed out",
                    )),
                }
            };
            let Some(result) = self.refusing(attempt).await else {
                return;
            };
            let reason = match result {
                Ok(stream) => {
                    generation += 1;
                    backoff = self.config.backoff_min;
                    self.state.send_replace(ConnState::Connected { generation });
                    if let Some(f) = first.take() {
                        let _ = f.send(Ok(()));
                    }
                    let end = self.session(stream).await;
                    self.fail_pending();
                    match end {
                        End::Dropped => return,
                        End::Broken(reason) => reason,
                    }
                }
                Err(e) => {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(Error::Connect {
                            target: self.target.clone(),
                            source: e,
                        }));
                        return;
                    }
                    format!("connect failed: {e}")
                }
            };
            self.state.send_replace(ConnState::Disconnected { reason });
            if self.refusing(tokio::time::sleep(backoff)).await.is_none() {
                return;
            }
            backoff = (backoff * 2).min(self.config.backoff_max);
        }
    }

    /// Runs `fut` while refusing commands (not connected); `None` if every client handle
    /// is gone meanwhile.
    async fn refusing<F: std::future::Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                r = &mut fut => return Some(r),
                c = self.cmds.recv() => match c {
                    Some(c) => self.refuse(c),
                    None => return None,
                },
            }
        }
    }

    /// Handles a command while not connected: calls fail fast; a cancel just forgets.
    fn refuse(&mut self, c: Cmd) {
        let err = || Error::Disconnected {
            target: self.target.clone(),
        };
        match c {
            Cmd::Call { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Cmd::Monitor { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Cmd::Cancel { id } => {
                self.monitors.remove(&id);
            }
        }
    }

    fn fail_pending(&mut self) {
        for lock in std::mem::take(&mut self.locks) {
            let _ = self.locks_tx.send(LockEvent::Lost(lock));
        }
        for (_, p) in self.pending.drain() {
            let err = Error::Disconnected {
                target: self.target.clone(),
            };
            match p {
                Pending::Call { reply, .. } => {
                    let _ = reply.send(Err(err));
                }
                Pending::MonitorSetup {
                    id,
                    reply: Some(reply),
                } => {
                    // The caller learns the monitor failed, so it is not kept either.
                    self.monitors.remove(&id);
                    let _ = reply.send(Err(err));
                }
                Pending::MonitorSetup { reply: None, .. } | Pending::Ignore => {}
            }
        }
    }

    fn request(&mut self, method: &str, params: Json, p: Pending) -> Vec<u8> {
        self.next_id += 1;
        self.pending.insert(self.next_id, p);
        serde_json::to_vec(&json!({"id": self.next_id, "method": method, "params": params}))
            .expect("serializing JSON never fails")
    }

    fn monitor_request(
        &mut self,
        id: &str,
        reply: Option<oneshot::Sender<Result<TableUpdates, Error>>>,
    ) -> Option<Vec<u8>> {
        let mon = self.monitors.get(id)?;
        let params = mon.state.request_params(&mon.db, id);
        let method = mon.state.kind.method();
        Some(self.request(
            method,
            params,
            Pending::MonitorSetup {
                id: id.to_owned(),
                reply,
            },
        ))
    }

    async fn session(&mut self, stream: Box<dyn Stream>) -> End {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Result<Incoming, String>>();
        let _reader = AbortOnDrop(tokio::spawn(async move {
            let mut framer = Framer::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) => {
                        let _ = in_tx.send(Err("connection closed by the server".to_owned()));
                        return;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        let _ = in_tx.send(Err(format!("read failed: {e}")));
                        return;
                    }
                };
                framer.feed(&buf[..n]);
                while let Some(m) = framer.next_message() {
                    let m = m.and_then(Incoming::classify).map_err(|e| e.to_string());
                    let fatal = m.is_err();
                    if in_tx.send(m).is_err() || fatal {
                        return;
                    }
                }
            }
        }));

        // Re-establish every monitor; each reports its fresh state as `initial`.
        let ids: Vec<String> = self.monitors.keys().cloned().collect();
        for id in ids {
            if let Some(bytes) = self.monitor_request(&id, None) {
                if let Err(e) = wr.write_all(&bytes).await {
                    return End::Broken(format!("write failed: {e}"));
                }
            }
        }

        let interval = self.config.echo_interval;
        let mut last_rx = Instant::now();
        let mut probe_sent = false;
        let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Incoming messages first: after a stretch without being polled (a busy runtime),
            // what the server sent meanwhile is read before the server is judged silent.
            let out: Option<Vec<u8>> = tokio::select! {
                biased;
                m = in_rx.recv() => match m {
                    None => return End::Broken("reader stopped".into()),
                    Some(Err(reason)) => return End::Broken(reason),
                    Some(Ok(m)) => {
                        last_rx = Instant::now();
                        probe_sent = false;
                        match self.incoming(m) {
                            Ok(out) => out,
                            Err(e) => return End::Broken(e.to_string()),
                        }
                    }
                },
                c = self.cmds.recv() => match c {
                    None => return End::Dropped,
                    Some(c) => self.command(c),
                },
                _ = ticker.tick() => {
                    if last_rx.elapsed() < interval {
                        None
                    } else if probe_sent {
                        return End::Broken(format!("no reply to echo within {interval:?}: peer is dead"));
                    } else {
                        probe_sent = true;
                        Some(self.request("echo", json!([]), Pending::Ignore))
                    }
                }
            };
            if let Some(bytes) = out {
                if let Err(e) = wr.write_all(&bytes).await {
                    return End::Broken(format!("write failed: {e}"));
                }
            }
        }
    }

    fn command(&mut self, c: Cmd) -> Option<Vec<u8>> {
        match c {
            Cmd::Call {
                method,
                params,
                reply,
            } => {
                if let Some(lock) = params.get(0).and_then(Json::as_str) {
                    match method.as_str() {
                        "lock" | "steal" => {
                            self.locks.insert(lock.to_owned());
                        }
                        "unlock" => {
                            self.locks.remove(lock);
                        }
                        _ => {}
                    }
                }
                let m = method.clone();
                Some(self.request(&m, params, Pending::Call { method, reply }))
            }
            Cmd::Monitor {
                db,
                id,
                state,
                tx,
                reply,
            } => {
                self.monitors.insert(id.clone(), Mon { db, state, tx });
                self.monitor_request(&id, Some(reply))
            }
            Cmd::Cancel { id } => self.cancel(&id),
        }
    }

    fn cancel(&mut self, id: &str) -> Option<Vec<u8>> {
        self.monitors.remove(id)?;
        Some(self.request("monitor_cancel", json!([id]), Pending::Ignore))
    }

    /// Handles one message from the server; an `Err` breaks the connection (a fresh
    /// connection re-syncs every monitor, which is how a bad update is recovered from).
    fn incoming(&mut self, m: Incoming) -> Result<Option<Vec<u8>>, Error> {
        match m {
            Incoming::Response { id, result } => match self.pending.remove(&id) {
                Some(Pending::Call { method, reply }) => {
                    let r = result.map_err(|e| Error::Rpc {
                        method,
                        error: rpc_error_text(&e),
                    });
                    let _ = reply.send(r);
                    Ok(None)
                }
                Some(Pending::MonitorSetup { id, reply }) => {
                    Ok(self.monitor_reply(&id, reply, result))
                }
                Some(Pending::Ignore) | None => Ok(None),
            },
            Incoming::Request { id, method, params } => {
                // RFC 7047 §4.1.11: echo replies with the request's params.
                let reply = if method == "echo" {
                    json!({"id": id, "result": params, "error": null})
                } else {
                    json!({"id": id, "result": null, "error": format!("unknown method {method}")})
                };
                Ok(Some(
                    serde_json::to_vec(&reply).expect("serializing JSON never fails"),
                ))
            }
            Incoming::Notification { method, params } => self.notification(&method, &params),
        }
    }

    fn monitor_reply(
        &mut self,
        id: &str,
        reply: Option<oneshot::Sender<Result<TableUpdates, Error>>>,
        result: Result<Json, Json>,
    ) -> Option<Vec<u8>> {
        let mon = self.monitors.get_mut(id)?;
        let r = match result {
            Ok(j) => mon.state.apply_reply(&j),
            Err(e) => Err(Error::Rpc {
                method: mon.state.kind.method().to_owned(),
                error: rpc_error_text(&e),
            }),
        };
        match (r, reply) {
            (Ok(u), Some(reply)) => {
                if reply.send(Ok(u)).is_err() {
                    return self.cancel(id);
                }
            }
            (Ok(u), None) => {
                if mon.tx.send(u).is_err() {
                    return self.cancel(id);
                }
            }
            (Err(e), reply) => {
                // The server will not (or no longer) serve this monitor: drop it, which
                // ends its receiver.
                self.monitors.remove(id);
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e));
                }
            }
        }
        None
    }

    fn notification(&mut self, method: &str, params: &Json) -> Result<Option<Vec<u8>>, Error> {
        let (id, last_txn, updates) = match (method, params.as_array().map(Vec::as_slice)) {
            ("update" | "update2", Some([id, u])) => (id, None, u),
            ("update3", Some([id, last, u])) => (id, Some(last), u),
            ("update" | "update2" | "update3", _) => {
                return Err(Error::malformed(
                    format!("{method} notification"),
                    format!("bad params {}", short(params)),
                ))
            }
            ("locked" | "stolen", Some([Json::String(lock)])) => {
                let _ = self.locks_tx.send(if method == "locked" {
                    LockEvent::Locked(lock.clone())
                } else {
                    self.locks.remove(lock);
                    LockEvent::Stolen(lock.clone())
                });
                return Ok(None);
            }
            _ => return Ok(None), // a notification we never asked for
        };
        let Some(id) = id.as_str() else {
            return Ok(None);
        };
        let Some(mon) = self.monitors.get_mut(id) else {
            return Ok(None);
        };
        if mon.state.kind.notification() != method {
            return Err(Error::malformed(
                format!("{method} notification"),
                format!("monitor {id} expects {}", mon.state.kind.notification()),
            ));
        }
        if let Some(last) = last_txn {
            mon.state.note_txn(last);
        }
        let u = mon.state.apply_update(updates)?;
        if !u.is_empty() && mon.tx.send(u).is_err() {
            return Ok(self.cancel(id));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_can_be_shared_across_tasks() {
        fn shared<T: Clone + Send + Sync + 'static>() {}
        shared::<Client>();
        fn sendable<T: Send + 'static>() {}
        sendable::<MonitorReceiver>();
    }

    #[test]
    fn parses_ovs_target_syntax() {
        assert_eq!(
            parse_target("unix:/run/db.sock").unwrap(),
            Target::Unix("/run/db.sock".into())
        );
        assert_eq!(
            parse_target("tcp:127.0.0.1:6640").unwrap(),
            Target::Tcp("127.0.0.1:6640".into())
        );
        assert_eq!(
            parse_target("tcp:10.0.0.1").unwrap(),
            Target::Tcp("10.0.0.1:6640".into())
        );
        assert_eq!(
            parse_target("tcp:[::1]:6641").unwrap(),
            Target::Tcp("[::1]:6641".into())
        );
        for (bad, says) in [
            ("ssl:1.2.3.4:6640", "not supported yet"),
            ("ptcp:6640", "passive"),
            ("tcp:1.2.3.4:http", "port"),
            ("tcp:::1:6640", "brackets"),
            ("unix:", "empty"),
            ("/run/db.sock", "expected"),
        ] {
            let e = parse_target(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }
}
