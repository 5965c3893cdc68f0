//! Network and mount namespaces: named network namespaces under `/run/netns` (the layout
//! `ip netns` uses), netlink sockets opened inside another network namespace, and joining
//! the host's mount namespace at start.
//!
//! Every namespace switch happens on a short-lived thread of its own, never on a tokio
//! worker: `setns` changes only the calling thread, and a pool thread left in a pod's
//! namespace would run unrelated work there.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where named network namespaces live (`ip netns add NAME` creates `/run/netns/NAME`).
pub const NETNS_DIR: &str = "/run/netns";

/// What went wrong with a namespace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// The namespace file does not exist (the pod's sandbox is gone, or the name is wrong).
    #[error("network namespace {path} does not exist; create it (ip netns add) or give the pod an existing one")]
    Missing {
        /// The namespace file.
        path: PathBuf,
    },
    /// A system call on a namespace failed.
    #[error("{op} for network namespace {path} failed")]
    Sys {
        /// What was attempted (`open`, `setns`, `unshare`, `bind mount`, ...).
        op: &'static str,
        /// The namespace file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A netlink socket could not be opened inside the namespace.
    #[error("cannot open a netlink socket in {path}")]
    Socket {
        /// The namespace file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn sys(op: &'static str, path: &Path, e: impl Into<std::io::Error>) -> NetnsError {
    NetnsError::Sys {
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

fn errno(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// The file of a named namespace or an absolute path: `yp-web` → `/run/netns/yp-web`.
pub fn netns_path(name_or_path: &str) -> PathBuf {
    if name_or_path.starts_with('/') {
        PathBuf::from(name_or_path)
    } else {
        Path::new(NETNS_DIR).join(name_or_path)
    }
}

/// Opens a network namespace file.
///
/// # Errors
/// [`NetnsError::Missing`] if it does not exist, [`NetnsError::Sys`] otherwise.
pub fn open(path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => NetnsError::Missing {
            path: path.to_owned(),
        },
        _ => sys("open", path, e),
    })
}

/// Whether `path` is a mounted network namespace (not just a leftover empty file, which is
/// what a crash between `create` and `mount` leaves behind).
pub fn is_netns(path: &Path) -> bool {
    // A bind-mounted nsfs file lives on another device than its directory.
    match (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) {
        (Ok(f), Some(Ok(dir))) => f.dev() != dir.dev(),
        _ => false,
    }
}

/// Creates the named network namespace `path` (under `/run/netns` or anywhere) with `lo`
/// down, as `ip netns add` does. An existing namespace is left alone; a leftover file from a
/// half-finished creation is reused.
///
/// # Errors
/// [`NetnsError::Sys`] naming the step that failed; nothing is left mounted then.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    if is_netns(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| sys("mkdir", dir, e))?;
        if dir == Path::new(NETNS_DIR) {
            // Once per process, and never twice at once: two concurrent first calls would
            // stack two bind mounts of the directory on itself.
            static SHARED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
            let mut done = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            if !*done {
                make_shared(dir)?;
                *done = true;
            }
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| sys("create", path, e))?;
    let target = path.to_owned();
    let made = std::thread::spawn(move || -> Result<(), NetnsError> {
        // This thread alone moves to the new namespace; it ends right after the bind mount.
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| sys("unshare", &target, errno(e)))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| sys("bind mount", &target, errno(e)))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(sys(
            "create thread",
            path,
            std::io::Error::other("panicked"),
        ))
    });
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Makes `/run/netns` a shared mount point (bind-mounting it on itself first if it is not a
/// mount point), as iproute2 does, so that namespaces created in one mount namespace are
/// seen in the others.
fn make_shared(dir: &Path) -> Result<(), NetnsError> {
    let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, Some("none"), flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| sys("bind mount", dir, errno(e)))?;
            mount(None::<&str>, dir, Some("none"), flags, None::<&str>)
                .map_err(|e| sys("make shared", dir, errno(e)))
        }
        Err(e) => Err(sys("make shared", dir, errno(e))),
    }
}

/// Removes a namespace made by [`create`] (unmount, then unlink). Absent is fine.
///
/// # Errors
/// [`NetnsError::Sys`] if it is mounted and cannot be unmounted or removed.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    if !path.exists() {
        return Ok(());
    }
    if is_netns(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(|e| sys("unmount", path, errno(e)))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(sys("remove", path, e)),
    }
}

