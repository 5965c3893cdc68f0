//! Where the desired state is kept between restarts.
//!
//! The embedded default, [`FileStore`], is a JSON snapshot (`state.json`) and an append-only
//! journal beside it (`state.json.journal`): each change appends one line holding just the
//! nodes, pods and services it touched (a removed one as `null`), and is durable once that line
//! is (`fdatasync`). So a change costs what it changes, not what the cluster holds. When the
//! journal has grown as large as the snapshot (and past [`COMPACT_AT`]), the next change writes
//! a fresh snapshot atomically (temporary file, fsync, rename, fsync of the directory) and
//! empties the journal: the writing cost per change stays proportional to the change.
//!
//! A crash leaves either the old or the new state, never a torn one: a journal line cut short
//! by a crash (no final newline) was never acknowledged and is dropped on load; journal lines
//! at or below the snapshot's revision (a crash between a snapshot and the journal's truncation)
//! are skipped. Anything else that does not parse, does not follow on, breaks an invariant, or
//! has a newer format version is refused, never reset. The state is the snapshot plus the
//! journal; `yardctl` (the API) shows it whole.
//!
//! Format versions: 1 had nodes and pods; 2 added services; 3 (written now) is 2 with a
//! journal. All three are read; a build that knows only 2 refuses a version-3 snapshot rather
//! than ignoring its journal.
//!
//! The trait is written for a replicated backend too: `save` carries the revision, and a backend
//! refuses a save that does not follow the revision it holds ([`StoreError::Conflict`]).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use switchyard_api::{Cluster, NodeName, PodName, ServiceName};

use crate::model::{ClusterModel, NodeSpec, PodSpec, ServiceSpec};

/// The file format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 3;

/// The oldest file format this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// The journal is compacted into a new snapshot once it is larger than both the snapshot and
/// this many bytes.
pub const COMPACT_AT: u64 = 64 * 1024;

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

    /// Replaces the stored state with `model`, the one stored with what
    /// [`ClusterModel::touched`] names changed; on error the previous state is kept.
    fn save(&self, model: &ClusterModel) -> Result<(), StoreError>;
}

/// The snapshot's layout in format versions 1 to 3 (version 1 has no `services`).
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

/// One journal line: what one revision touched, each name with its new spec or `null` if it
/// was removed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    revision: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    nodes: BTreeMap<NodeName, Option<NodeSpec>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pods: BTreeMap<PodName, Option<PodSpec>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    services: BTreeMap<ServiceName, Option<ServiceSpec>>,
}

impl Record {
    /// The line for `model`'s revision: what [`ClusterModel::touched`] names, as it is now.
    fn of(model: &ClusterModel) -> Self {
        let t = model.touched();
        Record {
            revision: model.revision,
            nodes: t
                .nodes
                .iter()
                .map(|n| (n.clone(), model.nodes().get(n).cloned()))
                .collect(),
            pods: t
                .pods
                .iter()
                .map(|p| (p.clone(), model.pods().get(p).cloned()))
                .collect(),
            services: t
                .services
                .iter()
                .map(|s| (s.clone(), model.services().get(s).cloned()))
                .collect(),
        }
    }

    /// Applies the line to the model of the revision before it.
    fn apply(self, model: &mut ClusterModel) {
        for (name, node) in self.nodes {
            match node {
                Some(node) => model.insert_node(node),
                None => model.remove_node(&name),
            };
        }
        for (name, pod) in self.pods {
            match pod {
                Some(pod) => model.insert_pod(pod),
                None => model.remove_pod(&name),
            };
        }
        for (name, svc) in self.services {
            match svc {
                Some(svc) => model.insert_service(svc),
                None => model.remove_service(&name),
            };
        }
        model.revision = self.revision;
    }
}

/// The embedded store: a JSON snapshot replaced atomically, and a journal of changes since.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    journal_path: PathBuf,
    compact_at: u64,
    written: Mutex<Written>,
}

/// What is on disk, as far as this store knows.
#[derive(Debug, Default)]
struct Written {
    /// The revision last loaded or saved (0: none).
    revision: u64,
    /// The snapshot's size.
    snapshot_bytes: u64,
    /// The journal's valid length: its records, without a torn tail or a failed append.
    journal_bytes: u64,
    /// A write failed after the snapshot was replaced: the next save writes a snapshot.
    must_compact: bool,
}

