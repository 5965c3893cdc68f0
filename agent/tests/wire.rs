//! wire_pod / unwire_pod in real namespaces: a "node" namespace made by the test (the agent
//! operates in it through a netlink socket opened there) and pod namespaces the agent makes.

use std::net::Ipv4Addr;
use std::time::Duration;

use agent::netns;
use agent::ovs::{OvsdbPorts, PortAttach, VsctlPorts};
use agent::{NetnsRef, NodeNet, PodSpec, Wirer};
use switchyard_tests::{ovs_available, unique_name, wait_for, Netns, Ovs};

/// Removes the pod namespaces a test asked the agent to make, also when the test fails.
struct PodNs(Vec<String>);

impl Drop for PodNs {
    fn drop(&mut self) {
        for n in &self.0 {
            if std::path::Path::new("/run/netns").join(n).exists() {
                drop(Netns::existing(n.clone()).take_ownership());
            }
        }
    }
}

fn spec(name: &str, host: u8) -> PodSpec {
    let mut s = PodSpec::new(
        name,
        Ipv4Addr::new(10, 244, 1, host),
        24,
        Ipv4Addr::new(10, 244, 1, 1),
    );
    s.netns = NetnsRef::Named(format!("yp-{name}"));
    s.subnet = Some("10.244.1.0/24".parse().unwrap());
    s.routes = vec!["10.96.0.0/16".parse().unwrap()];
    s
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn ip_n(ns: &str, args: &[&str]) -> String {
    switchyard_tests::run(
        std::process::Command::new("ip")
            .arg("-n")
            .arg(ns)
            .args(args),
    )
}

#[test]
fn wire_shows_address_mac_mtu_and_routes_and_unwire_removes_everything() {
    if !ovs_available() {
        return;
    }
    let node = Netns::new(unique_name("wn"));
    let pod = unique_name("wp");
    let _guard = PodNs(vec![format!("yp-{pod}")]);
    let s = spec(&pod, 3);
    rt().block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        let first = net.wire(&s).await.unwrap();
        assert!(first.created);
        let ns = format!("yp-{pod}");
        let addr = ip_n(&ns, &["addr", "show", "dev", "eth0"]);
        assert!(addr.contains("inet 10.244.1.3/24"), "{addr}");
        assert!(addr.contains("link/ether 0a:58:0a:f4:01:03"), "{addr}");
        assert!(addr.contains("mtu 1400"), "{addr}");
        assert!(addr.contains("state UP") || addr.contains(",UP"), "{addr}");
        let routes = ip_n(&ns, &["route", "show"]);
        assert!(
            routes.contains("default via 10.244.1.1 dev eth0"),
            "{routes}"
        );
        assert!(
            routes.contains("10.96.0.0/16 via 10.244.1.1 dev eth0"),
            "{routes}"
        );
        let lo = ip_n(&ns, &["link", "show", "lo"]);
        assert!(lo.contains(",UP"), "{lo}");
        let host = node.run(&["ip", "link", "show", &s.host_if]);
        assert!(host.contains("mtu 1400") && host.contains(",UP"), "{host}");
        assert!(
            host.contains(&format!("alias switchyard-pod={pod}")),
            "{host}"
        );
        let feat = node.run(&["ethtool", "-k", &s.host_if]);
        assert!(feat.contains("tx-checksumming: off"), "{feat}");
        let feat = switchyard_tests::run(
            std::process::Command::new("ip").args(["netns", "exec", &ns, "ethtool", "-k", "eth0"]),
        );
        assert!(feat.contains("tx-checksumming: off"), "{feat}");

        // Repeating changes nothing.
        let again = net.wire(&s).await.unwrap();
        assert!(!again.created && !again.changed, "{again:?}");
        assert_eq!(ip_n(&ns, &["addr", "show", "dev", "eth0"]), addr);
        assert_eq!(ip_n(&ns, &["route", "show"]), routes);

        net.unwire(&s).await.unwrap();
        assert!(!node.ok(&["ip", "link", "show", &s.host_if]));
        assert!(!std::path::Path::new("/run/netns").join(&ns).exists());
        // Unwiring what is absent is fine.
        net.unwire(&s).await.unwrap();
    });
}

