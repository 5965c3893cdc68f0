//! Actions and instructions in ovs-actions(7) syntax, as ovs-ofctl prints and parses them.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::value::{
    fmt_port, format_value, hex, parse_port, parse_u16, parse_u32, parse_u64, parse_uint,
    parse_value,
};
use super::{call, err, key_value, split_top, ParseError, TableNames};
use crate::action::nx::NXM_OF_IN_PORT;
use crate::action::nx::{ct_flags, nat_flags, TABLE_NONE};
use crate::action::{
    port, Action, Bundle, Controller2, Ct, CtZone, FieldSlice, Instruction, Learn, LearnDst,
    LearnSpec, LearnSrc, Multipath, Nat, NxAction,
};
use crate::oxm::fields::{act_def, act_field_by_name, field_by_name};
use crate::oxm::matching::be_bytes;
use crate::oxm::{Field, Match, OxmField};

const OFPP_IN_PORT_16: u16 = 0xfff8;
const DEFAULT_PRIORITY: u16 = 0x8000;

fn port16_to_32(p: u16) -> u32 {
    if p >= 0xff00 {
        0xffff_0000 | u32::from(p)
    } else {
        u32::from(p)
    }
}

fn port32_to_16(p: u32) -> Option<u16> {
    if p >= 0xffff_ff00 {
        Some((p & 0xffff) as u16)
    } else {
        u16::try_from(p).ok().filter(|&x| x < 0xff00)
    }
}

// ---------------------------------------------------------------- formatting

fn fmt_slice(s: &mut String, f: &FieldSlice) {
    let (name, width) = match act_def(f.field) {
        Some((d, w)) => (if d.act == f.field { d.act_name } else { d.name }, w),
        None => ("?", 0),
    };
    s.push_str(name);
    if f.ofs == 0 && f.n_bits == width {
        s.push_str("[]");
    } else if f.n_bits == 1 {
        let _ = write!(s, "[{}]", f.ofs);
    } else {
        let _ = write!(s, "[{}..{}]", f.ofs, f.ofs + f.n_bits - 1);
    }
}

/// `NX_HASH_FIELDS_*` names, by value.
const HASH_FIELDS: &[&str] = &[
    "eth_src",
    "symmetric_l4",
    "symmetric_l3l4",
    "symmetric_l3l4+udp",
    "nw_src",
    "nw_dst",
    "symmetric_l3",
];
/// `NX_BD_ALG_*` names, by value.
const BUNDLE_ALGS: &[&str] = &["active_backup", "hrw"];
/// `NX_MP_ALG_*` names, by value.
const MULTIPATH_ALGS: &[&str] = &["modulo_n", "hash_threshold", "hrw", "iter_hash"];

fn name_of(names: &[&str], v: u16) -> String {
    names
        .get(usize::from(v))
        .map_or_else(|| v.to_string(), |n| (*n).to_owned())
}

fn parse_name(names: &[&str], s: &str, what: &str) -> Result<u16, ParseError> {
    match names.iter().position(|n| *n == s) {
        Some(i) => Ok(i as u16),
        None => parse_u16(s, what).map_err(|_| {
            ParseError::new(format!(
                "{what}: unknown {s:?} (known: {})",
                names.join(", ")
            ))
        }),
    }
}

fn fmt_bundle(s: &mut String, b: &Bundle) {
    s.push_str(if b.dst.is_some() {
        "bundle_load("
    } else {
        "bundle("
    });
    let _ = write!(
        s,
        "{},{},{},",
        name_of(HASH_FIELDS, b.fields),
        b.basis,
        name_of(BUNDLE_ALGS, b.algorithm)
    );
    if b.member_type == NXM_OF_IN_PORT {
        s.push_str("ofport,");
    } else {
        let _ = write!(s, "{:#x},", b.member_type);
    }
    if let Some(d) = &b.dst {
        fmt_slice(s, d);
        s.push(',');
    }
    s.push_str("members:");
    let m: Vec<String> = b
        .members
        .iter()
        .map(|&p| fmt_port(port16_to_32(p)))
        .collect();
    s.push_str(&m.join(","));
    s.push(')');
}

fn fmt_multipath(s: &mut String, m: &Multipath) {
    let _ = write!(
        s,
        "multipath({},{},{},{},{},",
        name_of(HASH_FIELDS, m.fields),
        m.basis,
        name_of(MULTIPATH_ALGS, m.algorithm),
        u32::from(m.max_link) + 1,
        m.arg
    );
    fmt_slice(s, &m.dst);
    s.push(')');
}

pub(crate) fn reason_name(r: u8) -> String {
    match r {
        0 => "no_match".into(),
        1 => "action".into(),
        2 => "invalid_ttl".into(),
        3 => "action_set".into(),
        4 => "group".into(),
        5 => "packet_out".into(),
        r => r.to_string(),
    }
}

fn fmt_controller(
    s: &mut String,
    max_len: u16,
    id: u16,
    reason: u8,
    userdata: Option<&[u8]>,
    pause: bool,
    meter: Option<u32>,
) {
    if reason == 1 && id == 0 && userdata.is_none() && !pause && meter.is_none() {
        let _ = write!(s, "CONTROLLER:{max_len}");
        return;
    }
    let mut parts = Vec::new();
    if reason != 1 {
        parts.push(format!("reason={}", reason_name(reason)));
    }
    if max_len != u16::MAX {
        parts.push(format!("max_len={max_len}"));
    }
    if id != 0 {
        parts.push(format!("id={id}"));
    }
    if let Some(u) = userdata {
        parts.push(format!("userdata={}", dotted_hex(u)));
    }
    if pause {
        parts.push("pause".into());
    }
    if let Some(m) = meter {
        parts.push(format!("meter_id={m}"));
    }
    let _ = write!(s, "controller({})", parts.join(","));
}

fn dotted_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(".")
}

