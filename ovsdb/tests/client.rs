//! The client against a real ovsdb-server: transactions, monitors, the replica, TCP,
//! echo both ways, reconnect after the server dies, and a peer that sends garbage.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{add_tcp_remote, connect, quick, restart_db, wait_state, DB, LONG};
use ovsdb::{
    Client, ClientConfig, Condition, ConnState, Error, MonitorRequest, MonitorRequests, Mutation,
    Op, Replica, RowMap, RowUpdate, TableUpdates, Value,
};
use switchyard_tests::{ovs_available, run, unique_name, Ovs};

fn insert_bridge(name: &str) -> Vec<Op> {
    vec![
        Op::Insert {
            table: "Bridge".into(),
            row: RowMap::from([
                ("name".into(), Value::string(name)),
                ("protocols".into(), Value::set(["OpenFlow13"])),
                (
                    "external_ids".into(),
                    Value::string_map(&BTreeMap::from([("owner".to_owned(), "test".to_owned())])),
                ),
            ]),
            uuid_name: Some("br".into()),
        },
        Op::Mutate {
            table: "Open_vSwitch".into(),
            where_: vec![],
            mutations: vec![Mutation::insert("bridges", Value::named_uuid("br"))],
        },
    ]
}

async fn next(rx: &mut ovsdb::MonitorReceiver) -> TableUpdates {
    tokio::time::timeout(LONG, rx.recv())
        .await
        .expect("monitor update within 60 s")
        .expect("monitor alive")
}

