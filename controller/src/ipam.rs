//! Address management, as pure functions of the [`ClusterModel`]: whatever the model holds is
//! in use, so removing a node or pod from it releases its addresses.
//!
//! - Node index K ≥ 1 selects the K-th `/node_prefix_len` of the cluster CIDR (K = 0 is never
//!   used, so the default cluster gives node K the subnet `10.244.K.0/24`).
//! - In a node subnet, `.1` is the router, `.2` the host's `yard0`, pods take `.3` up to the
//!   address before the broadcast address. The lowest free index or address is taken.
//! - MACs are derived from IPs ([`MacAddr::from_ipv4`](switchyard_api::MacAddr::from_ipv4)).
//! - Services: a ClusterIP from the service CIDR (lowest free from `.2`: the network address and
//!   `.1`, by Kubernetes habit the API's own service, are skipped, and so is the broadcast
//!   address), a node port from [`NODE_PORTS`] (lowest free) for NodePort services, and an id
//!   from [`ServiceId::MIN`]..=[`ServiceId::MAX`] (lowest free).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use switchyard_api::{Ipv4Cidr, NodeName, ServiceId};

use crate::model::{ClusterModel, NodeSpec};

/// First pod offset in a node subnet (after the router `.1` and `yard0` `.2`).
pub const FIRST_POD_OFFSET: u64 = 3;

/// First ClusterIP offset in the service CIDR (after the network address and `.1`).
pub const FIRST_CLUSTER_IP_OFFSET: u64 = 2;

/// The node ports NodePort services use (Kubernetes' default range).
pub const NODE_PORTS: RangeInclusive<u16> = 30000..=32767;

/// [`NODE_PORTS`] as text, `30000-32767`, for messages.
pub fn node_port_range() -> String {
    format!("{}-{}", NODE_PORTS.start(), NODE_PORTS.end())
}

/// No address left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpamError {
    /// Every node subnet of the cluster CIDR is taken.
    #[error(
        "cluster CIDR {cluster_cidr} has no free /{node_prefix_len} node subnet ({used} nodes); \
         remove a node first"
    )]
    NoNodeSubnet {
        /// The cluster CIDR.
        cluster_cidr: Ipv4Cidr,
        /// The node prefix length.
        node_prefix_len: u8,
        /// Nodes in the cluster.
        used: usize,
    },
    /// Every pod address of the node's subnet is taken.
    #[error("node {node}: subnet {subnet} has no free pod address ({used} pods); remove a pod or use another node")]
    NoPodAddress {
        /// The full node.
        node: NodeName,
        /// Its subnet.
        subnet: Ipv4Cidr,
        /// Pods on the node.
        used: usize,
    },
    /// Every ClusterIP of the service CIDR is taken.
    #[error("service CIDR {service_cidr} has no free ClusterIP ({used} services); remove a service first")]
    NoClusterIp {
        /// The service CIDR.
        service_cidr: Ipv4Cidr,
        /// Services in the cluster.
        used: usize,
    },
    /// Every node port is taken.
    #[error("node port range {range} has no free port ({used} NodePort services); remove a NodePort service or use type ClusterIP")]
    NoNodePort {
        /// The range, `30000-32767`.
        range: String,
        /// NodePort services in the cluster.
        used: usize,
    },
    /// Every service id is taken.
    #[error("no free service id in {min}..={max} ({used} services); remove a service first")]
    NoServiceId {
        /// The lowest id.
        min: ServiceId,
        /// The highest id.
        max: ServiceId,
        /// Services in the cluster.
        used: usize,
    },
}

/// Number of node subnets the cluster CIDR holds (index 0 included, though never used).
pub fn node_subnet_count(model: &ClusterModel) -> u64 {
    let bits = model
        .cluster
        .node_prefix_len
        .saturating_sub(model.cluster.cluster_cidr.prefix_len());
    1u64 << u32::from(bits.min(32))
}

/// The lowest free node index (≥ 1).
///
/// # Errors
/// [`IpamError::NoNodeSubnet`] when every subnet is in use.
pub fn allocate_node_index(model: &ClusterModel) -> Result<u32, IpamError> {
    let used: BTreeSet<u32> = model.nodes().values().map(|n| n.index).collect();
    let limit = node_subnet_count(model).min(u64::from(u32::MAX));
    (1..limit)
        .filter_map(|k| u32::try_from(k).ok())
        .find(|k| !used.contains(k))
        .ok_or(IpamError::NoNodeSubnet {
            cluster_cidr: model.cluster.cluster_cidr,
            node_prefix_len: model.cluster.node_prefix_len,
            used: model.nodes().len(),
        })
}

/// Whether `ip` is an address a pod of `subnet` may have (`.3` up to before broadcast).
pub fn is_pod_address(subnet: &Ipv4Cidr, ip: Ipv4Addr) -> bool {
    subnet
        .offset_of(ip)
        .is_some_and(|o| o >= FIRST_POD_OFFSET && o + 1 < subnet.size())
}

