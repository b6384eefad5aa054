//! `rumor-agent`: the embeddable Rumor runtime. One [`rumor_core::Node`] driven by a tokio UDP
//! socket and timers ([`Agent`]), controlled from any task through a cheap [`Handle`], with one
//! error type ([`Error`]) whose variants a binding maps to its own exceptions. It is what the
//! `rumor` binary (`rumor-node`, which adds the CLI, HTTP, mDNS and metrics) and the Python and
//! Swift packages are built on; it pulls in no HTTP, CLI or discovery crates.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rumor_agent::{Agent, AgentConfig};
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
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

mod agent;
pub mod config;
mod error;
pub mod keys;

/// The protocol core this agent drives (its `Config`, `Key`, `Status`, …), re-exported so that a
/// binding names one crate and cannot mix versions.
pub use rumor_core;

pub use agent::{Agent, AgentEvent, Handle, KeyOp, MemberInfo, NodeMetrics, describe_encryption, stats_by_name};
pub use config::{AgentConfig, ConfigError};
pub use error::Error;
