//! `rumor agent`'s configuration: command-line flags > `RUMOR_*` environment variables > TOML
//! file > defaults, resolved into a [`ServeConfig`] (the embeddable agent's [`AgentConfig`] plus
//! HTTP and mDNS). Every value is checked before the agent starts; a bad one is reported with the
//! field's name and the value given.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rumor_agent::keys;
pub use rumor_agent::{AgentConfig, ConfigError};
use rumor_core::{Config, Keyring, Lifeguard};
use serde::Deserialize;

pub use crate::http::{HttpLimits, MetaFile};

/// Where an agent serves writes (leave, keys, metadata, events, join, force-leave).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    /// On the HTTP listener, which is bound to loopback.
    Http,
    /// On a listener of its own at this address.
    Listener(SocketAddr),
    /// Nowhere: the agent takes no writes over HTTP.
    Off,
}

/// Gossip port used when `--bind` is not given.
pub const DEFAULT_PORT: u16 = 7946;
/// HTTP address client commands talk to by default (and the agent serves by default).
pub const DEFAULT_HTTP: &str = "127.0.0.1:7947";
/// The admin listener's address when `--http` is bound to a non-loopback address and
/// `--admin` is not given.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:7948";

/// Flags of `rumor agent`. Each also reads a `RUMOR_*` environment variable; every one may also
/// be set in the TOML file given by `--config`. Values are strings here and checked in
/// [`ServeConfig::resolve`], so that a bad value from any source is reported the same way.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AgentArgs {
    /// Unique node name in the cluster [default: the host name].
    #[arg(long, env = "RUMOR_NAME")]
    pub name: Option<String>,
    /// UDP address to bind [default: 0.0.0.0:7946].
    #[arg(long, env = "RUMOR_BIND", value_name = "IP:PORT")]
    pub bind: Option<String>,
    /// Address other members reach this node at [default: the bind address, or this host's
    /// outbound address when binding a wildcard].
    #[arg(long, env = "RUMOR_ADVERTISE", value_name = "IP:PORT")]
    pub advertise: Option<String>,
    /// Seeds to join through (comma separated HOST:PORT); retried with backoff until one answers.
    #[arg(long, env = "RUMOR_JOIN", value_name = "HOST:PORT,...", value_delimiter = ',')]
    pub join: Vec<String>,
    /// HTTP address for /metrics, /healthz, /readyz, /v1/* ("off" disables) [default: 127.0.0.1:7947].
    /// Bound to loopback it also serves the writes (leave, keys, meta, events, join,
    /// force-leave); bound elsewhere it serves reads only.
    #[arg(long, env = "RUMOR_HTTP", value_name = "IP:PORT")]
    pub http: Option<String>,
    /// Admin listener: reads and writes ("off": no writes at all) [default: the HTTP listener
    /// when it is on loopback, else 127.0.0.1:7948].
    #[arg(long, env = "RUMOR_ADMIN", value_name = "IP:PORT")]
    pub admin: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "RUMOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keyring file: a JSON array of base64 keys, the first is primary. Keys changed with
    /// `rumor keys` are written back to it.
    #[arg(long, env = "RUMOR_KEYRING", value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Cluster label: clusters with different labels never talk to each other.
    #[arg(long, env = "RUMOR_LABEL")]
    pub label: Option<String>,
    /// Metadata, repeatable (KEY=VALUE); replaces the file's `[meta]` table.
    #[arg(long = "meta", env = "RUMOR_META", value_name = "KEY=VALUE", value_delimiter = ',')]
    pub meta: Vec<String>,
    /// Timing preset: lan, wan or local (loopback and tests) [default: lan].
    #[arg(long, env = "RUMOR_PRESET")]
    pub preset: Option<String>,
    /// Announce and discover nodes with the same label on the local network (mDNS).
    #[arg(long, env = "RUMOR_MDNS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub mdns: Option<String>,
    /// Directory served at /ui/ on the HTTP listener (the browser visualizer's files).
    #[arg(long, env = "RUMOR_UI_DIR", value_name = "PATH")]
    pub ui_dir: Option<PathBuf>,
    /// Turning encryption on, steps 1 and 2: also accept plaintext datagrams although a keyring
    /// is given (see docs/agent.md, "Turning encryption on").
    #[arg(long, env = "RUMOR_ACCEPT_PLAINTEXT", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub accept_plaintext: Option<String>,
    /// Turning encryption on, step 1: send plaintext although a keyring is given (needs
    /// --accept-plaintext).
    #[arg(long, env = "RUMOR_SEND_PLAINTEXT", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub send_plaintext: Option<String>,
}

