//! A simulated OpenFlow 1.3 bridge: an in-memory flow and group table with OVS's
//! flow-mod, group-mod and bundle semantics, and the switch side of a connection.
//!
//! What it does like OVS: HELLO/FEATURES/ECHO/BARRIER/SET_CONFIG/ROLE; FLOW_MOD add (same
//! table, priority and match replaces), modify and delete (strict and not, cookie mask,
//! out_port/out_group); GROUP_MOD add/modify/delete (deleting a group deletes the flows that
//! use it); ONF bundles applied atomically at commit (a refused message → OFPT_ERROR with its
//! xid, then the commit's OFPBFC_MSG_FAILED, nothing applied); flow, group, port-desc,
//! desc and aggregate dumps split into parts of < 64 KiB; PACKET_OUT counted.
//! What it checks: table ids, `goto_table` only forward, groups a flow outputs to exist,
//! match prerequisites. It forwards no packets.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::{SinkExt, StreamExt};
use openflow::codec::OfCodec;
use openflow::{
    Action, AggregateStats, BundleControl, BundleCtrlType, Desc, ErrorMsg, Features, FlowMod,
    FlowModCommand, FlowStats, FlowStatsRequest, Frame, GroupDesc, GroupMod, GroupModCommand,
    Hello, Instruction, Match, Message, MultipartReply, MultipartReplyBody, MultipartRequestBody,
    OxmField, PortDesc, Role, SwitchConfig, Wire, OFP_VERSION, ONF_EXPERIMENTER_ID,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch};
use tokio_util::codec::Framed;

/// OpenFlow 1.3 error types and codes used here.
pub mod code {
    pub const BAD_REQUEST: u16 = 1;
    pub const BRC_BAD_TYPE: u16 = 1;
    pub const BRC_BAD_MULTIPART: u16 = 2;
    pub const BAD_ACTION: u16 = 2;
    pub const BAC_BAD_OUT_GROUP: u16 = 9;
    pub const BAD_INSTRUCTION: u16 = 3;
    pub const BIC_BAD_TABLE_ID: u16 = 2;
    pub const BAD_MATCH: u16 = 4;
    pub const BMC_BAD_PREREQ: u16 = 9;
    pub const FLOW_MOD_FAILED: u16 = 5;
    pub const FMFC_BAD_TABLE_ID: u16 = 2;
    pub const GROUP_MOD_FAILED: u16 = 6;
    pub const GMFC_GROUP_EXISTS: u16 = 0;
    pub const GMFC_INVALID_GROUP: u16 = 1;
    pub const GMFC_UNKNOWN_GROUP: u16 = 8;
    /// ONF experimenter error codes (OFPET_EXPERIMENTER, ONF id).
    pub const BFC_BAD_ID: u16 = 2302;
    pub const BFC_BUNDLE_EXIST: u16 = 2303;
    pub const BFC_MSG_UNSUP: u16 = 2310;
    pub const BFC_MSG_FAILED: u16 = 2313;
}

/// `OFPTT_ALL`.
const ALL_TABLES: u8 = 0xff;
/// Tables 0..=253, as OVS offers.
const N_TABLES: u8 = 254;
/// Group ids above this are reserved (`OFPG_MAX`).
const GROUP_MAX: u32 = 0xffff_ff00;
/// Room left in a multipart reply part (header 16 bytes, limit 65535).
const PART_BUDGET: usize = 65_000;

/// A flow's identity in its table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub table_id: u8,
    pub priority: u16,
    pub match_: Match,
}

/// What a flow holds besides its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEntry {
    pub cookie: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub instructions: Vec<Instruction>,
}

/// How to take one change back.
#[derive(Debug)]
enum Undo {
    Flow(FlowKey, Option<FlowEntry>),
    Group(u32, Option<GroupDesc>),
}

/// A bridge's flows and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowTable {
    pub flows: HashMap<FlowKey, FlowEntry>,
    pub groups: BTreeMap<u32, GroupDesc>,
}