fn fmt_nat(s: &mut String, n: &Nat) {
    s.push_str("nat");
    if n.flags & (nat_flags::SRC | nat_flags::DST) == 0 {
        return;
    }
    // As OVS's format_NAT: the range only when there is an address.
    let _ = write!(
        s,
        "({}{}",
        if n.flags & nat_flags::SRC != 0 {
            "src"
        } else {
            "dst"
        },
        if n.ip_min.is_some() { "=" } else { "" }
    );
    let v6 = matches!(n.ip_min, Some(IpAddr::V6(_)));
    let br = |a: IpAddr| {
        if v6 && n.port_min.is_some() {
            format!("[{a}]")
        } else {
            a.to_string()
        }
    };
    if let Some(a) = n.ip_min {
        s.push_str(&br(a));
        if let Some(b) = n.ip_max.filter(|b| *b != a) {
            let _ = write!(s, "-{}", br(b));
        }
    }
    if let Some(p) = n.port_min.filter(|&p| p != 0 && n.ip_min.is_some()) {
        let _ = write!(s, ":{p}");
        if let Some(q) = n.port_max.filter(|&q| q != 0 && q != p) {
            let _ = write!(s, "-{q}");
        }
    }
    if n.flags & nat_flags::PERSISTENT != 0 {
        s.push_str(",persistent");
    }
    if n.flags & nat_flags::PROTO_HASH != 0 {
        s.push_str(",hash");
    }
    if n.flags & nat_flags::PROTO_RANDOM != 0 {
        s.push_str(",random");
    }
    s.push(')');
}

fn fmt_learn(s: &mut String, l: &Learn, names: &TableNames) {
    s.push_str("learn(table=");
    match names.name(l.table_id) {
        Some(n) => s.push_str(n),
        None => {
            let _ = write!(s, "{}", l.table_id);
        }
    }
    if l.idle_timeout != 0 {
        let _ = write!(s, ",idle_timeout={}", l.idle_timeout);
    }
    if l.hard_timeout != 0 {
        let _ = write!(s, ",hard_timeout={}", l.hard_timeout);
    }
    if l.fin_idle_timeout != 0 {
        let _ = write!(s, ",fin_idle_timeout={}", l.fin_idle_timeout);
    }
    if l.fin_hard_timeout != 0 {
        let _ = write!(s, ",fin_hard_timeout={}", l.fin_hard_timeout);
    }
    if l.priority != DEFAULT_PRIORITY {
        let _ = write!(s, ",priority={}", l.priority);
    }
    if l.flags & 1 != 0 {
        s.push_str(",send_flow_rem");
    }
    if l.flags & 2 != 0 {
        s.push_str(",delete_learned");
    }
    if l.cookie != 0 {
        let _ = write!(s, ",cookie={:#x}", l.cookie);
    }
    if l.limit != 0 {
        let _ = write!(s, ",limit={}", l.limit);
    }
    if let Some(d) = &l.result_dst {
        s.push_str(",result_dst=");
        fmt_slice(s, d);
    }
    for spec in &l.specs {
        s.push(',');
        let imm_hex = |v: &[u8]| {
            let n = usize::from(spec.n_bits).div_ceil(8);
            let b = &v[v.len().saturating_sub(n)..];
            let t: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let t = t.trim_start_matches('0');
            format!("0x{}", if t.is_empty() { "0" } else { t })
        };
        match (&spec.src, &spec.dst) {
            (LearnSrc::Imm(v), LearnDst::Match(d)) => {
                let whole = act_def(d.field).is_some_and(|(_, w)| d.ofs == 0 && d.n_bits == w);
                match act_def(d.field).filter(|_| whole) {
                    Some((def, w)) => {
                        let val = OxmField {
                            field: def.field,
                            value: be_bytes(to_u128_tail(v), usize::from(w / 8)),
                            mask: None,
                        };
                        let _ = write!(s, "{}={}", def.name, format_value(def, &val, false));
                    }
                    None => {
                        fmt_slice(s, d);
                        let _ = write!(s, "={}", imm_hex(v));
                    }
                }
            }
            (LearnSrc::Field(src), LearnDst::Match(d)) => {
                fmt_slice(s, d);
                if src.field != d.field || src.ofs != d.ofs {
                    s.push('=');
                    fmt_slice(s, src);
                }
            }
            (LearnSrc::Imm(v), LearnDst::Load(d)) => {
                let _ = write!(s, "load:{}->", imm_hex(v));
                fmt_slice(s, d);
            }
            (LearnSrc::Field(src), LearnDst::Load(d)) => {
                s.push_str("load:");
                fmt_slice(s, src);
                s.push_str("->");
                fmt_slice(s, d);
            }
            (LearnSrc::Field(src), LearnDst::Output) => {
                s.push_str("output:");
                fmt_slice(s, src);
            }
            (LearnSrc::Imm(v), LearnDst::Output) => {
                let _ = write!(s, "output:{}", imm_hex(v));
            }
        }
    }
    s.push(')');
}

fn to_u128_tail(v: &[u8]) -> u128 {
    crate::oxm::matching::to_u128(v)
}

fn fmt_action(s: &mut String, a: &Action, names: &TableNames) {
    match a {
        Action::Output { port: p, max_len } => match *p {
            port::CONTROLLER => fmt_controller(s, *max_len, 0, 1, None, false, None),
            p if p < port::MAX => {
                let _ = write!(s, "output:{p}");
            }
            p => s.push_str(&fmt_port(p)),
        },
        Action::Group(g) => {
            let _ = write!(s, "group:{g}");
        }
        Action::SetField(f) => match f.field.def() {
            Some(d) => {
                let _ = write!(s, "set_field:{}->{}", format_value(d, f, false), d.name);
            }
            None => {
                let _ = write!(s, "set_field:{:?}", f);
            }
        },
        Action::PushVlan(t) => {
            let _ = write!(s, "push_vlan:{t:#x}");
        }
        Action::PopVlan => s.push_str("pop_vlan"),
        Action::DecTtl => s.push_str("dec_ttl"),
        Action::PushMpls(t) => {
            let _ = write!(s, "push_mpls:{t:#06x}");
        }
        Action::PopMpls(t) => {
            let _ = write!(s, "pop_mpls:{t:#06x}");
        }
        Action::SetMplsTtl(t) => {
            let _ = write!(s, "set_mpls_ttl({t})");
        }
        Action::DecMplsTtl => s.push_str("dec_mpls_ttl"),
        Action::Nx(n) => fmt_nx(s, n, names),
        Action::Unknown { kind, body } => {
            let _ = write!(s, "unknown_action(type={kind},body={})", dotted_hex(body));
        }
    }
}