#[test]
fn partial_wiring_is_repaired() {
    if !ovs_available() {
        return;
    }
    let node = Netns::new(unique_name("wn"));
    let pod = unique_name("wp");
    let ns = format!("yp-{pod}");
    let _guard = PodNs(vec![ns.clone()]);
    let s = spec(&pod, 4);
    rt().block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        // Crash after the pair was made, before the move: both ends in the node namespace,
        // the namespace made but empty.
        node.run(&[
            "ip",
            "link",
            "add",
            &s.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &format!("z{}", &s.host_if[1..]),
        ]);
        node.run(&[
            "ip",
            "link",
            "set",
            &s.host_if,
            "alias",
            &format!("switchyard-pod={pod}"),
        ]);
        netns::create(&s.netns.path()).unwrap();
        let out = net.wire(&s).await.unwrap();
        assert!(out.created);
        assert!(ip_n(&ns, &["addr", "show", "dev", "eth0"]).contains("inet 10.244.1.4/24"));
        assert!(!node.ok(&["ip", "link", "show", &format!("z{}", &s.host_if[1..])]));

        // Crash later: the address and default route were lost, MTU wrong, eth0 down.
        ip_n(&ns, &["addr", "flush", "dev", "eth0"]);
        ip_n(&ns, &["link", "set", "eth0", "down", "mtu", "1300"]);
        let out = net.wire(&s).await.unwrap();
        assert!(!out.created && out.changed);
        let addr = ip_n(&ns, &["addr", "show", "dev", "eth0"]);
        assert!(
            addr.contains("inet 10.244.1.4/24") && addr.contains("mtu 1400"),
            "{addr}"
        );
        assert!(ip_n(&ns, &["route", "show"]).contains("default via 10.244.1.1"));

        // The host end vanished (its peer with it): made again.
        node.run(&["ip", "link", "del", &s.host_if]);
        assert!(net.wire(&s).await.unwrap().created);
        assert!(node.ok(&["ip", "link", "show", &s.host_if]));
        net.unwire(&s).await.unwrap();
    });
}

#[test]
fn bad_input_changes_nothing_and_names_the_pod() {
    if !ovs_available() {
        return;
    }
    let node = Netns::new(unique_name("wn"));
    let pod = unique_name("wp");
    let _guard = PodNs(vec![format!("yp-{pod}")]);
    rt().block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        let before = node.run(&["ip", "-o", "link"]);
        let mut outside = spec(&pod, 5);
        outside.ip = Ipv4Addr::new(10, 244, 2, 5);
        let e = net.wire(&outside).await.unwrap_err().to_string();
        assert!(
            e.contains(&pod) && e.contains("outside the node subnet"),
            "{e}"
        );
        let mut mcast = spec(&pod, 5);
        mcast.mac = "01:00:5e:00:00:01".parse().unwrap();
        assert!(net
            .wire(&mcast)
            .await
            .unwrap_err()
            .to_string()
            .contains("multicast"));
        let mut long = spec(&pod, 5);
        long.ifname = "much-too-long-name".into();
        assert!(net
            .wire(&long)
            .await
            .unwrap_err()
            .to_string()
            .contains("characters"));
        let mut gone = spec(&pod, 5);
        gone.netns = NetnsRef::Path(format!("/run/netns/{pod}-gone").into());
        let e = net.wire(&gone).await.unwrap_err();
        assert!(
            format!("{e}: {}", std::error::Error::source(&e).unwrap()).contains("does not exist"),
            "{e}"
        );
        assert_eq!(node.run(&["ip", "-o", "link"]), before);
        assert!(!std::path::Path::new("/run/netns")
            .join(format!("yp-{pod}"))
            .exists());
    });
}

