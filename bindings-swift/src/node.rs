//! `Node`: the sans-IO core for apps that bring their own transport (Network.framework, a test
//! harness). Time is seconds (`TimeInterval`) on the caller's monotonic clock; members and
//! events convert as the agent's do.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rumor_agent::{AgentConfig, AgentEvent, MemberInfo};
use rumor_core::{Identity, Instant, meta, user_event};

use crate::types::{self, FfiError, Member, MembershipEvent};

fn instant(now: f64) -> Result<Instant, FfiError> {
    if !(0.0..1e12).contains(&now) {
        return Err(FfiError::Node { message: format!("now must be a non-negative number of seconds, not {now}") });
    }
    Ok(Instant::from_millis_f64(now * 1000.0))
}

fn addr(field: &str, text: &str) -> Result<SocketAddr, FfiError> {
    text.parse().map_err(|_| types::config_error(field, text, "is not an address of the form IP:PORT"))
}

/// A node's settings.
#[derive(uniffi::Record, Clone, Debug)]
pub struct NodeOptions {
    /// Unique member name.
    pub name: String,
    /// The address others reach it at (`ip:port`).
    pub addr: String,
    /// Base64 keys; the first seals packets. Empty: plaintext.
    #[uniffi(default = [])]
    pub keyring: Vec<String>,
    /// Cluster label.
    #[uniffi(default = "")]
    pub label: String,
    /// This member's metadata.
    #[uniffi(default)]
    pub meta: HashMap<String, String>,
    /// Timing preset.
    #[uniffi(default = "lan")]
    pub preset: String,
    /// Lifeguard on (default) or plain SWIM.
    #[uniffi(default = true)]
    pub lifeguard: bool,
    /// 32 random bytes; none: from the system.
    #[uniffi(default = None)]
    pub seed: Option<Vec<u8>>,
}

/// A datagram to send.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// `ip:port`.
    pub destination: String,
    /// The datagram.
    pub data: Vec<u8>,
}

struct Inner {
    node: rumor_core::Node,
    buf: Vec<u8>,
}

/// The protocol core. Methods lock it, so it may be shared between threads.
#[derive(uniffi::Object)]
pub struct Node {
    inner: Mutex<Inner>,
}

impl Node {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, FfiError>) -> Result<T, FfiError> {
        let mut inner = self.inner.lock().map_err(|_| FfiError::Other { message: "node lock poisoned".into() })?;
        f(&mut inner)
    }
}

