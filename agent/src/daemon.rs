//! The `yard-agent` loop: wait for the node to exist, set its host side up, watch the pods
//! the controller assigns to it (long poll on `GET /v1/watch/nodes/{node}?since=REV`), wire
//! and unwire them, and report each pod's status back. Level-triggered: every view is
//! compared with what the agent applied, whatever the change was; a controller restart
//! (statuses back to `pending`) is answered by reporting again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use switchyard_api::{Client, NodeName, NodeView, PodState, PodStatus};
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use crate::host::{self, HostSpec};
use crate::ovs::{OvsdbPorts, PortAttach};
use crate::{NetnsRef, PodSpec, Wirer};

/// How long one long poll may wait.
const WATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The long poll while some pod is in error: its wiring is retried this often.
const RETRY_TIMEOUT: Duration = Duration::from_secs(5);
/// Every pod is checked (and repaired) at least this often, even without a change.
const RESYNC: Duration = Duration::from_secs(60);
/// Pods wired at the same time.
const PARALLEL: usize = 8;
/// First and largest wait between attempts to reach the controller.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// The daemon's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The controller.
    pub controller: Client,
    /// This node's name.
    pub node: NodeName,
    /// How long host setup waits for `yard0` per attempt.
    pub mgmt_wait: Duration,
}

/// Why the daemon stopped (other than being asked to).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The controller refused something that retrying cannot fix.
    #[error("node {node}: the controller refused the agent")]
    Refused {
        /// The node.
        node: String,
        /// The controller's answer.
        #[source]
        source: switchyard_api::Error,
    },
}

#[derive(Debug, Clone)]
struct Applied {
    spec: PodSpec,
    status: PodStatus,
    /// Cleared by the periodic resync: check this pod again even though nothing changed.
    checked: bool,
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(BACKOFF.0)
    }
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF.1);
        d
    }
}

/// Sleeps `d` unless shutdown is asked first; returns `false` on shutdown.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.changed() => false,
    }
}

/// Runs until `stop` turns true. Controller outages are retried with backoff, pod failures
/// are reported as `error` and retried.
///
/// # Errors
/// [`DaemonError::Refused`] when the controller answers with a client error that retrying
/// cannot fix (401: wrong token, 400).
pub async fn run<P: PortAttach>(
    cfg: Config,
    wirer: Wirer<P>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let node = cfg.node.clone();
    let refused = |source| DaemonError::Refused {
        node: node.to_string(),
        source,
    };
    let mut applied: BTreeMap<String, Applied> = BTreeMap::new();
    let mut host_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut host_spec: Option<HostSpec> = None;
    let mut cleaned = false;
    let mut last_resync = std::time::Instant::now();
    'outer: loop {
        // Wait for the node (and the controller).
        let mut backoff = Backoff::new();
        let mut view = loop {
            match cfg
                .controller
                .watch_node(&node, 0, Duration::from_secs(1))
                .await
            {
                Ok(v) => break v,
                Err(e) if fatal(&e) => return Err(refused(e)),
                Err(e) => {
                    warn!(node = %node, error = %e, "waiting for the controller and the node");
                    if !pause(backoff.next(), &mut stop).await {
                        break 'outer;
                    }
                }
            }
        };
        info!(node = %node, subnet = %view.node.subnet, revision = view.revision, "node found");
        loop {
            let spec = HostSpec::new(&view.node, &view.cluster);
            if host_spec.as_ref() != Some(&spec) {
                if let Some(t) = host_task.take() {
                    t.abort();
                }
                host_task = Some(tokio::spawn(keep_host(
                    wirer.net.clone(),
                    spec.clone(),
                    cfg.mgmt_wait,
                )));
                host_spec = Some(spec);
            }
            if !cleaned {
                remove_orphans(&wirer, &view).await;
                cleaned = true;
            }
            if last_resync.elapsed() >= RESYNC {
                // Level-triggered safety net: a veth deleted behind our back is made again.
                for a in applied.values_mut() {
                    a.checked = false;
                }
                last_resync = std::time::Instant::now();
            }
            apply(&cfg.controller, &wirer, &view, &mut applied).await;
            let timeout = if applied.values().any(|a| a.status.state == PodState::Error) {
                RETRY_TIMEOUT
            } else {
                WATCH_TIMEOUT
            };
            let mut backoff = Backoff::new();
            let next = loop {
                let polled = tokio::select! {
                    r = cfg.controller.watch_node(&node, view.revision, timeout) => r,
                    _ = stop.changed() => break 'outer,
                };
                match polled {
                    Ok(v) => break Some(v),
                    Err(e) if e.status() == Some(404) => {
                        warn!(node = %node, "the node was removed from the controller; waiting for it to come back");
                        break None;
                    }
                    Err(e) if fatal(&e) => return Err(refused(e)),
                    Err(e) => {
                        warn!(node = %node, error = %e, "watch failed; retrying");
                        if !pause(backoff.next(), &mut stop).await {
                            break 'outer;
                        }
                    }
                }
            };
            match next {
                Some(v) => view = v,
                None => continue 'outer,
            }
        }
    }
    if let Some(t) = host_task {
        t.abort();
    }
    info!(node = %node, "stopping; pod wiring is left in place");
    Ok(())
}

