//! A whole Switchyard cluster on one machine, for end-to-end tests: an underlay network
//! namespace with a Linux bridge standing for the physical network, a controller
//! namespace, one namespace per node (its own ovsdb-server and ovs-vswitchd, br-ex
//! holding the node IP with the uplink veth in it), and an "outside world" namespace.
//!
//! The layout is the lab's (`deploy/lab.sh`): underlay 192.168.56.0/24, controller .10,
//! nodes .11.., outside .200. Each `Lab` lives in namespaces of its own, so parallel tests
//! can use the same addresses. Everything is torn down on drop.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::{run, unique_name, wait_for, Netns, Ovs};

pub const CONTROLLER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 10);
pub const EXTERNAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 200);
const UNDERLAY_PREFIX: u8 = 24;

/// A Switchyard binary (`yard-controller`, `yardctl`, `yard-agent`) from this workspace's
/// target directory. `./test.sh` builds them before the tests run.
pub fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("SWITCHYARD_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first (./test.sh does)",
        path.display()
    );
    path
}

/// One node: its namespace, its Open vSwitch, its underlay address.
pub struct LabNode {
    /// The name the controller knows it by: `n1`, `n2`, ...
    pub name: String,
    pub ip: Ipv4Addr,
    /// The uplink veth inside the node namespace, attached to br-ex.
    pub uplink: String,
    pub ovs: Ovs,
    pub netns: Netns,
}

impl LabNode {
    /// Runs `ovs-ofctl -O OpenFlow13 ARGS` on this node.
    pub fn ofctl(&self, args: &[&str]) -> String {
        self.ovs.ofctl(args)
    }
}

struct Daemon {
    what: String,
    child: Child,
}

/// A running cluster of namespaces. See the module docs.
pub struct Lab {
    daemons: Vec<Daemon>,
    /// The test's unique prefix; pods named with it get namespaces `yp-<pod>` that the
    /// lab removes on drop.
    pub prefix: String,
    pub dir: tempfile::TempDir,
    pub nodes: Vec<LabNode>,
    pub ctl: Netns,
    pub ext: Netns,
    pub underlay: Netns,
}

impl Lab {
    /// Builds the namespaces, the underlay and `n` nodes with Open vSwitch running
    /// (br-ex with the uplink and the node IP); no controller yet.
    pub fn new(n: usize) -> Lab {
        let prefix = unique_name("sy");
        let dir = tempfile::Builder::new()
            .prefix("switchyard-lab-")
            .tempdir()
            .expect("temp dir");
        let underlay = Netns::new(format!("{prefix}-u"));
        underlay.run(&["ip", "link", "add", "br0", "type", "bridge"]);
        underlay.run(&["ip", "link", "set", "br0", "up"]);
        let ctl = Netns::new(format!("{prefix}-ctl"));
        let ext = Netns::new(format!("{prefix}-ext"));
        let mut lab = Lab {
            daemons: Vec::new(),
            prefix,
            dir,
            nodes: Vec::new(),
            ctl,
            ext,
            underlay,
        };
        lab.plug(&lab.ctl.name.clone(), "eth0", "ctl", CONTROLLER_IP);
        lab.plug(&lab.ext.name.clone(), "eth0", "ext", EXTERNAL_IP);
        for i in 1..=n {
            lab.nodes.push(lab.make_node(i));
        }
        lab
    }

    /// A veth from namespace `ns` (end `ifname`) to the underlay bridge (end `<tag>-u`),
    /// addressed `ip/24` unless the caller moves the address (nodes put it on br-ex).
    fn plug(&self, ns: &str, ifname: &str, tag: &str, ip: Ipv4Addr) {
        let peer = format!("{tag}-u");
        let tmp = format!("{}{tag}", &self.prefix[2..]);
        run(Command::new("ip").args([
            "link",
            "add",
            &tmp,
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &self.underlay.name,
        ]));
        let inside = Netns::existing(ns);
        inside.run(&["ip", "link", "set", &tmp, "name", ifname]);
        inside.run(&["ip", "link", "set", ifname, "up"]);
        if tag == "ctl" || tag == "ext" {
            inside.run(&[
                "ip",
                "addr",
                "add",
                &format!("{ip}/{UNDERLAY_PREFIX}"),
                "dev",
                ifname,
            ]);
        }
        for (n, i) in [(&inside, ifname), (&self.underlay, peer.as_str())] {
            n.run(&["ethtool", "-K", i, "tx", "off"]);
        }
        self.underlay
            .run(&["ip", "link", "set", &peer, "master", "br0", "up"]);
    }

