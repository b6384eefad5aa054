//! Protocol configuration, timing presets and validation.
//!
//! Every field documents what it trades. The presets follow memberlist's `DefaultLANConfig`,
//! `DefaultWANConfig` and `DefaultLocalConfig`, with the suspicion settings split into three
//! independent knobs so Lifeguard's dynamic suspicion can be tuned (memberlist derives the
//! confirmation count from the multiplier).

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::crypto::{Keyring, MAX_KEYS};
use crate::wire::{MAX_LABEL_LEN, MAX_META_LEN};

/// Lifeguard extensions (Dadgar et al., 2018). Each can be switched off so the simulator can
/// compare the same core with and without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifeguard {
    /// Local health awareness: a node that misses nacks or has to refute suspicions about
    /// itself is probably the slow one, so it stretches its own probe interval and timeouts by
    /// `score + 1`. Off: the score stays 0.
    pub local_health: bool,
    /// Dynamic suspicion: a suspicion starts with the maximum timeout and shrinks towards the
    /// minimum as independent confirmations arrive. Off: every suspicion uses the minimum
    /// timeout (classic SWIM).
    pub dynamic_suspicion: bool,
    /// Buddy system: a probe sent to a suspect member carries the suspicion, so the member can
    /// refute it at once instead of waiting for gossip to reach it. It also switches the final
    /// check: before declaring a suspect failed, ask it and two other members, in three rounds
    /// one probe timeout apart, whether anyone knows better (ARCHITECTURE.md).
    pub buddy: bool,
    /// Nacks: indirect probers answer with a nack when the target does not answer them, so the
    /// requester can tell "the target is down" from "my own links are bad".
    pub nacks: bool,
}

impl Lifeguard {
    /// All extensions on (the default).
    pub const ON: Lifeguard = Lifeguard { local_health: true, dynamic_suspicion: true, buddy: true, nacks: true };
    /// All extensions off: plain SWIM with suspicion.
    pub const OFF: Lifeguard = Lifeguard { local_health: false, dynamic_suspicion: false, buddy: false, nacks: false };
}

/// Inbound rate limits, applied per source IP and globally before any decryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained packets per second accepted from one source IP. Too low and an anti-entropy
    /// reply from a large cluster (one packet per ~30 members) is cut; too high and one noisy
    /// or hostile source can keep the node busy decrypting garbage.
    pub per_peer_per_sec: u32,
    /// Burst allowance per source IP, in packets. Must cover the largest anti-entropy reply you
    /// expect: about `members / 30` packets.
    pub per_peer_burst: u32,
    /// Sustained packets per second accepted from all sources together.
    pub global_per_sec: u32,
    /// Burst allowance for all sources together, in packets.
    pub global_burst: u32,
    /// Full-state (anti-entropy) replies sent per second at most. A request is a few bytes and
    /// its answer is `members / 30` packets, so without a cap a spoofed source (in plaintext
    /// mode) could use the node as an amplifier, and a mass join could swamp a seed; refused
    /// requesters retry later (joins back off).
    pub sync_replies_per_sec: u32,
    /// Burst allowance of full-state replies.
    pub sync_replies_burst: u32,
    /// Size of the per-source table, in slots (the name is historical: sources are not
    /// tracked one by one). Rounded up to a power of two, at least 2 and at most 65 536; a
    /// slot is 8 bytes, so the default 512 is 4 KiB, allocated once and never grown, however
    /// many sources (spoofed or not) send.
    ///
    /// Each source IP hashes, with a key secret to the node, to two slots, each holding half
    /// of its allowance (`per_peer_burst / 2` packets, refilled at `per_peer_per_sec / 2` a
    /// second); a packet is accepted while the two together hold one. A source that shares
    /// no slot gets exactly `per_peer_burst` and `per_peer_per_sec`. Sources that share a
    /// slot share its half, which is harmless at the default rates: a gossip node receives a
    /// few packets a second from each peer, and even 1000 peers on 512 slots put about four
    /// sources on a slot, far below its 250 packets a second, with a burst of 1000 that
    /// alone covers the anti-entropy reply of a 30 000-member cluster.
    ///
    /// Under a flood, a flooding source drains its own two slots and gets no more than its
    /// allowance; a source sharing one of them keeps its other slot (half its allowance),
    /// and is refused only while both of its slots are drained: with `F` flooding sources,
    /// a given other source is refused with probability about `(2F / slots)²`, 0.1 % for 8
    /// flooders on 512 slots. More slots lower that, at 8 bytes each.
    pub max_tracked_peers: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_peer_per_sec: 500,
            per_peer_burst: 2_000,
            global_per_sec: 20_000,
            global_burst: 40_000,
            sync_replies_per_sec: 10,
            sync_replies_burst: 50,
            max_tracked_peers: 512,
        }
    }
}

