//! Properties: decode(encode(x)) == x for generated messages, text round trips for
//! generated flows, and decoding arbitrary or corrupted bytes never panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};
use openflow::action::nx::NXM_OF_IN_PORT;
use openflow::action::nx::{ct_flags, nat_flags};
use openflow::action::{
    Bundle, Controller2, Ct, CtZone, FieldSlice, Learn, LearnDst, LearnSpec, LearnSrc, Multipath,
    Nat,
};
use openflow::codec::OfCodec;
use openflow::oxm::FIELDS;
use openflow::*;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Fields that are valid together with `tcp` and `ct_state=+est+trk`.
fn tcp_fields() -> Vec<&'static openflow::oxm::FieldDef> {
    let ok = [
        "in_port",
        "eth_src",
        "eth_dst",
        "ip_src",
        "ip_dst",
        "ip_dscp",
        "nw_ecn",
        "tcp_src",
        "tcp_dst",
        "tun_id",
        "tun_src",
        "tcp_flags",
        "nw_ttl",
        "tun_dst",
        "reg0",
        "reg1",
        "reg2",
        "reg3",
        "reg7",
        "reg15",
        "pkt_mark",
        "ct_zone",
        "ct_mark",
        "ct_label",
        "ct_nw_src",
        "ct_nw_dst",
        "ct_nw_proto",
        "metadata",
        "conj_id",
    ];
    FIELDS.iter().filter(|d| ok.contains(&d.name)).collect()
}

fn arb_field() -> impl Strategy<Value = OxmField> {
    let defs = tcp_fields();
    (0..defs.len(), any::<u128>(), any::<u128>(), any::<bool>()).prop_map(
        move |(i, v, m, masked)| {
            let d = defs[i];
            let w = usize::from(d.len);
            let mut v = v;
            if d.name == "ip_dscp" {
                v &= 0x3f;
            }
            if d.name == "nw_ecn" {
                v &= 3;
            }
            if masked && d.maskable {
                OxmField::uint_masked(d.field, v, m)
            } else {
                let f = OxmField::uint(d.field, v);
                OxmField {
                    value: f.value[f.value.len() - w..].to_vec(),
                    ..f
                }
            }
        },
    )
}

fn arb_match() -> impl Strategy<Value = Match> {
    proptest::collection::vec(arb_field(), 0..8).prop_map(|fields| {
        let mut all = vec![
            OxmField::uint(Field::ETH_TYPE, 0x0800),
            OxmField::uint(Field::IP_PROTO, 6),
            OxmField::uint_masked(Field::CT_STATE, 0x22, 0x22),
        ];
        for f in fields {
            if !all.iter().any(|a| a.field == f.field) {
                all.push(f);
            }
        }
        // ct_tp_* would need ct_nw_proto; ct_nw_proto is in the list, ct_tp_* is not.
        Match::from_fields(all).expect("generated match is valid")
    })
}

fn act_fields() -> Vec<Field> {
    FIELDS
        .iter()
        .filter(|d| d.len <= 8)
        .map(|d| d.act)
        .collect()
}

fn arb_slice() -> impl Strategy<Value = FieldSlice> {
    let fs = act_fields();
    (0..fs.len(), 0u16..64, 1u16..=64).prop_map(move |(i, ofs, n)| FieldSlice {
        field: fs[i],
        ofs,
        n_bits: n,
    })
}

fn arb_ip() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into())),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into())),
    ]
}