/// The largest configuration file read, in bytes.
pub const MAX_CONFIG_FILE: u64 = 1024 * 1024;

/// The TOML file. Unknown keys are refused (a typo should not be silently ignored).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    name: Option<String>,
    bind: Option<String>,
    advertise: Option<String>,
    join: Option<Vec<String>>,
    http: Option<String>,
    admin: Option<String>,
    http_max_connections: Option<usize>,
    http_header_timeout_ms: Option<u64>,
    http_body_timeout_ms: Option<u64>,
    keyring: Option<PathBuf>,
    label: Option<String>,
    preset: Option<String>,
    mdns: Option<bool>,
    meta: Option<BTreeMap<String, String>>,
    ui_dir: Option<PathBuf>,
    accept_plaintext: Option<bool>,
    send_plaintext: Option<bool>,
    protocol: Option<ProtocolFile>,
}

/// Protocol tunables on top of the preset (the `[protocol]` table).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ProtocolFile {
    probe_interval_ms: Option<u64>,
    probe_timeout_ms: Option<u64>,
    indirect_checks: Option<u32>,
    suspicion_mult: Option<u32>,
    suspicion_max_mult: Option<u32>,
    retransmit_mult: Option<u32>,
    gossip_interval_ms: Option<u64>,
    gossip_fanout: Option<u32>,
    push_pull_interval_ms: Option<u64>,
    mtu: Option<usize>,
    max_members: Option<usize>,
    lifeguard: Option<bool>,
    reconnect_timeout_ms: Option<u64>,
    tombstone_ttl_ms: Option<u64>,
}

/// A checked `rumor agent` configuration: the agent's, plus what the binary serves around it.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The agent (name, addresses, seeds, keyring, metadata, protocol).
    pub agent: AgentConfig,
    /// HTTP address, if enabled.
    pub http: Option<SocketAddr>,
    /// Where writes are served: [`Admin::Http`] on the HTTP listener (it is on loopback),
    /// [`Admin::Listener`] on a listener of its own, or [`Admin::Off`] nowhere.
    pub admin: Admin,
    /// Limits of the HTTP and admin listeners.
    pub http_limits: HttpLimits,
    /// Where metadata changes are written back.
    pub meta_file: MetaFile,
    /// The timing preset the protocol settings started from (`custom` when not from one), for
    /// the start-up line and `rumor info`.
    pub preset: String,
    /// mDNS discovery.
    pub mdns: bool,
    /// A directory served at `/ui/` on the HTTP listener.
    pub ui_dir: Option<PathBuf>,
}

impl ServeConfig {
    /// An agent configuration served with no HTTP and no mDNS.
    pub fn new(agent: AgentConfig) -> Self {
        ServeConfig {
            agent,
            http: None,
            admin: Admin::Off,
            http_limits: HttpLimits::default(),
            meta_file: MetaFile::None,
            preset: "custom".into(),
            mdns: false,
            ui_dir: None,
        }
    }

    /// The start-up line's facts: name, addresses, encryption (with the primary key's id),
    /// label, preset, mDNS, HTTP and the admin listener (`http` when the HTTP listener takes
    /// writes), as `key=value` pairs.
    pub fn summary(
        &self,
        bind: SocketAddr,
        advertise: SocketAddr,
        http: Option<SocketAddr>,
        admin: Option<SocketAddr>,
        mdns: bool,
    ) -> String {
        let a = &self.agent;
        let admin = match (self.admin, admin) {
            (_, Some(bound)) => bound.to_string(),
            (Admin::Http, None) => "http".to_owned(),
            _ => "off".to_owned(),
        };
        format!(
            "name={} bind={bind} advertise={advertise} encryption={} label={:?} preset={} mdns={} http={} admin={admin}",
            a.name,
            rumor_agent::describe_encryption(&a.protocol),
            a.protocol.label,
            self.preset,
            if mdns { "on" } else { "off" },
            http.map_or_else(|| "off".to_owned(), |h| h.to_string()),
        )
    }

    /// Merges flags (which already include `RUMOR_*` environment variables), the TOML file
    /// they name, and defaults, and checks every value ([`AgentConfig::check`] for the agent's).
    pub fn resolve(args: &AgentArgs) -> Result<ServeConfig, ConfigError> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: &Option<String>| flag.clone().or_else(|| file.clone());