fn fmt_nx(s: &mut String, n: &NxAction, names: &TableNames) {
    match n {
        NxAction::Resubmit { port: p, table } => {
            if *p != OFPP_IN_PORT_16 && *table == TABLE_NONE {
                let _ = write!(s, "resubmit:{}", fmt_port(port16_to_32(*p)));
            } else {
                s.push_str("resubmit(");
                if *p != OFPP_IN_PORT_16 {
                    s.push_str(&fmt_port(port16_to_32(*p)));
                }
                s.push(',');
                if *table != TABLE_NONE {
                    match names.name(*table) {
                        Some(n) => s.push_str(n),
                        None => {
                            let _ = write!(s, "{table}");
                        }
                    }
                }
                s.push(')');
            }
        }
        NxAction::RegLoad { dst, value } => {
            let _ = write!(s, "load:{}->", hex((*value).into()));
            fmt_slice(s, dst);
        }
        NxAction::RegLoad2(f) => match f.field.def() {
            Some(d) => {
                let _ = write!(s, "set_field:{}->{}", format_value(d, f, false), d.name);
            }
            None => {
                let _ = write!(s, "set_field:{f:?}");
            }
        },
        NxAction::RegMove { src, dst } => {
            s.push_str("move:");
            fmt_slice(s, src);
            s.push_str("->");
            fmt_slice(s, dst);
        }
        NxAction::OutputReg { src, max_len } => {
            s.push_str("output:");
            fmt_slice(s, src);
            if *max_len != u16::MAX {
                let _ = write!(s, "(max_len={max_len})");
            }
        }
        NxAction::Ct(ct) => {
            let mut parts: Vec<String> = Vec::new();
            if ct.flags & ct_flags::COMMIT != 0 {
                parts.push("commit".into());
            }
            if ct.flags & ct_flags::FORCE != 0 {
                parts.push("force".into());
            }
            if let Some(t) = ct.table {
                parts.push(format!(
                    "table={}",
                    names.name(t).map_or_else(|| t.to_string(), str::to_owned)
                ));
            }
            match ct.zone {
                CtZone::Imm(0) => {}
                CtZone::Imm(z) => parts.push(format!("zone={z}")),
                CtZone::Field(f) => {
                    let mut z = String::from("zone=");
                    fmt_slice(&mut z, &f);
                    parts.push(z);
                }
            }
            let mut rest = &ct.actions[..];
            if let Some(Action::Nx(NxAction::Nat(n))) = rest.first() {
                let mut x = String::new();
                fmt_nat(&mut x, n);
                parts.push(x);
                rest = &rest[1..];
            }
            if !rest.is_empty() {
                let mut x = String::from("exec(");
                fmt_action_list(&mut x, rest, names);
                x.push(')');
                parts.push(x);
            }
            match ct.alg {
                0 => {}
                21 => parts.push("alg=ftp".into()),
                69 => parts.push("alg=tftp".into()),
                a => parts.push(format!("alg={a}")),
            }
            let _ = write!(s, "ct({})", parts.join(","));
        }
        NxAction::Nat(n) => fmt_nat(s, n),
        NxAction::CtClear => s.push_str("ct_clear"),
        NxAction::Learn(l) => fmt_learn(s, l, names),
        NxAction::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let _ = write!(
                s,
                "conjunction({id},{}/{n_clauses})",
                u16::from(*clause) + 1
            );
        }
        NxAction::Note(b) => {
            let _ = write!(s, "note:{}", dotted_hex(b));
        }
        NxAction::DecTtlCntIds(ids) => {
            let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
            let _ = write!(s, "dec_ttl({})", ids.join(","));
        }
        NxAction::Controller {
            max_len,
            controller_id,
            reason,
        } => {
            fmt_controller(s, *max_len, *controller_id, *reason, None, false, None);
        }
        NxAction::Controller2(c) => fmt_controller(
            s,
            c.max_len.unwrap_or(u16::MAX),
            c.controller_id.unwrap_or(0),
            c.reason.unwrap_or(1),
            c.userdata.as_deref(),
            c.pause,
            c.meter_id,
        ),
        NxAction::Exit => s.push_str("exit"),
        NxAction::ResubmitCt { port: p, table } => {
            s.push_str("resubmit(");
            if *p != OFPP_IN_PORT_16 {
                s.push_str(&fmt_port(port16_to_32(*p)));
            }
            s.push(',');
            if *table != TABLE_NONE {
                match names.name(*table) {
                    Some(n) => s.push_str(n),
                    None => {
                        let _ = write!(s, "{table}");
                    }
                }
            }
            s.push_str(",ct)");
        }
        NxAction::Clone(a) => {
            s.push_str("clone(");
            fmt_action_list(s, a, names);
            s.push(')');
        }
        NxAction::CheckPktLarger { pkt_len, dst } => {
            let _ = write!(s, "check_pkt_larger({pkt_len})->");
            fmt_slice(s, dst);
        }
        NxAction::Bundle(b) => fmt_bundle(s, b),
        NxAction::Multipath(m) => fmt_multipath(s, m),
        NxAction::Unknown { subtype, body } => {
            let _ = write!(
                s,
                "unknown_nx_action(subtype={subtype},body={})",
                dotted_hex(body)
            );
        }
    }
}

pub(crate) fn fmt_action_list(s: &mut String, acts: &[Action], names: &TableNames) {
    for (i, a) in acts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        fmt_action(s, a, names);
    }
}

/// Canonical instruction order (Open vSwitch's): meter, apply, clear, write,
/// write_metadata, goto_table.
pub(crate) fn instruction_rank(i: &Instruction) -> u8 {
    match i {
        Instruction::Meter(_) => 0,
        Instruction::ApplyActions(_) => 1,
        Instruction::ClearActions => 2,
        Instruction::WriteActions(_) => 3,
        Instruction::WriteMetadata { .. } => 4,
        Instruction::GotoTable(_) => 5,
        Instruction::Unknown { .. } => 6,
    }
}

/// Prints what follows `actions=`.
pub(crate) fn fmt_instructions(s: &mut String, ins: &[Instruction], names: &TableNames) {
    let mut sorted: Vec<&Instruction> = ins.iter().collect();
    sorted.sort_by_key(|i| instruction_rank(i));
    let mut parts = Vec::new();
    for i in sorted {
        let mut x = String::new();
        match i {
            Instruction::Meter(m) => {
                let _ = write!(x, "meter:{m}");
            }
            Instruction::ApplyActions(a) if a.is_empty() => continue,
            Instruction::ApplyActions(a) => fmt_action_list(&mut x, a, names),
            Instruction::ClearActions => x.push_str("clear_actions"),
            Instruction::WriteActions(a) => {
                x.push_str("write_actions(");
                fmt_action_list(&mut x, a, names);
                x.push(')');
            }
            Instruction::WriteMetadata { metadata, mask } => {
                let _ = write!(x, "write_metadata:{}", hex((*metadata).into()));
                if *mask != u64::MAX {
                    let _ = write!(x, "/{}", hex((*mask).into()));
                }
            }
            Instruction::GotoTable(t) => {
                x.push_str("goto_table:");
                match names.name(*t) {
                    Some(n) => x.push_str(n),
                    None => {
                        let _ = write!(x, "{t}");
                    }
                }
            }
            Instruction::Unknown { kind, body } => {
                let _ = write!(
                    x,
                    "unknown_instruction(type={kind},body={})",
                    dotted_hex(body)
                );
            }
        }
        parts.push(x);
    }
    if parts.is_empty() {
        s.push_str("drop");
    } else {
        s.push_str(&parts.join(","));
    }
}