fn arb_nat() -> impl Strategy<Value = Nat> {
    (
        0u16..32,
        proptest::option::of(arb_ip()),
        any::<bool>(),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(|(flags, ips, has_max, p1, p2)| Nat {
            flags,
            ip_min: ips.map(|x| x.0),
            ip_max: ips.filter(|_| has_max).map(|x| x.1),
            port_min: p1,
            port_max: p2,
        })
}

fn arb_simple_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        any::<u32>().prop_map(Action::Group),
        any::<u32>().prop_map(|v| Action::SetField(OxmField::uint(Field::reg(3), v.into()))),
        any::<u32>().prop_map(|v| Action::SetField(OxmField::uint(Field::IPV4_DST, v.into()))),
        any::<u16>().prop_map(Action::PushVlan),
        Just(Action::PopVlan),
        Just(Action::DecTtl),
        (any::<u16>(), any::<u8>())
            .prop_map(|(port, table)| Action::Nx(NxAction::Resubmit { port, table })),
        (arb_slice(), any::<u64>())
            .prop_map(|(dst, value)| Action::Nx(NxAction::RegLoad { dst, value })),
        (arb_slice(), arb_slice()).prop_map(|(src, mut dst)| {
            dst.n_bits = src.n_bits;
            Action::Nx(NxAction::RegMove { src, dst })
        }),
        (arb_slice(), any::<u16>())
            .prop_map(|(src, max_len)| Action::Nx(NxAction::OutputReg { src, max_len })),
        arb_nat().prop_map(|n| Action::Nx(NxAction::Nat(n))),
        Just(Action::Nx(NxAction::CtClear)),
        Just(Action::Nx(NxAction::Exit)),
        (any::<u32>(), 0u8..4, 4u8..8).prop_map(|(id, clause, n_clauses)| Action::Nx(
            NxAction::Conjunction {
                id,
                clause,
                n_clauses
            }
        )),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Action::Nx(NxAction::note(&b))),
        proptest::collection::vec(any::<u16>(), 0..5)
            .prop_map(|v| Action::Nx(NxAction::DecTtlCntIds(v))),
        (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(max_len, controller_id, reason)| {
            Action::Nx(NxAction::Controller {
                max_len,
                controller_id,
                reason,
            })
        }),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
            any::<bool>(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(
                |(max_len, controller_id, reason, userdata, pause, meter_id)| {
                    Action::Nx(NxAction::Controller2(Controller2 {
                        max_len,
                        controller_id,
                        reason,
                        userdata,
                        pause,
                        meter_id,
                    }))
                }
            ),
        (arb_slice(), arb_slice(), any::<u64>(), 0u8..3).prop_map(|(src, dst, imm, kind)| {
            let n = src.n_bits;
            let dst = FieldSlice { n_bits: n, ..dst };
            let spec = match kind {
                0 => LearnSpec {
                    n_bits: n,
                    src: LearnSrc::Field(src),
                    dst: LearnDst::Match(dst),
                },
                1 => LearnSpec {
                    n_bits: n,
                    src: LearnSrc::Imm(
                        imm.to_be_bytes()[8 - 2 * usize::from(n).div_ceil(16)..].to_vec(),
                    ),
                    dst: LearnDst::Load(dst),
                },
                _ => LearnSpec {
                    n_bits: n,
                    src: LearnSrc::Field(src),
                    dst: LearnDst::Output,
                },
            };
            Action::Nx(NxAction::Learn(Learn {
                idle_timeout: 10,
                priority: 3,
                table_id: 7,
                specs: vec![spec],
                ..Learn::default()
            }))
        }),
        any::<u16>().prop_map(Action::PushMpls),
        any::<u16>().prop_map(Action::PopMpls),
        any::<u8>().prop_map(Action::SetMplsTtl),
        Just(Action::DecMplsTtl),
        (any::<u16>(), any::<u8>())
            .prop_map(|(port, table)| Action::Nx(NxAction::ResubmitCt { port, table })),
        (any::<u16>(), arb_slice()).prop_map(|(pkt_len, dst)| Action::Nx(
            NxAction::CheckPktLarger {
                pkt_len,
                dst: FieldSlice { n_bits: 1, ..dst }
            }
        )),
        (
            0u16..2,
            0u16..7,
            any::<u16>(),
            proptest::collection::vec(0u16..0xff00, 0..5),
            proptest::option::of(arb_slice())
        )
            .prop_map(|(algorithm, fields, basis, members, dst)| Action::Nx(
                NxAction::Bundle(Bundle {
                    algorithm,
                    fields,
                    basis,
                    member_type: NXM_OF_IN_PORT,
                    members,
                    dst,
                })
            )),
        (
            0u16..7,
            any::<u16>(),
            0u16..4,
            any::<u16>(),
            any::<u32>(),
            arb_slice()
        )
            .prop_map(|(fields, basis, algorithm, max_link, arg, dst)| Action::Nx(
                NxAction::Multipath(Multipath {
                    fields,
                    basis,
                    algorithm,
                    max_link,
                    arg,
                    dst
                })
            )),
        (1u32..1000, proptest::option::of(arb_slice()), arb_slice()).prop_map(|(limit, rd, m)| {
            Action::Nx(NxAction::Learn(Learn {
                table_id: 2,
                limit,
                result_dst: rd.map(|d| FieldSlice { n_bits: 1, ..d }),
                specs: vec![LearnSpec {
                    n_bits: m.n_bits,
                    src: LearnSrc::Field(m),
                    dst: LearnDst::Match(m),
                }],
                ..Learn::default()
            }))
        }),
        proptest::collection::vec(any::<u8>(), 0..3).prop_map(|k| Action::Unknown {
            kind: 11,
            body: Bytes::from(vec![0; 4 + 8 * k.len()])
        }),
    ]
}

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => arb_simple_action(),
        1 => (any::<bool>(), any::<u16>(), proptest::option::of(any::<u8>()), proptest::collection::vec(arb_simple_action(), 0..3))
            .prop_map(|(commit, zone, table, actions)| Action::Nx(NxAction::Ct(Ct {
                flags: if commit { ct_flags::COMMIT } else { 0 },
                zone: CtZone::Imm(zone),
                table: table.filter(|&t| t != 0xff),
                alg: 0,
                actions,
            }))),
        1 => proptest::collection::vec(arb_simple_action(), 0..3)
            .prop_map(|a| Action::Nx(NxAction::Clone(a))),
    ]
}