/// The lowest free pod address on `node`.
///
/// # Errors
/// [`IpamError::NoPodAddress`] naming the node when its subnet is full.
pub fn allocate_pod_ip(model: &ClusterModel, node: &NodeSpec) -> Result<Ipv4Addr, IpamError> {
    let ips = allocate_pod_ips(model, node, 1)?;
    ips.into_iter()
        .next()
        .ok_or_else(|| full(model, node, model.cluster.cluster_cidr))
}

/// The `count` lowest free pod addresses on `node`, in order, with one look at its pods.
///
/// # Errors
/// [`IpamError::NoPodAddress`] naming the node when its subnet has fewer free addresses.
pub fn allocate_pod_ips(
    model: &ClusterModel,
    node: &NodeSpec,
    count: usize,
) -> Result<Vec<Ipv4Addr>, IpamError> {
    // A model the store accepted always has the subnet; the cluster CIDR stands in otherwise.
    let subnet = model
        .node_subnet(node.index)
        .ok_or_else(|| full(model, node, model.cluster.cluster_cidr))?;
    let used: BTreeSet<u64> = model
        .pods_on(&node.name)
        .filter_map(|p| subnet.offset_of(p.ip))
        .collect();
    let ips: Vec<Ipv4Addr> = (FIRST_POD_OFFSET..subnet.size().saturating_sub(1))
        .filter(|o| !used.contains(o))
        .filter_map(|o| subnet.host(o))
        .take(count)
        .collect();
    if ips.len() < count {
        return Err(full(model, node, subnet));
    }
    Ok(ips)
}

/// Whether `ip` is an address a service of `service_cidr` may have (`.2` up to before the
/// broadcast address).
pub fn is_cluster_ip(service_cidr: &Ipv4Cidr, ip: Ipv4Addr) -> bool {
    service_cidr
        .offset_of(ip)
        .is_some_and(|o| o >= FIRST_CLUSTER_IP_OFFSET && o + 1 < service_cidr.size())
}

/// The lowest free ClusterIP of the service CIDR.
///
/// # Errors
/// [`IpamError::NoClusterIp`] naming the CIDR when every address is in use.
pub fn allocate_cluster_ip(model: &ClusterModel) -> Result<Ipv4Addr, IpamError> {
    let cidr = model.cluster.service_cidr;
    let used: BTreeSet<u64> = model
        .services()
        .values()
        .filter_map(|s| cidr.offset_of(s.cluster_ip))
        .collect();
    (FIRST_CLUSTER_IP_OFFSET..cidr.size().saturating_sub(1))
        .find(|o| !used.contains(o))
        .and_then(|o| cidr.host(o))
        .ok_or(IpamError::NoClusterIp {
            service_cidr: cidr,
            used: model.services().len(),
        })
}

/// The lowest free port of [`NODE_PORTS`].
///
/// # Errors
/// [`IpamError::NoNodePort`] naming the range when every port is in use.
pub fn allocate_node_port(model: &ClusterModel) -> Result<u16, IpamError> {
    let used: BTreeSet<u16> = model
        .services()
        .values()
        .filter_map(|s| s.node_port)
        .collect();
    NODE_PORTS
        .clone()
        .find(|p| !used.contains(p))
        .ok_or(IpamError::NoNodePort {
            range: node_port_range(),
            used: used.len(),
        })
}

/// The lowest free service id.
///
/// # Errors
/// [`IpamError::NoServiceId`] when all 0xFFFFF ids are in use.
pub fn allocate_service_id(model: &ClusterModel) -> Result<ServiceId, IpamError> {
    let used: BTreeSet<u32> = model.services().values().map(|s| s.id.get()).collect();
    (ServiceId::MIN.get()..=ServiceId::MAX.get())
        .find(|id| !used.contains(id))
        .map(ServiceId)
        .ok_or(IpamError::NoServiceId {
            min: ServiceId::MIN,
            max: ServiceId::MAX,
            used: model.services().len(),
        })
}

