//! Switchyard HTTP API v1 (`docs/API.md`): the JSON types shared by the controller, `yardctl` and
//! `yard-agent`, and a small async client that speaks HTTP/1.1 over a unix socket or TCP.
//!
//! This crate is *not* the server (that is the `controller` crate) and holds no policy: the
//! types validate their own syntax (names, CIDRs, MACs) and nothing else.
//!
//! ```
//! use switchyard_api::{Cluster, NewNode};
//! let node: NewNode = serde_json::from_str(r#"{"name":"n1","ip":"192.168.56.11"}"#).unwrap();
//! assert_eq!(node.name.as_str(), "n1");
//! assert_eq!(Cluster::default().cluster_cidr.to_string(), "10.244.0.0/16");
//! ```

mod client;
pub mod net;
mod types;

pub use client::{Client, Error, DEFAULT_CONTROLLER};
pub use net::{Ipv4Cidr, MacAddr};
pub use types::*;