fn arb_instructions() -> impl Strategy<Value = Vec<Instruction>> {
    (
        proptest::collection::vec(arb_action(), 0..5),
        proptest::option::of(any::<u8>()),
        proptest::option::of((any::<u64>(), any::<u64>())),
        any::<bool>(),
    )
        .prop_map(|(acts, goto, meta, clear)| {
            let mut v = Vec::new();
            if !acts.is_empty() {
                v.push(Instruction::ApplyActions(acts));
            }
            if clear {
                v.push(Instruction::ClearActions);
            }
            if let Some((metadata, mask)) = meta {
                v.push(Instruction::WriteMetadata { metadata, mask });
            }
            if let Some(t) = goto {
                v.push(Instruction::GotoTable(t));
            }
            v
        })
}

fn arb_flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        arb_match(),
        arb_instructions(),
        any::<u64>(),
        any::<u8>(),
        0u8..5,
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(m, ins, cookie, table, cmd, prio, idle)| {
            let command = [
                FlowModCommand::Add,
                FlowModCommand::Modify,
                FlowModCommand::ModifyStrict,
                FlowModCommand::Delete,
                FlowModCommand::DeleteStrict,
            ][usize::from(cmd)];
            let mut fm = FlowMod::new(command, table, prio, m);
            fm.cookie = cookie;
            fm.idle_timeout = idle;
            fm.instructions = ins;
            fm
        })
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => arb_flow_mod().prop_map(Message::FlowMod),
        1 => (any::<u32>(), 0u8..4, proptest::collection::vec((any::<u16>(), proptest::collection::vec(arb_action(), 0..3)), 0..4))
            .prop_map(|(group_id, t, b)| Message::GroupMod(GroupMod {
                command: GroupModCommand::Add,
                group_type: [GroupType::All, GroupType::Select, GroupType::Indirect, GroupType::FastFailover][usize::from(t)],
                group_id,
                buckets: b.into_iter().map(|(w, a)| Bucket::new(w, a)).collect(),
            })),
        1 => (arb_match(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(m, d)| Message::PacketIn(PacketIn {
            buffer_id: u32::MAX, total_len: d.len() as u16, reason: 1, table_id: 3, cookie: 9, match_: m, data: d.into(),
        })),
        1 => (proptest::collection::vec(arb_action(), 0..3), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(actions, d)| Message::PacketOut(PacketOut { buffer_id: u32::MAX, in_port: 1, actions, data: d.into() })),
        1 => (any::<u32>(), 0u16..8, any::<u16>()).prop_map(|(bundle_id, k, flags)| {
            use BundleCtrlType::*;
            let kind = [OpenRequest, OpenReply, CloseRequest, CloseReply, CommitRequest, CommitReply, DiscardRequest, DiscardReply][usize::from(k)];
            Message::BundleControl(BundleControl { bundle_id, kind, flags })
        }),
        1 => (any::<u32>(), arb_flow_mod()).prop_map(|(bundle_id, fm)| Message::BundleAdd(BundleAdd {
            bundle_id, flags: 1, message: Box::new(Frame::new(0, Message::FlowMod(fm))),
        })),
        1 => (arb_match(), arb_instructions()).prop_map(|(m, ins)| Message::MultipartReply(MultipartReply {
            flags: 1,
            body: MultipartReplyBody::FlowStats(vec![FlowStats {
                table_id: 1, duration_sec: 2, duration_nsec: 3, priority: 4, idle_timeout: 5, hard_timeout: 6,
                flags: 7, cookie: 8, packet_count: 9, byte_count: 10, match_: m, instructions: ins,
            }]),
        })),
        1 => proptest::collection::vec(any::<u8>(), 0..32).prop_map(|d| Message::EchoRequest(d.into())),
        1 => (any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..80))
            .prop_map(|(t, c, d)| Message::Error(ErrorMsg { err_type: t & 0x7fff, code: c, experimenter: None, data: d.into() })),
        1 => Just(Message::Hello(Hello::default())),
    ]
}

