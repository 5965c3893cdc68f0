//! The OpenFlow side: a listener that accepts switches, one task per connection, and a
//! [`Switch`] handle the reconcilers use to dump tables and send bundles.
//!
//! A switch is matched to its node by the datapath id the controller gave its bridge over
//! OVSDB ([`pipeline::datapath_id`]). Requests are pipelined and matched to replies by xid.
//! A bundle is sent in one go — open, every add, commit, then a barrier, all under one xid —
//! so it costs one round trip, and every error the switch reports for it is collected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openflow::codec::OfCodec;
use openflow::{
    bundle_flags, BundleAdd, BundleControl, BundleCtrlType, ErrorMsg, FlowStats, FlowStatsRequest,
    Frame, GroupDesc, Message, MultipartReply, MultipartReplyBody, MultipartRequest,
    MultipartRequestBody,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::Framed;

use crate::pipeline;

/// How long a request waits for its reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle time after which we send an echo request; twice this without any message closes.
const ECHO_INTERVAL: Duration = Duration::from_secs(5);

/// Why a request to a switch failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SwitchError {
    /// The connection is gone.
    #[error("node {node}: bridge {bridge}: OpenFlow connection closed")]
    Closed {
        /// Node index.
        node: u32,
        /// Bridge.
        bridge: &'static str,
    },
    /// No reply in time.
    #[error("node {node}: bridge {bridge}: no reply within {secs} s")]
    Timeout {
        /// Node index.
        node: u32,
        /// Bridge.
        bridge: &'static str,
        /// Seconds waited.
        secs: u64,
    },
    /// The switch answered with errors.
    #[error("node {node}: bridge {bridge}: switch refused: {}", errors.join("; "))]
    Refused {
        /// Node index.
        node: u32,
        /// Bridge.
        bridge: &'static str,
        /// The switch's errors, decoded.
        errors: Vec<String>,
    },
}

/// Which reply completes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The first reply (or error).
    One,
    /// A multipart reply without the "more" flag (or an error).
    LastPart,
    /// A barrier reply; errors before it are collected.
    Barrier,
}

struct Pending {
    until: Until,
    replies: Vec<Message>,
    errors: Vec<ErrorMsg>,
    done: oneshot::Sender<(Vec<Message>, Vec<ErrorMsg>)>,
}

struct Send {
    frames: Vec<Frame>,
    xid: u32,
    until: Until,
    done: oneshot::Sender<(Vec<Message>, Vec<ErrorMsg>)>,
}

/// A connected switch (one bridge of one node). Cheap to clone.
#[derive(Clone)]
pub struct Switch {
    /// Node index.
    pub node: u32,
    /// `br-int` or `br-ex`.
    pub bridge: &'static str,
    /// Increases with every connection the controller accepts, so a reconciler can tell a
    /// reconnect (whose table it must re-read) from the connection it already synced.
    pub generation: u64,
    /// The switch's address (or socket path).
    pub peer: String,
    tx: mpsc::Sender<Send>,
    xids: Arc<AtomicU32>,
    bundles: Arc<AtomicU32>,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("node", &self.node)
            .field("bridge", &self.bridge)
            .field("generation", &self.generation)
            .field("peer", &self.peer)
            .finish()
    }
}

impl Switch {
    fn new(
        node: u32,
        bridge: &'static str,
        generation: u64,
        peer: String,
    ) -> (Switch, mpsc::Receiver<Send>) {
        let (tx, rx) = mpsc::channel::<Send>(64);
        let switch = Switch {
            node,
            bridge,
            generation,
            peer,
            tx,
            xids: Arc::new(AtomicU32::new(1)),
            bundles: Arc::new(AtomicU32::new(1)),
        };
        (switch, rx)
    }

    fn xid(&self) -> u32 {
        self.xids.fetch_add(1, Ordering::Relaxed)
    }

    async fn exchange(
        &self,
        frames: Vec<Frame>,
        xid: u32,
        until: Until,
    ) -> Result<Vec<Message>, SwitchError> {
        let (done, rx) = oneshot::channel();
        let closed = SwitchError::Closed {
            node: self.node,
            bridge: self.bridge,
        };
        self.tx
            .send(Send {
                frames,
                xid,
                until,
                done,
            })
            .await
            .map_err(|_| closed.clone())?;
        let (replies, errors) = tokio::time::timeout(REQUEST_TIMEOUT, rx)
            .await
            .map_err(|_| SwitchError::Timeout {
                node: self.node,
                bridge: self.bridge,
                secs: REQUEST_TIMEOUT.as_secs(),
            })?
            .map_err(|_| closed)?;
        if errors.is_empty() {
            Ok(replies)
        } else {
            Err(SwitchError::Refused {
                node: self.node,
                bridge: self.bridge,
                errors: errors.iter().map(ToString::to_string).collect(),
            })
        }
    }

