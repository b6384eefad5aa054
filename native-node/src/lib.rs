//! `rumor-node`: the `rumor` binary and everything operator-facing around the embeddable agent
//! ([`rumor_agent`]): the CLI's configuration (flags, `RUMOR_*` environment, TOML; [`config`]),
//! the HTTP observability and control interface ([`http`], [`metrics`]) with its live WebSocket
//! relay ([`relay`]) and the built-in browser visualizer ([`ui`]), mDNS discovery, the client
//! commands ([`client`]), `rumor demo` with its demo console ([`demo`]) and `rumor sim`, and the
//! binary's allocator.
//! [`serve::Server`] runs an agent with its HTTP server and mDNS, as `rumor agent` does.
//!
//! Programs that embed an agent depend on `rumor-agent` instead: it has none of these
//! dependencies.

pub mod client;
pub mod config;
pub mod demo;
pub mod http;
mod mdns;
pub mod memory;
pub mod metrics;
pub mod relay;
pub mod serve;
pub mod simulate;
pub mod ui;

pub use config::{AgentArgs, ServeConfig};
pub use rumor_agent::{self, AgentConfig, ConfigError, Handle, NodeMetrics};
pub use serve::{Server, StartError};
