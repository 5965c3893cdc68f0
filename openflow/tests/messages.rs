//! Whole messages against bytes `ovs-ofctl -O OpenFlow13 -mmmmm parse-flow/parse-group`
//! (OVS 3.1) produced for the same flows.

use bytes::BytesMut;
use openflow::action::nx::FieldSlice;
use openflow::oxm::ct_state;
use openflow::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn encode(f: &Frame) -> Vec<u8> {
    let mut b = BytesMut::new();
    f.encode(&mut b).unwrap();
    assert_eq!(b.len(), f.wire_len());
    b.to_vec()
}

#[test]
fn flow_mod_matches_ovs_ofctl_bytes() {
    // table=1,priority=100,cookie=0x1234,idle_timeout=5,tcp,in_port=3,nw_dst=10.0.0.1,tp_dst=80,
    // reg0=5,ct_state=+trk+est-new,metadata=7 actions=output:3,resubmit(,5)
    let want = unhex(
        "040e00a0000000010000000000001234|00000000000000000100000500000064|ffffffffffffffffffffffff00000000|\
         00010045800000040000000380000a02|0800800018040a000001800014010680|001c02005000010004000000050001d3|\
         08000000220000002380000408000000|00000000070000000004002800000000|00000010000000030000000000000000|\
         ffff001000002320000efff805000000",
    );
    let m = Match::builder()
        .reg(0, 5, u32::MAX)
        .masked(
            Field::CT_STATE,
            u128::from(ct_state::TRK | ct_state::EST),
            0x23,
        )
        .exact(Field::METADATA, 7)
        .exact(Field::TCP_DST, 80)
        .exact(Field::IPV4_DST, 0x0a00_0001)
        .in_port(3)
        .tcp()
        .build()
        .unwrap();
    let mut fm = FlowMod::new(FlowModCommand::Add, 1, 100, m);
    fm.cookie = 0x1234;
    fm.idle_timeout = 5;
    fm.instructions = vec![Instruction::ApplyActions(vec![
        Action::Output {
            port: 3,
            max_len: 0,
        },
        Action::Nx(NxAction::Resubmit {
            port: 0xfff8,
            table: 5,
        }),
    ])];
    let f = Frame::new(1, Message::FlowMod(fm));
    assert_eq!(encode(&f), want);
    assert_eq!(Frame::decode(&want).unwrap(), f);
}

#[test]
fn group_mod_matches_ovs_ofctl_bytes() {
    // group_id=5,type=select,bucket=weight:100,actions=output:1,bucket=weight:50,actions=output:2
    let want = unhex(
        "040f0050000000010000010000000005|00200064ffffffffffffffff00000000|00000010000000010000000000000000|\
         00200032ffffffffffffffff00000000|00000010000000020000000000000000",
    );
    let g = GroupMod {
        command: GroupModCommand::Add,
        group_type: GroupType::Select,
        group_id: 5,
        buckets: vec![
            Bucket::new(
                100,
                vec![Action::Output {
                    port: 1,
                    max_len: 0,
                }],
            ),
            Bucket::new(
                50,
                vec![Action::Output {
                    port: 2,
                    max_len: 0,
                }],
            ),
        ],
    };
    let f = Frame::new(1, Message::GroupMod(g));
    assert_eq!(encode(&f), want);
    assert_eq!(Frame::decode(&want).unwrap(), f);
}

#[test]
fn bundle_add_carries_outer_xid_inside() {
    let inner = Frame::new(999, Message::BarrierRequest);
    let f = Frame::new(
        42,
        Message::BundleAdd(BundleAdd {
            bundle_id: 7,
            flags: bundle_flags::ATOMIC,
            message: Box::new(inner),
        }),
    );
    let b = encode(&f);
    // header(8) + experimenter(4) + exp_type(4) + bundle_id(4) + pad(2) + flags(2) + inner(8)
    assert_eq!(b.len(), 32);
    assert_eq!(&b[8..16], &unhex("4f4e4600 000008fd"));
    assert_eq!(&b[24..32], &unhex("04140008 0000002a"));
    let back = Frame::decode(&b).unwrap();
    let Message::BundleAdd(a) = back.msg else {
        panic!()
    };
    assert_eq!(a.message.xid, 42);
}

