//! The `rumor` command line.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
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
    /// The agent's HTTP address (reads).
    #[arg(long, global = true, env = "RUMOR_HTTP", default_value = DEFAULT_HTTP, value_name = "IP:PORT")]
    http: String,
    /// The agent's admin address, for commands that change it [default: the --http address].
    #[arg(long, global = true, env = "RUMOR_ADMIN", value_name = "IP:PORT")]
    admin: Option<String>,
    /// Seconds to wait for the agent's answer.
    #[arg(long, global = true, default_value_t = 15.0, value_name = "SECONDS", value_parser = parse_timeout)]
    timeout: f64,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(t),
        _ => Err(format!("`{s}` is not a number of seconds between 0 and 3600")),
    }
}

impl HttpArg {
    /// A client of the read listener.
    fn reads(&self) -> Client {
        Client::with_timeout(&self.http, "--http", self.wait())
    }

    fn wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout)
    }

    /// A client of the admin listener.
    fn writes(&self) -> Client {
        match &self.admin {
            Some(a) => Client::with_timeout(a, "--admin", self.wait()),
            None => Client::with_timeout(&self.http, "--http", self.wait()),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node until SIGINT/SIGTERM, then leave gracefully.
    Agent(AgentArgs),
    /// Show the membership table of a running agent, optionally filtered (every filter is a
    /// regular expression matched against the whole value).
    Members {
        #[command(flatten)]
        http: HttpArg,
        /// Print the JSON of GET /v1/members.
        #[arg(long)]
        json: bool,
        /// Only members whose state matches (alive, suspect, failed, left; e.g. `failed|left`).
        #[arg(long, value_name = "REGEX")]
        status: Option<String>,
        /// Only members whose name matches.
        #[arg(long, value_name = "REGEX")]
        name: Option<String>,
        /// Only members with this metadata key and a value that matches (repeatable; all must
        /// match).
        #[arg(long, value_name = "KEY=REGEX")]
        tag: Vec<String>,
    },
    /// Show a running agent's configuration summary and counters.
    Info {
        #[command(flatten)]
        http: HttpArg,
        /// Print the JSON of GET /v1/info.
        #[arg(long)]
        json: bool,
    },
    /// Make a running agent join the members at these addresses.
    Join {
        /// Gossip addresses (HOST:PORT) of members of the cluster to join.
        #[arg(required = true, value_name = "HOST:PORT")]
        addrs: Vec<String>,
        #[command(flatten)]
        http: HttpArg,
    },
    /// Mark a failed member as left, on every member, so that it is no longer reported failed
    /// (its tombstone is then forgotten after protocol.tombstone_ttl_ms, 24 h by default).
    ForceLeave {
        /// The failed member's name.
        name: String,
        #[command(flatten)]
        http: HttpArg,
    },
    /// Change a running agent's metadata; written back to its --config file if it has one.
    Meta {
        #[command(subcommand)]
        op: MetaOp,
        #[command(flatten)]
        http: HttpArg,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output: `rumor man > rumor.1`.
    Man,
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
enum MetaOp {
    /// Set keys (KEY=VALUE ...), keeping the others.
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Delete keys.
    Delete {
        /// Keys to delete.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
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
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rumor", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man => match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("writing the man page: {e}")),
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
        Command::Members { http, json, status, name, tag } => {
            let mut filters: Vec<(&str, &str)> = Vec::new();
            if let Some(s) = &status {
                filters.push(("status", s));
            }
            if let Some(n) = &name {
                filters.push(("name", n));
            }
            filters.extend(tag.iter().map(|t| ("tag", t.as_str())));
            let body = http.reads().members(&filters).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?);
            } else {
                print!("{}", client::members_table(&body));
            }
        }
        Command::Info { http, json } => {
            let info = http.reads().info().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?);
            } else {
                print!("{}", client::info_text(&info));
            }
        }
        Command::Join { addrs, http } => {
            let a = http.writes().join(&addrs).await?;
            if a.answered.len() == a.contacted.len() {
                println!("joined through {} ({} members alive)", a.answered.join(", "), a.alive);
            } else {
                let silent: Vec<&String> = a.contacted.iter().filter(|c| !a.answered.contains(c)).collect();
                let silent: Vec<&str> = silent.iter().map(|s| s.as_str()).collect();
                return Err(format!(
                    "no member answered from {} within 5 s ({} members alive); the agent keeps trying with \
                     backoff. Check the address and that UDP is open between the two",
                    silent.join(", "),
                    a.alive
                ));
            }
        }
        Command::ForceLeave { name, http } => {
            http.writes().force_leave(&name).await?;
            println!("{name} marked left; every member will report it left");
        }
        Command::Meta { op, http } => {
            let patch = match op {
                MetaOp::Set { pairs } => {
                    let mut set = std::collections::BTreeMap::new();
                    for kv in pairs {
                        match kv.split_once('=') {
                            Some((k, v)) if !k.is_empty() => {
                                set.insert(k.to_owned(), v.to_owned());
                            }
                            _ => return Err(format!("`{kv}` is not KEY=VALUE")),
                        }
                    }
                    rumor_node::http::MetaPatch { set, delete: Vec::new() }
                }
                MetaOp::Delete { keys } => rumor_node::http::MetaPatch { set: Default::default(), delete: keys },
            };
            let changed = http.writes().patch_meta(&patch).await?;
            let meta: Vec<String> = changed.meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("metadata now: {}", if meta.is_empty() { "(none)".to_owned() } else { meta.join(",") });
            match (changed.persisted, changed.not_persisted) {
                (Some(file), _) => println!("written to {file}"),
                (None, Some(why)) => println!("not written to a file: {why}"),
                (None, None) => {}
            }
        }
        Command::Keys { op, http } => {
            let c = http.writes();
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
            let acks = http.writes().leave().await?;
            println!("left the cluster ({acks} members acknowledged)");
        }
        Command::Monitor { http, json } => {
            let end = http
                .reads()
                .monitor(|e| {
                    if json {
                        println!("{e}");
                    } else {
                        println!("{}", client::describe_event(e));
                    }
                })
                .await?;
            match end {
                client::MonitorEnd::Left => eprintln!("rumor: the agent left the cluster; no more events"),
                client::MonitorEnd::Stopped => eprintln!("rumor: the agent stopped; no more events"),
            }
        }
        Command::Event { name, payload, http } => {
            let sent = http.writes().event(&name, &payload).await?;
            println!(
                "sent user event `{name}` ({} bytes of {} allowed) to every member, this node's subscribers included",
                sent.size, sent.max
            );
        }
        Command::Agent(_)
        | Command::Keygen
        | Command::Demo(_)
        | Command::Sim(_)
        | Command::Completions { .. }
        | Command::Man => {}
    }
    Ok(())
}