// ---------------------------------------------------------------- parsing

/// Context for parsing actions: table names and the flow's match (for
/// `mod_tp_dst` and friends, which depend on the protocol).
pub(crate) struct Ctx<'a> {
    pub names: &'a TableNames,
    pub match_: &'a Match,
}

fn parse_slice(s: &str) -> Result<FieldSlice, ParseError> {
    let (name, range) = match s.find('[') {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let d = act_field_by_name(name)
        .ok_or_else(|| ParseError::new(format!("unknown field {name:?} in {s:?}")))?;
    let (field, width) = (d.act, u16::from(d.act_len) * 8);
    let (ofs, n_bits) = match range.map(|r| r.trim_start_matches('[').trim_end_matches(']')) {
        None | Some("") => (0, width),
        Some(r) => match r.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (parse_u16(a, "bit")?, parse_u16(b, "bit")?);
                if b < a {
                    return err(format!("bad bit range in {s:?}"));
                }
                (a, b - a + 1)
            }
            None => (parse_u16(r, "bit")?, 1),
        },
    };
    if u32::from(ofs) + u32::from(n_bits) > u32::from(width) {
        return err(format!(
            "{s:?}: bits {}..{} are outside the {width}-bit field",
            ofs,
            ofs + n_bits - 1
        ));
    }
    Ok(FieldSlice { field, ofs, n_bits })
}

/// `set_field:V[/M]->F`: unmasked writes are OFPAT_SET_FIELD; masked ones become one
/// NXAST_REG_LOAD per contiguous run of mask bits, as ovs-ofctl sends them.
fn parse_set_field(arg: &str, out: &mut Vec<Action>) -> Result<(), ParseError> {
    let (v, f) = arg
        .rsplit_once("->")
        .ok_or_else(|| ParseError::new(format!("set_field:{arg}: expected VALUE->FIELD")))?;
    let d = field_by_name(f)
        .ok_or_else(|| ParseError::new(format!("set_field: unknown field {f:?}")))?;
    // As in ovs-ofctl: these can be matched, not written.
    const READ_ONLY: &[Field] = &[
        Field::CT_STATE,
        Field::CT_ZONE,
        Field::CT_NW_PROTO,
        Field::CT_NW_SRC,
        Field::CT_NW_DST,
        Field::CT_IPV6_SRC,
        Field::CT_IPV6_DST,
        Field::CT_TP_SRC,
        Field::CT_TP_DST,
        Field::CONJ_ID,
        Field::TCP_FLAGS,
    ];
    if READ_ONLY.contains(&d.field) {
        return err(format!("set_field:{arg}: {} is read-only", d.name));
    }
    let x = parse_value(d, v)?;
    let Some(_) = x.mask.as_ref().filter(|m| m.iter().any(|&b| b != 0xff)) else {
        out.push(Action::SetField(OxmField { mask: None, ..x }));
        return Ok(());
    };
    // Contiguous runs of mask bits, low to high.
    let (val, mask) = (x.value_u128(), x.mask_u128());
    let width = u32::from(d.len) * 8;
    let mut runs = Vec::new();
    let mut bit = 0u32;
    while bit < width {
        if mask >> bit & 1 == 0 {
            bit += 1;
            continue;
        }
        let start = bit;
        while bit < width && mask >> bit & 1 == 1 {
            bit += 1;
        }
        runs.push((start, bit - start));
    }
    if runs.iter().any(|&(_, n)| n > 64) {
        out.push(Action::Nx(NxAction::RegLoad2(x)));
        return Ok(());
    }
    for (start, n) in runs {
        let value = ((val >> start) & ((1u128 << n) - 1)) as u64;
        let dst = FieldSlice {
            field: d.act,
            ofs: start as u16,
            n_bits: n as u16,
        };
        out.push(Action::Nx(NxAction::RegLoad { dst, value }));
    }
    Ok(())
}

fn parse_nat(args: Option<&str>) -> Result<Nat, ParseError> {
    let mut n = Nat::default();
    let Some(args) = args else { return Ok(n) };
    for tok in split_top(args, false) {
        match key_value(tok) {
            ("persistent", None) => n.flags |= nat_flags::PERSISTENT,
            ("hash", None) => n.flags |= nat_flags::PROTO_HASH,
            ("random", None) => n.flags |= nat_flags::PROTO_RANDOM,
            ("src" | "dst", v) => {
                n.flags |= if tok.starts_with("src") {
                    nat_flags::SRC
                } else {
                    nat_flags::DST
                };
                let Some(v) = v else { continue };
                // Split off the port range: after the last ':' for IPv4, after ']' for [v6].
                let (ips, ports) = if let Some(rest) = v.strip_prefix('[') {
                    let close = rest
                        .find(']')
                        .ok_or_else(|| ParseError::new(format!("nat: missing ']' in {v:?}")))?;
                    let mut ips = rest[..close].to_owned();
                    let mut after = &rest[close + 1..];
                    if let Some(r) = after.strip_prefix("-[") {
                        let c2 = r
                            .find(']')
                            .ok_or_else(|| ParseError::new(format!("nat: missing ']' in {v:?}")))?;
                        ips = format!("{ips}-{}", &r[..c2]);
                        after = &r[c2 + 1..];
                    }
                    (ips, after.strip_prefix(':').map(str::to_owned))
                } else if v.matches(':').count() > 1 {
                    (v.to_owned(), None)
                } else {
                    match v.split_once(':') {
                        Some((a, p)) => (a.to_owned(), Some(p.to_owned())),
                        None => (v.to_owned(), None),
                    }
                };
                let (a, b) = match ips.split_once('-') {
                    Some((a, b)) => (a, Some(b)),
                    None => (ips.as_str(), None),
                };
                let ip = |x: &str| {
                    x.parse::<IpAddr>()
                        .map_err(|_| ParseError::new(format!("nat: {x:?} is not an IP address")))
                };
                if !a.is_empty() {
                    n.ip_min = Some(ip(a)?);
                }
                n.ip_max = b.map(ip).transpose()?;
                if let Some(p) = ports {
                    let (p1, p2) = match p.split_once('-') {
                        Some((x, y)) => (x.to_owned(), Some(y.to_owned())),
                        None => (p, None),
                    };
                    n.port_min = Some(parse_u16(&p1, "nat port")?);
                    n.port_max = p2.map(|y| parse_u16(&y, "nat port")).transpose()?;
                }
                // What OVS prints for these ranges is the shorter form (`a` for `a-a`,
                // no ports for port 0 or without an address), so parse them to the
                // value that text stands for.
                let bad = || ParseError::new(format!("nat: invalid range {v:?}"));
                if n.ip_min.is_none() && n.ip_max.is_some() {
                    return Err(bad());
                }
                if let (Some(a), Some(b)) = (n.ip_min, n.ip_max) {
                    if b < a || a.is_ipv4() != b.is_ipv4() {
                        return Err(bad());
                    }
                }
                if n.ip_min.is_none() || n.port_min == Some(0) {
                    if n.port_max.is_some_and(|p| p != 0) && n.ip_min.is_some() {
                        return Err(bad());
                    }
                    (n.port_min, n.port_max) = (None, None);
                }
                if let (Some(a), Some(b)) = (n.port_min, n.port_max) {
                    if b < a {
                        return Err(bad());
                    }
                }
                if n.ip_max == n.ip_min {
                    n.ip_max = None;
                }
                if n.port_max == n.port_min {
                    n.port_max = None;
                }
            }
            _ => return err(format!("nat: unknown argument {tok:?}")),
        }
    }
    Ok(n)
}