fn error(err_type: u16, code: u16) -> ErrorMsg {
    ErrorMsg::new(err_type, code, &[])
}

fn onf_error(code: u16) -> ErrorMsg {
    ErrorMsg {
        experimenter: Some(ONF_EXPERIMENTER_ID),
        ..ErrorMsg::new(openflow::OFPET_EXPERIMENTER, code, &[])
    }
}

fn field_bytes(f: &OxmField) -> (Vec<u8>, Vec<u8>) {
    let mask = f.mask.clone().unwrap_or_else(|| vec![0xff; f.value.len()]);
    (f.value.clone(), mask)
}

/// Whether `flow` is at least as specific as `req` and agrees with it where `req` looks:
/// the non-strict match of OF1.3 §6.4.
pub fn subsumes(req: &Match, flow: &Match) -> bool {
    req.fields().iter().all(|rf| {
        let Some(ff) = flow.get(rf.field) else {
            return false;
        };
        let (rv, rm) = field_bytes(rf);
        let (fv, fm) = field_bytes(ff);
        rv.len() == fv.len()
            && (0..rv.len()).all(|i| fm[i] & rm[i] == rm[i] && fv[i] & rm[i] == rv[i] & rm[i])
    })
}

fn actions_of(instructions: &[Instruction]) -> impl Iterator<Item = &Action> {
    instructions.iter().flat_map(|i| match i {
        Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a.as_slice(),
        _ => &[],
    })
}

fn outputs_to(e: &FlowEntry, out_port: u32, out_group: u32) -> bool {
    let port_ok = out_port == openflow::port::ANY
        || actions_of(&e.instructions)
            .any(|a| matches!(a, Action::Output { port, .. } if *port == out_port));
    let group_ok = out_group == openflow::action::group::ANY
        || actions_of(&e.instructions).any(|a| matches!(a, Action::Group(g) if *g == out_group));
    port_ok && group_ok
}

impl FlowTable {
    /// Number of flows whose cookie starts with `magic` (the top 16 bits).
    pub fn flows_with_cookie_magic(&self, magic: u64) -> usize {
        self.flows
            .values()
            .filter(|e| e.cookie >> 48 == magic)
            .count()
    }

    /// Whether some flow matches `ip` exactly in any IPv4 or ARP address field.
    pub fn mentions_ip(&self, ip: Ipv4Addr) -> bool {
        let want = ip.octets();
        self.flows.keys().any(|k| {
            k.match_
                .fields()
                .iter()
                .any(|f| f.mask.is_none() && f.value.as_slice() == want.as_slice())
        })
    }

    /// Applies one flow-mod or group-mod. On error nothing changed.
    ///
    /// # Errors
    /// The OFPT_ERROR OVS would send (without the offending bytes; the caller adds them).
    pub fn apply(&mut self, msg: &Message) -> Result<(), ErrorMsg> {
        let mut log = Vec::new();
        let r = self.apply_logged(msg, &mut log);
        if r.is_err() {
            self.undo(log);
        }
        r
    }

    fn apply_logged(&mut self, msg: &Message, log: &mut Vec<Undo>) -> Result<(), ErrorMsg> {
        match msg {
            Message::FlowMod(fm) => self.flow_mod(fm, log),
            Message::GroupMod(gm) => self.group_mod(gm, log),
            _ => Err(onf_error(code::BFC_MSG_UNSUP)),
        }
    }

    fn check_instructions(
        &self,
        table_id: u8,
        instructions: &[Instruction],
    ) -> Result<(), ErrorMsg> {
        for i in instructions {
            if let Instruction::GotoTable(t) = i {
                if *t <= table_id || *t >= N_TABLES {
                    return Err(error(code::BAD_INSTRUCTION, code::BIC_BAD_TABLE_ID));
                }
            }
        }
        for a in actions_of(instructions) {
            if let Action::Group(g) = a {
                if !self.groups.contains_key(g) {
                    return Err(error(code::BAD_ACTION, code::BAC_BAD_OUT_GROUP));
                }
            }
        }
        Ok(())
    }

