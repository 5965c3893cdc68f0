//! `cargo bench -p openflow`: encode/decode cost of a typical pod FLOW_MOD, frames/s
//! through the framing codec, and the text parser/printer. Prints a table; no
//! assertions (speed is measured here, never asserted in tests).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use openflow::codec::OfCodec;
use openflow::{Flow, FlowModCommand, Frame, Message};
use tokio_util::codec::Decoder;

/// A pod's L3 forwarding flow with a tunnel: what the controller installs most.
const POD_FLOW: &str =
    "cookie=0x1000000000000005, table=50, priority=200,ip,reg0=0x1/0xf,nw_dst=10.244.2.7 \
    actions=set_field:0a:58:0a:f4:02:07->eth_dst,dec_ttl,set_field:0x2->tun_id,\
    set_field:192.168.56.12->tun_dst,load:0x2->NXM_NX_REG1[0..15],goto_table:60";
/// A service flow with conntrack and NAT.
const SVC_FLOW: &str = "table=30, priority=100,ct_state=+new+trk,tcp,nw_dst=10.96.0.10,tp_dst=53 \
    actions=ct(commit,table=40,zone=5,exec(set_field:0x1->ct_mark),nat(dst=10.244.1.5:53))";

/// Runs `f` repeatedly for about `budget` and returns nanoseconds per call.
fn ns_per_op(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up, then size the batch so one batch takes about 10 ms.
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() > Duration::from_millis(10) {
            break;
        }
        n *= 2;
    }
    let start = Instant::now();
    let mut calls = 0u64;
    let mut best = f64::MAX;
    while start.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        calls += n;
    }
    let _ = calls;
    best
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
    );
    println!(
        "{:<44} {:>12} {:>14}",
        "operation (best batch of several)", "ns/op", "ops/s"
    );
    let row = |name: &str, ns: f64| println!("{name:<44} {ns:>12.0} {:>14.0}", 1e9 / ns);

    for (label, text) in [("pod flow", POD_FLOW), ("service flow", SVC_FLOW)] {
        let flow: Flow = text.parse().expect("bench flow parses");
        let frame = Frame::new(7, Message::FlowMod(flow.to_flow_mod(FlowModCommand::Add)));
        let bytes = frame.to_bytes().expect("encodes");
        let mut buf = BytesMut::with_capacity(256);
        row(
            &format!("FLOW_MOD encode, {label} ({} B)", bytes.len()),
            ns_per_op(budget, || {
                buf.clear();
                black_box(&frame).encode(&mut buf).unwrap();
                black_box(&buf);
            }),
        );
        row(
            &format!("FLOW_MOD decode, {label}"),
            ns_per_op(budget, || {
                black_box(Frame::decode(black_box(&bytes)).unwrap());
            }),
        );
        row(
            &format!("text parse, {label}"),
            ns_per_op(budget, || {
                black_box(black_box(text).parse::<Flow>().unwrap());
            }),
        );
        row(
            &format!("text display, {label}"),
            ns_per_op(budget, || {
                black_box(black_box(&flow).to_string());
            }),
        );
    }

    // Frames per second through the framing codec: 10 000 pod flows in one buffer,
    // split and decoded as a switch connection would.
    let flow: Flow = POD_FLOW.parse().unwrap();
    let mut stream = BytesMut::new();
    for i in 0..10_000u32 {
        Frame::new(i, Message::FlowMod(flow.to_flow_mod(FlowModCommand::Add)))
            .encode(&mut stream)
            .unwrap();
    }
    let stream = stream.freeze();
    let per_batch = ns_per_op(budget, || {
        let mut b = BytesMut::from(&stream[..]);
        let mut c = OfCodec;
        let mut n = 0;
        while let Some(f) = c.decode(&mut b).unwrap() {
            black_box(f);
            n += 1;
        }
        assert_eq!(n, 10_000);
    });
    row(
        "OfCodec decode, per frame (10k-frame stream)",
        per_batch / 10_000.0,
    );
}