/// Connects to the local OVSDB, retrying with backoff (it may start after the agent; once
/// connected, the client reconnects by itself). `None` if `stop` turned true first.
pub async fn connect_ovsdb(
    target: &str,
    bridge: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<OvsdbPorts> {
    let mut backoff = Backoff::new();
    loop {
        match OvsdbPorts::connect(target, bridge).await {
            Ok(p) => return Some(p),
            Err(e) => {
                warn!(ovsdb = %target, error = %crate::error_chain(&e), "cannot reach OVSDB; retrying");
                if !pause(backoff.next(), stop).await {
                    return None;
                }
            }
        }
    }
}

/// 400 and 401 do not get better by retrying.
fn fatal(e: &switchyard_api::Error) -> bool {
    matches!(e.status(), Some(400 | 401))
}

/// How often the host side is checked once it is up: `yard0` loses its routes whenever its
/// link goes down (an ovs-vswitchd restart makes it anew).
const HOST_RECHECK: Duration = Duration::from_secs(5);

/// Keeps the host side set up: retries until it succeeds, then checks it again every
/// [`HOST_RECHECK`].
async fn keep_host(net: crate::NodeNet, spec: HostSpec, wait: Duration) {
    let span = info_span!("host", node = %spec.node);
    async move {
        let mut backoff = Backoff::new();
        loop {
            match host::setup_host(&net, &spec, wait).await {
                Ok(out) => {
                    if out.changed() {
                        info!(mgmt_ip = %spec.mgmt_ip, ?out, "host side set up");
                    }
                    backoff = Backoff::new();
                    tokio::time::sleep(HOST_RECHECK).await;
                }
                Err(e) => {
                    warn!(error = %crate::error_chain(&e), "host side not ready; retrying");
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Removes what the agent made for pods that are no longer on this node: bridge ports with
/// `switchyard-pod` and host veths with the naming scheme and our alias.
async fn remove_orphans<P: PortAttach>(wirer: &Wirer<P>, view: &NodeView) {
    let wanted: BTreeSet<&str> = view.pods.iter().map(|p| p.name.as_str()).collect();
    let mut orphans: BTreeMap<String, PodSpec> = BTreeMap::new();
    match wirer.ports.pod_ports().await {
        Ok(ports) => {
            for p in ports
                .into_iter()
                .filter(|p| !wanted.contains(p.pod.as_str()))
            {
                orphans.insert(
                    p.pod.clone(),
                    orphan_spec(&p.pod, &p.name, p.netns.as_deref()),
                );
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot list bridge ports; orphan ports stay until the next start")
        }
    }
    match wirer.net.own_veths().await {
        Ok(veths) => {
            for (host_if, pod) in veths
                .into_iter()
                .filter(|(_, p)| !wanted.contains(p.as_str()))
            {
                orphans
                    .entry(pod.clone())
                    .or_insert_with(|| orphan_spec(&pod, &host_if, None));
            }
        }
        Err(e) => warn!(error = %e, "cannot list links; orphan veths stay until the next start"),
    }
    for (pod, spec) in orphans {
        let span = info_span!("pod", pod = %pod);
        async {
            match wirer.unwire(&spec).await {
                Ok(()) => info!(host_if = %spec.host_if, "removed orphan wiring"),
                Err(e) => warn!(error = %crate::error_chain(&e), "cannot remove orphan wiring"),
            }
        }
        .instrument(span)
        .await;
    }
}

fn orphan_spec(pod: &str, host_if: &str, netns: Option<&str>) -> PodSpec {
    let default_ns = format!("yp-{pod}");
    let netns = netns.unwrap_or(&default_ns);
    let mut spec = PodSpec::new(
        pod,
        std::net::Ipv4Addr::new(10, 0, 0, 2),
        24,
        std::net::Ipv4Addr::new(10, 0, 0, 1),
    );
    spec.host_if = host_if.to_owned();
    spec.netns = NetnsRef::parse(netns);
    spec.create_netns = false;
    spec.remove_netns = netns == default_ns;
    spec
}

/// Brings the node's pods to `view`: wires new or changed pods (and retries failed ones),
/// unwires pods that left, and reports every status the controller does not show yet.
async fn apply<P: PortAttach>(
    controller: &Client,
    wirer: &Wirer<P>,
    view: &NodeView,
    applied: &mut BTreeMap<String, Applied>,
) {
    let mut todo = Vec::new();
    for pod in &view.pods {
        let spec = PodSpec::from_pod(pod, &view.node);
        match applied.get(pod.name.as_str()) {
            Some(a) if a.spec == spec && a.status.state == PodState::Wired && a.checked => {}
            Some(a) if a.spec != spec => {
                // Moved to another namespace or address: undo the old wiring first.
                let old = a.spec.clone();
                todo.push((spec, Some(old)));
            }
            _ => todo.push((spec, None)),
        }
    }
    let results: Vec<(PodSpec, PodStatus)> = futures::stream::iter(todo)
        .map(|(spec, old)| async move {
            let span = info_span!("pod", pod = %spec.name);
            let status = async {
                if let Some(old) = old {
                    if old.host_if != spec.host_if || old.netns != spec.netns {
                        if let Err(e) = wirer.unwire(&old).await {
                            warn!(error = %crate::error_chain(&e), "cannot undo the old wiring");
                        }
                    }
                }
                match wirer.wire(&spec).await {
                    Ok(w) => {
                        info!(host_if = %w.host_if, ofport = w.ofport, created = w.outcome.created, "pod wired");
                        PodStatus { state: PodState::Wired, reason: None, host_if: Some(w.host_if), ofport: Some(w.ofport) }
                    }
                    Err(e) => {
                        let reason = crate::error_chain(&e);
                        warn!(error = %reason, "wiring failed");
                        PodStatus { state: PodState::Error, reason: Some(reason), host_if: Some(spec.host_if.clone()), ofport: None }
                    }
                }
            }
            .instrument(span)
            .await;
            (spec, status)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (spec, status) in results {
        applied.insert(
            spec.name.clone(),
            Applied {
                spec,
                status,
                checked: true,
            },
        );
    }
    // Pods that left this node.
    let present: BTreeSet<&str> = view.pods.iter().map(|p| p.name.as_str()).collect();
    let gone: Vec<String> = applied
        .keys()
        .filter(|k| !present.contains(k.as_str()))
        .cloned()
        .collect();
    for name in gone {
        if let Some(a) = applied.remove(&name) {
            let span = info_span!("pod", pod = %name);
            async {
                match wirer.unwire(&a.spec).await {
                    Ok(()) => info!(host_if = %a.spec.host_if, "pod unwired"),
                    Err(e) => {
                        warn!(error = %crate::error_chain(&e), "unwiring failed; retrying with the next view");
                        applied.insert(name.clone(), Applied { spec: a.spec.clone(), status: PodStatus { state: PodState::Error, ..a.status.clone() }, checked: true });
                    }
                }
            }
            .instrument(span)
            .await;
        }
    }
    // Report what the controller does not know yet (also after a controller restart).
    for pod in &view.pods {
        let Some(a) = applied.get(pod.name.as_str()) else {
            continue;
        };
        if pod.status != a.status {
            if let Err(e) = controller.set_pod_status(&pod.name, &a.status).await {
                warn!(pod = %pod.name, error = %e, "cannot report pod status; retrying with the next view");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..9).map(|_| b.next()).collect();
        assert_eq!(waits[0], Duration::from_millis(100));
        assert_eq!(waits[1], Duration::from_millis(200));
        assert_eq!(waits[8], Duration::from_secs(5));
    }

    #[test]
    fn orphan_spec_removes_only_the_agents_own_namespace() {
        let own = orphan_spec("web-1", "y00000000000001", Some("yp-web-1"));
        assert!(own.remove_netns && !own.create_netns);
        assert_eq!(own.host_if, "y00000000000001");
        let foreign = orphan_spec("web-1", "y00000000000001", Some("/var/run/cni/abc"));
        assert!(!foreign.remove_netns);
        assert_eq!(foreign.netns, NetnsRef::Path("/var/run/cni/abc".into()));
        let unknown = orphan_spec("web-2", "y00000000000002", None);
        assert_eq!(unknown.netns, NetnsRef::Named("yp-web-2".into()));
        assert!(unknown.remove_netns);
    }

    #[test]
    fn only_client_errors_stop_the_daemon() {
        let api = |status| switchyard_api::Error::Api {
            status,
            message: String::new(),
        };
        assert!(fatal(&api(401)) && fatal(&api(400)));
        assert!(!fatal(&api(404)) && !fatal(&api(500)) && !fatal(&api(503)));
    }
}