        let preset_s = pick(&args.preset, &file.preset).unwrap_or_else(|| "lan".into());
        let mut protocol = Config::preset(&preset_s).ok_or_else(|| {
            ConfigError::new(
                "preset",
                &preset_s,
                format!("is not a preset (expected one of {})", Config::PRESETS.join(", ")),
            )
        })?;

        let name = match pick(&args.name, &file.name) {
            Some(n) => n,
            None => default_name(),
        };

        let bind = match pick(&args.bind, &file.bind) {
            Some(b) => parse_addr("bind", &b)?,
            None => SocketAddr::new(IpAddr::from([0, 0, 0, 0]), DEFAULT_PORT),
        };
        let advertise = match pick(&args.advertise, &file.advertise) {
            Some(a) => Some(parse_addr("advertise", &a)?),
            None => None,
        };

        let join = if args.join.is_empty() { file.join.clone().unwrap_or_default() } else { args.join.clone() };
        let join: Vec<String> = join.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();

        let http_s = pick(&args.http, &file.http).unwrap_or_else(|| DEFAULT_HTTP.into());
        let http = match http_s.as_str() {
            "off" | "none" | "" => None,
            s => Some(parse_addr("http", s)?),
        };

        let admin = match pick(&args.admin, &file.admin) {
            Some(a) => match a.as_str() {
                "off" | "none" | "" => Admin::Off,
                s => {
                    let addr = parse_addr("admin", s)?;
                    if Some(addr) == http {
                        return Err(ConfigError::new("admin", s, "must differ from http (or leave admin unset)"));
                    }
                    Admin::Listener(addr)
                }
            },
            None => match http {
                Some(h) if h.ip().is_loopback() => Admin::Http,
                Some(_) => Admin::Listener(parse_addr("admin", DEFAULT_ADMIN)?),
                None => Admin::Off,
            },
        };
        let mut http_limits = HttpLimits::default();
        if let Some(n) = file.http_max_connections {
            if !(1..=65_536).contains(&n) {
                return Err(ConfigError::new("http_max_connections", n, "must be 1 to 65536"));
            }
            http_limits.max_connections = n;
        }
        for (field, value, slot) in [
            ("http_header_timeout_ms", file.http_header_timeout_ms, &mut http_limits.header_timeout),
            ("http_body_timeout_ms", file.http_body_timeout_ms, &mut http_limits.body_timeout),
        ] {
            if let Some(ms) = value {
                if !(100..=600_000).contains(&ms) {
                    return Err(ConfigError::new(field, ms, "must be 100 to 600000 (milliseconds)"));
                }
                *slot = Duration::from_millis(ms);
            }
        }

        protocol.label = pick(&args.label, &file.label).unwrap_or_default();

        let keyring_file = args.keyring.clone().or(file.keyring.clone());
        protocol.keyring = match &keyring_file {
            Some(path) => {
                keys::load_keyring(path).map_err(|e| ConfigError::new("keyring", path.display(), e.to_string()))?
            }
            None => Keyring::new(),
        };

        let meta_file = match (&args.config, args.meta.is_empty()) {
            (None, _) => MetaFile::None,
            (Some(path), true) => MetaFile::Toml(path.clone()),
            (Some(path), false) => MetaFile::Overridden(format!(
                "--meta (or RUMOR_META) overrides the [meta] of {}; a restart would use those again",
                path.display()
            )),
        };
        let meta = if args.meta.is_empty() {
            file.meta.clone().unwrap_or_default()
        } else {
            let mut meta = BTreeMap::new();
            for kv in &args.meta {
                let (k, v) = kv.split_once('=').ok_or_else(|| ConfigError::new("meta", kv, "is not KEY=VALUE"))?;
                if k.is_empty() {
                    return Err(ConfigError::new("meta", kv, "has an empty key"));
                }
                if meta.insert(k.to_string(), v.to_string()).is_some() {
                    return Err(ConfigError::new("meta", kv, format!("repeats the key `{k}` (each key once)")));
                }
            }
            meta
        };

        let mdns = match &args.mdns {
            Some(s) => parse_bool("mdns", s)?,
            None => file.mdns.unwrap_or(false),
        };

