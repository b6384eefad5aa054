//! The one error type of the agent, for callers to match on (a binding maps each variant to its
//! own exception type). Each variant says whether anything changed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use rumor_core::KeyringError;
use rumor_core::meta::MetaError;
use rumor_core::user_event::UserEventError;

use crate::config::ConfigError;

/// Why the agent could not start, or why a command failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value was refused ([`AgentConfig::check`](crate::AgentConfig::check));
    /// nothing was started.
    Config(ConfigError),
    /// The node refused: a bad name, metadata too long, a broadcast too large, a command while
    /// leaving, or a protocol configuration it does not accept. Nothing changed.
    Node(rumor_core::Error),
    /// The keyring refused a key operation (an unknown key, or removing the primary). Nothing
    /// changed.
    Keyring(KeyringError),
    /// Metadata that does not fit `Config::max_meta_len` once encoded. Nothing changed.
    Meta(MetaError),
    /// A user event whose name holds a NUL byte. Nothing was sent.
    UserEvent(UserEventError),
    /// The UDP socket could not be bound; nothing was started.
    Bind(SocketAddr, std::io::Error),
    /// Bound to a wildcard address and no outbound address to advertise was found; nothing was
    /// started.
    Advertise(SocketAddr),
    /// No randomness from the operating system (for the node's seed, or a new key).
    Random(String),
    /// The keyring changed, but the keyring file could not be rewritten: the running node uses
    /// the new keyring, a restart would read the old one.
    KeyringFile(PathBuf, std::io::Error),
    /// [`Handle::join`](crate::Handle::join): an address that is not `HOST:PORT` or does not
    /// resolve (the reason says which). Nothing was sent.
    Join(String),
    /// The agent has stopped (it left or was shut down); the command was not run.
    Stopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Node(e) => e.fmt(f),
            Error::Keyring(e) => e.fmt(f),
            Error::Meta(e) => e.fmt(f),
            Error::UserEvent(e) => e.fmt(f),
            Error::Bind(a, e) => write!(f, "cannot bind UDP {a}: {e}"),
            Error::Advertise(a) => write!(
                f,
                "invalid config field `advertise`: bound to {a} and no address to advertise found; set --advertise"
            ),
            Error::Random(e) => write!(f, "no randomness from the operating system: {e}"),
            Error::KeyringFile(path, e) => write!(f, "keyring changed but {} not saved: {e}", path.display()),
            Error::Join(e) => f.write_str(e),
            Error::Stopped => f.write_str("the agent has stopped"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<rumor_core::Error> for Error {
    fn from(e: rumor_core::Error) -> Self {
        Error::Node(e)
    }
}

impl From<KeyringError> for Error {
    fn from(e: KeyringError) -> Self {
        Error::Keyring(e)
    }
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        Error::Meta(e)
    }
}

impl From<UserEventError> for Error {
    fn from(e: UserEventError) -> Self {
        Error::UserEvent(e)
    }
}
