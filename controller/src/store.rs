//! Where the desired state is kept between restarts.
//!
//! The embedded default, [`FileStore`], is one JSON file the controller owns, replaced atomically
//! (write a temporary file, fsync, rename over the old one, fsync the directory), so a crash
//! leaves either the old or the new state, never a torn one. A small cluster's state is a few
//! kilobytes, so rewriting the file on each change costs less than running an embedded database,
//! and an operator can read (and back up) it with `cat`. A file that does not parse, breaks an
//! invariant, or has a newer format version is refused, never reset.
//!
//! Format versions: 1 had nodes and pods; 2 (written now) adds services. Both are read.
//!
//! The trait is written for a replicated backend too: `save` carries the revision, and a backend
//! refuses a save that does not follow the revision it holds ([`StoreError::Conflict`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use switchyard_api::Cluster;

use crate::model::{ClusterModel, NodeSpec, PodSpec, ServiceSpec};

/// The file format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest file format this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// Why the state could not be loaded or saved. Every variant names the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading failed.
    #[error("state file {path}: cannot read it")]
    Read {
        /// The state file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The content is not valid Switchyard state.
    #[error(
        "state file {path} is not valid Switchyard state: {reason}; fix the file or restore a \
         backup (yard-controller never resets it)"
    )]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by a newer yard-controller.
    #[error(
        "state file {path} has format version {found}, newer than version {supported} that this \
         yard-controller understands; run a newer yard-controller or restore a backup"
    )]
    NewerFormat {
        /// The state file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Writing failed; the previous state is intact.
    #[error("state file {path}: cannot write it (the previous state is kept)")]
    Write {
        /// The state file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The revision to save does not follow the stored one: another writer got there first.
    #[error("state store {store}: revision conflict (holds {stored}, asked to save {saving}); another writer changed the state")]
    Conflict {
        /// The store.
        store: String,
        /// The stored revision.
        stored: u64,
        /// The revision that was to be saved.
        saving: u64,
    },
}

/// Persists the [`ClusterModel`].
///
/// `save` is called with revisions 1, 2, 3… each exactly one past the last loaded or saved one.
/// Calls are blocking; the controller makes them from a blocking thread, one at a time.
pub trait Store: Send + Sync + 'static {
    /// A human-readable location (`state file /var/lib/...`), for logs.
    fn describe(&self) -> String;

    /// The stored state, or `None` if there is none yet.
    ///
    /// # Errors
    /// Unreadable, corrupt or newer-format state: never treated as "none".
    fn load(&self) -> Result<Option<ClusterModel>, StoreError>;

    /// Replaces the stored state with `model`; on error the previous state is kept.
    fn save(&self, model: &ClusterModel) -> Result<(), StoreError>;
}

/// The on-disk layout of format versions 1 and 2 (version 1 has no `services`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayout {
    format: u32,
    revision: u64,
    cluster: Cluster,
    nodes: Vec<NodeSpec>,
    pods: Vec<PodSpec>,
    #[serde(default)]
    services: Option<Vec<ServiceSpec>>,
}

/// Just the version, read first so that a newer layout is reported as such.
#[derive(Deserialize)]
struct FormatOnly {
    format: serde_json::Value,
}

/// The embedded store: one JSON file, replaced atomically.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    /// The revision last loaded or saved (0: none).
    revision: Mutex<u64>,
}

