//! `rumor demo`: a local cluster on loopback, in one process, with an HTTP port per node and a
//! live membership view in the terminal. Ctrl-C (or `--duration`) makes every node leave
//! gracefully.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rumor_agent::{AgentConfig, Handle};
use rumor_core::Status;

use crate::config::ServeConfig;
use crate::serve::Server;

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
}

/// Runs the demo until Ctrl-C or `--duration`.
pub async fn run(args: &DemoArgs) -> Result<(), String> {
    let protocol = rumor_core::Config::preset(&args.preset).ok_or_else(|| format!("unknown preset {}", args.preset))?;
    let port = |i: u16, off: u16| if args.port == 0 { 0 } else { args.port.saturating_add(off).saturating_add(i) };
    let mut agents = Vec::new();
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
        let agent = Server::start(c).await.map_err(|e| format!("node-{}: {e}", i + 1))?;
        seed.get_or_insert(agent.handle().local_addr());
        agents.push(agent);
    }
    let handles: Vec<Handle> = agents.iter().map(Server::handle).collect();
    let urls: Vec<Option<String>> =
        agents.iter().map(|a| a.http_addr().map(|h| format!("http://{h}/v1/members"))).collect();

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
        let view = render(&handles, &urls).await;
        if tty {
            print!("\x1b[2J\x1b[H{view}\n  {:.0} s — Ctrl-C leaves gracefully\n", start.elapsed().as_secs_f64());
        } else if view != last {
            println!("{view}");
        }
        last = view;
    }
    println!("leaving…");
    let leaves = handles.iter().map(|h| async move { (h.name().to_string(), h.leave().await) });
    for (name, r) in futures_util::future::join_all(leaves).await {
        match r {
            Ok(acks) => println!("{name} left ({acks} acknowledged)"),
            Err(e) => println!("{name}: {e}"),
        }
    }
    for a in agents {
        a.wait().await;
    }
    Ok(())
}

async fn render(handles: &[Handle], urls: &[Option<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rumor demo: {} nodes on loopback", handles.len());
    let _ = writeln!(
        out,
        "{:<10} {:<22} {:>6} {:>8} {:>7} {:>5}  HTTP",
        "NODE", "GOSSIP", "ALIVE", "SUSPECT", "FAILED", "LEFT"
    );
    for (h, url) in handles.iter().zip(urls) {
        let Ok(members) = h.members().await else {
            let _ = writeln!(out, "{:<10} stopped", h.name());
            continue;
        };
        let count = |s: Status| members.iter().filter(|m| m.state == s).count();
        let _ = writeln!(
            out,
            "{:<10} {:<22} {:>6} {:>8} {:>7} {:>5}  {}",
            h.name(),
            h.advertised_addr().to_string(),
            count(Status::Alive),
            count(Status::Suspect),
            count(Status::Dead),
            count(Status::Left),
            url.as_deref().unwrap_or("")
        );
    }
    out
}
