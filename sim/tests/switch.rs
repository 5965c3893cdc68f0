//! The simulated switch: flow-mod and group-mod semantics, bundle atomicity, dumps.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openflow::codec::OfCodec;
use openflow::{
    Action, BundleAdd, BundleControl, BundleCtrlType, Field, FlowMod, FlowModCommand,
    FlowStatsRequest, Frame, GroupMod, GroupModCommand, GroupType, Instruction, Match, Message,
    MultipartReplyBody, MultipartRequest, MultipartRequestBody,
};
use switchyard_sim::switch::{code, subsumes, Bridge, FlowTable};
use tokio_util::codec::Framed;

fn ip_dst(ip: [u8; 4]) -> Match {
    Match::builder()
        .ip()
        .exact(Field::IPV4_DST, u32::from_be_bytes(ip).into())
        .build()
        .unwrap()
}

fn subnet(ip: [u8; 4], len: u32) -> Match {
    let mask = u32::MAX << (32 - len);
    Match::builder()
        .ip()
        .masked(Field::IPV4_DST, u32::from_be_bytes(ip).into(), mask.into())
        .build()
        .unwrap()
}

fn add(table: u8, prio: u16, cookie: u64, m: Match, port: u32) -> Message {
    let mut f = FlowMod::new(FlowModCommand::Add, table, prio, m);
    f.cookie = cookie;
    f.instructions = vec![Instruction::ApplyActions(vec![Action::Output {
        port,
        max_len: 0,
    }])];
    Message::FlowMod(f)
}

fn del(cmd: FlowModCommand, table: u8, prio: u16, m: Match, cookie: u64, mask: u64) -> Message {
    let mut f = FlowMod::new(cmd, table, prio, m);
    f.cookie = cookie;
    f.cookie_mask = mask;
    Message::FlowMod(f)
}

fn out_port(t: &FlowTable, prio: u16, m: &Match) -> Option<u32> {
    t.flows.iter().find_map(|(k, e)| {
        (k.priority == prio && &k.match_ == m).then(|| match &e.instructions[0] {
            Instruction::ApplyActions(a) => match a[0] {
                Action::Output { port, .. } => port,
                _ => 0,
            },
            _ => 0,
        })
    })
}

#[test]
fn add_replaces_the_flow_with_the_same_match_and_priority() {
    let mut t = FlowTable::default();
    let m = ip_dst([10, 0, 0, 1]);
    t.apply(&add(10, 100, 1, m.clone(), 1)).unwrap();
    t.apply(&add(10, 100, 2, m.clone(), 2)).unwrap();
    t.apply(&add(10, 200, 3, m.clone(), 3)).unwrap();
    assert_eq!(t.flows.len(), 2);
    assert_eq!(out_port(&t, 100, &m), Some(2));
    assert_eq!(out_port(&t, 200, &m), Some(3));
}

#[test]
fn delete_by_cookie_mask_removes_only_matching_cookies() {
    let mut t = FlowTable::default();
    for i in 0..4u8 {
        let cookie = if i % 2 == 0 {
            0xaa00 | u64::from(i)
        } else {
            0xbb00 | u64::from(i)
        };
        t.apply(&add(0, 10, cookie, ip_dst([10, 0, 0, i]), 1))
            .unwrap();
    }
    t.apply(&del(
        FlowModCommand::Delete,
        0xff,
        0,
        Match::new(),
        0xaa00,
        0xff00,
    ))
    .unwrap();
    assert_eq!(t.flows.len(), 2);
    assert!(t.flows.values().all(|e| e.cookie & 0xff00 == 0xbb00));
}

#[test]
fn strict_delete_needs_priority_and_exact_match_non_strict_takes_more_specific_flows() {
    let mut t = FlowTable::default();
    t.apply(&add(50, 100, 7, ip_dst([10, 1, 0, 5]), 1)).unwrap();
    t.apply(&add(50, 90, 7, subnet([10, 1, 0, 0], 24), 2))
        .unwrap();
    t.apply(&add(50, 90, 7, subnet([10, 2, 0, 0], 24), 3))
        .unwrap();
    // Strict with the wrong priority: nothing.
    t.apply(&del(
        FlowModCommand::DeleteStrict,
        50,
        99,
        ip_dst([10, 1, 0, 5]),
        0,
        0,
    ))
    .unwrap();
    assert_eq!(t.flows.len(), 3);
    // Strict with the /24's exact match and priority: only that flow.
    t.apply(&del(
        FlowModCommand::DeleteStrict,
        50,
        90,
        subnet([10, 1, 0, 0], 24),
        0,
        0,
    ))
    .unwrap();
    assert_eq!(t.flows.len(), 2);
    // Non-strict on 10.0.0.0/8 takes every flow inside it (any priority).
    t.apply(&del(
        FlowModCommand::Delete,
        50,
        0,
        subnet([10, 0, 0, 0], 8),
        0,
        0,
    ))
    .unwrap();
    assert!(t.flows.is_empty());
    assert!(subsumes(&subnet([10, 0, 0, 0], 8), &ip_dst([10, 3, 3, 3])));
    assert!(!subsumes(&ip_dst([10, 3, 3, 3]), &subnet([10, 0, 0, 0], 8)));
}

