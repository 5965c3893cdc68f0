//! The benchmark: starts a real `yard-controller`, a fleet of [`SimNode`]s, loads the
//! cluster through the API and measures initial sync, pod adds and a node add.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use switchyard_api::{NewNode, NewPod, NewService, Node, Pod};

use crate::node::{PodPort, SimNode};
use crate::switch::FlowTable;

/// Cookies the controller gives its flows start with these 16 bits.
const COOKIE_MAGIC: u64 = controller::pipeline::COOKIE_MAGIC;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub services: usize,
    pub backends_per_service: usize,
    pub pod_adds: usize,
    pub controller_bin: Option<PathBuf>,
    pub phase_timeout: Duration,
    pub ovsdb_port: u16,
    pub controller_log: String,
    pub keep_dir: bool,
    /// Nodes get addresses 127.B.X.Y with this B.
    pub ip_block: u8,
}

/// The results (the `--json` object).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub nodes: usize,
    pub pods: usize,
    pub services: usize,
    pub load_s: f64,
    pub initial_sync_s: f64,
    pub pod_add_p50_ms: f64,
    pub pod_add_p99_ms: f64,
    pub pod_add_max_ms: f64,
    pub cpu_ms_per_pod_add: f64,
    /// The same less the controller's idle CPU rate over the phase.
    pub cpu_ms_per_pod_add_minus_idle: f64,
    /// Controller CPU while nothing changes (echo probes), ms per second.
    pub controller_idle_cpu_ms_per_s: f64,
    pub switches_touched_per_pod_add: f64,
    pub flow_mods_per_pod_add: f64,
    pub node_add_converged_s: f64,
    pub ovsdb_txns_to_others_per_node_add: u64,
    pub flow_mods_to_others_per_node_add: u64,
    pub flow_mods_to_new_node: u64,
    /// `POST /v1/services` round trip while loading (the API answers after the commit).
    pub service_add_api_p50_ms: f64,
    pub service_add_api_max_ms: f64,
    /// yard-sim's own CPU (user + system) over the run.
    pub sim_cpu_s: f64,
    pub controller_rss_mib: f64,
    pub controller_cpu_s: f64,
    pub br_int_flows_per_node_max: usize,
    /// OpenFlow connections that completed a handshake, over all switches (more than
    /// 2 per node means reconnects).
    pub openflow_connections: u64,
    /// Connections the controller closed within 5 s of the switch answering its echo.
    pub openflow_closed_while_answering: u64,
    pub all_pods_converged: bool,
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("yard-sim: {}", msg.as_ref());
}

/// The controller process; killed (by its pid) when dropped.
struct Controller {
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Controller {
    fn cpu_ticks(&self) -> u64 {
        cpu_ticks_of(&format!("/proc/{}/stat", self.pid))
    }

    fn cpu_ms(&self) -> f64 {
        let hz = clock_ticks();
        self.cpu_ticks() as f64 * 1000.0 / hz
    }

    fn rss_mib(&self) -> f64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// utime + stime of a process, in clock ticks, from its `/proc/PID/stat`.
fn cpu_ticks_of(path: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string(path) else {
        return 0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // state is field 3 overall; utime 14, stime 15 → indexes 11, 12 here.
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK), through nix's safe wrapper (the workspace forbids unsafe code).
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as f64,
        _ => 100.0,
    }
}

/// Raises the open-file limit to its hard maximum (thousands of sockets); returns the limit.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 0,
    }
}

fn find_controller(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut dir = exe.parent().map(Path::to_owned);
    // Next to us; from target/debug/deps (tests), one level up.
    for _ in 0..2 {
        if let Some(d) = &dir {
            let c = d.join("yard-controller");
            if c.exists() {
                return Ok(c);
            }
            dir = d.parent().map(Path::to_owned);
        }
    }
    bail!(
        "yard-controller not found next to {} (build it: cargo build --bins), or pass --controller-bin",
        exe.display()
    )
}

/// The address of node `i` (0-based): 127.B.X.Y, never .0 or .255 in the last two octets.
pub fn node_ip(block: u8, i: usize) -> Ipv4Addr {
    let x = i / 250;
    let y = i % 250 + 1;
    Ipv4Addr::new(
        127,
        block,
        u8::try_from(x).unwrap_or(255),
        u8::try_from(y).unwrap_or(1),
    )
}

