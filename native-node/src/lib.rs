//! `rumor-node`: the native Rumor agent. It drives a [`rumor_core::Node`] from a tokio UDP
//! socket and timers ([`agent`]), serves HTTP observability and control ([`http`]), and is the
//! library the `rumor` CLI (and the Python and Swift packages) are built on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rumor_node::{Agent, AgentConfig};
//! let mut config = AgentConfig::new("web-1", "127.0.0.1:7946".parse()?, rumor_core::Config::lan());
//! config.join = vec!["127.0.0.1:7950".into()];
//! let agent = Agent::start(config).await?;
//! let handle = agent.handle();
//! let mut events = handle.subscribe();
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

pub mod agent;
pub mod client;
pub mod config;
pub mod demo;
pub mod http;
pub mod keys;
mod mdns;
pub mod memory;
pub mod meta;
pub mod metrics;
pub mod simulate;

pub use agent::{Agent, AgentError, AgentEvent, Handle, KeyOp, MemberInfo, NodeMetrics, StartError};
pub use config::{AgentArgs, AgentConfig, ConfigError};