fn full(model: &ClusterModel, node: &NodeSpec, subnet: Ipv4Cidr) -> IpamError {
    IpamError::NoPodAddress {
        node: node.name.clone(),
        subnet,
        used: model.pods_on(&node.name).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PodSpec;
    use switchyard_api::{Cluster, Datapath, PodName};

    fn tiny_cluster() -> ClusterModel {
        // /27 cut into /29s: 4 node subnets (K = 1..=3 usable), 4 pod addresses each.
        ClusterModel::new(Cluster {
            cluster_cidr: "10.9.0.0/27".parse().unwrap(),
            node_prefix_len: 29,
            ..Cluster::default()
        })
    }

    fn add_node(m: &mut ClusterModel, name: &str) -> NodeSpec {
        let index = allocate_node_index(m).unwrap();
        let spec = NodeSpec {
            name: name.parse().unwrap(),
            ip: Ipv4Addr::new(192, 168, 0, u8::try_from(index).unwrap()),
            index,
            uplink: None,
            datapath: Datapath::Netdev,
        };
        m.insert_node(spec.clone());
        spec
    }

    fn add_pod(m: &mut ClusterModel, node: &NodeSpec, name: &str) -> Result<Ipv4Addr, IpamError> {
        let ip = allocate_pod_ip(m, node)?;
        let name: PodName = name.parse().unwrap();
        let spec = PodSpec {
            name: name.clone(),
            node: node.name.clone(),
            ip,
            netns: format!("yp-{name}"),
        };
        m.insert_pod(spec);
        Ok(ip)
    }

    #[test]
    fn node_k_gets_the_kth_slash24_of_the_default_cluster() {
        let mut m = ClusterModel::new(Cluster::default());
        let n1 = add_node(&mut m, "n1");
        let n2 = add_node(&mut m, "n2");
        assert_eq!((n1.index, n2.index), (1, 2));
        let a = m.node_addrs(&n2).unwrap();
        assert_eq!(a.subnet.to_string(), "10.244.2.0/24");
        assert_eq!(a.router_ip, Ipv4Addr::new(10, 244, 2, 1));
        assert_eq!(a.mgmt_ip, Ipv4Addr::new(10, 244, 2, 2));
        assert_eq!(a.mgmt_mac.to_string(), "0a:58:0a:f4:02:02");
    }

    #[test]
    fn pods_start_at_dot3_with_derived_macs() {
        let mut m = ClusterModel::new(Cluster::default());
        let n1 = add_node(&mut m, "n1");
        assert_eq!(
            add_pod(&mut m, &n1, "a").unwrap(),
            Ipv4Addr::new(10, 244, 1, 3)
        );
        assert_eq!(
            add_pod(&mut m, &n1, "b").unwrap(),
            Ipv4Addr::new(10, 244, 1, 4)
        );
        let pod = m
            .api_pod(
                &m.pods()[&"b".parse::<PodName>().unwrap()],
                Default::default(),
            )
            .unwrap();
        assert_eq!(pod.mac.to_string(), "0a:58:0a:f4:01:04");
        assert_eq!(pod.gateway, Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!((pod.prefix_len, pod.mtu), (24, 1400));
    }

    #[test]
    fn released_addresses_and_indices_are_reused() {
        let mut m = ClusterModel::new(Cluster::default());
        let n1 = add_node(&mut m, "n1");
        let _n2 = add_node(&mut m, "n2");
        for p in ["a", "b", "c"] {
            add_pod(&mut m, &n1, p).unwrap();
        }
        m.remove_pod(&"b".parse::<PodName>().unwrap());
        assert_eq!(
            add_pod(&mut m, &n1, "d").unwrap(),
            Ipv4Addr::new(10, 244, 1, 4)
        );
        m.remove_node(&"n1".parse::<NodeName>().unwrap());
        assert_eq!(allocate_node_index(&m).unwrap(), 1);
    }

    #[test]
    fn a_full_node_subnet_is_an_error_naming_the_node() {
        let mut m = tiny_cluster();
        let n1 = add_node(&mut m, "n1");
        let e = allocate_pod_ips(&m, &n1, 5).unwrap_err();
        assert!(
            e.to_string().starts_with("node n1: subnet 10.9.0.8/29"),
            "{e}"
        );
        let four = allocate_pod_ips(&m, &n1, 4).unwrap();
        assert_eq!(four.last(), Some(&Ipv4Addr::new(10, 9, 0, 14)));
        let ips: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|p| add_pod(&mut m, &n1, p).unwrap())
            .collect();
        assert_eq!(ips.first(), Some(&Ipv4Addr::new(10, 9, 0, 11)));
        assert_eq!(ips.last(), Some(&Ipv4Addr::new(10, 9, 0, 14)));
        let e = add_pod(&mut m, &n1, "e").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("node n1: subnet 10.9.0.8/29 has no free pod address"),
            "{e}"
        );
        assert!(!is_pod_address(
            &m.node_subnet(1).unwrap(),
            Ipv4Addr::new(10, 9, 0, 15)
        ));
    }

    fn add_service(m: &mut ClusterModel, name: &str, node_port: bool) -> Result<(), IpamError> {
        use switchyard_api::{Protocol, ServiceType};
        let spec = crate::model::ServiceSpec {
            name: name.parse().unwrap(),
            id: allocate_service_id(m)?,
            protocol: Protocol::Tcp,
            service_type: if node_port {
                ServiceType::NodePort
            } else {
                ServiceType::ClusterIp
            },
            port: 80,
            target_port: 80,
            cluster_ip: allocate_cluster_ip(m)?,
            node_port: if node_port {
                Some(allocate_node_port(m)?)
            } else {
                None
            },
            backends: Default::default(),
        };
        m.insert_service(spec);
        Ok(())
    }

    #[test]
    fn cluster_ips_start_at_dot2_and_node_ports_at_30000() {
        let mut m = ClusterModel::new(Cluster::default());
        add_service(&mut m, "a", true).unwrap();
        add_service(&mut m, "b", false).unwrap();
        add_service(&mut m, "c", true).unwrap();
        let svc = |n: &str| &m.services()[&n.parse::<switchyard_api::ServiceName>().unwrap()];
        assert_eq!(svc("a").cluster_ip, Ipv4Addr::new(10, 96, 0, 2));
        assert_eq!(svc("b").cluster_ip, Ipv4Addr::new(10, 96, 0, 3));
        assert_eq!(
            (svc("a").node_port, svc("b").node_port, svc("c").node_port),
            (Some(30000), None, Some(30001))
        );
        assert_eq!(
            (svc("a").id, svc("b").id, svc("c").id),
            (ServiceId(1), ServiceId(2), ServiceId(3))
        );
        m.check().unwrap();
    }

    #[test]
    fn freed_service_addresses_ports_and_ids_are_reused_but_never_shared() {
        let mut m = ClusterModel::new(Cluster::default());
        for n in ["a", "b", "c"] {
            add_service(&mut m, n, true).unwrap();
        }
        m.remove_service(&"b".parse().unwrap());
        add_service(&mut m, "d", true).unwrap();
        let d = &m.services()[&"d".parse::<crate::model::ServiceName>().unwrap()];
        assert_eq!(
            (d.cluster_ip, d.node_port, d.id),
            (Ipv4Addr::new(10, 96, 0, 3), Some(30001), ServiceId(2))
        );
        m.check().unwrap();
    }

    #[test]
    fn cluster_ip_excludes_network_dot1_and_broadcast() {
        let cidr: Ipv4Cidr = "10.96.0.0/29".parse().unwrap();
        let ok: Vec<u8> = (0..8)
            .filter(|o| is_cluster_ip(&cidr, Ipv4Addr::new(10, 96, 0, *o)))
            .collect();
        assert_eq!(ok, vec![2, 3, 4, 5, 6]);
        assert!(!is_cluster_ip(&cidr, Ipv4Addr::new(10, 96, 0, 8)));
    }

    #[test]
    fn a_full_service_cidr_is_an_error_naming_it() {
        let mut m = ClusterModel::new(Cluster {
            service_cidr: "10.96.0.0/29".parse().unwrap(),
            ..Cluster::default()
        });
        for i in 0..5 {
            add_service(&mut m, &format!("s{i}"), false).unwrap();
        }
        let e = add_service(&mut m, "s5", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "service CIDR 10.96.0.0/29 has no free ClusterIP (5 services); remove a service first"
        );
    }

    #[test]
    fn exhausted_node_ports_are_an_error_naming_the_range() {
        let mut m = ClusterModel::new(Cluster::default());
        add_service(&mut m, "first", true).unwrap();
        // The rest of the range, filled directly (allocating each would be quadratic).
        let template = m.services().values().next().unwrap().clone();
        for (i, port) in NODE_PORTS.skip(1).enumerate() {
            let mut spec = template.clone();
            spec.name = format!("s{i}").parse().unwrap();
            spec.id = ServiceId(u32::from(port));
            spec.cluster_ip = m.cluster.service_cidr.host(3 + i as u64).unwrap();
            spec.node_port = Some(port);
            m.insert_service(spec);
        }
        assert_eq!(m.services().len(), 2768);
        m.check().unwrap();
        let e = allocate_node_port(&m).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("node port range 30000-32767 has no free port (2768 NodePort"),
            "{e}"
        );
        // ClusterIP services need no node port.
        add_service(&mut m, "one-more", false).unwrap();
        m.check().unwrap();
    }

    #[test]
    fn exhausted_service_ids_are_an_error_naming_the_range() {
        // Filling all 2^20 ids would cost more than it proves; the message is what is checked.
        let e = IpamError::NoServiceId {
            min: ServiceId::MIN,
            max: ServiceId::MAX,
            used: 1_048_575,
        };
        assert!(
            e.to_string()
                .starts_with("no free service id in 1..=1048575"),
            "{e}"
        );
    }

    #[test]
    fn a_full_cluster_cidr_is_an_error_naming_it() {
        let mut m = tiny_cluster();
        for n in ["n1", "n2", "n3"] {
            add_node(&mut m, n);
        }
        let e = allocate_node_index(&m).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cluster CIDR 10.9.0.0/27 has no free /29"),
            "{e}"
        );
    }
}
