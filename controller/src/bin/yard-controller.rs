//! `yard-controller`: the Switchyard controller daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use controller::config::ClusterOverrides;
use controller::ControllerOptions;
use switchyard_api::{Ipv4Cidr, MacAddr};

/// Switchyard controller: keeps the cluster state, serves the API, and programs every node's
/// Open vSwitch over OVSDB and OpenFlow.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// State file: a snapshot, with its journal at PATH.journal (created on first start;
    /// never reset if unreadable).
    #[arg(long, value_name = "PATH", default_value = controller::DEFAULT_STATE)]
    state: PathBuf,

    /// Unix socket for the API (mode 0660; its directory is created).
    #[arg(long, value_name = "PATH", default_value = controller::DEFAULT_SOCKET)]
    socket: PathBuf,

    /// Also serve the API on TCP, e.g. 0.0.0.0:8080 (needs --token-file or YARD_TOKEN).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// File holding the bearer token for the TCP API (else the YARD_TOKEN environment variable).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,

    /// The port every node's ovsdb-server listens on (the controller connects to
    /// `tcp:NODE_IP:PORT`).
    #[arg(long, value_name = "PORT", default_value_t = 6640)]
    ovsdb_port: u16,

    /// Pod network of a new cluster [default: 10.244.0.0/16]; must match an existing one.
    #[arg(long, value_name = "CIDR")]
    cluster_cidr: Option<Ipv4Cidr>,

    /// Prefix length of each node's pod subnet [default: 24].
    #[arg(long, value_name = "LEN")]
    node_prefix: Option<u8>,

    /// MTU of pod interfaces and yard0, 576..=9000 [default: 1400].
    #[arg(long)]
    mtu: Option<u16>,

    /// MAC of the virtual router .1 [default: 0a:58:0a:f4:00:01].
    #[arg(long, value_name = "MAC")]
    router_mac: Option<MacAddr>,

    /// Service address range [default: 10.96.0.0/16].
    #[arg(long, value_name = "CIDR")]
    service_cidr: Option<Ipv4Cidr>,

    /// Seconds between read-backs of every switch's tables, which repair what was changed by
    /// hand (each node's cost is its own flows; large fleets may want more).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    audit_interval: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yard-controller: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("YARD_TOKEN").ok(),
    };
    let options = ControllerOptions {
        state: args.state,
        socket: args.socket,
        listen: args.listen,
        token,
        cluster: ClusterOverrides {
            cluster_cidr: args.cluster_cidr,
            node_prefix_len: args.node_prefix,
            mtu: args.mtu,
            router_mac: args.router_mac,
            service_cidr: args.service_cidr,
        },
        ovsdb_port: args.ovsdb_port,
        audit_interval: std::time::Duration::from_secs(args.audit_interval.max(1)),
        ..ControllerOptions::default()
    };
    let controller = controller::run(options)
        .await
        .context("starting yard-controller")?;
    controller.run_until(controller::shutdown_signal()).await;
    Ok(())
}