fn fits(s: &FieldSlice) -> bool {
    s.field
        .width()
        .is_some_and(|w| u32::from(s.ofs) + u32::from(s.n_bits) <= u32::from(w) * 8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity(msg in arb_message(), xid in any::<u32>()) {
        let mut frame = Frame::new(xid, msg);
        // The inner message of a bundle add carries the add's xid on the wire.
        if let Message::BundleAdd(b) = &mut frame.msg {
            b.message.xid = xid;
        }
        let mut b = BytesMut::new();
        frame.encode(&mut b).unwrap();
        prop_assert_eq!(b.len(), frame.wire_len());
        prop_assert_eq!(Frame::decode(&b).unwrap(), frame);
    }

    #[test]
    fn flow_text_round_trips(fm in arb_flow_mod()) {
        // Only what ovs-ofctl can write: drop actions that have no text form.
        let text_ok = |a: &Action| match a {
            Action::Output { port, max_len } => {
                (*port < port::MAX && *max_len == 0) || *port == port::CONTROLLER
                    || (port::name(*port).is_some() && *port != port::ANY && *max_len == 0)
            }
            Action::Nx(NxAction::Resubmit { port, .. }) => *port < 0xff00 || *port == 0xfff8,
            Action::Nx(NxAction::RegLoad { dst, value }) => fits(dst) && (dst.n_bits >= 64 || value >> dst.n_bits == 0),
            Action::Nx(NxAction::RegMove { src, dst }) => fits(src) && fits(dst),
            Action::Nx(NxAction::OutputReg { src, max_len }) => fits(src) && *max_len == u16::MAX,
            Action::Nx(NxAction::ResubmitCt { port, .. }) => *port < 0xff00 || *port == 0xfff8,
            Action::Nx(NxAction::CheckPktLarger { dst, .. }) => fits(dst),
            Action::Nx(NxAction::Multipath(m)) => fits(&m.dst),
            Action::Nx(NxAction::Bundle(b)) => b.dst.as_ref().is_none_or(fits),
            Action::Nx(NxAction::Clone(_)) => false,
            Action::Unknown { .. } | Action::PushVlan(_) => false,
            Action::Nx(NxAction::Controller { .. } | NxAction::Controller2(_) | NxAction::Nat(_) | NxAction::Learn(_) | NxAction::Ct(_)) => false,
            _ => true,
        };
        let ins: Vec<Instruction> = fm.instructions.iter().filter_map(|i| match i {
            Instruction::ApplyActions(a) => {
                let a: Vec<Action> = a.iter().filter(|x| text_ok(x)).cloned().collect();
                (!a.is_empty()).then_some(Instruction::ApplyActions(a))
            }
            i => Some(i.clone()),
        }).collect();
        let flow = Flow {
            table_id: fm.table_id.min(253), priority: fm.priority, cookie: fm.cookie, idle_timeout: fm.idle_timeout,
            hard_timeout: 0, flags: 0, match_: fm.match_, instructions: ins,
        };
        let text = flow.to_string();
        let back: Flow = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, flow, "{}", text);
    }

    #[test]
    fn a_decoded_flow_mod_with_a_non_canonical_match_reencodes_to_its_bytes(
        fields in proptest::collection::vec((arb_field(), any::<bool>()), 1..8),
        order in any::<u64>(),
        fm in arb_flow_mod(),
    ) {
        // Distinct fields, in a shuffled order, exact ones sometimes sent with an
        // all-ones mask, masked ones with value bits outside the mask: what another
        // controller may send.
        let mut wire_fields: Vec<OxmField> = vec![
            OxmField::uint(Field::ETH_TYPE, 0x0800),
            OxmField::uint(Field::IP_PROTO, 6),
            OxmField::uint_masked(Field::CT_STATE, 0x22, 0x22),
        ];
        for (f, ones) in fields {
            if wire_fields.iter().any(|w| w.field == f.field) {
                continue;
            }
            let f = match (&f.mask, ones) {
                (None, true) if f.field.def().is_some_and(|d| d.maskable) => {
                    OxmField { mask: Some(vec![0xff; f.value.len()]), ..f }
                }
                (Some(m), true) => OxmField { value: f.value.iter().zip(m).map(|(v, m)| v | !m).collect(), ..f },
                _ => f,
            };
            wire_fields.push(f);
        }
        let n = wire_fields.len();
        for i in (1..n).rev() {
            wire_fields.swap(i, (order as usize >> (i % 16)) % (i + 1));
        }
        let mut m = BytesMut::new();
        let l = 4 + wire_fields.iter().map(Wire::wire_len).sum::<usize>();
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&(l as u16).to_be_bytes());
        for f in &wire_fields {
            f.encode(&mut m);
        }
        m.resize(l.div_ceil(8) * 8, 0);
        // Splice that match into an encoded FLOW_MOD (8-byte header, 40 fixed bytes).
        let canonical = Frame::new(9, Message::FlowMod(fm.clone())).to_bytes().unwrap();
        let old_match = fm.match_.wire_len();
        let mut raw = canonical[..48].to_vec();
        raw.extend_from_slice(&m);
        raw.extend_from_slice(&canonical[48 + old_match..]);
        let len = raw.len() as u16;
        raw[2..4].copy_from_slice(&len.to_be_bytes());

        let f = Frame::decode(&raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(f.to_bytes().unwrap().to_vec(), raw, "decode -> encode changed the bytes");
        let Message::FlowMod(got) = &f.msg else { return Err(TestCaseError::fail("not a flow mod")) };
        // It still compares equal to the canonical match of the same fields, which
        // encodes canonically.
        let want = Match::from_fields(wire_fields.clone()).expect("generated fields are valid");
        prop_assert_eq!(&got.match_, &want);
        let mut a = BytesMut::new();
        got.match_.canonical().encode(&mut a);
        let mut b = BytesMut::new();
        want.canonical().encode(&mut b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC{0,80}", t in proptest::collection::vec(prop_oneof![
        Just("ip"), Just("tcp"), Just("actions="), Just("ct("), Just(")"), Just(","), Just("="), Just(":"), Just("->"),
        Just("NXM_NX_REG0["), Just("]"), Just(".."), Just("nat(dst="), Just("bucket="), Just("learn("), Just("0x"),
        Just("ct_state=+"), Just("/"), Just("10.0.0.1"), Just("fd00::1"), Just("[fd00::1]:80"), Just("load:"),
        Just("set_field:"), Just("resubmit("), Just("controller("), Just("exec("), Just("99999999999999999999999"),
    ], 0..24)) {
        let _ = s.parse::<Flow>();
        let _ = s.parse::<Group>();
        let joined: String = t.concat();
        let _ = joined.parse::<Flow>();
        let _ = format!("group_id=1,{joined}").parse::<Group>();
        if let Ok(f) = joined.parse::<Flow>() {
            let again: Flow = f.to_string().parse().map_err(|e| TestCaseError::fail(format!("{f}: {e}")))?;
            prop_assert_eq!(again, f);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Frame::decode(&b);
        let mut buf = BytesMut::from(&b[..]);
        let mut c = OfCodec;
        while let Ok(Some(_)) = c.decode(&mut buf) {}
    }

    #[test]
    fn decoding_corrupted_messages_never_panics(msg in arb_message(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut b = BytesMut::new();
        Frame::new(1, msg).encode(&mut b).unwrap();
        let mut v = b.to_vec();
        for (i, x) in flips {
            let n = v.len();
            v[i % n] ^= x;
        }
        let _ = Frame::decode(&v);
        // Same bytes with a consistent length field, so the body decoders run.
        let l = v.len() as u16;
        v[2..4].copy_from_slice(&l.to_be_bytes());
        v[0] = 4;
        let _ = Frame::decode(&v);
    }
}

#[test]
fn nat_flags_are_the_ones_ovs_uses() {
    assert_eq!(
        (nat_flags::SRC, nat_flags::DST, nat_flags::PERSISTENT),
        (1, 2, 4)
    );
}