fn parse_ct(args: &str, ctx: &Ctx<'_>) -> Result<Ct, ParseError> {
    let mut ct = Ct {
        flags: 0,
        zone: CtZone::Imm(0),
        table: None,
        alg: 0,
        actions: Vec::new(),
    };
    for tok in split_top(args, false) {
        if let Some(a) = call(tok, "exec") {
            ct.actions.extend(parse_action_list(a, ctx)?);
            continue;
        }
        if tok == "nat" || tok.starts_with("nat(") {
            ct.actions
                .push(Action::Nx(NxAction::Nat(parse_nat(call(tok, "nat"))?)));
            continue;
        }
        match key_value(tok) {
            ("commit", None) => ct.flags |= ct_flags::COMMIT,
            ("force", None) => ct.flags |= ct_flags::FORCE,
            ("table", Some(t)) => ct.table = Some(ctx.names.parse(t)?),
            ("zone", Some(z)) => {
                ct.zone = if z.contains('[') || z.starts_with("NXM") || z.starts_with("OXM") {
                    CtZone::Field(parse_slice(z)?)
                } else {
                    CtZone::Imm(parse_u16(z, "ct zone")?)
                };
            }
            ("alg", Some(a)) => {
                ct.alg = match a {
                    "ftp" => 21,
                    "tftp" => 69,
                    n => parse_u16(n, "alg")?,
                }
            }
            _ => return err(format!("ct: unknown argument {tok:?}")),
        }
    }
    Ok(ct)
}

fn parse_u8(s: &str, what: &str) -> Result<u8, ParseError> {
    u8::try_from(parse_uint(s)?)
        .map_err(|_| ParseError::new(format!("{what} {s} is out of range (0-255)")))
}

fn parse_bundle(args: &str, load: bool) -> Result<Bundle, ParseError> {
    let toks = split_top(args, false);
    let fixed = if load { 5 } else { 4 };
    let usage = || {
        ParseError::new(format!(
            "bundle{}({args}): expected FIELDS,BASIS,ALGORITHM,ofport,{}members:PORT,...",
            if load { "_load" } else { "" },
            if load { "DST," } else { "" }
        ))
    };
    if toks.len() <= fixed {
        return Err(usage());
    }
    let member_type = match toks[3] {
        "ofport" => NXM_OF_IN_PORT,
        t => parse_u32(t, "bundle member type")?,
    };
    let dst = if load {
        Some(parse_slice(toks[4])?)
    } else {
        None
    };
    let first = toks[fixed]
        .strip_prefix("members:")
        .or_else(|| toks[fixed].strip_prefix("slaves:"))
        .ok_or_else(usage)?;
    let mut members = Vec::new();
    for p in std::iter::once(first).chain(toks[fixed + 1..].iter().copied()) {
        if p.is_empty() {
            continue;
        }
        members.push(
            port32_to_16(parse_port(p)?)
                .ok_or_else(|| ParseError::new(format!("bundle: port {p} too large")))?,
        );
    }
    Ok(Bundle {
        fields: parse_name(HASH_FIELDS, toks[0], "bundle fields")?,
        basis: parse_u16(toks[1], "bundle basis")?,
        algorithm: parse_name(BUNDLE_ALGS, toks[2], "bundle algorithm")?,
        member_type,
        members,
        dst,
    })
}

fn parse_multipath(args: &str) -> Result<Multipath, ParseError> {
    let toks = split_top(args, false);
    let [fields, basis, alg, n_links, arg, dst] = toks.as_slice() else {
        return err(format!(
            "multipath({args}): expected FIELDS,BASIS,ALGORITHM,N_LINKS,ARG,DST"
        ));
    };
    let n = parse_u32(n_links, "multipath n_links")?;
    if !(1..=65536).contains(&n) {
        return err(format!("multipath: n_links {n} must be 1..65536"));
    }
    Ok(Multipath {
        fields: parse_name(HASH_FIELDS, fields, "multipath fields")?,
        basis: parse_u16(basis, "multipath basis")?,
        algorithm: parse_name(MULTIPATH_ALGS, alg, "multipath algorithm")?,
        max_link: (n - 1) as u16,
        arg: parse_u32(arg, "multipath arg")?,
        dst: parse_slice(dst)?,
    })
}

fn imm_bytes(v: u128, n_bits: u16) -> Vec<u8> {
    be_bytes(v, 2 * usize::from(n_bits).div_ceil(16))
}