    fn flow_mod(&mut self, fm: &FlowMod, log: &mut Vec<Undo>) -> Result<(), ErrorMsg> {
        let cookie_ok = |e: &FlowEntry| (e.cookie & fm.cookie_mask) == (fm.cookie & fm.cookie_mask);
        let table_ok = |t: u8| fm.table_id == ALL_TABLES || fm.table_id == t;
        let strict_key = || FlowKey {
            table_id: fm.table_id,
            priority: fm.priority,
            match_: fm.match_.clone(),
        };
        match fm.command {
            FlowModCommand::Add => {
                if fm.table_id >= N_TABLES {
                    return Err(error(code::FLOW_MOD_FAILED, code::FMFC_BAD_TABLE_ID));
                }
                if fm.match_.check_prereqs().is_err() {
                    return Err(error(code::BAD_MATCH, code::BMC_BAD_PREREQ));
                }
                self.check_instructions(fm.table_id, &fm.instructions)?;
                let key = strict_key();
                let old = self.flows.insert(
                    key.clone(),
                    FlowEntry {
                        cookie: fm.cookie,
                        idle_timeout: fm.idle_timeout,
                        hard_timeout: fm.hard_timeout,
                        flags: fm.flags,
                        instructions: fm.instructions.clone(),
                    },
                );
                log.push(Undo::Flow(key, old));
                Ok(())
            }
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                let strict = fm.command == FlowModCommand::ModifyStrict;
                if fm.table_id == ALL_TABLES || fm.table_id >= N_TABLES {
                    return Err(error(code::FLOW_MOD_FAILED, code::FMFC_BAD_TABLE_ID));
                }
                self.check_instructions(fm.table_id, &fm.instructions)?;
                let keys: Vec<FlowKey> = if strict {
                    let k = strict_key();
                    self.flows
                        .get(&k)
                        .filter(|e| cookie_ok(e))
                        .map(|_| k)
                        .into_iter()
                        .collect()
                } else {
                    self.flows
                        .iter()
                        .filter(|(k, e)| {
                            table_ok(k.table_id) && cookie_ok(e) && subsumes(&fm.match_, &k.match_)
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                };
                for k in keys {
                    if let Some(e) = self.flows.get_mut(&k) {
                        log.push(Undo::Flow(k, Some(e.clone())));
                        // OF1.3 §6.4: modify keeps the cookie and counters.
                        e.instructions = fm.instructions.clone();
                    }
                }
                Ok(())
            }
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
                let strict = fm.command == FlowModCommand::DeleteStrict;
                if fm.table_id != ALL_TABLES && fm.table_id >= N_TABLES {
                    return Err(error(code::FLOW_MOD_FAILED, code::FMFC_BAD_TABLE_ID));
                }
                let hit = |e: &FlowEntry| cookie_ok(e) && outputs_to(e, fm.out_port, fm.out_group);
                let keys: Vec<FlowKey> = if strict && fm.table_id != ALL_TABLES {
                    let k = strict_key();
                    self.flows
                        .get(&k)
                        .filter(|e| hit(e))
                        .map(|_| k)
                        .into_iter()
                        .collect()
                } else {
                    self.flows
                        .iter()
                        .filter(|(k, e)| {
                            table_ok(k.table_id)
                                && hit(e)
                                && if strict {
                                    k.priority == fm.priority && k.match_ == fm.match_
                                } else {
                                    subsumes(&fm.match_, &k.match_)
                                }
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                };
                for k in keys {
                    if let Some(e) = self.flows.remove(&k) {
                        log.push(Undo::Flow(k, Some(e)));
                    }
                }
                Ok(())
            }
        }
    }

    fn group_mod(&mut self, gm: &GroupMod, log: &mut Vec<Undo>) -> Result<(), ErrorMsg> {
        let desc = || GroupDesc {
            group_type: gm.group_type,
            group_id: gm.group_id,
            buckets: gm.buckets.clone(),
        };
        match gm.command {
            GroupModCommand::Add => {
                if gm.group_id > GROUP_MAX {
                    return Err(error(code::GROUP_MOD_FAILED, code::GMFC_INVALID_GROUP));
                }
                if self.groups.contains_key(&gm.group_id) {
                    return Err(error(code::GROUP_MOD_FAILED, code::GMFC_GROUP_EXISTS));
                }
                self.groups.insert(gm.group_id, desc());
                log.push(Undo::Group(gm.group_id, None));
                Ok(())
            }
            GroupModCommand::Modify => {
                let Some(old) = self.groups.insert(gm.group_id, desc()) else {
                    self.groups.remove(&gm.group_id);
                    return Err(error(code::GROUP_MOD_FAILED, code::GMFC_UNKNOWN_GROUP));
                };
                log.push(Undo::Group(gm.group_id, Some(old)));
                Ok(())
            }
            GroupModCommand::Delete => {
                let gone: Vec<u32> = if gm.group_id == openflow::action::group::ALL {
                    self.groups.keys().copied().collect()
                } else {
                    self.groups
                        .get(&gm.group_id)
                        .map(|_| gm.group_id)
                        .into_iter()
                        .collect()
                };
                for g in &gone {
                    if let Some(old) = self.groups.remove(g) {
                        log.push(Undo::Group(*g, Some(old)));
                    }
                }
                // OF1.3 §6.5: flows that forward to a deleted group are deleted too.
                if !gone.is_empty() {
                    let keys: Vec<FlowKey> = self
                        .flows
                        .iter()
                        .filter(|(_, e)| {
                            actions_of(&e.instructions)
                                .any(|a| matches!(a, Action::Group(g) if gone.contains(g)))
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in keys {
                        if let Some(e) = self.flows.remove(&k) {
                            log.push(Undo::Flow(k, Some(e)));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Applies `msgs` in order, all or nothing.
    ///
    /// # Errors
    /// `(index, error)` of the first message refused; the table is as before then.
    pub fn apply_all<'a>(
        &mut self,
        msgs: impl IntoIterator<Item = &'a Message>,
    ) -> Result<(), (usize, ErrorMsg)> {
        let mut log = Vec::new();
        for (i, m) in msgs.into_iter().enumerate() {
            if let Err(e) = self.apply_logged(m, &mut log) {
                self.undo(log);
                return Err((i, e));
            }
        }
        Ok(())
    }

    fn undo(&mut self, log: Vec<Undo>) {
        for u in log.into_iter().rev() {
            match u {
                Undo::Flow(k, Some(e)) => {
                    self.flows.insert(k, e);
                }
                Undo::Flow(k, None) => {
                    self.flows.remove(&k);
                }
                Undo::Group(g, Some(d)) => {
                    self.groups.insert(g, d);
                }
                Undo::Group(g, None) => {
                    self.groups.remove(&g);
                }
            }
        }
    }

    /// The flows a flow-stats request selects, in a stable order (table, priority, match).
    pub fn flow_stats(&self, req: &FlowStatsRequest) -> Vec<FlowStats> {
        let mut out: Vec<(&FlowKey, &FlowEntry)> = self
            .flows
            .iter()
            .filter(|(k, e)| {
                (req.table_id == ALL_TABLES || req.table_id == k.table_id)
                    && (e.cookie & req.cookie_mask) == (req.cookie & req.cookie_mask)
                    && outputs_to(e, req.out_port, req.out_group)
                    && subsumes(&req.match_, &k.match_)
            })
            .collect();
        out.sort_by(|a, b| {
            (a.0.table_id, std::cmp::Reverse(a.0.priority))
                .cmp(&(b.0.table_id, std::cmp::Reverse(b.0.priority)))
                .then_with(|| a.0.match_.fields().cmp(b.0.match_.fields()))
        });
        out.into_iter()
            .map(|(k, e)| FlowStats {
                table_id: k.table_id,
                duration_sec: 0,
                duration_nsec: 0,
                priority: k.priority,
                idle_timeout: e.idle_timeout,
                hard_timeout: e.hard_timeout,
                flags: e.flags,
                cookie: e.cookie,
                packet_count: 0,
                byte_count: 0,
                match_: k.match_.clone(),
                instructions: e.instructions.clone(),
            })
            .collect()
    }
}

/// Splits `items` into multipart reply parts that each fit one OpenFlow message.
fn parts<T: Wire + Clone>(
    items: Vec<T>,
    wrap: impl Fn(Vec<T>) -> MultipartReplyBody,
) -> Vec<MultipartReply> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut len = 0;
    for i in items {
        let l = i.wire_len();
        if len + l > PART_BUDGET && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            len = 0;
        }
        len += l;
        cur.push(i);
    }
    out.push(cur);
    let n = out.len();
    out.into_iter()
        .enumerate()
        .map(|(i, c)| MultipartReply {
            flags: if i + 1 < n { openflow::REPLY_MORE } else { 0 },
            body: wrap(c),
        })
        .collect()
}

/// What the driver counts per switch.
#[derive(Debug, Default)]
pub struct Stats {
    /// FLOW_MODs received, each one inside a bundle counted on its own.
    pub flow_mods: AtomicU64,
    /// GROUP_MODs received, likewise.
    pub group_mods: AtomicU64,
    /// Bundles committed.
    pub bundles_committed: AtomicU64,
    /// OFPT_ERRORs sent.
    pub errors_sent: AtomicU64,
    /// PACKET_OUTs received.
    pub packet_outs: AtomicU64,
    /// Connections that completed the handshake (FEATURES_REPLY sent).
    pub connections: AtomicU64,
    /// ECHO_REQUESTs answered.
    pub echo_replies: AtomicU64,
    /// Connections the controller closed although this switch had answered its last echo
    /// request less than 5 s before (the switch was responsive; the controller was not
    /// reading).
    pub closed_while_answering: AtomicU64,
    /// When each barrier reply was sent.
    pub barrier_replies: Mutex<Vec<Instant>>,
}

type Probe = (
    Box<dyn Fn(&FlowTable) -> bool + Send>,
    bool,
    oneshot::Sender<Instant>,
);

/// One simulated bridge: its tables survive connections, as OVS's do with `fail_mode=secure`.
pub struct Bridge {
    /// `br-int` or `br-ex`.
    pub name: String,
    dpid: AtomicU64,
    table: Mutex<FlowTable>,
    ports: Mutex<Vec<(u32, String)>>,
    /// Counters.
    pub stats: Stats,
    connected: AtomicU64,
    probes: Mutex<Vec<Probe>>,
    changed: watch::Sender<u64>,
    closing: AtomicBool,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("name", &self.name)
            .field("dpid", &self.dpid())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bridge {
    /// A bridge with an empty table and datapath id 0 (unknown yet).
    pub fn new(name: &str) -> Arc<Bridge> {
        Arc::new(Bridge {
            name: name.to_owned(),
            dpid: AtomicU64::new(0),
            table: Mutex::new(FlowTable::default()),
            ports: Mutex::new(Vec::new()),
            stats: Stats::default(),
            connected: AtomicU64::new(0),
            probes: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
            closing: AtomicBool::new(false),
        })
    }

    /// The datapath id FEATURES_REPLY reports.
    pub fn dpid(&self) -> u64 {
        self.dpid.load(Ordering::Relaxed)
    }

    /// Sets the datapath id (from the Bridge row's `datapath_id`).
    pub fn set_dpid(&self, dpid: u64) {
        self.dpid.store(dpid, Ordering::Relaxed);
    }

    /// Sets the ports PORT_DESC reports.
    pub fn set_ports(&self, ports: Vec<(u32, String)>) {
        *lock(&self.ports) = ports;
    }

    /// A copy of the table.
    pub fn table(&self) -> FlowTable {
        lock(&self.table).clone()
    }

    /// Runs `f` on the table without copying it.
    pub fn with_table<R>(&self, f: impl FnOnce(&FlowTable) -> R) -> R {
        f(&lock(&self.table))
    }

    /// Connections that are up now (handshake done).
    pub fn connected(&self) -> u64 {
        self.connected.load(Ordering::Relaxed)
    }

    /// Goes up on every handshake, commit, barrier and disconnect.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Resolves with the time of the first barrier reply sent after the table first satisfied
    /// `pred` (checked now and after every change of the table).
    pub fn probe(
        &self,
        pred: impl Fn(&FlowTable) -> bool + Send + 'static,
    ) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        let hit = self.with_table(|t| pred(t));
        lock(&self.probes).push((Box::new(pred), hit, tx));
        rx
    }

    fn check_probes(&self, table: &FlowTable) {
        let mut probes = lock(&self.probes);
        for p in probes.iter_mut() {
            if !p.1 && (p.0)(table) {
                p.1 = true;
            }
        }
    }

    fn barrier(&self) {
        let now = Instant::now();
        lock(&self.stats.barrier_replies).push(now);
        let mut probes = lock(&self.probes);
        let all = std::mem::take(&mut *probes);
        for p in all {
            if p.1 {
                let _ = p.2.send(now);
            } else if !p.2.is_closed() {
                probes.push(p);
            }
        }
    }

    /// Applies one message outside any bundle (a direct FLOW_MOD/GROUP_MOD).
    ///
    /// # Errors
    /// The switch's error; the table is unchanged then.
    pub fn apply(&self, msg: &Message) -> Result<(), ErrorMsg> {
        let mut t = lock(&self.table);
        let r = t.apply(msg);
        if r.is_ok() {
            self.check_probes(&t);
        }
        r
    }

    /// Applies a bundle's messages all or nothing. On error returns the index of the
    /// refused message and its error.
    ///
    /// # Errors
    /// `(index, error)` of the first message the table refused; nothing was applied.
    pub fn commit<'a>(
        &self,
        msgs: impl IntoIterator<Item = &'a Message>,
    ) -> Result<(), (usize, ErrorMsg)> {
        let mut t = lock(&self.table);
        t.apply_all(msgs)?;
        self.check_probes(&t);
        Ok(())
    }

    /// Makes every connection of this bridge end (the node is going away).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.bump();
    }
}

struct Open {
    flags: u16,
    msgs: Vec<Frame>,
}

/// Serves one OpenFlow connection for `bridge` (either direction: a dialed controller or an
/// accepted one) until it closes.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, bridge: Arc<Bridge>) {
    let mut framed = Framed::new(stream, OfCodec::new());
    if framed
        .send(Frame::new(1, Message::Hello(Hello::new(&[OFP_VERSION]))))
        .await
        .is_err()
    {
        return;
    }
    let mut bundles: HashMap<u32, Open> = HashMap::new();
    let mut config = SwitchConfig {
        flags: 0,
        miss_send_len: 128,
    };
    let mut handshaken = false;
    let mut last_echo_reply: Option<Instant> = None;
    let mut changes = bridge.changes();
    loop {
        let frame = tokio::select! {
            f = framed.next() => match f {
                Some(Ok(f)) => f,
                _ => break,
            },
            _ = changes.changed() => {
                if bridge.closing.load(Ordering::Relaxed) { break }
                continue;
            }
        };
        let xid = frame.xid;
        let mut out: Vec<Frame> = Vec::new();
        // OVS quotes the offending message (its first 64 bytes); encoded only when needed.
        let quote = |f: &Frame| {
            let raw = f.to_bytes().unwrap_or_default();
            raw.slice(..raw.len().min(64))
        };
        let refuse = |e: ErrorMsg| {
            bridge.stats.errors_sent.fetch_add(1, Ordering::Relaxed);
            Frame::new(
                xid,
                Message::Error(ErrorMsg {
                    data: quote(&frame),
                    ..e
                }),
            )
        };
        match &frame.msg {
            Message::Hello(_) => {}
            Message::FeaturesRequest => {
                out.push(Frame::new(
                    xid,
                    Message::FeaturesReply(Features {
                        datapath_id: bridge.dpid(),
                        n_buffers: 0,
                        n_tables: N_TABLES,
                        auxiliary_id: 0,
                        capabilities: 0x4f,
                    }),
                ));
                if !handshaken {
                    handshaken = true;
                    bridge.connected.fetch_add(1, Ordering::Relaxed);
                    bridge.stats.connections.fetch_add(1, Ordering::Relaxed);
                    bridge.bump();
                }
            }
            Message::EchoRequest(b) => {
                bridge.stats.echo_replies.fetch_add(1, Ordering::Relaxed);
                last_echo_reply = Some(Instant::now());
                out.push(Frame::new(xid, Message::EchoReply(b.clone())));
            }
            Message::EchoReply(_) | Message::Error(_) => {}
            Message::BarrierRequest => {
                bridge.barrier();
                out.push(Frame::new(xid, Message::BarrierReply));
            }
            Message::SetConfig(c) => config = *c,
            Message::GetConfigRequest => out.push(Frame::new(xid, Message::GetConfigReply(config))),
            Message::RoleRequest(r) => out.push(Frame::new(
                xid,
                Message::RoleReply(Role {
                    role: r.role,
                    generation_id: r.generation_id,
                }),
            )),
            Message::PacketOut(_) => {
                bridge.stats.packet_outs.fetch_add(1, Ordering::Relaxed);
            }
            m @ (Message::FlowMod(_) | Message::GroupMod(_)) => {
                count(&bridge, m);
                if let Err(e) = bridge.apply(m) {
                    out.push(refuse(e));
                }
                bridge.bump();
            }
            Message::BundleControl(c) => {
                let reply = |kind| {
                    Frame::new(
                        xid,
                        Message::BundleControl(BundleControl {
                            bundle_id: c.bundle_id,
                            kind,
                            flags: c.flags,
                        }),
                    )
                };
                match c.kind {
                    BundleCtrlType::OpenRequest => {
                        if let std::collections::hash_map::Entry::Vacant(e) =
                            bundles.entry(c.bundle_id)
                        {
                            e.insert(Open {
                                flags: c.flags,
                                msgs: Vec::new(),
                            });
                            out.push(reply(BundleCtrlType::OpenReply));
                        } else {
                            out.push(refuse(onf_error(code::BFC_BUNDLE_EXIST)));
                        }
                    }
                    BundleCtrlType::CloseRequest => {
                        if bundles.contains_key(&c.bundle_id) {
                            out.push(reply(BundleCtrlType::CloseReply));
                        } else {
                            out.push(refuse(onf_error(code::BFC_BAD_ID)));
                        }
                    }
                    BundleCtrlType::DiscardRequest => {
                        if bundles.remove(&c.bundle_id).is_some() {
                            out.push(reply(BundleCtrlType::DiscardReply));
                        } else {
                            out.push(refuse(onf_error(code::BFC_BAD_ID)));
                        }
                    }
                    BundleCtrlType::CommitRequest => match bundles.remove(&c.bundle_id) {
                        None => out.push(refuse(onf_error(code::BFC_BAD_ID))),
                        Some(open) => {
                            let _ = open.flags;
                            match bridge.commit(open.msgs.iter().map(|f| &f.msg)) {
                                Ok(()) => {
                                    bridge
                                        .stats
                                        .bundles_committed
                                        .fetch_add(1, Ordering::Relaxed);
                                    out.push(reply(BundleCtrlType::CommitReply));
                                }
                                Err((i, e)) => {
                                    // The refused message's own error, with its xid, then
                                    // the commit's failure.
                                    let m = &open.msgs[i];
                                    bridge.stats.errors_sent.fetch_add(1, Ordering::Relaxed);
                                    out.push(Frame::new(
                                        m.xid,
                                        Message::Error(ErrorMsg {
                                            data: quote(m),
                                            ..e
                                        }),
                                    ));
                                    out.push(refuse(onf_error(code::BFC_MSG_FAILED)));
                                }
                            }
                            bridge.bump();
                        }
                    },
                    _ => out.push(refuse(onf_error(code::BFC_MSG_UNSUP))),
                }
            }
            Message::BundleAdd(a) => {
                let inner = &a.message;
                match bundles.get_mut(&a.bundle_id) {
                    None => out.push(refuse(onf_error(code::BFC_BAD_ID))),
                    Some(open) => match &inner.msg {
                        m @ (Message::FlowMod(_) | Message::GroupMod(_)) => {
                            count(&bridge, m);
                            open.msgs.push(Frame::new(inner.xid, m.clone()));
                        }
                        _ => out.push(refuse(onf_error(code::BFC_MSG_UNSUP))),
                    },
                }
            }
            Message::MultipartRequest(req) => {
                let replies: Vec<MultipartReply> = match &req.body {
                    MultipartRequestBody::FlowStats(f) => parts(
                        bridge.with_table(|t| t.flow_stats(f)),
                        MultipartReplyBody::FlowStats,
                    ),
                    MultipartRequestBody::Aggregate(f) => {
                        let n = bridge.with_table(|t| t.flow_stats(f).len());
                        vec![MultipartReply {
                            flags: 0,
                            body: MultipartReplyBody::Aggregate(AggregateStats {
                                packet_count: 0,
                                byte_count: 0,
                                flow_count: u32::try_from(n).unwrap_or(u32::MAX),
                            }),
                        }]
                    }
                    MultipartRequestBody::GroupDesc => parts(
                        bridge.with_table(|t| t.groups.values().cloned().collect()),
                        MultipartReplyBody::GroupDesc,
                    ),
                    MultipartRequestBody::PortDesc => {
                        let ports: Vec<PortDesc> = lock(&bridge.ports)
                            .iter()
                            .map(|(no, name)| port_desc(*no, name))
                            .collect();
                        parts(ports, MultipartReplyBody::PortDesc)
                    }
                    MultipartRequestBody::Desc => vec![MultipartReply {
                        flags: 0,
                        body: MultipartReplyBody::Desc(Desc {
                            mfr_desc: "Switchyard".into(),
                            hw_desc: "yard-sim".into(),
                            sw_desc: "yard-sim".into(),
                            serial_num: "None".into(),
                            dp_desc: bridge.name.clone(),
                        }),
                    }],
                    _ => {
                        out.push(refuse(error(code::BAD_REQUEST, code::BRC_BAD_MULTIPART)));
                        Vec::new()
                    }
                };
                out.extend(
                    replies
                        .into_iter()
                        .map(|r| Frame::new(xid, Message::MultipartReply(r))),
                );
            }
            _ => out.push(refuse(error(code::BAD_REQUEST, code::BRC_BAD_TYPE))),
        }
        for f in out {
            if framed.feed(f).await.is_err() {
                break;
            }
        }
        if framed.flush().await.is_err() {
            break;
        }
    }
    if handshaken {
        bridge.connected.fetch_sub(1, Ordering::Relaxed);
        bridge.bump();
    }
    if !bridge.closing.load(Ordering::Relaxed)
        && last_echo_reply.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(5))
    {
        bridge
            .stats
            .closed_while_answering
            .fetch_add(1, Ordering::Relaxed);
    }
}

fn count(bridge: &Bridge, m: &Message) {
    let c = match m {
        Message::FlowMod(_) => &bridge.stats.flow_mods,
        _ => &bridge.stats.group_mods,
    };
    c.fetch_add(1, Ordering::Relaxed);
}

fn port_desc(port_no: u32, name: &str) -> PortDesc {
    let mut hw = [0x02, 0, 0, 0, 0, 0];
    hw[2..].copy_from_slice(&port_no.to_be_bytes());
    PortDesc {
        port_no,
        hw_addr: hw,
        name: name.chars().take(15).collect(),
        config: 0,
        state: 4, // OFPPS_LIVE
        curr: 0,
        advertised: 0,
        supported: 0,
        peer: 0,
        curr_speed: 10_000_000,
        max_speed: 0,
    }
}