/// What one node should show when converged.
#[derive(Debug, Default, Clone)]
struct Expect {
    pod_ips: Vec<Ipv4Addr>,
}

/// One pass over a table: the facts convergence is judged by.
struct Facts {
    exact4: HashSet<[u8; 4]>,
    masked4: HashSet<([u8; 4], [u8; 4])>,
    services: BTreeSet<u32>,
    ours: usize,
}

fn facts(t: &FlowTable) -> Facts {
    let mut f = Facts {
        exact4: HashSet::new(),
        masked4: HashSet::new(),
        services: BTreeSet::new(),
        ours: 0,
    };
    for (k, e) in &t.flows {
        if e.cookie >> 48 == COOKIE_MAGIC {
            f.ours += 1;
        }
        for x in k.match_.fields() {
            let Ok(v) = <[u8; 4]>::try_from(x.value.as_slice()) else {
                continue;
            };
            match &x.mask {
                None => {
                    f.exact4.insert(v);
                }
                Some(m) => {
                    if let Ok(m) = <[u8; 4]>::try_from(m.as_slice()) {
                        f.masked4.insert((v, m));
                    }
                }
            }
        }
    }
    for g in t.groups.keys() {
        f.services
            .insert(controller::pipeline::group::service_of(*g));
    }
    f
}

fn prefix_mask(len: u8) -> [u8; 4] {
    let m: u32 = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    m.to_be_bytes()
}

struct Fleet {
    api: switchyard_api::Client,
    sims: Vec<Arc<SimNode>>,
    nodes: Vec<Node>,
    expect: Vec<Expect>,
    services: BTreeSet<u32>,
}

impl Fleet {
    /// Why node `i` is not converged, or `Ok`.
    fn check(&self, i: usize, status_flows: Option<u64>, detailed: bool) -> Result<(), String> {
        let sim = &self.sims[i];
        let name = &sim.name;
        if sim.br_int.connected() == 0 {
            return Err(format!(
                "node {name}: br-int not connected to the controller"
            ));
        }
        if sim.br_ex.connected() == 0 {
            return Err(format!(
                "node {name}: br-ex not connected (controller has not dialed ptcp:6654:{})",
                sim.ip
            ));
        }
        // The cheap test first; the full one only when it passes or when asked why not.
        if !detailed {
            let ours = sim
                .br_int
                .with_table(|t| t.flows_with_cookie_magic(COOKIE_MAGIC));
            if status_flows != Some(ours as u64) {
                return Err(format!(
                    "node {name}: br-int flow count differs from the controller's"
                ));
            }
        }
        let f = sim.br_int.with_table(facts);
        let missing_pods = self.expect[i]
            .pod_ips
            .iter()
            .filter(|ip| !f.exact4.contains(&ip.octets()))
            .count();
        if missing_pods > 0 {
            return Err(format!(
                "node {name}: br-int flows not converged: {missing_pods} pods without flows"
            ));
        }
        let missing_services = self.services.difference(&f.services).count();
        if missing_services > 0 {
            return Err(format!(
                "node {name}: br-int groups not converged: {missing_services} services without a group"
            ));
        }
        let missing_routes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .filter(|(_, n)| {
                !f.masked4.contains(&(
                    n.subnet.network().octets(),
                    prefix_mask(n.subnet.prefix_len()),
                ))
            })
            .count();
        if missing_routes > 0 {
            return Err(format!(
                "node {name}: br-int flows not converged: {missing_routes} routes to other nodes' subnets missing"
            ));
        }
        match status_flows {
            Some(want) if want as usize == f.ours => Ok(()),
            Some(want) => Err(format!(
                "node {name}: br-int has {} Switchyard flows, the controller's desired set has {want}",
                f.ours
            )),
            None => Err(format!("node {name}: controller reports no flow count yet")),
        }
    }

    async fn statuses(&self) -> Result<BTreeMap<String, Option<u64>>> {
        Ok(self
            .api
            .nodes()
            .await
            .context("GET /v1/nodes")?
            .into_iter()
            .map(|n| (n.name.to_string(), n.status.flows))
            .collect())
    }