    /// Sends `msg` and returns its replies (all parts of a multipart reply).
    ///
    /// # Errors
    /// [`SwitchError`]: closed, timed out, or the switch answered with an error.
    pub async fn request(&self, msg: Message) -> Result<Vec<Message>, SwitchError> {
        let until = if matches!(msg, Message::MultipartRequest(_)) {
            Until::LastPart
        } else {
            Until::One
        };
        let xid = self.xid();
        self.exchange(vec![Frame { xid, msg }], xid, until).await
    }

    /// Every flow of every table, with its counters.
    ///
    /// # Errors
    /// [`SwitchError`]: closed, timed out, or refused.
    pub async fn flows(&self) -> Result<Vec<FlowStats>, SwitchError> {
        let body = MultipartRequestBody::FlowStats(FlowStatsRequest::default());
        let mut out = Vec::new();
        for r in self
            .request(Message::MultipartRequest(MultipartRequest::new(body)))
            .await?
        {
            if let Message::MultipartReply(MultipartReply {
                body: MultipartReplyBody::FlowStats(stats),
                ..
            }) = r
            {
                out.extend(stats);
            }
        }
        Ok(out)
    }

    /// Every group.
    ///
    /// # Errors
    /// [`SwitchError`]: closed, timed out, or refused.
    pub async fn groups(&self) -> Result<Vec<GroupDesc>, SwitchError> {
        let body = MultipartRequestBody::GroupDesc;
        let mut out = Vec::new();
        for r in self
            .request(Message::MultipartRequest(MultipartRequest::new(body)))
            .await?
        {
            if let Message::MultipartReply(MultipartReply {
                body: MultipartReplyBody::GroupDesc(groups),
                ..
            }) = r
            {
                out.extend(groups);
            }
        }
        Ok(out)
    }

    /// Applies `msgs` atomically and in order (an ONF bundle: open, add each, commit), then
    /// waits for a barrier. Either every message took effect or none did.
    ///
    /// # Errors
    /// [`SwitchError::Refused`] with every error the switch reported (the bundle was discarded).
    pub async fn bundle(&self, msgs: Vec<Message>) -> Result<(), SwitchError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let xid = self.xid();
        let bundle_id = self.bundles.fetch_add(1, Ordering::Relaxed);
        let flags = bundle_flags::ATOMIC | bundle_flags::ORDERED;
        let control = |kind| Frame {
            xid,
            msg: Message::BundleControl(BundleControl {
                bundle_id,
                kind,
                flags,
            }),
        };
        let mut frames = Vec::with_capacity(msgs.len() + 3);
        frames.push(control(BundleCtrlType::OpenRequest));
        for msg in msgs {
            frames.push(Frame {
                xid,
                msg: Message::BundleAdd(BundleAdd {
                    bundle_id,
                    flags,
                    message: Box::new(Frame { xid, msg }),
                }),
            });
        }
        frames.push(control(BundleCtrlType::CommitRequest));
        frames.push(Frame {
            xid,
            msg: Message::BarrierRequest,
        });
        let replies = self.exchange(frames, xid, Until::Barrier).await?;
        let committed = replies.iter().any(
            |m| matches!(m, Message::BundleControl(c) if c.kind == BundleCtrlType::CommitReply),
        );
        if committed {
            Ok(())
        } else {
            Err(SwitchError::Refused {
                node: self.node,
                bridge: self.bridge,
                errors: vec!["bundle was not committed (no commit reply)".into()],
            })
        }
    }
}

/// The switches connected now, by node index and bridge.
#[derive(Clone, Default)]
pub struct Switches {
    inner: Arc<Mutex<Connected>>,
}

