//! The lab harness for Switchyard's OVS-backed tests: real `ovsdb-server` and
//! `ovs-vswitchd` (userspace datapath) in temporary directories, optionally inside
//! network namespaces the test creates. Everything a harness object starts or creates
//! is stopped or removed when it is dropped, also when the test fails.
//!
//! Not a mock: the daemons are the installed Open vSwitch binaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod cluster;

/// Checks that this process can run the OVS-backed tests: root, and the Open vSwitch
/// binaries installed. Returns `false` (after saying why on stderr) when a test should
/// skip; under `CI=true` a missing prerequisite panics instead, so CI never skips silently.
pub fn ovs_available() -> bool {
    let missing = missing_prerequisite();
    match missing {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("OVS-backed test cannot run in CI: {why}")
        }
        Some(why) => {
            eprintln!("SKIP: {why} (run ./test.sh as root; it installs openvswitch-switch)");
            false
        }
    }
}

fn missing_prerequisite() -> Option<String> {
    if effective_uid() != 0 {
        return Some("needs root (network namespaces, OVS daemons)".into());
    }
    for bin in [
        "ovsdb-server",
        "ovs-vswitchd",
        "ovsdb-tool",
        "ovs-vsctl",
        "ovs-ofctl",
        "ip",
    ] {
        if which(bin).is_none() {
            return Some(format!("{bin} not found on PATH"));
        }
    }
    if !Path::new(SCHEMA).exists() {
        return Some(format!("{SCHEMA} not found (install openvswitch-switch)"));
    }
    None
}

fn effective_uid() -> u32 {
    // /proc/self/status has "Uid: real effective saved fs"; avoids an unsafe libc call.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// The installed Open_vSwitch schema.
pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// The script `ovs-ctl restart` saves flows with.
const OVS_SAVE: &str = "/usr/share/openvswitch/scripts/ovs-save";

/// A short name unique to this process and call, for namespaces, interfaces and
/// directories: `<prefix><pid mod 10^4><counter>`, at most 15 characters for a prefix
/// of up to 5.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:04}{n:03}", std::process::id() % 10_000)
}