#[uniffi::export]
impl Node {
    /// A node at `now`, not yet joined.
    #[uniffi::constructor]
    pub fn new(options: NodeOptions, now: f64) -> Result<Arc<Node>, FfiError> {
        let config = types::protocol(&options.preset, &options.label, &options.keyring, options.lifeguard)?;
        let address = addr("addr", &options.addr)?;
        // The agent's checks, so a bad name, label or metadata is the same `config` error here.
        let mut checked = AgentConfig::new(options.name, address, config);
        checked.meta = options.meta.into_iter().collect();
        checked.check().map_err(|e| FfiError::from(&e))?;
        let AgentConfig { name, protocol: config, meta: map, .. } = checked;
        let meta = meta::encode(&map, config.max_meta_len).map_err(|e| FfiError::Meta { message: e.to_string() })?;
        let seed: [u8; 32] = match options.seed {
            Some(seed) => {
                let len = seed.len();
                seed.try_into()
                    .map_err(|_| types::config_error("seed", format_args!("{len} bytes"), "must be 32 bytes"))?
            }
            None => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| FfiError::Other { message: format!("no random seed: {e}") })?;
                seed
            }
        };
        let buf = vec![0; config.mtu];
        let node = rumor_core::Node::new(config, Identity { name, addr: address, meta }, seed, instant(now)?)
            .map_err(|e| FfiError::Node { message: e.to_string() })?;
        Ok(Arc::new(Node { inner: Mutex::new(Inner { node, buf }) }))
    }

    /// This node's name.
    pub fn name(&self) -> Result<String, FfiError> {
        self.with(|i| Ok(i.node.name().to_owned()))
    }

    /// The address others reach it at.
    pub fn addr(&self) -> Result<String, FfiError> {
        self.with(|i| Ok(i.node.addr().to_string()))
    }

    /// Whether a seed (or any member) has answered since `join`.
    pub fn is_joined(&self) -> Result<bool, FfiError> {
        self.with(|i| Ok(i.node.is_joined()))
    }

    /// Joins through `seeds` (`ip:port`), retrying until one answers.
    pub fn join(&self, seeds: Vec<String>, now: f64) -> Result<(), FfiError> {
        let seeds = seeds.iter().map(|s| addr("seeds", s)).collect::<Result<Vec<_>, _>>()?;
        let now = instant(now)?;
        self.with(|i| i.node.join(&seeds, now).map_err(|e| FfiError::Node { message: e.to_string() }))
    }

    /// Handles one datagram from `source`; invalid datagrams are dropped and counted.
    pub fn handle_datagram(&self, now: f64, source: String, data: Vec<u8>) -> Result<(), FfiError> {
        let (now, source) = (instant(now)?, addr("source", &source)?);
        self.with(|i| {
            i.node.handle_datagram(now, source, &data);
            Ok(())
        })
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&self, now: f64) -> Result<(), FfiError> {
        let now = instant(now)?;
        self.with(|i| {
            i.node.handle_timeout(now);
            Ok(())
        })
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&self, now: f64) -> Result<Option<Transmit>, FfiError> {
        let now = instant(now)?;
        self.with(|i| {
            let Inner { node, buf } = i;
            Ok(node.poll_transmit(now, buf).map(|t| Transmit {
                destination: t.destination.to_string(),
                data: buf.get(..t.size).unwrap_or_default().to_vec(),
            }))
        })
    }

    /// The next event, if any.
    pub fn poll_event(&self) -> Result<Option<MembershipEvent>, FfiError> {
        self.with(|i| Ok(i.node.poll_event().map(|e| MembershipEvent::from(AgentEvent::from(e)))))
    }

    /// When `handle_timeout` is next due (seconds, same clock as `now`).
    pub fn poll_timeout(&self) -> Result<Option<f64>, FfiError> {
        self.with(|i| Ok(i.node.poll_timeout().map(|t| t.as_millis_f64() / 1000.0)))
    }

    /// Replaces this node's metadata and gossips it.
    pub fn set_meta(&self, meta: HashMap<String, String>, now: f64) -> Result<(), FfiError> {
        let now = instant(now)?;
        let map = meta.into_iter().collect();
        self.with(|i| {
            let bytes = meta::encode(&map, i.node.config().max_meta_len)
                .map_err(|e| FfiError::Meta { message: e.to_string() })?;
            i.node.set_meta(&bytes, now).map_err(|e| FfiError::Node { message: e.to_string() })
        })
    }

    /// Broadcasts a named user event.
    pub fn broadcast(&self, name: String, payload: Vec<u8>, now: f64) -> Result<(), FfiError> {
        let now = instant(now)?;
        let bytes = user_event::encode(&name, &payload).map_err(|e| FfiError::Node { message: e.to_string() })?;
        self.with(|i| i.node.broadcast(&bytes, now).map_err(|e| FfiError::Node { message: e.to_string() }))
    }

    /// Leaves gracefully; `LeaveComplete` says when it may stop.
    pub fn leave(&self, now: f64) -> Result<(), FfiError> {
        let now = instant(now)?;
        self.with(|i| i.node.leave(now).map_err(|e| FfiError::Node { message: e.to_string() }))
    }

    /// Every known member, this node first.
    pub fn members(&self) -> Result<Vec<Member>, FfiError> {
        self.with(|i| Ok(i.node.members().map(|m| Member::from(MemberInfo::from(&m.to_member()))).collect()))
    }

    /// The core's counters by name.
    pub fn stats(&self) -> Result<HashMap<String, u64>, FfiError> {
        self.with(|i| Ok(rumor_agent::stats_by_name(i.node.stats()).into_iter().collect()))
    }
}
