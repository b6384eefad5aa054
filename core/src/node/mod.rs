//! The SWIM + Lifeguard state machine.
//!
//! [`Node`] holds one sub-state per concern, each in its own file with the `Node` methods that
//! drive it; this file keeps the I/O contract, the constructor, the read-only accessors and
//! the entry points that hand work to them:
//!
//! | file | concern | owns |
//! |---|---|---|
//! | `receive.rs` | decoding a datagram and dispatching its messages | rate limiter, replay window, decode buffers |
//! | `transmit.rs` | framing and sealing outgoing datagrams, answers to one datagram | outbox, answer buffer, nonces |
//! | `probe.rs` | SWIM probes, direct and indirect; relaying for others | the probe in flight, its timer, relays |
//! | `suspicion.rs` | Lifeguard suspicion timeouts, confirmations, the final check | running suspicions and their timer heap |
//! | `merge.rs` | applying an update: events, refutation, stale repair, name conflicts | (crosses concerns) |
//! | `membership.rs` | the member table, the live count, the probe order | everything keyed by member position |
//! | `gossip.rs` | piggybacked dissemination and gossip rounds | the queue and its round timer |
//! | `sync.rs` | anti-entropy: digests, state exchange, reconnection | the digest cache, its timers |
//! | `lifecycle.rs` | join, leave, reaping, giving memory back | seeds, join retry, leave, reap timer |
//! | `broadcast.rs` | user broadcasts and their de-duplication | ids seen |
//! | `hints.rs` | cache hints for a simulator of many nodes (feature `prefetch`) | lookup and probe hints |

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};

use crate::config::{Config, ConfigError};
use crate::crypto::{Key, Keyring, KeyringError};
use crate::event::{Event, MemberCounts, MemberView};
use crate::lifeguard::Awareness;
use crate::name::Name;
use crate::state::Status;
use crate::stats::{Dropped, ProbeRtt, Stats};
use crate::time::Instant;
use crate::wire::{self, Message};

mod broadcast;
mod gossip;
mod hints;
mod lifecycle;
mod membership;
mod merge;
mod probe;
mod receive;
mod suspicion;
mod sync;
mod transmit;

use broadcast::Broadcasts;
use gossip::Gossip;
use hints::Hints;
use lifecycle::Lifecycle;
use membership::Membership;
use probe::Prober;
use receive::Inbound;
use suspicion::Suspicions;
use sync::AntiEntropy;
use transmit::Outbound;

type FastMap<K, V> = indexmap::IndexMap<K, V, foldhash::fast::FixedState>;

/// Events waiting for `poll_event`, at most; the oldest is dropped first.
const MAX_EVENTS: usize = 16_384;
/// Event queue capacity kept once drained; a burst beyond it is released afterwards.
const RETAINED_EVENTS: usize = 8;

/// Who this node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Unique name in the cluster: 1 to 64 bytes of UTF-8.
    pub name: String,
    /// Address other members reach this node at (the advertised address).
    pub addr: SocketAddr,
    /// Initial metadata (at most `Config::max_meta_len` bytes).
    pub meta: Vec<u8>,
}

/// One datagram written by [`Node::poll_transmit`]: send `buf[..size]` to `destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written at the start of the caller's buffer.
    pub size: usize,
}