impl FileStore {
    /// A store at `path`; nothing is read or created until [`Store::load`] / [`Store::save`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore {
            path: path.into(),
            revision: Mutex::new(0),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<ClusterModel, StoreError> {
        let head: FormatOnly =
            serde_json::from_slice(bytes).map_err(|e| self.corrupt(e.to_string()))?;
        let found = head.format.as_u64().ok_or_else(|| {
            self.corrupt(format!(
                "\"format\" is {}, not a version number",
                head.format
            ))
        })?;
        if found > u64::from(FORMAT_VERSION) {
            return Err(StoreError::NewerFormat {
                path: self.path.clone(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        if found < u64::from(OLDEST_FORMAT_VERSION) {
            return Err(self.corrupt(format!("unknown format version {found}")));
        }
        let file: FileLayout =
            serde_json::from_slice(bytes).map_err(|e| self.corrupt(e.to_string()))?;
        if found == 1 && file.services.is_some() {
            return Err(self.corrupt("format version 1 has no \"services\""));
        }
        let mut model = ClusterModel::new(file.cluster);
        model.revision = file.revision;
        for node in file.nodes {
            if let Some(dup) = model.insert_node(node) {
                return Err(self.corrupt(format!("node {} appears twice", dup.name)));
            }
        }
        for pod in file.pods {
            if let Some(dup) = model.insert_pod(pod) {
                return Err(self.corrupt(format!("pod {} appears twice", dup.name)));
            }
        }
        for svc in file.services.unwrap_or_default() {
            if let Some(dup) = model.insert_service(svc) {
                return Err(self.corrupt(format!("service {} appears twice", dup.name)));
            }
        }
        model.check().map_err(|reason| self.corrupt(reason))?;
        Ok(model)
    }

    fn encode(model: &ClusterModel) -> Vec<u8> {
        let file = FileLayout {
            format: FORMAT_VERSION,
            revision: model.revision,
            cluster: model.cluster.clone(),
            nodes: model.nodes().values().cloned().collect(),
            pods: model.pods().values().cloned().collect(),
            services: Some(model.services().values().cloned().collect()),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    fn write_atomically(&self, bytes: &[u8]) -> std::io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir)?;
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        // The rename is durable only once the directory entry is.
        File::open(&dir)?.sync_all()
    }
}

impl Store for FileStore {
    fn describe(&self) -> String {
        format!("state file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<ClusterModel>, StoreError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let model = self.decode(&bytes)?;
        *self.revision.lock().unwrap_or_else(|p| p.into_inner()) = model.revision;
        Ok(Some(model))
    }

    fn save(&self, model: &ClusterModel) -> Result<(), StoreError> {
        let mut stored = self.revision.lock().unwrap_or_else(|p| p.into_inner());
        if model.revision != *stored + 1 {
            return Err(StoreError::Conflict {
                store: self.describe(),
                stored: *stored,
                saving: model.revision,
            });
        }
        self.write_atomically(&Self::encode(model))
            .map_err(|source| StoreError::Write {
                path: self.path.clone(),
                source,
            })?;
        *stored = model.revision;
        Ok(())
    }
}

/// A store that keeps the state in memory only: for tests and throw-away controllers.
#[derive(Debug, Default)]
pub struct MemoryStore {
    model: Mutex<Option<ClusterModel>>,
}

impl Store for MemoryStore {
    fn describe(&self) -> String {
        "in-memory state".into()
    }

    fn load(&self) -> Result<Option<ClusterModel>, StoreError> {
        Ok(self.model.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn save(&self, model: &ClusterModel) -> Result<(), StoreError> {
        let mut slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let stored = slot.as_ref().map_or(0, |m| m.revision);
        if model.revision != stored + 1 {
            return Err(StoreError::Conflict {
                store: self.describe(),
                stored,
                saving: model.revision,
            });
        }
        *slot = Some(model.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PodSpec;
    use switchyard_api::Datapath;

    fn model_at(revision: u64) -> ClusterModel {
        let mut m = ClusterModel::new(Cluster::default());
        m.revision = revision;
        let node = NodeSpec {
            name: "n1".parse().unwrap(),
            ip: "192.168.56.11".parse().unwrap(),
            index: 1,
            uplink: Some("eth1".into()),
            datapath: Datapath::Netdev,
        };
        let pod = PodSpec {
            name: "web-1".parse().unwrap(),
            node: node.name.clone(),
            ip: "10.244.1.3".parse().unwrap(),
            netns: "yp-web-1".into(),
        };
        let svc = ServiceSpec {
            name: "web".parse().unwrap(),
            id: switchyard_api::ServiceId(1),
            protocol: switchyard_api::Protocol::Udp,
            service_type: switchyard_api::ServiceType::NodePort,
            port: 53,
            target_port: 5353,
            cluster_ip: "10.96.0.2".parse().unwrap(),
            node_port: Some(30053),
            backends: [pod.name.clone()].into(),
        };
        m.insert_node(node);
        m.insert_pod(pod);
        m.insert_service(svc);
        m
    }

    #[test]
    fn saved_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        let store = FileStore::new(&path);
        assert_eq!(store.load().unwrap(), None);
        store.save(&model_at(1)).unwrap();
        let reopened = FileStore::new(&path);
        assert_eq!(reopened.load().unwrap(), Some(model_at(1)));
        reopened.save(&model_at(2)).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap().unwrap().revision, 2);
    }

    #[test]
    fn save_replaces_the_file_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        store.save(&model_at(1)).unwrap();
        let before = std::fs::metadata(&path).unwrap();
        store.save(&model_at(2)).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        // A new inode: the file was renamed over, never rewritten in place.
        assert_ne!(before.ino(), after.ino());
        assert_eq!(after.mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": 2"), "{text}");
    }

    #[test]
    fn a_failed_write_keeps_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        store.save(&model_at(1)).unwrap();
        // A directory where the temp file must go makes the write fail.
        std::fs::create_dir(dir.path().join("state.json.tmp")).unwrap();
        let e = store.save(&model_at(2)).unwrap_err();
        assert!(e.to_string().contains("state.json: cannot write it"), "{e}");
        assert_eq!(FileStore::new(&path).load().unwrap().unwrap().revision, 1);
    }

    #[test]
    fn refuses_a_corrupt_file_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for bad in [
            "",
            "{",
            "[]",
            "{\"format\": \"one\"}",
            "{\"format\": 1, \"revision\": 3}",
        ] {
            std::fs::write(&path, bad).unwrap();
            let e = FileStore::new(&path).load().unwrap_err();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            assert!(e.to_string().contains("never resets"), "{e}");
            // Refused, not reset: the file is as it was.
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
    }

    #[test]
    fn refuses_a_file_that_breaks_an_invariant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut m = model_at(1);
        let mut pod = m.pods().values().next().cloned().unwrap();
        pod.ip = "10.244.2.3".parse().unwrap();
        m.insert_pod(pod);
        std::fs::write(&path, FileStore::encode(&m)).unwrap();
        let e = FileStore::new(&path).load().unwrap_err();
        assert!(
            e.to_string()
                .contains("pod web-1: 10.244.2.3 is not a pod address of node n1"),
            "{e}"
        );
    }

    #[test]
    fn reads_format_1_files_without_services() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // A state file as the format-1 build wrote it.
        let v1 = r#"{
  "format": 1,
  "revision": 4,
  "cluster": {"cluster_cidr": "10.244.0.0/16", "node_prefix_len": 24, "mtu": 1400,
              "router_mac": "0a:58:0a:f4:00:01", "service_cidr": "10.96.0.0/16"},
  "nodes": [{"name": "n1", "ip": "192.168.56.11", "index": 1, "datapath": "netdev"}],
  "pods": [{"name": "web-1", "node": "n1", "ip": "10.244.1.3", "netns": "yp-web-1"}]
}"#;
        std::fs::write(&path, v1).unwrap();
        let store = FileStore::new(&path);
        let mut m = store.load().unwrap().unwrap();
        assert_eq!((m.revision, m.pods().len()), (4, 1));
        assert!(m.services().is_empty());
        // The next save writes format 2, which reads back the same.
        m.revision = 5;
        store.save(&m).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(m));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": 2"), "{text}");

        let with_services = v1.replace("\"pods\"", "\"services\": [], \"pods\"");
        std::fs::write(&path, with_services).unwrap();
        let e = FileStore::new(&path).load().unwrap_err();
        assert!(e.to_string().contains("format version 1 has no"), "{e}");
    }

    #[test]
    fn refuses_services_that_break_an_invariant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        type Breaks = fn(&mut ServiceSpec);
        let cases: [(&str, Breaks); 5] = [
            ("service web: backend pod gone does not exist", |s| {
                s.backends.insert("gone".parse().unwrap());
            }),
            ("is not a ClusterIP of the service CIDR 10.96.0.0/16", |s| {
                s.cluster_ip = "10.96.0.1".parse().unwrap();
            }),
            ("service web: node port 80 is outside 30000-32767", |s| {
                s.node_port = Some(80);
            }),
            ("service web: port 0 is not a port", |s| s.port = 0),
            ("service web: id 0 is outside 1..=1048575", |s| {
                s.id = switchyard_api::ServiceId(0);
            }),
        ];
        for (message, breaks) in cases {
            let mut m = model_at(1);
            let names: Vec<_> = m.services().keys().cloned().collect();
            for name in names {
                m.update_service(&name, breaks);
            }
            std::fs::write(&path, FileStore::encode(&m)).unwrap();
            let e = FileStore::new(&path).load().unwrap_err();
            assert!(e.to_string().contains(message), "{message}: {e}");
        }
    }

    #[test]
    fn refuses_a_newer_format_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, r#"{"format": 3, "whatever": "new layout"}"#).unwrap();
        let e = FileStore::new(&path).load().unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::NewerFormat {
                    found: 3,
                    supported: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("format version 3"), "{e}");
    }

    #[test]
    fn refuses_a_save_that_does_not_follow_the_stored_revision() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state.json"));
        store.save(&model_at(1)).unwrap();
        let e = store.save(&model_at(5)).unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::Conflict {
                    stored: 1,
                    saving: 5,
                    ..
                }
            ),
            "{e:?}"
        );
        let mem = MemoryStore::default();
        mem.save(&model_at(1)).unwrap();
        assert!(mem.save(&model_at(1)).is_err());
    }
}
