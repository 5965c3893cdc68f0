//! A service with 5 000 backends through the control plane: accepted in one request, resolved
//! for the data plane, persisted and read back. Prints how long each step took (run with
//! `--nocapture` to see); asserts only on results, never on time.

use std::sync::Arc;
use std::time::Instant;

use controller::config::ClusterOverrides;
use controller::state::ClusterState;
use controller::store::{FileStore, MemoryStore, Store};
use switchyard_api::{Client, NewNode, NewPod, NewService, PodName};

const BACKENDS: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_5000_backends_is_accepted_resolved_and_persisted() {
    // /20 node subnets hold 4 093 pods each: two nodes are enough.
    let overrides = ClusterOverrides {
        node_prefix_len: Some(20),
        ..Default::default()
    };
    let state = ClusterState::open(Arc::new(MemoryStore::default()), &overrides).unwrap();
    for (name, ip) in [("n1", "192.168.56.11"), ("n2", "192.168.56.12")] {
        let node = NewNode {
            name: name.parse().unwrap(),
            ip: ip.parse().unwrap(),
            uplink: None,
            datapath: None,
        };
        state.add_node(node).await.unwrap();
    }
    let reqs: Vec<NewPod> = (0..BACKENDS)
        .map(|i| NewPod {
            name: format!("p{i}").parse().unwrap(),
            node: if i % 2 == 0 { "n1" } else { "n2" }.parse().unwrap(),
            netns: None,
        })
        .collect();
    let revision = state.revision();
    let started = Instant::now();
    let added = state.add_pods(reqs).await.unwrap();
    let add_pods = started.elapsed();
    assert_eq!(state.revision(), revision + 1);
    assert_eq!(added.len(), BACKENDS);
    // Pod 4999 is the 2500th on n2 (10.244.32.0/20): offset 3 + 2499.
    assert_eq!(added[BACKENDS - 1].ip.to_string(), "10.244.41.198");
    let pods: Vec<PodName> = added.into_iter().map(|p| p.name).collect();

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let options = controller::server::ApiOptions {
        socket: socket.clone(),
        listen: None,
        token: None,
    };
    let flows = Arc::new(controller::server::NoOpenFlow);
    let api = controller::server::serve(state.clone(), flows, &options)
        .await
        .unwrap();
    let client = Client::new(&format!("unix:{}", socket.display())).unwrap();

    let mut req = NewService::new("big".parse().unwrap(), 80);
    req.backends = pods.clone();
    let started = Instant::now();
    let svc = client.add_service(&req).await.unwrap();
    let add_service = started.elapsed();
    assert_eq!(svc.backends.len(), BACKENDS);

    let extra = NewPod {
        name: "extra".parse().unwrap(),
        node: "n1".parse().unwrap(),
        netns: None,
    };
    let started = Instant::now();
    state.add_pod(extra).await.unwrap();
    let add_one_pod = started.elapsed();
    let revision = state.revision();
    let started = Instant::now();
    let svc = client
        .add_backends(&svc.name, &["extra".parse().unwrap()])
        .await
        .unwrap();
    let add_one = started.elapsed();
    assert_eq!(svc.backends.len(), BACKENDS + 1);
    assert_eq!(state.revision(), revision + 1);

    let model = state.snapshot();
    let started = Instant::now();
    let resolved: Vec<_> = model.service_backends().collect();
    let resolve = started.elapsed();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].1.len(), BACKENDS + 1);
    assert!(resolved[0].1.iter().all(|b| b.port == 80));

    let path = dir.path().join("state.json");
    let store = FileStore::new(&path);
    let mut saved = (*model).clone();
    saved.revision = 1;
    let started = Instant::now();
    store.save(&saved).unwrap();
    let save = started.elapsed();
    let started = Instant::now();
    let loaded = FileStore::new(&path).load().unwrap().unwrap();
    let load = started.elapsed();
    assert_eq!(loaded, saved);
    let size = std::fs::metadata(&path).unwrap().len();

    println!("{BACKENDS} pods added in one change: {add_pods:?}");
    println!("pod number {} added alone: {add_one_pod:?}", BACKENDS + 1);
    println!("service with {BACKENDS} backends, one POST: {add_service:?}");
    println!("one more backend, one POST: {add_one:?}");
    println!("resolving the service's backends: {resolve:?}");
    println!("state file with them: {size} bytes, save {save:?}, load {load:?}");
    api.shutdown().await;
}
