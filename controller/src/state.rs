//! The live cluster state: the committed [`ClusterModel`] (persisted through a [`Store`]), its
//! revision counter, and the runtime status of nodes and pods (kept in memory only).
//!
//! Every change is validated against the current model, saved, and only then published; a
//! change that fails validation or cannot be saved changes nothing. Readers never block writers:
//! [`ClusterState::snapshot`] hands out the committed model in an `Arc`.
//!
//! Reconcilers use: [`ClusterState::snapshot`], [`ClusterState::subscribe`] (revision changes),
//! [`ClusterState::set_node_status`] and [`ClusterState::pod_status`]. A snapshot's
//! [`services`](ClusterModel::services) with
//! [`service_backends`](ClusterModel::service_backends) is what the service data plane reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use switchyard_api::{
    Cluster, NewNode, NewPod, NewService, Node, NodeName, NodeStatus, NodeView, Pod, PodName,
    PodStatus, Service, ServiceName, ServiceType,
};
use tokio::sync::{watch, Mutex};

use crate::config::{ClusterOverrides, ConfigError};
use crate::ipam::{self, IpamError};
use crate::model::{ClusterModel, NodeSpec, PodSpec, ServiceSpec, Touched};
use crate::store::{Store, StoreError};

/// Why a read or a change was refused. Each variant names the object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// No such node, pod or service.
    #[error("{kind} {name} not found")]
    NotFound {
        /// `node`, `pod` or `service`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The name is taken.
    #[error("{kind} {name} already exists")]
    Exists {
        /// `node`, `pod` or `service`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// Another node has this IP.
    #[error("node {node}: IP {ip} is already used by node {other}")]
    DuplicateIp {
        /// The node being added.
        node: NodeName,
        /// Its IP.
        ip: std::net::Ipv4Addr,
        /// The node that has it.
        other: NodeName,
    },
    /// A field's value is not acceptable.
    #[error("{kind} {name}: {field} {reason}")]
    Invalid {
        /// `node`, `pod` or `service`.
        kind: &'static str,
        /// The object.
        name: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The node still has pods and `force` was not given.
    #[error("node {node} still has {count} pod(s) ({pods}); remove them first, or force the removal (`yardctl node remove --force`, `?force=true`) to remove them too")]
    NodeHasPods {
        /// The node.
        node: NodeName,
        /// How many pods.
        count: usize,
        /// The first few pod names.
        pods: String,
    },
    /// A service names a backend pod that does not exist.
    #[error("service {service}: backend pod {pod} not found; add the pod first or leave it out")]
    UnknownBackend {
        /// The service.
        service: ServiceName,
        /// The missing pod.
        pod: PodName,
    },
    /// Another service has the requested node port.
    #[error("service {service}: node port {node_port} is already used by service {other}; choose another or leave it out to get a free one")]
    NodePortInUse {
        /// The service being added.
        service: ServiceName,
        /// The port.
        node_port: u16,
        /// The service that has it.
        other: ServiceName,
    },
    /// Out of addresses, node ports or service ids.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// Cluster settings refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The runtime is shutting down; the change may not have been made.
    #[error("the controller is shutting down; retry against the restarted controller")]
    ShuttingDown,
    /// The store failed (its error names it); nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StateError {
    fn not_found(kind: &'static str, name: impl ToString) -> Self {
        StateError::NotFound {
            kind,
            name: name.to_string(),
        }
    }
}

#[derive(Default)]
struct Runtime {
    nodes: HashMap<NodeName, NodeStatus>,
    pods: HashMap<PodName, PodStatus>,
}

struct Inner {
    store: Arc<dyn Store>,
    committed: RwLock<Arc<ClusterModel>>,
    /// Serialises changes; held across the save so revisions hit the store in order.
    writer: Arc<Mutex<()>>,
    revision: watch::Sender<u64>,
    runtime: RwLock<Runtime>,
    history: std::sync::Mutex<History>,
}

/// How many recent revisions keep what they touched; a reconciler further behind recomputes
/// its node in full.
const HISTORY: usize = 4096;

/// What each of the last [`HISTORY`] revisions touched, oldest first.
#[derive(Default)]
struct History {
    entries: std::collections::VecDeque<(u64, Touched)>,
}

impl History {
    fn record(&mut self, revision: u64, touched: &Touched) {
        if self.entries.len() == HISTORY {
            self.entries.pop_front();
        }
        self.entries.push_back((revision, touched.clone()));
    }

    /// Everything revisions `from + 1 ..= to` touched, if all of them are still here.
    fn between(&self, from: u64, to: u64) -> Option<Touched> {
        let mut out = Touched::default();
        if from >= to {
            return Some(out);
        }
        let first = self.entries.front()?.0;
        if first > from + 1 {
            return None;
        }
        for (rev, touched) in &self.entries {
            if *rev > from && *rev <= to {
                out.merge(touched);
            }
        }
        Some(out)
    }
}

/// The controller's cluster state. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ClusterState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterState")
            .field("store", &self.inner.store.describe())
            .field("revision", &self.revision())
            .finish()
    }
}

