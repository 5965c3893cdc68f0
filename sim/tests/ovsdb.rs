//! The simulated OVSDB server: transactions, named UUIDs, monitors, ofports, and the same
//! transactions against a real `ovsdb-server`, compared row by row.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ovsdb::vswitch::{self, BridgeSpec, ControllerSpec, PortSpec};
use ovsdb::{Client, Value};
use serde_json::{json, Value as Json};
use switchyard_sim::ovsdb_server::{SimDb, DB, OFPP_LOCAL};
use tokio::net::TcpListener;

async fn serve(db: &Arc<SimDb>) -> Client {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(db.clone().serve(l));
    Client::connect(&format!("tcp:{addr}")).await.unwrap()
}

fn bridge(name: &str) -> BridgeSpec {
    BridgeSpec {
        name: name.into(),
        datapath_type: "netdev".into(),
        fail_mode: Some("secure".into()),
        protocols: vec!["OpenFlow13".into()],
        other_config: BTreeMap::from([("datapath-id".into(), "5359000000000101".into())]),
        external_ids: BTreeMap::from([("switchyard-node".into(), "n1".into())]),
    }
}

fn port(name: &str, kind: &str, request: Option<i64>) -> PortSpec {
    PortSpec {
        name: name.into(),
        iface_type: kind.into(),
        options: if kind == "patch" {
            BTreeMap::from([("peer".into(), "other".into())])
        } else {
            BTreeMap::new()
        },
        external_ids: BTreeMap::new(),
        ofport_request: request,
        mtu_request: None,
    }
}

fn ofports(db: &SimDb) -> BTreeMap<String, i64> {
    db.rows("Interface")
        .into_iter()
        .filter_map(|(_, r)| {
            Some((
                r.get("name")?.as_str()?.to_owned(),
                r.get("ofport")?.as_i64()?,
            ))
        })
        .collect()
}

