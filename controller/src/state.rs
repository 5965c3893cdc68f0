//! The live cluster state: the committed [`ClusterModel`] (persisted through a [`Store`]), its
//! revision counter, and the runtime status of nodes and pods (kept in memory only).
//!
//! Every change is validated against the current model, saved, and only then published; a
//! change that fails validation or cannot be saved changes nothing. Readers never block writers:
//! [`ClusterState::snapshot`] hands out the committed model in an `Arc`.
//!
//! Reconcilers use: [`ClusterState::snapshot`], [`ClusterState::subscribe`] (revision changes),
//! [`ClusterState::set_node_status`] and [`ClusterState::pod_status`].

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use switchyard_api::{
    Cluster, NewNode, NewPod, Node, NodeName, NodeStatus, NodeView, Pod, PodName, PodStatus,
};
use tokio::sync::{watch, Mutex};

use crate::config::{ClusterOverrides, ConfigError};
use crate::ipam::{self, IpamError};
use crate::model::{ClusterModel, NodeSpec, PodSpec};
use crate::store::{Store, StoreError};

/// Why a read or a change was refused. Each variant names the object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// No such node or pod.
    #[error("{kind} {name} not found")]
    NotFound {
        /// `node` or `pod`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The name is taken.
    #[error("{kind} {name} already exists")]
    Exists {
        /// `node` or `pod`.
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
        /// `node` or `pod`.
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
    /// Out of addresses.
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
        let model = match store.load()? {
            Some(model) => {
                overrides.check_matches(&model.cluster)?;
                tracing::info!(store = %store.describe(), revision = model.revision,
                    nodes = model.nodes.len(), pods = model.pods.len(), "cluster state loaded");
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
        let (revision, _) = watch::channel(model.revision);
        Ok(ClusterState {
            inner: Arc::new(Inner {
                store,
                committed: RwLock::new(Arc::new(model)),
                writer: Arc::new(Mutex::new(())),
                revision,
                runtime: RwLock::new(Runtime::default()),
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
        if !self.snapshot().nodes.contains_key(node) {
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
        if !self.snapshot().pods.contains_key(pod) {
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
        m.nodes
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
        m.nodes
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
            if !m.nodes.contains_key(node) {
                return Err(StateError::not_found("node", node));
            }
        }
        Ok(m.pods
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
        m.pods
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
            .nodes
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

    /// Waits until the revision is past `since` or `timeout` passes, then returns the node's
    /// view (the long poll behind `GET /v1/watch/nodes/{name}`).
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
        while *rx.borrow_and_update() <= since {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                () = &mut deadline => break,
            }
        }
        self.node_view(name)
    }

    /// Adds a node and allocates its subnet.
    ///
    /// # Errors
    /// Duplicate name or IP, an IP inside the cluster or service CIDR, a bad uplink name, no
    /// free node subnet, or a store failure. Nothing changes on error.
    pub async fn add_node(&self, req: NewNode) -> Result<Node, StateError> {
        let name = req.name.clone();
        self.change(move |m| {
            if m.nodes.contains_key(&req.name) {
                return Err(StateError::Exists {
                    kind: "node",
                    name: req.name.to_string(),
                });
            }
            if let Some(other) = m.nodes.values().find(|n| n.ip == req.ip) {
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
            m.nodes.insert(spec.name.clone(), spec);
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
                if !m.nodes.contains_key(&name) {
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
                    m.pods.remove(pod);
                }
                m.nodes.remove(&name);
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
        self.change(move |m| {
            if m.pods.contains_key(&req.name) {
                return Err(StateError::Exists {
                    kind: "pod",
                    name: req.name.to_string(),
                });
            }
            let node = m
                .nodes
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
            let ip = ipam::allocate_pod_ip(m, node)?;
            tracing::info!(pod = %req.name, node = %req.node, %ip, "pod added");
            let spec = PodSpec {
                name: req.name.clone(),
                node: req.node,
                ip,
                netns,
            };
            m.pods.insert(spec.name.clone(), spec);
            Ok(())
        })
        .await?;
        self.pod(&name)
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
                    .pods
                    .remove(&name)
                    .ok_or_else(|| StateError::not_found("pod", &name))?;
                tracing::info!(pod = %name, node = %pod.node, "pod removed");
                Ok(name)
            })
            .await?;
        self.runtime_mut().pods.remove(&removed);
        Ok(())
    }

    /// Applies `f` to a copy of the model; if it succeeds, saves the copy at the next revision
    /// and publishes it. The save and publish run on a blocking thread that finishes even if the
    /// caller's future is dropped, so the store and memory never disagree.
    async fn change<T, F>(&self, f: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(&mut ClusterModel) -> Result<T, StateError> + Send + 'static,
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
            let out = f(&mut next)?;
            next.revision = current.revision + 1;
            inner.store.save(&next)?;
            let revision = next.revision;
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