impl ClusterState {
    /// Loads the state from `store`, or creates a new cluster from `overrides` (and saves it at
    /// revision 1) if the store is empty.
    ///
    /// # Errors
    /// The store's errors (corrupt, newer format, unreadable); invalid `overrides` for a new
    /// cluster; `overrides` that differ from an existing cluster's settings.
    pub fn open(store: Arc<dyn Store>, overrides: &ClusterOverrides) -> Result<Self, StateError> {
        let mut model = match store.load()? {
            Some(model) => {
                overrides.check_matches(&model.cluster)?;
                tracing::info!(store = %store.describe(), revision = model.revision,
                    nodes = model.nodes().len(), pods = model.pods().len(), "cluster state loaded");
                model
            }
            None => {
                let mut model = ClusterModel::new(overrides.new_cluster()?);
                model.revision = 1;
                store.save(&model)?;
                tracing::info!(store = %store.describe(), cluster_cidr = %model.cluster.cluster_cidr,
                    "new cluster state created");
                model
            }
        };
        model.take_touched();
        let (revision, _) = watch::channel(model.revision);
        Ok(ClusterState {
            inner: Arc::new(Inner {
                store,
                committed: RwLock::new(Arc::new(model)),
                writer: Arc::new(Mutex::new(())),
                revision,
                runtime: RwLock::new(Runtime::default()),
                history: std::sync::Mutex::new(History::default()),
            }),
        })
    }

    /// The committed desired state. Never changes under the caller; take a new one after
    /// [`subscribe`](Self::subscribe) reports a new revision.
    pub fn snapshot(&self) -> Arc<ClusterModel> {
        self.inner
            .committed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        *self.inner.revision.borrow()
    }

    /// What the revisions after `from` up to `to` touched, or `None` if `from` is too old to
    /// know (then a reader recomputes everything).
    pub fn touched_between(&self, from: u64, to: u64) -> Option<Touched> {
        self.inner
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .between(from, to)
    }

