//! `deploy/lab.sh` end to end: `up` builds the lab's namespaces, Open vSwitch per node,
//! the controller and the nodes' registration; `status` and `exec` work on it; a second
//! `up` leaves it alone; `down` removes every namespace, process and file, and is safe to
//! run twice. Each test runs its own lab (unique LAB_PREFIX, LAB_DIR, LAB_SOCKET) with the
//! binaries of this build (LAB_BIN_DIR), so it can run next to the other tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use switchyard_tests::cluster::bin;
use switchyard_tests::{ovs_available, unique_name, Netns};

/// One lab made by the script; `down` runs on drop, also when the test fails.
struct LabScript {
    prefix: String,
    dir: PathBuf,
    socket: PathBuf,
    tmp: tempfile::TempDir,
}

impl LabScript {
    fn new() -> LabScript {
        let tmp = tempfile::Builder::new()
            .prefix("switchyard-labsh-")
            .tempdir()
            .expect("temp dir");
        LabScript {
            prefix: unique_name("lb"),
            dir: tmp.path().join("lab"),
            socket: tmp.path().join("controller.sock"),
            tmp,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_bins(bin("yardctl").parent().expect("bin dir"), args)
    }

    /// Runs `lab.sh ARGS` with the binaries in `bins` (LAB_BIN_DIR).
    fn run_with_bins(&self, bins: &Path, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/lab.sh");
        Command::new("bash")
            .arg(script)
            .args(args)
            .env("LAB_PREFIX", &self.prefix)
            .env("LAB_DIR", &self.dir)
            .env("LAB_SOCKET", &self.socket)
            .env("LAB_BIN_DIR", bins)
            .output()
            .expect("run deploy/lab.sh")
    }

    /// The last 60 lines of a log in the lab directory, for failure messages.
    fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Runs `lab.sh ARGS`, asserts it succeeded and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "lab.sh {args:?} failed ({}):\n{stdout}\n{}\n---- controller log (end) ----\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log_tail("controller.log")
        );
        stdout
    }

    /// The namespaces whose names start with this lab's prefix.
    fn namespaces(&self) -> Vec<String> {
        let list = std::fs::read_dir("/run/netns")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let mine = format!("{}-", self.prefix);
        list.into_iter().filter(|n| n.starts_with(&mine)).collect()
    }

    /// Runs `down` and asserts it left no namespace, process, state directory (OVS
    /// databases, logs) or API socket; then runs it again, which has nothing to do.
    fn down_leaves_nothing(&self) {
        let pids = self.recorded_pids();
        let names: Vec<&str> = pids.iter().map(|(_, c)| c.as_str()).collect();
        assert!(
            names.contains(&"ovs-vswitchd"),
            "no daemon recorded before down: {pids:?}"
        );
        self.ok(&["down"]);
        assert_eq!(
            self.namespaces(),
            Vec::<String>::new(),
            "namespaces left behind"
        );
        assert!(!self.dir.exists(), "{} left behind", self.dir.display());
        assert!(
            !self.socket.exists(),
            "{} left behind",
            self.socket.display()
        );
        for (pid, name) in &pids {
            assert!(!alive(*pid, name), "{name} (pid {pid}) still runs");
        }
        let twice = self.ok(&["down"]);
        assert!(twice.contains("nothing to remove"), "{twice}");
    }

    /// Every pid the lab recorded (controller, agents, OVS daemons), with its command name.
    fn recorded_pids(&self) -> Vec<(u32, String)> {
        let mut files = Vec::new();
        collect_pid_files(&self.dir, &mut files);
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok()?.trim().parse().ok())
            .filter_map(|pid: u32| Some((pid, comm(pid)?)))
            .collect()
    }
}