/// The protocol configuration of one node.
///
/// Start from a preset ([`Config::lan`], [`Config::wan`], [`Config::local`]) and change what
/// you need; [`Node::new`](crate::Node::new) calls [`Config::validate`] and refuses a bad
/// config with an error that names the field.
#[derive(Clone, Debug)]
pub struct Config {
    /// Cluster label. Packets carry it and are authenticated with it, so two clusters on one
    /// network (or sharing a key) never merge. At most 64 bytes; empty means "no label".
    pub label: String,
    /// Encryption keys. Empty: packets are sent in the clear (authenticated by nothing; use only
    /// on trusted networks). Otherwise the primary key seals every packet and every key is
    /// tried on receipt, which lets keys rotate without downtime. At most
    /// [`MAX_KEYS`](crate::MAX_KEYS) keys.
    pub keyring: Keyring,
    /// Also accept plaintext frames although the keyring holds keys (memberlist's
    /// `GossipVerifyIncoming = false`). Only for turning encryption on in a running cluster
    /// without a partition, in three rolling steps (every node restarted at each step before
    /// the next): 1. a key with `accept_plaintext` and `send_plaintext`; 2. without
    /// `send_plaintext` (sealed frames go out, plaintext still comes in from nodes at step 1);
    /// 3. without `accept_plaintext` (encrypted only). While it is on, anyone who can reach
    /// the port can still inject plaintext: end the migration. Requires a key; the frames on
    /// the wire are those of the two ordinary modes.
    pub accept_plaintext: bool,
    /// Send plaintext frames although the keyring holds keys (memberlist's
    /// `GossipVerifyOutgoing = false`): step 1 of the migration above, so that nodes not yet
    /// holding the key still understand this one. Requires `accept_plaintext`.
    pub send_plaintext: bool,

    /// Time between two probes (one SWIM protocol period). Shorter detects failures sooner at
    /// the cost of more traffic: each period sends one ping and gets one ack.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking `indirect_checks` other members to
    /// probe. Must be below `probe_interval`; set it near the 99th percentile round-trip time.
    /// Too short causes needless indirect probes; too long delays detection.
    pub probe_timeout: Duration,
    /// Number of members asked to probe a target indirectly (SWIM's k). More helpers make a
    /// false suspicion through one bad link less likely, at k extra packets per failed direct
    /// ping (none while pings are answered). The LAN default, 5 (memberlist: 3), fails a live
    /// member's probe 0.22 % of the time at 20 % loss instead of 1.1 % (the model is in
    /// `node/probe.rs`): every failed probe is a suspicion and a refutation gossiped to the
    /// whole cluster, so at N=1000 and 20 % loss this cuts traffic about fourfold.
    pub indirect_checks: u32,

    /// Minimum suspicion timeout = `suspicion_mult × max(1, log10(n)) × probe_interval`, where
    /// n is the number of live members. Lower detects sooner; higher gives a suspect more time
    /// to refute before it is declared failed.
    pub suspicion_mult: u32,
    /// Maximum suspicion timeout = `suspicion_max_mult × minimum`. A suspicion nobody else
    /// confirms waits this long (with Lifeguard's dynamic suspicion), which is what protects
    /// a slow-but-alive node from being declared failed by one slow prober.
    pub suspicion_max_mult: u32,
    /// Independent confirmations after which a suspicion's timeout reaches the minimum
    /// (Lifeguard's K). Higher is more conservative.
    pub suspicion_confirmations: u32,

    /// Each update is retransmitted `retransmit_mult × ceil(log10(n + 1))` times, and each user
    /// broadcast `2 × retransmit_mult` more (nothing repairs a broadcast gossip missed). Higher
    /// spreads updates more reliably under loss; lower saves bandwidth.
    pub retransmit_mult: u32,
    /// Time between gossip rounds (updates sent to `gossip_fanout` random members, in addition
    /// to those piggybacked on probes). Shorter spreads updates faster at more packets.
    pub gossip_interval: Duration,
    /// Members gossiped to per round.
    pub gossip_fanout: u32,
    /// How long members marked failed still receive gossip, so that a falsely failed member
    /// learns of it and refutes.
    pub gossip_to_the_dead: Duration,
    /// Base interval of anti-entropy (a full-state exchange with one random member). Scaled
    /// up logarithmically above 32 members so the cluster-wide cost stays bounded. Shorter
    /// repairs divergence sooner; each exchange costs about `members / 30` packets each way.
    pub push_pull_interval: Duration,
    /// How often to try reaching one recently failed member or one seed with a state
    /// exchange, so that the two sides of a healed partition find each other again.
    pub reconnect_interval: Duration,
    /// How long after failing a member is still tried by reconnect attempts.
    pub reconnect_timeout: Duration,
    /// How long a failed or left member is remembered (its tombstone) before it is forgotten.
    /// Must be at least `reconnect_timeout`. Longer prevents stale gossip from resurrecting old
    /// members; shorter frees memory sooner under churn.
    pub tombstone_ttl: Duration,

