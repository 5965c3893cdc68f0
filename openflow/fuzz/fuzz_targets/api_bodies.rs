//! Any bytes as the body of each API request the controller deserialises (nodes, pods,
//! pod batch, pod status, services, backends): parsing never panics, and an accepted
//! body serialises to JSON that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchyard_api::{BackendPods, NewNode, NewPod, NewService, PodStatus};

/// The controller's `POST /v1/pods/batch` body (private to `controller/src/server.rs`).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PodBatch {
    pods: Vec<NewPod>,
}

fn check<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let s = serde_json::to_vec(&v).expect("serialises");
        let back: T = serde_json::from_slice(&s).expect("serialised body parses");
        assert_eq!(back, v);
    }
}

fuzz_target!(|data: &[u8]| {
    // Every body type sees every input: the corpus is shared, the types differ.
    check::<NewNode>(data);
    check::<NewPod>(data);
    check::<PodBatch>(data);
    check::<PodStatus>(data);
    check::<NewService>(data);
    check::<BackendPods>(data);
});
