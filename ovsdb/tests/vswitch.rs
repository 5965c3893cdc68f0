//! The Open_vSwitch helpers against a real ovsdb-server (and ovs-vswitchd for ofports):
//! what they make is what `ovs-vsctl` sees, and repeating them changes nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{connect, dump, LONG};
use ovsdb::vswitch::{
    bridge_ports, ensure_bridge, ensure_port, interfaces, remove_bridge, remove_port,
    set_controllers, set_flow_table_names, wait_ofport, BridgeSpec, ControllerSpec, PortSpec,
};
use ovsdb::{Client, Error};
use switchyard_tests::{ovs_available, unique_name, Netns, Ovs};

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn bridge(name: &str) -> BridgeSpec {
    BridgeSpec {
        name: name.to_owned(),
        datapath_type: "netdev".into(),
        fail_mode: Some("secure".into()),
        protocols: vec!["OpenFlow13".into()],
        other_config: map(&[("disable-in-band", "true")]),
        external_ids: map(&[("switchyard", "yes")]),
    }
}

fn port(name: &str, kind: &str, options: &[(&str, &str)]) -> PortSpec {
    PortSpec {
        name: name.to_owned(),
        iface_type: kind.to_owned(),
        options: map(options),
        external_ids: map(&[("switchyard-owner", "test")]),
        ..PortSpec::default()
    }
}