#[test]
fn refuses_backward_goto_and_unknown_groups_and_group_delete_takes_its_flows() {
    let mut t = FlowTable::default();
    let mut back = FlowMod::new(FlowModCommand::Add, 20, 1, Match::new());
    back.instructions = vec![Instruction::GotoTable(10)];
    let e = t.apply(&Message::FlowMod(back)).unwrap_err();
    assert_eq!(
        (e.err_type, e.code),
        (code::BAD_INSTRUCTION, code::BIC_BAD_TABLE_ID)
    );
    let mut to_group = FlowMod::new(FlowModCommand::Add, 40, 1, ip_dst([10, 96, 0, 1]));
    to_group.instructions = vec![Instruction::ApplyActions(vec![Action::Group(7)])];
    let e = t.apply(&Message::FlowMod(to_group.clone())).unwrap_err();
    assert_eq!(
        (e.err_type, e.code),
        (code::BAD_ACTION, code::BAC_BAD_OUT_GROUP)
    );
    let group = |command| {
        Message::GroupMod(GroupMod {
            command,
            group_type: GroupType::Select,
            group_id: 7,
            buckets: Vec::new(),
        })
    };
    t.apply(&group(GroupModCommand::Add)).unwrap();
    let e = t.apply(&group(GroupModCommand::Add)).unwrap_err();
    assert_eq!(
        (e.err_type, e.code),
        (code::GROUP_MOD_FAILED, code::GMFC_GROUP_EXISTS)
    );
    t.apply(&Message::FlowMod(to_group)).unwrap();
    assert_eq!(t.flows.len(), 1);
    t.apply(&group(GroupModCommand::Delete)).unwrap();
    assert!(t.flows.is_empty() && t.groups.is_empty());
    let e = t.apply(&group(GroupModCommand::Modify)).unwrap_err();
    assert_eq!(
        (e.err_type, e.code),
        (code::GROUP_MOD_FAILED, code::GMFC_UNKNOWN_GROUP)
    );
}

type Conn = Framed<tokio::io::DuplexStream, OfCodec>;

/// A controller's end of a connection to a fresh bridge.
async fn connect(bridge: &std::sync::Arc<Bridge>) -> Conn {
    let (a, b) = tokio::io::duplex(1 << 20);
    tokio::spawn(switchyard_sim::switch::serve(b, bridge.clone()));
    let mut c = Framed::new(a, OfCodec::new());
    let hello = c.next().await.unwrap().unwrap();
    assert!(matches!(hello.msg, Message::Hello(_)));
    c
}

async fn recv(c: &mut Conn) -> Frame {
    tokio::time::timeout(Duration::from_secs(5), c.next())
        .await
        .expect("a reply within 5 s")
        .unwrap()
        .unwrap()
}

fn control(xid: u32, id: u32, kind: BundleCtrlType) -> Frame {
    Frame::new(
        xid,
        Message::BundleControl(BundleControl {
            bundle_id: id,
            kind,
            flags: 3,
        }),
    )
}

fn bundled(xid: u32, id: u32, msg: Message) -> Frame {
    Frame::new(
        xid,
        Message::BundleAdd(BundleAdd {
            bundle_id: id,
            flags: 3,
            message: Box::new(Frame::new(xid, msg)),
        }),
    )
}