/// A command or constructor was refused. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The configuration is invalid (the field is named).
    Config(ConfigError),
    /// The node name is empty, longer than 64 bytes or holds a control character.
    BadName,
    /// Metadata is longer than `Config::max_meta_len`.
    MetaTooLong {
        /// Given length.
        len: usize,
        /// Allowed length.
        max: usize,
    },
    /// A user broadcast payload is larger than fits the per-packet budget.
    PayloadTooLarge {
        /// Given length.
        len: usize,
        /// Allowed length.
        max: usize,
    },
    /// The node is leaving or has left; it takes no more commands.
    Leaving,
    /// [`Node::force_leave`]: no member has this name (or it is this node's own).
    UnknownMember,
    /// [`Node::force_leave`]: the member is not failed (its status is given); only a failed
    /// member can be marked left.
    NotFailed(Status),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::BadName => f.write_str("node name must be 1 to 64 bytes without control characters"),
            Error::MetaTooLong { len, max } => write!(f, "metadata is {len} bytes; at most {max} allowed"),
            Error::PayloadTooLarge { len, max } => write!(f, "broadcast payload is {len} bytes; at most {max} allowed"),
            Error::Leaving => f.write_str("the node is leaving or has left"),
            Error::UnknownMember => f.write_str("no other member has this name"),
            Error::NotFailed(s) => {
                write!(f, "the member is {}; only a failed member can be forced to leave", s.as_str())
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// This node's own claim: who it is and the incarnation it is at.
#[derive(Debug)]
struct Local {
    /// Inline (for usual names) so that checking a ping's target reads no other allocation.
    name: Name,
    addr: SocketAddr,
    meta: alloc::boxed::Box<[u8]>,
    incarnation: u32,
    /// Counts changes of the claim, so that caches of it (the anti-entropy digest) know
    /// when they are stale.
    generation: u64,
    /// Whether another member is known to hold this claim: one pinged this node by name or
    /// told it its own claim, which members do only with the claim in their table.
    accepted: bool,
    /// Another address claiming this node's name, as last heard (ARCHITECTURE.md, "Name
    /// conflicts").
    rival: Option<Rival>,
}

/// Another address claiming this node's name.
#[derive(Clone, Copy, Debug)]
struct Rival {
    addr: SocketAddr,
    incarnation: u32,
    /// The name's holder was declared failed or left at `incarnation` or later: its claim is
    /// over, and repeats of it are stale.
    gone: bool,
}

impl Local {
    /// A new claim: `meta` (if given) at the incarnation after `incarnation`.
    fn bump(&mut self, incarnation: u32, meta: Option<&[u8]>) {
        if let Some(meta) = meta {
            self.meta = meta.into();
        }
        self.incarnation = incarnation.saturating_add(1);
        self.generation += 1;
    }

    /// This node's current alive claim.
    fn alive(&self) -> Message<'_> {
        Message::Alive { name: &self.name, incarnation: self.incarnation, addr: self.addr.into(), meta: &self.meta }
    }
}

/// The events waiting for [`Node::poll_event`], oldest first, at most [`MAX_EVENTS`].
#[derive(Debug, Default)]
struct Events(VecDeque<Event>);

impl Events {
    fn push(&mut self, event: Event) {
        if self.0.len() >= MAX_EVENTS {
            self.0.pop_front();
        }
        self.0.push_back(event);
    }

    fn pop(&mut self) -> Option<Event> {
        let event = self.0.pop_front();
        if event.is_none() && self.0.capacity() > RETAINED_EVENTS {
            // A join delivers an event per member at once; do not keep that much room for ever.
            self.0 = VecDeque::new();
        }
        event
    }

    /// Gives back the room a burst grew while none is waiting.
    fn release(&mut self) {
        if self.0.is_empty() {
            self.0 = VecDeque::new();
        }
    }
}

