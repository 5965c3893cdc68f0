//! Connects to a bridge's OpenFlow management socket (or `tcp:HOST:PORT` of a switch
//! in passive mode), runs the handshake and prints every flow the way
//! `ovs-ofctl -O OpenFlow13 dump-flows` does.
//!
//! ```text
//! cargo run -p openflow --example dump_flows -- /var/run/openvswitch/br-int.mgmt [--no-stats]
//! ```

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openflow::codec::OfCodec;
use openflow::{
    handshake, Flow, FlowStatsRequest, Frame, Message, MultipartReply, MultipartReplyBody,
    MultipartRequest, MultipartRequestBody,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first() else {
        eprintln!("usage: dump_flows SOCKET|tcp:HOST:PORT [--no-stats]");
        std::process::exit(2);
    };
    let stats = !args.iter().any(|a| a == "--no-stats");
    if let Some(addr) = target.strip_prefix("tcp:") {
        dump(tokio::net::TcpStream::connect(addr).await?, stats).await
    } else {
        dump(tokio::net::UnixStream::connect(target).await?, stats).await
    }
}

async fn dump<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    stats: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = Framed::new(io, OfCodec);
    let features = tokio::time::timeout(Duration::from_secs(10), handshake(&mut conn)).await??;
    eprintln!(
        "connected to datapath {:016x} ({} tables)",
        features.datapath_id, features.n_tables
    );
    let req = MultipartRequest::new(MultipartRequestBody::FlowStats(FlowStatsRequest::default()));
    conn.send(Frame::new(1, Message::MultipartRequest(req)))
        .await?;
    while let Some(frame) = conn.next().await {
        match frame?.msg {
            Message::MultipartReply(MultipartReply {
                flags,
                body: MultipartReplyBody::FlowStats(flows),
            }) => {
                for f in &flows {
                    if stats {
                        println!(" {f}");
                    } else {
                        println!(" {}", Flow::from(f));
                    }
                }
                if flags & MultipartReply::REPLY_MORE == 0 {
                    return Ok(());
                }
            }
            Message::Error(e) => return Err(format!("switch refused the flow dump: {e}").into()),
            Message::EchoRequest(d) => conn.send(Frame::new(0, Message::EchoReply(d))).await?,
            _ => {}
        }
    }
    Err("switch closed the connection before the dump ended".into())
}