impl FileStore {
    /// A store at `path` (its journal at `path` + `.journal`); nothing is read or created until
    /// [`Store::load`] / [`Store::save`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut journal = path.as_os_str().to_os_string();
        journal.push(".journal");
        FileStore {
            path,
            journal_path: journal.into(),
            compact_at: COMPACT_AT,
            written: Mutex::new(Written::default()),
        }
    }

    /// The same store, compacting once the journal is past `bytes` (and the snapshot's size).
    pub fn compacting_at(mut self, bytes: u64) -> Self {
        self.compact_at = bytes;
        self
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal file.
    pub fn journal_path(&self) -> &Path {
        &self.journal_path
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn write_error(&self, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The snapshot's model and format version.
    fn decode(&self, bytes: &[u8]) -> Result<(ClusterModel, u64), StoreError> {
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
        Ok((model, found))
    }

    /// Replays the journal's records past the snapshot's revision onto `model`; returns the
    /// length of the valid records (a last line without its newline was cut by a crash).
    fn replay(&self, bytes: &[u8], model: &mut ClusterModel) -> Result<u64, StoreError> {
        let journal = |line: usize, reason: String| {
            self.corrupt(format!(
                "journal {} line {line}: {reason}",
                self.journal_path.display()
            ))
        };
        let snapshot = model.revision;
        let mut valid = 0;
        for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            if !line.ends_with(b"\n") {
                tracing::warn!(journal = %self.journal_path.display(), bytes = line.len(),
                    "dropping a journal line cut short by a crash (it was never acknowledged)");
                break;
            }
            let record: Record =
                serde_json::from_slice(line).map_err(|e| journal(i + 1, e.to_string()))?;
            valid += line.len() as u64;
            if record.revision <= snapshot && model.revision == snapshot {
                continue; // Already in the snapshot.
            }
            if record.revision != model.revision + 1 {
                return Err(journal(
                    i + 1,
                    format!(
                        "revision {} does not follow revision {}",
                        record.revision, model.revision
                    ),
                ));
            }
            record.apply(model);
        }
        Ok(valid)
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

    /// Writes `model` as the new snapshot, then empties the journal.
    fn compact(&self, w: &mut Written, model: &ClusterModel) -> Result<(), StoreError> {
        let bytes = Self::encode(model);
        self.write_atomically(&bytes)
            .map_err(|e| self.write_error(&self.path, e))?;
        // From here on the change is durable; a journal that cannot be emptied only holds
        // records the snapshot already has, and the next save tries again.
        w.snapshot_bytes = bytes.len() as u64;
        match self.open_journal(0).and_then(|f| f.sync_all()) {
            Ok(()) => {
                w.journal_bytes = 0;
                w.must_compact = false;
            }
            Err(e) => {
                tracing::warn!(journal = %self.journal_path.display(), error = %e,
                    "cannot empty the journal after a snapshot; retrying at the next change");
                w.must_compact = true;
            }
        }
        Ok(())
    }

    /// The journal, cut to its first `len` bytes (a torn or failed append beyond them goes)
    /// and positioned there. Opened for each append, so that appends go to the file of that
    /// name (one moved away or deleted shows as a gap at the next load, never as lost writes).
    fn open_journal(&self, len: u64) -> std::io::Result<File> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.journal_path)?;
        f.set_len(len)?;
        f.seek(SeekFrom::Start(len))?;
        Ok(f)
    }

    /// Appends `line` to the journal and waits until it is on disk.
    fn append(&self, w: &mut Written, line: &[u8]) -> Result<(), StoreError> {
        let mut f = self
            .open_journal(w.journal_bytes)
            .map_err(|e| self.write_error(&self.journal_path, e))?;
        // A failed write is cut off by the next append's `open_journal`.
        f.write_all(line)
            .and_then(|()| f.sync_data())
            .map_err(|e| self.write_error(&self.journal_path, e))?;
        w.journal_bytes += line.len() as u64;
        Ok(())
    }
}

impl Store for FileStore {
    fn describe(&self) -> String {
        format!("state file {}", self.path.display())
    }

