//! `yard-agent`: the per-node daemon. Parses arguments, joins the host mount namespace,
//! sets up logging and runs `agent::daemon`.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use agent::netns::{join_mount_ns, MountNs};
use agent::{NodeNet, Wirer};
use switchyard_api::{Client, NodeName, DEFAULT_CONTROLLER};

/// Switchyard node agent: wires the pods the controller assigns to this node.
#[derive(Debug, Parser)]
#[command(name = "yard-agent", version)]
struct Args {
    /// The controller's API: unix:PATH or http://IP:PORT (with --token).
    #[arg(long, env = "YARD_CONTROLLER", default_value = DEFAULT_CONTROLLER)]
    controller: String,
    /// Bearer token for a TCP controller URL.
    #[arg(long, env = "YARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// This node's name, as registered with `yardctl node add`.
    #[arg(long, env = "YARD_NODE")]
    node: NodeName,
    /// The local OVSDB server.
    #[arg(long, default_value = "unix:/var/run/openvswitch/db.sock")]
    ovsdb: String,
    /// The integration bridge pod ports go on.
    #[arg(long, default_value = "br-int")]
    bridge: String,
    /// Mount namespace to join at start so that pod namespaces made under /run/netns are
    /// visible to everyone: `auto` (PID 1's, or the parent's where PID 1's is hidden),
    /// `none`, or a path such as /proc/1/ns/mnt. Needed under `ip netns exec`, which gives
    /// the agent a private one.
    #[arg(long, default_value = "auto")]
    mount_ns: MountNs,
    /// Seconds the host setup waits for yard0 per attempt.
    #[arg(long, default_value_t = 30)]
    mgmt_wait: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before any thread exists: the kernel refuses setns(CLONE_NEWNS) to a threaded process.
    let joined =
        join_mount_ns(&args.mount_ns).context("joining the host mount namespace (--mount-ns)")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // netlink-packet-route warns about every newer kernel attribute it does not know.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("info,netlink_packet_route=error")
                }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(p) = joined {
        tracing::info!(mount_ns = %p.display(), "joined mount namespace");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut controller = Client::new(&args.controller).context("--controller")?;
    if let Some(t) = &args.token {
        controller = controller.with_token(t.clone());
    }
    let net = NodeNet::current()
        .await
        .context("opening a netlink socket")?;
    let cfg = agent::daemon::Config {
        controller,
        node: args.node.clone(),
        mgmt_wait: Duration::from_secs(args.mgmt_wait),
    };
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = tx.send(true);
    });
    let Some(ports) = agent::daemon::connect_ovsdb(&args.ovsdb, &args.bridge, &mut rx).await else {
        return Ok(());
    };
    tracing::info!(node = %args.node, controller = %args.controller, ovsdb = %args.ovsdb, "yard-agent starting");
    agent::daemon::run(cfg, Wirer::new(net, ports), rx)
        .await
        .with_context(|| format!("node {}", args.node))?;
    Ok(())
}
