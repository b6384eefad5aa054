//! [`AgentConfig`]: what an agent needs to start, checked by [`AgentConfig::check`] with errors
//! that name the field and the value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use rumor_core::Config;
use rumor_core::meta::{self, MetaError};
use rumor_core::wire::MAX_NAME_LEN;

/// A configuration value that was refused. Its `Display` names the field and the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as spelled in the `rumor agent` TOML file (`protocol.probe_interval_ms`);
    /// its flags and environment variables use the same names.
    pub field: String,
    /// The value given.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `value` for `field`.
    pub fn new(field: impl Into<String>, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        ConfigError { field: field.into(), value: value.to_string(), reason: reason.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config field `{}`: `{}` {}", self.field, self.value, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// An agent's configuration. Build one with [`AgentConfig::new`] and set the fields you need;
/// [`Agent::start`](crate::Agent::start) checks it ([`AgentConfig::check`]).
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Node name, unique in the cluster (1 to 64 bytes).
    pub name: String,
    /// UDP bind address (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Advertised address; `None` means the bound address, or this host's outbound address with
    /// the bound port for a wildcard bind (worked out by `Agent::start` once the socket is
    /// bound, so port 0 works).
    pub advertise: Option<SocketAddr>,
    /// Seeds as `HOST:PORT` (host names are resolved when joining, and again every few seconds
    /// until one resolves).
    pub join: Vec<String>,
    /// Keyring file the keyring came from ([`keys::load_keyring`](crate::keys::load_keyring));
    /// keyring changes are written back to it.
    pub keyring_file: Option<PathBuf>,
    /// Metadata, gossiped as [`rumor_core::meta`] encodes it.
    pub meta: BTreeMap<String, String>,
    /// Protocol configuration (label, keyring, timings).
    pub protocol: Config,
}

impl AgentConfig {
    /// A configuration for a node named `name` bound to `bind` with the given protocol
    /// settings, no seeds, no metadata: the starting point for embedding an agent in a program.
    pub fn new(name: impl Into<String>, bind: SocketAddr, protocol: Config) -> Self {
        AgentConfig {
            name: name.into(),
            bind,
            advertise: None,
            join: Vec::new(),
            keyring_file: None,
            meta: BTreeMap::new(),
            protocol,
        }
    }

    /// Checks every value; the error names the first refused field and its value.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !rumor_core::wire::is_valid_name(&self.name) {
            return Err(ConfigError::new(
                "name",
                self.name.escape_debug(),
                format!("must be 1 to {MAX_NAME_LEN} bytes without control characters (a newline, a tab, …)"),
            ));
        }
        if let Some(a) = self.advertise
            && (a.ip().is_unspecified() || a.port() == 0)
        {
            return Err(ConfigError::new("advertise", a, "must be a reachable address and port"));
        }
        for seed in &self.join {
            check_seed(seed)?;
        }
        if let Err(MetaError::TooLong { len, max }) = meta::encode(&self.meta, self.protocol.max_meta_len) {
            return Err(ConfigError::new(
                "meta",
                format!("{len} bytes encoded"),
                format!("exceeds the limit of {max} bytes"),
            ));
        }
        self.protocol.validate().map_err(|e| {
            let (field, value) = protocol_entry(&self.protocol, e.field);
            ConfigError::new(field, value, e.reason)
        })
    }
}

/// The protocol configuration of the preset `name` (`Config::preset`), or a `ConfigError` for
/// the field `preset` listing the presets: what a binding's `preset="…"` argument means.
pub fn preset(name: &str) -> Result<Config, ConfigError> {
    Config::preset(name).ok_or_else(|| {
        ConfigError::new("preset", name, format!("is not a preset (expected one of {})", Config::PRESETS.join(", ")))
    })
}

