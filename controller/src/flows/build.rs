//! Typed flow construction: matches and actions as codec values, built from the names
//! `pipeline.rs` declares. No text is formatted or parsed here; `yardctl flows` and the docs
//! print what these build in `ovs-ofctl` syntax, and a test checks that the printed form
//! parses back to the same value.

use std::net::Ipv4Addr;

use openflow::action::nx::{ct_flags, nat_flags, Ct, CtZone, FieldSlice, Nat};
use openflow::oxm::MatchBuilder;
use openflow::{port, Action, Field, Flow, Instruction, Match, NxAction, OxmField};
use switchyard_api::{Ipv4Cidr, MacAddr, Protocol};

use crate::pipeline::{FieldBits, Owner, Table};

const ETH_IP: u128 = 0x0800;
const ETH_ARP: u128 = 0x0806;

fn mac(m: MacAddr) -> u128 {
    m.0.iter().fold(0, |acc, b| acc << 8 | u128::from(*b))
}

fn ip(a: Ipv4Addr) -> u128 {
    u128::from(u32::from(a))
}

/// A match under construction; prerequisites (`ip` before `nw_dst`) are the caller's to
/// spell out, as in `ovs-ofctl`.
#[derive(Debug, Clone, Default)]
pub struct M(MatchBuilder);

impl M {
    /// Matches everything.
    pub fn any() -> M {
        M::default()
    }

    fn exact(self, field: Field, value: u128) -> M {
        M(self.0.exact(field, value))
    }

    /// `in_port=N`.
    pub fn in_port(self, port: u32) -> M {
        M(self.0.in_port(port))
    }

    /// `ip`.
    pub fn ip(self) -> M {
        self.exact(Field::ETH_TYPE, ETH_IP)
    }

    /// `arp`.
    pub fn arp(self) -> M {
        self.exact(Field::ETH_TYPE, ETH_ARP)
    }

    /// `tcp` or `udp`.
    pub fn proto(self, p: Protocol) -> M {
        let n = match p {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        };
        self.ip().exact(Field::IP_PROTO, n)
    }

    /// `tp_dst=N` for protocol `p` (needs [`proto`](Self::proto)).
    pub fn tp_dst(self, p: Protocol, port: u16) -> M {
        let f = match p {
            Protocol::Tcp => Field::TCP_DST,
            Protocol::Udp => Field::UDP_DST,
        };
        self.exact(f, port.into())
    }

    /// `tp_src=N` for protocol `p` (needs [`proto`](Self::proto)).
    pub fn tp_src(self, p: Protocol, port: u16) -> M {
        let f = match p {
            Protocol::Tcp => Field::TCP_SRC,
            Protocol::Udp => Field::UDP_SRC,
        };
        self.exact(f, port.into())
    }

    /// `nw_src=IP`.
    pub fn nw_src(self, a: Ipv4Addr) -> M {
        self.exact(Field::IPV4_SRC, ip(a))
    }

    /// `nw_dst=IP`.
    pub fn nw_dst(self, a: Ipv4Addr) -> M {
        self.exact(Field::IPV4_DST, ip(a))
    }

    fn net(self, field: Field, net: Ipv4Cidr) -> M {
        let len = u32::from(net.prefix_len());
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        M(self.0.masked(field, ip(net.network()), mask.into()))
    }

    /// `nw_src=NET/LEN`.
    pub fn nw_src_net(self, net: Ipv4Cidr) -> M {
        self.net(Field::IPV4_SRC, net)
    }

    /// `nw_dst=NET/LEN`.
    pub fn nw_dst_net(self, net: Ipv4Cidr) -> M {
        self.net(Field::IPV4_DST, net)
    }

    /// `dl_src=MAC`.
    pub fn dl_src(self, m: MacAddr) -> M {
        self.exact(Field::ETH_SRC, mac(m))
    }

    /// `dl_dst=MAC`.
    pub fn dl_dst(self, m: MacAddr) -> M {
        self.exact(Field::ETH_DST, mac(m))
    }

    /// `arp_op=1` (a request).
    pub fn arp_request(self) -> M {
        self.exact(Field::ARP_OP, 1)
    }

    /// `arp_tpa=IP`.
    pub fn arp_tpa(self, a: Ipv4Addr) -> M {
        self.exact(Field::ARP_TPA, ip(a))
    }

    /// `arp_spa=IP`.
    pub fn arp_spa(self, a: Ipv4Addr) -> M {
        self.exact(Field::ARP_SPA, ip(a))
    }

    /// `arp_sha=MAC`.
    pub fn arp_sha(self, m: MacAddr) -> M {
        self.exact(Field::ARP_SHA, mac(m))
    }

    /// `ct_state=+on-off` (each a set of [`openflow::oxm::ct_state`] bits).
    pub fn ct_state(self, on: u32, off: u32) -> M {
        M(self.0.masked(Field::CT_STATE, on.into(), (on | off).into()))
    }

    /// `FIELD=value/mask` over the bits `bits` (e.g. `ct_mark=0x4/0xf`).
    pub fn bits(self, bits: FieldBits, value: u128) -> M {
        let ones = if bits.n_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits.n_bits) - 1
        };
        M(self
            .0
            .masked(bits.field, value << bits.ofs, ones << bits.ofs))
    }

    /// The finished match.
    ///
    /// # Errors
    /// A missing prerequisite: a pipeline bug, which the caller reports.
    pub fn build(self) -> Result<Match, openflow::MatchError> {
        self.0.build()
    }
}

/// `set_field:VALUE->FIELD` of a whole field.
pub fn set(field: Field, value: u128) -> Action {
    Action::SetField(OxmField::uint(field, value))
}

