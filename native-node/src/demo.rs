//! `rumor demo`: a local cluster on loopback, in one process, with an HTTP port per node and a
//! live membership view in the terminal. Ctrl-C (or `--duration`) makes every node leave
//! gracefully.
//!
//! The demo also serves the **demo console** on `--ui` (default `127.0.0.1:7900`): the browser
//! visualizer at `/ui/`, and a small control API for it that only the demo has (a plain
//! `rumor agent` has none of these routes):
//!
//! | route | |
//! |---|---|
//! | `GET /` | redirects to `/ui/` |
//! | `GET /ui/` | the built-in visualizer ([`crate::ui`]) |
//! | `GET /v1/demo` | `{"nodes": [{"name", "gossip", "http", "running"}]}`, in node order |
//! | `POST /v1/demo/nodes/{name}/kill` | stop the node at once, without leaving (as a crash looks to the cluster) |
//! | `POST /v1/demo/nodes/{name}/leave` | leave gracefully; the node stays stopped |
//! | `POST /v1/demo/nodes/{name}/restart` | start a stopped node again, same name and ports, joining a running node |
//!
//! A control request answers `{"ok": true, ...}`, or `{"error": "..."}` with 404 for an unknown
//! node, 409 when the node is not in the state the request needs, 500 when a restart or leave
//! failed, and 503 once the demo is shutting down.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use rumor_agent::{AgentConfig, Handle};
use rumor_core::Status;

use crate::config::ServeConfig;
use crate::serve::{Server, StartError};

/// Where the demo console listens unless `--ui` says otherwise.
pub const DEFAULT_UI: &str = "127.0.0.1:7900";

/// Flags of `rumor demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Nodes to start.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub nodes: u16,
    /// First UDP port (node i uses PORT+i, its HTTP PORT+1000+i); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Timing preset.
    #[arg(long, default_value = "local", value_parser = ["lan", "wan", "local"])]
    pub preset: String,
    /// Leave and exit after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// HTTP address of the demo console: the browser visualizer at /ui/ and the demo's control
    /// API (/v1/demo); port 0 picks a free port.
    #[arg(long, default_value = DEFAULT_UI, value_name = "IP:PORT")]
    pub ui: SocketAddr,
    /// Serve the visualizer from this directory instead of the built-in copy (for working on
    /// the page: `--ui-dir bindings-wasm/ui`).
    #[arg(long, value_name = "PATH")]
    pub ui_dir: Option<std::path::PathBuf>,
}

