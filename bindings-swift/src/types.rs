//! Members, events and errors as uniffi records and enums (Swift value types), built from the
//! agent's `MemberInfo` and `AgentEvent` — the one conversion of the core's members and events,
//! which the sans-IO `Node` goes through too.

use std::collections::HashMap;

use rumor_agent::{AgentEvent, ConfigError, Error, MemberInfo};
use rumor_core::{Config, KEY_LEN, Key, KeyError, Lifeguard, Status};

/// A member's liveness in one node's view.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// Suspected of having failed; it may still refute.
    Suspect,
    /// Declared failed.
    Failed,
    /// Left gracefully.
    Left,
}

impl From<Status> for MemberState {
    fn from(s: Status) -> Self {
        match s {
            Status::Alive => MemberState::Alive,
            Status::Suspect => MemberState::Suspect,
            Status::Dead => MemberState::Failed,
            Status::Left => MemberState::Left,
        }
    }
}

/// A member as one node sees it.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Unique name.
    pub name: String,
    /// `ip:port` (`[v6]:port`).
    pub addr: String,
    /// Liveness in this node's view.
    pub state: MemberState,
    /// Raised by the member to refute a suspicion or announce a change.
    pub incarnation: u32,
    /// Its metadata (empty if it is not a Rumor string map).
    pub meta: HashMap<String, String>,
}

impl From<MemberInfo> for Member {
    fn from(m: MemberInfo) -> Self {
        Member {
            name: m.name,
            addr: m.addr.to_string(),
            state: m.state.into(),
            incarnation: m.incarnation,
            meta: m.meta.into_iter().collect(),
        }
    }
}

/// What happened.
#[derive(uniffi::Enum, Clone, Debug, PartialEq, Eq)]
pub enum MembershipEvent {
    /// A member became alive: new, or back after failing or leaving.
    Joined { member: Member },
    /// An alive member changed its metadata or address.
    Updated { member: Member },
    /// A member is suspected of having failed.
    Suspect { member: Member },
    /// A suspect member refuted the suspicion.
    Alive { member: Member },
    /// A member was declared failed.
    Failed { member: Member },
    /// A member left gracefully.
    Left { member: Member },
    /// A user event from `origin`.
    UserEvent { origin: String, name: String, payload: Vec<u8> },
    /// Another address claims a live member's name; the known address is kept.
    NameConflict { name: String, known: String, claimed: String },
    /// This node is part of a cluster (a seed answered).
    ClusterJoined,
    /// This node's leave finished; `acknowledged` members confirmed it.
    LeaveComplete { acknowledged: u32 },
}

impl From<AgentEvent> for MembershipEvent {
    fn from(e: AgentEvent) -> Self {
        match e {
            AgentEvent::MemberJoined { member } => MembershipEvent::Joined { member: member.into() },
            AgentEvent::MemberUpdated { member } => MembershipEvent::Updated { member: member.into() },
            AgentEvent::MemberSuspect { member } => MembershipEvent::Suspect { member: member.into() },
            AgentEvent::MemberAlive { member } => MembershipEvent::Alive { member: member.into() },
            AgentEvent::MemberFailed { member } => MembershipEvent::Failed { member: member.into() },
            AgentEvent::MemberLeft { member } => MembershipEvent::Left { member: member.into() },
            AgentEvent::UserEvent { origin, name, payload } => MembershipEvent::UserEvent { origin, name, payload },
            AgentEvent::NameConflict { name, known, claimed } => {
                MembershipEvent::NameConflict { name, known: known.to_string(), claimed: claimed.to_string() }
            }
            AgentEvent::Joined => MembershipEvent::ClusterJoined,
            AgentEvent::LeaveComplete { acknowledged } => MembershipEvent::LeaveComplete { acknowledged },
        }
    }
}