#[tokio::test]
async fn a_bundle_with_one_bad_message_reports_its_xid_and_changes_nothing() {
    let bridge = Bridge::new("br-int");
    bridge.set_dpid(0x5359_0000_0000_0101);
    let mut c = connect(&bridge).await;
    c.send(Frame::new(2, Message::FeaturesRequest))
        .await
        .unwrap();
    match recv(&mut c).await.msg {
        Message::FeaturesReply(f) => assert_eq!(f.datapath_id, 0x5359_0000_0000_0101),
        m => panic!("expected FEATURES_REPLY, got {m:?}"),
    }
    let mut bad = FlowMod::new(FlowModCommand::Add, 30, 1, Match::new());
    bad.instructions = vec![Instruction::GotoTable(0)];
    c.send(control(10, 1, BundleCtrlType::OpenRequest))
        .await
        .unwrap();
    c.send(bundled(11, 1, add(0, 5, 1, ip_dst([10, 0, 0, 1]), 1)))
        .await
        .unwrap();
    c.send(bundled(12, 1, Message::FlowMod(bad))).await.unwrap();
    c.send(bundled(13, 1, add(0, 5, 1, ip_dst([10, 0, 0, 2]), 1)))
        .await
        .unwrap();
    c.send(control(14, 1, BundleCtrlType::CommitRequest))
        .await
        .unwrap();
    c.send(Frame::new(15, Message::BarrierRequest))
        .await
        .unwrap();
    let open = recv(&mut c).await;
    assert!(matches!(open.msg, Message::BundleControl(b) if b.kind == BundleCtrlType::OpenReply));
    let e = recv(&mut c).await;
    assert_eq!(e.xid, 12, "the refused message's own xid");
    match e.msg {
        Message::Error(e) => {
            assert_eq!(
                (e.err_type, e.code),
                (code::BAD_INSTRUCTION, code::BIC_BAD_TABLE_ID)
            );
            assert_eq!(e.offending().map(|h| h.xid), Some(12));
        }
        m => panic!("expected an error, got {m:?}"),
    }
    let commit = recv(&mut c).await;
    assert_eq!(commit.xid, 14);
    assert!(matches!(commit.msg, Message::Error(ref e) if e.code == code::BFC_MSG_FAILED));
    let barrier = recv(&mut c).await;
    assert_eq!((barrier.xid, barrier.msg), (15, Message::BarrierReply));
    assert!(
        bridge.table().flows.is_empty(),
        "nothing of the bundle applied"
    );
    assert_eq!(
        bridge
            .stats
            .flow_mods
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );

    // The same bundle without the bad message commits, and the dump shows both flows.
    c.send(control(20, 2, BundleCtrlType::OpenRequest))
        .await
        .unwrap();
    c.send(bundled(21, 2, add(0, 5, 1, ip_dst([10, 0, 0, 1]), 1)))
        .await
        .unwrap();
    c.send(bundled(22, 2, add(0, 5, 1, ip_dst([10, 0, 0, 2]), 1)))
        .await
        .unwrap();
    c.send(control(23, 2, BundleCtrlType::CommitRequest))
        .await
        .unwrap();
    c.send(Frame::new(24, Message::BarrierRequest))
        .await
        .unwrap();
    let _open = recv(&mut c).await;
    let commit = recv(&mut c).await;
    assert!(
        matches!(commit.msg, Message::BundleControl(b) if b.kind == BundleCtrlType::CommitReply)
    );
    assert_eq!(recv(&mut c).await.msg, Message::BarrierReply);
    let req = MultipartRequest::new(MultipartRequestBody::FlowStats(FlowStatsRequest::default()));
    c.send(Frame::new(30, Message::MultipartRequest(req)))
        .await
        .unwrap();
    match recv(&mut c).await.msg {
        Message::MultipartReply(r) => {
            assert!(!r.more());
            match r.body {
                MultipartReplyBody::FlowStats(s) => assert_eq!(s.len(), 2),
                b => panic!("expected flow stats, got {b:?}"),
            }
        }
        m => panic!("expected a multipart reply, got {m:?}"),
    }
}

#[tokio::test]
async fn a_large_dump_comes_in_parts_and_filters_by_table_and_cookie() {
    let bridge = Bridge::new("br-int");
    let msgs: Vec<Message> = (0..3000u32)
        .map(|i| {
            add(
                if i % 2 == 0 { 10 } else { 20 },
                1,
                u64::from(i % 3),
                ip_dst((0x0a00_0000 + i).to_be_bytes()),
                1,
            )
        })
        .collect();
    bridge.commit(&msgs).unwrap();
    let mut c = connect(&bridge).await;
    let mut req = FlowStatsRequest::default();
    let all = MultipartRequest::new(MultipartRequestBody::FlowStats(req.clone()));
    c.send(Frame::new(1, Message::MultipartRequest(all)))
        .await
        .unwrap();
    let mut n = 0;
    let mut parts = 0;
    loop {
        let Message::MultipartReply(r) = recv(&mut c).await.msg else {
            panic!("expected a multipart reply")
        };
        parts += 1;
        if let MultipartReplyBody::FlowStats(s) = &r.body {
            n += s.len();
        }
        if !r.more() {
            break;
        }
    }
    assert_eq!(n, 3000);
    assert!(parts > 1, "3000 flows do not fit one message");
    req.table_id = 20;
    req.cookie = 2;
    req.cookie_mask = u64::MAX;
    let t = bridge.table();
    let want = t
        .flows
        .iter()
        .filter(|(k, e)| k.table_id == 20 && e.cookie == 2)
        .count();
    assert_eq!(t.flow_stats(&req).len(), want);
    assert!(want > 0);
}

