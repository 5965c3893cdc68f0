//! `yardctl`: the Switchyard command line.
//!
//! Exit codes: 0 success, 1 the controller refused or failed the request (message on stderr),
//! 2 usage error, 3 the controller could not be reached.

use std::net::Ipv4Addr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use controller::render;
use serde::Serialize;
use switchyard_api::{
    Client, Datapath, Error, FlowQuery, NewNode, NewPod, NewService, NodeName, PodName, Protocol,
    ServiceName, ServiceType, TableSelector, DEFAULT_CONTROLLER,
};

/// Manage a Switchyard cluster: nodes, pods, services and their live flows.
#[derive(Debug, Parser)]
#[command(
    name = "yardctl",
    version,
    after_help = "Exit codes: 0 ok, 1 API error, 2 usage error, 3 controller unreachable."
)]
struct Cli {
    /// Controller address: unix:/path.sock or http://HOST:PORT.
    #[arg(long, global = true, env = "YARD_CONTROLLER", value_name = "URL", default_value = DEFAULT_CONTROLLER)]
    controller: String,

    /// Bearer token (needed for http:// controllers).
    #[arg(long, global = true, env = "YARD_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add, list, show and remove nodes.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Add, list, show and remove pods.
    Pod {
        #[command(subcommand)]
        command: PodCommand,
    },
    /// Add, list, show and remove services (NodePort and ClusterIP) and their backends.
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Print a node's live flow table, read from its switch over OpenFlow.
    Flows {
        /// The node.
        node: NodeName,
        /// Which bridge.
        #[arg(long, default_value = "br-int", value_parser = ["br-int", "br-ex"])]
        bridge: String,
        /// Only this table, by pipeline name (l3-forward) or number.
        #[arg(long, value_name = "NAME|NUM")]
        table: Option<TableSelector>,
        /// Only flows (and groups) owned by this node, pod or service.
        #[arg(long, value_name = "NAME")]
        owner: Option<String>,
    },
    /// Controller health, counts of nodes, pods and services, and per node: OVSDB and OpenFlow
    /// state, flows, pods.
    Status,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Add a node; allocates its pod subnet.
    Add {
        /// Node name (lowercase letters, digits, '-').
        name: NodeName,
        /// The node's underlay IP (OVSDB on tcp:IP:6640, Geneve endpoint).
        #[arg(long)]
        ip: Ipv4Addr,
        /// NIC to attach to br-ex.
        #[arg(long, value_name = "IF")]
        uplink: Option<String>,
        /// Open vSwitch datapath type [default: netdev].
        #[arg(long, value_parser = ["netdev", "system"])]
        datapath: Option<String>,
    },
    /// List nodes.
    List,
    /// Show one node and its pods.
    Show {
        /// Node name.
        name: NodeName,
    },
    /// Remove a node (refused while it has pods, unless --force).
    Remove {
        /// Node name.
        name: NodeName,
        /// Also remove the node's pods.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PodCommand {
    /// Add a pod to a node; allocates its IP and MAC.
    Add {
        /// Pod name (lowercase letters, digits, '-').
        name: PodName,
        /// The node it runs on.
        #[arg(long)]
        node: NodeName,
        /// Network namespace: a name under /run/netns or an absolute path [default: yp-NAME].
        #[arg(long, value_name = "PATH")]
        netns: Option<String>,
    },
    /// List pods.
    List {
        /// Only pods on this node.
        #[arg(long)]
        node: Option<NodeName>,
    },
    /// Show one pod.
    Show {
        /// Pod name.
        name: PodName,
    },
    /// Remove a pod, releasing its address.
    Remove {
        /// Pod name.
        name: PodName,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Add a service; allocates its ClusterIP and, for NodePort, its node port.
    Add {
        /// Service name (lowercase letters, digits, '-').
        name: ServiceName,
        /// The port on the ClusterIP.
        #[arg(long)]
        port: u16,
        /// The port on the backend pods [default: the --port value].
        #[arg(long, value_name = "PORT")]
        target_port: Option<u16>,
        /// NodePort only: the port on every node's IP, 30000-32767 [default: a free one].
        #[arg(long = "nodeport", value_name = "PORT")]
        node_port: Option<u16>,
        /// Publish on every node's IP (NodePort) or only on the ClusterIP [default: NodePort].
        #[arg(long = "type", value_name = "TYPE", ignore_case = true,
              value_parser = ["NodePort", "ClusterIP"])]
        service_type: Option<String>,
        /// Transport protocol [default: tcp].
        #[arg(long, value_parser = ["tcp", "udp"])]
        protocol: Option<String>,
        /// A backend pod; repeat (or list several) for more.
        #[arg(long = "pod", value_name = "POD", num_args = 1..)]
        pods: Vec<PodName>,
    },
    /// List services.
    List,
    /// Show one service and its backends.
    Show {
        /// Service name.
        name: ServiceName,
    },
    /// Remove a service, releasing its ClusterIP and node port.
    Remove {
        /// Service name.
        name: ServiceName,
    },
    /// Add or remove a service's backend pods.
    Backends {
        #[command(subcommand)]
        command: BackendsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BackendsCommand {
    /// Add backend pods (pods already there stay once).
    Add {
        /// Service name.
        name: ServiceName,
        /// A pod to add; repeat (or list several) for more.
        #[arg(long = "pod", value_name = "POD", num_args = 1.., required = true)]
        pods: Vec<PodName>,
    },
    /// Remove backend pods (pods that are not backends are ignored).
    Remove {
        /// Service name.
        name: ServiceName,
        /// A pod to remove; repeat (or list several) for more.
        #[arg(long = "pod", value_name = "POD", num_args = 1.., required = true)]
        pods: Vec<PodName>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let client = match Client::new(&cli.controller) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yardctl: {e}");
            return ExitCode::from(2);
        }
    };
    let client = match &cli.token {
        Some(t) => client.with_token(t.clone()),
        None => client,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yardctl: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(&client, cli.json, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yardctl: {}", render::error_chain(&e));
            ExitCode::from(match e {
                Error::Unreachable { .. } | Error::Http { .. } => 3,
                _ => 1,
            })
        }
    }
}

/// Prints `value` as JSON with `--json`, else the rendered text.
fn show<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("yardctl: cannot encode JSON: {e}"),
        }
    } else {
        print!("{}", text());
    }
}