    fn load(&self) -> Result<Option<ClusterModel>, StoreError> {
        let read = |path: &Path| match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            }),
        };
        let journal = read(&self.journal_path)?.unwrap_or_default();
        let Some(snapshot) = read(&self.path)? else {
            if journal.is_empty() {
                return Ok(None);
            }
            return Err(self.corrupt(format!(
                "it is missing but its journal {} is not empty",
                self.journal_path.display()
            )));
        };
        let (mut model, format) = self.decode(&snapshot)?;
        let journal_bytes = self.replay(&journal, &mut model)?;
        model.check().map_err(|reason| self.corrupt(reason))?;
        model.take_touched();
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Written {
            revision: model.revision,
            snapshot_bytes: snapshot.len() as u64,
            journal_bytes,
            // An older format is rewritten at once, so that no older build reads it without
            // the journal.
            must_compact: format < u64::from(FORMAT_VERSION),
        };
        Ok(Some(model))
    }

    /// Appends what `model.touched()` names to the journal, or writes a new snapshot when
    /// there is none yet or the journal has grown past it.
    fn save(&self, model: &ClusterModel) -> Result<(), StoreError> {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if model.revision != w.revision + 1 {
            return Err(StoreError::Conflict {
                store: self.describe(),
                stored: w.revision,
                saving: model.revision,
            });
        }
        let mut line = serde_json::to_vec(&Record::of(model)).unwrap_or_default();
        line.push(b'\n');
        let grown = w.journal_bytes + line.len() as u64;
        if w.revision == 0 || w.must_compact || grown > self.compact_at.max(w.snapshot_bytes) {
            self.compact(&mut w, model)?;
        } else {
            self.append(&mut w, &line)?;
        }
        w.revision = model.revision;
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

    /// `model` one revision on, with one more pod (`web-N`, N = the new revision).
    fn next_with_pod(model: &ClusterModel) -> ClusterModel {
        let mut next = model.clone();
        next.take_touched();
        next.revision += 1;
        let n = next.revision;
        next.insert_pod(PodSpec {
            name: format!("web-{n}").parse().unwrap(),
            node: "n1".parse().unwrap(),
            ip: format!("10.244.1.{}", 3 + n).parse().unwrap(),
            netns: format!("yp-web-{n}"),
        });
        next
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_change_appends_one_journal_line_with_only_what_it_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        let first = model_at(1);
        store.save(&first).unwrap();
        let snapshot = std::fs::read(&path).unwrap();
        let second = next_with_pod(&first);
        store.save(&second).unwrap();
        // The snapshot is untouched; the journal holds one line naming the new pod alone.
        assert_eq!(std::fs::read(&path).unwrap(), snapshot);
        let journal = std::fs::read_to_string(store.journal_path()).unwrap();
        assert_eq!(journal.lines().count(), 1, "{journal}");
        assert!(
            journal.contains("\"web-2\"") && !journal.contains("\"web-1\""),
            "{journal}"
        );
        assert!(
            !journal.contains("\"nodes\"") && !journal.contains("\"services\""),
            "{journal}"
        );
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(second));
    }

    #[test]
    fn the_journal_is_compacted_into_a_new_snapshot_once_it_outgrows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path).compacting_at(0);
        let mut model = model_at(1);
        store.save(&model).unwrap();
        let before = std::fs::metadata(&path).unwrap();
        let mut compacted_at = None;
        for _ in 0..40 {
            model = next_with_pod(&model);
            store.save(&model).unwrap();
            if std::fs::metadata(store.journal_path()).unwrap().len() == 0 {
                compacted_at = Some(model.revision);
                break;
            }
        }
        let compacted_at = compacted_at.expect("the journal never outgrew the snapshot");
        assert!(compacted_at > 2, "compacted at revision {compacted_at}");
        use std::os::unix::fs::MetadataExt;
        let after = std::fs::metadata(&path).unwrap();
        // A new inode: the snapshot was renamed over, never rewritten in place.
        assert_ne!(before.ino(), after.ino());
        assert_eq!(after.mode() & 0o777, 0o600);
        assert_eq!(
            file_names(dir.path()),
            ["state.json", "state.json.journal"],
            "no temporary file is left"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": 3"), "{text}");
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(model));
    }

    #[test]
    fn a_journal_line_cut_short_by_a_crash_is_dropped_and_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        let first = model_at(1);
        store.save(&first).unwrap();
        let second = next_with_pod(&first);
        store.save(&second).unwrap();
        let mut journal = OpenOptions::new()
            .append(true)
            .open(store.journal_path())
            .unwrap();
        journal
            .write_all(br#"{"revision":3,"pods":{"web-3""#)
            .unwrap();
        drop(journal);

        let reopened = FileStore::new(&path);
        assert_eq!(reopened.load().unwrap(), Some(second.clone()));
        let third = next_with_pod(&second);
        reopened.save(&third).unwrap();
        let journal = std::fs::read_to_string(store.journal_path()).unwrap();
        assert_eq!(
            journal.lines().count(),
            2,
            "the torn line is gone: {journal}"
        );
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(third));
    }

    #[test]
    fn journal_lines_the_snapshot_already_holds_are_skipped() {
        // A crash between writing a snapshot and emptying the journal.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        let mut model = model_at(1);
        store.save(&model).unwrap();
        for _ in 0..3 {
            model = next_with_pod(&model);
            store.save(&model).unwrap();
        }
        std::fs::write(&path, FileStore::encode(&model)).unwrap();
        let reopened = FileStore::new(&path);
        assert_eq!(reopened.load().unwrap(), Some(model.clone()));
        let next = next_with_pod(&model);
        reopened.save(&next).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(next));
    }

    #[test]
    fn a_journal_that_skips_a_revision_or_does_not_parse_is_refused_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        let first = model_at(1);
        store.save(&first).unwrap();
        store.save(&next_with_pod(&first)).unwrap();
        let good = std::fs::read_to_string(store.journal_path()).unwrap();
        for (bad, says) in [
            (
                "{\"revision\":4}\n",
                "line 2: revision 4 does not follow revision 2",
            ),
            ("not json\n", "line 2: expected"),
            ("{\"revision\":3,\"color\":1}\n", "line 2: unknown field"),
        ] {
            let journal = format!("{good}{bad}");
            std::fs::write(store.journal_path(), &journal).unwrap();
            let e = FileStore::new(&path).load().unwrap_err();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains(says), "{bad}: {e}");
            assert!(e.to_string().contains("state.json.journal"), "{e}");
            assert_eq!(
                std::fs::read_to_string(store.journal_path()).unwrap(),
                journal
            );
        }
    }

    #[test]
    fn a_journal_without_its_snapshot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(dir.path().join("state.json.journal"), "{\"revision\":2}\n").unwrap();
        let e = FileStore::new(&path).load().unwrap_err();
        assert!(e.to_string().contains("is missing but its journal"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever the changes and wherever compaction falls, a reopened store loads exactly
        /// what was saved last.
        #[test]
        fn reloading_gives_the_last_saved_model(
            ops in proptest::collection::vec((0u8..5, 0u8..12), 1..40),
            compact_at in 0u64..4096,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.json");
            let store = FileStore::new(&path).compacting_at(compact_at);
            let mut model = model_at(1);
            store.save(&model).unwrap();
            for (op, k) in ops {
                let mut next = model.clone();
                next.take_touched();
                next.revision += 1;
                let pod: PodName = format!("p{k}").parse().unwrap();
                match op {
                    0 | 1 => {
                        next.insert_pod(PodSpec {
                            name: pod,
                            node: "n1".parse().unwrap(),
                            ip: format!("10.244.1.{}", 10 + k).parse().unwrap(),
                            netns: format!("ns-{k}-{op}"),
                        });
                    }
                    2 => {
                        next.remove_pod(&pod);
                    }
                    3 => {
                        next.update_service(&"web".parse().unwrap(), |s| s.port = 1 + u16::from(k));
                    }
                    _ => {
                        let svc: ServiceName = format!("s{k}").parse().unwrap();
                        if next.remove_service(&svc).is_none() {
                            next.insert_service(ServiceSpec {
                                name: svc,
                                id: switchyard_api::ServiceId(100 + u32::from(k)),
                                protocol: switchyard_api::Protocol::Tcp,
                                service_type: switchyard_api::ServiceType::ClusterIp,
                                port: 80,
                                target_port: 8080,
                                cluster_ip: format!("10.96.1.{}", 10 + k).parse().unwrap(),
                                node_port: None,
                                backends: Default::default(),
                            });
                        }
                    }
                }
                store.save(&next).unwrap();
                model = next;
                proptest::prop_assert_eq!(FileStore::new(&path).load().unwrap(), Some(model.clone()));
            }
        }
    }

    #[test]
    fn a_failed_write_keeps_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // A directory where the snapshot's temp file must go makes a snapshot fail.
        let tmp = dir.path().join("state.json.tmp");
        std::fs::create_dir(&tmp).unwrap();
        let e = FileStore::new(&path).save(&model_at(1)).unwrap_err();
        assert!(e.to_string().contains("state.json: cannot write it"), "{e}");
        assert_eq!(FileStore::new(&path).load().unwrap(), None);
        std::fs::remove_dir(&tmp).unwrap();

        let store = FileStore::new(&path);
        let first = model_at(1);
        store.save(&first).unwrap();
        // A directory in the journal's place makes an append fail.
        let journal = store.journal_path().to_path_buf();
        std::fs::remove_file(&journal).unwrap();
        std::fs::create_dir(&journal).unwrap();
        let second = next_with_pod(&first);
        let e = store.save(&second).unwrap_err();
        assert!(
            e.to_string()
                .contains("state.json.journal: cannot write it"),
            "{e}"
        );
        std::fs::remove_dir(&journal).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(first));
        // The same revision can be saved once the journal is writable again.
        store.save(&second).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(second));
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
        // The next save writes format 3, which reads back the same.
        m.revision = 5;
        store.save(&m).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(m));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": 3"), "{text}");

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
        std::fs::write(&path, r#"{"format": 4, "whatever": "new layout"}"#).unwrap();
        let e = FileStore::new(&path).load().unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::NewerFormat {
                    found: 4,
                    supported: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("format version 4"), "{e}");
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