    /// First delay between join attempts while no seed has answered; doubles up to
    /// `join_retry_max`.
    pub join_retry_min: Duration,
    /// Longest delay between join attempts. The node keeps trying for ever.
    pub join_retry_max: Duration,
    /// Longest a graceful leave waits for acknowledgements before reporting it may exit.
    pub leave_timeout: Duration,
    /// Members the leave notice is sent to directly; the leave completes when this many (or all
    /// live members, if fewer) have acknowledged it.
    pub leave_acks: u32,

    /// Largest datagram this node sends, in bytes. Keep it under the path MTU (1400 leaves room
    /// for IPv6 and tunnel headers on a 1500 byte Ethernet). Bigger packets carry more
    /// piggybacked updates but risk IP fragmentation.
    pub mtu: usize,
    /// Largest datagram accepted; bigger ones are dropped before any work. Must be at least
    /// `mtu`, and at least every peer's `mtu`.
    pub max_inbound_packet: usize,
    /// Largest metadata a node may carry, in bytes (at most 512).
    pub max_meta_len: usize,
    /// Bytes of each packet that user broadcasts may use at most, so membership updates are
    /// never starved by application traffic.
    pub user_broadcast_budget: usize,
    /// User broadcasts queued for retransmission at most; when full the oldest is dropped
    /// (and counted).
    pub max_queued_user_broadcasts: usize,
    /// Members remembered at most, tombstones included. Updates about new names beyond it are
    /// ignored (and counted). Bounds memory if a key holder misbehaves. At most 16 777 214
    /// (the member table's 24-bit positions).
    pub max_members: usize,

    /// Upper bound of the local health score; probe interval and timeouts are stretched by up
    /// to this factor when the node believes it is itself slow.
    pub awareness_max: u32,
    /// Which Lifeguard extensions are active.
    pub lifeguard: Lifeguard,
    /// Inbound rate limits.
    pub rate_limit: RateLimit,
}

impl Default for Config {
    fn default() -> Self {
        Config::lan()
    }
}

impl Config {
    /// The names of the presets [`Config::preset`] knows: `lan`, `wan` and `local`.
    pub const PRESETS: [&str; 3] = ["lan", "wan", "local"];

    /// The preset called `name` ([`Config::lan`], [`Config::wan`] or [`Config::local`]); the
    /// one mapping every runtime uses, so a preset's name means the same everywhere.
    pub fn preset(name: &str) -> Option<Config> {
        match name {
            "lan" => Some(Config::lan()),
            "wan" => Some(Config::wan()),
            "local" => Some(Config::local()),
            _ => None,
        }
    }

    /// Tuned for one data centre: round trips well under 100 ms.
    pub fn lan() -> Self {
        Config {
            label: String::new(),
            keyring: Keyring::new(),
            accept_plaintext: false,
            send_plaintext: false,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 5,
            suspicion_mult: 2,
            suspicion_max_mult: 6,
            suspicion_confirmations: 3,
            retransmit_mult: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_fanout: 3,
            gossip_to_the_dead: Duration::from_secs(30),
            push_pull_interval: Duration::from_secs(30),
            reconnect_interval: Duration::from_secs(10),
            reconnect_timeout: Duration::from_secs(6 * 3600),
            tombstone_ttl: Duration::from_secs(24 * 3600),
            join_retry_min: Duration::from_secs(1),
            join_retry_max: Duration::from_secs(30),
            leave_timeout: Duration::from_secs(3),
            leave_acks: 3,
            mtu: 1400,
            max_inbound_packet: 9_216,
            max_meta_len: 512,
            user_broadcast_budget: 700,
            max_queued_user_broadcasts: 256,
            max_members: 100_000,
            awareness_max: 8,
            lifeguard: Lifeguard::ON,
            rate_limit: RateLimit::default(),
        }
    }

