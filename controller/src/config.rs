//! Cluster-wide network settings: defaults, validation, and the command-line overrides that
//! apply only when a cluster is created.

use std::fmt;

use switchyard_api::{Ipv4Cidr, MacAddr};

pub use switchyard_api::Cluster;

/// Smallest MTU an IPv4 host must accept (RFC 791).
pub const MIN_MTU: u16 = 576;
/// Largest MTU Switchyard configures (jumbo frames).
pub const MAX_MTU: u16 = 9000;
/// Longest node prefix: a /29 leaves `.1` (router), `.2` (`yard0`) and four pod addresses.
pub const MAX_NODE_PREFIX: u8 = 29;

/// A cluster setting that is out of range. Each variant names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `node_prefix_len` does not fit the cluster CIDR.
    #[error(
        "node_prefix_len /{node_prefix_len}: must be longer than the cluster CIDR {cluster_cidr} \
         and at most /{MAX_NODE_PREFIX} (a node subnet needs .1, .2 and room for pods)"
    )]
    NodePrefix {
        /// The refused prefix length.
        node_prefix_len: u8,
        /// The cluster CIDR it was checked against.
        cluster_cidr: Ipv4Cidr,
    },
    /// `mtu` out of range.
    #[error("mtu {mtu}: must be {MIN_MTU}..={MAX_MTU}")]
    Mtu {
        /// The refused MTU.
        mtu: u16,
    },
    /// `router_mac` is a group address.
    #[error("router_mac {router_mac}: must be a unicast MAC (lowest bit of the first byte clear), e.g. 0a:58:0a:f4:00:01")]
    RouterMac {
        /// The refused MAC.
        router_mac: MacAddr,
    },
    /// `service_cidr` overlaps `cluster_cidr`.
    #[error("service_cidr {service_cidr}: overlaps the cluster CIDR {cluster_cidr}; choose disjoint ranges")]
    ServiceOverlap {
        /// The service CIDR.
        service_cidr: Ipv4Cidr,
        /// The cluster CIDR.
        cluster_cidr: Ipv4Cidr,
    },
    /// A setting given for an existing cluster differs from the stored one.
    #[error(
        "{field}: {given} was given but the existing cluster uses {stored}; a cluster's addressing \
         cannot change after it is created (drop the option, or start with a new state file)"
    )]
    Mismatch {
        /// Which setting.
        field: &'static str,
        /// The value on the command line.
        given: String,
        /// The value in the state.
        stored: String,
    },
}

/// Checks every field of `cluster`; the error names the first bad field.
pub fn validate(cluster: &Cluster) -> Result<(), ConfigError> {
    let prefix = cluster.node_prefix_len;
    if prefix <= cluster.cluster_cidr.prefix_len() || prefix > MAX_NODE_PREFIX {
        return Err(ConfigError::NodePrefix {
            node_prefix_len: prefix,
            cluster_cidr: cluster.cluster_cidr,
        });
    }
    if !(MIN_MTU..=MAX_MTU).contains(&cluster.mtu) {
        return Err(ConfigError::Mtu { mtu: cluster.mtu });
    }
    if !cluster.router_mac.is_unicast() {
        return Err(ConfigError::RouterMac {
            router_mac: cluster.router_mac,
        });
    }
    if cluster.service_cidr.overlaps(&cluster.cluster_cidr) {
        return Err(ConfigError::ServiceOverlap {
            service_cidr: cluster.service_cidr,
            cluster_cidr: cluster.cluster_cidr,
        });
    }
    Ok(())
}

/// Settings given on the command line. They shape a new cluster; for an existing one they must
/// match what is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOverrides {
    /// `--cluster-cidr`.
    pub cluster_cidr: Option<Ipv4Cidr>,
    /// `--node-prefix`.
    pub node_prefix_len: Option<u8>,
    /// `--mtu`.
    pub mtu: Option<u16>,
    /// `--router-mac`.
    pub router_mac: Option<MacAddr>,
    /// `--service-cidr`.
    pub service_cidr: Option<Ipv4Cidr>,
}