/// Runs the demo until Ctrl-C or `--duration`.
pub async fn run(args: &DemoArgs) -> Result<(), String> {
    let protocol = rumor_core::Config::preset(&args.preset).ok_or_else(|| format!("unknown preset {}", args.preset))?;
    // The console first: a busy port is found before any node starts.
    let console = tokio::net::TcpListener::bind(args.ui).await.map_err(|e| console_bind_error(args.ui, &e))?;
    let console_addr = console.local_addr().map_err(|e| format!("--ui {}: {e}", args.ui))?;
    let visualizer = format!("http://{console_addr}/ui/");
    println!("visualizer: {visualizer}");

    let port = |i: u16, off: u16| if args.port == 0 { 0 } else { args.port.saturating_add(off).saturating_add(i) };
    let mut slots = Vec::new();
    let mut seed: Option<SocketAddr> = None;
    for i in 0..args.nodes {
        let mut c = AgentConfig::new(
            format!("node-{}", i + 1),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port(i, 0))),
            protocol.clone(),
        );
        c.meta = BTreeMap::from([("demo".to_string(), "true".to_string()), ("index".to_string(), (i + 1).to_string())]);
        if let Some(s) = seed {
            c.join = vec![s.to_string()];
        }
        let mut c = ServeConfig::new(c);
        c.http = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port(i, 1000))));
        // On loopback, as `rumor agent`'s default: the node's HTTP listener takes writes too.
        c.admin = crate::config::Admin::Http;
        let server = Server::start(c.clone()).await.map_err(|e| format!("node-{}: {e}", i + 1))?;
        seed.get_or_insert(server.handle().advertised_addr());
        slots.push(Slot::new(c, server));
    }
    let demo = Demo { slots: Arc::new(Mutex::new(slots)), changes: Arc::new(Mutex::new(false)) };
    let (stop_console, console_stopped) = tokio::sync::oneshot::channel::<()>();
    let app = console_router(demo.clone(), args.ui_dir.as_deref());
    let console_task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = console_stopped.await;
        };
        // The same limits as an agent's listeners: slow or idle clients cannot hold it.
        crate::http::serve(console, app, crate::http::HttpLimits::default(), shutdown).await;
    });

    let tty = std::io::stdout().is_terminal();
    let start = tokio::time::Instant::now();
    let deadline = args.duration.map(|d| start + Duration::from_secs_f64(d.max(0.0)));
    let mut last = String::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            _ = tick.tick() => {}
        }
        let view = render(&demo.rows().await).await;
        if tty {
            print!(
                "\x1b[2J\x1b[Hvisualizer: {visualizer}\n\n{view}\n  {:.0} s — Ctrl-C leaves gracefully\n",
                start.elapsed().as_secs_f64()
            );
        } else if view != last {
            println!("{view}");
        }
        last = view;
    }

    println!("leaving…");
    let servers = demo.close().await;
    let leaves = servers.iter().map(|s| async move {
        let h = s.handle();
        let r = if h.is_stopped() { None } else { Some(h.leave().await) };
        (h.name().to_string(), r)
    });
    for (name, r) in futures_util::future::join_all(leaves).await {
        match r {
            Some(Ok(acks)) => println!("{name} left ({acks} acknowledged)"),
            Some(Err(e)) => println!("{name}: {e}"),
            None => {}
        }
    }
    futures_util::future::join_all(servers.into_iter().map(Server::wait)).await;
    let _ = stop_console.send(());
    // Like a node's HTTP server: give responses in flight a moment, then go.
    let _ = tokio::time::timeout(Duration::from_secs(2), console_task).await;
    Ok(())
}

/// The error for a `--ui` address that cannot be bound, naming the flag.
fn console_bind_error(addr: SocketAddr, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        format!("--ui {addr}: address in use; pass --ui 127.0.0.1:0 for a free port")
    } else {
        format!("--ui {addr}: cannot listen: {e}")
    }
}

/// One node of the demo: how to start it, and the node while it runs.
struct Slot {
    /// Its configuration, with the ports bound at the first start, so that a restart reuses
    /// them (also when `--port 0` picked them).
    config: ServeConfig,
    /// The node; `None` after a kill or leave. A node that stopped by itself (`POST /v1/leave`
    /// on its own HTTP listener) is still here, stopped, until it is restarted.
    server: Option<Server>,
}

impl Slot {
    /// A started node; its configuration records the ports it bound.
    fn new(mut config: ServeConfig, server: Server) -> Self {
        config.agent.bind = server.handle().local_addr();
        config.http = server.http_addr();
        config.agent.join.clear();
        Slot { config, server: Some(server) }
    }

    fn name(&self) -> &str {
        &self.config.agent.name
    }

    fn running(&self) -> bool {
        self.server.as_ref().is_some_and(|s| !s.handle().is_stopped())
    }
}

/// What the console's handlers and the terminal view share.
#[derive(Clone)]
struct Demo {
    /// Every node, in order. Locked only to read it or to swap a node in or out, never while
    /// a node starts or stops, so the terminal view and `GET /v1/demo` do not wait on those.
    slots: Arc<Mutex<Vec<Slot>>>,
    /// Held for the whole of a kill, leave or restart, so that they happen one at a time: a
    /// restart never binds ports that a kill of the same node has not closed yet. `true` once
    /// the demo is shutting down (no more changes).
    changes: Arc<Mutex<bool>>,
}

/// What the terminal view shows of one node.
struct Row {
    name: String,
    handle: Option<Handle>,
    http: Option<SocketAddr>,
}