#[derive(Default)]
struct Connected {
    switches: HashMap<(u32, &'static str), Switch>,
    /// Per node index: bumped when one of its switches connects or disconnects.
    changed: HashMap<u32, watch::Sender<u64>>,
}

impl Connected {
    fn changed(&mut self, node: u32) -> &watch::Sender<u64> {
        self.changed
            .entry(node)
            .or_insert_with(|| watch::channel(0).0)
    }
}

impl std::fmt::Debug for Switches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switches")
            .field("connected", &self.lock().switches.len())
            .finish()
    }
}

impl Switches {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connected> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The switch of node `index`'s `bridge`, if connected.
    pub fn get(&self, index: u32, bridge: &str) -> Option<Switch> {
        let bridge = [pipeline::names::BR_INT, pipeline::names::BR_EX]
            .into_iter()
            .find(|b| *b == bridge)?;
        self.lock().switches.get(&(index, bridge)).cloned()
    }

    /// Sees a new value whenever a switch of node `index` connects or disconnects (only
    /// that node's, so that a fleet's connections do not wake every reconciler).
    pub fn subscribe(&self, index: u32) -> watch::Receiver<u64> {
        self.lock().changed(index).subscribe()
    }

    fn insert(&self, s: Switch) {
        let mut c = self.lock();
        let node = s.node;
        c.switches.insert((s.node, s.bridge), s);
        c.changed(node).send_modify(|v| *v += 1);
    }

    fn remove(&self, node: u32, bridge: &'static str, generation: u64) {
        let mut c = self.lock();
        if c.switches
            .get(&(node, bridge))
            .is_some_and(|s| s.generation == generation)
        {
            c.switches.remove(&(node, bridge));
            c.changed(node).send_modify(|v| *v += 1);
        }
    }
}

/// A number no other connection of this process got.
fn next_generation() -> u64 {
    static GENERATION: AtomicU64 = AtomicU64::new(1);
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// Connects to a switch's passive OpenFlow target (`ptcp:PORT:IP` on the switch) and keeps
/// reconnecting until `stop` turns true or the future is dropped. A connection that ends after
/// a while is retried at once — a restarted ovs-vswitchd gets its table back the moment it
/// listens — and failed attempts back off from 100 ms to 2 s. An attempt gives up after 1 s: a SYN
/// lost while the switch's datapath was starting is resent sooner by a new attempt than by
/// TCP's own retransmission.
pub async fn dial(addr: SocketAddr, switches: Switches, mut stop: watch::Receiver<bool>) {
    const MIN: Duration = Duration::from_millis(100);
    let mut backoff = MIN;
    loop {
        let attempt = tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)) => r,
            _ = crate::stopped(&mut stop) => return,
        };
        match attempt {
            Ok(Ok(stream)) => {
                let since = std::time::Instant::now();
                if let Err(e) = serve(
                    stream,
                    addr,
                    next_generation(),
                    switches.clone(),
                    stop.clone(),
                )
                .await
                {
                    tracing::info!(peer = %addr, error = %e, "OpenFlow connection ended");
                }
                // A switch that drops every connection at once is not retried in a spin.
                if since.elapsed() > Duration::from_secs(1) {
                    backoff = MIN;
                    continue;
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = %addr, error = %e, "connecting to the switch failed")
            }
            Err(_) => tracing::debug!(peer = %addr, "connecting to the switch timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = crate::stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// A switch's entry in [`Switches`], removed when its connection ends — also when the
/// future serving it is dropped.
struct Registered {
    switches: Switches,
    node: u32,
    bridge: &'static str,
    generation: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.switches
            .remove(self.node, self.bridge, self.generation);
    }
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    generation: u64,
    switches: Switches,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, OfCodec::new());
    let features = tokio::time::timeout(REQUEST_TIMEOUT, openflow::handshake(&mut framed))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| format!("handshake failed: {e}"))?;
    let Some((node, bridge)) = pipeline::from_datapath_id(features.datapath_id) else {
        return Err(format!(
            "datapath id {:#018x} is not one Switchyard assigned; closing",
            features.datapath_id
        ));
    };
    let (switch, rx) = Switch::new(node, bridge, generation, peer.to_string());
    tracing::info!(%peer, node_index = node, bridge, "switch connected");
    switches.insert(switch);
    let _registered = Registered {
        switches,
        node,
        bridge,
        generation,
    };
    let result = drive(framed, rx, stop).await;
    tracing::info!(%peer, node_index = node, bridge, "switch disconnected");
    result
}