#[test]
fn a_transaction_commits_all_or_nothing_and_resolves_named_uuids() {
    let db = SimDb::new(false);
    let ok = db.transact(&[
        json!({"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "p1"}}),
        json!({"op": "insert", "table": "Port", "uuid-name": "p", "row": {"name": "p1", "interfaces": ["named-uuid", "i"]}}),
        // The bridge refers to a named uuid inserted before it; Open_vSwitch to one inserted after.
        json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "insert", ["set", [["named-uuid", "b"]]]]]}),
        json!({"op": "insert", "table": "Bridge", "uuid-name": "b", "row": {"name": "br0", "ports": ["named-uuid", "p"]}}),
    ]);
    assert!(
        ok.as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("error").is_none()),
        "{ok}"
    );
    assert_eq!(ok[2]["count"], 1);
    let bridges = db.rows("Bridge");
    assert_eq!(bridges.len(), 1);
    let port_uuid = db.rows("Port")[0].0;
    assert_eq!(bridges[0].1["ports"].uuids(), vec![port_uuid]);

    // A duplicate name fails the commit: the first insert is not kept either.
    let dup = db.transact(&[
        json!({"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "p2"}}),
        json!({"op": "insert", "table": "Port", "uuid-name": "p", "row": {"name": "p1", "interfaces": ["named-uuid", "i"]}}),
        json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]], "mutations": [["ports", "insert", ["named-uuid", "p"]]]}),
    ]);
    let arr = dup.as_array().unwrap();
    assert_eq!(
        arr.len(),
        4,
        "one result per operation plus the commit's error: {dup}"
    );
    assert_eq!(arr[3]["error"], "constraint violation");
    assert_eq!(db.rows("Interface").len(), 1);

    // A failed wait stops the transaction at that operation.
    let wait = db.transact(&[
        json!({"op": "update", "table": "Bridge", "where": [], "row": {"fail_mode": "secure"}}),
        json!({"op": "wait", "table": "Bridge", "where": [["name", "==", "br0"]], "columns": ["fail_mode"], "until": "==", "rows": [{"fail_mode": "standalone"}], "timeout": 0}),
        json!({"op": "comment", "comment": "never reached"}),
    ]);
    assert_eq!(wait.as_array().unwrap().len(), 2);
    assert_eq!(wait[1]["error"], "timed out");
    assert!(db.rows("Bridge")[0].1["fail_mode"].same_as(&Value::empty()));

    // Removing the port from the bridge garbage-collects Port and Interface.
    let gc = db.transact(&[json!({"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "delete", ["uuid", port_uuid.to_string()]]]})]);
    assert_eq!(gc[0]["count"], 1);
    assert!(db.rows("Port").is_empty() && db.rows("Interface").is_empty());
    let aborted = db.transact(&[
        json!({"op": "delete", "table": "Bridge", "where": []}),
        json!({"op": "abort"}),
    ]);
    assert_eq!(aborted[1]["error"], "aborted");
    assert_eq!(db.rows("Bridge").len(), 1);
}

#[tokio::test]
async fn the_controllers_helpers_and_replica_work_against_it_and_ofports_are_assigned() {
    let db = SimDb::new(true);
    let client = serve(&db).await;
    assert_eq!(client.list_dbs().await.unwrap(), vec![DB.to_owned()]);
    let replica = ovsdb::Replica::start(&client, DB, controller::conn::ovsdb::REPLICA);
    tokio::time::timeout(Duration::from_secs(5), replica.ready())
        .await
        .unwrap();
    let mut changed = replica.changed();
    assert!(vswitch::ensure_bridge(&client, &bridge("br-int"))
        .await
        .unwrap());
    assert!(
        !vswitch::ensure_bridge(&client, &bridge("br-int"))
            .await
            .unwrap(),
        "idempotent"
    );
    for p in [
        port("yard0", "internal", Some(1)),
        port("patch-int-to-ex", "patch", Some(2)),
        port("yard-gnv", "geneve", Some(4096)),
        port("pod-a", "", None),
        port("pod-b", "", None),
    ] {
        assert!(vswitch::ensure_port(&client, "br-int", &p).await.unwrap());
    }
    assert!(vswitch::set_controllers(
        &client,
        "br-int",
        &[ControllerSpec {
            target: "tcp:127.0.0.1:6653".into(),
            connection_mode: Some("out-of-band".into()),
            inactivity_probe_ms: Some(5000),
            max_backoff_ms: Some(2000),
        }]
    )
    .await
    .unwrap());
    let want = BTreeMap::from([
        ("br-int".to_owned(), OFPP_LOCAL),
        ("yard0".to_owned(), 1),
        ("patch-int-to-ex".to_owned(), 2),
        ("yard-gnv".to_owned(), 4096),
        ("pod-a".to_owned(), 3),
        ("pod-b".to_owned(), 4),
    ]);
    assert_eq!(ofports(&db), want);
    // The replica (monitor_cond_since, update3 diffs) catches up with all of it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got: BTreeMap<String, i64> = replica
            .rows("Interface")
            .iter()
            .filter_map(|r| Some((r.get_str("name")?.to_owned(), r.get_i64("ofport")?)))
            .collect();
        let ctl = replica.rows("Controller");
        if got == want && ctl.len() == 1 && ctl[0].get_str("target") == Some("tcp:127.0.0.1:6653") {
            break;
        }
        assert!(Instant::now() < deadline, "replica has {got:?}");
        let _ = tokio::time::timeout(deadline - Instant::now(), changed.changed()).await;
    }
    let br = &replica.rows("Bridge")[0];
    assert_eq!(
        br.get_map("other_config")["datapath-id"],
        "5359000000000101"
    );
    assert_eq!(
        db.rows("Bridge")[0].1["datapath_id"].as_str(),
        Some("5359000000000101"),
        "vswitchd reports the requested datapath id"
    );
    // The agent's wait for an ofport (monitor_cond with a where clause) sees it.
    let p = vswitch::wait_ofport(&client, "pod-b", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(p, 4);
    // A removed port frees its number for the next one.
    assert!(vswitch::remove_port(&client, "br-int", "pod-a")
        .await
        .unwrap());
    vswitch::ensure_port(&client, "br-int", &port("pod-c", "", None))
        .await
        .unwrap();
    assert_eq!(ofports(&db)["pod-c"], 3);
    assert!(db.transacts() > 10);
}

#[tokio::test]
async fn a_plain_monitor_gets_update_notifications() {
    let db = SimDb::new(true);
    let client = serve(&db).await;
    let reqs = ovsdb::MonitorRequests::from([(
        "Bridge".to_owned(),
        ovsdb::MonitorRequest::columns(&["name", "fail_mode"]),
    )]);
    let (initial, mut rx) = client.monitor(DB, reqs).await.unwrap();
    assert!(initial.tables["Bridge"].is_empty());
    vswitch::ensure_bridge(&client, &bridge("br-ex"))
        .await
        .unwrap();
    let u = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let rows: Vec<_> = u.tables["Bridge"].values().collect();
    assert!(matches!(rows[0], ovsdb::RowUpdate::Insert(r) if r["name"].as_str() == Some("br-ex")));
    client.echo().await.unwrap();
}

/// Runs the same transactions on `client`; returns every raw transact result.
async fn scenario(client: &Client) -> Vec<Json> {
    let mut raw = Vec::new();
    let t = |ops: Json| async move {
        let mut params = vec![json!(DB)];
        params.extend(ops.as_array().unwrap().iter().cloned());
        client.call("transact", Json::Array(params)).await.unwrap()
    };
    raw.push(t(json!([{"op": "insert", "table": "Open_vSwitch", "row": {}}])).await);
    vswitch::ensure_bridge(client, &bridge("br-int"))
        .await
        .unwrap();
    vswitch::ensure_bridge(client, &bridge("br-ex"))
        .await
        .unwrap();
    for p in [
        port("yard0", "internal", Some(1)),
        port("patch-int-to-ex", "patch", Some(2)),
        port("yard-gnv", "geneve", Some(4096)),
    ] {
        vswitch::ensure_port(client, "br-int", &p).await.unwrap();
    }
    vswitch::set_controllers(
        client,
        "br-int",
        &[ControllerSpec {
            target: "tcp:127.0.0.1:6653".into(),
            connection_mode: Some("out-of-band".into()),
            inactivity_probe_ms: Some(5000),
            max_backoff_ms: Some(2000),
        }],
    )
    .await
    .unwrap();
    vswitch::set_controllers(
        client,
        "br-ex",
        &[ControllerSpec {
            target: "ptcp:6654:127.1.0.1".into(),
            ..ControllerSpec::default()
        }],
    )
    .await
    .unwrap();
    vswitch::set_flow_table_names(
        client,
        "br-int",
        &[(0, "classifier"), (10, "port-security")],
    )
    .await
    .unwrap();
    // The agent's attach, as yard-agent does it.
    let agent = agent::ovs::OvsdbPorts::new(client.clone(), "br-int");
    for (pod, ip) in [("web-1", [10, 244, 1, 3]), ("web-2", [10, 244, 1, 4])] {
        use agent::ovs::PortAttach;
        let ip = std::net::Ipv4Addr::from(ip);
        agent
            .attach(&agent::ovs::PodPort {
                name: agent::host_if_name(pod),
                pod: pod.into(),
                ip,
                mac: switchyard_api::MacAddr::from_ipv4(ip),
                netns: format!("yp-{pod}"),
            })
            .await
            .unwrap();
    }
    vswitch::remove_port(client, "br-int", &agent::host_if_name("web-1"))
        .await
        .unwrap();
    // Raw operations, errors included: a map mutation by key, a duplicate, a failed wait,
    // a dangling reference, an unknown column.
    raw.push(t(json!([{"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
        "mutations": [["external_ids", "insert", ["map", [["a", "1"], ["switchyard-node", "ignored"]]]],
                      ["other_config", "delete", ["set", ["nope"]]]]}])).await);
    raw.push(
        t(
            json!([{"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
        "mutations": [["external_ids", "delete", ["map", [["a", "2"]]]]]}]),
        )
        .await,
    );
    raw.push(t(json!([{"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "yard0"}},
        {"op": "insert", "table": "Port", "uuid-name": "p", "row": {"name": "dup", "interfaces": ["named-uuid", "i"]}},
        {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-ex"]], "mutations": [["ports", "insert", ["named-uuid", "p"]]]}])).await);
    raw.push(t(json!([{"op": "wait", "table": "Bridge", "where": [["name", "==", "br-int"]], "columns": ["fail_mode"],
        "until": "!=", "rows": [{"fail_mode": "secure"}], "timeout": 0}])).await);
    raw.push(
        t(
            json!([{"op": "update", "table": "Bridge", "where": [["name", "==", "br-ex"]],
        "row": {"ports": ["set", [["uuid", "5cd2aba3-e39d-4c63-b2d4-9daebad98724"]]]}}]),
        )
        .await,
    );
    raw.push(t(json!([{"op": "select", "table": "Bridge", "where": [["name", "==", "br-ex"]], "columns": ["name", "fail_mode", "protocols"]},
        {"op": "select", "table": "Interface", "where": [["external_ids", "includes", ["map", [["switchyard-pod", "web-2"]]]]], "columns": ["name"]},
        {"op": "delete", "table": "Flow_Table", "where": [["name", "==", "classifier"]]},
        {"op": "comment", "comment": "x"}])).await);
    raw
}

/// Every row of the tables we touch, references replaced by the referenced row's name, so
/// two databases with different UUIDs compare equal when their contents do.
async fn dump(client: &Client) -> BTreeMap<String, Vec<Json>> {
    let schema: Json = serde_json::from_str(switchyard_sim::ovsdb_server::SCHEMA).unwrap();
    let tables: Vec<(String, Vec<String>)> = schema["tables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, v)| {
            (
                t.clone(),
                v["columns"].as_object().unwrap().keys().cloned().collect(),
            )
        })
        .collect();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut all: BTreeMap<String, Vec<serde_json::Map<String, Json>>> = BTreeMap::new();
    for (t, cols) in &tables {
        let mut c = cols.clone();
        c.push("_uuid".into());
        let r = client
            .call(
                "transact",
                json!([DB, {"op": "select", "table": t, "where": [], "columns": c}]),
            )
            .await
            .unwrap();
        let rows: Vec<serde_json::Map<String, Json>> = r[0]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect();
        for row in &rows {
            let key = ["name", "target"]
                .iter()
                .find_map(|k| row.get(*k).and_then(Json::as_str))
                .map_or_else(|| t.clone(), |n| format!("{t}:{n}"));
            names.insert(row["_uuid"][1].as_str().unwrap().to_owned(), key);
        }
        all.insert(t.clone(), rows);
    }
    fn rename(j: &Json, names: &BTreeMap<String, String>) -> Json {
        match j {
            Json::Array(a) if a.len() == 2 && a[0] == "uuid" => {
                json!([
                    "ref",
                    names
                        .get(a[1].as_str().unwrap_or(""))
                        .cloned()
                        .unwrap_or_default()
                ])
            }
            Json::Array(a) if a.len() == 2 && (a[0] == "set" || a[0] == "map") => {
                let mut items: Vec<Json> = a[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| rename(x, names))
                    .collect();
                items.sort_by_key(|x| x.to_string());
                json!([a[0], items])
            }
            Json::Array(a) => Json::Array(a.iter().map(|x| rename(x, names)).collect()),
            other => other.clone(),
        }
    }
    all.into_iter()
        .map(|(t, rows)| {
            let mut out: Vec<Json> = rows
                .into_iter()
                .map(|mut r| {
                    r.remove("_uuid");
                    // Columns only ovs-vswitchd fills (a real server alone leaves them empty).
                    Json::Object(
                        r.into_iter()
                            .map(|(k, v)| (k, rename(&v, &names)))
                            .collect(),
                    )
                })
                .collect();
            out.sort_by_key(|x| x.to_string());
            (t, out)
        })
        .collect()
}

/// A result with UUIDs blanked and error `details` dropped (their wording differs).
fn shape(j: &Json) -> Json {
    match j {
        Json::Object(o) => Json::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "details")
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if k == "uuid" { json!("UUID") } else { shape(v) },
                    )
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn ovsdb_server() -> Option<std::path::PathBuf> {
    ["/usr/sbin/ovsdb-server", "/usr/bin/ovsdb-server"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

async fn real_server(dir: &Path, bin: &Path) -> (tokio::process::Child, Client) {
    let schema = Path::new("/usr/share/openvswitch/vswitch.ovsschema");
    let db = dir.join("conf.db");
    let st = std::process::Command::new("ovsdb-tool")
        .arg("create")
        .arg(&db)
        .arg(schema)
        .status()
        .expect("running ovsdb-tool");
    assert!(st.success(), "ovsdb-tool create failed");
    let sock = dir.join("db.sock");
    let child = tokio::process::Command::new(bin)
        .arg(&db)
        .arg(format!("--remote=punix:{}", sock.display()))
        .arg(format!("--unixctl={}", dir.join("ctl").display()))
        .arg(format!(
            "--log-file={}",
            dir.join("ovsdb-server.log").display()
        ))
        .arg("--no-chdir")
        .kill_on_drop(true)
        .spawn()
        .expect("starting ovsdb-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    let target = format!("unix:{}", sock.display());
    let client = loop {
        if sock.exists() {
            if let Ok(c) = Client::connect(&target).await {
                break c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "ovsdb-server did not come up on {target}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (child, client)
}

#[tokio::test]
async fn the_same_transactions_leave_the_same_rows_as_a_real_ovsdb_server() {
    let Some(bin) = ovsdb_server() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("ovsdb-server is not installed (CI=true): install openvswitch-switch (deploy/install-deps.sh)");
        }
        println!("SKIP: ovsdb-server is not installed (deploy/install-deps.sh installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_child, real) = real_server(dir.path(), &bin).await;
    // No simulated vswitchd: a lone ovsdb-server assigns no ofports either.
    let sim_db = SimDb::empty(false, 7);
    let sim = serve(&sim_db).await;
    let real_raw = scenario(&real).await;
    let sim_raw = scenario(&sim).await;
    for (i, (r, s)) in real_raw.iter().zip(&sim_raw).enumerate() {
        assert_eq!(
            shape(s),
            shape(r),
            "transaction {i}: sim vs real ovsdb-server"
        );
    }
    let (r, s) = (dump(&real).await, dump(&sim).await);
    // The scenario left rows in every table it touched (so the comparison means something).
    for (t, n) in [
        ("Bridge", 2),
        ("Port", 6),
        ("Interface", 6),
        ("Controller", 2),
        ("Flow_Table", 2),
        ("Open_vSwitch", 1),
    ] {
        assert_eq!(r[t].len(), n, "real ovsdb-server's {t} rows: {:?}", r[t]);
    }
    for t in r.keys() {
        assert_eq!(s[t], r[t], "table {t}: sim vs real ovsdb-server");
    }
}
