//! `rumor agent` as a whole: a [`rumor_agent::Agent`], then the HTTP server and mDNS discovery
//! on its [`Handle`], stopped together.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rumor_agent::{Agent, Handle};
use tokio::task::JoinHandle;

use crate::config::ServeConfig;
use crate::mdns::Discovery;

/// Why `rumor agent` could not start.
#[derive(Debug)]
pub enum StartError {
    /// The agent could not start.
    Agent(rumor_agent::Error),
    /// The HTTP listener could not be bound.
    Http(SocketAddr, std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Agent(e) => e.fmt(f),
            StartError::Http(a, e) => write!(f, "cannot bind HTTP {a}: {e}"),
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
    mdns: Option<Discovery>,
}

impl Server {
    /// Binds the HTTP listener (if configured), starts the agent, then serves HTTP and starts
    /// mDNS on it. Must be called inside a tokio runtime.
    pub async fn start(config: ServeConfig) -> Result<Server, StartError> {
        // The HTTP port first: an agent that cannot be observed is not started.
        let listener = match config.http {
            Some(a) => {
                let listener = tokio::net::TcpListener::bind(a).await.map_err(|e| StartError::Http(a, e))?;
                let bound = listener.local_addr().map_err(|e| StartError::Http(a, e))?;
                Some((bound, listener))
            }
            None => None,
        };
        let label = config.agent.protocol.label.clone();
        let options = crate::http::HttpOptions { label: label.clone(), ui_dir: config.ui_dir.clone() };
        let agent = Agent::start(config.agent.clone()).await?;
        let handle = agent.handle();
        let http = listener.map(|(bound, listener)| {
            let task = tokio::spawn(crate::http::serve(listener, handle.clone(), options));
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
        let summary =
            config.summary(handle.local_addr(), handle.advertised_addr(), http.as_ref().map(|h| h.0), mdns.is_some());
        tracing::info!("agent started: {summary}");
        Ok(Server { agent, http, mdns })
    }

    /// A handle to the agent.
    pub fn handle(&self) -> Handle {
        self.agent.handle()
    }

    /// The HTTP address actually bound (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(a, _)| *a)
    }

    /// Waits until the agent stops (after [`Handle::leave`] or [`Handle::shutdown`]), then
    /// stops its HTTP server and mDNS announcements.
    pub async fn wait(self) {
        self.agent.wait().await;
        if let Some(m) = self.mdns {
            m.stop();
        }
        if let Some((_, task)) = self.http {
            // The server stops by itself once the agent has stopped; give it a moment to
            // finish responses in flight.
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}
