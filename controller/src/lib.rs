//! Switchyard controller: cluster state, IPAM, HTTP API, per-node reconcilers, the br-int pipeline.