fn bridge_names(u: &TableUpdates) -> Vec<String> {
    u.tables
        .get("Bridge")
        .into_iter()
        .flat_map(|rows| rows.values())
        .filter_map(|r| match r {
            RowUpdate::Insert(r) | RowUpdate::Modify { new: r, .. } => {
                r["name"].as_str().map(str::to_owned)
            }
            RowUpdate::Delete(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transacts_over_unix_socket_and_vsctl_sees_the_result() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let client = connect(&ovs).await;
    assert!(client.list_dbs().await.unwrap().contains(&DB.to_owned()));
    let schema = client.get_schema(DB).await.unwrap();
    assert!(schema.tables["Bridge"].columns["ports"].is_composite());

    let name = unique_name("tb");
    let r = client.transact(DB, insert_bridge(&name)).await.unwrap();
    assert!(r[0].uuid.is_some());
    assert_eq!(r[1].count, Some(1));
    let show = ovs.vsctl(&["--no-wait", "show"]);
    assert!(show.contains(&format!("Bridge {name}")), "{show}");
    assert_eq!(
        ovs.vsctl(&["--no-wait", "get", "Bridge", &name, "external_ids:owner"])
            .trim(),
        "test"
    );

    let sel = client
        .transact(
            DB,
            vec![Op::Select {
                table: "Bridge".into(),
                where_: vec![Condition::eq("name", name.as_str())],
                columns: Some(vec!["_uuid".into(), "protocols".into()]),
            }],
        )
        .await
        .unwrap();
    let rows = sel[0].rows.as_ref().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["_uuid"].as_uuid(), r[0].uuid);
    assert!(rows[0]["protocols"].same_as(&Value::set(["OpenFlow13"])));

    // A rejected transaction names the operation, the table and the server's words.
    let mut bad = insert_bridge("tbad");
    if let Op::Insert { row, .. } = &mut bad[0] {
        row.insert("fail_mode".into(), Value::string("bogus"));
    }
    match client.transact(DB, bad).await.unwrap_err() {
        Error::Transaction {
            op_index: 0,
            op: "insert",
            table: Some(t),
            error,
            details,
        } => {
            assert_eq!(t, "Bridge");
            assert_eq!(error, "constraint violation");
            assert!(details.unwrap_or_default().contains("bogus"));
        }
        e => panic!("unexpected {e:?}"),
    }
    // A unique-index clash is only found at commit: reported past the last operation.
    let e = client.transact(DB, insert_bridge(&name)).await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Transaction {
                op_index: 2,
                op: "commit",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("constraint violation"), "{e}");
    // Unknown methods are an Rpc error, and the connection stays usable.
    assert!(matches!(
        client.call("frobnicate", serde_json::json!([])).await,
        Err(Error::Rpc { .. })
    ));
    client.echo().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_matched_to_their_replies() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let client = connect(&ovs).await;
    let calls = (0..300).map(|i| {
        let c = client.clone();
        tokio::spawn(async move {
            (
                i,
                c.call("echo", serde_json::json!([i, format!("x{i}")]))
                    .await
                    .unwrap(),
            )
        })
    });
    for h in calls.collect::<Vec<_>>() {
        let (i, r) = h.await.unwrap();
        assert_eq!(r, serde_json::json!([i, format!("x{i}")]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_over_tcp_and_answers_the_servers_echo() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    // The server probes an idle client every 2 s and drops it if a probe goes
    // unanswered for another 2 s.
    let target = add_tcp_remote(&ovs, 2000);
    let cfg = ClientConfig {
        echo_interval: Duration::from_secs(3600),
        ..ClientConfig::default()
    };
    let client = Client::connect_with(&target, cfg).await.unwrap();
    let name = unique_name("tt");
    client.transact(DB, insert_bridge(&name)).await.unwrap();
    assert!(ovs
        .vsctl(&["--no-wait", "list-br"])
        .lines()
        .any(|l| l == name));
    // Idle for several of the server's probe intervals: we must still be on the
    // first connection, because we answered its echo requests.
    tokio::time::sleep(Duration::from_secs(7)).await;
    client.echo().await.unwrap();
    assert_eq!(
        *client.connection_events().borrow(),
        ConnState::Connected { generation: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_see_changes_made_by_vsctl() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let client = connect(&ovs).await;
    let reqs = MonitorRequests::from([(
        "Bridge".to_owned(),
        MonitorRequest::columns(&["name", "protocols", "other_config", "fail_mode", "ports"]),
    )]);
    let (init2, mut rx2) = client.monitor_cond(DB, reqs.clone()).await.unwrap();
    let (init1, mut rx1) = client.monitor(DB, reqs).await.unwrap();
    assert!(init2.initial && init1.initial);
    assert!(init2.tables["Bridge"].is_empty());

    let name = unique_name("tm");
    ovs.vsctl(&[
        "--no-wait",
        "add-br",
        &name,
        "--",
        "set",
        "Bridge",
        &name,
        "protocols=OpenFlow13",
        "other_config:a=1",
    ]);
    for rx in [&mut rx2, &mut rx1] {
        let u = next(rx).await;
        assert!(!u.initial);
        assert_eq!(bridge_names(&u), vec![name.clone()]);
    }
    ovs.vsctl(&[
        "--no-wait",
        "set",
        "Bridge",
        &name,
        "protocols=OpenFlow13,OpenFlow14",
        "fail_mode=secure",
        "other_config:b=2",
    ]);
    for rx in [&mut rx2, &mut rx1] {
        let u = next(rx).await;
        let RowUpdate::Modify { old, new } = u.tables["Bridge"].values().next().unwrap() else {
            panic!("{u:?}")
        };
        assert!(old["fail_mode"].same_as(&Value::empty()));
        assert!(new["fail_mode"].same_as(&Value::string("secure")));
        assert!(new["protocols"].same_as(&Value::set(["OpenFlow13", "OpenFlow14"])));
        assert_eq!(new["other_config"].string_map_entries().len(), 2);
        assert_eq!(new["ports"].uuids().len(), 1, "the bridge's internal port");
    }
    client.monitor_cancel(&rx1);
    assert!(tokio::time::timeout(LONG, rx1.recv())
        .await
        .unwrap()
        .is_none());
    ovs.vsctl(&["--no-wait", "del-br", &name]);
    let u = next(&mut rx2).await;
    assert!(matches!(
        u.tables["Bridge"].values().next(),
        Some(RowUpdate::Delete(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_server_restart_with_monitors_and_replica_refreshed() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let client = Client::connect_with(&ovs.db_target(), quick())
        .await
        .unwrap();
    let mut events = client.connection_events();
    let replica = Replica::start(&client, DB, &[("Bridge", &["name", "external_ids"])]);
    let reqs = MonitorRequests::from([("Bridge".to_owned(), MonitorRequest::columns(&["name"]))]);
    let (_, mut rx) = client.monitor_cond(DB, reqs).await.unwrap();
    tokio::time::timeout(LONG, replica.ready()).await.unwrap();

    let before = unique_name("ra");
    ovs.vsctl(&["--no-wait", "add-br", &before]);
    assert_eq!(bridge_names(&next(&mut rx).await), vec![before.clone()]);

    ovs.kill("ovsdb-server");
    wait_state(&mut events, "disconnect", |s| {
        !matches!(s, ConnState::Connected { .. })
    })
    .await;
    // While down, calls fail fast instead of hanging.
    let e = tokio::time::timeout(LONG, client.list_dbs())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::Disconnected { .. }), "{e:?}");

    // A change made while the server is down (straight into the file).
    let during = unique_name("rd");
    let txn = serde_json::json!([DB,
        {"op": "insert", "table": "Bridge", "row": {"name": during}, "uuid-name": "b"},
        {"op": "mutate", "table": "Open_vSwitch", "where": [],
         "mutations": [["bridges", "insert", ["set", [["named-uuid", "b"]]]]]}]);
    run(Command::new("ovsdb-tool")
        .arg("transact")
        .arg(ovs.path().join("conf.db"))
        .arg(txn.to_string()));
    let changed_before = *replica.changed().borrow();
    restart_db(&ovs);

    let s = wait_state(&mut events, "reconnect", |s| {
        matches!(s, ConnState::Connected { .. })
    })
    .await;
    assert_eq!(s, ConnState::Connected { generation: 2 });
    // The monitor comes back by itself, with the full fresh state marked initial.
    let u = next(&mut rx).await;
    assert!(u.initial, "{u:?}");
    let mut names = bridge_names(&u);
    names.sort();
    let mut want = vec![before.clone(), during.clone()];
    want.sort();
    assert_eq!(names, want);
    // The replica too.
    let mut changed = replica.changed();
    tokio::time::timeout(LONG, changed.wait_for(|v| *v > changed_before))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(LONG, async {
        while replica
            .find("Bridge", "name", &Value::string(during.as_str()))
            .is_empty()
        {
            changed.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    client
        .transact(DB, insert_bridge(&unique_name("rc")))
        .await
        .unwrap();
    assert!(!bridge_names(&next(&mut rx).await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_detected_by_echo_and_reconnected() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let cfg = ClientConfig {
        echo_interval: Duration::from_millis(300),
        ..quick()
    };
    let client = Client::connect_with(&ovs.db_target(), cfg).await.unwrap();
    let mut events = client.connection_events();
    let pid = ovs.pid("ovsdb-server").unwrap().to_string();
    struct Cont(String);
    impl Drop for Cont {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-CONT", &self.0]).status();
        }
    }
    run(Command::new("kill").args(["-STOP", &pid]));
    let cont = Cont(pid);
    let s = wait_state(&mut events, "echo timeout", |s| {
        matches!(s, ConnState::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(&s, ConnState::Disconnected { reason } if reason.contains("echo")),
        "{s:?}"
    );
    drop(cont);
    wait_state(
        &mut events,
        "reconnect",
        |s| matches!(s, ConnState::Connected { generation } if *generation >= 2),
    )
    .await;
    // Connected may be published before the server is fully back; retry briefly.
    tokio::time::timeout(LONG, async {
        while client.echo().await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_peer_is_an_error_not_a_panic() {
    // A fake server on a unix socket: no OVS needed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await; // the client's request
        s.write_all(b"{\"id\":1,\"result\":[\"x\"],\"error\":null} this is not JSON")
            .await
            .unwrap();
        let _ = s.read(&mut buf).await; // keep open until the client hangs up
    });
    let client = Client::connect_with(&format!("unix:{}", path.display()), quick())
        .await
        .unwrap();
    let mut events = client.connection_events();
    assert_eq!(client.list_dbs().await.unwrap(), vec!["x".to_owned()]);
    let s = wait_state(&mut events, "disconnect", |s| {
        matches!(s, ConnState::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(&s, ConnState::Disconnected { reason } if reason.contains("malformed")),
        "{s:?}"
    );
    server.abort();
    // Bad targets are refused up front with a clear message.
    let e = Client::connect("ssl:127.0.0.1:6640").await.unwrap_err();
    assert!(e.to_string().contains("not supported yet"), "{e}");
    let e = Client::connect(&format!("unix:{}/nothing.sock", dir.path().display()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_cond_since_reports_changes_and_a_fresh_state_after_restart() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let client = Client::connect_with(&ovs.db_target(), quick())
        .await
        .unwrap();
    let mut events = client.connection_events();
    let reqs = MonitorRequests::from([(
        "Bridge".to_owned(),
        MonitorRequest::columns(&["name", "external_ids"]),
    )]);
    let (init, mut rx) = client.monitor_cond_since(DB, reqs).await.unwrap();
    assert!(init.initial && init.tables["Bridge"].is_empty());
    let name = unique_name("ts");
    ovs.vsctl(&[
        "--no-wait",
        "add-br",
        &name,
        "--",
        "set",
        "Bridge",
        &name,
        "external_ids:a=1",
    ]);
    let u = next(&mut rx).await;
    assert_eq!(bridge_names(&u), vec![name.clone()]);
    ovs.vsctl(&["--no-wait", "set", "Bridge", &name, "external_ids:b=2"]);
    let u = next(&mut rx).await;
    let RowUpdate::Modify { new, .. } = u.tables["Bridge"].values().next().unwrap() else {
        panic!("{u:?}")
    };
    assert_eq!(new["external_ids"].string_map_entries().len(), 2);

    ovs.kill("ovsdb-server");
    wait_state(&mut events, "disconnect", |s| {
        !matches!(s, ConnState::Connected { .. })
    })
    .await;
    restart_db(&ovs);
    let u = next(&mut rx).await;
    assert!(u.initial, "{u:?}");
    assert_eq!(bridge_names(&u), vec![name]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_are_granted_stolen_and_asserted() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let a = connect(&ovs).await;
    let b = connect(&ovs).await;
    let mut a_events = a.lock_events();
    let mut b_events = b.lock_events();
    let lock = unique_name("lk");
    assert!(a.lock(&lock).await.unwrap());
    assert!(!b.lock(&lock).await.unwrap());
    let assert_op = || {
        vec![
            Op::Assert { lock: lock.clone() },
            Op::Comment("guarded".into()),
        ]
    };
    a.transact(DB, assert_op()).await.unwrap();
    let e = b.transact(DB, assert_op()).await.unwrap_err();
    assert!(
        matches!(&e, Error::Transaction { op_index: 0, op: "assert", error, .. } if error == "not owner"),
        "{e:?}"
    );

    // A session waiting for the lock must stop waiting before it may steal.
    b.unlock(&lock).await.unwrap();
    b.steal(&lock).await.unwrap();
    // (ovsdb-server also sends `locked` for a lock granted at once; skip those.)
    tokio::time::timeout(LONG, async {
        while a_events.recv().await.unwrap() != ovsdb::LockEvent::Stolen(lock.clone()) {}
    })
    .await
    .unwrap();
    b.transact(DB, assert_op()).await.unwrap();
    a.transact(DB, assert_op()).await.unwrap_err();
    b.unlock(&lock).await.unwrap();
    a.unlock(&lock).await.unwrap();
    assert!(a.lock(&lock).await.unwrap());
    a.transact(DB, assert_op()).await.unwrap();
    // A server error on a lock call reads as the server said it.
    let e = b.steal(&lock).await.and(b.steal(&lock).await).unwrap_err();
    assert!(e.to_string().contains("must issue \"unlock\""), "{e}");
    while let Ok(ev) = b_events.try_recv() {
        assert!(
            matches!(ev, ovsdb::LockEvent::Locked(_)),
            "b never lost its lock: {ev:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_client_waits_for_a_server_that_comes_up_later() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    ovs.kill("ovsdb-server");
    let client = Client::start(&ovs.db_target(), quick()).unwrap();
    let mut events = client.connection_events();
    // Nobody there yet: calls fail at once, the client keeps trying.
    let e = tokio::time::timeout(LONG, client.echo())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, Error::Disconnected { target } if *target == ovs.db_target()),
        "{e:?}"
    );
    assert!(e.to_string().contains("not connected"), "{e}");
    wait_state(&mut events, "a failed attempt", |s| {
        matches!(s, ConnState::Disconnected { .. })
    })
    .await;
    restart_db(&ovs);
    wait_state(&mut events, "connected", |s| {
        *s == ConnState::Connected { generation: 1 }
    })
    .await;
    assert!(client.list_dbs().await.unwrap().contains(&DB.to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_closes_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let client = Client::connect(&format!("unix:{}", path.display()))
        .await
        .unwrap();
    let (mut server_side, _) = listener.accept().await.unwrap();
    let clone = client.clone();
    drop(client);
    // Still open while a clone lives: the server's echo is answered.
    server_side
        .write_all(br#"{"id":"echo","method":"echo","params":["hi"]}"#)
        .await
        .unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(LONG, server_side.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"id": "echo", "result": ["hi"], "error": null})
    );
    drop(clone);
    let n = tokio::time::timeout(LONG, server_side.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "connection closed after the last handle went away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_a_missing_table_says_why_it_is_empty() {
    if !ovs_available() {
        return;
    }
    let ovs = Ovs::db_only();
    let client = connect(&ovs).await;
    let replica = Replica::start(client, DB, &[("Bridge", &["name"]), ("Brigde", &[])]);
    let why = tokio::time::timeout(LONG, async {
        loop {
            if let Some(e) = replica.last_error() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert!(why.contains("Brigde"), "{why}");
    assert_eq!(*replica.changed().borrow(), 0);
}