/// Runs `f` on a fresh thread that has joined the network namespace `ns` (the caller's
/// threads stay where they are) and returns its result.
///
/// # Errors
/// [`NetnsError::Sys`] if the thread cannot join the namespace.
pub fn run_in<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    let file = open(ns)?;
    let path = ns.to_owned();
    std::thread::spawn(move || {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| sys("setns", &path, errno(e)))?;
        Ok(f())
    })
    .join()
    .unwrap_or_else(|_| Err(sys("thread", ns, std::io::Error::other("panicked"))))
}

/// Opens an rtnetlink connection whose socket lives in the network namespace `ns` (so every
/// request on it acts there), or in this thread's namespace when `ns` is `None`. The
/// connection task is spawned on the current tokio runtime and ends when the handle is
/// dropped.
///
/// # Errors
/// [`NetnsError`] if the namespace cannot be joined or the socket not opened.
///
/// # Panics
/// If called outside a tokio runtime.
pub async fn rtnetlink_in(ns: Option<&Path>) -> Result<rtnetlink::Handle, NetnsError> {
    let here = PathBuf::from("/proc/self/ns/net");
    let rt = tokio::runtime::Handle::current();
    let (conn, handle, _) = match ns {
        None => rtnetlink::new_connection()
            .map_err(|source| NetnsError::Socket { path: here, source })?,
        Some(ns) => {
            let file = open(ns)?;
            let path = ns.to_owned();
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let made = setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| sys("setns", &path, errno(e)))
                    .and_then(|()| {
                        // The socket is registered with the caller's runtime.
                        let _guard = rt.enter();
                        rtnetlink::new_connection()
                            .map_err(|source| NetnsError::Socket { path, source })
                    });
                let _ = tx.send(made);
            });
            rx.await
                .unwrap_or_else(|_| Err(sys("thread", ns, std::io::Error::other("panicked"))))?
        }
    };
    tokio::spawn(conn);
    Ok(handle)
}

/// Identity of a namespace file (device and inode), to compare namespaces.
pub fn ns_id(path: &Path) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Where `--mount-ns` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountNs {
    /// Stay in the mount namespace the process started in.
    Stay,
    /// The mount namespace of PID 1, or, where that is not readable (a sandbox that hides
    /// PID 1), of the parent process.
    Auto,
    /// A mount namespace file such as `/proc/<pid>/ns/mnt`.
    Path(PathBuf),
}

impl std::str::FromStr for MountNs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(MountNs::Auto),
            "none" | "stay" => Ok(MountNs::Stay),
            p if p.starts_with('/') => Ok(MountNs::Path(PathBuf::from(p))),
            other => Err(format!(
                "--mount-ns {other:?}: expected auto, none or an absolute path such as /proc/1/ns/mnt"
            )),
        }
    }
}

/// Joins the mount namespace `target` names, keeping the network namespace.
///
/// `ip netns exec NODE yard-agent` gives the agent a private mount namespace; a pod
/// namespace it then bind-mounts under `/run/netns` would be invisible to everyone else.
/// Joining the host's mount namespace first avoids that. Returns the file joined, if any.
///
/// Must be called while the process has a single thread (before the tokio runtime
/// starts): the kernel refuses `setns(CLONE_NEWNS)` to a multi-threaded process.
///
/// # Errors
/// [`NetnsError::Sys`] if the namespace cannot be opened or joined, or if the network
/// namespace changed (it never should).
pub fn join_mount_ns(target: &MountNs) -> Result<Option<PathBuf>, NetnsError> {
    let path = match target {
        MountNs::Stay => return Ok(None),
        MountNs::Path(p) => p.clone(),
        MountNs::Auto => {
            let pid1 = PathBuf::from("/proc/1/ns/mnt");
            if std::fs::read_link(&pid1).is_ok() {
                pid1
            } else {
                PathBuf::from(format!(
                    "/proc/{}/ns/mnt",
                    std::os::unix::process::parent_id()
                ))
            }
        }
    };
    let me = Path::new("/proc/self/ns/mnt");
    let same = |a: &Path, b: &Path| matches!((std::fs::read_link(a), std::fs::read_link(b)), (Ok(x), Ok(y)) if x == y);
    if same(me, &path) {
        return Ok(None);
    }
    let net_before = std::fs::read_link("/proc/self/ns/net").ok();
    let file = File::open(&path).map_err(|e| sys("open mount namespace", &path, e))?;
    setns(&file, CloneFlags::CLONE_NEWNS)
        .map_err(|e| sys("join mount namespace", &path, errno(e)))?;
    let net_after = std::fs::read_link("/proc/self/ns/net").ok();
    if net_before != net_after {
        return Err(sys(
            "keep network namespace",
            &path,
            std::io::Error::other(
                "the network namespace changed while joining the mount namespace",
            ),
        ));
    }
    Ok(Some(path))
}
