//! The `rumor` command line.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rumor_node::client::{self, Client};
use rumor_node::config::DEFAULT_HTTP;
use rumor_node::rumor_agent::keys;
use rumor_node::{AgentArgs, ServeConfig, Server};

/// Rumor: gossip cluster membership (SWIM + Lifeguard) without a central server.
#[derive(Parser, Debug)]
#[command(name = "rumor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a client command finds its agent.
#[derive(clap::Args, Debug, Clone)]
struct HttpArg {
    /// The agent's HTTP address.
    #[arg(long, global = true, env = "RUMOR_HTTP", default_value = DEFAULT_HTTP, value_name = "IP:PORT")]
    http: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node until SIGINT/SIGTERM, then leave gracefully.
    Agent(AgentArgs),
    /// Show the membership table of a running agent.
    Members {
        #[command(flatten)]
        http: HttpArg,
        /// Print the JSON of GET /v1/members.
        #[arg(long)]
        json: bool,
    },
    /// Print a new random encryption key (base64).
    Keygen,
    /// Show or change a running agent's keyring. To rotate a cluster's key with no downtime:
    /// `install` the new key on every agent, then `use` it on every agent, then `remove` the old.
    /// An agent started without a keyring takes no key operations (see "Turning encryption on"
    /// in docs/agent.md).
    Keys {
        #[command(subcommand)]
        op: KeysOp,
        #[command(flatten)]
        http: HttpArg,
    },
    /// Make a running agent leave the cluster gracefully (it then exits).
    Leave {
        #[command(flatten)]
        http: HttpArg,
    },
    /// Stream a running agent's events.
    Monitor {
        #[command(flatten)]
        http: HttpArg,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Send a user event to every member.
    Event {
        /// Event name.
        name: String,
        /// Payload.
        #[arg(default_value = "")]
        payload: String,
        #[command(flatten)]
        http: HttpArg,
    },
    /// Start a local cluster on loopback with a live membership view.
    Demo(rumor_node::demo::DemoArgs),
    /// Run one simulated scenario on virtual time (thousands of real protocol nodes, one thread).
    Sim(rumor_node::simulate::SimArgs),
}

#[derive(Subcommand, Debug)]
enum KeysOp {
    /// List the keys, primary first.
    List,
    /// Add a key (used to open packets; not yet to seal them); at most 16 keys.
    Install {
        /// The key (base64).
        key: String,
    },
    /// Seal packets with this installed key from now on.
    Use {
        /// The key (base64).
        key: String,
    },
    /// Remove a key that is not the primary.
    Remove {
        /// The key (base64).
        key: String,
    },
}

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: rumor_node::memory::Jemalloc = rumor_node::memory::Jemalloc;

/// Exit status for configuration errors (like a usage error).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    rumor_node::memory::purge_in_background();
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen => match keys::generate() {
            Ok(k) => {
                println!("{}", keys::encode(&k));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Command::Sim(args) => match rumor_node::simulate::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Command::Agent(args) => {
            init_logs("info");
            let config = match ServeConfig::resolve(&args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("rumor: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            runtime(agent(config))
        }
        Command::Demo(args) => {
            init_logs("warn");
            runtime(async move { rumor_node::demo::run(&args).await })
        }
        other => {
            init_logs("warn");
            runtime(client_command(other))
        }
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("rumor: {e}");
    ExitCode::FAILURE
}

fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

fn runtime(f: impl Future<Output = Result<(), String>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn agent(config: ServeConfig) -> Result<(), String> {
    let agent = Server::start(config).await.map_err(|e| e.to_string())?;
    let handle = agent.handle();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => leave(&handle).await,
        _ = term.recv() => leave(&handle).await,
        () = handle.stopped() => {}
    }
    agent.wait().await;
    Ok(())
}

async fn leave(handle: &rumor_node::Handle) {
    tracing::info!("signal received: leaving");
    if let Err(e) = handle.leave().await {
        tracing::warn!("leave: {e}");
    }
}

async fn client_command(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Members { http, json } => {
            let body = Client::new(&http.http).members().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?);
            } else {
                print!("{}", client::members_table(&body));
            }
        }
        Command::Keys { op, http } => {
            let c = Client::new(&http.http);
            let keys = match op {
                KeysOp::List => c.keys().await?,
                KeysOp::Install { key } => c.change_key("install", &key).await?,
                KeysOp::Use { key } => c.change_key("use", &key).await?,
                KeysOp::Remove { key } => c.change_key("remove", &key).await?,
            };
            for (i, k) in keys.iter().enumerate() {
                println!("{k}{}", if i == 0 { "  (primary)" } else { "" });
            }
        }
        Command::Leave { http } => {
            let acks = Client::new(&http.http).leave().await?;
            println!("left the cluster ({acks} members acknowledged)");
        }
        Command::Monitor { http, json } => {
            Client::new(&http.http)
                .monitor(|e| {
                    if json {
                        println!("{e}");
                    } else {
                        println!("{}", client::describe_event(e));
                    }
                })
                .await?;
        }
        Command::Event { name, payload, http } => {
            Client::new(&http.http).event(&name, &payload).await?;
        }
        Command::Agent(_) | Command::Keygen | Command::Demo(_) | Command::Sim(_) => {}
    }
    Ok(())
}