    /// A receiver that sees every new revision (after the model with it is committed, so a
    /// `snapshot()` taken then is at least that new). Status changes do not bump the revision.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.revision.subscribe()
    }

    /// How many receivers from [`subscribe`](Self::subscribe) are alive (reconcilers plus
    /// long polls in flight).
    pub fn subscribers(&self) -> usize {
        self.inner.revision.receiver_count()
    }

    /// The cluster settings.
    pub fn cluster(&self) -> Cluster {
        self.snapshot().cluster.clone()
    }

    /// Records a node's runtime status (called by the node's reconciler).
    ///
    /// # Errors
    /// [`StateError::NotFound`] if the node is not (or no longer) in the cluster.
    pub fn set_node_status(&self, node: &NodeName, status: NodeStatus) -> Result<(), StateError> {
        let mut rt = self.runtime_mut();
        if !self.snapshot().nodes().contains_key(node) {
            return Err(StateError::not_found("node", node));
        }
        rt.nodes.insert(node.clone(), status);
        Ok(())
    }

    /// A node's runtime status (the default, "connecting/disconnected", until one is set).
    pub fn node_status(&self, node: &NodeName) -> NodeStatus {
        self.runtime().nodes.get(node).cloned().unwrap_or_default()
    }

    /// Records a pod's runtime status (reported by its node's agent).
    ///
    /// # Errors
    /// [`StateError::NotFound`] if the pod is not in the cluster.
    pub fn set_pod_status(&self, pod: &PodName, status: PodStatus) -> Result<(), StateError> {
        let mut rt = self.runtime_mut();
        if !self.snapshot().pods().contains_key(pod) {
            return Err(StateError::not_found("pod", pod));
        }
        rt.pods.insert(pod.clone(), status);
        Ok(())
    }

    /// A pod's runtime status (`pending` until its agent reports).
    pub fn pod_status(&self, pod: &PodName) -> PodStatus {
        self.runtime().pods.get(pod).cloned().unwrap_or_default()
    }

    /// All nodes in API form, by name.
    pub fn nodes(&self) -> Vec<Node> {
        let m = self.snapshot();
        m.nodes()
            .values()
            .filter_map(|n| m.api_node(n, self.node_status(&n.name)))
            .collect()
    }

    /// One node in API form.
    ///
    /// # Errors
    /// [`StateError::NotFound`] naming it.
    pub fn node(&self, name: &NodeName) -> Result<Node, StateError> {
        let m = self.snapshot();
        m.nodes()
            .get(name)
            .and_then(|n| m.api_node(n, self.node_status(name)))
            .ok_or_else(|| StateError::not_found("node", name))
    }

    /// All pods in API form, by name, optionally only those on `node`.
    ///
    /// # Errors
    /// [`StateError::NotFound`] if `node` is given and unknown.
    pub fn pods(&self, node: Option<&NodeName>) -> Result<Vec<Pod>, StateError> {
        let m = self.snapshot();
        if let Some(node) = node {
            if !m.nodes().contains_key(node) {
                return Err(StateError::not_found("node", node));
            }
        }
        Ok(m.pods()
            .values()
            .filter(|p| match node {
                Some(n) => &p.node == n,
                None => true,
            })
            .filter_map(|p| m.api_pod(p, self.pod_status(&p.name)))
            .collect())
    }

    /// One pod in API form.
    ///
    /// # Errors
    /// [`StateError::NotFound`] naming it.
    pub fn pod(&self, name: &PodName) -> Result<Pod, StateError> {
        let m = self.snapshot();
        m.pods()
            .get(name)
            .and_then(|p| m.api_pod(p, self.pod_status(name)))
            .ok_or_else(|| StateError::not_found("pod", name))
    }

    /// Everything an agent needs for `node`, at the current revision.
    ///
    /// # Errors
    /// [`StateError::NotFound`] naming the node.
    pub fn node_view(&self, name: &NodeName) -> Result<NodeView, StateError> {
        let m = self.snapshot();
        let spec = m
            .nodes()
            .get(name)
            .ok_or_else(|| StateError::not_found("node", name))?;
        let node = m
            .api_node(spec, self.node_status(name))
            .ok_or_else(|| StateError::not_found("node", name))?;
        let pods = m
            .pods_on(name)
            .filter_map(|p| m.api_pod(p, self.pod_status(&p.name)))
            .collect();
        Ok(NodeView {
            revision: m.revision,
            cluster: m.cluster.clone(),
            node,
            pods,
        })
    }

    /// Waits until a revision past `since` changes the node's view (the node, or a pod that
    /// is or was on it) or `timeout` passes, then returns the view (the long poll behind
    /// `GET /v1/watch/nodes/{name}`). Changes elsewhere in the cluster do not wake it, so a
    /// change costs one answer per node it concerns, not one per agent.
    ///
    /// # Errors
    /// [`StateError::NotFound`] if the node is unknown at the start or was removed meanwhile.
    pub async fn watch_node(
        &self,
        name: &NodeName,
        since: u64,
        timeout: Duration,
    ) -> Result<NodeView, StateError> {
        self.node(name)?;
        let mut rx = self.subscribe();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // A model whose view of the node is the one at `since`; when it is newer than `since`,
        // the model at `since` is not kept, so the first check is conservative.
        let mut seen = self.snapshot();
        if seen.revision > since && self.changes_view(name, since, None, &seen) {
            return self.node_view(name);
        }
        loop {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                () = &mut deadline => break,
            }
            let now = self.snapshot();
            if now.revision > seen.revision {
                if self.changes_view(name, seen.revision, Some(&seen), &now) {
                    break;
                }
                seen = now;
            }
        }
        self.node_view(name)
    }

    /// Whether revisions `from + 1 ..= now.revision` may have changed `node`'s view; `before`
    /// is the model at `from` if known. When in doubt (history gone, a removed pod whose node
    /// is unknown), yes.
    fn changes_view(
        &self,
        node: &NodeName,
        from: u64,
        before: Option<&ClusterModel>,
        now: &ClusterModel,
    ) -> bool {
        let Some(touched) = self.touched_between(from, now.revision) else {
            return true;
        };
        let on_node = |m: &ClusterModel, pod| m.pods().get(pod).map(|p| &p.node == node);
        touched.nodes.contains(node)
            || touched.pods.iter().any(|pod| {
                on_node(now, pod).unwrap_or(false)
                    || before.is_none_or(|b| on_node(b, pod).unwrap_or(false))
            })
    }

    /// Adds a node and allocates its subnet.
    ///
    /// # Errors
    /// Duplicate name or IP, an IP inside the cluster or service CIDR, a bad uplink name, no
    /// free node subnet, or a store failure. Nothing changes on error.
    pub async fn add_node(&self, req: NewNode) -> Result<Node, StateError> {
        let name = req.name.clone();
        self.change(move |m| {
            if m.nodes().contains_key(&req.name) {
                return Err(StateError::Exists {
                    kind: "node",
                    name: req.name.to_string(),
                });
            }
            if let Some(other) = m.nodes().values().find(|n| n.ip == req.ip) {
                return Err(StateError::DuplicateIp {
                    node: req.name.clone(),
                    ip: req.ip,
                    other: other.name.clone(),
                });
            }
            let invalid = |field, reason: String| StateError::Invalid {
                kind: "node",
                name: req.name.to_string(),
                field,
                reason,
            };
            if let Some(problem) = m.node_ip_problem(req.ip) {
                return Err(invalid("ip", problem));
            }
            if let Some(uplink) = &req.uplink {
                interface_name_problem(uplink).map_or(Ok(()), |p| Err(invalid("uplink", p)))?;
            }
            let index = ipam::allocate_node_index(m)?;
            let spec = NodeSpec {
                name: req.name.clone(),
                ip: req.ip,
                index,
                uplink: req.uplink,
                datapath: req.datapath.unwrap_or_default(),
            };
            tracing::info!(node = %spec.name, ip = %spec.ip, index, "node added");
            m.insert_node(spec);
            Ok(())
        })
        .await?;
        self.node(&name)
    }

    /// Removes a node. With `force`, its pods go too; without, a node with pods is refused.
    ///
    /// # Errors
    /// Unknown node, pods still on it, or a store failure. Nothing changes on error.
    pub async fn remove_node(&self, name: &NodeName, force: bool) -> Result<(), StateError> {
        let name = name.clone();
        let removed = self
            .change(move |m| {
                if !m.nodes().contains_key(&name) {
                    return Err(StateError::not_found("node", &name));
                }
                let pods: Vec<PodName> = m.pods_on(&name).map(|p| p.name.clone()).collect();
                if !pods.is_empty() && !force {
                    let mut list: Vec<&str> = pods.iter().take(5).map(PodName::as_str).collect();
                    if pods.len() > 5 {
                        list.push("…");
                    }
                    return Err(StateError::NodeHasPods {
                        node: name.clone(),
                        count: pods.len(),
                        pods: list.join(", "),
                    });
                }
                for pod in &pods {
                    m.remove_pod(pod);
                }
                drop_backends(m, &pods.iter().collect());
                m.remove_node(&name);
                tracing::info!(node = %name, pods = pods.len(), "node removed");
                Ok((name, pods))
            })
            .await?;
        let mut rt = self.runtime_mut();
        rt.nodes.remove(&removed.0);
        for pod in &removed.1 {
            rt.pods.remove(pod);
        }
        Ok(())
    }

    /// Adds a pod to a node and allocates its IP (and so its MAC).
    ///
    /// # Errors
    /// Duplicate name, unknown node, a bad netns, a full node subnet, or a store failure.
    /// Nothing changes on error.
    pub async fn add_pod(&self, req: NewPod) -> Result<Pod, StateError> {
        let name = req.name.clone();
        self.change(move |m| insert_pod(m, req)).await?;
        self.pod(&name)
    }

    /// Adds many pods in one change (one revision, one save), as [`add_pod`](Self::add_pod)
    /// would one by one: for setting up large clusters and services without paying a copy and a
    /// save of the whole state per pod.
    ///
    /// # Errors
    /// The first pod [`add_pod`](Self::add_pod) would refuse (a name given twice is a
    /// duplicate); then none is added.
    pub async fn add_pods(&self, reqs: Vec<NewPod>) -> Result<Vec<Pod>, StateError> {
        let names: Vec<PodName> = reqs.iter().map(|r| r.name.clone()).collect();
        self.change(move |m| {
            // One look per node for free addresses, not one per pod.
            let mut wanted: BTreeMap<NodeName, usize> = BTreeMap::new();
            for req in &reqs {
                *wanted.entry(req.node.clone()).or_default() += 1;
            }
            let mut free = BTreeMap::new();
            for (name, count) in wanted {
                // An unknown node is reported by `insert_pod_with`, naming the pod's request.
                if let Some(node) = m.nodes().get(&name) {
                    free.insert(name, ipam::allocate_pod_ips(m, node, count)?.into_iter());
                }
            }
            for req in reqs {
                insert_pod_with(m, req, |m, node| {
                    match free.get_mut(&node.name).and_then(Iterator::next) {
                        Some(ip) => Ok(ip),
                        None => ipam::allocate_pod_ip(m, node),
                    }
                })?;
            }
            Ok(())
        })
        .await?;
        names.iter().map(|name| self.pod(name)).collect()
    }

    /// Removes a pod, releasing its address.
    ///
    /// # Errors
    /// Unknown pod, or a store failure. Nothing changes on error.
    pub async fn remove_pod(&self, name: &PodName) -> Result<(), StateError> {
        let name = name.clone();
        let removed = self
            .change(move |m| {
                let pod = m
                    .remove_pod(&name)
                    .ok_or_else(|| StateError::not_found("pod", &name))?;
                drop_backends(m, &[&name].into());
                tracing::info!(pod = %name, node = %pod.node, "pod removed");
                Ok(name)
            })
            .await?;
        self.runtime_mut().pods.remove(&removed);
        Ok(())
    }

    /// All services in API form, by name.
    pub fn services(&self) -> Vec<Service> {
        let m = self.snapshot();
        m.services().values().map(|s| m.api_service(s)).collect()
    }

    /// One service in API form.
    ///
    /// # Errors
    /// [`StateError::NotFound`] naming it.
    pub fn service(&self, name: &ServiceName) -> Result<Service, StateError> {
        let m = self.snapshot();
        m.services()
            .get(name)
            .map(|s| m.api_service(s))
            .ok_or_else(|| StateError::not_found("service", name))
    }

    /// Adds a service: allocates its id, ClusterIP and (NodePort services, unless given) node
    /// port. Repeated backends count once.
    ///
    /// # Errors
    /// Duplicate name; a port or target port of 0; a node port outside 30000-32767, given for a
    /// ClusterIP service, or used by another service; an unknown backend pod; no free
    /// ClusterIP, node port or id; a store failure. Nothing changes on error.
    pub async fn add_service(&self, req: NewService) -> Result<Service, StateError> {
        let name = req.name.clone();
        self.change(move |m| {
            if m.services().contains_key(&req.name) {
                return Err(StateError::Exists {
                    kind: "service",
                    name: req.name.to_string(),
                });
            }
            let invalid = |field, reason: String| StateError::Invalid {
                kind: "service",
                name: req.name.to_string(),
                field,
                reason,
            };
            let target_port = req.target_port.unwrap_or(req.port);
            if req.port == 0 {
                return Err(invalid("port", "0 is not a port; use 1..=65535".into()));
            }
            if target_port == 0 {
                return Err(invalid(
                    "target_port",
                    "0 is not a port; use 1..=65535 (or leave it out: it defaults to port)"
                        .into(),
                ));
            }
            if let Some(port) = req.node_port {
                if req.service_type == ServiceType::ClusterIp {
                    return Err(invalid(
                        "node_port",
                        format!("{port} is given, but only NodePort services have a node port; drop it or use type NodePort"),
                    ));
                }
                if !ipam::NODE_PORTS.contains(&port) {
                    return Err(invalid(
                        "node_port",
                        format!("{port} is outside the node port range {}", ipam::node_port_range()),
                    ));
                }
                if let Some(other) = m.services().values().find(|s| s.node_port == Some(port)) {
                    return Err(StateError::NodePortInUse {
                        service: req.name.clone(),
                        node_port: port,
                        other: other.name.clone(),
                    });
                }
            }
            let backends = known_backends(m, &req.name, &req.backends)?;
            let node_port = match (req.service_type, req.node_port) {
                (ServiceType::ClusterIp, _) => None,
                (ServiceType::NodePort, Some(port)) => Some(port),
                (ServiceType::NodePort, None) => Some(ipam::allocate_node_port(m)?),
            };
            let spec = ServiceSpec {
                name: req.name.clone(),
                id: ipam::allocate_service_id(m)?,
                protocol: req.protocol,
                service_type: req.service_type,
                port: req.port,
                target_port,
                cluster_ip: ipam::allocate_cluster_ip(m)?,
                node_port,
                backends,
            };
            tracing::info!(service = %spec.name, id = spec.id.get(), cluster_ip = %spec.cluster_ip,
                node_port = ?spec.node_port, backends = spec.backends.len(), "service added");
            m.insert_service(spec);
            Ok(())
        })
        .await?;
        self.service(&name)
    }

    /// Removes a service, releasing its ClusterIP, node port and id.
    ///
    /// # Errors
    /// Unknown service, or a store failure. Nothing changes on error.
    pub async fn remove_service(&self, name: &ServiceName) -> Result<(), StateError> {
        let name = name.clone();
        self.change(move |m| {
            m.remove_service(&name)
                .ok_or_else(|| StateError::not_found("service", &name))?;
            tracing::info!(service = %name, "service removed");
            Ok(())
        })
        .await
    }

    /// Adds backend pods to a service. Pods that already are backends are kept once; if all
    /// are, nothing changes (the revision stays).
    ///
    /// # Errors
    /// Unknown service, an empty list, an unknown pod, or a store failure. Nothing changes on
    /// error.
    pub async fn add_backends(
        &self,
        name: &ServiceName,
        pods: Vec<PodName>,
    ) -> Result<Service, StateError> {
        let name = name.clone();
        let service = name.clone();
        self.change_if(move |m| {
            let svc = m
                .services()
                .get(&name)
                .ok_or_else(|| StateError::not_found("service", &name))?;
            non_empty(&name, &pods)?;
            let new = known_backends(m, &name, &pods)?;
            let added: Vec<PodName> = new.difference(&svc.backends).cloned().collect();
            if added.is_empty() {
                return Ok(((), false));
            }
            m.update_service(&name, |svc| {
                svc.backends.extend(added.iter().cloned());
                tracing::info!(service = %name, added = added.len(),
                    backends = svc.backends.len(), "service backends added");
            });
            Ok(((), true))
        })
        .await?;
        self.service(&service)
    }

    /// Removes backend pods from a service. Pods that are not backends (or do not exist) are
    /// ignored, so removing twice is harmless; if none was a backend, nothing changes.
    ///
    /// # Errors
    /// Unknown service, an empty list, or a store failure. Nothing changes on error.
    pub async fn remove_backends(
        &self,
        name: &ServiceName,
        pods: Vec<PodName>,
    ) -> Result<Service, StateError> {
        let name = name.clone();
        let service = name.clone();
        self.change_if(move |m| {
            let svc = m
                .services()
                .get(&name)
                .ok_or_else(|| StateError::not_found("service", &name))?;
            non_empty(&name, &pods)?;
            let removed = pods.iter().filter(|p| svc.backends.contains(*p)).count();
            if removed > 0 {
                m.update_service(&name, |svc| {
                    for pod in &pods {
                        svc.backends.remove(pod);
                    }
                    tracing::info!(service = %name, removed, backends = svc.backends.len(),
                        "service backends removed");
                });
            }
            Ok(((), removed > 0))
        })
        .await?;
        self.service(&service)
    }

    /// Applies `f` to a copy of the model; if it succeeds, saves the copy at the next revision
    /// and publishes it. The save and publish run on a blocking thread that finishes even if the
    /// caller's future is dropped, so the store and memory never disagree.
    async fn change<T, F>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut ClusterModel) -> Result<T, StateError> + Send + 'static,
    {
        self.change_if(move |m| f(m).map(|out| (out, true))).await
    }

    /// As [`change`](Self::change), but `f` also says whether it changed anything; if not, the
    /// copy is dropped and the revision stays.
    async fn change_if<T, F>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut ClusterModel) -> Result<(T, bool), StateError> + Send + 'static,
    {
        let guard = self.inner.writer.clone().lock_owned().await;
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let current = inner
                .committed
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut next = ClusterModel::clone(&current);
            next.take_touched();
            let (out, changed) = f(&mut next)?;
            if !changed {
                return Ok(out);
            }
            next.revision = current.revision + 1;
            inner.store.save(&next)?;
            let revision = next.revision;
            inner
                .history
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(revision, next.touched());
            *inner
                .committed
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
            inner.revision.send_replace(revision);
            Ok(out)
        });
        match task.await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(StateError::ShuttingDown),
        }
    }

    fn runtime(&self) -> std::sync::RwLockReadGuard<'_, Runtime> {
        self.inner
            .runtime
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn runtime_mut(&self) -> std::sync::RwLockWriteGuard<'_, Runtime> {
        self.inner
            .runtime
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks `req` against `m` and adds the pod with the lowest free address of its node.
fn insert_pod(m: &mut ClusterModel, req: NewPod) -> Result<(), StateError> {
    insert_pod_with(m, req, ipam::allocate_pod_ip)
}

