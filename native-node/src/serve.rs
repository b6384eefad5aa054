//! `rumor agent` as a whole: a [`rumor_agent::Agent`], then the HTTP server and mDNS discovery
//! on its [`Handle`], stopped together.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rumor_agent::{Agent, Handle};
use tokio::task::JoinHandle;

use crate::config::{Admin, ServeConfig};
use crate::mdns::Discovery;

/// Why `rumor agent` could not start.
#[derive(Debug)]
pub enum StartError {
    /// The agent could not start.
    Agent(rumor_agent::Error),
    /// The HTTP listener could not be bound.
    Http(SocketAddr, std::io::Error),
    /// The admin listener could not be bound.
    Admin(SocketAddr, std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Agent(e) => e.fmt(f),
            StartError::Http(a, e) => write!(f, "cannot bind HTTP {a}: {e}"),
            StartError::Admin(a, e) => write!(f, "cannot bind the admin listener {a}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<rumor_agent::Error> for StartError {
    fn from(e: rumor_agent::Error) -> Self {
        StartError::Agent(e)
    }
}

/// A running agent with its HTTP server and mDNS discovery.
pub struct Server {
    agent: Agent,
    http: Option<(SocketAddr, JoinHandle<()>)>,
    admin: Option<(SocketAddr, JoinHandle<()>)>,
    mdns: Option<Discovery>,
}

impl Server {
    /// Binds the HTTP listener (if configured), starts the agent, then serves HTTP and starts
    /// mDNS on it. Must be called inside a tokio runtime.
    pub async fn start(config: ServeConfig) -> Result<Server, StartError> {
        // The HTTP ports first: an agent that cannot be observed is not started.
        let bind = |a: SocketAddr, err: fn(SocketAddr, std::io::Error) -> StartError| async move {
            let listener = tokio::net::TcpListener::bind(a).await.map_err(|e| err(a, e))?;
            let bound = listener.local_addr().map_err(|e| err(a, e))?;
            Ok::<_, StartError>((bound, listener))
        };
        let http = match config.http {
            Some(a) => Some(bind(a, StartError::Http).await?),
            None => None,
        };
        let admin = match config.admin {
            Admin::Listener(a) => Some(bind(a, StartError::Admin).await?),
            Admin::Http | Admin::Off => None,
        };
        let label = config.agent.protocol.label.clone();
        let mut options = crate::http::HttpOptions {
            label: label.clone(),
            ui_dir: config.ui_dir.clone(),
            info: serde_json::Map::new(),
            meta_file: config.meta_file.clone(),
        };
        let limits = config.http_limits;
        let agent = Agent::start(config.agent.clone()).await?;
        let handle = agent.handle();
        options.info = info(&config, http.as_ref().map(|h| h.0), admin.as_ref().map(|a| a.0));
        let routers = crate::http::routers(handle.clone(), &options);
        let relay = routers.relay.clone();
        let (reads, writes) = match config.admin {
            // The HTTP listener is on loopback and serves everything.
            Admin::Http => (routers.admin, None),
            Admin::Listener(_) => (routers.reads, Some(routers.admin)),
            Admin::Off => (routers.reads, None),
        };
        let stopped = handle.clone();
        let http = http.map(|(bound, listener)| {
            let stopped = stopped.clone();
            let relay = relay.clone();
            let task = tokio::spawn(async move {
                crate::http::serve(listener, reads, limits, async move { stopped.stopped().await }).await;
                relay.drain().await;
            });
            tracing::info!(addr = %bound, writes = config.admin == Admin::Http, "HTTP listening");
            (bound, task)
        });
        let admin = admin.zip(writes).map(|((bound, listener), app)| {
            let task = tokio::spawn(async move {
                crate::http::serve(listener, app, limits, async move { stopped.stopped().await }).await;
            });
            tracing::info!(addr = %bound, "admin listening");
            (bound, task)
        });
        let mdns = if config.mdns {
            match Discovery::start(handle.clone(), &label) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("mDNS disabled: {e}");
                    None
                }
            }
        } else {
            None
        };
        let summary = config.summary(
            handle.local_addr(),
            handle.advertised_addr(),
            http.as_ref().map(|h| h.0),
            admin.as_ref().map(|a| a.0),
            mdns.is_some(),
        );
        tracing::info!("agent started: {summary}");
        Ok(Server { agent, http, admin, mdns })
    }

    /// A handle to the agent.
    pub fn handle(&self) -> Handle {
        self.agent.handle()
    }

    /// The HTTP address actually bound (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(a, _)| *a)
    }

    /// The admin listener's address, if it has one of its own (useful with port 0).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(a, _)| *a)
    }

    /// Waits until the agent stops (after [`Handle::leave`] or [`Handle::shutdown`]), then
    /// stops its HTTP server and mDNS announcements.
    pub async fn wait(self) {
        self.agent.wait().await;
        if let Some(m) = self.mdns {
            m.stop();
        }
        for (_, task) in self.http.into_iter().chain(self.admin) {
            // The servers stop by themselves once the agent has stopped; give them a moment
            // to finish responses in flight.
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}

/// The configuration summary of `GET /v1/info` (`rumor info`): no secrets (the key count, not
/// the keys).
fn info(
    config: &ServeConfig,
    http: Option<SocketAddr>,
    admin: Option<SocketAddr>,
) -> serde_json::Map<String, serde_json::Value> {
    let a = &config.agent;
    let p = &a.protocol;
    let ms = |d: Duration| serde_json::Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let admin = match config.admin {
        Admin::Http => http.map(|h| h.to_string()),
        Admin::Listener(_) => admin.map(|a| a.to_string()),
        Admin::Off => None,
    };
    let json = serde_json::json!({
        "http": http.map(|h| h.to_string()),
        "admin": admin,
        "label": p.label,
        "seeds": a.join,
        "encrypted": p.keyring.primary_id().is_some(),
        "keys": p.keyring.keys().count(),
        "keyring_file": a.keyring_file.as_ref().map(|f| f.display().to_string()),
        "mdns": config.mdns,
        "preset": config.preset,
        "protocol": {
            "probe_interval_ms": ms(p.probe_interval),
            "probe_timeout_ms": ms(p.probe_timeout),
            "gossip_interval_ms": ms(p.gossip_interval),
            "push_pull_interval_ms": ms(p.push_pull_interval),
            "reconnect_timeout_ms": ms(p.reconnect_timeout),
            "tombstone_ttl_ms": ms(p.tombstone_ttl),
            "mtu": p.mtu,
            "max_members": p.max_members,
        },
    });
    match json {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