/// Two pods on an OVS bridge (userspace datapath) in a node namespace, attached with `ports`.
fn ovs_bridge_case<P: PortAttach, F: std::future::Future<Output = P>>(
    make: impl FnOnce(String) -> F,
) {
    let node = Netns::new(unique_name("wn"));
    let ovs = Ovs::in_netns(&node, &[]);
    ovs.add_bridge("br-int");
    // Plain L2 for this test: the controller's pipeline is not part of the agent.
    ovs.ofctl(&["add-flow", "br-int", "actions=NORMAL"]);
    let (a, b) = (unique_name("wa"), unique_name("wb"));
    let _guard = PodNs(vec![format!("yp-{a}"), format!("yp-{b}")]);
    let (sa, sb) = (spec(&a, 10), spec(&b, 11));
    rt().block_on(async {
        let wirer = Wirer::new(
            NodeNet::in_netns(&node.path()).await.unwrap(),
            make(ovs.db_target()).await,
        );
        let wa = wirer.wire(&sa).await.unwrap();
        let wb = wirer.wire(&sb).await.unwrap();
        assert!(wa.ofport > 0 && wb.ofport > 0 && wa.ofport != wb.ofport);
        let ids = ovs.vsctl(&["get", "Interface", &sa.host_if, "external_ids"]);
        assert!(
            ids.contains(&format!("switchyard-pod={a}"))
                || ids.contains(&format!("switchyard-pod=\"{a}\"")),
            "{ids}"
        );
        assert!(
            ids.contains("10.244.1.10") && ids.contains("0a:58:0a:f4:01:0a"),
            "{ids}"
        );
        let pa = Netns::existing(format!("yp-{a}"));
        wait_for("ping from pod a to pod b", Duration::from_secs(30), || {
            pa.ok(&["ping", "-c", "1", "-W", "1", "10.244.1.11"])
                .then_some(())
        });
        // Wiring again changes nothing, on either half.
        let again = wirer.wire(&sa).await.unwrap();
        assert_eq!(again.ofport, wa.ofport);
        assert!(!again.outcome.created && !again.outcome.changed);
        let owned = wirer.ports.pod_ports().await.unwrap();
        assert_eq!(owned.len(), 2, "{owned:?}");

        // A crash that lost the veth but left the port: wiring again brings traffic back.
        node.run(&["ip", "link", "del", &sb.host_if]);
        let rewired = wirer.wire(&sb).await.unwrap();
        assert!(rewired.outcome.created && rewired.ofport > 0);
        wait_for("ping after repair", Duration::from_secs(30), || {
            pa.ok(&["ping", "-c", "1", "-W", "1", "10.244.1.11"])
                .then_some(())
        });
        let up = node.run(&["ip", "link", "show", &sb.host_if]);
        assert!(up.contains(",UP"), "the repaired host end must be up: {up}");

        wirer.unwire(&sa).await.unwrap();
        wirer.unwire(&sb).await.unwrap();
        let ports = ovs.vsctl(&["list-ports", "br-int"]);
        assert!(ports.trim().is_empty(), "{ports}");
        assert!(!node.ok(&["ip", "link", "show", &sa.host_if]));
        wirer.unwire(&sa).await.unwrap();
    });
}

#[test]
fn two_pods_on_an_ovs_bridge_ping_each_other_and_unwire_removes_the_ports() {
    if !ovs_available() {
        return;
    }
    ovs_bridge_case(|db| async move { VsctlPorts::new(db, "br-int") });
}

#[test]
fn ovsdb_attach_binds_the_pod_like_ovs_vsctl_does() {
    if !ovs_available() {
        return;
    }
    ovs_bridge_case(|db| async move { OvsdbPorts::connect(&db, "br-int").await.unwrap() });
}

#[test]
fn two_pods_on_a_linux_bridge_ping_each_other() {
    if !ovs_available() {
        return;
    }
    let node = Netns::new(unique_name("wn"));
    node.run(&["ip", "link", "add", "br0", "type", "bridge"]);
    node.run(&["ip", "link", "set", "br0", "up"]);
    let (a, b) = (unique_name("wa"), unique_name("wb"));
    let _guard = PodNs(vec![format!("yp-{a}"), format!("yp-{b}")]);
    let (sa, sb) = (spec(&a, 20), spec(&b, 21));
    rt().block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        net.wire(&sa).await.unwrap();
        net.wire(&sb).await.unwrap();
    });
    for s in [&sa, &sb] {
        node.run(&["ip", "link", "set", &s.host_if, "master", "br0"]);
    }
    let pa = Netns::existing(format!("yp-{a}"));
    wait_for(
        "ping across the Linux bridge",
        Duration::from_secs(30),
        || {
            pa.ok(&["ping", "-c", "1", "-W", "1", "10.244.1.21"])
                .then_some(())
        },
    );
    rt().block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        net.unwire(&sa).await.unwrap();
        net.unwire(&sb).await.unwrap();
    });
}