    /// Waits until every node in `which` is converged (see [`Fleet::check`]).
    async fn converge(&self, which: &[usize], phase: &str, deadline: Instant) -> Result<()> {
        let mut pending: Vec<usize> = which.to_vec();
        let mut last_report = Instant::now();
        let total = pending.len();
        loop {
            let st = self.statuses().await?;
            let mut first_err = None;
            // Checking a thousand tables takes a while: move the other tasks off this thread.
            tokio::task::block_in_place(|| {
                pending.retain(|&i| {
                    let status = st.get(&self.sims[i].name).copied().flatten();
                    match self.check(i, status, false) {
                        Ok(()) => false,
                        Err(e) => {
                            if first_err.is_none() {
                                first_err = Some(self.check(i, status, true).err().unwrap_or(e));
                            }
                            true
                        }
                    }
                })
            });
            if pending.is_empty() {
                // Recheck all in one go: a node converged earlier must still be.
                let st = self.statuses().await?;
                let again: Vec<usize> = which
                    .iter()
                    .copied()
                    .filter(|&i| {
                        self.check(i, st.get(&self.sims[i].name).copied().flatten(), true)
                            .is_err()
                    })
                    .collect();
                if again.is_empty() {
                    return Ok(());
                }
                pending = again;
                continue;
            }
            if Instant::now() > deadline {
                bail!(
                    "phase {phase}: timed out; {} of {total} nodes not converged; first: {}",
                    pending.len(),
                    first_err.unwrap_or_default()
                );
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                progress(format!(
                    "{phase}: {}/{total} nodes converged; waiting on e.g. {}",
                    total - pending.len(),
                    first_err.unwrap_or_default()
                ));
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(if pending.len() > 50 {
                200
            } else {
                20
            }))
            .await;
        }
    }