/// Checks `req` against `m` and adds the pod with the address `ip` picks on its node.
fn insert_pod_with(
    m: &mut ClusterModel,
    req: NewPod,
    ip: impl FnOnce(&ClusterModel, &NodeSpec) -> Result<std::net::Ipv4Addr, IpamError>,
) -> Result<(), StateError> {
    if m.pods().contains_key(&req.name) {
        return Err(StateError::Exists {
            kind: "pod",
            name: req.name.to_string(),
        });
    }
    let node = m
        .nodes()
        .get(&req.node)
        .ok_or_else(|| StateError::not_found("node", &req.node))?;
    let netns = req.netns.unwrap_or_else(|| format!("yp-{}", req.name));
    if let Some(problem) = netns_problem(&netns) {
        return Err(StateError::Invalid {
            kind: "pod",
            name: req.name.to_string(),
            field: "netns",
            reason: problem,
        });
    }
    let ip = ip(m, node)?;
    tracing::info!(pod = %req.name, node = %req.node, %ip, "pod added");
    let spec = PodSpec {
        name: req.name.clone(),
        node: req.node,
        ip,
        netns,
    };
    m.insert_pod(spec);
    Ok(())
}

/// Removes `pods` from every service's backends (as Kubernetes drops a deleted pod from its
/// endpoints).
fn drop_backends(m: &mut ClusterModel, pods: &BTreeSet<&PodName>) {
    let hit: Vec<ServiceName> = m
        .services()
        .values()
        .filter(|svc| svc.backends.iter().any(|p| pods.contains(p)))
        .map(|svc| svc.name.clone())
        .collect();
    for name in hit {
        m.update_service(&name, |svc| {
            let before = svc.backends.len();
            svc.backends.retain(|p| !pods.contains(p));
            tracing::info!(service = %svc.name, removed = before - svc.backends.len(),
                "removed pods dropped from service backends");
        });
    }
}