    /// Tuned for links between data centres: round trips up to a few hundred ms.
    pub fn wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            suspicion_mult: 3,
            gossip_interval: Duration::from_millis(500),
            gossip_fanout: 4,
            gossip_to_the_dead: Duration::from_secs(60),
            push_pull_interval: Duration::from_secs(60),
            reconnect_interval: Duration::from_secs(30),
            leave_timeout: Duration::from_secs(10),
            join_retry_max: Duration::from_secs(60),
            ..Config::lan()
        }
    }

    /// Tuned for one machine (loopback): fast detection, little retransmission.
    pub fn local() -> Self {
        Config {
            probe_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            suspicion_mult: 3,
            retransmit_mult: 2,
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead: Duration::from_secs(15),
            push_pull_interval: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(5),
            join_retry_min: Duration::from_millis(200),
            join_retry_max: Duration::from_secs(5),
            leave_timeout: Duration::from_secs(1),
            ..Config::lan()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(ok: bool, field: &'static str, reason: &'static str) -> Result<(), ConfigError> {
            if ok { Ok(()) } else { Err(ConfigError { field, reason }) }
        }
        let ms = Duration::from_millis(1);
        let hour = Duration::from_secs(3600);
        let day = 24 * hour;
        // Upper bounds keep every derived timeout far from Duration's limits.
        check(self.probe_interval <= hour, "probe_interval", "must be at most one hour")?;
        check(self.gossip_interval <= hour, "gossip_interval", "must be at most one hour")?;
        check(self.push_pull_interval <= day, "push_pull_interval", "must be at most one day")?;
        check(self.reconnect_interval <= day, "reconnect_interval", "must be at most one day")?;
        check(self.reconnect_timeout <= 30 * day, "reconnect_timeout", "must be at most 30 days")?;
        check(self.gossip_to_the_dead <= 30 * day, "gossip_to_the_dead", "must be at most 30 days")?;
        check(self.tombstone_ttl <= 30 * day, "tombstone_ttl", "must be at most 30 days")?;
        check(self.join_retry_max <= day, "join_retry_max", "must be at most one day")?;
        check(self.leave_timeout <= hour, "leave_timeout", "must be at most one hour")?;
        check(self.suspicion_mult <= 100, "suspicion_mult", "must be at most 100")?;
        check(self.suspicion_max_mult <= 100, "suspicion_max_mult", "must be at most 100")?;
        check(self.retransmit_mult <= 100, "retransmit_mult", "must be at most 100")?;
        check(self.leave_acks <= 64, "leave_acks", "must be at most 64")?;
        check(self.label.len() <= MAX_LABEL_LEN, "label", "must be at most 64 bytes")?;
        check(self.keyring.keys().count() <= MAX_KEYS, "keyring", "must hold at most 16 keys")?;
        check(
            !self.accept_plaintext || self.keyring.is_enabled(),
            "accept_plaintext",
            "needs a key in the keyring (it is for turning encryption on; without keys every frame is plaintext)",
        )?;
        check(
            !self.send_plaintext || self.accept_plaintext,
            "send_plaintext",
            "needs accept_plaintext (the nodes at the same migration step send plaintext too)",
        )?;
        check(self.probe_interval >= 10 * ms, "probe_interval", "must be at least 10 ms")?;
        check(self.probe_timeout >= ms, "probe_timeout", "must be at least 1 ms")?;
        check(self.probe_timeout < self.probe_interval, "probe_timeout", "must be less than probe_interval")?;
        check(self.indirect_checks <= 16, "indirect_checks", "must be at most 16")?;
        check(self.suspicion_mult >= 1, "suspicion_mult", "must be at least 1")?;
        check(self.suspicion_max_mult >= 1, "suspicion_max_mult", "must be at least 1")?;
        check(self.suspicion_confirmations <= 32, "suspicion_confirmations", "must be at most 32")?;
        check(self.retransmit_mult >= 1, "retransmit_mult", "must be at least 1")?;
        check(self.gossip_interval >= ms, "gossip_interval", "must be at least 1 ms")?;
        check(self.gossip_fanout >= 1 && self.gossip_fanout <= 64, "gossip_fanout", "must be between 1 and 64")?;
        check(self.push_pull_interval >= 10 * ms, "push_pull_interval", "must be at least 10 ms")?;
        check(self.reconnect_interval >= 10 * ms, "reconnect_interval", "must be at least 10 ms")?;
        check(self.tombstone_ttl >= self.reconnect_timeout, "tombstone_ttl", "must be at least reconnect_timeout")?;
        check(self.tombstone_ttl >= self.gossip_to_the_dead, "tombstone_ttl", "must be at least gossip_to_the_dead")?;
        check(self.join_retry_min >= ms, "join_retry_min", "must be at least 1 ms")?;
        check(self.join_retry_max >= self.join_retry_min, "join_retry_max", "must be at least join_retry_min")?;
        check(self.leave_acks >= 1, "leave_acks", "must be at least 1")?;
        check((512..=65_000).contains(&self.mtu), "mtu", "must be between 512 and 65000 bytes")?;
        check(
            self.max_inbound_packet >= self.mtu && self.max_inbound_packet <= 65_535,
            "max_inbound_packet",
            "must be at least mtu and at most 65535",
        )?;
        check(self.max_meta_len <= MAX_META_LEN, "max_meta_len", "must be at most 512 bytes")?;
        check(
            self.user_broadcast_budget >= 64
                && self.user_broadcast_budget <= self.mtu
                && self.user_broadcast_budget <= crate::wire::MAX_MESSAGE_LEN,
            "user_broadcast_budget",
            "must be between 64 bytes and the smaller of mtu and 16383 bytes",
        )?;
        check(self.max_queued_user_broadcasts >= 1, "max_queued_user_broadcasts", "must be at least 1")?;
        check(
            self.max_members >= 2 && self.max_members <= crate::table::MAX_ENTRIES,
            "max_members",
            "must be between 2 and 16777214",
        )?;
        check((1..=64).contains(&self.awareness_max), "awareness_max", "must be between 1 and 64")?;
        let rl = &self.rate_limit;
        check(rl.per_peer_per_sec >= 1, "rate_limit.per_peer_per_sec", "must be at least 1")?;
        check(rl.per_peer_burst >= 1, "rate_limit.per_peer_burst", "must be at least 1")?;
        check(rl.global_per_sec >= 1, "rate_limit.global_per_sec", "must be at least 1")?;
        check(rl.global_burst >= 1, "rate_limit.global_burst", "must be at least 1")?;
        check(rl.sync_replies_per_sec >= 1, "rate_limit.sync_replies_per_sec", "must be at least 1")?;
        check(rl.sync_replies_burst >= 1, "rate_limit.sync_replies_burst", "must be at least 1")?;
        check(rl.max_tracked_peers >= 1, "rate_limit.max_tracked_peers", "must be at least 1")?;
        Ok(())
    }
}