    fn make_node(&self, i: usize) -> LabNode {
        let name = format!("n{i}");
        let ip = Ipv4Addr::new(192, 168, 56, 10 + i as u8);
        let netns = Netns::new(format!("{}-{name}", self.prefix));
        let uplink = "eth1".to_owned();
        self.plug(&netns.name, &uplink, &name, ip);
        let mut ovs = Ovs::in_netns(&netns, &[]);
        // What an operator does before installing Switchyard: br-ex owns the uplink and
        // the node IP, so the userspace datapath can route and ARP the tunnels' underlay.
        ovs.add_bridge("br-ex");
        ovs.vsctl(&["add-port", "br-ex", &uplink]);
        // The userspace datapath reads the uplink with AF_PACKET, so the node's kernel sees
        // its frames too: it must not answer ARP for the node IP with the uplink's MAC.
        netns.run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{uplink}.arp_ignore=8"),
        ]);
        netns.run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{uplink}.disable_ipv6=1"),
        ]);
        netns.run(&[
            "ip",
            "addr",
            "add",
            &format!("{ip}/{UNDERLAY_PREFIX}"),
            "dev",
            "br-ex",
        ]);
        netns.run(&["ip", "link", "set", "br-ex", "up"]);
        ovs.add_remote(&format!("ptcp:6640:{ip}"));
        LabNode {
            name,
            ip,
            uplink,
            ovs,
            netns,
        }
    }

    /// The controller's API socket (what `yardctl` uses).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("controller.sock")
    }

    /// `unix:<socket>`, for `--controller`.
    pub fn controller_url(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    fn spawn(&mut self, what: &str, netns: &str, program: &Path, args: &[String]) {
        let log = self.dir.path().join(format!("{what}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(program)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({}): {e}", program.display()));
        self.daemons.push(Daemon {
            what: what.to_owned(),
            child,
        });
    }

    /// Starts `yard-controller` in the controller namespace and waits for its API.
    pub fn start_controller(&mut self) {
        let args = vec![
            "--state".into(),
            self.dir.path().join("state.json").display().to_string(),
            "--socket".into(),
            self.socket().display().to_string(),
        ];
        let ctl = self.ctl.name.clone();
        self.spawn("controller", &ctl, &bin("yard-controller"), &args);
        wait_for("the controller's API", Duration::from_secs(20), || {
            self.yardctl(&["status"]).status.success().then_some(())
        });
    }

    /// Stops a daemon this lab started (`controller`, `agent-n1`, ...) with SIGKILL.
    pub fn kill(&mut self, what: &str) {
        self.daemons.retain_mut(|d| {
            if d.what != what {
                return true;
            }
            let _ = d.child.kill();
            let _ = d.child.wait();
            false
        });
    }

    /// Starts `yard-agent` inside node `i`'s namespace (0-based).
    pub fn start_agent(&mut self, i: usize) {
        let node = &self.nodes[i];
        let args = vec![
            "--controller".into(),
            self.controller_url(),
            "--node".into(),
            node.name.clone(),
            "--ovsdb".into(),
            node.ovs.db_target(),
        ];
        let (what, ns) = (format!("agent-{}", node.name), node.netns.name.clone());
        self.spawn(&what, &ns, &bin("yard-agent"), &args);
    }

    /// Runs `yardctl --controller <this lab> ARGS`.
    pub fn yardctl(&self, args: &[&str]) -> Output {
        Command::new(bin("yardctl"))
            .arg("--controller")
            .arg(self.controller_url())
            .args(args)
            .output()
            .expect("run yardctl")
    }

    /// Runs `yardctl ARGS` and returns stdout; panics with stderr if it fails.
    pub fn yardctl_ok(&self, args: &[&str]) -> String {
        let out = self.yardctl(args);
        assert!(
            out.status.success(),
            "yardctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Registers every node with the controller (`yardctl node add nK --ip IP --uplink eth1`).
    pub fn add_nodes(&self) {
        for n in &self.nodes {
            self.yardctl_ok(&[
                "node",
                "add",
                &n.name,
                "--ip",
                &n.ip.to_string(),
                "--uplink",
                &n.uplink,
            ]);
        }
    }

    /// A pod name unique to this lab: `<prefix>-<short>`.
    pub fn pod_name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    /// The namespace the agent makes for a pod (docs/API.md: `yp-<pod>`).
    pub fn pod_netns(&self, pod: &str) -> Netns {
        Netns::existing(format!("yp-{pod}"))
    }

    /// The log of a daemon this lab started, for failure messages.
    pub fn log(&self, what: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{what}.log"))).unwrap_or_default()
    }
}

/// How long the end-to-end waits allow: generous, because CI machines are shared and slow;
/// every wait returns as soon as its condition holds.
pub const PATIENCE: Duration = Duration::from_secs(60);

impl Lab {
    /// A running cluster: `n` nodes, the controller, every node registered and an agent on
    /// each, with both bridges of every node connected to the controller.
    pub fn cluster(n: usize) -> Lab {
        let mut lab = Lab::new(n);
        lab.start_controller();
        lab.add_nodes();
        for i in 0..n {
            lab.start_agent(i);
        }
        lab.wait_nodes_ready();
        lab
    }

    /// Waits until every node's OVSDB session and br-int OpenFlow connection are up and its
    /// flows are in place (the classifier's miss rule exists on br-int).
    pub fn wait_nodes_ready(&self) {
        for node in &self.nodes {
            wait_for(
                &format!("node {} connected (yardctl node show)", node.name),
                PATIENCE,
                || {
                    let out = self.yardctl(&["node", "show", &node.name, "--json"]);
                    let text = String::from_utf8_lossy(&out.stdout);
                    (text.contains("\"ovsdb\": \"connected\"")
                        && text.contains("\"openflow\": \"connected\""))
                    .then_some(())
                },
            );
            let start = std::time::Instant::now();
            loop {
                let int = node
                    .ovs
                    .try_ofctl(&["dump-flows", "br-int", "table=0"])
                    .unwrap_or_default();
                let ex = node
                    .ovs
                    .try_ofctl(&["dump-flows", "br-ex"])
                    .unwrap_or_default();
                if int.contains("priority=0 actions=drop")
                    && ex.contains("priority=1 actions=NORMAL")
                {
                    break;
                }
                assert!(
                    start.elapsed() < PATIENCE,
                    "node {}'s flows are not there:\nbr-int:\n{int}\nbr-ex:\n{ex}",
                    node.name
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Adds pod `<prefix>-<short>` on node `node` (0-based) and waits until its agent reports
    /// it wired. Returns the pod's name and IP.
    pub fn add_pod(&self, short: &str, node: usize) -> (String, Ipv4Addr) {
        let name = self.pod_name(short);
        let node_name = self.nodes[node].name.clone();
        self.yardctl_ok(&["pod", "add", &name, "--node", &node_name]);
        let ip = wait_for(
            &format!("pod {name} wired on {node_name}"),
            PATIENCE,
            || {
                let out = self.yardctl(&["pod", "show", &name, "--json"]);
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                if !text.contains("\"wired\"") {
                    return None;
                }
                let ip = text
                    .split("\"ip\": \"")
                    .nth(1)?
                    .split('"')
                    .next()?
                    .parse::<Ipv4Addr>()
                    .ok()?;
                Some(ip)
            },
        );
        (name, ip)
    }

    /// Whether `ns` gets an answer to one ping to `ip` within a second.
    pub fn ping_once(ns: &Netns, ip: Ipv4Addr) -> bool {
        ns.ok(&["ping", "-c", "1", "-W", "1", &ip.to_string()])
    }

    /// Pings from `ns` to `ip` until one answer comes back (the first packets to a new
    /// tunnel peer or pod may be lost while OVS resolves the underlay); `false` after
    /// [`PATIENCE`].
    pub fn reaches(ns: &Netns, ip: Ipv4Addr) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < PATIENCE {
            if Self::ping_once(ns, ip) {
                return true;
            }
        }
        false
    }

    /// The ClusterIP the controller gave `service`.
    pub fn cluster_ip(&self, service: &str) -> String {
        let show = self.yardctl_ok(&["service", "show", service, "--json"]);
        show.split("\"cluster_ip\": \"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("service {service} has no cluster_ip: {show}"))
            .to_owned()
    }

    /// The flows of a node's bridge, as `yardctl flows` prints them.
    pub fn flows(&self, node: usize, extra: &[&str]) -> String {
        let mut args = vec!["flows", self.nodes[node].name.as_str()];
        args.extend_from_slice(extra);
        self.yardctl_ok(&args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.child.kill();
            let _ = d.child.wait();
        }
        if std::thread::panicking() {
            for d in &self.daemons {
                eprintln!("---- {} log ----\n{}", d.what, self.log(&d.what));
            }
        }
        // Pod namespaces the agents made for this lab's pods.
        if let Ok(entries) = std::fs::read_dir("/run/netns") {
            let mine = format!("yp-{}-", self.prefix);
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&mine) {
                    drop(Netns::existing(name).take_ownership());
                }
            }
        }
    }
}