/// `set_field:MAC->FIELD`.
pub fn set_mac(field: Field, m: MacAddr) -> Action {
    set(field, mac(m))
}

/// `set_field:MAC->eth_src`.
pub fn set_eth_src(m: MacAddr) -> Action {
    set(Field::ETH_SRC, mac(m))
}

/// `set_field:MAC->eth_dst`.
pub fn set_eth_dst(m: MacAddr) -> Action {
    set(Field::ETH_DST, mac(m))
}

/// `set_field:IP->tun_dst`.
pub fn set_tun_dst(a: Ipv4Addr) -> Action {
    set(Field::TUN_IPV4_DST, ip(a))
}

/// `set_field:V->FIELD` for a register the pipeline declares whole (`reg0`).
pub fn load(bits: FieldBits, value: u32) -> Action {
    set(bits.field, value.into())
}

/// `move:SRC->DST`.
pub fn mov(src: FieldSlice, dst: FieldSlice) -> Action {
    Action::Nx(NxAction::RegMove { src, dst })
}

/// A whole field, as a slice with the header Open vSwitch uses inside actions.
pub fn whole(field: Field) -> FieldSlice {
    let d = openflow::oxm::FIELDS.iter().find(|d| d.field == field);
    FieldSlice {
        field: d.map_or(field, |d| d.act),
        ofs: 0,
        n_bits: d.map_or(32, |d| u16::from(d.act_len) * 8),
    }
}

/// `move:F[]->G[]` of two whole fields.
pub fn mov_whole(src: Field, dst: Field) -> Action {
    mov(whole(src), whole(dst))
}

/// `output:PORT`.
pub fn output(p: u32) -> Action {
    Action::Output {
        port: p,
        max_len: 0,
    }
}

/// `IN_PORT`.
pub fn in_port() -> Action {
    output(port::IN_PORT)
}

/// `NORMAL`.
pub fn normal() -> Action {
    output(port::NORMAL)
}

/// `group:N`.
pub fn group(id: u32) -> Action {
    Action::Group(id)
}

/// `dec_ttl`.
pub fn dec_ttl() -> Action {
    Action::DecTtl
}

/// What `nat` inside a `ct` does.
#[derive(Debug, Clone, Copy)]
pub enum NatTo {
    /// Plain `nat`: un-NAT replies of connections NATed earlier.
    Reverse,
    /// `nat(src=IP)`.
    Src(Ipv4Addr),
    /// `nat(dst=IP:PORT)`.
    Dst(Ipv4Addr, u16),
}

impl NatTo {
    fn action(self) -> Action {
        let nat = match self {
            NatTo::Reverse => Nat::default(),
            NatTo::Src(a) => Nat {
                flags: nat_flags::SRC,
                ip_min: Some(a.into()),
                ..Nat::default()
            },
            NatTo::Dst(a, p) => Nat {
                flags: nat_flags::DST,
                ip_min: Some(a.into()),
                port_min: Some(p),
                ..Nat::default()
            },
        };
        Action::Nx(NxAction::Nat(nat))
    }
}

/// `ct([commit,]table=T,zone=Z,nat…[,exec(…)])`.
pub fn ct(commit: bool, table: Table, zone: u16, nat: NatTo, exec: Vec<Action>) -> Action {
    let mut actions = vec![nat.action()];
    actions.extend(exec);
    Action::Nx(NxAction::Ct(Ct {
        flags: if commit { ct_flags::COMMIT } else { 0 },
        zone: CtZone::Imm(zone),
        table: Some(table.id()),
        alg: 0,
        actions,
    }))
}

/// Collects one owner's flows; a match the codec refuses is a pipeline bug, kept in
/// `invalid` (tests assert there is none) instead of reaching a switch.
#[derive(Debug)]
pub struct Builder<'a> {
    /// Whose flows these are (the cookie).
    pub owner: Owner,
    /// Where they go.
    pub out: &'a mut Vec<Flow>,
    /// What the codec refused.
    pub invalid: &'a mut Vec<String>,
}

impl Builder<'_> {
    /// Adds `table, priority, M actions=APPLY[,goto_table:NEXT]`.
    pub fn add(
        &mut self,
        table: Table,
        priority: u16,
        m: M,
        apply: Vec<Action>,
        next: Option<Table>,
    ) {
        let match_ = match m.build() {
            Ok(m) => m,
            Err(e) => {
                let what = format!(
                    "owner {:?}, table {}, priority {priority}: {e}",
                    self.owner,
                    table.name()
                );
                tracing::error!(flow = %what, "pipeline bug: a flow builder made a match the codec refuses");
                self.invalid.push(what);
                return;
            }
        };
        if let Some(t) = next {
            debug_assert!(t > table, "goto from {} back to {}", table.name(), t.name());
        }
        let mut instructions = Vec::new();
        if !apply.is_empty() {
            instructions.push(Instruction::ApplyActions(apply));
        }
        if let Some(t) = next {
            instructions.push(Instruction::GotoTable(t.id()));
        }
        self.out.push(Flow {
            table_id: table.id(),
            priority,
            cookie: self.owner.cookie(),
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            match_,
            instructions,
        });
    }

    /// Adds a flow that only goes on to `next`.
    pub fn goto(&mut self, table: Table, priority: u16, m: M, next: Table) {
        self.add(table, priority, m, Vec::new(), Some(next));
    }

    /// Adds a flow that drops (and counts).
    pub fn drop(&mut self, table: Table, priority: u16, m: M) {
        self.add(table, priority, m, Vec::new(), None);
    }
}