fn parse_learn(args: &str, ctx: &Ctx<'_>) -> Result<Learn, ParseError> {
    let mut l = Learn {
        priority: DEFAULT_PRIORITY,
        table_id: 1,
        ..Learn::default()
    };
    for tok in split_top(args, false) {
        let (k, v) = match tok.find('=') {
            Some(i) if !tok[..i].contains(['[', ':']) => (&tok[..i], Some(&tok[i + 1..])),
            _ => (tok, None),
        };
        match (k, v) {
            ("table", Some(t)) => l.table_id = ctx.names.parse(t)?,
            ("idle_timeout", Some(t)) => l.idle_timeout = parse_u16(t, "idle_timeout")?,
            ("hard_timeout", Some(t)) => l.hard_timeout = parse_u16(t, "hard_timeout")?,
            ("fin_idle_timeout", Some(t)) => l.fin_idle_timeout = parse_u16(t, "fin_idle_timeout")?,
            ("fin_hard_timeout", Some(t)) => l.fin_hard_timeout = parse_u16(t, "fin_hard_timeout")?,
            ("priority", Some(t)) => l.priority = parse_u16(t, "priority")?,
            ("cookie", Some(t)) => l.cookie = parse_u64(t, "cookie")?,
            ("limit", Some(t)) => l.limit = parse_u32(t, "limit")?,
            ("result_dst", Some(t)) => {
                let d = parse_slice(t)?;
                if d.n_bits != 1 {
                    return err(format!("learn: result_dst={t} must be one bit"));
                }
                l.result_dst = Some(d);
            }
            ("send_flow_rem", None) => l.flags |= 1,
            ("delete_learned", None) => l.flags |= 2,
            _ => l.specs.push(parse_learn_spec(tok)?),
        }
    }
    Ok(l)
}

/// A learn spec copies `n_bits` bits: source and destination must be that wide
/// (on the wire only the destination's width is sent).
fn same_width(src: FieldSlice, dst: &FieldSlice, tok: &str) -> Result<FieldSlice, ParseError> {
    if src.n_bits != dst.n_bits {
        return err(format!(
            "learn: {tok:?}: source is {} bits, destination {}",
            src.n_bits, dst.n_bits
        ));
    }
    Ok(src)
}

fn parse_learn_spec(tok: &str) -> Result<LearnSpec, ParseError> {
    if let Some(rest) = tok.strip_prefix("load:") {
        let (src, dst) = rest
            .split_once("->")
            .ok_or_else(|| ParseError::new(format!("learn: bad load {tok:?}")))?;
        let dst = parse_slice(dst)?;
        let src = if src.starts_with(|c: char| c.is_ascii_digit()) {
            LearnSrc::Imm(imm_bytes(parse_uint(src)?, dst.n_bits))
        } else {
            LearnSrc::Field(same_width(parse_slice(src)?, &dst, tok)?)
        };
        return Ok(LearnSpec {
            n_bits: dst.n_bits,
            src,
            dst: LearnDst::Load(dst),
        });
    }
    if let Some(rest) = tok.strip_prefix("output:") {
        let src = parse_slice(rest)?;
        return Ok(LearnSpec {
            n_bits: src.n_bits,
            src: LearnSrc::Field(src),
            dst: LearnDst::Output,
        });
    }
    match tok.split_once('=') {
        None => {
            let s = parse_slice(tok)?;
            Ok(LearnSpec {
                n_bits: s.n_bits,
                src: LearnSrc::Field(s),
                dst: LearnDst::Match(s),
            })
        }
        Some((dst, src)) => {
            let dst_slice = parse_slice(dst)?;
            let looks_like_field =
                src.contains('[') || src.starts_with("NXM") || src.starts_with("OXM");
            if looks_like_field {
                let src = same_width(parse_slice(src)?, &dst_slice, tok)?;
                Ok(LearnSpec {
                    n_bits: dst_slice.n_bits,
                    src: LearnSrc::Field(src),
                    dst: LearnDst::Match(dst_slice),
                })
            } else {
                let d = act_def(dst_slice.field)
                    .map(|x| x.0)
                    .ok_or_else(|| ParseError::new(format!("learn: {dst:?}")))?;
                let v = if dst.contains('[') {
                    parse_uint(src)?
                } else {
                    parse_value(d, src)?.value_u128()
                };
                Ok(LearnSpec {
                    n_bits: dst_slice.n_bits,
                    src: LearnSrc::Imm(imm_bytes(v, dst_slice.n_bits)),
                    dst: LearnDst::Match(dst_slice),
                })
            }
        }
    }
}

fn parse_controller(args: Option<&str>) -> Result<Action, ParseError> {
    let mut c = Controller2::default();
    let (mut max_len, mut id, mut reason) = (u16::MAX, 0u16, 1u8);
    for tok in args.map(|a| split_top(a, false)).unwrap_or_default() {
        match key_value(tok) {
            ("max_len", Some(v)) => max_len = parse_u16(v, "max_len")?,
            ("id", Some(v)) => id = parse_u16(v, "controller id")?,
            ("reason", Some(v)) => {
                reason = match v {
                    "no_match" => 0,
                    "action" => 1,
                    "invalid_ttl" => 2,
                    "action_set" => 3,
                    "group" => 4,
                    "packet_out" => 5,
                    _ => return err(format!("controller: unknown reason {v:?}")),
                }
            }
            ("userdata", Some(v)) => {
                let b: Result<Vec<u8>, _> =
                    v.split('.').map(|x| u8::from_str_radix(x, 16)).collect();
                c.userdata = Some(
                    b.map_err(|_| ParseError::new(format!("controller: bad userdata {v:?}")))?,
                );
            }
            ("pause", None) => c.pause = true,
            ("meter_id", Some(v)) => c.meter_id = Some(parse_u32(v, "meter_id")?),
            _ => return err(format!("controller: unknown argument {tok:?}")),
        }
    }
    // Open vSwitch's choice of encoding (encode_CONTROLLER).
    Ok(if c.userdata.is_some() || c.pause || c.meter_id.is_some() {
        c.max_len = (max_len != u16::MAX).then_some(max_len);
        c.controller_id = (id != 0).then_some(id);
        c.reason = (reason != 1).then_some(reason);
        Action::Nx(NxAction::Controller2(c))
    } else if id == 0 && reason == 1 {
        Action::Output {
            port: port::CONTROLLER,
            max_len,
        }
    } else {
        Action::Nx(NxAction::Controller {
            max_len,
            controller_id: id,
            reason,
        })
    })
}

fn set(field: Field, v: &str, out: &mut Vec<Action>) -> Result<(), ParseError> {
    let d = field
        .def()
        .ok_or_else(|| ParseError::new("internal: field table"))?;
    out.push(Action::SetField(parse_value(d, v)?));
    Ok(())
}