/// Every error of the library. The Swift package maps it to the idiomatic `RumorError`
/// (lower-case cases; uniffi keeps an error's Rust variant names).
#[derive(uniffi::Error, Clone, Debug, PartialEq, Eq)]
pub enum FfiError {
    /// A configuration value was refused; nothing was started.
    Config { field: String, value: String, reason: String },
    /// A key operation was refused (an unknown key, removing the primary, a malformed key).
    Keyring { message: String },
    /// Metadata that does not fit once encoded, or bytes that are not Rumor metadata.
    Meta { message: String },
    /// The node refused a command (a broadcast too large, a command while leaving, …).
    Node { message: String },
    /// The UDP socket could not be bound, or no address to advertise was found.
    Bind { message: String },
    /// The agent has stopped (it left or was closed); the command was not run.
    Closed,
    /// Bytes that are not a valid frame or body; `kind` is the core's name for why.
    Decode { kind: String, message: String },
    /// Anything else (no randomness from the system, a keyring file not saved).
    Other { message: String },
}

impl std::fmt::Display for FfiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FfiError::Config { field, value, reason } => {
                write!(f, "invalid config field `{field}`: `{value}` {reason}")
            }
            FfiError::Keyring { message }
            | FfiError::Meta { message }
            | FfiError::Node { message }
            | FfiError::Bind { message }
            | FfiError::Decode { message, .. }
            | FfiError::Other { message } => f.write_str(message),
            FfiError::Closed => f.write_str("the agent has stopped"),
        }
    }
}

impl std::error::Error for FfiError {}

impl From<&ConfigError> for FfiError {
    fn from(e: &ConfigError) -> Self {
        FfiError::Config { field: e.field.clone(), value: e.value.clone(), reason: e.reason.clone() }
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(c) => (&c).into(),
            Error::Node(e) => FfiError::Node { message: e.to_string() },
            Error::Keyring(e) => FfiError::Keyring { message: e.to_string() },
            Error::Meta(e) => FfiError::Meta { message: e.to_string() },
            Error::UserEvent(e) => FfiError::Node { message: e.to_string() },
            e @ (Error::Bind(..) | Error::Advertise(_)) => FfiError::Bind { message: e.to_string() },
            Error::Stopped => FfiError::Closed,
            e => FfiError::Other { message: e.to_string() },
        }
    }
}

/// A refused argument, before the agent's checks could see it.
pub(crate) fn config_error(field: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> FfiError {
    (&ConfigError::new(field, value, reason)).into()
}

/// A key from base64 text.
pub(crate) fn key(text: &str) -> Result<Key, KeyError> {
    Key::from_base64(text)
}

/// A key argument of a keyring operation.
pub(crate) fn key_arg(text: &str) -> Result<Key, FfiError> {
    key(text).map_err(|e| FfiError::Keyring { message: format!("a key {e}") })
}

/// Raw key bytes (the vectors' form) as a key.
pub(crate) fn key_bytes(bytes: &[u8]) -> Result<Key, FfiError> {
    let raw: [u8; KEY_LEN] = bytes
        .try_into()
        .map_err(|_| FfiError::Keyring { message: format!("a key is {KEY_LEN} bytes, not {}", bytes.len()) })?;
    Ok(Key::from_bytes(raw))
}

/// A protocol configuration from a preset, a label, base64 keys (the first is the primary)
/// and the Lifeguard switch; refusals name the field.
pub(crate) fn protocol(preset: &str, label: &str, keys: &[String], lifeguard: bool) -> Result<Config, FfiError> {
    let mut config = rumor_agent::config::preset(preset).map_err(|e| FfiError::from(&e))?;
    config.label = label.to_owned();
    let keys = keys
        .iter()
        .enumerate()
        .map(|(i, text)| key(text).map_err(|e| config_error("keyring", format_args!("[{i}]"), format!("a key {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    config.keyring = rumor_agent::keys::keyring(keys);
    if !lifeguard {
        config.lifeguard = Lifeguard::OFF;
    }
    Ok(config)
}