impl ClusterOverrides {
    /// The settings of a new cluster: the defaults with the overrides applied, validated.
    pub fn new_cluster(&self) -> Result<Cluster, ConfigError> {
        let d = Cluster::default();
        let cluster = Cluster {
            cluster_cidr: self.cluster_cidr.unwrap_or(d.cluster_cidr),
            node_prefix_len: self.node_prefix_len.unwrap_or(d.node_prefix_len),
            mtu: self.mtu.unwrap_or(d.mtu),
            router_mac: self.router_mac.unwrap_or(d.router_mac),
            service_cidr: self.service_cidr.unwrap_or(d.service_cidr),
        };
        validate(&cluster)?;
        Ok(cluster)
    }

    /// Checks that every given override equals the stored setting.
    pub fn check_matches(&self, stored: &Cluster) -> Result<(), ConfigError> {
        check("cluster_cidr", self.cluster_cidr, stored.cluster_cidr)?;
        check(
            "node_prefix_len",
            self.node_prefix_len,
            stored.node_prefix_len,
        )?;
        check("mtu", self.mtu, stored.mtu)?;
        check("router_mac", self.router_mac, stored.router_mac)?;
        check("service_cidr", self.service_cidr, stored.service_cidr)
    }
}

fn check<T: PartialEq + fmt::Display>(
    field: &'static str,
    given: Option<T>,
    stored: T,
) -> Result<(), ConfigError> {
    match given {
        Some(given) if given != stored => Err(ConfigError::Mismatch {
            field,
            given: given.to_string(),
            stored: stored.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Cluster)) -> Result<(), ConfigError> {
        let mut c = Cluster::default();
        f(&mut c);
        validate(&c)
    }

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let c = ClusterOverrides::default().new_cluster().unwrap();
        assert_eq!(c.cluster_cidr.to_string(), "10.244.0.0/16");
        assert_eq!(c.node_prefix_len, 24);
        assert_eq!(c.mtu, 1400);
        assert_eq!(c.router_mac.to_string(), "0a:58:0a:f4:00:01");
        assert_eq!(c.service_cidr.to_string(), "10.96.0.0/16");
    }

    #[test]
    fn node_prefix_must_be_longer_than_the_cluster_prefix() {
        for bad in [8, 16, 30, 32] {
            let e = with(|c| c.node_prefix_len = bad).unwrap_err();
            assert!(e.to_string().starts_with("node_prefix_len"), "{e}");
        }
        assert!(with(|c| c.node_prefix_len = 17).is_ok());
        assert!(with(|c| c.node_prefix_len = 29).is_ok());
    }

    #[test]
    fn mtu_must_be_576_to_9000() {
        for bad in [0, 575, 9001] {
            let e = with(|c| c.mtu = bad).unwrap_err();
            assert!(e.to_string().starts_with("mtu"), "{e}");
        }
        assert!(with(|c| c.mtu = 576).is_ok());
        assert!(with(|c| c.mtu = 9000).is_ok());
    }

    #[test]
    fn router_mac_must_be_unicast() {
        let e = with(|c| c.router_mac = "01:00:5e:00:00:01".parse().unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("router_mac"), "{e}");
    }

    #[test]
    fn service_cidr_must_not_overlap_the_cluster() {
        let e = with(|c| c.service_cidr = "10.244.128.0/17".parse().unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("service_cidr"), "{e}");
    }

    #[test]
    fn overrides_that_differ_from_the_stored_cluster_are_refused() {
        let stored = Cluster::default();
        let same = ClusterOverrides {
            mtu: Some(1400),
            ..Default::default()
        };
        assert!(same.check_matches(&stored).is_ok());
        let other = ClusterOverrides {
            cluster_cidr: Some("10.1.0.0/16".parse().unwrap()),
            ..Default::default()
        };
        let e = other.check_matches(&stored).unwrap_err();
        assert!(e.to_string().contains("cluster_cidr: 10.1.0.0/16"), "{e}");
    }
}