/// Everything a node's setup does, in one go; returns how many calls changed something.
async fn node_setup(c: &Client, int: &str, ex: &str, p: &str) -> usize {
    let mut changed = vec![
        ensure_bridge(c, &bridge(int)).await.unwrap(),
        ensure_bridge(c, &bridge(ex)).await.unwrap(),
        ensure_port(
            c,
            int,
            &port(&format!("{p}i"), "patch", &[("peer", &format!("{p}e"))]),
        )
        .await
        .unwrap(),
        ensure_port(
            c,
            ex,
            &port(&format!("{p}e"), "patch", &[("peer", &format!("{p}i"))]),
        )
        .await
        .unwrap(),
        ensure_port(
            c,
            int,
            &port(
                &format!("{p}g"),
                "geneve",
                &[
                    ("remote_ip", "192.168.56.12"),
                    ("key", "flow"),
                    ("csum", "true"),
                ],
            ),
        )
        .await
        .unwrap(),
        ensure_port(
            c,
            int,
            &PortSpec {
                mtu_request: Some(1400),
                ..port(&format!("{p}y"), "internal", &[])
            },
        )
        .await
        .unwrap(),
        ensure_port(c, ex, &port(&format!("{p}u"), "", &[]))
            .await
            .unwrap(),
        set_controllers(
            c,
            int,
            &[ControllerSpec {
                target: "tcp:127.0.0.1:6653".into(),
                connection_mode: Some("out-of-band".into()),
                inactivity_probe_ms: Some(5000),
                max_backoff_ms: Some(2000),
            }],
        )
        .await
        .unwrap(),
        set_flow_table_names(
            c,
            int,
            &[(0, "classifier"), (10, "port-security"), (60, "l2-forward")],
        )
        .await
        .unwrap(),
    ];
    changed.retain(|c| *c);
    changed.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpers_make_what_vsctl_shows_and_repeating_them_changes_nothing() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let c = connect(&ovs).await;
    let (int, ex, p) = (unique_name("hi"), unique_name("he"), unique_name("p"));
    assert_eq!(node_setup(&c, &int, &ex, &p).await, 9);

    let show = ovs.vsctl(&["show"]);
    for want in [
        format!("Bridge {int}"),
        format!("Bridge {ex}"),
        "Controller \"tcp:127.0.0.1:6653\"".to_owned(),
        "fail_mode: secure".to_owned(),
        format!("options: {{peer={p}e}}"),
        "options: {csum=\"true\", key=flow, remote_ip=\"192.168.56.12\"}".to_owned(),
        format!("Port {p}u"),
    ] {
        assert!(show.contains(&want), "missing {want:?} in\n{show}");
    }
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &int, "protocols"]).trim(),
        "[OpenFlow13]"
    );
    assert_eq!(
        ovs.vsctl(&["get", "Interface", &format!("{p}y"), "mtu_request", "type"])
            .trim(),
        "1400\ninternal"
    );
    assert_eq!(
        ovs.vsctl(&["get", "Controller", &int, "connection_mode"])
            .trim(),
        "out-of-band"
    );
    let tables = ovs.vsctl(&["--columns=name", "list", "Flow_Table"]);
    assert!(tables.contains("port-security"), "{tables}");
    assert_eq!(
        bridge_ports(&c, &int).await.unwrap(),
        [
            format!("{p}g"),
            format!("{p}i"),
            format!("{p}y"),
            int.clone()
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );

    // Repeating every call changes nothing, down to the byte.
    let before = dump(&ovs);
    assert_eq!(node_setup(&c, &int, &ex, &p).await, 0);
    assert_eq!(dump(&ovs), before);

    // Keys set by someone else survive; a changed option is updated in place.
    ovs.vsctl(&["--no-wait", "set", "Bridge", &int, "other_config:foreign=1"]);
    let gnv = port(
        &format!("{p}g"),
        "geneve",
        &[("remote_ip", "192.168.56.13"), ("key", "flow")],
    );
    assert!(ensure_port(&c, &int, &gnv).await.unwrap());
    assert!(!ensure_port(&c, &int, &gnv).await.unwrap());
    assert!(!ensure_bridge(&c, &bridge(&int)).await.unwrap());
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &int, "other_config:foreign"])
            .trim(),
        "\"1\""
    );
    assert_eq!(
        ovs.vsctl(&["get", "Interface", &format!("{p}g"), "options"])
            .trim(),
        "{key=flow, remote_ip=\"192.168.56.13\"}"
    );

    // A port of the same name on the other bridge is moved, not duplicated.
    assert!(ensure_port(&c, &ex, &gnv).await.unwrap());
    assert!(!bridge_ports(&c, &int)
        .await
        .unwrap()
        .contains(&format!("{p}g")));
    assert!(bridge_ports(&c, &ex)
        .await
        .unwrap()
        .contains(&format!("{p}g")));
    assert_eq!(ovs.vsctl(&["port-to-br", &format!("{p}g")]).trim(), ex);

    // The bridge's own internal port comes back if someone removed it.
    assert!(remove_port(&c, &int, &int).await.unwrap());
    assert!(!bridge_ports(&c, &int).await.unwrap().contains(&int));
    assert!(ensure_bridge(&c, &bridge(&int)).await.unwrap());
    assert!(bridge_ports(&c, &int).await.unwrap().contains(&int));
    // A bridge cannot take the name of a port elsewhere.
    let e = ensure_bridge(&c, &bridge(&format!("{p}y")))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!("a port named {p}y exists")),
        "{e}"
    );

    // Renaming a flow table touches only that table.
    assert!(set_flow_table_names(&c, &int, &[(10, "port-sec")])
        .await
        .unwrap());
    assert!(
        !set_flow_table_names(&c, &int, &[(0, "classifier"), (10, "port-sec")])
            .await
            .unwrap()
    );
    let tables = ovs.vsctl(&["--columns=name", "list", "Flow_Table"]);
    assert!(
        tables.contains("port-sec")
            && !tables.contains("port-security")
            && tables.contains("l2-forward"),
        "{tables}"
    );

    // Controllers are replaced only when different.
    assert!(set_controllers(&c, &int, &[]).await.unwrap());
    assert!(!set_controllers(&c, &int, &[]).await.unwrap());
    assert!(!ovs.vsctl(&["show"]).contains("Controller"));

    // Removal; absent is Ok(false).
    assert!(remove_port(&c, &ex, &format!("{p}g")).await.unwrap());
    assert!(!remove_port(&c, &ex, &format!("{p}g")).await.unwrap());
    assert!(ovs
        .vsctl(&["--columns=name", "list", "Interface"])
        .lines()
        .all(|l| !l.contains(&format!("{p}g"))));
    assert!(remove_bridge(&c, &ex).await.unwrap());
    assert!(!remove_bridge(&c, &ex).await.unwrap());
    assert!(!ovs.vsctl(&["list-br"]).contains(&ex));
    let e = bridge_ports(&c, &ex).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                table: "Bridge",
                ..
            }
        ) && e.to_string().contains(&ex),
        "{e}"
    );
    let e = ensure_port(&c, &ex, &gnv).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_create_no_duplicates_and_lose_no_port() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let br = unique_name("hc");
    let c = connect(&ovs).await;
    ensure_bridge(&c, &bridge(&br)).await.unwrap();
    // Separate connections, so the server really interleaves the transactions.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let c = Client::connect(&ovs.db_target()).await.unwrap();
        let br = br.clone();
        tasks.push(tokio::spawn(async move {
            ensure_bridge(&c, &bridge(&br)).await.unwrap();
            ensure_port(&c, &br, &port(&format!("{br}s"), "internal", &[]))
                .await
                .unwrap();
            ensure_port(&c, &br, &port(&format!("{br}{i}"), "internal", &[]))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ports = bridge_ports(&c, &br).await.unwrap();
    assert_eq!(ports.len(), 8, "{ports:?}");
    assert_eq!(
        ovs.vsctl(&["list-br"]).lines().filter(|l| *l == br).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ofport_returns_the_port_vswitchd_assigns() {
    if !ovs_available() {
        return;
    }
    // In a namespace of its own: the userspace datapath's `ovs-netdev` tap device (and
    // the ports' taps) would clash with any other ovs-vswitchd in the root namespace.
    let ns = Netns::new(unique_name("ho"));
    let ovs = Ovs::in_netns(&ns, &[]);
    let c = connect(&ovs).await;
    let br = unique_name("ho");
    ensure_bridge(&c, &bridge(&br)).await.unwrap();
    let a = format!("{br}a");
    let b = format!("{br}b");
    ensure_port(
        &c,
        &br,
        &PortSpec {
            ofport_request: Some(7),
            ..port(&a, "internal", &[])
        },
    )
    .await
    .unwrap();
    ensure_port(&c, &br, &port(&b, "internal", &[]))
        .await
        .unwrap();
    assert_eq!(wait_ofport(&c, &a, LONG).await.unwrap(), 7);
    let pb = wait_ofport(&c, &b, LONG).await.unwrap();
    assert!(pb > 0 && pb != 7, "{pb}");
    let all = interfaces(&c).await.unwrap();
    let ib = all.iter().find(|i| i.name == b).unwrap();
    assert_eq!(ib.ofport, Some(pb));
    assert_eq!(ib.iface_type, "internal");
    assert_eq!(
        ib.external_ids.get("switchyard-owner").map(String::as_str),
        Some("test")
    );
    // ovs-vswitchd fills mac_in_use shortly after the ofport; wait for it.
    let mac = tokio::time::timeout(LONG, async {
        loop {
            let all = interfaces(&c).await.unwrap();
            if let Some(m) = all
                .iter()
                .find(|i| i.name == a)
                .and_then(|i| i.mac_in_use.clone())
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(mac.len(), 17, "{mac}");
    assert!(ovs.ofctl(&["show", &br]).contains(&format!("7({a})")));

    // A system port whose device does not exist never gets one; the error says why.
    let ghost = format!("{br}x");
    ensure_port(&c, &br, &port(&ghost, "", &[])).await.unwrap();
    let e = wait_ofport(&c, &ghost, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Timeout { what, .. } if what.contains(&ghost)),
        "{e:?}"
    );
}