impl Drop for LabScript {
    fn drop(&mut self) {
        let out = self.run(&["down"]);
        if std::thread::panicking() {
            eprintln!(
                "---- lab.sh down ----\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

fn collect_pid_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_pid_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "pid") {
            out.push(p);
        }
    }
}

/// True if `pid` is a live process named `name`; a zombie (exited, not yet reaped by
/// its parent) is not live.
fn alive(pid: u32, name: &str) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let zombie = state
        .lines()
        .any(|l| l.starts_with("State:") && (l.contains("Z (") || l.contains("X (")));
    comm(pid).as_deref() == Some(name) && !zombie
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The root namespace's IPv4 addresses and routes, which the lab must not touch.
fn root_network() -> String {
    let mut out = String::new();
    for args in [
        &["-4", "-o", "addr", "show"][..],
        &["-4", "route", "show", "table", "all"][..],
    ] {
        let o = Command::new("ip").args(args).output().expect("ip");
        out.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    out
}

#[test]
fn lab_up_without_demo_runs_the_cluster_and_down_leaves_nothing() {
    if !ovs_available() {
        return;
    }
    let before = root_network();
    let lab = LabScript::new();
    let up = lab.ok(&["up", "--nodes", "2", "--no-demo"]);
    assert!(up.contains("lab up: 2 nodes"), "{up}");

    let mut ns = lab.namespaces();
    ns.sort();
    let p = &lab.prefix;
    let want: Vec<String> = ["ctl", "ext", "n1", "n2", "underlay"]
        .iter()
        .map(|s| format!("{p}-{s}"))
        .collect();
    assert_eq!(ns, want);

    let status = lab.ok(&["status"]);
    assert!(
        status.contains("controller") && status.contains("running"),
        "{status}"
    );
    assert!(status.contains("192.168.56.12"), "{status}");

    // A node's OVS tools find that node's daemons, as on a real node.
    let show = lab.ok(&["exec", "n1", "--", "ovs-vsctl", "show"]);
    assert!(
        show.contains("Bridge br-ex") && show.contains("Port eth1"),
        "{show}"
    );
    let flows = lab.ok(&[
        "exec",
        "n2",
        "--",
        "ovs-ofctl",
        "-O",
        "OpenFlow13",
        "dump-flows",
        "br-ex",
    ]);
    assert!(flows.contains("OFPST_FLOW reply"), "{flows}");
    lab.ok(&[
        "exec",
        "n1",
        "--",
        "ovs-appctl",
        "-t",
        "ovs-vswitchd",
        "version",
    ]);

    // The underlay connects the outside world and the controller to the nodes' br-ex.
    for (from, to) in [("ext", "192.168.56.11"), ("ctl", "192.168.56.12")] {
        lab.ok(&["exec", from, "--", "ping", "-c", "1", "-w", "10", to]);
    }
    let unknown = lab.run(&["exec", "n9", "--", "true"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no node or pod named n9"));

    // The nodes are registered with the lab's controller.
    let nodes = Command::new(bin("yardctl"))
        .arg("--controller")
        .arg(format!("unix:{}", lab.socket.display()))
        .args(["node", "list"])
        .output()
        .expect("yardctl");
    let nodes = String::from_utf8_lossy(&nodes.stdout);
    assert!(
        nodes.contains("n1") && nodes.contains("192.168.56.12"),
        "{nodes}"
    );

    // A second up leaves the running lab alone.
    let again = lab.ok(&["up", "--nodes", "2", "--no-demo"]);
    assert!(again.contains("already up"), "{again}");
    assert_eq!(lab.namespaces().len(), 5);

    let pids = lab.recorded_pids();
    let names: Vec<&str> = pids.iter().map(|(_, c)| c.as_str()).collect();
    for daemon in [
        "yard-controller",
        "yard-agent",
        "ovsdb-server",
        "ovs-vswitchd",
    ] {
        assert!(names.contains(&daemon), "{daemon} not running: {pids:?}");
    }
    lab.down_leaves_nothing();
    assert_eq!(
        root_network(),
        before,
        "the lab changed the root namespace's addresses or routes"
    );
}

/// The lines of `prove` that say what passed, e.g. `ping matrix: 12/12 ok`.
fn assert_proved(out: &str, pings: usize, nodeports: usize) {
    for want in [
        format!("ping matrix: {pings}/{pings} ok"),
        format!("nodeport: {nodeports}/{nodeports} ok"),
        "PROOF OK".to_owned(),
    ] {
        assert!(out.contains(&want), "no '{want}' in:\n{out}");
    }
}

#[test]
fn lab_up_proves_pods_and_nodeport_and_survives_restarts() {
    if !ovs_available() {
        return;
    }
    let lab = LabScript::new();
    // Two pods per node: 4 pods ping the 3 others; a curl to each node's NodePort.
    let up = lab.ok(&["up", "--nodes", "2"]);
    assert_proved(&up, 12, 2);
    assert!(up.contains("hello from n"), "{up}");

    let flows = lab.ok(&[
        "exec",
        "n1",
        "--",
        "ovs-ofctl",
        "-O",
        "OpenFlow13",
        "dump-flows",
        "br-int",
    ]);
    assert!(
        flows.lines().filter(|l| l.contains("cookie=")).count() > 10,
        "{flows}"
    );
    lab.ok(&[
        "exec",
        "n1-a",
        "--",
        "ping",
        "-c",
        "1",
        "-w",
        "10",
        "10.244.2.3",
    ]);

    // Resilience drills: each daemon comes back and the cluster works again.
    for what in [&["controller"][..], &["agent", "n1"], &["ovs", "n2"]] {
        let mut args = vec!["restart"];
        args.extend_from_slice(what);
        lab.ok(&args);
        let proof = lab.ok(&["prove"]);
        assert_proved(&proof, 12, 2);
    }

    lab.down_leaves_nothing();
}

#[test]
fn lab_up_with_four_nodes_proves_every_pair() {
    if !ovs_available() {
        return;
    }
    let lab = LabScript::new();
    let up = lab.ok(&["up", "--nodes", "4"]);
    // 8 pods, each pinging the 7 others; 4 NodePorts.
    assert_proved(&up, 56, 4);
    lab.down_leaves_nothing();
}

#[test]
fn down_after_a_failed_up_removes_what_it_made() {
    if !ovs_available() {
        return;
    }
    // A controller that exits at once: `up` fails after the namespaces and OVS exist.
    let lab = LabScript::new();
    let bins = lab.tmp.path().join("bin");
    std::fs::create_dir(&bins).expect("bin dir");
    let fake = bins.join("yard-controller");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'cannot bind the API socket' >&2\nexit 1\n",
    )
    .expect("fake");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&fake, mode).expect("chmod");
    for real in ["yardctl", "yard-agent"] {
        std::os::unix::fs::symlink(bin(real), bins.join(real)).expect("symlink");
    }
    let out = lab.run_with_bins(&bins, &["up", "--no-demo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "up with a broken controller succeeded"
    );
    assert!(stderr.contains("the controller did not start"), "{stderr}");
    assert!(stderr.contains("cannot bind the API socket"), "{stderr}");
    assert!(
        !lab.namespaces().is_empty(),
        "the failed up made no namespace at all"
    );

    lab.down_leaves_nothing();
}

#[test]
fn up_refuses_a_namespace_it_did_not_make_and_leaves_it_alone() {
    if !ovs_available() {
        return;
    }
    let lab = LabScript::new();
    let foreign = Netns::new(format!("{}-n2", lab.prefix));
    let out = lab.run(&["up", "--no-demo"]);
    assert!(!out.status.success(), "up ran over a foreign namespace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("namespace {} exists", foreign.name)),
        "{stderr}"
    );
    lab.ok(&["down"]);
    assert_eq!(
        lab.namespaces(),
        vec![foreign.name.clone()],
        "down touched a foreign namespace"
    );
}