impl Demo {
    /// Each node's name, handle (while running) and HTTP address, for the terminal view.
    async fn rows(&self) -> Vec<Row> {
        let slots = self.slots.lock().await;
        slots
            .iter()
            .map(|s| Row {
                name: s.name().to_string(),
                handle: s.server.as_ref().map(Server::handle),
                http: s.config.http,
            })
            .collect()
    }

    /// Takes the running node `name` out of its slot (the caller stops it).
    async fn take_running(&self, name: &str) -> Result<Server, ControlError> {
        let mut slots = self.slots.lock().await;
        let slot = find(&mut slots, name)?;
        if !slot.running() {
            return Err(ControlError::NotRunning(name.to_string()));
        }
        slot.server.take().ok_or_else(|| ControlError::NotRunning(name.to_string()))
    }

    /// Stops `name` at once: members see it fail.
    async fn kill(&self, name: &str) -> Result<(), ControlError> {
        let closing = self.changes.lock().await;
        if *closing {
            return Err(ControlError::Closing);
        }
        let server = self.take_running(name).await?;
        server.handle().shutdown().await;
        server.wait().await;
        Ok(())
    }

    /// `name` leaves gracefully; returns how many members acknowledged.
    async fn leave(&self, name: &str) -> Result<u32, ControlError> {
        let closing = self.changes.lock().await;
        if *closing {
            return Err(ControlError::Closing);
        }
        let server = self.take_running(name).await?;
        let handle = server.handle();
        let left = handle.leave().await;
        if left.is_err() {
            // Whatever went wrong, the node is taken out: make sure it stops.
            handle.shutdown().await;
        }
        server.wait().await;
        match left {
            Ok(acks) => Ok(acks),
            Err(rumor_agent::Error::Stopped) => Err(ControlError::NotRunning(name.to_string())),
            Err(e) => Err(ControlError::Leave(name.to_string(), e)),
        }
    }

    /// Starts the stopped node `name` again with its name and ports, joining a running node.
    async fn restart(&self, name: &str) -> Result<(), ControlError> {
        let closing = self.changes.lock().await;
        if *closing {
            return Err(ControlError::Closing);
        }
        let (config, old) = {
            let mut slots = self.slots.lock().await;
            let seed = slots
                .iter()
                .filter(|s| s.running() && s.name() != name)
                .find_map(|s| s.server.as_ref().map(|a| a.handle().advertised_addr()));
            let slot = find(&mut slots, name)?;
            if slot.running() {
                return Err(ControlError::Running(name.to_string()));
            }
            let mut config = slot.config.clone();
            config.agent.join = seed.iter().map(ToString::to_string).collect();
            (config, slot.server.take())
        };
        // A node that stopped by itself: its sockets close once it is waited for.
        if let Some(old) = old {
            old.wait().await;
        }
        let server = Server::start(config).await.map_err(|e| ControlError::Start(name.to_string(), e))?;
        let mut slots = self.slots.lock().await;
        find(&mut slots, name)?.server = Some(server);
        Ok(())
    }

    /// Stops further changes and takes every node out, for the final leave.
    async fn close(&self) -> Vec<Server> {
        let mut closing = self.changes.lock().await;
        *closing = true;
        let mut slots = self.slots.lock().await;
        slots.iter_mut().filter_map(|s| s.server.take()).collect()
    }
}

fn find<'a>(slots: &'a mut [Slot], name: &str) -> Result<&'a mut Slot, ControlError> {
    slots.iter_mut().find(|s| s.name() == name).ok_or_else(|| ControlError::UnknownNode(name.to_string()))
}

/// The demo console: the visualizer and the control API (see the module documentation).
fn console_router(demo: Demo, ui_dir: Option<&std::path::Path>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/v1/demo", get(nodes))
        .route("/v1/demo/nodes/{name}/kill", post(kill))
        .route("/v1/demo/nodes/{name}/leave", post(leave))
        .route("/v1/demo/nodes/{name}/restart", post(restart))
        .with_state(demo)
        .merge(crate::ui::router(ui_dir, crate::ui::Site::Demo))
}