        let ui_dir = args.ui_dir.clone().or(file.ui_dir.clone());
        if let Some(dir) = ui_dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(ConfigError::new("ui_dir", dir.display(), "is not a directory"));
        }

        if let Some(p) = &file.protocol {
            apply_protocol(&mut protocol, p);
        }
        protocol.accept_plaintext = match &args.accept_plaintext {
            Some(s) => parse_bool("accept_plaintext", s)?,
            None => file.accept_plaintext.unwrap_or(false),
        };
        protocol.send_plaintext = match &args.send_plaintext {
            Some(s) => parse_bool("send_plaintext", s)?,
            None => file.send_plaintext.unwrap_or(false),
        };

        let agent = AgentConfig { name, bind, advertise, join, keyring_file, meta, protocol };
        agent.check()?;
        Ok(ServeConfig { agent, http, admin, http_limits, meta_file, preset: preset_s, mdns, ui_dir })
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = rumor_agent::config::read_file(path, MAX_CONFIG_FILE)
        .map_err(|e| ConfigError::new("config", path.display(), format!("cannot be read: {e}")))?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.message().trim().replace('\n', " ");
        let at = e.span().map_or(0, |s| s.start);
        match offending_entry(&text, at) {
            Some((key, value)) => ConfigError::new(key, value, format!("in {}: {msg}", path.display())),
            None => ConfigError::new("config", path.display(), format!("is not valid TOML: {msg}")),
        }
    })
}

/// The dotted key (`protocol.mtu`) and the value text of the TOML line holding byte `at`.
fn offending_entry(text: &str, at: usize) -> Option<(String, String)> {
    let before = text.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let (key, value) = match line.split_once('=') {
        Some((k, v)) => (k.trim(), v.trim()),
        None => (line.trim(), ""),
    };
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = before
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    let key = match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    };
    Some((key, value.to_string()))
}

fn apply_protocol(c: &mut Config, p: &ProtocolFile) {
    let ms = Duration::from_millis;
    if let Some(v) = p.probe_interval_ms {
        c.probe_interval = ms(v);
    }
    if let Some(v) = p.probe_timeout_ms {
        c.probe_timeout = ms(v);
    }
    if let Some(v) = p.indirect_checks {
        c.indirect_checks = v;
    }
    if let Some(v) = p.suspicion_mult {
        c.suspicion_mult = v;
    }
    if let Some(v) = p.suspicion_max_mult {
        c.suspicion_max_mult = v;
    }
    if let Some(v) = p.retransmit_mult {
        c.retransmit_mult = v;
    }
    if let Some(v) = p.gossip_interval_ms {
        c.gossip_interval = ms(v);
    }
    if let Some(v) = p.gossip_fanout {
        c.gossip_fanout = v;
    }
    if let Some(v) = p.push_pull_interval_ms {
        c.push_pull_interval = ms(v);
    }
    if let Some(v) = p.mtu {
        c.mtu = v;
        c.max_inbound_packet = c.max_inbound_packet.max(v);
    }
    if let Some(v) = p.max_members {
        c.max_members = v;
    }
    if let Some(v) = p.lifeguard {
        c.lifeguard = if v { Lifeguard::ON } else { Lifeguard::OFF };
    }
    if let Some(v) = p.reconnect_timeout_ms {
        c.reconnect_timeout = ms(v);
    }
    if let Some(v) = p.tombstone_ttl_ms {
        c.tombstone_ttl = ms(v);
    }
}

/// Rewrites the `[meta]` table of the TOML file at `path` (keeping everything else, comments
/// included), atomically: a temporary file beside it, renamed over it.
pub fn write_meta(path: &Path, meta: &BTreeMap<String, String>) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not TOML: {e}")))?;
    let mut table = toml_edit::Table::new();
    for (k, v) in meta {
        table.insert(k, toml_edit::value(v.as_str()));
    }
    doc.insert("meta", toml_edit::Item::Table(table));
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string())?;
    if let Ok(m) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, m.permissions());
    }
    std::fs::rename(&tmp, path)
}

fn parse_addr(field: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.trim().parse().map_err(|_| ConfigError::new(field, s, "is not an IP:PORT address (use [v6]:port for IPv6)"))
}

fn parse_bool(field: &str, s: &str) -> Result<bool, ConfigError> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(field, s, "is not a boolean (true or false)")),
    }
}

