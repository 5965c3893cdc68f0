//! Host-side setup and teardown in a namespace standing for the node, with a veth `yard0`
//! in place of the OVS internal port the controller creates.

use std::net::Ipv4Addr;
use std::time::Duration;

use agent::host::{setup_host, teardown_host, HostSpec, MGMT_IF};
use agent::NodeNet;
use switchyard_tests::{ovs_available, unique_name, Netns};

fn spec() -> HostSpec {
    HostSpec {
        node: "n3".into(),
        mgmt_if: MGMT_IF.into(),
        mgmt_ip: Ipv4Addr::new(10, 244, 3, 2),
        mgmt_mac: Some("0a:58:0a:f4:03:02".parse().unwrap()),
        subnet: "10.244.3.0/24".parse().unwrap(),
        router_ip: Ipv4Addr::new(10, 244, 3, 1),
        mtu: 1400,
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/16".parse().unwrap(),
    }
}

/// A stand-in for the OVS internal port `yard0` (no dummy module on these kernels: a veth).
fn add_mgmt_port(node: &Netns) {
    node.run(&[
        "ip",
        "link",
        "add",
        MGMT_IF,
        "type",
        "veth",
        "peer",
        "name",
        "yard0-peer",
    ]);
}

/// The OVS-test prerequisites plus the `nft` command (a failure, not a skip, under CI=true).
fn nft_available() -> bool {
    if !ovs_available() {
        return false;
    }
    let ok = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("nft not found: install nftables");
    }
    if !ok {
        eprintln!("SKIP: nft not found (apt-get install nftables)");
    }
    ok
}

#[test]
fn host_setup_is_idempotent_and_teardown_removes_it() {
    if !nft_available() {
        return;
    }
    let node = Netns::new(unique_name("hn"));
    add_mgmt_port(&node);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        let s = spec();
        let first = setup_host(&net, &s, Duration::from_secs(30)).await.unwrap();
        assert!(
            first.mgmt_changed && first.routes_changed == 2 && first.nat_changed,
            "{first:?}"
        );
        let addr = node.run(&["ip", "addr", "show", "dev", MGMT_IF]);
        assert!(
            addr.contains("inet 10.244.3.2/24") && addr.contains("mtu 1400"),
            "{addr}"
        );
        assert!(addr.contains("link/ether 0a:58:0a:f4:03:02"), "{addr}");
        let routes = node.run(&["ip", "route", "show"]);
        assert!(
            routes.contains("10.244.0.0/16 via 10.244.3.1 dev yard0"),
            "{routes}"
        );
        assert!(
            routes.contains("10.96.0.0/16 via 10.244.3.1 dev yard0"),
            "{routes}"
        );
        assert_eq!(
            node.run(&["sysctl", "-n", "net.ipv4.ip_forward"]).trim(),
            "1"
        );
        let table = node.run(&["nft", "list", "table", "ip", "switchyard"]);
        assert!(
            table.contains("ip saddr 10.244.3.0/24 ip daddr != 10.244.0.0/16 masquerade"),
            "{table}"
        );

        let again = setup_host(&net, &s, Duration::from_secs(30)).await.unwrap();
        assert!(!again.changed(), "{again:?}");
        assert_eq!(
            node.run(&["nft", "list", "table", "ip", "switchyard"]),
            table
        );

        teardown_host(&net, &s).await.unwrap();
        assert!(!node.ok(&["nft", "list", "table", "ip", "switchyard"]));
        let routes = node.run(&["ip", "route", "show"]);
        assert!(!routes.contains("10.244.0.0/16"), "{routes}");
        assert!(!node
            .run(&["ip", "addr", "show", "dev", MGMT_IF])
            .contains("10.244.3.2"));
        teardown_host(&net, &s).await.unwrap();
    });
}

#[test]
fn missing_management_port_is_a_clear_error() {
    if !ovs_available() {
        return;
    }
    let node = Netns::new(unique_name("hn"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        let e = setup_host(&net, &spec(), Duration::from_millis(200))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("node n3") && e.contains("yard0 did not appear"),
            "{e}"
        );
    });
}

#[test]
fn masquerade_lets_a_pod_reach_an_outside_address_until_teardown() {
    if !nft_available() {
        return;
    }
    let node = Netns::new(unique_name("hn"));
    let outside = Netns::new(unique_name("ho"));
    // node up0 192.168.77.1 <-> outside eth0 192.168.77.2; the outside has no route back
    // to pod addresses, so only a masqueraded packet gets an answer.
    let up = unique_name("hu");
    node.run(&[
        "ip",
        "link",
        "add",
        &up,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &outside.name,
    ]);
    node.run(&["ip", "addr", "add", "192.168.77.1/24", "dev", &up]);
    node.run(&["ip", "link", "set", &up, "up"]);
    outside.run(&["ip", "addr", "add", "192.168.77.2/24", "dev", "eth0"]);
    outside.run(&["ip", "link", "set", "eth0", "up"]);
    add_mgmt_port(&node);
    let pod = unique_name("hp");
    let pod_ns = format!("yp-{pod}");
    let _pod_guard = PodGuard(pod_ns.clone());
    let mut s = spec();
    s.mgmt_ip = Ipv4Addr::new(10, 244, 3, 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let host_if = rt.block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        setup_host(&net, &s, Duration::from_secs(30)).await.unwrap();
        let mut p = agent::PodSpec::new(
            &pod,
            Ipv4Addr::new(10, 244, 3, 3),
            24,
            Ipv4Addr::new(10, 244, 3, 1),
        );
        p.subnet = Some(s.subnet);
        net.wire(&p).await.unwrap();
        p.host_if
    });
    // Stand-in for br-int's router: the host end answers for .1 and routes .3 back.
    node.run(&["ip", "addr", "add", "10.244.3.1/32", "dev", &host_if]);
    node.run(&["ip", "route", "add", "10.244.3.3/32", "dev", &host_if]);
    let p = Netns::existing(pod_ns.clone());
    switchyard_tests::wait_for(
        "masqueraded ping to the outside",
        Duration::from_secs(30),
        || {
            p.ok(&["ping", "-c", "1", "-W", "1", "192.168.77.2"])
                .then_some(())
        },
    );
    rt.block_on(async {
        let net = NodeNet::in_netns(&node.path()).await.unwrap();
        teardown_host(&net, &s).await.unwrap();
    });
    assert!(
        !p.ok(&["ping", "-c", "2", "-W", "1", "192.168.77.2"]),
        "answered without masquerade"
    );
}

/// Removes a pod namespace the agent made, also when the test fails.
struct PodGuard(String);

impl Drop for PodGuard {
    fn drop(&mut self) {
        if std::path::Path::new("/run/netns").join(&self.0).exists() {
            drop(Netns::existing(self.0.clone()).take_ownership());
        }
    }
}