/// Body of `GET /v1/demo`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DemoBody {
    /// Every node of the demo, in order, running or not.
    pub nodes: Vec<DemoNode>,
}

/// One node in `GET /v1/demo`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DemoNode {
    /// Its name (`node-1`, ...): the `{name}` of the control routes.
    pub name: String,
    /// Its gossip (UDP) address.
    pub gossip: SocketAddr,
    /// Its own HTTP listener, with the relay at `ws://{http}/v1/relay` while it runs.
    pub http: Option<SocketAddr>,
    /// Whether the node runs (false after a kill or leave, until a restart).
    pub running: bool,
}

async fn nodes(State(demo): State<Demo>) -> Json<DemoBody> {
    let slots = demo.slots.lock().await;
    let nodes = slots
        .iter()
        .map(|s| DemoNode {
            name: s.name().to_string(),
            gossip: s.config.agent.bind,
            http: s.config.http,
            running: s.running(),
        })
        .collect();
    Json(DemoBody { nodes })
}

async fn kill(
    State(demo): State<Demo>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ControlError> {
    demo.kill(&name).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn leave(
    State(demo): State<Demo>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let acknowledged = demo.leave(&name).await?;
    Ok(Json(serde_json::json!({ "ok": true, "acknowledged": acknowledged })))
}

async fn restart(
    State(demo): State<Demo>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ControlError> {
    demo.restart(&name).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// Why the console refused a control request; answered as `{"error": "..."}`.
#[derive(Debug)]
enum ControlError {
    /// No node has this name (404).
    UnknownNode(String),
    /// Kill or leave of a node that is not running (409).
    NotRunning(String),
    /// Restart of a node that is running (409).
    Running(String),
    /// The demo is shutting down (503).
    Closing,
    /// The node could not start again, e.g. its port was taken meanwhile (500).
    Start(String, StartError),
    /// The leave failed; the node was stopped without leaving (500).
    Leave(String, rumor_agent::Error),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::UnknownNode(n) => write!(f, "no node named {n:?}"),
            ControlError::NotRunning(n) => write!(f, "{n} is not running"),
            ControlError::Running(n) => write!(f, "{n} is already running"),
            ControlError::Closing => f.write_str("the demo is shutting down"),
            ControlError::Start(n, e) => write!(f, "{n} did not start: {e}"),
            ControlError::Leave(n, e) => write!(f, "{n} did not leave ({e}); it was stopped"),
        }
    }
}

impl std::error::Error for ControlError {}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::UnknownNode(_) => StatusCode::NOT_FOUND,
            ControlError::NotRunning(_) | ControlError::Running(_) => StatusCode::CONFLICT,
            ControlError::Closing => StatusCode::SERVICE_UNAVAILABLE,
            ControlError::Start(..) | ControlError::Leave(..) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}

async fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rumor demo: {} nodes on loopback", rows.len());
    let _ = writeln!(
        out,
        "{:<10} {:<22} {:>6} {:>8} {:>7} {:>5}  HTTP",
        "NODE", "GOSSIP", "ALIVE", "SUSPECT", "FAILED", "LEFT"
    );
    for row in rows {
        let Some(h) = &row.handle else {
            let _ = writeln!(out, "{:<10} stopped", row.name);
            continue;
        };
        let Ok(members) = h.members().await else {
            let _ = writeln!(out, "{:<10} stopped", row.name);
            continue;
        };
        let count = |s: Status| members.iter().filter(|m| m.state == s).count();
        let _ = writeln!(
            out,
            "{:<10} {:<22} {:>6} {:>8} {:>7} {:>5}  {}",
            row.name,
            h.advertised_addr().to_string(),
            count(Status::Alive),
            count(Status::Suspect),
            count(Status::Dead),
            count(Status::Left),
            row.http.map(|a| format!("http://{a}/v1/members")).unwrap_or_default()
        );
    }
    out
}