/// Parses one action into `out` (some text forms make several actions).
fn parse_action(tok: &str, ctx: &Ctx<'_>, out: &mut Vec<Action>) -> Result<(), ParseError> {
    if let Some(a) = call(tok, "ct") {
        out.push(Action::Nx(NxAction::Ct(parse_ct(a, ctx)?)));
        return Ok(());
    }
    if let Some(a) = call(tok, "learn") {
        out.push(Action::Nx(NxAction::Learn(parse_learn(a, ctx)?)));
        return Ok(());
    }
    if let Some(a) = call(tok, "clone") {
        let mut inner = Vec::new();
        for t in split_top(a, false) {
            parse_action(t, ctx, &mut inner)?;
        }
        out.push(Action::Nx(NxAction::Clone(inner)));
        return Ok(());
    }
    if let Some(rest) = tok.strip_prefix("check_pkt_larger(") {
        let (n, dst) = rest.split_once(")->").ok_or_else(|| {
            ParseError::new(format!("{tok}: expected check_pkt_larger(LEN)->FIELD[bit]"))
        })?;
        let dst = parse_slice(dst)?;
        if dst.n_bits != 1 {
            return err(format!("{tok}: the destination must be one bit"));
        }
        out.push(Action::Nx(NxAction::CheckPktLarger {
            pkt_len: parse_u16(n, "check_pkt_larger length")?,
            dst,
        }));
        return Ok(());
    }
    if let Some(a) = call(tok, "bundle")
        .map(|a| (a, false))
        .or(call(tok, "bundle_load").map(|a| (a, true)))
    {
        out.push(Action::Nx(NxAction::Bundle(parse_bundle(a.0, a.1)?)));
        return Ok(());
    }
    if let Some(a) = call(tok, "multipath") {
        out.push(Action::Nx(NxAction::Multipath(parse_multipath(a)?)));
        return Ok(());
    }
    if let Some(a) = call(tok, "set_mpls_ttl") {
        out.push(Action::SetMplsTtl(parse_u8(a, "mpls ttl")?));
        return Ok(());
    }
    if let Some(a) = call(tok, "resubmit") {
        let parts: Vec<&str> = a.split(',').collect();
        let ct = match parts.as_slice() {
            [_, _, "ct"] => true,
            [_] | [_, _] => false,
            _ => return err(format!("{tok}: expected resubmit([port],[table][,ct])")),
        };
        let (p, t) = (parts[0], parts.get(1).copied().unwrap_or(""));
        let port = if p.is_empty() {
            OFPP_IN_PORT_16
        } else {
            port32_to_16(parse_port(p)?)
                .ok_or_else(|| ParseError::new(format!("resubmit: port {p} too large")))?
        };
        let table = if t.is_empty() {
            TABLE_NONE
        } else {
            ctx.names.parse(t)?
        };
        out.push(Action::Nx(if ct {
            NxAction::ResubmitCt { port, table }
        } else {
            NxAction::Resubmit { port, table }
        }));
        return Ok(());
    }
    if let Some(a) = call(tok, "conjunction") {
        let (id, k) = a
            .split_once(',')
            .ok_or_else(|| ParseError::new(format!("bad {tok:?}")))?;
        let (k, n) = k
            .split_once('/')
            .ok_or_else(|| ParseError::new(format!("bad {tok:?}")))?;
        let (k, n) = (parse_uint(k)?, parse_uint(n)?);
        if k == 0 || k > n || !(2..=64).contains(&n) {
            return err(format!("{tok}: clause must be 1..n and n 2..64"));
        }
        out.push(Action::Nx(NxAction::Conjunction {
            id: parse_u32(id, "conjunction id")?,
            clause: (k - 1) as u8,
            n_clauses: n as u8,
        }));
        return Ok(());
    }
    if let Some(a) = call(tok, "dec_ttl") {
        let ids: Result<Vec<u16>, _> = split_top(a, false)
            .iter()
            .map(|x| parse_u16(x, "controller id"))
            .collect();
        out.push(Action::Nx(NxAction::DecTtlCntIds(ids?)));
        return Ok(());
    }
    if let Some(a) = call(tok, "controller") {
        out.push(parse_controller(Some(a))?);
        return Ok(());
    }
    if let Some(a) = call(tok, "nat") {
        out.push(Action::Nx(NxAction::Nat(parse_nat(Some(a))?)));
        return Ok(());
    }
    let proto = ctx.match_.exact(Field::IP_PROTO);
    match key_value(tok) {
        ("output", Some(p)) if p.contains('[') || p.starts_with("NXM") || p.starts_with("OXM") => {
            out.push(Action::Nx(NxAction::OutputReg {
                src: parse_slice(p)?,
                max_len: u16::MAX,
            }));
        }
        ("output", Some(p)) => out.push(Action::Output {
            port: parse_port(p)?,
            max_len: 0,
        }),
        ("controller" | "CONTROLLER", None) => out.push(parse_controller(None)?),
        ("controller" | "CONTROLLER", Some(n)) => out.push(Action::Output {
            port: port::CONTROLLER,
            max_len: parse_u16(n, "max_len")?,
        }),
        ("group", Some(g)) => out.push(Action::Group(parse_u32(g, "group")?)),
        ("resubmit", Some(p)) => {
            let port = port32_to_16(parse_port(p)?)
                .ok_or_else(|| ParseError::new(format!("resubmit: port {p} too large")))?;
            out.push(Action::Nx(NxAction::Resubmit {
                port,
                table: TABLE_NONE,
            }));
        }
        ("set_field", Some(a)) => parse_set_field(a, out)?,
        ("load", Some(a)) => {
            let (v, f) = a
                .rsplit_once("->")
                .ok_or_else(|| ParseError::new(format!("load:{a}: expected VALUE->FIELD[..]")))?;
            let dst = parse_slice(f)?;
            // NXAST_REG_LOAD's ofs_nbits holds at most 64 bits.
            if dst.n_bits > 64 {
                return err(format!(
                    "load:{a}: at most 64 bits at a time (use set_field for wider values)"
                ));
            }
            let value = parse_u64(v, "load value")?;
            if dst.n_bits < 64 && value >> dst.n_bits != 0 {
                return err(format!(
                    "load:{a}: value does not fit in {} bits",
                    dst.n_bits
                ));
            }
            out.push(Action::Nx(NxAction::RegLoad { dst, value }));
        }
        ("move", Some(a)) => {
            let (s, d) = a
                .split_once("->")
                .ok_or_else(|| ParseError::new(format!("move:{a}: expected SRC->DST")))?;
            let (src, dst) = (parse_slice(s)?, parse_slice(d)?);
            if src.n_bits != dst.n_bits {
                return err(format!(
                    "move:{a}: source is {} bits, destination {}",
                    src.n_bits, dst.n_bits
                ));
            }
            out.push(Action::Nx(NxAction::RegMove { src, dst }));
        }
        ("mod_dl_src", Some(v)) => set(Field::ETH_SRC, v, out)?,
        ("mod_dl_dst", Some(v)) => set(Field::ETH_DST, v, out)?,
        ("mod_nw_src", Some(v)) => set(Field::IPV4_SRC, v, out)?,
        ("mod_nw_dst", Some(v)) => set(Field::IPV4_DST, v, out)?,
        ("mod_nw_tos", Some(v)) => out.push(Action::SetField(OxmField::uint(
            Field::IP_DSCP,
            parse_uint(v)? >> 2,
        ))),
        ("mod_tp_src" | "mod_tp_dst", Some(v)) => {
            let src = tok.starts_with("mod_tp_src");
            let f = match (proto, src) {
                (Some(6), true) => Field::TCP_SRC,
                (Some(6), false) => Field::TCP_DST,
                (Some(17), true) => Field::UDP_SRC,
                (Some(17), false) => Field::UDP_DST,
                (Some(132), true) => Field::SCTP_SRC,
                (Some(132), false) => Field::SCTP_DST,
                _ => return err(format!("{tok}: the match must select tcp, udp or sctp")),
            };
            set(f, v, out)?;
        }
        ("push_vlan", Some(v)) => out.push(Action::PushVlan(parse_u16(v, "ethertype")?)),
        ("push_mpls", Some(v)) => out.push(Action::PushMpls(parse_u16(v, "ethertype")?)),
        ("pop_mpls", Some(v)) => out.push(Action::PopMpls(parse_u16(v, "ethertype")?)),
        ("set_mpls_label", Some(v)) => set(Field::MPLS_LABEL, v, out)?,
        ("set_mpls_tc", Some(v)) => set(Field::MPLS_TC, v, out)?,
        ("set_mpls_ttl", Some(v)) => out.push(Action::SetMplsTtl(parse_u8(v, "mpls ttl")?)),
        ("dec_mpls_ttl", None) => out.push(Action::DecMplsTtl),
        // OpenFlow 1.0's names: OVS adds a push_vlan when neither the match nor an
        // earlier action gives the packet a VLAN header (encode_SET_VLAN_VID/PCP).
        ("mod_vlan_vid" | "mod_vlan_pcp", Some(v)) => {
            let has_vlan = ctx
                .match_
                .get(Field::VLAN_VID)
                .is_some_and(|f| f.value_u128() & f.mask_u128() & 0x1000 != 0)
                || out.iter().any(|a| matches!(a, Action::PushVlan(_)));
            if !has_vlan {
                out.push(Action::PushVlan(0x8100));
            }
            if tok.starts_with("mod_vlan_vid") {
                let vid = parse_u16(v, "vlan vid")?;
                if vid > 0xfff {
                    return err(format!("{tok}: VLAN id must be 0..4095"));
                }
                out.push(Action::SetField(OxmField::uint(
                    Field::VLAN_VID,
                    u128::from(vid | 0x1000),
                )));
            } else {
                let pcp = parse_u8(v, "vlan pcp")?;
                if pcp > 7 {
                    return err(format!("{tok}: VLAN priority must be 0..7"));
                }
                out.push(Action::SetField(OxmField::uint(
                    Field::VLAN_PCP,
                    pcp.into(),
                )));
            }
        }
        ("pop_vlan" | "strip_vlan", None) => out.push(Action::PopVlan),
        ("dec_ttl", None) => out.push(Action::DecTtl),
        ("ct_clear", None) => out.push(Action::Nx(NxAction::CtClear)),
        // `nat` without arguments: how a nat that is not ct's first action prints.
        ("nat", None) => out.push(Action::Nx(NxAction::Nat(Nat::default()))),
        ("ct", None) => out.push(Action::Nx(NxAction::Ct(parse_ct("", ctx)?))),
        ("exit", None) => out.push(Action::Nx(NxAction::Exit)),
        ("note", Some(v)) => {
            let b: Result<Vec<u8>, _> = v
                .split('.')
                .filter(|x| !x.is_empty())
                .map(|x| u8::from_str_radix(x, 16))
                .collect();
            out.push(Action::Nx(NxAction::note(
                &b.map_err(|_| ParseError::new(format!("note: bad hex {v:?}")))?,
            )));
        }
        (p, None)
            if port::from_name(p).is_some()
                && p.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            out.push(Action::Output {
                port: parse_port(p)?,
                max_len: 0,
            })
        }
        (p, None) if p.chars().all(|c| c.is_ascii_digit()) => out.push(Action::Output {
            port: parse_port(p)?,
            max_len: 0,
        }),
        _ => return err(format!("unknown action {tok:?}")),
    }
    Ok(())
}