/// A configuration field holds a value the core cannot work with. Nothing was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's name, as written in [`Config`] (nested fields with a dot).
    pub field: &'static str,
    /// What the field must satisfy.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config field `{}`: {}", self.field, self.reason)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for c in [Config::lan(), Config::wan(), Config::local()] {
            assert_eq!(c.validate(), Ok(()));
        }
        for name in Config::PRESETS {
            assert!(Config::preset(name).is_some_and(|c| c.validate().is_ok()), "{name}");
        }
        assert_eq!(Config::preset("lan").map(|c| c.probe_interval), Some(Config::lan().probe_interval));
        assert!(Config::preset("LAN").is_none() && Config::preset("").is_none());
    }

    #[test]
    fn errors_name_the_field() {
        let check = |c: Config, field: &str| {
            let err = c.validate().expect_err(field);
            assert_eq!(err.field, field);
            assert!(alloc::format!("{err}").contains(field));
        };
        check(Config { probe_timeout: Duration::from_secs(2), ..Config::lan() }, "probe_timeout");
        check(Config { mtu: 100, ..Config::lan() }, "mtu");
        check(Config { label: "x".repeat(65), ..Config::lan() }, "label");
        check(Config { gossip_fanout: 0, ..Config::lan() }, "gossip_fanout");
        check(Config { max_meta_len: 4096, ..Config::lan() }, "max_meta_len");
        check(Config { max_inbound_packet: 1000, ..Config::lan() }, "max_inbound_packet");
        check(Config { suspicion_mult: 1000, ..Config::lan() }, "suspicion_mult");
        check(Config { probe_interval: Duration::from_secs(7200), ..Config::lan() }, "probe_interval");
        let mut c = Config::lan();
        c.rate_limit.per_peer_burst = 0;
        check(c, "rate_limit.per_peer_burst");
        check(Config { accept_plaintext: true, ..Config::lan() }, "accept_plaintext");
        let keyed = Config { keyring: Keyring::with_primary(crate::Key::from_bytes([1; 32])), ..Config::lan() };
        check(Config { send_plaintext: true, ..keyed.clone() }, "send_plaintext");
        assert_eq!(Config { accept_plaintext: true, send_plaintext: true, ..keyed.clone() }.validate(), Ok(()));
        let mut full = keyed;
        for b in 2..=MAX_KEYS as u8 + 1 {
            full.keyring.install(crate::Key::from_bytes([b; 32]));
        }
        check(full, "keyring");
    }
}