/// Runs a command and returns its output; panics with the command line and stderr if it
/// fails. For test setup, where a failure is a broken test machine.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and returns its full output, success or not.
pub fn try_run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Polls `f` every 50 ms until it returns `Some`, or panics naming `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A network namespace created by the test, deleted on drop (with every process the
/// test left in it).
pub struct Netns {
    pub name: String,
    owned: bool,
}

impl Netns {
    /// Creates `/run/netns/<name>` with `lo` up.
    pub fn new(name: impl Into<String>) -> Netns {
        let name = name.into();
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name, owned: true };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// A handle on a namespace someone else made (an agent, the lab); dropping it
    /// leaves the namespace alone.
    pub fn existing(name: impl Into<String>) -> Netns {
        Netns {
            name: name.into(),
            owned: false,
        }
    }

    /// Deletes the namespace on drop even though this handle did not create it.
    pub fn take_ownership(mut self) -> Netns {
        self.owned = true;
        self
    }

    /// A `Command` that runs `argv` inside this namespace.
    pub fn cmd(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Runs `argv` inside this namespace; panics if it fails.
    pub fn run(&self, argv: &[&str]) -> String {
        run(&mut self.cmd(argv))
    }

    /// True if `argv` exits 0 inside this namespace.
    pub fn ok(&self, argv: &[&str]) -> bool {
        self.cmd(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// The path of the namespace file, for `setns`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // Kill what runs inside first, or the namespace lingers until it exits.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// One Open vSwitch instance: its own database, `ovsdb-server` and `ovs-vswitchd`, in a
/// temporary directory, optionally started inside a network namespace. Both daemons
/// are stopped on drop.
pub struct Ovs {
    pub dir: tempfile::TempDir,
    netns: Option<String>,
    vswitchd: bool,
    extra_remotes: Vec<String>,
}

impl Ovs {
    /// Starts `ovsdb-server` only (no switch), listening on `unix:<dir>/db.sock`.
    pub fn db_only() -> Ovs {
        Self::start(None, false, &[])
    }

    /// Starts `ovsdb-server` and `ovs-vswitchd` in the root namespace.
    pub fn switch() -> Ovs {
        Self::start(None, true, &[])
    }

    /// Starts both daemons inside `netns`; `extra_remotes` are more `--remote` targets for
    /// ovsdb-server (e.g. `ptcp:6640:192.168.56.11`).
    pub fn in_netns(netns: &Netns, extra_remotes: &[&str]) -> Ovs {
        Self::start(Some(netns.name.clone()), true, extra_remotes)
    }

    fn start(netns: Option<String>, vswitchd: bool, extra_remotes: &[&str]) -> Ovs {
        let dir = tempfile::Builder::new()
            .prefix("switchyard-ovs-")
            .tempdir()
            .expect("temp dir");
        let ovs = Ovs {
            dir,
            netns,
            vswitchd,
            extra_remotes: extra_remotes.iter().map(|r| r.to_string()).collect(),
        };
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(ovs.dir.path().join("conf.db"))
            .arg(SCHEMA));
        ovs.start_ovsdb_server();
        run(ovs.vsctl_cmd().arg("--no-wait").arg("init"));
        if vswitchd {
            ovs.start_vswitchd();
        }
        ovs
    }

    fn start_ovsdb_server(&self) {
        let d = self.dir.path();
        let mut args = vec![
            d.join("conf.db").display().to_string(),
            format!("--remote=punix:{}", d.join("db.sock").display()),
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options".into(),
            format!("--pidfile={}", d.join("ovsdb-server.pid").display()),
            format!("--unixctl={}", d.join("ovsdb-server.ctl").display()),
            format!("--log-file={}", d.join("ovsdb-server.log").display()),
            "--detach".into(),
        ];
        args.extend(self.extra_remotes.iter().map(|r| format!("--remote={r}")));
        run(self.cmd_in_ns("ovsdb-server").args(&args));
    }

    fn start_vswitchd(&self) {
        let d = self.dir.path();
        run(self.cmd_in_ns("ovs-vswitchd").args([
            format!("unix:{}", d.join("db.sock").display()),
            format!("--pidfile={}", d.join("ovs-vswitchd.pid").display()),
            format!("--unixctl={}", d.join("ovs-vswitchd.ctl").display()),
            format!("--log-file={}", d.join("ovs-vswitchd.log").display()),
            "--detach".into(),
        ]));
    }

    /// Adds a listener to the running `ovsdb-server` (one it keeps across
    /// [`restart_ovsdb_server`](Self::restart_ovsdb_server)).
    pub fn add_remote(&mut self, remote: &str) {
        self.appctl("ovsdb-server", &["ovsdb-server/add-remote", remote]);
        self.extra_remotes.push(remote.to_owned());
    }

    /// Kills `ovsdb-server` and starts it again on the same database.
    pub fn restart_ovsdb_server(&self) {
        self.kill("ovsdb-server");
        self.start_ovsdb_server();
    }

    /// Restarts `ovs-vswitchd` as `ovs-ctl restart` does: the flows and groups of `bridges`
    /// are saved (`ovs-save`), the daemon is stopped and started with
    /// `other_config:flow-restore-wait=true` (it forwards nothing and connects to no
    /// controller), the saved tables are put back and the flag is removed. With no bridges
    /// it is a crash: killed and started on an empty table, no flag.
    pub fn restart_vswitchd(&self, bridges: &[&str]) {
        let restore = (!bridges.is_empty()).then(|| {
            run(self
                .cmd_in_ns("sh")
                .arg(OVS_SAVE)
                .arg("save-flows")
                .args(bridges))
        });
        self.kill("ovs-vswitchd");
        if restore.is_some() {
            self.vsctl(&[
                "--no-wait",
                "set",
                "Open_vSwitch",
                ".",
                "other_config:flow-restore-wait=true",
            ]);
        }
        self.start_vswitchd();
        if let Some(script) = restore {
            for b in bridges {
                let sock = self.mgmt_sock(b);
                wait_for(
                    &format!("{} after the restart", sock.display()),
                    Duration::from_secs(30),
                    || sock.exists().then_some(()),
                );
            }
            run(self.cmd_in_ns("sh").arg("-c").arg(script));
            self.vsctl(&[
                "--no-wait",
                "remove",
                "Open_vSwitch",
                ".",
                "other_config",
                "flow-restore-wait",
            ]);
        }
    }

    fn cmd_in_ns(&self, program: &str) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        };
        c.env("OVS_RUNDIR", self.dir.path())
            .env("OVS_DBDIR", self.dir.path())
            .env("OVS_LOGDIR", self.dir.path());
        c
    }

    /// `unix:<dir>/db.sock`, the OVSDB target for this instance.
    pub fn db_target(&self) -> String {
        format!("unix:{}", self.db_sock().display())
    }

    pub fn db_sock(&self) -> PathBuf {
        self.dir.path().join("db.sock")
    }

    /// The OpenFlow management socket ovs-vswitchd opens for `bridge` (what ovs-ofctl uses).
    pub fn mgmt_sock(&self, bridge: &str) -> PathBuf {
        self.dir.path().join(format!("{bridge}.mgmt"))
    }

    /// An `ovs-vsctl` command bound to this instance's database.
    pub fn vsctl_cmd(&self) -> Command {
        let mut c = self.cmd_in_ns("ovs-vsctl");
        c.arg(format!("--db={}", self.db_target()))
            .arg("--timeout=10");
        c
    }

    /// Runs `ovs-vsctl ARGS` against this instance; panics on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        run(self.vsctl_cmd().args(args))
    }

    /// Runs `ovs-ofctl -O OpenFlow13 ARGS` against this instance (bridges by name work
    /// because `OVS_RUNDIR` points at the instance's directory); panics on failure.
    pub fn ofctl(&self, args: &[&str]) -> String {
        run(self
            .cmd_in_ns("ovs-ofctl")
            .arg("-O")
            .arg("OpenFlow13")
            .args(args))
    }

    /// Runs `ovs-ofctl -O OpenFlow13 ARGS`; `None` if it fails (e.g. the bridge is not up yet).
    pub fn try_ofctl(&self, args: &[&str]) -> Option<String> {
        let out = try_run(
            self.cmd_in_ns("ovs-ofctl")
                .arg("-O")
                .arg("OpenFlow13")
                .args(args),
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `ovs-appctl -t <dir>/<daemon>.ctl ARGS`.
    pub fn appctl(&self, daemon: &str, args: &[&str]) -> String {
        let ctl = self.dir.path().join(format!("{daemon}.ctl"));
        run(self.cmd_in_ns("ovs-appctl").arg("-t").arg(ctl).args(args))
    }

    /// Adds a bridge with the userspace datapath and waits until ovs-vswitchd has
    /// opened its management socket.
    pub fn add_bridge(&self, bridge: &str) {
        self.vsctl(&[
            "add-br",
            bridge,
            "--",
            "set",
            "bridge",
            bridge,
            "datapath_type=netdev",
        ]);
        let sock = self.mgmt_sock(bridge);
        wait_for(
            &format!("{}", sock.display()),
            Duration::from_secs(10),
            || sock.exists().then_some(()),
        );
    }

    /// The pid recorded in `<dir>/<daemon>.pid`.
    pub fn pid(&self, daemon: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join(format!("{daemon}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Kills one daemon (`ovsdb-server` or `ovs-vswitchd`) with SIGKILL, for fault tests.
    /// Returns once the process is gone (or a zombie), so that what follows never meets the
    /// old daemon still holding its socket.
    pub fn kill(&self, daemon: &str) {
        if let Some(pid) = self.pid(daemon) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let _ = std::fs::remove_file(self.dir.path().join(format!("{daemon}.pid")));
            wait_for(
                &format!("{daemon} (pid {pid}) to exit"),
                Duration::from_secs(30),
                || {
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    let state = stat
                        .rsplit(')')
                        .next()
                        .and_then(|r| r.split_whitespace().next());
                    matches!(state, None | Some("Z" | "X")).then_some(())
                },
            );
        }
    }

    /// The directory's path (db, sockets, logs).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        let daemons: &[&str] = if self.vswitchd {
            &["ovs-vswitchd", "ovsdb-server"]
        } else {
            &["ovsdb-server"]
        };
        for d in daemons {
            self.kill(d);
        }
    }
}

/// Processes a test started; killed and reaped when dropped, also when the test fails.
#[derive(Default)]
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One TCP connection from `ns` to `ip:port` (3 s to connect, 3 s of silence ends it): the
/// first line of the answer, if any.
pub fn ask(ns: &Netns, ip: &str, port: u16) -> Option<String> {
    let out = ns
        .cmd(&[
            "socat",
            "-T",
            "3",
            "-u",
            &format!("TCP:{ip}:{port},connect-timeout=3"),
            "-",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
}

/// A continuous ping (`ping -D -i INTERVAL`) whose replies are timed as they arrive, to
/// measure what a fault costs: how many replies were lost, and the longest silence.
pub struct Pinger {
    child: Child,
    replies: std::sync::Arc<std::sync::Mutex<Vec<(u64, f64)>>>,
}

/// What a [`Pinger`] saw.
#[derive(Debug, Clone, Copy)]
pub struct PingReport {
    /// Echo requests sent up to the last one answered.
    pub sent: u64,
    /// Replies received.
    pub received: u64,
    /// The longest time between two replies, or from the last reply to the end, in seconds.
    pub longest_gap: f64,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Pinger {
    /// Starts pinging `ip` from `ns` every `interval` seconds.
    pub fn start(ns: &Netns, ip: &str, interval: f64) -> Pinger {
        use std::io::BufRead;
        let mut child = ns
            .cmd(&["ping", "-D", "-n", "-i", &interval.to_string(), ip])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ping");
        let out = child.stdout.take().expect("stdout");
        let replies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = replies.clone();
        std::thread::spawn(move || {
            // `[1700000000.123456] 64 bytes from ...: icmp_seq=12 ttl=63 time=0.5 ms`
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let reply = (|| {
                    let t = l.strip_prefix('[')?.split(']').next()?.parse().ok()?;
                    let seq = l
                        .split("icmp_seq=")
                        .nth(1)?
                        .split(' ')
                        .next()?
                        .parse()
                        .ok()?;
                    Some((seq, t))
                })();
                if let (Some(r), Ok(mut v)) = (reply, sink.lock()) {
                    v.push(r);
                }
            }
        });
        Pinger { child, replies }
    }

    /// Replies received so far.
    pub fn received(&self) -> usize {
        self.replies.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Waits until `n` more replies have come than now (the ping flows).
    pub fn wait_more(&self, n: usize, what: &str) {
        let base = self.received();
        wait_for(what, Duration::from_secs(60), || {
            (self.received() >= base + n).then_some(())
        });
    }

    /// Stops pinging and reports.
    pub fn stop(mut self) -> PingReport {
        let end = unix_now();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let replies = self.replies.lock().map(|v| v.clone()).unwrap_or_default();
        let mut gap: f64 = 0.0;
        for w in replies.windows(2) {
            gap = gap.max(w[1].1 - w[0].1);
        }
        if let Some(last) = replies.last() {
            gap = gap.max(end - last.1);
        }
        PingReport {
            sent: replies.iter().map(|r| r.0).max().unwrap_or(0),
            received: replies.len() as u64,
            longest_gap: gap,
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