/// Opens a bridge's management socket (`/var/run/openvswitch/BRIDGE.mgmt`, or the
/// `OVS_RUNDIR` of a lab node) and returns a handle to it, for tools and tests. The
/// connection lives until every clone of the handle is dropped.
///
/// # Errors
/// The socket cannot be opened or the OpenFlow handshake fails.
pub async fn open_unix(path: &std::path::Path) -> Result<Switch, String> {
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut framed = Framed::new(stream, OfCodec::new());
    tokio::time::timeout(REQUEST_TIMEOUT, openflow::handshake(&mut framed))
        .await
        .map_err(|_| format!("{}: handshake timed out", path.display()))?
        .map_err(|e| format!("{}: handshake failed: {e}", path.display()))?;
    let (switch, rx) = Switch::new(0, "br-int", 0, path.display().to_string());
    let (_never, stop) = watch::channel(false);
    tokio::spawn(async move {
        let _keep = _never;
        if let Err(e) = drive(framed, rx, stop).await {
            tracing::info!(error = %e, "OpenFlow connection ended");
        }
    });
    Ok(switch)
}

/// Runs one connection: answers echoes, sends requests, routes replies by xid.
async fn drive<S>(
    mut framed: Framed<S, OfCodec>,
    mut rx: mpsc::Receiver<Send>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut pending: HashMap<u32, Pending> = HashMap::new();
    let mut last_heard = tokio::time::Instant::now();
    let mut echo = tokio::time::interval(ECHO_INTERVAL);
    loop {
        // Messages first: a task that was not polled for a while (a busy runtime) reads what
        // the switch sent meanwhile before it judges the switch silent.
        tokio::select! {
            biased;
            frame = framed.next() => {
                let frame = match frame {
                    None => break Err("the switch closed the connection".to_string()),
                    Some(Err(e)) => break Err(format!("bad message from the switch: {e}")),
                    Some(Ok(f)) => f,
                };
                last_heard = tokio::time::Instant::now();
                match frame.msg {
                    Message::EchoRequest(data) => {
                        if let Err(e) = framed.send(Frame { xid: frame.xid, msg: Message::EchoReply(data) }).await {
                            break Err(format!("sending an echo reply failed: {e}"));
                        }
                    }
                    msg => deliver(&mut pending, frame.xid, msg),
                }
            }
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break Ok(()) };
                pending.insert(cmd.xid, Pending { until: cmd.until, replies: Vec::new(), errors: Vec::new(), done: cmd.done });
                let mut failed = None;
                for f in cmd.frames {
                    if let Err(e) = framed.feed(f).await {
                        failed = Some(format!("sending to the switch failed: {e}"));
                        break;
                    }
                }
                if let Some(e) = failed {
                    break Err(e);
                }
                if let Err(e) = SinkExt::<Frame>::flush(&mut framed).await {
                    break Err(format!("sending to the switch failed: {e}"));
                }
            }
            _ = echo.tick() => {
                if last_heard.elapsed() > ECHO_INTERVAL * 3 {
                    break Err("the switch stopped answering echo requests".to_string());
                }
                if last_heard.elapsed() >= ECHO_INTERVAL {
                    let _ = framed.send(Frame { xid: 0, msg: Message::EchoRequest(Default::default()) }).await;
                }
            }
            _ = crate::stopped(&mut stop) => break Ok(()),
        }
    }
}

fn deliver(pending: &mut HashMap<u32, Pending>, xid: u32, msg: Message) {
    let Some(p) = pending.get_mut(&xid) else {
        match msg {
            Message::EchoReply(_) | Message::PortStatus(_) | Message::PacketIn(_) => {}
            Message::Error(e) => {
                tracing::warn!(xid, error = %e, "switch reported an error for no pending request")
            }
            other => tracing::debug!(xid, msg = ?other, "unsolicited message from the switch"),
        }
        return;
    };
    let finished = match (&msg, p.until) {
        (Message::Error(e), Until::Barrier) => {
            p.errors.push(e.clone());
            false
        }
        (Message::Error(e), _) => {
            p.errors.push(e.clone());
            true
        }
        (Message::BarrierReply, Until::Barrier) => true,
        (Message::MultipartReply(r), Until::LastPart) => !r.more(),
        (_, Until::One) => true,
        _ => false,
    };
    if !matches!(msg, Message::Error(_)) {
        p.replies.push(msg);
    }
    if finished {
        if let Some(p) = pending.remove(&xid) {
            let _ = p.done.send((p.replies, p.errors));
        }
    }
}
