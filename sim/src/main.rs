//! `yard-sim`: benchmarks a real `yard-controller` against a simulated fleet of nodes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use switchyard_sim::driver::{self, Options};

/// Starts a real yard-controller (temporary state file and API socket, OpenFlow on a free
/// 127.0.0.1 port, --audit-interval 3600, --cluster-cidr 10.128.0.0/9) and N simulated nodes
/// at 127.B.X.Y (see --ip-block), each with its own in-process OVSDB server (NODE_IP:--ovsdb-port)
/// and simulated br-int and br-ex OpenFlow switches; loads pods and services through the API,
/// then measures: initial sync, pod add latency (API call → the pod's flows acknowledged by a
/// barrier on its node), controller CPU per pod add, and a node add. Progress goes to stderr;
/// the results to stdout (a table, or one JSON object with --json). The controller is killed
/// and temporary files removed on exit, error, phase timeout, Ctrl-C and SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Simulated nodes to start with (one more is added in the node-add phase).
    #[arg(long)]
    nodes: usize,

    /// Pods per node loaded before the measurements.
    #[arg(long)]
    pods_per_node: usize,

    /// ClusterIP services loaded before the measurements.
    #[arg(long)]
    services: usize,

    /// Backends (pods, spread over the nodes) per service.
    #[arg(long, default_value_t = 10)]
    backends_per_service: usize,

    /// Sequential pod adds measured with the cluster full.
    #[arg(long, default_value_t = 50)]
    pod_adds: usize,

    /// The yard-controller binary [default: next to this executable].
    #[arg(long, value_name = "PATH")]
    controller_bin: Option<PathBuf>,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,

    /// Seconds each phase (load + initial sync, pod adds, node add) may take before the run
    /// fails, naming the phase and what was missing.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    phase_timeout: u64,

    /// The TCP port of every simulated node's OVSDB server (the controller's --ovsdb-port).
    #[arg(long, value_name = "PORT", default_value_t = 6640)]
    ovsdb_port: u16,

    /// RUST_LOG for the controller (its log goes to the temporary directory).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    controller_log: String,

    /// Second octet of the nodes' addresses: node i is 127.B.X.Y. Two runs at once need
    /// different blocks (br-ex listens on NODE_IP:6654).
    #[arg(long, value_name = "B", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    ip_block: u8,

    /// Keep the temporary directory (state file, controller log) and print its path.
    #[arg(long)]
    keep: bool,
}

async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // More threads than cores: a long synchronous step (a transaction, a convergence check)
    // then never holds up a connection's task; the kernel shares the cores.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yard-sim: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        nodes: args.nodes,
        pods_per_node: args.pods_per_node,
        services: args.services,
        backends_per_service: args.backends_per_service,
        pod_adds: args.pod_adds,
        controller_bin: args.controller_bin,
        phase_timeout: Duration::from_secs(args.phase_timeout),
        ovsdb_port: args.ovsdb_port,
        controller_log: args.controller_log,
        keep_dir: args.keep,
        ip_block: args.ip_block,
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = driver::run(opts) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            _ = terminated() => Err(anyhow::anyhow!("terminated")),
        }
    });
    // Dropping the runtime drops every task (and with them the controller handle, which
    // kills the process) before we exit.
    rt.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                print!("{}", driver::table(&report));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("yard-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