#[tokio::test]
async fn echo_barrier_and_group_dump_answer_like_ovs() {
    let bridge = Bridge::new("br-ex");
    let mut c = connect(&bridge).await;
    c.send(Frame::new(
        5,
        Message::EchoRequest(bytes::Bytes::from_static(b"hi")),
    ))
    .await
    .unwrap();
    assert_eq!(
        recv(&mut c).await,
        Frame::new(5, Message::EchoReply(bytes::Bytes::from_static(b"hi")))
    );
    c.send(Frame::new(
        6,
        Message::GroupMod(GroupMod {
            command: GroupModCommand::Add,
            group_type: GroupType::All,
            group_id: 9,
            buckets: Vec::new(),
        }),
    ))
    .await
    .unwrap();
    c.send(Frame::new(
        7,
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::GroupDesc)),
    ))
    .await
    .unwrap();
    match recv(&mut c).await.msg {
        Message::MultipartReply(r) => match r.body {
            MultipartReplyBody::GroupDesc(g) => {
                assert_eq!(g.iter().map(|g| g.group_id).collect::<Vec<_>>(), [9])
            }
            b => panic!("expected group desc, got {b:?}"),
        },
        m => panic!("expected a multipart reply, got {m:?}"),
    }
    let acked = bridge.probe(|t| t.groups.contains_key(&9));
    c.send(Frame::new(8, Message::BarrierRequest))
        .await
        .unwrap();
    assert_eq!(recv(&mut c).await, Frame::new(8, Message::BarrierReply));
    tokio::time::timeout(Duration::from_secs(5), acked)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn a_refused_message_rolls_back_every_earlier_change_of_its_bundle() {
    let mut t = FlowTable::default();
    let group = |command, id| {
        Message::GroupMod(GroupMod {
            command,
            group_type: GroupType::Select,
            group_id: id,
            buckets: Vec::new(),
        })
    };
    t.apply(&group(GroupModCommand::Add, 5)).unwrap();
    let mut to_group = FlowMod::new(FlowModCommand::Add, 40, 1, ip_dst([10, 96, 0, 1]));
    to_group.instructions = vec![Instruction::ApplyActions(vec![Action::Group(5)])];
    t.apply(&Message::FlowMod(to_group)).unwrap();
    t.apply(&add(50, 10, 1, subnet([10, 1, 0, 0], 24), 4))
        .unwrap();
    t.apply(&add(50, 20, 1, ip_dst([10, 1, 0, 9]), 5)).unwrap();
    let before = t.clone();
    let mut bad = FlowMod::new(FlowModCommand::Add, 200, 1, Match::new());
    bad.instructions = vec![Instruction::GotoTable(100)];
    let msgs = vec![
        add(50, 20, 2, ip_dst([10, 1, 0, 9]), 6), // replaces
        del(
            FlowModCommand::Delete,
            50,
            0,
            subnet([10, 1, 0, 0], 16),
            0,
            0,
        ), // deletes 2
        group(GroupModCommand::Delete, 5),        // and its flow
        group(GroupModCommand::Add, 6),
        add(0, 1, 3, Match::new(), 1),
        Message::FlowMod(bad),
    ];
    let (i, e) = t.apply_all(&msgs).unwrap_err();
    assert_eq!(i, 5);
    assert_eq!(
        (e.err_type, e.code),
        (code::BAD_INSTRUCTION, code::BIC_BAD_TABLE_ID)
    );
    assert_eq!(t, before, "nothing of the bundle is left");
    t.apply_all(&msgs[..5]).unwrap();
    assert_eq!(t.flows.len(), 1);
    assert_eq!(t.groups.keys().copied().collect::<Vec<_>>(), [6]);
}