/// `pods` as a set, if every one exists.
fn known_backends(
    m: &ClusterModel,
    service: &ServiceName,
    pods: &[PodName],
) -> Result<BTreeSet<PodName>, StateError> {
    match pods.iter().find(|p| !m.pods().contains_key(*p)) {
        Some(pod) => Err(StateError::UnknownBackend {
            service: service.clone(),
            pod: pod.clone(),
        }),
        None => Ok(pods.iter().cloned().collect()),
    }
}

fn non_empty(service: &ServiceName, pods: &[PodName]) -> Result<(), StateError> {
    if pods.is_empty() {
        return Err(StateError::Invalid {
            kind: "service",
            name: service.to_string(),
            field: "pods",
            reason: "is empty; name at least one pod".into(),
        });
    }
    Ok(())
}

/// Why `name` cannot be a Linux interface name, if it cannot.
fn interface_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    (!ok).then(|| {
        format!("{name:?} is not a Linux interface name (1 to 15 printable characters, no '/', ':' or spaces)")
    })
}

/// Why `netns` cannot be a pod's network namespace, if it cannot.
fn netns_problem(netns: &str) -> Option<String> {
    if let Some(rest) = netns.strip_prefix('/') {
        let ok = !rest.is_empty()
            && netns.len() <= 4096
            && !netns.chars().any(char::is_control)
            && rest
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        return (!ok).then(|| format!("{netns:?} is not a clean absolute path"));
    }
    let ok = !netns.is_empty()
        && netns.len() <= 255
        && netns != "."
        && netns != ".."
        && netns.chars().all(|c| !c.is_control() && c != '/');
    (!ok).then(|| format!("{netns:?} is neither a name under /run/netns nor an absolute path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use switchyard_api::{Protocol, ServiceId};

    async fn cluster_with_pods(pods: &[(&str, &str)]) -> ClusterState {
        let state =
            ClusterState::open(Arc::new(MemoryStore::default()), &Default::default()).unwrap();
        for (i, node) in ["n1", "n2"].iter().enumerate() {
            let ip = std::net::Ipv4Addr::new(192, 168, 56, 11 + i as u8);
            let req = NewNode {
                name: node.parse().unwrap(),
                ip,
                uplink: None,
                datapath: None,
            };
            state.add_node(req).await.unwrap();
        }
        for (pod, node) in pods {
            let req = NewPod {
                name: pod.parse().unwrap(),
                node: node.parse().unwrap(),
                netns: None,
            };
            state.add_pod(req).await.unwrap();
        }
        state
    }

    fn svc(name: &str, port: u16, backends: &[&str]) -> NewService {
        let mut s = NewService::new(name.parse().unwrap(), port);
        s.backends = backends.iter().map(|p| p.parse().unwrap()).collect();
        s
    }

    fn names(pods: &[&str]) -> Vec<PodName> {
        pods.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[tokio::test]
    async fn services_get_ids_cluster_ips_and_node_ports_and_resolve_backends() {
        let state = cluster_with_pods(&[("a", "n1"), ("b", "n2")]).await;
        let rev = state.revision();
        let web = state
            .add_service(svc("web", 80, &["b", "a", "b"]))
            .await
            .unwrap();
        assert_eq!(state.revision(), rev + 1);
        assert_eq!(web.id, ServiceId(1));
        assert_eq!(web.cluster_ip.to_string(), "10.96.0.2");
        assert_eq!((web.node_port, web.target_port), (Some(30000), 80));
        assert_eq!(web.protocol, Protocol::Tcp);
        let pods: Vec<_> = web.backends.iter().map(|b| b.pod.as_str()).collect();
        assert_eq!(pods, ["a", "b"]);
        assert_eq!(web.backends[1].node.as_str(), "n2");
        assert_eq!(web.backends[1].ip.to_string(), "10.244.2.3");

        let mut dns = svc("dns", 53, &["a"]);
        dns.protocol = Protocol::Udp;
        dns.service_type = ServiceType::ClusterIp;
        dns.target_port = Some(5353);
        let dns = state.add_service(dns).await.unwrap();
        assert_eq!((dns.id, dns.node_port), (ServiceId(2), None));
        assert_eq!(dns.backends[0].port, 5353);

        let m = state.snapshot();
        let all: Vec<_> = m
            .service_backends()
            .map(|(s, b)| (s.name.to_string(), b.len()))
            .collect();
        assert_eq!(all, [("dns".to_owned(), 1), ("web".to_owned(), 2)]);
        assert_eq!(m.service_by_id(ServiceId(2)).unwrap().name.as_str(), "dns");
        let a: PodName = "a".parse().unwrap();
        assert_eq!(m.services_of(&a).count(), 2);
    }

    #[tokio::test]
    async fn refused_services_change_nothing() {
        let state = cluster_with_pods(&[("a", "n1")]).await;
        let mut taken = svc("web", 80, &[]);
        taken.node_port = Some(30080);
        state.add_service(taken).await.unwrap();
        let before = state.snapshot();
        let cluster_ip_with_node_port = {
            let mut s = svc("x", 80, &[]);
            s.service_type = ServiceType::ClusterIp;
            s.node_port = Some(30001);
            s
        };
        let cases = [
            (svc("web", 81, &[]), "service web already exists"),
            (svc("x", 0, &[]), "service x: port 0 is not a port"),
            (
                NewService {
                    target_port: Some(0),
                    ..svc("x", 80, &[])
                },
                "service x: target_port 0 is not a port",
            ),
            (
                NewService {
                    node_port: Some(8080),
                    ..svc("x", 80, &[])
                },
                "service x: node_port 8080 is outside the node port range 30000-32767",
            ),
            (
                NewService {
                    node_port: Some(30080),
                    ..svc("x", 80, &[])
                },
                "service x: node port 30080 is already used by service web",
            ),
            (
                cluster_ip_with_node_port,
                "service x: node_port 30001 is given, but only NodePort services",
            ),
            (
                svc("x", 80, &["a", "ghost"]),
                "service x: backend pod ghost not found",
            ),
        ];
        for (req, message) in cases {
            let e = state.add_service(req).await.unwrap_err();
            assert!(e.to_string().starts_with(message), "{message}: {e}");
        }
        let web: ServiceName = "web".parse().unwrap();
        let e = state
            .add_backends(&web, names(&["a", "ghost"]))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("service web: backend pod ghost not found"),
            "{e}"
        );
        let e = state.add_backends(&web, vec![]).await.unwrap_err();
        assert!(
            e.to_string().starts_with("service web: pods is empty"),
            "{e}"
        );
        let nope: ServiceName = "nope".parse().unwrap();
        let e = state.add_backends(&nope, names(&["a"])).await.unwrap_err();
        assert_eq!(e.to_string(), "service nope not found");
        let e = state.remove_service(&nope).await.unwrap_err();
        assert_eq!(e.to_string(), "service nope not found");
        assert_eq!(state.snapshot(), before);
    }

    #[tokio::test]
    async fn backend_changes_are_idempotent_and_only_real_changes_bump_the_revision() {
        let state = cluster_with_pods(&[("a", "n1"), ("b", "n2")]).await;
        let web: ServiceName = "web".parse().unwrap();
        state.add_service(svc("web", 80, &["a"])).await.unwrap();
        let rev = state.revision();
        let s = state.add_backends(&web, names(&["a"])).await.unwrap();
        assert_eq!((s.backends.len(), state.revision()), (1, rev));
        let s = state.add_backends(&web, names(&["b", "a"])).await.unwrap();
        assert_eq!((s.backends.len(), state.revision()), (2, rev + 1));
        let s = state.remove_backends(&web, names(&["a"])).await.unwrap();
        assert_eq!((s.backends.len(), state.revision()), (1, rev + 2));
        let s = state
            .remove_backends(&web, names(&["a", "never"]))
            .await
            .unwrap();
        assert_eq!((s.backends.len(), state.revision()), (1, rev + 2));
    }

    #[tokio::test]
    async fn add_pods_adds_all_in_one_revision_or_none() {
        let state = cluster_with_pods(&[("a", "n1")]).await;
        let req = |name: &str, node: &str| NewPod {
            name: name.parse().unwrap(),
            node: node.parse().unwrap(),
            netns: None,
        };
        let before = state.snapshot();
        for (bad, message) in [
            (vec![req("b", "n1"), req("b", "n2")], "pod b already exists"),
            (vec![req("b", "n1"), req("a", "n2")], "pod a already exists"),
            (vec![req("b", "n1"), req("c", "n9")], "node n9 not found"),
        ] {
            let e = state.add_pods(bad).await.unwrap_err();
            assert_eq!(e.to_string(), message);
        }
        assert_eq!(state.snapshot(), before);
        let added = state
            .add_pods(vec![req("b", "n1"), req("c", "n1"), req("d", "n2")])
            .await
            .unwrap();
        let ips: Vec<String> = added.iter().map(|p| p.ip.to_string()).collect();
        assert_eq!(ips, ["10.244.1.4", "10.244.1.5", "10.244.2.3"]);
        assert_eq!(state.revision(), before.revision + 1);
        state.snapshot().check().unwrap();
    }

    #[tokio::test]
    async fn removing_a_pod_or_its_node_drops_it_from_every_service() {
        let state = cluster_with_pods(&[("a", "n1"), ("b", "n2"), ("c", "n2")]).await;
        state
            .add_service(svc("one", 80, &["a", "b"]))
            .await
            .unwrap();
        state
            .add_service(svc("two", 81, &["a", "b", "c"]))
            .await
            .unwrap();
        state.remove_pod(&"a".parse().unwrap()).await.unwrap();
        let backends = |s: &str| -> Vec<String> {
            state
                .service(&s.parse().unwrap())
                .unwrap()
                .backends
                .iter()
                .map(|b| b.pod.to_string())
                .collect()
        };
        assert_eq!(backends("one"), ["b"]);
        assert_eq!(backends("two"), ["b", "c"]);
        state
            .remove_node(&"n2".parse().unwrap(), true)
            .await
            .unwrap();
        assert!(backends("one").is_empty());
        assert!(backends("two").is_empty());
        state.snapshot().check().unwrap();
        // Removing the service frees its id, ClusterIP and node port for the next one.
        let one = state.service(&"one".parse().unwrap()).unwrap();
        state.remove_service(&"one".parse().unwrap()).await.unwrap();
        let three = state.add_service(svc("three", 82, &[])).await.unwrap();
        assert_eq!(
            (three.id, three.cluster_ip, three.node_port),
            (one.id, one.cluster_ip, one.node_port)
        );
    }
}