/// One member of a Rumor cluster: a SWIM + Lifeguard state machine with no I/O.
///
/// # The I/O contract
///
/// The node never reads a clock, touches a socket or spawns anything. The runtime drives it:
///
/// 1. Create it with [`Node::new`], then call [`Node::join`] with seed addresses (none for the
///    first node of a cluster).
/// 2. Feed it every datagram received on its socket with [`Node::handle_datagram`].
/// 3. When the instant returned by [`Node::poll_timeout`] is reached, call
///    [`Node::handle_timeout`].
/// 4. After each of the calls above (and after any command: [`Node::join`], [`Node::leave`],
///    [`Node::set_meta`], [`Node::broadcast`]), drain, in this order:
///    - [`Node::poll_transmit`] until it returns `None`, sending each datagram;
///    - [`Node::poll_event`] until it returns `None`;
///    - then ask [`Node::poll_timeout`] again for the next wake-up.
///
/// `now` must never go backwards by much (the core tolerates small regressions by saturating).
/// Read the membership at any time with [`Node::members`] and the counters with
/// [`Node::stats`].
///
/// ```
/// use rumor_core::{Config, Identity, Instant, Node};
/// let me = Identity { name: "a".into(), addr: "127.0.0.1:7946".parse().unwrap(), meta: vec![] };
/// let mut node = Node::new(Config::local(), me, [7; 32], Instant::ZERO).unwrap();
/// node.join(&["127.0.0.1:7947".parse().unwrap()], Instant::ZERO).unwrap();
/// let mut buf = [0u8; 1400];
/// let t = node.poll_transmit(Instant::ZERO, &mut buf).expect("a join request to the seed");
/// assert_eq!(t.destination.port(), 7947);
/// ```
pub struct Node {
    config: Config,
    local: Local,
    rng: ChaCha12Rng,
    /// The sequence number of the next ping (probes, relayed probes, leave notices, final
    /// checks): acks are matched by it.
    next_seq: u32,
    /// Lifeguard's local health.
    awareness: Awareness,
    members: Membership,
    probe: Prober,
    suspicions: Suspicions,
    gossip: Gossip,
    sync: AntiEntropy,
    lifecycle: Lifecycle,
    broadcasts: Broadcasts,
    inbound: Inbound,
    outbound: Outbound,
    events: Events,
    stats: Stats,
    /// Round-trip times of answered probes.
    probe_rtt: ProbeRtt,
    /// The `now` of the datagram being handled (an ack's arrival, for the round trip).
    input_at: Instant,
    hints: Hints,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.local.name)
            .field("addr", &self.local.addr)
            .field("incarnation", &self.local.incarnation)
            .field("members", &self.members.len())
            .field("live", &self.members.live())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Creates a node. `seed` drives every random choice (probe order, gossip targets, nonce
    /// start, hash keys): pass 32 bytes from the OS in production, a fixed value for
    /// reproducible runs.
    pub fn new(config: Config, identity: Identity, seed: [u8; 32], now: Instant) -> Result<Node, Error> {
        config.validate()?;
        if !wire::is_valid_name(&identity.name) {
            return Err(Error::BadName);
        }
        if identity.meta.len() > config.max_meta_len {
            return Err(Error::MetaTooLong { len: identity.meta.len(), max: config.max_meta_len });
        }
        let mut rng = ChaCha12Rng::from_seed(seed);
        let hash_seed = rng.next_u64();
        let hasher = foldhash::fast::FixedState::with_seed(hash_seed);
        let mut nonce = [0u8; wire::NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let jitter = |rng: &mut ChaCha12Rng, d: Duration| now + d.mul_f64(rng.random::<f64>());
        let next_probe = jitter(&mut rng, config.probe_interval);
        let next_gossip = jitter(&mut rng, config.gossip_interval);
        // Spread anti-entropy over the interval so nodes started together do not exchange
        // state in lockstep.
        let next_push_pull = jitter(&mut rng, config.push_pull_interval);
        let next_reconnect = jitter(&mut rng, config.reconnect_interval) + config.reconnect_interval;
        let next_seq = rng.next_u32();
        let next_user_id = rng.next_u64();
        Ok(Node {
            awareness: Awareness::new(config.awareness_max, config.lifeguard.local_health),
            inbound: Inbound::new(&config, now, hash_seed),
            sync: AntiEntropy::new(&config, now, next_push_pull, next_reconnect),
            lifecycle: Lifecycle::new(&config, now),
            local: Local {
                name: Name::from(identity.name.as_str()),
                addr: identity.addr,
                meta: identity.meta.into_boxed_slice(),
                incarnation: 0,
                generation: 0,
                accepted: false,
                rival: None,
            },
            members: Membership::new(hasher.clone()),
            suspicions: Suspicions::new(hasher),
            probe: Prober::new(next_probe),
            gossip: Gossip::new(next_gossip, config.gossip_interval),
            broadcasts: Broadcasts::new(hash_seed ^ 4, next_user_id),
            outbound: Outbound::new(nonce),
            events: Events::default(),
            stats: Stats::default(),
            probe_rtt: ProbeRtt::default(),
            input_at: now,
            hints: Hints::default(),
            next_seq,
            rng,
            config,
        })
    }

    // ---- getters -------------------------------------------------------------------------

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.local.name
    }

    /// This node's advertised address.
    pub fn addr(&self) -> SocketAddr {
        self.local.addr
    }

    /// This node's current incarnation.
    pub fn incarnation(&self) -> u32 {
        self.local.incarnation
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Round-trip times of this node's answered probes, since it was created.
    pub fn probe_rtt(&self) -> &ProbeRtt {
        &self.probe_rtt
    }

    /// Lifeguard's local health score (0 = healthy; probe timing is stretched by score + 1).
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Updates waiting in the dissemination queue.
    pub fn gossip_queue_len(&self) -> usize {
        self.gossip.len()
    }

    /// Whether this node has exchanged state with another member since `join` (always true
    /// if `join` was given no seeds).
    pub fn is_joined(&self) -> bool {
        self.lifecycle.joined
    }

    /// The address of another process holding this node's name while the cluster refuses this
    /// node's claim (it joined with a name in use; see ARCHITECTURE.md, "Name conflicts"), so
    /// runtimes can say this node is not ready. `None` once the holder is known failed or
    /// gone, or once a member has shown it holds this node's claim.
    pub fn name_refused(&self) -> Option<SocketAddr> {
        let rival = self.local.rival.filter(|r| !r.gone && !self.local.accepted)?;
        Some(rival.addr)
    }

    /// Whether a graceful leave has finished (the process may exit).
    pub fn has_left(&self) -> bool {
        self.lifecycle.has_left()
    }

    /// The keyring (read-only; change it with [`Node::install_key`], [`Node::use_key`] and
    /// [`Node::remove_key`]).
    pub fn keyring(&self) -> &Keyring {
        &self.config.keyring
    }

    /// Adds a key accepted on receipt, not yet used to seal (see [`Keyring::install`]).
    /// Refused on a node that does not encrypt ([`KeyringError::NotEncrypted`]: a first key
    /// would seal at once and cut the node off from its plaintext cluster; turn encryption on
    /// with `Config::accept_plaintext`), and once the keyring holds
    /// [`MAX_KEYS`](crate::MAX_KEYS) ([`KeyringError::Full`]). Installing a key already
    /// present changes nothing.
    pub fn install_key(&mut self, key: Key) -> Result<(), KeyringError> {
        let ring = &mut self.config.keyring;
        if !ring.is_enabled() {
            return Err(KeyringError::NotEncrypted);
        }
        if ring.keys().any(|k| *k == key) {
            return Ok(());
        }
        if ring.keys().count() >= crate::MAX_KEYS {
            return Err(KeyringError::Full);
        }
        ring.install(key);
        Ok(())
    }

    /// Makes an installed key the one outgoing packets are sealed with.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyringError> {
        self.config.keyring.use_key(key)
    }

    /// Removes a key that is not the primary one.
    pub fn remove_key(&mut self, key: &Key) -> Result<(), KeyringError> {
        self.config.keyring.remove(key)
    }

    /// Every known member, this node first. Members known only through a suspicion or failure
    /// notice (never seen alive) are not listed. Borrowed: reading them allocates nothing.
    pub fn members(&self) -> impl Iterator<Item = MemberView<'_>> {
        core::iter::once(self.self_view()).chain(self.members.iter().filter_map(membership::view))
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<MemberView<'_>> {
        if name == &*self.local.name {
            return Some(self.self_view());
        }
        self.members.by_name(name).and_then(membership::view)
    }

    /// Members currently alive or suspect, this node included.
    pub fn live_members(&self) -> usize {
        self.members.live() + 1
    }

    /// How many of [`Node::members`] are in each status, this node included; reads the
    /// member table without allocating.
    pub fn member_counts(&self) -> MemberCounts {
        let mut counts = MemberCounts::default();
        for m in self.members() {
            match m.status {
                Status::Alive => counts.alive += 1,
                Status::Suspect => counts.suspect += 1,
                Status::Dead => counts.failed += 1,
                Status::Left => counts.left += 1,
            }
        }
        counts
    }

    fn self_view(&self) -> MemberView<'_> {
        let status = if self.lifecycle.leave.is_some() { Status::Left } else { Status::Alive };
        let l = &self.local;
        MemberView { name: &l.name, addr: l.addr, status, incarnation: l.incarnation, meta: &l.meta }
    }

    // ---- application commands (see also `join` and `leave` in lifecycle.rs, `broadcast` in
    // broadcast.rs) ------------------------------------------------------------------------

    /// Replaces this node's metadata; the change is gossiped with a higher incarnation.
    pub fn set_meta(&mut self, meta: &[u8], now: Instant) -> Result<(), Error> {
        if self.lifecycle.leave.is_some() {
            return Err(Error::Leaving);
        }
        if meta.len() > self.config.max_meta_len {
            return Err(Error::MetaTooLong { len: meta.len(), max: self.config.max_meta_len });
        }
        self.local.bump(self.local.incarnation, Some(meta));
        self.gossip_self_alive(now);
        Ok(())
    }

    // ---- inputs ---------------------------------------------------------------------------

    /// Processes one received datagram. Invalid input of any kind is dropped, counted in
    /// [`Node::stats`], and changes nothing else; the reason is returned (`None`: the datagram
    /// was taken, or ignored because the node has left), so that a runtime can tell its
    /// operator why, e.g. that a peer holds another key. Ignoring it is fine.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> Option<Dropped> {
        self.input_at = now;
        self.receive(now, from, datagram)
    }

    /// Advances timers: probes, suspicions, gossip, anti-entropy, reconnects, join retries,
    /// leave completion and tombstone reaping.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.has_left() {
            return;
        }
        if self.lifecycle.leave_timed_out(now) {
            self.finish_leave();
            return;
        }
        self.expire_relays(now);
        self.expire_suspicions(now);
        let leaving = self.lifecycle.leave.is_some();
        if leaving {
            self.retry_leave(now);
        } else {
            self.run_probe(now);
        }
        if self.gossip.round_due(now) {
            self.gossip_round(now);
        }
        if leaving {
            return;
        }
        if self.sync.push_pull_due(now) {
            let spread = 0.75 + 0.5 * self.rng.random::<f64>();
            let interval = sync::push_pull_interval(&self.config, self.members.live());
            self.sync.schedule_push_pull(now + interval.mul_f64(spread));
            let targets = self.members.random(1, None, |m| m.is_live(), &mut self.rng);
            if let Some(addr) = targets.first().and_then(|&i| self.members.addr_of(i)) {
                self.start_sync(addr);
            }
        }
        if self.sync.reconnect_due(now, self.config.reconnect_interval) {
            self.reconnect(now);
            self.members.trim();
            self.release_buffers();
        }
        if let Some(backoff) = self.lifecycle.join_retry_due(now) {
            self.attempt_join(now, backoff.saturating_mul(2).min(self.config.join_retry_max));
        }
        if self.lifecycle.reap_due(now, &self.config) {
            self.reap(now);
        }
    }

    // ---- outputs --------------------------------------------------------------------------

    /// Writes the next datagram to send into `buf` (which should hold `Config::mtu` bytes;
    /// a smaller buffer limits the packet). Returns `None` when nothing is waiting.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.transmit(buf)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// When [`Node::handle_timeout`] should next be called; `None` once the node has left.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.has_left() {
            return None;
        }
        let mut next = Instant::from_micros(u64::MAX);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = next.min(t);
            }
        };
        consider(self.gossip.deadline());
        if self.lifecycle.leave.is_some() {
            consider(self.lifecycle.leave_deadline());
        } else {
            consider(Some(self.probe.deadline()));
            consider(Some(self.sync.deadline()));
            consider(Some(self.lifecycle.reap_deadline()));
            consider(self.lifecycle.join_retry_deadline());
        }
        consider(self.probe.relay_deadline());
        consider(self.suspicions.deadline());
        Some(next)
    }

    /// Gives back the buffers that bursts grew, every reconnect interval (10 s on a LAN):
    /// between bursts they are reused, but a settled node would keep them for good (about
    /// 2 KiB of messages, outgoing datagrams and events per agent at N = 1000, measured).
    fn release_buffers(&mut self) {
        self.outbound.release();
        self.events.release();
        self.inbound.release();
    }

    fn take_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }

    fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }
}

#[cfg(test)]
mod tests;
