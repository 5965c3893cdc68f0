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
        subnet: "10.244.3.0/24".parse().unwrap(),
        router_ip: Ipv4Addr::new(10, 244, 3, 1),
        mtu: 1400,
        cluster_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/16".parse().unwrap(),
    }
}

#[test]
fn host_setup_is_idempotent_and_teardown_removes_it() {
    if !ovs_available()
        || switchyard_tests::try_run(std::process::Command::new("nft").arg("--version"))
            .status
            .code()
            != Some(0)
    {
        return;
    }
    let node = Netns::new(unique_name("hn"));
    // No dummy module on these kernels: a veth stands in.
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