/// The field name (as the TOML file spells it) and current value of a protocol field that
/// `Config::validate` refused.
fn protocol_entry(c: &Config, field: &str) -> (String, String) {
    let ms = |d: Duration| (format!("protocol.{field}_ms"), d.as_millis().to_string());
    match field {
        "probe_interval" => ms(c.probe_interval),
        "probe_timeout" => ms(c.probe_timeout),
        "gossip_interval" => ms(c.gossip_interval),
        "push_pull_interval" => ms(c.push_pull_interval),
        "indirect_checks" => (format!("protocol.{field}"), c.indirect_checks.to_string()),
        "suspicion_mult" => (format!("protocol.{field}"), c.suspicion_mult.to_string()),
        "suspicion_max_mult" => (format!("protocol.{field}"), c.suspicion_max_mult.to_string()),
        "retransmit_mult" => (format!("protocol.{field}"), c.retransmit_mult.to_string()),
        "gossip_fanout" => (format!("protocol.{field}"), c.gossip_fanout.to_string()),
        "mtu" => (format!("protocol.{field}"), c.mtu.to_string()),
        "max_members" => (format!("protocol.{field}"), c.max_members.to_string()),
        "reconnect_timeout" => ms(c.reconnect_timeout),
        "tombstone_ttl" => ms(c.tombstone_ttl),
        "label" => ("label".into(), c.label.clone()),
        "keyring" => ("keyring".into(), format!("{} keys", c.keyring.keys().count())),
        "accept_plaintext" => (field.into(), c.accept_plaintext.to_string()),
        "send_plaintext" => (field.into(), c.send_plaintext.to_string()),
        // Fields no setting of the agent reaches directly: a preset combined with overrides.
        other => (format!("protocol.{other}"), "(derived from the preset)".into()),
    }
}

/// Reads a text file of at most `limit` bytes: configuration and keyring files are small, and
/// reading `/dev/zero` or a log file given by mistake must fail at once rather than fill the
/// memory.
pub fn read_file(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is larger than {} KiB, the most this file may be", limit / 1024),
        ));
    }
    Ok(text)
}

fn check_seed(seed: &str) -> Result<(), ConfigError> {
    if seed.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || ConfigError::new("join", seed, "is not HOST:PORT");
    let (host, port) = seed.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(())
}

/// The address to advertise for a socket bound to a wildcard address: this host's outbound
/// address with the bound port.
pub(crate) fn advertise_for_wildcard(local: SocketAddr) -> Option<SocketAddr> {
    outbound_ip(local.ip()).map(|ip| SocketAddr::new(ip, local.port()))
}

/// The address this host uses to reach the outside, found by "connecting" a UDP socket (which
/// sends nothing). Used to advertise a wildcard bind.
fn outbound_ip(family: IpAddr) -> Option<IpAddr> {
    let (local, probe): (SocketAddr, SocketAddr) = if family.is_ipv4() {
        (([0, 0, 0, 0], 0).into(), ([192, 0, 2, 1], 9).into())
    } else {
        ((std::net::Ipv6Addr::UNSPECIFIED, 0).into(), ("2001:db8::1".parse::<IpAddr>().ok()?, 9).into())
    };
    let s = UdpSocket::bind(local).ok()?;
    s.connect(probe).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AgentConfig {
        AgentConfig::new("a", SocketAddr::from(([127, 0, 0, 1], 0)), Config::local())
    }

    #[test]
    fn check_names_field_and_value() {
        assert_eq!(config().check(), Ok(()));
        let long_meta = BTreeMap::from([("k".to_string(), "x".repeat(600))]);
        let (long_name, long_label) = ("n".repeat(65), "l".repeat(65));
        let cases: Vec<(AgentConfig, &str, &str)> = vec![
            (AgentConfig { name: String::new(), ..config() }, "name", ""),
            (AgentConfig { name: long_name.clone(), ..config() }, "name", &long_name),
            (AgentConfig { name: "a\nb".into(), ..config() }, "name", "a\\nb"),
            (
                AgentConfig { advertise: Some(SocketAddr::from(([0, 0, 0, 0], 1))), ..config() },
                "advertise",
                "0.0.0.0:1",
            ),
            (
                AgentConfig { advertise: Some(SocketAddr::from(([10, 0, 0, 1], 0))), ..config() },
                "advertise",
                "10.0.0.1:0",
            ),
            (AgentConfig { join: vec!["host".into()], ..config() }, "join", "host"),
            (AgentConfig { join: vec!["host:0".into()], ..config() }, "join", "host:0"),
            (AgentConfig { meta: long_meta, ..config() }, "meta", "605 bytes encoded"),
            (
                AgentConfig {
                    protocol: Config { probe_interval: Duration::from_millis(5), ..Config::local() },
                    ..config()
                },
                "protocol.probe_interval_ms",
                "5",
            ),
            (
                AgentConfig { protocol: Config { label: long_label.clone(), ..Config::local() }, ..config() },
                "label",
                &long_label,
            ),
            (
                AgentConfig { protocol: Config { accept_plaintext: true, ..Config::local() }, ..config() },
                "accept_plaintext",
                "true",
            ),
        ];
        for (c, field, value) in cases {
            let e = c.check().expect_err(field);
            assert_eq!((e.field.as_str(), e.value.as_str()), (field, value), "{e}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
        let seeds = AgentConfig { join: vec!["db-1.internal:7946".into(), "[::1]:7946".into()], ..config() };
        assert_eq!(seeds.check(), Ok(()));
    }
}