pub(crate) fn parse_action_list(s: &str, ctx: &Ctx<'_>) -> Result<Vec<Action>, ParseError> {
    let mut out = Vec::new();
    for tok in split_top(s, false) {
        if tok == "drop" {
            continue;
        }
        parse_action(tok, ctx, &mut out)?;
    }
    Ok(out)
}

/// Parses what follows `actions=` into instructions (canonical order).
pub(crate) fn parse_instructions(s: &str, ctx: &Ctx<'_>) -> Result<Vec<Instruction>, ParseError> {
    let mut apply = Vec::new();
    let mut ins = Vec::new();
    for tok in split_top(s, false) {
        if let Some(a) = call(tok, "write_actions") {
            ins.push(Instruction::WriteActions(parse_action_list(a, ctx)?));
            continue;
        }
        match key_value(tok) {
            ("drop", None) => {}
            ("clear_actions", None) => ins.push(Instruction::ClearActions),
            ("goto_table", Some(t)) => ins.push(Instruction::GotoTable(ctx.names.parse(t)?)),
            ("meter", Some(m)) => ins.push(Instruction::Meter(parse_u32(m, "meter")?)),
            ("write_metadata", Some(v)) => {
                let (m, mask) = match v.split_once('/') {
                    Some((a, b)) => (parse_u64(a, "metadata")?, parse_u64(b, "metadata mask")?),
                    None => (parse_u64(v, "metadata")?, u64::MAX),
                };
                ins.push(Instruction::WriteMetadata { metadata: m, mask });
            }
            _ => parse_action(tok, ctx, &mut apply)?,
        }
    }
    if !apply.is_empty() {
        ins.push(Instruction::ApplyActions(apply));
    }
    ins.sort_by_key(instruction_rank);
    for w in ins.windows(2) {
        if instruction_rank(&w[0]) == instruction_rank(&w[1]) {
            return err("an instruction (goto_table, write_metadata, clear_actions, write_actions, meter) appears twice");
        }
    }
    Ok(ins)
}