    fn flow_mods(&self) -> Vec<(u64, u64)> {
        self.sims
            .iter()
            .map(|s| {
                (
                    s.br_int.stats.flow_mods.load(Ordering::Relaxed)
                        + s.br_int.stats.group_mods.load(Ordering::Relaxed),
                    s.br_ex.stats.flow_mods.load(Ordering::Relaxed)
                        + s.br_ex.stats.group_mods.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    fn transacts(&self) -> Vec<u64> {
        self.sims.iter().map(|s| s.db.transacts()).collect()
    }
}

/// Waits until no switch gets a flow-mod and no node an OVSDB transaction for `quiet`.
/// (The controller's CPU never rests: it probes every connection with echoes.)
async fn quiesce(fleet: &Fleet, quiet: Duration, deadline: Instant, phase: &str) -> Result<()> {
    let mut last = (fleet.flow_mods(), fleet.transacts());
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(quiet / 4).await;
        let now = (fleet.flow_mods(), fleet.transacts());
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("phase {phase}: the controller did not go quiet (still sending flow-mods or OVSDB transactions)");
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn pod_port(p: &Pod) -> PodPort {
    PodPort {
        pod: p.name.to_string(),
        ip: p.ip,
        mac: p.mac,
        netns: p.netns.clone(),
    }
}

/// Runs the whole benchmark.
///
/// # Errors
/// A phase that timed out or failed, naming it and what was missing.
pub async fn run(opts: Options) -> Result<Report> {
    if opts.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if opts.services > 0 && opts.pods_per_node == 0 {
        bail!("services need backends: --pods-per-node must be at least 1");
    }
    if opts.nodes + 1 > 250 * 250 {
        bail!("at most {} nodes", 250 * 250 - 1);
    }
    let nofile = raise_nofile();
    let need = (opts.nodes as u64 + 1) * 8 + 256;
    if nofile < need {
        progress(format!(
            "warning: open-file limit {nofile} may be too low for {} nodes (want {need})",
            opts.nodes
        ));
    }
    let bin = find_controller(opts.controller_bin.as_deref())?;
    let dir = tempfile::Builder::new()
        .prefix("yard-sim-")
        .tempdir()
        .context("making a temporary directory")?;
    let dir_path = dir.path().to_owned();
    let _keep = if opts.keep_dir {
        Some(dir.keep())
    } else {
        None
    };
    let result = run_in(&opts, &bin, &dir_path).await;
    if opts.keep_dir {
        progress(format!("kept {}", dir_path.display()));
    }
    result
}

async fn run_in(opts: &Options, bin: &Path, dir: &Path) -> Result<Report> {
    let socket = dir.join("api.sock");
    let log = dir.join("controller.log");
    let logf = std::fs::File::create(&log).context("creating the controller log")?;
    let child = tokio::process::Command::new(bin)
        .arg("--state")
        .arg(dir.join("state.json"))
        .arg("--socket")
        .arg(&socket)
        .arg("--ovsdb-port")
        .arg(opts.ovsdb_port.to_string())
        .arg("--audit-interval")
        .arg("3600")
        // Room for 32 768 node subnets of /24 (the default /16 holds 255 nodes).
        .arg("--cluster-cidr")
        .arg("10.128.0.0/9")
        .arg("--node-prefix")
        .arg("24")
        .env("RUST_LOG", &opts.controller_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logf)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow!("controller exited at once"))?;
    let mut ctl = Controller { child, pid, log };
    progress(format!(
        "controller pid {pid} ({}), log {}",
        bin.display(),
        ctl.log.display()
    ));
    let r = benchmark(opts, &mut ctl, &socket).await;
    if r.is_err() {
        eprintln!(
            "--- last lines of the controller log ---\n{}\n---",
            ctl.log_tail(15)
        );
    }
    let _ = ctl.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), ctl.child.wait()).await;
    r
}

async fn benchmark(opts: &Options, ctl: &mut Controller, socket: &Path) -> Result<Report> {
    let api = switchyard_api::Client::new(&format!("unix:{}", socket.display()))?;
    let up = Instant::now() + Duration::from_secs(30);
    loop {
        if api.health().await.is_ok() {
            break;
        }
        if let Ok(Some(st)) = ctl.child.try_wait() {
            bail!("yard-controller exited ({st}) before serving the API");
        }
        if Instant::now() > up {
            bail!(
                "yard-controller did not answer on {} within 30 s",
                socket.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Phase 1: nodes, pods, services; then initial sync.
    let n = opts.nodes;
    let mut sims = Vec::with_capacity(n + 1);
    for i in 0..n {
        let name = format!("n{}", i + 1);
        let s = SimNode::start(&name, node_ip(opts.ip_block, i), opts.ovsdb_port)
            .await
            .with_context(|| {
                format!(
                    "node {name}: binding OVSDB on {}:{}",
                    node_ip(opts.ip_block, i),
                    opts.ovsdb_port
                )
            })?;
        sims.push(Arc::new(s));
    }
    progress(format!(
        "phase load: {n} simulated nodes listening; adding them"
    ));
    let deadline = Instant::now() + opts.phase_timeout;
    let t_start = Instant::now();
    let mut nodes = Vec::with_capacity(n);
    {
        let mut futs = futures::stream::iter(sims.iter().map(|s| {
            let api = api.clone();
            let req = NewNode {
                name: s.name.parse().expect("valid node name"),
                ip: s.ip,
                uplink: None,
                datapath: None,
            };
            async move { api.add_node(&req).await }
        }))
        .buffered(16);
        use futures::StreamExt;
        while let Some(r) = futs.next().await {
            nodes.push(r.context("POST /v1/nodes")?);
        }
    }
    progress(format!(
        "phase load: {n} nodes added in {:.1} s; adding pods",
        t_start.elapsed().as_secs_f64()
    ));
    let mut expect = vec![Expect::default(); n];
    let mut pods_by_node: Vec<Vec<Pod>> = vec![Vec::new(); n];
    {
        use futures::StreamExt;
        let mut futs = futures::stream::iter((0..n).map(|i| {
            let api = api.clone();
            let reqs: Vec<NewPod> = (0..opts.pods_per_node)
                .map(|j| NewPod {
                    name: format!("p{}-{j}", i + 1).parse().expect("valid pod name"),
                    node: sims[i].name.parse().expect("valid node name"),
                    netns: None,
                })
                .collect();
            async move {
                (
                    i,
                    if reqs.is_empty() {
                        Ok(Vec::new())
                    } else {
                        api.add_pods(&reqs).await
                    },
                )
            }
        }))
        .buffered(8);
        while let Some((i, r)) = futs.next().await {
            let pods =
                r.with_context(|| format!("POST /v1/pods/batch for node {}", sims[i].name))?;
            expect[i].pod_ips = pods.iter().map(|p| p.ip).collect();
            pods_by_node[i] = pods;
        }
    }
    progress(format!(
        "phase load: {} pods allocated at {:.1} s; agents attaching ports",
        n * opts.pods_per_node,
        t_start.elapsed().as_secs_f64()
    ));
    // The agents: each node's ports once its br-int exists.
    let mut attached = vec![false; n];
    loop {
        for i in 0..n {
            if !attached[i] && sims[i].has_bridge("br-int") {
                if !pods_by_node[i].is_empty() {
                    let ports: Vec<PodPort> = pods_by_node[i].iter().map(pod_port).collect();
                    sims[i]
                        .attach_bulk(&ports)
                        .map_err(|e| anyhow!("node {}: attaching pod ports: {e}", sims[i].name))?;
                }
                attached[i] = true;
                // A transaction runs synchronously; let the switches' and servers' tasks
                // (echo replies, barriers) run between two nodes.
                tokio::task::yield_now().await;
            }
        }
        let left = attached.iter().filter(|a| !**a).count();
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            let first = attached
                .iter()
                .position(|a| !*a)
                .map(|i| sims[i].name.clone())
                .unwrap_or_default();
            bail!("phase load: timed out; {left} nodes have no br-int in their OVSDB (e.g. {first}): the controller never configured them");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress(format!(
        "phase load: ports attached at {:.1} s; adding services",
        t_start.elapsed().as_secs_f64()
    ));
    let mut services = BTreeSet::new();
    let mut svc_lat = Vec::with_capacity(opts.services);
    let b = opts.backends_per_service;
    for s in 0..opts.services {
        let mut svc = NewService::new(format!("svc-{s}").parse().expect("valid service name"), 80);
        svc.service_type = switchyard_api::ServiceType::ClusterIp;
        svc.target_port = Some(8080);
        for k in 0..b {
            let slot = s * b + k;
            let node = slot % n;
            let pod = (slot / n) % opts.pods_per_node;
            svc.backends.push(pods_by_node[node][pod].name.clone());
        }
        svc.backends.sort();
        svc.backends.dedup();
        let t = Instant::now();
        let created = api
            .add_service(&svc)
            .await
            .with_context(|| format!("POST /v1/services svc-{s}"))?;
        svc_lat.push(t.elapsed().as_secs_f64() * 1000.0);
        services.insert(created.id.get());
    }
    let load_s = t_start.elapsed().as_secs_f64();
    svc_lat.sort_by(f64::total_cmp);
    progress(format!(
        "phase load: done in {load_s:.1} s; waiting for initial sync"
    ));
    let mut fleet = Fleet {
        api: api.clone(),
        sims,
        nodes,
        expect,
        services,
    };
    let all: Vec<usize> = (0..n).collect();
    fleet.converge(&all, "initial-sync", deadline).await?;
    let initial_sync_s = t_start.elapsed().as_secs_f64();
    progress(format!(
        "phase initial-sync: all {n} nodes converged at {initial_sync_s:.1} s"
    ));
    quiesce(&fleet, Duration::from_millis(200), deadline, "initial-sync").await?;
    // What the controller burns doing nothing (echo probes of every connection), so the
    // per-pod-add CPU can also be given without it.
    let idle0 = (ctl.cpu_ms(), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_cpu_ms_per_s = (ctl.cpu_ms() - idle0.0) / idle0.1.elapsed().as_secs_f64();

    // Phase 2: pod adds with the cluster full.
    let deadline = Instant::now() + opts.phase_timeout;
    let phase_cpu0 = ctl.cpu_ms();
    let phase_t0 = Instant::now();
    let mut lat = Vec::with_capacity(opts.pod_adds);
    let mut touched_total = 0usize;
    let mut mods_total = 0u64;
    let mut clients: BTreeMap<usize, ovsdb::Client> = BTreeMap::new();
    let mut rng: u64 = 0x5359_5349_4d00_0001;
    for k in 0..opts.pod_adds {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let i = (rng % n as u64) as usize;
        let sim = fleet.sims[i].clone();
        if let std::collections::btree_map::Entry::Vacant(e) = clients.entry(i) {
            e.insert(
                sim.client()
                    .await
                    .map_err(|e| anyhow!("node {}: agent OVSDB client: {e}", sim.name))?,
            );
        }
        let before = fleet.flow_mods();
        let t0 = Instant::now();
        let pod = api
            .add_pod(&NewPod {
                name: format!("add-{k}").parse().expect("valid pod name"),
                node: sim.name.parse().expect("valid node name"),
                netns: None,
            })
            .await
            .context("POST /v1/pods")?;
        let ip = pod.ip;
        let acked = sim.br_int.probe(move |t| t.mentions_ip(ip));
        sim.attach_as_agent(&clients[&i], &pod_port(&pod))
            .await
            .map_err(|e| anyhow!("node {}: agent attaching pod {}: {e}", sim.name, pod.name))?;
        let left = deadline.saturating_duration_since(Instant::now());
        let t1 = tokio::time::timeout(left, acked)
            .await
            .map_err(|_| anyhow!("phase pod-add: timed out: node {}: pod {} ({ip}) has no flows on br-int acknowledged by a barrier", sim.name, pod.name))?
            .map_err(|_| anyhow!("phase pod-add: probe dropped"))?;
        lat.push(t1.duration_since(t0).as_secs_f64() * 1000.0);
        fleet.expect[i].pod_ips.push(ip);
        quiesce(&fleet, Duration::from_millis(100), deadline, "pod-add").await?;
        let after = fleet.flow_mods();
        let mut touched = 0;
        for (a, b) in before.iter().zip(&after) {
            touched += usize::from(b.0 > a.0) + usize::from(b.1 > a.1);
            mods_total += (b.0 - a.0) + (b.1 - a.1);
        }
        touched_total += touched;
        if (k + 1) % 10 == 0 || k + 1 == opts.pod_adds {
            progress(format!(
                "phase pod-add: {}/{} done, last {:.1} ms",
                k + 1,
                opts.pod_adds,
                lat[k]
            ));
        }
    }
    let cpu_total = ctl.cpu_ms() - phase_cpu0;
    let phase_s = phase_t0.elapsed().as_secs_f64();
    // Every node is still converged, the new pods included.
    fleet.converge(&all, "pod-add", deadline).await?;
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    let k = opts.pod_adds.max(1) as f64;

    // Phase 3: one more node, with no pods.
    let deadline = Instant::now() + opts.phase_timeout;
    let before_mods = fleet.flow_mods();
    let before_tx = fleet.transacts();
    let name = format!("n{}", n + 1);
    let sim = Arc::new(
        SimNode::start(&name, node_ip(opts.ip_block, n), opts.ovsdb_port)
            .await
            .with_context(|| format!("node {name}: binding OVSDB"))?,
    );
    fleet.sims.push(sim.clone());
    fleet.expect.push(Expect::default());
    let t0 = Instant::now();
    let node = api
        .add_node(&NewNode {
            name: name.parse().expect("valid node name"),
            ip: sim.ip,
            uplink: None,
            datapath: None,
        })
        .await
        .context("POST /v1/nodes (node add)")?;
    fleet.nodes.push(node);
    let everyone: Vec<usize> = (0..=n).collect();
    fleet.converge(&everyone, "node-add", deadline).await?;
    let node_add_converged_s = t0.elapsed().as_secs_f64();
    quiesce(&fleet, Duration::from_millis(300), deadline, "node-add").await?;
    let after_mods = fleet.flow_mods();
    let after_tx = fleet.transacts();
    let flow_mods_to_others = (0..n)
        .map(|i| (after_mods[i].0 - before_mods[i].0) + (after_mods[i].1 - before_mods[i].1))
        .max()
        .unwrap_or(0);
    let txns_to_others = (0..n)
        .map(|i| after_tx[i] - before_tx[i])
        .max()
        .unwrap_or(0);
    let new_mods = after_mods[n].0 + after_mods[n].1;

    let pods = api.pods(None).await.context("GET /v1/pods")?.len();
    let flows_max = fleet
        .sims
        .iter()
        .map(|s| s.br_int.with_table(|t| t.flows.len()))
        .max()
        .unwrap_or(0);
    let sum = |f: &dyn Fn(&crate::switch::Stats) -> u64| -> u64 {
        fleet
            .sims
            .iter()
            .map(|s| f(&s.br_int.stats) + f(&s.br_ex.stats))
            .sum()
    };
    let openflow_connections = sum(&|s| s.connections.load(Ordering::Relaxed));
    let openflow_closed_while_answering =
        sum(&|s| s.closed_while_answering.load(Ordering::Relaxed));
    let report = Report {
        nodes: fleet.nodes.len(),
        pods,
        services: fleet.services.len(),
        load_s,
        initial_sync_s,
        pod_add_p50_ms: percentile(&sorted, 50.0),
        pod_add_p99_ms: percentile(&sorted, 99.0),
        pod_add_max_ms: sorted.last().copied().unwrap_or(f64::NAN),
        cpu_ms_per_pod_add: cpu_total / k,
        cpu_ms_per_pod_add_minus_idle: (cpu_total - idle_cpu_ms_per_s * phase_s) / k,
        controller_idle_cpu_ms_per_s: idle_cpu_ms_per_s,
        switches_touched_per_pod_add: touched_total as f64 / k,
        flow_mods_per_pod_add: mods_total as f64 / k,
        node_add_converged_s,
        ovsdb_txns_to_others_per_node_add: txns_to_others,
        flow_mods_to_others_per_node_add: flow_mods_to_others,
        flow_mods_to_new_node: new_mods,
        service_add_api_p50_ms: percentile(&svc_lat, 50.0),
        service_add_api_max_ms: svc_lat.last().copied().unwrap_or(f64::NAN),
        sim_cpu_s: cpu_ticks_of("/proc/self/stat") as f64 / clock_ticks(),
        controller_rss_mib: ctl.rss_mib(),
        controller_cpu_s: ctl.cpu_ms() / 1000.0,
        br_int_flows_per_node_max: flows_max,
        openflow_connections,
        openflow_closed_while_answering,
        all_pods_converged: true,
    };
    for s in &fleet.sims {
        s.close();
    }
    Ok(report)
}

/// The human-readable table.
pub fn table(r: &Report) -> String {
    let rows: Vec<(&str, String, &str)> = vec![
        ("nodes", r.nodes.to_string(), ""),
        ("pods", r.pods.to_string(), ""),
        ("services", r.services.to_string(), ""),
        (
            "load (API calls, port attaches)",
            format!("{:.2}", r.load_s),
            "s",
        ),
        (
            "initial sync (first node add → all converged)",
            format!("{:.2}", r.initial_sync_s),
            "s",
        ),
        (
            "pod add → barrier on its node, p50",
            format!("{:.1}", r.pod_add_p50_ms),
            "ms",
        ),
        (
            "pod add → barrier on its node, p99",
            format!("{:.1}", r.pod_add_p99_ms),
            "ms",
        ),
        ("pod add, max", format!("{:.1}", r.pod_add_max_ms), "ms"),
        (
            "controller CPU per pod add",
            format!("{:.2}", r.cpu_ms_per_pod_add),
            "ms",
        ),
        (
            "  less idle CPU (echo probes)",
            format!("{:.2}", r.cpu_ms_per_pod_add_minus_idle),
            "ms",
        ),
        (
            "controller idle CPU",
            format!("{:.1}", r.controller_idle_cpu_ms_per_s),
            "ms/s",
        ),
        (
            "switches touched per pod add",
            format!("{:.2}", r.switches_touched_per_pod_add),
            "",
        ),
        (
            "flow/group-mods per pod add",
            format!("{:.1}", r.flow_mods_per_pod_add),
            "",
        ),
        (
            "node add → every node converged",
            format!("{:.2}", r.node_add_converged_s),
            "s",
        ),
        (
            "OVSDB transactions to each other node per node add (max)",
            r.ovsdb_txns_to_others_per_node_add.to_string(),
            "",
        ),
        (
            "flow-mods to each other node per node add (max)",
            r.flow_mods_to_others_per_node_add.to_string(),
            "",
        ),
        (
            "flow/group-mods to the new node",
            r.flow_mods_to_new_node.to_string(),
            "",
        ),
        (
            "br-int flows per node (max)",
            r.br_int_flows_per_node_max.to_string(),
            "",
        ),
        (
            "controller RSS",
            format!("{:.1}", r.controller_rss_mib),
            "MiB",
        ),
        (
            "controller CPU total",
            format!("{:.2}", r.controller_cpu_s),
            "s",
        ),
        (
            "service add API round trip while loading, p50",
            format!("{:.1}", r.service_add_api_p50_ms),
            "ms",
        ),
        (
            "service add API round trip while loading, max",
            format!("{:.1}", r.service_add_api_max_ms),
            "ms",
        ),
        ("yard-sim CPU total", format!("{:.2}", r.sim_cpu_s), "s"),
        (
            "OpenFlow connections (handshakes, all switches)",
            r.openflow_connections.to_string(),
            "",
        ),
        (
            "  closed by the controller < 5 s after an echo reply",
            r.openflow_closed_while_answering.to_string(),
            "",
        ),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let v = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, val, unit) in rows {
        out.push_str(&format!("{k:<w$}  {val:>v$} {unit}\n"));
    }
    out
}