#[test]
fn bundle_add_whose_inner_xid_differs_is_kept_as_bytes_not_rewritten() {
    // Found by the `decode` fuzz target: the inner xid (0x0b0b040b) was decoded, then
    // replaced by the outer one (0x1800) on re-encoding.
    let b =
        unhex("04040023 00001800 4f4e4600 000008fd 990381fc 1000 00fb 04fb000b 0b0b040b 0000fb");
    let f = Frame::decode(&b).unwrap();
    assert!(
        matches!(&f.msg, Message::Unknown { msg_type: 4, .. }),
        "{f:?}"
    );
    assert_eq!(encode(&f), b);
}

#[test]
fn bundle_control_round_trips() {
    let f = Frame::new(
        3,
        Message::BundleControl(BundleControl {
            bundle_id: 1,
            kind: BundleCtrlType::CommitRequest,
            flags: bundle_flags::ATOMIC | bundle_flags::ORDERED,
        }),
    );
    let b = encode(&f);
    assert_eq!(
        b,
        unhex("04040018 00000003 4f4e4600 000008fc 00000001 0004 0003")
    );
    assert_eq!(Frame::decode(&b).unwrap(), f);
}

#[test]
fn unknown_messages_and_experimenters_are_kept_byte_for_byte() {
    for hex in [
        "04110010000000050000000100000002", // TABLE_MOD, not modelled
        "0404001400000001000023200000001000000000", // NX experimenter message
        "04040018000000034f4e460000000bb80000000000000000", // ONF, other exp_type
    ] {
        let mut b = unhex(hex);
        let l = b.len() as u16;
        b[2..4].copy_from_slice(&l.to_be_bytes());
        let f = Frame::decode(&b).unwrap();
        assert!(matches!(f.msg, Message::Unknown { .. }), "{f:?}");
        assert_eq!(encode(&f), b);
    }
}

#[test]
fn select_group_over_64k_is_an_encode_error_not_a_truncated_message() {
    let bucket = |i: u32| {
        Bucket::new(
            1,
            vec![Action::Output {
                port: i,
                max_len: 0,
            }],
        )
    };
    let g = |n: u32| GroupMod {
        command: GroupModCommand::Add,
        group_type: GroupType::Select,
        group_id: 1,
        buckets: (1..=n).map(bucket).collect(),
    };
    // 8 + 8 + 32 * n: 2047 buckets fit, 2048 do not.
    let ok = Frame::new(1, Message::GroupMod(g(2047)));
    assert_eq!(encode(&ok).len(), 65520);
    let big = Frame::new(1, Message::GroupMod(g(2048)));
    let mut out = BytesMut::new();
    let e = big.encode(&mut out).unwrap_err();
    assert!(out.is_empty());
    assert!(e.to_string().contains("65552"), "{e}");
}

#[test]
fn flow_stats_request_and_reply_round_trip() {
    let req = Frame::new(
        9,
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::FlowStats(
            FlowStatsRequest::default(),
        ))),
    );
    let b = encode(&req);
    assert_eq!(Frame::decode(&b).unwrap(), req);

    let fs = FlowStats {
        table_id: 3,
        duration_sec: 1,
        duration_nsec: 2,
        priority: 100,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        cookie: 0xabc,
        packet_count: 5,
        byte_count: 500,
        match_: Match::builder().arp().build().unwrap(),
        instructions: vec![Instruction::ApplyActions(vec![Action::Nx(
            NxAction::RegMove {
                src: FieldSlice::whole(Field::ETH_SRC),
                dst: FieldSlice::whole(Field::ETH_DST),
            },
        )])],
    };
    let rep = Frame::new(
        9,
        Message::MultipartReply(MultipartReply {
            flags: REPLY_MORE,
            body: MultipartReplyBody::FlowStats(vec![fs.clone(), fs]),
        }),
    );
    let b = encode(&rep);
    assert_eq!(Frame::decode(&b).unwrap(), rep);
}

#[test]
fn truncated_messages_name_the_field_and_offset() {
    let f = Frame::new(
        1,
        Message::FeaturesReply(Features {
            datapath_id: 1,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: 0x4f,
        }),
    );
    let mut b = encode(&f);
    b.truncate(20);
    b[2..4].copy_from_slice(&20u16.to_be_bytes());
    let e = Frame::decode(&b).unwrap_err();
    assert_eq!(e.what(), "features.n_tables");
    assert_eq!(e.offset(), 20);
}