fn default_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .unwrap_or_else(|| "rumor".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> AgentArgs {
        AgentArgs { name: Some("a".into()), bind: Some("127.0.0.1:0".into()), ..AgentArgs::default() }
    }

    #[test]
    fn defaults_resolve() {
        let c = ServeConfig::resolve(&args()).expect("valid");
        assert_eq!(c.agent.name, "a");
        assert_eq!(c.http, Some(DEFAULT_HTTP.parse().expect("addr")));
        assert_eq!(c.agent.protocol.probe_interval, Config::lan().probe_interval);
        assert!(c.agent.advertise.is_none());
        assert!(!c.mdns);
    }

    #[test]
    fn bad_values_name_field_and_value() {
        let long_label = "l".repeat(65);
        let cases: Vec<(AgentArgs, &str, &str)> = vec![
            (AgentArgs { bind: Some("nonsense".into()), ..args() }, "bind", "nonsense"),
            (AgentArgs { preset: Some("fast".into()), ..args() }, "preset", "fast"),
            (AgentArgs { join: vec!["host".into()], ..args() }, "join", "host"),
            (AgentArgs { meta: vec!["novalue".into()], ..args() }, "meta", "novalue"),
            (AgentArgs { mdns: Some("maybe".into()), ..args() }, "mdns", "maybe"),
            (AgentArgs { advertise: Some("0.0.0.0:1".into()), ..args() }, "advertise", "0.0.0.0:1"),
            (AgentArgs { http: Some("localhost".into()), ..args() }, "http", "localhost"),
            (AgentArgs { name: Some(String::new()), ..args() }, "name", ""),
            (AgentArgs { label: Some(long_label.clone()), ..args() }, "label", &long_label),
            (AgentArgs { meta: vec![format!("k={}", "x".repeat(600))], ..args() }, "meta", "605 bytes encoded"),
            (AgentArgs { meta: vec!["k=1".into(), "k=2".into()], ..args() }, "meta", "k=2"),
            (AgentArgs { name: Some("a\nb".into()), ..args() }, "name", "a\\nb"),
            (AgentArgs { accept_plaintext: Some("true".into()), ..args() }, "accept_plaintext", "true"),
            (AgentArgs { send_plaintext: Some("maybe".into()), ..args() }, "send_plaintext", "maybe"),
            (AgentArgs { config: Some("/dev/zero".into()), ..args() }, "config", "/dev/zero"),
            (AgentArgs { keyring: Some("/dev/zero".into()), ..args() }, "keyring", "/dev/zero"),
        ];
        for (a, field, value) in cases {
            let e = ServeConfig::resolve(&a).expect_err(field);
            assert_eq!((e.field.as_str(), e.value.as_str()), (field, value), "{e}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
    }

    #[test]
    fn file_is_below_flags_and_checked() {
        let dir = std::env::temp_dir().join(format!("rumor-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("a.toml");
        std::fs::write(
            &path,
            "name = \"from-file\"\nlabel = \"prod\"\npreset = \"local\"\njoin = [\"127.0.0.1:9\"]\n\
             [meta]\nrole = \"db\"\n[protocol]\nprobe_interval_ms = 700\n",
        )
        .expect("write");
        let c = ServeConfig::resolve(&AgentArgs { config: Some(path.clone()), ..args() }).expect("valid").agent;
        assert_eq!(c.name, "a", "flag wins over file");
        assert_eq!(c.protocol.label, "prod");
        assert_eq!(c.join, ["127.0.0.1:9"]);
        assert_eq!(c.meta.get("role").map(String::as_str), Some("db"));
        assert_eq!(c.protocol.probe_interval, Duration::from_millis(700));
        assert_eq!(c.protocol.probe_timeout, Config::local().probe_timeout);

        std::fs::write(&path, "[protocol]\nprobe_interval_ms = 5\n").expect("write");
        let e = ServeConfig::resolve(&AgentArgs { config: Some(path.clone()), ..args() }).expect_err("too short");
        assert_eq!((e.field.as_str(), e.value.as_str()), ("protocol.probe_interval_ms", "5"), "{e}");

        std::fs::write(&path, "bind = 5\n").expect("write");
        let e = ServeConfig::resolve(&AgentArgs { config: Some(path.clone()), ..args() }).expect_err("type");
        assert_eq!(e.field, "bind", "{e}");

        std::fs::write(&path, "name = \"n\"\nbnid = \"x\"\n").expect("write");
        let e = ServeConfig::resolve(&AgentArgs { config: Some(path.clone()), ..args() }).expect_err("unknown key");
        assert_eq!((e.field.as_str(), e.value.as_str()), ("bnid", "\"x\""), "{e}");

        std::fs::write(&path, "[protocol]\nmtu = \"big\"\n").expect("write");
        let e = ServeConfig::resolve(&AgentArgs { config: Some(path), ..args() }).expect_err("type");
        assert_eq!((e.field.as_str(), e.value.as_str()), ("protocol.mtu", "\"big\""), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn writes_are_on_loopback_http_or_on_the_admin_listener() {
        let admin = |a: AgentArgs| ServeConfig::resolve(&a).map(|c| c.admin);
        assert_eq!(admin(args()), Ok(Admin::Http), "the default HTTP listener is on loopback");
        let wide = AgentArgs { http: Some("0.0.0.0:7947".into()), ..args() };
        assert_eq!(admin(wide.clone()), Ok(Admin::Listener(DEFAULT_ADMIN.parse().expect("addr"))));
        let own = AgentArgs { admin: Some("127.0.0.1:9000".into()), ..args() };
        assert_eq!(admin(own), Ok(Admin::Listener("127.0.0.1:9000".parse().expect("addr"))));
        assert_eq!(admin(AgentArgs { admin: Some("off".into()), ..wide }), Ok(Admin::Off));
        assert_eq!(admin(AgentArgs { http: Some("off".into()), ..args() }), Ok(Admin::Off));
        let same = AgentArgs { admin: Some(DEFAULT_HTTP.into()), ..args() };
        let e = ServeConfig::resolve(&same).expect_err("same address");
        assert_eq!((e.field.as_str(), e.value.as_str()), ("admin", DEFAULT_HTTP), "{e}");
    }

    #[test]
    fn http_limits_and_reaping_from_the_file_are_checked() {
        let dir = std::env::temp_dir().join(format!("rumor-config-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("a.toml");
        let with = |text: &str| {
            std::fs::write(&path, text).expect("write");
            ServeConfig::resolve(&AgentArgs { config: Some(path.clone()), ..args() })
        };
        let c = with(
            "http_max_connections = 10\nhttp_header_timeout_ms = 2000\n\
             [protocol]\nreconnect_timeout_ms = 60000\ntombstone_ttl_ms = 120000\n",
        )
        .expect("valid");
        assert_eq!(c.http_limits.max_connections, 10);
        assert_eq!(c.http_limits.header_timeout, Duration::from_secs(2));
        assert_eq!(c.agent.protocol.tombstone_ttl, Duration::from_secs(120));
        for (text, field, value) in [
            ("http_max_connections = 0\n", "http_max_connections", "0"),
            ("http_body_timeout_ms = 5\n", "http_body_timeout_ms", "5"),
            ("[protocol]\ntombstone_ttl_ms = 1000\n", "protocol.tombstone_ttl_ms", "1000"),
        ] {
            let e = with(text).expect_err(field);
            assert_eq!((e.field.as_str(), e.value.as_str()), (field, value), "{e}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_packaged_configuration_is_valid() {
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rumor.toml"));
        let c = ServeConfig::resolve(&AgentArgs { config: Some(path.clone()), ..args() }).expect("deploy/rumor.toml");
        assert_eq!(c.admin, Admin::Http);
        assert!(matches!(c.meta_file, MetaFile::Toml(p) if p == path));
    }

    #[test]
    fn ui_dir_from_file_or_flag_must_be_a_directory() {
        let dir = std::env::temp_dir().join(format!("rumor-config-ui-{}", std::process::id()));
        let (ui, flag_ui) = (dir.join("ui"), dir.join("flag-ui"));
        std::fs::create_dir_all(&ui).expect("tmp");
        std::fs::create_dir_all(&flag_ui).expect("tmp");
        let path = dir.join("a.toml");
        std::fs::write(&path, format!("ui_dir = {:?}\n", ui.display().to_string())).expect("write");
        let from_file = AgentArgs { config: Some(path.clone()), ..args() };
        assert_eq!(ServeConfig::resolve(&from_file).expect("valid").ui_dir, Some(ui.clone()));
        let flag = AgentArgs { ui_dir: Some(flag_ui.clone()), ..from_file };
        assert_eq!(ServeConfig::resolve(&flag).expect("valid").ui_dir, Some(flag_ui), "flag wins over file");
        assert_eq!(ServeConfig::resolve(&args()).expect("valid").ui_dir, None);

        let file = dir.join("a.toml");
        let e = ServeConfig::resolve(&AgentArgs { ui_dir: Some(file.clone()), ..args() }).expect_err("a file");
        assert_eq!((e.field.as_str(), e.value.as_str()), ("ui_dir", file.display().to_string().as_str()), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