async fn execute(client: &Client, json: bool, command: Command) -> Result<(), Error> {
    match command {
        Command::Node { command } => node(client, json, command).await,
        Command::Pod { command } => pod(client, json, command).await,
        Command::Service { command } => service(client, json, command).await,
        Command::Flows {
            node,
            bridge,
            table,
            owner,
        } => {
            let query = FlowQuery {
                node,
                bridge: Some(bridge),
                table,
                owner,
            };
            let flows = client.flows(&query).await?;
            show(json, &flows, || render::flows_text(&flows));
            Ok(())
        }
        Command::Status => {
            let health = client.health().await?;
            let cluster = client.cluster().await?;
            let nodes = client.nodes().await?;
            let pods = client.pods(None).await?;
            let services = client.services().await?;
            let value = serde_json::json!({
                "health": health, "cluster": cluster, "nodes": nodes, "pods": pods,
                "services": services,
            });
            show(json, &value, || {
                render::status_text(client.url(), &health, &cluster, &nodes, &pods, &services)
            });
            Ok(())
        }
    }
}

async fn node(client: &Client, json: bool, command: NodeCommand) -> Result<(), Error> {
    match command {
        NodeCommand::Add {
            name,
            ip,
            uplink,
            datapath,
        } => {
            let datapath = datapath.map(|d| d.parse::<Datapath>().unwrap_or_default());
            let req = NewNode {
                name,
                ip,
                uplink,
                datapath,
            };
            let n = client.add_node(&req).await?;
            show(json, &n, || {
                format!("node {} added: ip {}, subnet {}\n", n.name, n.ip, n.subnet)
            });
        }
        NodeCommand::List => {
            let nodes = client.nodes().await?;
            if json {
                show(json, &nodes, String::new);
            } else {
                let pods = client.pods(None).await?;
                print!("{}", render::nodes_table(&nodes, &pods));
            }
        }
        NodeCommand::Show { name } => {
            let n = client.node(&name).await?;
            if json {
                show(json, &n, String::new);
            } else {
                let pods = client.pods(Some(&name)).await?;
                print!("{}", render::node_detail(&n, &pods));
            }
        }
        NodeCommand::Remove { name, force } => {
            client.remove_node(&name, force).await?;
            println!("node {name} removed");
        }
    }
    Ok(())
}

async fn pod(client: &Client, json: bool, command: PodCommand) -> Result<(), Error> {
    match command {
        PodCommand::Add { name, node, netns } => {
            let p = client.add_pod(&NewPod { name, node, netns }).await?;
            show(json, &p, || {
                format!(
                    "pod {} added on node {}: ip {}/{}, mac {}\n",
                    p.name, p.node, p.ip, p.prefix_len, p.mac
                )
            });
        }
        PodCommand::List { node } => {
            let pods = client.pods(node.as_ref()).await?;
            show(json, &pods, || render::pods_table(&pods));
        }
        PodCommand::Show { name } => {
            let p = client.pod(&name).await?;
            show(json, &p, || render::pod_detail(&p));
        }
        PodCommand::Remove { name } => {
            client.remove_pod(&name).await?;
            println!("pod {name} removed");
        }
    }
    Ok(())
}

async fn service(client: &Client, json: bool, command: ServiceCommand) -> Result<(), Error> {
    match command {
        ServiceCommand::Add {
            name,
            port,
            target_port,
            node_port,
            service_type,
            protocol,
            pods,
        } => {
            // clap has checked both against their possible values.
            let service_type = service_type
                .and_then(|t| t.parse::<ServiceType>().ok())
                .unwrap_or_default();
            let protocol = protocol
                .and_then(|p| p.parse::<Protocol>().ok())
                .unwrap_or_default();
            let req = NewService {
                name,
                protocol,
                port,
                target_port,
                node_port,
                service_type,
                backends: pods,
            };
            let s = client.add_service(&req).await?;
            show(json, &s, || {
                let node_port = s
                    .node_port
                    .map(|p| format!(", node port {p}"))
                    .unwrap_or_default();
                format!(
                    "service {} added: {} {}:{}/{}{node_port}, {} backend(s)\n",
                    s.name,
                    s.service_type,
                    s.cluster_ip,
                    s.port,
                    s.protocol,
                    s.backends.len()
                )
            });
        }
        ServiceCommand::List => {
            let services = client.services().await?;
            show(json, &services, || render::services_table(&services));
        }
        ServiceCommand::Show { name } => {
            let s = client.service(&name).await?;
            show(json, &s, || render::service_detail(&s));
        }
        ServiceCommand::Remove { name } => {
            client.remove_service(&name).await?;
            println!("service {name} removed");
        }
        ServiceCommand::Backends { command } => {
            let s = match command {
                BackendsCommand::Add { name, pods } => client.add_backends(&name, &pods).await?,
                BackendsCommand::Remove { name, pods } => {
                    client.remove_backends(&name, &pods).await?
                }
            };
            show(json, &s, || {
                let mut line = format!("service {}: {} backend(s)", s.name, s.backends.len());
                for b in &s.backends {
                    line.push(' ');
                    line.push_str(b.pod.as_str());
                }
                line + "\n"
            });
        }
    }
    Ok(())
}
